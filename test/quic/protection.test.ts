import test from 'ava';
import fc from 'fast-check';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import type { AeadAlg, CryptoProvider } from '../../src/crypto/provider.js';
import { createWorkerPoolProvider } from '../../src/node/workers.js';
import {
  INITIAL_SALT_V1,
  initialKeys,
  packetKeys,
  protectPacket,
  retryIntegrityTag,
  unprotectPacket,
  verifyRetry,
  type PacketKeys,
} from '../../src/quic/protection.js';
import { decodeFrames, encodeFrame } from '../../src/wire/quic/frames.js';
import { decodePacketHeader, encodeLongHeader } from '../../src/wire/quic/packet.js';
import { encodeWith } from '../../src/wire/writer.js';
import { concatBytes } from '../vectors/hex.js';
import * as v from '../vectors/rfc9001.js';

// The pool passes header protection (like every synchronous primitive) through to its base provider.
const pool = createWorkerPoolProvider({ base: nodeProvider, size: 1 });
test.after.always(() => pool.close());
const PROVIDERS: readonly CryptoProvider[] = [nobleProvider, nodeProvider, pool];

/** A.2: the client's CRYPTO frame followed by PADDING frames (zero bytes) up to the printed payload length. */
const clientPayload = () => {
  const payload = new Uint8Array(v.clientInitial.payloadLength);
  payload.set(v.clientInitial.cryptoFrame);
  return payload;
};

for (const p of PROVIDERS) {
  test(`${p.name}: RFC 9001 §A.1: Initial secrets and keys from the client's Destination Connection ID`, (t) => {
    const k = initialKeys(p, v.initialKeys.dcid);
    t.deepEqual(k.initialSecret, v.initialKeys.initialSecret);
    t.deepEqual(k.clientSecret, v.initialKeys.clientInitialSecret);
    t.deepEqual(k.serverSecret, v.initialKeys.serverInitialSecret);
    t.deepEqual(k.client, { alg: 'aes-128-gcm', key: v.initialKeys.clientKey, iv: v.initialKeys.clientIv, hp: v.initialKeys.clientHp });
    t.deepEqual(k.server, { alg: 'aes-128-gcm', key: v.initialKeys.serverKey, iv: v.initialKeys.serverIv, hp: v.initialKeys.serverHp });
  });

  test(`${p.name}: RFC 9001 §A.2: the client Initial, protected byte for byte and back`, (t) => {
    const keys = initialKeys(p, v.initialKeys.dcid).client;
    const c = v.clientInitial;
    t.deepEqual(p.headerProtection!('aes-128-gcm', keys.hp, c.sample), c.mask);
    const packet = protectPacket(p, keys, c.unprotectedHeader, c.packetNumber, clientPayload());
    t.is(packet.length, 1200);
    t.deepEqual(packet, c.packet);

    const h = decodePacketHeader(c.packet, 0, 0);
    if (h.form !== 'long') return t.fail('a long header');
    t.is(h.type, 'initial');
    t.deepEqual(h.dcid, v.initialKeys.dcid);
    t.is(h.scid.length, 0);
    t.is(h.token.length, 0);
    t.is(h.end, 1200);
    t.is(h.end - h.pnOffset, c.lengthField);
    const opened = unprotectPacket(p, keys, c.packet.subarray(0, h.end), h.pnOffset, -1);
    t.truthy(opened);
    t.is(opened!.packetNumber, c.packetNumber);
    t.deepEqual(opened!.header, c.unprotectedHeader);
    t.deepEqual(opened!.payload, clientPayload());
  });

  test(`${p.name}: RFC 9001 §A.3: the server Initial, protected byte for byte and back`, (t) => {
    const keys = initialKeys(p, v.initialKeys.dcid).server;
    const s = v.serverInitial;
    t.deepEqual(p.headerProtection!('aes-128-gcm', keys.hp, s.sample), s.mask);
    t.deepEqual(protectPacket(p, keys, s.unprotectedHeader, s.packetNumber, s.payload), s.packet);
    const h = decodePacketHeader(s.packet, 0, 0);
    if (h.form !== 'long') return t.fail('a long header');
    t.deepEqual(h.scid, s.unprotectedHeader.subarray(7, 15));
    const opened = unprotectPacket(p, keys, s.packet.subarray(0, h.end), h.pnOffset, -1);
    t.is(opened?.packetNumber, s.packetNumber);
    t.deepEqual(opened?.payload, s.payload);
  });

  test(`${p.name}: RFC 9001 §A.4: the Retry Integrity Tag`, (t) => {
    const r = v.retry;
    const body = r.packet.subarray(0, r.packet.length - 16);
    t.deepEqual(retryIntegrityTag(p, r.odcid, body), r.tag);
    t.true(verifyRetry(p, r.odcid, r.packet));
    t.false(verifyRetry(p, r.odcid.subarray(1), r.packet), 'another original DCID');
    const bad = r.packet.slice();
    bad[10]! ^= 1;
    t.false(verifyRetry(p, r.odcid, bad), 'a changed bit');
    const h = decodePacketHeader(r.packet, 0, 0);
    if (h.form !== 'long') return t.fail('a long header');
    t.is(h.type, 'retry');
    t.deepEqual(new TextDecoder().decode(h.token), 'token');
  });

  test(`${p.name}: RFC 9001 §A.5: ChaCha20-Poly1305 short header (packet number 654360564)`, (t) => {
    const c = v.chachaShortHeader;
    const keys = packetKeys(p, 'sha256', 'chacha20-poly1305', c.secret);
    t.deepEqual(keys, { alg: 'chacha20-poly1305', key: c.key, iv: c.iv, hp: c.hp });
    t.deepEqual(p.headerProtection!('chacha20-poly1305', keys.hp, c.sample), c.mask);
    t.deepEqual(protectPacket(p, keys, c.unprotectedHeader, c.packetNumber, c.payload), c.packet);
    const h = decodePacketHeader(c.packet, 0, 0);
    t.is(h.form, 'short');
    if (h.form !== 'short') return;
    // The receiver has seen packets up to just below this one: the 3-byte truncation decodes to the full number.
    const opened = unprotectPacket(p, keys, c.packet, h.pnOffset, c.packetNumber - 1);
    t.is(opened?.packetNumber, c.packetNumber);
    t.deepEqual(opened?.header, c.unprotectedHeader);
    t.deepEqual(opened?.payload, c.payload);
  });
}

const aeadCase = fc.constantFrom<[AeadAlg, number]>(['aes-128-gcm', 16], ['aes-256-gcm', 32], ['chacha20-poly1305', 32]);
const keysArb = aeadCase.chain(([alg, len]) =>
  fc.record({
    alg: fc.constant(alg),
    key: fc.uint8Array({ minLength: len, maxLength: len }),
    iv: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    hp: fc.uint8Array({ minLength: len, maxLength: len }),
  }),
);

/** A short header: first byte 0x40 | pn length bits, a DCID, the packet number's low bytes. */
function shortHeader(dcid: Uint8Array, pn: number, pnLength: number, bits: number): Uint8Array {
  const h = new Uint8Array(1 + dcid.length + pnLength);
  h[0] = 0x40 | (bits & 0x1c) | (pnLength - 1);
  h.set(dcid, 1);
  for (let i = 0; i < pnLength; i++) h[h.length - 1 - i] = Math.floor(pn / 256 ** i) & 0xff;
  return h;
}

test('protect then unprotect gives the packet back, with both providers agreeing byte for byte (property)', (t) => {
  fc.assert(
    fc.property(
      keysArb,
      fc.uint8Array({ maxLength: 20 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 31 }),
      fc.uint8Array({ minLength: 4, maxLength: 300 }),
      (keys: PacketKeys, dcid, pn, pnLength, bits, payload) => {
        const header = shortHeader(dcid, pn, pnLength, bits);
        const a = protectPacket(nobleProvider, keys, header, pn, payload);
        t.deepEqual(protectPacket(nodeProvider, keys, header, pn, payload), a);
        // The receiver's largest packet number is just below this one: any truncation length recovers it.
        const opened = unprotectPacket(nodeProvider, keys, a, 1 + dcid.length, pn - 1);
        t.deepEqual(opened, { packetNumber: pn, header, payload });
      },
    ),
    { numRuns: 150 },
  );
});

test('hostile input: any changed bit, truncation or wrong key makes unprotect return null, never throw (property)', (t) => {
  const keys = initialKeys(nobleProvider, v.initialKeys.dcid).server;
  const packet = v.serverInitial.packet;
  const pnOffset = 18;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: packet.length * 8 - 1 }), fc.integer({ min: 0, max: packet.length - 1 }), (bit, cut) => {
      const flipped = packet.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      // Every bit is covered: the unprotected header is the AAD, the packet number feeds the nonce, and the
      // ciphertext carries the tag (and the sample for header protection).
      t.is(unprotectPacket(nobleProvider, keys, flipped, pnOffset, -1), null, `bit ${bit}`);
      t.is(unprotectPacket(nobleProvider, keys, packet.subarray(0, cut), pnOffset, -1), null, `cut at ${cut}`);
    }),
    { numRuns: 200 },
  );
  const client = initialKeys(nobleProvider, v.initialKeys.dcid).client;
  t.is(unprotectPacket(nobleProvider, client, packet, pnOffset, -1), null, 'the other direction\'s keys');
});

test('protectPacket: a payload too short to sample, or a provider without header protection, is API misuse', (t) => {
  const keys = initialKeys(nobleProvider, new Uint8Array(8)).client;
  const header = shortHeader(new Uint8Array(0), 1, 1, 0);
  t.throws(() => protectPacket(nobleProvider, keys, header, 1, new Uint8Array(2)), { instanceOf: RangeError, message: /pad it to at least 3 B/ });
  t.notThrows(() => protectPacket(nobleProvider, keys, header, 1, new Uint8Array(3)));
  t.throws(() => protectPacket(nobleProvider, keys, header, 2, new Uint8Array(8)), { instanceOf: RangeError, message: /not the low 1 B of packet number 2/ });
  const bare: CryptoProvider = { ...nobleProvider, name: 'bare', headerProtection: undefined };
  t.throws(() => protectPacket(bare, keys, header, 1, new Uint8Array(8)), { instanceOf: TypeError, message: /header protection/ });
  t.throws(() => nobleProvider.headerProtection!('aes-128-gcm', new Uint8Array(32), new Uint8Array(16)), { instanceOf: RangeError });
  t.throws(() => nodeProvider.headerProtection!('chacha20-poly1305', new Uint8Array(32), new Uint8Array(15)), { instanceOf: RangeError });
});

test('retry: a tag over the wrong original DCID or a too-short packet does not verify', (t) => {
  t.false(verifyRetry(nobleProvider, v.retry.odcid, v.retry.packet.subarray(0, 10)));
  t.false(verifyRetry(nobleProvider, new Uint8Array(21), v.retry.packet));
  t.deepEqual(concatBytes(v.retry.packet.subarray(0, v.retry.packet.length - 16), v.retry.tag), v.retry.packet);
});

test('RFC 9001 §A.2 end to end: header from its fields, CRYPTO and PADDING frames, protection — the RFC\'s 1200 bytes', (t) => {
  const c = v.clientInitial;
  const crypto = decodeFrames(c.cryptoFrame, 'initial')[0]!;
  const payload = encodeWith((w) => {
    encodeFrame(w, crypto);
    encodeFrame(w, { type: 'padding', length: c.payloadLength - c.cryptoFrame.length });
  });
  const header = encodeLongHeader({ type: 'initial', dcid: v.initialKeys.dcid, scid: new Uint8Array(0), token: new Uint8Array(0), packetNumber: c.packetNumber, pnLength: 4, payloadLength: payload.length });
  t.deepEqual(protectPacket(nobleProvider, initialKeys(nobleProvider, v.initialKeys.dcid).client, header, c.packetNumber, payload), c.packet);
});

test('RFC 9001 §5.2, §A.1: the v1 salt, and the HkdfLabel bytes the key derivation expands with', (t) => {
  t.deepEqual(INITIAL_SALT_V1, v.initialKeys.initialSalt);
  const infos: string[] = [];
  const recording: CryptoProvider = {
    ...nobleProvider,
    hkdfExpand: (alg, prk, info, length) => {
      infos.push(Buffer.from(info).toString('hex'));
      return nobleProvider.hkdfExpand(alg, prk, info, length);
    },
  };
  initialKeys(recording, v.initialKeys.dcid);
  const l = v.initialKeys.hkdfLabels;
  const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
  // client in, server in, then key/iv/hp for each direction.
  t.deepEqual(infos, [l.clientIn, l.serverIn, l.quicKey, l.quicIv, l.quicHp, l.quicKey, l.quicIv, l.quicHp].map(hexOf));
});
