/**
 * HTTP/3 (RFC 9114) and QPACK (RFC 9204) conformance, round two: more of what an adversarial suite (h3spec style)
 * sends, byte for byte, from a hand-driven QUIC peer on 127.0.0.1 to rxtls's `serveH3` (most probes) or
 * `h3Connect`/`h3Request` (what only a server can send). Round one (`conformance.test.ts`) covers the basics of
 * each area; these probes go where it does not: the values of the request pseudo-header fields, whitespace in
 * field values, content-length against a short body, trailers and the frames after them, empty and reserved-only
 * request streams, the layout of control frames' payloads, varints longer than needed, unidirectional streams
 * closed before their type, the QPACK encoder instructions that reference or duplicate entries, a negative Base,
 * integers past 62 bits on the decoder stream, what the server itself writes on its QPACK streams, Huffman strings
 * in names, the exact SETTINGS_MAX_FIELD_SECTION_SIZE boundary, and the client's side of content-length, HEAD,
 * trailers and its own field section limit.
 *
 * How an outcome is read (as in round one, without timing): after a probe the peer sends a GET and waits for its
 * answer, then a second GET. A connection error has closed the connection by the second answer (the code is read
 * from the probing peer's qlog `connection_closed` event, owner `remote`); two answered GETs on a connection still
 * open mean the probe was ignored (`{ kind: 'open' }`). A stream error is the RESET_STREAM code on the probed
 * stream (or, with rxtls as the client, the STOP_SENDING code it sent), and the verdict after it must be `open`.
 * Bounds (`BOUND`) only keep a broken run from hanging; no assertion depends on them.
 *
 * Probes that found a deviation from RFC 9114 / RFC 9204 in rxtls when they were written say so in a comment
 * before them (`Found by this probe and fixed: …`); they assert the RFC behaviour, which rxtls now has.
 */
import test, { type ExecutionContext } from 'ava';
import { lastValueFrom, toArray } from 'rxjs';
import { H3ErrorCode } from '../../src/h3/errors.js';
import { H3FrameReader } from '../../src/h3/frames.js';
import { HUFFMAN_CODES } from '../../src/h3/huffman.js';
import { decodeFieldSection, encodeFieldSection, fieldSectionSize, type H3Field } from '../../src/h3/qpack.js';
import type { H3Handler } from '../../src/rx/h3.js';
import { concatBytes } from '../../src/wire/bytes.js';
import {
  BOUNDED_STREAM,
  F,
  GET,
  OK_ANSWER,
  OPEN,
  POST_ECHO,
  S,
  bytes,
  clientGet,
  clientVerdict,
  close,
  data,
  frame,
  get,
  grease,
  headers,
  headersBlock,
  hex,
  probeClient,
  probeServer as probeH3Server,
  request,
  reset,
  response,
  settings,
  utf8,
  varint,
  type Outcome,
} from '../helpers/h3Probe.js';

// ---------------------------------------------------------------------------------------------------------
// Round two's own pieces (the shared harness, as in round one, is in test/helpers/h3Probe.ts).

/** The bits of `text`'s Huffman codes (RFC 7541 Appendix B), most significant first; `EOS` is symbol 256. */
const EOS = 256;
const huffmanBits = (...symbols: (string | number)[]) =>
  symbols
    .flatMap((s) => (typeof s === 'number' ? [s] : [...s].map((c) => c.charCodeAt(0))))
    .map((sym) => HUFFMAN_CODES[sym]!.code.toString(2).padStart(HUFFMAN_CODES[sym]!.bits, '0'))
    .join('');
/** `bits` as bytes, the last one filled with `pad` (RFC 7541 §5.2 wants ones: the start of EOS). */
function bitBytes(bits: string, pad: '0' | '1' = '1'): Uint8Array {
  const full = bits.padEnd(Math.ceil(bits.length / 8) * 8, pad);
  return Uint8Array.from({ length: full.length / 8 }, (_, i) => parseInt(full.slice(8 * i, 8 * i + 8), 2));
}

/** The server's default SETTINGS_MAX_FIELD_SECTION_SIZE (round one checks that it is advertised). */
const SERVER_MAX_FIELD_SECTION = 16_384;

/**
 * `serveH3`'s handler: `/echo` answers the request body, `/big` a 2000-byte field, `/empty` 204 with no field at
 * all (the smallest head there is), anything else 200 "ok".
 */
const handler: H3Handler = async (req) => {
  if (req.path === '/echo') return { status: 200, body: Buffer.concat(await lastValueFrom(req.body.pipe(toArray()))) };
  if (req.path === '/big') return { status: 200, headers: [['x-big', 'b'.repeat(2000)]], body: 'ok' };
  if (req.path === '/empty') return { status: 204 };
  return { status: 200, body: 'ok' };
};

/** {@link probeH3Server} with this file's {@link handler} (`/big` and `/empty` as well as round one's `/echo`). */
const probeServer = (t: ExecutionContext, opts: { control?: boolean } = {}) => probeH3Server(t, { ...opts, handler });

/** A malformed request: the server resets that stream with H3_MESSAGE_ERROR, and the connection goes on. */
async function assertMalformed(t: ExecutionContext, parts: Uint8Array[]): Promise<void> {
  const peer = await probeServer(t);
  t.deepEqual(await peer.outcome(peer.request$(parts)), reset('H3_MESSAGE_ERROR'));
  t.deepEqual(await peer.verdict(), OPEN);
}

/** A request that must be served (a probe that rxtls must not refuse): 200 "ok", and the connection goes on. */
async function assertServed(t: ExecutionContext, parts: Uint8Array[], expected: Outcome = response(200, 'ok'), method = 'GET'): Promise<void> {
  const peer = await probeServer(t);
  t.deepEqual(await peer.outcome(peer.request$(parts), method), expected);
  t.deepEqual(await peer.verdict(), OPEN);
}

/** The sizes (RFC 9114 §4.2.2: names, values, 32 per line) of the field sections in the HEADERS frames of `raw`. */
function headSizes(raw: Uint8Array): number[] {
  const sizes: number[] = [];
  try {
    for (const e of new H3FrameReader({ maxFieldSection: 1 << 20, maxControlPayload: 1 << 20 }).push(raw)) {
      if (e.type === 'frame' && e.frame.type === 'headers') sizes.push(fieldSectionSize(decodeFieldSection(e.frame.block)));
    }
  } catch {
    // a cut-off answer (a reset): the complete frames before it count
  }
  return sizes;
}

/** A QPACK prefixed integer (RFC 9204 §4.1.1) at `at` with an N-bit prefix: its value and the offset after it, or undefined when cut short. */
function prefixInt(buf: Uint8Array, at: number, prefixBits: number): { value: bigint; next: number } | undefined {
  if (at >= buf.length) return undefined;
  const max = (1 << prefixBits) - 1;
  let value = BigInt(buf[at]! & max);
  let i = at + 1;
  if (value < BigInt(max)) return { value, next: i };
  for (let shift = 0n; ; shift += 7n) {
    if (i >= buf.length) return undefined;
    const b = buf[i++]!;
    value += BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value, next: i };
  }
}

// =========================================================================================================
// 1. The values of request pseudo-header fields (RFC 9114 §4.3.1, §4.1.2: invalid values are malformed).

// Found by this probe and fixed: requestHead took any :method value, the empty string included, and the request
// was answered 200; RFC 9114 §4.3.1 makes a request with an invalid pseudo-header value malformed (§4.1.2), and a
// method is a token of at least one character (RFC 9110 §9.1).
test('RFC 9114 §4.3.1, §4.1.2: a request with an empty :method is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', ''], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/']])]);
});

// Found by this probe and fixed: requestHead did not check that :method is a token (RFC 9110 §9.1: method =
// token); "GE T" was answered 200. RFC 9114 §4.3.1/§4.1.2: an invalid pseudo-header value is malformed.
test('RFC 9114 §4.3.1, §4.1.2: a request whose :method is not a token ("GE T") is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'GE T'], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/']])]);
});

// Found by this probe and fixed: requestHead took an empty :scheme (it checked the authority only for http and
// https) and the request was answered 200; a scheme is at least one letter (RFC 3986 §3.1), so RFC 9114 §4.3.1
// makes the value invalid and the request malformed (§4.1.2).
test('RFC 9114 §4.3.1, §4.1.2: a request with an empty :scheme is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'GET'], [':scheme', ''], [':authority', 'localhost'], [':path', '/']])]);
});

// Found by this probe and fixed: requestHead only refused an empty :path; "index.html" was answered 200. RFC 9114
// §4.3.1: for an https URI :path is the path-absolute production (a leading "/") plus an optional query, or "*"
// for OPTIONS; anything else is an invalid value, and the request malformed (§4.1.2).
test('RFC 9114 §4.3.1, §4.1.2: an https request whose :path does not start with "/" is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(request('index.html'))]);
});

// Found by this probe and fixed: requestHead took ":path *" with any method (a GET was answered 200); RFC 9114
// §4.3.1 allows "*" only for an OPTIONS request, so GET * has an invalid :path and is malformed (§4.1.2).
test('RFC 9114 §4.3.1, §4.1.2: ":path *" on a GET (only OPTIONS may use it) is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(request('*'))]);
});

test('RFC 9114 §4.3.1: an OPTIONS request with ":path *" is well-formed and answered', async (t) => {
  await assertServed(t, [headers(request('*', 'OPTIONS'))]);
});

// Found by this probe and fixed: requestHead passed :authority through unchecked; "user@localhost" was answered
// 200. RFC 9114 §4.3.1: :authority MUST NOT include the deprecated userinfo subcomponent for http/https URIs, so
// the value is invalid and the request malformed (§4.1.2).
test('RFC 9114 §4.3.1, §4.1.2: an https request whose :authority has userinfo (user@localhost) is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'GET'], [':scheme', 'https'], [':authority', 'user@localhost'], [':path', '/']])]);
});

test('RFC 9114 §4.3.1: an empty :authority is malformed even when a host field is present: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'GET'], [':scheme', 'https'], [':authority', ''], [':path', '/'], ['host', 'localhost']])]);
});

// Found by this probe and fixed: requestHead used :authority and ignored a host field that disagreed with it (the
// request was answered 200). RFC 9114 §4.3.1: "If both fields are present, they MUST contain the same value"; a
// request that breaks it carries an invalid authority and is malformed (§4.1.2). (As RFC 9113 §8.3.1 for HTTP/2.)
test('RFC 9114 §4.3.1, §4.1.2: :authority and host with different values is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(get([['host', 'example.com']]))]);
});

test('RFC 9114 §4.3.1: an https request with a host field and no :authority is well-formed and answered', async (t) => {
  await assertServed(t, [headers([[':method', 'GET'], [':scheme', 'https'], [':path', '/'], ['host', 'localhost']])]);
});

test('RFC 9114 §4.3, RFC 9220 §3: :protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL is an undefined pseudo-header: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'CONNECT'], [':protocol', 'websocket'], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/chat']])]);
});

for (const [what, fields] of [
  ['with :scheme', [[':method', 'CONNECT'], [':scheme', 'https'], [':authority', 'example.com:443']]],
  ['with :path', [[':method', 'CONNECT'], [':authority', 'example.com:443'], [':path', '/']]],
  ['without :authority', [[':method', 'CONNECT']]],
] as [string, H3Field[]][]) {
  test(`RFC 9114 §4.4: a CONNECT request ${what} is malformed: RESET_STREAM H3_MESSAGE_ERROR`, async (t) => {
    await assertMalformed(t, [headers(fields)]);
  });
}

// =========================================================================================================
// 2. Field names and values (RFC 9114 §4.2, §10.3; RFC 9110 §5.5).

// Found by this probe and fixed: splitFields checked values for control characters only; a value with leading
// whitespace was accepted (answered 200). RFC 9110 §5.5: field-value = *field-content, and field-content starts and
// ends with a visible character; RFC 9114 §10.3: a request "that contains a character not permitted in a field
// value MUST be treated as malformed" (RFC 9113 §8.2.1 spells the same rule out for HTTP/2). A strict reading.
test('RFC 9114 §10.3, RFC 9110 §5.5: a field value with leading whitespace (" 1") is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(get([['x-a', ' 1']]))]);
});

// Found by this probe and fixed: as above, for trailing whitespace (a value ending in HTAB was accepted and
// answered 200); RFC 9110 §5.5 field-content ends with a visible character, and RFC 9114 §10.3 makes the request
// malformed.
test('RFC 9114 §10.3, RFC 9110 §5.5: a field value with trailing whitespace ("1\\t") is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(get([['x-a', '1\t']]))]);
});

test('RFC 9114 §10.3: a NUL in a Huffman-coded field value is found after decoding: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(get([['x-a', 'a\0b']]), 'always')]);
});

// =========================================================================================================
// 3. content-length and the DATA frames (RFC 9114 §4.1.2).

test('RFC 9114 §4.1.2: a body shorter than content-length at the FIN is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([...POST_ECHO, ['content-length', '5']]), data('abc')]);
});

test('RFC 9114 §4.1.2: content-length 5 and no DATA frame at all is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([...POST_ECHO, ['content-length', '5']])]);
});

test('RFC 9114 §4.1.2, RFC 9110 §8.6: two content-length fields that disagree are malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([...POST_ECHO, ['content-length', '3'], ['content-length', '4']]), data('abc')]);
});

test('RFC 9114 §4.1.2: content-length matching the sum of several DATA frames, empty ones included, is served', async (t) => {
  await assertServed(t, [headers([...POST_ECHO, ['content-length', '6']]), data(''), data('abc'), data(''), data('def')], response(200, 'abcdef'));
});

test('RFC 9114 §4.1.2, RFC 9110 §9.3.2: a HEAD request is answered with its content-length and no DATA', async (t) => {
  await assertServed(t, [headers(request('/', 'HEAD'))], response(200, ''), 'HEAD');
});

// =========================================================================================================
// 4. Trailers and the frames after them (RFC 9114 §4.1, §4.3).

test('RFC 9114 §4.1: trailers right after the header section (no DATA) are well-formed: the request is served', async (t) => {
  await assertServed(t, [headers(POST_ECHO), headers([['x-t', '1']])], response(200, ''));
});

test('RFC 9114 §4.2: a connection-specific field (transfer-encoding) in trailers is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(POST_ECHO), data('x'), headers([['transfer-encoding', 'chunked']])]);
});

test('RFC 9114 §4.1: a HEADERS frame after the trailers is H3_FRAME_UNEXPECTED (connection)', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headers(POST_ECHO), data('x'), headers([['x-t', '1']]), headers([['x-t', '2']])]);
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §4.1: a DATA frame after the trailers is H3_FRAME_UNEXPECTED (connection)', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headers(POST_ECHO), data('x'), headers([['x-t', '1']]), data('late')]);
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

// =========================================================================================================
// 5. Request streams: their frames, their ends (RFC 9114 §4.1, §7.1, §7.2).

test('RFC 9114 §4.1: a request stream ended (FIN) with no frame at all is RESET_STREAM H3_REQUEST_INCOMPLETE', async (t) => {
  const peer = await probeServer(t);
  t.deepEqual(await peer.outcome(peer.request$([])), reset('H3_REQUEST_INCOMPLETE'));
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.1, §7.2.8: a request stream of reserved frames only, then FIN, is RESET_STREAM H3_REQUEST_INCOMPLETE', async (t) => {
  const peer = await probeServer(t);
  t.deepEqual(await peer.outcome(peer.request$([frame(grease(4), utf8('pad')), frame(grease(5))])), reset('H3_REQUEST_INCOMPLETE'));
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.3.1, RFC 9204 §4.5: a field section of the prefix alone (no field line) decodes: the request is malformed, H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headersBlock(hex('0000'))]);
});

test('RFC 9204 §4.5.1: an empty HEADERS frame (no field section prefix) is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([frame(F.HEADERS)]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

test('RFC 9114 §7.1, RFC 9000 §16: frame types and lengths in longer varint encodings than needed are accepted', async (t) => {
  const block = encodeFieldSection(POST_ECHO, { huffman: 'never' });
  const parts = [varint(F.HEADERS, 2), varint(block.length, 4), block, varint(F.DATA, 8), varint(5, 2), utf8('hello'), varint(grease(1), 8), varint(0, 4)];
  await assertServed(t, parts, response(200, 'hello'));
});

test('RFC 9114 §4.1.1: a request the client cancels (RESET_STREAM H3_REQUEST_CANCELLED mid-body) leaves the connection usable', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([headers(POST_ECHO), data('part')], false);
  s.reset(H3ErrorCode.H3_REQUEST_CANCELLED);
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.1.1: STOP_SENDING H3_REQUEST_CANCELLED on a request stream leaves the connection usable', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([headers(POST_ECHO)], false);
  s.stopSending(H3ErrorCode.H3_REQUEST_CANCELLED);
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 6. Control frames' payloads, SETTINGS, and the control stream's type (RFC 9114 §6.2.1, §7.1, §7.2).

for (const [what, bad] of [
  ['GOAWAY with an empty payload', frame(F.GOAWAY)],
  ['GOAWAY with a byte after its id', frame(F.GOAWAY, bytes(varint(0), [0x00]))],
  ['MAX_PUSH_ID with a byte after its id', frame(F.MAX_PUSH_ID, bytes(varint(4), [0x00]))],
  ['CANCEL_PUSH with an empty payload', frame(F.CANCEL_PUSH)],
] as const) {
  test(`RFC 9114 §7.1: ${what} on the control stream is H3_FRAME_ERROR`, async (t) => {
    const peer = await probeServer(t, { control: false });
    peer.openControl(settings(), bad);
    t.deepEqual(await peer.verdict(), close('H3_FRAME_ERROR'));
  });
}

test('RFC 9114 §7.1, §7.2.4: SETTINGS with an identifier and no value is H3_FRAME_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(frame(F.SETTINGS, bytes(varint(0x06, 2), varint(100), varint(0x4242))));
  t.deepEqual(await peer.verdict(), close('H3_FRAME_ERROR'));
});

test('RFC 9114 §7.2.4: the same unknown setting identifier (0x4242) twice is H3_SETTINGS_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([0x4242, 1], [0x4242, 2]));
  t.deepEqual(await peer.verdict(), close('H3_SETTINGS_ERROR'));
});

test('RFC 9114 §6.2, RFC 9000 §16: a control stream typed with a 2-byte varint (0x4000) is the control stream: another one is H3_STREAM_CREATION_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.conn.openStream({ uni: true }).write(bytes(varint(S.CONTROL, 2), settings()));
  t.deepEqual(await peer.get(), response(200, 'ok'));
  peer.openControl(settings());
  t.deepEqual(await peer.verdict(), close('H3_STREAM_CREATION_ERROR'));
});

// Found by this probe and fixed: respond checked the reply's head against the client's
// SETTINGS_MAX_FIELD_SECTION_SIZE, but when it was over the limit it sent a 500 head (":status 500" and
// "content-length 0", 89 bytes) without checking that one; RFC 9114 §4.2.2: an implementation that received the
// setting SHOULD NOT send a field section larger than it (when not even the 500 fits, the stream is now reset).
test('RFC 9114 §4.2.2: with the client\'s SETTINGS_MAX_FIELD_SECTION_SIZE at 50, the server sends no field section larger than 50', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([0x06, 50]));
  t.like(await peer.outcome(peer.request$([headers(request('/empty'))])), { kind: 'response', status: 204 });
  const got = await peer.rawAnswer(peer.request$([headers(GET)]));
  t.not(got.end, 'bound', 'the request is answered or reset');
  const sizes = headSizes(got.bytes);
  t.true(sizes.every((size) => size <= 50), `field sections of ${sizes.join(', ')} bytes`);
});

test('RFC 9114 §4.2.2: a reply over the client\'s SETTINGS_MAX_FIELD_SECTION_SIZE (1000) is not sent: what comes (a 500, or a reset) fits in it', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([0x06, 1000]));
  t.like(await peer.outcome(peer.request$([headers(request('/empty'))])), { kind: 'response', status: 204 });
  const got = await peer.rawAnswer(peer.request$([headers(request('/big'))]));
  const sizes = headSizes(got.bytes);
  t.true(got.end === 'reset' || sizes.length > 0, `the request is answered or reset (${got.end})`);
  t.true(sizes.every((size) => size <= 1000), `field sections of ${sizes.join(', ')} bytes`);
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 7. Unidirectional streams closed before their type (RFC 9114 §6.2: "MUST tolerate").

test('RFC 9114 §6.2: a unidirectional stream closed (FIN) inside its type varint (0x40, one of two bytes) is ignored', async (t) => {
  const peer = await probeServer(t);
  const s = peer.conn.openStream({ uni: true });
  s.write(Uint8Array.of(0x40));
  s.end();
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §6.2: a unidirectional stream reset before its type is ignored', async (t) => {
  const peer = await probeServer(t);
  const s = peer.conn.openStream({ uni: true });
  s.write(Uint8Array.of(0x40));
  s.reset(H3ErrorCode.H3_NO_ERROR);
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 8. The QPACK encoder stream against the capacity of 0 we advertised (RFC 9204 §3.2.3, §4.3).

for (const [what, instr] of [
  ['Insert with Name Reference to dynamic entry 0 (the table is empty)', '80 03 616263'],
  ['Insert with Literal Name', '43 616263 03 78797a'],
  ['Duplicate of entry 0 (nothing to duplicate: never inserted, or evicted)', '00'],
  ['Set Dynamic Table Capacity 0, then an insertion (an entry larger than the capacity)', '20 43 616263 03 78797a'],
] as const) {
  test(`RFC 9204 §4.3, §3.2.2: ${what} on the encoder stream is QPACK_ENCODER_STREAM_ERROR`, async (t) => {
    const peer = await probeServer(t);
    peer.openUni(S.ENCODER, hex(instr));
    t.deepEqual(await peer.verdict(), close('QPACK_ENCODER_STREAM_ERROR'));
  });
}

// =========================================================================================================
// 9. QPACK field sections (RFC 9204 §4.5, §4.1.1, §4.1.2; RFC 7541 §5.2).

// Found by this probe and fixed: decodeFieldSection read the Sign bit and Delta Base and ignored them, so a
// section whose Base is negative was decoded (the GET was answered 200). RFC 9204 §4.5.1.2: "The value of Base
// MUST NOT be negative ... An endpoint MUST treat a field block with a Sign bit of 1 as invalid if the value of
// Required Insert Count is less than or equal to the value of Delta Base": QPACK_DECOMPRESSION_FAILED (§2.2.3, §6).
test('RFC 9204 §4.5.1.2: a Sign bit of 1 with a Required Insert Count of 0 (a negative Base) is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headersBlock(bytes(hex('0080'), encodeFieldSection(GET).subarray(2)))]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

test('RFC 9204 §4.1.1: a Delta Base past 62 bits is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headersBlock(bytes(hex('00 7f ffffffffffffffffff 7f'), encodeFieldSection(GET).subarray(2)))]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

test('RFC 9204 §4.1.1: a prefixed integer whose continuation runs past the end of the field section is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headersBlock(hex('0000 ff 80'))]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

/** A literal field line with a literal name (RFC 9204 §4.5.6): name and value as given, each with its H bit. */
const literal = (name: Uint8Array, nameHuffman: boolean, value: Uint8Array, valueHuffman: boolean) => {
  if (name.length >= 7 || value.length >= 127) throw new RangeError('short strings only');
  return bytes([0x20 | (nameHuffman ? 0x08 : 0) | name.length], name, [(valueHuffman ? 0x80 : 0) | value.length], value);
};
/** A literal with the static name reference 1 (:path) and a Huffman-coded value (RFC 9204 §4.5.4). */
const pathHuffman = (huffmanBytes: Uint8Array) => bytes([0x51, 0x80 | huffmanBytes.length], huffmanBytes);

for (const [what, lines] of [
  ['a Huffman-coded field name whose padding is not all ones', literal(bitBytes(huffmanBits('x-a'), '0'), true, utf8('1'), false)],
  ['a Huffman string with EOS between two symbols', pathHuffman(bitBytes(huffmanBits('a', EOS, 'a')))],
  ['a Huffman-coded field name of one 0xff byte (8 bits of padding, no symbol)', literal(Uint8Array.of(0xff), true, utf8('1'), false)],
] as const) {
  test(`RFC 9204 §4.1.2, RFC 7541 §5.2: ${what} is QPACK_DECOMPRESSION_FAILED`, async (t) => {
    const peer = await probeServer(t);
    peer.request$([headersBlock(bytes(encodeFieldSection(GET), lines))]);
    t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
  });
}

test('RFC 7541 §5.2: a Huffman string with exactly 7 bits of all-ones padding decodes (the request is served)', async (t) => {
  const bits = huffmanBits('aaaaa');
  t.is(bits.length % 8, 1, '25 bits of code: 7 bits of padding');
  await assertServed(t, [headersBlock(bytes(encodeFieldSection(GET), literal(utf8('x-a'), false, bitBytes(bits), true)))]);
});

// =========================================================================================================
// 10. The QPACK decoder stream, and what the server writes on its own QPACK streams (RFC 9204 §4.1.1, §4.4).

// Found by this probe and fixed: DecoderStreamChecker followed a Stream Cancellation's continuation bytes without
// bounding them, so a stream id far past 2^62 was accepted; RFC 9204 §4.1.1 bounds QPACK integers to 62 bits and
// RFC 7541 §5.1 makes an integer past the implementation's limit a decoding error: QPACK_DECODER_STREAM_ERROR (§6).
test('RFC 9204 §4.1.1, §4.4.2: a Stream Cancellation whose stream id runs past 62 bits is QPACK_DECODER_STREAM_ERROR', async (t) => {
  const peer = await probeServer(t);
  peer.openUni(S.DECODER, hex('7f ffffffffffffffffff 7f'));
  t.deepEqual(await peer.verdict(), close('QPACK_DECODER_STREAM_ERROR'));
});

test('RFC 9204 §4.4.1, §4.3.1: for field sections with Required Insert Count 0 the server sends no Section Acknowledgment or Insert Count Increment, and no encoder instruction but Set Dynamic Table Capacity 0', async (t) => {
  const peer = await probeServer(t);
  t.deepEqual(await peer.verdict(), OPEN);
  const decoder = concatBytes((await peer.uniOfType(S.DECODER)).chunks);
  for (let at = 0; at < decoder.length; ) {
    t.is(decoder[at]! & 0xc0, 0x40, `decoder instruction 0x${decoder[at]!.toString(16)} at ${at} is a Stream Cancellation`);
    at = prefixInt(decoder, at, 6)?.next ?? decoder.length;
  }
  const encoder = concatBytes((await peer.uniOfType(S.ENCODER)).chunks);
  t.true(encoder.every((b) => b === 0x20), `encoder stream: ${Buffer.from(encoder).toString('hex')}`);
});

test('RFC 9204 §4.4.2: after the client resets a request stream, the server\'s decoder stream carries nothing but Stream Cancellations for it (which capacity 0 lets it omit)', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([headers(POST_ECHO)], false);
  s.reset(H3ErrorCode.H3_REQUEST_CANCELLED);
  t.deepEqual(await peer.verdict(), OPEN);
  const decoder = concatBytes((await peer.uniOfType(S.DECODER)).chunks);
  for (let at = 0; at < decoder.length; ) {
    t.is(decoder[at]! & 0xc0, 0x40, `decoder instruction 0x${decoder[at]!.toString(16)} at ${at} is a Stream Cancellation`);
    const id = prefixInt(decoder, at, 6);
    t.is(id?.value, BigInt(s.id), 'the cancelled stream is the one reset');
    at = id?.next ?? decoder.length;
  }
});

// =========================================================================================================
// 11. SETTINGS_MAX_FIELD_SECTION_SIZE, exactly (RFC 9114 §4.2.2: names, values, 32 bytes a line).

/** A GET padded with an `x-pad` field to a field section size of exactly `size`. */
function getOfSize(size: number): H3Field[] {
  const base = fieldSectionSize(get([['x-pad', '']]));
  const fields = get([['x-pad', 'p'.repeat(size - base)]]);
  if (fieldSectionSize(fields) !== size) throw new Error('padding arithmetic');
  return fields;
}

test('RFC 9114 §4.2.2: a request field section of exactly the advertised SETTINGS_MAX_FIELD_SECTION_SIZE is served', async (t) => {
  await assertServed(t, [headers(getOfSize(SERVER_MAX_FIELD_SECTION))]);
});

test('RFC 9114 §4.2.2: a request field section one byte over the advertised size is refused (stream error or 431), the connection goes on', async (t) => {
  const peer = await probeServer(t);
  const got = await peer.outcome(peer.request$([headers(getOfSize(SERVER_MAX_FIELD_SECTION + 1))]));
  t.true((got.kind === 'reset' && BOUNDED_STREAM.includes(got.code)) || (got.kind === 'response' && got.status === 431), JSON.stringify(got));
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.2.2: trailers over the advertised field section size are a stream error, the connection goes on', async (t) => {
  const peer = await probeServer(t);
  const got = await peer.outcome(peer.request$([headers(POST_ECHO), data('x'), headers([['x-big', 'b'.repeat(SERVER_MAX_FIELD_SECTION)]])]));
  t.true(got.kind === 'reset' && BOUNDED_STREAM.includes(got.code), JSON.stringify(got));
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 12. rxtls as the client (RFC 9114 §4.1, §4.1.2, §4.2.2, §6.2.1, §7.2.4; RFC 9204 §4.3).

const okHead = (extra: H3Field[] = []) => headers([[':status', '200'], ...extra]);

test('RFC 9114 §4.1.2, RFC 9110 §9.3.2: a HEAD response with content-length 1000 and no DATA is accepted (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? okHead([['content-length', '1000']]) : OK_ANSWER);
  });
  t.deepEqual(await clientGet(ct, { method: 'HEAD' }), response(200, ''));
  t.deepEqual(await clientVerdict(ct), OPEN);
});

for (const [what, answer] of [
  ['a body longer than content-length', bytes(okHead([['content-length', '1']]), data('ok'))],
  ['trailers carrying :status', bytes(okHead([['content-length', '2']]), data('ok'), headers([[':status', '200']]))],
] as const) {
  test(`RFC 9114 §4.1.2: a response with ${what} is malformed: the client resets the stream with H3_MESSAGE_ERROR`, async (t) => {
    const ct = await probeClient(t, (peer) => {
      peer.answer = (n) => (n === 0 ? answer : OK_ANSWER);
      peer.finAnswer = (n) => n !== 0; // left open: the client's STOP_SENDING then reaches a stream still sending
    });
    t.deepEqual(await clientGet(ct), reset('H3_MESSAGE_ERROR'));
    t.deepEqual(await clientVerdict(ct), OPEN);
  });
}

test('RFC 9114 §4.1.2: a response body shorter than content-length at the FIN is malformed: the client fails the stream with H3_MESSAGE_ERROR', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? bytes(okHead([['content-length', '5']]), data('ok')) : OK_ANSWER);
  });
  t.deepEqual(await clientGet(ct, { wire: false }), reset('H3_MESSAGE_ERROR'));
  t.deepEqual(await clientVerdict(ct), OPEN);
});

test('RFC 9114 §4.1: a DATA frame after the response trailers is H3_FRAME_UNEXPECTED (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? bytes(okHead(), data('ok'), headers([['x-t', '1']]), data('late')) : OK_ANSWER);
  });
  t.deepEqual(await clientVerdict(ct), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §4.2.2: a response field section over the client\'s own SETTINGS_MAX_FIELD_SECTION_SIZE (300) is a stream error, the connection goes on', async (t) => {
  const ct = await probeClient(
    t,
    (peer) => {
      peer.answer = (n) => (n === 0 ? okHead([['x-big', 'b'.repeat(1000)]]) : OK_ANSWER);
      peer.finAnswer = (n) => n !== 0;
    },
    { maxFieldSectionSize: 300 },
  );
  const got = await clientGet(ct);
  t.true(got.kind === 'reset' && BOUNDED_STREAM.includes(got.code), JSON.stringify(got));
  t.deepEqual(await clientVerdict(ct), OPEN);
});

test('RFC 9114 §7.2.4.1: the HTTP/2 setting 0x03 in the server\'s SETTINGS is H3_SETTINGS_ERROR (client)', async (t) => {
  const ct = await probeClient(t, (peer) => peer.openControl(settings([0x03, 100])), { control: false });
  t.deepEqual(await clientVerdict(ct), close('H3_SETTINGS_ERROR'));
});

test('RFC 9204 §4.3.2, §3.2.3: an insertion on the server\'s encoder stream, the client\'s capacity being 0, is QPACK_ENCODER_STREAM_ERROR (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.beforeAnswer = (n) => {
      if (n === 0) peer.openUni(S.ENCODER, hex('43 616263 03 78797a'));
    };
  });
  t.deepEqual(await clientVerdict(ct), close('QPACK_ENCODER_STREAM_ERROR'));
});

// Found by this probe and fixed: the client's side of the negative-Base probe above: decodeFieldSection ignored
// the Sign bit and Delta Base, so the response was accepted; RFC 9204 §4.5.1.2 makes the block invalid:
// QPACK_DECOMPRESSION_FAILED.
test('RFC 9204 §4.5.1.2: a response whose field section has a negative Base is QPACK_DECOMPRESSION_FAILED (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? bytes(headersBlock(bytes(hex('0081'), encodeFieldSection([[':status', '200'], ['content-length', '2']]).subarray(2))), data('ok')) : OK_ANSWER);
  });
  t.deepEqual(await clientVerdict(ct), close('QPACK_DECOMPRESSION_FAILED'));
});
