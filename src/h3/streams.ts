/**
 * The parsers of HTTP/3's streams (RFC 9114 §6), sans-IO: bytes in, events or an {@link H3Error} out. Each one
 * is a small state machine over {@link H3FrameReader}:
 *
 * | stream                         | accepts, in order                                  | anything else                 |
 * |--------------------------------|----------------------------------------------------|-------------------------------|
 * | request / response (bidi)      | HEADERS (1xx heads first, on a response), DATA*,    | H3_FRAME_UNEXPECTED           |
 * |                                | HEADERS (trailers)                                  | (PUSH_PROMISE: H3_ID_ERROR)   |
 * | control (uni, type 0x00)       | SETTINGS first, then GOAWAY / MAX_PUSH_ID / …       | H3_MISSING_SETTINGS, then     |
 * |                                |                                                     | H3_FRAME_UNEXPECTED           |
 * | QPACK encoder (uni, 0x02)      | Set Dynamic Table Capacity 0 only (capacity is 0)   | QPACK_ENCODER_STREAM_ERROR    |
 * | QPACK decoder (uni, 0x03)      | Stream Cancellation only (we never index)           | QPACK_DECODER_STREAM_ERROR    |
 *
 * The end of a control or QPACK stream is H3_CLOSED_CRITICAL_STREAM (§6.2.1, RFC 9204 §4.2). A frame's place
 * (which type, where) is judged from its header, before its payload is read: a frame that may not come there is
 * refused whatever its length.
 */
import { concatBytes } from '../wire/bytes.js';
import { H3Error } from './errors.js';
import { H3FrameReader, H3FrameType, H3Setting, type H3ControlFrame, type H3Id } from './frames.js';
import { requestHead, responseHead, trailerFields, type H3RequestHead, type H3ResponseHead } from './message.js';
import { decodeFieldSection, readPrefixedInt, type H3Field } from './qpack.js';

/** Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2). */
export const H3StreamType = { CONTROL: 0x00, PUSH: 0x01, QPACK_ENCODER: 0x02, QPACK_DECODER: 0x03 } as const;

/** What a request stream carries, as a server reads it. */
export type RequestEvent =
  | { readonly type: 'head'; readonly head: H3RequestHead }
  | { readonly type: 'data'; readonly bytes: Uint8Array }
  | { readonly type: 'trailers'; readonly fields: readonly H3Field[] };

/** What a response stream carries, as a client reads it (interim 1xx heads are dropped). */
export type ResponseEvent =
  | { readonly type: 'head'; readonly head: H3ResponseHead }
  | { readonly type: 'data'; readonly bytes: Uint8Array }
  | { readonly type: 'trailers'; readonly fields: readonly H3Field[] };

/**
 * Reads one request (`role: 'server'`) or response (`role: 'client'`) from a bidirectional stream (RFC 9114
 * §4.1): the head, the body as it comes, optional trailers. `content-length`, when given, must match the body
 * (§4.1.2: malformed otherwise).
 *
 * @example
 * ```ts
 * const p = new MessageParser('client', 16384);
 * p.push(bytes); // [{ type: 'head', head: { status: 200, headers } }, { type: 'data', bytes }]
 * p.end();       // at the stream's FIN
 * ```
 */
export class MessageParser<R extends 'server' | 'client'> {
  private readonly frames: H3FrameReader;
  private state: 'head' | 'body' | 'trailers' = 'head';
  private bodyBytes = 0;
  private contentLength: number | undefined;

  /**
   * `requestMethod`: on a client, the method of the request this stream answers. A response to HEAD, and a 204
   * or 304, has no body whatever its `content-length` says (RFC 9110 §6.4.1, §8.6).
   */
  constructor(
    private readonly role: R,
    private readonly maxFieldSectionSize: number,
    private readonly requestMethod?: string,
  ) {
    this.frames = new H3FrameReader({ maxFieldSection: maxFieldSectionSize, checkFrame: (type) => this.checkFrame(type) });
  }

  /** Only DATA, HEADERS and unknown types may come on a request stream (§7.2): the rest is refused from its header. */
  private checkFrame(type: number | undefined): void {
    if (type === H3FrameType.PUSH_PROMISE) {
      // A server never receives one; a client never allowed one, sending no MAX_PUSH_ID (§7.2.5).
      throw this.role === 'server' ? new H3Error('H3_FRAME_UNEXPECTED', 'PUSH_PROMISE from a client') : new H3Error('H3_ID_ERROR', 'PUSH_PROMISE without MAX_PUSH_ID');
    }
    const control = [H3FrameType.SETTINGS, H3FrameType.GOAWAY, H3FrameType.CANCEL_PUSH, H3FrameType.MAX_PUSH_ID] as number[];
    if (type !== undefined && control.includes(type)) throw new H3Error('H3_FRAME_UNEXPECTED', `frame 0x${type.toString(16)} on a request stream`);
  }

  push(chunk: Uint8Array): (R extends 'server' ? RequestEvent : ResponseEvent)[] {
    const out: (RequestEvent | ResponseEvent)[] = [];
    for (const e of this.frames.push(chunk)) {
      if (e.type === 'dataFrame') {
        if (this.state !== 'body') throw new H3Error('H3_FRAME_UNEXPECTED', this.state === 'head' ? 'DATA before HEADERS' : 'DATA after trailers');
        continue;
      }
      if (e.type === 'data') {
        this.bodyBytes += e.bytes.length;
        if (this.contentLength !== undefined && this.bodyBytes > this.contentLength) throw new H3Error('H3_MESSAGE_ERROR', `body longer than content-length ${this.contentLength}`, 'stream');
        if (e.bytes.length > 0) out.push({ type: 'data', bytes: e.bytes });
        continue;
      }
      const head = this.frame(e.frame);
      if (head) out.push(head);
    }
    return out as (R extends 'server' ? RequestEvent : ResponseEvent)[];
  }

  /** The stream's FIN: a cut-off frame is H3_FRAME_ERROR; a missing head or a short body fail the message. */
  end(): void {
    this.frames.end();
    if (this.state === 'head') {
      throw this.role === 'server' ? new H3Error('H3_REQUEST_INCOMPLETE', 'the request stream ended before its HEADERS', 'stream') : new H3Error('H3_MESSAGE_ERROR', 'the response stream ended before its HEADERS', 'stream');
    }
    if (this.contentLength !== undefined && this.bodyBytes !== this.contentLength) throw new H3Error('H3_MESSAGE_ERROR', `body of ${this.bodyBytes} bytes, content-length ${this.contentLength}`, 'stream');
  }

  private frame(f: H3ControlFrame): RequestEvent | ResponseEvent | undefined {
    switch (f.type) {
      case 'headers': {
        const fields = decodeFieldSection(f.block, this.maxFieldSectionSize);
        if (this.state === 'trailers') throw new H3Error('H3_FRAME_UNEXPECTED', 'HEADERS after trailers');
        if (this.state === 'body') {
          this.state = 'trailers';
          return { type: 'trailers', fields: trailerFields(fields) };
        }
        if (this.role === 'server') {
          const head = requestHead(fields);
          this.state = 'body';
          this.contentLength = contentLengthOf(head.headers);
          return { type: 'head', head };
        }
        const head = responseHead(fields);
        if (head.status < 200) return undefined; // an interim response: the final one follows (RFC 9114 §4.1)
        this.state = 'body';
        const bodyless = this.requestMethod === 'HEAD' || head.status === 204 || head.status === 304;
        this.contentLength = bodyless ? undefined : contentLengthOf(head.headers);
        return { type: 'head', head };
      }
      default:
        throw new H3Error('H3_FRAME_UNEXPECTED', `${f.type} frame on a request stream`); // refused by checkFrame already
    }
  }
}

/** `content-length` (RFC 9110 §8.6): one decimal value (repeats must agree), else H3_MESSAGE_ERROR. */
function contentLengthOf(headers: readonly H3Field[]): number | undefined {
  let length: number | undefined;
  for (const [name, value] of headers) {
    if (name !== 'content-length') continue;
    if (!/^[0-9]{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) throw new H3Error('H3_MESSAGE_ERROR', `bad content-length "${value}"`, 'stream');
    length = Number(value);
  }
  return length;
}

/** The peer's SETTINGS that matter here (RFC 9114 §7.2.4.1; unknown identifiers are ignored). */
export interface H3PeerSettings {
  /** SETTINGS_MAX_FIELD_SECTION_SIZE: the largest field section the peer accepts (default: unlimited). */
  readonly maxFieldSectionSize: number;
  /** SETTINGS_QPACK_MAX_TABLE_CAPACITY: unused (we never insert), kept for diagnostics. */
  readonly qpackMaxTableCapacity: number;
  /** SETTINGS_QPACK_BLOCKED_STREAMS: unused (we never block), kept for diagnostics. */
  readonly qpackBlockedStreams: number;
}

/** What a control stream carries. A GOAWAY id above 2^53 − 1 is a bigint ({@link H3Id}). */
export type ControlEvent = { readonly type: 'settings'; readonly settings: H3PeerSettings } | { readonly type: 'goaway'; readonly id: H3Id };

/**
 * Reads the peer's control stream (RFC 9114 §6.2.1), after its stream type byte: SETTINGS first and once, then
 * GOAWAY (ids never increasing, §5.2), MAX_PUSH_ID (only from a client, never decreasing, §7.2.7), CANCEL_PUSH
 * (never valid here: no push was promised). `peer` is the role of the stream's sender. The order is checked on
 * each frame's header: a first frame other than SETTINGS (a reserved type included) is H3_MISSING_SETTINGS; DATA,
 * HEADERS, PUSH_PROMISE and a second SETTINGS are H3_FRAME_UNEXPECTED whatever their length.
 */
export class ControlStreamParser {
  private readonly frames = new H3FrameReader({ maxFieldSection: 0, checkFrame: (type) => this.checkFrame(type) });
  /** A frame header came already (the first must be SETTINGS's). */
  private started = false;
  private settingsSeen = false;
  private lastGoaway: H3Id | undefined;
  private lastMaxPushId: H3Id | undefined;

  constructor(private readonly peer: 'client' | 'server') {}

  private checkFrame(type: number | undefined): void {
    const first = !this.started;
    this.started = true;
    if (first && type !== H3FrameType.SETTINGS) {
      throw new H3Error('H3_MISSING_SETTINGS', `the control stream starts with frame type ${type === undefined ? 'above 2^53' : `0x${type.toString(16)}`}, not SETTINGS`);
    }
    switch (type) {
      case H3FrameType.SETTINGS:
        if (this.settingsSeen) throw this.unexpected('a second SETTINGS');
        this.settingsSeen = true;
        return;
      case H3FrameType.DATA:
        throw this.unexpected('DATA');
      case H3FrameType.HEADERS:
        throw this.unexpected('HEADERS');
      case H3FrameType.PUSH_PROMISE:
        throw this.unexpected('PUSH_PROMISE');
    }
  }

  push(chunk: Uint8Array): ControlEvent[] {
    const out: ControlEvent[] = [];
    for (const e of this.frames.push(chunk)) {
      if (e.type !== 'frame') continue; // DATA never gets here (checkFrame)
      const f = e.frame;
      switch (f.type) {
        case 'settings': {
          const s = f.settings;
          out.push({
            type: 'settings',
            settings: {
              maxFieldSectionSize: s.get(H3Setting.MAX_FIELD_SECTION_SIZE) ?? Number.POSITIVE_INFINITY,
              qpackMaxTableCapacity: s.get(H3Setting.QPACK_MAX_TABLE_CAPACITY) ?? 0,
              qpackBlockedStreams: s.get(H3Setting.QPACK_BLOCKED_STREAMS) ?? 0,
            },
          });
          break;
        }
        case 'goaway':
          // From a server the id is a client-initiated bidirectional stream id (§5.2, §7.2.6).
          if (this.peer === 'server' && BigInt(f.id) % 4n !== 0n) throw new H3Error('H3_ID_ERROR', `GOAWAY id ${f.id} is not a request stream`);
          if (this.lastGoaway !== undefined && BigInt(f.id) > BigInt(this.lastGoaway)) throw new H3Error('H3_ID_ERROR', `GOAWAY id grew from ${this.lastGoaway} to ${f.id}`);
          this.lastGoaway = f.id;
          out.push({ type: 'goaway', id: f.id });
          break;
        case 'maxPushId':
          if (this.peer === 'server') throw this.unexpected('MAX_PUSH_ID from a server');
          // We never push, so the limit itself does not matter; its order does (§7.2.7).
          if (this.lastMaxPushId !== undefined && BigInt(f.pushId) < BigInt(this.lastMaxPushId)) throw new H3Error('H3_ID_ERROR', `MAX_PUSH_ID fell from ${this.lastMaxPushId} to ${f.pushId}`);
          this.lastMaxPushId = f.pushId;
          break;
        case 'cancelPush':
          throw new H3Error('H3_ID_ERROR', 'CANCEL_PUSH for a push that was never promised');
        default:
          throw this.unexpected(f.type); // headers, pushPromise: refused by checkFrame already
      }
    }
    return out;
  }

  /** A control stream must not end (§6.2.1). */
  end(): never {
    throw new H3Error('H3_CLOSED_CRITICAL_STREAM', 'the peer closed its control stream');
  }

  private unexpected(what: string): H3Error {
    return new H3Error('H3_FRAME_UNEXPECTED', `${what} on the control stream`);
  }
}

/**
 * Reads a unidirectional stream's type (RFC 9114 §6.2): the varint at its start. Returns the type and the bytes
 * after it once complete, `undefined` while not.
 */
export class StreamTypeReader {
  private buffered: number[] = [];

  push(chunk: Uint8Array): { type: number; rest: Uint8Array } | undefined {
    let i = 0;
    while (i < chunk.length) {
      this.buffered.push(chunk[i++]!);
      const size = 1 << (this.buffered[0]! >> 6);
      if (this.buffered.length === size) {
        let type = this.buffered[0]! & 0x3f;
        for (let k = 1; k < size; k++) type = type * 256 + this.buffered[k]!;
        return { type, rest: chunk.subarray(i) };
      }
    }
    return undefined;
  }
}

/**
 * Checks the peer's QPACK encoder stream (RFC 9204 §4.3) against our capacity of 0: the only instruction it can
 * send is Set Dynamic Table Capacity 0 (the byte 0x20); anything else is QPACK_ENCODER_STREAM_ERROR.
 */
export function checkEncoderStream(chunk: Uint8Array): void {
  for (const b of chunk) if (b !== 0x20) throw new H3Error('QPACK_ENCODER_STREAM_ERROR', `encoder instruction 0x${b.toString(16)} with a dynamic table capacity of 0`);
}

/**
 * Checks the peer's QPACK decoder stream (RFC 9204 §4.4): Stream Cancellations (01xxxxxx, a 6-bit-prefix
 * integer of at most 62 bits, §4.1.1) are accepted; a longer integer, a Section Acknowledgment or an Insert
 * Count Increment (neither can refer to anything we sent: we never use the dynamic table) is
 * QPACK_DECODER_STREAM_ERROR.
 */
export class DecoderStreamChecker {
  /** A Stream Cancellation cut off at the end of the last chunk (at most 10 bytes: 62 bits bound it). */
  private pending: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    const buf = this.pending.length > 0 ? concatBytes([this.pending, chunk]) : chunk;
    let at = 0;
    while (at < buf.length) {
      const b = buf[at]!;
      if ((b & 0xc0) !== 0x40) {
        throw new H3Error('QPACK_DECODER_STREAM_ERROR', b & 0x80 ? 'Section Acknowledgment, but no section used the dynamic table' : 'Insert Count Increment, but nothing was inserted');
      }
      const id = readPrefixedInt(buf, at, 6);
      if (id === 'short') break;
      if (id === 'tooLarge') throw new H3Error('QPACK_DECODER_STREAM_ERROR', 'Stream Cancellation with a stream id past 62 bits');
      at = id.next;
    }
    this.pending = buf.slice(at);
  }
}
