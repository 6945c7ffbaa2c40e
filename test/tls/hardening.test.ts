/**
 * Issue "Hardening", TLS over streams: the RFC 8446 protocol errors tlsfuzzer found (each with the alert the RFC
 * asks for, and one fatal alert only), and the cost a hostile peer can impose (records per handshake message,
 * one `deliver` per received chunk). Work is counted (effects, records, bytes), never timed.
 */
import test from 'ava';
import { Pair, NOW, fixture, serverCredentials, text, str } from '../helpers/pair.js';
import { toServerConfig } from '../../src/rx/options.js';
import { TlsError } from '../../src/core/errors.js';
import { handleEvents, handshakeInfo, type TlsState } from '../../src/tls/connection.js';
import { plainRecord, sealRecord, type RecordKey } from '../../src/tls/record.js';
import { maxPiecesFor } from '../../src/handshake/engine.js';
import { decodeHandshakeBody, encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { AlertDescription as A, SignatureScheme } from '../../src/wire/tls/constants.js';
import { createAntiReplay, createTicketer } from '../../src/handshake/session.js';
import type { SigningKey } from '../../src/crypto/provider.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import type { TlsEffect } from '../../src/tls/types.js';
import { asyncNobleProvider } from '../helpers/batch.js';

function feed(state: TlsState, data: Uint8Array) {
  return handleEvents(state, { type: 'received', now: NOW, data });
}
const alertsSent = (effects: readonly TlsEffect[]) => effects.flatMap((e) => (e.type === 'alertSent' ? [e.description] : []));
const closedWith = (effects: readonly TlsEffect[]) => {
  const c = effects.find((e) => e.type === 'closed');
  return c?.type === 'closed' ? c.error : undefined;
};
const ccs = () => plainRecord(20, Uint8Array.of(1));

/** A started pair whose server has the client's first flight (ClientHello [+ CCS]) waiting in its inbox. */
function serverAndHello() {
  const pair = new Pair().start();
  return { pair, hello: pair.inbox.server[0]! };
}

/** Records of `type` sealed one after the other under `key`, `size` bytes of content each, in one buffer. */
function sealedRecords(key: RecordKey, type: number, content: Uint8Array, size = 16384): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let o = 0; o < content.length; o += size) {
    const r = sealRecord(key, type, content.subarray(o, o + size));
    parts.push(r.bytes);
    key = r.key;
  }
  return Buffer.concat(parts);
}

/** A ClientHello message from the pair's client with one more extension appended (no PSK is offered, so it may go last). */
function helloWithExtension(hello: Uint8Array, type: number, data: Uint8Array): Uint8Array {
  const body = Buffer.from(hello.subarray(9));
  let o = 2 + 32;
  o += 1 + body[o]!; // legacy_session_id
  o += 2 + ((body[o]! << 8) | body[o + 1]!); // cipher_suites
  o += 1 + body[o]!; // legacy_compression_methods
  const ext = Buffer.concat([Buffer.from([type >> 8, type & 0xff, data.length >> 8, data.length & 0xff]), data]);
  const extLen = ((body[o]! << 8) | body[o + 1]!) + ext.length;
  body[o] = extLen >> 8;
  body[o + 1] = extLen & 0xff;
  const newBody = Buffer.concat([body, ext]);
  return Buffer.concat([Buffer.from([1, newBody.length >> 16, (newBody.length >> 8) & 0xff, newBody.length & 0xff]), newBody]);
}

// ------------------------------------------------------------------------------------------------------------
// RFC 8446 protocol errors

test('RFC 8446 §4.1.2, §D.5: a ClientHello with legacy_version below 0x0303 is protocol_version', (t) => {
  for (const version of [0x0000, 0x0002, 0x0200, 0x0300, 0x0301, 0x0302]) {
    const { pair, hello } = serverAndHello();
    const forged = Uint8Array.from(hello);
    forged[9] = version >> 8;
    forged[10] = version & 0xff;
    const step = feed(pair.server, forged);
    t.deepEqual(alertsSent(step.effects), [A.protocol_version], `legacy_version 0x${version.toString(16)}`);
    t.is(closedWith(step.effects)?.kind, 'peerIncompatible');
    t.falsy(step.effects.find((e) => e.type === 'transmit' && e.data[0] === 22), 'no ServerHello');
  }
});

test('RFC 8446 §5.1, §6: an empty alert record is unexpected_message (plaintext, padded under handshake keys, under application keys)', (t) => {
  // Plaintext, before any key.
  const fresh = serverAndHello().pair;
  t.deepEqual(alertsSent(feed(fresh.server, plainRecord(21, new Uint8Array(0))).effects), [A.unexpected_message]);
  // Protected under the client handshake key, with padding.
  const hs = new Pair().start().serverRound();
  const padded = sealRecord(hs.server.rxKey!, 21, new Uint8Array(0), 13).bytes;
  t.deepEqual(alertsSent(feed(hs.server, padded).effects), [A.unexpected_message]);
  // Protected under the application key, without padding.
  const app = new Pair().start().drive();
  const empty = sealRecord(app.server.txKey!, 21, new Uint8Array(0)).bytes;
  const step = feed(app.client, empty);
  t.deepEqual(alertsSent(step.effects), [A.unexpected_message]);
  t.is(closedWith(step.effects)?.alert, A.unexpected_message);
});

test('RFC 8446 §4.4.4, §6.2: a client Finished padded or truncated by 1..32 bytes is decode_error, not decrypt_error', (t) => {
  for (const delta of [-32, -31, -16, -1, 1, 2, 16, 32]) {
    const pair = new Pair().start().serverRound();
    // (The encoder refuses an empty verify_data, so that one is written by hand.)
    const fin =
      delta === -32 ? Uint8Array.of(20, 0, 0, 0) : encodeHandshakeBytes({ type: 'finished', body: { verifyData: new Uint8Array(32 + delta).fill(1) } });
    const step = feed(pair.server, sealRecord(pair.server.rxKey!, 22, fin).bytes);
    t.deepEqual(alertsSent(step.effects), [A.decode_error], `Finished of ${32 + delta} bytes`);
    t.is(closedWith(step.effects)?.kind, 'invalidMessage');
  }
  // The right length with the wrong value is still decrypt_error.
  const pair = new Pair().start().serverRound();
  const fin = encodeHandshakeBytes({ type: 'finished', body: { verifyData: new Uint8Array(32).fill(1) } });
  t.deepEqual(alertsSent(feed(pair.server, sealRecord(pair.server.rxKey!, 22, fin).bytes).effects), [A.decrypt_error]);
});

test('an oversized Finished (128 KiB and more) gets one fatal alert, then nothing, however it is chunked', (t) => {
  for (const size of [1 << 17, (1 << 17) + 1, 200 * 1024]) {
    const fin = encodeHandshakeBytes({ type: 'finished', body: { verifyData: new Uint8Array(size).fill(7) } });
    // All records in one chunk.
    const one = new Pair().start().serverRound();
    const wire = sealedRecords(one.server.rxKey!, 22, fin);
    const step = feed(one.server, wire);
    t.is(alertsSent(step.effects).length, 1, `${size}: one alert`);
    t.is(step.effects.filter((e) => e.type === 'closed').length, 1);
    // The same bytes in small chunks: exactly one alert over all of them.
    const many = new Pair().start().serverRound();
    let st = many.server;
    const all: TlsEffect[] = [];
    for (let o = 0; o < wire.length; o += 1000) {
      const s = feed(st, wire.subarray(o, o + 1000));
      st = s.state;
      all.push(...s.effects);
    }
    all.push(...handleEvents(st, { type: 'eof', now: NOW }).effects);
    t.is(alertsSent(all).length, 1, `${size} chunked: one alert`);
    t.is(all.filter((e) => e.type === 'closed').length, 1);
  }
});

/** A signing key that claims `scheme` but signs with `key`'s own first scheme (a lying or buggy peer). */
function lyingKey(key: SigningKey, scheme: number): SigningKey {
  return { kind: key.kind, schemes: [scheme], sign: (_s, message) => key.sign(key.schemes[0]!, message) };
}

test('RFC 8446 §4.4.3: a CertificateVerify scheme that does not match the certificate key is illegal_parameter', (t) => {
  const cases = [
    { cert: 'server-ec', scheme: SignatureScheme.ecdsa_secp384r1_sha384 }, // P-256 key, P-384 scheme
    { cert: 'server-p384', scheme: SignatureScheme.ecdsa_secp256r1_sha256 }, // P-384 key, P-256 scheme
    { cert: 'server-ed', scheme: SignatureScheme.ecdsa_secp256r1_sha256 }, // Ed25519 key, ECDSA scheme
    { cert: 'server-ec', scheme: SignatureScheme.ed25519 }, // P-256 key, Ed25519 scheme
    { cert: 'server-ec', scheme: SignatureScheme.rsa_pss_rsae_sha256 }, // P-256 key, RSA scheme
  ];
  for (const { cert, scheme } of cases) {
    const creds = serverCredentials(cert);
    const pair = new Pair({}, { ...creds, privateKey: lyingKey(creds.privateKey, scheme) }).start().drive();
    const err = pair.closedError('client');
    t.is(err?.alert, A.illegal_parameter, `${cert} with scheme 0x${scheme.toString(16)}: ${err?.message}`);
    t.is(err?.kind, 'peerMisbehaved');
  }
});

test('RFC 8446 §5, §D.4: one change_cipher_spec is dropped, a second is unexpected_message', (t) => {
  // Two in one TCP segment, right after the ClientHello.
  const a = serverAndHello();
  const both = Buffer.concat([a.hello, ccs(), ccs()]);
  t.deepEqual(alertsSent(feed(a.pair.server, both).effects), [A.unexpected_message]);
  // The client's CCS leads its second flight; a second one before its Finished.
  const b = new Pair().start().serverRound();
  for (const d of b.inbox.client.splice(0)) b.input('client', { type: 'received', now: b.now, data: d });
  const second = Buffer.concat(b.inbox.server.splice(0));
  t.is(second[0], 20, 'the client sent its compatibility CCS first');
  const twice = Buffer.concat([second.subarray(0, 6), ccs(), second.subarray(6)]);
  t.deepEqual(alertsSent(feed(b.server, twice).effects), [A.unexpected_message]);
  // The client: the server's CCS came with its flight; a second one is injected right after it.
  const client = new Pair().start().serverRound();
  const flight = Buffer.concat(client.inbox.client);
  // ServerHello record, then the server's CCS: cut just after it and inject a second one.
  const shLen = 5 + ((flight[3]! << 8) | flight[4]!);
  t.is(flight[shLen], 20, 'the server sent its compatibility CCS after the ServerHello');
  const injected = Buffer.concat([flight.subarray(0, shLen + 6), ccs(), flight.subarray(shLen + 6)]);
  t.deepEqual(alertsSent(feed(client.client, injected).effects), [A.unexpected_message]);
  // One CCS each way still completes (middlebox compatibility mode, the default).
  const ok = new Pair().start().drive();
  t.truthy(handshakeInfo(ok.client));
  t.truthy(handshakeInfo(ok.server));
});

function earlyServer(extra: Partial<TlsServerConfig> = {}): Partial<TlsServerConfig> {
  return { ticketer: createTicketer(new Uint8Array(32).fill(3)), antiReplay: createAntiReplay(), maxEarlyData: 16384, ...extra };
}

test('RFC 8446 §4.2.10: after HelloRetryRequest, records that fail to open after the second ClientHello are bad_record_mac', (t) => {
  const server = earlyServer({ groups: ['secp256r1'] });
  const first = new Pair({ groups: ['x25519', 'secp256r1'] }, server).start().drive();
  const session = first.of('client', 'session').map((e) => (e.type === 'session' ? e.session : undefined!))[0];
  t.truthy(session);
  const pair = new Pair({ session, earlyData: true, groups: ['x25519', 'secp256r1'] }, server).start();
  pair.input('client', { type: 'write', now: pair.now, data: text('early') });
  // ClientHello, CCS and 0-RTT records: the server answers with HelloRetryRequest and skips the early data.
  pair.serverRound();
  t.is(closedWith(pair.effects.server), undefined);
  // The client sends its second ClientHello (no early data); the server answers with its flight.
  for (const d of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: pair.now, data: d });
  pair.serverRound();
  t.is(closedWith(pair.effects.server), undefined);
  // Anything that fails to open now was not sent with the first ClientHello (TCP keeps order): bad_record_mac.
  const garbage = plainRecord(23, new Uint8Array(40).fill(0x5a));
  const step = feed(pair.server, garbage);
  t.deepEqual(alertsSent(step.effects), [A.bad_record_mac]);
  // The honest client still completes against an honest server.
  const honest = new Pair({ session: first.of('client', 'session').map((e) => (e.type === 'session' ? e.session : undefined!))[1], earlyData: true, groups: ['x25519', 'secp256r1'] }, server).start();
  honest.input('client', { type: 'write', now: honest.now, data: text('early') });
  honest.drive();
  t.is(handshakeInfo(honest.client)?.earlyData, 'rejected');
  t.true(handshakeInfo(honest.client)?.helloRetry);
});

test('RFC 8446 §4.1.2: a second ClientHello that still offers early_data is illegal_parameter', (t) => {
  const server = earlyServer({ groups: ['secp256r1'] });
  const first = new Pair({ groups: ['x25519', 'secp256r1'] }, server).start().drive();
  const session = first.of('client', 'session').map((e) => (e.type === 'session' ? e.session : undefined!))[0];
  const pair = new Pair({ session, earlyData: true, groups: ['x25519', 'secp256r1'] }, server).start();
  pair.input('client', { type: 'write', now: pair.now, data: text('early') });
  pair.serverRound();
  for (const d of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: pair.now, data: d });
  // The second ClientHello is the first record of the client's answer; put early_data back into it.
  const answer = Buffer.concat(pair.inbox.server.splice(0));
  const recLen = (answer[3]! << 8) | answer[4]!;
  const msg = decodeHandshakeBody(answer[5]!, answer.subarray(9, 5 + recLen));
  t.is(msg.type, 'client_hello');
  if (msg.type !== 'client_hello') return;
  const ext = msg.body.extensions;
  const order = [...ext.order];
  order.splice(order.length - 1, 0, 42);
  const forged = encodeHandshakeBytes({ ...msg, body: { ...msg.body, extensions: { ...ext, earlyData: true, order } } });
  const step = feed(pair.server, plainRecord(22, forged));
  t.deepEqual(alertsSent(step.effects), [A.illegal_parameter]);
});

test('RFC 8446 §5.1: a ClientHello over 16 KiB in several records is accepted, within maxHandshakeMessage', (t) => {
  const { pair, hello } = serverAndHello();
  const big = helloWithExtension(hello, 0xfa0a, new Uint8Array(20000).fill(0x33));
  t.true(big.length > 16384);
  const records = Buffer.concat([plainRecord(22, big.subarray(0, 16384)), plainRecord(22, big.subarray(16384))]);
  const step = feed(pair.server, records);
  t.is(closedWith(step.effects), undefined, closedWith(step.effects)?.message);
  t.truthy(step.effects.find((e) => e.type === 'transmit'), 'the server answered');
  // Under a smaller bound the same ClientHello is refused from its header.
  const small = new Pair({}, { maxHandshakeMessage: 16384 }).start();
  const refused = feed(small.server, records);
  t.deepEqual(alertsSent(refused.effects), [A.decode_error]);
});

// ------------------------------------------------------------------------------------------------------------
// Cost an attacker can impose

test('RFC 8446 §5.1: a ClientHello in 1-byte records is accepted (censorship-evading clients fragment it so)', (t) => {
  const { pair, hello } = serverAndHello();
  const body = hello.subarray(5, 5 + ((hello[3]! << 8) | hello[4]!));
  let st = pair.server;
  let effects: readonly TlsEffect[] = [];
  for (const b of body) {
    const step = feed(st, plainRecord(22, Uint8Array.of(b)));
    st = step.state;
    effects = step.effects;
    t.is(closedWith(effects), undefined, closedWith(effects)?.message);
  }
  t.truthy(effects.find((e) => e.type === 'transmit'), 'the server answered the last record');
});

test('a 64 KiB ClientHello in 1-byte records hits the records-per-message bound: unexpected_message', (t) => {
  const { pair } = serverAndHello();
  const len = 65536;
  const body = new Uint8Array(4 + len).fill(0x41);
  body.set([1, len >> 16, (len >> 8) & 0xff, len & 0xff]);
  let st = pair.server;
  let records = 0;
  let effects: readonly TlsEffect[] = [];
  for (const b of body) {
    const step = feed(st, plainRecord(22, Uint8Array.of(b)));
    records++;
    st = step.state;
    effects = step.effects;
    if (effects.some((e) => e.type === 'closed')) break;
  }
  t.deepEqual(alertsSent(effects), [A.unexpected_message]);
  t.is(records, maxPiecesFor(body.length) + 1);
  t.true(records < body.length / 10);
});

test('many small application records in one received chunk become one deliver effect', (t) => {
  const pair = new Pair().start().drive();
  let key = pair.server.txKey!;
  const parts: Uint8Array[] = [];
  const n = 4096;
  for (let i = 0; i < n; i++) {
    const r = sealRecord(key, 23, Uint8Array.of(i & 0xff));
    parts.push(r.bytes);
    key = r.key;
  }
  const step = feed(pair.client, Buffer.concat(parts));
  const delivers = step.effects.filter((e) => e.type === 'deliver');
  t.is(delivers.length, 1);
  const data = delivers[0]!.type === 'deliver' ? delivers[0]!.data : new Uint8Array(0);
  t.is(data.length, n);
  t.true(data.every((b, i) => b === (i & 0xff)));
  // A close_notify after the data keeps its place: deliver, then alertReceived and peerClosed (and the step's
  // shutdown fact, which always comes after the step's other effects).
  const last = sealRecord(key, 23, text('ab'));
  const tail = feed(step.state, Buffer.concat([last.bytes, sealRecord(last.key, 21, Uint8Array.of(1, 0)).bytes]));
  t.deepEqual(
    tail.effects.map((e) => e.type),
    ['deliver', 'alertReceived', 'peerClosed', 'shutdown'],
  );
});

test('asyncCrypto: one deliver per open batch, all bytes in order', async (t) => {
  const provider = asyncNobleProvider('async-batching');
  const pair = new Pair({ provider, asyncCrypto: true, maxPipelines: 8 }, { provider, asyncCrypto: true, maxPipelines: 8 }).start();
  await pair.driveAsync();
  const before = pair.of('server', 'deliver').length;
  const n = 40;
  for (let i = 0; i < n; i++) pair.input('client', { type: 'write', now: pair.now, data: Uint8Array.of(i) });
  await pair.driveAsync();
  const delivers = pair.of('server', 'deliver').slice(before);
  t.is(str(pair.delivered.server).length, n);
  t.deepEqual([...Buffer.concat(pair.delivered.server)], [...Array(n).keys()]);
  t.true(delivers.length <= Math.ceil(n / 8) + 1, `${delivers.length} deliver effects for ${n} records`);
});

// ------------------------------------------------------------------------------------------------------------
// Tickets and options

test('numTickets (OpenSSL num_tickets) reaches the engine; no psk_key_exchange_modes gets no ticket (RFC 8446 §4.2.9)', (t) => {
  const ticketer = createTicketer(new Uint8Array(32).fill(5));
  const sessions = (server: Partial<TlsServerConfig>, client: Partial<TlsClientConfig> = {}) =>
    new Pair(client, { ticketer, antiReplay: createAntiReplay(), ...server }).start().drive().of('client', 'session').length;
  const cert = fixture('server-ec-cert.pem');
  const key = fixture('server-ec-key.pem');
  for (const n of [0, 1, 3]) t.is(sessions({ ticketCount: toServerConfig({ cert, key, numTickets: n }).ticketCount! }), n, `numTickets ${n}`);
  t.is(toServerConfig({ cert, key, ticketCount: 4 }).ticketCount, 4, 'ticketCount is the former name');
  t.is(toServerConfig({ cert, key }).ticketCount, undefined, 'the engine default (2)');
  t.is(sessions({}), 2);
  // A client that sends no psk_key_exchange_modes gets none, whatever numTickets says.
  t.is(sessions({ ticketCount: 3 }, { pskModes: [] }), 0);
  for (const bad of [-1, 17, 1.5]) {
    t.throws(() => toServerConfig({ cert, key, numTickets: bad }), { instanceOf: TlsError, message: /numTickets/ });
  }
  t.throws(() => toServerConfig({ cert, key, numTickets: 1, ticketCount: 2 }), { instanceOf: TlsError });
});

test('maxHandshakeMessage in the RxJS options reaches the engine (a 20 KB ClientHello accepted or refused)', (t) => {
  const cert = fixture('server-ec-cert.pem');
  const key = fixture('server-ec-key.pem');
  t.is(toServerConfig({ cert, key, maxHandshakeMessage: 65536 }).maxHandshakeMessage, 65536);
  t.is(toServerConfig({ cert, key }).maxHandshakeMessage, undefined);
  t.throws(() => toServerConfig({ cert, key, maxHandshakeMessage: 100 }), { instanceOf: TlsError, message: /maxHandshakeMessage/ });
  const { hello } = serverAndHello();
  const big = helloWithExtension(hello, 0xfa0a, new Uint8Array(20000));
  const records = Buffer.concat([plainRecord(22, big.subarray(0, 16384)), plainRecord(22, big.subarray(16384))]);
  for (const [limit, ok] of [[65536, true], [16384, false]] as const) {
    const pair = new Pair({}, toServerConfig({ cert, key, maxHandshakeMessage: limit, ticketer: false })).start();
    const step = feed(pair.server, records);
    t.is(closedWith(step.effects) === undefined, ok, `limit ${limit}`);
  }
});
