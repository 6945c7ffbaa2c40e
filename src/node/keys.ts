/**
 * Signing with keys from `loadPrivateKey` through node:crypto (OpenSSL): about ten times faster than pure-JS
 * ECDSA, and RSA-PSS in constant time. Node-only; the portable keys themselves live in `src/crypto/keys.ts`.
 */
import { Buffer } from 'node:buffer';
import { constants, createPrivateKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { TlsError } from '../core/errors.js';
import { privateKeyContainer } from '../crypto/keys.js';
import type { SigningKey } from '../crypto/provider.js';
import { SignatureScheme } from '../wire/tls/constants.js';

/** node:crypto's digest name for each scheme a loaded key can offer (null: EdDSA signs the message itself). */
const NODE_DIGESTS = new Map<number, string | null>([
  [SignatureScheme.ecdsa_secp256r1_sha256, 'sha256'],
  [SignatureScheme.ecdsa_secp384r1_sha384, 'sha384'],
  [SignatureScheme.ecdsa_secp521r1_sha512, 'sha512'],
  [SignatureScheme.ed25519, null],
  [SignatureScheme.ed448, null],
  [SignatureScheme.rsa_pss_rsae_sha256, 'sha256'],
  [SignatureScheme.rsa_pss_rsae_sha384, 'sha384'],
  [SignatureScheme.rsa_pss_rsae_sha512, 'sha512'],
  [SignatureScheme.rsa_pss_pss_sha256, 'sha256'],
  [SignatureScheme.rsa_pss_pss_sha384, 'sha384'],
  [SignatureScheme.rsa_pss_pss_sha512, 'sha512'],
  [SignatureScheme.rsa_pkcs1_sha256, 'sha256'],
  [SignatureScheme.rsa_pkcs1_sha384, 'sha384'],
  [SignatureScheme.rsa_pkcs1_sha512, 'sha512'],
]);

const PKCS1 = new Set<number>([SignatureScheme.rsa_pkcs1_sha256, SignatureScheme.rsa_pkcs1_sha384, SignatureScheme.rsa_pkcs1_sha512]);

/** The KeyObject of each key, imported on first use (the DER container is parsed by OpenSSL once). */
const keyObjects = new WeakMap<SigningKey, KeyObject>();

function keyObjectOf(key: SigningKey): KeyObject | undefined {
  let ko = keyObjects.get(key);
  if (ko) return ko;
  const container = privateKeyContainer(key);
  if (!container) return undefined;
  ko = createPrivateKey({ key: Buffer.from(container.der), format: 'der', type: container.type });
  keyObjects.set(key, ko);
  return ko;
}

/**
 * Sign `message` with `scheme` using node:crypto (OpenSSL) and the key {@link loadPrivateKey} imported: the same
 * signature formats as `key.sign` (DER `Ecdsa-Sig-Value` for ECDSA, 64 B for Ed25519, k B RSASSA-PSS with salt
 * length = hash length, RFC 8446 §4.2.3, or RSASSA-PKCS1-v1_5 for the rsa_pkcs1_* schemes), except that ECDSA nonces are OpenSSL's random ones rather than
 * RFC 6979's. Returns `undefined` for a key not made by `loadPrivateKey`; throws a TlsError (`apiMisuse`) for a
 * scheme the key does not offer, as `key.sign` does.
 *
 * @example
 * signWithKeyObject(key, 0x0403, content) ?? key.sign(0x0403, content);
 */
export function signWithKeyObject(key: SigningKey, scheme: number, message: Uint8Array): Uint8Array | undefined {
  const keyObject = keyObjectOf(key);
  if (!keyObject) return undefined;
  if (!key.schemes.includes(scheme)) {
    throw new TlsError({ kind: 'apiMisuse', reason: `this key cannot sign with scheme 0x${scheme.toString(16).padStart(4, '0')}` });
  }
  const digest = NODE_DIGESTS.get(scheme);
  if (digest === undefined) return undefined;
  let sig: Buffer;
  if (digest === null) sig = nodeSign(null, message, keyObject);
  else if (PKCS1.has(scheme)) sig = nodeSign(digest, message, { key: keyObject, padding: constants.RSA_PKCS1_PADDING });
  else if (key.kind === 'rsa' || key.kind === 'rsa-pss') {
    sig = nodeSign(digest, message, { key: keyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  } else sig = nodeSign(digest, message, { key: keyObject, dsaEncoding: 'der' });
  return new Uint8Array(sig); // a copy that owns its memory
}
