/**
 * The worker-thread entry of the worker-pool provider ({@link createWorkerPoolProvider} in `workers.ts`):
 * seals or opens one slice of a record batch with noble AES-GCM / ChaCha20-Poly1305 (RFC 5116, RFC 8439).
 *
 * Not a public module: it is started by the pool as a `worker_threads` Worker and speaks only the message
 * protocol below. It imports nothing from the protocol cores, so it starts fast (noble ciphers only).
 *
 * Protocol (one request, one reply, matched by `id`):
 * - request {@link WorkerRequest}: the records packed into one transferred `ArrayBuffer` (`buf`); `layout`
 *   holds, per record, the byte offsets of its 12 B nonce, its AAD and its data and their lengths. Data
 *   segments start 4-byte aligned (noble's AES-GCM copies unaligned input).
 * - reply {@link WorkerReply}: the results of every record in order, packed into one transferred
 *   `ArrayBuffer` with their lengths (−1 for a record that failed authentication); or `error` (a message)
 *   when the request was malformed.
 */
import { parentPort } from 'node:worker_threads';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { AeadAlg } from './provider.js';

/** A request to a worker: seal (`op` 0) or open (`op` 1) the records packed in `buf`. */
export interface WorkerRequest {
  readonly id: number;
  readonly op: 0 | 1;
  readonly alg: AeadAlg;
  readonly key: Uint8Array;
  readonly buf: ArrayBuffer;
  /** Per record, 5 numbers: nonce offset, AAD offset, AAD length, data offset, data length. */
  readonly layout: Uint32Array;
}

/**
 * A worker's answer to the request with the same `id`: every result packed back to back into one transferred
 * `buf`, `lengths[i]` bytes each (−1: record `i` failed authentication).
 */
export type WorkerReply =
  | { readonly id: number; readonly buf: ArrayBuffer; readonly lengths: Int32Array }
  | { readonly id: number; readonly error: string };

/** Number of `layout` entries per record. */
export const LAYOUT_STRIDE = 5;

/** AEAD tag length (RFC 5116 §5.1, RFC 8439 §2.8): 16 B. */
const TAG = 16;

function cipher(alg: AeadAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) {
  return alg === 'chacha20-poly1305' ? chacha20poly1305(key, nonce, aad) : gcm(key, nonce, aad);
}

/** Seal or open every record of `req`, in order. Authentication failures give `null`; misuse throws. */
export function processRequest(req: WorkerRequest): (Uint8Array | null)[] {
  const { op, alg, key, buf, layout } = req;
  const bytes = new Uint8Array(buf);
  const results: (Uint8Array | null)[] = [];
  for (let i = 0; i < layout.length; i += LAYOUT_STRIDE) {
    const nonce = bytes.subarray(layout[i]!, layout[i]! + 12);
    const aad = bytes.subarray(layout[i + 1]!, layout[i + 1]! + layout[i + 2]!);
    const data = bytes.subarray(layout[i + 3]!, layout[i + 3]! + layout[i + 4]!);
    const c = cipher(alg, key, nonce, aad);
    if (op === 0) {
      results.push(c.encrypt(data));
    } else if (data.length < TAG) {
      results.push(null);
    } else {
      try {
        results.push(c.decrypt(data));
      } catch {
        results.push(null); // tag mismatch: the record is not authentic
      }
    }
  }
  return results;
}

/** Pack results into one buffer (one transfer and one allocation on the main thread's side per reply). */
export function packResults(id: number, results: readonly (Uint8Array | null)[]): { id: number; buf: ArrayBuffer; lengths: Int32Array } {
  const lengths = new Int32Array(results.length);
  let size = 0;
  results.forEach((r, i) => {
    lengths[i] = r ? r.length : -1;
    size += r ? r.length : 0;
  });
  const buf = new ArrayBuffer(size);
  const bytes = new Uint8Array(buf);
  let off = 0;
  for (const r of results) {
    if (!r) continue;
    bytes.set(r, off);
    off += r.length;
  }
  return { id, buf, lengths };
}

const port = parentPort;
if (port) {
  port.on('message', (req: WorkerRequest) => {
    let reply: WorkerReply;
    try {
      reply = packResults(req.id, processRequest(req));
    } catch (err) {
      reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply, 'buf' in reply ? [reply.buf] : []);
  });
}
