/**
 * Test providers with a batch cipher: the noble provider for everything synchronous, and a `BatchCipher`
 * chosen by the test (answered at once, later, out of order, or never).
 */
import { nobleProvider } from '../../src/crypto/noble.js';
import type { AeadAlg, BatchCipher, BatchOptions, CryptoProvider, RecordJob } from '../../src/crypto/provider.js';

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

/** What a {@link lendingProvider} counts: leases granted and given back, per direction; leases in shared memory. */
export interface LendingStats {
  sealLent: number;
  sealReleased: number;
  openLent: number;
  openReleased: number;
  sharedLent: number;
}

/**
 * A provider whose batches (noble, answered with Promises) grant leases when asked (`BatchOptions.lease`), and
 * poison what is given back: `release()` overwrites every result with 0xEE. So a connection that gives results
 * back while something still reads them (a socket not done writing, a consumer still holding a chunk) sends or
 * hands over garbage, and the test sees it. A second `release()` of one batch throws. Leased results that may be
 * shared memory (`BatchOptions.shared`) are moved into one `SharedArrayBuffer` per batch, as the worker pool's are.
 */
export function lendingProvider(): CryptoProvider & { readonly stats: LendingStats } {
  const stats: LendingStats = { sealLent: 0, sealReleased: 0, openLent: 0, openReleased: 0, sharedLent: 0 };
  const inShared = <T extends Uint8Array | null>(results: T[]): T[] => {
    const shared = new Uint8Array(new SharedArrayBuffer(results.reduce((n, r) => n + (r?.length ?? 0), 0)));
    let at = 0;
    return results.map((r) => {
      if (!r) return r;
      shared.set(r, at);
      at += r.length;
      return shared.subarray(at - r.length, at) as T;
    });
  };
  const lend = <T extends Uint8Array | null>(fresh: T[], opts: BatchOptions | undefined, dir: 'seal' | 'open'): T[] => {
    if (opts?.lease !== true) return fresh;
    const results = opts.shared === true ? inShared(fresh) : fresh;
    if (opts.shared === true) stats.sharedLent++;
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
    sealBatch: (alg, key, jobs, opts) => Promise.resolve(lend(nobleSeal(alg, key, jobs), opts, 'seal')),
    openBatch: (alg, key, jobs, opts) => Promise.resolve(lend(nobleOpen(alg, key, jobs), opts, 'open')),
  };
  return Object.assign(withBatch('lending', batch), { stats });
}
