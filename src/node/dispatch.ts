/**
 * How the worker pool (`workers.ts`) hands batches to its threads without a message per thread per batch: a
 * ring of batch entries and a doorbell in one `SharedArrayBuffer`.
 *
 * Why: a message costs the main thread a structured clone and a wake-up of the receiving thread (an `eventfd`
 * write) each, and a batch went to every worker that should take part: with a pool of 15 threads, 15 messages per
 * batch, which measured as several µs of main-thread CPU per 16 KiB record (`bench/results.md`, issue 15). Here a
 * batch is one entry written into the ring and one `Atomics.notify` of at most {@link WAKE_FIRST} sleeping threads;
 * each woken thread that finds records left wakes as many more, so the main thread's cost per batch is the same
 * whatever the pool's size.
 *
 * Protocol:
 * - Control words: the doorbell (bumped after every entry or message for the workers) and the tail (the sequence
 *   number of the next entry, int32, wrapping). Then {@link RING} entries of {@link ENTRY} words: entry `seq` sits
 *   in slot `seq mod RING`, its first word is `seq` (written last; while the entry is being written, and before
 *   the slot's first entry, a number that is not the slot's: {@link notInSlot}), then the batch (buffer index,
 *   id, op, algorithm, record count, key length, the buffer's registration number, and the key).
 * - The main thread writes entry `seq` only once the batch that entry `seq - RING` carried is finished, so a
 *   worker that lags more than {@link RING} entries behind the tail has missed only finished batches, and skips
 *   to the oldest entry still in the ring.
 * - A worker reads the doorbell, then the tail, then its messages (buffer registrations come as messages, posted
 *   before any entry that names them), then every entry up to the tail; it waits on the doorbell only if that
 *   did not change meanwhile. So no entry is missed, and an entry never names a buffer the worker has not heard
 *   of.
 * - Every word is read and written with `Atomics`, and an entry is read between two loads of its sequence
 *   number: a reader never takes a half-written entry for a whole one.
 *
 * No side effects; no Node built-ins (the worker entry `worker.ts` and the pool use it).
 */
import type { AeadAlg } from '../crypto/provider.js';

/** Entries in the ring (a power of two). More batches in flight than this go to the workers as messages. */
export const RING = 256;
/**
 * Int32 words per entry: sequence, buffer index, id, op, algorithm, count, key length, the buffer's registration
 * number, then 8 words of key.
 */
export const ENTRY = 16;
/** Int32 words before the first entry: doorbell, tail, two spare. */
const HEAD = 4;
const BELL = 0;
const TAIL = 1;
/** Largest AEAD key: 32 B (AES-256, ChaCha20). */
const MAX_KEY = 32;

const ALGS: readonly AeadAlg[] = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'];

/**
 * Threads the main thread wakes for a batch, at most; each woken thread that finds records left wakes as many more
 * (`worker.ts`), so a pool of any size wakes in a tree, off the main thread.
 */
export const WAKE_FIRST = 2;

/** Bytes of the dispatch buffer. */
export const DISPATCH_BYTES = 4 * (HEAD + RING * ENTRY);

/** A batch as a ring entry carries it: the batch buffer is named by the index it was registered under. */
export interface DispatchEntry {
  readonly buffer: number;
  /** The registration that put the buffer under that index: a worker that has not read it yet reads its messages. */
  readonly registration: number;
  readonly id: number;
  readonly op: 0 | 1;
  readonly alg: AeadAlg;
  readonly count: number;
  readonly key: Uint8Array;
}

/** The next sequence number after `seq` (int32 arithmetic). */
export const nextSeq = (seq: number): number => (seq + 1) | 0;

/** A sequence word that no entry of `seq`'s slot has: marks the slot as being written (or never written). */
export const notInSlot = (seq: number): number => (seq + 1) | 0;

/** How far `seq` lies after `from`, in entries (int32 arithmetic: correct across the wrap). */
export const seqDistance = (from: number, seq: number): number => (seq - from) | 0;

const slotOf = (seq: number): number => HEAD + (seq & (RING - 1)) * ENTRY;

/** The dispatch words of `buf` (a {@link DISPATCH_BYTES} `SharedArrayBuffer`). */
export const dispatchWords = (buf: SharedArrayBuffer): Int32Array => new Int32Array(buf, 0, DISPATCH_BYTES / 4);

/** A fresh dispatch buffer: tail 0, and no entry in any slot. */
export function createDispatch(): SharedArrayBuffer {
  const buf = new SharedArrayBuffer(DISPATCH_BYTES);
  const words = dispatchWords(buf);
  for (let k = 0; k < RING; k++) words[slotOf(k)] = notInSlot(k);
  return buf;
}

/**
 * Write `entry` as entry `seq` (the tail) and publish it: the tail moves on and the doorbell rings for `wake`
 * waiting threads. The caller has made sure entry `seq - RING`'s batch is finished. Returns the next sequence.
 */
export function publishEntry(words: Int32Array, seq: number, entry: DispatchEntry, wake: number): number {
  const alg = ALGS.indexOf(entry.alg);
  if (alg < 0) throw new RangeError(`unknown AEAD: ${String(entry.alg)}`);
  if (entry.key.length > MAX_KEY) throw new RangeError(`key of ${entry.key.length} bytes does not fit a dispatch entry`);
  const at = slotOf(seq);
  Atomics.store(words, at, notInSlot(seq));
  Atomics.store(words, at + 1, entry.buffer);
  Atomics.store(words, at + 2, entry.id | 0);
  Atomics.store(words, at + 3, entry.op);
  Atomics.store(words, at + 4, alg);
  Atomics.store(words, at + 5, entry.count);
  Atomics.store(words, at + 6, entry.key.length);
  Atomics.store(words, at + 7, entry.registration | 0);
  for (let i = 0; i < MAX_KEY / 4; i++) {
    const k = entry.key;
    const b = 4 * i;
    Atomics.store(words, at + 8 + i, (k[b] ?? 0) | ((k[b + 1] ?? 0) << 8) | ((k[b + 2] ?? 0) << 16) | ((k[b + 3] ?? 0) << 24));
  }
  Atomics.store(words, at, seq);
  const next = nextSeq(seq);
  Atomics.store(words, TAIL, next);
  ring(words, wake);
  return next;
}

/** Ring the doorbell: threads waiting in {@link waitForWork} look again; `wake` of them are woken. */
export function ring(words: Int32Array, wake: number): void {
  Atomics.add(words, BELL, 1);
  if (wake > 0) Atomics.notify(words, BELL, wake);
}

/**
 * Wake up to `n` threads waiting on the doorbell, without ringing it: a thread about to wait is not held up (a woken
 * thread finds what the last ring published; this only spreads the wake-ups).
 */
export function wake(words: Int32Array, n: number): void {
  Atomics.notify(words, BELL, n);
}

/** The doorbell's value now, then the tail: read in that order before looking for work. */
export function snapshot(words: Int32Array): { bell: number; tail: number } {
  const bell = Atomics.load(words, BELL);
  return { bell, tail: Atomics.load(words, TAIL) };
}

/** Entry `seq` as written, or `undefined` when it is not (or no longer) that entry, or is being rewritten. */
export function readEntry(words: Int32Array, seq: number): DispatchEntry | undefined {
  const at = slotOf(seq);
  if (Atomics.load(words, at) !== seq) return undefined;
  const buffer = Atomics.load(words, at + 1);
  const id = Atomics.load(words, at + 2) >>> 0;
  const op = Atomics.load(words, at + 3);
  const alg = ALGS[Atomics.load(words, at + 4)];
  const count = Atomics.load(words, at + 5);
  const keyLength = Atomics.load(words, at + 6);
  const registration = Atomics.load(words, at + 7) >>> 0;
  const key = new Uint8Array(Math.min(Math.max(keyLength, 0), MAX_KEY));
  for (let i = 0; i < key.length; i++) key[i] = (Atomics.load(words, at + 8 + (i >> 2)) >>> (8 * (i & 3))) & 0xff;
  // Rewritten meanwhile (the batch it carried is finished): not an entry to work on.
  if (Atomics.load(words, at) !== seq || alg === undefined || (op !== 0 && op !== 1)) return undefined;
  return { buffer, registration, id, op, alg, count, key };
}

/**
 * Block the calling thread (a worker) until the doorbell moves from `bell`, or `timeoutMs` passes. Returns at once
 * (`'not-equal'`) when it moved already; otherwise `'ok'` (woken) or `'timed-out'`.
 */
export function waitForWork(words: Int32Array, bell: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
  return Atomics.wait(words, BELL, bell, timeoutMs);
}
