/**
 * Signing through the provider (signWithProvider / signWithKeyObject) and the node:crypto provider's key caches:
 * X25519 keys imported as JWK and SubjectPublicKeyInfos imported once.
 */
import test from 'ava';
import fc from 'fast-check';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { x25519 } from '@noble/curves/ed25519.js';
import { TlsError } from '../../src/core/errors.js';
import { loadCertificateChain, loadPrivateKey } from '../../src/crypto/keys.js';
import { signWithKeyObject } from '../../src/node/keys.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import type { SigningKey } from '../../src/crypto/provider.js';
import { signWithProvider } from '../../src/crypto/signing.js';
import { verifySignature } from '../../src/crypto/signatures.js';
import { createWorkerPoolProvider } from '../../src/node/workers.js';
import { certificateSpki } from '../../src/crypto/x509.js';
import { SignatureScheme as S } from '../../src/wire/tls/constants.js';

const certs = fileURLToPath(new URL('../fixtures/certs/', import.meta.url));
const read = (file: string): string => readFileSync(join(certs, file), 'utf8');
const spkiOf = (name: string): Uint8Array => certificateSpki(loadCertificateChain(read(`${name}-cert.pem`))[0]!);
const message = new TextEncoder().encode('rxtls signing test: CertificateVerify content');

const fixtures = [
  { name: 'server-ec', scheme: S.ecdsa_secp256r1_sha256 },
  { name: 'server-p384', scheme: S.ecdsa_secp384r1_sha384 },
  { name: 'server-ed', scheme: S.ed25519 },
] as const;

for (const { name, scheme } of fixtures) {
  test(`${name}: signWithKeyObject signs through node:crypto; both providers verify; tampering fails`, (t) => {
    const key = loadPrivateKey(read(`${name}-key.pem`));
    const spki = spkiOf(name);
    const sig = signWithKeyObject(key, scheme, message);
    if (!sig) return t.fail('no node:crypto signature');
    t.is(Object.getPrototypeOf(sig), Uint8Array.prototype);
    t.true(verifySignature(scheme, spki, message, sig));
    t.true(nodeProvider.verify(scheme, spki, message, sig));
    const bad = sig.slice();
    bad[bad.length - 3] ^= 0x10;
    t.false(verifySignature(scheme, spki, message, bad));
    t.false(nodeProvider.verify(scheme, spki, message, bad));
    if (scheme === S.ed25519) {
      t.deepEqual(sig, key.sign(scheme, message), 'Ed25519 is deterministic: the same bytes as noble');
    } else {
      t.is(sig[0], 0x30, 'DER Ecdsa-Sig-Value');
    }
  });
}

test('signWithProvider: node:crypto signs ECDSA with random nonces, noble keeps RFC 6979 signatures', (t) => {
  const key = loadPrivateKey(read('server-ec-key.pem'));
  const spki = spkiOf('server-ec');
  const scheme = S.ecdsa_secp256r1_sha256;
  const a = signWithProvider(nodeProvider, key, scheme, message);
  const b = signWithProvider(nodeProvider, key, scheme, message);
  t.notDeepEqual(a, b);
  t.true(verifySignature(scheme, spki, message, a) && verifySignature(scheme, spki, message, b));
  t.deepEqual(signWithProvider(nobleProvider, key, scheme, message), key.sign(scheme, message));
});

test('signWithKeyObject: RSA keys sign RSA-PSS (and PKCS#1 v1.5) through OpenSSL; keys not made by loadPrivateKey sign by themselves', (t) => {
  const rsa = loadPrivateKey(read('server-rsa-key.pem'));
  for (const scheme of rsa.schemes) {
    const viaNode = signWithKeyObject(rsa, scheme, message);
    if (!viaNode) return t.fail('no node:crypto RSA signature');
    t.is(viaNode.length, 256);
    t.true(verifySignature(scheme, spkiOf('server-rsa'), message, viaNode));
    // The portable (BigInt) signature of the same key verifies too; PSS salts are random, so they differ.
    const portable = rsa.sign(scheme, message);
    t.true(verifySignature(scheme, spkiOf('server-rsa'), message, portable));
    // PSS salts are random; PKCS#1 v1.5 (TLS 1.2 only) is deterministic: both engines give the same bytes.
    if (scheme >= 0x0804) t.notDeepEqual(portable, viaNode);
    else t.deepEqual(portable, viaNode);
  }
  const sig = signWithProvider(nodeProvider, rsa, S.rsa_pss_rsae_sha256, message);
  t.true(verifySignature(S.rsa_pss_rsae_sha256, spkiOf('server-rsa'), message, sig));
  const own: SigningKey = { kind: 'ed25519', schemes: [S.ed25519], sign: () => new Uint8Array(64).fill(7) };
  t.is(signWithKeyObject(own, S.ed25519, message), undefined);
  t.deepEqual(signWithProvider(nodeProvider, own, S.ed25519, message), new Uint8Array(64).fill(7));
});

test('signWithKeyObject: a scheme the key does not offer is API misuse', (t) => {
  const key = loadPrivateKey(read('server-ec-key.pem'));
  const err = t.throws(() => signWithKeyObject(key, S.ecdsa_secp384r1_sha384, message), { instanceOf: TlsError });
  t.is(err?.kind, 'apiMisuse');
  t.throws(() => signWithProvider(nodeProvider, key, S.ed25519, message), { instanceOf: TlsError });
});

test('node provider: X25519 key pairs equal noble (RFC 7748) for random private keys, and agree on secrets', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
      const kp = nodeProvider.keyPairFromPrivate('x25519', a);
      t.deepEqual(kp.publicKey, x25519.getPublicKey(a));
      t.deepEqual(kp.privateKey, a);
      const peer = x25519.getPublicKey(b);
      t.deepEqual(nodeProvider.sharedSecret('x25519', kp.privateKey, peer), x25519.getSharedSecret(a, peer));
      // A private key array the provider has not seen (no cached KeyObject) gives the same secret.
      t.deepEqual(nodeProvider.sharedSecret('x25519', a.slice(), peer), x25519.getSharedSecret(a, peer));
    }),
    { numRuns: 30 },
  );
  const fresh = nodeProvider.generateKeyPair('x25519');
  t.deepEqual(fresh.publicKey, x25519.getPublicKey(fresh.privateKey));
});

test('node provider: cached SPKI keys never verify for another key, type or curve; many keys evict', (t) => {
  const scheme = S.ecdsa_secp256r1_sha256;
  const ec = loadPrivateKey(read('server-ec-key.pem'));
  const spki = spkiOf('server-ec');
  const sig = ec.sign(scheme, message);
  // Warm the cache, then check the cached key still refuses what it must.
  for (let i = 0; i < 3; i++) t.true(nodeProvider.verify(scheme, spki, message, sig));
  t.false(nodeProvider.verify(S.ecdsa_secp384r1_sha384, spki, message, sig), 'curve mismatch');
  t.false(nodeProvider.verify(S.ed25519, spki, message, sig), 'type mismatch');
  t.false(nodeProvider.verify(scheme, spkiOf('server-p384'), message, sig), 'P-384 key for a P-256 scheme');
  t.false(nodeProvider.verify(scheme, spkiOf('client'), message, sig), 'another P-256 key');
  // More keys than the cache holds, then the first again.
  for (let i = 0; i < 80; i++) {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const other = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    t.false(nodeProvider.verify(scheme, other, message, sig));
  }
  t.true(nodeProvider.verify(scheme, spki, message, sig));
  const mangled = spki.slice();
  mangled[mangled.length - 1] ^= 0x01; // off the curve
  t.false(nodeProvider.verify(scheme, mangled, message, sig));
});

test('signWithProvider: a worker pool over node:crypto signs through its base provider', async (t) => {
  const pool = createWorkerPoolProvider({ base: nodeProvider, size: 1 });
  t.teardown(() => pool.close());
  const key = loadPrivateKey(read('server-ec-key.pem'));
  const scheme = S.ecdsa_secp256r1_sha256;
  t.is(typeof pool.signWith, 'function');
  const a = signWithProvider(pool, key, scheme, message);
  const b = signWithProvider(pool, key, scheme, message);
  t.notDeepEqual(a, b, 'OpenSSL ECDSA nonces are random: not the noble (RFC 6979) path');
  t.true(verifySignature(scheme, spkiOf('server-ec'), message, a));
  t.is(createWorkerPoolProvider().signWith, undefined, 'a pool over noble has no signWith: keys sign themselves');
});
