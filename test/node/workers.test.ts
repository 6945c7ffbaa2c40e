import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { recordNonce } from '../../src/crypto/keySchedule.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import type { AeadAlg, RecordJob } from '../../src/crypto/provider.js';
import { RESULT_SLAB } from '../../src/node/batchBuffer.js';
import { MAX_SHARED_SLABS, createWorkerPoolProvider } from '../../src/node/workers.js';
import { gcmVectors } from '../vectors/gcm.js';
import { concatBytes } from '../vectors/hex.js';
import { aeadVector } from '../vectors/rfc8439.js';
import * as rfc8448 from '../vectors/rfc8448.js';
import { runProviderSuite } from '../crypto/providerSuite.js';

const pool = createWorkerPoolProvider({ size: 2 });
test.after.always(() => pool.close());

// Everything synchronous is the base provider's: the whole known-answer suite applies unchanged.
runProviderSuite(test, 'workers', pool, { verify: true });

const splitRecord = (record: Uint8Array) => ({ aad: record.subarray(0, 5), body: record.subarray(5) });

/** `n` records of the given sizes, with distinct contents, nonces and AADs. */
function makeJobs(sizes: readonly number[]): RecordJob[] {
  return sizes.map((size, i) => ({
    nonce: recordNonce(new Uint8Array(12).fill(0x5a), i),
    aad: Uint8Array.of(23, 3, 3, (size + 16) >> 8, (size + 16) & 0xff),
    data: Uint8Array.from({ length: size }, (_, k) => (k * 31 + i * 7) & 0xff),
  }));
}

const KEYS: Record<AeadAlg, Uint8Array> = {
  'aes-128-gcm': new Uint8Array(16).fill(1),
  'aes-256-gcm': new Uint8Array(32).fill(2),
  'chacha20-poly1305': new Uint8Array(32).fill(3),
};

test('workers: RFC 8439 §2.8.2: ChaCha20-Poly1305 through sealBatch and openBatch', async (t) => {
  const v = aeadVector;
  const job = { nonce: v.nonce, aad: v.aad, data: v.plaintext };
  t.deepEqual(await pool.batch.sealBatch('chacha20-poly1305', v.key, [job]), [concatBytes(v.ciphertext, v.tag)]);
  const sealed = { ...job, data: concatBytes(v.ciphertext, v.tag) };
  t.deepEqual(await pool.batch.openBatch('chacha20-poly1305', v.key, [sealed]), [v.plaintext]);
});

test('workers: RFC 8448 §3: AES-128-GCM records through sealBatch and openBatch', async (t) => {
  const s = rfc8448.schedule;
  const payload = Uint8Array.from({ length: 50 }, (_, i) => i);
  const appInner = concatBytes(payload, Uint8Array.of(23));
  const c = splitRecord(rfc8448.records.clientApplicationData);
  const clientJob = { nonce: recordNonce(s.clientApplicationIv, 0), aad: c.aad, data: appInner };
  t.deepEqual(await pool.batch.sealBatch('aes-128-gcm', s.clientApplicationKey, [clientJob]), [c.body]);
  t.deepEqual(
    await pool.batch.openBatch('aes-128-gcm', s.clientApplicationKey, [{ ...clientJob, data: c.body }]),
    [appInner],
  );

  // Server seq 1 and the client Finished (handshake key, seq 0): each in a batch with its own key.
  const sv = splitRecord(rfc8448.records.serverApplicationData);
  const serverJob = { nonce: recordNonce(s.serverApplicationIv, 1), aad: sv.aad, data: sv.body };
  t.deepEqual(await pool.batch.openBatch('aes-128-gcm', s.serverApplicationKey, [serverJob]), [appInner]);
  const fin = splitRecord(rfc8448.records.clientFinished);
  const finInner = concatBytes(rfc8448.messages.clientFinished, Uint8Array.of(22));
  const finJob = { nonce: recordNonce(s.clientHandshakeIv, 0), aad: fin.aad, data: finInner };
  t.deepEqual(await pool.batch.sealBatch('aes-128-gcm', s.clientHandshakeKey, [finJob]), [fin.body]);
  // The wrong sequence number (nonce) does not authenticate.
  const wrongSeq = { nonce: recordNonce(s.clientHandshakeIv, 1), aad: fin.aad, data: fin.body };
  t.deepEqual(await pool.batch.openBatch('aes-128-gcm', s.clientHandshakeKey, [wrongSeq]), [null]);
});

for (const v of gcmVectors) {
  test(`workers: ${v.name}: sealBatch and openBatch`, async (t) => {
    const job = { nonce: v.iv, aad: v.aad, data: v.plaintext };
    const sealed = concatBytes(v.ciphertext, v.tag);
    t.deepEqual(await pool.batch.sealBatch(v.alg, v.key, [job]), [sealed]);
    t.deepEqual(await pool.batch.openBatch(v.alg, v.key, [{ ...job, data: sealed }]), [v.plaintext]);
  });
}

test('workers: a large batch is shared by every worker and keeps job order', async (t) => {
  const p = createWorkerPoolProvider({ size: 3 });
  t.teardown(() => p.close());
  const jobs = makeJobs(Array.from({ length: 48 }, (_, i) => 16384 - (i % 5) * 1000));
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  for (const [round, alg] of (['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'] as const).entries()) {
    const ref = nobleProvider.aead(alg, KEYS[alg]);
    const sealed = await p.batch.sealBatch(alg, KEYS[alg], jobs);
    t.deepEqual(sealed, jobs.map((j) => ref.seal(j.nonce, j.aad, j.data)), alg);
    // Every record was processed exactly once, by one of the three threads the batch was posted to.
    const stats = p.stats();
    t.is(stats.threads, 3);
    t.is(stats.batches, 2 * round + 1);
    t.is(sum(stats.records), 48 * (2 * round + 1), `${alg}: each record once`);
    const opened = await p.batch.openBatch(alg, KEYS[alg], jobs.map((j, i) => ({ ...j, data: sealed[i]! })));
    t.deepEqual(opened, jobs.map((j) => j.data), alg);
  }
  // Once the threads run, the records of one batch spread over them (claimed one at a time). How they spread
  // depends on the scheduler, so look over a bounded number of batches for two threads sharing one.
  let shared = false;
  for (let k = 0; k < 20 && !shared; k++) {
    const before = p.stats().records;
    await p.batch.sealBatch('chacha20-poly1305', KEYS['chacha20-poly1305'], jobs);
    shared = p.stats().records.filter((n, i) => n > before[i]!).length >= 2;
  }
  t.true(shared, `two threads shared one batch (records per thread: ${p.stats().records})`);
});

test('workers: a shared batch buffer is reused as soon as its batch is done, even by a pool whose other workers lag', async (t) => {
  const p = createWorkerPoolProvider({ size: 1 });
  t.teardown(() => p.close());
  const jobs = makeJobs([3000, 16384, 100]);
  const expected = jobs.map((j) => nobleProvider.aead('aes-128-gcm', KEYS['aes-128-gcm']).seal(j.nonce, j.aad, j.data));
  for (let i = 0; i < 10; i++) t.deepEqual(await p.batch.sealBatch('aes-128-gcm', KEYS['aes-128-gcm'], jobs), expected);
  // The one buffer serves all ten batches.
  t.like(p.stats(), { batches: 10, buffersAllocated: 1, buffersFree: 1 });
  // Two batches in flight need two buffers; both are kept afterwards.
  await Promise.all([p.batch.sealBatch('aes-128-gcm', KEYS['aes-128-gcm'], jobs), p.batch.sealBatch('aes-128-gcm', KEYS['aes-128-gcm'], jobs)]);
  t.like(p.stats(), { buffersAllocated: 2, buffersFree: 2 });

  // Four threads, one batch at a time: each batch is a ring entry that three of them take part in, and whichever
  // come late (still starting, or descheduled) read the entry after the buffer holds the next batch. They claim nothing of it,
  // so one buffer still serves every batch, and every result is right.
  const four = createWorkerPoolProvider({ size: 4 });
  t.teardown(() => four.close());
  for (let i = 0; i < 40; i++) t.deepEqual(await four.batch.sealBatch('aes-128-gcm', KEYS['aes-128-gcm'], jobs), expected);
  t.like(four.stats(), { batches: 40, buffersAllocated: 1, buffersFree: 1 });
  t.is(four.stats().records.reduce((a, b) => a + b, 0), 40 * jobs.length, 'each record processed once');
});

test('workers: mixed sizes, unaligned views and empty records match the single-record AEAD', async (t) => {
  // Sizes around block and split boundaries; inputs are views at odd offsets into one larger buffer.
  const sizes = [0, 1, 15, 16, 17, 255, 4096, 16383, 16384, 16385, 40000, 3, 70000, 0, 9];
  const plain = makeJobs(sizes).map((j, i) => {
    const backing = new Uint8Array(j.data.length + 2 * 7 + i);
    backing.set(j.data, 7 + i);
    const aadBacking = new Uint8Array(j.aad.length + 3);
    aadBacking.set(j.aad, 3);
    return { nonce: j.nonce, aad: aadBacking.subarray(3), data: backing.subarray(7 + i, 7 + i + j.data.length) };
  });
  for (const alg of ['aes-128-gcm', 'chacha20-poly1305'] as const) {
    const ref = nodeProvider.aead(alg, KEYS[alg]); // an independent implementation (OpenSSL)
    const sealed = await pool.batch.sealBatch(alg, KEYS[alg], plain);
    t.deepEqual(sealed, plain.map((j) => ref.seal(j.nonce, j.aad, j.data)), alg);
    // The results are views into ordinary (not shared) buffers of at most 64 KiB, unless one result is longer.
    const buffers = new Set(sealed.map((r) => r.buffer));
    t.true([...buffers].every((b) => b instanceof ArrayBuffer), 'results are not shared memory');
    t.true([...buffers].every((b) => b.byteLength <= RESULT_SLAB || sealed.filter((r) => r.buffer === b).length === 1), 'slabs of at most 64 KiB');
    t.true(buffers.size < sealed.length, 'small results share a slab');
    const opened = await pool.batch.openBatch(alg, KEYS[alg], plain.map((j, i) => ({ ...j, data: sealed[i]! })));
    t.deepEqual(opened, plain.map((j) => j.data.slice()), alg);
  }
});

test('workers: tampered records open to null; the rest of the batch is unaffected', async (t) => {
  const alg = 'aes-128-gcm';
  const jobs = makeJobs(Array.from({ length: 12 }, () => 20000));
  const sealed = await pool.batch.sealBatch(alg, KEYS[alg], jobs);
  const bad = new Set([0, 5, 6, 11]); // both ends and both sides of the split between the two workers
  const tampered = jobs.map((j, i) => {
    const data = sealed[i]!.slice();
    if (i === 0) data[100] ^= 1; // ciphertext bit
    if (i === 5) data[data.length - 1] ^= 0x80; // tag bit
    const aad = i === 6 ? Uint8Array.of(23, 3, 3, 0, 0) : j.aad; // wrong AAD
    return { nonce: i === 11 ? recordNonce(new Uint8Array(12).fill(0x5a), 99) : j.nonce, aad, data };
  });
  const opened = await pool.batch.openBatch(alg, KEYS[alg], tampered);
  t.is(opened.length, 12);
  opened.forEach((r, i) => (bad.has(i) ? t.is(r, null, `record ${i}`) : t.deepEqual(r, jobs[i]!.data, `record ${i}`)));
  const short = { nonce: jobs[0]!.nonce, aad: jobs[0]!.aad, data: new Uint8Array(15) };
  t.deepEqual(await pool.batch.openBatch(alg, KEYS[alg], [short, { ...jobs[1]!, data: sealed[1]! }]), [null, jobs[1]!.data]);
});

test('workers with engine node (node:crypto in the threads): RFC 8439 §2.8.2, every suite against noble, tampered records open to null', async (t) => {
  const p = createWorkerPoolProvider({ size: 2, engine: 'node' });
  t.teardown(() => p.close());
  const v = aeadVector;
  const job = { nonce: v.nonce, aad: v.aad, data: v.plaintext };
  t.deepEqual(await p.batch.sealBatch('chacha20-poly1305', v.key, [job]), [concatBytes(v.ciphertext, v.tag)]);
  const sizes = [0, 1, 16, 17, 4096, 16384, 16385, 70000];
  const jobs = makeJobs(sizes);
  for (const alg of ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'] as const) {
    const ref = nobleProvider.aead(alg, KEYS[alg]); // the other engine, on this thread
    const sealed = await p.batch.sealBatch(alg, KEYS[alg], jobs);
    t.deepEqual(sealed, jobs.map((j) => ref.seal(j.nonce, j.aad, j.data)), alg);
    const tampered = sealed.map((r, i) => (i % 3 === 1 ? Uint8Array.from(r, (b, k) => (k === r.length - 1 ? b ^ 1 : b)) : r));
    const opened = await p.batch.openBatch(alg, KEYS[alg], jobs.map((j, i) => ({ ...j, data: tampered[i]! })));
    opened.forEach((r, i) => (i % 3 === 1 ? t.is(r, null, `${alg} record ${i}`) : t.deepEqual(r, jobs[i]!.data, `${alg} record ${i}`)));
    t.deepEqual(await p.batch.openBatch(alg, KEYS[alg], [{ ...jobs[0]!, data: new Uint8Array(15) }]), [null], 'shorter than a tag');
  }
  t.true(p.stats().records.reduce((a, b) => a + b, 0) >= 3 * 2 * sizes.length, 'the records went through the threads');
  t.throws(() => createWorkerPoolProvider({ engine: 'openssl' as 'node' }), { instanceOf: RangeError });
});

test('workers: the key and inputs are copied at the call; the caller may reuse its buffers at once', async (t) => {
  const key = KEYS['aes-256-gcm'].slice();
  const jobs = makeJobs([1000, 50000]);
  const expected = jobs.map((j) => nobleProvider.aead('aes-256-gcm', key).seal(j.nonce, j.aad, j.data));
  const pending = pool.batch.sealBatch('aes-256-gcm', key, jobs);
  key.fill(0);
  for (const j of jobs) j.data.fill(0);
  t.deepEqual(await pending, expected);
});

test('workers: an empty batch resolves to no results', async (t) => {
  t.deepEqual(await pool.batch.sealBatch('aes-128-gcm', KEYS['aes-128-gcm'], []), []);
});

test('workers: a wrong key or nonce length is API misuse and throws at once', (t) => {
  const jobs = makeJobs([10]);
  t.throws(() => pool.batch.sealBatch('aes-128-gcm', new Uint8Array(32), jobs), { instanceOf: RangeError });
  t.throws(() => pool.batch.openBatch('chacha20-poly1305', new Uint8Array(16), jobs), { instanceOf: RangeError });
  const badNonce = [{ ...jobs[0]!, nonce: new Uint8Array(8) }];
  t.throws(() => pool.batch.sealBatch('aes-128-gcm', KEYS['aes-128-gcm'], badNonce), { instanceOf: RangeError });
});

test('workers: the synchronous methods are the base provider', (t) => {
  const p = createWorkerPoolProvider({ base: nodeProvider, size: 1 });
  t.is(p.name, 'workers(node)');
  t.is(pool.name, 'workers(noble)');
  t.is(pool.size, 2);
  t.is(p.stats().threads, 0, 'no thread before the first batch');
  t.throws(() => createWorkerPoolProvider({ size: 0 }), { instanceOf: RangeError });
  return p.close();
});

test('workers: close() rejects batches in flight, terminates the threads, and later batches throw', async (t) => {
  const p = createWorkerPoolProvider({ size: 2 });
  // 512 KiB: about 12 ms of ChaCha20 per thread, so the batch is still running when close() is called.
  const jobs = makeJobs(Array.from({ length: 32 }, () => 16384));
  t.is((await p.batch.sealBatch('chacha20-poly1305', KEYS['chacha20-poly1305'], jobs)).length, 32);
  t.is(p.stats().threads, 2);
  const inFlight = p.batch.sealBatch('chacha20-poly1305', KEYS['chacha20-poly1305'], jobs);
  const closing = p.close();
  await t.throwsAsync(inFlight, { message: /closed/ });
  await closing;
  t.is(p.stats().threads, 0);
  t.throws(() => p.batch.openBatch('chacha20-poly1305', KEYS['chacha20-poly1305'], jobs), { message: /after close/ });
  await p.close(); // idempotent
});

test('workers: a process that never calls close() still exits once its batches are done (and per-process flags such as --expose-gc are not passed to workers)', async (t) => {
  const workersUrl = new URL('../../src/node/workers.ts', import.meta.url).href;
  const script = `
    const { createWorkerPoolProvider } = await import(${JSON.stringify(workersUrl)});
    const p = createWorkerPoolProvider({ size: 2 });
    const jobs = Array.from({ length: 8 }, (_, i) => ({ nonce: new Uint8Array(12).fill(i), aad: new Uint8Array(5), data: new Uint8Array(20000) }));
    const sealed = await p.batch.sealBatch('aes-128-gcm', new Uint8Array(16), jobs);
    console.log('sealed', sealed.length, p.stats().threads);`;
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--no-warnings', '--expose-gc', '--max-old-space-size=256', '--loader=ts-node/esm', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 60_000 },
      (err, out) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout: out }),
    );
    child.stdin?.end();
  });
  t.is(stdout.trim(), 'sealed 8 2');
  t.is(code, 0, 'exited by itself, before the 60 s kill');
});

test('workers: leased results come with release(); given back, their memory holds the next leased batch, unleased results are never reused', async (t) => {
  const own = createWorkerPoolProvider({ size: 2, engine: 'node' });
  t.teardown(() => own.close());
  const alg = 'aes-128-gcm';
  const key = KEYS[alg];
  const jobs = makeJobs(Array.from({ length: 8 }, () => 16384));
  const aead = nodeProvider.aead(alg, key);
  const expected = jobs.map((j) => aead.seal(j.nonce, j.aad, j.data));

  // Not asked for: no release, ordinary memory, nothing recycled.
  const plain = await own.batch.sealBatch(alg, key, jobs);
  t.is(plain.release, undefined);
  t.deepEqual([...plain], expected);
  t.true(plain.every((r) => !(r.buffer instanceof SharedArrayBuffer)));

  // Sealed on loan, shared memory allowed: written by the workers straight into shared slabs (no copy out), given
  // back by release().
  const first = await own.batch.sealBatch(alg, key, jobs, { lease: true, shared: true });
  t.is(typeof first.release, 'function');
  t.false(Object.keys(first).includes('release'), 'release is not one of the results');
  t.deepEqual([...first], expected);
  t.true(first.every((r) => r.buffer instanceof SharedArrayBuffer));
  const firstSlabs = new Set(first.map((r) => r.buffer));
  t.like(own.stats(), { batchesInPlace: 1, sharedSlabs: firstSlabs.size, sharedSlabsFree: 0 });
  first.release!();
  first.release!(); // idempotent: the slabs are given back once
  t.is(own.stats().sharedSlabsFree, firstSlabs.size);
  const again = await own.batch.sealBatch(alg, key, jobs, { lease: true, shared: true });
  t.deepEqual([...again], expected);
  t.true(again.every((r) => firstSlabs.has(r.buffer)), 'the same shared slabs, reused');
  t.is(own.stats().sharedSlabs, firstSlabs.size);
  again.release!();

  // Opened on loan, shared memory allowed: straight into shared slabs too (the data less its tag each).
  const sealedJobs = jobs.map((j, i) => ({ ...j, data: expected[i]! }));
  const inShared = await own.batch.openBatch(alg, key, sealedJobs, { lease: true, shared: true });
  t.deepEqual([...inShared], jobs.map((j) => j.data));
  t.true(inShared.every((r) => r!.buffer instanceof SharedArrayBuffer));
  inShared.release!();
  t.is(own.stats().sharedSlabsFree, own.stats().sharedSlabs);

  // Opened on loan: ordinary slabs (an application may hand them to any API), reused once given back.
  const opened = await own.batch.openBatch(alg, key, sealedJobs, { lease: true });
  t.deepEqual([...opened], jobs.map((j) => j.data));
  t.true(opened.every((r) => !(r!.buffer instanceof SharedArrayBuffer)));
  const openedSlabs = new Set(opened.map((r) => r!.buffer));
  opened.release!();
  t.is(own.stats().slabsFree, openedSlabs.size);
  const reopened = await own.batch.openBatch(alg, key, sealedJobs, { lease: true });
  t.deepEqual([...reopened], jobs.map((j) => j.data));
  t.true(reopened.every((r) => openedSlabs.has(r!.buffer)), 'the given-back slabs were reused');
  t.is(own.stats().slabsReused, openedSlabs.size);
  t.deepEqual([...plain], expected, 'results that were not leased are untouched');
  reopened.release!();

  // Sealed on loan without shared memory: ordinary slabs, the ones given back first (sealed records are longer:
  // one more slab is fresh).
  const ordinary = await own.batch.sealBatch(alg, key, jobs, { lease: true });
  t.deepEqual([...ordinary], expected);
  t.true(ordinary.every((r) => !(r.buffer instanceof SharedArrayBuffer)));
  t.is(new Set(ordinary.map((r) => r.buffer).filter((b) => openedSlabs.has(b))).size, openedSlabs.size);
  ordinary.release!();

  // After close(), a release() is harmless.
  await own.close();
  t.notThrows(() => reopened.release!());
});

test('workers: memory given back is kept up to a bound; when every shared slab is out, sealed results are copied out as usual', async (t) => {
  const own = createWorkerPoolProvider({ size: 1, engine: 'node' });
  t.teardown(() => own.close());
  const jobs = makeJobs(Array.from({ length: 64 }, () => 16384)); // 22 slabs of 64 KiB sealed, 16 opened
  const key = KEYS['chacha20-poly1305'];
  const fit = Math.floor(MAX_SHARED_SLABS / 22);
  const sealed = await Promise.all(Array.from({ length: fit + 3 }, () => own.batch.sealBatch('chacha20-poly1305', key, jobs, { lease: true, shared: true })));
  // The shared slabs hold `fit` batches; the other three are copied out into ordinary slabs (each having given back
  // the slabs it took), and no more shared slabs than the bound are ever registered.
  t.like(own.stats(), { sharedSlabs: MAX_SHARED_SLABS, batchesInPlace: fit });
  t.is(sealed.filter((b) => b[0]!.buffer instanceof SharedArrayBuffer).length, fit);
  const aead = nodeProvider.aead('chacha20-poly1305', key);
  for (const b of sealed) t.deepEqual(Buffer.from(b[63]!), Buffer.from(aead.seal(jobs[63]!.nonce, jobs[63]!.aad, jobs[63]!.data)));
  for (const b of sealed) b.release!();
  t.is(own.stats().sharedSlabsFree, MAX_SHARED_SLABS, 'every shared slab free again (a batch that found too few gave back the ones it took)');
  const sealedJobs = jobs.map((j) => ({ ...j, data: aead.seal(j.nonce, j.aad, j.data) }));
  const opened = await Promise.all(Array.from({ length: 12 }, () => own.batch.openBatch('chacha20-poly1305', key, sealedJobs, { lease: true })));
  for (const b of opened) b.release!();
  t.is(own.stats().slabsFree, 128, 'ordinary slabs kept: at most 128');
});

test('workers: batches reach the threads through the ring, with no message per thread per batch', async (t) => {
  const p = createWorkerPoolProvider({ size: 4, engine: 'node' });
  t.teardown(() => p.close());
  const jobs = makeJobs(Array.from({ length: 16 }, (_, i) => 500 + 100 * i));
  const aead = nobleProvider.aead('chacha20-poly1305', KEYS['chacha20-poly1305']);
  const expected = jobs.map((j) => aead.seal(j.nonce, j.aad, j.data));
  t.deepEqual(await p.batch.sealBatch('chacha20-poly1305', KEYS['chacha20-poly1305'], jobs), expected);
  t.is(p.stats().threads, 4);
  const before = p.stats().messages;
  for (let i = 0; i < 30; i++) t.deepEqual(await p.batch.sealBatch('chacha20-poly1305', KEYS['chacha20-poly1305'], jobs), expected);
  // Thirty batches of sixteen records on four threads: not one message (a pool of four used to post 120).
  t.like(p.stats(), { batches: 31, messages: before, batchesByMessage: 0 });
  t.is(p.stats().records.reduce((a, b) => a + b, 0), 31 * jobs.length, 'each record processed once');
});

test('workers: more batches in flight than the ring holds go as messages; every result is right, and the buffers registered shrink back', async (t) => {
  const p = createWorkerPoolProvider({ size: 2 });
  t.teardown(() => p.close());
  const n = 300; // > RING (256)
  const jobs = makeJobs(Array.from({ length: n }, (_, i) => 1 + (i % 50)));
  const aead = nobleProvider.aead('aes-256-gcm', KEYS['aes-256-gcm']);
  const results = await Promise.all(jobs.map((j) => p.batch.sealBatch('aes-256-gcm', KEYS['aes-256-gcm'], [j])));
  results.forEach((r, i) => t.deepEqual(r, [aead.seal(jobs[i]!.nonce, jobs[i]!.aad, jobs[i]!.data)], `batch ${i}`));
  const s = p.stats();
  t.is(s.batches, n);
  t.true(s.batchesByMessage >= n - 256, `${s.batchesByMessage} batches by message`);
  t.true(s.batchesByMessage < n, 'the ring carried the others');
  // Every buffer but the 64 kept free was dropped again (and its registration with it).
  t.like(s, { buffersAllocated: n, buffersFree: 64, buffersRegistered: 64 });
  // The ring is usable again at once.
  t.deepEqual(await p.batch.sealBatch('aes-256-gcm', KEYS['aes-256-gcm'], jobs.slice(0, 3)), jobs.slice(0, 3).map((j) => aead.seal(j.nonce, j.aad, j.data)));
  t.is(p.stats().batchesByMessage, s.batchesByMessage);
});

test('workers: concurrent batches of every suite, keys and sizes, seal and open, through one ring, match noble (property)', async (t) => {
  const p = createWorkerPoolProvider({ size: 3, engine: 'node' });
  t.teardown(() => p.close());
  const algs = Object.keys(KEYS) as AeadAlg[];
  const batchArb = fc.record({
    alg: fc.constantFrom(...algs),
    keyFill: fc.integer({ min: 0, max: 255 }),
    sizes: fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 40 }),
    tamper: fc.option(fc.nat(), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 12 }), async (batches) => {
      // Every batch in flight at once: each is one ring entry carrying its own key and suite.
      const runs = batches.map(async ({ alg, keyFill, sizes, tamper }) => {
        const key = new Uint8Array(KEYS[alg].length).fill(keyFill);
        const aead = nobleProvider.aead(alg, key);
        const jobs = makeJobs(sizes);
        const sealed = await p.batch.sealBatch(alg, key, jobs);
        if (!sealed.every((c, i) => Buffer.from(c).equals(Buffer.from(aead.seal(jobs[i]!.nonce, jobs[i]!.aad, jobs[i]!.data))))) return false;
        const bad = tamper === undefined ? -1 : tamper % jobs.length;
        const opened = await p.batch.openBatch(alg, key, jobs.map((j, i) => ({ ...j, data: i === bad ? Uint8Array.from(sealed[i]!, (b, k) => (k === 0 ? b ^ 1 : b)) : sealed[i]! })));
        return opened.every((o, i) => (i === bad ? o === null : o !== null && Buffer.from(o).equals(Buffer.from(jobs[i]!.data))));
      });
      return (await Promise.all(runs)).every(Boolean);
    }),
    { numRuns: 25 },
  );
  t.is(p.stats().batchesByMessage, 0);
});

test('workers: opened into shared slabs, a tampered or short record is null and the rest intact; with too few slabs free, opened results are copied out', async (t) => {
  const own = createWorkerPoolProvider({ size: 2, engine: 'node' });
  t.teardown(() => own.close());
  const alg = 'chacha20-poly1305';
  const key = KEYS[alg];
  const aead = nobleProvider.aead(alg, key);
  const jobs = makeJobs([0, 1, 15, 16, 17, 1000, 16384, 5000]);
  const sealed = jobs.map((j) => aead.seal(j.nonce, j.aad, j.data));
  const opening = jobs.map((j, i) => ({
    ...j,
    // Record 2 tampered, record 4 cut below a tag's length.
    data: i === 2 ? Uint8Array.from(sealed[i]!, (b, k) => (k === 3 ? b ^ 0x80 : b)) : i === 4 ? sealed[i]!.subarray(0, 15) : sealed[i]!,
  }));
  const opened = await own.batch.openBatch(alg, key, opening, { lease: true, shared: true });
  t.is(opened.length, jobs.length);
  opened.forEach((o, i) => {
    if (i === 2 || i === 4) t.is(o, null, `record ${i}`);
    else {
      t.deepEqual(Buffer.from(o!), Buffer.from(jobs[i]!.data), `record ${i}`);
      t.true(o!.buffer instanceof SharedArrayBuffer);
    }
  });
  opened.release!();
  // Every shared slab out (sealed batches on loan hold them): opened results come in ordinary memory, still right.
  const three = makeJobs([16384, 16384, 16384]); // one 64 KiB slab each
  const held = await Promise.all(Array.from({ length: MAX_SHARED_SLABS }, () => own.batch.sealBatch(alg, key, three, { lease: true, shared: true })));
  t.like(own.stats(), { sharedSlabs: MAX_SHARED_SLABS, sharedSlabsFree: 0 });
  const copied = await own.batch.openBatch(alg, key, opening, { lease: true, shared: true });
  copied.forEach((o, i) => (i === 2 || i === 4 ? t.is(o, null) : t.false(o!.buffer instanceof SharedArrayBuffer)));
  t.deepEqual(Buffer.from(copied[6]!), Buffer.from(jobs[6]!.data));
  for (const h of held) h.release!();
  copied.release!();
});

test('workers: free batch buffers are kept up to 16 MiB in all (the largest), and reused without registering anew', async (t) => {
  const p = createWorkerPoolProvider({ size: 2, engine: 'node' });
  t.teardown(() => p.close());
  const key = KEYS['aes-128-gcm'];
  // Twenty batches of 32 full records at once: a 1 MiB buffer each, more than the bound holds.
  const big = makeJobs(Array.from({ length: 32 }, () => 16384));
  const burst = () => Promise.all(Array.from({ length: 20 }, () => p.batch.sealBatch('aes-128-gcm', key, big)));
  await burst();
  t.like(p.stats(), { buffersAllocated: 20, buffersFree: 16, buffersRegistered: 16 });
  // The next burst reuses the sixteen kept: four new ones only, registered with the two threads.
  const messages = p.stats().messages;
  await burst();
  t.like(p.stats(), { buffersAllocated: 24, buffersFree: 16 });
  t.is(p.stats().messages - messages, 4 * 2 * 2, 'four registrations and four drops, to each of two threads');
});
