/**
 * DTLS 1.3 wire codecs (RFC 9147 §4, §4.2.2, §4.2.3, §5.2, §7). RFC 9147 prints no byte vectors for these
 * structures, so the byte-exact examples below are ours, built by hand from the field layouts the RFC gives
 * (each comment says which); the properties check round trips and that hostile input only ever raises
 * DecodeError.
 */
import test from 'ava';
import fc from 'fast-check';
import { createCipheriv, createHmac } from 'node:crypto';
import { nobleProvider } from '../../src/crypto/noble.js';
import type { AeadAlg, CryptoProvider, HashAlg } from '../../src/crypto/provider.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import { decodeAck, encodeAck, type RecordNumber } from '../../src/wire/dtls/ack.js';
import {
  decodeDtlsHandshakeFragment,
  decodeDtlsHandshakeFragments,
  encodeDtlsHandshakeFragment,
  fragmentMessage,
  toTranscriptForm,
  type DtlsHandshakeFragment,
} from '../../src/wire/dtls/handshake.js';
import {
  decodeDtlsCiphertext,
  decodeDtlsPlaintext,
  decodeDtlsRecord,
  encodeDtlsCiphertext,
  encodeDtlsPlaintext,
  encodeUnifiedHeader,
  reconstructEpoch,
  reconstructSequenceNumber,
  type DtlsCiphertext,
  type DtlsPlaintext,
} from '../../src/wire/dtls/record.js';
import { protectRecordNumber, recordNumberKey, unprotectRecordNumber } from '../../src/wire/dtls/recordNumberProtection.js';
import { DecodeError, Reader } from '../../src/wire/reader.js';
import { encodeWith } from '../../src/wire/writer.js';
import { hex, toHex } from '../vectors/hex.js';

const onlyDecodeErrors = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (e) {
    return e instanceof DecodeError;
  }
};

const decodeCiphertextAt = (bytes: Uint8Array): DtlsCiphertext => {
  const rec = decodeDtlsCiphertext(new Reader(bytes));
  if (rec.kind !== 'ciphertext') throw new Error('expected a ciphertext record');
  return rec;
};

// ---------------------------------------------------------------------------------------------------------
// DTLSPlaintext (RFC 9147 §4)

test('RFC 9147 §4: DTLSPlaintext, hand-built from the struct layout', (t) => {
  // type=handshake(22) | legacy_record_version=fe fd | epoch=0000 | sequence_number=010203040506 | length=0002 | aa bb
  const rec: DtlsPlaintext = { type: 22, epoch: 0, sequenceNumber: 0x010203040506, fragment: hex('aabb') };
  const bytes = encodeWith((w) => encodeDtlsPlaintext(w, rec));
  t.is(toHex(bytes), '16fefd0000010203040506' + '0002aabb');
  const r = new Reader(bytes);
  t.deepEqual(decodeDtlsPlaintext(r), { ...rec, version: 0xfefd });
  t.is(r.remaining, 0);
});

test('RFC 9147 §4: DTLSPlaintext over 2^14 bytes is a record_overflow DecodeError (drop); 2^14 is fine', (t) => {
  const over = hex('16fefd0000000000000000' + '4001');
  const e = t.throws(() => decodeDtlsPlaintext(new Reader(over)), { instanceOf: DecodeError });
  t.is(e?.alert, 22);
  const max = encodeWith((w) => encodeDtlsPlaintext(w, { type: 23, epoch: 0, sequenceNumber: 1, fragment: new Uint8Array(2 ** 14) }));
  t.is(decodeDtlsPlaintext(new Reader(max)).fragment.length, 2 ** 14);
  t.throws(() => encodeWith((w) => encodeDtlsPlaintext(w, { type: 23, epoch: 0, sequenceNumber: 1, fragment: new Uint8Array(2 ** 14 + 1) })), { instanceOf: RangeError });
  t.throws(() => encodeWith((w) => encodeDtlsPlaintext(w, { type: 23, epoch: 0, sequenceNumber: 2 ** 48, fragment: new Uint8Array(1) })), { instanceOf: RangeError });
});

const plaintextArb: fc.Arbitrary<DtlsPlaintext> = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  epoch: fc.integer({ min: 0, max: 0xffff }),
  sequenceNumber: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  fragment: fc.uint8Array({ maxLength: 300 }),
});

test('property: DTLSPlaintext round trip, several per datagram', (t) => {
  fc.assert(
    fc.property(fc.array(plaintextArb, { minLength: 1, maxLength: 4 }), (recs) => {
      const bytes = encodeWith((w) => recs.forEach((rec) => encodeDtlsPlaintext(w, rec)));
      const r = new Reader(bytes);
      const back = recs.map(() => decodeDtlsPlaintext(r));
      t.is(r.remaining, 0);
      t.deepEqual(back, recs.map((rec) => ({ ...rec, version: 0xfefd })));
    }),
  );
});

// ---------------------------------------------------------------------------------------------------------
// Unified header (RFC 9147 §4, Figure 3)

test('RFC 9147 §4 Figure 3: unified header with a 16-bit sequence number and length', (t) => {
  // 001CSLEE = 001 0 1 1 11 = 0x2f (epoch 3), sequence 12 34, length 00 28
  const h = encodeWith((w) => encodeUnifiedHeader(w, { epoch: 3, sequenceNumber: 0x051234, sequenceNumberLength: 2, length: 40 }));
  t.is(toHex(h), '2f12340028');
  // 001 0 0 1 10 = 0x26 (epoch 6 → EE = 2), sequence ff (low byte of 0x1ff), length 00 10
  const h8 = encodeWith((w) => encodeUnifiedHeader(w, { epoch: 6n, sequenceNumber: 0x1ff, sequenceNumberLength: 1, length: 16 }));
  t.is(toHex(h8), '26ff0010');
});

test('RFC 9147 §4: DTLSCiphertext decode, with length (records follow) and without (runs to the end)', (t) => {
  const body1 = new Uint8Array(20).fill(0xc1);
  const body2 = new Uint8Array(17).fill(0xc2);
  const rec1 = encodeWith((w) => encodeDtlsCiphertext(w, { epoch: 2, sequenceNumber: 7, sequenceNumberLength: 1, encryptedRecord: body1 }));
  t.is(toHex(rec1.subarray(0, 4)), '26070014');
  // Second record without L: 001 0 1 0 11 = 0x2b, sequence 00 09, then the ciphertext to the datagram's end.
  const datagram = new Uint8Array([...rec1, 0x2b, 0x00, 0x09, ...body2]);
  const r = new Reader(datagram);
  const a = decodeDtlsRecord(r);
  const b = decodeDtlsRecord(r);
  t.is(r.remaining, 0);
  if (a.kind !== 'ciphertext' || b.kind !== 'ciphertext') return t.fail();
  t.is(toHex(a.header), '26070014');
  t.deepEqual(a.encryptedRecord, body1);
  t.is(a.epochBits, 2);
  t.is(a.sequenceNumberLength, 1);
  t.true(a.lengthPresent);
  t.is(toHex(b.header), '2b0009');
  t.deepEqual(b.encryptedRecord, body2);
  t.is(b.epochBits, 3);
  t.is(b.sequenceNumberLength, 2);
  t.false(b.lengthPresent);
  t.is(b.sequenceNumberOffset, 1);
});

test('RFC 9147 §4: a unified header with C set is reported (no CID negotiated: drop the rest)', (t) => {
  // 001 1 0 1 00 = 0x34
  t.deepEqual(decodeDtlsRecord(new Reader(hex('34aabbccdd'))), { kind: 'connectionId' });
});

test('RFC 9147 §4.1: demultiplexing by first byte; other types keep the 13-byte header, so they are skipped one by one', (t) => {
  t.is(decodeDtlsRecord(new Reader(hex('15fefd00000000000000000002' + '0232'))).kind, 'plaintext');
  t.is(decodeDtlsRecord(new Reader(hex('1afefd00000000000000000002' + '0000'))).kind, 'plaintext');
  // application_data (23) with the 13-byte header is how DTLS 1.2 sends it (RFC 6347 §4.1).
  t.is(decodeDtlsRecord(new Reader(hex('17fefd00010000000000010002' + 'aabb'))).kind, 'plaintext');
  // Unknown types (and tls12_cid, 0x19, whose connection ID is ours: empty) decode with their length, so the
  // caller drops that record and reads the next (RFC 6347 §4.1.2.7); a header cut short is a DecodeError.
  for (const first of [0x00, 0x19, 0x40, 0xff]) {
    const r = new Reader(Uint8Array.of(first, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7, 0, 2, 0xaa, 0xbb, 0x17));
    const rec = decodeDtlsRecord(r);
    t.like(rec, { kind: 'plaintext', type: first, epoch: 1, sequenceNumber: 7 });
    t.is(r.remaining, 1);
    t.throws(() => decodeDtlsRecord(new Reader(Uint8Array.of(first, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))), { instanceOf: DecodeError });
  }
  // Under an epoch above 0 a DTLS 1.2 protected record may reach 2^14 + 2048 bytes (RFC 5246 §6.2.3); at epoch 0
  // the bound is 2^14.
  const header = (epoch: number, length: number) => Uint8Array.of(23, 0xfe, 0xfd, 0, epoch, 0, 0, 0, 0, 0, 1, length >> 8, length & 0xff);
  const withBody = (epoch: number, length: number) => Buffer.concat([header(epoch, length), new Uint8Array(length)]);
  t.is(decodeDtlsRecord(new Reader(withBody(1, 2 ** 14 + 2048))).kind, 'plaintext');
  t.is(t.throws(() => decodeDtlsRecord(new Reader(withBody(1, 2 ** 14 + 2049))), { instanceOf: DecodeError })?.alert, 22);
  t.is(t.throws(() => decodeDtlsRecord(new Reader(withBody(0, 2 ** 14 + 1))), { instanceOf: DecodeError })?.alert, 22);
  // A length beyond 2^14 + 256 is record_overflow; a length past the datagram is truncation.
  t.is(t.throws(() => decodeDtlsRecord(new Reader(hex('2c00004101'))), { instanceOf: DecodeError })?.alert, 22);
  t.throws(() => decodeDtlsRecord(new Reader(hex('2c000005aabb'))), { instanceOf: DecodeError });
});

test('property: DTLSCiphertext round trip (8- and 16-bit sequence numbers)', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(fc.nat({ max: 2 ** 40 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      fc.nat({ max: 2 ** 48 - 1 }),
      fc.constantFrom(1 as const, 2 as const),
      fc.uint8Array({ maxLength: 200 }),
      (epoch, sequenceNumber, sequenceNumberLength, encryptedRecord) => {
        const bytes = encodeWith((w) => encodeDtlsCiphertext(w, { epoch, sequenceNumber, sequenceNumberLength, encryptedRecord }));
        const r = new Reader(bytes);
        const rec = decodeDtlsRecord(r);
        t.is(r.remaining, 0);
        if (rec.kind !== 'ciphertext') return false;
        const low = sequenceNumberLength === 2 ? (rec.header[1]! << 8) | rec.header[2]! : rec.header[1]!;
        return (
          rec.epochBits === Number(BigInt(epoch) & 3n) &&
          rec.sequenceNumberLength === sequenceNumberLength &&
          low === sequenceNumber % 2 ** (8 * sequenceNumberLength) &&
          rec.header.length === 3 + sequenceNumberLength &&
          toHex(rec.encryptedRecord) === toHex(encryptedRecord)
        );
      },
    ),
  );
});

test('property: random datagrams only ever give DecodeError (records, fragments, ACKs)', (t) => {
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 120 }),
    // Biased towards plausible first bytes so the decoders get past the first check.
    fc.tuple(fc.constantFrom(0x16, 0x15, 0x1a, 0x14, 0x26, 0x2f, 0x2b, 0x23, 0x34), fc.uint8Array({ maxLength: 60 })).map(([f, b]) => Uint8Array.of(f, ...b)),
  );
  t.notThrows(() =>
    fc.assert(
    fc.property(datagram, (b) => {
      const r = new Reader(b);
      const records = onlyDecodeErrors(() => {
        while (r.remaining > 0) if (decodeDtlsRecord(r).kind === 'connectionId') break;
      });
      return (
        records &&
        onlyDecodeErrors(() => decodeDtlsHandshakeFragments(b)) &&
        onlyDecodeErrors(() => decodeAck(b)) &&
        onlyDecodeErrors(() => decodeDtlsPlaintext(new Reader(b))) &&
        onlyDecodeErrors(() => decodeDtlsCiphertext(new Reader(b)))
      );
    }),
    { numRuns: 2000 },
  ));
});

// ---------------------------------------------------------------------------------------------------------
// Record number reconstruction (RFC 9147 §4.2.2)

test('RFC 9147 §4.2.2: sequence number reconstruction, 8 and 16 bits, across wrap-around', (t) => {
  const cases: [largest: number, low: number, bits: 8 | 16, full: number][] = [
    [-1, 0x00, 8, 0x00],
    [-1, 0x05, 8, 0x05],
    [-1, 0xff, 8, 0xff], // nothing below 0: the only candidate
    [0xfe, 0x00, 8, 0x100], // wraps forward
    [0x1ff, 0x02, 8, 0x202],
    [0x100, 0xff, 8, 0xff], // a late record from before the wrap
    [0x17f, 0x00, 8, 0x200], // expected 0x180: 0x200 is 128 ahead, 0x100 is 128 behind; ties go forward
    [0x180, 0x00, 8, 0x200],
    [0xfffe, 0x0001, 16, 0x10001],
    [0x10005, 0xfffa, 16, 0xfffa],
    [0x12345, 0x2345, 16, 0x12345], // a duplicate (the replay window rejects it)
    [2 ** 40, 0x0000, 16, 2 ** 40],
  ];
  for (const [largest, low, bits, full] of cases) t.is(reconstructSequenceNumber(largest, low, bits), full, `${largest} ${low} ${bits}`);
});

test('RFC 9147 §4.2.2: epoch reconstruction from EE', (t) => {
  t.is(reconstructEpoch(2, 3), 3); // the application epoch after the handshake one
  t.is(reconstructEpoch(3, 2), 2); // a late handshake record
  t.is(reconstructEpoch(3, 0), 4); // after a KeyUpdate
  t.is(reconstructEpoch(5, 0), 4);
  t.is(reconstructEpoch(5, 1), 5);
  t.is(reconstructEpoch(6, 3), 7); // 7 is 1 away, 3 is 3 away
});

test('property: reconstruction recovers any number within half a window of the expected one', (t) => {
  t.notThrows(() =>
    fc.assert(
    fc.property(fc.nat({ max: 2 ** 47 }), fc.constantFrom(8 as const, 16 as const), fc.integer(), (expected, bits, d) => {
      const half = 2 ** (bits - 1);
      const delta = (Math.abs(d) % (2 * half)) - half + 1; // (-half, half]
      const n = expected + delta;
      fc.pre(n >= 0);
      return reconstructSequenceNumber(expected - 1, n % 2 ** bits, bits) === n;
    }),
  ));
});

// ---------------------------------------------------------------------------------------------------------
// Record number encryption (RFC 9147 §4.2.3), both providers

const PROVIDERS: readonly CryptoProvider[] = [nobleProvider, nodeProvider];
const SUITES: readonly [AeadAlg, HashAlg][] = [
  ['aes-128-gcm', 'sha256'],
  ['aes-256-gcm', 'sha384'],
  ['chacha20-poly1305', 'sha256'],
];

test('RFC 9147 §4.2.3: sn_key = HKDF-Expand-Label(secret, "sn", "", key_length) with the "dtls13" prefix', (t) => {
  const secret = new Uint8Array(32).map((_, i) => i);
  // HkdfLabel: length(2) | label<7..255> = "dtls13" + "sn" | context<0..255> = empty; one HMAC block covers 16/32 B.
  const expand = (len: number) =>
    createHmac('sha256', secret)
      .update(Uint8Array.of(0, len, 8, ...Buffer.from('dtls13sn'), 0, 1))
      .digest()
      .subarray(0, len);
  for (const p of PROVIDERS) {
    t.deepEqual(recordNumberKey(p, 'sha256', 'aes-128-gcm', secret), new Uint8Array(expand(16)), p.name);
    t.deepEqual(recordNumberKey(p, 'sha256', 'chacha20-poly1305', secret), new Uint8Array(expand(32)), p.name);
  }
});

test('RFC 9147 §4.2.3: the mask is AES-ECB / ChaCha20 of the first 16 ciphertext bytes (checked against node:crypto)', (t) => {
  const sample = new Uint8Array(16).map((_, i) => 0x30 + i);
  const ciphertext = new Uint8Array([...sample, 0xee, 0xee]);
  const header = encodeWith((w) => encodeUnifiedHeader(w, { epoch: 3, sequenceNumber: 0xabcd, sequenceNumberLength: 2, length: ciphertext.length }));
  const aesKey = new Uint8Array(16).fill(7);
  const ecb = createCipheriv('aes-128-ecb', aesKey, null).setAutoPadding(false).update(sample);
  const chachaKey = new Uint8Array(32).fill(9);
  // OpenSSL's chacha20 IV is counter(4, little-endian) ‖ nonce(12): exactly the sample's split (RFC 9001 §5.4.4).
  const stream = createCipheriv('chacha20', chachaKey, sample).update(new Uint8Array(2));
  for (const p of PROVIDERS) {
    const a = protectRecordNumber(p, 'aes-128-gcm', aesKey, header, ciphertext);
    t.deepEqual([a[1], a[2]], [0xab ^ ecb[0]!, 0xcd ^ ecb[1]!], p.name);
    const c = protectRecordNumber(p, 'chacha20-poly1305', chachaKey, header, ciphertext);
    t.deepEqual([c[1], c[2]], [0xab ^ stream[0]!, 0xcd ^ stream[1]!], p.name);
    t.deepEqual([a[0], a[3], a[4]], [header[0], header[3], header[4]], 'only the sequence bytes change');
  }
});

test('property: record number encryption round trip, every suite, noble and node agree', (t) => {
  for (const [alg, hash] of SUITES) {
    fc.assert(
      fc.property(
        // A traffic secret is one hash output long (RFC 8446 §7.1).
        fc.uint8Array({ minLength: hash === 'sha384' ? 48 : 32, maxLength: hash === 'sha384' ? 48 : 32 }),
        fc.nat({ max: 2 ** 48 - 1 }),
        fc.constantFrom(1 as const, 2 as const),
        fc.uint8Array({ minLength: 16, maxLength: 64 }),
        (secret, sequenceNumber, sequenceNumberLength, encryptedRecord) => {
          const sent: Uint8Array[] = [];
          for (const p of PROVIDERS) {
            const key = recordNumberKey(p, hash, alg, secret);
            const header = encodeWith((w) => encodeUnifiedHeader(w, { epoch: 2, sequenceNumber, sequenceNumberLength, length: encryptedRecord.length }));
            const wire = new Uint8Array([...protectRecordNumber(p, alg, key, header, encryptedRecord), ...encryptedRecord]);
            const back = unprotectRecordNumber(p, alg, key, decodeCiphertextAt(wire));
            if (!back) return false;
            t.deepEqual(back.header, header);
            t.is(back.sequenceLow, sequenceNumber % 2 ** (8 * sequenceNumberLength));
            t.is(back.bits, sequenceNumberLength === 2 ? 16 : 8);
            sent.push(wire);
          }
          t.deepEqual(sent[0], sent[1]);
          return true;
        },
      ),
      { numRuns: 40 },
    );
  }
});

test('RFC 9147 §4.2.3: under 16 bytes of ciphertext, receivers reject and senders must pad', (t) => {
  const key = new Uint8Array(16);
  const header = hex('26010f');
  const short = decodeCiphertextAt(hex('2601000f' + '00'.repeat(15)));
  t.is(short.encryptedRecord.length, 15);
  t.is(unprotectRecordNumber(nobleProvider, 'aes-128-gcm', key, short), null);
  t.throws(() => protectRecordNumber(nobleProvider, 'aes-128-gcm', key, header, new Uint8Array(15)), { instanceOf: RangeError });
  t.throws(() => protectRecordNumber(nobleProvider, 'aes-128-gcm', key, hex('3601000f'), new Uint8Array(16)), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------------------
// Handshake fragments (RFC 9147 §5.2)

test('RFC 9147 §5.2: handshake fragment, hand-built from the struct layout, and its transcript form', (t) => {
  // msg_type=finished(20) | length=000004 | message_seq=0003 | fragment_offset=000000 | fragment_length=000004 | body
  const f: DtlsHandshakeFragment = { msgType: 20, length: 4, messageSeq: 3, fragmentOffset: 0, body: hex('01020304') };
  const bytes = encodeWith((w) => encodeDtlsHandshakeFragment(w, f));
  t.is(toHex(bytes), '14000004' + '0003' + '000000' + '000004' + '01020304');
  t.deepEqual(decodeDtlsHandshakeFragments(bytes), [f]);
  // §5.2: the transcript hashes the TLS 1.3 form, without message_seq / fragment_offset / fragment_length.
  t.is(toHex(toTranscriptForm(f)), '14000004' + '01020304');
  t.throws(() => toTranscriptForm({ ...f, body: hex('0102') }), { instanceOf: RangeError });
});

test('RFC 9147 §5.2: a fragment past its message, or with a short body, is a DecodeError', (t) => {
  // offset 3 + fragment_length 2 > length 4
  t.throws(() => decodeDtlsHandshakeFragment(new Reader(hex('14000004' + '0000' + '000003' + '000002' + 'aabb'))), { instanceOf: DecodeError });
  // fragment_length 4 but only 3 body bytes
  t.throws(() => decodeDtlsHandshakeFragments(hex('14000004' + '0000' + '000000' + '000004' + 'aabbcc')), { instanceOf: DecodeError });
  t.throws(() => decodeDtlsHandshakeFragments(new Uint8Array(0)), { instanceOf: DecodeError });
  t.throws(() => encodeWith((w) => encodeDtlsHandshakeFragment(w, { msgType: 1, length: 2, messageSeq: 0, fragmentOffset: 1, body: hex('aabb') })), { instanceOf: RangeError });
});

const fragmentArb: fc.Arbitrary<DtlsHandshakeFragment> = fc
  .record({
    msgType: fc.integer({ min: 0, max: 255 }),
    messageSeq: fc.integer({ min: 0, max: 0xffff }),
    body: fc.uint8Array({ maxLength: 100 }),
    before: fc.nat({ max: 0xffff }),
    after: fc.nat({ max: 0xffff }),
  })
  .map(({ msgType, messageSeq, body, before, after }) => ({ msgType, messageSeq, body, fragmentOffset: before, length: before + body.length + after }));

test('property: handshake fragments round trip, several per record', (t) => {
  fc.assert(
    fc.property(fc.array(fragmentArb, { minLength: 1, maxLength: 4 }), (fs) => {
      const bytes = encodeWith((w) => fs.forEach((f) => encodeDtlsHandshakeFragment(w, f)));
      t.deepEqual(decodeDtlsHandshakeFragments(bytes), fs);
    }),
  );
});

test('property: fragmentMessage splits a TLS-form message; its pieces reassemble to the transcript form', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 500 }), fc.integer({ min: 1, max: 120 }), fc.nat({ max: 0xffff }), (type, body, max, seq) => {
      const tls = Uint8Array.of(type, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff, ...body);
      const frags = fragmentMessage(tls, seq, max);
      const joined = new Uint8Array(body.length);
      let at = 0;
      for (const f of frags) {
        t.true(f.body.length <= max);
        t.is(f.fragmentOffset, at);
        t.is(f.messageSeq, seq);
        const wire = encodeWith((w) => encodeDtlsHandshakeFragment(w, f));
        joined.set(decodeDtlsHandshakeFragments(wire)[0]!.body, at);
        at += f.body.length;
      }
      t.is(at, body.length);
      t.deepEqual(toTranscriptForm({ msgType: type, length: body.length, messageSeq: seq, fragmentOffset: 0, body: joined }), tls);
    }),
    { numRuns: 200 },
  );
});

// ---------------------------------------------------------------------------------------------------------
// ACK (RFC 9147 §7)

test('RFC 9147 §7: ACK, hand-built from the struct layout', (t) => {
  // record_numbers length = 0020 | epoch 2, seq 5 | epoch 3, seq 2^40 (8 bytes each)
  const list: RecordNumber[] = [
    { epoch: 2n, sequenceNumber: 5n },
    { epoch: 3n, sequenceNumber: 2n ** 40n },
  ];
  const bytes = encodeWith((w) => encodeAck(w, list));
  t.is(toHex(bytes), '0020' + '0000000000000002' + '0000000000000005' + '0000000000000003' + '0000010000000000');
  t.deepEqual(decodeAck(bytes), list);
  t.deepEqual(decodeAck(hex('0000')), []);
  t.throws(() => decodeAck(hex('0010' + '00'.repeat(16) + '00')), { instanceOf: DecodeError }); // trailing byte
  t.throws(() => decodeAck(hex('000f' + '00'.repeat(15))), { instanceOf: DecodeError }); // not a multiple of 16
  t.throws(() => encodeWith((w) => encodeAck(w, [{ epoch: 2n ** 64n, sequenceNumber: 0n }])), { instanceOf: RangeError });
});

test('property: ACK round trip', (t) => {
  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  fc.assert(
    fc.property(fc.array(fc.record({ epoch: u64, sequenceNumber: u64 }), { maxLength: 50 }), (list) => {
      t.deepEqual(decodeAck(encodeWith((w) => encodeAck(w, list))), list);
    }),
  );
});
