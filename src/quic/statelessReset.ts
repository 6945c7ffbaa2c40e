/**
 * Stateless reset (RFC 9000 §10.3): an endpoint that has lost a connection's state answers a packet for it with
 * a datagram that looks like a short-header packet and ends in the 16-byte stateless reset token the connection
 * gave out with that connection ID. Tokens are derived from the connection ID with a key
 * ({@link resetTokenFor}, §10.3.2), so a listener makes them again for a connection it no longer knows.
 *
 * - {@link statelessResetFor}: the listener's answer to a short-header packet for an unknown connection ID,
 *   always smaller than that packet (§10.3.3: two endpoints cannot reset each other in a loop) and at least
 *   {@link MIN_STATELESS_RESET} bytes, or nothing;
 * - {@link isStatelessReset}: whether a datagram that did not authenticate is a reset from the peer (§10.3.1).
 *
 * Pure: randomness comes in as bytes.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { bytesEqual } from '../wire/bytes.js';

/** A stateless reset token, bytes (RFC 9000 §10.3). */
export const RESET_TOKEN_LENGTH = 16;
/** The key tokens are derived with (HMAC-SHA256), bytes. */
export const RESET_KEY_LENGTH = 32;
/**
 * RFC 9000 §10.3: the smallest stateless reset, bytes: the first byte, at least 38 unpredictable bits in all
 * (5 bytes) and the token. Datagrams shorter than this are never taken for one, nor answered with one.
 */
export const MIN_STATELESS_RESET = 21;
/**
 * The size of the resets we send, bytes, when the packet that drew one is larger: a short header with a
 * 20-byte connection ID, a packet number and a minimal AEAD payload (RFC 9000 §10.3 answers a packet of 43 bytes
 * or fewer with one byte fewer).
 */
export const STATELESS_RESET_SIZE = 43;

/**
 * The stateless reset token of connection ID `cid` (RFC 9000 §10.3.2): the first 16 bytes of
 * HMAC-SHA256(`key`, `cid`). The same key gives the same token for the same ID, and without the key a token
 * says nothing about it.
 *
 * @example
 * ```ts
 * const token = resetTokenFor(provider, key, scid); // 16 B, sent in stateless_reset_token or NEW_CONNECTION_ID
 * ```
 */
export function resetTokenFor(provider: CryptoProvider, key: Uint8Array, cid: Uint8Array): Uint8Array {
  return provider.hmac('sha256', key, cid).slice(0, RESET_TOKEN_LENGTH);
}

/**
 * A stateless reset answering `datagram`, a short-header packet for connection ID `dcid` that no connection
 * owns, or `undefined` when none may be sent: a long header (its sender has no token of ours yet), or a
 * datagram too small to answer with something smaller that is still {@link MIN_STATELESS_RESET} bytes
 * (RFC 9000 §10.3.3, loop prevention). `unpredictable` gives the random bytes (at least 27).
 */
export function statelessResetFor(provider: CryptoProvider, key: Uint8Array, datagram: Uint8Array, dcid: Uint8Array, unpredictable: (n: number) => Uint8Array): Uint8Array | undefined {
  if (datagram.length === 0 || (datagram[0]! & 0x80) !== 0) return undefined;
  if (datagram.length <= MIN_STATELESS_RESET) return undefined;
  // §10.3: 43 bytes or fewer are answered with one byte fewer; larger ones with a fixed size below them.
  const size = Math.min(datagram.length - 1, STATELESS_RESET_SIZE);
  const out = new Uint8Array(size);
  out.set(unpredictable(size - RESET_TOKEN_LENGTH));
  // Header Form 0, Fixed Bit 1: it reads as a short header (§10.3, Figure 10).
  out[0] = (out[0]! & 0x3f) | 0x40;
  out.set(resetTokenFor(provider, key, dcid), size - RESET_TOKEN_LENGTH);
  return out;
}

/**
 * Whether `datagram` (which did not authenticate as a packet of ours) is a stateless reset (RFC 9000 §10.3.1):
 * at least {@link MIN_STATELESS_RESET} bytes, a short header, and its last 16 bytes equal to one of the peer's
 * `tokens` (compared in constant time).
 */
export function isStatelessReset(datagram: Uint8Array, tokens: readonly Uint8Array[]): boolean {
  if (datagram.length < MIN_STATELESS_RESET || (datagram[0]! & 0x80) !== 0) return false;
  const tail = datagram.subarray(datagram.length - RESET_TOKEN_LENGTH);
  let found = false;
  for (const t of tokens) found = bytesEqual(t, tail) || found;
  return found;
}
