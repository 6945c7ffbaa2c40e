/**
 * QUIC packet-number spaces (RFC 9000 §12.3): Initial, Handshake and Application, each with its own packet
 * numbers, packet keys, received packets to acknowledge, frames waiting to be sent, packets sent and not yet
 * acknowledged, and its CRYPTO stream (RFC 9000 §7.5). Also the one table that ties encryption levels (packet
 * types) to key epochs and spaces.
 *
 * The functions here change the {@link Space} they are given: the connection clones its spaces once per input.
 */
import { Epoch } from '../handshake/events.js';
import type { Frame, PacketSpace } from '../wire/quic/frames.js';
import { acceptFloor, addPacket, hasPacket, MAX_ACK_RANGES, rangesOfAck, type PnSet } from './ackRanges.js';
import { ConnectionError, QuicError } from './errors.js';
import type { PacketKeys } from './protection.js';
import { insertChunk, takeContiguous, type Chunks } from './reassembly.js';
import { detectLoss, type RttState } from './recovery.js';

/** A packet-number space (RFC 9000 §12.3). 0-RTT and 1-RTT packets share `application`. */
export type SpaceId = 'initial' | 'handshake' | 'application';

/** The spaces from lowest to highest: the order packets are coalesced in (RFC 9000 §12.2). */
export const SPACES: readonly SpaceId[] = ['initial', 'handshake', 'application'];

/** An encryption level: a kind of protected packet (the names {@link decodeFrames} and the frame table use). */
export type Level = PacketSpace;

/**
 * Each encryption level's key epoch (the handshake seam's numbering, `src/handshake/events.ts`) and packet-number
 * space (RFC 9001 §4.1.4, RFC 9000 §12.3). The one place where levels, epochs and spaces meet.
 */
export const LEVELS = {
  initial: { epoch: Epoch.initial, space: 'initial' },
  zeroRtt: { epoch: Epoch.early, space: 'application' },
  handshake: { epoch: Epoch.handshake, space: 'handshake' },
  oneRtt: { epoch: Epoch.application, space: 'application' },
} as const satisfies Record<Level, { readonly epoch: number; readonly space: SpaceId }>;

const LEVEL_NAMES = Object.keys(LEVELS) as Level[];

/** The level of key epoch `epoch`, or `undefined` past 1-RTT (QUIC updates 1-RTT keys itself, RFC 9001 §6). */
export const levelOfEpoch = (epoch: number): Level | undefined => LEVEL_NAMES.find((l) => LEVELS[l].epoch === epoch);

/** The level we send a space's packets at: its highest (we send no 0-RTT, so `application` is 1-RTT). */
export const sendLevel = (space: SpaceId): Level =>
  LEVEL_NAMES.filter((l) => LEVELS[l].space === space).reduce((a, b) => (LEVELS[b].epoch > LEVELS[a].epoch ? b : a));

/**
 * A frame waiting in a space's queue, and kept with its packet until acknowledged: if the packet is lost, it
 * goes back to the queue. Flow-control updates are re-read when sent, so a re-sent one carries the current limit.
 */
export type QueuedFrame =
  | { readonly type: 'crypto'; readonly offset: number; readonly data: Uint8Array }
  | { readonly type: 'stream'; readonly streamId: number; readonly offset: number; readonly data: Uint8Array; readonly fin: boolean }
  | { readonly type: 'handshakeDone' }
  | { readonly type: 'maxData' }
  | { readonly type: 'maxStreamData'; readonly streamId: number }
  /** MAX_STREAMS (RFC 9000 §19.11): the limit is read when sent, so a re-sent one carries the current value. */
  | { readonly type: 'maxStreams'; readonly bidi: boolean }
  /** RESET_STREAM / STOP_SENDING: the code and final size are read from the stream when sent. */
  | { readonly type: 'resetStream'; readonly streamId: number }
  | { readonly type: 'stopSending'; readonly streamId: number }
  /** We have data to send but the peer's limit blocks it (RFC 9000 §19.12, §19.13): the limit it is at. */
  | { readonly type: 'dataBlocked'; readonly limit: number }
  | { readonly type: 'streamDataBlocked'; readonly streamId: number; readonly limit: number }
  /** A server's address validation token for the client's next connection (RFC 9000 §19.7, §8.1.3). */
  | { readonly type: 'newToken'; readonly token: Uint8Array }
  /** A probe with nothing to send again (RFC 9002 §6.2.4): ack-eliciting, never re-sent itself. */
  | { readonly type: 'ping' }
  /** Connection ID management (RFC 9000 §19.15, §19.16; `connectionIds.ts`): sent again as they were if lost. */
  | Extract<Frame, { type: 'newConnectionId' | 'retireConnectionId' }>;

/** A packet sent and not yet acknowledged or declared lost (RFC 9002 §A.1.1). */
export interface SentRecord {
  readonly pn: number;
  /** ms. */
  readonly timeSent: number;
  readonly ackEliciting: boolean;
  /** Counted in bytes in flight (RFC 9002 §2: ack-eliciting packets; ACK-only ones are not). */
  readonly inFlight: boolean;
  /** The datagram bytes of this packet, for bytes in flight. */
  readonly size: number;
  /** The frames to send again if it is lost (emptied once a probe took them, {@link requeueForProbe}). */
  readonly frames: readonly QueuedFrame[];
}

/** One packet-number space. Mutable: the connection hands each step its own copy ({@link cloneSpace}). */
export interface Space {
  rx?: PacketKeys;
  tx?: PacketKeys;
  /** Application space: the Key Phase bit our 1-RTT packets carry (RFC 9001 §6, `keyUpdate.ts`). */
  keyPhase?: 0 | 1;
  /** Keys and state dropped for good (RFC 9001 §4.9). */
  discarded: boolean;
  nextPn: number;
  largestRx: number;
  largestAcked?: number;
  /** Packets received, at most {@link MAX_ACK_RANGES} ranges (RFC 9000 §13.2.3). */
  received: PnSet;
  /** Packets below this are refused: their ranges were dropped from `received` ({@link acceptFloor}). */
  rxFloor: number;
  /** An ack-eliciting packet arrived since our last ACK in this space. */
  ackPending: boolean;
  /** Ack-eliciting packets received since our last ACK (RFC 9000 §13.2.2: an ACK at least every second one). */
  ackElicitingSinceAck: number;
  /** Ack-eliciting packets received in this space in all (ACK decimation starts after {@link ACK_DECIMATION_AFTER}). */
  ackElicitingReceived: number;
  /** An ACK is due now, not after max_ack_delay: out of order, Initial/Handshake, or the ack delay expired. */
  ackImmediate: boolean;
  /** When the first ack-eliciting packet not yet acknowledged arrived (the ack-delay timer counts from it), ms. */
  ackPendingSince?: number;
  /** When the largest packet number received arrived (the ACK Delay field, RFC 9000 §19.3), ms. */
  largestRxTime: number;
  /** RFC 9002 §6.1.2: when the earliest packet below the largest acknowledged counts as lost by time. */
  lossTime?: number;
  /** Frames waiting to be sent in this space, in order. */
  queue: QueuedFrame[];
  sent: SentRecord[];
  cryptoTxOffset: number;
  cryptoRxOffset: number;
  /** Out-of-order CRYPTO data, each byte once (immutable: shared with earlier states). */
  cryptoRx: Chunks;
}

/** Out-of-order CRYPTO data we buffer per space before CRYPTO_BUFFER_EXCEEDED (RFC 9000 §7.5): 64 KiB. */
export const MAX_CRYPTO_BUFFER = 64 * 1024;
/** Out-of-order CRYPTO chunks we keep per space before CRYPTO_BUFFER_EXCEEDED: 256 (a flight is ~64 frames). */
export const MAX_CRYPTO_CHUNKS = 256;

export const newSpace = (): Space => ({
  discarded: false,
  nextPn: 0,
  largestRx: -1,
  received: [],
  rxFloor: 0,
  ackPending: false,
  ackElicitingSinceAck: 0,
  ackElicitingReceived: 0,
  ackImmediate: false,
  largestRxTime: 0,
  queue: [],
  sent: [],
  cryptoTxOffset: 0,
  cryptoRxOffset: 0,
  cryptoRx: [],
});

/** A copy that shares nothing mutable with `x` (the CRYPTO chunks are immutable, so they are shared). */
export const cloneSpace = (x: Space): Space => ({ ...x, queue: [...x.queue], sent: [...x.sent] });

/** A discarded space (RFC 9001 §4.9): no keys, nothing queued or in flight, never used again. */
export const discardedSpace = (): Space => ({ ...newSpace(), discarded: true });

/** Queue handshake bytes to send in CRYPTO frames at the next offset of this space's CRYPTO stream. */
export function queueCrypto(space: Space, data: Uint8Array): void {
  space.queue.push({ type: 'crypto', offset: space.cryptoTxOffset, data });
  space.cryptoTxOffset += data.length;
}

/**
 * A received CRYPTO frame: the handshake bytes now contiguous at the read offset (possibly none), in order.
 * Throws CRYPTO_BUFFER_EXCEEDED past {@link MAX_CRYPTO_BUFFER} of out-of-order data (RFC 9000 §7.5).
 */
export function receiveCrypto(space: Space, f: Extract<Frame, { type: 'crypto' }>): Uint8Array {
  const end = f.offset + f.data.length;
  if (end <= space.cryptoRxOffset) return new Uint8Array(0);
  if (end - space.cryptoRxOffset > MAX_CRYPTO_BUFFER) throw new ConnectionError(QuicError.CRYPTO_BUFFER_EXCEEDED, 'too much out-of-order CRYPTO data');
  const { data, rest } = takeContiguous(insertChunk(space.cryptoRx, space.cryptoRxOffset, f.offset, f.data), space.cryptoRxOffset);
  if (rest.length > MAX_CRYPTO_CHUNKS) throw new ConnectionError(QuicError.CRYPTO_BUFFER_EXCEEDED, 'CRYPTO data too fragmented');
  space.cryptoRx = rest;
  space.cryptoRxOffset += data.length;
  return data;
}

/** Where the CRYPTO data received in this space ends: the read offset, or past it the last byte buffered. */
export function cryptoReceivedEnd(space: Space): number {
  const last = space.cryptoRx[space.cryptoRx.length - 1];
  return last ? Math.max(space.cryptoRxOffset, last.offset + last.data.length) : space.cryptoRxOffset;
}

/**
 * Whether packet `pn` was already received in this space (a duplicate is dropped, RFC 9000 §12.3), or is
 * below the ranges still tracked (refused, RFC 9000 §13.2.3). O(log {@link MAX_ACK_RANGES}).
 */
export const isDuplicate = (space: Space, pn: number): boolean => pn < space.rxFloor || hasPacket(space.received, pn);

/**
 * Record a received packet for our ACKs; `ackEliciting`: anything but ACK, PADDING, CONNECTION_CLOSE (§13.2.1).
 * RFC 9000 §13.2.1–§13.2.2: an ACK is due at once for Initial and Handshake packets (`immediate`) and for a
 * packet out of order (below the largest, or leaving a gap); else after every second ack-eliciting packet, or
 * when max_ack_delay has passed since the first one not yet acknowledged ({@link ackDue}).
 */
export function packetReceived(space: Space, pn: number, ackEliciting: boolean, now: number, immediate = false): void {
  const outOfOrder = space.largestRx >= 0 && pn !== space.largestRx + 1;
  if (pn > space.largestRx) {
    space.largestRx = pn;
    space.largestRxTime = now;
  }
  space.received = addPacket(space.received, pn, MAX_ACK_RANGES);
  space.rxFloor = acceptFloor(space.received, space.rxFloor, MAX_ACK_RANGES);
  if (!ackEliciting) return;
  if (!space.ackPending) space.ackPendingSince = now;
  space.ackPending = true;
  space.ackElicitingSinceAck++;
  space.ackElicitingReceived++;
  if (immediate || outOfOrder) space.ackImmediate = true;
}

/**
 * ACK decimation for bulk transfers: after this many ack-eliciting packets in a space, the receiver acknowledges
 * every {@link ACK_EVERY_BULK}th in-order packet instead of every second one. RFC 9000 §13.2.2 makes "every
 * second" a SHOULD and lets a receiver ack less often when the sender's congestion control can take it; this is
 * Chromium's decimation (10 packets or a quarter of the minimum RTT, whichever comes first: see
 * `ackDelayFor`). A packet out of order or with a gap still draws an ACK at once, so loss is reported as fast
 * as before; only a run of in-order packets is acknowledged less often, which halves the datagrams a bulk
 * transfer costs on the receiving side and the ACK frames its sender processes.
 */
export const ACK_DECIMATION_AFTER = 100;
/** In-order ack-eliciting packets per ACK once decimating (see {@link ACK_DECIMATION_AFTER}). */
export const ACK_EVERY_BULK = 10;

/** How many ack-eliciting packets an ACK waits for in `space`: 2, or {@link ACK_EVERY_BULK} in a bulk transfer. */
export const ackThreshold = (space: Space): number => (space.ackElicitingReceived > ACK_DECIMATION_AFTER ? ACK_EVERY_BULK : 2);

/**
 * The longest an ACK of 1-RTT packets waits, ms: our max_ack_delay, or once decimating, a quarter of the
 * minimum RTT (at least 1 ms) when that is shorter, so a sender held by its window is not kept waiting.
 */
export const ackDelayFor = (space: Space, maxAckDelay: number, minRtt: number): number =>
  space.ackElicitingReceived > ACK_DECIMATION_AFTER && minRtt > 0 ? Math.min(maxAckDelay, Math.max(1, minRtt / 4)) : maxAckDelay;

/** An ACK must go now (an ACK-only packet is worth sending): see {@link packetReceived}. */
export const ackDue = (space: Space): boolean => space.ackPending && (space.ackImmediate || space.ackElicitingSinceAck >= ackThreshold(space));

/** Our ACK went out: nothing pending until the next ack-eliciting packet. */
export function ackSent(space: Space): void {
  space.ackPending = false;
  space.ackElicitingSinceAck = 0;
  space.ackImmediate = false;
  space.ackPendingSince = undefined;
}

/** A count of the steps {@link acknowledge} took (for tests that bound the work per ACK frame). */
export interface WorkCounter {
  steps: number;
}

/** Index of the first sent packet with a number ≥ `pn` (`sent` is in ascending packet-number order). */
function sentAtOrAbove(sent: readonly SentRecord[], pn: number, work?: WorkCounter): number {
  let lo = 0;
  let hi = sent.length;
  while (lo < hi) {
    if (work) work.steps++;
    const mid = (lo + hi) >>> 1;
    if (sent[mid]!.pn < pn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * An ACK frame: the packets it newly acknowledges, removed from `sent` (RFC 9002 §A.7). Acknowledging a packet
 * number never sent is a PROTOCOL_VIOLATION (RFC 9000 §13.1).
 *
 * The peer chooses how many ranges to send; the work here stays O(min(ranges, in flight) × log(the other))
 * to match them, plus one pass over `sent` to remove the acknowledged ones: ranges are binary-searched in
 * `sent` (ascending packet numbers) when they are fewer, sent packets in the ranges otherwise. `work`, when
 * given, counts the matching steps.
 */
export function acknowledge(space: Space, ack: Extract<Frame, { type: 'ack' }>, work?: WorkCounter): readonly SentRecord[] {
  if (ack.largest >= space.nextPn) throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, `ACK of packet ${ack.largest}, never sent`, 0x02);
  const sent = space.sent;
  if (sent.length === 0) return [];
  const ranges = rangesOfAck(ack);
  const acked: SentRecord[] = [];
  if (ranges.length <= sent.length) {
    const lowest = sent[0]!.pn;
    const highest = sent[sent.length - 1]!.pn;
    for (const r of ranges) {
      if (work) work.steps++;
      if (r.smallest > highest) continue;
      if (r.largest < lowest) break; // ranges are largest first: none below can match
      for (let i = sentAtOrAbove(sent, r.smallest, work); i < sent.length && sent[i]!.pn <= r.largest; i++) acked.push(sent[i]!);
    }
  } else {
    for (const p of sent) {
      if (work) work.steps += Math.ceil(Math.log2(ranges.length + 1));
      if (hasPacket(ranges, p.pn)) acked.push(p);
    }
  }
  if (acked.length === 0) return acked;
  const gone = new Set(acked);
  space.sent = sent.filter((p) => !gone.has(p));
  space.largestAcked = Math.max(space.largestAcked ?? -1, ack.largest);
  return acked;
}

/**
 * RFC 9002 §6.1: packets far enough below the largest acknowledged (3 packets, or 9/8 RTT earlier) are lost:
 * they leave `sent`, their frames go back to the front of the queue at once (only theirs: what was acknowledged
 * is not sent again), and `lossTime` is when the next one will count as lost by time. Returns the lost packets
 * (for the congestion controller).
 */
export function requeueLost(space: Space, rtt: RttState, now: number): readonly SentRecord[] {
  space.lossTime = undefined;
  if (space.largestAcked === undefined) return [];
  const loss = detectLoss(space.sent, space.largestAcked, rtt, now);
  space.lossTime = loss.lossTime;
  if (loss.lost.length === 0) return [];
  space.sent = loss.remaining.slice();
  space.queue = [...loss.lost.flatMap((p) => p.frames), ...space.queue];
  return loss.lost;
}

/**
 * RFC 9002 §6.2.4: a probe sends data again: the frames of the oldest `count` ack-eliciting packets still
 * unacknowledged go to the front of the queue. The packets stay in flight (an ACK for them still counts) but
 * give up their frames, so a later loss of them does not queue the same data a second time. Returns whether
 * anything was queued.
 */
export function requeueForProbe(space: Space, count: number): boolean {
  const again: QueuedFrame[] = [];
  let taken = 0;
  space.sent = space.sent.map((p) => {
    if (taken >= count || !p.ackEliciting || p.frames.length === 0) return p;
    taken++;
    again.push(...p.frames);
    return { ...p, frames: [] };
  });
  space.queue = [...again, ...space.queue];
  return again.length > 0;
}

/** Every unacknowledged frame back to the front of the queue: after a Retry (RFC 9002 §6.3), nothing in flight. */
export function requeueAll(space: Space): void {
  const again = space.sent.flatMap((p) => p.frames);
  space.sent = [];
  space.lossTime = undefined;
  space.queue = [...again, ...space.queue];
}

/** Bytes in flight in this space (RFC 9002 §6.4: removed from the congestion controller when it is discarded). */
export const bytesInFlight = (space: Space): number => space.sent.reduce((n, p) => n + (p.inFlight ? p.size : 0), 0);

/** Whether ack-eliciting packets are in flight in this space (the PTO is armed while any are). */
export const ackElicitingInFlight = (space: Space): boolean => space.sent.some((p) => p.ackEliciting);
