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
   * a backlog fact, the `state` it is given: the latest one) is never stale. Ask again later by emitting on
   * `wake$`.
   */
  readonly pull?: (state: S) => Pending<I> | undefined;
  /** Each emission asks `pull` again (at once when idle, else when the current step is done). */
  readonly wake$?: Observable<unknown>;
  /**
   * Called with the latest state once every queued (and pulled) input has been reduced, its effects emitted and
   * the timer re-armed. Not called after the output completed or errored.
   */
  readonly onIdle?: (state: S) => void;
  /**
   * Ticking (default `true`, "auto"): the scheduler arms one timer at `nextTimeout(state)` and feeds `timeout`
   * when it fires. `false` ("manual", OpenSSL's explicit `DTLSv1_handle_timeout` / `SSL_handle_events`
   * ticking) arms no timer at all: the application asks the {@link Ticker} when the next deadline is
   * (`eventTimeout()`) and calls `handleEvents()` at or after it.
   */
  readonly autoTick?: boolean;
  /**
   * Called once per subscription, before any input is reduced, with the {@link Ticker} of this run: how long
   * until the reducer's next deadline, and a way to feed the `timeout` input by hand. Useful in both modes (in
   * "auto" mode `handleEvents()` only runs a due timer early, before the scheduler does).
   */
  readonly ticker?: (ticker: Ticker) => void;
}

/**
 * The clock handle of one running reducer: OpenSSL's `SSL_get_event_timeout` and `SSL_handle_events`.
 * Datagrams and application inputs are fed as they come; only timer work waits for {@link Ticker.handleEvents}
 * when ticking is manual.
 *
 * ```ts
 * const wait = ticker.eventTimeout(); // ms until the next deadline: 0 when due, undefined when none
 * if (wait === 0) ticker.handleEvents(); // runs the due timers (retransmission, ACK, handshake deadline, …)
 * ```
 */
export interface Ticker {
  /**
   * Milliseconds from `scheduler.now()` until the reducer's next deadline, `0` when it is due (or past), or
   * `undefined` when no timer is pending ("infinite", as `SSL_get_event_timeout` reports it) — also once the
   * run is over.
   */
  eventTimeout(): number | undefined;
  /**
   * Feed a `timeout` input stamped with `scheduler.now()` when a deadline is due; does nothing when none is
   * (or once the run is over), so calling it too often is harmless. Effects come out of the run as usual.
   */
  handleEvents(): void;
}
/**
 * The longest delay a timer is asked for: 2^31−1 ms (about 24.8 days), the most `setTimeout` holds (Node and
 * browsers fire a longer one after 1 ms). A later deadline is reached in steps of at most this much.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

const isClosed = (effect: unknown): boolean => (effect as { readonly type?: unknown } | null)?.type === 'closed';

/**
 * Runs a sans-IO reducer over a stream of inputs and emits the effects it returns, in order.
 *
 * Every input is stamped with `scheduler.now()` before it is reduced. At subscription, and after each step
 * (once re-entrant inputs have drained), exactly one timer is armed at `nextTimeout(state)`; a changed deadline
 * cancels the previous timer, `undefined` disarms it. When the timer fires the operator feeds
 * `{ type: 'timeout' }` stamped with the scheduler's time (never earlier than the deadline). With
 * `autoTick: false` no timer is ever armed: the application ticks through the {@link Ticker} handed to
 * `ticker` (see {@link ReducerSpec.autoTick}). The output completes right after the step that
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
 * Manual ticking (`autoTick: false`): the same deadline, but nothing happens until `handleEvents()` is called.
 *
 * ```
 * inputs:  --w-------------------
 *          runReducer({ …, autoTick: false, ticker: (t) => (tick = t) })
 * effects: --a-----------------t-     tick.eventTimeout() is 10 at frame 2, 0 from frame 12 on;
 *                              ^ tick.handleEvents() called at frame 20
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
      const autoTick = spec.autoTick ?? true;
      let state = spec.initial;
      let busy = false;
      let finished = false;
      /** Inputs reduced so far (the timer of the initial state is armed at subscription when none was). */
      let steps = 0;
      const queue: Pending<I>[] = [];
      let timer: Subscription | undefined;
      let armedFor: number | undefined;

      const disarm = () => {
        timer?.unsubscribe();
        timer = undefined;
        armedFor = undefined;
      };

      const arm = (deadline: number | undefined) => {
        if (!autoTick) return; // manual ticking: the application calls handleEvents()
        if (deadline === armedFor) return; // ONE timer: keep it when the deadline did not move
        disarm();
        if (deadline === undefined || Number.isNaN(deadline)) return; // NaN: no deadline (never a spinning timer)
        armedFor = deadline;
        // Never more than MAX_TIMER_DELAY at once: a deadline further out is re-armed for the rest when it fires.
        const delay = (ms: number) => Math.min(MAX_TIMER_DELAY, Math.max(0, ms));
        const fire = () => {
          // A timer source may fire a little early (setTimeout vs Date.now granularity), or the deadline was
          // beyond one timer's reach: wait out the rest.
          const early = deadline - scheduler.now();
          if (early > 0) {
            timer = scheduler.schedule(fire, delay(early));
            return;
          }
          timer = undefined;
          armedFor = undefined;
          feed({ type: 'timeout' } as Pending<I>);
        };
        timer = scheduler.schedule(fire, delay(deadline - scheduler.now()));
      };

      /** Reduce everything queued, then everything `pull` offers (trampolined: never re-entered). */
      const drain = () => {
        if (busy || finished) return;
        busy = true;
        try {
          for (;;) {
            while (queue.length > 0 && !finished) {
              const next = queue.shift()!;
              steps++;
              // Object.assign, not a spread: inputs come in several shapes, and V8's spread of an object whose
              // shape varies takes its slow path (measured ~0.8 µs a step against ~0.1).
              const step = spec.handle(state, Object.assign({}, next, { now: scheduler.now() }) as unknown as I);
              state = step.state;
              for (const effect of step.effects) {
                if (isFinal(effect)) finished = true;
                subscriber.next(effect);
              }
            }
            if (finished) break;
            const pulled = spec.pull?.(state);
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
      spec.ticker?.({
        eventTimeout: () => {
          const deadline = finished ? undefined : spec.nextTimeout(state);
          return deadline === undefined ? undefined : Math.max(0, deadline - scheduler.now());
        },
        handleEvents: () => {
          if (finished) return;
          const deadline = spec.nextTimeout(state);
          if (deadline !== undefined && scheduler.now() >= deadline) feed({ type: 'timeout' } as Pending<I>);
        },
      });
      subscriber.add(source.subscribe({ next: feed, error: fail }));
      if (spec.wake$) subscriber.add(spec.wake$.subscribe({ next: drain, error: fail }));
      // A state that was started elsewhere (a listener's first step) may already have a deadline.
      if (steps === 0 && !finished && !busy) arm(spec.nextTimeout(state));

      return () => {
        finished = true;
        queue.length = 0;
        disarm();
      };
    });
}
