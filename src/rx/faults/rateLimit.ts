/** `rateLimit`: a token-bucket bottleneck link, in scheduler time. */
import { Observable, asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { misuse } from '../../core/errors.js';

/** Options of {@link rateLimit}. */
export interface RateLimitOptions {
  /** The sustained rate, bytes per second (> 0). */
  readonly bytesPerSecond: number;
  /** The bucket's size in bytes: what may go out at once after a quiet spell (default bytesPerSecond / 10, at least 1). */
  readonly burstBytes?: number;
  /**
   * For datagrams: bytes that may wait in the queue; a datagram that would take it past this is dropped
   * (drop-tail, as a router's full buffer). Default: no bound and nothing dropped (a byte stream's sender is
   * held back by `faultyByteLink`'s backpressure instead).
   */
  readonly queueBytes?: number;
  /** Where the waits run (default `asyncScheduler`; a `TestScheduler` gives virtual time). */
  readonly scheduler?: SchedulerLike;
}

/**
 * A bottleneck: chunks go out in order through a token bucket that holds at most `burstBytes` and fills at
 * `bytesPerSecond`. A chunk leaves when the bucket holds its size in tokens (or is full, for a chunk larger
 * than the bucket, which then leaves the bucket in debt), and waits otherwise. Over any window of `w` ms at
 * most `max(burstBytes, largest chunk) + bytesPerSecond × w / 1000` bytes come out. Waits are whole ms on
 * `scheduler`. Completion waits for the queue to empty; an error passes at once. With `queueBytes`, datagrams
 * arriving at a full queue are dropped; without it nothing is ever dropped.
 *
 * ```
 * source (1000-byte chunks):                                  -(abc|)
 * rateLimit({ bytesPerSecond: 100_000, burstBytes: 1000 }):   -a 9ms b 9ms (c|)    one chunk per 10 ms
 * ```
 *
 * @example
 * ```ts
 * // A 1 MB/s uplink with 64 KiB of router buffer; datagrams beyond it are lost.
 * faultyDatagramLink(end, { toPeer: rateLimit({ bytesPerSecond: 1e6, queueBytes: 65_536, scheduler: ts }) });
 * ```
 *
 * @see faultyByteLink
 * @see faultyDatagramLink
 */
export function rateLimit(options: RateLimitOptions): MonoTypeOperatorFunction<Uint8Array> {
  const { bytesPerSecond, queueBytes = Infinity, scheduler = asyncScheduler } = options;
  if (!(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0)) throw misuse(`rateLimit: bytesPerSecond must be a finite number > 0, got ${bytesPerSecond}`);
  const burst = options.burstBytes ?? Math.max(1, Math.floor(bytesPerSecond / 10));
  if (!(Number.isFinite(burst) && burst >= 1)) throw misuse(`rateLimit: burstBytes must be a finite number ≥ 1, got ${options.burstBytes}`);
  if (!(queueBytes >= 0)) throw misuse(`rateLimit: queueBytes must be ≥ 0, got ${queueBytes}`);
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const queue: Uint8Array[] = [];
      let queued = 0;
      let tokens = burst;
      let filledAt = scheduler.now();
      let timer: Subscription | undefined;
      let ended = false;
      const refill = () => {
        const now = scheduler.now();
        tokens = Math.min(burst, tokens + ((now - filledAt) * bytesPerSecond) / 1000);
        filledAt = now;
      };
      const pump = () => {
        refill();
        // The epsilon absorbs float rounding of a refill after a wait computed to the ms.
        while (queue.length > 0 && tokens + 1e-6 >= Math.min(queue[0]!.length, burst)) {
          const chunk = queue.shift()!;
          queued -= chunk.length;
          tokens -= chunk.length;
          subscriber.next(chunk);
        }
        if (queue.length > 0) {
          if (timer) return;
          const need = Math.min(queue[0]!.length, burst) - tokens;
          timer = scheduler.schedule(() => {
            timer = undefined;
            pump();
          }, Math.max(1, Math.ceil((need * 1000) / bytesPerSecond)));
        } else if (ended) {
          subscriber.complete();
        }
      };
      const subscription = source.subscribe({
        next: (chunk) => {
          if (queued + chunk.length > queueBytes) return; // drop-tail
          queue.push(chunk);
          queued += chunk.length;
          pump();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          ended = true;
          if (queue.length === 0) subscriber.complete();
        },
      });
      // Not added to `subscription`: that one closes when the source completes, while the queue still drains.
      return () => {
        subscription.unsubscribe();
        timer?.unsubscribe();
      };
    });
}
