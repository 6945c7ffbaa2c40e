/**
 * Property tests of the TLS 1.2 codecs (RFC 5246 §7.4, RFC 8422 §5.4, §5.7, RFC 5077 §3.3, and the hello
 * extensions of RFC 7627, RFC 5746, RFC 8422, RFC 5077): round trip, arbitrary and mutated bytes, truncation,
 * trailing bytes; plus fixed encodings.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { DecodeError } from '../../src/wire/reader.js';
import { AlertDescription, ExtensionType as X, HandshakeType } from '../../src/wire/tls/constants.js';
import {
  type Tls12Message,
  decodeTls12HandshakeBody,
  decodeTls12HandshakeBytes,
  encodeServerHello12Extras,
  encodeTls12HandshakeBytes,
  encodeTls12HelloExtensions,
  readClientHello12Extensions,
  readServerHello12Extensions,
} from '../../src/wire/tls/tls12.js';

function check<Ts extends [unknown, ...unknown[]]>(t: ExecutionContext, property: fc.IProperty<Ts>, numRuns: number): void {
  const details = fc.check(property, { numRuns });
  t.false(details.failed, fc.defaultReportMessage(details) ?? 'property failed');
}

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const u16 = fc.integer({ min: 0, max: 0xffff });

const message12: fc.Arbitrary<Tls12Message> = fc.oneof(
  fc.constant({ type: 'hello_request' as const }),
  fc.constant({ type: 'server_hello_done' as const }),
  fc.record({ group: u16, publicKey: bytes(1, 255), scheme: u16, signature: bytes(0, 600) }).map((body) => ({ type: 'server_key_exchange' as const, body })),
  fc
    .record({
      certificateTypes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }),
      signatureAlgorithms: fc.array(u16, { minLength: 1, maxLength: 20 }),
      certificateAuthorities: fc.array(bytes(1, 80), { maxLength: 4 }),
    })
    .map((body) => ({ type: 'certificate_request' as const, body })),
  fc.record({ certificates: fc.array(bytes(1, 300), { maxLength: 4 }) }).map((body) => ({ type: 'certificate' as const, body })),
  fc.record({ publicKey: bytes(1, 255) }).map((body) => ({ type: 'client_key_exchange' as const, body })),
  fc.record({ lifetimeHint: fc.integer({ min: 0, max: 0xffffffff }), ticket: bytes(0, 400) }).map((body) => ({ type: 'new_session_ticket' as const, body })),
  fc.record({ scheme: u16, signature: bytes(0, 300) }).map((body) => ({ type: 'certificate_verify' as const, body })),
  bytes(1, 48).map((verifyData) => ({ type: 'finished' as const, body: { verifyData } })),
);

/** Comparable form (byte arrays as number arrays). */
const plain = (v: unknown): unknown =>
  v instanceof Uint8Array ? Array.from(v) : Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;

/** Decoding succeeds or throws a DecodeError; anything else is a codec bug. */
function decodesOrRejects(msgType: number, body: Uint8Array): boolean {
  try {
    decodeTls12HandshakeBody(msgType, body);
    return true;
  } catch (e) {
    if (e instanceof DecodeError) return false;
    throw e;
  }
}

test('TLS 1.2 messages: encode then decode gives the message back', (t) => {
  check(
    t,
    fc.property(message12, (msg) => {
      const back = decodeTls12HandshakeBytes(encodeTls12HandshakeBytes(msg));
      t.deepEqual(plain(back), plain(msg));
      return true;
    }),
    400,
  );
});

test('TLS 1.2 messages: a truncated or extended body is a DecodeError', (t) => {
  check(
    t,
    fc.property(message12, fc.nat(), (msg, cut) => {
      const raw = encodeTls12HandshakeBytes(msg);
      const body = raw.subarray(4);
      if (body.length > 0) {
        const short = body.subarray(0, cut % body.length);
        // A shorter body may happen to be a valid message of its own only for Finished (any length).
        if (msg.type !== 'finished') t.throws(() => decodeTls12HandshakeBody(raw[0]!, short), { instanceOf: DecodeError });
      }
      if (msg.type !== 'finished') {
        t.throws(() => decodeTls12HandshakeBody(raw[0]!, Uint8Array.from([...body, 0])), { instanceOf: DecodeError });
      }
      return true;
    }),
    300,
  );
});

test('TLS 1.2 messages: random bodies of every type decode or throw DecodeError, nothing else', (t) => {
  const types = [0, 1, 2, 4, 11, 12, 13, 14, 15, 16, 20, 8, 24, 3, 99];
  check(
    t,
    fc.property(fc.constantFrom(...types), bytes(0, 300), (type, body) => {
      decodesOrRejects(type, body);
      return true;
    }),
    2000,
  );
});

test('TLS 1.2 messages: bit flips of valid encodings decode or throw DecodeError', (t) => {
  check(
    t,
    fc.property(message12, fc.nat(), (msg, bit) => {
      const raw = Uint8Array.from(encodeTls12HandshakeBytes(msg));
      if (raw.length <= 4) return true;
      const at = 4 + ((bit >> 3) % (raw.length - 4));
      raw[at]! ^= 1 << (bit & 7);
      decodesOrRejects(raw[0]!, raw.subarray(4));
      return true;
    }),
    1000,
  );
});

test('RFC 8422 §5.4: ServerKeyExchange wire form; an explicit curve is illegal_parameter', (t) => {
  const raw = encodeTls12HandshakeBytes({
    type: 'server_key_exchange',
    body: { group: 0x001d, publicKey: new Uint8Array(32).fill(5), scheme: 0x0403, signature: Uint8Array.of(1, 2, 3) },
  });
  t.deepEqual(Array.from(raw.subarray(0, 8)), [HandshakeType.server_key_exchange, 0, 0, 1 + 2 + 1 + 32 + 2 + 2 + 3, 3, 0x00, 0x1d, 32]);
  const explicit = Uint8Array.from(raw.subarray(4));
  explicit[0] = 1; // explicit_prime
  const e = t.throws(() => decodeTls12HandshakeBody(HandshakeType.server_key_exchange, explicit), { instanceOf: DecodeError });
  t.is(e?.alert, AlertDescription.illegal_parameter);
});

test('TLS 1.3-only message types are unexpected_message under the TLS 1.2 decoder', (t) => {
  for (const type of [HandshakeType.encrypted_extensions, HandshakeType.key_update, HandshakeType.end_of_early_data]) {
    const e = t.throws(() => decodeTls12HandshakeBody(type, new Uint8Array(1)), { instanceOf: DecodeError });
    t.is(e?.alert, AlertDescription.unexpected_message);
  }
});

test('hello extensions: encode then read back (RFC 7627, RFC 5746, RFC 8422, RFC 5077)', (t) => {
  check(
    t,
    fc.property(
      fc.record(
        {
          extendedMasterSecret: fc.constant(true as const),
          renegotiationInfo: bytes(0, 40),
          ecPointFormats: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 3 }),
          sessionTicket: bytes(0, 200),
        },
        { requiredKeys: [] },
      ),
      (e) => {
        const back = readClientHello12Extensions(encodeTls12HelloExtensions(e));
        t.deepEqual(plain(back), plain(e));
        return true;
      },
    ),
    300,
  );
});

test('ServerHello extensions: ALPN, server_name, record_size_limit and the rest', (t) => {
  const exts = [
    ...encodeTls12HelloExtensions({ renegotiationInfo: new Uint8Array(0), extendedMasterSecret: true }),
    ...encodeServerHello12Extras({ alpn: 'h2', serverNameAck: true, recordSizeLimit: 4096 }),
    { type: 0x1234, data: Uint8Array.of(9) },
  ];
  const back = readServerHello12Extensions(exts);
  t.is(back.alpn, 'h2');
  t.true(back.serverNameAck);
  t.is(back.recordSizeLimit, 4096);
  t.true(back.extendedMasterSecret);
  t.deepEqual(back.renegotiationInfo, new Uint8Array(0));
  t.deepEqual(back.others.map((o) => o.type), [0x1234]);
  const twoAlpn = { type: X.application_layer_protocol_negotiation, data: Uint8Array.of(0, 6, 2, 0x68, 0x32, 2, 0x68, 0x33) };
  t.is(t.throws(() => readServerHello12Extensions([twoAlpn]), { instanceOf: DecodeError })?.alert, AlertDescription.illegal_parameter);
  const smallLimit = { type: X.record_size_limit, data: Uint8Array.of(0, 10) };
  t.is(t.throws(() => readServerHello12Extensions([smallLimit]), { instanceOf: DecodeError })?.alert, AlertDescription.illegal_parameter);
});

test('hello extensions: random bodies read or throw DecodeError', (t) => {
  const types = [X.extended_master_secret, X.renegotiation_info, X.ec_point_formats, X.session_ticket, X.server_name, X.record_size_limit, X.application_layer_protocol_negotiation];
  check(
    t,
    fc.property(fc.array(fc.record({ type: fc.constantFrom(...types), data: bytes(0, 20) }), { maxLength: 5 }), (exts) => {
      for (const read of [readClientHello12Extensions, readServerHello12Extensions]) {
        try {
          read(exts);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }
      return true;
    }),
    1000,
  );
});
