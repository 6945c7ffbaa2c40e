/**
 * Closing sequences (RFC 8446 §6.1, docs/closing.md) against real peers on 127.0.0.1.
 *
 * - `s_client` `Q` (close_notify) → the rxtls server sees `inbound$` complete, `shutdownState()` says
 *   received, and its own close_notify follows (`shutdown()` emits `sent` then `complete`).
 * - `s_server -www` closes first → our `inbound$` completes while our side is open; then ours; the
 *   connection's Observable completes. The CLI exits 0.
 * - node:tls with `allowHalfOpen: true`, both ways: a half-closed TLS connection keeps carrying data the other
 *   way until the second close_notify.
 * - A peer that destroys its socket mid-stream (no close_notify) → `unexpectedEof`, or a completed `inbound$`
 *   with `ignoreUnexpectedEof`.
 */
import test from 'ava';
import tls from 'node:tls';
import { Subject, lastValueFrom, of, toArray } from 'rxjs';
import {
  TEST_MS,
  cliClientArgs,
  describeRun,
  listenLoopback,
  nodeClientOptions,
  opensslCertArgs,
  runCli,
  rxClient,
  serverPem,
  startListener,
  startSClient,
  startSServer,
  withTimeout,
} from '../helpers/peers.js';
import { connect } from '../../src/rx/connect.js';
import { TlsError } from '../../src/core/errors.js';
import type { ConnectOptions, TlsConnection } from '../../src/rx/types.js';

const serverCert = serverPem();
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (chunks: readonly Uint8Array[]) => Buffer.concat(chunks.map((c) => Buffer.from(c))).toString();


/** Collect `inbound$` until it completes (or errors: the promise rejects). */
function collectInbound(conn: TlsConnection): Promise<string> {
  return lastValueFrom(conn.inbound$.pipe(toArray())).then(dec);
}

/** Subscribe to `connect(options)`, resolve with the connection and a promise of the Observable's completion. */
function connectWatched(options: ConnectOptions, owner: { teardown(f: () => void): void }) {
  return new Promise<{ conn: TlsConnection; completed: Promise<void> }>((resolve, reject) => {
    let done!: () => void;
    let fail!: (e: unknown) => void;
    const completed = new Promise<void>((res, rej) => {
      done = res;
      fail = rej;
    });
    completed.catch(() => undefined);
    const sub = connect(options).subscribe({ next: (conn) => resolve({ conn, completed }), error: (e) => (reject(e), fail(e)), complete: () => done() });
    owner.teardown(() => sub.unsubscribe());
  });
}

// ---------------------------------------------------------------------------------------------------------
// openssl

test('s_client Q → rxtls server: inbound$ completes, then our close_notify (shutdown(): sent, complete)', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(serverCert, t);
  const client = await startSClient(l.port, ['-msg'], { owner: t });
  const conn = await l.accept();
  let got = '';
  let gotData!: () => void;
  const dataArrived = new Promise<void>((r) => (gotData = r));
  const inbound = new Promise<void>((resolve, reject) =>
    conn.inbound$.subscribe({ next: (c) => ((got += Buffer.from(c).toString()), gotData()), complete: resolve, error: reject }),
  );
  client.write('last words\n');
  // s_client looks only at the first byte of what one read() returns: type Q on its own.
  await withTimeout(dataArrived, 10_000, 'data from s_client');
  client.write('Q\n');
  await withTimeout(inbound, 10_000, 'inbound$ completion at the close_notify');
  t.is(got, 'last words\n');
  t.deepEqual(conn.shutdownState(), { sent: false, received: true }); // SSL_RECEIVED_SHUTDOWN only
  const progress = await withTimeout(lastValueFrom(conn.shutdown().pipe(toArray())), 10_000, 'shutdown()');
  t.deepEqual(progress, ['sent', 'complete']);
  t.deepEqual(conn.shutdownState(), { sent: true, received: true });
  const exit = await withTimeout(client.exited, 10_000, 's_client exit');
  t.is(exit.code, 0, client.output());
  t.regex(client.output(), /^DONE$/m);
  t.regex(client.stdout(), /^>>> TLS 1\.3, Alert \[length 0002\], warning close_notify$/m);
});

test('rxtls client → s_server -www: its close_notify completes inbound$ first, then ours; the connection completes', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-www', '-naccept', '1', '-msg'], { owner: t });
  const { conn, completed } = await connectWatched(rxClient(port), t);
  const out = new Subject<Uint8Array>();
  const sent = lastValueFrom(conn.send(out), { defaultValue: undefined });
  out.next(enc('GET / HTTP/1.0\r\n\r\n'));
  const page = await withTimeout(collectInbound(conn), 10_000, 'the page, then close_notify');
  t.regex(page, /^HTTP\/1\.0 200 ok\r\n/);
  t.deepEqual(conn.shutdownState(), { sent: false, received: true });
  // Our direction is still open: SSL_shutdown would now send close_notify and return 1 at once.
  out.complete();
  await withTimeout(sent, 10_000, 'our close_notify');
  await withTimeout(completed, 10_000, 'the connection Observable completes');
  t.deepEqual(conn.shutdownState(), { sent: true, received: true });
  await withTimeout(peer.exited, 10_000, 's_server exit');
  t.regex(peer.stdout(), /^<<< TLS 1\.3, Alert \[length 0002\], warning close_notify$/m);
});

test('rxtls CLI client → s_server -www: clean close sequence, exit 0', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-www', '-naccept', '1', '-msg'], { owner: t });
  const r = await runCli(cliClientArgs(port), 'GET / HTTP/1.0\r\n\r\n', { owner: t });
  t.is(r.code, 0, describeRun('rxtls client', r));
  t.regex(r.stderr, /^rxtls: closed cleanly \(close_notify both ways\)$/m);
  await withTimeout(peer.exited, 10_000, 's_server exit');
  t.regex(peer.stdout(), /^>>> TLS 1\.3, Alert \[length 0002\], warning close_notify$/m);
  t.regex(peer.stdout(), /^<<< TLS 1\.3, Alert \[length 0002\], warning close_notify$/m);
});

// ---------------------------------------------------------------------------------------------------------
// node:tls, allowHalfOpen

/*
 * Half-close over TCP: the peer sends close_notify and then a FIN. listen() and connect() open their sockets
 * with allowHalfOpen, so we keep sending (data, then our close_notify) after the peer's FIN. The 100 ms pause
 * makes sure the FIN has been processed before we write.
 */
test('node:tls client (allowHalfOpen) end() → rxtls server: inbound$ completes, we keep sending, then close', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(serverCert, t);
  const nodeSide = withTimeout(
    new Promise<{ received: string }>((resolve, reject) => {
      let received = '';
      const socket = tls.connect(nodeClientOptions(l.port, { allowHalfOpen: true } as tls.ConnectionOptions), () => {
        socket.end('client done\n'); // close_notify + FIN: node's write side is closed, it keeps reading
      });
      socket.on('data', (d: Buffer) => (received += d.toString()));
      socket.on('end', () => resolve({ received }));
      socket.on('error', reject);
    }),
    20_000,
    'node:tls client',
  );
  const conn = await l.accept();
  t.is(await withTimeout(collectInbound(conn), 10_000, 'inbound$ completion'), 'client done\n');
  t.deepEqual(conn.shutdownState(), { sent: false, received: true });
  await new Promise((r) => setTimeout(r, 100)); // a server that takes a moment to answer
  // Half-closed: our direction still carries data, in several writes, then our close_notify.
  const more = new Subject<Uint8Array>();
  const sent = lastValueFrom(conn.send(more), { defaultValue: undefined });
  for (const part of ['one ', 'two ', 'three\n']) {
    more.next(enc(part));
    await new Promise((r) => setImmediate(r));
  }
  more.complete();
  await withTimeout(sent, 10_000, 'our close_notify');
  t.is((await nodeSide).received, 'one two three\n');
});

test('node:tls server end() → rxtls client: inbound$ completes, we keep sending; node (allowHalfOpen) reads it', async (t) => {
  t.timeout(TEST_MS);
  let resolveSeen!: (s: string) => void;
  const seen = new Promise<string>((r) => (resolveSeen = r));
  const server = tls.createServer({ minVersion: 'TLSv1.3', allowHalfOpen: true, ...serverCert }, (socket) => {
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('end', () => resolveSeen(received));
    socket.on('error', () => undefined);
    // end() right in this callback skips close_notify (see node.test.ts): answer the client's first data.
    socket.once('data', () => socket.end('server done\n')); // close_notify + FIN
  });
  const { conn } = await connectWatched(rxClient(await listenLoopback(server, t)), t);
  const out = new Subject<Uint8Array>();
  const sent = lastValueFrom(conn.send(out), { defaultValue: undefined });
  out.next(enc('hello\n'));
  t.is(await withTimeout(collectInbound(conn), 10_000, 'inbound$ completion'), 'server done\n');
  t.deepEqual(conn.shutdownState(), { sent: false, received: true });
  await new Promise((r) => setTimeout(r, 100));
  out.next(enc('late reply\n'));
  out.complete();
  await withTimeout(sent, 10_000, 'our close_notify');
  t.is(await withTimeout(seen, 10_000, 'node end'), 'hello\nlate reply\n');
});

test('rxtls client completes its output → node:tls server (allowHalfOpen) sees end and still writes', async (t) => {
  t.timeout(TEST_MS);
  let server!: tls.Server;
  const seen = new Promise<{ received: string }>((resolve, reject) => {
    server = tls.createServer({ minVersion: 'TLSv1.3', allowHalfOpen: true, ...serverCert }, (socket) => {
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString()));
      socket.on('end', () => {
        // Our close_notify arrived; node may still write (half-open), then closes its side.
        socket.write('written after your close_notify\n');
        setImmediate(() => socket.end('and the last line\n'));
        resolve({ received });
      });
      socket.on('error', reject);
    });
  });
  const port = await listenLoopback(server, t);
  const { conn, completed } = await connectWatched(rxClient(port), t);
  const inbound = collectInbound(conn);
  await withTimeout(lastValueFrom(conn.send(of(enc('request\n'))), { defaultValue: undefined }), 10_000, 'send + close_notify');
  t.deepEqual(conn.shutdownState(), { sent: true, received: false });
  t.is((await withTimeout(seen, 10_000, 'node end')).received, 'request\n');
  t.is(await withTimeout(inbound, 10_000, 'inbound$ after our close_notify'), 'written after your close_notify\nand the last line\n');
  await withTimeout(completed, 10_000, 'connection completion');
  t.deepEqual(conn.shutdownState(), { sent: true, received: true });
});

// ---------------------------------------------------------------------------------------------------------
// truncation

/** A node:tls server that writes `data` once the client spoke, then destroys the socket (no close_notify). */
async function destroyingServer(t: { teardown(f: () => void): void }, data: string): Promise<number> {
  const server = tls.createServer({ minVersion: 'TLSv1.3', ...serverCert }, (socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.write(data, () => setTimeout(() => socket.destroy(), 50)));
  });
  return listenLoopback(server, t);
}

test('node:tls server destroys its socket mid-stream → rxtls client: inbound$ errors with unexpectedEof', async (t) => {
  t.timeout(TEST_MS);
  const port = await destroyingServer(t, 'partial response');
  const { conn, completed } = await connectWatched(rxClient(port), t);
  const got: string[] = [];
  const inbound = new Promise<void>((resolve, reject) =>
    conn.inbound$.subscribe({ next: (c) => got.push(Buffer.from(c).toString()), complete: resolve, error: reject }),
  );
  const out = new Subject<Uint8Array>();
  conn.send(out).subscribe({ error: () => undefined });
  out.next(enc('hi'));
  const err = await t.throwsAsync(withTimeout(inbound, 10_000, 'inbound$ error'), { instanceOf: TlsError });
  t.is(err?.kind, 'unexpectedEof');
  t.is(got.join(''), 'partial response'); // data before the truncation was delivered
  await t.throwsAsync(completed, { instanceOf: TlsError }); // the connection errors too
  t.false(conn.shutdownState().received);
});

test('node:tls server destroys its socket mid-stream → rxtls client with ignoreUnexpectedEof: inbound$ completes', async (t) => {
  t.timeout(TEST_MS);
  const port = await destroyingServer(t, 'partial response');
  const { conn } = await connectWatched(rxClient(port, { ignoreUnexpectedEof: true }), t);
  const out = new Subject<Uint8Array>();
  conn.send(out).subscribe({ error: () => undefined });
  out.next(enc('hi'));
  t.is(await withTimeout(collectInbound(conn), 10_000, 'inbound$ completion at EOF'), 'partial response');
  t.true(conn.shutdownState().received); // the EOF counts as the peer's close
});
