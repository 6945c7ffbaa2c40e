/** `reorder`: hold chosen or random datagrams back so later ones overtake them. */
import { Observable, asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { misuse } from '../../core/errors.js';
import { checkChoice, checkNonNegative, chooser, type FaultChoice } from './random.js';
import { timedQueue } from './timedQueue.js';

/**
 * Options of {@link reorder}: which datagrams are held back (see {@link FaultChoice}), and for how long —
 * `maxDisplacement` later datagrams, or `holdMs` of scheduler time.
 */
export type ReorderOptions = FaultChoice &
  (
    | {
        /** A held datagram is released after 1..`maxDisplacement` later ones (drawn per datagram), an integer ≥ 1. */
        readonly maxDisplacement: number;
      }
    | {
        /** A held datagram is released `holdMs` ms later (> 0); the others pass at once. */
        readonly holdMs: number;
        /** Where the hold runs (default `asyncScheduler`; a `TestScheduler` gives virtual time). */
        readonly scheduler?: SchedulerLike;
      }
  );

/**
 * Reorder datagrams: each datagram the choice hits is held back while later ones pass.
 *
 * - `{ maxDisplacement }`: by count, without a clock — a held datagram goes out right after the k-th datagram
 *   that follows it (k from 1..maxDisplacement, seeded), or at completion if fewer follow. The output is a
 *   permutation of the input. A held
 *   datagram waits for traffic: at the end of a flight it comes out only when the sender sends again
 *   (a retransmission), as a datagram stuck in a router queue would.
 * - `{ holdMs, scheduler }`: by time — a held datagram is delivered `holdMs` later; completion waits for it.
 *
 * DTLS and QUIC take records and packets in any order (RFC 9147 §4.5.1 replay window, §5.2 handshake message
 * reassembly; RFC 9000 §12.3 packet numbers). Not for byte streams (TCP reorders nothing it delivers).
 *
 * ```
 * source:                                         -a-b-c-d-|
 * reorder({ indices: [0], maxDisplacement: 2 }):  ---b-(ca)-d-|     (a displaced by 2 with some seed)
 * reorder({ indices: [0], holdMs: 5 }):           ---b-c-ad-|
 * ```
 *
 * @example
 * ```ts
 * datagrams$.pipe(reorder({ rate: 0.1, maxDisplacement: 3, seed: 9 }));
 * datagrams$.pipe(reorder({ rate: 0.1, holdMs: 30, seed: 9, scheduler: testScheduler }));
 * ```
 *
 * @see latency — `jitterMs` reorders too, by giving every datagram its own delay.
 * @see faultyDatagramLink
 */
export function reorder(options: ReorderOptions): MonoTypeOperatorFunction<Uint8Array> {
  checkChoice('reorder', options);
  if ('holdMs' in options) {
    const { holdMs, scheduler = asyncScheduler } = options;
    checkNonNegative('reorder', 'holdMs', holdMs);
    if (!(holdMs > 0)) throw misuse(`reorder: holdMs must be > 0, got ${holdMs}`);
    return (source) =>
      new Observable<Uint8Array>((subscriber) => {
        const choose = chooser(options);
        const queue = timedQueue(subscriber, scheduler);
        let index = 0;
        const subscription = source.subscribe({
          next: (chunk) => {
            if (choose.hit(chunk, index++)) queue.add(chunk, holdMs);
            else subscriber.next(chunk);
          },
          error: (err: unknown) => subscriber.error(err),
          complete: () => queue.end(),
        });
        return () => {
          subscription.unsubscribe();
          queue.subscription.unsubscribe();
        };
      });
  }
  const { maxDisplacement } = options;
  if (!(Number.isInteger(maxDisplacement) && maxDisplacement >= 1)) throw misuse(`reorder: maxDisplacement must be an integer ≥ 1, got ${maxDisplacement}`);
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const choose = chooser(options);
      // Held datagrams with the number of later datagrams still to pass before each goes out.
      const held: { chunk: Uint8Array; left: number }[] = [];
      let index = 0;
      return source.subscribe({
        next: (chunk) => {
          if (choose.hit(chunk, index++)) {
            held.push({ chunk, left: 1 + Math.floor(choose.random() * maxDisplacement) });
            return;
          }
          subscriber.next(chunk);
          // This one passed: each held datagram is one place further back; release those whose turn came.
          for (const h of held) h.left--;
          for (let i = 0; i < held.length; ) {
            if (held[i]!.left <= 0) subscriber.next(held.splice(i, 1)[0]!.chunk);
            else i++;
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          for (const h of held) subscriber.next(h.chunk);
          subscriber.complete();
        },
      });
    });
}
