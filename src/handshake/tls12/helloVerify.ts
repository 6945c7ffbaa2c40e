/**
 * DTLS 1.2 HelloVerifyRequest (RFC 6347 §4.2.1): a server with `cookieSecret` answers a ClientHello without a
 * valid cookie statelessly, with a cookie the client must send back in its next ClientHello. The cookie (22 B) is
 * its issue time (ms, 6 B) and an HMAC-SHA256 (truncated to 16 B) under the cookie secret over that time, the
 * client's address binding and the ClientHello fields §4.2.1 lists (version, random, session_id, cipher_suites, compression_methods), so the second ClientHello
 * must repeat them; it is valid for `cookieLifetime` ms. Nothing is kept: the state stays uncommitted until a
 * ClientHello brings a valid cookie.
 */
import { concatBytes } from '../../wire/bytes.js';
import { ProtocolVersion } from '../../wire/tls/constants.js';
import type { ClientHello } from '../../wire/tls/messages.js';
import { encodeWith } from '../../wire/writer.js';
import { type CookieConfig, type HsCx, endFlight } from '../state.js';

/** handshake type of HelloVerifyRequest (RFC 6347 §4.3.2). */
export const HELLO_VERIFY_REQUEST = 3;

/**
 * The most HelloVerifyRequests a client answers in one handshake. RFC 6347 sets no limit (a server answers a
 * ClientHello whose cookie expired or was made under a rotated secret with a new one, §4.2.1); this bounds a
 * loop with a server whose cookies never verify. A server accepts a first ClientHello numbered below it (the
 * message_seq of the client's last ClientHello, §4.2.2).
 */
export const MAX_HELLO_VERIFY_REQUESTS = 4;

/**
 * `server_version` of our HelloVerifyRequest: DTLS 1.0, which RFC 6347 §4.2.1 recommends whatever version will be
 * negotiated (the client must not take it as the negotiated version).
 */
export const HVR_SERVER_VERSION = 0xfeff;

/** The hash of the ClientHello fields the cookie covers (RFC 6347 §4.2.1). */
function helloFields(cx: HsCx, ch: ClientHello): Uint8Array {
  const fields = encodeWith((w) => {
    w.u16(ch.legacyVersion ?? ProtocolVersion.DTLS1_2);
    w.bytes(ch.random);
    w.vec8(ch.legacySessionId);
    w.u16(ch.cipherSuites.length);
    for (const c of ch.cipherSuites) w.u16(c);
    w.vec8(ch.legacyCompressionMethods);
  });
  return cx.s.config.provider.hash('sha256', fields);
}

/** The cookie's MAC, truncated: 16 B (128 bits). */
const MAC_LENGTH = 16;
/** issued-at (ms, 6 B) ‖ MAC (16 B) = 22 B: within the 32 B that DTLS 1.0 stacks (GnuTLS) still accept. */
export const HVR_COOKIE_LENGTH = 6 + MAC_LENGTH;
const LABEL = new TextEncoder().encode('rxtls dtls12 cookie');

function mac(cx: HsCx, key: CookieConfig, issuedAt: Uint8Array, ch: ClientHello): Uint8Array {
  const input = encodeWith((w) => {
    w.bytes(LABEL).bytes(issuedAt).bytes(helloFields(cx, ch));
    w.vec16(key.binding);
  });
  return cx.s.config.provider.hmac('sha256', key.secret, input).subarray(0, MAC_LENGTH);
}

function issuedAtBytes(ms: number): Uint8Array {
  const b = new Uint8Array(6);
  const hi = Math.floor(ms / 2 ** 32);
  b[0] = (hi >>> 8) & 0xff;
  b[1] = hi & 0xff;
  new DataView(b.buffer).setUint32(2, ms >>> 0);
  return b;
}

/** Whether the ClientHello carries a cookie of ours, unexpired, for these fields and this client. */
export function validHelloCookie(cx: HsCx, ch: ClientHello, key: CookieConfig): boolean {
  const cookie = ch.legacyCookie;
  if (!cookie || cookie.length !== HVR_COOKIE_LENGTH) return false;
  const issued = cookie.subarray(0, 6);
  const want = mac(cx, key, issued, ch);
  let diff = 0;
  for (let i = 0; i < MAC_LENGTH; i++) diff |= want[i]! ^ cookie[6 + i]!;
  if (diff !== 0) return false;
  const issuedAt = ((issued[0]! << 8) | issued[1]!) * 2 ** 32 + new DataView(issued.buffer, issued.byteOffset).getUint32(2);
  const age = cx.now - issuedAt;
  return age >= 0 && age <= key.lifetime;
}

/**
 * Answer with a HelloVerifyRequest (server_version ‖ cookie<0..255>), outside the transcript (RFC 6347 §4.2.6);
 * the phase stays `expectClientHello` and the state uncommitted.
 */
export function sendHelloVerifyRequest(cx: HsCx, ch: ClientHello, key: CookieConfig): void {
  const issued = issuedAtBytes(Math.max(0, Math.floor(cx.now)));
  const cookie = concatBytes([issued, mac(cx, key, issued, ch)]);
  const body = encodeWith((w) => {
    w.u16(HVR_SERVER_VERSION);
    w.vec8(cookie);
  });
  const msg = new Uint8Array(4 + body.length);
  msg[0] = HELLO_VERIFY_REQUEST;
  msg[2] = body.length >>> 8;
  msg[3] = body.length & 0xff;
  msg.set(body, 4);
  cx.out.push(msg);
  cx.s.msgSeqOut++;
  endFlight(cx);
}

/** Decode a HelloVerifyRequest body (RFC 6347 §4.2.1): `server_version` (u16), `cookie<0..2^8-1>`, nothing after. */
export function decodeHelloVerifyRequest(body: Uint8Array): { readonly serverVersion: number; readonly cookie: Uint8Array } | undefined {
  if (body.length < 3 || body.length !== 3 + body[2]!) return undefined;
  return { serverVersion: (body[0]! << 8) | body[1]!, cookie: body.slice(3) };
}
