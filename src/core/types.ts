/**
 * The sans-IO contract shared by every transport (TLS over streams, QUIC; DTLS next).
 *
 * A connection is a pure reducer: `handleEvents(state, input) → { state, effects }`. Inputs carry the current
 * time `now` (milliseconds, from whatever clock the adapter uses: `Date.now()` or a `TestScheduler`'s virtual
 * clock); effects say what the adapter must do. `nextTimeout(state)` answers the next deadline or `undefined`
 * ("infinite", like `SSL_get_event_timeout`). Nothing in the core reads a clock, touches a socket, draws
 * randomness except through the crypto provider, or imports RxJS.
 */
import type { CertificateErrorCode, TlsError } from './errors.js';

/** Identifies a stream inside a connection. TLS has one; QUIC has many (RFC 9000 §2.1). */
export type StreamId = number;

/**
 * A negotiated protocol version, named as node:tls `getProtocol()` names it. A union that grows with the
 * protocols rxtls speaks (the DTLS versions next): switch on it with a default branch.
 */
export type ProtocolName = 'TLSv1.3' | 'TLSv1.2' | 'DTLSv1.3' | 'DTLSv1.2';

/** What was negotiated, reported once when the handshake completes. */
export interface HandshakeInfo {
  readonly protocol: ProtocolName;
  /**
   * IANA name, e.g. `TLS_AES_128_GCM_SHA256` (TLS 1.3, the same as OpenSSL's) or
   * `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` (TLS 1.2; node:tls `getCipher().standardName`).
   */
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
  /**
   * `ok`, `insecure` (verification disabled), `none` (no certificate requested/sent), `failed` (a server that
   * requested but did not require a client certificate got one that does not verify: see
   * `verificationError`; node:tls `authorized === false`).
   */
  readonly verification: 'ok' | 'insecure' | 'none' | 'failed';
  /** Why the peer's certificate did not verify, with `verification: 'failed'` (node:tls `authorizationError`). */
  readonly verificationError?: { readonly code: CertificateErrorCode; readonly reason: string };
  /** True when a PSK from a session ticket was accepted. */
  readonly resumed: boolean;
  /**
   * The identity of the external PSK the handshake used (RFC 8446 §4.2.11), as UTF-8 text; absent when none was.
   * Such a handshake has no certificates: the PSK authenticated both sides.
   */
  readonly pskIdentity?: string;
  /** 0-RTT outcome: `none` (not offered), `accepted`, `rejected`. */
  readonly earlyData: 'none' | 'accepted' | 'rejected';
  /** True when a HelloRetryRequest was exchanged. */
  readonly helloRetry: boolean;
}

/**
 * The inputs every transport takes, each with `now` (ms): `start`, `timeout` (a deadline from the transport's
 * `next*Timeout` passed) and `close`, whose `mode` and options `C` each transport defines (TLS:
 * `abort`/`shutdown`/`unidirectional`/`quiet`, QUIC: `graceful`/`rapid`/`silent`). A transport's input union is
 * this plus its own.
 */
export type BaseInput<C extends { readonly mode: string } = { readonly mode: string }> =
  /** Begin the connection: a client sends its first flight; both arm their handshake timers. */
  | { readonly type: 'start'; readonly now: number }
  /** A deadline returned by the transport's timeout query has passed. */
  | { readonly type: 'timeout'; readonly now: number }
  /** Close the connection the way `mode` says. */
  | ({ readonly type: 'close'; readonly now: number } & C);

/** The effects every transport has. */
export type BaseEffect =
  /** Write these bytes to the transport, in order (one datagram each for QUIC and DTLS). */
  | { readonly type: 'transmit'; readonly data: Uint8Array }
  /** The handshake finished with what was negotiated. */
  | { readonly type: 'handshakeComplete'; readonly info: HandshakeInfo }
  /**
   * The connection is over; close the transport. `error` is absent for a clean end. Facts of the same step
   * (TLS `shutdown`, `backlog`) come before it.
   */
  | { readonly type: 'closed'; readonly error?: TlsError };

/** The reducer's answer to one input: the new state and the effects, in order. */
export interface Step<S, E> {
  readonly state: S;
  readonly effects: readonly E[];
}

/**
 * A sans-IO connection: a pure reducer and its timer query (OpenSSL's `SSL_handle_events` and
 * `SSL_get_event_timeout`). TLS (`handleEvents`, `nextTimeout`) and QUIC (`handleQuicEvents`, `nextQuicTimeout`)
 * each fit it with their own input and effect unions; `runReducer` runs any of them.
 */
export interface Reducer<S, I extends { readonly type: string; readonly now: number }, E extends { readonly type: string }> {
  /** Reduce one input. Pure: never mutates `state`; peer faults come back as effects; API misuse throws. */
  readonly handle: (state: S, input: I) => Step<S, E>;
  /** The next absolute deadline in ms (same clock as the inputs' `now`), or `undefined` for none. */
  readonly nextTimeout: (state: S) => number | undefined;
}
