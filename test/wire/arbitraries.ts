/**
 * fast-check arbitraries producing *valid* TLS 1.3 handshake messages of every type (RFC 8446 §4), i.e. values the
 * encoder accepts and the decoder reads back. Unknown extensions use code points ≥ 52, which the RFC 8446 §4.2
 * table does not restrict (plus status_request / signed_certificate_timestamp in Certificate entries).
 */
import fc from 'fast-check';
import { ExtensionType as X, HRR_RANDOM } from '../../src/wire/tls/constants.js';
import type {
  Certificate,
  CertificateRequest,
  ClientHello,
  ClientHelloExtensions,
  EncryptedExtensions,
  HandshakeMessage,
  HandshakeMessageType,
  KeyShareEntry,
  NewSessionTicket,
  OfferedPsks,
  ServerHello,
  ServerHelloExtensions,
  UnknownExtension,
} from '../../src/wire/tls/messages.js';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const bytes = (minLength: number, maxLength: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength, maxLength });

const u16List = (minLength: number, maxLength: number): fc.Arbitrary<number[]> =>
  fc.array(u16, { minLength, maxLength });

/** An opaque byte string as one char per byte (how the codec represents ALPN names). */
const latin1 = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  bytes(minLength, maxLength).map((b) => String.fromCharCode(...b));

/** An ASCII host name (bytes 0x01..0x7f). */
// RFC 6066 §3: a host_name is printable ASCII (the codec refuses spaces and control characters).
const hostName = fc
  .uint8Array({ min: 0x21, max: 0x7e, minLength: 1, maxLength: 40 })
  .map((b) => String.fromCharCode(...b));

const unknownExtensions = (
  type: fc.Arbitrary<number> = fc.integer({ min: 52, max: 0xffff }),
): fc.Arbitrary<UnknownExtension[]> =>
  fc.uniqueArray(fc.record({ type, data: bytes(0, 24) }), { selector: (e) => e.type, maxLength: 3 });

const keyShareEntry: fc.Arbitrary<KeyShareEntry> = fc.record({ group: u16, keyExchange: bytes(1, 97) });

const offeredPsks: fc.Arbitrary<OfferedPsks> = fc
  .array(fc.record({ identity: bytes(1, 64), obfuscatedTicketAge: u32 }), { minLength: 1, maxLength: 3 })
  .chain((identities) =>
    fc
      .array(bytes(32, 64), { minLength: identities.length, maxLength: identities.length })
      .map((binders) => ({ identities, binders })),
  );

/** Either the default order (`[]`) or a shuffle of the present code points, with `last` moved to the end. */
function withOrder<T extends { readonly unknown: readonly UnknownExtension[] }>(
  present: (e: T) => number[],
  last?: number,
): (e: T) => fc.Arbitrary<T & { order: number[] }> {
  return (e) => {
    const types = [...present(e), ...e.unknown.map((u) => u.type)];
    const shuffled = fc
      .shuffledSubarray(types, { minLength: types.length, maxLength: types.length })
      .map((o) => (last !== undefined && o.includes(last) ? [...o.filter((t) => t !== last), last] : o));
    return fc.oneof(fc.constant([] as number[]), shuffled).map((order) => ({ ...e, order }));
  };
}

function presentTypes(e: object, fields: Record<string, number>): number[] {
  return Object.entries(fields)
    .filter(([k]) => (e as Record<string, unknown>)[k] !== undefined)
    .map(([, t]) => t);
}

const clientHelloFields: Record<string, number> = {
  serverName: X.server_name,
  supportedVersions: X.supported_versions,
  supportedGroups: X.supported_groups,
  signatureAlgorithms: X.signature_algorithms,
  signatureAlgorithmsCert: X.signature_algorithms_cert,
  keyShares: X.key_share,
  alpn: X.application_layer_protocol_negotiation,
  pskKeyExchangeModes: X.psk_key_exchange_modes,
  preSharedKey: X.pre_shared_key,
  earlyData: X.early_data,
  cookie: X.cookie,
  recordSizeLimit: X.record_size_limit,
  postHandshakeAuth: X.post_handshake_auth,
};

const clientHelloExtensions: fc.Arbitrary<ClientHelloExtensions> = fc
  .record(
    {
      serverName: hostName,
      supportedVersions: u16List(1, 5),
      supportedGroups: u16List(1, 6),
      signatureAlgorithms: u16List(1, 8),
      signatureAlgorithmsCert: u16List(1, 4),
      // key_share is always present: with supported_versions it keeps the block above its 8-byte minimum.
      keyShares: fc.uniqueArray(keyShareEntry, { selector: (e) => e.group, maxLength: 3 }),
      alpn: fc.array(latin1(1, 20), { minLength: 1, maxLength: 4 }),
      pskKeyExchangeModes: fc.array(u8, { minLength: 1, maxLength: 3 }),
      preSharedKey: offeredPsks,
      earlyData: fc.constant(true as const),
      cookie: bytes(1, 40),
      recordSizeLimit: fc.integer({ min: 64, max: 0xffff }),
      postHandshakeAuth: fc.constant(true as const),
      // padding (21) is in the §4.2 table but allowed in a ClientHello, and the codec leaves it uninterpreted.
      unknown: unknownExtensions(fc.oneof(fc.constant(X.padding), fc.integer({ min: 52, max: 0xffff }))),
    },
    { requiredKeys: ['keyShares', 'unknown'] },
  )
  .chain(withOrder((e) => presentTypes(e, clientHelloFields), X.pre_shared_key));

export const clientHello: fc.Arbitrary<ClientHello> = fc.record(
  {
    legacyVersion: u16,
    random: bytes(32, 32),
    legacySessionId: bytes(0, 32),
    cipherSuites: u16List(1, 10),
    legacyCompressionMethods: bytes(1, 3),
    extensions: clientHelloExtensions,
  },
  { requiredKeys: ['random', 'legacySessionId', 'cipherSuites', 'legacyCompressionMethods', 'extensions'] },
);

const notHrrRandom = bytes(32, 32).filter((r) => !r.every((b, i) => b === HRR_RANDOM[i]));

const serverHelloExtensions: fc.Arbitrary<ServerHelloExtensions> = fc
  .record(
    { supportedVersion: u16, keyShare: keyShareEntry, preSharedKey: u16, unknown: unknownExtensions() },
    { requiredKeys: ['supportedVersion', 'unknown'] },
  )
  .chain(
    withOrder((e) =>
      presentTypes(e, { supportedVersion: X.supported_versions, keyShare: X.key_share, preSharedKey: X.pre_shared_key }),
    ),
  );

const helloRetryExtensions: fc.Arbitrary<ServerHelloExtensions> = fc
  .record(
    { supportedVersion: u16, selectedGroup: u16, cookie: bytes(1, 60), unknown: unknownExtensions() },
    { requiredKeys: ['supportedVersion', 'unknown'] },
  )
  .chain(
    withOrder((e) =>
      presentTypes(e, { supportedVersion: X.supported_versions, selectedGroup: X.key_share, cookie: X.cookie }),
    ),
  );

/** A TLS 1.2-style ServerHello: no supported_versions, every extension opaque. */
const legacyServerHelloExtensions: fc.Arbitrary<ServerHelloExtensions> = fc
  .record({ unknown: unknownExtensions() })
  .chain(withOrder(() => []));

const serverHelloWith = (
  random: fc.Arbitrary<Uint8Array>,
  extensions: fc.Arbitrary<ServerHelloExtensions>,
): fc.Arbitrary<ServerHello> =>
  fc.record(
    {
      legacyVersion: u16,
      random,
      legacySessionIdEcho: bytes(0, 32),
      cipherSuite: u16,
      legacyCompressionMethod: u8,
      extensions,
    },
    { requiredKeys: ['random', 'legacySessionIdEcho', 'cipherSuite', 'legacyCompressionMethod', 'extensions'] },
  );

export const serverHello: fc.Arbitrary<ServerHello> = fc.oneof(
  serverHelloWith(notHrrRandom, serverHelloExtensions),
  serverHelloWith(fc.constant(HRR_RANDOM), helloRetryExtensions),
  serverHelloWith(notHrrRandom, legacyServerHelloExtensions),
);

export const encryptedExtensions: fc.Arbitrary<EncryptedExtensions> = fc
  .record(
    {
      serverNameAck: fc.constant(true as const),
      alpn: latin1(1, 20),
      supportedGroups: u16List(1, 6),
      earlyData: fc.constant(true as const),
      recordSizeLimit: fc.integer({ min: 64, max: 0xffff }),
      unknown: unknownExtensions(),
    },
    { requiredKeys: ['unknown'] },
  )
  .chain(
    withOrder((e) =>
      presentTypes(e, {
        serverNameAck: X.server_name,
        alpn: X.application_layer_protocol_negotiation,
        supportedGroups: X.supported_groups,
        earlyData: X.early_data,
        recordSizeLimit: X.record_size_limit,
      }),
    ),
  );

export const certificateRequest: fc.Arbitrary<CertificateRequest> = fc
  .record(
    {
      context: bytes(0, 16),
      signatureAlgorithms: u16List(1, 8),
      signatureAlgorithmsCert: u16List(1, 4),
      certificateAuthorities: fc.array(bytes(1, 40), { minLength: 1, maxLength: 3 }),
      unknown: unknownExtensions(
        fc.oneof(fc.constantFrom(X.status_request, X.signed_certificate_timestamp, X.oid_filters), fc.integer({ min: 52, max: 0xffff })),
      ),
    },
    { requiredKeys: ['context', 'signatureAlgorithms', 'unknown'] },
  )
  .chain(
    withOrder((e) =>
      presentTypes(e, {
        signatureAlgorithms: X.signature_algorithms,
        signatureAlgorithmsCert: X.signature_algorithms_cert,
        certificateAuthorities: X.certificate_authorities,
      }),
    ),
  );

export const certificate: fc.Arbitrary<Certificate> = fc.record({
  context: bytes(0, 16),
  entries: fc.array(
    fc.record({
      cert: bytes(1, 200),
      extensions: unknownExtensions(
        fc.oneof(fc.constantFrom(X.status_request, X.signed_certificate_timestamp), fc.integer({ min: 52, max: 0xffff })),
      ),
    }),
    { maxLength: 3 },
  ),
});

export const newSessionTicket: fc.Arbitrary<NewSessionTicket> = fc.record(
  {
    lifetime: fc.integer({ min: 0, max: 604800 }),
    ageAdd: u32,
    nonce: bytes(0, 16),
    ticket: bytes(1, 120),
    maxEarlyDataSize: u32,
    unknown: unknownExtensions(),
  },
  { requiredKeys: ['lifetime', 'ageAdd', 'nonce', 'ticket', 'unknown'] },
);

/** One arbitrary per message type. */
export const messageByType: { readonly [K in HandshakeMessageType]: fc.Arbitrary<HandshakeMessage> } = {
  client_hello: clientHello.map((body) => ({ type: 'client_hello', body })),
  server_hello: serverHello.map((body) => ({ type: 'server_hello', body })),
  new_session_ticket: newSessionTicket.map((body) => ({ type: 'new_session_ticket', body })),
  end_of_early_data: fc.constant({ type: 'end_of_early_data' }),
  encrypted_extensions: encryptedExtensions.map((body) => ({ type: 'encrypted_extensions', body })),
  certificate: certificate.map((body) => ({ type: 'certificate', body })),
  certificate_request: certificateRequest.map((body) => ({ type: 'certificate_request', body })),
  certificate_verify: fc
    .record({ scheme: u16, signature: bytes(0, 130) })
    .map((body) => ({ type: 'certificate_verify', body })),
  finished: bytes(1, 64).map((verifyData) => ({ type: 'finished', body: { verifyData } })),
  key_update: fc.constantFrom(0 as const, 1 as const).map((requestUpdate) => ({ type: 'key_update', body: { requestUpdate } })),
};

/** Any valid handshake message. */
export const handshakeMessage: fc.Arbitrary<HandshakeMessage> = fc.oneof(
  ...(Object.values(messageByType) as fc.Arbitrary<HandshakeMessage>[]),
);
