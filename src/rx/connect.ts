/**
 * `connect`: a TLS 1.3 client over TCP, as a cold Observable.
 */
import { connect as tcpConnect } from 'node:net';
import { Observable, asyncScheduler, defer } from 'rxjs';
import { secureDuplex } from '../../operators/secure.js';
import { fromSocket } from './duplex.js';
import { isInsecure, toClientConfig, toConnectionSettings } from './options.js';
import type { ConnectOptions, TlsConnection } from './types.js';

/**
 * Opens a TCP connection to `host:port` on subscription, runs the TLS 1.3 handshake over it and emits the
 * {@link TlsConnection} once the handshake completes.
 *
 * Cold: each subscription is its own socket. The connection lives while the subscription lives; unsubscribing
 * aborts it (no close_notify) and destroys the socket. The Observable completes after a clean close
 * (close_notify both ways) and errors with a `TlsError`: kind `transport` when the socket fails (refused,
 * reset, unreachable), `handshakeTimeout`, `certificate`, `alertReceived`, … The name verified and sent as
 * SNI is `servername`, default `host` (an IP literal is verified against the IP SANs and not sent as SNI).
 * Options are checked when `connect` is called: bad PEM or an unknown cipher throws at once.
 *
 * Resumption: `session`, or a `sessionCache` keyed by `servername:port` (override with `sessionKey`); the
 * cached session is taken out when offered and the connection's newest session is stored back only after a
 * clean shutdown (close_notify both ways). `earlyData` bytes go as 0-RTT when the session allows.
 *
 * ```
 * connect(opts):  ----c-------------|     c at handshakeComplete, | after close_notify both ways
 * unsubscribe:    ----c-----!             socket destroyed at !
 * refused:        --#                     TlsError kind 'transport'
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
 * @see secure — the same over any byte duplex.
 * @see listen — the server side.
 */
export function connect(options: ConnectOptions): Observable<TlsConnection> {
  const config = toClientConfig(options, options.host);
  const scheduler = options.scheduler ?? asyncScheduler;
  const insecure = isInsecure(options);
  const settings = toConnectionSettings(options, `${config.serverName ?? options.host}:${options.port}`);
  return defer(() => {
    // allowHalfOpen: keep writing after the peer's FIN (TLS half-close, see listen.ts).
    const socket = tcpConnect({ host: options.host, port: options.port, allowHalfOpen: true });
    socket.setNoDelay(true); // handshake flights are small and latency bound
    return secureDuplex(fromSocket(socket), config, scheduler, insecure, settings);
  });
}
