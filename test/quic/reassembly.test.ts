/** Out-of-order reassembly (RFC 9000 §2.2, §7.5, §21.7): bytes stored once, work per frame bounded. */
import test from 'ava';
import fc from 'fast-check';
import { bufferedBytes, insertChunk, MERGE_LIMIT, takeContiguous, type Chunks, type ReassemblyWork } from '../../src/quic/reassembly.js';

const source = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);

/** Chunks are sorted, disjoint, non-empty and above the read offset. */
function wellFormed(chunks: Chunks, readOffset: number): boolean {
  let at = readOffset;
  for (const c of chunks) {
    if (c.data.length === 0 || c.offset < at) return false;
    at = c.offset + c.data.length;
  }
  return true;
}

test('reassembly (property): any frames, in any order, overlapping or repeated, deliver the stream once and buffer each byte once', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3000 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 1500 })), { minLength: 1, maxLength: 80 }),
      (size, frames) => {
        const src = source(size);
        // The frames, then the whole stream once more so everything arrives.
        const all = [...frames.map(([o, n]) => [o % size, Math.min(n, size - (o % size))] as const), [0, size] as const];
        let chunks: Chunks = [];
        let read = 0;
        const out: Uint8Array[] = [];
        for (const [o, n] of all) {
          chunks = insertChunk(chunks, read, o, src.subarray(o, o + n));
          const next = takeContiguous(chunks, read);
          chunks = next.rest;
          read += next.data.length;
          out.push(next.data);
          if (!wellFormed(chunks, read + 1)) return t.fail('chunks sorted, disjoint, above the read offset');
          if (bufferedBytes(chunks) > size - read) return t.fail('at most what is left of the stream');
        }
        t.deepEqual(Buffer.concat(out), Buffer.from(src));
        t.deepEqual(chunks, []);
      },
    ),
    { numRuns: 300 },
  );
});

test('reassembly: 1 000 overlapping frames of 1 000 bytes each are buffered once (1 999 bytes, not 1 MB)', (t) => {
  const src = source(2_000);
  let chunks: Chunks = [];
  for (let i = 1; i <= 1_000; i++) chunks = insertChunk(chunks, 0, i, src.subarray(i, i + 1_000));
  t.is(bufferedBytes(chunks), 1_999);
  t.true(chunks.length <= Math.ceil(1_999 / MERGE_LIMIT) * 2, `${chunks.length} chunks`);
  const { data, rest } = takeContiguous(insertChunk(chunks, 0, 0, src.subarray(0, 1)), 0);
  t.deepEqual(Buffer.from(data), Buffer.from(src));
  t.deepEqual(rest, []);
});

test('reassembly: the work per frame does not grow with the chunks buffered (counted), and the input array is never modified', (t) => {
  const src = source(400_000);
  // 2 000 chunks of 100 bytes with a 100-byte gap after each.
  let chunks: Chunks = [];
  for (let i = 0; i < 2_000; i++) chunks = insertChunk(chunks, 0, 100 + 200 * i, src.subarray(100 + 200 * i, 200 + 200 * i));
  t.is(chunks.length, 2_000);
  const frozen = chunks.slice();
  const frames = [
    [350_000, 1_000], // over 5 chunks and 5 gaps
    [1_000, 50], // inside a gap
    [1_100, 100], // exactly a buffered chunk: nothing new
    [0, 1_200], // from the start, over 6 chunks
  ] as const;
  for (const [o, n] of frames) {
    const work: ReassemblyWork = { steps: 0 };
    const next = insertChunk(chunks, 0, o, src.subarray(o, o + n), work);
    // A binary search over 2 000 (11 steps), then a few per chunk or gap the frame spans (≤ n / 100 + 2 of each).
    t.true(work.steps <= 11 + 3 * (n / 100 + 3), `frame at ${o}: ${work.steps} steps`);
    t.deepEqual(chunks, frozen, 'copy-on-write: the previous array is untouched');
    if (o === 1_100) t.is(next, chunks, 'nothing new: the same array back');
  }
  // Gaps filled with 1-byte frames merge into chunks of up to 1 KiB, so a frame over them meets few chunks.
  let filled: Chunks = [];
  for (let i = 0; i < 10_000; i++) filled = insertChunk(filled, 0, 1 + i, src.subarray(1 + i, 2 + i));
  t.true(filled.length <= 2 * Math.ceil(10_000 / MERGE_LIMIT), `${filled.length} chunks for 10 000 one-byte frames`);
  const work: ReassemblyWork = { steps: 0 };
  insertChunk(filled, 0, 1, src.subarray(1, 1_201), work);
  t.true(work.steps <= 30, `${work.steps} steps to re-send 1 200 bytes over them`);
});
