/**
 * PKCS#12 (RFC 7292) for node:tls `pfx` + `passphrase`: a PFX read down to its private key and certificates,
 * portably (@noble/hashes, @noble/ciphers; no `node:` module).
 *
 * PFX → authSafe ContentInfo (`data`, password integrity mode) → AuthenticatedSafe: ContentInfos of `data`
 * (plain SafeContents) or `encryptedData` (PBES2-encrypted SafeContents) → SafeBags: `keyBag`,
 * `pkcs8ShroudedKeyBag` (PBES2), `certBag` (X.509), `safeContentsBag` (nested). The MAC is checked first: the
 * PKCS#12 KDF (RFC 7292 App. B.2) with SHA-1/224/256/384/512 HMAC (`openssl pkcs12 -export` writes SHA-256),
 * or PBMAC1 (RFC 9579). Encryption is what OpenSSL 3's `pkcs12 -export` writes by default: PBES2 with PBKDF2 and
 * AES-CBC. The legacy PKCS#12 PBE schemes (3DES, RC2, RC4: OpenSSL 1.x and `-legacy`) are refused with the
 * command that converts the file. BER (indefinite lengths, constructed strings, as some Windows and macOS exports
 * use) is read as well as DER.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { TlsError } from '../core/errors.js';
import { DerTag, contextTag, decodeDerElement, decodeDerOctetString, decodeDerOid, decodeDerSequence, decodeDerSmallInt, peekDerTag } from '../wire/der.js';
import { DecodeError, Reader } from '../wire/reader.js';
import { checkServerIdentity } from './identity.js';
import { loadPrivateKey } from './keys.js';
import { LEGACY_NAMES, PBKDF2, PRFS, decryptPbes2, pbkdf2Params } from './pkcs8Encrypted.js';
import type { SigningKey } from './provider.js';
import { parseCertificate } from './x509.js';

/** Object identifiers (RFC 7292 App. D, RFC 2315 §14, RFC 8018 App. C, RFC 9579 §4). */
const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbmac1: '1.2.840.113549.1.5.14',
} as const;

/** MAC digests of the PKCS#12 KDF MAC, by OID: SHA-1, SHA-224/256/384/512. */
const MAC_HASHES = {
  '1.3.14.3.2.26': sha1,
  '2.16.840.1.101.3.4.2.4': sha224,
  '2.16.840.1.101.3.4.2.1': sha256,
  '2.16.840.1.101.3.4.2.2': sha384,
  '2.16.840.1.101.3.4.2.3': sha512,
} as const;
type Hash = (typeof MAC_HASHES)[keyof typeof MAC_HASHES];

/** More iterations than this is a hostile file (OpenSSL writes 2048). */
const MAX_ITERATIONS = 10_000_000;
/** BER nesting deeper than this is refused (a PFX needs about 12 levels). */
const MAX_DEPTH = 32;
/** What converts a legacy file: OpenSSL 3 reads it with `-legacy` and writes PBES2 + AES-256-CBC. */
const CONVERT =
  'convert it with: openssl pkcs12 -in old.p12 -legacy -nodes -out tmp.pem && openssl pkcs12 -export -in tmp.pem -keypbe AES-256-CBC -certpbe AES-256-CBC -out new.p12 (then delete tmp.pem)';

/** One bag's payload and the attributes that tie keys to certificates. */
export interface Pkcs12Item {
  /** A PKCS#8 PrivateKeyInfo (keys) or an X.509 certificate (certificates), DER. */
  readonly der: Uint8Array;
  /** `localKeyId` (RFC 2985 §5.5.2): the same value on a key and its certificate. */
  readonly localKeyId?: Uint8Array;
  /** `friendlyName` (RFC 2985 §5.5.1). */
  readonly friendlyName?: string;
}

/** What a PFX holds, in file order. */
export interface Pkcs12Contents {
  readonly keys: readonly Pkcs12Item[];
  readonly certificates: readonly Pkcs12Item[];
  /** How the file is authenticated: no MAC (`openssl pkcs12 -nomac`), the PKCS#12 KDF MAC, or PBMAC1. */
  readonly integrity: 'none' | 'pkcs12-kdf' | 'pbmac1';
}

const misuse = (reason: string): TlsError => new TlsError({ kind: 'apiMisuse', reason: `pfx (PKCS#12): ${reason}` });

/** A wrong passphrase found while decrypting (kept apart from other failures to tell it from a damaged MAC). */
class WrongPassphrase extends Error {}

/**
 * Read a PFX (DER or BER): check its MAC, decrypt its encrypted parts and return its keys and certificates.
 * `passphrase` absent is the empty one (OpenSSL tries both empty encodings: no bytes, and the BMPString "").
 *
 * Throws a {@link TlsError} (`apiMisuse`) whose reason names the problem: `wrong passphrase`; `the MAC does not
 * match the contents (the file is damaged or was modified)`; a legacy scheme (3DES, RC2, RC4) with the
 * conversion command; public-key integrity or privacy modes (signedData, envelopedData); a malformed file.
 *
 * @example
 * ```ts
 * const { keys, certificates } = parsePkcs12(readFileSync('server.p12'), 'secret');
 * ```
 */
export function parsePkcs12(pfx: Uint8Array, passphrase?: string): Pkcs12Contents {
  if (!(pfx instanceof Uint8Array)) throw misuse('expected the file contents as bytes (a Buffer or Uint8Array)');
  if (passphrase !== undefined && typeof passphrase !== 'string') throw misuse('passphrase must be a string');
  const pass = passphrase ?? '';
  let authSafe: Uint8Array;
  let mac: MacData | undefined;
  try {
    const outer = decodeDerSequence(new Reader(toDer(pfx)));
    const version = decodeDerSmallInt(outer);
    if (version !== 3) throw misuse(`PFX version ${version} (expected 3)`);
    const info = decodeDerSequence(outer);
    const type = decodeDerOid(info);
    if (type === OID.signedData) throw misuse('public-key integrity mode (signedData) is not supported: export with a password');
    if (type !== OID.data) throw misuse(`authSafe content type ${type} is not data`);
    authSafe = explicitOctets(info);
    info.expectEnd('ContentInfo');
    if (outer.remaining > 0) mac = decodeMacData(decodeDerSequence(outer));
    outer.expectEnd('PFX');
  } catch (e) {
    throw asMisuse(e, 'not a PKCS#12 file');
  }
  const macOk = mac === undefined || verifyMac(mac, authSafe, pass);
  let result: { keys: Pkcs12Item[]; certificates: Pkcs12Item[]; encrypted: boolean };
  try {
    result = readAuthenticatedSafe(authSafe, pass);
  } catch (e) {
    if (e instanceof WrongPassphrase) throw misuse(`wrong passphrase (${e.message})`);
    if (!macOk && !(e instanceof TlsError)) throw misuse('wrong passphrase, or the file is damaged (the MAC does not verify)');
    throw asMisuse(e, 'malformed contents');
  }
  if (!macOk) {
    // Everything decrypted with this passphrase, so it is the right one: the MAC or what it covers changed.
    if (result.encrypted) throw misuse('the MAC does not match the contents (the file is damaged or was modified)');
    throw misuse('wrong passphrase, or the file is damaged (the MAC does not verify)');
  }
  return { keys: result.keys, certificates: result.certificates, integrity: mac === undefined ? 'none' : mac.kind };
}

/**
 * A server (or client) identity from a PFX: the private key and the certificate chain, leaf first. The leaf is
 * the certificate whose `localKeyId` is the key's (else the one the key signs for); the chain follows issuers
 * from there, and certificates off that path come last. The first key is used when there are several.
 *
 * Throws a {@link TlsError} (`apiMisuse`): see {@link parsePkcs12}; also a PFX without a key or a certificate,
 * or whose key matches none of its certificates.
 *
 * @example
 * ```ts
 * const { certificateChain, privateKey } = loadPkcs12(readFileSync('server.p12'), 'secret');
 * ```
 */
export function loadPkcs12(pfx: Uint8Array, passphrase?: string): { readonly certificateChain: Uint8Array[]; readonly privateKey: SigningKey } {
  const { keys, certificates } = parsePkcs12(pfx, passphrase);
  const key = keys[0];
  if (!key) throw misuse('the file holds no private key');
  if (certificates.length === 0) throw misuse('the file holds no certificate');
  let privateKey: SigningKey;
  try {
    privateKey = loadPrivateKey(key.der);
  } catch (e) {
    throw misuse(`its private key: ${(e as Error).message}`);
  }
  const leaf =
    certificates.find((c) => key.localKeyId && c.localKeyId && equal(c.localKeyId, key.localKeyId)) ??
    certificates.find((c) => {
      try {
        checkServerIdentity([c.der], privateKey);
        return true;
      } catch {
        return false;
      }
    });
  if (!leaf) throw misuse('its private key matches none of its certificates');
  return { certificateChain: orderChain(leaf.der, certificates.map((c) => c.der)), privateKey };
}

/** `leaf`, then its issuers as found in `all` (by subject name), then the certificates left. */
function orderChain(leaf: Uint8Array, all: readonly Uint8Array[]): Uint8Array[] {
  const rest = all.filter((c) => c !== leaf);
  const chain = [leaf];
  const name = (der: Uint8Array, which: 'issuer' | 'subject') => {
    try {
      return parseCertificate(der)[which].canonical;
    } catch {
      return undefined;
    }
  };
  for (let cur = leaf; ; ) {
    const issuer = name(cur, 'issuer');
    if (issuer === undefined || issuer === name(cur, 'subject')) break; // self-signed: the path ends
    const i = rest.findIndex((c) => name(c, 'subject') === issuer);
    if (i < 0) break;
    cur = rest.splice(i, 1)[0]!;
    chain.push(cur);
  }
  return [...chain, ...rest];
}

interface MacData {
  readonly kind: 'pkcs12-kdf' | 'pbmac1';
  readonly digest: Uint8Array;
  /** pkcs12-kdf: the MAC hash, salt and iterations. */
  readonly hash?: Hash;
  readonly salt?: Uint8Array;
  readonly iterations?: number;
  /** pbmac1: the PBKDF2 parameters and the HMAC hash. */
  readonly kdf?: ReturnType<typeof pbkdf2Params> & { keyLength: number };
  readonly macHash?: Hash;
}

/** MacData (RFC 7292 §4): `SEQUENCE { DigestInfo, macSalt, iterations DEFAULT 1 }`; PBMAC1 per RFC 9579 §4. */
function decodeMacData(r: Reader): MacData {
  const digestInfo = decodeDerSequence(r);
  const alg = decodeDerSequence(digestInfo);
  const oid = decodeDerOid(alg);
  const params = alg.remaining > 0 ? decodeDerElement(alg) : undefined;
  const digest = decodeDerOctetString(digestInfo);
  const salt = decodeDerOctetString(r);
  const iterations = r.remaining > 0 ? decodeDerSmallInt(r) : 1;
  if (oid === OID.pbmac1) {
    // RFC 9579 §4: the MacData salt and iterations are ignored; PBKDF2's own parameters (keyLength required) count.
    if (params?.tag !== DerTag.SEQUENCE) throw misuse('PBMAC1 without parameters');
    const p = new Reader(params.value);
    const kdf = decodeDerSequence(p);
    const kdfOid = decodeDerOid(kdf);
    if (kdfOid !== PBKDF2) throw misuse(`PBMAC1 key derivation ${kdfOid} is not supported (only PBKDF2)`);
    const kp = pbkdf2Params(decodeDerSequence(kdf), misuse);
    if (kp.keyLength === undefined) throw misuse('PBMAC1: PBKDF2 parameters without keyLength (RFC 9579 §4)');
    if (kp.keyLength < 20 || kp.keyLength > 1024) throw misuse(`PBMAC1: key length ${kp.keyLength} out of range (20..1024)`);
    const scheme = decodeDerSequence(p);
    const macOid = decodeDerOid(scheme);
    const macHash = PRFS[macOid as keyof typeof PRFS];
    if (!macHash) throw misuse(`PBMAC1 message authentication scheme ${macOid} is not supported (HMAC-SHA-1/224/256/384/512)`);
    return { kind: 'pbmac1', digest, kdf: { ...kp, keyLength: kp.keyLength }, macHash };
  }
  const hash = MAC_HASHES[oid as keyof typeof MAC_HASHES];
  if (!hash) throw misuse(`MAC digest ${oid} is not supported (SHA-1, SHA-224/256/384/512, or PBMAC1)`);
  if (iterations < 1 || iterations > MAX_ITERATIONS) throw misuse(`MAC iteration count ${iterations} out of range`);
  return { kind: 'pkcs12-kdf', digest, hash, salt, iterations };
}

/**
 * Whether `mac` authenticates `content` under `pass`. For the PKCS#12 KDF the password is a BMPString with two
 * trailing zero bytes (RFC 7292 App. B.1); an empty one is also tried as no bytes at all, as OpenSSL does
 * (`PKCS12_parse` with a NULL password). PBMAC1 takes the password as UTF-8 (RFC 9579 §5).
 */
function verifyMac(mac: MacData, content: Uint8Array, pass: string): boolean {
  if (mac.kind === 'pbmac1') {
    const kdf = mac.kdf!;
    const key = pbkdf2(kdf.prf, new TextEncoder().encode(pass), kdf.salt, { c: kdf.iterations, dkLen: kdf.keyLength });
    return equal(hmac(mac.macHash!, key, content), mac.digest);
  }
  const candidates = pass === '' ? [bmpPassword(''), new Uint8Array(0)] : [bmpPassword(pass)];
  return candidates.some((p) => {
    const key = pkcs12Kdf(mac.hash!, p, mac.salt!, 3, mac.iterations!, mac.hash!.outputLen);
    return equal(hmac(mac.hash!, key, content), mac.digest);
  });
}

/** The password as a BMPString (UTF-16 big-endian, which JavaScript strings are) plus a 2-byte zero terminator. */
function bmpPassword(pass: string): Uint8Array {
  const out = new Uint8Array(pass.length * 2 + 2);
  for (let i = 0; i < pass.length; i++) {
    const c = pass.charCodeAt(i);
    out[2 * i] = c >> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

/**
 * The PKCS#12 key derivation (RFC 7292 App. B.2): `n` bytes for purpose `id` (1 key, 2 IV, 3 MAC key) from a
 * BMPString password and a salt, `iterations` rounds of `hash`.
 *
 * @example
 * ```ts
 * const macKey = pkcs12Kdf(sha256, bmpPassword('secret'), salt, 3, 2048, 32);
 * ```
 */
export function pkcs12Kdf(hash: Hash, password: Uint8Array, salt: Uint8Array, id: number, iterations: number, n: number): Uint8Array {
  const u = hash.outputLen;
  const v = hash.blockLen;
  const D = new Uint8Array(v).fill(id);
  const repeat = (src: Uint8Array) => {
    const out = new Uint8Array(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!;
    return out;
  };
  const I = concat(repeat(salt), repeat(password));
  const out = new Uint8Array(Math.ceil(n / u) * u);
  for (let i = 0; i * u < n; i++) {
    let A = hash(concat(D, I));
    for (let r = 1; r < iterations; r++) A = hash(A);
    out.set(A, i * u);
    if ((i + 1) * u >= n) break;
    const B = new Uint8Array(v);
    for (let k = 0; k < v; k++) B[k] = A[k % u]!;
    // I_j = (I_j + B + 1) mod 2^(8v), each v-byte block of I as a big-endian integer.
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return out.subarray(0, n);
}

/** AuthenticatedSafe (RFC 7292 §4.1): `SEQUENCE OF ContentInfo`, each plain or password-encrypted SafeContents. */
function readAuthenticatedSafe(octets: Uint8Array, pass: string): { keys: Pkcs12Item[]; certificates: Pkcs12Item[]; encrypted: boolean } {
  const out = { keys: [] as Pkcs12Item[], certificates: [] as Pkcs12Item[], encrypted: false };
  const seq = decodeDerSequence(new Reader(toDer(octets)));
  while (seq.remaining > 0) {
    const info = decodeDerSequence(seq);
    const type = decodeDerOid(info);
    if (type === OID.data) {
      readSafeContents(explicitOctets(info), pass, out, 0);
    } else if (type === OID.encryptedData) {
      // EncryptedData (RFC 2315 §13): version, EncryptedContentInfo { data, algorithm, [0] IMPLICIT content }.
      const enc = decodeDerSequence(decodeDerSequence(info, contextTag(0)));
      decodeDerSmallInt(enc);
      const eci = decodeDerSequence(enc);
      decodeDerOid(eci);
      const algorithm = decodeDerElement(eci, DerTag.SEQUENCE).tlv;
      const content = implicitOctets(eci);
      out.encrypted = true;
      readSafeContents(decrypt(algorithm, content, pass), pass, out, 0);
    } else if (type === OID.envelopedData) {
      throw misuse('public-key privacy mode (envelopedData) is not supported: export with a password');
    } else {
      throw misuse(`unknown AuthenticatedSafe content type ${type}`);
    }
  }
  return out;
}

/** SafeContents (RFC 7292 §4.2): `SEQUENCE OF SafeBag`; keys and certificates kept, other bags skipped. */
function readSafeContents(der: Uint8Array, pass: string, out: { keys: Pkcs12Item[]; certificates: Pkcs12Item[]; encrypted: boolean }, depth: number): void {
  if (depth > 4) throw misuse('safeContentsBag nested too deep');
  const bags = decodeDerSequence(new Reader(toDer(der)));
  while (bags.remaining > 0) {
    const bag = decodeDerSequence(bags);
    const id = decodeDerOid(bag);
    const value = decodeDerElement(decodeDerSequence(bag, contextTag(0)));
    const attrs = bag.remaining > 0 ? readAttributes(decodeDerSequence(bag, DerTag.SET)) : {};
    switch (id) {
      case OID.keyBag:
        out.keys.push({ der: value.tlv.slice(), ...attrs });
        break;
      case OID.pkcs8ShroudedKeyBag: {
        const epki = new Reader(value.value);
        const algorithm = decodeDerElement(epki, DerTag.SEQUENCE).tlv;
        const data = decodeDerOctetString(epki);
        out.encrypted = true;
        out.keys.push({ der: decrypt(algorithm, data, pass), ...attrs });
        break;
      }
      case OID.certBag: {
        const cert = new Reader(value.value);
        if (decodeDerOid(cert) !== OID.x509Certificate) break; // SDSI certificates: not for TLS
        out.certificates.push({ der: explicitOctets(cert).slice(), ...attrs });
        break;
      }
      case OID.safeContentsBag:
        readSafeContents(value.tlv, pass, out, depth + 1);
        break;
      default:
        break; // crlBag, secretBag, unknown bags: nothing TLS needs
    }
  }
}

/** The bag attributes TLS uses: localKeyId (an OCTET STRING) and friendlyName (a BMPString). */
function readAttributes(set: Reader): { localKeyId?: Uint8Array; friendlyName?: string } {
  const out: { localKeyId?: Uint8Array; friendlyName?: string } = {};
  while (set.remaining > 0) {
    const attr = decodeDerSequence(set);
    const type = decodeDerOid(attr);
    const values = decodeDerSequence(attr, DerTag.SET);
    if (values.remaining === 0) continue;
    if (type === OID.localKeyId) out.localKeyId = decodeDerOctetString(values).slice();
    else if (type === OID.friendlyName && peekDerTag(values) === 0x1e) {
      const v = decodeDerElement(values, 0x1e).value;
      let s = '';
      for (let i = 0; i + 1 < v.length; i += 2) s += String.fromCharCode((v[i]! << 8) | v[i + 1]!);
      out.friendlyName = s;
    }
  }
  return out;
}

/** PBES2 decryption; a wrong passphrase becomes {@link WrongPassphrase}, legacy schemes get the conversion command. */
function decrypt(algorithm: Uint8Array, data: Uint8Array, pass: string): Uint8Array {
  const oid = decodeDerOid(decodeDerSequence(new Reader(algorithm)));
  if (LEGACY_NAMES[oid]) {
    throw misuse(`${LEGACY_NAMES[oid]} encryption (OpenSSL 1.x or -legacy) is not supported, only PBES2 with AES-CBC (OpenSSL 3's default); ${CONVERT}`);
  }
  try {
    return decryptPbes2(algorithm, data, pass, misuse, CONVERT);
  } catch (e) {
    if (e instanceof TlsError && /wrong passphrase/.test(e.message)) throw new WrongPassphrase('the contents do not decrypt');
    throw e;
  }
}

/** `[0] EXPLICIT OCTET STRING` (ContentInfo content, certBag value). */
function explicitOctets(r: Reader): Uint8Array {
  return decodeDerOctetString(decodeDerSequence(r, contextTag(0)));
}

/** `[0] IMPLICIT OCTET STRING`: primitive (0x80), or constructed (0xa0, BER) holding OCTET STRING segments. */
function implicitOctets(r: Reader): Uint8Array {
  if (peekDerTag(r) === 0x80) return decodeDerElement(r, 0x80).value;
  const parts = decodeDerSequence(r, contextTag(0));
  const chunks: Uint8Array[] = [];
  while (parts.remaining > 0) chunks.push(decodeDerOctetString(parts));
  return concat(...chunks);
}

/**
 * BER (X.690 §8) to DER-shaped bytes the DER reader takes: definite minimal lengths, constructed OCTET STRINGs
 * flattened into one primitive one; primitive contents are kept as they are (so the MAC'd octets do not change).
 */
function toDer(ber: Uint8Array): Uint8Array {
  const r = { buf: ber, pos: 0 };
  const out = encodeBer(readBer(r, 0));
  if (r.pos !== ber.length) throw new DecodeError('BER: trailing bytes');
  return out;
}

type Ber = { readonly tag: number; readonly content: Uint8Array } | { readonly tag: number; readonly children: Ber[] };

function readBer(r: { buf: Uint8Array; pos: number }, depth: number): Ber {
  if (depth > MAX_DEPTH) throw new DecodeError('BER: nested too deep');
  const byte = () => {
    if (r.pos >= r.buf.length) throw new DecodeError('BER: truncated');
    return r.buf[r.pos++]!;
  };
  const tag = byte();
  if ((tag & 0x1f) === 0x1f) throw new DecodeError('BER: high tag numbers are not supported');
  const constructed = (tag & 0x20) !== 0;
  const first = byte();
  if (first === 0x80) {
    if (!constructed) throw new DecodeError('BER: indefinite length on a primitive value');
    const children: Ber[] = [];
    for (;;) {
      if (r.buf[r.pos] === 0 && r.buf[r.pos + 1] === 0) {
        r.pos += 2; // end-of-contents
        break;
      }
      children.push(readBer(r, depth + 1));
    }
    return flatten(tag, children);
  }
  let len = first;
  if (first > 0x80) {
    const n = first & 0x7f;
    if (n > 4) throw new DecodeError('BER: length too large');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + byte();
  }
  if (len > r.buf.length - r.pos) throw new DecodeError('BER: truncated');
  const end = r.pos + len;
  if (!constructed) {
    const content = r.buf.subarray(r.pos, end);
    r.pos = end;
    return { tag, content };
  }
  const children: Ber[] = [];
  const sub = { buf: r.buf.subarray(0, end), pos: r.pos };
  while (sub.pos < end) children.push(readBer(sub, depth + 1));
  r.pos = end;
  return flatten(tag, children);
}

/** A constructed OCTET STRING (0x24) becomes a primitive one with its segments joined. */
function flatten(tag: number, children: Ber[]): Ber {
  if (tag !== 0x24) return { tag, children };
  const parts = children.map((c) => {
    if (!('content' in c) || c.tag !== DerTag.OCTET_STRING) throw new DecodeError('BER: constructed OCTET STRING with a non-OCTET STRING segment');
    return c.content;
  });
  return { tag: DerTag.OCTET_STRING, content: concat(...parts) };
}

function encodeBer(b: Ber): Uint8Array {
  const content = 'content' in b ? b.content : concat(...b.children.map(encodeBer));
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  if (n >= 0x1000000) throw new DecodeError('BER: value too large');
  return concat(Uint8Array.of(b.tag, ...len), content);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Byte equality without an early exit on the first difference (MAC comparison). */
function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function asMisuse(e: unknown, what: string): TlsError {
  if (e instanceof TlsError) return e;
  return misuse(`${what} (${e instanceof Error ? e.message : String(e)})`);
}
