/**
 * HTTP/3 frames (RFC 9114 §7) and the stream parsers (§6, §4.1): round trips in any chunking, unknown and
 * reserved types skipped, HTTP/2 types refused, frame order per stream with its error code, and random bytes
 * that parse or fail with a typed H3Error.
 */
import test from 'ava';
import fc from 'fast-check';
import { H3Error, type H3ErrorName } from '../../src/h3/errors.js';
import { decodeFrames, encodeFrame, encodeFrameHeader, type H3Frame } from '../../src/h3/frames.js';
import { encodeFieldSection } from '../../src/h3/qpack.js';
import { ControlStreamParser, DecoderStreamChecker, MessageParser, checkEncoderStream } from '../../src/h3/streams.js';
import { concatBytes } from '../../src/wire/bytes.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const headers = (fields: [string, string][]) => encodeFrame({ type: 'headers', block: encodeFieldSection(fields) });
const data = (s: string) => encodeFrame({ type: 'data', payload: new TextEncoder().encode(s) });
const settings = (entries: [number, number][] = []) => encodeFrame({ type: 'settings', settings: new Map(entries) });

const frameArb: fc.Arbitrary<H3Frame> = fc.oneof(
  fc.uint8Array({ maxLength: 50 }).map((payload) => ({ type: 'data' as const, payload })),
  fc.uint8Array({ maxLength: 50 }).map((block) => ({ type: 'headers' as const, block })),
  fc.uniqueArray(fc.tuple(fc.integer({ min: 6, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 40 })), { selector: ([id]) => id, maxLength: 5 }).map((e) => ({ type: 'settings' as const, settings: new Map(e) })),
  fc.integer({ min: 0, max: 2 ** 50 }).map((id) => ({ type: 'goaway' as const, id })),
  fc.integer({ min: 0, max: 2 ** 30 }).map((pushId) => ({ type: 'maxPushId' as const, pushId })),
  fc.integer({ min: 0, max: 2 ** 30 }).map((pushId) => ({ type: 'cancelPush' as const, pushId })),
);

/** Cut `bytes` at the given points (each taken modulo the length). */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => (bytes.length ? p % bytes.length : 0)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

test('RFC 9114 §7.2.4: SETTINGS encodes as type 0x04, length, id/value varints', (t) => {
  t.deepEqual(settings([[0x06, 16384], [0x01, 0]]), hex('04 07 06 80004000 01 00'));
  t.deepEqual(decodeFrames(hex('04 07 06 80004000 01 00')), [{ type: 'settings', settings: new Map([[6, 16384], [1, 0]]) }]);
});

test('property: frames round-trip through the streaming reader in any chunking; unknown and grease types are skipped', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 6 }), fc.nat({ max: 1000 }), (frames, points, grease) => {
        // A reserved type 0x1f·N + 0x21 (§7.2.8) with a payload between the frames: skipped.
        const unknown = concatBytes([encodeFrameHeader(0x1f * grease + 0x21, 3), hex('aabbcc')]);
        const bytes = concatBytes(frames.flatMap((f) => [encodeFrame(f), unknown]));
        const got = decodeFrames(cut(bytes, points), { maxFieldSection: 1 << 20 });
        t.deepEqual(got, frames);
      }),
    ),
  );
});

test('RFC 9114 §7.2.8: HTTP/2 frame types are H3_FRAME_UNEXPECTED; §7.1: a cut-off frame or trailing payload is H3_FRAME_ERROR', (t) => {
  for (const type of [0x02, 0x06, 0x08, 0x09]) t.is(t.throws(() => decodeFrames(Uint8Array.of(type, 0)), { instanceOf: H3Error })?.codeName, 'H3_FRAME_UNEXPECTED');
  t.is(t.throws(() => decodeFrames(hex('00 05 6162')), { instanceOf: H3Error })?.codeName, 'H3_FRAME_ERROR');
  t.is(t.throws(() => decodeFrames(hex('07 02 00 00')), { instanceOf: H3Error })?.codeName, 'H3_FRAME_ERROR'); // GOAWAY 0 plus a byte
  t.is(t.throws(() => decodeFrames(hex('04 02 06')), { instanceOf: H3Error })?.codeName, 'H3_FRAME_ERROR'); // truncated
  t.is(t.throws(() => decodeFrames(hex('04 04 06 00 06 01')), { instanceOf: H3Error })?.codeName, 'H3_SETTINGS_ERROR'); // repeated
  t.is(t.throws(() => decodeFrames(hex('04 02 02 00')), { instanceOf: H3Error })?.codeName, 'H3_SETTINGS_ERROR'); // HTTP/2 ENABLE_PUSH
});

test('property: random bytes on a request stream parse, or fail with a typed H3Error', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.boolean(), (b, server) => {
        try {
          const p = new MessageParser(server ? 'server' : 'client', 1024);
          p.push(b);
          p.end();
          return true;
        } catch (e) {
          return e instanceof H3Error && /^(H3_|QPACK_)/.test(e.codeName);
        }
      }),
    ),
  );
});

test('RFC 9114 §4.1: a response stream yields the head (after interim 1xx), the body, then trailers', (t) => {
  const p = new MessageParser('client', 16384);
  const events = p.push(concatBytes([headers([[':status', '103']]), headers([[':status', '200'], ['content-length', '5']]), data('he'), data('llo'), headers([['x-t', '1']])]));
  p.end();
  t.deepEqual(
    events.map((e) => (e.type === 'data' ? Buffer.from(e.bytes).toString() : e.type === 'head' ? e.head.status : e.fields)),
    [200, 'he', 'llo', [['x-t', '1']]],
  );
});

test('RFC 9114 §4.1, §4.3: request-stream faults and their codes', (t) => {
  const fails = (role: 'server' | 'client', bytes: Uint8Array, code: H3ErrorName, scope: 'stream' | 'connection') => {
    const p = new MessageParser(role, 16384);
    const e = t.throws(() => {
      p.push(bytes);
      p.end();
    }, { instanceOf: H3Error });
    t.is(e?.codeName, code, e?.message);
    t.is(e?.scope, scope);
  };
  const get: [string, string][] = [[':method', 'GET'], [':scheme', 'https'], [':authority', 'a'], [':path', '/']];
  fails('server', data('x'), 'H3_FRAME_UNEXPECTED', 'connection'); // DATA before HEADERS
  fails('server', concatBytes([headers(get), settings()]), 'H3_FRAME_UNEXPECTED', 'connection');
  fails('server', new Uint8Array(0), 'H3_REQUEST_INCOMPLETE', 'stream');
  fails('server', headers([[':method', 'GET'], [':path', '/']]), 'H3_MESSAGE_ERROR', 'stream'); // no :scheme
  fails('server', headers([...get, ['Upper', 'x']]), 'H3_MESSAGE_ERROR', 'stream');
  fails('server', headers([...get, ['connection', 'close']]), 'H3_MESSAGE_ERROR', 'stream');
  fails('server', headers([['x', '1'], ...get]), 'H3_MESSAGE_ERROR', 'stream'); // pseudo after regular
  fails('server', concatBytes([headers([...get, ['content-length', '3']]), data('ab')]), 'H3_MESSAGE_ERROR', 'stream');
  fails('client', headers([[':status', '20']]), 'H3_MESSAGE_ERROR', 'stream');
  fails('client', encodeFrame({ type: 'pushPromise', pushId: 0, block: encodeFieldSection(get) }), 'H3_ID_ERROR', 'connection');
  fails('client', hex('01 03 0100 d9'), 'QPACK_DECOMPRESSION_FAILED', 'connection'); // Required Insert Count 1
  fails('client', concatBytes([headers([[':status', '200']]), hex('01')]), 'H3_FRAME_ERROR', 'connection'); // FIN inside a frame
});

test('RFC 9114 §6.2.1: the control stream starts with SETTINGS, once; GOAWAY ids never grow; its end is critical', (t) => {
  const c = new ControlStreamParser('server');
  t.deepEqual(c.push(settings([[0x06, 1000]])), [{ type: 'settings', settings: { maxFieldSectionSize: 1000, qpackMaxTableCapacity: 0, qpackBlockedStreams: 0 } }]);
  t.deepEqual(c.push(encodeFrame({ type: 'goaway', id: 8 })), [{ type: 'goaway', id: 8 }]);
  t.is(t.throws(() => c.push(encodeFrame({ type: 'goaway', id: 12 })), { instanceOf: H3Error })?.codeName, 'H3_ID_ERROR');
  t.is(t.throws(() => new ControlStreamParser('server').push(encodeFrame({ type: 'goaway', id: 0 })), { instanceOf: H3Error })?.codeName, 'H3_MISSING_SETTINGS');
  const twice = new ControlStreamParser('client');
  twice.push(settings());
  t.is(t.throws(() => twice.push(settings()), { instanceOf: H3Error })?.codeName, 'H3_FRAME_UNEXPECTED');
  t.is(t.throws(() => twice.push(data('x')), { instanceOf: H3Error })?.codeName, 'H3_FRAME_UNEXPECTED');
  t.is(t.throws(() => twice.end(), { instanceOf: H3Error })?.codeName, 'H3_CLOSED_CRITICAL_STREAM');
});

test('RFC 9204 §4.3, §4.4: with capacity 0, only Set Dynamic Table Capacity 0 and Stream Cancellations are accepted', (t) => {
  t.notThrows(() => checkEncoderStream(Uint8Array.of(0x20, 0x20)));
  t.is(t.throws(() => checkEncoderStream(Uint8Array.of(0x21)), { instanceOf: H3Error })?.codeName, 'QPACK_ENCODER_STREAM_ERROR');
  const d = new DecoderStreamChecker();
  t.notThrows(() => d.push(Uint8Array.of(0x44, 0x7f, 0x81))); // cancel stream 4, then stream 63 + 0x81… continued
  t.notThrows(() => d.push(Uint8Array.of(0x01)));
  t.is(t.throws(() => d.push(Uint8Array.of(0x80)), { instanceOf: H3Error })?.codeName, 'QPACK_DECODER_STREAM_ERROR');
  t.is(t.throws(() => new DecoderStreamChecker().push(Uint8Array.of(0x01)), { instanceOf: H3Error })?.codeName, 'QPACK_DECODER_STREAM_ERROR');
});
