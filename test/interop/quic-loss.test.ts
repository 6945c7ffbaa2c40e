/**
 * QUIC v1 against ngtcp2 (`gtlsserver` / `gtlsclient`, ../shared/PEERS.md §3) under loss and at size: each side
 * with ngtcp2's own random loss (`-r` receive, `-t` transmit), a 10 MB transfer each way, and the close codes
 * each side sees of the other (RFC 9000 §10.2, §19.19).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { get, openControlStream } from '../helpers/h3.js';
import { bigBody, connectTo, gtlsserver, rxtlsServer } from '../helpers/quicInterop.js';
import { requirePeer, run, tempDir } from '../helpers/peers.js';

const TEST_MS = 90_000;
const MB = 1024 * 1024;

/** gtlsclient downloading `file` from 127.0.0.1:`port` into a temporary folder; resolves with the run and the folder. */
async function gtlsclient(t: import('ava').ExecutionContext, port: number, file: string, extra: readonly string[] = []) {
  const dl = tempDir(t);
  const r = await run(requirePeer('gtlsclient'), ['127.0.0.1', String(port), `https://127.0.0.1:${port}/${file}`, '--exit-on-all-streams-close', '--download', dl, ...extra], {
    timeoutMs: 60_000,
    owner: t,
  });
  return { r, downloaded: () => readFileSync(path.join(dl, file), 'utf8') };
}

test('gtlsclient with 10% loss each way (-r 0.1 -t 0.1) downloads 1 MB from an rxtls server whole', async (t) => {
  t.timeout(TEST_MS);
  const body = bigBody(MB);
  const srv = await rxtlsServer(t, body);
  const { r, downloaded } = await gtlsclient(t, srv.port, 'lossy', ['-q', '-r', '0.1', '-t', '0.1']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.true(downloaded() === body, '1 MB arrived whole');
});

test('the rxtls client fetches 1 MB from gtlsserver dropping 10% each way (-r 0.1 -t 0.1)', async (t) => {
  t.timeout(TEST_MS);
  const body = bigBody(MB);
  const { port } = await gtlsserver(t, { 'lossy.txt': body }, ['-q', '-r', '0.1', '-t', '0.1']);
  const conn = await connectTo(port);
  openControlStream(conn);
  const res = await get(conn, `localhost:${port}`, '/lossy.txt', 60_000);
  t.is(res.status, 200);
  t.true(res.body.toString() === body, '1 MB arrived whole');
  conn.close({ errorCode: 0x100n, rapid: true });
});

test('10 MB each way: gtlsclient ← rxtls server, and the rxtls client ← gtlsserver', async (t) => {
  t.timeout(TEST_MS * 2);
  const body = bigBody(10 * MB);
  const srv = await rxtlsServer(t, body);
  const { r, downloaded } = await gtlsclient(t, srv.port, 'ten', ['-q']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.true(downloaded() === body, '10 MB from rxtls arrived whole at ngtcp2');
  const { port } = await gtlsserver(t, { 'ten.txt': body }, ['-q']);
  const conn = await connectTo(port);
  openControlStream(conn);
  const res = await get(conn, `localhost:${port}`, '/ten.txt', 60_000);
  t.true(res.body.toString() === body, '10 MB from ngtcp2 arrived whole at rxtls');
  conn.close({ errorCode: 0x100n, rapid: true });
});

test('close codes: gtlsserver sees our application code (RFC 9000 §19.19, type 0x1d); our server\'s closed$ names gtlsclient\'s H3_NO_ERROR (0x100)', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await gtlsserver(t, { 'index.html': 'hello\n' });
  const conn = await connectTo(port);
  openControlStream(conn);
  t.is((await get(conn, `localhost:${port}`, '/index.html', 20_000)).body.toString(), 'hello\n');
  conn.close({ errorCode: 0x10cn, reason: 'request cancelled by the test', rapid: true }); // H3_REQUEST_CANCELLED
  await peer.waitForOutput(/CONNECTION_CLOSE\(0x1d\)[^\n]*0x10c/, 10_000).catch(() => undefined);
  t.regex(peer.output(), /CONNECTION_CLOSE\(0x1d\)[^\n]*0x10c/, 'ngtcp2 logged our code');

  // The other way: gtlsclient closes with H3_NO_ERROR once its streams are done; our server's closed$ says so.
  const srv = await rxtlsServer(t, 'x'.repeat(1000));
  const closedCode = new Promise<string>((resolve) => {
    srv.connections.subscribe((c) => c.closed$.subscribe({ complete: () => resolve('clean'), error: (e: { message?: string }) => resolve(String(e.message)) }));
  });
  const { r } = await gtlsclient(t, srv.port, 'x');
  t.is(r.code, 0, r.stderr.slice(-2000));
  const seen = await Promise.race([closedCode, new Promise<string>((resolve) => setTimeout(() => resolve('no close within 30 s'), 30_000))]);
  // A peer's application close is reported with its code (only the application knows whether 0x100 means success).
  t.regex(seen, /peer closed with application error 0x100\b/, seen);
});
