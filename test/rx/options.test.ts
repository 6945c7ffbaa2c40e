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
