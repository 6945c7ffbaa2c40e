/**
 * `faultyDatagramLink` and `faultyByteLink`: put fault operators on each direction of a duplex, so a protocol
 * running over it meets loss, duplication, reordering, delay, damage, truncation or a bottleneck.
 */
import { Subject, identity, type MonoTypeOperatorFunction, type Subscription } from 'rxjs';
import { misuse } from '../../core/errors.js';
import type { ByteDuplex, DatagramDuplex } from '../types.js';

/** What a faulty link does to each direction: an operator (or several through RxJS `pipe`) per direction. */
export interface FaultyLinkOptions {
  /** Applied to what this end sends, before the underlying duplex gets it (default: nothing). */
  readonly toPeer?: MonoTypeOperatorFunction<Uint8Array>;
  /** Applied to what the underlying duplex receives, before this end's `incoming$` emits it (default: nothing). */
  readonly fromPeer?: MonoTypeOperatorFunction<Uint8Array>;
}

/**
 * A {@link DatagramDuplex} whose traffic goes through fault operators: `send` puts a copy of the datagram
 * through `toPeer` and hands what comes out to the underlying `send`; `incoming$` is the underlying's through
 * `fromPeer`. Backpressure is the underlying's: `send` answers `false` from the time the underlying answered
 * `false` until its `drain$` emits (datagrams held by a delay are not counted: a network does not push back
 * on its senders). `close` drops what the operators still hold and closes the underlying duplex.
 *
 * ```
 * send(a) send(b) send(c)            -a-b-c------
 * underlying send (drop + latency 3)  ----a---c---      toPeer: pipe(drop({ indices: [1] }), latency({ ms: 3 }))
 * ```
 *
 * @example
 * ```ts
 * const [clientEnd, serverEnd] = memoryDatagramPair({ scheduler: ts, latency: 5 });
 * const lossy = faultyDatagramLink(clientEnd, {
 *   toPeer: pipe(drop({ rate: 0.2, seed: 1 }), duplicate({ rate: 0.1, seed: 2 })),
 *   fromPeer: reorder({ rate: 0.2, holdMs: 20, seed: 3, scheduler: ts }),
 * });
 * of(lossy).pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost', scheduler: ts }));
 * ```
 *
 * @see memoryDatagramPair
 */
export function faultyDatagramLink(duplex: DatagramDuplex, options: FaultyLinkOptions = {}): DatagramDuplex {
  const { toPeer = identity, fromPeer = identity } = options;
  checkOperators('faultyDatagramLink', options);
  const outgoing = new Subject<Uint8Array>();
  let blocked = false;
  const drainWatch: Subscription | undefined = duplex.drain$?.subscribe(() => (blocked = false));
  const pipeline = outgoing.pipe(toPeer).subscribe({
    next: (datagram) => {
      if (!duplex.send(datagram)) blocked = true;
    },
    error: () => duplex.close(),
  });
  let closed = false;
  const link: DatagramDuplex = {
    incoming$: duplex.incoming$.pipe(fromPeer),
    send: (datagram) => {
      if (closed) return false;
      outgoing.next(datagram.slice()); // the sender may reuse its buffer while a delay holds this one
      return !blocked;
    },
    close: () => {
      if (closed) return;
      closed = true;
      pipeline.unsubscribe();
      drainWatch?.unsubscribe();
      duplex.close();
    },
  };
  return duplex.drain$ ? { ...link, drain$: duplex.drain$ } : link;
}

/** Options of {@link faultyByteLink}. */
export interface FaultyByteLinkOptions extends FaultyLinkOptions {
  /**
   * Bytes written to the link and not yet handed to the underlying duplex (held by a delay or a rate limit)
   * before `write` answers `false` (default 16 KiB, a socket's). `drain$` emits once they fall below it and the
   * underlying duplex is writable.
   */
  readonly highWaterMark?: number;
}

/** A {@link faultyByteLink}: a {@link ByteDuplex} that also tells what its `toPeer` operators hold. */
export interface FaultyByteLink extends ByteDuplex {
  readonly drain$: ByteDuplex['drain$'];
  /** Bytes written and not yet handed to the underlying duplex. */
  readonly held: number;
}

/**
 * A {@link ByteDuplex} whose bytes go through fault operators: `write` puts a copy of the chunk through
 * `toPeer` and writes what comes out to the underlying duplex, in order; `incoming$` is the underlying's
 * through `fromPeer`. Byte-stream operators fit here: `latency` (with `keepOrder`), `rateLimit`, `corrupt`,
 * `truncate({ afterBytes })`; dropping or duplicating bytes is not something TCP does.
 *
 * Backpressure as a socket's: `write` answers `false` while the underlying answered `false` and has not
 * drained, or while `highWaterMark` bytes or more are held by the operators (`held`); `drain$` emits when both
 * clear, so a TLS sender over a slow link waits instead of filling the queue of a `rateLimit`. `end` is passed
 * on once the operators have let out everything written before it (after a delay, after the rate limit's
 * queue). When `toPeer` completes on its own (`truncate`), the underlying duplex is ended there — the peer
 * sees EOF in mid-stream — and later writes are discarded. `pause`/`resume` are the underlying's (bytes already
 * inside `fromPeer` still come out). `destroy` drops what the operators hold and destroys the underlying.
 *
 * ```
 * write(a) write(b) end()             -a-b-e---------
 * underlying write, latency 3          ----a-b-e------     toPeer: latency({ ms: 3, keepOrder: true })
 * ```
 *
 * @example
 * ```ts
 * const [clientEnd, serverEnd] = memoryDuplexPair({ scheduler: ts });
 * const slow = faultyByteLink(clientEnd, {
 *   toPeer: pipe(latency({ ms: 20, keepOrder: true, scheduler: ts }), rateLimit({ bytesPerSecond: 1e6, scheduler: ts })),
 *   fromPeer: latency({ ms: 20, keepOrder: true, scheduler: ts }),
 * });
 * of(slow).pipe(secure({ role: 'client', ca, servername: 'localhost', scheduler: ts }));
 * ```
 *
 * @see memoryDuplexPair
 */
export function faultyByteLink(duplex: ByteDuplex, options: FaultyByteLinkOptions = {}): FaultyByteLink {
  const { toPeer = identity, fromPeer = identity, highWaterMark = 16 * 1024 } = options;
  checkOperators('faultyByteLink', options);
  if (!(Number.isFinite(highWaterMark) && highWaterMark >= 1)) throw misuse(`faultyByteLink: highWaterMark must be a finite number ≥ 1, got ${highWaterMark}`);
  const outgoing = new Subject<Uint8Array>();
  const drain = new Subject<void>();
  let held = 0;
  let blocked = false;
  let needDrain = false;
  let cut = false; // toPeer completed or errored: the underlying is ended or destroyed
  const writable = () => !blocked && held < highWaterMark;
  const maybeDrain = () => {
    if (needDrain && writable()) {
      needDrain = false;
      drain.next();
    }
  };
  const drainWatch = duplex.drain$.subscribe(() => {
    blocked = false;
    maybeDrain();
  });
  const pipeline = outgoing.pipe(toPeer).subscribe({
    next: (chunk) => {
      // `held` counts written bytes; operators that change lengths (truncate) may let out fewer or more.
      held = Math.max(0, held - chunk.length);
      if (!duplex.write(chunk)) blocked = true;
      maybeDrain();
    },
    error: () => {
      cut = true;
      duplex.destroy();
    },
    complete: () => {
      cut = true;
      held = 0;
      duplex.end();
    },
  });
  let ended = false;
  return {
    incoming$: duplex.incoming$.pipe(fromPeer),
    drain$: drain.asObservable(),
    write: (chunk) => {
      if (ended) return false;
      if (cut) return true; // a cut connection swallows writes; the peer already saw EOF
      held += chunk.length;
      outgoing.next(chunk.slice()); // the writer may reuse its buffer while a delay holds this one
      if (writable()) return true;
      needDrain = true;
      return false;
    },
    end: () => {
      if (ended) return;
      ended = true;
      outgoing.complete(); // the underlying is ended when toPeer has let everything out
    },
    destroy: () => {
      ended = true;
      cut = true;
      pipeline.unsubscribe();
      drainWatch.unsubscribe();
      duplex.destroy();
    },
    ...(duplex.pause ? { pause: () => duplex.pause!() } : {}),
    ...(duplex.resume ? { resume: () => duplex.resume!() } : {}),
    get held() {
      return held;
    },
  };
}

function checkOperators(what: string, options: FaultyLinkOptions): void {
  for (const key of ['toPeer', 'fromPeer'] as const) {
    const op = options[key];
    if (op !== undefined && typeof op !== 'function') throw misuse(`${what}: ${key} must be an operator function, got ${typeof op}`);
  }
}
