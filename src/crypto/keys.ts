/**
 * PEM (RFC 7468), certificate chains and private keys for the API layer. This module is not part of the pure
 * core: it uses node:crypto to parse key containers (PKCS#8, SEC1, PKCS#1) and to sign with RSA.
 *
 * ECDSA (P-256/SHA-256, P-384/SHA-384) and Ed25519 sign with noble: ECDSA nonces are deterministic (RFC 6979)
 * and signatures DER-encoded. RSA signs through node:crypto with RSASSA-PSS, MGF1 over the same hash and
 * salt length = hash length (RFC 8446 §4.2.3) — never with home-made modular exponentiation.
 * {@link signWithKeyObject} signs with the same key through node:crypto instead (OpenSSL's random ECDSA nonces;
 * the node:crypto provider uses it, see `src/crypto/signing.ts`).
 *
 * @example
 * const key = loadPrivateKey(fs.readFileSync('server-key.pem', 'utf8'));
 * const chain = loadCertificateChain(fs.readFileSync('server-chain.pem', 'utf8'));
 * key.sign(key.schemes[0]!, content);
 */
import { Buffer } from 'node:buffer';
import { KeyObject, constants, createPrivateKey, sign as nodeSign } from 'node:crypto';
import { p256, p384 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { TlsError } from '../core/errors.js';
import { Reader } from '../wire/reader.js';
import { DerTag, decodeDerElement } from '../wire/der.js';
import { SignatureScheme } from '../wire/tls/constants.js';
import type { SigningKey } from './provider.js';

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
    out.push({ label, der: new Uint8Array(Buffer.from(b64, 'base64')) });
  }
  return out;
}

function looksLikePem(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] !== DerTag.SEQUENCE;
}

/**
 * DER certificates from PEM text (one or several `CERTIFICATE` blocks), DER bytes (one certificate or several
 * concatenated), PEM bytes, or an array of those; the order is kept (leaf first as given).
 * Throws a TlsError (`apiMisuse`) when no certificate is found or DER framing is broken.
 *
 * @example
 * loadCertificateChain(fs.readFileSync('server-chain.pem', 'utf8')).length; // 2
 */
export function loadCertificateChain(input: string | Uint8Array | readonly (string | Uint8Array)[]): Uint8Array[] {
  const items = typeof input === 'string' || input instanceof Uint8Array ? [input] : input;
  const out: Uint8Array[] = [];
  for (const item of items) {
    if (typeof item === 'string' || looksLikePem(item)) {
      const text = typeof item === 'string' ? item : Buffer.from(item).toString('latin1');
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

/** Key-container formats tried for DER input, in order. */
const DER_KEY_TYPES = ['pkcs8', 'sec1', 'pkcs1'] as const;

function toKeyObject(input: string | Uint8Array): KeyObject {
  if (typeof input === 'string' || looksLikePem(input)) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
    const blocks = parsePem(text);
    if (blocks.some((b) => b.label === 'ENCRYPTED PRIVATE KEY')) throw misuse('encrypted private keys are not supported');
    const block = blocks.find((b) => /^(|EC |RSA )PRIVATE KEY$/.test(b.label));
    if (!block) throw misuse('no PEM PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block found');
    const type = block.label === 'EC PRIVATE KEY' ? 'sec1' : block.label === 'RSA PRIVATE KEY' ? 'pkcs1' : 'pkcs8';
    try {
      return createPrivateKey({ key: Buffer.from(block.der), format: 'der', type });
    } catch (e) {
      throw misuse(`cannot parse ${block.label}: ${(e as Error).message}`);
    }
  }
  for (const type of DER_KEY_TYPES) {
    try {
      return createPrivateKey({ key: Buffer.from(input), format: 'der', type });
    } catch {
      // try the next container format
    }
  }
  throw misuse('cannot parse private key DER (tried PKCS#8, SEC1, PKCS#1)');
}

function jwkBytes(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string') throw misuse(`private key has no ${what}`);
  return new Uint8Array(Buffer.from(v, 'base64url'));
}

/** RSASSA-PSS needs emLen >= 2·hLen + 2 (RFC 8017 §9.1.1 step 3, sLen = hLen). */
function rsaSchemes(modulusBits: number): number[] {
  const emLen = Math.ceil((modulusBits - 1) / 8);
  const all: [number, number][] = [
    [SignatureScheme.rsa_pss_rsae_sha256, 32],
    [SignatureScheme.rsa_pss_rsae_sha384, 48],
    [SignatureScheme.rsa_pss_rsae_sha512, 64],
  ];
  return all.filter(([, hLen]) => emLen >= 2 * hLen + 2).map(([s]) => s);
}

/**
 * A {@link SigningKey} from a PEM (`PRIVATE KEY` = PKCS#8, `EC PRIVATE KEY` = SEC1, `RSA PRIVATE KEY` = PKCS#1)
 * or DER private key. Schemes: P-256 → ecdsa_secp256r1_sha256 (0x0403), P-384 → ecdsa_secp384r1_sha384
 * (0x0503), Ed25519 → ed25519 (0x0807), RSA → rsa_pss_rsae_sha256/384/512 (0x0804–0x0806).
 * Other key types, encrypted keys and unparsable input throw a TlsError (`apiMisuse`); so does `sign` with a
 * scheme the key does not offer.
 *
 * @example
 * const key = loadPrivateKey(pem); // key.kind === 'ecdsa-p256', key.schemes === [0x0403]
 * const sig = key.sign(0x0403, content); // DER Ecdsa-Sig-Value
 */
export function loadPrivateKey(input: string | Uint8Array): SigningKey {
  const key = toKeyObject(input);
  const signing = signingKeyFor(key);
  keyObjects.set(signing, key);
  return signing;
}

/** The node:crypto key behind each {@link SigningKey} made by {@link loadPrivateKey}. */
const keyObjects = new WeakMap<SigningKey, KeyObject>();

/** node:crypto's digest name for each scheme a loaded key can offer (null: Ed25519 signs the message itself). */
const NODE_DIGESTS = new Map<number, string | null>([
  [SignatureScheme.ecdsa_secp256r1_sha256, 'sha256'],
  [SignatureScheme.ecdsa_secp384r1_sha384, 'sha384'],
  [SignatureScheme.ed25519, null],
]);

/**
 * Sign `message` with `scheme` using node:crypto (OpenSSL) and the key {@link loadPrivateKey} imported: the same
 * signatures as `key.sign` (DER `Ecdsa-Sig-Value` for ECDSA, 64 B for Ed25519), except that ECDSA nonces are
 * OpenSSL's random ones rather than RFC 6979's. About ten times faster than pure-JS ECDSA signing.
 * Returns `undefined` for a key not made by `loadPrivateKey` and for RSA keys (whose own `sign` already uses
 * node:crypto); throws a TlsError (`apiMisuse`) for a scheme the key does not offer, as `key.sign` does.
 *
 * @example
 * signWithKeyObject(key, 0x0403, content) ?? key.sign(0x0403, content);
 */
export function signWithKeyObject(key: SigningKey, scheme: number, message: Uint8Array): Uint8Array | undefined {
  const keyObject = keyObjects.get(key);
  if (!keyObject || key.kind === 'rsa') return undefined;
  if (!key.schemes.includes(scheme)) {
    throw misuse(`this key cannot sign with scheme 0x${scheme.toString(16).padStart(4, '0')}`);
  }
  const digest = NODE_DIGESTS.get(scheme);
  if (digest === undefined) return undefined;
  const sig = digest === null ? nodeSign(null, message, keyObject) : nodeSign(digest, message, { key: keyObject, dsaEncoding: 'der' });
  return new Uint8Array(sig); // a copy that owns its memory
}

function signingKeyFor(key: KeyObject): SigningKey {
  const type = key.asymmetricKeyType;
  const checkScheme = (schemes: readonly number[], scheme: number): void => {
    if (!schemes.includes(scheme)) {
      throw misuse(`this key cannot sign with scheme 0x${scheme.toString(16).padStart(4, '0')}`);
    }
  };
  switch (type) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const jwk = key.export({ format: 'jwk' });
      const d = jwkBytes(jwk.d, 'EC private scalar');
      if (curve === 'prime256v1') {
        const schemes = [SignatureScheme.ecdsa_secp256r1_sha256];
        return {
          kind: 'ecdsa-p256',
          schemes,
          sign(scheme, message) {
            checkScheme(schemes, scheme);
            return p256.sign(message, d, { prehash: true, format: 'der', extraEntropy: false });
          },
        };
      }
      if (curve === 'secp384r1') {
        const schemes = [SignatureScheme.ecdsa_secp384r1_sha384];
        return {
          kind: 'ecdsa-p384',
          schemes,
          sign(scheme, message) {
            checkScheme(schemes, scheme);
            return p384.sign(message, d, { prehash: true, format: 'der', extraEntropy: false });
          },
        };
      }
      throw misuse(`unsupported EC curve ${curve ?? '(unknown)'}: use P-256 or P-384`);
    }
    case 'ed25519': {
      const seed = jwkBytes(key.export({ format: 'jwk' }).d, 'Ed25519 seed');
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
    case 'rsa': {
      const schemes = rsaSchemes(key.asymmetricKeyDetails?.modulusLength ?? 0);
      if (schemes.length === 0) throw misuse('RSA key too small for RSASSA-PSS');
      const hashes: Record<number, string> = {
        [SignatureScheme.rsa_pss_rsae_sha256]: 'sha256',
        [SignatureScheme.rsa_pss_rsae_sha384]: 'sha384',
        [SignatureScheme.rsa_pss_rsae_sha512]: 'sha512',
      };
      return {
        kind: 'rsa',
        schemes,
        sign(scheme, message) {
          checkScheme(schemes, scheme);
          const sig = nodeSign(hashes[scheme]!, message, {
            key,
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
          });
          return new Uint8Array(sig);
        },
      };
    }
    default:
      throw misuse(`unsupported private key type ${type ?? '(unknown)'}: use ECDSA P-256/P-384, Ed25519 or RSA`);
  }
}
