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

/** `set` with `pn` added (merging with a neighbour range where they touch). */
export function addPacket(set: PnSet, pn: number): PnSet {
  if (!Number.isSafeInteger(pn) || pn < 0) throw new RangeError(`packet number out of range: ${pn}`);
  const out: PnRange[] = [];
  let placed = false;
  for (const r of set) {
    if (placed) {
      out.push(r);
      continue;
    }
    if (pn > r.largest + 1) {
      out.push({ smallest: pn, largest: pn }, r);
      placed = true;
    } else if (pn === r.largest + 1) {
      out.push({ smallest: r.smallest, largest: pn });
      placed = true;
    } else if (pn >= r.smallest) {
      out.push(r); // already there
      placed = true;
    } else if (pn === r.smallest - 1) {
      out.push({ smallest: pn, largest: r.largest });
      placed = true;
    } else {
      out.push(r);
    }
  }
  if (!placed) out.push({ smallest: pn, largest: pn });
  // Adding one packet can join two ranges: merge neighbours that now touch.
  const merged: PnRange[] = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && r.largest + 1 >= last.smallest) merged[merged.length - 1] = { smallest: Math.min(last.smallest, r.smallest), largest: last.largest };
    else merged.push(r);
  }
  return merged;
}

/** Whether `pn` is in `set`. */
export function hasPacket(set: PnSet, pn: number): boolean {
  return set.some((r) => pn >= r.smallest && pn <= r.largest);
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
