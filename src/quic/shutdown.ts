/**
 * The rules of closing a QUIC connection, after OpenSSL's `SSL_shutdown_ex` (its man page, "QUIC-specific
 * shutdown behaviour") and RFC 9000 §10.2, as pure helpers of the reducer's `close` input:
 * - an application error code is a 62-bit varint, [0, 2^62 − 1]: anything else is API misuse and nothing is
 *   sent ({@link checkCloseCode});
 * - the reason phrase is cut to fit one CONNECTION_CLOSE packet in a datagram, at a UTF-8 character boundary
 *   ({@link closeReason});
 * - while closing, the peer's packets are answered with our CONNECTION_CLOSE at a decreasing rate
 *   ({@link closeAnswerDue});
 * - the first call's code and reason are the ones sent; a later call may only hasten the close ("change of
 *   mind": rapid, or no stream flush, after an RFC-compliant close is in progress);
 * - the shutdown's progress is `none`, `inProgress` (OpenSSL's 0) or `complete` (1): {@link QuicShutdownProgress}.
 */
import { TlsError } from '../core/errors.js';
import { shown } from '../core/validate.js';

/** RFC 9000 §16: the largest varint, 2^62 − 1. */
export const MAX_ERROR_CODE = (1n << 62n) - 1n;

/**
 * The most reason-phrase bytes we send, 1110: a 1200-byte datagram less a long header and the AEAD tag (70) and
 * the CONNECTION_CLOSE frame's type, error code, frame type and length (at most 1 + 8 + 8 + 2 = 19, rounded up).
 */
export const MAX_CLOSE_REASON = 1200 - 70 - 20;

/** API misuse unless `code` is an application error code RFC 9000 can carry: a bigint in [0, 2^62 − 1]. */
export function checkCloseCode(code: bigint): void {
  if (typeof code !== 'bigint' || code < 0n || code > MAX_ERROR_CODE) {
    throw new TlsError({ kind: 'apiMisuse', reason: `a QUIC error code is a bigint in [0, 2^62 - 1]; ${typeof code === 'bigint' ? String(code) : shown(code)} is not (nothing was sent)` });
  }
}

/** The reason phrase as UTF-8, cut to at most `max` bytes without splitting a character. */
export function closeReason(reason: string, max = MAX_CLOSE_REASON): Uint8Array {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off continuation bytes (10xxxxxx) so the cut falls before the first byte of a character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.slice(0, end);
}

/**
 * Whether our CONNECTION_CLOSE answers the packets that took the count of packets received while closing from
 * `before` to `after` (RFC 9000 §10.2.1: "An endpoint SHOULD limit the rate at which it generates packets in the
 * closing state", e.g. answering after a progressively increasing number of packets): it does when the count
 * reached the next power of two, so the 1st, 2nd, 4th, 8th, … packet is answered — 7 answers for 100 packets.
 */
export const closeAnswerDue = (before: number, after: number): boolean => after > before && Math.clz32(after) < Math.clz32(before);

/**
 * How far our shutdown has gone (OpenSSL `SSL_shutdown_ex`: 0 while in progress, 1 when complete): `none`
 * before any close; `inProgress` from the first close call (flushing the streams, or in the closing period)
 * or while draining after the peer's; `complete` once closed.
 */
export type QuicShutdownProgress = 'none' | 'inProgress' | 'complete';
