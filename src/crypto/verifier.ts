/**
 * Certificate verification contract used by the TLS core (RFC 8446 §4.4.2.4). Implementations must be
 * deterministic given `now` (no clock inside): the core passes the time of the input being reduced. A verifier
 * answers with a reason ({@link CertificateErrorCode}), never an alert: the handshake maps the reason to the
 * alert it sends in one place (`certificateAlert` in src/core/errors.ts).
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
      /** Why: the TLS alert for it is `certificateAlert(code, usage)` (src/core/errors.ts), not the verifier's choice. */
      readonly code: CertificateErrorCode;
      /** A human-readable explanation naming the certificate concerned. */
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
