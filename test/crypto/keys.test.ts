/**
 * PEM parsing, certificate chain loading and private keys: every fixture key signs every scheme it offers, and
 * the signatures verify both with verifySignature and with `openssl dgst -verify` / `openssl pkeyutl -verify`.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { constants, createPrivateKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TlsError } from '../../src/core/errors.js';
import { loadCertificateChain, loadPrivateKey, parsePem } from '../../src/crypto/keys.js';
import { verifySignature } from '../../src/crypto/signatures.js';
import { certificateSpki } from '../../src/crypto/x509.js';
import { SignatureScheme as S } from '../../src/wire/tls/constants.js';

const certs = fileURLToPath(new URL('../fixtures/certs/', import.meta.url));
const read = (file: string): string => readFileSync(join(certs, file), 'utf8');
const tmp = mkdtempSync(join(tmpdir(), 'rxtls-keys-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

/** DER of a PEM certificate file, as openssl writes it. */
const opensslDer = (file: string): Uint8Array =>
  new Uint8Array(execFileSync('openssl', ['x509', '-in', join(certs, file), '-outform', 'DER']));

const message = new TextEncoder().encode('rxtls keys test: sign me');

const isMisuse = (t: import('ava').ExecutionContext, fn: () => unknown): void => {
  const err = t.throws(fn, { instanceOf: TlsError });
  t.is(err?.kind, 'apiMisuse');
};

test('parsePem returns every block with its label and the DER openssl writes', (t) => {
  const blocks = parsePem(`leading text\n${read('server-ec-chain.pem')}\ntrailing text`);
  t.deepEqual(
    blocks.map((b) => b.label),
    ['CERTIFICATE', 'CERTIFICATE'],
  );
  t.deepEqual(blocks[0]!.der, opensslDer('server-ec-cert.pem'));
  t.deepEqual(blocks[1]!.der, opensslDer('int-cert.pem'));
  t.deepEqual(
    parsePem(read('server-ec-key.pem')).map((b) => b.label),
    ['PRIVATE KEY'],
  );
  t.deepEqual(parsePem('no pem here'), []);
});

test('parsePem rejects mismatched labels, bad base64 and encrypted PEM headers', (t) => {
  isMisuse(t, () => parsePem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----'));
  isMisuse(t, () => parsePem('-----BEGIN CERTIFICATE-----\nA$AA\n-----END CERTIFICATE-----'));
  isMisuse(t, () => parsePem('-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----'));
  isMisuse(t, () =>
    parsePem('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----'),
  );
});

test('loadCertificateChain: PEM text, PEM bytes, DER, concatenated DER and lists keep the order', (t) => {
  const leaf = opensslDer('server-ec-cert.pem');
  const int = opensslDer('int-cert.pem');
  t.deepEqual(loadCertificateChain(read('server-ec-chain.pem')), [leaf, int]);
  t.deepEqual(loadCertificateChain(new TextEncoder().encode(read('server-ec-chain.pem'))), [leaf, int]);
  t.deepEqual(loadCertificateChain(leaf), [leaf]);
  t.deepEqual(loadCertificateChain(new Uint8Array([...leaf, ...int])), [leaf, int]);
  t.deepEqual(loadCertificateChain([read('server-ec-cert.pem'), int, read('ca-cert.pem')]), [
    leaf,
    int,
    opensslDer('ca-cert.pem'),
  ]);
});

test('loadCertificateChain rejects input without certificates', (t) => {
  isMisuse(t, () => loadCertificateChain(read('server-ec-key.pem')));
  isMisuse(t, () => loadCertificateChain('hello'));
  isMisuse(t, () => loadCertificateChain([]));
  isMisuse(t, () => loadCertificateChain(new Uint8Array([0x30, 0x82, 0x01])));
});

const fixtureKeys = [
  { name: 'server-ec', kind: 'ecdsa-p256', schemes: [S.ecdsa_secp256r1_sha256] },
  { name: 'server-p384', kind: 'ecdsa-p384', schemes: [S.ecdsa_secp384r1_sha384] },
  { name: 'server-ed', kind: 'ed25519', schemes: [S.ed25519] },
  {
    name: 'server-rsa',
    kind: 'rsa',
    schemes: [S.rsa_pss_rsae_sha256, S.rsa_pss_rsae_sha384, S.rsa_pss_rsae_sha512, S.rsa_pkcs1_sha256, S.rsa_pkcs1_sha384, S.rsa_pkcs1_sha512],
  },
] as const;

/** Verify with OpenSSL, using the public key of the certificate. */
function opensslVerifies(name: string, scheme: number, sig: Uint8Array): boolean {
  const base = join(tmp, `${name}-${scheme}`);
  writeFileSync(`${base}.msg`, message);
  writeFileSync(`${base}.sig`, sig);
  execFileSync('openssl', ['x509', '-in', join(certs, `${name}-cert.pem`), '-pubkey', '-noout', '-out', `${base}.pub`]);
  const hash = { 0x0403: 'sha256', 0x0503: 'sha384', 0x0804: 'sha256', 0x0805: 'sha384', 0x0806: 'sha512', 0x0401: 'sha256', 0x0501: 'sha384', 0x0601: 'sha512' }[scheme];
  const pss = name === 'server-rsa' && scheme >= 0x0804;
  const args =
    scheme === S.ed25519
      ? ['pkeyutl', '-verify', '-pubin', '-inkey', `${base}.pub`, '-rawin', '-in', `${base}.msg`, '-sigfile', `${base}.sig`]
      : [
          'dgst',
          `-${hash}`,
          '-verify',
          `${base}.pub`,
          ...(pss
            ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest', '-sigopt', `rsa_mgf1_md:${hash}`]
            : []),
          '-signature',
          `${base}.sig`,
          `${base}.msg`,
        ];
  try {
    execFileSync('openssl', args, { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

for (const { name, kind, schemes } of fixtureKeys) {
  test(`${name}: loadPrivateKey (PKCS#8) signs every scheme; verifySignature and openssl accept`, (t) => {
    const key = loadPrivateKey(read(`${name}-key.pem`));
    t.is(key.kind, kind);
    t.deepEqual([...key.schemes], [...schemes]);
    const spki = certificateSpki(loadCertificateChain(read(`${name}-cert.pem`))[0]!);
    for (const scheme of schemes) {
      const sig = key.sign(scheme, message);
      t.true(verifySignature(scheme, spki, message, sig), `verifySignature 0x${scheme.toString(16)}`);
      t.true(opensslVerifies(name, scheme, sig), `openssl verify 0x${scheme.toString(16)}`);
      const bad = sig.slice();
      bad[bad.length >> 1] ^= 0x40;
      t.false(verifySignature(scheme, spki, message, bad));
      t.false(opensslVerifies(name, scheme, bad), 'openssl rejects the tampered signature');
    }
  });
}

test('ECDSA signing is deterministic (RFC 6979) and DER-encoded', (t) => {
  const key = loadPrivateKey(read('server-ec-key.pem'));
  const a = key.sign(S.ecdsa_secp256r1_sha256, message);
  const b = key.sign(S.ecdsa_secp256r1_sha256, message);
  t.deepEqual(a, b);
  t.is(a[0], 0x30);
  t.is(a[1], a.length - 2);
});

test('SEC1 (EC PRIVATE KEY) and PKCS#1 (RSA PRIVATE KEY), PEM and DER, load and sign', (t) => {
  const ecNode = createPrivateKey(read('server-ec-key.pem'));
  const rsaNode = createPrivateKey(read('server-rsa-key.pem'));
  const ecSpki = certificateSpki(loadCertificateChain(read('server-ec-cert.pem'))[0]!);
  const rsaSpki = certificateSpki(loadCertificateChain(read('server-rsa-cert.pem'))[0]!);
  const sec1Pem = ecNode.export({ type: 'sec1', format: 'pem' }) as string;
  t.true(sec1Pem.startsWith('-----BEGIN EC PRIVATE KEY-----'));
  const pkcs1Pem = rsaNode.export({ type: 'pkcs1', format: 'pem' }) as string;
  t.true(pkcs1Pem.startsWith('-----BEGIN RSA PRIVATE KEY-----'));
  const inputs: [string | Uint8Array, 'ecdsa-p256' | 'rsa'][] = [
    [sec1Pem, 'ecdsa-p256'],
    [new Uint8Array(ecNode.export({ type: 'sec1', format: 'der' })), 'ecdsa-p256'],
    [new Uint8Array(ecNode.export({ type: 'pkcs8', format: 'der' })), 'ecdsa-p256'],
    [pkcs1Pem, 'rsa'],
    [new Uint8Array(rsaNode.export({ type: 'pkcs1', format: 'der' })), 'rsa'],
    [new TextEncoder().encode(pkcs1Pem), 'rsa'],
  ];
  for (const [input, kind] of inputs) {
    const key = loadPrivateKey(input);
    t.is(key.kind, kind);
    const scheme = key.schemes[0]!;
    t.true(verifySignature(scheme, kind === 'rsa' ? rsaSpki : ecSpki, message, key.sign(scheme, message)));
  }
});

test('unsupported keys, encrypted keys and garbage are API misuse', (t) => {
  const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  isMisuse(t, () => loadPrivateKey(k256 as string));
  const x25519 = generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
  isMisuse(t, () => loadPrivateKey(x25519 as string));
  const x448 = generateKeyPairSync('x448').privateKey.export({ type: 'pkcs8', format: 'der' });
  isMisuse(t, () => loadPrivateKey(new Uint8Array(x448)));
  const encrypted = createPrivateKey(read('server-ec-key.pem')).export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'secret',
  });
  isMisuse(t, () => loadPrivateKey(encrypted as string));
  isMisuse(t, () => loadPrivateKey(read('server-ec-cert.pem')));
  isMisuse(t, () => loadPrivateKey(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])));
});

test('signing with a scheme the key does not offer is API misuse', (t) => {
  const ec = loadPrivateKey(read('server-ec-key.pem'));
  isMisuse(t, () => ec.sign(S.ecdsa_secp384r1_sha384, message));
  const rsa = loadPrivateKey(read('server-rsa-key.pem'));
  isMisuse(t, () => rsa.sign(S.rsa_pss_pss_sha256, message)); // an rsaEncryption key has no RSASSA-PSS-key scheme
  const ed = loadPrivateKey(read('server-ed-key.pem'));
  isMisuse(t, () => ed.sign(S.ecdsa_secp256r1_sha256, message));
});

test('RSA-PSS signing in pure JS (BigInt CRT): node:crypto verifies for 2048- and 3072-bit keys; a corrupted key is refused', (t) => {
  for (const bits of [2048, 3072]) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    const key = loadPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    t.is(key.kind, 'rsa');
    for (const [scheme, hash] of [
      [S.rsa_pss_rsae_sha256, 'sha256'],
      [S.rsa_pss_rsae_sha384, 'sha384'],
      [S.rsa_pss_rsae_sha512, 'sha512'],
    ] as const) {
      const sig = key.sign(scheme, message);
      t.is(sig.length, bits / 8);
      const ok = nodeVerify(hash, message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
      t.true(ok, `${bits} ${hash}`);
    }
  }
  // PKCS#1 RSAPrivateKey with one prime altered: p·q ≠ n.
  const der = new Uint8Array(createPrivateKey(read('server-rsa-key.pem')).export({ type: 'pkcs1', format: 'der' }));
  const bad = der.slice();
  bad[bad.length - 200] ^= 0x01;
  isMisuse(t, () => loadPrivateKey(bad));
});
