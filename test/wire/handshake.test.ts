import test, { type ExecutionContext } from 'ava';
import { DecodeError } from '../../src/wire/reader.js';
import { Writer, encodeWith } from '../../src/wire/writer.js';
import { decodeAlert, encodeAlert } from '../../src/wire/tls/alert.js';
import { AlertDescription, AlertLevel, ExtensionType as X, HandshakeType, HRR_RANDOM } from '../../src/wire/tls/constants.js';
import {
  decodeHandshakeBody,
  decodeHandshakeBytes,
  encodeHandshake,
  encodeHandshakeBytes,
  extensionAllowedIn,
  pskBindersLength,
} from '../../src/wire/tls/handshake.js';
import type { ClientHello, HandshakeMessage, ServerHello, ServerHelloExtensions } from '../../src/wire/tls/messages.js';
import { concatBytes } from '../vectors/hex.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ---------------------------------------------------------------------------------------------------------------
// Vectors. Source: RFC 8448 "Example Handshake Traces for TLS 1.3", §3 (simple 1-RTT), §4 (resumed 0-RTT),
// §5 (HelloRetryRequest); each is the complete handshake message (4-byte header included) as printed there.

/** RFC 8448 §3, "ClientHello (192 octets)" plus header. */
const RFC8448_S3_CLIENT_HELLO = hex(`
  01 00 00 c0 03 03 cb 34 ec b1 e7 81 63 ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d 99 12 ec 18 a2 ef 62 83
  02 4d ec e7 00 00 06 13 01 13 03 13 02 01 00 00 91 00 00 00 0b 00 09 00 00 06 73 65 72 76 65 72 ff 01
  00 01 00 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 23 00 00 00 33 00
  26 00 24 00 1d 00 20 99 38 1d e5 60 e4 bd 43 d2 3d 8e 43 5a 7d ba fe b3 c0 6e 51 c1 3c ae 4d 54 13 69
  1e 52 9a af 2c 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03 05 03 06 03 02 03 08 04 08 05 08 06 04 01
  05 01 06 01 02 01 04 02 05 02 06 02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01`);

/** RFC 8448 §3, "ServerHello (86 octets)" plus header. */
const RFC8448_S3_SERVER_HELLO = hex(`
  02 00 00 56 03 03 a6 af 06 a4 12 18 60 dc 5e 6e 60 24 9c d3 4c 95 93 0c 8a c5 cb 14 34 da c1 55 77 2e
  d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d 00 20 c9 82 88 76 11 20 95 fe 66 76 2b db f7 c6 72 e1
  56 d6 cc 25 3b 83 3d f1 dd 69 b1 b0 4e 75 1f 0f 00 2b 00 02 03 04`);

/** RFC 8448 §3, the server's EncryptedExtensions. */
const RFC8448_S3_ENCRYPTED_EXTENSIONS = hex(`
  08 00 00 24 00 22 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 1c 00 02
  40 01 00 00 00 00`);

/** RFC 8448 §3, the server's NewSessionTicket. */
const RFC8448_S3_NEW_SESSION_TICKET = hex(`
  04 00 00 c9 00 00 00 1e fa d6 aa c5 02 00 00 00 b2 2c 03 5d 82 93 59 ee 5f f7 af 4e c9 00 00 00 00 26
  2a 64 94 dc 48 6d 2c 8a 34 cb 33 fa 90 bf 1b 00 70 ad 3c 49 88 83 c9 36 7c 09 a2 be 78 5a bc 55 cd 22
  60 97 a3 a9 82 11 72 83 f8 2a 03 a1 43 ef d3 ff 5d d3 6d 64 e8 61 be 7f d6 1d 28 27 db 27 9c ce 14 50
  77 d4 54 a3 66 4d 4e 6d a4 d2 9e e0 37 25 a6 a4 da fc d0 fc 67 d2 ae a7 05 29 51 3e 3d a2 67 7f a5 90
  6c 5b 3f 7d 8f 92 f2 28 bd a4 0d da 72 14 70 f9 fb f2 97 b5 ae a6 17 64 6f ac 5c 03 27 2e 97 07 27 c6
  21 a7 91 41 ef 5f 7d e6 50 5e 5b fb c3 88 e9 33 43 69 40 93 93 4a e4 d3 57 00 08 00 2a 00 04 00 00 04
  00`);

/** RFC 8448 §4, the resumed ClientHello with binders (512 octets; "ClientHello (partial)" is its first 477). */
const RFC8448_S4_CLIENT_HELLO = hex(`
  01 00 01 fc 03 03 1b c3 ce b6 bb e3 9c ff 93 83 55 b5 a5 0a db 6d b2 1b 7a 6a f6 49 d7 b4 bc 41 9d 78
  76 48 7d 95 00 00 06 13 01 13 03 13 02 01 00 01 cd 00 00 00 0b 00 09 00 00 06 73 65 72 76 65 72 ff 01
  00 01 00 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 33 00 26 00 24 00
  1d 00 20 e4 ff b6 8a c0 5f 8d 96 c9 9d a2 66 98 34 6c 6b e1 64 82 ba dd da fe 05 1a 66 b4 f1 8d 66 8f
  0b 00 2a 00 00 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03 05 03 06 03 02 03 08 04 08 05 08 06 04 01
  05 01 06 01 02 01 04 02 05 02 06 02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01 00 15 00 57 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 29 00 dd 00 b8 00 b2 2c 03 5d 82 93 59 ee 5f f7 af 4e
  c9 00 00 00 00 26 2a 64 94 dc 48 6d 2c 8a 34 cb 33 fa 90 bf 1b 00 70 ad 3c 49 88 83 c9 36 7c 09 a2 be
  78 5a bc 55 cd 22 60 97 a3 a9 82 11 72 83 f8 2a 03 a1 43 ef d3 ff 5d d3 6d 64 e8 61 be 7f d6 1d 28 27
  db 27 9c ce 14 50 77 d4 54 a3 66 4d 4e 6d a4 d2 9e e0 37 25 a6 a4 da fc d0 fc 67 d2 ae a7 05 29 51 3e
  3d a2 67 7f a5 90 6c 5b 3f 7d 8f 92 f2 28 bd a4 0d da 72 14 70 f9 fb f2 97 b5 ae a6 17 64 6f ac 5c 03
  27 2e 97 07 27 c6 21 a7 91 41 ef 5f 7d e6 50 5e 5b fb c3 88 e9 33 43 69 40 93 93 4a e4 d3 57 fa d6 aa
  cb 00 21 20 3a dd 4f b2 d8 fd f8 22 a0 ca 3c f7 67 8e f5 e8 8d ae 99 01 41 c5 92 4d 57 bb 6f a3 1b 9e
  5f 9d`);

/** RFC 8448 §5, the HelloRetryRequest (selects secp256r1, carries a cookie). */
const RFC8448_S5_HELLO_RETRY_REQUEST = hex(`
  02 00 00 ac 03 03 cf 21 ad 74 e5 9a 61 11 be 1d 8c 02 1e 65 b8 91 c2 a2 11 16 7a bb 8c 5e 07 9e 09 e2
  c8 a8 33 9c 00 13 01 00 00 84 00 33 00 02 00 17 00 2c 00 74 00 72 71 dc d0 4b b8 8b c3 18 91 19 39 8a
  00 00 00 00 ee fa fc 76 c1 46 b8 23 b0 96 f8 aa ca d3 65 dd 00 30 95 3f 4e df 62 56 36 e5 f2 1b b2 e2
  3f cc 65 4b 1b 5b 40 31 8d 10 d1 37 ab cb b8 75 74 e3 6e 8a 1f 02 5f 7d fa 5d 6e 50 78 1b 5e da 4a a1
  5b 0c 8b e7 78 25 7d 16 aa 30 30 e9 e7 84 1d d9 e4 c0 34 22 67 e8 ca 0c af 57 1f b2 b7 cf f0 f9 34 b0
  00 2b 00 02 03 04`);

/** The RFC 8448 ClientHellos' signature_algorithms, in wire order. */
const RFC8448_SIGNATURE_ALGORITHMS = [
  0x0403, 0x0503, 0x0603, 0x0203, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201, 0x0402, 0x0502, 0x0602,
  0x0202,
];
const RFC8448_GROUPS = [0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104];

// ---------------------------------------------------------------------------------------------------------------
// Helpers to build malformed messages

/** One extension: type, then its data with a u16 length. */
const ext = (type: number, data: Uint8Array | number[] = []): Uint8Array =>
  encodeWith((w) => w.u16(type).vec16(Uint8Array.from(data)));
const u16s = (...v: number[]): number[] => v.flatMap((x) => [x >> 8, x & 0xff]);
/** `vec16` of u16 values, as extension data. */
const list16 = (...v: number[]): number[] => [...u16s(v.length * 2), ...u16s(...v)];

const SUPPORTED_VERSIONS_13 = ext(X.supported_versions, [2, 0x03, 0x04]);
const SERVER_SUPPORTED_VERSION_13 = ext(X.supported_versions, u16s(0x0304));

/** A ClientHello body with the given extension blocks (suite 0x1301, null compression, empty session id). */
const clientHelloBody = (...exts: Uint8Array[]): Uint8Array =>
  encodeWith((w) => {
    w.u16(0x0303).bytes(new Uint8Array(32)).vec8(new Uint8Array(0)).vec16(Uint8Array.of(0x13, 0x01)).vec8(Uint8Array.of(0));
    w.vec16(concatBytes(...exts));
  });
const serverHelloBody = (random: Uint8Array, ...exts: Uint8Array[]): Uint8Array =>
  encodeWith((w) => {
    w.u16(0x0303).bytes(random).vec8(new Uint8Array(0)).u16(0x1301).u8(0);
    w.vec16(concatBytes(...exts));
  });
const extensionsBody = (...exts: Uint8Array[]): Uint8Array => encodeWith((w) => w.vec16(concatBytes(...exts)));

function throwsAlert(t: ExecutionContext, f: () => unknown, alert: number): void {
  const err = t.throws(f, { instanceOf: DecodeError });
  t.is(err?.alert, alert, err?.message);
}

/** A well-formed modern ClientHello value for encoder tests. */
const baseHello = (extra: Partial<ClientHello['extensions']> = {}): ClientHello => ({
  random: new Uint8Array(32).fill(7),
  legacySessionId: new Uint8Array(0),
  cipherSuites: [0x1301],
  legacyCompressionMethods: Uint8Array.of(0),
  extensions: {
    supportedVersions: [0x0304],
    keyShares: [{ group: 0x1d, keyExchange: new Uint8Array(32).fill(1) }],
    unknown: [],
    order: [],
    ...extra,
  },
});

/**
 * Decode `bytes` as one handshake message of `type` (the test fails otherwise), let `check` look at it, then
 * check that it re-encodes to `bytes` byte for byte.
 */
function roundTrip<K extends HandshakeMessage['type']>(
  t: ExecutionContext,
  bytes: Uint8Array,
  type: K,
  check: (msg: Extract<HandshakeMessage, { type: K }>) => void,
): void {
  const msg = decodeHandshakeBytes(bytes);
  if (msg.type !== type) return void t.fail(msg.type);
  check(msg as Extract<HandshakeMessage, { type: K }>);
  t.is(toHex(encodeHandshakeBytes(msg)), toHex(bytes));
}

// ---------------------------------------------------------------------------------------------------------------
// RFC 8448 vectors

test('RFC 8448 §3: ClientHello decodes to its fields and re-encodes byte for byte', (t) => {
  roundTrip(t, RFC8448_S3_CLIENT_HELLO, 'client_hello', ({ body: ch }) => {
    t.is(ch.legacyVersion, 0x0303);
    t.is(toHex(ch.random), 'cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7');
    t.is(ch.legacySessionId.length, 0);
    t.deepEqual(ch.cipherSuites, [0x1301, 0x1303, 0x1302]);
    t.deepEqual([...ch.legacyCompressionMethods], [0]);
    const e = ch.extensions;
    t.is(e.serverName, 'server');
    t.deepEqual(e.supportedGroups, RFC8448_GROUPS);
    t.is(e.keyShares?.length, 1);
    t.is(e.keyShares?.[0]?.group, 0x001d);
    t.is(toHex(e.keyShares![0]!.keyExchange), '99381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c');
    t.deepEqual(e.supportedVersions, [0x0304]);
    t.deepEqual(e.signatureAlgorithms, RFC8448_SIGNATURE_ALGORITHMS);
    t.deepEqual(e.pskKeyExchangeModes, [1]);
    t.is(e.recordSizeLimit, 0x4001);
    t.is(e.preSharedKey, undefined);
    t.is(e.earlyData, undefined);
    // renegotiation_info (empty RenegotiationInfo) and session_ticket are TLS 1.2 extensions: kept opaque.
    t.deepEqual(
      e.unknown.map((u) => [u.type, toHex(u.data)]),
      [
        [X.renegotiation_info, '00'],
        [X.session_ticket, ''],
      ],
    );
    t.deepEqual(e.order, [0, 0xff01, 10, 35, 51, 43, 13, 45, 28]);
  });
});

test('RFC 8448 §3: ServerHello decodes to its fields and re-encodes byte for byte', (t) => {
  roundTrip(t, RFC8448_S3_SERVER_HELLO, 'server_hello', ({ body: sh }) => {
    t.is(sh.legacyVersion, 0x0303);
    t.is(toHex(sh.random), 'a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e26928');
    t.is(sh.legacySessionIdEcho.length, 0);
    t.is(sh.cipherSuite, 0x1301);
    t.is(sh.legacyCompressionMethod, 0);
    t.is(sh.extensions.supportedVersion, 0x0304);
    t.is(sh.extensions.keyShare?.group, 0x001d);
    t.is(toHex(sh.extensions.keyShare!.keyExchange), 'c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f');
    t.is(sh.extensions.selectedGroup, undefined);
    t.is(sh.extensions.preSharedKey, undefined);
    t.deepEqual(sh.extensions.unknown, []);
    t.deepEqual(sh.extensions.order, [X.key_share, X.supported_versions]);
  });
});

test('RFC 8448 §3: EncryptedExtensions (groups, record_size_limit, empty server_name ack)', (t) => {
  roundTrip(t, RFC8448_S3_ENCRYPTED_EXTENSIONS, 'encrypted_extensions', (msg) => {
    t.deepEqual(msg.body.supportedGroups, RFC8448_GROUPS);
    t.is(msg.body.recordSizeLimit, 0x4001);
    t.is(msg.body.serverNameAck, true);
    t.is(msg.body.alpn, undefined);
    t.deepEqual(msg.body.order, [X.supported_groups, X.record_size_limit, X.server_name]);
  });
});

test('RFC 8448 §3: NewSessionTicket with early_data max_early_data_size 1024', (t) => {
  roundTrip(t, RFC8448_S3_NEW_SESSION_TICKET, 'new_session_ticket', (msg) => {
    t.is(msg.body.lifetime, 30);
    t.is(msg.body.ageAdd, 0xfad6aac5);
    t.is(toHex(msg.body.nonce), '0000');
    t.is(msg.body.ticket.length, 178);
    t.is(msg.body.maxEarlyDataSize, 1024);
    t.deepEqual(msg.body.unknown, []);
  });
});

test('RFC 8448 §4: resumed ClientHello with PSK; binders are the last pskBindersLength bytes', (t) => {
  const msg = decodeHandshakeBytes(RFC8448_S4_CLIENT_HELLO);
  if (msg.type !== 'client_hello') return t.fail(msg.type);
  const e = msg.body.extensions;
  const psk = e.preSharedKey!;
  t.is(psk.identities.length, 1);
  t.is(psk.identities[0]!.identity.length, 178);
  t.is(psk.identities[0]!.obfuscatedTicketAge, 0xfad6aacb);
  t.is(psk.binders.length, 1);
  t.is(toHex(psk.binders[0]!), '3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d');
  t.is(e.earlyData, true);
  t.deepEqual(e.pskKeyExchangeModes, [1]);
  t.is(e.unknown.find((u) => u.type === X.padding)?.data.length, 87);
  t.is(e.order.at(-1), X.pre_shared_key);
  t.is(pskBindersLength(psk), 35);
  // RFC 8448 §4 prints "ClientHello (477 octets)" as the partial hello the binder is computed over.
  t.is(RFC8448_S4_CLIENT_HELLO.length - pskBindersLength(psk), 477);
  const encoded = encodeHandshakeBytes(msg);
  t.is(toHex(encoded), toHex(RFC8448_S4_CLIENT_HELLO));
  t.is(toHex(encoded.subarray(477)), '0021203add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d');
});

test('RFC 8448 §5: HelloRetryRequest decodes key_share as selectedGroup, with cookie', (t) => {
  roundTrip(t, RFC8448_S5_HELLO_RETRY_REQUEST, 'server_hello', ({ body: hrr }) => {
    t.deepEqual([...hrr.random], [...HRR_RANDOM]);
    t.is(hrr.cipherSuite, 0x1301);
    t.is(hrr.extensions.selectedGroup, 0x0017);
    t.is(hrr.extensions.keyShare, undefined);
    t.is(hrr.extensions.cookie?.length, 114);
    t.is(toHex(hrr.extensions.cookie!.subarray(0, 4)), '71dcd04b');
    t.is(hrr.extensions.supportedVersion, 0x0304);
    t.deepEqual(hrr.extensions.order, [X.key_share, X.cookie, X.supported_versions]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// RFC 8446 §4.2 extension rules

test('a duplicated extension is illegal_parameter (RFC 8446 §4.2)', (t) => {
  const sni = ext(X.server_name, [0, 4, 0, 0, 1, 0x61]);
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.client_hello, clientHelloBody(sni, SUPPORTED_VERSIONS_13, sni)), 47);
  // Unknown code points count too, in every block.
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.encrypted_extensions, extensionsBody(ext(0x1234), ext(0x1234))), 47);
  const cert = encodeWith((w) => {
    w.vec8(new Uint8Array(0));
    w.vec24((w) => w.vec24(Uint8Array.of(0x30)).vec16(concatBytes(ext(X.status_request, [1]), ext(X.status_request, [1]))));
  });
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.certificate, cert), 47);
});

test('an extension in a message the RFC 8446 §4.2 table does not allow is illegal_parameter', (t) => {
  const random = new Uint8Array(32).fill(9);
  // cookie belongs to HelloRetryRequest, not ServerHello; pre_shared_key to ServerHello, not HelloRetryRequest.
  throwsAlert(
    t,
    () => decodeHandshakeBody(HandshakeType.server_hello, serverHelloBody(random, SERVER_SUPPORTED_VERSION_13, ext(X.cookie, [0, 1, 5]))),
    47,
  );
  throwsAlert(
    t,
    () => decodeHandshakeBody(HandshakeType.server_hello, serverHelloBody(HRR_RANDOM, SERVER_SUPPORTED_VERSION_13, ext(X.pre_shared_key, [0, 0]))),
    47,
  );
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.encrypted_extensions, extensionsBody(ext(X.key_share, [0, 0x1d, 0, 1, 9]))), 47);
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.encrypted_extensions, extensionsBody(ext(X.padding, [0]))), 47);
  const crBody = encodeWith((w) => w.vec8(new Uint8Array(0)).vec16(concatBytes(ext(X.signature_algorithms, list16(0x0804)), ext(X.early_data))));
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.certificate_request, crBody), 47);
  const nstBody = encodeWith((w) => w.u32(1).u32(2).vec8(new Uint8Array(0)).vec16(Uint8Array.of(1)).vec16(SUPPORTED_VERSIONS_13));
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.new_session_ticket, nstBody), 47);
  const cert = encodeWith((w) => {
    w.vec8(new Uint8Array(0));
    w.vec24((w) => w.vec24(Uint8Array.of(0x30)).vec16(ext(X.signature_algorithms, list16(0x0804))));
  });
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.certificate, cert), 47);
  t.true(extensionAllowedIn(X.oid_filters, 'certificate_request'));
  t.false(extensionAllowedIn(X.oid_filters, 'client_hello'));
  t.true(extensionAllowedIn(0xfe0d, 'encrypted_extensions'));
});

test('pre_shared_key that is not the last ClientHello extension is illegal_parameter (RFC 8446 §4.2.11)', (t) => {
  const psk = ext(X.pre_shared_key, [0, 7, 0, 1, 0xaa, 0, 0, 0, 0, 0, 33, 32, ...new Array<number>(32).fill(1)]);
  const ok = decodeHandshakeBody(HandshakeType.client_hello, clientHelloBody(SUPPORTED_VERSIONS_13, psk));
  t.is(ok.type === 'client_hello' && ok.body.extensions.preSharedKey?.identities[0]?.identity[0], 0xaa);
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.client_hello, clientHelloBody(psk, SUPPORTED_VERSIONS_13)), 47);
});

test('PSK identities and binders: bounds and equal counts', (t) => {
  const id = [0, 1, 0xaa, 0, 0, 0, 0];
  const binder = (n: number): number[] => [n, ...new Array<number>(n).fill(1)];
  const psk = (ids: number[], binders: number[]): Uint8Array =>
    ext(X.pre_shared_key, [...u16s(ids.length), ...ids, ...u16s(binders.length), ...binders]);
  const decode = (p: Uint8Array) => () => decodeHandshakeBody(HandshakeType.client_hello, clientHelloBody(SUPPORTED_VERSIONS_13, p));
  throwsAlert(t, decode(psk(id, binder(31))), 50); // binder below 32 bytes
  throwsAlert(t, decode(psk([], binder(32))), 50); // no identities
  throwsAlert(t, decode(psk(id, [])), 50); // no binders
  throwsAlert(t, decode(psk(id, [...binder(32), ...binder(32)])), 47); // 1 identity, 2 binders
  throwsAlert(t, decode(psk([0, 0, 0, 0, 0, 0, 0], binder(32))), 50); // empty identity
});

test('EncryptedExtensions: ALPN must carry exactly one protocol (RFC 7301 §3.1)', (t) => {
  const alpn = (...names: string[]): Uint8Array => {
    const list = names.flatMap((n) => [n.length, ...Buffer.from(n, 'latin1')]);
    return ext(X.application_layer_protocol_negotiation, [...u16s(list.length), ...list]);
  };
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.encrypted_extensions, extensionsBody(alpn('h2', 'http/1.1'))), 47);
  const one = decodeHandshakeBody(HandshakeType.encrypted_extensions, extensionsBody(alpn('h2')));
  t.is(one.type === 'encrypted_extensions' ? one.body.alpn : undefined, 'h2');
  // In a ClientHello the list may hold several names; an empty name or list is decode_error.
  const ch = decodeHandshakeBody(HandshakeType.client_hello, clientHelloBody(SUPPORTED_VERSIONS_13, alpn('h2', 'http/1.1')));
  t.deepEqual(ch.type === 'client_hello' ? ch.body.extensions.alpn : undefined, ['h2', 'http/1.1']);
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.client_hello, clientHelloBody(SUPPORTED_VERSIONS_13, alpn('h2', ''))), 50);
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.client_hello, clientHelloBody(SUPPORTED_VERSIONS_13, alpn())), 50);
  t.throws(() => encodeHandshakeBytes({ type: 'encrypted_extensions', body: { alpn: '', unknown: [], order: [] } }), {
    instanceOf: RangeError,
  });
});

test('server_name: one ASCII host_name in ClientHello, empty acknowledgement in EncryptedExtensions', (t) => {
  const sni = (type: number, name: number[]): Uint8Array =>
    ext(X.server_name, [...u16s(name.length + 3), type, ...u16s(name.length), ...name]);
  const decode = (e: Uint8Array) => () => decodeHandshakeBody(HandshakeType.client_hello, clientHelloBody(SUPPORTED_VERSIONS_13, e));
  const ok = decode(sni(0, [...Buffer.from('example.com')]))();
  t.is(ok.type === 'client_hello' ? ok.body.extensions.serverName : undefined, 'example.com');
  throwsAlert(t, decode(sni(0, [0x65, 0xc3, 0xa9])), 50); // not ASCII
  throwsAlert(t, decode(sni(1, [0x65])), 50); // unknown NameType
  throwsAlert(t, decode(sni(0, [])), 50); // empty HostName
  throwsAlert(t, decode(ext(X.server_name, [0, 0])), 50); // empty ServerNameList
  throwsAlert(t, decode(ext(X.server_name, [0, 8, 0, 0, 1, 0x61, 0, 0, 1, 0x62])), 50); // two host_names
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.encrypted_extensions, extensionsBody(ext(X.server_name, [0]))), 50);
  t.throws(() => encodeHandshakeBytes({ type: 'client_hello', body: baseHello({ serverName: 'bücher.example' }) }), {
    instanceOf: RangeError,
  });
});

test('ClientHello vector bounds are decode_error', (t) => {
  const body = (f: (w: Writer) => void): Uint8Array => encodeWith(f);
  const rest = (w: Writer): void => {
    w.vec8(Uint8Array.of(0)).vec16(SUPPORTED_VERSIONS_13);
  };
  const decode = (b: Uint8Array) => () => decodeHandshakeBody(HandshakeType.client_hello, b);
  // legacy_session_id of 33 bytes
  throwsAlert(t, decode(body((w) => (w.u16(0x303).bytes(new Uint8Array(32)).vec8(new Uint8Array(33)).vec16(Uint8Array.of(0x13, 1)), rest(w)))), 50);
  // empty and odd-length cipher_suites
  throwsAlert(t, decode(body((w) => (w.u16(0x303).bytes(new Uint8Array(32)).vec8(new Uint8Array(0)).vec16(new Uint8Array(0)), rest(w)))), 50);
  throwsAlert(t, decode(body((w) => (w.u16(0x303).bytes(new Uint8Array(32)).vec8(new Uint8Array(0)).vec16(Uint8Array.of(0x13, 1, 0x13)), rest(w)))), 50);
  // empty legacy_compression_methods
  throwsAlert(
    t,
    decode(body((w) => w.u16(0x303).bytes(new Uint8Array(32)).vec8(new Uint8Array(0)).vec16(Uint8Array.of(0x13, 1)).vec8(new Uint8Array(0)).vec16(SUPPORTED_VERSIONS_13))),
    50,
  );
  // supported_versions: odd length, empty
  throwsAlert(t, decode(clientHelloBody(ext(X.supported_versions, [3, 3, 4, 3]), ext(0x1234, [1, 2]))), 50);
  throwsAlert(t, decode(clientHelloBody(ext(X.supported_versions, [0]), ext(0x1234, [1, 2, 3, 4]))), 50);
  // signature_algorithms / supported_groups empty
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.signature_algorithms, [0, 0]))), 50);
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.supported_groups, [0, 0]))), 50);
  // key_share entry with empty key_exchange; two shares for one group
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.key_share, [0, 4, 0, 0x1d, 0, 0]))), 50);
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.key_share, [0, 10, 0, 0x1d, 0, 1, 7, 0, 0x1d, 0, 1, 8]))), 47);
  // empty client_shares is allowed (the client may wait for HelloRetryRequest)
  const noShares = decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.key_share, [0, 0])))();
  t.deepEqual(noShares.type === 'client_hello' ? noShares.body.extensions.keyShares : undefined, []);
  // psk_key_exchange_modes empty; cookie empty; early_data with data
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.psk_key_exchange_modes, [0]))), 50);
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.cookie, [0, 0]))), 50);
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.early_data, [0]))), 50);
  // a TLS 1.3 extension block below its 8-byte minimum
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13)), 50);
  // record_size_limit below 64 (RFC 8449 §4)
  throwsAlert(t, decode(clientHelloBody(SUPPORTED_VERSIONS_13, ext(X.record_size_limit, u16s(63)))), 47);
  // random shorter than 32 bytes
  throwsAlert(t, decode(new Uint8Array([3, 3, 1, 2, 3])), 50);
});

test('RFC 9147 §5.3: the DTLS form of the ClientHello carries legacy_cookie after legacy_session_id', (t) => {
  const tls = (decodeHandshakeBytes(RFC8448_S3_CLIENT_HELLO) as { body: ClientHello }).body;
  const body: ClientHello = { ...tls, legacyVersion: undefined, legacySessionId: Uint8Array.of(7, 7), legacyCookie: Uint8Array.of(1, 2, 3) };
  const dtls = encodeHandshakeBytes({ type: 'client_hello', body }, 'dtls');
  // legacy_version defaults to 0xfefd, then random, legacy_session_id<0..32>, legacy_cookie<0..2^8-1>.
  t.is(toHex(dtls.subarray(4, 6)), 'fefd');
  t.is(toHex(dtls.subarray(38, 45)), '020707' + '03010203');
  t.is(dtls.length, RFC8448_S3_CLIENT_HELLO.length + 2 + 4);
  const back = decodeHandshakeBytes(dtls, 'dtls');
  if (back.type !== 'client_hello') return t.fail();
  t.is(back.body.legacyVersion, 0xfefd);
  t.deepEqual(back.body.legacyCookie, Uint8Array.of(1, 2, 3));
  t.deepEqual(back.body.extensions.order, tls.extensions.order);
  t.is(toHex(encodeHandshakeBytes(back, 'dtls')), toHex(dtls));
  // Absent, legacy_cookie is written empty; the TLS form has none and refuses one.
  const empty = encodeHandshakeBytes({ type: 'client_hello', body: { ...tls, legacyVersion: undefined } }, 'dtls');
  t.is(empty[39], 0);
  t.deepEqual((decodeHandshakeBytes(empty, 'dtls') as { body: ClientHello }).body.legacyCookie, new Uint8Array(0));
  t.throws(() => encodeHandshakeBytes({ type: 'client_hello', body }), { instanceOf: RangeError, message: /legacy_cookie/ });
  t.throws(() => encodeHandshakeBytes({ type: 'client_hello', body: { ...body, legacyCookie: new Uint8Array(256) } }, 'dtls'), { instanceOf: RangeError });
  // Read in the wrong form, the bytes do not decode.
  t.throws(() => decodeHandshakeBytes(dtls), { instanceOf: DecodeError });
  t.throws(() => decodeHandshakeBytes(RFC8448_S3_CLIENT_HELLO, 'dtls'), { instanceOf: DecodeError });
  // Other messages have one form for both.
  t.is(toHex(encodeHandshakeBytes(decodeHandshakeBytes(RFC8448_S3_SERVER_HELLO, 'dtls'), 'dtls')), toHex(RFC8448_S3_SERVER_HELLO));
});

test('RFC 5246 §7.4.1.2, §7.4.1.3: a ClientHello or ServerHello may end without an extension block (no extensions, so not TLS 1.3)', (t) => {
  const ch = encodeWith((w) => w.u16(0x0301).bytes(new Uint8Array(32)).vec8(new Uint8Array(0)).vec16(Uint8Array.of(0, 0x2f)).vec8(Uint8Array.of(0)));
  const hello = decodeHandshakeBody(HandshakeType.client_hello, ch) as { body: ClientHello };
  t.deepEqual(hello.body.cipherSuites, [0x2f]);
  t.deepEqual(hello.body.extensions, { unknown: [], order: [] });
  const sh = encodeWith((w) => w.u16(0x0303).bytes(new Uint8Array(32)).vec8(new Uint8Array(0)).u16(0x2f).u8(0));
  const server = decodeHandshakeBody(HandshakeType.server_hello, sh) as { body: ServerHello };
  t.is(server.body.cipherSuite, 0x2f);
  t.deepEqual(server.body.extensions, { unknown: [], order: [] });
});

test('a TLS 1.2 ServerHello (no supported_versions) keeps its extensions opaque', (t) => {
  const alpn = ext(X.application_layer_protocol_negotiation, [0, 3, 2, 0x68, 0x32]);
  const reneg = ext(X.renegotiation_info, [0]);
  const msg = decodeHandshakeBody(HandshakeType.server_hello, serverHelloBody(new Uint8Array(32).fill(3), reneg, alpn));
  if (msg.type !== 'server_hello') return t.fail(msg.type);
  t.is(msg.body.extensions.supportedVersion, undefined);
  t.deepEqual(
    msg.body.extensions.unknown.map((u) => u.type),
    [X.renegotiation_info, X.application_layer_protocol_negotiation],
  );
  t.is(toHex(encodeHandshakeBytes(msg).subarray(4)), toHex(serverHelloBody(new Uint8Array(32).fill(3), reneg, alpn)));
});

test('HelloRetryRequest: key_share is a bare NamedGroup; ServerHello key_share is a KeyShareEntry', (t) => {
  const hrr = decodeHandshakeBody(HandshakeType.server_hello, serverHelloBody(HRR_RANDOM, SERVER_SUPPORTED_VERSION_13, ext(X.key_share, u16s(0x1d))));
  t.is(hrr.type === 'server_hello' ? hrr.body.extensions.selectedGroup : undefined, 0x1d);
  // A KeyShareEntry in an HRR has 2 trailing bytes after the group: decode_error.
  throwsAlert(
    t,
    () => decodeHandshakeBody(HandshakeType.server_hello, serverHelloBody(HRR_RANDOM, SERVER_SUPPORTED_VERSION_13, ext(X.key_share, [0, 0x1d, 0, 1, 5]))),
    50,
  );
  // …and a bare group in a ServerHello is truncated.
  throwsAlert(
    t,
    () => decodeHandshakeBody(HandshakeType.server_hello, serverHelloBody(new Uint8Array(32), SERVER_SUPPORTED_VERSION_13, ext(X.key_share, u16s(0x1d)))),
    50,
  );
  /** A HelloRetryRequest (TLS_AES_256_GCM_SHA384, empty session id) with `extensions`. */
  const retryRequest = (extensions: ServerHelloExtensions): HandshakeMessage => ({
    type: 'server_hello',
    body: { random: HRR_RANDOM, legacySessionIdEcho: new Uint8Array(0), cipherSuite: 0x1302, legacyCompressionMethod: 0, extensions },
  });
  const encoded = encodeHandshakeBytes(retryRequest({ supportedVersion: 0x0304, selectedGroup: 0x17, cookie: Uint8Array.of(1, 2), unknown: [], order: [] }));
  t.is(toHex(encoded.subarray(4 + 2 + 32 + 1 + 3)), '0014' + '002b00020304' + '003300020017' + '002c000400020102');
  t.throws(() => encodeHandshakeBytes(retryRequest({ supportedVersion: 0x0304, keyShare: { group: 0x1d, keyExchange: Uint8Array.of(1) }, unknown: [], order: [] })), {
    instanceOf: RangeError,
  });
});

test('other messages: CertificateRequest needs signature_algorithms, KeyUpdate is 0 or 1, Finished non-empty', (t) => {
  const crNoSig = encodeWith((w) => w.vec8(Uint8Array.of(1)).vec16(ext(0x1234)));
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.certificate_request, crNoSig), 109);
  const cr = decodeHandshakeBody(
    HandshakeType.certificate_request,
    encodeWith((w) => w.vec8(Uint8Array.of(1)).vec16(concatBytes(ext(X.certificate_authorities, [0, 4, 0, 2, 0x30, 0]), ext(X.signature_algorithms, list16(0x0807, 0x0403))))),
  );
  if (cr.type !== 'certificate_request') return t.fail(cr.type);
  t.deepEqual(cr.body.signatureAlgorithms, [0x0807, 0x0403]);
  t.deepEqual(cr.body.certificateAuthorities?.map(toHex), ['3000']);
  t.deepEqual([...cr.body.context], [1]);

  t.deepEqual(decodeHandshakeBody(HandshakeType.key_update, Uint8Array.of(1)), { type: 'key_update', body: { requestUpdate: 1 } });
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.key_update, Uint8Array.of(2)), 47);
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.key_update, Uint8Array.of(0, 0)), 50);
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.finished, new Uint8Array(0)), 50);
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.end_of_early_data, Uint8Array.of(0)), 50);
  t.deepEqual(decodeHandshakeBody(HandshakeType.end_of_early_data, new Uint8Array(0)), { type: 'end_of_early_data' });
  // An empty cert_data is decode_error; an empty certificate_list is a valid "no certificate".
  throwsAlert(t, () => decodeHandshakeBody(HandshakeType.certificate, encodeWith((w) => w.vec8(new Uint8Array(0)).vec24((w) => w.vec24(new Uint8Array(0)).vec16(new Uint8Array(0))))), 50);
  t.deepEqual(decodeHandshakeBody(HandshakeType.certificate, Uint8Array.of(0, 0, 0, 0)), {
    type: 'certificate',
    body: { context: new Uint8Array(0), entries: [] },
  });
});

test('an unknown or never-sent msg_type is unexpected_message', (t) => {
  for (const type of [0, 3, 6, 12, HandshakeType.message_hash, 255]) {
    throwsAlert(t, () => decodeHandshakeBody(type, new Uint8Array(0)), 10);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Encoder

test('encodeHandshake writes msg_type and a u24 length before the body', (t) => {
  const verifyData = new Uint8Array(48).fill(0xab);
  const w = new Writer(4);
  w.u8(0xee);
  encodeHandshake(w, { type: 'finished', body: { verifyData } });
  const out = w.finish();
  t.is(toHex(out.subarray(0, 5)), 'ee14000030');
  t.is(out.length, 1 + 4 + 48);
  t.is(toHex(encodeHandshakeBytes({ type: 'key_update', body: { requestUpdate: 0 } })), '1800000100');
  t.is(toHex(encodeHandshakeBytes({ type: 'end_of_early_data' })), '05000000');
});

test('ClientHello encoder: default extension order with pre_shared_key last, after unknown ones', (t) => {
  const psk = { identities: [{ identity: Uint8Array.of(9), obfuscatedTicketAge: 5 }], binders: [new Uint8Array(48).fill(2)] };
  const msg: HandshakeMessage = {
    type: 'client_hello',
    body: baseHello({
      preSharedKey: psk,
      unknown: [{ type: 0x4469, data: Uint8Array.of(1) }],
      postHandshakeAuth: true,
      earlyData: true,
      cookie: Uint8Array.of(1),
      pskKeyExchangeModes: [1],
      serverName: 'a.example',
      supportedGroups: [0x1d],
      signatureAlgorithms: [0x0807],
      signatureAlgorithmsCert: [0x0807],
      alpn: ['h2'],
      recordSizeLimit: 16385,
    }),
  };
  const encoded = encodeHandshakeBytes(msg);
  const back = decodeHandshakeBytes(encoded);
  if (back.type !== 'client_hello') return t.fail(back.type);
  t.deepEqual(back.body.extensions.order, [0, 10, 13, 50, 16, 28, 43, 44, 45, 51, 42, 49, 0x4469, 41]);
  t.is(pskBindersLength(psk), 2 + 1 + 48);
  t.is(toHex(encoded.subarray(encoded.length - 51)), '0031' + '30' + '02'.repeat(48));
  t.is(back.body.legacyVersion, 0x0303);
  t.is(toHex(encodeHandshakeBytes(back)), toHex(encoded));
});

test('ClientHello encoder: an explicit order must list exactly the extensions present, pre_shared_key last', (t) => {
  const encode = (extra: Partial<ClientHello['extensions']>) => () =>
    encodeHandshakeBytes({ type: 'client_hello', body: baseHello(extra) });
  const explicit = decodeHandshakeBytes(encode({ order: [X.key_share, X.supported_versions] })());
  t.deepEqual(explicit.type === 'client_hello' ? explicit.body.extensions.order : undefined, [X.key_share, X.supported_versions]);
  t.throws(encode({ order: [X.key_share] }), { instanceOf: RangeError });
  t.throws(encode({ order: [X.key_share, X.supported_versions, X.cookie] }), { instanceOf: RangeError });
  t.throws(encode({ order: [X.key_share, X.key_share] }), { instanceOf: RangeError });
  const psk = { identities: [{ identity: Uint8Array.of(9), obfuscatedTicketAge: 5 }], binders: [new Uint8Array(32)] };
  t.throws(encode({ preSharedKey: psk, order: [X.pre_shared_key, X.key_share, X.supported_versions] }), {
    instanceOf: RangeError,
  });
  // Interpreted code points must use their typed field; an unknown one must be unique.
  t.throws(encode({ unknown: [{ type: X.cookie, data: Uint8Array.of(0, 1, 1) }] }), { instanceOf: RangeError });
  t.throws(
    encode({ unknown: [{ type: 0x5555, data: new Uint8Array(0) }, { type: 0x5555, data: new Uint8Array(0) }] }),
    { instanceOf: RangeError },
  );
  t.throws(encode({ unknown: [{ type: X.oid_filters, data: new Uint8Array(0) }] }), { instanceOf: RangeError });
  t.throws(encode({ keyShares: [] , supportedVersions: [0x0304], pskKeyExchangeModes: [] }), { instanceOf: RangeError });
  t.throws(encode({ recordSizeLimit: 63 }), { instanceOf: RangeError });
  t.throws(encode({ alpn: ['\u{1F600}'] }), { instanceOf: RangeError });
  t.throws(
    () => encodeHandshakeBytes({ type: 'client_hello', body: { ...baseHello(), cipherSuites: [] } }),
    { instanceOf: RangeError },
  );
  t.throws(
    () => encodeHandshakeBytes({ type: 'client_hello', body: { ...baseHello(), random: new Uint8Array(31) } }),
    { instanceOf: RangeError },
  );
});

test('encoder refuses extensions forbidden in the message, as unknown entries too', (t) => {
  t.throws(
    () => encodeHandshakeBytes({ type: 'encrypted_extensions', body: { unknown: [{ type: X.key_share, data: new Uint8Array(0) }], order: [] } }),
    { instanceOf: RangeError },
  );
  t.throws(
    () =>
      encodeHandshakeBytes({
        type: 'new_session_ticket',
        body: { lifetime: 1, ageAdd: 1, nonce: new Uint8Array(0), ticket: Uint8Array.of(1), unknown: [{ type: X.early_data, data: new Uint8Array(4) }] },
      }),
    { instanceOf: RangeError },
  );
  t.throws(
    () =>
      encodeHandshakeBytes({
        type: 'certificate',
        body: { context: new Uint8Array(0), entries: [{ cert: Uint8Array.of(1), extensions: [{ type: X.key_share, data: new Uint8Array(0) }] }] },
      }),
    { instanceOf: RangeError },
  );
  t.throws(
    () => encodeHandshakeBytes({ type: 'key_update', body: { requestUpdate: 2 as 0 } }),
    { instanceOf: RangeError },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Alerts (RFC 8446 §6)

test('alerts encode to two bytes and decode only from exactly two', (t) => {
  t.deepEqual([...encodeAlert(AlertLevel.fatal, AlertDescription.illegal_parameter)], [2, 47]);
  t.deepEqual(decodeAlert(Uint8Array.of(1, 0)), { level: AlertLevel.warning, description: AlertDescription.close_notify });
  t.deepEqual(decodeAlert(encodeAlert(2, 120)), { level: 2, description: 120 });
  throwsAlert(t, () => decodeAlert(Uint8Array.of(2)), 50);
  throwsAlert(t, () => decodeAlert(Uint8Array.of(2, 50, 0)), 50);
  throwsAlert(t, () => decodeAlert(new Uint8Array(0)), 50);
  t.throws(() => encodeAlert(2, 256), { instanceOf: RangeError });
  t.throws(() => encodeAlert(-1, 0), { instanceOf: RangeError });
});
