/** A QUIC client and server driven against each other over in-memory datagrams on a virtual clock. */
import test from 'ava';
import fc from 'fast-check';
import { TlsError } from '../../src/core/errors.js';
import { createQuicConnection, handleQuicEvents, isQuicConnected, nextQuicTimeout, type QuicEffect as Effect } from '../../src/quic/connection.js';
import { protectPacket, unprotectPacket } from '../../src/quic/protection.js';
import { MAX_PATH_RESPONSES } from '../../src/quic/connection.js';
import { sendAllowance } from '../../src/quic/builder.js';
import { probeTimeout } from '../../src/quic/recovery.js';
import { DEFAULT_MAX_DATAGRAM } from '../../src/quic/pmtu.js';
import { bufferedBytes } from '../../src/quic/reassembly.js';
import { MAX_BUFFERED_CHUNKS } from '../../src/quic/streams.js';
import { decodeFrames, encodeFrame, type Frame } from '../../src/wire/quic/frames.js';
import { encodeShortHeader } from '../../src/wire/quic/packet.js';
import { encodeWith } from '../../src/wire/writer.js';
import { caVerifier, fixture, NOW, serverCredentials } from '../helpers/pair.js';
import { loadCertificateChain } from '../../src/crypto/keys.js';

import { QuicPair, type Side } from '../helpers/quicPair.js';

/** Forged 1-RTT packets from the client (its keys, packet numbers well above its own), as a hostile peer sends. */
const forger = (pair: QuicPair) => (frames: readonly Frame[]): Uint8Array => pair.forge('client', frames);

/** Stream bytes with a fixed value per offset, so overlapping frames carry the same data (RFC 9000 §2.2). */
const streamBytes = (offset: number, n: number) => Uint8Array.from({ length: n }, (_, i) => ((offset + i) * 13) & 0xff);

test('QUIC: the handshake completes over datagrams; client Initial datagrams are 1200 bytes, none is larger', (t) => {
  const pair = new QuicPair().start().settle();
  t.true(isQuicConnected(pair.state.client));
  t.true(isQuicConnected(pair.state.server));
  for (const side of ['client', 'server'] as const) {
    const done = pair.effects[side].find((e) => e.type === 'handshakeComplete');
    t.true(done?.type === 'handshakeComplete' && done.info.alpn === 'h3', `${side}: ALPN h3`);
    // Every datagram with a long header (the handshake) is within 1200 bytes; only path MTU discovery's
    // 1-RTT probes, once the handshake is confirmed, go up to the default ceiling.
    t.true(pair.datagrams[side].every((d) => (d[0]! & 0x80 ? d.length <= 1200 : d.length <= DEFAULT_MAX_DATAGRAM)), `${side}: datagrams within 1200 bytes`);
  }
  t.is(pair.datagrams.client[0]!.length, 1200, 'RFC 9000 §14.1: the first client datagram is padded to 1200');
  // The handshake takes two round trips of datagrams, nothing more: no timer had to fire.
  t.is(pair.now, NOW);
});

test('QUIC: a bidirectional stream carries data and FIN both ways', (t) => {
  const pair = new QuicPair().start().settle();
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('hello ') });
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('server') });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.settle();
  t.is(pair.text('server', 0), 'hello server');
  t.true(pair.effects.server.some((e) => e.type === 'peerClosed' && e.stream === 0));
  pair.input('server', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('hello client') });
  pair.input('server', { type: 'end', now: pair.now, stream: 0 });
  pair.settle();
  t.is(pair.text('client', 0), 'hello client');
  t.true(pair.effects.client.some((e) => e.type === 'peerClosed' && e.stream === 0));
});

test('QUIC: 300 KB through small flow-control windows arrives whole and in order (MAX_DATA / MAX_STREAM_DATA)', (t) => {
  const windows = { maxData: 64 * 1024, maxStreamData: 32 * 1024 };
  const pair = new QuicPair(windows, windows).start().settle();
  const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
  pair.input('client', { type: 'write', now: pair.now, stream: 4, data });
  pair.input('client', { type: 'end', now: pair.now, stream: 4 });
  pair.drive(pair.now + 10_000);
  t.deepEqual(Buffer.concat(pair.delivered.server.get(4) ?? []), data);
  t.true(pair.effects.server.some((e) => e.type === 'peerClosed' && e.stream === 4));
});

test('QUIC: a lost first Initial is sent again after the probe timeout (virtual time), and the handshake completes', (t) => {
  const pair = new QuicPair();
  pair.drop = (from, n) => from === 'client' && n === 0;
  pair.start().drive(NOW + 10_000);
  t.true(isQuicConnected(pair.state.client));
  t.true(isQuicConnected(pair.state.server));
  // RFC 9002 §6.2.2: the first PTO is kInitialRtt + 4 × kInitialRtt / 2 = 999 ms.
  t.true(pair.now >= NOW + 999, `completed at +${pair.now - NOW} ms`);
});

test('QUIC: losing the server\'s handshake flight and the client\'s Finished still completes', (t) => {
  const pair = new QuicPair();
  pair.drop = (from, n) => (from === 'server' && n === 0) || (from === 'client' && n === 1);
  pair.start().drive(NOW + 20_000);
  t.true(isQuicConnected(pair.state.client));
  t.true(isQuicConnected(pair.state.server));
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('after loss') });
  pair.drive(pair.now + 5_000);
  t.is(pair.text('server', 0), 'after loss');
});

test('QUIC: a rapid close sends one CONNECTION_CLOSE with a 62-bit application code and a reason; the peer drains for 3×PTO', (t) => {
  const pair = new QuicPair().start().settle();
  const code = 2n ** 62n - 1n;
  const effects = pair.input('client', { type: 'close', now: pair.now, mode: 'rapid', errorCode: code, reason: 'bye' });
  t.is(effects.filter((e) => e.type === 'transmit').length, 1);
  const mine = pair.closed('client');
  t.true(mine?.error instanceof TlsError);
  t.like(mine?.error?.detail, { kind: 'quicClose', code, application: true, local: true, reason: 'bye' });
  const closedAt = pair.now;
  const serverSent = pair.datagrams.server.length;
  // Zero-latency memory: the RTT samples are 0, so the PTO is the 1 ms granularity floor plus the client's
  // max_ack_delay of 25 ms (RFC 9002 §6.2.1: the application space's PTO, which RFC 9000 §10.2 counts in).
  const drainMs = 3 * probeTimeout(pair.state.server.rtt, pair.state.server.peerParams?.maxAckDelay ?? 25);
  t.is(drainMs, 78);
  pair.settle();
  t.is(pair.closed('server'), undefined, 'the peer drains first');
  pair.drive(pair.now + 60_000);
  const theirs = pair.closed('server');
  t.like(theirs?.error?.detail, { kind: 'quicClose', code, application: true, local: false, reason: 'bye' });
  t.is(pair.now, closedAt + drainMs, 'the peer reports closed at the end of its draining period (3×PTO)');
  t.is(pair.datagrams.server.length, serverSent, 'draining: the server sent nothing more');
});

test('QUIC: an RFC-compliant close waits out its closing period; a clean close reports no error', (t) => {
  const pair = new QuicPair().start().settle();
  pair.input('server', { type: 'close', now: pair.now, mode: 'graceful' });
  t.is(pair.closed('server'), undefined, 'closing, not closed yet');
  t.is(pair.state.server.phase, 'closing');
  const start = pair.now;
  pair.drive(start + 60_000);
  const s = pair.closed('server');
  const c = pair.closed('client');
  t.truthy(s);
  t.truthy(c);
  t.is(s?.error, undefined);
  t.is(c?.error, undefined);
  t.true(pair.now - start > 0);
});

test('QUIC: the idle timeout closes both ends silently (the smaller of both limits)', (t) => {
  // Driven past the ack delay (25 ms): the last ACK of the handshake is out before counting.
  const pair = new QuicPair({ idleTimeout: 5_000 }, { idleTimeout: 8_000 }).start().drive(NOW + 1_000);
  const sent = pair.datagrams.client.length + pair.datagrams.server.length;
  pair.drive(NOW + 60_000);
  for (const side of ['client', 'server'] as const) t.like(pair.closed(side)?.error?.detail, { kind: 'idleTimeout', afterMs: 5_000 });
  t.is(pair.datagrams.client.length + pair.datagrams.server.length, sent, 'nothing on the wire');
});

test('QUIC hostile input: garbage datagrams are dropped; a STREAM frame beyond flow control closes with FLOW_CONTROL_ERROR', (t) => {
  const pair = new QuicPair({}, { maxStreamData: 1000 }).start().settle();
  for (const junk of [new Uint8Array(0), new Uint8Array(1), new Uint8Array(1200).fill(0x40), Uint8Array.of(0xc0, 0, 0, 0, 1, 20)]) {
    t.deepEqual(pair.input('server', { type: 'datagram', now: pair.now, data: junk }), [], 'dropped, nothing sent');
  }
  t.true(isQuicConnected(pair.state.server));
  // A 1-RTT packet from the client with bytes 900..1100 of stream 0, past the server's 1000-byte stream window.
  const c = pair.state.client;
  const pn = c.spaces.application.nextPn + 10;
  const frames = encodeWith((w) => encodeFrame(w, { type: 'stream', streamId: 0, offset: 900, data: new Uint8Array(200), fin: false }));
  const hostile = protectPacket(c.config.provider, c.spaces.application.tx!, encodeShortHeader({ dcid: c.dcid, packetNumber: pn, pnLength: 2 }), pn, frames);
  const answer = pair.input('server', { type: 'datagram', now: pair.now, data: hostile });
  t.is(answer.filter((e) => e.type === 'transmit').length, 1, 'one CONNECTION_CLOSE');
  t.is(pair.state.server.phase, 'closing');
  pair.drive(pair.now + 60_000);
  t.like(pair.closed('server')?.error?.detail, { kind: 'quicClose', code: 0x03n, application: false, local: true });
  t.like(pair.closed('client')?.error?.detail, { kind: 'quicClose', code: 0x03n, local: false });
});

test('QUIC API misuse: streams before the handshake, beyond the peer\'s stream limit, or the peer\'s unidirectional stream', (t) => {
  const fresh = new QuicPair().start();
  t.throws(() => handleQuicEvents(fresh.state.client, { type: 'write', now: NOW, stream: 0, data: new Uint8Array(1) }), { instanceOf: TlsError });
  const pair = new QuicPair({}, { maxStreams: 2 }).start().settle();
  t.notThrows(() => pair.input('client', { type: 'write', now: pair.now, stream: 4, data: new Uint8Array(1) }));
  t.throws(() => pair.input('client', { type: 'write', now: pair.now, stream: 8, data: new Uint8Array(1) }), { instanceOf: TlsError, message: /allows 2/ });
  t.throws(() => pair.input('client', { type: 'write', now: pair.now, stream: 3, data: new Uint8Array(1) }), { instanceOf: TlsError });
  t.throws(() => createQuicConnection({ role: 'client', tls: { verifier: caVerifier() } }), { instanceOf: TlsError });
});

test('QUIC over a 20 ms link: RTT is measured, and a closing period lasts 3×PTO of it', (t) => {
  const pair = new QuicPair();
  pair.latency = 20;
  pair.start();
  for (let i = 0; i < 10 && !(isQuicConnected(pair.state.client) && isQuicConnected(pair.state.server)); i++) pair.drive(pair.now + 20);
  t.true(pair.now - NOW >= 40 && pair.now - NOW <= 80, `connected after ${pair.now - NOW} ms`);
  pair.drive(pair.now + 100); // the last ACKs
  const rtt = pair.state.client.rtt;
  t.true(rtt.sampled);
  t.is(rtt.min, 40);
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'done' });
  const closing = pair.now;
  const period = 3 * probeTimeout(pair.state.client.rtt, 0);
  t.true(period >= 3 * 40, `closing period ${period} ms`);
  pair.drive(closing + 60_000);
  const closed = pair.effects.client.findIndex((e) => e.type === 'closed');
  t.true(closed >= 0);
  t.like(pair.closed('server')?.error?.detail, { kind: 'quicClose', code: 7n, reason: 'done', local: false });
  t.like(pair.closed('client')?.error?.detail, { kind: 'quicClose', code: 7n, local: true });
});

test('QUIC: an RFC-compliant close flushes the streams first: everything written arrives before the CONNECTION_CLOSE', (t) => {
  const pair = new QuicPair();
  pair.latency = 10;
  pair.start().drive(NOW + 200);
  const data = Buffer.alloc(100_000, 0x61);
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 0n });
  t.is(pair.state.client.phase, 'connected', 'still sending the stream');
  t.throws(() => pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(1) }), { instanceOf: TlsError });
  pair.drive(pair.now + 60_000);
  t.is(Buffer.concat(pair.delivered.server.get(0) ?? []).length, data.length);
  t.true(pair.effects.server.some((e) => e.type === 'peerClosed' && e.stream === 0));
  t.truthy(pair.closed('client'));
  t.is(pair.closed('server')?.error, undefined, 'a clean close (code 0)');
});

test('QUIC hostile input (property): random and bit-flipped datagrams never throw; they are dropped or close the connection', (t) => {
  const base = new QuicPair().start().settle();
  const real = [...base.datagrams.client, ...base.datagrams.server];
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 1300 }),
        fc.tuple(fc.constantFrom(...real), fc.integer({ min: 0, max: 1199 * 8 })).map(([d, bit]) => {
          const x = d.slice();
          x[(bit >> 3) % x.length]! ^= 1 << (bit & 7);
          return x;
        }),
      ),
      fc.constantFrom<Side>('client', 'server'),
      (data, side) => {
        const step = handleQuicEvents(base.state[side], { type: 'datagram', now: NOW, data });
        // Either dropped (nothing changes but maybe an ACK), or a connection error with a transport code.
        t.true(['connected', 'closing', 'closed'].includes(step.state.phase), step.state.phase);
        if (step.state.phase !== 'connected') t.is(step.state.closeError?.detail.kind, 'quicClose');
        for (const e of step.effects) t.true(e.type === 'transmit' || e.type === 'closed' || e.type === 'deliver' || e.type === 'peerClosed', e.type);
      },
    ),
    { numRuns: 300 },
  );
});

test('QUIC: 200 KB both ways over a lossy 5 ms link (every 7th datagram lost) arrives whole, by probe-timeout retransmission', (t) => {
  const windows = { maxData: 128 * 1024, maxStreamData: 64 * 1024 };
  const pair = new QuicPair(windows, windows);
  pair.latency = 5;
  pair.drop = (_from, n) => n % 7 === 6;
  pair.start().drive(NOW + 5_000);
  t.true(isQuicConnected(pair.state.client) && isQuicConnected(pair.state.server));
  const up = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 13) & 0xff));
  const down = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 17) & 0xff));
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: up });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.drive(pair.now + 1_000);
  pair.input('server', { type: 'write', now: pair.now, stream: 0, data: down });
  pair.input('server', { type: 'end', now: pair.now, stream: 0 });
  pair.drive(pair.now + 120_000);
  t.deepEqual(Buffer.concat(pair.delivered.server.get(0) ?? []), up);
  t.deepEqual(Buffer.concat(pair.delivered.client.get(0) ?? []), down);
  t.true(pair.effects.client.some((e) => e.type === 'peerClosed' && e.stream === 0));
});

test('QUIC: a lost 1-RTT datagram in the middle of a transfer is sent again on the next ACKs (packet threshold), before any probe timeout', (t) => {
  const pair = new QuicPair();
  pair.latency = 10;
  pair.start().drive(NOW + 1_000);
  const sentBefore = pair.datagrams.client.length;
  pair.drop = (from, n) => from === 'client' && n === sentBefore + 2; // the third datagram of the transfer
  const data = Buffer.alloc(30_000, 0x62);
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  let probes = 0;
  pair.observe = (_side, state) => (probes = Math.max(probes, state.ptoCount));
  const start = pair.now;
  pair.drive(start + 10_000);
  t.is(Buffer.concat(pair.delivered.server.get(0) ?? []).length, data.length);
  t.truthy(pair.effects.server.find((e) => e.type === 'peerClosed' && e.stream === 0));
  // The loss is repaired on the ACKs that follow it: no probe timeout fired, and the client sent the lost
  // datagram's data once more, nothing else again: about one datagram more than the same transfer without the
  // loss (the split points move, so a few bytes of frame headers more).
  t.is(probes, 0, 'no probe timeout');
  const lossless = new QuicPair();
  lossless.latency = 10;
  lossless.start().drive(NOW + 1_000);
  lossless.input('client', { type: 'write', now: lossless.now, stream: 0, data });
  lossless.input('client', { type: 'end', now: lossless.now, stream: 0 });
  lossless.drive(lossless.now + 10_000);
  const bytes = (p: QuicPair) => p.datagrams.client.slice(sentBefore).reduce((n, d) => n + (d.length > 200 ? d.length : 0), 0);
  const extra = bytes(pair) - bytes(lossless);
  // One datagram of the size path MTU discovery reached (1452 on this link), and a few frame headers where the
  // resent data splits the flow differently.
  t.true(extra > 1000 && extra <= DEFAULT_MAX_DATAGRAM + 300, `${extra} bytes more than without the loss`);
});

test('QUIC close modes: silent sends nothing and is closed at once; the peer finds out by its idle timeout', (t) => {
  const pair = new QuicPair({ idleTimeout: 5_000 }, { idleTimeout: 5_000 }).start().settle();
  const effects = pair.input('client', { type: 'close', now: pair.now, mode: 'silent', errorCode: 9n, reason: 'gone' });
  t.deepEqual(effects.map((e) => e.type), ['closed'], 'no transmit');
  t.like(pair.closed('client')?.error?.detail, { kind: 'quicClose', code: 9n, local: true, reason: 'gone' });
  t.is(pair.state.client.handshake, undefined, 'the handshake state is released');
  t.is(nextQuicTimeout(pair.state.client), undefined);
  pair.drive(pair.now + 60_000);
  t.like(pair.closed('server')?.error?.detail, { kind: 'idleTimeout', afterMs: 5_000 });
});

test('QUIC close modes: rapid is closed at once after one CONNECTION_CLOSE; graceful waits out a closing period', (t) => {
  const rapid = new QuicPair().start().settle();
  const r = rapid.input('client', { type: 'close', now: rapid.now, mode: 'rapid' });
  t.deepEqual(r.map((e) => e.type), ['transmit', 'closed']);
  const graceful = new QuicPair().start().settle();
  const g = graceful.input('client', { type: 'close', now: graceful.now, mode: 'graceful' });
  t.deepEqual(g.map((e) => e.type), ['transmit'], 'CONNECTION_CLOSE now, closed later');
  t.is(graceful.state.client.phase, 'closing');
});

test('QUIC timers: nextQuicTimeout is the earliest armed timer; closing arms only the close timer, closed none', (t) => {
  const pair = new QuicPair({ idleTimeout: 5_000 }).start();
  const c = pair.state.client;
  t.deepEqual(Object.keys(c.timers).sort(), ['idle', 'lossDetection'], 'the ClientHello is in flight');
  t.is(nextQuicTimeout(c), Math.min(c.timers.idle!, c.timers.lossDetection!));
  pair.settle().drive(pair.now + 100);
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful' });
  t.deepEqual(Object.keys(pair.state.client.timers), ['close']);
  t.is(nextQuicTimeout(pair.state.client), pair.state.client.timers.close);
  pair.drive(pair.now + 60_000);
  t.deepEqual(pair.state.client.timers, {});
  t.is(nextQuicTimeout(pair.state.client), undefined);
});

test('QUIC hostile input: 600 overlapping out-of-order STREAM frames buffer each byte once, within the 256 KiB stream window', (t) => {
  const pair = new QuicPair().start().settle();
  const forge = forger(pair);
  const window = pair.state.server.config.maxStreamData;
  t.is(window, 256 * 1024);
  // Frames of 1 000 bytes at offsets from 1 to ~200 000, out of order and overlapping; byte 0 is withheld.
  const offsets = Array.from({ length: 600 }, (_, i) => 1 + ((i * 7919) % 200_000));
  for (const o of offsets) {
    pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: o, data: streamBytes(o, 1_000), fin: false }]) });
  }
  t.true(isQuicConnected(pair.state.server));
  const st = pair.state.server.streams.byId.get(0)!;
  const covered = new Set(offsets.flatMap((o) => Array.from({ length: 1_000 }, (_, i) => o + i))).size;
  t.is(bufferedBytes(st.rxChunks), covered, 'each byte once');
  t.true(covered <= window);
  // Data past the window is a FLOW_CONTROL_ERROR, even in a frame that overlaps what is buffered.
  const over = handleQuicEvents(pair.state.server, { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: window - 10, data: streamBytes(window - 10, 20), fin: false }]) });
  t.like(over.state.closeError?.detail, { kind: 'quicClose', code: 0x03n, local: true });
  // RFC 9000 §21.7: a peer that fragments the stream into thousands of 1-byte pieces is closed (INTERNAL_ERROR).
  let frag = pair.state.server;
  for (let p = 0; p < 11 && frag.phase === 'connected'; p++) {
    const frames = Array.from({ length: 400 }, (_, i) => ({ type: 'stream' as const, streamId: 8, offset: 2 * (p * 400 + i) + 1, data: streamBytes(0, 1), fin: false }));
    frag = handleQuicEvents(frag, { type: 'datagram', now: pair.now, data: forge(frames) }).state;
  }
  t.like(frag.closeError?.detail, { kind: 'quicClose', code: 0x01n, local: true });
  t.true(frag.streams.rxChunkCount <= MAX_BUFFERED_CHUNKS + 400);
  // Byte 0 releases the contiguous run, in order and intact.
  pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: 0, data: streamBytes(0, 1), fin: false }]) });
  const got = Buffer.concat(pair.delivered.server.get(0) ?? []);
  t.true(got.length > 1);
  t.deepEqual(got, Buffer.from(streamBytes(0, got.length)));
});

test('QUIC: a step copies only the streams it changes (copy-on-write); earlier states are never changed', (t) => {
  const pair = new QuicPair().start().settle();
  const forge = forger(pair);
  // 20 streams with out-of-order data buffered.
  for (let k = 0; k < 20; k++) {
    pair.input('server', { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 4 * k, offset: 10, data: streamBytes(10, 500), fin: false }]) });
  }
  const before = pair.state.server;
  const chunks0 = before.streams.byId.get(0)!.rxChunks;
  const step = handleQuicEvents(before, { type: 'datagram', now: pair.now, data: forge([{ type: 'stream', streamId: 0, offset: 600, data: streamBytes(600, 100), fin: false }]) });
  let shared = 0;
  for (let k = 1; k < 20; k++) if (step.state.streams.byId.get(4 * k) === before.streams.byId.get(4 * k)) shared++;
  t.is(shared, 19, 'the 19 untouched streams are shared, not copied');
  t.not(step.state.streams.byId.get(0), before.streams.byId.get(0));
  t.is(before.streams.byId.get(0)!.rxChunks, chunks0, 'the earlier state still holds its own chunks');
  t.is(bufferedBytes(chunks0), 500);
  t.is(bufferedBytes(step.state.streams.byId.get(0)!.rxChunks), 600);
  // A timer or ACK-only input shares every stream.
  const idle = handleQuicEvents(before, { type: 'timeout', now: pair.now });
  t.true([...before.streams.byId.keys()].every((id) => idle.state.streams.byId.get(id) === before.streams.byId.get(id)));
});

test('QUIC hostile input: 1 000 PATH_CHALLENGEs in one 9 KB packet draw one 1200-byte datagram with the newest few PATH_RESPONSEs', (t) => {
  const pair = new QuicPair().start().settle();
  const forge = forger(pair);
  const challenges = Array.from({ length: 1_000 }, (_, i) => Uint8Array.of(0, 0, 0, 0, 0, 0, i >> 8, i & 0xff));
  const hostile = forge(challenges.map((data) => ({ type: 'pathChallenge' as const, data })));
  t.true(hostile.length > 9_000);
  const out = pair.input('server', { type: 'datagram', now: pair.now, data: hostile }).filter((e): e is Extract<Effect, { type: 'transmit' }> => e.type === 'transmit');
  t.is(out.length, 1);
  // RFC 9000 §8.2.2: expanded to 1200 bytes, never more.
  t.is(out[0]!.data.length, 1200);
  const srv = pair.state.server;
  const packet = unprotectPacket(srv.config.provider, srv.spaces.application.tx!, out[0]!.data, 1 + srv.dcid.length, srv.spaces.application.nextPn - 2);
  const responses = decodeFrames(packet!.payload, 'oneRtt').filter((f) => f.type === 'pathResponse');
  t.is(responses.length, MAX_PATH_RESPONSES);
  t.deepEqual(responses.map((f) => f.type === 'pathResponse' && f.data[7]), [996, 997, 998, 999].map((i) => i & 0xff), 'the newest challenges');
  t.deepEqual(srv.pathResponses, [], 'nothing left waiting');
  t.true(isQuicConnected(srv));
});

/** The fixture chain with unrelated certificates appended (TLS 1.3 allows extras): a first flight of ~7 KB. */
function bigChain() {
  const cred = serverCredentials();
  const extra = ['ca-cert.pem', 'other-ca-cert.pem', 'client-cert.pem', 'self-ec-cert.pem', 'wrong-host-cert.pem', 'server-ed-cert.pem', 'server-p384-cert.pem', 'server-rsa-cert.pem'].flatMap(
    (f) => loadCertificateChain(fixture(f)),
  );
  return { ...cred, certificateChain: [...cred.certificateChain, ...extra, ...extra] };
}

test('QUIC RFC 9000 §8.1: one 1200-byte Initial draws at most 3600 bytes until the client\'s address is validated; a 7 KB first flight still completes', (t) => {
  const pair = new QuicPair({}, { tls: { ...bigChain(), alpnProtocols: ['h3'] } });
  const replies: number[] = [];
  let unvalidatedSent = 0;
  let probes = 0;
  pair.observe = (side, state, effects) => {
    probes = Math.max(probes, state.ptoCount);
    if (side !== 'server') return;
    const bytes = effects.reduce((n, e) => n + (e.type === 'transmit' ? e.data.length : 0), 0);
    replies.push(bytes);
    if (!state.addressValidated) {
      unvalidatedSent = state.bytesSent;
      t.true(state.bytesSent <= 3 * state.bytesReceived, `sent ${state.bytesSent} for ${state.bytesReceived} received`);
    }
  };
  pair.start().drive(NOW + 10_000);
  t.true(isQuicConnected(pair.state.client) && isQuicConnected(pair.state.server));
  t.is(pair.datagrams.client[0]!.length, 1200);
  t.true(replies[1]! <= 3600, `reply to the first Initial: ${replies[1]} bytes`);
  t.true(replies[1]! > 3000, 'the limit, not the flight, bounds it');
  t.true(unvalidatedSent <= 3600);
  const total = pair.datagrams.server.reduce((n, d) => n + d.length, 0);
  t.true(total > 6_000, `the server's flight is ${total} bytes`);
  t.is(probes, 0, 'no probe was needed: the client\'s ACKs (a Handshake packet) validate its address');
});

test('QUIC RFC 9002 §6.2.2.1: a server blocked by the anti-amplification limit arms no PTO; the client\'s anti-deadlock probe unblocks it', (t) => {
  const pair = new QuicPair({}, { tls: { ...bigChain(), alpnProtocols: ['h3'] } });
  // The server's first flight but its first datagram is lost (the rest of the Handshake data), and so are the
  // client's ACKs for that first datagram: the server is at its limit, the client has nothing in flight.
  pair.drop = (from, n) => (from === 'server' && n >= 1 && n <= 3) || (from === 'client' && n === 1);
  let blockedWithTimer = 0;
  let blockedSteps = 0;
  const unvalidated = { sent: 0, received: 0 };
  pair.observe = (side, state) => {
    if (side === 'server' && !state.addressValidated) Object.assign(unvalidated, { sent: state.bytesSent, received: state.bytesReceived });
    if (side !== 'server' || state.addressValidated || state.phase !== 'handshake' || sendAllowance(state) >= 100) return;
    blockedSteps++;
    if (state.timers.lossDetection !== undefined) blockedWithTimer++;
  };
  pair.start().drive(NOW + 20_000);
  t.true(isQuicConnected(pair.state.client) && isQuicConnected(pair.state.server));
  t.true(blockedSteps > 0, 'the server was blocked');
  t.is(blockedWithTimer, 0, 'and armed no PTO while blocked');
  t.true(unvalidated.sent <= 3 * unvalidated.received, `${unvalidated.sent} bytes sent for ${unvalidated.received} received before validation`);
  // The client had nothing in flight (its ClientHello was acknowledged): its anti-deadlock PTO (a Handshake
  // PING after 1 ms, the PTO of a 0 ms RTT) sent the packet that validated it; the server had no timer at all.
  t.true(pair.now > NOW && pair.now - NOW < 999, `completed at +${pair.now - NOW} ms`);
});
