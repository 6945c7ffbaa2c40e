/** `latency`: a fixed one-way delay plus optional seeded jitter, in scheduler time. */
import { Observable, asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { misuse } from '../../core/errors.js';
import { checkNonNegative, seededRandom } from './random.js';
import { timedQueue } from './timedQueue.js';

/** Options of {@link latency}. */
export interface LatencyOptions {
  /** Fixed delay of every chunk, in ms (≥ 0). */
  readonly ms: number;
  /** Extra delay per chunk, an integer number of ms drawn uniformly from 0..`jitterMs` (default 0). */
  readonly jitterMs?: number;
  /** PRNG seed of the jitter, an integer (default 1). */
  readonly seed?: number;
  /**
   * Keep the order (default false): a chunk never overtakes an earlier one, it waits for it. Needed on byte
   * streams (TCP delivers in order, jitter only bunches bytes up); datagrams may overtake each other.
   */
  readonly keepOrder?: boolean;
  /** Where the delays run (default `asyncScheduler`; a `TestScheduler` gives virtual time). */
  readonly scheduler?: SchedulerLike;
}

/**
 * Delay each chunk by `ms` plus a jitter drawn from the seeded PRNG, on `scheduler`. With jitter, datagrams
 * may arrive out of order (each keeps its own delay); with `keepOrder` a chunk waits for the one before it, so
 * a byte stream stays in order. Completion waits for the chunks still on their way; an error passes at once
 * (what was on the way is lost, as in a reset connection). It is named after the network term, not `delay`,
 * so it does not shadow RxJS's `delay` in a test file.
 *
 * ```
 * source:                              -a-b-c-|
 * latency({ ms: 3 }):                  ----a-b-c-|
 * latency({ ms: 1, jitterMs: 4 }):     ---b-a---c|      (a +4, b +1, c +3 with some seed)
 * ```
 *
 * @example
 * ```ts
 * testScheduler.run(() => {
 *   const link = faultyDatagramLink(end, { toPeer: latency({ ms: 20, jitterMs: 10, seed: 4, scheduler: testScheduler }) });
 * });
 * ```
 *
 * @see faultyDatagramLink
 * @see faultyByteLink
 */
export function latency(options: LatencyOptions): MonoTypeOperatorFunction<Uint8Array> {
  const { ms, jitterMs = 0, seed = 1, keepOrder = false, scheduler = asyncScheduler } = options;
  checkNonNegative('latency', 'ms', ms);
  if (!(Number.isInteger(jitterMs) && jitterMs >= 0)) throw misuse(`latency: jitterMs must be an integer ≥ 0, got ${jitterMs}`);
  if (!Number.isInteger(seed)) throw misuse(`latency: seed must be an integer, got ${seed}`);
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const random = seededRandom(seed);
      const queue = timedQueue(subscriber, scheduler);
      const subscription = source.subscribe({
        next: (chunk) => {
          let wait = ms + (jitterMs > 0 ? Math.floor(random() * (jitterMs + 1)) : 0);
          // In order: never due before the chunk ahead of it.
          if (keepOrder) wait = Math.max(wait, queue.lastDue - scheduler.now());
          queue.add(chunk, wait);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => queue.end(),
      });
      // Not added to `subscription`: that one closes when the source completes, while the queue still drains.
      return () => {
        subscription.unsubscribe();
        queue.subscription.unsubscribe();
      };
    });
}
