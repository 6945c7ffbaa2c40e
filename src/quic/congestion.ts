/**
 * The sending side of a QUIC connection (RFC 9002): what the recovery formulas of `recovery.ts` and the pacer
 * of `pacer.ts` decide, applied to the packet-number spaces and the builder. Pure and synchronous like the
 * rest of the reducer: every function takes `now` (ms) and changes the working copy of one step.
 * - {@link onAckFrame}: an ACK frame: RTT sample, congestion window growth, losses by packet and time threshold
 *   (only the lost packets' frames are queued again), recovery periods and persistent congestion (§6.1, §7);
 * - {@link onLossDetectionTimeout}: the loss timer (§6.1.2) or a probe timeout (§6.2): one or two probe
 *   datagrams with the oldest unacknowledged data (or a PING), allowed past the congestion window (§7.5);
 * - {@link sendDatagrams}: datagrams while bytes in flight stay within the window and the pacer lets them go
 *   (ACK-only packets are never held back: §7), the pacer's release time kept as the `pacing` timer;
 * - {@link armRecoveryTimers}: the loss-detection timer and our ack-delay timer (RFC 9000 §13.2.1).
 */
import type { Frame } from '../wire/quic/frames.js';
import type { TransportParameters } from '../wire/quic/transportParameters.js';
import { rangesOfAck } from './ackRanges.js';
import { MIN_DATAGRAM, nextDatagram, probeDatagram, sendAllowance, type BuiltDatagram, type PacketSender } from './builder.js';
import { pace, paced, type PacerState } from './pacer.js';
import { isPmtuProbe, onBlackHole, onPmtuAcked, onPmtuLost, probeSent, probeSize, usePmtu, type PmtuState } from './pmtu.js';
import { isPersistentCongestion, onPacketsAcked, onPacketsLost, probeTimeout, updateRtt, type CongestionState, type RttState } from './recovery.js';
import { acknowledge, ackDelayFor, ackElicitingInFlight, requeueForProbe, requeueLost, SPACES, type SentRecord, type SpaceId } from './spaces.js';
import type { QuicTimers } from './timers.js';
import { qlogLost } from './qlog.js';

/** RFC 9002 §6.2.4: a probe timeout sends at most two datagrams. */
export const MAX_PROBES = 2;

/** What the sending side reads and advances in the connection (the connection's state satisfies it). */
export interface Sender extends PacketSender {
  rtt: RttState;
  ptoCount: number;
  cc: CongestionState;
  pacer: PacerState;
  /** Probe datagrams still to send past the congestion window (§6.2.4), set by a probe timeout. */
  probes: number;
  /** The last send stopped with data queued (window or pacer): ACKs may grow the window (§7.8). */
  cwndLimited: boolean;
  timers: QuicTimers;
  readonly peerParams?: TransportParameters;
  /** A client whose address the server may not have validated keeps an anti-deadlock PTO (§6.2.2.1). */
  readonly validatedByPeer: boolean;
  /** Path MTU discovery (`pmtu.ts`): the datagram size in use and the probe in flight. */
  pmtu: PmtuState;
}

/** The peer's max_ack_delay where it applies (the application space, RFC 9002 §6.2.1), ms. */
const peerAckDelay = (s: Sender, id: SpaceId): number => (id === 'application' ? (s.peerParams?.maxAckDelay ?? 25) : 0);

/**
 * An ACK frame in space `id` (RFC 9002 §A.7): the packets it newly acknowledges leave the space and bytes in
 * flight, the largest gives an RTT sample, the window grows (unless application-limited), and packets now far
 * enough below the largest acknowledged are lost. Returns the newly acknowledged packets.
 */
export function onAckFrame(s: Sender, now: number, id: SpaceId, ack: Extract<Frame, { type: 'ack' }>, handshakeConfirmed: boolean): readonly SentRecord[] {
  const space = s.spaces[id];
  const acked = acknowledge(space, ack);
  if (acked.length === 0) return acked;
  const largest = acked.find((p) => p.pn === ack.largest);
  if (largest && acked.some((p) => p.ackEliciting)) {
    // RFC 9002 §5.1, §5.3: an RTT sample; the ACK Delay is in units of 2^ack_delay_exponent µs.
    const ackDelay = id === 'application' ? (ack.delay * 2 ** (s.peerParams?.ackDelayExponent ?? 3)) / 1000 : 0;
    s.rtt = updateRtt(s.rtt, now - largest.timeSent, ackDelay, handshakeConfirmed, s.peerParams?.maxAckDelay ?? 25);
  }
  s.ptoCount = 0;
  const probe = id === 'application' ? s.pmtu.probing : undefined;
  if (probe && acked.some((p) => p.pn === probe.pn)) usePmtu(s, onPmtuAcked(s.pmtu, probe.pn));
  s.cc = onPacketsAcked(s.cc, acked, !s.cwndLimited, now, s.rtt.smoothed);
  declareLost(s, id, now, rangesOfAck(ack));
  return acked;
}

/** Packets of space `id` lost by packet or time threshold: their frames queued again, the window reduced. */
function declareLost(s: Sender, id: SpaceId, now: number, acked?: ReturnType<typeof rangesOfAck>): void {
  let lost = requeueLost(s.spaces[id], s.rtt, now);
  if (lost.length === 0) return;
  if (s.qlog) qlogLost(s.qlog, id, lost, s.spaces[id].largestAcked);
  const probe = id === 'application' ? lost.find((p) => isPmtuProbe(s.pmtu, p.pn)) : undefined;
  if (probe) {
    // RFC 9000 §14.4: a lost PMTU probe is no sign of congestion; it only leaves bytes in flight.
    s.pmtu = onPmtuLost(s.pmtu, probe.pn);
    s.cc = { ...s.cc, bytesInFlight: Math.max(0, s.cc.bytesInFlight - probe.size) };
    lost = lost.filter((p) => p !== probe);
    if (lost.length === 0) return;
  }
  // RFC 9002 §7.6.2: persistent congestion needs to know no packet between the lost ones was acknowledged; the
  // ACK frame that declared them lost says it. A loss found by the timer alone never collapses the window.
  const persistent = acked !== undefined && isPersistentCongestion(lost, s.rtt, peerAckDelay(s, id), acked);
  if (persistent && id === 'application') {
    // RFC 8899 §4.3: full-size datagrams that stopped getting through may be a black hole: the base size again.
    usePmtu(s, onBlackHole(s.pmtu));
  }
  s.cc = onPacketsLost(s.cc, lost, now, persistent);
}

/**
 * The `lossDetection` timer fired (RFC 9002 §6.2, §A.9). A loss time that has passed declares those packets
 * lost. Otherwise it is a probe timeout: the PTO backs off, and each space with ack-eliciting packets in flight
 * queues the data of its oldest two again, to go in at most {@link MAX_PROBES} datagrams past the congestion
 * window (§7.5). When nothing is left to send again, a PING; a client's anti-deadlock probe goes in a Handshake
 * packet, or else an Initial (§6.2.2.1).
 */
export function onLossDetectionTimeout(s: Sender, now: number, role: 'client' | 'server'): void {
  const due = SPACES.filter((id) => (s.spaces[id].lossTime ?? Infinity) <= now);
  if (due.length > 0) {
    for (const id of due) declareLost(s, id, now);
    return;
  }
  s.ptoCount++;
  s.probes = MAX_PROBES;
  let queued = false;
  for (const id of SPACES) {
    const space = s.spaces[id];
    if (space.tx && ackElicitingInFlight(space) && requeueForProbe(space, MAX_PROBES)) queued = true;
  }
  if (!queued && !SPACES.some((id) => s.spaces[id].tx && s.spaces[id].queue.length > 0)) {
    const order: readonly SpaceId[] = role === 'client' && !s.validatedByPeer ? ['handshake', 'initial'] : [...SPACES].reverse();
    const where = order.find((id) => s.spaces[id].tx);
    if (where) s.spaces[where].queue.push({ type: 'ping' });
  }
  s.lastAckElicitingSent = now;
}

/**
 * Build and hand over (`emit`) the datagrams that may leave now: everything queued while bytes in flight stay
 * within the congestion window (§7) and the pacer allows (§7.7); past both for the probes of a probe timeout
 * (§7.5). ACKs that are due go regardless. When the pacer holds data back, the `pacing` timer is its release
 * time (the reducer's next timeout includes it).
 */
export function sendDatagrams(s: Sender, now: number, emit: (d: BuiltDatagram) => void): void {
  delete s.timers.pacing;
  // A wanted PMTU probe goes first: a bulk sender's data would otherwise fill every window it gets.
  sendPmtuProbe(s, now, emit);
  for (;;) {
    const probe = s.probes > 0;
    const room = probe ? Infinity : s.cc.window - s.cc.bytesInFlight;
    let ackOnly = room < MIN_DATAGRAM;
    if (!ackOnly && !probe && hasQueued(s)) {
      const size = s.pmtu.current;
      const p = pace(s.pacer, s.cc.window, s.rtt.smoothed, size, Math.min(room, size), now);
      s.pacer = p.pacer;
      if (p.until !== undefined) {
        s.timers.pacing = p.until;
        ackOnly = true;
      }
    }
    const d = nextDatagram(s, now, room, ackOnly);
    if (!d) break;
    emit(d);
    if (d.inFlight > 0) {
      s.cc = { ...s.cc, bytesInFlight: s.cc.bytesInFlight + d.inFlight };
      s.pacer = paced(s.pacer, d.inFlight);
      if (probe) s.probes--;
    }
  }
  s.probes = 0;
  // Data still queued was held back by the window or the pacer (flow control keeps its data in the streams).
  s.cwndLimited = hasQueued(s) && sendAllowance(s) >= MIN_DATAGRAM;
}

/**
 * A PMTU probe (`pmtu.ts`) when one is wanted: only on a confirmed handshake (RFC 9000 §14.3 probes are 1-RTT
 * packets; Handshake keys are gone), a validated path, and within the congestion window and the pacer like
 * any packet.
 */
function sendPmtuProbe(s: Sender, now: number, emit: (d: BuiltDatagram) => void): void {
  const size = probeSize(s.pmtu);
  if (size === undefined || !s.spaces.application.tx || !s.spaces.handshake.discarded || !s.addressValidated) return;
  if (s.cc.window - s.cc.bytesInFlight < size) return;
  const p = pace(s.pacer, s.cc.window, s.rtt.smoothed, s.pmtu.current, size, now);
  if (p.until !== undefined) return;
  const { datagram, pn } = probeDatagram(s, now, size);
  emit(datagram);
  s.pmtu = probeSent(s.pmtu, size, pn);
  s.cc = { ...s.cc, bytesInFlight: s.cc.bytesInFlight + datagram.inFlight };
  s.pacer = paced(p.pacer, datagram.inFlight);
}

const hasQueued = (s: Sender): boolean => SPACES.some((id) => s.spaces[id].tx !== undefined && s.spaces[id].queue.length > 0) || s.pathResponses.length > 0;

/**
 * Arm the loss-detection timer (RFC 9002 §6.1.2, §6.2.1, §A.8) and our ack-delay timer (RFC 9000 §13.2.1):
 * - the earliest loss time of any space, if one is set;
 * - else the PTO, counted from the last ack-eliciting packet while any is in flight; a server at its
 *   anti-amplification limit arms none (a probe could not be sent; the client's next datagram re-arms it); a
 *   client the server may not have validated yet keeps one armed from now even with nothing in flight (the
 *   anti-deadlock probe, §6.2.2.1);
 * - an ACK of 1-RTT packets not yet due goes at most `maxAckDelay` after the first one it acknowledges (less
 *   once decimating, {@link ackDelayFor}).
 */
export function armRecoveryTimers(s: Sender, now: number, role: 'client' | 'server', maxAckDelay: number): void {
  delete s.timers.lossDetection;
  delete s.timers.ackDelay;
  const app = s.spaces.application;
  if (app.ackPending && app.ackPendingSince !== undefined) s.timers.ackDelay = app.ackPendingSince + ackDelayFor(app, maxAckDelay, s.rtt.min);
  if (sendAllowance(s) < MIN_DATAGRAM) return;
  let lossTime: number | undefined;
  for (const id of SPACES) {
    const t = s.spaces[id].lossTime;
    if (t !== undefined && (lossTime === undefined || t < lossTime)) lossTime = t;
  }
  if (lossTime !== undefined) {
    s.timers.lossDetection = lossTime;
    return;
  }
  const ackDelay = s.spaces.application.tx ? (s.peerParams?.maxAckDelay ?? 25) : 0;
  if (s.lastAckElicitingSent !== undefined && SPACES.some((id) => ackElicitingInFlight(s.spaces[id]))) {
    s.timers.lossDetection = s.lastAckElicitingSent + probeTimeout(s.rtt, ackDelay, s.ptoCount);
  } else if (role === 'client' && !s.validatedByPeer) {
    s.timers.lossDetection = now + probeTimeout(s.rtt, 0, s.ptoCount);
  }
}
