/**
 * QPACK field sections without a dynamic table (RFC 9204): the Appendix B example that needs no dynamic table
 * (B.1), the static table (Appendix A), the representations, the dynamic-table references refused, the size
 * bound, and properties: round trips, and random bytes decode or fail with a typed H3Error.
 */
import test from 'ava';
import fc from 'fast-check';
import { H3Error } from '../../src/h3/errors.js';
import { decodeFieldSection, encodeFieldSection, fieldSectionSize, type H3Field } from '../../src/h3/qpack.js';
import { STATIC_TABLE } from '../../src/h3/staticTable.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('RFC 9204 B.1: literal field line with name reference (:path=/index.html), encoded and decoded', (t) => {
  const wire = hex('0000 510b 2f69 6e64 6578 2e68 746d 6c');
  t.deepEqual(decodeFieldSection(wire), [[':path', '/index.html']]);
  t.deepEqual(encodeFieldSection([[':path', '/index.html']], { huffman: 'never' }), wire);
});

test('RFC 9204 Appendix A: 99 static entries; the first, the last and the ones a request and a response use', (t) => {
  t.is(STATIC_TABLE.length, 99);
  t.deepEqual(STATIC_TABLE[0], [':authority', '']);
  t.deepEqual(STATIC_TABLE[17], [':method', 'GET']);
  t.deepEqual(STATIC_TABLE[23], [':scheme', 'https']);
  t.deepEqual(STATIC_TABLE[25], [':status', '200']);
  t.deepEqual(STATIC_TABLE[98], ['x-frame-options', 'sameorigin']);
  // Indexed field lines (§4.5.2): 0xc0 | index.
  t.deepEqual(encodeFieldSection([[':method', 'GET'], [':scheme', 'https'], [':status', '200']]), hex('0000 d1 d7 d9'));
  // A 6-bit prefix integer continued (RFC 7541 §5.1): 0xff 0x04 is 63 + 4 = 67.
  t.deepEqual(decodeFieldSection(hex('0000 ff04')), [STATIC_TABLE[67]!]);
});

test('RFC 9204 §4.5.6: literal field line with a literal name, plain and Huffman-coded', (t) => {
  const plain = encodeFieldSection([['x-custom', 'value']], { huffman: 'never' });
  t.deepEqual(plain, hex('0000 2701 782d 6375 7374 6f6d 0576 616c 7565')); // name length 8 = 7 + 1 on a 3-bit prefix
  const huff = encodeFieldSection([['x-custom', 'value']], { huffman: 'always' });
  t.is(huff[2]! & 0x28, 0x28, 'the name\'s H bit is set');
  t.deepEqual(decodeFieldSection(huff), [['x-custom', 'value']]);
  t.deepEqual(decodeFieldSection(plain), [['x-custom', 'value']]);
});

test('dynamic table references and a non-zero Required Insert Count are QPACK_DECOMPRESSION_FAILED', (t) => {
  for (const wire of ['0100 d1', '0000 81', '0000 10', '0000 4100', '0000 0000', '0000 ff', '0000 ff7f']) {
    const e = t.throws(() => decodeFieldSection(hex(wire)), { instanceOf: H3Error }, wire);
    t.is(e?.codeName, 'QPACK_DECOMPRESSION_FAILED', wire);
    t.is(e?.scope, 'connection');
  }
});

test('RFC 9114 §4.2.2: a decoded section over the bound is H3_EXCESSIVE_LOAD for the stream', (t) => {
  const fields: H3Field[] = [['x-a', 'x'.repeat(100)]];
  const wire = encodeFieldSection(fields);
  t.deepEqual(decodeFieldSection(wire, fieldSectionSize(fields)), fields);
  const e = t.throws(() => decodeFieldSection(wire, fieldSectionSize(fields) - 1), { instanceOf: H3Error });
  t.is(e?.codeName, 'H3_EXCESSIVE_LOAD');
  t.is(e?.scope, 'stream');
});

const byteString = fc.uint8Array({ maxLength: 40 }).map((b) => String.fromCharCode(...b));
const fieldArb: fc.Arbitrary<H3Field> = fc.oneof(
  fc.constantFrom(...STATIC_TABLE),
  fc.tuple(fc.constantFrom(...STATIC_TABLE.map(([n]) => n)), byteString),
  fc.tuple(byteString, byteString),
);

test('property: field sections round-trip, with and without Huffman', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 12 }), fc.constantFrom('auto', 'always', 'never') as fc.Arbitrary<'auto' | 'always' | 'never'>, (fields, huffman) => {
        t.deepEqual(decodeFieldSection(encodeFieldSection(fields, { huffman })), fields);
      }),
    ),
  );
});

test('property: random bytes decode, or fail with QPACK_DECOMPRESSION_FAILED / H3_EXCESSIVE_LOAD', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        try {
          decodeFieldSection(b, 512);
          return true;
        } catch (e) {
          return e instanceof H3Error && (e.codeName === 'QPACK_DECOMPRESSION_FAILED' || e.codeName === 'H3_EXCESSIVE_LOAD');
        }
      }),
    ),
  );
});
