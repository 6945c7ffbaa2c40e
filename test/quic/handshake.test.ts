/**
 * QUIC's handshake seam (src/quic/handshake.ts): a client and a server driven purely through it — handshake
 * bytes in by key epoch, `HsEvent`s out — as the packet layer sees it (RFC 9001 §4).
 */
import test from 'ava';
import { nobleProvider } from '../../src/crypto/noble.js';
import { Epoch, type HsEvent } from '../../src/handshake/events.js';
import { packetKeys } from '../../src/quic/protection.js';
import { closeQuicHandshake, quicHandshakeData, startQuicHandshake, type QuicHandshake, type QuicHandshakeStep } from '../../src/quic/handshake.js';
import { decodeTransportParameters, encodeTransportParameters } from '../../src/wire/quic/transportParameters.js';
import { caVerifier, NOW, serverCredentials } from '../helpers/pair.js';

type Side = 'client' | 'server';
const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

const clientParams = encodeTransportParameters({ initialMaxData: 1 << 20, initialSourceConnectionId: Uint8Array.of(1, 2, 3, 4) });
const serverParams = encodeTransportParameters({ initialMaxData: 1 << 21, originalDestinationConnectionId: Uint8Array.of(9, 9), initialSourceConnectionId: Uint8Array.of(5, 6) });

type KeyChange = Extract<HsEvent, { type: 'keyChange' }>;

/** Both ends, their events, and the handshake bytes in flight between them, tagged with their epoch. */
class HandshakePair {
  readonly hs: Record<Side, QuicHandshake>;
  readonly events: Record<Side, HsEvent[]> = { client: [], server: [] };
  private readonly wire: { to: Side; epoch: number; data: Uint8Array }[] = [];

  constructor(server: Partial<ReturnType<typeof serverCredentials>> = {}) {
    this.hs = {} as Record<Side, QuicHandshake>;
    this.take('server', startQuicHandshake({ role: 'server', tls: { ...serverCredentials(), alpnProtocols: ['h3'], ...server }, provider: nobleProvider, transportParameters: serverParams }, NOW));
    this.take(
      'client',
      startQuicHandshake({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] }, provider: nobleProvider, transportParameters: clientParams }, NOW),
    );
  }

  take(side: Side, step: QuicHandshakeStep): void {
    this.hs[side] = step.handshake;
    for (const e of step.events) {
      this.events[side].push(e);
      if (e.type === 'send') this.wire.push({ to: other(side), epoch: e.epoch, data: e.data });
    }
  }

  /** Carry handshake bytes until none is left (bounded). */
  run(): this {
    for (let i = 0; i < 50 && this.wire.length > 0; i++) {
      const m = this.wire.shift()!;
      this.take(m.to, quicHandshakeData(this.hs[m.to], m.epoch, m.data, NOW));
    }
    return this;
  }

  keyChanges(side: Side): KeyChange[] {
    return this.events[side].filter((e): e is KeyChange => e.type === 'keyChange');
  }

  index(side: Side, type: HsEvent['type']): number {
    return this.events[side].findIndex((e) => e.type === type);
  }
}

test('QUIC handshake seam: the client starts with a ClientHello at epoch 0; the server waits', (t) => {
  const pair = new HandshakePair();
  t.deepEqual(
    pair.events.client.filter((e) => e.type !== 'flightEnd').map((e) => e.type === 'send' && [e.epoch, e.data[0]]),
    [[Epoch.initial, 1]],
    'one send event: ClientHello (type 1) at epoch 0',
  );
  t.deepEqual(pair.events.server, []);
});

test('QUIC handshake seam: key changes per epoch as each secret becomes known, transport parameters before completion, on both sides', (t) => {
  const pair = new HandshakePair().run();
  // The client reads the server's keys of an epoch before it writes its own (ServerHello, then server Finished);
  // the server writes first and reads the client's 1-RTT keys only once the client Finished is verified.
  const expected = { client: ['read 2', 'write 2', 'read 3', 'write 3'], server: ['write 2', 'read 2', 'write 3', 'read 3'] };
  for (const side of ['client', 'server'] as const) {
    const keys = pair.keyChanges(side).map((k) => `${k.direction} ${k.epoch}`);
    t.deepEqual(keys, expected[side], `${side}: key changes`);
    const params = pair.index(side, 'transportParameters');
    const complete = pair.index(side, 'complete');
    t.true(params >= 0 && complete > params, `${side}: transportParameters (${params}) before complete (${complete})`);
    t.is(pair.events[side].filter((e) => e.type === 'complete').length, 1, `${side}: complete once`);
    const done = pair.events[side][complete];
    t.true(done?.type === 'complete' && done.info.alpn === 'h3' && done.info.cipherSuite === 'TLS_AES_128_GCM_SHA256');
  }
  const tp = (side: Side) => pair.events[side].find((e): e is Extract<HsEvent, { type: 'transportParameters' }> => e.type === 'transportParameters')!.data;
  t.deepEqual(tp('server'), clientParams, 'the server got the client\'s parameters');
  t.like(decodeTransportParameters(tp('client'), 'server'), { initialMaxData: 1 << 21 });
});

test('QUIC handshake seam: bytes are sent only under keys already announced, at the epochs RFC 9001 §4.1.4 names', (t) => {
  const pair = new HandshakePair().run();
  for (const side of ['client', 'server'] as const) {
    const written = new Set<number>([Epoch.initial]);
    for (const e of pair.events[side]) {
      if (e.type === 'keyChange' && e.direction === 'write') written.add(e.epoch);
      if (e.type === 'send') t.true(written.has(e.epoch), `${side}: send at epoch ${e.epoch} after its write key`);
    }
  }
  // Server: ServerHello at 0, EncryptedExtensions…Finished at 2; client: ClientHello at 0, Finished at 2.
  const sends = (side: Side) => pair.events[side].filter((e) => e.type === 'send').map((e) => e.type === 'send' && [e.epoch, e.data[0]]);
  t.deepEqual(sends('client').slice(0, 2), [[Epoch.initial, 1], [Epoch.handshake, 20]]);
  t.deepEqual(sends('server').slice(0, 2), [[Epoch.initial, 2], [Epoch.handshake, 8]]);
});

test('QUIC handshake seam: each side\'s write secret is the other\'s read secret, and gives the same packet keys (RFC 9001 §5.1)', (t) => {
  const pair = new HandshakePair().run();
  for (const epoch of [Epoch.handshake, Epoch.application]) {
    for (const side of ['client', 'server'] as const) {
      const w = pair.keyChanges(side).find((k) => k.epoch === epoch && k.direction === 'write')!;
      const r = pair.keyChanges(other(side)).find((k) => k.epoch === epoch && k.direction === 'read')!;
      t.deepEqual(w.secret, r.secret, `epoch ${epoch}: ${side} write = ${other(side)} read`);
      t.is(w.suite.name, 'TLS_AES_128_GCM_SHA256');
      t.deepEqual(packetKeys(nobleProvider, w.suite.hash, w.suite.aead, w.secret!), packetKeys(nobleProvider, r.suite.hash, r.suite.aead, r.secret!));
    }
  }
});

test('QUIC handshake seam: a certificate the client refuses fails the step with the alert for CRYPTO_ERROR (RFC 9001 §4.8)', (t) => {
  const server = new HandshakePair().hs.server;
  // A client whose server name the certificate does not carry.
  const client = startQuicHandshake(
    { role: 'client', tls: { serverName: 'not-localhost', verifier: caVerifier(), alpnProtocols: ['h3'] }, provider: nobleProvider, transportParameters: clientParams },
    NOW,
  );
  const hello = client.events.find((e): e is Extract<HsEvent, { type: 'send' }> => e.type === 'send')!;
  const answer = quicHandshakeData(server, hello.epoch, hello.data, NOW);
  let hs = client.handshake;
  let failed: QuicHandshakeStep | undefined;
  for (const e of answer.events) {
    if (e.type !== 'send' || failed) continue;
    const step = quicHandshakeData(hs, e.epoch, e.data, NOW);
    hs = step.handshake;
    if (step.failure) failed = step;
  }
  t.truthy(failed?.failure, 'the handshake failed');
  t.is(failed?.failure?.error.kind, 'certificate');
  t.is(failed?.failure?.alert, failed?.failure?.error.alert);
  t.false(failed?.events.some((e) => e.type === 'complete' || (e.type === 'keyChange' && e.epoch === Epoch.application)), 'no 1-RTT keys, no completion');
  t.notThrows(() => closeQuicHandshake(hs, NOW));
});

test('QUIC handshake seam: CRYPTO data has no 0-RTT epoch', (t) => {
  const pair = new HandshakePair();
  t.throws(() => quicHandshakeData(pair.hs.server, Epoch.early, new Uint8Array(1), NOW), { instanceOf: RangeError });
});
