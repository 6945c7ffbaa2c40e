/**
 * Shared pieces of the QUIC conformance probes (test/quic/conformance.test.ts, conformance3.test.ts): the close
 * code a side sent, and tests whose probes are all checked at their end, so one miss does not hide the others.
 */
import test, { type ExecutionContext } from 'ava';
import { concatBytes } from '../vectors/hex.js';
import { encodeWith } from '../../src/wire/writer.js';
import { initialKeys, protectPacket, type PacketKeys } from '../../src/quic/protection.js';
import type { QuicState } from '../../src/quic/connection.js';
import { encodeShortHeader } from '../../src/wire/quic/packet.js';
import { startQuicHandshake } from '../../src/quic/handshake.js';
import { newSpace } from '../../src/quic/spaces.js';
import { varint8 } from './quicFrames.js';
import { enc } from './fixtures.js';
import { QuicPair, type Side, quicOutcome as outcome } from './quicPair.js';

/** The transport error code of the CONNECTION_CLOSE `side` sent (undefined if it sent none). */
export function sentCode(pair: QuicPair, side: Side): bigint | undefined {
  const f = pair.state[side].closeFrame;
  if (f) return f.kind === 'transport' ? f.errorCode : undefined;
  const d = pair.state[side].closeError?.detail;
  return d?.kind === 'quicClose' && d.local && !d.application ? d.code : undefined;
}

/** Probes of each test that did not get the outcome they expect: all reported at the end ({@link ctest}). */
const misses = new WeakMap<ExecutionContext, string[]>();

/** Record a probe of `t` that missed its outcome. */
export const miss = (t: ExecutionContext, what: string): void => void misses.set(t, [...(misses.get(t) ?? []), what]);

/** `side` closed with transport error `code`. A miss does not stop the test: all are listed when it ends. */
export function assertClosedWith(t: ExecutionContext, pair: QuicPair, side: Side, code: bigint, what: string): void {
  t.log(`${side}: ${what}: ${outcome(pair, side)}`);
  if (sentCode(pair, side) !== code) miss(t, `${side}: ${what} → expected 0x${code.toString(16)}; got: ${outcome(pair, side)}`);
}

/** `side` is still connected, sent no CONNECTION_CLOSE. */
export function assertAlive(t: ExecutionContext, pair: QuicPair, side: Side, what: string): void {
  t.log(`${side}: ${what}: ${outcome(pair, side)}`);
  if (pair.state[side].phase !== 'connected') miss(t, `${side}: ${what} → expected to stay connected; got: ${outcome(pair, side)}`);
}

/** An ava test whose probes are all checked at its end. */
export function ctest(title: string, body: (t: ExecutionContext) => void): void {
  test(title, (t) => {
    body(t);
    t.deepEqual(misses.get(t) ?? [], [], 'probes that did not get the RFC\'s outcome');
  });
}

// --- Transport parameters (RFC 9000 §18), forged as raw blocks ---

/** One transport parameter: its identifier (any varint) and its encoded value. */
export type Param = readonly [id: number | bigint, value: Uint8Array];
/** A minimal varint below 2^53. */
export const vint = (n: number): Uint8Array => encodeWith((w) => w.varint(n));
/** A varint of any value, minimal. */
const vbig = (n: bigint): Uint8Array => (n < 2n ** 53n ? vint(Number(n)) : varint8(n));
/** The transport parameters block of `params`, in order. */
export const encodeParams = (params: readonly Param[]): Uint8Array => concatBytes(...params.map(([id, v]) => concatBytes(vbig(BigInt(id)), vint(v.length), v)));
const limits: readonly Param[] = [
  [0x01, vint(30_000)],
  [0x04, vint(1 << 20)],
  [0x05, vint(256 * 1024)],
  [0x06, vint(256 * 1024)],
  [0x07, vint(256 * 1024)],
  [0x08, vint(100)],
  [0x09, vint(100)],
];
/** The parameters a well-behaved client of `pair` sends. */
export const clientParams = (pair: QuicPair): Param[] => [[0x0f, pair.state.client.scid], ...limits];
/** The parameters a well-behaved server of `pair` sends. */
export const serverParams = (pair: QuicPair): Param[] => [
  [0x00, pair.state.client.originalDcid],
  [0x0f, pair.state.server.scid],
  [0x02, pair.state.server.cids.issued[0]!.resetToken],
  ...limits,
];
/** `params` without parameter `id`. */
export const without = (params: readonly Param[], id: number): Param[] => params.filter(([i]) => i !== id);
/** `params` with parameter `id` set to `value` (moved to the end). */
export const replace = (params: readonly Param[], id: number, value: Uint8Array): Param[] => [...without(params, id), [id, value]];

/** A pair whose server's EncryptedExtensions carry `params` as its quic_transport_parameters; run to quiet. */
export function serverWithParams(params: (pair: QuicPair) => Uint8Array): QuicPair {
  const pair = new QuicPair();
  pair.input('server', { type: 'start', now: pair.now });
  const c = pair.state.client;
  const s = pair.state.server;
  const keys = initialKeys(s.config.provider, c.originalDcid);
  const step = startQuicHandshake({ role: 'server', tls: s.config.tls, provider: s.config.provider, transportParameters: params(pair) }, pair.now);
  // As the server's first Initial would set it up (connection.ts `onDatagram`), with the test's handshake.
  pair.state.server = {
    ...s,
    handshake: step.handshake,
    dcid: c.scid,
    originalDcid: c.originalDcid,
    spaces: { initial: { ...newSpace(), tx: keys.server, rx: keys.client }, handshake: newSpace(), application: newSpace() },
  };
  pair.input('client', { type: 'start', now: pair.now });
  return pair.settle();
}

// ---------------------------------------------------------------------------------------------------------------
// Pairs at a given point, and a check that the connection still carries data

/** Client bidirectional stream IDs for {@link exchange}, per pair: well above any a probe forges. */
const exchangeStreams = new WeakMap<QuicPair, number>();

/**
 * The connection still works: the client sends a request on a new bidirectional stream, the server answers on it,
 * both with FIN, through the pair (timers included). Recorded as a miss when either side does not get it all.
 */
export function exchange(t: ExecutionContext, pair: QuicPair, what: string): void {
  if (pair.state.client.phase !== 'connected' || pair.state.server.phase !== 'connected') {
    miss(t, `${what}: no exchange, not connected: client ${outcome(pair, 'client')}; server ${outcome(pair, 'server')}`);
    return;
  }
  const index = exchangeStreams.get(pair) ?? 60;
  exchangeStreams.set(pair, index + 1);
  const id = 4 * index;
  const ask = `request ${index}`;
  const answer = `response ${index}`;
  pair.input('client', { type: 'write', now: pair.now, stream: id, data: enc(ask) });
  pair.input('client', { type: 'end', now: pair.now, stream: id });
  pair.drive(pair.now + 10_000, () => pair.text('server', id) === ask || pair.state.server.phase !== 'connected');
  if (pair.text('server', id) !== ask) {
    miss(t, `${what}: the server got ${JSON.stringify(pair.text('server', id))}; client ${outcome(pair, 'client')}; server ${outcome(pair, 'server')}`);
    return;
  }
  pair.input('server', { type: 'write', now: pair.now, stream: id, data: enc(answer) });
  pair.input('server', { type: 'end', now: pair.now, stream: id });
  pair.drive(pair.now + 10_000, () => pair.text('client', id) === answer || pair.state.client.phase !== 'connected');
  if (pair.text('client', id) !== answer) miss(t, `${what}: the client got ${JSON.stringify(pair.text('client', id))}; client ${outcome(pair, 'client')}; server ${outcome(pair, 'server')}`);
}

/** A pair where the client completed its handshake but its Finished never reached the server. */
export function finishedWithheld(): QuicPair {
  const pair = new QuicPair();
  pair.drop = (from) => from === 'client' && pair.state.client.phase === 'connected';
  pair.start().drive(pair.now + 1_000, () => pair.state.client.phase === 'connected');
  pair.settle();
  pair.drop = () => false;
  return pair;
}

/** The client's first datagram is captured and not delivered; the server has started. */
export function firstInitialWithheld(pair = new QuicPair()): { pair: QuicPair; first: Uint8Array } {
  let first: Uint8Array | undefined;
  pair.drop = (from, n, data) => {
    if (from === 'client' && n === 0) first = data;
    return from === 'client' && n === 0;
  };
  pair.start();
  pair.drop = () => false;
  return { pair, first: first! };
}

// ---------------------------------------------------------------------------------------------------------------
// Forged 1-RTT packets

/** Packet numbers for forged packets in spaces the forger can no longer number (discarded): far above its own. */
let spareForgedPn = 50_000;

/** Take the next packet number of `from`'s space `id` for a forged packet, and make `from` skip it. */
export function takePn(pair: QuicPair, from: Side, id: 'initial' | 'handshake' | 'application'): number {
  const s = pair.state[from];
  const space = s.spaces[id];
  if (space.discarded) return spareForgedPn++;
  const n = space.nextPn;
  pair.state[from] = { ...s, spaces: { ...s.spaces, [id]: { ...space, nextPn: n + 1 } } } as QuicState;
  return n;
}

export interface OneRttOpts {
  /** Seal with these keys instead of the sender's current write keys. */
  readonly keys?: PacketKeys;
  /** The Key Phase bit (default: the sender's current one). */
  readonly keyPhase?: boolean;
  /** This packet number (default: the sender's next one, which it then skips). */
  readonly pn?: number;
  readonly pnLength?: 1 | 2 | 3 | 4;
  /** Clear the fixed bit (0x40) of the first byte. */
  readonly fixedBit0?: boolean;
  /** Another Destination Connection ID than the sender's current one. */
  readonly dcid?: Uint8Array;
}

/** A 1-RTT packet from `from` carrying `payload` (raw frame bytes), to its current DCID (or `dcid`). */
export function oneRtt(pair: QuicPair, from: Side, payload: Uint8Array, opts: OneRttOpts = {}): Uint8Array {
  const c = pair.state[from];
  const n = opts.pn ?? takePn(pair, from, 'application');
  const keyPhase = opts.keyPhase ?? c.spaces.application.keyPhase === 1;
  const header = encodeShortHeader({ dcid: opts.dcid ?? c.dcid, packetNumber: n, pnLength: opts.pnLength ?? 4, ...(keyPhase ? { keyPhase: true } : {}) });
  if (opts.fixedBit0) header[0] = header[0]! & ~0x40;
  return protectPacket(c.config.provider, opts.keys ?? c.spaces.application.tx!, header, n, payload);
}
