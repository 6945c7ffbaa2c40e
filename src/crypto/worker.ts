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
 * - reply {@link WorkerReply}: the request's buffer transferred back, each record's result written over its
 *   data slot (slots leave room for the 16 B tag), with the lengths (−1 for a record that failed
 *   authentication); or `error` (a message) when the request was malformed.
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
  /** Per record, {@link LAYOUT_STRIDE} numbers: nonce offset, AAD offset, AAD length, data offset, data length, data slot size. */
  readonly layout: Uint32Array;
}

/**
 * A worker's answer to the request with the same `id`: the request's own buffer, transferred back, with result
 * `i` written over record `i`'s data (its slot has room for the 16 B tag), `lengths[i]` bytes (−1: record `i`
 * failed authentication).
 */
export type WorkerReply =
  | { readonly id: number; readonly buf: ArrayBuffer; readonly lengths: Int32Array }
  | { readonly id: number; readonly error: string };

/** Number of `layout` entries per record. */
export const LAYOUT_STRIDE = 6;

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

/**
 * Answer `req` in its own buffer: each result overwrites its record's data slot (already consumed), so a batch
 * costs no buffer allocation here beyond the cipher's own output, and the same memory goes back to the caller.
 * A result longer than its slot (a caller that did not leave room for the tag) is API misuse.
 */
export function answerInPlace(req: WorkerRequest): { id: number; buf: ArrayBuffer; lengths: Int32Array } {
  const results = processRequest(req);
  const bytes = new Uint8Array(req.buf);
  const lengths = new Int32Array(results.length);
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (!r) {
      lengths[i] = -1;
      continue;
    }
    const at = req.layout[i * LAYOUT_STRIDE + 3]!;
    const room = req.layout[i * LAYOUT_STRIDE + 5] ?? 0;
    if (r.length > room) throw new Error(`result ${i} (${r.length} B) does not fit its slot (${room} B)`);
    bytes.set(r, at);
    lengths[i] = r.length;
  }
  return { id: req.id, buf: req.buf, lengths };
}

const port = parentPort;
if (port) {
  port.on('message', (req: WorkerRequest) => {
    let reply: WorkerReply;
    try {
      reply = answerInPlace(req);
    } catch (err) {
      reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply, 'buf' in reply ? [reply.buf] : []);
  });
}
