import test from 'ava';
import fc from 'fast-check';
import { DecodeError, Reader } from '../../src/wire/reader.js';
import { decodePacketHeader, decodePacketNumber, encodeLongHeader, encodeShortHeader, packetNumberLength } from '../../src/wire/quic/packet.js';
import { Writer } from '../../src/wire/writer.js';
import { hex } from '../vectors/hex.js';
import * as v from '../vectors/rfc9001.js';

test('RFC 9000 §A.1: variable-length integer examples', (t) => {
  // The 8-byte example is above 2^53: the number reader refuses it, the bigint reader decodes it.
  t.throws(() => new Reader(hex('c2197c5eff14e88c')).varint(), { instanceOf: DecodeError });
  t.is(new Reader(hex('c2197c5eff14e88c')).varintBig(), 151288809941952652n);
  t.is(new Reader(hex('ffffffffffffffff')).varintBig(), 2n ** 62n - 1n);
  const cases: [string, number][] = [
    ['9d7f3e7d', 494878333],
    ['7bbd', 15293],
    ['25', 37],
    ['4025', 37], // not the shortest encoding, still 37
  ];
  for (const [bytes, value] of cases) {
    const r = new Reader(hex(bytes));
    t.is(r.varint(), value, bytes);
    r.expectEnd('varint');
    t.is(new Reader(hex(bytes)).varintBig(), BigInt(value), bytes);
  }
  // The encoder picks the shortest form.
  t.deepEqual(new Writer().varint(37).finish(), hex('25'));
  t.deepEqual(new Writer().varint(15293).finish(), hex('7bbd'));
  t.deepEqual(new Writer().varint(494878333).finish(), hex('9d7f3e7d'));
});

test('RFC 9000 §17.1: 0xac5c02 after 0xabe8b3 was acknowledged needs 16 bits', (t) => {
  t.is(packetNumberLength(0xac5c02, 0xabe8b3), 2);
  t.is(packetNumberLength(0, undefined), 1);
  t.is(packetNumberLength(127, undefined), 1); // 128 unacknowledged: twice the range fits in 8 bits
  t.is(packetNumberLength(128, undefined), 2);
  t.is(packetNumberLength(2 ** 31 - 1, 0), 4);
  t.throws(() => packetNumberLength(2 ** 40, 0), { instanceOf: RangeError });
});

test('RFC 9000 §A.3: 0x9b32 after 0xa82f30ea decodes to 0xa82f9b32', (t) => {
  t.is(decodePacketNumber(0xa82f30ea, 0x9b32, 16), 0xa82f9b32);
  t.is(decodePacketNumber(-1, 0, 8), 0, 'nothing received yet');
  t.is(decodePacketNumber(255, 0, 8), 256, 'wraps forward');
  t.is(decodePacketNumber(256, 255, 8), 255, 'a late packet just below');
});

test('packet numbers: truncating to the chosen length and decoding gives the number back (property)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 20 }), fc.integer({ min: 0, max: 2 ** 20 }), (largestAcked, ahead, behind) => {
      const pn = largestAcked + 1 + ahead;
      const len = packetNumberLength(pn, largestAcked);
      const truncated = pn % 2 ** (8 * len);
      // The receiver has seen anything between the acknowledged packet and this one (RFC 9000 §17.1).
      const largestSeen = Math.max(largestAcked, pn - 1 - Math.min(behind, ahead));
      t.is(decodePacketNumber(largestSeen, truncated, (8 * len) as 8 | 16 | 24 | 32), pn);
    }),
    { numRuns: 300 },
  );
});

test('decodePacketHeader: coalesced packets, version negotiation, and short headers', (t) => {
  // A Handshake packet (Length 5) followed by a short-header packet in one datagram.
  const handshake = hex('e0 00000001 04 01020304 02 0a0b 05 0001020304');
  const short = hex('40 01020304 aa bb cc');
  const datagram = new Uint8Array([...handshake, ...short]);
  const h = decodePacketHeader(datagram, 0, 4);
  t.like(h, { form: 'long', type: 'handshake', pnOffset: 14, end: handshake.length });
  const s = decodePacketHeader(datagram, handshake.length, 4);
  t.like(s, { form: 'short', pnOffset: handshake.length + 5, end: datagram.length });
  const vn = decodePacketHeader(hex('80 00000000 01 aa 01 bb 00000001 ff00001d'), 0, 0);
  t.like(vn, { form: 'versionNegotiation', versions: [1, 0xff00001d] });
});

test('decodePacketHeader: malformed headers are DecodeErrors', (t) => {
  const bad = [
    hex('c3 00000001 15' + '00'.repeat(21)), // a 21-byte connection ID
    hex('c3 00000002 00 00 00 01 00'), // an unknown version
    hex('83 00000001 00 00 00 01 00'), // fixed bit 0 (long)
    hex('03 00'), // fixed bit 0 (short)
    hex('c3 00000001 00 00 00 44'), // a truncated Length
    hex('c3 00000001 00 00 00 10 00'), // Length past the datagram
    hex('c3 00000001 00 00 05 00'), // a token past the datagram
    hex('f0 00000001 00 00 0102'), // a Retry shorter than its tag
    hex('80 00000000 00 00 0102'), // a version list that is not a multiple of 4
  ];
  for (const b of bad) t.throws(() => decodePacketHeader(b, 0, 0), { instanceOf: DecodeError }, Buffer.from(b).toString('hex'));
});

test('decodePacketHeader: random bytes decode within bounds or throw DecodeError, nothing else (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 20 }), (bytes, dcidLength) => {
      try {
        const h = decodePacketHeader(bytes, 0, dcidLength);
        t.true(h.end <= bytes.length);
        if (h.form !== 'versionNegotiation') t.true(h.pnOffset <= h.end);
      } catch (err) {
        t.true(err instanceof DecodeError, String(err));
      }
    }),
    { numRuns: 500 },
  );
});

test('RFC 9001 §A.2, §A.3, §A.5: the unprotected headers, built from their fields', (t) => {
  t.deepEqual(
    encodeLongHeader({ type: 'initial', dcid: v.initialKeys.dcid, scid: new Uint8Array(0), token: new Uint8Array(0), packetNumber: 2, pnLength: 4, payloadLength: 1162 }),
    v.clientInitial.unprotectedHeader,
  );
  t.deepEqual(
    encodeLongHeader({ type: 'initial', dcid: new Uint8Array(0), scid: hex('f067a5502a4262b5'), packetNumber: 1, pnLength: 2, payloadLength: v.serverInitial.payload.length }),
    v.serverInitial.unprotectedHeader,
  );
  t.deepEqual(encodeShortHeader({ dcid: new Uint8Array(0), packetNumber: v.chachaShortHeader.packetNumber, pnLength: 3 }), v.chachaShortHeader.unprotectedHeader);
  t.throws(() => encodeLongHeader({ type: 'handshake', dcid: new Uint8Array(0), scid: new Uint8Array(0), token: new Uint8Array(1), packetNumber: 0, pnLength: 1, payloadLength: 10 }), { instanceOf: RangeError });
  t.throws(() => encodeShortHeader({ dcid: new Uint8Array(21), packetNumber: 0, pnLength: 1 }), { instanceOf: RangeError });
  t.throws(() => encodeLongHeader({ type: 'initial', dcid: new Uint8Array(0), scid: new Uint8Array(0), packetNumber: 0, pnLength: 1, payloadLength: 16400 }), { instanceOf: RangeError });
});

test('long headers: encode then decode finds the fields, the packet number and the packet end (property)', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('initial' as const, 'zeroRtt' as const, 'handshake' as const),
      fc.uint8Array({ maxLength: 20 }),
      fc.uint8Array({ maxLength: 20 }),
      fc.uint8Array({ maxLength: 30 }),
      fc.integer({ min: 0, max: 2 ** 32 }),
      fc.constantFrom<1 | 2 | 3 | 4>(1, 2, 3, 4),
      fc.integer({ min: 0, max: 2000 }),
      (type, dcid, scid, token, packetNumber, pnLength, payloadLength) => {
        const header = encodeLongHeader({ type, dcid, scid, ...(type === 'initial' ? { token } : {}), packetNumber, pnLength, payloadLength });
        const datagram = new Uint8Array(header.length + payloadLength + 16 + 7); // 7 bytes of a next packet
        datagram.set(header);
        const h = decodePacketHeader(datagram, 0, 0);
        if (h.form !== 'long') return t.fail('long');
        t.like(h, { type, dcid, scid, pnOffset: header.length - pnLength, end: header.length + payloadLength + 16 });
        t.deepEqual(h.token, type === 'initial' ? token : new Uint8Array(0));
      },
    ),
    { numRuns: 200 },
  );
});
