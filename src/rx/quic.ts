/**
 * QUIC over UDP for RxJS: `quicConnect` and `quicListen` put the sans-IO QUIC reducer (`src/quic/connection.ts`)
 * on `node:dgram` sockets through `runReducer`, which merges datagrams, the reducer's timer and application
 * commands, so the same reducer runs here and in virtual time.
 *
 * Streams (open, write, end, read, priorities), close with a 62-bit application error code (rapid or
 * RFC-compliant), and a server that demultiplexes connections by Destination Connection ID. A stream's inbound
 * data waits in a single-consumer queue (`inbound.ts`) and the receive windows re-open only as the application
 * takes it (the reducer's `consumed` input), so a slow reader blocks the peer instead of growing a buffer.
 * Stream writes are demand-driven: `write()` answers false once a stream's unsent bytes reach `highWaterMark`,
 * `drain$` says when to go on, and `send(chunk)` completes only then, so `concatMap((c) => stream.send(c))`
 * keeps a fast source at the pace of the wire (the reducer's `sendBuffer` facts, `streamSendBuffer`).
 */
import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { literalLookup } from '../node/udpLookup.js';
import { Observable, ReplaySubject, Subject, asapScheduler, defer, merge, scheduled, type ObservableInput, type SchedulerLike } from 'rxjs';
import type { TlsSession } from '../handshake/session.js';
import { inboundQueue, type InboundQueue } from './inbound.js';
import { checkPriority, type StreamPriority } from '../quic/priority.js';
import { isLocal, isRetiredStream, peerAllowsStream, streamSendBuffer, type FlowFrameCounts } from '../quic/streams.js';
import { acceptNewToken, sealNewToken, tokenType, TokenType } from '../quic/tokens.js';
import type { QuicTokenCache } from './quicTokenCache.js';
import { runReducer, type Pending, type Ticker } from './runReducer.js';
import type { Ticking } from './dtlsTypes.js';
import { TlsError, asTlsError, assertNever, misuse } from '../core/errors.js';
import { keyLogLine } from '../handshake/events.js';
import { sessionToOffer } from './resumableSession.js';
import type { CertificateVerifier } from '../crypto/verifier.js';
import { checkServerIdentity } from '../crypto/identity.js';
import { exportKeyingMaterial } from '../handshake/exporter.js';
import { createVerifier } from '../node/verifier.js';
import { connectionInfo } from './connectionInfo.js';
import { guarded, loadIdentity, numTickets, tickets, withIdentityCheck } from './options.js';
import type { ClientOptions, ConnectionInfo, PemInput, SecureOptions, ServerOptions, SessionCache } from './types.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { checkQuicSettings, createQuicConnection, handleQuicEvents, nextQuicTimeout, quicShutdownProgress, type QuicConfig, type QuicEffect, type QuicInput, type QuicState } from '../quic/connection.js';
import { checkCloseCode, type QuicShutdownProgress } from '../quic/shutdown.js';
import { bytesArg, integerOption, shown } from '../core/validate.js';
import { callbackFailed, contained, reportCallbackError } from './callbacks.js';
import { decodePacketHeader } from '../wire/quic/packet.js';
import { checkClientInitial, type InitialRejection } from '../quic/accept.js';
import { encodeRetryPacket, openRetryToken, sealRetryToken, TOKEN_KEY_LENGTH } from '../quic/retry.js';
import { bytesEqual } from '../wire/bytes.js';
import { versionNegotiationFor } from '../quic/versionNegotiation.js';
import { nobleProvider } from '../crypto/noble.js';
import { keyLogFromEnvironment, keyLogToFile } from '../node/keyLogFile.js';
import { RESET_KEY_LENGTH, statelessResetFor } from '../quic/statelessReset.js';
import { qlogHeader, qlogRecord, type QlogEvent } from '../quic/qlog.js';
import { qlogToDirectory, type QlogWriter } from '../node/qlogFile.js';

/**
 * Socket buffers of 2 MiB each way (the kernel caps them at net.core.rmem_max / wmem_max): a window's burst
 * that arrives while the event loop is busy waits in the kernel instead of being dropped there. Destinations
 * that are IP literals are not looked up on a later tick ({@link literalLookup}).
 */
const SOCKET_BUFFERS = { recvBufferSize: 2 << 20, sendBufferSize: 2 << 20, lookup: literalLookup as SocketOptions['lookup'] } as const;

/**
 * What the readers take is told to the reducer (a `consumed` input: receive credit) once it adds up to this many
 * bytes across the connection's streams, or a quarter of the smaller receive window: one step per batch instead
 * of one per datagram read. Credit goes out once half a window was read, so what is held back here (under a
 * quarter of either window) never keeps a sender blocked.
 */
const CONSUME_BATCH = 16 * 1024;

/** The stream commands of a stream's sending half: one the reducer refuses after the peer's STOP_SENDING raced it is dropped (`drive`). */
const STREAM_COMMANDS: ReadonlySet<QuicInput['type']> = new Set(['write', 'end', 'resetStream', 'priority']);

/** RFC 9000 §2.1: bit 1 of a stream ID is its direction (1: unidirectional). */
const isUni = (id: number): boolean => (id & 2) !== 0;

/** One QUIC stream of a connection. */
export interface QuicStream {
  readonly id: number;
  /**
   * The peer's data on this stream, every chunk as it arrives (push mode, for a fast reader); completes at its
   * FIN; errors with a `quicStreamReset` {@link TlsError} (its `code`) when the peer resets the stream
   * (RESET_STREAM) — that stream only, the connection goes on. Data waits for the first subscriber; a stream has
   * one reader: `data$` or {@link receive}, once. Each chunk handed over re-opens the peer's credit (RFC 9000 §4),
   * so a stream nobody reads holds its share of the connection window: read it, unsubscribe (what waits and what
   * follows is dropped and credited), or {@link stopSending}.
   */
  readonly data$: Observable<Uint8Array>;
  /**
   * The peer's data pulled one chunk at a time (pull mode, `concatMap`-like): the next chunk goes to `project`
   * when the previous projection completed, and only then does the peer get credit for it, so a slow reader
   * keeps at most the receive windows buffered while the peer is blocked (it sends STREAM_DATA_BLOCKED).
   *
   * @example
   * ```ts
   * stream.receive((chunk) => from(writeToDisk(chunk))).subscribe();
   * ```
   */
  receive<R>(project: (chunk: Uint8Array) => ObservableInput<R>): Observable<R>;
  /** Bytes received and not yet taken by the reader (at most the stream's receive window). */
  readonly bufferedBytes: number;
  /**
   * Change how this stream's data is scheduled among the others (RFC 9218 §4): `urgency` 0 (first) to 7
   * (default 3), `incremental` (round-robin with streams of the same urgency) or not (default: one stream's data
   * after another's). Throws `apiMisuse` for an urgency out of range.
   */
  setPriority(priority: Partial<StreamPriority>): void;
  /**
   * Queue data (always taken, never refused), and say whether to go on: `false` once the stream's
   * {@link unsentBytes} reach `highWaterMark` (the connection's option, default 256 KiB) — stop writing then and
   * wait for {@link drain$}, as with a Node stream's `write()`. Flow control and congestion control pace the
   * wire; this is what keeps a writer from queueing faster than that. Throws `apiMisuse` at the call, the
   * connection going on, once the stream was reset (by {@link reset} or the peer's STOP_SENDING) or ended
   * ({@link end}), on the peer's unidirectional stream, and for data that is neither a string nor a Uint8Array
   * (a `Buffer` is one; an ArrayBuffer, a DataView or a Uint16Array is not).
   */
  write(data: Uint8Array | string): boolean;
  /**
   * Write one chunk with backpressure: the chunk is written at subscription (in subscription order), and the
   * Observable completes once the stream can take more — at once while its unsent bytes stay under
   * `highWaterMark`, else at the next {@link drain$}. So `concatMap((c) => stream.send(c))` holds a fast source
   * to the wire's pace, with at most `highWaterMark` + one chunk unsent. Errors with the stream's
   * `quicStreamReset` {@link TlsError} when its sending half is reset, and with a `transport` one when the
   * connection closes while it waits. Emits nothing.
   *
   * ```
   * source$:   -a-b-c-----------d-|
   *            concatMap((c) => stream.send(c))      // a, b under the mark; c crosses it
   * drain$:    ---------------x----                  // the unsent bytes fell to half the mark
   * written:   -a-b-c---------------d|               // d waits: its turn comes after c's send completes
   * ```
   *
   * @example
   * ```ts
   * from(readChunks(file)).pipe(concatMap((chunk) => stream.send(chunk))).subscribe({ complete: () => stream.end() });
   * ```
   * @see {@link drain$}, {@link unsentBytes}
   */
  send(data: Uint8Array | string): Observable<never>;
  /**
   * Bytes written on this stream and not yet put in a packet (what the stream's send buffer holds besides the
   * packets in flight, which congestion and flow control bound).
   */
  readonly unsentBytes: number;
  /**
   * Emits when the stream can take more after {@link write} answered false (its unsent bytes fell to half of
   * `highWaterMark`: Node's `'drain'`); completes when the connection closes or the sending half is reset.
   */
  readonly drain$: Observable<void>;
  /** Send FIN: later writes throw `apiMisuse` (so does `end()` on the peer's unidirectional stream). */
  end(): void;
  /** Abandon sending (RFC 9000 RESET_STREAM with a 62-bit application `code`): unsent and lost data is dropped. */
  reset(code: bigint): void;
  /** Ask the peer to stop sending (RFC 9000 STOP_SENDING with `code`): `data$` completes, later data is dropped. */
  stopSending(code: bigint): void;
  /**
   * Emits once, with a `quicStreamReset` {@link TlsError}, when our sending half ends early: the peer's
   * STOP_SENDING (its code) or our own {@link reset}; completes with the connection otherwise.
   */
  readonly writeStopped$: Observable<TlsError>;
}

/**
 * An established QUIC connection. It is also its own {@link Ticker} (OpenSSL's `SSL_get_event_timeout` /
 * `SSL_handle_events`): with `ticking: 'manual'` its timers (probe timeout, idle timeout, closing period) run
 * only when `handleEvents()` is called; with `'auto'` (the default) the scheduler runs them and the two
 * methods are informative (`handleEvents()` only runs a due timer early).
 */
export interface QuicConnection extends Ticker {
  /** What was negotiated, and the peer's leaf certificate described (`peerCertificate`), as on a TLS connection. */
  readonly info: ConnectionInfo;
  /**
   * Keying material exported from this connection: TLS 1.3's exporter (RFC 8446 §7.5, `"tls13 "` labels, which
   * QUIC keeps, RFC 9001 §5.1), as node:tls `exportKeyingMaterial`: `length` bytes for `label` (ASCII, 1..249 characters) and an optional `context`. Both ends get the same bytes.
   * Throws `apiMisuse` for a bad label or length.
   *
   * @example
   * ```ts
   * const binding = conn.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding');
   * ```
   */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array;
  /**
   * Open a new stream: bidirectional, or unidirectional (send only) with `{ uni: true }`; `priority` as in
   * {@link QuicStream.setPriority}.
   */
  openStream(opts?: { readonly uni?: boolean; readonly priority?: Partial<StreamPriority> }): QuicStream;
  /** Flow-control counters (frames this end queued) and bytes received but not yet read, for monitoring. */
  stats(): QuicConnectionStats;
  /** Bidirectional streams the peer opens (a server's include those opened in 0-RTT, before the handshake completed). */
  readonly incoming$: Observable<QuicStream>;
  /**
   * Resumable sessions from the server's NewSessionTickets (RFC 9001 §4.6), each with the server's transport
   * parameters a client remembers for 0-RTT (RFC 9000 §7.4.1); give one as `session` to a later `quicConnect`.
   * Replays what came before subscription; completes when the connection ends. A server's never emits.
   */
  readonly sessions$: Observable<TlsSession>;
  /**
   * A client's streams of `quicConnect({ earlyData })`, one per write in order (IDs 0, 4, 8, …), to read the
   * answers from. Empty otherwise.
   */
  readonly earlyStreams: readonly QuicStream[];
  /**
   * Close (OpenSSL `SSL_shutdown_ex`), without waiting: RFC-compliant by default (the reducer's `graceful`
   * mode: the streams flushed, then a closing period of 3×PTO), `rapid` (one CONNECTION_CLOSE),
   * `noStreamFlush` (compliant, but the CONNECTION_CLOSE goes now). `errorCode` is an application error code
   * in [0, 2^62 − 1] (default 0): anything else throws an `apiMisuse` {@link TlsError} and sends nothing. The
   * first call's code and reason are the ones sent; a later `rapid` call hastens a compliant close in progress.
   * The reason is cut to fit the packet (at a UTF-8 character boundary).
   */
  close(opts?: QuicShutdownOptions): void;
  /**
   * {@link close}, observed: emits `'inProgress'` (OpenSSL's 0) at once and `'complete'` (1) when the
   * connection is closed, then completes. Errors with `apiMisuse` (nothing sent) for a code out of range.
   */
  shutdown(opts?: QuicShutdownOptions): Observable<Exclude<QuicShutdownProgress, 'none'>>;
  /** How far the shutdown has gone: `'none'`, `'inProgress'` or `'complete'` (a peer's close counts too). */
  shutdownState(): QuicShutdownProgress;
  /**
   * Update the 1-RTT keys (RFC 9001 §6): at once if permitted, else as soon as the previous update is
   * acknowledged. Keys are also updated by themselves before the AEAD limits (§6.6).
   */
  keyUpdate(): void;
  /**
   * Move to a new local UDP socket (connection migration, RFC 9000 §9.2): a client binds a fresh socket, sends
   * from it to one of the server's unused connection IDs (§9.5) and validates the new path with a
   * PATH_CHALLENGE; the old socket is closed. Resolves once the new socket is bound and in use (validation goes
   * on in the background). Rejects with `apiMisuse` on a server's connection, before the handshake is
   * confirmed, or when the server sent disable_active_migration.
   *
   * @example
   * ```ts
   * await conn.migrate(); // e.g. after the network changed; streams go on
   * ```
   */
  migrate(): Promise<void>;
  /**
   * Completes when the connection is over, and for our own close whatever its application error code; errors
   * with a {@link TlsError} for the peer's close with a non-zero code, a protocol error or a timeout.
   */
  readonly closed$: Observable<never>;
  /**
   * This connection's qlog events (draft-ietf-quic-qlog-quic-events, `src/quic/qlog.ts`) from the moment of
   * subscription, with the `qlog` option (any form, `true` included); completes when the connection is over.
   * Without the option no event is made and it only completes.
   */
  readonly qlog$: Observable<QlogEvent>;
}

/** Counters of one {@link QuicConnection}. */
export interface QuicConnectionStats {
  /** MAX_DATA / MAX_STREAM_DATA (credit we gave) and DATA_BLOCKED / STREAM_DATA_BLOCKED (we were held) queued. */
  readonly flowFrames: FlowFrameCounts;
  /** Bytes of all streams received and not yet taken by their readers. */
  readonly bufferedBytes: number;
  /** Bytes of all streams written and not yet put in a packet ({@link QuicStream.unsentBytes} summed). */
  readonly unsentBytes: number;
}

/** Options of {@link QuicConnection.close} and {@link QuicConnection.shutdown} (OpenSSL `SSL_shutdown_ex`). */
export interface QuicShutdownOptions {
  /** Application error code, [0, 2^62 − 1] (default 0). */
  readonly errorCode?: bigint;
  readonly reason?: string;
  /** One CONNECTION_CLOSE and closed at once (`SSL_SHUTDOWN_FLAG_RAPID`). */
  readonly rapid?: boolean;
  /** Do not wait for the streams to be flushed (`SSL_SHUTDOWN_FLAG_NO_STREAM_FLUSH`). */
  readonly noStreamFlush?: boolean;
}

/** Options shared by both ends. */
interface QuicCommon {
  readonly alpn: readonly string[];
  readonly idleTimeout?: number;
  /** Connection-level receive window, bytes (default 1 MiB): the most the peer's data can hold buffered. */
  readonly maxData?: number;
  /** Per-stream receive window, bytes (default 256 KiB). */
  readonly maxStreamData?: number;
  /**
   * Streams of each kind (bidirectional, unidirectional) the peer may have open at once (default 100): its
   * initial limit, raised by MAX_STREAMS as its streams finish (RFC 9000 §4.6), so a connection carries any number
   * of streams over its life. A non-negative integer.
   */
  readonly maxStreams?: number;
  /**
   * Per stream: the unsent bytes (written, not yet in a packet) at which `write()` answers false and `send()`
   * waits for `drain$`, bytes (default 256 KiB); `drain$` follows at half of it. A positive integer.
   */
  readonly highWaterMark?: number;
  /**
   * The largest UDP payload path MTU discovery may raise datagrams to (RFC 9000 §14.3), bytes: default 1452;
   * 1200 keeps every datagram at 1200; at most 65527 (a loopback or jumbo-frame path carries more than 1452).
   */
  readonly maxDatagramSize?: number;
  /** The congestion controller: `'cubic'` (RFC 9438, default) or `'newreno'` (RFC 9002 §7). */
  readonly congestionControl?: 'newreno' | 'cubic';
  readonly provider?: CryptoProvider;
  readonly scheduler?: SchedulerLike;
  /**
   * Who runs the timers. `'auto'` (default): the scheduler arms each deadline of the reducer (QUIC ticks
   * implicitly, as OpenSSL's QUIC does). `'manual'`: nothing is armed; the application calls `handleEvents()`
   * when `eventTimeout()` says 0 — on the connection, the listener, or, during a client's handshake, the
   * {@link Ticker} given to `onTicker`. Until then no probe is sent and no deadline passes.
   */
  readonly ticking?: Ticking;
  /**
   * Called when a connection starts (before its first datagram), with its {@link Ticker}: the way to tick a
   * handshake in `'manual'` mode, before the {@link QuicConnection} exists. If it throws, that connection fails
   * with an `apiMisuse` {@link TlsError} naming it (`quicConnect` errors with it; nothing is sent).
   */
  readonly onTicker?: (ticker: Ticker) => void;
  /**
   * NSS key log (SSLKEYLOGFILE format, the TLS 1.3 labels: Wireshark decrypts QUIC with them): a function
   * receives each line, a string is a file the lines are appended to. Absent: `SSLKEYLOGFILE` from the
   * environment, if set (`false` refuses it). Debugging only: a function that throws is reported once with
   * `console.warn` and the connection goes on.
   */
  readonly keyLog?: ((line: string) => void) | string | false;
  /**
   * qlog (draft-ietf-quic-qlog-main-schema, JSON-SEQ as ngtcp2 writes it; loadable in qvis), for debugging: a
   * directory (Node only) gets one `<ODCID>.sqlog` file per connection, written as the connection goes and
   * complete when it is over; a function receives each connection's file as lines, the header first (each line
   * a JSON-SEQ record: 0x1E, JSON, 0x0A); `true` only makes the events for `qlog$`. Off by default: then the
   * reducer builds no event. A function that throws is reported once with `console.warn` and the connection
   * goes on.
   */
  readonly qlog?: string | ((record: string) => void) | true;
  /**
   * Your own UDP socket (`node:dgram`, bound or not: an unbound one is bound to `port`/`host` for a listener,
   * to any port for a client). The adapter adds its listeners and removes them when done, and does not close a
   * socket it did not create unless `closeSocket` is true. A client's `migrate()` moves to a socket of its own
   * and leaves yours open.
   */
  readonly socket?: Socket;
  /** Close `socket` when the connection (or listener) is done (default: only a socket the adapter created). */
  readonly closeSocket?: boolean;
}

/** Our certificate chain and key, as for TLS: `cert` + `key` (`passphrase` for an encrypted key), or `pfx`. */
type QuicIdentity = Pick<SecureOptions, 'pfx' | 'passphrase'> & { readonly cert?: PemInput; readonly key?: string | Uint8Array };

/** Options of {@link quicConnect}. */
export interface QuicConnectOptions extends QuicCommon, QuicIdentity {
  readonly host: string;
  readonly port: number;
  readonly servername?: string;
  /** PEM trust anchors (default: the system roots). */
  readonly ca?: string;
  /**
   * A verifier of your own instead of the one made from `ca` (as on `connect`): it sees the chain, and an
   * exception refuses it.
   */
  readonly verifier?: CertificateVerifier;
  /** node:tls `checkServerIdentity`, as on `connect`: replaces the host name check after the chain verified. */
  readonly checkServerIdentity?: ClientOptions['checkServerIdentity'];
  // cert / key / pfx / passphrase (QuicIdentity): a client certificate, for a server with `requestCert`.
  /** The QUIC version to offer (default 1): only to test version negotiation (RFC 9000 §6); see `QuicConfig.version`. */
  readonly version?: number;
  /**
   * Address validation tokens from servers' NEW_TOKEN frames (RFC 9000 §8.1.3), kept per server name and port
   * (`createQuicTokenCache`): one is taken out and put in the next connection's first Initial, so a server that
   * validates addresses with a Retry can skip it. Share one cache between connections.
   */
  readonly tokenCache?: QuicTokenCache;
  /**
   * A session to resume (RFC 9001 §4.6), from {@link QuicConnection.sessions$}: takes precedence over
   * `sessionCache`; offered only to the same server name, within its lifetime.
   */
  readonly session?: TlsSession;
  /**
   * Where sessions are taken from and stored (`createSessionCache`), as for `connect`: a cached session is taken
   * out when offered (tickets are single use); the connection's newest session is stored when it closed cleanly
   * (our close, or the peer's with no error).
   */
  readonly sessionCache?: SessionCache;
  /** The cache key (default `servername:port`). */
  readonly sessionKey?: string;
  /**
   * 0-RTT (RFC 9001 §4.6.1): each entry is written, with a FIN, on a bidirectional stream of its own
   * ({@link QuicConnection.earlyStreams}) right after the first Initial — in 0-RTT packets when the resumed
   * session allows it, within the server's remembered limits. Whether the server took it is
   * `info.earlyData` (`accepted` / `rejected` / `none`); refused data is sent again in 1-RTT by the connection
   * itself, so it arrives once either way. 0-RTT data can be replayed by an attacker: only idempotent requests.
   */
  readonly earlyData?: readonly (Uint8Array | string)[];
}

/** Options of {@link quicListen}. */
/**
 * Session tickets on `quicListen` are as on `listen`: issued by default (`ticketer`, or one from `ticketKey`, else
 * the process's), `numTickets` per connection (default 2), `antiReplay` making each ticket single use.
 */
type QuicTickets = Pick<ServerOptions, 'ticketKey' | 'ticketer' | 'numTickets' | 'antiReplay'>;

export interface QuicListenOptions extends QuicCommon, QuicIdentity, QuicTickets {
  readonly host?: string;
  readonly port?: number;
  // The server's identity (QuicIdentity), required: `cert` + `key` (PEM or DER, `passphrase` for an encrypted
  // key), or `pfx` + `passphrase` (PKCS#12).
  /** Ask clients for a certificate, verified against `ca` (default: the system roots) or `verifier`. */
  readonly requestCert?: boolean;
  /** With `requestCert`: refuse a client without a valid certificate (default true), as on `listen`. */
  readonly rejectUnauthorized?: boolean;
  /** With `requestCert`: the trust anchors of client certificates (PEM). */
  readonly ca?: string;
  /** With `requestCert`: a verifier of your own for client chains. */
  readonly verifier?: CertificateVerifier;
  /**
   * Connections allowed in the handshake at once (default 100): a new client's Initial beyond it is dropped
   * (the client retries on its probe timeout). Each costs a TLS handshake state until it completes, fails or
   * times out, and the Initial keys are public, so anyone can start one.
   */
  readonly maxHandshakingConnections?: number;
  /**
   * Accept 0-RTT (RFC 9001 §4.6): any positive value turns it on (QUIC tickets then say max_early_data_size
   * 0xffffffff, §4.6.1: flow control is what limits 0-RTT). Default 0: tickets allow no 0-RTT. 0-RTT on a ticket
   * is refused when a transport parameter it relied on went down since (RFC 9000 §7.4.1), and every ticket is
   * accepted once (`antiReplay`).
   */
  readonly maxEarlyData?: number;
  /**
   * Validate every new client's address with a Retry first (RFC 9000 §8.1.2): its first Initial draws a Retry
   * (about 100 bytes, nothing kept), and a connection opens for the Initial that comes back with the token.
   * Without it, a Retry answers only the Initials beyond `maxHandshakingConnections` (instead of dropping them).
   */
  readonly retry?: boolean;
  /**
   * The key of this listener's address validation tokens (16 bytes, AES-128-GCM; default: random per
   * listener). With a key given, every client also gets a NEW_TOKEN after its handshake (RFC 9000 §8.1.3): a
   * token bound to its IP address, valid for 24 h, that validates its next connection without a Retry. Keep the
   * key secret; give listeners that should accept each other's tokens the same one.
   */
  readonly tokenKey?: Uint8Array;
  /**
   * The key of the connections' stateless reset tokens (RFC 9000 §10.3.2), 32 bytes (default: random per
   * listener). A short-header packet for a connection ID no connection owns is answered with a stateless reset
   * made from this key, so a listener restarted with the same key ends the old listener's connections at once
   * instead of leaving them to time out. Keep it secret: with it anyone can reset the connections.
   */
  readonly statelessResetKey?: Uint8Array;
}

/** Counters of a {@link quicListen} listener, for monitoring and tests. */
export interface QuicListenerStats {
  /** Connections created since the listener started (each for a client Initial that passed every check). */
  readonly created: number;
  /** Connections in the handshake now (counted against `maxHandshakingConnections`). */
  readonly handshaking: number;
  /** Connections open now, in the handshake or established. */
  readonly open: number;
  /** Datagrams for no connection that opened none, by reason (see `src/quic/accept.ts`), and over the bound. */
  readonly dropped: Readonly<Record<InitialRejection | 'handshakeLimit' | 'invalidToken', number>>;
  /** Retry packets sent (RFC 9000 §8.1.2). */
  readonly retries: number;
  /** Connections whose client address a NEW_TOKEN token validated, without a Retry (RFC 9000 §8.1.3). */
  readonly tokensAccepted: number;
  /** Version Negotiation packets sent (RFC 9000 §6.1). */
  readonly versionNegotiations: number;
  /** Stateless resets sent (RFC 9000 §10.3), for short-header packets of unknown connections. */
  readonly statelessResets: number;
}

/** A bound {@link quicListen} listener. */
export interface QuicListener {
  /** The bound UDP port. */
  readonly port: number;
  /** One value per completed handshake; completes when the listener closes. */
  readonly connections: Observable<QuicConnection>;
  stats(): QuicListenerStats;
  /** The earliest deadline of every connection, ms from now (0 when due, `undefined` when none). */
  eventTimeout(): number | undefined;
  /** Run the due timers of every connection; harmless when none is due (the `'manual'` ticking of a server). */
  handleEvents(): void;
  /** Close the socket; connections in progress are abandoned. */
  close(): Promise<void>;
}

/**
 * A stream's handle and what drives it: its data, the end of its sending half, and its write demand: `unreduced`
 * bytes written and not yet reduced (a write made while a step is being emitted waits in `runReducer`'s queue),
 * and `full` as the last `sendBuffer` fact said.
 */
type StreamEntry = {
  inbound: InboundQueue;
  stopped: Subject<TlsError>;
  writeStopped?: TlsError;
  handle: QuicStream;
  unreduced: number;
  full: boolean;
  drain: Subject<void>;
  /** `end()` was called: later writes are API misuse (thrown by `write()`, never by the run loop). */
  ended?: boolean;
};

/** The socket side of one connection: where its datagrams go, and what it learns of paths and connection IDs. */
interface DriveIo {
  /** A datagram for the current path. */
  send(datagram: Uint8Array): void;
  /** A datagram for `address` (`host:port`), not the current path: a PATH_RESPONSE to a probe (RFC 9000 §8.2.2). */
  sendTo?(datagram: Uint8Array, address: string): void;
  /** Sends go to `address` from now on (RFC 9000 §9.3). */
  pathChanged?(address: string): void;
  /** Our connection ID `id` was issued, or retired by the peer: packets to it route here, or no more. */
  idIssued?(id: Uint8Array): void;
  idRetired?(id: Uint8Array): void;
  /** A client got a NEW_TOKEN token for its next connection (RFC 9000 §8.1.3). */
  newToken?(token: Uint8Array): void;
  /** Where this connection's qlog goes (only with a `qlog` directory or function). */
  readonly qlog?: QlogWriter;
  /** A client moves to a new local socket, then calls `migrated` (the reducer's `migrate` input). */
  migrate?(migrated: () => void): Promise<void>;
}

/** `host:port` as the reducer sees addresses (the port after the last colon). */
const addressOf = (r: { readonly address: string; readonly port: number }): string => `${r.address}:${r.port}`;
const splitAddress = (a: string): { host: string; port: number } => ({ host: a.slice(0, a.lastIndexOf(':')), port: Number(a.slice(a.lastIndexOf(':') + 1)) });

/** Drives one connection's reducer: inputs in, effects acted on; `ready` emits the connection once established. */
function drive(initial: QuicState, io: DriveIo, opts: QuicCommon, role: 'client' | 'server') {
  const scheduler = opts.scheduler;
  let ticker: Ticker | undefined;
  const inputs = new Subject<Pending<QuicInput>>();
  const streams = new Map<number, StreamEntry>();
  /**
   * Commands of our streams opened beyond what the peer allows at once (RFC 9000 §4.6), by stream ID: they wait
   * here, in order, and go to the reducer when its MAX_STREAMS let the stream open, as a client's requests wait for
   * a server's stream credit. Only once connected: before, the reducer keeps 0-RTT commands itself.
   */
  const held = new Map<number, Pending<QuicInput>[]>();
  const streamInput = (id: number, input: Pending<QuicInput>) => {
    const queue = held.get(id);
    if (queue) queue.push(input);
    else if (isLocal(id, role) && latest.phase === 'connected' && !peerAllowsStream(latest.streams, latest.peerParams, id)) held.set(id, [input]);
    else inputs.next(input);
  };
  /**
   * Streams the peer's credit now allows get their commands, lowest ID first (when the reducer is idle; feeding them
   * makes it idle again, so a call made meanwhile returns and this one goes on).
   */
  let releasing = false;
  const releaseHeld = () => {
    if (releasing) return;
    releasing = true;
    try {
      for (const id of [...held.keys()].sort((a, b) => a - b)) {
        if (!peerAllowsStream(latest.streams, latest.peerParams, id)) break;
        const queue = held.get(id);
        held.delete(id);
        for (const input of queue ?? []) inputs.next(input);
      }
    } finally {
      releasing = false;
    }
  };
  const incoming = new Subject<QuicStream>();
  // A server's streams opened in 0-RTT arrive before the connection is handed over: kept for `incoming$`.
  const beforeReady: QuicStream[] = [];
  const sessions = new ReplaySubject<TlsSession>(16);
  const earlyStreams: QuicStream[] = [];
  const ready = new Subject<QuicConnection>();
  const closed = new Subject<never>();
  const qlog$ = new Subject<QlogEvent>();
  const next = { bidi: role === 'client' ? 0 : 1, uni: role === 'client' ? 2 : 3 };
  const keyLogSink = keyLogSinkOf(opts.keyLog);
  /** Whether we may send on stream `id`: all but the peer's unidirectional streams (RFC 9000 §2.1). */
  const canSend = (id: number): boolean => isLocal(id, role) || !isUni(id);
  let progress: QuicShutdownProgress = 'none';
  const progress$ = new Subject<'complete'>();
  const requestClose = (o: QuicShutdownOptions = {}) => {
    checkCloseCode(o.errorCode ?? 0n); // API misuse throws here, before anything is queued or sent
    if (progress === 'none') progress = 'inProgress';
    inputs.next({ type: 'close', mode: o.rapid ? 'rapid' : 'graceful', errorCode: o.errorCode ?? 0n, reason: o.reason ?? '', ...(o.noStreamFlush ? { noStreamFlush: true } : {}) });
  };

  const streamError = (id: number, code: bigint, direction: 'send' | 'receive', local: boolean) => {
    const what = direction === 'receive' ? (local ? 'we stopped reading it' : 'the peer reset it') : local ? 'we reset it' : 'the peer stopped reading it';
    return new TlsError({ kind: 'quicStreamReset', stream: id, code, direction, local, reason: `stream ${id}: ${what} with application error 0x${code.toString(16)}` });
  };
  const writeStopped = (s: StreamEntry, err: TlsError) => {
    if (s.writeStopped) return;
    s.writeStopped = err;
    s.stopped.next(err);
    s.stopped.complete();
    waiting.delete(s);
    s.drain.complete();
  };
  // Write demand: the reducer's mark; the streams whose `write` answered false, checked whenever it is idle.
  const highWaterMark = initial.config.sendHighWaterMark;
  const waiting = new Set<StreamEntry>();
  let connectionClosed: TlsError | undefined;
  const unsentOf = (id: number, s: StreamEntry) => streamSendBuffer(latest.streams, id).unsent + s.unreduced;
  const drainWaiting = () => {
    for (const s of [...waiting]) {
      // Every write reduced and the reducer's buffer not full (so under the mark): the writer may go on.
      if (s.unreduced > 0 || s.full) continue;
      waiting.delete(s);
      s.drain.next();
    }
  };
  // Bytes the readers took, per stream, not yet told to the reducer: fed as `consumed` inputs between steps,
  // once they add up to `consumeBatch` (see CONSUME_BATCH).
  const taken = new Map<number, number>();
  let takenTotal = 0;
  const consumeBatch = Math.min(CONSUME_BATCH, initial.config.maxStreamData / 4, initial.config.maxData / 4);
  const wake = new Subject<void>();
  // Streams whose peer data ended (FIN), and those of them read to the end: their `consumed` goes to the reducer
  // at once, whatever the batch, so that the reducer can retire the stream and give the peer its credit back.
  const ended = new Set<number>();
  const readToEnd = new Set<number>();
  const checkReadToEnd = (id: number, s: StreamEntry) => {
    if (!ended.has(id) || s.inbound.queuedBytes > 0 || !taken.has(id)) return;
    readToEnd.add(id);
    wake.next();
  };
  const stream = (id: number): StreamEntry => {
    let s = streams.get(id);
    if (!s) {
      const inbound = inboundQueue({
        what: `QUIC stream ${id}'s data`,
        onTaken: (bytes) => {
          taken.set(id, (taken.get(id) ?? 0) + bytes);
          takenTotal += bytes;
          if (takenTotal >= consumeBatch) wake.next();
          else checkReadToEnd(id, entry);
        },
      });
      const stopped = new Subject<TlsError>();
      const drain = new Subject<void>();
      const write = (data: Uint8Array | string): boolean => {
        // Checked here, at the call: the same mistake found by the reducer inside the run loop would end the
        // whole connection, and a Uint8Array whose `length` lies would size the copies (bytesArg).
        if (entry.writeStopped) throw misuse(`write(): ${entry.writeStopped.message}`);
        const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : bytesArg('write(): data', data);
        if (entry.ended) throw misuse(`write(): stream ${id} was already ended (end() was called)`);
        if (!canSend(id)) throw misuse(`write(): stream ${id} is the peer's unidirectional stream: it only receives`);
        entry.unreduced += bytes.length;
        streamInput(id, { type: 'write', stream: id, data: bytes });
        const room = connectionClosed === undefined && !entry.full && unsentOf(id, entry) < highWaterMark;
        if (!room && connectionClosed === undefined && !entry.writeStopped) waiting.add(entry);
        return room;
      };
      const entry: StreamEntry = {
        inbound,
        stopped,
        unreduced: 0,
        full: false,
        drain,
        handle: {
          id,
          data$: inbound.observable,
          receive: (project) => inbound.receive(project),
          get bufferedBytes() {
            return inbound.queuedBytes;
          },
          setPriority: (p) => {
            const priority = checkPriority(p);
            if (!canSend(id)) throw misuse(`setPriority(): stream ${id} is the peer's unidirectional stream: it only receives`);
            streamInput(id, { type: 'priority', stream: id, ...priority });
          },
          write,
          send: (data) =>
            new Observable<never>((sub) => {
              if (connectionClosed) return sub.error(connectionClosed);
              if (entry.writeStopped) return sub.error(entry.writeStopped);
              let room: boolean;
              try {
                room = write(data);
              } catch (err) {
                return sub.error(err);
              }
              if (room) return sub.complete();
              const drained = drain.subscribe({ next: () => sub.complete(), complete: () => sub.error(entry.writeStopped ?? connectionClosed) });
              return () => drained.unsubscribe();
            }),
          get unsentBytes() {
            return unsentOf(id, entry);
          },
          drain$: drain.asObservable(),
          end: () => {
            if (!canSend(id)) throw misuse(`end(): stream ${id} is the peer's unidirectional stream: it only receives`);
            entry.ended = true;
            streamInput(id, { type: 'end', stream: id });
          },
          reset: (code) => {
            checkCloseCode(code);
            if (!canSend(id)) throw misuse(`reset(): stream ${id} is the peer's unidirectional stream: it only receives`);
            streamInput(id, { type: 'resetStream', stream: id, errorCode: code });
            writeStopped(entry, streamError(id, code, 'send', true));
          },
          stopSending: (code) => {
            checkCloseCode(code);
            if (isLocal(id, role) && isUni(id)) throw misuse(`stopSending(): stream ${id} is our unidirectional stream: it only sends`);
            streamInput(id, { type: 'stopSending', stream: id, errorCode: code });
            inbound.complete();
          },
          writeStopped$: stopped.asObservable(),
        },
      };
      s = entry;
      streams.set(id, s);
    }
    return s;
  };

  const announce = (handle: QuicStream) => {
    if (ready.isStopped) incoming.next(handle);
    else beforeReady.push(handle);
  };

  const onEffect = (e: QuicEffect) => {
    switch (e.type) {
      case 'transmit':
        io.send(e.data);
        return;
      case 'transmitTo':
        io.sendTo?.(e.data, e.address);
        return;
      case 'pathChanged':
        io.pathChanged?.(e.address);
        return;
      case 'connectionIdIssued':
        io.idIssued?.(e.id);
        return;
      case 'connectionIdRetired':
        io.idRetired?.(e.id);
        return;
      case 'keyLog':
        keyLogSink?.(keyLogLine(e)); // contained: never throws (keyLogSinkOf)
        return;
      case 'newToken':
        io.newToken?.(e.token);
        return;
      case 'qlog':
        io.qlog?.event(e.event); // contained: never throws (qlogWriterOf)
        qlog$.next(e.event);
        return;
      case 'session':
        sessions.next(e.session);
        return;
      case 'earlyData':
        return;
      case 'sendBuffer': {
        const s = streams.get(e.stream);
        if (s) s.full = e.full; // a waiting writer is told when the reducer is idle (`drainWaiting`)
        return;
      }
      case 'handshakeComplete':
        ready.next({
          info: connectionInfo(e.info),
          exportKeyingMaterial: (length, label, context) => {
            if (!latest.handshake) throw new TlsError({ kind: 'apiMisuse', reason: 'exportKeyingMaterial(): the connection is closed' });
            return exportKeyingMaterial(latest.handshake, label, context, length);
          },
          openStream: (o = {}) => {
            const kind = o.uni ? 'uni' : 'bidi';
            const id = next[kind];
            const handle = stream(id).handle;
            if (o.priority) handle.setPriority(o.priority); // API misuse throws before the ID is taken
            next[kind] += 4;
            return handle;
          },
          stats: () => {
            let bufferedBytes = 0;
            let unsentBytes = 0;
            for (const [id, s] of streams) {
              bufferedBytes += s.inbound.queuedBytes;
              unsentBytes += unsentOf(id, s);
            }
            return { flowFrames: latest.streams.flowFrames, bufferedBytes, unsentBytes };
          },
          // Streams opened in 0-RTT come just after subscription (not during it: a subscriber may still be wiring up).
          incoming$: defer(() => merge(incoming, scheduled(beforeReady.splice(0), asapScheduler))),
          sessions$: sessions.asObservable(),
          earlyStreams,
          close: requestClose,
          shutdown: (o) =>
            new Observable<'inProgress' | 'complete'>((sub) => {
              try {
                requestClose(o);
              } catch (err) {
                sub.error(err);
                return;
              }
              if (progress === 'complete') {
                sub.next('complete');
                sub.complete();
                return;
              }
              sub.next('inProgress');
              return progress$.subscribe(sub);
            }),
          shutdownState: () => progress,
          closed$: closed.asObservable(),
          qlog$: qlog$.asObservable(),
          keyUpdate: () => inputs.next({ type: 'keyUpdate' }),
          migrate: async () => {
            // The reducer's preconditions, checked here so that misuse rejects instead of failing the connection.
            if (!io.migrate) throw new TlsError({ kind: 'apiMisuse', reason: 'migrate(): only a client migrates (RFC 9000 §9)' });
            if (latest.phase !== 'connected' || !latest.spaces.handshake.discarded) throw new TlsError({ kind: 'apiMisuse', reason: 'migrate(): not before the handshake is confirmed (RFC 9000 §9)' });
            if (latest.peerParams?.disableActiveMigration) throw new TlsError({ kind: 'apiMisuse', reason: 'migrate(): the server sent disable_active_migration (RFC 9000 §18.2)' });
            // The socket is bound asynchronously: a connection that began closing meanwhile is not migrated.
            await io.migrate(() => {
              if (latest.phase === 'connected') inputs.next({ type: 'migrate' });
            });
          },
          eventTimeout: () => ticker?.eventTimeout(),
          handleEvents: () => ticker?.handleEvents(),
        });
        ready.complete();
        return;
      case 'deliver': {
        const fresh = !streams.has(e.stream);
        const s = stream(e.stream);
        if (fresh) announce(s.handle);
        s.inbound.next(e.data);
        return;
      }
      case 'peerClosed': {
        const fresh = !streams.has(e.stream);
        const s = stream(e.stream);
        if (fresh) announce(s.handle);
        ended.add(e.stream);
        s.inbound.complete();
        checkReadToEnd(e.stream, s);
        return;
      }
      case 'streamReset': {
        const fresh = !streams.has(e.stream);
        const s = stream(e.stream);
        if (fresh) announce(s.handle);
        s.inbound.error(streamError(e.stream, e.errorCode, 'receive', false));
        return;
      }
      case 'stopSending': {
        const fresh = !streams.has(e.stream);
        const s = stream(e.stream);
        if (fresh) announce(s.handle);
        writeStopped(s, streamError(e.stream, e.errorCode, 'send', false));
        return;
      }
      case 'closed': {
        sessions.complete();
        connectionClosed = new TlsError({ kind: 'transport', reason: `the QUIC connection closed before the stream's data was taken${e.error ? `: ${e.error.message}` : ''}` });
        waiting.clear();
        for (const s of streams.values()) {
          s.inbound.complete();
          s.stopped.complete();
          s.drain.complete();
        }
        incoming.complete();
        io.qlog?.end();
        qlog$.complete();
        progress = 'complete';
        progress$.next('complete');
        progress$.complete();
        if (!ready.closed && !ready.isStopped) ready.error(e.error ?? new TlsError({ kind: 'transport', reason: 'closed before the handshake completed' }));
        // Our own close is a clean end for us, whatever application code we sent (H3_NO_ERROR is 0x100).
        const ours = e.error?.detail.kind === 'quicClose' && e.error.detail.local && e.error.detail.application;
        if (e.error && !ours) closed.error(e.error);
        else closed.complete();
        return;
      }
      default:
        return assertNever(e);
    }
  };

  /** The `consumed` input of what the readers took of stream `id`, no longer counted as taken. */
  const consumed = (id: number, bytes: number): Pending<QuicInput> => {
    taken.delete(id);
    if (taken.size === 0) takenTotal = 0;
    return { type: 'consumed', stream: id, bytes };
  };

  /** The reducer's state after the latest step (what exportKeyingMaterial reads; never changed here). */
  let latest = initial;
  /**
   * The reducer retired streams (finished both ways, `retireStreams`): their entries go too, so a long-lived
   * connection keeps entries only for its open streams. A handle the application still holds keeps working as a
   * closed stream's: writes are API misuse, `end`, `reset` and `stopSending` do nothing.
   */
  const forgetRetired = (state: QuicState) => {
    for (const id of streams.keys()) {
      if (!isRetiredStream(state.streams, id)) continue;
      streams.delete(id);
      ended.delete(id);
      readToEnd.delete(id);
    }
  };
  const sub = inputs
    .pipe(
      runReducer({
        handle: (state: QuicState, input: QuicInput) => {
          if (input.type === 'write') {
            const s = streams.get(input.stream);
            if (s) s.unreduced -= input.data.length;
          }
          let step: ReturnType<typeof handleQuicEvents>;
          try {
            step = handleQuicEvents(state, input);
          } catch (err) {
            // A stream command the handle let through (its checks passed at the call) and the reducer refuses
            // raced the peer: a STOP_SENDING reduced between the call and the command (`writeStopped$` told the
            // application). It is dropped, as the reducer drops the commands that race the close, instead of
            // ending the whole connection. Anything else errors the run.
            const raced = STREAM_COMMANDS.has(input.type) && streams.get((input as { readonly stream: number }).stream)?.writeStopped !== undefined;
            if (err instanceof TlsError && err.kind === 'apiMisuse' && raced) return { state, effects: [] };
            throw err;
          }
          // A close the peer (or an error) began counts as a shutdown in progress too.
          if (progress === 'none' && quicShutdownProgress(step.state) === 'inProgress') progress = 'inProgress';
          if (step.state.streams.retired !== latest.streams.retired) forgetRetired(step.state);
          latest = step.state;
          return step;
        },
        nextTimeout: nextQuicTimeout,
        initial,
        // What the readers took goes to the reducer between steps, one `consumed` input per stream, once it adds
        // up to a batch.
        pull: () => {
          for (const id of readToEnd) {
            readToEnd.delete(id);
            const bytes = taken.get(id);
            if (bytes === undefined) continue;
            takenTotal -= bytes; // this stream's bytes leave the batch the others wait in
            return consumed(id, bytes);
          }
          if (takenTotal < consumeBatch) return undefined;
          const first = taken.entries().next();
          if (first.done) {
            takenTotal = 0;
            return undefined;
          }
          return consumed(...first.value);
        },
        wake$: wake,
        onIdle: () => {
          if (held.size > 0) releaseHeld();
          if (waiting.size > 0) drainWaiting();
        },
        ...(scheduler ? { scheduler } : {}),
        autoTick: opts.ticking !== 'manual',
        ticker: (t) => {
          ticker = t;
          if (!opts.onTicker) return;
          try {
            opts.onTicker(t);
          } catch (err) {
            // The application's hook failed: this connection fails with a TlsError naming it (see `onTicker`).
            throw callbackFailed('onTicker', err);
          }
        },
      }),
    )
    .subscribe({
      next: onEffect,
      // The run failed (API misuse found by the reducer, a failing onTicker): a handshake in progress fails
      // with it — a client's subscriber hears of it, instead of waiting forever — and so does `closed$`.
      error: (err: unknown) => {
        const e = asTlsError(err);
        if (!ready.closed && !ready.isStopped) ready.error(e);
        closed.error(e);
      },
    });
  /**
   * A client's 0-RTT writes, one stream each with a FIN: now if the reducer offered 0-RTT (after `start`), else
   * once the handshake completes (`handshakeComplete` runs `pendingEarly`).
   */
  let pendingEarly: (() => void) | undefined;
  const writeEarly = (chunks: readonly (Uint8Array | string)[]) => {
    const go = () => {
      pendingEarly = undefined;
      for (const chunk of chunks) {
        const handle = stream(next.bidi).handle;
        next.bidi += 4;
        earlyStreams.push(handle);
        handle.write(chunk);
        handle.end();
      }
    };
    if (latest.zeroRtt?.status === 'offered') go();
    else pendingEarly = go;
  };
  ready.subscribe({ next: () => pendingEarly?.(), error: () => {} }); // the handshake's failure is reported by quicConnect
  return {
    inputs,
    ready,
    closed,
    sessions,
    writeEarly,
    /** This connection's clock handle (see {@link Ticker}). */
    ticker: (): Ticker | undefined => ticker,
    /** Stop driving the connection: nothing more is sent or reported. */
    stop: () => {
      sub.unsubscribe();
      io.qlog?.end();
    },
    /** Drop the connection: a `silent` close (nothing on the wire, the state released), then stop. */
    abandon: () => {
      inputs.next({ type: 'close', mode: 'silent' });
      sub.unsubscribe();
      io.qlog?.end();
    },
  };
}

/**
 * The connection settings both ends take from their options: idle timeout, receive windows, send mark, datagram
 * size, congestion control, qlog. The adapter's own options (`highWaterMark`, `ticking`, the callbacks) are
 * checked here; the reducer's settings by {@link checkedSettings}.
 */
function windows(opts: QuicCommon): Pick<QuicConfig, 'idleTimeout' | 'maxData' | 'maxStreamData' | 'maxStreams' | 'sendHighWaterMark' | 'maxDatagramSize' | 'congestionControl' | 'qlog'> {
  const mark = opts.highWaterMark;
  if (mark !== undefined) integerOption('highWaterMark', mark, 0, 1, Number.MAX_SAFE_INTEGER);
  if (opts.ticking !== undefined && opts.ticking !== 'auto' && opts.ticking !== 'manual') throw misuse(`ticking must be 'auto' or 'manual', got ${shown(opts.ticking)}`);
  if (opts.onTicker !== undefined && typeof opts.onTicker !== 'function') throw misuse(`onTicker must be a function, got ${shown(opts.onTicker)}`);
  const { keyLog, qlog } = opts;
  if (keyLog !== undefined && keyLog !== false && typeof keyLog !== 'string' && typeof keyLog !== 'function') throw misuse(`keyLog must be a function, a file name or false, got ${shown(keyLog)}`);
  if (qlog !== undefined && qlog !== true && typeof qlog !== 'string' && typeof qlog !== 'function') throw misuse(`qlog must be a directory, a function or true, got ${shown(qlog)}`);
  return {
    ...(opts.maxStreams !== undefined ? { maxStreams: opts.maxStreams } : {}),
    ...(mark !== undefined ? { sendHighWaterMark: mark } : {}),
    ...(opts.congestionControl !== undefined ? { congestionControl: opts.congestionControl } : {}),
    ...(qlog !== undefined ? { qlog: true } : {}),
    ...(opts.maxDatagramSize !== undefined ? { maxDatagramSize: opts.maxDatagramSize } : {}),
    ...(opts.idleTimeout !== undefined ? { idleTimeout: opts.idleTimeout } : {}),
    ...(opts.maxData !== undefined ? { maxData: opts.maxData } : {}),
    ...(opts.maxStreamData !== undefined ? { maxStreamData: opts.maxStreamData } : {}),
  };
}

/**
 * {@link windows}, with everything the reducer will check when a connection is made — ALPN, the windows, the
 * idle timeout, datagram size, congestion control (`checkQuicSettings`) — checked now, when `quicConnect` or
 * `quicListen` is called: API misuse there, never an error at the first packet (for a listener, inside the
 * socket's message handler, where it would end the process).
 */
function checkedSettings(opts: QuicCommon, role: 'client' | 'server', tls: QuicConfig['tls']): ReturnType<typeof windows> {
  const settings = windows(opts);
  checkQuicSettings({ role, tls, ...settings });
  return settings;
}

/**
 * A client's token for `key` from the application's token cache: a cache that throws or answers something that
 * is not bytes is reported once (`console.warn`, as {@link contained}) and the connection goes on without a
 * token (a Retry, at worst).
 */
function takeToken(cache: QuicTokenCache | undefined, key: string): Uint8Array | undefined {
  if (!cache) return undefined;
  let token: unknown;
  try {
    token = cache.take(key);
  } catch (err) {
    reportCallbackError('tokenCache.take', cache, err);
    return undefined;
  }
  if (token === undefined || token === null) return undefined;
  if (token instanceof Uint8Array && token.length === token.byteLength) return token;
  reportCallbackError('tokenCache.take', cache, new Error(`it answered ${shown(token)}, not a Uint8Array`));
  return undefined;
}

/** The client's TLS configuration: the verifier (`ca`, or the application's, then `checkServerIdentity`), ALPN, SNI, identity. */
function tlsClient(opts: QuicConnectOptions): QuicConfig['tls'] {
  const base = opts.verifier !== undefined ? guarded(opts.verifier) : createVerifier(opts.ca !== undefined ? { ca: opts.ca } : {});
  return {
    verifier: withIdentityCheck(base, opts.checkServerIdentity),
    alpnProtocols: opts.alpn,
    ...(opts.servername ? { serverName: opts.servername } : {}),
    ...(opts.keyLog ? { keyLog: true } : {}),
    ...loadIdentity(opts),
  };
}

/** The server's TLS configuration: its identity (required, checked), ALPN, and client certificates when asked. */
function tlsServer(opts: QuicListenOptions): QuicConfig['tls'] {
  const identity = loadIdentity(opts);
  if (!identity.certificateChain || !identity.privateKey) {
    throw new TlsError({ kind: 'apiMisuse', reason: 'quicListen needs `cert` and `key`, or `pfx`' });
  }
  checkServerIdentity(identity.certificateChain, identity.privateKey);
  const request = opts.requestCert === true;
  return {
    ...identity,
    alpnProtocols: opts.alpn,
    ...(opts.keyLog ? { keyLog: true } : {}),
    // Tickets as on `listen`; 0-RTT on them only with `maxEarlyData` (its size is moot in QUIC, RFC 9001 §4.6.1).
    ...tickets(opts),
    ...numTickets(opts),
    ...(opts.maxEarlyData ? { maxEarlyData: opts.maxEarlyData } : {}),
    ...(request
      ? {
          requestClientCertificate: true,
          requireClientCertificate: opts.rejectUnauthorized !== false,
          verifier: opts.verifier !== undefined ? guarded(opts.verifier) : createVerifier(opts.ca !== undefined ? { ca: opts.ca } : {}),
        }
      : {}),
  };
}

/**
 * Where one connection's qlog goes: a directory (`<ODCID>.sqlog`, `qlogToDirectory`), or a function given the
 * JSON-SEQ records, the header first (contained: see {@link contained}); none for `true` (the events go to
 * `qlog$` only).
 */
function qlogWriterOf(qlog: QuicCommon['qlog'], vantagePoint: 'client' | 'server', odcid: Uint8Array): QlogWriter | undefined {
  if (qlog === undefined || qlog === true) return undefined;
  const header = { vantagePoint, odcid, referenceTime: Date.now() };
  if (typeof qlog === 'string') return qlogToDirectory(qlog, header);
  let started = false;
  const sink = contained('qlog function', qlog);
  return {
    event: (e) => {
      if (!started) sink(qlogHeader(header));
      started = true;
      sink(qlogRecord(e));
    },
    end: () => {},
  };
}

/** Whether a UDP socket is bound (`address()` throws ERR_SOCKET_DGRAM_NOT_RUNNING until it is). */
function isBound(socket: Socket): boolean {
  try {
    socket.address();
    return true;
  } catch {
    return false;
  }
}

/** Where key log lines go: a function (contained: see {@link contained}), or a file appended to (`keyLogToFile`). */
function keyLogSinkOf(keyLog: QuicCommon['keyLog']): ((line: string) => void) | undefined {
  if (typeof keyLog === 'function') return contained('keyLog function', keyLog);
  if (typeof keyLog !== 'string' || keyLog === '') return undefined;
  const file = keyLogToFile(keyLog);
  return (line) => file.next?.(line);
}

/**
 * Connect over QUIC to `host:port` (UDP). Emits the connection once the handshake completes, then completes;
 * errors if it fails. Unsubscribing before that abandons the attempt. With `ticking: 'manual'` no timer is
 * armed: tick the handshake through the {@link Ticker} given to `onTicker` (at subscription), then the
 * connection itself (`eventTimeout()` / `handleEvents()`).
 *
 * @example
 * ```ts
 * quicConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', alpn: ['echo'] }).subscribe((conn) => {
 *   const s = conn.openStream();
 *   s.data$.subscribe({ next: (d) => console.log(d), complete: () => conn.close() });
 *   s.write('hello');
 *   s.end();
 * });
 * ```
 */
export function quicConnect(given: QuicConnectOptions): Observable<QuicConnection> {
  if (typeof given !== 'object' || given === null) throw misuse(`quicConnect needs options, got ${shown(given)}`);
  const opts = keyLogFromEnvironment(given);
  // Options are checked now: API misuse throws here, not at subscription (nor inside the run loop, later).
  if (typeof opts.host !== 'string' || opts.host === '') throw misuse(`host must be a host name or an IP address, got ${shown(opts.host)}`);
  integerOption('port', opts.port, 0, 1, 65535);
  if (opts.earlyData !== undefined) {
    if (!Array.isArray(opts.earlyData)) throw misuse(`earlyData must be a list of chunks, got ${shown(opts.earlyData)}`);
    for (const chunk of opts.earlyData as unknown[]) if (typeof chunk !== 'string') bytesArg('earlyData: each chunk', chunk);
  }
  const tls = tlsClient(opts);
  const settings = checkedSettings(opts, 'client', tls);
  return new Observable<QuicConnection>((subscriber) => {
    const family = opts.host.includes(':') ? 'udp6' : 'udp4';
    // RFC 9000 §8.1.3: a token from this server's NEW_TOKEN, used once, for this connection's first Initial.
    const tokenKey = `${opts.servername ?? opts.host}:${opts.port}`;
    const token = takeToken(opts.tokenCache, tokenKey);
    // Resumption: the given session, else one taken out of the cache (tickets are single use, RFC 8446 §8).
    const sessionKey = opts.sessionKey ?? tokenKey;
    const session = sessionToOffer(opts.session, opts.sessionCache, sessionKey);
    const state = createQuicConnection({
      role: 'client',
      tls: { ...tls, ...(session ? { session } : {}), ...(opts.earlyData?.length ? { earlyData: true } : {}) },
      ...(opts.version !== undefined ? { version: opts.version } : {}),
      ...(token ? { token } : {}),
      ...settings,
      ...(opts.provider ? { provider: opts.provider } : {}),
    });
    // A socket of the application's stays open when we are done with it, unless `closeSocket` says otherwise.
    // Made after what may throw above, so that nothing is left open by a failed subscription.
    const given = opts.socket;
    let socket: Socket = given ?? createSocket({ type: family, ...SOCKET_BUFFERS });
    // Datagrams handed to each socket and not yet sent: a socket closes only after its last one (a final
    // CONNECTION_CLOSE must not be dropped by closing under it; nor the datagrams of a socket left by migrate()).
    const sending = new Map<Socket, number>();
    const closeWanted = new Set<Socket>();
    const detach: (() => void)[] = [];
    const closeWhenSent = (sock: Socket) => {
      closeWanted.add(sock);
      if ((sending.get(sock) ?? 0) > 0) return;
      closeWanted.delete(sock);
      sending.delete(sock);
      if (sock === given && opts.closeSocket !== true) {
        for (const off of detach.splice(0)) off();
        return;
      }
      try {
        sock.close();
      } catch {
        // already closed
      }
    };
    const closeSocket = () => closeWhenSent(socket);
    const send = (data: Uint8Array) => {
      const sock = socket;
      sending.set(sock, (sending.get(sock) ?? 0) + 1);
      sock.send(data, opts.port, opts.host, () => {
        sending.set(sock, sending.get(sock)! - 1);
        if (closeWanted.has(sock)) closeWhenSent(sock);
      });
    };
    const attach = (sock: Socket) => {
      const onMessage = (data: Buffer, from: RemoteInfo) => {
        // A view, not a copy: dgram gives each message a buffer of its own.
        if (sock === socket) d.inputs.next({ type: 'datagram', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), from: addressOf(from) });
      };
      const onError = (err: Error) => {
        if (sock === socket) subscriber.error(new TlsError({ kind: 'transport', reason: err.message }));
      };
      sock.on('message', onMessage);
      sock.on('error', onError);
      if (sock === given) detach.push(() => sock.off('message', onMessage).off('error', onError));
    };
    /** RFC 9000 §9.2: a new local socket; the old one is closed once its datagrams are out (what arrives there is lost). */
    const migrate = (migrated: () => void) =>
      new Promise<void>((resolve, reject) => {
        const next = createSocket({ type: family, ...SOCKET_BUFFERS });
        next.once('error', reject);
        next.bind(0, () => {
          next.off('error', reject);
          const old = socket;
          socket = next;
          attach(next);
          closeWhenSent(old);
          migrated();
          resolve();
        });
      });
    const qlog = qlogWriterOf(opts.qlog, 'client', state.originalDcid);
    const tokenCache = opts.tokenCache;
    const putToken = tokenCache && contained('tokenCache.put', (t: Uint8Array) => tokenCache.put(tokenKey, t));
    const d = drive(state, { send, migrate, ...(putToken ? { newToken: putToken } : {}), ...(qlog ? { qlog } : {}) }, opts, 'client');
    attach(socket);
    d.closed.subscribe({ complete: closeSocket, error: closeSocket });
    // Only a connection that closed cleanly leaves its newest session in the cache (as `connect` does).
    if (opts.sessionCache) {
      const cache = opts.sessionCache;
      const store = contained('sessionCache.set', (s: TlsSession) => cache.set(sessionKey, s));
      let newest: TlsSession | undefined;
      d.sessions.subscribe((s) => (newest = s));
      d.closed.subscribe({ complete: () => newest && store(newest), error: () => {} });
    }
    let handedOver = false;
    d.ready.subscribe({
      next: (c) => {
        handedOver = true;
        subscriber.next(c);
      },
      error: (err) => subscriber.error(err),
      complete: () => subscriber.complete(),
    });
    const begin = () => {
      d.inputs.next({ type: 'start' });
      if (opts.earlyData?.length) d.writeEarly(opts.earlyData);
    };
    // The attempt may have failed already (a throwing onTicker): its socket is closed, nothing to bind.
    if (subscriber.closed) return;
    if (given && isBound(given)) begin();
    else socket.bind(0, begin);
    // Unsubscribed before the handshake completed: abandon the attempt (once handed over, the connection
    // lives until it is closed).
    return () => {
      if (handedOver) return;
      d.abandon();
      closeSocket();
    };
  });
}

/**
 * Listen for QUIC connections on a UDP port. Connections are told apart by their Destination Connection ID.
 * A datagram for an unknown DCID opens a connection only when it is a client Initial that passes
 * `checkClientInitial` (QUIC v1, a datagram of 1200 bytes or more, a DCID of 8 bytes or more, decrypts under
 * its Initial keys, carries CRYPTO data) and fewer than `maxHandshakingConnections` are in the handshake; else
 * it is dropped and counted in `stats().dropped`, with nothing allocated. With `ticking: 'manual'` no connection
 * arms a timer: call the listener's `handleEvents()` when its `eventTimeout()` says 0. Resolves once bound; `close()` closes the socket (connections in progress are abandoned). Rejects with a
 * `TlsError` (`apiMisuse`) before opening a socket when `cert`/`key` or `pfx` do not load (a wrong `passphrase`
 * included), the chain is empty or the key does not match the first certificate (see `checkServerIdentity`).
 */
export async function quicListen(given: QuicListenOptions): Promise<QuicListener> {
  if (typeof given !== 'object' || given === null) throw misuse(`quicListen needs options, got ${shown(given)}`);
  const opts = keyLogFromEnvironment(given);
  // Checked before the socket exists (nothing to clean up), and so that no setting fails, or throws from the
  // socket's message handler, when the first client's Initial arrives.
  const tls = tlsServer(opts);
  const settings = checkedSettings(opts, 'server', tls);
  integerOption('maxHandshakingConnections', opts.maxHandshakingConnections, 100, 0, Number.MAX_SAFE_INTEGER);
  if (opts.port !== undefined) integerOption('port', opts.port, 0, 0, 65535);
  if (opts.tokenKey && opts.tokenKey.length !== TOKEN_KEY_LENGTH) throw new TlsError({ kind: 'apiMisuse', reason: `tokenKey of ${opts.tokenKey.length} bytes: ${TOKEN_KEY_LENGTH} needed` });
  if (opts.statelessResetKey && opts.statelessResetKey.length !== RESET_KEY_LENGTH) {
    throw new TlsError({ kind: 'apiMisuse', reason: `statelessResetKey must be ${RESET_KEY_LENGTH} bytes` });
  }
  const socket = opts.socket ?? createSocket({ type: (opts.host ?? '127.0.0.1').includes(':') ? 'udp6' : 'udp4', ...SOCKET_BUFFERS });
  const closeSocket = opts.socket === undefined || opts.closeSocket === true;
  const connections = new Subject<QuicConnection>();
  const byCid = new Map<string, ReturnType<typeof drive>>();
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const provider = opts.provider ?? nobleProvider;
  const maxHandshaking = opts.maxHandshakingConnections ?? 100;
  let created = 0;
  let handshaking = 0;
  let open = 0;
  // The key of our tokens (RFC 9000 §8.1.3): the configured one, or this listener's own, never stored.
  const tokenKey = opts.tokenKey?.slice() ?? provider.randomBytes(TOKEN_KEY_LENGTH);
  let retries = 0;
  let tokensAccepted = 0;
  let versionNegotiations = 0;
  let statelessResets = 0;
  const statelessResetKey = opts.statelessResetKey ?? provider.randomBytes(RESET_KEY_LENGTH);
  const dropped: Record<InitialRejection | 'handshakeLimit' | 'invalidToken', number> = {
    notQuicV1: 0,
    notInitial: 0,
    shortDatagram: 0,
    shortDcid: 0,
    undecryptable: 0,
    noClientHello: 0,
    handshakeLimit: 0,
    invalidToken: 0,
  };

  const onMessage = (data: Buffer, from: RemoteInfo) => {
    const datagram = new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // its own buffer: a view
    let dcid: Uint8Array;
    let header: ReturnType<typeof decodePacketHeader>;
    try {
      const h = (header = decodePacketHeader(datagram, 0, 8));
      if (h.form === 'versionNegotiation') return;
      dcid = h.dcid;
    } catch {
      // RFC 9000 §6.1: a version we do not speak, in a datagram of 1200 bytes or more, draws a Version
      // Negotiation packet (smaller than that datagram, nothing kept); anything else undecodable is dropped.
      const vn = versionNegotiationFor(datagram);
      if (vn) {
        socket.send(vn, from.port, from.address);
        versionNegotiations++;
      } else dropped.notQuicV1++;
      return;
    }
    let d = byCid.get(hex(dcid));
    if (!d && header.form === 'short') {
      // RFC 9000 §10.3: a packet for a connection we do not know (forgotten, or another listener's with our key)
      // is answered with a stateless reset, smaller than it (§10.3.3); nothing is kept.
      const reset = statelessResetFor(provider, statelessResetKey, datagram, dcid, (n) => provider.randomBytes(n));
      if (reset) {
        socket.send(reset, from.port, from.address);
        statelessResets++;
      } else dropped.notInitial++;
      return;
    }
    if (!d) {
      // A new connection only for a client Initial that passes every check, decryption included, and within
      // the bound on handshakes: nothing (no state, no timer) is allocated for a datagram that fails.
      const check = checkClientInitial(provider, datagram);
      if (!check.ok) {
        dropped[check.reason]++;
        return;
      }
      // RFC 9000 §8.1.2: a Retry when asked for, or instead of refusing past the bound; the token brings back
      // what the connection needs (§7.3), so nothing is kept meanwhile.
      const address = `${from.address}:${from.port}`;
      const token = header.form === 'long' ? header.token : new Uint8Array(0);
      let retried: { originalDcid: Uint8Array; retrySourceCid: Uint8Array } | undefined;
      let validated = false;
      if (token.length > 0 && tokenType(token) === TokenType.newToken) {
        // RFC 9000 §8.1.3: a NEW_TOKEN token of ours for this IP address, within its lifetime, validates the
        // address; one that fails is as good as none (a Retry or a plain handshake below).
        validated = acceptNewToken(provider, tokenKey, token, from.address, Date.now());
        if (validated) tokensAccepted++;
      } else if (token.length > 0) {
        const content = openRetryToken(provider, tokenKey, token, address, Date.now());
        // A Retry token that fails: its Initial is dropped (the client gave up its first DCID).
        if (content && bytesEqual(content.retryScid, dcid)) retried = { originalDcid: content.originalDcid, retrySourceCid: content.retryScid };
        else {
          dropped.invalidToken++;
          return;
        }
      }
      if (!retried && !validated && (opts.retry || handshaking >= maxHandshaking) && header.form === 'long') {
        const retryScid = provider.randomBytes(8);
        const sealed = sealRetryToken(provider, tokenKey, provider.randomBytes(12), address, { originalDcid: dcid, retryScid, issuedAt: Date.now() });
        socket.send(encodeRetryPacket(provider, { dcid: header.scid, scid: retryScid, token: sealed, originalDcid: dcid }), from.port, from.address);
        retries++;
        return;
      }
      if (handshaking >= maxHandshaking) {
        dropped.handshakeLimit++;
        return;
      }
      // With a configured key, a NEW_TOKEN for the client's next connection (sent once the handshake completes).
      const issue = opts.tokenKey ? sealNewToken(provider, tokenKey, provider.randomBytes(12), from.address, Date.now()) : undefined;
      const state = createQuicConnection({
        role: 'server',
        tls,
        ...settings,
        ...(opts.provider ? { provider: opts.provider } : {}),
        ...(retried ? { retried } : {}),
        ...(issue || validated ? { newToken: { ...(issue ? { issue } : {}), validated } } : {}),
        statelessResetKey,
      });
      // The client's address, until the connection follows it elsewhere (RFC 9000 §9.3, a `pathChanged` effect).
      let remote = { host: from.address, port: from.port };
      const keys = [hex(dcid), hex(state.scid)];
      // The trace is named after the client's original DCID (after a Retry, the one the token carried).
      const qlog = qlogWriterOf(opts.qlog, 'server', retried?.originalDcid ?? dcid);
      const conn: ReturnType<typeof drive> = drive(
        state,
        {
          send: (out) => socket.send(out, remote.port, remote.host),
          sendTo: (out, address) => {
            const to = splitAddress(address);
            socket.send(out, to.port, to.host);
          },
          pathChanged: (address) => {
            remote = splitAddress(address);
          },
          // Packets are routed by any of the connection IDs the connection issued (RFC 9000 §5.1).
          idIssued: (id) => {
            keys.push(hex(id));
            byCid.set(hex(id), conn);
          },
          idRetired: (id) => {
            const k = hex(id);
            const i = keys.indexOf(k);
            if (i >= 0) keys.splice(i, 1);
            byCid.delete(k);
          },
          ...(qlog ? { qlog } : {}),
        },
        opts,
        'server',
      );
      d = conn;
      for (const k of keys) byCid.set(k, conn);
      created++;
      open++;
      handshaking++;
      let inHandshake = true;
      const handshakeOver = () => {
        if (inHandshake) handshaking--;
        inHandshake = false;
      };
      const forget = () => {
        keys.forEach((k) => byCid.delete(k));
        handshakeOver();
        open--;
      };
      conn.closed.subscribe({ complete: forget, error: forget });
      conn.ready.subscribe({
        next: (c) => {
          handshakeOver();
          connections.next(c);
        },
        error: handshakeOver,
      });
      conn.inputs.next({ type: 'start' });
    }
    d.inputs.next({ type: 'datagram', data: datagram, from: addressOf(from) });
  };
  socket.on('message', onMessage);

  if (!isBound(socket)) {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
  }
  return {
    port: socket.address().port,
    connections: connections.asObservable(),
    stats: () => ({ created, handshaking, open, retries, tokensAccepted, versionNegotiations, statelessResets, dropped: { ...dropped } }),
    eventTimeout: () => {
      let min: number | undefined;
      for (const d of new Set(byCid.values())) {
        const t = d.ticker()?.eventTimeout();
        if (t !== undefined && (min === undefined || t < min)) min = t;
      }
      return min;
    },
    handleEvents: () => {
      for (const d of new Set(byCid.values())) d.ticker()?.handleEvents();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const d of new Set(byCid.values())) d.stop();
        byCid.clear();
        connections.complete();
        socket.off('message', onMessage);
        if (closeSocket) socket.close(() => resolve());
        else resolve();
      }),
  };
}
