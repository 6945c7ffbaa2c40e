/**
 * The DTLS 1.3 reducer's contract (`handleDtlsEvents` in `src/dtls/connection.ts`): its configuration, inputs
 * ({@link DtlsInput}) and effects ({@link DtlsEffect}). Both share their base shape with every transport
 * (`BaseInput`, `BaseEffect` in `src/core/types.ts`); the rest is DTLS's own: whole datagrams in and out, one
 * application write per record.
 */
import type { BaseEffect, BaseInput } from '../core/types.js';
import type { HandshakeClientConfig, HandshakeServerConfig } from '../handshake/config.js';
import type { TlsSession } from '../handshake/session.js';
import type { TlsCloseMode } from '../tls/types.js';

/**
 * Record-layer settings of a DTLS 1.3 connection (RFC 9147). Every field is optional; the defaults follow the
 * RFC's recommendations.
 */
export interface DtlsRecordConfig {
  /**
   * The largest datagram we send, in bytes of UDP payload: flights are fragmented to fit, and an application
   * write must fit one record in it. Default 1232 (an IPv6 minimum MTU of 1280 less 40 bytes of IPv6 and 8 of
   * UDP header). At least 256.
   */
  readonly mtu?: number;
  /** First retransmission timeout of a flight, ms (default 1000, RFC 9147 §5.8.2; lower it where the round trip is known to be short). */
  readonly retransmitInitial?: number;
  /** The cap the timeout doubles up to, ms (default 60 000, RFC 9147 §5.8.2). */
  readonly retransmitMax?: number;
  /** The handshake must complete within this many ms (default 30 000). */
  readonly handshakeTimeout?: number;
  /** After our close_notify, how long `shutdown` mode waits for the peer's, ms (default 2 000). */
  readonly shutdownTimeout?: number;
  /** Size of each epoch's anti-replay window in records (RFC 9147 §4.5.1; default 64, at most 1024). */
  readonly replayWindow?: number;
  /**
   * Application writes held while the handshake runs (bytes, default 64 KiB): more is refused with
   * `apiMisuse`. Adapters stop writing before that (see `canWrite`).
   */
  readonly maxPendingWrites?: number;
  /**
   * DTLS 1.3: after this many records under one write epoch a KeyUpdate is sent on our own (RFC 9147 §4.5.3, the
   * AEAD limits of RFC 8446 §5.5). Default 2^24, as TLS's `keyUpdateAfter`. Should the peer never acknowledge it,
   * the connection closes before an AES-GCM key protects 2^24.5 records, or any epoch's record numbers run out.
   */
  readonly keyUpdateAfter?: number;
  /**
   * Speak draft-ietf-tls-dtls13-43 instead of RFC 9147, for peers that predate the RFC (NSS 3.87, Debian 12's
   * `tstclnt -P`): supported_versions 0x7f2b instead of 0xfefc, the transcript over the 12-byte DTLS handshake
   * headers (RFC 9147 §5.2 hashes the TLS 1.3 form), and the epoch in the top 16 bits of the 64-bit sequence
   * number the AEAD nonce is made of (RFC 9147 §4 leaves it out). No PSK in this mode. Default false.
   */
  readonly dtlsDraft43?: boolean;
}

/** A DTLS 1.3 client. */
export interface DtlsClientConfig extends HandshakeClientConfig, DtlsRecordConfig {}
/** A DTLS 1.3 server. */
/**
 * A DTLS 1.3 server. Its `cookieSecret` (see `HandshakeServerConfig`) turns on the stateless cookie exchange
 * (RFC 9147 §5.1): until the client returns a valid cookie the connection is not committed (`isDtlsCommitted`)
 * and a listener keeps no state for it.
 */
export interface DtlsServerConfig extends HandshakeServerConfig, DtlsRecordConfig {}
/** A DTLS 1.3 connection, either role. */
export type DtlsConfig = DtlsClientConfig | DtlsServerConfig;

/**
 * How to close a DTLS connection: the same modes as TLS (`abort`, `shutdown`, `unidirectional`, `quiet`), and
 * `fatal`: a fatal internal_error alert (RFC 8446 §6.2), then the end at once. Over UDP there is no transport
 * whose teardown the peer would see, so `abort` (nothing sent) leaves the peer waiting; `fatal` is how it learns
 * that the connection was cut (a proxy whose other side failed). close_notify is an alert record, sent once
 * (alerts are not retransmitted, RFC 9147 §5.10); `shutdown` waits `shutdownTimeout` for the peer's.
 */
export type DtlsCloseMode = TlsCloseMode | 'fatal';

/** An input to the DTLS reducer. Every input carries `now` (ms). */
export type DtlsInput =
  | BaseInput<{ readonly mode: DtlsCloseMode }>
  /**
   * One whole datagram from the peer. Anything in it that does not parse, authenticate or fit the connection's
   * state is dropped silently (RFC 9147 §4.5.2); only an authenticated handshake fault or alert ends the
   * connection. The reducer does not keep views into `data`.
   */
  | { readonly type: 'datagram'; readonly now: number; readonly data: Uint8Array }
  /**
   * Application data: one record (message boundaries are kept). Held until the handshake completes.
   * @throws TlsError `apiMisuse` when it cannot fit one record in the MTU ({@link maxDtlsWrite}), after
   *   close_notify was sent, or when held writes would exceed `maxPendingWrites`.
   */
  | { readonly type: 'write'; readonly now: number; readonly data: Uint8Array }
  /** The application completed its output: send close_notify (the inbound direction stays open). */
  | { readonly type: 'end'; readonly now: number }
  /** Send a KeyUpdate (RFC 9147 §8); the new write keys apply once the peer ACKs it. */
  | { readonly type: 'keyUpdate'; readonly now: number; readonly requestPeer: boolean };

export type DtlsInputType = DtlsInput['type'];

/** An effect of the DTLS reducer. `transmit` carries exactly one datagram. */
export type DtlsEffect =
  | BaseEffect
  /** One application record from the peer, as written. */
  | { readonly type: 'deliver'; readonly data: Uint8Array }
  /** We sent an alert (close_notify or a fatal one). */
  | { readonly type: 'alertSent'; readonly level: number; readonly description: number }
  /** The peer sent an alert. */
  | { readonly type: 'alertReceived'; readonly level: number; readonly description: number }
  /** The peer's close_notify arrived: no more data will be delivered. */
  | { readonly type: 'peerClosed' }
  /** A secret for the SSLKEYLOGFILE format. */
  | { readonly type: 'keyLog'; readonly label: string; readonly clientRandom: Uint8Array; readonly secret: Uint8Array }
  /** A resumable session (client), from a NewSessionTicket. */
  | { readonly type: 'session'; readonly session: TlsSession };

export type DtlsEffectType = DtlsEffect['type'];
