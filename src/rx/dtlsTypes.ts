/**
 * The RxJS-facing shapes of DTLS 1.3 in rxtls: {@link DtlsConnection} and the options of `secureDatagrams`,
 * `dtlsConnect` and `dtlsListen`. Options are named like the TLS ones (node:tls names) where they mean the same.
 */
import type { Observable } from 'rxjs';
import type { TlsError } from '../core/errors.js';
import type { DtlsStats } from '../dtls/connection.js';
import type { DtlsCloseMode } from '../dtls/types.js';
import type { TlsSession } from '../handshake/session.js';
import type { Ticker } from './runReducer.js';
import type { ClientOptions, ConnectionInfo, ServerOptions } from './types.js';

/** How the timers of a connection run (see {@link DtlsTransportOptions.ticking}). */
export type Ticking = 'auto' | 'manual';

/** What {@link DtlsConnection.send} takes: records, one per value (text is sent as UTF-8). */
export type DtlsRecordSource =
  | Observable<Uint8Array | string>
  | Iterable<Uint8Array | string>
  | AsyncIterable<Uint8Array | string>;

/**
 * An established DTLS 1.3 connection (RFC 9147), emitted once the handshake completed. Unlike TLS, DTLS keeps
 * message boundaries: each value given to `send` is one record, and each value of `inbound$` is one record of
 * the peer. Records are not retransmitted (only handshake messages are): over a lossy link some may be lost
 * or arrive out of order, as the datagrams carrying them.
 *
 * It is also its own {@link Ticker}: `eventTimeout()` and `handleEvents()` are OpenSSL's
 * `SSL_get_event_timeout` / `SSL_handle_events` (`DTLSv1_get_timeout` / `DTLSv1_handle_timeout`); with
 * `ticking: 'manual'` they are the only way its timers (retransmission, ACK, shutdown) run.
 */
export interface DtlsConnection extends Ticker {
  /** What was negotiated, and the peer's leaf certificate described (`peerCertificate`), as on a TLS connection. */
  readonly info: ConnectionInfo;
  /**
   * Keying material exported from this connection (RFC 8446 §7.5 with DTLS 1.3's `"dtls13"` label prefix,
   * RFC 9147 §5.9; what DTLS-SRTP, RFC 5764, takes its keys from): `length` bytes for `label` (ASCII, 1..249
   * characters) and an optional `context`. Both ends get the same bytes. Throws `apiMisuse` for a bad label or
   * length.
   *
   * @example
   * ```ts
   * const srtp = conn.exportKeyingMaterial(60, 'EXTRACTOR-dtls_srtp'); // 2 × (16 B key + 14 B salt)
   * ```
   */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array;
  /** The largest record `send` takes, in bytes: the MTU less the record overhead (at most 2^14). */
  readonly maxRecordSize: number;
  /**
   * The peer's records, one value each, as written. Completes at the peer's close_notify (or when the
   * connection ends cleanly); errors with the {@link TlsError} when the connection fails. Single consumer:
   * values wait until it is subscribed; a second subscription errors with `apiMisuse`.
   */
  readonly inbound$: Observable<Uint8Array>;
  /**
   * Send each value of `records` as one record. Backpressured: the next value is taken only while the
   * connection can write and the datagram transport is not paused (`send` answered `false`, until `drain$`).
   * An Iterable or AsyncIterable is pulled one value at a time; an Observable that pushes while the transport is
   * paused is queued up to `maxOutboundBuffer` bytes, then the send errors with `apiMisuse`.
   * When `records` completes our close_notify is sent and the returned Observable completes (the peer may
   * still send). A record larger than `maxDtlsWrite` (the MTU less the record overhead) errors the send with
   * `apiMisuse` and nothing more is taken from `records`; the connection stays open. So does a record whose
   * ArrayBuffer was detached (transferred away). One `send` at a time.
   *
   * ```
   * records:  -a--b--|
   * send():   -------|        a and b are one record each; | once close_notify is on the wire
   * ```
   */
  send(records: DtlsRecordSource): Observable<never>;
  /**
   * Send a KeyUpdate (RFC 9147 §8); `requestPeer` asks the peer to update too. Throws `apiMisuse` after
   * close_notify, once the connection ended, or while an earlier KeyUpdate waits for its ACK.
   */
  keyUpdate(requestPeer?: boolean): void;
  /**
   * Close: `'shutdown'` (default) sends close_notify and waits up to `shutdownTimeout` for the peer's
   * (a running `send` stops taking records); `'unidirectional'` sends close_notify and ends at once; `'abort'`
   * and `'quiet'` end at once, sending nothing; `'fatal'` sends a fatal internal_error alert and ends at once
   * (the peer sees an abort: UDP has no teardown it would notice). The datagram transport is closed when the
   * connection ends. Over DTLS 1.2 the peer's close_notify is answered with ours and ends the connection
   * (RFC 5246 §7.2.1); over DTLS 1.3 it closes the peer's direction only. An unknown mode throws `apiMisuse`
   * and leaves the connection as it was.
   */
  close(mode?: DtlsCloseMode): void;
  /** Completes when the connection ended cleanly; errors with the {@link TlsError} when it failed. */
  readonly closed$: Observable<never>;
  /**
   * Client: every resumable session the server sent (NewSessionTicket), replayed to late subscribers, as on a
   * TLS connection; completes when the connection ends. Give one back as `session` (or let `sessionCache` keep
   * the newest, stored only after close_notify went both ways) to resume. Servers: completes empty.
   */
  readonly sessions$: Observable<TlsSession>;
  /**
   * The reducer's counters (datagrams in and out, records dropped, retransmissions, ACKs, failed
   * authentications), and `unclaimedDropped`: records dropped because more than 64 KiB waited for an `inbound$`
   * nobody had subscribed yet (a peer cannot fill an application that only writes, or subscribes late).
   */
  stats(): DtlsStats & { readonly unclaimedDropped: number };
}

/** DTLS record-layer settings and ticking, for both roles (see `DtlsRecordConfig` for the defaults). */
export interface DtlsTransportOptions {
  /** Largest datagram we send, bytes of UDP payload (default 1232; at least 256). */
  readonly mtu?: number;
  /** First retransmission timeout of a flight, ms (default 1000, RFC 9147 §5.8.2; lower it where the round trip is known to be short). */
  readonly retransmitInitial?: number;
  /** Cap of the doubling retransmission timeout, ms (default 60 000). */
  readonly retransmitMax?: number;
  /** After our close_notify, how long `close('shutdown')` waits for the peer's, ms (default 2 000). */
  readonly shutdownTimeout?: number;
  /** Anti-replay window per epoch, records (default 64; a multiple of 32, at most 1024). */
  readonly replayWindow?: number;
  /** Bytes of records held while the handshake runs (default 64 KiB). */
  readonly maxPendingWrites?: number;
  /** DTLS 1.3: records under one write epoch before a KeyUpdate is sent on our own (default 2^24, RFC 9147 §4.5.3). */
  readonly keyUpdateAfter?: number;
  /**
   * Speak draft-ietf-tls-dtls13-43 instead of RFC 9147, for peers that predate the RFC (NSS 3.87, Debian 12's
   * `tstclnt`). Default false. See `DtlsRecordConfig.dtlsDraft43`.
   */
  readonly dtlsDraft43?: boolean;
  /**
   * Who runs the timers. `'auto'` (default): the scheduler arms the next deadline and feeds it, as every
   * rxtls connection does. `'manual'`: no timer is ever armed (OpenSSL's explicit DTLS ticking): the
   * application reads `eventTimeout()` and calls `handleEvents()` when it reaches 0 — on the connection, or,
   * during the handshake, on the {@link Ticker} given to `onTicker`. Until then nothing is retransmitted and
   * no deadline (handshake, shutdown) passes.
   */
  readonly ticking?: Ticking;
  /**
   * Called when a connection starts (at subscription, before its first datagram), with the {@link Ticker} of
   * that connection: the way to tick a handshake in `'manual'` mode, before the {@link DtlsConnection} exists.
   * The same ticker keeps working after the handshake (the connection's own methods are equivalent).
   */
  readonly onTicker?: (ticker: Ticker) => void;
  /** Bytes an Observable `send()` source may queue while the transport is paused (default 1 MiB). */
  readonly maxOutboundBuffer?: number;
}

/** The TLS options that apply to DTLS in both roles. */
type DtlsCommonOption =
  | 'ca'
  | 'allowSha1'
  | 'minRsaBits'
  | 'cert'
  | 'key'
  | 'pfx'
  | 'passphrase'
  | 'verifier'
  | 'ALPNProtocols'
  | 'ciphers'
  | 'groups'
  | 'handshakeTimeout'
  | 'provider'
  | 'maxHandshakeMessage'
  | 'scheduler'
  | 'keyLog'
  | 'minVersion'
  | 'maxVersion';

/** Handshake options of a DTLS client: the TLS client options that apply to DTLS. */
export interface DtlsClientOptions
  extends DtlsTransportOptions,
    Pick<
      ClientOptions,
      | DtlsCommonOption
      | 'servername'
      | 'checkServerIdentity'
      | 'rejectUnauthorized'
      | 'keyShareCount'
      | 'psk'
      | 'pskModes'
      | 'session'
      | 'sessionCache'
      | 'sessionKey'
    > {}

/** Handshake options of a DTLS server: the TLS server options that apply to DTLS. */
export interface DtlsServerOptions
  extends DtlsTransportOptions,
    Pick<
      ServerOptions,
      | DtlsCommonOption
      | 'requestCert'
      | 'rejectUnauthorized'
      | 'ticketKey'
      | 'ticketer'
      | 'numTickets'
      | 'antiReplay'
      | 'psks'
      | 'pskCallback'
      | 'pskModes'
    > {}

/** Options of `secureDatagrams`: the role, then the DTLS client or server options. */
export type SecureDatagramsOptions = ({ readonly role: 'client' } & DtlsClientOptions) | ({ readonly role: 'server' } & DtlsServerOptions);

/** Options of `dtlsConnect`: where to, over UDP. */
export interface DtlsConnectOptions extends DtlsClientOptions {
  readonly host: string;
  readonly port: number;
}

/** Options of `dtlsListen`. */
export interface DtlsListenOptions extends DtlsServerOptions {
  /** Address to bind (default `127.0.0.1`). */
  readonly host?: string;
  /** UDP port (default 0: a free one, see `port` of the listener). */
  readonly port?: number;
  /**
   * The stateless cookie exchange (RFC 9147 §5.1), default on: a ClientHello without a valid cookie is answered
   * with a HelloRetryRequest carrying one and nothing is kept for its sender, so a spoofed source address costs
   * the listener no state and the client a round trip. `false` keeps state from the first ClientHello.
   */
  readonly cookie?: boolean;
  /**
   * Connections allowed in the handshake at once (default 100); a ClientHello that would start one more is
   * dropped (the client retransmits it later) and counted in `stats().dropped.handshakeLimit`.
   */
  readonly maxHandshakingConnections?: number;
  /**
   * Called for every connection that fails (a handshake failure or timeout, a later fatal alert), with its
   * `TlsError` and the peer's address. The listener keeps running. Default: ignore. An exception it throws is
   * caught and reported once with `console.warn`: the listener keeps running.
   */
  readonly onError?: (error: TlsError, remote: { readonly address: string; readonly port: number }) => void;
}
