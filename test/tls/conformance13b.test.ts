/**
 * TLS 1.3 conformance probes, part 2: resumption, tickets, 0-RTT, HelloRetryRequest and post-handshake messages
 * (RFC 8446 §4.1.2, §4.1.4, §4.2.10, §4.2.11, §4.6.1, §4.6.3, §8), in the style of tlsfuzzer's
 * test-tls13-session-resumption, test-tls13-0rtt-garbage, test-tls13-count-tickets and test-tls13-hrr scripts and
 * of TLS-Anvil. ClientHello/ServerHello/EncryptedExtensions checks live in conformance13.test.ts, the basics of
 * resumption and 0-RTT in resumption.test.ts; they are not repeated here. The stateless (DTLS) cookie, tampered
 * or not, is covered by test/handshake/dtls.test.ts.
 *
 * Tests that found a deviation from the RFC when they were written say so ("found by this probe and fixed").
 */
import test from 'ava';
import { Pair, NOW, text, str } from '../helpers/pair.js';
import { handshakeInfo, isClosed, isConnected, type TlsState } from '../../src/tls/connection.js';
import { openRecord, plainRecord, sealRecord, type RecordKey } from '../../src/tls/record.js';
import { decodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { AlertDescription as A, ExtensionType as X, alertName } from '../../src/wire/tls/constants.js';
import { createTicketer, type TlsSession } from '../../src/handshake/session.js';
import { binderKey, earlySecret, finishedVerifyData } from '../../src/crypto/keySchedule.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import type { NewSessionTicket, ServerHello } from '../../src/wire/tls/messages.js';
import type { TlsEffect } from '../../src/tls/types.js';
import { splitMessages } from '../helpers/tls12.js';
import {
  G, accepted, alertsSent, buildHello, capturedEarlyFlight, cat, dropExt, extBlock, feed, feedAll, helloFor, hsMsg, keyShareData, parseHello, refused,
  serverCfg, sessionsFrom, setExt, splitRecords, toServer, u16, u16s, u32, vec16, vec8, zeroRtt, type RawHello,
} from '../helpers/tls13Wire.js';

// ------------------------------------------------------------------------------------------------------------
// Byte helpers (the rest are in ../helpers/tls13Wire.ts)

/** The handshake messages in protected records of `wire`, opened from `key` on (other content types skipped). */
function openHandshake(key: RecordKey, wire: Uint8Array): { messages: Uint8Array[]; key: RecordKey } {
  let k = key;
  const parts: Uint8Array[] = [];
  for (const r of splitRecords(wire)) {
    if (r.type !== 23) continue;
    const o = openRecord(k, r.header, r.fragment);
    if (o.kind !== 'ok') throw new Error(`cannot open a record (${o.kind})`);
    k = o.key;
    if (o.type === 22) parts.push(o.content);
  }
  return { messages: splitMessages(cat(...parts)), key: k };
}

/** A garbage "0-RTT" record: application_data of `n` random-looking bytes that open under no key. */
const garbage = (n: number, seed = 0x5a) => plainRecord(23, Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

/** The key_share entry of `group` in `h`'s key_share extension. */
const shareOf = (h: RawHello, group: number): Uint8Array => {
  const ks = h.exts.find((e) => e.type === X.key_share)!.data;
  for (let o = 2; o < ks.length; ) {
    const g = (ks[o]! << 8) | ks[o + 1]!;
    const len = (ks[o + 2]! << 8) | ks[o + 3]!;
    if (g === group) return ks.subarray(o + 4, o + 4 + len);
    o += 4 + len;
  }
  throw new Error(`no share for ${group}`);
};

// ------------------------------------------------------------------------------------------------------------
// PSK binders, computed here (RFC 8446 §4.2.11.2)

interface Identity {
  readonly identity: Uint8Array;
  readonly age: number;
}
const pskExtData = (ids: readonly Identity[], binders: readonly Uint8Array[]) =>
  cat(vec16(cat(...ids.map((i) => cat(vec16(i.identity), u32(i.age))))), vec16(cat(...binders.map(vec8))));

/** A resumption binder for `psk` (SHA-256) over the transcript hash of `truncated`. */
function resBinder(pair: Pair, psk: Uint8Array, truncated: Uint8Array): Uint8Array {
  const p = pair.server.config.provider;
  const early = earlySecret(p, 'sha256', psk);
  return finishedVerifyData(p, 'sha256', binderKey(p, 'sha256', early, false), p.hash('sha256', truncated));
}

/**
 * `h` (without pre_shared_key) with a pre_shared_key of `ids` as the last extension; the binders of the indices in
 * `bind` are computed over the ClientHello truncated before the binders (RFC 8446 §4.2.11.2), the others are 32
 * bytes of 0x42. `truncate` moves where the binders are computed over (to forge a wrong truncation).
 */
function withPsk(pair: Pair, h: RawHello, ids: readonly Identity[], bind: ReadonlyMap<number, Uint8Array>, truncate?: (msg: Uint8Array, bindersLen: number) => Uint8Array): Uint8Array {
  const placeholders = ids.map(() => new Uint8Array(32).fill(0x42));
  const draft = buildHello(setExt(dropExt(h, X.pre_shared_key), X.pre_shared_key, pskExtData(ids, placeholders)));
  const bindersLen = 2 + placeholders.reduce((n, b) => n + 1 + b.length, 0);
  const truncated = truncate ? truncate(draft, bindersLen) : draft.subarray(0, draft.length - bindersLen);
  const binders = placeholders.map((b, i) => (bind.has(i) ? resBinder(pair, bind.get(i)!, truncated) : b));
  return buildHello(setExt(dropExt(h, X.pre_shared_key), X.pre_shared_key, pskExtData(ids, binders)));
}

const obfuscatedAge = (s: TlsSession, now: number) => (now - s.receivedAt + s.ageAdd) >>> 0;

// ------------------------------------------------------------------------------------------------------------
// Server answers

/** The server's first answer (ServerHello or HelloRetryRequest), decoded from what it sent towards the client. */
function serverHelloOf(pair: Pair): ServerHello | undefined {
  const recs = splitRecords(cat(...pair.inbox.client));
  const first = recs.find((r) => r.type === 22);
  if (!first) return undefined;
  const m = decodeHandshakeBytes(first.fragment);
  return m.type === 'server_hello' ? m.body : undefined;
}

/** The ServerHello (or HelloRetryRequest) among a step's transmits. */
function helloIn(effects: readonly TlsEffect[]): ServerHello | undefined {
  const recs = splitRecords(cat(...effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : []))));
  const first = recs.find((r) => r.type === 22);
  if (!first) return undefined;
  const m = decodeHandshakeBytes(first.fragment);
  return m.type === 'server_hello' ? m.body : undefined;
}

/** The server's early-data decision (the handshake engine's state). */
const earlyStatus = (s: TlsState) => (s.hs as unknown as { early: { status: string } }).early.status;

// ------------------------------------------------------------------------------------------------------------
// Client probes: NewSessionTicket (RFC 8446 §4.6.1)

const nstBody = (o: Partial<{ lifetime: number; ageAdd: number; nonce: Uint8Array; ticket: Uint8Array; exts: Uint8Array }> = {}) =>
  cat(u32(o.lifetime ?? 3600), u32(o.ageAdd ?? 0x01020304), vec8(o.nonce ?? Uint8Array.of(0)), vec16(o.ticket ?? new Uint8Array(48).fill(0xab)), vec16(o.exts ?? new Uint8Array(0)));

/** A connected pair (no ticketer: the client got no ticket) and a NewSessionTicket sealed to the client. */
function toClient(body: Uint8Array, clientCfg: Partial<TlsClientConfig> = {}) {
  const pair = new Pair(clientCfg).start().drive();
  const step = feed(pair.client, sealRecord(pair.client.rxKey!, 22, hsMsg(4, body)).bytes);
  const sessions = step.effects.flatMap((e) => (e.type === 'session' ? [e.session] : []));
  return { pair, step, sessions };
}

test('NST control: a well-formed NewSessionTicket becomes one session', (t) => {
  const { step, sessions } = toClient(nstBody());
  accepted(t, step);
  t.is(sessions.length, 1);
  t.is(sessions[0]!.lifetime, 3600);
  t.is(sessions[0]!.ageAdd, 0x01020304);
});

test('NST: ticket_lifetime 604801 (over 7 days) is illegal_parameter; exactly 604800 is accepted (§4.6.1)', (t) => {
  refused(t, toClient(nstBody({ lifetime: 604_801 })).step, A.illegal_parameter, '604801');
  refused(t, toClient(nstBody({ lifetime: 0xffff_ffff })).step, A.illegal_parameter, '2^32-1');
  const ok = toClient(nstBody({ lifetime: 604_800 }));
  accepted(t, ok.step, '604800');
  t.is(ok.sessions.length, 1);
});

test('NST: ticket_lifetime 0 means "discard immediately": no session, no alert (§4.6.1)', (t) => {
  const { step, sessions } = toClient(nstBody({ lifetime: 0 }));
  accepted(t, step);
  t.is(sessions.length, 0);
});

test('NST: an empty ticket (outside <1..2^16-1>) is decode_error', (t) => {
  refused(t, toClient(nstBody({ ticket: new Uint8Array(0) })).step, A.decode_error);
});

test('NST: a ticket_nonce of 255 bytes is accepted; a nonce length that overruns the message is decode_error', (t) => {
  const ok = toClient(nstBody({ nonce: new Uint8Array(255).fill(3) }));
  accepted(t, ok.step, '255-byte nonce');
  t.is(ok.sessions.length, 1);
  // A nonce cannot be over 255 bytes on the wire (opaque<0..255>): the nearest forgery is a length byte of 255 with
  // fewer bytes behind it than the message holds.
  const body = cat(u32(3600), u32(1), Uint8Array.of(0xff), new Uint8Array(40));
  refused(t, toClient(body).step, A.decode_error, 'overrun');
  // Trailing bytes after the extensions block.
  refused(t, toClient(cat(nstBody(), Uint8Array.of(0))).step, A.decode_error, 'trailing byte');
});

test('NST: early_data with max_early_data_size is kept in the session; a 2-byte early_data body is decode_error', (t) => {
  const ok = toClient(nstBody({ exts: extBlock([{ type: X.early_data, data: u32(12345) }]) }));
  accepted(t, ok.step);
  t.is(ok.sessions[0]?.maxEarlyData, 12345);
  refused(t, toClient(nstBody({ exts: extBlock([{ type: X.early_data, data: u16(1) }]) })).step, A.decode_error, '2-byte body');
});

test('NST: an unknown extension is ignored (§4.6.1, §4.2); GREASE too', (t) => {
  for (const type of [0x1234, 0x0a0a, 0xfafa]) {
    const ok = toClient(nstBody({ exts: extBlock([{ type, data: Uint8Array.of(1, 2, 3) }, { type: X.early_data, data: u32(100) }]) }));
    accepted(t, ok.step, `0x${type.toString(16)}`);
    t.is(ok.sessions.length, 1);
    t.is(ok.sessions[0]?.maxEarlyData, 100);
  }
});

test('NST: a known extension not allowed in NewSessionTicket (key_share, server_name) is illegal_parameter (§4.2)', (t) => {
  refused(t, toClient(nstBody({ exts: extBlock([{ type: X.key_share, data: new Uint8Array(0) }]) })).step, A.illegal_parameter, 'key_share');
  refused(t, toClient(nstBody({ exts: extBlock([{ type: X.server_name, data: new Uint8Array(0) }]) })).step, A.illegal_parameter, 'server_name');
});

test('NST: two early_data extensions in one ticket is refused (§4.2: no duplicate extensions)', (t) => {
  const step = toClient(nstBody({ exts: extBlock([{ type: X.early_data, data: u32(1) }, { type: X.early_data, data: u32(2) }]) })).step;
  const sent = alertsSent(step.effects);
  t.true(isClosed(step.state));
  t.true(sent.length === 1 && (sent[0] === A.illegal_parameter || sent[0] === A.decode_error), sent.map(alertName).join());
});

test('NST before the handshake completed (in the server flight, under the handshake key) is unexpected_message', (t) => {
  const pair = new Pair().start().serverRound();
  const recs = splitRecords(cat(...pair.inbox.client.splice(0)));
  const afterSh = feed(pair.client, recs[0]!.bytes);
  const key = afterSh.state.rxKey!;
  // Before EncryptedExtensions.
  refused(t, feed(afterSh.state, sealRecord(key, 22, hsMsg(4, nstBody())).bytes), A.unexpected_message, 'before EE');
  // Between EncryptedExtensions and the server Finished.
  const flight = openHandshake(key, cat(...recs.slice(1).map((r) => r.bytes))).messages;
  const ee = sealRecord(key, 22, flight[0]!);
  refused(t, feed(afterSh.state, cat(ee.bytes, sealRecord(ee.key, 22, hsMsg(4, nstBody())).bytes)), A.unexpected_message, 'after EE');
});

test('NST to a client that sent no psk_key_exchange_modes: ignored or kept, never fatal (§4.2.9)', (t) => {
  const { step, sessions } = toClient(nstBody(), { pskModes: [] });
  accepted(t, step);
  t.log(`sessions reported: ${sessions.length}`);
});

test('NST flood: 2000 tickets to a client: the connection stays up, each becomes a session event, the state does not grow', (t) => {
  const pair = new Pair().start().drive();
  const size = (s: TlsState) => JSON.stringify(s, (_k, v) => (v instanceof Uint8Array ? v.length : typeof v === 'bigint' ? 0 : v)).length;
  const before = size(pair.client);
  let key = pair.client.rxKey!;
  const records: Uint8Array[] = [];
  for (let i = 0; i < 2000; i++) {
    const r = sealRecord(key, 22, hsMsg(4, nstBody({ nonce: u16(i) })));
    records.push(r.bytes);
    key = r.key;
  }
  const step = feed(pair.client, cat(...records));
  accepted(t, step);
  const sessions = step.effects.filter((e) => e.type === 'session').length;
  t.log(`sessions reported: ${sessions}; state size ${before} → ${size(step.state)}`);
  t.is(sessions, 2000, 'the client keeps none itself: each ticket is handed to the application');
  t.true(size(step.state) < before + 1024, 'no per-ticket state');
});

// ------------------------------------------------------------------------------------------------------------
// Server probes: tickets issued (test-tls13-count-tickets)

/** The NewSessionTickets the server sent after the handshake, opened with the client's application read key. */
function ticketsSent(server: Partial<TlsServerConfig>, client: Partial<TlsClientConfig> = {}): NewSessionTicket[] {
  const pair = new Pair(client, server).start().serverRound();
  for (const d of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: pair.now, data: d });
  const key = pair.client.rxKey!;
  pair.serverRound();
  const { messages } = openHandshake(key, cat(...pair.inbox.client.splice(0)));
  return messages.map((m) => {
    const d = decodeHandshakeBytes(m);
    if (d.type !== 'new_session_ticket') throw new Error(`not a ticket: ${d.type}`);
    return d.body;
  });
}

test('tickets: the number sent is ticketCount (default 2; 0, 1, 5), none without a ticketer or to a client with no psk modes', (t) => {
  t.is(ticketsSent(serverCfg()).length, 2, 'default');
  for (const n of [0, 1, 5]) t.is(ticketsSent(serverCfg({ ticketCount: n })).length, n, `ticketCount ${n}`);
  t.is(ticketsSent({}).length, 0, 'no ticketer');
  t.is(ticketsSent(serverCfg(), { pskModes: [] }).length, 0, 'client without psk_key_exchange_modes');
});

test('tickets: each has a distinct nonce, a distinct ticket and a distinct ticket_age_add; lifetime within 7 days', (t) => {
  const tickets = ticketsSent(serverCfg({ ticketCount: 8, maxEarlyData: 4096 }));
  t.is(tickets.length, 8);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  t.is(new Set(tickets.map((x) => hex(x.nonce))).size, 8, 'nonces');
  t.is(new Set(tickets.map((x) => hex(x.ticket))).size, 8, 'tickets');
  t.is(new Set(tickets.map((x) => x.ageAdd)).size, 8, 'ticket_age_add');
  for (const x of tickets) {
    t.true(x.lifetime > 0 && x.lifetime <= 604_800);
    t.is(x.maxEarlyDataSize, 4096);
  }
  // And across connections: ticket_age_add is fresh per ticket, not per server.
  const again = ticketsSent(serverCfg({ ticketCount: 8 }));
  t.is(new Set([...tickets, ...again].map((x) => x.ageAdd)).size, 16);
});

test('tickets: every ticket issued resumes, once each', (t) => {
  const server = serverCfg({ ticketCount: 3 });
  const sessions = sessionsFrom(server);
  t.is(sessions.length, 3);
  for (const session of sessions) {
    const pair = new Pair({ session }, server).start().drive();
    t.true(handshakeInfo(pair.client)?.resumed, pair.closedError('server')?.message);
  }
});

// ------------------------------------------------------------------------------------------------------------
// Server probes: PSK (RFC 8446 §4.2.11)

test('PSK: control — a ClientHello rebound by this test (binder over the truncated hello) resumes', (t) => {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  const { pair, hello } = helloFor(server, {});
  const msg = withPsk(pair, hello, [{ identity: session!.ticket, age: obfuscatedAge(session!, pair.now) }], new Map([[0, session!.psk]]));
  pair.input('server', { type: 'received', now: NOW, data: plainRecord(22, msg) });
  t.is(pair.closedError('server'), undefined, pair.closedError('server')?.message);
  t.is(serverHelloOf(pair)?.extensions.preSharedKey, 0, 'resumed with identity 0');
});

test('PSK: a binder computed over a ClientHello truncated too early (before pre_shared_key) is decrypt_error', (t) => {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  const { pair, hello } = helloFor(server, {});
  const ids = [{ identity: session!.ticket, age: obfuscatedAge(session!, pair.now) }];
  const pskLen = 4 + pskExtData(ids, [new Uint8Array(32)]).length;
  const msg = withPsk(pair, hello, ids, new Map([[0, session!.psk]]), (draft) => draft.subarray(0, draft.length - pskLen));
  refused(t, toServer(pair, msg), A.decrypt_error);
});

test('PSK: a binder over the whole ClientHello (binders included) is decrypt_error', (t) => {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  const { pair, hello } = helloFor(server, {});
  const ids = [{ identity: session!.ticket, age: obfuscatedAge(session!, pair.now) }];
  refused(t, toServer(pair, withPsk(pair, hello, ids, new Map([[0, session!.psk]]), (draft) => draft)), A.decrypt_error);
});

test('PSK: an extension added or changed after the binder was computed makes it fail (decrypt_error)', (t) => {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  const { pair, hello } = helloFor(server, { session });
  // The client's own ClientHello, with an extra extension slipped in before pre_shared_key; binder untouched.
  refused(t, toServer(pair, buildHello(setExt(hello, 0x1234, Uint8Array.of(0)))), A.decrypt_error, 'added');
  const [session2] = sessionsFrom(server);
  const b = helloFor(server, { session: session2 });
  const groups = b.hello.exts.find((e) => e.type === X.supported_groups)!.data;
  refused(t, toServer(b.pair, buildHello(setExt(b.hello, X.supported_groups, vec16(u16s([...groupsList(groups)].reverse()))))), A.decrypt_error, 'changed');
});

function groupsList(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let o = 2; o < data.length; o += 2) out.push((data[o]! << 8) | data[o + 1]!);
  return out;
}

test('PSK: obfuscated_ticket_age an hour off: resumption may go on, 0-RTT is rejected, never fatal (§4.2.11.1, §8.3)', (t) => {
  const server = serverCfg({ maxEarlyData: 1024 });
  const [session] = sessionsFrom(server);
  const skewed = { ...session!, ageAdd: (session!.ageAdd + 3_600_000) >>> 0 };
  const pair = new Pair({ session: skewed, earlyData: true }, server).start();
  pair.input('client', { type: 'write', now: pair.now, data: text('early') });
  pair.drive();
  const info = handshakeInfo(pair.client);
  t.truthy(info, pair.closedError('server')?.message ?? pair.closedError('client')?.message);
  t.is(info?.earlyData, 'rejected');
  t.is(handshakeInfo(pair.server)?.earlyData, 'rejected');
  t.is(pair.delivered.server.length, 0, 'no early bytes delivered');
  t.log(`resumed: ${info?.resumed}`);
  // The application resends; it arrives.
  pair.input('client', { type: 'write', now: pair.now, data: text('late') });
  pair.drive();
  t.is(str(pair.delivered.server), 'late');
});

test('PSK: a SHA-384 ticket offered when the server picks a SHA-256 suite is not used: full handshake', (t) => {
  const server384 = serverCfg({ cipherSuites: ['TLS_AES_256_GCM_SHA384'] });
  const [session] = sessionsFrom(server384);
  t.is(session!.suite, 0x1302);
  t.is(session!.psk.length, 48);
  const server256 = { ...server384, cipherSuites: ['TLS_AES_128_GCM_SHA256' as const] };
  const pair = new Pair({ session, cipherSuites: ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'] }, server256).start().drive();
  const info = handshakeInfo(pair.client);
  t.truthy(info, pair.closedError('server')?.message ?? pair.closedError('client')?.message);
  t.false(info!.resumed);
  t.is(info!.verification, 'ok');
});

test('PSK: psk_ke only, with no key_share nor supported_groups: resumes when the server allows psk_ke; otherwise no throw', (t) => {
  for (const modes of [['psk_ke'], ['psk_dhe_ke']] as const) {
    const server = serverCfg({ pskModes: [...modes] });
    const [session] = sessionsFrom(serverCfg(), { pskModes: ['psk_ke', 'psk_dhe_ke'] });
    // The ticketers share the secret: the ticket opens on either server.
    const { pair, hello } = helloFor(server, {});
    const bare = setExt(dropExt(dropExt(hello, X.key_share), X.supported_groups), X.psk_key_exchange_modes, vec8(Uint8Array.of(0)));
    const msg = withPsk(pair, bare, [{ identity: session!.ticket, age: obfuscatedAge(session!, pair.now) }], new Map([[0, session!.psk]]));
    const step = toServer(pair, msg);
    if (modes[0] === 'psk_ke') {
      accepted(t, step, 'psk_ke server');
      const sh = helloIn(step.effects);
      t.is(sh?.extensions.preSharedKey, 0);
      t.is(sh?.extensions.keyShare, undefined, 'no key_share in a psk_ke ServerHello');
    } else {
      // No usable PSK mode and no key share: the server cannot do a full handshake either.
      const sent = alertsSent(step.effects);
      t.true(isClosed(step.state));
      t.true(sent.length === 1 && (sent[0] === A.missing_extension || sent[0] === A.handshake_failure), sent.map(alertName).join());
    }
  }
});

/**
 * A started pair to `server` and its client's ClientHello (unseen by the server), with two identities to offer:
 * first a ticket from another server key, then `session`, a ticket `server` issued.
 */
function foreignThenOwn(server: Partial<TlsServerConfig>) {
  const [session] = sessionsFrom(server);
  const [foreign] = sessionsFrom(serverCfg({ ticketer: createTicketer(new Uint8Array(32).fill(9)) }));
  const { pair, hello } = helloFor(server, {});
  const ids = [
    { identity: foreign!.ticket, age: obfuscatedAge(foreign!, pair.now) },
    { identity: session!.ticket, age: obfuscatedAge(session!, pair.now) },
  ];
  return { pair, hello, ids, session: session! };
}

test('PSK: two identities, the first from another server key: the server selects the second (selected_identity 1)', (t) => {
  const { pair, hello, ids, session } = foreignThenOwn(serverCfg());
  const step = toServer(pair, withPsk(pair, hello, ids, new Map([[1, session.psk]])));
  accepted(t, step);
  t.is(helloIn(step.effects)?.extensions.preSharedKey, 1);
});

// ------------------------------------------------------------------------------------------------------------
// Server probes: 0-RTT (RFC 8446 §4.2.10, §8)

test('0-RTT: early_data on the second identity (first one foreign): PSK used, early data rejected (§4.2.10: first identity only)', (t) => {
  const { pair, hello, ids, session } = foreignThenOwn(serverCfg({ maxEarlyData: 1024 }));
  const msg = withPsk(pair, setExt(hello, X.early_data, new Uint8Array(0)), ids, new Map([[1, session.psk]]));
  const step = feedAll(pair.server, [plainRecord(22, msg), garbage(200), garbage(300, 7)]);
  accepted(t, step, 'garbage early records skipped');
  pair.server = step.state;
  t.is(earlyStatus(step.state), 'rejected');
  // The ServerHello selected identity 1.
  const sh = splitRecords(cat(...step.effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : []))))[0]!;
  const d = decodeHandshakeBytes(sh.fragment);
  t.true(d.type === 'server_hello' && d.body.extensions.preSharedKey === 1);
});

test('0-RTT: a ClientHello with early_data and no pre_shared_key gets a full handshake; its garbage 0-RTT records are skipped (test-tls13-0rtt-garbage)', (t) => {
  // The server skips rejected early data up to its configured max_early_data_size (RFC 8446 §4.2.10): 32 KiB here.
  const pair = new Pair({}, serverCfg({ maxEarlyData: 32 * 1024 })).start();
  const recs = splitRecords(cat(...pair.inbox.server.splice(0)));
  const hello = setExt(parseHello(recs[0]!.fragment), X.early_data, new Uint8Array(0));
  const step = feedAll(pair.server, [plainRecord(22, buildHello(hello)), garbage(100), garbage(500, 3), garbage(16384 + 256, 9)]);
  accepted(t, step);
  t.is(earlyStatus(step.state), 'rejected');
  t.true(step.effects.some((e) => e.type === 'transmit'), 'the server answered');
});

test('0-RTT rejected: garbage 0-RTT records are skipped, the handshake completes; then garbage under the application key is bad_record_mac', (t) => {
  const issuer = serverCfg({ maxEarlyData: 1024 });
  const { pair } = zeroRtt(issuer, { ...issuer, maxEarlyData: 0 });
  pair.inbox.server.push(garbage(64), garbage(1000, 1), garbage(17, 2));
  pair.drive();
  t.truthy(handshakeInfo(pair.server), pair.closedError('server')?.message);
  t.is(handshakeInfo(pair.server)?.earlyData, 'rejected');
  t.true(isConnected(pair.client));
  refused(t, feed(pair.server, garbage(64, 4)), A.bad_record_mac, 'after the handshake');
});

test('0-RTT rejected: a garbage record after the client Finished (handshake key opened a record) is bad_record_mac', (t) => {
  const issuer = serverCfg({ maxEarlyData: 1024 });
  const { pair } = zeroRtt(issuer, { ...issuer, maxEarlyData: 0 });
  pair.serverRound();
  for (const d of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: pair.now, data: d });
  // The client's second flight (CCS?, Finished), then a garbage record in the same chunk.
  const flight = cat(...pair.inbox.server.splice(0));
  refused(t, feed(pair.server, cat(flight, garbage(64, 5))), A.bad_record_mac);
});

test('0-RTT accepted: a garbage record among the early data is bad_record_mac (no skipping once accepted)', (t) => {
  const { pair } = zeroRtt(serverCfg({ maxEarlyData: 1024 }));
  pair.input('client', { type: 'write', now: pair.now, data: text('early') });
  refused(t, feedAll(pair.server, [...pair.inbox.server.splice(0), garbage(64)]), A.bad_record_mac);
});

test('0-RTT accepted: exactly max_early_data_size bytes are delivered; one byte more (forged under the early key) is unexpected_message (§4.6.1)', (t) => {
  const server = serverCfg({ maxEarlyData: 1024 });
  const ok = zeroRtt(server);
  ok.pair.input('client', { type: 'write', now: ok.pair.now, data: new Uint8Array(1024).fill(1) });
  ok.pair.drive();
  t.is(handshakeInfo(ok.pair.server)?.earlyData, 'accepted');
  t.is(Buffer.concat(ok.pair.delivered.server).length, 1024);

  const { pair } = zeroRtt(server);
  pair.input('client', { type: 'write', now: pair.now, data: new Uint8Array(1024).fill(1) });
  const extra = sealRecord(pair.client.txKey!, 23, Uint8Array.of(2)).bytes;
  refused(t, feedAll(pair.server, [...pair.inbox.server.splice(0), extra]), A.unexpected_message);
});

test('0-RTT rejected: skipped garbage beyond rxtls\'s skip bound (64 KiB) is unexpected_message, not a throw', (t) => {
  const issuer = serverCfg({ maxEarlyData: 1024 });
  const { pair } = zeroRtt(issuer, { ...issuer, maxEarlyData: 0 });
  const recs = Array.from({ length: 6 }, (_, i) => garbage(16384 + 256, i));
  refused(t, feedAll(pair.server, [...pair.inbox.server.splice(0), ...recs]), A.unexpected_message);
});

// Found by this probe and fixed: RFC 8446 §4.2.10 skips rejected 0-RTT records "up to the configured max_early_data_size", and §4.6.1: "A
// server receiving more than max_early_data_size bytes of 0-RTT data SHOULD terminate the connection with an
// "unexpected_message" alert". rxtls skipped a fixed 64 KiB (EARLY_SKIP_LIMIT) whatever maxEarlyData said.
test('0-RTT rejected (ticket age off) with maxEarlyData 1024: 20 kB of skipped 0-RTT is unexpected_message (§4.2.10, §4.6.1)', (t) => {
  const server = serverCfg({ maxEarlyData: 1024 });
  const [session] = sessionsFrom(server);
  const skewed = { ...session!, ageAdd: (session!.ageAdd + 3_600_000) >>> 0 };
  const { pair } = zeroRtt(server, server, skewed);
  // 20 records of 1000 bytes: far over 1024 bytes of plaintext, even allowing 256 bytes of expansion per record.
  const recs = Array.from({ length: 20 }, (_, i) => garbage(1000, i));
  const step = feedAll(pair.server, [...pair.inbox.server.splice(0), ...recs]);
  t.is(earlyStatus(step.state), 'rejected');
  refused(t, step, A.unexpected_message);
});

test('0-RTT replay: the captured ClientHello + early data to another server (shared anti-replay): early data rejected, the handshake goes on (§8)', (t) => {
  const { pair, captured, replay } = capturedEarlyFlight(serverCfg({ maxEarlyData: 1024 }), 'pay 100');
  t.is(str(pair.delivered.server), 'pay 100');
  const step = feedAll(replay.server, captured);
  accepted(t, step, 'no abort');
  t.is(step.effects.filter((e) => e.type === 'deliver').length, 0, 'no early data delivered');
  t.is(earlyStatus(step.state), 'rejected');
  replay.server = step.state;
  const sh = splitRecords(cat(...step.effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : []))))[0]!;
  const d = decodeHandshakeBytes(sh.fragment);
  t.is(d.type, 'server_hello', 'the handshake goes on');
});

// ------------------------------------------------------------------------------------------------------------
// Server probes: HelloRetryRequest and the second ClientHello (RFC 8446 §4.1.2, §4.1.4)

/**
 * A client that offers a share for X25519 only to a server that takes P-256 only: the server answered with a
 * HelloRetryRequest, the client with a second ClientHello (`hello2`, parsed), which the server has not seen.
 */
function retried(serverExtra: Partial<TlsServerConfig> = {}, clientExtra: Partial<TlsClientConfig> = {}) {
  const pair = new Pair({ groups: ['x25519', 'secp256r1'], ...clientExtra }, { groups: ['secp256r1'], ...serverExtra }).start();
  pair.serverRound();
  const hrr = serverHelloOf(pair)!;
  for (const d of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: pair.now, data: d });
  const recs = splitRecords(cat(...pair.inbox.server.splice(0))).filter((r) => r.type === 22);
  return { pair, hrr, hello2: parseHello(recs[0]!.fragment), raw2: recs[0]!.fragment };
}

test('HRR control: the second ClientHello as the client sent it completes', (t) => {
  const { pair, hrr, raw2 } = retried();
  t.is(hrr.extensions.selectedGroup, G.secp256r1);
  pair.inbox.server.push(plainRecord(22, raw2));
  pair.drive();
  t.true(handshakeInfo(pair.client)?.helloRetry, pair.closedError('server')?.message);
});

// Found by this probe and fixed (the alert): §4.1.4 "Servers MUST ensure that they negotiate the same cipher suite when receiving a
// conformant updated ClientHello"; a second ClientHello without the selected suite breaks §4.1.2 ("the client MUST
// send the same ClientHello without modification" except for the listed fields): a field inconsistent with the
// handshake so far is illegal_parameter (§6.2), which tlsfuzzer's test-tls13-hrr expects; rxtls said handshake_failure.
test('HRR: a second ClientHello without the cipher suite the HelloRetryRequest selected is illegal_parameter', (t) => {
  const { pair, hrr, hello2 } = retried();
  const suites = [];
  for (let o = 0; o < hello2.suites.length; o += 2) suites.push((hello2.suites[o]! << 8) | hello2.suites[o + 1]!);
  const without = suites.filter((s) => s !== hrr.cipherSuite);
  refused(t, toServer(pair, buildHello({ ...hello2, suites: u16s(without) })), A.illegal_parameter);
});

test('HRR: a second ClientHello with the suites reordered keeps the HelloRetryRequest\'s suite (or is illegal_parameter)', (t) => {
  const { pair, hrr, hello2 } = retried();
  const suites = [];
  for (let o = 0; o < hello2.suites.length; o += 2) suites.push((hello2.suites[o]! << 8) | hello2.suites[o + 1]!);
  const step = toServer(pair, buildHello({ ...hello2, suites: u16s([...suites].reverse()) }));
  if (isClosed(step.state)) return refused(t, step, A.illegal_parameter);
  const sh = splitRecords(cat(...step.effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : []))))[0]!;
  const d = decodeHandshakeBytes(sh.fragment);
  t.true(d.type === 'server_hello' && d.body.cipherSuite === hrr.cipherSuite);
});

test('HRR: a second ClientHello with a key_share for a group other than the selected one is illegal_parameter (§4.1.4)', (t) => {
  const { pair, hello2 } = retried();
  refused(t, toServer(pair, buildHello(setExt(hello2, X.key_share, keyShareData([[G.x25519, new Uint8Array(32).fill(9)]])))), A.illegal_parameter, 'x25519 only');
  const b = retried();
  const both = keyShareData([
    [G.secp256r1, shareOf(b.hello2, G.secp256r1)],
    [G.x25519, new Uint8Array(32).fill(9)],
  ]);
  refused(t, toServer(b.pair, buildHello(setExt(b.hello2, X.key_share, both))), A.illegal_parameter, 'selected + another');
  const c = retried();
  refused(t, toServer(c.pair, buildHello(setExt(c.hello2, X.key_share, keyShareData([])))), A.illegal_parameter, 'no share');
});

test('HRR: a second ClientHello that changes legacy_session_id is illegal_parameter', (t) => {
  const { pair, hello2 } = retried();
  refused(t, toServer(pair, buildHello({ ...hello2, sessionId: new Uint8Array(32).fill(0xee) })), A.illegal_parameter);
});

test('HRR: a second ClientHello that (still) offers early_data is illegal_parameter (§4.1.2, §4.2.10)', (t) => {
  const { pair, hello2 } = retried();
  refused(t, toServer(pair, buildHello(setExt(hello2, X.early_data, new Uint8Array(0)))), A.illegal_parameter);
});

test('HRR: a second ClientHello that adds or removes an extension: never a throw (observed behaviour logged; §4.1.2 binds the client)', (t) => {
  const cases: [string, (h: RawHello) => RawHello][] = [
    ['adds ALPN', (h) => setExt(h, X.application_layer_protocol_negotiation, vec16(vec8(text('h2'))))],
    ['adds an unknown extension', (h) => setExt(h, 0x1234, new Uint8Array(0))],
    ['removes server_name', (h) => dropExt(h, X.server_name)],
    ['removes psk_key_exchange_modes', (h) => dropExt(h, X.psk_key_exchange_modes)],
  ];
  for (const [what, change] of cases) {
    const { pair, hello2 } = retried();
    const step = toServer(pair, buildHello(change(hello2)));
    const sent = alertsSent(step.effects);
    t.log(`${what}: ${isClosed(step.state) ? `closed, ${sent.map(alertName).join()}` : 'accepted'}`);
    if (isClosed(step.state)) t.deepEqual(sent.map(alertName), [alertName(A.illegal_parameter)], what);
    else t.deepEqual(sent, [], what);
  }
});

test('HRR: a cookie in the second ClientHello the HelloRetryRequest did not send: never a throw (observed behaviour logged)', (t) => {
  const { pair, hello2 } = retried();
  const step = toServer(pair, buildHello(setExt(hello2, X.cookie, vec16(new Uint8Array(16).fill(1)))));
  const sent = alertsSent(step.effects);
  t.log(isClosed(step.state) ? `closed, ${sent.map(alertName).join()}` : 'accepted');
  if (isClosed(step.state)) t.is(sent.length, 1);
  else t.deepEqual(sent, []);
});

// ------------------------------------------------------------------------------------------------------------
// Post-handshake: KeyUpdate flood (RFC 8446 §4.6.3)

// Found by this probe and fixed: §4.6.3: "This mechanism allows either side to force an update to the entire connection, but causes an
// implementation which receives multiple KeyUpdates while it is silent to respond with a single update." rxtls
// answered every update_requested with its own KeyUpdate: 300 requests in one read → 300 KeyUpdates (and 300 key
// derivations), an amplification a peer controls.
test('KeyUpdate flood: 300 update_requested in one read get a single KeyUpdate back, not 300 (§4.6.3)', (t) => {
  const pair = new Pair().start().drive();
  const epoch0 = (pair.server.hs as unknown as { writeEpoch: number }).writeEpoch;
  const wire: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) {
    for (const e of pair.input('client', { type: 'keyUpdate', now: pair.now, requestPeer: true })) {
      if (e.type === 'transmit') wire.push(e.data);
    }
  }
  pair.inbox.server.length = 0;
  const step = feed(pair.server, cat(...wire));
  accepted(t, step);
  const sent = (step.state.hs as unknown as { writeEpoch: number }).writeEpoch - epoch0;
  t.log(`KeyUpdates sent back: ${sent}`);
  t.true(sent >= 1, 'at least one KeyUpdate answers');
  t.true(sent <= 1, `a single KeyUpdate answers a burst (got ${sent})`);
});

test('KeyUpdate flood: the connection survives 300 requests one record at a time and data still flows both ways', (t) => {
  const pair = new Pair().start().drive();
  for (let i = 0; i < 300; i++) {
    pair.input('client', { type: 'keyUpdate', now: pair.now, requestPeer: true });
    pair.drive();
  }
  t.is(pair.closedError('server'), undefined);
  t.is(pair.closedError('client'), undefined);
  pair.input('client', { type: 'write', now: pair.now, data: text('ping') });
  pair.input('server', { type: 'write', now: pair.now, data: text('pong') });
  pair.drive();
  t.is(str(pair.delivered.server), 'ping');
  t.is(str(pair.delivered.client), 'pong');
});
