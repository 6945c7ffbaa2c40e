/** QUIC stream resets (RFC 9000 §3, §19.4, §19.5): one stream ends, the connection goes on. Virtual time. */
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import { isQuicConnected, type QuicEffect } from '../../src/quic/connection.js';
import { protectPacket } from '../../src/quic/protection.js';
import { encodeFrame, type Frame } from '../../src/wire/quic/frames.js';
import { encodeShortHeader } from '../../src/wire/quic/packet.js';
import { encodeWith } from '../../src/wire/writer.js';
import { consumeStream, endStream, newStreamSet, receiveStreamFrame, retireStreams, takeStreamFrames } from '../../src/quic/streams.js';
import { newSpace } from '../../src/quic/spaces.js';
import { NOW } from '../helpers/pair.js';
import { QuicPair, type Side } from '../helpers/quicPair.js';

const connected = () => {
  const pair = new QuicPair();
  pair.latency = 5;
  return pair.start().drive(NOW + 1_000);
};
const of = <T extends QuicEffect['type']>(pair: QuicPair, side: Side, type: T) => pair.effects[side].filter((e): e is Extract<QuicEffect, { type: T }> => e.type === type);

/** Forged 1-RTT packets from the client (its keys, packet numbers well above its own), as a hostile peer sends. */
function forger(pair: QuicPair) {
  let pn = pair.state.client.spaces.application.nextPn + 1_000;
  return (frames: readonly Frame[]): Uint8Array => {
    const c = pair.state.client;
    const payload = encodeWith((w) => frames.forEach((f) => encodeFrame(w, f)));
    const n = pn++;
    return protectPacket(c.config.provider, c.spaces.application.tx!, encodeShortHeader({ dcid: c.dcid, packetNumber: n, pnLength: 4 }), n, payload);
  };
}

test('QUIC RFC 9000 §19.4: our RESET_STREAM ends that stream at the peer with our code; other streams and the connection go on', (t) => {
  const pair = connected();
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(300_000) });
  pair.input('client', { type: 'write', now: pair.now, stream: 4, data: new TextEncoder().encode('other') });
  pair.input('client', { type: 'end', now: pair.now, stream: 4 });
  pair.drive(pair.now + 12); // part of stream 0 is on its way
  pair.input('client', { type: 'resetStream', now: pair.now, stream: 0, errorCode: 0x10cn });
  t.throws(() => pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(1) }), { instanceOf: TlsError });
  pair.drive(pair.now + 5_000);
  t.deepEqual(of(pair, 'server', 'streamReset'), [{ type: 'streamReset', stream: 0, errorCode: 0x10cn }]);
  t.true(pair.bytes('server', 0) < 300_000, `${pair.bytes('server', 0)} bytes arrived before the reset`);
  t.is(pair.bytes('server', 4), 5);
  t.true(isQuicConnected(pair.state.client) && isQuicConnected(pair.state.server));
  // The connection's credit for the bytes never delivered came back: a new stream can still send a window.
  pair.input('client', { type: 'write', now: pair.now, stream: 8, data: new Uint8Array(900_000) });
  pair.input('client', { type: 'end', now: pair.now, stream: 8 });
  pair.drive(pair.now + 60_000);
  t.is(pair.bytes('server', 8), 900_000);
});

test('QUIC RFC 9000 §19.5: the peer\'s STOP_SENDING stops our writes with its code and draws a RESET_STREAM with it', (t) => {
  const pair = connected();
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(400_000) });
  pair.drive(pair.now + 12);
  pair.input('server', { type: 'stopSending', now: pair.now, stream: 0, errorCode: 0x42n });
  pair.drive(pair.now + 5_000);
  t.deepEqual(of(pair, 'client', 'stopSending'), [{ type: 'stopSending', stream: 0, errorCode: 0x42n }]);
  t.is(of(pair, 'server', 'streamReset').length, 0, 'we asked: no effect for the answer');
  t.true(pair.bytes('server', 0) < 400_000);
  t.throws(() => pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(1) }), { instanceOf: TlsError });
  t.true(isQuicConnected(pair.state.client) && isQuicConnected(pair.state.server));
});

// Found while fixing the API probes (test/rx/apiMisuse.test.ts) and fixed: STOP_SENDING on one of our bidirectional
// streams not written yet was API misuse inside the run loop, which closed the connection. It opens the stream, as a
// write would; the peer, for which it is a new stream of ours, answers with RESET_STREAM (RFC 9000 §3.2, §19.5).
test('QUIC RFC 9000 §19.5: STOP_SENDING on our own bidirectional stream not written yet opens it; the peer resets its half', (t) => {
  const pair = connected();
  pair.input('client', { type: 'stopSending', now: pair.now, stream: 4, errorCode: 0x17n });
  pair.drive(pair.now + 5_000);
  t.deepEqual(of(pair, 'server', 'stopSending'), [{ type: 'stopSending', stream: 4, errorCode: 0x17n }]);
  t.true(isQuicConnected(pair.state.client) && isQuicConnected(pair.state.server));
  // Our sending half is still ours: a write on the stream goes through.
  pair.input('client', { type: 'write', now: pair.now, stream: 4, data: new Uint8Array([1, 2, 3]) });
  pair.input('client', { type: 'end', now: pair.now, stream: 4 });
  pair.drive(pair.now + 5_000);
  t.is(pair.bytes('server', 4), 3);
  t.throws(() => pair.input('client', { type: 'stopSending', now: pair.now, stream: 2, errorCode: 0n }), { instanceOf: TlsError }, 'our unidirectional stream has nothing to stop');
});

test('QUIC RFC 9000 §3.1: data of a reset stream is not sent again after a loss, and a compliant close does not wait for it', (t) => {
  const pair = connected();
  pair.drop = (from) => from === 'client'; // everything in flight is lost
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(500_000) });
  t.true(pair.state.client.spaces.application.sent.length >= 8, 'a window of stream data in flight');
  pair.drive(pair.now + 4);
  pair.drop = () => false;
  pair.input('client', { type: 'resetStream', now: pair.now, stream: 0, errorCode: 1n });
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 2n });
  t.is(pair.state.client.phase, 'closing', 'nothing to flush: the CONNECTION_CLOSE went at once');
  pair.drive(pair.now + 60_000);
  t.is(pair.bytes('server', 0), 0);
  t.like(pair.closed('server')?.error?.detail, { kind: 'quicClose', code: 2n });
});

test('QUIC RFC 9000 §4.5, §19.4: a RESET_STREAM below the data received is FINAL_SIZE_ERROR; on our unidirectional stream STREAM_STATE_ERROR', (t) => {
  for (const [frame, code] of [
    [{ type: 'resetStream', streamId: 3, errorCode: 0n, finalSize: 0 }, 0x05n],
    [{ type: 'stopSending', streamId: 2, errorCode: 0n }, 0x05n],
  ] as const) {
    const pair = connected();
    const forge = forger(pair);
    pair.input('server', { type: 'write', now: pair.now, stream: 3, data: new Uint8Array(10) });
    pair.input('server', { type: 'datagram', now: pair.now, data: forge([frame]) });
    t.like(pair.state.server.closeError?.detail, { kind: 'quicClose', code, local: true }, frame.type);
  }
  const pair = connected();
  const forge = forger(pair);
  pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: 0, data: new Uint8Array(100), fin: false }]) });
  pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'resetStream', streamId: 0, errorCode: 0n, finalSize: 50 }]) });
  t.like(pair.state.server.closeError?.detail, { kind: 'quicClose', code: 0x06n, local: true });
});

test('QUIC stream data in order is delivered as a view of the decrypted packet (no copy); data out of order is copied into the reassembly buffer', (t) => {
  const pair = connected();
  const forge = forger(pair);
  const bytes = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
  const delivered = () => of(pair, 'server', 'deliver').filter((e) => e.stream === 0);
  // In order: the frame's data is a view into the packet's plaintext (a STREAM header precedes it there).
  pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: 0, data: bytes(0, 1000), fin: false }]) });
  const first = delivered()[0]!.data;
  t.deepEqual(first, bytes(0, 1000));
  t.true(first.byteOffset > 0 && first.buffer.byteLength > first.length, 'a view of the packet, not a copy');
  // Out of order: [2000, 3000) waits in the reassembly buffer (a copy), then [1000, 2000) joins it.
  pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: 2000, data: bytes(2000, 1000), fin: false }]) });
  t.is(delivered().length, 1, 'nothing deliverable yet');
  pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: 1000, data: bytes(1000, 1000), fin: false }]) });
  const rest = Buffer.concat(delivered().slice(1).map((e) => e.data));
  t.deepEqual(new Uint8Array(rest), bytes(1000, 2000));
  // A duplicate of what was delivered is dropped.
  pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: 500, data: bytes(500, 1000), fin: false }]) });
  t.is(delivered().reduce((n, e) => n + e.data.length, 0), 3000);
});

test('QUIC RFC 9000 §4.6: 300 requests on one connection to a server allowing 10 streams: finished streams are forgotten and MAX_STREAMS gives the credit back', (t) => {
  const pair = new QuicPair({}, { maxStreams: 10 });
  pair.latency = 5;
  pair.start().drive(NOW + 1_000);
  const text = (s: string) => new TextEncoder().encode(s);
  let largest = 0;
  for (let i = 0; i < 300; i++) {
    const stream = 4 * i;
    pair.input('client', { type: 'write', now: pair.now, stream, data: text(`request ${i}`) });
    pair.input('client', { type: 'end', now: pair.now, stream });
    pair.drive(pair.now + 20);
    t.is(pair.text('server', stream), `request ${i}`);
    pair.input('server', { type: 'write', now: pair.now, stream, data: text(`response ${i}`) });
    pair.input('server', { type: 'end', now: pair.now, stream });
    pair.drive(pair.now + 50);
    if (pair.text('client', stream) !== `response ${i}`) return t.fail(`response ${i}: ${pair.text('client', stream)}`);
    largest = Math.max(largest, pair.state.server.streams.byId.size, pair.state.client.streams.byId.size);
  }
  t.true(isQuicConnected(pair.state.client) && isQuicConnected(pair.state.server));
  t.true(pair.state.server.streams.peerStreamLimit[0] >= 300, `server allows ${pair.state.server.streams.peerStreamLimit[0]}`);
  t.true(pair.state.client.streams.ownStreamLimit[0] >= 300);
  t.true(largest <= 20, `at most ${largest} streams kept at once`);
  t.is(pair.state.server.streams.retired[0] + pair.state.server.streams.byId.size, 300);
});

test('QUIC RFC 9000 §3.2: a stream whose first frame arrives after a higher one of its type was opened implicitly; a late frame of a retired stream is ignored', (t) => {
  // Four streams allowed: the server retires finished streams one at a time (a quarter of its limit).
  const pair = new QuicPair({}, { maxStreams: 4 });
  pair.latency = 5;
  pair.start().drive(NOW + 1_000);
  const data = (s: string) => new TextEncoder().encode(s);
  // The datagram with stream 4 is lost: stream 8 arrives first and opens 0 and 4 with it; 4 comes when resent.
  const sent = pair.datagrams.client.length;
  pair.drop = (from, n) => from === 'client' && n === sent;
  pair.input('client', { type: 'write', now: pair.now, stream: 4, data: data('four') });
  pair.input('client', { type: 'end', now: pair.now, stream: 4 });
  pair.drive(pair.now + 2);
  pair.input('client', { type: 'write', now: pair.now, stream: 8, data: data('eight') });
  pair.input('client', { type: 'end', now: pair.now, stream: 8 });
  pair.drive(pair.now + 8);
  t.is(pair.text('server', 8), 'eight');
  t.is(pair.text('server', 4), '', 'stream 4 not yet arrived');
  t.is(pair.state.server.streams.opened[0], 3, 'streams 0, 4 and 8 are open');
  pair.drive(pair.now + 2_000);
  t.is(pair.text('server', 4), 'four');
  // Streams 4 and 8 finish both ways and are retired; stream 0, opened implicitly and unused, is still open.
  pair.input('server', { type: 'end', now: pair.now, stream: 4 });
  pair.input('server', { type: 'end', now: pair.now, stream: 8 });
  pair.drive(pair.now + 2_000);
  t.deepEqual([...pair.state.server.streams.byId.keys()], []);
  t.is(pair.state.server.streams.retired[0], 2);
  t.deepEqual(pair.state.server.streams.retiredIndices[0], [[1, 3]]);
  // A repeated frame of a retired stream changes nothing; writing on it is API misuse.
  const forge = forger(pair);
  const effects = pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 4, offset: 0, data: data('four'), fin: true }]) });
  t.deepEqual(effects.filter((e) => e.type === 'deliver' || e.type === 'closed'), []);
  t.deepEqual([...pair.state.server.streams.byId.keys()], []);
  t.true(isQuicConnected(pair.state.server));
  t.throws(() => pair.input('server', { type: 'write', now: pair.now, stream: 4, data: data('x') }), { instanceOf: TlsError, message: /closed/ });
  // Stream 0 was never used: its first data is taken now.
  const late = pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: 0, data: data('zero'), fin: false }]) });
  t.deepEqual(late.filter((e) => e.type === 'deliver').map((e) => e.type === 'deliver' && new TextDecoder().decode(e.data)), ['zero']);
});

test('QUIC RFC 9000 §3.2: a frame for the highest stream ID a large limit allows opens one stream\'s state, not one per lower ID', (t) => {
  const pair = new QuicPair({}, { maxStreams: 1_000_000 });
  pair.latency = 5;
  pair.start().drive(NOW + 1_000);
  const effects = pair.input('server', { type: 'datagram', now: pair.now, data: forger(pair)([{ type: 'stream', streamId: 4 * 999_999, offset: 0, data: new Uint8Array(3), fin: true }]) });
  t.is(effects.filter((e) => e.type === 'deliver').length, 1);
  t.is(pair.state.server.streams.byId.size, 1);
  t.is(pair.state.server.streams.opened[0], 1_000_000);
});

test('QUIC retireStreams: finished streams whose frames are still queued or in flight are kept; the sent packets are scanned again only when they changed', (t) => {
  const cfg = { role: 'server', maxData: 1 << 20, maxStreamData: 1 << 16, maxStreams: 4 } as const;
  const x = newStreamSet(cfg.maxData, undefined, cfg.maxStreams);
  const app = newSpace();
  // The peer's stream 0: its data with a FIN, read; our answer ended: both halves over, our FIN still queued.
  receiveStreamFrame(x, cfg, {}, { type: 'stream', streamId: 0, offset: 0, data: Uint8Array.of(1, 2), fin: true }, [], app.queue);
  consumeStream(x, cfg, 0, 2, app.queue);
  endStream(x, cfg, {}, 0);
  app.queue.push(...takeStreamFrames(x));
  retireStreams(x, cfg, app);
  t.true(x.byId.has(0), 'kept: its FIN is queued');
  // The FIN in flight: kept; the sent packets are scanned once, then not again while they are the same.
  const fin = app.queue.filter((f) => f.type === 'stream');
  app.queue = app.queue.filter((f) => f.type !== 'stream');
  app.sent = [{ pn: 7, timeSent: NOW, ackEliciting: true, inFlight: true, size: 100, frames: fin }];
  for (let i = 0; i < 5; i++) retireStreams(x, cfg, app);
  t.true(x.byId.has(0), 'kept: its FIN is in flight');
  t.is(x.sweeps, 2, 'the empty sent list once, then packet 7 once');
  // Packet 7 acknowledged: the stream goes, and the peer gets a stream back.
  app.sent = [];
  retireStreams(x, cfg, app);
  t.is(x.sweeps, 3);
  t.false(x.byId.has(0));
  t.deepEqual(x.peerStreamLimit, [5, 4]);
  t.deepEqual(app.queue.filter((f) => f.type === 'maxStreams'), [{ type: 'maxStreams', bidi: true }]);
});
