/**
 * One AEAD record with node:crypto (OpenSSL), for the worker pool's `engine: 'node'`: AES-128/256-GCM (RFC 5116)
 * and ChaCha20-Poly1305 (RFC 8439) with 12-byte nonces and 16-byte tags, in the shape `batchBuffer.ts`'s
 * {@link RecordAead} takes. A worker-thread module: it never runs on the main thread's hot path.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type CipherGCMTypes, type KeyObject } from 'node:crypto';
import type { AeadAlg } from '../crypto/provider.js';
import { NOT_AUTHENTIC, TAG, type RecordAead } from './batchBuffer.js';

const NAMES: Readonly<Record<AeadAlg, CipherGCMTypes | 'chacha20-poly1305'>> = {
  'aes-128-gcm': 'aes-128-gcm',
  'aes-256-gcm': 'aes-256-gcm',
  'chacha20-poly1305': 'chacha20-poly1305',
};

/**
 * The KeyObject of the last key seen: createCipheriv with a KeyObject skips importing raw key bytes per record
 * (about 10 % of a 16 KiB record's time). Batches carry their key as bytes, so it is matched by value; the
 * records of a batch share their key, so this costs at most one import per batch, and no older key is kept
 * once another arrives.
 */
let last: { readonly bytes: Uint8Array; readonly key: KeyObject } | undefined;
function keyObject(key: Uint8Array): KeyObject {
  if (last && last.bytes.length === key.length && last.bytes.every((b, i) => b === key[i])) return last.key;
  last = { bytes: key.slice(), key: createSecretKey(key) };
  return last.key;
}

/**
 * Seal (`op` 0: ciphertext ‖ tag) or open (`op` 1: the plaintext; {@link NOT_AUTHENTIC} when it does not
 * authenticate), written at `out[at…]`. GCM and ChaCha20-Poly1305 are stream modes: `update` returns as many
 * bytes as it was given, and each output is copied once, straight into the batch.
 */
export const nodeAead: RecordAead = (op, alg, key, nonce, aad, data, out, at) => {
  const name = NAMES[alg] as CipherGCMTypes;
  if (op === 0) {
    const c = createCipheriv(name, keyObject(key), nonce, { authTagLength: TAG });
    c.setAAD(aad, { plaintextLength: data.length });
    const head = c.update(data);
    out.set(head, at);
    let n = head.length;
    const tail = c.final();
    if (tail.length) out.set(tail, at + n);
    n += tail.length;
    out.set(c.getAuthTag(), at + n);
    return n + TAG;
  }
  if (data.length < TAG) return NOT_AUTHENTIC;
  const body = data.subarray(0, data.length - TAG);
  const d = createDecipheriv(name, keyObject(key), nonce, { authTagLength: TAG });
  d.setAAD(aad, { plaintextLength: body.length });
  // setAuthTag copies the tag, and update reads all of `body`, before anything is written over the slot.
  d.setAuthTag(data.subarray(data.length - TAG));
  const head = d.update(body);
  let tail: Buffer;
  try {
    tail = d.final();
  } catch {
    return NOT_AUTHENTIC; // the tag did not match: nothing is written
  }
  out.set(head, at);
  if (tail.length) out.set(tail, at + head.length);
  return head.length + tail.length;
};
