/**
 * PEM (RFC 7468), certificate chains and private keys for the API layer, in pure JS: this module runs in a
 * browser as well as in Node (no node:crypto, no Buffer).
 *
 * Key containers are read with the DER reader of `src/wire/der.ts`: PKCS#8 (RFC 5208 / RFC 5958), SEC1
 * (RFC 5915) and PKCS#1 (RFC 8017 App. A.1.2). ECDSA (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512), Ed25519 and
 * Ed448 sign with noble: ECDSA nonces are deterministic (RFC 6979) and signatures DER-encoded. RSA signs with
 * RSASSA-PSS, MGF1 over the same hash and salt length = hash length (RFC 8446 §4.2.3), with BigInt arithmetic
 * (`rsa.ts`: CRT, blinding, checked result); rsaEncryption keys as rsa_pss_rsae_*, RSASSA-PSS keys (RFC 4055
 * §1.2, OID 1.2.840.113549.1.1.10) as rsa_pss_pss_*, limited to the hash their parameters name. The node:crypto
 * provider (`src/node/`) signs with the same keys through OpenSSL instead.
 *
 * @example
 * const key = loadPrivateKey(serverKeyPem);
 * const chain = loadCertificateChain(serverChainPem);
 * key.sign(key.schemes[0]!, content);
 */
import { decryptPkcs8 } from './pkcs8Encrypted.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ed448 } from '@noble/curves/ed448.js';
import { TlsError } from '../core/errors.js';
import { shown } from '../core/validate.js';
import { Reader } from '../wire/reader.js';
import {
  DerTag,
  contextTag,
  decodeDerElement,
  decodeDerOctetString,
  decodeDerOid,
  decodeDerSequence,
  decodeDerSmallInt,
  decodeDerUnsigned,
  peekDerTag,
} from '../wire/der.js';
import { SignatureScheme } from '../wire/tls/constants.js';
import type { SigningKey } from './provider.js';
import { RSA_HASHES, bitLength, rsaPkcs1Sign, rsaPssSign, type RsaPrivateKey } from './rsa.js';
import { KEY_OID, decodeRsaPssParams, type RsaPssKeyParams } from './signatures.js';

/** One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, …) and decoded contents. */
export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

const misuse = (reason: string): TlsError => new TlsError({ kind: 'apiMisuse', reason });

/**
 * Every PEM block in `text`, in order (RFC 7468 §2, lax parsing: text around blocks is ignored).
 * Throws a TlsError (`apiMisuse`) for a block with encapsulated headers (legacy encrypted PEM) or bad base64.
 *
 * @example
 * parsePem(chainPem).map((b) => b.label); // ['CERTIFICATE', 'CERTIFICATE']
 */
export function parsePem(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  const re = /-----BEGIN ([^-\r\n]*)-----([\s\S]*?)-----END ([^-\r\n]*)-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const label = m[1]!;
    if (m[3] !== label) throw misuse(`PEM: BEGIN ${label} closed by END ${m[3]}`);
    const body = m[2]!;
    if (body.includes(':')) throw misuse(`PEM ${label}: encapsulated headers (encrypted PEM) are not supported`);
    const b64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw misuse(`PEM ${label}: invalid base64`);
    out.push({ label, der: base64Decode(b64) });
  }
  return out;
}

function looksLikePem(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] !== DerTag.SEQUENCE;
}

/**
 * DER certificates from PEM text (one or several `CERTIFICATE` blocks), DER bytes (one certificate or several
 * concatenated), PEM bytes, or an array of those; the order is kept (leaf first as given).
 * Throws a TlsError (`apiMisuse`) when no certificate is found, DER framing is broken, or the input is of another
 * type; `name` is the option named by that error (`cert`, `ca`).
 *
 * @example
 * loadCertificateChain(fs.readFileSync('server-chain.pem', 'utf8')).length; // 2
 */
export function loadCertificateChain(input: string | Uint8Array | readonly (string | Uint8Array)[], name = 'cert'): Uint8Array[] {
  const expected = 'PEM text (a string), DER or PEM bytes (a Uint8Array), or a list of those';
  if (typeof input !== 'string' && !(input instanceof Uint8Array) && !Array.isArray(input)) throw misuse(`${name} must be ${expected}, got ${shown(input)}`);
  const items: readonly unknown[] = typeof input === 'string' || input instanceof Uint8Array ? [input] : input;
  const out: Uint8Array[] = [];
  for (const [i, item] of items.entries()) {
    if (typeof item !== 'string' && !(item instanceof Uint8Array)) throw misuse(`${name}[${i}] must be PEM text or DER or PEM bytes, got ${shown(item)}`);
    if (typeof item === 'string' || looksLikePem(item)) {
      const text = typeof item === 'string' ? item : latin1(item);
      const certs = parsePem(text).filter((b) => b.label === 'CERTIFICATE');
      if (certs.length === 0) throw misuse('no PEM CERTIFICATE block found');
      out.push(...certs.map((b) => b.der));
    } else {
      // Concatenated DER certificates: split at the top-level SEQUENCE boundaries.
      const r = new Reader(item);
      try {
        while (r.remaining > 0) out.push(decodeDerElement(r, DerTag.SEQUENCE).tlv.slice());
      } catch (e) {
        throw misuse(`certificate DER is malformed: ${(e as Error).message}`);
      }
    }
  }
  if (out.length === 0) throw misuse('empty certificate chain');
  return out;
}

/** Base64 (RFC 4648 §4) to bytes; the input was checked against the alphabet by the caller. */
function base64Decode(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Bytes as a latin1 string (PEM given as bytes). */
function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return s;
}

/** Key-container formats (as node:crypto names them), tried in this order for DER input. */
export type KeyContainer = 'pkcs8' | 'sec1' | 'pkcs1';
const DER_KEY_TYPES: readonly KeyContainer[] = ['pkcs8', 'sec1', 'pkcs1'];

/** Object identifiers of the key algorithms: one table, with signature verification. */
const OID = KEY_OID;

/** A private key read from its container, before it becomes a {@link SigningKey}. */
type PrivateKeyMaterial =
  | { readonly type: 'ec'; readonly curve: string; readonly d: Uint8Array }
  | { readonly type: 'ed25519'; readonly seed: Uint8Array }
  | { readonly type: 'ed448'; readonly seed: Uint8Array }
  | { readonly type: 'rsa'; readonly key: RsaPrivateKey }
  | { readonly type: 'rsa-pss'; readonly key: RsaPrivateKey; readonly params: RsaPssKeyParams | undefined }
  | { readonly type: 'other'; readonly algorithm: string };

/** ECPrivateKey (RFC 5915 §3); `curve` from the PKCS#8 algorithm parameters when wrapped. */
function decodeSec1(r: Reader, curve?: string): PrivateKeyMaterial {
  const seq = decodeDerSequence(r);
  if (decodeDerSmallInt(seq) !== 1) throw new Error('ECPrivateKey version must be 1');
  const d = decodeDerOctetString(seq);
  if (peekDerTag(seq) === contextTag(0)) {
    const params = decodeDerSequence(seq, contextTag(0));
    const named = decodeDerOid(params);
    params.expectEnd('ECParameters');
    if (curve !== undefined && named !== curve) throw new Error('ECPrivateKey curve differs from its algorithm');
    curve = named;
  }
  if (peekDerTag(seq) === contextTag(1)) decodeDerElement(seq); // publicKey: derived from d when needed
  seq.expectEnd('ECPrivateKey');
  if (curve === undefined) throw new Error('ECPrivateKey without a named curve');
  return { type: 'ec', curve, d };
}

/** RSAPrivateKey (RFC 8017 App. A.1.2), two primes only. */
function decodePkcs1(r: Reader): PrivateKeyMaterial {
  const seq = decodeDerSequence(r);
  if (decodeDerSmallInt(seq) !== 0) throw new Error('multi-prime RSA keys are not supported');
  const [n, e, d, p, q, dp, dq, qinv] = Array.from({ length: 8 }, () => decodeDerUnsigned(seq)) as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
  seq.expectEnd('RSAPrivateKey');
  // A broken key would sign garbage (or leak a factor through a faulty CRT result): check it once here.
  if (p * q !== n || e < 3n || dp !== d % (p - 1n) || dq !== d % (q - 1n) || (qinv * q) % p !== 1n) {
    throw new Error('inconsistent RSA private key');
  }
  return { type: 'rsa', key: { n, e, d, p, q, dp, dq, qinv } };
}

/** PrivateKeyInfo / OneAsymmetricKey (RFC 5208 §5, RFC 5958 §2). */
function decodePkcs8(r: Reader): PrivateKeyMaterial {
  const seq = decodeDerSequence(r);
  const version = decodeDerSmallInt(seq);
  if (version > 1) throw new Error(`PKCS#8 version ${version}`);
  const alg = decodeDerSequence(seq);
  const algorithm = decodeDerOid(alg);
  const params = alg.remaining > 0 ? decodeDerElement(alg) : undefined;
  alg.expectEnd('AlgorithmIdentifier');
  const inner = new Reader(decodeDerOctetString(seq));
  while (seq.remaining > 0) decodeDerElement(seq); // attributes [0], publicKey [1]: not needed
  let out: PrivateKeyMaterial;
  switch (algorithm) {
    case OID.ecPublicKey: {
      if (params?.tag !== DerTag.OID) throw new Error('EC key without a named curve');
      out = decodeSec1(inner, decodeDerOid(new Reader(params.tlv)));
      break;
    }
    case OID.ed25519:
      // RFC 8410 §7: CurvePrivateKey ::= OCTET STRING (the 32 B seed), parameters absent.
      if (params) throw new Error('Ed25519 key with parameters');
      out = { type: 'ed25519', seed: decodeDerOctetString(inner) };
      break;
    case OID.ed448:
      // RFC 8410 §7: the 57 B secret key as an OCTET STRING, parameters absent.
      if (params) throw new Error('Ed448 key with parameters');
      out = { type: 'ed448', seed: decodeDerOctetString(inner) };
      break;
    case OID.rsaEncryption:
      out = decodePkcs1(inner);
      break;
    case OID.rsassaPss: {
      // RFC 4055 §1.2: an RSAPrivateKey restricted to RSASSA-PSS; parameters absent or RSASSA-PSS-params.
      const rsa = decodePkcs1(inner);
      if (rsa.type !== 'rsa') throw new Error('RSASSA-PSS key is not an RSA key');
      out = { type: 'rsa-pss', key: rsa.key, params: params ? decodeRsaPssParams(params.tlv) : undefined };
      break;
    }
    default:
      return { type: 'other', algorithm };
  }
  inner.expectEnd('privateKey');
  return out;
}

function decodeContainer(der: Uint8Array, type: KeyContainer): PrivateKeyMaterial {
  const r = new Reader(der);
  const key = type === 'pkcs8' ? decodePkcs8(r) : type === 'sec1' ? decodeSec1(r) : decodePkcs1(r);
  r.expectEnd('private key');
  return key;
}

/** The container of each {@link SigningKey} made by {@link loadPrivateKey} (for the node:crypto provider). */
const containers = new WeakMap<SigningKey, { readonly der: Uint8Array; readonly type: KeyContainer }>();

/**
 * The DER container (PKCS#8, SEC1 or PKCS#1) a {@link SigningKey} was loaded from by {@link loadPrivateKey}, or
 * `undefined` for other keys. For a platform provider that signs with the same key through its own engine
 * (the node:crypto provider does); not meant for applications.
 *
 * @example
 * const c = privateKeyContainer(key); // { der, type: 'pkcs8' }
 */
export function privateKeyContainer(key: SigningKey): { readonly der: Uint8Array; readonly type: KeyContainer } | undefined {
  return containers.get(key);
}

type RsaHashName = keyof typeof RSA_HASHES;

/** The RSASSA-PSS schemes of each key type (RFC 8446 §4.2.3) and their hash. */
const RSAE_SCHEMES: readonly [number, RsaHashName][] = [
  [SignatureScheme.rsa_pss_rsae_sha256, 'sha256'],
  [SignatureScheme.rsa_pss_rsae_sha384, 'sha384'],
  [SignatureScheme.rsa_pss_rsae_sha512, 'sha512'],
];
/** RSASSA-PKCS1-v1_5 (TLS 1.2 signatures only, RFC 5246 §7.4.1.4.1), after the RSASSA-PSS schemes. */
const PKCS1_SCHEMES: readonly [number, RsaHashName][] = [
  [SignatureScheme.rsa_pkcs1_sha256, 'sha256'],
  [SignatureScheme.rsa_pkcs1_sha384, 'sha384'],
  [SignatureScheme.rsa_pkcs1_sha512, 'sha512'],
];
const PSS_SCHEMES: readonly [number, RsaHashName][] = [
  [SignatureScheme.rsa_pss_pss_sha256, 'sha256'],
  [SignatureScheme.rsa_pss_pss_sha384, 'sha384'],
  [SignatureScheme.rsa_pss_pss_sha512, 'sha512'],
];

/**
 * The schemes an RSA key can sign with: RSASSA-PSS needs emLen >= 2·hLen + 2 (RFC 8017 §9.1.1 step 3,
 * sLen = hLen); an RSASSA-PSS key with parameters only signs with their hash (digest and MGF1 alike) and a salt
 * of at least their saltLength (RFC 4055 §3.3), and TLS fixes the salt at the hash length.
 */
function rsaSchemes(table: readonly [number, RsaHashName][], modulusBits: number, params?: RsaPssKeyParams): [number, RsaHashName][] {
  const emLen = Math.ceil((modulusBits - 1) / 8);
  return table.filter(([, h]) => {
    const hLen = RSA_HASHES[h].len;
    if (emLen < 2 * hLen + 2) return false;
    return !params || (params.hash === h && params.mgfHash === h && params.saltLength <= hLen);
  });
}

/**
 * A {@link SigningKey} from a PEM (`PRIVATE KEY` = PKCS#8, `EC PRIVATE KEY` = SEC1, `RSA PRIVATE KEY` = PKCS#1)
 * or DER private key. Schemes: P-256 → ecdsa_secp256r1_sha256 (0x0403), P-384 → ecdsa_secp384r1_sha384
 * (0x0503), P-521 → ecdsa_secp521r1_sha512 (0x0603), Ed25519 → ed25519 (0x0807), Ed448 → ed448 (0x0808), RSA
 * (rsaEncryption) → rsa_pss_rsae_sha256/384/512 (0x0804–0x0806) then rsa_pkcs1_sha256/384/512 (0x0401–0x0601, TLS 1.2 only), RSASSA-PSS → rsa_pss_pss_sha256/384/512
 * (0x0809–0x080b), only the one its parameters name when it has them.
 * An `ENCRYPTED PRIVATE KEY` (PBES2, PBKDF2, AES-CBC: `decryptPkcs8`) needs `passphrase`; so does an encrypted
 * DER key. Other key types, legacy encrypted PEM and unparsable input throw a TlsError (`apiMisuse`); so does `sign` with a
 * scheme the key does not offer.
 *
 * @example
 * const key = loadPrivateKey(pem); // key.kind === 'ecdsa-p256', key.schemes === [0x0403]
 * const sig = key.sign(0x0403, content); // DER Ecdsa-Sig-Value
 */
export function loadPrivateKey(input: string | Uint8Array, passphrase?: string | Uint8Array): SigningKey {
  let der: Uint8Array;
  let types: readonly KeyContainer[];
  let what: string;
  if (typeof input === 'string' || looksLikePem(input)) {
    const blocks = parsePem(typeof input === 'string' ? input : latin1(input));
    const encrypted = blocks.find((b) => b.label === 'ENCRYPTED PRIVATE KEY');
    if (encrypted) {
      if (passphrase === undefined) throw misuse('the private key is encrypted: give its `passphrase`');
      return loadPrivateKey(decryptPkcs8(encrypted.der, passphrase));
    }
    if (blocks.some((b) => /^(RSA|EC) PRIVATE KEY$/.test(b.label) && /Proc-Type: 4,ENCRYPTED/.test(typeof input === 'string' ? input : latin1(input)))) {
      throw misuse('legacy OpenSSL-encrypted PEM (Proc-Type: 4,ENCRYPTED) is not supported: convert with openssl pkcs8 -topk8 -v2 aes-256-cbc');
    }
    const block = blocks.find((b) => /^(|EC |RSA )PRIVATE KEY$/.test(b.label));
    if (!block) throw misuse('no PEM PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block found');
    der = block.der;
    types = [block.label === 'EC PRIVATE KEY' ? 'sec1' : block.label === 'RSA PRIVATE KEY' ? 'pkcs1' : 'pkcs8'];
    what = block.label;
  } else if (passphrase !== undefined) {
    return loadPrivateKey(decryptPkcs8(input, passphrase)); // DER EncryptedPrivateKeyInfo
  } else {
    der = input;
    types = DER_KEY_TYPES;
    what = 'private key DER (tried PKCS#8, SEC1, PKCS#1)';
  }
  let lastError = '';
  for (const type of types) {
    let material: PrivateKeyMaterial;
    try {
      material = decodeContainer(der, type);
    } catch (e) {
      lastError = (e as Error).message;
      continue; // try the next container format
    }
    const key = signingKeyFor(material);
    containers.set(key, { der: der.slice(), type });
    return key;
  }
  throw misuse(`cannot parse ${what}: ${lastError}`);
}

function checkScheme(schemes: readonly number[], scheme: number): void {
  if (!schemes.includes(scheme)) throw misuse(`this key cannot sign with scheme 0x${scheme.toString(16).padStart(4, '0')}`);
}

/** A fixed-length big-endian scalar: SEC1 §2.3.7 allows a shorter encoding in the wild, so pad to `len`. */
function scalar(d: Uint8Array, len: number): Uint8Array {
  if (d.length > len) throw misuse('EC private key is too long for its curve');
  const out = new Uint8Array(len);
  out.set(d, len - d.length);
  return out;
}

/** The ECDSA curves keys may use: noble curve, scalar size in bytes, scheme (RFC 8446 §4.2.3) and key kind. */
const EC_CURVES = {
  [OID.secp256r1]: { curve: p256, size: 32, scheme: SignatureScheme.ecdsa_secp256r1_sha256, kind: 'ecdsa-p256' },
  [OID.secp384r1]: { curve: p384, size: 48, scheme: SignatureScheme.ecdsa_secp384r1_sha384, kind: 'ecdsa-p384' },
  [OID.secp521r1]: { curve: p521, size: 66, scheme: SignatureScheme.ecdsa_secp521r1_sha512, kind: 'ecdsa-p521' },
} as const;

function rsaSigningKey(kind: 'rsa' | 'rsa-pss', key: RsaPrivateKey, table: [number, RsaHashName][]): SigningKey {
  if (table.length === 0) {
    throw misuse(kind === 'rsa' ? 'RSA key too small for RSASSA-PSS' : 'RSASSA-PSS key: no TLS scheme fits its size and parameters');
  }
  // An rsaEncryption key also signs RSASSA-PKCS1-v1_5, for TLS 1.2 peers without RSASSA-PSS (never in TLS 1.3:
  // its CertificateVerify schemes leave them out). k ≥ tLen + 11 (RFC 8017 §9.2) holds for every key that fits PSS.
  const pkcs1 = kind === 'rsa' ? PKCS1_SCHEMES.filter(([, h]) => Math.ceil(bitLength(key.n) / 8) >= RSA_HASHES[h].digestInfo.length + RSA_HASHES[h].len + 11) : [];
  const hashes = new Map([...table, ...pkcs1]);
  const schemes = [...table, ...pkcs1].map(([s]) => s);
  const isPkcs1 = new Set(pkcs1.map(([s]) => s));
  return {
    kind,
    schemes,
    sign(scheme, message) {
      checkScheme(schemes, scheme);
      const h = RSA_HASHES[hashes.get(scheme)!];
      return isPkcs1.has(scheme) ? rsaPkcs1Sign(key, h, message) : rsaPssSign(key, h, message);
    },
  };
}

function signingKeyFor(m: PrivateKeyMaterial): SigningKey {
  switch (m.type) {
    case 'ec': {
      const spec = (EC_CURVES as Record<string, (typeof EC_CURVES)[keyof typeof EC_CURVES]>)[m.curve];
      if (!spec) throw misuse(`unsupported EC curve ${m.curve}: use P-256, P-384 or P-521`);
      const { curve, size, scheme, kind } = spec;
      const d = scalar(m.d, size);
      if (!curve.utils.isValidSecretKey(d)) throw misuse('EC private key is out of range');
      const schemes = [scheme];
      return {
        kind,
        schemes,
        sign(sch, message) {
          checkScheme(schemes, sch);
          // Each curve's noble instance hashes with its scheme's hash (SHA-256/384/512).
          return curve.sign(message, d, { prehash: true, format: 'der', extraEntropy: false });
        },
      };
    }
    case 'ed25519': {
      if (m.seed.length !== 32) throw misuse('Ed25519 private key must be 32 bytes');
      const seed = m.seed.slice();
      const schemes = [SignatureScheme.ed25519];
      return {
        kind: 'ed25519',
        schemes,
        sign(scheme, message) {
          checkScheme(schemes, scheme);
          return ed25519.sign(message, seed);
        },
      };
    }
    case 'ed448': {
      if (m.seed.length !== 57) throw misuse('Ed448 private key must be 57 bytes');
      const seed = m.seed.slice();
      const schemes = [SignatureScheme.ed448];
      return {
        kind: 'ed448',
        schemes,
        sign(scheme, message) {
          checkScheme(schemes, scheme);
          return ed448.sign(message, seed); // RFC 8032 §5.2.6 with an empty context (RFC 8446 §4.2.3)
        },
      };
    }
    case 'rsa':
      return rsaSigningKey('rsa', m.key, rsaSchemes(RSAE_SCHEMES, bitLength(m.key.n)));
    case 'rsa-pss':
      return rsaSigningKey('rsa-pss', m.key, rsaSchemes(PSS_SCHEMES, bitLength(m.key.n), m.params));
    case 'other':
      throw misuse(`unsupported private key type ${m.algorithm}: use ECDSA P-256/P-384/P-521, Ed25519, Ed448 or RSA`);
  }
}
