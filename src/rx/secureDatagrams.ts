/**
 * `secureDatagrams`: DTLS 1.3 over any datagram duplex (UDP, a WebRTC data channel, an in-memory link), as a
 * pipeable operator, and `secureDatagramDuplex`, the adapter between one duplex and the sans-IO DTLS reducer.
 */
import { Observable, ReplaySubject, Subject, asyncScheduler, catchError, isObservable, map, merge, mergeMap, startWith, throwError } from 'rxjs';
import type { OperatorFunction, SchedulerLike, Subscriber, Subscription } from 'rxjs';
import { TlsError, asTlsError, assertNever, misuse } from '../core/errors.js';
import { keyLogLine } from '../handshake/events.js';
import type { TlsSession } from '../handshake/session.js';
import type { HandshakeInfo } from '../core/types.js';
import {
  canDtlsWrite,
  createDtlsConnection,
  dtlsStats,
  handleDtlsEvents,
  maxDtlsWrite,
  nextDtlsTimeout,
  type DtlsState,
} from '../dtls/connection.js';
import type { DtlsCloseMode, DtlsConfig, DtlsEffect, DtlsInput } from '../dtls/types.js';
import { AlertDescription, AlertLevel } from '../wire/tls/constants.js';
import { exportKeyingMaterial } from '../handshake/exporter.js';
import { connectionInfo } from './connectionInfo.js';
import { toTransportError } from './duplex.js';
import type { DtlsConnection, DtlsRecordSource, SecureDatagramsOptions, Ticking } from './dtlsTypes.js';
import { inboundQueue } from './inbound.js';
import { sessionToOffer, storeSession } from './resumableSession.js';
import { contained } from './callbacks.js';
import { isDetached } from '../core/validate.js';
import {
  DEFAULT_HIGH_WATER_MARK,
  isInsecure,
  keyLogOption,
  schedulerOption,
  sessionCacheOption,
  toDtlsClientConfig,
  toDtlsServerConfig,
  warnInsecure,
} from './options.js';
import { outboundPull, type OutboundPull } from './outboundPull.js';
import { portablePlatform, type Platform } from './platform.js';
import { runReducer, type Pending, type Ticker } from './runReducer.js';
import type { DatagramDuplex, SessionCache } from './types.js';

type PendingDtlsInput = Pending<DtlsInput>;

/** Default bound on what an Observable `send()` source may queue while the transport is paused: 1 MiB. */
const DEFAULT_MAX_OUTBOUND_BUFFER = 1 << 20;

/** What {@link secureDatagramDuplex} needs per connection beside the core configuration. */
export interface DtlsSettings {
  readonly scheduler?: SchedulerLike;
  readonly ticking?: Ticking;
  readonly onTicker?: (ticker: Ticker) => void;
  readonly keyLog?: ((line: string) => void) | string | boolean;
  readonly maxOutboundBuffer?: number;
  /** Print the verification-disabled warning on subscription. */
  readonly warn?: boolean;
  readonly platform?: Platform;
  /** Client resumption, as for TLS: an explicit session, else one taken out of `sessionCache` under `sessionKey`. */
  readonly session?: TlsSession;
  readonly sessionCache?: SessionCache;
  readonly sessionKey?: string;
}

/**
 * A connection that a listener already started outside the loop (its first ClientHello reduced by a fresh
 * reducer, to find out whether the state is worth keeping): the state after that step and its effects, which
 * the adapter acts on first.
 */
export interface DtlsBegun {
  readonly state: DtlsState;
  readonly effects: readonly DtlsEffect[];
}

/**
 * Secures datagram duplexes with DTLS 1.3 (RFC 9147): every {@link DatagramDuplex} from the source is run
 * through the sans-IO DTLS reducer (`handleDtlsEvents`) and yields one {@link DtlsConnection} once its
 * handshake completes, then that inner part completes; the connection lives on until it is closed, the peer
 * closes it, or it fails (its `closed$` tells).
 *
 * One operator for both roles (`role: 'client' | 'server'`); options are checked and PEM is loaded when
 * `secureDatagrams()` is called (API misuse throws at once). Per duplex, on subscription: the reducer is
 * started (a client sends its ClientHello), `onTicker` gets the connection's {@link Ticker}, and — with
 * `ticking: 'auto'`, the default — the scheduler arms each deadline the reducer asks for (flight
 * retransmission, delayed ACK, handshake and shutdown deadlines). With `ticking: 'manual'` nothing is armed:
 * the application calls `handleEvents()` when `eventTimeout()` says 0.
 *
 * A failed handshake (a fatal alert either way, `handshakeTimeout`, a transport error) errors the result with
 * a {@link TlsError}; one failure errors the whole result (secure each duplex in its own inner Observable to
 * survive it, as `dtlsListen` does). Unsubscribing before the connection was emitted aborts the handshake
 * (nothing is sent) and closes the duplex; once emitted, the connection is the application's. The duplex is
 * closed when the connection ends. There is no stateless cookie exchange here (one duplex is one peer): that is
 * a listener's business, see `dtlsListen`.
 *
 * ```
 * duplex$:       d----------------
 *                secureDatagrams({ role: 'client', ca })
 * result:        ----(c|)                c at handshakeComplete
 * c.inbound$:        --x---y----|        one value per record; | = the peer's close_notify
 * c.send(r$):        -----|              r$ completed: close_notify sent
 * c.closed$:         -----------|        both close_notify exchanged
 * ```
 *
 * @example
 * ```ts
 * const [a, b] = memoryDatagramPair();
 * of(b).pipe(secureDatagrams({ role: 'server', cert, key }), mergeMap((c) => c.send(c.inbound$))).subscribe(); // echo
 * of(a)
 *   .pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost' }),
 *         mergeMap((c) => merge(c.inbound$, c.send(of('ping')))))
 *   .subscribe((record) => console.log(new TextDecoder().decode(record))); // ping
 * ```
 *
 * @see secure — TLS over a byte duplex.
 * @see runReducer — the loop underneath, and its {@link Ticker}.
 * @see {@link https://www.rfc-editor.org/rfc/rfc9147 | RFC 9147 (DTLS 1.3)}
 * @see {@link https://docs.openssl.org/master/man3/SSL_get_event_timeout/ | OpenSSL SSL_get_event_timeout}
 */
export function secureDatagrams(options: SecureDatagramsOptions): OperatorFunction<DatagramDuplex, DtlsConnection> {
  return secureDatagramsOn(portablePlatform)(options);
}

/**
 * {@link secureDatagrams} on a given platform: where trust anchors come from when `ca` is absent, and how a
 * `keyLog` file path is written (Node's `secureDatagrams` is `secureDatagramsOn(nodePlatform)`).
 *
 * @example
 * ```ts
 * of(duplex).pipe(secureDatagramsOn({ systemRoots: () => myRoots })({ role: 'client', servername: 'example.com' }));
 * ```
 */
export function secureDatagramsOn(platform: Platform): (options: SecureDatagramsOptions) => OperatorFunction<DatagramDuplex, DtlsConnection> {
  return (options) => {
    const config: DtlsConfig = options.role === 'client' ? toDtlsClientConfig(options, undefined, platform) : toDtlsServerConfig(options, platform);
    createDtlsConnection(config); // the record settings are checked now, not at the first duplex
    const settings = toDtlsSettings(options, platform, options.role === 'client' && isInsecure(options));
    return (duplex$) => duplex$.pipe(mergeMap((duplex) => secureDatagramDuplex(duplex, config, settings)));
  };
}

/** The {@link DtlsSettings} of DTLS options (API misuse throws). */
export function toDtlsSettings(options: SecureDatagramsOptions | Omit<SecureDatagramsOptions, 'role'>, platform: Platform, warn = false): DtlsSettings {
  const max = options.maxOutboundBuffer;
  if (max !== undefined && !(Number.isFinite(max) && max > 0)) {
    throw new TlsError({ kind: 'apiMisuse', reason: `maxOutboundBuffer must be a positive number of bytes, got ${max}` });
  }
  if (options.onTicker !== undefined && typeof options.onTicker !== 'function') {
    throw new TlsError({ kind: 'apiMisuse', reason: 'onTicker must be a function' });
  }
  if (typeof options.keyLog === 'string' && !platform.keyLogFile) {
    throw new TlsError({ kind: 'apiMisuse', reason: 'keyLog: a file path needs Node (give a function on this platform)' });
  }
  keyLogOption(options.keyLog);
  const scheduler = schedulerOption(options.scheduler);
  const sessionCache = sessionCacheOption('sessionCache' in options ? options.sessionCache : undefined);
  return {
    scheduler: scheduler ?? asyncScheduler,
    ticking: options.ticking ?? 'auto',
    ...(options.onTicker ? { onTicker: options.onTicker } : {}),
    ...(options.keyLog !== undefined && options.keyLog !== false ? { keyLog: options.keyLog } : {}),
    ...(max !== undefined ? { maxOutboundBuffer: max } : {}),
    warn,
    platform,
    ...('session' in options && options.session !== undefined ? { session: options.session } : {}),
    ...(sessionCache !== undefined ? { sessionCache } : {}),
    ...('sessionKey' in options && options.sessionKey !== undefined ? { sessionKey: options.sessionKey } : {}),
  };
}

/**
 * Runs one DTLS connection over `duplex` with a prepared core `config` (what {@link secureDatagrams} does per
 * duplex; `dtlsConnect` and `dtlsListen` use it too). `begun` hands over a connection already started by a
 * listener (see {@link DtlsBegun}): no `start` is fed and its effects are acted on first.
 *
 * A thin mapping with no copy of the reducer's state beyond the latest one (read for `canDtlsWrite`,
 * `stats()` and the ticker): datagrams become `datagram` inputs, `transmit` effects become `duplex.send`,
 * `deliver` effects become `inbound$` values; records are pulled from the application between steps, only
 * while the reducer can take one and the duplex is not paused.
 *
 * ```
 * secureDatagramDuplex(d, config, settings):  ----(c|)     as secureDatagrams()
 * ```
 *
 * @example
 * ```ts
 * const config = toDtlsClientConfig({ ca }, 'localhost');
 * secureDatagramDuplex(udpDuplex, config, toDtlsSettings({}, portablePlatform)).subscribe((conn) => …);
 * ```
 */
export function secureDatagramDuplex(duplex: DatagramDuplex, config: DtlsConfig, settings: DtlsSettings = {}, begun?: DtlsBegun): Observable<DtlsConnection> {
  const scheduler = settings.scheduler ?? asyncScheduler;
  const platform = settings.platform ?? portablePlatform;
  const maxOutboundBuffer = settings.maxOutboundBuffer ?? DEFAULT_MAX_OUTBOUND_BUFFER;
  return new Observable<DtlsConnection>((subscriber) => {
    if (settings.warn) warnInsecure(config.role === 'client' ? config.serverName : undefined);
    // Client resumption: an explicit session, else one taken out of the cache (tickets are single use).
    const cacheKey = settings.sessionKey ?? (config.role === 'client' ? config.serverName : undefined) ?? '';
    let latest: DtlsState;
    try {
      const session = config.role === 'client' && !begun ? sessionToOffer(settings.session, settings.sessionCache, cacheKey, scheduler.now()) : undefined;
      const coreConfig = session ? { ...config, session } : config;
      latest = begun?.state ?? createDtlsConnection(coreConfig);
    } catch (err) {
      duplex.close();
      subscriber.error(asTlsError(err));
      return;
    }

    // Records wait for a first subscriber up to 64 KiB; past that they are dropped (and counted), as a datagram may be.
    let unclaimedDropped = 0;
    const inbound = inboundQueue({ what: 'inbound$', maxUnclaimed: DEFAULT_HIGH_WATER_MARK, onDropped: () => void unclaimedDropped++ });
    const closed = new ReplaySubject<never>(1);
    const sessions = new ReplaySubject<TlsSession>(16);
    /** close_notify sent and received: only then is the newest session stored (OpenSSL's rule, as for TLS). */
    const closeNotify = { sent: false, received: false };
    let newest: TlsSession | undefined;
    /** Inputs that are not pulled: start, close, keyUpdate, timeout (manual ticks). */
    const control = new Subject<PendingDtlsInput>();
    /** The application's records may have something: the loop pulls again. */
    const wake = new Subject<void>();
    let keyLogSink: ((line: string) => void) | undefined;
    // The application's function is contained: an exception is reported once and the connection goes on.
    if (typeof settings.keyLog === 'function') keyLogSink = contained('keyLog', settings.keyLog);
    else if (typeof settings.keyLog === 'string') {
      const file = platform.keyLogFile?.(settings.keyLog);
      if (!file) throw misuse('keyLog: a file path needs Node (give a function on this platform)');
      keyLogSink = (line) => file.next?.(line);
    }

    let ticker: Ticker | undefined;
    let writable = true;
    let ended: { readonly error?: TlsError } | undefined;
    let handedOver = false;
    let sender: Subscriber<never> | undefined;
    let out: OutboundPull | undefined;
    let closing: PendingDtlsInput | undefined;
    let run: Subscription | undefined;
    let drainSub: Subscription | undefined;

    /** The connection is over: settle the duplex and every stream, once. */
    const end = (error?: TlsError) => {
      if (ended) return;
      ended = error ? { error } : {};
      out?.cancel();
      out = undefined;
      closing = undefined;
      drainSub?.unsubscribe();
      run?.unsubscribe();
      duplex.close();
      const s = sender;
      sender = undefined;
      if (!error && newest && closeNotify.sent && closeNotify.received && settings.sessionCache) storeSession(settings.sessionCache, cacheKey, newest);
      sessions.complete();
      if (error) {
        inbound.error(error);
        s?.error(error);
        closed.error(error);
      } else {
        inbound.complete();
        s?.complete();
        closed.complete();
      }
      if (!handedOver) subscriber.error(error ?? new TlsError({ kind: 'transport', reason: 'the DTLS connection closed before its handshake completed' }));
    };

    const abort = () => {
      if (ended) return;
      control.next({ type: 'close', mode: 'abort' }); // the reducer's teardown → `closed`
      end(); // in case the input was queued behind a step in progress
    };

    /** The next input from the application: a record while the reducer and the duplex take one, or the close. */
    const pull = (state: DtlsState): PendingDtlsInput | undefined => {
      if (out) {
        if (!writable || !canDtlsWrite(state, 0)) return undefined;
        const record = out.take();
        if (record === undefined) return undefined;
        if (record !== 'end') {
          if (isDetached(record)) {
            failSend(misuse('send(): a record whose ArrayBuffer was detached (transferred away): its bytes are gone'));
            return undefined;
          }
          const max = maxDtlsWrite(state);
          if (record.length <= max) return { type: 'write', data: record };
          failSend(misuse(`send(): a record of ${record.length} B does not fit one DTLS record in this connection's MTU (at most ${max} B)`));
          return undefined;
        }
        out = undefined;
        closing ??= { type: 'end' };
      }
      const input = closing;
      closing = undefined;
      return input;
    };

    /** The active send() failed (its source, or a record too large): stop taking records; the connection stays. */
    const failSend = (err: unknown) => {
      out?.cancel();
      out = undefined;
      const s = sender;
      sender = undefined;
      s?.error(err);
    };

    const send = (records: DtlsRecordSource) =>
      new Observable<never>((s) => {
        if (ended?.error) return s.error(ended.error);
        if (ended || closing || !canDtlsWrite(latest, 0)) return s.error(misuse('send(): the output of this connection is already closed'));
        if (sender) return s.error(misuse('send(): another send() is still active'));
        sender = s;
        let pulled: OutboundPull;
        try {
          pulled = outboundPull(asBytes(records), {
            wake: () => wake.next(),
            fail: (err) => {
              if (sender === s) failSend(err);
            },
            maxQueued: maxOutboundBuffer,
          });
        } catch (err) {
          sender = undefined;
          return s.error(err);
        }
        if (sender !== s || ended) pulled.cancel();
        else out = pulled;
        wake.next();
        return () => {
          if (sender !== s) return;
          sender = undefined;
          // Unsubscribed before its end: stop taking records, without close_notify.
          if (out === pulled && !closing) {
            pulled.cancel();
            out = undefined;
          }
        };
      });

    const keyUpdate = (requestPeer = false) => {
      if (ended) throw misuse('keyUpdate(): the connection is closed');
      if (closing || !canDtlsWrite(latest, 0)) throw misuse('keyUpdate(): close_notify was already sent');
      if (latest.pendingKeyUpdate) throw misuse('keyUpdate(): the previous KeyUpdate still waits for its ACK (RFC 9147 §8)');
      control.next({ type: 'keyUpdate', requestPeer });
    };

    const close = (mode: DtlsCloseMode = 'shutdown') => {
      // A mistake in the call throws here and leaves the connection as it is (never fed to the reducer).
      if (!DTLS_CLOSE_MODES.includes(mode)) {
        throw misuse(`close(mode): unknown close mode ${typeof mode === 'string' ? JSON.stringify(mode) : typeof mode} (one of ${DTLS_CLOSE_MODES.join(', ')})`);
      }
      if (ended) return;
      if (mode === 'abort') return abort();
      if (mode === 'quiet' || mode === 'fatal') return control.next({ type: 'close', mode });
      // close_notify follows the records the send() already queued; the send() takes no more and completes
      // once close_notify is on the wire.
      out?.finish();
      closing = { type: 'close', mode };
      wake.next();
    };

    const connection = (info: HandshakeInfo): DtlsConnection => ({
      info: connectionInfo(info),
      exportKeyingMaterial: (length, label, context) => exportKeyingMaterial(latest.hs, label, context, length),
      maxRecordSize: maxDtlsWrite(latest),
      inbound$: inbound.observable,
      send,
      keyUpdate,
      close,
      closed$: closed.asObservable(),
      sessions$: sessions.asObservable(),
      stats: () => ({ ...dtlsStats(latest), unclaimedDropped }),
      eventTimeout: () => ticker?.eventTimeout(),
      handleEvents: () => ticker?.handleEvents(),
    });

    const onEffect = (e: DtlsEffect) => {
      switch (e.type) {
        case 'transmit':
          if (!duplex.send(e.data)) writable = false;
          return;
        case 'deliver':
          inbound.next(e.data);
          return;
        case 'handshakeComplete':
          handedOver = true;
          subscriber.next(connection(e.info));
          subscriber.complete();
          return;
        case 'peerClosed':
          closeNotify.received = true;
          inbound.complete();
          return;
        case 'alertSent':
          // Our close_notify is on the wire (its transmit came first): the send() is done.
          if (e.level === AlertLevel.warning && e.description === AlertDescription.close_notify) {
            closeNotify.sent = true;
            const s = sender;
            sender = undefined;
            out = undefined;
            s?.complete();
          }
          return;
        case 'alertReceived':
          return;
        case 'keyLog':
          keyLogSink?.(keyLogLine(e));
          return;
        case 'session':
          newest = e.session;
          sessions.next(e.session);
          return;
        case 'closed':
          end(e.error);
          return;
        default:
          assertNever(e);
      }
    };

    drainSub = duplex.drain$?.subscribe(() => {
      writable = true;
      wake.next();
    });
    const transport$ = duplex.incoming$.pipe(
      map((data): PendingDtlsInput => ({ type: 'datagram', data })),
      catchError((err: unknown) => throwError(() => toTransportError(err))),
    );
    // The transport closing under a live connection (a closed socket) ends it: UDP has no EOF to wait for.
    const transportClosed$ = new Observable<PendingDtlsInput>((s) => {
      const sub = transport$.subscribe({
        next: (input) => s.next(input),
        error: (err: unknown) => s.error(err),
        complete: () => s.error(new TlsError({ kind: 'transport', reason: 'the datagram transport was closed' })),
      });
      return sub;
    });

    // A listener's connection arrives started: act on its first step's effects before anything else.
    if (begun) for (const e of begun.effects) onEffect(e);
    if (ended) return;
    run = merge(control, transportClosed$)
      .pipe(
        startWith<PendingDtlsInput>(...(begun ? [] : [{ type: 'start' } as PendingDtlsInput])),
        runReducer<DtlsState, DtlsInput, DtlsEffect>({
          handle: (state, input) => {
            const step = handleDtlsEvents(state, input);
            latest = step.state; // read by stats(), send() and keyUpdate() checks
            return step;
          },
          nextTimeout: nextDtlsTimeout,
          initial: latest,
          scheduler,
          pull,
          wake$: wake,
          autoTick: settings.ticking !== 'manual',
          ticker: (t) => {
            ticker = t;
            settings.onTicker?.(t);
          },
        }),
      )
      .subscribe({
        next: onEffect,
        error: (err: unknown) => end(asTlsError(err)),
        complete: () => end(),
      });
    if (ended) run.unsubscribe();

    return () => {
      // Before the hand-over unsubscribing aborts (nothing sent, duplex closed); after it the connection is
      // the application's.
      if (!handedOver) abort();
    };
  });
}

/** The modes {@link DtlsConnection.close} takes. */
const DTLS_CLOSE_MODES: readonly unknown[] = ['shutdown', 'unidirectional', 'abort', 'quiet', 'fatal'] satisfies readonly DtlsCloseMode[];

/** Records as bytes: text is UTF-8 encoded, one record per value, whatever the kind of source. */
function asBytes(records: DtlsRecordSource): Observable<Uint8Array> | Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  const bytes = (v: Uint8Array | string): Uint8Array => (typeof v === 'string' ? new TextEncoder().encode(v) : v);
  if (isObservable(records)) return records.pipe(map(bytes));
  // Generators keep the pull one value at a time, and pass an early stop (`return`) on to the source.
  if (records !== null && typeof records === 'object' && Symbol.asyncIterator in records) {
    const source = records;
    return (async function* () {
      for await (const v of source) yield bytes(v);
    })();
  }
  if (records !== null && typeof records === 'object' && Symbol.iterator in records && !ArrayBuffer.isView(records)) {
    const source = records;
    return (function* () {
      for (const v of source) yield bytes(v);
    })();
  }
  throw misuse('send(): expected an Observable, an Iterable or an AsyncIterable of records (Uint8Array or string)');
}



