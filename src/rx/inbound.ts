/**
 * The inbound side of a connection: decrypted application data waiting for the application, read either as a
 * push stream (`inbound$`) or pulled one chunk at a time through a projection (`receive`), with the transport
 * paused while too much waits for a slow projection.
 */
import { Observable, from, type ObservableInput, type Subscriber, type Subscription } from 'rxjs';
import { TlsError } from '../core/errors.js';
import { inSharedMemory } from '../wire/bytes.js';

/** Options of {@link inboundQueue}. */
export interface InboundQueueOptions {
  /** Names the stream in the misuse error of a second subscription. */
  readonly what: string;
  /**
   * Bytes that may wait, for a running `receive` projection or for a consumer not yet subscribed, before the
   * transport is paused (default: no limit).
   */
  readonly highWaterMark?: number;
  /** Pause (`true`) or resume (`false`) the transport; called on transitions only. */
  readonly setPaused?: (paused: boolean) => void;
  /**
   * Called with a chunk's size when it leaves the queue: handed to the consumer (`observable` subscriber or
   * `receive` projection), or dropped after the consumer left. What QUIC's flow control follows (`rx/quic.ts`).
   */
  readonly onTaken?: (bytes: number) => void;
  /**
   * Bytes that may wait before any consumer subscribed, past which a chunk is dropped and given to `onDropped`
   * (default: no limit): for a datagram transport, which cannot be paused, whose peer nothing else slows down, and
   * whose records may be lost anyway. A stream transport pauses at `highWaterMark` instead.
   */
  readonly maxUnclaimed?: number;
  readonly onDropped?: (bytes: number) => void;
}

/** See {@link inboundQueue}. */
export interface InboundQueue {
  /** Push mode: every chunk as it arrives (buffered until subscribed). */
  readonly observable: Observable<Uint8Array>;
  /** Pull mode: one projection at a time, with transport backpressure. Throws `apiMisuse` when `project` is no function. */
  receive<R>(project: (chunk: Uint8Array) => ObservableInput<R>): Observable<R>;
  next(chunk: Uint8Array): void;
  /**
   * Like `next(d.data)`, for data that may come in `parts` (a TLS `deliver` effect): a push consumer gets each
   * part as it is, and `data` (their concatenation) is read only if a `receive` projection takes it.
   */
  deliver(d: Delivery): void;
  error(err: unknown): void;
  complete(): void;
  /** Bytes delivered and not yet handed to the application. */
  readonly queuedBytes: number;
  /**
   * Call `cb` once a push consumer (`observable`) has been handed everything delivered so far, and has returned
   * from each `next` (or it left, and what waited was dropped unread): at once when nothing waits. Never when the
   * queue is (or becomes) a `receive`'s, whose projections may keep their chunks.
   */
  whenTaken(cb: () => void): void;
}

/**
 * Application data as a TLS `deliver` effect carries it: `data`, or `parts` whose concatenation it is. `size`, when
 * given, is their length, read instead of either (each may be made only when read).
 */
export interface Delivery {
  readonly data: Uint8Array;
  readonly parts?: readonly Uint8Array[];
  readonly size?: number;
}

/**
 * `chunk`, or a copy of it in ordinary memory when it is a view of shared memory (a projection keeps its chunks,
 * and may hand them to any API: some refuse shared memory).
 */
const ordinaryMemory = (chunk: Uint8Array): Uint8Array => (inSharedMemory(chunk) ? new Uint8Array(chunk) : chunk);

/** `N`: a chunk; `P`: the parts of one delivery (`d.data` joins them); `E`, `C`: error, completion. */
type Note = { kind: 'N'; value: Uint8Array } | { kind: 'P'; d: Delivery; size: number } | { kind: 'E'; err: unknown } | { kind: 'C' };
const noteSize = (n: Note): number => (n.kind === 'N' ? n.value.length : n.kind === 'P' ? n.size : 0);

/**
 * A single-consumer queue of inbound chunks. Everything (values, then the terminal notification) is held until
 * the consumer arrives, so nothing the peer sent before the application subscribed is lost. There is one
 * consumer for the connection's lifetime, either `observable` or one `receive`: a second subscription errors
 * with `apiMisuse`; after the consumer unsubscribes, later chunks are dropped (and the transport is resumed).
 *
 * Backpressure: while more than `highWaterMark` bytes wait behind a running `receive` projection, or for a
 * consumer that has not subscribed yet, `setPaused(true)`; once they fall back to it or below (or the consumer
 * takes them), `setPaused(false)`. So memory stays bounded before the application reads (a proxy dialling its
 * backend, an application that subscribes late), as a Node socket stops reading at its own highWaterMark. An
 * application that only writes still reads session tickets and close_notify, as long as its peer sends no more
 * than `highWaterMark` bytes of data it never reads. A push-mode subscriber takes every chunk as it comes.
 *
 * ```
 * next:      -a-b-c--------|
 * receive(x => timer(3).pipe(map(() => x)))
 * result:    ----a--b--c---|
 * ```
 */
export function inboundQueue(options: InboundQueueOptions): InboundQueue {
  const queue: Note[] = [];
  let queued = 0;
  let stopped = false;
  let claimed = false;
  let detached = false;
  let paused = false;
  let pullMode = false;
  /** Push-mode consumer. */
  let target: Subscriber<Uint8Array> | undefined;
  /** Pull-mode pump, when a `receive` is active. */
  let pump: (() => void) | undefined;
  let draining = false;
  /** Notes queued so far, and notes handed to a push consumer (or dropped as it left mid-delivery). */
  let queuedNotes = 0;
  let handedNotes = 0;
  /** `whenTaken` callbacks, each waiting for the notes queued before it to be handed over. */
  const waiting: { readonly upTo: number; readonly cb: () => void }[] = [];
  const handedOver = () => {
    handedNotes++;
    while (waiting.length > 0 && waiting[0]!.upTo <= handedNotes) waiting.shift()!.cb();
  };

  const pressure = () => {
    const want = (pullMode || !claimed) && !detached && queued > (options.highWaterMark ?? Infinity);
    if (want === paused) return;
    paused = want;
    options.setPaused?.(want);
  };

  const drainPush = () => {
    if (!target || draining) return;
    draining = true;
    try {
      while (target && queue.length > 0) {
        const n = queue.shift()!;
        if (n.kind === 'N') {
          queued -= n.value.length;
          options.onTaken?.(n.value.length);
          target.next(n.value);
        } else if (n.kind === 'P') {
          // Part by part: the consumer may leave in between (detach then accounts for what is left).
          for (const part of n.d.parts!) {
            if (!target) break;
            queued -= part.length;
            options.onTaken?.(part.length);
            target.next(part);
          }
        } else if (n.kind === 'E') target.error(n.err);
        else target.complete();
        handedOver();
      }
    } finally {
      draining = false;
    }
  };

  const push = (note: Note) => {
    if (detached) {
      if (noteSize(note) > 0) options.onTaken?.(noteSize(note));
      return;
    }
    const size = noteSize(note);
    if (!claimed && size > 0 && queued + size > (options.maxUnclaimed ?? Infinity)) {
      options.onDropped?.(size);
      return;
    }
    queue.push(note);
    queuedNotes++;
    queued += noteSize(note);
    if (pump) pump();
    else drainPush();
    pressure();
  };

  const claim = (subscriber: Subscriber<unknown>): boolean => {
    if (claimed) {
      subscriber.error(
        new TlsError({
          kind: 'apiMisuse',
          reason: `${options.what} can be consumed only once: it has a single consumer, which already subscribed (share() one subscription to give it several)`,
        }),
      );
      return false;
    }
    claimed = true;
    return true;
  };

  const detach = () => {
    detached = true;
    target = undefined;
    pump = undefined;
    queue.length = 0;
    // What waited for a push consumer is dropped unread: nothing reads it any more.
    for (const w of waiting.splice(0)) w.cb();
    if (queued > 0) options.onTaken?.(queued);
    queued = 0;
    pressure();
  };

  const observable = new Observable<Uint8Array>((subscriber) => {
    if (!claim(subscriber)) return;
    target = subscriber;
    drainPush();
    pressure(); // resumes a transport paused while nobody had subscribed
    return detach;
  });

  function receive<R>(project: (chunk: Uint8Array) => ObservableInput<R>): Observable<R> {
    // A mistake in the call: thrown at once, and the queue stays unclaimed (inbound$ or a receive() may follow).
    if (typeof project !== 'function') {
      throw new TlsError({ kind: 'apiMisuse', reason: `receive(project): project must be a function (chunk) => ObservableInput, got ${project === null ? 'null' : typeof project}` });
    }
    return new Observable<R>((subscriber) => {
      if (!claim(subscriber)) return;
      pullMode = true;
      waiting.length = 0; // projections may keep their chunks: nothing queued for them is given back
      let running: object | undefined;
      let inner: Subscription | undefined;
      let pumping = false;
      let done = false;
      const step = () => {
        if (pumping) return;
        pumping = true;
        try {
          while (!running && !done && queue.length > 0) {
            const n = queue.shift()!;
            if (n.kind === 'E') {
              done = true;
              subscriber.error(n.err);
            } else if (n.kind === 'C') {
              done = true;
              subscriber.complete();
            } else {
              const value = ordinaryMemory(n.kind === 'N' ? n.value : n.d.data);
              queued -= value.length;
              options.onTaken?.(value.length);
              const token = {};
              running = token;
              let input: ObservableInput<R>;
              try {
                input = project(value);
              } catch (err) {
                done = true;
                subscriber.error(err);
                break;
              }
              const sub = from(input).subscribe({
                next: (v) => subscriber.next(v),
                error: (err) => {
                  done = true;
                  subscriber.error(err);
                },
                complete: () => {
                  if (running !== token) return;
                  running = undefined;
                  inner = undefined;
                  step();
                },
              });
              if (running === token) inner = sub;
            }
          }
        } finally {
          pumping = false;
        }
        pressure();
      };
      pump = step;
      step();
      return () => {
        done = true;
        inner?.unsubscribe();
        detach();
      };
    });
  }

  return {
    observable,
    receive,
    next: (chunk) => {
      if (!stopped) push({ kind: 'N', value: chunk });
    },
    deliver: (d) => {
      if (stopped) return;
      if (d.size !== undefined) {
        push({ kind: 'P', d, size: d.size });
        return;
      }
      const parts = d.parts;
      push(parts && parts.length > 1 ? { kind: 'P', d, size: parts.reduce((n, p) => n + p.length, 0) } : { kind: 'N', value: d.data });
    },
    error: (err) => {
      if (stopped) return;
      stopped = true;
      push({ kind: 'E', err });
    },
    complete: () => {
      if (stopped) return;
      stopped = true;
      push({ kind: 'C' });
    },
    get queuedBytes() {
      return queued;
    },
    whenTaken: (cb) => {
      if (pullMode) return;
      // Handed over already, or dropped with a consumer that left (nobody reads them).
      if (handedNotes === queuedNotes || detached) cb();
      else waiting.push({ upTo: queuedNotes, cb });
    },
  };
}
