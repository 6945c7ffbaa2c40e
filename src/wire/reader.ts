/**
 * Byte cursor for decoding wire formats (TLS, DTLS, QUIC).
 *
 * Every read is bounds-checked; running past the end throws {@link DecodeError}, the one read error of the
 * codecs, which the protocol layer maps to a `decode_error` alert (RFC 8446 §6.2) or a QUIC FRAME_ENCODING_ERROR.
 */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  /**
   * The TLS alert this failure calls for. Defaults to `decode_error` (50); codecs use `illegal_parameter` (47)
   * for well-formed but forbidden values such as a duplicated extension (RFC 8446 §4.2).
   */
  readonly alert: number;
  constructor(message: string, alert = 50) {
    super(message);
    this.alert = alert;
  }
}

/** Read-only cursor over a byte array. Sub-readers share the buffer (no copies) and are bounded. */
export class Reader {
  private pos: number;
  private readonly end: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Current absolute offset into the underlying buffer. */
  get offset(): number {
    return this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) throw new DecodeError(`truncated ${what}: need ${n} bytes, have ${this.end - this.pos}`);
  }

  /** The next byte without consuming it. */
  peekU8(): number {
    this.need(1, 'u8');
    return this.buf[this.pos]!;
  }

  u8(): number {
    this.need(1, 'u8');
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2, 'u16');
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3, 'u24');
    const v = (this.buf[this.pos]! << 16) | (this.buf[this.pos + 1]! << 8) | this.buf[this.pos + 2]!;
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4, 'u32');
    const v =
      ((this.buf[this.pos]! << 24) >>> 0) +
      ((this.buf[this.pos + 1]! << 16) | (this.buf[this.pos + 2]! << 8) | this.buf[this.pos + 3]!);
    this.pos += 4;
    return v;
  }

  /** QUIC variable-length integer (RFC 9000 §16), as a number (values above 2^53 are rejected). */
  varint(): number {
    this.need(1, 'varint');
    const first = this.buf[this.pos]!;
    const len = 1 << (first >> 6);
    this.need(len, 'varint');
    let v = first & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + this.buf[this.pos + i]!;
    if (!Number.isSafeInteger(v)) throw new DecodeError('varint exceeds 2^53');
    this.pos += len;
    return v;
  }

  /**
   * QUIC variable-length integer (RFC 9000 §16) over its whole range (up to 2^62 − 1), as a bigint: for fields
   * a peer may legitimately set above 2^53 (flow-control limits, for example).
   */
  varintBig(): bigint {
    this.need(1, 'varint');
    const len = 1 << (this.buf[this.pos]! >> 6);
    this.need(len, 'varint');
    let v = BigInt(this.buf[this.pos]! & 0x3f);
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(this.buf[this.pos + i]!);
    this.pos += len;
    return v;
  }

  /** `n` bytes as a subarray view (no copy). */
  bytes(n: number): Uint8Array {
    this.need(n, 'bytes');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The rest of the buffer as a view. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** A vector with an 8-, 16- or 24-bit length prefix (RFC 8446 §3.4), returned as bytes. */
  vec8(): Uint8Array {
    return this.bytes(this.u8());
  }
  vec16(): Uint8Array {
    return this.bytes(this.u16());
  }
  vec24(): Uint8Array {
    return this.bytes(this.u24());
  }

  /** A bounded sub-reader over a length-prefixed vector; the parent skips past it. */
  sub8(): Reader {
    return this.subN(this.u8());
  }
  sub16(): Reader {
    return this.subN(this.u16());
  }
  sub24(): Reader {
    return this.subN(this.u24());
  }
  subN(n: number): Reader {
    this.need(n, 'vector');
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /** "Recognise fully before processing": a complete decode must consume every byte. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) throw new DecodeError(`${this.end - this.pos} trailing bytes after ${what}`);
  }
}
