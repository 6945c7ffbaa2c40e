import test from 'ava';
import fc from 'fast-check';
import {
  batchLayout,
  batchSize,
  batchControl,
  FAILED,
  LAYOUT_STRIDE,
  packBatch,
  RESULT_SLAB,
  resultAt,
  setBatchControl,
  unpackBatch,
  workOn,
  type BatchMessage,
} from '../../src/node/batchBuffer.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeAead } from '../../src/node/nodeAead.js';
import type { AeadAlg, RecordJob } from '../../src/crypto/provider.js';

// The shared-memory batch protocol, run on this thread: several `workOn` calls on one message stand for
// several workers (the pool's own tests run it on real threads).

const aeadCase = fc.constantFrom<[AeadAlg, number]>(['aes-128-gcm', 16], ['aes-256-gcm', 32], ['chacha20-poly1305', 32]);
// Data at any offset of its buffer, as a received record's ciphertext is (5 bytes into its header, anywhere in a
// socket chunk): the batch places it by its offset modulo 8.
const job = fc.record({
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  aad: fc.uint8Array({ maxLength: 13 }),
  data: fc.tuple(fc.nat(15), fc.uint8Array({ maxLength: 600 })).map(([at, bytes]) => {
    const backing = new Uint8Array(at + bytes.length);
    backing.set(bytes, at);
    return backing.subarray(at);
  }),
});

function batch(op: 0 | 1, alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[], id = 1, buf = new SharedArrayBuffer(batchSize(jobs) + 8)): BatchMessage {
  // A reused buffer is usually larger than needed, and holds an older batch.
  if (id === 1) new Uint8Array(buf).fill(0xee);
  packBatch(buf, jobs, id);
  return { id, op, alg, key, buf, count: jobs.length };
}

const control = (m: BatchMessage) => batchControl(m.buf);

test('batchBuffer: seal then open through the shared buffer equals the single-record AEAD (property)', (t) => {
  fc.assert(
    fc.property(aeadCase, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(job, { minLength: 1, maxLength: 8 }), ([alg, n], k, jobs) => {
      const key = k.subarray(0, n);
      const ref = nobleProvider.aead(alg, key);
      const seal = batch(0, alg, key, jobs);
      const finished = [workOn(seal), workOn(seal)];
      t.deepEqual(finished, [true, false], 'the first "worker" took every record and reports the batch');
      t.deepEqual(control(seal), { gen: 1, next: jobs.length, done: jobs.length }, 'each record claimed once; none claimed past the end');
      const sealed = unpackBatch(seal.buf, jobs.length);
      t.deepEqual(sealed, jobs.map((j) => ref.seal(j.nonce, j.aad, j.data)));
      const open = batch(1, alg, key, jobs.map((j, i) => ({ ...j, data: sealed[i]! })));
      t.true(workOn(open));
      t.deepEqual(unpackBatch(open.buf, jobs.length), jobs.map((j) => j.data));
    }),
    { numRuns: 60 },
  );
});

test('batchBuffer: the node:crypto engine writes the same bytes as noble; a record that fails leaves its slot as it was (property)', (t) => {
  fc.assert(
    fc.property(aeadCase, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(job, { minLength: 1, maxLength: 8 }), fc.nat(), ([alg, n], k, jobs, flip) => {
      const key = k.subarray(0, n);
      const ref = nobleProvider.aead(alg, key);
      const seal = batch(0, alg, key, jobs);
      t.true(workOn(seal, undefined, nodeAead));
      const sealed = unpackBatch(seal.buf, jobs.length);
      t.deepEqual(sealed, jobs.map((j) => ref.seal(j.nonce, j.aad, j.data)));
      // One record tampered with (a bit of its ciphertext or tag flipped): it alone opens to null, and nothing
      // of it was written over (its slot still holds what was packed).
      const bad = flip % jobs.length;
      const tampered = sealed.map((c, i) => {
        if (i !== bad) return c!;
        const x = c!.slice();
        x[flip % x.length] ^= 1 << (flip % 8);
        return x;
      });
      const open = batch(1, alg, key, jobs.map((j, i) => ({ ...j, data: tampered[i]! })));
      const before = new Uint8Array(open.buf).slice();
      t.true(workOn(open, undefined, nodeAead));
      const opened = unpackBatch(open.buf, jobs.length);
      t.deepEqual(opened, jobs.map((j, i) => (i === bad ? null : j.data)));
      const slot = new Uint32Array(open.buf, batchLayout(jobs.length).layout, jobs.length * LAYOUT_STRIDE);
      const at = slot[bad * LAYOUT_STRIDE + 3]!;
      t.deepEqual(new Uint8Array(open.buf, at, tampered[bad]!.length), before.subarray(at, at + tampered[bad]!.length));
    }),
    { numRuns: 60 },
  );
});

test('batchBuffer: a job\'s trailer is sealed as if joined to its data (property)', (t) => {
  fc.assert(
    fc.property(aeadCase, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(fc.tuple(job, fc.uint8Array({ maxLength: 5 })), { minLength: 1, maxLength: 8 }), ([alg, n], k, pairs) => {
      const key = k.subarray(0, n);
      const ref = nobleProvider.aead(alg, key);
      const jobs = pairs.map(([j, trailer]) => ({ ...j, trailer }));
      const joined = jobs.map((j) => Uint8Array.from([...j.data, ...j.trailer]));
      const seal = batch(0, alg, key, jobs);
      t.true(workOn(seal, undefined, nodeAead));
      t.deepEqual(unpackBatch(seal.buf, jobs.length), jobs.map((j, i) => ref.seal(j.nonce, j.aad, joined[i]!)));
    }),
    { numRuns: 60 },
  );
});

test('batchBuffer: records are claimed one at a time; whoever finishes the last record reports the batch', (t) => {
  const key = new Uint8Array(16).fill(4);
  const jobs = Array.from({ length: 5 }, (_, i) => ({ nonce: new Uint8Array(12).fill(i), aad: Uint8Array.of(23, 3, 3, 0, 9), data: new Uint8Array(9).fill(i) }));
  const m = batch(0, 'aes-128-gcm', key, jobs);
  // Another "worker" already claimed and finished records 0-3: this one takes record 4, the last.
  setBatchControl(m.buf, m.id, 4, 4);
  t.true(workOn(m));
  t.deepEqual(control(m), { gen: 1, next: 5, done: 5 });
  const lengths = new Int32Array(m.buf, batchLayout(5).lengths, 5);
  const stale = new Int32Array(Uint8Array.of(0xee, 0xee, 0xee, 0xee).buffer)[0]!; // left by the older batch
  t.deepEqual(Array.from(lengths), [stale, stale, stale, stale, 25], 'only record 4 was processed here (9 B + 16 B tag)');
  // A worker that gets the message after everything was claimed touches nothing.
  const before = new Uint8Array(m.buf).slice();
  t.false(workOn(m));
  t.deepEqual(new Uint8Array(m.buf), before);
});

test('batchBuffer: a worker that reads a finished batch\'s message after its buffer was reused touches nothing of the new batch', (t) => {
  // The pool reuses a buffer as soon as its batch is done; a worker busy elsewhere may read the old message
  // much later, when the buffer holds a newer batch (another generation), even one with records left to claim.
  const key = new Uint8Array(16).fill(4);
  const jobs = (n: number) => Array.from({ length: n }, (_, i) => ({ nonce: new Uint8Array(12).fill(i), aad: Uint8Array.of(23, 3, 3, 0, 9), data: new Uint8Array(9).fill(i) }));
  const old = batch(0, 'aes-128-gcm', key, jobs(2), 1, new SharedArrayBuffer(4096));
  t.true(workOn(old));
  const ref = nobleProvider.aead('aes-128-gcm', key);
  const newer = batch(1, 'aes-128-gcm', key, jobs(3).map((j) => ({ ...j, data: ref.seal(j.nonce, j.aad, j.data) })), 2, old.buf);
  const before = new Uint8Array(newer.buf).slice();
  t.false(workOn(old), 'the stale message claims nothing');
  t.deepEqual(new Uint8Array(newer.buf), before);
  t.deepEqual(control(newer), { gen: 2, next: 0, done: 0 });
  t.true(workOn(newer));
  t.deepEqual(unpackBatch(newer.buf, 3), jobs(3).map((j) => j.data));
});

test('batchBuffer: records that do not authenticate open to null; the rest of the batch is unaffected', (t) => {
  const key = new Uint8Array(32).fill(9);
  const ref = nobleProvider.aead('chacha20-poly1305', key);
  const jobs = Array.from({ length: 4 }, (_, i) => ({ nonce: new Uint8Array(12).fill(i), aad: Uint8Array.of(23, 3, 3, 0, 40), data: new Uint8Array(24).fill(i + 1) }));
  const sealed = jobs.map((j) => ref.seal(j.nonce, j.aad, j.data));
  sealed[1]![3] ^= 1; // a ciphertext bit
  const tampered = jobs.map((j, i) => ({ ...j, data: i === 3 ? sealed[3]!.subarray(0, 15) : sealed[i]! })); // 3: shorter than a tag
  const m = batch(1, 'chacha20-poly1305', key, tampered);
  t.true(workOn(m));
  t.deepEqual(unpackBatch(m.buf, 4), [jobs[0]!.data, null, jobs[2]!.data, null]);
});

test('batchBuffer: a record that failed to seal rejects the whole batch when unpacked', (t) => {
  const jobs = [{ nonce: new Uint8Array(12), aad: new Uint8Array(5), data: new Uint8Array(3) }];
  const m = batch(0, 'aes-128-gcm', new Uint8Array(16), jobs);
  t.true(workOn(m));
  new Int32Array(m.buf, batchLayout(1).lengths, 1)[0] = FAILED;
  t.throws(() => unpackBatch(m.buf, 1), { message: /record 0 could not be sealed/ });
});

test('batchBuffer: results are copied out into ordinary buffers, so the shared one can be reused at once', (t) => {
  const jobs = [1, 2, 3].map((n) => ({ nonce: new Uint8Array(12).fill(n), aad: new Uint8Array(0), data: new Uint8Array(n * 10).fill(n) }));
  const m = batch(0, 'aes-256-gcm', new Uint8Array(32), jobs);
  workOn(m);
  const out = unpackBatch(m.buf, 3);
  const copy = out.map((r) => r!.slice());
  packBatch(m.buf, [{ nonce: new Uint8Array(12), aad: new Uint8Array(0), data: new Uint8Array(100).fill(0x77) }], 2); // reuse
  t.deepEqual(out, copy);
  t.is(new Set(out.map((r) => r!.buffer)).size, 1, 'small results share one buffer');
  t.true(out[0]!.buffer instanceof ArrayBuffer);
});

test('batchBuffer: results are copied out into slabs of at most 64 KiB, in order; a longer result gets its own (property)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 40000 }), { minLength: 1, maxLength: 12 }), fc.nat(), (sizes, bad) => {
      const key = new Uint8Array(16).fill(3);
      const jobs = sizes.map((n, i) => ({ nonce: new Uint8Array(12).fill(i), aad: new Uint8Array(5), data: new Uint8Array(n).fill(i) }));
      const ref = nobleProvider.aead('aes-128-gcm', key);
      const sealed = jobs.map((j) => ref.seal(j.nonce, j.aad, j.data));
      const failing = bad % jobs.length;
      sealed[failing] = sealed[failing]!.subarray(0, 3); // shorter than a tag: opens to null
      const m = batch(1, 'aes-128-gcm', key, jobs.map((j, i) => ({ ...j, data: sealed[i]! })));
      t.true(workOn(m));
      const out = unpackBatch(m.buf, jobs.length);
      t.deepEqual(out, jobs.map((j, i) => (i === failing ? null : j.data)));
      const slabs = [...new Set(out.filter((r) => r !== null).map((r) => r!.buffer))];
      for (const slab of slabs) {
        const on = out.filter((r) => r?.buffer === slab);
        t.true(slab.byteLength <= RESULT_SLAB || on.length === 1);
      }
      // Slabs are filled in job order: each result starts after the previous one in its slab.
      for (let i = 1; i < out.length; i++) {
        const [a, b] = [out[i - 1], out[i]];
        if (a && b && a.buffer === b.buffer) t.true(b.byteOffset >= a.byteOffset + a.length);
      }
    }),
    { numRuns: 60 },
  );
});

test('batchBuffer: each data slot sits at its source\'s offset modulo 8, results at 8-aligned offsets in and out; slots never overlap (property)', (t) => {
  // V8 copies between a SharedArrayBuffer and ordinary memory word by word only when both sides agree modulo 8,
  // else byte by byte (eight times the cost): this is the layout that keeps every copy of a record word by word.
  fc.assert(
    fc.property(fc.array(fc.tuple(job, fc.uint8Array({ maxLength: 2 })), { minLength: 1, maxLength: 8 }), (pairs) => {
      const jobs = pairs.map(([j, trailer]) => (trailer.length ? { ...j, trailer } : j));
      const size = batchSize(jobs);
      const m = batch(0, 'aes-128-gcm', new Uint8Array(16), jobs);
      const layout = new Uint32Array(m.buf, batchLayout(jobs.length).layout, jobs.length * LAYOUT_STRIDE);
      let end = batchLayout(jobs.length).data;
      jobs.forEach((j, i) => {
        const [nonceAt, aadAt, aadLength, dataAt, length] = layout.subarray(i * LAYOUT_STRIDE, (i + 1) * LAYOUT_STRIDE);
        t.true(nonceAt! >= end, 'after the previous slot');
        t.is(aadAt, nonceAt! + 12);
        t.is(aadLength, j.aad.length);
        t.true(dataAt! >= aadAt! + aadLength!);
        t.is(dataAt! % 8, j.data.byteOffset % 8, 'the copy in is word by word');
        t.is(length, j.data.length + ('trailer' in j ? j.trailer!.length : 0));
        t.is(resultAt(dataAt!) % 8, 0);
        t.true(resultAt(dataAt!) - dataAt! < 8);
        end = resultAt(dataAt!) + length! + 16; // room for the sealed record
      });
      t.true(end <= size, 'batchSize covers every slot');
      t.true(workOn(m));
      const out = unpackBatch(m.buf, jobs.length);
      t.true(out.every((r) => r!.byteOffset % 8 === 0), 'the copy out is word by word');
      // The padding between results is zeroed: the results' buffer holds nothing but them.
      const whole = new Uint8Array(out[0]!.buffer);
      const covered = new Uint8Array(whole.length);
      for (const r of out) covered.fill(1, r!.byteOffset, r!.byteOffset + r!.length);
      t.true(whole.every((b, i) => covered[i] === 1 || b === 0));
    }),
    { numRuns: 100 },
  );
});
