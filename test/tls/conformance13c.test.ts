/**
 * TLS 1.3 conformance probes, part 3 (RFC 8446, RFC 8446bis where it matters; RFC 6066, RFC 7301, RFC 7685,
 * RFC 7507, RFC 8701 for the extensions they define), in the style of tlsfuzzer's test-tls13-*.py scripts and of
 * TLS-Anvil, against both roles: ClientHello fields and extensions not probed before (GREASE everywhere,
 * vector bounds, duplicated and empty extensions), record framing (content types interleaved with a fragmented
 * handshake message, legacy_record_version, inner content types, an empty TLSInnerPlaintext), closure and alerts
 * (data after close_notify, levels of closure alerts, half-close), the client's checks of ServerHello,
 * HelloRetryRequest, EncryptedExtensions, Certificate, CertificateVerify and Finished, and the server's own
 * hellos. Rounds one and two (conformance13.test.ts, conformance13b.test.ts), hostile.test.ts,
 * hardening.test.ts, tls12.test.ts (downgrade sentinels, TLS_FALLBACK_SCSV) and clientAuth.conformance.test.ts
 * are not repeated.
 *
 * Each probe asserts what the RFC requires: the alert on the wire and a typed error ({@link TlsError}), or the
 * input ignored and the connection still carrying data. A probe that found the code deviating from the RFC says
 * so ("found by this probe and fixed").
 */
import test, { type ExecutionContext } from 'ava';
import { createHash, createPrivateKey, sign as nodeSign } from 'node:crypto';
import { Pair, NOW, fixture, text, str } from '../helpers/pair.js';
import { isClosed, isConnected, type TlsState } from '../../src/tls/connection.js';
import { openRecord, plainRecord, sealRecord, type RecordKey } from '../../src/tls/record.js';
import { binderKey, earlySecret, finishedVerifyData, recordNonce } from '../../src/crypto/keySchedule.js';
import { decodeHandshakeBytes, encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import {
  AlertDescription as A,
  AlertLevel,
  DOWNGRADE_TLS11,
  DOWNGRADE_TLS12,
  ExtensionType as X,
  HRR_RANDOM,
  SignatureScheme as S,
  alertName,
} from '../../src/wire/tls/constants.js';
import { TlsError } from '../../src/core/errors.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import type { ServerHello } from '../../src/wire/tls/messages.js';
import type { TlsEffect } from '../../src/tls/types.js';
import type { Step } from '../../src/core/types.js';
import type { TlsSession } from '../../src/handshake/session.js';
import { rewriteFirstMessage, splitMessages, withRandomTail } from '../helpers/tls12.js';
import {
  G, accepted, alertsSent, buildHello, cat, closedWith, dropExt, encryptedExtensions, extBlock, feed, feedAll,
  helloFor, hrr, hsMsg, keyShareData, parseHello, refused, serverCfg, serverFlight, serverHello, sessionsFrom,
  setExt, splitRecords, toServer, u16, u16s, u32, vec16, vec8, type RawExt, type RawHello,
} from '../helpers/tls13Wire.js';

// ------------------------------------------------------------------------------------------------------------
// Bytes and verdicts (the rest are in ../helpers/tls13Wire.ts)

/** `b` behind a three-byte length. */
const vec24 = (b: Uint8Array) => cat(Uint8Array.of((b.length >> 16) & 0xff, (b.length >> 8) & 0xff, b.length & 0xff), b);

/** Handshake bytes sealed under `key` in one record. */
const sealHs = (key: RecordKey, data: Uint8Array) => sealRecord(key, 22, data).bytes;

/**
 * A protected record built by hand: `inner` (a whole TLSInnerPlaintext: content ‖ type ‖ zeros) sealed under `key`
 * with a header of legacy_record_version `version` (the header is the AAD, RFC 8446 §5.2).
 */
function rawSeal(key: RecordKey, inner: Uint8Array, version = 0x0303): Uint8Array {
  const len = inner.length + 16;
  const header = Uint8Array.of(23, version >> 8, version & 0xff, len >> 8, len & 0xff);
  return cat(header, key.aead.seal(recordNonce(key.iv, key.seq), header, inner));
}

/** The step refused with one fatal alert among `allowed`, and closed with a typed error carrying it. */
function refusedWithOneOf(t: ExecutionContext, step: Step<TlsState, TlsEffect>, allowed: readonly number[], what = ''): void {
  const sent = alertsSent(step.effects);
  const err = closedWith(step.effects);
  t.is(sent.length, 1, `${what}: alerts [${sent.map(alertName).join(', ')}] (${err?.message ?? 'not closed'})`);
  t.true(allowed.includes(sent[0]!), `${what}: ${sent.map(alertName).join()} is not one of ${allowed.map(alertName).join('/')} (${err?.message})`);
  t.true(err instanceof TlsError, `${what}: closed with a TlsError`);
  t.is(err?.alert, sent[0], `${what}: the error carries the alert`);
  t.true(isClosed(step.state), `${what}: closed`);
}

/** {@link refused}, and the close carries a {@link TlsError} naming the same alert. */
function refusedTyped(t: ExecutionContext, step: Step<TlsState, TlsEffect>, alert: number, what = ''): void {
  refused(t, step, alert, what);
  const err = closedWith(step.effects);
  t.true(err instanceof TlsError, `${what}: a TlsError`);
  t.is(err?.alert, alert, `${what}: the error names ${alertName(alert)}`);
}

/** The bytes a step put on the wire. */
const wireOf = (effects: readonly TlsEffect[]) => cat(...effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : [])));
/** The data a step delivered. */
const deliveredBy = (effects: readonly TlsEffect[]) => Buffer.concat(effects.flatMap((e) => (e.type === 'deliver' ? [e.data] : []))).toString();

/** The first ServerHello (or HelloRetryRequest) a step sent. */
function helloIn(effects: readonly TlsEffect[]): ServerHello | undefined {
  const first = splitRecords(wireOf(effects)).find((r) => r.type === 22);
  if (!first) return undefined;
  const m = decodeHandshakeBytes(splitMessages(first.fragment)[0]!);
  return m.type === 'server_hello' ? m.body : undefined;
}

/** The server's ALPN choice so far (the handshake engine's state; EncryptedExtensions is encrypted). */
const serverAlpn = (s: TlsState) => (s.hs as unknown as { nego: { alpn?: string } }).nego.alpn;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const H = (alg: 'sha256' | 'sha384', msgs: readonly Uint8Array[]) => {
  const h = createHash(alg);
  for (const m of msgs) h.update(m);
  return new Uint8Array(h.digest());
};
/** TLS 1.3 CertificateVerify content (RFC 8446 §4.4.3) with any context string. */
const cvContent = (context: string, hash: Uint8Array) => cat(new Uint8Array(64).fill(0x20), text(context), Uint8Array.of(0), hash);
/** ECDSA (DER) with node:crypto. */
const ecdsaSign = (pem: string, hash: string, data: Uint8Array) => new Uint8Array(nodeSign(hash, data, createPrivateKey(pem)));

/** A ServerHello / HelloRetryRequest message built by hand (the encoder refuses what these probes need). */
const rawServerHello = (random: Uint8Array, echo: Uint8Array, suite: number, exts: readonly RawExt[], compression = 0) =>
  hsMsg(2, cat(u16(0x0303), random, vec8(echo), u16(suite), Uint8Array.of(compression), vec16(extBlock(exts))));

/** A started client and its ClientHello, decoded; the server has not seen it. */
function startedClient(clientCfg: Partial<TlsClientConfig> = {}) {
  const pair = new Pair(clientCfg).start();
  const msg = decodeHandshakeBytes(splitRecords(pair.inbox.server.splice(0)[0]!)[0]!.fragment);
  if (msg.type !== 'client_hello') throw new Error('no ClientHello');
  return { pair, ch: msg.body };
}

/** A resumed flight: a session from a ticket-issuing server, offered back to it. */
function resumedFlight(clientExtra: Partial<TlsClientConfig> = {}) {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  const f = serverFlight({ session, ...clientExtra }, server);
  if (f.sh.extensions.preSharedKey !== 0) throw new Error('the server did not resume');
  return { ...f, session: session! };
}

// ------------------------------------------------------------------------------------------------------------
// PSK binders, computed here (RFC 8446 §4.2.11.2), for ClientHellos edited before pre_shared_key

const pskExtData = (ids: readonly { identity: Uint8Array; age: number }[], binders: readonly Uint8Array[]) =>
  cat(vec16(cat(...ids.map((i) => cat(vec16(i.identity), u32(i.age))))), vec16(cat(...binders.map(vec8))));

/** `h` with a pre_shared_key (last) offering `session`, its binder computed over the truncated ClientHello. */
function withTicket(pair: Pair, h: RawHello, session: TlsSession): Uint8Array {
  const ids = [{ identity: session.ticket, age: (pair.now - session.receivedAt + session.ageAdd) >>> 0 }];
  const base = dropExt(h, X.pre_shared_key);
  const draft = buildHello(setExt(base, X.pre_shared_key, pskExtData(ids, [new Uint8Array(32)])));
  const truncated = draft.subarray(0, draft.length - (2 + 1 + 32));
  const p = pair.server.config.provider;
  const binder = finishedVerifyData(p, 'sha256', binderKey(p, 'sha256', earlySecret(p, 'sha256', session.psk), false), p.hash('sha256', truncated));
  return buildHello(setExt(base, X.pre_shared_key, pskExtData(ids, [binder])));
}

// ------------------------------------------------------------------------------------------------------------
// Connected pairs (record and alert probes)

/** A connected pair; `toClient` seals records as the server would send them (and advances the key). */
function connected(clientCfg: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
  const pair = new Pair(clientCfg, server).start().drive();
  if (!isConnected(pair.client) || !isConnected(pair.server)) throw new Error('no connection');
  let key = pair.client.rxKey!;
  const toClient = (type: number, content: Uint8Array, padding = 0) => {
    const r = sealRecord(key, type, content, padding);
    key = r.key;
    return r.bytes;
  };
  return { pair, toClient, key: () => key };
}

/** A NewSessionTicket message (RFC 8446 §4.6.1). */
const nst = (nonce = Uint8Array.of(0)) => hsMsg(4, cat(u32(3600), u32(0x01020304), vec8(nonce), vec16(new Uint8Array(48).fill(0xab)), vec16(new Uint8Array(0))));

// ============================================================================================================
// 1. ClientHello: version fields (RFC 8446 §4.1.2, §4.2.1)

test('ClientHello: legacy_session_id of 33 bytes (outside <0..32>) is decode_error', (t) => {
  const { pair, hello } = helloFor();
  refusedTyped(t, toServer(pair, buildHello({ ...hello, sessionId: new Uint8Array(33).fill(7) })), A.decode_error);
});

test('ClientHello: legacy_version 0x0304 (or 0xffff) with supported_versions 0x0304 negotiates TLS 1.3 — only supported_versions counts (§4.2.1)', (t) => {
  for (const v of [0x0304, 0x03ff, 0xffff]) {
    const { pair, hello } = helloFor();
    const step = toServer(pair, buildHello({ ...hello, version: u16(v) }));
    accepted(t, step, `0x${v.toString(16)}`);
    t.is(helloIn(step.effects)?.extensions.supportedVersion, 0x0304, `0x${v.toString(16)}`);
  }
});

test('ClientHello: supported_versions of odd length, or with an empty list (outside <2..254>), is decode_error', (t) => {
  const a = helloFor();
  refusedTyped(t, toServer(a.pair, buildHello(setExt(a.hello, X.supported_versions, vec8(Uint8Array.of(3, 4, 3))))), A.decode_error, 'odd');
  const b = helloFor();
  refusedTyped(t, toServer(b.pair, buildHello(setExt(b.hello, X.supported_versions, vec8(new Uint8Array(0))))), A.decode_error, 'empty');
  const c = helloFor();
  refusedTyped(t, toServer(c.pair, buildHello(setExt(c.hello, X.supported_versions, new Uint8Array(0)))), A.decode_error, 'no list at all');
});

test('ClientHello: supported_versions of only GREASE and 0x0303 gets TLS 1.2 with the DOWNGRD 01 sentinel; a TLS 1.3-only server says protocol_version', (t) => {
  const a = helloFor();
  const step = toServer(a.pair, buildHello(setExt(a.hello, X.supported_versions, vec8(u16s([0x3a3a, 0x0303])))));
  accepted(t, step, 'default server');
  const sh = helloIn(step.effects);
  t.truthy(sh, 'a ServerHello');
  t.is(sh?.extensions.supportedVersion, undefined, 'a TLS 1.2 ServerHello has no supported_versions');
  t.is(sh?.legacyVersion, 0x0303);
  t.deepEqual(Array.from(sh!.random.subarray(24)), Array.from(DOWNGRADE_TLS12), 'RFC 8446 §4.1.3 sentinel');
  const b = helloFor({ minVersion: 'TLSv1.3' });
  refusedTyped(t, toServer(b.pair, buildHello(setExt(b.hello, X.supported_versions, vec8(u16s([0x3a3a, 0x0303]))))), A.protocol_version, 'TLS 1.3-only server');
});

test('ClientHello: TLS_FALLBACK_SCSV in a ClientHello that offers TLS 1.3 is no fallback: TLS 1.3 (RFC 7507 §3)', (t) => {
  const { pair, hello } = helloFor();
  const step = toServer(pair, buildHello({ ...hello, suites: cat(hello.suites, u16(0x5600)) }));
  accepted(t, step);
  t.is(helloIn(step.effects)?.extensions.supportedVersion, 0x0304);
});

// ============================================================================================================
// 2. GREASE (RFC 8701): unknown values everywhere are ignored

test('GREASE: cipher suites (0x0a0a, 0xfafa, beside the renegotiation SCSV) and signature_algorithms values (0x0a0a, 0x1a1a) are ignored', (t) => {
  const a = helloFor();
  const step = toServer(a.pair, buildHello({ ...a.hello, suites: cat(u16s([0x0a0a, 0x00ff]), a.hello.suites, u16s([0xfafa])) }));
  accepted(t, step, 'suites');
  const sh = helloIn(step.effects);
  t.true(sh !== undefined && [0x1301, 0x1302, 0x1303].includes(sh.cipherSuite), `suite 0x${sh?.cipherSuite.toString(16)}`);
  const b = helloFor();
  const sigs = toServer(b.pair, buildHello(setExt(b.hello, X.signature_algorithms, vec16(u16s([0x0a0a, 0x1a1a, S.ecdsa_secp256r1_sha256, S.rsa_pss_rsae_sha256])))));
  accepted(t, sigs, 'signature_algorithms');
  t.truthy(helloIn(sigs.effects), 'a ServerHello');
});

test('GREASE: extension types 0x0a0a (empty), 0x2a2a (one byte) and 0xfafa (16 bytes) are ignored and not echoed in the ServerHello', (t) => {
  const { pair, hello } = helloFor();
  const exts: RawExt[] = [
    { type: 0x0a0a, data: new Uint8Array(0) },
    ...hello.exts.slice(0, 2),
    { type: 0x2a2a, data: Uint8Array.of(0) },
    ...hello.exts.slice(2),
    { type: 0xfafa, data: new Uint8Array(16).fill(0xfa) },
  ];
  const step = toServer(pair, buildHello({ ...hello, exts }));
  accepted(t, step);
  const sh = helloIn(step.effects);
  t.truthy(sh);
  t.deepEqual(sh?.extensions.unknown, [], 'nothing unknown echoed');
});

test('GREASE: an ALPN protocol name "\\x0a\\x0a" before "h2" is ignored; the server selects h2', (t) => {
  const { pair, hello } = helloFor({ alpnProtocols: ['h2'] }, { alpnProtocols: ['h2'] });
  const list = vec16(cat(vec8(Uint8Array.of(0x0a, 0x0a)), vec8(text('h2'))));
  const step = toServer(pair, buildHello(setExt(hello, X.application_layer_protocol_negotiation, list)));
  accepted(t, step);
  t.is(serverAlpn(step.state), 'h2');
});

test('GREASE: psk_key_exchange_modes [0x0b, psk_dhe_ke] with a ticket resumes; [0x0b, 0x2a] only gets a full handshake (RFC 8701 §2)', (t) => {
  const server = serverCfg();
  const [s1, s2] = sessionsFrom(server);
  const a = helloFor(server);
  const msg = withTicket(a.pair, setExt(a.hello, X.psk_key_exchange_modes, vec8(Uint8Array.of(0x0b, 1))), s1!);
  const step = toServer(a.pair, msg);
  accepted(t, step, 'GREASE and psk_dhe_ke');
  t.is(helloIn(step.effects)?.extensions.preSharedKey, 0, 'resumed');
  const b = helloFor(server);
  const only = toServer(b.pair, withTicket(b.pair, setExt(b.hello, X.psk_key_exchange_modes, vec8(Uint8Array.of(0x0b, 0x2a))), s2!));
  accepted(t, only, 'GREASE only');
  const sh = helloIn(only.effects);
  t.truthy(sh, 'a ServerHello');
  t.is(sh?.extensions.preSharedKey, undefined, 'no PSK without a known mode');
  t.truthy(sh?.extensions.keyShare, 'a full (EC)DHE handshake');
});

// ============================================================================================================
// 3. ClientHello extensions: vector bounds, duplicates, odd contents

test('ClientHello: two extensions of the same unknown (GREASE) type, or two early_data, is illegal_parameter (§4.2)', (t) => {
  const a = helloFor();
  refusedTyped(t, toServer(a.pair, buildHello({ ...a.hello, exts: [...a.hello.exts, { type: 0x4a4a, data: new Uint8Array(0) }, { type: 0x4a4a, data: Uint8Array.of(1) }] })), A.illegal_parameter, 'GREASE twice');
  const b = helloFor();
  const ed = { type: X.early_data, data: new Uint8Array(0) };
  refusedTyped(t, toServer(b.pair, buildHello({ ...b.hello, exts: [ed, ...b.hello.exts, ed] })), A.illegal_parameter, 'early_data twice');
});

test('ClientHello: server_name with two host_name entries is refused (RFC 6066 §3: one name per type)', (t) => {
  const { pair, hello } = helloFor();
  const list = vec16(cat(Uint8Array.of(0), vec16(text('localhost')), Uint8Array.of(0), vec16(text('example.com'))));
  refusedWithOneOf(t, toServer(pair, buildHello(setExt(hello, X.server_name, list))), [A.decode_error, A.illegal_parameter]);
});

test('ClientHello: server_name with empty extension_data, an empty server_name_list or an empty host_name is decode_error (RFC 6066 §3 bounds)', (t) => {
  const cases: [string, Uint8Array][] = [
    ['empty extension_data', new Uint8Array(0)],
    ['empty list', vec16(new Uint8Array(0))],
    ['empty host_name', vec16(cat(Uint8Array.of(0), vec16(new Uint8Array(0))))],
  ];
  for (const [what, data] of cases) {
    const { pair, hello } = helloFor();
    refusedTyped(t, toServer(pair, buildHello(setExt(hello, X.server_name, data))), A.decode_error, what);
  }
});

test('ClientHello: server_name holding an IP literal or a name with a trailing dot (not HostNames, RFC 6066 §3): never a throw, at most one alert', (t) => {
  for (const name of ['127.0.0.1', '::1', 'localhost.']) {
    const { pair, hello } = helloFor();
    const step = toServer(pair, buildHello(setExt(hello, X.server_name, vec16(cat(Uint8Array.of(0), vec16(text(name)))))));
    const sent = alertsSent(step.effects);
    t.log(`${name}: ${isClosed(step.state) ? `closed, ${sent.map(alertName).join()}` : 'accepted'}`);
    if (isClosed(step.state)) t.true(sent.length === 1 && ([A.illegal_parameter, A.decode_error, A.unrecognized_name] as number[]).includes(sent[0]!), name);
    else t.deepEqual(sent, [], name);
  }
});

test('ClientHello: an empty signature_algorithms list, or one of odd length, is decode_error (§4.2.3: <2..2^16-2>)', (t) => {
  const a = helloFor({ minVersion: 'TLSv1.3' });
  refusedTyped(t, toServer(a.pair, buildHello(setExt(a.hello, X.signature_algorithms, vec16(new Uint8Array(0))))), A.decode_error, 'empty');
  const b = helloFor({ minVersion: 'TLSv1.3' });
  refusedTyped(t, toServer(b.pair, buildHello(setExt(b.hello, X.signature_algorithms, vec16(Uint8Array.of(4, 3, 8))))), A.decode_error, 'odd');
});

test('ClientHello: signature_algorithms_cert that our chain does not match (rsa_pkcs1_sha1 only) does not stop the handshake (§4.4.2.2)', (t) => {
  const { pair, hello } = helloFor();
  const step = toServer(pair, buildHello(setExt(hello, X.signature_algorithms_cert, vec16(u16s([0x0201])))));
  accepted(t, step);
  t.truthy(helloIn(step.effects), 'the server answered with its certificate of choice');
});

test('ClientHello: an empty supported_groups or psk_key_exchange_modes list, or an early_data with a body, is decode_error (§4.2.7, §4.2.9, §4.2.10)', (t) => {
  const cases: [string, number, Uint8Array][] = [
    ['supported_groups <2..2^16-1>', X.supported_groups, vec16(new Uint8Array(0))],
    ['psk_key_exchange_modes <1..255>', X.psk_key_exchange_modes, vec8(new Uint8Array(0))],
    ['early_data: empty in a ClientHello', X.early_data, u32(0)],
  ];
  for (const [what, type, data] of cases) {
    const { pair, hello } = helloFor();
    refusedTyped(t, toServer(pair, buildHello(setExt(hello, type, data))), A.decode_error, what);
  }
});

test('ClientHello: an empty cookie is decode_error (§4.2.2: <1..2^16-1>); an unsolicited one in a first ClientHello is never a throw', (t) => {
  const a = helloFor();
  refusedTyped(t, toServer(a.pair, buildHello(setExt(a.hello, X.cookie, vec16(new Uint8Array(0))))), A.decode_error, 'empty');
  const b = helloFor();
  const step = toServer(b.pair, buildHello(setExt(b.hello, X.cookie, vec16(new Uint8Array(16).fill(1)))));
  const sent = alertsSent(step.effects);
  t.log(`unsolicited cookie: ${isClosed(step.state) ? `closed, ${sent.map(alertName).join()}` : 'accepted'}`);
  if (isClosed(step.state)) t.deepEqual(sent.map(alertName), [alertName(A.illegal_parameter)]);
  else t.truthy(helloIn(step.effects));
});

test('ClientHello: a padding extension of zeros is accepted and not echoed; non-zero padding is never a throw (RFC 7685 §3)', (t) => {
  const a = helloFor();
  const step = toServer(a.pair, buildHello(setExt(a.hello, X.padding, new Uint8Array(200))));
  accepted(t, step, 'zeros');
  t.deepEqual(helloIn(step.effects)?.extensions.unknown, [], 'not echoed');
  const b = helloFor();
  const odd = toServer(b.pair, buildHello(setExt(b.hello, X.padding, new Uint8Array(16).fill(0x55))));
  const sent = alertsSent(odd.effects);
  t.log(`non-zero padding: ${isClosed(odd.state) ? `closed, ${sent.map(alertName).join()}` : 'accepted'}`);
  if (isClosed(odd.state)) t.true(sent.length === 1 && ([A.illegal_parameter, A.decode_error] as number[]).includes(sent[0]!));
  else t.truthy(helloIn(odd.effects));
});

test('key_share: an empty client_shares list gets a HelloRetryRequest for a group the client supports (§4.2.8)', (t) => {
  const { pair, hello } = helloFor();
  const step = toServer(pair, buildHello(setExt(hello, X.key_share, keyShareData([]))));
  accepted(t, step);
  const h = helloIn(step.effects);
  t.deepEqual(Array.from(h?.random ?? []), Array.from(HRR_RANDOM), 'a HelloRetryRequest');
  const groups = hello.exts.find((e) => e.type === X.supported_groups)!.data;
  const offered: number[] = [];
  for (let o = 2; o < groups.length; o += 2) offered.push((groups[o]! << 8) | groups[o + 1]!);
  t.true(h?.extensions.selectedGroup !== undefined && offered.includes(h.extensions.selectedGroup), `selected 0x${h?.extensions.selectedGroup?.toString(16)}`);
});

// ============================================================================================================
// 4. Records: content types between fragments, versions, inner types (RFC 8446 §5.1, §5.2, §5.4)

test('server: a ClientHello fragmented across two records with a change_cipher_spec or a warning alert between is unexpected_message (§5.1)', (t) => {
  for (const [what, between] of [
    ['change_cipher_spec', plainRecord(20, Uint8Array.of(1))],
    ['user_canceled warning', plainRecord(21, Uint8Array.of(1, A.user_canceled))],
  ] as const) {
    const { pair, raw } = helloFor();
    refusedTyped(t, feed(pair.server, cat(plainRecord(22, raw.subarray(0, 60)), between, plainRecord(22, raw.subarray(60)))), A.unexpected_message, what);
  }
});

test('server: a change_cipher_spec before the ClientHello is unexpected_message (§5: only after the first ClientHello)', (t) => {
  const { pair, raw } = helloFor();
  refusedTyped(t, feed(pair.server, cat(plainRecord(20, Uint8Array.of(1)), plainRecord(22, raw))), A.unexpected_message);
});

test('server: a ClientHello record with legacy_record_version 0x0300, 0x0302, 0x0304 or 0x03ff is accepted (§5.1: MUST be ignored)', (t) => {
  for (const minor of [0x00, 0x02, 0x04, 0xff]) {
    const { pair, raw } = helloFor();
    const rec = cat(Uint8Array.of(22, 3, minor, raw.length >> 8, raw.length & 0xff), raw);
    const step = feed(pair.server, rec);
    accepted(t, step, `0x03${minor.toString(16).padStart(2, '0')}`);
    t.truthy(helloIn(step.effects), 'a ServerHello');
  }
});

test('client: a protected record whose header says legacy_record_version 0x0301 (authenticated as such) is accepted (§5.1)', (t) => {
  const { pair } = connected();
  const key = pair.client.rxKey!;
  const step = feed(pair.client, rawSeal(key, cat(text('v'), Uint8Array.of(23)), 0x0301));
  accepted(t, step);
  t.is(deliveredBy(step.effects), 'v');
});

test('client: a protected record with outer content type handshake (not application_data) is unexpected_message (§5.2)', (t) => {
  const { pair, toClient } = connected();
  const rec = Uint8Array.from(toClient(23, text('x')));
  rec[0] = 22;
  refusedTyped(t, feed(pair.client, rec), A.unexpected_message);
});

test('client: a protected record of inner content type 24 (heartbeat) or 99 (unknown) is unexpected_message', (t) => {
  for (const type of [24, 99]) {
    const { pair, toClient } = connected();
    refusedTyped(t, feed(pair.client, toClient(type, Uint8Array.of(1, 0, 0))), A.unexpected_message, `type ${type}`);
  }
});

// Found by this probe and fixed: a record whose AEAD ciphertext is just the 16-byte tag (an authentic, empty
// TLSInnerPlaintext) was refused from its length alone with bad_record_mac, without decryption.
// RFC 8446 §5.4: "If a receiving implementation does not find a non-zero octet in the cleartext, it MUST terminate the
// connection with an "unexpected_message" alert" — the record authenticates, so it is not a MAC failure (§5.2).
test('client: an authentic record whose TLSInnerPlaintext is empty (16-byte ciphertext) is unexpected_message (§5.4)', (t) => {
  const { pair } = connected();
  const rec = rawSeal(pair.client.rxKey!, new Uint8Array(0));
  t.is(rec.length, 5 + 16);
  refusedTyped(t, feed(pair.client, rec), A.unexpected_message);
});

test('client: a zero-length protected handshake record (inner type 22, no content) is unexpected_message (§5.1)', (t) => {
  const { pair, toClient } = connected();
  refusedTyped(t, feed(pair.client, toClient(22, new Uint8Array(0), 8)), A.unexpected_message);
});

test('client: a zero-length application_data record under the server handshake key, before its Finished, is unexpected_message', (t) => {
  const f = serverFlight();
  refusedTyped(t, feed(f.client, sealRecord(f.key, 23, new Uint8Array(0)).bytes), A.unexpected_message);
});

test('client: a change_cipher_spec before the ServerHello is dropped; the ServerHello is taken (§5)', (t) => {
  const f = serverFlight();
  const step = feed(f.pair.client, cat(plainRecord(20, Uint8Array.of(1)), f.shRecord));
  accepted(t, step);
  t.truthy(step.state.rxKey, 'handshake keys installed');
});

test('client: a change_cipher_spec right after the server Finished (in the same chunk) is unexpected_message (§5: only before the peer\'s Finished)', (t) => {
  const f = serverFlight();
  const step = feed(f.client, cat(sealHs(f.key, cat(...f.messages)), plainRecord(20, Uint8Array.of(1))));
  refusedTyped(t, step, A.unexpected_message);
});

test('client: a plaintext fatal alert in place of the ServerHello closes with alertReceived; nothing is sent back (§6.2)', (t) => {
  const c = startedClient();
  const step = feed(c.pair.client, plainRecord(21, Uint8Array.of(AlertLevel.fatal, A.handshake_failure)));
  t.true(isClosed(step.state));
  t.is(closedWith(step.effects)?.kind, 'alertReceived');
  t.is(closedWith(step.effects)?.alert, A.handshake_failure);
  t.deepEqual(alertsSent(step.effects), []);
  t.is(wireOf(step.effects).length, 0, 'nothing on the wire');
});

// Found by this probe and fixed: a change_cipher_spec arriving between two fragments of the server's
// EncryptedExtensions was dropped as a middlebox-compatibility CCS, and the handshake went on. RFC 8446 §5.1: "if a handshake message is split over two or more records, there MUST NOT be
// any other records between them" — unexpected_message, as the code already does for an alert or application data.
test('client: the server EncryptedExtensions split across two records with a change_cipher_spec between is unexpected_message (§5.1)', (t) => {
  const f = serverFlight({ middleboxCompat: false });
  t.false(f.ccsFromServer, 'no compatibility CCS from the server (empty session id)');
  const ee = f.messages[0]!;
  const first = sealRecord(f.key, 22, ee.subarray(0, 3));
  const second = sealRecord(first.key, 22, cat(ee.subarray(3), ...f.messages.slice(1)));
  refusedTyped(t, feed(f.client, cat(first.bytes, plainRecord(20, Uint8Array.of(1)), second.bytes)), A.unexpected_message);
});

// Found by this probe and fixed: the same on the server: a change_cipher_spec between two fragments of the client
// Finished (a client in no compatibility mode, which sent none) was dropped and the Finished completed the handshake. RFC 8446 §5.1 forbids
// any record between the fragments of a handshake message: unexpected_message.
test('server: the client Finished split across two records with a change_cipher_spec between is unexpected_message (§5.1)', (t) => {
  const pair = new Pair({ middleboxCompat: false }).start().serverRound();
  for (const d of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: NOW, data: d });
  const flight = splitRecords(cat(...pair.inbox.server.splice(0)));
  t.deepEqual(flight.map((r) => r.type), [23], 'the client sent its Finished alone, no CCS');
  const opened = openRecord(pair.server.rxKey!, flight[0]!.header, flight[0]!.fragment);
  if (opened.kind !== 'ok') return t.fail('open');
  const first = sealRecord(pair.server.rxKey!, 22, opened.content.subarray(0, 10));
  const second = sealRecord(first.key, 22, opened.content.subarray(10));
  refusedTyped(t, feed(pair.server, cat(first.bytes, plainRecord(20, Uint8Array.of(1)), second.bytes)), A.unexpected_message);
});

// ============================================================================================================
// 5. Post-handshake messages across records (RFC 8446 §5.1, §4.6)

test('client: a NewSessionTicket split across two records with application data or a warning alert between is unexpected_message (§5.1)', (t) => {
  for (const [what, type, content] of [
    ['application data', 23, text('between')],
    ['user_canceled warning', 21, Uint8Array.of(1, A.user_canceled)],
  ] as const) {
    const { pair, toClient } = connected();
    const m = nst();
    const step = feed(pair.client, cat(toClient(22, m.subarray(0, 10)), toClient(type, content), toClient(22, m.subarray(10))));
    refusedTyped(t, step, A.unexpected_message, what);
    t.is(deliveredBy(step.effects), '', `${what}: nothing delivered`);
  }
});

test('client: a KeyUpdate split across records whose second record also starts a NewSessionTicket is unexpected_message (§5.1)', (t) => {
  const { pair, toClient } = connected();
  const ku = Uint8Array.of(24, 0, 0, 1, 0);
  refusedTyped(t, feed(pair.client, cat(toClient(22, ku.subarray(0, 3)), toClient(22, cat(ku.subarray(3), nst().subarray(0, 3))))), A.unexpected_message);
});

test('client: a NewSessionTicket split across two records, the second ending with a KeyUpdate, then data under the new key: all taken', (t) => {
  const { pair, toClient } = connected();
  // The server's own KeyUpdate and the data it writes under its next key (its records not delivered).
  pair.input('server', { type: 'keyUpdate', now: NOW, requestPeer: false });
  pair.inbox.client.length = 0;
  pair.input('server', { type: 'write', now: NOW, data: text('after') });
  const data = cat(...pair.inbox.client.splice(0));
  const m = nst();
  const step = feed(pair.client, cat(toClient(22, m.subarray(0, 20)), toClient(22, cat(m.subarray(20), Uint8Array.of(24, 0, 0, 1, 0))), data));
  accepted(t, step);
  t.is(step.effects.filter((e) => e.type === 'session').length, 1, 'one session');
  t.is(deliveredBy(step.effects), 'after');
});

// ============================================================================================================
// 6. Alerts and closure (RFC 8446 §5.1, §6, §6.1)

test('alerts: an alert split across two protected records (1 + 1 byte), or two alerts coalesced in one, is refused (§5.1: exactly one alert per record)', (t) => {
  const a = connected();
  refusedWithOneOf(t, feed(a.pair.client, cat(a.toClient(21, Uint8Array.of(1)), a.toClient(21, Uint8Array.of(A.user_canceled)))), [A.decode_error, A.unexpected_message], 'split');
  const b = connected();
  refusedWithOneOf(t, feed(b.pair.client, b.toClient(21, Uint8Array.of(1, A.user_canceled, 1, A.close_notify))), [A.decode_error, A.unexpected_message], 'coalesced');
});

test('alerts: the alert an error sends goes out once at level fatal, plaintext before keys and protected after (§6.2)', (t) => {
  // Before keys: a plaintext [fatal, decode_error].
  const { pair, hello } = helloFor();
  const step = toServer(pair, buildHello({ ...hello, sessionId: new Uint8Array(33) }));
  t.deepEqual(step.effects.filter((e) => e.type === 'alertSent').map((e) => (e.type === 'alertSent' ? [e.level, e.description] : [])), [[AlertLevel.fatal, A.decode_error]]);
  t.deepEqual(Array.from(wireOf(step.effects)), [21, 3, 3, 0, 2, AlertLevel.fatal, A.decode_error]);
  // Under the client handshake key: the client refuses an EncryptedExtensions with a duplicated extension.
  const f = serverFlight();
  const ee = encryptedExtensions([{ type: X.server_name, data: new Uint8Array(0) }, { type: X.server_name, data: new Uint8Array(0) }]);
  const refusedStep = feed(f.client, sealHs(f.key, ee));
  const recs = splitRecords(wireOf(refusedStep.effects)).filter((r) => r.type === 23);
  t.is(recs.length, 1, 'one protected record');
  const opened = openRecord(f.pair.server.rxKey!, recs[0]!.header, recs[0]!.fragment);
  t.true(opened.kind === 'ok' && opened.type === 21, 'an alert record');
  if (opened.kind === 'ok') t.deepEqual(Array.from(opened.content), [AlertLevel.fatal, A.illegal_parameter]);
});

test('closure: application data after close_notify (in the same chunk or later) is not delivered and not fatal (§6.1)', (t) => {
  const { pair, toClient } = connected();
  const step = feed(pair.client, cat(toClient(23, text('before')), toClient(21, Uint8Array.of(1, A.close_notify)), toClient(23, text('after'))));
  accepted(t, step);
  t.is(deliveredBy(step.effects), 'before');
  t.true(step.effects.some((e) => e.type === 'peerClosed'));
  const later = feed(step.state, toClient(23, text('later')));
  accepted(t, later, 'later');
  t.is(deliveredBy(later.effects), '');
});

// Found by this probe and fixed: after the peer's close_notify, handshake records still reached the engine: a
// malformed KeyUpdate (request_update 7) was answered with illegal_parameter, and a valid KeyUpdate(update_requested)
// with a KeyUpdate of our own. RFC 8446 §6.1:
// "Any data received after a closure alert has been received MUST be ignored."
test('closure: a malformed handshake message after close_notify is ignored, no alert (§6.1)', (t) => {
  const { pair, toClient } = connected();
  const cn = feed(pair.client, toClient(21, Uint8Array.of(1, A.close_notify)));
  t.true(cn.effects.some((e) => e.type === 'peerClosed'));
  accepted(t, feed(cn.state, toClient(22, Uint8Array.of(24, 0, 0, 1, 7))));
});

// Found by this probe and fixed: after the peer's close_notify, a fatal alert closed the connection with an
// alertReceived error. RFC 8446 §6.1: "Any data received after a closure alert
// has been received MUST be ignored" — the half-closed connection stays as it was, and our side may still write.
test('closure: a fatal alert after close_notify is ignored (§6.1)', (t) => {
  const { pair, toClient } = connected();
  const cn = feed(pair.client, toClient(21, Uint8Array.of(1, A.close_notify)));
  t.true(cn.effects.some((e) => e.type === 'peerClosed'));
  const step = feed(cn.state, toClient(21, Uint8Array.of(2, A.internal_error)));
  t.is(closedWith(step.effects), undefined, 'no error');
  t.false(isClosed(step.state), 'still half-open');
});

test('closure: close_notify and user_canceled at level fatal are closure alerts, not errors: their level is ignored (§6)', (t) => {
  const a = connected();
  const cn = feed(a.pair.client, a.toClient(21, Uint8Array.of(AlertLevel.fatal, A.close_notify)));
  t.true(cn.effects.some((e) => e.type === 'peerClosed'), 'close_notify: the peer closed');
  t.is(closedWith(cn.effects), undefined, 'close_notify: no error');
  t.deepEqual(alertsSent(cn.effects), []);
  const b = connected();
  const uc = feed(b.pair.client, b.toClient(21, Uint8Array.of(AlertLevel.fatal, A.user_canceled)));
  accepted(t, uc, 'user_canceled');
  const data = feed(uc.state, b.toClient(23, text('still here')));
  accepted(t, data, 'data after user_canceled');
  t.is(deliveredBy(data.effects), 'still here');
});

test('closure: user_canceled during the handshake, then close_notify: the handshake ends, no alert sent back (§6.1)', (t) => {
  const pair = new Pair().start().serverRound();
  let key = pair.server.rxKey!;
  const uc = sealRecord(key, 21, Uint8Array.of(1, A.user_canceled));
  key = uc.key;
  const first = feed(pair.server, uc.bytes);
  accepted(t, first, 'user_canceled alone');
  const second = feed(first.state, sealRecord(key, 21, Uint8Array.of(1, A.close_notify)).bytes);
  t.true(isClosed(second.state), 'closed');
  t.deepEqual(alertsSent(second.effects), [], 'nothing sent back');
  t.false(isConnected(second.state));
});

test('closure: half-close — after our close_notify the peer may still send, and its data is delivered (§6.1)', (t) => {
  const pair = new Pair().start().drive();
  pair.input('client', { type: 'end', now: NOW });
  pair.drive();
  t.true(pair.effects.server.some((e) => e.type === 'peerClosed'), 'the server saw close_notify');
  pair.input('server', { type: 'write', now: NOW, data: text('late reply') });
  pair.drive();
  t.is(str(pair.delivered.client), 'late reply');
  pair.input('server', { type: 'end', now: NOW });
  pair.drive();
  t.true(isClosed(pair.client) && isClosed(pair.server));
  t.is(pair.closedError('client'), undefined);
  t.is(pair.closedError('server'), undefined);
});

test('closure: after our close_notify, a KeyUpdate with update_requested is taken (data under the new key delivered) and not answered (§4.6.3, §6.1)', (t) => {
  const { pair } = connected();
  pair.input('client', { type: 'end', now: NOW });
  pair.inbox.server.length = 0;
  pair.inbox.client.length = 0;
  pair.input('server', { type: 'keyUpdate', now: NOW, requestPeer: true });
  pair.input('server', { type: 'write', now: NOW, data: text('rekeyed') });
  const step = feed(pair.client, cat(...pair.inbox.client.splice(0)));
  accepted(t, step);
  t.is(deliveredBy(step.effects), 'rekeyed');
  t.is(wireOf(step.effects).length, 0, 'nothing sent after our close_notify');
});

// ============================================================================================================
// 7. Client: ServerHello (RFC 8446 §4.1.3, §4.2)

test('client: a ServerHello with legacy_version 0x0304 (or 0x0301) and supported_versions 0x0304 is accepted: the legacy field is ignored (§4.2.1)', (t) => {
  for (const v of [0x0304, 0x0301]) {
    const f = serverFlight();
    const step = feed(f.pair.client, serverHello({ ...f.sh, legacyVersion: v }));
    accepted(t, step, `0x${v.toString(16)}`);
    t.truthy(step.state.rxKey, 'handshake keys installed');
  }
});

test('client: a ServerHello with two key_share extensions is illegal_parameter (§4.2)', (t) => {
  const f = serverFlight();
  const ks = { type: X.key_share, data: cat(u16(f.sh.extensions.keyShare!.group), vec16(f.sh.extensions.keyShare!.keyExchange)) };
  const msg = rawServerHello(f.sh.random, f.sh.legacySessionIdEcho, f.sh.cipherSuite, [{ type: X.supported_versions, data: u16(0x0304) }, ks, ks]);
  refusedTyped(t, feed(f.pair.client, plainRecord(22, msg)), A.illegal_parameter);
});

test('client: a ServerHello supported_versions of 1 or 3 bytes, or a key_share with an empty key_exchange, is decode_error (§4.2.1, §4.2.8)', (t) => {
  for (const data of [Uint8Array.of(3), Uint8Array.of(3, 4, 0)]) {
    const f = serverFlight();
    const ks = { type: X.key_share, data: cat(u16(f.sh.extensions.keyShare!.group), vec16(f.sh.extensions.keyShare!.keyExchange)) };
    const msg = rawServerHello(f.sh.random, f.sh.legacySessionIdEcho, f.sh.cipherSuite, [ks, { type: X.supported_versions, data }]);
    refusedTyped(t, feed(f.pair.client, plainRecord(22, msg)), A.decode_error, `supported_versions of ${data.length} bytes`);
  }
  const f = serverFlight();
  const msg = rawServerHello(f.sh.random, f.sh.legacySessionIdEcho, f.sh.cipherSuite, [
    { type: X.supported_versions, data: u16(0x0304) },
    { type: X.key_share, data: cat(u16(G.x25519), vec16(new Uint8Array(0))) },
  ]);
  refusedTyped(t, feed(f.pair.client, plainRecord(22, msg)), A.decode_error, 'empty key_exchange');
});

test('client: a ServerHello without key_share is missing_extension — in a full handshake, and accepting a PSK when the client allows psk_dhe_ke only (§4.2.8, §4.2.9)', (t) => {
  const f = serverFlight();
  const msg = rawServerHello(f.sh.random, f.sh.legacySessionIdEcho, f.sh.cipherSuite, [{ type: X.supported_versions, data: u16(0x0304) }]);
  refusedTyped(t, feed(f.pair.client, plainRecord(22, msg)), A.missing_extension, 'full handshake');
  const r = resumedFlight();
  t.deepEqual(r.ch.extensions.pskKeyExchangeModes, [1], 'psk_dhe_ke only');
  const { keyShare: _dropped, ...rest } = r.sh.extensions;
  refusedTyped(t, feed(r.pair.client, serverHello({ ...r.sh, extensions: { ...rest, order: [] } })), A.missing_extension, 'PSK accepted');
});

test('client: a TLS 1.2 ServerHello ending with the TLS 1.1 sentinel "DOWNGRD" 00 is illegal_parameter (§4.1.3)', (t) => {
  const pair = new Pair({}, { maxVersion: 'TLSv1.2' }).start().serverRound();
  const forged = rewriteFirstMessage(pair.inbox.client.shift()!, (sh) => withRandomTail(sh, DOWNGRADE_TLS11));
  refusedTyped(t, feed(pair.client, forged), A.illegal_parameter);
});

test('client: resumption — a ServerHello accepting the PSK with a suite of another hash (SHA-384 for a SHA-256 ticket) is illegal_parameter (§4.2.11)', (t) => {
  const f = resumedFlight();
  t.not(f.session.suite, 0x1302, 'a SHA-256 ticket');
  t.true(f.ch.cipherSuites.includes(0x1302), 'the client offers TLS_AES_256_GCM_SHA384 too');
  refusedTyped(t, feed(f.pair.client, serverHello({ ...f.sh, cipherSuite: 0x1302 })), A.illegal_parameter);
});

// ============================================================================================================
// 8. Client: HelloRetryRequest (RFC 8446 §4.1.4, §4.2.2)

test('client: a TLS 1.2 ServerHello after a HelloRetryRequest is illegal_parameter (§4.1.4: selected_version retained)', (t) => {
  const c = startedClient();
  const s1 = feed(c.pair.client, serverHello(hrr(c.ch, { selectedGroup: G.secp256r1 })));
  accepted(t, s1);
  const sh12 = hsMsg(2, cat(u16(0x0303), new Uint8Array(32).fill(3), vec8(c.ch.legacySessionId), u16(0xc02b), Uint8Array.of(0), vec16(new Uint8Array(0))));
  refusedTyped(t, feed(s1.state, plainRecord(22, sh12)), A.illegal_parameter);
});

test('client: a HelloRetryRequest carrying pre_shared_key or early_data is illegal_parameter (§4.2: not allowed in HelloRetryRequest)', (t) => {
  for (const [name, ext] of [
    ['pre_shared_key', { type: X.pre_shared_key, data: u16(0) }],
    ['early_data', { type: X.early_data, data: new Uint8Array(0) }],
  ] as const) {
    const c = startedClient();
    const msg = rawServerHello(HRR_RANDOM, c.ch.legacySessionId, 0x1301, [{ type: X.supported_versions, data: u16(0x0304) }, { type: X.key_share, data: u16(G.secp256r1) }, ext]);
    refusedTyped(t, feed(c.pair.client, plainRecord(22, msg)), A.illegal_parameter, name);
  }
});

test('client: a HelloRetryRequest with an empty cookie is decode_error (§4.2.2: <1..2^16-1>)', (t) => {
  const c = startedClient();
  const msg = rawServerHello(HRR_RANDOM, c.ch.legacySessionId, 0x1301, [{ type: X.supported_versions, data: u16(0x0304) }, { type: X.cookie, data: vec16(new Uint8Array(0)) }]);
  refusedTyped(t, feed(c.pair.client, plainRecord(22, msg)), A.decode_error);
});

test('client: a HelloRetryRequest with legacy_compression_method 1, or whose supported_versions selects 0x0303, is illegal_parameter (§4.1.4)', (t) => {
  const a = startedClient();
  refusedTyped(t, feed(a.pair.client, serverHello({ ...hrr(a.ch, { selectedGroup: G.secp256r1 }), legacyCompressionMethod: 1 })), A.illegal_parameter, 'compression');
  const b = startedClient();
  refusedTyped(t, feed(b.pair.client, serverHello(hrr(b.ch, { selectedGroup: G.secp256r1, supportedVersion: 0x0303 }))), A.illegal_parameter, 'selected_version 0x0303');
});

test('client: a HelloRetryRequest with a cookie only: the second ClientHello echoes the cookie, keeps random, session id and key share (§4.1.2, §4.2.2)', (t) => {
  const c = startedClient();
  const cookie = Uint8Array.from({ length: 40 }, (_, i) => i);
  const step = feed(c.pair.client, serverHello(hrr(c.ch, { cookie })));
  accepted(t, step);
  const rec = splitRecords(wireOf(step.effects)).find((r) => r.type === 22);
  const ch2 = rec && decodeHandshakeBytes(rec.fragment);
  if (ch2?.type !== 'client_hello') return t.fail('no second ClientHello');
  t.is(hex(ch2.body.extensions.cookie ?? new Uint8Array(0)), hex(cookie), 'cookie echoed');
  t.is(hex(ch2.body.random), hex(c.ch.random), 'same random');
  t.is(hex(ch2.body.legacySessionId), hex(c.ch.legacySessionId), 'same legacy_session_id');
  t.deepEqual(ch2.body.extensions.keyShares?.map((k) => [k.group, hex(k.keyExchange)]), c.ch.extensions.keyShares?.map((k) => [k.group, hex(k.keyExchange)]), 'same key shares');
  t.is(ch2.body.extensions.earlyData, undefined);
});

// ============================================================================================================
// 9. Client: EncryptedExtensions (RFC 8446 §4.3.1, §4.2; RFC 6066; RFC 7301)

test('client: EncryptedExtensions with a duplicated extension (ALPN twice) is illegal_parameter (§4.2)', (t) => {
  const f = serverFlight({ alpnProtocols: ['h2'] }, { alpnProtocols: ['h2'] });
  const alpn = { type: X.application_layer_protocol_negotiation, data: vec16(vec8(text('h2'))) };
  refusedTyped(t, feed(f.client, sealHs(f.key, encryptedExtensions([alpn, alpn]))), A.illegal_parameter);
});

test('client: EncryptedExtensions ALPN naming two protocols is illegal_parameter (RFC 7301 §3.1: exactly one)', (t) => {
  const f = serverFlight({ alpnProtocols: ['h2', 'http/1.1'] }, { alpnProtocols: ['h2'] });
  const alpn = { type: X.application_layer_protocol_negotiation, data: vec16(cat(vec8(text('h2')), vec8(text('http/1.1')))) };
  refusedTyped(t, feed(f.client, sealHs(f.key, encryptedExtensions([alpn]))), A.illegal_parameter);
});

test('client: an EncryptedExtensions server_name acknowledgement or early_data with a body is decode_error (RFC 6066 §3, RFC 8446 §4.2.10: empty)', (t) => {
  const f = serverFlight();
  t.truthy(f.ch.extensions.serverName, 'the client sent SNI');
  refusedTyped(t, feed(f.client, sealHs(f.key, encryptedExtensions([{ type: X.server_name, data: vec16(new Uint8Array(0)) }]))), A.decode_error, 'server_name');
  const g = serverFlight();
  refusedTyped(t, feed(g.client, sealHs(g.key, encryptedExtensions([{ type: X.early_data, data: u32(0) }]))), A.decode_error, 'early_data');
});

test('client: EncryptedExtensions carrying the server\'s supported_groups is accepted (§4.2.7)', (t) => {
  const f = serverFlight();
  const step = feed(f.client, sealHs(f.key, encryptedExtensions([{ type: X.supported_groups, data: vec16(u16s([G.secp256r1, G.x25519])) }])));
  accepted(t, step);
});

// ============================================================================================================
// 10. Client: Certificate, CertificateVerify, Finished (RFC 8446 §4.4)

test('client: a server Certificate entry with an empty cert_data is decode_error (§4.4.2: <1..2^24-1>)', (t) => {
  const f = serverFlight();
  const cert = hsMsg(11, cat(vec8(new Uint8Array(0)), vec24(cat(vec24(new Uint8Array(0)), vec16(new Uint8Array(0))))));
  refusedTyped(t, feed(f.client, sealHs(f.key, cat(f.messages[0]!, cert))), A.decode_error);
});

test('client: a server CertificateVerify signed over the client context string is decrypt_error; re-signed over the server one it is accepted (§4.4.3)', (t) => {
  const forge = (context: string) => {
    const f = serverFlight();
    const cv = decodeHandshakeBytes(f.messages[2]!);
    if (cv.type !== 'certificate_verify' || cv.body.scheme !== S.ecdsa_secp256r1_sha256) throw new Error('expected an ecdsa_secp256r1_sha256 CertificateVerify');
    const hash = f.sh.cipherSuite === 0x1302 ? 'sha384' : 'sha256';
    const content = cvContent(context, H(hash, [f.chRaw, f.shRaw, f.messages[0]!, f.messages[1]!]));
    const forged = hsMsg(15, cat(u16(S.ecdsa_secp256r1_sha256), vec16(ecdsaSign(fixture('server-ec-key.pem'), 'sha256', content))));
    // The Finished is left out: it covers the genuine CertificateVerify (ECDSA signatures differ each time).
    return feed(f.client, sealHs(f.key, cat(f.messages[0]!, f.messages[1]!, forged)));
  };
  accepted(t, forge('TLS 1.3, server CertificateVerify'), 'control: re-signed over the server context');
  refusedTyped(t, forge('TLS 1.3, client CertificateVerify'), A.decrypt_error, 'client context');
});

test('client: a server CertificateVerify with an empty signature is decrypt_error (or decode_error)', (t) => {
  const f = serverFlight();
  const cv = hsMsg(15, cat(u16(S.ecdsa_secp256r1_sha256), vec16(new Uint8Array(0))));
  refusedWithOneOf(t, feed(f.client, sealHs(f.key, cat(f.messages[0]!, f.messages[1]!, cv))), [A.decrypt_error, A.decode_error]);
});

test('client: a server Finished of 1, 31, 33 or 48 bytes (not the hash length) is decode_error (§4.4.4)', (t) => {
  for (const n of [1, 31, 33, 48]) {
    const f = serverFlight({ cipherSuites: ['TLS_AES_128_GCM_SHA256'] });
    const fin = hsMsg(20, new Uint8Array(n).fill(0x33));
    refusedTyped(t, feed(f.client, sealHs(f.key, cat(...f.messages.slice(0, 3), fin))), A.decode_error, `${n} bytes`);
  }
});

test('client: resumption — a Certificate or a CertificateRequest after EncryptedExtensions is unexpected_message (§4.3.2, §4.4.2: none with a PSK)', (t) => {
  const f = resumedFlight();
  t.is(f.messages.length, 2, 'EncryptedExtensions, Finished');
  const full = serverFlight();
  refusedTyped(t, feed(f.client, sealHs(f.key, cat(f.messages[0]!, full.messages[1]!))), A.unexpected_message, 'Certificate');
  const g = resumedFlight();
  const cr = encodeHandshakeBytes({ type: 'certificate_request', body: { context: new Uint8Array(0), signatureAlgorithms: [S.ecdsa_secp256r1_sha256], unknown: [], order: [] } });
  refusedTyped(t, feed(g.client, sealHs(g.key, cat(g.messages[0]!, cr))), A.unexpected_message, 'CertificateRequest');
});

// ============================================================================================================
// 11. Server: its own hellos, and the second ClientHello (RFC 8446 §4.1.3, §4.1.4)

/** A client sharing X25519 only and a server taking P-256 only: the HelloRetryRequest, and the second ClientHello. */
function retried(clientExtra: Partial<TlsClientConfig> = {}) {
  const pair = new Pair({ groups: ['x25519', 'secp256r1'], ...clientExtra }, { groups: ['secp256r1'] }).start();
  const ch1 = parseHello(splitRecords(pair.inbox.server[0]!)[0]!.fragment);
  pair.serverRound();
  const answer = splitRecords(cat(...pair.inbox.client));
  for (const d of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: pair.now, data: d });
  const recs = splitRecords(cat(...pair.inbox.server.splice(0))).filter((r) => r.type === 22);
  return { pair, ch1, answer, hello2: parseHello(recs[0]!.fragment) };
}

test('server: its HelloRetryRequest — HRR random, legacy_version 0x0303, the session id echoed, null compression, supported_versions and key_share only, then one CCS (§4.1.4, §D.4)', (t) => {
  const { ch1, answer } = retried();
  t.deepEqual(answer.map((r) => r.type), [22, 20], 'HelloRetryRequest, then the compatibility CCS');
  t.deepEqual(Array.from(answer[1]!.fragment), [1]);
  const m = decodeHandshakeBytes(answer[0]!.fragment);
  if (m.type !== 'server_hello') return t.fail('not a ServerHello');
  const h = m.body;
  t.is(hex(h.random), hex(HRR_RANDOM));
  t.is(h.legacyVersion, 0x0303);
  t.is(hex(h.legacySessionIdEcho), hex(ch1.sessionId));
  t.is(h.legacyCompressionMethod, 0);
  t.is(h.extensions.supportedVersion, 0x0304);
  t.is(h.extensions.selectedGroup, G.secp256r1);
  t.is(h.extensions.cookie, undefined);
  t.deepEqual(h.extensions.unknown, []);
});

test('server: its ServerHello — legacy_version 0x0303, a fresh random (not the HRR value, no downgrade sentinel), null compression, supported_versions and key_share only (§4.1.3)', (t) => {
  const { pair, hello } = helloFor();
  const step = toServer(pair, buildHello(hello));
  const sh = helloIn(step.effects);
  if (!sh) return t.fail('no ServerHello');
  t.is(sh.legacyVersion, 0x0303);
  t.not(hex(sh.random), hex(HRR_RANDOM));
  t.not(hex(sh.random.subarray(24)), hex(DOWNGRADE_TLS12));
  t.not(hex(sh.random.subarray(24)), hex(DOWNGRADE_TLS11));
  t.is(hex(sh.legacySessionIdEcho), hex(hello.sessionId));
  t.is(sh.legacyCompressionMethod, 0);
  t.is(sh.extensions.supportedVersion, 0x0304);
  t.truthy(sh.extensions.keyShare);
  t.is(sh.extensions.preSharedKey, undefined);
  t.deepEqual(sh.extensions.unknown, []);
});

test('server: a second ClientHello whose supported_groups no longer lists the group of its key share is illegal_parameter (§4.2.8)', (t) => {
  const { pair, hello2 } = retried();
  refusedTyped(t, toServer(pair, buildHello(setExt(hello2, X.supported_groups, vec16(u16s([G.x25519]))))), A.illegal_parameter);
});

test('server: a second ClientHello that no longer offers TLS 1.3 is refused (protocol_version or illegal_parameter)', (t) => {
  const { pair, hello2 } = retried();
  refusedWithOneOf(t, toServer(pair, buildHello(setExt(hello2, X.supported_versions, vec8(u16s([0x0303]))))), [A.protocol_version, A.illegal_parameter]);
});

test('server control: a ClientHello in two records followed by a change_cipher_spec is accepted (the baseline of the interleaving probes)', (t) => {
  const { pair, raw } = helloFor();
  const step = feedAll(pair.server, [cat(plainRecord(22, raw.subarray(0, 60)), plainRecord(22, raw.subarray(60)), plainRecord(20, Uint8Array.of(1)))]);
  accepted(t, step);
  t.truthy(helloIn(step.effects));
});
