/**
 * Session resumption and 0-RTT over QUIC (RFC 9001 §4.6, RFC 9000 §7.4.1, §17.2.3), a client and a server
 * driven against each other in virtual time (`QuicPair`): tickets after the handshake, PSK resumption, 0-RTT
 * accepted and delivered once, refused (no early data on the server, a replayed ticket, lower limits, an unknown
 * ticket) and sent again in 1-RTT, lost or reordered 0-RTT packets, a server that accepts while lowering limits.
 */
import test from 'ava';
import fc from 'fast-check';
import type { HandshakeInfo } from '../../src/core/types.js';
import { createAntiReplay, createTicketer, type AntiReplay, type Ticketer, type TlsSession } from '../../src/handshake/session.js';
import type { QuicConfig, QuicEffect } from '../../src/quic/connection.js';
import { QuicError } from '../../src/quic/errors.js';
import { QUIC_MAX_EARLY_DATA, recallParams, reducedParam, rememberParams } from '../../src/quic/zeroRtt.js';
import { decodePacketHeader } from '../../src/wire/quic/packet.js';
import { caVerifier, serverCredentials } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';

const REQUEST = new TextEncoder().encode('GET /index.html, sent before the handshake completed');

interface ServerSetup {
  readonly ticketer: Ticketer;
  readonly antiReplay?: AntiReplay;
  readonly maxEarlyData?: number;
  readonly maxData?: number;
}

const serverConfig = (o: ServerSetup): Partial<QuicConfig> => ({
  tls: {
    ...serverCredentials(),
    alpnProtocols: ['h3'],
    ticketer: o.ticketer,
    antiReplay: o.antiReplay ?? createAntiReplay(),
    ...(o.maxEarlyData !== undefined ? { maxEarlyData: o.maxEarlyData } : {}),
  },
  ...(o.maxData !== undefined ? { maxData: o.maxData } : {}),
});

const clientConfig = (session?: TlsSession, earlyData = false): Partial<QuicConfig> => ({
  tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'], ...(session ? { session } : {}), ...(earlyData ? { earlyData: true } : {}) },
});

const sessionsOf = (p: QuicPair): TlsSession[] => p.effects.client.flatMap((e) => (e.type === 'session' ? [e.session] : []));
const infoOf = (p: QuicPair, side: 'client' | 'server'): HandshakeInfo | undefined =>
  p.effects[side].flatMap((e) => (e.type === 'handshakeComplete' ? [e.info] : []))[0];

/** The long-header packet types in a datagram (coalesced packets), and `short` for a 1-RTT packet. */
function packetTypes(datagram: Uint8Array): string[] {
  const out: string[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    const h = decodePacketHeader(datagram, offset, 8);
    out.push(h.form === 'long' ? h.type : h.form);
    if (h.form !== 'long') break;
    offset = h.end;
  }
  return out;
}
const has0Rtt = (d: Uint8Array): boolean => packetTypes(d).includes('zeroRtt');
const zeroRttDatagrams = (p: QuicPair): number => p.datagrams.client.filter(has0Rtt).length;

/** A first connection: a full handshake, a stream, a clean close; returns the client's sessions. */
function firstConnection(server: ServerSetup): { pair: QuicPair; sessions: TlsSession[] } {
  const pair = new QuicPair(clientConfig(), serverConfig(server)).start();
  pair.drive(pair.now + 1_000, () => pair.state.client.phase === 'connected');
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new TextEncoder().encode('first') });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.drive(pair.now + 2_000, () => sessionsOf(pair).length >= 2 && pair.text('server', 0) === 'first');
  return { pair, sessions: sessionsOf(pair) };
}

/** A second connection resuming `session`: the request written right after start (0-RTT when allowed). */
function resumed(session: TlsSession, server: ServerSetup, earlyData = true, setup: (p: QuicPair) => void = () => {}): QuicPair {
  const p = new QuicPair(clientConfig(session, earlyData), serverConfig(server));
  setup(p);
  p.start();
  // Without 0-RTT, streams open once the handshake is complete.
  if (!p.state.client.zeroRtt) p.drive(p.now + 10_000, () => p.state.client.phase === 'connected');
  p.input('client', { type: 'write', now: p.now, stream: 0, data: REQUEST });
  p.input('client', { type: 'end', now: p.now, stream: 0 });
  p.drive(p.now + 10_000, () => p.state.client.phase === 'connected' && p.state.server.phase === 'connected' && p.text('server', 0) === new TextDecoder().decode(REQUEST) && p.state.server.streams.byId.size > 0);
  p.drive(p.now + 500);
  return p;
}

const ticketer = () => createTicketer(new Uint8Array(32).fill(7));

test('RFC 9001 §4.6.1: the server issues tickets at 1-RTT; the session remembers the §7.4.1 transport parameters and the ALPN', (t) => {
  const { pair, sessions } = firstConnection({ ticketer: ticketer(), maxEarlyData: 1 });
  t.is(sessions.length, 2);
  const s = sessions[0]!;
  t.is(s.alpn, 'h3');
  t.is(s.maxEarlyData, QUIC_MAX_EARLY_DATA);
  const remembered = recallParams(s.quicTransportParameters!)!;
  const sent = pair.state.client.peerParams!;
  t.deepEqual(
    { ...remembered },
    {
      initialMaxData: sent.initialMaxData,
      initialMaxStreamDataBidiLocal: sent.initialMaxStreamDataBidiLocal,
      initialMaxStreamDataBidiRemote: sent.initialMaxStreamDataBidiRemote,
      initialMaxStreamDataUni: sent.initialMaxStreamDataUni,
      initialMaxStreamsBidi: sent.initialMaxStreamsBidi,
      initialMaxStreamsUni: sent.initialMaxStreamsUni,
      activeConnectionIdLimit: sent.activeConnectionIdLimit,
    },
  );
  // Nothing else: no connection IDs, no reset token, no idle timeout.
  t.is(remembered.statelessResetToken, undefined);
  t.is(remembered.maxIdleTimeout, undefined);
});

test('RFC 9001 §4.6.1: without early data on the server, tickets carry no early_data (the session allows no 0-RTT)', (t) => {
  const { sessions } = firstConnection({ ticketer: ticketer() });
  t.true(sessions.length > 0);
  t.is(sessions[0]!.maxEarlyData, 0);
});

test('resumption: a session resumes with a PSK (psk_dhe_ke), no 0-RTT asked', (t) => {
  const tk = ticketer();
  const { sessions } = firstConnection({ ticketer: tk, maxEarlyData: 1 });
  const p = resumed(sessions[0]!, { ticketer: tk, maxEarlyData: 1 }, false);
  t.true(infoOf(p, 'client')!.resumed);
  t.true(infoOf(p, 'server')!.resumed);
  t.is(infoOf(p, 'client')!.earlyData, 'none');
  t.is(zeroRttDatagrams(p), 0);
  t.is(p.text('server', 0), new TextDecoder().decode(REQUEST));
});

test('RFC 9001 §4.6: 0-RTT accepted: the request goes in 0-RTT packets and is delivered once', (t) => {
  const tk = ticketer();
  const { sessions } = firstConnection({ ticketer: tk, maxEarlyData: 1 });
  const p = resumed(sessions[0]!, { ticketer: tk, maxEarlyData: 1 });
  t.true(infoOf(p, 'client')!.resumed);
  t.is(infoOf(p, 'client')!.earlyData, 'accepted');
  t.is(infoOf(p, 'server')!.earlyData, 'accepted');
  t.true(zeroRttDatagrams(p) >= 1);
  t.deepEqual(p.effects.client.filter((e) => e.type === 'earlyData'), [{ type: 'earlyData', accepted: true }]);
  // Delivered once: the server's bytes are exactly the request, whatever was acknowledged when.
  t.is(p.text('server', 0), new TextDecoder().decode(REQUEST));
  // The server delivered it before its handshake completed (0-RTT), not after.
  const order = p.effects.server.map((e) => e.type).filter((x) => x === 'deliver' || x === 'handshakeComplete');
  t.is(order[0], 'deliver');
  // RFC 9001 §4.9.3: the server dropped its 0-RTT keys at the first 1-RTT packet.
  t.is(p.state.server.zeroRtt?.rx, undefined);
});

/** A refused 0-RTT attempt: the request was sent in 0-RTT, then again in 1-RTT, and arrives once. */
function assertResent(t: import('ava').ExecutionContext, p: QuicPair): void {
  t.true(zeroRttDatagrams(p) >= 1, 'the request went out in 0-RTT first');
  t.is(infoOf(p, 'client')!.earlyData, 'rejected');
  t.deepEqual(p.effects.client.filter((e) => e.type === 'earlyData'), [{ type: 'earlyData', accepted: false }]);
  t.is(p.text('server', 0), new TextDecoder().decode(REQUEST));
  t.is(p.state.client.closeError, undefined);
}

test('RFC 9000 §17.2.3: a server without early data refuses 0-RTT; the client sends the data again in 1-RTT', (t) => {
  const tk = ticketer();
  const { sessions } = firstConnection({ ticketer: tk, maxEarlyData: 1 });
  const p = resumed(sessions[0]!, { ticketer: tk });
  assertResent(t, p);
  t.true(infoOf(p, 'client')!.resumed, 'resumption still succeeds');
});

test('RFC 8446 §8: a replayed ticket neither resumes nor replays 0-RTT data (single-use tickets)', (t) => {
  const tk = ticketer();
  const antiReplay = createAntiReplay();
  const { sessions } = firstConnection({ ticketer: tk, antiReplay, maxEarlyData: 1 });
  const once = resumed(sessions[0]!, { ticketer: tk, antiReplay, maxEarlyData: 1 });
  t.is(infoOf(once, 'client')!.earlyData, 'accepted');
  const again = resumed(sessions[0]!, { ticketer: tk, antiReplay, maxEarlyData: 1 });
  assertResent(t, again);
  t.false(infoOf(again, 'server')!.resumed);
});

test('RFC 9000 §7.4.1: a server whose limits went down since the ticket refuses 0-RTT, not the connection', (t) => {
  const tk = ticketer();
  const { sessions } = firstConnection({ ticketer: tk, maxEarlyData: 1 });
  const p = resumed(sessions[0]!, { ticketer: tk, maxEarlyData: 1, maxData: 64 * 1024 });
  assertResent(t, p);
  t.true(infoOf(p, 'server')!.resumed);
  t.is(p.state.client.peerParams?.initialMaxData, 64 * 1024);
});

test('RFC 9000 §7.4.1: a client closes with PROTOCOL_VIOLATION when the server accepts 0-RTT but lowered a limit', (t) => {
  const tk = ticketer();
  const { sessions } = firstConnection({ ticketer: tk, maxEarlyData: 1 });
  // A server that vouches for any ticket's 0-RTT: its ticketer forgets what the ticket remembered.
  const lenient: Ticketer = {
    lifetime: tk.lifetime,
    seal: (p, now, st) => tk.seal(p, now, st),
    open: (p, now, ticket) => {
      const st = tk.open(p, now, ticket);
      return st && { ...st, context: rememberParams({}) };
    },
  };
  const p = new QuicPair(clientConfig(sessions[0]!, true), serverConfig({ ticketer: lenient, maxEarlyData: 1, maxData: 64 * 1024 })).start();
  p.input('client', { type: 'write', now: p.now, stream: 0, data: REQUEST });
  p.drive(p.now + 5_000);
  const closed = p.closed('client');
  t.is(closed?.error?.detail.kind, 'quicClose');
  const d = closed!.error!.detail as Extract<NonNullable<typeof closed>['error'], object>['detail'] & { code: bigint };
  t.is(d.code, QuicError.PROTOCOL_VIOLATION);
  t.regex(closed!.error!.message, /initial_max_data/);
});

test('RFC 9000 §7.4.1: reducedParam names the first remembered limit that went down', (t) => {
  t.is(reducedParam({ initialMaxData: 10 }, { initialMaxData: 10 }), undefined);
  t.is(reducedParam({ initialMaxData: 10 }, { initialMaxData: 11 }), undefined);
  t.is(reducedParam({ initialMaxStreamsUni: 3 }, { initialMaxStreamsUni: 2 }), 'initial_max_streams_uni');
  // active_connection_id_limit defaults to 2 (RFC 9000 §18.2).
  t.is(reducedParam({}, { activeConnectionIdLimit: 2 }), undefined);
  t.is(reducedParam({ activeConnectionIdLimit: 4 }, {}), 'active_connection_id_limit');
  const datagrams = (n: number) => ({ unknown: [{ id: 0x20, value: Uint8Array.of(0x40 | (n >> 8), n & 0xff) }] });
  t.is(reducedParam(datagrams(1200), datagrams(1200)), undefined);
  t.is(reducedParam(datagrams(1200), datagrams(500)), 'max_datagram_frame_size');
  t.deepEqual(recallParams(rememberParams({ ...datagrams(1200), maxIdleTimeout: 5 }))?.unknown, datagrams(1200).unknown);
});

test('0-RTT packets lost: the data still arrives once (in 0-RTT again or in 1-RTT)', (t) => {
  const tk = ticketer();
  const { sessions } = firstConnection({ ticketer: tk, maxEarlyData: 1 });
  let dropped = 0;
  const p = resumed(sessions[0]!, { ticketer: tk, maxEarlyData: 1 }, true, (pair) => {
    pair.latency = 10;
    pair.drop = (from, _n, data) => from === 'client' && dropped === 0 && has0Rtt(data) && !packetTypes(data).includes('initial') && ++dropped > 0;
  });
  t.is(dropped, 1);
  t.is(infoOf(p, 'client')!.earlyData, 'accepted');
  t.is(p.text('server', 0), new TextDecoder().decode(REQUEST));
});

test('0-RTT packets before the Initial: the server keeps nothing for them; the data arrives once', (t) => {
  const tk = ticketer();
  const { sessions } = firstConnection({ ticketer: tk, maxEarlyData: 1 });
  let early: Uint8Array | undefined;
  const p = new QuicPair(clientConfig(sessions[0]!, true), serverConfig({ ticketer: tk, maxEarlyData: 1 }));
  p.drop = (from, _n, data) => from === 'client' && !early && has0Rtt(data) && !packetTypes(data).includes('initial') && (early = data) !== undefined;
  p.start();
  p.input('client', { type: 'write', now: p.now, stream: 0, data: REQUEST });
  p.input('client', { type: 'end', now: p.now, stream: 0 });
  t.truthy(early);
  // The 0-RTT datagram overtakes the Initial: a server without a handshake drops it and stays as it was.
  const before = p.state.server;
  p.input('server', { type: 'datagram', now: p.now, data: early! });
  t.is(p.state.server.handshake, undefined);
  t.is(p.state.server.spaces.application.largestRx, before.spaces.application.largestRx);
  p.drive(p.now + 10_000, () => p.text('server', 0) === new TextDecoder().decode(REQUEST) && p.state.client.phase === 'connected');
  t.is(p.text('server', 0), new TextDecoder().decode(REQUEST));
});

test('hostile: 0-RTT packets on a ticket the server cannot open are dropped without state; a full handshake follows', (t) => {
  const { sessions } = firstConnection({ ticketer: ticketer(), maxEarlyData: 1 });
  const stranger = createTicketer(new Uint8Array(32).fill(9));
  const p = resumed(sessions[0]!, { ticketer: stranger, maxEarlyData: 1 });
  assertResent(t, p);
  t.false(infoOf(p, 'server')!.resumed);
  t.is(p.state.server.zeroRtt, undefined, 'no 0-RTT keys or state on the server');
});

test('a session without remembered transport parameters resumes without 0-RTT', (t) => {
  const tk = ticketer();
  const { sessions } = firstConnection({ ticketer: tk, maxEarlyData: 1 });
  const { quicTransportParameters: _, ...bare } = sessions[0]!;
  const p = resumed(bare, { ticketer: tk, maxEarlyData: 1 });
  t.true(infoOf(p, 'client')!.resumed);
  t.is(infoOf(p, 'client')!.earlyData, 'none');
  t.is(zeroRttDatagrams(p), 0);
  t.is(p.text('server', 0), new TextDecoder().decode(REQUEST));
});

test('property: whatever client datagrams are lost, 0-RTT data arrives exactly once and the outcome is reported', (t) => {
  const tk = ticketer();
  const antiReplay = createAntiReplay();
  const setup = { ticketer: tk, antiReplay, maxEarlyData: 1 };
  const { pair } = firstConnection(setup);
  // One fresh ticket per run: every run resumes (tickets are single use).
  const pool = [...sessionsOf(pair)];
  for (let i = 0; pool.length < 12 && i < 6; i++) pool.push(...firstConnection(setup).sessions);
  let run = 0;
  fc.assert(
    fc.property(fc.array(fc.nat(6), { maxLength: 3 }), fc.boolean(), (losses, accept) => {
      const session = pool[run++ % pool.length]!;
      const p = resumed(session, { ticketer: tk, antiReplay: createAntiReplay(), ...(accept ? { maxEarlyData: 1 } : {}) }, true, (q) => {
        q.latency = 5;
        q.drop = (from, n) => from === 'client' && losses.includes(n);
      });
      const outcome: QuicEffect[] = p.effects.client.filter((e) => e.type === 'earlyData');
      return p.text('server', 0) === new TextDecoder().decode(REQUEST) && outcome.length === 1 && infoOf(p, 'client')!.earlyData === (accept ? 'accepted' : 'rejected');
    }),
    { numRuns: 12 },
  );
  t.true(run >= 12);
});
