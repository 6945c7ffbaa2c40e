/**
 * Closing a QUIC connection after OpenSSL's `SSL_shutdown_ex` (RFC 9000 §10.2): the code range, the first
 * call's code and reason, the change of mind, no stream flush, the reason cut to fit, and the progress.
 */
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import { MAX_CLOSE_REASON, MAX_ERROR_CODE, quicShutdownProgress } from '../../src/quic/connection.js';
import { closeReason } from '../../src/quic/shutdown.js';
import { decodeFrames, type Frame } from '../../src/wire/quic/frames.js';
import { unprotectPacket } from '../../src/quic/protection.js';
import { decodePacketHeader } from '../../src/wire/quic/packet.js';
import { NOW } from '../helpers/pair.js';
import { QuicPair, type Side } from '../helpers/quicPair.js';

const connected = () => new QuicPair().start().drive(NOW + 1_000);

/** The CONNECTION_CLOSE frames in `side`'s datagrams, read with the peer's 1-RTT keys. */
function closeFrames(pair: QuicPair, side: Side, from = 0): Extract<Frame, { type: 'connectionClose' }>[] {
  const peer = pair.state[side === 'client' ? 'server' : 'client'];
  const rx = peer.spaces.application.rx;
  const out: Extract<Frame, { type: 'connectionClose' }>[] = [];
  for (const d of pair.datagrams[side].slice(from)) {
    const h = decodePacketHeader(d, 0, 8);
    if (h.form !== 'short' || !rx) continue;
    const p = unprotectPacket(peer.config.provider, rx, d.subarray(0, h.end), h.pnOffset, peer.spaces.application.largestRx);
    if (!p) continue;
    for (const f of decodeFrames(p.payload, 'oneRtt')) if (f.type === 'connectionClose') out.push(f);
  }
  return out;
}

test('QUIC shutdown: an application code outside [0, 2^62 - 1] is API misuse, and nothing is sent or changed', (t) => {
  const pair = connected();
  const before = pair.state.client;
  for (const errorCode of [1n << 62n, -1n, 1n << 64n]) {
    const err = t.throws(() => pair.input('client', { type: 'close', now: pair.now, mode: 'rapid', errorCode }), { instanceOf: TlsError });
    t.is(err?.kind, 'apiMisuse');
  }
  t.is(pair.state.client, before, 'the state is the one before the calls');
  t.is(quicShutdownProgress(pair.state.client), 'none');
  // The largest code is fine.
  pair.input('client', { type: 'close', now: pair.now, mode: 'rapid', errorCode: MAX_ERROR_CODE });
  pair.drive(pair.now + 60_000); // the peer drains, then reports
  t.like(pair.closed('server')?.error?.detail, { kind: 'quicClose', code: MAX_ERROR_CODE, local: false });
});

test('QUIC shutdown: the first call\'s code and reason are sent; a second graceful call cannot replace them', (t) => {
  const pair = connected();
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(50_000) });
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'first' });
  t.is(quicShutdownProgress(pair.state.client), 'inProgress');
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 9n, reason: 'second' });
  pair.drive(pair.now + 60_000);
  t.is(quicShutdownProgress(pair.state.client), 'complete');
  t.like(pair.closed('server')?.error?.detail, { kind: 'quicClose', code: 7n, reason: 'first' });
  t.is(pair.bytes('server', 0), 50_000, 'the stream was flushed first');
});

test('QUIC shutdown: change of mind: rapid while a compliant close waits for the streams closes now, with the first code', (t) => {
  const pair = connected();
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(200_000) });
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 3n, reason: 'compliant' });
  t.is(pair.closed('client'), undefined, 'waiting for the streams');
  const sent = pair.datagrams.client.length;
  const effects = pair.input('client', { type: 'close', now: pair.now, mode: 'rapid', errorCode: 4n, reason: 'rapid' });
  t.deepEqual(effects.map((e) => e.type), ['transmit', 'closed'], 'one CONNECTION_CLOSE, closed at once');
  t.like(closeFrames(pair, 'client', sent)[0], { kind: 'application', errorCode: 3n });
  t.is(new TextDecoder().decode(closeFrames(pair, 'client', sent)[0]!.reason), 'compliant');
  t.is(quicShutdownProgress(pair.state.client), 'complete');
});

test('QUIC shutdown: rapid during the closing period ends it at once', (t) => {
  const pair = connected();
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful' });
  t.is(pair.state.client.phase, 'closing');
  const effects = pair.input('client', { type: 'close', now: pair.now, mode: 'rapid' });
  t.deepEqual(effects.map((e) => e.type), ['closed']);
});

test('QUIC shutdown: NO_STREAM_FLUSH sends the CONNECTION_CLOSE at once, data still queued is not sent', (t) => {
  const pair = connected();
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(500_000) });
  const sent = pair.datagrams.client.length;
  const effects = pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', noStreamFlush: true, errorCode: 5n });
  t.is(effects.filter((e) => e.type === 'transmit').length, 1, 'the CONNECTION_CLOSE');
  t.is(pair.state.client.phase, 'closing', 'a closing period follows');
  t.is(closeFrames(pair, 'client', sent).length, 1);
  pair.drive(pair.now + 60_000);
  t.true(pair.bytes('server', 0) < 500_000);
  t.like(pair.closed('server')?.error?.detail, { kind: 'quicClose', code: 5n });
});

test('QUIC shutdown: a long reason is cut to fit the packet at a UTF-8 boundary; the datagram stays within 1200 bytes', (t) => {
  for (const reason of ['é'.repeat(1_500), 'x'.repeat(70_000), '€'.repeat(400)]) {
    const pair = connected();
    const sent = pair.datagrams.client.length;
    pair.input('client', { type: 'close', now: pair.now, mode: 'rapid', errorCode: 1n, reason });
    const datagrams = pair.datagrams.client.slice(sent);
    t.is(datagrams.length, 1, 'sent');
    t.true(datagrams[0]!.length <= 1200, `${datagrams[0]!.length} bytes`);
    pair.drive(pair.now + 60_000);
    const got = (pair.closed('server')?.error?.detail as { reason: string }).reason;
    t.true(reason.startsWith(got) && got.length > 0, 'a prefix of whole characters');
    t.true(new TextEncoder().encode(got).length <= MAX_CLOSE_REASON);
  }
  t.is(closeReason('aé', 2).length, 1, 'never half a character');
});

test('QUIC shutdown: the progress is none, then in progress, then complete; the peer\'s close drains', (t) => {
  const pair = connected();
  t.is(quicShutdownProgress(pair.state.server), 'none');
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful' });
  pair.settle();
  t.is(quicShutdownProgress(pair.state.client), 'inProgress');
  t.is(quicShutdownProgress(pair.state.server), 'inProgress', 'draining');
  pair.drive(pair.now + 60_000);
  t.is(quicShutdownProgress(pair.state.client), 'complete');
  t.is(quicShutdownProgress(pair.state.server), 'complete');
});

test('QUIC shutdown: stream commands that race the peer\'s close (draining) are dropped, not API misuse; nothing is sent', (t) => {
  const pair = connected();
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(10) });
  pair.settle();
  pair.input('client', { type: 'close', now: pair.now, mode: 'rapid', errorCode: 7n });
  pair.settle();
  t.is(pair.state.server.phase, 'draining');
  const sent = pair.datagrams.server.length;
  for (const input of [
    { type: 'write', stream: 0, data: new Uint8Array(5) },
    { type: 'end', stream: 0 },
    { type: 'resetStream', stream: 4, errorCode: 1n },
    { type: 'stopSending', stream: 0, errorCode: 1n },
    { type: 'priority', stream: 0, urgency: 3, incremental: false },
  ] as const) {
    t.notThrows(() => pair.input('server', { ...input, now: pair.now }), input.type);
  }
  pair.settle();
  t.is(pair.datagrams.server.length, sent, 'nothing more is sent while draining');
  t.is(quicShutdownProgress(pair.state.server), 'inProgress');
});
