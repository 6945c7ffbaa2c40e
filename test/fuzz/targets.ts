/**
 * Fuzz targets: a malicious peer that holds the keys. Every other hostile-input test feeds bytes an outsider could
 * send (records that fail authentication, mutated plaintext hellos). Here the attacker is the other endpoint of an
 * established connection, or of a handshake in progress, so its inputs pass authentication and reach every parser
 * and state behind it:
 * - `quicFrames`: 1-RTT packets protected under the peer's keys, carrying frame sequences with hostile values
 *   (stream IDs of every type and range, offsets up to 2^62, ACK ranges, connection IDs, close codes), raw bytes,
 *   and encoded frames with one byte changed; timers fired between them. Streams are limited to 4 of each kind
 *   and eight have come and gone, so frames also name retired streams and stream credit given back.
 * - `handshake`: the handshake engine (TLS 1.3 with and without client certificates, a HelloRetryRequest, TLS 1.2
 *   with and without client certificates, the QUIC variant) replaying a clean handshake's messages with one of
 *   them mutated (bits, bytes, length fields, cuts, insertions, duplicated spans), then the rest.
 * - `tlsRecords`: records sealed under the peer's keys after a TLS 1.3 or 1.2 handshake: handshake messages of
 *   every type with random bodies and wrong lengths, alerts of every length, unknown content types, oversized
 *   records, TLS 1.3 padding; delivered in chunks of any size.
 * - `dtlsRecords`: DTLS 1.3 and 1.2 records sealed under the peer's keys: handshake fragments with any
 *   message_seq, length and fragment offset, ACKs with any record numbers and wrong lengths, alerts, unknown
 *   types; several records per datagram; retransmission timers fired between datagrams.
 *
 * A defect is a thrown exception, or a connection closed with an `internal` error. Each run records how the
 * victim ended (`Outcomes`), so a campaign shows how deep its inputs got. `npm run fuzz` runs long campaigns
 * (`test/fuzz/run.ts`); `fuzz.test.ts` runs short ones in `npm test`.
 */
import fc from 'fast-check';
import { TlsError, type TlsErrorDetail } from '../../src/core/errors.js';
import { createNobleProvider } from '../../src/crypto/noble.js';
import { loadCertificateChain, loadPrivateKey } from '../../src/crypto/keys.js';
import { handleDtlsEvents, nextDtlsTimeout, type DtlsState } from '../../src/dtls/connection.js';
import { sealDtlsRecord } from '../../src/dtls/epochs.js';
import { seal12 } from '../../src/dtls/records12.js';
import {
  changeCipherSpec,
  createHandshake,
  handshakeData,
  isHandshakeComplete,
  startHandshake,
  updateTrafficKeys,
  type HandshakeState,
  type HsStep,
} from '../../src/handshake/engine.js';
import { createTicketer } from '../../src/handshake/session.js';
import { seededRandom } from '../../src/rx/faults/random.js';
import { handleQuicEvents, nextQuicTimeout, type QuicState } from '../../src/quic/connection.js';
import { protectPacket } from '../../src/quic/protection.js';
import { handleEvents, nextTimeout, type TlsState } from '../../src/tls/connection.js';
import { sealRecord, type RecordKey } from '../../src/tls/record.js';
import { encodeFrame, type Frame } from '../../src/wire/quic/frames.js';
import { encodeShortHeader } from '../../src/wire/quic/packet.js';
import { encodeTransportParameters } from '../../src/wire/quic/transportParameters.js';
import { encodeWith } from '../../src/wire/writer.js';
import { DtlsPair } from '../helpers/dtlsPair.js';
import { caVerifier, fixture, NOW, Pair, serverCredentials, type Side } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';

/** How the victims of a campaign ended: `target scenario side: outcome` → count. */
export class Outcomes {
  readonly counts = new Map<string, number>();
  /** Inputs reduced (datagrams, chunks, messages, timers). */
  steps = 0;
  /** The slowest single input, ms, and what it was (reported by the runner, never asserted). */
  slowestMs = 0;
  slowest = '';

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Time one reducer input; a throw is a defect and propagates with what was fed. */
  step<T>(what: () => string, f: () => T): T {
    this.steps++;
    const t0 = performance.now();
    try {
      return f();
    } catch (err) {
      throw new FuzzDefect(`threw on ${what()}`, err);
    } finally {
      const ms = performance.now() - t0;
      if (ms > this.slowestMs) [this.slowestMs, this.slowest] = [ms, what()];
    }
  }

  /**
   * Record a close. An internal error is a defect (the code failed, not the peer): TLS's `internal` kind, or a
   * QUIC INTERNAL_ERROR we sent (the QUIC reducer closes with it on any exception it did not expect).
   */
  closed(key: string, detail: TlsErrorDetail | undefined, what: () => string): void {
    const internal = detail?.kind === 'internal' || (detail?.kind === 'quicClose' && detail.local && !detail.application && detail.code === QUIC_INTERNAL_ERROR);
    if (internal) throw new FuzzDefect(`internal error on ${what()}: ${detail.reason}`);
    this.add(`${key}: ${detail ? `${detail.kind} ${'reason' in detail ? detail.reason.slice(0, 48) : ''}` : 'clean close'}`);
  }

  /** Whether a TLS or DTLS step's effects closed the connection; if so, the close is recorded ({@link closed}). */
  closedIn(effects: readonly { readonly type: string; readonly error?: TlsError }[], key: string, what: () => string): boolean {
    const closed = effects.find((e) => e.type === 'closed');
    if (closed) this.closed(key, closed.error?.detail, what);
    return closed !== undefined;
  }
}

/** A defect found: what was fed, and the exception. */
export class FuzzDefect extends Error {
  constructor(message: string, cause?: unknown) {
    super(cause instanceof Error ? `${message}: ${cause.stack ?? cause.message}` : message);
  }
}

export interface FuzzTarget {
  readonly name: string;
  /** Run `runs` cases from `seed`; throws a fast-check report (with the shrunk case) on a defect. */
  run(runs: number, seed: number, outcomes: Outcomes): void;
}

/** QUIC's INTERNAL_ERROR transport code (RFC 9000 §20.1). */
const QUIC_INTERNAL_ERROR = 0x1n;

const hex = (b: Uint8Array, max = 160) => Buffer.from(b).toString('hex').slice(0, max);

// ---------------------------------------------------------------------------------------------------------------
// QUIC: frames in authenticated 1-RTT packets.

const MAX_VARINT = 2 ** 62 - 1;
const quicValue = fc.oneof(
  fc.integer({ min: 0, max: 20 }),
  fc.integer({ min: 0, max: 70_000 }),
  fc.constantFrom(0, 1, 2, 3, 4, 8, 1 << 20, 2 ** 32, 2 ** 53 - 1, MAX_VARINT),
);
const streamId = fc.oneof(fc.integer({ min: 0, max: 40 }), quicValue);
const errorCode = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 62n - 1n }), fc.constantFrom(0n, 1n, 0x100n, 0x101n));
const streamCount = fc.oneof(quicValue, fc.constant(2 ** 60));
const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant('padding' as const), length: fc.integer({ min: 1, max: 50 }) }),
  fc.constant({ type: 'ping' as const }),
  fc.record({
    type: fc.constant('ack' as const),
    largest: quicValue,
    delay: quicValue,
    firstRange: quicValue,
    ranges: fc.array(fc.record({ gap: quicValue, length: quicValue }), { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant('resetStream' as const), streamId, errorCode, finalSize: quicValue }),
  fc.record({ type: fc.constant('stopSending' as const), streamId, errorCode }),
  fc.record({ type: fc.constant('crypto' as const), offset: quicValue, data: fc.uint8Array({ maxLength: 60 }) }),
  fc.record({ type: fc.constant('newToken' as const), token: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ type: fc.constant('stream' as const), streamId, offset: quicValue, data: fc.uint8Array({ maxLength: 200 }), fin: fc.boolean() }),
  fc.record({ type: fc.constant('maxData' as const), max: quicValue }),
  fc.record({ type: fc.constant('maxStreamData' as const), streamId, max: quicValue }),
  fc.record({ type: fc.constant('maxStreams' as const), bidi: fc.boolean(), max: streamCount }),
  fc.record({ type: fc.constant('dataBlocked' as const), limit: quicValue }),
  fc.record({ type: fc.constant('streamDataBlocked' as const), streamId, limit: quicValue }),
  fc.record({ type: fc.constant('streamsBlocked' as const), bidi: fc.boolean(), limit: streamCount }),
  fc.record({
    type: fc.constant('newConnectionId' as const),
    sequence: quicValue,
    retirePriorTo: quicValue,
    connectionId: fc.uint8Array({ minLength: 1, maxLength: 20 }),
    resetToken: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  }),
  fc.record({ type: fc.constant('retireConnectionId' as const), sequence: quicValue }),
  fc.record({ type: fc.constant('pathChallenge' as const), data: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
  fc.record({ type: fc.constant('pathResponse' as const), data: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
  fc.record({
    type: fc.constant('connectionClose' as const),
    kind: fc.constantFrom('transport' as const, 'application' as const),
    errorCode,
    reason: fc.uint8Array({ maxLength: 30 }),
  }),
  fc.constant({ type: 'handshakeDone' as const }),
);
/** Frames the encoder refuses (an offset plus length past 2^62) become a PING. */
const encodeFrames = (frames: readonly Frame[]): Uint8Array => {
  try {
    return encodeWith((w) => frames.forEach((f) => encodeFrame(w, f)));
  } catch {
    return Uint8Array.of(0x01);
  }
};
const quicPayload = fc.oneof(
  { weight: 6, arbitrary: fc.array(frame, { minLength: 1, maxLength: 6 }).map(encodeFrames) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.array(frame, { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([frames, at, value]) => {
      const bytes = encodeFrames(frames).slice();
      bytes[at % bytes.length] = value;
      return bytes;
    }),
  },
);

export const quicFrames: FuzzTarget = {
  name: 'quicFrames',
  run(runs, seed, outcomes) {
    // Both ends allow 4 streams of each kind: the first 8 of the client's finish both ways and are retired (their
    // credit given back), one stays open each way, so retired, open and unopened streams are all there to attack.
    const base = new QuicPair({ maxStreams: 4 }, { maxStreams: 4 }).start().settle();
    for (let i = 0; i < 8; i++) {
      const stream = 4 * i;
      base.input('client', { type: 'write', now: base.now, stream, data: Buffer.from(`request ${i}`) });
      base.input('client', { type: 'end', now: base.now, stream });
      base.settle();
      base.input('server', { type: 'write', now: base.now, stream, data: Buffer.from(`response ${i}`) });
      base.input('server', { type: 'end', now: base.now, stream });
      base.drive(base.now + 100);
    }
    base.input('client', { type: 'write', now: base.now, stream: 32, data: Buffer.from('hello') });
    base.input('server', { type: 'write', now: base.now, stream: 1, data: Buffer.from('hi') });
    base.settle();
    if (base.state.server.streams.retired[0] === 0) throw new Error('quicFrames: no stream was retired in the set-up');
    let pn = base.state.client.spaces.application.nextPn + base.state.server.spaces.application.nextPn + 1_000;
    const forge = (from: Side, payload: Uint8Array): Uint8Array => {
      const c = base.state[from];
      const n = pn++;
      return protectPacket(c.config.provider, c.spaces.application.tx!, encodeShortHeader({ dcid: c.dcid, packetNumber: n, pnLength: 4 }), n, payload);
    };
    fc.assert(
      fc.property(fc.constantFrom<Side>('client', 'server'), fc.array(quicPayload, { minLength: 1, maxLength: 8 }), fc.boolean(), (victim, payloads, timers) => {
        let st: QuicState = base.state[victim];
        let now = base.now;
        for (const payload of payloads) {
          const data = forge(victim === 'client' ? 'server' : 'client', payload);
          const what = () => `QUIC ${victim} frames ${hex(payload)}`;
          st = outcomes.step(what, () => handleQuicEvents(st, { type: 'datagram', now, data })).state;
          if (timers) {
            const next = nextQuicTimeout(st);
            if (next !== undefined) {
              now = Math.max(now, next);
              st = outcomes.step(() => `QUIC ${victim} timer after ${what()}`, () => handleQuicEvents(st, { type: 'timeout', now })).state;
            }
          }
          if (st.phase !== 'connected') {
            const detail = st.closeError?.detail;
            if (detail && detail.kind !== 'quicClose' && detail.kind !== 'idleTimeout') throw new FuzzDefect(`QUIC closed with ${detail.kind} on ${what()}`);
            outcomes.closed(`quicFrames ${victim}`, detail, what);
            return;
          }
        }
        outcomes.add(`quicFrames ${victim}: still connected`);
      }),
      { numRuns: runs, seed },
    );
  },
};

// ---------------------------------------------------------------------------------------------------------------
// The handshake engine: a clean handshake replayed with one message mutated.

type HsAction = { readonly kind: 'data'; readonly epoch: number; readonly data: Uint8Array } | { readonly kind: 'ccs' };

/** Deterministic random bytes (the fault operators' PRNG), so a replay reproduces the clean run's key shares and randoms. */
const seededBytes = (seed: number): ((n: number) => Uint8Array) => {
  const random = seededRandom(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
};

const quicClientParams = encodeTransportParameters({ initialMaxData: 1 << 20, initialSourceConnectionId: Uint8Array.of(1, 2, 3, 4) });
const quicServerParams = encodeTransportParameters({
  initialMaxData: 1 << 21,
  originalDestinationConnectionId: Uint8Array.of(9, 9, 9, 9),
  initialSourceConnectionId: Uint8Array.of(5, 6),
});

/** Handshake scenarios: a fresh client and server engine each, with the same randomness every time. */
function handshakeScenarios(): Record<string, () => Record<Side, HandshakeState>> {
  const ticketer = createTicketer(new Uint8Array(32).fill(7));
  const clientCert = { certificateChain: loadCertificateChain(fixture('client-cert.pem')), privateKey: loadPrivateKey(fixture('client-key.pem')) };
  const provider = (seed: number) => createNobleProvider({ randomBytes: seededBytes(seed) });
  const client = { serverName: 'localhost', verifier: caVerifier() };
  return {
    tls13: () => ({
      client: createHandshake({ role: 'client', provider: provider(1), ...client, alpnProtocols: ['h2', 'http/1.1'] }, 'tls'),
      server: createHandshake({ role: 'server', provider: provider(2), ...serverCredentials(), ticketer, alpnProtocols: ['h2'] }, 'tls'),
    }),
    tls13ClientAuth: () => ({
      client: createHandshake({ role: 'client', provider: provider(3), ...client, ...clientCert }, 'tls'),
      server: createHandshake({ role: 'server', provider: provider(4), ...serverCredentials(), requestClientCertificate: true, verifier: caVerifier() }, 'tls'),
    }),
    helloRetry: () => ({
      client: createHandshake({ role: 'client', provider: provider(5), ...client, groups: ['x25519', 'secp256r1'] }, 'tls'),
      server: createHandshake({ role: 'server', provider: provider(6), ...serverCredentials(), groups: ['secp256r1'] }, 'tls'),
    }),
    tls12: () => ({
      client: createHandshake({ role: 'client', provider: provider(7), ...client, maxVersion: 'TLSv1.2' }, 'tls'),
      server: createHandshake({ role: 'server', provider: provider(8), ...serverCredentials(), ticketer }, 'tls'),
    }),
    tls12ClientAuth: () => ({
      client: createHandshake({ role: 'client', provider: provider(9), ...client, maxVersion: 'TLSv1.2', ...clientCert }, 'tls'),
      server: createHandshake({ role: 'server', provider: provider(10), ...serverCredentials(), requestClientCertificate: true, verifier: caVerifier() }, 'tls'),
    }),
    quic: () => ({
      client: createHandshake({ role: 'client', provider: provider(11), ...client, alpnProtocols: ['h3'] }, 'quic', quicClientParams),
      server: createHandshake({ role: 'server', provider: provider(12), ...serverCredentials(), alpnProtocols: ['h3'], ticketer }, 'quic', quicServerParams),
    }),
  };
}

const actionsOf = (step: HsStep): HsAction[] =>
  step.events.flatMap((e): HsAction[] => (e.type === 'send' ? [{ kind: 'data', epoch: e.epoch, data: e.data }] : e.type === 'changeCipherSpec' ? [{ kind: 'ccs' }] : []));
const applyAction = (st: HandshakeState, a: HsAction): HsStep => (a.kind === 'data' ? handshakeData(st, a.epoch, a.data, NOW) : changeCipherSpec(st, NOW));

/**
 * What each side received in a clean handshake, in order: handshake bytes at their epoch and (TLS 1.2) the peer's
 * ChangeCipherSpec; for TLS 1.3 over streams, also a KeyUpdate the client sends once both completed.
 */
function cleanInputs(make: () => Record<Side, HandshakeState>, keyUpdate: boolean): Record<Side, HsAction[]> {
  const st = make();
  const inputs: Record<Side, HsAction[]> = { client: [], server: [] };
  const queue: [Side, HsAction][] = [];
  const emit = (from: Side, step: HsStep) => {
    st[from] = step.state;
    for (const a of actionsOf(step)) queue.push([from === 'client' ? 'server' : 'client', a]);
  };
  emit('server', startHandshake(st.server, NOW));
  emit('client', startHandshake(st.client, NOW));
  let updated = !keyUpdate;
  for (let guard = 0; guard < 100; guard++) {
    const next = queue.shift();
    if (!next) {
      if (updated || !isHandshakeComplete(st.client) || !isHandshakeComplete(st.server)) break;
      updated = true;
      emit('client', updateTrafficKeys(st.client, true, NOW));
      continue;
    }
    const [to, a] = next;
    inputs[to].push(a);
    const step = applyAction(st[to], a);
    if (step.error) throw new Error(`the clean handshake failed at the ${to}: ${step.error.reason}`);
    emit(to, step);
  }
  if (!isHandshakeComplete(st.client) || !isHandshakeComplete(st.server)) throw new Error('the clean handshake did not complete');
  return inputs;
}

const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 0xff, 0x7f, 0x80, 1), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat(), value: fc.constant(0) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('length' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), value: fc.integer({ min: 1, max: 64 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(data: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let x = data.slice();
  for (const { op, at: where, value } of mutations) {
    if (x.length === 0) break;
    const at = where % x.length;
    if (op === 'flip') x[at]! ^= 1 << value;
    else if (op === 'set') x[at] = value;
    else if (op === 'cut') x = x.slice(0, at);
    else if (op === 'insert') x = Uint8Array.from([...x.subarray(0, at), value, ...x.subarray(at)]);
    else if (op === 'length' && at + 1 < x.length) [x[at], x[at + 1]] = [value >> 8, value & 0xff];
    else if (op === 'repeat') x = Uint8Array.from([...x.subarray(0, at + value), ...x.subarray(at)]);
  }
  return x;
}

export const handshake: FuzzTarget = {
  name: 'handshake',
  run(runs, seed, outcomes) {
    for (const [name, make] of Object.entries(handshakeScenarios())) {
      const inputs = cleanInputs(make, name.startsWith('tls13'));
      fc.assert(
        fc.property(fc.constantFrom<Side>('client', 'server'), fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (victim, pick, mutations, goOn) => {
          const list = inputs[victim];
          const k = pick % list.length;
          if (list[k]!.kind !== 'data') return;
          let st = startHandshake(make()[victim], NOW).state;
          for (let i = 0; i < list.length; i++) {
            const clean = list[i]!;
            const a: HsAction = i === k && clean.kind === 'data' ? { ...clean, data: mutate(clean.data, mutations) } : clean;
            const what = () => `${name} ${victim} input ${i} (mutated: ${k}) ${a.kind === 'data' ? hex(a.data) : 'ccs'}`;
            const step = outcomes.step(what, () => applyAction(st, a));
            st = step.state;
            if (step.error) {
              outcomes.closed(`handshake ${name} ${victim}`, step.error, what);
              return;
            }
            if (i >= k && !goOn) break;
          }
          outcomes.add(`handshake ${name} ${victim}: no error`);
        }),
        { numRuns: runs, seed },
      );
    }
  },
};

// ---------------------------------------------------------------------------------------------------------------
// TLS records sealed under the peer's keys.

const handshakeMessage = (type: number, body: Uint8Array, lengthDelta = 0): Uint8Array => {
  const n = Math.max(0, body.length + lengthDelta);
  return Uint8Array.from([type, n >> 16, (n >> 8) & 0xff, n & 0xff, ...body]);
};
const messageType = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 14, 15, 16, 20, 24, 254), fc.integer({ min: 0, max: 255 }));
const messageBody = fc.oneof(fc.uint8Array({ maxLength: 60 }), fc.constantFrom(Uint8Array.of(0), Uint8Array.of(1), Uint8Array.of(2), new Uint8Array(0)));
/** An alert record's content: the right length (level, description) or not. */
const alertContent = fc
  .tuple(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 255 }), fc.constantFrom(1, 2))
  .map(([length, description, level]) => (length === 2 ? Uint8Array.of(level, description) : new Uint8Array(length).fill(description)));
const otherContent = fc.tuple(fc.constantFrom(20, 23, 24, 25, 0, 26, 255), fc.uint8Array({ maxLength: 40 })).map(([type, data]) => ({ type, data }));

const tlsContent = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(messageType, messageBody, fc.integer({ min: -3, max: 3 })).map(([t, b, d]) => ({ type: 22, data: handshakeMessage(t, b, d) })) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.tuple(messageType, messageBody), { minLength: 2, maxLength: 4 })
      .map((ms) => ({ type: 22, data: Uint8Array.from(ms.flatMap(([t, b]) => [...handshakeMessage(t, b)])) })),
  },
  { weight: 2, arbitrary: alertContent.map((data) => ({ type: 21, data })) },
  { weight: 1, arbitrary: otherContent },
  { weight: 1, arbitrary: fc.integer({ min: 16_300, max: 16_500 }).map((n) => ({ type: 23, data: new Uint8Array(n) })) },
);

export const tlsRecords: FuzzTarget = {
  name: 'tlsRecords',
  run(runs, seed, outcomes) {
    const ticketer = createTicketer(new Uint8Array(32).fill(3));
    const bases = { tls13: new Pair({}, { ticketer }).start().drive(), tls12: new Pair({ maxVersion: 'TLSv1.2' }, { ticketer }).start().drive() };
    for (const [name, base] of Object.entries(bases)) {
      fc.assert(
        fc.property(
          fc.constantFrom<Side>('client', 'server'),
          fc.array(fc.record({ c: tlsContent, padding: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 })) }), { minLength: 1, maxLength: 5 }),
          fc.integer({ min: 1, max: 5_000 }),
          fc.boolean(),
          (victim, records, chunk, timer) => {
            let key = base[victim === 'client' ? 'server' : 'client'].txKey as RecordKey;
            const parts: Uint8Array[] = [];
            for (const r of records) {
              // Content over 2^14 bytes with padding may not seal: the attacker sends what it can.
              try {
                const sealed = sealRecord(key, r.c.type, r.c.data, name === 'tls13' ? r.padding : 0);
                key = sealed.key;
                parts.push(sealed.bytes);
              } catch {
                continue;
              }
            }
            const wire = Buffer.concat(parts);
            const what = () => `${name} ${victim} records ${records.map((r) => `${r.c.type}:${hex(r.c.data, 64)}`).join(' ')} in chunks of ${chunk}`;
            let st: TlsState = base[victim];
            for (let off = 0; off < wire.length; off += chunk) {
              const step = outcomes.step(what, () => handleEvents(st, { type: 'received', now: NOW, data: wire.subarray(off, off + chunk) }));
              st = step.state;
              if (outcomes.closedIn(step.effects, `tlsRecords ${name} ${victim}`, what)) return;
            }
            const due = nextTimeout(st);
            if (timer && due !== undefined) st = outcomes.step(what, () => handleEvents(st, { type: 'timeout', now: due })).state;
            // The connection still takes the application's data (or refuses it as misuse, once closed).
            try {
              handleEvents(st, { type: 'write', now: NOW, data: Uint8Array.of(1, 2, 3) });
            } catch (err) {
              if (!(err instanceof TlsError && err.kind === 'apiMisuse')) throw new FuzzDefect(`write threw after ${what()}`, err);
            }
            outcomes.add(`tlsRecords ${name} ${victim}: still open`);
          },
        ),
        { numRuns: runs, seed },
      );
    }
  },
};

// ---------------------------------------------------------------------------------------------------------------
// DTLS records sealed under the peer's keys.

const u24 = (n: number) => [(n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const fragmentField = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 300 }), fc.constantFrom(0xffffff, 0x10000, 1 << 17));
/** A DTLS handshake fragment (RFC 9147 §5.2): whole and consistent, or with any length, message_seq and offset. */
const dtlsFragment = fc
  .record({
    type: messageType,
    seq: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 0xffff })),
    length: fragmentField,
    offset: fragmentField,
    body: fc.uint8Array({ maxLength: 80 }),
    whole: fc.boolean(),
  })
  .map(({ type, seq, length, offset, body, whole }) =>
    Uint8Array.from([type, ...u24(whole ? body.length : length), seq >> 8, seq & 0xff, ...u24(whole ? 0 : offset), ...u24(body.length), ...body]),
  );
/** An ACK (RFC 9147 §7): record numbers (epoch, sequence as two uint64), its length field right or a little off. */
const dtlsAck = fc
  .tuple(fc.array(fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })), { maxLength: 6 }), fc.integer({ min: -3, max: 3 }))
  .map(([numbers, delta]) => {
    const body = Buffer.alloc(numbers.length * 16);
    numbers.forEach(([epoch, seq], i) => {
      body.writeBigUInt64BE(epoch, i * 16);
      body.writeBigUInt64BE(seq, i * 16 + 8);
    });
    const n = Math.max(0, body.length + delta);
    return Uint8Array.from([n >> 8, n & 0xff, ...body]);
  });
const dtlsContent = fc.oneof(
  { weight: 4, arbitrary: fc.array(dtlsFragment, { minLength: 1, maxLength: 3 }).map((fs) => ({ type: 22, data: Uint8Array.from(fs.flatMap((f) => [...f])) })) },
  { weight: 2, arbitrary: dtlsAck.map((data) => ({ type: 26, data })) },
  { weight: 1, arbitrary: alertContent.map((data) => ({ type: 21, data })) },
  { weight: 1, arbitrary: otherContent },
);

export const dtlsRecords: FuzzTarget = {
  name: 'dtlsRecords',
  run(runs, seed, outcomes) {
    const connected = (client = {}, server = {}) => {
      const p = new DtlsPair(client, server);
      p.start();
      p.run(p.now + 5_000);
      return p;
    };
    const bases = {
      dtls13: connected({}, { ticketer: createTicketer(new Uint8Array(32).fill(5)) }),
      dtls12: connected({ minVersion: 'DTLSv1.2', maxVersion: 'DTLSv1.2' }),
    };
    for (const [name, base] of Object.entries(bases)) {
      fc.assert(
        fc.property(
          fc.constantFrom<Side>('client', 'server'),
          fc.array(fc.array(dtlsContent, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          (victim, datagrams, timers) => {
            const attacker = base[victim === 'client' ? 'server' : 'client'];
            let w13 = attacker.writes.find((w) => w.epoch === attacker.writeEpoch);
            let w12 = attacker.write12;
            let st: DtlsState = base[victim];
            let now = base.now;
            for (const records of datagrams) {
              const parts: Uint8Array[] = [];
              for (const r of records) {
                if (w12) {
                  const sealed = seal12(w12, r.type, r.data);
                  w12 = sealed.epoch;
                  parts.push(sealed.bytes);
                } else {
                  const sealed = sealDtlsRecord(attacker.config.provider, w13!, r.type, r.data);
                  w13 = sealed.epoch;
                  parts.push(sealed.bytes);
                }
              }
              const data = Buffer.concat(parts);
              const what = () => `${name} ${victim} datagram ${records.map((r) => `${r.type}:${hex(r.data, 64)}`).join(' ')}`;
              const step = outcomes.step(what, () => handleDtlsEvents(st, { type: 'datagram', now, data }));
              st = step.state;
              if (outcomes.closedIn(step.effects, `dtlsRecords ${name} ${victim}`, what)) return;
              const due = nextDtlsTimeout(st);
              if (timers && due !== undefined) {
                now = Math.max(now, due);
                st = outcomes.step(what, () => handleDtlsEvents(st, { type: 'timeout', now })).state;
              }
            }
            outcomes.add(`dtlsRecords ${name} ${victim}: still open`);
          },
        ),
        { numRuns: runs, seed },
      );
    }
  },
};

export const targets: readonly FuzzTarget[] = [quicFrames, handshake, tlsRecords, dtlsRecords];
