/**
 * Flow control follows the application's reading (RFC 9000 §4): the receive windows re-open on the `consumed`
 * input, not on delivery; a blocked sender says so with STREAM_DATA_BLOCKED / DATA_BLOCKED, once per limit.
 * Everything is counted (bytes, frames on the wire), in virtual time.
 */
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import { NOW } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';
import { framesOf, recordPackets } from '../helpers/quicFrames.js';

const KB = 1024;
const payload = (n: number, k = 7) => Buffer.from(Array.from({ length: n }, (_, i) => (i * k) & 0xff));

/** A connected pair whose server reads only when the test says (`consume`), with small windows. */
function slowServer(windows: { maxData: number; maxStreamData: number }) {
  const pair = new QuicPair({}, windows);
  pair.autoConsume.server = false;
  pair.start().drive(NOW + 1_000);
  const wire = recordPackets(pair);
  return { pair, wire };
}

test('RFC 9000 §4.1: a reader that does not read keeps the sender blocked at the stream window; what waits unread stays within it', (t) => {
  const { pair, wire } = slowServer({ maxData: 256 * KB, maxStreamData: 32 * KB });
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: payload(1_000_000) });
  pair.drive(pair.now + 10_000);
  // Nothing read: exactly one window arrived, and nothing more however long we wait.
  t.is(pair.bytes('server', 0), 32 * KB);
  const blocked = framesOf(wire.client, 'streamDataBlocked');
  t.is(blocked.length, 1, 'one STREAM_DATA_BLOCKED for the one limit');
  t.deepEqual(blocked[0], { type: 'streamDataBlocked', streamId: 0, limit: 32 * KB });
  t.is(framesOf(wire.server, 'maxStreamData').length, 0, 'no credit given for data nobody read');
  t.is(pair.state.client.streams.flowFrames.streamDataBlocked, 1);
});

test('RFC 9000 §4.2: credit opens once half a window is read, and the sender is blocked again at the new limit', (t) => {
  const { pair, wire } = slowServer({ maxData: 256 * KB, maxStreamData: 32 * KB });
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: payload(1_000_000) });
  pair.drive(pair.now + 5_000);
  pair.consume('server', 0, 16 * KB); // exactly half: not past it
  pair.drive(pair.now + 5_000);
  t.is(framesOf(wire.server, 'maxStreamData').length, 0);
  t.is(pair.bytes('server', 0), 32 * KB);
  pair.consume('server', 0, 1); // past half a window: the limit becomes read + window
  pair.drive(pair.now + 5_000);
  t.deepEqual(
    framesOf(wire.server, 'maxStreamData').map((f) => f.max),
    [16 * KB + 1 + 32 * KB],
  );
  t.is(pair.bytes('server', 0), 16 * KB + 1 + 32 * KB, 'the sender filled the new window and no more');
  t.deepEqual(
    framesOf(wire.client, 'streamDataBlocked').map((f) => f.limit),
    [32 * KB, 16 * KB + 1 + 32 * KB],
    'blocked again, at the new limit',
  );
  // Unread bytes never exceed the stream window.
  t.true(pair.bytes('server', 0) - (16 * KB + 1) <= 32 * KB);
});

test('RFC 9000 §4.1: streams that together reach the connection window draw DATA_BLOCKED; reading one stream re-opens it for all', (t) => {
  const { pair, wire } = slowServer({ maxData: 48 * KB, maxStreamData: 32 * KB });
  for (const stream of [0, 4, 8]) pair.input('client', { type: 'write', now: pair.now, stream, data: payload(100_000, stream + 3) });
  pair.drive(pair.now + 5_000);
  const total = () => [0, 4, 8].reduce((n, s) => n + pair.bytes('server', s), 0);
  t.is(total(), 48 * KB, 'the connection window, across streams');
  t.deepEqual(framesOf(wire.client, 'dataBlocked'), [{ type: 'dataBlocked', limit: 48 * KB }]);
  const first = pair.bytes('server', 0);
  pair.consume('server', 0, first);
  pair.drive(pair.now + 5_000);
  t.true(framesOf(wire.server, 'maxData').length >= 1);
  t.is(total(), first + 48 * KB, 'what was read is what the peer may send again');
  t.true(total() - first <= 48 * KB, 'unread bytes within the connection window');
  t.is(framesOf(wire.client, 'dataBlocked').length, 2);
});

/** 2 MB through a 1.2 MB/s bottleneck (12 KB queue) with 5 ms one way: 24 KB fill the path; read at once. */
function fastRun(windows: { maxData: number; maxStreamData: number }) {
  const pair = new QuicPair(windows, windows).start().drive(NOW + 1_000);
  pair.latency = 5;
  pair.bottleneck = { rate: 1200, queueBytes: 12 * KB };
  const wire = recordPackets(pair);
  const data = payload(2_000_000);
  const start = pair.now;
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.drive(pair.now + 60_000, () => pair.bytes('server', 0) === data.length);
  return { pair, wire, ms: pair.now - start, whole: Buffer.concat(pair.delivered.server.get(0) ?? []).equals(data) };
}

test('RFC 9000 §4: a fast reader keeps the sender unblocked: 2 MB through 64 KiB stream windows as fast as with no flow control to speak of', (t) => {
  const small = fastRun({ maxData: 256 * KB, maxStreamData: 64 * KB });
  const huge = fastRun({ maxData: 1 << 30, maxStreamData: 1 << 30 });
  t.true(small.whole && huge.whole);
  const updates = framesOf(small.wire.server, 'maxStreamData').length;
  // A new limit each time half a window (32 KiB) more was read: 2 MB / 32 KiB ≈ 61.
  t.true(updates >= 55 && updates <= 65, `${updates} MAX_STREAM_DATA`);
  // A few at most: a loss at the bottleneck (slow start overshoots once) holds the reader at a gap for a round trip.
  const blocked = framesOf(small.wire.client, 'streamDataBlocked').length + framesOf(small.wire.client, 'dataBlocked').length;
  t.true(blocked <= 5, `${blocked} blocked frames`);
  // The same virtual time (within 2 %) as with windows of 1 GiB: the windows never held the sender back.
  t.true(small.ms <= huge.ms * 1.02, `${small.ms} ms with 64 KiB windows, ${huge.ms} ms with 1 GiB`);
  t.log(`${updates} MAX_STREAM_DATA, ${framesOf(small.wire.server, 'maxData').length} MAX_DATA, ${blocked} blocked; ${small.ms} vs ${huge.ms} virtual ms`);
});

test('RFC 9000 §4.5: the unread bytes of a stream we stop reading go back to the connection window', (t) => {
  const { pair, wire } = slowServer({ maxData: 32 * KB, maxStreamData: 32 * KB });
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: payload(100_000) });
  pair.drive(pair.now + 5_000);
  t.is(pair.bytes('server', 0), 32 * KB);
  // Nothing read, then STOP_SENDING: the 32 KiB delivered and unread are not given back until read...
  pair.input('server', { type: 'stopSending', now: pair.now, stream: 0, errorCode: 1n });
  pair.drive(pair.now + 5_000);
  t.is(framesOf(wire.server, 'maxData').length, 0);
  // ...and once the reader takes them, the connection opens for another stream.
  pair.consume('server', 0, 32 * KB);
  pair.input('client', { type: 'write', now: pair.now, stream: 4, data: payload(10_000) });
  pair.drive(pair.now + 5_000);
  t.is(framesOf(wire.server, 'maxData').length, 1);
  t.is(pair.bytes('server', 4), 10_000);
});

test('QUIC consumed: more bytes than were delivered, or an unknown stream, is API misuse', (t) => {
  const { pair } = slowServer({ maxData: 64 * KB, maxStreamData: 32 * KB });
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: payload(1000) });
  pair.drive(pair.now + 1_000);
  t.is(t.throws(() => pair.consume('server', 0, 1001), { instanceOf: TlsError })?.kind, 'apiMisuse');
  t.is(t.throws(() => pair.consume('server', 8, 1), { instanceOf: TlsError })?.kind, 'apiMisuse');
  pair.consume('server', 0, 1000);
  t.is(pair.state.server.streams.byId.get(0)?.rxConsumed, 1000);
});
