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
import { nobleProvider } from '../crypto/noble.js';
import {
  AEAD_KEY_LENGTH,
  type AeadAlg,
  type BatchCipher,
  type BatchOptions,
  type BatchResults,
  type CryptoProvider,
  type GroupName,
  type RecordJob,
  type SigningKey,
} from '../crypto/provider.js';
import {
  RESULT_SLAB,
  TAG,
  batchSize,
  freshSlab,
  packBatch,
  placeResults,
  placedResults,
  unpackBatch,
  type BatchDone,
  type BatchMessage,
  type RegisterMessage,
  type WorkerStart,
} from './batchBuffer.js';
import { RING, WAKE_FIRST, createDispatch, dispatchWords, publishEntry, ring } from './dispatch.js';

/** AEAD nonce length (RFC 8446 §5.3): 12 B. */
const NONCE = 12;
/** Batch buffers are allocated in powers of two from this size, so one buffer fits many batches. */
const MIN_BUFFER = 64 * 1024;
/**
 * Batch buffers kept for reuse, at most this many and {@link MAX_FREE_BYTES} in all: fresh memory per batch costs
 * page faults on every thread that touches it, and each new buffer is registered with every worker (a message
 * each, and another when it is dropped): a pool of 15 threads under bursts of 40 batches, keeping only 4, posted
 * about 14 messages per batch for that (`bench/results.md`, issue 15).
 */
const MAX_FREE_BUFFERS = 64;
const MAX_FREE_BYTES = 16 * 1024 * 1024;
/**
 * Batch buffers registered with the workers at once, at most (`dispatch.ts`): those in use plus the free ones kept.
 * A batch that finds none to register (more batches in flight than the ring holds) goes to the workers as messages.
 */
const MAX_REGISTERED = RING;
/**
 * Result slabs given back by leases and kept for the next leased batches: at most this many (8 MiB of 64 KiB
 * slabs; more come back only when many connections' batches are in flight, and those are left to the collector).
 */
const MAX_FREE_SLABS = 128;
/**
 * Shared result slabs (64 KiB each) a pool registers with its workers, at most: results on loan that may be shared
 * memory (`BatchOptions.shared`: sealed records for a socket, opened ones for an application that takes shared
 * chunks) are written straight into them by the workers, with no copy out of shared memory. When too few are free,
 * a batch's results are copied out as for any other batch. 16 MiB per pool at most, registered as load needs them:
 * eight connections with shared chunks keep about 200 in use (with 64, some 60 % of their batches were copied out,
 * at a quarter more main-thread CPU per record: `bench/results.md`).
 */
export const MAX_SHARED_SLABS = 256;

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
  /**
   * What the workers seal and open records with: `'noble'` (default; pure JavaScript, the same code in every
   * runtime) or `'node'` (node:crypto, OpenSSL's AES-NI / vectorised ChaCha20: several times faster per
   * thread). Results are identical; only the speed differs.
   */
  readonly engine?: 'noble' | 'node';
}

/** The pool's {@link BatchCipher}: always asynchronous. */
export interface AsyncBatchCipher extends BatchCipher {
  sealBatch(alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[], opts?: BatchOptions): Promise<BatchResults<Uint8Array>>;
  openBatch(alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[], opts?: BatchOptions): Promise<BatchResults<Uint8Array | null>>;
}

/** A provider whose record batches run on a pool of worker threads; `close()` terminates the pool. */
export interface WorkerPoolProvider extends CryptoProvider {
  readonly batch: AsyncBatchCipher;
  /** Number of worker threads the pool uses. */
  readonly size: number;
  /** Threads running now, batches handed to the pool, and records each worker slot has processed. */
  stats(): WorkerPoolStats;
  /** Terminate the workers; batches in flight reject, and later batches throw. Idempotent. */
  close(): Promise<void>;
}

/** A snapshot of the pool, for tests and benchmarks. */
export interface WorkerPoolStats {
  /** Worker threads currently started (0 before the first batch and after `close()`). */
  readonly threads: number;
  /** Batches handed to the pool so far. */
  readonly batches: number;
  /** Per worker slot (`size` of them): records that slot's threads have sealed or opened so far. */
  readonly records: readonly number[];
  /** Shared batch buffers allocated so far, and kept for reuse now (at most 64, and 16 MiB). */
  readonly buffersAllocated: number;
  readonly buffersFree: number;
  /**
   * Messages posted to the workers so far: buffer and slab registrations, and batches sent as messages (only when
   * more batches are in flight than the ring holds). Batches themselves go through the ring and the doorbell.
   */
  readonly messages: number;
  /** Batches handed to the workers as messages instead of ring entries. */
  readonly batchesByMessage: number;
  /** Batch buffers registered with the workers now (those of batches in flight, and the free ones kept). */
  readonly buffersRegistered: number;
  /** Result slabs taken from those that leases gave back (instead of fresh memory), and kept for reuse now. */
  readonly slabsReused: number;
  readonly slabsFree: number;
  /** Shared result slabs registered with the workers, free now, and batches written straight into them. */
  readonly sharedSlabs: number;
  readonly sharedSlabsFree: number;
  readonly batchesInPlace: number;
}

/** A batch handed to the workers, waiting for the last of its records. */
interface PendingBatch {
  readonly msg: BatchMessage;
  /** The batch buffer's registration index (`dispatch.ts`), when it has one. */
  readonly index: number | undefined;
  readonly resolve: (results: BatchResults<Uint8Array | null>) => void;
  /** The caller takes the results' slabs on loan (`BatchOptions.lease`). */
  readonly lease: boolean;
  /** On loan in shared slabs: each record's slab index and offset, and the slabs taken. */
  readonly placed?: { readonly dest: Uint32Array; readonly slabs: readonly number[] };
  readonly reject: (err: Error) => void;
}

/** One worker thread. */
class PoolWorker {
  private readonly worker: Worker;

  constructor(
    start: WorkerStart,
    onDone: (id: BatchDone) => void,
    private readonly onDead: (w: PoolWorker, err: Error) => void,
  ) {
    this.worker = new Worker(WORKER_URL, { execArgv: workerExecArgv(), workerData: start });
    this.worker.on('message', onDone);
    // An uncaught exception in the worker: report it as an Error of this realm, with the original as its cause.
    this.worker.on('error', (err) => this.onDead(this, new Error(`crypto worker failed: ${(err as { message?: unknown })?.message ?? String(err)}`, { cause: err })));
    this.worker.on('exit', (code) => this.onDead(this, new Error(`crypto worker exited (code ${code})`)));
    // An idle pool never keeps the process alive; ref() while batches are pending. After the listeners:
    // attaching a 'message' listener refs the worker's port again.
    this.worker.unref();
  }

  post(msg: BatchMessage | RegisterMessage): void {
    this.worker.postMessage(msg);
  }

  ref(keepAlive: boolean): void {
    if (keepAlive) this.worker.ref();
    else this.worker.unref();
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * Build a worker-pool provider: {@link CryptoProvider.batch} seals and opens batches of TLS records
 * (AES-128/256-GCM, ChaCha20-Poly1305; RFC 5116, RFC 8439: 16/32 B keys, 12 B nonces, 16 B tags) on
 * `size` worker threads running noble (or node:crypto: `engine: 'node'`), and every other method is `base`'s.
 *
 * - A batch is written into one `SharedArrayBuffer` and published as one entry of a shared ring (`dispatch.ts`);
 *   the main thread wakes at most two threads, each woken thread wakes up to two more while records are left,
 *   and the threads claim the batch's records one at a time from a shared counter until none is left. No
 *   message per thread per batch: the main thread's cost per batch does not grow with the pool. So the records
 *   of one connection use every core, a worker slowed down (by the main thread, the collector or another
 *   batch) simply takes fewer, and the main thread hears back once per batch, not once per part: it is off
 *   the critical path while the batch runs. The Promise resolves with the results in job order, `null` for
 *   a record that fails authentication.
 * - Copies: the records are copied once into the shared buffer, and the results once out of it into ordinary
 *   64 KiB slabs (each result is a view into one). A caller that asks for a lease (`{ lease: true }`) gets the
 *   results with `release()`, which gives their slabs back for later leased batches (fresh memory per record is
 *   what makes the main thread's collector run mark-compacts: `bench/results.md`, issue 15); results on loan that
 *   may be shared memory (`{ lease: true, shared: true }`) are written by the workers straight into shared slabs,
 *   with no copy out. A shared buffer is reused as
 *   soon as its batch is done, even if a busy worker has not looked at the batch yet (at most
 *   {@link MAX_FREE_BUFFERS} kept, the largest, 16 MiB in all), so a busy pool does not fault in fresh pages on every thread per
 *   batch.
 * - Workers start on the first batch (as many as it has records, up to `size`), sleep on the ring's doorbell
 *   (`Atomics.wait`) when there is no work, and are `unref()`'d while the pool is idle: an idle pool never keeps
 *   the process alive. `close()` terminates them. A crashed worker rejects the batches in flight (it may
 *   have held some of their records) and is replaced on the next batch.
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
  const engine = opts.engine ?? 'noble';
  if (engine !== 'noble' && engine !== 'node') throw new RangeError(`worker pool engine must be 'noble' or 'node', got ${String(engine)}`);

  /** Worker slots: a crashed worker's slot is empty until the next batch restarts it. */
  const workers: (PoolWorker | undefined)[] = new Array(size).fill(undefined);
  const stats = new SharedArrayBuffer(4 * size);
  const pending = new Map<number, PendingBatch>();
  let closed = false;
  /** Batch ids run over uint32 (the ring carries them as such), skipping 0. */
  let nextId = 1;
  let batches = 0;
  let buffersAllocated = 0;
  let messages = 0;
  let batchesByMessage = 0;

  // The ring and doorbell (`dispatch.ts`): no entry is valid until written.
  const dispatch = createDispatch();
  const words = dispatchWords(dispatch);
  let tail = 0;
  /** The batch id each ring entry carried last (0: none): an entry is rewritten only once that batch is done. */
  const ringBatch = new Array<number>(RING).fill(0);

  /**
   * Batch buffers registered with the workers, by index (`undefined`: a vacant index), the vacant indices, and
   * the indices of the free buffers kept for reuse.
   */
  const table: (SharedArrayBuffer | undefined)[] = [];
  /** Each index's registration number (`dispatch.ts`: an entry names both). */
  const registrations: number[] = [];
  let nextRegistration = 1;
  const vacant: number[] = [];
  const free: number[] = [];
  let freeBytes = 0;
  const postAll = (msg: RegisterMessage) => {
    for (const w of workers) {
      if (!w) continue;
      w.post(msg);
      messages++;
    }
  };
  /** Register `buf` with every running worker (a worker started later gets the table): its index. */
  const register = (buf: SharedArrayBuffer): number => {
    const index = vacant.pop() ?? table.length;
    const registration = nextRegistration;
    nextRegistration = (nextRegistration + 1) >>> 0 || 1;
    table[index] = buf;
    registrations[index] = registration;
    postAll({ table: 'buffers', index, buf, registration });
    return index;
  };
  /** Drop registration `index`: a worker busy in that batch keeps the buffer until it is done with it. */
  const unregister = (index: number) => {
    table[index] = undefined;
    registrations[index] = 0;
    vacant.push(index);
    postAll({ table: 'buffers', index, buf: undefined, registration: 0 });
  };
  /** Result slabs given back by leases ({@link RESULT_SLAB} bytes each). */
  const slabs: Uint8Array[] = [];
  let slabsReused = 0;
  /** Shared result slabs registered with the workers (by index), and the indices free now. */
  const shared: SharedArrayBuffer[] = [];
  const sharedViews: Uint8Array[] = [];
  const sharedFree: number[] = [];
  let batchesInPlace = 0;
  const sharedAt = (i: number): Uint8Array | undefined => sharedViews[i];
  /** A free shared slab's index: one given back, or a new one registered with every running worker. */
  const takeShared = (): number | undefined => {
    const free = sharedFree.pop();
    if (free !== undefined) return free;
    if (shared.length >= MAX_SHARED_SLABS) return undefined;
    const index = shared.length;
    const buf = new SharedArrayBuffer(RESULT_SLAB);
    shared.push(buf);
    sharedViews.push(new Uint8Array(buf));
    // Before any batch that uses it: messages reach a worker in order. A worker started later gets them all.
    postAll({ table: 'slabs', index, buf, registration: 0 });
    return index;
  };
  const giveShared = (index: number) => {
    if (!closed) sharedFree.push(index);
  };
  /** The next worker slot to start, so a pool grows one slot after another as batches need more threads. */
  let turn = 0;

  const setRef = () => {
    for (const w of workers) w?.ref(pending.size > 0);
  };

  const sizeOf = (index: number): number => table[index]!.byteLength;
  /**
   * A shared buffer of at least `n` bytes: a free one, or a new one of the next power of two, registered unless
   * {@link MAX_REGISTERED} are already (`index` undefined: the batch goes as messages).
   */
  const take = (n: number): { buf: SharedArrayBuffer; index: number | undefined } => {
    let best = -1;
    for (let i = 0; i < free.length; i++) {
      if (sizeOf(free[i]!) >= n && (best < 0 || sizeOf(free[i]!) < sizeOf(free[best]!))) best = i;
    }
    if (best >= 0) {
      const index = free.splice(best, 1)[0]!;
      freeBytes -= sizeOf(index);
      return { buf: table[index]!, index };
    }
    let cap = MIN_BUFFER;
    while (cap < n) cap *= 2;
    buffersAllocated++;
    const buf = new SharedArrayBuffer(cap);
    return { buf, index: table.length - vacant.length < MAX_REGISTERED ? register(buf) : undefined };
  };

  /**
   * Keep a finished batch's buffer for reuse (no worker touches it any more: see `batchBuffer.ts`, "Reuse").
   * Beyond the bounds the largest are kept (a small one fits fewer batches); the others are unregistered.
   */
  const release = (b: PendingBatch) => {
    if (closed || b.index === undefined) return;
    free.push(b.index);
    freeBytes += sizeOf(b.index);
    while (free.length > MAX_FREE_BUFFERS || freeBytes > MAX_FREE_BYTES) {
      let smallest = 0;
      for (let i = 1; i < free.length; i++) if (sizeOf(free[i]!) < sizeOf(free[smallest]!)) smallest = i;
      const [dropped] = free.splice(smallest, 1);
      freeBytes -= sizeOf(dropped!);
      unregister(dropped!);
    }
  };

  /** `results` with their `release()` (not one of the results): `giveBack` once, and never after `close()`. */
  const onLoan = <T>(results: T[], giveBack: () => void): BatchResults<T> => {
    let given = false;
    return Object.defineProperty(results, 'release', {
      value: () => {
        if (given || closed) return;
        given = true;
        giveBack();
      },
    });
  };

  const onDone = (id: BatchDone) => {
    const b = pending.get(id);
    if (!b) return; // rejected already (a worker crashed or the pool closed)
    pending.delete(id);
    setRef();
    if (b.placed) {
      // Written straight into shared slabs: the results are views of them, and go back with release().
      const placed = b.placed;
      let results: BatchResults<Uint8Array | null>;
      try {
        results = placedResults(b.msg.buf, b.msg.count, placed.dest, sharedAt);
      } catch (err) {
        // The batch is finished: no worker writes there any more.
        for (const s of placed.slabs) giveShared(s);
        release(b);
        b.reject(err as Error);
        return;
      }
      release(b);
      batchesInPlace++;
      b.resolve(onLoan(results, () => placed.slabs.forEach(giveShared)));
      return;
    }
    let results: BatchResults<Uint8Array | null>;
    // A leased batch's results go into slabs given back earlier, when there are any.
    const lent: Uint8Array[] = [];
    const slab = (n: number): Uint8Array => {
      if (n > RESULT_SLAB) return freshSlab(n);
      const reused = slabs.pop();
      if (reused) slabsReused++;
      const out = reused ?? freshSlab(RESULT_SLAB);
      lent.push(out);
      return out;
    };
    try {
      results = unpackBatch(b.msg.buf, b.msg.count, b.lease ? slab : freshSlab);
    } catch (err) {
      // (Before any slab was taken: a failed record is found before anything is copied out.)
      release(b);
      b.reject(err as Error);
      return;
    }
    release(b);
    b.resolve(b.lease ? onLoan(results, () => lent.forEach((s) => slabs.length < MAX_FREE_SLABS && slabs.push(s))) : results);
  };

  /**
   * A worker crashed or exited: every batch in flight may be missing records it claimed. The shared slabs of a
   * rejected batch are not given back: another worker may still be writing its claimed records there.
   */
  const onDead = (w: PoolWorker, err: Error) => {
    const i = workers.indexOf(w);
    if (i < 0) return;
    workers[i] = undefined;
    const failed = [...pending.values()];
    pending.clear();
    setRef();
    for (const b of failed) {
      // Its buffer is not reused: another worker may still be in the batch.
      if (b.index !== undefined) unregister(b.index);
      b.reject(err);
    }
  };

  const check = (alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[]) => {
    if (closed) throw new Error('worker pool provider: used after close()');
    const len = AEAD_KEY_LENGTH[alg];
    if (len === undefined) throw new RangeError(`unknown AEAD: ${String(alg)}`);
    if (key.length !== len) throw new RangeError(`${alg}: key must be ${len} bytes, got ${key.length}`);
    for (const j of jobs) {
      if (j.nonce.length !== NONCE) throw new RangeError(`AEAD nonce must be ${NONCE} bytes, got ${j.nonce.length}`);
    }
  };

  const run = (op: 0 | 1, alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[], lease: boolean, mayShare: boolean): Promise<BatchResults<Uint8Array | null>> => {
    check(alg, key, jobs);
    if (jobs.length === 0) return Promise.resolve([]);
    const { buf, index } = take(batchSize(jobs));
    // The batch id is its generation: it differs from whatever batch used the buffer before.
    const msg: BatchMessage = { id: nextId, op, alg, key, buf, count: jobs.length };
    nextId = (nextId + 1) >>> 0 || 1;
    // Results on loan that may be shared memory are written by the workers straight into shared slabs, when
    // enough are free: sealed records (data and tag) for a socket, opened ones (data less its tag) for a consumer
    // that takes shared memory.
    const resultSize = (j: RecordJob) => Math.max(0, j.data.length + (j.trailer?.length ?? 0) + (op === 0 ? TAG : -TAG));
    const placed = lease && mayShare ? placeResults(jobs.map(resultSize), takeShared, giveShared) : undefined;
    packBatch(buf, jobs, msg.id, placed?.dest);
    // As many threads take part as the batch has records, up to the pool's size; they are started as needed.
    const posted = Math.min(size, jobs.length);
    batches++;
    return new Promise((resolve, reject) => {
      pending.set(msg.id, { msg, index, resolve, reject, lease, ...(placed ? { placed } : {}) });
      const slots: number[] = [];
      for (let k = 0; k < posted; k++) {
        const slot = (turn + k) % size;
        workers[slot] ??= new PoolWorker({ stats, slot, engine, dispatch, tail, buffers: table, registrations, slabs: shared }, onDone, onDead);
        slots.push(slot);
      }
      turn = (turn + posted) % size;
      // One ring entry and one wake-up for every thread (the key is copied into the entry: the caller may reuse
      // its buffer at once). When the ring entry still carries a batch in flight, or the buffer could not be
      // registered, the batch goes as a message to as many threads, which the doorbell wakes to read it.
      const k = tail & (RING - 1);
      if (index !== undefined && !pending.has(ringBatch[k]!)) {
        ringBatch[k] = msg.id;
        tail = publishEntry(words, tail, { buffer: index, registration: registrations[index]!, id: msg.id, op, alg, count: msg.count, key }, Math.min(posted, WAKE_FIRST));
      } else {
        batchesByMessage++;
        for (const slot of slots) {
          workers[slot]!.post(msg);
          messages++;
        }
        ring(words, size);
      }
      setRef();
    });
  };

  const batch: AsyncBatchCipher = {
    // packBatch writes a job's trailer right after its data.
    trailers: true,
    sealBatch: (alg, key, jobs, opts) => run(0, alg, key, jobs, opts?.lease === true, opts?.shared === true) as Promise<BatchResults<Uint8Array>>,
    openBatch: (alg, key, jobs, opts) => run(1, alg, key, jobs, opts?.lease === true, opts?.shared === true),
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
    ...(base.encapsulate ? { encapsulate: (group: GroupName, share: Uint8Array) => base.encapsulate!(group, share) } : {}),
    ...(base.signWith ? { signWith: (key: SigningKey, scheme: number, message: Uint8Array) => base.signWith!(key, scheme, message) } : {}),
    ...(base.headerProtection
      ? { headerProtection: (alg: AeadAlg, hpKey: Uint8Array, sample: Uint8Array) => base.headerProtection!(alg, hpKey, sample) }
      : {}),
    batch,
    size,
    stats: () => ({
      threads: workers.filter((w) => w !== undefined).length,
      batches,
      records: Array.from(new Int32Array(stats)),
      buffersAllocated,
      buffersFree: free.length,
      messages,
      batchesByMessage,
      buffersRegistered: table.length - vacant.length,
      slabsReused,
      slabsFree: slabs.length,
      sharedSlabs: shared.length,
      sharedSlabsFree: sharedFree.length,
      batchesInPlace,
    }),
    close: async () => {
      if (closed) return;
      closed = true;
      const all = workers.filter((w) => w !== undefined);
      workers.fill(undefined);
      free.length = 0;
      freeBytes = 0;
      slabs.length = 0;
      sharedFree.length = 0;
      const failed = [...pending.values()];
      pending.clear();
      const err = new Error('worker pool provider closed');
      for (const b of failed) b.reject(err);
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
