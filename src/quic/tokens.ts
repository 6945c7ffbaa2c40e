/**
 * Address validation tokens (RFC 9000 §8.1.2, §8.1.3): the one sealed format of the two kinds a server hands
 * out, so that neither can pass for the other (§8.1.3: "a server MUST be able to distinguish tokens from Retry
 * packets from tokens from NEW_TOKEN frames"):
 * - a **Retry** token (`retry.ts`), used once, one round trip later, from the same address and port;
 * - a **NEW_TOKEN** token, sent after the handshake for the client's next connection, bound to its IP address
 *   only (the next connection comes from another port) and valid for {@link NEW_TOKEN_LIFETIME}.
 *
 * A token is `type (1 B) ‖ nonce (12 B) ‖ AES-128-GCM(key, nonce, aad = type ‖ address, issued at (8 B, ms) ‖
 * body)`: 1 + 12 + 8 + 16 = 37 B and the body. The type is in the clear so a server can tell what it was offered
 * even when the token does not open (a Retry token that fails ends the attempt, a NEW_TOKEN token that fails is
 * as good as none, §8.1.3), and it is authenticated. Sans-IO and pure: the caller passes the clock, the key and
 * the nonce.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { Reader } from '../wire/reader.js';
import { encodeWith } from '../wire/writer.js';

/** Token key: 16 B (AES-128-GCM). One per listener, or configured so tokens outlive a restart. */
export const TOKEN_KEY_LENGTH = 16;
/** How long a NEW_TOKEN token is accepted: 24 h (RFC 9000 §8.1.3 leaves it to the server; it should expire). */
export const NEW_TOKEN_LIFETIME = 24 * 3600 * 1000;
const NONCE = 12;
/** The type byte, the tag and the issue time: the smallest sealed token, bytes. */
const MIN_TOKEN = 1 + NONCE + 16 + 8;

/** The first byte of a token. */
export const TokenType = {
  retry: 0,
  newToken: 1,
} as const;
export type TokenType = (typeof TokenType)[keyof typeof TokenType];

/** The kind of token `token` claims to be (its clear type byte), or `undefined` for none of ours. */
export function tokenType(token: Uint8Array): TokenType | undefined {
  const t = token[0];
  return token.length >= MIN_TOKEN && (t === TokenType.retry || t === TokenType.newToken) ? t : undefined;
}

const aad = (type: TokenType, address: string): Uint8Array => {
  const a = new TextEncoder().encode(address);
  const out = new Uint8Array(1 + a.length);
  out[0] = type;
  out.set(a, 1);
  return out;
};

/** Seal a token of `type` for `address`, issued at `issuedAt` (ms), carrying `body`. `nonce`: 12 random bytes. */
export function sealToken(p: CryptoProvider, key: Uint8Array, nonce: Uint8Array, type: TokenType, address: string, issuedAt: number, body: Uint8Array): Uint8Array {
  if (nonce.length !== NONCE) throw new RangeError(`token nonce of ${nonce.length} B: 12 needed`);
  if (key.length !== TOKEN_KEY_LENGTH) throw new RangeError(`token key of ${key.length} B: ${TOKEN_KEY_LENGTH} needed`);
  const plain = encodeWith((w) => w.u32(Math.floor(issuedAt / 2 ** 32)).u32(issuedAt >>> 0).bytes(body));
  const sealed = p.aead('aes-128-gcm', key).seal(nonce, aad(type, address), plain);
  return encodeWith((w) => w.u8(type).bytes(nonce).bytes(sealed));
}

/**
 * Open a token of `type` from `address`: its issue time and body, or `null` when it is of another type, not
 * sealed with `key`, for another address, or older than `lifetime` ms (or from the future). Never throws.
 */
export function openToken(
  p: CryptoProvider,
  key: Uint8Array,
  token: Uint8Array,
  type: TokenType,
  address: string,
  now: number,
  lifetime: number,
): { readonly issuedAt: number; readonly body: Uint8Array } | null {
  if (tokenType(token) !== type || key.length !== TOKEN_KEY_LENGTH) return null;
  const plain = p.aead('aes-128-gcm', key).open(token.subarray(1, 1 + NONCE), aad(type, address), token.subarray(1 + NONCE));
  if (!plain || plain.length < 8) return null;
  const r = new Reader(plain);
  const issuedAt = r.u32() * 2 ** 32 + r.u32();
  if (now < issuedAt || now - issuedAt > lifetime) return null;
  return { issuedAt, body: plain.subarray(8) };
}

/**
 * A NEW_TOKEN token (RFC 9000 §8.1.3) for the client at IP address `ip` (no port: its next connection uses
 * another), issued at `now`. 37 B.
 *
 * @example
 * ```ts
 * const token = sealNewToken(provider, key, random(12), '192.0.2.7', Date.now());
 * ```
 */
export const sealNewToken = (p: CryptoProvider, key: Uint8Array, nonce: Uint8Array, ip: string, now: number): Uint8Array =>
  sealToken(p, key, nonce, TokenType.newToken, ip, now, new Uint8Array(0));

/** Whether `token` is a NEW_TOKEN token of ours for `ip`, issued at most `lifetime` ms before `now`. */
export function acceptNewToken(p: CryptoProvider, key: Uint8Array, token: Uint8Array, ip: string, now: number, lifetime = NEW_TOKEN_LIFETIME): boolean {
  const opened = openToken(p, key, token, TokenType.newToken, ip, now, lifetime);
  return opened !== null && opened.body.length === 0;
}
