/**
 * Shared pieces of the HTTP/3 (RFC 9114) and QPACK (RFC 9204) conformance probes (test/h3/conformance.test.ts,
 * conformance2.test.ts): wire bytes written by hand, the outcomes a probing peer sees, the hand-driven QUIC peer
 * itself ({@link Peer}), and the two set-ups: rxtls as the server ({@link probeServer}) and rxtls as the client
 * ({@link probeClient}, {@link clientGet}, {@link clientVerdict}).
 *
 * How an outcome is read, without timing: after a probe the peer sends a GET and waits for its answer, then a
 * second GET after that answer. The probe went out before the first GET, so by the second answer the probed
 * end has handled it: a connection error has closed the connection (the GET sees the CONNECTION_CLOSE), and
 * two answered GETs on a connection still open mean the probe was ignored (`{ kind: 'open' }`). The close's code
 * is read from the probing peer's qlog `connection_closed` event (owner `remote`: the CONNECTION_CLOSE as it
 * arrived), since `closed$` reports it only after the draining period. Bounds (`BOUND`) only keep a broken run
 * from hanging; no assertion depends on them.
 *
 * Round two's additions are options whose defaults are round one's behaviour: a varint's `size`, Huffman in
 * {@link headers}, the request method {@link Peer.outcome} parses the answer for, the raw bytes of an answer
 * ({@link Peer.rawAnswer}), `serveH3`'s `handler` in {@link probeServer}, the client's own
 * SETTINGS_MAX_FIELD_SECTION_SIZE in {@link probeClient}, and a method and the client's local reset code in
 * {@link clientGet}.
 */
import type { ExecutionContext } from 'ava';
import { firstValueFrom, lastValueFrom, map, timeout, toArray } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { H3ErrorCode, h3ErrorName, type H3ErrorName } from '../../src/h3/errors.js';
import { encodeFieldSection, type H3Field } from '../../src/h3/qpack.js';
import { MessageParser } from '../../src/h3/streams.js';
import { h3Connect, h3Request, serveH3, type H3Handler } from '../../src/rx/h3.js';
import { quicConnect, quicListen, type QuicConnection, type QuicStream } from '../../src/rx/quic.js';
import { concatBytes } from '../../src/wire/bytes.js';
import { certText } from './peers.js';

/** The most any one wait may take (a bound against hangs, never asserted on). */
export const BOUND = 15_000;

// ---------------------------------------------------------------------------------------------------------
// Wire bytes, written by hand (the codecs under test would refuse to write most of these).

/** A QUIC varint (RFC 9000 §16) over its whole range, in its shortest encoding, or in `size` bytes (1, 2, 4 or 8) when given. */
export function varint(value: number | bigint, size?: 1 | 2 | 4 | 8): Uint8Array {
  const v = BigInt(value);
  if (v < 0n || v >= 1n << 62n) throw new RangeError(`varint ${v}`);
  const len = size ?? (v < 64n ? 1 : v < 16384n ? 2 : v < 1n << 30n ? 4 : 8);
  if (v >= 1n << BigInt(8 * len - 2)) throw new RangeError(`varint ${v} in ${len} bytes`);
  const tag = { 1: 0x00, 2: 0x40, 4: 0x80, 8: 0xc0 }[len]!;
  const out = new Uint8Array(len);
  let x = v;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  out[0]! |= tag;
  return out;
}
export const bytes = (...parts: (Uint8Array | readonly number[])[]) => concatBytes(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));
export const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const utf8 = (s: string) => new TextEncoder().encode(s);

/** Frame types (RFC 9114 §7.2) and unidirectional stream types (§6.2, RFC 9204 §4.2). */
export const F = { DATA: 0x00, HEADERS: 0x01, CANCEL_PUSH: 0x03, SETTINGS: 0x04, PUSH_PROMISE: 0x05, GOAWAY: 0x07, MAX_PUSH_ID: 0x0d } as const;
export const S = { CONTROL: 0x00, PUSH: 0x01, ENCODER: 0x02, DECODER: 0x03 } as const;
/** The reserved ("grease") value 0x1f·N + 0x21 of frame types, setting identifiers and stream types (§7.2.8, §7.2.4.1, §6.2.3). */
export const grease = (n: number | bigint) => 0x1fn * BigInt(n) + 0x21n;
/** The largest N with 0x1f·N + 0x21 below 2^62. */
export const GREASE_MAX_N = ((1n << 62n) - 1n - 0x21n) / 0x1fn;

/** A frame: type, length, payload. */
export const frame = (type: number | bigint, payload: Uint8Array = new Uint8Array(0)) => bytes(varint(type), varint(payload.length), payload);
/** A frame header alone, declaring `length` bytes of payload. */
export const frameHeader = (type: number | bigint, length: number | bigint) => bytes(varint(type), varint(length));
export const settings = (...pairs: [number | bigint, number | bigint][]) => frame(F.SETTINGS, bytes(...pairs.flatMap(([id, value]) => [varint(id), varint(value)])));
export const goaway = (id: number | bigint) => frame(F.GOAWAY, varint(id));
export const maxPushId = (id: number | bigint) => frame(F.MAX_PUSH_ID, varint(id));
export const cancelPush = (id: number | bigint) => frame(F.CANCEL_PUSH, varint(id));
/** A HEADERS frame with `fields` encoded by rxtls's QPACK encoder (static table only; Huffman strings only when `huffman` says `always`). */
export const headers = (fields: readonly H3Field[], huffman: 'never' | 'always' = 'never') => frame(F.HEADERS, encodeFieldSection(fields, { huffman }));
export const headersBlock = (block: Uint8Array) => frame(F.HEADERS, block);
export const data = (s: string) => frame(F.DATA, utf8(s));

/** A request's fields: the four pseudo-headers for `path` (default `GET /`), then `extra`. */
export const request = (path = '/', method = 'GET', extra: H3Field[] = []): H3Field[] => [[':method', method], [':scheme', 'https'], [':authority', 'localhost'], [':path', path], ...extra];
export const GET: H3Field[] = request();
export const POST_ECHO: H3Field[] = request('/echo', 'POST');
/** {@link GET} with `extra` fields after its pseudo-headers. */
export const get = (extra: H3Field[]): H3Field[] => [...GET, ...extra];

// ---------------------------------------------------------------------------------------------------------
// Outcomes, as the probing peer sees them on the wire.

export type Outcome =
  /** The probed end closed the connection: CONNECTION_CLOSE with this application error code. */
  | { readonly kind: 'close'; readonly code: string }
  /** ... with a transport error code (not an HTTP/3 one). */
  | { readonly kind: 'transportClose'; readonly code: string }
  /** The probed end reset this stream (RESET_STREAM; for a client, the STOP_SENDING it sent with it). */
  | { readonly kind: 'reset'; readonly code: string }
  | { readonly kind: 'response'; readonly status: number; readonly body: string }
  /** Two requests answered after the probe, the connection still open: the probe was ignored. */
  | { readonly kind: 'open' }
  | { readonly kind: 'other'; readonly what: string };

export const close = (code: H3ErrorName): Outcome => ({ kind: 'close', code });
export const reset = (code: H3ErrorName): Outcome => ({ kind: 'reset', code });
export const response = (status: number, body: string): Outcome => ({ kind: 'response', status, body });
export const OPEN: Outcome = { kind: 'open' };
export const OK: Outcome = { kind: 'response', status: 200, body: 'ok' };

/** The stream error codes that fit a refusal on size (RFC 9114 §4.2.2, §10.5: none is mandated). */
export const BOUNDED_STREAM: readonly string[] = ['H3_EXCESSIVE_LOAD', 'H3_MESSAGE_ERROR', 'H3_REQUEST_REJECTED'];

export const delay = <T>(ms: number, value: T) =>
  new Promise<T>((resolve) => {
    const timer = setTimeout(() => resolve(value), ms);
    timer.unref?.();
  });

function closeOutcome(e: unknown): Outcome {
  if (e instanceof TlsError && e.detail.kind === 'quicClose' && !e.detail.local) {
    return e.detail.application ? { kind: 'close', code: h3ErrorName(e.detail.code) } : { kind: 'transportClose', code: `0x${e.detail.code.toString(16)}` };
  }
  return { kind: 'other', what: `connection ended: ${String(e)}` };
}

/** One of the probed end's unidirectional streams, as the peer reads it: its type and the bytes after it. */
export interface UniRecord {
  readonly stream: QuicStream;
  readonly type: number;
  readonly chunks: Uint8Array[];
}

/** The bytes that came back on a request stream, and how the stream ended. */
export interface RawAnswer {
  readonly bytes: Uint8Array;
  readonly end: 'fin' | 'reset' | 'close' | 'bound';
}

/** The answer a hand-driven server writes by default: 200, body "ok". */
const okAnswer = () => bytes(headers([[':status', '200'], ['content-length', '2']]), data('ok'));
/** {@link okAnswer}'s bytes, for probes that answer some requests differently and the rest as usual. */
export const OK_ANSWER = okAnswer();

/**
 * The hand-driven end of a connection: writes whatever a test says, records how the probed end closes the
 * connection, reads the probed end's unidirectional streams (typed), and, as a server, answers requests.
 */
export class Peer {
  closedAs: Outcome | undefined;
  readonly closed: Promise<Outcome>;
  private readonly unis: UniRecord[] = [];
  private readonly uniWaiters: ((r: UniRecord) => void)[] = [];
  /** The STOP_SENDING codes the probed end sent, by stream id. */
  readonly stopCodes = new Map<number, string>();
  private requests = 0;
  /** As a server: called when request `n` is in (after its FIN), before the answer is written. */
  beforeAnswer: (n: number, stream: QuicStream) => void = () => undefined;
  /** As a server: the bytes of the answer to request `n` (default: 200, body "ok"). */
  answer: (n: number) => Uint8Array = () => okAnswer();
  /** As a server: whether the answer to request `n` ends with FIN (default: yes). */
  finAnswer: (n: number) => boolean = () => true;

  /**
   * Whether we may still write: neither end has started closing. A write while draining (the peer's
   * CONNECTION_CLOSE is in, `closed$` not yet reported) would end the connection with our own API misuse.
   */
  get live(): boolean {
    return !this.ending && !this.closedAs && this.conn.shutdownState() === 'none';
  }
  /** Closing or draining: the qlog's `connection_closed` came (`shutdownState()` says nothing of a peer's close). */
  private ending = false;

  /** `conn` must have been made with the `qlog` option (its `connection_closed` event is the close as it arrives). */
  constructor(readonly conn: QuicConnection) {
    this.closed = new Promise<Outcome>((resolve) => {
      // The peer's CONNECTION_CLOSE as it arrives (closed$ follows only after the draining period, 3×PTO).
      conn.qlog$.subscribe((e) => {
        if (e.name !== 'connectivity:connection_closed') return;
        this.ending = true;
        const d = e.data as { owner?: string; application_code?: number | string; connection_code?: number | string };
        if (d.owner !== 'remote') return;
        if (d.application_code !== undefined) resolve({ kind: 'close', code: h3ErrorName(BigInt(d.application_code)) });
        else if (d.connection_code !== undefined) resolve({ kind: 'transportClose', code: `0x${BigInt(d.connection_code).toString(16)}` });
      });
      conn.closed$.subscribe({ complete: () => resolve({ kind: 'other', what: 'the connection closed without an error' }), error: (e: unknown) => resolve(closeOutcome(e)) });
    }).then((o) => (this.closedAs = o));
    conn.incoming$.subscribe((s) => ((s.id & 2) !== 0 ? this.uni(s) : this.request(s)));
  }

  private uni(stream: QuicStream): void {
    const chunks: Uint8Array[] = [];
    let recorded = false;
    stream.data$.subscribe({
      next: (chunk) => {
        chunks.push(chunk);
        if (recorded) return;
        const all = concatBytes(chunks);
        const len = 1 << (all[0]! >> 6);
        if (all.length < len) return;
        let type = all[0]! & 0x3f;
        for (let i = 1; i < len; i++) type = type * 256 + all[i]!;
        recorded = true;
        chunks.splice(0, chunks.length, all.subarray(len));
        const r = { stream, type, chunks };
        this.unis.push(r);
        for (const w of this.uniWaiters.splice(0)) w(r);
      },
      error: () => undefined,
    });
  }

  /** The probed end's unidirectional stream of `type`, once its type is in. */
  async uniOfType(type: number): Promise<UniRecord> {
    for (;;) {
      const have = this.unis.find((r) => r.type === type);
      if (have) return have;
      const got = await Promise.race([new Promise<UniRecord>((resolve) => this.uniWaiters.push(resolve)), delay(BOUND, undefined)]);
      if (!got) throw new Error(`no unidirectional stream of type ${type} within ${BOUND} ms`);
    }
  }

  private request(stream: QuicStream): void {
    const n = this.requests++;
    stream.writeStopped$.subscribe((e) => {
      if (e.detail.kind === 'quicStreamReset' && !e.detail.local) this.stopCodes.set(stream.id, h3ErrorName(e.detail.code));
    });
    stream.data$.subscribe({
      complete: () => {
        if (!this.live) return;
        this.beforeAnswer(n, stream);
        if (!this.live) return;
        try {
          stream.write(this.answer(n));
          if (this.finAnswer(n)) stream.end();
        } catch {
          // the stream was stopped: the probed end refused the answer
        }
      },
      error: () => undefined,
    });
  }

  /** Open a unidirectional stream and write its type and `parts`. */
  openUni(type: number | bigint, ...parts: Uint8Array[]): QuicStream {
    const s = this.conn.openStream({ uni: true });
    s.write(bytes(varint(type), ...parts));
    return s;
  }

  /** Open our control stream with `parts` (SETTINGS first, unless the probe says otherwise). */
  openControl(...parts: Uint8Array[]): QuicStream {
    return this.openUni(S.CONTROL, ...parts);
  }

  /** Open a request stream with `parts` (none: nothing written), FIN after them unless `fin` is false. */
  request$(parts: Uint8Array[], fin = true): QuicStream {
    const s = this.conn.openStream();
    if (parts.length > 0) s.write(bytes(...parts));
    if (fin) s.end();
    return s;
  }

  /**
   * What comes back on a request stream: the answer (parsed as the answer to a `method` request, GET unless
   * said), a reset of the stream, or the connection's close.
   */
  outcome(stream: QuicStream, method = 'GET'): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const done = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const timer = setTimeout(() => done({ kind: 'other', what: `nothing on stream ${stream.id} within ${BOUND} ms` }), BOUND);
      const afterClose = () => void Promise.race([this.closed, delay(BOUND, { kind: 'other', what: `stream ${stream.id} ended without an answer` } as Outcome)]).then(done);
      const parser = new MessageParser('client', 1 << 20, method);
      let status: number | undefined;
      const body: Uint8Array[] = [];
      stream.data$.subscribe({
        next: (chunk) => {
          try {
            for (const e of parser.push(chunk)) {
              if (e.type === 'head') status = e.head.status;
              else if (e.type === 'data') body.push(e.bytes);
            }
          } catch (e) {
            done({ kind: 'other', what: `a malformed answer: ${String(e)}` });
          }
        },
        error: (e: unknown) => {
          if (e instanceof TlsError && e.detail.kind === 'quicStreamReset' && !e.detail.local) done({ kind: 'reset', code: h3ErrorName(e.detail.code) });
          else afterClose();
        },
        complete: () => (status !== undefined ? done({ kind: 'response', status, body: Buffer.concat(body).toString('latin1') }) : afterClose()),
      });
      void this.closed.then(done);
    });
  }

  /** The raw bytes that come back on a request stream, until its FIN, its reset or the connection's close. */
  rawAnswer(stream: QuicStream): Promise<RawAnswer> {
    return new Promise<RawAnswer>((resolve) => {
      const chunks: Uint8Array[] = [];
      let settled = false;
      const done = (end: RawAnswer['end']) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ bytes: concatBytes(chunks), end });
      };
      const timer = setTimeout(() => done('bound'), BOUND);
      stream.data$.subscribe({ next: (c) => chunks.push(c.slice()), error: () => done('reset'), complete: () => done('fin') });
      void this.closed.then(() => done('close'));
    });
  }

  /** A GET on a new stream, and what comes back. */
  get(): Promise<Outcome> {
    if (!this.live) return Promise.race([this.closed, delay(BOUND, { kind: 'other', what: 'the connection is closing, but never closed' } as Outcome)]);
    return this.outcome(this.request$([headers(GET)]));
  }

  /**
   * After a probe: a GET, then another once the first is answered. The connection's close if one came (with
   * its code), else `open`, else what went wrong with the GETs.
   */
  async verdict(): Promise<Outcome> {
    for (let i = 0; i < 2; i++) {
      const o = await this.get();
      if (o.kind === 'close' || o.kind === 'transportClose') return o;
      if (o.kind !== 'response' || o.status !== 200) return this.closedAs ?? o;
    }
    return this.closedAs ?? OPEN;
  }

  /** The STOP_SENDING code the probed end sent on `stream`, once it comes (undefined within the bound). */
  async stopCode(stream: number): Promise<string | undefined> {
    for (let waited = 0; waited < BOUND; waited += 20) {
      const c = this.stopCodes.get(stream);
      if (c !== undefined) return c;
      await delay(20, undefined);
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The two set-ups: rxtls as the server (probed by a hand-driven client), rxtls as the client.

/**
 * At most this many tests hold connections at once. All of them at once load the event loop enough to overflow
 * loopback UDP buffers, and a CONNECTION_CLOSE that is lost is only repeated when the peer sends again.
 */
const SLOTS = 4;
let freeSlots = SLOTS;
const slotQueue: (() => void)[] = [];
const holding = new WeakSet<object>();
async function slot(t: ExecutionContext): Promise<void> {
  if (holding.has(t)) return;
  holding.add(t);
  if (freeSlots > 0) freeSlots--;
  else await new Promise<void>((resolve) => slotQueue.push(resolve));
  t.teardown(() => {
    const next = slotQueue.shift();
    if (next) next();
    else freeSlots++;
  });
}

const identity = () => ({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'] });
/** The probing peer's qlog: only for its `connection_closed` event (see {@link Peer}). */
const QLOG = { qlog: true } as const;
const clientOptions = (port: number) => ({ host: '127.0.0.1', port, ca: certText('ca-cert.pem'), servername: 'localhost' });

/** `serveH3`'s handler unless a probe gives its own: 200 "ok" (or, on `/echo`, the request body). */
export const handler: H3Handler = async (req) => {
  if (req.path === '/echo') return { status: 200, body: Buffer.concat(await lastValueFrom(req.body.pipe(toArray()))) };
  return { status: 200, body: 'ok' };
};

/**
 * rxtls serving HTTP/3 (with `handler`, {@link handler} unless given), and a hand-driven client connected to it;
 * the returned peer is the client. The client opens its control stream with an empty SETTINGS unless `control`
 * is false (the probe then opens it as it likes).
 */
export async function probeServer(t: ExecutionContext, opts: { control?: boolean; handler?: H3Handler } = {}): Promise<Peer> {
  await slot(t);
  const srv = await quicListen(identity());
  t.teardown(() => srv.close());
  const serve = opts.handler ?? handler;
  srv.connections.subscribe((c) => serveH3(c, serve));
  const peer = await firstValueFrom(quicConnect({ ...clientOptions(srv.port), alpn: ['h3'], ...QLOG }).pipe(map((c) => new Peer(c)), timeout(BOUND)));
  t.teardown(() => {
    try {
      peer.conn.close({ errorCode: H3ErrorCode.H3_NO_ERROR, rapid: true });
    } catch {
      // closed already
    }
  });
  if (opts.control !== false) peer.openControl(settings());
  return peer;
}

/** rxtls as an HTTP/3 client (`h3Connect`), and the hand-driven server it connected to. */
export interface ClientUnderTest {
  readonly client: QuicConnection;
  readonly peer: Peer;
}

/**
 * A hand-driven server (its control stream opened with SETTINGS at once, unless `control` is false) and rxtls
 * connected to it with `h3Connect` (its own SETTINGS_MAX_FIELD_SECTION_SIZE if `maxFieldSectionSize` is given).
 * `setup` runs on the server's connection before anything else.
 */
export async function probeClient(t: ExecutionContext, setup: (peer: Peer) => void = () => undefined, opts: { control?: boolean; maxFieldSectionSize?: number } = {}): Promise<ClientUnderTest> {
  await slot(t);
  const srv = await quicListen({ ...identity(), ...QLOG });
  t.teardown(() => srv.close());
  let peer: Peer | undefined;
  srv.connections.subscribe((c) => {
    peer = new Peer(c);
    if (opts.control !== false) peer.openControl(settings());
    setup(peer);
  });
  const client = await firstValueFrom(h3Connect({ ...clientOptions(srv.port), ...(opts.maxFieldSectionSize !== undefined ? { maxFieldSectionSize: opts.maxFieldSectionSize } : {}) }).pipe(timeout(BOUND)));
  t.teardown(() => {
    try {
      client.close({ errorCode: H3ErrorCode.H3_NO_ERROR, rapid: true });
    } catch {
      // closed already
    }
  });
  for (let waited = 0; !peer && waited < BOUND; waited += 10) await delay(10, undefined);
  if (!peer) throw new Error('the server side never saw the connection');
  return { client, peer };
}

/**
 * A request from rxtls's client (a GET unless `method` says otherwise) and what came of it, on the wire: the
 * answer, the connection's close as the server received it, or the client's reset of the request: the
 * STOP_SENDING code the server received (`wire`, the default), or the code the client reports it reset the
 * stream with (`wire: false`, for a stream error found at the server's FIN, when a STOP_SENDING has nothing
 * left to stop).
 */
export async function clientGet({ client, peer }: ClientUnderTest, opts: { method?: string; wire?: boolean } = {}): Promise<Outcome> {
  try {
    const res = await firstValueFrom(h3Request(client, { authority: 'localhost', path: '/', ...(opts.method ? { method: opts.method } : {}) }).pipe(timeout(BOUND)));
    const body = Buffer.concat(await lastValueFrom(res.body.pipe(toArray(), timeout(BOUND)))).toString('latin1');
    return { kind: 'response', status: res.status, body };
  } catch (e) {
    if (e instanceof TlsError && e.detail.kind === 'quicClose' && e.detail.local) {
      return wireClose(peer, h3ErrorName(e.detail.code));
    }
    if (e instanceof TlsError && e.detail.kind === 'quicStreamReset' && e.detail.local) {
      if (opts.wire === false) return { kind: 'reset', code: h3ErrorName(e.detail.code) };
      const wire = await peer.stopCode(e.detail.stream);
      return { kind: 'reset', code: wire ?? `local only: ${h3ErrorName(e.detail.code)}` };
    }
    return { kind: 'other', what: String(e) };
  }
}

/**
 * The CONNECTION_CLOSE the client sent, as the server received it. Should that packet be lost, the server's
 * sending (a byte on a reserved-type stream now and then) makes the closing client send it again (RFC 9000 §10.2.1).
 */
async function wireClose(peer: Peer, localCode: string): Promise<Outcome> {
  let poke: QuicStream | undefined;
  for (let waited = 0; waited < BOUND; waited += 200) {
    const got = await Promise.race([peer.closed, delay(200, undefined)]);
    if (got) return got;
    if (!peer.live) continue; // draining: the close is in, `closed$` follows
    poke ??= peer.openUni(grease(9));
    poke.write(Uint8Array.of(0));
  }
  return { kind: 'other', what: `closed locally (${localCode}), nothing on the wire` };
}

/** {@link Peer.verdict} with rxtls as the client: `requests` requests one after another. */
export async function clientVerdict(ct: ClientUnderTest, requests = 2): Promise<Outcome> {
  for (let i = 0; i < requests; i++) {
    const o = await clientGet(ct);
    if (o.kind === 'close' || o.kind === 'transportClose') return o;
    if (o.kind !== 'response' || o.status !== 200) return ct.peer.closedAs ?? o;
  }
  return ct.peer.closedAs ?? OPEN;
}
