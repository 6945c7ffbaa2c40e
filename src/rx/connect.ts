/**
 * `connect`: a TLS 1.3 client over TCP, as a cold Observable.
 */
import { nodePlatform } from '../node/platform.js';
import { keyLogFromEnvironment } from '../node/keyLogFile.js';
import { type Socket, connect as tcpConnect } from 'node:net';
import { Observable, asyncScheduler, defer, throwError } from 'rxjs';
import { TlsError } from '../core/errors.js';
import { secureDuplex } from './secure.js';
import { fromSocket } from './duplex.js';
import { functionOption, isInsecure, toClientConfig, toConnectionSettings } from './options.js';
import { callbackFailed } from './callbacks.js';
import type { ConnectOptions, TcpAddresses, TlsConnection } from './types.js';

/**
 * Opens a TCP connection to `host:port` on subscription, runs the TLS 1.3 handshake over it and emits the
 * {@link TlsConnection} once the handshake completes.
 *
 * Cold: each subscription is its own socket. Unsubscribing during the handshake aborts it (no close_notify) and
 * destroys the socket; once emitted, the connection stays usable after the subscriber leaves
 * (`await firstValueFrom(connect(opts))` works) and lives until it is closed, both directions are done, or it
 * fails — or until its last user (an active `send()`, `inbound$` or `receive()`) unsubscribes unfinished with
 * nothing else holding it (see `secure` for the rule). The Observable completes after a clean close
 * (close_notify both ways) and errors with a `TlsError`: kind `transport` when the socket fails (refused,
 * reset, unreachable), `handshakeTimeout`, `certificate`, `alertReceived`, … The name verified and sent as
 * SNI is `servername`, default `host` (an IP literal is verified against the IP SANs and not sent as SNI).
 * Options are checked when `connect` is called: bad PEM or an unknown cipher throws at once. Without a `keyLog`
 * option, `SSLKEYLOGFILE` in the environment names the key log file (see `keyLogFromEnvironment`).
 *
 * Resumption: `session`, or a `sessionCache` keyed by `servername:port` (override with `sessionKey`); the
 * cached session is taken out when offered and the connection's newest session is stored back only after a
 * clean shutdown (close_notify both ways). `earlyData` bytes go as 0-RTT when the session allows.
 *
 * ```
 * connect(opts):  ----c-------------|     c at handshakeComplete, | after close_notify both ways
 * unsubscribe:    --!                     during the handshake: socket destroyed at !
 * take(1):        ----(c|)                c stays usable: c.close(), c.shutdown() or both directions end it
 * refused:        --#                     TlsError kind 'transport'
 * signal aborts:  --#                     TlsError kind 'aborted' (socket destroyed; an emitted c is closed)
 * ```
 *
 * @example Resuming with a session cache
 * ```ts
 * const sessionCache = createSessionCache({ max: 10 });
 * const get = (path: string) =>
 *   connect({ host: 'localhost', port: 8443, ca, sessionCache }).pipe(
 *     switchMap((conn) => merge(conn.send(of(encode(`GET ${path}`))), conn.inbound$)),
 *   );
 * concat(get('/a'), get('/b')).subscribe(); // the second handshake is resumed (info.resumed)
 * ```
 *
 * @example
 * ```ts
 * connect({ host: 'localhost', port: 8443, ca: readFileSync('ca.pem', 'utf8') })
 *   .pipe(switchMap((conn) => merge(conn.send(of(encode('ping'))), conn.inbound$)))
 *   .subscribe((chunk) => console.log(decode(chunk)));
 * ```
 *
 * @example With a promise
 * ```ts
 * const conn = await firstValueFrom(connect({ host: 'localhost', port: 8443, ca }));
 * const reply = lastValueFrom(conn.inbound$.pipe(toArray()));
 * await lastValueFrom(conn.send(of(encode('ping'))), { defaultValue: undefined }); // then our close_notify
 * console.log(await reply); // complete once the server's close_notify arrived: the connection is closed
 * ```
 *
 * @see secure — the same over any byte duplex.
 * @see listen — the server side.
 */
export function connect(given: ConnectOptions): Observable<TlsConnection> {
  const options = keyLogFromEnvironment(given);
  const config = toClientConfig(options, options.host, nodePlatform);
  const scheduler = options.scheduler ?? asyncScheduler;
  const insecure = isInsecure(options);
  const settings = toConnectionSettings(options, `${config.serverName ?? options.host}:${options.port}`);
  const signal = options.signal;
  const onTcpConnect = options.onTcpConnect !== undefined ? functionOption('onTcpConnect', options.onTcpConnect) : undefined;
  return defer(() => {
    if (signal?.aborted) return throwError(() => abortedError(signal));
    // allowHalfOpen: keep writing after the peer's FIN (TLS half-close, see listen.ts).
    const socket = tcpConnect({ host: options.host, port: options.port, allowHalfOpen: true });
    socket.setNoDelay(true); // handshake flights are small and latency bound
    const secured$ = secureDuplex(fromSocket(socket), config, scheduler, insecure, settings, nodePlatform);
    const conn$ = onTcpConnect ? withTcpConnectHook(secured$, socket, onTcpConnect) : secured$;
    return signal ? abortable(conn$, signal) : conn$;
  });
}

/**
 * `conn$` that calls `hook` when `socket` connects (before the handshake can complete). When the hook throws, the
 * attempt fails: the handshake is aborted, the socket destroyed, and the result errors with `apiMisuse`
 * (`onTcpConnect threw: …`) instead of an uncaught exception from the socket's event.
 */
function withTcpConnectHook(conn$: Observable<TlsConnection>, socket: Socket, hook: (address: TcpAddresses) => void): Observable<TlsConnection> {
  return new Observable<TlsConnection>((subscriber) => {
    const inner = conn$.subscribe({
      next: (c) => subscriber.next(c),
      error: (err) => subscriber.error(err),
      complete: () => subscriber.complete(),
    });
    const onConnect = () => {
      try {
        hook({
          ...(socket.localAddress !== undefined ? { localAddress: socket.localAddress } : {}),
          ...(socket.localPort !== undefined ? { localPort: socket.localPort } : {}),
          ...(socket.remoteAddress !== undefined ? { remoteAddress: socket.remoteAddress } : {}),
          ...(socket.remotePort !== undefined ? { remotePort: socket.remotePort } : {}),
        });
      } catch (err) {
        inner.unsubscribe(); // during the handshake: aborts it and destroys the socket
        subscriber.error(callbackFailed('onTcpConnect', err));
      }
    };
    socket.once('connect', onConnect);
    return () => {
      socket.off('connect', onConnect);
      inner.unsubscribe();
    };
  });
}

/** The error of an aborted connection: kind `aborted`, naming the signal's reason when it has one. */
export function abortedError(signal: AbortSignal): TlsError {
  const why = signal.reason instanceof Error ? signal.reason.message : typeof signal.reason === 'string' ? signal.reason : undefined;
  return new TlsError({ kind: 'aborted', reason: `aborted by the AbortSignal${why && why !== 'This operation was aborted' ? `: ${why}` : ''}` });
}

/** `conn$` that errors with {@link abortedError} when `signal` aborts, closing the connection abortively. */
function abortable(conn$: Observable<TlsConnection>, signal: AbortSignal): Observable<TlsConnection> {
  return new Observable<TlsConnection>((subscriber) => {
    let conn: TlsConnection | undefined;
    const inner = conn$.subscribe({
      next: (c) => {
        conn = c;
        subscriber.next(c);
      },
      error: (err) => subscriber.error(err),
      complete: () => subscriber.complete(),
    });
    const onAbort = () => {
      conn?.close();
      inner.unsubscribe(); // during the handshake: aborts it and destroys the socket
      subscriber.error(abortedError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return () => {
      signal.removeEventListener('abort', onAbort);
      inner.unsubscribe();
    };
  });
}
