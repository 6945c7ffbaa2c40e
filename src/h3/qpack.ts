/**
 * QPACK field sections without a dynamic table (RFC 9204): what an endpoint that advertises
 * SETTINGS_QPACK_MAX_TABLE_CAPACITY 0 and SETTINGS_QPACK_BLOCKED_STREAMS 0 sends and accepts. Sans-IO.
 *
 * Encoding uses the three representations that need no state (RFC 9204 §4.5): an indexed field line into the
 * static table (Appendix A) for an exact match, a literal with a static name reference when only the name
 * matches, and a literal with a literal name otherwise; each string is Huffman-coded (RFC 7541 §5.2) when that
 * is shorter. Decoding accepts the same three; any reference to the dynamic table, a Required Insert Count
 * other than 0, or a negative Base, is QPACK_DECOMPRESSION_FAILED: with a capacity of 0 the peer cannot have
 * inserted anything (§2.2.3, §4.5.1.1, §4.5.1.2). Integers run to 62 bits (§4.1.1), no further. Names and
 * values are byte strings, carried as latin1 strings (one character per byte).
 */
import { H3Error } from './errors.js';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';
import { STATIC_TABLE, staticIndexOf, staticNameIndexOf } from './staticTable.js';

/** One field line: a name (lowercase for HTTP/3) and a value, each a byte string in latin1. */
export type H3Field = readonly [name: string, value: string];

/** Options of {@link encodeFieldSection}. */
export interface FieldSectionEncodeOptions {
  /** Huffman-code a string when shorter (`'auto'`, the default), always, or never. */
  readonly huffman?: 'auto' | 'always' | 'never';
}

/**
 * The size of a field section as HTTP/3 bounds it (RFC 9114 §4.2.2): for each field, its name and value in
 * bytes plus 32. What SETTINGS_MAX_FIELD_SECTION_SIZE limits.
 */
export function fieldSectionSize(fields: readonly H3Field[]): number {
  let size = 0;
  for (const [name, value] of fields) size += name.length + value.length + 32;
  return size;
}

/** Write an integer with an N-bit prefix (RFC 7541 §5.1, RFC 9204 §4.1.1); `flags` fill the bits above it. */
function writeInt(out: number[], flags: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/** Bytes of a latin1 string; a character above U+00FF cannot be a byte (API misuse, a RangeError). */
function latin1Bytes(s: string, what: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`${what} has a character above U+00FF at ${i}: field names and values are byte strings (latin1)`);
    b[i] = c;
  }
  return b;
}

/** Write a string literal whose length has an N-bit prefix, the H bit just above it (RFC 9204 §4.1.2). */
function writeString(out: number[], flags: number, prefixBits: number, s: string, huffman: FieldSectionEncodeOptions['huffman'], what: string): void {
  const raw = latin1Bytes(s, what);
  const useHuffman = huffman === 'always' || (huffman !== 'never' && huffmanEncodedLength(raw) < raw.length);
  const bytes = useHuffman ? huffmanEncode(raw) : raw;
  writeInt(out, flags | (useHuffman ? 1 << prefixBits : 0), prefixBits, bytes.length);
  for (const b of bytes) out.push(b);
}

/**
 * Encode a field section (RFC 9204 §4.5) that refers only to the static table: the prefix (Required Insert
 * Count 0, Base 0) and one field line per field, in order.
 *
 * @example
 * ```ts
 * encodeFieldSection([[':path', '/index.html']], { huffman: 'never' }); // 00 00 51 0b "/index.html" (RFC 9204 B.1)
 * ```
 */
export function encodeFieldSection(fields: readonly H3Field[], opts: FieldSectionEncodeOptions = {}): Uint8Array {
  const out: number[] = [0x00, 0x00];
  for (const [name, value] of fields) {
    const exact = staticIndexOf(name, value);
    if (exact !== undefined) {
      writeInt(out, 0xc0, 6, exact); // 1 T=1 index: indexed field line, static (§4.5.2)
      continue;
    }
    const nameIndex = staticNameIndexOf(name);
    if (nameIndex !== undefined) {
      writeInt(out, 0x50, 4, nameIndex); // 01 N=0 T=1 index: literal with static name reference (§4.5.4)
      writeString(out, 0x00, 7, value, opts.huffman, 'a field value');
    } else {
      writeString(out, 0x20, 3, name, opts.huffman, 'a field name'); // 001 N=0 H name: literal name (§4.5.6)
      writeString(out, 0x00, 7, value, opts.huffman, 'a field value');
    }
  }
  return Uint8Array.from(out);
}

/** QPACK integers are at most 62 bits (RFC 9204 §4.1.1): 2^62 and above is an error, on whatever stream. */
const QPACK_INT_LIMIT = 1n << 62n;

/** A 62-bit integer needs at most this many continuation bytes after its prefix (7 bits each); more is too long. */
const QPACK_INT_MAX_CONTINUATION = 9;

/**
 * Read an integer with an N-bit prefix (RFC 7541 §5.1, RFC 9204 §4.1.1) at `at` in `buf`: its value and the
 * offset after it; `'short'` when `buf` ends inside it; `'tooLarge'` when it reaches 2^62 or runs to more bytes
 * than 62 bits need (RFC 9204 §4.1.1 bounds QPACK integers to 62 bits; RFC 7541 §5.1: an integer past the
 * implementation's limits, in value or octet length, is a decoding error). The one reader of QPACK integers:
 * field sections here, the decoder stream in `streams.ts`; each caller names the error.
 *
 * @example
 * ```ts
 * readPrefixedInt(Uint8Array.of(0x1f, 0x9a, 0x0a), 0, 5); // { value: 1337n, next: 3 } (RFC 7541 C.1.2)
 * ```
 */
export function readPrefixedInt(buf: Uint8Array, at: number, prefixBits: number): { readonly value: bigint; readonly next: number } | 'short' | 'tooLarge' {
  if (at >= buf.length) return 'short';
  const max = (1 << prefixBits) - 1;
  const first = buf[at]! & max;
  if (first < max) return { value: BigInt(first), next: at + 1 };
  let value = BigInt(max);
  for (let k = 0, i = at + 1; ; k++, i++) {
    if (i >= buf.length) return 'short';
    if (k === QPACK_INT_MAX_CONTINUATION) return 'tooLarge';
    const b = buf[i]!;
    value += BigInt(b & 0x7f) << BigInt(7 * k);
    if (value >= QPACK_INT_LIMIT) return 'tooLarge';
    if ((b & 0x80) === 0) return { value, next: i + 1 };
  }
}

/** A read cursor over one field section; every failure is QPACK_DECOMPRESSION_FAILED. */
class FieldReader {
  private at = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.buf.length;
  }

  peek(): number {
    if (this.done) throw decompression('truncated field section');
    return this.buf[this.at]!;
  }

  /**
   * An integer with an N-bit prefix ({@link readPrefixedInt}: at most 62 bits). One past 2^53 − 1 comes out
   * inexact but still past 2^53 − 1: larger than anything it can index or size here, so refused as such.
   */
  int(prefixBits: number): number {
    const got = readPrefixedInt(this.buf, this.at, prefixBits);
    if (got === 'short') throw decompression('truncated field section');
    if (got === 'tooLarge') throw decompression('integer past 62 bits');
    this.at = got.next;
    return Number(got.value);
  }

  /** A string literal with its length's N-bit prefix and the H bit just above it. */
  string(prefixBits: number): string {
    const huffman = (this.peek() >> prefixBits) & 1;
    const length = this.int(prefixBits);
    if (length > this.buf.length - this.at) throw decompression(`string of ${length} bytes past the end of the field section`);
    const raw = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    const bytes = huffman ? huffmanDecode(raw) : raw;
    let s = '';
    for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
    return s;
  }
}

function decompression(reason: string): H3Error {
  return new H3Error('QPACK_DECOMPRESSION_FAILED', reason);
}

function staticEntry(index: number): readonly [string, string] {
  const e = STATIC_TABLE[index];
  if (!e) throw decompression(`static table index ${index} out of range (0..${STATIC_TABLE.length - 1})`);
  return e;
}

/**
 * Decode a field section (the payload of a HEADERS frame, RFC 9204 §4.5) that uses no dynamic table. Throws an
 * {@link H3Error}: QPACK_DECOMPRESSION_FAILED (a connection error, RFC 9204 §6) for a malformed section, a
 * dynamic-table reference or a bad Huffman string; H3_EXCESSIVE_LOAD for the stream when the decoded section
 * is larger than `maxFieldSectionSize` (RFC 9114 §4.2.2), checked as each line is decoded.
 *
 * @example
 * ```ts
 * decodeFieldSection(Uint8Array.of(0x00, 0x00, 0xd1)); // [[':method', 'GET']]
 * ```
 */
export function decodeFieldSection(block: Uint8Array, maxFieldSectionSize = Number.POSITIVE_INFINITY): H3Field[] {
  const r = new FieldReader(block);
  // Prefix (§4.5.1): Required Insert Count, then Sign and Delta Base. Without a dynamic table the encoded
  // Required Insert Count must be 0 (§4.5.1.1). With the Sign bit set, Base = Required Insert Count − Delta Base
  // − 1 (§4.5.1.2), negative here whatever the Delta Base: "MUST NOT be negative", the block is invalid. With
  // it clear the Base is 0 + Delta Base, which nothing refers to: read (at most 62 bits) and ignored.
  if (r.int(8) !== 0) throw decompression('Required Insert Count is not 0, but our dynamic table capacity is 0');
  if (r.peek() & 0x80) throw decompression('Sign bit 1 with a Required Insert Count of 0: a negative Base');
  r.int(7);
  const fields: H3Field[] = [];
  let size = 0;
  while (!r.done) {
    const b = r.peek();
    let field: H3Field;
    if (b & 0x80) {
      // 1 T index(6): indexed field line (§4.5.2)
      if ((b & 0x40) === 0) throw decompression('indexed field line refers to the dynamic table');
      field = staticEntry(r.int(6));
    } else if (b & 0x40) {
      // 01 N T index(4): literal with name reference (§4.5.4)
      if ((b & 0x10) === 0) throw decompression('literal field line refers to a dynamic table name');
      const [name] = staticEntry(r.int(4));
      field = [name, r.string(7)];
    } else if (b & 0x20) {
      // 001 N H length(3): literal with literal name (§4.5.6)
      const name = r.string(3);
      field = [name, r.string(7)];
    } else {
      // 0001 (indexed, post-base) and 0000 (literal, post-base name): dynamic table only (§4.5.3, §4.5.5)
      throw decompression('post-base reference to the dynamic table');
    }
    size += field[0].length + field[1].length + 32;
    if (size > maxFieldSectionSize) throw new H3Error('H3_EXCESSIVE_LOAD', `field section larger than ${maxFieldSectionSize} bytes`, 'stream');
    fields.push(field);
  }
  return fields;
}
