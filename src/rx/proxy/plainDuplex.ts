/**
 * A {@link StreamEndpoint} seen as a plaintext {@link ByteDuplex}: what `terminate` emits.
 */
import { Observable, Subject, type Subscription, take } from 'rxjs';
import type { ByteDuplex, ConnectionInfo } from '../types.js';
import type { EndpointKind, StreamEndpoint } from './endpoint.js';

/** A plaintext byte duplex over a secured endpoint; `endpoint` lets `splice` join the endpoint itself. */
export interface PlainDuplex extends ByteDuplex {
  /** The protocol underneath (`tls`, `dtls`, `quic`; `bytes` for a plain one). */
  readonly kind: EndpointKind;
  /** What the handshake negotiated (SNI in `serverName`, ALPN in `alpn`), when secured. */
  readonly info?: ConnectionInfo;
  /** The endpoint this duplex reads and writes: `splice` uses it directly, with no queue in between. */
  readonly endpoint: StreamEndpoint;
  pause(): void;
  resume(): void;
}

/**
 * Wrap `endpoint` as a {@link ByteDuplex}: `incoming$` reads it (paused by `pause()` until `resume()`: the
 * endpoint then reads nothing more), `write` queues for it and answers false once `highWaterMark` bytes (default
 * 16 KiB, a socket's) wait, `drain$` emits when they went, `end` closes our direction cleanly after the queued
 * chunks, `destroy` aborts.
 *
 * ```
 * endpoint.read:  -a-b---|
 * incoming$:      -a-b---|        pause() holds the next read until resume()
 * write(x) x3:    ttf             f: more than highWaterMark queued; drain$ once taken
 * ```
 *
 * @example
 * ```ts
 * const plain = plainDuplex(toEndpoint(tlsConnection));
 * plain.incoming$.subscribe((chunk) => plain.write(chunk)); // echo
 * ```
 */
export function plainDuplex(endpoint: StreamEndpoint, highWaterMark = 16 * 1024): PlainDuplex {
  let paused = false;
  const resumed = new Subject<void>();
  const drain = new Subject<void>();
  const queue: Uint8Array[] = [];
  let queued = 0;
  let writing: Subscription | undefined;
  let ending = false;
  let ended = false;
  let needDrain = false;
  let destroyed = false;

  const flush = () => {
    while (!writing && queue.length > 0 && !destroyed) {
      const chunk = queue.shift()!;
      let done = false;
      writing = endpoint.write(chunk).subscribe({
        error: () => {
          // the endpoint failed: its reader sees the error; what waits here is dropped
          queue.length = 0;
          queued = 0;
        },
        complete: () => {
          done = true;
          writing = undefined;
          queued -= chunk.length;
          if (needDrain && queued < highWaterMark) {
            needDrain = false;
            drain.next();
          }
          flush();
        },
      });
      if (done) writing = undefined;
      else break;
    }
    if (!writing && queue.length === 0 && ending && !ended && !destroyed) {
      ended = true;
      endpoint.end();
    }
  };

  const incoming$ = new Observable<Uint8Array>((subscriber) =>
    endpoint
      .read((chunk) => {
        subscriber.next(chunk);
        return paused ? resumed.pipe(take(1)) : [];
      })
      .subscribe({ error: (e: unknown) => subscriber.error(e), complete: () => subscriber.complete() }),
  );

  return {
    kind: endpoint.kind,
    ...(endpoint.info ? { info: endpoint.info } : {}),
    endpoint,
    incoming$,
    write: (chunk) => {
      if (ending || destroyed) return false;
      queue.push(chunk);
      queued += chunk.length;
      flush();
      if (queued < highWaterMark) return true;
      needDrain = true;
      return false;
    },
    drain$: drain.asObservable(),
    end: () => {
      ending = true;
      flush();
    },
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      queue.length = 0;
      writing?.unsubscribe();
      endpoint.abort();
    },
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      resumed.next();
    },
  };
}
