/**
 * Record protection (RFC 8446 §5; RFC 5246 §6.2.3.3 with RFC 5288 and RFC 7905 for TLS 1.2): framing,
 * TLSInnerPlaintext, per-record nonces and AEAD. Pure functions over immutable {@link RecordKey}s: sealing
 * returns the next key (sequence + 1).
 *
 * | | TLS 1.3 | TLS 1.2 AES-GCM | TLS 1.2 ChaCha20-Poly1305 |
 * |---|---|---|---|
 * | nonce | iv ⊕ seq | salt (4 B) ‖ explicit (8 B, sent: we send seq) | iv ⊕ seq |
 * | AAD | the 5-byte header | seq (8) ‖ type ‖ version ‖ plaintext length (13 B) | the same 13 B |
 * | plaintext | content ‖ type ‖ zeros | content (type in the header) | content |
 */
import type { Aead, CryptoProvider } from '../crypto/provider.js';
import { type SuiteParams, recordNonce, trafficKeys } from '../crypto/keySchedule.js';
import type { Tls12SuiteParams } from '../crypto/prf.js';
import { ContentType, MAX_CIPHERTEXT, MAX_INNER_PLAINTEXT, MAX_PLAINTEXT } from '../wire/tls/constants.js';
import { ByteCarver } from '../wire/bytes.js';

/** Size of a record header: type (1), legacy_record_version (2), length (2). */
export const RECORD_HEADER = 5;
/** AEAD tag size for every TLS 1.3 suite. */
export const TAG_LENGTH = 16;

/** One direction's traffic protection: AEAD bound to the key, the static IV, and the next sequence number. */
export interface RecordKey {
  readonly aead: Aead;
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
  readonly seq: number;
  /** The traffic secret this key was derived from (for KeyUpdate). */
  readonly secret: Uint8Array;
  /** Records protected so far with this key (AEAD usage limits, RFC 8446 §5.5). */
  readonly used: number;
  /**
   * Set for TLS 1.2 protection (RFC 5246 §6.2.3.3): no inner content type, the 13-byte AAD, and `iv` the fixed
   * IV of the key block: with an explicit nonce of 8 B (AES-GCM, RFC 5288 §3: `iv` is the 4 B salt) or none
   * (ChaCha20-Poly1305, RFC 7905 §2: `iv` is 12 B, XORed with the sequence number).
   */
  readonly tls12?: { readonly explicitNonceLength: 0 | 8 };
}

/**
 * `key` after `n` more records: the next sequence number and the usage count. Written out field by field (every
 * key has the same fields, `tls12` included): V8 builds one shape, where a spread copy of keys made in different
 * places went through its slow generic path, once per record.
 */
export function advanceKey(key: RecordKey, n = 1): RecordKey {
  return { aead: key.aead, key: key.key, iv: key.iv, seq: key.seq + n, secret: key.secret, used: key.used + n, tls12: key.tls12 };
}

/** Derive a record key from a traffic secret (RFC 8446 §7.3). */
export function recordKey(p: CryptoProvider, suite: SuiteParams, secret: Uint8Array): RecordKey {
  const { key, iv } = trafficKeys(p, suite, secret);
  return { aead: p.aead(suite.aead, key), key, iv, seq: 0, secret, used: 0, tls12: undefined };
}

/** A TLS 1.2 record key from the key block (RFC 5246 §6.3): the AEAD key and the fixed IV (4 or 12 B). */
export function recordKey12(p: CryptoProvider, suite: Tls12SuiteParams, key: Uint8Array, iv: Uint8Array): RecordKey {
  if (iv.length !== suite.fixedIvLength) throw new RangeError(`TLS 1.2 ${suite.aead} fixed IV must be ${suite.fixedIvLength} bytes`);
  return { aead: p.aead(suite.aead, key), key, iv, seq: 0, secret: new Uint8Array(0), used: 0, tls12: { explicitNonceLength: suite.explicitNonceLength } };
}

/** The 8-byte big-endian sequence number (RFC 5246 §6.2.3.3 seq_num; sent as the GCM explicit nonce). */
function seqBytes(seq: number): Uint8Array {
  const out = new Uint8Array(8);
  const hi = Math.floor(seq / 0x1_0000_0000);
  const lo = seq >>> 0;
  out[0] = hi >>> 24;
  out[1] = (hi >>> 16) & 0xff;
  out[2] = (hi >>> 8) & 0xff;
  out[3] = hi & 0xff;
  out[4] = lo >>> 24;
  out[5] = (lo >>> 16) & 0xff;
  out[6] = (lo >>> 8) & 0xff;
  out[7] = lo & 0xff;
  return out;
}

/** The TLS 1.2 AEAD additional data (RFC 5246 §6.2.3.3): seq_num ‖ type ‖ version ‖ length, 13 B. */
export function aad12(seq: number, type: number, version: number, length: number): Uint8Array {
  const out = new Uint8Array(13);
  out.set(seqBytes(seq), 0);
  out[8] = type;
  out[9] = version >> 8;
  out[10] = version & 0xff;
  out[11] = length >> 8;
  out[12] = length & 0xff;
  return out;
}

/** The TLS 1.2 nonce of record `seq` and the explicit part sent with it (RFC 5288 §3, RFC 7905 §2). */
function nonce12(key: RecordKey, seq: number, explicit?: Uint8Array): { readonly nonce: Uint8Array; readonly explicit?: Uint8Array } {
  if (key.tls12!.explicitNonceLength === 0) return { nonce: recordNonce(key.iv, seq) };
  // RFC 5288 §3: the explicit part must never repeat under a key; the sequence number never does.
  const ex = explicit ?? seqBytes(seq);
  const nonce = new Uint8Array(12);
  nonce.set(key.iv, 0);
  nonce.set(ex, 4);
  return { nonce, explicit: ex };
}

/** A record as framed on the wire (RFC 8446 §5.1). `fragment` is a view into the receive buffer. */
export interface RawRecord {
  readonly type: number;
  readonly version: number;
  readonly fragment: Uint8Array;
}

/** Result of trying to frame one record from a buffer. */
export type FrameResult =
  | { readonly kind: 'record'; readonly record: RawRecord; readonly consumed: number }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'overflow'; readonly length: number }
  | { readonly kind: 'badHeader'; readonly reason: string };

/**
 * Frame the next record at `offset` of `buf`. Rejects a length above 2^14 + 256 (record_overflow, RFC 8446
 * §5.2) as soon as the header is seen, so a hostile length never makes us buffer more than one record.
 */
export function frameRecord(buf: Uint8Array, offset: number): FrameResult {
  if (buf.length - offset < RECORD_HEADER) return { kind: 'incomplete' };
  const type = buf[offset]!;
  const version = (buf[offset + 1]! << 8) | buf[offset + 2]!;
  const length = (buf[offset + 3]! << 8) | buf[offset + 4]!;
  if (!isRecordType(type)) return { kind: 'badHeader', reason: notTls(buf, offset) ?? `unknown record content type ${type}` };
  if (version >> 8 !== 0x03) return { kind: 'badHeader', reason: `bad record version 0x${version.toString(16)}` };
  if (length > MAX_CIPHERTEXT) return { kind: 'overflow', length };
  if (buf.length - offset < RECORD_HEADER + length) return { kind: 'incomplete' };
  return {
    kind: 'record',
    record: { type, version, fragment: buf.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length) },
    consumed: RECORD_HEADER + length,
  };
}

/** The content types a TLS record may carry (RFC 8446 §5.1, RFC 5246 §6.2.1). */
function isRecordType(type: number): boolean {
  return type === ContentType.application_data || type === ContentType.handshake || type === ContentType.alert || type === ContentType.change_cipher_spec;
}

/**
 * The size of the whole record at `offset` (header and fragment) when it has all arrived and its header is
 * valid; 0 while it is incomplete; -1 when the header is not valid ({@link frameRecord} says why). The test the
 * receive path makes per record, with nothing allocated; it agrees with {@link frameRecord} on every input.
 */
export function completeRecordAt(buf: Uint8Array, offset: number): number {
  if (buf.length - offset < RECORD_HEADER) return 0;
  const type = buf[offset]!;
  const length = (buf[offset + 3]! << 8) | buf[offset + 4]!;
  if (!isRecordType(type) || buf[offset + 1] !== 0x03 || length > MAX_CIPHERTEXT) return -1;
  return buf.length - offset < RECORD_HEADER + length ? 0 : RECORD_HEADER + length;
}

/**
 * The reason for bytes that are not a TLS record but text (an HTTP answer, an SMTP or SSH banner): the peer
 * does not speak TLS, quoted up to 40 characters (`the peer does not speak TLS: it sent 'HTTP/1.0 400 Bad…'`),
 * or undefined when they are not printable text.
 */
export function notTls(buf: Uint8Array, offset: number): string | undefined {
  const head = buf.subarray(offset, offset + 41);
  let text = '';
  for (const b of head) {
    if (b === 0x0d || b === 0x0a) break;
    if (b < 0x20 || b > 0x7e) return undefined;
    text += String.fromCharCode(b);
  }
  if (text.length < 4) return undefined;
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return `the peer does not speak TLS: it sent '${shown}'`;
}

/** Write a plaintext record (handshake before keys, alerts before keys, change_cipher_spec). */
export function plainRecord(type: number, fragment: Uint8Array, version = 0x0303): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER + fragment.length);
  out[0] = type;
  out[1] = version >> 8;
  out[2] = version & 0xff;
  out[3] = fragment.length >> 8;
  out[4] = fragment.length & 0xff;
  out.set(fragment, RECORD_HEADER);
  return out;
}

/**
 * A record whose sequence number (and so nonce) is fixed but whose bytes are written only when the step's output
 * is assembled ({@link assembleFlight}): every record of a flight is then sealed straight into one buffer.
 * TLSInnerPlaintext = content ‖ trailer, the trailer being the real content type and zero padding (RFC 8446 §5.2).
 */
export interface SealJob {
  readonly aead: Aead;
  readonly nonce: Uint8Array;
  readonly header: Uint8Array;
  readonly content: Uint8Array;
  readonly trailer: Uint8Array;
  /** TLS 1.2: the additional data (else the header). */
  readonly aad?: Uint8Array;
  /** TLS 1.2 AES-GCM: the explicit nonce, written between the header and the ciphertext. */
  readonly explicit?: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Wire bytes of a step: finished bytes, or records still to seal. */
export type OutPart = Uint8Array | SealJob;

// The one-byte trailers of unpadded records, one per content type, shared (never written to).
const TRAILERS = new Map<number, Uint8Array>();
function trailer(type: number, padding: number): Uint8Array {
  if (padding > 0) {
    const t = new Uint8Array(1 + padding);
    t[0] = type;
    return t;
  }
  let t = TRAILERS.get(type);
  if (!t) TRAILERS.set(type, (t = Uint8Array.of(type)));
  return t;
}

/** Take the next sequence number of `key` for one record of `type`; returns the job and the advanced key. */
export function prepareSeal(
  key: RecordKey,
  type: number,
  content: Uint8Array,
  padding = 0,
): { readonly job: SealJob; readonly key: RecordKey } {
  if (key.tls12) return prepareSeal12(key, type, content);
  return { job: sealJob13(key, key.seq, type, content, padding), key: advanceKey(key) };
}

/** The TLS 1.3 record `seq` of `key`: TLSInnerPlaintext = content ‖ type ‖ zeros(padding), the header as AAD. */
function sealJob13(key: RecordKey, seq: number, type: number, content: Uint8Array, padding: number): SealJob {
  const header = recordHeader(content.length + 1 + padding + TAG_LENGTH);
  return { aead: key.aead, nonce: recordNonce(key.iv, seq), header, content, trailer: trailer(type, padding) };
}

/**
 * {@link prepareSeal} for a whole write: `data` cut into records of at most `max` bytes of `type`, their jobs
 * appended to `out`, and the key advanced once for all of them (one key copy per write, not per record).
 */
export function prepareSealRun(key: RecordKey, type: number, data: Uint8Array, max: number, out: OutPart[]): RecordKey {
  if (key.tls12) {
    for (let o = 0; o < data.length; o += max) {
      const r = prepareSeal(key, type, data.subarray(o, Math.min(data.length, o + max)));
      out.push(r.job);
      key = r.key;
    }
    return key;
  }
  let seq = key.seq;
  for (let o = 0; o < data.length; o += max) out.push(sealJob13(key, seq++, type, data.subarray(o, Math.min(data.length, o + max)), 0));
  const n = seq - key.seq;
  return n ? advanceKey(key, n) : key;
}

/** A TLS 1.2 record (RFC 5246 §6.2.3.3): the content sealed as it is, its type and version in the AAD. */
function prepareSeal12(key: RecordKey, type: number, content: Uint8Array): { readonly job: SealJob; readonly key: RecordKey } {
  const { nonce, explicit } = nonce12(key, key.seq);
  const header = Uint8Array.of(type, 0x03, 0x03, 0, 0);
  const length = (explicit?.length ?? 0) + content.length + TAG_LENGTH;
  header[3] = length >> 8;
  header[4] = length & 0xff;
  const aad = aad12(key.seq, type, 0x0303, content.length);
  const job = { aead: key.aead, nonce, header, content, trailer: EMPTY, aad, ...(explicit ? { explicit } : {}) };
  return { job, key: advanceKey(key) };
}

function partLength(p: OutPart): number {
  return p instanceof Uint8Array ? p.length : RECORD_HEADER + (p.explicit?.length ?? 0) + p.content.length + p.trailer.length + TAG_LENGTH;
}

/** What precedes a job's ciphertext on the wire: the header, and a TLS 1.2 explicit nonce. */
export function sealPrefix(job: SealJob): Uint8Array {
  if (!job.explicit) return job.header;
  const out = new Uint8Array(RECORD_HEADER + job.explicit.length);
  out.set(job.header, 0);
  out.set(job.explicit, RECORD_HEADER);
  return out;
}

/** Seal one record into `out` at `offset` (header, [explicit nonce], then ciphertext and tag). */
function sealJobInto(job: SealJob, out: Uint8Array, offset: number): void {
  out.set(job.header, offset);
  let at = offset + RECORD_HEADER;
  if (job.explicit) {
    out.set(job.explicit, at);
    at += job.explicit.length;
  }
  const aad = job.aad ?? job.header;
  if (job.aead.sealInto) job.aead.sealInto(job.nonce, aad, job.content, job.trailer, out, at);
  else out.set(job.aead.seal(job.nonce, aad, innerPlaintext(job)), at);
}

/** A job's TLSInnerPlaintext as one contiguous array (content ‖ trailer), for AEADs that seal whole inputs. */
export function innerPlaintext(job: SealJob): Uint8Array {
  const inner = new Uint8Array(job.content.length + job.trailer.length);
  inner.set(job.content, 0);
  inner.set(job.trailer, job.content.length);
  return inner;
}

/**
 * The TLSInnerPlaintexts of a batch of records, as views into one buffer (one allocation per batch instead of
 * one per record); each starts 4-byte aligned, as noble's AEADs prefer.
 */
export function innerPlaintexts(jobs: readonly SealJob[]): Uint8Array[] {
  let size = 0;
  for (const j of jobs) size += (j.content.length + j.trailer.length + 3) & ~3;
  const buf = new Uint8Array(size);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const j of jobs) {
    const n = j.content.length + j.trailer.length;
    buf.set(j.content, at);
    buf.set(j.trailer, at + j.content.length);
    out.push(buf.subarray(at, at + n));
    at += (n + 3) & ~3;
  }
  return out;
}

/** Join a step's output into one buffer, sealing pending records in place (one allocation per flight). */
export function assembleFlight(parts: readonly OutPart[]): Uint8Array {
  if (parts.length === 1 && parts[0] instanceof Uint8Array) return parts[0];
  let n = 0;
  for (const p of parts) n += partLength(p);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    if (p instanceof Uint8Array) out.set(p, o);
    else sealJobInto(p, out, o);
    o += partLength(p);
  }
  return out;
}

/** Where {@link flightParts} takes its glue buffers from (22 B a record: one 4 KiB chunk serves many steps). */
const GLUE = new ByteCarver(4096);

/**
 * A step's output as the parts a list-writing transport (`writev`) takes, sealing pending records: where the
 * AEAD seals to parts (`sealParts`, node:crypto), each record's ciphertext stays the buffer the cipher produced
 * and only the bytes around it — the header (and TLS 1.2 explicit nonce) before, the trailer's ciphertext and
 * the tag after, 22 B a record in TLS 1.3 — are written into one small buffer per step (the tag of one record
 * and the header of the next are one part). Nothing else is copied: ≈ 2 parts per record. An AEAD without
 * `sealParts` (noble, which seals into its output directly) gets the one buffer of {@link assembleFlight}.
 */
export function flightParts(parts: readonly OutPart[]): Uint8Array[] {
  let glueSize = 0;
  for (const p of parts) {
    if (p instanceof Uint8Array) continue;
    if (!p.aead.sealParts) return [assembleFlight(parts)];
    glueSize += RECORD_HEADER + (p.explicit?.length ?? 0) + p.trailer.length + TAG_LENGTH;
  }
  if (glueSize === 0) return parts as Uint8Array[];
  const glue = GLUE.take(glueSize);
  const out: Uint8Array[] = [];
  // Glue bytes written since the last part handed out: [from, at).
  let from = 0;
  let at = 0;
  for (const p of parts) {
    if (p instanceof Uint8Array) {
      if (at > from) out.push(glue.subarray(from, at));
      from = at;
      out.push(p);
      continue;
    }
    glue.set(p.header, at);
    at += RECORD_HEADER;
    if (p.explicit) {
      glue.set(p.explicit, at);
      at += p.explicit.length;
    }
    const body = p.aead.sealParts!(p.nonce, p.aad ?? p.header, p.content, p.trailer, glue, at);
    if (body.length) {
      out.push(glue.subarray(from, at), body);
      from = at;
    }
    at += p.trailer.length + TAG_LENGTH;
  }
  if (at > from) out.push(glue.subarray(from, at));
  return out;
}

/**
 * Seal one record: TLSInnerPlaintext = content ‖ type ‖ zeros(padding), encrypted under the record key with
 * the record header as additional data (RFC 8446 §5.2). Returns the wire bytes and the advanced key.
 */
export function sealRecord(
  key: RecordKey,
  type: number,
  content: Uint8Array,
  padding = 0,
): { readonly bytes: Uint8Array; readonly key: RecordKey } {
  const r = prepareSeal(key, type, content, padding);
  return { bytes: assembleFlight([r.job]), key: r.key };
}

/** The 5-byte header of a protected record: opaque type application_data, legacy version TLS 1.2. */
export function recordHeader(length: number): Uint8Array {
  return Uint8Array.of(ContentType.application_data, 0x03, 0x03, length >> 8, length & 0xff);
}

/** Result of opening a protected record. */
export type OpenResult =
  | { readonly kind: 'ok'; readonly type: number; readonly content: Uint8Array; readonly key: RecordKey }
  | { readonly kind: 'badMac' }
  | { readonly kind: 'overflow' }
  | { readonly kind: 'noContentType' };

/**
 * The AEAD inputs of a TLS 1.2 record opened as record `seq` of `key` (RFC 5246 §6.2.3.3): nonce (the explicit
 * part read from the fragment for AES-GCM), AAD and ciphertext; `undefined` when the fragment is too short to
 * hold the explicit nonce and the tag (it cannot authenticate).
 */
export function openJob12(key: RecordKey, seq: number, header: Uint8Array, fragment: Uint8Array): { readonly nonce: Uint8Array; readonly aad: Uint8Array; readonly data: Uint8Array } | undefined {
  const ex = key.tls12!.explicitNonceLength;
  if (fragment.length < ex + TAG_LENGTH) return undefined;
  const data = fragment.subarray(ex);
  const { nonce } = nonce12(key, seq, ex ? fragment.subarray(0, ex) : undefined);
  const aad = aad12(seq, header[0]!, (header[1]! << 8) | header[2]!, data.length - TAG_LENGTH);
  return { nonce, aad, data };
}

/**
 * Open one TLS 1.2 protected record (RFC 5246 §6.2.3.3): its type is the header's. A plaintext over 2^14 bytes
 * is record_overflow (§6.2.1), decided from the length before any decryption.
 */
export function openRecord12(key: RecordKey, header: Uint8Array, fragment: Uint8Array): OpenResult {
  const job = openJob12(key, key.seq, header, fragment);
  if (!job) return { kind: 'badMac' };
  if (job.data.length - TAG_LENGTH > MAX_PLAINTEXT) return { kind: 'overflow' };
  const content = key.aead.open(job.nonce, job.aad, job.data);
  if (!content) return { kind: 'badMac' };
  return { kind: 'ok', type: header[0]!, content, key: advanceKey(key) };
}

/**
 * Open one protected record (RFC 8446 §5.2): decrypt with the header as AAD, strip zero padding, recover the
 * inner content type. An inner plaintext above 2^14 + 1 bytes is record_overflow; all-zero is unexpected_message.
 */
export function openRecord(key: RecordKey, header: Uint8Array, fragment: Uint8Array): OpenResult {
  // A tag alone can authenticate an empty inner plaintext: that is unexpected_message (below), not a bad MAC.
  if (fragment.length < TAG_LENGTH) return { kind: 'badMac' };
  const inner = key.aead.open(recordNonce(key.iv, key.seq), header, fragment);
  if (!inner) return { kind: 'badMac' };
  if (inner.length > MAX_INNER_PLAINTEXT) return { kind: 'overflow' };
  let end = inner.length - 1;
  while (end >= 0 && inner[end] === 0) end--;
  if (end < 0) return { kind: 'noContentType' };
  return {
    kind: 'ok',
    type: inner[end]!,
    content: inner.subarray(0, end),
    key: advanceKey(key),
  };
}
