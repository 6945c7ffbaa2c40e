/**
 * QUIC v1 error-handling conformance (RFC 9000, RFC 9001), probed as an adversarial suite would: a hostile peer
 * sends a packet, a frame or a transport parameter the RFCs forbid, and the endpoint under test (client or
 * server) must close with the CONNECTION_CLOSE error code the RFC names — never throw, never INTERNAL_ERROR.
 *
 * The hostile peer is the other side of a {@link QuicPair}: its real keys and connection IDs, with frames and
 * packets built by hand here (raw bytes where the codec would refuse to encode them). Transport parameters
 * are forged by starting one side's handshake with a hand-made `quic_transport_parameters` block.
 *
 * Probes whose endpoint-level behaviour is already tested elsewhere are left out (NEW_TOKEN from a client,
 * tokens.test.ts; a NEW_CONNECTION_ID flood and Retire Prior To > Sequence, connectionIds.test.ts; RESET_STREAM
 * below the data received and on a send-only stream, STOP_SENDING on a receive-only stream, streams.test.ts; a
 * STREAM frame past the stream window, connection.test.ts).
 *
 * Tests that found a deviation when they were written say so ("found by this probe and fixed").
 */
import { frameBytes as framesOf, varint8 } from '../helpers/quicFrames.js';
import type { ExecutionContext } from 'ava';
import { concatBytes } from '../vectors/hex.js';
import { createQuicConnection, handleQuicEvents, type QuicState } from '../../src/quic/connection.js';
import { QuicError } from '../../src/quic/errors.js';
import { startQuicHandshake } from '../../src/quic/handshake.js';
import { KEY_UPDATE_ERROR, nextSecret } from '../../src/quic/keyUpdate.js';
import { initialKeys, packetKeys, protectPacket, type PacketKeys } from '../../src/quic/protection.js';
import { newSpace, queueCrypto } from '../../src/quic/spaces.js';
import { createHandshake, startHandshake } from '../../src/handshake/engine.js';
import type { Frame } from '../../src/wire/quic/frames.js';
import { encodeLongHeader, encodeShortHeader } from '../../src/wire/quic/packet.js';
import { encodeWith, type Writer } from '../../src/wire/writer.js';
import { caVerifier, serverCredentials } from '../helpers/pair.js';
import { QuicPair, other, type Side, quicOutcome as outcome } from '../helpers/quicPair.js';
import { assertClosedWith, clientParams, ctest, encodeParams, finishedWithheld, type Param, replace, sentCode, serverParams, serverWithParams, vint, without } from '../helpers/quicProbe.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const E = QuicError;
const PROTOCOL_VIOLATION = E.PROTOCOL_VIOLATION;
const TRANSPORT_PARAMETER_ERROR = E.TRANSPORT_PARAMETER_ERROR;

/** A connected pair (handshake complete and confirmed on both sides), no latency. */
const connected = (client: ConstructorParameters<typeof QuicPair>[0] = {}, server: ConstructorParameters<typeof QuicPair>[1] = {}) =>
  new QuicPair(client, server).start().settle();

/** Raw frame bytes: for frames the codec would refuse to encode. */
const raw = (f: (w: Writer) => void): Uint8Array => encodeWith(f);
const cat = concatBytes;

/** Packet numbers of forged packets, per sending side: well above anything the side itself sends. */
const forgedPn = new WeakMap<QuicPair, Record<Side, number>>();
function nextForgedPn(pair: QuicPair, from: Side): number {
  let m = forgedPn.get(pair);
  if (!m) forgedPn.set(pair, (m = { client: 0, server: 0 }));
  const base = pair.state[from].spaces.application.nextPn + 5_000;
  const n = Math.max(base, m[from]);
  m[from] = n + 1;
  return n;
}

/**
 * A 1-RTT packet from `from` carrying `payload` (raw frame bytes), sealed with its write keys (or `keys`), to its
 * current DCID. `reserved` ORs bits into the first byte before header protection (RFC 9000 §17.3.1: 0x18).
 */
function oneRtt(pair: QuicPair, from: Side, payload: Uint8Array, opts: { keys?: PacketKeys; keyPhase?: boolean; reserved?: number } = {}): Uint8Array {
  const c = pair.state[from];
  const n = nextForgedPn(pair, from);
  const header = encodeShortHeader({ dcid: c.dcid, packetNumber: n, pnLength: 4, ...(opts.keyPhase ? { keyPhase: true } : {}) });
  header[0] = header[0]! | (opts.reserved ?? 0);
  return protectPacket(c.config.provider, opts.keys ?? c.spaces.application.tx!, header, n, payload);
}

/** An Initial or Handshake packet from `from` with `payload`, under its keys of that space. */
function longPacket(pair: QuicPair, from: Side, type: 'initial' | 'handshake', payload: Uint8Array, opts: { reserved?: number; pad?: boolean; token?: Uint8Array } = {}): Uint8Array {
  const c = pair.state[from];
  const keys = c.spaces[type].tx;
  if (!keys) throw new Error(`${from} has no ${type} write keys`);
  const n = c.spaces[type].nextPn + 500;
  // RFC 9000 §14.1: a client's Initial travels in a datagram of at least 1200 bytes.
  const body = opts.pad ? cat(payload, new Uint8Array(Math.max(0, 1200 - payload.length))) : payload;
  const token = opts.token ?? (type === 'initial' ? c.token : undefined);
  const header = encodeLongHeader({ type, dcid: c.dcid, scid: c.scid, ...(token ? { token } : {}), packetNumber: n, pnLength: 4, payloadLength: body.length });
  header[0] = header[0]! | (opts.reserved ?? 0);
  return protectPacket(c.config.provider, keys, header, n, body);
}

/** Hand `datagram` to `victim` (as the pair would deliver it). */
function deliver(pair: QuicPair, victim: Side, datagram: Uint8Array): void {
  pair.input(victim, { type: 'datagram', now: pair.now, data: datagram });
}


/** Forge `payload` in a 1-RTT packet from the peer of `victim`, deliver it, expect `code`. */
function probe(t: ExecutionContext, victim: Side, payload: Uint8Array | ((pair: QuicPair) => Uint8Array), code: bigint, what: string, setup: () => QuicPair = () => connected()): void {
  const pair = setup();
  const bytes = typeof payload === 'function' ? payload(pair) : payload;
  deliver(pair, victim, oneRtt(pair, other(victim), bytes));
  assertClosedWith(t, pair, victim, code, what);
}

// --- Transport parameters (RFC 9000 §18) ---

/**
 * A pair whose client sends its ClientHello from a handshake the test built (`hello(pair)`: the engine's first
 * step, e.g. with forged transport parameters); the connection state around it is the client's own. Returns the
 * pair once the server has had the ClientHello (and everything after it, at no latency).
 */
function hostileClient(hello: (pair: QuicPair) => { handshake: QuicState['handshake']; sends: readonly Uint8Array[] }, pair = new QuicPair()): QuicPair {
  pair.input('server', { type: 'start', now: pair.now });
  const c = pair.state.client;
  const keys = initialKeys(c.config.provider, c.originalDcid);
  const h = hello(pair);
  const initial = { ...newSpace(), tx: keys.client, rx: keys.server };
  for (const data of h.sends) queueCrypto(initial, data);
  pair.state.client = {
    ...c,
    phase: 'handshake',
    startedAt: pair.now,
    timers: { idle: pair.now + c.idleTimeout },
    handshake: h.handshake,
    spaces: { initial, handshake: newSpace(), application: newSpace() },
  };
  pair.input('client', { type: 'timeout', now: pair.now }); // sends the queued ClientHello
  return pair.settle();
}

/** A client whose ClientHello carries `params` as its quic_transport_parameters. */
const clientWithParams = (params: (pair: QuicPair) => Uint8Array) =>
  hostileClient((pair) => {
    const c = pair.state.client;
    const step = startQuicHandshake({ role: 'client', tls: c.config.tls, provider: c.config.provider, transportParameters: params(pair) }, pair.now);
    return { handshake: step.handshake, sends: step.events.flatMap((e) => (e.type === 'send' && e.epoch === 0 ? [e.data] : [])) };
  });

// ---------------------------------------------------------------------------------------------------------------
// Sanity: the forging machinery itself yields working connections.
// ---------------------------------------------------------------------------------------------------------------

ctest('conformance harness: forged but valid transport parameters complete the handshake on both sides', (t) => {
  const a = clientWithParams((pair) => encodeParams(clientParams(pair)));
  t.is(a.state.client.phase, 'connected', outcome(a, 'client'));
  t.is(a.state.server.phase, 'connected', outcome(a, 'server'));
  const b = serverWithParams((pair) => encodeParams(serverParams(pair)));
  t.is(b.state.client.phase, 'connected', outcome(b, 'client'));
  t.is(b.state.server.phase, 'connected', outcome(b, 'server'));
  // And a forged 1-RTT PING is read (not an error).
  const pair = connected();
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf({ type: 'ping' })));
  t.is(pair.state.server.phase, 'connected');
});

// ---------------------------------------------------------------------------------------------------------------
// 1. Transport parameters (RFC 9000 §7.3, §7.4, §18.2): TRANSPORT_PARAMETER_ERROR (0x08)
// ---------------------------------------------------------------------------------------------------------------

ctest('RFC 9000 §18.2: a server closes with TRANSPORT_PARAMETER_ERROR on invalid client transport parameters', (t) => {
  const cases: [string, (pair: QuicPair) => Param[] | Uint8Array][] = [
    ['max_udp_payload_size 1199', (p) => [...clientParams(p), [0x03, vint(1199)]]],
    ['ack_delay_exponent 21', (p) => [...clientParams(p), [0x0a, vint(21)]]],
    ['max_ack_delay 2^14', (p) => [...clientParams(p), [0x0b, vint(1 << 14)]]],
    ['active_connection_id_limit 1', (p) => [...clientParams(p), [0x0e, vint(1)]]],
    ['active_connection_id_limit 0', (p) => [...clientParams(p), [0x0e, vint(0)]]],
    ['initial_max_streams_bidi 2^60 + 1', (p) => replace(clientParams(p), 0x08, varint8(2n ** 60n + 1n))],
    ['initial_max_streams_uni 2^60 + 1', (p) => replace(clientParams(p), 0x09, varint8(2n ** 60n + 1n))],
    ['a duplicate parameter (initial_max_data twice)', (p) => [...clientParams(p), [0x04, vint(5)]]],
    ['original_destination_connection_id (server only)', (p) => [...clientParams(p), [0x00, p.state.client.originalDcid]]],
    ['stateless_reset_token (server only)', (p) => [...clientParams(p), [0x02, new Uint8Array(16).fill(7)]]],
    ['preferred_address (server only)', (p) => [...clientParams(p), [0x0d, cat(new Uint8Array(4), Uint8Array.of(0, 0), new Uint8Array(16), Uint8Array.of(0, 0), Uint8Array.of(4, 1, 2, 3, 4), new Uint8Array(16))]]],
    ['retry_source_connection_id (server only)', (p) => [...clientParams(p), [0x10, Uint8Array.of(1, 2, 3, 4)]]],
    ['initial_source_connection_id missing', (p) => without(clientParams(p), 0x0f)],
    ['initial_source_connection_id not the SCID of its Initial', (p) => replace(clientParams(p), 0x0f, Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9))],
    ['a truncated varint value (max_udp_payload_size)', (p) => [...clientParams(p), [0x03, Uint8Array.of(0x80)]]],
    ['a parameter whose length runs past the block', (p) => cat(encodeParams(clientParams(p)), Uint8Array.of(0x03, 0x08, 0x44))],
    ['disable_active_migration with a value', (p) => [...clientParams(p), [0x0c, Uint8Array.of(0)]]],
    ['a 21-byte initial_source_connection_id', (p) => replace(clientParams(p), 0x0f, new Uint8Array(21).fill(1))],
  ];
  for (const [what, params] of cases) {
    const pair = clientWithParams((p) => {
      const v = params(p);
      return v instanceof Uint8Array ? v : encodeParams(v);
    });
    assertClosedWith(t, pair, 'server', TRANSPORT_PARAMETER_ERROR, `client sends ${what}`);
    t.not(pair.state.server.phase, 'connected', what);
  }
});

ctest('RFC 9000 §7.3, §18.2: a client closes with TRANSPORT_PARAMETER_ERROR on invalid server transport parameters', (t) => {
  const cases: [string, (pair: QuicPair) => Param[]][] = [
    ['max_udp_payload_size 1199', (p) => [...serverParams(p), [0x03, vint(1199)]]],
    ['ack_delay_exponent 21', (p) => [...serverParams(p), [0x0a, vint(21)]]],
    ['max_ack_delay 2^14', (p) => [...serverParams(p), [0x0b, vint(1 << 14)]]],
    ['active_connection_id_limit 1', (p) => [...serverParams(p), [0x0e, vint(1)]]],
    ['initial_max_streams_bidi 2^60 + 1', (p) => replace(serverParams(p), 0x08, varint8(2n ** 60n + 1n))],
    ['a duplicate parameter (max_idle_timeout twice)', (p) => [...serverParams(p), [0x01, vint(1000)]]],
    ['original_destination_connection_id missing', (p) => without(serverParams(p), 0x00)],
    ['original_destination_connection_id not the client\'s first DCID', (p) => replace(serverParams(p), 0x00, Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1))],
    ['initial_source_connection_id missing', (p) => without(serverParams(p), 0x0f)],
    ['initial_source_connection_id not the SCID of its Initial', (p) => replace(serverParams(p), 0x0f, Uint8Array.of(2, 2, 2, 2, 2, 2, 2, 2))],
    ['retry_source_connection_id without a Retry', (p) => [...serverParams(p), [0x10, Uint8Array.of(3, 3, 3, 3)]]],
    ['a 15-byte stateless_reset_token', (p) => replace(serverParams(p), 0x02, new Uint8Array(15))],
    ['preferred_address with a zero-length connection ID', (p) => [...serverParams(p), [0x0d, cat(new Uint8Array(4), Uint8Array.of(0, 0), new Uint8Array(16), Uint8Array.of(0, 0), Uint8Array.of(0), new Uint8Array(16))]]],
  ];
  for (const [what, params] of cases) {
    const pair = serverWithParams((p) => encodeParams(params(p)));
    assertClosedWith(t, pair, 'client', TRANSPORT_PARAMETER_ERROR, `server sends ${what}`);
    t.not(pair.state.client.phase, 'connected', what);
  }
});

ctest('RFC 9001 §8.2: a ClientHello without quic_transport_parameters is closed with 0x016d (missing_extension)', (t) => {
  // The client's handshake is the TLS (not QUIC) variant: its ClientHello has no transport parameters extension.
  const pair = hostileClient((p) => {
    const c = p.state.client;
    const hs = createHandshake({ ...c.config.tls, role: 'client', provider: c.config.provider, middleboxCompat: false } as Parameters<typeof createHandshake>[0], 'tls');
    const step = startHandshake(hs, p.now);
    return { handshake: step.state, sends: step.events.flatMap((e) => (e.type === 'send' ? [e.data] : [])) };
  });
  assertClosedWith(t, pair, 'server', E.CRYPTO_ERROR + 0x6dn, 'ClientHello without quic_transport_parameters');
});

ctest('RFC 9001 §8.1: no ALPN in common is closed with 0x0178 (no_application_protocol)', (t) => {
  const pair = connected({ tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['hq-interop'] } });
  assertClosedWith(t, pair, 'server', E.CRYPTO_ERROR + 0x78n, 'ALPN mismatch');
});

ctest('RFC 9001 §4.8: a TLS alert closes with CRYPTO_ERROR 0x0100 + alert (a certificate for another name)', (t) => {
  const pair = connected({ tls: { serverName: 'not-this-host.example', verifier: caVerifier(), alpnProtocols: ['h3'] } });
  const code = sentCode(pair, 'client');
  t.log(outcome(pair, 'client'));
  t.true(code !== undefined && code >= 0x100n && code <= 0x1ffn, `CRYPTO_ERROR range; got: ${outcome(pair, 'client')}`);
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Packets and frames (RFC 9000 §12.4, Table 3; §13.1; §17.2, §17.3.1)
// ---------------------------------------------------------------------------------------------------------------

/** A pair driven until `done`, in the middle of the handshake. */
function midHandshake(done: (pair: QuicPair) => boolean): QuicPair {
  const pair = new QuicPair().start();
  return pair.drive(pair.now + 1_000, () => done(pair));
}

ctest('RFC 9000 §12.4: STREAM in a client Initial is PROTOCOL_VIOLATION', (t) => {
  const pair = midHandshake((p) => p.state.server.handshake !== undefined);
  deliver(pair, 'server', longPacket(pair, 'client', 'initial', framesOf({ type: 'stream', streamId: 0, offset: 0, data: new Uint8Array(10), fin: false }), { pad: true }));
  assertClosedWith(t, pair, 'server', PROTOCOL_VIOLATION, 'STREAM in Initial');
});

ctest('RFC 9000 §12.4: MAX_DATA in a client Handshake packet is PROTOCOL_VIOLATION', (t) => {
  const pair = midHandshake((p) => p.state.client.spaces.handshake.tx !== undefined);
  deliver(pair, 'server', longPacket(pair, 'client', 'handshake', framesOf({ type: 'maxData', max: 1 << 30 }, { type: 'padding', length: 20 })));
  assertClosedWith(t, pair, 'server', PROTOCOL_VIOLATION, 'MAX_DATA in Handshake');
});

ctest('RFC 9000 §12.4: STREAM in a server Initial is PROTOCOL_VIOLATION', (t) => {
  const pair = midHandshake((p) => p.state.server.spaces.handshake.tx !== undefined);
  deliver(pair, 'client', longPacket(pair, 'server', 'initial', framesOf({ type: 'stream', streamId: 1, offset: 0, data: new Uint8Array(10), fin: false })));
  assertClosedWith(t, pair, 'client', PROTOCOL_VIOLATION, 'STREAM in Initial');
});

ctest('RFC 9000 §12.4: HANDSHAKE_DONE in a server Handshake packet is PROTOCOL_VIOLATION', (t) => {
  const pair = midHandshake((p) => p.state.client.spaces.handshake.rx !== undefined);
  deliver(pair, 'client', longPacket(pair, 'server', 'handshake', framesOf({ type: 'handshakeDone' }, { type: 'padding', length: 20 })));
  assertClosedWith(t, pair, 'client', PROTOCOL_VIOLATION, 'HANDSHAKE_DONE in Handshake');
});

for (const victim of ['client', 'server'] as const) {
  ctest(`RFC 9000 §13.1: an ACK of a packet number never sent is PROTOCOL_VIOLATION (${victim})`, (t) => {
    probe(t, victim, (pair) => framesOf({ type: 'ack', largest: pair.state[victim].spaces.application.nextPn + 100, delay: 0, firstRange: 0, ranges: [] }), PROTOCOL_VIOLATION, 'ACK of an unsent packet', () => connected());
  });

  ctest(`RFC 9000 §12.4: an unknown frame type is FRAME_ENCODING_ERROR (${victim})`, (t) => {
    for (const type of [0x1f, 0x21, 0x3f, 0x4000]) {
      const pair = connected();
      deliver(pair, victim, oneRtt(pair, other(victim), raw((w) => w.varint(type).u8(0).u8(0).u8(0))));
      assertClosedWith(t, pair, victim, E.FRAME_ENCODING_ERROR, `frame type 0x${type.toString(16)}`);
    }
  });

  ctest(`RFC 9000 §12.4: a packet with no frames (empty payload) is PROTOCOL_VIOLATION (${victim})`, (t) => {
    probe(t, victim, new Uint8Array(0), PROTOCOL_VIOLATION, 'empty payload');
  });

  ctest(`RFC 9000 §12.4: a payload of PADDING only is a valid packet (${victim})`, (t) => {
    const pair = connected();
    deliver(pair, victim, oneRtt(pair, other(victim), new Uint8Array(30)));
    t.is(pair.state[victim].phase, 'connected', outcome(pair, victim));
  });

  // Found by this probe and fixed: rxtls never looked at the reserved bits of the first byte after removing header
  // protection: the packet was processed as if they were 0.
  ctest(`RFC 9000 §17.3.1: a 1-RTT packet with a reserved bit set is PROTOCOL_VIOLATION (${victim})`, (t) => {
    for (const bits of [0x08, 0x10, 0x18]) {
      const pair = connected();
      deliver(pair, victim, oneRtt(pair, other(victim), framesOf({ type: 'ping' }, { type: 'padding', length: 10 }), { reserved: bits }));
      assertClosedWith(t, pair, victim, PROTOCOL_VIOLATION, `short header reserved bits 0x${bits.toString(16)}`);
    }
  });
}

// Found by this probe and fixed: a client read a server Initial whatever its Token Length.
ctest('RFC 9000 §17.2.2: a server Initial with a non-empty Token field is discarded or PROTOCOL_VIOLATION', (t) => {
  const pair = midHandshake((p) => p.state.server.spaces.handshake.tx !== undefined);
  const before = pair.state.client.spaces.initial.largestRx;
  deliver(pair, 'client', longPacket(pair, 'server', 'initial', framesOf({ type: 'ping' }, { type: 'padding', length: 20 }), { token: Uint8Array.of(1, 2, 3) }));
  const code = sentCode(pair, 'client');
  t.log(outcome(pair, 'client'), `largest Initial received ${before} → ${pair.state.client.spaces.initial.largestRx}`);
  t.true(code === PROTOCOL_VIOLATION || (code === undefined && pair.state.client.spaces.initial.largestRx === before), outcome(pair, 'client'));
});

// Found by this probe and fixed: only the client's first Initial was held to the 1200-byte datagram (accept.ts).
ctest('RFC 9000 §14.1: a server discards a client Initial in a datagram under 1200 bytes (after the first)', (t) => {
  const pair = midHandshake((p) => p.state.server.handshake !== undefined);
  const before = pair.state.server.spaces.initial.largestRx;
  const datagram = longPacket(pair, 'client', 'initial', framesOf({ type: 'ping' }, { type: 'padding', length: 20 }));
  t.true(datagram.length < 1200);
  deliver(pair, 'server', datagram);
  t.log(`largest Initial received ${before} → ${pair.state.server.spaces.initial.largestRx}`);
  t.is(pair.state.server.spaces.initial.largestRx, before, 'the small Initial was processed');
});

// Found by this probe and fixed: as above, for long headers (reserved bits 0x0c).
ctest('RFC 9000 §17.2: a Handshake packet with a reserved bit set is PROTOCOL_VIOLATION', (t) => {
  const pair = midHandshake((p) => p.state.client.spaces.handshake.tx !== undefined);
  deliver(pair, 'server', longPacket(pair, 'client', 'handshake', framesOf({ type: 'ping' }, { type: 'padding', length: 20 }), { reserved: 0x04 }));
  assertClosedWith(t, pair, 'server', PROTOCOL_VIOLATION, 'long header reserved bit 0x04');
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Streams (RFC 9000 §2, §3, §4, §19)
// ---------------------------------------------------------------------------------------------------------------

const stream = (streamId: number, offset: number, length: number, fin = false): Frame => ({ type: 'stream', streamId, offset, data: new Uint8Array(length), fin });

ctest('RFC 9000 §19.8: STREAM on a locally-initiated bidirectional stream not yet created is STREAM_STATE_ERROR', (t) => {
  probe(t, 'server', framesOf(stream(1, 0, 5)), E.STREAM_STATE_ERROR, 'STREAM on server bidi 1, never opened');
  probe(t, 'server', framesOf(stream(4 * 7 + 1, 0, 5)), E.STREAM_STATE_ERROR, 'STREAM on server bidi 29, never opened');
  probe(t, 'client', framesOf(stream(0, 0, 5)), E.STREAM_STATE_ERROR, 'STREAM on client bidi 0, never opened');
});

ctest('RFC 9000 §19.8: STREAM on our own send-only unidirectional stream is STREAM_STATE_ERROR', (t) => {
  // Not opened yet, and opened.
  probe(t, 'server', framesOf(stream(3, 0, 5)), E.STREAM_STATE_ERROR, 'STREAM on server uni 3, not opened');
  probe(t, 'client', framesOf(stream(2, 0, 5)), E.STREAM_STATE_ERROR, 'STREAM on client uni 2, not opened');
  const pair = connected();
  pair.input('server', { type: 'write', now: pair.now, stream: 3, data: new Uint8Array(4) });
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf(stream(3, 0, 5))));
  assertClosedWith(t, pair, 'server', E.STREAM_STATE_ERROR, 'STREAM on server uni 3, opened');
});

ctest('RFC 9000 §4.6, §19.11: a stream ID past our MAX_STREAMS is STREAM_LIMIT_ERROR', (t) => {
  // 100 of each kind by default: stream index 100 is the first one refused.
  probe(t, 'server', framesOf(stream(4 * 100, 0, 1)), E.STREAM_LIMIT_ERROR, 'client bidi index 100');
  probe(t, 'server', framesOf(stream(4 * 100 + 2, 0, 1)), E.STREAM_LIMIT_ERROR, 'client uni index 100');
  probe(t, 'client', framesOf(stream(4 * 100 + 1, 0, 1)), E.STREAM_LIMIT_ERROR, 'server bidi index 100');
  probe(t, 'client', framesOf(stream(4 * 100 + 3, 0, 1)), E.STREAM_LIMIT_ERROR, 'server uni index 100');
  // The last stream allowed is fine.
  const pair = connected();
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf(stream(4 * 99, 0, 1))));
  t.is(pair.state.server.phase, 'connected', outcome(pair, 'server'));
  // Any frame naming a stream beyond the limit (RESET_STREAM, STOP_SENDING), not just STREAM.
  probe(t, 'server', framesOf({ type: 'resetStream', streamId: 4 * 100, errorCode: 0n, finalSize: 0 }), E.STREAM_LIMIT_ERROR, 'RESET_STREAM on client bidi index 100');
  probe(t, 'server', framesOf({ type: 'stopSending', streamId: 4 * 100, errorCode: 0n }), E.STREAM_LIMIT_ERROR, 'STOP_SENDING on client bidi index 100');
});

// Found by this probe and fixed: MAX_STREAM_DATA and STREAM_DATA_BLOCKED naming a peer stream beyond our limit were
// ignored (the stream was looked up and nothing done if absent; STREAM_DATA_BLOCKED was a no-op).
ctest('RFC 9000 §4.6: MAX_STREAM_DATA / STREAM_DATA_BLOCKED on a stream ID past our MAX_STREAMS is STREAM_LIMIT_ERROR', (t) => {
  probe(t, 'server', framesOf({ type: 'maxStreamData', streamId: 4 * 100, max: 1000 }), E.STREAM_LIMIT_ERROR, 'MAX_STREAM_DATA on client bidi index 100');
  probe(t, 'server', framesOf({ type: 'streamDataBlocked', streamId: 4 * 100, limit: 1000 }), E.STREAM_LIMIT_ERROR, 'STREAM_DATA_BLOCKED on client bidi index 100');
});

ctest('RFC 9000 §4.1, §19.8: data beyond the connection-level limit (MAX_DATA) is FLOW_CONTROL_ERROR', (t) => {
  // 1000 bytes for the connection, 256 KiB per stream: two streams of 600 bytes pass each stream's limit but not the connection's.
  const pair = connected({}, { maxData: 1000 });
  // Nothing is read: reading would re-open the window (a MAX_DATA), and the peer would be entitled to more.
  pair.autoConsume.server = false;
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf(stream(0, 0, 600))));
  t.is(pair.state.server.phase, 'connected', outcome(pair, 'server'));
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf(stream(4, 0, 600))));
  assertClosedWith(t, pair, 'server', E.FLOW_CONTROL_ERROR, 'connection flow control');
  // The same with one STREAM frame far ahead (the highest offset counts, not the bytes received).
  const far = connected({}, { maxData: 1000 });
  far.autoConsume.server = false;
  deliver(far, 'server', oneRtt(far, 'client', framesOf(stream(0, 0, 500), stream(4, 600, 10))));
  assertClosedWith(t, far, 'server', E.FLOW_CONTROL_ERROR, 'connection flow control, by offset');
});

ctest('RFC 9000 §4.1: data beyond the stream limit on a client-side receive stream is FLOW_CONTROL_ERROR', (t) => {
  probe(t, 'client', framesOf(stream(3, 1000, 10)), E.FLOW_CONTROL_ERROR, 'server uni 3 past 1000', () => connected({ maxStreamData: 1000 }));
});

ctest('RFC 9000 §4.5: a final size that changes, or data past the final size, is FINAL_SIZE_ERROR', (t) => {
  const cases: [string, readonly Frame[][]][] = [
    ['data past the FIN', [[stream(0, 0, 10, true)], [stream(0, 10, 5)]]],
    ['a second FIN further on', [[stream(0, 0, 10, true)], [stream(0, 0, 20, true)]]],
    ['a second FIN earlier', [[stream(0, 0, 10, true)], [stream(0, 0, 5, true)]]],
    ['a FIN below data already received', [[stream(0, 0, 10)], [stream(0, 0, 5, true)]]],
    ['RESET_STREAM with a final size above the FIN', [[stream(0, 0, 10, true)], [{ type: 'resetStream', streamId: 0, errorCode: 1n, finalSize: 20 }]]],
    ['STREAM past a RESET_STREAM final size', [[{ type: 'resetStream', streamId: 0, errorCode: 1n, finalSize: 10 }], [stream(0, 5, 10)]]],
  ];
  for (const [what, packets] of cases) {
    const pair = connected();
    pair.autoConsume.server = false; // a stream read to its end would be retired, and late frames ignored
    for (const frames of packets) deliver(pair, 'server', oneRtt(pair, 'client', framesOf(...frames)));
    assertClosedWith(t, pair, 'server', E.FINAL_SIZE_ERROR, what);
  }
});

// Found by this probe and fixed: MAX_STREAM_DATA ignored the stream's direction and whether it existed: on an open
// receive-only stream it even raised the unused send limit.
ctest('RFC 9000 §19.10: MAX_STREAM_DATA for a receive-only stream is STREAM_STATE_ERROR', (t) => {
  // The client's unidirectional stream 2 is receive-only at the server.
  const pair = connected();
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf(stream(2, 0, 5))));
  t.is(pair.state.server.phase, 'connected');
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf({ type: 'maxStreamData', streamId: 2, max: 1 << 20 })));
  assertClosedWith(t, pair, 'server', E.STREAM_STATE_ERROR, 'MAX_STREAM_DATA on client uni 2 (opened)');
  // Also before the peer opened it by a STREAM frame.
  probe(t, 'server', framesOf({ type: 'maxStreamData', streamId: 6, max: 1 << 20 }), E.STREAM_STATE_ERROR, 'MAX_STREAM_DATA on client uni 6');
  probe(t, 'client', framesOf({ type: 'maxStreamData', streamId: 3, max: 1 << 20 }), E.STREAM_STATE_ERROR, 'MAX_STREAM_DATA on server uni 3');
});

// Found by this probe and fixed: as above (the frame was silently ignored).
ctest('RFC 9000 §19.10: MAX_STREAM_DATA for a locally-initiated stream not yet created is STREAM_STATE_ERROR', (t) => {
  probe(t, 'server', framesOf({ type: 'maxStreamData', streamId: 1, max: 1 << 20 }), E.STREAM_STATE_ERROR, 'MAX_STREAM_DATA on server bidi 1, never opened');
  probe(t, 'client', framesOf({ type: 'maxStreamData', streamId: 0, max: 1 << 20 }), E.STREAM_STATE_ERROR, 'MAX_STREAM_DATA on client bidi 0, never opened');
});

// Found by this probe and fixed: STREAM_DATA_BLOCKED was ignored whatever stream it named.
ctest('RFC 9000 §19.13: STREAM_DATA_BLOCKED for a send-only stream is STREAM_STATE_ERROR', (t) => {
  const pair = connected();
  pair.input('server', { type: 'write', now: pair.now, stream: 3, data: new Uint8Array(4) });
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf({ type: 'streamDataBlocked', streamId: 3, limit: 100 })));
  assertClosedWith(t, pair, 'server', E.STREAM_STATE_ERROR, 'STREAM_DATA_BLOCKED on server uni 3 (opened)');
  probe(t, 'client', framesOf({ type: 'streamDataBlocked', streamId: 2, limit: 100 }), E.STREAM_STATE_ERROR, 'STREAM_DATA_BLOCKED on client uni 2');
});

ctest('RFC 9000 §19.5: STOP_SENDING for a locally-initiated stream not yet created is STREAM_STATE_ERROR', (t) => {
  probe(t, 'server', framesOf({ type: 'stopSending', streamId: 1, errorCode: 0n }), E.STREAM_STATE_ERROR, 'STOP_SENDING on server bidi 1');
  probe(t, 'server', framesOf({ type: 'stopSending', streamId: 3, errorCode: 0n }), E.STREAM_STATE_ERROR, 'STOP_SENDING on server uni 3');
  probe(t, 'client', framesOf({ type: 'stopSending', streamId: 3, errorCode: 0n }), E.STREAM_STATE_ERROR, 'STOP_SENDING on server uni 3 (receive-only at the client)');
});

ctest('RFC 9000 §19.4: RESET_STREAM for a locally-initiated stream not yet created is STREAM_STATE_ERROR', (t) => {
  probe(t, 'server', framesOf({ type: 'resetStream', streamId: 1, errorCode: 0n, finalSize: 0 }), E.STREAM_STATE_ERROR, 'RESET_STREAM on server bidi 1');
  probe(t, 'client', framesOf({ type: 'resetStream', streamId: 2, errorCode: 0n, finalSize: 0 }), E.STREAM_STATE_ERROR, 'RESET_STREAM on client uni 2 (send-only)');
});

ctest('RFC 9000 §19.11, §19.14: MAX_STREAMS / STREAMS_BLOCKED above 2^60 is FRAME_ENCODING_ERROR', (t) => {
  for (const victim of ['client', 'server'] as const) {
    for (const type of [0x12, 0x13, 0x16, 0x17]) {
      probe(t, victim, raw((w) => w.u8(type).bytes(varint8(2n ** 60n + 1n))), E.FRAME_ENCODING_ERROR, `frame 0x${type.toString(16)} with 2^60 + 1`);
    }
  }
  // 2^60 itself is allowed.
  const pair = connected();
  deliver(pair, 'server', oneRtt(pair, 'client', raw((w) => w.u8(0x12).bytes(varint8(2n ** 60n)))));
  t.is(pair.state.server.phase, 'connected', outcome(pair, 'server'));
});

ctest('RFC 9000 §19.8: a STREAM frame ending past 2^62 − 1 is FRAME_ENCODING_ERROR (or FLOW_CONTROL_ERROR)', (t) => {
  const pair = connected();
  deliver(pair, 'server', oneRtt(pair, 'client', raw((w) => w.u8(0x0e).u8(0).bytes(varint8(2n ** 62n - 1n)).u8(2).u8(1).u8(2))));
  const code = sentCode(pair, 'server');
  t.true(code === E.FRAME_ENCODING_ERROR || code === E.FLOW_CONTROL_ERROR, outcome(pair, 'server'));
});

// ---------------------------------------------------------------------------------------------------------------
// 4. Connection IDs (RFC 9000 §5.1, §19.15, §19.16)
// ---------------------------------------------------------------------------------------------------------------

const token = (n: number) => new Uint8Array(16).fill(n);
const ncidRaw = (seq: number, retire: number, cid: Uint8Array, tok: Uint8Array = token(seq)) => raw((w) => w.u8(0x18).varint(seq).varint(retire).u8(cid.length).bytes(cid).bytes(tok));

for (const victim of ['client', 'server'] as const) {
  ctest(`RFC 9000 §19.15: NEW_CONNECTION_ID with a 0-byte or 21-byte connection ID is FRAME_ENCODING_ERROR (${victim})`, (t) => {
    probe(t, victim, ncidRaw(5, 0, new Uint8Array(0)), E.FRAME_ENCODING_ERROR, 'zero-length CID');
    probe(t, victim, ncidRaw(5, 0, new Uint8Array(21).fill(3)), E.FRAME_ENCODING_ERROR, '21-byte CID');
  });

  ctest(`RFC 9000 §19.15: a sequence number reused for another connection ID is PROTOCOL_VIOLATION (${victim})`, (t) => {
    const pair = connected();
    // The peer issued sequence 1 when the connection started; a NEW_CONNECTION_ID reuses it for another ID.
    const known = pair.state[victim].cids.peer.find((e) => e.sequence === 1);
    t.truthy(known, 'the peer issued sequence 1');
    deliver(pair, victim, oneRtt(pair, other(victim), ncidRaw(1, 0, new Uint8Array(8).fill(0x66), known?.resetToken ?? token(1))));
    assertClosedWith(t, pair, victim, PROTOCOL_VIOLATION, 'sequence 1 with another CID');
  });

  ctest(`RFC 9000 §19.16: RETIRE_CONNECTION_ID of a sequence never issued is PROTOCOL_VIOLATION (${victim})`, (t) => {
    probe(t, victim, framesOf({ type: 'retireConnectionId', sequence: 1000 }), PROTOCOL_VIOLATION, 'sequence 1000');
  });

  ctest(`RFC 9000 §19.16: RETIRE_CONNECTION_ID of the CID its packet was sent to is PROTOCOL_VIOLATION (${victim})`, (t) => {
    probe(
      t,
      victim,
      (pair) => {
        // The forged packet goes to the sender's current DCID: the victim's CID of that sequence.
        const dcid = pair.state[other(victim)].dcid;
        const issued = pair.state[victim].cids.issued.find((e) => e.id.length === dcid.length && e.id.every((b, i) => b === dcid[i]));
        if (!issued) throw new Error('the DCID in use is not among the victim\'s issued IDs');
        return framesOf({ type: 'retireConnectionId', sequence: issued.sequence });
      },
      PROTOCOL_VIOLATION,
      'retiring the packet\'s own DCID',
    );
  });
}

ctest('RFC 9000 §19.15: NEW_CONNECTION_ID to an endpoint that sends zero-length DCIDs is PROTOCOL_VIOLATION', (t) => {
  // The server uses a zero-length connection ID, so the client sends zero-length DCIDs.
  const pair = new QuicPair();
  let first = true;
  const server = pair.state.server;
  pair.state.server = createQuicConnection(
    { role: 'server', tls: { ...serverCredentials(), alpnProtocols: ['h3'] }, statelessResetKey: new Uint8Array(32).fill(1) },
    (n) => {
      if (first) {
        first = false;
        return new Uint8Array(0);
      }
      return server.config.provider.randomBytes(n);
    },
  );
  t.is(pair.state.server.scid.length, 0);
  pair.start().drive(pair.now + 1_000, () => pair.state.client.phase === 'connected');
  t.is(pair.state.client.dcid.length, 0, 'the client sends zero-length DCIDs');
  deliver(pair, 'client', oneRtt(pair, 'server', ncidRaw(1, 0, new Uint8Array(8).fill(0x77))));
  assertClosedWith(t, pair, 'client', PROTOCOL_VIOLATION, 'NEW_CONNECTION_ID to a zero-length-CID sender');
});

// ---------------------------------------------------------------------------------------------------------------
// 5. Frames only a server sends (RFC 9000 §19.7, §19.20)
// ---------------------------------------------------------------------------------------------------------------

ctest('RFC 9000 §19.20: HANDSHAKE_DONE from a client is PROTOCOL_VIOLATION', (t) => {
  probe(t, 'server', framesOf({ type: 'handshakeDone' }), PROTOCOL_VIOLATION, 'HANDSHAKE_DONE from the client');
});

ctest('RFC 9000 §19.7: a NEW_TOKEN frame with an empty token is FRAME_ENCODING_ERROR', (t) => {
  probe(t, 'client', raw((w) => w.u8(0x07).u8(0)), E.FRAME_ENCODING_ERROR, 'empty NEW_TOKEN');
});

// ---------------------------------------------------------------------------------------------------------------
// 6. CRYPTO (RFC 9000 §7.5, RFC 9001 §4, §6)
// ---------------------------------------------------------------------------------------------------------------

for (const victim of ['client', 'server'] as const) {
  ctest(`RFC 9000 §7.5: CRYPTO data beyond what the endpoint buffers is CRYPTO_BUFFER_EXCEEDED (${victim})`, (t) => {
    probe(t, victim, (pair) => framesOf({ type: 'crypto', offset: pair.state[victim].spaces.application.cryptoRxOffset + 1_000_000, data: new Uint8Array(10) }), E.CRYPTO_BUFFER_EXCEEDED, '1-RTT CRYPTO 1 MB ahead');
  });

  ctest(`RFC 9001 §6: a TLS KeyUpdate message in 1-RTT CRYPTO closes with PROTOCOL_VIOLATION or 0x010a (${victim})`, (t) => {
    const pair = connected();
    const keyUpdate = Uint8Array.of(24, 0, 0, 1, 0); // KeyUpdate { update_not_requested }
    deliver(pair, victim, oneRtt(pair, other(victim), framesOf({ type: 'crypto', offset: pair.state[victim].spaces.application.cryptoRxOffset, data: keyUpdate })));
    const code = sentCode(pair, victim);
    t.log(outcome(pair, victim));
    t.true(code === PROTOCOL_VIOLATION || code === E.CRYPTO_ERROR + 10n, outcome(pair, victim));
  });
}

ctest('RFC 9001 §4, RFC 8446 §4.6.1: a NewSessionTicket from a client in 1-RTT CRYPTO is 0x010a (unexpected_message)', (t) => {
  const pair = connected();
  // lifetime, age_add, an empty nonce, a 1-byte ticket, no extensions: well formed, but only servers send it.
  const ticket = Uint8Array.of(4, 0, 0, 14, 0, 0, 0x0e, 0x10, 1, 2, 3, 4, 0, 0, 1, 0xaa, 0, 0);
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf({ type: 'crypto', offset: pair.state.server.spaces.application.cryptoRxOffset, data: ticket })));
  const code = sentCode(pair, 'server');
  t.log(outcome(pair, 'server'));
  t.true(code === E.CRYPTO_ERROR + 10n || code === PROTOCOL_VIOLATION, outcome(pair, 'server'));
});

// ---------------------------------------------------------------------------------------------------------------
// 7. 1-RTT before the handshake completes, key update (RFC 9001 §5.7, §6)
// ---------------------------------------------------------------------------------------------------------------

ctest('RFC 9001 §5.7: a server does not process 1-RTT packets before the handshake is complete', (t) => {
  const pair = finishedWithheld();
  t.is(pair.state.server.phase, 'handshake', 'the client\'s Finished was withheld');
  t.log(`server 1-RTT read keys before completion: ${pair.state.server.keyPhase?.rx ? 'yes' : 'no'}`);
  const out = pair.input('server', { type: 'datagram', now: pair.now, data: oneRtt(pair, 'client', framesOf(stream(0, 0, 5, true))) });
  t.deepEqual(out.filter((e) => e.type === 'deliver' || e.type === 'peerClosed'), [], 'no stream data delivered before the client is authenticated');
  t.not(sentCode(pair, 'server'), E.INTERNAL_ERROR, outcome(pair, 'server'));
});

ctest('RFC 9001 §6.1: a key phase change before the handshake is confirmed is KEY_UPDATE_ERROR or ignored, never an internal error', (t) => {
  const pair = finishedWithheld();
  const c = pair.state.client;
  const k = c.keyPhase!;
  const next = nextSecret(c.config.provider, k.hash, k.txSecret!);
  const keys = { ...packetKeys(c.config.provider, k.hash, k.alg, next), hp: c.spaces.application.tx!.hp };
  const out = pair.input('server', { type: 'datagram', now: pair.now, data: oneRtt(pair, 'client', framesOf(stream(0, 0, 5)), { keys, keyPhase: true }) });
  const code = sentCode(pair, 'server');
  t.log(outcome(pair, 'server'), `key generation ${pair.state.server.keyPhase?.generation}`);
  t.true(code === undefined || code === KEY_UPDATE_ERROR, outcome(pair, 'server'));
  t.deepEqual(out.filter((e) => e.type === 'deliver'), [], 'nothing delivered from an unconfirmed, updated key');
});

ctest('RFC 9001 §6.1, §6.2: a client accepts the server\'s key update before HANDSHAKE_DONE (the server is confirmed at completion)', (t) => {
  // The client completed, and the server's HANDSHAKE_DONE has not reached it yet.
  const pair = new QuicPair();
  pair.drop = (from) => from === 'server' && pair.state.server.phase === 'connected';
  pair.start().drive(pair.now + 1_000, () => pair.state.client.phase === 'connected');
  pair.settle();
  pair.drop = () => false;
  t.false(pair.state.client.spaces.handshake.discarded, 'not confirmed');
  const s = pair.state.server;
  const k = s.keyPhase!;
  const next = nextSecret(s.config.provider, k.hash, k.txSecret!);
  const keys = { ...packetKeys(s.config.provider, k.hash, k.alg, next), hp: s.spaces.application.tx!.hp };
  deliver(pair, 'client', oneRtt(pair, 'server', framesOf({ type: 'ping' }, { type: 'padding', length: 10 }), { keys, keyPhase: true }));
  const code = sentCode(pair, 'client');
  t.log(outcome(pair, 'client'), `key generation ${pair.state.client.keyPhase?.generation}`);
  t.true(code === undefined || code === KEY_UPDATE_ERROR, outcome(pair, 'client'));
  t.not(code, E.INTERNAL_ERROR);
});

// A reducer run on each state of a pair must never throw on these inputs: checked across all of the above by
// `assertClosedWith` (a throw fails the test). One more: the same hostile datagram to a closing endpoint.
ctest('RFC 9000 §10.2.1: a closing endpoint answers further hostile packets without throwing', (t) => {
  const pair = connected();
  deliver(pair, 'server', oneRtt(pair, 'client', framesOf({ type: 'handshakeDone' })));
  t.is(pair.state.server.phase, 'closing');
  t.notThrows(() => handleQuicEvents(pair.state.server, { type: 'datagram', now: pair.now, data: oneRtt(pair, 'client', new Uint8Array(0)) }));
});
