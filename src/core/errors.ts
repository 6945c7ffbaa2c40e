/**
 * Errors of the protocol cores, split by who is at fault (as rustls does): the peer misbehaved, the peer is
 * incompatible, a message could not be decoded, the peer sent a fatal alert, the certificate was rejected, a
 * timer expired, the transport failed, or the application misused the API. One function maps a detail to the
 * alert to send ({@link alertFor}); the RxJS boundary errors with {@link TlsError} carrying the typed detail.
 */
import { AlertDescription, alertName } from '../wire/tls/constants.js';

/** Why a certificate was rejected. */
export type CertificateErrorCode =
  | 'unknown_ca'
  | 'expired'
  | 'not_yet_valid'
  | 'hostname_mismatch'
  | 'bad_signature'
  | 'not_a_ca'
  | 'path_too_long'
  | 'bad_encoding'
  | 'unsupported'
  | 'bad_usage'
  | 'no_certificate'
  /** A name of the path is outside a CA's name constraints (RFC 5280 §4.2.1.10). */
  | 'name_constraints'
  /** A certificate is signed with SHA-1 (not allowed by the verifier), MD5 or MD2. */
  | 'weak_signature'
  /** An RSA key is smaller than policy allows (default 2048 bits, OpenSSL security level 2). */
  | 'weak_key';

/** The typed reason a connection failed. */
export type TlsErrorDetail =
  /** The peer broke the protocol (wrong message order, bad values, failed MAC): we sent `alert`. */
  | { readonly kind: 'peerMisbehaved'; readonly alert: number; readonly reason: string }
  /** The peer offers nothing we accept (versions, suites, groups, ALPN): we sent `alert`. */
  | { readonly kind: 'peerIncompatible'; readonly alert: number; readonly reason: string }
  /** A message could not be decoded: we sent `alert` (usually decode_error). */
  | { readonly kind: 'invalidMessage'; readonly alert: number; readonly reason: string }
  /** The peer's certificate was rejected: we sent `alert`. */
  | { readonly kind: 'certificate'; readonly alert: number; readonly code: CertificateErrorCode; readonly reason: string }
  /** The peer sent a fatal alert. */
  | { readonly kind: 'alertReceived'; readonly alert: number; readonly reason: string }
  /** The handshake did not finish before its deadline. */
  | { readonly kind: 'handshakeTimeout'; readonly afterMs: number; readonly reason: string }
  /** Transport EOF without close_notify: a possible truncation attack (RFC 8446 §6.1). */
  | { readonly kind: 'unexpectedEof'; readonly reason: string }
  /** The transport failed (socket error). */
  | { readonly kind: 'transport'; readonly reason: string }
  /**
   * A QUIC connection closed with an error code (RFC 9000 §10.2): `local` when we sent the CONNECTION_CLOSE,
   * `application` for an application error (frame type 0x1d) rather than a transport error (0x1c).
   */
  | {
      readonly kind: 'quicClose';
      readonly code: bigint;
      readonly application: boolean;
      readonly local: boolean;
      readonly frameType?: number;
      readonly reason: string;
    }
  /**
   * One QUIC stream ended abruptly, the connection goes on: the peer reset it (RESET_STREAM, `direction`
   * `receive`: its data stops), or asked us to stop sending (STOP_SENDING, `send`: our writes stop); or we did
   * (`local`). `code` is the 62-bit application error code (RFC 9000 §19.4, §19.5).
   */
  | { readonly kind: 'quicStreamReset'; readonly stream: number; readonly code: bigint; readonly direction: 'send' | 'receive'; readonly local: boolean; readonly reason: string }
  /** A QUIC connection saw nothing from its peer for the idle timeout (RFC 9000 §10.1). */
  | { readonly kind: 'idleTimeout'; readonly afterMs: number; readonly reason: string }
  /**
   * The QUIC peer answered with a stateless reset (RFC 9000 §10.3): it has no state for this connection (it
   * restarted, or lost it). Nothing more was sent.
   */
  | { readonly kind: 'statelessReset'; readonly reason: string }
  /** The application called the API wrongly (thrown synchronously, never sent on the wire). */
  | { readonly kind: 'apiMisuse'; readonly reason: string }
  /** The application aborted the connection (an `AbortSignal`): nothing was sent, the transport was destroyed. */
  | { readonly kind: 'aborted'; readonly reason: string }
  /** A bug or an unexpected failure inside rxtls: internal_error was sent. */
  | { readonly kind: 'internal'; readonly alert: number; readonly reason: string };

export type TlsErrorKind = TlsErrorDetail['kind'];

/** The one error class at the boundary; `detail` says why, `alert` the alert sent or received (if any). */
export class TlsError extends Error {
  override readonly name = 'TlsError';
  constructor(readonly detail: TlsErrorDetail) {
    super(describe(detail));
  }
  get kind(): TlsErrorKind {
    return this.detail.kind;
  }
  /** The alert sent or received, if the failure involved one. */
  get alert(): number | undefined {
    return 'alert' in this.detail ? this.detail.alert : undefined;
  }
}

function describe(d: TlsErrorDetail): string {
  switch (d.kind) {
    case 'alertReceived':
      return `peer sent fatal alert ${alertName(d.alert)}: ${d.reason}`;
    case 'peerMisbehaved':
    case 'peerIncompatible':
    case 'invalidMessage':
    case 'internal':
      return `${d.reason} (sent alert ${alertName(d.alert)})`;
    case 'certificate':
      return `certificate rejected (${d.code}): ${d.reason} (sent alert ${alertName(d.alert)})`;
    case 'handshakeTimeout':
    case 'unexpectedEof':
    case 'transport':
    case 'apiMisuse':
    case 'aborted':
    case 'idleTimeout':
    case 'statelessReset':
      return d.reason;
    case 'quicStreamReset':
      return d.reason;
    case 'quicClose':
      return `${d.local ? 'closed' : 'peer closed'} with ${d.application ? 'application' : 'transport'} error 0x${d.code.toString(16)}: ${d.reason}`;
    default:
      return assertNever(d);
  }
}

/** Exhaustiveness helper for discriminated-union switches. */
/** The application misused the API (a TlsError of kind `apiMisuse`). */
export function misuse(reason: string): TlsError {
  return new TlsError({ kind: 'apiMisuse', reason });
}

/** What an adapter errors with: a TlsError as it is, anything else as an `internal` error (alert internal_error). */
export function asTlsError(err: unknown): TlsError {
  if (err instanceof TlsError) return err;
  return new TlsError({
    kind: 'internal',
    alert: AlertDescription.internal_error,
    reason: `internal error: ${err instanceof Error ? err.message : String(err)}`,
  });
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}

/** The alert to send for a failure, or `undefined` when nothing goes on the wire. */
export function alertFor(d: TlsErrorDetail): number | undefined {
  switch (d.kind) {
    case 'peerMisbehaved':
    case 'peerIncompatible':
    case 'invalidMessage':
    case 'certificate':
    case 'internal':
      return d.alert;
    case 'alertReceived':
    case 'handshakeTimeout':
    case 'unexpectedEof':
    case 'transport':
    case 'apiMisuse':
    case 'aborted':
    case 'quicClose':
    case 'quicStreamReset':
    case 'idleTimeout':
    case 'statelessReset':
      return undefined;
    default:
      return assertNever(d);
  }
}

/**
 * The alert to send when a peer's certificate is rejected for `code` (RFC 8446 §6.2), the one place this choice
 * is made; `usage` is what the peer's certificate was checked for (`server`: we are the client).
 *
 * | code                   | alert                        | when                                                  |
 * |------------------------|------------------------------|-------------------------------------------------------|
 * | no_certificate         | certificate_required (116)   | client usage, empty chain (RFC 8446 §4.4.2.4)         |
 * | no_certificate         | decode_error (50)            | server usage, empty chain (§4.4.2.4: the client MUST) |
 * | bad_encoding           | bad_certificate (42)         | a certificate does not parse                          |
 * | unknown_ca             | unknown_ca (48)              | no path to a trust anchor                             |
 * | bad_signature          | bad_certificate (42)         | an issuer was found but its signature does not verify |
 * | expired, not_yet_valid | certificate_expired (45)     | a certificate of the path is outside its validity     |
 * | not_a_ca               | bad_certificate (42)         | an issuer lacks basicConstraints cA or keyCertSign    |
 * | path_too_long          | bad_certificate (42)         | pathLenConstraint exceeded, or too many certificates  |
 * | unsupported            | unsupported_certificate (43) | an unknown critical extension or certificate version  |
 * | bad_usage              | unsupported_certificate (43) | leaf extendedKeyUsage / keyUsage forbids this use     |
 * | hostname_mismatch      | bad_certificate (42)         | server name / IP not in the leaf's subjectAltName     |
 * | name_constraints       | bad_certificate (42)         | a name outside a CA's permitted / in excluded subtrees|
 * | weak_signature         | bad_certificate (42)         | signed with SHA-1 (not allowed), MD5 or MD2           |
 * | weak_key               | insufficient_security (71)   | an RSA key under the minimum (default 2048 bits)      |
 *
 * @example
 * certificateAlert('expired', 'server'); // 45 (certificate_expired)
 */
export function certificateAlert(code: CertificateErrorCode, usage: 'server' | 'client'): number {
  switch (code) {
    case 'no_certificate':
      // RFC 8446 §4.4.2.4: an empty server Certificate MUST be answered with decode_error; a server that requires
      // client authentication MAY abort with certificate_required.
      return usage === 'client' ? AlertDescription.certificate_required : AlertDescription.decode_error;
    case 'unknown_ca':
      return AlertDescription.unknown_ca;
    case 'expired':
    case 'not_yet_valid':
      return AlertDescription.certificate_expired;
    case 'unsupported':
    case 'bad_usage':
      return AlertDescription.unsupported_certificate;
    case 'bad_encoding':
    case 'bad_signature':
    case 'not_a_ca':
    case 'path_too_long':
    case 'hostname_mismatch':
    case 'name_constraints':
    case 'weak_signature':
      return AlertDescription.bad_certificate;
    case 'weak_key':
      // RFC 8446 §6.2: we require parameters more secure than the peer's key offers.
      return AlertDescription.insufficient_security;
    default:
      return assertNever(code);
  }
}

/** Shorthands used by the protocol code. */
export const fail = {
  misbehaved: (alert: number, reason: string): TlsErrorDetail => ({ kind: 'peerMisbehaved', alert, reason }),
  unexpected: (reason: string): TlsErrorDetail => ({
    kind: 'peerMisbehaved',
    alert: AlertDescription.unexpected_message,
    reason,
  }),
  illegal: (reason: string): TlsErrorDetail => ({
    kind: 'peerMisbehaved',
    alert: AlertDescription.illegal_parameter,
    reason,
  }),
  incompatible: (alert: number, reason: string): TlsErrorDetail => ({ kind: 'peerIncompatible', alert, reason }),
  decode: (reason: string, alert: number = AlertDescription.decode_error): TlsErrorDetail => ({
    kind: 'invalidMessage',
    alert,
    reason,
  }),
  internal: (reason: string): TlsErrorDetail => ({ kind: 'internal', alert: AlertDescription.internal_error, reason }),
};

/** Thrown inside the protocol code to abort the current input with a typed failure; caught by the reducer. */
export class ProtocolAbort extends Error {
  constructor(readonly detail: TlsErrorDetail) {
    super(detail.reason);
  }
}

/** Throw a {@link ProtocolAbort}. */
export function abort(detail: TlsErrorDetail): never {
  throw new ProtocolAbort(detail);
}

/** QUIC transport error codes this module maps to (RFC 9000 §20.1). */
const QUIC_INTERNAL_ERROR = 0x01n;
/** CRYPTO_ERROR: 0x0100 + the TLS alert (RFC 9001 §4.8). */
const QUIC_CRYPTO_ERROR_BASE = 0x100n;

/**
 * The QUIC CONNECTION_CLOSE a failure calls for (RFC 9000 §10.2, RFC 9001 §4.8), or `undefined` when nothing is
 * sent (a timeout, API misuse, a close the peer started). A handshake failure that TLS would answer with an alert
 * becomes CRYPTO_ERROR (0x0100 + alert); a QUIC error carries its own code. `application` selects frame type 0x1d.
 */
export function quicCloseFor(d: TlsErrorDetail): { readonly code: bigint; readonly application: boolean } | undefined {
  switch (d.kind) {
    case 'peerMisbehaved':
    case 'peerIncompatible':
    case 'invalidMessage':
    case 'certificate':
      return { code: QUIC_CRYPTO_ERROR_BASE + BigInt(d.alert), application: false };
    case 'internal':
      return { code: QUIC_INTERNAL_ERROR, application: false };
    case 'quicClose':
      return d.local ? { code: d.code, application: d.application } : undefined;
    case 'alertReceived':
    case 'handshakeTimeout':
    case 'unexpectedEof':
    case 'transport':
    case 'apiMisuse':
    case 'aborted':
    case 'idleTimeout':
    case 'quicStreamReset':
    case 'statelessReset':
      return undefined;
    default:
      return assertNever(d);
  }
}
