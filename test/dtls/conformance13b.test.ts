/**
 * DTLS 1.3 (RFC 9147) conformance probes, second round, in the manner of DTLS-Fuzzer's state-machine probing and
 * TLS-Anvil's DTLS tests: the HelloRetryRequest cookie exchange (stateless and stateful servers, second
 * ClientHellos that change what RFC 8446 §4.1.2 forbids), message_seq rules around the HelloRetryRequest and
 * after the handshake, legacy record versions, the unified header's S and L bits and epoch bits across epoch
 * changes, replay and sequence-number limits, record content limits, ACK contents and epochs, KeyUpdate
 * sequencing, post-handshake messages DTLS 1.3 forbids, reassembly faults and alerts.
 *
 * Same harness as test/dtls/conformance13.test.ts (round one; its probes are not repeated): a client and server
 * reducer pair in memory on a virtual clock; "the peer's" records sealed with the peer's real write keys (its
 * sequence number moved on so the real peer never reuses one); off-path records in plaintext or with the wrong
 * key. Every probe asserts the RFC's outcome: the alert on the wire and the typed error, or the record dropped
 * and the connection still carrying data. Nothing may throw.
 *
 * A probe that found a deviation says so ("found by this probe and fixed"), with what rxtls did and the RFC's text.
 */
import test, { type ExecutionContext } from 'ava';
import { DtlsPair, serverConfig, type Side } from '../helpers/dtlsPair.js';
import {
  ACK, APPLICATION_DATA, HANDSHAKE, ackContent, assertAlive, connectedPair, assertFatal, cat, exchange, fatalAlerts, fragment, handshakeFragments, inject,
  openAll, openedFrom, peerRecord, sealWith, takeSeq, transmits, u16, u64, writeKeys,
} from '../helpers/dtlsProbe.js';
import {
  createDtlsConnection,
  dtlsStats,
  handleDtlsEvents,
  isDtlsClosed,
  isDtlsCommitted,
  isDtlsConnected,
  nextDtlsTimeout,
  type DtlsState,
} from '../../src/dtls/connection.js';
import type { DtlsServerConfig } from '../../src/dtls/types.js';
import { createReplayWindow, markReceived } from '../../src/dtls/replayWindow.js';
import { bufferedBytes } from '../../src/dtls/reassembly.js';
import { decodeDtlsHandshakeFragments, type DtlsHandshakeFragment } from '../../src/wire/dtls/handshake.js';
import { decodeAck } from '../../src/wire/dtls/ack.js';
import { decodeHandshakeBody, encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import type { ClientHello, HandshakeMessage, ServerHello } from '../../src/wire/tls/messages.js';
import { AlertDescription as A, AlertLevel, HRR_RANDOM, HandshakeType as H } from '../../src/wire/tls/constants.js';
import { createTicketer } from '../../src/handshake/session.js';
import { TlsError } from '../../src/core/errors.js';
import { NOW, text, str } from '../helpers/pair.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const ALERT = 21;
const COOKIE_SECRET = new Uint8Array(32).fill(11);
const bytesEq = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);

/** A whole message as one fragment. */
const whole = (type: number, msgSeq: number, body: ArrayLike<number>): Uint8Array => fragment({ type, length: body.length, msgSeq, offset: 0, body });

/** A DTLSPlaintext-shaped record: `version` {254,253} and epoch 0 unless told. */
const plainRecord = (type: number, seq: number, content: ArrayLike<number>, o: { version?: number; epoch?: number } = {}): Uint8Array =>
  cat([type], u16(o.version ?? 0xfefd), u16(o.epoch ?? 0), u16(0), [(seq >>> 24) & 0xff, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff], u16(content.length), content);

/** The body of a handshake message as the engine's codec writes it (without the 4-byte TLS header). */
const bodyOf = (msg: HandshakeMessage, format: 'tls' | 'dtls' = 'tls'): Uint8Array => encodeHandshakeBytes(msg, format).subarray(4);

/** Set the next sequence number of `side`'s write epoch `epoch`. */
function setWriteSeq(p: DtlsPair, side: Side, epoch: number, seq: number): void {
  p[side] = { ...p[side], writes: p[side].writes.map((w) => (w.epoch === epoch ? { ...w, seq } : w)) };
}

/** Move `side`'s replay window of read epoch `epoch` so that `top` is the highest record received. */
function setReadTop(p: DtlsPair, side: Side, epoch: number, top: number): void {
  p[side] = { ...p[side], reads: p[side].reads.map((r) => (r.epoch === epoch ? { ...r, window: markReceived(createReplayWindow(r.window.size), top) } : r)) };
}

/** The ACKs `from` sent in `datagrams`: epoch of the ACK record and its record numbers. */
const acksFrom = (p: DtlsPair, from: Side, datagrams: readonly Uint8Array[]) =>
  openedFrom(p, from, datagrams)
    .filter((r) => r.type === ACK)
    .map((r) => ({ epoch: r.epoch, list: decodeAck(r.content).map((rn) => ({ epoch: Number(rn.epoch), seq: Number(rn.sequenceNumber) })) }));

/** Either the probe was dropped and the side goes on (data flows), or it closed with one of `alerts`. */
function droppedOrFatal(t: ExecutionContext, p: DtlsPair, side: Side, alerts: readonly number[], tag: string): void {
  if (fatalAlerts(p, side).length === 0) {
    assertAlive(t, p, side);
    exchange(t, p, tag);
    t.log('rxtls: dropped');
    return;
  }
  assertFatal(t, p, side, alerts);
  t.log(`rxtls: fatal alert ${fatalAlerts(p, side)[0]}`);
}

const dropped = (p: DtlsPair, side: Side): number => dtlsStats(p[side]).recordsDropped;
const deliveredStr = (p: DtlsPair, side: Side): string[] => p.delivered[side].map((d) => str([d]));

// --- hellos

interface Hello {
  readonly recSeq: number;
  readonly msgSeq: number;
  readonly version: number;
  readonly body: ClientHello;
}

/** The ClientHello of a datagram that holds it whole in one DTLSPlaintext record. */
function helloOf(d: Uint8Array): Hello {
  const h = d.subarray(13);
  const len = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
  const m = decodeHandshakeBody(H.client_hello, h.subarray(12, 12 + len), 'dtls');
  if (m.type !== 'client_hello') throw new Error('not a ClientHello');
  return { recSeq: (d[9]! << 8) | d[10]!, msgSeq: (h[4]! << 8) | h[5]!, version: (d[1]! << 8) | d[2]!, body: m.body };
}

/** A datagram holding `body` as one whole ClientHello fragment. */
const helloDatagram = (body: ClientHello, msgSeq: number, recSeq: number, version = 0xfefd): Uint8Array =>
  plainRecord(HANDSHAKE, recSeq, whole(H.client_hello, msgSeq, bodyOf({ type: 'client_hello', body }, 'dtls')), { version });

/** The first handshake fragment of a plaintext datagram's first record. */
function firstFragment(d: Uint8Array): DtlsHandshakeFragment {
  const len = (d[11]! << 8) | d[12]!;
  return decodeDtlsHandshakeFragments(d.subarray(13, 13 + len))[0]!;
}

function serverHelloOf(d: Uint8Array): ServerHello {
  const f = firstFragment(d);
  const m = decodeHandshakeBody(f.msgType, f.body);
  if (m.type !== 'server_hello') throw new Error(`message type ${f.msgType}, not a ServerHello`);
  return m.body;
}

const isHrr = (sh: ServerHello): boolean => bytesEq(sh.random, HRR_RANDOM);

/** A fresh stateless listener (a server with a cookie secret), started at `now`. */
const listener = (extra: Partial<DtlsServerConfig> = {}, now = NOW): DtlsState =>
  handleDtlsEvents(createDtlsConnection(serverConfig({ cookieSecret: COOKIE_SECRET, ...extra })), { type: 'start', now }).state;

/** Feed one datagram to a stand-alone state. */
function feed(t: ExecutionContext, state: DtlsState, data: Uint8Array, now = NOW + 1) {
  let step!: ReturnType<typeof handleDtlsEvents>;
  t.notThrows(() => (step = handleDtlsEvents(state, { type: 'datagram', data, now })));
  const fatal = step.effects.flatMap((e) => (e.type === 'alertSent' && e.level === AlertLevel.fatal ? [e.description] : []));
  return { state: step.state, effects: step.effects, fatal };
}

/** A stand-alone step refused the input: one fatal alert `alert` on the wire (in the clear) and in the effects, closed with a TlsError. */
function refusedWith(t: ExecutionContext, r: ReturnType<typeof feed>, alert: number): void {
  t.deepEqual(r.fatal, [alert], `fatal alerts [${r.fatal.join(',')}]`);
  const wire = transmits(r.effects).filter((d) => d[0] === ALERT).map((d) => Array.from(d.subarray(13, 15)));
  t.deepEqual(wire, [[AlertLevel.fatal, alert]], 'the alert on the wire, in a DTLSPlaintext record');
  t.true(isDtlsClosed(r.state));
  const closed = r.effects.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error instanceof TlsError && closed.error.alert === alert);
  t.false(transmits(r.effects).some((d) => d[0] === HANDSHAKE), 'no HelloRetryRequest or ServerHello');
}

/**
 * A stateless cookie exchange run by hand (the link delivers nothing by itself): the client's first ClientHello,
 * the listener's HelloRetryRequest with a cookie, and the client's second ClientHello, not yet delivered.
 */
function cookieExchange(client = {}, server: Partial<DtlsServerConfig> = {}) {
  const p = new DtlsPair(client, { cookieSecret: COOKIE_SECRET, ...server }, () => 'drop');
  p.start();
  const ch1 = p.sent.client[0]!;
  p.input('server', { type: 'datagram', data: ch1 });
  const hrr = p.sent.server[p.sent.server.length - 1]!;
  p.input('client', { type: 'datagram', data: hrr });
  const ch2 = p.sent.client[p.sent.client.length - 1]!;
  return { p, ch1, hrr, ch2 };
}

/** The same with a stateful server that asks for another group (no cookie secret): its state is `p.server`. */
function statefulRetry() {
  const p = new DtlsPair({ groups: ['x25519', 'secp256r1'] }, { groups: ['secp256r1'] }, () => 'drop');
  p.start();
  const ch1 = p.sent.client[0]!;
  p.input('server', { type: 'datagram', data: ch1 });
  const hrr = p.sent.server[p.sent.server.length - 1]!;
  p.input('client', { type: 'datagram', data: hrr });
  const ch2 = p.sent.client[p.sent.client.length - 1]!;
  return { p, ch1, hrr, ch2 };
}

/** Let the link deliver again and run until quiet. */
function heal(p: DtlsPair): void {
  p.filter = () => 'deliver';
  p.run();
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The HelloRetryRequest cookie exchange (RFC 9147 §5.1; RFC 8446 §4.1.2, §4.1.4, §4.2.2)

test('§5.1 control: the intact second ClientHello re-encodes byte for byte and a fresh listener accepts its cookie (ServerHello, committed)', (t) => {
  const { ch2 } = cookieExchange();
  const h = helloOf(ch2);
  t.truthy(h.body.extensions.cookie, 'the second ClientHello carries the cookie');
  t.true(bytesEq(helloDatagram(h.body, h.msgSeq, h.recSeq), ch2), 'the probes below change only what they mean to');
  const r = feed(t, listener(), ch2);
  t.deepEqual(r.fatal, []);
  t.true(isDtlsCommitted(r.state));
  t.false(isHrr(serverHelloOf(transmits(r.effects)[0]!)), 'a ServerHello, not another HelloRetryRequest');
});

// Found by this probe and fixed: a ClientHello whose cookie failed the MAC check was treated as a first ClientHello
// and answered with a new stateless HelloRetryRequest (the code followed a draft that said "MUST NOT"). RFC 9147
// §5.1: "If a server receives a ClientHello with an invalid cookie, it MUST terminate the handshake with an
// "illegal_parameter" alert." test/handshake/dtls.test.ts and test/tls/conformance12.test.ts changed with it.
test('§5.1: a second ClientHello with a tampered cookie is refused with illegal_parameter, not answered with a new HelloRetryRequest', (t) => {
  const { ch2 } = cookieExchange();
  const h = helloOf(ch2);
  const cookie = Uint8Array.from(h.body.extensions.cookie!);
  cookie[cookie.length - 1] ^= 0x01;
  const bad = helloDatagram({ ...h.body, extensions: { ...h.body.extensions, cookie } }, h.msgSeq, h.recSeq);
  refusedWith(t, feed(t, listener(), bad), A.illegal_parameter);
});

// Found by this probe and fixed: an expired cookie got a new HelloRetryRequest.
// RFC 9147 §5.1: an invalid cookie (the server "can store timestamps in the cookie and reject cookies that were
// generated outside a certain interval of time") MUST terminate the handshake with illegal_parameter.
test('§5.1: a second ClientHello whose cookie expired (past cookieLifetime) is refused with illegal_parameter', (t) => {
  const { ch2 } = cookieExchange({}, { cookieLifetime: 1_000 });
  refusedWith(t, feed(t, listener({ cookieLifetime: 1_000 }), ch2, NOW + 1_001), A.illegal_parameter);
});

// Found by this probe and fixed: a cookie issued to another client address (cookieBinding) got a new
// HelloRetryRequest.
// RFC 9147 §5.1 binds the cookie to the client's address so that it is invalid from another one, and an invalid
// cookie MUST terminate the handshake with illegal_parameter.
test('§5.1: a cookie issued to another client address (cookieBinding) is refused with illegal_parameter', (t) => {
  const { ch2 } = cookieExchange({}, { cookieBinding: Uint8Array.of(192, 0, 2, 1, 0x12, 0x34) });
  // Control: from the address it was issued to, the cookie holds.
  t.true(isDtlsCommitted(feed(t, listener({ cookieBinding: Uint8Array.of(192, 0, 2, 1, 0x12, 0x34) }), ch2).state));
  refusedWith(t, feed(t, listener({ cookieBinding: Uint8Array.of(198, 51, 100, 7, 0x12, 0x34) }), ch2), A.illegal_parameter);
});

// Found by this probe and fixed: a second ClientHello with a valid cookie that no longer offered the
// HelloRetryRequest's cipher suite was answered with a new HelloRetryRequest, where a stateful server aborts.
// RFC 8446 §4.1.2 forbids the change and §4.1.4 has the server negotiate the same suite; RFC 9147 §5.1 has an invalid
// cookie end in illegal_parameter.
test('RFC 8446 §4.1.2, §4.1.4: a stateless server refuses a second ClientHello that drops the HelloRetryRequest suite (illegal_parameter)', (t) => {
  const { ch2, hrr } = cookieExchange({ cipherSuites: ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'] });
  const chosen = serverHelloOf(hrr).cipherSuite;
  const h = helloOf(ch2);
  const suites = h.body.cipherSuites.filter((s) => s !== chosen);
  t.true(suites.length > 0);
  refusedWith(t, feed(t, listener(), helloDatagram({ ...h.body, cipherSuites: suites }, h.msgSeq, h.recSeq)), A.illegal_parameter);
});

// Found by this probe and fixed: with a valid cookie naming secp256r1, a second ClientHello whose key share was for
// x25519 got a new HelloRetryRequest.
// RFC 8446 §4.1.2: the second ClientHello replaces key_share with "a single KeyShareEntry from the indicated group";
// the stateful path aborts with illegal_parameter (next section), the stateless one must too (RFC 9147 §5.1).
test('RFC 8446 §4.1.2: a stateless server refuses a second ClientHello whose key share is not for the requested group (illegal_parameter)', (t) => {
  const { ch1, ch2, hrr } = cookieExchange({ groups: ['x25519', 'secp256r1'] }, { groups: ['secp256r1'] });
  t.truthy(serverHelloOf(hrr).extensions.selectedGroup, 'the HelloRetryRequest selects a group');
  const h = helloOf(ch2);
  const x25519 = helloOf(ch1).body.extensions.keyShares!;
  refusedWith(
    t,
    feed(t, listener({ groups: ['secp256r1'] }), helloDatagram({ ...h.body, extensions: { ...h.body.extensions, keyShares: x25519 } }, h.msgSeq, h.recSeq)),
    A.illegal_parameter,
  );
});

test('RFC 8446 §4.1.4: a stateful server refuses a second ClientHello that drops the HelloRetryRequest suite (illegal_parameter)', (t) => {
  const { p, ch2, hrr } = statefulRetry();
  const chosen = serverHelloOf(hrr).cipherSuite;
  const h = helloOf(ch2);
  const suites = h.body.cipherSuites.filter((s) => s !== chosen);
  inject(t, p, 'server', helloDatagram({ ...h.body, cipherSuites: suites }, h.msgSeq, h.recSeq));
  assertFatal(t, p, 'server', [A.illegal_parameter]);
});

test('RFC 8446 §4.1.2: a stateful server refuses a second ClientHello with a key share for another group, or two shares (illegal_parameter)', (t) => {
  for (const shares of ['other group', 'two shares'] as const) {
    const { p, ch1, ch2 } = statefulRetry();
    const h = helloOf(ch2);
    const first = helloOf(ch1).body.extensions.keyShares!;
    const keyShares = shares === 'other group' ? first : [...h.body.extensions.keyShares!, ...first];
    inject(t, p, 'server', helloDatagram({ ...h.body, extensions: { ...h.body.extensions, keyShares } }, h.msgSeq, h.recSeq));
    assertFatal(t, p, 'server', [A.illegal_parameter]);
  }
});

test('RFC 8446 §4.1.4: a second HelloRetryRequest (message_seq 1, after the second ClientHello) is unexpected_message at the client', (t) => {
  const { p, hrr } = cookieExchange();
  const second = Uint8Array.from(hrr);
  second[10] = 1; // record sequence number
  second[13 + 5] = 1; // message_seq 1: the message after the first HelloRetryRequest
  inject(t, p, 'client', second);
  assertFatal(t, p, 'client', [A.unexpected_message]);
});

// ---------------------------------------------------------------------------------------------------------------
// 2. message_seq (RFC 9147 §5.2, §5.8.1)

test('§5.2: the second ClientHello carries message_seq 1 and the ServerHello answering it message_seq 1 (stateless and stateful servers)', (t) => {
  const stateless = cookieExchange();
  t.is(firstFragment(stateless.ch1).messageSeq, 0);
  t.is(firstFragment(stateless.hrr).messageSeq, 0, 'the HelloRetryRequest is the server\'s first message');
  t.is(helloOf(stateless.ch2).msgSeq, 1);
  const r = feed(t, listener(), stateless.ch2);
  const sh = firstFragment(transmits(r.effects)[0]!);
  t.is(sh.msgType, H.server_hello);
  t.is(sh.messageSeq, 1, 'stateless: the ServerHello follows the HelloRetryRequest in message_seq');
  const stateful = statefulRetry();
  t.is(helloOf(stateful.ch2).msgSeq, 1);
  const before = stateful.p.sent.server.length;
  inject(t, stateful.p, 'server', stateful.ch2);
  const sh2 = firstFragment(stateful.p.sent.server[before]!);
  t.is(sh2.msgType, H.server_hello);
  t.is(sh2.messageSeq, 1);
});

test('§5.2, §5.8.1: a retransmitted first ClientHello (message_seq 0) after a stateful HelloRetryRequest gets the HelloRetryRequest again; the handshake completes', (t) => {
  const { p, ch1, hrr } = statefulRetry();
  const before = p.sent.server.length;
  const effects = inject(t, p, 'server', ch1);
  t.deepEqual(fatalAlerts(p, 'server'), []);
  const again = transmits(effects);
  t.is(again.length, 1, 'one datagram in answer');
  t.true(isHrr(serverHelloOf(again[0]!)), 'the HelloRetryRequest again');
  t.true(bytesEq(again[0]!.subarray(13), hrr.subarray(13)), 'the same message, only the record header differs');
  t.is(p.sent.server.length, before + 1);
  heal(p);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  exchange(t, p, 'ch1 again');
});

test('§5.2: a duplicate HelloRetryRequest (message_seq 0, from a retransmitted first ClientHello) after the second ClientHello is discarded, not a second HelloRetryRequest', (t) => {
  const { p, ch1 } = cookieExchange();
  // The client's first ClientHello went out twice; a listener answered each with a HelloRetryRequest.
  const dup = transmits(feed(t, listener(), ch1, NOW + 3).effects)[0]!;
  t.true(isHrr(serverHelloOf(dup)));
  inject(t, p, 'client', dup);
  t.deepEqual(fatalAlerts(p, 'client'), [], 'an old message_seq is discarded (§5.2), not taken for a second HelloRetryRequest');
  t.false(isDtlsClosed(p.client));
  heal(p);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  exchange(t, p, 'dup hrr');
});

test('§5.2: post-handshake messages arriving across a message_seq gap are held and processed in order', (t) => {
  const p = connectedPair();
  const next = p.client.reassembly.nextSeq;
  const nst = (n: number) => bodyOf({ type: 'new_session_ticket', body: { lifetime: 3600, ageAdd: n, nonce: Uint8Array.of(n), ticket: new Uint8Array(32).fill(n), unknown: [] } });
  const sessions = () => p.effects.client.filter((e) => e.type === 'session').length;
  const base = sessions();
  inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, whole(H.new_session_ticket, next + 1, nst(2))));
  t.is(sessions(), base, 'the later message waits for the gap');
  inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, whole(H.new_session_ticket, next, nst(1))));
  t.is(sessions(), base + 2, 'both processed once the gap is filled');
  t.is(p.client.reassembly.nextSeq, next + 2);
  assertAlive(t, p, 'client');
  exchange(t, p, 'gap');
});

test('§5.2: a message with a message_seq already received (old) is discarded whatever it carries: no key change, no alert', (t) => {
  const p = connectedPair();
  const epoch = p.client.hs.readEpoch;
  // message_seq 0 was the ServerHello; now "a KeyUpdate" under the server's application keys.
  inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, whole(H.key_update, 0, [1])));
  t.is(p.client.hs.readEpoch, epoch, 'no key change');
  t.is(p.client.writeEpoch, 3, 'no KeyUpdate requested');
  assertAlive(t, p, 'client');
  exchange(t, p, 'old seq');
});

// ---------------------------------------------------------------------------------------------------------------
// 3. legacy_record_version (RFC 9147 §4: {254,253}, or {254,255} for the first ClientHello; "MUST be ignored")

test('§4: a first ClientHello in a record with legacy_record_version {254,255} is accepted', (t) => {
  const p = new DtlsPair({}, {}, () => 'drop');
  p.start();
  const h = helloOf(p.sent.client[0]!);
  const before = p.sent.server.length;
  inject(t, p, 'server', helloDatagram(h.body, h.msgSeq, h.recSeq, 0xfeff));
  t.deepEqual(fatalAlerts(p, 'server'), []);
  t.true(p.sent.server.length > before, 'the server answered');
  t.is(firstFragment(p.sent.server[before]!).msgType, H.server_hello);
  heal(p);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
});

test('§4: a second ClientHello in a record with legacy_record_version 0x0303, 0xfeff or 0x1234: the field is ignored, the cookie accepted', (t) => {
  for (const version of [0x0303, 0xfeff, 0x1234]) {
    const { ch2 } = cookieExchange();
    const h = helloOf(ch2);
    const r = feed(t, listener(), helloDatagram(h.body, h.msgSeq, h.recSeq, version));
    t.deepEqual(r.fatal, [], `0x${version.toString(16)}`);
    t.true(isDtlsCommitted(r.state), `0x${version.toString(16)}`);
  }
});

test('§4: a ServerHello record with legacy_record_version 0x0303 is read all the same; the handshake completes', (t) => {
  const p = new DtlsPair({}, {}, () => 'drop');
  p.start();
  p.input('server', { type: 'datagram', data: p.sent.client[0]! });
  const flight = p.sent.server.map((d) => Uint8Array.from(d));
  t.is(flight[0]![0], HANDSHAKE);
  flight[0]!.set(u16(0x0303), 1);
  for (const d of flight) inject(t, p, 'client', d);
  t.true(isDtlsConnected(p.client), p.types('client').join(','));
  heal(p);
  t.true(isDtlsConnected(p.server));
  exchange(t, p, 'sh version');
});

test('§4: a DTLSPlaintext ClientHello with a non-zero epoch field is dropped, not processed', (t) => {
  const p = new DtlsPair({}, {}, () => 'drop');
  p.start();
  const d = Uint8Array.from(p.sent.client[0]!);
  d.set(u16(2), 3);
  const effects = inject(t, p, 'server', d);
  t.deepEqual(transmits(effects), [], 'no answer');
  t.deepEqual(fatalAlerts(p, 'server'), []);
  t.true(dropped(p, 'server') > 0);
  heal(p);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
});

// ---------------------------------------------------------------------------------------------------------------
// 4. The unified header (RFC 9147 §4, §4.1, §4.2.2, §4.2.3)

test('§4: a record with the C bit after a good record in the same datagram: the good one is delivered, the rest dropped', (t) => {
  const p = connectedPair();
  const good = peerRecord(p, 'client', 3, APPLICATION_DATA, text('before cid'));
  const cid = peerRecord(p, 'client', 3, APPLICATION_DATA, text('with cid'));
  cid[0] |= 0x10;
  inject(t, p, 'server', cat(good, cid));
  t.deepEqual(deliveredStr(p, 'server'), ['before cid']);
  assertAlive(t, p, 'server');
  exchange(t, p, 'cid after');
});

for (const [bits, start] of [[8, 250], [16, 65_530]] as const) {
  test(`§4.2.2: ${bits}-bit sequence numbers are reconstructed across the ${2 ** bits} boundary`, (t) => {
    const p = connectedPair();
    setWriteSeq(p, 'client', 3, start);
    setReadTop(p, 'server', 3, start - 1);
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) {
      sent.push(`s${start + i}`);
      inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text(`s${start + i}`), { seqLen: bits === 8 ? 1 : 2 }));
    }
    t.deepEqual(deliveredStr(p, 'server'), sent);
    t.is(p.server.reads.find((r) => r.epoch === 3)!.window.top, start + 11);
    exchange(t, p, `seq${bits} wrap`);
  });
}

test('§4.2.2, §4.5.2: a record 200 numbers ahead in an 8-bit sequence number is reconstructed wrongly and dropped; the window does not move', (t) => {
  const p = connectedPair();
  // A top far from 0, so that the low 8 bits are ambiguous (near 0 every value up to 255 reconstructs exactly).
  const top = 1_000;
  setReadTop(p, 'server', 3, top);
  setWriteSeq(p, 'client', 3, top + 1);
  const k = writeKeys(p, 'client', 3);
  const seq = k.seq + 200;
  inject(t, p, 'server', sealWith(p, k, seq, APPLICATION_DATA, text('too far for 8 bits'), { seqLen: 1 }));
  t.deepEqual(p.delivered.server, []);
  t.is(p.server.reads.find((r) => r.epoch === 3)!.window.top, top, 'the window did not move');
  setWriteSeq(p, 'client', 3, seq + 1);
  assertAlive(t, p, 'server');
  exchange(t, p, 'seq8 far');
});

test('§4, §4.2.3: a record without length (L bit clear) and with nothing after its header is dropped', (t) => {
  const p = connectedPair();
  const rec = peerRecord(p, 'client', 3, APPLICATION_DATA, text('headless'), { lengthPresent: false });
  const before = dropped(p, 'server');
  inject(t, p, 'server', rec.subarray(0, 3));
  inject(t, p, 'server', rec.subarray(0, 3 + 15)); // under the 16 bytes the record number mask needs
  t.is(dropped(p, 'server'), before + 2);
  t.deepEqual(p.delivered.server, []);
  assertAlive(t, p, 'server');
  exchange(t, p, 'L0 empty');
});

test('§4: a record without length that is not last in its datagram swallows what follows: both are dropped, the second alone later delivered', (t) => {
  const p = connectedPair();
  const a = peerRecord(p, 'client', 3, APPLICATION_DATA, text('no length, not last'), { lengthPresent: false });
  const b = peerRecord(p, 'client', 3, APPLICATION_DATA, text('swallowed'));
  inject(t, p, 'server', cat(a, b));
  t.deepEqual(p.delivered.server, []);
  t.deepEqual(fatalAlerts(p, 'server'), []);
  inject(t, p, 'server', b);
  t.deepEqual(deliveredStr(p, 'server'), ['swallowed'], 'the swallowed record was not marked as received');
  exchange(t, p, 'L0 swallow');
});

test('§4.2.3: a protected record shorter than 16 bytes is rejected as if it failed deprotection', (t) => {
  const p = connectedPair();
  const before = dropped(p, 'server');
  inject(t, p, 'server', cat([0x2c | 3], u16(takeSeq(p, 'client', 3)), u16(15), new Uint8Array(15).fill(7)));
  inject(t, p, 'server', cat([0x2c | 3], u16(takeSeq(p, 'client', 3)), u16(0)));
  t.is(dropped(p, 'server'), before + 2);
  assertAlive(t, p, 'server');
  exchange(t, p, 'short');
});

test('§4.1: records whose first byte is neither 21, 22, 26 nor 001xxxxx are rejected; the connection goes on', (t) => {
  const p = connectedPair();
  for (const first of [0x00, 0x14, 0x17, 0x19, 0x40, 0x80, 0xff]) {
    inject(t, p, 'server', cat([first, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9], u16(4), text('data')));
  }
  t.deepEqual(p.delivered.server, []);
  assertAlive(t, p, 'server');
  exchange(t, p, 'first byte');
});

// ---------------------------------------------------------------------------------------------------------------
// 5. Epochs (RFC 9147 §4.2.1, §4.2.2, §5.8.1, §6.1)

/**
 * The client updates its keys once and waits for the ACK. With `requestPeer` the server updates too, so that its
 * ACKs come under an epoch at least the client's (see the §7, §8 deviation below for why that matters here).
 */
function clientKeyUpdate(p: DtlsPair, requestPeer = true): void {
  p.input('client', { type: 'keyUpdate', requestPeer });
  p.run(p.now + 1_000);
}

test('§4.2.2: after updates to epoch 5, held-back records of epochs 3 and 4 are read with the most recent past epoch of their bits', (t) => {
  const p = connectedPair();
  const e3 = peerRecord(p, 'client', 3, APPLICATION_DATA, text('epoch 3'));
  clientKeyUpdate(p);
  t.is(p.client.writeEpoch, 4);
  const e4 = peerRecord(p, 'client', 4, APPLICATION_DATA, text('epoch 4'));
  clientKeyUpdate(p);
  t.is(p.client.writeEpoch, 5);
  inject(t, p, 'server', e4);
  inject(t, p, 'server', e3);
  t.deepEqual(deliveredStr(p, 'server'), ['epoch 4', 'epoch 3']);
  assertAlive(t, p, 'server');
  exchange(t, p, 'past epochs');
});

test('§4.2.2, §4.5.2: at epoch 7 a delayed epoch-3 record (the same epoch bits) is tried as epoch 7, fails and is dropped', (t) => {
  const p = connectedPair();
  const e3 = peerRecord(p, 'client', 3, APPLICATION_DATA, text('epoch 3, very late'));
  for (let i = 0; i < 4; i++) clientKeyUpdate(p);
  t.is(p.client.writeEpoch, 7);
  const before = dropped(p, 'server');
  inject(t, p, 'server', e3);
  t.deepEqual(p.delivered.server, []);
  t.is(dropped(p, 'server'), before + 1);
  assertAlive(t, p, 'server');
  exchange(t, p, 'epoch 7');
});

test('§5.8.1: server application data (epoch 3) arriving before the server Finished is discarded or buffered, never fatal; the handshake completes', (t) => {
  const p = new DtlsPair({}, {}, () => 'drop');
  p.start();
  p.input('server', { type: 'datagram', data: p.sent.client[0]! });
  const early = peerRecord(p, 'server', 3, APPLICATION_DATA, text('before the Finished'));
  inject(t, p, 'client', early);
  t.deepEqual(p.delivered.client, [], 'not delivered before the handshake completes');
  t.deepEqual(fatalAlerts(p, 'client'), []);
  for (const d of p.sent.server) inject(t, p, 'client', d);
  heal(p);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  const types = p.types('client');
  const at = types.indexOf('deliver');
  if (at >= 0) t.true(at > types.indexOf('handshakeComplete'), 'a buffered record is delivered only after the handshake');
  exchange(t, p, 'early app');
});

test('§5.8.1, §6.1: a new handshake message under epoch 2 after the handshake is not processed (dropped or unexpected_message)', (t) => {
  const p = connectedPair();
  const k = p.server.reads.find((r) => r.epoch === 2)!;
  const readEpoch = p.server.hs.readEpoch;
  inject(t, p, 'server', sealWith(p, k, 1_000, HANDSHAKE, whole(H.key_update, p.server.reassembly.nextSeq, [0])));
  t.is(p.server.hs.readEpoch, readEpoch, 'no key change from an epoch-2 KeyUpdate');
  droppedOrFatal(t, p, 'server', [A.unexpected_message], 'e2 new');
});

// ---------------------------------------------------------------------------------------------------------------
// 6. Sequence numbers, replay and limits (RFC 9147 §4.2.1, §4.5.1, §4.5.3)

test('§4.5.1: a record replayed after the window moved past it is dropped; it is delivered once', (t) => {
  const p = connectedPair();
  const first = peerRecord(p, 'client', 3, APPLICATION_DATA, text('once'));
  inject(t, p, 'server', first);
  for (let i = 0; i < 70; i++) inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text(`n${i}`)));
  const before = dropped(p, 'server');
  inject(t, p, 'server', first);
  t.is(deliveredStr(p, 'server').filter((s) => s === 'once').length, 1);
  t.is(dropped(p, 'server'), before + 1);
  assertAlive(t, p, 'server');
  exchange(t, p, 'replay');
});

test('§4.5.1: a never-seen record inside the window is delivered; one left of the window is dropped', (t) => {
  const p = connectedPair();
  const old = peerRecord(p, 'client', 3, APPLICATION_DATA, text('left of the window'));
  const k = writeKeys(p, 'client', 3);
  const base = k.seq;
  const inside = sealWith(p, k, base + 60, APPLICATION_DATA, text('inside the window'));
  inject(t, p, 'server', sealWith(p, k, base + 100, APPLICATION_DATA, text('edge')));
  setWriteSeq(p, 'client', 3, base + 101);
  inject(t, p, 'server', old);
  inject(t, p, 'server', inside);
  t.deepEqual(deliveredStr(p, 'server'), ['edge', 'inside the window']);
  assertAlive(t, p, 'server');
  exchange(t, p, 'window');
});

test('§4.2.2, §4.5.1: an authentic record 30 000 numbers ahead is reconstructed and delivered; records then left of the window are dropped', (t) => {
  const p = connectedPair();
  const k = writeKeys(p, 'client', 3);
  const late = sealWith(p, k, k.seq, APPLICATION_DATA, text('late'));
  const far = k.seq + 30_000;
  inject(t, p, 'server', sealWith(p, k, far, APPLICATION_DATA, text('far ahead')));
  setWriteSeq(p, 'client', 3, far + 1);
  inject(t, p, 'server', late);
  t.deepEqual(deliveredStr(p, 'server'), ['far ahead']);
  t.is(p.server.reads.find((r) => r.epoch === 3)!.window.top, far);
  assertAlive(t, p, 'server');
  exchange(t, p, 'far');
});

test('§4.2.2: an authentic record more than 2^15 numbers ahead cannot be reconstructed from 16 bits: dropped, the window does not move', (t) => {
  const p = connectedPair();
  const top = 100_000; // far from 0: near 0 any 16-bit value reconstructs exactly
  setReadTop(p, 'server', 3, top);
  setWriteSeq(p, 'client', 3, top + 1);
  const k = writeKeys(p, 'client', 3);
  inject(t, p, 'server', sealWith(p, k, k.seq + 40_000, APPLICATION_DATA, text('beyond 2^15')));
  t.deepEqual(p.delivered.server, []);
  t.is(p.server.reads.find((r) => r.epoch === 3)!.window.top, top);
  assertAlive(t, p, 'server');
  exchange(t, p, 'beyond');
});

test('§4, §4.2.1: record number 2^48 − 1 is accepted; a record whose number reconstructs to 2^48 is dropped', (t) => {
  const p = connectedPair();
  const max = 2 ** 48 - 1;
  setReadTop(p, 'server', 3, max - 1);
  const k = writeKeys(p, 'client', 3);
  inject(t, p, 'server', sealWith(p, k, max, APPLICATION_DATA, text('the last record number')));
  t.deepEqual(deliveredStr(p, 'server'), ['the last record number']);
  const before = dropped(p, 'server');
  inject(t, p, 'server', sealWith(p, k, max + 1, APPLICATION_DATA, text('2^48')));
  t.is(dropped(p, 'server'), before + 1);
  t.deepEqual(deliveredStr(p, 'server'), ['the last record number']);
  assertAlive(t, p, 'server');
});

// Found by this probe and fixed: rxtls neither rekeyed nor closed when an epoch's record numbers ran out: the write
// after record number 2^48 − 1 threw a bare RangeError out of handleDtlsEvents. Now a KeyUpdate goes out at
// `keyUpdateAfter` records, and the connection closes with a typed error if it is never acknowledged.
// RFC 9147 §4.2.1: "Implementations MUST either abandon an association or rekey prior to allowing the sequence number
// to wrap."
test('§4.2.1: at the end of the sequence space the sender rekeys or closes with a typed error; a write never throws', (t) => {
  const p = connectedPair({ cipherSuites: ['TLS_CHACHA20_POLY1305_SHA256'] });
  const start = 2 ** 48 - 3;
  setWriteSeq(p, 'client', 3, start);
  setReadTop(p, 'server', 3, start - 1);
  let threw: unknown;
  for (let i = 0; i < 6 && !isDtlsClosed(p.client); i++) {
    try {
      p.input('client', { type: 'write', data: text(`w${i}`) });
    } catch (e) {
      threw = e;
      break;
    }
    p.run(p.now + 1_000);
  }
  t.is(threw, undefined, `a write threw ${String(threw)}`);
  const closed = p.effects.client.find((e) => e.type === 'closed');
  t.true(p.client.writeEpoch > 3 || (closed?.type === 'closed' && closed.error instanceof TlsError), `write epoch ${p.client.writeEpoch}, closed: ${isDtlsClosed(p.client)}`);
});

// Found by this probe and fixed: the DTLS reducer had no AEAD confidentiality limit: it went on protecting records
// under one AES-GCM key past 2^24.5 records and never initiated a KeyUpdate (TLS and QUIC did).
// RFC 9147 §4.5.3 (RFC 8446 §5.5's limits): "Implementations SHOULD NOT protect more records than allowed by the
// limit specified for the negotiated AEAD. Implementations SHOULD initiate a key update before reaching this limit."
test('§4.5.3: with AES-GCM the sender has moved to new keys by 2^24.5 records under one key (a KeyUpdate), or closed', (t) => {
  const p = connectedPair({ cipherSuites: ['TLS_AES_128_GCM_SHA256'] });
  const limit = Math.floor(2 ** 24.5);
  setWriteSeq(p, 'client', 3, limit);
  setReadTop(p, 'server', 3, limit - 1);
  p.input('client', { type: 'write', data: text('at the limit') });
  p.run(p.now + 5_000);
  const closed = p.effects.client.find((e) => e.type === 'closed');
  t.true(p.client.writeEpoch > 3 || (closed?.type === 'closed' && closed.error instanceof TlsError), `write epoch ${p.client.writeEpoch}`);
  if (!isDtlsClosed(p.client)) exchange(t, p, 'aead limit');
});

// ---------------------------------------------------------------------------------------------------------------
// 7. Record content (RFC 9147 §4, §4.1; RFC 8446 §5.1, §5.2, §5.4)

test('RFC 8446 §5.1: an application record of exactly 2^14 bytes is delivered', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, new Uint8Array(2 ** 14).fill(0x61)));
  t.is(p.delivered.server.length, 1);
  t.is(p.delivered.server[0]!.length, 2 ** 14);
  exchange(t, p, 'max');
});

// Found by this probe and fixed: a protected record whose content exceeded 2^14 bytes was delivered (only the
// ciphertext's 2^14 + 256 bound was checked).
// RFC 8446 §5.4 (kept by RFC 9147 §4): "The length MUST NOT exceed 2^14 + 1 octets" for the inner plaintext, and
// §5.2: a record with more is record_overflow; DTLS may instead drop it (RFC 9147 §4.5.2), but never deliver it.
test('RFC 8446 §5.2, §5.4: an authentic record with 2^14 + 1 content bytes is never delivered (record_overflow or dropped)', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, new Uint8Array(2 ** 14 + 1).fill(0x62)));
  t.deepEqual(p.delivered.server, [], 'an over-long record is not delivered');
  droppedOrFatal(t, p, 'server', [A.record_overflow], 'overflow');
});

test('§4.1 (Figure 5), RFC 8446 §5: authentic records of type 99, heartbeat (24, never negotiated) or change_cipher_spec (20) are dropped or unexpected_message, never delivered', (t) => {
  for (const type of [99, 24, 20]) {
    const p = connectedPair();
    inject(t, p, 'server', peerRecord(p, 'client', 3, type, type === 20 ? [1] : text('odd type')));
    t.deepEqual(p.delivered.server, [], `type ${type}`);
    droppedOrFatal(t, p, 'server', [A.unexpected_message], `type ${type}`);
  }
});

test('RFC 8446 §5.4: an authentic record whose inner plaintext is all zeros (no content type) is dropped or unexpected_message', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 3, 0, [0, 0, 0]));
  t.deepEqual(p.delivered.server, []);
  droppedOrFatal(t, p, 'server', [A.unexpected_message], 'zeros');
});

test('RFC 8446 §5.1: an authentic empty handshake record is dropped or fatal (unexpected_message / decode_error), never a message', (t) => {
  const p = connectedPair();
  const next = p.server.reassembly.nextSeq;
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, []));
  t.is(p.server.reassembly.nextSeq, next);
  droppedOrFatal(t, p, 'server', [A.unexpected_message, A.decode_error], 'empty hs');
});

// ---------------------------------------------------------------------------------------------------------------
// 8. ACKs (RFC 9147 §7)

/** A connected pair with a client KeyUpdate outstanding (everything to the client is lost until healed). */
function pendingKeyUpdate() {
  const p = connectedPair();
  p.filter = (d) => (d.to === 'client' ? 'drop' : 'deliver');
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  const kuRecords = (p.client.flight?.records ?? []).map((r) => ({ epoch: r.epoch, seq: r.seq }));
  return { p, kuRecords };
}

test('§7: an empty ACK acknowledges nothing: the KeyUpdate stays outstanding, is retransmitted on its timer and completes', (t) => {
  const { p, kuRecords } = pendingKeyUpdate();
  t.true(kuRecords.length > 0);
  const deadline = nextDtlsTimeout(p.client);
  inject(t, p, 'client', peerRecord(p, 'server', 3, ACK, ackContent([])));
  t.truthy(p.client.pendingKeyUpdate, 'still outstanding');
  t.is(p.client.writeEpoch, 3);
  t.is(nextDtlsTimeout(p.client), deadline, 'the retransmission timer is untouched');
  assertAlive(t, p, 'client');
  p.filter = () => 'deliver';
  p.run(p.now + 5_000);
  t.is(p.client.writeEpoch, 4);
  exchange(t, p, 'empty ack');
});

test('§7: an ACK with record numbers beyond any epoch or 2^48 is harmless: nothing acknowledged, not fatal', (t) => {
  const { p, kuRecords } = pendingKeyUpdate();
  const huge = cat(u16(32), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], u64(kuRecords[0]!.seq), u64(3), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  inject(t, p, 'client', peerRecord(p, 'server', 3, ACK, huge));
  t.truthy(p.client.pendingKeyUpdate);
  assertAlive(t, p, 'client');
  p.filter = () => 'deliver';
  p.run(p.now + 5_000);
  t.is(p.client.writeEpoch, 4);
  exchange(t, p, 'huge ack');
});

test('§7: ACKs are not sent for application data or alert records', (t) => {
  const p = connectedPair();
  const before = p.sent.server.length;
  const e1 = inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text('no ack for me')));
  const e2 = inject(t, p, 'server', peerRecord(p, 'client', 3, ALERT, [AlertLevel.warning, A.user_canceled]));
  t.deepEqual(transmits([...e1, ...e2]), [], 'nothing sent in answer');
  p.run(p.now + 5_000);
  t.is(p.sent.server.length, before, 'no ACK later either');
  assertAlive(t, p, 'server');
  exchange(t, p, 'no ack');
});

test('§7: after its KeyUpdate was acknowledged an endpoint sends its ACKs under the new epoch (the highest available)', (t) => {
  const p = connectedPair();
  clientKeyUpdate(p);
  t.is(p.client.writeEpoch, 4);
  const before = p.sent.client.length;
  p.input('server', { type: 'keyUpdate', requestPeer: false });
  p.run(p.now + 1_000);
  const acks = acksFrom(p, 'client', p.sent.client.slice(before));
  t.true(acks.length > 0, 'the client acknowledged the server KeyUpdate');
  t.true(acks.every((a) => a.epoch === 4), `ACK epochs ${acks.map((a) => a.epoch).join(',')}`);
  exchange(t, p, 'ack epoch');
});

test('§7.1: ACKs list their record numbers in increasing order, each once', (t) => {
  const p = new DtlsPair({ mtu: 256 }, { mtu: 256 }, (d) => (d.to === 'client' && (d.index === 1 || d.index === 3) ? 'drop' : 'deliver'));
  p.start();
  p.run();
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  const acks = [...acksFrom(p, 'client', p.sent.client), ...acksFrom(p, 'server', p.sent.server)];
  t.true(acks.some((a) => a.list.length > 1), 'some ACK lists several records');
  for (const a of acks) {
    for (let i = 1; i < a.list.length; i++) {
      const x = a.list[i - 1]!;
      const y = a.list[i]!;
      t.true(x.epoch < y.epoch || (x.epoch === y.epoch && x.seq < y.seq), `ACK ${a.list.map((r) => `${r.epoch}/${r.seq}`).join(' ')}`);
    }
  }
});

test('§7, §7.2: a partial ACK of two NewSessionTickets: only the unacknowledged ticket is sent again, at once', (t) => {
  const ticketer = createTicketer(new Uint8Array(32).fill(4));
  const p = new DtlsPair({}, { ticketer, ticketCount: 2 });
  p.filter = (d) => (d.to === 'client' && isDtlsConnected(p.server) ? 'drop' : 'deliver');
  p.start();
  p.run(p.now + 100);
  t.true(isDtlsConnected(p.server));
  const flight = p.server.flight!;
  const tickets = flight.messages.filter((m) => m.msgType === H.new_session_ticket);
  t.is(tickets.length, 2);
  const firstIndex = flight.messages.indexOf(tickets[0]!);
  const firstRecords = flight.records.filter((r) => r.msg === firstIndex).map((r) => ({ epoch: r.epoch, seq: r.seq }));
  const effects = inject(t, p, 'server', peerRecord(p, 'client', 3, ACK, ackContent(firstRecords)));
  const resent = handshakeFragments(openedFrom(p, 'server', transmits(effects)));
  t.deepEqual([...new Set(resent.map((f) => f.messageSeq))], [tickets[1]!.msgSeq], 'only the second ticket');
  // The forged ACK spoke for the client: it must really have the first ticket (the datagrams that carried it).
  const carried = (d: Uint8Array) => openAll(p.client, d).some((r) => firstRecords.some((f) => f.epoch === r.epoch && f.seq === r.seq));
  const withFirst = p.sent.server.filter(carried);
  t.true(withFirst.length > 0);
  for (const d of withFirst) inject(t, p, 'client', d);
  heal(p);
  t.is(p.effects.client.filter((e) => e.type === 'session').length, 2);
  t.is(p.server.flight, undefined, 'both acknowledged in the end');
  exchange(t, p, 'tickets');
});

test('§7: a retransmitted KeyUpdate (same message_seq, new record) is acknowledged again and changes no keys', (t) => {
  const p = connectedPair();
  const next = p.server.reassembly.nextSeq;
  const ku = whole(H.key_update, next, [0]);
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, ku));
  t.is(p.server.hs.readEpoch, 4);
  setWriteSeq(p, 'client', 3, writeKeys(p, 'client', 3).seq);
  const seq = writeKeys(p, 'client', 3).seq;
  const effects = inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, ku));
  t.is(p.server.hs.readEpoch, 4, 'no second key change');
  const acks = acksFrom(p, 'server', transmits(effects));
  t.true(acks.some((a) => a.list.some((r) => r.epoch === 3 && r.seq === seq)), 'the retransmission is acknowledged (§7: "includes records containing messages which are discarded")');
  assertAlive(t, p, 'server');
});

// Found by this probe and fixed: a record carrying two handshake fragments, one processed and one discarded (beyond
// the reassembly window), was acknowledged whole, so the sender believed the discarded message received and never
// retransmitted it.
// RFC 9147 §7: "Implementations MUST NOT acknowledge records containing handshake messages or fragments which have
// not been processed or buffered."
test('§7: a record holding a processed fragment and a discarded one (too far ahead) is not acknowledged', (t) => {
  const p = connectedPair();
  const next = p.client.reassembly.nextSeq;
  const nst = bodyOf({ type: 'new_session_ticket', body: { lifetime: 3600, ageAdd: 1, nonce: Uint8Array.of(1), ticket: new Uint8Array(40).fill(9), unknown: [] } });
  const farSeq = next + p.client.reassembly.limits.maxAhead + 2; // beyond the window even after `next` is delivered
  const seq = writeKeys(p, 'server', 3).seq;
  const rec = peerRecord(p, 'server', 3, HANDSHAKE, cat(whole(H.new_session_ticket, next, nst), fragment({ type: H.new_session_ticket, length: 400, msgSeq: farSeq, offset: 0, body: new Uint8Array(20) })));
  const effects = inject(t, p, 'client', rec);
  t.is(p.effects.client.filter((e) => e.type === 'session').length, 1, 'the first ticket was processed');
  const buffered = p.client.reassembly.pending.some((m) => m.msgSeq === farSeq);
  const acked = acksFrom(p, 'client', transmits(effects)).some((a) => a.list.some((r) => r.epoch === 3 && r.seq === seq));
  t.true(buffered || !acked, 'the far fragment was discarded, so the record must not be acknowledged');
  assertAlive(t, p, 'client');
});

// ---------------------------------------------------------------------------------------------------------------
// 9. KeyUpdate (RFC 9147 §8, §5.8.4; RFC 8446 §4.6.3)

test('§4.2.1, §8: an unacknowledged KeyUpdate is retransmitted under the same epoch (3), with the same message_seq, in new records', (t) => {
  const p = connectedPair();
  p.filter = (d) => (d.to === 'server' ? 'drop' : 'deliver');
  const before = p.sent.client.length;
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  p.run(p.now + 8_000);
  const kus = handshakeFragments(openedFrom(p, 'client', p.sent.client.slice(before))).filter((f) => f.msgType === H.key_update);
  t.true(kus.length >= 3, `${kus.length} transmissions`);
  t.deepEqual([...new Set(kus.map((f) => f.messageSeq))].length, 1, 'one message_seq');
  t.true(kus.every((f) => f.epoch === 3), 'all under epoch 3');
  t.is(new Set(kus.map((f) => f.seq)).size, kus.length, 'each transmission a new record number');
  p.filter = () => 'deliver';
  p.run(p.now + 70_000);
  t.is(p.client.writeEpoch, 4);
  exchange(t, p, 'ku resend');
});

test('RFC 8446 §4.6.3: a KeyUpdate with update_requested is answered by exactly one KeyUpdate, with update_not_requested', (t) => {
  const p = connectedPair();
  const before = p.sent.client.length;
  p.input('server', { type: 'keyUpdate', requestPeer: true });
  p.run(p.now + 2_000);
  const replies = handshakeFragments(openedFrom(p, 'client', p.sent.client.slice(before))).filter((f) => f.msgType === H.key_update);
  t.is(new Set(replies.map((f) => f.messageSeq)).size, 1, 'one KeyUpdate in answer');
  t.deepEqual(Array.from(replies[0]!.body), [0], 'update_not_requested (no update loop)');
  t.is(p.client.writeEpoch, 4);
  t.is(p.server.writeEpoch, 4);
  exchange(t, p, 'ku reply');
});

test('RFC 8446 §4.6.3: a KeyUpdate before the Finished (under epoch 2) is unexpected_message', (t) => {
  const p = new DtlsPair();
  p.start();
  p.run(p.now + 5); // the server has the ClientHello and the client's handshake keys
  const k = p.server.reads.find((r) => r.epoch === 2)!;
  inject(t, p, 'server', sealWith(p, k, 0, HANDSHAKE, whole(H.key_update, p.server.reassembly.nextSeq, [0])));
  assertFatal(t, p, 'server', [A.unexpected_message]);
});

test('RFC 8446 §4.6.3: a KeyUpdate with request_update 2 is illegal_parameter', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, whole(H.key_update, p.server.reassembly.nextSeq, [2])));
  assertFatal(t, p, 'server', [A.illegal_parameter]);
  t.is(p.server.hs.readEpoch, 3);
});

test('RFC 8446 §4.6.3: a KeyUpdate with a 2-byte body is decode_error', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, whole(H.key_update, p.server.reassembly.nextSeq, [0, 0])));
  assertFatal(t, p, 'server', [A.decode_error]);
});

test('§5.8.4: asking for a second KeyUpdate while one is unacknowledged is API misuse (typed); nothing more goes on the wire', (t) => {
  const p = connectedPair();
  p.filter = () => 'drop';
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  const sent = p.sent.client.length;
  const err = t.throws(() => p.input('client', { type: 'keyUpdate', requestPeer: true }), { instanceOf: TlsError });
  t.is(err?.kind, 'apiMisuse');
  t.is(p.sent.client.length, sent);
  t.false(isDtlsClosed(p.client));
});

// Found by this probe and fixed: epochs are per direction, but onAck kept only the record numbers whose epoch was
// at most the ACK record's own epoch. Once the client alone had updated its keys, its second KeyUpdate went out
// under epoch 4 and the server acknowledged it, as it must, under its highest sending epoch, 3; the client
// discarded that ACK, retransmitted the KeyUpdate for ever and could never update again.
// RFC 9147 §7: "After the handshake, implementations MUST use the highest available sending epoch" (the rule "equal
// to or higher than the record which is being acknowledged" holds during the handshake only), and §7.2: a record
// "MUST [be treated] as having been acknowledged if it appears in any ACK".
test('§7, §8: a second KeyUpdate of one side (an epoch-4 record) is completed by the peer\'s ACK sent under the peer\'s epoch 3', (t) => {
  const p = connectedPair();
  clientKeyUpdate(p, false);
  t.is(p.client.writeEpoch, 4);
  t.is(p.server.writeEpoch, 3, 'the server did not update its own keys');
  const before = p.sent.server.length;
  clientKeyUpdate(p, false);
  const acks = acksFrom(p, 'server', p.sent.server.slice(before));
  t.true(acks.some((a) => a.epoch === 3 && a.list.some((r) => r.epoch === 4)), 'the server acknowledged the epoch-4 record under its own (highest) epoch 3');
  t.is(p.client.pendingKeyUpdate, undefined, 'the ACK completes the KeyUpdate');
  t.is(p.client.writeEpoch, 5);
  t.is(dtlsStats(p.client).retransmissions, 0);
  exchange(t, p, 'second ku');
});

// ---------------------------------------------------------------------------------------------------------------
// 10. Messages DTLS 1.3 forbids or did not ask for (RFC 9147 §5.6; RFC 8446 §4.6)

test('§5.6: EndOfEarlyData in place of the client Finished (under epoch 2) is unexpected_message', (t) => {
  const p = new DtlsPair();
  p.start();
  p.run(p.now + 5);
  const k = p.server.reads.find((r) => r.epoch === 2)!;
  inject(t, p, 'server', sealWith(p, k, 0, HANDSHAKE, whole(H.end_of_early_data, p.server.reassembly.nextSeq, [])));
  assertFatal(t, p, 'server', [A.unexpected_message]);
});

test('§5.6: EndOfEarlyData after the handshake is unexpected_message', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, whole(H.end_of_early_data, p.server.reassembly.nextSeq, [])));
  assertFatal(t, p, 'server', [A.unexpected_message]);
});

test('§5.6, RFC 8446 §4.6.1: a NewSessionTicket with an early_data extension is accepted and acknowledged; the session records the size', (t) => {
  const p = connectedPair();
  const next = p.client.reassembly.nextSeq;
  const body = bodyOf({ type: 'new_session_ticket', body: { lifetime: 3600, ageAdd: 5, nonce: Uint8Array.of(7), ticket: new Uint8Array(48).fill(3), maxEarlyDataSize: 16_384, unknown: [] } });
  const seq = writeKeys(p, 'server', 3).seq;
  const effects = inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, whole(H.new_session_ticket, next, body)));
  const session = p.effects.client.find((e) => e.type === 'session');
  t.true(session?.type === 'session' && session.session.maxEarlyData === 16_384);
  t.true(acksFrom(p, 'client', transmits(effects)).some((a) => a.list.some((r) => r.epoch === 3 && r.seq === seq)), 'acknowledged at once');
  assertAlive(t, p, 'client');
  exchange(t, p, 'nst early');
});

test('RFC 8446 §4.6.2: a post-handshake CertificateRequest to a client that did not offer post_handshake_auth is unexpected_message', (t) => {
  const p = connectedPair();
  const body = bodyOf({ type: 'certificate_request', body: { context: Uint8Array.of(1), signatureAlgorithms: [0x0804], unknown: [], order: [] } });
  inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, whole(H.certificate_request, p.client.reassembly.nextSeq, body)));
  assertFatal(t, p, 'client', [A.unexpected_message]);
});

test('RFC 8446 §4.6: a CertificateRequest or NewSessionTicket sent to a server is unexpected_message', (t) => {
  for (const [type, body] of [
    [H.certificate_request, bodyOf({ type: 'certificate_request', body: { context: Uint8Array.of(1), signatureAlgorithms: [0x0804], unknown: [], order: [] } })],
    [H.new_session_ticket, bodyOf({ type: 'new_session_ticket', body: { lifetime: 60, ageAdd: 0, nonce: Uint8Array.of(0), ticket: Uint8Array.of(1, 2, 3), unknown: [] } })],
  ] as const) {
    const p = connectedPair();
    inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, whole(type, p.server.reassembly.nextSeq, body)));
    assertFatal(t, p, 'server', [A.unexpected_message]);
  }
});

test('RFC 8446 §4: a ClientHello under epoch 3 after the handshake (no renegotiation in (D)TLS 1.3) is unexpected_message', (t) => {
  const p = connectedPair();
  const ch = firstFragment(p.sent.client[0]!);
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, whole(H.client_hello, p.server.reassembly.nextSeq, ch.body)));
  assertFatal(t, p, 'server', [A.unexpected_message]);
});

test('RFC 8446 §4: a ServerHello or Finished under epoch 3 after the handshake is unexpected_message at the client', (t) => {
  for (const which of ['server_hello', 'finished'] as const) {
    const p = connectedPair();
    const sh = firstFragment(p.sent.server[0]!);
    const [type, body] = which === 'server_hello' ? [H.server_hello, sh.body] : [H.finished, new Uint8Array(32)];
    inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, whole(type, p.client.reassembly.nextSeq, body)));
    assertFatal(t, p, 'client', [A.unexpected_message]);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// 11. Reassembly (RFC 9147 §5.5)

// Found by this probe and fixed: overlapping fragments of a post-handshake message whose bytes differed in the
// overlap were accepted, the first bytes winning.
// RFC 9147 §5.5: "Receivers MAY check that retransmitted bytes are identical and SHOULD abort the handshake with an
// "illegal_parameter" alert if the value of a byte changes." (A SHOULD; round one accepted either outcome for the
// ClientHello.)
test('§5.5: overlapping NewSessionTicket fragments whose overlap differs are illegal_parameter', (t) => {
  const p = connectedPair();
  const next = p.client.reassembly.nextSeq;
  const body = bodyOf({ type: 'new_session_ticket', body: { lifetime: 3600, ageAdd: 9, nonce: Uint8Array.of(2), ticket: new Uint8Array(200).fill(0x33), unknown: [] } });
  const half = body.length >> 1;
  const altered = Uint8Array.from(body.subarray(half - 16));
  for (let i = 0; i < 16; i++) altered[i] ^= 0xff;
  inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, fragment({ type: H.new_session_ticket, length: body.length, msgSeq: next, offset: 0, body: body.subarray(0, half) })));
  inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, fragment({ type: H.new_session_ticket, length: body.length, msgSeq: next, offset: half - 16, body: altered })));
  assertFatal(t, p, 'client', [A.illegal_parameter]);
});

test('§5.5: a post-handshake fragment whose offset + length runs past the message length is dropped or decode_error, never processed', (t) => {
  const p = connectedPair();
  const next = p.client.reassembly.nextSeq;
  inject(t, p, 'client', peerRecord(p, 'server', 3, HANDSHAKE, fragment({ type: H.key_update, length: 1, msgSeq: next, offset: 1, body: [0] })));
  t.is(p.client.reassembly.nextSeq, next);
  t.is(p.client.hs.readEpoch, 3);
  droppedOrFatal(t, p, 'client', [A.decode_error, A.illegal_parameter], 'past end');
});

test('§5.5: a post-handshake message claiming 2^24 − 1 bytes is refused (decode_error) or dropped; nothing near that is buffered', (t) => {
  const p = connectedPair();
  const next = p.server.reassembly.nextSeq;
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, fragment({ type: H.key_update, length: 0xffffff, msgSeq: next, offset: 0, body: new Uint8Array(100) })));
  t.true(bufferedBytes(p.server.reassembly) <= 100);
  droppedOrFatal(t, p, 'server', [A.decode_error], 'huge');
});

// ---------------------------------------------------------------------------------------------------------------
// 12. Alerts (RFC 9147 §4.5.2, §5.10)

test('§4.5.2: a plaintext fatal alert after the handshake is dropped: not believed, the connection goes on', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', plainRecord(ALERT, 7, [AlertLevel.fatal, A.handshake_failure]));
  t.false(p.types('server').includes('alertReceived'));
  assertAlive(t, p, 'server');
  exchange(t, p, 'plain alert');
});

test('§4.5.2: a plaintext close_notify after the handshake is dropped: the inbound stream stays open', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', plainRecord(ALERT, 8, [AlertLevel.warning, A.close_notify]));
  t.false(p.types('server').includes('peerClosed'));
  assertAlive(t, p, 'server');
  exchange(t, p, 'plain close');
});

// Found by this probe and fixed: after a fatal alert the connection was closed and every later datagram ignored, so
// the offending message retransmitted by the peer drew no alert.
// RFC 9147 §5.10: "a DTLS implementation which would ordinarily issue an alert SHOULD generate a new alert message if
// the offending record is received again (e.g., as a retransmitted handshake message)." (A SHOULD.)
test('§5.10: the offending message received again (retransmitted) after a fatal alert draws the alert again', (t) => {
  const p = connectedPair();
  const bad = whole(H.key_update, p.server.reassembly.nextSeq, [2]);
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, bad));
  t.deepEqual(fatalAlerts(p, 'server'), [A.illegal_parameter]);
  const effects = inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, bad));
  t.deepEqual(fatalAlerts(p, 'server'), [A.illegal_parameter, A.illegal_parameter]);
  t.true(transmits(effects).length > 0, 'the alert on the wire again');
});
