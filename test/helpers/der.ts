/**
 * A small DER writer and X.509 certificate builder for adversarial path-validation probes
 * (test/crypto/limbo.test.ts, test/crypto/limbo2.test.ts). Certificates are signed with Ed25519 keys derived
 * from fixed seeds, so every certificate is the same byte for byte on every run (an ECDSA key, given for SHA-1
 * probes, signs too, but not deterministically). Every part of a certificate can be replaced by raw bytes, so
 * that malformed encodings (non-minimal lengths, wrong versions, bad times…) can be signed validly: the probe
 * then tests the parser, not the signature check.
 */
import { type KeyObject, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { concatBytes } from '../vectors/hex.js';

export type Bytes = Uint8Array;

export const concat = (...parts: readonly Bytes[]): Bytes => concatBytes(...parts);

/** The DER length octets for `n` (definite, minimal). */
export function derLength(n: number): Bytes {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: readonly Bytes[]): Bytes {
  const body = concat(...content);
  return concat(Uint8Array.of(tag), derLength(body.length), body);
}

/** Split a (single-octet-tag) TLV into its tag and contents. */
export function untlv(element: Bytes): { tag: number; value: Bytes } {
  const first = element[1]!;
  const header = first < 0x80 ? 2 : 2 + (first & 0x7f);
  return { tag: element[0]!, value: element.subarray(header) };
}

/**
 * The same element with its length in the long form with `octets` length octets (BER, not DER): by default one
 * more than needed (`81 05` for a short length, `83 00 01 2c` where DER writes `82 01 2c`).
 */
export function nonMinimalLength(element: Bytes, octets?: number): Bytes {
  const { tag, value } = untlv(element);
  const minimal = derLength(value.length);
  // minimal.length is 1 (short form) or 1 + k (0x8k and k octets): either way, one octet more than DER uses.
  const n = octets ?? minimal.length;
  const len: number[] = [];
  for (let v = value.length, i = 0; i < n; i++, v = Math.floor(v / 256)) len.unshift(v & 0xff);
  return concat(Uint8Array.from([tag, 0x80 | n, ...len]), value);
}

/** The same constructed element in the BER indefinite-length form (contents, then end-of-contents 00 00). */
export function indefiniteLength(element: Bytes): Bytes {
  const { tag, value } = untlv(element);
  return concat(Uint8Array.of(tag, 0x80), value, Uint8Array.of(0, 0));
}

export const seq = (...c: readonly Bytes[]): Bytes => tlv(0x30, ...c);
export const set = (...c: readonly Bytes[]): Bytes => tlv(0x31, ...c);
export const octet = (b: Bytes): Bytes => tlv(0x04, b);
export const bool = (v: boolean): Bytes => tlv(0x01, Uint8Array.of(v ? 0xff : 0x00));
export const ascii = (s: string): Bytes => Uint8Array.from([...s].map((c) => c.charCodeAt(0)));
export const utf8 = (s: string): Bytes => tlv(0x0c, new TextEncoder().encode(s));
export const printable = (s: string): Bytes => tlv(0x13, ascii(s));

export function oid(dotted: string): Bytes {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const out: number[] = [];
  const push = (v: bigint): void => {
    const b: number[] = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) b.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...b);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Uint8Array.from(out));
}

/** A minimal two's-complement INTEGER. */
export function int(v: number | bigint): Bytes {
  let n = BigInt(v);
  const out: number[] = [];
  for (;;) {
    const byte = Number(n & 0xffn);
    out.unshift(byte);
    n >>= 8n;
    if ((n === 0n && (byte & 0x80) === 0) || (n === -1n && (byte & 0x80) !== 0)) break;
  }
  return tlv(0x02, Uint8Array.from(out));
}

/** A named-bit BIT STRING (DER: trailing zero bits dropped). */
export function namedBits(bits: readonly number[]): Bytes {
  if (bits.length === 0) return tlv(0x03, Uint8Array.of(0));
  const max = Math.max(...bits);
  const bytes = new Uint8Array((max >> 3) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return tlv(0x03, Uint8Array.of(7 - (max & 7)), bytes);
}

const two = (n: number): string => String(n).padStart(2, '0');
export function utcTime(ms: number): Bytes {
  const d = new Date(ms);
  const yy = d.getUTCFullYear() % 100;
  return tlv(0x17, ascii(`${two(yy)}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`));
}
export function generalizedTime(ms: number): Bytes {
  const d = new Date(ms);
  return tlv(0x18, ascii(`${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`));
}
/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export const time = (ms: number): Bytes => (new Date(ms).getUTCFullYear() < 2050 ? utcTime(ms) : generalizedTime(ms));
/** A UTCTime with the given text, as is (for malformed times). */
export const rawUtcTime = (s: string): Bytes => tlv(0x17, ascii(s));
export const rawGeneralizedTime = (s: string): Bytes => tlv(0x18, ascii(s));

// ---- X.509 pieces ----

export const OID = {
  cn: '2.5.4.3',
  o: '2.5.4.10',
  c: '2.5.4.6',
  ed25519: '1.3.101.112',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha1: '1.2.840.10045.4.1',
  bc: '2.5.29.19',
  ku: '2.5.29.15',
  eku: '2.5.29.37',
  san: '2.5.29.17',
  nc: '2.5.29.30',
  ski: '2.5.29.14',
  aki: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  anyEku: '2.5.29.37.0',
} as const;

/** An AttributeTypeAndValue; the value is a UTF8String unless given as an encoded string. */
export const atv = (type: string, value: string | Bytes): Bytes => seq(oid(type), typeof value === 'string' ? utf8(value) : value);
/** A Name of single-valued RDNs, in order. */
export const dn = (...atvs: readonly Bytes[]): Bytes => seq(...atvs.map((a) => set(a)));
/** A Name with one CN. */
export const cnName = (cn: string): Bytes => dn(atv(OID.cn, cn));
export const algId = (o: string): Bytes => seq(oid(o));

export const ext = (id: string, value: Bytes, critical = false): Bytes => seq(oid(id), ...(critical ? [bool(true)] : []), octet(value));
/** basicConstraints; `ca: false` is the DER encoding of cA FALSE: the default, omitted. */
export const bc = (ca: boolean, pathLen?: number, critical = true): Bytes =>
  ext(OID.bc, seq(...(ca ? [bool(true)] : []), ...(pathLen !== undefined ? [int(pathLen)] : [])), critical);
/** keyUsage bits: 0 digitalSignature, 2 keyEncipherment, 4 keyAgreement, 5 keyCertSign, 6 cRLSign. */
export const ku = (bits: readonly number[], critical = true): Bytes => ext(OID.ku, namedBits(bits), critical);
export const eku = (purposes: readonly string[]): Bytes => ext(OID.eku, seq(...purposes.map(oid)));
export const ski = (id: Bytes): Bytes => ext(OID.ski, octet(id));
export const aki = (id: Bytes): Bytes => ext(OID.aki, seq(tlv(0x80, id)));
export const DIGITAL_SIGNATURE = 0;
export const KEY_CERT_SIGN = 5;
export const CRL_SIGN = 6;

// GeneralName (RFC 5280 §4.2.1.6)
export const dns = (n: string): Bytes => tlv(0x82, ascii(n));
/** A dNSName with raw contents (non-ASCII, NUL…). */
export const dnsRaw = (b: Bytes): Bytes => tlv(0x82, b);
export const email = (n: string): Bytes => tlv(0x81, ascii(n));
export const uri = (n: string): Bytes => tlv(0x86, ascii(n));
export const ip = (bytes: readonly number[]): Bytes => tlv(0x87, Uint8Array.from(bytes));
export const dirName = (name: Bytes): Bytes => tlv(0xa4, name);
/** An otherName whose value is a UTF8String. */
export const otherName = (type: string, value: string): Bytes => tlv(0xa0, oid(type), tlv(0xa0, utf8(value)));
/** An (empty) x400Address: a name form no verifier processes. */
export const x400Address = (): Bytes => tlv(0xa3, seq());
export const san = (...names: readonly Bytes[]): Bytes => ext(OID.san, seq(...names));
export const nameConstraints = (permitted: readonly Bytes[], excluded: readonly Bytes[] = [], critical = true): Bytes =>
  ext(
    OID.nc,
    seq(
      ...(permitted.length ? [tlv(0xa0, ...permitted.map((g) => seq(g)))] : []),
      ...(excluded.length ? [tlv(0xa1, ...excluded.map((g) => seq(g)))] : []),
    ),
    critical,
  );

/** A party that can issue: its subject Name, key, and certificate. */
export interface Issuer {
  readonly name: Bytes;
  readonly key: KeyObject;
  readonly der: Bytes;
}

/** Ed25519 key from a fixed seed (and a fill byte, so that two files' keys differ). */
export function edKey(seed: number, fill = 0x6b): KeyObject {
  const secret = new Uint8Array(32).fill(fill);
  new DataView(secret.buffer).setUint32(28, seed);
  const pkcs8 = concat(Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]), secret);
  return createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
}
export const spkiOf = (key: KeyObject): Bytes => new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));

export const Y = (y: number, m = 1, d = 1): number => Date.UTC(y, m - 1, d);
export const NOT_BEFORE = Y(2025);
export const NOT_AFTER = Y(2035);

export interface CertSpec {
  /** Subject: a CN, or a whole encoded Name. */
  readonly subject: string | Bytes;
  readonly key: KeyObject;
  /** Signer; self-signed when absent. */
  readonly issuer?: Issuer;
  readonly exts?: readonly Bytes[];
  /** The whole `[3] Extensions` element, raw (overrides `exts`). */
  readonly extensions?: Bytes;
  /** Raw serialNumber TLV (default a small positive INTEGER). */
  readonly serial?: Bytes;
  readonly notBefore?: Bytes;
  readonly notAfter?: Bytes;
  /** Raw `[0] version` element; `null` omits it (v1); default `[0] INTEGER 2` (v3). */
  readonly version?: Bytes | null;
  /**
   * AlgorithmIdentifier in both places (default by the signer's key: Ed25519 without parameters, or
   * ecdsa-with-SHA256 / ecdsa-with-SHA1 after `digest`).
   */
  readonly alg?: Bytes;
  /** AlgorithmIdentifier in the TBSCertificate only (default `alg`): a mismatch with the outer one. */
  readonly tbsAlg?: Bytes;
  /** Digest for an ECDSA signer (default sha256); Ed25519 has none. */
  readonly digest?: 'sha1' | 'sha256';
  /** Raw issuerUniqueID / subjectUniqueID elements, placed after the subjectPublicKeyInfo. */
  readonly uniqueIds?: readonly Bytes[];
  /** A last change to the TBSCertificate before it is signed (e.g. a non-minimal length). */
  readonly mutateTbs?: (tbs: Bytes) => Bytes;
}

export const v3 = (): Bytes => tlv(0xa0, int(2));

let serialCounter = 1;
/** Build and sign (Ed25519, or ECDSA when the signer's key is an EC one) a certificate. */
export function certify(spec: CertSpec): Issuer {
  const signerKey = spec.issuer?.key ?? spec.key;
  const ed = signerKey.asymmetricKeyType === 'ed25519';
  const digest = spec.digest ?? 'sha256';
  const subject = typeof spec.subject === 'string' ? cnName(spec.subject) : spec.subject;
  const alg = spec.alg ?? algId(ed ? OID.ed25519 : digest === 'sha1' ? OID.ecdsaSha1 : OID.ecdsaSha256);
  const extensions = spec.extensions ?? (spec.exts && spec.exts.length ? tlv(0xa3, seq(...spec.exts)) : undefined);
  let tbs = seq(
    ...(spec.version === null ? [] : [spec.version ?? v3()]),
    spec.serial ?? int(serialCounter++),
    spec.tbsAlg ?? alg,
    spec.issuer?.name ?? subject,
    seq(spec.notBefore ?? time(NOT_BEFORE), spec.notAfter ?? time(NOT_AFTER)),
    subject,
    spkiOf(spec.key),
    ...(spec.uniqueIds ?? []),
    ...(extensions ? [extensions] : []),
  );
  if (spec.mutateTbs) tbs = spec.mutateTbs(tbs);
  const sig = ed ? sign(null, tbs, signerKey) : sign(digest, tbs, { key: signerKey, dsaEncoding: 'der' });
  const der = seq(tbs, alg, tlv(0x03, Uint8Array.of(0), new Uint8Array(sig)));
  return { name: subject, key: spec.key, der };
}

// ---- the usual probe shapes ----

/** A CA's extensions: basicConstraints cA, keyUsage keyCertSign and cRLSign. */
export const CA_EXTS: readonly Bytes[] = [bc(true), ku([KEY_CERT_SIGN, CRL_SIGN])];
/** A server leaf's extensions: digitalSignature, serverAuth, and the SAN `names` (default dNSName example.com). */
export const LEAF_EXTS = (...names: readonly Bytes[]): Bytes[] => [ku([DIGITAL_SIGNATURE]), eku([OID.serverAuth]), san(...(names.length ? names : [dns('example.com')]))];

/** What a probe may change in a certificate built by `root`, `ca` or `leaf`. */
export type Extra = Partial<Omit<CertSpec, 'key' | 'issuer'>>;

export interface ProbeCerts {
  /** The next Ed25519 key of the sequence. */
  readonly nextKey: () => KeyObject;
  /** A self-signed CA (a fresh key). */
  readonly root: (cn: string, exts?: readonly Bytes[], extra?: Extra) => Issuer;
  /** A CA issued by `issuer` (a fresh key). */
  readonly ca: (cn: string, issuer: Issuer, exts?: readonly Bytes[], extra?: Extra) => Issuer;
  /** A leaf `CN=leaf` issued by `issuer` (a fresh key). */
  readonly leaf: (issuer: Issuer, exts?: readonly Bytes[], extra?: Extra) => Issuer;
}

/**
 * Certificate builders over one sequence of Ed25519 keys, seeds 1, 2, 3… with the given fill byte (`edKey`): a
 * probe file that builds its certificates in the same order gets the same certificates on every run.
 */
export function probeCerts(fill?: number): ProbeCerts {
  let seed = 1;
  const nextKey = (): KeyObject => edKey(seed++, fill);
  return {
    nextKey,
    root: (cn, exts = CA_EXTS, extra = {}) => certify({ subject: cn, key: nextKey(), exts, ...extra }),
    ca: (cn, issuer, exts = CA_EXTS, extra = {}) => certify({ subject: cn, key: nextKey(), issuer, exts, ...extra }),
    leaf: (issuer, exts = LEAF_EXTS(), extra = {}) => certify({ subject: 'leaf', key: nextKey(), issuer, exts, ...extra }),
  };
}
