/**
 * DTLS 1.3 record protection per epoch (RFC 9147 §4): the keys of one epoch in one direction, sealing a record
 * into a DTLSCiphertext with the unified header and record-number encryption, and opening one. Pure functions
 * over immutable values: sealing returns the epoch with its next sequence number, opening returns the epoch
 * with its replay window and highest sequence number moved on.
 *
 * We always send the unified header with a 16-bit sequence number and the length present (`0b0010_11EE`), so
 * several records can share a datagram (§4.3). The AEAD nonce is the traffic IV XOR the record's 64-bit
 * sequence number (RFC 8446 §5.3; the epoch is not part of it, except for draft-43 peers: {@link recordNonceOf}),
 * the additional data the unified header with the sequence number in the clear (§4).
 */
import { type SuiteParams, recordNonce, trafficKeys } from '../crypto/keySchedule.js';
import type { Aead, AeadAlg, CryptoProvider } from '../crypto/provider.js';
import { MAX_INNER_PLAINTEXT } from '../wire/tls/constants.js';
import { type DtlsCiphertext, reconstructSequenceNumber } from '../wire/dtls/record.js';
import { protectRecordNumber, recordNumberKey, unprotectRecordNumber } from '../wire/dtls/recordNumberProtection.js';
import { type ReplayWindow, checkReplay, createReplayWindow, markReceived } from './replayWindow.js';

/** AEAD tag length of every DTLS 1.3 suite rxtls offers. */
export const TAG_LENGTH = 16;
/** Unified header we send: first byte, 16-bit sequence number, 16-bit length. */
export const CIPHERTEXT_HEADER_LENGTH = 5;
/** Bytes a protected record adds to its content: header, inner content type, tag. */
export const CIPHERTEXT_OVERHEAD = CIPHERTEXT_HEADER_LENGTH + 1 + TAG_LENGTH;
/** The largest sequence number before the epoch must change (RFC 9147 §4.2.1: no wrap; 2^48 − 1). */
export const MAX_RECORD_SEQUENCE = 2 ** 48 - 1;

/** The keys of one epoch in one direction. */
export interface EpochKeys {
  readonly epoch: number;
  readonly alg: AeadAlg;
  readonly aead: Aead;
  readonly iv: Uint8Array;
  /** The record-number key (RFC 9147 §4.2.3). */
  readonly snKey: Uint8Array;
  /** The traffic secret (kept for KeyUpdate, which derives the next one from it). */
  readonly secret: Uint8Array;
  /** draft-ietf-tls-dtls13-43: the nonce's 64-bit sequence number carries the epoch in its top 16 bits. */
  readonly epochInNonce: boolean;
}

/** A write epoch: keys and the next sequence number to use. */
export interface WriteEpoch extends EpochKeys {
  readonly seq: number;
}

/** A read epoch: keys and the anti-replay window (its `top` is the highest sequence number deprotected). */
export interface ReadEpoch extends EpochKeys {
  readonly window: ReplayWindow;
}

/**
 * Keys of `epoch` from a traffic secret, with the `"dtls13"` label prefix (RFC 9147 §5.9). `epochInNonce` for
 * draft-ietf-tls-dtls13-43 peers (see {@link recordNonceOf}).
 */
export function epochKeys(p: CryptoProvider, suite: SuiteParams, epoch: number, secret: Uint8Array, epochInNonce = false): EpochKeys {
  const { key, iv } = trafficKeys(p, suite, secret, 'dtls13');
  return { epoch, alg: suite.aead, aead: p.aead(suite.aead, key), iv, snKey: recordNumberKey(p, suite.hash, suite.aead, secret), secret, epochInNonce };
}

/**
 * The AEAD nonce of record `seq` (< 2^48) of an epoch: the IV XOR the 64-bit sequence number (RFC 8446 §5.3).
 * RFC 9147 §4 takes the record's sequence number alone; draft-ietf-tls-dtls13-43 (NSS 3.87) took
 * epoch << 48 | sequence number, as DTLS 1.2 did (the RFC changed it: tlswg/dtls13-spec PR #257).
 */
export function recordNonceOf(k: EpochKeys, seq: number): Uint8Array {
  const nonce = recordNonce(k.iv, seq);
  if (k.epochInNonce) {
    nonce[nonce.length - 8] ^= (k.epoch >>> 8) & 0xff;
    nonce[nonce.length - 7] ^= k.epoch & 0xff;
  }
  return nonce;
}

export const writeEpoch = (k: EpochKeys): WriteEpoch => ({ ...k, seq: 0 });
export const readEpoch = (k: EpochKeys, windowSize: number): ReadEpoch => ({ ...k, window: createReplayWindow(windowSize) });

/**
 * Seal one record (RFC 9147 §4): DTLSInnerPlaintext = content ‖ type, under the unified header as additional
 * data, then the record number encrypted. Returns the record's bytes, its sequence number and the epoch moved on.
 * @throws RangeError for content over 2^14 bytes or an exhausted sequence space (API misuse: rekey before).
 */
export function sealDtlsRecord(
  p: CryptoProvider,
  w: WriteEpoch,
  type: number,
  content: Uint8Array,
): { readonly bytes: Uint8Array; readonly seq: number; readonly epoch: WriteEpoch } {
  if (content.length > MAX_INNER_PLAINTEXT - 1) throw new RangeError(`record content of ${content.length} B exceeds 2^14`);
  if (w.seq > MAX_RECORD_SEQUENCE) throw new RangeError(`epoch ${w.epoch} has used every sequence number`);
  const inner = new Uint8Array(content.length + 1);
  inner.set(content);
  inner[content.length] = type;
  const length = inner.length + TAG_LENGTH;
  const seq = w.seq;
  const header = Uint8Array.of(0x2c | (w.epoch & 3), (seq >>> 8) & 0xff, seq & 0xff, length >>> 8, length & 0xff);
  const sealed = w.aead.seal(recordNonceOf(w, seq), header, inner);
  const wireHeader = protectRecordNumber(p, w.alg, w.snKey, header, sealed);
  const bytes = new Uint8Array(wireHeader.length + sealed.length);
  bytes.set(wireHeader);
  bytes.set(sealed, wireHeader.length);
  return { bytes, seq, epoch: { ...w, seq: seq + 1 } };
}

/** What opening a record gave: its content type and content, sequence number and the epoch moved on. */
export type OpenedRecord =
  | { readonly kind: 'ok'; readonly type: number; readonly content: Uint8Array; readonly seq: number; readonly epoch: ReadEpoch }
  /** Failed deprotection, a replay, an inner plaintext empty or over 2^14 + 1 bytes: drop it (RFC 9147 §4.5.2). */
  | { readonly kind: 'drop'; readonly reason: 'short' | 'replay' | 'auth' | 'noContentType' | 'overflow' };

/**
 * Open a DTLSCiphertext under `r` (RFC 9147 §4.2.2, §4.2.3, §4.5.1): decrypt the record number, reconstruct the
 * full sequence number from the highest one deprotected so far, check the replay window, open the AEAD, strip
 * the padding. The window is updated only once the record authenticated.
 */
export function openDtlsRecord(p: CryptoProvider, r: ReadEpoch, rec: DtlsCiphertext): OpenedRecord {
  const un = unprotectRecordNumber(p, r.alg, r.snKey, rec);
  if (!un) return { kind: 'drop', reason: 'short' };
  const seq = reconstructSequenceNumber(r.window.top, un.sequenceLow, un.bits);
  if (seq > MAX_RECORD_SEQUENCE || checkReplay(r.window, seq) !== 'new') return { kind: 'drop', reason: 'replay' };
  const inner = r.aead.open(recordNonceOf(r, seq), un.header, rec.encryptedRecord);
  if (!inner) return { kind: 'drop', reason: 'auth' };
  // RFC 8446 §5.4: an inner plaintext over 2^14 + 1 bytes is invalid; DTLS drops it (RFC 9147 §4.5.2).
  if (inner.length > MAX_INNER_PLAINTEXT) return { kind: 'drop', reason: 'overflow' };
  let end = inner.length - 1;
  while (end >= 0 && inner[end] === 0) end--;
  if (end < 0) return { kind: 'drop', reason: 'noContentType' };
  return { kind: 'ok', type: inner[end]!, content: inner.subarray(0, end), seq, epoch: { ...r, window: markReceived(r.window, seq) } };
}
