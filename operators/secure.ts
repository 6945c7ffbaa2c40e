/**
 * `secure`: TLS 1.3 over any byte duplex (TCP, a WebSocket, an in-memory pipe), as a pipeable operator.
 */
import { appendFileSync } from 'node:fs';
import {
  Observable,
  ReplaySubject,
  Subject,
  asyncScheduler,
  catchError,
  concat,
  isObservable,
  map,
  merge,
  mergeMap,
  of,
  startWith,
  throwError,
} from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscriber, Subscription } from 'rxjs';
import { TlsError, assertNever } from '../src/core/errors.js';
import type { Effect, HandshakeInfo, Input } from '../src/core/types.js';
import type { AeadAlg } from '../src/crypto/provider.js';
import { createConnection, handleEvents, nextTimeout, shutdownState, writeBacklog, type TlsState } from '../src/tls/connection.js';
import type { TlsConfig } from '../src/tls/config.js';
import { sessionUsable, type TlsSession } from '../src/handshake/session.js';
import { AlertDescription, AlertLevel } from '../src/wire/tls/constants.js';
import { toTransportError } from '../src/rx/duplex.js';
import { inboundQueue } from '../src/rx/inbound.js';
import {
  type ConnectionSettings,
  DEFAULT_HIGH_WATER_MARK,
  isInsecure,
  toClientConfig,
  toConnectionSettings,
  toServerConfig,
  warnInsecure,
} from '../src/rx/options.js';
import type {
  ByteDuplex,
  ClientOptions,
  OutboundSource,
  ServerOptions,
  ShutdownProgress,
  ShutdownState,
  TlsConnection,
} from '../src/rx/types.js';
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
 * Per duplex, on subscription: the core is started (a client sends its ClientHello, offering `session` or one
 * taken from `sessionCache`, then writes `earlyData`) and the handshake timer is armed on `options.scheduler`
 * (default `asyncScheduler`). The result emits the connection when the handshake completes, completes after a
 * clean close, and errors with a {@link TlsError} when the connection fails: handshake failure,
 * `handshakeTimeout`, a fatal alert, `unexpectedEof`, or a transport error (kind `transport`). On a failure
 * the transport is destroyed; after a clean close it is ended. **The connection lives while the subscription
 * lives**: unsubscribing aborts it (no close_notify, transport destroyed), so do not `take(1)` it; use
 * `switchMap`/`mergeMap`.
 *
 * Closing is OpenSSL's `SSL_shutdown` protocol (docs/closing.md): completing the `send()` source sends our
 * close_notify (our direction closed, `SSL_shutdown` → 0) while data from the peer keeps flowing; the peer's
 * close_notify completes `inbound$` (`SSL_ERROR_ZERO_RETURN`); with both, the shutdown is complete
 * (`SSL_shutdown` → 1), the transport is ended and the result completes.
 *
 * Several duplexes are secured concurrently (`mergeMap`); one failure errors the whole result. A server
 * that must survive failed handshakes secures each duplex in its own inner Observable (see `listen`).
 *
 * ```
 * duplex$:            d-----------------------
 *                     secure({ role: 'client', ca })
 * result:             ----c---------------|       c emitted at handshakeComplete; | after both close_notify
 * c.send(out$):           ------|                 out$ completes: close_notify sent (half-close)
 * c.inbound$:             --x---x----x----|       the peer still sends; | = the peer's close_notify
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
 * @see {@link https://docs.openssl.org/master/man3/SSL_shutdown/ | OpenSSL SSL_shutdown}
 */
export function secure(options: SecureRoleOptions): OperatorFunction<ByteDuplex, TlsConnection> {
  const config: TlsConfig = options.role === 'client' ? toClientConfig(options) : toServerConfig(options);
  const settings = toConnectionSettings(options, config.role === 'client' ? config.serverName : undefined);
  const scheduler = options.scheduler ?? asyncScheduler;
  const insecure = options.role === 'client' && isInsecure(options);
  return (duplex$) => duplex$.pipe(mergeMap((duplex) => secureDuplex(duplex, config, scheduler, insecure, settings)));
}

/**
 * Runs one TLS connection over `duplex` with a prepared core `config` (what {@link secure} does per duplex;
 * exposed for adapters that build the configuration once, such as `listen` and `connect`).
 * `warn` prints the verification-disabled warning on subscription; `settings` (from `toConnectionSettings`)
 * carries the RxJS-layer options: flow control, shutdown policy, key log, session cache, early data.
 *
 * ```
 * secureDuplex(d, config):  ----c------|    as secure(): c at handshakeComplete, | after a clean shutdown
 * ```
 *
 * @example
 * ```ts
 * const config = toClientConfig(options, 'localhost');
 * secureDuplex(fromSocket(socket), config, asyncScheduler, false, toConnectionSettings(options, 'localhost:443'));
 * ```
 *
 * @see secure
 */
export function secureDuplex(
  duplex: ByteDuplex,
  config: TlsConfig,
  scheduler: SchedulerLike = asyncScheduler,
  warn = false,
  settings: ConnectionSettings = {},
): Observable<TlsConnection> {
  const highWaterMark = settings.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const maxOutboundBuffer = settings.maxOutboundBuffer ?? 16 * highWaterMark;
  return new Observable<TlsConnection>((subscriber) => {
    if (warn) warnInsecure(config.role === 'client' ? config.serverName : undefined);

    // Client resumption: an explicit session, else one taken out of the cache (tickets are single use).
    const cacheKey = settings.sessionKey ?? (config.role === 'client' ? config.serverName : undefined) ?? '';
    let coreConfig = config;
    if (config.role === 'client') {
      let session = settings.session;
      if (!session && settings.sessionCache) {
        session = settings.sessionCache.get(cacheKey);
        if (session) settings.sessionCache.delete(cacheKey);
      }
      if (session && sessionUsable(session, scheduler.now())) coreConfig = { ...config, session };
    }

    let state: TlsState;
    try {
      state = createConnection(coreConfig);
    } catch (err) {
      duplex.destroy();
      subscriber.error(asTlsError(err));
      return;
    }

    const inbound = inboundQueue({
      what: 'the inbound data (inbound$ or one receive())',
      highWaterMark,
      setPaused: (paused) => {
        if (over) return;
        if (paused) duplex.pause?.();
        else duplex.resume?.();
      },
    });
    const app = new Subject<PendingInput>(); // inputs from the application: write, end, close, keyUpdate
    const sessions = new ReplaySubject<TlsSession>(16);
    const keyLogLines = new ReplaySubject<string>();
    let over = false;
    let aborting = false;
    let failure: TlsError | undefined;
    /** A reducer step is in progress: inputs fed now are queued behind it. */
    let stepping = false;
    /** The transport's last `write` returned false and `drain$` has not emitted since. */
    let writable = true;
    let closeNotifyReceived = false;
    let quietDone = false;
    let latestSession: TlsSession | undefined;
    let rejectedEarlyData: Uint8Array | undefined;

    // Output: chunks taken from the application and not yet given to the core (written only while the
    // transport is writable and the reducer idle), the closing input to feed once they are written, and the
    // active send().
    const outQueue: Uint8Array[] = [];
    let outQueued = 0;
    let closeWanted: PendingInput | undefined;
    /** The closing input went to the core (close_notify sent or the connection closed). */
    let outputClosed = false;
    let sender: Subscriber<never> | undefined;
    let stopSource: (() => void) | undefined;
    /** Pull the next chunk of an iterable source; true if it produced something synchronously. */
    let pull: (() => boolean) | undefined;
    const shutdownWatchers: Subscriber<ShutdownProgress>[] = [];
    let sentNotified = false;

    /** The connection is over: settle the transport and every stream exactly once. */
    const finish = (error?: TlsError) => {
      if (over) return;
      over = true;
      stopSource?.();
      stopSource = undefined;
      pull = undefined;
      outQueue.length = 0;
      drainSub.unsubscribe();
      const sh = shutdownState(state);
      const watchers = shutdownWatchers.splice(0);
      if (error) {
        failure = error;
        duplex.destroy();
        inbound.error(error);
        sender?.error(error);
        for (const w of watchers) w.error(error);
        sessions.complete();
        keyLogLines.complete();
        subscriber.error(error);
        return;
      }
      if (aborting) duplex.destroy();
      else duplex.end();
      // A session is resumable only after a clean shutdown: close_notify both ways (OpenSSL behaviour).
      if (!aborting && sh.sent && closeNotifyReceived && latestSession && settings.sessionCache) {
        settings.sessionCache.set(cacheKey, latestSession);
      }
      inbound.complete();
      sender?.complete();
      const complete = quietDone || (sh.sent && sh.received);
      for (const w of watchers) {
        if (complete) w.next('complete');
        w.complete();
      }
      sessions.complete();
      keyLogLines.complete();
      subscriber.complete();
    };

    const abortConnection = () => {
      if (over) return;
      aborting = true;
      app.next({ type: 'close', mode: 'abort' }); // the core's teardown (no close_notify) → `closed`
      finish(); // in case the input was queued behind a step in progress
    };

    /** Stop the active send() with an error and abort the connection (its source failed or overran). */
    const failSend = (err: unknown) => {
      const s = sender;
      sender = undefined;
      stopSource?.();
      stopSource = undefined;
      pull = undefined;
      s?.error(err);
      abortConnection();
    };

    /** Ask for a closing input; a stronger one (unidirectional, quiet) replaces a pending plain one. */
    const requestClose = (input: PendingInput) => {
      if (outputClosed) {
        // close_notify already went: only a unidirectional close still changes something (stop waiting).
        if (input.type === 'close' && input.mode !== 'shutdown') app.next(input);
        return;
      }
      closeWanted = input;
      pumpOut();
    };

    const closingInput = (): PendingInput => (settings.quietShutdown ? { type: 'close', mode: 'quiet' } : { type: 'end' });

    /**
     * Move output into the core: queued chunks while the transport is writable, then the closing input once
     * the queue is empty, then more chunks from an iterable source. Never inside a reducer step (the
     * transport's backpressure answer to the previous write would not be known yet).
     */
    let pumping = false;
    const pumpOut = () => {
      if (pumping || over) return;
      pumping = true;
      try {
        while (!stepping && !over) {
          // The core holds at most one seal batch's worth of unsealed data (asyncCrypto): a full backlog is
          // backpressure like an unwritable transport; the batch's completion pumps again (onIdle).
          const backlogged = writeBacklog(state).full;
          if (outQueue.length > 0) {
            if (!writable || backlogged) break;
            const data = outQueue.shift()!;
            outQueued -= data.length;
            app.next({ type: 'write', data });
            continue;
          }
          if (closeWanted && !outputClosed) {
            const input = closeWanted;
            closeWanted = undefined;
            outputClosed = true;
            if (input.type === 'close' && input.mode === 'quiet') quietDone = true;
            app.next(input);
            continue;
          }
          if (pull && writable && !backlogged && pull()) continue;
          break;
        }
      } finally {
        pumping = false;
      }
    };

    const drainSub = duplex.drain$.subscribe(() => {
      if (over) return;
      writable = true;
      app.next({ type: 'writable' });
      pumpOut();
    });

    const takeChunk = (value: unknown): Uint8Array | undefined => {
      if (value instanceof Uint8Array) return value;
      failSend(misuse(`send(): the source emitted ${describe(value)}, not a Uint8Array`));
      return undefined;
    };

    /** Subscribe or iterate the application's source (called when `send()` is subscribed). */
    const startSource = (source: OutboundSource) => {
      const onEnd = () => {
        stopSource = undefined;
        pull = undefined;
        requestClose(closingInput()); // → close_notify; the send() completes on its alertSent
      };
      if (isObservable(source)) {
        const sub: Subscription = source.subscribe({
          next: (value) => {
            const data = takeChunk(value);
            if (!data || over) return;
            outQueue.push(data);
            outQueued += data.length;
            pumpOut();
            if (outQueued > maxOutboundBuffer) {
              failSend(
                misuse(
                  `send(): the outbound source ignores backpressure (${outQueued} bytes queued, more than maxOutboundBuffer ${maxOutboundBuffer}); use an iterable/async iterable or throttle`,
                ),
              );
            }
          },
          error: (err) => failSend(err),
          complete: onEnd,
        });
        stopSource = () => sub.unsubscribe();
        return;
      }
      if (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
        const it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
        let waiting = false;
        let stopped = false;
        stopSource = () => {
          stopped = true;
          void it.return?.()?.catch(() => undefined);
        };
        pull = () => {
          if (waiting) return false;
          waiting = true;
          it.next().then(
            (r) => {
              waiting = false;
              if (stopped || over) return;
              if (r.done) return onEnd();
              const data = takeChunk(r.value);
              if (!data) return;
              outQueue.push(data);
              outQueued += data.length;
              pumpOut();
            },
            (err: unknown) => {
              waiting = false;
              if (!stopped) failSend(err);
            },
          );
          return false;
        };
        pumpOut();
        return;
      }
      if (typeof (source as Iterable<Uint8Array>)[Symbol.iterator] === 'function' && !ArrayBuffer.isView(source)) {
        const it = (source as Iterable<Uint8Array>)[Symbol.iterator]();
        stopSource = () => {
          try {
            it.return?.();
          } catch {
            // the iterator's cleanup failing does not matter any more
          }
        };
        pull = () => {
          let r: IteratorResult<Uint8Array>;
          try {
            r = it.next();
          } catch (err) {
            failSend(err);
            return false;
          }
          if (r.done) {
            onEnd();
            return true;
          }
          const data = takeChunk(r.value);
          if (!data) return false;
          outQueue.push(data);
          outQueued += data.length;
          return true;
        };
        pumpOut();
        return;
      }
      failSend(misuse('send(): expected an Observable, an Iterable or an AsyncIterable of Uint8Array'));
    };

    const send = (source: OutboundSource) =>
      new Observable<never>((s) => {
        if (failure) return s.error(failure);
        if (over || outputClosed || closeWanted) return s.error(misuse('send(): the output of this connection is already closed'));
        if (sender) return s.error(misuse('send(): another send() is still active'));
        sender = s;
        // Started only now, after the handshake: nothing is written before the connection is up.
        startSource(source);
        return () => {
          if (sender !== s) return;
          sender = undefined;
          // Unsubscribed before its close: stop writing without close_notify; queued chunks are dropped.
          if (!outputClosed && !closeWanted) {
            stopSource?.();
            stopSource = undefined;
            pull = undefined;
            outQueue.length = 0;
            outQueued = 0;
          }
        };
      });

    const shutdown = (options: { readonly unidirectional?: boolean } = {}) =>
      new Observable<ShutdownProgress>((w) => {
        if (failure) {
          return w.error(misuse(`shutdown(): the connection already failed (${failure.message}); nothing is sent`));
        }
        if (over) {
          if (aborting) return w.error(misuse('shutdown(): the connection was closed abortively'));
          const sh = shutdownState(state);
          if (sh.sent && !quietDone) w.next('sent');
          if (quietDone || (sh.sent && sh.received)) w.next('complete');
          return w.complete();
        }
        shutdownWatchers.push(w);
        if (outputClosed && shutdownState(state).sent) w.next('sent');
        // The active send() stops taking chunks; what it queued is written before close_notify.
        stopSource?.();
        stopSource = undefined;
        pull = undefined;
        requestClose(
          settings.quietShutdown
            ? { type: 'close', mode: 'quiet' }
            : { type: 'close', mode: options.unidirectional ? 'unidirectional' : 'shutdown' },
        );
        return () => {
          const i = shutdownWatchers.indexOf(w);
          if (i >= 0) shutdownWatchers.splice(i, 1);
        };
      });

    const keyUpdate = (requestPeer = false) => {
      if (over) throw misuse('keyUpdate(): the connection is closed');
      if (outputClosed || shutdownState(state).sent) throw misuse('keyUpdate(): close_notify was already sent');
      app.next({ type: 'keyUpdate', requestPeer });
    };

    const connection = (info: HandshakeInfo): TlsConnection => ({
      info,
      inbound$: inbound.observable,
      receive: (project) => inbound.receive(project),
      send,
      shutdown,
      shutdownState: (): ShutdownState => {
        if (quietDone) return { sent: true, received: true }; // SSL_set_shutdown(SENT|RECEIVED), as OpenSSL
        const sh = shutdownState(state);
        return { sent: sh.sent, received: sh.received };
      },
      keyUpdate,
      sessions$: sessions.asObservable(),
      keyLog$: keyLogLines.asObservable(),
      get rejectedEarlyData() {
        return rejectedEarlyData;
      },
      close: abortConnection,
    });

    /**
     * Run one `crypto` effect on the provider's batch cipher and feed its `cryptoDone`. The core has at most
     * one batch per direction in flight and matches results by job id, so a seal batch and an open batch run
     * concurrently and may complete in either order; a result arriving after the connection ended is dropped.
     */
    const runCryptoJob = (e: Extract<Effect, { type: 'crypto' }>) => {
      const batch = config.provider?.batch;
      if (!batch) {
        finish(asTlsError(new Error('a crypto job was requested but the provider has no batch cipher')));
        return;
      }
      const alg = e.alg as AeadAlg;
      let result: ReturnType<typeof batch.openBatch>;
      try {
        result = e.op === 'seal' ? batch.sealBatch(alg, e.key, e.jobs) : batch.openBatch(alg, e.key, e.jobs);
      } catch (err) {
        finish(asTlsError(err));
        return;
      }
      Promise.resolve(result).then(
        (results) => {
          if (!over) app.next({ type: 'cryptoDone', jobId: e.jobId, results });
        },
        (err: unknown) => finish(asTlsError(err)),
      );
    };

    const logKey = (e: Extract<Effect, { type: 'keyLog' }>) => {
      const line = `${e.label} ${hex(e.clientRandom)} ${hex(e.secret)}`;
      keyLogLines.next(line);
      const sink = settings.keyLog;
      if (typeof sink === 'function') sink(line);
      else if (typeof sink === 'string') appendFileSync(sink, `${line}\n`, { mode: 0o600 });
    };

    const onEffect = (e: Effect) => {
      switch (e.type) {
        case 'transmit':
          writable = duplex.write(e.data);
          return;
        case 'deliver':
          inbound.next(e.data);
          return;
        case 'handshakeComplete':
          subscriber.next(connection(e.info));
          return;
        case 'peerClosed':
          inbound.complete();
          if (settings.closeOnPeerClose && !outputClosed) {
            // Answer with our close_notify now; the send() stops taking chunks (queued ones go first).
            stopSource?.();
            stopSource = undefined;
            pull = undefined;
            requestClose({ type: 'close', mode: 'shutdown' });
          }
          return;
        case 'alertSent':
          // Our close_notify is on the wire (transmit effects come first): the send() is done.
          if (e.level === AlertLevel.warning && e.description === AlertDescription.close_notify) {
            outputClosed = true;
            const s = sender;
            sender = undefined;
            s?.complete();
            if (!sentNotified) {
              sentNotified = true;
              for (const w of shutdownWatchers) w.next('sent');
            }
          }
          return;
        case 'alertReceived':
          if (e.description === AlertDescription.close_notify) closeNotifyReceived = true;
          return;
        case 'closed':
          finish(e.error);
          return;
        case 'crypto':
          runCryptoJob(e);
          return;
        case 'keyLog':
          logKey(e);
          return;
        case 'session':
          latestSession = e.session;
          sessions.next(e.session);
          return;
        case 'earlyData':
          if (!e.accepted && e.rejected && e.rejected.length > 0) rejectedEarlyData = e.rejected;
          return;
        case 'cryptoData':
          // Only a connection in QUIC mode emits these, and secure() never configures one.
          throw new Error('secure(): a QUIC-mode connection has no TLS records to carry');
        default:
          assertNever(e);
      }
    };

    // An EOF that arrives while an open batch is in flight is held by the core itself until the records before
    // it (a close_notify among them) are opened, so it goes in at once.
    const transport$ = concat(
      duplex.incoming$.pipe(map((data): PendingInput => ({ type: 'received', data }))),
      of<PendingInput>({ type: 'eof' }),
    ).pipe(catchError((err: unknown) => throwError(() => toTransportError(err))));
    const handle = (s: TlsState, input: Input) => {
      stepping = true;
      const step = handleEvents(s, input);
      state = step.state;
      return step;
    };
    const onIdle = () => {
      stepping = false;
      pumpOut();
    };
    // `app` first: the transport may replay buffered bytes synchronously on subscription (and complete the
    // handshake), and what the application writes in reaction must find the reducer already listening.
    // 0-RTT: the early bytes follow the ClientHello at once, before any answer from the peer is read (as early
    // data if the offered session allows them, else queued by the core until the handshake completes).
    const first: PendingInput[] = [{ type: 'start' }];
    if (config.role === 'client' && settings.earlyData && settings.earlyData.length > 0) {
      first.push({ type: 'write', data: settings.earlyData });
    }
    const run = merge(app, transport$)
      .pipe(
        startWith<PendingInput>(...first),
        runReducer({ handle, nextTimeout, initial: state, scheduler, onIdle }),
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

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'an object') : typeof value;
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function asTlsError(err: unknown): TlsError {
  if (err instanceof TlsError) return err;
  return new TlsError({
    kind: 'internal',
    alert: AlertDescription.internal_error,
    reason: `internal error: ${err instanceof Error ? err.message : String(err)}`,
  });
}
