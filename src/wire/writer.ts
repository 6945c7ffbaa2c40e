/**
 * Growable byte writer for encoding wire formats. Length-prefixed vectors are written with
 * {@link Writer.vec8}/{@link Writer.vec16}/{@link Writer.vec24}, which back-patch the length and check
 * that it fits its prefix (RFC 8446 §3.4).
 */
export class Writer {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf[this.pos++] = (v >>> 24) & 0xff;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  /** QUIC variable-length integer (RFC 9000 §16), shortest encoding. */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint out of range: ${v}`);
    if (v < 0x40) return this.u8(v);
    if (v < 0x4000) return this.u16(0x4000 | v);
    if (v < 0x40000000) return this.u32((0x80000000 | v) >>> 0);
    const hi = Math.floor(v / 0x100000000);
    return this.u32((0xc0000000 | hi) >>> 0).u32(v >>> 0);
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** `n` zero bytes. */
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  private vec(prefix: 1 | 2 | 3, max: number, body: (w: this) => void): this {
    const at = this.pos;
    this.ensure(prefix);
    this.pos += prefix;
    body(this);
    const len = this.pos - at - prefix;
    if (len > max) throw new RangeError(`vector of ${len} bytes exceeds its ${prefix}-byte length prefix`);
    for (let i = 0; i < prefix; i++) this.buf[at + i] = (len >>> (8 * (prefix - 1 - i))) & 0xff;
    return this;
  }

  /** Vector with an 8-bit length prefix; `body` is bytes or a callback writing the content. */
  vec8(body: Uint8Array | ((w: this) => void)): this {
    return this.vec(1, 0xff, typeof body === 'function' ? body : (w) => w.bytes(body));
  }
  vec16(body: Uint8Array | ((w: this) => void)): this {
    return this.vec(2, 0xffff, typeof body === 'function' ? body : (w) => w.bytes(body));
  }
  vec24(body: Uint8Array | ((w: this) => void)): this {
    return this.vec(3, 0xffffff, typeof body === 'function' ? body : (w) => w.bytes(body));
  }

  /** Start over, keeping the buffer (a writer reused for one encoding after another). */
  reset(): this {
    this.pos = 0;
    return this;
  }

  /**
   * The bytes written so far as a view of the writer's buffer, not a copy: valid until the writer is written to
   * or reset again.
   */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Encode with a fresh writer: `encodeWith((w) => encodeX(w, x))`. */
export function encodeWith(f: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  f(w);
  return w.finish();
}
