/**
 * Signature schemes ecdsa_secp521r1_sha512 (0x0603), ed448 (0x0808) and rsa_pss_pss_sha256/384/512
 * (0x0809–0x080b, RFC 8446 §4.2.3): key loading (PKCS#8), signing, verification in both providers and the X.509
 * verifier, scheme/key matching and the PSS parameters of RSASSA-PSS keys (RFC 4055 §3.1).
 */
import test from 'ava';
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { loadCertificateChain, loadPrivateKey, parsePem } from '../../src/crypto/keys.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { spkiKeyType, spkiPssParams, verifySignature } from '../../src/crypto/signatures.js';
import { certificateSpki, createVerifier } from '../../src/crypto/x509.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import { decodeDerElement, decodeDerOctetString, decodeDerSequence, decodeDerSmallInt } from '../../src/wire/der.js';
import { Reader } from '../../src/wire/reader.js';
import { SignatureScheme as S } from '../../src/wire/tls/constants.js';
import { read } from './verifierSuite.js';

const NOW = Date.UTC(2027, 6, 1);
const msg = new TextEncoder().encode('TLS 1.3, server CertificateVerify');
const leafSpki = (name: string) => certificateSpki(loadCertificateChain(read(`server-${name}-cert.pem`))[0]!);

for (const [name, kind, scheme, type] of [
  ['p521', 'ecdsa-p521', S.ecdsa_secp521r1_sha512, 'ecdsa-p521'],
  ['ed448', 'ed448', S.ed448, 'ed448'],
  ['pss', 'rsa-pss', S.rsa_pss_pss_sha256, 'rsa-pss'],
] as const) {
  test(`${name}: PKCS#8 key loads as ${kind} with [${scheme.toString(16)}]; both providers sign and verify`, (t) => {
    const key = loadPrivateKey(read(`server-${name}-key.pem`));
    t.is(key.kind, kind);
    t.deepEqual(key.schemes, [scheme]);
    const spki = leafSpki(name);
    t.is(spkiKeyType(spki), type);
    for (const sig of [key.sign(scheme, msg), nodeProvider.signWith!(key, scheme, msg)!]) {
      t.true(nobleProvider.verify(scheme, spki, msg, sig));
      t.true(nodeProvider.verify(scheme, spki, msg, sig));
      t.false(nobleProvider.verify(scheme, spki, msg.subarray(1), sig));
      t.false(nodeProvider.verify(scheme, spki, msg.subarray(1), sig));
    }
  });

  test(`${name}: the chain (signed by a ${name} CA) verifies in the portable X.509 verifier; tampering fails`, (t) => {
    const chain = loadCertificateChain(read(`server-${name}-cert.pem`));
    const verifier = createVerifier({ ca: read(`${name}-ca-cert.pem`) });
    t.true(verifier.verify({ chain, usage: 'server', serverName: 'localhost', now: NOW }).ok);
    const bad = chain[0]!.slice();
    bad[bad.length - 3] ^= 1; // inside the signature value
    t.false(verifier.verify({ chain: [bad], usage: 'server', serverName: 'localhost', now: NOW }).ok);
  });
}

test('schemes only fit their key type: rsae vs pss, curves, EdDSA flavours (false in both providers)', (t) => {
  const pss = loadPrivateKey(read('server-pss-key.pem'));
  const sig = pss.sign(S.rsa_pss_pss_sha256, msg);
  for (const p of [nobleProvider, nodeProvider]) {
    // An RSASSA-PSS key is not an rsaEncryption key (RFC 8446 §4.2.3): same bytes, wrong scheme.
    t.false(p.verify(S.rsa_pss_rsae_sha256, leafSpki('pss'), msg, sig));
    t.false(p.verify(S.ecdsa_secp384r1_sha384, leafSpki('p521'), msg, loadPrivateKey(read('server-p521-key.pem')).sign(S.ecdsa_secp521r1_sha512, msg)));
    t.false(p.verify(S.ed25519, leafSpki('ed448'), msg, loadPrivateKey(read('server-ed448-key.pem')).sign(S.ed448, msg)));
  }
  // And an rsaEncryption key never verifies under rsa_pss_pss_*.
  const rsa = loadPrivateKey(read('server-rsa-key.pem'));
  const rsaSpki = certificateSpki(loadCertificateChain(read('server-rsa-cert.pem'))[0]!);
  t.false(verifySignature(S.rsa_pss_pss_sha256, rsaSpki, msg, rsa.sign(S.rsa_pss_rsae_sha256, msg)));
});

test('RSASSA-PSS key parameters are honoured: a SHA-256 key neither signs nor verifies SHA-384', (t) => {
  const spki = leafSpki('pss');
  t.deepEqual(spkiPssParams(spki), { hash: 'sha256', mgfHash: 'sha256', saltLength: 32 });
  const key = loadPrivateKey(read('server-pss-key.pem'));
  t.throws(() => key.sign(S.rsa_pss_pss_sha384, msg));
  // The same key material as a plain RSA key (the RSAPrivateKey inside the PKCS#8), so signatures with another
  // hash exist: only the parameters make the SHA-384 one invalid.
  const info = decodeDerSequence(new Reader(parsePem(read('server-pss-key.pem'))[0]!.der));
  decodeDerSmallInt(info);
  decodeDerElement(info);
  const plain = loadPrivateKey(decodeDerOctetString(info));
  t.is(plain.kind, 'rsa');
  for (const p of [nobleProvider, nodeProvider]) {
    t.true(p.verify(S.rsa_pss_pss_sha256, spki, msg, plain.sign(S.rsa_pss_rsae_sha256, msg)));
    t.false(p.verify(S.rsa_pss_pss_sha384, spki, msg, plain.sign(S.rsa_pss_rsae_sha384, msg)));
    t.false(p.verify(S.rsa_pss_pss_sha512, spki, msg, plain.sign(S.rsa_pss_rsae_sha512, msg)));
  }
});

test('an unrestricted RSASSA-PSS key (no parameters) offers all three rsa_pss_pss schemes', (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
  const key = loadPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  t.is(key.kind, 'rsa-pss');
  t.deepEqual(key.schemes, [S.rsa_pss_pss_sha256, S.rsa_pss_pss_sha384, S.rsa_pss_pss_sha512]);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  t.is(spkiPssParams(spki), undefined);
  for (const scheme of key.schemes) {
    const sig = key.sign(scheme, msg);
    t.true(nobleProvider.verify(scheme, spki, msg, sig));
    t.true(nodeProvider.verify(scheme, spki, msg, sig));
  }
});

test('RSASSA-PSS key restricted to SHA-512 by its parameters: only rsa_pss_pss_sha512', (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048, hashAlgorithm: 'sha512', mgf1HashAlgorithm: 'sha512', saltLength: 64 as never }); // @types/node says string; node takes a number
  const key = loadPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  t.deepEqual(key.schemes, [S.rsa_pss_pss_sha512]);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const sig = key.sign(S.rsa_pss_pss_sha512, msg);
  t.true(nobleProvider.verify(S.rsa_pss_pss_sha512, spki, msg, sig));
  t.true(nodeProvider.verify(S.rsa_pss_pss_sha512, spki, msg, sig));
  t.false(nobleProvider.verify(S.rsa_pss_pss_sha256, spki, msg, key.sign(S.rsa_pss_pss_sha512, msg)));
});

test('P-521 and Ed448 keys made by node:crypto load from PKCS#8 and verify against node-made signatures', (t) => {
  const cases = [
    { pair: generateKeyPairSync('ec', { namedCurve: 'secp521r1' }), scheme: S.ecdsa_secp521r1_sha512, digest: 'sha512' },
    { pair: generateKeyPairSync('ed448'), scheme: S.ed448, digest: null },
  ];
  for (const { pair, scheme, digest } of cases) {
    const key = loadPrivateKey(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    t.deepEqual(key.schemes, [scheme]);
    const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
    t.true(verifySignature(scheme, spki, msg, nodeSign(digest, msg, pair.privateKey)));
    t.true(nodeProvider.verify(scheme, spki, msg, key.sign(scheme, msg)));
  }
});
