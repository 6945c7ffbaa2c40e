/**
 * QUIC loss detection and congestion control (RFC 9002), as pure functions over plain values: the RTT
 * estimator (§5), the probe timeout (§6.2), loss detection by packet and time thresholds (§6.1), and the
 * controller of §7 (slow start, recovery, congestion avoidance, persistent congestion) with NewReno's or
 * CUBIC's (RFC 9438, `cubic.ts`) congestion avoidance and decrease. Time is in milliseconds and always passed in
 * (`now`): nothing here reads a clock, so the same code runs in virtual time.
 */
import { hasPacketBetween, type PnSet } from './ackRanges.js';
import { cubicAppLimited, cubicOnAck, cubicOnCongestion, cubicOnTimeout, newCubic, type CubicState } from './cubic.js';

/** RFC 9002 §6.1.1: packets this far below the largest acknowledged are lost. */
export const PACKET_THRESHOLD = 3;
/** RFC 9002 §6.1.2: a packet sent this many RTTs before an acknowledged one is lost. */
export const TIME_THRESHOLD = 9 / 8;
/** RFC 9002 §6.1.2: the timer granularity, 1 ms. */
export const GRANULARITY = 1;
/** RFC 9002 §6.2.2: the RTT assumed before any sample, 333 ms. */
export const INITIAL_RTT = 333;
/** RFC 9002 §7.6.1: persistent congestion after this many PTOs without an acknowledgement. */
export const PERSISTENT_CONGESTION_THRESHOLD = 3;

/** The RTT estimate of one connection (RFC 9002 §5). All values in ms. */
export interface RttState {
  /** No sample taken yet: the others hold the §5.3 initial values. */
  readonly sampled: boolean;
  readonly latest: number;
  readonly min: number;
  readonly smoothed: number;
  readonly variance: number;
}

/** Before the first sample (RFC 9002 §5.3): smoothed_rtt = kInitialRtt, rttvar = kInitialRtt / 2. */
export const initialRtt = (): RttState => ({ sampled: false, latest: 0, min: 0, smoothed: INITIAL_RTT, variance: INITIAL_RTT / 2 });

/**
 * Take an RTT sample (RFC 9002 §5.1–§5.3): `latest` is now minus the send time of the newly acknowledged
 * largest packet, `ackDelay` the peer's reported delay (ms, decoded with its ack_delay_exponent). Once the
 * handshake is confirmed the delay is capped at the peer's `maxAckDelay`; it is never subtracted when that
 * would take the sample below the minimum RTT.
 */
export function updateRtt(rtt: RttState, latest: number, ackDelay: number, handshakeConfirmed: boolean, maxAckDelay: number): RttState {
  if (!rtt.sampled) return { sampled: true, latest, min: latest, smoothed: latest, variance: latest / 2 };
  const min = Math.min(rtt.min, latest);
  const delay = handshakeConfirmed ? Math.min(ackDelay, maxAckDelay) : ackDelay;
  const adjusted = latest >= min + delay ? latest - delay : latest;
  return {
    sampled: true,
    latest,
    min,
    variance: (3 / 4) * rtt.variance + (1 / 4) * Math.abs(rtt.smoothed - adjusted),
    smoothed: (7 / 8) * rtt.smoothed + (1 / 8) * adjusted,
  };
}

/**
 * The probe timeout (RFC 9002 §6.2.1): smoothed_rtt + max(4 × rttvar, kGranularity), plus the peer's
 * max_ack_delay in the application space only (`maxAckDelay` 0 for Initial and Handshake), doubled for every
 * consecutive PTO (`ptoCount`).
 */
export function probeTimeout(rtt: RttState, maxAckDelay: number, ptoCount = 0): number {
  return (rtt.smoothed + Math.max(4 * rtt.variance, GRANULARITY) + maxAckDelay) * 2 ** ptoCount;
}

/** A packet waiting for acknowledgement in one packet-number space (RFC 9002 §A.1.1). */
export interface SentPacket {
  readonly pn: number;
  /** ms. */
  readonly timeSent: number;
  readonly ackEliciting: boolean;
  /** Counted in bytes in flight (anything but ACK-only and CONNECTION_CLOSE packets, §2). */
  readonly inFlight: boolean;
  readonly size: number;
}

/** What {@link detectLoss} found. */
export interface LossResult<P extends SentPacket = SentPacket> {
  readonly lost: readonly P[];
  /** The packets still outstanding. */
  readonly remaining: readonly P[];
  /** When the earliest remaining packet below the largest acknowledged will count as lost (arm a timer), if any. */
  readonly lossTime?: number;
}

/**
 * RFC 9002 §6.1 (DetectAndRemoveLostPackets): among `sent` (unacknowledged packets of one space), those at
 * least {@link PACKET_THRESHOLD} below `largestAcked`, or sent longer than 9/8 × max(smoothed, latest RTT)
 * (at least 1 ms) before `now`, are lost. Packets above the largest acknowledged are never declared lost here.
 */
export function detectLoss<P extends SentPacket>(sent: readonly P[], largestAcked: number, rtt: RttState, now: number): LossResult<P> {
  const lossDelay = Math.max(TIME_THRESHOLD * Math.max(rtt.latest, rtt.smoothed), GRANULARITY);
  const lost: P[] = [];
  const remaining: P[] = [];
  let lossTime: number | undefined;
  for (const p of sent) {
    if (p.pn > largestAcked) {
      remaining.push(p);
      continue;
    }
    // The same sum as the loss time armed below: `now − lossDelay` may round below `timeSent` when the timer
    // fires at exactly that loss time, and the packet would never be lost (the timer re-armed for `now`).
    const when = p.timeSent + lossDelay;
    if (when <= now || largestAcked >= p.pn + PACKET_THRESHOLD) {
      lost.push(p);
    } else {
      remaining.push(p);
      lossTime = lossTime === undefined ? when : Math.min(lossTime, when);
    }
  }
  return { lost, remaining, ...(lossTime !== undefined ? { lossTime } : {}) };
}

/**
 * The congestion controllers: `newreno` (RFC 9002 §7: halve on loss, one datagram per window per RTT) and
 * `cubic` (RFC 9438: β = 0.7, the cubic curve back to the last maximum; the default of a QUIC connection, chosen
 * by measurement: see bench/results.md).
 */
export type CongestionControl = 'newreno' | 'cubic';

/** Congestion state (RFC 9002 §7, Appendix B), NewReno's plus CUBIC's own when `cubic` is set. Bytes and ms. */
export interface CongestionState {
  readonly maxDatagramSize: number;
  readonly window: number;
  readonly ssthresh: number;
  readonly bytesInFlight: number;
  /** Start of the current recovery period (§7.3.2), if one began. */
  readonly recoveryStart?: number;
  /** CUBIC's state (RFC 9438); absent: NewReno. */
  readonly cubic?: CubicState;
}

/** RFC 9002 §7.2: the initial window, min(10 × size, max(14720, 2 × size)). */
export const initialWindow = (maxDatagramSize: number): number => Math.min(10 * maxDatagramSize, Math.max(14720, 2 * maxDatagramSize));
/** RFC 9002 §7.2: the minimum window, 2 × size. */
export const minimumWindow = (maxDatagramSize: number): number => 2 * maxDatagramSize;

/** A fresh controller (RFC 9002 §B.3): slow start from the initial window. */
export function newCongestion(maxDatagramSize = 1200, control: CongestionControl = 'newreno'): CongestionState {
  const cc = { maxDatagramSize, window: initialWindow(maxDatagramSize), ssthresh: Infinity, bytesInFlight: 0 };
  return control === 'cubic' ? { ...cc, cubic: newCubic() } : cc;
}

/** Which controller `cc` runs. */
export const congestionControlOf = (cc: CongestionState): CongestionControl => (cc.cubic ? 'cubic' : 'newreno');

/** Whether `bytes` more may be sent now (§7: bytes in flight stay within the window). */
export const canSend = (cc: CongestionState, bytes: number): boolean => cc.bytesInFlight + bytes <= cc.window;

/** Bytes that left the network without an acknowledgement or a loss (§6.4: a discarded packet-number space). */
export const removeFromFlight = (cc: CongestionState, bytes: number): CongestionState => ({ ...cc, bytesInFlight: Math.max(0, cc.bytesInFlight - bytes) });

/** A packet counted in bytes in flight was sent (§B.4). */
export function onPacketSent(cc: CongestionState, p: SentPacket): CongestionState {
  return p.inFlight ? { ...cc, bytesInFlight: cc.bytesInFlight + p.size } : cc;
}

const inRecovery = (cc: CongestionState, timeSent: number) => cc.recoveryStart !== undefined && timeSent <= cc.recoveryStart;

/**
 * Packets were acknowledged (§7.3, §B.5): they leave bytes in flight; outside recovery the window grows by
 * their size in slow start; in congestion avoidance by size × datagram / window (NewReno) or along CUBIC's
 * curve (RFC 9438 §4.2–§4.5, which needs `now` and the smoothed `rtt`, ms); not at all while the sender is
 * `appLimited` (§7.8: it did not fill the window, so an ACK says nothing about a larger one; CUBIC's epoch
 * ends too, RFC 9438 §5.8).
 */
export function onPacketsAcked(cc: CongestionState, acked: readonly SentPacket[], appLimited = false, now = 0, rtt = 0): CongestionState {
  let { window, bytesInFlight, cubic } = cc;
  for (const p of acked) {
    if (!p.inFlight) continue;
    bytesInFlight -= p.size;
    if (inRecovery(cc, p.timeSent)) continue; // no growth for packets sent before recovery began
    if (appLimited) {
      if (cubic) cubic = cubicAppLimited(cubic);
    } else if (window < cc.ssthresh) {
      window += p.size;
    } else if (cubic) {
      ({ window, cubic } = cubicOnAck(window, cubic, cc.maxDatagramSize, p.size, now, rtt));
    } else {
      window += (cc.maxDatagramSize * p.size) / window;
    }
  }
  return { ...cc, window, bytesInFlight: Math.max(0, bytesInFlight), ...(cubic ? { cubic } : {}) };
}

/**
 * Packets were declared lost (§7.3.2, §7.6, §B.8): they leave bytes in flight; the first loss of a packet
 * sent after the current recovery period began starts a new one (NewReno halves the window, CUBIC multiplies
 * it by 0.7 with fast convergence, RFC 9438 §4.6–§4.7; at least the minimum); persistent congestion collapses
 * the window to the minimum (for CUBIC, the timeout of RFC 9438 §4.8).
 */
export function onPacketsLost(cc: CongestionState, lost: readonly SentPacket[], now: number, persistentCongestion = false): CongestionState {
  let bytesInFlight = cc.bytesInFlight;
  let latestSent = -Infinity;
  for (const p of lost) {
    if (!p.inFlight) continue;
    bytesInFlight -= p.size;
    latestSent = Math.max(latestSent, p.timeSent);
  }
  let next: CongestionState = { ...cc, bytesInFlight: Math.max(0, bytesInFlight) };
  if (latestSent > -Infinity && !inRecovery(cc, latestSent)) {
    if (cc.cubic) {
      const { window, cubic } = cubicOnCongestion(cc.window, cc.cubic, minimumWindow(cc.maxDatagramSize));
      next = { ...next, recoveryStart: now, ssthresh: window, window, cubic };
    } else {
      const ssthresh = Math.max(Math.floor(cc.window / 2), minimumWindow(cc.maxDatagramSize));
      next = { ...next, recoveryStart: now, ssthresh, window: ssthresh };
    }
  }
  if (persistentCongestion) {
    next = { ...next, window: minimumWindow(cc.maxDatagramSize), recoveryStart: undefined };
    if (next.cubic) next = { ...next, cubic: cubicOnTimeout(next.cubic) };
  }
  return next;
}

/**
 * RFC 9002 §7.6.2: persistent congestion when two ack-eliciting packets were lost, sent at least
 * (smoothed + max(4 × rttvar, 1 ms) + max_ack_delay) × 3 apart, with no packet between them acknowledged, and
 * an RTT sample exists. `lost` are the packets just declared lost; `acked` the packets known to be
 * acknowledged in this space (disjoint ranges, largest first). O(lost × log ranges): a binary search per gap
 * between two lost packets, however many ranges the peer's ACK frame carried.
 */
export function isPersistentCongestion(lost: readonly SentPacket[], rtt: RttState, maxAckDelay: number, acked: PnSet): boolean {
  if (!rtt.sampled) return false;
  const duration = (rtt.smoothed + Math.max(4 * rtt.variance, GRANULARITY) + maxAckDelay) * PERSISTENT_CONGESTION_THRESHOLD;
  const eliciting = lost.filter((p) => p.ackEliciting).sort((a, b) => a.pn - b.pn);
  let runStart = eliciting[0];
  for (let i = 1; i < eliciting.length; i++) {
    const p = eliciting[i]!;
    if (hasPacketBetween(acked, eliciting[i - 1]!.pn + 1, p.pn - 1)) runStart = p;
    else if (p.timeSent - runStart!.timeSent >= duration) return true;
  }
  return false;
}
