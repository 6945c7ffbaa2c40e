/**
 * The DTLS 1.3 reducer driven as a client/server pair on a virtual clock (test/helpers/dtlsPair.ts): the
 * handshake under loss, reordering and duplication of each flight, the retransmission backoff, ACKs, the
 * handshake timeout, KeyUpdate (with loss), close_notify, and hostile datagrams.
 */
import test from 'ava';
import fc from 'fast-check';
import { DtlsPair, type LinkDatagram } from '../helpers/dtlsPair.js';
import {
  createDtlsConnection,
  dtlsStats,
  handleDtlsEvents,
  isDtlsClosed,
  isDtlsCommitted,
  isDtlsConnected,
  maxDtlsWrite,
  nextDtlsTimeout,
  type DtlsState,
} from '../../src/dtls/connection.js';
import { NOW, caVerifier, fixture, text, str } from '../helpers/pair.js';
import { createVerifier } from '../../src/crypto/x509.js';
import { loadCertificateChain, loadPrivateKey } from '../../src/crypto/keys.js';
import { clientConfig, serverConfig } from '../helpers/dtlsPair.js';
import { TlsError } from '../../src/core/errors.js';
import { bufferedBytes } from '../../src/dtls/reassembly.js';
import { createTicketer } from '../../src/handshake/session.js';

const connected = (p: DtlsPair): boolean => isDtlsConnected(p.client) && isDtlsConnected(p.server);

function handshake(filter?: (d: LinkDatagram) => ReturnType<NonNullable<ConstructorParameters<typeof DtlsPair>[2]>>, client = {}, server = {}): DtlsPair {
  const p = new DtlsPair(client, server, filter);
  p.start();
  p.run();
  return p;
}

function exchange(t: import('ava').ExecutionContext, p: DtlsPair): void {
  p.input('client', { type: 'write', data: text('ping') });
  p.input('server', { type: 'write', data: text('pong') });
  p.run(p.now + 1000);
  t.is(str(p.delivered.server.slice(-1)), 'ping');
  t.is(str(p.delivered.client.slice(-1)), 'pong');
}

test('handshake completes and records flow both ways, boundaries kept', (t) => {
  const p = handshake();
  t.true(connected(p), p.types('client').join(','));
  const info = p.effects.client.find((e) => e.type === 'handshakeComplete');
  t.truthy(info);
  for (const m of ['a', 'bb', 'ccc']) p.input('client', { type: 'write', data: text(m) });
  p.run(p.now + 1000);
  t.deepEqual(p.delivered.server.map((d) => Buffer.from(d).toString()), ['a', 'bb', 'ccc']);
  exchange(t, p);
  t.is(dtlsStats(p.client).retransmissions, 0);
  t.is(dtlsStats(p.server).retransmissions, 0);
});

for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const) {
  for (const group of ['x25519', 'secp256r1', 'secp384r1'] as const) {
    test(`suite ${suite} with ${group}`, (t) => {
      const p = handshake(undefined, { cipherSuites: [suite], groups: [group] });
      t.true(connected(p));
      const done = p.effects.client.find((e) => e.type === 'handshakeComplete');
      t.is(done?.type === 'handshakeComplete' ? done.info.cipherSuite : undefined, suite);
      exchange(t, p);
    });
  }
}

test('HelloRetryRequest for a group: the client offers x25519, the server takes only P-256', (t) => {
  const p = handshake(undefined, { groups: ['x25519', 'secp256r1'] }, { groups: ['secp256r1'] });
  t.true(connected(p));
  const done = p.effects.client.find((e) => e.type === 'handshakeComplete');
  t.true(done?.type === 'handshakeComplete' && done.info.helloRetry);
  exchange(t, p);
});

test('a small MTU fragments the server flight across datagrams, none larger than the MTU', (t) => {
  const p = handshake(undefined, { mtu: 256 }, { mtu: 256 });
  t.true(connected(p));
  t.true(p.sent.server.length > 4, `server sent ${p.sent.server.length} datagrams`);
  for (const d of [...p.sent.client, ...p.sent.server]) t.true(d.length <= 256, `datagram of ${d.length} B`);
  exchange(t, p);
});

// Loss of each flight: client flight 1 (ClientHello), server flight (all its datagrams), client final flight,
// the server's ACK of it. The handshake completes in every case.
const lossCases: { name: string; drop: (d: LinkDatagram) => boolean }[] = [
  { name: 'the ClientHello', drop: (d) => d.to === 'server' && d.index === 0 },
  { name: 'the first datagram of the server flight', drop: (d) => d.to === 'client' && d.index === 0 },
  { name: 'the last datagram of the server flight', drop: (d) => d.to === 'client' && d.index === 1 },
  { name: 'the client Finished flight', drop: (d) => d.to === 'server' && d.index === 1 },
  { name: 'the server ACK of the client Finished', drop: (d) => d.to === 'client' && d.index === 2 },
  { name: 'every first transmission both ways', drop: (d) => d.index === 0 },
];
for (const c of lossCases) {
  test(`loss of ${c.name}: the handshake completes by retransmission`, (t) => {
    const p = handshake((d) => (c.drop(d) ? 'drop' : 'deliver'), { mtu: 700 }, { mtu: 700 });
    t.true(connected(p), `${p.types('client').join(',')} / ${p.types('server').join(',')}`);
    exchange(t, p);
  });
}

test('duplicated datagrams everywhere: the handshake completes, nothing delivered twice', (t) => {
  const p = handshake(() => 'duplicate');
  t.true(connected(p));
  exchange(t, p);
});

test('reordered datagrams: the server flight arrives last datagram first', (t) => {
  const p = handshake((d) => (d.to === 'client' && d.index === 0 ? { delay: 20 } : 'deliver'), { mtu: 400 }, { mtu: 400 });
  t.true(connected(p));
  exchange(t, p);
});

test('random loss (30%) in both directions, 20 seeds: every handshake completes and data flows', (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    let x = seed * 2654435761;
    const rnd = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const p = handshake(() => (rnd() < 0.3 ? 'drop' : 'deliver'), { mtu: 500 }, { mtu: 500 });
    t.true(connected(p), `seed ${seed}`);
  }
});

test('RFC 9147 §5.8.2: the first retransmission after 1000 ms by default, then doubling', (t) => {
  const p = new DtlsPair({ handshakeTimeout: 20_000 }, {}, (d) => (d.to === 'server' ? 'drop' : 'deliver'));
  p.input('client', { type: 'start' });
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const next = nextDtlsTimeout(p.client)!;
    times.push(next);
    p.now = next;
    p.input('client', { type: 'timeout' });
  }
  t.deepEqual(times, [1000, 3000, 7000].map((ms) => times[0]! - 1000 + ms));
});

test('retransmission backoff: retransmitInitial (100 ms here), then doubling, capped at retransmitMax', (t) => {
  const p = new DtlsPair({ retransmitInitial: 100, retransmitMax: 800, handshakeTimeout: 10_000 }, {}, (d) => (d.to === 'server' ? 'drop' : 'deliver'));
  p.input('client', { type: 'start' });
  const times: number[] = [];
  const start = p.now;
  for (let i = 0; i < 7; i++) {
    const next = nextDtlsTimeout(p.client)!;
    times.push(next - start);
    p.now = next;
    p.input('client', { type: 'timeout' });
  }
  t.deepEqual(times, [100, 300, 700, 1500, 2300, 3100, 3900]);
  t.is(p.sent.client.length, 8, 'first transmission plus 7 retransmissions');
});

test('a timeout fed early is a no-op (SSL_handle_events before SSL_get_event_timeout)', (t) => {
  const p = new DtlsPair();
  p.input('client', { type: 'start' });
  const before = p.client;
  const effects = p.input('client', { type: 'timeout', now: p.now + 50 });
  t.deepEqual(effects, []);
  t.is(nextDtlsTimeout(p.client), nextDtlsTimeout(before));
});

test('the handshake times out with a typed error when the peer never answers', (t) => {
  const p = new DtlsPair({ handshakeTimeout: 5_000 }, {}, () => 'drop');
  p.start();
  p.run(p.now + 60_000);
  const closed = p.effects.client.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error instanceof TlsError && closed.error.kind === 'handshakeTimeout');
  t.true(isDtlsClosed(p.client));
  t.is(nextDtlsTimeout(p.client), undefined);
});

test('a partial ACK makes the server resend only what was not acknowledged', (t) => {
  // Small MTU: the server flight spans several datagrams; drop the second one only once.
  const p = handshake((d) => (d.to === 'client' && d.index === 1 ? 'drop' : 'deliver'), { mtu: 300 }, { mtu: 300 });
  t.true(connected(p));
  t.true(dtlsStats(p.client).acksSent >= 1, 'the client acknowledged the partial flight');
  t.true(dtlsStats(p.server).acksReceived >= 1);
  // The server flight had N datagrams; the resend carries fewer than N.
  const flight = p.sent.server.length;
  t.true(flight < 2 * 6, `server datagrams ${flight}`);
});

test('KeyUpdate: the new epoch is used once the peer ACKs it; data flows before and after', (t) => {
  const p = handshake();
  exchange(t, p);
  p.input('client', { type: 'keyUpdate', requestPeer: true });
  t.throws(() => p.input('client', { type: 'keyUpdate', requestPeer: false }), { instanceOf: TlsError }, 'one KeyUpdate at a time');
  p.run(p.now + 1000);
  p.input('client', { type: 'write', data: text('after') });
  p.input('server', { type: 'write', data: text('after too') });
  p.run(p.now + 1000);
  t.is(str(p.delivered.server.slice(-1)), 'after');
  t.is(str(p.delivered.client.slice(-1)), 'after too');
  t.true(p.client.writeEpoch >= 4 && p.server.writeEpoch >= 4, `epochs ${p.client.writeEpoch} / ${p.server.writeEpoch}`);
});

test('keyUpdateAfter: after that many records under one epoch a KeyUpdate goes out on its own, and data goes on (RFC 9147 §4.5.3)', (t) => {
  const p = handshake(undefined, { keyUpdateAfter: 5 });
  const sent: string[] = [];
  for (let i = 0; i < 12; i++) {
    sent.push(`r${i}`);
    p.input('client', { type: 'write', data: text(`r${i}`) });
    p.run(p.now + 200);
  }
  t.true(p.client.writeEpoch >= 5, `the client moved on twice or more (epoch ${p.client.writeEpoch})`);
  t.is(p.server.writeEpoch, 3, 'the server, which wrote nothing, kept its keys');
  t.deepEqual(p.delivered.server.map((d) => str([d])), sent);
  t.throws(() => handshake(undefined, { keyUpdateAfter: 0 }), { message: /keyUpdateAfter/ });
});

test('KeyUpdate under loss: the KeyUpdate and its ACK are lost once, the update still completes', (t) => {
  let dropKu = 2;
  const p = handshake();
  exchange(t, p);
  p.filter = () => (dropKu-- > 0 ? 'drop' : 'deliver');
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  p.run(p.now + 5000);
  t.is(p.client.writeEpoch, 4);
  t.is(p.client.pendingKeyUpdate, undefined);
  p.input('client', { type: 'write', data: text('new keys') });
  p.run(p.now + 1000);
  t.is(str(p.delivered.server.slice(-1)), 'new keys');
});

test('close_notify: end on one side completes the other side inbound (peerClosed), then both close', (t) => {
  const p = handshake();
  p.input('client', { type: 'end' });
  p.run(p.now + 1000);
  t.true(p.types('server').includes('peerClosed'));
  t.throws(() => p.input('client', { type: 'write', data: text('late') }), { instanceOf: TlsError });
  p.input('server', { type: 'end' });
  p.run(p.now + 1000);
  t.true(isDtlsClosed(p.client) && isDtlsClosed(p.server));
  const closed = p.effects.client.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error === undefined);
});

test('an oversized write is refused with a typed error; one of maxDtlsWrite bytes goes', (t) => {
  const p = handshake();
  const max = maxDtlsWrite(p.client);
  t.is(max, 1232 - 22);
  t.throws(() => p.input('client', { type: 'write', data: new Uint8Array(max + 1) }), { instanceOf: TlsError, message: /does not fit/ });
  p.input('client', { type: 'write', data: new Uint8Array(max) });
  p.run(p.now + 1000);
  t.is(p.delivered.server[0]?.length, max);
  for (const d of p.sent.client) t.true(d.length <= 1232);
});

test('writes before the handshake completes are held and sent after it', (t) => {
  const p = new DtlsPair();
  p.start();
  p.input('client', { type: 'write', data: text('early') });
  p.run();
  t.true(connected(p));
  t.is(str(p.delivered.server), 'early');
});

test('a stale or forged record is dropped silently, never fatal (RFC 9147 §4.5.2)', (t) => {
  const p = handshake();
  const record = p.sent.client[p.sent.client.length - 1]!;
  const forged = record.slice();
  forged[forged.length - 1] ^= 1;
  const dropped = dtlsStats(p.server).recordsDropped;
  p.input('server', { type: 'datagram', data: forged });
  p.input('server', { type: 'datagram', data: Uint8Array.of(0xff, 1, 2, 3) });
  p.input('server', { type: 'datagram', data: new Uint8Array(0) });
  t.true(isDtlsConnected(p.server));
  t.true(dtlsStats(p.server).recordsDropped >= dropped + 2);
  exchange(t, p);
});

test('a replayed application record is delivered once', (t) => {
  const p = handshake();
  p.input('client', { type: 'write', data: text('once') });
  const d = p.sent.client[p.sent.client.length - 1]!;
  p.run(p.now + 100);
  p.input('server', { type: 'datagram', data: d });
  p.input('server', { type: 'datagram', data: d });
  t.is(str(p.delivered.server), 'once');
});

/** Every buffer the reducer keeps, in bytes or entries, for the bounds property. */
function held(s: DtlsState): number {
  return bufferedBytes(s.reassembly) + s.toAck.length + s.pendingBytes + (s.flight?.records.length ?? 0);
}

test('property: random datagrams in every phase never throw and never grow buffers past their bounds', (t) => {
  // States to attack: a fresh server, a client waiting for the server flight, both established.
  const p = handshake();
  const server0 = handleDtlsEvents(createDtlsConnection(serverConfig()), { type: 'start', now: NOW }).state;
  const client0 = handleDtlsEvents(createDtlsConnection(clientConfig()), { type: 'start', now: NOW }).state;
  const targets: DtlsState[] = [server0, client0, p.client, p.server];
  // Mutations of real datagrams reach deeper than pure noise.
  const real = [...p.sent.client, ...p.sent.server];
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 1500 }),
    fc.tuple(fc.constantFrom(...real), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([d, i, v]) => {
      const c = d.slice();
      c[i % c.length] = v;
      return c;
    }),
    fc.tuple(fc.constantFrom(22, 21, 26, 0x2c, 0x2d, 0x2e, 0x2f), fc.uint8Array({ maxLength: 300 })).map(([b, rest]) => Uint8Array.of(b, 0xfe, 0xfd, ...rest)),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 2, 3), fc.array(datagram, { maxLength: 20 }), (which, list) => {
        let s = targets[which]!;
        for (const d of list) {
          s = handleDtlsEvents(s, { type: 'datagram', now: NOW + 1, data: d }).state;
          if (held(s) > 1.2 * 1024 * 1024) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    ),
  );
});

test('stateless cookie exchange: the server keeps no state until the client returns the cookie (RFC 9147 §5.1)', (t) => {
  const cookieSecret = new Uint8Array(32).fill(7);
  const cookieBinding = Uint8Array.of(127, 0, 0, 1, 0x12, 0x34);
  const p = handshake(undefined, {}, { cookieSecret, cookieBinding });
  t.true(connected(p));
  t.is(p.statelessResets, 1, 'one stateless HelloRetryRequest, then a fresh state took the second ClientHello');
  const done = p.effects.client.find((e) => e.type === 'handshakeComplete');
  t.true(done?.type === 'handshakeComplete' && done.info.helloRetry);
  exchange(t, p);
});

test('stateless cookie exchange under loss: the HelloRetryRequest and the second ClientHello are lost once', (t) => {
  const cookieSecret = new Uint8Array(32).fill(9);
  const p = handshake((d) => (d.index === 0 ? 'drop' : d.to === 'server' && d.index === 1 ? 'drop' : 'deliver'), {}, { cookieSecret });
  t.true(connected(p));
  t.true(p.statelessResets >= 2);
  exchange(t, p);
});

test('a stateless HelloRetryRequest arms no timer on the server', (t) => {
  const server = handleDtlsEvents(createDtlsConnection(serverConfig({ cookieSecret: new Uint8Array(32) })), { type: 'start', now: NOW }).state;
  const client = handleDtlsEvents(createDtlsConnection(clientConfig()), { type: 'start', now: NOW });
  const hello = client.effects.find((e) => e.type === 'transmit');
  const step = handleDtlsEvents(server, { type: 'datagram', now: NOW, data: hello!.type === 'transmit' ? hello!.data : new Uint8Array(0) });
  t.is(step.effects.filter((e) => e.type === 'transmit').length, 1);
  t.false(isDtlsCommitted(step.state));
  t.is(step.state.retransmitAt, undefined);
});

test('NewSessionTickets are acknowledged, the client final flight too, and the session resumes over DTLS', (t) => {
  const ticketer = createTicketer(new Uint8Array(32).fill(3));
  const p = handshake(undefined, {}, { ticketer });
  t.true(connected(p));
  p.run(p.now + 5_000);
  const sessions = p.effects.client.filter((e) => e.type === 'session');
  t.true(sessions.length >= 1);
  t.is(dtlsStats(p.client).retransmissions, 0, 'the server acknowledged the client Finished');
  t.is(dtlsStats(p.server).retransmissions, 0, 'the client acknowledged the tickets');
  t.is(p.server.flight, undefined);
  t.is(p.client.flight, undefined);
  const session = sessions[sessions.length - 1]!;
  const r = new DtlsPair({ session: session.type === 'session' ? session.session : undefined }, { ticketer });
  r.now = p.now + 1_000;
  r.start();
  r.run();
  t.true(connected(r));
  const done = r.effects.client.find((e) => e.type === 'handshakeComplete');
  t.true(done?.type === 'handshakeComplete' && done.info.resumed);
  exchange(t, r);
});

test('a KeyUpdate with update_requested: both sides move on, each KeyUpdate acknowledged', (t) => {
  const p = handshake();
  p.input('server', { type: 'keyUpdate', requestPeer: true });
  p.run(p.now + 2_000);
  t.is(p.server.writeEpoch, 4);
  t.is(p.client.writeEpoch, 4);
  t.is(dtlsStats(p.client).retransmissions + dtlsStats(p.server).retransmissions, 0);
  exchange(t, p);
});

test('a certificate the client does not trust: bad alert under the handshake keys, typed errors on both sides', (t) => {
  const p = handshake(undefined, { verifier: createVerifier({ ca: fixture('other-ca-cert.pem') }) });
  const closed = p.effects.client.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error?.kind === 'certificate', JSON.stringify(closed));
  const sent = p.effects.client.find((e) => e.type === 'alertSent');
  const received = p.effects.server.find((e) => e.type === 'alertReceived');
  t.true(sent?.type === 'alertSent' && received?.type === 'alertReceived' && sent.description === received.description);
  const serverClosed = p.effects.server.find((e) => e.type === 'closed');
  t.true(serverClosed?.type === 'closed' && serverClosed.error?.kind === 'alertReceived');
  t.true(isDtlsClosed(p.client) && isDtlsClosed(p.server));
});

test('a client certificate required by the server and checked over DTLS', (t) => {
  const p = handshake(
    undefined,
    { certificateChain: loadCertificateChain(fixture('client-cert.pem')), privateKey: loadPrivateKey(fixture('client-key.pem')) },
    { requestClientCertificate: true, requireClientCertificate: true, verifier: caVerifier() },
  );
  t.true(connected(p));
  const done = p.effects.server.find((e) => e.type === 'handshakeComplete');
  t.true(done?.type === 'handshakeComplete' && done.info.verification === 'ok');
  exchange(t, p);
});
