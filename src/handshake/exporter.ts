/**
 * Keying material exporters (RFC 8446 §7.5 for TLS 1.3 and DTLS 1.3, RFC 5705 for TLS 1.2 and DTLS 1.2):
 * secrets bound to one connection, for protocols above TLS (channel bindings, DTLS-SRTP keys, token binding).
 * Pure: the state is not changed.
 */
import { TlsError } from '../core/errors.js';
import { bytesArg } from '../core/validate.js';
import { deriveSecret, hkdfExpandLabel } from '../crypto/keySchedule.js';
import { prf } from '../crypto/prf.js';
import { concatBytes } from '../wire/bytes.js';
import type { HandshakeState } from './engine.js';

const EMPTY = new Uint8Array(0);

/**
 * TLS-Exporter(label, context_value, key_length) = HKDF-Expand-Label(Derive-Secret(exporter_master_secret,
 * label, ""), "exporter", Hash(context_value), key_length) (RFC 8446 §7.5), with the variant's label prefix
 * (`"tls13 "`, `"dtls13"` for DTLS 1.3). An absent context is the empty one (TLS 1.3 makes no difference, as
 * OpenSSL's `SSL_export_keying_material` without `use_context`).
 *
 * On a TLS 1.2 or DTLS 1.2 connection it is RFC 5705 §4: PRF(master_secret, label, client_random ‖
 * server_random [‖ uint16 context length ‖ context]) with the suite's PRF hash; there an absent context and an
 * empty one differ (as OpenSSL's `use_context`), the context is below 2^16 bytes, and the labels the TLS 1.2
 * key schedule itself uses are refused (RFC 5705 §4: "client finished", "server finished", "master secret",
 * "key expansion", and RFC 7627's "extended master secret").
 *
 * @param label - ASCII, 1..249 bytes (the full HKDF label is at most 255 bytes).
 * @param context - bytes of any length (only its hash is used); `undefined` for none.
 * @param length - output bytes, 0..255 × the hash length (8160 for SHA-256, 12240 for SHA-384).
 * @throws TlsError `apiMisuse` before the handshake completed, for a label or length out of range, or a context
 *   that is not bytes.
 *
 * @example
 * ```ts
 * const binding = exportKeyingMaterial(hs, 'EXPORTER-Channel-Binding', undefined, 32); // RFC 9266 tls-exporter
 * ```
 */
export function exportKeyingMaterial(state: HandshakeState, label: string, context: Uint8Array | undefined, length: number): Uint8Array {
  const misuse = (reason: string) => new TlsError({ kind: 'apiMisuse', reason: `exportKeyingMaterial(): ${reason}` });
  if (context !== undefined) bytesArg('exportKeyingMaterial(): context', context);
  if (state.tls12) return exportTls12(state, label, context, length, misuse);
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

/** Labels the TLS 1.2 PRF already uses for the connection's own keys (RFC 5705 §4, RFC 7627 §4). */
const RESERVED_12 = new Set(['client finished', 'server finished', 'master secret', 'key expansion', 'extended master secret']);

/** RFC 5705 §4 over a TLS 1.2 / DTLS 1.2 connection's master secret (see {@link exportKeyingMaterial}). */
function exportTls12(state: HandshakeState, label: string, context: Uint8Array | undefined, length: number, misuse: (reason: string) => TlsError): Uint8Array {
  const t = state.tls12!;
  if (state.phase.name !== 'connected' || !t.master) throw misuse('the handshake has not completed');
  if (typeof label !== 'string' || label.length === 0 || !/^[\x20-\x7e]*$/.test(label)) throw misuse('label must be printable ASCII characters');
  if (RESERVED_12.has(label)) throw misuse(`the label "${label}" is reserved by TLS 1.2's key schedule (RFC 5705 §4)`);
  if (context !== undefined && context.length > 0xffff) throw misuse(`context must be under 65536 bytes, got ${context.length}`);
  if (!Number.isInteger(length) || length < 0 || length > 1 << 16) throw misuse(`length must be 0..65536 bytes, got ${length}`);
  const seed =
    context === undefined
      ? concatBytes([t.clientRandom, t.serverRandom])
      : concatBytes([t.clientRandom, t.serverRandom, Uint8Array.of(context.length >>> 8, context.length & 0xff), context]);
  return prf(state.config.provider, t.suite.hash, t.master, label, seed, length);
}
