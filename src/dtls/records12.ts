/**
 * DTLS 1.2 record protection (RFC 6347 §4.1, §4.1.2.1 with RFC 5246 §6.2.3.3): every record keeps the 13-byte
 * DTLSPlaintext header (type ‖ version 0xfefd ‖ epoch (2 B) ‖ sequence_number (6 B) ‖ length), and the 64-bit
 * seq_num of the TLS AEAD construction is epoch ‖ sequence_number.
 *
 * | suite | nonce (12 B) | on the wire after the header |
 * |---|---|---|
 * | AES-GCM (RFC 5288 §3) | salt (4 B) ‖ epoch ‖ sequence_number | explicit nonce (8 B) ‖ ciphertext ‖ tag |
 * | ChaCha20-Poly1305 (RFC 7905 §2) | iv (12 B) XOR (0 ‖ epoch ‖ sequence_number) | ciphertext ‖ tag |
 *
 * Additional data (RFC 5246 §6.2.3.3): epoch ‖ sequence_number (8 B) ‖ type ‖ version ‖ plaintext length (2 B).
 * One anti-replay window per read epoch (RFC 6347 §4.1.2.6), updated only once a record authenticated.
 */
import type { Tls12SuiteParams } from '../crypto/prf.js';
import type { Aead, CryptoProvider } from '../crypto/provider.js';
import { DTLS_LEGACY_RECORD_VERSION, MAX_PLAINTEXT_LENGTH, PLAINTEXT_HEADER_LENGTH, type DtlsPlaintext } from '../wire/dtls/record.js';
import { type ReplayWindow, checkReplay, createReplayWindow, markReceived } from './replayWindow.js';

/** Bytes of AEAD tag. */
const TAG_LENGTH = 16;
/** The most a protected DTLS 1.2 record adds to its content: header (13), explicit nonce (8), tag (16) = 37 B. */
export const RECORD12_OVERHEAD = PLAINTEXT_HEADER_LENGTH + 8 + TAG_LENGTH;
/** The largest sequence number of an epoch (48 bits; RFC 6347 §4.1: no wrap). */
const MAX_SEQ = 2 ** 48 - 1;

/** The keys of one DTLS 1.2 epoch in one direction, from the key block (the engine's `tls12KeyChange`). */
export interface Keys12 {
  readonly epoch: number;
  readonly aead: Aead;
  /** 4 B salt (GCM) or 12 B IV (ChaCha20-Poly1305). */
  readonly iv: Uint8Array;
  readonly explicitNonceLength: 0 | 8;
}
export interface Write12 extends Keys12 {
  readonly seq: number;
}
export interface Read12 extends Keys12 {
  readonly window: ReplayWindow;
}

/** Keys for `epoch` from the key block's `key` and `iv` under `suite`. */
export function keys12(p: CryptoProvider, suite: Tls12SuiteParams, epoch: number, key: Uint8Array, iv: Uint8Array): Keys12 {
  return { epoch, aead: p.aead(suite.aead, key), iv: iv.slice(), explicitNonceLength: suite.explicitNonceLength };
}
export const write12 = (k: Keys12): Write12 => ({ ...k, seq: 0 });
export const read12 = (k: Keys12, windowSize: number): Read12 => ({ ...k, window: createReplayWindow(windowSize) });

/** epoch ‖ sequence_number, 8 B big-endian. */
function seqNum(epoch: number, seq: number): Uint8Array {
  const b = new Uint8Array(8);
  b[0] = epoch >>> 8;
  b[1] = epoch & 0xff;
  const hi = Math.floor(seq / 2 ** 32);
  b[2] = hi >>> 8;
  b[3] = hi & 0xff;
  new DataView(b.buffer).setUint32(4, seq >>> 0);
  return b;
}

function nonce(k: Keys12, sn: Uint8Array, explicit?: Uint8Array): Uint8Array {
  if (k.explicitNonceLength === 8) {
    const n = new Uint8Array(12);
    n.set(k.iv.subarray(0, 4));
    n.set(explicit ?? sn, 4);
    return n;
  }
  const n = k.iv.slice();
  for (let i = 0; i < 8; i++) n[4 + i]! ^= sn[i]!;
  return n;
}

/**
 * The additional data (RFC 5246 §6.2.3.3, RFC 6347 §4.1.2.1): sequence number (epoch ‖ seq), type, the record's
 * version field as on the wire, and the plaintext length. A record whose header version was altered fails.
 */
function aad(sn: Uint8Array, type: number, length: number, version = DTLS_LEGACY_RECORD_VERSION): Uint8Array {
  const a = new Uint8Array(13);
  a.set(sn);
  a[8] = type;
  a[9] = version >>> 8;
  a[10] = version & 0xff;
  a[11] = length >>> 8;
  a[12] = length & 0xff;
  return a;
}

/**
 * Seal one record under `w`: the whole record's bytes, its sequence number and the epoch moved on.
 * @throws RangeError for content over 2^14 bytes or an exhausted sequence space.
 */
export function seal12(w: Write12, type: number, content: Uint8Array): { readonly bytes: Uint8Array; readonly seq: number; readonly epoch: Write12 } {
  if (content.length > MAX_PLAINTEXT_LENGTH) throw new RangeError(`record content of ${content.length} B exceeds 2^14`);
  if (w.seq > MAX_SEQ) throw new RangeError(`epoch ${w.epoch} has used every sequence number`);
  const sn = seqNum(w.epoch, w.seq);
  const sealed = w.aead.seal(nonce(w, sn), aad(sn, type, content.length), content);
  const ex = w.explicitNonceLength;
  const length = ex + sealed.length;
  const bytes = new Uint8Array(PLAINTEXT_HEADER_LENGTH + length);
  bytes[0] = type;
  bytes[1] = DTLS_LEGACY_RECORD_VERSION >>> 8;
  bytes[2] = DTLS_LEGACY_RECORD_VERSION & 0xff;
  bytes.set(sn, 3);
  bytes[11] = length >>> 8;
  bytes[12] = length & 0xff;
  // RFC 5288 §3: the explicit nonce must not repeat under a key; epoch ‖ sequence_number never does.
  if (ex === 8) bytes.set(sn, PLAINTEXT_HEADER_LENGTH);
  bytes.set(sealed, PLAINTEXT_HEADER_LENGTH + ex);
  return { bytes, seq: w.seq, epoch: { ...w, seq: w.seq + 1 } };
}

/** What opening a record gave. */
export type Opened12 =
  | { readonly kind: 'ok'; readonly content: Uint8Array; readonly epoch: Read12 }
  /** A replay, a short or overlong record, or one that does not authenticate: drop it (RFC 6347 §4.1.2.1, §4.1.2.7). */
  | { readonly kind: 'drop'; readonly reason: 'short' | 'overflow' | 'replay' | 'auth' };

/**
 * Open a record of `r`'s epoch (its header decoded as a DTLSPlaintext, up to 2^14 + 2048 bytes); content over
 * 2^14 bytes is dropped like a forgery (RFC 5246 §6.2.3, RFC 6347 §4.1.2.7).
 */
export function open12(r: Read12, rec: DtlsPlaintext & { readonly version?: number }): Opened12 {
  const ex = r.explicitNonceLength;
  const body = rec.fragment;
  if (body.length < ex + TAG_LENGTH) return { kind: 'drop', reason: 'short' };
  if (checkReplay(r.window, rec.sequenceNumber) !== 'new') return { kind: 'drop', reason: 'replay' };
  const sn = seqNum(rec.epoch, rec.sequenceNumber);
  const explicit = ex === 8 ? body.subarray(0, 8) : undefined;
  const ct = body.subarray(ex);
  if (ct.length - TAG_LENGTH > MAX_PLAINTEXT_LENGTH) return { kind: 'drop', reason: 'overflow' };
  const content = r.aead.open(nonce(r, sn, explicit), aad(sn, rec.type, ct.length - TAG_LENGTH, rec.version), ct);
  if (!content) return { kind: 'drop', reason: 'auth' };
  return { kind: 'ok', content, epoch: { ...r, window: markReceived(r.window, rec.sequenceNumber) } };
}
