/**
 * Keying material exporters (RFC 8446 §7.5, RFC 5705 for the interface): secrets bound to one connection, for
 * protocols above TLS (channel bindings, DTLS-SRTP keys, token binding). Pure: the state is not changed.
 */
import { TlsError } from '../core/errors.js';
import { deriveSecret, hkdfExpandLabel } from '../crypto/keySchedule.js';
import type { HandshakeState } from './engine.js';

const EMPTY = new Uint8Array(0);

/**
 * TLS-Exporter(label, context_value, key_length) = HKDF-Expand-Label(Derive-Secret(exporter_master_secret,
 * label, ""), "exporter", Hash(context_value), key_length) (RFC 8446 §7.5), with the variant's label prefix
 * (`"tls13 "`, `"dtls13"` for DTLS 1.3). An absent context is the empty one (TLS 1.3 makes no difference, as
 * OpenSSL's `SSL_export_keying_material` without `use_context`).
 *
 * @param label - ASCII, 1..249 bytes (the full HKDF label is at most 255 bytes).
 * @param context - any length (only its hash is used); `undefined` for none.
 * @param length - output bytes, 0..255 × the hash length (8160 for SHA-256, 12240 for SHA-384).
 * @throws TlsError `apiMisuse` before the handshake completed, or for a label or length out of range.
 *
 * @example
 * ```ts
 * const binding = exportKeyingMaterial(hs, 'EXPORTER-Channel-Binding', undefined, 32); // RFC 9266 tls-exporter
 * ```
 */
export function exportKeyingMaterial(state: HandshakeState, label: string, context: Uint8Array | undefined, length: number): Uint8Array {
  const misuse = (reason: string) => new TlsError({ kind: 'apiMisuse', reason: `exportKeyingMaterial(): ${reason}` });
  const secret = state.secrets.exporter;
  const suite = state.suite;
  if (state.phase.name !== 'connected' || !secret || !suite) throw misuse('the handshake has not completed');
  if (typeof label !== 'string' || label.length === 0 || label.length > 249 || !/^[\x20-\x7e]*$/.test(label)) {
    throw misuse('label must be 1..249 printable ASCII characters');
  }
  const p = state.config.provider;
  const hashLength = p.hashLength(suite.hash);
  if (!Number.isInteger(length) || length < 0 || length > 255 * hashLength) throw misuse(`length must be 0..${255 * hashLength} bytes, got ${length}`);
  const prefix = state.config.labelPrefix;
  const derived = deriveSecret(p, suite.hash, secret, label, p.hash(suite.hash, EMPTY), prefix);
  return hkdfExpandLabel(p, suite.hash, derived, 'exporter', p.hash(suite.hash, context ?? EMPTY), length, prefix);
}
