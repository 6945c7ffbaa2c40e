/**
 * The Huffman code of HPACK (RFC 7541 §5.2, Appendix B), which QPACK uses for string literals (RFC 9204
 * §4.1.2). The code is canonical (Appendix B: "a canonical Huffman code"), so the table is kept as the code
 * length of each of the 257 symbols (bytes 0..255 and EOS, 256) and the codes are rebuilt from the lengths:
 * shorter codes first, and among equal lengths in symbol order. `test/h3/huffman.test.ts` checks the rebuilt
 * codes against the hex column of Appendix B and the C.4 examples.
 */
import { H3Error } from './errors.js';

/** Code length in bits of each symbol 0..256 (RFC 7541 Appendix B, the `len` column). */
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0..15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16..31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // ' '..'/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // '0'..'?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // '@'..'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 'P'..'_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // '`'..'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 'p'..127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128..143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144..159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160..175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176..191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192..207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208..223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224..239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240..255
  30, // EOS
];

/** The end-of-string symbol: never encoded, and an error when decoded (RFC 7541 §5.2). */
const EOS = 256;

/** Each symbol's code (aligned to the least significant bit) and its length in bits. */
export const HUFFMAN_CODES: readonly { readonly code: number; readonly bits: number }[] = (() => {
  const order = LENGTHS.map((bits, symbol) => ({ bits, symbol })).sort((a, b) => a.bits - b.bits || a.symbol - b.symbol);
  const out: { code: number; bits: number }[] = new Array(LENGTHS.length);
  let code = 0;
  let bits = order[0]!.bits;
  for (const s of order) {
    code *= 2 ** (s.bits - bits); // a longer code continues from the next shorter one, shifted left
    bits = s.bits;
    out[s.symbol] = { code, bits };
    code++;
  }
  return out;
})();

/**
 * The decoding tree, flattened: node `n` has children `tree[2n]` (bit 0) and `tree[2n + 1]` (bit 1); a child
 * ≥ 0 is another node, a child < 0 is the leaf of symbol `-child - 1`.
 */
const TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * LENGTHS.length).fill(0);
  let nodes = 1;
  HUFFMAN_CODES.forEach(({ code, bits }, symbol) => {
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) % 2;
      const slot = 2 * node + bit;
      if (i === 0) tree[slot] = -symbol - 1;
      else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot]!;
      }
    }
  });
  return tree;
})();

/** The length in bytes of `data` Huffman-coded (the last byte padded with ones). */
export function huffmanEncodedLength(data: Uint8Array): number {
  let bits = 0;
  for (const b of data) bits += HUFFMAN_CODES[b]!.bits;
  return Math.ceil(bits / 8);
}

/**
 * Huffman-code `data` (RFC 7541 §5.2): each byte's code, most significant bit first, and the last byte padded
 * with the high bits of EOS (ones).
 *
 * @example
 * ```ts
 * huffmanEncode(new TextEncoder().encode('no-cache')); // a8 eb 10 64 9c bf (RFC 7541 C.4.2)
 * ```
 */
export function huffmanEncode(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(huffmanEncodedLength(data));
  let acc = 0; // pending bits, fewer than 8 before each symbol is added (at most 37 after: exact in a double)
  let pending = 0;
  let at = 0;
  for (const b of data) {
    const { code, bits } = HUFFMAN_CODES[b]!;
    acc = acc * 2 ** bits + code;
    pending += bits;
    while (pending >= 8) {
      pending -= 8;
      const byte = Math.floor(acc / 2 ** pending);
      out[at++] = byte;
      acc -= byte * 2 ** pending;
    }
  }
  if (pending > 0) out[at] = (acc << (8 - pending)) | (0xff >> pending);
  return out;
}

/**
 * Decode a Huffman-coded string. Throws an {@link H3Error} QPACK_DECOMPRESSION_FAILED (RFC 9204 §4.1.2: a
 * decoding error of a field line is a decompression failure) for what RFC 7541 §5.2 calls an error: the EOS
 * symbol, padding longer than 7 bits, or padding that is not the most significant bits of EOS (all ones).
 */
export function huffmanDecode(data: Uint8Array): Uint8Array {
  // Each symbol takes at least 5 bits, so the output is at most 8/5 of the input.
  const out = new Uint8Array(Math.ceil((data.length * 8) / 5));
  let n = 0;
  let node = 0;
  let sinceSymbol = 0; // bits read since the last complete symbol
  let allOnes = true; // ... and whether they were all ones (a valid padding so far)
  for (const byte of data) {
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >> i) & 1;
      const next = TREE[2 * node + bit]!;
      sinceSymbol++;
      if (bit === 0) allOnes = false;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new H3Error('QPACK_DECOMPRESSION_FAILED', 'Huffman string contains EOS');
        out[n++] = symbol;
        node = 0;
        sinceSymbol = 0;
        allOnes = true;
      } else node = next;
    }
  }
  if (sinceSymbol > 7) throw new H3Error('QPACK_DECOMPRESSION_FAILED', `Huffman padding of ${sinceSymbol} bits (at most 7)`);
  if (!allOnes) throw new H3Error('QPACK_DECOMPRESSION_FAILED', 'Huffman padding is not the start of EOS');
  return out.slice(0, n);
}
