/**
 * Stream priorities (RFC 9218 §4 urgency and incremental, applied to our sending): the scheduler alone
 * (`takeStreamFrames` on a stream set), and over a connection, counting whose bytes go in which packets.
 */
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import { checkPriority, scheduleStreams } from '../../src/quic/priority.js';
import { newStreamSet, peerLimitsKnown, setStreamPriority, takeStreamFrames, writeStream, type StreamSettings } from '../../src/quic/streams.js';
import type { TransportParameters } from '../../src/wire/quic/transportParameters.js';
import { NOW } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';
import { framesOf, recordPackets } from '../helpers/quicFrames.js';

const cfg: StreamSettings = { role: 'client', maxData: 1 << 20, maxStreamData: 1 << 18, maxStreams: 100 };
const peer: TransportParameters = { initialMaxData: 1 << 24, initialMaxStreamDataBidiRemote: 1 << 22, initialMaxStreamsBidi: 100 };

/** A stream set with `bytes` waiting on each stream, at the priorities given. */
function waiting(streams: Record<number, { urgency?: number; incremental?: boolean }>, bytes: number) {
  const x = newStreamSet(cfg.maxData);
  peerLimitsKnown(x, peer);
  for (const [id, p] of Object.entries(streams)) {
    setStreamPriority(x, cfg, peer, Number(id), p);
    writeStream(x, cfg, peer, Number(id), new Uint8Array(bytes));
  }
  return x;
}

/** The stream of each STREAM frame taken, in order, run-length encoded: `0×5 4×5`. */
const runs = (frames: readonly { type: string; streamId?: number }[]): string => {
  const out: string[] = [];
  let last: number | undefined;
  let n = 0;
  for (const f of frames) {
    if (f.type !== 'stream') continue;
    if (f.streamId === last) n++;
    else {
      if (last !== undefined) out.push(`${last}×${n}`);
      last = f.streamId;
      n = 1;
    }
  }
  if (last !== undefined) out.push(`${last}×${n}`);
  return out.join(' ');
};

test('RFC 9218 §4.1: lower urgency first, whatever the stream IDs', (t) => {
  const x = waiting({ 0: { urgency: 7 }, 4: { urgency: 0 }, 8: {} }, 3000);
  t.is(runs(takeStreamFrames(x)), '4×3 8×3 0×3');
});

test('RFC 9218 §4.2: non-incremental streams of one urgency go one after another, in stream ID order', (t) => {
  const x = waiting({ 8: {}, 0: {}, 4: {} }, 3000);
  t.is(runs(takeStreamFrames(x)), '0×3 4×3 8×3');
});

test('RFC 9218 §4.2: incremental streams of one urgency share round-robin, a chunk each, resuming where the last call stopped', (t) => {
  const x = waiting({ 0: { incremental: true }, 4: { incremental: true }, 8: { incremental: true } }, 3000);
  // A budget of 4 chunks: 0, 4, 8, 0; the next call starts with 4.
  t.is(runs(takeStreamFrames(x, 4000)), '0×1 4×1 8×1 0×1');
  t.is(runs(takeStreamFrames(x)), '4×1 8×1 0×1 4×1 8×1');
});

test('RFC 9218 §4: within one urgency the non-incremental streams come before the incremental ones; a budget stops the taking', (t) => {
  const x = waiting({ 0: { incremental: true }, 4: {}, 8: { incremental: true }, 12: { urgency: 1 } }, 2000);
  t.is(runs(takeStreamFrames(x)), '12×2 4×2 0×1 8×1 0×1 8×1');
  const y = waiting({ 0: {}, 4: {} }, 5000);
  t.is(runs(takeStreamFrames(y, 2500)), '0×3', '2 500 bytes: two chunks and a part');
});

test('RFC 9218 §4.1: an urgency outside 0–7 is API misuse', (t) => {
  for (const urgency of [-1, 8, 1.5]) t.is(t.throws(() => checkPriority({ urgency }), { instanceOf: TlsError })?.kind, 'apiMisuse');
  t.deepEqual(checkPriority({}), { urgency: 3, incremental: false });
  t.deepEqual(scheduleStreams([], () => checkPriority({}), {}), []);
});

/** Over a connection: the streams of the STREAM frames in each 1-RTT packet the client sent, from `from` on. */
function packetStreams(packets: ReturnType<typeof recordPackets>['client']): number[][] {
  return packets.map((p) => framesOf([p], 'stream').map((f) => f.streamId)).filter((s) => s.length > 0);
}

test('QUIC priorities over a connection: data written later at urgency 0 overtakes urgency 7 data still waiting; the packets count it', (t) => {
  const pair = new QuicPair().start().drive(NOW + 1_000);
  pair.latency = 10;
  const wire = recordPackets(pair);
  // 100 KB of urgency 7 first: the congestion window (12 000 B) takes its first part at once.
  pair.input('client', { type: 'priority', now: pair.now, stream: 0, urgency: 7 });
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(100_000) });
  const early = framesOf(wire.client, 'stream').reduce((n, f) => n + f.data.length, 0);
  // Then 30 KB on stream 4 at urgency 0.
  pair.input('client', { type: 'priority', now: pair.now, stream: 4, urgency: 0 });
  pair.input('client', { type: 'write', now: pair.now, stream: 4, data: new Uint8Array(30_000) });
  pair.drive(pair.now + 5_000, () => pair.bytes('server', 0) === 100_000);
  t.is(pair.bytes('server', 4), 30_000);
  const order = packetStreams(wire.client).flat();
  const first4 = order.indexOf(4);
  const last4 = order.lastIndexOf(4);
  // Stream 0's frames between the first and last of stream 4's: only what was already queued (budget: the
  // window and two datagrams, 14 400 B) when stream 4 was written, at most 15 frames of up to 1 000 B.
  const between = order.slice(first4, last4 + 1).filter((id) => id === 0).length;
  t.true(early <= 12_000, `${early} B of stream 0 sent before stream 4 was written`);
  t.true(between <= 15, `${between} frames of stream 0 among stream 4's`);
  // Everything of stream 4 went before the bulk of stream 0.
  const after = order.slice(last4 + 1).filter((id) => id === 0).length;
  t.true(after >= 80, `${after} frames of stream 0 after stream 4 was done`);
});

test('QUIC priorities over a connection: incremental streams share the packets turn by turn; changing one to urgency 0 serves it alone', (t) => {
  const pair = new QuicPair().start().drive(NOW + 1_000);
  pair.latency = 10;
  const wire = recordPackets(pair);
  // Make the window full first, so the next writes wait in the streams and the scheduler decides.
  pair.input('client', { type: 'write', now: pair.now, stream: 8, data: new Uint8Array(15_000) });
  pair.input('client', { type: 'end', now: pair.now, stream: 8 });
  for (const stream of [0, 4]) {
    pair.input('client', { type: 'priority', now: pair.now, stream, incremental: true });
    pair.input('client', { type: 'write', now: pair.now, stream, data: new Uint8Array(40_000) });
  }
  pair.drive(pair.now + 25); // one round trip and a bit: the ACKs open the window, the streams take turns
  const turns = packetStreams(wire.client)
    .flat()
    .filter((id) => id !== 8);
  // Alternating: 0 4 0 4 … (a chunk each; a packet may end with the start of the other's next chunk).
  let switches = 0;
  for (let i = 1; i < turns.length; i++) if (turns[i] !== turns[i - 1]) switches++;
  t.true(turns.length >= 10 && switches >= turns.length / 2 - 1, `${turns.length} frames, ${switches} switches: ${turns.join(' ')}`);
  // Stream 4 becomes urgent: from the next packets on, only it, until it is done.
  pair.input('client', { type: 'priority', now: pair.now, stream: 4, urgency: 0 });
  const mark = wire.client.length;
  pair.drive(pair.now + 5_000, () => pair.bytes('server', 0) === 40_000 && pair.bytes('server', 4) === 40_000);
  const rest = packetStreams(wire.client.slice(mark)).flat();
  const last4 = rest.lastIndexOf(4);
  const zerosBefore = rest.slice(0, last4).filter((id) => id === 0).length;
  t.true(zerosBefore <= 15, `${zerosBefore} frames of stream 0 before stream 4 finished (what was queued already)`);
  t.is(pair.bytes('server', 4), 40_000);
  t.is(pair.bytes('server', 0), 40_000);
});
