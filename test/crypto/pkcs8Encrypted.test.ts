/**
 * Encrypted PKCS#8 keys (`passphrase`): keys encrypted by OpenSSL 3 (`pkcs8 -topk8 -v2 …`, `genpkey -aes256`)
 * decrypt portably to the same key (checked by `toServerConfig`, which refuses a key that does not match the
 * certificate); a wrong or missing passphrase and unsupported schemes are refused by name.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import { toServerConfig } from '../../src/rx/options.js';
import { TlsError } from '../../src/core/errors.js';
import { certPath, certText, requirePeer, tempDir } from '../helpers/peers.js';

/** `openssl pkcs8 -topk8` of a fixture key with these extra arguments, as PEM (or DER with `-outform DER`). */
function encrypt(t: import('ava').ExecutionContext, kind: 'ec' | 'rsa' | 'ed', args: readonly string[]): Buffer {
  const out = path.join(tempDir(t), 'key.enc');
  execFileSync(requirePeer('openssl'), ['pkcs8', '-topk8', '-in', certPath(`server-${kind}-key.pem`), '-out', out, '-passout', 'pass:s3cret', ...args]);
  return readFileSync(out);
}

for (const [kind, args] of [
  ['ec', ['-v2', 'aes-256-cbc']],
  ['ec', ['-v2', 'aes-128-cbc', '-v2prf', 'hmacWithSHA1']],
  ['rsa', ['-v2', 'aes-192-cbc', '-v2prf', 'hmacWithSHA512', '-iter', '1000']],
  ['ed', ['-v2', 'aes-256-cbc']],
] as const) {
  test(`openssl pkcs8 -topk8 ${args.join(' ')} (${kind}): decrypts to the certificate's key, PEM and DER`, (t) => {
    const cert = certText(`server-${kind}-chain.pem`);
    const pem = encrypt(t, kind, args).toString('utf8');
    t.regex(pem, /-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    t.notThrows(() => toServerConfig({ cert, key: pem, passphrase: 's3cret' }));
    const der = new Uint8Array(encrypt(t, kind, [...args, '-outform', 'DER']));
    t.notThrows(() => toServerConfig({ cert, key: der, passphrase: 's3cret' }));
  });
}

test('openssl genpkey -aes256 (OpenSSL 3 default PBES2 parameters) decrypts', (t) => {
  const out = path.join(tempDir(t), 'k.pem');
  execFileSync(requirePeer('openssl'), ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', 'pass:pw', '-out', out]);
  t.is(loadPrivateKey(readFileSync(out, 'utf8'), 'pw').kind, 'ecdsa-p256');
});

test('a wrong or missing passphrase, and PBES1, are refused by name', (t) => {
  const pem = encrypt(t, 'ec', ['-v2', 'aes-256-cbc']).toString('utf8');
  t.throws(() => loadPrivateKey(pem), { instanceOf: TlsError, message: /the private key is encrypted: give its `passphrase`/ });
  t.throws(() => loadPrivateKey(pem, 'wrong'), { instanceOf: TlsError, message: /wrong passphrase/ });
  const legacy = encrypt(t, 'ec', ['-v1', 'PBE-SHA1-3DES']).toString('utf8');
  t.throws(() => loadPrivateKey(legacy, 's3cret'), { instanceOf: TlsError, message: /scheme 1\.2\.840\.113549\.1\.12\.1\.3 is not supported \(only PBES2/ });
});
