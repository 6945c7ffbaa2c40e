/**
 * DTLS 1.3 over UDP for RxJS: `dtlsConnect` and `dtlsListen` put the sans-IO DTLS reducer
 * (`src/dtls/connection.ts`) on `node:dgram` sockets through `secureDatagramDuplex`, the adapter that
 * `secureDatagrams` runs over any datagram duplex.
 */
import { keyLogFromEnvironment } from '../node/keyLogFile.js';
import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { literalLookup } from '../node/udpLookup.js';
import { Observable, Subject, asyncScheduler, defer, tap, type Subscription } from 'rxjs';
import { TlsError } from '../core/errors.js';
import { createDtlsConnection, dtlsStats, handleDtlsEvents, isDtlsCommitted, type DtlsState } from '../dtls/connection.js';
import type { DtlsEffect, DtlsServerConfig } from '../dtls/types.js';
import { nodePlatform } from '../node/platform.js';
import { toTransportError } from './duplex.js';
import type { DtlsConnectOptions, DtlsConnection, DtlsListenOptions } from './dtlsTypes.js';
import { inboundQueue } from './inbound.js';
import { functionOption, isInsecure, toDtlsClientConfig, toDtlsServerConfig } from './options.js';
import { contained } from './callbacks.js';
import type { Ticker } from './runReducer.js';
import { secureDatagramDuplex, toDtlsSettings } from './secureDatagrams.js';
import type { DatagramDuplex } from './types.js';

/**
 * Connects over DTLS 1.3 to `host:port` (UDP) on subscription and emits the {@link DtlsConnection} once the
 * handshake completes, then completes; errors with a {@link TlsError} when the handshake fails (kind
 * `transport` for a socket error such as an ICMP port unreachable, `handshakeTimeout`, `certificate`,
 * `alertReceived`, …). Cold: each subscription is its own connected UDP socket. Unsubscribing during the
 * handshake aborts it and closes the socket; once emitted, the connection lives until it is closed, the peer
 * closes it, or it fails (`closed$`). The socket closes after the connection's last datagram was sent.
 *
 * Options are the TLS client options that apply (`ca`, `servername` — default `host` —, `ALPNProtocols`,
 * `ciphers`, `groups`, `keyLog`, a client `cert`/`key`, `psk`, `session` or a `sessionCache` keyed by
 * `servername:port`, …) plus the DTLS record settings (`mtu`,
 * retransmission timers) and `ticking` (see {@link DtlsConnection}); checked when `dtlsConnect` is called.
 *
 * ```
 * dtlsConnect(opts):  ----(c|)        c at handshakeComplete
 * c.closed$:              ------|     close_notify both ways
 * refused:            --#             TlsError kind 'transport'
 * ```
 *
 * @example
 * ```ts
 * dtlsConnect({ host: '127.0.0.1', port: 4433, ca, servername: 'localhost' })
 *   .pipe(switchMap((conn) => merge(conn.inbound$, conn.send(of('hello')))))
 *   .subscribe((record) => console.log(new TextDecoder().decode(record)));
 * ```
 *
 * @see dtlsListen — the server side.
 * @see secureDatagrams — the same over any datagram duplex.
 */
export function dtlsConnect(given: DtlsConnectOptions): Observable<DtlsConnection> {
  const options = keyLogFromEnvironment(given);
  const config = toDtlsClientConfig(options, options.host, nodePlatform);
  createDtlsConnection(config); // record settings checked now
  const settings = { sessionKey: `${config.serverName ?? options.host}:${options.port}`, ...toDtlsSettings(options, nodePlatform, isInsecure(options)) };
  return defer(
    () =>
      new Observable<DtlsConnection>((subscriber) => {
        const socket = createSocket({ type: options.host.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup as SocketOptions['lookup'] });
        let established = false;
        // An ICMP port unreachable (ECONNREFUSED on a connected socket) is unauthenticated: during the handshake
        // it fails fast (nobody listens), afterwards it is a lost datagram, as for any other UDP loss.
        const duplex = udpDuplex(
          socket,
          (data, done) => socket.send(data, done),
          () => socket.close(),
          (err) => established && (err as NodeJS.ErrnoException).code === 'ECONNREFUSED',
        );
        let sub: Subscription | undefined;
        const early = (err: Error) => subscriber.error(toTransportError(err));
        socket.once('error', early);
        // A connected socket: the kernel drops datagrams from anyone but the server, and reports refusals.
        socket.connect(options.port, options.host, () => {
          socket.off('error', early);
          sub = secureDatagramDuplex(duplex, config, settings)
            .pipe(tap(() => (established = true)))
            .subscribe(subscriber);
        });
        return () => {
          if (sub) sub.unsubscribe();
          else duplex.close();
        };
      }),
  );
}

/** Counters of a {@link dtlsListen} listener, for monitoring and tests. */
export interface DtlsListenerStats {
  /** Connections that kept state (a ClientHello with a valid cookie, or any without cookies) since the start. */
  readonly created: number;
  /** Connections in the handshake now (counted against `maxHandshakingConnections`). */
  readonly handshaking: number;
  /** Connections open now, in the handshake or established. */
  readonly open: number;
  /** ClientHellos answered with a cookie (a stateless HelloRetryRequest) and forgotten at once. */
  readonly statelessReplies: number;
  /** Handshakes that failed (alert, timeout) after the listener kept state for them. */
  readonly failed: number;
  /** Datagrams from unknown peers that opened nothing: not a ClientHello we answer, or over the bound. */
  readonly dropped: { readonly unanswered: number; readonly handshakeLimit: number };
}

/** A bound {@link dtlsListen} listener. */
export interface DtlsListener {
  /** The bound UDP port (the real one when `port` was 0). */
  readonly port: number;
  /** One value per completed handshake; completes when the listener closes. */
  readonly connections: Observable<DtlsConnection>;
  stats(): DtlsListenerStats;
  /**
   * The earliest deadline of every connection, in ms from now (0 when due, `undefined` when none): with
   * `ticking: 'manual'`, when to call {@link DtlsListener.handleEvents}.
   */
  eventTimeout(): number | undefined;
  /** Run the due timers of every connection (`handleEvents()` on each); harmless when none is due. */
  handleEvents(): void;
  /** Close the socket; connections in progress or open are aborted (nothing sent). */
  close(): Promise<void>;
}

/**
 * Listens for DTLS 1.3 on a UDP port. One socket; connections are told apart by the peer's address and port.
 *
 * With cookies on (the default) the listener keeps **no state for a peer until it proves its address**
 * (RFC 9147 §5.1): a datagram from an unknown address is reduced by a fresh reducer (configured with a random
 * 32-byte `cookieSecret` made at startup and the peer's address as `cookieBinding`), its answer — a
 * HelloRetryRequest with a cookie — is sent, and the state is dropped unless `isDtlsCommitted` says a valid
 * cookie came back. A ClientHello that returns the cookie is reduced the same way by a fresh reducer, which then
 * commits; from there the connection runs on `secureDatagramDuplex` until it ends, and its peer is forgotten.
 * Datagrams that get no answer open nothing (`stats().dropped.unanswered`). At most
 * `maxHandshakingConnections` (default 100) handshakes run at once; beyond it, datagrams from unknown peers are
 * dropped (`dropped.handshakeLimit`) and the clients retransmit.
 *
 * Resolves once bound; rejects with a {@link TlsError} (`apiMisuse`) before opening a socket when `cert`/`key`
 * do not parse or do not match. A connection that fails is reported to `onError` (a failed handshake also
 * counts in `stats().failed`); the listener keeps running.
 * With `ticking: 'manual'` the listener arms no timer: call its `handleEvents()` when `eventTimeout()` says 0.
 *
 * ```
 * ClientHello (no cookie)   → HelloRetryRequest(cookie)     stats: statelessReplies+1, open 0
 * ClientHello (cookie)      → ServerHello … Finished        stats: created+1, handshaking 1, open 1
 * client Finished           → connections: -c-               handshaking 0
 * ```
 *
 * @example
 * ```ts
 * const listener = await dtlsListen({ port: 4433, cert, key });
 * listener.connections.subscribe((conn) => conn.send(conn.inbound$).subscribe()); // echo each record
 * ```
 *
 * @see dtlsConnect — the client side.
 * @see quicListen — the same shape for QUIC.
 */
export async function dtlsListen(given: DtlsListenOptions): Promise<DtlsListener> {
  const options = keyLogFromEnvironment(given);
  const base = toDtlsServerConfig(options, nodePlatform);
  createDtlsConnection(base); // record settings checked before the socket exists
  const settings = toDtlsSettings(options, nodePlatform);
  const scheduler = options.scheduler ?? asyncScheduler;
  // A throwing onError is contained (reported once with console.warn): the listener keeps running.
  const onError = options.onError !== undefined ? contained('dtlsListen onError', functionOption('onError', options.onError)) : undefined;
  const maxHandshaking = options.maxHandshakingConnections ?? 100;
  if (!(Number.isInteger(maxHandshaking) && maxHandshaking >= 1)) {
    throw new TlsError({ kind: 'apiMisuse', reason: `maxHandshakingConnections must be a positive integer, got ${maxHandshaking}` });
  }
  const provider = base.provider!;
  const cookieSecret = options.cookie === false ? undefined : provider.randomBytes(32);
  const host = options.host ?? '127.0.0.1';
  const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup as SocketOptions['lookup'] });
  const connections = new Subject<DtlsConnection>();

  interface Peer {
    readonly duplex: DatagramDuplex & { deliver(data: Uint8Array): void };
    sub?: Subscription;
    conn?: DtlsConnection;
    ticker?: Ticker;
    handshaking: boolean;
  }
  const peers = new Map<string, Peer>();
  let created = 0;
  let handshaking = 0;
  let statelessReplies = 0;
  let failed = 0;
  const dropped = { unanswered: 0, handshakeLimit: 0 };
  let closing = false;
  /** Datagrams handed to the socket and not yet sent: closing waits for them (a last close_notify). */
  let sending = 0;
  let onSent: (() => void) | undefined;
  const sendTo = (data: Uint8Array, to: RemoteInfo) => {
    sending++;
    socket.send(data, to.port, to.address, () => {
      sending--;
      if (sending === 0) onSent?.();
    });
  };

  const configFor = (from: RemoteInfo): DtlsServerConfig =>
    cookieSecret ? { ...base, cookieSecret, cookieBinding: new TextEncoder().encode(`${from.address}|${from.port}`) } : base;

  const accept = (data: Uint8Array, from: RemoteInfo) => {
    if (handshaking >= maxHandshaking) {
      dropped.handshakeLimit++;
      return;
    }
    // A fresh reducer for this one datagram (RFC 9147 §5.1): kept only if it commits to the peer.
    const config = configFor(from);
    let state: DtlsState;
    const effects: DtlsEffect[] = [];
    try {
      const now = scheduler.now();
      const started = handleDtlsEvents(createDtlsConnection(config), { type: 'start', now });
      const step = handleDtlsEvents(started.state, { type: 'datagram', now, data });
      state = step.state;
      effects.push(...started.effects, ...step.effects);
    } catch {
      dropped.unanswered++;
      return;
    }
    const answered = dtlsStats(state).datagramsOut > 0;
    if (!answered) {
      dropped.unanswered++;
      return;
    }
    if (!isDtlsCommitted(state)) {
      // A stateless answer (a HelloRetryRequest with a cookie, or an alert): send it and forget the peer.
      for (const e of effects) if (e.type === 'transmit') sendTo(e.data, from);
      statelessReplies++;
      return;
    }
    const key = peerKey(from);
    const incoming = inboundQueue({ what: 'incoming$ of a DTLS peer' });
    const duplex = {
      incoming$: incoming.observable,
      send: (d: Uint8Array) => {
        if (!closing) sendTo(d, from);
        return true; // UDP: no backpressure signal; a full socket buffer drops, DTLS retransmits its flights
      },
      close: () => {
        incoming.complete();
        if (peers.get(key) === peer) peers.delete(key);
      },
      deliver: (d: Uint8Array) => incoming.next(d),
    };
    const peer: Peer = { duplex, handshaking: true };
    peers.set(key, peer);
    created++;
    handshaking++;
    const handshakeOver = () => {
      if (!peer.handshaking) return;
      peer.handshaking = false;
      handshaking--;
    };
    const report = (err: unknown) => {
      if (!closing && err instanceof TlsError) onError?.(err, { address: from.address, port: from.port });
    };
    const onTicker = (t: Ticker) => {
      peer.ticker = t;
      settings.onTicker?.(t);
    };
    peer.sub = secureDatagramDuplex(duplex, config, { ...settings, onTicker }, { state, effects }).subscribe({
      next: (conn) => {
        handshakeOver();
        peer.conn = conn;
        connections.next(conn);
        conn.closed$.subscribe({ error: (err: unknown) => report(err) });
      },
      error: (err: unknown) => {
        handshakeOver();
        failed++;
        report(err);
      },
    });
  };

  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    if (closing) return;
    const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    const peer = peers.get(peerKey(from));
    if (peer) peer.duplex.deliver(data);
    else accept(data, from);
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err) => reject(toTransportError(err)));
    socket.bind(options.port ?? 0, host, () => resolve());
  });
  socket.on('error', () => undefined); // per-datagram send errors (ICMP) are the connections' business

  return {
    port: socket.address().port,
    connections: connections.asObservable(),
    stats: () => ({
      created,
      handshaking,
      open: peers.size,
      statelessReplies,
      failed,
      dropped: { ...dropped },
    }),
    eventTimeout: () => {
      let min: number | undefined;
      for (const p of peers.values()) {
        const t = p.ticker?.eventTimeout();
        if (t !== undefined && (min === undefined || t < min)) min = t;
      }
      return min;
    },
    handleEvents: () => {
      for (const p of [...peers.values()]) p.ticker?.handleEvents();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of [...peers.values()]) {
          if (p.conn) p.conn.close('abort');
          else p.sub?.unsubscribe();
        }
        peers.clear();
        closing = true;
        connections.complete();
        // The socket closes once what was handed to it left (a connection's final close_notify included).
        const closeSocket = () => socket.close(() => resolve());
        if (sending === 0) closeSocket();
        else onSent = closeSocket;
      }),
  };
}

function peerKey(from: RemoteInfo): string {
  return `${from.address}|${from.port}`;
}

/**
 * A {@link DatagramDuplex} over a UDP socket: `sendOne` sends a datagram and calls back once it left; `release`
 * closes the socket, which waits for the datagrams still being sent (the last close_notify must not be dropped
 * by closing under it).
 */
function udpDuplex(
  socket: Socket,
  sendOne: (data: Uint8Array, done: () => void) => void,
  release: () => void,
  isSoft: (err: Error) => boolean = () => false,
): DatagramDuplex {
  const incoming = inboundQueue({ what: 'incoming$ of a UDP socket' });
  socket.on('message', (msg: Buffer) => incoming.next(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)));
  socket.on('error', (err) => {
    if (!isSoft(err)) incoming.error(err);
  });
  socket.on('close', () => incoming.complete());
  let sending = 0;
  let closing = false;
  const closeNow = () => {
    try {
      release();
    } catch {
      // already closed
    }
  };
  return {
    incoming$: incoming.observable,
    send: (data) => {
      if (closing) return false;
      sending++;
      sendOne(data, () => {
        sending--;
        if (closing && sending === 0) closeNow();
      });
      return true;
    },
    close: () => {
      if (closing) return;
      closing = true;
      incoming.complete();
      if (sending === 0) closeNow();
    },
  };
}
