/**
 * verifySignature against signatures made by OpenSSL (`openssl dgst` / `openssl pkeyutl`, run into a temp dir
 * with the keys of test/fixtures/certs), by noble, and against tampered and malformed inputs.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { p256, p384 } from '@noble/curves/nist.js';
import { spkiKeyType, verifySignature } from '../../src/crypto/signatures.js';
import { certificateSpki } from '../../src/crypto/x509.js';
import { loadCertificateChain, loadPrivateKey } from '../../src/crypto/keys.js';
import { SignatureScheme as S } from '../../src/wire/tls/constants.js';

const certs = fileURLToPath(new URL('../fixtures/certs/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'rxtls-sig-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const spkiOf = (name: string): Uint8Array =>
  certificateSpki(loadCertificateChain(readFileSync(join(certs, `${name}-cert.pem`), 'utf8'))[0]!);
const keyPath = (name: string): string => join(certs, `${name}-key.pem`);

/** The TLS 1.3 CertificateVerify content shape (RFC 8446 §4.4.3): 64 spaces, context string, 0, hash. */
const message = new Uint8Array([
  ...new Uint8Array(64).fill(0x20),
  ...new TextEncoder().encode('TLS 1.3, server CertificateVerify'),
  0,
  ...new Uint8Array(32).fill(0xab),
]);
const msgFile = join(tmp, 'msg.bin');
writeFileSync(msgFile, message);

let counter = 0;
/** Run `openssl <sub> -out <tmp file> ...rest` and read the output file. */
function openssl([sub, ...rest]: string[]): Uint8Array {
  const out = join(tmp, `sig-${counter++}.bin`);
  execFileSync('openssl', [sub!, '-out', out, ...rest], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Uint8Array(readFileSync(out));
}
const dgstSign = (key: string, hash: string, sigopts: string[] = []): Uint8Array =>
  openssl(['dgst', `-${hash}`, '-sign', keyPath(key), ...sigopts.flatMap((o) => ['-sigopt', o]), msgFile]);
const pss = (hash: string, saltlen = 'digest'): string[] => [
  'rsa_padding_mode:pss',
  `rsa_pss_saltlen:${saltlen}`,
  `rsa_mgf1_md:${hash}`,
];

const tamper = (b: Uint8Array, i: number): Uint8Array => {
  const c = b.slice();
  c[i] ^= 0x01;
  return c;
};

test('spkiKeyType of every fixture leaf', (t) => {
  t.is(spkiKeyType(spkiOf('server-ec')), 'ecdsa-p256');
  t.is(spkiKeyType(spkiOf('server-p384')), 'ecdsa-p384');
  t.is(spkiKeyType(spkiOf('server-ed')), 'ed25519');
  t.is(spkiKeyType(spkiOf('server-rsa')), 'rsa');
  const x25519 = generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'der' });
  t.is(spkiKeyType(new Uint8Array(x25519)), 'unknown');
  t.is(spkiKeyType(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), 'unknown');
  t.is(spkiKeyType(new Uint8Array(0)), 'unknown');
});

test('ECDSA P-256/SHA-256 signatures from openssl dgst verify, high S included', (t) => {
  const spki = spkiOf('server-ec');
  const n = p256.Point.Fn.ORDER;
  let high = 0;
  // OpenSSL does not normalise S: over 24 signatures one is high-S with probability 1 − 2^-24.
  for (let i = 0; i < 24; i++) {
    const sig = dgstSign('server-ec', 'sha256');
    if (p256.Signature.fromBytes(sig, 'der').s > n / 2n) high++;
    t.true(verifySignature(S.ecdsa_secp256r1_sha256, spki, message, sig));
    t.false(verifySignature(S.ecdsa_secp256r1_sha256, spki, tamper(message, 70), sig));
  }
  t.true(high > 0, 'expected at least one high-S signature from OpenSSL');
});

test('ECDSA P-384/SHA-384 signature from openssl dgst verifies; wrong scheme or tampering fails', (t) => {
  const spki = spkiOf('server-p384');
  const sig = dgstSign('server-p384', 'sha384');
  t.true(verifySignature(S.ecdsa_secp384r1_sha384, spki, message, sig));
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, spki, message, sig));
  t.false(verifySignature(S.ecdsa_secp384r1_sha384, spki, tamper(message, 0), sig));
  t.false(verifySignature(S.ecdsa_secp384r1_sha384, spki, message, tamper(sig, sig.length - 1)));
  // A P-256 key must not verify under the P-384 scheme, even with its own valid signature.
  t.false(verifySignature(S.ecdsa_secp384r1_sha384, spkiOf('server-ec'), message, dgstSign('server-ec', 'sha384')));
});

test('crafted high-S ECDSA signatures (s → n − s) verify for P-256 and P-384', (t) => {
  for (const [curve, name, scheme] of [
    [p256, 'server-ec', S.ecdsa_secp256r1_sha256],
    [p384, 'server-p384', S.ecdsa_secp384r1_sha384],
  ] as const) {
    const key = loadPrivateKey(readFileSync(keyPath(name), 'utf8'));
    const low = curve.Signature.fromBytes(key.sign(scheme, message), 'der');
    t.false(low.hasHighS());
    const highSig = new curve.Signature(low.r, curve.Point.Fn.ORDER - low.s);
    t.true(highSig.hasHighS());
    const der = highSig.toBytes('der');
    t.true(verifySignature(scheme, spkiOf(name), message, der));
    t.false(verifySignature(scheme, spkiOf(name), tamper(message, 1), der));
  }
});

test('Ed25519 signature from openssl pkeyutl verifies; tampering fails', (t) => {
  const spki = spkiOf('server-ed');
  const sig = openssl(['pkeyutl', '-sign', '-inkey', keyPath('server-ed'), '-rawin', '-in', msgFile]);
  t.is(sig.length, 64);
  t.true(verifySignature(S.ed25519, spki, message, sig));
  t.false(verifySignature(S.ed25519, spki, tamper(message, 5), sig));
  t.false(verifySignature(S.ed25519, spki, message, tamper(sig, 10)));
  t.false(verifySignature(S.ed25519, spki, message, sig.subarray(0, 63)));
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, spki, message, sig));
});

for (const [hash, scheme] of [
  ['sha256', S.rsa_pss_rsae_sha256],
  ['sha384', S.rsa_pss_rsae_sha384],
  ['sha512', S.rsa_pss_rsae_sha512],
] as const) {
  test(`RSA-PSS ${hash} (MGF1 ${hash}, salt = hash length) from openssl dgst verifies`, (t) => {
    const spki = spkiOf('server-rsa');
    const sig = dgstSign('server-rsa', hash, pss(hash));
    t.is(sig.length, 256);
    t.true(verifySignature(scheme, spki, message, sig));
    t.false(verifySignature(scheme, spki, tamper(message, 3), sig));
    t.false(verifySignature(scheme, spki, message, tamper(sig, 100)));
    // RFC 8446 §4.2.3: the salt length MUST equal the digest length; OpenSSL's "max" salt is refused.
    t.false(verifySignature(scheme, spki, message, dgstSign('server-rsa', hash, pss(hash, 'max'))));
    // A PSS signature is not a PKCS#1 v1.5 one.
    t.false(verifySignature(S.rsa_pkcs1_sha256, spki, message, sig));
  });
}

for (const [hash, scheme] of [
  ['sha256', S.rsa_pkcs1_sha256],
  ['sha384', S.rsa_pkcs1_sha384],
  ['sha512', S.rsa_pkcs1_sha512],
] as const) {
  test(`RSASSA-PKCS1-v1_5 ${hash} from openssl dgst verifies`, (t) => {
    const spki = spkiOf('server-rsa');
    const sig = dgstSign('server-rsa', hash);
    t.true(verifySignature(scheme, spki, message, sig));
    t.false(verifySignature(scheme, spki, tamper(message, 90), sig));
    t.false(verifySignature(scheme, spki, message, tamper(sig, 0)));
    t.false(verifySignature(S.rsa_pss_rsae_sha256, spki, message, sig));
    // Same key, another hash in the DigestInfo.
    const other = scheme === S.rsa_pkcs1_sha256 ? S.rsa_pkcs1_sha384 : S.rsa_pkcs1_sha256;
    t.false(verifySignature(other, spki, message, sig));
  });
}

test('RSA moduli of other sizes: 1024, 2050 and 3072 bits verify (PSS and PKCS#1), 768 bits is refused', (t) => {
  for (const [bits, accepted] of [
    [2050, true],
    [3072, true],
    [1024, true],
    [768, false],
  ] as const) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    t.is(spkiKeyType(spki), 'rsa');
    const pssSig = nodeSign('sha256', message, {
      key: privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
    const pkcs1Sig = nodeSign('sha384', message, privateKey);
    t.is(verifySignature(S.rsa_pss_rsae_sha256, spki, message, pssSig), accepted, `${bits} PSS`);
    t.is(verifySignature(S.rsa_pkcs1_sha384, spki, message, pkcs1Sig), accepted, `${bits} PKCS#1`);
    t.false(verifySignature(S.rsa_pss_rsae_sha256, spki, tamper(message, 2), pssSig));
  }
});

test('mismatched key types, unknown schemes and malformed input are false, never thrown', (t) => {
  const ec = spkiOf('server-ec');
  const rsa = spkiOf('server-rsa');
  const ecSig = dgstSign('server-ec', 'sha256');
  t.false(verifySignature(S.rsa_pss_rsae_sha256, ec, message, ecSig));
  t.false(verifySignature(S.ed25519, ec, message, ecSig));
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, rsa, message, ecSig));
  t.false(verifySignature(S.ed448, ec, message, ecSig));
  t.false(verifySignature(0xffff, ec, message, ecSig));
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, new Uint8Array([1, 2, 3]), message, ecSig));
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, ec, message, new Uint8Array(0)));
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, ec, message, new Uint8Array([...ecSig, 0])));
  // r = 0, s = 1: out of range.
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, ec, message, new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01])));
  // Valid (r, s) but not DER: a non-minimal INTEGER (extra leading zero) and a long-form length.
  const { r, s } = p256.Signature.fromBytes(ecSig, 'der');
  const int = (v: bigint, pad: boolean): number[] => {
    const hex = v.toString(16);
    const minimal = (hex.length % 2 ? '0' + hex : hex).match(/../g)!.map((h) => parseInt(h, 16));
    const signed = minimal[0]! & 0x80 ? [0, ...minimal] : minimal;
    const body = pad ? [0, ...signed] : signed;
    return [0x02, body.length, ...body];
  };
  const seq = (body: number[], long: boolean): Uint8Array =>
    new Uint8Array(long ? [0x30, 0x81, body.length, ...body] : [0x30, body.length, ...body]);
  t.true(verifySignature(S.ecdsa_secp256r1_sha256, ec, message, seq([...int(r, false), ...int(s, false)], false)));
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, ec, message, seq([...int(r, true), ...int(s, false)], false)));
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, ec, message, seq([...int(r, false), ...int(s, false)], true)));
  // An RSA signature one byte short of the modulus length.
  t.false(verifySignature(S.rsa_pss_rsae_sha256, rsa, message, new Uint8Array(255)));
  // A truncated SPKI.
  t.false(verifySignature(S.ecdsa_secp256r1_sha256, ec.subarray(0, ec.length - 1), message, ecSig));
});
