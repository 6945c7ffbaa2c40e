/**
 * DTLS 1.2 HelloVerifyRequest (RFC 6347 §4.2.1): a server with `cookieSecret` answers a ClientHello without a
 * valid cookie statelessly, with a cookie the client must send back in its next ClientHello. The cookie is an
 * HMAC-SHA256 under the cookie secret over its issue time, the client's address binding and the ClientHello
 * fields §4.2.1 lists (version, random, session_id, cipher_suites, compression_methods), so the second ClientHello
 * must repeat them; it is valid for `cookieLifetime` ms. Nothing is kept: the state stays uncommitted until a
 * ClientHello brings a valid cookie.
 */
import { concatBytes } from '../../wire/bytes.js';
import { ProtocolVersion } from '../../wire/tls/constants.js';
import type { ClientHello } from '../../wire/tls/messages.js';
import { encodeWith } from '../../wire/writer.js';
import { openCookie, sealCookie } from '../cookie.js';
import { type CookieConfig, type HsCx, endFlight } from '../state.js';

/** handshake type of HelloVerifyRequest (RFC 6347 §4.3.2). */
export const HELLO_VERIFY_REQUEST = 3;

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
  return cx.s.config.provider.hash('sha256', concatBytes([fields]));
}

/** Whether the ClientHello carries a cookie of ours, unexpired, for these fields and this client. */
export function validHelloCookie(cx: HsCx, ch: ClientHello, key: CookieConfig): boolean {
  const cookie = ch.legacyCookie;
  if (!cookie || cookie.length === 0) return false;
  const opened = openCookie(cx.s.config.provider, key, cookie, cx.now, key.lifetime);
  if (!opened || opened.suite !== 0) return false;
  const want = helloFields(cx, ch);
  const got = opened.clientHelloHash;
  return got.length === want.length && got.every((b, i) => b === want[i]);
}

/**
 * Answer with a HelloVerifyRequest (server_version ‖ cookie<0..255>), outside the transcript (RFC 6347 §4.2.6);
 * the phase stays `expectClientHello` and the state uncommitted.
 */
export function sendHelloVerifyRequest(cx: HsCx, ch: ClientHello, key: CookieConfig): void {
  const cookie = sealCookie(cx.s.config.provider, key, { issuedAt: cx.now, suite: 0, sessionId: new Uint8Array(0), clientHelloHash: helloFields(cx, ch) });
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
