/**
 * `terminate`: the TLS (DTLS, QUIC stream) end of a proxy, a plaintext byte duplex out.
 */
import { EMPTY, type Observable, type OperatorFunction, catchError, map, mergeMap, of, take } from 'rxjs';
import { TlsError, misuse } from '../../core/errors.js';
import { secure } from '../../node/secure.js';
import type { DtlsConnection } from '../dtlsTypes.js';
import type { QuicStream } from '../quic.js';
import type { ByteDuplex, ServerOptions, TlsConnection } from '../types.js';
import { type EndpointOptions, toEndpoint } from './endpoint.js';
import { type PlainDuplex, plainDuplex } from './plainDuplex.js';

/** What {@link terminate} takes: a secured connection, or a transport to run a TLS server over. */
export type Terminable = TlsConnection | DtlsConnection | QuicStream | ByteDuplex;

/** Options of {@link terminate}: the TLS server's (certificate, key, ALPN, …), for raw transports. */
export interface TerminateOptions extends ServerOptions, EndpointOptions {
  /** Bytes the plaintext side's `write` queues before it answers false (default 16 KiB). */
  readonly highWaterMark?: number;
  /**
   * A raw transport whose TLS handshake failed (the transport already destroyed): reported here with it, and left
   * out of the result, which goes on with the other connections (as `listen`'s `onError`).
   */
  readonly onError?: (error: TlsError, transport: ByteDuplex) => void;
}

const isSecured = (x: Terminable): x is TlsConnection | DtlsConnection | QuicStream =>
  ('receive' in x && ('shutdownState' in x || 'stopSending' in x)) || 'maxRecordSize' in x;

/**
 * Terminate TLS: each secured connection — a `TlsConnection` (from `listen` or `secure`), a `DtlsConnection`
 * or a `QuicStream` — becomes a plaintext {@link PlainDuplex}; a raw transport (a `ByteDuplex` such as
 * `fromSocket(socket)`) is first run through a TLS server with `options` (`secure({ role: 'server' })`).
 *
 * The duplex keeps the protocol's shutdown: its `incoming$` completes at the peer's close_notify (or stream
 * FIN) and errors at a truncation or reset; `end()` sends close_notify (FIN), `destroy()` aborts (no
 * close_notify, transport destroyed; RESET_STREAM). Its `info` has the SNI (`serverName`) and ALPN. A raw
 * transport whose handshake fails is left out of the result and reported to `onError`: one hostile client never
 * ends the other connections; a failure after the handshake is the duplex's. Given to `splice` or `originate`,
 * the duplex's endpoint is joined directly, with no queue in between.
 *
 * ```
 * source:  --c------d-----|     c, d: TLS connections (or raw sockets, secured here)
 * result:  --p------q-----|     p, q: plaintext duplexes over them
 * ```
 *
 * @example
 * ```ts
 * // A TLS-terminating reverse proxy to a plain TCP backend:
 * listen({ port: 8443, cert, key }).pipe(
 *   terminate(),
 *   mergeMap((plain) => splice(plain, fromSocket(net.connect({ port: 8080, allowHalfOpen: true })))),
 * ).subscribe();
 * ```
 *
 * @see originate, splice
 */
export function terminate(options: TerminateOptions = {}): OperatorFunction<Terminable, PlainDuplex> {
  const hasIdentity = options.cert !== undefined || options.pfx !== undefined || options.psks !== undefined || options.pskCallback !== undefined;
  const server = hasIdentity ? secure({ role: 'server', ...options }) : undefined;
  return (source) =>
    source.pipe(
      mergeMap((x): Observable<PlainDuplex> => {
        if (isSecured(x)) return of(plainDuplex(toEndpoint(x, options), options.highWaterMark));
        if (!server) throw misuse('terminate(): a raw transport needs the server options (cert and key, pfx or PSKs)');
        // take(1): once handed over, the connection's later failure is the plaintext side's business (its
        // incoming$ errors, a splice aborts the other side), not an error of the whole stream of connections.
        return of(x).pipe(
          server,
          take(1),
          map((conn) => plainDuplex(toEndpoint(conn, options), options.highWaterMark)),
          catchError((err: unknown) => {
            options.onError?.(err instanceof TlsError ? err : new TlsError({ kind: 'transport', reason: String(err) }), x);
            return EMPTY;
          }),
        );
      }),
    );
}
