/**
 * The handshake engine in its QUIC variant (RFC 9001 §4, §8): handshake bytes per epoch (encryption level),
 * key changes per direction, transport parameters as an event, no records, CCS or alerts.
 */
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { packetKeys, protectPacket, unprotectPacket } from '../../src/quic/protection.js';
import type { HandshakeClientConfig, HandshakeServerConfig } from '../../src/handshake/config.js';
import {
  createHandshake,
  handshakeData,
  isHandshakeComplete,
  startHandshake,
  updateTrafficKeys,
  type HandshakeState,
  type HsStep,
} from '../../src/handshake/engine.js';
import { Epoch, type HsEvent } from '../../src/handshake/events.js';
import { alertFor } from '../../src/core/errors.js';
import { createAntiReplay, createTicketer } from '../../src/handshake/session.js';
import { createConnection, handleEvents } from '../../src/tls/connection.js';
import { encodeLongHeader } from '../../src/wire/quic/packet.js';
import { decodeTransportParameters, encodeTransportParameters } from '../../src/wire/quic/transportParameters.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';
import { encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { caVerifier, NOW, serverCredentials } from '../helpers/pair.js';

type Side = 'client' | 'server';
const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');
type Level = 'initial' | 'handshake' | 'oneRtt';
const LEVEL: Record<number, Level> = { [Epoch.initial]: 'initial', [Epoch.handshake]: 'handshake', [Epoch.application]: 'oneRtt' };
const EPOCH: Record<Level, number> = { initial: Epoch.initial, handshake: Epoch.handshake, oneRtt: Epoch.application };

const clientParams = encodeTransportParameters({ initialMaxData: 1 << 20, initialSourceConnectionId: Uint8Array.of(1, 2, 3, 4) });
const serverParams = encodeTransportParameters({ initialMaxData: 1 << 21, originalDestinationConnectionId: Uint8Array.of(9, 9, 9, 9), initialSourceConnectionId: Uint8Array.of(5, 6) });

/** A QUIC-variant client and server whose handshake bytes are carried to each other at the epoch they were sent. */
class QuicTlsPair {
  readonly state: Record<Side, HandshakeState>;
  readonly sent: Record<Side, { level: Level; type: number }[]> = { client: [], server: [] };
  readonly events: Record<Side, HsEvent[]> = { client: [], server: [] };
  readonly errors: Record<Side, (TlsError | undefined)[]> = { client: [], server: [] };
  /** Secrets by epoch and direction, as the key changes delivered them. */
  readonly keys: Record<Side, Record<string, Uint8Array>> = { client: {}, server: {} };
  private readonly queue: { to: Side; level: Level; data: Uint8Array }[] = [];

  constructor(client: Partial<HandshakeClientConfig> = {}, server: Partial<HandshakeServerConfig> = {}) {
    this.state = {
      client: createHandshake({ role: 'client', serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'], ...client }, 'quic', clientParams),
      server: createHandshake({ role: 'server', ...serverCredentials(), alpnProtocols: ['h3'], ...server }, 'quic', serverParams),
    };
  }

  apply(side: Side, step: HsStep): HsStep {
    this.state[side] = step.state;
    for (const e of step.events) {
      this.events[side].push(e);
      if (e.type === 'send') {
        this.sent[side].push({ level: LEVEL[e.epoch]!, type: e.data[0]! });
        this.queue.push({ to: other(side), level: LEVEL[e.epoch]!, data: e.data });
      }
      if (e.type === 'keyChange' && e.secret) this.keys[side][`${e.direction}${e.epoch}`] = e.secret;
    }
    this.errors[side].push(step.error ? new TlsError(step.error) : undefined);
    return step;
  }

  start(side: Side): HsStep {
    return this.apply(side, startHandshake(this.state[side], NOW));
  }

  data(side: Side, level: Level, data: Uint8Array): HsStep {
    return this.apply(side, handshakeData(this.state[side], EPOCH[level], data, NOW));
  }

  /** Start both and carry handshake bytes until nothing is left (bounded). */
  run(): this {
    this.start('server');
    this.start('client');
    for (let i = 0; i < 50 && this.queue.length > 0; i++) {
      const m = this.queue.shift()!;
      this.data(m.to, m.level, m.data);
    }
    return this;
  }
}

const HS = { client_hello: 1, server_hello: 2, new_session_ticket: 4, encrypted_extensions: 8, certificate: 11, certificate_verify: 15, finished: 20 };
const sendOf = (step: HsStep) => step.events.find((e): e is Extract<HsEvent, { type: 'send' }> => e.type === 'send')!.data;

test('QUIC variant: the handshake completes with each message at its epoch, and only send/keyChange/… events', (t) => {
  const pair = new QuicTlsPair().run();
  t.true(isHandshakeComplete(pair.state.client));
  t.true(isHandshakeComplete(pair.state.server));
  // RFC 9001 §4.1.4: ClientHello and ServerHello at Initial, the rest of the server flight and the client
  // Finished at Handshake, tickets at 1-RTT. Each event holds one or more whole messages.
  t.deepEqual(pair.sent.client, [
    { level: 'initial', type: HS.client_hello },
    { level: 'handshake', type: HS.finished },
  ]);
  t.deepEqual(pair.sent.server.slice(0, 2), [
    { level: 'initial', type: HS.server_hello },
    { level: 'handshake', type: HS.encrypted_extensions },
  ]);
  t.true(pair.sent.server.slice(2).every((m) => m.level === 'oneRtt' && m.type === HS.new_session_ticket), 'then tickets, at 1-RTT');
  for (const side of ['client', 'server'] as const) {
    t.false(pair.events[side].some((e) => e.type === 'compatCcs' || e.type === 'recordSizeLimit'), `${side}: no CCS`);
    t.true(pair.events[side].some((e) => e.type === 'complete'));
    t.true(pair.errors[side].every((e) => e === undefined));
  }
  // Key changes in order: the client reads Handshake keys before it writes them, and 1-RTT after.
  const changes = pair.events.client.flatMap((e) => (e.type === 'keyChange' ? [`${e.direction}${e.epoch}`] : []));
  t.deepEqual(changes, ['read2', 'write2', 'read3', 'write3']);
  // The transport parameters come before completion.
  const kinds = pair.events.client.map((e) => e.type);
  t.true(kinds.indexOf('transportParameters') < kinds.indexOf('complete'));
});

test('QUIC variant: both ends hold the same Handshake and 1-RTT secrets, and packets protected with them open at the peer', (t) => {
  const pair = new QuicTlsPair().run();
  const c = pair.keys.client;
  const s = pair.keys.server;
  // What one writes the other reads.
  t.deepEqual(c.write2, s.read2);
  t.deepEqual(c.read2, s.write2);
  t.deepEqual(c.write3, s.read3);
  t.deepEqual(c.read3, s.write3);
  t.is(c.write2!.length, 32);
  t.notDeepEqual(c.write2, c.write3);
  // RFC 9001 §5.1: packet keys from the TLS secrets; a server Handshake packet opens at the client.
  const serverKeys = packetKeys(nobleProvider, 'sha256', 'aes-128-gcm', s.write2!);
  const payload = new Uint8Array(40).fill(0x01); // PING frames
  const header = encodeLongHeader({ type: 'handshake', dcid: Uint8Array.of(1, 2, 3, 4), scid: Uint8Array.of(5, 6), packetNumber: 0, pnLength: 1, payloadLength: payload.length });
  const packet = protectPacket(nobleProvider, serverKeys, header, 0, payload);
  const atClient = packetKeys(nobleProvider, 'sha256', 'aes-128-gcm', c.read2!);
  t.deepEqual(unprotectPacket(nobleProvider, atClient, packet, header.length - 1, -1)?.payload, payload);
});

const tpOf = (events: readonly HsEvent[]) => events.find((e): e is Extract<HsEvent, { type: 'transportParameters' }> => e.type === 'transportParameters')?.data;

test('QUIC variant: transport parameters travel in the ClientHello and EncryptedExtensions (RFC 9001 §8.2)', (t) => {
  const pair = new QuicTlsPair().run();
  t.deepEqual(tpOf(pair.events.server), clientParams);
  t.deepEqual(tpOf(pair.events.client), serverParams);
  t.like(decodeTransportParameters(tpOf(pair.events.client)!, 'server'), { initialMaxData: 1 << 21 });
});

test('QUIC variant: a HelloRetryRequest keeps both ClientHellos at the Initial level', (t) => {
  const pair = new QuicTlsPair({ groups: ['x25519', 'secp384r1'] }, { groups: ['secp384r1'] }).run();
  t.true(isHandshakeComplete(pair.state.client));
  t.deepEqual(pair.sent.client.map((m) => m.level), ['initial', 'initial', 'handshake']);
  t.deepEqual(pair.keys.client.write3, pair.keys.server.read3);
});

/** The step failed with the alert QUIC turns into CRYPTO_ERROR, and sent nothing. */
function failedWith(t: import('ava').ExecutionContext, step: HsStep, description: number): void {
  t.truthy(step.error);
  t.is(step.error ? alertFor(step.error) : undefined, description);
  t.false(step.events.some((e) => e.type === 'send'), 'nothing goes out: the QUIC layer sends CRYPTO_ERROR');
}

test('QUIC variant: a ClientHello without quic_transport_parameters gets missing_extension', (t) => {
  // A TLS-over-TCP client's hello (with ALPN h3), carried as handshake bytes: the record header stripped.
  const tcp = createConnection({ role: 'client', serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'], middleboxCompat: false });
  const hello = handleEvents(tcp, { type: 'start', now: NOW }).effects.find((e) => e.type === 'transmit');
  if (hello?.type !== 'transmit') return t.fail('a ClientHello record');
  const pair = new QuicTlsPair();
  pair.start('server');
  failedWith(t, pair.data('server', 'initial', hello.data.subarray(5)), AlertDescription.missing_extension);
});

test('QUIC variant: handshake data at the wrong epoch, and a TLS KeyUpdate, are unexpected_message', (t) => {
  // The ServerHello arriving at the Handshake level.
  const a = new QuicTlsPair();
  a.start('server');
  const ch = sendOf(a.start('client'));
  const sh = sendOf(a.data('server', 'initial', ch));
  failedWith(t, a.data('client', 'handshake', sh), AlertDescription.unexpected_message);

  // RFC 9001 §6: KeyUpdate at 1-RTT after the handshake.
  const b = new QuicTlsPair().run();
  const keyUpdate = encodeHandshakeBytes({ type: 'key_update', body: { requestUpdate: 0 } });
  failedWith(t, b.data('client', 'oneRtt', keyUpdate), AlertDescription.unexpected_message);
});

test('QUIC variant: the server requires ALPN; no ALPN or KeyUpdate is API misuse; early data is allowed (0-RTT, RFC 9001 §4.6)', (t) => {
  const noAlpn = new QuicTlsPair({ alpnProtocols: ['h3'] }, { alpnProtocols: ['other'] });
  noAlpn.start('server');
  const ch = sendOf(noAlpn.start('client'));
  failedWith(t, noAlpn.data('server', 'initial', ch), AlertDescription.no_application_protocol);

  const misuse = { instanceOf: TlsError, message: /QUIC|alpn|ALPN/ };
  t.throws(() => createHandshake({ role: 'client', verifier: caVerifier() }, 'quic', clientParams), misuse);
  t.throws(() => createHandshake({ role: 'client', verifier: caVerifier(), alpnProtocols: ['h3'] }, 'quic'), misuse);
  t.notThrows(() => createHandshake({ role: 'client', verifier: caVerifier(), alpnProtocols: ['h3'], earlyData: true }, 'quic', clientParams));
  const pair = new QuicTlsPair().run();
  t.throws(() => updateTrafficKeys(pair.state.client, false, NOW), misuse);
});

test('QUIC variant: tickets arrive at 1-RTT and resume a second handshake (PSK), with transport parameters again', (t) => {
  const server = { ticketer: createTicketer(new Uint8Array(32).fill(7)), antiReplay: createAntiReplay() };
  const first = new QuicTlsPair({}, server).run();
  const session = first.events.client.find((e) => e.type === 'session');
  if (session?.type !== 'session') return t.fail('a session from the NewSessionTicket');
  const second = new QuicTlsPair({ session: session.session }, server).run();
  t.true(isHandshakeComplete(second.state.client));
  const done = second.events.client.find((e) => e.type === 'complete');
  t.true(done?.type === 'complete' && done.info.resumed);
  // A resumed handshake sends no certificate: EncryptedExtensions and Finished only, at Handshake.
  t.deepEqual(second.sent.server.slice(0, 2).map((m) => m.level), ['initial', 'handshake']);
  t.deepEqual(second.keys.client.write3, second.keys.server.read3);
  t.deepEqual(tpOf(second.events.client), serverParams);
});
