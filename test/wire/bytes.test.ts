/** `ByteCarver`: fresh zeroed views carved from shared chunks, never handed out twice. */
import test from 'ava';
import fc from 'fast-check';
import { ByteCarver } from '../../src/wire/bytes.js';

test('ByteCarver: every view has the length asked for, starts zeroed, and no two views share a byte (property)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.nat(1200), { maxLength: 60 }), (sizes) => {
      const carver = new ByteCarver(4096);
      const views = sizes.map((n) => carver.take(n));
      t.deepEqual(views.map((v) => v.length), sizes);
      t.true(views.every((v) => v.every((b) => b === 0)), 'zeroed when handed out');
      // Write each view in full with its own mark, then check that every view still holds only its mark.
      views.forEach((v, i) => v.fill((i % 255) + 1));
      t.true(views.every((v, i) => v.every((b) => b === (i % 255) + 1)), 'no view overlaps another');
      // Over a quarter of a chunk: a buffer of its own.
      t.true(views.every((v, i) => sizes[i]! <= 1024 || (v.byteOffset === 0 && v.buffer.byteLength === sizes[i])));
    }),
    { numRuns: 300 },
  );
});

test('ByteCarver: small views share a chunk (one allocation serves many)', (t) => {
  const carver = new ByteCarver(4096);
  const views = Array.from({ length: 40 }, () => carver.take(88));
  t.is(new Set(views.map((v) => v.buffer)).size, 1);
});
