/**
 * `originate`: the client end of a proxy: a plaintext byte duplex in, a TLS (or QUIC) client connection made
 * and spliced to it.
 */
import { type Observable, type OperatorFunction, catchError, defer, finalize, map, mergeMap, of, take } from 'rxjs';
import { TlsError, misuse } from '../../core/errors.js';
import { secure } from '../../node/secure.js';
import { connect } from '../connect.js';
import { type QuicConnectOptions, quicConnect } from '../quic.js';
import type { ByteDuplex, ClientOptions, ConnectionInfo, TlsConnection } from '../types.js';
import { type Spliceable, toEndpoint } from './endpoint.js';
import { type SpliceOptions, type SpliceReport, splice } from './splice.js';

/** Options of {@link originate}: where to connect and the TLS client's options. */
export interface OriginateOptions extends ClientOptions, SpliceOptions {
  /** The backend's host and port (TCP, or UDP with `quic`). */
  readonly host?: string;
  readonly port?: number;
  /**
   * Instead of TCP to `host:port`: the transport to run the TLS client over, one per connection (a memory
   * pipe in tests, a socket you opened).
   */
  readonly transport?: () => ByteDuplex;
  /** Originate QUIC instead of TLS: one bidirectional stream per plaintext duplex, these QUIC options (ALPN). */
  readonly quic?: Omit<QuicConnectOptions, 'host' | 'port'>;
}

/** What {@link originate} emits per plaintext duplex: the splice's report and what the backend negotiated. */
export interface OriginateReport extends SpliceReport {
  /** The backend connection's handshake (absent when it failed). */
  readonly backend?: ConnectionInfo;
}

/**
 * Originate TLS: for each plaintext duplex (a `terminate`d connection, `fromSocket(socket)`, …) a TLS client
 * connection is made — `connect` to `host:port`, `secure` over `transport()`, or a QUIC stream of a
 * `quicConnect` with `quic` — and {@link splice}d to it, with credit and shutdown carried across. Emits one
 * {@link OriginateReport} per duplex when both directions are over; a backend that cannot be reached (or whose
 * handshake fails) aborts the duplex and is reported as its `b` side's error.
 *
 * ```
 * source:  --p-------q---------|     plaintext duplexes
 * result:  ------r--------s----|     r, s: reports once each splice is over
 * ```
 *
 * @example
 * ```ts
 * // A TLS-terminating, TLS-originating proxy:
 * listen({ port: 8443, cert, key }).pipe(
 *   terminate(),
 *   originate({ host: 'backend.internal', port: 443, ca }),
 * ).subscribe((r) => console.log(r.aToB, r.bToA, r.a.kind, r.b.kind));
 * ```
 *
 * @see terminate, splice
 */
export function originate(options: OriginateOptions): OperatorFunction<Spliceable, OriginateReport> {
  const { transport, quic, host, port } = options;
  if (!transport && (host === undefined || port === undefined)) throw misuse('originate(): give host and port, or transport');
  const client = transport ? secure({ role: 'client', ...options }) : undefined;
  const backend = (): Observable<{ readonly end: Spliceable; readonly info: ConnectionInfo; readonly done: () => void }> => {
    if (quic) {
      return quicConnect({ ...quic, host: host!, port: port! }).pipe(
        take(1),
        map((conn) => ({ end: conn.openStream(), info: conn.info, done: () => conn.close() })),
      );
    }
    const conn$: Observable<TlsConnection> = client ? defer(() => of(transport!())).pipe(client) : connect({ ...options, host: host!, port: port! });
    return conn$.pipe(map((conn) => ({ end: conn, info: conn.info, done: () => undefined })));
  };
  return (source) =>
    source.pipe(
      mergeMap((plain) => {
        // Until the splice owns both hops, the client hop is ours: aborted if the backend never comes, and if
        // the result is unsubscribed while the backend is being dialled (else nobody would ever close it).
        let owned = true;
        const abortClient = () => {
          if (!owned) return;
          owned = false;
          toEndpoint(plain, options).abort(); // the client is aborted, not ended
        };
        return backend().pipe(
          take(1),
          mergeMap((b) => {
            owned = false;
            return splice(plain, b.end, options).pipe(map((r): OriginateReport => ({ ...r, backend: b.info })), finalize(b.done));
          }),
          catchError((err: unknown) => {
            abortClient();
            const error = err instanceof TlsError ? err : new TlsError({ kind: 'transport', reason: String(err) });
            return of<OriginateReport>({ aToB: 0, bToA: 0, a: { kind: 'aborted' }, b: { kind: 'error', error } });
          }),
          finalize(abortClient),
        );
      }),
    );
}

