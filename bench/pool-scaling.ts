/**
 * How the worker pool scales (issue "Use every core"), in one process:
 *
 * - **raw**: the pool alone, batches of 32 × 16 KiB records sealed then opened, two batches in flight, for pool
 *   sizes 1, 2, 4, … up to the machine's cores, with noble and with node:crypto in the threads, both ciphers.
 * - **aggregate**: N concurrent TLS 1.3 connections over loopback TCP, both ends in this process, each sending
 *   `bytes` client → server: rxtls with `asyncCrypto` on a pool (node:crypto engine) of each size, beside
 *   node:tls with the same N connections in the same process; for the largest pool also with the receiving ends
 *   borrowing their chunks (`inboundChunks: 'borrowed'`: the pool reuses the memory it opened records into), and
 *   taking them in shared memory (`'shared'`: opened straight into it, no copy out on the main thread).
 *
 * - **dispatch**: what handing a batch to the pool costs the main thread, per pool size: batches of 32 records of
 *   64 B, one at a time (so the crypto is negligible), the main thread's own CPU time per batch (Linux: from its
 *   `schedstat`), the wall time per batch, and the messages posted to the workers per batch.
 *
 * Efficiency = speedup over pool size 1, divided by the pool size. One `POOL {…}` JSON line per measurement with
 * `--json` (what `npm run bench` reads), a table otherwise.
 *
 *   node --no-warnings --loader=ts-node/esm bench/pool-scaling.ts [--quick] [--conns N[,M…]] [--json]
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as tls from 'node:tls';
import { once } from 'node:events';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { Subscription, firstValueFrom } from 'rxjs';
import { recordNonce } from '../src/crypto/keySchedule.js';
import type { AeadAlg, RecordJob } from '../src/crypto/provider.js';
import { createWorkerPoolProvider, type WorkerPoolProvider } from '../src/node/workers.js';
import { SUITE, certs, inboundTotals, payloadRing, ringChunks, rxConnect, rxServer, type AlgName } from './common.js';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');
const cores = availableParallelism();
const SIZES = [...new Set([1, 2, 4, 8, 16, 32, 64].filter((n) => n < cores).concat(cores))];
const RAW_MS = quick ? 600 : 2000;
const connsArg = process.argv.indexOf('--conns');
/** Connection counts of the aggregate runs, in order (`--conns 8,1`). */
const CONNS_LIST = connsArg > 0 ? process.argv[connsArg + 1]!.split(',').map(Number) : [quick ? 4 : 8];
if (CONNS_LIST.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--conns: positive integers, comma-separated`);
const BYTES = (quick ? 8 : 32) * 1024 * 1024; // per connection
const ALGS: AlgName[] = ['chacha20-poly1305', 'aes-128-gcm'];
const RECORD = 16 * 1024;
const now = () => performance.now();

/**
 * `mainUs`: the main thread's busy time (event-loop utilisation × wall time) per 16 KiB record carried, in µs:
 * both ends run on it, so this is one record's sealing side and opening side together (aggregate rows only).
 */
type Row = { kind: 'raw' | 'aggregate'; impl: string; engine?: string; alg: AlgName; size?: number; conns?: number; mbps: number; mainUs?: number; mainCpuUs?: number | null };
/** A dispatch measurement: main-thread CPU µs per batch (null where the platform does not say), wall µs, messages. */
type DispatchRow = { kind: 'dispatch'; size: number; batches: number; cpuUs: number | null; wallUs: number; messages: number };
const rows: Row[] = [];
const emit = (r: Row) => {
  rows.push(r);
  if (json) process.stdout.write(`POOL ${JSON.stringify(r)}\n`);
  else process.stderr.write(`${r.kind} ${r.impl} ${r.engine ?? ''} ${r.alg} size=${r.size ?? '-'} conns=${r.conns ?? '-'}: ${r.mbps.toFixed(1)} MB/s${r.mainUs !== undefined ? `, main thread ${r.mainUs.toFixed(1)} µs/record` : ''}${r.mainCpuUs != null ? ` (${r.mainCpuUs.toFixed(1)} µs of its own CPU)` : ''}\n`);
};
const emitDispatch = (r: DispatchRow) => {
  if (json) process.stdout.write(`POOL ${JSON.stringify(r)}\n`);
  else process.stderr.write(`dispatch size=${r.size}: main thread ${r.cpuUs?.toFixed(1) ?? '?'} µs CPU, ${r.wallUs.toFixed(1)} µs wall, ${r.messages.toFixed(2)} messages per batch\n`);
};

/** The main thread's own CPU time so far in µs (Linux: its `schedstat`), or undefined where there is none. */
function mainThreadCpuUs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    return undefined;
  }
}

/** What a batch costs the main thread on `pool`: `n` batches of 32 records of 64 B, one at a time, after a warm-up. */
async function dispatchCost(pool: WorkerPoolProvider, n: number): Promise<DispatchRow> {
  const key = new Uint8Array(16).fill(1);
  const jobs: RecordJob[] = Array.from({ length: 32 }, (_, i) => ({ nonce: new Uint8Array(12).fill(i), aad: new Uint8Array(5), data: new Uint8Array(64).fill(i) }));
  for (let i = 0; i < Math.min(200, n); i++) await pool.batch.sealBatch('aes-128-gcm', key, jobs);
  const m0 = pool.stats().messages;
  const c0 = mainThreadCpuUs();
  const t0 = now();
  for (let i = 0; i < n; i++) await pool.batch.sealBatch('aes-128-gcm', key, jobs);
  const wallUs = ((now() - t0) * 1000) / n;
  const c1 = mainThreadCpuUs();
  return { kind: 'dispatch', size: pool.size, batches: n, cpuUs: c0 !== undefined && c1 !== undefined ? (c1 - c0) / n : null, wallUs, messages: (pool.stats().messages - m0) / n };
}

/** The pool's raw seal+open MB/s with two batches in flight for `ms`, after a warm-up. */
async function rawPool(pool: WorkerPoolProvider, alg: AeadAlg, ms: number): Promise<number> {
  const key = new Uint8Array(alg === 'aes-128-gcm' ? 16 : 32).fill(5);
  const ring = payloadRing(RECORD, 4);
  const aad = Uint8Array.of(23, 3, 3, 0x40, 0x11);
  const iv = new Uint8Array(12).fill(7);
  let seq = 0;
  const jobs = (): RecordJob[] => Array.from({ length: 32 }, () => ({ nonce: recordNonce(iv, seq++), aad, data: ring[seq & 3]! }));
  const run = async (limit: number) => {
    let bytes = 0;
    const t0 = now();
    const lane = async () => {
      while (now() - t0 < limit) {
        const j = jobs();
        const sealed = await pool.batch.sealBatch(alg, key, j);
        const opened = await pool.batch.openBatch(alg, key, j.map((x, i) => ({ ...x, data: sealed[i]! })));
        if (opened.some((o) => o === null)) throw new Error('raw pool: a record did not open');
        bytes += 32 * RECORD;
      }
    };
    await Promise.all([lane(), lane()]);
    return bytes / ((now() - t0) / 1000) / 1e6;
  };
  await run(Math.min(500, ms)); // start the threads, JIT the ciphers
  return run(ms);
}

/**
 * Throughput and the main thread's busy µs per record over a transfer of `bytes` that took `ms`; `mainCpuUs`, the
 * main thread's own CPU per record (Linux: `schedstat` at `cpu0` and now; null elsewhere), which leaves out the
 * time it was runnable but preempted, as event-loop utilisation does not.
 */
type Measured = { mbps: number; mainUs: number; mainCpuUs: number | null };
const measured = (bytes: number, ms: number, elu: EventLoopUtilization, cpu0: number | undefined): Measured => {
  const cpu1 = mainThreadCpuUs();
  return {
    mbps: bytes / (ms / 1000) / 1e6,
    mainUs: (elu.utilization * ms * 1000) / (bytes / RECORD),
    mainCpuUs: cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / (bytes / RECORD) : null,
  };
};

/**
 * `CONNS` rxtls connections (asyncCrypto on `pool`) each sending `BYTES`; aggregate MB/s. `chunks`: what the
 * receiving ends take (`inboundChunks`; the consumer only counts them): with `'borrowed'` the pool reuses the memory
 * it opened records into, with `'shared'` it opens them straight into shared memory, nothing copied out.
 */
async function aggregateRx(pool: WorkerPoolProvider, alg: AlgName, CONNS: number, chunks: 'owned' | 'borrowed' | 'shared' = 'owned'): Promise<Measured> {
  const options = { provider: pool, asyncCrypto: true, maxPipelines: 32, ciphers: SUITE[alg], inboundChunks: chunks };
  const server = await rxServer({ cert: certs.cert, key: certs.key, ...options });
  const subs = new Subscription();
  try {
    const done = inboundTotals(server.connections, CONNS, BYTES, subs);
    const conns = await Promise.all(
      Array.from({ length: CONNS }, () => firstValueFrom(rxConnect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: certs.ca, ...options }))),
    );
    const ring = payloadRing(64 * 1024);
    const t0 = now();
    const e0 = performance.eventLoopUtilization();
    const cpu0 = mainThreadCpuUs();
    for (const conn of conns) subs.add(conn.send(ringChunks(ring, BYTES)).subscribe({ error: () => undefined }));
    await done;
    return measured(CONNS * BYTES, now() - t0, performance.eventLoopUtilization(e0), cpu0);
  } finally {
    subs.unsubscribe();
    server.close();
  }
}

/** The same with node:tls (OpenSSL on the main thread), both ends in this process. */
async function aggregateNode(alg: AlgName, CONNS: number): Promise<Measured> {
  const server = tls.createServer({ cert: certs.cert, key: certs.key, minVersion: 'TLSv1.3', ciphers: SUITE[alg] });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    let pending = CONNS;
    const done = new Promise<void>((resolve, reject) => {
      server.on('secureConnection', (s) => {
        let n = 0;
        s.on('data', (d: Buffer) => (n += d.length));
        s.on('error', reject);
        s.on('end', () => {
          s.end();
          n === BYTES ? --pending === 0 && resolve() : reject(new Error(`received ${n} of ${BYTES}`));
        });
      });
    });
    const sockets = await Promise.all(
      Array.from({ length: CONNS }, async () => {
        const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, minVersion: 'TLSv1.3', ciphers: SUITE[alg] });
        await once(c, 'secureConnect');
        return c;
      }),
    );
    const ring = payloadRing(64 * 1024);
    const t0 = now();
    const e0 = performance.eventLoopUtilization();
    const cpu0 = mainThreadCpuUs();
    await Promise.all(
      sockets.map(async (c) => {
        for (const chunk of ringChunks(ring, BYTES)) if (!c.write(chunk)) await once(c, 'drain');
        c.end();
      }),
    );
    await done;
    const m = measured(CONNS * BYTES, now() - t0, performance.eventLoopUtilization(e0), cpu0);
    for (const c of sockets) c.destroy();
    return m;
  } finally {
    server.close();
  }
}

for (const engine of ['noble', 'node'] as const) {
  for (const size of SIZES) {
    const pool = createWorkerPoolProvider({ size, engine });
    try {
      for (const alg of ALGS) emit({ kind: 'raw', impl: 'pool', engine, alg, size, mbps: await rawPool(pool, alg, RAW_MS) });
    } finally {
      await pool.close();
    }
  }
}
for (const size of SIZES) {
  const pool = createWorkerPoolProvider({ size, engine: 'node' });
  try {
    emitDispatch(await dispatchCost(pool, quick ? 500 : 3000));
  } finally {
    await pool.close();
  }
}
for (const size of SIZES) {
  const pool = createWorkerPoolProvider({ size, engine: 'node' });
  try {
    // Start the threads (each loads its modules) and JIT the ciphers before any connection is timed: otherwise
    // the first cipher measured pays the pool's start-up.
    for (const alg of ALGS) await rawPool(pool, alg, 300);
    for (const conns of CONNS_LIST) {
      for (const alg of ALGS) emit({ kind: 'aggregate', impl: 'rxtls+pool', engine: 'node', alg, size, conns, ...(await aggregateRx(pool, alg, conns)) });
      // The largest pool again, with the receiving ends borrowing their chunks, then taking them in shared memory.
      if (size === SIZES[SIZES.length - 1]) {
        for (const chunks of ['borrowed', 'shared'] as const) {
          for (const alg of ALGS) emit({ kind: 'aggregate', impl: `rxtls+pool ${chunks}`, engine: 'node', alg, size, conns, ...(await aggregateRx(pool, alg, conns, chunks)) });
        }
      }
    }
  } finally {
    await pool.close();
  }
}
for (const conns of CONNS_LIST) for (const alg of ALGS) emit({ kind: 'aggregate', impl: 'node:tls', alg, conns, ...(await aggregateNode(alg, conns)) });

if (!json) {
  const base = (r: Row) => rows.find((x) => x.kind === r.kind && x.impl === r.impl && x.engine === r.engine && x.alg === r.alg && x.conns === r.conns && x.size === 1)?.mbps;
  for (const r of rows.filter((x) => x.size !== undefined && x.size > 1)) {
    const b = base(r);
    if (b === undefined) continue; // measured at one pool size only
    process.stderr.write(`efficiency ${r.kind} ${r.impl} ${r.engine} ${r.alg} size ${r.size}${r.conns ? `, ${r.conns} connections` : ''}: ${(r.mbps / b / r.size!).toFixed(2)}\n`);
  }
}
process.exit(0);
