/**
 * DTLS 1.2 (RFC 6347, with the RFC 5246 / RFC 8422 / RFC 7627 / RFC 5746 rules it inherits) conformance probes
 * in the manner of DTLS-Fuzzer's state-machine probing, TLS-Attacker and TLS-Anvil's DTLS tests: messages and
 * ChangeCipherSpecs out of order, HelloVerifyRequests where none belongs or malformed, renegotiation attempts,
 * handshake fragments that disagree or run ahead, hostile record headers and alerts, hellos that break the
 * negotiation rules, and the retransmission timer on the pair's virtual clock. Every probe asserts the
 * RFC-required outcome: the right fatal alert and a closed connection, or the datagram dropped silently and the
 * connection still working (proved by exchanging application data both ways). Nothing may throw.
 *
 * The handshakes run step by step ({@link stepped}): the link delivers nothing by itself, and a probe feeds each
 * side the genuine flights, edited flights or forged records. Epoch-0 records are plaintext, so "the peer's"
 * messages are simply rewritten; epoch-1 records are sealed with the peer's real write keys (taken from its
 * state, its sequence number moved on), so they are exactly what a misbehaving peer could send.
 *
 * Probes that found a deviation when they were written say so ("found by this probe and fixed"). The DTLS 1.2 probes of
 * test/tls/conformance12.test.ts (replay, far-future epoch and sequence numbers, bad MAC, short records,
 * plaintext alert and data after the handshake, a wrong cookie, a bad client Finished, ClientHello fragments
 * that disagree) are not repeated.
 */
import test, { type ExecutionContext } from 'ava';
import { DtlsPair, type Side } from '../helpers/dtlsPair.js';
import { assertAlive, assertFatal, exchange, fatalAlerts, inject } from '../helpers/dtlsProbe.js';
import { dtlsStats, isDtls12, isDtlsClosed, isDtlsCommitted, isDtlsConnected, nextDtlsTimeout } from '../../src/dtls/connection.js';
import type { DtlsClientConfig, DtlsEffect, DtlsServerConfig } from '../../src/dtls/types.js';
import { open12, read12, seal12 } from '../../src/dtls/records12.js';
import { bufferedBytes } from '../../src/dtls/reassembly.js';
import { AlertDescription as A, AlertLevel, ExtensionType as X, HandshakeType as H } from '../../src/wire/tls/constants.js';
import { TlsError } from '../../src/core/errors.js';
import { NOW, text, str } from '../helpers/pair.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const V12: Partial<DtlsClientConfig> = { minVersion: 'DTLSv1.2', maxVersion: 'DTLSv1.2' };
const COOKIE_SECRET = new Uint8Array(32).fill(3);
const CCS = 20;
const ALERT = 21;
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

const cat = (...parts: ArrayLike<number>[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const u24 = (v: number) => [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
const u48 = (v: number) => [...u16(Math.floor(v / 2 ** 32)), (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

/** A DTLSPlaintext-shaped record (13-byte header): `version` 0xfefd and epoch 0 unless told. */
const record = (type: number, seq: number, content: ArrayLike<number>, o: { version?: number; epoch?: number; length?: number } = {}): Uint8Array =>
  cat([type], u16(o.version ?? 0xfefd), u16(o.epoch ?? 0), u48(seq), u16(o.length ?? content.length), content);

/** A DTLS handshake fragment: 12-byte header and body. */
const fragment = (f: { type: number; length?: number; msgSeq: number; offset?: number; body: ArrayLike<number> }): Uint8Array =>
  cat([f.type], u24(f.length ?? f.body.length), u16(f.msgSeq), u24(f.offset ?? 0), u24(f.body.length), f.body);

interface Rec {
  readonly type: number;
  readonly version: number;
  readonly epoch: number;
  readonly seq: number;
  /** The whole record, header included. */
  readonly raw: Uint8Array;
  readonly body: Uint8Array;
}

/** The records of a datagram (DTLS 1.2: 13-byte headers throughout). */
function records(d: Uint8Array): Rec[] {
  const out: Rec[] = [];
  for (let o = 0; o + 13 <= d.length; ) {
    const len = (d[o + 11]! << 8) | d[o + 12]!;
    const seq = ((d[o + 5]! << 8) | d[o + 6]!) * 2 ** 32 + (((d[o + 7]! << 24) >>> 0) + ((d[o + 8]! << 16) | (d[o + 9]! << 8) | d[o + 10]!));
    out.push({ type: d[o]!, version: (d[o + 1]! << 8) | d[o + 2]!, epoch: (d[o + 3]! << 8) | d[o + 4]!, seq, raw: d.subarray(o, o + 13 + len), body: d.subarray(o + 13, o + 13 + len) });
    o += 13 + len;
  }
  return out;
}

interface Msg {
  readonly type: number;
  readonly msgSeq: number;
  readonly body: Uint8Array;
  /** The record that carried it. */
  readonly rec: Rec;
}

/** The whole (unfragmented) handshake messages of plaintext records in `datagrams`, in order. */
function plainMessages(datagrams: readonly Uint8Array[]): Msg[] {
  return datagrams
    .flatMap(records)
    .filter((r) => r.type === HANDSHAKE && r.epoch === 0)
    .map((rec) => {
      const b = rec.body;
      const len = (b[1]! << 16) | (b[2]! << 8) | b[3]!;
      return { type: b[0]!, msgSeq: (b[4]! << 8) | b[5]!, body: b.subarray(12, 12 + len), rec };
    });
}

/** A plaintext handshake record carrying `m` whole, at record sequence `seq`. */
const msgRecord = (m: { type: number; msgSeq: number; body: ArrayLike<number> }, seq: number): Uint8Array => record(HANDSHAKE, seq, fragment(m));

/** Seal a record under `side`'s epoch-1 write keys, as `side` could have sent it (its sequence number moves on). */
function sealFrom(p: DtlsPair, side: Side, type: number, content: ArrayLike<number>): Uint8Array {
  const w = p[side].write12;
  if (!w) throw new Error(`${side} has no epoch-1 write keys`);
  const sealed = seal12(w, type, Uint8Array.from(Array.from(content)));
  p[side] = { ...p[side], write12: sealed.epoch };
  return sealed.bytes;
}

/** Open the epoch-1 records of `datagrams` sent by `from` (with its write keys, a fresh replay window). */
function openFrom(p: DtlsPair, from: Side, datagrams: readonly Uint8Array[]): { type: number; seq: number; content: Uint8Array }[] {
  const w = p[from].write12;
  if (!w) return [];
  return datagrams.flatMap(records).flatMap((r) => {
    if (r.epoch !== w.epoch) return [];
    const o = open12(read12(w, 64), { type: r.type, epoch: r.epoch, sequenceNumber: r.seq, fragment: r.body });
    return o.kind === 'ok' ? [{ type: r.type, seq: r.seq, content: o.content }] : [];
  });
}

/** Every alert `from` sent in `datagrams` (plaintext or epoch 1), as [level, description]. */
const alertsOnWire = (p: DtlsPair, from: Side, datagrams: readonly Uint8Array[]): number[][] => [
  ...datagrams.flatMap(records).filter((r) => r.type === ALERT && r.epoch === 0).map((r) => Array.from(r.body)),
  ...openFrom(p, from, datagrams).filter((r) => r.type === ALERT).map((r) => Array.from(r.content)),
];

const transmits = (effects: readonly DtlsEffect[]): Uint8Array[] => effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : []));

/**
 * A DTLS 1.2 handshake run by hand up to `steps` flights: 0, the client sent its ClientHello; 1, the server
 * answered (ServerHello … ServerHelloDone); 2, the client sent ClientKeyExchange, ChangeCipherSpec, Finished;
 * 3, the server sent ChangeCipherSpec, Finished; 4, the client read them (connected). `flights[i]` are the
 * datagrams of flight i; the last one was not delivered. The link delivers nothing until {@link heal}.
 */
function stepped(steps: number, client: Partial<DtlsClientConfig> = {}, server: Partial<DtlsServerConfig> = {}) {
  const p = new DtlsPair({ ...V12, ...client }, server, () => 'drop');
  p.start();
  const flights: Uint8Array[][] = [p.sent.client.slice()];
  let to: Side = 'server';
  for (let i = 0; i < steps; i++) {
    const before = p.sent[to].length;
    for (const d of flights[i]!) p.input(to, { type: 'datagram', data: d });
    flights.push(p.sent[to].slice(before));
    to = other(to);
  }
  return { p, flights };
}

/** Let the link deliver again, feed `pending` datagrams, and run until quiet (retransmissions repair the rest). */
function heal(p: DtlsPair, pending: readonly { to: Side; data: Uint8Array }[] = []): void {
  p.filter = () => 'deliver';
  for (const d of pending) p.input(d.to, { type: 'datagram', data: d.data });
  p.run();
}

function connectedPair(client: Partial<DtlsClientConfig> = {}, server: Partial<DtlsServerConfig> = {}): DtlsPair {
  const p = new DtlsPair({ ...V12, ...client }, server);
  p.start();
  p.run();
  if (!isDtlsConnected(p.client) || !isDtlsConnected(p.server) || !isDtls12(p.client)) throw new Error('DTLS 1.2 handshake did not complete');
  return p;
}

/**
 * Either `side` dropped the probe (no alert) and `ok` holds, or it closed with one fatal alert among `alerts`.
 * Returns which, for the test's log.
 */
function droppedOrFatal(t: ExecutionContext, p: DtlsPair, side: Side, alerts: readonly number[], ok: () => void): 'dropped' | 'fatal' {
  if (fatalAlerts(p, side).length === 0) {
    t.false(isDtlsClosed(p[side]), `${side} is not closed`);
    ok();
    t.log('rxtls: dropped');
    return 'dropped';
  }
  assertFatal(t, p, side, alerts);
  t.log(`rxtls: fatal alert ${fatalAlerts(p, side)[0]}`);
  return 'fatal';
}

/** ClientHello body fields (DTLS: a cookie after the session id, RFC 6347 §4.2.1). */
function parseClientHello(body: Uint8Array) {
  let o = 2 + 32;
  const sid = body.subarray(o + 1, o + 1 + body[o]!);
  o += 1 + body[o]!;
  const cookieAt = o;
  const cookie = body.subarray(o + 1, o + 1 + body[o]!);
  o += 1 + body[o]!;
  const suitesLen = (body[o]! << 8) | body[o + 1]!;
  const suites = Array.from({ length: suitesLen / 2 }, (_, i) => (body[o + 2 + 2 * i]! << 8) | body[o + 3 + 2 * i]!);
  o += 2 + suitesLen;
  const compression = body.subarray(o + 1, o + 1 + body[o]!);
  o += 1 + body[o]!;
  return { version: (body[0]! << 8) | body[1]!, random: body.subarray(2, 34), sid, cookieAt, cookie, suites, compression, extensions: parseExtensions(body.subarray(o)) };
}

interface Ext {
  readonly type: number;
  readonly data: Uint8Array;
}

function parseExtensions(block: Uint8Array): Ext[] {
  if (block.length < 2) return [];
  const out: Ext[] = [];
  for (let o = 2; o + 4 <= block.length; ) {
    const len = (block[o + 2]! << 8) | block[o + 3]!;
    out.push({ type: (block[o]! << 8) | block[o + 1]!, data: block.subarray(o + 4, o + 4 + len) });
    o += 4 + len;
  }
  return out;
}

const encodeExtensions = (exts: readonly Ext[]): number[] => {
  const inner = exts.flatMap((e) => [...u16(e.type), ...u16(e.data.length), ...Array.from(e.data)]);
  return [...u16(inner.length), ...inner];
};

/** A ClientHello body built from parts. */
function clientHelloBody(f: { version: number; random: ArrayLike<number>; sid: ArrayLike<number>; cookie: ArrayLike<number>; suites: readonly number[]; compression: ArrayLike<number>; extensions: readonly Ext[] }): Uint8Array {
  return cat(u16(f.version), f.random, [f.sid.length], f.sid, [f.cookie.length], f.cookie, u16(f.suites.length * 2), f.suites.flatMap(u16), [f.compression.length], f.compression, encodeExtensions(f.extensions));
}

/** ServerHello body fields. */
function parseServerHello(body: Uint8Array) {
  const sidLen = body[34]!;
  const o = 35 + sidLen;
  return { version: (body[0]! << 8) | body[1]!, random: body.subarray(2, 34), sid: body.subarray(35, o), suite: (body[o]! << 8) | body[o + 1]!, compression: body[o + 2]!, extensions: parseExtensions(body.subarray(o + 3)) };
}

function serverHelloBody(f: ReturnType<typeof parseServerHello>): Uint8Array {
  return cat(u16(f.version), f.random, [f.sid.length], f.sid, u16(f.suite), [f.compression], encodeExtensions(f.extensions));
}

/** The server's first flight with its messages passed through `edit` (null drops one), as one datagram. */
function editServerFlight(flight: readonly Uint8Array[], edit: (m: Msg) => { type: number; msgSeq: number; body: ArrayLike<number> } | null): Uint8Array {
  return cat(...plainMessages(flight).flatMap((m, i) => {
    const e = edit(m);
    return e ? [msgRecord(e, 100 + i)] : [];
  }));
}

const dropped = (p: DtlsPair, side: Side): number => dtlsStats(p[side]).recordsDropped;

// ---------------------------------------------------------------------------------------------------------------
// 1. ChangeCipherSpec out of place (RFC 6347 §4.1, §4.2.4; RFC 5246 §7.1; CVE-2014-0224)

test('RFC 5246 §7.1, RFC 6347 §4.1: a ChangeCipherSpec before the ClientKeyExchange is dropped or unexpected_message; no keys are installed early', (t) => {
  const { p, flights } = stepped(2);
  // The server waits for the client's second flight; an early CCS comes first (epoch 0).
  inject(t, p, 'server', record(CCS, 50, [1]));
  t.is(p.server.read12, undefined, 'no epoch-1 read keys from an early ChangeCipherSpec');
  droppedOrFatal(t, p, 'server', [A.unexpected_message], () => {
    heal(p, flights[2]!.map((data) => ({ to: 'server' as const, data })));
    t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server), 'the genuine flight still completes the handshake');
    exchange(t, p, 'early ccs');
  });
});

test('RFC 5246 §7.1 (CVE-2014-0224): a ChangeCipherSpec before the ServerHelloDone is dropped or unexpected_message; the client installs no keys', (t) => {
  const { p, flights } = stepped(1);
  const msgs = plainMessages(flights[1]!);
  t.deepEqual(msgs.map((m) => m.type), [H.server_hello, H.certificate, H.server_key_exchange, H.server_hello_done]);
  inject(t, p, 'client', cat(...msgs.slice(0, 3).map((m) => m.rec.raw)));
  inject(t, p, 'client', record(CCS, 60, [1]));
  t.is(p.client.read12, undefined, 'no epoch-1 read keys from an early ChangeCipherSpec');
  t.is(p.client.write12, undefined, 'no epoch-1 write keys either');
  droppedOrFatal(t, p, 'client', [A.unexpected_message], () => {
    heal(p, [{ to: 'client', data: msgs[3]!.rec.raw }]);
    t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
    exchange(t, p, 'ccs before done');
  });
});

test('RFC 5246 §7.1: a ChangeCipherSpec before the ServerHello is dropped or unexpected_message', (t) => {
  const { p, flights } = stepped(1);
  inject(t, p, 'client', record(CCS, 0, [1]));
  t.is(p.client.read12, undefined);
  droppedOrFatal(t, p, 'client', [A.unexpected_message], () => {
    heal(p, flights[1]!.map((data) => ({ to: 'client' as const, data })));
    t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
    exchange(t, p, 'ccs before sh');
  });
});

test('RFC 6347 §4.1: a malformed ChangeCipherSpec (content 2, or two bytes) in the client flight is dropped or fatal; no keys from it', (t) => {
  for (const bad of [[2], [1, 1], []]) {
    const { p, flights } = stepped(2);
    const recs = flights[2]!.flatMap(records);
    const ccsAt = recs.findIndex((r) => r.type === CCS);
    t.true(ccsAt > 0);
    const forged = cat(...recs.map((r, i) => (i === ccsAt ? record(CCS, r.seq, bad) : r.raw)));
    inject(t, p, 'server', forged);
    t.is(p.server.read12, undefined, `[${bad.join(',')}]: no keys`);
    t.false(isDtlsConnected(p.server), 'the Finished behind it is not read');
    droppedOrFatal(t, p, 'server', [A.unexpected_message, A.decode_error, A.illegal_parameter], () => {
      heal(p); // the client retransmits its flight
      t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
    });
  }
});

test('RFC 6347 §4.1: a second ChangeCipherSpec after the handshake (plaintext or under epoch 1) changes nothing and is not fatal', (t) => {
  const p = connectedPair();
  const keys = p.server.read12;
  inject(t, p, 'server', record(CCS, 99, [1]));
  inject(t, p, 'server', sealFrom(p, 'client', CCS, [1]));
  inject(t, p, 'client', sealFrom(p, 'server', CCS, [1]));
  t.is(p.server.read12?.epoch, keys?.epoch, 'the server still reads epoch 1');
  for (const side of ['client', 'server'] as const) assertAlive(t, p, side);
  exchange(t, p, 'second ccs');
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Finished and the epochs (RFC 6347 §4.1, §4.2.4; RFC 5246 §7.4.9)

test('RFC 5246 §7.4.9, RFC 6347 §4.1: a plaintext (epoch 0) Finished after the ChangeCipherSpec is dropped or unexpected_message', (t) => {
  const { p, flights } = stepped(2);
  const recs = flights[2]!.flatMap(records);
  const finSeq = plainMessages(flights[2]!).find((m) => m.type === H.client_key_exchange)!.msgSeq + 1;
  // ClientKeyExchange and CCS, then the Finished in the clear (verify_data of the right length).
  inject(t, p, 'server', cat(...recs.filter((r) => r.epoch === 0).map((r) => r.raw), msgRecord({ type: H.finished, msgSeq: finSeq, body: new Uint8Array(12) }, 77)));
  t.false(isDtlsConnected(p.server), 'no handshake completes on a plaintext Finished');
  droppedOrFatal(t, p, 'server', [A.unexpected_message], () => {
    heal(p);
    t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server), 'the genuine Finished still completes it');
    exchange(t, p, 'plain fin');
  });
});

for (const side of ['server', 'client'] as const) {
  test(`RFC 5246 §7.4.9: a Finished before the ChangeCipherSpec (${side}) is dropped or unexpected_message, never accepted`, (t) => {
    // server: CKE then a plaintext Finished; client: its flight sent, a plaintext Finished instead of the server's CCS.
    const { p, flights } = stepped(side === 'server' ? 2 : 3);
    if (side === 'server') {
      const cke = plainMessages(flights[2]!).find((m) => m.type === H.client_key_exchange)!;
      inject(t, p, 'server', cat(cke.rec.raw, msgRecord({ type: H.finished, msgSeq: cke.msgSeq + 1, body: new Uint8Array(12) }, 40)));
    } else {
      const seq = p.client.reassembly.nextSeq;
      inject(t, p, 'client', msgRecord({ type: H.finished, msgSeq: seq, body: new Uint8Array(12) }, 40));
    }
    t.false(isDtlsConnected(p[side]));
    t.is(p[side].read12, undefined);
    droppedOrFatal(t, p, side, [A.unexpected_message], () => {
      heal(p, side === 'client' ? flights[3]!.map((data) => ({ to: 'client' as const, data })) : []);
      t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
      exchange(t, p, `fin before ccs ${side}`);
    });
  });
}

test('RFC 5246 §7.4.9: an authentic epoch-1 handshake message other than Finished after the ChangeCipherSpec is unexpected_message', (t) => {
  const { p, flights } = stepped(2);
  const recs = flights[2]!.flatMap(records);
  const cke = plainMessages(flights[2]!).find((m) => m.type === H.client_key_exchange)!;
  // The client's CKE and CCS, then a ClientKeyExchange (the same bytes again) under epoch 1 where Finished belongs.
  const forged = sealFrom(p, 'client', HANDSHAKE, fragment({ type: H.client_key_exchange, msgSeq: cke.msgSeq + 1, body: cke.body }));
  inject(t, p, 'server', cat(...recs.filter((r) => r.epoch === 0).map((r) => r.raw), forged));
  assertFatal(t, p, 'server', [A.unexpected_message]);
  const wire = alertsOnWire(p, 'server', p.sent.server.slice(flights[1]!.length));
  t.deepEqual(wire, [[AlertLevel.fatal, A.unexpected_message]], 'the alert goes under the keys the client reads (epoch 0: the server has not sent its CCS)');
});

test('RFC 6347 §4.1: epoch-1 records arriving before the ChangeCipherSpec (reordered) are buffered or dropped; the handshake completes', (t) => {
  const { p, flights } = stepped(2);
  const recs = flights[2]!.flatMap(records);
  const fin = recs.find((r) => r.epoch === 1)!;
  inject(t, p, 'server', fin.raw); // before CKE and CCS
  t.deepEqual(fatalAlerts(p, 'server'), []);
  inject(t, p, 'server', cat(...recs.filter((r) => r.epoch === 0).map((r) => r.raw)));
  t.deepEqual(fatalAlerts(p, 'server'), []);
  heal(p);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  t.deepEqual(fatalAlerts(p, 'client'), []);
  exchange(t, p, 'reordered fin');
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Server flight messages out of order at the client (RFC 5246 §7.3, §7.4; RFC 6347 §4.2.2)

/** The server flight's messages in the order `types` (message_seq renumbered to match), fed to the client. */
function reorderedServerFlight(t: ExecutionContext, types: readonly number[]): DtlsPair {
  const { p, flights } = stepped(1);
  const msgs = plainMessages(flights[1]!);
  const byType = (ty: number) => msgs.find((m) => m.type === ty)!;
  const first = msgs[0]!.msgSeq;
  inject(t, p, 'client', cat(...types.map((ty, i) => msgRecord({ type: ty, msgSeq: first + i, body: byType(ty).body }, 200 + i))));
  t.false(isDtlsConnected(p.client));
  return p;
}

for (const [name, types] of [
  ['ServerKeyExchange without Certificate', [H.server_hello, H.server_key_exchange, H.server_hello_done]],
  ['ServerHelloDone right after ServerHello', [H.server_hello, H.server_hello_done]],
  ['a second ServerHello', [H.server_hello, H.server_hello, H.certificate, H.server_key_exchange, H.server_hello_done]],
  ['ServerKeyExchange before Certificate', [H.server_hello, H.server_key_exchange, H.certificate, H.server_hello_done]],
] as const) {
  test(`RFC 5246 §7.3: ${name} (message_seq renumbered in the new order) is unexpected_message at the client`, (t) => {
    assertFatal(t, reorderedServerFlight(t, types), 'client', [A.unexpected_message]);
  });
}

// Found by this probe and fixed: the body was decoded (as a TLS 1.3 Certificate) before the state judged its type,
// so it was decode_error.
test('RFC 5246 §7.3: Certificate before ServerHello is unexpected_message at the client', (t) => {
  assertFatal(t, reorderedServerFlight(t, [H.certificate, H.server_hello, H.server_key_exchange, H.server_hello_done]), 'client', [A.unexpected_message]);
});

test('RFC 5246 §7.3: a server receiving Finished (in the clear) in place of ClientKeyExchange answers unexpected_message', (t) => {
  const { p, flights } = stepped(2);
  const cke = plainMessages(flights[2]!).find((m) => m.type === H.client_key_exchange)!;
  inject(t, p, 'server', msgRecord({ type: H.finished, msgSeq: cke.msgSeq, body: new Uint8Array(12) }, 30));
  assertFatal(t, p, 'server', [A.unexpected_message]);
});

test('RFC 5246 §7.3: a second ClientKeyExchange before the ChangeCipherSpec is unexpected_message', (t) => {
  const { p, flights } = stepped(2);
  const cke = plainMessages(flights[2]!).find((m) => m.type === H.client_key_exchange)!;
  inject(t, p, 'server', cat(cke.rec.raw, msgRecord({ type: H.client_key_exchange, msgSeq: cke.msgSeq + 1, body: cke.body }, 31)));
  assertFatal(t, p, 'server', [A.unexpected_message]);
});

test('RFC 5246 §7.4.8: a CertificateVerify the server did not ask for (no CertificateRequest) is unexpected_message', (t) => {
  const { p, flights } = stepped(2);
  const cke = plainMessages(flights[2]!).find((m) => m.type === H.client_key_exchange)!;
  const cv = cat(u16(0x0403), u16(64), new Uint8Array(64));
  inject(t, p, 'server', cat(cke.rec.raw, msgRecord({ type: H.certificate_verify, msgSeq: cke.msgSeq + 1, body: cv }, 32)));
  assertFatal(t, p, 'server', [A.unexpected_message]);
});

test('RFC 5077 §3.3: a NewSessionTicket the ServerHello did not announce (before the server CCS) is unexpected_message', (t) => {
  const { p } = stepped(3);
  t.false(isDtlsConnected(p.client));
  const ticket = cat([0, 0, 0x1c, 0x20], u16(32), new Uint8Array(32).fill(9));
  inject(t, p, 'client', msgRecord({ type: H.new_session_ticket, msgSeq: p.client.reassembly.nextSeq, body: ticket }, 33));
  assertFatal(t, p, 'client', [A.unexpected_message]);
});

test('RFC 6347 §4.1: server application data (epoch 1) arriving before the server Finished is dropped or buffered, never fatal', (t) => {
  const { p, flights } = stepped(3);
  t.true(isDtlsConnected(p.server));
  inject(t, p, 'client', sealFrom(p, 'server', APPLICATION_DATA, text('early data')));
  t.deepEqual(fatalAlerts(p, 'client'), []);
  t.false(isDtlsClosed(p.client));
  heal(p, flights[3]!.map((data) => ({ to: 'client' as const, data })));
  t.true(isDtlsConnected(p.client));
  t.true(p.delivered.client.every((d) => str([d]) === 'early data'), 'nothing else delivered');
  t.log(`rxtls: early record ${p.delivered.client.length > 0 ? 'buffered and delivered' : 'dropped'}`);
  assertAlive(t, p, 'client');
  exchange(t, p, 'early');
});

// ---------------------------------------------------------------------------------------------------------------
// 4. HelloVerifyRequest (RFC 6347 §4.2.1)

/** A HelloVerifyRequest record: server_version, cookie<0..2^8-1> (`body` overrides the encoding). */
const hvrRecord = (o: { version?: number; cookie?: ArrayLike<number>; body?: ArrayLike<number>; msgSeq?: number; seq?: number }): Uint8Array => {
  const cookie = o.cookie ?? new Uint8Array(20).fill(0xc0);
  return msgRecord({ type: H.hello_verify_request, msgSeq: o.msgSeq ?? 0, body: o.body ?? cat(u16(o.version ?? 0xfeff), [cookie.length], cookie) }, o.seq ?? 0);
};

/** The ClientHellos in `datagrams`, parsed. */
const helloCookies = (datagrams: readonly Uint8Array[]) => plainMessages(datagrams).filter((m) => m.type === H.client_hello).map((m) => ({ msgSeq: m.msgSeq, ...parseClientHello(m.body) }));

for (const version of [0xfeff, 0xfefd]) {
  test(`RFC 6347 §4.2.1: a HelloVerifyRequest with server_version 0x${version.toString(16)} is answered by the same ClientHello with the cookie`, (t) => {
    const { p } = stepped(0);
    const cookie = Uint8Array.from({ length: 32 }, (_, i) => i);
    const effects = inject(t, p, 'client', hvrRecord({ version, cookie }));
    const [first] = helloCookies(p.sent.client.slice(0, 1));
    const hellos = helloCookies(transmits(effects));
    t.is(hellos.length, 1, 'one new ClientHello');
    const h = hellos[0]!;
    t.deepEqual(Array.from(h.cookie), Array.from(cookie), 'it carries the cookie');
    t.is(h.msgSeq, 1, 'message_seq 1 (RFC 6347 §4.2.2)');
    // §4.2.1: "the client MUST use the same parameter values (version, random, session_id, cipher_suites, compression_method)".
    t.is(h.version, first!.version, 'the server_version is not taken as the negotiated version');
    t.deepEqual(Array.from(h.random), Array.from(first!.random));
    t.deepEqual(Array.from(h.sid), Array.from(first!.sid));
    t.deepEqual(h.suites, first!.suites);
    t.deepEqual(Array.from(h.compression), Array.from(first!.compression));
    t.deepEqual(fatalAlerts(p, 'client'), []);
  });
}

test('RFC 6347 §4.2.1: a HelloVerifyRequest with an empty cookie is illegal_parameter, or answered like any other', (t) => {
  const { p } = stepped(0);
  const effects = inject(t, p, 'client', hvrRecord({ cookie: [] }));
  if (fatalAlerts(p, 'client').length > 0) {
    assertFatal(t, p, 'client', [A.illegal_parameter]);
    t.log('rxtls: illegal_parameter');
    return;
  }
  const hellos = helloCookies(transmits(effects));
  t.is(hellos.length, 1);
  t.is(hellos[0]!.cookie.length, 0);
  t.log('rxtls: answered');
});

test('RFC 6347 §4.2.1: a HelloVerifyRequest whose cookie length disagrees with its body (a "256-byte cookie") is decode_error', (t) => {
  for (const body of [
    cat(u16(0xfeff), [0], new Uint8Array(256)), // 256 bytes of cookie: the length byte cannot say so
    cat(u16(0xfeff), [255], new Uint8Array(10)), // length 255, 10 bytes present
    cat(u16(0xfeff)), // no cookie length at all
  ]) {
    const { p } = stepped(0);
    inject(t, p, 'client', hvrRecord({ body }));
    assertFatal(t, p, 'client', [A.decode_error]);
  }
});

test('RFC 6347 §4.2.1: a HelloVerifyRequest after the ServerHello is unexpected_message', (t) => {
  const { p, flights } = stepped(1);
  const msgs = plainMessages(flights[1]!);
  inject(t, p, 'client', msgs[0]!.rec.raw); // ServerHello
  inject(t, p, 'client', hvrRecord({ msgSeq: msgs[0]!.msgSeq + 1, seq: 9 }));
  assertFatal(t, p, 'client', [A.unexpected_message]);
});

test('RFC 6347 §4.2.1: a HelloVerifyRequest sent to a server is unexpected_message or dropped', (t) => {
  for (const steps of [0, 2]) {
    // 0: a fresh server before any ClientHello; 2: a server that answered the ClientHello and waits for the client flight.
    const { p, flights } = stepped(steps);
    if (steps === 0) {
      inject(t, p, 'server', hvrRecord({ msgSeq: 0 }));
      droppedOrFatal(t, p, 'server', [A.unexpected_message], () => {
        heal(p, [{ to: 'server', data: flights[0]![0]! }]);
        t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
      });
    } else {
      const next = p.server.reassembly.nextSeq;
      inject(t, p, 'server', hvrRecord({ msgSeq: next, seq: 5 }));
      droppedOrFatal(t, p, 'server', [A.unexpected_message], () => {
        heal(p, flights[2]!.map((data) => ({ to: 'server' as const, data })));
        t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
      });
    }
  }
});

// Found by this probe and fixed: the client took one HelloVerifyRequest only, so a cookie that expired while the
// ClientHello carrying it was lost ended the handshake (RFC 6347 sets no limit; rxtls answers up to four, and its
// server takes a first ClientHello numbered up to four).
test('RFC 6347 §4.2.1: a second HelloVerifyRequest (the cookie expired before it came back) is answered with a ClientHello carrying the new cookie', (t) => {
  let lost = 0;
  // The ClientHello with the cookie (the second datagram to the server) and its first retransmission are lost: when
  // the next one arrives (3 s on), the 1-second cookie has expired.
  const p: DtlsPair = new DtlsPair(V12, { cookieSecret: COOKIE_SECRET, cookieLifetime: 1_000 }, (d) => {
    if (d.to === 'server' && d.index >= 1 && d.at < NOW + 1_500) {
      lost++;
      return 'drop';
    }
    return 'deliver';
  });
  p.start();
  p.run();
  t.is(lost, 2, 'two ClientHellos with the cookie lost');
  t.is(p.sent.server.filter((d) => plainMessages([d]).some((m) => m.type === H.hello_verify_request)).length, 2, 'the server sent a second HelloVerifyRequest');
  t.deepEqual(fatalAlerts(p, 'client'), [], 'no alert for the second HelloVerifyRequest');
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server), `client: ${p.types('client').join(',')}`);
});

test('RFC 6347 §4.2.1: a ClientHello retransmitted after the HelloVerifyRequest with changed fields does not get past the cookie', (t) => {
  const listener = new DtlsPair(V12, { cookieSecret: COOKIE_SECRET }, () => 'drop');
  listener.start();
  const hvr = transmits(listener.input('server', { type: 'datagram', data: listener.sent.client[0]! }));
  const ch2 = transmits(listener.input('client', { type: 'datagram', data: hvr[0]! }));
  const m = plainMessages(ch2)[0]!;
  const h = parseClientHello(m.body);
  t.true(h.cookie.length > 0);
  const changes: [string, Uint8Array][] = [
    ['random', clientHelloBody({ ...h, random: h.random.map((b) => b ^ 0x5a) })],
    ['cipher_suites', clientHelloBody({ ...h, suites: h.suites.slice(1) })],
    ['session_id', clientHelloBody({ ...h, sid: [1, 2, 3, 4] })],
  ];
  for (const [what, body] of changes) {
    const effects = inject(t, listener, 'server', msgRecord({ type: H.client_hello, msgSeq: m.msgSeq, body }, 1));
    const answer = plainMessages(transmits(effects)).map((x) => x.type);
    t.false(answer.includes(H.server_hello), `${what}: no ServerHello`);
    t.false(isDtlsCommitted(listener.server), `${what}: the server keeps no state`);
    t.true(answer.length === 0 || answer.every((ty) => ty === H.hello_verify_request), `${what}: a new HelloVerifyRequest or nothing (${answer.join(',')})`);
    t.deepEqual(fatalAlerts(listener, 'server'), [], `${what}: no alert`);
  }
  // The genuine second ClientHello is still accepted.
  const ok = inject(t, listener, 'server', ch2[0]!);
  t.true(plainMessages(transmits(ok)).some((x) => x.type === H.server_hello));
});

// ---------------------------------------------------------------------------------------------------------------
// 5. Renegotiation (RFC 5246 §7.4.1.1, §7.4.1.2; RFC 5746 §4.2, §4.4)

test('RFC 5746 §4.4, RFC 5246 §7.4.1.2: a ClientHello under epoch 1 after the handshake gets a no_renegotiation warning (or handshake_failure)', (t) => {
  const p = connectedPair();
  const first = plainMessages(p.sent.client).find((m) => m.type === H.client_hello)!;
  const since = p.sent.server.length;
  p.filter = () => 'drop'; // the answer goes to the real client, which did not ask to renegotiate: keep it off the link
  inject(t, p, 'server', sealFrom(p, 'client', HANDSHAKE, fragment({ type: H.client_hello, msgSeq: p.server.reassembly.nextSeq, body: first.body })));
  const wire = alertsOnWire(p, 'server', p.sent.server.slice(since));
  if (fatalAlerts(p, 'server').length > 0) {
    assertFatal(t, p, 'server', [A.handshake_failure]);
    t.deepEqual(wire, [[AlertLevel.fatal, A.handshake_failure]]);
    return;
  }
  t.deepEqual(wire, [[AlertLevel.warning, A.no_renegotiation]], 'a no_renegotiation warning under epoch 1');
  t.false(plainMessages(p.sent.server.slice(since)).some((m) => m.type === H.server_hello), 'no ServerHello');
  t.deepEqual(openFrom(p, 'server', p.sent.server.slice(since)).filter((r) => r.type === HANDSHAKE), [], 'no handshake message');
  assertAlive(t, p, 'server');
  exchange(t, p, 'reneg');
});

test('RFC 5246 §7.4.1.1: a HelloRequest to the client after the handshake is ignored or gets a no_renegotiation warning; the connection goes on', (t) => {
  const p = connectedPair();
  const since = p.sent.client.length;
  p.filter = () => 'drop'; // the real server sent no HelloRequest: keep the client's answer off the link
  inject(t, p, 'client', sealFrom(p, 'server', HANDSHAKE, fragment({ type: H.hello_request, msgSeq: p.client.reassembly.nextSeq, body: [] })));
  const sent = p.sent.client.slice(since);
  const wire = alertsOnWire(p, 'client', sent);
  t.true(wire.length === 0 || (wire.length === 1 && wire[0]![0] === AlertLevel.warning && wire[0]![1] === A.no_renegotiation), `alerts ${JSON.stringify(wire)}`);
  t.false(plainMessages(sent).some((m) => m.type === H.client_hello), 'no renegotiating ClientHello');
  assertAlive(t, p, 'client');
  exchange(t, p, 'hello request');
});

test('RFC 5246 §7.4.1.1: a HelloRequest sent to the server is unexpected_message', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', sealFrom(p, 'client', HANDSHAKE, fragment({ type: H.hello_request, msgSeq: p.server.reassembly.nextSeq, body: [] })));
  assertFatal(t, p, 'server', [A.unexpected_message]);
});

test('RFC 6347 §4.2.8: a plaintext ClientHello (epoch 0) on an established association does not destroy it', (t) => {
  const p = connectedPair();
  const hello = p.sent.client[0]!;
  const fresh = new DtlsPair(V12, {}, () => 'drop');
  fresh.start();
  const since = p.sent.server.length;
  inject(t, p, 'server', hello); // the old one again
  inject(t, p, 'server', fresh.sent.client[0]!); // a new one (another random), message_seq 0
  // A new handshake, if any, is a new association's (a listener's); this one must survive either way.
  assertAlive(t, p, 'server');
  t.is(p.server.read12?.epoch, 1, 'the association keeps its keys');
  t.log(`rxtls answered with: ${plainMessages(p.sent.server.slice(since)).map((m) => m.type).join(',') || 'no plaintext handshake message'}`);
  exchange(t, p, 'new hello');
});

// ---------------------------------------------------------------------------------------------------------------
// 6. Handshake message sequencing and reassembly (RFC 6347 §4.2.2, §4.2.3)

test('RFC 6347 §4.2.2: handshake fragments with message_seq far ahead are dropped or buffered within the bound; the handshake completes', (t) => {
  const { p, flights } = stepped(2);
  const next = p.server.reassembly.nextSeq;
  const { maxAhead, maxMessageLength } = p.server.reassembly.limits;
  // From message_seq next + 3 on: the client's flight (ClientKeyExchange, Finished) takes next and next + 1, and a
  // buffered message at next + 2 would follow the Finished as a post-handshake message.
  for (let ahead = 3; ahead < 400; ahead += 3) {
    inject(t, p, 'server', msgRecord({ type: H.certificate_verify, msgSeq: (next + ahead) & 0xffff, body: new Uint8Array(300) }, 500 + ahead));
  }
  t.true(p.server.reassembly.pending.length <= maxAhead, `pending ${p.server.reassembly.pending.length} ≤ ${maxAhead}`);
  t.true(p.server.reassembly.pending.every((m) => m.msgSeq - next <= maxAhead));
  t.true(bufferedBytes(p.server.reassembly) <= maxAhead * 300);
  t.true(maxMessageLength <= 1 << 17);
  t.deepEqual(fatalAlerts(p, 'server'), []);
  heal(p, flights[2]!.map((data) => ({ to: 'server' as const, data })));
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  exchange(t, p, 'ahead');
});

// Found by this probe and fixed: such fragments were kept past the ChangeCipherSpec and met the genuine Finished
// (epoch 1, same message_seq) with another length: illegal_parameter, so an off-path attacker could abort handshakes.
test('RFC 6347 §4.1: plaintext fragments injected at the message_seq of the coming Finished are forgotten at the CCS; the handshake completes', (t) => {
  for (const forged of [{ type: H.finished, length: 40 }, { type: H.certificate, length: 12 }]) {
    const { p, flights } = stepped(2);
    const next = p.server.reassembly.nextSeq;
    // The client's flight: ClientKeyExchange at next, CCS, Finished (epoch 1) at next + 1.
    inject(t, p, 'server', record(HANDSHAKE, 80, fragment({ type: forged.type, length: forged.length, msgSeq: next + 1, offset: 0, body: new Uint8Array(4) })));
    t.deepEqual(fatalAlerts(p, 'server'), []);
    heal(p, flights[2]!.map((data) => ({ to: 'server' as const, data })));
    t.deepEqual(fatalAlerts(p, 'server'), [], `forged type ${forged.type}`);
    t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server), `forged type ${forged.type}`);
    exchange(t, p, `forged type ${forged.type}`);
  }
});

test('RFC 6347 §4.2.2: a message of length 2^24 − 1 is refused (decode_error) or dropped; memory stays bounded', (t) => {
  const { p, flights } = stepped(2);
  const next = p.server.reassembly.nextSeq;
  const max = p.server.reassembly.limits.maxMessageLength;
  inject(t, p, 'server', record(HANDSHAKE, 70, fragment({ type: H.client_key_exchange, length: 0xffffff, msgSeq: next, body: new Uint8Array(100) })));
  t.true(p.server.reassembly.pending.every((m) => m.length <= max), 'no buffer beyond maxMessageLength');
  droppedOrFatal(t, p, 'server', [A.decode_error, A.illegal_parameter, A.handshake_failure], () => {
    t.is(bufferedBytes(p.server.reassembly), 0);
    heal(p, flights[2]!.map((data) => ({ to: 'server' as const, data })));
    t.true(isDtlsConnected(p.server));
  });
});

test('RFC 6347 §4.2.3: zero-length and duplicate fragments of the server flight are harmless; the handshake completes', (t) => {
  const { p, flights } = stepped(1);
  const msgs = plainMessages(flights[1]!);
  const parts: Uint8Array[] = [];
  let seq = 300;
  for (const m of msgs) {
    parts.push(record(HANDSHAKE, seq++, fragment({ type: m.type, length: m.body.length, msgSeq: m.msgSeq, offset: 0, body: [] })));
    parts.push(record(HANDSHAKE, seq++, fragment({ type: m.type, length: m.body.length, msgSeq: m.msgSeq, offset: m.body.length, body: [] })));
    parts.push(m.rec.raw, m.rec.raw);
  }
  const before = p.sent.client.length;
  inject(t, p, 'client', cat(...parts.slice(0, parts.length >> 1)));
  inject(t, p, 'client', cat(...parts.slice(parts.length >> 1)));
  t.deepEqual(fatalAlerts(p, 'client'), []);
  const flight = p.sent.client.slice(before);
  t.deepEqual(plainMessages(flight).map((m) => m.type), [H.client_key_exchange], 'the client answered once');
  heal(p, flight.map((data) => ({ to: 'server' as const, data })));
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  exchange(t, p, 'dups');
});

test('RFC 6347 §4.2.3: overlapping fragments of the server Certificate with different bytes: first bytes win, or illegal_parameter', (t) => {
  const { p, flights } = stepped(1);
  const msgs = plainMessages(flights[1]!);
  const cert = msgs.find((m) => m.type === H.certificate)!;
  const half = cert.body.length >> 1;
  const altered = Uint8Array.from(cert.body.subarray(half - 16));
  for (let i = 0; i < 16; i++) altered[i]! ^= 0xff;
  const pieces = [
    ...msgs.filter((m) => m.type !== H.certificate).map((m) => m.rec.raw),
    record(HANDSHAKE, 400, fragment({ type: H.certificate, length: cert.body.length, msgSeq: cert.msgSeq, offset: 0, body: cert.body.subarray(0, half) })),
    record(HANDSHAKE, 401, fragment({ type: H.certificate, length: cert.body.length, msgSeq: cert.msgSeq, offset: half - 16, body: altered })),
  ];
  inject(t, p, 'client', cat(...pieces));
  if (fatalAlerts(p, 'client').length > 0) {
    assertFatal(t, p, 'client', [A.illegal_parameter]);
    return;
  }
  heal(p);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server), `client: ${p.types('client').join(',')}`);
  exchange(t, p, 'overlap');
});

test('RFC 6347 §4.2.3: server flight fragments disagreeing on the message length are illegal_parameter or decode_error', (t) => {
  const { p, flights } = stepped(1);
  const msgs = plainMessages(flights[1]!);
  const cert = msgs.find((m) => m.type === H.certificate)!;
  const half = cert.body.length >> 1;
  inject(t, p, 'client', cat(
    msgs[0]!.rec.raw,
    record(HANDSHAKE, 410, fragment({ type: H.certificate, length: cert.body.length, msgSeq: cert.msgSeq, offset: 0, body: cert.body.subarray(0, half) })),
    record(HANDSHAKE, 411, fragment({ type: H.certificate, length: cert.body.length + 7, msgSeq: cert.msgSeq, offset: half, body: cert.body.subarray(half) })),
  ));
  assertFatal(t, p, 'client', [A.illegal_parameter, A.decode_error]);
});

test('RFC 6347 §4.2.4: a retransmitted ClientHello (old message_seq) makes the server resend its flight, identical but for record sequence numbers', (t) => {
  const { p, flights } = stepped(1);
  const effects = inject(t, p, 'server', flights[0]![0]!);
  const again = transmits(effects);
  t.deepEqual(fatalAlerts(p, 'server'), []);
  const a = flights[1]!.flatMap(records);
  const b = again.flatMap(records);
  t.is(b.length, a.length, 'the whole flight again');
  for (let i = 0; i < a.length; i++) {
    t.deepEqual(Array.from(b[i]!.body), Array.from(a[i]!.body), `record ${i}: same content`);
    t.is(b[i]!.epoch, a[i]!.epoch);
    t.true(b[i]!.seq > a[i]!.seq, `record ${i}: a new sequence number`);
  }
  heal(p, again.map((data) => ({ to: 'client' as const, data })));
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
});

test('RFC 6347 §4.2.4: the server flight replayed to a connected client is ignored: no retransmission, no alert', (t) => {
  const p = connectedPair();
  const since = p.sent.client.length;
  const serverFlight = p.sent.server.filter((d) => plainMessages([d]).some((m) => m.type === H.server_hello));
  t.true(serverFlight.length > 0);
  for (const d of serverFlight) inject(t, p, 'client', d);
  t.is(p.sent.client.length, since, 'nothing sent in answer');
  assertAlive(t, p, 'client');
  exchange(t, p, 'replayed flight');
});

// ---------------------------------------------------------------------------------------------------------------
// 7. The record layer (RFC 6347 §4.1, §4.1.2.7; RFC 5246 §6.2)

// Found by this probe and fixed: the additional data of a DTLS 1.2 record had the constant 0xfefd, not the record's
// version field (RFC 5246 §6.2.3.3, kept by RFC 6347 §4.1.2.1), so an on-path rewrite of it went unnoticed.
for (const version of [0xfeff, 0x0303, 0x1234]) {
  test(`RFC 6347 §4.1, RFC 5246 §6.2.3.3: an epoch-1 record whose version field was changed to 0x${version.toString(16)} is not delivered`, (t) => {
    const p = connectedPair();
    const rec = sealFrom(p, 'client', APPLICATION_DATA, text('version changed'));
    rec.set(u16(version), 1);
    const before = dropped(p, 'server');
    inject(t, p, 'server', rec);
    t.false(p.delivered.server.some((d) => str([d]) === 'version changed'), 'not delivered');
    if (fatalAlerts(p, 'server').length > 0) assertFatal(t, p, 'server', [A.protocol_version, A.bad_record_mac]);
    else {
      t.true(dropped(p, 'server') > before);
      assertAlive(t, p, 'server');
      exchange(t, p, 'version');
    }
  });
}

for (const type of [24, 25, 26, 255]) {
  // Whether the records around the unknown one are kept is part of the probe: RFC 6347 §4.1.2.7 discards the invalid
  // record, and the 13-byte header's length delimits it.
  test(`RFC 6347 §4.1.2.7, RFC 5246 §6: an authentic record of unknown content type ${type} between two good ones is dropped (or unexpected_message)`, (t) => {
    const p = connectedPair();
    const d = cat(sealFrom(p, 'client', APPLICATION_DATA, text('before')), sealFrom(p, 'client', type, text('unknown')), sealFrom(p, 'client', APPLICATION_DATA, text('after')));
    inject(t, p, 'server', d);
    t.is(str(p.delivered.server.slice(0, 1)), 'before');
    droppedOrFatal(t, p, 'server', [A.unexpected_message], () => {
      t.log(`delivered: ${p.delivered.server.map((x) => str([x])).join(' | ')}`);
      assertAlive(t, p, 'server');
      exchange(t, p, `type ${type}`);
    });
  });
}

// Found by this probe and fixed: a record of unknown type made the rest of the datagram unreadable; its 13-byte
// header gives its length, so only it is dropped.
test('RFC 6347 §4.1, §4.1.2.7: the valid record after an unknown-type record in the same datagram is delivered', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', cat(sealFrom(p, 'client', 25, text('unknown')), sealFrom(p, 'client', APPLICATION_DATA, text('after'))));
  t.deepEqual(fatalAlerts(p, 'server'), []);
  t.deepEqual(p.delivered.server.map((x) => str([x])), ['after']);
});

test('RFC 6347 §4.1.2.7: a record failing authentication in the middle of a datagram is dropped; the records around it are delivered', (t) => {
  const p = connectedPair();
  const bad = sealFrom(p, 'client', APPLICATION_DATA, text('forged'));
  bad[bad.length - 1]! ^= 1;
  inject(t, p, 'server', cat(sealFrom(p, 'client', APPLICATION_DATA, text('one')), bad, sealFrom(p, 'client', APPLICATION_DATA, text('three'))));
  t.deepEqual(p.delivered.server.map((x) => str([x])), ['one', 'three']);
  assertAlive(t, p, 'server');
  exchange(t, p, 'middle');
});

test('RFC 6347 §4.1: a record whose length runs past the datagram is dropped; the record before it is delivered', (t) => {
  const p = connectedPair();
  const long = sealFrom(p, 'client', APPLICATION_DATA, text('past the end'));
  long.set(u16(long.length - 13 + 40), 11);
  const before = dropped(p, 'server');
  inject(t, p, 'server', cat(sealFrom(p, 'client', APPLICATION_DATA, text('before')), long));
  t.deepEqual(p.delivered.server.map((x) => str([x])), ['before']);
  t.true(dropped(p, 'server') > before);
  assertAlive(t, p, 'server');
  exchange(t, p, 'past end');
});

test('RFC 6347 §4.1: a truncated record header (under 13 bytes) after a good record ends the datagram; the good record is delivered', (t) => {
  const p = connectedPair();
  const good = sealFrom(p, 'client', APPLICATION_DATA, text('good'));
  inject(t, p, 'server', cat(good, [APPLICATION_DATA, 0xfe, 0xfd, 0, 1, 0, 0]));
  t.deepEqual(p.delivered.server.map((x) => str([x])), ['good']);
  assertAlive(t, p, 'server');
  exchange(t, p, 'truncated header');
});

test('RFC 5246 §6.2.3, RFC 6347 §4.1.2.7: a record longer than 2^14 + 2048 is dropped or record_overflow', (t) => {
  const p = connectedPair();
  const huge = record(APPLICATION_DATA, 5, new Uint8Array(2 ** 14 + 2049), { epoch: 1 });
  inject(t, p, 'server', huge);
  droppedOrFatal(t, p, 'server', [A.record_overflow], () => {
    assertAlive(t, p, 'server');
    exchange(t, p, 'huge');
  });
});

// Found by this probe and fixed: the 2^14 bound of plaintext was applied to protected DTLS 1.2 records too, so a
// full 2^14-byte write (which any DTLS 1.2 stack sends where the MTU allows) was silently lost.
test('RFC 5246 §6.2.3: a full 2^14-byte write (a protected record of 2^14 + 24 bytes) is delivered', (t) => {
  const p = connectedPair({ mtu: 17_000 }, { mtu: 17_000 });
  const big = new Uint8Array(2 ** 14).fill(0x61);
  p.input('client', { type: 'write', data: big });
  p.run(p.now + 1_000);
  t.deepEqual(fatalAlerts(p, 'server'), []);
  t.is(p.delivered.server.length, 1, 'delivered');
  t.is(p.delivered.server[0]?.length, 2 ** 14);
});

test('RFC 5246 §6.2.1: a zero-length application data record is accepted (not fatal)', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', sealFrom(p, 'client', APPLICATION_DATA, []));
  t.true(p.delivered.server.every((d) => d.length === 0));
  assertAlive(t, p, 'server');
  exchange(t, p, 'empty data');
});

test('RFC 5246 §6.2.1: zero-length handshake, alert and ChangeCipherSpec records are dropped or fatal (unexpected_message / decode_error)', (t) => {
  for (const type of [HANDSHAKE, ALERT, CCS]) {
    const p = connectedPair();
    inject(t, p, 'server', sealFrom(p, 'client', type, []));
    droppedOrFatal(t, p, 'server', [A.unexpected_message, A.decode_error], () => {
      assertAlive(t, p, 'server');
      exchange(t, p, `empty ${type}`);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// 8. Alerts (RFC 5246 §7.2; RFC 6347 §4.1.2.7)

test('RFC 5246 §7.2: an authentic alert of 1 or 3 bytes is dropped or decode_error', (t) => {
  for (const content of [[AlertLevel.fatal], [AlertLevel.fatal, A.handshake_failure, 0]]) {
    const p = connectedPair();
    inject(t, p, 'server', sealFrom(p, 'client', ALERT, content));
    droppedOrFatal(t, p, 'server', [A.decode_error], () => {
      assertAlive(t, p, 'server');
      exchange(t, p, `alert ${content.length}`);
    });
  }
});

test('RFC 5246 §7.2: an authentic alert with an unknown level (3) is treated as fatal, refused (decode_error / illegal_parameter) or ignored', (t) => {
  const p = connectedPair();
  const since = p.sent.server.length;
  inject(t, p, 'server', sealFrom(p, 'client', ALERT, [3, A.handshake_failure]));
  if (!isDtlsClosed(p.server)) {
    t.log('rxtls: ignored');
    assertAlive(t, p, 'server');
    exchange(t, p, 'level 3');
  } else if (fatalAlerts(p, 'server').length > 0) {
    t.log('rxtls: refused');
    assertFatal(t, p, 'server', [A.decode_error, A.illegal_parameter]);
  } else {
    t.log('rxtls: treated as fatal');
    t.is(p.sent.server.length, since, 'closed without an alert back, as for a fatal alert');
    t.true(p.effects.server.some((e) => e.type === 'alertReceived' && e.description === A.handshake_failure));
  }
});

test('RFC 5246 §7.2.1: a close_notify warning ends the connection cleanly and is answered with a close_notify', (t) => {
  const p = connectedPair();
  const since = p.sent.server.length;
  inject(t, p, 'server', sealFrom(p, 'client', ALERT, [AlertLevel.warning, A.close_notify]));
  t.true(p.effects.server.some((e) => e.type === 'peerClosed'));
  t.deepEqual(alertsOnWire(p, 'server', p.sent.server.slice(since)), [[AlertLevel.warning, A.close_notify]], 'close_notify back (RFC 5246 §7.2.1)');
  t.deepEqual(fatalAlerts(p, 'server'), []);
  t.true(isDtlsClosed(p.server));
  const closed = p.effects.server.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error === undefined, 'a clean close');
});

test('RFC 5246 §7.2.2: a fatal alert closes the connection at once, and no alert is sent back', (t) => {
  for (const [level, description] of [[AlertLevel.fatal, A.handshake_failure], [AlertLevel.fatal, 0xee]]) {
    const p = connectedPair();
    const since = p.sent.server.length;
    inject(t, p, 'server', sealFrom(p, 'client', ALERT, [level!, description!]));
    t.true(isDtlsClosed(p.server));
    t.is(p.sent.server.length, since, 'nothing sent back');
    const closed = p.effects.server.find((e) => e.type === 'closed');
    t.true(closed?.type === 'closed' && closed.error instanceof TlsError);
  }
});

test('RFC 5246 §7.2.2: a fatal alert (plaintext) during the handshake closes the client; no alert back', (t) => {
  const { p } = stepped(0);
  const since = p.sent.client.length;
  inject(t, p, 'client', record(ALERT, 0, [AlertLevel.fatal, A.handshake_failure]));
  t.true(isDtlsClosed(p.client));
  t.is(p.sent.client.length, since);
  t.is(nextDtlsTimeout(p.client), undefined, 'no timer left');
});

// ---------------------------------------------------------------------------------------------------------------
// 9. Negotiation (RFC 6347 §4.1, §4.2.1; RFC 5246 §7.4.1; RFC 7627 §5.2; RFC 5746 §3.4)

test('RFC 6347 §4.1, RFC 5246 §E.1: a DTLS 1.0-only ClientHello (0xfeff, no supported_versions) to a DTLS 1.2+ server is protocol_version', (t) => {
  const { p, flights } = stepped(0);
  const m = plainMessages(flights[0]!)[0]!;
  const h = parseClientHello(m.body);
  const body = clientHelloBody({ ...h, version: 0xfeff, extensions: h.extensions.filter((e) => e.type !== X.supported_versions) });
  inject(t, p, 'server', msgRecord({ type: H.client_hello, msgSeq: 0, body }, 0));
  assertFatal(t, p, 'server', [A.protocol_version]);
  const wire = p.sent.server.flatMap(records).filter((r) => r.type === ALERT);
  t.deepEqual(wire.map((r) => Array.from(r.body)), [[AlertLevel.fatal, A.protocol_version]], 'the alert in the clear');
});

test('RFC 5246 §7.4.1.2: a ClientHello without the null compression method is illegal_parameter (or decode_error)', (t) => {
  const { p, flights } = stepped(0);
  const h = parseClientHello(plainMessages(flights[0]!)[0]!.body);
  inject(t, p, 'server', msgRecord({ type: H.client_hello, msgSeq: 0, body: clientHelloBody({ ...h, compression: [1] }) }, 0));
  assertFatal(t, p, 'server', [A.illegal_parameter, A.decode_error]);
});

test('RFC 6347 §4.2.1: a ClientHello whose cookie length runs past the message is decode_error or dropped', (t) => {
  const { p, flights } = stepped(0);
  const m = plainMessages(flights[0]!)[0]!;
  const h = parseClientHello(m.body);
  const body = Uint8Array.from(m.body.subarray(0, h.cookieAt + 1 + 20));
  body[h.cookieAt] = 255;
  inject(t, p, 'server', msgRecord({ type: H.client_hello, msgSeq: 0, body }, 0));
  droppedOrFatal(t, p, 'server', [A.decode_error], () => {
    heal(p, [{ to: 'server', data: flights[0]![0]! }]);
    t.true(isDtlsConnected(p.server));
  });
});

/** The client's verdict on the server flight with its ServerHello rewritten by `edit`. */
function serverHelloProbe(t: ExecutionContext, edit: (sh: ReturnType<typeof parseServerHello>) => ReturnType<typeof parseServerHello> | Uint8Array, client: Partial<DtlsClientConfig> = {}): DtlsPair {
  const { p, flights } = stepped(1, client);
  const flight = editServerFlight(flights[1]!, (m) => {
    if (m.type !== H.server_hello) return m;
    const e = edit(parseServerHello(m.body));
    return { ...m, body: e instanceof Uint8Array ? e : serverHelloBody(e) };
  });
  inject(t, p, 'client', flight);
  t.false(isDtlsConnected(p.client));
  return p;
}

test('RFC 5246 §7.4.1.3: a ServerHello choosing a cipher suite the client did not offer is illegal_parameter', (t) => {
  assertFatal(t, serverHelloProbe(t, (sh) => ({ ...sh, suite: 0x009c })), 'client', [A.illegal_parameter, A.handshake_failure]);
});

test('RFC 5246 §7.4.1.3: a ServerHello with compression method 1 is illegal_parameter', (t) => {
  assertFatal(t, serverHelloProbe(t, (sh) => ({ ...sh, compression: 1 })), 'client', [A.illegal_parameter]);
});

test('RFC 5246 §7.4.1.3: a ServerHello with a 33-byte session_id is decode_error (or illegal_parameter)', (t) => {
  assertFatal(t, serverHelloProbe(t, (sh) => ({ ...sh, sid: new Uint8Array(33).fill(7) })), 'client', [A.decode_error, A.illegal_parameter]);
});

test('RFC 6347 §4.1: a ServerHello selecting DTLS 1.0 (0xfeff) to a DTLS 1.2-only client is protocol_version', (t) => {
  assertFatal(t, serverHelloProbe(t, (sh) => ({ ...sh, version: 0xfeff })), 'client', [A.protocol_version]);
});

test('RFC 7627 §5.2: a ServerHello without extended_master_secret, when the client requires it, is handshake_failure', (t) => {
  const p = serverHelloProbe(t, (sh) => ({ ...sh, extensions: sh.extensions.filter((e) => e.type !== X.extended_master_secret) }), { requireExtendedMasterSecret: true });
  assertFatal(t, p, 'client', [A.handshake_failure]);
});

test('RFC 5746 §3.4: a ServerHello with a non-empty renegotiation_info in an initial handshake is handshake_failure', (t) => {
  const p = serverHelloProbe(t, (sh) => ({ ...sh, extensions: sh.extensions.map((e) => (e.type === X.renegotiation_info ? { type: e.type, data: Uint8Array.of(12, ...new Uint8Array(12)) } : e)) }));
  assertFatal(t, p, 'client', [A.handshake_failure]);
});

test('RFC 5246 §7.4.1.4: a ServerHello with an extension the client did not offer (supported_versions selecting DTLS 1.3) is refused', (t) => {
  const p = serverHelloProbe(t, (sh) => ({ ...sh, extensions: [...sh.extensions, { type: X.supported_versions, data: Uint8Array.of(0xfe, 0xfc) }] }));
  assertFatal(t, p, 'client', [A.unsupported_extension, A.illegal_parameter, A.protocol_version]);
});

// ---------------------------------------------------------------------------------------------------------------
// 10. Timers (RFC 6347 §4.2.4, §4.2.4.1)

/** Fire `side`'s timers until it closes (at most `steps`): the times (ms after the first transmission) of its transmissions. */
function transmissionTimes(p: DtlsPair, side: Side, steps: number): { times: number[]; datagrams: Uint8Array[][] } {
  const start = p.now;
  const times: number[] = [];
  const datagrams: Uint8Array[][] = [];
  for (let i = 0; i < steps && !isDtlsClosed(p[side]); i++) {
    const next = nextDtlsTimeout(p[side]);
    if (next === undefined) break;
    p.now = next;
    const sent = p.sent[side].length;
    p.input(side, { type: 'timeout' });
    if (p.sent[side].length > sent) {
      times.push(p.now - start);
      datagrams.push(p.sent[side].slice(sent));
    }
  }
  return { times, datagrams };
}

test('RFC 6347 §4.2.4.1: the client flight is retransmitted with a doubling timer (1 s first), identical but for record numbers and the re-sealed Finished; then the handshake gives up', (t) => {
  const { p, flights } = stepped(2);
  const first = flights[2]!;
  t.is(nextDtlsTimeout(p.client)! - p.now, 1_000, 'the first timeout is 1 s (RFC 6347 §4.2.4.1)');
  const { times, datagrams } = transmissionTimes(p, 'client', 100);
  t.true(isDtlsClosed(p.client), 'the client gave up');
  const closed = p.effects.client.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error instanceof TlsError && closed.error.kind === 'handshakeTimeout');
  t.true(times.length >= 3, `${times.length} retransmissions`);
  const gaps = [times[0]!, ...times.slice(1).map((x, i) => x - times[i]!)];
  for (let i = 1; i < gaps.length; i++) t.is(gaps[i], Math.min(2 * gaps[i - 1]!, 60_000), `gaps ${gaps.join(',')}`);
  const orig = first.flatMap(records);
  const origFin = openFrom(p, 'client', first).find((r) => r.type === HANDSHAKE)!;
  for (const d of datagrams) {
    const recs = d.flatMap(records);
    t.deepEqual(recs.map((r) => [r.type, r.epoch]), orig.map((r) => [r.type, r.epoch]), 'the same records in the same epochs');
    for (let i = 0; i < recs.length; i++) {
      if (recs[i]!.epoch === 0) t.deepEqual(Array.from(recs[i]!.body), Array.from(orig[i]!.body), 'epoch-0 content unchanged');
      t.not(recs[i]!.seq, orig[i]!.seq, 'a new record sequence number');
    }
    const fin = openFrom(p, 'client', d).find((r) => r.type === HANDSHAKE);
    t.deepEqual(fin && Array.from(fin.content), Array.from(origFin.content), 'the same Finished, re-sealed');
  }
});

test('RFC 6347 §4.2.4: the server retransmits its first flight with a doubling timer; once connected (FINISHED) it arms no timer', (t) => {
  const { p, flights } = stepped(1);
  const { times } = transmissionTimes(p, 'server', 4);
  t.deepEqual(times, [1_000, 3_000, 7_000, 15_000]);
  // Now let the handshake complete.
  heal(p, flights[1]!.map((data) => ({ to: 'client' as const, data })));
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  t.is(p.server.retransmitAt, undefined);
  t.is(p.client.retransmitAt, undefined);
});
