/**
 * Stateless DTLS 1.3 cookies (RFC 9147 §5.1; the cookie extension of RFC 8446 §4.2.2): everything a server
 * needs to continue a handshake after a HelloRetryRequest it kept no state for, authenticated by an HMAC.
 *
 * A server that asks every new client for a cookie keeps nothing between the first ClientHello and the second:
 * the cookie carries the cipher suite and group it chose, the first ClientHello's legacy_session_id and
 * Hash(ClientHello1), the input of the synthetic message_hash that replaces ClientHello1 in the transcript
 * (RFC 8446 §4.4.1). With the cookie as echoed, the server re-encodes the same HelloRetryRequest and so rebuilds
 * the transcript a stateful server would hold. The MAC also covers a binding (the client's address, RFC 9147
 * §5.1: "If the client's apparent IP address is embedded in the cookie, this prevents an attacker from
 * generating an acceptable ClientHello apparently from another user") and the issue time, so a cookie works
 * from one address and for a bounded time.
 *
 * Layout, version 1 (79..127 B in all), integers big-endian:
 * ```
 * u8      version = 1
 * u32 u32 issued_at              ms (the `now` of the HelloRetryRequest), high and low halves
 * u16     cipher_suite
 * u16     selected_group         0: none (the HelloRetryRequest asked for the cookie only)
 * opaque  legacy_session_id<0..32>
 * opaque  client_hello_hash<32..48>  Hash(ClientHello1) under the suite's hash
 * opaque  mac[32]                HMAC-SHA256(secret, label ‖ everything above ‖ binding<0..2^16-1>)
 * ```
 *
 * @example
 * ```ts
 * const cookie = sealCookie(provider, key, { issuedAt: now, suite: 0x1301, sessionId, clientHelloHash });
 * openCookie(provider, key, cookie, now + 1000, 60_000); // the same contents; undefined once tampered or old
 * ```
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { bytesEqual } from '../wire/bytes.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';

/** The format version byte of the cookies {@link sealCookie} writes. */
export const COOKIE_VERSION = 1;
/** Length of the HMAC-SHA256 tag that ends a cookie, bytes. */
export const COOKIE_MAC_LENGTH = 32;
/** Length of a cookie secret, bytes (an HMAC-SHA256 key as long as its output). */
export const COOKIE_SECRET_LENGTH = 32;
/** Default cookie lifetime, ms. */
export const DEFAULT_COOKIE_LIFETIME = 60_000;

/** Domain separation: the MAC of a cookie is never the MAC of anything else keyed the same. */
const MAC_LABEL = new TextEncoder().encode('rxtls dtls13 cookie');

/** The key a cookie is sealed with: the server's secret and what the cookie is bound to. */
export interface CookieKey {
  /** 32 B. */
  readonly secret: Uint8Array;
  /** The client's address or any bytes the cookie must be presented with, 0..65535 B. */
  readonly binding: Uint8Array;
}

/** What a cookie carries. */
export interface CookieContents {
  /** When it was issued (ms, the engine's `now`). */
  readonly issuedAt: number;
  /** The cipher suite the HelloRetryRequest selected (code point). */
  readonly suite: number;
  /** The group the HelloRetryRequest's selected_group named (code point); absent for a cookie-only one. */
  readonly group?: number;
  /** The first ClientHello's legacy_session_id (0..32 B). */
  readonly sessionId: Uint8Array;
  /** Hash(ClientHello1) under the suite's hash (32 or 48 B). */
  readonly clientHelloHash: Uint8Array;
}

/**
 * Write and authenticate a cookie (see the layout above).
 * @throws RangeError for contents outside the layout (an issue time outside 0..2^53−1, a session ID over 32 B).
 */
export function sealCookie(p: CryptoProvider, key: CookieKey, c: CookieContents): Uint8Array {
  const issuedAt = Math.floor(c.issuedAt);
  if (!Number.isSafeInteger(issuedAt) || issuedAt < 0) throw new RangeError(`cookie: issue time ${c.issuedAt} out of range`);
  if (c.sessionId.length > 32) throw new RangeError('cookie: legacy_session_id over 32 bytes');
  const w = new Writer(128);
  w.u8(COOKIE_VERSION);
  w.u32(Math.floor(issuedAt / 0x1_0000_0000)).u32(issuedAt >>> 0);
  w.u16(c.suite);
  w.u16(c.group ?? 0);
  w.vec8(c.sessionId);
  w.vec8(c.clientHelloHash);
  const body = w.finish();
  const out = new Uint8Array(body.length + COOKIE_MAC_LENGTH);
  out.set(body);
  out.set(cookieMac(p, key, body), body.length);
  return out;
}

/**
 * Read a cookie back: its contents when it is well formed, its MAC verifies under `key` (secret and binding),
 * and it was issued at most `lifetime` ms before `now` (and not after it); else `undefined`. Never throws on
 * any bytes: a cookie is the peer's input.
 */
export function openCookie(
  p: CryptoProvider,
  key: CookieKey,
  cookie: Uint8Array,
  now: number,
  lifetime: number,
): CookieContents | undefined {
  if (cookie.length <= COOKIE_MAC_LENGTH) return undefined;
  const body = cookie.subarray(0, cookie.length - COOKIE_MAC_LENGTH);
  if (!bytesEqual(cookieMac(p, key, body), cookie.subarray(body.length))) return undefined;
  try {
    const r = new Reader(body);
    if (r.u8() !== COOKIE_VERSION) return undefined;
    const issuedAt = r.u32() * 0x1_0000_0000 + r.u32();
    const suite = r.u16();
    const group = r.u16();
    const sessionId = r.vec8();
    const clientHelloHash = r.vec8();
    if (r.remaining !== 0) return undefined;
    const age = now - issuedAt;
    if (!(age >= 0 && age <= lifetime)) return undefined;
    return { issuedAt, suite, ...(group !== 0 ? { group } : {}), sessionId, clientHelloHash };
  } catch {
    // Only our own MAC-verified bytes get here, so this is a cookie of another layout: invalid.
    return undefined;
  }
}

function cookieMac(p: CryptoProvider, key: CookieKey, body: Uint8Array): Uint8Array {
  const w = new Writer(MAC_LABEL.length + body.length + 2 + key.binding.length);
  w.bytes(MAC_LABEL).bytes(body).vec16(key.binding);
  return p.hmac('sha256', key.secret, w.finish());
}
