/**
 * QUIC v1 packet headers (RFC 9000 §17) as far as packet protection needs them: where a packet ends inside a
 * datagram, where its packet number starts, and its connection IDs; plus packet-number truncation and
 * recovery (RFC 9000 §17.1, Appendix A.2/A.3). The header fields before the packet number are not
 * protected; the first byte's low bits and the packet number are, until header protection is removed
 * (RFC 9001 §5.4), so this decoder reads neither. The encoders write unprotected headers, ready for
 * `protectPacket`.
 */
import { DecodeError, Reader } from '../reader.js';
import { encodeWith } from '../writer.js';

/** QUIC version 1 (RFC 9000). */
export const QUIC_V1 = 0x00000001;

/** Long-header packet types of QUIC v1 (RFC 9000 §17.2, the two type bits of the first byte). */
export const LongPacketType = { initial: 0, zeroRtt: 1, handshake: 2, retry: 3 } as const;
export type LongPacketType = keyof typeof LongPacketType;
const LONG_TYPES: readonly LongPacketType[] = ['initial', 'zeroRtt', 'handshake', 'retry'];

/** Connection IDs are at most 20 bytes in QUIC v1 (RFC 9000 §17.2). */
export const MAX_CID_LENGTH = 20;

/** A decoded packet header (before header protection is removed). Offsets are into the datagram. */
export type PacketHeader =
  | {
      readonly form: 'long';
      /** Initial, 0-RTT, Handshake (all three carry a packet number) or Retry. */
      readonly type: LongPacketType;
      readonly version: number;
      readonly dcid: Uint8Array;
      readonly scid: Uint8Array;
      /** Initial: the token (may be empty); Retry: the retry token (without the 16 B integrity tag). */
      readonly token: Uint8Array;
      /** Offset of the packet number (Initial, 0-RTT, Handshake); for Retry, of the integrity tag. */
      readonly pnOffset: number;
      /** Offset just past this packet: the next coalesced packet starts here (RFC 9000 §12.2). */
      readonly end: number;
    }
  | {
      readonly form: 'short';
      readonly dcid: Uint8Array;
      readonly pnOffset: number;
      /** A short-header packet runs to the end of the datagram. */
      readonly end: number;
    }
  | {
      /** Version Negotiation (RFC 9000 §17.2.1): version 0. */
      readonly form: 'versionNegotiation';
      readonly dcid: Uint8Array;
      readonly scid: Uint8Array;
      readonly versions: readonly number[];
      readonly end: number;
    };

function cid(r: Reader, what: string): Uint8Array {
  const len = r.u8();
  if (len > MAX_CID_LENGTH) throw new DecodeError(`${what} of ${len} bytes: QUIC v1 allows at most ${MAX_CID_LENGTH}`);
  return r.bytes(len);
}

/**
 * Decode the header of the packet starting at `offset` in `datagram`. Short-header packets carry no DCID
 * length, so the receiver passes the length of the connection IDs it issued (`shortDcidLength`).
 * Throws {@link DecodeError} for a truncated or malformed header, an unknown version or a fixed bit of 0
 * (RFC 9000 §17.2: such packets are discarded).
 *
 * @example
 * ```ts
 * const h = decodePacketHeader(datagram, 0, 8);
 * if (h.form === 'long' && h.type === 'initial') { ... h.pnOffset, h.end ... }
 * ```
 */
export function decodePacketHeader(datagram: Uint8Array, offset: number, shortDcidLength: number): PacketHeader {
  const r = new Reader(datagram.subarray(offset));
  const first = r.u8();
  if ((first & 0x80) === 0) {
    if ((first & 0x40) === 0) throw new DecodeError('short header with the fixed bit 0');
    const dcid = r.bytes(shortDcidLength);
    return { form: 'short', dcid, pnOffset: offset + r.offset, end: datagram.length };
  }
  const version = r.u32();
  const dcid = cid(r, 'destination connection ID');
  const scid = cid(r, 'source connection ID');
  if (version === 0) {
    const versions: number[] = [];
    if (r.remaining === 0 || r.remaining % 4 !== 0) throw new DecodeError('version negotiation: the version list is not a non-empty multiple of 4 bytes');
    while (r.remaining > 0) versions.push(r.u32());
    return { form: 'versionNegotiation', dcid, scid, versions, end: datagram.length };
  }
  if (version !== QUIC_V1) throw new DecodeError(`unsupported QUIC version 0x${version.toString(16).padStart(8, '0')}`);
  if ((first & 0x40) === 0) throw new DecodeError('long header with the fixed bit 0');
  const type = LONG_TYPES[(first >> 4) & 3]!;
  if (type === 'retry') {
    // Retry token, then the 16 B Retry Integrity Tag, up to the end of the datagram (RFC 9000 §17.2.5).
    if (r.remaining < 16) throw new DecodeError('retry packet shorter than its integrity tag');
    const token = r.bytes(r.remaining - 16);
    return { form: 'long', type, version, dcid, scid, token, pnOffset: offset + r.offset, end: datagram.length };
  }
  const token = type === 'initial' ? r.bytes(r.varint()) : new Uint8Array(0);
  // Length: the packet number and the protected payload (RFC 9000 §17.2).
  const length = r.varint();
  const pnOffset = offset + r.offset;
  if (length > r.remaining) throw new DecodeError(`packet length ${length} exceeds the ${r.remaining} bytes left in the datagram`);
  return { form: 'long', type, version, dcid, scid, token, pnOffset, end: pnOffset + length };
}

/**
 * The number of bytes (1–4) to encode `packetNumber` with, given the largest packet number the peer has
 * acknowledged (`undefined`: none yet): enough for twice the unacknowledged range (RFC 9000 §17.1, A.2).
 */
export function packetNumberLength(packetNumber: number, largestAcked: number | undefined): 1 | 2 | 3 | 4 {
  const unacked = largestAcked === undefined ? packetNumber + 1 : packetNumber - largestAcked;
  const bits = Math.log2(Math.max(unacked, 1)) + 1; // room for twice the unacknowledged range
  const bytes = Math.max(1, Math.ceil(bits / 8));
  if (bytes > 4) throw new RangeError(`packet number ${packetNumber} is too far ahead of the largest acknowledged ${largestAcked}`);
  return bytes as 1 | 2 | 3 | 4;
}

/**
 * Recover a full packet number from its `bits`-bit truncation, as the one closest to the next expected
 * (`largest` + 1, with `largest` the largest packet number received so far in the space, −1 for none):
 * RFC 9000 §17.1 and Appendix A.3. Packet numbers are kept below 2^53 here.
 */
export function decodePacketNumber(largest: number, truncated: number, bits: 8 | 16 | 24 | 32): number {
  const expected = largest + 1;
  const win = 2 ** bits;
  const half = win / 2;
  const candidate = expected - (expected % win) + truncated;
  if (candidate <= expected - half && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + half && candidate >= win) return candidate - win;
  return candidate;
}

/** The low `pnLength` bytes of `packetNumber`, big-endian (RFC 9000 §17.1). */
function truncatedPn(packetNumber: number, pnLength: number): Uint8Array {
  const out = new Uint8Array(pnLength);
  for (let i = 0; i < pnLength; i++) out[pnLength - 1 - i] = Math.floor(packetNumber / 256 ** i) & 0xff;
  return out;
}

function checkCid(what: string, cid: Uint8Array): void {
  if (cid.length > MAX_CID_LENGTH) throw new RangeError(`${what} of ${cid.length} B: QUIC v1 allows at most ${MAX_CID_LENGTH}`);
}

/**
 * The unprotected header of an Initial, 0-RTT or Handshake packet (RFC 9000 §17.2): the Length field counts
 * the packet number, a `payloadLength`-byte payload and the 16 B AEAD tag, and is always written as a 2-byte
 * varint (so the header's size does not depend on the payload: up to 16383 B), the packet number as its low
 * `pnLength` bytes.
 */
export function encodeLongHeader(h: {
  readonly type: Exclude<LongPacketType, 'retry'>;
  readonly dcid: Uint8Array;
  readonly scid: Uint8Array;
  /** Initial only (may be empty). */
  readonly token?: Uint8Array;
  readonly packetNumber: number;
  readonly pnLength: 1 | 2 | 3 | 4;
  readonly payloadLength: number;
  /** The version field (default QUIC v1); another one only to test version negotiation. */
  readonly version?: number;
}): Uint8Array {
  checkCid('destination connection ID', h.dcid);
  checkCid('source connection ID', h.scid);
  if (h.token && h.type !== 'initial') throw new RangeError('only Initial packets carry a token');
  const length = h.pnLength + h.payloadLength + 16;
  if (length >= 0x4000) throw new RangeError(`packet length ${length} does not fit a 2-byte Length field`);
  return encodeWith((w) => {
    w.u8(0xc0 | (LongPacketType[h.type] << 4) | (h.pnLength - 1)).u32(h.version ?? QUIC_V1);
    w.u8(h.dcid.length).bytes(h.dcid).u8(h.scid.length).bytes(h.scid);
    if (h.type === 'initial') w.varint(h.token?.length ?? 0).bytes(h.token ?? new Uint8Array(0));
    w.u16(0x4000 | length).bytes(truncatedPn(h.packetNumber, h.pnLength));
  });
}

/** The unprotected header of a 1-RTT packet (RFC 9000 §17.3.1): fixed bit, spin bit, key phase, the packet number. */
export function encodeShortHeader(h: {
  readonly dcid: Uint8Array;
  readonly packetNumber: number;
  readonly pnLength: 1 | 2 | 3 | 4;
  readonly keyPhase?: boolean;
  readonly spin?: boolean;
}): Uint8Array {
  checkCid('destination connection ID', h.dcid);
  const first = 0x40 | (h.spin ? 0x20 : 0) | (h.keyPhase ? 0x04 : 0) | (h.pnLength - 1);
  return encodeWith((w) => w.u8(first).bytes(h.dcid).bytes(truncatedPn(h.packetNumber, h.pnLength)));
}
