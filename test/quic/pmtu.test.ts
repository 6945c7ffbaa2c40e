/**
 * Path MTU discovery (RFC 9000 §14.3, RFC 8899): the search's rules, and connections over links that carry
 * datagrams only up to a size, in virtual time.
 */
import test from 'ava';
import fc from 'fast-check';
import { createQuicConnection, isQuicConnected } from '../../src/quic/connection.js';
import {
  BASE_DATAGRAM,
  DEFAULT_MAX_DATAGRAM,
  limitPmtu,
  newPmtu,
  onBlackHole,
  onPmtuAcked,
  onPmtuLost,
  PROBE_ATTEMPTS,
  probeSent,
  probeSize,
  SEARCH_DONE,
  type PmtuState,
} from '../../src/quic/pmtu.js';
import { caVerifier, NOW } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';

const MB = 1 << 20;

/** Run a search against a path that carries `mtu` bytes: every probe is acknowledged or lost. */
function search(ceiling: number, mtu: number): { state: PmtuState; probes: number } {
  let p = newPmtu(ceiling);
  let probes = 0;
  for (let size = probeSize(p); size !== undefined; size = probeSize(p)) {
    probes++;
    if (probes > 100) throw new Error('the search does not end');
    p = probeSent(p, size, probes);
    p = size <= mtu ? onPmtuAcked(p, probes) : onPmtuLost(p, probes);
  }
  return { state: p, probes };
}

test('PMTU: the first probe tries the ceiling; an acknowledged one ends the search at it', (t) => {
  const p = newPmtu(DEFAULT_MAX_DATAGRAM);
  t.is(p.current, BASE_DATAGRAM);
  t.is(probeSize(p), DEFAULT_MAX_DATAGRAM);
  const sent = probeSent(p, DEFAULT_MAX_DATAGRAM, 7);
  t.is(probeSize(sent), undefined, 'one probe in flight at a time');
  t.is(onPmtuAcked(sent, 6), sent, 'another packet acknowledged changes nothing');
  const done = onPmtuAcked(sent, 7);
  t.is(done.current, DEFAULT_MAX_DATAGRAM);
  t.is(probeSize(done), undefined, 'nothing left to search');
});

test(`PMTU: a size is given up after ${PROBE_ATTEMPTS} losses in a row; the search halves what is unknown`, (t) => {
  let p = newPmtu(1500);
  for (let i = 1; i < PROBE_ATTEMPTS; i++) {
    p = onPmtuLost(probeSent(p, 1500, i), i);
    t.is(probeSize(p), 1500, 'tried again');
  }
  p = onPmtuLost(probeSent(p, 1500, 9), 9);
  t.is(p.tooLarge, 1500);
  t.is(probeSize(p), Math.floor((BASE_DATAGRAM + 1500) / 2));
});

test('PMTU: 1200 as the ceiling turns discovery off; the peer\'s max_udp_payload_size lowers the ceiling', (t) => {
  t.is(probeSize(newPmtu(1200)), undefined);
  const p = limitPmtu(newPmtu(9000), 1350);
  t.is(p.ceiling, 1350);
  t.is(probeSize(p), 1350);
  t.is(limitPmtu(newPmtu(1452), 65527).ceiling, 1452, 'a larger peer limit changes nothing');
});

test('PMTU: a black hole (persistent congestion above the base size) goes back to 1200 and searches below the old size', (t) => {
  const found = onPmtuAcked(probeSent(newPmtu(1452), 1452, 1), 1);
  const p = onBlackHole(found);
  t.is(p.current, BASE_DATAGRAM);
  t.is(p.tooLarge, 1452);
  t.is(probeSize(p), Math.floor((BASE_DATAGRAM + 1452) / 2));
  t.is(onBlackHole(p), p, 'at the base size there is nothing to go back from');
});

test('PMTU (property): the search ends within a few probes at a size the path carries, less than SEARCH_DONE bytes short of the most it could', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1200, max: 65527 }), fc.integer({ min: 1200, max: 70000 }), (ceiling, mtu) => {
        const { state, probes } = search(ceiling, mtu);
        const best = Math.min(ceiling, mtu);
        return state.current <= best && best - state.current <= SEARCH_DONE && probes <= PROBE_ATTEMPTS * 16;
      }),
    ),
  );
});

test('PMTU: maxDatagramSize outside [1200, 65527] is API misuse', (t) => {
  for (const maxDatagramSize of [1199, 65528, 1300.5, Number.NaN]) {
    const err = t.throws(() => createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] }, maxDatagramSize }));
    t.regex(err!.message, /maxDatagramSize/);
  }
});

/** 1 MB from client to server over a 10 ms link that drops every datagram larger than `mtu`. */
function transfer(mtu: number, client = {}, server = {}) {
  const pair = new QuicPair(client, server);
  pair.latency = 10;
  pair.drop = (_from, _n, data) => data.length > mtu;
  pair.start().drive(NOW + 1_000);
  const data = new Uint8Array(MB).fill(0x5a);
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.drive(pair.now + 600_000, () => pair.effects.server.some((e) => e.type === 'peerClosed' && e.stream === 0));
  const received = (pair.delivered.server.get(0) ?? []).reduce((n, c) => n + c.length, 0);
  return { pair, received };
}

test('PMTU: over a path that carries 1452 bytes, 1 MB goes in 1452-byte datagrams after one probe', (t) => {
  const { pair, received } = transfer(1452);
  t.is(received, MB);
  t.true(isQuicConnected(pair.state.client));
  t.is(pair.state.client.pmtu.current, 1452);
  t.is(pair.dropped.client.rule, 0, 'nothing was lost');
  const sizes = pair.datagrams.client.map((d) => d.length);
  t.is(Math.max(...sizes), 1452);
  t.true(sizes.filter((n) => n >= 1400).length > MB / 1452 * 0.9, 'the transfer used the larger size');
});

test('PMTU: over a path that carries 1300 bytes, the lost probes cost no congestion window; the search settles just under 1300', (t) => {
  const { pair, received } = transfer(1300);
  t.is(received, MB);
  const p = pair.state.client.pmtu;
  t.true(p.current <= 1300 && p.current > 1300 - SEARCH_DONE, `settled at ${p.current}`);
  // Only probes were ever too large: every lost datagram was a probe, and the window never left slow start.
  t.true(pair.dropped.client.rule >= PROBE_ATTEMPTS, `${pair.dropped.client.rule} probes lost`);
  t.is(pair.state.client.cc.ssthresh, Infinity, 'no loss response');
  t.true(pair.datagrams.client.every((d) => d.length <= 1300 || d.length === DEFAULT_MAX_DATAGRAM || d[0]! & 0x80 || d.length < 1400), 'only probes were larger');
});

test('PMTU: with maxDatagramSize 1200 every datagram stays at 1200 bytes; the peer may use its own ceiling', (t) => {
  const { pair, received } = transfer(65527, { maxDatagramSize: 1200 });
  t.is(received, MB);
  t.true(pair.datagrams.client.every((d) => d.length <= 1200));
  t.is(pair.state.client.pmtu.current, 1200);
});

test('PMTU: a 9000-byte ceiling over a path that carries it (loopback, jumbo frames): datagrams reach 9000 bytes', (t) => {
  const { pair, received } = transfer(65527, { maxDatagramSize: 9000 });
  t.is(received, MB);
  t.is(pair.state.client.pmtu.ceiling, 9000, "the server's max_udp_payload_size (65527: it takes any datagram) does not lower it");
  t.is(pair.state.client.pmtu.current, 9000);
  t.is(Math.max(...pair.datagrams.client.map((d) => d.length)), 9000);
  t.true(pair.datagrams.client.length < MB / 8000 + 60, `${pair.datagrams.client.length} datagrams for 1 MB`);
});
