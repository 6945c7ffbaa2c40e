/**
 * One shape for everything a proxy joins: a plaintext {@link ByteDuplex} (TCP, a memory pipe), a
 * {@link TlsConnection}, a {@link DtlsConnection} or a {@link QuicStream}. `splice`, `terminate` and the Node
 * bridges speak only this shape, so none of them branches on a transport.
 */
import { EMPTY, Observable, type ObservableInput, type Subscription, defer, from, take } from 'rxjs';
import { TlsError, misuse } from '../../core/errors.js';
import type { DtlsConnection } from '../dtlsTypes.js';
import type { QuicStream } from '../quic.js';
import type { ByteDuplex, ConnectionInfo, TlsConnection } from '../types.js';

/** Which protocol an endpoint speaks, and so how it expresses a clean end and an abort. */
export type EndpointKind = 'bytes' | 'tls' | 'dtls' | 'quic';

/**
 * A byte stream with demand-driven reading, credit-based writing, a clean half-close and an abort.
 *
 * | kind    | clean end of our output     | abort                                          |
 * |---------|-----------------------------|------------------------------------------------|
 * | `bytes` | `end()`: TCP FIN            | `destroy()`: the transport torn down           |
 * | `tls`   | close_notify                | `close()`: no close_notify, transport destroyed |
 * | `dtls`  | close_notify (see below)    | `close('fatal')`: an internal_error alert      |
 * | `quic`  | stream FIN                  | RESET_STREAM and STOP_SENDING                  |
 *
 * DTLS 1.3 closes one direction per close_notify, as TLS 1.3 (RFC 8446 §6.1). DTLS 1.2 keeps TLS 1.2's rule
 * (RFC 6347 §4.1, RFC 5246 §7.2.1): the peer's close_notify is answered with ours and ends both directions, so
 * reading completes and what is written afterwards is discarded. A DTLS abort is an alert: over UDP the peer
 * would see no teardown.
 */
export interface StreamEndpoint {
  readonly kind: EndpointKind;
  /** What the handshake negotiated, for a secured endpoint. */
  readonly info?: ConnectionInfo;
  /**
   * Read with demand: each chunk goes to `project`, and the next one is not read before the projection
   * completed (the source is paused meanwhile, as far as it can be). Completes at the peer's clean end
   * (close_notify, FIN); errors with a {@link TlsError} when the peer aborted (truncation, alert, reset).
   * Subscribe once.
   */
  read(project: (chunk: Uint8Array) => ObservableInput<unknown>): Observable<never>;
  /**
   * Offer one chunk: the returned Observable completes once the endpoint can take the next one (its credit
   * came back), and errors with the endpoint's failure. Offer the next chunk only after that.
   */
  write(chunk: Uint8Array): Observable<never>;
  /** Close our sending direction cleanly (the table above); the other direction goes on. */
  end(): void;
  /** Abort both directions the way the protocol expresses an abort (the table above). */
  abort(): void;
}

/** What {@link toEndpoint} adapts. */
export type Spliceable = ByteDuplex | TlsConnection | DtlsConnection | QuicStream | StreamEndpoint;

/** Options of {@link toEndpoint}. */
export interface EndpointOptions {
  /** Application error code of the RESET_STREAM / STOP_SENDING a QUIC stream is aborted with (default 0). */
  readonly quicErrorCode?: bigint;
}

const isEndpoint = (x: Spliceable): x is StreamEndpoint => 'read' in x && 'abort' in x;
const isQuicStream = (x: Spliceable): x is QuicStream => 'stopSending' in x && 'reset' in x;
const isDtls = (x: Spliceable): x is DtlsConnection => 'maxRecordSize' in x;
const isTls = (x: Spliceable): x is TlsConnection => 'shutdownState' in x && 'receive' in x && 'send' in x;

/**
 * Adapt any {@link Spliceable} to a {@link StreamEndpoint} (an endpoint is returned as it is).
 *
 * @example
 * ```ts
 * const backend = toEndpoint(fromSocket(net.connect(8080, '127.0.0.1', { allowHalfOpen: true })));
 * ```
 */
export function toEndpoint(x: Spliceable, options: EndpointOptions = {}): StreamEndpoint {
  if (isEndpoint(x)) return x;
  // A `terminate`d duplex: join the endpoint under it, with no queue in between.
  if ('endpoint' in x && typeof x.endpoint === 'object' && x.endpoint !== null && isEndpoint(x.endpoint as Spliceable)) return x.endpoint as StreamEndpoint;
  if (isQuicStream(x)) return quicEndpoint(x, options.quicErrorCode ?? 0n);
  if (isDtls(x)) return dtlsEndpoint(x);
  if (isTls(x)) return tlsEndpoint(x);
  return duplexEndpoint(x);
}

/**
 * A {@link ByteDuplex}: `incoming$` read one chunk at a time, the duplex paused (`pause()`) while a chunk is
 * being taken; chunks it delivers after `pause()` wait here (a socket delivers none, a memory pipe none).
 */
function duplexEndpoint(d: ByteDuplex): StreamEndpoint {
  return {
    kind: 'bytes',
    read: (project) => pausedRead(d, project),
    write: (chunk) => defer(() => (d.write(chunk) ? EMPTY : d.drain$.pipe(take(1)))).pipe(ignoreAll),
    end: () => d.end(),
    abort: () => d.destroy(),
  };
}

const ignoreAll = (source: Observable<unknown>): Observable<never> =>
  new Observable<never>((s) => source.subscribe({ error: (e: unknown) => s.error(e), complete: () => s.complete() }));

function pausedRead(d: ByteDuplex, project: (chunk: Uint8Array) => ObservableInput<unknown>): Observable<never> {
  return new Observable<never>((subscriber) => {
    const queue: Uint8Array[] = [];
    let busy = false;
    let ended = false;
    let pumping = false;
    let current: Subscription | undefined;
    const pump = () => {
      if (pumping) return;
      pumping = true;
      try {
        while (!busy && queue.length > 0 && !subscriber.closed) {
          busy = true;
          let sync = true;
          current = from(project(queue.shift()!)).subscribe({
            error: (e: unknown) => subscriber.error(e),
            complete: () => {
              busy = false;
              if (queue.length === 0 && !ended) d.resume?.();
              if (!sync) pump();
            },
          });
          sync = false;
        }
        if (!busy && queue.length === 0 && ended) subscriber.complete();
      } finally {
        pumping = false;
      }
    };
    const sub = d.incoming$.subscribe({
      next: (chunk) => {
        queue.push(chunk);
        // Busy, or pumping: a projection that completed synchronously resumed the duplex from inside the pump,
        // which takes this chunk next; either way no more may come meanwhile (else the queue grows unbounded).
        if (busy || pumping) d.pause?.();
        pump();
      },
      error: (e: unknown) => subscriber.error(e instanceof TlsError ? e : new TlsError({ kind: 'transport', reason: String((e as Error)?.message ?? e) })),
      complete: () => {
        ended = true;
        pump();
      },
    });
    return () => {
      sub.unsubscribe();
      current?.unsubscribe();
    };
  });
}

/**
 * A pull channel for a `send()` that takes an async iterable: the connection asks for the next chunk (calls
 * `next()`) only while its transport is writable and its backlog is not full, so a chunk offered with
 * `write` is handed over on that demand and the write's credit comes back then — at most one chunk waits
 * here. `next()` answers with a thenable that settles synchronously when a chunk (or the end) is ready, so the
 * hand-over happens in the same tick (virtual time stays synchronous); awaiting it works as well. What it
 * settles with is decided when it is awaited (its `then` is called), not when `next()` was: `for await` (a DTLS
 * `send()` maps its source through an async generator) calls `then` a microtask after `next()`, and a chunk
 * offered in between must be handed over, not left waiting beside a pending ask.
 */
function pullChannel() {
  type Result = IteratorResult<Uint8Array, undefined>;
  let offered: { chunk: Uint8Array; taken: () => void } | undefined;
  let asking: ((r: Result) => void) | undefined;
  let ended = false;
  const answer = (ok: (r: Result) => unknown): void => {
    if (offered) {
      const o = offered;
      offered = undefined;
      o.taken();
      ok({ value: o.chunk, done: false });
    } else if (ended) ok({ value: undefined, done: true });
    else asking = (r) => void ok(r);
  };
  const iterator: AsyncIterator<Uint8Array, undefined> = {
    next: () => ({ then: answer }) as unknown as Promise<Result>,
    return: () => {
      ended = true;
      asking = undefined;
      offered = undefined;
      return Promise.resolve<Result>({ value: undefined, done: true });
    },
  };
  return {
    iterable: { [Symbol.asyncIterator]: () => iterator } as AsyncIterable<Uint8Array>,
    /** Hand `chunk` over now if asked for, else when asked; `taken` is called then. */
    offer(chunk: Uint8Array, taken: () => void): () => void {
      if (asking) {
        const ask = asking;
        asking = undefined;
        taken();
        ask({ value: chunk, done: false });
        return () => undefined;
      }
      const o = { chunk, taken };
      offered = o;
      return () => {
        if (offered === o) offered = undefined;
      };
    },
    end() {
      if (ended) return;
      ended = true;
      const ask = asking;
      asking = undefined;
      ask?.({ value: undefined, done: true });
    },
  };
}

/**
 * The write half of a TLS or DTLS connection: one `send()` fed by a {@link pullChannel}, started on first use.
 * Once the connection closed our output itself (the send() completed without our `end()`: a DTLS 1.2 peer's
 * close_notify, RFC 5246 §7.2.1), or `closedCleanly()` says it ended, writes are discarded: they complete at once,
 * as the RFC's "discarding any pending writes", so a splice is not held by a chunk nobody will take.
 */
function channelWriter(send: (source: AsyncIterable<Uint8Array>) => Observable<never>, closedCleanly: () => boolean = () => false) {
  const channel = pullChannel();
  let started = false;
  let failure: unknown;
  let finished = false;
  const waiting = new Set<{ readonly fail: (e: unknown) => void; readonly discard: () => void }>();
  const start = () => {
    if (started) return;
    started = true;
    send(channel.iterable).subscribe({
      error: (e: unknown) => {
        failure = e;
        for (const w of [...waiting]) w.fail(e);
      },
      complete: () => {
        finished = true;
        for (const w of [...waiting]) w.discard();
      },
    });
  };
  return {
    write: (chunk: Uint8Array) =>
      new Observable<never>((s) => {
        if (finished || closedCleanly()) return s.complete();
        start();
        if (failure !== undefined) return s.error(failure);
        if (finished) return s.complete();
        const w = {
          fail: (e: unknown) => s.error(e),
          discard: () => {
            cancel();
            s.complete();
          },
        };
        waiting.add(w);
        const cancel = channel.offer(chunk, () => {
          waiting.delete(w);
          s.complete();
        });
        return () => {
          waiting.delete(w);
          cancel();
        };
      }),
    end: () => {
      if (finished || closedCleanly()) return;
      start();
      channel.end();
    },
  };
}

function tlsEndpoint(conn: TlsConnection): StreamEndpoint {
  const writer = channelWriter((source) => conn.send(source));
  return {
    kind: 'tls',
    info: conn.info,
    read: (project) => ignoreAll(conn.receive(project)),
    write: writer.write,
    end: writer.end,
    abort: () => conn.close(),
  };
}

/**
 * A DTLS connection as a byte stream: each written chunk is cut into records of at most `maxRecordSize` bytes;
 * reading takes `inbound$` (datagrams carry no backpressure: what arrives while a chunk is being taken waits).
 */
function dtlsEndpoint(conn: DtlsConnection): StreamEndpoint {
  // A connection that ended cleanly takes no more writes: over DTLS 1.2 the peer's close_notify ends both
  // directions (RFC 5246 §7.2.1), so what the other side of a splice still sends is discarded.
  let closedCleanly = false;
  conn.closed$.subscribe({ complete: () => (closedCleanly = true), error: () => undefined });
  const writer = channelWriter((source) => conn.send(source), () => closedCleanly);
  const max = conn.maxRecordSize;
  return {
    kind: 'dtls',
    info: conn.info,
    read: (project) => pausedRead({ incoming$: conn.inbound$, write: () => false, drain$: EMPTY, end: () => undefined, destroy: () => undefined }, project),
    write: (chunk) => {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < chunk.length; i += max) parts.push(chunk.subarray(i, i + max));
      return new Observable<never>((s) => {
        let i = 0;
        let sub: Subscription | undefined;
        const next = () => {
          if (i === parts.length) return s.complete();
          sub = writer.write(parts[i++]!).subscribe({ error: (e: unknown) => s.error(e), complete: next });
        };
        next();
        return () => sub?.unsubscribe();
      });
    },
    end: writer.end,
    // Over UDP the peer sees no teardown: a fatal alert tells it the stream was cut (not a clean end).
    abort: () => conn.close('fatal'),
  };
}

/**
 * A QUIC stream: read in pull mode (`receive`: the peer gets credit only for what was taken), written with
 * `send` — the chunk goes into the stream at once and its credit comes back once the stream's unsent bytes are
 * under its `highWaterMark` (else at its `drain$`), so what waits in the send buffer is at most the mark and a
 * chunk, and what is in flight is bounded by the peer's flow control and the congestion window.
 */
function quicEndpoint(stream: QuicStream, code: bigint): StreamEndpoint {
  let aborted = false;
  return {
    kind: 'quic',
    read: (project) => ignoreAll(stream.receive(project)),
    write: (chunk) => stream.send(chunk),
    end: () => stream.end(),
    abort: () => {
      if (aborted) return;
      aborted = true;
      for (const stop of [() => stream.reset(code), () => stream.stopSending(code)]) {
        try {
          stop();
        } catch {
          // already reset, or the connection is gone: nothing more to say to the peer
        }
      }
    },
  };
}

/** Throws `apiMisuse` unless `x` is something {@link toEndpoint} adapts. */
export function checkSpliceable(x: unknown, what: string): asserts x is Spliceable {
  if (typeof x !== 'object' || x === null) throw misuse(`${what}: expected a ByteDuplex, TlsConnection, DtlsConnection or QuicStream`);
}
