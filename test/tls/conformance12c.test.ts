/**
 * TLS 1.2 conformance probes, part 3, in the manner of tlsfuzzer's TLS 1.2 scripts (test-ccs,
 * test-early-application-data, test-renegotiation-disabled, test-interleaved-application-data-and-fragmented-
 * handshakes-in-renegotiation, test-record-layer-fragmentation, test-record-size-limit) and TLS-Anvil: early and
 * repeated ChangeCipherSpec (RFC 5246 §7.1, CVE-2014-0224), refused renegotiation (RFC 5246 §7.4.1.1, RFC 5746
 * §4.2/§4.4) and application data interleaved with it (RFC 5246 §6.2.1), alerts (RFC 5246 §7.2), NewSessionTicket
 * placement and syntax (RFC 5077 §3.3), record_size_limit (RFC 8449) and max_fragment_length (RFC 6066 §4),
 * handshake fragmentation, and key exchange points (RFC 8422 §5.4, §5.7, §5.11; RFC 7748 §6.1) on both sides, the
 * ServerKeyExchange validly re-signed so that the verdict is about the point alone.
 *
 * Each probe asserts the RFC outcome on the wire (the fatal alert and a typed close, a warning and a connection that
 * goes on, delivered data); the reducer must never throw. Where the RFC leaves a choice every allowed outcome is
 * accepted. Probes that found a deviation when they were written say so ("found by this probe and fixed").
 *
 * Not repeated here (covered by conformance12.test.ts, conformance12b.test.ts, clientAuth.conformance.test.ts,
 * tls12.test.ts, hardening.test.ts): CCS empty / two bytes / value 2 / before the ClientKeyExchange / split inside the
 * ClientKeyExchange / after the handshake to the client; a HelloRequest or a renegotiating (initial) ClientHello after
 * the handshake; a HelloRequest from the client; 1- and 3-byte alert records; ClientKeyExchange points (lengths,
 * off-curve, compressed, all-zero X25519); TLS 1.2 client authentication; session resumption by ticket.
 */
import test, { type ExecutionContext } from 'ava';
import { createECDH, createPrivateKey, sign as nodeSign } from 'node:crypto';
import { u16, hsMsg, feed, fatalAlerts, assertFatal, assertAlive, inject, exchange, parseClientHello, buildClientHello, type ClientHelloParts } from '../helpers/tls12Probe.js';
import { Pair, caVerifier, fixture, str, text, type Side } from '../helpers/pair.js';
import { editHelloExtensions, helloExtensions, joinRecords, rewriteFirstMessage, splitMessages, splitRecords, type RawExt } from '../helpers/tls12.js';
import { handshakePhase } from '../../src/handshake/engine.js';
import { handshakeInfo, shutdownState, type TlsState } from '../../src/tls/connection.js';
import { openRecord12, plainRecord, sealRecord, type RecordKey } from '../../src/tls/record.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import { AlertDescription as A, AlertLevel, ExtensionType as X } from '../../src/wire/tls/constants.js';
import { TlsError } from '../../src/core/errors.js';
import { createTicketer } from '../../src/handshake/session.js';

const TLS12: Partial<TlsClientConfig> = { maxVersion: 'TLSv1.2' };
const SERVER12: Partial<TlsServerConfig> = { maxVersion: 'TLSv1.2' };
const ticketServer = (): Partial<TlsServerConfig> => ({ ticketer: createTicketer(new Uint8Array(32).fill(9)) });

// ---------------------------------------------------------------------------------------------------------------
// Helpers

type Keyed = TlsState & { txKey: RecordKey; rxKey: RecordKey };
const txKey = (pair: Pair, side: Side): RecordKey => (pair[side] as Keyed).txKey;
/** A side's write key as it was before its first protected record (sequence number 0). */
const key0Of = (pair: Pair, side: Side): RecordKey => ({ ...txKey(pair, side), seq: 0 }) as RecordKey;
/** Replace a side's write key (after records were sealed in its place by the test). */
const setTxKey = (pair: Pair, side: Side, key: RecordKey): void => {
  pair[side] = { ...(pair[side] as Keyed), txKey: key } as TlsState;
};

const cat = (...parts: ArrayLike<number>[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
/** Records back into one chunk as they were (sealed ones stay sealed). */
const joinRaw = (records: readonly { type: number; body: Uint8Array }[]): Uint8Array => Buffer.concat(records.map((r) => plainRecord(r.type, r.body)));
const header12 = (type: number, length: number): Uint8Array => Uint8Array.of(type, 3, 3, ...u16(length));

/** Open a TLS 1.2 protected record (type and body as split) with `key`; throws if it does not open. */
function open12(key: RecordKey, rec: { type: number; body: Uint8Array }): Uint8Array {
  const o = openRecord12(key, header12(rec.type, rec.body.length), rec.body);
  if (o.kind !== 'ok') throw new Error(`setup: cannot open the record (${o.kind})`);
  return Uint8Array.from(o.content);
}

/** Seal `contents` in order from `key`; the records and the key after them. */
function sealAll(key: RecordKey, type: number, contents: readonly Uint8Array[]): { bytes: Uint8Array; key: RecordKey } {
  let k = key;
  const out: Uint8Array[] = [];
  for (const c of contents) {
    const s = sealRecord(k, type, c);
    out.push(s.bytes);
    k = s.key;
  }
  return { bytes: Buffer.concat(out), key: k };
}

const alertsSent = (pair: Pair, side: Side) =>
  pair.effects[side].flatMap((e) => (e.type === 'alertSent' ? [{ level: e.level, description: e.description }] : []));
const alertsReceived = (pair: Pair, side: Side) =>
  pair.effects[side].flatMap((e) => (e.type === 'alertReceived' ? [{ level: e.level, description: e.description }] : []));
const NO_RENEGOTIATION = { level: AlertLevel.warning, description: A.no_renegotiation };

const connected12 = (client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) => {
  const pair = new Pair({ ...TLS12, ...client }, server).start().drive();
  if (!handshakeInfo(pair.client) || !handshakeInfo(pair.server)) throw new Error('setup: the handshake did not complete');
  return pair;
};

/** A TLS 1.2 server flight (towards the client) after the server read the ClientHello; the ClientHello too. */
function serverFlight(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
  const pair = new Pair({ ...TLS12, ...client }, server).start();
  const hello = Uint8Array.from(splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!);
  pair.serverRound();
  const flight = Buffer.concat(pair.inbox.client.splice(0));
  return { pair, hello, flight, msgs: splitRecords(flight).flatMap((r) => splitMessages(r.body)) };
}

/**
 * A TLS 1.2 pair after the client read the server's first flight: the client's flight (ClientKeyExchange,
 * ChangeCipherSpec, Finished) returned undelivered, with the client's write key at sequence number 0 and the
 * plaintext of its Finished.
 */
function clientFlight(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
  const pair = new Pair({ ...TLS12, ...client }, server).start();
  const hello = Uint8Array.from(splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!);
  pair.serverRound();
  pair.input('client', { type: 'received', now: pair.now, data: Buffer.concat(pair.inbox.client.splice(0)) });
  const records = splitRecords(Buffer.concat(pair.inbox.server.splice(0)));
  const key0 = key0Of(pair, 'client');
  const ccsAt = records.findIndex((r) => r.type === 20);
  const cke = splitMessages(Buffer.concat(records.slice(0, ccsAt).map((r) => r.body))).find((m) => m[0] === 16)!;
  const fin = open12(key0, records[ccsAt + 1]!);
  return { pair, hello, records, key0, cke: Uint8Array.from(cke), fin };
}

/** The server's final flight ([NewSessionTicket], CCS, Finished) after it read the genuine client flight; not delivered. */
function serverFinalFlight(server: Partial<TlsServerConfig> = {}) {
  const f = clientFlight({}, server);
  f.pair.input('server', { type: 'received', now: f.pair.now, data: joinRaw(f.records) });
  const records = splitRecords(Buffer.concat(f.pair.inbox.client.splice(0)));
  const key0 = key0Of(f.pair, 'server');
  return { pair: f.pair, records, key0, fin: open12(key0, records[records.length - 1]!) };
}

/** Rewrite every handshake message in the plaintext records of a flight (`undefined` drops it). */
function rewriteMessages(flight: Uint8Array, rewrite: (msg: Uint8Array) => Uint8Array | undefined): Uint8Array {
  return joinRecords(
    splitRecords(flight).map((r) => (r.type === 22 ? { type: 22, body: Buffer.concat(splitMessages(r.body).flatMap((m) => rewrite(m) ?? [])) } : r)),
  );
}

/** A ClientHello message rewritten by `edit`. */
function editHello(msg: Uint8Array, edit: (p: ClientHelloParts) => void): Uint8Array {
  const p = parseClientHello(msg);
  edit(p);
  return buildClientHello(p);
}

/** A started TLS 1.2 pair whose ClientHello (the first flight towards the server) is rewritten before delivery. */
function editedHello(edit: (p: ClientHelloParts) => void, client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
  const pair = new Pair({ ...TLS12, ...client }, server).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (msg) => editHello(msg, edit));
  return { pair, hello };
}

/** Extensions with `type` set to `data` (replaced in place, or added at the end). */
const setExt = (exts: RawExt[], type: number, data: ArrayLike<number>): RawExt[] =>
  exts.some((e) => e.type === type)
    ? exts.map((e) => (e.type === type ? { type, data: Uint8Array.from(Array.from(data)) } : e))
    : [...exts, { type, data: Uint8Array.from(Array.from(data)) }];

/** The ServerHello of a server's first flight (towards the client) and its extensions. */
function serverHelloIn(flight: Uint8Array) {
  const sh = splitMessages(splitRecords(flight)[0]!.body)[0]!;
  return { sh, exts: helloExtensions(sh) };
}

/**
 * A connected TLS 1.2 pair, the client's initial ClientHello message and its Finished.verify_data (the
 * client_verify_data a secure renegotiation's renegotiation_info carries, RFC 5746 §3.5).
 */
function connectedWithVerifyData() {
  const f = clientFlight();
  const { pair } = f;
  pair.inbox.server.push(joinRaw(f.records));
  pair.drive();
  if (!handshakeInfo(pair.server)) throw new Error('setup: not connected');
  return { pair, hello: f.hello, clientVerifyData: f.fin.subarray(4) };
}

/** The renegotiation ClientHello: the initial one with renegotiation_info set to `info` (opaque<0..255> body). */
const renegotiationHello = (hello: Uint8Array, info: ArrayLike<number>): Uint8Array =>
  editHelloExtensions(hello, (exts) => setExt(exts, X.renegotiation_info, [info.length, ...Array.from(info)]));

/** Either a no_renegotiation warning and a connection that goes on, or one fatal alert of `fatal`. */
function refusesRenegotiation(t: ExecutionContext, pair: Pair, side: Side, fatal: readonly number[]): 'warning' | 'fatal' {
  if (fatalAlerts(pair, side).length === 0) {
    assertAlive(t, pair, side);
    t.deepEqual(alertsSent(pair, side), [NO_RENEGOTIATION]);
    pair.drive();
    exchange(t, pair, '-after-refusal');
    return 'warning';
  }
  assertFatal(t, pair, side, fatal);
  return 'fatal';
}

// ---------------------------------------------------------------------------------------------------------------
// 1. ChangeCipherSpec out of place (RFC 5246 §7.1; CVE-2014-0224, tlsfuzzer test-ccs, test-early-application-data)

const CCS = plainRecord(20, Uint8Array.of(1));

test('RFC 5246 §7.1: client: a ChangeCipherSpec right after the ServerHello (before the Certificate) is unexpected_message', (t) => {
  const { pair, msgs } = serverFlight();
  feed(t, pair, 'client', plainRecord(22, msgs[0]!));
  t.is(handshakePhase(pair.client.hs), 'expectCertificate12');
  feed(t, pair, 'client', CCS);
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('RFC 5246 §7.1 (CVE-2014-0224): client: a ChangeCipherSpec after the ServerKeyExchange, before the ServerHelloDone, is unexpected_message', (t) => {
  const { pair, msgs } = serverFlight();
  t.deepEqual(msgs.map((m) => m[0]), [2, 11, 12, 14]);
  feed(t, pair, 'client', plainRecord(22, Buffer.concat(msgs.slice(0, 3))));
  t.is(handshakePhase(pair.client.hs), 'expectCertificateRequestOrDone');
  feed(t, pair, 'client', CCS);
  assertFatal(t, pair, 'client', [A.unexpected_message]);
  t.deepEqual(splitRecords(Buffer.concat(pair.inbox.server)).map((r) => r.type), [21], 'the alert only: no client flight');
});

// Found by this probe and fixed: a TLS 1.2-only client dropped it as TLS 1.3's middlebox CCS (RFC 8446 §5 allows
// that only to an endpoint that may negotiate TLS 1.3).
test('RFC 5246 §7.1: client (TLS 1.2 only): a ChangeCipherSpec before the ServerHello is unexpected_message', (t) => {
  const pair = new Pair(TLS12).start();
  feed(t, pair, 'client', CCS);
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('RFC 5246 §7.1: server (TLS 1.2 only): a ChangeCipherSpec before the ClientHello is unexpected_message', (t) => {
  const pair = new Pair(TLS12, SERVER12).start();
  pair.inbox.server.splice(0);
  feed(t, pair, 'server', CCS);
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('RFC 5246 §7.1: server: two ChangeCipherSpec records in a row after the ClientKeyExchange is unexpected_message', (t) => {
  const { pair, cke } = clientFlight();
  feed(t, pair, 'server', Buffer.concat([plainRecord(22, cke), CCS, CCS]));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('RFC 5246 §7.1: server: a ChangeCipherSpec of value 0 or 255 (enum { change_cipher_spec(1) }) is unexpected_message, decode_error or illegal_parameter', (t) => {
  for (const v of [0, 255]) {
    const { pair, cke } = clientFlight();
    feed(t, pair, 'server', Buffer.concat([plainRecord(22, cke), plainRecord(20, Uint8Array.of(v))]));
    assertFatal(t, pair, 'server', [A.unexpected_message, A.decode_error, A.illegal_parameter]);
  }
});

test('RFC 5246 §7.4.6: server (client certificate requested): a ChangeCipherSpec where the client Certificate is expected is unexpected_message', (t) => {
  const { pair } = clientFlight({}, { requestClientCertificate: true, verifier: caVerifier() });
  t.is(handshakePhase(pair.server.hs), 'expectClientCertificate12');
  feed(t, pair, 'server', CCS);
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('RFC 5246 §7.1: TLS 1.2 connected: a ChangeCipherSpec after the handshake, plaintext or under the current keys, is unexpected_message', (t) => {
  const plain = connected12();
  feed(t, plain, 'server', CCS);
  assertFatal(t, plain, 'server', [A.unexpected_message]);
  const sealed = connected12();
  feed(t, sealed, 'server', inject(sealed, 'client', 20, Uint8Array.of(1)));
  assertFatal(t, sealed, 'server', [A.unexpected_message]);
});

test('RFC 5246 §7.1: server: the client Finished split across the ChangeCipherSpec (its header before, the rest after) is unexpected_message', (t) => {
  const { pair, cke, key0, fin } = clientFlight();
  feed(t, pair, 'server', Buffer.concat([plainRecord(22, cke), plainRecord(22, fin.subarray(0, 2)), CCS, sealRecord(key0, 22, fin.subarray(2)).bytes]));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

// ---------------------------------------------------------------------------------------------------------------
// 2. HelloRequest and refused renegotiation (RFC 5246 §7.4.1.1, RFC 5746 §4.2, §4.4; tlsfuzzer test-renegotiation-disabled)

const HELLO_REQUEST = hsMsg(0, []);

test('RFC 5246 §7.4.1.1: client: a HelloRequest inside the server flight (after the Certificate) is ignored and left out of the transcript; the handshake completes', (t) => {
  const { pair, flight } = serverFlight();
  feed(t, pair, 'client', rewriteMessages(flight, (m) => (m[0] === 11 ? Buffer.concat([m, HELLO_REQUEST]) : m)));
  assertAlive(t, pair, 'client');
  t.deepEqual(alertsSent(pair, 'client'), [], 'no no_renegotiation during the handshake');
  pair.drive();
  assertAlive(t, pair, 'server');
  t.truthy(handshakeInfo(pair.client));
  t.truthy(handshakeInfo(pair.server), 'the Finished messages agree: the HelloRequest is not hashed');
  exchange(t, pair);
});

test('RFC 5246 §7.4.1.1: client: a HelloRequest between the server ChangeCipherSpec and Finished (protected) is ignored; the handshake completes', (t) => {
  const { pair, records, key0, fin } = serverFinalFlight();
  t.deepEqual(records.map((r) => r.type), [20, 22]);
  const sealed = sealAll(key0, 22, [HELLO_REQUEST, fin]);
  setTxKey(pair, 'server', sealed.key);
  feed(t, pair, 'client', Buffer.concat([CCS, sealed.bytes]));
  assertAlive(t, pair, 'client');
  t.truthy(handshakeInfo(pair.client));
  t.deepEqual(alertsSent(pair, 'client'), []);
  exchange(t, pair);
});

// Found by this probe and fixed: the HelloRequest went to the TLS 1.3 decoder, which has no such message, and the
// client aborted.
test('RFC 5246 §7.4.1.1: client (TLS 1.2 only): a HelloRequest before the ServerHello is ignored', (t) => {
  const pair = new Pair(TLS12).start();
  feed(t, pair, 'client', plainRecord(22, HELLO_REQUEST));
  assertAlive(t, pair, 'client');
  pair.drive();
  assertAlive(t, pair, 'server');
  t.truthy(handshakeInfo(pair.client));
  exchange(t, pair);
});

test('RFC 5246 §7.4.1.1: client: a HelloRequest with a body (struct { } HelloRequest) after the handshake is decode_error', (t) => {
  const pair = connected12();
  feed(t, pair, 'client', inject(pair, 'server', 22, hsMsg(0, [0])));
  assertFatal(t, pair, 'client', [A.decode_error]);
});

test('RFC 5746 §4.2: client: two HelloRequests in one record get two no_renegotiation warnings; the connection goes on', (t) => {
  const pair = connected12();
  feed(t, pair, 'client', inject(pair, 'server', 22, Buffer.concat([HELLO_REQUEST, HELLO_REQUEST])));
  assertAlive(t, pair, 'client');
  t.deepEqual(alertsSent(pair, 'client'), [NO_RENEGOTIATION, NO_RENEGOTIATION]);
  pair.drive();
  assertAlive(t, pair, 'server');
  t.deepEqual(alertsReceived(pair, 'server'), [NO_RENEGOTIATION, NO_RENEGOTIATION]);
  exchange(t, pair);
});

test('RFC 5746 §4.4: server: a secure renegotiation ClientHello (renegotiation_info = client_verify_data) amid a split request gets no_renegotiation; the data arrives whole', (t) => {
  const { pair, hello, clientVerifyData } = connectedWithVerifyData();
  t.is(clientVerifyData.length, 12);
  feed(t, pair, 'server', inject(pair, 'client', 23, text('GET / HTTP/1.0\r\n')));
  feed(t, pair, 'server', inject(pair, 'client', 22, renegotiationHello(hello, clientVerifyData)));
  feed(t, pair, 'server', inject(pair, 'client', 23, text('\r\n')));
  assertAlive(t, pair, 'server');
  t.deepEqual(alertsSent(pair, 'server'), [NO_RENEGOTIATION]);
  t.is(str(pair.delivered.server), 'GET / HTTP/1.0\r\n\r\n');
  pair.drive();
  assertAlive(t, pair, 'client');
  exchange(t, pair);
});

test('RFC 5746 §3.7, §4.4: server: a legacy renegotiation ClientHello (SCSV, no renegotiation_info) gets no_renegotiation or handshake_failure', (t) => {
  const { pair, hello } = connectedWithVerifyData();
  const legacy = editHello(hello, (p) => {
    p.exts = p.exts.filter((e) => e.type !== X.renegotiation_info);
    p.suites = [...p.suites, 0x00ff];
  });
  feed(t, pair, 'server', inject(pair, 'client', 22, legacy));
  t.log(refusesRenegotiation(t, pair, 'server', [A.handshake_failure]));
});

test('RFC 5746 §3.7, §4.4: server: a renegotiation ClientHello with a wrong renegotiation_info gets no_renegotiation or handshake_failure', (t) => {
  const { pair, hello, clientVerifyData } = connectedWithVerifyData();
  const wrong = Uint8Array.from(clientVerifyData, (b) => b ^ 0xff);
  feed(t, pair, 'server', inject(pair, 'client', 22, renegotiationHello(hello, wrong)));
  t.log(refusesRenegotiation(t, pair, 'server', [A.handshake_failure]));
});

test('RFC 5746 §4.4: server: a renegotiation ClientHello in two protected records gets no_renegotiation; the connection goes on', (t) => {
  const { pair, hello, clientVerifyData } = connectedWithVerifyData();
  const ch = renegotiationHello(hello, clientVerifyData);
  feed(t, pair, 'server', inject(pair, 'client', 22, ch.subarray(0, 30)));
  feed(t, pair, 'server', inject(pair, 'client', 22, ch.subarray(30)));
  assertAlive(t, pair, 'server');
  t.deepEqual(alertsSent(pair, 'server'), [NO_RENEGOTIATION]);
  pair.drive();
  exchange(t, pair);
});

test('RFC 5246 §7.4: server: a ClientKeyExchange after a refused renegotiation is unexpected_message', (t) => {
  const { pair, hello, clientVerifyData } = connectedWithVerifyData();
  feed(t, pair, 'server', inject(pair, 'client', 22, renegotiationHello(hello, clientVerifyData)));
  t.deepEqual(alertsSent(pair, 'server'), [NO_RENEGOTIATION]);
  feed(t, pair, 'server', inject(pair, 'client', 22, hsMsg(16, [32, ...new Uint8Array(32).fill(9)])));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

// Found by this probe and fixed: TLS 1.3's rule (RFC 8446 §5.1, no other record between the pieces of a handshake
// message) was applied to TLS 1.2 too.
test('RFC 5246 §6.2.1: server: application data between two fragments of a renegotiation ClientHello is delivered; the ClientHello gets no_renegotiation', (t) => {
  const { pair, hello, clientVerifyData } = connectedWithVerifyData();
  const ch = renegotiationHello(hello, clientVerifyData);
  feed(t, pair, 'server', inject(pair, 'client', 22, ch.subarray(0, 30)));
  feed(t, pair, 'server', inject(pair, 'client', 23, text('GET / HTTP/1.0')));
  feed(t, pair, 'server', inject(pair, 'client', 22, ch.subarray(30)));
  assertAlive(t, pair, 'server');
  t.is(str(pair.delivered.server), 'GET / HTTP/1.0');
  t.deepEqual(alertsSent(pair, 'server'), [NO_RENEGOTIATION]);
});

// Found by this probe and fixed, as the server's case above.
test('RFC 5246 §6.2.1: client: application data between the two halves of a HelloRequest is delivered; the HelloRequest gets no_renegotiation', (t) => {
  const pair = connected12();
  feed(t, pair, 'client', inject(pair, 'server', 22, Uint8Array.of(0, 0)));
  feed(t, pair, 'client', inject(pair, 'server', 23, text('data')));
  feed(t, pair, 'client', inject(pair, 'server', 22, Uint8Array.of(0, 0)));
  assertAlive(t, pair, 'client');
  t.is(str(pair.delivered.client), 'data');
  t.deepEqual(alertsSent(pair, 'client'), [NO_RENEGOTIATION]);
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Alerts (RFC 5246 §6.2.1, §7.2)

test('RFC 5246 §6.2.1: a warning alert split across two protected records (1 + 1 byte) is reassembled, or refused with decode_error / unexpected_message', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 21, Uint8Array.of(AlertLevel.warning)));
  if (fatalAlerts(pair, 'server').length) {
    assertFatal(t, pair, 'server', [A.decode_error, A.unexpected_message]);
    t.log('refused at the first half');
    return;
  }
  t.log('reassembled');
  feed(t, pair, 'server', inject(pair, 'client', 21, Uint8Array.of(A.no_renegotiation)));
  assertAlive(t, pair, 'server');
  t.deepEqual(alertsReceived(pair, 'server'), [NO_RENEGOTIATION]);
  exchange(t, pair);
});

test('RFC 5246 §6.2.1: two warning alerts coalesced in one protected record are both taken, or refused with decode_error / unexpected_message', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 21, Uint8Array.of(AlertLevel.warning, A.no_renegotiation, AlertLevel.warning, A.no_renegotiation)));
  if (fatalAlerts(pair, 'server').length) {
    assertFatal(t, pair, 'server', [A.decode_error, A.unexpected_message]);
    t.log('refused');
    return;
  }
  t.log('both taken');
  assertAlive(t, pair, 'server');
  t.deepEqual(alertsReceived(pair, 'server'), [NO_RENEGOTIATION, NO_RENEGOTIATION]);
  exchange(t, pair);
});

test('RFC 5246 §7.2: a warning alert with an unassigned description (255) lets the connection go on', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 21, Uint8Array.of(AlertLevel.warning, 255)));
  assertAlive(t, pair, 'server');
  t.deepEqual(alertsReceived(pair, 'server'), [{ level: AlertLevel.warning, description: 255 }]);
  t.deepEqual(alertsSent(pair, 'server'), []);
  exchange(t, pair);
});

test('RFC 5246 §7.2, §7.2.2: a fatal alert with an unassigned description closes the connection at once; nothing is sent back', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', Buffer.concat([inject(pair, 'client', 21, Uint8Array.of(AlertLevel.fatal, 255)), inject(pair, 'client', 23, text('after'))]));
  t.deepEqual(alertsSent(pair, 'server'), []);
  t.is(pair.of('server', 'closed').length, 1);
  const err = pair.closedError('server');
  t.true(err instanceof TlsError);
  t.is(err?.alert, 255);
  t.is(pair.delivered.server.length, 0, 'nothing after the fatal alert is processed');
});

test('RFC 5246 §7.2.2: user_canceled (warning) then close_notify: no error, the peer is closed; our close_notify then ends the connection cleanly', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 21, Uint8Array.of(AlertLevel.warning, A.user_canceled)));
  assertAlive(t, pair, 'server');
  feed(t, pair, 'server', inject(pair, 'client', 21, Uint8Array.of(AlertLevel.warning, A.close_notify)));
  assertAlive(t, pair, 'server');
  t.deepEqual(alertsReceived(pair, 'server').map((a) => a.description), [A.user_canceled, A.close_notify]);
  t.is(pair.of('server', 'peerClosed').length, 1);
  t.true(shutdownState(pair.server).received);
  pair.input('server', { type: 'end', now: pair.now });
  t.deepEqual(alertsSent(pair, 'server'), [{ level: AlertLevel.warning, description: A.close_notify }]);
  t.is(pair.of('server', 'closed').length, 1);
  t.is(pair.closedError('server'), undefined, 'a clean close');
});

test('RFC 5246 §7.2.1: application data after the peer\'s close_notify is ignored, not delivered and not fatal', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', Buffer.concat([inject(pair, 'client', 23, text('before')), inject(pair, 'client', 21, Uint8Array.of(AlertLevel.warning, A.close_notify))]));
  feed(t, pair, 'server', inject(pair, 'client', 23, text('after')));
  assertAlive(t, pair, 'server');
  t.is(str(pair.delivered.server), 'before');
  t.is(pair.of('server', 'peerClosed').length, 1);
});

test('RFC 5246 §7.2.2: server: a no_renegotiation warning after the handshake lets the connection go on', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 21, Uint8Array.of(AlertLevel.warning, A.no_renegotiation)));
  assertAlive(t, pair, 'server');
  t.deepEqual(alertsReceived(pair, 'server'), [NO_RENEGOTIATION]);
  exchange(t, pair);
});

// ---------------------------------------------------------------------------------------------------------------
// 4. NewSessionTicket placement and syntax (RFC 5077 §3.3)

const TICKET = hsMsg(4, [0, 0, 0x1c, 0x20, ...u16(4), 1, 2, 3, 4]);

test('RFC 5077 §3.3: client: a NewSessionTicket after the handshake (after the server Finished) is unexpected_message', (t) => {
  const pair = connected12({}, ticketServer());
  feed(t, pair, 'client', inject(pair, 'server', 22, TICKET));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('RFC 5077 §3.3: client: a NewSessionTicket between the server ChangeCipherSpec and Finished is unexpected_message', (t) => {
  const { pair, key0 } = serverFinalFlight(ticketServer());
  // The server announced a ticket; send it after the CCS instead of before.
  feed(t, pair, 'client', Buffer.concat([CCS, sealRecord(key0, 22, TICKET).bytes]));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

for (const [name, body] of [
  ['lifetime hint only', [0, 0, 0x1c, 0x20]],
  ['a ticket length overrunning the message', [0, 0, 0x1c, 0x20, 0, 10, 1, 2, 3]],
  ['a byte after the ticket', [0, 0, 0x1c, 0x20, 0, 2, 1, 2, 0]],
] as const) {
  test(`RFC 5077 §3.3: client: a NewSessionTicket with ${name} is decode_error`, (t) => {
    const { pair, records } = serverFinalFlight(ticketServer());
    t.deepEqual(records.map((r) => r.type), [22, 20, 22]);
    feed(t, pair, 'client', plainRecord(22, hsMsg(4, body)));
    assertFatal(t, pair, 'client', [A.decode_error]);
  });
}

test('RFC 5077 §3.3: client: two NewSessionTickets before the ChangeCipherSpec is unexpected_message', (t) => {
  const { pair, records } = serverFinalFlight(ticketServer());
  const nst = records[0]!.body;
  feed(t, pair, 'client', plainRecord(22, Buffer.concat([nst, nst])));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

// ---------------------------------------------------------------------------------------------------------------
// 5. record_size_limit (RFC 8449) and max_fragment_length (RFC 6066 §4)

for (const [name, data, allowed] of [
  ['of 63 (below 64)', [0, 63], [A.illegal_parameter]],
  ['of 0', [0, 0], [A.illegal_parameter]],
  ['of one byte', [0x40], [A.decode_error]],
  ['of three bytes', [0x40, 0, 0], [A.decode_error]],
] as const) {
  test(`RFC 8449 §4: server: a ClientHello record_size_limit ${name} is ${(allowed as readonly number[]).includes(A.illegal_parameter) ? 'illegal_parameter' : 'decode_error'}`, (t) => {
    const { pair, hello } = editedHello((p) => (p.exts = setExt(p.exts, X.record_size_limit, data)));
    feed(t, pair, 'server', hello);
    assertFatal(t, pair, 'server', allowed);
  });
}

test('RFC 8449 §4: client: a ServerHello record_size_limit below 64 is illegal_parameter', (t) => {
  const { pair, flight } = serverFlight({ recordSizeLimit: 1024 });
  t.true(serverHelloIn(flight).exts.some((e) => e.type === X.record_size_limit), 'the server answers the extension');
  feed(t, pair, 'client', rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => setExt(exts, X.record_size_limit, [0, 63]))));
  assertFatal(t, pair, 'client', [A.illegal_parameter]);
});

test('RFC 8449 §4, RFC 5246 §7.4.1.4: client: a ServerHello record_size_limit or max_fragment_length we did not offer is unsupported_extension', (t) => {
  for (const [type, data] of [
    [X.record_size_limit, [0x40, 0]],
    [X.max_fragment_length, [1]],
  ] as const) {
    const { pair, flight } = serverFlight();
    feed(t, pair, 'client', rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => setExt(exts, type, data))));
    assertFatal(t, pair, 'client', [A.unsupported_extension]);
  }
});

test('RFC 8449 §4: client: a TLS 1.2 ServerHello record_size_limit of 2^14 + 1 (above the TLS 1.2 maximum) is accepted or illegal_parameter (a client MAY abort)', (t) => {
  const { pair, flight } = serverFlight({ recordSizeLimit: 1024 });
  feed(t, pair, 'client', rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => setExt(exts, X.record_size_limit, u16(16385)))));
  if (fatalAlerts(pair, 'client').length) {
    assertFatal(t, pair, 'client', [A.illegal_parameter]);
  } else {
    assertAlive(t, pair, 'client');
    t.is(handshakePhase(pair.client.hs), 'expectChangeCipherSpec', 'the client sent its flight');
  }
});

test('RFC 8449 §4: the server honours a client record_size_limit of 64: no protected record it sends carries more than 64 bytes (its Finished included)', (t) => {
  const pair = connected12({ recordSizeLimit: 64 });
  pair.input('server', { type: 'write', now: pair.now, data: new Uint8Array(1000).fill(0x61) });
  pair.drive();
  t.is(Buffer.concat(pair.delivered.client).length, 1000);
  const records = pair.effects.server.flatMap((e) => (e.type === 'transmit' ? splitRecords(e.data) : []));
  const ccs = records.findIndex((r) => r.type === 20);
  const sizes = records.slice(ccs + 1).map((r) => r.body.length - 8 - 16);
  t.true(sizes.length >= 1 + Math.ceil(1000 / 64));
  t.true(sizes.every((n) => n <= 64), `plaintext sizes: ${sizes.join(',')}`);
});

test('RFC 8449 §4: server: its record_size_limit (256) is enforced on receipt: 256 bytes of plaintext accepted, 257 is record_overflow', (t) => {
  const pair = connected12({ recordSizeLimit: 1024 }, { recordSizeLimit: 256 });
  feed(t, pair, 'server', inject(pair, 'client', 23, new Uint8Array(256).fill(0x62)));
  assertAlive(t, pair, 'server');
  t.is(Buffer.concat(pair.delivered.server).length, 256);
  feed(t, pair, 'server', inject(pair, 'client', 23, new Uint8Array(257).fill(0x63)));
  assertFatal(t, pair, 'server', [A.record_overflow]);
  t.is(Buffer.concat(pair.delivered.server).length, 256);
});

test('RFC 8449 §4: client: its record_size_limit (512) is enforced on receipt: 512 bytes accepted, 513 is record_overflow', (t) => {
  const pair = connected12({ recordSizeLimit: 512 });
  feed(t, pair, 'client', inject(pair, 'server', 23, new Uint8Array(512)));
  assertAlive(t, pair, 'client');
  feed(t, pair, 'client', inject(pair, 'server', 23, new Uint8Array(513)));
  assertFatal(t, pair, 'client', [A.record_overflow]);
});

test('RFC 8449 §4: a server with a record_size_limit of its own neither announces nor enforces it to a client that did not offer the extension', (t) => {
  const { flight } = serverFlight({}, { recordSizeLimit: 256 });
  t.false(serverHelloIn(flight).exts.some((e) => e.type === X.record_size_limit));
  const pair = connected12({}, { recordSizeLimit: 256 });
  feed(t, pair, 'server', inject(pair, 'client', 23, new Uint8Array(16384).fill(0x64)));
  assertAlive(t, pair, 'server');
  t.is(Buffer.concat(pair.delivered.server).length, 16384);
});

test('RFC 6066 §4: server: max_fragment_length of each value is honoured (echoed), ignored (not echoed), or, for values outside 1..4, illegal_parameter', (t) => {
  for (const v of [0, 1, 2, 3, 4, 5, 255]) {
    const { pair, hello } = editedHello((p) => (p.exts = setExt(p.exts, X.max_fragment_length, [v])));
    feed(t, pair, 'server', hello);
    const valid = v >= 1 && v <= 4;
    if (fatalAlerts(pair, 'server').length) {
      t.false(valid, `a valid max_fragment_length ${v} refused`);
      assertFatal(t, pair, 'server', [A.illegal_parameter]);
      continue;
    }
    assertAlive(t, pair, 'server');
    const mfl = serverHelloIn(pair.inbox.client[0]!).exts.find((e) => e.type === X.max_fragment_length);
    if (mfl) t.deepEqual(Array.from(mfl.data), [v], `value ${v} echoed as is`);
    if (!valid) t.falsy(mfl, `invalid value ${v} never echoed`);
  }
});

test('RFC 8449 §5: server: max_fragment_length (even an invalid one) offered with record_size_limit is ignored: record_size_limit answered, max_fragment_length not', (t) => {
  for (const v of [1, 5]) {
    const { pair, hello } = editedHello((p) => (p.exts = setExt(p.exts, X.max_fragment_length, [v])), { recordSizeLimit: 1024 });
    feed(t, pair, 'server', hello);
    assertAlive(t, pair, 'server');
    const { exts } = serverHelloIn(pair.inbox.client[0]!);
    t.true(exts.some((e) => e.type === X.record_size_limit));
    t.false(exts.some((e) => e.type === X.max_fragment_length));
  }
});

// ---------------------------------------------------------------------------------------------------------------
// 6. Handshake fragmentation (RFC 5246 §6.2.1; tlsfuzzer test-record-layer-fragmentation)

// Found by this probe and fixed: the records one handshake message could span were bounded (16 + length/32), so
// 1-byte records were unexpected_message; now only pieces that carry nothing are bounded (test/handshake/engine.test.ts).
test('RFC 5246 §6.2.1: server: the ClientKeyExchange in 1-byte records is accepted; the handshake completes', (t) => {
  const { pair, records, cke } = clientFlight();
  for (const b of cke) feed(t, pair, 'server', plainRecord(22, Uint8Array.of(b)));
  feed(t, pair, 'server', joinRaw(records.slice(records.findIndex((r) => r.type === 20))));
  assertAlive(t, pair, 'server');
  pair.drive();
  t.truthy(handshakeInfo(pair.server));
  exchange(t, pair);
});

test('RFC 5246 §6.2.1: server: the client Finished in 16 protected 1-byte records is accepted; the handshake completes', (t) => {
  const { pair, cke, key0, fin } = clientFlight();
  t.is(fin.length, 16);
  const sealed = sealAll(key0, 22, Array.from(fin, (b) => Uint8Array.of(b)));
  setTxKey(pair, 'client', sealed.key);
  feed(t, pair, 'server', Buffer.concat([plainRecord(22, cke), CCS, sealed.bytes]));
  assertAlive(t, pair, 'server');
  t.truthy(handshakeInfo(pair.server));
  pair.drive();
  exchange(t, pair);
});

test('RFC 5246 §6.2.1: server: a ClientHello of 2^16 bytes (extension block at its 2^16 - 1 maximum) in 16 KiB records is accepted', (t) => {
  const pair = new Pair(TLS12).start();
  const flight = pair.inbox.server.shift()!;
  const msg = splitMessages(splitRecords(flight)[0]!.body)[0]!;
  const p = parseClientHello(msg);
  const block = p.exts.reduce((n, e) => n + 4 + e.data.length, 0);
  p.exts = [...p.exts, { type: 21, data: new Uint8Array(0xffff - block - 4) }];
  const big = buildClientHello(p);
  t.true(big.length > 0x10000, `${big.length} bytes`);
  const recs: Uint8Array[] = [];
  for (let o = 0; o < big.length; o += 16384) recs.push(plainRecord(22, big.subarray(o, o + 16384)));
  feed(t, pair, 'server', Buffer.concat(recs));
  assertAlive(t, pair, 'server');
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
  t.is(splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body)[0]![0], 2, 'a ServerHello');
});

// ---------------------------------------------------------------------------------------------------------------
// 7. Key exchange points (RFC 8422 §5.4, §5.7, §5.11; RFC 7748 §6.1)

/** RFC 7748 low-order X25519 u-coordinates: the shared secret with any private key is all zeros. */
const X25519_ORDER8 = Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex');
const X25519_ONE = Uint8Array.from([1, ...new Uint8Array(31)]);
const P384_POINT = new Uint8Array(createECDH('secp384r1').generateKeys());

/** A genuine P-256 point (the client's) rewritten in the hybrid form (0x06 / 0x07, RFC 8422 §5.1.2 removed it). */
const hybrid = (point: Uint8Array): Uint8Array => cat([6 | (point[64]! & 1)], point.subarray(1));

for (const [name, group, point, allowed] of [
  ['a low-order X25519 point of order 8 (all-zero shared secret)', 'x25519', () => X25519_ORDER8, [A.illegal_parameter, A.handshake_failure]],
  ['the low-order X25519 point u = 1 (all-zero shared secret)', 'x25519', () => X25519_ONE, [A.illegal_parameter, A.handshake_failure]],
  ['the genuine P-256 point in hybrid form (0x06/0x07)', 'secp256r1', hybrid, [A.illegal_parameter, A.decode_error]],
  ['a P-384 point on a P-256 key exchange', 'secp256r1', () => P384_POINT, [A.illegal_parameter, A.decode_error]],
] as const) {
  test(`RFC 8422 §5.7, §5.11: server: a ClientKeyExchange with ${name} is rejected`, (t) => {
    const { pair, cke } = clientFlight({ groups: [group] });
    const genuine = cke.subarray(5);
    feed(t, pair, 'server', plainRecord(22, hsMsg(16, [point(genuine).length, ...Array.from(point(genuine))])));
    assertFatal(t, pair, 'server', allowed);
  });
}

const SERVER_KEY = createPrivateKey(fixture('server-ec-key.pem'));

/**
 * The server flight with its ServerKeyExchange replaced by one carrying `point` on `groupCode`, validly signed
 * (ecdsa_secp256r1_sha256, node:crypto) by the server's key over client_random ‖ server_random ‖ ServerECDHParams.
 */
function resignedFlight(group: 'x25519' | 'secp256r1', point: (genuine: Uint8Array) => Uint8Array) {
  const { pair, hello, flight } = serverFlight({ groups: [group] });
  const clientRandom = hello.subarray(6, 38);
  const serverRandom = serverHelloIn(flight).sh.subarray(6, 38);
  const bad = rewriteMessages(flight, (m) => {
    if (m[0] !== 12) return m;
    const groupCode = (m[5]! << 8) | m[6]!;
    const genuine = m.subarray(8, 8 + m[7]!);
    const p = point(genuine);
    const params = cat([3], u16(groupCode), [p.length], p);
    const sig = new Uint8Array(nodeSign('sha256', cat(clientRandom, serverRandom, params), SERVER_KEY));
    return hsMsg(12, cat(params, u16(0x0403), u16(sig.length), sig));
  });
  return { pair, bad };
}

test('client control: a ServerKeyExchange re-signed over the genuine point (node:crypto) is accepted', (t) => {
  for (const group of ['x25519', 'secp256r1'] as const) {
    const { pair, bad } = resignedFlight(group, (g) => g);
    feed(t, pair, 'client', bad);
    assertAlive(t, pair, 'client');
    t.is(handshakePhase(pair.client.hs), 'expectChangeCipherSpec', group);
  }
});

for (const [name, group, point, allowed] of [
  ['an all-zero X25519 point (RFC 7748 §6.1)', 'x25519', () => new Uint8Array(32), [A.illegal_parameter, A.handshake_failure]],
  ['a low-order X25519 point of order 8', 'x25519', () => X25519_ORDER8, [A.illegal_parameter, A.handshake_failure]],
  ['a P-256 point not on the curve', 'secp256r1', (g: Uint8Array) => cat(g.subarray(0, 64), [g[64]! ^ 1]), [A.illegal_parameter, A.decode_error]],
  ['a compressed P-256 point (uncompressed only, RFC 8422 §5.1.2)', 'secp256r1', (g: Uint8Array) => cat([2 | (g[64]! & 1)], g.subarray(1, 33)), [A.illegal_parameter, A.decode_error]],
  ['a P-384 point on a P-256 key exchange', 'secp256r1', () => P384_POINT, [A.illegal_parameter, A.decode_error]],
] as const) {
  test(`RFC 8422 §5.4, §5.11: client: a validly signed ServerKeyExchange with ${name} is rejected`, (t) => {
    const { pair, bad } = resignedFlight(group, point);
    feed(t, pair, 'client', bad);
    assertFatal(t, pair, 'client', allowed);
    t.deepEqual(splitRecords(Buffer.concat(pair.inbox.server)).map((r) => r.type), [21], 'the alert only: no ClientKeyExchange');
  });
}
