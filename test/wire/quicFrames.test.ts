import test from 'ava';
import fc from 'fast-check';
import { decodeFrames, encodeFrame, FrameError, TransportError, type Frame, type PacketSpace } from '../../src/wire/quic/frames.js';
import { decodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { encodeWith } from '../../src/wire/writer.js';
import { hex } from '../vectors/hex.js';
import * as v from '../vectors/rfc9001.js';

const encodeAll = (frames: readonly Frame[]) => encodeWith((w) => frames.forEach((f) => encodeFrame(w, f)));

test('RFC 9001 §A.2: the client Initial payload is a CRYPTO frame carrying the ClientHello, then PADDING', (t) => {
  const payload = new Uint8Array(v.clientInitial.payloadLength);
  payload.set(v.clientInitial.cryptoFrame);
  const frames = decodeFrames(payload, 'initial');
  t.is(frames.length, 2);
  const [crypto, padding] = frames;
  if (crypto?.type !== 'crypto') return t.fail('a CRYPTO frame first');
  t.is(crypto.offset, 0);
  t.is(crypto.data.length, 241);
  t.deepEqual(padding, { type: 'padding', length: v.clientInitial.payloadLength - 245 });
  // The CRYPTO data is an ordinary TLS 1.3 ClientHello with the quic_transport_parameters extension (57).
  const hello = decodeHandshakeBytes(crypto.data);
  if (hello.type !== 'client_hello') return t.fail('a ClientHello');
  t.true(hello.body.extensions.order.includes(57));
  t.deepEqual(encodeAll(frames), payload, 'and encodes back to the same bytes');
});

test('RFC 9001 §A.3: the server Initial payload is an ACK of packet 0 and a CRYPTO frame carrying the ServerHello', (t) => {
  const frames = decodeFrames(v.serverInitial.payload, 'initial');
  t.deepEqual(frames[0], { type: 'ack', largest: 0, delay: 0, firstRange: 0, ranges: [] });
  const crypto = frames[1];
  if (crypto?.type !== 'crypto') return t.fail('a CRYPTO frame');
  t.is(decodeHandshakeBytes(crypto.data).type, 'server_hello');
  t.deepEqual(encodeAll(frames), v.serverInitial.payload);
});

// ── Properties ────────────────────────────────────────────────────────────────────────────────────
const n = (max = 2 ** 40) => fc.integer({ min: 0, max });
const bytes = (min = 0, max = 40) => fc.uint8Array({ minLength: min, maxLength: max });
const code = fc.bigInt({ min: 0n, max: 2n ** 62n - 1n });
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.constant<Frame>({ type: 'ping' }),
  fc.record({ largest: n(2 ** 30), delay: n(), count: n(4) }).chain(({ largest, delay, count }) =>
    fc.record({
      type: fc.constant('ack' as const),
      largest: fc.constant(largest),
      delay: fc.constant(delay),
      // Ranges that stay at or above packet number 0: firstRange 0, gaps and lengths 0 below a large `largest`.
      firstRange: fc.integer({ min: 0, max: Math.min(largest, 10) }),
      ranges: fc.constant(largest >= 10 + count * 2 ? Array.from({ length: count }, () => ({ gap: 0, length: 0 })) : []),
      ecn: fc.option(fc.tuple(n(), n(), n()), { nil: undefined }),
    }).map((f) => (f.ecn ? f : { type: f.type, largest: f.largest, delay: f.delay, firstRange: f.firstRange, ranges: f.ranges })),
  ),
  fc.record({ type: fc.constant('resetStream' as const), streamId: n(), errorCode: code, finalSize: n() }),
  fc.record({ type: fc.constant('stopSending' as const), streamId: n(), errorCode: code }),
  fc.record({ type: fc.constant('crypto' as const), offset: n(), data: bytes() }),
  fc.record({ type: fc.constant('newToken' as const), token: bytes(1) }),
  fc.record({ type: fc.constant('stream' as const), streamId: n(), offset: n(), data: bytes(), fin: fc.boolean() }),
  fc.record({ type: fc.constant('maxData' as const), max: n() }),
  fc.record({ type: fc.constant('maxStreamData' as const), streamId: n(), max: n() }),
  fc.record({ type: fc.constant('maxStreams' as const), bidi: fc.boolean(), max: n() }),
  fc.record({ type: fc.constant('dataBlocked' as const), limit: n() }),
  fc.record({ type: fc.constant('streamDataBlocked' as const), streamId: n(), limit: n() }),
  fc.record({ type: fc.constant('streamsBlocked' as const), bidi: fc.boolean(), limit: n() }),
  fc.record({ retirePriorTo: n(100), extra: n(100) }).chain(({ retirePriorTo, extra }) =>
    fc.record({
      type: fc.constant('newConnectionId' as const),
      sequence: fc.constant(retirePriorTo + extra),
      retirePriorTo: fc.constant(retirePriorTo),
      connectionId: bytes(1, 20),
      resetToken: bytes(16, 16),
    }),
  ),
  fc.record({ type: fc.constant('retireConnectionId' as const), sequence: n() }),
  fc.record({ type: fc.constant('pathChallenge' as const), data: bytes(8, 8) }),
  fc.record({ type: fc.constant('pathResponse' as const), data: bytes(8, 8) }),
  fc.record({ type: fc.constant('connectionClose' as const), kind: fc.constant('transport' as const), errorCode: code, frameType: n(0x1e), reason: bytes() }),
  fc.record({ type: fc.constant('connectionClose' as const), kind: fc.constant('application' as const), errorCode: code, reason: bytes() }),
  fc.constant<Frame>({ type: 'handshakeDone' }),
);

test('frames: encode then decode gives the frames back (property)', (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), (frames) => {
      t.deepEqual(decodeFrames(encodeAll(frames), 'oneRtt'), frames);
    }),
    { numRuns: 400 },
  );
});

test('frames: random payloads decode to frames or a FrameError with a transport error code, nothing else (property)', (t) => {
  const spaces: PacketSpace[] = ['initial', 'zeroRtt', 'handshake', 'oneRtt'];
  fc.assert(
    fc.property(bytes(0, 60), fc.constantFrom(...spaces), (payload, space) => {
      try {
        t.true(decodeFrames(payload, space).length > 0);
      } catch (err) {
        t.true(err instanceof FrameError, String(err));
        t.true((err as FrameError).code === TransportError.FRAME_ENCODING_ERROR || (err as FrameError).code === TransportError.PROTOCOL_VIOLATION);
      }
    }),
    { numRuns: 2000 },
  );
});

// ── Rules ─────────────────────────────────────────────────────────────────────────────────────────
const fails = (t: import('ava').ExecutionContext, payload: Uint8Array, space: PacketSpace, code: number, what: string) => {
  const err = t.throws(() => decodeFrames(payload, space), { instanceOf: FrameError }, what);
  t.is(err?.code, code, what);
};

test('RFC 9000 §12.4: frames outside their packet types, and empty payloads, are PROTOCOL_VIOLATIONs', (t) => {
  const P = TransportError.PROTOCOL_VIOLATION;
  fails(t, new Uint8Array(0), 'oneRtt', P, 'no frames');
  fails(t, encodeAll([{ type: 'stream', streamId: 0, offset: 0, data: new Uint8Array(3), fin: false }]), 'initial', P, 'STREAM in Initial');
  fails(t, encodeAll([{ type: 'ack', largest: 3, delay: 0, firstRange: 0, ranges: [] }]), 'zeroRtt', P, 'ACK in 0-RTT');
  fails(t, encodeAll([{ type: 'handshakeDone' }]), 'handshake', P, 'HANDSHAKE_DONE in Handshake');
  fails(t, encodeAll([{ type: 'pathResponse', data: new Uint8Array(8) }]), 'zeroRtt', P, 'PATH_RESPONSE in 0-RTT');
  const appClose: Frame = { type: 'connectionClose', kind: 'application', errorCode: 7n, reason: new Uint8Array(0) };
  fails(t, encodeAll([appClose]), 'handshake', P, 'application CONNECTION_CLOSE in Handshake');
  t.deepEqual(decodeFrames(encodeAll([appClose]), 'oneRtt'), [appClose]);
  const transportClose: Frame = { type: 'connectionClose', kind: 'transport', errorCode: 0x0an, frameType: 6, reason: new TextEncoder().encode('bad') };
  t.deepEqual(decodeFrames(encodeAll([transportClose]), 'initial'), [transportClose]);
  fails(t, hex('4001'), 'oneRtt', P, 'PING with a two-byte frame type');
});

test('RFC 9000 §19: malformed frames are FRAME_ENCODING_ERRORs', (t) => {
  const F = TransportError.FRAME_ENCODING_ERROR;
  fails(t, hex('1f'), 'oneRtt', F, 'unknown frame type 0x1f');
  fails(t, hex('02 05 00 00 06'), 'oneRtt', F, 'first ACK range below 0');
  fails(t, hex('02 05 00 01 02 03 00'), 'oneRtt', F, 'second ACK range below 0');
  fails(t, hex('06 00 05 0102'), 'oneRtt', F, 'CRYPTO data past the payload');
  fails(t, hex('07 00'), 'oneRtt', F, 'empty NEW_TOKEN');
  fails(t, hex('12 d000000000000001'), 'oneRtt', F, 'MAX_STREAMS above 2^60');
  fails(t, hex('18 01 02 04 01020304' + '00'.repeat(16)), 'oneRtt', F, 'Retire Prior To above the sequence');
  fails(t, hex('18 01 00 00' + '00'.repeat(16)), 'oneRtt', F, 'NEW_CONNECTION_ID with an empty ID');
  fails(t, hex('18 01 00 15' + '00'.repeat(21 + 16)), 'oneRtt', F, 'NEW_CONNECTION_ID with a 21-byte ID');
  fails(t, hex('1a 01020304'), 'oneRtt', F, 'PATH_CHALLENGE with 4 bytes');
  fails(t, hex('08 c040000000000000'), 'oneRtt', F, 'a STREAM ID above 2^53');
  // An offset is any varint (RFC 9000 §19.8): above 2^53 it is clamped (the flow-control limit answers), and only
  // an end past 2^62 − 1 is malformed.
  t.like(decodeFrames(hex('0c 00 c040000000000000'), 'oneRtt')[0], { type: 'stream', offset: Number.MAX_SAFE_INTEGER });
  t.like(decodeFrames(hex('0e 00 fffffffffffffffe 01 aa'), 'oneRtt')[0], { type: 'stream', offset: Number.MAX_SAFE_INTEGER });
  fails(t, hex('0e 00 ffffffffffffffff 01 aa'), 'oneRtt', F, 'STREAM data ending past 2^62 - 1');
  fails(t, hex('06 ffffffffffffffff 01 aa'), 'oneRtt', F, 'CRYPTO data ending past 2^62 - 1');
});

test('limits: "unlimited" flow control (2^62 − 1) is clamped; 62-bit error codes round-trip as bigint', (t) => {
  t.deepEqual(decodeFrames(hex('10 ffffffffffffffff'), 'oneRtt'), [{ type: 'maxData', max: Number.MAX_SAFE_INTEGER }]);
  const close: Frame = { type: 'connectionClose', kind: 'application', errorCode: 2n ** 62n - 1n, reason: new Uint8Array(0) };
  t.deepEqual(encodeAll([close]), hex('1d ffffffffffffffff 00'));
  t.deepEqual(decodeFrames(encodeAll([close]), 'oneRtt'), [close]);
  // A STREAM frame without a Length field runs to the end of the packet.
  t.deepEqual(decodeFrames(hex('0d 04 07 616263'), 'oneRtt'), [{ type: 'stream', streamId: 4, offset: 7, data: hex('616263'), fin: true }]);
  t.throws(() => encodeAll([{ ...close, errorCode: 2n ** 62n }]), { instanceOf: RangeError });
});
