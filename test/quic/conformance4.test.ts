/**
 * QUIC v1 conformance, part 4 (RFC 9000, RFC 9001, RFC 9002): what parts 1–3 leave out, probed the way
 * quic-interop-runner's adversarial cases, quic-go's and quinn's conformance tests and h3spec's transport part
 * do: the closing and draining states (§10.2), closing during the handshake (§10.2.3), 0-RTT packets and what
 * they may carry, connection IDs on long headers and in coalesced datagrams (§5.2, §7.2, §12.2), CRYPTO data at
 * a level already left behind (RFC 9001 §4.1.3), handshake packets out of order, the server's Initial datagrams
 * (§14.1), path validation answers (§8.2), packet number recovery (§A.3) and the idle timer (§10.1). Both roles
 * where the rule applies to both, in memory, in virtual time ({@link QuicPair}).
 *
 * Forged packets come from the other side of the pair under its real keys; a forged 1-RTT (or Handshake) packet
 * takes its number from the forger's own sequence, which then skips it, so the victim's ACKs of it are nothing
 * the real peer could object to and a probe can end by exchanging data both ways.
 *
 * Probes that found a deviation when they were written say so ("found by this probe and fixed"), right above
 * them: what the code did, what the RFC asks.
 */
import test from 'ava';
import { concatBytes } from '../vectors/hex.js';
import { createAntiReplay, createTicketer, type Ticketer, type TlsSession } from '../../src/handshake/session.js';
import { type QuicConfig, type QuicEffect, type QuicState } from '../../src/quic/connection.js';
import { QuicError } from '../../src/quic/errors.js';
import { initialKeys, protectPacket, retryIntegrityTag, unprotectPacket, type PacketKeys } from '../../src/quic/protection.js';
import { probeTimeout } from '../../src/quic/recovery.js';
import { encodeRetryPacket } from '../../src/quic/retry.js';
import { encodeVersionNegotiation } from '../../src/quic/versionNegotiation.js';
import { decodeFrames, type Frame, type PacketSpace } from '../../src/wire/quic/frames.js';
import { decodePacketHeader, encodeLongHeader } from '../../src/wire/quic/packet.js';
import { encodeWith, type Writer } from '../../src/wire/writer.js';
import { caVerifier, serverCredentials } from '../helpers/pair.js';
import { frameBytes as framesOf, framesOf as sentFramesOf, recordPackets, varint8 } from '../helpers/quicFrames.js';
import { QuicPair, other, type Side, quicOutcome as outcome } from '../helpers/quicPair.js';
import { assertAlive, assertClosedWith, ctest, exchange, finishedWithheld, firstInitialWithheld, miss, oneRtt, type OneRttOpts, sentCode, takePn } from '../helpers/quicProbe.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const E = QuicError;
const SIDES = ['client', 'server'] as const;
const enc = (s: string) => new TextEncoder().encode(s);
const cat = concatBytes;
const raw = (f: (w: Writer) => void): Uint8Array => encodeWith(f);
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A connected pair (handshake complete and confirmed on both sides), no latency. */
const connected = (client: Partial<QuicConfig> = {}, server: Partial<QuicConfig> = {}) => new QuicPair(client, server).start().settle();

type SpaceId = 'initial' | 'handshake' | 'application';
const spaceOf = (level: PacketSpace): SpaceId => (level === 'initial' ? 'initial' : level === 'handshake' ? 'handshake' : 'application');

interface LongOpts {
  readonly keys?: PacketKeys;
  readonly dcid?: Uint8Array;
  readonly scid?: Uint8Array;
  readonly token?: Uint8Array;
  readonly pn?: number;
  /** Pad the payload to this many bytes (a client's Initial: 1200 by default). */
  readonly padTo?: number;
  /** OR into the first byte before protection (the reserved bits 0x0c are protected). */
  readonly reserved?: number;
  /** Clear the fixed bit (0x40). */
  readonly fixedBit0?: boolean;
}

/**
 * An Initial, 0-RTT or Handshake packet from `from` carrying `payload`, under its write keys of that level (the
 * Initial keys are derived again when the forger has already discarded them), to its current DCID.
 */
function longPacket(pair: QuicPair, from: Side, type: 'initial' | 'handshake' | 'zeroRtt', payload: Uint8Array, opts: LongOpts = {}): Uint8Array {
  const c = pair.state[from];
  const keys =
    opts.keys ??
    (type === 'zeroRtt' ? c.zeroRtt?.tx : c.spaces[type].tx) ??
    (type === 'initial' ? initialKeys(c.config.provider, c.originalDcid)[from] : undefined);
  if (!keys) throw new Error(`${from} has no ${type} write keys`);
  const n = opts.pn ?? takePn(pair, from, spaceOf(type));
  const padTo = opts.padTo ?? (from === 'client' && type === 'initial' ? 1200 : 20);
  const body = payload.length < padTo ? cat(payload, new Uint8Array(padTo - payload.length)) : payload;
  const token = opts.token ?? (type === 'initial' ? c.token : undefined);
  const header = encodeLongHeader({ type, dcid: opts.dcid ?? c.dcid, scid: opts.scid ?? c.scid, ...(token ? { token } : {}), packetNumber: n, pnLength: 4, payloadLength: body.length });
  header[0] = header[0]! | (opts.reserved ?? 0);
  if (opts.fixedBit0) header[0] = header[0]! & ~0x40;
  return protectPacket(c.config.provider, keys, header, n, body);
}

function deliver(pair: QuicPair, victim: Side, datagram: Uint8Array): readonly QuicEffect[] {
  return pair.input(victim, { type: 'datagram', now: pair.now, data: datagram });
}

/** Forge `payload` in a 1-RTT packet from the peer of `victim` and deliver it. */
const hit = (pair: QuicPair, victim: Side, payload: Uint8Array, opts?: OneRttOpts) => deliver(pair, victim, oneRtt(pair, other(victim), payload, opts));

const transmits = (effects: readonly QuicEffect[]) => effects.flatMap((e) => (e.type === 'transmit' || e.type === 'transmitTo' ? [e.data] : []));
const delivered = (effects: readonly QuicEffect[]) => effects.filter((e) => e.type === 'deliver' || e.type === 'peerClosed');

/** The packets of a datagram, split where the long headers say (a short header runs to the end). */
function splitPackets(datagram: Uint8Array): { type: string; bytes: Uint8Array }[] {
  const out: { type: string; bytes: Uint8Array }[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    const h = decodePacketHeader(datagram, offset, 8);
    out.push({ type: h.form === 'long' ? h.type : h.form, bytes: datagram.subarray(offset, h.end) });
    offset = h.end;
  }
  return out;
}

/** One packet `side` sent, opened with its keys of the time: its level, frames, and the datagram it went in. */
interface SentPacket {
  readonly level: PacketSpace;
  readonly frames: readonly Frame[];
  /** Index of the datagram among those the side sent, and its size. */
  readonly datagram: number;
  readonly size: number;
}

/** The packets of `datagram` sent by a side in state `s`, opened with its write keys (unreadable ones skipped). */
function openSent(s: QuicState, datagram: Uint8Array, index = 0): SentPacket[] {
  const out: SentPacket[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    let h;
    try {
      h = decodePacketHeader(datagram, offset, s.dcid.length);
    } catch {
      break;
    }
    if (h.form === 'versionNegotiation' || (h.form === 'long' && h.type === 'retry')) break;
    const level: PacketSpace = h.form === 'short' ? 'oneRtt' : (h.type as PacketSpace);
    const id = spaceOf(level);
    const keys = level === 'zeroRtt' ? s.zeroRtt?.tx : level === 'initial' ? (s.spaces.initial.tx ?? initialKeys(s.config.provider, s.originalDcid)[s.config.role]) : s.spaces[id].tx;
    const packet = datagram.subarray(offset, h.end);
    const largest = s.spaces[id].discarded ? 0 : s.spaces[id].nextPn - 1;
    const p = keys ? unprotectPacket(s.config.provider, keys, packet, h.pnOffset - offset, largest) : null;
    if (p) {
      let frames: Frame[] = [];
      try {
        frames = decodeFrames(p.payload, level);
      } catch {
        frames = [];
      }
      out.push({ level, frames, datagram: index, size: datagram.length });
    }
    offset = h.end;
  }
  return out;
}

/** Start recording every packet each side sends (all levels), opened at the time of sending. */
function recordAll(pair: QuicPair): Record<Side, SentPacket[]> {
  const out: Record<Side, SentPacket[]> = { client: [], server: [] };
  const count: Record<Side, number> = { client: 0, server: 0 };
  const before = pair.observe;
  pair.observe = (side, state, effects) => {
    before(side, state, effects);
    for (const data of transmits(effects)) out[side].push(...openSent(state, data, count[side]++));
  };
  return out;
}

const closesIn = (packets: readonly SentPacket[]) =>
  packets.flatMap((p) => p.frames.filter((f): f is Extract<Frame, { type: 'connectionClose' }> => f.type === 'connectionClose').map((f) => ({ level: p.level, frame: f })));
const ackEliciting = (frames: readonly Frame[]) => frames.some((f) => f.type !== 'ack' && f.type !== 'padding' && f.type !== 'connectionClose');

const stream = (streamId: number, offset: number, data: Uint8Array | number, fin = false): Frame => ({ type: 'stream', streamId, offset, data: typeof data === 'number' ? new Uint8Array(data) : data, fin });
/** A stream the peer of `side` opens: unidirectional (2 or 3 + 4 × index) and bidirectional. */
const peerUni = (side: Side, index = 0) => 4 * index + (side === 'client' ? 3 : 2);
const peerBidi = (side: Side, index = 0) => 4 * index + (side === 'client' ? 1 : 0);

/** A pair driven until `done`, in the middle of the handshake. */
function midHandshake(done: (pair: QuicPair) => boolean): QuicPair {
  const pair = new QuicPair().start();
  return pair.drive(pair.now + 1_000, () => done(pair));
}

/**
 * A pair where the server's whole first flight is held back (`held`), none of it delivered: the client has only
 * its Initial keys; the server has all of its own keys.
 */
function serverFlightHeld(): { pair: QuicPair; held: Uint8Array[] } {
  const pair = new QuicPair();
  const held: Uint8Array[] = [];
  pair.drop = (from, _n, data) => {
    if (from === 'server') held.push(data);
    return from === 'server';
  };
  pair.start().settle();
  return { pair, held };
}

/** The client's view of the server's first packets: the Initial (ServerHello) only. It has Handshake keys, sent no Handshake packet. */
function clientAfterServerHello(): { pair: QuicPair; held: Uint8Array[] } {
  const { pair, held } = serverFlightHeld();
  const initial = splitPackets(held[0]!).find((p) => p.type === 'initial')!;
  deliver(pair, 'client', initial.bytes.slice());
  pair.settle();
  return { pair, held };
}

// --- 0-RTT (RFC 9001 §4.6) ---

const tk: Ticketer = createTicketer(new Uint8Array(32).fill(9));
const serverConfig0 = (maxEarlyData = 1): Partial<QuicConfig> => ({ tls: { ...serverCredentials(), alpnProtocols: ['h3'], ticketer: tk, antiReplay: createAntiReplay(), maxEarlyData } });
const clientConfig0 = (session?: TlsSession): Partial<QuicConfig> => ({
  tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'], ...(session ? { session, earlyData: true } : {}) },
});

let sessionCache: TlsSession | undefined;
/** A session of the 0-RTT server (tickets allow early data), from a first full handshake. */
function session(): TlsSession {
  if (sessionCache) return sessionCache;
  const pair = new QuicPair(clientConfig0(), serverConfig0());
  pair.start().drive(pair.now + 2_000, () => pair.effects.client.some((e) => e.type === 'session'));
  const s = pair.effects.client.flatMap((e) => (e.type === 'session' ? [e.session] : []))[0];
  if (!s) throw new Error('no session');
  return (sessionCache = s);
}

/**
 * A resumed pair whose server accepted 0-RTT (it has 0-RTT read keys), its answers held back so the client can
 * still send 0-RTT. `release` lets the held datagrams through (and everything after).
 */
function zeroRttPair(server: Partial<QuicConfig> = serverConfig0()): { pair: QuicPair; release: () => void } {
  const pair = new QuicPair(clientConfig0(session()), server);
  const held: Uint8Array[] = [];
  pair.drop = (from, _n, data) => {
    if (from === 'server') held.push(data);
    return from === 'server';
  };
  pair.start().settle();
  return {
    pair,
    release: () => {
      pair.drop = () => false;
      for (const d of held.splice(0)) deliver(pair, 'client', d);
      pair.drive(pair.now + 5_000, () => pair.state.client.phase === 'connected' && pair.state.server.phase === 'connected' && pair.state.client.spaces.handshake.discarded);
    },
  };
}

/** A 0-RTT packet from the client of `pair` carrying `payload`. */
const zeroRtt = (pair: QuicPair, payload: Uint8Array, opts: LongOpts = {}) => longPacket(pair, 'client', 'zeroRtt', payload, { padTo: 30, ...opts });

/** A datagram of `size` bytes that reads as a short header and ends in `token` (a stateless reset). */
function resetLike(size: number, token: Uint8Array): Uint8Array {
  const d = new Uint8Array(size).fill(0x6b);
  d[0] = 0x40 | 0x0b;
  d.set(token, size - token.length);
  return d;
}

/** Whether `ack` acknowledges packet `pn` (RFC 9000 §19.3.1). */
function acks(ack: Extract<Frame, { type: 'ack' }>, pn: number): boolean {
  let largest = ack.largest;
  let smallest = largest - ack.firstRange;
  if (pn >= smallest && pn <= largest) return true;
  for (const r of ack.ranges) {
    largest = smallest - r.gap - 2;
    smallest = largest - r.length;
    if (pn >= smallest && pn <= largest) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The closing and draining states (RFC 9000 §10.2)
// ---------------------------------------------------------------------------------------------------------------

/**
 * A connected pair in which `victim` has closed (graceful: a closing period) with application error 7; its
 * CONNECTION_CLOSE never reached the peer, which goes on sending.
 */
function closing(victim: Side, latency = 0): QuicPair {
  const pair = new QuicPair();
  pair.latency = latency;
  pair.start().drive(pair.now + 2_000, () => pair.state.client.spaces.handshake.discarded && pair.state.server.phase === 'connected');
  pair.drive(pair.now + 200);
  pair.drop = (from) => from === victim;
  pair.input(victim, { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'bye' });
  return pair;
}

for (const victim of SIDES) {
  ctest(`RFC 9000 §10.2.1: in the closing state a packet from the peer is answered with the same CONNECTION_CLOSE, and nothing else (${victim})`, (t) => {
    const pair = closing(victim);
    t.is(pair.state[victim].phase, 'closing');
    const answer = transmits(hit(pair, victim, framesOf({ type: 'ping' }, { type: 'padding', length: 20 })));
    const packets = answer.flatMap((d) => openSent(pair.state[victim], d));
    t.log(`${answer.length} datagram(s): ${JSON.stringify(packets.map((p) => [p.level, p.frames.map((f) => f.type)]))}`);
    t.true(answer.length >= 1, 'an answer');
    const frames = packets.flatMap((p) => p.frames).filter((f) => f.type !== 'padding');
    t.true(frames.length > 0 && frames.every((f) => f.type === 'connectionClose'), 'only CONNECTION_CLOSE frames');
    for (const f of frames) t.like(f, { type: 'connectionClose', kind: 'application', errorCode: 7n });
  });

  ctest(`RFC 9000 §10.2.1: while closing, frames other than CONNECTION_CLOSE are not processed: no stream data delivered, no stream opened (${victim})`, (t) => {
    const pair = closing(victim);
    const effects = hit(pair, victim, framesOf(stream(peerUni(victim, 4), 0, enc('too late'), true), { type: 'maxStreams', bidi: true, max: 1000 }));
    t.deepEqual(delivered(effects), [], 'nothing delivered');
    t.is(pair.state[victim].phase, 'closing', outcome(pair, victim));
    t.is(pair.bytes(victim, peerUni(victim, 4)), 0);
  });

  // Found by this probe and fixed: a closing endpoint answered every datagram with a packet it attributed to the
  // connection with another CONNECTION_CLOSE datagram, without limit. RFC 9000 §10.2.1: "An endpoint SHOULD limit
  // the rate at which it generates packets in the closing state", e.g. by answering after a progressively
  // increasing number of packets or amount of time (now the 1st, 2nd, 4th, 8th, … packet received while closing).
  test(`RFC 9000 §10.2.1: a closing endpoint limits the rate of its CONNECTION_CLOSE answers: 100 packets draw far fewer than 100 (${victim})`, (t) => {
    const pair = closing(victim);
    let answers = 0;
    for (let i = 0; i < 100; i++) answers += transmits(hit(pair, victim, framesOf({ type: 'ping' }, { type: 'padding', length: 20 }))).length;
    t.log(`${answers} CONNECTION_CLOSE datagrams for 100 packets received while closing`);
    t.true(answers >= 1, 'answered at least once');
    t.true(answers <= 20, `${answers} answers to 100 packets`);
  });

  ctest(`RFC 9000 §10.2.2: a CONNECTION_CLOSE received while closing moves to draining: nothing is sent after it, whatever arrives (${victim})`, (t) => {
    const pair = closing(victim);
    const effects = hit(pair, victim, framesOf({ type: 'connectionClose', kind: 'application', errorCode: 9n, reason: enc('me too') }));
    t.is(pair.state[victim].phase, 'draining', outcome(pair, victim));
    t.deepEqual(transmits(effects), [], 'no answer to the CONNECTION_CLOSE');
    let sent = 0;
    for (let i = 0; i < 30; i++) sent += transmits(hit(pair, victim, framesOf({ type: 'ping' }, { type: 'padding', length: 20 }))).length;
    t.is(sent, 0, 'nothing sent while draining');
    pair.drive(pair.now + 10_000);
    t.is(pair.state[victim].phase, 'closed');
    t.truthy(pair.closed(victim), 'a closed effect at the end');
  });

  ctest(`RFC 9000 §10.2.2: a draining endpoint sends nothing at all: data, PINGs, a CONNECTION_CLOSE and a stateless reset draw no datagram (${victim})`, (t) => {
    const pair = connected();
    const effects = hit(pair, victim, framesOf({ type: 'connectionClose', kind: 'transport', errorCode: E.NO_ERROR, frameType: 0, reason: new Uint8Array(0) }));
    t.is(pair.state[victim].phase, 'draining', outcome(pair, victim));
    t.deepEqual(transmits(effects), []);
    const closeAt = pair.state[victim].timers.close;
    t.truthy(closeAt, 'a draining period');
    const token = pair.state[victim].cids.peer.find((p) => p.sequence === pair.state[victim].cids.active)?.resetToken;
    const inputs = [
      ...Array.from({ length: 20 }, (_, i) => oneRtt(pair, other(victim), framesOf(stream(peerBidi(victim, 8), i * 4, enc('more'))))),
      oneRtt(pair, other(victim), framesOf({ type: 'ping' }, { type: 'padding', length: 40 })),
      oneRtt(pair, other(victim), framesOf({ type: 'connectionClose', kind: 'application', errorCode: 3n, reason: enc('again') })),
      ...(token ? [resetLike(60, token)] : []),
    ];
    const out = inputs.flatMap((d) => {
      pair.now += 1;
      return deliver(pair, victim, d);
    });
    t.deepEqual(transmits(out), [], 'no datagram while draining');
    t.deepEqual(delivered(out), [], 'nothing delivered while draining');
    t.is(pair.state[victim].timers.close, closeAt, 'the packets do not extend the draining period');
    pair.drive(pair.now + 10_000);
    t.is(pair.state[victim].phase, 'closed', outcome(pair, victim));
    t.is(pair.closed(victim)?.error, undefined, 'a clean close by the peer (NO_ERROR)');
  });
}

ctest('RFC 9000 §10.2: after the closing period the state is discarded: closed, no timer armed, later packets draw nothing', (t) => {
  for (const victim of SIDES) {
    const pair = closing(victim);
    t.truthy(pair.state[victim].timers.close, `${victim}: a closing period`);
    pair.drive(pair.now + 60_000);
    t.is(pair.state[victim].phase, 'closed', `${victim}: ${outcome(pair, victim)}`);
    t.deepEqual(pair.state[victim].timers, {}, `${victim}: no timer`);
    const late = deliver(pair, victim, oneRtt(pair, other(victim), framesOf({ type: 'ping' }, { type: 'padding', length: 20 })));
    t.deepEqual(late, [], `${victim}: a packet after the end draws nothing`);
    t.like(pair.closed(victim)?.error?.detail, { kind: 'quicClose', code: 7n, application: true, local: true });
  }
});

// Found by this probe and fixed: the closing and draining periods were 3 × probeTimeout(rtt, 0): the PTO without
// max_ack_delay, as for the Initial and Handshake spaces. RFC 9000 §10.2: these states "SHOULD persist for at
// least three times the current PTO interval as defined in [QUIC-RECOVERY]", and RFC 9002 §6.2.1 computes the PTO
// of the application data space with max_ack_delay (only Initial and Handshake use 0); a peer that delays its
// ACKs by max_ack_delay could have packets in flight for longer than the period.
test('RFC 9000 §10.2, RFC 9002 §6.2.1: the closing and draining periods last at least 3×PTO of the application space (max_ack_delay included)', (t) => {
  const misses: string[] = [];
  for (const victim of SIDES) {
    const pair = closing(victim, 20);
    const s = pair.state[victim];
    const pto = probeTimeout(s.rtt, s.peerParams?.maxAckDelay ?? 25);
    const period = s.timers.close! - pair.now;
    t.log(`${victim}: closing period ${period} ms; 3×PTO ${3 * pto} ms (smoothed RTT ${s.rtt.smoothed} ms)`);
    if (period < 3 * pto) misses.push(`${victim} closing: ${period} ms < ${3 * pto} ms`);
    // And draining, on the peer's CONNECTION_CLOSE, over the same 20 ms link.
    const d = new QuicPair();
    d.latency = 20;
    d.start().drive(d.now + 2_000, () => d.state.client.spaces.handshake.discarded && d.state.server.phase === 'connected');
    d.drive(d.now + 200);
    hit(d, victim, framesOf({ type: 'connectionClose', kind: 'application', errorCode: 1n, reason: new Uint8Array(0) }));
    const ds = d.state[victim];
    const dpto = probeTimeout(ds.rtt, ds.peerParams?.maxAckDelay ?? 25);
    const dperiod = ds.timers.close! - d.now;
    if (dperiod < 3 * dpto) misses.push(`${victim} draining: ${dperiod} ms < ${3 * dpto} ms`);
  }
  t.deepEqual(misses, []);
});

ctest('RFC 9000 §10.3.1: a stateless reset received while closing ends the connection at once; nothing more is sent', (t) => {
  const pair = closing('client');
  const c = pair.state.client;
  const token = c.cids.peer.find((p) => p.sequence === c.cids.active)?.resetToken;
  t.truthy(token, 'the server gave a reset token for the ID in use');
  const effects = deliver(pair, 'client', resetLike(60, token!));
  t.log(outcome(pair, 'client'));
  t.true(pair.state.client.phase === 'closed' || pair.state.client.phase === 'draining', outcome(pair, 'client'));
  t.deepEqual(transmits(effects), [], 'no CONNECTION_CLOSE in answer to the reset');
  const later = deliver(pair, 'client', oneRtt(pair, 'server', framesOf({ type: 'ping' }, { type: 'padding', length: 20 })));
  t.deepEqual(transmits(later), [], 'nor to anything after it');
});

ctest('RFC 9000 §10.2.1, §8.1: a server closing before the client\'s address is validated answers within 3× the bytes received', (t) => {
  // The client's Handshake packets never arrive: the server does not validate its address.
  const pair = new QuicPair();
  pair.drop = (from, n) => from === 'client' && n > 0;
  pair.start().settle();
  t.false(pair.state.server.addressValidated);
  let worst = 0;
  pair.observe = (side, s) => {
    if (side === 'server' && !s.addressValidated) worst = Math.max(worst, s.bytesSent - 3 * s.bytesReceived);
  };
  pair.input('server', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'going away' });
  t.is(pair.state.server.phase, 'closing', outcome(pair, 'server'));
  let answers = 0;
  for (let i = 0; i < 10; i++) {
    pair.now += 1;
    answers += transmits(deliver(pair, 'server', longPacket(pair, 'client', 'initial', framesOf({ type: 'ping' })))).length;
  }
  t.log(`server: ${pair.state.server.bytesSent} bytes sent for ${pair.state.server.bytesReceived} received; ${answers} answers while closing`);
  t.true(worst <= 0, `sent ${worst} bytes beyond 3× what it received`);
  t.true(pair.state.server.bytesSent <= 3 * pair.state.server.bytesReceived);
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Closing during the handshake (RFC 9000 §10.2.3)
// ---------------------------------------------------------------------------------------------------------------

/** A client with Handshake keys and no 1-RTT keys: it has the server's first datagram, nothing more. */
function clientInHandshake(): QuicPair {
  const pair = new QuicPair();
  pair.drop = (from, n) => from === 'server' && n >= 1;
  pair.start().settle();
  return pair;
}

// Found by this probe and fixed: a client that closed with an application error before it had 1-RTT keys sent a
// transport CONNECTION_CLOSE with NO_ERROR: the peer read a clean close. RFC 9000 §10.2.3: an application close
// during the handshake is sent as a 0x1c frame "with an error code of APPLICATION_ERROR" in Initial or Handshake
// packets.
test('RFC 9000 §10.2.3: a client closing during the handshake with an application code sends 0x1c with APPLICATION_ERROR, not NO_ERROR', (t) => {
  const pair = clientInHandshake();
  t.truthy(pair.state.client.spaces.handshake.tx, 'the client has Handshake keys');
  t.is(pair.state.client.spaces.application.tx, undefined, 'and no 1-RTT keys');
  const sent = recordAll(pair);
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'user cancelled the upload of secret.txt' });
  const closes = closesIn(sent.client);
  t.log(JSON.stringify(closes.map((c) => [c.level, c.frame.kind, `0x${c.frame.errorCode.toString(16)}`, new TextDecoder().decode(c.frame.reason)])));
  t.true(closes.length > 0, 'a CONNECTION_CLOSE was sent');
  for (const c of closes) t.like(c.frame, { kind: 'transport', errorCode: E.APPLICATION_ERROR }, `${c.level}: 0x1c APPLICATION_ERROR`);
});

// Found by this probe and fixed: as above: the application's reason phrase went out in the Handshake packet's 0x1c
// frame. RFC 9000 §10.2.3: when an application close is sent as 0x1c in Initial or Handshake packets, "Endpoints
// MUST clear the value of the Reason Phrase field" (the application state must not be revealed under keys an
// observer may have).
test('RFC 9000 §10.2.3: an application close during the handshake carries no reason phrase in Initial or Handshake packets', (t) => {
  const pair = clientInHandshake();
  const sent = recordAll(pair);
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'user cancelled the upload of secret.txt' });
  const closes = closesIn(sent.client).filter((c) => c.level === 'initial' || c.level === 'handshake');
  t.true(closes.length > 0, 'a CONNECTION_CLOSE in an Initial or Handshake packet');
  for (const c of closes) t.is(new TextDecoder().decode(c.frame.reason), '', `${c.level}: the reason is cleared`);
});

ctest('RFC 9000 §10.2.3: an application close in a connected (confirmed) connection goes as 0x1d in 1-RTT with its code and reason', (t) => {
  // The control for the two probes above: once 1-RTT is in use, the application's code and reason go out as given.
  const pair = connected();
  const sent = recordAll(pair);
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'done' });
  const closes = closesIn(sent.client);
  t.true(closes.length > 0 && closes.every((c) => c.level === 'oneRtt' && c.frame.kind === 'application' && c.frame.errorCode === 7n && new TextDecoder().decode(c.frame.reason) === 'done'), JSON.stringify(closes.map((c) => [c.level, c.frame.kind, String(c.frame.errorCode)])));
  pair.settle();
  t.like(pair.state.server.closeError?.detail, { kind: 'quicClose', code: 7n, application: true, local: false });
});

// Found by this probe and fixed: the CONNECTION_CLOSE went only in the highest space the closer had write keys
// for. A server that has sent its first flight has 1-RTT write keys, so it closed in a 1-RTT packet the client,
// which had not yet received that flight, could not read: the client learnt nothing and waited for its idle
// timeout. RFC 9000 §10.2.3: "a server might not know whether the client has Handshake keys ... a server SHOULD
// send a CONNECTION_CLOSE frame in both Handshake and Initial packets", and before confirmation also in 1-RTT.
test('RFC 9000 §10.2.3: a server closing before the handshake is confirmed sends CONNECTION_CLOSE in an Initial packet too: a client without its flight learns the close', (t) => {
  const { pair } = serverFlightHeld();
  t.truthy(pair.state.server.spaces.application.tx, 'the server has 1-RTT write keys');
  t.is(pair.state.client.spaces.handshake.rx, undefined, 'the client has only Initial keys');
  const sent = recordAll(pair);
  const effects = pair.input('server', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'shutting down' });
  t.log(`server close in: ${JSON.stringify(closesIn(sent.server).map((c) => c.level))}`);
  for (const d of transmits(effects)) deliver(pair, 'client', d);
  t.log(`client: ${outcome(pair, 'client')}`);
  t.true(closesIn(sent.server).some((c) => c.level === 'initial' && c.frame.kind === 'transport' && c.frame.errorCode === E.APPLICATION_ERROR), 'an Initial packet with 0x1c APPLICATION_ERROR');
  t.like(pair.state.client.closeError?.detail, { kind: 'quicClose', code: E.APPLICATION_ERROR, local: false });
  t.true(pair.state.client.phase === 'draining' || pair.state.client.phase === 'closed', outcome(pair, 'client'));
});

// Found by this probe and fixed: same cause as above, from the client: its handshake is complete (it has 1-RTT
// keys) but not confirmed, and its Finished has not reached the server, which cannot read 1-RTT packets yet; the
// client's CONNECTION_CLOSE went only in 1-RTT and the server never learnt of it. RFC 9000 §10.2.3: "Prior to
// confirming the handshake, a peer might be unable to process 1-RTT packets, so an endpoint SHOULD send a
// CONNECTION_CLOSE frame in both Handshake and 1-RTT packets."
test('RFC 9000 §10.2.3: a client closing before the handshake is confirmed sends CONNECTION_CLOSE in a Handshake packet too: a server without its Finished learns the close', (t) => {
  const pair = finishedWithheld();
  t.is(pair.state.client.phase, 'connected');
  t.is(pair.state.server.phase, 'handshake', 'the server lacks the client\'s Finished');
  t.false(pair.state.client.spaces.handshake.discarded, 'not confirmed');
  const sent = recordAll(pair);
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful', errorCode: 7n, reason: 'bye' });
  pair.settle();
  t.log(`client close in: ${JSON.stringify(closesIn(sent.client).map((c) => [c.level, c.frame.kind]))}; server: ${outcome(pair, 'server')}`);
  t.true(closesIn(sent.client).some((c) => c.level === 'handshake' && c.frame.kind === 'transport' && c.frame.errorCode === E.APPLICATION_ERROR), 'a Handshake packet with 0x1c APPLICATION_ERROR');
  t.true(pair.state.server.phase === 'draining' || pair.state.server.phase === 'closed', outcome(pair, 'server'));
});

ctest('RFC 9000 §10.2.2, §12.5: a transport CONNECTION_CLOSE in a server Initial ends the client\'s attempt: draining, no answer, the server\'s code typed', (t) => {
  const { pair } = serverFlightHeld();
  const refusal: Frame = { type: 'connectionClose', kind: 'transport', errorCode: E.CRYPTO_ERROR + 0x28n, frameType: 0x06, reason: enc('handshake failure') };
  const effects = deliver(pair, 'client', longPacket(pair, 'server', 'initial', framesOf(refusal)));
  t.log(outcome(pair, 'client'));
  t.is(pair.state.client.phase, 'draining', outcome(pair, 'client'));
  t.deepEqual(transmits(effects), [], 'nothing sent while draining');
  t.like(pair.state.client.closeError?.detail, { kind: 'quicClose', code: E.CRYPTO_ERROR + 0x28n, application: false, local: false, frameType: 0x06 });
  pair.drive(pair.now + 10_000);
  t.is(pair.state.client.phase, 'closed');
});

for (const victim of SIDES) {
  ctest(`RFC 9000 §19.19, §12.4: a CONNECTION_CLOSE whose Reason Phrase Length runs past the packet is FRAME_ENCODING_ERROR (${victim})`, (t) => {
    for (const [what, bytes] of [
      ['0x1c, reason length 50 with 3 bytes', raw((w) => w.u8(0x1c).varint(0x0a).varint(0).varint(50).u8(1).u8(2).u8(3))],
      ['0x1d, reason length 2^30 with 1 byte', raw((w) => w.u8(0x1d).varint(7).varint(2 ** 30).u8(0x41))],
      ['0x1c, cut inside the frame type', raw((w) => w.u8(0x1c).varint(0x0a).u8(0x80))],
    ] as const) {
      const pair = connected();
      hit(pair, victim, bytes);
      assertClosedWith(t, pair, victim, E.FRAME_ENCODING_ERROR, what);
    }
  });

  ctest(`RFC 9000 §10.2.2, §19.19: a CONNECTION_CLOSE with an unknown code, any frame type and a reason that is not UTF-8 drains like any other, its code typed (${victim})`, (t) => {
    const cases: [string, Frame, { code: bigint; application: boolean }][] = [
      ['0x1c, code 0x3fff_ffff (not defined), frame type 0x42', { type: 'connectionClose', kind: 'transport', errorCode: 0x3fff_ffffn, frameType: 0x42, reason: Uint8Array.of(0xff, 0xfe, 0xc3) }, { code: 0x3fff_ffffn, application: false }],
      ['0x1d, code 2^62 − 1', { type: 'connectionClose', kind: 'application', errorCode: (1n << 62n) - 1n, reason: Uint8Array.of(0xc3, 0x28) }, { code: (1n << 62n) - 1n, application: true }],
    ];
    for (const [what, frame, expect] of cases) {
      const pair = connected();
      const effects = hit(pair, victim, framesOf(frame));
      t.log(`${what}: ${outcome(pair, victim)}`);
      t.is(pair.state[victim].phase, 'draining', what);
      t.deepEqual(transmits(effects), [], `${what}: nothing sent`);
      t.like(pair.state[victim].closeError?.detail, { kind: 'quicClose', ...expect, local: false }, what);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 3. 0-RTT (RFC 9000 §12.4 Table 3, §17.2.3; RFC 9001 §4.6, §4.9.3, §5.6)
// ---------------------------------------------------------------------------------------------------------------

ctest('RFC 9000 §12.4 Table 3: every frame Table 3 allows in 0-RTT is accepted by the server (no error); the handshake then completes', (t) => {
  const cases: [string, Frame[]][] = [
    ['PING', [{ type: 'ping' }]],
    ['STREAM', [stream(0, 0, enc('early'))]],
    ['RESET_STREAM', [stream(4, 0, enc('abc')), { type: 'resetStream', streamId: 4, errorCode: 5n, finalSize: 3 }]],
    ['STOP_SENDING', [{ type: 'stopSending', streamId: 8, errorCode: 6n }]],
    ['MAX_DATA', [{ type: 'maxData', max: 1 << 22 }]],
    ['MAX_STREAM_DATA', [stream(12, 0, enc('x')), { type: 'maxStreamData', streamId: 12, max: 1 << 20 }]],
    ['MAX_STREAMS', [{ type: 'maxStreams', bidi: true, max: 500 }, { type: 'maxStreams', bidi: false, max: 500 }]],
    ['DATA_BLOCKED', [{ type: 'dataBlocked', limit: 1000 }]],
    ['STREAM_DATA_BLOCKED', [stream(16, 0, enc('y')), { type: 'streamDataBlocked', streamId: 16, limit: 1000 }]],
    ['STREAMS_BLOCKED', [{ type: 'streamsBlocked', bidi: true, limit: 100 }]],
    ['PATH_CHALLENGE', [{ type: 'pathChallenge', data: bytes(8, 0x5e) }]],
    ['PADDING only', [{ type: 'padding', length: 40 }]],
  ];
  for (const [what, frames] of cases) {
    const { pair, release } = zeroRttPair();
    if (pair.state.server.zeroRtt?.status !== 'accepted' || !pair.state.client.zeroRtt?.tx) {
      miss(t, `${what}: 0-RTT not in use (server ${pair.state.server.zeroRtt?.status}, client keys ${pair.state.client.zeroRtt?.tx ? 'yes' : 'no'})`);
      continue;
    }
    // The real client opens stream 8 (in 0-RTT), so that the server's RESET_STREAM answering STOP_SENDING is one it knows.
    if (what === 'STOP_SENDING') pair.input('client', { type: 'write', now: pair.now, stream: 8, data: enc('request') });
    pair.settle();
    deliver(pair, 'server', zeroRtt(pair, framesOf(...frames)));
    t.log(`${what} in 0-RTT: ${outcome(pair, 'server')}`);
    if (pair.state.server.phase !== 'handshake') {
      miss(t, `${what} in 0-RTT: ${outcome(pair, 'server')}`);
      continue;
    }
    release();
    exchange(t, pair, `after ${what} in 0-RTT`);
  }
});

ctest('RFC 9000 §12.4 Table 3: NEW_CONNECTION_ID in 0-RTT is accepted: the server holds the client\'s new connection ID', (t) => {
  const { pair } = zeroRttPair();
  const cid = bytes(8, 0x3c);
  deliver(pair, 'server', zeroRtt(pair, framesOf({ type: 'newConnectionId', sequence: 1, retirePriorTo: 0, connectionId: cid, resetToken: bytes(16, 0x3d) })));
  t.is(pair.state.server.phase, 'handshake', outcome(pair, 'server'));
  t.true(pair.state.server.cids.peer.some((p) => p.sequence === 1 && hex(p.id) === hex(cid)), JSON.stringify(pair.state.server.cids.peer.map((p) => [p.sequence, hex(p.id)])));
});

ctest('RFC 9000 §12.4 Table 3, §10.2.2: CONNECTION_CLOSE (0x1c and 0x1d) in a 0-RTT packet is allowed: the server drains with the client\'s code', (t) => {
  const cases: [string, Frame, boolean][] = [
    ['0x1c', { type: 'connectionClose', kind: 'transport', errorCode: E.PROTOCOL_VIOLATION, frameType: 0, reason: enc('x') }, false],
    ['0x1d', { type: 'connectionClose', kind: 'application', errorCode: 77n, reason: enc('cancel') }, true],
  ];
  for (const [what, frame, application] of cases) {
    const { pair } = zeroRttPair();
    const effects = deliver(pair, 'server', zeroRtt(pair, framesOf(frame)));
    t.log(`${what}: ${outcome(pair, 'server')}`);
    t.is(pair.state.server.phase, 'draining', what);
    t.deepEqual(transmits(effects), [], `${what}: nothing sent`);
    t.like(pair.state.server.closeError?.detail, { kind: 'quicClose', code: frame.type === 'connectionClose' ? frame.errorCode : 0n, application, local: false }, what);
  }
});

ctest('RFC 9000 §2.1, §19.8: STREAM frames in 0-RTT are held to the stream rules: a server-initiated stream is STREAM_STATE_ERROR, one past the limit STREAM_LIMIT_ERROR', (t) => {
  for (const [what, id, code] of [
    ['server unidirectional stream 3', 3, E.STREAM_STATE_ERROR],
    ['server bidirectional stream 1, never opened', 1, E.STREAM_STATE_ERROR],
    ['client bidirectional index 100 (limit 100)', 400, E.STREAM_LIMIT_ERROR],
  ] as const) {
    const { pair } = zeroRttPair();
    deliver(pair, 'server', zeroRtt(pair, framesOf(stream(id, 0, enc('early')))));
    assertClosedWith(t, pair, 'server', code, what);
  }
});

ctest('RFC 9000 §17.2: a 0-RTT packet with a reserved bit set is PROTOCOL_VIOLATION', (t) => {
  for (const bits of [0x04, 0x08]) {
    const { pair } = zeroRttPair();
    deliver(pair, 'server', zeroRtt(pair, framesOf({ type: 'ping' }), { reserved: bits }));
    assertClosedWith(t, pair, 'server', E.PROTOCOL_VIOLATION, `long header reserved bits 0x${bits.toString(16)}`);
  }
});

ctest('RFC 9000 §17.2.3: a client never processes 0-RTT packets (only clients send them): dropped, no error', (t) => {
  const { pair, release } = zeroRttPair();
  const c = pair.state.client;
  const keys = c.zeroRtt!.tx!;
  const before = c.spaces.application.largestRx;
  // Under the 0-RTT keys (the only ones a client could read them with), to the client's connection ID.
  const forged = longPacket(pair, 'server', 'zeroRtt', framesOf(stream(1, 0, enc('from the server?'), true)), { keys, padTo: 30, pn: 3 });
  const effects = deliver(pair, 'client', forged);
  t.deepEqual(delivered(effects), [], 'nothing delivered');
  t.deepEqual(transmits(effects), [], 'no ACK of it');
  t.is(pair.state.client.spaces.application.largestRx, before);
  t.is(pair.state.client.phase, 'handshake', outcome(pair, 'client'));
  release();
  exchange(t, pair, 'afterwards');
});

ctest('RFC 9001 §4.9.3: a 0-RTT packet arriving after 1-RTT packets is dropped (the server\'s 0-RTT keys are gone) or read once; never an error', (t) => {
  const { pair, release } = zeroRttPair();
  const late = zeroRtt(pair, framesOf(stream(4 * 30, 0, enc('late early data'), true)));
  release();
  exchange(t, pair, 'the handshake and a 1-RTT exchange');
  t.is(pair.state.server.zeroRtt?.rx, undefined, 'the server dropped its 0-RTT keys on the first 1-RTT packet');
  const effects = deliver(pair, 'server', late);
  t.log(`late 0-RTT packet: ${delivered(effects).length} deliveries; ${outcome(pair, 'server')}`);
  assertAlive(t, pair, 'server', 'a 0-RTT packet after 1-RTT');
  t.true(pair.text('server', 4 * 30) === '' || pair.text('server', 4 * 30) === 'late early data');
  exchange(t, pair, 'afterwards');
});

ctest('RFC 9000 §12.3: 0-RTT packets share the application number space: the server acknowledges them in 1-RTT ACK frames', (t) => {
  const pair = new QuicPair(clientConfig0(session()), serverConfig0());
  const server = recordPackets(pair);
  pair.input('server', { type: 'start', now: pair.now });
  pair.input('client', { type: 'start', now: pair.now });
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: enc('GET / in 0-RTT') });
  const zeroRttPns = pair.state.client.spaces.application.sent.map((p) => p.pn);
  t.true(zeroRttPns.length > 0, 'the client sent 0-RTT packets');
  pair.drive(pair.now + 2_000, () => pair.state.client.spaces.handshake.discarded);
  t.is(pair.text('server', 0), 'GET / in 0-RTT');
  pair.drive(pair.now + 100);
  const ackFrames = sentFramesOf(server.server, 'ack');
  const unacked = zeroRttPns.filter((pn) => !ackFrames.some((a) => acks(a, pn)));
  t.log(`0-RTT packets ${JSON.stringify(zeroRttPns)}; server 1-RTT ACKs ${JSON.stringify(ackFrames.map((a) => [a.largest, a.firstRange, a.ranges.length]))}`);
  t.deepEqual(unacked, [], 'every 0-RTT packet acknowledged in a 1-RTT ACK');
});

ctest('RFC 9001 §4.6.2, §5.5: hostile 0-RTT packets (CRYPTO, HANDSHAKE_DONE) to a server that refused early data do not decrypt: dropped, no PROTOCOL_VIOLATION, the handshake completes', (t) => {
  const { pair, release } = zeroRttPair(serverConfig0(0));
  t.not(pair.state.server.zeroRtt?.status, 'accepted', 'the server refused 0-RTT');
  t.truthy(pair.state.client.zeroRtt?.tx, 'the client still has 0-RTT keys');
  for (const f of [{ type: 'crypto', offset: 0, data: bytes(8, 1) }, { type: 'handshakeDone' }] as Frame[]) {
    const effects = deliver(pair, 'server', zeroRtt(pair, framesOf(f)));
    t.deepEqual(transmits(effects), [], `${f.type}: nothing in answer`);
    t.is(pair.state.server.phase, 'handshake', `${f.type}: ${outcome(pair, 'server')}`);
  }
  release();
  exchange(t, pair, 'after the refused 0-RTT');
});

// ---------------------------------------------------------------------------------------------------------------
// 4. Headers and connection IDs (RFC 9000 §5.2, §6, §7.2, §12.2, §17)
// ---------------------------------------------------------------------------------------------------------------

for (const victim of SIDES) {
  ctest(`RFC 9000 §17.2: a Handshake packet with the fixed bit 0 is discarded: not processed, no error (${victim})`, (t) => {
    const pair = midHandshake((p) => p.state[victim].spaces.handshake.rx !== undefined && p.state[other(victim)].spaces.handshake.tx !== undefined);
    const before = pair.state[victim].spaces.handshake.largestRx;
    const effects = deliver(pair, victim, longPacket(pair, other(victim), 'handshake', framesOf({ type: 'ping' }), { fixedBit0: true }));
    t.is(pair.state[victim].spaces.handshake.largestRx, before, 'not processed');
    t.deepEqual(effects.filter((e) => e.type === 'closed'), []);
    t.not(pair.state[victim].phase, 'closing', outcome(pair, victim));
    pair.drive(pair.now + 5_000);
    exchange(t, pair, 'after the handshake');
  });
}

/** A protected long-header packet with connection IDs of any length (the encoder refuses more than 20 bytes). */
function longWithIds(keys: PacketKeys, provider: QuicState['config']['provider'], type: 0 | 2, dcid: Uint8Array, scid: Uint8Array, pn: number, payload: Uint8Array): Uint8Array {
  const header = raw((w) => {
    w.u8(0xc0 | (type << 4) | 3).u32(1).u8(dcid.length).bytes(dcid).u8(scid.length).bytes(scid);
    if (type === 0) w.u8(0);
    w.u16(0x4000 | (4 + payload.length + 16)).u32(pn);
  });
  return protectPacket(provider, keys, header, pn, payload);
}

ctest('RFC 9000 §17.2: a long-header packet with a 21-byte Source Connection ID is discarded (both roles)', (t) => {
  for (const victim of SIDES) {
    const pair = midHandshake((p) => p.state[victim].spaces.handshake.rx !== undefined && p.state[other(victim)].spaces.handshake.tx !== undefined);
    const from = pair.state[other(victim)];
    const before = pair.state[victim].spaces.handshake.largestRx;
    const pn = takePn(pair, other(victim), 'handshake');
    const effects = deliver(pair, victim, longWithIds(from.spaces.handshake.tx!, from.config.provider, 2, from.dcid, bytes(21, 0x21), pn, cat(framesOf({ type: 'ping' }), new Uint8Array(30))));
    t.is(pair.state[victim].spaces.handshake.largestRx, before, `${victim}: not processed`);
    t.deepEqual(effects.filter((e) => e.type === 'closed'), [], victim);
    pair.drive(pair.now + 5_000);
    exchange(t, pair, `${victim}: after the handshake`);
  }
});

for (const victim of SIDES) {
  // Found by this probe and fixed: rxtls processed every packet of a coalesced datagram whatever its Destination
  // Connection ID (it never compared it with the first packet's). RFC 9000 §12.2: "Receivers SHOULD ignore any
  // subsequent packets with a different Destination Connection ID than the first packet in the datagram" (senders
  // MUST NOT coalesce them).
  test(`RFC 9000 §12.2: in a coalesced datagram, a packet with another Destination Connection ID than the first is ignored (${victim})`, (t) => {
    const pair = midHandshake((p) => p.state[victim].spaces.handshake.rx !== undefined && p.state[other(victim)].spaces.handshake.tx !== undefined);
    const first = longPacket(pair, other(victim), 'handshake', framesOf({ type: 'ping' }));
    const pnFirst = pair.state[other(victim)].spaces.handshake.nextPn - 1;
    const second = longPacket(pair, other(victim), 'handshake', framesOf({ type: 'ping' }), { dcid: bytes(8, 0x77) });
    deliver(pair, victim, cat(first, second));
    t.log(`${victim}: largest Handshake packet processed ${pair.state[victim].spaces.handshake.largestRx} (the first is ${pnFirst})`);
    t.is(pair.state[victim].spaces.handshake.largestRx, pnFirst, 'only the first packet is processed');
  });
}

ctest('RFC 9000 §12.2, §17.3.1: a short-header packet runs to the end of the datagram: a packet appended to a 1-RTT packet is not read as coalesced', (t) => {
  for (const victim of SIDES) {
    const pair = connected();
    pair.autoConsume[victim] = false;
    const id = peerUni(victim, 9);
    const a = oneRtt(pair, other(victim), framesOf(stream(id, 0, enc('first'))));
    const b = oneRtt(pair, other(victim), framesOf(stream(id, 5, enc('second'))));
    const effects = deliver(pair, victim, cat(a, b));
    t.deepEqual(delivered(effects), [], `${victim}: the datagram is one packet that does not authenticate`);
    assertAlive(t, pair, victim, 'a 1-RTT packet followed by another');
    exchange(t, pair, `${victim}: afterwards`);
  }
});

// Found by this probe and fixed: a client processed any packet that decrypted, whatever connection ID it was
// addressed to (the reducer never checked the DCID, and the client's socket feeds it every datagram, so no one
// else did either). RFC 9000 §5.2.1: "Valid packets sent to clients always include a Destination Connection ID
// that matches a value the client selects ... Packets that do not match an existing connection ... are
// discarded", and a Retry goes to the client's SCID (§17.2.5).
test('RFC 9000 §5.2.1: a client discards packets whose Destination Connection ID is none of its own: 1-RTT, Handshake, Retry', (t) => {
  const foreign = bytes(8, 0x99);
  const misses: string[] = [];
  // A 1-RTT packet with stream data.
  const a = connected();
  const got = hit(a, 'client', framesOf(stream(3, 0, enc('not for you'), true)), { dcid: foreign });
  if (delivered(got).length > 0) misses.push('1-RTT: stream data to another connection ID was delivered');
  // A Handshake packet during the handshake.
  const b = midHandshake((p) => p.state.client.spaces.handshake.rx !== undefined && p.state.server.spaces.handshake.tx !== undefined);
  const before = b.state.client.spaces.handshake.largestRx;
  deliver(b, 'client', longPacket(b, 'server', 'handshake', framesOf({ type: 'ping' }), { dcid: foreign }));
  if (b.state.client.spaces.handshake.largestRx !== before) misses.push('Handshake: a packet to another connection ID was processed');
  // A Retry (valid tag) to another connection ID.
  const { pair: c, first } = firstInitialWithheld();
  deliver(c, 'client', encodeRetryPacket(c.state.client.config.provider, { dcid: foreign, scid: bytes(8, 0x44), token: Uint8Array.of(1, 2, 3), originalDcid: c.state.client.originalDcid }));
  if (c.state.client.token !== undefined) misses.push('Retry: a Retry to another connection ID was followed');
  t.log(`client SCID ${hex(c.state.client.scid)}; first Initial ${first.length} bytes; ${JSON.stringify(misses)}`);
  t.deepEqual(misses, []);
});

// Found by this probe and fixed: until the server's transport parameters arrived, a client took the Source
// Connection ID of every server Initial as its DCID, and processed the packet. RFC 9000 §7.2: "Once a client has
// received a valid Initial packet from the server, it MUST discard any subsequent packet it receives on that
// connection with a different Source Connection ID."
test('RFC 9000 §7.2: after the server\'s first Initial, a server Initial with another Source Connection ID is discarded; the client\'s DCID stays', (t) => {
  const { pair } = clientAfterServerHello();
  const dcid = hex(pair.state.client.dcid);
  t.is(dcid, hex(pair.state.server.scid), 'the client took the server\'s SCID');
  const before = pair.state.client.spaces.initial.largestRx;
  deliver(pair, 'client', longPacket(pair, 'server', 'initial', framesOf({ type: 'ping' }), { scid: bytes(8, 0x55) }));
  t.log(`client DCID ${dcid} → ${hex(pair.state.client.dcid)}; largest Initial ${before} → ${pair.state.client.spaces.initial.largestRx}`);
  t.is(hex(pair.state.client.dcid), dcid, 'the DCID did not change');
  t.is(pair.state.client.spaces.initial.largestRx, before, 'the packet was not processed');
});

// Found by this probe and fixed: as above, for Handshake packets: a client never compared their SCID with the
// server's. RFC 9000 §7.2: any subsequent packet with a different Source Connection ID MUST be discarded.
test('RFC 9000 §7.2: after the server\'s first Initial, a server Handshake packet with another Source Connection ID is discarded', (t) => {
  const { pair } = clientAfterServerHello();
  t.truthy(pair.state.client.spaces.handshake.rx, 'the client has Handshake keys');
  const before = pair.state.client.spaces.handshake.largestRx;
  deliver(pair, 'client', longPacket(pair, 'server', 'handshake', framesOf({ type: 'ping' }), { scid: bytes(8, 0x56) }));
  t.log(`largest Handshake ${before} → ${pair.state.client.spaces.handshake.largestRx}`);
  t.is(pair.state.client.spaces.handshake.largestRx, before, 'the packet was not processed');
});

ctest('RFC 9000 §17.2.5.1: a client discards a Retry with an empty Retry Token (the tag verifies)', (t) => {
  const { pair } = firstInitialWithheld();
  const c = pair.state.client;
  const body = raw((w) => w.u8(0xf0).u32(1).u8(c.scid.length).bytes(c.scid).u8(8).bytes(bytes(8, 0x31)));
  const retry = cat(body, retryIntegrityTag(c.config.provider, c.originalDcid, body));
  const effects = deliver(pair, 'client', retry);
  t.is(pair.state.client.token, undefined, 'no token taken');
  t.is(pair.state.client.retrySourceCid, undefined, 'not remembered as a Retry');
  t.is(hex(pair.state.client.dcid), hex(c.dcid), 'the DCID is unchanged');
  t.deepEqual(transmits(effects), [], 'no new Initial');
});

ctest('RFC 9000 §17.2.5, §17.2.1: a server discards Retry and Version Negotiation packets, during and after the handshake', (t) => {
  for (const when of ['handshake', 'connected'] as const) {
    const pair = when === 'handshake' ? midHandshake((p) => p.state.server.spaces.handshake.tx !== undefined) : connected();
    const s = pair.state.server;
    const provider = s.config.provider;
    const retry = encodeRetryPacket(provider, { dcid: s.scid, scid: bytes(8, 0x61), token: Uint8Array.of(7, 7), originalDcid: s.originalDcid });
    const vn = encodeVersionNegotiation({ dcid: s.scid, scid: s.dcid, versions: [0x1a2a3a4a] });
    const effects = [...deliver(pair, 'server', retry), ...deliver(pair, 'server', vn)];
    t.deepEqual(effects.filter((e) => e.type === 'closed' || e.type === 'transmit'), [], `${when}: no effect`);
    t.is(pair.state.server.phase, s.phase, `${when}: ${outcome(pair, 'server')}`);
    t.is(hex(pair.state.server.dcid), hex(s.dcid), `${when}: DCID unchanged`);
  }
});

ctest('RFC 9000 §6.1, §17.2.1: a client never answers a long header of an unknown version (only servers send Version Negotiation); connected, it ignores a Version Negotiation packet', (t) => {
  const pair = connected();
  const c = pair.state.client;
  const vn = encodeVersionNegotiation({ dcid: c.scid, scid: c.dcid, versions: [0x1a2a3a4a, 0x5a5a5a5a] });
  const a = deliver(pair, 'client', vn);
  assertAlive(t, pair, 'client', 'Version Negotiation after the handshake');
  // A long header of an unknown version, 1200 bytes, to the client's connection ID.
  const unknown = new Uint8Array(1200).fill(0x2b);
  unknown.set([0xc0, 0x1a, 0x2a, 0x3a, 0x4a, c.scid.length, ...c.scid, c.dcid.length, ...c.dcid]);
  const b = deliver(pair, 'client', unknown);
  t.deepEqual(transmits([...a, ...b]), [], 'no answer to either');
  assertAlive(t, pair, 'client', 'a packet of an unknown version');
  exchange(t, pair, 'afterwards');
});

for (const victim of SIDES) {
  ctest(`RFC 9000 §17.1, §A.3: a late packet in a 1-byte encoding, 300 below the largest, is decoded near the largest and dropped; in 4 bytes it is read (${victim})`, (t) => {
    const pair = connected();
    pair.autoConsume[victim] = false;
    const from = other(victim);
    const late = takePn(pair, from, 'application');
    for (let i = 0; i < 300; i++) takePn(pair, from, 'application');
    hit(pair, victim, framesOf({ type: 'ping' }, { type: 'padding', length: 10 }));
    t.is(pair.state[victim].spaces.application.largestRx, late + 301);
    const id = peerUni(victim, 8);
    const short = deliver(pair, victim, oneRtt(pair, from, framesOf(stream(id, 0, enc('late'), true)), { pn: late, pnLength: 1 }));
    t.deepEqual(delivered(short), [], '1-byte encoding: recovered as another number, does not authenticate');
    assertAlive(t, pair, victim, '1-byte encoding of a packet 300 back');
    const long = deliver(pair, victim, oneRtt(pair, from, framesOf(stream(id, 0, enc('late'), true)), { pn: late, pnLength: 4 }));
    t.true(delivered(long).length > 0, '4-byte encoding: read');
    t.is(pair.text(victim, id), 'late');
    assertAlive(t, pair, victim, '4-byte encoding of a packet 300 back');
    exchange(t, pair, 'afterwards');
  });

  ctest(`RFC 9000 §13.1: an ACK in an Initial or Handshake packet of a packet number never sent in that space is PROTOCOL_VIOLATION (${victim})`, (t) => {
    const a = serverFlightHeld().pair;
    const ack = (space: 'initial' | 'handshake', p: QuicPair): Frame => ({ type: 'ack', largest: p.state[victim].spaces[space].nextPn + 50, delay: 0, firstRange: 0, ranges: [] });
    deliver(a, victim, longPacket(a, other(victim), 'initial', framesOf(ack('initial', a))));
    assertClosedWith(t, a, victim, E.PROTOCOL_VIOLATION, 'Initial ACK of an unsent packet');
    const b = midHandshake((p) => p.state[victim].spaces.handshake.rx !== undefined && p.state[other(victim)].spaces.handshake.tx !== undefined);
    deliver(b, victim, longPacket(b, other(victim), 'handshake', framesOf(ack('handshake', b))));
    assertClosedWith(t, b, victim, E.PROTOCOL_VIOLATION, 'Handshake ACK of an unsent packet');
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 5. CRYPTO at a level left behind, TLS messages QUIC forbids (RFC 9001 §4.1.3, §6; RFC 9000 §19.6)
// ---------------------------------------------------------------------------------------------------------------

/** A pair whose server has processed the ClientHello (it has Handshake keys) and nothing more from the client. */
function serverAfterClientHello(): QuicPair {
  const pair = new QuicPair();
  pair.drop = (from, n) => from === 'client' && n >= 1;
  pair.start().settle();
  pair.drop = (from) => from === 'client';
  return pair;
}

// Found by this probe and fixed: new CRYPTO data at a level below the one TLS now reads was handed to TLS, which
// refused it with an unexpected_message alert: the connection closed with CRYPTO_ERROR 0x10a ("handshake data at
// epoch 0 while reading at epoch 2"). RFC 9001 §4.1.3: "If the packet is from a previously installed encryption
// level, it MUST NOT contain data that extends past the end of previously received data in that flow.
// Implementations MUST treat any violations of this requirement as a connection error of type
// PROTOCOL_VIOLATION." (Retransmitted bytes stay fine.)
test('RFC 9001 §4.1.3: once the client has Handshake keys, Initial CRYPTO data past what it received is PROTOCOL_VIOLATION; old bytes again are fine', (t) => {
  const { pair } = clientAfterServerHello();
  const c = pair.state.client;
  t.truthy(c.spaces.handshake.rx, 'the client has Handshake keys');
  const end = c.spaces.initial.cryptoRxOffset;
  t.true(end > 0, 'and the ServerHello');
  deliver(pair, 'client', longPacket(pair, 'server', 'initial', framesOf({ type: 'crypto', offset: 0, data: bytes(Math.min(end, 20), 0x02) })));
  t.not(pair.state.client.phase, 'closing', `a retransmission of old bytes: ${outcome(pair, 'client')}`);
  deliver(pair, 'client', longPacket(pair, 'server', 'initial', framesOf({ type: 'crypto', offset: end, data: Uint8Array.of(0x08, 0x00) })));
  t.log(outcome(pair, 'client'));
  t.is(sentCode(pair, 'client'), E.PROTOCOL_VIOLATION, outcome(pair, 'client'));
});

// Found by this probe and fixed: as above, at the server: CRYPTO_ERROR 0x10a instead of PROTOCOL_VIOLATION.
// RFC 9001 §4.1.3.
test('RFC 9001 §4.1.3: once the server has Handshake keys, Initial CRYPTO data past the ClientHello is PROTOCOL_VIOLATION', (t) => {
  const pair = serverAfterClientHello();
  const s = pair.state.server;
  t.truthy(s.spaces.handshake.rx, 'the server has Handshake keys');
  t.false(s.spaces.initial.discarded, 'and still its Initial keys');
  deliver(pair, 'server', longPacket(pair, 'client', 'initial', framesOf({ type: 'crypto', offset: s.spaces.initial.cryptoRxOffset, data: Uint8Array.of(0x01, 0x00) })));
  t.log(outcome(pair, 'server'));
  t.is(sentCode(pair, 'server'), E.PROTOCOL_VIOLATION, outcome(pair, 'server'));
});

// Found by this probe and fixed: as above, one level up: CRYPTO_ERROR 0x10a ("handshake data at epoch 2 while
// reading at epoch 3") instead of PROTOCOL_VIOLATION. RFC 9001 §4.1.3: once 1-RTT keys are installed, Handshake
// CRYPTO data past the end of what was received is a PROTOCOL_VIOLATION.
test('RFC 9001 §4.1.3: once the client has 1-RTT keys, Handshake CRYPTO data past the server\'s Finished is PROTOCOL_VIOLATION', (t) => {
  const pair = new QuicPair();
  let serverHandshakeKeys: PacketKeys | undefined;
  pair.observe = (side, s) => {
    if (side === 'server' && s.spaces.handshake.tx) serverHandshakeKeys = s.spaces.handshake.tx;
  };
  // Nothing the server sends once complete reaches the client: no HANDSHAKE_DONE, the client keeps its Handshake keys.
  pair.drop = (from) => from === 'server' && pair.state.server.phase === 'connected';
  pair.start().drive(pair.now + 1_000, () => pair.state.client.phase === 'connected');
  pair.settle();
  const c = pair.state.client;
  t.truthy(c.spaces.application.rx, 'the client has 1-RTT keys');
  t.false(c.spaces.handshake.discarded, 'and still its Handshake keys');
  deliver(pair, 'client', longPacket(pair, 'server', 'handshake', framesOf({ type: 'crypto', offset: c.spaces.handshake.cryptoRxOffset, data: Uint8Array.of(0x04, 0x00) }), { keys: serverHandshakeKeys! }));
  t.log(outcome(pair, 'client'));
  t.is(sentCode(pair, 'client'), E.PROTOCOL_VIOLATION, outcome(pair, 'client'));
});

ctest('RFC 9001 §6: a TLS KeyUpdate message in Handshake CRYPTO is a connection error 0x010a (unexpected_message) (client)', (t) => {
  const { pair } = clientAfterServerHello();
  t.is(pair.state.client.spaces.handshake.cryptoRxOffset, 0);
  deliver(pair, 'client', longPacket(pair, 'server', 'handshake', framesOf({ type: 'crypto', offset: 0, data: Uint8Array.of(24, 0, 0, 1, 0) })));
  assertClosedWith(t, pair, 'client', E.CRYPTO_ERROR + 10n, 'KeyUpdate where EncryptedExtensions is expected');
});

ctest('RFC 9001 §6: a TLS KeyUpdate message in Handshake CRYPTO is a connection error 0x010a (unexpected_message) (server)', (t) => {
  // The client has the server's flight; its Handshake packets (its Finished) do not reach the server.
  const pair = new QuicPair();
  pair.drop = (from, n) => from === 'client' && n >= 1;
  pair.start().settle();
  t.truthy(pair.state.client.spaces.handshake.tx, 'the client has Handshake keys');
  t.is(pair.state.server.spaces.handshake.cryptoRxOffset, 0, 'the server has none of the client\'s Handshake CRYPTO');
  deliver(pair, 'server', longPacket(pair, 'client', 'handshake', framesOf({ type: 'crypto', offset: 0, data: Uint8Array.of(24, 0, 0, 1, 1) })));
  assertClosedWith(t, pair, 'server', E.CRYPTO_ERROR + 10n, 'KeyUpdate where the client\'s Finished is expected');
});

ctest('RFC 9000 §19.6: a CRYPTO frame ending past 2^62 − 1 is FRAME_ENCODING_ERROR or CRYPTO_BUFFER_EXCEEDED (both roles)', (t) => {
  for (const victim of SIDES) {
    const pair = connected();
    hit(pair, victim, raw((w) => w.u8(0x06).bytes(varint8(2n ** 62n - 3n)).u8(5).bytes(bytes(5, 1))));
    const code = sentCode(pair, victim);
    t.log(`${victim}: ${outcome(pair, victim)}`);
    t.true(code === E.FRAME_ENCODING_ERROR || code === E.CRYPTO_BUFFER_EXCEEDED, `${victim}: ${outcome(pair, victim)}`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// 6. Handshake order, the server's Initial datagrams, anti-amplification, paths, idle (RFC 9000 §8, §10.1, §14.1)
// ---------------------------------------------------------------------------------------------------------------

ctest('RFC 9000 §12.2, RFC 9001 §4.1.4: the server\'s Handshake packets arriving before its Initial are dropped or buffered; the handshake completes', (t) => {
  const { pair, held } = serverFlightHeld();
  const packets = held.flatMap(splitPackets);
  t.log(`server flight: ${held.length} datagrams, packets ${JSON.stringify(packets.map((p) => p.type))}`);
  const handshake = packets.filter((p) => p.type === 'handshake');
  const initial = packets.filter((p) => p.type === 'initial');
  t.true(handshake.length > 0 && initial.length > 0);
  for (const p of handshake) deliver(pair, 'client', p.bytes.slice());
  t.is(pair.state.client.phase, 'handshake', `before the Initial: ${outcome(pair, 'client')}`);
  pair.drop = () => false;
  for (const p of initial) deliver(pair, 'client', p.bytes.slice());
  pair.drive(pair.now + 10_000, () => pair.state.client.spaces.handshake.discarded && pair.state.server.phase === 'connected');
  t.is(pair.state.client.phase, 'connected', outcome(pair, 'client'));
  exchange(t, pair, 'after the reordered flight');
});

ctest('RFC 9000 §8.1: until validation, every step of the server stays within 3× what it received, as client Initials add to the allowance', (t) => {
  // The client's Handshake packets never arrive; the test adds client Initials (PINGs, 1200 bytes) one by one.
  const pair = new QuicPair();
  pair.drop = (from, n) => from === 'client' && n > 0;
  let worst = -Infinity;
  let steps = 0;
  pair.observe = (side, s) => {
    if (side !== 'server' || s.addressValidated || s.phase === 'idle') return;
    steps++;
    worst = Math.max(worst, s.bytesSent - 3 * s.bytesReceived);
  };
  pair.start().drive(pair.now + 500);
  const afterFirst = pair.state.server.bytesSent;
  for (let i = 0; i < 4; i++) {
    deliver(pair, 'server', longPacket(pair, 'client', 'initial', framesOf({ type: 'ping' })));
    pair.drive(pair.now + 1_000);
  }
  const s = pair.state.server;
  t.log(`server: ${s.bytesSent} bytes sent (${afterFirst} after the first Initial) for ${s.bytesReceived} received, over ${steps} steps; validated ${s.addressValidated}`);
  t.false(s.addressValidated);
  t.true(worst <= 0, `a step went ${worst} bytes past 3× what was received`);
  t.true(s.bytesSent > afterFirst, 'the new allowance is used');
});

// Found by this probe and fixed: a server's datagrams with an ack-eliciting Initial packet were not padded (only
// the client's were). RFC 9000 §14.1: "a server MUST expand the payload of all UDP datagrams carrying
// ack-eliciting Initial packets to at least the smallest allowed maximum datagram size of 1200 bytes".
test('RFC 9000 §14.1: every server datagram carrying an ack-eliciting Initial packet is at least 1200 bytes, its first flight included', (t) => {
  const pair = new QuicPair();
  const sent = recordAll(pair);
  // The client's second datagram (its ACKs and Finished) is lost once: the server sends its Initial again.
  pair.drop = (from, n) => from === 'client' && n === 1;
  pair.start().drive(pair.now + 10_000, () => pair.state.client.spaces.handshake.discarded && pair.state.server.phase === 'connected');
  t.is(pair.state.server.phase, 'connected');
  const small = sent.server.filter((p) => p.level === 'initial' && ackEliciting(p.frames) && p.size < 1200);
  const all = sent.server.filter((p) => p.level === 'initial' && ackEliciting(p.frames));
  t.log(`server datagrams with an ack-eliciting Initial: ${JSON.stringify(all.map((p) => [p.datagram, p.size]))}`);
  t.true(all.length > 0);
  t.deepEqual(small.map((p) => p.size), [], 'datagrams under 1200 bytes');
});

ctest('RFC 9000 §14.1: a client processes a server Initial in a datagram under 1200 bytes (only servers discard small Initials)', (t) => {
  const { pair, held } = serverFlightHeld();
  const d = longPacket(pair, 'server', 'initial', framesOf({ type: 'ping' }));
  t.true(d.length < 1200, `${d.length} bytes`);
  const before = pair.state.client.spaces.initial.largestRx;
  deliver(pair, 'client', d);
  t.true(pair.state.client.spaces.initial.largestRx > before, 'processed');
  t.is(pair.state.client.phase, 'handshake', outcome(pair, 'client'));
  pair.drop = () => false;
  for (const h of held) deliver(pair, 'client', h);
  pair.drive(pair.now + 10_000, () => pair.state.client.spaces.handshake.discarded && pair.state.server.phase === 'connected');
  exchange(t, pair, 'after the handshake');
});

for (const victim of SIDES) {
  ctest(`RFC 9000 §8.2.2: a PATH_CHALLENGE on the current path is answered with a PATH_RESPONSE of the same data, in a datagram of at least 1200 bytes (${victim})`, (t) => {
    const pair = connected();
    const sent = recordAll(pair);
    const data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    hit(pair, victim, framesOf({ type: 'pathChallenge', data }));
    pair.drive(pair.now + 100);
    const answers = sent[victim].filter((p) => p.frames.some((f) => f.type === 'pathResponse'));
    const echo = answers.flatMap((p) => p.frames.flatMap((f) => (f.type === 'pathResponse' ? [hex(f.data)] : [])));
    t.log(`PATH_RESPONSEs ${JSON.stringify(echo)} in datagrams of ${JSON.stringify(answers.map((p) => p.size))} bytes`);
    t.deepEqual(echo, [hex(data)], 'one PATH_RESPONSE echoing the challenge');
    t.true(answers.every((p) => p.size >= 1200), 'padded to 1200 bytes');
    assertAlive(t, pair, victim, 'PATH_CHALLENGE');
    exchange(t, pair, 'afterwards');
  });
}

ctest('RFC 9000 §13.3: a PATH_RESPONSE is not sent again when its packet is lost (each challenge answered once)', (t) => {
  for (const victim of SIDES) {
    const pair = connected();
    const sent = recordAll(pair);
    pair.drop = (from) => from === victim; // everything the victim sends is lost for a while
    const data = Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1);
    hit(pair, victim, framesOf({ type: 'pathChallenge', data }));
    pair.drive(pair.now + 3_000);
    pair.drop = () => false;
    pair.drive(pair.now + 1_000);
    const echoes = sent[victim].flatMap((p) => p.frames.filter((f) => f.type === 'pathResponse' && hex(f.data) === hex(data)));
    t.log(`${victim}: ${echoes.length} PATH_RESPONSE(s) for the challenge, ${pair.datagrams[victim].length} datagrams sent in all`);
    t.is(echoes.length, 1, `${victim}: answered once`);
    assertAlive(t, pair, victim, 'the lost PATH_RESPONSE');
    exchange(t, pair, `${victim}: afterwards`);
  }
});

for (const victim of SIDES) {
  ctest(`RFC 9000 §10.1: only packets processed successfully restart the idle timer: undecryptable packets, duplicates and garbage do not (${victim})`, (t) => {
    const pair = connected({ idleTimeout: 2_000 }, { idleTimeout: 2_000 });
    pair.drop = () => true; // the real peer goes silent
    const valid = oneRtt(pair, other(victim), framesOf({ type: 'ping' }, { type: 'padding', length: 20 }));
    deliver(pair, victim, valid);
    const idleAt = pair.state[victim].timers.idle;
    t.truthy(idleAt, 'an idle timer');
    const damaged = oneRtt(pair, other(victim), framesOf({ type: 'ping' }, { type: 'padding', length: 20 }));
    damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 0x40;
    const garbage = Uint8Array.from({ length: 80 }, (_, i) => (i * 31 + 7) & 0xff);
    garbage[0] = 0x41;
    for (const [what, d] of [['a packet that fails authentication', damaged], ['a duplicate of the last valid packet', valid], ['garbage', garbage]] as const) {
      pair.now += 400;
      deliver(pair, victim, d);
      t.is(pair.state[victim].timers.idle, idleAt, `${what}: the idle timer did not move`);
    }
    pair.drive(pair.now + 60_000, () => pair.state[victim].phase === 'closed');
    t.is(pair.state[victim].closeError?.detail.kind, 'idleTimeout', outcome(pair, victim));
    t.true(pair.now <= idleAt!, `closed at the deadline set by the last valid packet (+${pair.now - (idleAt ?? 0)} ms)`);
  });
}
