/**
 * verifyEcdsaDigest (FIPS 186-5 §6.4.2 with cached, precomputed public keys) against noble's own ECDSA and
 * node:crypto, before and after a key's table is built, and against tampered, out-of-range and malformed input.
 */
import test from 'ava';
import fc from 'fast-check';
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { KEY_CACHE_SIZE, verifyEcdsaDigest, type EcdsaCurveName } from '../../src/crypto/ecdsa.js';
import { verifySignature } from '../../src/crypto/signatures.js';
import { bigIntToBytes, parseEcdsaSignature } from '../../src/wire/der.js';
import { SignatureScheme as S } from '../../src/wire/tls/constants.js';

const CURVES = {
  p256: { curve: p256, hash: sha256, size: 32, node: 'prime256v1', scheme: S.ecdsa_secp256r1_sha256 },
  p384: { curve: p384, hash: sha384, size: 48, node: 'secp384r1', scheme: S.ecdsa_secp384r1_sha384 },
  p521: { curve: p521, hash: sha512, size: 66, node: 'secp521r1', scheme: S.ecdsa_secp521r1_sha512 },
} as const;
const NAMES: readonly EcdsaCurveName[] = ['p256', 'p384', 'p521'];

/** A fresh key pair and a signature (r, s) over `message` with noble (deterministic nonces). */
function signed(name: EcdsaCurveName, message: Uint8Array) {
  const { curve, hash, size } = CURVES[name];
  const secret = curve.utils.randomSecretKey();
  const pub = curve.getPublicKey(secret, false);
  const compact = curve.sign(message, secret, { prehash: true, format: 'compact' });
  const r = BigInt(`0x${Buffer.from(compact.subarray(0, size)).toString('hex')}`);
  const s = BigInt(`0x${Buffer.from(compact.subarray(size)).toString('hex')}`);
  return { pub, digest: hash(message), r, s, n: curve.Point.Fn.ORDER };
}

for (const name of NAMES) {
  test(`${name}: valid signatures verify on first use and with the precomputed table; tampering fails`, (t) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (message) => {
        const { pub, digest, r, s, n } = signed(name, message);
        // Uses 1, 2 (the table is built), 3: every one gives the same answers.
        for (let use = 0; use < 3; use++) {
          t.true(verifyEcdsaDigest(name, pub, digest, r, s));
          t.true(verifyEcdsaDigest(name, pub, digest, r, n - s), 'high S is accepted');
          t.false(verifyEcdsaDigest(name, pub, digest, r, s === n - 1n ? 1n : s + 1n));
          t.false(verifyEcdsaDigest(name, pub, digest, r === n - 1n ? 1n : r + 1n, s));
          const bad = digest.slice();
          bad[use] ^= 0x80;
          t.false(verifyEcdsaDigest(name, pub, bad, r, s));
        }
      }),
      { numRuns: 8 },
    );
  });

  test(`${name}: agrees with node:crypto signatures (random nonces) for many keys, beyond the cache size`, (t) => {
    const { hash, node } = CURVES[name];
    const message = new TextEncoder().encode(`TLS 1.3, server CertificateVerify ${name}`);
    const keys = Array.from({ length: KEY_CACHE_SIZE + 4 }, () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: node });
      const jwk = publicKey.export({ format: 'jwk' });
      const pub = new Uint8Array([4, ...Buffer.from(jwk.x!, 'base64url'), ...Buffer.from(jwk.y!, 'base64url')]);
      return { pub, privateKey };
    });
    // Two rounds over more keys than the cache holds: entries are evicted and decoded again.
    for (let round = 0; round < 2; round++) {
      for (const [i, k] of keys.entries()) {
        const { r, s } = parseEcdsaSignature(nodeSign(hash === sha256 ? 'sha256' : hash === sha384 ? 'sha384' : 'sha512', message, k.privateKey));
        t.true(verifyEcdsaDigest(name, k.pub, hash(message), r, s));
        // The neighbour's key (cached or not) never accepts it.
        t.false(verifyEcdsaDigest(name, keys[(i + 1) % keys.length]!.pub, hash(message), r, s));
      }
    }
  });

  test(`${name}: r or s outside [1, n−1] is false; an off-curve or truncated key throws (false via verifySignature)`, (t) => {
    const { curve, size, scheme } = CURVES[name];
    const { pub, digest, r, s, n } = signed(name, new Uint8Array([1, 2, 3]));
    for (const [rr, ss] of [
      [0n, s],
      [r, 0n],
      [n, s],
      [r, n],
      [r + n, s],
    ] as const) {
      t.false(verifyEcdsaDigest(name, pub, digest, rr, ss));
    }
    const offCurve = pub.slice();
    offCurve[pub.length - 1] ^= 0x01;
    t.throws(() => verifyEcdsaDigest(name, offCurve, digest, r, s));
    t.throws(() => verifyEcdsaDigest(name, pub.subarray(0, pub.length - 1), digest, r, s));
    // Through verifySignature (SPKI framing around the same key): false, never a throw.
    const spkiOf = (key: Uint8Array) => {
      // DER lengths: short form below 128, else 0x81 ‖ length (a P-521 SPKI is 158 B).
      const len = (n: number) => (n < 128 ? [n] : [0x81, n]);
      const oidCurve =
        name === 'p256'
          ? [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
          : [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, name === 'p384' ? 0x22 : 0x23];
      const alg = [0x30, 9 + oidCurve.length, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, ...oidCurve];
      const bits = [0x03, ...len(key.length + 1), 0x00, ...key];
      return new Uint8Array([0x30, ...len(alg.length + bits.length), ...alg, ...bits]);
    };
    const der = curve.Signature.fromBytes(
      new Uint8Array([...bigIntToBytes(r, size), ...bigIntToBytes(s, size)]),
      'compact',
    ).toBytes('der');
    t.true(verifySignature(scheme, spkiOf(pub), new Uint8Array([1, 2, 3]), der));
    t.false(verifySignature(scheme, spkiOf(offCurve), new Uint8Array([1, 2, 3]), der));
  });

  test(`${name}: a digest ≡ 0 (mod n) makes u1 = 0 and still verifies exactly (FIPS 186-5 §6.4.2 step 6)`, (t) => {
    const { curve } = CURVES[name];
    const { Point } = curve;
    const Fn = Point.Fn;
    const n = Fn.ORDER;
    const d = Fn.create(0x1234567890abcdefn * 0xfedcba0987654321n);
    const k = Fn.create(0x0badc0ffeen * 0x1337n);
    const pub = Point.BASE.multiply(d).toBytes(false);
    const r = Fn.create(Point.BASE.multiply(k).toAffine().x);
    const s = Fn.mul(Fn.inv(k), Fn.mul(r, d)); // s = k⁻¹(e + r·d) with e = 0
    // bits2int keeps the leftmost ⌈log2 n⌉ bits: for P-521 a 66 B digest loses its last 7 bits.
    const shift = BigInt(Fn.BYTES * 8 - Fn.BITS);
    const digest = bigIntToBytes(n << shift, Fn.BYTES); // e = n ≡ 0
    for (let use = 0; use < 3; use++) {
      t.true(verifyEcdsaDigest(name, pub, digest, r, s));
      t.false(verifyEcdsaDigest(name, pub, bigIntToBytes((n - 1n) << shift, Fn.BYTES), r, s));
    }
  });
}
