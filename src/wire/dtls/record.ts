/**
 * DTLS 1.3 record headers (RFC 9147 §4): the DTLSPlaintext header used at epoch 0 and the unified header of
 * DTLSCiphertext, the demultiplexing of a record by its first byte (§4.1), and the reconstruction of full
 * epoch and sequence numbers from the bits on the wire (§4.2.2). Pure codecs: no keys, no state. Removing the
 * record-number encryption (§4.2.3) is `recordNumberProtection.ts`; these decoders return the header as sent.
 */
import { DecodeError, type Reader } from '../reader.js';
import type { Writer } from '../writer.js';

/** Content types of DTLS 1.3 records (RFC 9147 §4, §7; IANA TLS ContentType registry). */
export const DtlsContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
  /** DTLS 1.2 connection-ID records (RFC 9146); never valid in DTLS 1.3. */
  tls12_cid: 25,
  /** ACK (RFC 9147 §7). */
  ack: 26,
} as const;
export type DtlsContentType = (typeof DtlsContentType)[keyof typeof DtlsContentType];

/** `legacy_record_version` of every DTLS 1.3 DTLSPlaintext record: {254, 253}, DTLS 1.2 (RFC 9147 §4). */
export const DTLS_LEGACY_RECORD_VERSION = 0xfefd;
/** The largest DTLSPlaintext / DTLSInnerPlaintext content: 2^14 bytes (RFC 9147 §4, RFC 8446 §5.1). */
export const MAX_PLAINTEXT_LENGTH = 2 ** 14;
/** The largest DTLSCiphertext encrypted_record: 2^14 + 256 bytes (RFC 9147 §4, RFC 8446 §5.2). */
export const MAX_CIPHERTEXT_LENGTH = 2 ** 14 + 256;
/** DTLSPlaintext header size: type(1) version(2) epoch(2) sequence_number(6) length(2) = 13 bytes. */
export const PLAINTEXT_HEADER_LENGTH = 13;
/** `record_overflow` (RFC 8446 §6.2): the DecodeError alert for an over-long record, which DTLS drops (§4.5.2). */
const RECORD_OVERFLOW = 22;

/** A DTLSPlaintext record (RFC 9147 §4): epoch 0 traffic (ClientHello, ServerHello, HRR, alerts before keys). */
export interface DtlsPlaintext {
  readonly type: number;
  /** uint16 on the wire; 0 for every valid DTLS 1.3 plaintext record. */
  readonly epoch: number;
  /** uint48 on the wire. */
  readonly sequenceNumber: number;
  /** Up to 2^14 bytes. */
  readonly fragment: Uint8Array;
}

/**
 * Encode a DTLSPlaintext record (RFC 9147 §4): 13 bytes of header, then the fragment.
 *
 * @example encodeDtlsPlaintext(w, { type: 22, epoch: 0, sequenceNumber: 0, fragment }) // 16 fe fd 00 00 00…
 * @throws RangeError for a fragment over 2^14 bytes or fields out of range (API misuse).
 */
export function encodeDtlsPlaintext(w: Writer, rec: DtlsPlaintext): void {
  checkUint('type', rec.type, 0xff);
  checkUint('epoch', rec.epoch, 0xffff);
  checkUint('sequence number', rec.sequenceNumber, 2 ** 48 - 1);
  if (rec.fragment.length > MAX_PLAINTEXT_LENGTH) {
    throw new RangeError(`DTLSPlaintext fragment of ${rec.fragment.length} B exceeds ${MAX_PLAINTEXT_LENGTH}`);
  }
  w.u8(rec.type).u16(DTLS_LEGACY_RECORD_VERSION).u16(rec.epoch);
  w.u16(Math.floor(rec.sequenceNumber / 2 ** 32)).u32(rec.sequenceNumber >>> 0);
  w.u16(rec.fragment.length).bytes(rec.fragment);
}

/**
 * The largest record with the DTLSPlaintext header under an epoch above 0: a DTLS 1.2 protected record,
 * TLSCiphertext's 2^14 + 2048 bytes (RFC 6347 §4.1, RFC 5246 §6.2.3).
 */
export const MAX_PROTECTED12_LENGTH = 2 ** 14 + 2048;

/**
 * Decode one DTLSPlaintext record (RFC 9147 §4) at the reader's position, leaving the reader after it (a
 * datagram may hold several records, §4.3). The legacy version is not checked (RFC 8446 §5.1 says to ignore it
 * once the connection is under way; the caller may: DTLS 1.2 authenticates it). A length over 2^14 (epoch 0) or
 * over {@link MAX_PROTECTED12_LENGTH} (a DTLS 1.2 protected record) is a {@link DecodeError} with the
 * `record_overflow` alert, which a DTLS receiver maps to dropping the record (§4.5.2).
 */
export function decodeDtlsPlaintext(r: Reader): DtlsPlaintext & { readonly version: number } {
  const type = r.u8();
  const version = r.u16();
  const epoch = r.u16();
  const sequenceNumber = r.u16() * 2 ** 32 + r.u32();
  const length = r.u16();
  const max = epoch === 0 ? MAX_PLAINTEXT_LENGTH : MAX_PROTECTED12_LENGTH;
  if (length > max) throw new DecodeError(`DTLSPlaintext of ${length} B exceeds ${max}`, RECORD_OVERFLOW);
  const fragment = r.bytes(length);
  return { type, version, epoch, sequenceNumber, fragment };
}

/** Unified header first-byte bits (RFC 9147 §4, Figure 3): `001CSLEE`. */
const FIXED_MASK = 0xe0;
const FIXED_BITS = 0x20;
const C_BIT = 0x10;
const S_BIT = 0x08;
const L_BIT = 0x04;
const EPOCH_BITS = 0x03;

/** The unified header to write (RFC 9147 §4): no connection ID, the length always present (L = 1). */
export interface UnifiedHeader {
  /** The full epoch; its low 2 bits are sent. */
  readonly epoch: number | bigint;
  /** The full sequence number; its low 8 or 16 bits are sent (before record-number encryption). */
  readonly sequenceNumber: number;
  /** 1 (S = 0) or 2 (S = 1) bytes of sequence number. */
  readonly sequenceNumberLength: 1 | 2;
  /** Length of the encrypted_record that follows, at most 2^14 + 256 bytes. */
  readonly length: number;
}

/**
 * Encode a unified header (RFC 9147 §4): 1 + `sequenceNumberLength` + 2 bytes (4 or 5), with C = 0, L = 1.
 * This is the AEAD additional data for the record (§4); record-number encryption is applied after sealing.
 *
 * @example encodeUnifiedHeader(w, { epoch: 3, sequenceNumber: 0x1234, sequenceNumberLength: 2, length: 40 }) // 2f 12 34 00 28
 */
export function encodeUnifiedHeader(w: Writer, h: UnifiedHeader): void {
  checkUint('sequence number', h.sequenceNumber, Number.MAX_SAFE_INTEGER);
  if (h.sequenceNumberLength !== 1 && h.sequenceNumberLength !== 2) throw new RangeError(`sequence number length ${String(h.sequenceNumberLength)}: 1 or 2`);
  if (typeof h.epoch === 'bigint' ? h.epoch < 0n : !Number.isSafeInteger(h.epoch) || h.epoch < 0) throw new RangeError(`epoch ${h.epoch} out of range`);
  checkUint('length', h.length, MAX_CIPHERTEXT_LENGTH);
  const ee = Number(BigInt(h.epoch) & 3n);
  const s = h.sequenceNumberLength === 2;
  w.u8(FIXED_BITS | (s ? S_BIT : 0) | L_BIT | ee);
  if (s) w.u16(h.sequenceNumber % 0x10000);
  else w.u8(h.sequenceNumber % 0x100);
  w.u16(h.length);
}

/** Encode a whole DTLSCiphertext (RFC 9147 §4): the unified header, then `encryptedRecord`. */
export function encodeDtlsCiphertext(
  w: Writer,
  rec: Omit<UnifiedHeader, 'length'> & { readonly encryptedRecord: Uint8Array },
): void {
  encodeUnifiedHeader(w, { ...rec, length: rec.encryptedRecord.length });
  w.bytes(rec.encryptedRecord);
}

/** A decoded DTLSCiphertext (RFC 9147 §4), record number still encrypted. */
export interface DtlsCiphertext {
  readonly kind: 'ciphertext';
  /** The header bytes as received (a view): the AEAD additional data once the sequence bytes are decrypted. */
  readonly header: Uint8Array;
  /** The low 2 bits of the epoch (EE). */
  readonly epochBits: number;
  /** Offset of the (encrypted) sequence number inside `header`: always 1, as no connection ID is used. */
  readonly sequenceNumberOffset: 1;
  /** 1 or 2 bytes (the S bit). */
  readonly sequenceNumberLength: 1 | 2;
  /** Whether the L bit was set; without it the record ran to the end of the datagram. */
  readonly lengthPresent: boolean;
  /** The encrypted_record (a view). */
  readonly encryptedRecord: Uint8Array;
}

/**
 * A unified header with the C bit set (RFC 9147 §4). rxtls never negotiates connection IDs (RFC 9146), so the
 * CID length is unknown and nothing after the first byte can be parsed: the layer drops the rest of the
 * datagram (§4.5.2, §9).
 */
export interface DtlsCidRecord {
  readonly kind: 'connectionId';
}

/**
 * Decode one DTLSCiphertext (RFC 9147 §4) at the reader's position: the first byte must be `001CSLEE`. With the
 * L bit the record is `length` bytes and the reader is left after it; without it the record takes the rest of
 * the reader (the datagram). A record with C set is reported as {@link DtlsCidRecord} (the reader is left
 * after the first byte). Truncation, an over-long length (`record_overflow`) or a wrong first byte is a
 * {@link DecodeError}: for DTLS, a reason to drop (§4.5.2).
 */
export function decodeDtlsCiphertext(r: Reader): DtlsCiphertext | DtlsCidRecord {
  const start = r.offset;
  const first = r.u8();
  if ((first & FIXED_MASK) !== FIXED_BITS) throw new DecodeError(`first byte 0x${first.toString(16)} is not a unified header (001CSLEE)`);
  if ((first & C_BIT) !== 0) return { kind: 'connectionId' };
  const sequenceNumberLength = (first & S_BIT) !== 0 ? 2 : 1;
  r.bytes(sequenceNumberLength);
  const lengthPresent = (first & L_BIT) !== 0;
  const length = lengthPresent ? r.u16() : r.remaining;
  if (length > MAX_CIPHERTEXT_LENGTH) throw new DecodeError(`DTLSCiphertext of ${length} B exceeds ${MAX_CIPHERTEXT_LENGTH}`, RECORD_OVERFLOW);
  const headerLength = r.offset - start;
  const encryptedRecord = r.bytes(length);
  // The reader's views share the datagram's buffer, so the header is the view just before the record.
  return {
    kind: 'ciphertext',
    header: viewBefore(encryptedRecord, headerLength),
    epochBits: first & EPOCH_BITS,
    sequenceNumberOffset: 1,
    sequenceNumberLength,
    lengthPresent,
    encryptedRecord,
  };
}

/** The `n` bytes just before `view` in its underlying buffer (they were read just before it). */
function viewBefore(view: Uint8Array, n: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset - n, n);
}

/** What one record in a datagram is, by its first byte (RFC 9147 §4.1). */
export type DtlsRecord =
  | ({ readonly kind: 'plaintext' } & DtlsPlaintext & { readonly version: number })
  | DtlsCiphertext
  | DtlsCidRecord;

/**
 * Decode the record at the reader's position, choosing the format by its first byte as RFC 9147 §4.1 says:
 * 0x20–0x3f a unified header (DTLSCiphertext), any other a DTLSPlaintext-shaped record: 20–23 and 26 (alert,
 * handshake, ack; change_cipher_spec, which DTLS 1.3 peers may still send; application_data, which only DTLS 1.2
 * sends with this header, RFC 6347 §4.1), and unknown types, which the caller drops one by one by their length,
 * so the records after one in the datagram are still read (RFC 6347 §4.1.2.7, RFC 9147 §4.5.2). A DTLS 1.2
 * connection-ID record (25, RFC 9146) carries the receiver's connection ID before its length, and ours is empty
 * (never negotiated): the same 13-byte header.
 *
 * @example
 * ```ts
 * const r = new Reader(datagram);
 * while (r.remaining > 0) { const rec = decodeDtlsRecord(r); if (rec.kind === 'connectionId') break; … }
 * ```
 */
export function decodeDtlsRecord(r: Reader): DtlsRecord {
  const first = r.peekU8();
  if ((first & FIXED_MASK) === FIXED_BITS) return decodeDtlsCiphertext(r);
  return { kind: 'plaintext', ...decodeDtlsPlaintext(r) };
}

/**
 * The value closest to `expected` whose low `bits` bits are `low` (RFC 9147 §4.2.2, the same rule as QUIC's
 * packet number recovery, RFC 9000 §A.3). Never negative; values stay below 2^53.
 */
export function closestWithLowBits(expected: number, low: number, bits: number): number {
  const win = 2 ** bits;
  if (!Number.isInteger(low) || low < 0 || low >= win) throw new RangeError(`${low} does not fit ${bits} bits`);
  const half = win / 2;
  const base = expected - (expected % win);
  const candidate = base + low;
  if (candidate + half <= expected && candidate + win <= Number.MAX_SAFE_INTEGER) return candidate + win;
  if (candidate > expected + half && candidate >= win) return candidate - win;
  return candidate;
}

/**
 * Reconstruct a full sequence number from its low 8 or 16 bits (after record-number decryption): the value
 * closest to one plus the highest sequence number successfully deprotected in the epoch, `largest`
 * (−1 when none yet), as RFC 9147 §4.2.2 requires.
 *
 * @example reconstructSequenceNumber(0x1ff, 0x02, 8) // 0x202
 */
export function reconstructSequenceNumber(largest: number, low: number, bits: 8 | 16): number {
  return closestWithLowBits(largest + 1, low, bits);
}

/**
 * Reconstruct a full epoch from the 2 EE bits (RFC 9147 §4.2.2): the epoch closest to the receiver's current
 * epoch with those low bits. The caller then checks it holds keys for that epoch (else drop).
 *
 * @example reconstructEpoch(4, 3) // 3
 */
export function reconstructEpoch(current: number, epochBits: number): number {
  return closestWithLowBits(current, epochBits & 3, 2);
}

function checkUint(what: string, v: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new RangeError(`${what} ${v} out of range 0..${max}`);
}
