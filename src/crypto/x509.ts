/**
 * X.509 path validation (RFC 5280 §6, simplified) behind the {@link CertificateVerifier} contract.
 *
 * Signatures, issuer/subject matching (`checkIssued`: names, key identifiers, the issuer's keyUsage), host names
 * and IP addresses go through node:crypto `X509Certificate`; the fields node does not expose (validity to the
 * second, basicConstraints pathLen, keyUsage, extendedKeyUsage, critical extensions, the SPKI bytes) are read
 * with the DER reader. No clock: every check uses `req.now`.
 *
 * Path building is greedy from the leaf: at each step a trust anchor that issued the current certificate is
 * preferred, otherwise the first not-yet-used certificate of the received chain that issued it. At most
 * {@link MAX_PATH_LENGTH} certificates are chained, so hostile chains cannot loop.
 *
 * Error → alert (RFC 8446 §6.2):
 * | code              | alert                       | when                                                     |
 * |-------------------|-----------------------------|----------------------------------------------------------|
 * | no_certificate    | certificate_required (116)  | client usage, empty chain (RFC 8446 §4.4.2.4)            |
 * | no_certificate    | decode_error (50)           | server usage, empty chain (§4.4.2.4: the client MUST)    |
 * | bad_encoding      | bad_certificate (42)        | a certificate does not parse                             |
 * | unknown_ca        | unknown_ca (48)             | no path to a trust anchor                                |
 * | bad_signature     | bad_certificate (42)        | an issuer was found but its signature does not verify    |
 * | expired, not_yet_valid | certificate_expired (45) | a certificate of the path is outside its validity      |
 * | not_a_ca          | bad_certificate (42)        | an issuer lacks basicConstraints cA                      |
 * | path_too_long     | bad_certificate (42)        | pathLenConstraint exceeded, or > MAX_PATH_LENGTH         |
 * | unsupported       | unsupported_certificate (43)| an unknown critical extension (RFC 5280 §4.2)            |
 * | bad_usage         | unsupported_certificate (43)| leaf extendedKeyUsage / keyUsage forbids this use        |
 * | hostname_mismatch | bad_certificate (42)        | server name / IP not in the leaf's subjectAltName        |
 */
import { Buffer } from 'node:buffer';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { CertificateErrorCode } from '../core/errors.js';
import { TlsError } from '../core/errors.js';
import { DecodeError, Reader } from '../wire/reader.js';
import {
  DerTag,
  contextTag,
  decodeDerBits,
  decodeDerBoolean,
  decodeDerElement,
  decodeDerOctetString,
  decodeDerOid,
  decodeDerSequence,
  decodeDerSmallInt,
  decodeDerTime,
  peekDerTag,
} from '../wire/der.js';
import { AlertDescription } from '../wire/tls/constants.js';
import { loadCertificateChain } from './keys.js';
import type { CertificateVerdict, CertificateVerifier, VerifyRequest } from './verifier.js';

/** Longest path accepted, leaf and trust anchor included. */
export const MAX_PATH_LENGTH = 10;
/** Longest chain accepted from a peer (extra certificates are allowed, within reason). */
const MAX_CHAIN_LENGTH = 2 * MAX_PATH_LENGTH;

/** Extension OIDs (RFC 5280 §4.2). */
const EXT = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;
/** Critical extensions we process (or, for certificatePolicies, may safely ignore: no policy is required). */
const KNOWN_CRITICAL = new Set<string>(Object.values(EXT));

/** extendedKeyUsage purposes (RFC 5280 §4.2.1.12). */
const EKU = { any: '2.5.29.37.0', serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;
/** keyUsage bits (RFC 5280 §4.2.1.3), numbered from the most significant bit of the first octet. */
const KU_DIGITAL_SIGNATURE = 0;
const KU_KEY_CERT_SIGN = 5;

/** A certificate parsed once: node's view plus the fields read with the DER reader. */
interface Cert {
  readonly der: Uint8Array;
  readonly x509: X509Certificate;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly spki: Uint8Array;
  readonly criticalUnknown: string[];
  readonly pathLen?: number;
  /** keyUsage bit string, if the extension is present. */
  readonly keyUsage?: Uint8Array;
  /** extendedKeyUsage OIDs, if the extension is present. */
  readonly eku?: string[];
  /**
   * Issuers whose signature over this certificate has verified. Certificates are parsed once per content
   * (`parseCert`), so a server's chain is checked against the same issuer objects on every handshake and the
   * signature is verified once; a re-parsed certificate starts with an empty set.
   */
  readonly verifiedBy: WeakSet<Cert>;
}

interface TbsFields {
  notBefore: number;
  notAfter: number;
  spki: Uint8Array;
  extensions: Map<string, { critical: boolean; value: Uint8Array }>;
}

/** Certificate and TBSCertificate (RFC 5280 §4.1), as far as the fields used here. */
function decodeTbs(der: Uint8Array): TbsFields {
  const outer = new Reader(der);
  const cert = decodeDerSequence(outer);
  outer.expectEnd('Certificate');
  const tbs = decodeDerSequence(cert);
  if (peekDerTag(tbs) === contextTag(0)) decodeDerElement(tbs); // version
  decodeDerElement(tbs, DerTag.INTEGER); // serialNumber (not necessarily minimal in the wild)
  decodeDerElement(tbs, DerTag.SEQUENCE); // signature
  decodeDerElement(tbs, DerTag.SEQUENCE); // issuer
  const validity = decodeDerSequence(tbs);
  const notBefore = decodeDerTime(validity);
  const notAfter = decodeDerTime(validity);
  validity.expectEnd('Validity');
  decodeDerElement(tbs, DerTag.SEQUENCE); // subject
  const spki = decodeDerElement(tbs, DerTag.SEQUENCE).tlv;
  if (peekDerTag(tbs) === 0x81) decodeDerElement(tbs); // issuerUniqueID
  if (peekDerTag(tbs) === 0x82) decodeDerElement(tbs); // subjectUniqueID
  const extensions = new Map<string, { critical: boolean; value: Uint8Array }>();
  if (peekDerTag(tbs) === contextTag(3)) {
    const wrapper = decodeDerSequence(tbs, contextTag(3));
    const list = decodeDerSequence(wrapper);
    wrapper.expectEnd('extensions');
    while (list.remaining > 0) {
      const ext = decodeDerSequence(list);
      const id = decodeDerOid(ext);
      const critical = peekDerTag(ext) === DerTag.BOOLEAN ? decodeDerBoolean(ext) : false;
      const value = decodeDerOctetString(ext);
      ext.expectEnd('Extension');
      // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
      if (extensions.has(id)) throw new DecodeError(`duplicate extension ${id}`);
      extensions.set(id, { critical, value });
    }
  }
  tbs.expectEnd('TBSCertificate');
  decodeDerElement(cert, DerTag.SEQUENCE); // signatureAlgorithm
  decodeDerElement(cert, DerTag.BIT_STRING); // signatureValue
  cert.expectEnd('Certificate');
  return { notBefore, notAfter, spki, extensions };
}

/** Parsed certificates by content (bounded): a server's chain is parsed once, not on every handshake. */
const parsedCerts = new Map<string, Cert>();
const PARSED_CACHE_SIZE = 256;

function parseCert(der: Uint8Array): Cert {
  const id = Buffer.from(der).toString('base64');
  const hit = parsedCerts.get(id);
  if (hit) return hit;
  const cert = parseCertUncached(der);
  if (parsedCerts.size >= PARSED_CACHE_SIZE) parsedCerts.delete(parsedCerts.keys().next().value!);
  parsedCerts.set(id, cert);
  return cert;
}

function parseCertUncached(der: Uint8Array): Cert {
  const f = decodeTbs(der);
  const x509 = new X509Certificate(Buffer.from(der));
  let pathLen: number | undefined;
  const bc = f.extensions.get(EXT.basicConstraints);
  if (bc) {
    // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }
    const seq = decodeDerSequence(new Reader(bc.value));
    if (peekDerTag(seq) === DerTag.BOOLEAN) decodeDerBoolean(seq);
    if (seq.remaining > 0) pathLen = decodeDerSmallInt(seq);
    seq.expectEnd('BasicConstraints');
  }
  let keyUsage: Uint8Array | undefined;
  const ku = f.extensions.get(EXT.keyUsage);
  if (ku) keyUsage = decodeDerBits(new Reader(ku.value)).bytes;
  let eku: string[] | undefined;
  const ekuExt = f.extensions.get(EXT.extKeyUsage);
  if (ekuExt) {
    const seq = decodeDerSequence(new Reader(ekuExt.value));
    eku = [];
    while (seq.remaining > 0) eku.push(decodeDerOid(seq));
  }
  const criticalUnknown = [...f.extensions].filter(([id, e]) => e.critical && !KNOWN_CRITICAL.has(id)).map(([id]) => id);
  return {
    der,
    x509,
    notBefore: f.notBefore,
    notAfter: f.notAfter,
    spki: f.spki,
    criticalUnknown,
    verifiedBy: new WeakSet(),
    ...(pathLen !== undefined ? { pathLen } : {}),
    ...(keyUsage ? { keyUsage } : {}),
    ...(eku ? { eku } : {}),
  };
}

function hasBit(bits: Uint8Array, n: number): boolean {
  return ((bits[n >> 3] ?? 0) & (0x80 >> (n & 7))) !== 0;
}

/** `CN=localhost` style display name (node's one-attribute-per-line form, joined with `, `). */
function displayName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

/**
 * The DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of a DER certificate, as a copy.
 * Throws {@link DecodeError} (alert bad_certificate) for a malformed certificate.
 *
 * @example
 * verifySignature(scheme, certificateSpki(chain[0]!), content, signature);
 */
export function certificateSpki(der: Uint8Array): Uint8Array {
  try {
    return decodeTbs(der).spki.slice();
  } catch (e) {
    throw new DecodeError(`bad certificate: ${(e as Error).message}`, AlertDescription.bad_certificate);
  }
}

/**
 * A certificate's subject for display, e.g. `CN=localhost` (several attributes joined with `, `).
 * Throws {@link DecodeError} (alert bad_certificate) for a malformed certificate.
 */
export function certificateSubject(der: Uint8Array): string {
  try {
    return displayName(new X509Certificate(Buffer.from(der)).subject);
  } catch (e) {
    throw new DecodeError(`bad certificate: ${(e as Error).message}`, AlertDescription.bad_certificate);
  }
}

type Failure = Extract<CertificateVerdict, { ok: false }>;
const reject = (code: CertificateErrorCode, alert: number, reason: string): Failure => ({ ok: false, alert, code, reason });

/** The trust store: anchors by DER (exact pins) and by subject (issuer lookup). */
class TrustStore {
  private readonly byDer = new Set<string>();
  private readonly bySubject = new Map<string, Cert[]>();
  add(c: Cert): void {
    const key = Buffer.from(c.der).toString('base64');
    if (this.byDer.has(key)) return;
    this.byDer.add(key);
    const list = this.bySubject.get(c.x509.subject) ?? [];
    list.push(c);
    this.bySubject.set(c.x509.subject, list);
  }
  isAnchor(c: Cert): boolean {
    return this.byDer.has(Buffer.from(c.der).toString('base64'));
  }
  issuersOf(c: Cert): readonly Cert[] {
    return this.bySubject.get(c.x509.issuer) ?? [];
  }
}

let systemRoots: Cert[] | undefined;
/** node:tls root certificates (Mozilla's store bundled with node), parsed once; unparsable ones skipped. */
function loadSystemRoots(): Cert[] {
  if (!systemRoots) {
    systemRoots = [];
    for (const pem of rootCertificates) {
      try {
        for (const der of loadCertificateChain(pem)) systemRoots.push(parseCert(der));
      } catch {
        // a root node ships but we cannot read: it simply anchors nothing
      }
    }
  }
  return systemRoots;
}

/** Options of {@link createVerifier}. */
export interface VerifierOptions {
  /** Trust anchors (PEM text, DER, or a list). When given, system roots are used only with `useSystemRoots`. */
  readonly ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** Also trust node:tls `rootCertificates`. Defaults to true when `ca` is absent, false otherwise. */
  readonly useSystemRoots?: boolean;
}

/**
 * A verifier trusting `opts.ca` and/or the system roots. Checks, for the path leaf → intermediates (from the
 * chain) → trust anchor: every signature, validity at `req.now`, issuers are CAs (basicConstraints) with
 * keyCertSign when keyUsage is present, pathLenConstraint, no unknown critical extension; for the leaf the
 * extendedKeyUsage for `req.usage` and digitalSignature; for usage `server` with a `serverName`, the name
 * (DNS, `subject: 'never'`, no partial wildcards) or IP literal against subjectAltName. A CA certificate given
 * as an anchor is trusted as is; an exactly pinned leaf (e.g. a self-signed certificate) is accepted alone.
 * Throws a TlsError (`apiMisuse`) when a `ca` certificate does not parse.
 *
 * @example
 * const verifier = createVerifier({ ca: fs.readFileSync('ca-cert.pem', 'utf8') });
 * verifier.verify({ chain, usage: 'server', serverName: 'localhost', now });
 */
export function createVerifier(opts: VerifierOptions = {}): CertificateVerifier {
  const store = new TrustStore();
  if (opts.ca !== undefined) {
    for (const der of loadCertificateChain(opts.ca)) {
      try {
        store.add(parseCert(der));
      } catch (e) {
        throw new TlsError({ kind: 'apiMisuse', reason: `cannot parse CA certificate: ${(e as Error).message}` });
      }
    }
  }
  if (opts.useSystemRoots ?? opts.ca === undefined) for (const c of loadSystemRoots()) store.add(c);
  return { verify: (req) => verifyChain(store, req) };
}

function verifyChain(store: TrustStore, req: VerifyRequest): CertificateVerdict {
  if (req.chain.length === 0) {
    // RFC 8446 §4.4.2.4: an empty server Certificate MUST be answered with decode_error; a server that requires
    // client authentication MAY abort with certificate_required.
    return req.usage === 'client'
      ? reject('no_certificate', AlertDescription.certificate_required, 'the client sent no certificate')
      : reject('no_certificate', AlertDescription.decode_error, 'the server sent no certificate');
  }
  if (req.chain.length > MAX_CHAIN_LENGTH) {
    return reject('path_too_long', AlertDescription.bad_certificate, `chain of ${req.chain.length} certificates`);
  }
  const certs: Cert[] = [];
  for (const [i, der] of req.chain.entries()) {
    try {
      certs.push(parseCert(der));
    } catch (e) {
      return reject('bad_encoding', AlertDescription.bad_certificate, `certificate ${i}: ${(e as Error).message}`);
    }
  }
  const built = buildPath(store, certs);
  if ('ok' in built) return built;
  const { path, anchor } = built;
  const all = anchor ? [...path, anchor] : path;

  // RFC 5280 §6.1.3 (a)(2): every certificate of the path is within its validity period.
  for (const c of all) {
    const who = displayName(c.x509.subject);
    if (req.now < c.notBefore) {
      return reject('not_yet_valid', AlertDescription.certificate_expired, `${who} is not valid before ${iso(c.notBefore)}`);
    }
    if (req.now > c.notAfter) {
      return reject('expired', AlertDescription.certificate_expired, `${who} expired at ${iso(c.notAfter)}`);
    }
  }
  // RFC 5280 §6.1.4 (k), (l), (n): issuers are CAs, pathLen counts the intermediates below, keyCertSign.
  for (let i = 1; i < all.length; i++) {
    const c = all[i]!;
    const who = displayName(c.x509.subject);
    if (!c.x509.ca) return reject('not_a_ca', AlertDescription.bad_certificate, `${who} is not a CA but issued a certificate`);
    if (c.keyUsage && !hasBit(c.keyUsage, KU_KEY_CERT_SIGN)) {
      return reject('not_a_ca', AlertDescription.bad_certificate, `${who} lacks keyCertSign`);
    }
    if (c.pathLen !== undefined && i - 1 > c.pathLen) {
      return reject('path_too_long', AlertDescription.bad_certificate, `${who} allows ${c.pathLen} intermediates, got ${i - 1}`);
    }
  }
  // RFC 5280 §4.2: a certificate with an unrecognised critical extension MUST be rejected.
  for (const c of path) {
    if (c.criticalUnknown.length > 0) {
      return reject(
        'unsupported',
        AlertDescription.unsupported_certificate,
        `${displayName(c.x509.subject)} has unsupported critical extension ${c.criticalUnknown.join(', ')}`,
      );
    }
  }
  const leaf = path[0]!;
  const leafName = displayName(leaf.x509.subject);
  // RFC 5280 §4.2.1.12 / RFC 8446 §4.4.2.2: the purpose must allow TLS server (or client) authentication.
  const purpose = req.usage === 'server' ? EKU.serverAuth : EKU.clientAuth;
  if (leaf.eku && !leaf.eku.includes(purpose) && !leaf.eku.includes(EKU.any)) {
    return reject('bad_usage', AlertDescription.unsupported_certificate, `${leafName} is not for TLS ${req.usage} authentication`);
  }
  if (leaf.keyUsage && !hasBit(leaf.keyUsage, KU_DIGITAL_SIGNATURE)) {
    return reject('bad_usage', AlertDescription.unsupported_certificate, `${leafName} lacks digitalSignature key usage`);
  }
  if (req.usage === 'server' && req.serverName !== undefined) {
    const mismatch = checkName(leaf.x509, req.serverName);
    if (mismatch) return reject('hostname_mismatch', AlertDescription.bad_certificate, `${leafName}: ${mismatch}`);
  }
  return { ok: true, subject: leafName };
}

/** RFC 6125 §6 (DNS-ID) / RFC 5280 §4.2.1.6 (iPAddress) against subjectAltName; an error message or undefined. */
function checkName(x509: X509Certificate, serverName: string): string | undefined {
  const bare = serverName.startsWith('[') && serverName.endsWith(']') ? serverName.slice(1, -1) : serverName;
  if (isIP(bare)) {
    return x509.checkIP(bare) ? undefined : `IP address ${bare} is not in subjectAltName`;
  }
  // A fully qualified name may end in a dot; certificates never carry it.
  const host = bare.endsWith('.') ? bare.slice(0, -1) : bare;
  let ok = false;
  try {
    ok = host.length > 0 && x509.checkHost(host, { subject: 'never', wildcards: true, partialWildcards: false }) !== undefined;
  } catch {
    // a name node refuses to compare (e.g. with a NUL byte) matches nothing
  }
  return ok ? undefined : `name ${serverName} is not in subjectAltName`;
}

/** Greedy path building (see the module comment). `anchor` is null when the leaf itself is pinned. */
function buildPath(store: TrustStore, certs: readonly Cert[]): { path: Cert[]; anchor: Cert | null } | Failure {
  const path: Cert[] = [certs[0]!];
  const used = new Set<number>([0]);
  if (store.isAnchor(certs[0]!)) return { path, anchor: null };
  while (path.length < MAX_PATH_LENGTH) {
    const cur = path[path.length - 1]!;
    let badSignature: string | undefined;
    const issued = (issuer: Cert): boolean => {
      if (!cur.x509.checkIssued(issuer.x509)) return false;
      if (cur.verifiedBy.has(issuer)) return true;
      if (cur.x509.verify(issuer.x509.publicKey)) {
        cur.verifiedBy.add(issuer);
        return true;
      }
      badSignature = `signature of ${displayName(cur.x509.subject)} by ${displayName(issuer.x509.subject)} does not verify`;
      return false;
    };
    const anchor = store.issuersOf(cur).find(issued);
    if (anchor) return { path, anchor };
    const next = certs.findIndex((c, i) => !used.has(i) && issued(c));
    if (next < 0) {
      return badSignature
        ? reject('bad_signature', AlertDescription.bad_certificate, badSignature)
        : reject('unknown_ca', AlertDescription.unknown_ca, `no trusted issuer for ${displayName(cur.x509.issuer)}`);
    }
    used.add(next);
    path.push(certs[next]!);
  }
  return reject('path_too_long', AlertDescription.bad_certificate, `no trust anchor within ${MAX_PATH_LENGTH} certificates`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Accepts every chain without looking at it (`insecure: true`). For tests and debugging only: the API layer
 * prints the warning when it is selected.
 */
export const insecureVerifier: CertificateVerifier = {
  verify(req) {
    let subject = '';
    try {
      if (req.chain[0]) subject = certificateSubject(req.chain[0]);
    } catch {
      // anything goes
    }
    return { ok: true, subject, insecure: true };
  },
};
