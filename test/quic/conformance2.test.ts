/**
 * QUIC v1 conformance, part 2 (RFC 9000, RFC 9001): the handshake, path and security rules that adversarial
 * suites probe (quic-interop-runner's amplification / retry / migration cases, QUIC-Fuzzer, state-machine
 * learners): the anti-amplification limit, Retry, version negotiation, stateless reset, path validation and
 * migration, 0-RTT frame rules, key discarding and the idle timeout. Both roles, in memory, in virtual time
 * ({@link QuicPair}); the listener's stateless answers (Version Negotiation, stateless reset, Retry tokens)
 * through `quicListen` on a fake socket (no network, no timers).
 *
 * What is already tested elsewhere is left out: the first flight's 3× limit and the anti-deadlock probe
 * (connection.test.ts), a Retry with a bad tag and a missing retry_source_connection_id (retry.test.ts),
 * Version Negotiation listing our version / with other IDs / after a packet (versionNegotiation.test.ts), resets
 * with the peer's token (statelessReset.test.ts), probes from a new address, NAT rebinding and congestion reset
 * on migration, `migrate` misuse (migration.test.ts), lowered limits with 0-RTT (zeroRtt.test.ts).
 *
 * Tests that found a deviation from the RFCs when they were written say so ("found by this probe and fixed").
 */
import { EventEmitter } from 'node:events';
import test, { type ExecutionContext } from 'ava';
import { createTicketer, createAntiReplay, type Ticketer, type TlsSession } from '../../src/handshake/session.js';
import { createQuicConnection, type QuicConfig, type QuicEffect, type QuicState } from '../../src/quic/connection.js';
import { QuicError } from '../../src/quic/errors.js';
import { initialKeys, protectPacket, type PacketKeys } from '../../src/quic/protection.js';
import { probeTimeout } from '../../src/quic/recovery.js';
import { encodeRetryPacket, sealRetryToken, TOKEN_KEY_LENGTH } from '../../src/quic/retry.js';
import { encodeVersionNegotiation } from '../../src/quic/versionNegotiation.js';
import { MIN_STATELESS_RESET } from '../../src/quic/statelessReset.js';
import { quicListen } from '../../src/rx/quic.js';
import { encodeFrame, type Frame } from '../../src/wire/quic/frames.js';
import { decodePacketHeader, encodeLongHeader, encodeShortHeader } from '../../src/wire/quic/packet.js';
import { encodeWith } from '../../src/wire/writer.js';
import { caVerifier, serverCredentials } from '../helpers/pair.js';
import { certText } from '../helpers/peers.js';
import { QuicPair, other, type Side, quicOutcome as outcome } from '../helpers/quicPair.js';
import { firstInitialWithheld } from '../helpers/quicProbe.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const E = QuicError;

const framesOf = (...frames: readonly Frame[]): Uint8Array => encodeWith((w) => frames.forEach((f) => encodeFrame(w, f)));
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

/** A connected pair (handshake complete and confirmed on both sides), no latency. */
const connected = (client: Partial<QuicConfig> = {}, server: Partial<QuicConfig> = {}) => new QuicPair(client, server).start().settle();

/** Packet numbers of forged packets: well above anything the sender sends itself. */
let forgedPn = 10_000;

/** A 1-RTT packet from `from` carrying `frames`, under its write keys, to its current DCID. */
function oneRtt(pair: QuicPair, from: Side, frames: readonly Frame[]): Uint8Array {
  const c = pair.state[from];
  const n = forgedPn++;
  return protectPacket(c.config.provider, c.spaces.application.tx!, encodeShortHeader({ dcid: c.dcid, packetNumber: n, pnLength: 4 }), n, framesOf(...frames));
}

/** A long-header packet of `type` under `keys`, with `payload` (padded to `padTo` bytes of payload when asked). */
function longPacket(c: QuicState, type: 'initial' | 'handshake' | 'zeroRtt', keys: PacketKeys, payload: Uint8Array, opts: { dcid?: Uint8Array; scid?: Uint8Array; padTo?: number } = {}): Uint8Array {
  const n = forgedPn++;
  const body = opts.padTo && payload.length < opts.padTo ? new Uint8Array([...payload, ...new Uint8Array(opts.padTo - payload.length)]) : payload;
  const header = encodeLongHeader({ type, dcid: opts.dcid ?? c.dcid, scid: opts.scid ?? c.scid, packetNumber: n, pnLength: 4, payloadLength: body.length });
  return protectPacket(c.config.provider, keys, header, n, body);
}

function deliver(pair: QuicPair, victim: Side, datagram: Uint8Array, from?: string): readonly QuicEffect[] {
  return pair.input(victim, { type: 'datagram', now: pair.now, data: datagram, ...(from !== undefined ? { from } : {}) });
}


/** The transport error code of the CONNECTION_CLOSE `side` sent (undefined if none). */
function sentCode(pair: QuicPair, side: Side): bigint | undefined {
  const f = pair.state[side].closeFrame;
  if (f) return f.kind === 'transport' ? f.errorCode : undefined;
  const d = pair.state[side].closeError?.detail;
  return d?.kind === 'quicClose' && d.local && !d.application ? d.code : undefined;
}

/** The packet types of a datagram, in order (`short` for a 1-RTT packet; coalesced packets walked). */
function packetTypes(datagram: Uint8Array): string[] {
  const out: string[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    let h;
    try {
      h = decodePacketHeader(datagram, offset, 8);
    } catch {
      out.push('undecodable');
      break;
    }
    out.push(h.form === 'long' ? h.type : h.form);
    if (h.form !== 'long') break;
    offset = h.end;
  }
  return out;
}

const transmits = (effects: readonly QuicEffect[]) => effects.filter((e) => e.type === 'transmit' || e.type === 'transmitTo');
const sum = (list: readonly Uint8Array[]) => list.reduce((n, d) => n + d.length, 0);

const longHeader = (d: Uint8Array) => {
  const h = decodePacketHeader(d, 0, 8);
  if (h.form !== 'long') throw new Error('not a long header');
  return h;
};

// ---------------------------------------------------------------------------------------------------------------
// 1. Anti-amplification (RFC 9000 §8.1)
// ---------------------------------------------------------------------------------------------------------------

test('RFC 9000 §8.1: before validation, the server sends at most 3× what it received, counting PTO retransmissions (the client goes silent after its first Initial)', (t) => {
  const pair = new QuicPair();
  pair.drop = (from, n) => from === 'client' && n > 0;
  pair.start().drive(pair.now + 60_000);
  const received = pair.datagrams.client[0]!.length;
  const sent = sum(pair.datagrams.server);
  t.log(`server: ${pair.datagrams.server.length} datagrams, ${sent} bytes, for ${received} received; ${outcome(pair, 'server')}`);
  t.true(pair.datagrams.server.length > 0, 'the server answered');
  t.true(sent <= 3 * received, `${sent} bytes sent for ${received} received`);
  t.false(pair.state.server.addressValidated);
});

test('RFC 9000 §8.1: datagrams that fail to decrypt count as received ("all of the payload bytes received in datagrams ... attributed to a single connection")', (t) => {
  const { pair, first } = firstInitialWithheld();
  pair.drop = (from, n) => from === 'client' && n > 0; // the client's own later datagrams are lost
  deliver(pair, 'server', first);
  const before = pair.state.server.bytesReceived;
  // The same Initial with its AEAD tag damaged: it does not decrypt.
  const bad = first.slice();
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
  const effects = deliver(pair, 'server', bad);
  t.log(`bytesReceived ${before} → ${pair.state.server.bytesReceived}; ${transmits(effects).length} datagrams in answer`);
  t.is(pair.state.server.bytesReceived, before + bad.length, 'rxtls counts the undecryptable datagram');
  t.is(pair.state.server.phase, 'handshake', outcome(pair, 'server'));
  pair.drive(pair.now + 60_000);
  const sent = sum(pair.datagrams.server);
  t.true(sent <= 3 * (first.length + bad.length), `${sent} bytes sent for ${first.length + bad.length} received`);
});

test('RFC 9000 §8.1: a Handshake packet that fails to decrypt does not validate the client\'s address; one that decrypts does', (t) => {
  const { pair, first } = firstInitialWithheld();
  // The client gets the server's flight, but nothing of the client's reaches the server (the test delivers).
  pair.drop = (from) => from === 'client';
  deliver(pair, 'server', first);
  pair.settle();
  const c = pair.state.client;
  t.truthy(c.spaces.handshake.tx, 'the client has Handshake keys');
  const real = longPacket(c, 'handshake', c.spaces.handshake.tx!, framesOf({ type: 'ping' }), { padTo: 40 });
  const forged = real.slice();
  forged[forged.length - 3] = forged[forged.length - 3]! ^ 0x55;
  deliver(pair, 'server', forged);
  t.false(pair.state.server.addressValidated, 'an undecryptable Handshake packet validates nothing');
  t.false(pair.state.server.spaces.initial.discarded, 'nor discards the Initial keys');
  deliver(pair, 'server', real);
  t.true(pair.state.server.addressValidated, 'a Handshake packet that decrypts validates the address');
  t.true(pair.state.server.spaces.initial.discarded, 'RFC 9001 §4.9.1: and the server discards its Initial keys');
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Retry (RFC 9000 §8.1.2, §17.2.5; RFC 9001 §5.8)
// ---------------------------------------------------------------------------------------------------------------

const retryFor = (pair: QuicPair, first: Uint8Array, scid: Uint8Array, token: Uint8Array) =>
  encodeRetryPacket(pair.state.client.config.provider, { dcid: longHeader(first).scid, scid, token, originalDcid: pair.state.client.originalDcid });

test('RFC 9000 §17.2.5.2: a second Retry (valid tag, another SCID and token) after one was accepted is discarded', (t) => {
  const { pair, first } = firstInitialWithheld();
  const r1 = bytes(8, 0x11);
  const r2 = bytes(8, 0x22);
  deliver(pair, 'client', retryFor(pair, first, r1, Uint8Array.of(1, 1, 1)));
  t.deepEqual(pair.state.client.dcid, r1, 'the first Retry is followed');
  const sentBefore = pair.datagrams.client.length;
  const effects = deliver(pair, 'client', retryFor(pair, first, r2, Uint8Array.of(2, 2, 2)));
  t.deepEqual(pair.state.client.dcid, r1, 'the second Retry changes nothing');
  t.deepEqual(pair.state.client.token, Uint8Array.of(1, 1, 1));
  t.deepEqual(pair.state.client.retrySourceCid, r1);
  t.is(transmits(effects).length, 0, 'and draws no Initial');
  t.is(pair.datagrams.client.length, sentBefore);
});

test('RFC 9000 §17.2.5.2: a Retry after a packet of the server was processed (no Retry before) is discarded', (t) => {
  const { pair, first } = firstInitialWithheld();
  // Deliver the first Initial; the client processes the server's Initial and Handshake packets.
  pair.drop = (from) => from === 'client';
  deliver(pair, 'server', first);
  pair.settle();
  t.true(pair.state.client.spaces.handshake.largestRx >= 0 || pair.state.client.spaces.initial.discarded, 'the client processed server packets');
  const dcid = pair.state.client.dcid;
  const effects = deliver(pair, 'client', retryFor(pair, first, bytes(8, 0x33), Uint8Array.of(3, 3, 3)));
  t.deepEqual(pair.state.client.dcid, dcid);
  t.is(pair.state.client.token, undefined);
  t.is(pair.state.client.retrySourceCid, undefined);
  t.is(transmits(effects).length, 0);
});

// Found by this probe and fixed (see the test's name for the rule).
test('RFC 9000 §17.2.5.1: a Retry whose Source Connection ID equals the DCID of the client\'s Initial is discarded', (t) => {
  const { pair, first } = firstInitialWithheld();
  const odcid = pair.state.client.originalDcid;
  t.deepEqual(longHeader(first).dcid, odcid);
  const effects = deliver(pair, 'client', retryFor(pair, first, odcid.slice(), Uint8Array.of(4, 4, 4)));
  t.log(`client after the Retry: token ${pair.state.client.token ? 'set' : 'none'}, retrySourceCid ${pair.state.client.retrySourceCid ? Buffer.from(pair.state.client.retrySourceCid).toString('hex') : 'none'}, ${transmits(effects).length} datagrams sent`);
  t.is(pair.state.client.token, undefined, 'the Retry is not followed (no token)');
  t.is(pair.state.client.retrySourceCid, undefined, 'and not remembered as a Retry');
  t.is(transmits(effects).length, 0, 'and draws no new Initial');
});

test('RFC 9000 §7.3: after a Retry, retry_source_connection_id of another value, or original_destination_connection_id naming the Retry\'s SCID, is TRANSPORT_PARAMETER_ERROR', (t) => {
  const cases: [string, (odcid: Uint8Array, r: Uint8Array) => NonNullable<QuicConfig['retried']>][] = [
    ['retry_source_connection_id of another value', (odcid) => ({ originalDcid: odcid, retrySourceCid: bytes(8, 0x77) })],
    ['original_destination_connection_id = the Retry SCID', (_, r) => ({ originalDcid: r, retrySourceCid: r })],
  ];
  for (const [what, retried] of cases) {
    const r = bytes(8, 0x44);
    const pair = new QuicPair();
    pair.state.server = createQuicConnection({ role: 'server', tls: { ...serverCredentials(), alpnProtocols: ['h3'] }, retried: retried(pair.state.client.originalDcid, r) });
    const { first } = firstInitialWithheld(pair);
    deliver(pair, 'client', retryFor(pair, first, r, Uint8Array.of(9)));
    pair.drive(pair.now + 5_000);
    t.log(`${what}: ${outcome(pair, 'client')}`);
    t.is(sentCode(pair, 'client'), E.TRANSPORT_PARAMETER_ERROR, what);
    t.not(pair.state.client.phase, 'connected', what);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Version negotiation (RFC 9000 §6)
// ---------------------------------------------------------------------------------------------------------------

test('RFC 9000 §6.2: a Version Negotiation after a Retry was processed is discarded', (t) => {
  const { pair, first } = firstInitialWithheld();
  deliver(pair, 'client', retryFor(pair, first, bytes(8, 0x55), Uint8Array.of(5)));
  const c = pair.state.client;
  for (const scid of [c.originalDcid, c.dcid]) {
    const vn = encodeVersionNegotiation({ dcid: c.scid, scid, versions: [0x5a5a5a5a, 0xff00001d] });
    const effects = deliver(pair, 'client', vn);
    t.is(pair.state.client.phase, 'handshake', outcome(pair, 'client'));
    t.deepEqual(effects.filter((e) => e.type === 'closed'), []);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The listener on a fake socket: its stateless answers (VN, stateless reset, Retry tokens)
// ---------------------------------------------------------------------------------------------------------------

interface Sent {
  readonly data: Uint8Array;
  readonly port: number;
  readonly host: string;
}

/** A stand-in for a bound `dgram.Socket`: `message` events in, `send` calls recorded. */
class FakeSocket extends EventEmitter {
  readonly sent: Sent[] = [];
  address() {
    return { address: '127.0.0.1', family: 'IPv4', port: 4433 };
  }
  send(data: Uint8Array, port: number, host: string, cb?: () => void) {
    this.sent.push({ data: Uint8Array.from(data), port, host });
    cb?.();
  }
  close(cb?: () => void) {
    cb?.();
  }
  bind() {}
  /** A datagram from `host:port`. */
  receive(data: Uint8Array, host = '192.0.2.7', port = 5000) {
    this.emit('message', Buffer.from(data), { address: host, family: 'IPv4', port, size: data.length });
  }
}

async function listener(t: ExecutionContext, extra: Record<string, unknown> = {}) {
  const socket = new FakeSocket();
  const srv = await quicListen({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'], ticking: 'manual', socket: socket as never, ...extra } as never);
  t.teardown(() => srv.close());
  return { socket, srv };
}

/** A long header of an unknown version, padded to `size` bytes. */
function unknownVersion(size: number): Uint8Array {
  const d = new Uint8Array(size);
  d.set([0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8, ...bytes(8, 0xd1), 8, ...bytes(8, 0x5c)]);
  return d;
}

test('RFC 9000 §6.1, §14.1 (listener): an unknown version in a datagram of 1200 bytes draws a Version Negotiation packet; 1199 bytes draws nothing', async (t) => {
  const { socket, srv } = await listener(t);
  socket.receive(unknownVersion(1199));
  t.is(socket.sent.length, 0, '1199 bytes: no answer');
  socket.receive(unknownVersion(1200));
  t.is(socket.sent.length, 1, '1200 bytes: one answer');
  const vn = socket.sent[0]!.data;
  const h = decodePacketHeader(vn, 0, 8);
  t.is(h.form, 'versionNegotiation');
  if (h.form === 'versionNegotiation') {
    t.deepEqual(h.dcid, bytes(8, 0x5c), 'the client\'s SCID echoed as DCID');
    t.deepEqual(h.scid, bytes(8, 0xd1));
    t.true(h.versions.includes(1));
  }
  t.true(vn.length < 1200);
  // A Version Negotiation packet is never answered (§6.1).
  const before = socket.sent.length;
  socket.receive(new Uint8Array([...encodeVersionNegotiation({ dcid: bytes(8, 1), scid: bytes(8, 2), versions: [0x1a2a3a4a] }), ...new Uint8Array(1200)]));
  t.is(socket.sent.length, before);
  t.is(srv.stats().created, 0);
});

test('RFC 9000 §10.3, §10.3.3 (listener): short headers for unknown connection IDs: none answered at 21 bytes or fewer, each reset smaller than what drew it; resets answering resets die out', async (t) => {
  const { socket, srv } = await listener(t);
  const short = (n: number) => {
    const d = new Uint8Array(n).fill(0xa5);
    d[0] = 0x40 | 0x05;
    return d;
  };
  for (const n of [1, 9, 20, MIN_STATELESS_RESET]) socket.receive(short(n));
  t.is(socket.sent.length, 0, `no reset for ${MIN_STATELESS_RESET} bytes or fewer`);
  for (const n of [22, 43, 44, 1200]) {
    const before = socket.sent.length;
    socket.receive(short(n));
    t.is(socket.sent.length, before + 1, `a reset for ${n} bytes`);
    const reset = socket.sent.at(-1)!.data;
    t.true(reset.length < n && reset.length >= MIN_STATELESS_RESET, `${reset.length}-byte reset for ${n} bytes`);
    t.is(reset[0]! & 0xc0, 0x40, 'it reads as a short header');
  }
  // Two such listeners answering each other: each answer is smaller, so it stops.
  let d: Uint8Array = short(1200);
  let rounds = 0;
  for (; rounds < 2_000; rounds++) {
    const before = socket.sent.length;
    socket.receive(d);
    if (socket.sent.length === before) break;
    const next = socket.sent.at(-1)!.data;
    t.true(next.length < d.length);
    d = next;
  }
  t.true(rounds < 30, `${rounds} rounds`);
  t.is(srv.stats().created, 0);
});

/** A client whose first Initial goes to DCID `dcid` with `token` (a Retry token, as after a Retry). */
function clientInitialWith(dcid: Uint8Array, token: Uint8Array): Uint8Array {
  let call = 0;
  const c = createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] }, token }, (n) => (call++ === 1 ? dcid.slice(0, n) : bytes(n, 0x10 + call)));
  const pair = new QuicPair();
  pair.state.client = c;
  pair.input('client', { type: 'start', now: pair.now });
  const d = pair.datagrams.client[0]!;
  assertDcid(longHeader(d).dcid, dcid);
  return d;
}
const assertDcid = (a: Uint8Array, b: Uint8Array) => {
  if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) throw new Error('unexpected DCID');
};

const tokenKey = bytes(TOKEN_KEY_LENGTH, 0x3c);
function retryToken(address: string, originalDcid: Uint8Array, retryScid: Uint8Array): Uint8Array {
  const provider = createQuicConnection({ role: 'server', tls: { ...serverCredentials(), alpnProtocols: ['h3'] } }).config.provider;
  return sealRetryToken(provider, tokenKey, bytes(12, 7), address, { originalDcid, retryScid, issuedAt: Date.now() });
}

test('RFC 9000 §8.1.2, §8.1.3 (listener): a Retry token from another address, or for another connection ID, opens no connection', async (t) => {
  const { socket, srv } = await listener(t, { tokenKey, retry: true });
  const retryScid = bytes(8, 0x9a);
  // Issued to 192.0.2.7:5000, presented from 198.51.100.9:5000.
  socket.receive(clientInitialWith(retryScid, retryToken('192.0.2.7:5000', bytes(8, 0x01), retryScid)), '198.51.100.9', 5000);
  // Issued for a Retry with SCID 9a…, presented on an Initial to another DCID (another connection's token).
  socket.receive(clientInitialWith(bytes(8, 0x9b), retryToken('192.0.2.7:5000', bytes(8, 0x01), retryScid)), '192.0.2.7', 5000);
  t.log(JSON.stringify(srv.stats().dropped), `answers: ${socket.sent.map((s) => packetTypes(s.data).join('+')).join(', ') || 'none'}`);
  t.is(srv.stats().created, 0, 'no connection for either');
  // Sanity: the same token from its own address opens one.
  socket.receive(clientInitialWith(retryScid, retryToken('192.0.2.7:5000', bytes(8, 0x01), retryScid)), '192.0.2.7', 5000);
  t.is(srv.stats().created, 1, 'the token from its own address is accepted');
});

// RFC 9000 §8.1.2: a server SHOULD close with INVALID_TOKEN when an otherwise valid Initial carries an invalid
// Retry token. rxtls's listener drops it instead (counted in `stats().dropped.invalidToken`) and opens nothing:
// answering would mean building a connection's Initial keys and a CONNECTION_CLOSE for every forged token, work
// an off-path sender could draw for free, and the client's own timeout ends its attempt. This test pins that.
test('RFC 9000 §8.1.2 (listener): an otherwise valid Initial with an invalid Retry token is dropped and counted; no connection, no answer', async (t) => {
  const { srv, socket } = await listener(t, { tokenKey, retry: true });
  const retryScid = bytes(8, 0x9a);
  socket.receive(clientInitialWith(retryScid, retryToken('192.0.2.7:5000', bytes(8, 0x01), retryScid)), '198.51.100.9', 5000);
  t.deepEqual(socket.sent.map((s) => packetTypes(s.data).join('+')), [], 'nothing sent');
  t.is(srv.stats().created, 0);
  t.true(srv.stats().dropped.invalidToken >= 1, JSON.stringify(srv.stats().dropped));
});

// ---------------------------------------------------------------------------------------------------------------
// 4. Stateless reset (RFC 9000 §10.3.1)
// ---------------------------------------------------------------------------------------------------------------

/** A datagram of `size` bytes that reads as a short header and ends in `token`. */
function resetLike(size: number, token: Uint8Array): Uint8Array {
  const d = new Uint8Array(size).fill(0x6b);
  d[0] = 0x40 | 0x0b;
  d.set(token, size - token.length);
  return d;
}

test('RFC 9000 §10.3.1: a datagram under 21 bytes that ends in the peer\'s reset token is not a stateless reset', (t) => {
  const pair = connected();
  const token = pair.state.client.cids.peer.find((p) => p.sequence === pair.state.client.cids.active)?.resetToken;
  t.truthy(token, 'the server gave a token for the CID in use');
  deliver(pair, 'client', resetLike(20, token!));
  t.is(pair.state.client.phase, 'connected', outcome(pair, 'client'));
  // Sanity: 21 bytes is one.
  deliver(pair, 'client', resetLike(21, token!));
  t.is(pair.state.client.phase, 'closed');
});

// Found by this probe and fixed (see the test's name for the rule).
test('RFC 9000 §10.3.1: the reset tokens of connection IDs the endpoint has not used are not checked', (t) => {
  const misses: string[] = [];
  for (const victim of ['client', 'server'] as const) {
    const pair = connected();
    const ids = pair.state[victim].cids;
    const unused = ids.peer.find((p) => p.sequence !== ids.active && p.resetToken);
    if (!unused) {
      misses.push(`${victim}: the peer issued no spare connection ID`);
      continue;
    }
    deliver(pair, victim, resetLike(60, unused.resetToken!));
    t.log(`${victim}: a datagram ending in the token of the peer's connection ID ${unused.sequence} (never used): ${outcome(pair, victim)}`);
    if (pair.state[victim].phase !== 'connected') misses.push(`${victim}: token of unused connection ID ${unused.sequence} taken for a reset: ${outcome(pair, victim)}`);
  }
  t.deepEqual(misses, []);
});

test('RFC 9000 §10.3.1: the reset token of a retired connection ID is not checked', (t) => {
  const pair = connected();
  const ids = pair.state.client.cids;
  const old = ids.peer.find((p) => p.sequence === ids.active)!;
  const next = Math.max(...ids.peer.map((p) => p.sequence)) + 1;
  // The server retires everything before `next` with a new connection ID: the client moves to it.
  deliver(pair, 'client', oneRtt(pair, 'server', [{ type: 'newConnectionId', sequence: next, retirePriorTo: next, connectionId: bytes(8, 0xe1), resetToken: bytes(16, 0xe2) }]));
  t.is(pair.state.client.phase, 'connected', outcome(pair, 'client'));
  t.deepEqual(pair.state.client.dcid, bytes(8, 0xe1), 'the client moved to the new ID');
  deliver(pair, 'client', resetLike(60, old.resetToken!));
  t.is(pair.state.client.phase, 'connected', `the token of retired sequence ${old.sequence}: ${outcome(pair, 'client')}`);
  deliver(pair, 'client', resetLike(60, bytes(16, 0xe2)));
  t.is(pair.state.client.phase, 'closed', 'the token of the ID in use is');
});

// ---------------------------------------------------------------------------------------------------------------
// 5. Path validation and migration (RFC 9000 §8.2, §9)
// ---------------------------------------------------------------------------------------------------------------

test('RFC 9000 §8.2.3: a PATH_RESPONSE that answers no PATH_CHALLENGE of ours is ignored, not an error (both roles)', (t) => {
  for (const victim of ['client', 'server'] as const) {
    const pair = connected();
    const effects = deliver(pair, victim, oneRtt(pair, other(victim), [{ type: 'pathResponse', data: bytes(8, 0x99) }]));
    t.is(pair.state[victim].phase, 'connected', `${victim}: ${outcome(pair, victim)}`);
    t.deepEqual(effects.filter((e) => e.type === 'pathChanged' || e.type === 'closed'), []);
  }
});

test('RFC 9000 §8.2.3, §9.3: during a server\'s validation of a new client address, a PATH_RESPONSE with other data validates nothing', (t) => {
  const pair = new QuicPair();
  pair.address.client = '192.0.2.1:5000';
  pair.address.server = '198.51.100.1:443';
  pair.start().drive(pair.now + 1_000, () => pair.state.client.spaces.handshake.discarded);
  // NAT rebinding: the client's next packet comes from a new port.
  pair.address.client = '192.0.2.1:6000';
  deliver(pair, 'server', oneRtt(pair, 'client', [{ type: 'ping' }, { type: 'padding', length: 100 }]), '192.0.2.1:6000');
  t.is(pair.state.server.path.address, '192.0.2.1:6000', 'the server followed');
  t.true(pair.state.server.path.challenges.length > 0, 'and challenges the new path');
  t.false(pair.state.server.addressValidated);
  deliver(pair, 'server', oneRtt(pair, 'client', [{ type: 'pathResponse', data: bytes(8, 0x98) }, { type: 'padding', length: 100 }]), '192.0.2.1:6000');
  t.false(pair.state.server.addressValidated, 'a wrong PATH_RESPONSE does not validate the path');
  t.is(pair.state.server.phase, 'connected');
  // The right answer does (forged here too: the client's own packets would draw ACKs of the forged packet numbers).
  const challenge = pair.state.server.path.challenges[0]!;
  deliver(pair, 'server', oneRtt(pair, 'client', [{ type: 'pathResponse', data: challenge }, { type: 'padding', length: 100 }]), '192.0.2.1:6000');
  t.true(pair.state.server.addressValidated, 'the PATH_RESPONSE echoing the challenge validates it');
});

// Found by this probe and fixed (see the test's name for the rule).
test('RFC 9000 §9: a client discards packets from an unknown server address (no data delivered, no PATH_RESPONSE sent there)', (t) => {
  const pair = new QuicPair();
  pair.address.client = '192.0.2.1:5000';
  pair.address.server = '198.51.100.1:443';
  pair.start().drive(pair.now + 1_000, () => pair.state.client.spaces.handshake.discarded);
  t.true(pair.state.client.spaces.handshake.discarded, 'confirmed');
  const stranger = '203.0.113.66:443';
  const data = new TextEncoder().encode('from elsewhere');
  const a = deliver(pair, 'client', oneRtt(pair, 'server', [{ type: 'stream', streamId: 1, offset: 0, data, fin: false }]), stranger);
  const b = deliver(pair, 'client', oneRtt(pair, 'server', [{ type: 'pathChallenge', data: bytes(8, 0x42) }]), stranger);
  const delivered = a.filter((e) => e.type === 'deliver');
  const answers = [...a, ...b].filter((e) => e.type === 'transmitTo');
  t.log(`delivered ${delivered.length} STREAM chunk(s); ${answers.length} datagram(s) sent to ${stranger}`);
  t.deepEqual(delivered, [], 'no stream data from an unknown server address');
  t.deepEqual(answers, [], 'no answer to an unknown server address');
  t.is(pair.state.client.path.address, '198.51.100.1:443');
});

test('RFC 9000 §9: the client\'s Handshake packets from another address during the handshake move nothing (no migration before confirmation)', (t) => {
  const pair = new QuicPair();
  pair.address.client = '192.0.2.1:5000';
  pair.address.server = '198.51.100.1:443';
  const { first } = firstInitialWithheld(pair);
  pair.drop = (from) => from === 'client';
  deliver(pair, 'server', first, '192.0.2.1:5000');
  pair.settle();
  const c = pair.state.client;
  const hs = longPacket(c, 'handshake', c.spaces.handshake.tx!, framesOf({ type: 'ping' }), { padTo: 40 });
  const effects = deliver(pair, 'server', hs, '192.0.2.99:7000');
  t.deepEqual(effects.filter((e) => e.type === 'pathChanged' || e.type === 'transmitTo'), [], 'no path change, nothing sent to the other address');
  t.is(pair.state.server.path.address, '192.0.2.1:5000');
  t.not(sentCode(pair, 'server'), E.INTERNAL_ERROR);
});

// ---------------------------------------------------------------------------------------------------------------
// 6. 0-RTT (RFC 9000 §12.4 Table 3, §17.2.3; RFC 9001 §4.6)
// ---------------------------------------------------------------------------------------------------------------

const tk: Ticketer = createTicketer(new Uint8Array(32).fill(7));
const serverConfig0 = (): Partial<QuicConfig> => ({ tls: { ...serverCredentials(), alpnProtocols: ['h3'], ticketer: tk, antiReplay: createAntiReplay(), maxEarlyData: 1 } });
const clientConfig0 = (session?: TlsSession): Partial<QuicConfig> => ({
  tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'], ...(session ? { session, earlyData: true } : {}) },
});

let sessionCache: TlsSession | undefined;
function session(): TlsSession {
  if (sessionCache) return sessionCache;
  const pair = new QuicPair(clientConfig0(), serverConfig0()).start();
  pair.drive(pair.now + 2_000, () => pair.effects.client.some((e) => e.type === 'session'));
  const s = pair.effects.client.flatMap((e) => (e.type === 'session' ? [e.session] : []))[0];
  if (!s) throw new Error('no session');
  return (sessionCache = s);
}

/** A resumed pair whose server has accepted 0-RTT (it has 0-RTT read keys) and the client can still send 0-RTT. */
function zeroRttPair(): QuicPair {
  const pair = new QuicPair(clientConfig0(session()), serverConfig0());
  // The server's answers are held: the client keeps its 0-RTT keys.
  pair.drop = (from) => from === 'server';
  pair.start().settle();
  return pair;
}

test('RFC 9000 §12.4 Table 3, §17.2.3: ACK, CRYPTO, HANDSHAKE_DONE, NEW_TOKEN, PATH_RESPONSE in a 0-RTT packet are PROTOCOL_VIOLATION', (t) => {
  const cases: [string, Frame][] = [
    ['ACK', { type: 'ack', largest: 0, delay: 0, firstRange: 0, ranges: [] } ],
    ['CRYPTO', { type: 'crypto', offset: 0, data: bytes(5, 1) }],
    ['HANDSHAKE_DONE', { type: 'handshakeDone' }],
    ['NEW_TOKEN', { type: 'newToken', token: bytes(5, 2) }],
    ['PATH_RESPONSE', { type: 'pathResponse', data: bytes(8, 3) }],
  ];
  const sanity = zeroRttPair();
  t.is(sanity.state.server.zeroRtt?.status, 'accepted', 'the server accepted 0-RTT');
  t.truthy(sanity.state.client.zeroRtt?.tx, 'the client has 0-RTT keys');
  // A 0-RTT PING is fine.
  const c0 = sanity.state.client;
  deliver(sanity, 'server', longPacket(c0, 'zeroRtt', c0.zeroRtt!.tx!, framesOf({ type: 'ping' }, { type: 'padding', length: 30 })));
  t.is(sanity.state.server.phase, 'handshake', outcome(sanity, 'server'));
  const misses: string[] = [];
  for (const [what, frame] of cases) {
    const pair = zeroRttPair();
    const c = pair.state.client;
    let payload: Uint8Array;
    try {
      payload = framesOf(frame, { type: 'padding', length: 30 });
    } catch {
      payload = what === 'ACK' ? Uint8Array.of(0x02, 0, 0, 0, 0, ...new Uint8Array(30)) : new Uint8Array(0);
    }
    deliver(pair, 'server', longPacket(c, 'zeroRtt', c.zeroRtt!.tx!, payload));
    t.log(`${what} in 0-RTT: ${outcome(pair, 'server')}`);
    if (sentCode(pair, 'server') !== E.PROTOCOL_VIOLATION) misses.push(`${what}: ${outcome(pair, 'server')}`);
  }
  t.deepEqual(misses, []);
});

test('RFC 9000 §17.2.3: RETIRE_CONNECTION_ID in a 0-RTT packet is PROTOCOL_VIOLATION or ignored (a MAY), never an internal error', (t) => {
  const pair = zeroRttPair();
  const c = pair.state.client;
  deliver(pair, 'server', longPacket(c, 'zeroRtt', c.zeroRtt!.tx!, framesOf({ type: 'retireConnectionId', sequence: 0 }, { type: 'padding', length: 30 })));
  t.log(outcome(pair, 'server'));
  const code = sentCode(pair, 'server');
  t.true(code === undefined || code === E.PROTOCOL_VIOLATION, outcome(pair, 'server'));
});

// ---------------------------------------------------------------------------------------------------------------
// 7. Key discarding (RFC 9001 §4.9)
// ---------------------------------------------------------------------------------------------------------------

test('RFC 9001 §4.9.1: the client sends no Initial packet after its first Handshake packet; the server none after processing the client\'s first Handshake packet', (t) => {
  const pair = new QuicPair();
  let serverDiscardedAt: number | undefined;
  pair.observe = (side, s) => {
    if (side === 'server' && serverDiscardedAt === undefined && s.addressValidated) serverDiscardedAt = pair.datagrams.server.length;
    if (side === 'server' && s.addressValidated) t.true(s.spaces.initial.discarded, 'the server\'s Initial keys go with the first Handshake packet processed');
  };
  pair.start().drive(pair.now + 5_000);
  t.true(pair.state.client.phase === 'connected' && pair.state.server.phase === 'connected');
  const types = pair.datagrams.client.map(packetTypes);
  const firstHs = types.findIndex((p) => p.includes('handshake'));
  t.true(firstHs >= 0);
  const hsAt = types[firstHs]!.indexOf('handshake');
  t.false(types[firstHs]!.slice(hsAt).includes('initial'), 'no Initial after the Handshake packet in its datagram');
  t.deepEqual(types.slice(firstHs + 1).filter((p) => p.includes('initial')), [], 'client: no Initial after its first Handshake packet');
  t.true(pair.state.client.spaces.initial.discarded);
  t.truthy(serverDiscardedAt);
  const later = pair.datagrams.server.slice(serverDiscardedAt).map(packetTypes);
  t.deepEqual(later.filter((p) => p.includes('initial')), [], 'server: no Initial after discarding');
});

test('RFC 9001 §4.9.2: the client keeps its Handshake keys until HANDSHAKE_DONE, then discards them; the server discards them at completion', (t) => {
  const pair = new QuicPair();
  pair.drop = (from) => from === 'server' && pair.state.server.phase === 'connected';
  pair.start().drive(pair.now + 1_000, () => pair.state.client.phase === 'connected');
  pair.settle();
  t.is(pair.state.server.phase, 'connected');
  t.true(pair.state.server.spaces.handshake.discarded, 'server: confirmed at completion');
  t.false(pair.state.client.spaces.handshake.discarded, 'client: not before HANDSHAKE_DONE');
  deliver(pair, 'client', oneRtt(pair, 'server', [{ type: 'handshakeDone' }]));
  t.true(pair.state.client.spaces.handshake.discarded, 'client: gone with HANDSHAKE_DONE');
  pair.drop = () => false;
  const n = pair.datagrams.client.length;
  pair.drive(pair.now + 2_000);
  t.deepEqual(pair.datagrams.client.slice(n).map(packetTypes).filter((p) => p.includes('handshake') || p.includes('initial')), [], 'no Initial or Handshake packet afterwards');
});

test('RFC 9001 §4.9: Initial and Handshake packets arriving after their keys were discarded are ignored (no ACK, no close)', (t) => {
  const pair = connected();
  const c = pair.state.client;
  t.true(c.spaces.initial.discarded && c.spaces.handshake.discarded);
  // Replays of the server's own first datagrams, and a fresh PING under the (public) Initial keys.
  const keys = initialKeys(c.config.provider, c.originalDcid).server;
  const fresh = longPacket(pair.state.server, 'initial', keys, framesOf({ type: 'ping' }), { dcid: c.scid, scid: c.dcid, padTo: 1100 });
  for (const [what, d] of [['replayed server datagram 0', pair.datagrams.server[0]!], ['replayed server datagram 1', pair.datagrams.server[1]!], ['fresh Initial PING', fresh]] as const) {
    const effects = deliver(pair, 'client', d);
    t.is(pair.state.client.phase, 'connected', `${what}: ${outcome(pair, 'client')}`);
    t.deepEqual(transmits(effects).map((e) => packetTypes(e.data)).filter((p) => p.includes('initial') || p.includes('handshake')), [], `${what}: nothing sent in the discarded spaces`);
  }
  // And at the server, the client's.
  const s = pair.state.server;
  const ck = initialKeys(s.config.provider, c.originalDcid).client;
  const fromClient = longPacket(c, 'initial', ck, framesOf({ type: 'ping' }), { padTo: 1200 });
  const effects = deliver(pair, 'server', fromClient);
  t.is(pair.state.server.phase, 'connected', outcome(pair, 'server'));
  t.deepEqual(transmits(effects).map((e) => packetTypes(e.data)).filter((p) => p.includes('initial')), []);
});

// ---------------------------------------------------------------------------------------------------------------
// 8. Idle timeout (RFC 9000 §10.1)
// ---------------------------------------------------------------------------------------------------------------

/** When `side` last received a datagram (virtual ms), and when it reported `closed`. */
function idleWatch(pair: QuicPair) {
  const last: Record<Side, number> = { client: pair.now, server: pair.now };
  const closedAt: Partial<Record<Side, number>> = {};
  const pto: Record<Side, number> = { client: 0, server: 0 };
  const sentOnClose: Record<Side, number> = { client: 0, server: 0 };
  pair.observe = (side, s, effects) => {
    if (effects.some((e) => e.type === 'closed') && closedAt[side] === undefined) {
      closedAt[side] = pair.now;
      sentOnClose[side] = transmits(effects).length;
    } else if (s.phase === 'connected' || s.phase === 'handshake') pto[side] = probeTimeout(s.rtt, s.phase === 'connected' ? (s.peerParams?.maxAckDelay ?? 25) : 0);
  };
  const wrap = pair.input.bind(pair);
  pair.input = (side, input) => {
    if (input.type === 'datagram' && pair.state[side].phase !== 'closed') last[side] = pair.now;
    return wrap(side, input);
  };
  return { last, closedAt, pto, sentOnClose };
}

// Found by this probe and fixed (see the test's name for the rule).
test('RFC 9000 §10.1: the idle timeout is at least 3×PTO, however small both sides\' max_idle_timeout; the close is silent', (t) => {
  // No latency: the handshake completes at once, RTT ≈ 0, PTO = 1 ms granularity + 25 ms max_ack_delay.
  const pair = new QuicPair({ idleTimeout: 30 }, { idleTimeout: 30 });
  const w = idleWatch(pair);
  pair.start().drive(pair.now + 10_000);
  t.true(pair.effects.client.some((e) => e.type === 'handshakeComplete'), 'the handshake completed');
  const misses: string[] = [];
  for (const side of ['client', 'server'] as const) {
    const idle = w.closedAt[side]! - w.last[side];
    t.log(`${side}: closed ${idle} ms after its last datagram; 3×PTO = ${3 * w.pto[side]} ms; ${outcome(pair, side)}; ${w.sentOnClose[side]} datagrams sent on closing`);
    if (pair.state[side].closeError?.detail.kind !== 'idleTimeout') misses.push(`${side}: not an idle close: ${outcome(pair, side)}`);
    if (!(idle >= 3 * w.pto[side])) misses.push(`${side}: idle ${idle} ms < 3×PTO ${3 * w.pto[side]} ms`);
    if (w.sentOnClose[side] !== 0) misses.push(`${side}: not silent`);
  }
  t.deepEqual(misses, []);
});

// Found by this probe and fixed (see the test's name for the rule).
test('RFC 9000 §10.1, §18.2: a max_idle_timeout of 0 disables the timeout on that side: the effective one is the peer\'s', (t) => {
  const pair = new QuicPair({ idleTimeout: 0 }, { idleTimeout: 5_000 });
  const w = idleWatch(pair);
  pair.start().drive(pair.now + 2_000, () => pair.state.client.phase === 'connected' && pair.state.server.phase === 'connected');
  t.log(`client: ${outcome(pair, 'client')}; server: ${outcome(pair, 'server')}; client idle timeout in force ${pair.state.client.idleTimeout}`);
  t.is(pair.state.client.phase, 'connected', `client: ${outcome(pair, 'client')}`);
  pair.drive(pair.now + 1_000);
  t.is(pair.state.client.phase, 'connected', `1 s of quiet, under the server's 5 s: ${outcome(pair, 'client')}`);
  pair.drive(pair.now + 20_000);
  t.is(pair.state.client.closeError?.detail.kind, 'idleTimeout', outcome(pair, 'client'));
  t.true(w.closedAt.client! - w.last.client >= 5_000, `closed after ${w.closedAt.client! - w.last.client} ms`);
});

// Found by this probe and fixed (see the test's name for the rule).
test('RFC 9000 §10.1: sending the first ack-eliciting packet since the last receipt restarts the idle timer', (t) => {
  const pair = connected({ idleTimeout: 1_000 }, { idleTimeout: 1_000 });
  const start = pair.now;
  // 800 ms of quiet, then the client writes; from then on nothing reaches it.
  pair.drive(start + 800);
  t.is(pair.state.client.phase, 'connected');
  pair.now = start + 800;
  pair.drop = (from) => from === 'server';
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new TextEncoder().encode('late request') });
  const w = idleWatch(pair);
  w.last.client = start; // its last receipt
  pair.drive(start + 10_000, () => pair.state.client.phase === 'closed');
  const closedAfter = (w.closedAt.client ?? Infinity) - start;
  t.log(`client closed ${closedAfter} ms after its last receipt (${closedAfter - 800} ms after sending); ${outcome(pair, 'client')}`);
  t.true(closedAfter >= 1_800, `closed ${closedAfter} ms after the last receipt: the send at +800 ms should have restarted the 1 s timer`);
});
