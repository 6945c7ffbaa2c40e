/**
 * Byte duplexes TLS runs over: a node socket ({@link fromSocket}) and an in-memory pair for tests and
 * in-process plumbing ({@link memoryDuplexPair}).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Observable, Subject, type SchedulerLike, type Subscriber } from 'rxjs';
import { TlsError } from '../core/errors.js';
import { inboundQueue } from './inbound.js';
import type { ByteDuplex } from './types.js';

/** A transport failure (a socket error, a WebSocket error event) as a {@link TlsError} of kind `transport`. */
export function toTransportError(err: unknown): TlsError {
  if (err instanceof TlsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const reason = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  return new TlsError({ kind: 'transport', reason });
}

/**
 * Adapt a node socket (TCP, a `net.Socket` from `net.connect` or a server's `connection` event), or any node
 * `stream.Duplex`, to a {@link ByteDuplex}.
 *
 * Listeners are attached at once, so nothing is lost and an early `'error'` never crashes the process:
 * received chunks are buffered until `incoming$` is subscribed. `incoming$` completes on `'end'` (or `'close'`
 * without an error) and errors with the socket's error on `'error'`. `write` returns the socket's
 * backpressure signal and `drain$` emits on `'drain'`; `end` half-closes (FIN after pending writes);
 * `destroy` tears the socket down at once; `pause`/`resume` map to the socket's (the kernel's receive window
 * then pushes back on the peer). `cork` corks the socket until the current task's microtasks run, so the
 * parts of one TLS step — and the steps that follow in the same task, such as the records a proxy forwards
 * from one socket read — leave in one `writev` system call, with no buffer joining them.
 *
 * @example
 * ```ts
 * const duplex = fromSocket(net.connect(443, 'example.com'));
 * of(duplex).pipe(secure({ role: 'client', servername: 'example.com' })).subscribe(...);
 * ```
 */
export function fromSocket(socket: Socket | Duplex): ByteDuplex {
  // Received chunks wait here until `incoming$` is subscribed (one consumer; later chunks dropped after it leaves).
  const incoming = inboundQueue({ what: 'incoming$' });
  // Plain Uint8Array views: a Buffer's `slice` shares memory where Uint8Array's copies.
  socket.on('data', (chunk: Buffer) => incoming.next(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  socket.on('end', () => incoming.complete());
  socket.on('error', (err) => incoming.error(err));
  socket.on('close', () => incoming.complete());
  const drain$ = new Observable<void>((subscriber) => {
    const onDrain = () => subscriber.next();
    socket.on('drain', onDrain);
    return () => socket.off('drain', onDrain);
  });
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return {
    incoming$: incoming.observable,
    // `written` runs once the socket is done with the chunk: written, dropped on an error, or (a closed socket)
    // never taken at all.
    write: (chunk, written) => {
      if (socket.destroyed || !socket.writable) {
        written?.();
        return false;
      }
      return socket.write(chunk, written && (() => written()));
    },
    cork: () => {
      if (corked || socket.destroyed) return;
      corked = true;
      socket.cork();
      queueMicrotask(uncork);
    },
    drain$,
    end: () => {
      if (!socket.destroyed) socket.end();
    },
    destroy: () => {
      // What this task wrote corked goes first (a fatal alert written just before the teardown), as an
      // uncorked write would have reached the kernel before `destroy`.
      if (corked) uncork();
      socket.destroy();
    },
    pause: () => {
      if (!socket.destroyed) socket.pause();
    },
    resume: () => {
      if (!socket.destroyed) socket.resume();
    },
  };
}

/** Options of {@link memoryDuplexPair}. */
export interface MemoryDuplexOptions {
  /**
   * Deliver writes through this scheduler instead of synchronously (a `TestScheduler` for virtual time).
   * Order is preserved.
   */
  readonly scheduler?: SchedulerLike;
  /** With `scheduler`: one-way latency in ms (default 0). */
  readonly latency?: number;
  /**
   * Bytes a side may have written and its peer not yet read (in flight, or held while the reader is paused)
   * before `write` returns false (default 16 KiB, like a node socket); `drain$` emits once they fall below.
   */
  readonly highWaterMark?: number;
}

/** One end of a {@link memoryDuplexPair}. */
export interface MemoryDuplex extends ByteDuplex {
  /** Bytes this side wrote that its peer has not read yet (node's `writableLength`). */
  readonly writableLength: number;
  /** True while this side's reading is paused. */
  readonly isPaused: boolean;
  pause(): void;
  resume(): void;
}

/**
 * Two connected in-memory {@link ByteDuplex} ends: what one writes, the other's `incoming$` emits.
 *
 * Without a scheduler delivery is synchronous (the written chunk is emitted before `write` returns, or held
 * until the peer subscribes, or until the peer's delivery in progress returns). With one, every write, `end` and `destroy` reaches the peer after
 * `latency` ms on that scheduler. `end()` completes the peer's `incoming$` (EOF); `destroy()` completes both
 * `incoming$` streams and drops further writes. A paused side (`pause()`) holds what arrives, in order with
 * the EOF, until `resume()`. Backpressure like a socket: `write` returns `false` once more than
 * `highWaterMark` bytes are written and not yet read by the peer (and after `end`/`destroy`); `drain$` emits
 * when they fall below it.
 *
 * ```
 * a.write(x)   --x-----e--       (e = a.end())
 * b.incoming$  --x-----|--       synchronous; with { scheduler, latency: 3 }: -----x-----|
 * b.pause() at 1, b.resume() at 5:  -----(x)-|
 * ```
 *
 * @example
 * ```ts
 * const [clientEnd, serverEnd] = memoryDuplexPair();
 * of(serverEnd).pipe(secure({ role: 'server', cert, key })).subscribe(...);
 * of(clientEnd).pipe(secure({ role: 'client', ca, servername: 'localhost' })).subscribe(...);
 * ```
 */
export function memoryDuplexPair(options: MemoryDuplexOptions = {}): [MemoryDuplex, MemoryDuplex] {
  const { scheduler, latency = 0, highWaterMark = 16 * 1024 } = options;
  const later = (work: () => void) => {
    if (scheduler) scheduler.schedule(work, latency);
    else work();
  };
  type Arrival = { readonly data: Uint8Array; readonly from: End } | { readonly eof: true };
  interface End {
    duplex: MemoryDuplex;
    /** Written by the peer and not yet read: held while paused, unsubscribed or already delivering. */
    readonly arrived: Arrival[];
    reader?: Subscriber<Uint8Array>;
    subscribed: boolean;
    reading: boolean;
    paused: boolean;
    closed: boolean;
    writable: boolean;
    written: number;
    needDrain: boolean;
    readonly drain: Subject<void>;
    peer?: End;
  }
  // One delivery loop per end: an arrival during a delivery (a synchronous peer answering at once) waits in
  // `arrived`, still counted against its writer, so the writer sees the backpressure of a reader that has not
  // finished with the previous chunk.
  const read = (end: End) => {
    if (end.reading) return;
    end.reading = true;
    try {
      while (!end.paused && end.reader && end.arrived.length > 0) {
        const a = end.arrived.shift()!;
        if ('eof' in a) {
          end.closed = true;
          end.reader.complete();
          continue;
        }
        const writer = a.from;
        writer.written -= a.data.length;
        end.reader.next(a.data);
        if (writer.needDrain && writer.written < highWaterMark) {
          writer.needDrain = false;
          writer.drain.next();
        }
      }
    } finally {
      end.reading = false;
    }
  };
  const make = (): End => {
    const end: End = {
      duplex: undefined as unknown as MemoryDuplex,
      arrived: [],
      subscribed: false,
      reading: false,
      paused: false,
      closed: false,
      writable: true,
      written: 0,
      needDrain: false,
      drain: new Subject<void>(),
    };
    const peer = () => end.peer!;
    const arrive = (a: Arrival) => {
      const p = peer();
      later(() => {
        if (p.closed) return;
        p.arrived.push(a);
        read(p);
      });
    };
    const incoming$ = new Observable<Uint8Array>((subscriber) => {
      if (end.subscribed) {
        subscriber.error(new TlsError({ kind: 'apiMisuse', reason: 'incoming$ can be subscribed only once' }));
        return;
      }
      end.subscribed = true;
      if (end.closed) {
        subscriber.complete();
        return;
      }
      end.reader = subscriber;
      read(end);
      return () => {
        end.reader = undefined;
        end.closed = true; // later data is dropped
        end.arrived.length = 0;
      };
    });
    end.duplex = {
      incoming$,
      write: (chunk, written) => {
        if (!end.writable) {
          written?.(); // dropped: nothing reads it
          return false;
        }
        const copy = chunk.slice(); // the writer may reuse its buffer
        written?.(); // from here on only the copy is read
        end.written += copy.length;
        arrive({ data: copy, from: end });
        if (end.written < highWaterMark) return true;
        end.needDrain = true;
        return false;
      },
      drain$: end.drain.asObservable(),
      end: () => {
        if (!end.writable) return;
        end.writable = false;
        arrive({ eof: true });
      },
      destroy: () => {
        end.arrived.length = 0;
        if (!end.closed) {
          end.closed = true;
          end.reader?.complete();
        }
        if (!end.writable) return;
        end.writable = false;
        arrive({ eof: true });
      },
      pause: () => {
        end.paused = true;
      },
      resume: () => {
        end.paused = false;
        read(end);
      },
      get writableLength() {
        return end.written;
      },
      get isPaused() {
        return end.paused;
      },
    };
    return end;
  };
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  return [a.duplex, b.duplex];
}
