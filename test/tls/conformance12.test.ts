/**
 * Conformance probes for hostile or non-conforming input to TLS 1.2 (RFC 5246, 5288, 7905, 7627, 5746, 8422,
 * 5077) and DTLS 1.2 / 1.3 (RFC 6347, RFC 9147), in the manner of tlsfuzzer's TLS 1.2 scripts and
 * DTLS-Fuzzer / TLS-Anvil: every probe asserts the RFC-required outcome (the right fatal alert and a closed
 * connection, or a silently dropped record and a connection that goes on), and that nothing ever throws.
 *
 * Probes that found a deviation when they were written say so ("found by this probe and fixed").
 */
import test, { type ExecutionContext } from 'ava';
import { u16, u24, hsMsg, feed, assertFatal, assertAlive, inject, exchange, refusesPlaintextData, parseClientHello, buildClientHello, type ClientHelloParts } from '../helpers/tls12Probe.js';
import { NOW, Pair, caVerifier, serverCredentials, str, text } from '../helpers/pair.js';
import { helloExtensions, editHelloExtensions, joinRecords, rewriteFirstMessage, splitMessages, splitRecords, type RawExt } from '../helpers/tls12.js';
import { handshakePhase } from '../../src/handshake/engine.js';
import type { TlsState } from '../../src/tls/connection.js';
import { plainRecord, sealRecord, type RecordKey } from '../../src/tls/record.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import { AlertDescription as A, AlertLevel, ExtensionType as X } from '../../src/wire/tls/constants.js';
import { TlsError } from '../../src/core/errors.js';
import { DtlsPair, clientConfig, serverConfig, type Side } from '../helpers/dtlsPair.js';
import {
  createDtlsConnection,
  dtlsStats,
  handleDtlsEvents,
  isDtlsClosed,
  isDtlsCommitted,
  isDtlsConnected,
  type DtlsState,
} from '../../src/dtls/connection.js';
import { seal12 } from '../../src/dtls/records12.js';
import { createTicketer, type TlsSession } from '../../src/handshake/session.js';
import type { DtlsClientConfig, DtlsEffect, DtlsServerConfig } from '../../src/dtls/types.js';

const TLS12: Partial<TlsClientConfig> = { maxVersion: 'TLSv1.2' };
const SERVER12: Partial<TlsServerConfig> = { maxVersion: 'TLSv1.2' };

// ---------------------------------------------------------------------------------------------------------------
// Helpers








/** Seal with a given key (not stored anywhere). */
function sealWith(key: RecordKey, type: number, content: Uint8Array): { bytes: Uint8Array; key: RecordKey } {
  const sealed = sealRecord(key, type, content);
  return { bytes: sealed.bytes, key: sealed.key };
}


/** A started TLS 1.2 pair whose ClientHello (the first flight towards the server) is rewritten before delivery. */
function editedHello(edit: (ch: ClientHelloParts) => void, client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}): { pair: Pair; hello: Uint8Array } {
  const pair = new Pair({ ...TLS12, ...client }, server).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (msg) => {
    const parts = parseClientHello(msg);
    edit(parts);
    return buildClientHello(parts);
  });
  return { pair, hello };
}

const withExt = (exts: RawExt[], type: number, data: ArrayLike<number>): RawExt[] =>
  exts.map((e) => (e.type === type ? { type, data: Uint8Array.from(data) } : e));

/**
 * A TLS 1.2 pair after the client has read the server's first flight: the client's flight
 * (ClientKeyExchange, ChangeCipherSpec, Finished) is returned undelivered, as records, with the client's write
 * key as it was before its Finished (sequence number 0), to seal forged records in its place.
 */
function clientFlight(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
  const pair = new Pair({ ...TLS12, ...client }, server).start().serverRound();
  pair.input('client', { type: 'received', now: pair.now, data: pair.inbox.client.shift()! });
  const records = splitRecords(Buffer.concat(pair.inbox.server.splice(0)));
  const key0 = { ...(pair.client as TlsState & { txKey: RecordKey }).txKey, seq: 0 } as RecordKey;
  const ccsAt = records.findIndex((r) => r.type === 20);
  const plainMsgs = records.slice(0, ccsAt).flatMap((r) => splitMessages(r.body));
  // The ClientKeyExchange alone, as one plaintext record body.
  const cke = { type: 22, body: plainMsgs.find((m) => m[0] === 16)! };
  const ccs = records.find((r) => r.type === 20)!;
  return { pair, records, key0, cke, ccs };
}

/** A ClientKeyExchange message whose ECPoint is `point`, with `trailing` bytes after it. */
const cke = (point: ArrayLike<number>, trailing: ArrayLike<number> = []): Uint8Array => hsMsg(16, [point.length, ...Array.from(point), ...Array.from(trailing)]);

/** Rewrite every handshake message in the plaintext records of a flight. */
function rewriteMessages(flight: Uint8Array, rewrite: (msg: Uint8Array) => Uint8Array | undefined): Uint8Array {
  return joinRecords(
    splitRecords(flight).map((r) =>
      r.type === 22 ? { type: 22, body: Buffer.concat(splitMessages(r.body).flatMap((m) => rewrite(m) ?? [])) } : r,
    ),
  );
}

/** A TLS 1.2 server flight (towards the client) after the server read the ClientHello. */
function serverFlight(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
  const pair = new Pair({ ...TLS12, ...client }, server).start().serverRound();
  return { pair, flight: Buffer.concat(pair.inbox.client.splice(0)) };
}

/** Offsets in a ServerKeyExchange (ECDHE, named curve): group, point, scheme, signature. */
function skeLayout(m: Uint8Array) {
  const group = 4 + 1;
  const pointLen = m[group + 2]!;
  const scheme = group + 3 + pointLen;
  return { group, scheme, sig: scheme + 4 };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. ClientHello (TLS 1.2 server)

test('server: ClientHello compression methods without null (only deflate) is decode_error or illegal_parameter (RFC 5246 §7.4.1.2)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.compression = [1]));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error, A.illegal_parameter]);
});

test('server: ClientHello with an empty compression method list is decode_error (compression_methods<1..2^8-1>)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.compression = []));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error, A.illegal_parameter]);
});

test('server: ClientHello offering only cipher suites we do not support is handshake_failure (RFC 5246 §7.4.1.3)', (t) => {
  // TLS_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_AES_128_GCM_SHA256, an unassigned value.
  const { pair, hello } = editedHello((ch) => (ch.suites = [0x002f, 0x009c, 0x7a7a]));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.handshake_failure]);
});

test('server: TLS_EMPTY_RENEGOTIATION_INFO_SCSV without renegotiation_info is accepted and answered with an empty renegotiation_info (RFC 5746 §3.6)', (t) => {
  const { pair, hello } = editedHello((ch) => {
    ch.suites = [...ch.suites, 0x00ff];
    ch.exts = ch.exts.filter((e) => e.type !== X.renegotiation_info);
  });
  feed(t, pair, 'server', hello);
  assertAlive(t, pair, 'server');
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
  const [sh] = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body);
  t.is(sh![0], 2);
  const ri = helloExtensions(sh!).find((e) => e.type === X.renegotiation_info);
  t.deepEqual(ri && Array.from(ri.data), [0]);
});

// ---------------------------------------------------------------------------------------------------------------
// 7. ClientHello extensions (TLS 1.2 server)

test('server: supported_groups of odd length is decode_error (RFC 8422 §5.1.1)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.supported_groups, [0, 3, 0, 0x1d, 0])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: an empty signature_algorithms is decode_error (RFC 5246 §7.4.1.4.1: <2..2^16-2>)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.signature_algorithms, [0, 0])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: ec_point_formats without uncompressed is illegal_parameter (RFC 8422 §5.1.2)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.ec_point_formats, [1, 1])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.illegal_parameter]);
});

test('server: an empty ec_point_formats list is decode_error (RFC 8422 §5.1.2: <1..2^8-1>)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.ec_point_formats, [0])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: a non-empty extended_master_secret is decode_error (RFC 7627 §5.1: extension_data empty)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.extended_master_secret, [0])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

// ---------------------------------------------------------------------------------------------------------------
// 2. ClientKeyExchange

for (const [name, group, point, allowed] of [
  ['an X25519 point of 31 bytes', 'x25519', new Uint8Array(31).fill(9), [A.illegal_parameter, A.decode_error]],
  ['an X25519 point of 33 bytes', 'x25519', new Uint8Array(33).fill(9), [A.illegal_parameter, A.decode_error]],
  ['a P-256 point of 64 bytes (no format byte)', 'secp256r1', new Uint8Array(64).fill(1), [A.illegal_parameter, A.decode_error]],
  ['a P-256 point not on the curve', 'secp256r1', Uint8Array.of(4, ...new Uint8Array(31), 1, ...new Uint8Array(31), 1), [A.illegal_parameter, A.decode_error]],
  ['a P-256 compressed point (not negotiated)', 'secp256r1', Uint8Array.of(2, ...new Uint8Array(32).fill(7)), [A.illegal_parameter, A.decode_error]],
  ['the point at infinity (a single 0x00)', 'secp256r1', Uint8Array.of(0), [A.illegal_parameter, A.decode_error]],
  ['the point at infinity on X25519 (a single 0x00)', 'x25519', Uint8Array.of(0), [A.illegal_parameter, A.decode_error]],
  // RFC 8422 §5.11 / RFC 7748 §6.1: an all-zero shared secret must abort (tlsfuzzer expects illegal_parameter).
  ['an all-zero X25519 point (low order: all-zero shared secret)', 'x25519', new Uint8Array(32), [A.illegal_parameter, A.handshake_failure]],
] as const) {
  test(`server: ClientKeyExchange with ${name} is rejected (RFC 8422 §5.7, §5.11)`, (t) => {
    const { pair } = clientFlight({ groups: [group] });
    feed(t, pair, 'server', plainRecord(22, cke(point)));
    assertFatal(t, pair, 'server', allowed);
  });
}

test('server: ClientKeyExchange with a trailing byte after the ECPoint is decode_error', (t) => {
  const { pair, cke: rec } = clientFlight();
  const msg = splitMessages(rec.body)[0]!;
  const point = msg.subarray(5);
  feed(t, pair, 'server', plainRecord(22, cke(point, [0])));
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: ClientKeyExchange with an empty ECPoint is decode_error (RFC 8422 §5.7: point<1..2^8-1>)', (t) => {
  const { pair } = clientFlight();
  feed(t, pair, 'server', plainRecord(22, hsMsg(16, [0])));
  assertFatal(t, pair, 'server', [A.decode_error, A.illegal_parameter]);
});

test('server: ClientKeyExchange whose ECPoint length overruns the message is decode_error', (t) => {
  const { pair } = clientFlight();
  feed(t, pair, 'server', plainRecord(22, hsMsg(16, [40, ...new Uint8Array(32).fill(9)])));
  assertFatal(t, pair, 'server', [A.decode_error]);
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Finished

test('server: a client Finished with wrong verify_data is decrypt_error (RFC 5246 §7.4.9)', (t) => {
  const { pair, key0, cke: k, ccs } = clientFlight();
  const fin = sealWith(key0, 22, hsMsg(20, new Uint8Array(12))).bytes;
  feed(t, pair, 'server', Buffer.concat([plainRecord(22, k.body), plainRecord(20, ccs.body), fin]));
  assertFatal(t, pair, 'server', [A.decrypt_error]);
});

for (const len of [0, 11, 13, 32]) {
  test(`server: a client Finished of ${len} bytes is decode_error (RFC 5246 §7.4.9: verify_data is 12 bytes)`, (t) => {
    const { pair, key0, cke: k, ccs } = clientFlight();
    const fin = sealWith(key0, 22, hsMsg(20, new Uint8Array(len).fill(0x5a))).bytes;
    feed(t, pair, 'server', Buffer.concat([plainRecord(22, k.body), plainRecord(20, ccs.body), fin]));
    assertFatal(t, pair, 'server', [A.decode_error]);
  });
}

test('server: a plaintext Finished before the ChangeCipherSpec is unexpected_message (RFC 5246 §7.1)', (t) => {
  const { pair, cke: k } = clientFlight();
  feed(t, pair, 'server', Buffer.concat([plainRecord(22, k.body), plainRecord(22, hsMsg(20, new Uint8Array(12)))]));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('server: the genuine encrypted Finished without the ChangeCipherSpec before it is unexpected_message or decode_error', (t) => {
  const { pair, records } = clientFlight();
  const fin = records[records.length - 1]!;
  feed(t, pair, 'server', Buffer.concat([plainRecord(22, records[0]!.body), plainRecord(22, fin.body)]));
  assertFatal(t, pair, 'server', [A.unexpected_message, A.decode_error]);
});

test('client: a server Finished with wrong verify_data is decrypt_error', (t) => {
  const { pair, records } = clientFlight();
  // Deliver the genuine client flight; then forge the server's Finished under its real key.
  feed(t, pair, 'server', joinRecordsRaw(records));
  const serverState = pair.server as TlsState & { txKey: RecordKey };
  t.truthy(serverState.txKey?.tls12);
  const key0 = { ...serverState.txKey, seq: 0 } as RecordKey;
  pair.inbox.client.splice(0);
  const ccs = plainRecord(20, Uint8Array.of(1));
  const fin = sealWith(key0, 22, hsMsg(20, new Uint8Array(12))).bytes;
  feed(t, pair, 'client', Buffer.concat([ccs, fin]));
  assertFatal(t, pair, 'client', [A.decrypt_error]);
});

/** Records back into one chunk, as they were (the Finished record stays sealed). */
function joinRecordsRaw(records: readonly { type: number; body: Uint8Array }[]): Uint8Array {
  return Buffer.concat(records.map((r) => plainRecord(r.type, r.body)));
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Messages and records out of order

test('server: plaintext application_data while expecting the ClientKeyExchange is unexpected_message (RFC 5246 §6.2.1)', (t) => {
  const { pair } = clientFlight();
  refusesPlaintextData(t, pair, 'server');
});

test('server: encrypted application_data between the ChangeCipherSpec and the Finished is unexpected_message', (t) => {
  const { pair, key0, cke: k, ccs } = clientFlight();
  const app = sealWith(key0, 23, text('too early')).bytes;
  feed(t, pair, 'server', Buffer.concat([plainRecord(22, k.body), plainRecord(20, ccs.body), app]));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
  t.is(pair.delivered.server.length, 0);
});

for (const [name, msg] of [
  ['a Certificate (client certificate not requested)', hsMsg(11, [0, 0, 0])],
  ['a CertificateVerify', hsMsg(15, [4, 3, 0, 2, 0, 0])],
  ['a ServerHelloDone', hsMsg(14, [])],
  // A well-formed TLS 1.2 ServerHello (an extension block with extended_master_secret and renegotiation_info).
  ['a ServerHello', hsMsg(2, [3, 3, ...new Uint8Array(32), 0, 0xc0, 0x2b, 0, 0, 9, 0, 23, 0, 0, 0xff, 1, 0, 1, 0])],
  ['a ServerKeyExchange', hsMsg(12, [3, 0, 0x1d, 1, 9, 4, 3, 0, 0])],
  ['a NewSessionTicket', hsMsg(4, [0, 0, 0, 0, 0, 0])],
  ['a HelloRequest', hsMsg(0, [])],
  ['an EncryptedExtensions (TLS 1.3 only)', hsMsg(8, [0, 0])],
] as const) {
  test(`server: ${name} where the ClientKeyExchange is expected is unexpected_message`, (t) => {
    const { pair } = clientFlight();
    feed(t, pair, 'server', plainRecord(22, msg));
    assertFatal(t, pair, 'server', [A.unexpected_message]);
  });
}

test('server: a second ClientHello where the ClientKeyExchange is expected is unexpected_message', (t) => {
  const pair = new Pair(TLS12).start();
  const hello = pair.inbox.server[0]!;
  pair.serverRound();
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('server: a ClientKeyExchange without the requested Certificate is unexpected_message (RFC 5246 §7.4.6)', (t) => {
  const { pair, cke: k } = clientFlight({}, { requestClientCertificate: true, verifier: caVerifier() });
  t.is(handshakePhase(pair.server.hs), 'expectClientCertificate12');
  feed(t, pair, 'server', plainRecord(22, k.body));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('server: a ClientKeyExchange under the new keys instead of the Finished is unexpected_message', (t) => {
  const { pair, key0, cke: k, ccs } = clientFlight();
  const again = sealWith(key0, 22, k.body).bytes;
  feed(t, pair, 'server', Buffer.concat([plainRecord(22, k.body), plainRecord(20, ccs.body), again]));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('client: a ServerHelloDone right after the ServerHello (no Certificate) is unexpected_message', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteMessages(flight, (m) => (m[0] === 11 || m[0] === 12 ? undefined : m));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('client: a ServerHelloDone without the ServerKeyExchange is unexpected_message (RFC 8422 §5.4: ECDHE requires it)', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteMessages(flight, (m) => (m[0] === 12 ? undefined : m));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('client: a ServerKeyExchange before the Certificate is unexpected_message', (t) => {
  const { pair, flight } = serverFlight();
  const msgs = splitRecords(flight).flatMap((r) => splitMessages(r.body));
  const order = [msgs[0]!, msgs.find((m) => m[0] === 12)!, msgs.find((m) => m[0] === 11)!, msgs.find((m) => m[0] === 14)!];
  feed(t, pair, 'client', plainRecord(22, Buffer.concat(order)));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('client: application_data before the server Finished (after the server CCS) is unexpected_message', (t) => {
  const { pair, records } = clientFlight();
  feed(t, pair, 'server', joinRecordsRaw(records));
  const key0 = { ...(pair.server as TlsState & { txKey: RecordKey }).txKey, seq: 0 } as RecordKey;
  pair.inbox.client.splice(0);
  feed(t, pair, 'client', Buffer.concat([plainRecord(20, Uint8Array.of(1)), sealWith(key0, 23, text('x')).bytes]));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
  t.is(pair.delivered.client.length, 0);
});

// ---------------------------------------------------------------------------------------------------------------
// 5, 6. Record layer

const connected12 = () => {
  const pair = new Pair(TLS12).start().drive();
  return pair;
};

test('server: a ClientHello record with version major byte 2 is unexpected_message, protocol_version or decode_error', (t) => {
  const pair = new Pair(TLS12).start();
  const rec = Uint8Array.from(pair.inbox.server.shift()!);
  rec[1] = 2;
  feed(t, pair, 'server', rec);
  assertFatal(t, pair, 'server', [A.unexpected_message, A.protocol_version, A.decode_error]);
});

test('TLS 1.2 connected: a record with version major byte 4 is rejected', (t) => {
  const pair = connected12();
  const rec = Uint8Array.from(inject(pair, 'client', 23, text('x')));
  rec[1] = 4;
  feed(t, pair, 'server', rec);
  assertFatal(t, pair, 'server', [A.unexpected_message, A.protocol_version, A.decode_error, A.bad_record_mac]);
});

test('server (TLS 1.2 only): a plaintext handshake record of 2^14 + 1 bytes is record_overflow (RFC 5246 §6.2.1)', (t) => {
  const pair = new Pair(TLS12, SERVER12).start();
  pair.inbox.server.splice(0);
  feed(t, pair, 'server', plainRecord(22, new Uint8Array(16385)));
  assertFatal(t, pair, 'server', [A.record_overflow]);
});

test('TLS 1.2 connected: a protected AES-GCM record shorter than explicit nonce + tag is bad_record_mac or decode_error', (t) => {
  for (const len of [0, 8, 23]) {
    const pair = connected12();
    feed(t, pair, 'server', plainRecord(23, new Uint8Array(len).fill(1)));
    assertFatal(t, pair, 'server', [A.bad_record_mac, A.decode_error]);
  }
});

test('TLS 1.2 connected: a protected ChaCha20-Poly1305 record shorter than the tag is bad_record_mac or decode_error (RFC 7905)', (t) => {
  const pair = new Pair({ ...TLS12, cipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'] }).start().drive();
  feed(t, pair, 'server', plainRecord(23, new Uint8Array(15).fill(1)));
  assertFatal(t, pair, 'server', [A.bad_record_mac, A.decode_error]);
});

test('TLS 1.2 connected: a protected record longer than 2^14 + 2048 is record_overflow (RFC 5246 §6.2.3)', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', Uint8Array.of(23, 3, 3, ...u16(16384 + 2049)));
  assertFatal(t, pair, 'server', [A.record_overflow]);
});

test('TLS 1.2 connected: a protected record that decrypts to 2^14 + 1 bytes is record_overflow (RFC 5246 §6.2.3)', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 23, new Uint8Array(16385)));
  assertFatal(t, pair, 'server', [A.record_overflow]);
});

test('TLS 1.2 connected: a zero-length application_data record is accepted (RFC 5246 §6.2.1)', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 23, new Uint8Array(0)));
  assertAlive(t, pair, 'server');
  exchange(t, pair);
});

test('TLS 1.2 connected: a zero-length protected handshake record is unexpected_message or decode_error (RFC 5246 §6.2.1)', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 22, new Uint8Array(0)));
  assertFatal(t, pair, 'server', [A.unexpected_message, A.decode_error]);
});

test('TLS 1.2 server: a zero-length plaintext handshake record is unexpected_message or decode_error', (t) => {
  const pair = new Pair(TLS12, SERVER12).start();
  pair.inbox.server.splice(0);
  feed(t, pair, 'server', plainRecord(22, new Uint8Array(0)));
  assertFatal(t, pair, 'server', [A.unexpected_message, A.decode_error]);
});

for (const len of [1, 3]) {
  test(`TLS 1.2 connected: a protected alert record of ${len} bytes is decode_error (RFC 5246 §7.2)`, (t) => {
    const pair = connected12();
    feed(t, pair, 'server', inject(pair, 'client', 21, new Uint8Array(len).fill(AlertLevel.warning)));
    assertFatal(t, pair, 'server', [A.decode_error]);
  });
  test(`TLS 1.2 handshake: a plaintext alert record of ${len} bytes is decode_error`, (t) => {
    const { pair } = clientFlight();
    feed(t, pair, 'server', plainRecord(21, new Uint8Array(len).fill(AlertLevel.warning)));
    assertFatal(t, pair, 'server', [A.decode_error]);
  });
}

test('TLS 1.2 connected: an alert of unknown level (3) is not taken as a warning: the connection closes', (t) => {
  const pair = connected12();
  // no_renegotiation, a description normally sent as a warning, with AlertLevel 3 (RFC 5246 §7.2: 1 or 2).
  feed(t, pair, 'server', inject(pair, 'client', 21, Uint8Array.of(3, A.no_renegotiation)));
  t.is(pair.of('server', 'closed').length, 1);
  t.true(pair.closedError('server') instanceof TlsError);
});

test('TLS 1.2 server: a Heartbeat record (content type 24) during the handshake is unexpected_message (RFC 5246 §6, RFC 6520 not negotiated)', (t) => {
  const { pair } = clientFlight();
  feed(t, pair, 'server', plainRecord(24, Uint8Array.of(1, 0, 16, ...new Uint8Array(32))));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('TLS 1.2 connected: a protected Heartbeat record (content type 24) is unexpected_message', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 24, Uint8Array.of(1, 0, 16, ...new Uint8Array(32))));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('TLS 1.2 connected: a plaintext (unprotected) application_data record is bad_record_mac', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', plainRecord(23, new Uint8Array(40).fill(0x41)));
  assertFatal(t, pair, 'server', [A.bad_record_mac]);
  t.is(pair.delivered.server.length, 0);
});

test('TLS 1.2 connected: a replayed protected record is bad_record_mac (implicit sequence numbers, RFC 5246 §6.1)', (t) => {
  const pair = connected12();
  const rec = inject(pair, 'client', 23, text('once'));
  feed(t, pair, 'server', rec);
  feed(t, pair, 'server', rec);
  t.is(str(pair.delivered.server), 'once');
  assertFatal(t, pair, 'server', [A.bad_record_mac]);
});

// ---------------------------------------------------------------------------------------------------------------
// 8. TLS 1.2 client

function shOffsets(sh: Uint8Array) {
  const sid = 4 + 2 + 32;
  const suite = sid + 1 + sh[sid]!;
  return { suite, compression: suite + 2 };
}

test('client: a ServerHello choosing a cipher suite we did not offer is illegal_parameter (RFC 5246 §7.4.1.3)', (t) => {
  for (const code of [0xc02c, 0x002f, 0x1301]) {
    const { pair, flight } = serverFlight({ cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] });
    const bad = rewriteFirstMessage(flight, (sh) => {
      const out = Uint8Array.from(sh);
      out.set(u16(code), shOffsets(sh).suite);
      return out;
    });
    feed(t, pair, 'client', bad);
    assertFatal(t, pair, 'client', [A.illegal_parameter]);
  }
});

test('client: a ServerHello choosing compression method 1 is illegal_parameter', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteFirstMessage(flight, (sh) => {
    const out = Uint8Array.from(sh);
    out[shOffsets(sh).compression] = 1;
    return out;
  });
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.illegal_parameter]);
});

test('client: a ServerHello with an extension we did not send is unsupported_extension (RFC 5246 §7.4.1.4)', (t) => {
  for (const type of [0x1234, 15 /* heartbeat */, 5 /* status_request */]) {
    const { pair, flight } = serverFlight();
    const bad = rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => [...exts, { type, data: type === 15 ? Uint8Array.of(1) : new Uint8Array(0) }]));
    feed(t, pair, 'client', bad);
    assertFatal(t, pair, 'client', [A.unsupported_extension]);
  }
});

test('client: a ServerHello with a duplicated extension is rejected (RFC 5246 §7.4.1.4)', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => [...exts, exts.find((e) => e.type === X.extended_master_secret)!]));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.illegal_parameter, A.decode_error, A.unsupported_extension]);
});

test('client: a ServerKeyExchange signed with a scheme we did not offer is illegal_parameter (RFC 5246 §7.4.3)', (t) => {
  for (const scheme of [0x0203 /* ecdsa_sha1 */, 0x0201 /* rsa_pkcs1_sha1 */, 0x0101 /* md5 */]) {
    const { pair, flight } = serverFlight();
    const bad = rewriteMessages(flight, (m) => {
      if (m[0] !== 12) return m;
      const out = Uint8Array.from(m);
      out.set(u16(scheme), skeLayout(m).scheme);
      return out;
    });
    feed(t, pair, 'client', bad);
    assertFatal(t, pair, 'client', [A.illegal_parameter]);
  }
});

test('client: a ServerKeyExchange with a bad signature is decrypt_error (RFC 5246 §7.4.3)', (t) => {
  for (const cert of ['server-ec', 'server-ed', 'server-rsa']) {
    const { pair, flight } = serverFlight({}, serverCredentials(cert));
    const bad = rewriteMessages(flight, (m) => {
      if (m[0] !== 12) return m;
      const out = Uint8Array.from(m);
      out[out.length - 1]! ^= 0x01;
      return out;
    });
    feed(t, pair, 'client', bad);
    assertFatal(t, pair, 'client', [A.decrypt_error]);
  }
});

test('client: a ServerKeyExchange whose signed point was changed is decrypt_error', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteMessages(flight, (m) => {
    if (m[0] !== 12) return m;
    const out = Uint8Array.from(m);
    out[skeLayout(m).group + 3]! ^= 0x40;
    return out;
  });
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.decrypt_error]);
});

test('client: a ServerKeyExchange on a named curve we did not offer is illegal_parameter (RFC 8422 §5.4)', (t) => {
  for (const group of [0x0017 /* secp256r1 */, 0x001e /* x448 */, 0x0015 /* secp224r1 */]) {
    const { pair, flight } = serverFlight({ groups: ['x25519'] });
    const bad = rewriteMessages(flight, (m) => {
      if (m[0] !== 12) return m;
      const out = Uint8Array.from(m);
      out.set(u16(group), skeLayout(m).group);
      return out;
    });
    feed(t, pair, 'client', bad);
    assertFatal(t, pair, 'client', [A.illegal_parameter]);
  }
});

test('client: a ServerKeyExchange with explicit curve parameters (curve_type 1) is illegal_parameter or handshake_failure (RFC 8422 §5.4)', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteMessages(flight, (m) => {
    if (m[0] !== 12) return m;
    const out = Uint8Array.from(m);
    out[4] = 1;
    return out;
  });
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.illegal_parameter, A.handshake_failure, A.decode_error]);
});

test('client: a ServerKeyExchange with a trailing byte is decode_error', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteMessages(flight, (m) => (m[0] !== 12 ? m : hsMsg(12, [...Array.from(m.subarray(4)), 0])));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.decode_error]);
});

test('client: a ServerHelloDone with a body is decode_error (RFC 5246 §7.4.5: empty)', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteMessages(flight, (m) => (m[0] !== 14 ? m : hsMsg(14, [0])));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.decode_error]);
});

test('client: a ServerHello of legacy_version 0x0304 (TLS 1.3 in the record body without supported_versions) is rejected', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteFirstMessage(flight, (sh) => {
    const out = Uint8Array.from(sh);
    out[5] = 4;
    return out;
  });
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.protocol_version, A.illegal_parameter]);
});


// ---------------------------------------------------------------------------------------------------------------
// 9. DTLS 1.2 / 1.3

const V12: Partial<DtlsClientConfig> = { minVersion: 'DTLSv1.2', maxVersion: 'DTLSv1.2' };
const COOKIE_SECRET = new Uint8Array(32).fill(7);

function dtlsHandshake(client: Partial<DtlsClientConfig> = V12, server: Partial<DtlsServerConfig> = {}): DtlsPair {
  const p = new DtlsPair(client, server);
  p.start();
  p.run();
  return p;
}

const dtlsFatal = (p: DtlsPair, side: Side) => p.effects[side].filter((e) => e.type === 'alertSent' && e.level === AlertLevel.fatal);

function dtlsAlive(t: ExecutionContext, p: DtlsPair, side: Side): void {
  t.deepEqual(dtlsFatal(p, side), []);
  t.false(isDtlsClosed(p[side]));
  t.true(isDtlsConnected(p[side]));
}

function dtlsExchange(t: ExecutionContext, p: DtlsPair, what: string): void {
  const before = { client: p.delivered.client.length, server: p.delivered.server.length };
  p.input('client', { type: 'write', data: text(`ping${what}`) });
  p.input('server', { type: 'write', data: text(`pong${what}`) });
  p.run(p.now + 1000);
  t.is(str(p.delivered.server.slice(before.server)), `ping${what}`);
  t.is(str(p.delivered.client.slice(before.client)), `pong${what}`);
}

function dtlsInput(t: ExecutionContext, p: DtlsPair, side: Side, data: Uint8Array): void {
  t.notThrows(() => p.input(side, { type: 'datagram', data }));
}

/** One DTLS 1.2 application record from the client (sent, not yet delivered elsewhere). */
function clientAppRecord12(p: DtlsPair, payload: string): Uint8Array {
  p.input('client', { type: 'write', data: text(payload) });
  const d = p.sent.client[p.sent.client.length - 1]!;
  p.run(p.now + 100);
  return d;
}

test('DTLS 1.2: a replayed application record is dropped silently and delivered once (RFC 6347 §4.1.2.6)', (t) => {
  const p = dtlsHandshake();
  const d = clientAppRecord12(p, 'once');
  const dropped = dtlsStats(p.server).recordsDropped;
  dtlsInput(t, p, 'server', d);
  dtlsInput(t, p, 'server', d);
  t.is(str(p.delivered.server), 'once');
  t.is(dtlsStats(p.server).recordsDropped, dropped + 2);
  dtlsAlive(t, p, 'server');
  dtlsExchange(t, p, '1');
});

test('DTLS 1.2: a record with an epoch far in the future is dropped silently (RFC 6347 §4.1)', (t) => {
  const p = dtlsHandshake();
  const d = Uint8Array.from(clientAppRecord12(p, 'x'));
  d.set(u16(0x1234), 3);
  const dropped = dtlsStats(p.server).recordsDropped;
  dtlsInput(t, p, 'server', d);
  t.is(dtlsStats(p.server).recordsDropped, dropped + 1);
  dtlsAlive(t, p, 'server');
  dtlsExchange(t, p, '2');
});

test('DTLS 1.2: a forged record with a far-future sequence number fails authentication, is dropped and does not move the replay window (RFC 6347 §4.1.2.6)', (t) => {
  const p = dtlsHandshake();
  const d = Uint8Array.from(clientAppRecord12(p, 'x'));
  d.set([0, 0x80, 0, 0, 0, 0], 5); // sequence_number 2^39
  const dropped = dtlsStats(p.server).recordsDropped;
  dtlsInput(t, p, 'server', d);
  t.is(dtlsStats(p.server).recordsDropped, dropped + 1);
  dtlsAlive(t, p, 'server');
  // Were the window moved by the forgery, the client's next records (low sequence numbers) would be dropped.
  dtlsExchange(t, p, '3');
});

test('DTLS 1.2: an authentic record with a far-future sequence number is not fatal', (t) => {
  const p = dtlsHandshake();
  const w = (p.client as DtlsState).write12!;
  const far = seal12({ ...w, seq: 2 ** 40 }, 23, text('far'));
  dtlsInput(t, p, 'server', far.bytes);
  dtlsAlive(t, p, 'server');
  t.is(str(p.delivered.server), 'far');
});

test('DTLS 1.2: a record failing authentication is dropped silently (RFC 6347 §4.1.2.7)', (t) => {
  const p = dtlsHandshake();
  const d = Uint8Array.from(clientAppRecord12(p, 'x'));
  d[d.length - 1]! ^= 1;
  const d2 = Uint8Array.from(clientAppRecord12(p, 'y'));
  d2[20]! ^= 1;
  const dropped = dtlsStats(p.server).recordsDropped;
  dtlsInput(t, p, 'server', d);
  dtlsInput(t, p, 'server', d2);
  t.is(dtlsStats(p.server).recordsDropped, dropped + 2);
  dtlsAlive(t, p, 'server');
  dtlsExchange(t, p, '4');
});

test('DTLS 1.2: a protected record shorter than explicit nonce + tag is dropped silently', (t) => {
  const p = dtlsHandshake();
  const d = clientAppRecord12(p, 'x');
  const short = Uint8Array.from([...Array.from(d.subarray(0, 11)), 0, 10, ...new Uint8Array(10)]);
  short.set([0, 0, 0, 0, 0, 99], 5);
  dtlsInput(t, p, 'server', short);
  dtlsAlive(t, p, 'server');
  dtlsExchange(t, p, '5');
});

test('DTLS 1.2: a plaintext (epoch 0) alert injected after the handshake is dropped, not believed', (t) => {
  const p = dtlsHandshake();
  const alert = Uint8Array.of(21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 50, 0, 2, AlertLevel.fatal, A.handshake_failure);
  dtlsInput(t, p, 'server', alert);
  dtlsAlive(t, p, 'server');
  dtlsExchange(t, p, '6');
});

test('DTLS 1.3: a record with the wrong epoch bits is dropped silently (RFC 9147 §4.2.2, §4.5.2)', (t) => {
  const p = dtlsHandshake({});
  p.input('client', { type: 'write', data: text('x') });
  const d = Uint8Array.from(p.sent.client[p.sent.client.length - 1]!);
  p.run(p.now + 100);
  t.is(d[0]! & 0xe0, 0x20, 'a unified header');
  d[0] = (d[0]! & ~3) | ((d[0]! + 1) & 3);
  const dropped = dtlsStats(p.server).recordsDropped;
  dtlsInput(t, p, 'server', d);
  t.true(dtlsStats(p.server).recordsDropped > dropped);
  dtlsAlive(t, p, 'server');
  dtlsExchange(t, p, '7');
});

test('DTLS 1.3: a record failing authentication during the handshake is dropped silently, the handshake completes', (t) => {
  // The client's final flight (epoch 2) with a flipped bit: the server drops it and the client retransmits.
  let flipped = false;
  const p = new DtlsPair({}, {}, (d) => {
    if (d.to === 'server' && d.index === 1 && !flipped) {
      flipped = true;
      (d.data as Uint8Array)[d.data.length - 1]! ^= 1;
    }
    return 'deliver';
  });
  p.start();
  p.run();
  t.true(flipped);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  t.deepEqual(dtlsFatal(p, 'server'), []);
});

/** The client's first datagram (a ClientHello in one DTLSPlaintext record) and a fresh server. */
function helloAndServer(client: Partial<DtlsClientConfig> = V12, server: Partial<DtlsServerConfig> = {}) {
  const c = handleDtlsEvents(createDtlsConnection(clientConfig(client)), { type: 'start', now: 0 });
  const hello = (c.effects.find((e) => e.type === 'transmit') as Extract<DtlsEffect, { type: 'transmit' }>).data;
  const s = handleDtlsEvents(createDtlsConnection(serverConfig(server)), { type: 'start', now: 0 }).state;
  return { client: c.state, hello, server: s };
}

function runServer(t: ExecutionContext, server: DtlsState, datagrams: Uint8Array[], now = 1) {
  const effects: DtlsEffect[] = [];
  let st = server;
  for (const data of datagrams) {
    t.notThrows(() => {
      const step = handleDtlsEvents(st, { type: 'datagram', data, now });
      st = step.state;
      effects.push(...step.effects);
    });
  }
  return { state: st, effects, alerts: effects.filter((e) => e.type === 'alertSent').map((e) => (e as { description: number }).description) };
}

/** A DTLSPlaintext handshake record: header of `tmpl` (type, version, epoch), sequence `seq`, one fragment. */
function dtlsFragmentRecord(tmpl: Uint8Array, seq: number, f: { type: number; length: number; msgSeq: number; offset: number; body: Uint8Array }): Uint8Array {
  const frag = [f.type, ...u24(f.length), ...u16(f.msgSeq), ...u24(f.offset), ...u24(f.body.length), ...Array.from(f.body)];
  return Uint8Array.from([tmpl[0]!, tmpl[1]!, tmpl[2]!, 0, 0, 0, 0, 0, 0, 0, seq, ...u16(frag.length), ...frag]);
}

/** The ClientHello body of a first client datagram (one record, one whole fragment). */
function helloBody(hello: Uint8Array): { type: number; msgSeq: number; body: Uint8Array } {
  const h = hello.subarray(13);
  const len = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
  return { type: h[0]!, msgSeq: (h[4]! << 8) | h[5]!, body: h.subarray(12, 12 + len) };
}

for (const [name, client] of [['DTLS 1.2', V12], ['DTLS 1.3', {}]] as const) {
  test(`${name}: a handshake fragment running past the message length is decode_error or dropped (RFC 6347 §4.2.3, RFC 9147 §5.5)`, (t) => {
    const { hello, server } = helloAndServer(client);
    const m = helloBody(hello);
    const half = m.body.length >> 1;
    const first = dtlsFragmentRecord(hello, 0, { type: m.type, length: m.body.length, msgSeq: m.msgSeq, offset: 0, body: m.body.subarray(0, half) });
    // offset half, fragment of (rest + 16) bytes: offset + fragment_length > length.
    const past = dtlsFragmentRecord(hello, 1, { type: m.type, length: m.body.length, msgSeq: m.msgSeq, offset: half, body: Uint8Array.from([...Array.from(m.body.subarray(half)), ...new Uint8Array(16)]) });
    const r = runServer(t, server, [first, past]);
    if (r.alerts.length === 0) {
      t.false(isDtlsClosed(r.state));
      t.false(isDtlsCommitted(r.state), 'no ClientHello was accepted from the bad fragment');
    } else {
      t.deepEqual(r.alerts, [A.decode_error]);
      t.true(isDtlsClosed(r.state));
    }
  });

  test(`${name}: fragments of one message with inconsistent lengths are illegal_parameter or decode_error (RFC 9147 §5.5)`, (t) => {
    const { hello, server } = helloAndServer(client);
    const m = helloBody(hello);
    const half = m.body.length >> 1;
    const first = dtlsFragmentRecord(hello, 0, { type: m.type, length: m.body.length, msgSeq: m.msgSeq, offset: 0, body: m.body.subarray(0, half) });
    const second = dtlsFragmentRecord(hello, 1, { type: m.type, length: m.body.length + 10, msgSeq: m.msgSeq, offset: half, body: m.body.subarray(half) });
    const r = runServer(t, server, [first, second]);
    t.is(r.alerts.length, 1);
    t.true(([A.illegal_parameter, A.decode_error] as number[]).includes(r.alerts[0]!), `alert ${r.alerts[0]}`);
    t.true(isDtlsClosed(r.state));
  });

  test(`${name}: a handshake record with a truncated fragment header is dropped silently`, (t) => {
    const { hello, server } = helloAndServer(client);
    const rec = Uint8Array.from([...Array.from(hello.subarray(0, 11)), 0, 5, 1, 0, 0, 9, 0]);
    const r = runServer(t, server, [rec]);
    t.deepEqual(r.alerts, []);
    t.false(isDtlsClosed(r.state));
    // The real ClientHello still works afterwards.
    const ok = runServer(t, r.state, [hello]);
    t.deepEqual(ok.alerts, []);
    t.true(ok.effects.some((e) => e.type === 'transmit'));
  });
}

test('DTLS 1.2: a ClientHello with a wrong cookie (bytes flipped) gets a new HelloVerifyRequest, not an alert (RFC 6347 §4.2.1)', (t) => {
  const datagrams = (effects: readonly DtlsEffect[]) => effects.filter((e) => e.type === 'transmit').map((e) => (e as { data: Uint8Array }).data);
  const listener = () => handleDtlsEvents(createDtlsConnection(serverConfig({ cookieSecret: COOKIE_SECRET })), { type: 'start', now: 0 }).state;
  const c0 = handleDtlsEvents(createDtlsConnection(clientConfig(V12)), { type: 'start', now: 0 });
  const hvr = handleDtlsEvents(listener(), { type: 'datagram', data: datagrams(c0.effects)[0]!, now: 0 });
  const c1 = handleDtlsEvents(c0.state, { type: 'datagram', data: datagrams(hvr.effects)[0]!, now: 1 });
  const ch2 = Uint8Array.from(datagrams(c1.effects)[0]!);
  // legacy_cookie: after the 13 B record header, 12 B handshake header, version (2), random (32), session id.
  let o = 13 + 12 + 2 + 32;
  o += 1 + ch2[o]!;
  const cookieLen = ch2[o]!;
  t.true(cookieLen > 0);
  for (const [what, mutate] of [
    ['last byte flipped', (d: Uint8Array) => (d[o + cookieLen]! ^= 0x01)],
    ['first byte flipped', (d: Uint8Array) => (d[o + 1]! ^= 0x80)],
  ] as const) {
    const bad = Uint8Array.from(ch2);
    mutate(bad);
    let step!: ReturnType<typeof handleDtlsEvents>;
    t.notThrows(() => (step = handleDtlsEvents(listener(), { type: 'datagram', data: bad, now: 2 })), what);
    t.deepEqual(step.effects.filter((e) => e.type === 'alertSent'), [], what);
    t.false(isDtlsCommitted(step.state), what);
    t.false(isDtlsClosed(step.state), what);
    t.is(datagrams(step.effects)[0]![13], 3, `${what}: a HelloVerifyRequest again`);
  }
});

// RFC 9147 §5.1's final text (the drafts said the opposite): an invalid cookie MUST end the handshake with illegal_parameter.
test('DTLS 1.3: a ClientHello with a wrong cookie is refused with illegal_parameter (RFC 9147 §5.1)', (t) => {
  const datagrams = (effects: readonly DtlsEffect[]) => effects.filter((e) => e.type === 'transmit').map((e) => (e as { data: Uint8Array }).data);
  const listener = () => handleDtlsEvents(createDtlsConnection(serverConfig({ cookieSecret: COOKIE_SECRET })), { type: 'start', now: 0 }).state;
  const c0 = handleDtlsEvents(createDtlsConnection(clientConfig({})), { type: 'start', now: 0 });
  const hrr = handleDtlsEvents(listener(), { type: 'datagram', data: datagrams(c0.effects)[0]!, now: 0 });
  t.false(isDtlsCommitted(hrr.state));
  const c1 = handleDtlsEvents(c0.state, { type: 'datagram', data: datagrams(hrr.effects)[0]!, now: 1 });
  const ch2 = Uint8Array.from(datagrams(c1.effects)[0]!);
  // Find the cookie extension (44) in the ClientHello and flip its last byte.
  const msg = Uint8Array.from([ch2[13]!, ch2[14]!, ch2[15]!, ch2[16]!, ...Array.from(ch2.subarray(13 + 12))]);
  const ext = helloExtensions(msg).find((e) => e.type === X.cookie);
  t.truthy(ext, 'the second ClientHello carries a cookie');
  const at = 13 + 12 + (ext!.data.byteOffset - msg.byteOffset - 4) + ext!.data.length - 1;
  const bad = Uint8Array.from(ch2);
  bad[at]! ^= 0x01;
  let step!: ReturnType<typeof handleDtlsEvents>;
  t.notThrows(() => (step = handleDtlsEvents(listener(), { type: 'datagram', data: bad, now: 2 })));
  t.deepEqual(
    step.effects.flatMap((e) => (e.type === 'alertSent' ? [e.description] : [])),
    [A.illegal_parameter],
  );
  t.true(isDtlsClosed(step.state));
  t.false(isDtlsCommitted(step.state));
  // The same ClientHello with its cookie intact is accepted.
  const good = handleDtlsEvents(listener(), { type: 'datagram', data: ch2, now: 2 });
  t.true(isDtlsCommitted(good.state));
});

// ---------------------------------------------------------------------------------------------------------------
// More tlsfuzzer-style probes (test-version-numbers, test-invalid-compression-methods, test-invalid-cipher-suites,
// test-extensions, test-invalid-session-id, test-message-duplication, test-hello-request-by-client, …)

for (const version of [0x0304, 0x0305, 0x03ff, 0x0400, 0xffff]) {
  test(`server: a ClientHello with legacy_version 0x${version.toString(16)} and no supported_versions negotiates TLS 1.2 (RFC 5246 §E.1, RFC 8446 §4.2.1)`, (t) => {
    const { pair, hello } = editedHello((ch) => {
      const head = Uint8Array.from(ch.head);
      head.set(u16(version), 0);
      (ch as { head: Uint8Array }).head = head;
      ch.exts = ch.exts.filter((e) => e.type !== X.supported_versions);
    });
    feed(t, pair, 'server', hello);
    assertAlive(t, pair, 'server');
    t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
    const [sh] = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body);
    t.deepEqual(Array.from(sh!.subarray(4, 6)), [3, 3]);
  });
}

for (const version of [0x0300, 0x0301, 0x0302]) {
  test(`server: a ClientHello in a record of version 0x${version.toString(16)} is accepted (RFC 5246 §E.1: any 0x03XX)`, (t) => {
    const pair = new Pair(TLS12).start();
    const rec = Uint8Array.from(pair.inbox.server.shift()!);
    rec.set(u16(version), 1);
    feed(t, pair, 'server', rec);
    assertAlive(t, pair, 'server');
    t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
  });
}

test('server: compression methods [deflate, null] are accepted and null is selected (RFC 5246 §7.4.1.2)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.compression = [1, 0]));
  feed(t, pair, 'server', hello);
  assertAlive(t, pair, 'server');
  const [sh] = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body);
  t.is(sh![shOffsets(sh!).compression], 0);
});

test('server: TLS_NULL_WITH_NULL_NULL and unknown suites in the offer are ignored, never selected (RFC 5246 §7.4.1.2)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.suites = [0x0000, 0x0a0a, 0x00ff, ...ch.suites]));
  feed(t, pair, 'server', hello);
  assertAlive(t, pair, 'server');
  const [sh] = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body);
  const at = shOffsets(sh!).suite;
  t.is((sh![at]! << 8) | sh![at + 1]!, 0xc02b);
});

test('server: an unknown extension in the ClientHello is ignored (RFC 5246 §7.4.1.4)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = [{ type: 0xfafa, data: Uint8Array.of(1, 2, 3) }, ...ch.exts, { type: 0x1a1a, data: new Uint8Array(0) }]));
  feed(t, pair, 'server', hello);
  assertAlive(t, pair, 'server');
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
});

test('server: encrypt_then_mac offered with only AEAD suites is not echoed (RFC 7366 §3)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = [...ch.exts, { type: 22, data: new Uint8Array(0) }]));
  feed(t, pair, 'server', hello);
  assertAlive(t, pair, 'server');
  const [sh] = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body);
  t.false(helloExtensions(sh!).some((e) => e.type === 22));
});

test('server: a ClientHello with a 33-byte session_id is decode_error or illegal_parameter (RFC 5246 §7.4.1.2: <0..32>)', (t) => {
  const { pair, hello } = editedHello((ch) => {
    const head = Uint8Array.from([...Array.from(ch.head.subarray(0, 34)), 33, ...new Uint8Array(33).fill(7)]);
    (ch as { head: Uint8Array }).head = head;
  });
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error, A.illegal_parameter]);
});

test('server: a ClientHello with an odd-length cipher suite list is decode_error', (t) => {
  const pair = new Pair(TLS12).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (msg) => {
    const p = parseClientHello(msg);
    const exts = p.exts.flatMap((e) => [...u16(e.type), ...u16(e.data.length), ...Array.from(e.data)]);
    return hsMsg(1, [...Array.from(p.head), 0, 3, 0xc0, 0x2b, 0xc0, 1, 0, ...u16(exts.length), ...exts]);
  });
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: a ClientHello with an empty cipher suite list is decode_error or handshake_failure', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.suites = []));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error, A.handshake_failure, A.illegal_parameter]);
});

test('server: a ClientHello whose extension block overruns the message is decode_error', (t) => {
  const pair = new Pair(TLS12).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (msg) => {
    const out = Uint8Array.from(msg);
    const p = parseClientHello(msg);
    const extStart = 4 + p.head.length + 2 + p.suites.length * 2 + 1 + p.compression.length;
    const len = (out[extStart]! << 8) | out[extStart + 1]!;
    out.set(u16(len + 1), extStart);
    return out;
  });
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: a ClientHello with a trailing byte after the extension block is decode_error', (t) => {
  const pair = new Pair(TLS12).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (msg) => hsMsg(1, [...Array.from(msg.subarray(4)), 0]));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: supported_groups with no group in common is handshake_failure (RFC 8422 §5.1.1)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.supported_groups, [0, 4, 0x01, 0x00, 0x01, 0x01])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.handshake_failure]);
});

test('server: an empty supported_groups list is decode_error (RFC 8422 §5.1.1: <2..2^16-1>)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.supported_groups, [0, 0])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: signature_algorithms of odd length is decode_error', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.signature_algorithms, [0, 3, 4, 3, 5])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
});

test('server: signature_algorithms with no scheme for our key is handshake_failure (RFC 5246 §7.4.1.4.1)', (t) => {
  // An ECDSA P-256 server, the client accepting RSA-PSS and SHA-1 ECDSA only.
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.signature_algorithms, [0, 4, 0x08, 0x04, 0x02, 0x03])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.handshake_failure]);
});

test('server: an ALPN extension with an empty protocol name is decode_error (RFC 7301 §3.1)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = [...ch.exts, { type: 16, data: Uint8Array.of(0, 3, 2, 0x68, 0x32, 0) }].map((e) => e)), {}, { alpnProtocols: ['h2'] });
  // The list above is malformed as a whole too (length 3 holds "\x02h2" only; the trailing 0 is outside it).
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error]);
  const p2 = editedHello((ch) => (ch.exts = [...ch.exts, { type: 16, data: Uint8Array.of(0, 4, 2, 0x68, 0x32, 0) }]), {}, { alpnProtocols: ['h2'] });
  feed(t, p2.pair, 'server', p2.hello);
  assertFatal(t, p2.pair, 'server', [A.decode_error]);
});

test('server: a server_name extension with an empty host_name is decode_error (RFC 6066 §3)', (t) => {
  const { pair, hello } = editedHello((ch) => (ch.exts = withExt(ch.exts, X.server_name, [0, 3, 0, 0, 0])));
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.decode_error, A.illegal_parameter, A.unrecognized_name]);
});

test('server: a duplicated ClientKeyExchange is unexpected_message (tlsfuzzer test-message-duplication)', (t) => {
  const { pair, cke: k } = clientFlight();
  feed(t, pair, 'server', plainRecord(22, Buffer.concat([k.body, k.body])));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

for (const [name, body] of [
  ['empty', []],
  ['of two bytes', [1, 1]],
] as const) {
  test(`server: a ChangeCipherSpec ${name} is unexpected_message or decode_error (RFC 5246 §7.1: one byte, 1)`, (t) => {
    const { pair, cke: k } = clientFlight();
    feed(t, pair, 'server', Buffer.concat([plainRecord(22, k.body), plainRecord(20, Uint8Array.from(body))]));
    assertFatal(t, pair, 'server', [A.unexpected_message, A.decode_error]);
  });
}

test('server: a HelloRequest from the client after the handshake is unexpected_message (RFC 5246 §7.4.1.1: server only)', (t) => {
  const pair = connected12();
  feed(t, pair, 'server', inject(pair, 'client', 22, hsMsg(0, [])));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('server: a warning alert between two fragments of the ClientKeyExchange is unexpected_message (tlsfuzzer test-openssl-3712)', (t) => {
  const { pair, cke: k } = clientFlight();
  feed(t, pair, 'server', plainRecord(22, k.body.subarray(0, 10)));
  feed(t, pair, 'server', plainRecord(21, Uint8Array.of(AlertLevel.warning, A.no_renegotiation)));
  feed(t, pair, 'server', plainRecord(22, k.body.subarray(10)));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('server: a warning alert between whole handshake messages goes on (RFC 5246 §7.2)', (t) => {
  const { pair, records } = clientFlight();
  const alert = plainRecord(21, Uint8Array.of(AlertLevel.warning, A.no_renegotiation));
  feed(t, pair, 'server', Buffer.concat([alert, joinRecordsRaw(records)]));
  assertAlive(t, pair, 'server');
  pair.drive();
  t.is(handshakePhase(pair.server.hs), 'connected');
});

// Client side

test('client: a ServerHello with a 33-byte session_id is decode_error or illegal_parameter', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteFirstMessage(flight, (sh) => hsMsg(2, [...Array.from(sh.subarray(4, 38)), 33, ...new Uint8Array(33).fill(1), ...Array.from(sh.subarray(39))]));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.decode_error, A.illegal_parameter]);
});

// Found by this probe and fixed: an extension-less ServerHello is valid TLS 1.2 syntax (RFC 5246 §7.4.1.3); for a client that
// requires secure renegotiation (RFC 5746 §4.1) and the extended master secret (RFC 7627 §5.2) the answer is
// handshake_failure. the shared codec threw protocol_version although 0x0303 is the version it offered.
test('client: a TLS 1.2 ServerHello without an extension block is handshake_failure, not protocol_version (RFC 5246 §7.4.1.3, RFC 5746 §4.1)', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteFirstMessage(flight, (sh) => {
    const sid = 4 + 2 + 32;
    return hsMsg(2, Array.from(sh.subarray(4, sid + 1 + sh[sid]! + 3)));
  });
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.handshake_failure]);
});

// Found by this probe and fixed: a ServerHello sent to a server is unexpected_message (RFC 5246 §7.4: the message is out of place),
// whatever its body; the codec threw first and answered protocol_version to the extension-less (RFC 5246) form.
test('server: an extension-less ServerHello where the ClientKeyExchange is expected is unexpected_message', (t) => {
  const { pair } = clientFlight();
  feed(t, pair, 'server', plainRecord(22, hsMsg(2, [3, 3, ...new Uint8Array(32), 0, 0xc0, 0x2b, 0])));
  assertFatal(t, pair, 'server', [A.unexpected_message]);
});

test('client: a NewSessionTicket the ServerHello did not announce is unexpected_message (RFC 5077 §3.3)', (t) => {
  // The server has no ticketer: no session_ticket in its ServerHello.
  const { pair, records } = clientFlight();
  feed(t, pair, 'server', joinRecordsRaw(records));
  pair.inbox.client.splice(0);
  t.is(handshakePhase(pair.client.hs), 'expectChangeCipherSpec');
  feed(t, pair, 'client', plainRecord(22, hsMsg(4, [0, 0, 0, 100, 0, 4, 1, 2, 3, 4])));
  assertFatal(t, pair, 'client', [A.unexpected_message]);
});

test('client: a CertificateRequest with an empty signature algorithm list is decode_error (RFC 5246 §7.4.4: <2..2^16-2>)', (t) => {
  const { pair, flight } = serverFlight();
  const cr = hsMsg(13, [1, 64, 0, 0, 0, 0]);
  const bad = rewriteMessages(flight, (m) => (m[0] === 14 ? Buffer.concat([cr, m]) : m));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.decode_error]);
});

test('client: a CertificateRequest with no certificate types is decode_error (RFC 5246 §7.4.4: <1..2^8-1>)', (t) => {
  const { pair, flight } = serverFlight();
  const cr = hsMsg(13, [0, 0, 2, 4, 3, 0, 0]);
  const bad = rewriteMessages(flight, (m) => (m[0] === 14 ? Buffer.concat([cr, m]) : m));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.decode_error]);
});

test('client: a ServerHello renegotiation_info with content is handshake_failure (RFC 5746 §3.4)', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => withExt(exts, X.renegotiation_info, [12, ...new Uint8Array(12)])));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.handshake_failure, A.illegal_parameter]);
});

test('client: a ServerHello ec_point_formats without uncompressed is illegal_parameter (RFC 8422 §5.2)', (t) => {
  const { pair, flight } = serverFlight();
  const bad = rewriteFirstMessage(flight, (sh) => editHelloExtensions(sh, (exts) => withExt(exts, X.ec_point_formats, [1, 2])));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.illegal_parameter]);
});

test('client: a ServerKeyExchange ECPoint of the wrong length for X25519 is rejected (RFC 8422 §5.4)', (t) => {
  // The signature covers the bad point, so a correct implementation must reject the point itself, not the signature.
  const { pair, flight } = serverFlight({ groups: ['x25519'] });
  const bad = rewriteMessages(flight, (m) => {
    if (m[0] !== 12) return m;
    const l = skeLayout(m);
    return hsMsg(12, [...Array.from(m.subarray(4, l.group + 2)), 31, ...Array.from(m.subarray(l.group + 3, l.scheme - 1)), ...Array.from(m.subarray(l.scheme))]);
  });
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.illegal_parameter, A.decode_error, A.decrypt_error]);
});

test('DTLS 1.3: a ClientHello with a non-empty legacy_cookie is illegal_parameter (RFC 9147 §5.3)', (t) => {
  const { hello, server } = helloAndServer({});
  const m = helloBody(hello);
  let o = 2 + 32;
  o += 1 + m.body[o]!;
  t.is(m.body[o], 0);
  const body = Uint8Array.from([...Array.from(m.body.subarray(0, o)), 4, 1, 2, 3, 4, ...Array.from(m.body.subarray(o + 1))]);
  const rec = dtlsFragmentRecord(hello, 0, { type: m.type, length: body.length, msgSeq: m.msgSeq, offset: 0, body });
  const r = runServer(t, server, [rec]);
  t.deepEqual(r.alerts, [A.illegal_parameter]);
  t.true(isDtlsClosed(r.state));
});

// ---------------------------------------------------------------------------------------------------------------
// Resumption and the extended master secret (RFC 7627 §5.3, RFC 5077)

const sessionsOf = (pair: Pair): TlsSession[] => pair.effects.client.flatMap((e) => (e.type === 'session' ? [e.session] : []));

// Found by this probe and fixed: RFC 7627 §5.3: "If the original session used the extended master secret but the new ServerHello does
// not contain the extension, the client MUST abort the handshake" (handshake_failure). With
// requireExtendedMasterSecret: false, rxtls checked the extension only for full handshakes: it resumes the EMS
// session from a non-EMS ServerHello and failed only later (here at the Finished, because the test edited the hello).
test('client: a resumed (EMS) session answered by a ServerHello without extended_master_secret is handshake_failure (RFC 7627 §5.3)', (t) => {
  const server = { ticketer: createTicketer(new Uint8Array(32).fill(9)) };
  const [session] = sessionsOf(new Pair(TLS12, server).start().drive());
  t.truthy(session);
  const pair = new Pair({ ...TLS12, session, requireExtendedMasterSecret: false }, { ...server, requireExtendedMasterSecret: false }).start().serverRound();
  const flight = Buffer.concat(pair.inbox.client.splice(0));
  const [sh] = splitMessages(splitRecords(flight)[0]!.body);
  t.true(helloExtensions(sh!).some((e) => e.type === X.extended_master_secret), 'the server resumed with EMS');
  const bad = rewriteFirstMessage(flight, (m) => editHelloExtensions(m, (exts) => exts.filter((e) => e.type !== X.extended_master_secret)));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.handshake_failure]);
});

test('client (default requireExtendedMasterSecret): a resumed session answered without extended_master_secret is handshake_failure', (t) => {
  const server = { ticketer: createTicketer(new Uint8Array(32).fill(9)) };
  const [session] = sessionsOf(new Pair(TLS12, server).start().drive());
  const pair = new Pair({ ...TLS12, session }, server).start().serverRound();
  const bad = rewriteFirstMessage(Buffer.concat(pair.inbox.client.splice(0)), (m) => editHelloExtensions(m, (exts) => exts.filter((e) => e.type !== X.extended_master_secret)));
  feed(t, pair, 'client', bad);
  assertFatal(t, pair, 'client', [A.handshake_failure]);
});

test('server: a resumption ClientHello without extended_master_secret for an EMS session gets a full handshake, not resumption (RFC 7627 §5.3)', (t) => {
  const server = { ticketer: createTicketer(new Uint8Array(32).fill(9)), requireExtendedMasterSecret: false };
  const [session] = sessionsOf(new Pair(TLS12, server).start().drive());
  t.truthy(session);
  const pair = new Pair({ ...TLS12, session }, server).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (m) => editHelloExtensions(m, (exts) => exts.filter((e) => e.type !== X.extended_master_secret)));
  feed(t, pair, 'server', hello);
  assertAlive(t, pair, 'server');
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange', 'a full handshake');
});

// ---------------------------------------------------------------------------------------------------------------
// DTLS 1.2 Finished under valid record protection

/** DTLS 1.2 records of a datagram: header fields and the raw record. */
function dtlsRecords(d: Uint8Array) {
  const out: { type: number; epoch: number; raw: Uint8Array; body: Uint8Array }[] = [];
  for (let o = 0; o + 13 <= d.length; ) {
    const len = (d[o + 11]! << 8) | d[o + 12]!;
    out.push({ type: d[o]!, epoch: (d[o + 3]! << 8) | d[o + 4]!, raw: d.subarray(o, o + 13 + len), body: d.subarray(o + 13, o + 13 + len) });
    o += 13 + len;
  }
  return out;
}

/** A DTLS 1.2 client and server stopped before the server reads the client's flight (CKE, CCS, Finished). */
function dtls12ClientFlight() {
  const tx = (effects: readonly DtlsEffect[]) => effects.filter((e) => e.type === 'transmit').map((e) => (e as { data: Uint8Array }).data);
  const c0 = handleDtlsEvents(createDtlsConnection(clientConfig(V12)), { type: 'start', now: NOW });
  let server = handleDtlsEvents(createDtlsConnection(serverConfig()), { type: 'start', now: NOW }).state;
  const s1 = handleDtlsEvents(server, { type: 'datagram', data: tx(c0.effects)[0]!, now: NOW + 1 });
  server = s1.state;
  let client = c0.state;
  const flight: Uint8Array[] = [];
  for (const d of tx(s1.effects)) {
    const step = handleDtlsEvents(client, { type: 'datagram', data: d, now: NOW + 2 });
    client = step.state;
    flight.push(...tx(step.effects));
  }
  const records = flight.flatMap(dtlsRecords);
  const fin = records.find((r) => r.epoch === 1)!;
  const cke = records.find((r) => r.epoch === 0 && r.type === 22)!;
  const ccs = records.find((r) => r.type === 20)!;
  // message_seq of the ClientKeyExchange; the Finished is the next one.
  const ckeSeq = (cke.body[4]! << 8) | cke.body[5]!;
  return { client, server, cke, ccs, fin, finSeq: ckeSeq + 1 };
}

for (const [name, verify, allowed] of [
  ['wrong verify_data', new Uint8Array(12), [A.decrypt_error]],
  ['a 13-byte verify_data', new Uint8Array(13), [A.decode_error]],
] as const) {
  test(`DTLS 1.2: an authentic client Finished with ${name} is fatal (${allowed.join('/')}; RFC 6347 §4.2.6 with RFC 5246 §7.4.9)`, (t) => {
    const f = dtls12ClientFlight();
    const frag = Uint8Array.from([20, ...u24(verify.length), ...u16(f.finSeq), 0, 0, 0, ...u24(verify.length), ...Array.from(verify)]);
    const forged = seal12({ ...f.client.write12!, seq: 0 }, 22, frag).bytes;
    const r = runServer(t, f.server, [Buffer.concat([f.cke.raw, f.ccs.raw, forged])], NOW + 3);
    t.deepEqual(r.alerts, [...allowed]);
    t.true(isDtlsClosed(r.state));
    // The genuine Finished is accepted from the same starting point (the probe is sound).
    const ok = runServer(t, f.server, [Buffer.concat([f.cke.raw, f.ccs.raw, f.fin.raw])], NOW + 3);
    t.deepEqual(ok.alerts, []);
    t.true(isDtlsConnected(ok.state));
  });
}

test('DTLS 1.2: a plaintext (epoch 0) application record after the handshake is dropped, not delivered', (t) => {
  const p = dtlsHandshake();
  const rec = Uint8Array.of(23, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 60, 0, 3, 0x61, 0x62, 0x63);
  const before = p.delivered.server.length;
  dtlsInput(t, p, 'server', rec);
  t.is(p.delivered.server.length, before);
  dtlsAlive(t, p, 'server');
});

// ---------------------------------------------------------------------------------------------------------------
// A ClientHello without an extension block (RFC 5246 §7.4.1.2 allows it)

/** The client's ClientHello with its extension block removed (the length too), and the suites replaced. */
function helloWithoutExtensions(suites: number[], server: Partial<TlsServerConfig>): { pair: Pair; hello: Uint8Array } {
  const pair = new Pair(TLS12, server).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (msg) => {
    const p = parseClientHello(msg);
    return hsMsg(1, [...Array.from(p.head), ...u16(suites.length * 2), ...suites.flatMap(u16), p.compression.length, ...p.compression]);
  });
  return { pair, hello };
}

test('a ClientHello without extensions: protocol_version from a TLS 1.3-only server, handshake_failure from a server requiring RFC 5746 / RFC 7627', (t) => {
  const only13 = helloWithoutExtensions([0xc02b, 0x1301], { minVersion: 'TLSv1.3' });
  feed(t, only13.pair, 'server', only13.hello);
  assertFatal(t, only13.pair, 'server', [A.protocol_version]);
  // No renegotiation_info and no SCSV: secure renegotiation missing.
  const plain = helloWithoutExtensions([0xc02b], {});
  feed(t, plain.pair, 'server', plain.hello);
  assertFatal(t, plain.pair, 'server', [A.handshake_failure]);
  // The SCSV stands for renegotiation_info; the extended master secret is still required by default.
  const scsv = helloWithoutExtensions([0xc02b, 0x00ff], {});
  feed(t, scsv.pair, 'server', scsv.hello);
  assertFatal(t, scsv.pair, 'server', [A.handshake_failure]);
});

test('a ClientHello without extensions but with the SCSV, to a server not requiring the extended master secret: read as TLS 1.2, refused for its implied SHA-1 signatures', (t) => {
  // RFC 5246 §7.4.1.4.1: without signature_algorithms the client is taken to accept {sha1, ecdsa} only, which
  // this server does not sign with: handshake_failure from the TLS 1.2 negotiation, not from the decoder.
  const { pair, hello } = helloWithoutExtensions([0xc02b, 0x00ff], { requireExtendedMasterSecret: false });
  feed(t, pair, 'server', hello);
  assertFatal(t, pair, 'server', [A.handshake_failure]);
  t.regex(pair.closedError('server')?.message ?? '', /signature algorithm/);
});
