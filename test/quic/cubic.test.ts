/**
 * CUBIC (RFC 9438): the formulas of `cubic.ts`, the controller through `recovery.ts` (properties over random
 * event sequences), the `congestionControl` option, and CUBIC against NewReno on a lossy high-BDP path in
 * virtual time (`test/helpers/bulk.ts`; the full table is bench/quic-cc.ts, recorded in bench/results.md).
 */
import test from 'ava';
import fc from 'fast-check';
import { TlsError } from '../../src/core/errors.js';
import { createQuicConnection } from '../../src/quic/connection.js';
import { ALPHA_CUBIC, BETA_CUBIC, CUBIC_C, cubicK, cubicOnAck, cubicOnCongestion, newCubic, wCubic, type CubicState } from '../../src/quic/cubic.js';
import { minimumWindow, newCongestion, onPacketSent, onPacketsAcked, onPacketsLost, type CongestionState, type SentPacket } from '../../src/quic/recovery.js';
import { bulkTransfer } from '../helpers/bulk.js';
import { caVerifier } from '../helpers/pair.js';

const MSS = 1200;
const pkt = (pn: number, timeSent: number, size = MSS): SentPacket => ({ pn, timeSent, ackEliciting: true, inFlight: true, size });

/** ACK-clock a window for `ms`: every RTT, one window's worth of datagrams acknowledged (no loss, not app-limited). */
function clock(window: number, c: CubicState, from: number, ms: number, rtt: number): { window: number; cubic: CubicState } {
  for (let now = from; now < from + ms; now += rtt) {
    const n = Math.floor(window / MSS);
    for (let i = 0; i < n; i++) ({ window, cubic: c } = cubicOnAck(window, c, MSS, MSS, now, rtt));
  }
  return { window, cubic: c };
}

// ── RFC 9438 formulas ───────────────────────────────────────────────────────────────────────────────
test('RFC 9438 §4.1.1, §4.3: C = 0.4, β = 0.7, α = 3(1 − β)/(1 + β)', (t) => {
  t.is(CUBIC_C, 0.4);
  t.is(BETA_CUBIC, 0.7);
  t.true(Math.abs(ALPHA_CUBIC - 0.9 / 1.7) < 1e-12);
});

test('RFC 9438 §4.2 (Figure 2): K = ∛((W_max − cwnd_epoch)/C), in ms; 0 from at or above W_max', (t) => {
  // W_max 100 segments, epoch at 70: K = ∛(30 / 0.4) = ∛75 ≈ 4.217 s.
  t.true(Math.abs(cubicK(100 * MSS, 70 * MSS, MSS) - Math.cbrt(75) * 1000) < 1e-9);
  t.true(Math.abs(cubicK(100 * MSS, 70 * MSS, MSS) - 4217.16) < 0.01);
  t.is(cubicK(100 * MSS, 100 * MSS, MSS), 0);
  t.is(cubicK(100 * MSS, 120 * MSS, MSS), 0);
});

test('RFC 9438 §4.2 (Figure 1): W_cubic(t) = C(t − K)³ + W_max: the epoch window at 0, W_max at K, convex after', (t) => {
  const c = { wMax: 100 * MSS, k: cubicK(100 * MSS, 70 * MSS, MSS) };
  t.true(Math.abs(wCubic(c, 0, MSS) - 70 * MSS) < 1e-6, 'starts at cwnd_epoch');
  t.is(wCubic(c, c.k, MSS), 100 * MSS, 'the plateau at K');
  t.true(Math.abs(wCubic(c, c.k + 1000, MSS) - (100 + 0.4) * MSS) < 1e-6, 'one second past K: + C segments');
  t.true(Math.abs(wCubic(c, c.k + 2000, MSS) - (100 + 0.4 * 8) * MSS) < 1e-6, 'two seconds past K: + 8C');
  t.true(Math.abs(wCubic(c, c.k - 1000, MSS) - (100 - 0.4) * MSS) < 1e-6, 'symmetric before K');
});

test('RFC 9438 §4.6: a congestion event leaves β × the window (ssthresh too), W_max and cwnd_prior the window before', (t) => {
  const r = cubicOnCongestion(100 * MSS, newCubic(), minimumWindow(MSS));
  t.is(r.window, 70 * MSS);
  t.like(r.cubic, { wMax: 100 * MSS, cwndPrior: 100 * MSS });
  t.is(r.cubic.epochStart, undefined, 'the epoch starts with the next ACK that may grow the window');
  // Through the controller: the recovery period of RFC 9002 §7.3.2 with CUBIC's decrease.
  let cc: CongestionState = { ...newCongestion(MSS, 'cubic'), window: 100 * MSS };
  for (let pn = 0; pn < 10; pn++) cc = onPacketSent(cc, pkt(pn, pn));
  cc = onPacketsLost(cc, [pkt(3, 3)], 100);
  t.like(cc, { window: 70 * MSS, ssthresh: 70 * MSS, recoveryStart: 100, bytesInFlight: 9 * MSS });
  cc = onPacketsLost(cc, [pkt(4, 4)], 110);
  t.is(cc.window, 70 * MSS, 'once per recovery period');
  t.is(cubicOnCongestion(2 * MSS, newCubic(), minimumWindow(MSS)).window, minimumWindow(MSS), 'never below the minimum window');
});

test('RFC 9438 §4.7: fast convergence: a loss before the window got back to W_max lowers W_max to cwnd·(1 + β)/2', (t) => {
  const first = cubicOnCongestion(100 * MSS, newCubic(), minimumWindow(MSS)).cubic;
  const second = cubicOnCongestion(80 * MSS, first, minimumWindow(MSS));
  t.is(second.cubic.wMax, 80 * MSS * 0.85);
  t.is(second.window, 56 * MSS);
  t.is(second.cubic.cwndPrior, 80 * MSS);
  // Past the old maximum, W_max is simply the window.
  t.is(cubicOnCongestion(120 * MSS, first, minimumWindow(MSS)).cubic.wMax, 120 * MSS);
});

test('RFC 9438 §4.4–§4.5: ACK-clocked without loss, the window climbs back to W_max around K (concave), then beyond (convex)', (t) => {
  const rtt = 50;
  const after = cubicOnCongestion(1000 * MSS, newCubic(), minimumWindow(MSS));
  const k = cubicK(1000 * MSS, after.window, MSS); // ∛(300 / 0.4) ≈ 9.09 s
  const atK = clock(after.window, after.cubic, 0, k, rtt);
  t.true(Math.abs(atK.window / (1000 * MSS) - 1) < 0.02, `window at K: ${Math.round(atK.window / MSS)} segments`);
  t.true(atK.window <= wCubic(atK.cubic, k + 2 * rtt, MSS) * 1.001, 'the curve one RTT ahead bounds it');
  const later = clock(atK.window, atK.cubic, k, 5000, rtt);
  t.true(later.window > 1000 * MSS + 0.4 * 125 * MSS * 0.8, `convex: ${Math.round(later.window / MSS)} segments 5 s past K`);
  t.true(later.window > later.cubic.wEst, 'the cubic region, not the Reno-friendly one, at this BDP');
});

test('RFC 9438 §4.3: at a small window and a short RTT the Reno-friendly estimate takes over', (t) => {
  const rtt = 10;
  const after = cubicOnCongestion(20 * MSS, newCubic(), minimumWindow(MSS)); // 14 segments, K ≈ 2.47 s
  const r = clock(after.window, after.cubic, 0, 500, rtt);
  // Reno-friendly: about α segments per RTT for 50 RTTs ≈ +26 segments; the cubic curve gives a fraction of one.
  const cubicAlone = wCubic(r.cubic, 500, MSS);
  t.true(r.window > cubicAlone + 10 * MSS, `window ${Math.round(r.window / MSS)} vs W_cubic ${(cubicAlone / MSS).toFixed(1)} segments`);
  t.true(Math.abs(r.window - r.cubic.wEst) < MSS, 'the window is W_est');
  // α becomes 1 once W_est passes cwnd_prior (20 segments): growth past it is a full segment per RTT.
  t.true(r.window > 20 * MSS + 10 * MSS);
});

test('RFC 9438 §4.8: after persistent congestion, slow start to ssthresh, then an epoch with K = 0 and W_max = the window', (t) => {
  let cc: CongestionState = { ...newCongestion(MSS, 'cubic'), window: 100 * MSS };
  cc = onPacketSent(cc, pkt(1, 0));
  cc = onPacketsLost(cc, [pkt(1, 0)], 1000, true);
  t.like(cc, { window: minimumWindow(MSS), ssthresh: 70 * MSS });
  t.is(cc.cubic!.wMax, 0, 'W_max forgotten');
  // Slow start up to ssthresh (packets sent after the loss).
  let pn = 10;
  while (cc.window < cc.ssthresh) cc = onPacketsAcked(onPacketSent(cc, pkt(pn, 1100)), [pkt(pn++, 1100)], false, 1200, 50);
  const epochWindow = cc.window;
  cc = onPacketsAcked(onPacketSent(cc, pkt(pn, 1300)), [pkt(pn++, 1300)], false, 1400, 50);
  t.like(cc.cubic!, { k: 0, wMax: epochWindow, epochStart: 1400 });
});

test('RFC 9438 §5.8, RFC 9002 §7.8: application-limited ACKs grow nothing and end the epoch; the curve resumes where it was', (t) => {
  let cc: CongestionState = { ...newCongestion(MSS, 'cubic'), window: 100 * MSS };
  cc = onPacketsLost(onPacketSent(cc, pkt(0, 0)), [pkt(0, 0)], 10);
  cc = onPacketsAcked(onPacketSent(cc, pkt(1, 20)), [pkt(1, 20)], false, 100, 50);
  t.is(cc.cubic!.epochStart, 100);
  const w = cc.window;
  // Ten seconds application-limited: no growth, though the curve would be far past W_max by then.
  for (let i = 0; i < 100; i++) cc = onPacketsAcked(onPacketSent(cc, pkt(2 + i, 100 + i * 100)), [pkt(2 + i, 100 + i * 100)], true, 150 + i * 100, 50);
  t.is(cc.window, w);
  t.is(cc.cubic!.epochStart, undefined);
  // Limited by the window again: a new epoch from the current window, not a jump to W_cubic(10 s).
  cc = onPacketsAcked(onPacketSent(cc, pkt(200, 10_100)), [pkt(200, 10_100)], false, 10_150, 50);
  t.is(cc.cubic!.epochStart, 10_150);
  t.true(cc.window - w < MSS, `grew ${(cc.window - w).toFixed(1)} bytes on one ACK`);
});

// ── Properties over random event sequences ───────────────────────────────────────────────────────────
type Ev = { kind: 'ack'; n: number; appLimited: boolean } | { kind: 'loss'; persistent: boolean } | { kind: 'wait'; ms: number } | { kind: 'mtu'; size: number };
const events = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('ack' as const), n: fc.integer({ min: 1, max: 200 }), appLimited: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('loss' as const), persistent: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.double({ min: 0, max: 20_000, noNaN: true }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('mtu' as const), size: fc.integer({ min: 1200, max: 1452 }) }) },
  ),
  { maxLength: 80 },
);

test('RFC 9438 (property): the window is finite, never below the minimum, and never grows while application-limited', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(events, fc.integer({ min: 1, max: 500 }), (evs: Ev[], rtt) => {
        let cc = newCongestion(MSS, 'cubic');
        let now = 0;
        let pn = 0;
        for (const e of evs) {
          const before = cc.window;
          if (e.kind === 'wait') now += e.ms;
          else if (e.kind === 'mtu') cc = { ...cc, maxDatagramSize: e.size };
          else if (e.kind === 'loss') {
            cc = onPacketsLost(onPacketSent(cc, pkt(pn, now)), [pkt(pn++, now)], now, e.persistent);
            // Never up, except to the minimum window, which follows the datagram size (RFC 9002 §7.2).
            if (cc.window > Math.max(before, minimumWindow(cc.maxDatagramSize))) return false;
          } else {
            const sent = Array.from({ length: e.n }, (_, i) => pkt(pn + i, now, cc.maxDatagramSize));
            pn += e.n;
            for (const p of sent) cc = onPacketSent(cc, p);
            now += rtt;
            cc = onPacketsAcked(cc, sent, e.appLimited, now, rtt);
            if (e.appLimited && cc.window !== before) return false;
            if (cc.window < before) return false;
          }
          const c = cc.cubic!;
          for (const v of [cc.window, cc.ssthresh, c.wMax, c.k, c.wEst, c.cwndPrior]) if (Number.isNaN(v)) return false;
          if (!Number.isFinite(cc.window) || cc.window < minimumWindow(MSS)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    ),
  );
});

// ── The option ──────────────────────────────────────────────────────────────────────────────────────
test('congestionControl: CUBIC by default, NewReno on request, anything else is API misuse', (t) => {
  const config = { role: 'client' as const, tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] } };
  const cubic = createQuicConnection(config);
  t.is(cubic.config.congestionControl, 'cubic');
  t.truthy(cubic.cc.cubic);
  const reno = createQuicConnection({ ...config, congestionControl: 'newreno' });
  t.is(reno.cc.cubic, undefined);
  t.is(reno.cc.window, cubic.cc.window, 'the same initial window (RFC 9002 §7.2)');
  const err = t.throws(() => createQuicConnection({ ...config, congestionControl: 'bbr' as never }), { instanceOf: TlsError });
  t.is(err?.kind, 'apiMisuse');
});

// ── Measured in virtual time ──────────────────────────────────────────────────────────────────────────
test('RFC 9438 vs RFC 9002 §7 (virtual time): 8 MiB over 50 ms RTT at 10 MB/s (BDP queue, 0.1 % loss): CUBIC finishes first', (t) => {
  // The 0.1 % row of bench/results.md (seed 9438): NewReno 2183 ms, CUBIC 1163 ms. Asserted only qualitatively.
  const path = { rtt: 50, rate: 10_000, queueBytes: 500_000, loss: 0.001 };
  const reno = bulkTransfer(8 << 20, path, 'newreno');
  const cubic = bulkTransfer(8 << 20, path, 'cubic');
  t.true(reno.complete && cubic.complete, 'every byte arrived');
  t.log(`NewReno ${Math.round(reno.ms)} ms, ${reno.bytesSent} B; CUBIC ${Math.round(cubic.ms)} ms, ${cubic.bytesSent} B`);
  t.true(cubic.ms < reno.ms, `CUBIC ${Math.round(cubic.ms)} ms, NewReno ${Math.round(reno.ms)} ms`);
  t.true(cubic.bytesSent < 1.3 * (8 << 20), 'not much sent twice');
  t.truthy(cubic.pair.state.client.cc.cubic, 'the client ran CUBIC');
  t.is(reno.pair.state.client.cc.cubic, undefined, 'and NewReno');
});
