/**
 * The shared-memory batch of the worker-pool provider (`workers.ts`, `worker.ts`): how a batch of records
 * sits in one `SharedArrayBuffer`, how the main thread writes it and reads the results back, and how worker
 * threads share out its records (AES-GCM / ChaCha20-Poly1305 with noble or node:crypto; RFC 5116, RFC 8439).
 *
 * Protocol: the main thread writes a batch with {@link packBatch} and posts the same {@link BatchMessage} to
 * several workers. Each runs {@link workOn}: it claims records one at a time from the batch's shared claim
 * word, writes each result over the record's slot and its length into the batch. A worker that is descheduled
 * or busy with another batch simply claims fewer records, and no message goes back and forth per record or per
 * part. The worker that finishes the last record posts the batch's `id` back.
 *
 * Reuse: the claim word holds the batch's generation beside the next record's index, and a claim is a
 * compare-and-swap of both. Once every record is finished no one can claim one, and a worker that reads the
 * message of a finished batch late (it was busy with another: on a loaded machine, many batches late) finds a
 * newer generation there, or no record left, and touches nothing. So the buffer is free again as soon as the
 * batch is reported done, without waiting for every worker it was posted to.
 *
 * Alignment: V8 copies into and out of a `SharedArrayBuffer` a machine word at a time only when source and
 * destination sit at the same offset modulo 8; otherwise byte by byte, about eight times slower (a 16 KiB
 * record: 8 µs instead of 1). A received record's ciphertext starts 5 bytes into its header, anywhere in a
 * socket chunk. So each record's data slot starts at the same offset modulo 8 as its source ({@link placeRecord}),
 * each result is written 8-aligned ({@link resultAt}) where the engines' own outputs start, and results are
 * copied out 8-aligned.
 *
 * Results on loan: a batch may say, per record, that its result goes into a shared result slab the pool
 * registered with its workers ({@link RegisterMessage}, {@link placeResults}) instead of the batch: the main thread
 * then hands out views of that slab ({@link placedResults}) and copies nothing out.
 *
 * No side effects: the worker entry is `worker.ts`.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { AeadAlg, RecordJob } from '../crypto/provider.js';

/** AEAD nonce length (RFC 8446 §5.3): 12 B. */
const NONCE = 12;

/**
 * A batch handed to a worker: seal (`op` 0) or open (`op` 1) the `count` records in `buf`. The `id` is also the
 * batch's generation in `buf` (taken modulo 2³²: it differs from the buffer's previous batch).
 */
export interface BatchMessage {
  readonly id: number;
  readonly op: 0 | 1;
  readonly alg: AeadAlg;
  readonly key: Uint8Array;
  readonly buf: SharedArrayBuffer;
  readonly count: number;
}

/** What the worker that finished a batch posts back: the batch's `id`. */
export type BatchDone = number;

/**
 * The control block at the start of a batch buffer: the claim word (a BigInt64 at byte 0: generation × 2³² +
 * the next record's index) and the number of records finished (an Int32 at byte 8).
 */
export const CTL_BYTES = 16;
const DONE = 2; // Int32 index of the finished count

/** The claim word of `buf` (generation, next index) and the count of finished records, as plain numbers. */
export function batchControl(buf: SharedArrayBuffer): { gen: number; next: number; done: number } {
  const claim = Atomics.load(new BigInt64Array(buf, 0, 1), 0);
  return { gen: Number(BigInt.asUintN(32, claim >> 32n)), next: Number(BigInt.asUintN(32, claim)), done: Atomics.load(new Int32Array(buf, 0, 4), DONE) };
}

/** Set the control block of `buf`: generation `gen`, `next` records claimed, `done` finished. */
export function setBatchControl(buf: SharedArrayBuffer, gen: number, next = 0, done = 0): void {
  Atomics.store(new Int32Array(buf, 0, 4), DONE, done);
  Atomics.store(new BigInt64Array(buf, 0, 1), 0, (BigInt(gen >>> 0) << 32n) | BigInt(next >>> 0));
}

/**
 * Number of `Uint32` layout entries per record: nonce offset, AAD offset, AAD length, data offset, data length,
 * then where the result goes: a shared result slab's index ({@link IN_BATCH}: the batch itself, from
 * {@link resultAt}) and the offset in it.
 */
export const LAYOUT_STRIDE = 7;

/** The result slab index of a record whose result is written into the batch itself. */
export const IN_BATCH = 0xffffffff;

/**
 * Shared result slabs a pool registered with its workers, by index: a worker writes a record's result straight into
 * one when the batch says so (results on loan in shared memory: no copy out on the main thread).
 */
export type SlabTable = (index: number) => Uint8Array | undefined;

/**
 * The message that registers shared memory with a worker under `index`, before anything names it there: a shared
 * result slab ({@link SlabTable}: layouts name it), or a batch buffer (`dispatch.ts`: ring entries name it, with the
 * registration's number, uint32, one per registration). `buf` undefined drops a batch buffer's registration.
 */
export interface RegisterMessage {
  readonly table: 'slabs' | 'buffers';
  readonly index: number;
  readonly buf: SharedArrayBuffer | undefined;
  readonly registration: number;
}

/** What the pool gives a worker at its start. */
export interface WorkerStart {
  /** Records processed per worker, for the pool's stats (one Int32 per worker slot), and this worker's slot. */
  readonly stats: SharedArrayBuffer;
  readonly slot: number;
  readonly engine: 'noble' | 'node';
  /** The ring and doorbell (`dispatch.ts`), and the ring's tail when this worker was started. */
  readonly dispatch: SharedArrayBuffer;
  readonly tail: number;
  /**
   * The batch buffers (and their registration numbers) and shared result slabs registered before this worker
   * started, by index.
   */
  readonly buffers: readonly (SharedArrayBuffer | undefined)[];
  readonly registrations: readonly number[];
  readonly slabs: readonly SharedArrayBuffer[];
}

/** Result length of a record that did not authenticate. */
export const NOT_AUTHENTIC = -1;
/** Result length of a record whose sealing failed (an internal error: the batch is rejected). */
export const FAILED = -2;

/** AEAD tag length (RFC 5116 §5.1, RFC 8439 §2.8): 16 B. */
export const TAG = 16;

/**
 * Where things sit in a batch buffer of `count` records: the control words, then one result length per
 * record (Int32), then the layout (Uint32, {@link LAYOUT_STRIDE} per record), then the records' bytes
 * from `data` on, each placed by {@link placeRecord}.
 */
export function batchLayout(count: number): { lengths: number; layout: number; data: number } {
  const lengths = CTL_BYTES;
  const layout = lengths + count * 4;
  return { lengths, layout, data: layout + count * LAYOUT_STRIDE * 4 };
}

/** The word size that copies to and from shared memory are fast at (see the module comment). */
const WORD = 8;
const alignWord = (n: number): number => (n + WORD - 1) & ~(WORD - 1);

/**
 * Where a record's result goes: the first 8-aligned offset at or after its data (`dataAt`). Engines return
 * fresh, 8-aligned buffers, so the copy of a result into the batch, and later out of it, is word by word.
 */
export const resultAt = (dataAt: number): number => alignWord(dataAt);

/**
 * Place one record at `off` (the end of the previous one): its nonce and AAD, then its data slot, which
 * starts at the same offset modulo 8 as `sourceOffset` (the data's `byteOffset`: the copy in is word by word),
 * and holds `length` bytes of data, or a result of `length + 16` bytes from {@link resultAt} on.
 */
export function placeRecord(off: number, aadLength: number, sourceOffset: number, length: number): { nonceAt: number; dataAt: number; end: number } {
  const nonceAt = off;
  const after = nonceAt + NONCE + aadLength;
  const dataAt = after + ((sourceOffset - after) & (WORD - 1));
  return { nonceAt, dataAt, end: resultAt(dataAt) + length + TAG };
}

/**
 * One record's AEAD as a worker runs it, the result written straight into the batch: seal (`op` 0) writes
 * ciphertext ‖ tag at `out[at…]`; open (`op` 1) writes the plaintext there. `data` lies in that same slot,
 * at most 7 bytes before `at` (the result overwrites the input, which each engine has read by then), and the
 * slot has room for the data and a tag from `at` on.
 * Returns the result's length, or {@link NOT_AUTHENTIC} (or throws) when an opened record does not
 * authenticate. The pool's engine: {@link nobleAead} (portable, the default) or node:crypto's (`nodeAead.ts`).
 */
export type RecordAead = (op: 0 | 1, alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, out: Uint8Array, at: number) => number;

/** {@link RecordAead} with noble (pure JavaScript). */
export const nobleAead: RecordAead = (op, alg, key, nonce, aad, data, out, at) => {
  const c = alg === 'chacha20-poly1305' ? chacha20poly1305(key, nonce, aad) : gcm(key, nonce, aad);
  const result = op === 0 ? c.encrypt(data) : c.decrypt(data);
  out.set(result, at);
  return result.length;
};

/**
 * Take part in batch `msg`: claim records until none is left, writing each result over its record's data
 * (from {@link resultAt}, with room for the data length + 16) and the result's length into the batch. Returns true when
 * this call finished the batch's last record (the caller then reports the batch done). `onRecord` counts
 * the records this thread processed; `aead` is the engine (noble unless the pool chose node:crypto).
 */
export function workOn(msg: BatchMessage, onRecord: () => void = () => {}, aead: RecordAead = nobleAead, slabs: SlabTable = () => undefined): boolean {
  const { op, alg, key, buf, count } = msg;
  const at = batchLayout(count);
  const claim = new BigInt64Array(buf, 0, 1);
  const ctl = new Int32Array(buf, 0, 4);
  const gen = BigInt(msg.id >>> 0);
  const lengths = new Int32Array(buf, at.lengths, count);
  const layout = new Uint32Array(buf, at.layout, count * LAYOUT_STRIDE);
  const bytes = new Uint8Array(buf);
  let finished = false;
  for (;;) {
    const word = Atomics.load(claim, 0);
    // Another batch's generation: this one is finished and its buffer reused (or reusable) already.
    if (BigInt.asUintN(32, word >> 32n) !== gen) break;
    const i = Number(BigInt.asUintN(32, word));
    if (i >= count) break;
    if (Atomics.compareExchange(claim, 0, word, word + 1n) !== word) continue; // claimed by another worker: look again

    const l = i * LAYOUT_STRIDE;
    const nonce = bytes.subarray(layout[l]!, layout[l]! + 12);
    const aad = bytes.subarray(layout[l + 1]!, layout[l + 1]! + layout[l + 2]!);
    const dataAt = layout[l + 3]!;
    const data = bytes.subarray(dataAt, dataAt + layout[l + 4]!);
    const room = data.length + TAG;
    const failed = op === 0 ? FAILED : NOT_AUTHENTIC;
    // The result's place: the batch itself, or a registered shared slab (checked: a slab has room for it, exactly
    // the result's length: sealed, the data and a tag; opened, the data less its tag).
    const slabIndex = layout[l + 5]!;
    const slab = slabIndex === IN_BATCH ? bytes : slabs(slabIndex);
    const resultOffset = slabIndex === IN_BATCH ? resultAt(dataAt) : layout[l + 6]!;
    const need = slabIndex !== IN_BATCH && op === 1 ? data.length - TAG : room;
    let length: number = failed;
    try {
      // Opening: any failure (a short record, a tag mismatch) means the record is not authentic.
      if (slab && resultOffset + need <= slab.length && (op === 0 || data.length >= TAG)) length = aead(op, alg, key, nonce, aad, data, slab, resultOffset);
    } catch {
      length = failed;
    }
    if (length < 0 || length > room) length = failed;
    lengths[i] = length;
    onRecord();
    // Seq-cst: every write above is visible to whoever sees the count reach `count`.
    if (Atomics.add(ctl, DONE, 1) + 1 === count) finished = true;
  }
  return finished;
}

/** Bytes a batch of `jobs` needs: its header, then each record as {@link placeRecord} places it. */
export function batchSize(jobs: readonly RecordJob[]): number {
  let size = batchLayout(jobs.length).data;
  for (const j of jobs) size = placeRecord(size, j.aad.length, j.data.byteOffset, j.data.length + (j.trailer?.length ?? 0)).end;
  return size;
}

/**
 * Write `jobs` into `buf` as laid out by {@link batchLayout} (the one copy on the way in) as generation `gen`,
 * nothing claimed or finished. Nonce and AAD sit together; each data slot is placed by {@link placeRecord}.
 * `dest`, when given, holds for each record the shared slab index and offset its result goes to
 * ({@link SlabTable}); otherwise each result is written into the batch.
 */
export function packBatch(buf: SharedArrayBuffer, jobs: readonly RecordJob[], gen: number, dest?: Uint32Array): void {
  const at = batchLayout(jobs.length);
  setBatchControl(buf, gen);
  const layout = new Uint32Array(buf, at.layout, jobs.length * LAYOUT_STRIDE);
  const bytes = new Uint8Array(buf);
  let off = at.data;
  jobs.forEach((j, i) => {
    const l = i * LAYOUT_STRIDE;
    const trailer = j.trailer?.length ?? 0;
    const place = placeRecord(off, j.aad.length, j.data.byteOffset, j.data.length + trailer);
    bytes.set(j.nonce, place.nonceAt);
    layout[l] = place.nonceAt;
    bytes.set(j.aad, place.nonceAt + NONCE);
    layout[l + 1] = place.nonceAt + NONCE;
    layout[l + 2] = j.aad.length;
    bytes.set(j.data, place.dataAt);
    // A trailer is sealed as if joined to the data: it is, here (the one copy on the way in).
    if (trailer) bytes.set(j.trailer!, place.dataAt + j.data.length);
    layout[l + 3] = place.dataAt;
    layout[l + 4] = j.data.length + trailer;
    layout[l + 5] = dest ? dest[2 * i]! : IN_BATCH;
    layout[l + 6] = dest ? dest[2 * i + 1]! : 0;
    off = place.end;
  });
}

/**
 * Results are copied out into ordinary buffers of at most this many bytes (a result longer than that gets one of
 * its own). Measured on Node 20 / glibc, copying 16 KiB results out of shared memory: 2.2 µs a result into
 * 64 KiB buffers, 5–6 µs into one buffer per batch (512 KiB) or per result. Larger allocations are fresh pages
 * each time (the page faults show as system time), the smallest pay per-ArrayBuffer costs; 64 KiB ones are
 * recycled. It also bounds what one result the application keeps holds alive.
 */
export const RESULT_SLAB = 64 * 1024;

/** A fresh slab of `size` bytes (its content is overwritten: not zeroed). */
export const freshSlab = (size: number): Uint8Array => {
  const raw = typeof Buffer === 'function' ? Buffer.allocUnsafeSlow(size) : new Uint8Array(size);
  return new Uint8Array(raw.buffer, raw.byteOffset, size);
};

/**
 * Copy the results of a finished batch out of its shared buffer into ordinary buffers of at most
 * {@link RESULT_SLAB} bytes (results are views into them, consecutive results sharing one: plain memory the
 * application may keep, decode or hand to a socket), `null` for a record that did not authenticate. Throws when
 * a record failed to seal (an internal error). `slab(size)` gives each buffer ({@link freshSlab} unless the caller
 * recycles them): at least `size` bytes, of which the first `size` are overwritten.
 */
export function unpackBatch(buf: SharedArrayBuffer, count: number, slab: (size: number) => Uint8Array = freshSlab): (Uint8Array | null)[] {
  const at = batchLayout(count);
  const lengths = new Int32Array(buf, at.lengths, count);
  const layout = new Uint32Array(buf, at.layout, count * LAYOUT_STRIDE);
  for (let i = 0; i < count; i++) {
    if (lengths[i] === FAILED) throw new Error(`crypto worker: record ${i} could not be sealed`);
  }
  const bytes = new Uint8Array(buf);
  const results: (Uint8Array | null)[] = new Array(count);
  let i = 0;
  while (i < count) {
    // The next slab: results from i on while they fit (at least one), each 8-aligned as in the batch.
    let size = alignWord(Math.max(0, lengths[i]!));
    let end = i + 1;
    for (let grown; end < count && (grown = alignWord(size + Math.max(0, lengths[end]!))) <= RESULT_SLAB; end++) size = grown;
    // The slab's first `size` bytes are overwritten below (the results and the zeroed padding between them tile it).
    const out = slab(size);
    let off = 0;
    for (; i < end; i++) {
      const n = lengths[i]!;
      if (n === NOT_AUTHENTIC) {
        results[i] = null;
        continue;
      }
      const from = resultAt(layout[i * LAYOUT_STRIDE + 3]!);
      out.set(bytes.subarray(from, from + n), off);
      results[i] = out.subarray(off, off + n);
      const next = alignWord(off + n);
      out.fill(0, off + n, next);
      off = next;
    }
  }
  return results;
}

/**
 * Where results of `sizes` bytes go in shared slabs of {@link RESULT_SLAB} bytes: consecutive results share a slab,
 * each 8-aligned. `take()` gives the next free slab's index (`undefined`: none left), `give(index)` takes one back.
 * Returns the slab index and offset of each result (as {@link packBatch}'s `dest`) and the slabs taken, or
 * `undefined` (every slab taken given back) when `take` ran out or a result does not fit a slab.
 */
export function placeResults(sizes: readonly number[], take: () => number | undefined, give: (index: number) => void): { dest: Uint32Array; slabs: number[] } | undefined {
  const dest = new Uint32Array(2 * sizes.length);
  const slabs: number[] = [];
  let off = RESULT_SLAB; // no slab open yet
  for (let i = 0; i < sizes.length; i++) {
    const n = sizes[i]!;
    if (off + n > RESULT_SLAB) {
      const next = n <= RESULT_SLAB ? take() : undefined;
      if (next === undefined) {
        for (const s of slabs) give(s);
        return undefined;
      }
      slabs.push(next);
      off = 0;
    }
    dest[2 * i] = slabs[slabs.length - 1]!;
    dest[2 * i + 1] = off;
    off = alignWord(off + n);
  }
  return { dest, slabs };
}

/**
 * The results of a finished batch packed with `dest` ({@link placeResults}): views of the shared slabs the workers
 * wrote them into, nothing copied; `null` for an opened record that did not authenticate. Throws when a record
 * failed to seal, or its slab is missing.
 */
export function placedResults(buf: SharedArrayBuffer, count: number, dest: Uint32Array, slabs: SlabTable): (Uint8Array | null)[] {
  const lengths = new Int32Array(buf, batchLayout(count).lengths, count);
  const results: (Uint8Array | null)[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const n = lengths[i]!;
    const slab = slabs(dest[2 * i]!);
    if (n === NOT_AUTHENTIC && slab) {
      results[i] = null;
      continue;
    }
    if (n < 0 || !slab) throw new Error(`crypto worker: record ${i} could not be sealed`);
    results[i] = slab.subarray(dest[2 * i + 1]!, dest[2 * i + 1]! + n);
  }
  return results;
}
