/**
 * The sans-IO contract shared by every transport (TLS over streams now; DTLS and QUIC over datagrams later).
 *
 * A connection is a pure reducer: `handleEvents(state, input) → { state, effects }`. Inputs carry the current
 * time `now` (milliseconds, from whatever clock the adapter uses: `Date.now()` or a `TestScheduler`'s virtual
 * clock); effects say what the adapter must do. `nextTimeout(state)` answers the next deadline or `undefined`
 * ("infinite", like `SSL_get_event_timeout`). Nothing in the core reads a clock, touches a socket, draws
 * randomness except through the crypto provider, or imports RxJS.
 */
import type { TlsError } from './errors.js';
import type { TlsSession } from '../handshake/session.js';

/** Identifies a stream inside a connection. TLS has one (0); QUIC has many. */
export type StreamId = number;

/** An input to the reducer. Every input carries `now` (ms). */
export type Input =
  /** Begin the connection: a client sends its ClientHello; both sides arm the handshake timer. */
  | { readonly type: 'start'; readonly now: number }
  /**
   * Bytes read from a stream transport (TCP, a WebSocket, an in-memory pipe). Any chunking. The reducer never
   * modifies `data` and may keep views into it in the state it returns (records waiting behind an asynchronous
   * open batch): hand it a buffer you will not reuse (socket chunks are fresh; copy a reused read buffer).
   */
  | { readonly type: 'received'; readonly now: number; readonly data: Uint8Array }
  /** One datagram (DTLS, QUIC). */
  | { readonly type: 'datagram'; readonly now: number; readonly data: Uint8Array; readonly from?: string }
  /** The transport reached EOF (the peer closed its write side or the socket). */
  | { readonly type: 'eof'; readonly now: number }
  /** A deadline returned by `nextTimeout` has passed. */
  | { readonly type: 'timeout'; readonly now: number }
  /** The transport can take more bytes (after backpressure). */
  | { readonly type: 'writable'; readonly now: number }
  /** Application data to send. */
  | { readonly type: 'write'; readonly now: number; readonly data: Uint8Array; readonly stream?: StreamId }
  /** The application completed its output: TLS sends close_notify (half-close). */
  | { readonly type: 'end'; readonly now: number; readonly stream?: StreamId }
  /**
   * Close request. `abort`: tear down without close_notify (unsubscribe). Others are defined by the shutdown
   * protocol (issue 3).
   */
  | {
      readonly type: 'close';
      readonly now: number;
      readonly mode: 'abort' | 'shutdown' | 'unidirectional' | 'quiet';
      /** QUIC: the 62-bit application error code of the CONNECTION_CLOSE (default 0) and its reason phrase. */
      readonly errorCode?: bigint;
      readonly reason?: string;
    }
  /** Ask for a KeyUpdate (RFC 8446 §4.6.3); `requestPeer` sets update_requested. */
  | { readonly type: 'keyUpdate'; readonly now: number; readonly requestPeer: boolean }
  /** Results of an asynchronous crypto job emitted as a `crypto` effect (in job order). */
  /**
   * QUIC mode (RFC 9001 §4): handshake bytes the peer sent in CRYPTO frames at an encryption level, in order
   * (the QUIC layer reassembles each level's stream).
   */
  | { readonly type: 'cryptoData'; readonly now: number; readonly level: QuicLevel; readonly data: Uint8Array }
  | {
      readonly type: 'cryptoDone';
      readonly now: number;
      readonly jobId: number;
      readonly results: readonly (Uint8Array | null)[];
    };

export type InputType = Input['type'];

/** The QUIC encryption levels that carry TLS handshake data (RFC 9001 §4.1.4; 0-RTT carries none). */
export type QuicLevel = 'initial' | 'handshake' | 'oneRtt';

/** What was negotiated, reported once when the handshake completes. */
export interface HandshakeInfo {
  readonly protocol: 'TLSv1.3';
  /** OpenSSL/IANA name, e.g. `TLS_AES_128_GCM_SHA256`. */
  readonly cipherSuite: string;
  /** Key exchange group, OpenSSL spelling (`X25519`, `P-256`, `P-384`), or undefined for psk_ke resumption. */
  readonly group?: string;
  readonly alpn?: string;
  /** SNI sent (client) or received (server). */
  readonly serverName?: string;
  /** Signature scheme of the peer's CertificateVerify (name), if any. */
  readonly peerSignatureScheme?: string;
  /** DER chain of the peer, leaf first (empty when the peer sent none). */
  readonly peerCertificates: readonly Uint8Array[];
  /** Subject of the peer's leaf certificate, e.g. `CN=localhost`. */
  readonly peerSubject?: string;
  /** `ok`, `insecure` (verification disabled), `none` (no certificate requested/sent). */
  readonly verification: 'ok' | 'insecure' | 'none';
  /** True when a PSK from a session ticket was accepted. */
  readonly resumed: boolean;
  /** 0-RTT outcome: `none` (not offered), `accepted`, `rejected`. */
  readonly earlyData: 'none' | 'accepted' | 'rejected';
  /** True when a HelloRetryRequest was exchanged. */
  readonly helloRetry: boolean;
}

/** An effect: an instruction from the reducer to its adapter. */
export type Effect =
  /** Write these bytes to the transport, in order. */
  | { readonly type: 'transmit'; readonly data: Uint8Array }
  /** Deliver decrypted application data to the application. */
  | { readonly type: 'deliver'; readonly data: Uint8Array; readonly stream?: StreamId }
  /** The handshake finished. */
  | { readonly type: 'handshakeComplete'; readonly info: HandshakeInfo }
  /** We sent an alert (warning close_notify or a fatal one). */
  | { readonly type: 'alertSent'; readonly level: number; readonly description: number }
  /** The peer sent an alert. */
  | { readonly type: 'alertReceived'; readonly level: number; readonly description: number }
  /** The peer's close_notify arrived: the inbound direction is complete (`SSL_ERROR_ZERO_RETURN`). */
  | { readonly type: 'peerClosed'; readonly stream?: StreamId }
  /**
   * The connection is over; close the transport. `error` is absent for a clean shutdown. The `shutdown` and
   * `backlog` facts of the same step come before it.
   */
  | { readonly type: 'closed'; readonly error?: TlsError }
  /**
   * `SSL_get_shutdown` changed in this step (emitted once per step that changes it, before a `closed` of the
   * same step): `sent` once our close_notify is queued or sent (or a quiet shutdown marked it), `received` once
   * the peer's close_notify arrived (or an ignored EOF / a quiet shutdown marked it). `eofWithoutCloseNotify`:
   * the input ended by an EOF accepted in place of close_notify (`ignoreUnexpectedEof`), so the shutdown is
   * not clean. A connection that ends with `closed` (no error), `sent` and `received` both true and
   * `eofWithoutCloseNotify` false shut down cleanly — close_notify both ways, unless the adapter itself asked
   * for a quiet shutdown — and its newest `session` is resumable (OpenSSL semantics). Never emitted in QUIC
   * mode (no close_notify there). The same values as `shutdownState(state)`.
   */
  | { readonly type: 'shutdown'; readonly sent: boolean; readonly received: boolean; readonly eofWithoutCloseNotify: boolean }
  /**
   * The write backlog crossed its bound in this step: application bytes taken by `write` and not sealed yet
   * (`bytes`, at the end of the step), and whether that is one seal batch's worth or more (`full`,
   * `maxPipelines` × `splitSendFragment` bytes). Emitted only when `full` changes (only `asyncCrypto`
   * connections ever fill it): an adapter stops feeding `write` inputs while the last one said `full`, as it
   * does while the transport is not writable. The same values as `writeBacklog(state)`.
   */
  | { readonly type: 'backlog'; readonly bytes: number; readonly full: boolean }
  /** A secret for the SSLKEYLOGFILE format (NSS key log). */
  | { readonly type: 'keyLog'; readonly label: string; readonly clientRandom: Uint8Array; readonly secret: Uint8Array }
  /** A resumable session (client), from a NewSessionTicket: store it to resume later. */
  | { readonly type: 'session'; readonly session: TlsSession }
  /**
   * Outcome of 0-RTT: `accepted`, or `rejected` with the early bytes the server did not take, for the
   * application to send again now that the handshake is complete (RFC 8446 §4.2.10).
   */
  | { readonly type: 'earlyData'; readonly accepted: boolean; readonly rejected?: Uint8Array }
  /** An asynchronous crypto job; answer with a `cryptoDone` input carrying the same `jobId`. */
  /** QUIC mode (RFC 9001 §4): handshake bytes to send in CRYPTO frames at an encryption level. */
  | { readonly type: 'cryptoData'; readonly level: QuicLevel; readonly data: Uint8Array }
  | {
      readonly type: 'crypto';
      readonly jobId: number;
      readonly op: 'seal' | 'open';
      readonly alg: string;
      readonly key: Uint8Array;
      readonly jobs: readonly { nonce: Uint8Array; aad: Uint8Array; data: Uint8Array }[];
    };

export type EffectType = Effect['type'];

/**
 * The reducer's answer to one input: the new state and the effects, in order. `E` is the transport's effect
 * union ({@link Effect} for TLS, `QuicEffect` for QUIC).
 */
export interface Step<S, E = Effect> {
  readonly state: S;
  readonly effects: readonly E[];
}

/**
 * The inputs every transport takes, each with `now` (ms): `start`, `timeout` (a deadline from the transport's
 * `next*Timeout` passed) and `close`, whose `mode` and options `C` each transport defines (TLS: {@link Input}'s
 * `abort`/`shutdown`/…, QUIC: `graceful`/`rapid`/`silent`). A transport's input union is this plus its own.
 */
export type BaseInput<C extends { readonly mode: string } = { readonly mode: string }> =
  | { readonly type: 'start'; readonly now: number }
  | { readonly type: 'timeout'; readonly now: number }
  | ({ readonly type: 'close'; readonly now: number } & C);

/** The effects every transport has: send bytes (one datagram, or stream bytes), handshake done, closed. */
export type BaseEffect = Extract<Effect, { readonly type: 'transmit' | 'handshakeComplete' | 'closed' }>;

/** Timers a connection can arm, each with one deadline (quinn-proto style table). */
export const Timer = {
  /** The whole handshake must finish by this deadline (default 30 s). */
  handshake: 'handshake',
  /** Idle timeout (QUIC, DTLS). */
  idle: 'idle',
  /** Retransmission (DTLS flights, QUIC PTO). */
  retransmit: 'retransmit',
  /** Closing/draining period (QUIC). */
  close: 'close',
} as const;
export type Timer = (typeof Timer)[keyof typeof Timer];
