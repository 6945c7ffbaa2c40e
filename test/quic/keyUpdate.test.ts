/** QUIC key update (RFC 9001 §6): both ways, on request and automatically, in virtual time. */
import test from 'ava';
import { nobleProvider } from '../../src/crypto/noble.js';
import { isQuicConnected } from '../../src/quic/connection.js';
import { AEAD_LIMITS, autoUpdateAfter, nextSecret } from '../../src/quic/keyUpdate.js';
import { QuicPair } from '../helpers/quicPair.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));

test('RFC 9001 §A.5: ku = HKDF-Expand-Label(secret, "quic ku", "", 32)', (t) => {
  const secret = hex('9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b');
  t.deepEqual(Buffer.from(nextSecret(nobleProvider, 'sha256', secret)).toString('hex'), '1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9');
});

test('RFC 9001 §6.6: AES-GCM is updated before 2^23 packets, ChaCha20-Poly1305 effectively never', (t) => {
  t.is(AEAD_LIMITS['aes-128-gcm'].confidentiality, 2 ** 23);
  t.true(autoUpdateAfter('aes-128-gcm') < 2 ** 23);
  t.true(autoUpdateAfter('chacha20-poly1305') > 2 ** 53);
});

function connected(client = {}, server = {}): QuicPair {
  const pair = new QuicPair(client, server).start().settle();
  // Some 1-RTT traffic both ways, so each side has a packet acknowledged under the first keys.
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('ping') });
  pair.settle();
  pair.input('server', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('pong') });
  pair.settle();
  return pair;
}

const phases = (pair: QuicPair, side: 'client' | 'server') => {
  const k = pair.state[side].keyPhase!;
  return { rx: k.rxPhase, tx: k.txPhase, generation: k.generation };
};

test('RFC 9001 §6.1, §6.2: the client updates its keys on request, the server follows, data flows both ways', (t) => {
  const pair = connected();
  t.deepEqual(phases(pair, 'client'), { rx: 0, tx: 0, generation: 0 });
  const before = pair.state.client.spaces.application.tx!;
  pair.input('client', { type: 'keyUpdate', now: pair.now });
  t.deepEqual(phases(pair, 'client'), { rx: 0, tx: 1, generation: 1 }, 'write keys updated at once; read keys when the peer answers');
  t.notDeepEqual(pair.state.client.spaces.application.tx!.key, before.key);
  t.notDeepEqual(pair.state.client.spaces.application.tx!.iv, before.iv);
  t.is(pair.state.client.spaces.application.tx!.hp, before.hp, 'header protection keys never change');
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: Buffer.from(' after update') });
  pair.drive(pair.now + 50); // past the server's ack delay (one packet: its ACK waits up to max_ack_delay)
  t.deepEqual(phases(pair, 'server'), { rx: 1, tx: 1, generation: 1 }, 'the server answered with its own update');
  t.deepEqual(phases(pair, 'client'), { rx: 1, tx: 1, generation: 1 });
  t.is(pair.text('server', 0), 'ping after update');
  pair.input('server', { type: 'write', now: pair.now, stream: 0, data: Buffer.from(' back') });
  pair.settle();
  t.is(pair.text('client', 0), 'pong back');
});

test('RFC 9001 §6.1: the server may initiate too', (t) => {
  const pair = connected();
  pair.input('server', { type: 'keyUpdate', now: pair.now });
  pair.input('server', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('!') });
  pair.settle();
  t.deepEqual(phases(pair, 'client'), { rx: 1, tx: 1, generation: 1 });
  t.deepEqual(phases(pair, 'server'), { rx: 1, tx: 1, generation: 1 });
  t.is(pair.text('client', 0), 'pong!');
});

test('RFC 9001 §6.1: a second update waits until a packet under the current keys is acknowledged', (t) => {
  const pair = connected();
  pair.input('client', { type: 'keyUpdate', now: pair.now });
  pair.input('client', { type: 'keyUpdate', now: pair.now });
  t.is(phases(pair, 'client').generation, 1, 'not twice before the peer has the new keys');
  t.true(pair.state.client.keyPhase!.requested, 'the request waits');
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('x') });
  pair.drive(pair.now + 1_000);
  t.is(phases(pair, 'client').generation, 2, 'made once permitted');
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: Buffer.from('y') });
  pair.drive(pair.now + 1_000);
  t.deepEqual(phases(pair, 'server'), { rx: 0, tx: 0, generation: 2 });
  t.is(pair.text('server', 0), 'pingxy');
});

test('RFC 9001 §6.1: keyUpdate before the handshake completes is API misuse', (t) => {
  const pair = new QuicPair();
  pair.input('client', { type: 'start', now: pair.now });
  t.throws(() => pair.input('client', { type: 'keyUpdate', now: pair.now }), { message: /handshake/ });
});

test('RFC 9001 §6.5: a packet of the previous phase, reordered, is read within 3×PTO and dropped after', (t) => {
  const pair = connected();
  pair.latency = 10;
  let held: Uint8Array | undefined;
  pair.drop = (from, _n, data) => {
    if (from === 'client' && !held && data[0]! < 0x80) {
      held = data;
      return true;
    }
    return false;
  };
  pair.input('client', { type: 'write', now: pair.now, stream: 8, data: Buffer.from('old phase') });
  pair.input('client', { type: 'keyUpdate', now: pair.now });
  pair.input('client', { type: 'write', now: pair.now, stream: 12, data: Buffer.from('new phase') });
  pair.drive(pair.now + 15);
  t.is(phases(pair, 'server').rx, 1);
  t.truthy(pair.state.server.keyPhase!.prevRx, 'previous read keys kept');
  pair.input('server', { type: 'datagram', now: pair.now, data: held! });
  t.is(pair.text('server', 8), 'old phase', 'the reordered packet is read with the previous keys');
  // After 3×PTO the previous keys are gone.
  pair.drive(pair.now + 5_000);
  t.is(pair.state.server.keyPhase!.prevRx, undefined);
  t.is(pair.state.server.timers.keyDiscard, undefined);
  t.true(isQuicConnected(pair.state.server));
});

test('RFC 9001 §6.6: keys are updated by themselves after keyUpdateAfter packets; 300 KB arrive whole', (t) => {
  // Small windows: the transfer takes many round trips, and each update waits for the previous one's ACK.
  const pair = connected({ keyUpdateAfter: 20 }, { maxData: 32 * 1024, maxStreamData: 16 * 1024 });
  const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 11) & 0xff));
  pair.input('client', { type: 'write', now: pair.now, stream: 4, data });
  pair.input('client', { type: 'end', now: pair.now, stream: 4 });
  pair.drive(pair.now + 20_000);
  t.deepEqual(Buffer.concat(pair.delivered.server.get(4) ?? []), data);
  const generation = phases(pair, 'client').generation;
  t.true(generation >= 3, `${generation} updates`);
  t.is(phases(pair, 'server').generation, generation);
});

test('RFC 9001 §6.6: an update under loss still completes a transfer', (t) => {
  const windows = { maxData: 32 * 1024, maxStreamData: 16 * 1024 };
  const pair = connected({ keyUpdateAfter: 30, ...windows }, { keyUpdateAfter: 25, ...windows });
  pair.latency = 5;
  pair.drop = (_from, n) => n % 7 === 3;
  const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 3) & 0xff));
  pair.input('server', { type: 'write', now: pair.now, stream: 1, data });
  pair.input('server', { type: 'end', now: pair.now, stream: 1 });
  pair.drive(pair.now + 60_000);
  t.deepEqual(Buffer.concat(pair.delivered.client.get(1) ?? []), data);
  t.true(phases(pair, 'server').generation >= 2);
});
