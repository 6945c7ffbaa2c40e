/**
 * HTTP/3 (RFC 9114) and QPACK (RFC 9204) conformance, round two: more of what an adversarial suite (h3spec style)
 * sends, byte for byte, from a hand-driven QUIC peer on 127.0.0.1 to rxtls's `serveH3` (most probes) or
 * `h3Connect`/`h3Request` (what only a server can send). Round one (`conformance.test.ts`) covers the basics of
 * each area; these probes go where it does not: the values of the request pseudo-header fields, whitespace in
 * field values, content-length against a short body, trailers and the frames after them, empty and reserved-only
 * request streams, the layout of control frames' payloads, varints longer than needed, unidirectional streams
 * closed before their type, the QPACK encoder instructions that reference or duplicate entries, a negative Base,
 * integers past 62 bits on the decoder stream, what the server itself writes on its QPACK streams, Huffman strings
 * in names, the exact SETTINGS_MAX_FIELD_SECTION_SIZE boundary, and the client's side of content-length, HEAD,
 * trailers and its own field section limit.
 *
 * How an outcome is read (as in round one, without timing): after a probe the peer sends a GET and waits for its
 * answer, then a second GET. A connection error has closed the connection by the second answer (the code is read
 * from the probing peer's qlog `connection_closed` event, owner `remote`); two answered GETs on a connection still
 * open mean the probe was ignored (`{ kind: 'open' }`). A stream error is the RESET_STREAM code on the probed
 * stream (or, with rxtls as the client, the STOP_SENDING code it sent), and the verdict after it must be `open`.
 * Bounds (`BOUND`) only keep a broken run from hanging; no assertion depends on them.
 *
 * Probes that found a deviation from RFC 9114 / RFC 9204 in rxtls when they were written say so in a comment
 * before them (`Found by this probe and fixed: …`); they assert the RFC behaviour, which rxtls now has.
 */
import test, { type ExecutionContext } from 'ava';
import { firstValueFrom, lastValueFrom, map, timeout, toArray } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { H3ErrorCode, h3ErrorName, type H3ErrorName } from '../../src/h3/errors.js';
import { H3FrameReader } from '../../src/h3/frames.js';
import { HUFFMAN_CODES } from '../../src/h3/huffman.js';
import { decodeFieldSection, encodeFieldSection, fieldSectionSize, type H3Field } from '../../src/h3/qpack.js';
import { MessageParser } from '../../src/h3/streams.js';
import { h3Connect, h3Request, serveH3, type H3Handler } from '../../src/rx/h3.js';
import { quicConnect, quicListen, type QuicConnection, type QuicStream } from '../../src/rx/quic.js';
import { concatBytes } from '../../src/wire/bytes.js';
import { certText } from '../helpers/peers.js';

/** The most any one wait may take (a bound against hangs, never asserted on). */
const BOUND = 15_000;

// ---------------------------------------------------------------------------------------------------------
// Wire bytes, written by hand (the codecs under test would refuse to write most of these).

/** A QUIC varint (RFC 9000 §16) in its shortest encoding, or in `size` bytes (1, 2, 4 or 8) when given. */
function varint(value: number | bigint, size?: 1 | 2 | 4 | 8): Uint8Array {
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
const bytes = (...parts: (Uint8Array | readonly number[])[]) => concatBytes(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Frame types (RFC 9114 §7.2) and unidirectional stream types (§6.2, RFC 9204 §4.2). */
const F = { DATA: 0x00, HEADERS: 0x01, CANCEL_PUSH: 0x03, SETTINGS: 0x04, GOAWAY: 0x07, MAX_PUSH_ID: 0x0d } as const;
const S = { CONTROL: 0x00, ENCODER: 0x02, DECODER: 0x03 } as const;
/** The reserved ("grease") value 0x1f·N + 0x21 of frame types and stream types (§7.2.8, §6.2.3). */
const grease = (n: number | bigint) => 0x1fn * BigInt(n) + 0x21n;

/** A frame: type, length, payload. */
const frame = (type: number | bigint, payload: Uint8Array = new Uint8Array(0)) => bytes(varint(type), varint(payload.length), payload);
const settings = (...pairs: [number | bigint, number | bigint][]) => frame(F.SETTINGS, bytes(...pairs.flatMap(([id, value]) => [varint(id), varint(value)])));
const headers = (fields: readonly H3Field[], huffman: 'never' | 'always' = 'never') => frame(F.HEADERS, encodeFieldSection(fields, { huffman }));
const headersBlock = (block: Uint8Array) => frame(F.HEADERS, block);
const data = (s: string) => frame(F.DATA, utf8(s));

/** A request's fields: the four pseudo-headers for `path` (default `GET /`), then `extra`. */
const request = (path = '/', method = 'GET', extra: H3Field[] = []): H3Field[] => [[':method', method], [':scheme', 'https'], [':authority', 'localhost'], [':path', path], ...extra];
const GET = request();
const POST_ECHO = request('/echo', 'POST');
const get = (extra: H3Field[]): H3Field[] => [...GET, ...extra];

/** The bits of `text`'s Huffman codes (RFC 7541 Appendix B), most significant first; `EOS` is symbol 256. */
const EOS = 256;
const huffmanBits = (...symbols: (string | number)[]) =>
  symbols
    .flatMap((s) => (typeof s === 'number' ? [s] : [...s].map((c) => c.charCodeAt(0))))
    .map((sym) => HUFFMAN_CODES[sym]!.code.toString(2).padStart(HUFFMAN_CODES[sym]!.bits, '0'))
    .join('');
/** `bits` as bytes, the last one filled with `pad` (RFC 7541 §5.2 wants ones: the start of EOS). */
function bitBytes(bits: string, pad: '0' | '1' = '1'): Uint8Array {
  const full = bits.padEnd(Math.ceil(bits.length / 8) * 8, pad);
  return Uint8Array.from({ length: full.length / 8 }, (_, i) => parseInt(full.slice(8 * i, 8 * i + 8), 2));
}

// ---------------------------------------------------------------------------------------------------------
// Outcomes, as the probing peer sees them on the wire.

type Outcome =
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

const close = (code: H3ErrorName): Outcome => ({ kind: 'close', code });
const reset = (code: H3ErrorName): Outcome => ({ kind: 'reset', code });
const response = (status: number, body: string): Outcome => ({ kind: 'response', status, body });
const OPEN: Outcome = { kind: 'open' };

/** The stream error codes that fit a refusal on size (RFC 9114 §4.2.2, §10.5: none is mandated). */
const BOUNDED_STREAM: readonly string[] = ['H3_EXCESSIVE_LOAD', 'H3_MESSAGE_ERROR', 'H3_REQUEST_REJECTED'];

const delay = <T>(ms: number, value: T) =>
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
interface UniRecord {
  readonly stream: QuicStream;
  readonly type: number;
  readonly chunks: Uint8Array[];
}

/** The bytes that came back on a request stream, and how the stream ended. */
interface RawAnswer {
  readonly bytes: Uint8Array;
  readonly end: 'fin' | 'reset' | 'close' | 'bound';
}

/**
 * The hand-driven end of a connection (as in round one): writes whatever a test says, records how the probed end
 * closes the connection, reads the probed end's unidirectional streams (typed), and, as a server, answers requests.
 */
class Peer {
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
  answer: (n: number) => Uint8Array = () => OK_ANSWER;
  /** As a server: whether the answer to request `n` ends with FIN (default: yes). */
  finAnswer: (n: number) => boolean = () => true;

  /** Whether we may still write: neither end has started closing. */
  get live(): boolean {
    return !this.ending && !this.closedAs && this.conn.shutdownState() === 'none';
  }
  /** Closing or draining: the qlog's `connection_closed` came. */
  private ending = false;

  /** `conn` must have been made with the `qlog` option (its `connection_closed` event is the close as it arrives). */
  constructor(readonly conn: QuicConnection) {
    this.closed = new Promise<Outcome>((resolve) => {
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

  /** Open a request stream with `parts`, FIN after them unless `fin` is false. */
  request$(parts: Uint8Array[], fin = true): QuicStream {
    const s = this.conn.openStream();
    if (parts.length > 0) s.write(bytes(...parts));
    if (fin) s.end();
    return s;
  }

  /** What comes back on a request stream: the answer, a reset of the stream, or the connection's close. */
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

  /** After a probe: a GET, then another once the first is answered. The close if one came, else `open`. */
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

const OK_ANSWER = bytes(headers([[':status', '200'], ['content-length', '2']]), data('ok'));

// ---------------------------------------------------------------------------------------------------------
// The two set-ups: rxtls as the server (probed by a hand-driven client), rxtls as the client.

/** At most this many tests hold connections at once (loopback UDP buffers overflow under all of them at once). */
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
const QLOG = { qlog: true } as const;
const clientOptions = (port: number) => ({ host: '127.0.0.1', port, ca: certText('ca-cert.pem'), servername: 'localhost' });

/** The server's default SETTINGS_MAX_FIELD_SECTION_SIZE (round one checks that it is advertised). */
const SERVER_MAX_FIELD_SECTION = 16_384;

/**
 * `serveH3`'s handler: `/echo` answers the request body, `/big` a 2000-byte field, `/empty` 204 with no field at
 * all (the smallest head there is), anything else 200 "ok".
 */
const handler: H3Handler = async (req) => {
  if (req.path === '/echo') return { status: 200, body: Buffer.concat(await lastValueFrom(req.body.pipe(toArray()))) };
  if (req.path === '/big') return { status: 200, headers: [['x-big', 'b'.repeat(2000)]], body: 'ok' };
  if (req.path === '/empty') return { status: 204 };
  return { status: 200, body: 'ok' };
};

/** rxtls serving HTTP/3, and a hand-driven client connected to it (its control stream opened with an empty SETTINGS unless `control` is false). */
async function probeServer(t: ExecutionContext, opts: { control?: boolean } = {}): Promise<Peer> {
  await slot(t);
  const srv = await quicListen(identity());
  t.teardown(() => srv.close());
  srv.connections.subscribe((c) => serveH3(c, handler));
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

interface ClientUnderTest {
  readonly client: QuicConnection;
  readonly peer: Peer;
}

/** A hand-driven server and rxtls connected to it with `h3Connect` (its own SETTINGS_MAX_FIELD_SECTION_SIZE if given). */
async function probeClient(t: ExecutionContext, setup: (peer: Peer) => void = () => undefined, opts: { control?: boolean; maxFieldSectionSize?: number } = {}): Promise<ClientUnderTest> {
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
 * A request from rxtls's client and what came of it: the answer, the connection's close as the server received
 * it, or the client's reset of the request: the STOP_SENDING code the server received (`wire`, the default), or
 * the code the client reports it reset the stream with (`wire: false`, for a stream error found at the server's
 * FIN, when a STOP_SENDING has nothing left to stop).
 */
async function clientGet({ client, peer }: ClientUnderTest, opts: { method?: string; wire?: boolean } = {}): Promise<Outcome> {
  try {
    const res = await firstValueFrom(h3Request(client, { authority: 'localhost', path: '/', ...(opts.method ? { method: opts.method } : {}) }).pipe(timeout(BOUND)));
    const body = Buffer.concat(await lastValueFrom(res.body.pipe(toArray(), timeout(BOUND)))).toString('latin1');
    return { kind: 'response', status: res.status, body };
  } catch (e) {
    if (e instanceof TlsError && e.detail.kind === 'quicClose' && e.detail.local) return wireClose(peer, h3ErrorName(e.detail.code));
    if (e instanceof TlsError && e.detail.kind === 'quicStreamReset' && e.detail.local) {
      if (opts.wire === false) return { kind: 'reset', code: h3ErrorName(e.detail.code) };
      const wire = await peer.stopCode(e.detail.stream);
      return { kind: 'reset', code: wire ?? `local only: ${h3ErrorName(e.detail.code)}` };
    }
    return { kind: 'other', what: String(e) };
  }
}

/** The CONNECTION_CLOSE the client sent, as the server received it (poking the closing client should it be lost). */
async function wireClose(peer: Peer, localCode: string): Promise<Outcome> {
  let poke: QuicStream | undefined;
  for (let waited = 0; waited < BOUND; waited += 200) {
    const got = await Promise.race([peer.closed, delay(200, undefined)]);
    if (got) return got;
    if (!peer.live) continue;
    poke ??= peer.openUni(grease(9));
    poke.write(Uint8Array.of(0));
  }
  return { kind: 'other', what: `closed locally (${localCode}), nothing on the wire` };
}

/** {@link Peer.verdict} with rxtls as the client: `requests` requests one after another. */
async function clientVerdict(ct: ClientUnderTest, requests = 2): Promise<Outcome> {
  for (let i = 0; i < requests; i++) {
    const o = await clientGet(ct);
    if (o.kind === 'close' || o.kind === 'transportClose') return o;
    if (o.kind !== 'response' || o.status !== 200) return ct.peer.closedAs ?? o;
  }
  return ct.peer.closedAs ?? OPEN;
}

/** A malformed request: the server resets that stream with H3_MESSAGE_ERROR, and the connection goes on. */
async function assertMalformed(t: ExecutionContext, parts: Uint8Array[]): Promise<void> {
  const peer = await probeServer(t);
  t.deepEqual(await peer.outcome(peer.request$(parts)), reset('H3_MESSAGE_ERROR'));
  t.deepEqual(await peer.verdict(), OPEN);
}

/** A request that must be served (a probe that rxtls must not refuse): 200 "ok", and the connection goes on. */
async function assertServed(t: ExecutionContext, parts: Uint8Array[], expected: Outcome = response(200, 'ok'), method = 'GET'): Promise<void> {
  const peer = await probeServer(t);
  t.deepEqual(await peer.outcome(peer.request$(parts), method), expected);
  t.deepEqual(await peer.verdict(), OPEN);
}

/** The sizes (RFC 9114 §4.2.2: names, values, 32 per line) of the field sections in the HEADERS frames of `raw`. */
function headSizes(raw: Uint8Array): number[] {
  const sizes: number[] = [];
  try {
    for (const e of new H3FrameReader({ maxFieldSection: 1 << 20, maxControlPayload: 1 << 20 }).push(raw)) {
      if (e.type === 'frame' && e.frame.type === 'headers') sizes.push(fieldSectionSize(decodeFieldSection(e.frame.block)));
    }
  } catch {
    // a cut-off answer (a reset): the complete frames before it count
  }
  return sizes;
}

/** A QPACK prefixed integer (RFC 9204 §4.1.1) at `at` with an N-bit prefix: its value and the offset after it, or undefined when cut short. */
function prefixInt(buf: Uint8Array, at: number, prefixBits: number): { value: bigint; next: number } | undefined {
  if (at >= buf.length) return undefined;
  const max = (1 << prefixBits) - 1;
  let value = BigInt(buf[at]! & max);
  let i = at + 1;
  if (value < BigInt(max)) return { value, next: i };
  for (let shift = 0n; ; shift += 7n) {
    if (i >= buf.length) return undefined;
    const b = buf[i++]!;
    value += BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value, next: i };
  }
}

// =========================================================================================================
// 1. The values of request pseudo-header fields (RFC 9114 §4.3.1, §4.1.2: invalid values are malformed).

// Found by this probe and fixed: requestHead took any :method value, the empty string included, and the request
// was answered 200; RFC 9114 §4.3.1 makes a request with an invalid pseudo-header value malformed (§4.1.2), and a
// method is a token of at least one character (RFC 9110 §9.1).
test('RFC 9114 §4.3.1, §4.1.2: a request with an empty :method is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', ''], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/']])]);
});

// Found by this probe and fixed: requestHead did not check that :method is a token (RFC 9110 §9.1: method =
// token); "GE T" was answered 200. RFC 9114 §4.3.1/§4.1.2: an invalid pseudo-header value is malformed.
test('RFC 9114 §4.3.1, §4.1.2: a request whose :method is not a token ("GE T") is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'GE T'], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/']])]);
});

// Found by this probe and fixed: requestHead took an empty :scheme (it checked the authority only for http and
// https) and the request was answered 200; a scheme is at least one letter (RFC 3986 §3.1), so RFC 9114 §4.3.1
// makes the value invalid and the request malformed (§4.1.2).
test('RFC 9114 §4.3.1, §4.1.2: a request with an empty :scheme is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'GET'], [':scheme', ''], [':authority', 'localhost'], [':path', '/']])]);
});

// Found by this probe and fixed: requestHead only refused an empty :path; "index.html" was answered 200. RFC 9114
// §4.3.1: for an https URI :path is the path-absolute production (a leading "/") plus an optional query, or "*"
// for OPTIONS; anything else is an invalid value, and the request malformed (§4.1.2).
test('RFC 9114 §4.3.1, §4.1.2: an https request whose :path does not start with "/" is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(request('index.html'))]);
});

// Found by this probe and fixed: requestHead took ":path *" with any method (a GET was answered 200); RFC 9114
// §4.3.1 allows "*" only for an OPTIONS request, so GET * has an invalid :path and is malformed (§4.1.2).
test('RFC 9114 §4.3.1, §4.1.2: ":path *" on a GET (only OPTIONS may use it) is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(request('*'))]);
});

test('RFC 9114 §4.3.1: an OPTIONS request with ":path *" is well-formed and answered', async (t) => {
  await assertServed(t, [headers(request('*', 'OPTIONS'))]);
});

// Found by this probe and fixed: requestHead passed :authority through unchecked; "user@localhost" was answered
// 200. RFC 9114 §4.3.1: :authority MUST NOT include the deprecated userinfo subcomponent for http/https URIs, so
// the value is invalid and the request malformed (§4.1.2).
test('RFC 9114 §4.3.1, §4.1.2: an https request whose :authority has userinfo (user@localhost) is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'GET'], [':scheme', 'https'], [':authority', 'user@localhost'], [':path', '/']])]);
});

test('RFC 9114 §4.3.1: an empty :authority is malformed even when a host field is present: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'GET'], [':scheme', 'https'], [':authority', ''], [':path', '/'], ['host', 'localhost']])]);
});

// Found by this probe and fixed: requestHead used :authority and ignored a host field that disagreed with it (the
// request was answered 200). RFC 9114 §4.3.1: "If both fields are present, they MUST contain the same value"; a
// request that breaks it carries an invalid authority and is malformed (§4.1.2). (As RFC 9113 §8.3.1 for HTTP/2.)
test('RFC 9114 §4.3.1, §4.1.2: :authority and host with different values is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(get([['host', 'example.com']]))]);
});

test('RFC 9114 §4.3.1: an https request with a host field and no :authority is well-formed and answered', async (t) => {
  await assertServed(t, [headers([[':method', 'GET'], [':scheme', 'https'], [':path', '/'], ['host', 'localhost']])]);
});

test('RFC 9114 §4.3, RFC 9220 §3: :protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL is an undefined pseudo-header: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([[':method', 'CONNECT'], [':protocol', 'websocket'], [':scheme', 'https'], [':authority', 'localhost'], [':path', '/chat']])]);
});

for (const [what, fields] of [
  ['with :scheme', [[':method', 'CONNECT'], [':scheme', 'https'], [':authority', 'example.com:443']]],
  ['with :path', [[':method', 'CONNECT'], [':authority', 'example.com:443'], [':path', '/']]],
  ['without :authority', [[':method', 'CONNECT']]],
] as [string, H3Field[]][]) {
  test(`RFC 9114 §4.4: a CONNECT request ${what} is malformed: RESET_STREAM H3_MESSAGE_ERROR`, async (t) => {
    await assertMalformed(t, [headers(fields)]);
  });
}

// =========================================================================================================
// 2. Field names and values (RFC 9114 §4.2, §10.3; RFC 9110 §5.5).

// Found by this probe and fixed: splitFields checked values for control characters only; a value with leading
// whitespace was accepted (answered 200). RFC 9110 §5.5: field-value = *field-content, and field-content starts and
// ends with a visible character; RFC 9114 §10.3: a request "that contains a character not permitted in a field
// value MUST be treated as malformed" (RFC 9113 §8.2.1 spells the same rule out for HTTP/2). A strict reading.
test('RFC 9114 §10.3, RFC 9110 §5.5: a field value with leading whitespace (" 1") is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(get([['x-a', ' 1']]))]);
});

// Found by this probe and fixed: as above, for trailing whitespace (a value ending in HTAB was accepted and
// answered 200); RFC 9110 §5.5 field-content ends with a visible character, and RFC 9114 §10.3 makes the request
// malformed.
test('RFC 9114 §10.3, RFC 9110 §5.5: a field value with trailing whitespace ("1\\t") is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(get([['x-a', '1\t']]))]);
});

test('RFC 9114 §10.3: a NUL in a Huffman-coded field value is found after decoding: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(get([['x-a', 'a\0b']]), 'always')]);
});

// =========================================================================================================
// 3. content-length and the DATA frames (RFC 9114 §4.1.2).

test('RFC 9114 §4.1.2: a body shorter than content-length at the FIN is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([...POST_ECHO, ['content-length', '5']]), data('abc')]);
});

test('RFC 9114 §4.1.2: content-length 5 and no DATA frame at all is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([...POST_ECHO, ['content-length', '5']])]);
});

test('RFC 9114 §4.1.2, RFC 9110 §8.6: two content-length fields that disagree are malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers([...POST_ECHO, ['content-length', '3'], ['content-length', '4']]), data('abc')]);
});

test('RFC 9114 §4.1.2: content-length matching the sum of several DATA frames, empty ones included, is served', async (t) => {
  await assertServed(t, [headers([...POST_ECHO, ['content-length', '6']]), data(''), data('abc'), data(''), data('def')], response(200, 'abcdef'));
});

test('RFC 9114 §4.1.2, RFC 9110 §9.3.2: a HEAD request is answered with its content-length and no DATA', async (t) => {
  await assertServed(t, [headers(request('/', 'HEAD'))], response(200, ''), 'HEAD');
});

// =========================================================================================================
// 4. Trailers and the frames after them (RFC 9114 §4.1, §4.3).

test('RFC 9114 §4.1: trailers right after the header section (no DATA) are well-formed: the request is served', async (t) => {
  await assertServed(t, [headers(POST_ECHO), headers([['x-t', '1']])], response(200, ''));
});

test('RFC 9114 §4.2: a connection-specific field (transfer-encoding) in trailers is malformed: RESET_STREAM H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headers(POST_ECHO), data('x'), headers([['transfer-encoding', 'chunked']])]);
});

test('RFC 9114 §4.1: a HEADERS frame after the trailers is H3_FRAME_UNEXPECTED (connection)', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headers(POST_ECHO), data('x'), headers([['x-t', '1']]), headers([['x-t', '2']])]);
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §4.1: a DATA frame after the trailers is H3_FRAME_UNEXPECTED (connection)', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headers(POST_ECHO), data('x'), headers([['x-t', '1']]), data('late')]);
  t.deepEqual(await peer.verdict(), close('H3_FRAME_UNEXPECTED'));
});

// =========================================================================================================
// 5. Request streams: their frames, their ends (RFC 9114 §4.1, §7.1, §7.2).

test('RFC 9114 §4.1: a request stream ended (FIN) with no frame at all is RESET_STREAM H3_REQUEST_INCOMPLETE', async (t) => {
  const peer = await probeServer(t);
  t.deepEqual(await peer.outcome(peer.request$([])), reset('H3_REQUEST_INCOMPLETE'));
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.1, §7.2.8: a request stream of reserved frames only, then FIN, is RESET_STREAM H3_REQUEST_INCOMPLETE', async (t) => {
  const peer = await probeServer(t);
  t.deepEqual(await peer.outcome(peer.request$([frame(grease(4), utf8('pad')), frame(grease(5))])), reset('H3_REQUEST_INCOMPLETE'));
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.3.1, RFC 9204 §4.5: a field section of the prefix alone (no field line) decodes: the request is malformed, H3_MESSAGE_ERROR', async (t) => {
  await assertMalformed(t, [headersBlock(hex('0000'))]);
});

test('RFC 9204 §4.5.1: an empty HEADERS frame (no field section prefix) is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([frame(F.HEADERS)]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

test('RFC 9114 §7.1, RFC 9000 §16: frame types and lengths in longer varint encodings than needed are accepted', async (t) => {
  const block = encodeFieldSection(POST_ECHO, { huffman: 'never' });
  const parts = [varint(F.HEADERS, 2), varint(block.length, 4), block, varint(F.DATA, 8), varint(5, 2), utf8('hello'), varint(grease(1), 8), varint(0, 4)];
  await assertServed(t, parts, response(200, 'hello'));
});

test('RFC 9114 §4.1.1: a request the client cancels (RESET_STREAM H3_REQUEST_CANCELLED mid-body) leaves the connection usable', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([headers(POST_ECHO), data('part')], false);
  s.reset(H3ErrorCode.H3_REQUEST_CANCELLED);
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.1.1: STOP_SENDING H3_REQUEST_CANCELLED on a request stream leaves the connection usable', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([headers(POST_ECHO)], false);
  s.stopSending(H3ErrorCode.H3_REQUEST_CANCELLED);
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 6. Control frames' payloads, SETTINGS, and the control stream's type (RFC 9114 §6.2.1, §7.1, §7.2).

for (const [what, bad] of [
  ['GOAWAY with an empty payload', frame(F.GOAWAY)],
  ['GOAWAY with a byte after its id', frame(F.GOAWAY, bytes(varint(0), [0x00]))],
  ['MAX_PUSH_ID with a byte after its id', frame(F.MAX_PUSH_ID, bytes(varint(4), [0x00]))],
  ['CANCEL_PUSH with an empty payload', frame(F.CANCEL_PUSH)],
] as const) {
  test(`RFC 9114 §7.1: ${what} on the control stream is H3_FRAME_ERROR`, async (t) => {
    const peer = await probeServer(t, { control: false });
    peer.openControl(settings(), bad);
    t.deepEqual(await peer.verdict(), close('H3_FRAME_ERROR'));
  });
}

test('RFC 9114 §7.1, §7.2.4: SETTINGS with an identifier and no value is H3_FRAME_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(frame(F.SETTINGS, bytes(varint(0x06, 2), varint(100), varint(0x4242))));
  t.deepEqual(await peer.verdict(), close('H3_FRAME_ERROR'));
});

test('RFC 9114 §7.2.4: the same unknown setting identifier (0x4242) twice is H3_SETTINGS_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([0x4242, 1], [0x4242, 2]));
  t.deepEqual(await peer.verdict(), close('H3_SETTINGS_ERROR'));
});

test('RFC 9114 §6.2, RFC 9000 §16: a control stream typed with a 2-byte varint (0x4000) is the control stream: another one is H3_STREAM_CREATION_ERROR', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.conn.openStream({ uni: true }).write(bytes(varint(S.CONTROL, 2), settings()));
  t.deepEqual(await peer.get(), response(200, 'ok'));
  peer.openControl(settings());
  t.deepEqual(await peer.verdict(), close('H3_STREAM_CREATION_ERROR'));
});

// Found by this probe and fixed: respond checked the reply's head against the client's
// SETTINGS_MAX_FIELD_SECTION_SIZE, but when it was over the limit it sent a 500 head (":status 500" and
// "content-length 0", 89 bytes) without checking that one; RFC 9114 §4.2.2: an implementation that received the
// setting SHOULD NOT send a field section larger than it (when not even the 500 fits, the stream is now reset).
test('RFC 9114 §4.2.2: with the client\'s SETTINGS_MAX_FIELD_SECTION_SIZE at 50, the server sends no field section larger than 50', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([0x06, 50]));
  t.like(await peer.outcome(peer.request$([headers(request('/empty'))])), { kind: 'response', status: 204 });
  const got = await peer.rawAnswer(peer.request$([headers(GET)]));
  t.not(got.end, 'bound', 'the request is answered or reset');
  const sizes = headSizes(got.bytes);
  t.true(sizes.every((size) => size <= 50), `field sections of ${sizes.join(', ')} bytes`);
});

test('RFC 9114 §4.2.2: a reply over the client\'s SETTINGS_MAX_FIELD_SECTION_SIZE (1000) is not sent: what comes (a 500, or a reset) fits in it', async (t) => {
  const peer = await probeServer(t, { control: false });
  peer.openControl(settings([0x06, 1000]));
  t.like(await peer.outcome(peer.request$([headers(request('/empty'))])), { kind: 'response', status: 204 });
  const got = await peer.rawAnswer(peer.request$([headers(request('/big'))]));
  const sizes = headSizes(got.bytes);
  t.true(got.end === 'reset' || sizes.length > 0, `the request is answered or reset (${got.end})`);
  t.true(sizes.every((size) => size <= 1000), `field sections of ${sizes.join(', ')} bytes`);
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 7. Unidirectional streams closed before their type (RFC 9114 §6.2: "MUST tolerate").

test('RFC 9114 §6.2: a unidirectional stream closed (FIN) inside its type varint (0x40, one of two bytes) is ignored', async (t) => {
  const peer = await probeServer(t);
  const s = peer.conn.openStream({ uni: true });
  s.write(Uint8Array.of(0x40));
  s.end();
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §6.2: a unidirectional stream reset before its type is ignored', async (t) => {
  const peer = await probeServer(t);
  const s = peer.conn.openStream({ uni: true });
  s.write(Uint8Array.of(0x40));
  s.reset(H3ErrorCode.H3_NO_ERROR);
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 8. The QPACK encoder stream against the capacity of 0 we advertised (RFC 9204 §3.2.3, §4.3).

for (const [what, instr] of [
  ['Insert with Name Reference to dynamic entry 0 (the table is empty)', '80 03 616263'],
  ['Insert with Literal Name', '43 616263 03 78797a'],
  ['Duplicate of entry 0 (nothing to duplicate: never inserted, or evicted)', '00'],
  ['Set Dynamic Table Capacity 0, then an insertion (an entry larger than the capacity)', '20 43 616263 03 78797a'],
] as const) {
  test(`RFC 9204 §4.3, §3.2.2: ${what} on the encoder stream is QPACK_ENCODER_STREAM_ERROR`, async (t) => {
    const peer = await probeServer(t);
    peer.openUni(S.ENCODER, hex(instr));
    t.deepEqual(await peer.verdict(), close('QPACK_ENCODER_STREAM_ERROR'));
  });
}

// =========================================================================================================
// 9. QPACK field sections (RFC 9204 §4.5, §4.1.1, §4.1.2; RFC 7541 §5.2).

// Found by this probe and fixed: decodeFieldSection read the Sign bit and Delta Base and ignored them, so a
// section whose Base is negative was decoded (the GET was answered 200). RFC 9204 §4.5.1.2: "The value of Base
// MUST NOT be negative ... An endpoint MUST treat a field block with a Sign bit of 1 as invalid if the value of
// Required Insert Count is less than or equal to the value of Delta Base": QPACK_DECOMPRESSION_FAILED (§2.2.3, §6).
test('RFC 9204 §4.5.1.2: a Sign bit of 1 with a Required Insert Count of 0 (a negative Base) is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headersBlock(bytes(hex('0080'), encodeFieldSection(GET).subarray(2)))]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

test('RFC 9204 §4.1.1: a Delta Base past 62 bits is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headersBlock(bytes(hex('00 7f ffffffffffffffffff 7f'), encodeFieldSection(GET).subarray(2)))]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

test('RFC 9204 §4.1.1: a prefixed integer whose continuation runs past the end of the field section is QPACK_DECOMPRESSION_FAILED', async (t) => {
  const peer = await probeServer(t);
  peer.request$([headersBlock(hex('0000 ff 80'))]);
  t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
});

/** A literal field line with a literal name (RFC 9204 §4.5.6): name and value as given, each with its H bit. */
const literal = (name: Uint8Array, nameHuffman: boolean, value: Uint8Array, valueHuffman: boolean) => {
  if (name.length >= 7 || value.length >= 127) throw new RangeError('short strings only');
  return bytes([0x20 | (nameHuffman ? 0x08 : 0) | name.length], name, [(valueHuffman ? 0x80 : 0) | value.length], value);
};
/** A literal with the static name reference 1 (:path) and a Huffman-coded value (RFC 9204 §4.5.4). */
const pathHuffman = (huffmanBytes: Uint8Array) => bytes([0x51, 0x80 | huffmanBytes.length], huffmanBytes);

for (const [what, lines] of [
  ['a Huffman-coded field name whose padding is not all ones', literal(bitBytes(huffmanBits('x-a'), '0'), true, utf8('1'), false)],
  ['a Huffman string with EOS between two symbols', pathHuffman(bitBytes(huffmanBits('a', EOS, 'a')))],
  ['a Huffman-coded field name of one 0xff byte (8 bits of padding, no symbol)', literal(Uint8Array.of(0xff), true, utf8('1'), false)],
] as const) {
  test(`RFC 9204 §4.1.2, RFC 7541 §5.2: ${what} is QPACK_DECOMPRESSION_FAILED`, async (t) => {
    const peer = await probeServer(t);
    peer.request$([headersBlock(bytes(encodeFieldSection(GET), lines))]);
    t.deepEqual(await peer.verdict(), close('QPACK_DECOMPRESSION_FAILED'));
  });
}

test('RFC 7541 §5.2: a Huffman string with exactly 7 bits of all-ones padding decodes (the request is served)', async (t) => {
  const bits = huffmanBits('aaaaa');
  t.is(bits.length % 8, 1, '25 bits of code: 7 bits of padding');
  await assertServed(t, [headersBlock(bytes(encodeFieldSection(GET), literal(utf8('x-a'), false, bitBytes(bits), true)))]);
});

// =========================================================================================================
// 10. The QPACK decoder stream, and what the server writes on its own QPACK streams (RFC 9204 §4.1.1, §4.4).

// Found by this probe and fixed: DecoderStreamChecker followed a Stream Cancellation's continuation bytes without
// bounding them, so a stream id far past 2^62 was accepted; RFC 9204 §4.1.1 bounds QPACK integers to 62 bits and
// RFC 7541 §5.1 makes an integer past the implementation's limit a decoding error: QPACK_DECODER_STREAM_ERROR (§6).
test('RFC 9204 §4.1.1, §4.4.2: a Stream Cancellation whose stream id runs past 62 bits is QPACK_DECODER_STREAM_ERROR', async (t) => {
  const peer = await probeServer(t);
  peer.openUni(S.DECODER, hex('7f ffffffffffffffffff 7f'));
  t.deepEqual(await peer.verdict(), close('QPACK_DECODER_STREAM_ERROR'));
});

test('RFC 9204 §4.4.1, §4.3.1: for field sections with Required Insert Count 0 the server sends no Section Acknowledgment or Insert Count Increment, and no encoder instruction but Set Dynamic Table Capacity 0', async (t) => {
  const peer = await probeServer(t);
  t.deepEqual(await peer.verdict(), OPEN);
  const decoder = concatBytes((await peer.uniOfType(S.DECODER)).chunks);
  for (let at = 0; at < decoder.length; ) {
    t.is(decoder[at]! & 0xc0, 0x40, `decoder instruction 0x${decoder[at]!.toString(16)} at ${at} is a Stream Cancellation`);
    at = prefixInt(decoder, at, 6)?.next ?? decoder.length;
  }
  const encoder = concatBytes((await peer.uniOfType(S.ENCODER)).chunks);
  t.true(encoder.every((b) => b === 0x20), `encoder stream: ${Buffer.from(encoder).toString('hex')}`);
});

test('RFC 9204 §4.4.2: after the client resets a request stream, the server\'s decoder stream carries nothing but Stream Cancellations for it (which capacity 0 lets it omit)', async (t) => {
  const peer = await probeServer(t);
  const s = peer.request$([headers(POST_ECHO)], false);
  s.reset(H3ErrorCode.H3_REQUEST_CANCELLED);
  t.deepEqual(await peer.verdict(), OPEN);
  const decoder = concatBytes((await peer.uniOfType(S.DECODER)).chunks);
  for (let at = 0; at < decoder.length; ) {
    t.is(decoder[at]! & 0xc0, 0x40, `decoder instruction 0x${decoder[at]!.toString(16)} at ${at} is a Stream Cancellation`);
    const id = prefixInt(decoder, at, 6);
    t.is(id?.value, BigInt(s.id), 'the cancelled stream is the one reset');
    at = id?.next ?? decoder.length;
  }
});

// =========================================================================================================
// 11. SETTINGS_MAX_FIELD_SECTION_SIZE, exactly (RFC 9114 §4.2.2: names, values, 32 bytes a line).

/** A GET padded with an `x-pad` field to a field section size of exactly `size`. */
function getOfSize(size: number): H3Field[] {
  const base = fieldSectionSize(get([['x-pad', '']]));
  const fields = get([['x-pad', 'p'.repeat(size - base)]]);
  if (fieldSectionSize(fields) !== size) throw new Error('padding arithmetic');
  return fields;
}

test('RFC 9114 §4.2.2: a request field section of exactly the advertised SETTINGS_MAX_FIELD_SECTION_SIZE is served', async (t) => {
  await assertServed(t, [headers(getOfSize(SERVER_MAX_FIELD_SECTION))]);
});

test('RFC 9114 §4.2.2: a request field section one byte over the advertised size is refused (stream error or 431), the connection goes on', async (t) => {
  const peer = await probeServer(t);
  const got = await peer.outcome(peer.request$([headers(getOfSize(SERVER_MAX_FIELD_SECTION + 1))]));
  t.true((got.kind === 'reset' && BOUNDED_STREAM.includes(got.code)) || (got.kind === 'response' && got.status === 431), JSON.stringify(got));
  t.deepEqual(await peer.verdict(), OPEN);
});

test('RFC 9114 §4.2.2: trailers over the advertised field section size are a stream error, the connection goes on', async (t) => {
  const peer = await probeServer(t);
  const got = await peer.outcome(peer.request$([headers(POST_ECHO), data('x'), headers([['x-big', 'b'.repeat(SERVER_MAX_FIELD_SECTION)]])]));
  t.true(got.kind === 'reset' && BOUNDED_STREAM.includes(got.code), JSON.stringify(got));
  t.deepEqual(await peer.verdict(), OPEN);
});

// =========================================================================================================
// 12. rxtls as the client (RFC 9114 §4.1, §4.1.2, §4.2.2, §6.2.1, §7.2.4; RFC 9204 §4.3).

const okHead = (extra: H3Field[] = []) => headers([[':status', '200'], ...extra]);

test('RFC 9114 §4.1.2, RFC 9110 §9.3.2: a HEAD response with content-length 1000 and no DATA is accepted (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? okHead([['content-length', '1000']]) : OK_ANSWER);
  });
  t.deepEqual(await clientGet(ct, { method: 'HEAD' }), response(200, ''));
  t.deepEqual(await clientVerdict(ct), OPEN);
});

for (const [what, answer] of [
  ['a body longer than content-length', bytes(okHead([['content-length', '1']]), data('ok'))],
  ['trailers carrying :status', bytes(okHead([['content-length', '2']]), data('ok'), headers([[':status', '200']]))],
] as const) {
  test(`RFC 9114 §4.1.2: a response with ${what} is malformed: the client resets the stream with H3_MESSAGE_ERROR`, async (t) => {
    const ct = await probeClient(t, (peer) => {
      peer.answer = (n) => (n === 0 ? answer : OK_ANSWER);
      peer.finAnswer = (n) => n !== 0; // left open: the client's STOP_SENDING then reaches a stream still sending
    });
    t.deepEqual(await clientGet(ct), reset('H3_MESSAGE_ERROR'));
    t.deepEqual(await clientVerdict(ct), OPEN);
  });
}

test('RFC 9114 §4.1.2: a response body shorter than content-length at the FIN is malformed: the client fails the stream with H3_MESSAGE_ERROR', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? bytes(okHead([['content-length', '5']]), data('ok')) : OK_ANSWER);
  });
  t.deepEqual(await clientGet(ct, { wire: false }), reset('H3_MESSAGE_ERROR'));
  t.deepEqual(await clientVerdict(ct), OPEN);
});

test('RFC 9114 §4.1: a DATA frame after the response trailers is H3_FRAME_UNEXPECTED (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? bytes(okHead(), data('ok'), headers([['x-t', '1']]), data('late')) : OK_ANSWER);
  });
  t.deepEqual(await clientVerdict(ct), close('H3_FRAME_UNEXPECTED'));
});

test('RFC 9114 §4.2.2: a response field section over the client\'s own SETTINGS_MAX_FIELD_SECTION_SIZE (300) is a stream error, the connection goes on', async (t) => {
  const ct = await probeClient(
    t,
    (peer) => {
      peer.answer = (n) => (n === 0 ? okHead([['x-big', 'b'.repeat(1000)]]) : OK_ANSWER);
      peer.finAnswer = (n) => n !== 0;
    },
    { maxFieldSectionSize: 300 },
  );
  const got = await clientGet(ct);
  t.true(got.kind === 'reset' && BOUNDED_STREAM.includes(got.code), JSON.stringify(got));
  t.deepEqual(await clientVerdict(ct), OPEN);
});

test('RFC 9114 §7.2.4.1: the HTTP/2 setting 0x03 in the server\'s SETTINGS is H3_SETTINGS_ERROR (client)', async (t) => {
  const ct = await probeClient(t, (peer) => peer.openControl(settings([0x03, 100])), { control: false });
  t.deepEqual(await clientVerdict(ct), close('H3_SETTINGS_ERROR'));
});

test('RFC 9204 §4.3.2, §3.2.3: an insertion on the server\'s encoder stream, the client\'s capacity being 0, is QPACK_ENCODER_STREAM_ERROR (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.beforeAnswer = (n) => {
      if (n === 0) peer.openUni(S.ENCODER, hex('43 616263 03 78797a'));
    };
  });
  t.deepEqual(await clientVerdict(ct), close('QPACK_ENCODER_STREAM_ERROR'));
});

// Found by this probe and fixed: the client's side of the negative-Base probe above: decodeFieldSection ignored
// the Sign bit and Delta Base, so the response was accepted; RFC 9204 §4.5.1.2 makes the block invalid:
// QPACK_DECOMPRESSION_FAILED.
test('RFC 9204 §4.5.1.2: a response whose field section has a negative Base is QPACK_DECOMPRESSION_FAILED (client)', async (t) => {
  const ct = await probeClient(t, (peer) => {
    peer.answer = (n) => (n === 0 ? bytes(headersBlock(bytes(hex('0081'), encodeFieldSection([[':status', '200'], ['content-length', '2']]).subarray(2))), data('ok')) : OK_ANSWER);
  });
  t.deepEqual(await clientVerdict(ct), close('QPACK_DECOMPRESSION_FAILED'));
});
