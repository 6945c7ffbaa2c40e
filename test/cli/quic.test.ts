/**
 * The QUIC side of the `rxtls` command, spawned as a bundle under deadlines on 127.0.0.1: `rxtls get` against
 * `rxtls server --quic --www` (a file, 404, a refused traversal) and against ngtcp2's gtlsserver; gtlsclient
 * downloading from `rxtls server --quic --www`; `client --quic` ↔ `server --quic --echo`; `--qlog DIR` on both
 * ends; argument errors.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { firstValueFrom, take, timeout } from 'rxjs';
import { quicConnect } from '../../src/rx/quic.js';
import { certPath, certText, cliServerPort, describeRun, freePort, requirePeer, run, runCli, spawnPeer, startCliServer, tempDir } from '../helpers/peers.js';

const MS = 40_000;
const MiB = 1024 * 1024;

function site(t: import('ava').ExecutionContext, files: Record<string, string | Buffer>): string {
  const dir = path.join(tempDir(t), 'www');
  mkdirSync(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(dir, name), body);
  return dir;
}

const serverArgs = (extra: string[]) => ['server', '--quic', '--port', '0', '--cert', certPath('server-ec-chain.pem'), '--key', certPath('server-ec-key.pem'), ...extra];
const getArgs = (url: string, extra: string[] = []) => ['get', url, '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost', '--timeout', '20', ...extra];

test('rxtls get → rxtls server --quic --www: the file to stdout and to -o FILE; 404 and a traversal exit 1', async (t) => {
  t.timeout(MS * 3);
  const body = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 13) & 0xff));
  const dir = site(t, { 'data.bin': body, 'index.html': '<p>hi</p>\n' });
  writeFileSync(path.join(path.dirname(dir), 'secret.txt'), 'outside');
  const server = await startCliServer(serverArgs(['--www', dir]), { timeoutMs: MS * 2, owner: t });
  const port = cliServerPort(server);
  const out = path.join(tempDir(t), 'dl.bin');
  const dl = await runCli(getArgs(`https://127.0.0.1:${port}/data.bin`, ['-o', out]), undefined, { timeoutMs: MS, owner: t });
  t.is(dl.code, 0, describeRun('rxtls get -o', dl));
  t.true(readFileSync(out).equals(body));
  const index = await runCli(getArgs(`https://127.0.0.1:${port}/`), undefined, { timeoutMs: MS, owner: t });
  t.is(index.code, 0, describeRun('rxtls get /', index));
  t.is(index.stdout, '<p>hi</p>\n');
  const missing = await runCli(getArgs(`https://127.0.0.1:${port}/nope.txt`), undefined, { timeoutMs: MS, owner: t });
  t.is(missing.code, 1, describeRun('rxtls get 404', missing));
  t.regex(missing.stderr, /^rxtls: GET https:\/\/127\.0\.0\.1:\d+\/nope\.txt: 404$/m);
  const escape = await runCli(getArgs(`https://127.0.0.1:${port}/x/..%2F..%2Fsecret.txt`), undefined, { timeoutMs: MS, owner: t });
  t.is(escape.code, 1, describeRun('rxtls get traversal', escape));
  t.regex(escape.stderr, /: 403$/m);
  t.notRegex(escape.stdout, /outside/);
  await server.kill();
});

test('rxtls get → gtlsserver (ngtcp2): the body is the file', async (t) => {
  t.timeout(MS * 2);
  const bin = requirePeer('gtlsserver');
  const body = 'from ngtcp2 ' + 'n'.repeat(30_000) + '\n';
  const dir = site(t, { 'f.txt': body });
  const port = await freePort();
  await spawnPeer(bin, ['127.0.0.1', String(port), certPath('server-ec-key.pem'), certPath('server-ec-chain.pem'), '-d', dir, '-q'], { timeoutMs: MS, owner: t, readyLine: 'Using document root' });
  const r = await runCli(getArgs(`https://127.0.0.1:${port}/f.txt`), undefined, { timeoutMs: MS, owner: t });
  t.is(r.code, 0, describeRun('rxtls get', r));
  t.is(r.stdout, body);
});

test('gtlsclient (ngtcp2) → rxtls server --quic --www: the download is the file', async (t) => {
  t.timeout(MS * 2);
  const bin = requirePeer('gtlsclient');
  const body = 'from rxtls --www ' + 'w'.repeat(50_000) + '\n';
  const dir = site(t, { 'page.txt': body });
  const server = await startCliServer(serverArgs(['--www', dir, '--retry']), { timeoutMs: MS, owner: t });
  const port = cliServerPort(server);
  const dl = tempDir(t);
  const r = await run(bin, ['127.0.0.1', String(port), `https://127.0.0.1:${port}/page.txt`, '--exit-on-all-streams-close', '-q', '--download', dl], { timeoutMs: 30_000, owner: t });
  t.is(r.code, 0, r.stderr + r.stdout);
  t.is(readFileSync(path.join(dl, 'page.txt'), 'utf8'), body);
  await server.kill();
  t.regex(server.stderr(), /^CONNECTION 1 \(QUIC\)$/m);
});

test('rxtls client --quic ↔ rxtls server --quic --echo: stdin comes back on the stream; stdin EOF is FIN; exit 0', async (t) => {
  t.timeout(MS * 2);
  const server = await startCliServer(serverArgs(['--echo', '--alpn', 'echo']), { timeoutMs: MS, owner: t });
  const port = cliServerPort(server);
  const input = 'hello over quic\n' + 'e'.repeat(20_000) + '\n';
  const r = await runCli(['client', '--quic', `127.0.0.1:${port}`, '--alpn', 'echo', '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost'], input, { timeoutMs: MS, owner: t });
  t.is(r.code, 0, describeRun('rxtls client --quic', r));
  t.is(r.stdout, input);
  t.regex(r.stderr, /^CONNECTED 127\.0\.0\.1:\d+ \(QUIC\)$/m);
  t.regex(r.stderr, /^ALPN: echo$/m);
  await server.kill();
});

test('rxtls server --quic --echo pulls with backpressure: a client that never reads its echo is stopped by flow control, not buffered', async (t) => {
  t.timeout(MS * 2);
  const server = await startCliServer(serverArgs(['--echo', '--alpn', 'echo']), { timeoutMs: MS, owner: t });
  const port = cliServerPort(server);
  const WINDOW = 64 * 1024;
  // Our windows are small, the server's the defaults: the echo can put at most our stream window on the wire.
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port, ca: certText('ca-cert.pem'), servername: 'localhost', alpn: ['echo'], maxStreamData: WINDOW, maxData: 4 * WINDOW, highWaterMark: 64 * MiB }).pipe(timeout(MS)),
  );
  t.teardown(() => conn.close({ rapid: true }));
  const stream = conn.openStream();
  const TOTAL = 16 * MiB;
  const chunk = new Uint8Array(64 * 1024).fill(0x65);
  for (let sent = 0; sent < TOTAL; sent += chunk.length) stream.write(chunk);
  // Wait until nothing moves for a while (bounded): the server stopped taking bytes once its echo was stuck.
  let last = -1;
  let still = 0;
  for (let i = 0; i < 200 && still < 10; i++) {
    await new Promise((r) => setTimeout(r, 50));
    still = stream.unsentBytes === last ? still + 1 : 0;
    last = stream.unsentBytes;
  }
  // What left us: the server's stream window, the echo's send buffer (its mark, 256 KiB, and a chunk) and our
  // unread window, all far below 16 MiB. A server that wrote its echo without backpressure takes all of it.
  t.true(stream.unsentBytes > TOTAL - 8 * MiB, `unsent ${stream.unsentBytes} of ${TOTAL}`);
  t.true(stream.unsentBytes < TOTAL, 'the server took some');
  // The echo is still right once we read it.
  const back = await firstValueFrom(stream.data$.pipe(take(1), timeout(MS)));
  t.is(back[0], 0x65);
  await server.kill();
});

/** The records of a JSON-SEQ qlog file (RFC 7464: each 0x1E, JSON, 0x0A), the header first. */
const qlogRecords = (file: string): Record<string, any>[] =>
  readFileSync(file, 'utf8')
    .split('\x1e')
    .slice(1)
    .map((r) => {
      if (!r.endsWith('\n')) throw new Error(`${file}: a record not ended by 0x0A`);
      return JSON.parse(r);
    });

/** The one `.sqlog` file in `dir` once its connection is over (its last record says `closed`), waiting at most `ms`. */
async function closedQlog(dir: string, ms: number): Promise<string | undefined> {
  for (let waited = 0; waited < ms; waited += 50) {
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sqlog')) : [];
    if (files.length === 1 && qlogRecords(path.join(dir, files[0]!)).at(-1)?.data?.new === 'closed') return files[0];
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

test('rxtls get --qlog DIR → rxtls server --quic --www --qlog DIR: both ends write one parsable <ODCID>.sqlog, same name', async (t) => {
  t.timeout(MS * 2);
  const dir = site(t, { 'q.txt': 'qlogged\n' });
  const serverQlog = path.join(tempDir(t), 'server-qlog');
  const clientQlog = path.join(tempDir(t), 'client-qlog');
  const server = await startCliServer(serverArgs(['--www', dir, '--qlog', serverQlog]), { timeoutMs: MS, owner: t });
  const port = cliServerPort(server);
  const r = await runCli(getArgs(`https://127.0.0.1:${port}/q.txt`, ['--qlog', clientQlog]), undefined, { timeoutMs: MS, owner: t });
  t.is(r.code, 0, describeRun('rxtls get --qlog', r));
  t.is(r.stdout, 'qlogged\n');
  const clientFile = await closedQlog(clientQlog, 1);
  // The server's connection ends after its draining period (3 × PTO): waited for, bounded.
  const serverFile = await closedQlog(serverQlog, 20_000);
  await server.kill();
  t.truthy(clientFile, `client qlog: ${existsSync(clientQlog) ? readdirSync(clientQlog).join(' ') : 'no directory'}`);
  t.is(serverFile, clientFile);
  for (const [file, vantage] of [
    [path.join(clientQlog, clientFile!), 'client'],
    [path.join(serverQlog, serverFile!), 'server'],
  ] as const) {
    const [header, ...records] = qlogRecords(file);
    t.is(header!.qlog_format, 'JSON-SEQ');
    t.is(header!.trace.vantage_point.type, vantage);
    const names = new Set(records.map((e) => e.name));
    for (const name of ['transport:packet_sent', 'transport:packet_received', 'transport:parameters_set', 'connectivity:connection_closed']) t.true(names.has(name), `${vantage}: ${name}`);
    // The HTTP/3 request and response are STREAM frames.
    t.true(records.some((e) => e.name === 'transport:packet_sent' && e.data.frames.some((f: { frame_type: string }) => f.frame_type === 'stream')));
  }
});

test('QUIC argument errors exit 2 with a one-line message', async (t) => {
  t.timeout(MS);
  const cases: [string[], RegExp][] = [
    [['client', '--quic', '127.0.0.1:4433'], /--quic needs --alpn/],
    [['client', '127.0.0.1:4433', '--qlog', 'dir'], /--qlog needs --quic/],
    [['get', 'http://127.0.0.1:4433/'], /needs an https:\/\/ URL/],
    [['server', '--quic', '--port', '0', '--cert', certPath('server-ec-chain.pem'), '--key', certPath('server-ec-key.pem')], /needs either --www DIR or --echo/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args, undefined, { timeoutMs: MS, owner: t });
    t.is(r.code, 2, describeRun(args.join(' '), r));
    t.regex(r.stderr, message);
  }
});
