/**
 * DTLS 1.2 (RFC 6347) on the DTLS reducer, as a client/server pair on a virtual clock (test/helpers/dtlsPair.ts):
 * every suite × certificate type, the stateless HelloVerifyRequest, loss of each flight (the final one too),
 * duplication, reordering, data both ways, close_notify, version negotiation with DTLS 1.3 both ways, and random
 * datagrams in every phase.
 */
import test from 'ava';
import fc from 'fast-check';
import { DtlsPair, type LinkAction, type LinkDatagram } from '../helpers/dtlsPair.js';
import {
  createDtlsConnection,
  dtlsHandshakeInfo,
  dtlsStats,
  handleDtlsEvents,
  isDtls12,
  isDtlsClosed,
  isDtlsCommitted,
  isDtlsConnected,
  type DtlsState,
} from '../../src/dtls/connection.js';
import { serverCredentials, text, str } from '../helpers/pair.js';
import { clientConfig, serverConfig } from '../helpers/dtlsPair.js';
import type { DtlsClientConfig, DtlsServerConfig } from '../../src/dtls/types.js';

const connected = (p: DtlsPair): boolean => isDtlsConnected(p.client) && isDtlsConnected(p.server);
const COOKIE_SECRET = new Uint8Array(32).fill(7);
const V12: Partial<DtlsClientConfig> = { minVersion: 'DTLSv1.2', maxVersion: 'DTLSv1.2' };

function handshake(filter?: (d: LinkDatagram) => LinkAction, client: Partial<DtlsClientConfig> = V12, server: Partial<DtlsServerConfig> = {}): DtlsPair {
  const p = new DtlsPair(client, server, filter);
  p.start();
  p.run();
  return p;
}

function exchange(t: import('ava').ExecutionContext, p: DtlsPair): void {
  const before = { client: p.delivered.client.length, server: p.delivered.server.length };
  p.input('client', { type: 'write', data: text('ping') });
  p.input('server', { type: 'write', data: text('pong') });
  p.run(p.now + 1000);
  t.is(str(p.delivered.server.slice(before.server)), 'ping');
  t.is(str(p.delivered.client.slice(before.client)), 'pong');
}

/** The record content types of a datagram (DTLS 1.2: 13-byte headers throughout). */
function recordTypes(d: Uint8Array): number[] {
  const out: number[] = [];
  for (let o = 0; o + 13 <= d.length; o += 13 + ((d[o + 11]! << 8) | d[o + 12]!)) out.push(d[o]!);
  return out;
}

test('DTLS 1.2 handshake completes, reports DTLSv1.2, data both ways, records with 13-byte headers', (t) => {
  const p = handshake();
  t.true(connected(p), p.types('client').join(','));
  t.true(isDtls12(p.client) && isDtls12(p.server));
  t.is(dtlsHandshakeInfo(p.client)!.protocol, 'DTLSv1.2');
  t.is(dtlsHandshakeInfo(p.server)!.protocol, 'DTLSv1.2');
  exchange(t, p);
  for (const d of [...p.sent.client, ...p.sent.server]) {
    t.true(recordTypes(d).every((ty) => ty >= 20 && ty <= 23), `types ${recordTypes(d).join(',')}`);
    t.is(d[1], 0xfe);
  }
  t.false([...p.sent.client, ...p.sent.server].some((d) => recordTypes(d).includes(26)), 'no ACK records');
  t.is(dtlsStats(p.client).retransmissions, 0);
  t.is(dtlsStats(p.server).retransmissions, 0);
});

const SUITES = [
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'server-ec'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'server-ec'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'server-ec'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'server-rsa'],
  ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'server-rsa'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'server-rsa'],
] as const;
for (const [suite, cert] of SUITES) {
  test(`DTLS 1.2 suite ${suite} with ${cert}`, (t) => {
    const p = handshake(undefined, { ...V12, cipherSuites: [suite] }, { ...serverCredentials(cert) });
    t.true(connected(p), p.types('client').join(','));
    t.is(dtlsHandshakeInfo(p.client)!.cipherSuite, suite);
    exchange(t, p);
  });
}

test('HelloVerifyRequest: the server stays stateless until the cookie returns, the client resends its ClientHello', (t) => {
  const p = handshake(undefined, V12, { cookieSecret: COOKIE_SECRET, cookieBinding: text('10.0.0.1:4433') });
  t.true(connected(p), p.types('client').join(','));
  t.is(p.statelessResets, 1);
  // First server datagram: one HelloVerifyRequest (handshake type 3) in plaintext.
  const hvr = p.sent.server[0]!;
  t.is(hvr[0], 22);
  t.is(hvr[13], 3);
  t.is(p.sent.client.length >= 2, true);
  exchange(t, p);
});

test('HelloVerifyRequest: a server state that got a ClientHello without cookie is not committed and arms no timer', (t) => {
  let server = createDtlsConnection(serverConfig({ cookieSecret: COOKIE_SECRET }));
  server = handleDtlsEvents(server, { type: 'start', now: 0 }).state;
  let client = createDtlsConnection(clientConfig(V12));
  const c = handleDtlsEvents(client, { type: 'start', now: 0 });
  client = c.state;
  const ch = c.effects.find((e) => e.type === 'transmit')!;
  const step = handleDtlsEvents(server, { type: 'datagram', data: (ch as { data: Uint8Array }).data, now: 1 });
  t.false(isDtlsCommitted(step.state));
  t.is(step.effects.filter((e) => e.type === 'transmit').length, 1);
  t.is(step.state.retransmitAt, undefined);
});

test('HelloVerifyRequest: sent with the record sequence number of the ClientHello it answers (RFC 6347 §4.2.1)', (t) => {
  const transmits = (effects: readonly { type: string }[]) => effects.filter((e) => e.type === 'transmit').map((e) => (e as unknown as { data: Uint8Array }).data);
  const seqOf = (d: Uint8Array) => Number(d.subarray(5, 11).reduce((n, b) => n * 256n + BigInt(b), 0n));
  let client = handleDtlsEvents(createDtlsConnection(clientConfig(V12)), { type: 'start', now: 0 });
  // The first ClientHello is lost twice: the one that reaches the server is the client's third record.
  for (const now of [1000, 3000]) client = handleDtlsEvents(client.state, { type: 'timeout', now });
  const ch = transmits(client.effects)[0]!;
  t.is(seqOf(ch), 2);
  const server = handleDtlsEvents(handleDtlsEvents(createDtlsConnection(serverConfig({ cookieSecret: COOKIE_SECRET })), { type: 'start', now: 3000 }).state, { type: 'datagram', data: ch, now: 3000 });
  const hvr = transmits(server.effects)[0]!;
  t.is(hvr[13], 3, 'a HelloVerifyRequest');
  t.is(seqOf(hvr), 2);
});

test('HelloVerifyRequest: a cookie for another address binding (or expired) is answered with a new HelloVerifyRequest', (t) => {
  const datagrams = (effects: readonly { type: string }[]) => effects.filter((e) => e.type === 'transmit').map((e) => (e as unknown as { data: Uint8Array }).data);
  const listener = (binding: string, now: number) =>
    handleDtlsEvents(createDtlsConnection(serverConfig({ cookieSecret: COOKIE_SECRET, cookieBinding: text(binding), cookieLifetime: 1000 })), { type: 'start', now }).state;
  const c0 = handleDtlsEvents(createDtlsConnection(clientConfig(V12)), { type: 'start', now: 0 });
  const hvr = handleDtlsEvents(listener('a', 0), { type: 'datagram', data: datagrams(c0.effects)[0]!, now: 0 });
  const c1 = handleDtlsEvents(c0.state, { type: 'datagram', data: datagrams(hvr.effects)[0]!, now: 1 });
  const ch2 = datagrams(c1.effects)[0]!;
  for (const [binding, now] of [['b', 2], ['a', 5000]] as const) {
    const other = handleDtlsEvents(listener(binding, now), { type: 'datagram', data: ch2, now });
    t.false(isDtlsCommitted(other.state));
    t.is(datagrams(other.effects)[0]![13], 3, 'a HelloVerifyRequest again');
  }
  const ok = handleDtlsEvents(listener('a', 2), { type: 'datagram', data: ch2, now: 2 });
  t.true(isDtlsCommitted(ok.state));
});

/** Drop the `n`-th datagram towards `to` (each flight here fits one datagram at the default MTU). */
const dropNth = (to: 'client' | 'server', n: number) => (d: LinkDatagram): LinkAction => (d.to === to && d.index === n ? 'drop' : 'deliver');

for (const [name, to, n] of [
  ['ClientHello', 'server', 0],
  ['server flight ServerHello..ServerHelloDone', 'client', 0],
  ['client flight ClientKeyExchange, CCS, Finished', 'server', 1],
  ['final server flight CCS, Finished', 'client', 1],
] as const) {
  test(`loss of the ${name} is repaired by retransmission`, (t) => {
    const p = handshake(dropNth(to, n));
    t.true(connected(p), `${p.types('client').join(',')} / ${p.types('server').join(',')}`);
    t.true(dtlsStats(p.client).retransmissions + dtlsStats(p.server).retransmissions >= 1);
    exchange(t, p);
  });
}

test('loss of the final flight: the server resends it only when the client retransmits (no timer in FINISHED)', (t) => {
  const p = handshake(dropNth('client', 1));
  t.true(connected(p));
  t.is(dtlsStats(p.server).retransmissions, 1);
  t.true(dtlsStats(p.client).retransmissions >= 1);
  t.is(p.server.retransmitAt, undefined);
});

test('loss with cookies: the ClientHello with the cookie is lost', (t) => {
  const p = handshake(dropNth('server', 1), V12, { cookieSecret: COOKIE_SECRET });
  t.true(connected(p));
  exchange(t, p);
});

test('every datagram duplicated', (t) => {
  const p = handshake(() => 'duplicate');
  t.true(connected(p));
  exchange(t, p);
});

test('reordering: each datagram held back by a varying delay', (t) => {
  let i = 0;
  const p = handshake(() => ({ delay: [0, 30, 3, 17][i++ % 4]! }));
  t.true(connected(p));
  exchange(t, p);
});

test('small MTU: flights fragmented and reassembled', (t) => {
  const p = handshake(undefined, { ...V12, mtu: 256 }, { mtu: 256, ...serverCredentials('server-rsa') });
  t.true(connected(p));
  exchange(t, p);
});

test('close_notify both ways', (t) => {
  const p = handshake();
  p.input('client', { type: 'close', mode: 'shutdown' });
  p.run(p.now + 1000);
  t.true(p.effects.server.some((e) => e.type === 'peerClosed'));
  p.input('server', { type: 'end' });
  p.run(p.now + 1000);
  t.true(isDtlsClosed(p.client));
});

test('version negotiation: a DTLS 1.3-capable pair lands on DTLS 1.3', (t) => {
  const p = handshake(undefined, {}, {});
  t.true(connected(p));
  t.is(dtlsHandshakeInfo(p.client)!.protocol, 'DTLSv1.3');
  t.is(dtlsHandshakeInfo(p.server)!.protocol, 'DTLSv1.3');
});

test('version negotiation: a client pinned to DTLS 1.2 against a 1.2..1.3 server → DTLS 1.2', (t) => {
  const p = handshake(undefined, V12, {});
  t.is(dtlsHandshakeInfo(p.server)!.protocol, 'DTLSv1.2');
});

test('version negotiation: a 1.2..1.3 client against a server pinned to DTLS 1.2 → DTLS 1.2 (with HelloVerifyRequest)', (t) => {
  const p = handshake(undefined, {}, { minVersion: 'DTLSv1.2', maxVersion: 'DTLSv1.2', cookieSecret: COOKIE_SECRET });
  t.true(connected(p), p.types('client').join(','));
  t.is(dtlsHandshakeInfo(p.client)!.protocol, 'DTLSv1.2');
  exchange(t, p);
});

test('version negotiation: 1.3-only client against a 1.2-only server fails with protocol_version', (t) => {
  const p = handshake(undefined, { minVersion: 'DTLSv1.3' }, { maxVersion: 'DTLSv1.2' });
  t.false(connected(p));
  t.true(isDtlsClosed(p.client) || isDtlsClosed(p.server));
});

test('TLS version names are refused for DTLS', (t) => {
  t.throws(() => createDtlsConnection(clientConfig({ minVersion: 'TLSv1.2' })), { message: /DTLSv1\.2/ });
});

test('fast-check: random datagrams in every DTLS 1.2 phase never throw', (t) => {
  // Record the states of a clean handshake, then feed random or mutated datagrams to each.
  const states: DtlsState[] = [];
  const p = new DtlsPair(V12, {});
  const orig = p.input.bind(p);
  p.input = (side, input) => {
    const r = orig(side, input);
    states.push(p[side]);
    return r;
  };
  p.start();
  p.run();
  t.true(connected(p));
  const samples = [...p.sent.client, ...p.sent.server];
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: states.length - 1 }),
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 200 }),
          fc.tuple(fc.integer({ min: 0, max: samples.length - 1 }), fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 255 })).map(([i, at, v]) => {
            const d = samples[i]!.slice();
            if (d.length > 0) d[at % d.length] = v;
            return d;
          }),
        ),
        (i, data) => {
          const st = states[i]!;
          if (st.phase === 'idle') return;
          handleDtlsEvents(st, { type: 'datagram', data, now: p.now });
        },
      ),
      { numRuns: 300 },
    ),
  );
});
