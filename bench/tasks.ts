/**
 * The measurements. Each task runs inside a child process started by `bench/run.ts` (hard timeout, fresh
 * heap, optional `--cpu-prof`) and returns a JSON-serialisable result.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import { Subscription, timer } from 'rxjs';
import { recordNonce } from '../src/crypto/keySchedule.js';
import type { RecordJob } from '../src/crypto/provider.js';
import type { TlsConnection } from '../src/rx/types.js';
import type { HandshakeInfo } from '../src/core/types.js';
import { loadCertificateChain, loadPrivateKey } from '../src/crypto/keys.js';
import { createVerifier } from '../src/crypto/x509.js';
import { createTicketer } from '../src/handshake/session.js';
import { createDtlsConnection, handleDtlsEvents, maxDtlsWrite, type DtlsState } from '../src/dtls/connection.js';
import type { DtlsConfig, DtlsInput } from '../src/dtls/types.js';
import { createConnection, handleEvents, type TlsState } from '../src/tls/connection.js';
import type { TlsConfig } from '../src/tls/config.js';
import type { TlsInput } from '../src/tls/types.js';
import {
  MiB,
  SUITE,
  certs,
  inboundTotals,
  now,
  payloadRing,
  provider,
  ringChunks,
  rxConnect,
  rxServer,
  withTimeout,
  warmPool,
  workerPool,
  versionOptions,
  versionSuffix,
  type AlgName,
  type ProviderName,
  type TlsVersion,
} from './common.js';
import { repoUrl } from './paths.js';

const RECORD = 16 * 1024;
const KEYS: Record<AlgName, Uint8Array> = {
  'aes-128-gcm': new Uint8Array(16).fill(0x11),
  'chacha20-poly1305': new Uint8Array(32).fill(0x22),
};

// ── 2 and 5: raw AEAD seal+open ─────────────────────────────────────────────────────────────────────
export interface RawResult {
  readonly provider: string;
  readonly alg: AlgName;
  /** Plaintext MB/s (10^6 B/s) where every byte is sealed and then opened: one TLS connection's crypto work. */
  readonly mbps: number;
  /** For the pool: batches in flight at once. */
  readonly depth?: number;
  /** Process CPU time (all threads) per wall second: how many cores the run got. */
  readonly cores?: number;
  /**
   * For the pool with one batch in flight: the median time of one batch of a single 16 B record (the pool's
   * round trip: post, a worker waking, the reply, the main thread waking), and of one batch of the meter's 32
   * records (ms).
   */
  readonly roundTripMs?: number;
  readonly batchMs?: number;
}

/** A throughput measurement that runs in slices: `run(ms)` measures for about `ms` and gives MB/s. */
interface Meter {
  run(ms: number): Promise<number>;
  /** Process CPU time per wall second over the slices run so far (for the pool). */
  cores?(): number;
}

/** Seal then open `size`-byte records (16 KiB unless told) one at a time on this thread. */
function syncMeter(name: 'noble' | 'node', alg: AlgName, size = RECORD): Meter {
  const aead = provider(name).aead(alg, KEYS[alg]);
  const ring = payloadRing(size, 4);
  const aad = Uint8Array.of(23, 3, 3, 0x40, 0x11);
  const iv = new Uint8Array(12).fill(7);
  let seq = 0;
  const run = (ms: number) => {
    let bytes = 0;
    const t0 = now();
    while (now() - t0 < ms) {
      for (let k = 0; k < 8; k++, seq++) {
        const nonce = recordNonce(iv, seq);
        const sealed = aead.seal(nonce, aad, ring[seq & 3]!);
        if (!aead.open(nonce, aad, sealed)) throw new Error('raw: open failed');
        bytes += size;
      }
    }
    return bytes / ((now() - t0) / 1000) / 1e6;
  };
  run(300); // warm-up (JIT)
  return { run: (ms) => Promise.resolve(run(ms)) };
}

/** Seal then open batches of 32 × 16 KiB records (one `maxPipelines` batch) on the pool, `depth` at a time. */
async function poolMeter(alg: AlgName, depth: number): Promise<Meter> {
  const batch = provider('workers').batch!;
  const ring = payloadRing(RECORD, 4);
  const aad = Uint8Array.of(23, 3, 3, 0x40, 0x11);
  const iv = new Uint8Array(12).fill(7);
  let seq = 0;
  const jobsFor = (): RecordJob[] =>
    Array.from({ length: 32 }, () => ({ nonce: recordNonce(iv, seq++), aad, data: ring[seq & 3]! }));
  let cpuMs = 0;
  let wallMs = 0;
  const run = async (ms: number) => {
    let bytes = 0;
    const t0 = now();
    const c0 = process.cpuUsage();
    const lane = async () => {
      while (now() - t0 < ms) {
        const jobs = jobsFor();
        const sealed = await batch.sealBatch(alg, KEYS[alg], jobs);
        const opened = await batch.openBatch(alg, KEYS[alg], jobs.map((j, i) => ({ ...j, data: sealed[i]! })));
        if (opened.some((o) => o === null)) throw new Error('raw pool: open failed');
        bytes += 32 * RECORD;
      }
    };
    await Promise.all(Array.from({ length: depth }, lane));
    const c = process.cpuUsage(c0);
    cpuMs += (c.user + c.system) / 1000;
    wallMs += now() - t0;
    return bytes / ((now() - t0) / 1000) / 1e6;
  };
  await run(500); // warm-up: starts the workers (and their loader) and JITs them
  cpuMs = 0;
  wallMs = 0;
  return { run, cores: () => cpuMs / wallMs };
}

/** Median wall time (ms) of `n` sequential sealBatch calls on the pool with `jobs()` each. */
async function poolLatency(alg: AlgName, jobs: () => RecordJob[], n: number): Promise<number> {
  const batch = provider('workers').batch!;
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const j = jobs();
    const t0 = now();
    await batch.sealBatch(alg, KEYS[alg], j);
    xs.push(now() - t0);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(n / 2)]!;
}

/** Length of one slice of the interleaved raw measurements. */
const SLICE_MS = 500;

/**
 * Run `meters` for `seconds` each, interleaved in {@link SLICE_MS} slices (a, b, c, a, b, c, …), so that every
 * meter sees the same machine: on a shared host the speed drifts within seconds, and ratios between meters
 * measured one after the other would carry that drift. Returns each meter's mean MB/s.
 */
async function interleaved(meters: readonly Meter[], seconds: number): Promise<number[]> {
  const slices = Math.max(1, Math.round((seconds * 1000) / SLICE_MS));
  const sums = meters.map(() => 0);
  // Each slice starts on a collected heap (the child runs with --expose-gc): otherwise the garbage of one meter
  // (node:crypto allocates a buffer per call, hundreds of MB/s) is collected during the next meter's slice.
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
  for (let k = 0; k < slices; k++) {
    for (let m = 0; m < meters.length; m++) {
      collect();
      sums[m]! += await meters[m]!.run(SLICE_MS);
    }
  }
  return sums.map((x) => x / slices);
}

/**
 * The machine's own ceiling for the pool: noble seal+open in `threads` independent worker threads (no
 * messages, no pool), each streaming through fresh 256 KiB buffers like the pool's batches do.
 */
async function rawThreads(alg: AlgName, seconds: number, threads: number): Promise<RawResult> {
  const url = (m: string) => JSON.stringify(repoUrl(`node_modules/@noble/ciphers/${m}`).href);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      const { gcm } = await import(${url('aes.js')});
      const { chacha20poly1305 } = await import(${url('chacha.js')});
      const aes = workerData.alg === 'aes-128-gcm';
      const key = new Uint8Array(aes ? 16 : 32), aad = new Uint8Array(5);
      const mk = (n) => (aes ? gcm(key, n, aad) : chacha20poly1305(key, n, aad));
      const run = (ms) => {
        let b = 0, i = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < ms) {
          const big = new Uint8Array(16 * 16384);
          for (let k = 0; k < 16; k++, i++) {
            const n = new Uint8Array(12); n[0] = i; n[1] = i >> 8;
            mk(n).decrypt(mk(n).encrypt(big.subarray(k * 16384, (k + 1) * 16384)));
          }
          b += 16 * 16384;
        }
        return b / ((performance.now() - t0) / 1000) / 1e6;
      };
      run(300);
      parentPort.postMessage(run(workerData.ms));
    })();`;
  const { Worker } = await import('node:worker_threads');
  const each = await Promise.all(
    Array.from({ length: threads }, () =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { alg, ms: seconds * 1000 }, execArgv: [] });
        w.once('message', (m: number) => (resolve(m), void w.terminate()));
        w.once('error', reject);
      }),
    ),
  );
  return { provider: `threads×${threads}`, alg, mbps: each.reduce((x, y) => x + y, 0) };
}

export async function raw(args: { seconds: number; algs: AlgName[] }): Promise<RawResult[]> {
  const out: RawResult[] = [];
  for (const alg of args.algs) {
    const pool1 = await poolMeter(alg, 1);
    const pool2 = await poolMeter(alg, 2);
    const [noble, node, p1, p2] = await interleaved([syncMeter('noble', alg), syncMeter('node', alg), pool1, pool2], args.seconds);
    out.push({ provider: 'noble', alg, mbps: noble! }, { provider: 'node', alg, mbps: node! });
    const iv = new Uint8Array(12).fill(9);
    const aad = Uint8Array.of(23, 3, 3, 0x40, 0x11);
    let seq = 0;
    const tiny = () => [{ nonce: recordNonce(iv, seq++), aad, data: new Uint8Array(16) }];
    const full = () => Array.from({ length: 32 }, () => ({ nonce: recordNonce(iv, seq++), aad, data: new Uint8Array(RECORD) }));
    const roundTripMs = await poolLatency(alg, tiny, 300);
    const batchMs = await poolLatency(alg, full, 40);
    out.push({ provider: 'workers', alg, depth: 1, mbps: p1!, cores: pool1.cores!(), roundTripMs, batchMs });
    out.push({ provider: 'workers', alg, depth: 2, mbps: p2!, cores: pool2.cores!() });
    out.push(await rawThreads(alg, args.seconds, 1));
    out.push(await rawThreads(alg, args.seconds, 2));
  }
  return out;
}

// ── 1: bulk throughput over loopback TCP ────────────────────────────────────────────────────────────
export interface BulkArgs {
  /** `pipe`: the calibration {@link bulkPipe} (no TLS, the least JavaScript that moves AEAD records). */
  readonly impl: 'rxtls' | 'node:tls' | 'pipe';
  readonly provider?: ProviderName;
  readonly alg: AlgName;
  readonly bytes: number;
  readonly asyncCrypto?: boolean;
  readonly chunk?: number;
  /** TLS 1.3 when not given; TLS 1.2: both ends pinned to it, the ECDHE-ECDSA suite of `alg`, X25519. */
  readonly version?: TlsVersion;
}

export interface BulkResult {
  readonly label: string;
  readonly alg: AlgName;
  readonly bytes: number;
  readonly ms: number;
  readonly mbps: number;
  /** Process CPU time (all threads) per wall second during the transfer: cores busy. */
  readonly cores: number;
  /** The measured interval on the profile clock (µs). */
  readonly window: [number, number];
  /** rxtls on noble or node: the provider's raw seal+open MB/s, measured just before and after (mean). */
  readonly rawMbps?: number;
}

const label = (a: BulkArgs) =>
  (a.impl === 'node:tls' ? 'node:tls' : a.impl === 'pipe' ? 'record pipe (node:crypto)' : `rxtls+${a.provider}${a.asyncCrypto ? ' (asyncCrypto)' : ''}`) +
  versionSuffix(a.version);

/** Throw unless the connection negotiated `version` (TLS 1.3 when not given) and, at TLS 1.2, X25519. */
function checkVersion(got: string | null | undefined, version: TlsVersion | undefined, group?: string): void {
  if (got !== (version ?? 'TLSv1.3')) throw new Error(`negotiated ${String(got)}, wanted ${version ?? 'TLSv1.3'}`);
  if (version === 'TLSv1.2' && group?.toLowerCase() !== 'x25519') throw new Error(`TLS 1.2 key exchange ${String(group)}, wanted X25519`);
}

/** Client → server, `bytes` of application data, both ends in this process; timed until the server has it all. */
export async function bulk(a: BulkArgs): Promise<BulkResult> {
  const chunk = a.chunk ?? 64 * 1024;
  const ring = payloadRing(chunk);
  // rxtls on a synchronous provider: the provider's raw seal+open speed is measured right before and after the
  // transfer (1 s each), so the stack-overhead ratio compares the two under the same machine conditions.
  const meter = a.impl === 'rxtls' && (a.provider === 'noble' || a.provider === 'node') ? syncMeter(a.provider, a.alg) : undefined;
  const transfer = a.impl === 'node:tls' ? bulkNode : a.impl === 'pipe' ? bulkPipe : bulkRx;
  // Every implementation is measured warm: an untimed first transfer (an eighth of the bytes, at least 4 MiB)
  // JITs its code. Without it whichever ran first in a child paid for compiling itself (the record pipe read
  // 245-261 MB/s cold against 372-466 warm on the same machine).
  await transfer({ ...a, bytes: Math.max(4 * 1024 * 1024, Math.floor(a.bytes / 8 / ring[0]!.length) * ring[0]!.length) }, ring);
  const before = await meter?.run(1000);
  const t = await transfer(a, ring);
  const after = await meter?.run(1000);
  return {
    label: label(a),
    alg: a.alg,
    bytes: a.bytes,
    ms: t.ms,
    mbps: a.bytes / (t.ms / 1000) / 1e6,
    cores: t.cores,
    window: t.window,
    ...(before !== undefined && after !== undefined ? { rawMbps: (before + after) / 2 } : {}),
  };
}

export interface PipeRatioResult {
  readonly alg: AlgName;
  readonly rounds: number;
  readonly bytesPerRound: number;
  /** MB/s over all rounds (total bytes / total time), each. */
  readonly pipeMbps: number;
  readonly rxMbps: number;
  /** rxtls+node / record pipe, from the totals. */
  readonly ratio: number;
  /** The same ratio round by round (how noisy the machine was). */
  readonly perRound: readonly number[];
}

/**
 * rxtls+node against the record pipe in one child, interleaved: `rounds` rounds of `bytes` each, the order
 * alternating (pipe first, then rxtls first), both warmed up first. The machine's speed drifts between and
 * within children (the pipe alone varied 1.9× across runs), so two transfers measured minutes apart give a
 * ratio of that drift; interleaving makes both pay for it alike. The ratio is of the totals.
 */
export async function pipeRatio(a: { alg: AlgName; bytes: number; rounds: number }): Promise<PipeRatioResult> {
  const chunk = 64 * 1024;
  const ring = payloadRing(chunk);
  const bytes = Math.max(chunk, Math.floor(a.bytes / chunk) * chunk);
  const pipe: BulkArgs = { impl: 'pipe', alg: a.alg, bytes };
  const rx: BulkArgs = { impl: 'rxtls', provider: 'node', alg: a.alg, bytes };
  await bulkPipe(pipe, ring);
  await bulkRx(rx, ring);
  const pipeMs: number[] = [];
  const rxMs: number[] = [];
  const runPipe = async () => void pipeMs.push((await bulkPipe(pipe, ring)).ms);
  const runRx = async () => void rxMs.push((await bulkRx(rx, ring)).ms);
  for (let r = 0; r < a.rounds; r++) for (const run of r % 2 === 0 ? [runPipe, runRx] : [runRx, runPipe]) await run();
  const total = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
  const mbps = (ms: number[]) => (bytes * ms.length) / (total(ms) / 1000) / 1e6;
  return {
    alg: a.alg,
    rounds: a.rounds,
    bytesPerRound: bytes,
    pipeMbps: mbps(pipeMs),
    rxMbps: mbps(rxMs),
    ratio: total(pipeMs) / total(rxMs),
    perRound: rxMs.map((m, i) => pipeMs[i]! / m),
  };
}

/** The monotonic clock of V8 CPU profiles, µs: lets a profile be cut to the measured window. */
export const profileClock = (): number => Number(process.hrtime.bigint() / 1000n);

async function timed(body: (start: () => void) => Promise<void>): Promise<{ ms: number; cores: number; window: [number, number] }> {
  let t0 = 0;
  let w0 = 0;
  let c0 = process.cpuUsage();
  await body(() => {
    t0 = now();
    w0 = profileClock();
    c0 = process.cpuUsage();
  });
  const ms = now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cores: (c.user + c.system) / 1000 / ms, window: [w0, profileClock()] };
}

async function bulkRx(a: BulkArgs, ring: Uint8Array[]) {
  const p = provider(a.provider ?? 'noble');
  if (a.provider === 'workers') await warmPool();
  const records = a.asyncCrypto ? { asyncCrypto: true } : {};
  const v = versionOptions(a.version, a.alg).rx;
  const server = await rxServer({ cert: certs.cert, key: certs.key, provider: p, ...v, ...records });
  const subs = new Subscription();
  try {
    return await timed(async (start) => {
      const received = inboundTotals(server.connections, 1, a.bytes, subs);
      const client = rxConnect({
        host: '127.0.0.1',
        port: server.port,
        servername: 'localhost',
        ca: certs.ca,
        provider: p,
        ...v,
        ...records,
      });
      const conn = await new Promise<TlsConnection>((resolve, reject) => subs.add(client.subscribe({ next: resolve, error: reject })));
      checkVersion(conn.info.protocol, a.version, conn.info.group);
      start();
      subs.add(conn.send(ringChunks(ring, a.bytes)).subscribe({ error: () => undefined }));
      await withTimeout(received, 600_000, 'bulk');
    });
  } finally {
    subs.unsubscribe();
    server.close();
  }
}

/** Listen on 127.0.0.1 on an ephemeral port; the port. */
async function listenLocal(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Write `bytes` of the payload ring to `sock` chunk by chunk (each through `encode`), waiting for 'drain'. */
async function writeRing(sock: net.Socket, ring: readonly Uint8Array[], bytes: number, encode: (chunk: Uint8Array) => Uint8Array = (c) => c): Promise<void> {
  for (const chunk of ringChunks(ring, bytes)) if (!sock.write(encode(chunk))) await once(sock, 'drain');
}

async function bulkNode(a: BulkArgs, ring: Uint8Array[]) {
  const v = versionOptions(a.version, a.alg).node;
  const server = tls.createServer({ cert: certs.cert, key: certs.key, ...v });
  const port = await listenLocal(server);
  try {
    return await timed(async (start) => {
      const received = new Promise<void>((resolve, reject) => {
        server.once('secureConnection', (s) => {
          let n = 0;
          s.on('data', (d: Buffer) => (n += d.length));
          s.on('error', reject);
          s.on('end', () => {
            s.end();
            n === a.bytes ? resolve() : reject(new Error(`received ${n} of ${a.bytes} bytes`));
          });
        });
      });
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, ...v });
      c.setNoDelay(true);
      await once(c, 'secureConnect');
      checkVersion(c.getProtocol(), a.version, (c.getEphemeralKeyInfo() as { name?: string } | null)?.name);
      start();
      await writeRing(c, ring, a.bytes);
      c.end();
      await withTimeout(received, 600_000, 'bulk');
      c.destroy();
    });
  } finally {
    server.close();
  }
}

/**
 * Calibration for the bulk rows: the least JavaScript that can carry the same bytes as TLS 1.3 records with
 * node:crypto — no handshake, no state machine, no RxJS. The writer seals 16 KiB records (5-byte header as AAD,
 * a fresh Cipheriv per record, as the nonce changes) into one buffer per 64 KiB write; the reader frames the
 * records out of the socket chunks and opens each with a fresh Decipheriv. Its speed bounds what any
 * JavaScript TLS on node:crypto's one-shot cipher objects can reach on this machine.
 */
async function bulkPipe(a: BulkArgs, ring: Uint8Array[]) {
  const alg = a.alg as 'aes-128-gcm';
  const key = createSecretKey(Buffer.from(KEYS[a.alg]));
  const iv = new Uint8Array(12).fill(9);
  const RECORD = 16 * 1024;
  const server = net.createServer();
  const port = await listenLocal(server);
  try {
    return await timed(async (start) => {
      const received = new Promise<void>((resolve, reject) => {
        server.once('connection', (sock: net.Socket) => {
          let n = 0;
          let seq = 0;
          let pending: Buffer = Buffer.alloc(0);
          /** Open the record at `off` if it is complete; the bytes consumed, or 0. */
          const openAt = (buf: Buffer, off: number): number => {
            if (buf.length - off < 5) return 0;
            const len = buf.readUInt16BE(off + 3);
            if (buf.length - off < 5 + len) return 0;
            const d = createDecipheriv(alg, key, recordNonce(iv, seq++), { authTagLength: 16 });
            d.setAAD(buf.subarray(off, off + 5));
            d.setAuthTag(buf.subarray(off + 5 + len - 16, off + 5 + len));
            n += d.update(buf.subarray(off + 5, off + 5 + len - 16)).length;
            d.final();
            return 5 + len;
          };
          sock.on('data', (chunk: Buffer) => {
            let off = 0;
            if (pending.length) {
              // Complete the record split across chunks (copying only it), then frame the chunk in place.
              const head = pending.length >= 5 ? pending : Buffer.concat([pending, chunk.subarray(0, 5 - pending.length)]);
              if (head.length < 5) return void (pending = head);
              const need = 5 + head.readUInt16BE(3) - pending.length;
              if (chunk.length < need) return void (pending = Buffer.concat([pending, chunk]));
              openAt(Buffer.concat([pending, chunk.subarray(0, need)]), 0);
              off = need;
            }
            for (let used; (used = openAt(chunk, off)) > 0; ) off += used;
            pending = chunk.subarray(off);
          });
          sock.on('error', reject);
          sock.on('end', () => (n === a.bytes ? resolve() : reject(new Error(`received ${n} of ${a.bytes} bytes`))));
        });
      });
      const c = net.connect(port, '127.0.0.1');
      c.setNoDelay(true);
      await once(c, 'connect');
      start();
      let seq = 0;
      await writeRing(c, ring, a.bytes, (chunk) => {
        const records = Math.ceil(chunk.length / RECORD);
        const out = Buffer.allocUnsafe(chunk.length + records * 21);
        let o = 0;
        for (let r = 0; r < records; r++) {
          const body = chunk.subarray(r * RECORD, Math.min(chunk.length, (r + 1) * RECORD));
          const header = out.subarray(o, o + 5);
          header[0] = 23;
          header[1] = 3;
          header[2] = 3;
          header.writeUInt16BE(body.length + 16, 3);
          const cipher = createCipheriv(alg, key, recordNonce(iv, seq++), { authTagLength: 16 });
          cipher.setAAD(header);
          out.set(cipher.update(body), o + 5);
          cipher.final();
          out.set(cipher.getAuthTag(), o + 5 + body.length);
          o += 5 + body.length + 16;
        }
        return out;
      });
      c.end();
      await withTimeout(received, 600_000, 'bulk');
      c.destroy();
    });
  } finally {
    server.close();
  }
}

// ── 3: full handshakes per second ───────────────────────────────────────────────────────────────────
export interface HsResult {
  readonly label: string;
  readonly count: number;
  readonly perSecond: number;
  readonly window: [number, number];
}

/**
 * Sequential full handshakes (no resumption), X25519 + ECDSA P-256 certificate verified against the test root;
 * each counts once both ends report completion, then both are torn down.
 */
export async function handshakes(a: { impl: 'rxtls' | 'node:tls'; provider?: ProviderName; seconds: number; version?: TlsVersion }): Promise<HsResult> {
  const lbl = (a.impl === 'node:tls' ? 'node:tls' : `rxtls+${a.provider}`) + versionSuffix(a.version);
  return countHandshakes(lbl, a.impl === 'node:tls' ? await nodeHandshaker(a.version) : await rxHandshaker(a.provider ?? 'noble', a.version), a.seconds);
}

/** Run `one` 5 times (warm-up), then as many times as fit in `seconds`, one after the other. */
async function countHandshakes(lbl: string, one: { run(): Promise<void>; close(): void }, seconds: number): Promise<HsResult> {
  try {
    for (let i = 0; i < 5; i++) await one.run(); // warm-up
    let count = 0;
    const t0 = now();
    const w0 = profileClock();
    while (now() - t0 < seconds * 1000) {
      await withTimeout(one.run(), 30_000, 'handshake');
      count++;
    }
    return { label: lbl, count, perSecond: count / ((now() - t0) / 1000), window: [w0, profileClock()] };
  } finally {
    one.close();
  }
}

async function rxHandshaker(name: ProviderName, version?: TlsVersion) {
  const p = provider(name);
  const v = versionOptions(version).rx;
  const server = await rxServer({ cert: certs.cert, key: certs.key, provider: p, ...v });
  const waiting: ((c: TlsConnection) => void)[] = [];
  const serverSub = server.connections.subscribe((c) => waiting.shift()?.(c));
  return {
    run: async () => {
      const serverSide = new Promise<TlsConnection>((resolve) => waiting.push(resolve));
      const sub = new Subscription();
      const client = new Promise<TlsConnection>((resolve, reject) =>
        sub.add(
          rxConnect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: certs.ca, provider: p, ...v }).subscribe({
            next: resolve,
            error: reject,
          }),
        ),
      );
      const [c, s] = await Promise.all([client, serverSide]);
      if (c.info.verification !== 'ok') throw new Error('handshake: not verified');
      checkVersion(c.info.protocol, version, c.info.group);
      s.close();
      c.close(); // abortive close of the client (no close_notify), destroys its socket: a handed-over connection
      sub.unsubscribe(); // outlives its subscriber, so it is closed explicitly first
    },
    close: () => {
      serverSub.unsubscribe();
      server.close();
    },
  };
}

async function nodeHandshaker(version?: TlsVersion) {
  const v = versionOptions(version).node;
  const server = tls.createServer({ cert: certs.cert, key: certs.key, ...v });
  const waiting: ((s: tls.TLSSocket) => void)[] = [];
  server.on('secureConnection', (s) => waiting.shift()?.(s));
  server.on('tlsClientError', () => undefined);
  const port = await listenLocal(server);
  return {
    run: async () => {
      const serverSide = new Promise<tls.TLSSocket>((resolve) => waiting.push(resolve));
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, ...v });
      c.on('error', () => undefined);
      await once(c, 'secureConnect');
      if (!c.authorized) throw new Error('handshake: not verified');
      checkVersion(c.getProtocol(), version, (c.getEphemeralKeyInfo() as { name?: string } | null)?.name);
      const s = await serverSide;
      s.on('error', () => undefined);
      s.destroy();
      c.destroy();
    },
    close: () => server.close(),
  };
}

// ── 7: DTLS 1.3, the two reducers wired to each other in memory ────────────────────────────────────
/**
 * `dtls`: the DTLS 1.3 reducer (src/dtls/connection.ts); `tls`: the TLS 1.3 reducer (src/tls/connection.ts) in
 * the same harness, the baseline that separates DTLS's cost from that of sockets and RxJS.
 */
export type MemProtocol = 'dtls' | 'tls';

type MemSide = 'client' | 'server';
type MemInput = { readonly type: string; readonly now: number; readonly data?: Uint8Array };
type MemEffect = { readonly type: string; readonly data?: Uint8Array; readonly info?: HandshakeInfo; readonly error?: Error };

/** One reducer behind a common face: create, reduce, and the name of its "bytes from the peer" input. */
interface MemEngine {
  create(config: DtlsConfig): unknown;
  handle(state: unknown, input: MemInput): { readonly state: unknown; readonly effects: readonly MemEffect[] };
  readonly incoming: 'datagram' | 'received';
}

const ENGINES: Record<MemProtocol, MemEngine> = {
  dtls: {
    create: (c) => createDtlsConnection(c),
    handle: (s, i) => handleDtlsEvents(s as DtlsState, i as DtlsInput),
    incoming: 'datagram',
  },
  tls: {
    create: (c) => createConnection(c as TlsConfig),
    handle: (s, i) => handleEvents(s as TlsState, i as TlsInput),
    incoming: 'received',
  },
};

/**
 * A client and a server reducer fed each other's `transmit` effects directly, in order: no sockets, no timers
 * (nothing is lost, so no retransmission timer is needed), no RxJS. For DTLS every `transmit` is one datagram and
 * becomes one `datagram` input of the other side; for TLS it is a chunk of the byte stream (`received`).
 */
class MemLink {
  private readonly state: Record<MemSide, unknown>;
  private readonly queue: { to: MemSide; data: Uint8Array }[] = [];
  readonly done: Partial<Record<MemSide, HandshakeInfo>> = {};
  /** Application bytes and records the server delivered; `transmit`s (datagrams, for DTLS) and bytes the client sent. */
  bytes = 0;
  records = 0;
  transmits = 0;
  wireBytes = 0;

  constructor(
    private readonly engine: MemEngine,
    client: DtlsConfig,
    server: DtlsConfig,
  ) {
    this.state = { client: engine.create(client), server: engine.create(server) };
  }

  input(side: MemSide, input: MemInput): void {
    const step = this.engine.handle(this.state[side], input);
    this.state[side] = step.state;
    for (const e of step.effects) {
      if (e.type === 'transmit') {
        this.queue.push({ to: side === 'client' ? 'server' : 'client', data: e.data! });
        if (side === 'client') {
          this.transmits++;
          this.wireBytes += e.data!.length;
        }
      } else if (e.type === 'deliver') {
        if (side === 'server') {
          this.bytes += e.data!.length;
          this.records++;
        }
      } else if (e.type === 'handshakeComplete') this.done[side] = e.info;
      else if (e.type === 'closed') throw new Error(`${side} closed: ${e.error?.message ?? 'no error'}`);
      else if (e.type === 'crypto') throw new Error('asynchronous crypto is not driven here');
    }
  }

  /** Feed everything in flight to its receiver, in order (answers included), until nothing is left. */
  drain(): void {
    for (let i = 0; i < this.queue.length; i++) {
      const d = this.queue[i]!;
      this.input(d.to, { type: this.engine.incoming, now: Date.now(), data: d.data });
    }
    this.queue.length = 0;
  }

  /** Both sides start (server first), then the flights go back and forth until both are quiet. */
  handshake(): void {
    this.input('server', { type: 'start', now: Date.now() });
    this.input('client', { type: 'start', now: Date.now() });
    this.drain();
    const c = this.done.client;
    if (!c || !this.done.server) throw new Error('in-memory handshake did not complete');
    if (c.verification !== 'ok') throw new Error(`in-memory handshake: verification ${c.verification}`);
    if (c.group !== 'X25519') throw new Error(`in-memory handshake: group ${c.group ?? 'none'}`);
  }

  /** The largest application write of one record (DTLS: the MTU's; TLS: 2^14). */
  maxWrite(): number {
    return this.engine === ENGINES.dtls ? maxDtlsWrite(this.state.client as DtlsState) : 16 * 1024;
  }
}

/**
 * What the rxtls ends give their reducers: the server parses its chain and key once and issues session tickets
 * (as `listen()` does by default); each client builds its verifier for the test root (as `connect()` does per
 * connection). X25519 is offered first (the default), ECDSA P-256 chain.
 */
function memConfigs(name: 'noble' | 'node', suite?: string): { server: DtlsConfig; client: () => DtlsConfig } {
  const p = provider(name);
  const cipherSuites = suite ? { cipherSuites: [suite as never] } : {};
  const server: DtlsConfig = {
    role: 'server',
    provider: p,
    certificateChain: loadCertificateChain(certs.cert),
    privateKey: loadPrivateKey(certs.key),
    ticketer: createTicketer(p.randomBytes(32)),
    ...cipherSuites,
  };
  const client = (): DtlsConfig => ({ role: 'client', provider: p, serverName: 'localhost', verifier: createVerifier({ ca: certs.ca }), ...cipherSuites });
  return { server, client };
}

const memLabel = (protocol: MemProtocol, name: string) => `rxtls ${protocol === 'dtls' ? 'DTLS' : 'TLS'}+${name} (in memory)`;

/**
 * Sequential full handshakes between two reducers in memory (see {@link MemLink}); one counts when both ends
 * completed and every flight (session tickets and their ACKs included) was delivered. Then both are dropped.
 */
export async function dtlsHandshakes(a: { provider: 'noble' | 'node'; seconds: number; protocol?: MemProtocol }): Promise<HsResult> {
  const protocol = a.protocol ?? 'dtls';
  const cfg = memConfigs(a.provider);
  return countHandshakes(
    memLabel(protocol, a.provider),
    { run: async () => new MemLink(ENGINES[protocol], cfg.client(), cfg.server).handshake(), close: () => undefined },
    a.seconds,
  );
}

export interface DtlsThroughputResult {
  readonly label: string;
  readonly protocol: MemProtocol;
  readonly provider: 'noble' | 'node';
  readonly alg: AlgName;
  readonly records: number;
  readonly recordBytes: number;
  readonly ms: number;
  /** Application bytes delivered per second, MB/s (10^6 B/s). */
  readonly mbps: number;
  readonly recordsPerSecond: number;
  /** Bytes on the wire per record (the datagram, for DTLS). */
  readonly wirePerRecord: number;
  /** The provider's raw seal+open speed on records of the same size, interleaved with the transfers. */
  readonly rawSameSizeMbps?: number;
  /** The measured slices on the profile clock (µs): from the first to the last. */
  readonly window: [number, number];
}

/** Slices of a throughput run: the protocols and the raw meter take turns, so they share the machine's drift. */
const TP_SLICES = 10;

/**
 * One-way throughput after one handshake per protocol: the client writes `records` records of `recordBytes`
 * (one write = one record = one datagram for DTLS), each fed at once to the server's reducer, which delivers it;
 * timed from the first write to the last delivery. Both reducers in this thread: every byte sealed once and
 * opened once. The protocols (DTLS, and the TLS reducer as baseline) and the provider's raw seal+open of records
 * of the same size run interleaved in {@link TP_SLICES} slices (DTLS, TLS, raw, DTLS, …; a raw slice lasts as long
 * as the first protocol's slices on average), with `gc()` between slices when the child has it. `raw: false`
 * leaves the raw meter out (for a profile of the transfers alone).
 */
export async function dtlsThroughput(a: {
  provider: 'noble' | 'node';
  alg: AlgName;
  records: number;
  recordBytes?: number;
  protocols?: MemProtocol[];
  raw?: boolean;
}): Promise<DtlsThroughputResult[]> {
  const protocols = a.protocols ?? ['dtls', 'tls'];
  const size = a.recordBytes ?? 1200;
  const cfg = memConfigs(a.provider, SUITE[a.alg]);
  const ring = payloadRing(size);
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const runs = protocols.map((protocol) => {
    const link = new MemLink(ENGINES[protocol], cfg.client(), cfg.server);
    link.handshake();
    if (size > link.maxWrite()) throw new Error(`a ${size} B write does not fit one record (at most ${link.maxWrite()})`);
    const send = (n: number) => {
      for (let i = 0; i < n; i++) {
        link.input('client', { type: 'write', now: Date.now(), data: ring[i & 15]! });
        link.drain();
      }
    };
    send(Math.min(2000, a.records)); // warm-up (JIT)
    return { protocol, link, send, ms: 0, sent: 0, base: { bytes: link.bytes, records: link.records, transmits: link.transmits, wire: link.wireBytes } };
  });
  const meter = a.raw === false ? undefined : syncMeter(a.provider, a.alg, size);
  let rawMbpsMs = 0;
  let rawMs = 0;
  const w0 = profileClock();
  for (let k = 0; k < TP_SLICES; k++) {
    const n = Math.floor((a.records * (k + 1)) / TP_SLICES) - Math.floor((a.records * k) / TP_SLICES);
    for (const r of runs) {
      collect();
      const t0 = now();
      r.send(n);
      r.ms += now() - t0;
      r.sent += n;
    }
    if (!meter) continue;
    collect();
    const sliceMs = Math.max(20, runs[0]!.ms / (k + 1));
    rawMbpsMs += (await meter.run(sliceMs)) * sliceMs;
    rawMs += sliceMs;
  }
  const window: [number, number] = [w0, profileClock()];
  return runs.map(({ protocol, link, ms, sent, base }) => {
    const bytes = link.bytes - base.bytes;
    if (sent !== a.records || bytes !== a.records * size || link.records - base.records !== a.records) {
      throw new Error(`${protocol}: delivered ${link.records - base.records} records, ${bytes} B, of ${a.records} × ${size} B`);
    }
    if (protocol === 'dtls' && link.transmits - base.transmits !== a.records) {
      throw new Error(`${a.records} writes went out in ${link.transmits - base.transmits} datagrams`);
    }
    return {
      label: memLabel(protocol, a.provider),
      protocol,
      provider: a.provider,
      alg: a.alg,
      records: a.records,
      recordBytes: size,
      ms,
      mbps: bytes / (ms / 1000) / 1e6,
      recordsPerSecond: a.records / (ms / 1000),
      wirePerRecord: (link.wireBytes - base.wire) / a.records,
      ...(meter ? { rawSameSizeMbps: rawMbpsMs / rawMs } : {}),
      window,
    };
  });
}

// ── 4: memory under a fast producer and a slow consumer ─────────────────────────────────────────────
export interface RssResult {
  readonly impl: RssImpl;
  /** `natural`: V8 collects when it wants (raw peak); `gc`: `gc()` forced before every sample (live memory). */
  readonly mode: 'natural' | 'gc';
  readonly bytes: number;
  readonly ms: number;
  /** RSS after the handshake, after `gc()`. */
  readonly baselineMiB: number;
  /** Highest RSS sample (every 10 ms in `natural` mode; after `gc()` every 100 ms in `gc` mode). */
  readonly peakMiB: number;
  readonly growthMiB: number;
  /** Peak of `process.memoryUsage()` `arrayBuffers` (record and chunk buffers; garbage too in `natural` mode). */
  readonly peakArrayBuffersMiB: number;
  readonly peakHeapUsedMiB: number;
  /** `gc` mode: growth of the highest sample in the first and in the last quarter of the run (a leak grows). */
  readonly firstQuarterGrowthMiB?: number;
  readonly lastQuarterGrowthMiB?: number;
  readonly samples: number;
  readonly api: string;
  /** Flow-control settings of both ends. */
  readonly highWaterMark: number;
}

/**
 * The client sends `bytes` from an async generator (pulled only while the transport is writable) as fast as it
 * can; the server consumes through `receive()` and stalls 25 ms after every 4 MiB. Both ends are in this
 * process. Needs `--expose-gc`: the baseline is taken after `gc()`.
 *
 * - `natural`: RSS sampled every 10 ms while V8 collects on its own schedule: the peak includes buffers that
 *   are already garbage (every record is a fresh ArrayBuffer; V8 frees external memory in large steps).
 * - `gc`: every 100 ms `gc()` runs first, so a sample is what is really still referenced (flow-control
 *   buffers, socket buffers, the TLS state); comparing the first and last quarter shows whether it grows.
 */
export async function rss(a: {
  bytes: number;
  provider: ProviderName;
  mode: 'natural' | 'gc';
  highWaterMark?: number;
  impl?: RssImpl;
  /** rxtls only: `s2c` makes the server the fast producer and the client the slow consumer. */
  direction?: 'c2s' | 's2c';
}): Promise<RssResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('rss: run with --expose-gc');
  const impl = a.impl ?? 'rxtls';
  const highWaterMark = a.highWaterMark ?? 64 * 1024;
  const ring = payloadRing(64 * 1024);
  const run = impl === 'rxtls' ? await rssRxtls(a.provider, highWaterMark, ring, a.direction ?? 'c2s') : impl === 'node:tls' ? await rssNodeTls(ring) : rssChurn(ring);
  let peak = 0;
  let peakAb = 0;
  let peakHeap = 0;
  let samples = 0;
  const series: { at: number; rss: number }[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
    const baseline = process.memoryUsage.rss();
    peak = baseline;
    const t0 = now();
    const sample = () => {
      if (a.mode === 'gc') gc();
      const r = process.memoryUsage.rss();
      peak = Math.max(peak, r);
      samples++;
      if (a.mode === 'gc' || samples % 5 === 0) {
        const m = process.memoryUsage(); // slower: walks the heap spaces
        peakAb = Math.max(peakAb, m.arrayBuffers);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }
      if (a.mode === 'gc') series.push({ at: now() - t0, rss: r });
    };
    sampler = setInterval(sample, a.mode === 'gc' ? 100 : 10);
    await withTimeout(run.transfer(a.bytes), 900_000, 'rss');
    const ms = now() - t0;
    clearInterval(sampler);
    sample();
    const quarter = (from: number, to: number) =>
      Math.max(...series.filter((x) => x.at >= from * ms && x.at <= to * ms).map((x) => x.rss), baseline) - baseline;
    return {
      impl,
      mode: a.mode,
      bytes: a.bytes,
      ms,
      baselineMiB: baseline / MiB,
      peakMiB: peak / MiB,
      growthMiB: (peak - baseline) / MiB,
      peakArrayBuffersMiB: peakAb / MiB,
      peakHeapUsedMiB: peakHeap / MiB,
      ...(a.mode === 'gc' ? { firstQuarterGrowthMiB: quarter(0, 0.25) / MiB, lastQuarterGrowthMiB: quarter(0.75, 1) / MiB } : {}),
      samples,
      api: run.api,
      highWaterMark,
    };
  } finally {
    clearInterval(sampler);
    run.close();
  }
}

/** Who moves the bytes in a memory run: rxtls, node:tls, or no TLS at all (fresh 16 KiB buffers, calibration). */
export type RssImpl = 'rxtls' | 'node:tls' | 'churn';

/** A connected pair ready to move `bytes` from a fast producer to the slow consumer. */
interface RssRun {
  readonly api: string;
  transfer(bytes: number): Promise<void>;
  close(): void;
}

/** The slow consumer: after every 4 MiB it stops reading for 25 ms. */
const STALL_EVERY = 4 * MiB;
const STALL_MS = 25;

async function rssRxtls(providerName: ProviderName, highWaterMark: number, ring: readonly Uint8Array[], direction: 'c2s' | 's2c'): Promise<RssRun> {
  const p = provider(providerName);
  const server = await rxServer({ cert: certs.cert, key: certs.key, provider: p, highWaterMark });
  const subs = new Subscription();
  const accepted = new Promise<TlsConnection>((resolve) => subs.add(server.connections.subscribe(resolve)));
  const client = rxConnect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: certs.ca, provider: p, highWaterMark });
  const conn = await new Promise<TlsConnection>((resolve, reject) => subs.add(client.subscribe({ next: resolve, error: reject })));
  const serverConn = await accepted;
  const [producer, consumer] = direction === 'c2s' ? [conn, serverConn] : [serverConn, conn];
  return {
    api: `send(asyncIterable) → receive(project), ${direction === 'c2s' ? 'client → server' : 'server → client'}`,
    transfer: (bytes) =>
      new Promise<void>((resolve, reject) => {
        let n = 0;
        let sinceStall = 0;
        subs.add(
          consumer
            .receive((d) => {
              n += d.length;
              sinceStall += d.length;
              if (sinceStall < STALL_EVERY) return [];
              sinceStall = 0;
              return timer(STALL_MS);
            })
            .subscribe({ error: reject, complete: () => (n === bytes ? resolve() : reject(new Error(`received ${n} of ${bytes}`))) }),
        );
        async function* produce() {
          for (let sent = 0, i = 0; sent < bytes; i++, sent += 64 * 1024) yield ring[i % ring.length]!;
        }
        subs.add(producer.send(produce()).subscribe({ error: reject }));
      }),
    close: () => {
      subs.unsubscribe();
      server.close();
    },
  };
}

/** The same scenario with node:tls on both ends: `write`/`drain` and `pause`/`resume`. */
async function rssNodeTls(ring: readonly Uint8Array[]): Promise<RssRun> {
  const server = tls.createServer({ cert: certs.cert, key: certs.key, minVersion: 'TLSv1.3' });
  const port = await listenLocal(server);
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca });
  await once(c, 'secureConnect');
  const [sc] = await accepted;
  return {
    api: 'socket.write/drain → data + pause/resume',
    transfer: (bytes) =>
      new Promise<void>((resolve, reject) => {
        let n = 0;
        let sinceStall = 0;
        sc.on('error', reject);
        c.on('error', reject);
        sc.on('data', (d: Buffer) => {
          n += d.length;
          sinceStall += d.length;
          if (n === bytes) resolve();
          if (sinceStall < STALL_EVERY) return;
          sinceStall = 0;
          sc.pause();
          setTimeout(() => sc.resume(), STALL_MS);
        });
        let sent = 0;
        let i = 0;
        const pump = () => {
          while (sent < bytes) {
            const chunk = ring[i++ % ring.length]!;
            sent += chunk.length;
            if (!c.write(chunk)) return void c.once('drain', pump);
          }
        };
        pump();
      }),
    close: () => {
      c.destroy();
      server.close();
    },
  };
}

/**
 * Calibration without TLS or sockets: the consumer's side of the traffic alone, a fresh 16 KiB buffer per
 * record received (what any library that hands the application new buffers allocates), at the same pace.
 */
function rssChurn(ring: readonly Uint8Array[]): RssRun {
  return {
    api: 'no TLS: one fresh 16 KiB Uint8Array per 16 KiB, copied from the payload',
    transfer: async (bytes) => {
      let sinceStall = 0;
      let sink = 0;
      for (let n = 0, i = 0; n < bytes; i++) {
        const src = ring[i % ring.length]!;
        for (let o = 0; o < src.length && n < bytes; o += 16384, n += 16384) {
          const b = src.slice(o, o + 16384); // a new ArrayBuffer, dropped at once
          sink ^= b[0]!;
        }
        sinceStall += src.length;
        if (sinceStall >= STALL_EVERY) {
          sinceStall = 0;
          await new Promise((r) => setTimeout(r, STALL_MS));
        } else if (i % 4 === 0) await new Promise((r) => setImmediate(r));
      }
      if (sink === -1) throw new Error('unreachable');
    },
    close: () => undefined,
  };
}

/** Close what a task may have left running (the worker pool). */
export async function cleanup(): Promise<void> {
  await workerPool()?.close();
  await stopLoad();
}

// ── 6: server CPU per connection under a client load in another process (bench/hostile.ts) ──────────
import { stopLoad } from './hostile.js';
export { serverCpu } from './hostile.js';
export type { ServerCpuResult } from './hostile.js';
