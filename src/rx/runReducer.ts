/**
 * `runReducer`: the one place where a sans-IO reducer meets time. Shared by the TLS and QUIC adapters.
 */
import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { TlsInput } from '../tls/types.js';

/** An input before it is stamped with `now` (distributes over a union of inputs). */
export type Pending<I> = I extends unknown ? Omit<I, 'now'> : never;

/** A TLS/QUIC core {@link TlsInput} before it is stamped with `now`. */
export type PendingInput = Pending<TlsInput>;

/** What {@link runReducer} needs: the reducer, its timer query, the initial state and a clock. */
export interface ReducerSpec<S, I extends { readonly type: string; readonly now: number }, E> {
  /** The pure reducer (`handleEvents`). Peer faults come back as effects; a throw errors the output. */
  readonly handle: (state: S, input: I) => { readonly state: S; readonly effects: readonly E[] };
  /** The next absolute deadline in ms (same clock as `scheduler.now()`), or `undefined` for none. */
  readonly nextTimeout: (state: S) => number | undefined;
  /** The state before the first input. */
  readonly initial: S;
  /** Clock and timer source. Default `asyncScheduler`; a `TestScheduler` gives virtual time. */
  readonly scheduler?: SchedulerLike;
  /** The effect after whose step the output completes. Default: an effect of type `closed`. */
  readonly isFinal?: (effect: E) => boolean;
  /**
   * Pull-based inputs: asked for the next input whenever the reducer is idle (every queued input reduced and
   * its effects emitted), and again after each input it returned, until it returns `undefined`. Because it is
   * asked only between steps, what it decides on (the transport's backpressure answer to the previous write,
   * a backlog fact) is never stale. Ask again later by emitting on `wake$`.
   */
  readonly pull?: () => Pending<I> | undefined;
  /** Each emission asks `pull` again (at once when idle, else when the current step is done). */
  readonly wake$?: Observable<unknown>;
  /**
   * Called with the latest state once every queued (and pulled) input has been reduced, its effects emitted and
   * the timer re-armed. Not called after the output completed or errored.
   */
  readonly onIdle?: (state: S) => void;
}

const isClosed = (effect: unknown): boolean => (effect as { readonly type?: unknown } | null)?.type === 'closed';

/**
 * Runs a sans-IO reducer over a stream of inputs and emits the effects it returns, in order.
 *
 * Every input is stamped with `scheduler.now()` before it is reduced. After each step (once re-entrant inputs
 * have drained) exactly one timer is armed at `nextTimeout(state)`; a changed deadline cancels the previous
 * timer, `undefined` disarms it. When the timer fires the operator feeds `{ type: 'timeout' }` stamped with the
 * scheduler's time (never earlier than the deadline). The output completes right after the step that
 * produced the final effect (`closed` by default; all effects of that step are emitted first); the input
 * subscription, `wake$` and the timer are then released. Completion of the input alone does not complete the
 * output: the reducer decides when the connection is over (feed `eof` for a transport EOF). An input error, or
 * a throw from `handle` (API misuse), errors the output.
 *
 * Inputs that arrive while effects are being emitted (an adapter writing to a synchronous in-memory peer that
 * answers at once) are queued and reduced after the current step, so effects keep the reducer's order. When the
 * queue is empty, `pull()` is asked for more (see {@link ReducerSpec.pull}), then `onIdle(state)` is called.
 *
 * ```
 * inputs:  --w-----------e------
 *          runReducer({ handle, nextTimeout, initial })   // w arms a 10 ms deadline, e closes
 * effects: --a---------t-(c|)
 *                      ^ timeout fed at the deadline (frame 12)
 * ```
 *
 * @example
 * ```ts
 * const effects$ = inputs$.pipe(
 *   runReducer({ handle: handleEvents, nextTimeout, initial: createConnection(config), scheduler }),
 * );
 * effects$.subscribe((e) => { if (e.type === 'transmit') socket.write(e.data); });
 * ```
 *
 * @see {@link https://docs.rs/quinn-proto/latest/quinn_proto/struct.Connection.html | quinn-proto Connection (poll_timeout / handle_timeout)}
 * @see secureDuplex, quicConnect — the adapters built on it.
 */
export function runReducer<S, I extends { readonly type: string; readonly now: number }, E>(
  spec: ReducerSpec<S, I, E>,
): OperatorFunction<Pending<I>, E> {
  const isFinal = spec.isFinal ?? isClosed;
  return (source) =>
    new Observable<E>((subscriber) => {
      const scheduler = spec.scheduler ?? asyncScheduler;
      let state = spec.initial;
      let busy = false;
      let finished = false;
      const queue: Pending<I>[] = [];
      let timer: Subscription | undefined;
      let armedFor: number | undefined;

      const disarm = () => {
        timer?.unsubscribe();
        timer = undefined;
        armedFor = undefined;
      };

      const arm = (deadline: number | undefined) => {
        if (deadline === armedFor) return; // ONE timer: keep it when the deadline did not move
        disarm();
        if (deadline === undefined) return;
        armedFor = deadline;
        const fire = () => {
          // A timer source may fire a little early (setTimeout vs Date.now granularity): wait out the rest.
          const early = deadline - scheduler.now();
          if (early > 0) {
            timer = scheduler.schedule(fire, early);
            return;
          }
          timer = undefined;
          armedFor = undefined;
          feed({ type: 'timeout' } as Pending<I>);
        };
        timer = scheduler.schedule(fire, Math.max(0, deadline - scheduler.now()));
      };

      /** Reduce everything queued, then everything `pull` offers (trampolined: never re-entered). */
      const drain = () => {
        if (busy || finished) return;
        busy = true;
        try {
          for (;;) {
            while (queue.length > 0 && !finished) {
              const next = queue.shift()!;
              const step = spec.handle(state, { ...next, now: scheduler.now() } as unknown as I);
              state = step.state;
              for (const effect of step.effects) {
                if (isFinal(effect)) finished = true;
                subscriber.next(effect);
              }
            }
            if (finished) break;
            const pulled = spec.pull?.();
            if (pulled === undefined) break;
            queue.push(pulled);
          }
        } catch (err) {
          finished = true;
          queue.length = 0;
          disarm();
          subscriber.error(err);
          return;
        } finally {
          busy = false;
        }
        if (finished) {
          queue.length = 0;
          disarm();
          subscriber.complete();
        } else {
          arm(spec.nextTimeout(state));
          spec.onIdle?.(state);
        }
      };

      const feed = (input: Pending<I>) => {
        if (finished) return;
        queue.push(input);
        drain(); // re-entrant: queued and reduced after the current step
      };

      const fail = (err: unknown) => {
        finished = true;
        disarm();
        subscriber.error(err);
      };
      subscriber.add(source.subscribe({ next: feed, error: fail }));
      if (spec.wake$) subscriber.add(spec.wake$.subscribe({ next: drain, error: fail }));

      return () => {
        finished = true;
        queue.length = 0;
        disarm();
      };
    });
}
