import test from 'ava';
import fc from 'fast-check';
import { decodeFrames } from '../../src/wire/quic/frames.js';
import {
  decodeTransportParameters,
  encodeTransportParameters,
  QUIC_TRANSPORT_PARAMETERS_EXTENSION,
  TRANSPORT_PARAMETER_ERROR,
  TransportParameterError,
  type TransportParameters,
} from '../../src/wire/quic/transportParameters.js';
import { decodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { hex } from '../vectors/hex.js';
import * as v from '../vectors/rfc9001.js';

test('RFC 9001 §A.2: the transport parameters in the client Initial\'s ClientHello', (t) => {
  const payload = new Uint8Array(v.clientInitial.payloadLength);
  payload.set(v.clientInitial.cryptoFrame);
  const crypto = decodeFrames(payload, 'initial')[0];
  if (crypto?.type !== 'crypto') return t.fail('a CRYPTO frame');
  const hello = decodeHandshakeBytes(crypto.data);
  if (hello.type !== 'client_hello') return t.fail('a ClientHello');
  const ext = hello.body.extensions.unknown.find((u) => u.type === QUIC_TRANSPORT_PARAMETERS_EXTENSION);
  if (!ext) return t.fail('quic_transport_parameters present');
  t.deepEqual(decodeTransportParameters(ext.data, 'client'), {
    initialMaxData: Number.MAX_SAFE_INTEGER, // 2^62 − 1 on the wire, clamped
    initialMaxStreamDataBidiLocal: 65535,
    initialMaxStreamDataBidiRemote: 65535,
    initialMaxStreamDataUni: 65535,
    initialMaxStreamsBidi: 16,
    initialMaxStreamsUni: 16,
    maxIdleTimeout: 30000,
    initialSourceConnectionId: hex('8394c8f03e515708'),
  });
});

const n = (min = 0, max = 2 ** 40) => fc.integer({ min, max });
const cid = (min = 0) => fc.uint8Array({ minLength: min, maxLength: 20 });
const paramsArb: fc.Arbitrary<TransportParameters> = fc.record(
  {
    originalDestinationConnectionId: cid(),
    maxIdleTimeout: n(),
    statelessResetToken: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    maxUdpPayloadSize: n(1200, 65527),
    initialMaxData: n(),
    initialMaxStreamDataBidiLocal: n(),
    initialMaxStreamDataBidiRemote: n(),
    initialMaxStreamDataUni: n(),
    initialMaxStreamsBidi: n(0, 2 ** 50),
    initialMaxStreamsUni: n(0, 2 ** 50),
    ackDelayExponent: n(0, 20),
    maxAckDelay: n(0, 2 ** 14 - 1),
    disableActiveMigration: fc.constant(true),
    preferredAddress: fc.record({
      ipv4: fc.uint8Array({ minLength: 4, maxLength: 4 }),
      ipv4Port: n(0, 65535),
      ipv6: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      ipv6Port: n(0, 65535),
      connectionId: cid(1),
      statelessResetToken: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    }),
    activeConnectionIdLimit: n(2, 100),
    initialSourceConnectionId: cid(),
    retrySourceConnectionId: cid(),
    // Reserved ids 31 × N + 27 (RFC 9000 §18.1) must be ignored: kept as unknown.
    unknown: fc.array(fc.record({ id: n(1, 1000).map((k) => 31 * k + 27), value: fc.uint8Array({ maxLength: 8 }) }), { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: [] },
).filter((p) => !p.unknown || new Set(p.unknown.map((u) => u.id)).size === p.unknown.length);

test('transport parameters: encode then decode (as sent by a server) gives them back (property)', (t) => {
  fc.assert(
    fc.property(paramsArb, (params) => {
      t.deepEqual(decodeTransportParameters(encodeTransportParameters(params), 'server'), params);
    }),
    { numRuns: 300 },
  );
});

test('transport parameters: random bytes decode or throw TransportParameterError, nothing else (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 60 }), fc.constantFrom<'client' | 'server'>('client', 'server'), (bytes, from) => {
      try {
        // Whatever decodes re-encodes to a block that decodes to the same parameters.
        const params = decodeTransportParameters(bytes, from);
        t.deepEqual(decodeTransportParameters(encodeTransportParameters(params), from), params);
      } catch (err) {
        t.true(err instanceof TransportParameterError, String(err));
        t.is((err as TransportParameterError).code, TRANSPORT_PARAMETER_ERROR);
      }
    }),
    { numRuns: 1500 },
  );
});

test('RFC 9000 §18.2, §7.4: invalid blocks are TRANSPORT_PARAMETER_ERRORs', (t) => {
  const bad: [string, string, 'client' | 'server'][] = [
    ['0104 80007530 0104 80007530', 'a repeated parameter', 'server'],
    ['0008 0102030405060708', 'original_destination_connection_id from a client', 'client'],
    ['0210' + '00'.repeat(16), 'stateless_reset_token from a client', 'client'],
    ['1000', 'retry_source_connection_id from a client', 'client'],
    ['0202 0000', 'a 2-byte stateless reset token', 'server'],
    ['0302 4400', 'max_udp_payload_size below 1200', 'server'],
    ['0a01 15', 'ack_delay_exponent above 20', 'server'],
    ['0b04 80004000', 'max_ack_delay of 2^14', 'server'],
    ['0e01 01', 'active_connection_id_limit below 2', 'server'],
    ['0c01 00', 'disable_active_migration with a value', 'server'],
    ['0808 d000000000000001', 'initial_max_streams_bidi above 2^60', 'server'],
    ['0f15' + '00'.repeat(21), 'a 21-byte connection ID', 'server'],
    ['0105 80007530', 'a length past the value', 'server'],
    ['0102 01', 'a length past the block', 'server'],
    ['0103 4001 00', 'trailing bytes in a value', 'server'],
  ];
  for (const [bytes, what, from] of bad) {
    const err = t.throws(() => decodeTransportParameters(hex(bytes), from), { instanceOf: TransportParameterError }, what);
    t.is(err?.code, TRANSPORT_PARAMETER_ERROR, what);
  }
  // The same server-only parameters are fine from a server, and an empty block is valid.
  t.deepEqual(decodeTransportParameters(hex('0008 0102030405060708'), 'server'), { originalDestinationConnectionId: hex('0102030405060708') });
  t.deepEqual(decodeTransportParameters(new Uint8Array(0), 'client'), {});
});

test('RFC 9000 §18, §18.2: any varint is valid where §18.2 sets no bound; identifiers above 2^53 are ignored', (t) => {
  // max_idle_timeout, max_udp_payload_size, active_connection_id_limit of 2^62 − 1 (clamped to 2^53 − 1).
  const max = 'ffffffffffffffff';
  t.deepEqual(decodeTransportParameters(hex(`0108${max} 0308${max} 0e08${max}`), 'server'), {
    maxIdleTimeout: Number.MAX_SAFE_INTEGER,
    maxUdpPayloadSize: Number.MAX_SAFE_INTEGER,
    activeConnectionIdLimit: Number.MAX_SAFE_INTEGER,
  });
  // Bounded ones stay bounded however long the value: ack_delay_exponent of 2^62 − 1 is still above 20.
  t.throws(() => decodeTransportParameters(hex(`0a08${max}`), 'server'), { instanceOf: TransportParameterError });
  // An unknown identifier of 2^62 − 1 (and a reserved 31 × 2^56 + 27) is ignored, and not kept; twice is still an error.
  t.deepEqual(decodeTransportParameters(hex(`${max}01 00 df0000000000001b00 0104 80007530`), 'client'), { maxIdleTimeout: 30_000 });
  t.throws(() => decodeTransportParameters(hex(`${max}00 ${max}00`), 'client'), { instanceOf: TransportParameterError });
});
