/**
 * The system trust anchors for Node: node:tls `rootCertificates` (Mozilla's CA store bundled with node), as DER.
 * Node-only; a browser has no such list (pass `ca` to `createVerifier`).
 */
import { rootCertificates } from 'node:tls';
import { loadCertificateChain } from '../crypto/keys.js';

let roots: readonly Uint8Array[] | undefined;

/**
 * node:tls root certificates as DER (RFC 5280 §4.1), decoded from PEM once and then the same array on every
 * call (so verifiers parse them once). Roots whose PEM does not decode are left out.
 *
 * @example
 * createVerifier({ systemRoots: systemRootCertificates() }); // the portable verifier with node's roots
 */
export function systemRootCertificates(): readonly Uint8Array[] {
  if (!roots) {
    const out: Uint8Array[] = [];
    for (const pem of rootCertificates) {
      try {
        out.push(...loadCertificateChain(pem));
      } catch {
        // a root we cannot read simply anchors nothing
      }
    }
    roots = out;
  }
  return roots;
}
