/**
 * `routeBySni`: an SNI router as a pipeable operator. The implementation lives in `src/rx/routeBySni.ts`
 * (portable; the browser condition of `rxtls/operators` gives `routeBySniOn(portablePlatform)`), the ClientHello
 * reader in `src/tls/clientHelloSniffer.ts`.
 */
import type { OperatorFunction } from 'rxjs';
import { keyLogFromEnvironment } from '../src/node/keyLogFile.js';
import { nodePlatform } from '../src/node/platform.js';
import { routeBySniOn, type SniRouteTable, type SniRouted } from '../src/rx/routeBySni.js';
import type { ByteDuplex } from '../src/rx/types.js';

// Everything but `routeBySni` itself, which is Node's here (the local declaration wins over the star).
export * from '../src/rx/routeBySni.js';

/**
 * Routes TLS connections by the server name (and optionally the ALPN) in their ClientHello, without
 * terminating them to find out (RFC 6066 §3 server_name, RFC 7301 ALPN). Each plaintext {@link ByteDuplex}
 * (a TCP connection a server accepted, `fromSocket`) is read only until its ClientHello is complete, at most
 * `maxHelloBytes` (default 16 640 B, one full record) and for at most `timeout` ms (default 10 000); then the
 * route table decides:
 *
 * - **passthrough** (a route without `terminate`): emits `{ kind: 'passthrough', route, serverName, alpn, duplex }`
 *   where `duplex` replays the untouched bytes, ClientHello included, then the rest of the stream: splice it
 *   to the backend, which completes the handshake with its own certificate;
 * - **terminate** (a route with `terminate: ServerOptions`, an `SNICallback` equivalent): runs TLS on the
 *   replaying duplex with that route's `cert`/`key` and emits `{ kind: 'terminated', …, connection }` once the
 *   handshake completed;
 * - **no route**: `defaultRoute` if given, else the fatal alert unrecognized_name (`15 03 03 00 02 02 70`,
 *   RFC 6066 §3), or no_application_protocol when a route had the name but not the client's ALPN; the
 *   connection is ended.
 *
 * Matching: exact names (case-insensitive) first, then `*.suffix` wildcards (one label), then the default;
 * among routes for the same name the first whose `alpn` the client offers. Something that is not a ClientHello
 * gets the alert a TLS server would send (unexpected_message for `GET / HTTP/1.1` or a non-handshake record,
 * decode_error for a malformed or too large hello, illegal_parameter, record_overflow) and is ended. Refused and
 * failed connections go to `onError`; the router keeps running.
 *
 * Backpressure: while sniffing, nothing past the ClientHello's records is asked for (the socket is paused once
 * it is complete, until the replaying duplex is read); the replaying duplex has the socket's own `write` /
 * `drain$` and `pause` / `resume`. Lifetime: a connection is the subscriber's once emitted; unsubscribing the
 * router destroys only connections still being sniffed or handshaking.
 *
 * ```
 * duplex$:   -a-----b------c------      a: SNI a.test, b: SNI b.test, c: 'GET / HTTP/1.1'
 *            routeBySni({ routes: [{ route: 'A', serverNames: ['a.test'] },
 *                                  { route: 'B', serverNames: ['*.test'], terminate: { cert, key } }] })
 * result:    --P--------T-------      P: passthrough to A (duplex), T: terminated on B (connection);
 *                                     c: unexpected_message alert, onError
 * ```
 *
 * @example
 * ```ts
 * const server = net.createServer({ allowHalfOpen: true });
 * fromEvent<net.Socket>(server, 'connection')
 *   .pipe(
 *     map(fromSocket),
 *     routeBySni({ routes: [{ route: '127.0.0.1:8443', serverNames: ['a.test', '*.a.test'] }], onError: console.warn }),
 *   )
 *   .subscribe((routed) => {
 *     if (routed.kind !== 'passthrough') return;
 *     const [host, port] = routed.route.split(':');
 *     const backend = fromSocket(net.connect(Number(port), host));
 *     routed.duplex.incoming$.subscribe({ next: (b) => backend.write(b), complete: () => backend.end() });
 *     backend.incoming$.subscribe({ next: (b) => routed.duplex.write(b), complete: () => routed.duplex.end() });
 *   });
 * server.listen(443);
 * ```
 *
 * @see sniffClientHello — the reading of one connection's ClientHello.
 * @see secure — TLS termination over any byte duplex.
 * @see {@link https://www.rfc-editor.org/rfc/rfc6066#section-3 | RFC 6066 §3 (server_name)}
 */
export function routeBySni(table: SniRouteTable): OperatorFunction<ByteDuplex, SniRouted> {
  const routes = table.routes.map((r) => (r.terminate ? { ...r, terminate: keyLogFromEnvironment(r.terminate) } : r));
  const fallback = table.defaultRoute?.terminate ? { ...table.defaultRoute, terminate: keyLogFromEnvironment(table.defaultRoute.terminate) } : table.defaultRoute;
  return routeBySniOn(nodePlatform)({ ...table, routes, ...(fallback ? { defaultRoute: fallback } : {}) });
}
