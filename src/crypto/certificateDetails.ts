/**
 * `describeCertificate`: what node:tls `getPeerCertificate()` users look at, from a DER certificate (RFC 5280
 * §4.1): subject, issuer, subjectAltName, validity and the SHA-256 fingerprint; and `certificateToPem`. Portable
 * (the fingerprint is @noble/hashes SHA-256).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { parseCertificate } from './x509.js';

/** A certificate, described (node:tls `PeerCertificate` names in brackets where they differ). */
export interface CertificateDetails {
  /** Subject, `CN=localhost` style (attributes joined with `, `). */
  readonly subject: string;
  /** Issuer, same style. */
  readonly issuer: string;
  /**
   * subjectAltName entries, node:tls style: `DNS:localhost`, `IP Address:127.0.0.1`, `email:a@b` (DNS names
   * first, then addresses, then e-mail; other forms are left out).
   */
  readonly subjectAltNames: readonly string[];
  /** The same joined with `, ` (node:tls `subjectaltname`), `''` without the extension. */
  readonly subjectaltname: string;
  /** notBefore / notAfter as ISO 8601 text (node:tls `valid_from` / `valid_to`, in another format). */
  readonly validFrom: string;
  readonly validTo: string;
  /** notBefore / notAfter in ms since the Unix epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** SHA-256 of the DER, upper-case hex pairs joined with `:` (node:tls `fingerprint256`, OpenSSL `-fingerprint -sha256`). */
  readonly fingerprint256: string;
  /** True when basicConstraints says cA. */
  readonly ca: boolean;
  /** The DER certificate (node:tls `raw`). */
  readonly raw: Uint8Array;
}

/**
 * Describe a DER certificate. Throws a `DecodeError` for a malformed one.
 *
 * @example
 * ```ts
 * const d = describeCertificate(conn.info.peerCertificates[0]!);
 * d.subject;        // 'CN=localhost'
 * d.subjectaltname; // 'DNS:localhost, IP Address:127.0.0.1'
 * d.fingerprint256; // 'AB:12:…' (32 pairs)
 * ```
 */
export function describeCertificate(der: Uint8Array): CertificateDetails {
  const c = parseCertificate(der);
  const names = [...c.dnsNames.map((n) => `DNS:${n}`), ...c.ipAddresses.map((ip) => `IP Address:${ipText(ip)}`), ...c.emails.map((e) => `email:${e}`)];
  return {
    subject: c.subject.display,
    issuer: c.issuer.display,
    subjectAltNames: names,
    subjectaltname: names.join(', '),
    validFrom: new Date(c.notBefore).toISOString(),
    validTo: new Date(c.notAfter).toISOString(),
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    fingerprint256: Array.from(sha256(der), (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'),
    ca: c.ca,
    raw: der,
  };
}

/** A DER certificate as PEM text (`-----BEGIN CERTIFICATE-----`, base64 in 64-character lines, final newline). */
export function certificateToPem(der: Uint8Array): string {
  let bin = '';
  for (const b of der) bin += String.fromCharCode(b);
  const b64 = btoa(bin);
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

function ipText(ip: Uint8Array): string {
  if (ip.length === 4) return ip.join('.');
  const groups: string[] = [];
  for (let i = 0; i < ip.length; i += 2) groups.push(((ip[i]! << 8) | ip[i + 1]!).toString(16));
  // Uncompressed, as OpenSSL and node:tls print an IPv6 subjectAltName (`0:0:0:0:0:0:0:1`).
  return groups.join(':');
}
