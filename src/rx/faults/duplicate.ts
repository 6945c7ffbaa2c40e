/** `duplicate`: deliver chosen or random datagrams twice. */
import type { MonoTypeOperatorFunction } from 'rxjs';
import { perChunk, type FaultChoice } from './random.js';

/** Options of {@link duplicate}: which chunks are doubled (see {@link FaultChoice}). */
export type DuplicateOptions = FaultChoice;

/**
 * Deliver datagrams twice: each chunk the choice hits is emitted, then a copy of it at once after (a copy, so a
 * consumer that changes one does not change the other). Nothing is lost or reordered. UDP may duplicate
 * (RFC 8085 §3.5): DTLS discards the second copy with its replay window (RFC 9147 §4.5.1), QUIC by packet
 * number. Not for byte streams (TCP never repeats bytes).
 *
 * ```
 * source:                    -a-b-c-|
 * duplicate({ indices: [1] }): -a-(bb)-c-|
 * ```
 *
 * @example
 * ```ts
 * datagrams$.pipe(duplicate({ rate: 0.05, seed: 3 })); // about one datagram in twenty arrives twice
 * ```
 *
 * @see faultyDatagramLink
 */
export function duplicate(options: DuplicateOptions = {}): MonoTypeOperatorFunction<Uint8Array> {
  return perChunk('duplicate', options, (chunk, hit, emit) => {
    emit(chunk);
    if (hit) emit(chunk.slice());
  });
}
