/**
 * `listen`: a TLS 1.3 server over TCP, as an Observable of connections.
 */
import { nodePlatform } from '../node/platform.js';
import { keyLogFromEnvironment } from '../node/keyLogFile.js';
import { createServer, type AddressInfo } from 'node:net';
import { Observable, Subscription, asyncScheduler } from 'rxjs';
import { secureDuplex } from './secure.js';
import { fromSocket, toTransportError } from './duplex.js';
import { functionOption, toConnectionSettings, toServerConfig } from './options.js';
import { callbackFailed, contained } from './callbacks.js';
import type { ListenOptions, TlsConnection } from './types.js';

/**
 * A TCP server on `host:port` (default host `127.0.0.1`) that listens while subscribed and emits one
 * {@link TlsConnection} per completed handshake.
 *
 * - The bound address (the real port when `port` is 0) is passed to `onListening` once the server is bound.
 * - A connection that fails (handshake failure or timeout, transport error, later fatal alert or truncation) is
 *   reported to `onError` with its `TlsError` and the remote address; the server keeps running (also when
 *   `onError` throws: that exception is reported once with `console.warn`).
 * - When `onListening` throws, the server closes and the result errors with a `TlsError` (`apiMisuse`,
 *   `onListening threw: …`).
 * - The result errors (kind `transport`) only when the server itself fails, e.g. `EADDRINUSE`.
 * - Every connection lives while the subscription lives: unsubscribing closes the server and aborts every
 *   open connection (no close_notify, sockets destroyed). `conn.close()` aborts one connection.
 *
 * Options are checked when `listen` is called (`cert` and `key` are required): bad PEM, an empty chain or a key
 * that does not match the first certificate (`checkServerIdentity`) throws a `TlsError` (`apiMisuse`) at once,
 * before any socket exists.
 * Without a `keyLog` option, `SSLKEYLOGFILE` in the environment names the key log file (`keyLogFromEnvironment`).
 * Session tickets are issued by default (a per-process random ticket key unless `ticketKey`/`ticketer` is
 * given); 0-RTT is accepted up to `maxEarlyData` bytes (default 0) and arrives on `inbound$` first.
 *
 * ```
 * listen(opts):   -a----b--c---        one value per handshake; failed ones go to onError
 * unsubscribe:    -a----b--c--!        server closed, a b c aborted
 * signal aborts:  -a----b--c--|        the same, and the result completes
 * ```
 *
 * @example
 * ```ts
 * listen({ port: 0, cert, key, onListening: ({ port }) => console.log('port', port), onError: console.warn })
 *   .pipe(mergeMap((conn) => conn.send(conn.inbound$))) // echo
 *   .subscribe();
 * ```
 *
 * @see connect — the client side.
 * @see secure — TLS over any byte duplex.
 */
export function listen(given: ListenOptions): Observable<TlsConnection> {
  const options = keyLogFromEnvironment(given);
  const config = toServerConfig(options, nodePlatform);
  const settings = toConnectionSettings(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  const signal = options.signal;
  const onListening = options.onListening !== undefined ? functionOption('onListening', options.onListening) : undefined;
  // A throwing onError is contained (reported once with console.warn): the server keeps running.
  const onError = options.onError !== undefined ? contained('listen onError', functionOption('onError', options.onError)) : undefined;
  return new Observable<TlsConnection>((subscriber) => {
    if (signal?.aborted) return subscriber.complete();
    // allowHalfOpen: the peer's FIN (often right after its close_notify) must not close our write side —
    // TLS half-close lets us keep sending until our own close_notify.
    const server = createServer({ allowHalfOpen: true });
    const connections = new Subscription();
    server.on('connection', (socket) => {
      socket.setNoDelay(true);
      const remote = {
        ...(socket.remoteAddress !== undefined ? { address: socket.remoteAddress } : {}),
        ...(socket.remotePort !== undefined ? { port: socket.remotePort } : {}),
      };
      const one = new Subscription();
      connections.add(one);
      one.add(() => connections.remove(one));
      // Unsubscribing aborts a connection only during its handshake: once handed over it is closed explicitly
      // (a no-op when it already ended).
      let handedOver: TlsConnection | undefined;
      one.add(() => handedOver?.close());
      one.add(
        secureDuplex(fromSocket(socket), config, scheduler, false, settings, nodePlatform).subscribe({
          next: (conn) => {
            handedOver = conn;
            subscriber.next(conn);
          },
          error: (err: unknown) => {
            one.unsubscribe();
            onError?.(toTransportError(err), remote);
          },
          complete: () => one.unsubscribe(),
        }),
      );
    });
    server.on('error', (err) => subscriber.error(toTransportError(err)));
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      if (!onListening) return;
      try {
        onListening(server.address() as AddressInfo);
      } catch (err) {
        // The application's setup failed: the server closes and the result errors (never an uncaught exception).
        subscriber.error(callbackFailed('onListening', err));
      }
    });
    const onAbort = () => {
      connections.unsubscribe();
      server.close();
      subscriber.complete();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    return () => {
      signal?.removeEventListener('abort', onAbort);
      connections.unsubscribe();
      server.close();
    };
  });
}
