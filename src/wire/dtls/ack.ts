/**
 * The DTLS 1.3 ACK message (RFC 9147 §7), sent as its own content type 26 (`DtlsContentType.ack`):
 * `RecordNumber record_numbers<0..2^16-1>`, each RecordNumber an 8-byte epoch and an 8-byte sequence number.
 */
import { DecodeError, Reader } from '../reader.js';
import type { Writer } from '../writer.js';

/** A record number (RFC 9147 §4, §7): epoch (uint64) and sequence_number (uint64); 16 bytes on the wire. */
export interface RecordNumber {
  readonly epoch: bigint;
  readonly sequenceNumber: bigint;
}

const U64_MAX = 2n ** 64n - 1n;
/** The most record numbers one ACK holds: a 2-byte length prefix over 16-byte entries, 4095. */
export const MAX_ACK_RECORD_NUMBERS = Math.floor(0xffff / 16);

/**
 * Encode an ACK (RFC 9147 §7): 2 + 16 × n bytes. The RFC asks for the list in ascending order; the caller
 * sorts (this codec keeps the order given).
 *
 * @example encodeAck(w, [{ epoch: 2n, sequenceNumber: 5n }]) // 00 10 00…02 00…05
 * @throws RangeError for more than 4095 entries or values outside uint64 (API misuse).
 */
export function encodeAck(w: Writer, recordNumbers: readonly RecordNumber[]): void {
  if (recordNumbers.length > MAX_ACK_RECORD_NUMBERS) throw new RangeError(`${recordNumbers.length} record numbers exceed ${MAX_ACK_RECORD_NUMBERS}`);
  w.u16(recordNumbers.length * 16);
  for (const rn of recordNumbers) {
    u64(w, 'epoch', rn.epoch);
    u64(w, 'sequence number', rn.sequenceNumber);
  }
}

/**
 * Decode the content of an ACK record (RFC 9147 §7): the vector must fill it exactly and be a multiple of 16
 * bytes; anything else is a {@link DecodeError}.
 */
export function decodeAck(content: Uint8Array): RecordNumber[] {
  const r = new Reader(content);
  const list = r.sub16();
  r.expectEnd('ACK');
  if (list.remaining % 16 !== 0) throw new DecodeError(`ACK record_numbers of ${list.remaining} B is not a multiple of 16`);
  const out: RecordNumber[] = [];
  while (list.remaining > 0) {
    const epoch = readU64(list);
    const sequenceNumber = readU64(list);
    out.push({ epoch, sequenceNumber });
  }
  return out;
}

function u64(w: Writer, what: string, v: bigint): void {
  if (v < 0n || v > U64_MAX) throw new RangeError(`${what} ${v} is not a uint64`);
  w.u32(Number(v >> 32n)).u32(Number(v & 0xffffffffn));
}

function readU64(r: Reader): bigint {
  return (BigInt(r.u32()) << 32n) | BigInt(r.u32());
}
