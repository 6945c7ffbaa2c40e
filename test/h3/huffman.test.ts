/**
 * The HPACK Huffman code (RFC 7541 Appendix B) as QPACK uses it: the codes rebuilt from the lengths match the
 * table's hex column, the C.4 request examples encode and decode, and the §5.2 padding rules are enforced.
 */
import test from 'ava';
import fc from 'fast-check';
import { H3Error } from '../../src/h3/errors.js';
import { HUFFMAN_CODES, huffmanDecode, huffmanEncode } from '../../src/h3/huffman.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const text = (s: string) => new TextEncoder().encode(s);

test('RFC 7541 Appendix B: the canonical codes rebuilt from the lengths are the table\'s (a sample across it)', (t) => {
  // [symbol, code as hex, len] from Appendix B.
  const rows: [number, number, number][] = [
    [0, 0x1ff8, 13],
    [1, 0x7fffd8, 23],
    [9, 0xffffea, 24],
    [10, 0x3ffffffc, 30],
    [32, 0x14, 6],
    [47, 0x18, 6],
    [48, 0x0, 5],
    [92, 0x7fff0, 19],
    [127, 0xffffffc, 28],
    [128, 0xfffe6, 20],
    [199, 0x1ffffec, 25],
    [203, 0x7ffffde, 27],
    [220, 0xffffffd, 28],
    [254, 0x7fffff0, 27],
    [255, 0x3ffffee, 26],
    [256, 0x3fffffff, 30],
  ];
  for (const [sym, code, bits] of rows) t.deepEqual(HUFFMAN_CODES[sym], { code, bits }, `symbol ${sym}`);
  // A complete prefix code: the Kraft sum is exactly 1.
  t.is(HUFFMAN_CODES.reduce((sum, c) => sum + 2 ** -c.bits, 0), 1);
});

const c4: [string, string, string][] = [
  ['C.4.1', 'www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
  ['C.4.2', 'no-cache', 'a8eb 1064 9cbf'],
  ['C.4.3', 'custom-key', '25a8 49e9 5ba9 7d7f'],
  ['C.4.3', 'custom-value', '25a8 49e9 5bb8 e8b4 bf'],
];
for (const [section, plain, coded] of c4) {
  test(`RFC 7541 ${section}: "${plain}" Huffman-coded`, (t) => {
    t.deepEqual(huffmanEncode(text(plain)), hex(coded));
    t.deepEqual(huffmanDecode(hex(coded)), text(plain));
  });
}

test('RFC 7541 §5.2: EOS in the string, padding over 7 bits, and padding with a zero are decoding errors', (t) => {
  const failure = (b: Uint8Array) => {
    const e = t.throws(() => huffmanDecode(b), { instanceOf: H3Error });
    t.is(e?.codeName, 'QPACK_DECOMPRESSION_FAILED');
  };
  failure(hex('ffffffff')); // 30 ones: EOS, then 2 bits
  failure(hex('ff')); // 8 bits of padding
  failure(hex('fe')); // '!' needs 10 bits: 7 ones and a zero left over is not padding
  failure(Uint8Array.of(0x00)); // '0' (5 bits) then 000: padding with zeros
  t.deepEqual(huffmanDecode(Uint8Array.of(0x07)), text('0')); // '0' then 111: valid padding
});

test('property: any bytes round-trip through the Huffman code', (t) => {
  t.notThrows(() => fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => Buffer.from(huffmanDecode(huffmanEncode(b))).equals(b))));
});

test('property: random input decodes or fails with QPACK_DECOMPRESSION_FAILED, nothing else', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          huffmanDecode(b);
          return true;
        } catch (e) {
          return e instanceof H3Error && e.codeName === 'QPACK_DECOMPRESSION_FAILED';
        }
      }),
    ),
  );
});
