/**
 * TLS 1.2 conformance probes, part 2: resumption (RFC 5077 tickets; session IDs), the extended master secret on
 * resumption (RFC 7627 §5.3, server side), renegotiation_info on resumption (RFC 5746), ALPN and SNI on resumption
 * (RFC 7301 §3.1, RFC 6066 §3), the abbreviated handshake's message order (RFC 5246 §7.3), NewSessionTicket handling
 * (RFC 5077 §3.3), and AEAD record details (RFC 5288 §3 explicit nonces, RFC 7905, sequence numbers), after
 * tlsfuzzer's test-sessionID-resumption, test-extended-master-secret-extension and
 * test-renegotiation-info-extension. Each probe asserts the RFC behaviour; the reducer must never throw.
 * Tests that found a deviation when they were written say so ("found by this probe and fixed").
 */
import test from 'ava';
import { u16, hsMsg, feed, fatalAlerts, assertFatal, assertAlive, inject, exchange, refusesPlaintextData, clientHelloMessage } from '../helpers/tls12Probe.js';
import { Pair, str, text, type Side } from '../helpers/pair.js';
import { editHelloExtensions, helloExtensions, rewriteFirstMessage, splitMessages, splitRecords, type RawExt } from '../helpers/tls12.js';
import { handshakePhase } from '../../src/handshake/engine.js';
import { handshakeInfo, type TlsState } from '../../src/tls/connection.js';
import { aad12, plainRecord, sealRecord, type RecordKey } from '../../src/tls/record.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import { AlertDescription as A, ExtensionType as X } from '../../src/wire/tls/constants.js';
import { createTicketer, type Ticketer, type TlsSession } from '../../src/handshake/session.js';

const TLS12: Partial<TlsClientConfig> = { maxVersion: 'TLSv1.2' };
const TICKET_SECRET = new Uint8Array(32).fill(9);
const ticketServer = (extra: Partial<TlsServerConfig> = {}): Partial<TlsServerConfig> => ({ ticketer: createTicketer(TICKET_SECRET), ...extra });

// ---------------------------------------------------------------------------------------------------------------
// Helpers







type Keyed = TlsState & { txKey: RecordKey; rxKey: RecordKey };
const txKey = (pair: Pair, side: Side): RecordKey => (pair[side] as Keyed).txKey;


const sealWith = (key: RecordKey, type: number, content: Uint8Array): Uint8Array => sealRecord(key, type, content).bytes;

/** Records back into one chunk as they were (sealed ones stay sealed). */
const joinRaw = (records: readonly { type: number; body: Uint8Array }[]): Uint8Array => Buffer.concat(records.map((r) => plainRecord(r.type, r.body)));

const withExt = (exts: RawExt[], type: number, data: ArrayLike<number>): RawExt[] => [
  ...exts.filter((e) => e.type !== type),
  { type, data: Uint8Array.from(Array.from(data)) },
];

const sessionsOf = (pair: Pair): TlsSession[] => pair.effects.client.flatMap((e) => (e.type === 'session' ? [e.session] : []));

/** A TLS 1.2 session from a full handshake with a ticketing server. */
function session12(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}): TlsSession {
  const pair = new Pair({ ...TLS12, ...client }, ticketServer(server)).start().drive();
  const [session] = sessionsOf(pair);
  if (!session) throw new Error(`no session: ${pair.closedError('client')?.message ?? pair.closedError('server')?.message}`);
  return session;
}

/** A resumption attempt: the client's ClientHello (with the session's ticket) is in flight towards the server. */
function resumption(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}, first: Partial<TlsClientConfig> = {}) {
  const session = session12({ ...first }, server);
  const pair = new Pair({ ...TLS12, session, ...client }, ticketServer(server)).start();
  return { pair, session };
}

/** The fields of a ClientHello message. */
interface HelloParts {
  head: Uint8Array; // legacy_version ‖ random
  sessionId: Uint8Array;
  suites: number[];
  compression: number[];
  exts: RawExt[];
}

function parseClientHello(msg: Uint8Array): HelloParts {
  let o = 4 + 2 + 32;
  const head = msg.subarray(4, o);
  const sessionId = msg.subarray(o + 1, o + 1 + msg[o]!);
  o += 1 + msg[o]!;
  const n = (msg[o]! << 8) | msg[o + 1]!;
  const suites: number[] = [];
  for (let i = 0; i < n; i += 2) suites.push((msg[o + 2 + i]! << 8) | msg[o + 3 + i]!);
  o += 2 + n;
  const compression = Array.from(msg.subarray(o + 1, o + 1 + msg[o]!));
  return { head, sessionId, suites, compression, exts: helloExtensions(msg) };
}

const buildClientHello = (p: HelloParts): Uint8Array => clientHelloMessage([...Array.from(p.head), p.sessionId.length, ...Array.from(p.sessionId)], p.suites, p.compression, p.exts);

/** The client's first flight (one ClientHello record) taken from the pair and rewritten by `edit`. */
function editedClientHello(pair: Pair, edit: (p: HelloParts) => void): Uint8Array {
  const flight = pair.inbox.server.shift()!;
  return rewriteFirstMessage(flight, (m) => {
    const p = parseClientHello(m);
    edit(p);
    return buildClientHello(p);
  });
}

/** What a ServerHello says: its session ID echo, suite and extensions. */
function serverHelloOf(flight: Uint8Array) {
  const sh = splitMessages(splitRecords(flight)[0]!.body)[0]!;
  const o = 4 + 2 + 32;
  const sessionId = sh.subarray(o + 1, o + 1 + sh[o]!);
  const p = o + 1 + sh[o]!;
  return { sh, sessionId, suite: (sh[p]! << 8) | sh[p + 1]!, exts: helloExtensions(sh) };
}

/** The server's answer to what is in flight towards it (taken off the wire). */
function serverAnswer(pair: Pair): Uint8Array {
  pair.serverRound();
  return Buffer.concat(pair.inbox.client.splice(0));
}

/**
 * The shape of a flight: the handshake message types of its plaintext handshake records (`hs<type>`), and the
 * other records (`rec<type>`; every record after a ChangeCipherSpec is protected).
 */
function flightShape(flight: Uint8Array): string[] {
  let protectedNow = false;
  return splitRecords(flight).flatMap((r) => {
    if (r.type === 22 && !protectedNow) return splitMessages(r.body).map((m) => `hs${m[0]}`);
    if (r.type === 20) protectedNow = true;
    return [`rec${r.type}`];
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Server: when (not) to resume

test('server (default requireExtendedMasterSecret): a ticket offered without extended_master_secret is handshake_failure (RFC 7627 §5.3; tlsfuzzer "EMS with session resume without extension")', (t) => {
  const { pair } = resumption();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (m) => editHelloExtensions(m, (exts) => exts.filter((e) => e.type !== X.extended_master_secret)));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.handshake_failure]);
});

test('server: the resumed ServerHello echoes the session ID and carries extended_master_secret and an empty renegotiation_info (RFC 5077 §3.4, RFC 7627 §5.3, RFC 5746 §3.6)', (t) => {
  const { pair } = resumption();
  const ch = parseClientHello(splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!);
  t.is(ch.sessionId.length, 32, 'the client sends a session ID with its ticket');
  const sh = serverHelloOf(serverAnswer(pair));
  t.deepEqual(Array.from(sh.sessionId), Array.from(ch.sessionId));
  t.deepEqual(Array.from(sh.exts.find((e) => e.type === X.extended_master_secret)?.data ?? [1]), []);
  t.deepEqual(Array.from(sh.exts.find((e) => e.type === X.renegotiation_info)?.data ?? [1]), [0], 'renegotiation_info: an empty renegotiated_connection');
});

test('server: a ticket offered with a cipher suite list without the session suite gets a full handshake (RFC 5077 §3.4, RFC 5246 §7.4.1.2)', (t) => {
  const { pair, session } = resumption();
  const hello = editedClientHello(pair, (p) => {
    p.suites = p.suites.filter((s) => s !== session.suite);
  });
  pair.inbox.server.push(hello);
  const sh = serverHelloOf(serverAnswer(pair));
  assertAlive(t, pair, 'server');
  t.is(sh.sessionId.length, 0, 'not resumed');
  t.not(sh.suite, session.suite);
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
});

test('server: a ticket with the same SNI resumes (control for the SNI probe)', (t) => {
  const session = session12({ serverName: 'localhost' });
  const pair = new Pair({ ...TLS12, serverName: 'localhost', session }, ticketServer()).start().drive();
  t.true(handshakeInfo(pair.server)?.resumed);
  t.is(handshakeInfo(pair.server)?.serverName, 'localhost');
});

// Found by this probe and fixed: the server stored the name in the ticket but never compared it.
test('server: a ticket offered with a different server_name gets a full handshake, not resumption (RFC 6066 §3)', (t) => {
  const session = session12({ serverName: 'localhost' });
  // The client carries the session over to another name (the ticket is the same; SNI differs).
  const pair = new Pair({ ...TLS12, serverName: 'other.localhost', session: { ...session, serverName: 'other.localhost' } }, ticketServer()).start();
  const ch = parseClientHello(splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!);
  t.true(ch.exts.some((e) => e.type === X.session_ticket && e.data.length > 0), 'the ticket is offered');
  const sh = serverHelloOf(serverAnswer(pair));
  assertAlive(t, pair, 'server');
  t.is(sh.sessionId.length, 0, 'RFC 6066 §3: "the server MUST NOT accept the request to resume the session if the server_name extension contains a different name"');
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
});

test('client: a session is not offered to another server name (RFC 6066 §3: the client SHOULD send the same server_name)', (t) => {
  const session = session12({ serverName: 'localhost' });
  const pair = new Pair({ ...TLS12, serverName: 'other.localhost', session }, ticketServer()).start();
  const ch = parseClientHello(splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!);
  t.deepEqual(Array.from(ch.exts.find((e) => e.type === X.session_ticket)?.data ?? [1]), [], 'an empty session_ticket: no ticket offered');
});

test('ALPN is negotiated anew on resumption (RFC 7301 §3.1): the resumed connection uses the new offer', (t) => {
  const session = session12({ alpnProtocols: ['h2', 'http/1.1'] }, { alpnProtocols: ['h2', 'http/1.1'] });
  t.is(session.alpn, 'h2');
  const pair = new Pair({ ...TLS12, session, alpnProtocols: ['http/1.1'] }, ticketServer({ alpnProtocols: ['h2', 'http/1.1'] })).start().drive();
  t.true(handshakeInfo(pair.client)?.resumed);
  t.is(handshakeInfo(pair.client)?.alpn, 'http/1.1');
  t.is(handshakeInfo(pair.server)?.alpn, 'http/1.1');
  exchange(t, pair);
});

test('ALPN on resumption: a client that offers no ALPN now gets none, though the session had one (RFC 7301 §3.1)', (t) => {
  const session = session12({ alpnProtocols: ['h2'] }, { alpnProtocols: ['h2'] });
  const pair = new Pair({ ...TLS12, session }, ticketServer({ alpnProtocols: ['h2'] })).start().drive();
  t.true(handshakeInfo(pair.client)?.resumed);
  t.is(handshakeInfo(pair.client)?.alpn, undefined);
  t.is(handshakeInfo(pair.server)?.alpn, undefined);
});

test('ALPN on resumption: no protocol in common is no_application_protocol, even with a valid ticket (RFC 7301 §3.2)', (t) => {
  const session = session12({ alpnProtocols: ['h2'] }, { alpnProtocols: ['h2'] });
  const pair = new Pair({ ...TLS12, session, alpnProtocols: ['spdy/3'] }, ticketServer({ alpnProtocols: ['h2'] })).start().drive();
  assertFatal(t, pair, 'server', [A.no_application_protocol]);
});

test('server: an unknown session ID without a ticket gets a full handshake and is not echoed (RFC 5246 §7.4.1.3; tlsfuzzer test-sessionID-resumption)', (t) => {
  const pair = new Pair(TLS12, ticketServer()).start();
  const hello = editedClientHello(pair, (p) => {
    p.sessionId = new Uint8Array(32).fill(0xab);
  });
  pair.inbox.server.push(hello);
  const sh = serverHelloOf(serverAnswer(pair));
  assertAlive(t, pair, 'server');
  t.notDeepEqual(Array.from(sh.sessionId), Array.from(new Uint8Array(32).fill(0xab)));
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
});

test('server: a ticket sent with an empty session ID is not resumed by echo: a full handshake (RFC 5077 §3.4)', (t) => {
  const { pair } = resumption();
  const hello = editedClientHello(pair, (p) => {
    p.sessionId = new Uint8Array(0);
  });
  pair.inbox.server.push(hello);
  const flight = serverAnswer(pair);
  assertAlive(t, pair, 'server');
  // Either a full handshake (Certificate follows) or an abbreviated one signalled by NewSessionTicket/CCS;
  // rxtls does a full handshake.
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
  t.true(flightShape(flight).includes('hs11'));
});

test('server: a corrupted ticket gets a full handshake, not an alert (RFC 5077 §3.4)', (t) => {
  const { pair } = resumption();
  const hello = editedClientHello(pair, (p) => {
    p.exts = p.exts.map((e) => (e.type === X.session_ticket ? { type: e.type, data: Uint8Array.from(e.data, (b, i) => (i === e.data.length - 1 ? b ^ 1 : b)) } : e));
  });
  pair.inbox.server.push(hello);
  const sh = serverHelloOf(serverAnswer(pair));
  assertAlive(t, pair, 'server');
  t.is(sh.sessionId.length, 0);
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
});

// ---------------------------------------------------------------------------------------------------------------
// 2. The abbreviated handshake (RFC 5246 §7.3, Figure 2), server side

test('abbreviated handshake order: the server sends ServerHello, NewSessionTicket, CCS, Finished first; the client answers CCS, Finished only', (t) => {
  const { pair } = resumption();
  pair.serverRound();
  const serverFlight = Buffer.concat(pair.inbox.client.splice(0));
  t.deepEqual(flightShape(serverFlight), ['hs2', 'hs4', 'rec20', 'rec22']);
  t.is(handshakePhase(pair.server.hs), 'expectChangeCipherSpec');
  pair.input('client', { type: 'received', now: pair.now, data: serverFlight });
  const clientFlight = Buffer.concat(pair.inbox.server.splice(0));
  t.deepEqual(flightShape(clientFlight), ['rec20', 'rec22']);
  t.true(handshakeInfo(pair.client)?.resumed);
  pair.input('server', { type: 'received', now: pair.now, data: clientFlight });
  t.true(handshakeInfo(pair.server)?.resumed);
  exchange(t, pair);
});

/** A resumed handshake up to the client's CCS + Finished, which are returned (not delivered to the server). */
function abbreviated() {
  const { pair } = resumption();
  pair.serverRound();
  pair.input('client', { type: 'received', now: pair.now, data: Buffer.concat(pair.inbox.client.splice(0)) });
  const records = splitRecords(Buffer.concat(pair.inbox.server.splice(0)));
  // The client's write key as it was before its Finished.
  const key0 = { ...txKey(pair, 'client'), seq: 0 } as RecordKey;
  return { pair, records, key0 };
}

test('server (abbreviated): a client Finished with wrong verify_data is decrypt_error (RFC 5246 §7.4.9)', (t) => {
  const { pair, key0 } = abbreviated();
  feed(t, pair, 'server', Buffer.concat([plainRecord(20, Uint8Array.of(1)), sealWith(key0, 22, hsMsg(20, new Uint8Array(12)))]));
  assertFatal(t, pair, 'server', [A.decrypt_error]);
  t.falsy(handshakeInfo(pair.server));
});

test('server (abbreviated): a plaintext ClientKeyExchange instead of the CCS is unexpected_message', (t) => {
  const { pair } = abbreviated();
  feed(t, pair, 'server', plainRecord(22, hsMsg(16, [32, ...new Uint8Array(32).fill(9)])));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('server (abbreviated): a ClientKeyExchange under the new keys instead of the Finished is unexpected_message', (t) => {
  const { pair, key0 } = abbreviated();
  feed(t, pair, 'server', Buffer.concat([plainRecord(20, Uint8Array.of(1)), sealWith(key0, 22, hsMsg(16, [32, ...new Uint8Array(32).fill(9)]))]));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('server (abbreviated): a client Certificate instead of the CCS is unexpected_message', (t) => {
  const { pair } = abbreviated();
  feed(t, pair, 'server', plainRecord(22, hsMsg(11, [0, 0, 0])));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('server (abbreviated): plaintext application_data before the client CCS is unexpected_message', (t) => {
  const { pair } = abbreviated();
  refusesPlaintextData(t, pair, 'server');
});

test('server (abbreviated): encrypted application_data between the client CCS and Finished is unexpected_message', (t) => {
  const { pair, key0 } = abbreviated();
  feed(t, pair, 'server', Buffer.concat([plainRecord(20, Uint8Array.of(1)), sealWith(key0, 23, text('too early'))]));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
  t.is(pair.delivered.server.length, 0);
});

test('server (abbreviated): the genuine client Finished without its CCS is unexpected_message or decode_error', (t) => {
  const { pair, records } = abbreviated();
  t.deepEqual(records.map((r) => r.type), [20, 22]);
  feed(t, pair, 'server', joinRaw([records[1]!]));
  assertFatal(t, pair, 'server', [A.unexpected_message, A.decode_error]);
});

test('server (abbreviated): the genuine client flight completes the handshake (control)', (t) => {
  const { pair, records } = abbreviated();
  feed(t, pair, 'server', joinRaw(records));
  assertAlive(t, pair, 'server');
  t.true(handshakeInfo(pair.server)?.resumed);
});

// ---------------------------------------------------------------------------------------------------------------
// 3. The abbreviated handshake and NewSessionTicket, client side

/** The server's resumed flight, taken off the wire (not delivered to the client). */
function resumedServerFlight(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
  const { pair, session } = resumption(client, server);
  const flight = serverAnswer(pair);
  return { pair, session, flight, records: splitRecords(flight) };
}

/** The ServerHello message of a flight alone. */
const shOnly = (flight: Uint8Array) => splitMessages(splitRecords(flight)[0]!.body)[0]!;

test('client: a ServerHello that echoes our session ID (accepting the ticket) followed by a Certificate is unexpected_message', (t) => {
  // The Certificate of a real full handshake.
  const full = new Pair(TLS12, ticketServer()).start();
  const cert = splitRecords(serverAnswer(full)).flatMap((r) => splitMessages(r.body)).find((m) => m[0] === 11)!;
  const { pair, flight } = resumedServerFlight();
  feed(t, pair, 'client', plainRecord(22, Buffer.concat([shOnly(flight), cert])));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('client: an echoing ServerHello without session_ticket, followed by Certificate, ServerKeyExchange, ServerHelloDone, is unexpected_message', (t) => {
  const full = new Pair(TLS12, ticketServer()).start();
  const rest = splitRecords(serverAnswer(full)).flatMap((r) => splitMessages(r.body)).filter((m) => m[0] !== 2);
  const { pair, flight } = resumedServerFlight();
  const sh = editHelloExtensions(shOnly(flight), (exts) => exts.filter((e) => e.type !== X.session_ticket));
  feed(t, pair, 'client', plainRecord(22, Buffer.concat([sh, ...rest])));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('client: a server resuming with a cipher suite other than the session\'s is illegal_parameter (RFC 5246 §7.4.1.3)', (t) => {
  const { pair, flight, session } = resumedServerFlight();
  t.is(session.suite, 0xc02b);
  const sh = Uint8Array.from(shOnly(flight));
  const o = 4 + 2 + 32 + 1 + sh[4 + 2 + 32]!;
  t.is((sh[o]! << 8) | sh[o + 1]!, 0xc02b);
  sh[o + 1] = 0x2c; // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: offered, but not the session's
  feed(t, pair, 'client', plainRecord(22, sh));
  assertFatal(t, pair, 'client', [A.illegal_parameter]);
});

test('client: an announced NewSessionTicket that is skipped in the abbreviated handshake (CCS first) is unexpected_message (RFC 5077 §3.3)', (t) => {
  const { pair, records } = resumedServerFlight();
  const msgs = splitMessages(records[0]!.body);
  t.deepEqual(msgs.map((m) => m[0]), [2, 4]);
  feed(t, pair, 'client', joinRaw([{ type: 22, body: msgs[0]! }, ...records.slice(1)]));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('client (abbreviated): a server Finished without its CCS is unexpected_message or decode_error', (t) => {
  const { pair, records } = resumedServerFlight();
  t.deepEqual(records.map((r) => r.type), [22, 20, 22]);
  feed(t, pair, 'client', joinRaw([records[0]!, records[2]!]));
  assertFatal(t, pair, 'client', [A.unexpected_message, A.decode_error]);
});

test('client (abbreviated): a server Finished with wrong verify_data is decrypt_error', (t) => {
  const { pair, records } = resumedServerFlight();
  const key0 = { ...txKey(pair, 'server'), seq: 0 } as RecordKey;
  feed(t, pair, 'client', Buffer.concat([joinRaw(records.slice(0, 2)), sealWith(key0, 22, hsMsg(20, new Uint8Array(12)))]));
  assertFatal(t, pair, 'client', [A.decrypt_error]);
  t.falsy(handshakeInfo(pair.client), 'not connected');
});

test('client (abbreviated): application_data after the server CCS, before its Finished, is unexpected_message', (t) => {
  const { pair, records } = resumedServerFlight();
  const key0 = { ...txKey(pair, 'server'), seq: 0 } as RecordKey;
  feed(t, pair, 'client', Buffer.concat([joinRaw(records.slice(0, 2)), sealWith(key0, 23, text('x'))]));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
  t.is(pair.delivered.client.length, 0);
});

test('client: a NewSessionTicket after a full handshake in which we sent no session_ticket (pskModes: []) is unexpected_message (RFC 5077 §3.3)', (t) => {
  const pair = new Pair({ ...TLS12, pskModes: [] }, ticketServer()).start();
  const ch = parseClientHello(splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!);
  t.false(ch.exts.some((e) => e.type === X.session_ticket));
  pair.serverRound();
  pair.input('client', { type: 'received', now: pair.now, data: Buffer.concat(pair.inbox.client.splice(0)) });
  pair.inbox.server.splice(0);
  t.is(handshakePhase(pair.client.hs), 'expectChangeCipherSpec');
  feed(t, pair, 'client', plainRecord(22, hsMsg(4, [0, 0, 0x1c, 0x20, 0, 4, 1, 2, 3, 4])));
  assertFatal(t, pair, 'client', [A.unexpected_message, A.unsupported_extension]);
});

test('client: a ServerHello with session_ticket when we sent none (pskModes: []) is unsupported_extension (RFC 5246 §7.4.1.4)', (t) => {
  const pair = new Pair({ ...TLS12, pskModes: [] }, ticketServer()).start();
  const flight = serverAnswer(pair);
  const bad = rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => withExt(exts, X.session_ticket, [])));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.unsupported_extension]);
});

/** A ticketer that wraps the real one and issues `ticket(real)` with lifetime hint `lifetime`. */
function customTicketer(lifetime: number, ticket: (real: Uint8Array) => Uint8Array): Ticketer {
  const real = createTicketer(TICKET_SECRET);
  return { lifetime, seal: (p, now, st) => ticket(real.seal(p, now, st)), open: (p, now, tk) => real.open(p, now, tk) };
}

test('client: a NewSessionTicket with an empty ticket: the handshake completes and no session is kept (RFC 5077 §3.3)', (t) => {
  const pair = new Pair(TLS12, { ticketer: customTicketer(7200, () => new Uint8Array(0)) }).start().drive();
  const flight = pair.effects.server.flatMap((e) => (e.type === 'transmit' ? [e.data] : []));
  t.true(
    flight.some((d) => flightShape(d).includes('hs4')),
    'the server sent a NewSessionTicket',
  );
  assertAlive(t, pair, 'client');
  t.is(handshakeInfo(pair.client)?.protocol, 'TLSv1.2');
  t.is(sessionsOf(pair).length, 0);
  exchange(t, pair);
});

test('client: a NewSessionTicket with lifetime hint 0 (unspecified) is kept with a positive lifetime and offered again (RFC 5077 §3.3)', (t) => {
  const ticketer = customTicketer(0, (real) => real);
  const pair = new Pair(TLS12, { ticketer }).start().drive();
  const [session] = sessionsOf(pair);
  t.truthy(session);
  t.true(session!.lifetime > 0, 'a lifetime of 0 is "unspecified", not "expired"');
  // (The ticket's own sealed state carries lifetime 0 too, which this server would refuse; the probe is the client's.)
  const again = new Pair({ ...TLS12, session }, { ticketer }).start();
  const ch = parseClientHello(splitMessages(splitRecords(again.inbox.server[0]!)[0]!.body)[0]!);
  t.deepEqual(Array.from(ch.exts.find((e) => e.type === X.session_ticket)?.data ?? []), Array.from(session!.ticket), 'the ticket is offered');
});

test('client (abbreviated): a renewed empty ticket in a resumed handshake: the handshake completes, no new session', (t) => {
  const session = session12();
  const pair = new Pair({ ...TLS12, session }, { ticketer: customTicketer(7200, () => new Uint8Array(0)) }).start().drive();
  t.true(handshakeInfo(pair.client)?.resumed);
  t.is(sessionsOf(pair).length, 0);
  exchange(t, pair);
});

// ---------------------------------------------------------------------------------------------------------------
// 4. renegotiation_info on resumption (RFC 5746: a resumption is an initial handshake on its connection)

test('server: a resumption ClientHello with a non-empty renegotiation_info is handshake_failure (RFC 5746 §3.6)', (t) => {
  const { pair } = resumption();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (m) => editHelloExtensions(m, (exts) => withExt(exts, X.renegotiation_info, [12, ...new Uint8Array(12).fill(3)])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.handshake_failure]);
});

test('server: a resumption ClientHello with the SCSV instead of renegotiation_info still resumes, with an empty renegotiation_info (RFC 5746 §3.6; tlsfuzzer test-renegotiation-info-extension)', (t) => {
  const { pair } = resumption();
  const hello = editedClientHello(pair, (p) => {
    p.exts = p.exts.filter((e) => e.type !== X.renegotiation_info);
    p.suites = [...p.suites, 0x00ff];
  });
  pair.inbox.server.push(hello);
  const sh = serverHelloOf(serverAnswer(pair));
  assertAlive(t, pair, 'server');
  t.is(sh.sessionId.length, 32, 'resumed');
  t.deepEqual(Array.from(sh.exts.find((e) => e.type === X.renegotiation_info)?.data ?? [1]), [0]);
});

test('client: a resumed ServerHello with a non-empty renegotiation_info is handshake_failure (RFC 5746 §3.4)', (t) => {
  const { pair, flight } = resumedServerFlight();
  const bad = rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => withExt(exts, X.renegotiation_info, [12, ...new Uint8Array(12).fill(3)])));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.handshake_failure]);
});

test('client: a resumed ServerHello without renegotiation_info is handshake_failure (rxtls refuses legacy servers, RFC 5746 §3.4/§4.1)', (t) => {
  const { pair, flight } = resumedServerFlight();
  const bad = rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => exts.filter((e) => e.type !== X.renegotiation_info)));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.handshake_failure]);
});

// ---------------------------------------------------------------------------------------------------------------
// 5. AEAD records (RFC 5246 §6.2.3.3, RFC 5288 §3, RFC 7905)


/**
 * A TLS 1.2 AES-GCM record sealed by hand with `key` (its sequence number in the AAD, unless `aadSeq` says
 * otherwise) and the given explicit nonce; `version` in the header (and the AAD, unless `aadVersion`).
 */
function gcmRecord(
  key: RecordKey,
  type: number,
  content: Uint8Array,
  explicit: Uint8Array,
  opts: { aadSeq?: number; version?: number; aadVersion?: number } = {},
): Uint8Array {
  const version = opts.version ?? 0x0303;
  const nonce = Uint8Array.from([...Array.from(key.iv), ...Array.from(explicit)]);
  const sealed = key.aead.seal(nonce, aad12(opts.aadSeq ?? key.seq, type, opts.aadVersion ?? version, content.length), content);
  const body = Buffer.concat([explicit, sealed]);
  return Buffer.concat([Uint8Array.of(type, version >> 8, version & 0xff, ...u16(body.length)), body]);
}

/** Seal by hand as `from` and advance its write key. */
function injectGcm(pair: Pair, from: Side, content: Uint8Array, explicit: Uint8Array, opts: Parameters<typeof gcmRecord>[4] = {}, type = 23): Uint8Array {
  const key = txKey(pair, from);
  t0(key.tls12?.explicitNonceLength === 8, 'an AES-GCM key');
  const rec = gcmRecord(key, type, content, explicit, opts);
  pair[from] = { ...(pair[from] as Keyed), txKey: { ...key, seq: key.seq + 1, used: key.used + 1 } } as TlsState;
  return rec;
}

function t0(cond: boolean, what: string): void {
  if (!cond) throw new Error(`setup: ${what}`);
}

const connected12 = (client: Partial<TlsClientConfig> = {}) => new Pair({ ...TLS12, ...client }).start().drive();
const bytes8 = (...v: number[]) => Uint8Array.from(v.length === 8 ? v : [...new Array(8 - v.length).fill(0), ...v]);

test('AES-GCM: a record whose explicit nonce is not the sequence number is accepted (RFC 5288 §3: the receiver uses the nonce_explicit sent)', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', injectGcm(pair, 'client', text('random nonce'), Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])));
  assertAlive(t, pair, 'server');
  t.is(str(pair.delivered.server), 'random nonce');
  exchange(t, pair);
});

test('AES-GCM: a record whose explicit nonce repeats the previous record\'s is still accepted by the receiver (RFC 5288 §3)', (t) => {
  const pair = connected12();
  const nonce = bytes8(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88);
  feed(t, pair, 'server', injectGcm(pair, 'client', text('one,'), nonce));
  feed(t, pair, 'server', injectGcm(pair, 'client', text('two'), nonce));
  assertAlive(t, pair, 'server');
  t.is(str(pair.delivered.server), 'one,two');
  exchange(t, pair);
});

test('AES-GCM: the client accepts a server record with an arbitrary explicit nonce, too', (t) => {
  const pair = connected12();
  feed(t, pair, 'client', injectGcm(pair, 'server', text('from server'), bytes8(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)));
  assertAlive(t, pair, 'client');
  t.is(str(pair.delivered.client), 'from server');
  exchange(t, pair);
});

test('AES-GCM: the explicit nonce does not set the sequence number: a record with nonce = seq but AAD seq_num + 1 is bad_record_mac (RFC 5246 §6.2.3.3)', (t) => {
  const pair = connected12();
  const key = txKey(pair, 'client');
  feed(t, pair, 'server', injectGcm(pair, 'client', text('skip'), bytes8(key.seq + 1), { aadSeq: key.seq + 1 }));
  assertFatal(t, pair, 'server', [A.bad_record_mac]);
  t.is(pair.delivered.server.length, 0);
});

test('AES-GCM: a dropped record (the next one sealed with the following sequence number) is bad_record_mac (implicit sequence numbers)', (t) => {
  const pair = connected12();
  inject(pair, 'client', 23, text('lost'));
  feed(t, pair, 'server', inject(pair, 'client', 23, text('after the lost one')));
  assertFatal(t, pair, 'server', [A.bad_record_mac]);
  t.is(pair.delivered.server.length, 0);
});

test('AES-GCM: sequence numbers count records, not handshake messages: many records in one chunk open in order', (t) => {
  const pair = connected12();
  const recs = Array.from({ length: 20 }, (_, i) => injectGcm(pair, 'client', text(`${i},`), bytes8(0x42, i)));
  feed(t, pair, 'server', Buffer.concat(recs));
  assertAlive(t, pair, 'server');
  t.is(str(pair.delivered.server), Array.from({ length: 20 }, (_, i) => `${i},`).join(''));
});

test('sequence numbers restart at 0 under the resumed session\'s keys (RFC 5246 §6.1): records flow both ways', (t) => {
  const { pair } = resumption();
  pair.drive();
  t.true(handshakeInfo(pair.client)?.resumed);
  // Both write keys have sealed exactly one record (the Finished) before any application data.
  t.is(txKey(pair, 'client').seq, 1);
  t.is(txKey(pair, 'server').seq, 1);
  exchange(t, pair, '1');
  exchange(t, pair, '2');
});

test('record version 0x0301 after the handshake (version and AAD agree): accepted or protocol_version, never a throw (RFC 5246 §6.2.1)', (t) => {
  const pair = connected12();
  const key = txKey(pair, 'client');
  feed(t, pair, 'server', injectGcm(pair, 'client', text('old version'), bytes8(key.seq), { version: 0x0301 }));
  const alerts = fatalAlerts(pair, 'server');
  if (alerts.length === 0) {
    t.is(str(pair.delivered.server), 'old version');
    t.log('rxtls accepts a 0x0301 record version after the handshake');
  } else {
    assertFatal(t, pair, 'server', [A.protocol_version]);
    t.log('rxtls rejects a 0x0301 record version after the handshake with protocol_version');
  }
});

test('record version 0x0301 in the header but 0x0303 in the sender\'s AAD is bad_record_mac or protocol_version (the header version is authenticated)', (t) => {
  const pair = connected12();
  const key = txKey(pair, 'client');
  feed(t, pair, 'server', injectGcm(pair, 'client', text('x'), bytes8(key.seq), { version: 0x0301, aadVersion: 0x0303 }));
  assertFatal(t, pair, 'server', [A.bad_record_mac, A.protocol_version]);
  t.is(pair.delivered.server.length, 0);
});

test('AES-GCM: a zero-length application_data record with an arbitrary explicit nonce is accepted (RFC 5246 §6.2.1)', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', injectGcm(pair, 'client', new Uint8Array(0), bytes8(7, 7, 7)));
  assertAlive(t, pair, 'server');
  exchange(t, pair);
});

test('ChaCha20-Poly1305: a zero-length application_data record is accepted (RFC 7905, RFC 5246 §6.2.1)', (t) => {
  const pair = connected12({ cipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'] });
  t.is(txKey(pair, 'client').tls12?.explicitNonceLength, 0);
  feed(t, pair, 'server', inject(pair, 'client', 23, new Uint8Array(0)));
  assertAlive(t, pair, 'server');
  exchange(t, pair);
});

test('ChaCha20-Poly1305: a record carrying an 8-byte explicit nonce as AES-GCM does is bad_record_mac (RFC 7905 §2: no explicit nonce)', (t) => {
  const pair = connected12({ cipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'] });
  const key = txKey(pair, 'client');
  // Genuine ciphertext of the right sequence number, with 8 bytes prepended.
  const rec = inject(pair, 'client', 23, text('chacha'));
  const body = Buffer.concat([bytes8(key.seq), rec.subarray(5)]);
  feed(t, pair, 'server', Buffer.concat([Uint8Array.of(23, 3, 3, ...u16(body.length)), body]));
  assertFatal(t, pair, 'server', [A.bad_record_mac]);
  t.is(pair.delivered.server.length, 0);
});

test('AES-GCM records in a resumed connection: an arbitrary explicit nonce is accepted there too', (t) => {
  const { pair } = resumption();
  pair.drive();
  t.true(handshakeInfo(pair.server)?.resumed);
  feed(t, pair, 'server', injectGcm(pair, 'client', text('resumed'), bytes8(9, 9, 9, 9, 9, 9, 9, 9)));
  assertAlive(t, pair, 'server');
  t.is(str(pair.delivered.server), 'resumed');
});
