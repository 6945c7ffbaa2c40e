/**
 * A DTLS hop through the proxy operators on 127.0.0.1 (issue 14): an rxtls DTLS client (`dtlsConnect`) →
 * `dtlsListen` → `terminate()` (the `DtlsConnection` as a plaintext duplex) → `splice` → a plain TCP backend.
 *
 * What a close means differs by version, and the tests assert each:
 * - DTLS 1.3 (RFC 9147 keeps TLS 1.3's closure, RFC 8446 §6.1): close_notify closes one direction, so it maps to
 *   a TCP FIN and back, each direction on its own (the endpoint table in `src/rx/proxy/endpoint.ts`).
 * - DTLS 1.2 (RFC 6347 §4.1 keeps TLS 1.2's alerts, RFC 5246 §7.2.1): the receiver of a close_notify "MUST respond
 *   with a close_notify alert of its own and close down the connection immediately, discarding any pending
 *   writes": the client's close_notify ends both directions of the DTLS side; the backend still gets a FIN.
 * - An abort: a TCP reset of the backend is not a clean end, and the DTLS client must learn it as an error.
 */
import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Subject, firstValueFrom, lastValueFrom, mergeMap, timeout } from 'rxjs';
import { terminate } from '../../operators/terminate.js';
import { splice, type SpliceReport } from '../../operators/splice.js';
import { dtlsConnect, dtlsListen } from '../../src/rx/dtls.js';
import type { DtlsConnection, DtlsConnectOptions } from '../../src/rx/dtlsTypes.js';
import { fromSocket } from '../../src/rx/duplex.js';
import { TlsError } from '../../src/core/errors.js';
import { ca, cert, dec, key } from '../helpers/fixtures.js';
import { withTimeout } from '../helpers/peers.js';

const MS = 15_000;

/** What the TCP backend saw: data, its FIN, or an error. */
interface BackendLog {
  readonly events: string[];
  /** Resolves at the backend socket's 'close'. */
  readonly closed: Promise<void>;
}

/**
 * A TCP backend (allowHalfOpen) on 127.0.0.1, the proxy (`dtlsListen` → `terminate()` → `splice` to it) and its
 * report (one proxied connection per test); `onSocket` decides what the backend does.
 */
async function proxyTo(t: ExecutionContext, onSocket: (s: net.Socket) => void) {
  const events: string[] = [];
  let closedResolve!: () => void;
  const closed = new Promise<void>((resolve) => (closedResolve = resolve));
  const backend = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (b: Buffer) => events.push(`data ${b.toString()}`));
    s.on('end', () => events.push('FIN'));
    s.on('error', (e: NodeJS.ErrnoException) => events.push(`error ${e.code ?? e.message}`));
    s.on('close', () => closedResolve());
    onSocket(s);
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => backend.close());
  const backendPort = (backend.address() as AddressInfo).port;

  const listener = await dtlsListen({ cert, key, keyLog: false });
  t.teardown(() => listener.close());
  let reported!: (r: SpliceReport) => void;
  const report = new Promise<SpliceReport>((resolve) => (reported = resolve));
  const sub = listener.connections
    .pipe(
      terminate(),
      mergeMap((plain) => splice(plain, fromSocket(net.connect({ host: '127.0.0.1', port: backendPort, allowHalfOpen: true })))),
    )
    .subscribe((r) => reported(r));
  t.teardown(() => sub.unsubscribe());
  const log: BackendLog = { events, closed };
  return { port: listener.port, log, report };
}

const connectTo = (port: number, extra: Partial<DtlsConnectOptions> = {}) =>
  withTimeout(firstValueFrom(dtlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', keyLog: false, ...extra })), MS, 'DTLS handshake');

/** How an inbound stream ended: `'close_notify'`, or the error's kind (with the alert, for a received alert). */
function ending(e?: unknown): string {
  if (e === undefined) return 'close_notify';
  if (!(e instanceof TlsError)) return String(e);
  return e.detail.kind === 'alertReceived' ? `alertReceived ${e.detail.alert}` : e.kind;
}

/** `inbound$` collected as text, live (`records`), and how it ended (`end`). */
function collect(conn: DtlsConnection) {
  const records: string[] = [];
  const end = new Promise<string>((resolve) => {
    conn.inbound$.pipe(timeout(MS)).subscribe({ next: (b) => records.push(dec(b)), complete: () => resolve(ending()), error: (e: unknown) => resolve(ending(e)) });
  });
  return { records, end };
}

/** Wait (bounded, polling every 20 ms) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

/** A client output we drive: `next(text)` sends one record, `end()` sends close_notify; `sent` resolves then (or with the failure). */
function output(conn: DtlsConnection) {
  const records = new Subject<string>();
  const sent = lastValueFrom(conn.send(records), { defaultValue: undefined }).then(
    () => 'close_notify sent',
    (e: unknown) => ending(e),
  );
  return { next: (text: string) => records.next(text), end: () => records.complete(), sent };
}

/** Connect through the proxy, send two records and wait for both echoes (the backend echoes each TCP read). */
async function echoed(t: ExecutionContext, port: number, version: Version) {
  const conn = await connectTo(port, { minVersion: version, maxVersion: version });
  t.is(conn.info.protocol, version);
  const inbound = collect(conn);
  const out = output(conn);
  out.next('hello');
  await until(() => inbound.records.length === 1, 'the first echo');
  out.next('again');
  await until(() => inbound.records.length === 2, 'the second echo');
  t.deepEqual(inbound.records, ['echo hello', 'echo again']);
  return { conn, inbound, out };
}

type Version = 'DTLSv1.3' | 'DTLSv1.2';
/** A backend that echoes each read as `echo …` (while its output is open). */
const echo = (s: net.Socket) => s.on('data', (b: Buffer) => s.writableEnded || s.write(`echo ${b.toString()}`));

test('DTLS 1.3 → terminate → splice → TCP: the client close_notify is the backend FIN; the backend still answers, then its FIN is our close_notify', async (t) => {
  const { port, log, report } = await proxyTo(t, (s) => {
    echo(s);
    s.on('end', () => s.end('after your FIN'));
  });
  const { conn, inbound, out } = await echoed(t, port, 'DTLSv1.3');
  out.end();
  t.is(await withTimeout(out.sent, MS, 'our close_notify'), 'close_notify sent');
  t.is(await withTimeout(inbound.end, MS, 'the proxy close_notify'), 'close_notify');
  t.deepEqual(inbound.records, ['echo hello', 'echo again', 'after your FIN'], 'DTLS 1.3: our close_notify closed our direction only');
  await withTimeout(log.closed, MS, 'the backend socket closed');
  t.deepEqual(log.events, ['data hello', 'data again', 'FIN']);
  t.like(await withTimeout(report, MS, 'the splice report'), { aToB: 10, bToA: 34, a: { kind: 'end' }, b: { kind: 'end' } });
  await withTimeout(lastValueFrom(conn.closed$, { defaultValue: undefined }), MS, 'the client closed');
});

test('DTLS 1.3 → terminate → splice → TCP: the backend FIN is our close_notify; the client still sends, then its close_notify is the backend FIN', async (t) => {
  const { port, log, report } = await proxyTo(t, (s) => {
    echo(s);
    s.once('data', () => s.end()); // FIN after the first echo
  });
  const conn = await connectTo(port, { maxVersion: 'DTLSv1.3' });
  const inbound = collect(conn);
  const out = output(conn);
  out.next('hello');
  t.is(await withTimeout(inbound.end, MS, 'the proxy close_notify'), 'close_notify');
  t.deepEqual(inbound.records, ['echo hello']);
  out.next('still here');
  await until(() => log.events.includes('data still here'), 'the late record at the backend');
  out.end();
  await withTimeout(log.closed, MS, 'the backend socket closed');
  t.deepEqual(log.events, ['data hello', 'data still here', 'FIN']);
  t.like(await withTimeout(report, MS, 'the splice report'), { aToB: 15, bToA: 10, a: { kind: 'end' }, b: { kind: 'end' } });
  await withTimeout(lastValueFrom(conn.closed$, { defaultValue: undefined }), MS, 'the client closed');
});

test('DTLS 1.2 → terminate → splice → TCP: the client close_notify is answered at once and is the backend FIN; what the backend says after it is discarded', async (t) => {
  const late: string[] = [];
  const { port, log, report } = await proxyTo(t, (s) => {
    echo(s);
    s.on('end', () => {
      late.push('backend answered after the FIN');
      s.end('after your FIN');
    });
  });
  const { conn, inbound, out } = await echoed(t, port, 'DTLSv1.2');
  out.end();
  t.is(await withTimeout(out.sent, MS, 'our close_notify'), 'close_notify sent');
  // RFC 5246 §7.2.1 (kept by RFC 6347): the proxy answers with its close_notify and closes both directions.
  t.is(await withTimeout(inbound.end, MS, 'the proxy close_notify'), 'close_notify');
  await withTimeout(lastValueFrom(conn.closed$, { defaultValue: undefined }), MS, 'the client closed');
  await withTimeout(log.closed, MS, 'the backend socket closed');
  t.deepEqual(log.events, ['data hello', 'data again', 'FIN']);
  t.deepEqual(late, ['backend answered after the FIN']);
  t.deepEqual(inbound.records, ['echo hello', 'echo again'], 'nothing after the close_notify reached the client');
  t.like(await withTimeout(report, MS, 'the splice report'), { aToB: 10, a: { kind: 'end' }, b: { kind: 'end' } });
});

test('DTLS 1.2 → terminate → splice → TCP: the backend FIN is our close_notify, which the client answers: both directions end', async (t) => {
  const { port, log, report } = await proxyTo(t, (s) => {
    echo(s);
    s.once('data', () => s.end()); // FIN after the first echo
  });
  const conn = await connectTo(port, { minVersion: 'DTLSv1.2', maxVersion: 'DTLSv1.2' });
  const inbound = collect(conn);
  const out = output(conn);
  out.next('hello');
  t.is(await withTimeout(inbound.end, MS, 'the proxy close_notify'), 'close_notify');
  t.deepEqual(inbound.records, ['echo hello']);
  // Our client answered the close_notify and closed (its send() completed with it, without our end()).
  t.is(await withTimeout(out.sent, MS, 'the answering close_notify'), 'close_notify sent');
  await withTimeout(lastValueFrom(conn.closed$, { defaultValue: undefined }), MS, 'the client closed');
  await withTimeout(log.closed, MS, 'the backend socket closed');
  t.deepEqual(log.events, ['data hello', 'FIN']);
  t.like(await withTimeout(report, MS, 'the splice report'), { aToB: 5, bToA: 10, a: { kind: 'end' }, b: { kind: 'end' } });
});

for (const version of ['DTLSv1.3', 'DTLSv1.2'] as const) {
  test(`${version} → terminate → splice → TCP: a backend reset reaches the DTLS client as an abort (a fatal alert), not a clean close`, async (t) => {
    const { port, report } = await proxyTo(t, (s) => {
      s.once('data', () => s.write('partial', () => setTimeout(() => s.resetAndDestroy(), 50)));
    });
    const conn = await connectTo(port, { minVersion: version, maxVersion: version });
    const inbound = collect(conn);
    const out = output(conn);
    out.next('hello');
    // internal_error (80): the proxy's way to say the stream was cut (RFC 8446 §6.2); never a close_notify.
    t.is(await withTimeout(inbound.end, MS, 'the abort'), 'alertReceived 80');
    t.deepEqual(inbound.records, ['partial']);
    const closed = await withTimeout(lastValueFrom(conn.closed$, { defaultValue: undefined }), MS, 'the client closed').then(ending, ending);
    t.is(closed, 'alertReceived 80');
    t.is(await withTimeout(out.sent, MS, 'the send'), 'alertReceived 80');
    const r = await withTimeout(report, MS, 'the splice report');
    t.is(r.a.kind, 'aborted');
    t.is(r.b.kind, 'error');
  });
}
