/**
 * `memoryDatagramPair`: two connected in-memory {@link DatagramDuplex} ends over a link that a test (or an
 * application simulating a network) can make lossy — the datagram counterpart of `memoryDuplexPair`.
 */
import { Subject, type Observable, type SchedulerLike } from 'rxjs';
import { misuse } from '../core/errors.js';
import { inboundQueue } from './inbound.js';
import type { DatagramDuplex } from './types.js';

/** What the link does with one datagram: deliver it, drop it, deliver it twice, or deliver it `delay` ms late. */
export type LinkVerdict = 'deliver' | 'drop' | 'duplicate' | { readonly delay: number };

/** A datagram put on a {@link memoryDatagramPair} link, as its `filter` sees it. */
export interface LinkDatagram {
  /** The end that sent it: `'a'` is the first of the pair, `'b'` the second. */
  readonly from: 'a' | 'b';
  /** Its index among the datagrams that end sent (0-based, counting dropped ones). */
  readonly index: number;
  readonly data: Uint8Array;
  /** `scheduler.now()` when it was sent (0 without a scheduler). */
  readonly at: number;
}

/** Options of {@link memoryDatagramPair}. */
export interface MemoryDatagramOptions {
  /**
   * Deliver through this scheduler (a `TestScheduler` for virtual time) after `latency` ms. Without one,
   * delivery is synchronous (the datagram reaches the peer before `send` returns) and delays are refused.
   */
  readonly scheduler?: SchedulerLike;
  /** With `scheduler`: one-way latency in ms (default 0). */
  readonly latency?: number;
  /** Decides each datagram's fate (default: deliver everything). Called once per datagram, in send order. */
  readonly filter?: (datagram: LinkDatagram) => LinkVerdict;
  /**
   * Datagrams an end may have in flight (sent, not yet delivered or dropped) before `send` answers `false`;
   * its `drain$` emits once they are delivered below it. Default: unlimited (a link that never pushes back).
   */
  readonly capacity?: number;
}

/** One end of a {@link memoryDatagramPair}. */
export interface MemoryDatagramDuplex extends DatagramDuplex {
  readonly drain$: Observable<void>;
  /** Datagrams this end sent so far (whatever the link did with them). */
  readonly sent: number;
  /** Datagrams this end sent that are still on the link. */
  readonly inFlight: number;
}

/**
 * Two connected in-memory {@link DatagramDuplex} ends: what one sends, the other's `incoming$` emits, unless the
 * `filter` drops, duplicates or delays it. Datagrams are copied when sent. An end buffers what arrives until
 * its `incoming$` is subscribed (one subscriber); `close()` completes its own `incoming$` and drops what arrives
 * later — the peer is not told, as with UDP. With a `capacity`, `send` answers `false` while that many
 * datagrams of the end are in flight, and `drain$` emits when delivery brings them below it.
 *
 * ```
 * a.send(x) a.send(y) a.send(z)     --x-y-z-----        filter: index 1 from 'a' → 'drop'
 * b.incoming$                       -----x---z--        { scheduler, latency: 3 }
 * ```
 *
 * @example
 * ```ts
 * // Lose the client's first flight, in virtual time: the DTLS retransmission timer recovers it.
 * const [clientEnd, serverEnd] = memoryDatagramPair({
 *   scheduler: testScheduler,
 *   latency: 5,
 *   filter: (d) => (d.from === 'a' && d.index === 0 ? 'drop' : 'deliver'),
 * });
 * ```
 *
 * @see memoryDuplexPair — the byte-stream counterpart.
 * @see secureDatagrams — DTLS over any datagram duplex.
 */
export function memoryDatagramPair(options: MemoryDatagramOptions = {}): [MemoryDatagramDuplex, MemoryDatagramDuplex] {
  const { scheduler, latency = 0, filter = () => 'deliver' as const, capacity = Infinity } = options;
  if (!(latency >= 0)) throw misuse(`latency must be a number of ms ≥ 0, got ${latency}`);
  if (!(capacity >= 1)) throw misuse(`capacity must be at least 1 datagram, got ${capacity}`);

  interface End {
    readonly name: 'a' | 'b';
    readonly queue: ReturnType<typeof inboundQueue>;
    readonly drain: Subject<void>;
    peer?: End;
    sent: number;
    inFlight: number;
    needDrain: boolean;
    closed: boolean;
    duplex?: MemoryDatagramDuplex;
  }

  const landed = (from: End) => {
    from.inFlight--;
    if (from.needDrain && from.inFlight < capacity) {
      from.needDrain = false;
      from.drain.next();
    }
  };
  const arrive = (from: End, data: Uint8Array) => {
    const to = from.peer!;
    if (!to.closed) to.queue.next(data);
  };
  /** Put one copy on the link: delivered after `delay` ms (synchronously without a scheduler). */
  const carry = (from: End, data: Uint8Array, delay: number) => {
    from.inFlight++;
    const work = () => {
      landed(from);
      arrive(from, data);
    };
    if (scheduler) scheduler.schedule(work, delay);
    else work();
  };

  const make = (name: 'a' | 'b'): End => {
    const end: End = {
      name,
      queue: inboundQueue({ what: `incoming$ of memory datagram end ${name}` }),
      drain: new Subject<void>(),
      sent: 0,
      inFlight: 0,
      needDrain: false,
      closed: false,
    };
    end.duplex = {
      incoming$: end.queue.observable,
      drain$: end.drain.asObservable(),
      send: (datagram) => {
        if (end.closed) return false;
        const data = datagram.slice(); // the sender may reuse its buffer
        const verdict = filter({ from: name, index: end.sent++, data, at: scheduler ? scheduler.now() : 0 });
        if (verdict === 'drop') {
          // lost on the link
        } else if (verdict === 'deliver' || verdict === 'duplicate') {
          carry(end, data, latency);
          if (verdict === 'duplicate') carry(end, data, latency);
        } else if (typeof verdict === 'object' && verdict !== null && verdict.delay >= 0) {
          if (!scheduler && verdict.delay > 0) throw misuse('memoryDatagramPair: a delayed datagram needs a scheduler');
          carry(end, data, latency + verdict.delay);
        } else {
          throw misuse(`memoryDatagramPair: the filter answered ${JSON.stringify(verdict)}`);
        }
        if (end.inFlight < capacity) return true;
        end.needDrain = true;
        return false;
      },
      close: () => {
        if (end.closed) return;
        end.closed = true;
        end.queue.complete();
      },
      get sent() {
        return end.sent;
      },
      get inFlight() {
        return end.inFlight;
      },
    };
    return end;
  };
  const a = make('a');
  const b = make('b');
  a.peer = b;
  b.peer = a;
  return [a.duplex!, b.duplex!];
}

