/**
 * Property tests of the handshake codecs (RFC 8446 §4) over the arbitraries in `arbitraries.ts`:
 * round trip, robustness against arbitrary and mutated bytes, truncation and trailing bytes.
 */
import { deepStrictEqual } from 'node:assert/strict';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { DecodeError } from '../../src/wire/reader.js';
import { HandshakeType } from '../../src/wire/tls/constants.js';
import { decodeHandshakeBody, decodeHandshakeBytes, encodeHandshakeBytes, pskBindersLength } from '../../src/wire/tls/handshake.js';
import type { HandshakeMessage } from '../../src/wire/tls/messages.js';
import { clientHello, handshakeMessage, messageByType } from './arbitraries.js';

/** Run a property; fail the test with fast-check's report (seed, counterexample) if it does not hold. */
function check<Ts extends [unknown, ...unknown[]]>(
  t: ExecutionContext,
  property: fc.IProperty<Ts>,
  numRuns: number,
): void {
  const details = fc.check(property, { numRuns });
  t.false(details.failed, fc.defaultReportMessage(details) ?? 'property failed');
  t.is(details.numRuns, numRuns);
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Comparable form: byte arrays as number arrays, without the fields the decoder fills in (`order`,
 * `legacyVersion`), `unknown` sorted by type (the decoder lists it in wire order, which `order` may change).
 */
function strip(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(strip);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => k !== 'order' && k !== 'legacyVersion')
        .map(([k, x]) => [
          k,
          k === 'unknown' ? strip([...(x as { type: number }[])].sort((a, b) => a.type - b.type)) : strip(x),
        ]),
    );
  }
  return v;
}

/** Decoder-filled fields: a non-empty `order` must come back as given, `legacyVersion` defaults to 0x0303. */
function checkFilledFields(msg: HandshakeMessage, back: HandshakeMessage): void {
  if (msg.type === 'client_hello' && back.type === 'client_hello') {
    deepStrictEqual(back.body.legacyVersion, msg.body.legacyVersion ?? 0x0303);
    if (msg.body.extensions.order.length > 0) deepStrictEqual(back.body.extensions.order, msg.body.extensions.order);
  } else if (msg.type === 'server_hello' && back.type === 'server_hello') {
    deepStrictEqual(back.body.legacyVersion, msg.body.legacyVersion ?? 0x0303);
    if (msg.body.extensions.order.length > 0) deepStrictEqual(back.body.extensions.order, msg.body.extensions.order);
  } else if ((msg.type === 'encrypted_extensions' || msg.type === 'certificate_request') && back.type === msg.type) {
    if (msg.body.order.length > 0) deepStrictEqual(back.body.order, msg.body.order);
  }
}

/** Decoding must either succeed or throw a DecodeError: any other exception is a codec bug. */
function decodesOrDecodeError(msgType: number, body: Uint8Array): void {
  try {
    decodeHandshakeBody(msgType, body);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
}

function split(msg: HandshakeMessage): { msgType: number; body: Uint8Array } {
  const encoded = encodeHandshakeBytes(msg);
  return { msgType: encoded[0]!, body: encoded.subarray(4) };
}

// (1) encode → decode → encode is byte-identical, and decode gives back the value, for every message type.
for (const [name, arb] of Object.entries(messageByType)) {
  test(`round trip: ${name}`, (t) => {
    check(
      t,
      fc.property(arb, (msg) => {
        const encoded = encodeHandshakeBytes(msg);
        const back = decodeHandshakeBytes(encoded);
        const again = encodeHandshakeBytes(back);
        if (!equalBytes(encoded, again)) throw new Error('re-encoding differs');
        deepStrictEqual(strip(back), strip(msg));
        checkFilledFields(msg, back);
      }),
      name === 'end_of_early_data' ? 1 : 200,
    );
  });
}

test('round trip: client_hello in the DTLS 1.3 form (RFC 9147 §5.3), legacy_cookie included', (t) => {
  const dtlsHello = fc.tuple(clientHello, fc.uint8Array({ maxLength: 255 })).map(([ch, legacyCookie]) => ({ ...ch, legacyCookie }));
  check(
    t,
    fc.property(dtlsHello, (body) => {
      const msg: HandshakeMessage = { type: 'client_hello', body };
      const encoded = encodeHandshakeBytes(msg, 'dtls');
      const back = decodeHandshakeBytes(encoded, 'dtls');
      if (!equalBytes(encoded, encodeHandshakeBytes(back, 'dtls'))) throw new Error('re-encoding differs');
      deepStrictEqual(strip(back), strip(msg));
      if (back.type !== 'client_hello') throw new Error('not a ClientHello');
      deepStrictEqual(back.body.legacyVersion, body.legacyVersion ?? 0xfefd);
    }),
    200,
  );
});

test('round trip: the binders are the last pskBindersLength bytes of an encoded ClientHello', (t) => {
  const withPsk = clientHello.filter((ch) => ch.extensions.preSharedKey !== undefined);
  check(
    t,
    fc.property(withPsk, (ch) => {
      const psks = ch.extensions.preSharedKey!;
      const encoded = encodeHandshakeBytes({ type: 'client_hello', body: ch });
      const tail = encoded.subarray(encoded.length - pskBindersLength(psks));
      const expected = [(tail.length - 2) >> 8, (tail.length - 2) & 0xff, ...psks.binders.flatMap((b) => [b.length, ...b])];
      deepStrictEqual(Array.from(tail), expected);
    }),
    200,
  );
});

// (2) Arbitrary bytes for any msg_type: a message or a DecodeError, never another exception.
const knownTypes = [1, 2, 4, 5, 8, 11, 13, 15, 20, 24] as const;
const anyType = fc.oneof(fc.constantFrom(...knownTypes), fc.integer({ min: 0, max: 255 }));

test('robustness: random bytes decode or throw DecodeError', (t) => {
  check(t, fc.property(anyType, fc.uint8Array({ maxLength: 300 }), (type, body) => decodesOrDecodeError(type, body)), 300);
});

test('robustness: mutated valid encodings decode or throw DecodeError', (t) => {
  // Random bytes rarely get past the first length field; mutating valid messages reaches the extension parsers.
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  );
  check(
    t,
    fc.property(handshakeMessage, fc.array(mutation, { minLength: 1, maxLength: 3 }), (msg, mutations) => {
      const { msgType, body } = split(msg);
      let b = Array.from(body);
      for (const m of mutations) {
        const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === 'insert' ? 1 : 0));
        if (m.kind === 'set' && b.length > 0) b[at] = m.value;
        else if (m.kind === 'delete') b.splice(at, m.count);
        else if (m.kind === 'insert') b.splice(at, 0, ...m.bytes);
      }
      decodesOrDecodeError(msgType, Uint8Array.from(b));
      // The same bytes under every other msg_type.
      for (const other of knownTypes) decodesOrDecodeError(other, Uint8Array.from(b));
    }),
    300,
  );
});

// Finished is `verify_data[Hash.length]` with the length known only to the protocol layer: any non-empty body is a
// Finished, so properties (3) and (4) exclude it; the last property states what holds for it instead.
const framed = handshakeMessage.filter((m) => m.type !== 'finished');

/** The bytes of a decoded (TLS-form) hello before its extension block; -1 for any other message. */
function helloFixedLength(m: HandshakeMessage): number {
  if (m.type === 'server_hello') return 2 + 32 + 1 + m.body.legacySessionIdEcho.length + 2 + 1;
  if (m.type === 'client_hello') return 2 + 32 + 1 + m.body.legacySessionId.length + 2 + 2 * m.body.cipherSuites.length + 1 + m.body.legacyCompressionMethods.length;
  return -1;
}

// (3) Every proper prefix of a valid body is a DecodeError, but one: a hello cut right before its extension block
// is a hello without extensions (RFC 5246 §7.4.1.2, §7.4.1.3), which decodes with none.
test('truncation anywhere gives DecodeError (a hello cut before its extensions decodes without them)', (t) => {
  check(
    t,
    fc.property(framed, (msg) => {
      const { msgType, body } = split(msg);
      for (let n = 0; n < body.length; n++) {
        let decoded;
        try {
          decoded = decodeHandshakeBody(msgType, body.subarray(0, n));
        } catch (e) {
          if (e instanceof DecodeError) continue;
          throw e;
        }
        const noExtensions = (decoded.type === 'client_hello' || decoded.type === 'server_hello') && decoded.body.extensions.order.length === 0;
        if (noExtensions && n === helloFixedLength(decoded)) continue;
        throw new Error(`${msg.type} truncated to ${n} of ${body.length} bytes decoded`);
      }
    }),
    200,
  );
});

// (4) One byte appended to a valid body is a DecodeError.
test('a trailing byte gives DecodeError', (t) => {
  check(
    t,
    fc.property(framed, fc.integer({ min: 0, max: 255 }), (msg, extra) => {
      const { msgType, body } = split(msg);
      const longer = new Uint8Array(body.length + 1);
      longer.set(body);
      longer[body.length] = extra;
      try {
        decodeHandshakeBody(msgType, longer);
      } catch (e) {
        if (e instanceof DecodeError) return;
        throw e;
      }
      throw new Error(`${msg.type} with a trailing byte decoded`);
    }),
    300,
  );
});

test('Finished: verify_data is the whole body, so its length follows truncation and extension', (t) => {
  check(
    t,
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), (verifyData, cut) => {
      const n = 1 + (cut % verifyData.length);
      const msg = decodeHandshakeBody(HandshakeType.finished, verifyData.subarray(0, n));
      deepStrictEqual(msg.type === 'finished' ? Array.from(msg.body.verifyData) : [], Array.from(verifyData.subarray(0, n)));
    }),
    100,
  );
});
