/**
 * One AEAD record with node:crypto (OpenSSL), for the worker pool's `engine: 'node'`: AES-128/256-GCM (RFC 5116)
 * and ChaCha20-Poly1305 (RFC 8439) with 12-byte nonces and 16-byte tags, in the shape `batchBuffer.ts`'s
 * {@link RecordAead} takes. A worker-thread module: it never runs on the main thread's hot path.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import type { AeadAlg } from '../crypto/provider.js';
import { TAG, type RecordAead } from './batchBuffer.js';

const NAMES: Readonly<Record<AeadAlg, CipherGCMTypes | 'chacha20-poly1305'>> = {
  'aes-128-gcm': 'aes-128-gcm',
  'aes-256-gcm': 'aes-256-gcm',
  'chacha20-poly1305': 'chacha20-poly1305',
};

/** Seal (`op` 0: ciphertext ‖ tag) or open (`op` 1: plaintext, or null when it does not authenticate). */
export const nodeAead: RecordAead = (op, alg, key, nonce, aad, data) => {
  const name = NAMES[alg] as CipherGCMTypes;
  if (op === 0) {
    const c = createCipheriv(name, key, nonce, { authTagLength: TAG });
    c.setAAD(aad, { plaintextLength: data.length });
    const head = c.update(data);
    const tail = c.final();
    const tag = c.getAuthTag();
    const out = new Uint8Array(head.length + tail.length + TAG);
    out.set(head, 0);
    out.set(tail, head.length);
    out.set(tag, head.length + tail.length);
    return out;
  }
  if (data.length < TAG) return null;
  const body = data.subarray(0, data.length - TAG);
  const d = createDecipheriv(name, key, nonce, { authTagLength: TAG });
  d.setAAD(aad, { plaintextLength: body.length });
  d.setAuthTag(data.subarray(data.length - TAG));
  const head = d.update(body);
  try {
    const tail = d.final();
    if (tail.length === 0) return head;
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  } catch {
    return null; // the tag did not match
  }
};
