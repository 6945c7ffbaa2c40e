import test from 'ava';
import fc from 'fast-check';
import { ackFrameFor, addPacket, hasPacket, MAX_ACK_RANGES, rangesOfAck, type PnSet } from '../../src/quic/ackRanges.js';
import { acknowledge, isDuplicate, newSpace, packetReceived, type SentRecord, type WorkCounter } from '../../src/quic/spaces.js';
import {
  canSend,
  detectLoss,
  initialRtt,
  initialWindow,
  isPersistentCongestion,
  minimumWindow,
  newCongestion,
  onPacketSent,
  onPacketsAcked,
  onPacketsLost,
  probeTimeout,
  updateRtt,
  type SentPacket,
} from '../../src/quic/recovery.js';
import { decodeFrames, encodeFrame } from '../../src/wire/quic/frames.js';
import { encodeWith } from '../../src/wire/writer.js';

// ── ACK ranges (RFC 9000 §13.2, §19.3) ──────────────────────────────────────────────────────────────
const setOf = (pns: readonly number[]): PnSet => pns.reduce<PnSet>((s, pn) => addPacket(s, pn), []);

test('ack ranges: packets merge into disjoint ranges, largest first', (t) => {
  t.deepEqual(setOf([5, 3, 4, 9, 10, 1]), [
    { smallest: 9, largest: 10 },
    { smallest: 3, largest: 5 },
    { smallest: 1, largest: 1 },
  ]);
  t.deepEqual(setOf([1, 3, 2]), [{ smallest: 1, largest: 3 }], 'a packet that joins two ranges');
  t.deepEqual(setOf([7, 7, 7]), [{ smallest: 7, largest: 7 }], 'duplicates');
  t.throws(() => addPacket([], -1), { instanceOf: RangeError });
});

test('ack ranges: RFC 9000 §19.3.1 gaps: {9,10} {3..5} {1} becomes largest 10, first range 1, gaps 2 and 0', (t) => {
  const ack = ackFrameFor(setOf([1, 3, 4, 5, 9, 10]), 0);
  t.deepEqual(ack, { type: 'ack', largest: 10, delay: 0, firstRange: 1, ranges: [{ gap: 2, length: 2 }, { gap: 0, length: 0 }] });
  t.deepEqual(rangesOfAck(ack), setOf([1, 3, 4, 5, 9, 10]));
  t.throws(() => ackFrameFor([], 0), { instanceOf: RangeError });
  t.deepEqual(rangesOfAck(ackFrameFor(setOf([1, 3, 5, 7]), 0, 2)), setOf([5, 7]), 'only the newest ranges when capped');
});

test('ack ranges: any set of packets survives set → ACK frame → wire → frame → set (property)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 2 ** 20 }), (pns, delay) => {
      const set = setOf(pns);
      for (const pn of pns) t.true(hasPacket(set, pn));
      const bytes = encodeWith((w) => encodeFrame(w, ackFrameFor(set, delay)));
      const [frame] = decodeFrames(bytes, 'oneRtt');
      if (frame?.type !== 'ack') return t.fail('an ACK frame');
      t.deepEqual(rangesOfAck(frame), set);
      const all = new Set(pns);
      for (let pn = 0; pn <= 5001; pn += 7) t.is(hasPacket(set, pn), all.has(pn));
    }),
    { numRuns: 200 },
  );
});

test('ack ranges: RFC 9000 §13.2.3/§13.2.4: 4 000 packets with gaps keep at most MAX_ACK_RANGES ranges, the newest; older packets are refused', (t) => {
  const space = newSpace();
  let refused = 0;
  for (let pn = 0; pn < 8_000; pn += 2) {
    if (isDuplicate(space, pn)) refused++;
    else packetReceived(space, pn, true, 0);
    t.true(space.received.length <= MAX_ACK_RANGES);
  }
  t.is(refused, 0, 'ascending packets are never refused');
  t.is(space.received.length, MAX_ACK_RANGES);
  t.deepEqual(space.received[0], { smallest: 7_998, largest: 7_998 }, 'the newest range is kept');
  const lowest = space.received[space.received.length - 1]!.smallest;
  t.is(lowest, 8_000 - 2 * MAX_ACK_RANGES);
  // A late packet below the ranges still tracked would be forgotten at once (and a copy processed again): refused.
  t.true(isDuplicate(space, 1));
  t.true(isDuplicate(space, lowest - 1));
  t.false(isDuplicate(space, lowest + 1), 'a gap inside the tracked ranges is still accepted');
  packetReceived(space, lowest + 1, true, 0);
  t.true(space.received.length <= MAX_ACK_RANGES);
  t.true(isDuplicate(space, lowest + 1));
});

test('ack ranges: the work per received ACK frame is O(min(ranges, in flight) × log): 10 000 ranges vs 10 packets, 3 ranges vs 1 000', (t) => {
  // Sent records that count how often their packet number is read: the matching work, whatever the code does.
  let reads = 0;
  const sent = (pns: readonly number[]): SentRecord[] =>
    pns.map((n) => ({
      get pn() {
        reads++;
        return n;
      },
      timeSent: 0,
      ackEliciting: true,
      inFlight: true,
      size: 1200,
      frames: [],
    }));
  // Every even packet number up to 20 000 acknowledged, one range each (gap 0, length 0).
  const manyRanges = { type: 'ack' as const, largest: 20_000, delay: 0, firstRange: 0, ranges: Array.from({ length: 10_000 }, () => ({ gap: 0, length: 0 })) };
  const a = { ...newSpace(), nextPn: 20_001, sent: sent([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]) };
  const work: WorkCounter = { steps: 0 };
  const acked = acknowledge(a, manyRanges, work);
  const readsA = reads;
  t.deepEqual(acked.map((p) => p.pn).sort((x, y) => x - y), [100, 102, 104, 106, 108]);
  t.deepEqual(a.sent.map((p) => p.pn), [101, 103, 105, 107, 109]);
  t.true(readsA <= 10 * 4, `${readsA} packet-number reads for 10 packets in flight and 10 000 ranges`);
  t.true(work.steps > 0 && work.steps <= 10 * 15, `${work.steps} steps`);
  // Few ranges, many packets in flight: a binary search per range.
  reads = 0;
  const b = { ...newSpace(), nextPn: 1_000, sent: sent(Array.from({ length: 1_000 }, (_, i) => i)) };
  const few = { type: 'ack' as const, largest: 999, delay: 0, firstRange: 9, ranges: [{ gap: 488, length: 9 }, { gap: 0, length: 0 }] };
  const w2: WorkCounter = { steps: 0 };
  t.is(acknowledge(b, few, w2).length, 21);
  const readsB = reads;
  t.is(b.sent.length, 979);
  // 3 binary searches (≤ 11 reads each), the 21 acknowledged, and the ends of `sent`.
  t.true(readsB <= 3 * 12 + 21 + 2 * 3, `${readsB} packet-number reads for 3 ranges and 1 000 packets in flight`);
  t.true(w2.steps <= 3 * 12, `${w2.steps} steps`);
});

// ── RTT (RFC 9002 §5) ───────────────────────────────────────────────────────────────────────────────
test('RFC 9002 §5.3: the first sample sets smoothed = sample, rttvar = sample / 2; later ones are weighted 1/8 and 1/4', (t) => {
  const r0 = initialRtt();
  t.like(r0, { sampled: false, smoothed: 333, variance: 166.5 });
  t.is(probeTimeout(r0, 0), 333 + 4 * 166.5, 'PTO before any sample (§6.2.2)');
  const r1 = updateRtt(r0, 100, 30, false, 25);
  t.deepEqual(r1, { sampled: true, latest: 100, min: 100, smoothed: 100, variance: 50 }, 'the first sample ignores ack delay');
  // 140 ms with 20 ms ack delay: adjusted 120; rttvar = 3/4·50 + 1/4·|100 − 120| = 42.5; smoothed = 7/8·100 + 1/8·120 = 102.5.
  t.deepEqual(updateRtt(r1, 140, 20, false, 25), { sampled: true, latest: 140, min: 100, smoothed: 102.5, variance: 42.5 });
  // After the handshake is confirmed the delay is capped at max_ack_delay (25): adjusted 115.
  t.like(updateRtt(r1, 140, 40, true, 25), { smoothed: 7 / 8 * 100 + 115 / 8 });
  // A delay that would take the sample below min_rtt is not subtracted: adjusted = 105.
  t.like(updateRtt(r1, 105, 20, false, 25), { smoothed: 7 / 8 * 100 + 105 / 8, min: 100 });
  t.like(updateRtt(r1, 80, 0, false, 25), { min: 80 });
});

test('RFC 9002 §6.2.1: PTO = smoothed + max(4·rttvar, 1 ms) + max_ack_delay, doubled per consecutive PTO', (t) => {
  const r = updateRtt(initialRtt(), 100, 0, false, 0);
  t.is(probeTimeout(r, 25), 100 + 200 + 25);
  t.is(probeTimeout(r, 0, 2), (100 + 200) * 4, 'Initial/Handshake spaces: no max_ack_delay; backoff 2^2');
  const steady = { sampled: true, latest: 10, min: 10, smoothed: 10, variance: 0.1 };
  t.is(probeTimeout(steady, 0), 10 + 1, 'the 1 ms granularity floor');
});

// ── Loss detection (RFC 9002 §6.1) ──────────────────────────────────────────────────────────────────
const pkt = (pn: number, timeSent: number, size = 1200, ackEliciting = true): SentPacket => ({ pn, timeSent, ackEliciting, inFlight: true, size });

test('RFC 9002 §6.1.1: three packets below the largest acknowledged are lost', (t) => {
  const rtt = updateRtt(initialRtt(), 100, 0, false, 0);
  const sent = [pkt(1, 0), pkt(2, 1), pkt(3, 2), pkt(6, 5)];
  const r = detectLoss(sent, 5, rtt, 10);
  t.deepEqual(r.lost.map((p) => p.pn), [1, 2]);
  t.deepEqual(r.remaining.map((p) => p.pn), [3, 6], '3 is only 2 below 5; 6 is above the largest acknowledged');
  // Packet 3 becomes lost by time at 2 + 9/8 × 100.
  t.is(r.lossTime, 2 + 112.5);
});

test('RFC 9002 §6.1.2: a packet sent more than 9/8 × max(smoothed, latest) ago is lost', (t) => {
  const rtt = updateRtt(initialRtt(), 80, 0, false, 0);
  const sent = [pkt(4, 0), pkt(5, 50)];
  t.deepEqual(detectLoss(sent, 5, rtt, 90).lost.map((p) => p.pn), [4], '90 − 0 ≥ 90 = 9/8 × 80');
  t.deepEqual(detectLoss(sent, 5, rtt, 89).lost, [], 'one ms earlier: not yet');
  t.is(detectLoss(sent, 5, rtt, 89).lossTime, 90);
});

test('RFC 9002 §6.1.2: at the loss time it armed, the packet is lost (no rounding error re-arms the timer for now)', (t) => {
  // Wall-clock-sized times, from a measured run that spun: (timeSent + lossDelay) − lossDelay rounds below timeSent.
  const rtt = updateRtt(initialRtt(), 52399 / 1024, 0, false, 0); // lossDelay = 9/8 × 51.17… = 57.5672607421875
  const sent = [pkt(5966, 1798761624429.115)];
  const armed = detectLoss(sent, 5967, rtt, 1798761624430).lossTime!;
  t.true(armed - 57.5672607421875 < 1798761624429.115, 'the case: subtracting back rounds below the send time');
  const r = detectLoss(sent, 5967, rtt, armed);
  t.deepEqual(r.lost.map((p) => p.pn), [5966]);
  t.is(r.lossTime, undefined);
});

// ── NewReno (RFC 9002 §7) ────────────────────────────────────────────────────────────────────────────
test('RFC 9002 §7.2: initial and minimum windows', (t) => {
  t.is(initialWindow(1200), 12000);
  t.is(initialWindow(1472), 14720);
  t.is(initialWindow(9000), 18000);
  t.is(minimumWindow(1200), 2400);
});

test('RFC 9002 §7.3: slow start, a recovery period, then congestion avoidance', (t) => {
  let cc = newCongestion(1200);
  const sent = Array.from({ length: 10 }, (_, i) => pkt(i, i));
  for (const p of sent) cc = onPacketSent(cc, p);
  t.is(cc.bytesInFlight, 12000);
  t.false(canSend(cc, 1200), 'the initial window is full');
  cc = onPacketsAcked(cc, sent.slice(0, 2));
  t.is(cc.window, 12000 + 2400, 'slow start: the window grows by the bytes acknowledged');
  t.is(cc.bytesInFlight, 9600);
  // Packet 2 is lost at t = 100: recovery starts, the window halves.
  cc = onPacketsLost(cc, [sent[2]!], 100);
  t.like(cc, { window: 7200, ssthresh: 7200, recoveryStart: 100, bytesInFlight: 8400 });
  // A second loss of a packet sent before recovery began does not reduce again (§7.3.2).
  cc = onPacketsLost(cc, [sent[3]!], 110);
  t.like(cc, { window: 7200, recoveryStart: 100 });
  // Acks of packets sent before recovery do not grow the window; one sent after it does (congestion avoidance).
  cc = onPacketsAcked(cc, [sent[4]!]);
  t.is(cc.window, 7200);
  cc = onPacketsAcked(cc, [pkt(20, 150)]);
  t.is(cc.window, 7200 + (1200 * 1200) / 7200);
});

test('RFC 9002 §7.6: persistent congestion collapses the window to the minimum', (t) => {
  const rtt = updateRtt(initialRtt(), 100, 0, false, 0); // PTO period = 100 + 200 = 300 ms; × 3 = 900 ms
  const lost = [pkt(1, 0), pkt(2, 500), pkt(3, 950)];
  t.true(isPersistentCongestion(lost, rtt, 0, []));
  const ends = [pkt(1, 0), pkt(3, 950)];
  t.true(isPersistentCongestion(ends, rtt, 0, setOf([0, 4])), 'acknowledged packets outside the span do not matter');
  t.false(isPersistentCongestion(ends, rtt, 0, setOf([2])), 'packet 2, between them, was acknowledged');
  t.false(isPersistentCongestion(lost.slice(0, 2), rtt, 0, []), 'spanning only 500 ms');
  t.false(isPersistentCongestion(lost, initialRtt(), 0, []), 'no RTT sample yet');
  t.false(isPersistentCongestion([pkt(1, 0, 1200, false), pkt(3, 950, 1200, false)], rtt, 0, []), 'not ack-eliciting');
  let cc = newCongestion(1200);
  for (const p of lost) cc = onPacketSent(cc, p);
  cc = onPacketsLost(cc, lost, 1000, true);
  t.like(cc, { window: 2400, bytesInFlight: 0, recoveryStart: undefined });
});
