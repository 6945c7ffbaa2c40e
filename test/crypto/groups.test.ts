/**
 * Key exchange groups P-521, X448 (RFC 7748 §6.2) and the hybrid X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem
 * §3.1) in the noble and node:crypto providers: published vectors, agreement between providers, and invalid
 * peer shares (null → illegal_parameter in the handshake).
 */
import test from 'ava';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { createNobleProvider, nobleProvider } from '../../src/crypto/noble.js';
import { X25519MLKEM768_SIZES as S } from '../../src/crypto/mlkem.js';
import { serverKeyExchange, type CryptoProvider } from '../../src/crypto/provider.js';
import { groupDisplayName, groupFromCode, parseGroups } from '../../src/handshake/config.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import { NamedGroup } from '../../src/wire/tls/constants.js';
import { concatBytes } from '../vectors/hex.js';
import { mlkem768Wycheproof } from '../vectors/mlkem768.js';
import { x25519Dh, x448Dh } from '../vectors/rfc7748.js';

const PROVIDERS: readonly CryptoProvider[] = [nobleProvider, nodeProvider];

test('OpenSSL group names and code points: P-521/secp521r1, X448, X25519MLKEM768', (t) => {
  t.deepEqual(parseGroups('P-521:secp521r1:X448:x25519mlkem768:X25519'), ['secp521r1', 'x448', 'x25519mlkem768', 'x25519']);
  t.is(groupFromCode(0x0019), 'secp521r1');
  t.is(groupFromCode(0x001e), 'x448');
  t.is(groupFromCode(0x11ec), 'x25519mlkem768');
  t.is(NamedGroup.x25519mlkem768, 0x11ec);
  t.deepEqual(['secp521r1', 'x448', 'x25519mlkem768'].map((g) => groupDisplayName(g as never)), ['P-521', 'X448', 'X25519MLKEM768']);
});

for (const p of PROVIDERS) {
  test(`${p.name}: X448 RFC 7748 §6.2 example`, (t) => {
    const a = p.keyPairFromPrivate('x448', x448Dh.alicePrivate);
    t.deepEqual(a.publicKey, x448Dh.alicePublic);
    t.deepEqual(p.keyPairFromPrivate('x448', x448Dh.bobPrivate).publicKey, x448Dh.bobPublic);
    t.deepEqual(p.sharedSecret('x448', x448Dh.alicePrivate, x448Dh.bobPublic), x448Dh.shared);
    t.deepEqual(p.sharedSecret('x448', x448Dh.bobPrivate, x448Dh.alicePublic), x448Dh.shared);
  });

  test(`${p.name}: X448 rejects low-order shares (all-zero output, RFC 7748 §6.2) and wrong lengths`, (t) => {
    const priv = p.generateKeyPair('x448').privateKey;
    t.is(priv.length, 56);
    const one = new Uint8Array(56);
    one[0] = 1;
    t.is(p.sharedSecret('x448', priv, new Uint8Array(56)), null); // u = 0
    t.is(p.sharedSecret('x448', priv, one), null); // u = 1
    t.is(p.sharedSecret('x448', priv, x448Dh.bobPublic.subarray(1)), null);
    t.is(p.sharedSecret('x448', priv, concatBytes(x448Dh.bobPublic, Uint8Array.of(0))), null);
  });

  test(`${p.name}: P-521 shares are 133 B uncompressed points, secrets the 66 B x-coordinate`, (t) => {
    const a = p.generateKeyPair('secp521r1');
    const b = p.generateKeyPair('secp521r1');
    t.is(a.privateKey.length, 66);
    t.is(a.publicKey.length, 133);
    t.is(a.publicKey[0], 0x04);
    const z = p.sharedSecret('secp521r1', a.privateKey, b.publicKey);
    t.is(z?.length, 66);
    t.deepEqual(z, p.sharedSecret('secp521r1', b.privateKey, a.publicKey));
  });

  test(`${p.name}: P-521 invalid shares: compressed, wrong length, off the curve (RFC 8446 §4.2.8.2)`, (t) => {
    const a = p.generateKeyPair('secp521r1');
    const b = p.generateKeyPair('secp521r1').publicKey;
    const compressed = concatBytes(Uint8Array.of(2 + (b[132]! & 1)), b.subarray(1, 67));
    t.is(p.sharedSecret('secp521r1', a.privateKey, compressed), null);
    t.is(p.sharedSecret('secp521r1', a.privateKey, b.subarray(0, 132)), null);
    const off = b.slice();
    off[132] ^= 1;
    t.is(p.sharedSecret('secp521r1', a.privateKey, off), null);
    t.is(p.sharedSecret('secp521r1', a.privateKey, new Uint8Array(133).fill(0xff)), null);
  });

  test(`${p.name}: X25519MLKEM768 from the Wycheproof ML-KEM-768 vector and RFC 7748 §6.1 (draft §3.1 order)`, (t) => {
    // Client private key in seed form: d ‖ z (Wycheproof) ‖ Alice's X25519 key (RFC 7748 §6.1).
    const kp = p.keyPairFromPrivate('x25519mlkem768', concatBytes(mlkem768Wycheproof.seed, x25519Dh.alicePrivate));
    // Client share: encapsulation key first, then X25519 (1216 B).
    t.deepEqual(kp.publicKey, concatBytes(mlkem768Wycheproof.ek, x25519Dh.alicePublic));
    t.is(kp.privateKey.length, S.privateKey);
    // Server share: ciphertext first, then X25519 (1120 B); shared secret: ML-KEM secret first (64 B).
    const serverShare = concatBytes(mlkem768Wycheproof.c, x25519Dh.bobPublic);
    const expected = concatBytes(mlkem768Wycheproof.K, x25519Dh.shared);
    t.deepEqual(p.sharedSecret('x25519mlkem768', kp.privateKey, serverShare), expected);
    // The expanded private key round-trips through keyPairFromPrivate.
    const again = p.keyPairFromPrivate('x25519mlkem768', kp.privateKey);
    t.deepEqual(again.publicKey, kp.publicKey);
    t.deepEqual(p.sharedSecret('x25519mlkem768', again.privateKey, serverShare), expected);
  });

  test(`${p.name}: X25519MLKEM768 invalid shares: lengths, the FIPS 203 §7.2 modulus check, X25519 all-zero`, (t) => {
    const client = p.generateKeyPair('x25519mlkem768');
    t.is(client.publicKey.length, S.clientShare);
    // Server side (encapsulation).
    t.is(p.encapsulate!('x25519mlkem768', client.publicKey.subarray(0, S.clientShare - 1)), null);
    t.is(p.encapsulate!('x25519mlkem768', concatBytes(client.publicKey, Uint8Array.of(0))), null);
    // The first 12-bit coefficient of t̂ set to 4095 ≥ q = 3329: ByteEncode12(ByteDecode12(ek)) ≠ ek.
    const overflow = client.publicKey.slice();
    overflow[0] = 0xff;
    overflow[1]! |= 0x0f;
    t.is(p.encapsulate!('x25519mlkem768', overflow), null);
    const zeroX = client.publicKey.slice();
    zeroX.fill(0, S.encapsulationKey);
    t.is(p.encapsulate!('x25519mlkem768', zeroX), null);
    // Client side (decapsulation).
    const ok = p.encapsulate!('x25519mlkem768', client.publicKey)!;
    t.is(ok.share.length, S.serverShare);
    t.is(ok.shared.length, S.shared);
    t.deepEqual(p.sharedSecret('x25519mlkem768', client.privateKey, ok.share), ok.shared);
    t.is(p.sharedSecret('x25519mlkem768', client.privateKey, ok.share.subarray(1)), null);
    const serverZeroX = ok.share.slice();
    serverZeroX.fill(0, S.ciphertext);
    t.is(p.sharedSecret('x25519mlkem768', client.privateKey, serverZeroX), null);
    // A tampered ciphertext decapsulates (implicit rejection) to another secret: the handshake fails at Finished.
    const tampered = ok.share.slice();
    tampered[0] ^= 1;
    t.notDeepEqual(p.sharedSecret('x25519mlkem768', client.privateKey, tampered), ok.shared);
  });

  test(`${p.name}: encapsulate is for KEM groups only; serverKeyExchange takes DH groups the usual way`, (t) => {
    t.throws(() => p.encapsulate!('x25519', new Uint8Array(32)), { instanceOf: RangeError });
    const c = p.generateKeyPair('x448');
    const kx = serverKeyExchange(p, 'x448', c.publicKey)!;
    t.deepEqual(p.sharedSecret('x448', c.privateKey, kx.share), kx.shared);
    t.is(serverKeyExchange(p, 'x448', new Uint8Array(56)), null);
  });
}

test('noble ↔ node:crypto agree: P-521, X448 and X25519MLKEM768 both ways', (t) => {
  for (const [a, b] of [
    [nobleProvider, nodeProvider],
    [nodeProvider, nobleProvider],
  ] as const) {
    for (const g of ['secp521r1', 'x448'] as const) {
      const ka = a.generateKeyPair(g);
      const kb = b.generateKeyPair(g);
      t.deepEqual(a.sharedSecret(g, ka.privateKey, kb.publicKey), b.sharedSecret(g, kb.privateKey, ka.publicKey));
      t.deepEqual(b.keyPairFromPrivate(g, ka.privateKey).publicKey, ka.publicKey);
    }
    const client = a.generateKeyPair('x25519mlkem768');
    const server = b.encapsulate!('x25519mlkem768', client.publicKey)!;
    t.deepEqual(a.sharedSecret('x25519mlkem768', client.privateKey, server.share), server.shared);
  }
});

test('X25519MLKEM768 draws its randomness from the provider: ML-KEM seed, X25519 key; then m, X25519 key', (t) => {
  const stream = (start: number) => {
    let i = start;
    return (n: number) => Uint8Array.from({ length: n }, () => i++ & 0xff);
  };
  const client = createNobleProvider({ randomBytes: stream(0) }).generateKeyPair('x25519mlkem768');
  const ek = ml_kem768.keygen(Uint8Array.from({ length: 64 }, (_, i) => i)).publicKey;
  t.deepEqual(client.publicKey.subarray(0, S.encapsulationKey), ek);
  const m = Uint8Array.from({ length: 32 }, (_, i) => (100 + i) & 0xff);
  const server = createNobleProvider({ randomBytes: stream(100) }).encapsulate!('x25519mlkem768', client.publicKey)!;
  t.deepEqual(server.share.subarray(0, S.ciphertext), ml_kem768.encapsulate(ek, m).cipherText);
  t.deepEqual(server.shared.subarray(0, 32), ml_kem768.encapsulate(ek, m).sharedSecret);
});
