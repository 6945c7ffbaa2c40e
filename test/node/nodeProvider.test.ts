import test from 'ava';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import { runProviderSuite } from '../crypto/providerSuite.js';

runProviderSuite(test, 'node', nodeProvider, { verify: true });

test('node: outputs are standalone Uint8Arrays, not Buffer views into a shared pool', (t) => {
  const h = nodeProvider.hash('sha256', new Uint8Array(3));
  t.is(Object.getPrototypeOf(h), Uint8Array.prototype);
  t.is(h.buffer.byteLength, 32);
  const sealed = nodeProvider.aead('aes-128-gcm', new Uint8Array(16)).seal(new Uint8Array(12), new Uint8Array(0), new Uint8Array(5));
  t.is(Object.getPrototypeOf(sealed), Uint8Array.prototype);
  t.is(sealed.buffer.byteLength, 21);
  t.is(nodeProvider.name, 'node');
});
