/**
 * Certificate policy in the handshake, in memory: optional client certificates (node:tls `requestCert` /
 * `rejectUnauthorized` semantics) and the RSA key size of a peer's CertificateVerify (OpenSSL security level 2).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCertificateChain, loadPrivateKey } from '../../src/crypto/keys.js';
import { insecureVerifier } from '../../src/crypto/x509.js';
import { toServerConfig } from '../../src/rx/options.js';
import { handshakeInfo } from '../../src/tls/connection.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';
import { Pair, caVerifier, fixture, serverCredentials } from '../helpers/pair.js';

/** A client certificate the test CA did not issue (self-signed). */
const untrustedClient = serverCredentials('self-ec');

test('requested, not required: a client certificate that does not verify is reported, not fatal', (t) => {
  const pair = new Pair(untrustedClient, { requestClientCertificate: true, verifier: caVerifier() }).start().drive();
  const info = handshakeInfo(pair.server);
  t.truthy(info, pair.closedError('server')?.message);
  t.is(info!.verification, 'failed');
  t.is(info!.verificationError?.code, 'unknown_ca');
  t.regex(info!.verificationError?.reason ?? '', /no trusted issuer/);
  t.is(info!.peerSubject, 'CN=localhost');
  t.is(info!.peerCertificates.length, 1);
  t.truthy(handshakeInfo(pair.client));
});

test('requested and required: the same certificate fails the handshake with unknown_ca', (t) => {
  const pair = new Pair(untrustedClient, { requestClientCertificate: true, requireClientCertificate: true, verifier: caVerifier() })
    .start()
    .drive();
  const err = pair.closedError('server');
  t.is(err?.kind, 'certificate');
  t.is(err?.alert, AlertDescription.unknown_ca);
});

test('requested, not required: no certificate is verification none; a valid one is ok', (t) => {
  const none = new Pair({}, { requestClientCertificate: true, verifier: caVerifier() }).start().drive();
  t.is(handshakeInfo(none.server)?.verification, 'none');
  t.is(handshakeInfo(none.server)?.verificationError, undefined);
  const ok = new Pair(serverCredentials('client'), { requestClientCertificate: true, verifier: caVerifier() }).start().drive();
  t.is(handshakeInfo(ok.server)?.verification, 'ok');
});

test('requested, not required: a CertificateVerify that does not fit the certificate is still fatal', (t) => {
  // The client presents the untrusted certificate with another key: verification is optional, possession is not.
  const pair = new Pair(
    { certificateChain: untrustedClient.certificateChain, privateKey: loadPrivateKey(fixture('client-key.pem')) },
    { requestClientCertificate: true, verifier: caVerifier() },
  )
    .start()
    .drive();
  t.is(pair.closedError('server')?.alert, AlertDescription.decrypt_error);
});

test('toServerConfig: requestCert with rejectUnauthorized false verifies against ca but does not require', (t) => {
  const base = { cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), ca: fixture('ca-cert.pem'), requestCert: true };
  const lax = toServerConfig({ ...base, rejectUnauthorized: false });
  t.true(lax.requestClientCertificate);
  t.false(lax.requireClientCertificate);
  t.not(lax.verifier, insecureVerifier);
  const strict = toServerConfig(base);
  t.true(strict.requireClientCertificate);
  // Through the mapped configuration, an untrusted certificate is reported.
  const pair = new Pair(untrustedClient, lax).start().drive();
  t.is(handshakeInfo(pair.server)?.verification, 'failed');
});

// ---- RSA key size of the CertificateVerify (1024-bit server key made by openssl here) ----

const tmp = mkdtempSync(join(tmpdir(), 'rxtls-policy-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

function rsa1024Server() {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', join(tmp, 'k.pem'), '-out', join(tmp, 'c.pem'), '-days', '3650', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'pipe' });
  return { certificateChain: loadCertificateChain(readFileSync(join(tmp, 'c.pem'), 'utf8')), privateKey: loadPrivateKey(readFileSync(join(tmp, 'k.pem'), 'utf8')) };
}

test('a 1024-bit RSA server key fails the CertificateVerify check (weak_key, insufficient_security) even with the insecure verifier', (t) => {
  const server = rsa1024Server();
  const pair = new Pair({ verifier: insecureVerifier }, server);
  pair.now = Date.now() + 60_000;
  pair.start().drive();
  const err = pair.closedError('client');
  t.is(err?.kind, 'certificate');
  t.is(err?.alert, AlertDescription.insufficient_security);
  if (err?.detail.kind === 'certificate') t.is(err.detail.code, 'weak_key');
  const allowed = new Pair({ verifier: insecureVerifier, minRsaBits: 1024 }, server);
  allowed.now = Date.now() + 60_000;
  allowed.start().drive();
  t.truthy(handshakeInfo(allowed.client), allowed.closedError('client')?.message);
});
