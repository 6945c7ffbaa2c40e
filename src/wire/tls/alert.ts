/** Alert message codec (RFC 8446 §6): two bytes, `AlertLevel level; AlertDescription description`. */
import { DecodeError, Reader } from '../reader.js';

/** A decoded alert. `level` is 1 (warning) or 2 (fatal) on the wire; other values are kept for the caller to judge. */
export interface Alert {
  readonly level: number;
  readonly description: number;
}

/**
 * Encode an alert (RFC 8446 §6): 2 bytes.
 *
 * @example encodeAlert(AlertLevel.fatal, AlertDescription.decode_error) // Uint8Array [2, 50]
 * @throws RangeError if a value is not a u8 (API misuse).
 */
export function encodeAlert(level: number, description: number): Uint8Array {
  for (const [what, v] of [
    ['level', level],
    ['description', description],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`alert ${what} ${v} is not a u8`);
  }
  return Uint8Array.of(level, description);
}

/**
 * Decode an alert (RFC 8446 §6). The content of an alert record must be exactly 2 bytes; anything else is a
 * {@link DecodeError} (`decode_error`). TLS 1.3 treats every alert but close_notify and user_canceled as fatal
 * whatever its level (§6), so unknown levels are not rejected here.
 */
export function decodeAlert(data: Uint8Array): Alert {
  if (data.length !== 2) throw new DecodeError(`alert of ${data.length} bytes, expected 2`);
  const r = new Reader(data);
  const level = r.u8();
  const description = r.u8();
  r.expectEnd('alert');
  return { level, description };
}
