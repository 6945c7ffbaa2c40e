/**
 * HTTP/3 (RFC 9114) and QPACK (RFC 9204) error handling, probed on the wire as an adversarial suite (h3spec
 * style) would: a hand-driven QUIC peer on 127.0.0.1 sends what a broken or hostile peer sends, byte for byte,
 * to rxtls's `serveH3` (most probes) or `h3Connect`/`h3Request` (the probes only a server can send), and each
 * test asserts what RFC 9114 / RFC 9204 require to come back: the application error code of the CONNECTION_CLOSE
 * for a connection error, the RESET_STREAM (or STOP_SENDING) code for a stream error, and nothing at all for
 * what must be ignored.
 *
 * How an outcome is read, without timing: after a probe the peer sends a GET and waits for its answer, then a
 * second GET after that answer. The probe went out before the first GET, so by the second answer the probed
 * end has handled it: a connection error has closed the connection (the GET sees the CONNECTION_CLOSE), and
 * two answered GETs on a connection still open mean the probe was ignored (`{ kind: 'open' }`). The close's code
 * is read from the probing peer's qlog `connection_closed` event (owner `remote`: the CONNECTION_CLOSE as it
 * arrived), since `closed$` reports it only after the draining period. Bounds (`BOUND`) only keep a broken run
 * from hanging; no assertion depends on them.
 *
 * Probes that found a deviation from RFC 9114 / RFC 9204 in rxtls when they were written say so in a comment
 * before them (`Found by this probe and fixed: …`); they assert the RFC behaviour, which rxtls now has.
 */
import test, { type ExecutionContext } from 'ava';
import { H3ErrorCode, h3ErrorName } from '../../src/h3/errors.js';
import { H3FrameReader } from '../../src/h3/frames.js';
import { encodeFieldSection, type H3Field } from '../../src/h3/qpack.js';
import { concatBytes } from '../../src/wire/bytes.js';
import {
  BOUND,
  BOUNDED_STREAM,
  F,
  GET,
  GREASE_MAX_N,
  OK,
  OPEN,
  POST_ECHO,
  S,
  bytes,
  cancelPush,
  clientGet,
  clientVerdict,
  close,
  data,
  delay,
  frame,
  frameHeader,
  get,
  goaway,
  grease,
  headers,
  headersBlock,
  hex,
  maxPushId,
  probeClient,
  probeServer,
  reset,
  settings,
  utf8,
  varint,
} from '../helpers/h3Probe.js';

// =========================================================================================================
// 0. The baseline: the probing peer and rxtls agree when nobody misbehaves.

test('baseline: a well-behaved peer gets two answers and the connection stays open (server and client)', async (t) => {
  const peer = await probeServer(t);
  t.deepEqual(await peer.verdict(), OPEN);
  const ct = await probeClient(t);
  t.deepEqual(await clientVerdict(ct), OPEN);
});

test('RFC 9114 §7.2.4.1: the server advertises SETTINGS_MAX_FIELD_SECTION_SIZE, a QPACK table capacity of 0 and no blocked streams', async (t) => {
  const peer = await probeServer(t);
  const control = await peer.uniOfType(S.CONTROL);
  let found: ReadonlyMap<number, number> | undefined;
  for (let waited = 0; !found && waited < BOUND; waited += 20) {
    const events = new H3FrameReader({ maxFieldSection: 0 }).push(concatBytes(control.chunks));
    const first = events[0];
    if (first?.type === 'frame' && first.frame.type === 'settings') found = first.frame.settings;
    else await delay(20, undefined);
  }
  t.truthy(found, 'the control stream starts with SETTINGS');
  t.is(found?.get(0x06), 16_384);
  t.is(found?.get(0x01) ?? 0, 0);
  t.is(found?.get(0x07) ?? 0, 0);
});

// =========================================================================================================
// 1. The control stream (RFC 9114 §6.2.1, §7.2).

test('RFC 9114 §6.2.1: a second control stream is H3_STREAM_CREATION_ERROR', async (t) => {
  const peer = await probeServer(t);
  peer.openControl(settings());
  t.deepEqual(await peer.verdict(), close('H3_STREAM_CREATION_ERROR'));
});

test('RFC 9114 §6.2.1: the control stream closed (FIN) is H3_CLOSED_CRITICAL_STREAM', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings()).end();
  t.deepEqual(await peer.verdict(), close('H3_CLOSED_CRITICAL_STREAM'));
});

test('RFC 9114 §6.2.1: the control stream reset (RESET_STREAM) is H3_CLOSED_CRITICAL_STREAM', async (t) => {
  const peer = await probeServer(t, { control: false });
  const control = peer.openControl(settings());
  t.deepEqual(await peer.get(), OK); // the stream and its type are in before the reset
  control.reset(H3ErrorCode.H3_NO_ERROR);
  t.deepEqual(await peer.verdict(), close('H3_CLOSED_CRITICAL_STREAM'));
});

for (const [what, first] of [
  ['GOAWAY', goaway(0)],
  ['MAX_PUSH_ID', maxPushId(0)],
  ['CANCEL_PUSH', cancelPush(0)],
] as const) {
  test(`RFC 9114 §6.2.1: a control stream that starts with ${what}, not SETTINGS, is H3_MISSING_SETTINGS`, async (t) => {
    const peer = await probeServer(t, { control: false });
    peer.openControl(first, settings());
    t.deepEqual(await peer.verdict(), close('H3_MISSING_SETTINGS'));
  });
}

test('RFC 9114 §6.2.1, §7.2.1: a control stream that starts with DATA is a connection error (H3_MISSING_SETTINGS, or H3_FRAME_UNEXPECTED for DATA there)', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(data('x'), settings());
  const got = await peer.verdict();
  t.true(got.kind === 'close' && (got.code === 'H3_MISSING_SETTINGS' || got.code === 'H3_FRAME_UNEXPECTED'), JSON.stringify(got));
});

// Found by this probe and fixed: a reserved (grease) frame before SETTINGS was skipped by the frame reader and never
// seen by the control-stream parser, so the "first frame" check did not apply to it. (§6.2.1 says "any other frame
// type"; §7.2.8 says reserved frames have no meaning: the strict reading, which this test takes, is H3_MISSING_SETTINGS.)
test('RFC 9114 §6.2.1: a control stream whose first frame is a reserved type (0x21), SETTINGS after it, is H3_MISSING_SETTINGS', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(frame(grease(0), utf8('pad')), settings());
  t.deepEqual(await peer.verdict(), close('H3_MISSING_SETTINGS'));
});

test('RFC 9114 §7.2.4: a second SETTINGS on the control stream is H3_FRAME_UNEXPECTED', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), settings([0x06, 1000]));
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §7.2.1: DATA on the control stream is H3_FRAME_UNEXPECTED', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), data('hello'));
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

// Found by this probe and fixed: the control stream's frame reader was made with maxFieldSection 0, so a HEADERS
// frame with any payload was refused by size first: H3_EXCESSIVE_LOAD instead of H3_FRAME_UNEXPECTED.
test('RFC 9114 §7.2.2: HEADERS (a real field section) on the control stream is H3_FRAME_UNEXPECTED', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), headers(GET));
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §7.2.2: an empty HEADERS frame on the control stream is H3_FRAME_UNEXPECTED', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), frame(F.HEADERS));
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

// Found by this probe and fixed: the same cause as HEADERS above gave H3_EXCESSIVE_LOAD instead of H3_FRAME_UNEXPECTED.
test('RFC 9114 §7.2.5: PUSH_PROMISE on the control stream is H3_FRAME_UNEXPECTED', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), frame(F.PUSH_PROMISE, bytes(varint(0), encodeFieldSection(GET))));
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

for (const type of [0x02, 0x06, 0x08, 0x09]) {
  test(`RFC 9114 §7.2.8: the HTTP/2 frame type 0x0${type} on the control stream is H3_FRAME_UNEXPECTED`, async (t) => {
    const peer = await probeServer(t, { control: false });
    peer.openControl(settings(), frame(type, new Uint8Array(8)));
    t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
  });
}

test('RFC 9114 §7.2.3: CANCEL_PUSH from a client for a push never promised is H3_ID_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), maxPushId(10), cancelPush(3));
  t.deepEqual(await peer.verdict(), close('H3_ID_ERROR'));
});

// Found by this probe and fixed: the control-stream parser ignored MAX_PUSH_ID from a client altogether (no push
// support), so a reduction was not detected.
test('RFC 9114 §7.2.7: a MAX_PUSH_ID smaller than the previous one is H3_ID_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), maxPushId(10), maxPushId(5));
  t.deepEqual(await peer.verdict(), close('H3_ID_ERROR'));
});

test('RFC 9114 §5.2: a client\'s GOAWAY ids (push ids) may shrink but not grow: 8 then 4 is fine, then 12 is H3_ID_ERROR', async (t) => {
  const ok = await probeServer(t, { control: false });
  ok.openControl(settings(), goaway(8), goaway(4));
  t.deepEqual(await ok.verdict(), OPEN);
  const bad = await probeServer(t, { control: false });
  bad.openControl(settings(), goaway(8), goaway(12));
  t.deepEqual(await bad.verdict(), close('H3_ID_ERROR'));
});

// Found by this probe and fixed: GOAWAY's id was read with Reader.varint, which refuses values above 2^53 − 1:
// H3_FRAME_ERROR for the value RFC 9114 §5.2 names for a client's graceful shutdown.
test('RFC 9114 §5.2: a client\'s GOAWAY with 2^62 − 1 (the graceful-shutdown value) is accepted', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), goaway((1n << 62n) - 1n));
  t.deepEqual(await peer.verdict(), OPEN);
});

// Found by this probe and fixed: as with GOAWAY, a push id above 2^53 − 1 was H3_FRAME_ERROR, though push ids run
// to 2^62 − 1.
test('RFC 9114 §7.2.7: MAX_PUSH_ID 2^62 − 1 (a valid push id) is accepted', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), maxPushId((1n << 62n) - 1n));
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §7.2.8, §9: reserved and unknown frame types on the control stream after SETTINGS are ignored', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings(), frame(grease(0)), frame(grease(7), utf8('abc')), frame(grease(GREASE_MAX_N), utf8('x')), frame(0x2f, utf8('unknown')));
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 2. SETTINGS (RFC 9114 §7.2.4, §7.2.4.1).

test('RFC 9114 §7.2.4: a setting identifier repeated in SETTINGS is H3_SETTINGS_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([0x06, 1000], [0x06, 2000]));
  t.deepEqual(await peer.verdict(), close('H3_SETTINGS_ERROR'));
});

for (const id of [0x02, 0x03, 0x04, 0x05]) {
  test(`RFC 9114 §7.2.4.1: the HTTP/2 setting 0x0${id} in SETTINGS is H3_SETTINGS_ERROR`, async (t) => {
    const peer = await probeServer(t, { control: false });
    peer.openControl(settings([id, 1]));
    t.deepEqual(await peer.verdict(), close('H3_SETTINGS_ERROR'));
  });
}

test('RFC 9114 §7.2.4.1, §9: reserved (0x1f·N + 0x21) and unknown setting identifiers are ignored', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([grease(0), 1], [grease(1), 0], [grease(1000), (1n << 62n) - 1n], [0x4242, 7], [0x06, 1 << 20], [grease(GREASE_MAX_N), 3]));
  t.deepEqual(await peer.verdict(), OPEN);
});

// Found by this probe and fixed: setting identifiers were clamped to 2^53 − 1 before the duplicate check, so two
// different identifiers above 2^53 (reserved ones, which must be ignored) collided and read as a repeated setting.
test('RFC 9114 §7.2.4.1: two different reserved setting identifiers above 2^53 are ignored, not a repeated setting', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([grease(GREASE_MAX_N), 1], [grease(GREASE_MAX_N - 1n), 2]));
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 3. Request streams (RFC 9114 §4.1, §7).

for (const type of [0x02, 0x06, 0x08, 0x09]) {
  test(`RFC 9114 §7.2.8: the HTTP/2 frame type 0x0${type} on a request stream is H3_FRAME_UNEXPECTED`, async (t) => {
    const peer = await probeServer(t);
    peer.request$([headers(GET), frame(type, new Uint8Array(4))]);
    t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
  });
}

test('RFC 9114 §7.2.3: CANCEL_PUSH (0x03) on a request stream is H3_FRAME_UNEXPECTED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headers(GET), cancelPush(0)]);
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §4.1: DATA before HEADERS on a request stream is H3_FRAME_UNEXPECTED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([data('early'), headers(GET)]);
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

for (const [what, bad] of [
  ['SETTINGS', settings()],
  ['GOAWAY', goaway(0)],
  ['MAX_PUSH_ID', maxPushId(0)],
  ['PUSH_PROMISE', frame(F.PUSH_PROMISE, bytes(varint(0), encodeFieldSection(GET)))],
] as const) {
  test(`RFC 9114 §7.2: ${what} on a request stream (from a client) is H3_FRAME_UNEXPECTED`, async (t) => {
    const peer = await probeServer(t);
    peer.request$([headers(GET), bad]);
    t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
  });
}

for (const [what, parts] of [
  ['a DATA frame', [headers(GET), frameHeader(F.DATA, 10), utf8('abc')]],
  ['the HEADERS frame', [frameHeader(F.HEADERS, 50), encodeFieldSection(GET)]],
  ['a frame header', [headers(GET), Uint8Array.of(0x40)]],
  ['a reserved-type frame', [headers(GET), frameHeader(grease(3), 20), utf8('short')]],
] as const) {
  test(`RFC 9114 §7.1: the request stream's FIN inside ${what} is H3_FRAME_ERROR`, async (t) => {
    const peer = await probeServer(t);
    peer.request$([...parts]);
    t.deepEqual(await peer.verdict(), close('H3_FRAME_ERROR'));
  });
}

test('RFC 9114 §7.2.8, §9: reserved and unknown frame types on a request stream, before, between and after, are ignored', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([
    frame(grease(0), utf8('before')),
    headers(POST_ECHO),
    frame(grease(1000)),
    data('hello '),
    frame(grease(GREASE_MAX_N), utf8('between')),
    frame(0x2f, utf8('unknown')),
    data('world'),
    frame(grease(5), utf8('after')),
  ]);
  t.deepEqual(await peer.outcome(s), { kind: 'response', status: 200, body: 'hello world' });
  t.deepEqual(await peer.verdict(), OPEN);
});

const malformed: [string, H3Field[]][] = [
  ['no :method', [[':scheme', 'https'], [':authority', 'localhost'], [':path', '/']]],
  ['no :scheme', [[':method', 'GET'], [':authority', 'localhost'], [':path', '/']]],
  ['no :path', [[':method', 'GET'], [':scheme', 'https'], [':authority', 'localhost']]],
  ['an empty :path', [[':method', 'GET'], [':scheme', 'https'], [':authority', 'localhost'], [':path', '']]],
  ['two :path', get([[':path', '/again']])],
  ['an unknown pseudo-header :foo', get([[':foo', 'bar']])],
  ['the response pseudo-header :status', get([[':status', '200']])],
  ['an uppercase field name', get([['X-Upper', '1']])],
  ['an uppercase pseudo-header name', [[':method', 'GET'], [':Scheme', 'https'], [':authority', 'localhost'], [':path', '/']]],
  ['a pseudo-header after a regular field', [[':method', 'GET'], ['x-a', '1'], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/']]],
  ['connection: close', get([['connection', 'close']])],
  ['transfer-encoding: chunked', get([['transfer-encoding', 'chunked']])],
  ['keep-alive', get([['keep-alive', 'timeout=5']])],
  ['upgrade', get([['upgrade', 'h2c']])],
  ['proxy-connection', get([['proxy-connection', 'keep-alive']])],
  ['te other than trailers', get([['te', 'gzip']])],
  ['a space in a field name', get([['x y', '1']])],
  ['an empty field name', get([['', '1']])],
  ['a NUL in a field value', get([['x-a', 'a\0b']])],
  ['a CR in a field value', get([['x-a', 'a\rb']])],
  ['a LF in a field value', get([['x-a', 'a\nb']])],
];
for (const [what, fields] of malformed) {
  test(`RFC 9114 §4.1.2, §4.2, §4.3: a request with ${what} is malformed: RESET_STREAM H3_MESSAGE_ERROR, the connection goes on`, async (t) => {
    const peer = await probeServer(t);
    t.deepEqual(await peer.outcome(peer.request$([headers(fields)])), reset('H3_MESSAGE_ERROR'));
    t.deepEqual(await peer.verdict(), OPEN);
  });
}

// Found by this probe and fixed: field values were checked for NUL, CR and LF only; other control characters,
// which the field-content rule (RFC 9110 §5.5) does not permit, passed. RFC 9114 §10.3 makes any character outside
// field-content malformed (stricter than RFC 9110 §5.5, which lets a recipient keep other CTLs).
for (const [what, value] of [
  ['a control character (0x01)', 'a\x01b'],
  ['DEL (0x7f)', 'a\x7fb'],
] as const) {
  test(`RFC 9114 §10.3, §4.1.2: a request whose field value has ${what} is malformed: RESET_STREAM H3_MESSAGE_ERROR`, async (t) => {
    const peer = await probeServer(t);
    t.deepEqual(await peer.outcome(peer.request$([headers(get([['x-a', value]]))])), reset('H3_MESSAGE_ERROR'));
    t.deepEqual(await peer.verdict(), OPEN);
  });
}

test('RFC 9114 §4.1.2: a body longer than content-length is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([headers([...POST_ECHO, ['content-length', '3']]), data('abcdef')]);
  t.deepEqual(await peer.outcome(s), reset('H3_MESSAGE_ERROR'));
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.1.2, §4.3: a pseudo-header in trailers is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([headers(POST_ECHO), data('x'), headers([[':path', '/t']])]);
  t.deepEqual(await peer.outcome(s), reset('H3_MESSAGE_ERROR'));
  t.deepEqual(await peer.verdict(), OPEN);
});

// Found by this probe and fixed: `requestHead` refused every CONNECT as malformed, the well-formed one of §4.4 (no
// :scheme, no :path) included. A server without tunnels answers it (501/405) or refuses it, but it is not malformed.
test('RFC 9114 §4.4: a well-formed CONNECT (:method, :authority, no :scheme or :path) is not treated as malformed', async (t) => {
  const peer = await probeServer(t);
  const got = await peer.outcome(peer.request$([headers([[':method', 'CONNECT'], [':authority', 'example.com:443']])]));
  t.true(got.kind === 'response' || (got.kind === 'reset' && got.code !== 'H3_MESSAGE_ERROR'), JSON.stringify(got));
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 4. Unidirectional streams (RFC 9114 §6.2, RFC 9204 §4.2).

test('RFC 9114 §6.2: unknown and reserved stream types are ignored (at most STOP_SENDING with H3_STREAM_CREATION_ERROR)', async (t) => {
  const peer = await probeServer(t);
  const unknown = [peer.openUni(grease(0), utf8('grease')), peer.openUni(0x54, utf8('unknown')), peer.openUni(grease(GREASE_MAX_N), utf8('big'))];
  const stopped = new Map<number, string>();
  for (const s of unknown) s.writeStopped$.subscribe((e) => e.detail.kind === 'quicStreamReset' && !e.detail.local && stopped.set(s.id, h3ErrorName(e.detail.code)));
  t.deepEqual(await peer.verdict(), OPEN);
  t.log(`STOP_SENDING on ${stopped.size} of ${unknown.length} streams: ${[...stopped.values()].join(', ')}`);
  for (const [id, code] of stopped) t.is(code, 'H3_STREAM_CREATION_ERROR', `STOP_SENDING on stream ${id}`);
});

test('RFC 9114 §6.2.2: a push stream opened by a client is H3_STREAM_CREATION_ERROR', async (t) => {
  const peer = await probeServer(t);
  peer.openUni(S.PUSH, varint(0), headers([[':status', '200']]));
  t.deepEqual(await peer.verdict(), close('H3_STREAM_CREATION_ERROR'));
});

for (const [what, type] of [
  ['encoder', S.ENCODER],
  ['decoder', S.DECODER],
] as const) {
  test(`RFC 9204 §4.2: a second QPACK ${what} stream is H3_STREAM_CREATION_ERROR`, async (t) => {
    const peer = await probeServer(t);
    peer.openUni(type);
    peer.openUni(type);
    t.deepEqual(await peer.verdict(), close('H3_STREAM_CREATION_ERROR'));
  });

  test(`RFC 9204 §4.2: the QPACK ${what} stream closed (FIN) is H3_CLOSED_CRITICAL_STREAM`, async (t) => {
    const peer = await probeServer(t);
    peer.openUni(type).end();
    t.deepEqual(await peer.verdict(), close('H3_CLOSED_CRITICAL_STREAM'));
  });

  test(`RFC 9204 §4.2: the QPACK ${what} stream reset is H3_CLOSED_CRITICAL_STREAM`, async (t) => {
    const peer = await probeServer(t);
    const s = peer.openUni(type);
    t.deepEqual(await peer.get(), OK); // the stream and its type are in before the reset
    s.reset(H3ErrorCode.H3_NO_ERROR);
    t.deepEqual(await peer.verdict(), close('H3_CLOSED_CRITICAL_STREAM'));
  });
}

// Found by this probe and fixed: the session never watched its own critical streams' sending half
// (`writeStopped$`): a peer's STOP_SENDING on our control or QPACK stream (which makes QUIC reset it) went
// unnoticed, and the connection carried on without the stream.
for (const [what, type] of [
  ['control', S.CONTROL],
  ['QPACK encoder', S.ENCODER],
  ['QPACK decoder', S.DECODER],
] as const) {
  test(`RFC 9114 §6.2.1, RFC 9204 §4.2: STOP_SENDING on the server's own ${what} stream (closing it) is H3_CLOSED_CRITICAL_STREAM`, async (t) => {
    const peer = await probeServer(t);
    const theirs = await peer.uniOfType(type);
    theirs.stream.stopSending(H3ErrorCode.H3_NO_ERROR);
    t.deepEqual(await peer.verdict(), close('H3_CLOSED_CRITICAL_STREAM'));
  });
}

// =========================================================================================================
// 5. QPACK (RFC 9204 §2.2, §4, §6) with the server's table capacity of 0.

for (const [what, block] of [
  ['an indexed field line into the dynamic table', '0000 80'],
  ['a literal with a dynamic-table name reference', '0000 4000'],
  ['an indexed field line with a post-base index', '0000 10'],
  ['a literal with a post-base name reference', '0000 0000'],
] as const) {
  test(`RFC 9204 §3.2.3, §2.2.3: ${what} with a dynamic table capacity of 0 is QPACK_DECOMPRESSION_FAILED`, async (t) => {
    const peer = await probeServer(t);
    peer.request$([headersBlock(hex(block))]);
    t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
  });
}

test('RFC 9204 §4.5.1.1: a Required Insert Count other than 0 with no dynamic table is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headersBlock(bytes(hex('0100'), encodeFieldSection(GET).subarray(2)))]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

for (const [what, block] of [
  ['an indexed field line', '0000 ff24'], // 63 + 36 = 99
  ['a literal with a name reference', '0000 5f54 00'], // 15 + 84 = 99
  ['an indexed field line (index 2^40)', '0000 ff 81 80 80 80 80 20'],
] as const) {
  test(`RFC 9204 §3.1, §4.5.2: a static table index of 99 or more in ${what} is QPACK_DECOMPRESSION_FAILED`, async (t) => {
    const peer = await probeServer(t);
    peer.request$([headersBlock(hex(block))]);
    t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
  });
}

for (const [what, block] of [
  ['RFC 9204 §4.1.2, RFC 7541 §5.2: a Huffman string with the EOS symbol', '0000 51 84 ffffffff'],
  ['RFC 9204 §4.1.2, RFC 7541 §5.2: a Huffman string with padding that is not all ones', '0000 51 81 18'], // "a" (00011) then 000
  ['RFC 9204 §4.1.2, RFC 7541 §5.2: a Huffman string with padding longer than 7 bits', '0000 51 82 1fff'], // "a" + 111, then 8 more ones
  ['RFC 9204 §4.1.1: an index that overflows 62 bits', '0000 ff ffffffffffffffffff 7f'],
  ['RFC 9204 §4.1.1: a string length that overflows 62 bits', '0000 51 7f ffffffffffffffffff 7f'],
  ['RFC 9204 §4.1.1: the Required Insert Count that overflows 62 bits', 'ff ffffffffffffffffff 7f 00 d1'],
] as const) {
  test(`${what} is QPACK_DECOMPRESSION_FAILED`, async (t) => {
    const peer = await probeServer(t);
    peer.request$([headersBlock(hex(block))]);
    t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
  });
}

test('RFC 9204 §4.5: a string literal running past the end of the field section is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headersBlock(hex('0000 51 0a 2f61'))]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

test('RFC 9204 §4.3.1: Set Dynamic Table Capacity 0 on the encoder stream is accepted', async (t) => {
  const peer = await probeServer(t);
  peer.openUni(S.ENCODER, Uint8Array.of(0x20));
  t.deepEqual(await peer.verdict(), OPEN);
});

for (const [what, instr] of [
  ['1', '21'],
  ['4096', '3f e1 1f'],
] as const) {
  test(`RFC 9204 §4.3.1, §3.2.3: Set Dynamic Table Capacity ${what}, above the 0 we sent, is QPACK_ENCODER_STREAM_ERROR`, async (t) => {
    const peer = await probeServer(t);
    peer.openUni(S.ENCODER, hex(instr));
    t.deepEqual(await peer.verdict(), close('QPACK_ENCODER_STREAM_ERROR'));
  });
}

test('RFC 9204 §4.3.2: an insertion on the encoder stream with a capacity of 0 is QPACK_ENCODER_STREAM_ERROR', async (t) => {
  const peer = await probeServer(t);
  peer.openUni(S.ENCODER, hex('c1 03 616263')); // Insert With Name Reference: static 1 (:path), "abc"
  t.deepEqual(await peer.verdict(), close('QPACK_ENCODER_STREAM_ERROR'));
});

for (const [what, instr] of [
  ['a Section Acknowledgment (nothing was sent with the dynamic table)', '80'],
  ['an Insert Count Increment (nothing was inserted)', '01'],
  ['an Insert Count Increment of 0', '00'],
] as const) {
  test(`RFC 9204 §4.4: ${what} on the decoder stream is QPACK_DECODER_STREAM_ERROR`, async (t) => {
    const peer = await probeServer(t);
    peer.openUni(S.DECODER, hex(instr));
    t.deepEqual(await peer.verdict(), close('QPACK_DECODER_STREAM_ERROR'));
  });
}

test('RFC 9204 §4.4.2: a Stream Cancellation on the decoder stream is accepted', async (t) => {
  const peer = await probeServer(t);
  peer.openUni(S.DECODER, hex('44'));
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 6. Resource bounds (RFC 9114 §4.2.2, §7.1, §10.5).

test('RFC 9114 §4.2.2, §10.5: a HEADERS frame declared far above the advertised field section size is refused before it is buffered', async (t) => {
  const peer = await probeServer(t);
  // Declares 1 MB, sends 20 kB and no FIN: an answer can only come from refusing it on the declared length.
  const s = peer.request$([frameHeader(F.HEADERS, 1_000_000), new Uint8Array(20_000)], false);
  const got = await peer.outcome(s);
  t.true((got.kind === 'reset' && BOUNDED_STREAM.includes(got.code)) || (got.kind === 'close' && got.code === 'H3_EXCESSIVE_LOAD'), JSON.stringify(got));
  if (got.kind === 'reset') t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.2.2: a small HEADERS frame that decodes above the advertised field section size is refused (stream error or 431)', async (t) => {
  const peer = await probeServer(t);
  // 600 indexed lines of static entry 31 (accept-encoding: gzip, deflate, br): 600 bytes, 600 × 64 = 38400 decoded.
  const block = bytes(hex('0000'), encodeFieldSection(GET).subarray(2), new Uint8Array(600).fill(0xdf));
  const got = await peer.outcome(peer.request$([headersBlock(block)]));
  t.true((got.kind === 'reset' && BOUNDED_STREAM.includes(got.code)) || (got.kind === 'response' && got.status === 431) || (got.kind === 'close' && got.code === 'H3_EXCESSIVE_LOAD'), JSON.stringify(got));
});

for (const [what, head] of [
  ['a DATA frame', [headers(POST_ECHO), frameHeader(F.DATA, (1n << 62n) - 1n)]],
  ['a reserved-type frame', [headers(GET), frameHeader(grease(2), (1n << 62n) - 1n)]],
  ['a HEADERS frame', [frameHeader(F.HEADERS, (1n << 62n) - 1n)]],
] as const) {
  test(`RFC 9114 §7.1: ${what} declaring 2^62 − 1 bytes is a frame error (or excess load), not a buffer that grows`, async (t) => {
    const peer = await probeServer(t);
    const got = await peer.outcome(peer.request$([...head, new Uint8Array(1000)]));
    t.true(
      (got.kind === 'close' && (got.code === 'H3_FRAME_ERROR' || got.code === 'H3_EXCESSIVE_LOAD')) || (got.kind === 'reset' && BOUNDED_STREAM.includes(got.code)),
      JSON.stringify(got),
    );
  });
}

// =========================================================================================================
// 7. What only a server sends: rxtls as the client (RFC 9114 §4.6, §5.2, §6, §7.2).

test('RFC 9114 §4.6, §6.2.2: a push stream from a server the client sent no MAX_PUSH_ID is H3_ID_ERROR', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.beforeAnswer = (n) => {
      if (n === 0) peer.openUni(S.PUSH, varint(0), headers([[':status', '200']]));
    };
  });
  t.deepEqual(await clientVerdict(ct), close('H3_ID_ERROR'));
});

test('RFC 9114 §7.2.5: a PUSH_PROMISE on a response when the client sent no MAX_PUSH_ID is H3_ID_ERROR', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? bytes(frame(F.PUSH_PROMISE, bytes(varint(0), encodeFieldSection(GET))), headers([[':status', '200'], ['content-length', '2']]), data('ok')) : bytes(headers([[':status', '200'], ['content-length', '2']]), data('ok')));
  });
  t.deepEqual(await clientVerdict(ct), close('H3_ID_ERROR'));
});

/** The client's verdict when the server's control stream (after its SETTINGS) carries `frame` before the first answer. */
async function serverControlFrameVerdict(t: ExecutionContext, frame: Uint8Array, requests = 2) {
  const ct = await probeClient(t, (peer) => {
    const control = peer.openControl(settings());
    peer.beforeAnswer = (n) => {
      if (n === 0) control.write(frame);
    };
  }, { control: false });
  return clientVerdict(ct, requests);
}

test('RFC 9114 §7.2.3: CANCEL_PUSH from a server for a push the client never allowed is H3_ID_ERROR', async (t) => {
  t.deepEqual(await serverControlFrameVerdict(t, cancelPush(0)), close('H3_ID_ERROR'));
});

test('RFC 9114 §7.2.7: MAX_PUSH_ID from a server is H3_FRAME_UNEXPECTED', async (t) => {
  t.deepEqual(await serverControlFrameVerdict(t, maxPushId(4)), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §6.1: a bidirectional stream opened by the server is H3_STREAM_CREATION_ERROR', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.beforeAnswer = (n) => {
      if (n === 0) peer.conn.openStream().write(headers(GET));
    };
  });
  t.deepEqual(await clientVerdict(ct), close('H3_STREAM_CREATION_ERROR'));
});

for (const id of [1, 2, 3, 6]) {
  test(`RFC 9114 §5.2, §7.2.6: a server's GOAWAY with id ${id}, not a client-initiated bidirectional stream id, is H3_ID_ERROR`, async (t) => {
    t.deepEqual(await serverControlFrameVerdict(t, goaway(id), 1), close('H3_ID_ERROR'));
  });
}

test('RFC 9114 §5.2: a server\'s second GOAWAY with a larger id is H3_ID_ERROR', async (t) => {
  t.deepEqual(await serverControlFrameVerdict(t, bytes(goaway(8), goaway(12)), 1), close('H3_ID_ERROR'));
});

test('RFC 9114 §5.2: a server\'s GOAWAY ids may shrink (8, then 4): the request on stream 0 is still answered', async (t) => {
  t.deepEqual(await serverControlFrameVerdict(t, bytes(goaway(8), goaway(4)), 1), OPEN);
});

// Found by this probe and fixed: GOAWAY's id was read with Reader.varint, which refuses values above 2^53 − 1: the
// client closed with H3_FRAME_ERROR on the graceful-shutdown GOAWAY that RFC 9114 §5.2 recommends.
test('RFC 9114 §5.2: a server\'s GOAWAY with 2^62 − 4 (the graceful-shutdown value) is accepted: the request on stream 0 is answered', async (t) => {
  t.deepEqual(await serverControlFrameVerdict(t, goaway((1n << 62n) - 4n), 1), OPEN);
});

test('RFC 9114 §6.2.1: a second SETTINGS from the server is H3_FRAME_UNEXPECTED (client)', async (t) => {
  t.deepEqual(await serverControlFrameVerdict(t, settings()), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §6.2.1: the server\'s control stream closed is H3_CLOSED_CRITICAL_STREAM (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    const control = peer.openControl(settings());
    peer.beforeAnswer = (n) => {
      if (n === 0) control.end();
    };
  }, { control: false });
  t.deepEqual(await clientVerdict(ct), close('H3_CLOSED_CRITICAL_STREAM'));
});

// Found by this probe and fixed: as on the server, the client's session did not watch its own control stream's
// sending half.
test('RFC 9114 §6.2.1: STOP_SENDING on the client\'s own control stream (closing it) is H3_CLOSED_CRITICAL_STREAM (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.beforeAnswer = (n) => {
      if (n === 0) void peer.uniOfType(S.CONTROL).then((r) => r.stream.stopSending(H3ErrorCode.H3_NO_ERROR));
    };
  });
  t.deepEqual(await clientVerdict(ct), close('H3_CLOSED_CRITICAL_STREAM'));
});

test('RFC 9114 §6.2: an unknown stream type from the server is ignored (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.beforeAnswer = (n) => {
      if (n === 0) peer.openUni(grease(3), utf8('grease'));
    };
  });
  t.deepEqual(await clientVerdict(ct), OPEN);
});

test('RFC 9204 §2.2.3: a response field section referencing the dynamic table is QPACK_DECOMPRESSION_FAILED (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = () => headersBlock(hex('0000 80'));
  });
  t.deepEqual(await clientVerdict(ct), close('QPACK_DECOMPRESSION_FAILED'));
});

test('RFC 9114 §4.1: DATA before the response HEADERS is H3_FRAME_UNEXPECTED (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = () => bytes(data('early'), headers([[':status', '200']]));
  });
  t.deepEqual(await clientVerdict(ct), close('H3_FRAME_UNEXPECTED'));
});

for (const [what, fields] of [
  ['an uppercase field name', [[':status', '200'], ['X-Upper', '1']]],
  ['no :status', [['x-a', '1']]],
  ['a request pseudo-header', [[':status', '200'], [':path', '/']]],
  ['a connection-specific field', [[':status', '200'], ['connection', 'close']]],
] as [string, H3Field[]][]) {
  test(`RFC 9114 §4.1.2: a response with ${what} is malformed: the client resets the stream with H3_MESSAGE_ERROR`, async (t) => {
    const ct = await probeClient(t, (peer) => {
      peer.answer = (n) => (n === 0 ? headers(fields) : bytes(headers([[':status', '200'], ['content-length', '2']]), data('ok')));
      peer.finAnswer = (n) => n !== 0; // left open: the client's STOP_SENDING then reaches a stream still sending
    });
    t.deepEqual(await clientGet(ct), reset('H3_MESSAGE_ERROR'));
    t.deepEqual(await clientVerdict(ct), OPEN);
  });
}
