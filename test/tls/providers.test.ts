/**
 * Every crypto provider through the same end-to-end suite on the sans-IO core: the RFC 8448 §3 trace replayed
 * with the provider injected (byte for byte), then a full handshake and 1 MiB each way through the memory
 * `Pair`, per cipher suite. Providers: noble, node:crypto, and the worker pool with `asyncCrypto` (record
 * protection as `crypto` effects answered through its batch cipher).
 */
import test from 'ava';
import { handleEvents, handshakeInfo, type TlsState } from '../../src/tls/connection.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import { createWorkerPoolProvider } from '../../src/node/workers.js';
import type { CryptoProvider, GroupName } from '../../src/crypto/provider.js';
import type { TlsEffect, TlsInput } from '../../src/tls/types.js';
import type { CipherSuiteName } from '../../src/wire/tls/constants.js';
import { plainRecord } from '../../src/tls/record.js';
import { keys, messages, records, schedule } from '../vectors/rfc8448.js';
import { RFC_NOW, hexOf, keyLogOf, rfcClient as rfcClientOf, rfcServerAnswer, serverFlight, transmitted } from '../helpers/rfc8448.js';
import { NOW as PAIR_NOW, Pair } from '../helpers/pair.js';

const pool = createWorkerPoolProvider({ size: 2 });
test.after.always(() => pool.close());

interface ProviderCase {
  readonly name: string;
  readonly provider: CryptoProvider;
  /** Record protection through `crypto` effects and the provider's batch cipher. */
  readonly asyncCrypto: boolean;
}

const CASES: readonly ProviderCase[] = [
  { name: 'noble', provider: nobleProvider, asyncCrypto: false },
  { name: 'node:crypto', provider: nodeProvider, asyncCrypto: false },
  { name: 'worker pool (asyncCrypto)', provider: pool, asyncCrypto: true },
];

// ── RFC 8448 §3 replay (as test/tls/rfc8448.test.ts, with the provider injected) ────────────────────

const NOW = RFC_NOW;

/**
 * Feed one input; with asynchronous crypto, answer every `crypto` effect through the provider's batch cipher
 * (and the effects those answers produce), returning all effects in order.
 */
async function step(state: TlsState, input: TlsInput): Promise<{ state: TlsState; effects: TlsEffect[] }> {
  let r = handleEvents(state, input);
  const effects = [...r.effects];
  let st = r.state;
  for (let i = 0; i < effects.length; i++) {
    const e = effects[i]!;
    if (e.type !== 'crypto') continue;
    const batch = st.config.provider.batch!;
    const alg = e.alg as 'aes-128-gcm';
    const results = await (e.op === 'seal' ? batch.sealBatch(alg, e.key, e.jobs) : batch.openBatch(alg, e.key, e.jobs));
    r = handleEvents(st, { type: 'cryptoDone', now: input.now, jobId: e.jobId, results });
    st = r.state;
    effects.push(...r.effects);
  }
  return { state: st, effects };
}

const rfcClient = (c: ProviderCase): TlsState => rfcClientOf({ provider: c.provider, asyncCrypto: c.asyncCrypto });

/**
 * `p` with its randomness replaced by `queue` (then zeros): `randomBytes` and the ephemeral key pairs, so the
 * server draws the RFC's key share and random.
 */
function seeded(p: CryptoProvider, queue: Uint8Array[]): CryptoProvider {
  const randomBytes = (n: number) => queue.shift() ?? new Uint8Array(n);
  const len: Record<GroupName, number> = { x25519: 32, secp256r1: 32, secp384r1: 48, secp521r1: 66, x448: 56, x25519mlkem768: 96 };
  return Object.assign(Object.create(p) as CryptoProvider, {
    randomBytes,
    generateKeyPair: (group: GroupName) => p.keyPairFromPrivate(group, randomBytes(len[group])),
  });
}

for (const c of CASES) {
  test(`${c.name}: RFC 8448 §3: client secrets, Finished and application records byte for byte`, async (t) => {
    let s = await step(rfcClient(c), { type: 'received', now: NOW, data: plainRecord(22, messages.serverHello) });
    let log = keyLogOf(s.effects);
    t.is(log.CLIENT_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.clientHandshakeTraffic));
    t.is(log.SERVER_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.serverHandshakeTraffic));

    s = await step(s.state, { type: 'received', now: NOW, data: serverFlight() });
    const done = s.effects.find((e) => e.type === 'handshakeComplete');
    t.truthy(done, JSON.stringify(s.effects.map((e) => (e.type === 'closed' ? e.error?.message : e.type))));
    log = keyLogOf(s.effects);
    t.is(log.CLIENT_TRAFFIC_SECRET_0, hexOf(schedule.clientApplicationTraffic));
    t.is(log.SERVER_TRAFFIC_SECRET_0, hexOf(schedule.serverApplicationTraffic));
    t.is(log.EXPORTER_SECRET, hexOf(schedule.exporterMaster));
    t.is(hexOf(transmitted(s.effects)), hexOf(records.clientFinished));
    t.is(hexOf(s.state.hs.secrets.resumption!), hexOf(schedule.resumptionMaster));

    // The client's application record for bytes 00..31 (sealed through the batch cipher with asyncCrypto).
    const payload = Uint8Array.from({ length: 50 }, (_, i) => i);
    const w = await step(s.state, { type: 'write', now: NOW, data: payload });
    t.is(w.effects.some((e) => e.type === 'crypto'), c.asyncCrypto);
    t.is(hexOf(transmitted(w.effects)), hexOf(records.clientApplicationData));

    // The server's application record is seq 1 (its NewSessionTicket, not quoted here, used seq 0).
    const skipTicket = { ...w.state, rxKey: { ...w.state.rxKey!, seq: 1 } };
    const r = await step(skipTicket, { type: 'received', now: NOW, data: records.serverApplicationData });
    const delivered = r.effects.filter((e) => e.type === 'deliver');
    t.deepEqual(delivered.map((e) => (e.type === 'deliver' ? [...e.data] : [])), [[...payload]]);
  });

  test(`${c.name}: RFC 8448 §3: server answers the RFC ClientHello with the RFC ServerHello and secrets`, (t) => {
    const provider = seeded(c.provider, [keys.serverPrivate, messages.serverHello.subarray(6, 38)]);
    const { wire, keyLog: log } = rfcServerAnswer({ provider, asyncCrypto: c.asyncCrypto });
    t.is(hexOf(wire.subarray(0, 5 + messages.serverHello.length)), hexOf(plainRecord(22, messages.serverHello)));
    t.is(log.CLIENT_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.clientHandshakeTraffic));
    t.is(log.SERVER_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.serverHandshakeTraffic));
  });
}

// ── full handshake and 1 MiB each way through the memory Pair ─────────────────────────────────────────

const SUITES: readonly CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const MiB = 1024 * 1024;

/** `n` bytes of a pattern that differs per `tag` (every 32-bit word distinct). */
function pattern(n: number, tag: number): Uint8Array {
  const out = new Uint8Array(n);
  const v = new DataView(out.buffer);
  for (let i = 0; i + 4 <= n; i += 4) v.setUint32(i, (Math.imul(i, 2654435761) ^ tag) >>> 0);
  return out;
}

for (const c of CASES) {
  for (const suite of SUITES) {
    test(`${c.name}: Pair handshake and 1 MiB each way, ${suite}`, async (t) => {
      const cfg = { provider: c.provider, asyncCrypto: c.asyncCrypto, cipherSuites: [suite] };
      const pair = new Pair(cfg, cfg).start();
      if (c.asyncCrypto) await pair.driveAsync();
      else pair.drive();
      const info = handshakeInfo(pair.client);
      t.is(info?.cipherSuite, suite);
      t.is(info?.verification, 'ok');

      const up = pattern(MiB, 0x1111);
      const down = pattern(MiB, 0x2222);
      // Both directions at once, in uneven writes.
      for (let o = 0; o < MiB; o += 100_000) {
        pair.input('client', { type: 'write', now: PAIR_NOW, data: up.subarray(o, Math.min(MiB, o + 100_000)) });
        pair.input('server', { type: 'write', now: PAIR_NOW, data: down.subarray(o, Math.min(MiB, o + 100_000)) });
      }
      pair.input('client', { type: 'end', now: PAIR_NOW });
      pair.input('server', { type: 'end', now: PAIR_NOW });
      if (c.asyncCrypto) await pair.driveAsync(true);
      else pair.drive();

      t.true(Buffer.concat(pair.delivered.server).equals(up), 'client → server intact');
      t.true(Buffer.concat(pair.delivered.client).equals(down), 'server → client intact');
      t.is(pair.of('client', 'crypto').length > 0, c.asyncCrypto);
      t.is(pair.of('server', 'crypto').length > 0, c.asyncCrypto);
      for (const side of ['client', 'server'] as const) {
        t.is(pair.of(side, 'closed').length, 1, `${side} closed`);
        t.is(pair.closedError(side), undefined, `${side} closed cleanly`);
      }
    });
  }
}
