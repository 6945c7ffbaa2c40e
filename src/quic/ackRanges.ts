/**
 * Packet-number ranges for QUIC acknowledgements (RFC 9000 §13.2, §19.3): the set of packets a receiver has
 * seen, kept as disjoint inclusive ranges (largest first), turned into an ACK frame and back.
 * Pure values: every operation returns a new set.
 */
import type { AckRange, Frame } from '../wire/quic/frames.js';

/** An inclusive range of packet numbers, `smallest ≤ largest`. */
export interface PnRange {
  readonly smallest: number;
  readonly largest: number;
}

/** Disjoint, non-adjacent ranges, largest first. */
export type PnSet = readonly PnRange[];

/**
 * The most ranges a receiver keeps per packet-number space (RFC 9000 §13.2.3, §13.2.4): 64, as quinn-proto
 * does. More are only made by a peer that skips packet numbers or by heavy reordering, and an ACK frame
 * reports at most the newest few anyway. Keeping the set this small bounds the work per received packet
 * ({@link addPacket}, {@link hasPacket}) whatever the peer does.
 */
export const MAX_ACK_RANGES = 64;

/**
 * Index of the first range (largest first) whose `smallest` is ≤ `pn`, or `set.length` when none:
 * a binary search, O(log ranges).
 */
function indexAtOrBelow(set: PnSet, pn: number): number {
  let lo = 0;
  let hi = set.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (set[mid]!.smallest <= pn) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * `set` with `pn` added (merging with the neighbour ranges it touches), keeping at most `maxRanges`: past
 * that the oldest (lowest) ranges are dropped (RFC 9000 §13.2.3: the caller must then refuse packets below
 * what it still tracks, see {@link acceptFloor}). A binary search and one copy of at most `maxRanges` ranges.
 */
export function addPacket(set: PnSet, pn: number, maxRanges = Infinity): PnSet {
  if (!Number.isSafeInteger(pn) || pn < 0) throw new RangeError(`packet number out of range: ${pn}`);
  const i = indexAtOrBelow(set, pn);
  const below = set[i]; // the range at or below pn
  const above = i > 0 ? set[i - 1] : undefined; // the next higher range
  if (below && pn <= below.largest) return set; // already there
  const joinsBelow = below !== undefined && below.largest + 1 === pn;
  const joinsAbove = above !== undefined && above.smallest - 1 === pn;
  const out = set.slice();
  if (joinsBelow && joinsAbove) out.splice(i - 1, 2, { smallest: below.smallest, largest: above.largest });
  else if (joinsBelow) out[i] = { smallest: below.smallest, largest: pn };
  else if (joinsAbove) out[i - 1] = { smallest: pn, largest: above.largest };
  else out.splice(i, 0, { smallest: pn, largest: pn });
  if (out.length > maxRanges) out.length = Math.max(1, maxRanges);
  return out;
}

/**
 * The lowest packet number a receiver may still accept, given its `set` capped at `maxRanges` and the
 * previous `floor` (RFC 9000 §13.2.3: "a minimum packet number that increases as ranges are discarded").
 * Once the set is full, anything below its lowest range would be forgotten as soon as it was added (and a
 * duplicate of it processed again), so it is refused instead.
 */
export function acceptFloor(set: PnSet, floor: number, maxRanges: number): number {
  const lowest = set[set.length - 1];
  return lowest && set.length >= maxRanges ? Math.max(floor, lowest.smallest) : floor;
}

/**
 * Whether `set` holds a packet number in [lo, hi]: the range found by {@link indexAtOrBelow} for `hi` is the only
 * one that can reach `lo` (ranges are disjoint, largest first), so O(log ranges).
 */
export function hasPacketBetween(set: PnSet, lo: number, hi: number): boolean {
  if (lo > hi) return false;
  const r = set[indexAtOrBelow(set, hi)];
  return r !== undefined && r.largest >= lo;
}

/** Whether `pn` is in `set` (a binary search). */
export function hasPacket(set: PnSet, pn: number): boolean {
  const r = set[indexAtOrBelow(set, pn)];
  return r !== undefined && pn <= r.largest;
}

/**
 * The ACK frame for `set` (RFC 9000 §19.3): the largest range first, then each lower range as a gap and a
 * length. At most `maxRanges` ranges are reported (the newest; older ones are dropped, §13.2.4).
 * `delay` is the encoded ACK Delay. Throws for an empty set (there is nothing to acknowledge).
 */
export function ackFrameFor(set: PnSet, delay: number, maxRanges = 64): Extract<Frame, { type: 'ack' }> {
  if (set.length === 0) throw new RangeError('no packets to acknowledge');
  const used = set.slice(0, Math.max(1, maxRanges));
  const first = used[0]!;
  const ranges: AckRange[] = [];
  for (let i = 1; i < used.length; i++) {
    // §19.3.1: gap = (previous smallest) − (this largest) − 2; length = largest − smallest.
    ranges.push({ gap: used[i - 1]!.smallest - used[i]!.largest - 2, length: used[i]!.largest - used[i]!.smallest });
  }
  return { type: 'ack', largest: first.largest, delay, firstRange: first.largest - first.smallest, ranges };
}

/** The packet numbers an ACK frame acknowledges, as ranges largest first (RFC 9000 §19.3.1). */
export function rangesOfAck(ack: Extract<Frame, { type: 'ack' }>): PnSet {
  const out: PnRange[] = [{ smallest: ack.largest - ack.firstRange, largest: ack.largest }];
  let smallest = ack.largest - ack.firstRange;
  for (const r of ack.ranges) {
    const largest = smallest - r.gap - 2;
    smallest = largest - r.length;
    out.push({ smallest, largest });
  }
  return out;
}
