/**
 * DTLS 1.3 record number encryption (RFC 9147 §4.2.3). The mask is the one QUIC header protection computes
 * (RFC 9001 §5.4.3/§5.4.4): AES-ECB(sn_key, ciphertext[0..16]) or ChaCha20 with counter ciphertext[0..4] and
 * nonce ciphertext[4..16]; so this reuses {@link CryptoProvider.headerProtection} and XORs the first 1 or 2
 * mask bytes into the sequence number. Pure functions: keys are passed in, inputs are never modified.
 */
import { hkdfExpandLabel } from '../../crypto/keySchedule.js';
import { AEAD_KEY_LENGTH, type AeadAlg, type CryptoProvider, type HashAlg } from '../../crypto/provider.js';
import type { DtlsCiphertext } from './record.js';

/** The mask is computed over the first 16 bytes of the encrypted record (RFC 9147 §4.2.3). */
export const RECORD_NUMBER_SAMPLE_LENGTH = 16;

/**
 * The sender's record-number key of an epoch (RFC 9147 §4.2.3):
 * `HKDF-Expand-Label(traffic_secret, "sn", "", key_length)` with the `"dtls13"` label prefix (§5.9);
 * 16 bytes for AES-128-GCM, 32 for AES-256-GCM and ChaCha20-Poly1305.
 *
 * @example const snKey = recordNumberKey(provider, 'sha256', 'aes-128-gcm', clientHandshakeTrafficSecret);
 */
export function recordNumberKey(p: CryptoProvider, hash: HashAlg, alg: AeadAlg, trafficSecret: Uint8Array): Uint8Array {
  return hkdfExpandLabel(p, hash, trafficSecret, 'sn', new Uint8Array(0), AEAD_KEY_LENGTH[alg], 'dtls13');
}

function sequenceLength(header: Uint8Array): 1 | 2 {
  const first = header[0];
  if (first === undefined || (first & 0xe0) !== 0x20) throw new RangeError('not a unified header (001CSLEE)');
  if ((first & 0x10) !== 0) throw new RangeError('unified headers with a connection ID are not supported');
  const n = (first & 0x08) !== 0 ? 2 : 1;
  if (header.length < 1 + n) throw new RangeError(`unified header of ${header.length} B too short for its ${n}-byte sequence number`);
  return n;
}

function masked(p: CryptoProvider, alg: AeadAlg, snKey: Uint8Array, header: Uint8Array, encryptedRecord: Uint8Array): Uint8Array {
  if (!p.headerProtection) throw new TypeError(`crypto provider ${p.name} offers no header protection (headerProtection), which DTLS 1.3 needs`);
  const n = sequenceLength(header);
  const mask = p.headerProtection(alg, snKey, encryptedRecord.subarray(0, RECORD_NUMBER_SAMPLE_LENGTH));
  const out = header.slice();
  for (let i = 0; i < n; i++) out[1 + i] = out[1 + i]! ^ mask[i]!;
  return out;
}

/**
 * Encrypt the record number of a sealed record (RFC 9147 §4.2.3): `header` is the unified header used as AEAD
 * additional data (plain sequence bytes), `encryptedRecord` the AEAD output; returns a copy of the header with
 * its 1 or 2 sequence-number bytes encrypted, ready to send before `encryptedRecord`.
 *
 * @throws RangeError for an encrypted record under 16 bytes (senders MUST pad, §4.2.3) or a header that is
 *   not a unified header without connection ID (API misuse).
 */
export function protectRecordNumber(
  p: CryptoProvider,
  alg: AeadAlg,
  snKey: Uint8Array,
  header: Uint8Array,
  encryptedRecord: Uint8Array,
): Uint8Array {
  if (encryptedRecord.length < RECORD_NUMBER_SAMPLE_LENGTH) {
    throw new RangeError(`encrypted record of ${encryptedRecord.length} B: record number encryption needs ${RECORD_NUMBER_SAMPLE_LENGTH} (pad the plaintext)`);
  }
  return masked(p, alg, snKey, header, encryptedRecord);
}

/** A received record's header with the record number decrypted. */
export interface UnprotectedRecordNumber {
  /** A copy of the header with the sequence bytes in the clear: the AEAD additional data (RFC 9147 §4). */
  readonly header: Uint8Array;
  /** The low 8 or 16 bits of the sequence number; see `reconstructSequenceNumber`. */
  readonly sequenceLow: number;
  readonly bits: 8 | 16;
}

/**
 * Decrypt the record number of a decoded record (RFC 9147 §4.2.3). `null` when the encrypted record is under 16
 * bytes: receivers "MUST reject shorter records as if they had failed deprotection" (drop, §4.5.2).
 */
export function unprotectRecordNumber(
  p: CryptoProvider,
  alg: AeadAlg,
  snKey: Uint8Array,
  rec: DtlsCiphertext,
): UnprotectedRecordNumber | null {
  if (rec.encryptedRecord.length < RECORD_NUMBER_SAMPLE_LENGTH) return null;
  const header = masked(p, alg, snKey, rec.header, rec.encryptedRecord);
  const sequenceLow = rec.sequenceNumberLength === 2 ? (header[1]! << 8) | header[2]! : header[1]!;
  return { header, sequenceLow, bits: rec.sequenceNumberLength === 2 ? 16 : 8 };
}
