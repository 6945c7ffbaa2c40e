/**
 * `outboundPull`: the application's output (`send(source)`) as something the reducer loop pulls from.
 */
import { isObservable, type Subscription } from 'rxjs';
import { misuse } from '../core/errors.js';
import type { OutboundSource } from './types.js';

/** See {@link outboundPull}. */
export interface OutboundPull {
  /**
   * The next chunk when one is ready; `'end'` once the source is done and every chunk was taken; otherwise
   * `undefined`, and `wake` is called when that may have changed.
   */
  take(): Uint8Array | 'end' | undefined;
  /** Take nothing more from the source: chunks already queued are still taken, then `'end'`. */
  finish(): void;
  /** Stop the source and drop what it queued; `take` answers `undefined` from now on. */
  cancel(): void;
}

/** Hooks of {@link outboundPull}. */
export interface OutboundPullHooks {
  /** Something may be ready to take. */
  wake(): void;
  /** The source failed, emitted something that is not a `Uint8Array`, or overran `maxQueued`. */
  fail(err: unknown): void;
  /** Bytes an Observable source may have queued before it is failed as ignoring backpressure. */
  readonly maxQueued: number;
}

/**
 * Adapts the three kinds of {@link OutboundSource} to one pull interface, so an adapter takes a chunk only
 * when the transport is writable and the core's backlog is not full.
 *
 * - An **Observable** pushes: it is subscribed at once and its chunks queue here; beyond `maxQueued` bytes it
 *   is failed with `apiMisuse` (it ignores backpressure) instead of growing without bound.
 * - An **Iterable** is pulled synchronously, one chunk per `take`.
 * - An **AsyncIterable** is asked for its next chunk by `take`, which answers `undefined` until it arrives
 *   (then `wake`).
 *
 * ```
 * source (Observable):  -a-b-----|
 * take() while writable: -a---b---(end)      b waited for the transport; 'end' after the last chunk
 * ```
 *
 * Throws `apiMisuse` at once for anything that is none of the three.
 *
 * @example
 * ```ts
 * const out = outboundPull(source, { wake: () => wake.next(), fail, maxQueued: 1 << 20 });
 * const chunk = writable ? out.take() : undefined;
 * ```
 *
 * @see secureDuplex — its `send()`.
 */
export function outboundPull(source: OutboundSource, hooks: OutboundPullHooks): OutboundPull {
  const queue: Uint8Array[] = [];
  let queued = 0;
  let done = false;
  let cancelled = false;
  /** Stops the underlying source (unsubscribe, or the iterator's `return`). */
  let stop: () => void = () => undefined;
  /** Asks an iterable for its next chunk. */
  let request: (() => void) | undefined;

  const accept = (value: unknown): boolean => {
    if (value instanceof Uint8Array) {
      queue.push(value);
      queued += value.length;
      return true;
    }
    fail(misuse(`send(): the source emitted ${describe(value)}, not a Uint8Array`));
    return false;
  };
  const fail = (err: unknown) => {
    if (cancelled) return;
    cancel();
    hooks.fail(err);
  };
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    done = true;
    queue.length = 0;
    queued = 0;
    stop();
  };

  if (isObservable(source)) {
    let sub: Subscription | undefined;
    let stopNow = false;
    stop = () => {
      stopNow = true;
      sub?.unsubscribe();
    };
    sub = source.subscribe({
      next: (value) => {
        if (done || !accept(value)) return;
        hooks.wake();
        if (queued > hooks.maxQueued) {
          fail(
            misuse(
              `send(): the outbound source ignores backpressure (${queued} bytes queued, more than maxOutboundBuffer ${hooks.maxQueued}); use an iterable/async iterable or throttle`,
            ),
          );
        }
      },
      error: fail,
      complete: () => {
        done = true;
        hooks.wake();
      },
    });
    if (stopNow) sub.unsubscribe();
  } else if (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    const it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    let waiting = false;
    stop = () => void it.return?.()?.catch(() => undefined);
    request = () => {
      if (waiting) return;
      waiting = true;
      it.next().then(
        (r) => {
          waiting = false;
          if (done) return;
          if (r.done) done = true;
          else if (!accept(r.value)) return;
          hooks.wake();
        },
        (err: unknown) => {
          waiting = false;
          if (!done) fail(err);
        },
      );
    };
  } else if (typeof (source as Iterable<Uint8Array>)[Symbol.iterator] === 'function' && !ArrayBuffer.isView(source)) {
    const it = (source as Iterable<Uint8Array>)[Symbol.iterator]();
    stop = () => {
      try {
        it.return?.();
      } catch {
        // the iterator's cleanup failing does not matter any more
      }
    };
    request = () => {
      let r: IteratorResult<Uint8Array>;
      try {
        r = it.next();
      } catch (err) {
        fail(err);
        return;
      }
      if (r.done) done = true;
      else accept(r.value);
    };
  } else {
    throw misuse('send(): expected an Observable, an Iterable or an AsyncIterable of Uint8Array');
  }

  return {
    take: () => {
      if (cancelled) return undefined;
      if (queue.length === 0 && !done) request?.();
      const chunk = queue.shift();
      if (chunk) {
        queued -= chunk.length;
        return chunk;
      }
      return done && !cancelled ? 'end' : undefined;
    },
    finish: () => {
      if (done) return;
      done = true;
      stop();
    },
    cancel,
  };
}


function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'an object') : typeof value;
}
