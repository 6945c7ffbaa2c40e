/**
 * QUIC v1 interop with ngtcp2 (the Debian `gtlsserver`/`gtlsclient`, ngtcp2 + GnuTLS) on 127.0.0.1 over a
 * HTTP/3 (src/h3, through test/helpers/h3.ts): both directions and a clean close with H3_NO_ERROR. Loss recovery is tested
 * deterministically in virtual time (test/quic/connection.test.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { lastValueFrom } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { quicListen, type QuicConnection } from '../../src/rx/quic.js';
import { serveH3 } from '../../src/rx/h3.js';
import { get, H3_NO_ERROR, openControlStream, serve } from '../helpers/h3.js';
import { connectTo, gtlsserver } from '../helpers/quicInterop.js';
import { certText, requirePeer, run, tempDir } from '../helpers/peers.js';

const TEST_MS = 60_000;
async function closeClean(t: import('ava').ExecutionContext, conn: QuicConnection) {
  conn.close({ errorCode: H3_NO_ERROR, rapid: true });
  // Our own close completes closed$, whatever the application code (OpenSSL's SSL_shutdown_ex returns 1).
  const err = await lastValueFrom(conn.closed$, { defaultValue: undefined }).then(() => undefined, (e: unknown) => e);
  t.is(err, undefined, String(err));
  t.is(conn.shutdownState(), 'complete');
}

test('QUIC interop: rxtls client → gtlsserver (ngtcp2): handshake, HTTP/3 GET, close with H3_NO_ERROR', async (t) => {
  t.timeout(TEST_MS);
  const body = 'hello from ngtcp2 ' + 'x'.repeat(5000) + '\n';
  const { peer, port } = await gtlsserver(t, { 'index.html': body });
  const conn = await connectTo(port);
  t.is(conn.info.alpn, 'h3');
  t.is(conn.info.verification, 'ok');
  openControlStream(conn);
  const r = await get(conn, `localhost:${port}`, '/index.html', 20_000);
  t.is(r.body.toString(), body);
  t.is(r.status, 200);
  await closeClean(t, conn);
  await peer.waitForOutput(/frm rx .* CONNECTION_CLOSE\(0x1d\) error_code=.*\(0x100\)/, 10_000);
  t.regex(peer.output(), /http: stream 0x0 \[:path: \/index\.html\]/);
});

test('QUIC interop: gtlsclient (ngtcp2) → rxtls server: the HTTP/3 download is our body; the client closes with H3_NO_ERROR', async (t) => {
  t.timeout(TEST_MS);
  const bin = requirePeer('gtlsclient');
  const body = 'hello from rxtls ' + 'y'.repeat(3000) + '\n';
  const srv = await quicListen({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'] });
  t.teardown(() => srv.close());
  const closed = new Promise<unknown>((resolve) => {
    srv.connections.subscribe((conn) => {
      serve(conn, body);
      conn.closed$.subscribe({ complete: () => resolve('clean'), error: (e: unknown) => resolve(e) });
    });
  });
  const dl = tempDir(t);
  const r = await run(bin, ['127.0.0.1', String(srv.port), `https://127.0.0.1:${srv.port}/index.html`, '--exit-on-all-streams-close', '-q', '--download', dl], {
    timeoutMs: 30_000,
    owner: t,
  });
  t.is(r.code, 0, r.stderr + r.stdout);
  t.is(readFileSync(path.join(dl, 'index.html'), 'utf8'), body);
  const seen = await Promise.race([closed, new Promise((res) => setTimeout(() => res('timeout'), 10_000))]);
  t.true(seen instanceof TlsError && seen.detail.kind === 'quicClose' && seen.detail.code === H3_NO_ERROR && !seen.detail.local, String(seen));
});

test('QUIC interop: gtlsclient (ngtcp2) makes 300 HTTP/3 requests on one connection to an rxtls server allowing 10 streams at once (MAX_STREAMS)', async (t) => {
  t.timeout(TEST_MS);
  const bin = requirePeer('gtlsclient');
  const body = 'hello ' + 'z'.repeat(200) + '\n';
  const srv = await quicListen({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'], maxStreams: 10 });
  t.teardown(() => srv.close());
  let requests = 0;
  srv.connections.subscribe((conn) => serveH3(conn, () => (requests++, { status: 200, body })));
  const r = await run(bin, ['127.0.0.1', String(srv.port), `https://127.0.0.1:${srv.port}/index.html`, '-n', '300', '--exit-on-all-streams-close', '-q'], {
    timeoutMs: 60_000,
    owner: t,
  });
  t.is(r.code, 0, r.stderr.slice(-2000) + r.stdout.slice(-2000));
  t.is(requests, 300);
});

test('QUIC interop: rxtls client → gtlsserver allowing 5 streams at once: 40 HTTP/3 GETs one after another on one connection (its MAX_STREAMS)', async (t) => {
  t.timeout(TEST_MS);
  const body = 'many ' + 'w'.repeat(100) + '\n';
  const { peer, port } = await gtlsserver(t, { 'index.html': body }, ['--max-streams-bidi=5']);
  const conn = await connectTo(port);
  openControlStream(conn);
  let ok = 0;
  for (let i = 0; i < 40; i++) {
    const r = await get(conn, `localhost:${port}`, '/index.html', 20_000);
    if (r.status === 200 && r.body.toString() === body) ok++;
  }
  t.is(ok, 40);
  await closeClean(t, conn);
  // The 40th request stream (id 156 = 0x9c) reached the server, as its log says (once flushed).
  await peer.waitForOutput(/stream 0x9c /, 10_000);
  t.regex(peer.output(), /stream 0x9c /);
});

test('QUIC interop: rxtls client → gtlsserver allowing 5 streams at once: 30 HTTP/3 GETs at once, the others waiting for its MAX_STREAMS', async (t) => {
  t.timeout(TEST_MS);
  const body = 'parallel ' + 'v'.repeat(100) + '\n';
  const { port } = await gtlsserver(t, { 'index.html': body }, ['--max-streams-bidi=5']);
  const conn = await connectTo(port);
  openControlStream(conn);
  const answers = await Promise.all(Array.from({ length: 30 }, () => get(conn, `localhost:${port}`, '/index.html', 20_000)));
  t.is(answers.filter((r) => r.status === 200 && r.body.toString() === body).length, 30);
  await closeClean(t, conn);
});
