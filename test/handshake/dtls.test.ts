/**
 * The handshake engine in its DTLS 1.3 variant (RFC 9147 §5), driven directly with no record layer: the DTLS
 * form of the ClientHello (§5.3), the versions (0xfefd in legacy_version, 0xfefc in supported_versions), the
 * "dtls13" key schedule, no early data (§5.6), connection IDs refused, and the stateless cookie exchange (§5.1)
 * across two server engines.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { TlsError, alertFor, type TlsErrorDetail } from '../../src/core/errors.js';
import { deriveSecret } from '../../src/crypto/keySchedule.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import type { GroupName } from '../../src/crypto/provider.js';
import type { HandshakeClientConfig, HandshakeServerConfig } from '../../src/handshake/config.js';
import {
  createHandshake,
  handshakeData,
  handshakePhase,
  isHandshakeCommitted,
  isHandshakeComplete,
  negotiated,
  startHandshake,
  type HandshakeState,
  type HsStep,
} from '../../src/handshake/engine.js';
import { Epoch, type HsEvent } from '../../src/handshake/events.js';
import { createTicketer } from '../../src/handshake/session.js';
import { AlertDescription, ExtensionType, HRR_RANDOM, ProtocolVersion, type CipherSuiteName } from '../../src/wire/tls/constants.js';
import { decodeHandshakeBytes, encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import type { ClientHello, EncryptedExtensions, HandshakeMessage, ServerHello } from '../../src/wire/tls/messages.js';
import { caVerifier, NOW, serverCredentials } from '../helpers/pair.js';

type Side = 'client' | 'server';
const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

const COOKIE_SECRET = new Uint8Array(32).fill(0x5c);
const CLIENT_ADDRESS = Uint8Array.of(192, 0, 2, 1, 0x12, 0x34);
const cookieServer: Partial<HandshakeServerConfig> = { cookieSecret: COOKIE_SECRET, cookieBinding: CLIENT_ADDRESS };

const clientConfig = (c: Partial<HandshakeClientConfig> = {}): HandshakeClientConfig => ({ role: 'client', serverName: 'localhost', verifier: caVerifier(), ...c });
const serverConfig = (c: Partial<HandshakeServerConfig> = {}): HandshakeServerConfig => ({ role: 'server', ...serverCredentials(), ...c });
const startedServer = (c: Partial<HandshakeServerConfig> = {}): HandshakeState => startHandshake(createHandshake(serverConfig(c), 'dtls'), NOW).state;

/**
 * A DTLS-variant client and server whose handshake bytes are carried to each other at the epoch they were sent
 * (the DTLS layer's job, its 12-byte headers already stripped). With a cookie server it acts as the layer does:
 * a server state that is not committed after a step is dropped, and the next ClientHello goes to a fresh engine.
 */
class DtlsPair {
  readonly state: Record<Side, HandshakeState>;
  readonly events: Record<Side, HsEvent[]> = { client: [], server: [] };
  readonly sent: Record<Side, { epoch: number; data: Uint8Array }[]> = { client: [], server: [] };
  readonly errors: Record<Side, TlsErrorDetail[]> = { client: [], server: [] };
  /** Secrets by direction and epoch (`write2`, `read3`, …), as the key changes delivered them. */
  readonly keys: Record<Side, Record<string, Uint8Array>> = { client: {}, server: {} };
  /** Server engines used: one more after each stateless HelloRetryRequest. */
  serverEngines = 1;
  now = NOW;
  readonly queue: { to: Side; epoch: number; data: Uint8Array }[] = [];

  constructor(
    readonly clientCfg: Partial<HandshakeClientConfig> = {},
    readonly serverCfg: Partial<HandshakeServerConfig> = {},
  ) {
    this.state = { client: createHandshake(clientConfig(clientCfg), 'dtls'), server: createHandshake(serverConfig(serverCfg), 'dtls') };
  }

  apply(side: Side, step: HsStep): HsStep {
    this.state[side] = step.state;
    for (const e of step.events) {
      this.events[side].push(e);
      if (e.type === 'send') {
        this.sent[side].push({ epoch: e.epoch, data: e.data });
        this.queue.push({ to: other(side), epoch: e.epoch, data: e.data });
      }
      if (e.type === 'keyChange' && e.secret) this.keys[side][`${e.direction}${e.epoch}`] = e.secret;
    }
    if (step.error) this.errors[side].push(step.error);
    return step;
  }

  start(side: Side): HsStep {
    return this.apply(side, startHandshake(this.state[side], this.now));
  }

  data(side: Side, epoch: number, data: Uint8Array): HsStep {
    const step = this.apply(side, handshakeData(this.state[side], epoch, data, this.now));
    if (side === 'server' && !step.error && !isHandshakeCommitted(step.state)) {
      // The layer keeps nothing of a server that did not commit: the next ClientHello meets a fresh engine.
      this.state.server = startHandshake(createHandshake(serverConfig(this.serverCfg), 'dtls'), this.now).state;
      this.serverEngines++;
    }
    return step;
  }

  /** Carry the next queued send to its peer. */
  step(): HsStep {
    const m = this.queue.shift()!;
    return this.data(m.to, m.epoch, m.data);
  }

  /** Start both and carry handshake bytes until nothing is left (bounded). */
  run(): this {
    this.start('server');
    this.start('client');
    return this.drain();
  }

  drain(): this {
    for (let i = 0; i < 50 && this.queue.length > 0; i++) this.step();
    return this;
  }

  changes(side: Side): string[] {
    return this.events[side].flatMap((e) => (e.type === 'keyChange' ? [`${e.direction}${e.epoch}`] : []));
  }
}

/** Split concatenated handshake messages (4-byte headers) into whole messages. */
function splitMessages(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.length; ) {
    const len = (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!;
    out.push(data.subarray(o, o + 4 + len));
    o += 4 + len;
  }
  return out;
}

const sendsOf = (step: HsStep) => step.events.flatMap((e) => (e.type === 'send' ? [e] : []));
const clientHelloOf = (data: Uint8Array): ClientHello => {
  const m = decodeHandshakeBytes(data, 'dtls');
  if (m.type !== 'client_hello') throw new Error(`expected a ClientHello, got ${m.type}`);
  return m.body;
};
const serverHelloOf = (data: Uint8Array): ServerHello => {
  const m = decodeHandshakeBytes(splitMessages(data)[0]!);
  if (m.type !== 'server_hello') throw new Error(`expected a ServerHello, got ${m.type}`);
  return m.body;
};
const isHrr = (sh: ServerHello) => sh.random.every((b, i) => b === HRR_RANDOM[i]);
const dtlsHello = (body: ClientHello): Uint8Array => encodeHandshakeBytes({ type: 'client_hello', body }, 'dtls');
const hello = (body: ServerHello): Uint8Array => encodeHandshakeBytes({ type: 'server_hello', body });

function failedWith(t: ExecutionContext, step: HsStep, alert: number): void {
  t.truthy(step.error, 'the step fails');
  t.is(step.error ? alertFor(step.error) : undefined, alert);
  t.false(step.events.some((e) => e.type === 'send'), 'only the alert goes out');
}

/** The step answered with a HelloRetryRequest carrying a cookie, and left the server uncommitted. */
function statelessRetry(t: ExecutionContext, step: HsStep): ServerHello {
  t.is(step.error, undefined, step.error?.reason);
  const sends = sendsOf(step);
  t.is(sends.length, 1);
  t.is(sends[0]!.epoch, Epoch.initial);
  const hrr = serverHelloOf(sends[0]!.data);
  t.true(isHrr(hrr), 'a HelloRetryRequest');
  t.truthy(hrr.extensions.cookie, 'with a cookie');
  t.false(step.events.some((e) => e.type === 'keyChange'));
  t.true(step.events.some((e) => e.type === 'flightEnd'));
  t.false(isHandshakeCommitted(step.state));
  t.is(handshakePhase(step.state), 'expectClientHello');
  return hrr;
}

// ---------------------------------------------------------------------------------------------------------------
// The DTLS 1.3 handshake

test('DTLS variant: a full handshake completes, both ends agree on the secrets, keys change at epochs 2 and 3', (t) => {
  const pair = new DtlsPair().run();
  t.true(isHandshakeComplete(pair.state.client));
  t.true(isHandshakeComplete(pair.state.server));
  t.deepEqual(pair.errors, { client: [], server: [] });
  t.deepEqual(pair.changes('client'), ['read2', 'write2', 'read3', 'write3']);
  t.deepEqual(pair.changes('server'), ['write2', 'read2', 'write3', 'read3']);
  const c = pair.keys.client;
  const s = pair.keys.server;
  t.deepEqual(c.write2, s.read2);
  t.deepEqual(c.read2, s.write2);
  t.deepEqual(c.write3, s.read3);
  t.deepEqual(c.read3, s.write3);
  // Messages at their epochs: the hellos at 0, the server flight and the client Finished at 2, tickets none.
  t.deepEqual(pair.sent.client.map((m) => m.epoch), [Epoch.initial, Epoch.handshake]);
  t.deepEqual(pair.sent.server.map((m) => m.epoch), [Epoch.initial, Epoch.handshake]);
  // No middlebox compatibility in DTLS (RFC 9147 §5): no CCS either way.
  t.false([...pair.events.client, ...pair.events.server].some((e) => e.type === 'compatCcs'));
  t.like(negotiated(pair.state.client), { protocol: 'DTLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', group: 'X25519', helloRetry: false });
  t.true(isHandshakeCommitted(pair.state.server));
  t.true(isHandshakeCommitted(pair.state.client));
});

test('DTLS variant: the traffic secrets are derived with the "dtls13" label prefix (RFC 9147 §5.10)', (t) => {
  const pair = new DtlsPair().run();
  const ch = pair.sent.client[0]!.data;
  const sh = pair.sent.server[0]!.data;
  const helloHash = nobleProvider.hash('sha256', Uint8Array.from([...ch, ...sh]));
  const hs = pair.state.client.secrets.handshake!;
  const dtls = deriveSecret(nobleProvider, 'sha256', hs, 'c hs traffic', helloHash, 'dtls13');
  t.deepEqual(pair.keys.client.write2, dtls);
  t.notDeepEqual(deriveSecret(nobleProvider, 'sha256', hs, 'c hs traffic', helloHash, 'tls13 '), dtls);
});

test('DTLS variant: the ClientHello is in DTLS form: legacy_version 0xfefd, empty legacy_cookie, supported_versions [0xfefc, 0xfefd] (RFC 9147 §5.3; DTLS 1.2 offered by default)', (t) => {
  const pair = new DtlsPair().run();
  const raw = pair.sent.client[0]!.data;
  t.is(raw[0], 1, 'client_hello');
  t.deepEqual([raw[4], raw[5]], [0xfe, 0xfd], 'legacy_version {254, 253}');
  t.is(raw[38], 0, 'legacy_session_id: empty (no middlebox compatibility mode)');
  t.is(raw[39], 0, 'legacy_cookie: empty');
  const ch = clientHelloOf(raw);
  t.is(ch.legacyVersion, ProtocolVersion.DTLS1_2);
  t.deepEqual(ch.legacyCookie, new Uint8Array(0));
  t.deepEqual(ch.extensions.supportedVersions, [ProtocolVersion.DTLS1_3, ProtocolVersion.DTLS1_2]);
  // The ServerHello: legacy_version 0xfefd, supported_versions 0xfefc, nothing echoed (RFC 9147 §5).
  const sh = serverHelloOf(pair.sent.server[0]!.data);
  t.is(sh.legacyVersion, ProtocolVersion.DTLS1_2);
  t.is(sh.extensions.supportedVersion, ProtocolVersion.DTLS1_3);
  t.is(sh.legacySessionIdEcho.length, 0);
});

const SUITES: CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const GROUPS: [GroupName, string][] = [
  ['x25519', 'X25519'],
  ['secp256r1', 'P-256'],
  ['secp384r1', 'P-384'],
];

test('DTLS variant: every suite with every group completes, both ends agreeing', (t) => {
  for (const suite of SUITES) {
    for (const [group, display] of GROUPS) {
      const pair = new DtlsPair({ cipherSuites: [suite], groups: [group] }).run();
      const what = `${suite} ${group}`;
      t.true(isHandshakeComplete(pair.state.client), what);
      t.true(isHandshakeComplete(pair.state.server), what);
      t.like(negotiated(pair.state.server), { cipherSuite: suite, group: display }, what);
      t.deepEqual(pair.keys.client.write3, pair.keys.server.read3, what);
      t.deepEqual(pair.keys.client.read3, pair.keys.server.write3, what);
      t.is(pair.keys.client.write3!.length, suite === 'TLS_AES_256_GCM_SHA384' ? 48 : 32, what);
    }
  }
});

test('DTLS variant: a stateful HelloRetryRequest for a group still works (no cookie), with nothing echoed', (t) => {
  const pair = new DtlsPair({ groups: ['x25519', 'secp256r1'] }, { groups: ['secp256r1'] }).run();
  t.true(isHandshakeComplete(pair.state.client));
  t.true(isHandshakeComplete(pair.state.server));
  t.is(pair.serverEngines, 1);
  const hrr = serverHelloOf(pair.sent.server[0]!.data);
  t.true(isHrr(hrr));
  t.is(hrr.extensions.selectedGroup, 0x17);
  t.is(hrr.extensions.cookie, undefined);
  t.is(hrr.legacyVersion, ProtocolVersion.DTLS1_2);
  t.is(hrr.extensions.supportedVersion, ProtocolVersion.DTLS1_3);
  t.deepEqual(pair.sent.client.map((m) => m.epoch), [Epoch.initial, Epoch.initial, Epoch.handshake]);
  t.like(negotiated(pair.state.client), { group: 'P-256', helloRetry: true });
});

test('DTLS variant: resumption with a ticket, the binder over the DTLS-form ClientHello', (t) => {
  const ticketer = createTicketer(new Uint8Array(32).fill(3));
  const first = new DtlsPair({}, { ticketer }).run();
  const session = first.events.client.find((e) => e.type === 'session');
  if (session?.type !== 'session') return t.fail('a session from the NewSessionTicket');
  t.is(first.sent.server.at(-1)!.epoch, Epoch.application, 'tickets at epoch 3');
  const second = new DtlsPair({ session: session.session }, { ticketer }).run();
  t.deepEqual(second.errors, { client: [], server: [] });
  t.like(negotiated(second.state.client), { resumed: true });
  t.like(negotiated(second.state.server), { resumed: true });
  t.truthy(clientHelloOf(second.sent.client[0]!.data).extensions.preSharedKey);
});

// ---------------------------------------------------------------------------------------------------------------
// What the server refuses, what the client refuses

test('DTLS variant: a ClientHello with a non-empty legacy_cookie is illegal_parameter (RFC 9147 §5.3)', (t) => {
  const client = startHandshake(createHandshake(clientConfig(), 'dtls'), NOW);
  const ch = clientHelloOf(sendsOf(client)[0]!.data);
  const withCookie = dtlsHello({ ...ch, legacyCookie: Uint8Array.of(1, 2, 3) });
  failedWith(t, handshakeData(startedServer(), Epoch.initial, withCookie, NOW), AlertDescription.illegal_parameter);
  // A stateless server aborts too: this is no cookie of ours, it is a malformed DTLS 1.3 ClientHello.
  failedWith(t, handshakeData(startedServer(cookieServer), Epoch.initial, withCookie, NOW), AlertDescription.illegal_parameter);
});

test('DTLS variant: a ClientHello that offers TLS 1.3 only, or says legacy_version 0xfeff, is protocol_version', (t) => {
  const client = startHandshake(createHandshake(clientConfig(), 'dtls'), NOW);
  const ch = clientHelloOf(sendsOf(client)[0]!.data);
  const tlsOnly = dtlsHello({ ...ch, extensions: { ...ch.extensions, supportedVersions: [ProtocolVersion.TLS1_3] } });
  failedWith(t, handshakeData(startedServer(), Epoch.initial, tlsOnly, NOW), AlertDescription.protocol_version);
  const dtls10 = dtlsHello({ ...ch, legacyVersion: 0xfeff });
  failedWith(t, handshakeData(startedServer(), Epoch.initial, dtls10, NOW), AlertDescription.protocol_version);
});

test('DTLS variant: the client refuses a ServerHello with TLS versions or an echoed session ID (illegal_parameter)', (t) => {
  const pair = new DtlsPair();
  pair.start('server');
  const ch = sendsOf(pair.start('client'))[0]!.data;
  const sh = serverHelloOf(sendsOf(pair.data('server', Epoch.initial, ch))[0]!.data);
  const client = pair.state.client;
  const variants: [string, ServerHello][] = [
    ['supported_version 0x0304', { ...sh, extensions: { ...sh.extensions, supportedVersion: ProtocolVersion.TLS1_3 } }],
    ['legacy_version 0x0303', { ...sh, legacyVersion: ProtocolVersion.TLS1_2 }],
    ['a non-empty legacy_session_id_echo', { ...sh, legacySessionIdEcho: Uint8Array.of(9) }],
  ];
  for (const [what, bad] of variants) {
    const step = handshakeData(client, Epoch.initial, hello(bad), NOW);
    t.is(step.error && alertFor(step.error), AlertDescription.illegal_parameter, what);
  }
  // Unchanged it is accepted.
  t.is(handshakeData(client, Epoch.initial, hello(sh), NOW).error, undefined);
});

test('DTLS variant: early data is API misuse, for clients and servers (RFC 9147 §5.6: no EndOfEarlyData)', (t) => {
  const misuse = { instanceOf: TlsError, message: /early data/ };
  t.throws(() => createHandshake(clientConfig({ earlyData: true }), 'dtls'), misuse);
  t.throws(() => createHandshake(serverConfig({ maxEarlyData: 1024, antiReplay: { firstUse: () => true } }), 'dtls'), misuse);
  t.notThrows(() => createHandshake(serverConfig({ maxEarlyData: 0 }), 'dtls'));
});

test('DTLS variant: a cookie secret must be 32 bytes and a lifetime 1 ms..1 day; TLS ignores the cookie settings', (t) => {
  const misuse = { instanceOf: TlsError, message: /cookie/ };
  t.throws(() => createHandshake(serverConfig({ cookieSecret: new Uint8Array(16) }), 'dtls'), misuse);
  t.throws(() => createHandshake(serverConfig({ cookieSecret: COOKIE_SECRET, cookieLifetime: 0 }), 'dtls'), misuse);
  t.throws(() => createHandshake(serverConfig({ cookieSecret: COOKIE_SECRET, cookieLifetime: 1.5 }), 'dtls'), misuse);
  // Over TLS the first ClientHello gets a ServerHello: no stateless cookies there.
  const tlsClient = startHandshake(createHandshake(clientConfig({ middleboxCompat: false }), 'tls'), NOW);
  const tlsServer = startHandshake(createHandshake(serverConfig(cookieServer), 'tls'), NOW).state;
  const step = handshakeData(tlsServer, Epoch.initial, sendsOf(tlsClient)[0]!.data, NOW);
  t.false(isHrr(serverHelloOf(sendsOf(step)[0]!.data)));
  t.true(isHandshakeCommitted(step.state));
});

// ---------------------------------------------------------------------------------------------------------------
// Connection IDs (RFC 9146, RFC 9147 §9): never negotiated

const CONNECTION_ID = { type: ExtensionType.connection_id, data: Uint8Array.of(2, 0xc1, 0xd0) };

test('DTLS variant: a ClientHello offering connection_id is answered without it', (t) => {
  const client = startHandshake(createHandshake(clientConfig(), 'dtls'), NOW);
  const ch = clientHelloOf(sendsOf(client)[0]!.data);
  const withCid = dtlsHello({ ...ch, extensions: { ...ch.extensions, unknown: [...ch.extensions.unknown, CONNECTION_ID], order: [] } });
  const step = handshakeData(startedServer(), Epoch.initial, withCid, NOW);
  t.is(step.error, undefined, step.error?.reason);
  const [sh, flight] = sendsOf(step);
  t.deepEqual(serverHelloOf(sh!.data).extensions.unknown, []);
  const ee = decodeHandshakeBytes(splitMessages(flight!.data)[0]!);
  t.is(ee.type, 'encrypted_extensions');
  t.false((ee as { body: EncryptedExtensions }).body.unknown.some((u) => u.type === ExtensionType.connection_id));
});

test('DTLS variant: a connection_id we did not offer, in the ServerHello or EncryptedExtensions, is unsupported_extension', (t) => {
  const pair = new DtlsPair();
  pair.start('server');
  const ch = sendsOf(pair.start('client'))[0]!.data;
  const [shSend, flightSend] = sendsOf(pair.data('server', Epoch.initial, ch));
  const sh = serverHelloOf(shSend!.data);
  const client = pair.state.client;
  const shWithCid = hello({ ...sh, extensions: { ...sh.extensions, unknown: [CONNECTION_ID], order: [] } });
  failedWith(t, handshakeData(client, Epoch.initial, shWithCid, NOW), AlertDescription.unsupported_extension);
  // The real ServerHello, then an EncryptedExtensions with connection_id added.
  const afterSh = handshakeData(client, Epoch.initial, shSend!.data, NOW);
  t.is(afterSh.error, undefined);
  const [eeRaw] = splitMessages(flightSend!.data);
  const ee = (decodeHandshakeBytes(eeRaw!) as { body: EncryptedExtensions }).body;
  const eeWithCid: HandshakeMessage = { type: 'encrypted_extensions', body: { ...ee, unknown: [CONNECTION_ID], order: [] } };
  failedWith(t, handshakeData(afterSh.state, Epoch.handshake, encodeHandshakeBytes(eeWithCid), NOW), AlertDescription.unsupported_extension);
});

// ---------------------------------------------------------------------------------------------------------------
// Stateless cookies (RFC 9147 §5.1)

/** A client that sent its first ClientHello, a cookie server engine's answer, and the client's second ClientHello. */
function cookieExchange(client: Partial<HandshakeClientConfig> = {}, server: Partial<HandshakeServerConfig> = {}) {
  const pair = new DtlsPair(client, { ...cookieServer, ...server });
  pair.start('server');
  const ch1 = sendsOf(pair.start('client'))[0]!.data;
  const answer = pair.data('server', Epoch.initial, ch1);
  const afterHrr = pair.data('client', Epoch.initial, sendsOf(answer)[0]!.data);
  const ch2 = sendsOf(afterHrr)[0]!.data;
  pair.queue.length = 0;
  return { pair, ch1, answer, afterHrr, ch2 };
}

test('stateless cookie: engine #1 answers with a HelloRetryRequest + cookie and keeps nothing; a fresh engine #2 completes with the client', (t) => {
  const { pair, answer, afterHrr, ch2 } = cookieExchange();
  const hrr = statelessRetry(t, answer);
  // The client had a usable x25519 share: the HelloRetryRequest asks for the cookie only, in DTLS form.
  t.is(hrr.extensions.selectedGroup, undefined);
  t.is(hrr.legacyVersion, ProtocolVersion.DTLS1_2);
  t.is(hrr.extensions.supportedVersion, ProtocolVersion.DTLS1_3);
  t.is(hrr.legacySessionIdEcho.length, 0);
  t.is(pair.serverEngines, 2, 'the layer dropped engine #1');
  // The client sends the cookie back, unchanged, in its second ClientHello, at epoch 0.
  t.is(afterHrr.error, undefined);
  t.is(sendsOf(afterHrr)[0]!.epoch, Epoch.initial);
  t.deepEqual(clientHelloOf(ch2).extensions.cookie, hrr.extensions.cookie);
  // Engine #2 checks the cookie and commits.
  const step = pair.data('server', Epoch.initial, ch2);
  t.is(step.error, undefined, step.error?.reason);
  t.true(isHandshakeCommitted(step.state));
  t.false(isHrr(serverHelloOf(sendsOf(step)[0]!.data)));
  pair.drain();
  t.deepEqual(pair.errors, { client: [], server: [] });
  t.true(isHandshakeComplete(pair.state.client));
  t.true(isHandshakeComplete(pair.state.server));
  t.is(pair.serverEngines, 2);
  t.deepEqual(pair.keys.client.write3, pair.keys.server.read3);
  t.deepEqual(pair.keys.client.read3, pair.keys.server.write3);
  t.like(negotiated(pair.state.server), { helloRetry: true });
  t.like(negotiated(pair.state.client), { helloRetry: true });
});

test('stateless cookie: the whole exchange through the pair, with every suite', (t) => {
  for (const suite of SUITES) {
    const pair = new DtlsPair({ cipherSuites: [suite] }, cookieServer).run();
    t.true(isHandshakeComplete(pair.state.client), suite);
    t.true(isHandshakeComplete(pair.state.server), suite);
    t.is(pair.serverEngines, 2, suite);
    t.deepEqual(pair.sent.client.map((m) => m.epoch), [Epoch.initial, Epoch.initial, Epoch.handshake], suite);
    t.deepEqual(pair.keys.client.write2, pair.keys.server.read2, suite);
  }
});

test('stateless cookie with a group: client shares x25519 only, server takes secp256r1 only', (t) => {
  const { answer, ch2 } = cookieExchange({ groups: ['x25519', 'secp256r1'] }, { groups: ['secp256r1'] });
  const hrr = statelessRetry(t, answer);
  t.is(hrr.extensions.selectedGroup, 0x17);
  t.deepEqual(clientHelloOf(ch2).extensions.keyShares!.map((k) => k.group), [0x17]);
  const pair = new DtlsPair({ groups: ['x25519', 'secp256r1'] }, { ...cookieServer, groups: ['secp256r1'] }).run();
  t.deepEqual(pair.errors, { client: [], server: [] });
  t.true(isHandshakeComplete(pair.state.client));
  t.true(isHandshakeComplete(pair.state.server));
  t.is(pair.serverEngines, 2);
  t.like(negotiated(pair.state.client), { group: 'P-256', helloRetry: true });
  t.deepEqual(pair.keys.client.write3, pair.keys.server.read3);
});

test('stateless cookie with resumption: the binder of the second ClientHello covers message_hash and the HelloRetryRequest', (t) => {
  const ticketer = createTicketer(new Uint8Array(32).fill(4));
  const first = new DtlsPair({}, { ticketer }).run();
  const session = first.events.client.find((e) => e.type === 'session');
  if (session?.type !== 'session') return t.fail('a session');
  const second = new DtlsPair({ session: session.session }, { ...cookieServer, ticketer }).run();
  t.deepEqual(second.errors, { client: [], server: [] });
  t.is(second.serverEngines, 2);
  t.like(negotiated(second.state.server), { resumed: true, helloRetry: true });
  t.like(negotiated(second.state.client), { resumed: true, helloRetry: true });
});

// RFC 9147 §5.1 (the final text; the drafts said the opposite): "If a server receives a ClientHello with an invalid
// cookie, it MUST terminate the handshake with an "illegal_parameter" alert." The client then starts again without one.
test('stateless cookie: a tampered cookie, a wrong binding, another secret or an expired cookie end the handshake with illegal_parameter', (t) => {
  const { ch2, answer } = cookieExchange();
  const cookie = statelessRetry(t, answer).extensions.cookie!;
  const body = clientHelloOf(ch2);
  const withCookie = (c: Uint8Array) => dtlsHello({ ...body, extensions: { ...body.extensions, cookie: c } });
  const flipped = (i: number) => withCookie(cookie.map((b, j) => (j === i ? b ^ 1 : b)));
  const cases: [string, Partial<HandshakeServerConfig>, Uint8Array, number][] = [
    ['the version byte flipped', {}, flipped(0), NOW],
    ['the issue time flipped', {}, flipped(5), NOW],
    ['the suite flipped', {}, flipped(10), NOW],
    ['the MAC flipped', {}, flipped(cookie.length - 1), NOW],
    ['truncated', {}, withCookie(cookie.subarray(0, 40)), NOW],
    ['another binding', { cookieBinding: Uint8Array.of(198, 51, 100, 7, 0x12, 0x34) }, ch2, NOW],
    ['no binding', { cookieBinding: undefined }, ch2, NOW],
    ['another secret', { cookieSecret: new Uint8Array(32).fill(1) }, ch2, NOW],
    ['expired', {}, ch2, NOW + 60_001],
    ['expired (shorter lifetime)', { cookieLifetime: 1000 }, ch2, NOW + 1001],
    ['from the future', {}, ch2, NOW - 1],
  ];
  for (const [what, cfg, bytes, now] of cases) {
    const fresh = startHandshake(createHandshake(serverConfig({ ...cookieServer, ...cfg }), 'dtls'), now).state;
    const step = handshakeData(fresh, Epoch.initial, bytes, now);
    t.is(step.error ? alertFor(step.error) : undefined, AlertDescription.illegal_parameter, what);
    t.false(step.events.some((e) => e.type === 'send'), `${what}: no HelloRetryRequest`);
    t.false(isHandshakeCommitted(step.state), what);
  }
  // Within the lifetime, at its very end, the cookie holds.
  const atEnd = handshakeData(startedServer(cookieServer), Epoch.initial, ch2, NOW + 60_000);
  t.true(isHandshakeCommitted(atEnd.state));
  // The client, for its part, aborts at a second HelloRetryRequest (RFC 8446 §4.1.4, RFC 9147 §5.1).
  const { pair, ch1 } = cookieExchange();
  const another = handshakeData(startedServer(cookieServer), Epoch.initial, ch1, NOW);
  failedWith(t, pair.data('client', Epoch.initial, sendsOf(another)[0]!.data), AlertDescription.unexpected_message);
});

test('stateless cookie: a second ClientHello that drops the suite or changes the key share is illegal_parameter, as a stateful server says', (t) => {
  const { ch2 } = cookieExchange({ cipherSuites: ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'] });
  const body = clientHelloOf(ch2);
  const noSuite = dtlsHello({ ...body, cipherSuites: [0x1302] });
  failedWith(t, handshakeData(startedServer(cookieServer), Epoch.initial, noSuite, NOW), AlertDescription.illegal_parameter);
  // After a HelloRetryRequest with a group the second ClientHello must carry one share, for that group.
  const grouped = cookieExchange({ groups: ['x25519', 'secp256r1'] }, { groups: ['secp256r1'] });
  const g = clientHelloOf(grouped.ch2);
  const twoShares = dtlsHello({
    ...g,
    extensions: { ...g.extensions, keyShares: [...g.extensions.keyShares!, clientHelloOf(grouped.ch1).extensions.keyShares![0]!] },
  });
  const step = handshakeData(startedServer({ ...cookieServer, groups: ['secp256r1'] }), Epoch.initial, twoShares, NOW);
  failedWith(t, step, AlertDescription.illegal_parameter);
  t.false(isHandshakeCommitted(step.state));
});

test('stateless cookie: a valid cookie with a ClientHello that is otherwise wrong fails as a second ClientHello does', (t) => {
  const { ch2 } = cookieExchange();
  const body = clientHelloOf(ch2);
  // RFC 8446 §4.1.2: no early_data after a HelloRetryRequest; the same legacy_session_id as the first.
  const early = dtlsHello({ ...body, extensions: { ...body.extensions, earlyData: true, order: [] } });
  failedWith(t, handshakeData(startedServer(cookieServer), Epoch.initial, early, NOW), AlertDescription.illegal_parameter);
  const sessionId = dtlsHello({ ...body, legacySessionId: Uint8Array.of(7) });
  failedWith(t, handshakeData(startedServer(cookieServer), Epoch.initial, sessionId, NOW), AlertDescription.illegal_parameter);
});

test('stateless cookie: the engine after a stateless HelloRetryRequest is as good as fresh', (t) => {
  const { answer, ch2 } = cookieExchange();
  const step = handshakeData(answer.state, Epoch.initial, ch2, NOW);
  t.is(step.error, undefined, step.error?.reason);
  t.true(isHandshakeCommitted(step.state));
  t.false(isHrr(serverHelloOf(sendsOf(step)[0]!.data)));
});

// A ClientHello header around `body`.
const asClientHello = (body: Uint8Array): Uint8Array => Uint8Array.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff, ...body]);

test('stateless cookie: random or mutated ClientHellos never throw: an alert, a HelloRetryRequest (DTLS 1.2: a HelloVerifyRequest), or (a valid cookie) a ServerHello', (t) => {
  const { ch1, ch2 } = cookieExchange();
  const server = startedServer(cookieServer);
  const mutation = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), cut: fc.boolean() });
  const mutate = (msg: Uint8Array, ms: { at: number; value: number; cut: boolean }[]): Uint8Array => {
    const body = Array.from(msg.subarray(4));
    for (const m of ms) {
      const at = m.at % body.length;
      if (m.cut) body.splice(at, 1);
      else body[at] = m.value;
    }
    return asClientHello(Uint8Array.from(body));
  };
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((b) => ({ bytes: asClientHello(b), cookie: false })),
    fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => ({ bytes: mutate(ch1, ms), cookie: false })),
    fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => ({ bytes: mutate(ch2, ms), cookie: true })),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(input, ({ bytes, cookie }) => {
        const step = handshakeData(server, Epoch.initial, bytes, NOW);
        if (step.error) return !step.events.some((e) => e.type === 'send');
        // A ClientHello that no longer offers DTLS 1.3 gets DTLS 1.2's stateless HelloVerifyRequest (RFC 6347 §4.2.1).
        if (sendsOf(step)[0]!.data[0] === 3) return !isHandshakeCommitted(step.state);
        const sh = serverHelloOf(sendsOf(step)[0]!.data);
        // Only a ClientHello carrying our cookie may get past the HelloRetryRequest.
        if (!isHrr(sh)) return cookie && isHandshakeCommitted(step.state);
        return !isHandshakeCommitted(step.state) && sh.extensions.cookie !== undefined;
      }),
      { numRuns: 150 },
    ),
  );
});
