/**
 * Properties over random interleavings of application commands and network faults, driving the three
 * connection reducers (TLS 1.3 over a byte stream, DTLS 1.3 over a lossy datagram link, QUIC over a lossy
 * datagram link) in memory, to find state-machine crashes: no exception may escape a reducer except a
 * synchronous `TlsError` of kind `apiMisuse` (which leaves the state usable), what one side delivers is what
 * the other wrote, and a connection that ends does so with a typed, non-internal error (or none).
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { TlsError } from '../../src/core/errors.js';
import { maxDtlsWrite } from '../../src/dtls/connection.js';
import type { DtlsCloseMode } from '../../src/dtls/types.js';
import type { QuicCloseMode, QuicEffect } from '../../src/quic/types.js';
import type { TlsCloseMode, TlsEffect } from '../../src/tls/types.js';
import { DtlsPair, type LinkAction } from '../helpers/dtlsPair.js';
import { Pair, type Side } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';

const SIDES = ['client', 'server'] as const;
const peerOf = (s: Side): Side => (s === 'client' ? 'server' : 'client');
const sideArb = fc.constantFrom<Side>(...SIDES);

/** Deterministic pseudo-random bytes: byte `i` of the stream named by `tag`, from `offset` on. */
function pattern(tag: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const x = Math.imul((offset + i) ^ Math.imul(tag, 0x9e3779b1), 0x85ebca6b);
    out[i] = (x ^ (x >>> 13) ^ (x >>> 24)) & 0xff;
  }
  return out;
}

const concat = (parts: readonly Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const isPrefix = (prefix: Uint8Array, whole: Uint8Array): boolean =>
  prefix.length <= whole.length && Buffer.compare(Buffer.from(prefix), Buffer.from(whole.subarray(0, prefix.length))) === 0;

/**
 * Run one input; an escaping exception fails the property unless it is a TlsError `apiMisuse` (then the state
 * must still take `probe`, a harmless input, without throwing). Returns whether the input was accepted.
 */
function guarded(what: string, run: () => void, probe: () => void): boolean {
  try {
    run();
    return true;
  } catch (e) {
    if (!(e instanceof TlsError) || e.kind !== 'apiMisuse') {
      throw new Error(`${what} threw ${e instanceof TlsError ? `TlsError ${e.kind}` : String(e)}: ${(e as Error)?.stack ?? e}`);
    }
  }
  try {
    probe();
  } catch (e) {
    throw new Error(`after an apiMisuse from ${what}, the state is unusable: ${String(e)}`);
  }
  return false;
}

/** No `closed` effect may carry an internal error (a bug inside rxtls: internal_error on the wire). */
function noInternalClose(side: Side, effects: readonly (TlsEffect | QuicEffect | { type: string; error?: TlsError })[]): void {
  for (const e of effects) {
    if (e.type === 'closed' && 'error' in e && e.error?.kind === 'internal') throw new Error(`${side} closed with an internal error: ${e.error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// 1. TLS 1.3

type TlsAction =
  | { readonly k: 'write'; readonly side: Side; readonly len: number }
  | { readonly k: 'end'; readonly side: Side }
  | { readonly k: 'keyUpdate'; readonly side: Side; readonly requestPeer: boolean }
  | { readonly k: 'close'; readonly side: Side; readonly mode: TlsCloseMode }
  | { readonly k: 'deliver'; readonly to: Side; readonly cuts: readonly number[]; readonly portion: number }
  | { readonly k: 'advance'; readonly ms: number };

const tlsActionArb: fc.Arbitrary<TlsAction> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('write' as const), side: sideArb, len: fc.oneof(fc.nat({ max: 64 }), fc.nat({ max: 40_000 })) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('end' as const), side: sideArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('keyUpdate' as const), side: sideArb, requestPeer: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const), side: sideArb, mode: fc.constantFrom<TlsCloseMode>('abort', 'shutdown', 'unidirectional', 'quiet') }) },
  {
    weight: 10,
    arbitrary: fc.record({
      k: fc.constant('deliver' as const),
      to: sideArb,
      cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
      portion: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.oneof(fc.nat({ max: 100 }), fc.nat({ max: 60_000 })) }) },
);

/** Split `data` at the fractional `cuts`, each piece a fresh buffer. */
function split(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * data.length)))].filter((n) => n > 0 && n < data.length).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const n of [...at, data.length]) {
    out.push(data.slice(from, n));
    from = n;
  }
  return out.filter((p) => p.length > 0);
}

function tlsRun(actions: readonly TlsAction[]): number {
  const p = new Pair().start().drive();
  for (const s of SIDES) if (!p.of(s, 'handshakeComplete').length) throw new Error(`${s}: no handshake`);
  const written: Record<Side, Uint8Array[]> = { client: [], server: [] };
  const offset: Record<Side, number> = { client: 0, server: 0 };
  const ended: Record<Side, boolean> = { client: false, server: false };
  let closedByApp = false;
  const probe = (side: Side) => () => p.input(side, { type: 'timeout', now: p.now });
  const deliver = (to: Side, cuts: readonly number[], portion: number) => {
    const pending = concat(p.inbox[to].splice(0));
    const n = Math.ceil(pending.length * portion);
    if (n < pending.length) p.inbox[to].push(pending.slice(n));
    for (const piece of split(pending.subarray(0, n), cuts)) {
      guarded(`${to} received ${piece.length} bytes`, () => p.input(to, { type: 'received', now: p.now, data: piece }), probe(to));
    }
  };
  for (const a of actions) {
    switch (a.k) {
      case 'write': {
        const data = pattern(a.side === 'client' ? 1 : 2, offset[a.side], a.len);
        if (guarded(`${a.side} write ${a.len}`, () => p.input(a.side, { type: 'write', now: p.now, data }), probe(a.side))) {
          written[a.side].push(data);
          offset[a.side] += a.len;
        }
        break;
      }
      case 'end':
        if (guarded(`${a.side} end`, () => p.input(a.side, { type: 'end', now: p.now }), probe(a.side))) ended[a.side] = true;
        break;
      case 'keyUpdate':
        guarded(`${a.side} keyUpdate`, () => p.input(a.side, { type: 'keyUpdate', now: p.now, requestPeer: a.requestPeer }), probe(a.side));
        break;
      case 'close':
        if (guarded(`${a.side} close ${a.mode}`, () => p.input(a.side, { type: 'close', now: p.now, mode: a.mode }), probe(a.side))) closedByApp = true;
        break;
      case 'deliver':
        deliver(a.to, a.cuts, a.portion);
        break;
      case 'advance':
        guarded(`advance ${a.ms}`, () => p.advance(a.ms), probe('client'));
        break;
    }
    for (const s of SIDES) {
      const got = concat(p.delivered[s]);
      const sent = concat(written[peerOf(s)]);
      if (!isPrefix(got, sent)) throw new Error(`${s} delivered ${got.length} bytes that are not a prefix of the ${sent.length} ${peerOf(s)} wrote`);
      noInternalClose(s, p.effects[s]);
    }
  }
  // Deliver everything still in flight.
  for (let i = 0; i < 50 && (p.inbox.client.length || p.inbox.server.length); i++) for (const s of SIDES) deliver(s, [], 1);
  if (ended.client && ended.server && !closedByApp) {
    for (const s of SIDES) {
      const got = concat(p.delivered[s]);
      const sent = concat(written[peerOf(s)]);
      if (got.length !== sent.length) throw new Error(`${s} delivered ${got.length} of the ${sent.length} bytes ${peerOf(s)} wrote before its end`);
      if (!p.of(s, 'peerClosed').length) throw new Error(`${s}: both sides ended, no peerClosed`);
      const closed = p.of(s, 'closed');
      if (closed.some((e) => e.type === 'closed' && e.error)) throw new Error(`${s}: closed with an error after a clean end both ways: ${p.closedError(s)?.message}`);
      if (!closed.length) throw new Error(`${s}: both sides ended and everything was delivered, but no closed`);
    }
  }
  // What the run carried, for the test to show the properties were exercised, not vacuous.
  return SIDES.reduce((n, s) => n + concat(p.delivered[s]).length, 0);
}

/**
 * The property held (fc.assert threw otherwise) over every run, and the runs carried data: a property whose actions
 * never got anything through would hold vacuously. `carried` is what each run delivered.
 */
function exercised(t: ExecutionContext, carried: readonly number[], what: string): void {
  t.is(carried.length, 60, 'every run was made');
  t.true(carried.filter((n) => n > 0).length >= 10, `${what}: ${carried.filter((n) => n > 0).length} of 60 runs carried any`);
}

test('TLS 1.3: random writes, ends, key updates, closes, chunked delivery and time keep the reducers sound', (t) => {
  const carried: number[] = [];
  fc.assert(fc.property(fc.array(tlsActionArb, { minLength: 5, maxLength: 40, size: 'max' }), (actions) => void carried.push(tlsRun(actions))), { seed: 0x7153, numRuns: 60 });
  exercised(t, carried, 'bytes delivered');
});

// ---------------------------------------------------------------------------------------------------------
// 2. DTLS 1.3

type DtlsAction =
  | { readonly k: 'write'; readonly side: Side; readonly frac: number }
  | { readonly k: 'end'; readonly side: Side }
  | { readonly k: 'keyUpdate'; readonly side: Side; readonly requestPeer: boolean }
  | { readonly k: 'close'; readonly side: Side; readonly mode: DtlsCloseMode }
  | { readonly k: 'run'; readonly ms: number };

const dtlsActionArb: fc.Arbitrary<DtlsAction> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('write' as const), side: sideArb, frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('end' as const), side: sideArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('keyUpdate' as const), side: sideArb, requestPeer: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const), side: sideArb, mode: fc.constantFrom<DtlsCloseMode>('abort', 'shutdown', 'unidirectional', 'quiet', 'fatal') }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('run' as const), ms: fc.oneof(fc.nat({ max: 50 }), fc.nat({ max: 5_000 }), fc.nat({ max: 120_000 })) }) },
);

const linkArb: fc.Arbitrary<LinkAction> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('deliver' as const) },
  { weight: 2, arbitrary: fc.constant('drop' as const) },
  { weight: 1, arbitrary: fc.constant('duplicate' as const) },
  { weight: 1, arbitrary: fc.record({ delay: fc.nat({ max: 300 }) }) },
);

const key = (b: Uint8Array) => Buffer.from(b).toString('hex');

function dtlsRun(actions: readonly DtlsAction[], link: readonly LinkAction[]): number {
  const p = new DtlsPair();
  p.start();
  p.run(p.now + 10_000);
  for (const s of SIDES) if (!p.effects[s].some((e) => e.type === 'handshakeComplete')) throw new Error(`${s}: no handshake`);
  // From now on the link drops, duplicates and delays datagrams as `link` says (cycling).
  let n = 0;
  p.filter = () => (link.length ? link[n++ % link.length]! : 'deliver');
  const written: Record<Side, Map<string, number>> = { client: new Map(), server: new Map() };
  const seq: Record<Side, number> = { client: 0, server: 0 };
  const probe = (side: Side) => () => p.input(side, { type: 'timeout' });
  for (const a of actions) {
    switch (a.k) {
      case 'write': {
        let max = 0;
        try {
          max = maxDtlsWrite(p[a.side]);
        } catch (e) {
          if (!(e instanceof TlsError && e.kind === 'apiMisuse')) throw e;
        }
        const len = Math.floor(a.frac * max);
        const data = pattern(a.side === 'client' ? 3 : 4, 1_000_000 * ++seq[a.side], len);
        if (guarded(`${a.side} write ${len}/${max}`, () => p.input(a.side, { type: 'write', data }), probe(a.side))) {
          written[a.side].set(key(data), (written[a.side].get(key(data)) ?? 0) + 1);
        }
        break;
      }
      case 'end':
        guarded(`${a.side} end`, () => p.input(a.side, { type: 'end' }), probe(a.side));
        break;
      case 'keyUpdate':
        guarded(`${a.side} keyUpdate`, () => p.input(a.side, { type: 'keyUpdate', requestPeer: a.requestPeer }), probe(a.side));
        break;
      case 'close':
        guarded(`${a.side} close ${a.mode}`, () => p.input(a.side, { type: 'close', mode: a.mode }), probe(a.side));
        break;
      case 'run':
        guarded(`run ${a.ms}`, () => p.run(p.now + a.ms, 5_000), probe('client'));
        break;
    }
    for (const s of SIDES) {
      // Every delivered record was written by the peer, and none is delivered more often than it was written.
      const left = new Map(written[peerOf(s)]);
      for (const d of p.delivered[s]) {
        const c = left.get(key(d)) ?? 0;
        if (c === 0) throw new Error(`${s} delivered a ${d.length}-byte record ${peerOf(s)} never wrote (or more often than written)`);
        left.set(key(d), c - 1);
      }
      noInternalClose(s, p.effects[s]);
    }
  }
  return SIDES.reduce((n, s) => n + p.delivered[s].length, 0);
}

test('DTLS 1.3: random writes, ends, key updates and closes over a lossy, duplicating, reordering link keep the reducers sound', (t) => {
  const carried: number[] = [];
  fc.assert(
    fc.property(fc.array(dtlsActionArb, { minLength: 5, maxLength: 40, size: 'max' }), fc.array(linkArb, { maxLength: 30 }), (actions, link) => void carried.push(dtlsRun(actions, link))),
    { seed: 0xd715, numRuns: 60 },
  );
  exercised(t, carried, 'records delivered');
});

// ---------------------------------------------------------------------------------------------------------
// 3. QUIC

/** Streams a side writes on: its own bidirectional ones, the peer's first bidirectional one, its own unidirectional one. */
const WRITE_STREAMS: Record<Side, readonly number[]> = { client: [0, 4, 1, 2], server: [1, 5, 0, 3] };
/** Streams a side receives on: the peer's bidirectional and unidirectional ones and its own bidirectional one. */
const READ_STREAMS: Record<Side, readonly number[]> = { client: [1, 3, 0, 4], server: [0, 2, 1, 5] };

type QuicAction =
  | { readonly k: 'write'; readonly side: Side; readonly i: number; readonly len: number }
  | { readonly k: 'end'; readonly side: Side; readonly i: number }
  | { readonly k: 'reset'; readonly side: Side; readonly i: number; readonly code: bigint }
  | { readonly k: 'stopSending'; readonly side: Side; readonly i: number; readonly code: bigint }
  | { readonly k: 'close'; readonly side: Side; readonly mode: QuicCloseMode; readonly code: bigint }
  | { readonly k: 'drive'; readonly ms: number };

const streamIdx = fc.nat({ max: 3 });
const appCode = fc.bigInt({ min: 0n, max: 2n ** 62n - 1n });
const quicActionArb: fc.Arbitrary<QuicAction> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ k: fc.constant('write' as const), side: sideArb, i: streamIdx, len: fc.oneof(fc.nat({ max: 100 }), fc.nat({ max: 20_000 })) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('end' as const), side: sideArb, i: streamIdx }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reset' as const), side: sideArb, i: streamIdx, code: appCode }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('stopSending' as const), side: sideArb, i: streamIdx, code: appCode }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const), side: sideArb, mode: fc.constantFrom<QuicCloseMode>('graceful', 'rapid', 'silent'), code: appCode }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('drive' as const), ms: fc.oneof(fc.nat({ max: 20 }), fc.nat({ max: 2_000 }), fc.nat({ max: 10_000 })) }) },
);

function quicRun(actions: readonly QuicAction[], drops: readonly boolean[], latency: number): number {
  const p = new QuicPair();
  p.latency = latency;
  p.start().drive(p.now + 1_000);
  for (const s of SIDES) if (p.state[s].phase !== 'connected') throw new Error(`${s}: not connected after the handshake (${p.state[s].phase})`);
  let n = 0;
  p.drop = () => (drops.length ? drops[n++ % drops.length]! : false);
  const written: Record<Side, Map<number, Uint8Array[]>> = { client: new Map(), server: new Map() };
  const offset = new Map<string, number>();
  const probe = (side: Side) => () => p.input(side, { type: 'timeout', now: p.now });
  for (const a of actions) {
    switch (a.k) {
      case 'write': {
        const stream = WRITE_STREAMS[a.side][a.i]!;
        const at = offset.get(`${a.side}/${stream}`) ?? 0;
        const data = pattern(stream * 2 + (a.side === 'client' ? 5 : 6), at, a.len);
        if (guarded(`${a.side} write ${a.len} on ${stream}`, () => p.input(a.side, { type: 'write', now: p.now, stream, data }), probe(a.side))) {
          const m = written[a.side];
          m.set(stream, [...(m.get(stream) ?? []), data]);
          offset.set(`${a.side}/${stream}`, at + a.len);
        }
        break;
      }
      case 'end': {
        const stream = WRITE_STREAMS[a.side][a.i]!;
        guarded(`${a.side} end ${stream}`, () => p.input(a.side, { type: 'end', now: p.now, stream }), probe(a.side));
        break;
      }
      case 'reset': {
        const stream = WRITE_STREAMS[a.side][a.i]!;
        guarded(`${a.side} resetStream ${stream}`, () => p.input(a.side, { type: 'resetStream', now: p.now, stream, errorCode: a.code }), probe(a.side));
        break;
      }
      case 'stopSending': {
        const stream = READ_STREAMS[a.side][a.i]!;
        guarded(`${a.side} stopSending ${stream}`, () => p.input(a.side, { type: 'stopSending', now: p.now, stream, errorCode: a.code }), probe(a.side));
        break;
      }
      case 'close':
        guarded(`${a.side} close ${a.mode}`, () => p.input(a.side, { type: 'close', now: p.now, mode: a.mode, errorCode: a.code }), probe(a.side));
        break;
      case 'drive':
        guarded(`drive ${a.ms}`, () => p.drive(p.now + a.ms, () => false, 20_000), probe('client'));
        break;
    }
    for (const s of SIDES) {
      for (const [stream, parts] of p.delivered[s]) {
        const got = concat(parts);
        const sent = concat(written[peerOf(s)].get(stream) ?? []);
        if (!isPrefix(got, sent)) throw new Error(`${s} stream ${stream}: delivered ${got.length} bytes, not a prefix of the ${sent.length} ${peerOf(s)} wrote`);
      }
      const st = p.state[s];
      const d = st.closeError?.detail;
      if (d?.kind === 'internal') throw new Error(`${s}: closed with an internal error: ${st.closeError!.message}`);
      if (d?.kind === 'quicClose' && !d.application && d.code === 1n) throw new Error(`${s}: closed with INTERNAL_ERROR: ${st.closeError!.message}`);
      const f = st.closeFrame;
      if (f && f.kind === 'transport' && f.errorCode === 1n) throw new Error(`${s}: sent CONNECTION_CLOSE INTERNAL_ERROR: ${new TextDecoder().decode(f.reason)}`);
      if (st.phase !== 'connected' && st.phase !== 'closing' && st.phase !== 'draining' && st.phase !== 'closed') throw new Error(`${s}: phase ${st.phase}`);
      noInternalClose(s, p.effects[s]);
    }
  }
  return SIDES.reduce((n, s) => n + [...p.delivered[s].values()].reduce((m, parts) => m + concat(parts).length, 0), 0);
}

test('QUIC: random stream writes, ends, resets, STOP_SENDING and closes over a lossy link keep the reducers sound', (t) => {
  const carried: number[] = [];
  fc.assert(
    fc.property(
      fc.array(quicActionArb, { minLength: 5, maxLength: 40, size: 'max' }),
      fc.array(fc.boolean(), { maxLength: 30 }).map((a) => a.map((b, i) => b && i % 3 === 0)),
      fc.nat({ max: 30 }),
      (actions, drops, latency) => void carried.push(quicRun(actions, drops, latency)),
    ),
    { seed: 0x9c1c, numRuns: 60 },
  );
  exercised(t, carried, 'stream bytes delivered');
});
