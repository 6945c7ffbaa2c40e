/**
 * HTTP/3 frames (RFC 9114 §7): `type (varint) length (varint) payload`. One union of the frames this module
 * knows, the codec of each payload, and a streaming reader that cuts a stream's bytes into frames. Sans-IO.
 *
 * The reader passes DATA payloads through as they arrive (a body is never buffered whole); every other frame
 * is collected up to a bound and then decoded in full, trailing bytes included (H3_FRAME_ERROR). Frames of an
 * unknown or reserved (grease, 0x1f·N + 0x21) type are skipped without being stored (§7.2.8, §9); the frame
 * types HTTP/2 had and HTTP/3 reserves (0x02, 0x06, 0x08, 0x09) are H3_FRAME_UNEXPECTED wherever they appear.
 * Which frame may appear on which stream is the stream parsers' business (`src/h3/streams.ts`): they say so
 * through {@link H3FrameReaderLimits.checkFrame}, which sees every frame's header before its payload is read.
 *
 * Stream ids and push ids (GOAWAY, MAX_PUSH_ID, CANCEL_PUSH, PUSH_PROMISE) run to 2^62 − 1: they are numbers up
 * to 2^53 − 1 and bigints above ({@link H3Id}); compare them through `BigInt()`.
 */
import { DecodeError, Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { concatBytes } from '../wire/bytes.js';
import { H3Error } from './errors.js';

/** HTTP/3 frame types (RFC 9114 §7.2, Table 2). */
export const H3FrameType = {
  DATA: 0x00,
  HEADERS: 0x01,
  CANCEL_PUSH: 0x03,
  SETTINGS: 0x04,
  PUSH_PROMISE: 0x05,
  GOAWAY: 0x07,
  MAX_PUSH_ID: 0x0d,
} as const;

/** HTTP/2 frame types reserved in HTTP/3: receiving one is H3_FRAME_UNEXPECTED (RFC 9114 §7.2.8, §11.2.1). */
const HTTP2_FRAME_TYPES: ReadonlySet<number> = new Set([0x02, 0x06, 0x08, 0x09]);

/** Setting identifiers (RFC 9114 §7.2.4.1, RFC 9204 §5). */
export const H3Setting = {
  QPACK_MAX_TABLE_CAPACITY: 0x01,
  MAX_FIELD_SECTION_SIZE: 0x06,
  QPACK_BLOCKED_STREAMS: 0x07,
} as const;

/** HTTP/2 setting identifiers reserved in HTTP/3: receiving one is H3_SETTINGS_ERROR (RFC 9114 §7.2.4.1). */
const HTTP2_SETTINGS: ReadonlySet<number> = new Set([0x00, 0x02, 0x03, 0x04, 0x05]);

/**
 * A stream id or push id (RFC 9114 §5.2, §7.2.3): a varint up to 2^62 − 1, a number while it is at most 2^53 − 1
 * (exact), a bigint above. Compare two of them as `BigInt(a) < BigInt(b)`.
 */
export type H3Id = number | bigint;

/**
 * A frame other than DATA, decoded. `settings` keeps every identifier up to 2^53 − 1, unknown ones too (ignored
 * by the caller); larger identifiers, all unknown or reserved, are checked for repeats and dropped. Setting
 * values above 2^53 − 1 read as 2^53 − 1 (only small ones mean anything here).
 */
export type H3ControlFrame =
  | { readonly type: 'headers'; readonly block: Uint8Array }
  | { readonly type: 'settings'; readonly settings: ReadonlyMap<number, number> }
  | { readonly type: 'goaway'; readonly id: H3Id }
  | { readonly type: 'cancelPush'; readonly pushId: H3Id }
  | { readonly type: 'maxPushId'; readonly pushId: H3Id }
  | { readonly type: 'pushPromise'; readonly pushId: H3Id; readonly block: Uint8Array };

/** Any frame, whole: what {@link encodeFrame} writes and {@link decodeFrames} returns. */
export type H3Frame = H3ControlFrame | { readonly type: 'data'; readonly payload: Uint8Array };

/** What {@link H3FrameReader.push} yields: a DATA frame's start and its payload in pieces, or another frame whole. */
export type H3FrameEvent =
  | { readonly type: 'dataFrame'; readonly length: number }
  | { readonly type: 'data'; readonly bytes: Uint8Array }
  | { readonly type: 'frame'; readonly frame: H3ControlFrame };

const TYPE_OF: Record<H3Frame['type'], number> = {
  data: H3FrameType.DATA,
  headers: H3FrameType.HEADERS,
  settings: H3FrameType.SETTINGS,
  goaway: H3FrameType.GOAWAY,
  cancelPush: H3FrameType.CANCEL_PUSH,
  maxPushId: H3FrameType.MAX_PUSH_ID,
  pushPromise: H3FrameType.PUSH_PROMISE,
};

/** A frame's type and length (1..16 bytes): what goes before `length` bytes of payload (a DATA body as it is). */
export function encodeFrameHeader(type: number, length: number): Uint8Array {
  return new Writer(16).varint(type).varint(length).finish();
}

/**
 * Encode one frame (RFC 9114 §7.2). SETTINGS values are written in map order; a value above 2^53 − 1 cannot be
 * given (the Writer refuses it).
 *
 * @example
 * ```ts
 * encodeFrame({ type: 'settings', settings: new Map([[0x06, 16384]]) }); // 04 05 06 80 00 40 00
 * ```
 */
export function encodeFrame(frame: H3Frame): Uint8Array {
  const payload = new Writer(32);
  switch (frame.type) {
    case 'data':
      payload.bytes(frame.payload);
      break;
    case 'headers':
      payload.bytes(frame.block);
      break;
    case 'settings':
      for (const [id, value] of frame.settings) payload.varint(id).varint(value);
      break;
    case 'goaway':
      writeId(payload, frame.id);
      break;
    case 'cancelPush':
    case 'maxPushId':
      writeId(payload, frame.pushId);
      break;
    case 'pushPromise':
      writeId(payload, frame.pushId).bytes(frame.block);
      break;
  }
  const body = payload.finish();
  return new Writer(body.length + 16).varint(TYPE_OF[frame.type]).varint(body.length).bytes(body).finish();
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** An id as a varint: the 8-byte form (RFC 9000 §16) for one above 2^53 − 1, which `Writer.varint` refuses. */
function writeId(w: Writer, id: H3Id): Writer {
  if (typeof id === 'number' || id <= MAX_SAFE) return w.varint(Number(id));
  if (id >= 1n << 62n) throw new RangeError(`HTTP/3 id out of range: ${id}`);
  return w.u32(Number(id >> 32n) | 0xc0000000).u32(Number(id & 0xffffffffn));
}

/** Read a varint (up to 2^62 − 1); a truncated one is H3_FRAME_ERROR (the payload's length said otherwise). */
function varintOf(r: Reader, what: string): bigint {
  try {
    return r.varintBig();
  } catch (e) {
    throw new H3Error('H3_FRAME_ERROR', `${what}: ${e instanceof DecodeError ? e.message : String(e)}`);
  }
}

/** A stream or push id, exact (see {@link H3Id}). */
function idOf(r: Reader, what: string): H3Id {
  const v = varintOf(r, what);
  return v > MAX_SAFE ? v : Number(v);
}

/** A varint clamped to 2^53 − 1 (a setting's value: only small ones mean anything here). */
function clampedVarint(r: Reader, what: string): number {
  const v = varintOf(r, what);
  return v > MAX_SAFE ? Number.MAX_SAFE_INTEGER : Number(v);
}

/**
 * Decode the payload of a frame other than DATA, in full: a payload longer or shorter than its content is
 * H3_FRAME_ERROR (§7.1: "the frame payload MUST be exactly the length given"). Returns `undefined` for a type
 * this module does not know (skipped). SETTINGS: a repeated identifier or an HTTP/2 one is H3_SETTINGS_ERROR.
 */
export function decodeFramePayload(type: number, payload: Uint8Array): H3ControlFrame | undefined {
  const r = new Reader(payload);
  const whole = <F extends H3ControlFrame>(frame: F, name: string): F => {
    if (r.remaining !== 0) throw new H3Error('H3_FRAME_ERROR', `${name} frame has ${r.remaining} bytes after its content`);
    return frame;
  };
  switch (type) {
    case H3FrameType.HEADERS:
      return { type: 'headers', block: payload };
    case H3FrameType.SETTINGS: {
      const settings = new Map<number, number>();
      // Identifiers compared exactly (all 62 bits): two different reserved ones above 2^53 are no repeat.
      const seen = new Set<bigint>();
      while (r.remaining > 0) {
        const id = varintOf(r, 'SETTINGS identifier');
        const value = clampedVarint(r, 'SETTINGS value');
        if (HTTP2_SETTINGS.has(Number(id))) throw new H3Error('H3_SETTINGS_ERROR', `HTTP/2 setting 0x${id.toString(16)} in SETTINGS`);
        if (seen.has(id)) throw new H3Error('H3_SETTINGS_ERROR', `setting 0x${id.toString(16)} appears twice`);
        seen.add(id);
        if (id <= MAX_SAFE) settings.set(Number(id), value);
      }
      return { type: 'settings', settings };
    }
    case H3FrameType.GOAWAY:
      return whole({ type: 'goaway', id: idOf(r, 'GOAWAY') }, 'GOAWAY');
    case H3FrameType.CANCEL_PUSH:
      return whole({ type: 'cancelPush', pushId: idOf(r, 'CANCEL_PUSH') }, 'CANCEL_PUSH');
    case H3FrameType.MAX_PUSH_ID:
      return whole({ type: 'maxPushId', pushId: idOf(r, 'MAX_PUSH_ID') }, 'MAX_PUSH_ID');
    case H3FrameType.PUSH_PROMISE: {
      const pushId = idOf(r, 'PUSH_PROMISE');
      return { type: 'pushPromise', pushId, block: payload.subarray(r.offset) };
    }
    default:
      if (HTTP2_FRAME_TYPES.has(type)) throw new H3Error('H3_FRAME_UNEXPECTED', `HTTP/2 frame type 0x${type.toString(16)} is reserved in HTTP/3`);
      return undefined;
  }
}

/** Bounds and checks of an {@link H3FrameReader}. */
export interface H3FrameReaderLimits {
  /** The largest HEADERS or PUSH_PROMISE payload collected: more is H3_EXCESSIVE_LOAD for the stream. */
  readonly maxFieldSection: number;
  /** The largest payload of any other known frame but DATA: more is H3_EXCESSIVE_LOAD for the connection. */
  readonly maxControlPayload?: number;
  /**
   * Called with each frame's type, in stream order, as soon as its header is in: before the size bounds, and
   * before anything of its payload is read or stored. Every type comes, DATA and unknown or reserved ones too
   * (`undefined`: a type above 2^53 − 1, never a known one). Throw (an {@link H3Error}) to refuse the frame: a
   * type the stream does not allow there is H3_FRAME_UNEXPECTED whatever its length (RFC 9114 §7.2).
   */
  readonly checkFrame?: (type: number | undefined) => void;
}

/**
 * Cuts one stream's bytes into frames, whatever the chunking. Sans-IO: `push` takes the next bytes and returns
 * what they complete; `end` is the stream's FIN (a frame cut short is H3_FRAME_ERROR, RFC 9114 §7.1).
 *
 * @example
 * ```ts
 * const r = new H3FrameReader({ maxFieldSection: 16384 });
 * r.push(Uint8Array.of(0x00, 0x03, 0x61)); // [{ type: 'dataFrame', length: 3 }, { type: 'data', bytes: 'a' }]
 * r.push(Uint8Array.of(0x62, 0x63));       // [{ type: 'data', bytes: 'bc' }]
 * r.end();
 * ```
 */
export class H3FrameReader {
  /** Bytes of a frame header not complete yet (at most two varints). */
  private buffered: Uint8Array = new Uint8Array(0);
  /**
   * What the next bytes are: a frame header, DATA payload, a payload to collect, or one to skip. A payload that
   * comes in pieces is copied into a buffer of its length (checked against the limits) as it comes: each byte
   * once, however small the pieces.
   */
  private mode:
    | { kind: 'header' }
    | { kind: 'data' | 'skip'; left: number }
    | { kind: 'collect'; type: number; length: number; payload?: Uint8Array; filled: number } = { kind: 'header' };
  private readonly maxControl: number;

  constructor(private readonly limits: H3FrameReaderLimits) {
    this.maxControl = limits.maxControlPayload ?? 16_384;
  }

  /** True between frames: the stream may end here. */
  get atFrameBoundary(): boolean {
    return this.mode.kind === 'header' && this.buffered.length === 0;
  }

  push(chunk: Uint8Array): H3FrameEvent[] {
    const out: H3FrameEvent[] = [];
    let input = this.buffered.length > 0 ? concatBytes([this.buffered, chunk]) : chunk;
    this.buffered = new Uint8Array(0);
    while (input.length > 0) {
      const mode = this.mode;
      switch (mode.kind) {
        case 'data':
        case 'skip': {
          const n = Math.min(mode.left, input.length);
          if (mode.kind === 'data') out.push({ type: 'data', bytes: input.subarray(0, n) });
          input = input.subarray(n);
          mode.left -= n;
          if (mode.left === 0) this.mode = { kind: 'header' };
          break;
        }
        case 'collect': {
          let payload: Uint8Array;
          if (mode.filled === 0 && input.length >= mode.length) {
            payload = input.subarray(0, mode.length); // all here: decoded where it lies
            input = input.subarray(mode.length);
          } else {
            const n = Math.min(mode.length - mode.filled, input.length);
            mode.payload ??= new Uint8Array(mode.length);
            mode.payload.set(input.subarray(0, n), mode.filled);
            mode.filled += n;
            input = input.subarray(n);
            if (mode.filled < mode.length) return out;
            payload = mode.payload;
          }
          const frame = decodeFramePayload(mode.type, payload);
          if (frame) out.push({ type: 'frame', frame });
          this.mode = { kind: 'header' };
          break;
        }
        case 'header': {
          const header = readHeader(input);
          if (!header) {
            this.buffered = input.slice();
            return out;
          }
          input = input.subarray(header.size);
          this.startFrame(header.type, header.length, out);
          break;
        }
      }
    }
    return out;
  }

  /** The stream ended (FIN): anything but a frame boundary is H3_FRAME_ERROR. */
  end(): void {
    if (!this.atFrameBoundary) throw new H3Error('H3_FRAME_ERROR', 'the stream ended inside a frame');
  }

  private startFrame(type: number | undefined, length: number, out: H3FrameEvent[]): void {
    this.limits.checkFrame?.(type);
    if (type === H3FrameType.DATA) {
      out.push({ type: 'dataFrame', length });
      this.mode = length > 0 ? { kind: 'data', left: length } : { kind: 'header' };
      return;
    }
    const known = type !== undefined && (Object.values(H3FrameType) as number[]).includes(type);
    if (type !== undefined && HTTP2_FRAME_TYPES.has(type)) throw new H3Error('H3_FRAME_UNEXPECTED', `HTTP/2 frame type 0x${type.toString(16)} is reserved in HTTP/3`);
    if (!known) {
      this.mode = length > 0 ? { kind: 'skip', left: length } : { kind: 'header' };
      return;
    }
    const fieldSection = type === H3FrameType.HEADERS || type === H3FrameType.PUSH_PROMISE;
    if (fieldSection && length > this.limits.maxFieldSection) {
      throw new H3Error('H3_EXCESSIVE_LOAD', `field section frame of ${length} bytes (limit ${this.limits.maxFieldSection})`, 'stream');
    }
    if (!fieldSection && length > this.maxControl) throw new H3Error('H3_EXCESSIVE_LOAD', `frame 0x${type!.toString(16)} of ${length} bytes (limit ${this.maxControl})`);
    if (length === 0) {
      const frame = decodeFramePayload(type!, new Uint8Array(0));
      if (frame) out.push({ type: 'frame', frame });
      return;
    }
    this.mode = { kind: 'collect', type: type!, length, filled: 0 };
  }
}

/**
 * A frame header at the start of `buf`: its type (`undefined` when above 2^53, which no known frame is), its
 * length and the header's size; `undefined` while incomplete. A length above 2^53 − 1 is H3_FRAME_ERROR.
 */
function readHeader(buf: Uint8Array): { type: number | undefined; length: number; size: number } | undefined {
  const typeSize = 1 << (buf[0]! >> 6);
  if (buf.length < typeSize + 1) return undefined;
  const lengthSize = 1 << (buf[typeSize]! >> 6);
  if (buf.length < typeSize + lengthSize) return undefined;
  const r = new Reader(buf, 0, typeSize + lengthSize);
  const type = r.varintBig();
  const length = r.varintBig();
  if (length > BigInt(Number.MAX_SAFE_INTEGER)) throw new H3Error('H3_FRAME_ERROR', 'frame length above 2^53');
  return { type: type > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(type), length: Number(length), size: typeSize + lengthSize };
}

/**
 * Decode a whole stream's worth of frames at once (DATA payloads whole, unknown types dropped): for tests and
 * small fixed messages. `input` is the stream's bytes, or its chunks in order. Throws an {@link H3Error} as
 * {@link H3FrameReader} does, including for a cut-off frame.
 */
export function decodeFrames(input: Uint8Array | readonly Uint8Array[], limits: H3FrameReaderLimits = { maxFieldSection: Number.MAX_SAFE_INTEGER, maxControlPayload: Number.MAX_SAFE_INTEGER }): H3Frame[] {
  const reader = new H3FrameReader(limits);
  const frames: H3Frame[] = [];
  let data: Uint8Array[] | undefined;
  const flush = () => {
    if (data) frames.push({ type: 'data', payload: concatBytes(data) });
    data = undefined;
  };
  for (const e of (input instanceof Uint8Array ? [input] : input).flatMap((chunk) => reader.push(chunk))) {
    if (e.type === 'dataFrame') {
      flush();
      data = [];
    } else if (e.type === 'data') data!.push(e.bytes);
    else {
      flush();
      frames.push(e.frame);
    }
  }
  reader.end();
  flush();
  return frames;
}
