/**
 * Certificate verification contract used by the TLS core. Implementations must be deterministic given `now`
 * (no clock inside): the core passes the time of the input being reduced.
 */
import type { CertificateErrorCode } from '../core/errors.js';

/** Outcome of verifying a peer's chain. */
export type CertificateVerdict =
  | {
      readonly ok: true;
      /** The leaf's subject, for display (e.g. `CN=localhost`). */
      readonly subject: string;
      /** True when verification was skipped by the loud insecure opt-out. */
      readonly insecure?: boolean;
    }
  | {
      readonly ok: false;
      /** Alert to send (RFC 8446 §6.2): bad_certificate, unknown_ca, certificate_expired, … */
      readonly alert: number;
      readonly code: CertificateErrorCode;
      readonly reason: string;
    };

/** What is being verified. */
export interface VerifyRequest {
  /** DER certificates, leaf first, as received in the Certificate message. */
  readonly chain: readonly Uint8Array[];
  /** `server`: the client checks the server (name required unless absent); `client`: the server checks a client. */
  readonly usage: 'server' | 'client';
  /** Host name or IP literal to match against the leaf's SAN (server usage). */
  readonly serverName?: string;
  /** Milliseconds since the Unix epoch, from the reducer input. */
  readonly now: number;
}

/** A certificate verifier (trust store + policy). */
export interface CertificateVerifier {
  verify(req: VerifyRequest): CertificateVerdict;
}
