/**
 * `runReducer`: the one place where a sans-IO reducer meets time. Shared by TLS, DTLS and QUIC adapters.
 */
import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { Effect, Input, Step } from '../src/core/types.js';

/** An input before it is stamped with `now` (distributes over the union); `I` defaults to TLS's {@link Input}. */
export type PendingInput<I extends { readonly now: number } = Input> = I extends infer T ? (T extends I ? Omit<T, 'now'> : never) : never;

/**
 * What {@link runReducer} needs: the reducer, its timer query, the initial state and a clock. `I` and `E` are
 * the reducer's input and effect unions (TLS's {@link Input} and {@link Effect} by default; QUIC has its own).
 */
export interface ReducerSpec<S, I extends { readonly type: string; readonly now: number } = Input, E extends { readonly type: string } = Effect> {
  /** The pure reducer (`handleEvents`). Peer faults come back as effects; a throw errors the output. */
  readonly handle: (state: S, input: I) => Step<S, E>;
  /** The next absolute deadline in ms (same clock as `scheduler.now()`), or `undefined` for none. */
  readonly nextTimeout: (state: S) => number | undefined;
  /** The state before the first input. */
  readonly initial: S;
  /** Clock and timer source. Default `asyncScheduler`; a `TestScheduler` gives virtual time. */
  readonly scheduler?: SchedulerLike;
  /**
   * Called with the latest state once every queued input has been reduced, its effects emitted and the timer
   * re-armed: the reducer is idle, so an input fed now is reduced synchronously. Adapters use it to move
   * application data into the reducer only when the previous step's output (and its backpressure signal) is
   * known. Not called after the output completed or errored.
   */
  readonly onIdle?: (state: S) => void;
}

/**
 * Runs a sans-IO reducer over a stream of inputs and emits the effects it returns, in order.
 *
 * Every input is stamped with `scheduler.now()` before it is reduced. After each step (once re-entrant inputs
 * have drained) exactly one timer is armed at `nextTimeout(state)`; a changed deadline cancels the previous
 * timer, `undefined` disarms it. When the timer fires the operator feeds `{ type: 'timeout' }` stamped with the
 * scheduler's time (never earlier than the deadline). The output completes right after the step that
 * produced a `closed` effect (all effects of that step are emitted first); the input subscription and the
 * timer are then released. Completion of the input alone does not complete the output: the reducer decides
 * when the connection is over (feed `eof` for a transport EOF). An input error, or a throw from `handle`
 * (API misuse), errors the output.
 *
 * Inputs that arrive while effects are being emitted (an adapter writing to a synchronous in-memory peer that
 * answers at once) are queued and reduced after the current step, so effects keep the reducer's order. When the
 * queue is empty again, `onIdle(state)` is called (see {@link ReducerSpec.onIdle}).
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
 * @see secureClient, secureServer — the TLS adapters built on it.
 */
export function runReducer<S, I extends { readonly type: string; readonly now: number } = Input, E extends { readonly type: string } = Effect>(
  spec: ReducerSpec<S, I, E>,
): OperatorFunction<PendingInput<I>, E> {
  return (source) =>
    new Observable<E>((subscriber) => {
      const scheduler = spec.scheduler ?? asyncScheduler;
      let state = spec.initial;
      let busy = false;
      let finished = false;
      const queue: PendingInput<I>[] = [];
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
          feed({ type: 'timeout' } as PendingInput<I>);
        };
        timer = scheduler.schedule(fire, Math.max(0, deadline - scheduler.now()));
      };

      const feed = (input: PendingInput<I>) => {
        if (finished) return;
        queue.push(input);
        if (busy) return; // re-entrant: reduced after the current step (trampoline)
        busy = true;
        try {
          while (queue.length > 0 && !finished) {
            const next = queue.shift()!;
            const step = spec.handle(state, { ...next, now: scheduler.now() } as unknown as I);
            state = step.state;
            for (const effect of step.effects) {
              if (effect.type === 'closed') finished = true;
              subscriber.next(effect);
            }
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

      subscriber.add(
        source.subscribe({
          next: feed,
          error: (err) => {
            finished = true;
            disarm();
            subscriber.error(err);
          },
        }),
      );

      return () => {
        finished = true;
        queue.length = 0;
        disarm();
      };
    });
}
