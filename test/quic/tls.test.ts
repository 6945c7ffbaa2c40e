/** The TLS 1.3 handshake in QUIC mode (RFC 9001 §4, §8): CRYPTO data per encryption level, secrets per level. */
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import type { Effect, Input, QuicLevel } from '../../src/core/types.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { packetKeys, protectPacket, unprotectPacket } from '../../src/quic/protection.js';
import { createConnection, handleEvents, isConnected, peerTransportParameters, quicSecrets, type TlsState } from '../../src/tls/connection.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import { createAntiReplay, createTicketer } from '../../src/tls/session.js';
import { encodeLongHeader } from '../../src/wire/quic/packet.js';
import { decodeTransportParameters, encodeTransportParameters } from '../../src/wire/quic/transportParameters.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';
import { encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { caVerifier, NOW, serverCredentials } from '../helpers/pair.js';

type Side = 'client' | 'server';
const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

const clientParams = encodeTransportParameters({ initialMaxData: 1 << 20, initialSourceConnectionId: Uint8Array.of(1, 2, 3, 4) });
const serverParams = encodeTransportParameters({ initialMaxData: 1 << 21, originalDestinationConnectionId: Uint8Array.of(9, 9, 9, 9), initialSourceConnectionId: Uint8Array.of(5, 6) });

/** A QUIC-mode client and server whose CRYPTO data is carried to each other at the level it was sent. */
class QuicTlsPair {
  readonly state: Record<Side, TlsState>;
  readonly sent: Record<Side, { level: QuicLevel; type: number }[]> = { client: [], server: [] };
  readonly effects: Record<Side, Effect[]> = { client: [], server: [] };
  private readonly queue: { to: Side; level: QuicLevel; data: Uint8Array }[] = [];

  constructor(client: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
    this.state = {
      client: createConnection({
        role: 'client',
        serverName: 'localhost',
        verifier: caVerifier(),
        alpnProtocols: ['h3'],
        quic: { transportParameters: clientParams },
        ...client,
      }),
      server: createConnection({ role: 'server', ...serverCredentials(), alpnProtocols: ['h3'], quic: { transportParameters: serverParams }, ...server }),
    };
  }

  input(side: Side, input: Input): readonly Effect[] {
    const step = handleEvents(this.state[side], input);
    this.state[side] = step.state;
    for (const e of step.effects) {
      this.effects[side].push(e);
      if (e.type === 'cryptoData') {
        this.sent[side].push({ level: e.level, type: e.data[0]! });
        this.queue.push({ to: other(side), level: e.level, data: e.data });
      }
    }
    return step.effects;
  }

  /** Start both and carry CRYPTO data until nothing is left (bounded). */
  run(): this {
    this.input('server', { type: 'start', now: NOW });
    this.input('client', { type: 'start', now: NOW });
    for (let i = 0; i < 50 && this.queue.length > 0; i++) {
      const m = this.queue.shift()!;
      this.input(m.to, { type: 'cryptoData', now: NOW, level: m.level, data: m.data });
    }
    return this;
  }
}

const HS = { client_hello: 1, server_hello: 2, new_session_ticket: 4, encrypted_extensions: 8, certificate: 11, certificate_verify: 15, finished: 20 };

test('QUIC mode: the handshake completes with each message at its encryption level and no record, CCS or alert', (t) => {
  const pair = new QuicTlsPair().run();
  t.true(isConnected(pair.state.client));
  t.true(isConnected(pair.state.server));
  // RFC 9001 §4.1.4: ClientHello and ServerHello at Initial, the rest of the server flight and the client
  // Finished at Handshake, tickets at 1-RTT. Each effect holds one or more whole messages.
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
    t.false(pair.effects[side].some((e) => e.type === 'transmit' || e.type === 'alertSent'), `${side}: nothing but CRYPTO data`);
    t.true(pair.effects[side].some((e) => e.type === 'handshakeComplete'));
  }
});

test('QUIC mode: both ends hold the same Handshake and 1-RTT secrets, and packets protected with them open at the peer', (t) => {
  const pair = new QuicTlsPair().run();
  const c = quicSecrets(pair.state.client);
  const s = quicSecrets(pair.state.server);
  t.truthy(c.handshake);
  t.truthy(c.oneRtt);
  t.deepEqual(c, s);
  t.is(c.handshake!.client.length, 32);
  t.notDeepEqual(c.handshake!.client, c.oneRtt!.client);
  // RFC 9001 §5.1: packet keys from the TLS secrets; a server Handshake packet opens at the client.
  const hs = c.handshake!;
  const serverKeys = packetKeys(nobleProvider, hs.hash, hs.aead, hs.server);
  const payload = new Uint8Array(40).fill(0x01); // PING frames
  const header = encodeLongHeader({ type: 'handshake', dcid: Uint8Array.of(1, 2, 3, 4), scid: Uint8Array.of(5, 6), packetNumber: 0, pnLength: 1, payloadLength: payload.length });
  const packet = protectPacket(nobleProvider, serverKeys, header, 0, payload);
  const atClient = packetKeys(nobleProvider, s.handshake!.hash, s.handshake!.aead, s.handshake!.server);
  t.deepEqual(unprotectPacket(nobleProvider, atClient, packet, header.length - 1, -1)?.payload, payload);
});

test('QUIC mode: transport parameters travel in the ClientHello and EncryptedExtensions (RFC 9001 §8.2)', (t) => {
  const pair = new QuicTlsPair().run();
  t.deepEqual(peerTransportParameters(pair.state.server), clientParams);
  t.deepEqual(peerTransportParameters(pair.state.client), serverParams);
  t.like(decodeTransportParameters(peerTransportParameters(pair.state.client)!, 'server'), { initialMaxData: 1 << 21 });
});

test('QUIC mode: a HelloRetryRequest keeps both ClientHellos at the Initial level', (t) => {
  const pair = new QuicTlsPair({ groups: ['x25519', 'secp384r1'] }, { groups: ['secp384r1'] }).run();
  t.true(isConnected(pair.state.client));
  t.deepEqual(pair.sent.client.map((m) => m.level), ['initial', 'initial', 'handshake']);
  t.deepEqual(quicSecrets(pair.state.client), quicSecrets(pair.state.server));
});

/** The alert a side sent, and that it closed with an error. */
function closedWith(t: import('ava').ExecutionContext, effects: readonly Effect[], description: number): void {
  const alert = effects.find((e) => e.type === 'alertSent');
  t.is(alert?.type === 'alertSent' ? alert.description : undefined, description);
  const closed = effects.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error instanceof TlsError);
  t.false(effects.some((e) => e.type === 'transmit'), 'the alert is not a record: the QUIC layer sends CRYPTO_ERROR');
}

test('QUIC mode: a ClientHello without quic_transport_parameters gets missing_extension', (t) => {
  // A TLS-over-TCP client's hello (with ALPN h3), carried as CRYPTO data: the record header stripped.
  const tcp = createConnection({ role: 'client', serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'], middleboxCompat: false });
  const hello = handleEvents(tcp, { type: 'start', now: NOW }).effects.find((e) => e.type === 'transmit');
  if (hello?.type !== 'transmit') return t.fail('a ClientHello record');
  const pair = new QuicTlsPair();
  pair.input('server', { type: 'start', now: NOW });
  closedWith(t, pair.input('server', { type: 'cryptoData', now: NOW, level: 'initial', data: hello.data.subarray(5) }), AlertDescription.missing_extension);
});

test('QUIC mode: handshake data at the wrong level, and a TLS KeyUpdate, are unexpected_message', (t) => {
  // The ServerHello arriving at the Handshake level.
  const a = new QuicTlsPair();
  a.input('server', { type: 'start', now: NOW });
  const ch = a.input('client', { type: 'start', now: NOW }).find((e) => e.type === 'cryptoData');
  const sh = a.input('server', { type: 'cryptoData', now: NOW, level: 'initial', data: ch!.type === 'cryptoData' ? ch!.data : new Uint8Array(0) }).find((e) => e.type === 'cryptoData');
  closedWith(t, a.input('client', { type: 'cryptoData', now: NOW, level: 'handshake', data: sh!.type === 'cryptoData' ? sh!.data : new Uint8Array(0) }), AlertDescription.unexpected_message);

  // RFC 9001 §6: KeyUpdate at 1-RTT after the handshake.
  const b = new QuicTlsPair().run();
  const keyUpdate = encodeHandshakeBytes({ type: 'key_update', body: { requestUpdate: 0 } });
  closedWith(t, b.input('client', { type: 'cryptoData', now: NOW, level: 'oneRtt', data: keyUpdate }), AlertDescription.unexpected_message);
});

test('QUIC mode: the server requires ALPN; records, writes, close_notify and KeyUpdate are API misuse', (t) => {
  const noAlpn = new QuicTlsPair({ alpnProtocols: ['h3'] }, { alpnProtocols: ['other'] });
  noAlpn.input('server', { type: 'start', now: NOW });
  const ch = noAlpn.input('client', { type: 'start', now: NOW }).find((e) => e.type === 'cryptoData');
  closedWith(t, noAlpn.input('server', { type: 'cryptoData', now: NOW, level: 'initial', data: ch!.type === 'cryptoData' ? ch!.data : new Uint8Array(0) }), AlertDescription.no_application_protocol);

  const misuse = { instanceOf: TlsError, message: /QUIC|alpn|ALPN/ };
  t.throws(() => createConnection({ role: 'client', verifier: caVerifier(), quic: { transportParameters: clientParams } }), misuse);
  t.throws(() => createConnection({ role: 'client', verifier: caVerifier(), alpnProtocols: ['h3'], earlyData: true, quic: { transportParameters: clientParams } }), misuse);
  const pair = new QuicTlsPair().run();
  const c = pair.state.client;
  t.throws(() => handleEvents(c, { type: 'received', now: NOW, data: new Uint8Array(5) }), misuse);
  t.throws(() => handleEvents(c, { type: 'write', now: NOW, data: new Uint8Array(5) }), misuse);
  t.throws(() => handleEvents(c, { type: 'end', now: NOW }), misuse);
  t.throws(() => handleEvents(c, { type: 'keyUpdate', now: NOW, requestPeer: false }), misuse);
  t.throws(() => handleEvents(c, { type: 'eof', now: NOW }), misuse);
  // Closing is the QUIC layer's job: the TLS state ends without an alert.
  t.deepEqual(handleEvents(c, { type: 'close', now: NOW, mode: 'shutdown' }).effects, [{ type: 'closed' }]);
  const tcp = createConnection({ role: 'client', verifier: caVerifier() });
  t.throws(() => handleEvents(handleEvents(tcp, { type: 'start', now: NOW }).state, { type: 'cryptoData', now: NOW, level: 'initial', data: new Uint8Array(1) }), { instanceOf: TlsError });
});

test('QUIC mode: tickets arrive at 1-RTT and resume a second handshake (PSK), with transport parameters again', (t) => {
  const server = { ticketer: createTicketer(new Uint8Array(32).fill(7)), antiReplay: createAntiReplay() };
  const first = new QuicTlsPair({}, server).run();
  const session = first.effects.client.find((e) => e.type === 'session');
  if (session?.type !== 'session') return t.fail('a session from the NewSessionTicket');
  const second = new QuicTlsPair({ session: session.session }, server).run();
  t.true(isConnected(second.state.client));
  const done = second.effects.client.find((e) => e.type === 'handshakeComplete');
  t.true(done?.type === 'handshakeComplete' && done.info.resumed);
  // A resumed handshake sends no certificate: EncryptedExtensions and Finished only, at Handshake.
  t.deepEqual(second.sent.server.slice(0, 2).map((m) => m.level), ['initial', 'handshake']);
  t.deepEqual(quicSecrets(second.state.client), quicSecrets(second.state.server));
  t.deepEqual(peerTransportParameters(second.state.client), serverParams);
});
