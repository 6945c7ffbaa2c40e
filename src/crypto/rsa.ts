/**
 * RSA in pure JS with BigInt (RFC 8017): the primitives RSAVP1 / RSASP1, the encodings EMSA-PSS (§9.1) and
 * EMSA-PKCS1-v1_5 (§9.2), and RSASSA-PSS signing with a private key. No node:crypto, so it runs in a browser.
 *
 * Why written here rather than taken from npm: `@noble/curves` has no RSA, and RSA signature verification is a
 * modular exponentiation plus an encoding check (a few dozen lines with tests against OpenSSL), while the npm
 * RSA packages either wrap WebCrypto (asynchronous, which a synchronous reducer cannot call) or bring their own
 * bignum and ASN.1 stacks.
 *
 * Signing uses the CRT (RFC 8017 §5.1.2 2.b) with base blinding (a random r, c' = c·r^e) so that the timing of
 * BigInt arithmetic does not follow the secret exponent's use on attacker-chosen input, and checks the result
 * with the public exponent before releasing it (a fault during the CRT would otherwise leak a factor of n).
 * BigInt operations are not constant time: for keys that must resist local timing attacks use the node:crypto
 * provider (`src/node/`), which signs through OpenSSL.
 */
import { randomBytes } from '@noble/hashes/utils.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { bigIntToBytes, bytesToBigInt } from '../wire/der.js';
import { bytesEqual } from '../wire/bytes.js';

/** A hash as RSA encodings need it: the function, its output length in bytes and its PKCS#1 DigestInfo prefix. */
export interface RsaHash {
  readonly name: 'sha256' | 'sha384' | 'sha512';
  readonly hash: (msg: Uint8Array) => Uint8Array;
  /** Output length: 32, 48 or 64 B. */
  readonly len: number;
  /** DER DigestInfo up to the digest (RFC 8017 §9.2 note 1): 19 B. */
  readonly digestInfo: Uint8Array;
}

const digestInfoPrefix = (algByte: number, len: number): Uint8Array =>
  Uint8Array.from([
    0x30, 0x11 + len, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, algByte, 0x05, 0x00, 0x04, len,
  ]);

/** SHA-256/384/512 (FIPS 180-4) for RSA encodings. */
export const RSA_HASHES = {
  sha256: { name: 'sha256', hash: (m) => sha256(m), len: 32, digestInfo: digestInfoPrefix(1, 32) },
  sha384: { name: 'sha384', hash: (m) => sha384(m), len: 48, digestInfo: digestInfoPrefix(2, 48) },
  sha512: { name: 'sha512', hash: (m) => sha512(m), len: 64, digestInfo: digestInfoPrefix(3, 64) },
} as const satisfies Record<string, RsaHash>;

/** An RSA public key (RFC 8017 §3.1). */
export interface RsaPublicKey {
  readonly n: bigint;
  readonly e: bigint;
}

/** An RSA private key in CRT form (RFC 8017 §3.2, second representation, two primes). */
export interface RsaPrivateKey extends RsaPublicKey {
  readonly d: bigint;
  readonly p: bigint;
  readonly q: bigint;
  readonly dp: bigint;
  readonly dq: bigint;
  readonly qinv: bigint;
}

/**
 * Bounds on an RSA public key a peer chose (in its certificate chain, or for its handshake signature), checked before
 * any arithmetic: an odd modulus of 1024 (OpenSSL security level 1, so that the RFC 8448 trace's 1024-bit key
 * verifies; certificates are also held to the verifier's `minRsaBits`) to 16384 bits (OpenSSL's largest), and an odd
 * exponent 3 ≤ e ≤ 2^33 − 1 (ring's and webpki's bound; real keys use 65537 or 3). The exponent bound is what
 * keeps a verification cheap: one modular squaring per exponent bit, so a 16384-bit key with e near 2^256 costs
 * about 86 ms here, with e = 65537 about 3 ms.
 */
export const RSA_MIN_MODULUS_BITS = 1024;
export const RSA_MAX_MODULUS_BITS = 16384;
export const RSA_MAX_PUBLIC_EXPONENT = (1n << 33n) - 1n;

/** Whether `{ n, e }` is within {@link RSA_MAX_MODULUS_BITS} and {@link RSA_MAX_PUBLIC_EXPONENT}'s bounds. */
export function usableRsaPublicKey(n: bigint, e: bigint): boolean {
  const bits = n > 0n ? bitLength(n) : 0;
  return bits >= RSA_MIN_MODULUS_BITS && bits <= RSA_MAX_MODULUS_BITS && (n & 1n) === 1n && e >= 3n && e <= RSA_MAX_PUBLIC_EXPONENT && (e & 1n) === 1n;
}

/** Bit length of a positive bigint. */
export function bitLength(n: bigint): number {
  return n.toString(2).length;
}

/** base^exp mod m by square-and-multiply (not constant time: see the module comment). */
export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  if (b < 0n) b += mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

/** a^-1 mod m (extended Euclid); throws when a is not invertible. */
export function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new RangeError('not invertible');
  return ((oldS % m) + m) % m;
}

/** MGF1 (RFC 8017 App. B.2.1): `len` bytes from `seed`. */
export function mgf1(h: RsaHash, seed: Uint8Array, len: number): Uint8Array {
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
 * EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with MGF1 over `h`: the emLen = ⌈emBits/8⌉ octets of EM for `message` and
 * `salt` (RFC 8446 §4.2.3: the salt is as long as the hash).
 */
export function emsaPssEncode(h: RsaHash, message: Uint8Array, salt: Uint8Array, emBits: number): Uint8Array {
  const emLen = Math.ceil(emBits / 8);
  const hLen = h.len;
  const sLen = salt.length;
  if (emLen < hLen + sLen + 2) throw new RangeError('RSA key too small for this PSS hash'); // step 3
  const mPrime = new Uint8Array(8 + hLen + sLen); // step 5: M' = 0^8 || mHash || salt
  mPrime.set(h.hash(message), 8);
  mPrime.set(salt, 8 + hLen);
  const H = h.hash(mPrime); // step 6
  const dbLen = emLen - hLen - 1;
  const db = new Uint8Array(dbLen); // steps 7-8: DB = PS || 0x01 || salt
  db[dbLen - sLen - 1] = 0x01;
  db.set(salt, dbLen - sLen);
  const mask = mgf1(h, H, dbLen); // steps 9-10
  for (let i = 0; i < dbLen; i++) db[i] ^= mask[i]!;
  db[0] &= 0xff >> (8 * emLen - emBits); // step 11
  const em = new Uint8Array(emLen); // step 12: EM = maskedDB || H || 0xbc
  em.set(db);
  em.set(H, dbLen);
  em[emLen - 1] = 0xbc;
  return em;
}

/**
 * EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with MGF1 over `mgfHash` and salt length `sLen`. `em` is the k-octet output
 * of RSAVP1 for a modulus of `modBits` bits (emBits = modBits − 1).
 */
export function emsaPssVerify(
  h: RsaHash,
  message: Uint8Array,
  em: Uint8Array,
  modBits: number,
  sLen: number = h.len,
  mgfHash: RsaHash = h,
): boolean {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  // §8.1.2 step 2c: EM = I2OSP(m, emLen); when emLen < k the extra leading octet must be zero.
  if (em.length > emLen) {
    if (em[0] !== 0) return false;
    em = em.subarray(em.length - emLen);
  }
  const hLen = h.len;
  if (sLen < 0 || emLen < hLen + sLen + 2) return false; // step 3
  if (em[emLen - 1] !== 0xbc) return false; // step 4
  const dbLen = emLen - hLen - 1;
  const maskedDB = em.subarray(0, dbLen); // step 5
  const H = em.subarray(dbLen, dbLen + hLen);
  const topMask = 0xff >> (8 * emLen - emBits); // step 6: the leftmost bits must be zero
  if ((maskedDB[0]! & ~topMask & 0xff) !== 0) return false;
  const db = mgf1(mgfHash, H, dbLen); // steps 7-8
  for (let i = 0; i < dbLen; i++) db[i] ^= maskedDB[i]!;
  db[0] &= topMask; // step 9
  const psLen = emLen - hLen - sLen - 2; // step 10
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(dbLen - sLen); // step 11
  const mPrime = new Uint8Array(8 + hLen + sLen); // step 12
  mPrime.set(h.hash(message), 8);
  mPrime.set(salt, 8 + hLen);
  return bytesEqual(h.hash(mPrime), H); // steps 13-14
}

/**
 * EMSA-PKCS1-v1_5 verification by re-encoding (RFC 8017 §8.2.2 steps 3-4, §9.2):
 * EM = 0x00 || 0x01 || PS (0xff…, ≥ 8 octets) || 0x00 || DigestInfo. Comparing the whole encoding avoids the
 * parsing flaws behind Bleichenbacher'06-style signature forgery.
 */
export function emsaPkcs1Verify(h: RsaHash, message: Uint8Array, em: Uint8Array): boolean {
  if (em.length < h.digestInfo.length + h.len + 11) return false;
  return bytesEqual(emsaPkcs1Encode(h, message, em.length), em);
}

/**
 * RSAVP1 (RFC 8017 §5.2.2, §8.1.2 steps 1-2): the k-octet encoded message of `sig`, or `undefined` when the
 * signature is not exactly k octets or not below n.
 */
export function rsaVerifyPrimitive(key: RsaPublicKey, sig: Uint8Array): Uint8Array | undefined {
  const k = Math.ceil(bitLength(key.n) / 8);
  if (sig.length !== k) return undefined;
  const s = bytesToBigInt(sig);
  if (s >= key.n) return undefined;
  return bigIntToBytes(modPow(s, key.e, key.n), k);
}

/**
 * RSASP1 with the CRT, blinding and a check of the result (see the module comment): the k-octet signature
 * representative of `em`. `random` gives fresh random bytes (blinding factor).
 */
export function rsaSignPrimitive(key: RsaPrivateKey, em: Uint8Array, random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  const { n, e, p, q, dp, dq, qinv } = key;
  const k = Math.ceil(bitLength(n) / 8);
  const m = bytesToBigInt(em);
  if (m >= n) throw new RangeError('message representative out of range');
  // Blinding: r uniformly below n (with overwhelming probability invertible: n has no small factors).
  let r = 0n;
  let rInv = 0n;
  for (;;) {
    r = bytesToBigInt(random(k + 8)) % n;
    if (r < 2n) continue;
    try {
      rInv = modInverse(r, n);
      break;
    } catch {
      // r shares a factor with n: astronomically unlikely; draw again
    }
  }
  const c = (m * modPow(r, e, n)) % n;
  const m1 = modPow(c % p, dp, p);
  const m2 = modPow(c % q, dq, q);
  let h = ((m1 - m2) * qinv) % p;
  if (h < 0n) h += p;
  const sBlind = m2 + h * q;
  const s = (sBlind * rInv) % n;
  if (modPow(s, e, n) !== m) throw new Error('RSA signature self-check failed');
  return bigIntToBytes(s, k);
}

/**
 * EMSA-PKCS1-v1_5 encoding (RFC 8017 §9.2): EM = 0x00 ‖ 0x01 ‖ PS (0xff…) ‖ 0x00 ‖ DigestInfo ‖ H(message), `k`
 * octets. Throws when k is too short for the hash (k < tLen + 11).
 */
export function emsaPkcs1Encode(h: RsaHash, message: Uint8Array, k: number): Uint8Array {
  const tLen = h.digestInfo.length + h.len;
  if (k < tLen + 11) throw new RangeError('intended encoded message length too short');
  const em = new Uint8Array(k).fill(0xff);
  em[0] = 0x00;
  em[1] = 0x01;
  em[k - tLen - 1] = 0x00;
  em.set(h.digestInfo, k - tLen);
  em.set(h.hash(message), k - h.len);
  return em;
}

/**
 * RSASSA-PKCS1-V1_5-SIGN (RFC 8017 §8.2.1): a deterministic signature of k = ⌈modBits/8⌉ octets. TLS 1.2 only
 * (RFC 5246 §7.4.1.4.1, for a peer that offers no RSASSA-PSS); TLS 1.3 forbids it in CertificateVerify.
 *
 * @example
 * rsaPkcs1Sign(key, RSA_HASHES.sha256, serverKeyExchangeContent); // 256 B for a 2048-bit key
 */
export function rsaPkcs1Sign(key: RsaPrivateKey, h: RsaHash, message: Uint8Array, random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  return rsaSignPrimitive(key, emsaPkcs1Encode(h, message, Math.ceil(bitLength(key.n) / 8)), random);
}

/**
 * RSASSA-PSS-SIGN (RFC 8017 §8.1.1) with MGF1 over `h` and a random salt of the hash length (RFC 8446 §4.2.3):
 * a signature of k = ⌈modBits/8⌉ octets.
 *
 * @example
 * rsaPssSign(key, RSA_HASHES.sha256, certificateVerifyContent); // 256 B for a 2048-bit key
 */
export function rsaPssSign(key: RsaPrivateKey, h: RsaHash, message: Uint8Array, random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  const em = emsaPssEncode(h, message, random(h.len), bitLength(key.n) - 1);
  return rsaSignPrimitive(key, em, random);
}

