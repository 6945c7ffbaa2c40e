/**
 * The CryptoProvider test suite, written as a function (as noble does) so the same known-answer tests run
 * against every implementation: `runProviderSuite(test, 'noble', nobleProvider)`.
 */
import { constants, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ExecutionContext, TestFn } from 'ava';
import { recordNonce } from '../../src/crypto/keySchedule.js';
import type { AeadAlg, CryptoProvider, GroupName, HashAlg } from '../../src/crypto/provider.js';
import { hmacCase2, shaAbc } from '../vectors/fips180.js';
import { gcmVectors } from '../vectors/gcm.js';
import { concatBytes, hex } from '../vectors/hex.js';
import { aeadVector } from '../vectors/rfc8439.js';
import * as rfc8448 from '../vectors/rfc8448.js';
import { hkdfSha256Case1 } from '../vectors/rfc5869.js';
import { p256Ecdh, p384Ecdh } from '../vectors/rfc5903.js';
import { x25519Dh, x25519Vectors } from '../vectors/rfc7748.js';

export interface ProviderSuiteOptions {
  /** Run the signature verification tests (they need node:crypto to sign with the fixture keys). */
  readonly verify?: boolean;
}

const flip = (b: Uint8Array, i: number, mask = 0x01): Uint8Array => {
  const c = b.slice();
  c[i] ^= mask;
  return c;
};

/** Split a complete TLS 1.3 record into its header (the AAD, RFC 8446 §5.2) and its encrypted body. */
/** One side of a Diffie-Hellman test vector. */
interface DhParty {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

const splitRecord = (record: Uint8Array) => ({ aad: record.subarray(0, 5), body: record.subarray(5) });

/** Run the provider known-answer suite against `provider`; test titles are prefixed with `name`. */
export function runProviderSuite(
  test: TestFn,
  name: string,
  provider: CryptoProvider,
  opts: ProviderSuiteOptions = {},
): void {
  const p = provider;
  const t_ = (title: string) => `${name}: ${title}`;
  /** A Diffie-Hellman exchange between `a` and `b`: each public key from its private key, one shared secret both ways. */
  const checkDh = (t: ExecutionContext, group: GroupName, a: DhParty, b: DhParty, shared: Uint8Array) => {
    t.deepEqual(p.keyPairFromPrivate(group, a.privateKey).publicKey, a.publicKey);
    t.deepEqual(p.keyPairFromPrivate(group, b.privateKey).publicKey, b.publicKey);
    t.deepEqual(p.sharedSecret(group, a.privateKey, b.publicKey), shared);
    t.deepEqual(p.sharedSecret(group, b.privateKey, a.publicKey), shared);
  };

  // ── Hashes ────────────────────────────────────────────────────────────────────────────────────────
  test(t_('FIPS 180-4: SHA-256 and SHA-384 of "abc"'), (t) => {
    t.deepEqual(p.hash('sha256', shaAbc.message), shaAbc.sha256);
    t.deepEqual(p.hash('sha384', shaAbc.message), shaAbc.sha384);
    t.is(p.hashLength('sha256'), 32);
    t.is(p.hashLength('sha384'), 48);
  });

  test(t_('RFC 8448 §3: transcript hashes through the incremental hasher'), (t) => {
    const m = rfc8448.messages;
    const h = p.hasher('sha256');
    h.update(m.clientHello).update(m.serverHello);
    t.deepEqual(h.digest(), rfc8448.schedule.helloHash);
    // digest() does not finish the hasher: the transcript keeps growing.
    h.update(m.encryptedExtensions).update(m.certificate).update(m.certificateVerify).update(m.serverFinished);
    t.deepEqual(h.digest(), rfc8448.schedule.serverFinishedHash);
    h.update(m.clientFinished);
    t.deepEqual(h.digest(), rfc8448.schedule.clientFinishedHash);
  });

  test(t_('hasher: clone forks the state; updates do not leak between copies'), (t) => {
    for (const alg of ['sha256', 'sha384'] as const) {
      const a = p.hasher(alg).update(shaAbc.message.subarray(0, 1));
      const b = a.clone();
      a.update(shaAbc.message.subarray(1));
      t.deepEqual(a.digest(), p.hash(alg, shaAbc.message));
      t.deepEqual(b.digest(), p.hash(alg, shaAbc.message.subarray(0, 1)));
      b.update(hex('ffff'));
      t.deepEqual(a.digest(), p.hash(alg, shaAbc.message));
      t.deepEqual(p.hasher(alg).digest(), p.hash(alg, new Uint8Array(0)));
    }
    t.deepEqual(p.hash('sha256', new Uint8Array(0)), rfc8448.schedule.emptyHash);
  });

  // ── HMAC / HKDF ───────────────────────────────────────────────────────────────────────────────────
  test(t_('RFC 4231 §4.3: HMAC-SHA-256 and HMAC-SHA-384 test case 2'), (t) => {
    t.deepEqual(p.hmac('sha256', hmacCase2.key, hmacCase2.data), hmacCase2.sha256);
    t.deepEqual(p.hmac('sha384', hmacCase2.key, hmacCase2.data), hmacCase2.sha384);
  });

  test(t_('RFC 5869 §A.1: HKDF-SHA256 extract and expand'), (t) => {
    const v = hkdfSha256Case1;
    const prk = p.hkdfExtract('sha256', v.salt, v.ikm);
    t.deepEqual(prk, v.prk);
    t.deepEqual(p.hkdfExpand('sha256', prk, v.info, v.length), v.okm);
    // Expand is a prefix function of its length.
    t.deepEqual(p.hkdfExpand('sha256', prk, v.info, 10), v.okm.subarray(0, 10));
  });

  test(t_('RFC 8448 §3: HKDF-Extract of the early and handshake secrets'), (t) => {
    const s = rfc8448.schedule;
    const zeros = new Uint8Array(32);
    t.deepEqual(p.hkdfExtract('sha256', zeros, zeros), s.earlySecret);
    // An empty salt is the same as HashLen zeros (RFC 5869 §2.2).
    t.deepEqual(p.hkdfExtract('sha256', new Uint8Array(0), zeros), s.earlySecret);
    t.deepEqual(p.hkdfExtract('sha256', s.derivedForHandshake, s.sharedSecret), s.handshakeSecret);
  });

  test(t_('RFC 8448 §3: HKDF-Expand with the printed info strings'), (t) => {
    const s = rfc8448.schedule;
    t.deepEqual(p.hkdfExpand('sha256', s.earlySecret, s.derivedForHandshakeInfo, 32), s.derivedForHandshake);
    t.deepEqual(p.hkdfExpand('sha256', s.handshakeSecret, s.clientHandshakeTrafficInfo, 32), s.clientHandshakeTraffic);
    t.deepEqual(p.hkdfExpand('sha256', s.serverHandshakeTraffic, s.keyInfo, 16), s.serverHandshakeKey);
    t.deepEqual(p.hkdfExpand('sha256', s.serverHandshakeTraffic, s.ivInfo, 12), s.serverHandshakeIv);
    t.deepEqual(p.hkdfExpand('sha256', s.serverHandshakeTraffic, s.finishedInfo, 32), s.serverFinishedKey);
  });

  test(t_('HKDF-Expand: lengths past 255 × HashLen are refused'), (t) => {
    const prk = new Uint8Array(32);
    t.is(p.hkdfExpand('sha256', prk, new Uint8Array(0), 255 * 32).length, 255 * 32);
    t.throws(() => p.hkdfExpand('sha256', prk, new Uint8Array(0), 255 * 32 + 1));
  });

  // ── AEAD ──────────────────────────────────────────────────────────────────────────────────────────
  test(t_('RFC 8439 §2.8.2: ChaCha20-Poly1305 seal'), (t) => {
    const v = aeadVector;
    const sealed = p.aead('chacha20-poly1305', v.key).seal(v.nonce, v.aad, v.plaintext);
    t.deepEqual(sealed, concatBytes(v.ciphertext, v.tag));
  });

  test(t_('RFC 8439 §2.8.2: ChaCha20-Poly1305 open, and tampering gives null'), (t) => {
    const v = aeadVector;
    const aead = p.aead('chacha20-poly1305', v.key);
    const sealed = concatBytes(v.ciphertext, v.tag);
    t.deepEqual(aead.open(v.nonce, v.aad, sealed), v.plaintext);
    t.is(aead.open(v.nonce, v.aad, flip(sealed, 0)), null, 'ciphertext bit');
    t.is(aead.open(v.nonce, v.aad, flip(sealed, sealed.length - 1, 0x80)), null, 'tag bit');
    t.is(aead.open(v.nonce, flip(v.aad, 0), sealed), null, 'aad bit');
    t.is(aead.open(flip(v.nonce, 11), v.aad, sealed), null, 'nonce bit');
    t.is(aead.open(v.nonce, v.aad, sealed.subarray(0, sealed.length - 1)), null, 'truncated');
    t.is(aead.open(v.nonce, v.aad, sealed.subarray(0, 15)), null, 'shorter than a tag');
  });

  for (const v of gcmVectors) {
    test(t_(`${v.name}: seal, open, and tampering gives null`), (t) => {
      const aead = p.aead(v.alg, v.key);
      t.is(aead.alg, v.alg);
      const sealed = aead.seal(v.iv, v.aad, v.plaintext);
      t.deepEqual(sealed, concatBytes(v.ciphertext, v.tag));
      t.deepEqual(aead.open(v.iv, v.aad, sealed), v.plaintext);
      t.is(aead.open(v.iv, v.aad, flip(sealed, 7)), null);
      t.is(aead.open(v.iv, flip(v.aad, 19), sealed), null);
      t.is(aead.open(v.iv, v.aad, new Uint8Array(0)), null);
    });
  }

  test(t_('RFC 8448 §3: AES-128-GCM client Finished record (client handshake key, seq 0)'), (t) => {
    const s = rfc8448.schedule;
    const { aad, body } = splitRecord(rfc8448.records.clientFinished);
    const aead = p.aead('aes-128-gcm', s.clientHandshakeKey);
    const inner = concatBytes(rfc8448.messages.clientFinished, Uint8Array.of(22)); // content type handshake
    t.deepEqual(aead.open(recordNonce(s.clientHandshakeIv, 0), aad, body), inner);
    t.deepEqual(aead.seal(recordNonce(s.clientHandshakeIv, 0), aad, inner), body);
    t.is(aead.open(recordNonce(s.clientHandshakeIv, 1), aad, body), null, 'wrong sequence number');
  });

  test(t_('RFC 8448 §3: AES-128-GCM application data records (client seq 0, server seq 1)'), (t) => {
    const s = rfc8448.schedule;
    const payload = Uint8Array.from({ length: 50 }, (_, i) => i);
    const inner = concatBytes(payload, Uint8Array.of(23)); // content type application_data
    const c = splitRecord(rfc8448.records.clientApplicationData);
    t.deepEqual(p.aead('aes-128-gcm', s.clientApplicationKey).open(recordNonce(s.clientApplicationIv, 0), c.aad, c.body), inner);
    const sv = splitRecord(rfc8448.records.serverApplicationData);
    const server = p.aead('aes-128-gcm', s.serverApplicationKey);
    t.deepEqual(server.open(recordNonce(s.serverApplicationIv, 1), sv.aad, sv.body), inner);
    t.deepEqual(server.seal(recordNonce(s.serverApplicationIv, 1), sv.aad, inner), sv.body);
  });

  test(t_('AEAD: the empty plaintext seals to a bare 16 B tag and opens to empty'), (t) => {
    for (const [alg, len] of [['aes-128-gcm', 16], ['aes-256-gcm', 32], ['chacha20-poly1305', 32]] as const) {
      const aead = p.aead(alg, new Uint8Array(len).fill(7));
      const nonce = new Uint8Array(12);
      const sealed = aead.seal(nonce, new Uint8Array(0), new Uint8Array(0));
      t.is(sealed.length, 16);
      t.deepEqual(aead.open(nonce, new Uint8Array(0), sealed), new Uint8Array(0));
    }
  });

  test(t_('AEAD: a wrong key or nonce length is API misuse and throws'), (t) => {
    const bad: [AeadAlg, number][] = [
      ['aes-128-gcm', 32],
      ['aes-256-gcm', 16],
      ['chacha20-poly1305', 16],
    ];
    for (const [alg, len] of bad) t.throws(() => p.aead(alg, new Uint8Array(len)), undefined, alg);
    const aead = p.aead('aes-128-gcm', new Uint8Array(16));
    t.throws(() => aead.seal(new Uint8Array(8), new Uint8Array(0), new Uint8Array(1)));
    t.throws(() => aead.open(new Uint8Array(16), new Uint8Array(0), new Uint8Array(32)));
  });

  test(t_('AEAD: opening unaligned views returns independent plaintexts (no shared scratch memory)'), (t) => {
    for (const [alg, len] of [['aes-128-gcm', 16], ['chacha20-poly1305', 32]] as const) {
      const aead = p.aead(alg, new Uint8Array(len).fill(4));
      const nonce = new Uint8Array(12);
      const aad = new Uint8Array(5);
      const plain = [1, 2, 3].map((v) => new Uint8Array(1000 + v).fill(v));
      const opened = plain.map((pt, i) => {
        const sealed = aead.seal(nonce, aad, pt);
        const backing = new Uint8Array(sealed.length + 3);
        backing.set(sealed, 1 + i); // offsets 1, 2, 3: never 4-byte aligned
        return aead.open(nonce, aad, backing.subarray(1 + i, 1 + i + sealed.length));
      });
      t.deepEqual(opened, plain, alg);
    }
  });

  test(t_('AEAD: the key is copied, so the caller may wipe its buffer'), (t) => {
    const key = new Uint8Array(16).fill(9);
    const aead = p.aead('aes-128-gcm', key);
    const nonce = new Uint8Array(12);
    const sealed = aead.seal(nonce, new Uint8Array(0), hex('01020304'));
    key.fill(0);
    t.deepEqual(aead.open(nonce, new Uint8Array(0), sealed), hex('01020304'));
  });

  test(t_('AEAD: sealInto writes exactly what seal returns, at any offset, and leaves the rest of the buffer alone'), (t) => {
    for (const [alg, len] of [['aes-128-gcm', 16], ['aes-256-gcm', 32], ['chacha20-poly1305', 32]] as const) {
      const aead = p.aead(alg, new Uint8Array(len).fill(3));
      t.is(typeof aead.sealInto, 'function', 'all three providers seal flights in place'); // optional in the interface
      for (const [contentLen, trailer] of [[0, Uint8Array.of(23)], [1000, Uint8Array.of(22, 0, 0, 0)], [16384, Uint8Array.of(23)]] as const) {
        const content = new Uint8Array(contentLen).map((_, i) => i * 7);
        const nonce = new Uint8Array(12).fill(contentLen & 0xff);
        const aad = Uint8Array.of(23, 3, 3, 1, 2);
        const expected = aead.seal(nonce, aad, concatBytes(content, trailer));
        const out = new Uint8Array(expected.length + 10).fill(0xee);
        aead.sealInto!(nonce, aad, content, trailer, out, 5);
        t.deepEqual(out.subarray(5, 5 + expected.length), expected, `${alg} ${contentLen}`);
        t.true(out.subarray(0, 5).every((b) => b === 0xee) && out.subarray(5 + expected.length).every((b) => b === 0xee));
        t.deepEqual(aead.open(nonce, aad, out.subarray(5, 5 + expected.length)), concatBytes(content, trailer));
      }
    }
  });

  // ── Key exchange ──────────────────────────────────────────────────────────────────────────────────
  test(t_('RFC 7748 §5.2: X25519 scalar multiplication vectors'), (t) => {
    for (const v of x25519Vectors) t.deepEqual(p.sharedSecret('x25519', v.scalar, v.u), v.output);
  });

  test(t_('RFC 7748 §6.1: X25519 Diffie-Hellman'), (t) => {
    const v = x25519Dh;
    checkDh(t, 'x25519', { privateKey: v.alicePrivate, publicKey: v.alicePublic }, { privateKey: v.bobPrivate, publicKey: v.bobPublic }, v.shared);
  });

  test(t_('RFC 8448 §3: X25519 shares and the handshake IKM'), (t) => {
    const k = rfc8448.keys;
    const client = p.keyPairFromPrivate('x25519', k.clientPrivate);
    t.is(client.group, 'x25519');
    t.deepEqual(client.privateKey, k.clientPrivate);
    const server = { privateKey: k.serverPrivate, publicKey: k.serverPublic };
    checkDh(t, 'x25519', { privateKey: k.clientPrivate, publicKey: k.clientPublic }, server, rfc8448.schedule.sharedSecret);
  });

  test(t_('RFC 7748 §6.1 / RFC 8446 §7.4.2: low-order X25519 shares (all-zero output) give null'), (t) => {
    const priv = x25519Dh.alicePrivate;
    const zero = new Uint8Array(32);
    const one = new Uint8Array(32);
    one[0] = 1;
    t.is(p.sharedSecret('x25519', priv, zero), null);
    t.is(p.sharedSecret('x25519', priv, one), null);
    t.is(p.sharedSecret('x25519', priv, new Uint8Array(31)), null, 'short share');
    t.is(p.sharedSecret('x25519', priv, new Uint8Array(33)), null, 'long share');
  });

  test(t_('RFC 5903 §8.1: P-256 ECDH (uncompressed points, x-coordinate secret)'), (t) => {
    const v = p256Ecdh;
    const initiator = { privateKey: v.initiatorPrivate, publicKey: v.initiatorPublic };
    checkDh(t, 'secp256r1', initiator, { privateKey: v.responderPrivate, publicKey: v.responderPublic }, v.shared);
  });

  test(t_('RFC 5903 §8.2: P-384 ECDH'), (t) => {
    const v = p384Ecdh;
    t.deepEqual(p.sharedSecret('secp384r1', v.initiatorPrivate, v.responderPublic), v.shared);
    const pub = p.keyPairFromPrivate('secp384r1', v.initiatorPrivate).publicKey;
    t.is(pub.length, 97);
    t.is(pub[0], 0x04);
  });

  test(t_('RFC 8446 §4.2.8.2: invalid NIST peer points give null'), (t) => {
    const cases: [GroupName, Uint8Array, Uint8Array][] = [
      ['secp256r1', p256Ecdh.initiatorPrivate, p256Ecdh.responderPublic],
      ['secp384r1', p384Ecdh.initiatorPrivate, p384Ecdh.responderPublic],
    ];
    for (const [group, priv, pub] of cases) {
      t.not(p.sharedSecret(group, priv, pub), null, `${group} valid point`);
      t.is(p.sharedSecret(group, priv, flip(pub, pub.length - 1)), null, `${group} off the curve`);
      t.is(p.sharedSecret(group, priv, flip(pub, 0, 0x06)), null, `${group} 0x02 prefix`);
      const size = (pub.length - 1) / 2;
      const compressed = concatBytes(Uint8Array.of(0x02 | (pub[pub.length - 1]! & 1)), pub.subarray(1, 1 + size));
      t.is(p.sharedSecret(group, priv, compressed), null, `${group} compressed`);
      t.is(p.sharedSecret(group, priv, pub.subarray(0, pub.length - 1)), null, `${group} truncated`);
      t.is(p.sharedSecret(group, priv, new Uint8Array(pub.length)), null, `${group} zeros`);
      const infinity = new Uint8Array(pub.length);
      infinity[0] = 0x04;
      t.is(p.sharedSecret(group, priv, infinity), null, `${group} (0, 0)`);
    }
  });

  test(t_('key pairs: generated shares have the wire sizes and agree'), (t) => {
    const sizes: [GroupName, number, number, number][] = [
      ['x25519', 32, 32, 32],
      ['secp256r1', 32, 65, 32],
      ['secp384r1', 48, 97, 48],
    ];
    for (const [group, privLen, pubLen, secretLen] of sizes) {
      const a = p.generateKeyPair(group);
      const b = p.generateKeyPair(group);
      t.is(a.group, group);
      t.is(a.privateKey.length, privLen, group);
      t.is(a.publicKey.length, pubLen, group);
      if (group !== 'x25519') t.is(a.publicKey[0], 0x04);
      t.notDeepEqual(a.privateKey, b.privateKey);
      t.deepEqual(p.keyPairFromPrivate(group, a.privateKey).publicKey, a.publicKey);
      const ab = p.sharedSecret(group, a.privateKey, b.publicKey);
      t.is(ab?.length, secretLen);
      t.deepEqual(ab, p.sharedSecret(group, b.privateKey, a.publicKey));
    }
  });

  test(t_('key pairs: an invalid own private key is API misuse and throws'), (t) => {
    t.throws(() => p.keyPairFromPrivate('x25519', new Uint8Array(31)));
    t.throws(() => p.keyPairFromPrivate('secp256r1', new Uint8Array(32)), undefined, 'zero scalar');
    t.throws(() => p.keyPairFromPrivate('secp256r1', new Uint8Array(32).fill(0xff)), undefined, 'scalar ≥ n');
    t.throws(() => p.keyPairFromPrivate('secp384r1', new Uint8Array(32).fill(1)), undefined, 'wrong length');
  });

  test(t_('randomBytes: the requested length, not constant'), (t) => {
    t.is(p.randomBytes(0).length, 0);
    t.is(p.randomBytes(70000).length, 70000);
    t.notDeepEqual(p.randomBytes(32), p.randomBytes(32));
  });

  if (opts.verify) registerVerifyTests(test, t_, p);
}

// ── Signatures ──────────────────────────────────────────────────────────────────────────────────────
const fixture = (file: string): string =>
  readFileSync(new URL(`../fixtures/certs/${file}`, import.meta.url), 'utf8');

const spkiOf = (key: KeyObject): Uint8Array =>
  new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));

/** Re-encode a DER ECDSA signature with s replaced by n − s (the "high S" twin, equally valid). */
function highS(der: Uint8Array, order: bigint): Uint8Array {
  const readInt = (off: number): [bigint, number] => {
    const len = der[off + 1]!;
    let v = 0n;
    for (const b of der.subarray(off + 2, off + 2 + len)) v = (v << 8n) | BigInt(b);
    return [v, off + 2 + len];
  };
  const seqHeader = der[1]! & 0x80 ? 3 : 2; // P-384 signatures may use a long-form length
  const [r, next] = readInt(seqHeader);
  const [s] = readInt(next);
  const encInt = (v: bigint): Uint8Array => {
    let h = v.toString(16);
    if (h.length % 2) h = '0' + h;
    if (parseInt(h.slice(0, 2), 16) & 0x80) h = '00' + h;
    const body = hex(h);
    return concatBytes(Uint8Array.of(0x02, body.length), body);
  };
  const body = concatBytes(encInt(r), encInt(order - s));
  return body.length < 128
    ? concatBytes(Uint8Array.of(0x30, body.length), body)
    : concatBytes(Uint8Array.of(0x30, 0x81, body.length), body);
}

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P384_N =
  0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;

function registerVerifyTests(test: TestFn, t_: (s: string) => string, p: CryptoProvider): void {
  const message = new TextEncoder().encode('TLS 1.3, server CertificateVerify\0' + 'x'.repeat(64));
  const ec = createPrivateKey(fixture('server-ec-key.pem'));
  const p384 = createPrivateKey(fixture('server-p384-key.pem'));
  const ed = createPrivateKey(fixture('server-ed-key.pem'));
  const rsa = createPrivateKey(fixture('server-rsa-key.pem'));

  type Case = { scheme: number; key: KeyObject; sig: () => Uint8Array; label: string };
  const pss = (hash: HashAlg | 'sha512') => () =>
    new Uint8Array(
      sign(hash, message, {
        key: rsa,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      }),
    );
  const pkcs1 = (hash: string) => () =>
    new Uint8Array(sign(hash, message, { key: rsa, padding: constants.RSA_PKCS1_PADDING }));
  const cases: Case[] = [
    { scheme: 0x0403, key: ec, label: 'ecdsa_secp256r1_sha256', sig: () => new Uint8Array(sign('sha256', message, ec)) },
    { scheme: 0x0503, key: p384, label: 'ecdsa_secp384r1_sha384', sig: () => new Uint8Array(sign('sha384', message, p384)) },
    { scheme: 0x0807, key: ed, label: 'ed25519', sig: () => new Uint8Array(sign(null, message, ed)) },
    { scheme: 0x0804, key: rsa, label: 'rsa_pss_rsae_sha256', sig: pss('sha256') },
    { scheme: 0x0805, key: rsa, label: 'rsa_pss_rsae_sha384', sig: pss('sha384') },
    { scheme: 0x0806, key: rsa, label: 'rsa_pss_rsae_sha512', sig: pss('sha512') },
    { scheme: 0x0401, key: rsa, label: 'rsa_pkcs1_sha256', sig: pkcs1('sha256') },
    { scheme: 0x0501, key: rsa, label: 'rsa_pkcs1_sha384', sig: pkcs1('sha384') },
    { scheme: 0x0601, key: rsa, label: 'rsa_pkcs1_sha512', sig: pkcs1('sha512') },
  ];

  for (const c of cases) {
    test(t_(`RFC 8446 §4.2.3: verify ${c.label} (0x${c.scheme.toString(16).padStart(4, '0')})`), (t) => {
      const spki = spkiOf(c.key);
      const sig = c.sig();
      t.true(p.verify(c.scheme, spki, message, sig), 'valid signature');
      t.false(p.verify(c.scheme, spki, flip(message, 3), sig), 'changed message');
      t.false(p.verify(c.scheme, spki, message, flip(sig, sig.length - 2)), 'changed signature');
      t.false(p.verify(c.scheme, spki, message, new Uint8Array(0)), 'empty signature');
      t.false(p.verify(c.scheme, spki.subarray(0, spki.length - 3), message, sig), 'truncated SPKI');
    });
  }

  test(t_('RFC 8446 §4.2.3: a scheme that does not match the key is rejected'), (t) => {
    const sigEc = new Uint8Array(sign('sha256', message, ec));
    t.false(p.verify(0x0503, spkiOf(ec), message, sigEc), 'P-256 key under ecdsa_secp384r1_sha384');
    t.false(p.verify(0x0804, spkiOf(ec), message, sigEc), 'EC key under rsa_pss_rsae_sha256');
    const sigPss = pss('sha256')();
    t.false(p.verify(0x0807, spkiOf(rsa), message, sigPss), 'RSA key under ed25519');
    t.false(p.verify(0x0401, spkiOf(rsa), message, sigPss), 'PSS signature under rsa_pkcs1_sha256');
    t.false(p.verify(0x0201, spkiOf(rsa), message, pkcs1('sha1')()), 'rsa_pkcs1_sha1 is not offered');
    t.false(p.verify(0xffff, spkiOf(ec), message, sigEc), 'unknown scheme');
    t.false(p.verify(0x0403, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), message, sigEc), 'garbage SPKI');
  });

  test(t_('RFC 8446 §4.2.3: RSA-PSS with a salt shorter than the digest is rejected'), (t) => {
    const sig = new Uint8Array(
      sign('sha256', message, { key: rsa, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 0 }),
    );
    t.false(p.verify(0x0804, spkiOf(rsa), message, sig));
  });

  test(t_('ECDSA: high-S signatures are accepted (OpenSSL produces them)'), (t) => {
    const s256 = new Uint8Array(sign('sha256', message, ec));
    t.true(p.verify(0x0403, spkiOf(ec), message, highS(s256, P256_N)));
    const s384 = new Uint8Array(sign('sha384', message, p384));
    t.true(p.verify(0x0503, spkiOf(p384), message, highS(s384, P384_N)));
  });
}
