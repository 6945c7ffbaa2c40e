/**
 * The public API against hostile or mistaken application input (the protocol probes' counterpart for the
 * application side). The rule: bad input gets a typed error — a `TlsError` of kind `apiMisuse` naming the option
 * or the call, thrown at once or emitted — or the documented behaviour; never a raw TypeError/RangeError from
 * inside, a hang, unbounded memory, an error sent to the peer for our own mistake, or an exception that escapes
 * to the process.
 *
 * Probed: the three reducers (`createConnection`/`handleEvents`, `createDtlsConnection`/`handleDtlsEvents`,
 * `createQuicConnection`/`handleQuicEvents`) with invalid numbers, wrong types, inputs in the wrong order and
 * clocks that go backwards or are NaN; the RxJS entry points (`secure`, `connect`, `listen`, `secureDatagrams`,
 * `dtlsConnect`, `dtlsListen`, `quicConnect`, `quicListen`) with invalid options, certificates and keys, misused
 * connection methods, one-shot things used twice, and application callbacks that throw.
 *
 * Every probe asserts the typed behaviour. A probe that found a deviation says so in its comment ("found by this
 * probe and fixed"), with what the code did; the fixes are the shared validators in src/core/validate.ts and
 * src/quic/checks.ts and the callback policies of src/rx/callbacks.ts. Sockets: 127.0.0.1 only, with bounded waits.
 * Tests that watch for exceptions escaping to the process are serial: they swap the process's `uncaughtException` /
 * `unhandledRejection` listeners and RxJS's `onUnhandledError` for the time of the probe, so that an escape is
 * recorded instead of killing the test worker.
 */
import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import {
  NEVER,
  type Observable,
  type SchedulerLike,
  Subscription,
  config as rxConfig,
  firstValueFrom,
  map,
  of,
  race,
  timeout,
  timer,
} from 'rxjs';
import { secure } from '../../operators/secure.js';
import { secureDatagrams } from '../../operators/secureDatagrams.js';
import { TlsError } from '../../src/core/errors.js';
import { createConnection, handleEvents, nextTimeout, type TlsState } from '../../src/tls/connection.js';
import { createDtlsConnection, handleDtlsEvents, nextDtlsTimeout } from '../../src/dtls/connection.js';
import { createQuicConnection, handleQuicEvents, nextQuicTimeout, type QuicConfig } from '../../src/quic/connection.js';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import { dtlsConnect, dtlsListen } from '../../src/rx/dtls.js';
import { quicConnect, quicListen, type QuicConnection } from '../../src/rx/quic.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { memoryDatagramPair } from '../../src/rx/datagram.js';
import { toClientConfig } from '../../src/rx/options.js';
import type { ByteDuplex, TlsConnection } from '../../src/rx/types.js';
import type { DtlsConnection } from '../../src/rx/dtlsTypes.js';
import { Pair, NOW, caVerifier, serverCredentials } from '../helpers/pair.js';
import { DtlsPair, clientConfig as dtlsClientConfig } from '../helpers/dtlsPair.js';
import { QuicPair } from '../helpers/quicPair.js';
import { ca, cert, enc, key, otherCa } from '../helpers/fixtures.js';

// ── helpers ─────────────────────────────────────────────────────────────────────────────────────────

/** The longest delay `setTimeout` holds (Node clamps longer ones to 1 ms, and a re-armed timer then spins). */
const MAX_TIMER_DELAY = 2 ** 31 - 1;
/** Bound on waits for sockets (never a timing assertion: only how long we wait before calling it a hang). */
const WAIT_MS = 5_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const boom = (): never => {
  throw new Error('boom from the application');
};

function describeError(err: unknown): string {
  if (err instanceof TlsError) return `TlsError(${err.kind}): ${err.message}`;
  if (err instanceof Error) return `${err.constructor.name}: ${err.message}`;
  return err === undefined ? 'no error' : `a non-error: ${String(err)}`;
}

function thrown(f: () => unknown): unknown {
  try {
    f();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** `err` is a `TlsError` of kind `apiMisuse` whose message names `option`. */
function assertMisuse(t: ExecutionContext, err: unknown, option: RegExp, what = ''): void {
  t.true(err instanceof TlsError, `${what}: expected a TlsError (apiMisuse), got ${describeError(err)}`);
  if (!(err instanceof TlsError)) return;
  t.is(err.kind, 'apiMisuse', `${what}: ${err.message}`);
  t.regex(err.message, option, what);
}

const misuseThrown = (t: ExecutionContext, f: () => unknown, option: RegExp, what = '') => assertMisuse(t, thrown(f), option, what);

/**
 * API misuse thrown by the call that makes the Observable, or emitted synchronously by its first subscription
 * (both are "early": before anything goes on the wire for it).
 */
function misuseEarly(t: ExecutionContext, make: () => Observable<unknown>, option: RegExp, what = ''): void {
  let err: unknown;
  const atCall = thrown(() => {
    const sub = make().subscribe({ error: (e: unknown) => (err = e) });
    sub.unsubscribe();
  });
  assertMisuse(t, atCall ?? err, option, what);
}

/** A byte duplex whose peer never answers: it records what is written, and whether it was ended or destroyed. */
function silentDuplex(): ByteDuplex & { readonly written: Uint8Array[]; destroyed: boolean } {
  const d = {
    written: [] as Uint8Array[],
    destroyed: false,
    incoming$: NEVER as Observable<Uint8Array>,
    drain$: NEVER as Observable<void>,
    write: (chunk: Uint8Array) => {
      d.written.push(chunk);
      return true;
    },
    end: () => undefined,
    destroy: () => {
      d.destroyed = true;
    },
  };
  return d;
}

/** A scheduler that records the delays it is asked for and never runs anything (no real timer is armed). */
function recordingScheduler(): SchedulerLike & { readonly delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => Date.now(),
    schedule: (_work: unknown, delay = 0) => {
      delays.push(delay);
      return new Subscription();
    },
  } as SchedulerLike & { readonly delays: number[] };
}

/** A TLS client and server over a synchronous memory pipe (the handshake completes inside the call). */
interface RxTlsPair {
  client?: TlsConnection;
  server?: TlsConnection;
  clientError?: unknown;
  serverError?: unknown;
  close(): void;
}
function rxTlsPair(client: object = {}, server: object = {}): RxTlsPair {
  const [c, s] = memoryDuplexPair();
  const subs: Subscription[] = [];
  const p: RxTlsPair = {
    close: () => {
      p.client?.close();
      p.server?.close();
      for (const sub of subs) sub.unsubscribe();
    },
  };
  subs.push(of(s).pipe(secure({ role: 'server', cert, key, ...server } as never)).subscribe({ next: (x) => (p.server = x), error: (e: unknown) => (p.serverError = e) }));
  subs.push(
    of(c)
      .pipe(secure({ role: 'client', ca, servername: 'localhost', ...client } as never))
      .subscribe({ next: (x) => (p.client = x), error: (e: unknown) => (p.clientError = e) }),
  );
  return p;
}

/** A DTLS client and server over a synchronous in-memory datagram link. */
function rxDtlsPair(): { client: DtlsConnection; server: DtlsConnection; close(): void } {
  const [c, s] = memoryDatagramPair();
  let client: DtlsConnection | undefined;
  let server: DtlsConnection | undefined;
  const subs = [
    of(s).pipe(secureDatagrams({ role: 'server', cert, key })).subscribe({ next: (x) => (server = x), error: () => undefined }),
    of(c).pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost' })).subscribe({ next: (x) => (client = x), error: () => undefined }),
  ];
  if (!client || !server) throw new Error('the DTLS memory handshake did not complete');
  return {
    client,
    server,
    close: () => {
      client!.close('abort');
      server!.close('abort');
      for (const sub of subs) sub.unsubscribe();
    },
  };
}

/** What an Observable did, synchronously: values, then `error:<kind or class>` or `complete`. */
function record(o: Observable<unknown>): string[] {
  const events: string[] = [];
  o.subscribe({
    next: () => events.push('next'),
    error: (e: unknown) => events.push(`error:${e instanceof TlsError ? e.kind : e instanceof Error ? e.constructor.name : String(e)}`),
    complete: () => events.push('complete'),
  }).unsubscribe();
  return events;
}

/**
 * Run `body` with every escape route to the process recorded instead of fatal: `uncaughtException`,
 * `unhandledRejection` and RxJS's `onUnhandledError` (what a throwing subscriber callback becomes; without a
 * handler RxJS rethrows it from a timer, which kills the process). Serial tests only.
 */
async function escapes(body: () => Promise<void> | void, settleMs = 250): Promise<unknown[]> {
  const escaped: unknown[] = [];
  const recordEscape = (err: unknown) => void escaped.push(err);
  const saved = {
    uncaught: process.listeners('uncaughtException'),
    rejection: process.listeners('unhandledRejection'),
    rx: rxConfig.onUnhandledError,
  };
  process.removeAllListeners('uncaughtException');
  process.removeAllListeners('unhandledRejection');
  process.on('uncaughtException', recordEscape);
  process.on('unhandledRejection', recordEscape);
  rxConfig.onUnhandledError = recordEscape;
  try {
    await body();
    await sleep(settleMs);
  } finally {
    process.removeListener('uncaughtException', recordEscape);
    process.removeListener('unhandledRejection', recordEscape);
    for (const l of saved.uncaught) process.on('uncaughtException', l);
    for (const l of saved.rejection) process.on('unhandledRejection', l);
    rxConfig.onUnhandledError = saved.rx;
  }
  return escaped;
}

const noEscapes = (t: ExecutionContext, escaped: unknown[], what: string) =>
  t.deepEqual(escaped.map(describeError), [], `${what}: nothing may escape to the process`);

/** A TCP port nobody listens on (bound, then released). */
function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A UDP port nobody listens on (bound, then released). */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** A `listen` server on a free port; resolves with the port once bound. */
function listening(options: object): Promise<{ port: number; sub: Subscription }> {
  return new Promise((resolve) => {
    const sub: Subscription = listen({ port: 0, cert, key, ...options, onListening: (a) => resolve({ port: a.port, sub }) }).subscribe({ error: () => undefined });
  });
}

/** An echoing QUIC listener and a client connection to it over loopback. */
async function quicLive(t: ExecutionContext, client: object = {}): Promise<QuicConnection> {
  const l = await quicListen({ cert, key, alpn: ['x'] });
  l.connections.subscribe((conn) => conn.incoming$.subscribe((s) => s.data$.subscribe({ next: (d) => s.write(d), complete: () => s.end(), error: () => undefined })));
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: l.port, ca, servername: 'localhost', alpn: ['x'], ...client } as never).pipe(timeout(WAIT_MS)),
  );
  t.teardown(async () => {
    conn.close({ rapid: true });
    await l.close();
  });
  return conn;
}

/** `'open'` if `conn.closed$` has not ended within `ms`, else how it ended. */
function fateWithin(conn: { readonly closed$: Observable<never> }, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const done = setTimeout(() => {
      sub.unsubscribe();
      resolve('open');
    }, ms);
    const sub = conn.closed$.subscribe({
      error: (e: unknown) => {
        clearTimeout(done);
        resolve(`closed with ${describeError(e)}`);
      },
      complete: () => {
        clearTimeout(done);
        resolve('closed');
      },
    });
  });
}

/** Effects as `type` or `closed:<kind>` (for assertion messages). */
const effectTypes = (effects: readonly { readonly type: string; readonly error?: unknown }[]) =>
  effects.map((e) => (e.type === 'closed' && e.error ? `closed:${(e.error as TlsError).kind}` : e.type));

const tlsClient = () => createConnection({ role: 'client', serverName: 'localhost', verifier: caVerifier() });
const tlsServerConfig = () => ({ role: 'server' as const, ...serverCredentials() });
const dtlsClient = () => createDtlsConnection(dtlsClientConfig());
const quicClientConfig = (extra: Partial<QuicConfig> = {}): QuicConfig => ({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] }, ...extra });
const quicClient = (extra: Partial<QuicConfig> = {}) => createQuicConnection(quicClientConfig(extra));

/** A QUIC pair whose handshake completed (both sides connected). */
function quicUp(client: Partial<QuicConfig> = {}): QuicPair {
  const p = new QuicPair(client);
  p.start();
  p.drive(p.now + 5_000, () => p.state.client.phase === 'connected' && p.state.server.phase === 'connected');
  return p;
}

/** A Uint8Array subclass that claims 2^31 + 1 elements but holds 16 bytes (nothing huge is allocated). */
class LyingBytes extends Uint8Array {}
Object.defineProperty(LyingBytes.prototype, 'length', { get: () => 2 ** 31 + 1 });
const lyingBytes = (): Uint8Array => new LyingBytes(16).fill(7);

/** A view whose buffer was transferred away (detached: length 0, and `set` on it throws). */
function detachedBytes(): Uint8Array {
  const buffer = new ArrayBuffer(16);
  const view = new Uint8Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  return view;
}

/** Values that are not bytes, as an application might pass them by mistake. */
const NOT_BYTES: readonly (readonly [string, unknown])[] = [
  ['a string', 'hello'],
  ['an ArrayBuffer', new ArrayBuffer(8)],
  ['a DataView', new DataView(new ArrayBuffer(8))],
  ['a number', 42],
  ['null', null],
  ['an array of numbers', [1, 2, 3]],
  ['a Uint16Array', new Uint16Array(4)],
];

// ── TLS reducer: createConnection / handleEvents ────────────────────────────────────────────────────

test('TLS core: the record settings it checks refuse NaN, zero, negatives, fractions and huge values, naming the option', (t) => {
  const cases: [string, object, RegExp][] = [
    ['handshakeTimeout NaN', { handshakeTimeout: Number.NaN }, /handshakeTimeout/],
    ['handshakeTimeout 0', { handshakeTimeout: 0 }, /handshakeTimeout/],
    ['handshakeTimeout -1', { handshakeTimeout: -1 }, /handshakeTimeout/],
    ['maxSendFragment 511', { maxSendFragment: 511 }, /maxSendFragment/],
    ['maxSendFragment 1000.5', { maxSendFragment: 1000.5 }, /maxSendFragment/],
    ['maxSendFragment NaN', { maxSendFragment: Number.NaN }, /maxSendFragment/],
    ['splitSendFragment -5', { splitSendFragment: -5 }, /splitSendFragment/],
    ['splitSendFragment 0.5', { splitSendFragment: 0.5 }, /splitSendFragment/],
    ['maxPipelines NaN', { maxPipelines: Number.NaN }, /maxPipelines/],
    ['maxPipelines 0', { maxPipelines: 0 }, /maxPipelines/],
    ['maxPipelines 1.5', { maxPipelines: 1.5 }, /maxPipelines/],
    ['maxPipelines 1e9', { maxPipelines: 1e9 }, /maxPipelines/],
    ['maxHandshakeMessage 100', { maxHandshakeMessage: 100 }, /maxHandshakeMessage/],
    ['maxHandshakeMessage 2^40', { maxHandshakeMessage: 2 ** 40 }, /maxHandshakeMessage/],
    ['minRsaBits NaN', { minRsaBits: Number.NaN }, /minRsaBits/],
    ['recordSizeLimit 63.5', { recordSizeLimit: 63.5 }, /recordSizeLimit/],
    ['recordSizeLimit 1e6', { recordSizeLimit: 1e6 }, /recordSizeLimit/],
  ];
  for (const [what, extra, re] of cases) misuseThrown(t, () => createConnection({ ...tlsServerConfig(), ...extra }), re, what);
  // A fractional split that is in range is accepted and cuts correctly: every byte arrives once, in order.
  const p = new Pair({}, { splitSendFragment: 600.5 }).start().drive();
  const data = new Uint8Array(2_000).map((_, i) => i & 0xff);
  p.input('server', { type: 'write', now: p.now, data });
  p.drive();
  t.deepEqual(Buffer.concat(p.delivered.client), Buffer.from(data));
});

// Found by this probe and fixed: createConnection left three record settings unchecked. `splitSendFragment: NaN`
// passed (only `< 1` was checked, and NaN < 1 is false): every write was then cut with a NaN step — `subarray(0,
// NaN)` is empty and the loop ended — so the application's bytes silently vanished (2000 bytes written, an empty
// record sent, 0 delivered, no error). `keyUpdateAfter` was not checked at all: with NaN or 'x' the test `used >=
// keyUpdateAfter` was never true, so the automatic KeyUpdate before the AEAD limit (RFC 8446 §5.5) was silently
// off; 0 or -1 rekeyed before every write. `handshakeTimeout: '100'` passed `> 0`, and the deadline became `now +
// '100'` (string concatenation): the timer was armed ~1.8e15 ms out and a stalled handshake never timed out. Now
// apiMisuse naming each option.
test('TLS core: splitSendFragment NaN, keyUpdateAfter of any kind and a string handshakeTimeout are refused', (t) => {
  misuseThrown(t, () => createConnection({ ...tlsServerConfig(), splitSendFragment: Number.NaN }), /splitSendFragment/, 'splitSendFragment NaN');
  for (const bad of [Number.NaN, 'x', -1, 0, 1.5, Infinity]) {
    misuseThrown(t, () => createConnection({ ...tlsServerConfig(), keyUpdateAfter: bad as never }), /keyUpdateAfter/, `keyUpdateAfter ${String(bad)}`);
  }
  misuseThrown(t, () => createConnection({ ...tlsServerConfig(), handshakeTimeout: '100' as never }), /handshakeTimeout/, "handshakeTimeout '100'");
});

// Found by this probe and fixed: the core's recordSizeLimit check was `< 64 || > 16385`, so NaN and fractions
// (100.5) passed; the ClientHello/EncryptedExtensions then could not encode it and the handshake died with an
// internal error and an internal_error alert sent to the peer ("record_size_limit NaN outside 64..65535"). Now
// apiMisuse naming recordSizeLimit at createConnection.
test('TLS core: recordSizeLimit NaN or fractional is refused before any handshake', (t) => {
  for (const bad of [Number.NaN, 100.5]) {
    misuseThrown(t, () => createConnection({ role: 'client', serverName: 'localhost', verifier: caVerifier(), recordSizeLimit: bad }), /recordSizeLimit/, String(bad));
  }
});

test('TLS core: inputs in the wrong order are API misuse or documented no-ops', (t) => {
  misuseThrown(t, () => handleEvents(tlsClient(), { type: 'received', now: NOW, data: new Uint8Array(5) }), /before start/, 'received before start');
  misuseThrown(t, () => handleEvents(tlsClient(), { type: 'keyUpdate', now: NOW, requestPeer: false }), /KeyUpdate/, 'keyUpdate before start');
  const started = handleEvents(tlsClient(), { type: 'start', now: NOW }).state;
  misuseThrown(t, () => handleEvents(started, { type: 'start', now: NOW }), /already started/, 'start twice');
  misuseThrown(t, () => handleEvents(started, { type: 'keyUpdate', now: NOW, requestPeer: true }), /KeyUpdate/, 'keyUpdate during the handshake');
  misuseThrown(t, () => handleEvents(started, { type: 'bogus', now: NOW } as never), /unknown input/, 'unknown input type');
  misuseThrown(t, () => handleEvents(started, { type: 'cryptoDone', now: NOW, jobId: 99, results: [] }), /crypto job/, 'cryptoDone for no job');
  t.deepEqual(effectTypes(handleEvents(tlsClient(), { type: 'timeout', now: NOW }).effects), [], 'timeout before start: nothing');
  // Data and end written before start are held, and go out once the handshake completes (in order).
  const p = new Pair();
  p.input('client', { type: 'write', now: p.now, data: Uint8Array.of(1, 2, 3) });
  p.input('client', { type: 'end', now: p.now });
  p.start().drive();
  t.deepEqual([...Buffer.concat(p.delivered.server)], [1, 2, 3]);
  t.true(p.of('server', 'peerClosed').length === 1, 'the held end became close_notify');
});

test('TLS core: after end or close, writes and key updates are API misuse; close and end again are harmless', (t) => {
  const p = new Pair().start().drive();
  p.input('client', { type: 'end', now: p.now });
  t.deepEqual(effectTypes(p.input('client', { type: 'end', now: p.now })), [], 'end twice');
  misuseThrown(t, () => p.input('client', { type: 'write', now: p.now, data: new Uint8Array(1) }), /after the output was ended/, 'write after end');
  misuseThrown(t, () => p.input('client', { type: 'keyUpdate', now: p.now, requestPeer: false }), /close_notify/, 'keyUpdate after end');
  p.input('client', { type: 'close', now: p.now, mode: 'abort' });
  t.deepEqual(effectTypes(p.input('client', { type: 'close', now: p.now, mode: 'abort' })), [], 'close twice');
  t.deepEqual(effectTypes(p.input('client', { type: 'close', now: p.now, mode: 'shutdown' })), [], 'close in another mode after close');
  misuseThrown(t, () => p.input('client', { type: 'write', now: p.now, data: new Uint8Array(1) }), /closed/, 'write after close');
  misuseThrown(t, () => p.input('client', { type: 'keyUpdate', now: p.now, requestPeer: true }), /closed/, 'keyUpdate after close');
});

test('TLS core: a timeout input whose now goes backwards, or is NaN, changes nothing; the real deadline still fires', (t) => {
  const started = handleEvents(tlsClient(), { type: 'start', now: NOW }).state;
  const deadline = nextTimeout(started);
  t.is(deadline, NOW + 30_000);
  let s: TlsState = started;
  for (const now of [NOW - 1e9, NOW - 1, Number.NaN]) {
    const step = handleEvents(s, { type: 'timeout', now });
    t.deepEqual(effectTypes(step.effects), [], String(now));
    t.is(nextTimeout(step.state), deadline, String(now));
    s = step.state;
  }
  t.deepEqual(effectTypes(handleEvents(s, { type: 'timeout', now: deadline! }).effects), ['closed:handshakeTimeout']);
});

// Found by this probe and fixed: `start` with `now: NaN` (or without `now`) was accepted: the handshake deadline
// became NaN, `nextTimeout` answered undefined ("no timer"), and a handshake whose peer never answered waited
// forever — the handshakeTimeout the application configured never fired. Now apiMisuse naming `now` on any input
// whose now is not finite.
test('TLS core: an input whose now is NaN or missing is refused instead of disabling the handshake deadline', (t) => {
  misuseThrown(t, () => handleEvents(tlsClient(), { type: 'start', now: Number.NaN }), /now/, 'NaN');
  misuseThrown(t, () => handleEvents(tlsClient(), { type: 'start' } as never), /now/, 'missing');
});

// Found by this probe and fixed: `close` with an unknown mode reached `assertNever`, whose plain Error the reducer
// turned into an internal failure: the connection was torn down and a fatal internal_error alert was SENT TO THE
// PEER for the application's mistake (effects: transmit, alertSent, closed:internal). Now apiMisuse thrown, nothing
// sent, state unchanged (as in the DTLS reducer).
test('TLS core: close with an unknown mode is API misuse and sends nothing', (t) => {
  const p = new Pair().start().drive();
  const before = p.client;
  misuseThrown(t, () => handleEvents(before, { type: 'close', now: p.now, mode: 'bogus' as never }), /mode/);
});

// Found by this probe and fixed: the TLS reducer did not check what a `write` carried. A string, an array or null
// was caught as an internal error: the connection was torn down with a fatal internal_error alert SENT TO THE PEER
// ("data.subarray is not a function"). An ArrayBuffer, a DataView or a number was accepted and silently dropped
// (its `.length` is undefined: no record, no error, nothing delivered); a Uint16Array(4) was cut to 4 of its 8
// bytes. A Uint8Array subclass whose `length` claims 2^31 + 1 made handleEvents throw a raw RangeError ("Invalid
// typed array length: 281477127208983") from the flight assembly, outside the reducer's try/catch. Now apiMisuse
// for anything but a Uint8Array whose length is its byte length, the connection left as it was.
test('TLS core: writing anything but a Uint8Array (or one with a lying length) is API misuse', (t) => {
  for (const [what, data] of [...NOT_BYTES, ['a Uint8Array claiming 2^31 + 1 elements', lyingBytes()] as const]) {
    const p = new Pair().start().drive();
    misuseThrown(t, () => p.input('client', { type: 'write', now: p.now, data: data as never }), /write|Uint8Array|data|length/, what);
    t.is(p.client.phase, 'connected', what);
  }
});

test('TLS core: empty, SharedArrayBuffer-backed and detached writes are harmless', (t) => {
  const p = new Pair().start().drive();
  t.deepEqual(effectTypes(p.input('client', { type: 'write', now: p.now, data: new Uint8Array(0) })), [], 'an empty write sends nothing');
  const shared = new Uint8Array(new SharedArrayBuffer(10)).fill(9);
  p.input('client', { type: 'write', now: p.now, data: shared });
  p.input('client', { type: 'write', now: p.now, data: detachedBytes() });
  p.drive();
  t.deepEqual([...Buffer.concat(p.delivered.server)], new Array(10).fill(9));
  t.is(p.client.phase, 'connected');
  t.is(p.closedError('server'), undefined);
});

// Found by this probe and fixed: a `received` input whose data was a string or null was treated as a peer fault of
// our own making: the connection was torn down and an internal_error alert was sent, though it was the transport
// adapter that misused the API. And `handleEvents(state, null)` threw a raw TypeError ("Cannot read properties of
// null (reading 'now')"). Now apiMisuse thrown, nothing sent.
test('TLS core: received data that is not bytes, and a null input, are API misuse', (t) => {
  for (const data of ['abc', null]) {
    const p = new Pair().start().drive();
    misuseThrown(t, () => p.input('client', { type: 'received', now: p.now, data: data as never }), /received|Uint8Array|data/, String(data));
  }
  misuseThrown(t, () => handleEvents(tlsClient(), null as never), /input/, 'null input');
});

// ── DTLS reducer: createDtlsConnection / handleDtlsEvents ───────────────────────────────────────────

test('DTLS core: every record setting refuses NaN, zero, negatives, out-of-range and huge values, naming it', (t) => {
  const cases: [object, RegExp][] = [
    [{ mtu: Number.NaN }, /mtu/],
    [{ mtu: 0 }, /mtu/],
    [{ mtu: 100 }, /mtu/],
    [{ mtu: 1e6 }, /mtu/],
    [{ mtu: Infinity }, /mtu/],
    [{ replayWindow: 33 }, /replayWindow/],
    [{ replayWindow: 4096 }, /replayWindow/],
    [{ replayWindow: Number.NaN }, /replayWindow/],
    [{ retransmitInitial: 0 }, /retransmitInitial/],
    [{ retransmitInitial: 5_000, retransmitMax: 1_000 }, /retransmitMax/],
    [{ handshakeTimeout: Infinity }, /handshakeTimeout/],
    [{ handshakeTimeout: -1 }, /handshakeTimeout/],
    [{ shutdownTimeout: Number.NaN }, /shutdownTimeout/],
    [{ maxPendingWrites: -1 }, /maxPendingWrites/],
    [{ keyUpdateAfter: 0 }, /keyUpdateAfter/],
    [{ keyUpdateAfter: Number.NaN }, /keyUpdateAfter/],
  ];
  for (const [extra, re] of cases) misuseThrown(t, () => createDtlsConnection(dtlsClientConfig(extra)), re, JSON.stringify(extra));
  t.is(createDtlsConnection(dtlsClientConfig({ mtu: 1300.7 })).config.mtu, 1300, 'a fractional MTU in range is floored');
});

test('DTLS core: inputs in the wrong order are API misuse or documented no-ops; a clock going backwards changes nothing', (t) => {
  misuseThrown(t, () => handleDtlsEvents(dtlsClient(), { type: 'write', now: NOW, data: new Uint8Array(5) }), /before start/, 'write before start');
  misuseThrown(t, () => handleDtlsEvents(dtlsClient(), { type: 'datagram', now: NOW, data: new Uint8Array(5) }), /before start/, 'datagram before start');
  misuseThrown(t, () => handleDtlsEvents(dtlsClient(), { type: 'keyUpdate', now: NOW, requestPeer: false }), /KeyUpdate/, 'keyUpdate before start');
  const started = handleDtlsEvents(dtlsClient(), { type: 'start', now: NOW }).state;
  misuseThrown(t, () => handleDtlsEvents(started, { type: 'start', now: NOW }), /already started/, 'start twice');
  misuseThrown(t, () => handleDtlsEvents(started, { type: 'close', now: NOW, mode: 'bogus' as never }), /close mode/, 'unknown close mode');
  misuseThrown(t, () => handleDtlsEvents(started, { type: 'bogus', now: NOW } as never), /unknown input/, 'unknown input');
  t.deepEqual(effectTypes(handleDtlsEvents(dtlsClient(), { type: 'close', now: NOW, mode: 'shutdown' }).effects), ['closed'], 'close before start');
  const p = new DtlsPair();
  p.start();
  p.run();
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  misuseThrown(t, () => p.input('client', { type: 'keyUpdate', requestPeer: false }), /KeyUpdate/, 'a second KeyUpdate before the ACK');
  p.input('client', { type: 'end' });
  t.deepEqual(effectTypes(p.input('client', { type: 'end' })), [], 'end twice');
  misuseThrown(t, () => p.input('client', { type: 'write', data: new Uint8Array(1) }), /after the output ended/, 'write after end');
  p.input('client', { type: 'close', mode: 'abort' });
  t.deepEqual(effectTypes(p.input('client', { type: 'close', mode: 'abort' })), [], 'close twice');
  misuseThrown(t, () => p.input('client', { type: 'write', data: new Uint8Array(1) }), /closed/, 'write after close');
  const deadline = nextDtlsTimeout(started);
  t.is(deadline, NOW + 1_000);
  for (const now of [NOW - 1e9, Number.NaN]) {
    const step = handleDtlsEvents(started, { type: 'timeout', now });
    t.deepEqual(effectTypes(step.effects), [], String(now));
    t.is(nextDtlsTimeout(step.state), deadline, String(now));
  }
});

// Found by this probe and fixed: `start` with `now: NaN` was accepted; the retransmission and handshake deadlines
// became NaN and `nextDtlsTimeout` answered undefined: a lost ClientHello was never retransmitted and the handshake
// never timed out (a hang). Now apiMisuse naming `now`.
test('DTLS core: start with now NaN is refused instead of leaving the handshake without deadlines', (t) => {
  misuseThrown(t, () => handleDtlsEvents(dtlsClient(), { type: 'start', now: Number.NaN }), /now/);
});

// Found by this probe and fixed: DTLS `write` copied with `Uint8Array.prototype.set`, which takes array-likes: the
// string 'hello' was delivered to the peer as a record of 5 ZERO bytes (data corruption), a Uint16Array(4) as 4 of
// its 8 bytes, an ArrayBuffer/DataView/number as nothing; null and a detached buffer threw raw TypeErrors ("Cannot
// read properties of null", "Cannot perform %TypedArray%.prototype.set on a detached ArrayBuffer"), and so did a
// `datagram` input whose data was null. Now apiMisuse for anything but a live Uint8Array.
test('DTLS core: writing a string, null, a detached buffer or other non-bytes, or a null datagram, is API misuse', (t) => {
  for (const [what, data] of [...NOT_BYTES, ['a detached buffer', detachedBytes()] as const]) {
    const p = new DtlsPair();
    p.start();
    p.run();
    misuseThrown(t, () => p.input('client', { type: 'write', data: data as never }), /write|Uint8Array|data/, what);
  }
  const started = handleDtlsEvents(dtlsClient(), { type: 'start', now: NOW }).state;
  misuseThrown(t, () => handleDtlsEvents(started, { type: 'datagram', now: NOW, data: null as never }), /datagram|Uint8Array|data/, 'a null datagram');
});

test('DTLS core: an empty write is one empty record; a shared-memory view is delivered; a lying length is refused', (t) => {
  const p = new DtlsPair();
  p.start();
  p.run();
  p.input('client', { type: 'write', data: new Uint8Array(0) });
  p.input('client', { type: 'write', data: new Uint8Array(new SharedArrayBuffer(4)).fill(5) });
  p.run();
  t.deepEqual(p.delivered.server.map((r) => [...r]), [[], [5, 5, 5, 5]]);
  misuseThrown(t, () => p.input('client', { type: 'write', data: lyingBytes() }), /does not fit one record/);
  t.deepEqual(effectTypes(handleDtlsEvents(handleDtlsEvents(dtlsClient(), { type: 'start', now: NOW }).state, { type: 'datagram', now: NOW, data: 'abc' as never }).effects), [], 'a string datagram is dropped like any unparsable datagram');
});

// ── QUIC reducer: createQuicConnection / handleQuicEvents ───────────────────────────────────────────

test('QUIC core: the settings it checks refuse bad values, naming the option', (t) => {
  misuseThrown(t, () => quicClient({ sendHighWaterMark: 0 }), /sendHighWaterMark/);
  misuseThrown(t, () => quicClient({ sendHighWaterMark: Number.NaN }), /sendHighWaterMark/);
  misuseThrown(t, () => quicClient({ maxDatagramSize: 1000 }), /maxDatagramSize/);
  misuseThrown(t, () => quicClient({ maxDatagramSize: 1300.5 }), /maxDatagramSize/);
  misuseThrown(t, () => quicClient({ congestionControl: 'bbr' as never }), /congestionControl/);
  misuseThrown(t, () => createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: [] } }), /alpn/i);
  misuseThrown(t, () => handleQuicEvents(createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: [''] } }), { type: 'start', now: NOW }), /ALPN/);
});

// Found by this probe and fixed: createQuicConnection took idleTimeout, maxData, maxStreamData and maxStreams
// unchecked (NaN, -1, 1.5, Infinity, 2^62, 'x'); the client's `start` then failed to encode its transport
// parameters and closed the connection itself with INTERNAL_ERROR ("closed with transport error 0x1: varint out of
// range: NaN"), a quicClose error, not apiMisuse; a server failed every connection the same way. keyUpdateAfter was
// not checked either: `Math.min(NaN, limit)` is NaN, so with NaN (or a string) the automatic key update before the
// AEAD confidentiality limit never happened (RFC 9001 §6.6) and the connection died with AEAD_LIMIT_REACHED
// instead. Now apiMisuse at createQuicConnection naming the option.
test('QUIC core: idleTimeout, maxData, maxStreamData, maxStreams and keyUpdateAfter out of range are refused at creation', (t) => {
  for (const option of ['idleTimeout', 'maxData', 'maxStreamData', 'maxStreams'] as const) {
    for (const bad of [Number.NaN, -1, 1.5, Infinity, 2 ** 62, 'x']) {
      misuseThrown(t, () => quicClient({ [option]: bad } as never), new RegExp(option), `${option} ${String(bad)}`);
    }
  }
  for (const bad of [Number.NaN, 'x', -1, 0, 1.5]) misuseThrown(t, () => quicClient({ keyUpdateAfter: bad as never }), /keyUpdateAfter/, `keyUpdateAfter ${String(bad)}`);
});

test('QUIC core: inputs in the wrong order and bad stream arguments are API misuse; a clock going backwards changes nothing', (t) => {
  for (const input of [
    { type: 'write', stream: 0, data: new Uint8Array(1) },
    { type: 'end', stream: 0 },
    { type: 'keyUpdate' },
    { type: 'migrate' },
    { type: 'datagram', data: new Uint8Array(5) },
  ] as const) {
    misuseThrown(t, () => handleQuicEvents(quicClient(), { ...input, now: NOW } as never), /./, `${input.type} before start`);
  }
  t.deepEqual(effectTypes(handleQuicEvents(quicClient(), { type: 'close', now: NOW, mode: 'graceful' }).effects), ['closed'], 'close before start');
  const started = handleQuicEvents(quicClient(), { type: 'start', now: NOW }).state;
  misuseThrown(t, () => handleQuicEvents(started, { type: 'start', now: NOW }), /already started/, 'start twice');
  const p = quicUp();
  const q = (input: object) => p.input('client', { now: p.now, ...input } as never);
  misuseThrown(t, () => q({ type: 'write', stream: -1, data: new Uint8Array(1) }), /stream -1/, 'stream -1');
  misuseThrown(t, () => q({ type: 'write', stream: 1.5, data: new Uint8Array(1) }), /stream 1\.5/, 'stream 1.5');
  misuseThrown(t, () => q({ type: 'write', stream: 1, data: new Uint8Array(1) }), /not been opened by the peer/, "the peer's stream 1");
  misuseThrown(t, () => q({ type: 'write', stream: 2 ** 53, data: new Uint8Array(1) }), /allows 100/, 'stream 2^53');
  misuseThrown(t, () => q({ type: 'priority', stream: 0, urgency: 8 }), /urgency/, 'urgency 8');
  misuseThrown(t, () => q({ type: 'priority', stream: 0, urgency: Number.NaN }), /urgency/, 'urgency NaN');
  misuseThrown(t, () => q({ type: 'close', mode: 'rapid', errorCode: -1n }), /error code/, 'error code -1');
  misuseThrown(t, () => q({ type: 'resetStream', stream: 0, errorCode: 2n ** 62n }), /error code/, 'error code 2^62');
  q({ type: 'write', stream: 0, data: new Uint8Array(3) });
  for (const bytes of [-1, Number.NaN, 1e18, 1.5]) misuseThrown(t, () => q({ type: 'consumed', stream: 0, bytes }), /consumed/, `consumed ${bytes}`);
  q({ type: 'end', stream: 0 });
  t.deepEqual(effectTypes(q({ type: 'end', stream: 0 })), [], 'end twice');
  misuseThrown(t, () => q({ type: 'write', stream: 0, data: new Uint8Array(1) }), /already ended/, 'write after end');
  misuseThrown(t, () => p.input('server', { type: 'migrate', now: p.now }), /migrate/, 'migrate on a server');
  t.is(p.state.client.phase, 'connected', 'none of it hurt the connection');
  const deadline = nextQuicTimeout(started);
  const step = handleQuicEvents(started, { type: 'timeout', now: NOW - 1e9 });
  t.deepEqual(effectTypes(step.effects), []);
  t.is(nextQuicTimeout(step.state), deadline);
});

// Found by this probe and fixed: a `timeout` whose now was NaN closed a fresh connection with a bogus idle timeout
// (closed:idleTimeout, "no packet from the peer for 30000 ms"); a `start` whose now was NaN armed no timer at all
// (nextQuicTimeout undefined: no PTO, no idle timeout — a lost Initial was never resent, a hang). Now apiMisuse
// naming `now`.
test('QUIC core: an input whose now is NaN is refused instead of timing out or disarming the connection', (t) => {
  misuseThrown(t, () => handleQuicEvents(quicClient(), { type: 'start', now: Number.NaN }), /now/, 'start');
  const started = handleQuicEvents(quicClient(), { type: 'start', now: NOW }).state;
  misuseThrown(t, () => handleQuicEvents(started, { type: 'timeout', now: Number.NaN }), /now/, 'timeout');
});

// Found by this probe and fixed: an unknown input type reached `assertNever`; its plain Error was caught as a
// connection error and the connection was closed with INTERNAL_ERROR — a CONNECTION_CLOSE was sent to the peer. A
// close with an unknown mode was accepted and closed the connection (a CONNECTION_CLOSE went out). Now apiMisuse
// thrown and nothing sent, as in the TLS and DTLS reducers.
test('QUIC core: an unknown input or close mode is API misuse and sends nothing', (t) => {
  const p = quicUp();
  misuseThrown(t, () => handleQuicEvents(p.state.client, { type: 'bogus', now: p.now } as never), /input/, 'unknown input');
  misuseThrown(t, () => handleQuicEvents(p.state.client, { type: 'close', now: p.now, mode: 'bogus' as never }), /mode/, 'unknown close mode');
});

// Found by this probe and fixed: a stream id of NaN or 'x' passed the stream checks and failed in the frame
// encoder: the connection was closed with INTERNAL_ERROR ("varint out of range: NaN") and the peer saw it. Stream
// data that was not a Uint8Array (a string, an ArrayBuffer, a DataView, a number, null, an array) was caught as an
// internal error and the whole connection was closed with INTERNAL_ERROR, sent to the peer ("head.subarray is not a
// function", "data.slice is not a function"); a Uint16Array(4) was cut to 4 of its 8 bytes; a null datagram closed
// the connection the same way. Now apiMisuse thrown (as for stream -1 or 1.5), nothing sent, the connection
// unharmed.
test('QUIC core: a stream id, stream data or a datagram of the wrong type is API misuse, not an INTERNAL_ERROR close', (t) => {
  for (const stream of [Number.NaN, 'x']) {
    const p = quicUp();
    misuseThrown(t, () => p.input('client', { type: 'write', now: p.now, stream: stream as never, data: new Uint8Array(1) }), /stream/, `stream ${String(stream)}`);
    t.is(p.state.client.phase, 'connected', String(stream));
  }
  for (const [what, data] of NOT_BYTES) {
    const p = quicUp();
    misuseThrown(t, () => p.input('client', { type: 'write', now: p.now, stream: 0, data: data as never }), /write|Uint8Array|data/, what);
    t.is(p.state.client.phase, 'connected', what);
  }
  const started = handleQuicEvents(quicClient(), { type: 'start', now: NOW }).state;
  misuseThrown(t, () => handleQuicEvents(started, { type: 'datagram', now: NOW, data: null as never }), /datagram|Uint8Array|data/, 'null datagram');
});

test('QUIC core: empty and shared-memory stream writes are accepted', (t) => {
  const p = quicUp();
  p.input('client', { type: 'write', now: p.now, stream: 0, data: new Uint8Array(0) });
  p.input('client', { type: 'write', now: p.now, stream: 0, data: new Uint8Array(new SharedArrayBuffer(10)).fill(1) });
  p.drive(p.now + 2_000);
  t.is(p.bytes('server', 0), 10);
  t.is(p.state.client.phase, 'connected');
});

// ── RxJS TLS: options of secure / connect / listen ──────────────────────────────────────────────────

// Found by this probe and fixed: `ciphers` or `groups` of the wrong type (a number, an array) reached `list.split`
// and secure(), connect() and listen() threw a raw TypeError ("list.split is not a function"). Now apiMisuse naming
// the option.
test('options: ciphers or groups that are not strings are API misuse, not a TypeError', (t) => {
  for (const [option, bad] of [['ciphers', 42], ['ciphers', ['TLS_AES_128_GCM_SHA256']], ['groups', ['X25519']], ['groups', 7]] as const) {
    misuseThrown(t, () => secure({ role: 'client', ca, [option]: bad } as never), new RegExp(option), `${option} ${JSON.stringify(bad)}`);
  }
});

test('options: duplicate suites and groups collapse; unknown names and empty lists are API misuse', (t) => {
  const config = toClientConfig({ ca, ciphers: 'TLS_AES_128_GCM_SHA256:tls_aes_128_gcm_sha256', groups: 'X25519:x25519:P-256:prime256v1' }, 'localhost');
  t.deepEqual(config.cipherSuites, ['TLS_AES_128_GCM_SHA256']);
  t.deepEqual(config.groups, ['x25519', 'secp256r1']);
  misuseThrown(t, () => secure({ role: 'client', ca, groups: 'X25519:P-999' }), /unknown group: P-999/);
  misuseThrown(t, () => secure({ role: 'client', ca, groups: ':::' }), /empty group list/);
  misuseThrown(t, () => secure({ role: 'client', ca, ciphers: '' }), /empty cipher suite list/);
  misuseThrown(t, () => secure({ role: 'server', cert, key, ciphers: 'TLS_FAKE_SUITE' }), /unknown cipher suite/);
});

test('options: an empty ALPN name or one of 256 bytes is API misuse before anything is sent; duplicates are allowed', (t) => {
  for (const alpn of [[''], ['x'.repeat(256)], ['h2', '']]) {
    const d = silentDuplex();
    misuseEarly(t, () => of(d).pipe(secure({ role: 'client', ca, servername: 'localhost', ALPNProtocols: alpn })), /ALPN/, JSON.stringify(alpn).slice(0, 20));
    t.deepEqual(d.written, [], 'nothing written');
  }
  const p = rxTlsPair({ ALPNProtocols: ['a', 'a'] }, { ALPNProtocols: ['a'] });
  t.is(p.client?.info.alpn, 'a');
  p.close();
});

// Found by this probe and fixed: the ALPN length check counted UTF-16 code units (`a.length > 255`), not bytes:
// 'é'.repeat(200) is 400 bytes of UTF-8 and passed; the ClientHello went out with an ALPN name no 1-byte length can
// carry (the server answered no_application_protocol). `ALPNProtocols: 'h2'` (a string, not a list) failed at
// subscription with kind internal ("config.alpnProtocols?.some is not a function"), and `[42]` got as far as the
// wire encoder: the handshake failed with an internal error and an internal_error alert. Now apiMisuse naming ALPN
// (names are 1..255 BYTES, RFC 7301 §3.1) before anything is written.
test('options: an ALPN name of 400 UTF-8 bytes, or ALPNProtocols that is not a list of strings, is API misuse', (t) => {
  const d = silentDuplex();
  misuseEarly(t, () => of(d).pipe(secure({ role: 'client', ca, servername: 'localhost', ALPNProtocols: ['é'.repeat(200)] })), /ALPN/, '400 bytes');
  t.deepEqual(d.written, [], 'no ClientHello written');
  for (const alpn of ['h2', [42]]) {
    misuseEarly(t, () => of(silentDuplex()).pipe(secure({ role: 'client', ca, servername: 'localhost', ALPNProtocols: alpn as never })), /ALPN/, JSON.stringify(alpn));
  }
});

// Found by this probe and fixed: a servername with a NUL, a space, non-ASCII letters, or of another type (42) was
// accepted by secure()/connect(); building the ClientHello then failed as an internal error and an internal_error
// ALERT WAS SENT to the server ("server_name: host_name must be printable ASCII", "name.includes is not a
// function"). A servername of 256 bytes went on the wire as SNI (a DNS name has at most 253; OpenSSL refuses more
// than 255) and the handshake then failed on the certificate; one of 70000 bytes failed as an internal error with
// an internal_error alert ("host_name: 70000 bytes, allowed 1..65535"). Now apiMisuse naming servername when the
// options are given (README: "Options are checked when connect is called").
test('options: a servername with NUL, spaces, non-ASCII, of the wrong type or over 255 bytes is API misuse before anything is sent', (t) => {
  for (const name of ['local\0host', ' localhost', 'lo calhost', 'é.example', 42]) {
    const d = silentDuplex();
    misuseEarly(t, () => of(d).pipe(secure({ role: 'client', ca, servername: name as never })), /servername|server name|host/i, JSON.stringify(name));
    t.deepEqual(d.written, [], `${JSON.stringify(name)}: nothing written`);
  }
  for (const length of [256, 70_000]) {
    const d = silentDuplex();
    misuseEarly(t, () => of(d).pipe(secure({ role: 'client', ca, servername: 'a'.repeat(length) })), /servername|server name|host/i, String(length));
    t.deepEqual(d.written, [], `${length}: nothing written`);
  }
});

test('options: an IP literal servername is verified against the IP SANs and not sent as SNI; an empty one means host', (t) => {
  for (const ip of ['127.0.0.1', '::1']) {
    const p = rxTlsPair({ servername: ip });
    t.is(p.client?.info.verification, 'ok', ip);
    t.is(p.server?.info.serverName, undefined, `${ip}: no SNI`);
    p.close();
  }
  t.is(toClientConfig({ ca, servername: '' }, 'localhost').serverName, 'localhost');
});

test('options: unusable certificates, keys and PKCS#12 files are API misuse at the call; PEM with text around it is fine', (t) => {
  const lines = cert.split('\n');
  const junkBase64 = lines.map((l, i) => (i === 3 ? `${l.slice(0, 10)}!!!@@@${l.slice(16)}` : l)).join('\n');
  const truncated = `${cert.slice(0, cert.length / 2)}\n-----END CERTIFICATE-----\n`;
  const derGarbage = new Uint8Array(300).map((_, i) => (i * 7) & 0xff);
  const p12 = readFileSync(new URL('../fixtures/certs/server-ec.p12', import.meta.url));
  const cases: [string, object, RegExp][] = [
    ['cert with junk base64', { cert: junkBase64, key }, /base64/],
    ['cert cut in half', { cert: truncated, key }, /base64|parse|certificate/i],
    ['cert of garbage DER', { cert: derGarbage, key }, /CERTIFICATE/],
    ['cert of no bytes', { cert: new Uint8Array(0), key }, /empty certificate chain/],
    ['an empty key', { cert, key: '' }, /PRIVATE KEY/],
    ['a key of no bytes', { cert, key: new Uint8Array(0) }, /private key/],
    ['a key of garbage bytes', { cert, key: derGarbage }, /PRIVATE KEY/],
    ['a key with junk base64', { cert, key: key.replace(/[A-Za-z]{8}/, '@@@@@@@@') }, /base64/],
    ['a key that is an object', { cert, key: {} }, /private key/],
    ['cert without key', { cert }, /cert.*key/],
    ['pfx of garbage', { pfx: derGarbage, passphrase: 'x' }, /pfx/],
    ['pfx as a string', { pfx: 'abc' }, /pfx/],
    ['pfx and cert', { pfx: p12, cert, passphrase: 'x' }, /pfx/],
    ['a passphrase that is a number', { cert, key, passphrase: 42 }, /passphrase/],
  ];
  for (const [what, options, re] of cases) {
    misuseThrown(t, () => secure({ role: 'server', ...options } as never), re, what);
    misuseThrown(t, () => listen({ port: 0, ...options } as never), re, `listen: ${what}`);
  }
  for (const [what, bad] of [['garbage', 'garbage'], ['junk base64', junkBase64], ['an empty list', []], ['a private key', key]] as const) {
    misuseThrown(t, () => connect({ host: '127.0.0.1', port: 1, ca: bad as never }), /CERTIFICATE|certificate/, `ca: ${what}`);
  }
  t.notThrows(() => secure({ role: 'server', cert: `hello\n${cert}\ntrailing words`, key }));
  t.notThrows(() => secure({ role: 'server', cert, key, passphrase: 'unused for a plain key' }));
});

// Found by this probe and fixed: `cert` or `ca` of the wrong type (a number, an object, [null]) reached the PEM
// loader and secure(), listen() and connect() threw a raw TypeError ("items is not iterable", "Cannot read
// properties of null"). Now apiMisuse naming cert / ca.
test('options: cert or ca of the wrong type is API misuse, not a TypeError', (t) => {
  for (const bad of [42, { pem: cert }, [null]]) {
    misuseThrown(t, () => secure({ role: 'server', cert: bad as never, key }), /cert/i, `cert ${JSON.stringify(bad)?.slice(0, 20)}`);
    misuseThrown(t, () => connect({ host: '127.0.0.1', port: 1, ca: bad as never }), /ca|certificate/i, `ca ${JSON.stringify(bad)?.slice(0, 20)}`);
  }
});

// Found by this probe and fixed: `ignoreUnexpectedEof: 'no'` (a string) was passed through unchecked and the core
// treated it as truthy: a truncated connection (EOF without close_notify) then ended cleanly instead of failing
// with unexpectedEof — the truncation-attack protection was off because of a typo. Now apiMisuse naming
// ignoreUnexpectedEof (as for requireExtendedMasterSecret).
test('options: ignoreUnexpectedEof that is not a boolean is API misuse, not "on"', (t) => {
  misuseThrown(t, () => secure({ role: 'client', ca, ignoreUnexpectedEof: 'no' as never }), /ignoreUnexpectedEof/);
  misuseThrown(t, () => listen({ port: 0, cert, key, ignoreUnexpectedEof: 1 as never }), /ignoreUnexpectedEof/, 'listen');
});

test('options: rejectUnauthorized as the string "false" does not turn verification off', (t) => {
  const p = rxTlsPair({ ca: otherCa, rejectUnauthorized: 'false' as never });
  t.true(p.clientError instanceof TlsError);
  t.is((p.clientError as TlsError).kind, 'certificate');
  p.close();
});

// Found by this probe and fixed: `maxEarlyData` was passed to the core unchecked: 1.5 or 2^33 made EVERY handshake
// fail after the server's Finished, with an internal error and an internal_error alert ("max_early_data_size: 1.5
// is not a u32"); NaN and -1 were silently taken as 0. Now apiMisuse naming maxEarlyData (an integer in 0..2^32-1)
// at secure()/listen().
test('options: maxEarlyData out of range is API misuse at the call, not a failure of every handshake', (t) => {
  for (const bad of [1.5, 2 ** 33, Number.NaN, -1]) {
    misuseThrown(t, () => secure({ role: 'server', cert, key, maxEarlyData: bad }), /maxEarlyData/, String(bad));
  }
});

// Found by this probe and fixed: a client's `pskModes` was passed through unchecked: ['bogus'] failed the handshake
// with an internal error and an internal_error alert ("psk_key_exchange_mode: undefined is not a u8"), 'psk_ke' (a
// string) with "...map is not a function" (kind internal). Now apiMisuse naming pskModes.
test('options: pskModes that is not a list of known modes is API misuse', (t) => {
  for (const bad of [['bogus'], 'psk_ke']) {
    misuseEarly(t, () => of(silentDuplex()).pipe(secure({ role: 'client', ca, servername: 'localhost', pskModes: bad as never })), /pskModes/, JSON.stringify(bad));
  }
});

// Found by this probe and fixed: `handshakeTimeout: Infinity` (or 2^40) was accepted (`> 0` was the only check) and
// the reducer loop asked the scheduler for a timer of that many ms; setTimeout holds at most 2^31-1 ms, so Node
// clamped it to 1 ms, the early-firing guard re-armed it, and the process woke every millisecond for the whole
// handshake. Now apiMisuse at the call, and the loop never asks for a timer beyond 2^31-1 ms.
test('options: handshakeTimeout beyond what setTimeout holds is refused, or never asks for such a timer', (t) => {
  for (const handshakeTimeout of [Infinity, 2 ** 40]) {
    const scheduler = recordingScheduler();
    let made: ReturnType<typeof secure> | undefined;
    const err = thrown(() => (made = secure({ role: 'client', ca, servername: 'localhost', handshakeTimeout, scheduler })));
    if (err !== undefined) {
      assertMisuse(t, err, /handshakeTimeout/, String(handshakeTimeout));
      continue;
    }
    of(silentDuplex()).pipe(made!).subscribe({ error: () => undefined }).unsubscribe();
    t.true(scheduler.delays.length > 0, 'a handshake timer was asked for');
    t.true(scheduler.delays.every((d) => d <= MAX_TIMER_DELAY), `${handshakeTimeout}: delays asked for: ${scheduler.delays.join(', ')}`);
  }
});

// Found by this probe and fixed: options of the wrong type passed the edge checks and failed later, untyped or on
// the wire: `handshakeTimeout: '100'` passed `!(v > 0)` and the core computed `now + '100'` (string concatenation:
// the handshake never timed out); a `scheduler` without now/schedule and a `sessionCache` without get/set made the
// first subscription error with a raw TypeError ("scheduler.now is not a function", "cache.get is not a function");
// `earlyData: 'GET /'` was handed to the core as a write after the handshake and the connection died with an
// internal error and an internal_error alert ("data.subarray is not a function"). Now apiMisuse naming the option
// at secure()/connect().
test('options: handshakeTimeout, scheduler, sessionCache and earlyData of the wrong type are API misuse', (t) => {
  misuseThrown(t, () => secure({ role: 'client', ca, handshakeTimeout: '100' as never }), /handshakeTimeout/, "handshakeTimeout '100'");
  for (const [option, bad] of [['scheduler', {}], ['sessionCache', {}], ['earlyData', 'GET /']] as const) {
    misuseEarly(t, () => of(silentDuplex()).pipe(secure({ role: 'client', ca, servername: 'localhost', [option]: bad } as never)), new RegExp(option), option);
  }
});

// ── RxJS TLS: a connection misused ──────────────────────────────────────────────────────────────────

test('connection: a second send(), a source of strings, send/shutdown/keyUpdate after close are API misuse; close twice is fine', (t) => {
  const p = rxTlsPair();
  const c = p.client!;
  const first = c.send(NEVER).subscribe({ error: () => undefined });
  t.deepEqual(record(c.send(NEVER)), ['error:apiMisuse'], 'a second concurrent send()');
  t.deepEqual(c.shutdownState(), { sent: false, received: false }, 'the first send() and the connection go on');
  first.unsubscribe();
  const s = rxTlsPair();
  t.deepEqual(record(s.client!.send(of('text') as never)), ['error:apiMisuse'], 'a source of strings (the source misbehaved: documented abort)');
  s.close();
  const q = rxTlsPair();
  const got: number[] = [];
  q.server!.inbound$.subscribe((chunk) => got.push(chunk.length));
  t.deepEqual(record(q.client!.send(of(new Uint8Array(0), new Uint8Array(0), new Uint8Array(3)))), ['complete'], 'empty chunks are fine');
  t.deepEqual(got, [3]);
  q.close();
  const r = rxTlsPair();
  r.client!.close();
  r.client!.close();
  t.deepEqual(record(r.client!.send(of(enc('x')))), ['error:apiMisuse'], 'send after close');
  t.deepEqual(record(r.client!.shutdown()), ['error:apiMisuse'], 'shutdown after close');
  misuseThrown(t, () => r.client!.keyUpdate(), /keyUpdate/, 'keyUpdate after close');
  p.close();
  r.close();
});

test('connection: exportKeyingMaterial refuses bad lengths and labels with API misuse, without allocating', (t) => {
  const p = rxTlsPair();
  for (const length of [Number.NaN, -1, 1.5, 8161, 2 ** 31, 'x']) {
    misuseThrown(t, () => p.client!.exportKeyingMaterial(length as never, 'EXPERIMENTAL probe'), /length/, String(length));
  }
  for (const label of ['', 'x'.repeat(250), 'é', 42]) {
    misuseThrown(t, () => p.client!.exportKeyingMaterial(32, label as never), /label/, String(label).slice(0, 10));
  }
  t.is(p.client!.exportKeyingMaterial(0, 'EXPERIMENTAL probe').length, 0);
  p.close();
});

// Found by this probe and fixed: `conn.send(42)` or `conn.send(bytes)` — not a source at all, a mistake in the call
// — errored that send() with apiMisuse AND aborted the established connection (no close_notify; the peer saw
// unexpectedEof, "a possible truncation attack"), though a second concurrent send(), equally a misuse, left the
// connection alone, and the DTLS adapter did not abort for a bad record source either. Now only the send() errors,
// and the connection stays usable.
test('connection: send() of something that is not a source is API misuse and does not abort the connection', (t) => {
  for (const bad of [42, new Uint8Array(3)]) {
    const p = rxTlsPair();
    t.deepEqual(record(p.client!.send(bad as never)), ['error:apiMisuse'], String(bad));
    t.is(p.serverError, undefined, `the peer saw ${describeError(p.serverError)}`);
    t.deepEqual(record(p.client!.send(of(enc('still here')))), ['complete'], 'the connection is still usable');
    p.close();
  }
});

// Found by this probe and fixed: exportKeyingMaterial with a string `context` threw a raw TypeError from the hash
// ("expected Uint8Array, got type=string"), and `conn.receive(42)` emitted a raw TypeError ("project is not a
// function"). Now apiMisuse naming the argument.
test('connection: exportKeyingMaterial with a non-bytes context and receive() of a non-function are API misuse', (t) => {
  const p = rxTlsPair();
  t.teardown(() => p.close());
  misuseThrown(t, () => p.client!.exportKeyingMaterial(32, 'EXPERIMENTAL probe', 'ctx' as never), /context/, 'context');
  let err: unknown;
  const atCall = thrown(() => p.client!.receive(42 as never).subscribe({ error: (e: unknown) => (err = e) }));
  p.server!.send(of(enc('x'))).subscribe({ error: () => undefined });
  assertMisuse(t, atCall ?? err, /receive|project|function/, 'receive(42)');
});

// Found by this probe and fixed: subscribing twice to `of(duplex).pipe(secure(...))` ran a second handshake on the
// same one-shot duplex: it was refused (apiMisuse "incoming$ can be subscribed only once"), but only after the
// second client had written its ClientHello onto the duplex and destroyed it — the FIRST, established connection
// died (the server saw "plaintext record of type 22 after encryption started", the client got alert
// unexpected_message). Now the second subscription fails with apiMisuse and the first connection is not disturbed.
test('one-shot: securing the same duplex twice is refused without killing the first connection', (t) => {
  const [c, s] = memoryDuplexPair();
  let server: TlsConnection | undefined;
  let serverError: unknown;
  const subs = [of(s).pipe(secure({ role: 'server', cert, key })).subscribe({ next: (x) => (server = x), error: (e: unknown) => (serverError = e) })];
  const client$ = of(c).pipe(secure({ role: 'client', ca, servername: 'localhost' }));
  let first: TlsConnection | undefined;
  let firstError: unknown;
  let secondError: unknown;
  subs.push(client$.subscribe({ next: (x) => (first = x), error: (e: unknown) => (firstError = e) }));
  subs.push(client$.subscribe({ error: (e: unknown) => (secondError = e) }));
  t.teardown(() => {
    first?.close();
    server?.close();
    for (const sub of subs) sub.unsubscribe();
  });
  assertMisuse(t, secondError, /incoming\$/, 'the second subscription');
  t.truthy(first, 'the first connection was emitted');
  t.is(firstError, undefined, `the first connection survives, got ${describeError(firstError)}`);
  t.is(serverError, undefined, `the server survives, got ${describeError(serverError)}`);
});

test('lifetime: unsubscribing secure() mid-handshake destroys the duplex quietly, with no error', (t) => {
  const [c, s] = memoryDuplexPair();
  const peer: string[] = [];
  s.incoming$.subscribe({ next: () => peer.push('data'), complete: () => peer.push('complete'), error: () => peer.push('error') });
  let err: unknown;
  const sub = of(c).pipe(secure({ role: 'client', ca, servername: 'localhost' })).subscribe({ error: (e: unknown) => (err = e) });
  t.deepEqual(peer, ['data'], 'the ClientHello went out, the peer never answers');
  sub.unsubscribe();
  t.deepEqual(peer, ['data', 'complete'], 'the transport was torn down');
  t.is(err, undefined);
});

// ── RxJS TLS over sockets ───────────────────────────────────────────────────────────────────────────

test('sockets: connect() is cold (each subscription its own attempt); listen() twice on one port errors with EADDRINUSE; both typed', async (t) => {
  const free = await freeTcpPort();
  const conn$ = connect({ host: '127.0.0.1', port: free, ca });
  const results = await Promise.all([1, 2].map(() => firstValueFrom(conn$.pipe(timeout(WAIT_MS))).then(() => 'connected', (e: unknown) => (e instanceof TlsError ? e.kind : describeError(e)))));
  t.deepEqual(results, ['transport', 'transport']);
  const { port, sub } = await listening({});
  t.teardown(() => sub.unsubscribe());
  const err = await firstValueFrom(listen({ port, cert, key }).pipe(timeout(WAIT_MS))).catch((e: unknown) => e);
  t.true(err instanceof TlsError, describeError(err));
  t.is((err as TlsError).kind, 'transport');
  t.regex((err as TlsError).message, /EADDRINUSE/);
});

// ── RxJS DTLS ───────────────────────────────────────────────────────────────────────────────────────

test('DTLS options: record settings and listener bounds are checked when the call is made', async (t) => {
  const cases: [object, RegExp][] = [
    [{ mtu: 100 }, /mtu/],
    [{ mtu: Number.NaN }, /mtu/],
    [{ mtu: '1200' }, /mtu/],
    [{ replayWindow: 33 }, /replayWindow/],
    [{ retransmitInitial: 1e15 }, /retransmit/],
    [{ maxOutboundBuffer: 0 }, /maxOutboundBuffer/],
    [{ ticking: 'sometimes' }, /ticking/],
    [{ dtlsDraft43: 'yes' }, /dtlsDraft43/],
    [{ onTicker: 42 }, /onTicker/],
    [{ keyUpdateAfter: 'x' }, /keyUpdateAfter/],
    [{ keyUpdateAfter: 0 }, /keyUpdateAfter/],
    [{ keyUpdateAfter: 1.5 }, /keyUpdateAfter/],
  ];
  for (const [extra, re] of cases) {
    misuseThrown(t, () => secureDatagrams({ role: 'client', ca, servername: 'localhost', ...extra } as never), re, JSON.stringify(extra));
    misuseThrown(t, () => dtlsConnect({ host: '127.0.0.1', port: 9, ca, ...extra } as never), re, `dtlsConnect ${JSON.stringify(extra)}`);
  }
  for (const bad of [Number.NaN, 0, 1.5]) {
    const err = await dtlsListen({ cert, key, maxHandshakingConnections: bad }).then(
      async (l) => {
        await l.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    assertMisuse(t, err, /maxHandshakingConnections/, String(bad));
  }
});

test('DTLS connection: misuse of send, keyUpdate, inbound$ and exportKeyingMaterial is typed', (t) => {
  const p = rxDtlsPair();
  t.teardown(() => p.close());
  t.deepEqual(record(p.client.send(of(42) as never)), ['error:apiMisuse'], 'a number record');
  t.deepEqual(record(p.client.send(of(new Uint8Array(p.client.maxRecordSize + 1)))), ['error:apiMisuse'], 'a record over the MTU');
  t.deepEqual(record(p.client.send(7 as never)), ['error:apiMisuse'], 'not a source');
  const first = p.client.inbound$.subscribe();
  t.deepEqual(record(p.client.inbound$), ['error:apiMisuse'], 'inbound$ twice');
  first.unsubscribe();
  misuseThrown(t, () => p.client.exportKeyingMaterial(Number.NaN, 'EXPERIMENTAL x'), /length/, 'EKM NaN');
  const q = rxDtlsPair();
  q.client.close('abort');
  q.client.close('abort');
  t.deepEqual(record(q.client.send(of('x'))), ['error:apiMisuse'], 'send after close');
  misuseThrown(t, () => q.client.keyUpdate(), /keyUpdate/, 'keyUpdate after close');
  q.close();
});

// Found by this probe and fixed: `conn.close('bogus')` did not throw: the mode reached the reducer inside the run
// loop, whose apiMisuse then errored the whole connection (closed$ errored with "unknown close mode bogus") — a
// typo in an argument killed an established connection. Now close() throws apiMisuse at once and the connection
// stays usable.
test('DTLS connection: close() with an unknown mode throws and leaves the connection up', (t) => {
  const p = rxDtlsPair();
  t.teardown(() => p.close());
  const fate = record(p.client.closed$);
  misuseThrown(t, () => p.client.close('bogus' as never), /mode/);
  t.deepEqual(fate, [], 'closed$ has not ended');
  t.deepEqual(record(p.client.closed$), [], 'nor after the call');
});

// Found by this probe and fixed: a detached buffer sent as a DTLS record passed the send() check (it is a
// Uint8Array of length 0) and reached the reducer, whose `set` threw: the connection was failed with an internal
// error and an internal_error alert to the peer. Now the send() errors with apiMisuse and the connection stays up
// (as for a record that is not a Uint8Array).
test('DTLS connection: sending a detached buffer is API misuse, not an internal_error for the peer', (t) => {
  const p = rxDtlsPair();
  t.teardown(() => p.close());
  t.deepEqual(record(p.client.send(of(detachedBytes()))), ['error:apiMisuse']);
  t.deepEqual(record(p.server.closed$), [], 'the server saw no alert');
});

// ── RxJS QUIC ───────────────────────────────────────────────────────────────────────────────────────

test('QUIC options: highWaterMark, maxStreams, keys and identity are checked when the call is made', async (t) => {
  const base = { host: '127.0.0.1', port: 9, ca, alpn: ['x'] };
  for (const [extra, re] of [
    [{ highWaterMark: 0 }, /highWaterMark/],
    [{ highWaterMark: 1.5 }, /highWaterMark/],
    [{ maxStreams: -1 }, /maxStreams/],
    [{ maxStreams: 2 ** 61 }, /maxStreams/],
    [{ checkServerIdentity: 42 }, /checkServerIdentity/],
    [{ verifier: {} }, /verifier/],
  ] as const) {
    misuseThrown(t, () => quicConnect({ ...base, ...extra } as never), re, JSON.stringify(extra));
  }
  for (const [extra, re] of [
    [{ cert: '', key }, /CERTIFICATE/],
    [{ cert }, /cert/],
    [{ cert, key, tokenKey: new Uint8Array(3) }, /tokenKey/],
    [{ cert, key, statelessResetKey: new Uint8Array(31) }, /statelessResetKey/],
    [{ cert, key, highWaterMark: Number.NaN }, /highWaterMark/],
  ] as const) {
    const err = await quicListen({ alpn: ['x'], ...extra } as never).then(
      async (l) => {
        await l.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    assertMisuse(t, err, re, `quicListen ${Object.keys(extra).join('+')}`);
  }
});

// Found by this probe and fixed: quicConnect() and quicListen() checked highWaterMark and maxStreams but not
// idleTimeout, maxData or maxStreamData: NaN, -1, 1.5 or 2^62 were accepted, and every connection then failed
// during the handshake with an internal quicClose ("closed with transport error 0x1: varint out of range: NaN"; the
// peer of a listener saw the same). `ticking: 'sometimes'` was accepted silently (it behaved as 'auto'), where
// dtlsConnect and secureDatagrams refuse it. Now apiMisuse at the call, naming the option.
test('QUIC options: idleTimeout, maxData, maxStreamData out of range and an unknown ticking are API misuse at quicConnect()', (t) => {
  for (const option of ['idleTimeout', 'maxData', 'maxStreamData'] as const) {
    for (const bad of [Number.NaN, -1, 1.5, 2 ** 62]) {
      misuseThrown(t, () => quicConnect({ host: '127.0.0.1', port: 9, ca, alpn: ['x'], [option]: bad }), new RegExp(option), `${option} ${bad}`);
    }
  }
  misuseThrown(t, () => quicConnect({ host: '127.0.0.1', port: 9, ca, alpn: ['x'], ticking: 'sometimes' as never }), /ticking/, 'ticking');
});

// Found by this probe and fixed: quicListen() resolved with alpn [] or [''], maxDatagramSize 1000,
// congestionControl 'bbr' or idleTimeout NaN. The first three were only checked by createQuicConnection when a
// client's Initial arrived — inside the socket's 'message' handler — so EVERY incoming connection threw an UNCAUGHT
// TlsError that killed the process ("QUIC needs alpnProtocols", "maxDatagramSize must be an integer from 1200 to
// 65527"); with [''] the server's handshakes hung until the client gave up; with idleTimeout NaN each one failed
// with INTERNAL_ERROR. (Probed in a separate process; here no client is sent, so nothing can crash.) Now quicListen
// rejects with apiMisuse before binding.
test('QUIC options: quicListen refuses settings that would fail or crash on the first client', async (t) => {
  for (const extra of [{ alpn: [] }, { alpn: [''] }, { alpn: ['x'], maxDatagramSize: 1000 }, { alpn: ['x'], congestionControl: 'bbr' }, { alpn: ['x'], idleTimeout: Number.NaN }]) {
    const err = await quicListen({ cert, key, ...extra } as never).then(
      async (l) => {
        await l.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    assertMisuse(t, err, /alpn|ALPN|maxDatagramSize|congestionControl|idleTimeout/, JSON.stringify(extra));
  }
});

// Found by this probe and fixed: quicConnect with `alpn: ['']` was accepted and, once subscribed, never settled:
// the apiMisuse that the handshake engine threw at `start` was lost and no timer was armed, so the attempt hung
// (here: nothing within 2 s; against a live server, until the caller's own timeout). `alpn: 'x'` (a string) and
// `[42]` failed with an internal quicClose instead of apiMisuse. Now apiMisuse naming alpn.
test('QUIC options: an ALPN list that is not 1..255-byte strings is API misuse, never a hang', async (t) => {
  const port = await freeUdpPort();
  for (const alpn of [[''], 'x', [42]]) {
    let err: unknown;
    let sub: Subscription | undefined;
    try {
      err = await new Promise<unknown>((resolve) => {
        const conn$ = quicConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', alpn: alpn as never });
        sub = race(conn$.pipe(map(() => 'connected')), timer(2_000).pipe(map(() => 'still pending after 2 s'))).subscribe({
          next: (v) => resolve(v),
          error: (e: unknown) => resolve(e),
        });
      });
    } catch (e) {
      err = e;
    } finally {
      sub?.unsubscribe();
    }
    assertMisuse(t, err, /alpn|ALPN/, JSON.stringify(alpn));
  }
});

test('QUIC connection: stream misuse that is caught — data$ twice, urgency, error codes — leaves the connection up', async (t) => {
  const conn = await quicLive(t);
  const s = conn.openStream();
  const first = s.data$.subscribe({ error: () => undefined });
  t.deepEqual(record(s.data$), ['error:apiMisuse'], 'data$ twice');
  first.unsubscribe();
  misuseThrown(t, () => s.setPriority({ urgency: 9 }), /urgency/, 'setPriority 9');
  misuseThrown(t, () => conn.openStream({ priority: { urgency: Number.NaN } }), /urgency/, 'openStream urgency NaN');
  misuseThrown(t, () => s.reset(-1n), /error code/, 'reset(-1n)');
  misuseThrown(t, () => conn.close({ errorCode: 2n ** 62n }), /error code/, 'close 2^62');
  t.is(await fateWithin(conn, 200), 'open');
});

// Found by this probe and fixed: `stream.write()` after `stream.end()` answered true; the write reached the reducer
// inside the run loop, whose apiMisuse ("stream 0 was already ended") then errored the WHOLE connection (closed$
// errored). Likewise `write(42)` or an ArrayBuffer closed the connection with INTERNAL_ERROR, and `write(null)`
// threw a raw TypeError. Now write() throws apiMisuse at once and the connection stays up.
test('QUIC connection: a write after end() or of non-bytes throws API misuse and leaves the connection up', async (t) => {
  const conn = await quicLive(t);
  const s = conn.openStream();
  s.write('a');
  s.end();
  misuseThrown(t, () => s.write('b'), /ended|end/, 'write after end');
  const s2 = conn.openStream();
  for (const bad of [42, new ArrayBuffer(4), null]) misuseThrown(t, () => s2.write(bad as never), /write|Uint8Array|data/, String(bad));
  t.is(await fateWithin(conn, 300), 'open');
});

// ── application callbacks that throw ────────────────────────────────────────────────────────────────

test('callbacks: a throwing verifier or checkServerIdentity refuses the chain, as documented', (t) => {
  const a = rxTlsPair({ verifier: { verify: boom } });
  t.is((a.clientError as TlsError | undefined)?.kind, 'certificate');
  t.regex((a.clientError as Error).message, /the verifier refused the chain: boom/);
  a.close();
  const b = rxTlsPair({ checkServerIdentity: boom });
  t.is((b.clientError as TlsError | undefined)?.kind, 'certificate');
  t.regex((b.clientError as Error).message, /checkServerIdentity refused localhost: boom/);
  b.close();
  const c = rxTlsPair({ checkServerIdentity: () => 'not an Error' });
  t.is((c.clientError as TlsError | undefined)?.kind, 'certificate', 'a non-Error verdict refuses too');
  c.close();
});

// Found by this probe and fixed: a verifier whose verify() returned undefined, a number or a Promise (an async
// verifier: a common mistake) was not caught by `guarded`: the engine failed reading the verdict, and the handshake
// ended with kind internal and an internal_error alert ("Cannot read properties of undefined (reading 'ok')",
// "unexpected value: undefined"), where a verifier that throws refuses the chain with kind certificate. Now such a
// verdict refuses the chain too.
test('callbacks: a verifier that returns no verdict (undefined, a number, a Promise) refuses the chain', (t) => {
  for (const verdict of [undefined, 42, Promise.resolve({ ok: true })]) {
    const p = rxTlsPair({ verifier: { verify: () => verdict } });
    t.true(p.clientError instanceof TlsError, describeError(p.clientError));
    t.true(['certificate', 'apiMisuse'].includes((p.clientError as TlsError | undefined)?.kind ?? ''), `${String(verdict)}: ${describeError(p.clientError)}`);
    p.close();
  }
});

test('callbacks: a throwing or nonsensical pskCallback fails that handshake with typed errors on both sides', (t) => {
  for (const pskCallback of [boom, () => ({ key: 'zz' }), () => 42]) {
    const p = rxTlsPair({ psk: { identity: 'id', key: 'aabb' } }, { pskCallback });
    t.true(p.serverError instanceof TlsError, `server: ${describeError(p.serverError)}`);
    t.true(p.clientError instanceof TlsError, `client: ${describeError(p.clientError)}`);
    p.close();
  }
});

test('callbacks: a throwing onTicker fails a DTLS connection with a typed error', (t) => {
  const [c, s] = memoryDatagramPair();
  let clientError: unknown;
  const subs = [
    of(s).pipe(secureDatagrams({ role: 'server', cert, key })).subscribe({ error: () => undefined }),
    of(c).pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost', onTicker: boom })).subscribe({ error: (e: unknown) => (clientError = e) }),
  ];
  for (const sub of subs) sub.unsubscribe();
  t.true(clientError instanceof TlsError, describeError(clientError));
});

// Found by this probe and fixed: a `sessionCache.get` that threw made the connection's Observable error with the
// application's raw Error ('boom'), not a TlsError — the only error class at the boundary is supposed to be
// TlsError. Now apiMisuse naming sessionCache.get.
test('callbacks: a throwing sessionCache.get surfaces as a TlsError', (t) => {
  const p = rxTlsPair({ sessionCache: { get: boom, set: () => undefined, delete: () => undefined } });
  t.teardown(() => p.close());
  t.true(p.clientError === undefined || p.clientError instanceof TlsError, describeError(p.clientError));
});

// Found by this probe and fixed: an `onMessage` callback that threw was called from the reducer loop's subscriber,
// and a `keyLog` function was subscribed as a plain observer of the key-log ReplaySubject: RxJS reported each
// exception as unhandled — without a handler it was rethrown from a timer and KILLED THE PROCESS (one handshake: 9
// escapes from onMessage, 5 from keyLog). Now both are contained (reported once with console.warn).
test.serial('callbacks: a throwing onMessage or keyLog function does not escape to the process', async (t) => {
  for (const option of ['onMessage', 'keyLog'] as const) {
    const escaped = await escapes(() => {
      const p = rxTlsPair({ [option]: boom });
      p.close();
    });
    noEscapes(t, escaped, option);
  }
});

// Found by this probe and fixed: `listen({ onListening })` called the callback from net.Server's listen callback: a
// throw there was an UNCAUGHT EXCEPTION (process crash). `listen({ onError })` was called from a connection's error
// handler; when it threw, RxJS reported it as unhandled and, without a handler, the process died — one bad client
// handshake plus a buggy logger took the whole server down. Now onListening's exception errors the listen
// Observable with apiMisuse and onError's is contained.
test.serial('callbacks: a throwing onListening or listen onError does not escape to the process', async (t) => {
  const early = await escapes(async () => {
    const sub = listen({ port: 0, cert, key, onListening: boom }).subscribe({ error: () => undefined });
    await sleep(200);
    sub.unsubscribe();
  });
  noEscapes(t, early, 'onListening');
  const escaped = await escapes(async () => {
    const { port, sub } = await listening({ onError: boom });
    const err = await firstValueFrom(connect({ host: '127.0.0.1', port, ca, servername: 'wrong.example' }).pipe(timeout(WAIT_MS))).catch((e: unknown) => e);
    t.is((err as TlsError).kind, 'certificate', 'the client was refused');
    await sleep(200);
    sub.unsubscribe();
  });
  noEscapes(t, escaped, 'onError');
});

// Found by this probe and fixed: `connect({ onTcpConnect })` ran the callback from the socket's 'connect' event: a
// throw there was an UNCAUGHT EXCEPTION (process crash), while the handshake went on. Now the connection errors
// with apiMisuse naming onTcpConnect.
test.serial('callbacks: a throwing onTcpConnect does not escape to the process', async (t) => {
  const escaped = await escapes(async () => {
    const { port, sub } = await listening({});
    const result = await firstValueFrom(connect({ host: '127.0.0.1', port, ca, servername: 'localhost', onTcpConnect: boom }).pipe(timeout(WAIT_MS))).catch((e: unknown) => e);
    (result as Partial<TlsConnection>).close?.();
    await sleep(100);
    sub.unsubscribe();
  });
  noEscapes(t, escaped, 'onTcpConnect');
});

// Found by this probe and fixed: `dtlsListen({ onError })` throwing was reported to RxJS as unhandled (a process
// crash without a handler) when a client's handshake failed. Now it is contained.
test.serial('callbacks: a throwing dtlsListen onError does not escape to the process', async (t) => {
  const escaped = await escapes(async () => {
    const l = await dtlsListen({ cert, key, onError: boom });
    try {
      const err = await firstValueFrom(dtlsConnect({ host: '127.0.0.1', port: l.port, ca, servername: 'wrong.example' }).pipe(timeout(WAIT_MS))).catch((e: unknown) => e);
      t.is((err as TlsError).kind, 'certificate', 'the client was refused');
      await sleep(200);
    } finally {
      await l.close();
    }
  });
  noEscapes(t, escaped, 'dtlsListen onError');
});

// Found by this probe and fixed: quicConnect's `qlog` and `keyLog` functions were called inside the reducer loop's
// subscriber: when they threw, every event's exception was reported to RxJS as unhandled (dozens per handshake), a
// process crash without a handler; the connection itself went on. Now they are contained.
test.serial('callbacks: throwing QUIC qlog and keyLog functions do not escape to the process', async (t) => {
  const escaped = await escapes(async () => {
    const l = await quicListen({ cert, key, alpn: ['x'] });
    try {
      for (const sink of [{ qlog: boom }, { keyLog: boom }]) {
        const conn = await firstValueFrom(quicConnect({ host: '127.0.0.1', port: l.port, ca, servername: 'localhost', alpn: ['x'], ...sink }).pipe(timeout(WAIT_MS))).catch((e: unknown) => e);
        (conn as Partial<QuicConnection>).close?.({ rapid: true });
      }
      await sleep(100);
    } finally {
      await l.close();
    }
  });
  noEscapes(t, escaped, 'qlog / keyLog');
});

// Found by this probe and fixed: a `quicConnect({ onTicker })` that threw made the connection Observable error with
// a raw Node error (ERR_SOCKET_DGRAM_NOT_RUNNING: the exception tore the attempt down and then the socket was bound
// after being closed), not a TlsError, where the DTLS adapter fails such a connection with a typed error. Now the
// attempt fails with apiMisuse naming onTicker.
test.serial('callbacks: a throwing QUIC onTicker fails the attempt with a TlsError, not a raw socket error', async (t) => {
  const port = await freeUdpPort();
  let err: unknown;
  const escaped = await escapes(async () => {
    err = await firstValueFrom(
      race(
        quicConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', alpn: ['x'], onTicker: boom }).pipe(map(() => 'connected')),
        timer(2_000).pipe(map(() => 'still pending after 2 s')),
      ),
    ).catch((e: unknown) => e);
  });
  noEscapes(t, escaped, 'onTicker');
  t.true(err instanceof TlsError || err === 'still pending after 2 s', describeError(err));
});

test('callbacks: a throwing QUIC verifier refuses the chain with a typed close', async (t) => {
  const l = await quicListen({ cert, key, alpn: ['x'] });
  t.teardown(() => l.close());
  const err = await firstValueFrom(quicConnect({ host: '127.0.0.1', port: l.port, alpn: ['x'], verifier: { verify: boom } }).pipe(timeout(WAIT_MS))).catch((e: unknown) => e);
  t.true(err instanceof TlsError, describeError(err));
  t.regex((err as Error).message, /the verifier refused the chain: boom/);
});
