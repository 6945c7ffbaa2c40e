/**
 * Reading what a {@link QuicPair} side put on the wire: the frames of each 1-RTT packet it sent, opened with its
 * own write keys at the time of sending (so counts are of frames sent, not of frames queued).
 */
import { decodeFrames, encodeFrame, type Frame } from '../../src/wire/quic/frames.js';
import { encodeWith } from '../../src/wire/writer.js';
import { decodePacketHeader } from '../../src/wire/quic/packet.js';
import { unprotectPacket } from '../../src/quic/protection.js';
import type { QuicPair, Side } from './quicPair.js';

/** One 1-RTT packet a side sent: its frames. */
export type SentPacket = readonly Frame[];

/** Start recording `pair`'s 1-RTT packets, per side, from now on (chains any `observe` already set). */
export function recordPackets(pair: QuicPair): Record<Side, SentPacket[]> {
  const out: Record<Side, SentPacket[]> = { client: [], server: [] };
  const before = pair.observe;
  pair.observe = (side, state, effects) => {
    before(side, state, effects);
    const keys = state.spaces.application.tx;
    if (!keys) return;
    for (const e of effects) {
      if (e.type !== 'transmit') continue;
      let offset = 0;
      while (offset < e.data.length) {
        const h = decodePacketHeader(e.data, offset, 8);
        if (h.form === 'versionNegotiation') break;
        if (h.form === 'short') {
          const p = unprotectPacket(state.config.provider, keys, e.data.subarray(offset, h.end), h.pnOffset - offset, state.spaces.application.nextPn - 1);
          if (p) out[side].push(decodeFrames(p.payload, 'oneRtt'));
        }
        offset = h.end;
      }
    }
  };
  return out;
}

/** The frames of type `type` in `packets`. */
export const framesOf = <T extends Frame['type']>(packets: readonly SentPacket[], type: T): Extract<Frame, { type: T }>[] =>
  packets.flatMap((p) => p.filter((f): f is Extract<Frame, { type: T }> => f.type === type));

/** Encoded frames, in order: a packet payload. */
export const frameBytes = (...frames: readonly Frame[]): Uint8Array => encodeWith((w) => frames.forEach((f) => encodeFrame(w, f)));

/** An 8-byte varint (for values past 2^53, which Writer.varint refuses). */
export const varint8 = (v: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  let x = v | (0xc0n << 56n);
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
};
