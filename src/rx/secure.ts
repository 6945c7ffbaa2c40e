/**
 * `secure`: TLS 1.3 over any byte duplex (TCP, a WebSocket, an in-memory pipe), as a pipeable operator, and
 * `secureDuplex`, the adapter between one duplex and the sans-IO TLS core.
 */
import { Observable, ReplaySubject, Subject, asyncScheduler, catchError, concat, isObservable, map, merge, mergeMap, of, startWith, throwError } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscriber, Subscription } from 'rxjs';
import { TlsError, asTlsError, assertNever, misuse } from '../core/errors.js';
import { keyLogLine } from '../handshake/events.js';
import type { HandshakeInfo } from '../core/types.js';
import type { TlsEffect } from '../tls/types.js';
import type { AeadAlg, BatchOptions } from '../crypto/provider.js';
import { portablePlatform, type Platform } from './platform.js';
import { createConnection, handleEvents, nextTimeout, type TlsState } from '../tls/connection.js';
import type { TlsConfig } from '../tls/config.js';
import type { TlsSession } from '../handshake/session.js';
import { AlertDescription, AlertLevel, alertName, handshakeTypeName } from '../wire/tls/constants.js';
import { toTransportError } from './duplex.js';
import { inboundQueue } from './inbound.js';
import {
  type ConnectionSettings,
  DEFAULT_HIGH_WATER_MARK,
  isInsecure,
  toClientConfig,
  toConnectionSettings,
  toServerConfig,
  warnInsecure,
} from './options.js';
import { outboundPull, type OutboundPull } from './outboundPull.js';
import { resumableSession, type ShutdownFacts, sessionToOffer, storeSession } from './resumableSession.js';
import { contained } from './callbacks.js';
import { shown } from '../core/validate.js';
import { runReducer, type PendingInput } from './runReducer.js';
import { connectionInfo } from './connectionInfo.js';
import { exportKeyingMaterial } from '../handshake/exporter.js';
import type {
  ByteDuplex,
  ClientOptions,
  OutboundSource,
  ServerOptions,
  ShutdownProgress,
  ShutdownState,
  TlsConnection,
} from './types.js';

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
 * the transport is destroyed; after a clean close it is ended.
 *
 * **Lifetime** (the same rule as `quicConnect`): unsubscribing before the connection was emitted (during the
 * handshake) aborts it. Once emitted, the connection is the application's: it stays usable after the
 * subscriber leaves (`firstValueFrom`, `take(1)` work) and ends when it is closed (`close()`, `shutdown()`),
 * when both directions are done (the `send()` source completed and the peer's close_notify arrived), or when
 * it fails. So that a connection nobody uses any more is not leaked, it is aborted when its last holder lets go
 * and one of them let go unfinished: the holders are the subscriber of this Observable and every active
 * `send()`, `inbound$` and `receive()` subscription, and "unfinished" means unsubscribed before it completed
 * (`switchMap((conn) => conn.send(out$))` unsubscribed mid-transfer aborts, as before).
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
  return secureOn(portablePlatform)(options);
}

/**
 * {@link secure} on a given platform: where trust anchors come from when `ca` is absent, and how a `keyLog`
 * file path is written. The portable `secure` (`rxtls/browser`) has neither; Node's (`rxtls`,
 * `rxtls/operators`) is `secureOn(nodePlatform)`, with node:tls system roots and key-log files.
 *
 * @example
 * ```ts
 * const secureHere = secureOn({ systemRoots: () => myRoots });
 * of(duplex).pipe(secureHere({ role: 'client', servername: 'example.com' }));
 * ```
 */
export function secureOn(platform: Platform): (options: SecureRoleOptions) => OperatorFunction<ByteDuplex, TlsConnection> {
  return (options) => {
    const config: TlsConfig = options.role === 'client' ? toClientConfig(options, undefined, platform) : toServerConfig(options, platform);
    const settings = toConnectionSettings(options, config.role === 'client' ? config.serverName : undefined);
    const scheduler = options.scheduler ?? asyncScheduler;
    const insecure = options.role === 'client' && isInsecure(options);
    return (duplex$) => duplex$.pipe(mergeMap((duplex) => secureDuplex(duplex, config, scheduler, insecure, settings, platform)));
  };
}

/**
 * How a connection takes batch results on loan (`BatchOptions.lease`), given back once nothing reads them:
 * sealed records always, in shared memory if the provider likes (they only go to the socket); opened ones as the
 * application takes its chunks (`inboundChunks`: none for owned chunks).
 */
const SEAL_LEASE: BatchOptions = { lease: true, shared: true };
const OPEN_LEASE: Readonly<Record<'borrowed' | 'shared', BatchOptions>> = { borrowed: { lease: true }, shared: SEAL_LEASE };

/**
 * Duplexes a connection was run over (or is running over): a {@link ByteDuplex} is one-shot, so a second
 * subscription for the same one is refused before it writes anything or touches the duplex.
 */
const securedDuplexes = new WeakSet<ByteDuplex>();

/** Whether `v` is something `send()` takes: an Observable, an Iterable or an AsyncIterable (not bytes, not text). */
function isOutboundSource(v: unknown): v is OutboundSource {
  if (isObservable(v)) return true;
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return false;
  return Symbol.iterator in v || Symbol.asyncIterator in v;
}

/**
 * Runs one TLS connection over `duplex` with a prepared core `config` (what {@link secure} does per duplex;
 * exposed for adapters that build the configuration once, such as `listen` and `connect`).
 * `warn` prints the verification-disabled warning on subscription; `settings` (from `toConnectionSettings`)
 * carries the RxJS-layer options: flow control, shutdown policy, key log, session cache, early data.
 *
 * A thin mapping, with no copy of the core's state: transport events become inputs (`received`, `eof`,
 * `writable`), effects become transport writes and stream emissions, and the core's facts (`shutdown`,
 * `backlog`) decide what the application may do next. Application output is pulled by the reducer loop
 * (`runReducer`'s `pull`) only while the transport is writable and the backlog is not full. The key log
 * (`keyLog`) and the session cache (`sessionCache`) are sinks subscribed to the connection's `keyLog$` and
 * `sessions$`. Lifetime as {@link secure}.
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
  platform: Platform = portablePlatform,
): Observable<TlsConnection> {
  const highWaterMark = settings.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const maxOutboundBuffer = settings.maxOutboundBuffer ?? 16 * highWaterMark;
  const closingInput: PendingInput = settings.quietShutdown ? { type: 'close', mode: 'quiet' } : { type: 'end' };
  return new Observable<TlsConnection>((subscriber) => {
    // One connection per duplex: a second subscription (of(duplex).pipe(secure()) subscribed twice) is refused
    // before it writes anything, and leaves the duplex to the first.
    if (securedDuplexes.has(duplex)) {
      subscriber.error(misuse('secure(): this duplex is already secured by another subscription (a ByteDuplex is one-shot: its incoming$ can be subscribed only once; share() the connection instead)'));
      return;
    }
    securedDuplexes.add(duplex);
    if (warn) warnInsecure(config.role === 'client' ? config.serverName : undefined);

    // Client resumption: an explicit session, else one taken out of the cache (tickets are single use).
    const cacheKey = settings.sessionKey ?? (config.role === 'client' ? config.serverName : undefined) ?? '';
    let initial: TlsState;
    try {
      const session = config.role === 'client' ? sessionToOffer(settings.session, settings.sessionCache, cacheKey, scheduler.now()) : undefined;
      // A duplex that corks takes each step's records as parts, written corked (no flight buffer joining them).
      const coreConfig = session || duplex.cork ? { ...config, ...(session ? { session } : {}), ...(duplex.cork ? { transmitParts: true } : {}) } : config;
      initial = createConnection(coreConfig);
    } catch (err) {
      duplex.destroy();
      subscriber.error(asTlsError(err));
      return;
    }

    // The connection's streams.
    const inbound = inboundQueue({
      what: 'inbound$ (or a receive())',
      highWaterMark,
      setPaused: (paused) => {
        if (ended) return;
        if (paused) duplex.pause?.();
        else duplex.resume?.();
      },
    });
    const sessions = new ReplaySubject<TlsSession>(16);
    const keyLog = new ReplaySubject<string>();
    const shutdownFacts = new Subject<ShutdownFacts>();
    const progress = new ReplaySubject<ShutdownProgress>();
    /** Inputs that are not pulled: close, keyUpdate, writable, cryptoDone. */
    const control = new Subject<PendingInput>();
    /** The application's output may have something: the reducer loop pulls again. */
    const wake = new Subject<void>();

    // Sinks: the key log and the session-cache policy. The application's functions are contained: an exception
    // is reported once (console.warn) and the connection goes on (see ConnectionSettings.keyLog).
    if (typeof settings.keyLog === 'function') keyLog.subscribe(contained('keyLog', settings.keyLog));
    else if (typeof settings.keyLog === 'string') {
      if (!platform.keyLogFile) throw new TlsError({ kind: 'apiMisuse', reason: 'keyLog: a file path needs Node (give a function on this platform)' });
      keyLog.subscribe(platform.keyLogFile(settings.keyLog));
    }
    const cache = settings.sessionCache;
    // A quiet shutdown marks both directions closed without any close_notify: never resumable.
    if (cache && config.role === 'client' && !settings.quietShutdown) {
      resumableSession(sessions, shutdownFacts).subscribe((session) => storeSession(cache, cacheKey, session));
    }

    // Facts: the transport's backpressure, the core's latest `backlog` and `shutdown`, the outcome.
    let writable = true;
    let backlogFull = false;
    let shutdownNow: ShutdownState = { sent: false, received: false };
    let ended: { readonly error?: TlsError } | undefined;
    let aborted = false;
    let rejectedEarlyData: Uint8Array | undefined;
    // Output: the active send() and its source, and the closing input asked for (fed after queued chunks).
    let sender: Subscriber<never> | undefined;
    let out: OutboundPull | undefined;
    let closing: PendingInput | undefined;
    // Lifetime (see secure()): the subscriber and the active uses hold the connection.
    let handedOver = false;
    let holders = 1;
    let abandoned = false;
    let run: Subscription | undefined;
    /** The core's state after the latest step (what exportKeyingMaterial reads; never changed here). */
    let latest: TlsState | undefined;
    const handle = (state: TlsState, input: Parameters<typeof handleEvents>[1]) => {
      const step = handleEvents(state, input);
      latest = step.state;
      return step;
    };

    /** The connection is over (`closed`, a failure, an abort): settle the transport and every stream once. */
    const end = (error?: TlsError) => {
      if (ended) return;
      ended = error ? { error } : {};
      out?.cancel();
      out = undefined;
      closing = undefined;
      drainSub.unsubscribe();
      run?.unsubscribe();
      if (error || aborted) duplex.destroy();
      else duplex.end();
      const s = sender;
      sender = undefined;
      if (error) {
        inbound.error(error);
        s?.error(error);
        progress.error(error);
        shutdownFacts.error(error);
      } else {
        inbound.complete();
        s?.complete();
        if (shutdownNow.sent && shutdownNow.received) progress.next('complete');
        progress.complete();
        if (aborted) shutdownFacts.error(misuse('the connection was closed abortively'));
        else shutdownFacts.complete();
      }
      sessions.complete();
      keyLog.complete();
      if (error) subscriber.error(error);
      else subscriber.complete();
    };

    const abort = () => {
      if (ended) return;
      aborted = true;
      control.next({ type: 'close', mode: 'abort' }); // the core's teardown (no close_notify) → `closed`
      end(); // in case the input was queued behind a step in progress
    };

    /** A holder let go (`unfinished`: unsubscribed before it completed); the last one of them aborts. */
    const release = (unfinished: boolean) => {
      holders--;
      if (unfinished) abandoned = true;
      if (holders === 0 && abandoned && handedOver) abort();
    };

    /** `source` as a use of the connection: it holds the connection while subscribed. */
    const held = <T>(source: Observable<T>) =>
      new Observable<T>((s) => {
        holders++;
        let finished = false;
        const sub = source.subscribe({
          next: (v) => s.next(v),
          error: (err) => {
            finished = true;
            s.error(err);
          },
          complete: () => {
            finished = true;
            s.complete();
          },
        });
        return () => {
          sub.unsubscribe();
          release(!finished);
        };
      });

    /** Close our direction: the send() takes no more chunks, what it queued is written, then `input`. */
    const requestClose = (input: PendingInput) => {
      if (ended) return;
      if (shutdownNow.sent) {
        // close_notify already went: only a unidirectional close still changes something (stop waiting).
        if (input.type === 'close' && input.mode !== 'shutdown') control.next(input);
        return;
      }
      out?.finish();
      closing = input;
      wake.next();
    };

    /** The next input from the application: a chunk while the transport and the core take one, or the close. */
    const pull = (): PendingInput | undefined => {
      if (out) {
        if (!writable || backlogFull) return undefined;
        const chunk = out.take();
        if (chunk === undefined) return undefined;
        if (chunk !== 'end') return { type: 'write', data: chunk };
        out = undefined;
        closing ??= closingInput;
      }
      const input = closing;
      closing = undefined;
      return input;
    };

    const send = (source: OutboundSource) =>
      new Observable<never>((s) => {
        // A mistake in the call (not a source at all): only this send() fails, the connection is untouched.
        if (!isOutboundSource(source)) {
          return s.error(misuse(`send(): expected an Observable, an Iterable or an AsyncIterable of Uint8Array chunks, got ${shown(source)}`));
        }
        if (ended?.error) return s.error(ended.error);
        if (ended || closing || shutdownNow.sent) return s.error(misuse('send(): the output of this connection is already closed'));
        if (sender) return s.error(misuse('send(): another send() is still active'));
        sender = s;
        const failSend = (err: unknown) => {
          if (sender === s) sender = undefined;
          out = undefined;
          s.error(err);
          abort(); // the source failed or overran: the connection is aborted
        };
        let pulled: OutboundPull;
        try {
          pulled = outboundPull(source, { wake: () => wake.next(), fail: failSend, maxQueued: maxOutboundBuffer });
        } catch (err) {
          return failSend(err);
        }
        if (sender !== s || ended) pulled.cancel();
        else out = pulled;
        wake.next(); // started only now, after the handshake: nothing is written before the connection is up
        return () => {
          if (sender !== s) return;
          sender = undefined;
          // Unsubscribed before its close: stop writing without close_notify; queued chunks are dropped.
          if (out === pulled && !closing) {
            pulled.cancel();
            out = undefined;
          }
        };
      });

    const shutdown = (options: { readonly unidirectional?: boolean } = {}) =>
      new Observable<ShutdownProgress>((w) => {
        if (ended?.error) return w.error(misuse(`shutdown(): the connection already failed (${ended.error.message}); nothing is sent`));
        if (ended && aborted) return w.error(misuse('shutdown(): the connection was closed abortively'));
        const sub = progress.subscribe({ next: (p) => w.next(p), error: (err) => w.error(err), complete: () => w.complete() });
        requestClose(
          settings.quietShutdown ? closingInput : { type: 'close', mode: options.unidirectional ? 'unidirectional' : 'shutdown' },
        );
        return sub;
      });

    const keyUpdate = (requestPeer = false) => {
      if (ended) throw misuse('keyUpdate(): the connection is closed');
      if (closing || shutdownNow.sent) throw misuse('keyUpdate(): close_notify was already sent');
      control.next({ type: 'keyUpdate', requestPeer });
    };

    const connection = (info: HandshakeInfo): TlsConnection => ({
      info: connectionInfo(info),
      exportKeyingMaterial: (length, label, context) => {
        if (!latest) throw misuse('exportKeyingMaterial(): the handshake has not completed');
        return exportKeyingMaterial(latest.hs, label, context, length);
      },
      inbound$: held(inbound.observable),
      receive: (project) => held(inbound.receive(project)),
      send: (source) => held(send(source)),
      shutdown,
      shutdownState: () => ({ sent: shutdownNow.sent, received: shutdownNow.received }),
      keyUpdate,
      sessions$: sessions.asObservable(),
      keyLog$: keyLog.asObservable(),
      get rejectedEarlyData() {
        return rejectedEarlyData;
      },
      close: abort,
    });

    /**
     * Run one `crypto` effect on the provider's batch cipher and feed its `cryptoDone`. The core has at most
     * one batch per direction in flight and matches results by job id, so a seal batch and an open batch run
     * concurrently and may complete in either order; a result arriving after the connection ended is dropped.
     */
    const runCryptoJob = (e: Extract<TlsEffect, { type: 'crypto' }>) => {
      const batch = config.provider?.batch;
      if (!batch) return end(asTlsError(new Error('a crypto job was requested but the provider has no batch cipher')));
      const alg = e.alg as AeadAlg;
      const lease = e.op === 'seal' ? SEAL_LEASE : settings.inboundChunks && OPEN_LEASE[settings.inboundChunks];
      let result: ReturnType<typeof batch.openBatch>;
      try {
        result = e.op === 'seal' ? batch.sealBatch(alg, e.key, e.jobs, lease) : batch.openBatch(alg, e.key, e.jobs, lease);
      } catch (err) {
        return end(asTlsError(err));
      }
      Promise.resolve(result).then(
        (results) => {
          const release = results.release;
          if (ended) return release?.(); // nothing reads them
          if (!release) return control.next({ type: 'cryptoDone', jobId: e.jobId, results });
          if (e.op === 'open') {
            // The step delivers them (handshake messages and alerts are copied out of them by the core).
            control.next({ type: 'cryptoDone', jobId: e.jobId, results });
            inbound.whenTaken(release);
            return;
          }
          // The step that takes them writes them all in its transmission (the core keeps none), so they go back
          // once the transport is done with that transmission's last write; a step that wrote nothing (the
          // connection ended) left nothing that reads them.
          sealLeases.push(release);
          control.next({ type: 'cryptoDone', jobId: e.jobId, results });
          for (const left of sealLeases.splice(0)) left();
        },
        (err: unknown) => end(asTlsError(err)),
      );
    };

    /** Leases of sealed records fed in the current `cryptoDone`, for the next transmission's last write. */
    const sealLeases: (() => void)[] = [];
    /** The callback that gives back the leases the transmission being written carries (none: undefined). */
    const takeSealLeases = (): (() => void) | undefined => {
      if (sealLeases.length === 0) return undefined;
      const leases = sealLeases.splice(0);
      return () => {
        for (const release of leases) release();
      };
    };

    const onMessage = settings.onMessage && contained('onMessage', settings.onMessage);
    const traceAlert = (dir: 'sent' | 'received', level: number, description: number) =>
      onMessage?.({ dir, contentType: 'alert', type: description, name: `${level === AlertLevel.fatal ? 'fatal' : 'warning'} ${alertName(description)}`, length: 2 });
    const onEffect = (e: TlsEffect) => {
      switch (e.type) {
        case 'transmit':
          writable = duplex.write(e.data, takeSealLeases());
          return;
        case 'transmitParts': {
          duplex.cork!();
          const last = e.parts.length - 1;
          for (let i = 0; i < last; i++) writable = duplex.write(e.parts[i]!);
          // Writes complete in order: the last one's callback says the transport is done with all of them.
          if (last >= 0) writable = duplex.write(e.parts[last]!, takeSealLeases());
          return;
        }
        case 'deliver':
          inbound.deliver(e);
          return;
        case 'handshakeComplete':
          handedOver = true;
          subscriber.next(connection(e.info));
          return;
        case 'peerClosed':
          inbound.complete();
          // closeOnPeerClose: answer with our close at once; the send() stops taking chunks (queued ones go first).
          if (settings.closeOnPeerClose) requestClose(closingInput);
          return;
        case 'alertSent':
          traceAlert('sent', e.level, e.description);
          // Our close_notify is on the wire (its transmit came first): the send() is done.
          if (e.level === AlertLevel.warning && e.description === AlertDescription.close_notify) {
            const s = sender;
            sender = undefined;
            s?.complete();
            progress.next('sent');
          }
          return;
        case 'alertReceived':
          traceAlert('received', e.level, e.description);
          return;
        case 'handshakeMessage':
          onMessage?.({ dir: e.dir, contentType: 'handshake', type: e.msgType, name: handshakeTypeName(e.msgType), length: e.length });
          return;
        case 'shutdown':
          shutdownNow = { sent: e.sent, received: e.received };
          shutdownFacts.next(e);
          return;
        case 'backlog':
          backlogFull = e.full;
          return;
        case 'closed':
          end(e.error);
          return;
        case 'crypto':
          runCryptoJob(e);
          return;
        case 'keyLog':
          keyLog.next(keyLogLine(e));
          return;
        case 'session':
          sessions.next(e.session);
          return;
        case 'earlyData':
          if (!e.accepted && e.rejected && e.rejected.length > 0) rejectedEarlyData = e.rejected;
          return;
        default:
          assertNever(e);
      }
    };

    // The transport drained: the reducer loop pulls again. The TLS core has nothing to do on `writable` (it
    // never holds bytes for the transport), so no step is reduced for it, only the pull.
    const drainSub = duplex.drain$.subscribe(() => {
      writable = true;
      wake.next();
    });
    // An EOF that arrives while an open batch is in flight is held by the core itself until the records before
    // it (a close_notify among them) are opened, so it goes in at once.
    const transport$ = concat(
      duplex.incoming$.pipe(map((data): PendingInput => ({ type: 'received', data }))),
      of<PendingInput>({ type: 'eof' }),
    ).pipe(catchError((err: unknown) => throwError(() => toTransportError(err))));
    // `control` first: the transport may replay buffered bytes synchronously on subscription (and complete the
    // handshake), and what the application does in reaction must find the reducer already listening.
    // 0-RTT: the early bytes follow the ClientHello at once, before any answer from the peer is read (as early
    // data if the offered session allows them, else queued by the core until the handshake completes).
    const first: PendingInput[] = [{ type: 'start' }];
    if (config.role === 'client' && settings.earlyData && settings.earlyData.length > 0) {
      first.push({ type: 'write', data: settings.earlyData });
    }
    run = merge(control, transport$)
      .pipe(
        startWith<PendingInput>(...first),
        runReducer({ handle, nextTimeout, initial, scheduler, pull, wake$: wake }),
      )
      .subscribe({
        next: onEffect,
        error: (err: unknown) => end(asTlsError(err)),
        complete: () => end(), // after `closed`, already settled
      });
    if (ended) run.unsubscribe();

    return () => {
      // Before the hand-over unsubscribing aborts (no close_notify, transport destroyed); after it, the
      // connection is the application's (see secure()).
      if (!handedOver) abort();
      else release(false);
    };
  });
}



