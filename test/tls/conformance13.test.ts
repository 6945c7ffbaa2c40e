/**
 * TLS 1.3 conformance probes in the style of tlsfuzzer's test-tls13-*.py scripts and TLS-Anvil: hostile or
 * malformed messages to a server and to a client, each asserting the alert RFC 8446 (and 8446bis) asks for and
 * that the connection closes without a throw. Messages are forged on the wire (raw bytes where the encoder
 * refuses them), and protected ones are re-sealed under the keys the receiving side reads with.
 *
 * Tests that found a deviation when they were written say so ("found by this probe and fixed").
 */
import test from 'ava';
import { Pair, NOW, serverCredentials, text } from '../helpers/pair.js';
import { handshakeInfo, isClosed, isConnected } from '../../src/tls/connection.js';
import { openRecord, plainRecord, sealRecord, type RecordKey } from '../../src/tls/record.js';
import { decodeHandshakeBytes, encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { AlertDescription as A, ExtensionType as X, SignatureScheme, alertName } from '../../src/wire/tls/constants.js';
import { createAntiReplay, createTicketer, type TlsSession } from '../../src/handshake/session.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import type { HandshakeMessage, ServerHello } from '../../src/wire/tls/messages.js';
import {
  G, accepted, alertsSent, buildHello, cat, closedWith, dropExt, encryptedExtensions, extBlock, feed, helloFor, hrr,
  hsMsg, keyShareData, refused, serverFlight, serverHello, setExt, splitRecords, toServer, u16, u16s, vec16, vec8,
  type RawExt,
} from '../helpers/tls13Wire.js';

// ------------------------------------------------------------------------------------------------------------
// Byte helpers (the rest are in ../helpers/tls13Wire.ts)

/** Handshake bytes sealed under `key` in records of at most 2^14 bytes. */
function sealHs(key: RecordKey, data: Uint8Array, type = 22): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += 16384) {
    const r = sealRecord(key, type, data.subarray(o, o + 16384));
    parts.push(r.bytes);
    key = r.key;
  }
  return cat(...parts);
}

/** supported_groups extension data. */
const groupsData = (groups: readonly number[]) => vec16(u16s(groups));

/** A started client and its ClientHello, decoded; the server has not seen it. */
function startedClient(clientCfg: ConstructorParameters<typeof Pair>[0] = {}) {
  const pair = new Pair(clientCfg).start();
  const msg = decodeHandshakeBytes(splitRecords(pair.inbox.server.splice(0)[0]!)[0]!.fragment);
  if (msg.type !== 'client_hello') throw new Error('no ClientHello');
  return { pair, ch: msg.body };
}

const sealed = (key: RecordKey, msg: HandshakeMessage | Uint8Array) =>
  sealRecord(key, 22, msg instanceof Uint8Array ? msg : encodeHandshakeBytes(msg)).bytes;

// ============================================================================================================
// 1. KeyUpdate (RFC 8446 §4.6.3)

test('KeyUpdate: request_update 2..255 is illegal_parameter (§4.6.3)', (t) => {
  for (const v of [2, 3, 0x7f, 0xff]) {
    const pair = new Pair().start().drive();
    refused(t, feed(pair.server, sealed(pair.client.txKey!, Uint8Array.of(24, 0, 0, 1, v))), A.illegal_parameter, `request_update ${v}`);
  }
});

test('KeyUpdate: a body of 0 or 2 bytes is decode_error', (t) => {
  for (const body of [Uint8Array.of(), Uint8Array.of(0, 0), Uint8Array.of(1, 1)]) {
    const pair = new Pair().start().drive();
    refused(t, feed(pair.server, sealed(pair.client.txKey!, hsMsg(24, body))), A.decode_error, `${body.length}-byte body`);
  }
});

test('KeyUpdate before the handshake completed is unexpected_message (server and client)', (t) => {
  // Server, waiting for the client Finished: under the client handshake key.
  const s = new Pair().start().serverRound();
  refused(t, feed(s.server, sealed(s.server.rxKey!, { type: 'key_update', body: { requestUpdate: 0 } })), A.unexpected_message, 'server');
  // Client, waiting for EncryptedExtensions: under the server handshake key.
  const c = serverFlight();
  refused(t, feed(c.client, sealed(c.key, { type: 'key_update', body: { requestUpdate: 1 } })), A.unexpected_message, 'client');
});

test('KeyUpdate followed by bytes of another message in the same record is unexpected_message (§5.1)', (t) => {
  const pair = new Pair().start().drive();
  const rec = sealed(pair.client.txKey!, Uint8Array.of(24, 0, 0, 1, 0, 24, 0));
  refused(t, feed(pair.server, rec), A.unexpected_message);
});

test('KeyUpdate split over two records under the old key is accepted, data under the new key follows', (t) => {
  const pair = new Pair().start().drive();
  const ku = pair.input('client', { type: 'keyUpdate', now: NOW, requestPeer: false });
  const kuWire = (ku.find((e) => e.type === 'transmit') as { data: Uint8Array }).data;
  pair.inbox.server.length = 0;
  pair.input('client', { type: 'write', now: NOW, data: text('after') });
  const data = cat(...pair.inbox.server.splice(0));
  // The client's KeyUpdate record, opened and sent again as two records (KeyUpdate in 2 + 3 bytes).
  const rec = splitRecords(kuWire)[0]!;
  const opened = openRecord(pair.server.rxKey!, rec.header, rec.fragment);
  if (opened.kind !== 'ok') return t.fail('open');
  const first = sealRecord(pair.server.rxKey!, 22, opened.content.subarray(0, 2));
  const second = sealRecord(first.key, 22, opened.content.subarray(2));
  const step = feed(pair.server, cat(first.bytes, second.bytes, data));
  accepted(t, step);
  t.is(Buffer.concat(step.effects.flatMap((e) => (e.type === 'deliver' ? [e.data] : []))).toString(), 'after');
});

// ============================================================================================================
// 2. Record sizes (RFC 8446 §5.2, §5.4)

test('record: inner plaintext of exactly 2^14 + 1 bytes (2^14 content + type) is accepted', (t) => {
  const pair = new Pair().start().drive();
  const step = feed(pair.client, sealRecord(pair.server.txKey!, 23, new Uint8Array(16384).fill(7)).bytes);
  accepted(t, step);
  t.is(step.effects.reduce((n, e) => n + (e.type === 'deliver' ? e.data.length : 0), 0), 16384);
  // All padding up to the limit, zero content bytes: accepted too.
  const pad = new Pair().start().drive();
  accepted(t, feed(pad.client, sealRecord(pad.server.txKey!, 23, new Uint8Array(0), 16384).bytes), 'zero content, 2^14 padding');
});

test('record: inner plaintext of 2^14 + 2 bytes is record_overflow', (t) => {
  const pair = new Pair().start().drive();
  refused(t, feed(pair.client, sealRecord(pair.server.txKey!, 23, new Uint8Array(16385)).bytes), A.record_overflow, 'content 2^14+1');
  const pad = new Pair().start().drive();
  refused(t, feed(pad.client, sealRecord(pad.server.txKey!, 23, new Uint8Array(16384), 1).bytes), A.record_overflow, 'content 2^14 + 1 padding byte');
});

test('record: a ciphertext of exactly 2^14 + 256 bytes passes the length check; opened, its inner plaintext over 2^14 + 1 is record_overflow', (t) => {
  // 2^14 content + type + 239 padding + 16 tag = 2^14 + 256 (the most the header may say).
  const pair = new Pair().start().drive();
  const r = sealRecord(pair.server.txKey!, 23, new Uint8Array(16384), 239).bytes;
  t.is(r.length - 5, 16384 + 256);
  refused(t, feed(pair.client, r), A.record_overflow, 'opens, too long');
  // The same length that does not open: bad_record_mac (not refused from the header).
  const bad = new Pair().start().drive();
  refused(t, feed(bad.client, plainRecord(23, new Uint8Array(16384 + 256).fill(0x55))), A.bad_record_mac, 'does not open');
  // One byte more: record_overflow from the header alone (also in hostile.test.ts).
  const big = new Pair().start().drive();
  refused(t, feed(big.client, Uint8Array.of(23, 3, 3, 0x41, 0x01)), A.record_overflow, '2^14 + 257');
});

// ============================================================================================================
// 3. Handshake messages across key changes (RFC 8446 §5.1)

test('client: the server Finished followed in the same record by the start of another message is unexpected_message', (t) => {
  const f = serverFlight();
  // Control: the flight as sent completes the handshake.
  const ok = feed(f.client, sealHs(f.key, cat(...f.messages)));
  accepted(t, ok, 'control');
  t.true(isConnected(ok.state));
  // Finished + the first bytes of a NewSessionTicket in the same record.
  const step = feed(f.client, sealHs(f.key, cat(...f.messages, Uint8Array.of(4, 0, 0))));
  refused(t, step, A.unexpected_message);
});

test('client: the ServerHello followed by EncryptedExtensions bytes in the same plaintext record is unexpected_message', (t) => {
  const pair = new Pair().start().serverRound();
  const sh = splitRecords(cat(...pair.inbox.client))[0]!;
  refused(t, feed(pair.client, plainRecord(22, cat(sh.fragment, Uint8Array.of(8, 0, 0, 2, 0, 0)))), A.unexpected_message);
});

test('server: the client Finished followed by bytes of another message in the same record is unexpected_message', (t) => {
  const pair = new Pair().start().serverRound();
  for (const d of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: NOW, data: d });
  const flight = splitRecords(cat(...pair.inbox.server.splice(0))).filter((r) => r.type === 23);
  const opened = openRecord(pair.server.rxKey!, flight[0]!.header, flight[0]!.fragment);
  if (opened.kind !== 'ok' || opened.type !== 22) return t.fail('client Finished');
  t.is(opened.content[0], 20, 'Finished');
  // Control: the Finished alone completes.
  accepted(t, feed(pair.server, sealRecord(pair.server.rxKey!, 22, opened.content).bytes), 'control');
  const step = feed(pair.server, sealRecord(pair.server.rxKey!, 22, cat(opened.content, Uint8Array.of(24, 0, 0, 1))).bytes);
  refused(t, step, A.unexpected_message);
});

test('server: a ClientHello followed by bytes of another message in the same record is unexpected_message', (t) => {
  const { pair, raw } = helloFor();
  refused(t, feed(pair.server, plainRecord(22, cat(raw, Uint8Array.of(20, 0, 0)))), A.unexpected_message);
});

// ============================================================================================================
// 4. ClientHello fields (RFC 8446 §4.1.2)

test('ClientHello: legacy_compression_methods other than [0] is illegal_parameter', (t) => {
  for (const comp of [[0, 1], [1], [1, 0], [0, 0]]) {
    const { pair, hello } = helloFor();
    refused(t, toServer(pair, buildHello({ ...hello, compression: Uint8Array.from(comp) })), A.illegal_parameter, `[${comp}]`);
  }
});

test('ClientHello: an empty legacy_compression_methods vector (outside <1..2^8-1>) is decode_error', (t) => {
  const { pair, hello } = helloFor();
  refused(t, toServer(pair, buildHello({ ...hello, compression: new Uint8Array(0) })), A.decode_error);
});

test('ClientHello: no cipher suite in common is handshake_failure', (t) => {
  // Unknown suites (AES-CCM, SCSV) only.
  const a = helloFor();
  refused(t, toServer(a.pair, buildHello({ ...a.hello, suites: u16s([0x1304, 0x1305, 0x00ff]) })), A.handshake_failure, 'unknown suites');
  // TLS 1.2 suites only, to a TLS 1.3-only server.
  const b = helloFor({ minVersion: 'TLSv1.3' });
  refused(t, toServer(b.pair, buildHello({ ...b.hello, suites: u16s([0xc02b, 0xc02f]) })), A.handshake_failure, 'TLS 1.2 suites');
  // A server limited to AES-256 and a client offering AES-128 only.
  const c = helloFor({ cipherSuites: ['TLS_AES_256_GCM_SHA384'] });
  refused(t, toServer(c.pair, buildHello({ ...c.hello, suites: u16s([0x1301]) })), A.handshake_failure, 'disjoint');
});

test('ClientHello: cipher_suites of odd length is decode_error', (t) => {
  const { pair, hello } = helloFor();
  refused(t, toServer(pair, buildHello({ ...hello, suites: Uint8Array.of(0x13, 0x01, 0x13) })), A.decode_error);
});

test('ClientHello: an empty cipher_suites vector is decode_error', (t) => {
  const { pair, hello } = helloFor();
  refused(t, toServer(pair, buildHello({ ...hello, suites: new Uint8Array(0) })), A.decode_error);
});

test('ClientHello: an empty extensions block (or none) to a TLS 1.3-only server is protocol_version', (t) => {
  const a = helloFor({ minVersion: 'TLSv1.3' });
  refused(t, toServer(a.pair, buildHello({ ...a.hello, exts: [] })), A.protocol_version, 'empty block');
  const b = helloFor({ minVersion: 'TLSv1.3' });
  refused(t, toServer(b.pair, buildHello(b.hello, { noExtensions: true })), A.protocol_version, 'no block');
});

test('ClientHello: an extensions block whose length disagrees with its contents is decode_error', (t) => {
  for (const delta of [1, -1, 100, -4]) {
    const { pair, hello } = helloFor();
    refused(t, toServer(pair, buildHello(hello, { extLengthDelta: delta })), A.decode_error, `length ${delta > 0 ? '+' : ''}${delta}`);
  }
});

test('ClientHello: an extension whose length overruns the block is decode_error', (t) => {
  const { pair, hello } = helloFor();
  const msg = buildHello(setExt(hello, 0xfa0a, Uint8Array.of(1, 2, 3, 4)));
  // Patch the last extension's length (the 0xfa0a one was appended last: no PSK) from 4 to 5.
  const forged = Uint8Array.from(msg);
  forged[forged.length - 4 - 1] = 5;
  refused(t, toServer(pair, forged), A.decode_error);
});

test('ClientHello: supported_versions with unknown versions around 0x0304 negotiates TLS 1.3; without 0x0304 it is protocol_version', (t) => {
  const a = helloFor();
  const ok = toServer(a.pair, buildHello(setExt(a.hello, X.supported_versions, vec8(u16s([0x0a0a, 0x7f1c, 0x0304, 0x0305])))));
  accepted(t, ok, 'grease');
  t.truthy(ok.effects.find((e) => e.type === 'transmit'));
  const b = helloFor({ minVersion: 'TLSv1.3' });
  refused(t, toServer(b.pair, buildHello(setExt(b.hello, X.supported_versions, vec8(u16s([0x7f1c, 0x0305]))))), A.protocol_version, 'unknown only');
});

test('ClientHello: signature_algorithms_cert and post_handshake_auth are accepted; signature_algorithms_cert without signature_algorithms is missing_extension', (t) => {
  const a = helloFor();
  let h = setExt(a.hello, X.signature_algorithms_cert, vec16(u16s([SignatureScheme.ecdsa_secp256r1_sha256, SignatureScheme.rsa_pkcs1_sha256])));
  h = setExt(h, X.post_handshake_auth, new Uint8Array(0));
  const ok = toServer(a.pair, buildHello(h));
  accepted(t, ok);
  t.truthy(ok.effects.find((e) => e.type === 'transmit'), 'the server answered');
  const b = helloFor();
  const noSigAlgs = dropExt(setExt(b.hello, X.signature_algorithms_cert, vec16(u16s([SignatureScheme.ecdsa_secp256r1_sha256]))), X.signature_algorithms);
  refused(t, toServer(b.pair, buildHello(noSigAlgs)), A.missing_extension);
});

test('ClientHello: post_handshake_auth with a non-empty body is decode_error', (t) => {
  const { pair, hello } = helloFor();
  refused(t, toServer(pair, buildHello(setExt(hello, X.post_handshake_auth, Uint8Array.of(0)))), A.decode_error);
});

test('ClientHello: signature_algorithms that holds no scheme usable in TLS 1.3 with our key is handshake_failure', (t) => {
  const { pair, hello } = helloFor();
  const h = setExt(hello, X.signature_algorithms, vec16(u16s([SignatureScheme.rsa_pkcs1_sha256, 0x0201 /* rsa_pkcs1_sha1 */])));
  refused(t, toServer(pair, buildHello(h)), A.handshake_failure);
});

// ============================================================================================================
// 5. key_share (RFC 8446 §4.2.8, §4.2.8.2, §7.4.2; RFC 7748 §6.1)

test('key_share: a share for a group not in supported_groups is illegal_parameter', (t) => {
  const { pair, hello } = helloFor();
  refused(t, toServer(pair, buildHello(setExt(hello, X.supported_groups, groupsData([G.secp256r1])))), A.illegal_parameter);
});

test('key_share: two shares for the same group is illegal_parameter', (t) => {
  const { pair, hello } = helloFor();
  const pub = nobleProvider.generateKeyPair('x25519').publicKey;
  refused(t, toServer(pair, buildHello(setExt(hello, X.key_share, keyShareData([[G.x25519, pub], [G.x25519, pub]])))), A.illegal_parameter);
});

test('key_share: an X25519 share of the wrong length is illegal_parameter', (t) => {
  for (const n of [31, 33, 1, 64]) {
    const { pair, hello } = helloFor();
    refused(t, toServer(pair, buildHello(setExt(hello, X.key_share, keyShareData([[G.x25519, new Uint8Array(n).fill(9)]])))), A.illegal_parameter, `${n} bytes`);
  }
});

test('key_share: an X25519 share that makes the shared secret all zeros (0, 1, low order) is illegal_parameter', (t) => {
  const lowOrder = Uint8Array.from(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'));
  const one = new Uint8Array(32);
  one[0] = 1;
  for (const [name, share] of [['zero', new Uint8Array(32)], ['one', one], ['order 8', lowOrder]] as const) {
    const { pair, hello } = helloFor();
    const step = toServer(pair, buildHello(setExt(hello, X.key_share, keyShareData([[G.x25519, share]]))));
    // RFC 8446 §7.4.2 says abort; tlsfuzzer (test-tls13-crfg-curves) expects illegal_parameter.
    refused(t, step, A.illegal_parameter, name);
  }
});

test('key_share: a P-256 share off the curve, compressed, of the wrong length or the point at infinity is illegal_parameter', (t) => {
  const pub = nobleProvider.generateKeyPair('secp256r1').publicKey;
  const offCurve = Uint8Array.from(pub);
  offCurve[64]! ^= 1;
  const compressed = cat(Uint8Array.of(2 + (pub[64]! & 1)), pub.subarray(1, 33));
  const hybrid = Uint8Array.from(pub);
  hybrid[0] = 6 + (pub[64]! & 1);
  const cases: [string, Uint8Array][] = [
    ['off the curve', offCurve],
    ['compressed', compressed],
    ['hybrid form', hybrid],
    ['truncated', pub.subarray(0, 64)],
    ['infinity', Uint8Array.of(0)],
    ['x = y = 0', cat(Uint8Array.of(4), new Uint8Array(64))],
  ];
  // Control: the valid point is accepted.
  const ok = helloFor();
  accepted(t, toServer(ok.pair, buildHello(setExt(ok.hello, X.key_share, keyShareData([[G.secp256r1, pub]])))), 'valid point');
  for (const [name, share] of cases) {
    const { pair, hello } = helloFor();
    refused(t, toServer(pair, buildHello(setExt(hello, X.key_share, keyShareData([[G.secp256r1, share]])))), A.illegal_parameter, name);
  }
});

test('key_share: an empty key_exchange is decode_error', (t) => {
  const { pair, hello } = helloFor();
  refused(t, toServer(pair, buildHello(setExt(hello, X.key_share, keyShareData([[G.x25519, new Uint8Array(0)]])))), A.decode_error);
});

test('key_share: shares and groups the server does not know are ignored (test-tls13-unrecognised-groups)', (t) => {
  const { pair, hello } = helloFor();
  const pub = nobleProvider.generateKeyPair('x25519').publicKey;
  let h = setExt(hello, X.supported_groups, groupsData([0x0a0a, 0x1234, G.x25519, G.secp256r1]));
  h = setExt(h, X.key_share, keyShareData([[0x0a0a, Uint8Array.of(0)], [0x1234, new Uint8Array(77)], [G.x25519, pub]]));
  const step = toServer(pair, buildHello(h));
  accepted(t, step);
  t.truthy(step.effects.find((e) => e.type === 'transmit'));
});

// ============================================================================================================
// 6. pre_shared_key (RFC 8446 §4.2.9, §4.2.11)

function resumingHello() {
  const ticketer = createTicketer(new Uint8Array(32).fill(3));
  const serverCfg = { ticketer, antiReplay: createAntiReplay() };
  const first = new Pair({}, serverCfg).start().drive();
  const session = first.of('client', 'session').map((e) => (e.type === 'session' ? e.session : undefined))[0] as TlsSession;
  const r = helloFor(serverCfg, { session });
  if (r.hello.exts[r.hello.exts.length - 1]?.type !== X.pre_shared_key) throw new Error('no PSK offered');
  return r;
}

test('pre_shared_key: control — the offered ticket resumes', (t) => {
  const { pair, raw } = resumingHello();
  const step = toServer(pair, raw);
  accepted(t, step);
  pair.server = step.state;
  for (const e of step.effects) if (e.type === 'transmit') pair.inbox.client.push(e.data);
  pair.drive();
  t.true(handshakeInfo(pair.client)?.resumed);
});

test('pre_shared_key that is not the last extension is illegal_parameter', (t) => {
  const { pair, hello } = resumingHello();
  const psk = hello.exts[hello.exts.length - 1]!;
  refused(t, toServer(pair, buildHello({ ...hello, exts: [psk, ...hello.exts.slice(0, -1)] })), A.illegal_parameter, 'first');
  const b = resumingHello();
  refused(t, toServer(b.pair, buildHello({ ...b.hello, exts: [...b.hello.exts, { type: 0xfa0a, data: new Uint8Array(0) }] })), A.illegal_parameter, 'before another');
});

test('pre_shared_key without psk_key_exchange_modes is missing_extension', (t) => {
  const { pair, hello } = resumingHello();
  refused(t, toServer(pair, buildHello(dropExt(hello, X.psk_key_exchange_modes))), A.missing_extension);
});

test('pre_shared_key: a 48-byte binder for a SHA-256 ticket does not verify (decrypt_error)', (t) => {
  const { pair, hello } = resumingHello();
  const psk = hello.exts[hello.exts.length - 1]!;
  // identities vector, then binders <33..2^16-1> of one binder <32..255>.
  const idsLen = (psk.data[0]! << 8) | psk.data[1]!;
  const ids = psk.data.subarray(0, 2 + idsLen);
  const data = cat(ids, vec16(vec8(new Uint8Array(48).fill(1))));
  const step = toServer(pair, buildHello(setExt(hello, X.pre_shared_key, data)));
  const sent = alertsSent(step.effects);
  t.true(sent.length === 1 && (sent[0] === A.decrypt_error || sent[0] === A.illegal_parameter), `got ${sent.map(alertName)}`);
  t.true(isClosed(step.state));
});

test('pre_shared_key: a 31-byte binder (outside <32..255>) is decode_error', (t) => {
  const { pair, hello } = resumingHello();
  const psk = hello.exts[hello.exts.length - 1]!;
  const idsLen = (psk.data[0]! << 8) | psk.data[1]!;
  const data = cat(psk.data.subarray(0, 2 + idsLen), vec16(vec8(new Uint8Array(31).fill(1))));
  refused(t, toServer(pair, buildHello(setExt(hello, X.pre_shared_key, data))), A.decode_error);
});

test('pre_shared_key: a binder whose value is wrong (right length) is decrypt_error', (t) => {
  const { pair, raw } = resumingHello();
  const forged = Uint8Array.from(raw);
  forged[forged.length - 1]! ^= 1;
  refused(t, toServer(pair, forged), A.decrypt_error);
});

test('pre_shared_key: two identities and one binder is illegal_parameter', (t) => {
  const { pair, hello } = resumingHello();
  const psk = hello.exts[hello.exts.length - 1]!;
  const idsLen = (psk.data[0]! << 8) | psk.data[1]!;
  const ids = psk.data.subarray(2, 2 + idsLen);
  const data = cat(vec16(cat(ids, ids)), psk.data.subarray(2 + idsLen));
  refused(t, toServer(pair, buildHello(setExt(hello, X.pre_shared_key, data))), A.illegal_parameter);
});

// ============================================================================================================
// 7. Client: ServerHello, HelloRetryRequest, EncryptedExtensions, Certificate, CertificateVerify

test('client: ServerHello with a TLS 1.3 cipher suite the client did not offer is illegal_parameter', (t) => {
  for (const suite of [0x1302, 0x1303, 0x1304]) {
    const f = serverFlight({ cipherSuites: ['TLS_AES_128_GCM_SHA256'] });
    refused(t, feed(f.pair.client, serverHello({ ...f.sh, cipherSuite: suite })), A.illegal_parameter, `0x${suite.toString(16)}`);
  }
});

// Found by this probe and fixed: a TLS 1.2 suite (offered for TLS 1.2) selected in a TLS 1.3 ServerHello crashed the client
// (suiteParams(...)! is undefined: internal_error) instead of illegal_parameter.
test('client: a TLS 1.3 ServerHello selecting a TLS 1.2 suite (offered for TLS 1.2 only) is illegal_parameter', (t) => {
  const f = serverFlight();
  t.true(f.ch.cipherSuites.includes(0xc02b), 'the default client offers TLS 1.2 suites');
  refused(t, feed(f.pair.client, serverHello({ ...f.sh, cipherSuite: 0xc02b })), A.illegal_parameter, 'ServerHello');
});

// Found by this probe and fixed: the same crash for a HelloRetryRequest naming a TLS 1.2 suite (internal_error, not illegal_parameter).
test('client: a HelloRetryRequest selecting a TLS 1.2 suite (offered for TLS 1.2 only) is illegal_parameter', (t) => {
  const c = startedClient();
  refused(t, feed(c.pair.client, serverHello(hrr(c.ch, { selectedGroup: G.secp256r1 }, 0xc02f))), A.illegal_parameter, 'HelloRetryRequest');
});

test('client: a ServerHello selected_identity outside the offered PSK range is illegal_parameter (§4.2.11)', (t) => {
  const ticketer = createTicketer(new Uint8Array(32).fill(4));
  const serverCfg = { ticketer, antiReplay: createAntiReplay() };
  const first = new Pair({}, serverCfg).start().drive();
  const session = first.of('client', 'session').map((e) => (e.type === 'session' ? e.session : undefined))[0] as TlsSession;
  const f = serverFlight({ session }, serverCfg);
  t.is(f.sh.extensions.preSharedKey, 0, 'the server accepted the PSK');
  refused(t, feed(f.pair.client, serverHello({ ...f.sh, extensions: { ...f.sh.extensions, preSharedKey: 1 } })), A.illegal_parameter);
});

test('client: ServerHello key_share for a group the client sent no share for is illegal_parameter', (t) => {
  const f = serverFlight();
  const p256 = nobleProvider.generateKeyPair('secp256r1').publicKey;
  refused(t, feed(f.pair.client, serverHello({ ...f.sh, extensions: { ...f.sh.extensions, keyShare: { group: G.secp256r1, keyExchange: p256 }, order: [] } })), A.illegal_parameter, 'P-256, offered without share');
  const g = serverFlight();
  refused(t, feed(g.pair.client, serverHello({ ...g.sh, extensions: { ...g.sh.extensions, keyShare: { group: 0x1234, keyExchange: p256 }, order: [] } })), A.illegal_parameter, 'unknown group');
});

test('client: ServerHello X25519 share of the wrong length or all zeros is illegal_parameter', (t) => {
  for (const [name, share] of [['31 bytes', new Uint8Array(31).fill(9)], ['zero', new Uint8Array(32)]] as const) {
    const f = serverFlight();
    refused(t, feed(f.pair.client, serverHello({ ...f.sh, extensions: { ...f.sh.extensions, keyShare: { group: G.x25519, keyExchange: share }, order: [] } })), A.illegal_parameter, name);
  }
});

test('client: legacy_session_id_echo that does not match is illegal_parameter', (t) => {
  const f = serverFlight();
  const echo = Uint8Array.from(f.sh.legacySessionIdEcho);
  echo[0]! ^= 1;
  refused(t, feed(f.pair.client, serverHello({ ...f.sh, legacySessionIdEcho: echo })), A.illegal_parameter, 'flipped');
  const g = serverFlight();
  refused(t, feed(g.pair.client, serverHello({ ...g.sh, legacySessionIdEcho: new Uint8Array(0) })), A.illegal_parameter, 'empty');
});

test('client: ServerHello supported_versions 0x0303 or an unoffered version is illegal_parameter (§4.2.1)', (t) => {
  for (const v of [0x0303, 0x0305, 0x7f1c]) {
    const f = serverFlight();
    refused(t, feed(f.pair.client, serverHello({ ...f.sh, extensions: { ...f.sh.extensions, supportedVersion: v } })), A.illegal_parameter, `0x${v.toString(16)}`);
  }
});

test('client: ServerHello with a non-zero legacy_compression_method is illegal_parameter', (t) => {
  const f = serverFlight();
  refused(t, feed(f.pair.client, serverHello({ ...f.sh, legacyCompressionMethod: 1 })), A.illegal_parameter);
});

test('client: a ServerHello extension the client did not offer (unknown code point) is unsupported_extension', (t) => {
  const f = serverFlight();
  const sh = { ...f.sh, extensions: { ...f.sh.extensions, unknown: [{ type: 0xfa0a, data: new Uint8Array(0) }], order: [] } };
  refused(t, feed(f.pair.client, serverHello(sh)), A.unsupported_extension);
});

// Found by this probe and fixed: RFC 8446 §4.2 — an extension response to a request the client did not send is unsupported_extension;
// rxtls answered an unsolicited pre_shared_key with illegal_parameter.
test('client: a ServerHello pre_shared_key when the client offered no PSK is unsupported_extension (§4.2)', (t) => {
  const f = serverFlight();
  t.is(f.ch.extensions.preSharedKey, undefined);
  const sh = { ...f.sh, extensions: { ...f.sh.extensions, preSharedKey: 0, order: [] } };
  refused(t, feed(f.pair.client, serverHello(sh)), A.unsupported_extension);
});

test('client: a ServerHello carrying an extension not allowed there (early_data, cookie) is illegal_parameter', (t) => {
  const f = serverFlight();
  // Raw: the encoder refuses them. Append early_data (42) to the ServerHello's extensions.
  const msg = encodeHandshakeBytes({ type: 'server_hello', body: f.sh });
  const withExt = (type: number, data: Uint8Array) => {
    const body = msg.subarray(4);
    const o = 2 + 32 + 1 + body[34]! + 3;
    const extLen = (body[o]! << 8) | body[o + 1]!;
    const exts = cat(body.subarray(o + 2, o + 2 + extLen), u16(type), vec16(data));
    return hsMsg(2, cat(body.subarray(0, o), vec16(exts)));
  };
  refused(t, feed(f.pair.client, plainRecord(22, withExt(X.early_data, new Uint8Array(0)))), A.illegal_parameter, 'early_data');
  const g = serverFlight();
  refused(t, feed(g.pair.client, plainRecord(22, withExt(X.cookie, vec16(Uint8Array.of(1, 2))))), A.illegal_parameter, 'cookie');
});

test('client: HelloRetryRequest that would not change the ClientHello is illegal_parameter', (t) => {
  // Selects the group the client already sent a share for.
  const a = startedClient();
  refused(t, feed(a.pair.client, serverHello(hrr(a.ch, { selectedGroup: G.x25519 }))), A.illegal_parameter, 'same group');
  // Neither a group nor a cookie.
  const b = startedClient();
  refused(t, feed(b.pair.client, serverHello(hrr(b.ch, {}))), A.illegal_parameter, 'no change');
});

test('client: HelloRetryRequest selecting a group not in supported_groups is illegal_parameter', (t) => {
  for (const g of [G.secp521r1, 0x0100, 0x1234]) {
    const c = startedClient({ groups: ['x25519', 'secp256r1'] });
    refused(t, feed(c.pair.client, serverHello(hrr(c.ch, { selectedGroup: g }))), A.illegal_parameter, `0x${g.toString(16)}`);
  }
});

test('client: a second HelloRetryRequest is unexpected_message', (t) => {
  const c = startedClient();
  const first = feed(c.pair.client, serverHello(hrr(c.ch, { selectedGroup: G.secp256r1 })));
  accepted(t, first, 'first HelloRetryRequest');
  t.truthy(first.effects.find((e) => e.type === 'transmit'), 'second ClientHello sent');
  refused(t, feed(first.state, serverHello(hrr(c.ch, { selectedGroup: G.secp384r1 }))), A.unexpected_message);
});

test('client: HelloRetryRequest with an unoffered suite, a session id mismatch or an unknown extension', (t) => {
  const a = startedClient({ cipherSuites: ['TLS_AES_128_GCM_SHA256'] });
  refused(t, feed(a.pair.client, serverHello(hrr(a.ch, { selectedGroup: G.secp256r1 }, 0x1302))), A.illegal_parameter, 'suite');
  const b = startedClient();
  refused(t, feed(b.pair.client, serverHello({ ...hrr(b.ch, { selectedGroup: G.secp256r1 }), legacySessionIdEcho: new Uint8Array(32) })), A.illegal_parameter, 'session id');
  const c = startedClient();
  refused(t, feed(c.pair.client, serverHello(hrr(c.ch, { selectedGroup: G.secp256r1, unknown: [{ type: 0xfa0a, data: new Uint8Array(0) }] }))), A.unsupported_extension, 'unknown extension');
});

test('client: a ServerHello after HelloRetryRequest with another suite or another group is illegal_parameter', (t) => {
  const a = startedClient();
  const s1 = feed(a.pair.client, serverHello(hrr(a.ch, { selectedGroup: G.secp256r1 }, 0x1302)));
  accepted(t, s1);
  const p256 = nobleProvider.generateKeyPair('secp256r1').publicKey;
  const sh = (suite: number, group: number, share: Uint8Array): ServerHello => ({
    legacyVersion: 0x0303,
    random: new Uint8Array(32).fill(5),
    legacySessionIdEcho: a.ch.legacySessionId,
    cipherSuite: suite,
    legacyCompressionMethod: 0,
    extensions: { supportedVersion: 0x0304, keyShare: { group, keyExchange: share }, unknown: [], order: [] },
  });
  refused(t, feed(s1.state, serverHello(sh(0x1301, G.secp256r1, p256))), A.illegal_parameter, 'suite');
  refused(t, feed(s1.state, serverHello(sh(0x1302, G.x25519, nobleProvider.generateKeyPair('x25519').publicKey))), A.illegal_parameter, 'group');
});

test('client: EncryptedExtensions carrying key_share or supported_versions is illegal_parameter', (t) => {
  const cases: [string, RawExt][] = [
    ['key_share', { type: X.key_share, data: cat(u16(G.x25519), vec16(new Uint8Array(32).fill(9))) }],
    ['supported_versions', { type: X.supported_versions, data: u16(0x0304) }],
    ['pre_shared_key', { type: X.pre_shared_key, data: u16(0) }],
    ['signature_algorithms', { type: X.signature_algorithms, data: vec16(u16s([0x0403])) }],
    ['psk_key_exchange_modes', { type: X.psk_key_exchange_modes, data: vec8(Uint8Array.of(1)) }],
  ];
  for (const [name, ext] of cases) {
    const f = serverFlight();
    refused(t, feed(f.client, sealHs(f.key, cat(encryptedExtensions([ext]), ...f.messages.slice(1)))), A.illegal_parameter, name);
  }
});

test('client: an EncryptedExtensions extension the client did not offer (unknown, max_fragment_length, record_size_limit) is unsupported_extension', (t) => {
  const cases: [string, RawExt][] = [
    ['unknown 0xfa0a', { type: 0xfa0a, data: new Uint8Array(0) }],
    ['max_fragment_length', { type: X.max_fragment_length, data: Uint8Array.of(1) }],
    ['record_size_limit', { type: X.record_size_limit, data: u16(1024) }],
  ];
  for (const [name, ext] of cases) {
    const f = serverFlight();
    refused(t, feed(f.client, sealHs(f.key, cat(encryptedExtensions([ext]), ...f.messages.slice(1)))), A.unsupported_extension, name);
  }
});

// Found by this probe and fixed: RFC 8446 §4.2 — early_data in EncryptedExtensions answers no request (the client sent none):
// unsupported_extension; rxtls sent illegal_parameter.
test('client: EncryptedExtensions early_data when the client offered none is unsupported_extension (§4.2)', (t) => {
  const f = serverFlight();
  refused(t, feed(f.client, sealHs(f.key, cat(encryptedExtensions([{ type: X.early_data, data: new Uint8Array(0) }]), ...f.messages.slice(1)))), A.unsupported_extension);
});

// Found by this probe and fixed: RFC 8446 §4.2 — ALPN in EncryptedExtensions when the client offered no ALPN is an unsolicited
// extension (unsupported_extension); rxtls sent illegal_parameter.
test('client: EncryptedExtensions ALPN when the client offered none is unsupported_extension (§4.2)', (t) => {
  const f = serverFlight();
  t.is(f.ch.extensions.alpn, undefined);
  const alpn = { type: X.application_layer_protocol_negotiation, data: vec16(vec8(text('h2'))) };
  refused(t, feed(f.client, sealHs(f.key, cat(encryptedExtensions([alpn]), ...f.messages.slice(1)))), A.unsupported_extension);
});

// Found by this probe and fixed: RFC 8446 §4.2 / RFC 6066 §3 — a server_name acknowledgement to a client that sent no server_name
// (an IP-literal server name) is unsolicited: unsupported_extension. rxtls accepted it silently.
test('client: EncryptedExtensions server_name when the client sent no SNI is unsupported_extension (§4.2)', (t) => {
  const f = serverFlight({ serverName: '127.0.0.1' });
  t.is(f.ch.extensions.serverName, undefined, 'no SNI for an IP literal');
  const step = feed(f.client, sealHs(f.key, cat(encryptedExtensions([{ type: X.server_name, data: new Uint8Array(0) }]))));
  refused(t, step, A.unsupported_extension);
});

test('client: an empty server Certificate is decode_error (§4.4.2.4)', (t) => {
  const f = serverFlight();
  const empty = encodeHandshakeBytes({ type: 'certificate', body: { context: new Uint8Array(0), entries: [] } });
  refused(t, feed(f.client, sealHs(f.key, cat(f.messages[0]!, empty, ...f.messages.slice(2)))), A.decode_error);
});

test('client: a server Certificate with a non-empty request context is illegal_parameter', (t) => {
  const f = serverFlight();
  const cert = decodeHandshakeBytes(f.messages[1]!);
  if (cert.type !== 'certificate') return t.fail('Certificate');
  const forged = encodeHandshakeBytes({ type: 'certificate', body: { ...cert.body, context: Uint8Array.of(1) } });
  refused(t, feed(f.client, sealHs(f.key, cat(f.messages[0]!, forged, ...f.messages.slice(2)))), A.illegal_parameter);
});

test('client: CertificateVerify with an rsa_pkcs1_* (or SHA-1, or unknown) scheme is illegal_parameter', (t) => {
  for (const scheme of [SignatureScheme.rsa_pkcs1_sha256, SignatureScheme.rsa_pkcs1_sha384, 0x0201, 0x0203, 0xfefe]) {
    const f = serverFlight();
    const cv = decodeHandshakeBytes(f.messages[2]!);
    if (cv.type !== 'certificate_verify') return t.fail('CertificateVerify');
    const forged = encodeHandshakeBytes({ type: 'certificate_verify', body: { ...cv.body, scheme } });
    refused(t, feed(f.client, sealHs(f.key, cat(f.messages[0]!, f.messages[1]!, forged, f.messages[3]!))), A.illegal_parameter, `0x${scheme.toString(16)}`);
  }
});

test('client: RSA server — CertificateVerify with rsa_pkcs1_sha256 is illegal_parameter even over an RSA key', (t) => {
  const f = serverFlight({}, serverCredentials('server-rsa'));
  const cv = decodeHandshakeBytes(f.messages[2]!);
  if (cv.type !== 'certificate_verify') return t.fail('CertificateVerify');
  const forged = encodeHandshakeBytes({ type: 'certificate_verify', body: { ...cv.body, scheme: SignatureScheme.rsa_pkcs1_sha256 } });
  refused(t, feed(f.client, sealHs(f.key, cat(f.messages[0]!, f.messages[1]!, forged, f.messages[3]!))), A.illegal_parameter);
});

test('client: messages out of order in the server flight are unexpected_message', (t) => {
  // Certificate before EncryptedExtensions; Finished right after EncryptedExtensions (no certificate).
  const a = serverFlight();
  refused(t, feed(a.client, sealHs(a.key, cat(a.messages[1]!, a.messages[0]!))), A.unexpected_message, 'Certificate first');
  const b = serverFlight();
  refused(t, feed(b.client, sealHs(b.key, cat(b.messages[0]!, b.messages[3]!))), A.unexpected_message, 'Finished without Certificate');
  // A NewSessionTicket during the handshake.
  const c = serverFlight();
  const nst = encodeHandshakeBytes({ type: 'new_session_ticket', body: { lifetime: 60, ageAdd: 1, nonce: Uint8Array.of(0), ticket: Uint8Array.of(1, 2, 3), unknown: [] } });
  refused(t, feed(c.client, sealHs(c.key, cat(c.messages[0]!, nst))), A.unexpected_message, 'NewSessionTicket');
});

test('client: application data under the server handshake key, before the server Finished, is unexpected_message', (t) => {
  const f = serverFlight();
  refused(t, feed(f.client, sealRecord(f.key, 23, text('early?')).bytes), A.unexpected_message);
});

// ============================================================================================================
// 8. Post-handshake authentication

test('client: a post-handshake CertificateRequest to a client that did not offer post_handshake_auth is unexpected_message', (t) => {
  const pair = new Pair().start().drive();
  const cr = encodeHandshakeBytes({
    type: 'certificate_request',
    body: { context: Uint8Array.of(1, 2, 3, 4), signatureAlgorithms: [SignatureScheme.ecdsa_secp256r1_sha256], unknown: [], order: [] },
  });
  refused(t, feed(pair.client, sealRecord(pair.server.txKey!, 22, cr).bytes), A.unexpected_message);
});

test('client: a handshake CertificateRequest with a non-empty context is illegal_parameter, without signature_algorithms decode_error or missing_extension', (t) => {
  const f = serverFlight();
  const cr = encodeHandshakeBytes({
    type: 'certificate_request',
    body: { context: Uint8Array.of(7), signatureAlgorithms: [SignatureScheme.ecdsa_secp256r1_sha256], unknown: [], order: [] },
  });
  refused(t, feed(f.client, sealHs(f.key, cat(f.messages[0]!, cr))), A.illegal_parameter, 'context');
  // RFC 8446 §4.3.2: "The "signature_algorithms" extension MUST be specified" (missing_extension, §4.2).
  const g = serverFlight();
  const noSig = hsMsg(13, cat(vec8(new Uint8Array(0)), vec16(extBlock([{ type: X.signature_algorithms_cert, data: vec16(u16s([0x0403])) }]))));
  refused(t, feed(g.client, sealHs(g.key, cat(g.messages[0]!, noSig))), A.missing_extension, 'no signature_algorithms');
});

// ============================================================================================================
// 9. Messages to the wrong role or at the wrong time

test('server: a NewSessionTicket from the client is unexpected_message (after and during the handshake)', (t) => {
  const nst = encodeHandshakeBytes({ type: 'new_session_ticket', body: { lifetime: 60, ageAdd: 1, nonce: Uint8Array.of(0), ticket: Uint8Array.of(1, 2, 3), unknown: [] } });
  const pair = new Pair().start().drive();
  refused(t, feed(pair.server, sealRecord(pair.client.txKey!, 22, nst).bytes), A.unexpected_message, 'connected');
  const hs = new Pair().start().serverRound();
  refused(t, feed(hs.server, sealRecord(hs.server.rxKey!, 22, nst).bytes), A.unexpected_message, 'handshake');
});

test('server: EndOfEarlyData when no early data was accepted is unexpected_message (handshake and after)', (t) => {
  const eoed = Uint8Array.of(5, 0, 0, 0);
  const hs = new Pair().start().serverRound();
  refused(t, feed(hs.server, sealRecord(hs.server.rxKey!, 22, eoed).bytes), A.unexpected_message, 'handshake');
  const pair = new Pair().start().drive();
  refused(t, feed(pair.server, sealRecord(pair.client.txKey!, 22, eoed).bytes), A.unexpected_message, 'connected');
});

test('server: EndOfEarlyData with a body is decode_error', (t) => {
  const hs = new Pair().start().serverRound();
  const step = feed(hs.server, sealRecord(hs.server.rxKey!, 22, Uint8Array.of(5, 0, 0, 1, 0)).bytes);
  const sent = alertsSent(step.effects);
  // Either is defensible (it is also out of place); it must close with one alert.
  t.true(sent.length === 1 && (sent[0] === A.decode_error || sent[0] === A.unexpected_message), `got ${sent.map(alertName)}`);
});

test('server: application data under the client handshake key, before the client Finished, is unexpected_message', (t) => {
  const hs = new Pair().start().serverRound();
  refused(t, feed(hs.server, sealRecord(hs.server.rxKey!, 23, text('too soon')).bytes), A.unexpected_message);
});

test('server: a ServerHello, or a second ClientHello after the handshake, is unexpected_message', (t) => {
  const { pair, raw } = helloFor();
  const f = serverFlight();
  refused(t, feed(pair.server, plainRecord(22, encodeHandshakeBytes({ type: 'server_hello', body: f.sh }))), A.unexpected_message, 'ServerHello');
  const done = new Pair().start().drive();
  refused(t, feed(done.server, sealRecord(done.client.txKey!, 22, raw).bytes), A.unexpected_message, 'ClientHello after the handshake');
});

test('change_cipher_spec with a value other than 1, or of 2 bytes, is unexpected_message', (t) => {
  for (const body of [Uint8Array.of(2), Uint8Array.of(1, 1), Uint8Array.of(0)]) {
    const { pair, raw } = helloFor();
    refused(t, feed(pair.server, cat(plainRecord(22, raw), plainRecord(20, body))), A.unexpected_message, `[${body}]`);
  }
});

// ============================================================================================================
// 10. Alerts (RFC 8446 §6, §6.2)

test('alerts: an unknown description at fatal level closes (alertReceived), no alert sent back', (t) => {
  const pair = new Pair().start().drive();
  const step = feed(pair.client, sealRecord(pair.server.txKey!, 21, Uint8Array.of(2, 254)).bytes);
  t.is(closedWith(step.effects)?.kind, 'alertReceived');
  t.is(closedWith(step.effects)?.alert, 254);
  t.deepEqual(alertsSent(step.effects), []);
  t.true(isClosed(step.state));
});

test('alerts: a warning-level alert other than close_notify / user_canceled is fatal in TLS 1.3 (§6)', (t) => {
  for (const [level, desc] of [[1, A.handshake_failure], [1, A.unexpected_message], [1, 254], [1, A.no_renegotiation], [3, A.decode_error], [0, A.internal_error]]) {
    const pair = new Pair().start().drive();
    const step = feed(pair.client, sealRecord(pair.server.txKey!, 21, Uint8Array.of(level!, desc!)).bytes);
    t.true(isClosed(step.state), `level ${level} description ${desc} closes`);
    t.is(closedWith(step.effects)?.kind, 'alertReceived', `level ${level} description ${desc}`);
  }
  // During the handshake too (a plaintext warning before any key).
  const { pair, raw } = helloFor();
  const step = feed(pair.server, cat(plainRecord(22, raw), plainRecord(21, Uint8Array.of(1, A.handshake_failure))));
  t.true(isClosed(step.state), 'handshake: closes');
});

test('alerts: user_canceled at warning level leaves the connection open; close_notify then ends it cleanly', (t) => {
  const pair = new Pair().start().drive();
  const uc = sealRecord(pair.server.txKey!, 21, Uint8Array.of(1, A.user_canceled));
  const step = feed(pair.client, uc.bytes);
  t.false(isClosed(step.state));
  t.true(step.effects.some((e) => e.type === 'alertReceived'));
  const cn = feed(step.state, sealRecord(uc.key, 21, Uint8Array.of(1, A.close_notify)).bytes);
  t.true(cn.effects.some((e) => e.type === 'peerClosed'));
  t.is(closedWith(cn.effects), undefined);
});
