/**
 * One bulk transfer over a {@link QuicPair} link in virtual time, for comparing congestion controllers: a path
 * of a given RTT, a bottleneck (rate and drop-tail queue) and seeded random loss both ways. Measures the
 * virtual time from the first byte written to the last delivered, and what the sender put on the wire.
 */
import type { CongestionControl } from '../../src/quic/recovery.js';
import { QuicPair } from './quicPair.js';
import { NOW } from './pair.js';
import { seededRandom } from '../../src/rx/faults/random.js';

/** A seeded PRNG (the fault operators' mulberry32), so a "random" pattern is the same on every run. */
export const prng = seededRandom;

/** The path: round-trip time (ms), bottleneck rate (bytes/ms), queue (bytes), random loss each way (0–1). */
export interface BulkPath {
  readonly rtt: number;
  readonly rate: number;
  readonly queueBytes: number;
  readonly loss: number;
  readonly seed?: number;
}

export interface BulkResult {
  /** Virtual ms from the write to the receiver's end of stream. */
  readonly ms: number;
  /** UDP payload bytes the sender sent (datagrams), and how many datagrams. */
  readonly bytesSent: number;
  readonly datagrams: number;
  /** Datagrams the sender lost to the random rule and to the bottleneck queue. */
  readonly droppedRandom: number;
  readonly droppedQueue: number;
  /** Whether every byte arrived, in order. */
  readonly complete: boolean;
  readonly pair: QuicPair;
}

/** Send `bytes` from client to server on stream 0 over `path` with `control` at both ends. */
export function bulkTransfer(bytes: number, path: BulkPath, control: CongestionControl): BulkResult {
  // Receive windows far above the path's BDP: flow control must not be what limits the sender.
  const windows = { maxData: 64 << 20, maxStreamData: 64 << 20, congestionControl: control } as const;
  const pair = new QuicPair(windows, windows);
  pair.latency = path.rtt / 2;
  pair.start().drive(NOW + 5_000, () => pair.state.client.phase === 'connected' && pair.state.server.phase === 'connected');
  pair.settle();
  const before = pair.datagrams.client.length;
  const random = prng(path.seed ?? 9438);
  pair.bottleneck = { rate: path.rate, queueBytes: path.queueBytes };
  if (path.loss > 0) pair.drop = () => random() < path.loss;
  const start = pair.now;
  const data = new Uint8Array(bytes).map((_, i) => (i * 31) & 0xff);
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.drive(pair.now + 600_000, () => pair.effects.server.some((e) => e.type === 'peerClosed' && e.stream === 0), 2_000_000);
  const sent = pair.datagrams.client.slice(before);
  const got = Buffer.concat(pair.delivered.server.get(0) ?? []);
  return {
    ms: pair.now - start,
    bytesSent: sent.reduce((n, d) => n + d.length, 0),
    datagrams: sent.length,
    droppedRandom: pair.dropped.client.rule,
    droppedQueue: pair.dropped.client.queue,
    complete: got.length === bytes && Buffer.from(data).equals(got),
    pair,
  };
}
