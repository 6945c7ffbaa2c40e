/**
 * DTLS 1.3 handshake message fragments (RFC 9147 §5.2): the TLS handshake header extended with message_seq,
 * fragment_offset and fragment_length, 12 bytes in all, and the conversion to the TLS 1.3 form (4-byte
 * header) over which the transcript is hashed.
 */
import { DecodeError, Reader } from '../reader.js';
import type { Writer } from '../writer.js';

/** DTLS handshake header size: msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3) = 12 bytes. */
export const DTLS_HANDSHAKE_HEADER_LENGTH = 12;

/** One handshake fragment (RFC 9147 §5.2); a whole message is the fragment with offset 0 and the full length. */
export interface DtlsHandshakeFragment {
  readonly msgType: number;
  /** Length of the whole message body (uint24), not of this fragment. */
  readonly length: number;
  /** uint16: 0 for the first message each side sends, then +1 per message (§5.2). */
  readonly messageSeq: number;
  /** uint24: where `body` starts in the message body. */
  readonly fragmentOffset: number;
  /** The fragment's bytes; fragment_length on the wire is `body.length`. */
  readonly body: Uint8Array;
}

/**
 * Encode one fragment (RFC 9147 §5.2): 12 bytes of header, then the body.
 *
 * @example encodeDtlsHandshakeFragment(w, { msgType: 20, length: 32, messageSeq: 3, fragmentOffset: 0, body }) // 14 00 00 20 00 03 00 00 00 00 00 20 …
 * @throws RangeError when fields are out of range or offset + body length exceeds length (API misuse).
 */
export function encodeDtlsHandshakeFragment(w: Writer, f: DtlsHandshakeFragment): void {
  checkUint('msg_type', f.msgType, 0xff);
  checkUint('length', f.length, 0xffffff);
  checkUint('message_seq', f.messageSeq, 0xffff);
  checkUint('fragment_offset', f.fragmentOffset, 0xffffff);
  if (f.fragmentOffset + f.body.length > f.length) {
    throw new RangeError(`fragment ${f.fragmentOffset}+${f.body.length} runs past the message length ${f.length}`);
  }
  w.u8(f.msgType).u24(f.length).u16(f.messageSeq).u24(f.fragmentOffset).u24(f.body.length).bytes(f.body);
}

/**
 * Decode one fragment (RFC 9147 §5.2) at the reader's position, leaving the reader after it. A fragment
 * whose offset + fragment_length exceeds the message length is a {@link DecodeError} (`illegal_parameter`
 * would also do; DTLS drops it either way, §4.5.2), a body shorter than fragment_length a truncation error.
 */
export function decodeDtlsHandshakeFragment(r: Reader): DtlsHandshakeFragment {
  const msgType = r.u8();
  const length = r.u24();
  const messageSeq = r.u16();
  const fragmentOffset = r.u24();
  const fragmentLength = r.u24();
  if (fragmentOffset + fragmentLength > length) {
    throw new DecodeError(`handshake fragment ${fragmentOffset}+${fragmentLength} runs past the message length ${length}`);
  }
  const body = r.bytes(fragmentLength);
  return { msgType, length, messageSeq, fragmentOffset, body };
}

/**
 * Decode the content of a handshake record: one or more fragments filling it exactly (RFC 9147 §5.2; a
 * record may carry several, §5.5). An empty record or trailing bytes are a {@link DecodeError}.
 */
export function decodeDtlsHandshakeFragments(content: Uint8Array): DtlsHandshakeFragment[] {
  const r = new Reader(content);
  const out: DtlsHandshakeFragment[] = [];
  do out.push(decodeDtlsHandshakeFragment(r));
  while (r.remaining > 0);
  r.expectEnd('handshake fragments');
  return out;
}

/** Whether a fragment is a whole message (offset 0, fragment_length = length). */
export function isWholeMessage(f: DtlsHandshakeFragment): boolean {
  return f.fragmentOffset === 0 && f.body.length === f.length;
}

/**
 * The TLS 1.3 form of a whole (reassembled) message, `msg_type(1) length(3) body`, which is what the
 * handshake engine parses and hashes: RFC 9147 §5.2 computes the DTLS 1.3 transcript "over the original TLS
 * 1.3-style Handshake messages without the message_seq, fragment_offset, and fragment_length values" (a
 * change from DTLS 1.2, which hashed the 12-byte header). 4 + `length` bytes.
 *
 * @throws RangeError for a fragment that is not the whole message (reassemble first: API misuse).
 */
export function toTranscriptForm(f: DtlsHandshakeFragment): Uint8Array {
  if (!isWholeMessage(f)) {
    throw new RangeError(`fragment ${f.fragmentOffset}+${f.body.length} of a ${f.length} B message is not a whole message`);
  }
  const out = new Uint8Array(4 + f.length);
  out[0] = f.msgType;
  out[1] = f.length >>> 16;
  out[2] = (f.length >>> 8) & 0xff;
  out[3] = f.length & 0xff;
  out.set(f.body, 4);
  return out;
}

/**
 * Split a TLS 1.3-form message (`msg_type(1) length(3) body`, as the engine emits it) into DTLS fragments of
 * at most `maxBody` body bytes each, numbered `messageSeq` (RFC 9147 §5.2, §4.4). An empty body gives one
 * empty fragment. Each fragment's encoding is 12 + its body bytes.
 *
 * @throws RangeError for a malformed message or `maxBody` < 1 (API misuse).
 */
export function fragmentMessage(message: Uint8Array, messageSeq: number, maxBody: number): DtlsHandshakeFragment[] {
  if (!Number.isSafeInteger(maxBody) || maxBody < 1) throw new RangeError(`maxBody ${maxBody} must be a positive integer`);
  checkUint('message_seq', messageSeq, 0xffff);
  if (message.length < 4) throw new RangeError('handshake message shorter than its 4-byte header');
  const length = (message[1]! << 16) | (message[2]! << 8) | message[3]!;
  if (length !== message.length - 4) throw new RangeError(`handshake header says ${length} B, body has ${message.length - 4}`);
  const msgType = message[0]!;
  const body = message.subarray(4);
  const out: DtlsHandshakeFragment[] = [];
  let offset = 0;
  do {
    const n = Math.min(maxBody, length - offset);
    out.push({ msgType, length, messageSeq, fragmentOffset: offset, body: body.subarray(offset, offset + n) });
    offset += n;
  } while (offset < length);
  return out;
}

function checkUint(what: string, v: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new RangeError(`${what} ${v} out of range 0..${max}`);
}
