/**
 * Retry (RFC 9000 §8.1.2, §17.2.5; RFC 9001 §5.8): the Retry packet, its integrity tag, and the address
 * validation token a server validates statelessly. Sans-IO and pure: the caller passes the clock (`now`, ms),
 * randomness (the 12 B nonce) and the token key.
 *
 * A token is sealed by `tokens.ts` (`type (1 B: 0 Retry) ‖ nonce ‖ AES-128-GCM(…)`, the type in the clear and
 * authenticated) with the plaintext `issued at (8 B, ms) ‖ ODCID length ‖ ODCID ‖ Retry SCID length ‖ Retry
 * SCID`: only the server that holds the key can make or read one, it binds the client's address and port
 * (RFC 9000 §8.1.3), it cannot pass for a NEW_TOKEN token or the reverse, and it carries what the server needs
 * to fill in original_destination_connection_id and retry_source_connection_id (§7.3) without keeping any state
 * between the Retry and the client's next Initial.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { Reader } from '../wire/reader.js';
import { bytesEqual } from '../wire/bytes.js';
import { encodeWith } from '../wire/writer.js';
import { MAX_CID_LENGTH, QUIC_V1, type PacketHeader } from '../wire/quic/packet.js';
import { retryIntegrityTag, verifyRetry } from './protection.js';
import { openToken, sealToken, TokenType } from './tokens.js';

/** How long a Retry token is accepted after it was issued: 10 s (it is used one round trip later). */
export const RETRY_TOKEN_LIFETIME = 10_000;
export { TOKEN_KEY_LENGTH } from './tokens.js';

/** What a Retry token carries (RFC 9000 §8.1.2, §7.3). */
export interface RetryTokenContent {
  /** The Destination Connection ID of the client's first Initial (0–20 B). */
  readonly originalDcid: Uint8Array;
  /** The Source Connection ID of our Retry, the client's DCID from then on (0–20 B). */
  readonly retryScid: Uint8Array;
  /** When it was issued, ms. */
  readonly issuedAt: number;
}

/**
 * A Retry token for the client at `address` (any string naming it: "ip:port"). `nonce`: 12 random bytes.
 *
 * @example
 * ```ts
 * const token = sealRetryToken(provider, key, random(12), '127.0.0.1:5000', { originalDcid, retryScid, issuedAt: now });
 * ```
 */
export function sealRetryToken(p: CryptoProvider, key: Uint8Array, nonce: Uint8Array, address: string, c: RetryTokenContent): Uint8Array {
  const body = encodeWith((w) => w.u8(c.originalDcid.length).bytes(c.originalDcid).u8(c.retryScid.length).bytes(c.retryScid));
  return sealToken(p, key, nonce, TokenType.retry, address, c.issuedAt, body);
}

/**
 * Open a Retry token from the client at `address`: its content, or `null` when it is not ours, not a Retry
 * token, was issued for another address, is malformed, or is older than `lifetime` ms (or from the future).
 * Never throws.
 */
export function openRetryToken(p: CryptoProvider, key: Uint8Array, token: Uint8Array, address: string, now: number, lifetime = RETRY_TOKEN_LIFETIME): RetryTokenContent | null {
  const opened = openToken(p, key, token, TokenType.retry, address, now, lifetime);
  if (!opened) return null;
  try {
    const r = new Reader(opened.body);
    const odcidLength = r.u8();
    if (odcidLength > MAX_CID_LENGTH) return null;
    const originalDcid = r.bytes(odcidLength).slice();
    const scidLength = r.u8();
    if (scidLength > MAX_CID_LENGTH) return null;
    const retryScid = r.bytes(scidLength).slice();
    if (r.remaining !== 0) return null;
    return { originalDcid, retryScid, issuedAt: opened.issuedAt };
  } catch {
    return null;
  }
}

/**
 * A Retry packet (RFC 9000 §17.2.5): `dcid` is the client's SCID, `scid` our new connection ID, `token` non-empty;
 * the Retry Integrity Tag (RFC 9001 §5.8) is computed over it with `originalDcid`, the DCID of the client's Initial.
 * `unused` are the four low bits of the first byte (random in RFC 9000; 0 by default).
 */
export function encodeRetryPacket(
  p: CryptoProvider,
  r: { readonly dcid: Uint8Array; readonly scid: Uint8Array; readonly token: Uint8Array; readonly originalDcid: Uint8Array; readonly unused?: number },
): Uint8Array {
  for (const cid of [r.dcid, r.scid, r.originalDcid]) if (cid.length > MAX_CID_LENGTH) throw new RangeError(`connection ID of ${cid.length} B: at most ${MAX_CID_LENGTH}`);
  if (r.token.length === 0) throw new RangeError('a Retry carries a non-empty token (RFC 9000 §17.2.5)');
  const body = encodeWith((w) => {
    w.u8(0xf0 | ((r.unused ?? 0) & 0x0f)).u32(QUIC_V1);
    w.u8(r.dcid.length).bytes(r.dcid).u8(r.scid.length).bytes(r.scid).bytes(r.token);
  });
  const tag = retryIntegrityTag(p, r.originalDcid, body);
  const out = new Uint8Array(body.length + tag.length);
  out.set(body);
  out.set(tag, body.length);
  return out;
}

/** What a client takes from a Retry it accepts. */
export interface AcceptedRetry {
  /** The token to put in every Initial from now on (RFC 9000 §17.2.5.2). */
  readonly token: Uint8Array;
  /** The server's new connection ID: our DCID from now on, and the expected retry_source_connection_id (§7.3). */
  readonly scid: Uint8Array;
}

/**
 * A client's checks of a Retry (RFC 9000 §17.2.5.2): accepted only as the answer to our first Initial — before
 * any other packet from the server was processed (`receivedAny`) and when no Retry was accepted yet
 * (`retried`) — with a non-empty token and an integrity tag that verifies against our original DCID (RFC 9001
 * §5.8). Else `null`: the packet is discarded.
 */
export function acceptRetry(
  p: CryptoProvider,
  packet: Uint8Array,
  header: Extract<PacketHeader, { form: 'long' }>,
  originalDcid: Uint8Array,
  receivedAny: boolean,
  retried: boolean,
): AcceptedRetry | null {
  if (header.type !== 'retry' || receivedAny || retried || header.token.length === 0) return null;
  // RFC 9000 §17.2.5.1: a Retry whose Source Connection ID is the Destination Connection ID we sent is discarded.
  if (bytesEqual(header.scid, originalDcid)) return null;
  if (!verifyRetry(p, originalDcid, packet)) return null;
  return { token: header.token.slice(), scid: header.scid.slice() };
}
