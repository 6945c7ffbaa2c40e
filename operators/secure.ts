/**
 * `secure`: TLS 1.3 over any byte duplex (TCP, a WebSocket, an in-memory pipe), as a pipeable operator.
 */
import { Observable, Subject, asyncScheduler, catchError, endWith, map, merge, mergeMap, startWith, throwError } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscriber, Subscription } from 'rxjs';
import { TlsError, assertNever } from '../src/core/errors.js';
import type { Effect, HandshakeInfo } from '../src/core/types.js';
import type { AeadAlg } from '../src/crypto/provider.js';
import { createConnection, handleEvents, nextTimeout } from '../src/tls/connection.js';
import type { TlsConfig } from '../src/tls/config.js';
import { AlertDescription, AlertLevel } from '../src/wire/tls/constants.js';
import { bufferedChannel, toTransportError } from '../src/rx/duplex.js';
import { isInsecure, toClientConfig, toServerConfig, warnInsecure } from '../src/rx/options.js';
import type { ByteDuplex, ClientOptions, ServerOptions, TlsConnection } from '../src/rx/types.js';
import { runReducer, type PendingInput } from './runReducer.js';

/** Options of {@link secure}: the role, then node:tls-style client or server options. */
export type SecureRoleOptions = ({ readonly role: 'client' } & ClientOptions) | ({ readonly role: 'server' } & ServerOptions);

/**
 * Secures byte duplexes with TLS 1.3: every {@link ByteDuplex} from the source is run through the sans-IO
 * core and yields one {@link TlsConnection} once its handshake completes.
 *
 * One operator for both roles (`role: 'client' | 'server'`), because the two differ only in their options;
 * the options are checked and PEM is loaded once, when `secure()` is called (API misuse throws at once).
 *
 * Per duplex, on subscription: the core is started (a client sends its ClientHello) and the handshake timer
 * is armed on `options.scheduler` (default `asyncScheduler`). The result emits the connection when the
 * handshake completes, completes after a clean close (close_notify both ways, or `close()`), and errors with
 * a {@link TlsError} when the connection fails: handshake failure, `handshakeTimeout`, a fatal alert,
 * `unexpectedEof`, or a transport error (kind `transport`). On a failure the transport is destroyed; after a
 * clean close it is ended. **The connection lives while the subscription lives**: unsubscribing aborts it
 * (no close_notify, transport destroyed), so do not `take(1)` it; use `switchMap`/`mergeMap`.
 *
 * Several duplexes are secured concurrently (`mergeMap`); one failure errors the whole result. A server
 * that must survive failed handshakes secures each duplex in its own inner Observable (see `listen`).
 *
 * ```
 * duplex$:            d-----------------------
 *                     secure({ role: 'client', ca })
 * result:             ----c-------------------|   c emitted at handshakeComplete; | after both close_notify
 * c.inbound$:             --x---x------|          | = the peer's close_notify
 * c.send(out$):           subscribes out$; its completion sends close_notify, then the send completes
 * ```
 *
 * @example
 * ```ts
 * of(fromSocket(net.connect(443, 'example.com')))
 *   .pipe(
 *     secure({ role: 'client', servername: 'example.com', ALPNProtocols: ['http/1.1'] }),
 *     switchMap((conn) => merge(conn.send(of(request)), conn.inbound$)),
 *   )
 *   .subscribe((chunk) => process.stdout.write(chunk));
 * ```
 *
 * @see runReducer — the reducer loop underneath.
 * @see {@link https://www.rfc-editor.org/rfc/rfc8446 | RFC 8446 (TLS 1.3)}
 */
export function secure(options: SecureRoleOptions): OperatorFunction<ByteDuplex, TlsConnection> {
  const config: TlsConfig = options.role === 'client' ? toClientConfig(options) : toServerConfig(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  const insecure = options.role === 'client' && isInsecure(options);
  return (duplex$) => duplex$.pipe(mergeMap((duplex) => secureDuplex(duplex, config, scheduler, insecure)));
}

/**
 * Runs one TLS connection over `duplex` with a prepared core `config` (what {@link secure} does per duplex;
 * exposed for adapters that build the configuration once, such as `listen` and `connect`).
 * `warnInsecure` prints the verification-disabled warning on subscription.
 */
export function secureDuplex(
  duplex: ByteDuplex,
  config: TlsConfig,
  scheduler: SchedulerLike = asyncScheduler,
  warn = false,
): Observable<TlsConnection> {
  return new Observable<TlsConnection>((subscriber) => {
    if (warn) warnInsecure(config.role === 'client' ? config.serverName : undefined);
    let initial;
    try {
      initial = createConnection(config);
    } catch (err) {
      duplex.destroy();
      subscriber.error(asTlsError(err));
      return;
    }

    const inbound = bufferedChannel<Uint8Array>('inbound$');
    const app = new Subject<PendingInput>(); // inputs from the application: write, end, close
    let over = false;
    let aborting = false;
    let failure: TlsError | undefined;
    let sender: Subscriber<never> | undefined;
    let outbound: Subscription | undefined;
    let ended = false;
    let cryptoQueue: Promise<unknown> = Promise.resolve();

    /** The connection is over: settle the transport and every stream exactly once. */
    const finish = (error?: TlsError) => {
      if (over) return;
      over = true;
      outbound?.unsubscribe();
      if (error) {
        failure = error;
        duplex.destroy();
        inbound.error(error);
        sender?.error(error);
        subscriber.error(error);
      } else {
        if (aborting) duplex.destroy();
        else duplex.end();
        inbound.complete();
        sender?.complete();
        subscriber.complete();
      }
    };

    const abortConnection = () => {
      if (over) return;
      aborting = true;
      app.next({ type: 'close', mode: 'abort' }); // the core's teardown (no close_notify) → `closed`
      finish(); // in case the input was queued behind a step in progress
    };

    const connection = (info: HandshakeInfo): TlsConnection => ({
      info,
      inbound$: inbound.observable,
      send: (outbound$) =>
        new Observable<never>((s) => {
          if (failure) return s.error(failure);
          if (over || ended) return s.error(misuse('send(): the output of this connection is already closed'));
          if (sender) return s.error(misuse('send(): another send() is still active'));
          sender = s;
          // Subscribed only now, after the handshake: nothing is written before the connection is up.
          outbound = outbound$.subscribe({
            next: (data) => app.next({ type: 'write', data }),
            error: (err) => {
              sender = undefined;
              s.error(err);
              abortConnection();
            },
            complete: () => {
              ended = true;
              app.next({ type: 'end' }); // → close_notify; the send completes on its alertSent
            },
          });
          return () => {
            if (sender === s) sender = undefined;
            if (!ended) outbound?.unsubscribe();
          };
        }),
      close: abortConnection,
    });

    const runCryptoJob = (e: Extract<Effect, { type: 'crypto' }>) => {
      const batch = config.provider?.batch;
      if (!batch) {
        finish(asTlsError(new Error('a crypto job was requested but the provider has no batch cipher')));
        return;
      }
      const alg = e.alg as AeadAlg;
      // Results go back in job order, whether the provider answers synchronously or with a Promise.
      cryptoQueue = cryptoQueue
        .then(() => (e.op === 'seal' ? batch.sealBatch(alg, e.key, e.jobs) : batch.openBatch(alg, e.key, e.jobs)))
        .then(
          (results) => app.next({ type: 'cryptoDone', jobId: e.jobId, results }),
          (err) => finish(asTlsError(err)),
        );
    };

    const onEffect = (e: Effect) => {
      switch (e.type) {
        case 'transmit':
          duplex.write(e.data);
          return;
        case 'deliver':
          inbound.next(e.data);
          return;
        case 'handshakeComplete':
          subscriber.next(connection(e.info));
          return;
        case 'peerClosed':
          inbound.complete();
          return;
        case 'alertSent':
          // Our close_notify is on the wire (transmit effects come first): the send() is done.
          if (e.level === AlertLevel.warning && e.description === AlertDescription.close_notify) {
            const s = sender;
            sender = undefined;
            s?.complete();
          }
          return;
        case 'closed':
          finish(e.error);
          return;
        case 'crypto':
          runCryptoJob(e);
          return;
        case 'alertReceived':
        case 'keyLog':
        case 'session':
        case 'earlyData':
          return;
        default:
          assertNever(e);
      }
    };

    const transport$ = duplex.incoming$.pipe(
      map((data): PendingInput => ({ type: 'received', data })),
      endWith<PendingInput>({ type: 'eof' }),
      catchError((err: unknown) => throwError(() => toTransportError(err))),
    );
    const run = merge(transport$, app)
      .pipe(
        startWith<PendingInput>({ type: 'start' }),
        runReducer({ handle: handleEvents, nextTimeout, initial, scheduler }),
      )
      .subscribe({
        next: onEffect,
        error: (err: unknown) => finish(asTlsError(err)),
        complete: () => finish(), // after `closed`, already settled
      });

    return () => {
      // Unsubscribing aborts: no close_notify, the transport is destroyed.
      abortConnection();
      run.unsubscribe();
    };
  });
}

function misuse(reason: string): TlsError {
  return new TlsError({ kind: 'apiMisuse', reason });
}

function asTlsError(err: unknown): TlsError {
  if (err instanceof TlsError) return err;
  return new TlsError({
    kind: 'internal',
    alert: AlertDescription.internal_error,
    reason: `internal error: ${err instanceof Error ? err.message : String(err)}`,
  });
}
