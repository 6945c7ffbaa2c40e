/**
 * Application callbacks that rxtls calls (debugging sinks, hooks, reporters): an exception from one must never
 * escape into the reducer loop, a socket's event handler or RxJS's unhandled-error path (where, without a
 * handler, it is rethrown from a timer and ends the process). Each call site picks one of two policies and says
 * which in the option's doc comment:
 *
 * - {@link contained}: the exception is caught and reported with `console.warn` (once per callback function),
 *   and what called it goes on — for sinks and reporters whose failure should not take a connection or a
 *   server down (`keyLog`, `onMessage`, `onError`, `sessionCache.set`);
 * - {@link callbackFailed}: what called it fails with a `TlsError` of kind `apiMisuse` naming the callback —
 *   for hooks whose failure leaves nothing sensible to go on with (`onListening`, `onTcpConnect`,
 *   `sessionCache.get`).
 */
import { type TlsError, misuse } from '../core/errors.js';

/** The callback functions whose exception was already reported (so a throwing logger does not flood). */
const reported = new WeakSet<object>();

/** The message of what a callback threw. */
export function thrownMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return typeof err;
  }
}

/** Report `err`, thrown by the application's callback `fn` (named `name`), once per `fn`. */
export function reportCallbackError(name: string, fn: object, err: unknown): void {
  if (reported.has(fn)) return;
  reported.add(fn);
  console.warn(`rxtls: the application's ${name} threw (ignored; further exceptions from it are not reported): ${thrownMessage(err)}`);
}

/**
 * `fn` as a function that never throws: an exception from it is caught and reported once per `fn` with
 * `console.warn` ({@link reportCallbackError}); the caller goes on as if it had returned.
 *
 * @example
 * ```ts
 * const onMessage = contained('onMessage', options.onMessage);
 * onMessage({ dir: 'sent', ... }); // a bug in the application's logger cannot fail the handshake
 * ```
 */
export function contained<A extends unknown[]>(name: string, fn: (...args: A) => unknown): (...args: A) => void {
  return (...args) => {
    try {
      fn(...args);
    } catch (err) {
      reportCallbackError(name, fn, err);
    }
  };
}

/** The error something fails with when the application's callback `name` threw: `apiMisuse`, naming it. */
export function callbackFailed(name: string, err: unknown): TlsError {
  return misuse(`${name} threw: ${thrownMessage(err)}`);
}
