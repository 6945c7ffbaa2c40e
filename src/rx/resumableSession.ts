/**
 * `resumableSession`: the session-cache policy of rxtls (OpenSSL's), as a function over a connection's streams;
 * and `sessionToOffer`, the other half: which session a new client connection offers.
 */
import { EMPTY, type Observable, catchError, filter, forkJoin, last, map } from 'rxjs';
import { sessionUsable, type TlsSession } from '../handshake/session.js';
import type { SessionCache } from './types.js';
import { misuse } from '../core/errors.js';
import { callbackFailed, reportCallbackError } from './callbacks.js';

/**
 * The session a client connection offers (TLS, DTLS and QUIC adapters alike): `given`, else the one `cache`
 * holds under `key`, taken out of it (tickets are single use, RFC 8446 §8). With `now`, a session past its
 * lifetime is not offered; without, the handshake engine is left to judge it.
 *
 * Throws a `TlsError` of kind `apiMisuse` naming the method when the cache's `get` or `delete` throws, or `get`
 * answers something that is not a session: the connection then fails before anything is sent.
 */
export function sessionToOffer(given: TlsSession | undefined, cache: SessionCache | undefined, key: string, now?: number): TlsSession | undefined {
  let session = given;
  if (!session && cache) {
    try {
      session = cache.get(key);
    } catch (err) {
      throw callbackFailed('sessionCache.get', err);
    }
    if ((session as unknown) === null) session = undefined; // "none", as a Map-like store may say it
    if (session !== undefined && typeof session !== 'object') {
      throw misuse(`sessionCache.get answered a ${typeof session}, not a session or undefined`);
    }
    if (session) {
      try {
        cache.delete(key);
      } catch (err) {
        throw callbackFailed('sessionCache.delete', err);
      }
    }
  }
  return session && (now === undefined || sessionUsable(session, now)) ? session : undefined;
}

/**
 * Store `session` in `cache` under `key`; an exception from the cache's `set` is contained (reported once with
 * `console.warn`, the session is simply not stored): the connection it came from is over already.
 */
export function storeSession(cache: SessionCache, key: string, session: TlsSession): void {
  try {
    cache.set(key, session);
  } catch (err) {
    reportCallbackError('sessionCache.set', cache, err);
  }
}

/** The core's `shutdown` facts (`SSL_get_shutdown`, and whether the input ended by an ignored EOF). */
export interface ShutdownFacts {
  readonly sent: boolean;
  readonly received: boolean;
  readonly eofWithoutCloseNotify: boolean;
}

/**
 * The newest session of a connection, emitted once when the connection ended, and only if it shut down
 * cleanly: close_notify sent **and** received (the last `shutdown` fact has both, and the input did not end by
 * an ignored EOF). A connection that failed or was aborted (`shutdown$` errors), that ended before both
 * close_notify alerts crossed, or that got no session emits nothing. This is OpenSSL's rule: only a session
 * of a cleanly closed connection stays resumable.
 *
 * `sessions$` emits every session as it arrives and completes when the connection ends; `shutdown$` emits
 * the core's `shutdown` facts, completes when the connection ended without an error and errors when it failed
 * or was aborted. (A quiet shutdown reports both flags without any close_notify: do not feed this function
 * the facts of a connection closed quietly.)
 *
 * ```
 * sessions$:  --a--b-------|
 * shutdown$:  -------s--S--|     s = { sent }, S = { sent, received }
 * result:     -------------(b|)
 * ```
 *
 * @example
 * ```ts
 * resumableSession(sessions$, shutdown$).subscribe((session) => cache.set('example.com:443', session));
 * ```
 *
 * @see {@link https://docs.openssl.org/master/man3/SSL_shutdown/ | OpenSSL SSL_shutdown}
 */
export function resumableSession(sessions$: Observable<TlsSession>, shutdown$: Observable<ShutdownFacts>): Observable<TlsSession> {
  return forkJoin([sessions$.pipe(last(null, undefined)), shutdown$.pipe(last(null, undefined))]).pipe(
    filter(([session, facts]) => session !== undefined && !!facts?.sent && facts.received && !facts.eofWithoutCloseNotify),
    map(([session]) => session!),
    catchError(() => EMPTY),
  );
}
