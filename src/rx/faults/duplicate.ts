/** `duplicate`: deliver chosen or random datagrams twice. */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { checkChoice, chooser, type FaultChoice } from './random.js';

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
  checkChoice('duplicate', options);
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const choose = chooser(options);
      let index = 0;
      return source.subscribe({
        next: (chunk) => {
          const twice = choose.hit(chunk, index++);
          subscriber.next(chunk);
          if (twice) subscriber.next(chunk.slice());
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
