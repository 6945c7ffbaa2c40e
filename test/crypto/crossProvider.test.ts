/** The noble and node:crypto providers must be interchangeable: same outputs on random inputs. */
import test from 'ava';
import fc from 'fast-check';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import type { AeadAlg, GroupName, HashAlg } from '../../src/crypto/provider.js';

const RUNS = { numRuns: 40 };
const bytes = (max = 300) => fc.uint8Array({ maxLength: max });
const hashAlg = fc.constantFrom<HashAlg>('sha256', 'sha384');
const aeadCase = fc.constantFrom<[AeadAlg, number]>(['aes-128-gcm', 16], ['aes-256-gcm', 32], ['chacha20-poly1305', 32]);

test('noble ≡ node: hash, incremental hash and HMAC', (t) => {
  fc.assert(
    fc.property(hashAlg, bytes(), bytes(), bytes(200), (alg, a, b, key) => {
      const whole = new Uint8Array(a.length + b.length);
      whole.set(a);
      whole.set(b, a.length);
      const h1 = nobleProvider.hasher(alg).update(a).update(b).digest();
      const h2 = nodeProvider.hasher(alg).update(a).update(b).digest();
      t.deepEqual(h1, h2);
      t.deepEqual(nobleProvider.hash(alg, whole), nodeProvider.hash(alg, whole));
      t.deepEqual(h1, nodeProvider.hash(alg, whole));
      t.deepEqual(nobleProvider.hmac(alg, key, whole), nodeProvider.hmac(alg, key, whole));
    }),
    RUNS,
  );
});

test('noble ≡ node: HKDF extract and expand', (t) => {
  fc.assert(
    fc.property(hashAlg, bytes(80), bytes(80), bytes(100), fc.integer({ min: 0, max: 600 }), (alg, salt, ikm, info, len) => {
      const prk1 = nobleProvider.hkdfExtract(alg, salt, ikm);
      t.deepEqual(prk1, nodeProvider.hkdfExtract(alg, salt, ikm));
      t.deepEqual(nobleProvider.hkdfExpand(alg, prk1, info, len), nodeProvider.hkdfExpand(alg, prk1, info, len));
    }),
    RUNS,
  );
});

test('noble ≡ node: AEAD seal, and each opens the other', (t) => {
  fc.assert(
    fc.property(
      aeadCase,
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      bytes(40),
      bytes(1000),
      ([alg, keyLen], keyBytes, nonce, aad, pt) => {
        const key = keyBytes.subarray(0, keyLen);
        const a = nobleProvider.aead(alg, key);
        const b = nodeProvider.aead(alg, key);
        const sealed = a.seal(nonce, aad, pt);
        t.deepEqual(sealed, b.seal(nonce, aad, pt));
        t.deepEqual(b.open(nonce, aad, sealed), pt);
        t.deepEqual(a.open(nonce, aad, sealed), pt);
        const bad = sealed.slice();
        bad[bad.length - 1] ^= 1;
        t.is(a.open(nonce, aad, bad), null);
        t.is(b.open(nonce, aad, bad), null);
      },
    ),
    RUNS,
  );
});

test('noble ≡ node: random garbage never opens and never throws', (t) => {
  fc.assert(
    fc.property(aeadCase, bytes(64), ([alg, keyLen], junk) => {
      const key = new Uint8Array(keyLen).fill(3);
      const nonce = new Uint8Array(12);
      t.is(nobleProvider.aead(alg, key).open(nonce, new Uint8Array(0), junk), null);
      t.is(nodeProvider.aead(alg, key).open(nonce, new Uint8Array(0), junk), null);
    }),
    RUNS,
  );
});

for (const group of ['x25519', 'secp256r1', 'secp384r1'] as GroupName[]) {
  test(`noble ≡ node: ${group} ECDH across providers`, (t) => {
    for (let i = 0; i < 8; i++) {
      const a = nobleProvider.generateKeyPair(group);
      const b = nodeProvider.generateKeyPair(group);
      t.deepEqual(nodeProvider.keyPairFromPrivate(group, a.privateKey).publicKey, a.publicKey);
      t.deepEqual(nobleProvider.keyPairFromPrivate(group, b.privateKey).publicKey, b.publicKey);
      const ab = nobleProvider.sharedSecret(group, a.privateKey, b.publicKey);
      t.not(ab, null);
      t.deepEqual(ab, nodeProvider.sharedSecret(group, b.privateKey, a.publicKey));
      t.deepEqual(ab, nodeProvider.sharedSecret(group, a.privateKey, b.publicKey));
    }
  });
}

test('noble ≡ node: X25519 on arbitrary 32-byte shares (including non-canonical u)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (priv, u) => {
      t.deepEqual(nobleProvider.sharedSecret('x25519', priv, u), nodeProvider.sharedSecret('x25519', priv, u));
    }),
    RUNS,
  );
});

test('noble ≡ node: NIST shares that are random bytes are rejected by both', (t) => {
  fc.assert(
    fc.property(fc.constantFrom<GroupName>('secp256r1', 'secp384r1'), fc.uint8Array({ minLength: 96, maxLength: 96 }), (group, junk) => {
      const len = group === 'secp256r1' ? 65 : 97;
      const share = new Uint8Array(len);
      share[0] = 4;
      share.set(junk.subarray(0, len - 1), 1);
      const priv = nobleProvider.generateKeyPair(group).privateKey;
      t.is(nobleProvider.sharedSecret(group, priv, share), nodeProvider.sharedSecret(group, priv, share));
    }),
    RUNS,
  );
});
