/**
 * Signature verification in pure JS (no node:crypto): backs the noble provider's `verify` for CertificateVerify
 * (RFC 8446 §4.4.3) and anything else that checks a signature against a DER SubjectPublicKeyInfo.
 *
 * - ECDSA P-256/SHA-256 and P-384/SHA-384 (noble arithmetic, {@link verifyEcdsaDigest}: keys seen repeatedly get
 *   precomputed tables), DER `Ecdsa-Sig-Value`; high S is accepted because OpenSSL produces it half the time
 *   (ECDSA itself does not forbid it).
 * - Ed25519 (RFC 8032, noble) with strict (non-ZIP-215) decoding.
 * - RSA (RFC 8017) with BigInt exponentiation on the public key (public data only, so timing does not matter):
 *   RSASSA-PSS with MGF1 and salt length = hash length (RFC 8446 §4.2.3) and RSASSA-PKCS1-v1_5.
 *
 * Every failure — malformed key or signature, a scheme that does not match the key, a bad signature — is `false`.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { Reader } from '../wire/reader.js';
import {
  DerTag,
  bigIntToBytes,
  bytesToBigInt,
  decodeDerNull,
  decodeDerOid,
  decodeDerSequence,
  decodeDerUnsigned,
  parseEcdsaSignature,
  parseSpki,
  type Spki,
} from '../wire/der.js';
import { SignatureScheme } from '../wire/tls/constants.js';
import { type EcdsaCurveName, verifyEcdsaDigest } from './ecdsa.js';

/** Key types a SubjectPublicKeyInfo can hold, as far as TLS 1.3 is concerned here. */
export type SpkiKeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519' | 'rsa' | 'unknown';

/** Object identifiers (RFC 5480 §2.1.1, RFC 8410 §3, RFC 8017 App. C). */
const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  secp256r1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  ed25519: '1.3.101.112',
  rsaEncryption: '1.2.840.113549.1.1.1',
} as const;

/**
 * RSA moduli outside this range are refused. The floor is 1024 bits (OpenSSL security level 1), so that the
 * RFC 8448 trace (a 1024-bit server key) verifies; certificates are additionally held to the verifier's policy.
 * The cap bounds the work a hostile key can cause.
 */
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 16384;

/**
 * The key type of a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), or `'unknown'` (also for malformed input).
 *
 * @example
 * spkiKeyType(certificateSpki(leafDer)); // 'ecdsa-p256'
 */
export function spkiKeyType(spki: Uint8Array): SpkiKeyType {
  try {
    return keyTypeOf(parseSpki(spki));
  } catch {
    return 'unknown';
  }
}

function keyTypeOf(k: Spki): SpkiKeyType {
  switch (k.algorithm) {
    case OID.ecPublicKey: {
      // RFC 5480 §2.1.1: namedCurve parameters; implicit/specified curves are not supported.
      if (!k.parameters || k.parameters.tag !== DerTag.OID) return 'unknown';
      const curve = decodeDerOid(new Reader(k.parameters.tlv));
      return curve === OID.secp256r1 ? 'ecdsa-p256' : curve === OID.secp384r1 ? 'ecdsa-p384' : 'unknown';
    }
    case OID.ed25519:
      // RFC 8410 §3: parameters MUST be absent.
      return k.parameters ? 'unknown' : 'ed25519';
    case OID.rsaEncryption:
      // RFC 8017 App. C / RFC 3279 §2.3.1: parameters MUST be NULL (tolerate absence, as OpenSSL does).
      if (k.parameters) decodeDerNull(new Reader(k.parameters.tlv));
      return 'rsa';
    default:
      return 'unknown';
  }
}

type Hash = (msg: Uint8Array) => Uint8Array;
interface HashInfo {
  readonly hash: Hash;
  readonly len: number;
  /** DER DigestInfo prefix up to the digest (RFC 8017 §9.2 note 1). */
  readonly digestInfo: Uint8Array;
}
const digestInfoPrefix = (algByte: number, len: number): Uint8Array =>
  Uint8Array.from([
    0x30, 0x11 + len, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, algByte, 0x05, 0x00, 0x04, len,
  ]);
const SHA256: HashInfo = { hash: (m) => sha256(m), len: 32, digestInfo: digestInfoPrefix(1, 32) };
const SHA384: HashInfo = { hash: (m) => sha384(m), len: 48, digestInfo: digestInfoPrefix(2, 48) };
const SHA512: HashInfo = { hash: (m) => sha512(m), len: 64, digestInfo: digestInfoPrefix(3, 64) };

/**
 * Verify `signature` over `message` with the key in `spki` (DER SubjectPublicKeyInfo) under TLS `scheme`
 * (RFC 8446 §4.2.3 code point). ECDSA signatures are DER; Ed25519 64 B; RSA exactly the modulus length.
 *
 * @returns true only for a valid signature whose scheme matches the key type; never throws.
 * @example
 * verifySignature(SignatureScheme.ecdsa_secp256r1_sha256, spki, content, sig);
 */
export function verifySignature(scheme: number, spki: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = parseSpki(spki);
    const type = keyTypeOf(key);
    switch (scheme) {
      case SignatureScheme.ecdsa_secp256r1_sha256:
        return type === 'ecdsa-p256' && verifyEcdsa('p256', SHA256, key.publicKey, message, signature);
      case SignatureScheme.ecdsa_secp384r1_sha384:
        return type === 'ecdsa-p384' && verifyEcdsa('p384', SHA384, key.publicKey, message, signature);
      case SignatureScheme.ed25519:
        // RFC 8032 §5.1.7 (strict decoding, as OpenSSL does).
        return (
          type === 'ed25519' &&
          key.publicKey.length === 32 &&
          signature.length === 64 &&
          ed25519.verify(signature, message, key.publicKey, { zip215: false })
        );
      case SignatureScheme.rsa_pss_rsae_sha256:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em, bits) => pssVerify(SHA256, message, em, bits));
      case SignatureScheme.rsa_pss_rsae_sha384:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em, bits) => pssVerify(SHA384, message, em, bits));
      case SignatureScheme.rsa_pss_rsae_sha512:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em, bits) => pssVerify(SHA512, message, em, bits));
      case SignatureScheme.rsa_pkcs1_sha256:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em) => pkcs1Verify(SHA256, message, em));
      case SignatureScheme.rsa_pkcs1_sha384:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em) => pkcs1Verify(SHA384, message, em));
      case SignatureScheme.rsa_pkcs1_sha512:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em) => pkcs1Verify(SHA512, message, em));
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** ECDSA (FIPS 186-5 §6.4.2) over the curve's own hash; the DER signature is parsed strictly here. */
function verifyEcdsa(curve: EcdsaCurveName, h: HashInfo, pub: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const { r, s } = parseEcdsaSignature(sig);
  return verifyEcdsaDigest(curve, pub, h.hash(message), r, s);
}

/** RSAVP1 (RFC 8017 §5.2.2 / §8.1.2 step 2) then the encoding check `check(EM, modBits)`. */
function verifyRsa(publicKey: Uint8Array, sig: Uint8Array, check: (em: Uint8Array, modBits: number) => boolean): boolean {
  // RFC 8017 App. A.1.1: RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
  const outer = new Reader(publicKey);
  const seq = decodeDerSequence(outer);
  outer.expectEnd('RSAPublicKey');
  const n = decodeDerUnsigned(seq);
  const e = decodeDerUnsigned(seq);
  seq.expectEnd('RSAPublicKey');
  const modBits = n.toString(2).length;
  if (modBits < RSA_MIN_BITS || modBits > RSA_MAX_BITS || (n & 1n) === 0n) return false;
  // An odd exponent, 3 <= e < 2^256, keeps the exponentiation cheap and rules out degenerate keys.
  if (e < 3n || (e & 1n) === 0n || e >= 1n << 256n) return false;
  const k = Math.ceil(modBits / 8);
  // §8.1.2 step 1: the signature is exactly k octets; §5.2.2: s < n.
  if (sig.length !== k) return false;
  const s = bytesToBigInt(sig);
  if (s >= n) return false;
  const m = modPow(s, e, n);
  return check(bigIntToBytes(m, k), modBits);
}

/** Square-and-multiply on public values only. */
function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

/** MGF1 (RFC 8017 App. B.2.1). */
function mgf1(h: HashInfo, seed: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const block = new Uint8Array(seed.length + 4);
  block.set(seed);
  for (let counter = 0, off = 0; off < len; counter++, off += h.len) {
    new DataView(block.buffer).setUint32(seed.length, counter);
    out.set(h.hash(block).subarray(0, Math.min(h.len, len - off)), off);
  }
  return out;
}

/**
 * EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with MGF1 over the same hash and sLen = hLen (RFC 8446 §4.2.3).
 * `em` is the k-octet output of RSAVP1; emBits = modBits - 1.
 */
function pssVerify(h: HashInfo, message: Uint8Array, em: Uint8Array, modBits: number): boolean {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  // §8.1.2 step 2c: EM = I2OSP(m, emLen); when emLen < k the extra leading octet must be zero.
  if (em.length > emLen) {
    if (em[0] !== 0) return false;
    em = em.subarray(em.length - emLen);
  }
  const hLen = h.len;
  const sLen = hLen;
  if (emLen < hLen + sLen + 2) return false; // step 3
  if (em[emLen - 1] !== 0xbc) return false; // step 4
  const dbLen = emLen - hLen - 1;
  const maskedDB = em.subarray(0, dbLen); // step 5
  const H = em.subarray(dbLen, dbLen + hLen);
  const topBits = 8 * emLen - emBits; // step 6: the leftmost bits must be zero
  const topMask = 0xff >> topBits;
  if ((maskedDB[0]! & ~topMask & 0xff) !== 0) return false;
  const db = mgf1(h, H, dbLen); // steps 7-8
  for (let i = 0; i < dbLen; i++) db[i] ^= maskedDB[i]!;
  db[0] &= topMask; // step 9
  const psLen = emLen - hLen - sLen - 2; // step 10
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(dbLen - sLen); // step 11
  const mPrime = new Uint8Array(8 + hLen + sLen); // step 12: M' = 0^8 || mHash || salt
  mPrime.set(h.hash(message), 8);
  mPrime.set(salt, 8 + hLen);
  return bytesEqual(h.hash(mPrime), H); // steps 13-14
}

/**
 * RSASSA-PKCS1-v1_5 verification by re-encoding (RFC 8017 §8.2.2 step 3-4, EMSA-PKCS1-v1_5 §9.2):
 * EM = 0x00 || 0x01 || PS (0xff…, ≥ 8 octets) || 0x00 || DigestInfo. Comparing the whole encoding avoids
 * the parsing flaws of Bleichenbacher'06-style signature forgery.
 */
function pkcs1Verify(h: HashInfo, message: Uint8Array, em: Uint8Array): boolean {
  const tLen = h.digestInfo.length + h.len;
  const k = em.length;
  if (k < tLen + 11) return false;
  const expected = new Uint8Array(k).fill(0xff);
  expected[0] = 0x00;
  expected[1] = 0x01;
  expected[k - tLen - 1] = 0x00;
  expected.set(h.digestInfo, k - tLen);
  expected.set(h.hash(message), k - h.len);
  return bytesEqual(expected, em);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
