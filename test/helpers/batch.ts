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

/** What a {@link lendingProvider} counts: leases granted and given back, per direction. */
export interface LendingStats {
  sealLent: number;
  sealReleased: number;
  openLent: number;
  openReleased: number;
}

/**
 * A provider whose batches (noble, answered with Promises) grant leases when asked (`BatchOptions.lease`), and
 * poison what is given back: `release()` overwrites every result with 0xEE. So a connection that gives results
 * back while something still reads them (a socket not done writing, a consumer still holding a chunk) sends or
 * hands over garbage, and the test sees it. A second `release()` of one batch throws.
 */
export function lendingProvider(): CryptoProvider & { readonly stats: LendingStats } {
  const stats: LendingStats = { sealLent: 0, sealReleased: 0, openLent: 0, openReleased: 0 };
  const lend = <T extends Uint8Array | null>(results: T[], lease: boolean, dir: 'seal' | 'open'): T[] => {
    if (!lease) return results;
    stats[`${dir}Lent`]++;
    let given = false;
    return Object.assign(results, {
      release: () => {
        if (given) throw new Error('a lease was given back twice');
        given = true;
        stats[`${dir}Released`]++;
        for (const r of results) r?.fill(0xee);
      },
    });
  };
  const batch: BatchCipher = {
    sealBatch: (alg, key, jobs, opts) => Promise.resolve(lend(nobleSeal(alg, key, jobs), opts?.lease === true, 'seal')),
    openBatch: (alg, key, jobs, opts) => Promise.resolve(lend(nobleOpen(alg, key, jobs), opts?.lease === true, 'open')),
  };
  return Object.assign(withBatch('lending', batch), { stats });
}
