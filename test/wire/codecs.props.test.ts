/** Properties for the smaller codecs: alerts, sessions, DER, record framing. Garbage in gives DecodeError. */
import test from 'ava';
import fc from 'fast-check';
import { DecodeError } from '../../src/wire/reader.js';
import { Writer } from '../../src/wire/writer.js';
import { Reader } from '../../src/wire/reader.js';
import { decodeAlert, encodeAlert } from '../../src/wire/tls/alert.js';
import { decodeSession, encodeSession, type TlsSession } from '../../src/handshake/session.js';
import { parseSpki, parseEcdsaSignature } from '../../src/wire/der.js';
import { frameRecord, plainRecord } from '../../src/tls/record.js';

const onlyDecodeErrors = (f: () => unknown) => {
  try {
    f();
    return true;
  } catch (e) {
    return e instanceof DecodeError;
  }
};

test('alert: round trip, and any other length is a DecodeError', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (level, description) => {
      const a = decodeAlert(encodeAlert(level, description));
      return a.level === level && a.description === description;
    }),
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 8 }).filter((b) => b.length !== 2), (b) => {
    try {
      decodeAlert(b);
      return false;
    } catch (e) {
      return e instanceof DecodeError;
    }
  }));
  t.is(decodeAlert(Uint8Array.of(2, 40)).description, 40);
});

const sessionArb: fc.Arbitrary<TlsSession> = fc.record({
  serverName: fc.string({ maxLength: 40 }),
  suite: fc.constantFrom(0x1301, 0x1302, 0x1303),
  psk: fc.uint8Array({ minLength: 32, maxLength: 48 }),
  ticket: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  ageAdd: fc.nat({ max: 0xffffffff }),
  lifetime: fc.nat({ max: 604800 }),
  receivedAt: fc.nat({ max: 2 ** 45 }),
  maxEarlyData: fc.nat({ max: 0xffffffff }),
}).chain((s) => fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }).map((alpn) => (alpn ? { ...s, alpn } : s)));

test('session: round trip; garbage and truncation give DecodeError', (t) => {
  fc.assert(fc.property(sessionArb, (s) => {
    const back = decodeSession(encodeSession(s));
    t.deepEqual(back, s);
  }), { numRuns: 200 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => onlyDecodeErrors(() => decodeSession(b))));
  fc.assert(fc.property(sessionArb, fc.nat(), (s, cut) => {
    const enc = encodeSession(s);
    const n = cut % enc.length;
    try {
      decodeSession(enc.subarray(0, n));
      return false;
    } catch (e) {
      return e instanceof DecodeError;
    }
  }));
});

test('DER: arbitrary bytes as SubjectPublicKeyInfo or ECDSA signature only ever give DecodeError', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => onlyDecodeErrors(() => parseSpki(b)) && onlyDecodeErrors(() => parseEcdsaSignature(b))), { numRuns: 500 });
  t.truthy(parseSpki);
});

test('record framing: any bytes frame as record, incomplete, overflow or bad header — never throw', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 70 }), (b, off) => {
    const r = frameRecord(b, Math.min(off, b.length));
    return ['record', 'incomplete', 'overflow', 'badHeader'].includes(r.kind);
  }));
  fc.assert(fc.property(fc.constantFrom(20, 21, 22, 23), fc.uint8Array({ maxLength: 300 }), (type, body) => {
    const r = frameRecord(plainRecord(type, body), 0);
    return r.kind === 'record' && r.record.type === type && r.record.fragment.length === body.length;
  }));

  t.truthy(frameRecord);
});

test('Reader/Writer: vectors round trip and varints keep their value', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 2 ** 50 }), (b, v) => {
    const w = new Writer(1).vec16(b).vec8(b.subarray(0, 255)).varint(v);
    const r = new Reader(w.finish());
    const a = r.vec16();
    const c = r.vec8();
    const d = r.varint();
    r.expectEnd('test');
    return Buffer.compare(a, b) === 0 && Buffer.compare(c, b.subarray(0, 255)) === 0 && d === v;
  }));
  t.throws(() => new Reader(Uint8Array.of(0, 5, 1)).vec16(), { instanceOf: DecodeError });
});
