/**
 * X.509 path validation (RFC 5280 §6, simplified) behind the {@link CertificateVerifier} contract, in pure JS:
 * it runs in a browser as well as in Node. No clock: every check uses `req.now`.
 *
 * ASN.1: certificates are read with the DER reader of `src/wire/der.ts` rather than a library such as
 * `@peculiar/asn1-x509` (+ `asn1-schema`, `asn1js`, `pvtsutils`, `tslib`). The reader already parsed
 * certificates for the fields node:crypto did not expose, is strict DER (minimal lengths and integers), and
 * what was missing — names, subjectAltName, key identifiers, signature algorithms — is a few small decoders
 * here; a schema library would add four dependencies and a second way of reading DER to a core that otherwise
 * depends on noble only.
 *
 * Signatures go through {@link verifyWithAlgorithm} (noble for ECDSA and Ed25519, BigInt RSA for PKCS#1 v1.5
 * and RSASSA-PSS). The three checks that a platform can do in its own way — "did this CA issue that
 * certificate", "does the signature verify", "does the name match" — are a {@link CertificateChecks} table, so
 * the node:crypto `X509Certificate` verifier in `src/node/` shares the path logic below.
 *
 * Path building searches depth first from the leaf, with backtracking (RFC 4158, as webpki): at each step the
 * trust anchors that issued the current certificate are tried first, then each not-yet-used certificate of the
 * received chain that issued it, in the order sent; a path that reaches an anchor is checked whole, and when it
 * fails the search goes on. At most {@link MAX_PATH_LENGTH} certificates are chained, {@link MAX_SIGNATURE_CHECKS}
 * signatures verified and `MAX_PATH_TRIES` candidate paths tried, so hostile chains cannot loop or blow up.
 *
 * The verifier returns a {@link CertificateErrorCode} and a reason; the TLS alert for it is chosen by
 * `certificateAlert` in `src/core/errors.ts`.
 */
import type { CertificateErrorCode } from '../core/errors.js';
import { TlsError } from '../core/errors.js';
import { DecodeError, Reader } from '../wire/reader.js';
import {
  DerTag,
  contextTag,
  decodeDerBits,
  decodeDerBitString,
  decodeDerBoolean,
  decodeDerElement,
  decodeDerIntegerBytes,
  decodeDerNull,
  decodeDerOctetString,
  decodeDerOid,
  decodeDerSequence,
  decodeDerSmallInt,
  decodeDerTime,
  decodeDerUnsigned,
  parseEcdsaSignature,
  parseSpki,
  peekDerTag,
} from '../wire/der.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { AlertDescription } from '../wire/tls/constants.js';
import { verifyEcdsaDigest } from './ecdsa.js';
import { loadCertificateChain } from './keys.js';
import { GeneralNameTag, MAX_NAME_COMPARISONS, decodeNameConstraints, nameConstraintViolation, type ComparisonBudget, type NameConstraints } from './nameConstraints.js';
import { bitLength, rsaVerifyPrimitive, usableRsaPublicKey } from './rsa.js';
import { decodeRsaPssParams, spkiKeyType, verifyWithAlgorithm, type SignatureAlgorithm } from './signatures.js';
import type { CertificateVerdict, CertificateVerifier, VerifyRequest } from './verifier.js';

/** Longest path accepted, leaf and trust anchor included. */
export const MAX_PATH_LENGTH = 10;
/** Longest chain accepted from a peer (extra certificates are allowed, within reason). */
const MAX_CHAIN_LENGTH = 2 * MAX_PATH_LENGTH;
/**
 * Most signatures checked while building one path (webpki has such a budget too). A hostile chain can name every
 * one of its certificates as a candidate issuer at each step, each with an expensive key; without a budget that is
 * up to about 150 verifications per handshake. A real path needs one per certificate, and a few more where
 * cross-signed issuers share a name.
 */
export const MAX_SIGNATURE_CHECKS = 24;

/** Extension OIDs (RFC 5280 §4.2). */
const EXT = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  nameConstraints: '2.5.29.30',
} as const;
/** Critical extensions we process (or, for certificatePolicies, may safely ignore: no policy is required). */
const KNOWN_CRITICAL = new Set<string>(Object.values(EXT));

/** extendedKeyUsage purposes (RFC 5280 §4.2.1.12). */
const EKU = { any: '2.5.29.37.0', serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;
/** keyUsage bits (RFC 5280 §4.2.1.3), numbered from the most significant bit of the first octet. */
const KU_DIGITAL_SIGNATURE = 0;
const KU_KEY_CERT_SIGN = 5;

/** A distinguished name (RFC 5280 §4.1.2.4): a canonical form for comparison and a display form. */
export interface CertificateName {
  /** Attribute values case-folded and whitespace-collapsed (RFC 5280 §7.1), for issuer/subject matching. */
  readonly canonical: string;
  /** `CN=localhost` style, one `type=value` per attribute joined with `, `. */
  readonly display: string;
  /** The canonical RDNs in order (directoryName constraints compare them one by one). */
  readonly rdns: readonly string[];
}

/** A certificate parsed once, with every field path validation uses. */
export interface ParsedCertificate {
  readonly der: Uint8Array;
  /** The TBSCertificate TLV: the signed bytes. */
  readonly tbs: Uint8Array;
  /** The outer signatureAlgorithm, or the OID when it is not one we verify. */
  readonly signatureAlgorithm: SignatureAlgorithm | string;
  /** signatureValue BIT STRING contents. */
  readonly signature: Uint8Array;
  readonly issuer: CertificateName;
  readonly subject: CertificateName;
  readonly notBefore: number;
  readonly notAfter: number;
  /** The DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** basicConstraints cA. */
  readonly ca: boolean;
  readonly pathLen?: number;
  /** keyUsage bit string, if the extension is present. */
  readonly keyUsage?: Uint8Array;
  /** extendedKeyUsage OIDs, if the extension is present. */
  readonly eku?: readonly string[];
  /** subjectAltName dNSName entries (as written) and iPAddress entries (4 or 16 B). */
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly Uint8Array[];
  /** subjectAltName rfc822Name entries, and the GeneralName tags of entries of other forms (URI, otherName…). */
  readonly emails: readonly string[];
  readonly otherNameForms: readonly number[];
  /** nameConstraints (RFC 5280 §4.2.1.10), if the extension is present. */
  readonly nameConstraints?: NameConstraints;
  /** The signature uses a broken hash (SHA-1, MD5, MD2): refused unless the verifier allows SHA-1. */
  readonly legacyHash?: 'sha1' | 'md5' | 'md2';
  readonly subjectKeyId?: Uint8Array;
  readonly authorityKeyId?: Uint8Array;
  readonly criticalUnknown: readonly string[];
}

/** Attribute short names for display (RFC 4514 §3, plus the usual extras). */
const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.42': 'GN',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** Directory string tags (X.680 §41): UTF8String, PrintableString, T61String, IA5String, UniversalString, BMPString. */
const STRING_TAGS = new Set([0x0c, 0x13, 0x14, 0x16, 0x1c, 0x1e]);

function decodeString(tag: number, v: Uint8Array): string {
  switch (tag) {
    case 0x0c:
      return new TextDecoder('utf-8', { fatal: true }).decode(v);
    case 0x1e: {
      if (v.length % 2) throw new DecodeError('BMPString of odd length');
      let s = '';
      for (let i = 0; i < v.length; i += 2) s += String.fromCharCode((v[i]! << 8) | v[i + 1]!);
      return s;
    }
    case 0x1c: {
      if (v.length % 4) throw new DecodeError('UniversalString length not a multiple of 4');
      let s = '';
      for (let i = 0; i < v.length; i += 4) s += String.fromCodePoint(new DataView(v.buffer, v.byteOffset + i, 4).getUint32(0));
      return s;
    }
    default:
      return String.fromCharCode(...v);
  }
}

function hexOf(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue). */
function decodeName(r: Reader): CertificateName {
  const seq = decodeDerSequence(r);
  const canonical: string[] = [];
  const display: string[] = [];
  while (seq.remaining > 0) {
    const rdn = decodeDerSequence(seq, DerTag.SET);
    const parts: string[] = [];
    while (rdn.remaining > 0) {
      const atv = decodeDerSequence(rdn);
      const type = decodeDerOid(atv);
      const value = decodeDerElement(atv);
      atv.expectEnd('AttributeTypeAndValue');
      if (STRING_TAGS.has(value.tag)) {
        const text = decodeString(value.tag, value.value);
        parts.push(`${type}=${text.trim().replace(/\s+/g, ' ').toLowerCase()}`);
        display.push(`${ATTRIBUTE_NAMES[type] ?? type}=${text}`);
      } else {
        parts.push(`${type}=#${hexOf(value.tlv)}`);
        display.push(`${ATTRIBUTE_NAMES[type] ?? type}=#${hexOf(value.tlv)}`);
      }
    }
    // A multi-valued RDN is a set: its order does not matter.
    canonical.push(parts.sort().join('+'));
  }
  return { canonical: canonical.join('/'), display: display.join(', '), rdns: canonical };
}

/** Signature algorithm OIDs without parameters to read (RFC 4055 §5, RFC 5758 §3.2, RFC 8410 §3: Ed25519, Ed448). */
const SIMPLE_SIG_ALGS: Record<string, SignatureAlgorithm> = {
  '1.2.840.113549.1.1.11': { kind: 'rsa-pkcs1', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { kind: 'rsa-pkcs1', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { kind: 'rsa-pkcs1', hash: 'sha512' },
  '1.2.840.10045.4.3.2': { kind: 'ecdsa', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { kind: 'ecdsa', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { kind: 'ecdsa', hash: 'sha512' },
  '1.3.101.112': { kind: 'ed25519' },
  '1.3.101.113': { kind: 'ed448' },
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';
/** sha1WithRSAEncryption (RFC 3279 §2.2.1) and ecdsa-with-SHA1 (RFC 3279 §2.2.3). */
const OID_SHA1_RSA = '1.2.840.113549.1.1.5';
const OID_SHA1_ECDSA = '1.2.840.10045.4.1';

/** AlgorithmIdentifier of a signature (RFC 5280 §4.1.1.2), with RSASSA-PSS-params (RFC 4055 §3.1). */
function decodeSignatureAlgorithm(r: Reader): SignatureAlgorithm | string {
  const alg = decodeDerSequence(r);
  const oid = decodeDerOid(alg);
  const simple = SIMPLE_SIG_ALGS[oid];
  if (simple) {
    // RSA: parameters NULL (RFC 4055 §5, tolerate absence); ECDSA and Ed25519: absent.
    if (alg.remaining > 0 && simple.kind === 'rsa-pkcs1') decodeDerNull(alg);
    alg.expectEnd('AlgorithmIdentifier');
    return simple;
  }
  if (oid !== RSASSA_PSS) return oid;
  // Defaults are SHA-1 (hash and MGF1) and salt 20, which we do not accept: explicit SHA-2 parameters only.
  // Malformed DER is a decode error; well-formed parameters we do not support name the algorithm instead.
  try {
    return { kind: 'rsa-pss', ...decodeRsaPssParams(alg.rest()) };
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    return `${RSASSA_PSS} (${(e as Error).message})`;
  }
}

/** Signature algorithms with a broken hash (RFC 3279 §2.2.1, RFC 5758 §3.2): refused by policy. */
const LEGACY_SIG_ALGS: Record<string, 'sha1' | 'md5' | 'md2'> = {
  [OID_SHA1_RSA]: 'sha1',
  [OID_SHA1_ECDSA]: 'sha1',
  '1.2.840.10040.4.3': 'sha1', // dsa-with-sha1
  '1.2.840.113549.1.1.4': 'md5',
  '1.2.840.113549.1.1.2': 'md2',
};

interface AltNames {
  dnsNames: string[];
  ipAddresses: Uint8Array[];
  emails: string[];
  otherNameForms: number[];
}

/** GeneralNames (RFC 5280 §4.2.1.6): dNSName [2], iPAddress [7] and rfc822Name [1]; the tags of the others. */
function decodeSubjectAltName(value: Uint8Array): AltNames {
  const outer = new Reader(value);
  const seq = decodeDerSequence(outer);
  outer.expectEnd('SubjectAltName');
  const names: AltNames = { dnsNames: [], ipAddresses: [], emails: [], otherNameForms: [] };
  while (seq.remaining > 0) {
    const gn = decodeDerElement(seq);
    if (gn.tag === GeneralNameTag.dNSName) names.dnsNames.push(String.fromCharCode(...gn.value));
    else if (gn.tag === GeneralNameTag.iPAddress) names.ipAddresses.push(gn.value);
    else if (gn.tag === GeneralNameTag.rfc822Name) names.emails.push(String.fromCharCode(...gn.value));
    else names.otherNameForms.push(gn.tag);
  }
  return names;
}

/** A well-formed certificate of a kind this module cannot process (an unknown version): `unsupported`. */
class UnsupportedCertificate extends DecodeError {}

/**
 * `version [0] EXPLICIT Version DEFAULT v1` (RFC 5280 §4.1.2.1): 0 (v1, the field absent), 1 (v2) or 2 (v3).
 * An explicit v1 is refused (DER omits a DEFAULT value, X.690 §11.5), an unknown version is
 * {@link UnsupportedCertificate}.
 */
function decodeVersion(tbs: Reader): number {
  if (peekDerTag(tbs) !== contextTag(0)) return 0;
  const wrapper = decodeDerSequence(tbs, contextTag(0));
  const version = decodeDerSmallInt(wrapper);
  wrapper.expectEnd('version');
  if (version === 0) throw new DecodeError('version v1 written out (DER omits the DEFAULT)');
  if (version > 2) throw new UnsupportedCertificate(`unknown certificate version ${version + 1}`);
  return version;
}

/**
 * issuerUniqueID / subjectUniqueID ::= [1] / [2] IMPLICIT BIT STRING, only in v2 and v3 (RFC 5280 §4.1.2.8): the
 * content of a BIT STRING (an unused-bits count of 0 to 7, none when it is empty). The value itself is not used.
 */
function checkUniqueId(value: Uint8Array, version: number): void {
  if (version === 0) throw new DecodeError('unique identifier in a v1 certificate');
  if (value.length === 0 || value[0]! > 7 || (value.length === 1 && value[0] !== 0)) throw new DecodeError('unique identifier: bad BIT STRING');
}

/** An extension's value (RFC 5280 §4.2: extnValue holds exactly one DER value, nothing after it). */
function decodeExtensionValue<T>(value: Uint8Array, what: string, decode: (r: Reader) => T): T {
  const r = new Reader(value);
  const out = decode(r);
  r.expectEnd(what);
  return out;
}

/** KeyUsage ::= BIT STRING (RFC 5280 §4.2.1.3): when the extension appears, at least one bit MUST be set. */
function decodeKeyUsage(r: Reader): Uint8Array {
  const { bytes } = decodeDerBits(r);
  if (bytes.every((b) => b === 0)) throw new DecodeError('keyUsage with no bit set');
  return bytes;
}

/** ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId (RFC 5280 §4.2.1.12), as dotted OIDs. */
function decodeExtKeyUsage(r: Reader): string[] {
  const seq = decodeDerSequence(r);
  const eku: string[] = [];
  while (seq.remaining > 0) eku.push(decodeDerOid(seq));
  return eku;
}

/**
 * AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0], authorityCertIssuer [1], authorityCertSerialNumber [2] },
 * all OPTIONAL and IMPLICIT (RFC 5280 §4.2.1.1): the keyIdentifier. The other two are read over; nothing may follow.
 */
function decodeAuthorityKeyId(r: Reader): Uint8Array | undefined {
  const seq = decodeDerSequence(r);
  const keyId = peekDerTag(seq) === 0x80 ? decodeDerElement(seq, 0x80).value : undefined;
  if (peekDerTag(seq) === contextTag(1)) decodeDerElement(seq, contextTag(1)); // GeneralNames
  if (peekDerTag(seq) === 0x82) decodeDerElement(seq, 0x82); // CertificateSerialNumber
  seq.expectEnd('AuthorityKeyIdentifier');
  return keyId;
}

/**
 * Certificate and TBSCertificate (RFC 5280 §4.1). Throws {@link DecodeError} for malformed input
 * ({@link UnsupportedCertificate} for an unknown version).
 */
function parseUncached(der: Uint8Array): ParsedCertificate {
  const outer = new Reader(der);
  const cert = decodeDerSequence(outer);
  outer.expectEnd('Certificate');
  const tbsElement = decodeDerElement(cert, DerTag.SEQUENCE);
  const tbs = new Reader(tbsElement.value);
  const version = decodeVersion(tbs);
  // serialNumber: any value is accepted (§4.1.2.2 asks users to handle negative, zero and long ones), but it is
  // a DER INTEGER: one or more octets, minimal (X.690 §8.3.1, §8.3.2).
  decodeDerIntegerBytes(tbs);
  const innerAlg = decodeDerElement(tbs, DerTag.SEQUENCE).tlv;
  const issuer = decodeName(tbs);
  const validity = decodeDerSequence(tbs);
  const notBefore = decodeDerTime(validity);
  const notAfter = decodeDerTime(validity);
  validity.expectEnd('Validity');
  const subject = decodeName(tbs);
  const spki = decodeDerElement(tbs, DerTag.SEQUENCE).tlv;
  if (peekDerTag(tbs) === 0x81) checkUniqueId(decodeDerElement(tbs, 0x81).value, version); // issuerUniqueID
  if (peekDerTag(tbs) === 0x82) checkUniqueId(decodeDerElement(tbs, 0x82).value, version); // subjectUniqueID
  const extensions = new Map<string, { critical: boolean; value: Uint8Array }>();
  if (peekDerTag(tbs) === contextTag(3)) {
    // §4.1.2.9: extensions appear only in v3 certificates.
    if (version !== 2) throw new DecodeError(`extensions in a v${version + 1} certificate`);
    const wrapper = decodeDerSequence(tbs, contextTag(3));
    const list = decodeDerSequence(wrapper);
    wrapper.expectEnd('extensions');
    // Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension: no extensions is written by omitting the field.
    if (list.remaining === 0) throw new DecodeError('empty extensions');
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
  const outerAlgElement = decodeDerElement(cert, DerTag.SEQUENCE);
  const signature = decodeDerBitString(cert);
  cert.expectEnd('Certificate');
  // RFC 5280 §4.1.1.2: signatureAlgorithm MUST contain the same identifier as the signature field of the TBS.
  if (!sameBytes(innerAlg, outerAlgElement.tlv)) throw new DecodeError('signature algorithms of Certificate and TBSCertificate differ');
  const signatureAlgorithm = decodeSignatureAlgorithm(new Reader(outerAlgElement.tlv));

  let ca = false;
  let pathLen: number | undefined;
  const bc = extensions.get(EXT.basicConstraints);
  if (bc) {
    // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }
    const r = new Reader(bc.value);
    const seq = decodeDerSequence(r);
    r.expectEnd('BasicConstraints');
    if (peekDerTag(seq) === DerTag.BOOLEAN) ca = decodeDerBoolean(seq);
    if (seq.remaining > 0) pathLen = decodeDerSmallInt(seq);
    seq.expectEnd('BasicConstraints');
  }
  const ku = extensions.get(EXT.keyUsage);
  const keyUsage = ku ? decodeExtensionValue(ku.value, 'KeyUsage', decodeKeyUsage) : undefined;
  const ekuExt = extensions.get(EXT.extKeyUsage);
  const eku = ekuExt ? decodeExtensionValue(ekuExt.value, 'ExtKeyUsageSyntax', decodeExtKeyUsage) : undefined;
  const san = extensions.get(EXT.subjectAltName);
  const { dnsNames, ipAddresses, emails, otherNameForms } = san
    ? decodeSubjectAltName(san.value)
    : { dnsNames: [], ipAddresses: [], emails: [], otherNameForms: [] };
  const ncExt = extensions.get(EXT.nameConstraints);
  const nameConstraints = ncExt ? decodeNameConstraints(ncExt.value, (r) => decodeName(r).rdns) : undefined;
  const legacyHash = typeof signatureAlgorithm === 'string' ? LEGACY_SIG_ALGS[signatureAlgorithm] : undefined;
  const skiExt = extensions.get(EXT.subjectKeyIdentifier);
  const subjectKeyId = skiExt ? decodeExtensionValue(skiExt.value, 'SubjectKeyIdentifier', decodeDerOctetString) : undefined;
  const akiExt = extensions.get(EXT.authorityKeyIdentifier);
  const authorityKeyId = akiExt ? decodeExtensionValue(akiExt.value, 'AuthorityKeyIdentifier', decodeAuthorityKeyId) : undefined;
  const criticalUnknown = [...extensions].filter(([id, e]) => e.critical && !KNOWN_CRITICAL.has(id)).map(([id]) => id);
  return {
    der,
    tbs: tbsElement.tlv,
    signatureAlgorithm,
    signature,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki,
    ca,
    dnsNames,
    ipAddresses,
    emails,
    otherNameForms,
    criticalUnknown,
    ...(nameConstraints ? { nameConstraints } : {}),
    ...(legacyHash ? { legacyHash } : {}),
    ...(pathLen !== undefined ? { pathLen } : {}),
    ...(keyUsage ? { keyUsage } : {}),
    ...(eku ? { eku } : {}),
    ...(subjectKeyId ? { subjectKeyId } : {}),
    ...(authorityKeyId ? { authorityKeyId } : {}),
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A string key for a byte array (cache and trust-store lookups). */
function bytesKey(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return s;
}

/**
 * Parsed certificates by content, oldest first: a server's chain is parsed once, not on every handshake. Bounded in
 * count and in bytes (each entry holds its DER twice: as the key and in the parsed certificate), so that peers
 * sending large unique certificates (a Certificate message may carry 128 KiB) cannot make it hold more than a few
 * MiB; real certificates are one or two KiB.
 */
const parsedCerts = new Map<string, ParsedCertificate>();
const PARSED_CACHE_SIZE = 256;
export const PARSED_CACHE_BYTES = 2 << 20;
let parsedCacheBytes = 0;

/** DER bytes the parsed-certificate cache holds now (for tests of its bound). */
export const parsedCertificateCacheBytes = (): number => parsedCacheBytes;

/**
 * Parse a DER certificate (RFC 5280 §4.1), cached by content. Throws {@link DecodeError} for malformed input.
 *
 * @example
 * parseCertificate(chain[0]!).subject.display; // 'CN=localhost'
 */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const id = bytesKey(der);
  const hit = parsedCerts.get(id);
  if (hit) return hit;
  const cert = parseUncached(der.slice());
  if (der.length > PARSED_CACHE_BYTES) return cert;
  parsedCerts.set(id, cert);
  parsedCacheBytes += der.length;
  for (const [key, old] of parsedCerts) {
    if (parsedCerts.size <= PARSED_CACHE_SIZE && parsedCacheBytes <= PARSED_CACHE_BYTES) break;
    parsedCerts.delete(key);
    parsedCacheBytes -= old.der.length;
  }
  return cert;
}

function hasBit(bits: Uint8Array, n: number): boolean {
  return ((bits[n >> 3] ?? 0) & (0x80 >> (n & 7))) !== 0;
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
    return parseCertificate(der).spki.slice();
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
    return parseCertificate(der).subject.display;
  } catch (e) {
    throw new DecodeError(`bad certificate: ${(e as Error).message}`, AlertDescription.bad_certificate);
  }
}

/**
 * An IPv4 (dotted quad) or IPv6 (RFC 4291 §2.2, with `::` and a trailing dotted quad) literal as 4 or 16 B,
 * or `undefined` for anything else.
 *
 * @example
 * parseIpAddress('::1'); // 15 zero bytes then 1
 */
export function parseIpAddress(s: string): Uint8Array | undefined {
  const v4 = (t: string): number[] | undefined => {
    const parts = t.split('.');
    if (parts.length !== 4) return undefined;
    const out: number[] = [];
    for (const p of parts) {
      if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
      out.push(Number(p));
    }
    return out;
  };
  if (!s.includes(':')) {
    const b = v4(s);
    return b ? Uint8Array.from(b) : undefined;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (t: string): number[] | undefined => {
    if (t === '') return [];
    const out: number[] = [];
    const items = t.split(':');
    for (const [i, g] of items.entries()) {
      if (i === items.length - 1 && g.includes('.')) {
        const b = v4(g);
        if (!b) return undefined;
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
        out.push(parseInt(g, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/**
 * RFC 6125 §6.4 DNS-ID matching against one dNSName: case-insensitive; a wildcard only as the whole leftmost
 * label (`*.example.com`, no partial wildcards), matching exactly one non-empty label, and not directly under
 * a top-level label (`*.com` matches nothing).
 */
function dnsNameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  if (p === host) return true;
  if (!p.startsWith('*.')) return false;
  const rest = p.slice(2);
  if (!rest.includes('.') || rest.includes('*')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === rest;
}

/**
 * The platform-dependent checks of path validation. The portable ones ({@link portableChecks}) use this
 * module's parser and {@link verifyWithAlgorithm}; `src/node/` offers node:crypto `X509Certificate` ones.
 */
export interface CertificateChecks {
  /** RFC 5280 §6.1.3 (a)(4): `issuer`'s subject is `cert`'s issuer (and key identifiers agree when both present). */
  issued(cert: ParsedCertificate, issuer: ParsedCertificate): boolean;
  /** RFC 5280 §6.1.3 (a)(1): `cert`'s signature verifies with `issuer`'s public key. */
  signatureValid(cert: ParsedCertificate, issuer: ParsedCertificate): boolean;
  /** RFC 6125 §6 / RFC 5280 §4.2.1.6: an error message when `serverName` is not in the leaf's subjectAltName. */
  nameMismatch(leaf: ParsedCertificate, serverName: string): string | undefined;
  /**
   * Why the platform cannot read a certificate of the received chain that this module parsed (e.g. OpenSSL
   * refuses its DER), or undefined. Asked before any other check; the verdict is then `bad_encoding`.
   */
  unreadable?(cert: ParsedCertificate): string | undefined;
}

/** The pure-JS {@link CertificateChecks}. */
export const portableChecks: CertificateChecks = {
  issued(cert, issuer) {
    if (cert.issuer.canonical !== issuer.subject.canonical) return false;
    // RFC 5280 §4.2.1.1: the authority key identifier names the issuer's subject key identifier.
    return !cert.authorityKeyId || !issuer.subjectKeyId || sameBytes(cert.authorityKeyId, issuer.subjectKeyId);
  },
  signatureValid(cert, issuer) {
    const alg = cert.signatureAlgorithm;
    if (typeof alg === 'string') return cert.legacyHash === 'sha1' && legacySha1Valid(alg, issuer.spki, cert.tbs, cert.signature);
    return verifyWithAlgorithm(alg, issuer.spki, cert.tbs, cert.signature);
  },
  nameMismatch(leaf, serverName) {
    const bare = serverName.startsWith('[') && serverName.endsWith(']') ? serverName.slice(1, -1) : serverName;
    const ip = parseIpAddress(bare);
    if (ip) {
      // RFC 5280 §4.2.1.6: 4 octets for IPv4, 16 for IPv6, compared as octets.
      return leaf.ipAddresses.some((a) => sameBytes(a, ip)) ? undefined : `IP address ${bare} is not in subjectAltName`;
    }
    // A fully qualified name may end in a dot; certificates never carry it. CN is never used (RFC 6125 §6.4.4).
    const host = (bare.endsWith('.') ? bare.slice(0, -1) : bare).toLowerCase();
    const ok = host.length > 0 && /^[\x21-\x7e]+$/.test(host) && leaf.dnsNames.some((p) => dnsNameMatches(p, host));
    return ok ? undefined : `name ${serverName} is not in subjectAltName`;
  },
};

/** DigestInfo prefix of SHA-1 for PKCS#1 v1.5 (RFC 8017 §9.2 note 1). */
const SHA1_DIGEST_INFO = Uint8Array.from([0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14]);

/**
 * sha1WithRSAEncryption and ecdsa-with-SHA1 (RFC 3279 §2.2.1, §2.2.3), only reached when the verifier allows
 * SHA-1 (`allowSha1`): kept out of `signatures.ts`, whose algorithms are all current.
 */
function legacySha1Valid(oid: string, spki: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const digest = sha1(message);
    const type = spkiKeyType(spki);
    if (oid === OID_SHA1_ECDSA && (type === 'ecdsa-p256' || type === 'ecdsa-p384')) {
      const { r, s } = parseEcdsaSignature(signature);
      return verifyEcdsaDigest(type === 'ecdsa-p256' ? 'p256' : 'p384', parseSpki(spki).publicKey, digest, r, s);
    }
    if (oid !== OID_SHA1_RSA || type !== 'rsa') return false;
    const key = rsaPublicKey(spki);
    if (!key || !usableRsaPublicKey(key.n, key.e)) return false;
    const em = rsaVerifyPrimitive(key, signature);
    if (!em) return false;
    // EMSA-PKCS1-v1_5: 00 01 FF…FF 00 DigestInfo(SHA-1) digest, compared whole (RFC 8017 §8.2.2 step 4).
    const t = em.length - SHA1_DIGEST_INFO.length - digest.length;
    if (t < 11 || em[0] !== 0 || em[1] !== 1 || em[t - 1] !== 0) return false;
    for (let i = 2; i < t - 1; i++) if (em[i] !== 0xff) return false;
    return sameBytes(em.subarray(t, t + SHA1_DIGEST_INFO.length), SHA1_DIGEST_INFO) && sameBytes(em.subarray(em.length - digest.length), digest);
  } catch {
    return false;
  }
}

/** The modulus and exponent of an RSA SubjectPublicKeyInfo (RFC 8017 App. A.1.1), or undefined. */
function rsaPublicKey(spki: Uint8Array): { n: bigint; e: bigint } | undefined {
  try {
    if (spkiKeyType(spki) !== 'rsa') return undefined;
    const outer = new Reader(parseSpki(spki).publicKey);
    const seq = decodeDerSequence(outer);
    const n = decodeDerUnsigned(seq);
    const e = decodeDerUnsigned(seq);
    return { n, e };
  } catch {
    return undefined;
  }
}

/**
 * The modulus size in bits of an RSA SubjectPublicKeyInfo, or `undefined` for another key type (or a
 * malformed key). Used for the RSA key size policy (OpenSSL security level 2: 2048 bits).
 *
 * @example
 * rsaModulusBits(certificateSpki(leafDer)); // 2048
 */
export function rsaModulusBits(spki: Uint8Array): number | undefined {
  const key = rsaPublicKey(spki);
  return key ? bitLength(key.n) : undefined;
}

/** Smallest RSA modulus accepted by default, in bits (OpenSSL security level 2, 112-bit security). */
export const DEFAULT_MIN_RSA_BITS = 2048;

type Failure = Extract<CertificateVerdict, { ok: false }>;
const reject = (code: CertificateErrorCode, reason: string): Failure => ({ ok: false, code, reason });

/** The trust store: anchors by DER (exact pins) and by subject (issuer lookup). */
class TrustStore {
  private readonly byDer = new Set<string>();
  private readonly bySubject = new Map<string, ParsedCertificate[]>();
  add(c: ParsedCertificate): void {
    const key = bytesKey(c.der);
    if (this.byDer.has(key)) return;
    this.byDer.add(key);
    const list = this.bySubject.get(c.subject.canonical) ?? [];
    list.push(c);
    this.bySubject.set(c.subject.canonical, list);
  }
  isAnchor(c: ParsedCertificate): boolean {
    return this.byDer.has(bytesKey(c.der));
  }
  issuersOf(c: ParsedCertificate): readonly ParsedCertificate[] {
    return this.bySubject.get(c.issuer.canonical) ?? [];
  }
}

/** Certificate input: PEM text, DER, or a list of those (see `loadCertificateChain`). */
export type CertificateInput = string | Uint8Array | readonly (string | Uint8Array)[];

/** Options of {@link createVerifier}. */
export interface VerifierOptions {
  /** Trust anchors (PEM text, DER, or a list). When given, system roots are used only with `useSystemRoots`. */
  readonly ca?: CertificateInput;
  /** Also trust `systemRoots`. Defaults to true when `ca` is absent, false otherwise. */
  readonly useSystemRoots?: boolean;
  /**
   * The platform's root certificates (DER). There are none in a browser; in Node, `createVerifier` of
   * `src/node/verifier.ts` passes node:tls `rootCertificates`. Unparsable roots are skipped.
   */
  readonly systemRoots?: readonly Uint8Array[];
  /** The platform checks; default {@link portableChecks}. */
  readonly checks?: CertificateChecks;
  /**
   * Accept certificates signed with SHA-1 (sha1WithRSAEncryption, ecdsa-with-SHA1). Default false: such a
   * signature is refused with `weak_signature` (OpenSSL security level 1 and up in 3.0). MD5 and MD2 are
   * refused always.
   */
  readonly allowSha1?: boolean;
  /**
   * Smallest RSA key accepted in the path (leaf, intermediates and trust anchor), in bits; default 2048
   * (OpenSSL security level 2). A smaller key is refused with `weak_key`.
   */
  readonly minRsaBits?: number;
}

/** The algorithm policy of a verifier. */
interface Policy {
  readonly allowSha1: boolean;
  readonly minRsaBits: number;
}

/** Parsed system roots, per list given (parsed once, even for several verifiers). */
const parsedRoots = new WeakMap<readonly Uint8Array[], ParsedCertificate[]>();
function parseRoots(roots: readonly Uint8Array[]): ParsedCertificate[] {
  let out = parsedRoots.get(roots);
  if (!out) {
    out = [];
    for (const der of roots) {
      try {
        out.push(parseUncached(der));
      } catch {
        // a root we cannot read simply anchors nothing
      }
    }
    parsedRoots.set(roots, out);
  }
  return out;
}

/**
 * A verifier trusting `opts.ca` and/or the system roots. Checks, for the path leaf → intermediates (from the
 * chain) → trust anchor: every signature, validity at `req.now`, issuers are CAs (basicConstraints) with
 * keyCertSign when keyUsage is present, pathLenConstraint, no unknown critical extension; for the leaf the
 * extendedKeyUsage for `req.usage` and digitalSignature; for usage `server` with a `serverName`, the name
 * (DNS, never the CN, no partial wildcards) or IP literal against subjectAltName. A CA certificate given as an
 * anchor is trusted as is; an exactly pinned leaf (e.g. a self-signed certificate) is accepted alone.
 * Throws a TlsError (`apiMisuse`) when a `ca` certificate does not parse, or when system roots are wanted
 * (explicitly, or by giving no `ca`) but none were supplied.
 *
 * @example
 * const verifier = createVerifier({ ca: caPem });
 * verifier.verify({ chain, usage: 'server', serverName: 'localhost', now }); // { ok: true, subject: 'CN=localhost' }
 */
export function createVerifier(opts: VerifierOptions = {}): CertificateVerifier {
  const store = new TrustStore();
  if (opts.ca !== undefined) {
    for (const der of loadCertificateChain(opts.ca, 'ca')) {
      try {
        store.add(parseCertificate(der));
      } catch (e) {
        throw new TlsError({ kind: 'apiMisuse', reason: `cannot parse CA certificate: ${(e as Error).message}` });
      }
    }
  }
  if (opts.useSystemRoots ?? opts.ca === undefined) {
    if (!opts.systemRoots) {
      throw new TlsError({
        kind: 'apiMisuse',
        reason: 'no system root certificates on this platform: pass `ca` (or `systemRoots`)',
      });
    }
    for (const c of parseRoots(opts.systemRoots)) store.add(c);
  }
  const checks = opts.checks ?? portableChecks;
  const minRsaBits = opts.minRsaBits ?? DEFAULT_MIN_RSA_BITS;
  if (!Number.isInteger(minRsaBits) || minRsaBits < 0 || minRsaBits > 16384) {
    throw new TlsError({ kind: 'apiMisuse', reason: `minRsaBits must be an integer in 0..16384, got ${String(opts.minRsaBits)}` });
  }
  const policy: Policy = { allowSha1: opts.allowSha1 === true, minRsaBits };
  return { verify: (req) => verifyChain(store, checks, policy, req) };
}

function verifyChain(store: TrustStore, checks: CertificateChecks, policy: Policy, req: VerifyRequest): CertificateVerdict {
  if (req.chain.length === 0) {
    return reject('no_certificate', req.usage === 'client' ? 'the client sent no certificate' : 'the server sent no certificate');
  }
  if (req.chain.length > MAX_CHAIN_LENGTH) return reject('path_too_long', `chain of ${req.chain.length} certificates`);
  const certs: ParsedCertificate[] = [];
  for (const [i, der] of req.chain.entries()) {
    let cert: ParsedCertificate;
    try {
      cert = parseCertificate(der);
    } catch (e) {
      return reject(e instanceof UnsupportedCertificate ? 'unsupported' : 'bad_encoding', `certificate ${i}: ${(e as Error).message}`);
    }
    const unreadable = checks.unreadable?.(cert);
    if (unreadable) return reject('bad_encoding', `certificate ${i}: ${unreadable}`);
    certs.push(cert);
  }
  if (req.usage === 'server' && req.serverName !== undefined) {
    const bad = referenceNameProblem(req.serverName);
    if (bad) return reject('hostname_mismatch', bad);
  }
  // One name-comparison budget for every candidate path of this verification.
  const budget: ComparisonBudget = { left: MAX_NAME_COMPARISONS };
  // An exactly pinned leaf (a self-signed certificate given as `ca`) is accepted alone.
  if (store.isAnchor(certs[0]!)) return checkPath(checks, policy, req, [certs[0]!], null, budget);
  return buildPath(store, checks, policy, req, certs, budget);
}

/**
 * Every check of RFC 5280 §6.1 and of TLS's use of the leaf, for one candidate path `path` (leaf first) under
 * `anchor` (null for a pinned leaf): the first failure, or the verdict that it holds.
 */
function checkPath(
  checks: CertificateChecks,
  policy: Policy,
  req: VerifyRequest,
  path: readonly ParsedCertificate[],
  anchor: ParsedCertificate | null,
  budget: ComparisonBudget,
): CertificateVerdict {
  const all = anchor ? [...path, anchor] : path;
  // RFC 5280 §6.1.3 (a)(2): every certificate of the path is within its validity period. Times are whole seconds
  // (fractions are refused when parsed), so a certificate is valid through the last millisecond of notAfter.
  for (const c of all) {
    const who = c.subject.display;
    if (req.now < c.notBefore) return reject('not_yet_valid', `${who} is not valid before ${iso(c.notBefore)}`);
    if (req.now >= c.notAfter + 1000) return reject('expired', `${who} expired at ${iso(c.notAfter)}`);
  }
  // RFC 5280 §6.1.4 (k), (l), (m), (n): issuers are CAs with keyCertSign; pathLen bounds the intermediates below,
  // self-issued ones not counted (§6.1.4 (l) decrements max_path_length only for the others).
  for (let i = 1; i < all.length; i++) {
    const c = all[i]!;
    const who = c.subject.display;
    if (!c.ca) return reject('not_a_ca', `${who} is not a CA but issued a certificate`);
    if (c.keyUsage && !hasBit(c.keyUsage, KU_KEY_CERT_SIGN)) return reject('not_a_ca', `${who} lacks keyCertSign`);
    if (c.pathLen !== undefined) {
      const below = all.slice(1, i).filter((b) => !selfIssued(b)).length;
      if (below > c.pathLen) return reject('path_too_long', `${who} allows ${c.pathLen} intermediates, got ${below}`);
    }
  }
  // RFC 5280 §4.2: a certificate with an unrecognised critical extension MUST be rejected.
  for (const c of path) {
    if (c.criticalUnknown.length > 0) {
      return reject('unsupported', `${c.subject.display} has unsupported critical extension ${c.criticalUnknown.join(', ')}`);
    }
  }
  // Key size policy (OpenSSL security level 2 by default): every key of the path, the anchor's included.
  for (const c of all) {
    const bits = rsaModulusBits(c.spki);
    if (bits !== undefined && bits < policy.minRsaBits) {
      return reject('weak_key', `${c.subject.display} has a ${bits}-bit RSA key, under the ${policy.minRsaBits} bits required`);
    }
  }
  // RFC 5280 §6.1.3 (b), (c): each CA's name constraints (the anchor's too) bind every certificate below it;
  // a self-issued intermediate is exempt from them unless it is the leaf (§4.2.1.10).
  for (let i = 1; i < all.length; i++) {
    const nc = all[i]!.nameConstraints;
    if (!nc) continue;
    for (let j = 0; j < i; j++) {
      const c = all[j]!;
      if (j > 0 && selfIssued(c)) continue;
      const violation = nameConstraintViolation(nc, {
        dnsNames: c.dnsNames,
        ipAddresses: c.ipAddresses,
        emails: c.emails,
        otherForms: c.otherNameForms,
        subject: c.subject.rdns,
      }, budget);
      if (violation) return reject('name_constraints', `${c.subject.display}: ${violation} of ${all[i]!.subject.display}`);
    }
  }
  const leaf = path[0]!;
  const leafName = leaf.subject.display;
  // A CA certificate is no end entity (webpki's CaUsedAsEndEntity, the CA/Browser Forum's profile), unless it is
  // pinned itself (a self-signed certificate given as `ca`, as `openssl req -x509` makes them).
  if (anchor && leaf.ca) return reject('bad_usage', `${leafName} is a CA certificate, not one for an end entity`);
  // RFC 5280 §4.2.1.12 / RFC 8446 §4.4.2.2: the purpose must allow TLS server (or client) authentication. As in
  // OpenSSL and webpki, anyExtendedKeyUsage does not stand for it in the leaf, and an intermediate's extended key
  // usage constrains what it issues (there anyExtendedKeyUsage allows everything).
  const purpose = req.usage === 'server' ? EKU.serverAuth : EKU.clientAuth;
  if (leaf.eku && !leaf.eku.includes(purpose)) return reject('bad_usage', `${leafName} is not for TLS ${req.usage} authentication`);
  for (const c of path.slice(1)) {
    if (c.eku && !c.eku.includes(purpose) && !c.eku.includes(EKU.any)) {
      return reject('bad_usage', `${c.subject.display} may not issue certificates for TLS ${req.usage} authentication (extendedKeyUsage)`);
    }
  }
  if (leaf.keyUsage && !hasBit(leaf.keyUsage, KU_DIGITAL_SIGNATURE)) {
    return reject('bad_usage', `${leafName} lacks digitalSignature key usage`);
  }
  if (req.usage === 'server' && req.serverName !== undefined) {
    const mismatch = checks.nameMismatch(leaf, req.serverName);
    if (mismatch) return reject('hostname_mismatch', `${leafName}: ${mismatch}`);
  }
  return { ok: true, subject: leafName };
}

/** Self-issued (RFC 5280 §6.1): subject and issuer are the same name (a key rollover, or a self-signed CA). */
function selfIssued(c: ParsedCertificate): boolean {
  return c.subject.canonical === c.issuer.canonical;
}

/**
 * Why a server name cannot be matched against a certificate at all (RFC 6125 §6.4.1, §6.4.3; webpki's
 * reference identifiers): a wildcard is a pattern in certificates, not a name to connect to; a leading dot or an
 * empty label names no host; a character outside printable ASCII is in no dNSName (an IA5String in the
 * preferred name syntax, IDNs as A-labels: RFC 5280 §4.2.1.6, §7.2). undefined for a usable name (or an IP
 * literal).
 */
export function referenceNameProblem(serverName: string): string | undefined {
  const bare = serverName.startsWith('[') && serverName.endsWith(']') ? serverName.slice(1, -1) : serverName;
  if (parseIpAddress(bare)) return undefined;
  if (bare.includes('*')) return `server name ${serverName} is a wildcard pattern, not a host name`;
  const host = bare.endsWith('.') ? bare.slice(0, -1) : bare;
  if (host.length === 0 || host.split('.').some((label) => label.length === 0)) return `server name ${serverName} has an empty label`;
  if (!/^[\x21-\x7e]+$/.test(host)) return `server name ${JSON.stringify(serverName)} is not printable ASCII (IDNs are compared as A-labels)`;
  return undefined;
}

/**
 * Issuers whose signature over a certificate has verified, per {@link CertificateChecks}. Certificates are parsed
 * once per content ({@link parseCertificate}), so a server's chain is checked against the same issuer objects on
 * every handshake and each signature is verified once; a re-parsed certificate starts afresh. Kept per checks
 * table so that one implementation's result never stands in for another's.
 */
const verifiedCache = new WeakMap<CertificateChecks, WeakMap<ParsedCertificate, WeakSet<ParsedCertificate>>>();

function verifiedBy(checks: CertificateChecks, cert: ParsedCertificate): WeakSet<ParsedCertificate> {
  let byCert = verifiedCache.get(checks);
  if (!byCert) verifiedCache.set(checks, (byCert = new WeakMap()));
  let set = byCert.get(cert);
  if (!set) byCert.set(cert, (set = new WeakSet()));
  return set;
}

/**
 * Most candidate paths tried (nodes of the search) in one verification, beside {@link MAX_SIGNATURE_CHECKS}:
 * signatures verified once are cached, so a chain of same-named certificates could otherwise make the search
 * try every order of them for free.
 */
const MAX_PATH_TRIES = 100;

/**
 * Path building with backtracking (RFC 4158 §2, as webpki does it): from the leaf, each candidate issuer in turn
 * (trust anchors first, then the chain's certificates in the order sent), depth first; a candidate path that
 * reaches an anchor is checked whole ({@link checkPath}), and if it fails the search goes on. So an expired or
 * alternate cross-signed copy of an intermediate sent before the one that works does not decide the verdict.
 * Bounded by {@link MAX_SIGNATURE_CHECKS}, {@link MAX_PATH_TRIES} and {@link MAX_PATH_LENGTH}. When no path
 * holds, the failure of the first path that reached an anchor is reported, or else why the first dead end had no
 * issuer.
 */
function buildPath(
  store: TrustStore,
  checks: CertificateChecks,
  policy: Policy,
  req: VerifyRequest,
  certs: readonly ParsedCertificate[],
  budget: ComparisonBudget,
): CertificateVerdict {
  const path: ParsedCertificate[] = [certs[0]!];
  const used = new Set<number>([0]);
  let checked = 0;
  let tries = 0;
  let completeFailure: Failure | undefined;
  let deadEnd: Failure | undefined;
  const search = (): CertificateVerdict | undefined => {
    if (++tries > MAX_PATH_TRIES) {
      deadEnd ??= reject('path_too_long', `no path to a trust anchor within ${MAX_PATH_TRIES} candidate paths`);
      return undefined;
    }
    const cur = path[path.length - 1]!;
    let badSignature: string | undefined;
    let weakSignature: string | undefined;
    const verified = verifiedBy(checks, cur);
    const issued = (issuer: ParsedCertificate): boolean => {
      if (!checks.issued(cur, issuer)) return false;
      // A signature over a broken hash proves nothing: refused before any arithmetic, unless SHA-1 is allowed.
      if (cur.legacyHash && !(cur.legacyHash === 'sha1' && policy.allowSha1)) {
        weakSignature = `${cur.subject.display} is signed with ${cur.legacyHash.toUpperCase()}${cur.legacyHash === 'sha1' ? ' (allowSha1 accepts it)' : ''}`;
        return false;
      }
      if (verified.has(issuer)) return true;
      if (checked++ >= MAX_SIGNATURE_CHECKS) return false;
      if (checks.signatureValid(cur, issuer)) {
        verified.add(issuer);
        return true;
      }
      const alg = typeof cur.signatureAlgorithm === 'string' ? ` (unsupported algorithm ${cur.signatureAlgorithm})` : '';
      badSignature = `signature of ${cur.subject.display} by ${issuer.subject.display} does not verify${alg}`;
      return false;
    };
    let candidates = 0;
    for (const anchor of store.issuersOf(cur)) {
      if (!issued(anchor)) continue;
      candidates++;
      const verdict = checkPath(checks, policy, req, path, anchor, budget);
      if (verdict.ok) return verdict;
      completeFailure ??= verdict;
    }
    if (path.length < MAX_PATH_LENGTH) {
      for (let i = 1; i < certs.length; i++) {
        if (used.has(i) || !issued(certs[i]!)) continue;
        candidates++;
        used.add(i);
        path.push(certs[i]!);
        const verdict = search();
        if (verdict) return verdict;
        path.pop();
        used.delete(i);
        if (tries > MAX_PATH_TRIES) return undefined;
      }
    } else {
      deadEnd ??= reject('path_too_long', `no trust anchor within ${MAX_PATH_LENGTH} certificates`);
    }
    if (candidates === 0) {
      if (checked > MAX_SIGNATURE_CHECKS) deadEnd ??= reject('path_too_long', `no path to a trust anchor within ${MAX_SIGNATURE_CHECKS} signature checks`);
      else if (weakSignature) deadEnd ??= reject('weak_signature', weakSignature);
      else if (badSignature) deadEnd ??= reject('bad_signature', badSignature);
      else deadEnd ??= reject('unknown_ca', `no trusted issuer for ${cur.issuer.display}`);
    }
    return undefined;
  };
  return search() ?? completeFailure ?? deadEnd ?? reject('unknown_ca', `no trusted issuer for ${certs[0]!.issuer.display}`);
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
