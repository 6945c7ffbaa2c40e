/**
 * Certificate verifiers for Node: the portable path validation of `src/crypto/x509.ts` with node:tls system
 * roots by default ({@link createVerifier}, what `connect`/`listen` use), and the same path validation with
 * node:crypto `X509Certificate` doing the issuer, signature and name checks ({@link createNodeX509Verifier}, an
 * alternative backed by OpenSSL). Node-only.
 */
import { Buffer } from 'node:buffer';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { CertificateVerifier } from '../crypto/verifier.js';
import {
  createVerifier as createPortableVerifier,
  referenceNameProblem,
  type CertificateChecks,
  type ParsedCertificate,
  type VerifierOptions as PortableVerifierOptions,
} from '../crypto/x509.js';
import { systemRootCertificates } from './systemRoots.js';

/** Options of {@link createVerifier} and {@link createNodeX509Verifier}. */
export interface VerifierOptions {
  /** Trust anchors (PEM text, DER, or a list). When given, system roots are used only with `useSystemRoots`. */
  readonly ca?: PortableVerifierOptions['ca'];
  /** Also trust node:tls `rootCertificates`. Defaults to true when `ca` is absent, false otherwise. */
  readonly useSystemRoots?: boolean;
  /** Accept SHA-1 signed certificates (default false; see `src/crypto/x509.ts`). */
  readonly allowSha1?: boolean;
  /** Smallest RSA key accepted in the path, in bits (default 2048). */
  readonly minRsaBits?: number;
}

function withRoots(opts: VerifierOptions): PortableVerifierOptions {
  const wantRoots = opts.useSystemRoots ?? opts.ca === undefined;
  return wantRoots ? { ...opts, systemRoots: systemRootCertificates() } : opts;
}

/**
 * The portable verifier (RFC 5280 §6 path validation, see `src/crypto/x509.ts`) trusting `opts.ca` and/or
 * node:tls `rootCertificates`. Throws a TlsError (`apiMisuse`) when a `ca` certificate does not parse.
 *
 * @example
 * const verifier = createVerifier({ ca: fs.readFileSync('ca-cert.pem', 'utf8') });
 * verifier.verify({ chain, usage: 'server', serverName: 'localhost', now: Date.now() });
 */
export function createVerifier(opts: VerifierOptions = {}): CertificateVerifier {
  return createPortableVerifier(withRoots(opts));
}

/**
 * node:crypto's view of each parsed certificate, made on first use, or why OpenSSL cannot read it: the
 * `X509Certificate` constructor throws on DER that OpenSSL refuses, and that must never escape `verify()`.
 */
const x509s = new WeakMap<ParsedCertificate, X509Certificate | string>();
function x509Of(c: ParsedCertificate): X509Certificate | string {
  let x = x509s.get(c);
  if (x === undefined) {
    try {
      x = new X509Certificate(Buffer.from(c.der));
    } catch (e) {
      x = `OpenSSL cannot read it: ${e instanceof Error ? e.message : String(e)}`;
    }
    x509s.set(c, x);
  }
  return x;
}

/**
 * {@link CertificateChecks} by node:crypto `X509Certificate` (OpenSSL): `checkIssued` (names, key identifiers,
 * the issuer's keyUsage), `verify` (the signature), `checkHost` / `checkIP` (subjectAltName only, no partial
 * wildcards). A received certificate OpenSSL cannot read is `unreadable` (bad_encoding); a trust anchor it
 * cannot read issues nothing.
 */
export const nodeX509Checks: CertificateChecks = {
  issued(cert, issuer) {
    const [c, i] = [x509Of(cert), x509Of(issuer)];
    return typeof c !== 'string' && typeof i !== 'string' && c.checkIssued(i);
  },
  signatureValid(cert, issuer) {
    const [c, i] = [x509Of(cert), x509Of(issuer)];
    return typeof c !== 'string' && typeof i !== 'string' && c.verify(i.publicKey);
  },
  unreadable(cert) {
    const x = x509Of(cert);
    return typeof x === 'string' ? x : undefined;
  },
  nameMismatch(leaf, serverName) {
    const x509 = x509Of(leaf);
    if (typeof x509 === 'string') return x509;
    // Names no dNSName can match (a wildcard pattern, an empty label, non-ASCII that OpenSSL would compare as bytes).
    const problem = referenceNameProblem(serverName);
    if (problem) return problem;
    const bare = serverName.startsWith('[') && serverName.endsWith(']') ? serverName.slice(1, -1) : serverName;
    if (isIP(bare)) return x509.checkIP(bare) ? undefined : `IP address ${bare} is not in subjectAltName`;
    const host = bare.endsWith('.') ? bare.slice(0, -1) : bare;
    let ok = false;
    try {
      ok = host.length > 0 && x509.checkHost(host, { subject: 'never', wildcards: true, partialWildcards: false }) !== undefined;
    } catch {
      // a name node refuses to compare (e.g. with a NUL byte) matches nothing
    }
    return ok ? undefined : `name ${serverName} is not in subjectAltName`;
  },
};

/**
 * Like {@link createVerifier}, with OpenSSL (node:crypto `X509Certificate`) checking issuers, signatures and
 * names; the path rules (validity, CA flags, path length, key usage, critical extensions) are the shared ones.
 * Differences: OpenSSL does not consider an issuer whose keyUsage lacks keyCertSign at all (unknown_ca where
 * the portable checks say not_a_ca), and it lets a name with a leading dot (`.example.com`) match a wildcard.
 *
 * @example
 * const verifier = createNodeX509Verifier({ ca: caPem });
 */
export function createNodeX509Verifier(opts: VerifierOptions = {}): CertificateVerifier {
  return createPortableVerifier({ ...withRoots(opts), checks: nodeX509Checks });
}
