/**
 * The worker-pool provider: record protection on every core. Batches of TLS records (the `crypto` effects of
 * a connection with `asyncCrypto: true`) are sealed and opened on `worker_threads` running noble AES-GCM and
 * ChaCha20-Poly1305; everything else (hashes, HKDF, key exchange, signatures, single-record AEAD) is the
 * synchronous `base` provider.
 *
 * Node-only (it needs `node:worker_threads`). See docs/ARCHITECTURE.md, "asynchronous crypto".
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { nobleProvider } from './noble.js';
import type { AeadAlg, BatchCipher, CryptoProvider, RecordJob, SigningKey } from './provider.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

/** AEAD nonce length (RFC 8446 §5.3): 12 B. */
const NONCE = 12;
const KEY_LENGTH: Record<AeadAlg, number> = { 'aes-128-gcm': 16, 'aes-256-gcm': 32, 'chacha20-poly1305': 32 };
/** Entries per record in a request's layout (see worker.ts). */
const STRIDE = 6;
/** AEAD tag length: a seal result is this much longer than its input, so data slots leave room for it. */
const TAG = 16;
/**
 * No part of a batch is smaller than this many bytes of record data: below it, one message round trip
 * (~0.1-0.2 ms) costs more than the AEAD work it moves (16 KiB of noble AES-GCM is ~0.35 ms).
 */
const MIN_PART_BYTES = 16 * 1024;
/**
 * Parts aim at this size: a large batch becomes several parts per worker, handed out as workers finish
 * (a worker slowed down by the main thread or the collector takes fewer), instead of one fixed share each.
 */
const TARGET_PART_BYTES = 64 * 1024;
/** Parts a worker holds at once: one running, one queued behind it, so it never waits for a round trip. */
const MAX_OUTSTANDING = 2;

/** A batch part waiting for a worker. */
interface QueuedPart {
  readonly req: WorkerRequest;
  readonly bytes: number;
  readonly resolve: (results: (Uint8Array | null)[]) => void;
  readonly reject: (err: Error) => void;
}

/**
 * How many parts to cut `jobs` into: at least one per worker, about {@link TARGET_PART_BYTES} each, none
 * below {@link MIN_PART_BYTES} (one part for a small batch), never more than the records.
 */
function partCount(jobs: readonly RecordJob[], workers: number): number {
  let total = 0;
  for (const j of jobs) total += j.data.length;
  const wanted = Math.max(workers, Math.ceil(total / TARGET_PART_BYTES));
  return Math.max(1, Math.min(wanted, jobs.length, Math.floor(total / MIN_PART_BYTES)));
}

/**
 * The worker entry, next to this module with this module's own extension: `worker.ts` when running from
 * source under a TypeScript loader (the loader is inherited by the worker through `execArgv`), `worker.js`
 * from the compiled `dist/`.
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

/** Flags a worker needs to load its entry like the parent did (module loaders and resolution). */
const WORKER_FLAGS = new Set(['--loader', '--experimental-loader', '--import', '--require', '-r', '--conditions', '-C', '--no-warnings', '--enable-source-maps']);
/** Of those, the ones that take a value (`--flag value` or `--flag=value`). */
const WORKER_FLAGS_WITH_VALUE = new Set(['--loader', '--experimental-loader', '--import', '--require', '-r', '--conditions', '-C']);

/**
 * The parent's `execArgv` flags a worker must inherit: the loader flags (`--loader`, `--import`,
 * `--conditions`, …) with their values. Nothing else: per-process flags (`--expose-gc`, `--cpu-prof`,
 * `--max-old-space-size`, …) make `new Worker` throw, and `--input-type`/`-e` concern only the main entry.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!WORKER_FLAGS.has(name)) continue;
    out.push(a);
    if (eq < 0 && WORKER_FLAGS_WITH_VALUE.has(name) && i + 1 < argv.length) out.push(argv[++i]!);
  }
  return out;
}

/** Options of {@link createWorkerPoolProvider}. */
export interface WorkerPoolOptions {
  /** Number of worker threads (default `os.availableParallelism()`), started on the first batch. */
  readonly size?: number;
  /** The provider for everything except record batches (default: the noble provider). */
  readonly base?: CryptoProvider;
}

/** The pool's {@link BatchCipher}: always asynchronous. */
export interface AsyncBatchCipher extends BatchCipher {
  sealBatch(alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[]): Promise<Uint8Array[]>;
  openBatch(alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[]): Promise<(Uint8Array | null)[]>;
}

/** A provider whose record batches run on a pool of worker threads; `close()` terminates the pool. */
export interface WorkerPoolProvider extends CryptoProvider {
  readonly batch: AsyncBatchCipher;
  /** Number of worker threads the pool uses. */
  readonly size: number;
  /** Threads running now, and how many requests (batch parts) each has answered or holds. */
  stats(): WorkerPoolStats;
  /** Terminate the workers; batches in flight reject, and later batches throw. Idempotent. */
  close(): Promise<void>;
}

/** A snapshot of the pool, for tests and benchmarks. */
export interface WorkerPoolStats {
  /** Worker threads currently started (0 before the first batch and after `close()`). */
  readonly threads: number;
  /** Per running worker: batch parts it has been sent. */
  readonly requests: readonly number[];
}

interface Pending {
  /** The request's layout: where each record's result comes back in the buffer. */
  readonly layout: Uint32Array;
  readonly resolve: (results: (Uint8Array | null)[]) => void;
  readonly reject: (err: Error) => void;
}

/** One worker thread and the requests it has not answered yet. */
class PoolWorker {
  readonly pending = new Map<number, Pending>();
  /** Record bytes sent and not yet answered: where the next part goes. */
  inflightBytes = 0;
  /** Requests sent to this worker so far. */
  requests = 0;
  private readonly worker: Worker;

  constructor(private readonly onDead: (w: PoolWorker) => void) {
    this.worker = new Worker(WORKER_URL, { execArgv: workerExecArgv() });
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if ('error' in reply) p.reject(new Error(`crypto worker: ${reply.error}`));
      else p.resolve(unpack(reply.buf, p.layout, reply.lengths));
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`crypto worker exited (code ${code})`)));
    // An idle pool never keeps the process alive; ref() while requests are pending. After the listeners:
    // attaching a 'message' listener refs the worker's port again.
    this.worker.unref();
  }

  send(req: WorkerRequest, bytes: number): Promise<(Uint8Array | null)[]> {
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.requests++;
      this.inflightBytes += bytes;
      const done = () => {
        this.inflightBytes -= bytes;
      };
      this.pending.set(req.id, {
        layout: req.layout,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      this.worker.postMessage(req, [req.buf]);
    });
  }

  /** Reject everything pending and leave the pool (the worker crashed, exited or the pool is closing). */
  fail(err: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.onDead(this);
    for (const p of pending) p.reject(err);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

const align4 = (n: number): number => (n + 3) & ~3;

/** A reply's results: views into the request's buffer, where the worker wrote them over the records. */
function unpack(buf: ArrayBuffer, layout: Uint32Array, lengths: Int32Array): (Uint8Array | null)[] {
  const out: (Uint8Array | null)[] = new Array(lengths.length);
  for (let i = 0; i < lengths.length; i++) {
    const n = lengths[i]!;
    out[i] = n < 0 ? null : new Uint8Array(buf, layout[i * STRIDE + 3]!, n);
  }
  return out;
}

/**
 * Pack `jobs` into one buffer (the one copy on the way in; the buffer is then transferred, not cloned).
 * Nonce and AAD sit together; the data starts 4-byte aligned.
 */
function pack(id: number, op: 0 | 1, alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[]): WorkerRequest {
  let size = 0;
  for (const j of jobs) size = align4(align4(size + NONCE + j.aad.length) + j.data.length + TAG);
  const buf = new ArrayBuffer(size);
  const bytes = new Uint8Array(buf);
  const layout = new Uint32Array(jobs.length * STRIDE);
  let off = 0;
  jobs.forEach((j, i) => {
    const l = i * STRIDE;
    bytes.set(j.nonce, off);
    layout[l] = off;
    bytes.set(j.aad, off + NONCE);
    layout[l + 1] = off + NONCE;
    layout[l + 2] = j.aad.length;
    off = align4(off + NONCE + j.aad.length);
    bytes.set(j.data, off);
    layout[l + 3] = off;
    layout[l + 4] = j.data.length;
    // The slot: the data, and room for the result to be written over it (sealing adds the tag).
    layout[l + 5] = align4(j.data.length + TAG);
    off += layout[l + 5]!;
  });
  return { id, op, alg, key, buf, layout };
}

/** Cut `jobs` into `n` contiguous runs of about equal byte size (each with at least one record). */
function split(jobs: readonly RecordJob[], n: number): { jobs: readonly RecordJob[]; bytes: number }[] {
  let total = 0;
  for (const j of jobs) total += j.data.length;
  if (n <= 1) return [{ jobs, bytes: total }];
  const out: { jobs: readonly RecordJob[]; bytes: number }[] = [];
  let start = 0;
  let acc = 0;
  let partBytes = 0;
  for (let i = 0; i < jobs.length; i++) {
    const len = jobs[i]!.data.length;
    acc += len;
    partBytes += len;
    // Cut when the running total passes this part's share, keeping one record for each remaining part.
    const remainingParts = n - out.length - 1;
    if (remainingParts > 0 && acc >= (total * (out.length + 1)) / n && jobs.length - (i + 1) >= remainingParts) {
      out.push({ jobs: jobs.slice(start, i + 1), bytes: partBytes });
      start = i + 1;
      partBytes = 0;
    }
  }
  out.push({ jobs: jobs.slice(start), bytes: partBytes });
  return out;
}

/**
 * Build a worker-pool provider: {@link CryptoProvider.batch} seals and opens batches of TLS records
 * (AES-128/256-GCM, ChaCha20-Poly1305; RFC 5116, RFC 8439: 16/32 B keys, 12 B nonces, 16 B tags) on
 * `size` worker threads running noble, and every other method is `base`'s.
 *
 * - A batch is split into contiguous parts of about 64 KiB (at least one per worker, none under 16 KiB),
 *   handed to the workers as they finish (two at a time each), so the records of one connection use every
 *   core and a slowed worker takes fewer; the Promise resolves with the results in job order, `null` for a
 *   record that fails authentication.
 * - Copies: the records of a part are copied once into a buffer that is transferred to the worker, which
 *   writes each result over its record and transfers the same buffer back; each result is a view into it.
 * - Workers start on the first batch and are `unref()`'d while idle: an idle pool never keeps the process
 *   alive. `close()` terminates them. A crashed worker rejects its pending batches and is replaced.
 * - API misuse (a wrong key or nonce length, a closed pool) throws at once.
 *
 * @example
 * ```ts
 * const provider = createWorkerPoolProvider({ size: 4 });
 * connect({ host, port, ca, provider }); // with the core's `asyncCrypto: true`, records go to the pool
 * const sealed = await provider.batch.sealBatch('aes-128-gcm', key16, [{ nonce, aad, data }]);
 * await provider.close();
 * ```
 */
export function createWorkerPoolProvider(opts: WorkerPoolOptions = {}): WorkerPoolProvider {
  const base = opts.base ?? nobleProvider;
  const size = opts.size ?? availableParallelism();
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`worker pool size must be a positive integer, got ${size}`);

  const workers: PoolWorker[] = [];
  let closed = false;
  let nextId = 1;

  const onDead = (w: PoolWorker) => {
    const i = workers.indexOf(w);
    if (i >= 0) workers.splice(i, 1);
  };

  /** The live workers, least loaded first; (re)started up to `size`. */
  const available = (): PoolWorker[] => {
    while (workers.length < size) workers.push(new PoolWorker(onDead));
    return [...workers].sort((a, b) => a.inflightBytes - b.inflightBytes);
  };

  const check = (alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[]) => {
    if (closed) throw new Error('worker pool provider: used after close()');
    const len = KEY_LENGTH[alg];
    if (len === undefined) throw new RangeError(`unknown AEAD: ${String(alg)}`);
    if (key.length !== len) throw new RangeError(`${alg}: key must be ${len} bytes, got ${key.length}`);
    for (const j of jobs) {
      if (j.nonce.length !== NONCE) throw new RangeError(`AEAD nonce must be ${NONCE} bytes, got ${j.nonce.length}`);
    }
  };

  /** Parts waiting for a worker, oldest first (every batch's parts in order). */
  const queue: QueuedPart[] = [];

  /** Hand waiting parts to workers with room (at most {@link MAX_OUTSTANDING} each), least loaded first. */
  const dispatch = (): void => {
    while (queue.length > 0 && !closed) {
      const w = available().find((x) => x.pending.size < MAX_OUTSTANDING);
      if (!w) return;
      const part = queue.shift()!;
      w.send(part.req, part.bytes).then(
        (r) => {
          part.resolve(r);
          dispatch();
        },
        (e: Error) => {
          part.reject(e);
          dispatch();
        },
      );
    }
  };

  const run = (op: 0 | 1, alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[]): Promise<(Uint8Array | null)[]> => {
    check(alg, key, jobs);
    if (jobs.length === 0) return Promise.resolve([]);
    const keyCopy = key.slice(); // cloned into each message; the caller may reuse its buffer at once
    const parts = split(jobs, partCount(jobs, size)).map(
      (part) =>
        new Promise<(Uint8Array | null)[]>((resolve, reject) => {
          queue.push({ req: pack(nextId++, op, alg, keyCopy, part.jobs), bytes: part.bytes, resolve, reject });
        }),
    );
    dispatch();
    return Promise.all(parts).then((results) => (results.length === 1 ? results[0]! : results.flat()));
  };

  const batch: AsyncBatchCipher = {
    sealBatch: (alg, key, jobs) => run(0, alg, key, jobs) as Promise<Uint8Array[]>,
    openBatch: (alg, key, jobs) => run(1, alg, key, jobs),
  };

  // Explicit delegation (not a spread), so a class-based `base` keeps its prototype methods and `this`.
  return {
    name: `workers(${base.name})`,
    randomBytes: (n) => base.randomBytes(n),
    hashLength: (alg) => base.hashLength(alg),
    hash: (alg, data) => base.hash(alg, data),
    hasher: (alg) => base.hasher(alg),
    hmac: (alg, key, data) => base.hmac(alg, key, data),
    hkdfExtract: (alg, salt, ikm) => base.hkdfExtract(alg, salt, ikm),
    hkdfExpand: (alg, prk, info, length) => base.hkdfExpand(alg, prk, info, length),
    aead: (alg, key) => base.aead(alg, key),
    generateKeyPair: (group) => base.generateKeyPair(group),
    keyPairFromPrivate: (group, priv) => base.keyPairFromPrivate(group, priv),
    sharedSecret: (group, priv, peer) => base.sharedSecret(group, priv, peer),
    verify: (scheme, spki, message, signature) => base.verify(scheme, spki, message, signature),
    ...(base.signWith ? { signWith: (key: SigningKey, scheme: number, message: Uint8Array) => base.signWith!(key, scheme, message) } : {}),
    batch,
    size,
    stats: () => ({ threads: workers.length, requests: workers.map((w) => w.requests) }),
    close: async () => {
      if (closed) return;
      closed = true;
      const all = workers.splice(0);
      const err = new Error('worker pool provider closed');
      for (const part of queue.splice(0)) part.reject(err);
      for (const w of all) w.fail(err);
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
