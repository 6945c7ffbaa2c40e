import test from 'ava';
import { createNobleProvider, nobleProvider } from '../../src/crypto/noble.js';
import { p256Ecdh } from '../vectors/rfc5903.js';
import * as rfc8448 from '../vectors/rfc8448.js';
import { runProviderSuite } from './providerSuite.js';

runProviderSuite(test, 'noble', nobleProvider, { verify: true });

/** A randomness source that replays fixed bytes, then fails loudly. */
function replay(...chunks: Uint8Array[]): (n: number) => Uint8Array {
  const queue = [...chunks];
  return (n) => {
    const next = queue.shift();
    if (!next || next.length !== n) throw new Error(`unexpected randomBytes(${n})`);
    return next;
  };
}

test('noble: RFC 8448 §3: injected randomness gives the RFC client key share', (t) => {
  const p = createNobleProvider({ randomBytes: replay(rfc8448.keys.clientPrivate) });
  const kp = p.generateKeyPair('x25519');
  t.deepEqual(kp.privateKey, rfc8448.keys.clientPrivate);
  t.deepEqual(kp.publicKey, rfc8448.keys.clientPublic);
});

test('noble: P-256 private keys come from randomBytes, out-of-range draws are rejected', (t) => {
  const tooBig = new Uint8Array(32).fill(0xff); // ≥ n: drawn again
  const p = createNobleProvider({ randomBytes: replay(tooBig, p256Ecdh.initiatorPrivate) });
  const kp = p.generateKeyPair('secp256r1');
  t.deepEqual(kp.privateKey, p256Ecdh.initiatorPrivate);
  t.deepEqual(kp.publicKey, p256Ecdh.initiatorPublic);
});

test('noble: randomBytes of the wrong length from the injected source is refused', (t) => {
  const p = createNobleProvider({ randomBytes: (n) => new Uint8Array(n + 1) });
  t.throws(() => p.randomBytes(4), { instanceOf: RangeError });
});

test('noble: the injected source also backs provider.randomBytes', (t) => {
  const p = createNobleProvider({ randomBytes: (n) => new Uint8Array(n).fill(0xab) });
  t.deepEqual(p.randomBytes(3), Uint8Array.of(0xab, 0xab, 0xab));
  t.is(p.name, 'noble');
});
