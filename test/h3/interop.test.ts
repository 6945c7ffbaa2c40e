/**
 * HTTP/3 interop with ngtcp2's `gtlsserver` / `gtlsclient` (PEERS.md §3) on 127.0.0.1, through the public
 * `rxtls/h3` calls: our client decodes gtlsserver's field sections (static references and Huffman-coded
 * literals) and body; gtlsclient downloads from `serveH3`. Peers run under deadlines; a missing peer fails in CI.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { firstValueFrom, lastValueFrom, timeout, toArray } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { H3ErrorCode, h3Connect, h3Request, serveH3 } from '../../src/h3/index.js';
import { quicListen } from '../../src/rx/quic.js';
import { certPath, certText, freePort, requirePeer, run, spawnPeer, tempDir } from '../helpers/peers.js';

const MS = 20_000;

test('HTTP/3 interop: rxtls h3Request → gtlsserver: status, decoded fields and the file\'s bytes', async (t) => {
  t.timeout(60_000);
  const bin = requirePeer('gtlsserver');
  const htdocs = path.join(tempDir(t), 'htdocs');
  mkdirSync(htdocs);
  const body = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff));
  writeFileSync(path.join(htdocs, 'data.bin'), body);
  const port = await freePort();
  const peer = await spawnPeer(bin, ['127.0.0.1', String(port), certPath('server-ec-key.pem'), certPath('server-ec-chain.pem'), '-d', htdocs, '-q'], {
    timeoutMs: 45_000,
    owner: t,
    readyLine: 'Using document root',
  });
  const conn = await firstValueFrom(h3Connect({ host: '127.0.0.1', port, ca: certText('ca-cert.pem'), servername: 'localhost' }).pipe(timeout(MS)));
  t.is(conn.info.alpn, 'h3');
  const res = await firstValueFrom(h3Request(conn, { authority: `localhost:${port}`, path: '/data.bin' }).pipe(timeout(MS)));
  t.is(res.status, 200);
  t.deepEqual(res.headers.find(([n]) => n === 'content-length'), ['content-length', String(body.length)]);
  t.true(res.headers.some(([n, v]) => n === 'server' && v.length > 0), JSON.stringify(res.headers));
  t.true(Buffer.concat(await lastValueFrom(res.body.pipe(toArray(), timeout(MS)))).equals(body));
  const missing = await firstValueFrom(h3Request(conn, { authority: `localhost:${port}`, path: '/nope' }).pipe(timeout(MS)));
  t.is(missing.status, 404);
  await lastValueFrom(missing.body, { defaultValue: undefined });
  conn.close({ errorCode: H3ErrorCode.H3_NO_ERROR, rapid: true });
  await lastValueFrom(conn.closed$, { defaultValue: undefined });
  await peer.kill();
});

test('HTTP/3 interop: gtlsclient → rxtls serveH3: the download is our body, and the request head reached the handler', async (t) => {
  t.timeout(60_000);
  const bin = requirePeer('gtlsclient');
  const body = 'served by serveH3 ' + 'q'.repeat(40_000) + '\n';
  const srv = await quicListen({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'] });
  t.teardown(() => srv.close());
  const seen: string[] = [];
  const closed = new Promise<unknown>((resolve) =>
    srv.connections.subscribe((conn) => {
      serveH3(conn, (req) => {
        seen.push(`${req.method} ${req.scheme}://${req.authority}${req.path}`);
        return { status: 200, headers: [['content-type', 'text/plain']], body };
      });
      conn.closed$.subscribe({ complete: () => resolve('clean'), error: (e: unknown) => resolve(e) });
    }),
  );
  const dl = tempDir(t);
  const r = await run(bin, ['127.0.0.1', String(srv.port), `https://127.0.0.1:${srv.port}/file.txt`, '--exit-on-all-streams-close', '-q', '--download', dl], { timeoutMs: 30_000, owner: t });
  t.is(r.code, 0, r.stderr + r.stdout);
  t.is(readFileSync(path.join(dl, 'file.txt'), 'utf8'), body);
  t.deepEqual(seen, [`GET https://127.0.0.1:${srv.port}/file.txt`]);
  const end = await Promise.race([closed, new Promise((res) => setTimeout(() => res('timeout'), 10_000))]);
  t.true(end instanceof TlsError && end.detail.kind === 'quicClose' && end.detail.code === H3ErrorCode.H3_NO_ERROR, String(end));
});
