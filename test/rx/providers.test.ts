/**
 * Crypto providers at the RxJS level: the record options (`maxSendFragment`, `splitSendFragment`,
 * `maxPipelines`, `asyncCrypto`, `recordSizeLimit`) checked at the edge and passed to the core, the
 * process-wide default provider, and asynchronous crypto whose batches complete out of order across
 * connections and directions.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { Observable, lastValueFrom, merge, mergeMap, of, toArray } from 'rxjs';
import { secure, type SecureRoleOptions } from '../../operators/secure.js';
import { TlsError } from '../../src/core/errors.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import type { AeadAlg, BatchCipher, CryptoProvider, RecordJob } from '../../src/crypto/provider.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import { getDefaultProvider, setDefaultProvider } from '../../src/rx/index.js';
import { toClientConfig, toServerConfig } from '../../src/rx/options.js';
import type { ByteDuplex, SecureOptions, TlsConnection } from '../../src/rx/types.js';
import { frameRecord } from '../../src/tls/record.js';
import { nobleOpen, nobleSeal, withBatch } from '../helpers/batch.js';
import { ca, cert, key } from '../helpers/fixtures.js';
import { seededRandom } from '../../src/rx/faults/random.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const prng = seededRandom; // the fault operators' seeded mulberry32

/** `n` bytes of a deterministic pattern that differs per `tag`. */
function pattern(n: number, tag: number): Uint8Array {
  const out = new Uint8Array(n);
  const r = prng(tag);
  for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}

/**
 * A provider (noble underneath) whose batch cipher answers with Promises that settle in a shuffled order: every
 * batch waits in one shared pool, and each macrotask turn settles one batch picked at random (seeded), so
 * batches of different connections and of the two directions of one connection overtake each other.
 */
function shuffledProvider(seed: number) {
  const random = prng(seed);
  type Waiting = { readonly id: number; readonly key: string; readonly settle: () => void };
  const waiting: Waiting[] = [];
  let issued = 0;
  /** Batches settled while an older batch of another key (connection and direction) was still waiting. */
  let overtakes = 0;
  let settled = 0;
  let ticking = false;
  const tick = () => {
    if (waiting.length === 0) {
      ticking = false;
      return;
    }
    const i = Math.floor(random() * waiting.length);
    const [w] = waiting.splice(i, 1);
    if (waiting.some((o) => o.id < w!.id && o.key !== w!.key)) overtakes++;
    settled++;
    w!.settle();
    setImmediate(tick);
  };
  const later = <T>(key: Uint8Array, compute: () => T): Promise<T> =>
    new Promise<T>((resolve) => {
      waiting.push({ id: issued++, key: Buffer.from(key).toString('hex'), settle: () => resolve(compute()) });
      if (!ticking) {
        ticking = true;
        setImmediate(tick);
      }
    });
  const batch: BatchCipher = {
    sealBatch: (alg: AeadAlg, k: Uint8Array, jobs: readonly RecordJob[]) => later(k, () => nobleSeal(alg, k, jobs)),
    openBatch: (alg: AeadAlg, k: Uint8Array, jobs: readonly RecordJob[]) => later(k, () => nobleOpen(alg, k, jobs)),
  };
  const provider: CryptoProvider = withBatch('shuffled', batch);
  return {
    provider,
    stats: () => ({ issued, settled, overtakes }),
  };
}

/** Everything `conn` receives, concatenated, once the peer's close_notify arrived. */
const collect = (conn: TlsConnection): Observable<Buffer> =>
  new Observable<Buffer>((s) => {
    const parts: Buffer[] = [];
    return conn.inbound$.subscribe({
      next: (d) => parts.push(Buffer.from(d)),
      error: (e) => s.error(e),
      complete: () => {
        s.next(Buffer.concat(parts));
        s.complete();
      },
    });
  });

/** `data` as chunks of `size` bytes, pulled by `send()`; `midway` runs once, half-way through. */
function* chunks(data: Uint8Array, size: number, midway?: () => void): Generator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) {
    if (midway && o >= data.length / 2 && o - size < data.length / 2) midway();
    yield data.subarray(o, Math.min(data.length, o + size));
  }
}

/**
 * One connection over a memory pair: each side sends its payload (in `chunk`-byte writes) and collects the
 * other's; resolves with what each side received once both shut down cleanly.
 */
function exchange(
  clientOptions: Partial<SecureOptions>,
  serverOptions: Partial<SecureOptions>,
  up: Uint8Array,
  down: Uint8Array,
  o: {
    chunk?: number;
    keyUpdateMidway?: boolean;
    wrapServer?: (d: ByteDuplex) => ByteDuplex;
    wrapClient?: (d: ByteDuplex) => ByteDuplex;
  } = {},
): Promise<{ atServer: Buffer; atClient: Buffer }> {
  const [clientEnd, serverEnd] = memoryDuplexPair();
  const chunk = o.chunk ?? 24 * 1024;
  const server$ = of(o.wrapServer ? o.wrapServer(serverEnd) : serverEnd).pipe(
    secure({ role: 'server', cert, key, ticketer: false, ...serverOptions } as SecureRoleOptions),
    mergeMap((conn) => merge(conn.send(chunks(down, chunk)), collect(conn))),
  );
  const client$ = of(o.wrapClient ? o.wrapClient(clientEnd) : clientEnd).pipe(
    secure({ role: 'client', ca, servername: 'localhost', ...clientOptions } as SecureRoleOptions),
    mergeMap((conn) =>
      merge(conn.send(chunks(up, chunk, o.keyUpdateMidway ? () => conn.keyUpdate(true) : undefined)), collect(conn)),
    ),
  );
  return Promise.all([lastValueFrom(server$.pipe(toArray())), lastValueFrom(client$.pipe(toArray()))]).then(([s, c]) => ({
    atServer: s[0]!,
    atClient: c[0]!,
  }));
}

const misuse = (fn: () => unknown, re: RegExp) => (t: { throws: (f: () => unknown, e: object) => unknown }) =>
  t.throws(fn, { instanceOf: TlsError, message: re });

// ── the process-wide default provider (serial: it is global state) ─────────────────────────────────────

test.serial('setDefaultProvider: connections without a provider option use the default; undefined restores noble', async (t) => {
  t.is(getDefaultProvider(), nobleProvider);
  let used = 0;
  const counting: CryptoProvider = Object.assign(Object.create(nodeProvider) as CryptoProvider, {
    name: 'counting-node',
    randomBytes: (n: number) => {
      used++;
      return nodeProvider.randomBytes(n);
    },
  });
  const previous = setDefaultProvider(counting);
  try {
    t.is(previous, nobleProvider);
    t.is(getDefaultProvider(), counting);
    t.is(toClientConfig({ ca }, 'localhost').provider, counting);
    t.is(toServerConfig({ cert, key }).provider, counting);
    // A per-connection provider still wins.
    t.is(toClientConfig({ ca, provider: nobleProvider }, 'localhost').provider, nobleProvider);
    const { atServer, atClient } = await exchange({}, {}, pattern(3000, 1), pattern(2000, 2));
    t.is(sha(atServer), sha(pattern(3000, 1)));
    t.is(sha(atClient), sha(pattern(2000, 2)));
    t.true(used >= 2, `both ends drew their randomness from the default provider (${used} calls)`);
  } finally {
    t.is(setDefaultProvider(undefined), counting);
  }
  t.is(getDefaultProvider(), nobleProvider);
});

test.serial('setDefaultProvider: asyncCrypto is checked against the default provider', (t) => {
  t.throws(() => toClientConfig({ ca, asyncCrypto: true }, 'localhost'), { instanceOf: TlsError, message: /batch cipher/ });
  const { provider } = shuffledProvider(1);
  setDefaultProvider(provider);
  try {
    t.true(toClientConfig({ ca, asyncCrypto: true }, 'localhost').asyncCrypto);
  } finally {
    setDefaultProvider(undefined);
  }
});

test('setDefaultProvider: something that is not a provider is API misuse, and the default is unchanged', (t) => {
  for (const bad of [null, 42, {}, { ...nobleProvider, aead: 'no' }]) {
    const err = t.throws(() => setDefaultProvider(bad as unknown as CryptoProvider), { instanceOf: TlsError });
    t.is(err?.kind, 'apiMisuse');
  }
  t.is(getDefaultProvider(), nobleProvider);
  const err = t.throws(() => toClientConfig({ ca, provider: {} as CryptoProvider }, 'localhost'), { instanceOf: TlsError });
  t.regex(err?.message ?? '', /not a CryptoProvider/);
});

// ── option checking ─────────────────────────────────────────────────────────────────────────────────

const invalid: [string, Partial<SecureOptions>, RegExp][] = [
  ['maxSendFragment below 512', { maxSendFragment: 511 }, /maxSendFragment must be an integer in 512\.\.16384, got 511/],
  ['maxSendFragment above 16384', { maxSendFragment: 16385 }, /maxSendFragment .* got 16385/],
  ['maxSendFragment not an integer', { maxSendFragment: 1000.5 }, /maxSendFragment/],
  ['splitSendFragment below 512', { splitSendFragment: 100 }, /splitSendFragment must be an integer in 512\.\.16384, got 100/],
  ['splitSendFragment above maxSendFragment', { maxSendFragment: 4096, splitSendFragment: 8192 }, /splitSendFragment must be an integer in 512\.\.4096/],
  ['maxPipelines 0', { maxPipelines: 0 }, /maxPipelines must be an integer in 1\.\.1024, got 0/],
  ['maxPipelines NaN', { maxPipelines: Number.NaN }, /maxPipelines/],
  ['recordSizeLimit below 64', { recordSizeLimit: 63 }, /recordSizeLimit must be an integer in 64\.\.16385, got 63/],
  ['recordSizeLimit above 16385', { recordSizeLimit: 16386 }, /recordSizeLimit/],
  ['asyncCrypto not a boolean', { asyncCrypto: 'yes' as unknown as boolean }, /asyncCrypto must be a boolean/],
  ['asyncCrypto with a provider without batch', { asyncCrypto: true, provider: nodeProvider }, /asyncCrypto: true needs a provider with a batch cipher .*"node/],
];

for (const [name, options, re] of invalid) {
  test(`options: ${name} is API misuse, thrown by secure(), connect() and listen() at once`, (t) => {
    for (const make of [
      () => secure({ role: 'client', ca, ...options }),
      () => secure({ role: 'server', cert, key, ...options }),
      () => connect({ host: '127.0.0.1', port: 1, ca, ...options }),
      () => listen({ port: 0, cert, key, ...options }),
    ]) {
      const err = t.throws(make, { instanceOf: TlsError, message: re });
      t.is(err?.kind, 'apiMisuse');
    }
  });
}

test('options: record sizing and pipelining reach the core configuration', (t) => {
  const { provider } = shuffledProvider(1);
  const o = { maxSendFragment: 4096, splitSendFragment: 1000, maxPipelines: 8, asyncCrypto: true, recordSizeLimit: 2048, provider };
  for (const config of [toClientConfig({ ca, ...o }, 'localhost'), toServerConfig({ cert, key, ...o })]) {
    t.like(config, { maxSendFragment: 4096, splitSendFragment: 1000, maxPipelines: 8, asyncCrypto: true, recordSizeLimit: 2048, provider });
  }
  const plain = toClientConfig({ ca }, 'localhost');
  for (const k of ['maxSendFragment', 'splitSendFragment', 'maxPipelines', 'asyncCrypto', 'recordSizeLimit'] as const) {
    t.false(k in plain, `${k} left to the core's default`);
  }
  misuse(() => toServerConfig({ cert, key, maxSendFragment: 100 }), /maxSendFragment/)(t);
});

test('options: splitSendFragment through secure() cuts the server\'s writes into 1000-byte records', async (t) => {
  const wire: Uint8Array[] = [];
  let count = false;
  let arrived = 0;
  const data = pattern(10_000, 3);
  const { atClient } = await exchange({}, { splitSendFragment: 1000 }, new Uint8Array(0), data, {
    chunk: 10_000,
    wrapServer: (d) => ({
      ...d,
      write: (chunk) => {
        if (count) wire.push(chunk);
        return d.write(chunk);
      },
      incoming$: new Observable<Uint8Array>((s) =>
        d.incoming$.subscribe({
          next: (x) => {
            // The client's second flight (its Finished) arrives in the second chunk: from then on the server
            // writes application data only (no tickets: `ticketer: false`).
            if (++arrived >= 2) count = true;
            s.next(x);
          },
          error: (e) => s.error(e),
          complete: () => s.complete(),
        }),
      ),
    }),
  });
  t.is(sha(atClient), sha(data));
  const all = Buffer.concat(wire);
  const sizes: number[] = [];
  for (let off = 0; off < all.length; ) {
    const fr = frameRecord(all, off);
    if (fr.kind !== 'record') throw new Error(fr.kind);
    sizes.push(fr.record.fragment.length);
    off += fr.consumed;
  }
  // Ten records of 1000 data bytes + content type + 16 B tag, then close_notify (2 + 1 + 16).
  t.deepEqual(sizes, [...Array(10).fill(1017), 19]);
});

// ── ordering under asynchronous completion ──────────────────────────────────────────────────────────

test('asyncCrypto: batches completing in shuffled order across 4 connections and both directions keep every byte stream intact', async (t) => {
  const { provider, stats } = shuffledProvider(0x5eed);
  const opts = { provider, asyncCrypto: true, maxPipelines: 4, splitSendFragment: 2048 };
  const runs = [0, 1, 2, 3].map((i) => {
    const up = pattern(96 * 1024 + i * 1000, 10 + i);
    const down = pattern(80 * 1024 + i * 777, 20 + i);
    return exchange(opts, opts, up, down, { keyUpdateMidway: i % 2 === 0 }).then((r) => ({ r, up, down }));
  });
  for (const { r, up, down } of await Promise.all(runs)) {
    t.is(r.atServer.length, up.length);
    t.is(sha(r.atServer), sha(up));
    t.is(r.atClient.length, down.length);
    t.is(sha(r.atClient), sha(down));
  }
  const s = stats();
  t.is(s.settled, s.issued);
  t.true(s.issued > 100, `many batches (${s.issued})`);
  t.true(s.overtakes > s.issued / 10, `batches overtook older batches of other connections/directions: ${s.overtakes} of ${s.issued}`);
});

test('asyncCrypto: the peer\'s close_notify and transport EOF arriving while an open batch is in flight close cleanly', async (t) => {
  // Open batches settle on the next macrotask; the memory transport delivers synchronously, so the server's
  // last records and its EOF arrive while the client is still opening the records before them.
  let opening = 0;
  let eofDuringOpen = false;
  const batch: BatchCipher = {
    sealBatch: nobleSeal,
    openBatch: (alg, k, jobs) => {
      opening++;
      return new Promise((resolve) =>
        setImmediate(() => {
          opening--;
          resolve(nobleOpen(alg, k, jobs));
        }),
      );
    },
  };
  const provider = withBatch('deferred-open', batch);
  const down = pattern(40_000, 9);
  const r = await exchange({ provider, asyncCrypto: true }, {}, new Uint8Array(0), down, {
    chunk: 40_000,
    wrapClient: (d) => ({
      ...d,
      incoming$: new Observable<Uint8Array>((s) =>
        d.incoming$.subscribe({
          next: (x) => s.next(x),
          error: (e) => s.error(e),
          complete: () => {
            if (opening > 0) eofDuringOpen = true;
            s.complete();
          },
        }),
      ),
    }),
  });
  t.true(eofDuringOpen, 'the EOF arrived while an open batch was in flight');
  t.is(sha(r.atClient), sha(down));
});

test('asyncCrypto: a provider whose batch answers synchronously (arrays, not Promises) works too', async (t) => {
  const batch: BatchCipher = {
    sealBatch: nobleSeal,
    openBatch: nobleOpen,
  };
  const provider = withBatch('sync-batch', batch);
  const up = pattern(50_000, 7);
  const down = pattern(40_000, 8);
  const r = await exchange({ provider, asyncCrypto: true }, { provider, asyncCrypto: true, maxPipelines: 2 }, up, down, { chunk: 5000 });
  t.is(sha(r.atServer), sha(up));
  t.is(sha(r.atClient), sha(down));
});

test('asyncCrypto: a batch that rejects fails the connection with an internal error', async (t) => {
  const batch: BatchCipher = {
    sealBatch: () => Promise.reject(new Error('accelerator unplugged')),
    openBatch: nobleOpen,
  };
  const provider = withBatch('broken', batch);
  const [clientEnd, serverEnd] = memoryDuplexPair();
  const server = lastValueFrom(
    of(serverEnd).pipe(
      secure({ role: 'server', cert, key, ticketer: false }),
      mergeMap((conn) => collect(conn)),
    ),
  ).catch((e: unknown) => e);
  const client$ = of(clientEnd).pipe(
    secure({ role: 'client', ca, servername: 'localhost', provider, asyncCrypto: true }),
    mergeMap((conn) => conn.send([pattern(1000, 1)])),
  );
  const err = await t.throwsAsync(lastValueFrom(client$, { defaultValue: undefined }), { instanceOf: TlsError });
  t.is(err?.kind, 'internal');
  t.regex(err?.message ?? '', /accelerator unplugged/);
  // The peer sees the transport torn down without close_notify.
  t.like(await server, { kind: 'unexpectedEof' });
});
