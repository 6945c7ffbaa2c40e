/**
 * Test providers with a batch cipher: the noble provider for everything synchronous, and a `BatchCipher`
 * chosen by the test (answered at once, later, out of order, or never).
 */
import { nobleProvider } from '../../src/crypto/noble.js';
import type { AeadAlg, BatchCipher, CryptoProvider, RecordJob } from '../../src/crypto/provider.js';

/** The noble provider with `batch` as its batch cipher. */
export function withBatch(name: string, batch: BatchCipher): CryptoProvider {
  return Object.assign(Object.create(nobleProvider) as CryptoProvider, { name, batch });
}

/** Seal or open `jobs` with the noble AEAD, one record at a time (`null` for a record that fails). */
export function nobleSeal(alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[]): Uint8Array[] {
  const aead = nobleProvider.aead(alg, key);
  return jobs.map((j) => aead.seal(j.nonce, j.aad, j.data));
}
export function nobleOpen(alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[]): (Uint8Array | null)[] {
  const aead = nobleProvider.aead(alg, key);
  return jobs.map((j) => aead.open(j.nonce, j.aad, j.data));
}

/** A provider whose batches run the noble AEAD and answer with Promises; `batches` records each batch's size. */
export function asyncNobleProvider(name = 'async-test'): CryptoProvider & { readonly batches: number[] } {
  const batches: number[] = [];
  const batch: BatchCipher = {
    sealBatch: (alg, key, jobs) => (batches.push(jobs.length), Promise.resolve(nobleSeal(alg, key, jobs))),
    openBatch: (alg, key, jobs) => (batches.push(jobs.length), Promise.resolve(nobleOpen(alg, key, jobs))),
  };
  return Object.assign(withBatch(name, batch), { batches });
}
