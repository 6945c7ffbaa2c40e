/**
 * Startup checks of a server identity (`checkServerIdentity`): `listen`, `secure({ role: 'server' })` and
 * `quicListen` refuse an empty chain, unparsable PEM and a private key that does not belong to the first
 * certificate, before any socket exists; every supported key type still matches its own certificate.
 */
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { firstValueFrom, timeout } from 'rxjs';
import { secure } from '../../operators/secure.js';
import { TlsError } from '../../src/core/errors.js';
import { checkServerIdentity } from '../../src/crypto/identity.js';
import { loadCertificateChain, loadPrivateKey } from '../../src/crypto/keys.js';
import type { SigningKey } from '../../src/crypto/provider.js';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import { quicListen } from '../../src/rx/quic.js';
import { certText, rxClient, startListener } from '../helpers/peers.js';

/** Fixture name part → the key kind `loadPrivateKey` reports. */
const KINDS = { ec: 'ecdsa-p256', p384: 'ecdsa-p384', ed: 'ed25519', rsa: 'rsa' } as const;
type Fixture = keyof typeof KINDS;
const FIXTURES = Object.keys(KINDS) as Fixture[];

const chainOf = (k: Fixture) => certText(`server-${k}-chain.pem`);
const keyOf = (k: Fixture) => certText(`server-${k}-key.pem`);

/** A fresh PKCS#8 PEM private key of the same type as fixture `k`, so it matches no certificate. */
function otherKey(k: Fixture): string {
  const { privateKey } =
    k === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : k === 'p384'
        ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
        : k === 'ed'
          ? generateKeyPairSync('ed25519')
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

const MISMATCH = /^the private key does not match the first certificate of the chain \(CN=localhost\): /;

test('each supported key type matches its own certificate (no false refusal)', (t) => {
  for (const k of FIXTURES) {
    const key = loadPrivateKey(keyOf(k));
    t.is(key.kind, KINDS[k]);
    t.notThrows(() => checkServerIdentity(loadCertificateChain(chainOf(k)), key), k);
  }
  // Self-signed leaf and a CA certificate with their keys too.
  t.notThrows(() => checkServerIdentity(loadCertificateChain(certText('self-ec-cert.pem')), loadPrivateKey(certText('self-ec-key.pem'))));
  t.notThrows(() => checkServerIdentity(loadCertificateChain(certText('ca-cert.pem')), loadPrivateKey(certText('ca-key.pem'))));
});

test('a second key of the same type is refused, naming the certificate and the key type', (t) => {
  for (const k of FIXTURES) {
    const err = t.throws(() => checkServerIdentity(loadCertificateChain(chainOf(k)), loadPrivateKey(otherKey(k))), { instanceOf: TlsError }, k);
    t.is(err?.kind, 'apiMisuse');
    t.regex(err?.message ?? '', MISMATCH);
    t.true(err?.message.endsWith(`both are ${KINDS[k]}, but the key pairs differ`), err?.message);
  }
});

test('a key of another type is refused, naming both types', (t) => {
  const err = t.throws(() => checkServerIdentity(loadCertificateChain(chainOf('ec')), loadPrivateKey(keyOf('ed'))), { instanceOf: TlsError });
  t.regex(err?.message ?? '', MISMATCH);
  t.true(err?.message.endsWith("the key is ed25519, the certificate's is ecdsa-p256"), err?.message);
  const rsa = t.throws(() => checkServerIdentity(loadCertificateChain(chainOf('p384')), loadPrivateKey(keyOf('rsa'))), { instanceOf: TlsError });
  t.true(rsa?.message.endsWith("the key is rsa, the certificate's is ecdsa-p384"), rsa?.message);
  // The intermediate's key does not sign for the leaf either (order matters: the leaf is first).
  t.throws(() => checkServerIdentity(loadCertificateChain(chainOf('ec')), loadPrivateKey(certText('int-key.pem'))), { message: MISMATCH });
});

test('an empty chain, a malformed leaf and a key that cannot sign are refused', (t) => {
  const key = loadPrivateKey(keyOf('ec'));
  t.throws(() => checkServerIdentity([], key), { instanceOf: TlsError, message: /certificate chain is empty/ });
  t.throws(() => checkServerIdentity([new Uint8Array([0x30, 0x00])], key), { instanceOf: TlsError, message: /first certificate of the chain does not parse/ });
  const broken: SigningKey = {
    kind: 'ecdsa-p256',
    schemes: [0x0403],
    sign() {
      throw new Error('token removed');
    },
  };
  t.throws(() => checkServerIdentity(loadCertificateChain(chainOf('ec')), broken), { message: /cannot sign: token removed/ });
});

test('a (chain, key) pair already accepted is not signed for again', (t) => {
  const real = loadPrivateKey(keyOf('ec'));
  let signatures = 0;
  const key: SigningKey = {
    kind: real.kind,
    schemes: real.schemes,
    sign: (scheme, message) => {
      signatures++;
      return real.sign(scheme, message);
    },
  };
  const chain = loadCertificateChain(chainOf('ec'));
  checkServerIdentity(chain, key);
  checkServerIdentity(chain, key);
  t.is(signatures, 1);
  checkServerIdentity(loadCertificateChain(chainOf('ec')), key); // another chain object: checked again
  t.is(signatures, 2);
});

test('listen refuses a mismatched key, an empty chain and unparsable PEM before opening a socket', (t) => {
  let bound = false;
  const opts = { port: 0, onListening: () => (bound = true) };
  const err = t.throws(() => listen({ ...opts, cert: chainOf('ec'), key: otherKey('ec') }), { instanceOf: TlsError, message: MISMATCH });
  t.is(err?.kind, 'apiMisuse');
  t.throws(() => listen({ ...opts, cert: keyOf('ec'), key: keyOf('ec') }), { instanceOf: TlsError, message: /no PEM CERTIFICATE block found/ });
  t.throws(() => listen({ ...opts, cert: [], key: keyOf('ec') }), { instanceOf: TlsError, message: /empty certificate chain/ });
  t.throws(() => listen({ ...opts, cert: chainOf('ec'), key: 'not a key' }), { instanceOf: TlsError, message: /no PEM PRIVATE KEY/ });
  t.false(bound);
});

test('secure({ role: "server" }) refuses a mismatched key when the operator is made', (t) => {
  for (const k of ['ed', 'rsa'] as const) {
    const err = t.throws(() => secure({ role: 'server', cert: chainOf(k), key: otherKey(k) }), { instanceOf: TlsError, message: MISMATCH });
    t.is(err?.kind, 'apiMisuse');
  }
  t.throws(() => secure({ role: 'server', cert: '', key: keyOf('ec') }), { instanceOf: TlsError, message: /no PEM CERTIFICATE block found/ });
  t.notThrows(() => secure({ role: 'server', cert: chainOf('p384'), key: keyOf('p384') }));
});

test('quicListen rejects a mismatched key and an empty chain', async (t) => {
  const err = await t.throwsAsync(quicListen({ cert: chainOf('p384'), key: otherKey('p384'), alpn: ['echo'] }), { instanceOf: TlsError, message: MISMATCH });
  t.is(err?.kind, 'apiMisuse');
  await t.throwsAsync(quicListen({ cert: '', key: keyOf('ec'), alpn: ['echo'] }), { instanceOf: TlsError, message: /no PEM CERTIFICATE block found/ });
  const ok = await quicListen({ cert: chainOf('ed'), key: keyOf('ed'), alpn: ['echo'] });
  t.true(ok.port > 0);
  await ok.close();
});

test('listen with a matching key binds and completes a handshake', async (t) => {
  t.timeout(20_000);
  const server = await startListener({ cert: chainOf('rsa'), key: keyOf('rsa') }, t);
  const conn = await firstValueFrom(connect(rxClient(server.port)).pipe(timeout(10_000)));
  t.is(conn.info.verification, 'ok');
  conn.close();
});
