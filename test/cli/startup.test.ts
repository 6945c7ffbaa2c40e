/**
 * `rxtls server` refuses to start with a bad identity: it prints `rxtls: <reason>` on stderr (one line, no stack
 * trace), exits 1 and never prints its `ACCEPT` line. Each case spawns the CLI (bundled, `test/helpers/bundle.ts`) under a deadline.
 */
import test from 'ava';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { certPath, cliServerPort, describeRun, runCli, startCliServer, tempDir } from '../helpers/peers.js';

// Generous: several CLI processes start at once here, on a machine that may be loaded by the rest of the suite.
const TIMEOUT_MS = 60_000;

/** Run `rxtls server` with these arguments and check it refused: exit 1, one `rxtls:` line, no listener. */
async function refused(t: import('ava').ExecutionContext, args: string[], reason: RegExp): Promise<void> {
  const r = await runCli(['server', '--port', '0', ...args], undefined, { timeoutMs: TIMEOUT_MS, owner: t });
  t.false(r.timedOut, describeRun('rxtls server', r));
  t.is(r.code, 1, describeRun('rxtls server', r));
  t.regex(r.stderr, reason);
  t.regex(r.stderr, /^rxtls: [^\n]*\n$/, 'exactly one line');
  t.notRegex(r.stderr, /^\s+at /m, 'no stack trace');
  t.notRegex(r.stderr, /ACCEPT/);
}

test('a key that does not match the certificate', async (t) => {
  t.timeout(TIMEOUT_MS + 5_000);
  const key = path.join(tempDir(t), 'other-key.pem');
  writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey);
  await refused(
    t,
    ['--cert', certPath('server-ec-chain.pem'), '--key', key],
    /^rxtls: the private key does not match the first certificate of the chain \(CN=localhost\): both are ecdsa-p256, but the key pairs differ$/m,
  );
});

test('a certificate file with no certificate in it', async (t) => {
  t.timeout(TIMEOUT_MS + 5_000);
  await refused(t, ['--cert', certPath('server-ec-key.pem'), '--key', certPath('server-ec-key.pem')], /^rxtls: no PEM CERTIFICATE block found$/m);
});

test('a missing certificate file and an unreadable key file are named with the OS error', async (t) => {
  t.timeout(TIMEOUT_MS + 5_000);
  const dir = tempDir(t);
  const missing = path.join(dir, 'nope.pem');
  await Promise.all([
    refused(t, ['--cert', missing, '--key', certPath('server-ec-key.pem')], new RegExp(`^rxtls: cannot read certificate file ${missing}: ENOENT`, 'm')),
    // A directory is unreadable as a file even for root (a chmod 000 file is not).
    refused(t, ['--cert', certPath('server-ec-chain.pem'), '--key', dir], new RegExp(`^rxtls: cannot read key file ${dir}: EISDIR`, 'm')),
  ]);
});

test('a matching key still starts', async (t) => {
  t.timeout(TIMEOUT_MS + 5_000);
  const server = await startCliServer(['server', '--port', '0', '--cert', certPath('server-ed-chain.pem'), '--key', certPath('server-ed-key.pem')], {
    timeoutMs: TIMEOUT_MS,
    owner: t,
  });
  t.true(cliServerPort(server) > 0);
  await server.kill();
});

test('--pfx with -passin starts; a wrong passphrase and legacy encryption are refused by name', async (t) => {
  t.timeout(3 * TIMEOUT_MS + 5_000);
  const server = await startCliServer(['server', '--port', '0', '--pfx', certPath('server-ec.p12'), '-passin', 'pass:secret'], { timeoutMs: TIMEOUT_MS, owner: t });
  t.true(cliServerPort(server) > 0);
  await server.kill();
  await refused(t, ['--pfx', certPath('server-ec.p12'), '--passphrase', 'pass:nope'], /^rxtls: pfx \(PKCS#12\): wrong passphrase \(the contents do not decrypt\)$/m);
  await refused(t, ['--pfx', certPath('server-ec-legacy.p12'), '--passphrase', 'pass:secret'], /^rxtls: pfx \(PKCS#12\): pbeWithSHAAnd3-KeyTripleDES-CBC encryption .*-legacy/m);
});

test('--key with an encrypted PKCS#8 key and --passphrase file:PATH starts; without --passphrase it is refused', async (t) => {
  t.timeout(2 * TIMEOUT_MS + 5_000);
  const dir = tempDir(t);
  const key = path.join(dir, 'enc-key.pem');
  const pw = path.join(dir, 'pw.txt');
  // The fixture key, encrypted by node:crypto (OpenSSL: PBES2, PBKDF2-HMAC-SHA-256, AES-256-CBC).
  writeFileSync(key, createPrivateKey(readFileSync(certPath('server-ec-key.pem'))).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }));
  writeFileSync(pw, 'pw\n');
  await refused(t, ['--cert', certPath('server-ec-chain.pem'), '--key', key], /^rxtls: the private key is encrypted: give its `passphrase`$/m);
  const server = await startCliServer(['server', '--port', '0', '--cert', certPath('server-ec-chain.pem'), '--key', key, '--passphrase', `file:${pw}`], {
    timeoutMs: TIMEOUT_MS,
    owner: t,
  });
  t.true(cliServerPort(server) > 0);
  await server.kill();
});
