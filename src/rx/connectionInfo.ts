/**
 * `connectionInfo`: the {@link ConnectionInfo} an adapter hands to the application, from the core's
 * {@link HandshakeInfo}: the peer's leaf certificate described once, at the hand-over.
 */
import type { HandshakeInfo } from '../core/types.js';
import { describeCertificate } from '../crypto/certificateDetails.js';
import type { ConnectionInfo } from './types.js';

/**
 * `info` plus `peerCertificate` (absent when the peer sent no certificate, or its leaf does not parse, which
 * only the insecure verifier lets through).
 *
 * @example
 * ```ts
 * connectionInfo(info).peerCertificate?.fingerprint256; // '5D:1C:…'
 * ```
 */
export function connectionInfo(info: HandshakeInfo): ConnectionInfo {
  const leaf = info.peerCertificates[0];
  if (!leaf) return info;
  try {
    return { ...info, peerCertificate: describeCertificate(leaf) };
  } catch {
    return info;
  }
}
