import test from 'ava';
import fc from 'fast-check';
import type { AeadAlg } from '../../src/crypto/provider.js';
import {
  ENTRY,
  RING,
  createDispatch,
  dispatchWords,
  notInSlot,
  nextSeq,
  publishEntry,
  readEntry,
  seqDistance,
  snapshot,
  waitForWork,
  type DispatchEntry,
} from '../../src/node/dispatch.js';

const ALGS: readonly AeadAlg[] = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'];
const entryArb = fc.record({
  buffer: fc.integer({ min: 0, max: RING - 1 }),
  registration: fc.integer({ min: 1, max: 0xffffffff }),
  id: fc.integer({ min: 1, max: 0xffffffff }),
  op: fc.constantFrom<0 | 1>(0, 1),
  alg: fc.constantFrom(...ALGS),
  count: fc.integer({ min: 1, max: 1024 }),
  key: fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 32, maxLength: 32 })),
});
/** Sequence numbers anywhere in int32, the wrap included. */
const seqArb = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.constantFrom(0x7fffffff - 3, -0x80000000, -1, 0));
const fresh = (): Int32Array => dispatchWords(createDispatch());

test('dispatch: an entry reads back as written, at any sequence number (property)', (t) => {
  let checked = 0;
  fc.assert(
    fc.property(seqArb, fc.array(entryArb, { minLength: 1, maxLength: 8 }), (start, entries) => {
      const words = fresh();
      let seq = start;
      const seqs: number[] = [];
      for (const e of entries) {
        seqs.push(seq);
        seq = publishEntry(words, seq, e, 0);
        if (snapshot(words).tail !== seq) return false;
      }
      return entries.every((e, i) => {
        const got = readEntry(words, seqs[i]!) as DispatchEntry;
        checked++;
        return got && got.buffer === e.buffer && got.registration === e.registration && got.id === e.id && got.op === e.op && got.alg === e.alg && got.count === e.count && Buffer.from(got.key).equals(Buffer.from(e.key));
      });
    }),
  );
  t.true(checked >= 100, `${checked} entries read back as written`);
});

test('dispatch: sequence numbers count across the int32 wrap; a fresh ring has no entry in any slot', (t) => {
  t.is(nextSeq(0x7fffffff), -0x80000000);
  t.is(nextSeq(-1), 0);
  t.is(seqDistance(0x7fffffff - 2, nextSeq(nextSeq(0x7fffffff))), 4);
  t.is(seqDistance(5, 3), -2);
  const words = fresh();
  for (const seq of [0, 1, RING - 1, RING, -1, 0x7fffffff, -0x80000000]) t.is(readEntry(words, seq), undefined, `no entry ${seq}`);
});

test('dispatch: a reader never takes a half-written or rewritten entry for the one it asks for', (t) => {
  const words = fresh();
  const e: DispatchEntry = { buffer: 3, registration: 9, id: 77, op: 1, alg: 'chacha20-poly1305', count: 5, key: new Uint8Array(32).fill(4) };
  publishEntry(words, 10, e, 0);
  t.like(readEntry(words, 10), { id: 77, count: 5 });
  // Never written: nothing there for other sequence numbers, including the one RING later in the same slot.
  t.is(readEntry(words, 11), undefined);
  t.is(readEntry(words, 10 + RING), undefined);
  // Being written: the sequence word holds the marker until the entry is whole.
  const at = 4 + (10 & (RING - 1)) * ENTRY;
  Atomics.store(words, at, notInSlot(10));
  t.is(readEntry(words, 10), undefined);
  // Rewritten as entry 10 + RING: entry 10 is gone, and the new one reads as written.
  publishEntry(words, 10 + RING, { ...e, id: 78 }, 0);
  t.is(readEntry(words, 10), undefined);
  t.like(readEntry(words, 10 + RING), { id: 78 });
  // An unknown algorithm or key size is refused before anything is written.
  t.throws(() => publishEntry(words, 11, { ...e, alg: 'rc4' as AeadAlg }, 0), { instanceOf: RangeError });
  t.throws(() => publishEntry(words, 11, { ...e, key: new Uint8Array(33) }, 0), { instanceOf: RangeError });
  t.is(snapshot(words).tail, nextSeq(10 + RING));
});

test('dispatch: a thread waits only while the doorbell keeps the value it saw', (t) => {
  const words = fresh();
  const { bell } = snapshot(words);
  publishEntry(words, 0, { buffer: 0, registration: 1, id: 1, op: 0, alg: 'aes-128-gcm', count: 1, key: new Uint8Array(16) }, 1);
  t.not(snapshot(words).bell, bell, 'publishing rings the doorbell');
  // The doorbell moved since `bell` was read: the wait returns at once, without sleeping.
  t.is(waitForWork(words, bell, 60_000), 'not-equal');
  // It did not move since this value: the thread sleeps (here, until a 1 ms timeout).
  t.is(waitForWork(words, snapshot(words).bell, 1), 'timed-out');
});
