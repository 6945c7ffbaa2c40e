/**
 * The shared-memory batch of the worker-pool provider (`workers.ts`, `worker.ts`): how a batch of records
 * sits in one `SharedArrayBuffer`, how the main thread writes it and reads the results back, and how worker
 * threads share out its records (AES-GCM / ChaCha20-Poly1305 with noble or node:crypto; RFC 5116, RFC 8439).
 *
 * Protocol: the main thread writes a batch with {@link packBatch} and posts the same {@link BatchMessage} to
 * several workers. Each runs {@link workOn}: it claims records one at a time from the batch's shared counter
 * (`Atomics.add`), writes each result over the record's slot and its length into the batch. A worker that is
 * descheduled or busy with another batch simply claims fewer records, and no message goes back and forth per
 * record or per part. The worker that finishes the last record posts the batch's `id` back once it has left
 * the batch; every worker counts itself out, so the main thread knows when nobody touches the buffer any
 * more and may reuse it. {@link unpackBatch} copies the results out.
 *
 * No side effects: the worker entry is `worker.ts`.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { AeadAlg, RecordJob } from '../crypto/provider.js';

/** AEAD nonce length (RFC 8446 §5.3): 12 B. */
const NONCE = 12;

/** A batch handed to a worker: seal (`op` 0) or open (`op` 1) the `count` records in `buf`. */
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

/** Control words at the start of a batch buffer (Int32 indices). */
export const CTL = {
  /** The next record to claim (`Atomics.add`; a value ≥ count means none left). */
  next: 0,
  /** Records finished. */
  done: 1,
  /** Workers that have left the batch (no longer read or write the buffer). */
  left: 2,
} as const;
/** Number of control words. */
export const CTL_WORDS = 3;

/** Number of `Uint32` layout entries per record: nonce offset, AAD offset, AAD length, data offset, data length. */
export const LAYOUT_STRIDE = 5;

/** Result length of a record that did not authenticate. */
export const NOT_AUTHENTIC = -1;
/** Result length of a record whose sealing failed (an internal error: the batch is rejected). */
export const FAILED = -2;

/** AEAD tag length (RFC 5116 §5.1, RFC 8439 §2.8): 16 B. */
export const TAG = 16;

/**
 * Where things sit in a batch buffer of `count` records: the control words, then one result length per
 * record (Int32), then the layout (Uint32, {@link LAYOUT_STRIDE} per record), then the records' bytes
 * starting at `data` (4-byte aligned: noble copies unaligned input).
 */
export function batchLayout(count: number): { lengths: number; layout: number; data: number } {
  const lengths = CTL_WORDS * 4;
  const layout = lengths + count * 4;
  return { lengths, layout, data: layout + count * LAYOUT_STRIDE * 4 };
}

/**
 * One record's AEAD as a worker runs it, the result written straight into the batch: seal (`op` 0) writes
 * ciphertext ‖ tag at `out[at…]`; open (`op` 1) writes the plaintext there. `data` is that same slot (the result
 * overwrites the input, which each engine has read by then), and the slot has room for the data and a tag.
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
 * (its slot is `align4(data length + 16)` bytes) and the result's length into the batch. Returns true when
 * this call finished the batch's last record (the caller then reports the batch done). `onRecord` counts
 * the records this thread processed; `aead` is the engine (noble unless the pool chose node:crypto).
 */
export function workOn(msg: BatchMessage, onRecord: () => void = () => {}, aead: RecordAead = nobleAead): boolean {
  const { op, alg, key, buf, count } = msg;
  const at = batchLayout(count);
  const ctl = new Int32Array(buf, 0, CTL_WORDS);
  const lengths = new Int32Array(buf, at.lengths, count);
  const layout = new Uint32Array(buf, at.layout, count * LAYOUT_STRIDE);
  const bytes = new Uint8Array(buf);
  let finished = false;
  for (;;) {
    const i = Atomics.add(ctl, CTL.next, 1);
    if (i >= count) break;
    const l = i * LAYOUT_STRIDE;
    const nonce = bytes.subarray(layout[l]!, layout[l]! + 12);
    const aad = bytes.subarray(layout[l + 1]!, layout[l + 1]! + layout[l + 2]!);
    const dataAt = layout[l + 3]!;
    const data = bytes.subarray(dataAt, dataAt + layout[l + 4]!);
    const room = (data.length + TAG + 3) & ~3;
    const failed = op === 0 ? FAILED : NOT_AUTHENTIC;
    let length: number = failed;
    try {
      // Opening: any failure (a short record, a tag mismatch) means the record is not authentic.
      if (op === 0 || data.length >= TAG) length = aead(op, alg, key, nonce, aad, data, bytes, dataAt);
    } catch {
      length = failed;
    }
    if (length < 0 || length > room) length = failed;
    lengths[i] = length;
    onRecord();
    // Seq-cst: every write above is visible to whoever sees the count reach `count`.
    if (Atomics.add(ctl, CTL.done, 1) + 1 === count) finished = true;
  }
  Atomics.add(ctl, CTL.left, 1);
  return finished;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Bytes a batch of `jobs` needs: its header, then per record the nonce and AAD, and a slot for the data and the tag. */
export function batchSize(jobs: readonly RecordJob[]): number {
  let size = batchLayout(jobs.length).data;
  for (const j of jobs) size = align4(size + NONCE + j.aad.length) + align4(j.data.length + (j.trailer?.length ?? 0) + TAG);
  return size;
}

/**
 * Write `jobs` into `buf` as laid out by {@link batchLayout} (the one copy on the way in), with the control
 * words reset. Nonce and AAD sit together; each data slot starts 4-byte aligned and has room for the tag.
 */
export function packBatch(buf: SharedArrayBuffer, jobs: readonly RecordJob[]): void {
  const at = batchLayout(jobs.length);
  new Int32Array(buf, 0, at.lengths / 4).fill(0);
  const layout = new Uint32Array(buf, at.layout, jobs.length * LAYOUT_STRIDE);
  const bytes = new Uint8Array(buf);
  let off = at.data;
  jobs.forEach((j, i) => {
    const l = i * LAYOUT_STRIDE;
    bytes.set(j.nonce, off);
    layout[l] = off;
    bytes.set(j.aad, off + NONCE);
    layout[l + 1] = off + NONCE;
    layout[l + 2] = j.aad.length;
    off = align4(off + NONCE + j.aad.length);
    bytes.set(j.data, off);
    // A trailer is sealed as if joined to the data: it is, here (the one copy on the way in).
    const trailer = j.trailer?.length ?? 0;
    if (trailer) bytes.set(j.trailer!, off + j.data.length);
    layout[l + 3] = off;
    layout[l + 4] = j.data.length + trailer;
    off += align4(j.data.length + trailer + TAG);
  });
}

/**
 * Copy the results of a finished batch out of its shared buffer into one ordinary buffer (results are views
 * into it: plain memory the application may keep, decode or hand to a socket), `null` for a record that did
 * not authenticate. Throws when a record failed to seal (an internal error).
 */
export function unpackBatch(buf: SharedArrayBuffer, count: number): (Uint8Array | null)[] {
  const at = batchLayout(count);
  const lengths = new Int32Array(buf, at.lengths, count);
  const layout = new Uint32Array(buf, at.layout, count * LAYOUT_STRIDE);
  let total = 0;
  for (let i = 0; i < count; i++) {
    if (lengths[i] === FAILED) throw new Error(`crypto worker: record ${i} could not be sealed`);
    if (lengths[i]! > 0) total += lengths[i]!;
  }
  // Every byte of `out` is overwritten below (the results tile it), so it need not be zeroed first.
  const raw = typeof Buffer === 'function' ? Buffer.allocUnsafeSlow(total) : new Uint8Array(total);
  const out = new Uint8Array(raw.buffer, raw.byteOffset, total);
  const bytes = new Uint8Array(buf);
  const results: (Uint8Array | null)[] = new Array(count);
  let off = 0;
  for (let i = 0; i < count; i++) {
    const n = lengths[i]!;
    if (n === NOT_AUTHENTIC) {
      results[i] = null;
      continue;
    }
    const from = layout[i * LAYOUT_STRIDE + 3]!;
    out.set(bytes.subarray(from, from + n), off);
    results[i] = out.subarray(off, off + n);
    off += n;
  }
  return results;
}

