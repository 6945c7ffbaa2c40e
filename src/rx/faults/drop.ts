/** `drop`: lose chosen or random datagrams (packet loss). */
import type { MonoTypeOperatorFunction } from 'rxjs';
import { perChunk, type FaultChoice } from './random.js';

/** Options of {@link drop}: which chunks are lost (see {@link FaultChoice}). */
export type DropOptions = FaultChoice;

/**
 * Lose datagrams: each chunk the choice hits is not emitted; the others pass at once, in order. Completion and
 * errors pass through. For datagram links (packet loss); on a byte stream losing a chunk is a corruption TCP
 * never shows.
 *
 * ```
 * source:                      -a-b-c-d-|
 * drop({ indices: [1, 2] }):   -a-----d-|
 * ```
 *
 * @example
 * ```ts
 * // 20% loss, reproducible: the same datagrams are lost on every run with seed 7.
 * datagrams$.pipe(drop({ rate: 0.2, seed: 7 }));
 * // Lose only the first datagram.
 * datagrams$.pipe(drop({ indices: [0] }));
 * ```
 *
 * @see faultyDatagramLink — apply it to one direction of a `DatagramDuplex`.
 */
export function drop(options: DropOptions = {}): MonoTypeOperatorFunction<Uint8Array> {
  return perChunk('drop', options, (chunk, hit, emit) => {
    if (!hit) emit(chunk);
  });
}
