/** Option mapping of the RxJS layer: node:tls-style options → the core configuration. */
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import { toClientConfig } from '../../src/rx/options.js';


test('keyShareCount reaches the client configuration (key shares in the first ClientHello), checked 1..4', (t) => {
  const config = toClientConfig({ rejectUnauthorized: false, groups: 'X25519MLKEM768:X25519', keyShareCount: 2 }, 'localhost');
  t.is(config.keyShareCount, 2);
  t.deepEqual(config.groups, ['x25519mlkem768', 'x25519']);
  t.is(toClientConfig({ rejectUnauthorized: false }, 'localhost').keyShareCount, undefined, 'default: the core\'s (one share)');
  for (const bad of [0, 5, 1.5]) {
    t.throws(() => toClientConfig({ rejectUnauthorized: false, keyShareCount: bad }, 'localhost'), { instanceOf: TlsError, message: /keyShareCount/ });
  }
});

test('minVersion / maxVersion (node:tls names) and a mixed TLS 1.3 / TLS 1.2 cipher list reach the core', (t) => {
  const config = toClientConfig(
    { rejectUnauthorized: false, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', requireExtendedMasterSecret: false },
    'localhost',
  );
  t.is(config.minVersion, 'TLSv1.2');
  t.is(config.maxVersion, 'TLSv1.2');
  t.false(config.requireExtendedMasterSecret);
  t.deepEqual(config.cipherSuites, ['TLS_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256']);
  for (const bad of [{ minVersion: 'TLSv1.1' }, { maxVersion: 'SSLv3' }, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }, { requireExtendedMasterSecret: 'yes' }]) {
    t.throws(() => toClientConfig({ rejectUnauthorized: false, ...(bad as object) }, 'localhost'), { instanceOf: TlsError });
  }
  t.throws(() => toClientConfig({ rejectUnauthorized: false, ciphers: 'AES128-SHA' }, 'localhost'), { instanceOf: TlsError, message: /unknown cipher suite/ });
});
