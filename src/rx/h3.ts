/**
 * HTTP/3 (RFC 9114) on a {@link QuicConnection}: `h3Request` (a client request, fetch-like) and `serveH3` (a
 * server's request handler), over the sans-IO codecs and stream parsers of `src/h3/`.
 *
 * Each connection gets one session, made on first use: our control stream with SETTINGS (a QPACK table
 * capacity of 0, no blocked streams, SETTINGS_MAX_FIELD_SECTION_SIZE), our QPACK encoder and decoder streams
 * (opened, and empty forever: without a dynamic table there is nothing to say on them, RFC 9204 §4.2), and a
 * reader of every stream the peer opens. A peer's fault that {@link H3Error} scopes to the connection closes it
 * with that code (RFC 9114 §8); one scoped to a stream resets that stream only. Everything pending then errors
 * with a {@link TlsError}: `quicClose` (`local`, the H3 code) or `quicStreamReset` (`local`, the code).
 *
 * The session must see the peer's streams from the start: make it as soon as the connection exists (the
 * `next` callback of `quicConnect`, or use {@link h3Connect}; `serveH3` in the listener's `next`). A streamed
 * reply body is written as the stream's send buffer makes room (`QuicStream.send`); a body received is buffered
 * until it is subscribed.
 */
import { EMPTY, Observable, Subscriber, concatMap, firstValueFrom, isObservable, lastValueFrom, type Subscription } from 'rxjs';
import { TlsError, misuse } from '../core/errors.js';
import { H3Error, H3ErrorCode } from '../h3/errors.js';
import { H3Setting, encodeFrame, encodeFrameHeader, H3FrameType, type H3Id } from '../h3/frames.js';
import { requestFields, responseFields, type H3RequestHead, type H3ResponseHead } from '../h3/message.js';
import { encodeFieldSection, fieldSectionSize, type H3Field } from '../h3/qpack.js';
import { ControlStreamParser, DecoderStreamChecker, H3StreamType, MessageParser, StreamTypeReader, checkEncoderStream, type H3PeerSettings } from '../h3/streams.js';
import { concatBytes } from '../wire/bytes.js';
import { quicConnect, type QuicConnection, type QuicConnectOptions, type QuicStream } from './quic.js';

/** Options of an HTTP/3 session (either end). */
export interface H3Options {
  /** SETTINGS_MAX_FIELD_SECTION_SIZE we advertise and enforce on received heads (default 16384 bytes). */
  readonly maxFieldSectionSize?: number;
}

/** A request to send with {@link h3Request}. */
export interface H3RequestInit {
  /** Default `GET`. */
  readonly method?: string;
  /** `:authority`, e.g. `example.com:4433`. */
  readonly authority: string;
  /** `:path`, e.g. `/index.html?q=1`. */
  readonly path: string;
  /** Default `https`. */
  readonly scheme?: string;
  /** Regular fields (names are sent lowercase). */
  readonly headers?: readonly H3Field[];
  /** A request body, sent as one DATA frame. */
  readonly body?: Uint8Array | string;
}

/** A response: its head at once, its body as it arrives. */
export interface H3Response {
  readonly status: number;
  readonly headers: readonly H3Field[];
  /**
   * The body, chunk by chunk; completes at the stream's end. Buffered until subscribed, and subscribable once.
   * Unsubscribing before it completes cancels the request (STOP_SENDING with H3_REQUEST_CANCELLED).
   */
  readonly body: Observable<Uint8Array>;
}

/** A request as a {@link serveH3} handler sees it. */
export interface H3ServerRequest extends H3RequestHead {
  /** The QUIC stream id of the request. */
  readonly streamId: number;
  /** The request body as it arrives (buffered until subscribed, once). */
  readonly body: Observable<Uint8Array>;
}

/** What a handler answers: a status, fields, and a body (bytes, text, or chunks as they are made). */
export interface H3Reply {
  readonly status: number;
  readonly headers?: readonly H3Field[];
  readonly body?: Uint8Array | string | Observable<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** A {@link serveH3} handler. A throw or a rejection answers 500 (or resets the stream once the head went, or when a 500 would go over the peer's field section limit). */
export type H3Handler = (request: H3ServerRequest) => H3Reply | Promise<H3Reply> | Observable<H3Reply>;

const DEFAULT_MAX_FIELD_SECTION = 16_384;
const encoder = new TextEncoder();
const bytesOf = (b: Uint8Array | string) => (typeof b === 'string' ? encoder.encode(b) : b);

/** A body handed out before anyone subscribed: chunks are kept until the one subscriber comes. */
class BufferedBody {
  private queue: Uint8Array[] = [];
  private ended: { error?: unknown } | undefined;
  private subscriber: Subscriber<Uint8Array> | undefined;
  private taken = false;

  constructor(private readonly onCancel: () => void) {}

  readonly observable = new Observable<Uint8Array>((s) => {
    if (this.taken) {
      s.error(misuse('an HTTP/3 body can be subscribed only once'));
      return;
    }
    this.taken = true;
    for (const chunk of this.queue) s.next(chunk);
    this.queue = [];
    if (this.ended) {
      if (this.ended.error !== undefined) s.error(this.ended.error);
      else s.complete();
      return;
    }
    this.subscriber = s;
    return () => {
      this.subscriber = undefined;
      if (!this.ended) {
        this.ended = {};
        this.onCancel();
      }
    };
  });

  get done(): boolean {
    return this.ended !== undefined;
  }

  push(chunk: Uint8Array): void {
    if (this.ended) return;
    if (this.subscriber) this.subscriber.next(chunk);
    else this.queue.push(chunk.slice());
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = error === undefined ? {} : { error };
    const s = this.subscriber;
    this.subscriber = undefined;
    if (!s) return;
    if (error !== undefined) s.error(error);
    else s.complete();
  }
}

/** One connection's HTTP/3 state: our three streams, the peer's, its settings, and how the connection ended. */
class H3Session {
  /** Why the session is over (a connection error we raised, or the connection closed), once it is. */
  failure: TlsError | undefined;
  peerSettings: H3PeerSettings | undefined;
  /** The peer's GOAWAY id, once sent (RFC 9114 §5.2). */
  goaway: H3Id | undefined;
  private readonly failed = new Set<(err: TlsError) => void>();
  private readonly critical: Partial<Record<'control' | 'encoder' | 'decoder', number>> = {};
  readonly maxFieldSectionSize: number;

  constructor(
    readonly conn: QuicConnection,
    readonly role: 'client' | 'server',
    opts: H3Options,
    private readonly onRequest?: (stream: QuicStream) => void,
  ) {
    this.maxFieldSectionSize = opts.maxFieldSectionSize ?? DEFAULT_MAX_FIELD_SECTION;
    conn.closed$.subscribe({
      complete: () => this.over(new TlsError({ kind: 'transport', reason: 'the QUIC connection closed' })),
      error: (err: unknown) => this.over(err instanceof TlsError ? err : new TlsError({ kind: 'transport', reason: String(err) })),
    });
    conn.incoming$.subscribe((stream) => this.incoming(stream));
    // RFC 9114 §6.2.1: each side opens its control stream at once and sends SETTINGS first. RFC 9204 §3.2.3:
    // a capacity of 0 and no blocked streams (also the defaults, said explicitly).
    const settings = new Map([
      [H3Setting.QPACK_MAX_TABLE_CAPACITY, 0],
      [H3Setting.QPACK_BLOCKED_STREAMS, 0],
      [H3Setting.MAX_FIELD_SECTION_SIZE, this.maxFieldSectionSize],
    ]);
    this.openCritical('control', concatBytes([Uint8Array.of(H3StreamType.CONTROL), encodeFrame({ type: 'settings', settings })]));
    this.openCritical('QPACK encoder', Uint8Array.of(H3StreamType.QPACK_ENCODER));
    this.openCritical('QPACK decoder', Uint8Array.of(H3StreamType.QPACK_DECODER));
  }

  /**
   * Open one of our critical streams with its first bytes, and watch its sending half: the peer's STOP_SENDING
   * on it (which makes QUIC reset it) closes it, H3_CLOSED_CRITICAL_STREAM (RFC 9114 §6.2.1, RFC 9204 §4.2).
   */
  private openCritical(name: string, first: Uint8Array): void {
    const stream = this.conn.openStream({ uni: true });
    stream.writeStopped$.subscribe((e) => {
      if (e.detail.kind === 'quicStreamReset' && !e.detail.local) {
        this.whenEnded(() => this.fault(new H3Error('H3_CLOSED_CRITICAL_STREAM', `the peer stopped our ${name} stream ${stream.id}`)));
      }
    });
    stream.write(first);
  }

  /** Call `f` once if the session ends (at once if it has); returns the unregistration. */
  onFailure(f: (err: TlsError) => void): () => void {
    if (this.failure) {
      f(this.failure);
      return () => undefined;
    }
    this.failed.add(f);
    return () => this.failed.delete(f);
  }

  private over(err: TlsError): void {
    if (this.failure) return;
    this.failure = err;
    for (const f of [...this.failed]) f(err);
    this.failed.clear();
  }

  /**
   * A connection error (RFC 9114 §8): close with its code, and fail everything pending with a `quicClose`
   * error naming it. A stream-scoped error resets `stream` (both halves) and returns its `quicStreamReset` error.
   */
  fault(e: unknown, stream?: QuicStream): TlsError {
    const err = e instanceof H3Error ? e : new H3Error('H3_INTERNAL_ERROR', e instanceof Error ? e.message : String(e), stream ? 'stream' : 'connection');
    if (err.scope === 'stream' && stream) {
      try {
        stream.reset(err.code);
        stopReading(stream, err.code);
      } catch {
        // already reset by the peer's STOP_SENDING
      }
      return new TlsError({ kind: 'quicStreamReset', stream: stream.id, code: err.code, direction: 'receive', local: true, reason: `stream ${stream.id}: ${err.message}` });
    }
    if (!this.failure) {
      const closeErr = new TlsError({ kind: 'quicClose', code: err.code, application: true, local: true, reason: err.message });
      this.over(closeErr);
      this.conn.close({ errorCode: err.code, reason: err.message, noStreamFlush: true });
    }
    return this.failure!;
  }

  /**
   * A stream's end, handled after the current step: when the connection closes, the QUIC adapter completes
   * every stream before it reports the close, and a completion caused by that must not read as the peer's FIN.
   */
  whenEnded(f: () => void): void {
    queueMicrotask(() => {
      if (!this.failure) f();
    });
  }

  private incoming(stream: QuicStream): void {
    if ((stream.id & 2) !== 0) return this.uniStream(stream);
    // RFC 9114 §6.1: a client MUST treat a server-initiated bidirectional stream as H3_STREAM_CREATION_ERROR.
    if (this.role === 'client' || (stream.id & 1) !== 0) {
      this.fault(new H3Error('H3_STREAM_CREATION_ERROR', `bidirectional stream ${stream.id} opened by the server`));
      return;
    }
    this.onRequest?.(stream);
  }

  /** The peer's unidirectional streams (RFC 9114 §6.2): the type first, then the stream's parser. */
  private uniStream(stream: QuicStream): void {
    const types = new StreamTypeReader();
    let consume: ((chunk: Uint8Array) => void) | undefined;
    let critical = false;
    const peer = this.role === 'client' ? 'server' : 'client';
    const start = (type: number): ((chunk: Uint8Array) => void) | undefined => {
      const name = type === H3StreamType.CONTROL ? 'control' : type === H3StreamType.QPACK_ENCODER ? 'encoder' : type === H3StreamType.QPACK_DECODER ? 'decoder' : undefined;
      if (name) {
        // One of each (RFC 9114 §6.2.1, RFC 9204 §4.2): a second is H3_STREAM_CREATION_ERROR.
        if (this.critical[name] !== undefined) throw new H3Error('H3_STREAM_CREATION_ERROR', `a second ${name} stream`);
        this.critical[name] = stream.id;
        critical = true;
      }
      switch (type) {
        case H3StreamType.CONTROL: {
          const control = new ControlStreamParser(peer);
          return (chunk) => {
            for (const e of control.push(chunk)) {
              if (e.type === 'settings') this.peerSettings = e.settings;
              else this.goaway = e.id;
            }
          };
        }
        case H3StreamType.QPACK_ENCODER:
          return checkEncoderStream;
        case H3StreamType.QPACK_DECODER: {
          const checker = new DecoderStreamChecker();
          return (chunk) => checker.push(chunk);
        }
        case H3StreamType.PUSH:
          // A server cannot receive a push stream; a client that sent no MAX_PUSH_ID allowed none (§6.2.2, §4.6).
          throw this.role === 'server' ? new H3Error('H3_STREAM_CREATION_ERROR', 'push stream from a client') : new H3Error('H3_ID_ERROR', 'push stream without MAX_PUSH_ID');
        default:
          // §6.2: an unknown type (grease included) is not an error: stop reading it.
          stream.stopSending(H3ErrorCode.H3_STREAM_CREATION_ERROR);
          return undefined;
      }
    };
    stream.data$.subscribe({
      next: (chunk) => {
        try {
          if (!consume) {
            const got = types.push(chunk);
            if (!got) return;
            consume = start(got.type) ?? (() => undefined);
            chunk = got.rest;
          }
          if (chunk.length > 0) consume(chunk);
        } catch (e) {
          this.fault(e);
        }
      },
      complete: () => {
        if (critical) this.whenEnded(() => this.fault(new H3Error('H3_CLOSED_CRITICAL_STREAM', `the peer closed its stream ${stream.id}`)));
      },
      error: () => {
        if (critical) this.whenEnded(() => this.fault(new H3Error('H3_CLOSED_CRITICAL_STREAM', `the peer reset its stream ${stream.id}`)));
      },
    });
  }

  /** The peer's limit on a head we send (RFC 9114 §4.2.2): over it, the head is not sent. */
  checkPeerLimit(fields: readonly H3Field[]): void {
    const limit = this.peerSettings?.maxFieldSectionSize ?? Number.POSITIVE_INFINITY;
    const size = fieldSectionSize(fields);
    if (size > limit) throw misuse(`the field section is ${size} bytes, over the peer's SETTINGS_MAX_FIELD_SECTION_SIZE of ${limit}`);
  }
}

const sessions = new WeakMap<QuicConnection, H3Session>();

function sessionOf(conn: QuicConnection, role: 'client' | 'server', opts: H3Options = {}, onRequest?: (stream: QuicStream) => void): H3Session {
  const have = sessions.get(conn);
  if (have) {
    if (have.role !== role || onRequest) throw misuse(have.role !== role ? `this connection already speaks HTTP/3 as a ${have.role}` : 'serveH3 was already called on this connection');
    return have;
  }
  const s = new H3Session(conn, role, opts, onRequest);
  sessions.set(conn, s);
  return s;
}

/**
 * Read one message from `stream` through `parser`: its head to `on.head`, body bytes into `on.body`; at the FIN
 * (a microtask later, see {@link H3Session.whenEnded}) the parser's end checks, then `on.ended` and the body's
 * end. A fault goes to `on.failed`; the peer's reset of the stream to `on.reset`.
 */
/**
 * Streams whose receiving half we stopped (STOP_SENDING): QUIC then ends their data as if at a FIN, which is no
 * end of the message to check (a frame cut short there is not the peer's H3_FRAME_ERROR).
 */
const stoppedByUs = new WeakSet<QuicStream>();

/** Stop reading `stream` (STOP_SENDING with `code`), remembered for {@link readMessage}. */
function stopReading(stream: QuicStream, code: bigint): void {
  stoppedByUs.add(stream);
  stream.stopSending(code);
}

function readMessage<R extends 'server' | 'client'>(
  session: H3Session,
  stream: QuicStream,
  parser: MessageParser<R>,
  on: {
    head: (head: R extends 'server' ? H3RequestHead : H3ResponseHead) => void;
    body: BufferedBody;
    ended: () => void;
    failed: (e: unknown) => void;
    reset: (err: TlsError) => void;
  },
): Subscription {
  return stream.data$.subscribe({
    next: (chunk) => {
      try {
        for (const e of parser.push(chunk)) {
          if (e.type === 'head') on.head(e.head as R extends 'server' ? H3RequestHead : H3ResponseHead);
          else if (e.type === 'data') on.body.push(e.bytes);
        }
      } catch (e) {
        on.failed(e);
      }
    },
    complete: () =>
      session.whenEnded(() => {
        if (stoppedByUs.has(stream)) return on.body.end();
        try {
          parser.end();
          on.ended();
          on.body.end();
        } catch (e) {
          on.failed(e);
        }
      }),
    error: (err: unknown) => on.reset(err instanceof TlsError ? err : new TlsError({ kind: 'transport', reason: String(err) })),
  });
}

/** The HEADERS frame of a head. */
function headersFrame(fields: readonly H3Field[]): Uint8Array {
  return encodeFrame({ type: 'headers', block: encodeFieldSection(fields) });
}

/** A DATA frame: header and payload. */
function dataFrame(payload: Uint8Array): Uint8Array {
  return concatBytes([encodeFrameHeader(H3FrameType.DATA, payload.length), payload]);
}

/**
 * Start HTTP/3 on a client connection now (our control and QPACK streams, the peer's read from the start).
 * {@link h3Request} does it on first use; call this first when the first request comes later.
 */
export function h3Client(conn: QuicConnection, opts: H3Options = {}): void {
  sessionOf(conn, 'client', opts);
}

/**
 * Send one request on a new stream; emits the response once its head arrives, then completes. The body
 * follows on `response.body`. Unsubscribing before the head cancels the request (RESET_STREAM and
 * STOP_SENDING with H3_REQUEST_CANCELLED). Errors with a {@link TlsError}: `quicStreamReset` for the peer's
 * reset or our stream error (a malformed response: H3_MESSAGE_ERROR), `quicClose` for a connection error,
 * `apiMisuse` for a head over the peer's field section limit.
 *
 * @example
 * ```ts
 * const conn = await firstValueFrom(h3Connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }));
 * const res = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: '/index.html' }));
 * const body = Buffer.concat(await lastValueFrom(res.body.pipe(toArray())));
 * ```
 */
export function h3Request(conn: QuicConnection, init: H3RequestInit, opts: H3Options = {}): Observable<H3Response> {
  return new Observable<H3Response>((sub) => {
    const session = sessionOf(conn, 'client', opts);
    if (session.failure) {
      sub.error(session.failure);
      return;
    }
    if (session.goaway !== undefined) {
      sub.error(new TlsError({ kind: 'transport', reason: `the server sent GOAWAY (${session.goaway}): no new requests on this connection` }));
      return;
    }
    const fields = requestFields({ method: init.method ?? 'GET', authority: init.authority, path: init.path, ...(init.scheme ? { scheme: init.scheme } : {}), ...(init.headers ? { headers: init.headers } : {}) });
    try {
      session.checkPeerLimit(fields);
    } catch (e) {
      sub.error(e);
      return;
    }
    const stream = conn.openStream();
    const cancel = () => {
      try {
        stream.reset(H3ErrorCode.H3_REQUEST_CANCELLED);
        stopReading(stream, H3ErrorCode.H3_REQUEST_CANCELLED);
      } catch {
        // the stream is already gone
      }
    };
    const body = new BufferedBody(cancel);
    let headSeen = false;
    const fail = (err: TlsError) => (headSeen ? body.end(err) : sub.error(err));
    const unregister = session.onFailure(fail);
    const parser = new MessageParser('client', session.maxFieldSectionSize, init.method ?? 'GET');
    const onError = (e: unknown) => {
      const err = session.fault(e, stream);
      unregister();
      fail(err);
    };
    const reading = readMessage(session, stream, parser, {
      head: (head) => {
        headSeen = true;
        sub.next({ status: head.status, headers: head.headers, body: body.observable });
        sub.complete();
      },
      body,
      ended: unregister,
      failed: onError,
      reset: (err) => {
        unregister();
        fail(err);
      },
    });
    const payload = init.body !== undefined ? bytesOf(init.body) : undefined;
    stream.write(concatBytes([headersFrame(fields), ...(payload && payload.length > 0 ? [dataFrame(payload)] : [])]));
    stream.end();
    return () => {
      if (headSeen) return; // the body has its own lifetime now
      reading.unsubscribe();
      unregister();
      if (!session.failure) cancel();
    };
  });
}

/**
 * {@link quicConnect} with ALPN `h3` (unless `alpn` says otherwise) and the HTTP/3 session started the moment
 * the connection exists, so no stream of the server's is missed.
 */
export function h3Connect(opts: Omit<QuicConnectOptions, 'alpn'> & { readonly alpn?: readonly string[] } & H3Options): Observable<QuicConnection> {
  const { maxFieldSectionSize, ...quic } = opts;
  return new Observable<QuicConnection>((sub) =>
    quicConnect({ ...quic, alpn: opts.alpn ?? ['h3'] }).subscribe({
      next: (conn) => {
        h3Client(conn, maxFieldSectionSize !== undefined ? { maxFieldSectionSize } : {});
        sub.next(conn);
      },
      error: (e: unknown) => sub.error(e),
      complete: () => sub.complete(),
    }),
  );
}

/**
 * Serve HTTP/3 on a server connection: every request stream the client opens is read, `handler` is called
 * once its head is in (the body follows on `request.body`), and its reply is sent as HEADERS and DATA frames
 * and the stream's FIN. A malformed request resets its stream (H3_MESSAGE_ERROR and friends); a fault of the
 * connection closes it. A HEAD request's reply body is not sent. A reply with a byte body gets a
 * `content-length` unless it has one. A CONNECT request (RFC 9114 §4.4) is answered 501 without the handler:
 * there are no tunnels here.
 *
 * @example
 * ```ts
 * listener.connections.subscribe((conn) => serveH3(conn, (req) => ({ status: 200, body: `hello ${req.path}\n` })));
 * ```
 */
export function serveH3(conn: QuicConnection, handler: H3Handler, opts: H3Options = {}): void {
  const session: H3Session = sessionOf(conn, 'server', opts, (stream) => serveStream(session, stream, handler));
}

/** A CONNECT (RFC 9114 §4.4) asks for a tunnel, which `serveH3` does not make: 501 (RFC 9110 §15.6.2), no handler. */
const refuseConnect: H3Handler = () => ({ status: 501, body: '' });

function serveStream(session: H3Session, stream: QuicStream, handler: H3Handler): void {
  const parser = new MessageParser('server', session.maxFieldSectionSize);
  const body = new BufferedBody(() => {
    try {
      stopReading(stream, H3ErrorCode.H3_NO_ERROR); // the handler does not want the rest of the body (§4.1.1)
    } catch {
      // gone
    }
  });
  const onError = (e: unknown) => body.end(session.fault(e, stream));
  readMessage(session, stream, parser, {
    head: (head) => void respond(session, stream, head.method === 'CONNECT' ? refuseConnect : handler, { ...head, streamId: stream.id, body: body.observable }),
    body,
    ended: () => undefined,
    failed: onError,
    reset: (err) => body.end(err),
  });
}

/**
 * Run the handler and send its reply; a failure before the head went answers 500 (a reset instead when not even
 * that head fits the peer's SETTINGS_MAX_FIELD_SECTION_SIZE, RFC 9114 §4.2.2), after it resets the stream.
 */
async function respond(session: H3Session, stream: QuicStream, handler: H3Handler, request: H3ServerRequest): Promise<void> {
  let headSent = false;
  try {
    const result = handler(request);
    const reply = isObservable(result) ? await firstValueFrom(result) : await result;
    if (session.failure) return;
    const fixed = reply.body !== undefined && (typeof reply.body === 'string' || reply.body instanceof Uint8Array) ? bytesOf(reply.body) : undefined;
    const headers = [...(reply.headers ?? [])];
    if (fixed && !headers.some(([n]) => n.toLowerCase() === 'content-length')) headers.push(['content-length', String(fixed.length)]);
    const fields = responseFields(reply.status, headers);
    session.checkPeerLimit(fields);
    const head = headersFrame(fields);
    headSent = true;
    if (request.method === 'HEAD' || reply.body === undefined) {
      stream.write(head);
    } else if (fixed) {
      stream.write(fixed.length > 0 ? concatBytes([head, dataFrame(fixed)]) : head);
    } else {
      stream.write(head);
      // Each chunk waits for room in the stream's send buffer (`send`, the QUIC write backpressure): an async
      // iterable is pulled only as fast as the peer takes the body; an Observable's chunks wait in line.
      const sendChunk = (chunk: Uint8Array) => (chunk.length > 0 && !session.failure ? stream.send(dataFrame(chunk)) : EMPTY);
      if (isObservable(reply.body)) {
        await lastValueFrom(reply.body.pipe(concatMap(sendChunk)), { defaultValue: undefined });
      } else {
        for await (const chunk of reply.body as AsyncIterable<Uint8Array>) {
          if (session.failure) break;
          await lastValueFrom(sendChunk(chunk), { defaultValue: undefined });
        }
      }
    }
    if (!session.failure) stream.end();
  } catch (e) {
    if (session.failure) return;
    if (!headSent) {
      try {
        const fallback = responseFields(500, [['content-length', '0']]);
        session.checkPeerLimit(fallback); // RFC 9114 §4.2.2: not even a 500 goes over the peer's limit
        stream.write(headersFrame(fallback));
        stream.end();
        return;
      } catch {
        // fall through to a reset
      }
    }
    // H3_INTERNAL_ERROR, not H3_REQUEST_REJECTED: the handler ran, and REJECTED tells the client that the request
    // was not processed at all and may be retried (RFC 9114 §4.1.1.1, §8.1).
    session.fault(new H3Error('H3_INTERNAL_ERROR', `handler failed: ${e instanceof Error ? e.message : String(e)}`, 'stream'), stream);
  }
}
