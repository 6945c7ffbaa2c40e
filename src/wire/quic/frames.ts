/**
 * QUIC v1 frames (RFC 9000 §19): one discriminated union, one decoder for a packet's payload and one
 * encoder, plus the table of which packet types may carry which frame (RFC 9000 §12.4, Table 3).
 *
 * Integers are QUIC varints (RFC 9000 §16). Error codes are 62-bit and kept as `bigint`; flow-control and
 * stream-count limits are clamped to 2^53 − 1 (a limit no transfer reaches); every other integer (stream
 * IDs, offsets, lengths, sequence numbers) must stay below 2^53, and a larger one is refused as a frame
 * encoding error.
 */
import { DecodeError, Reader } from '../reader.js';
import type { Writer } from '../writer.js';

/** Transport error codes used by the codec (RFC 9000 §20.1). */
export const TransportError = {
  FRAME_ENCODING_ERROR: 0x07,
  PROTOCOL_VIOLATION: 0x0a,
} as const;

/** A payload that is not a valid sequence of frames: close the connection with `code` (RFC 9000 §12.4, §19). */
export class FrameError extends DecodeError {
  constructor(
    message: string,
    /** The transport error code to close with. */
    readonly code: number,
    /** The type of the frame that failed, when known. */
    readonly frameType?: number,
  ) {
    super(message);
  }
}

/** One ACK range below the first: `gap` and `length` as on the wire (RFC 9000 §19.3.1). */
export interface AckRange {
  readonly gap: number;
  readonly length: number;
}

/** A QUIC v1 frame (RFC 9000 §19). */
export type Frame =
  | { readonly type: 'padding'; readonly length: number }
  | { readonly type: 'ping' }
  | {
      readonly type: 'ack';
      readonly largest: number;
      /** Encoded ACK Delay (scaled by the peer's ack_delay_exponent). */
      readonly delay: number;
      /** Packets acknowledged below `largest` in the first range. */
      readonly firstRange: number;
      readonly ranges: readonly AckRange[];
      /** ECT(0), ECT(1), ECN-CE counts (type 0x03). */
      readonly ecn?: readonly [number, number, number];
    }
  | { readonly type: 'resetStream'; readonly streamId: number; readonly errorCode: bigint; readonly finalSize: number }
  | { readonly type: 'stopSending'; readonly streamId: number; readonly errorCode: bigint }
  | { readonly type: 'crypto'; readonly offset: number; readonly data: Uint8Array }
  | { readonly type: 'newToken'; readonly token: Uint8Array }
  | { readonly type: 'stream'; readonly streamId: number; readonly offset: number; readonly data: Uint8Array; readonly fin: boolean }
  | { readonly type: 'maxData'; readonly max: number }
  | { readonly type: 'maxStreamData'; readonly streamId: number; readonly max: number }
  | { readonly type: 'maxStreams'; readonly bidi: boolean; readonly max: number }
  | { readonly type: 'dataBlocked'; readonly limit: number }
  | { readonly type: 'streamDataBlocked'; readonly streamId: number; readonly limit: number }
  | { readonly type: 'streamsBlocked'; readonly bidi: boolean; readonly limit: number }
  | {
      readonly type: 'newConnectionId';
      readonly sequence: number;
      readonly retirePriorTo: number;
      /** 1–20 B. */
      readonly connectionId: Uint8Array;
      /** 16 B. */
      readonly resetToken: Uint8Array;
    }
  | { readonly type: 'retireConnectionId'; readonly sequence: number }
  /** 8 B of data each (RFC 9000 §19.17, §19.18). */
  | { readonly type: 'pathChallenge'; readonly data: Uint8Array }
  | { readonly type: 'pathResponse'; readonly data: Uint8Array }
  | {
      readonly type: 'connectionClose';
      /** `transport`: type 0x1c (a transport error code and the frame type that caused it); `application`: 0x1d. */
      readonly kind: 'transport' | 'application';
      readonly errorCode: bigint;
      readonly frameType?: number;
      /** UTF-8 reason phrase as bytes (may be empty). */
      readonly reason: Uint8Array;
    }
  | { readonly type: 'handshakeDone' };

export type FrameType = Frame['type'];

/** Packet types a frame may appear in (RFC 9000 Table 3): Initial, 0-RTT, Handshake, 1-RTT. */
export type PacketSpace = 'initial' | 'zeroRtt' | 'handshake' | 'oneRtt';

const ALL: readonly PacketSpace[] = ['initial', 'zeroRtt', 'handshake', 'oneRtt'];
/** RFC 9000 Table 3 ("IH01" columns): where each frame type may be sent. */
export const FRAME_SPACES: Record<FrameType, readonly PacketSpace[]> = {
  padding: ALL,
  ping: ALL,
  ack: ['initial', 'handshake', 'oneRtt'],
  resetStream: ['zeroRtt', 'oneRtt'],
  stopSending: ['zeroRtt', 'oneRtt'],
  crypto: ['initial', 'handshake', 'oneRtt'],
  newToken: ['oneRtt'],
  stream: ['zeroRtt', 'oneRtt'],
  maxData: ['zeroRtt', 'oneRtt'],
  maxStreamData: ['zeroRtt', 'oneRtt'],
  maxStreams: ['zeroRtt', 'oneRtt'],
  dataBlocked: ['zeroRtt', 'oneRtt'],
  streamDataBlocked: ['zeroRtt', 'oneRtt'],
  streamsBlocked: ['zeroRtt', 'oneRtt'],
  newConnectionId: ['zeroRtt', 'oneRtt'],
  retireConnectionId: ['zeroRtt', 'oneRtt'],
  pathChallenge: ['zeroRtt', 'oneRtt'],
  pathResponse: ['oneRtt'],
  // Table 3 note: 0x1c in every space, 0x1d (application) only in 0-RTT and 1-RTT (checked in decodeFrames).
  connectionClose: ALL,
  handshakeDone: ['oneRtt'],
};

const LIMIT_MAX = Number.MAX_SAFE_INTEGER;
/** RFC 9000 §19.11: a stream-count limit above 2^60 is a FRAME_ENCODING_ERROR. */
const MAX_STREAMS_LIMIT = 2n ** 60n;

/**
 * Decode every frame of a decrypted packet payload, for a packet of `space` (RFC 9000 §12.4): a frame the
 * space does not allow is a PROTOCOL_VIOLATION, a malformed or unknown frame a FRAME_ENCODING_ERROR, and so
 * is an empty payload (a packet must carry at least one frame: PROTOCOL_VIOLATION). Consecutive PADDING
 * bytes become one frame. Data (CRYPTO, STREAM, tokens) are views into `payload`, not copies.
 *
 * @throws FrameError, with the transport error code to close the connection with.
 */
export function decodeFrames(payload: Uint8Array, space: PacketSpace): Frame[] {
  if (payload.length === 0) throw new FrameError('a packet with no frames', TransportError.PROTOCOL_VIOLATION);
  const r = new Reader(payload);
  const frames: Frame[] = [];
  while (r.remaining > 0) {
    const at = r.offset;
    let frameType = -1;
    try {
      frameType = r.varint();
      // RFC 9000 §12.4: the frame type must use the shortest encoding.
      if (r.offset - at !== varintLength(frameType)) throw new FrameError(`frame type 0x${frameType.toString(16)} not minimally encoded`, TransportError.PROTOCOL_VIOLATION, frameType);
      const frame = decodeFrame(r, frameType);
      if (!FRAME_SPACES[frame.type].includes(space) || (frame.type === 'connectionClose' && frame.kind === 'application' && (space === 'initial' || space === 'handshake'))) {
        throw new FrameError(`${frame.type} frame (0x${frameType.toString(16)}) in a ${space} packet`, TransportError.PROTOCOL_VIOLATION, frameType);
      }
      frames.push(frame);
    } catch (err) {
      if (err instanceof FrameError) throw err;
      const what = frameType < 0 ? 'frame type' : `frame 0x${frameType.toString(16)}`;
      throw new FrameError(`${what}: ${err instanceof Error ? err.message : String(err)}`, TransportError.FRAME_ENCODING_ERROR, frameType < 0 ? undefined : frameType);
    }
  }
  return frames;
}

const varintLength = (v: number): number => (v < 0x40 ? 1 : v < 0x4000 ? 2 : v < 0x40000000 ? 4 : 8);

/** A limit: clamped to 2^53 − 1 (a peer may grant "unlimited" as 2^62 − 1). */
function limit(r: Reader): number {
  const v = r.varintBig();
  return v > BigInt(LIMIT_MAX) ? LIMIT_MAX : Number(v);
}

function streamCount(r: Reader): number {
  const v = r.varintBig();
  if (v > MAX_STREAMS_LIMIT) throw new DecodeError(`stream limit ${v} above 2^60`);
  return v > BigInt(LIMIT_MAX) ? LIMIT_MAX : Number(v);
}

/** 2^62 − 1: the largest value a varint holds, and the end no stream or CRYPTO data may pass (RFC 9000 §19.6, §19.8). */
const VARINT_MAX = (1n << 62n) - 1n;

/** An offset field: varints of up to 4 bytes (the hot path) as numbers, longer ones as bigints for {@link offsetValue}. */
const readOffset = (r: Reader): number | bigint => (r.peekU8() >> 6 < 3 ? r.varint() : r.varintBig());

/**
 * A stream or CRYPTO offset, or a final size, read as any varint (RFC 9000 §19.4, §19.6, §19.8), with the
 * `length` bytes of data that follow it: an end past 2^62 − 1 is FRAME_ENCODING_ERROR. Values above 2^53 become
 * {@link LIMIT_MAX}: beyond any limit rxtls grants, so the connection answers FLOW_CONTROL_ERROR (or
 * CRYPTO_BUFFER_EXCEEDED), not a decode error.
 */
function offsetValue(v: number | bigint, length = 0): number {
  if (typeof v === 'number') return v; // below 2^30: its end is far from 2^62
  if (v + BigInt(length) > VARINT_MAX) throw new DecodeError(`data ending at ${v + BigInt(length)}, past 2^62 - 1`);
  return v > BigInt(LIMIT_MAX) ? LIMIT_MAX : Number(v);
}

function decodeFrame(r: Reader, t: number): Frame {
  if (t === 0x00) {
    let length = 1;
    while (r.remaining > 0 && r.peekU8() === 0) {
      r.u8();
      length++;
    }
    return { type: 'padding', length };
  }
  if (t === 0x01) return { type: 'ping' };
  if (t === 0x02 || t === 0x03) {
    // Any varint is well formed (RFC 9000 §19.3): a Largest Acknowledged above 2^53 acknowledges a packet never
    // sent (PROTOCOL_VIOLATION, §13.1), and an ACK Delay or ECN count above it is clamped like the limits.
    const largest = limit(r);
    const delay = limit(r);
    const count = r.varint();
    const firstRange = limit(r);
    if (firstRange > largest) throw new DecodeError('first ACK range below packet number 0');
    const ranges: AckRange[] = [];
    let smallest = largest - firstRange;
    for (let i = 0; i < count; i++) {
      const gap = r.varint();
      const length = r.varint();
      // RFC 9000 §19.3.1: the next range's largest is smallest − gap − 2; nothing may go below 0.
      smallest = smallest - gap - 2 - length;
      if (smallest < 0) throw new DecodeError('ACK range below packet number 0');
      ranges.push({ gap, length });
    }
    const ecn = t === 0x03 ? ([limit(r), limit(r), limit(r)] as const) : undefined;
    return { type: 'ack', largest, delay, firstRange, ranges, ...(ecn ? { ecn } : {}) };
  }
  if (t === 0x04) return { type: 'resetStream', streamId: r.varint(), errorCode: r.varintBig(), finalSize: offsetValue(readOffset(r)) };
  if (t === 0x05) return { type: 'stopSending', streamId: r.varint(), errorCode: r.varintBig() };
  if (t === 0x06) {
    const offset = readOffset(r);
    const data = r.bytes(r.varint());
    return { type: 'crypto', offset: offsetValue(offset, data.length), data };
  }
  if (t === 0x07) {
    const token = r.bytes(r.varint());
    if (token.length === 0) throw new DecodeError('empty NEW_TOKEN token');
    return { type: 'newToken', token };
  }
  if (t >= 0x08 && t <= 0x0f) {
    const streamId = r.varint();
    const offset = t & 0x04 ? readOffset(r) : 0;
    const data = t & 0x02 ? r.bytes(r.varint()) : r.rest();
    return { type: 'stream', streamId, offset: offsetValue(offset, data.length), data, fin: (t & 0x01) !== 0 };
  }
  if (t === 0x10) return { type: 'maxData', max: limit(r) };
  if (t === 0x11) return { type: 'maxStreamData', streamId: r.varint(), max: limit(r) };
  if (t === 0x12 || t === 0x13) return { type: 'maxStreams', bidi: t === 0x12, max: streamCount(r) };
  if (t === 0x14) return { type: 'dataBlocked', limit: limit(r) };
  if (t === 0x15) return { type: 'streamDataBlocked', streamId: r.varint(), limit: limit(r) };
  if (t === 0x16 || t === 0x17) return { type: 'streamsBlocked', bidi: t === 0x16, limit: streamCount(r) };
  if (t === 0x18) {
    const sequence = r.varint();
    const retirePriorTo = r.varint();
    if (retirePriorTo > sequence) throw new DecodeError('Retire Prior To above the sequence number');
    const connectionId = r.bytes(r.u8());
    if (connectionId.length < 1 || connectionId.length > 20) throw new DecodeError(`connection ID of ${connectionId.length} B (1–20)`);
    return { type: 'newConnectionId', sequence, retirePriorTo, connectionId, resetToken: r.bytes(16) };
  }
  if (t === 0x19) return { type: 'retireConnectionId', sequence: r.varint() };
  if (t === 0x1a) return { type: 'pathChallenge', data: r.bytes(8) };
  if (t === 0x1b) return { type: 'pathResponse', data: r.bytes(8) };
  if (t === 0x1c || t === 0x1d) {
    const errorCode = r.varintBig();
    const frameType = t === 0x1c ? r.varint() : undefined;
    const reason = r.bytes(r.varint());
    return { type: 'connectionClose', kind: t === 0x1c ? 'transport' : 'application', errorCode, ...(frameType !== undefined ? { frameType } : {}), reason };
  }
  if (t === 0x1e) return { type: 'handshakeDone' };
  throw new DecodeError(`unknown frame type 0x${t.toString(16)}`);
}

function varintBig(w: Writer, v: bigint): void {
  if (v < 0n || v >= 2n ** 62n) throw new RangeError(`varint out of range: ${v}`);
  if (v <= BigInt(Number.MAX_SAFE_INTEGER)) {
    w.varint(Number(v));
    return;
  }
  w.u32(Number((v >> 32n) | 0xc0000000n)).u32(Number(v & 0xffffffffn));
}

function bytes8(what: string, b: Uint8Array): Uint8Array {
  if (b.length !== 8) throw new RangeError(`${what} data must be 8 bytes, got ${b.length}`);
  return b;
}

/**
 * Encode one frame (RFC 9000 §19) with minimal varints. STREAM frames always carry their offset (when not 0)
 * and an explicit length, so any frame can be followed by another. Out-of-range fields are API misuse
 * (RangeError).
 */
export function encodeFrame(w: Writer, f: Frame): void {
  switch (f.type) {
    case 'padding':
      for (let i = 0; i < f.length; i++) w.u8(0);
      return;
    case 'ping':
      w.u8(0x01);
      return;
    case 'ack':
      w.varint(f.ecn ? 0x03 : 0x02).varint(f.largest).varint(f.delay).varint(f.ranges.length).varint(f.firstRange);
      for (const r of f.ranges) w.varint(r.gap).varint(r.length);
      if (f.ecn) w.varint(f.ecn[0]).varint(f.ecn[1]).varint(f.ecn[2]);
      return;
    case 'resetStream':
      w.u8(0x04).varint(f.streamId);
      varintBig(w, f.errorCode);
      w.varint(f.finalSize);
      return;
    case 'stopSending':
      w.u8(0x05).varint(f.streamId);
      varintBig(w, f.errorCode);
      return;
    case 'crypto':
      w.u8(0x06).varint(f.offset).varint(f.data.length).bytes(f.data);
      return;
    case 'newToken':
      if (f.token.length === 0) throw new RangeError('NEW_TOKEN needs a token');
      w.u8(0x07).varint(f.token.length).bytes(f.token);
      return;
    case 'stream':
      w.u8(0x08 | (f.offset > 0 ? 0x04 : 0) | 0x02 | (f.fin ? 0x01 : 0)).varint(f.streamId);
      if (f.offset > 0) w.varint(f.offset);
      w.varint(f.data.length).bytes(f.data);
      return;
    case 'maxData':
      w.u8(0x10).varint(f.max);
      return;
    case 'maxStreamData':
      w.u8(0x11).varint(f.streamId).varint(f.max);
      return;
    case 'maxStreams':
      w.u8(f.bidi ? 0x12 : 0x13).varint(f.max);
      return;
    case 'dataBlocked':
      w.u8(0x14).varint(f.limit);
      return;
    case 'streamDataBlocked':
      w.u8(0x15).varint(f.streamId).varint(f.limit);
      return;
    case 'streamsBlocked':
      w.u8(f.bidi ? 0x16 : 0x17).varint(f.limit);
      return;
    case 'newConnectionId':
      if (f.connectionId.length < 1 || f.connectionId.length > 20) throw new RangeError(`connection ID of ${f.connectionId.length} B (1–20)`);
      if (f.resetToken.length !== 16) throw new RangeError('stateless reset token must be 16 bytes');
      w.u8(0x18).varint(f.sequence).varint(f.retirePriorTo).u8(f.connectionId.length).bytes(f.connectionId).bytes(f.resetToken);
      return;
    case 'retireConnectionId':
      w.u8(0x19).varint(f.sequence);
      return;
    case 'pathChallenge':
      w.u8(0x1a).bytes(bytes8('PATH_CHALLENGE', f.data));
      return;
    case 'pathResponse':
      w.u8(0x1b).bytes(bytes8('PATH_RESPONSE', f.data));
      return;
    case 'connectionClose':
      w.u8(f.kind === 'transport' ? 0x1c : 0x1d);
      varintBig(w, f.errorCode);
      if (f.kind === 'transport') w.varint(f.frameType ?? 0);
      w.varint(f.reason.length).bytes(f.reason);
      return;
    case 'handshakeDone':
      w.u8(0x1e);
      return;
    default: {
      const never: never = f;
      throw new TypeError(`unknown frame ${String((never as Frame).type)}`);
    }
  }
}
