/**
 * QUIC loopback throughput (the QUIC section of `npm run bench`, or alone): an HTTP/3 download of `MB`
 * megabytes, ngtcp2 ↔ ngtcp2 (gtlsclient → gtlsserver), rxtls ↔ rxtls (node:crypto and noble providers),
 * rxtls client → gtlsserver and gtlsclient → rxtls server (node:crypto). Each row is timed from the client's
 * start (its connection, handshake and download) to the whole body, with the server already listening. Prints MB/s, the ratio to
 * ngtcp2 ↔ ngtcp2 and the kernel's UDP receive drops (/proc/net/snmp InErrors/RcvbufErrors deltas); with
 * `--json`, one `QUIC {…}` line per row.
 *
 *   node --no-warnings --loader=ts-node/esm bench/quic-peers.ts [MB=20] [--json]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Observable, firstValueFrom, timeout } from 'rxjs';
import { quicConnect, quicListen, type QuicConnection } from '../src/rx/quic.js';
import { nodeProvider } from '../src/node/nodeProvider.js';
import { nobleProvider } from '../src/crypto/noble.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { get, H3_NO_ERROR, openControlStream } from '../test/helpers/h3.js';
import { serveH3 } from '../src/rx/h3.js';
import { certPath, certText, freePort } from '../test/helpers/peers.js';

const mb = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 20);
const json = process.argv.includes('--json');
const size = mb * 1024 * 1024;
const htdocs = mkdtempSync(path.join(tmpdir(), 'rxtls-quic-peers-'));
writeFileSync(path.join(htdocs, 'big.bin'), Buffer.alloc(size, 0x7a));

function udp(): { inErrors: number; rcvbuf: number } {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/).map(Number);
  return { inErrors: values[names.indexOf('InErrors')]!, rcvbuf: values[names.indexOf('RcvbufErrors')]! };
}

/**
 * One row: MB/s (NaN when it failed) and the kernel's UDP receive drops during it. `prepare` (not timed) starts
 * the server and waits until it listens; `run` (timed: the client's connection, handshake and download) gets
 * its port; `done` stops the server.
 */
async function measure<S extends { port: number; stop: () => unknown }>(name: string, prepare: () => Promise<S>, run: (server: S) => Promise<number>): Promise<number> {
  let bytes = 0;
  let secs = 0;
  const before = udp();
  try {
    const server = await prepare();
    try {
      const started = performance.now();
      bytes = await run(server);
      secs = (performance.now() - started) / 1000;
    } finally {
      await server.stop();
    }
  } catch (err) {
    console.error(`${name}: failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const after = udp();
  const rate = bytes === size ? bytes / 1024 / 1024 / secs : NaN;
  const drops = after.inErrors - before.inErrors;
  if (json) console.log(`QUIC ${JSON.stringify({ name, mbps: rate, seconds: secs, drops, rcvbufErrors: after.rcvbuf - before.rcvbuf })}`);
  else console.log(`${name}: ${rate.toFixed(2)} MB/s (${bytes} bytes in ${secs.toFixed(2)} s), UDP InErrors +${drops}, RcvbufErrors +${after.rcvbuf - before.rcvbuf}`);
  return rate;
}

async function gtlsserver(): Promise<{ port: number; stop: () => void }> {
  const port = await freePort();
  const p = spawn('gtlsserver', ['127.0.0.1', String(port), certPath('server-ec-key.pem'), certPath('server-ec-chain.pem'), '-d', htdocs, '-q'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  return { port, stop: () => p.kill() };
}

const gtlsclient = (port: number, dl: string) =>
  new Promise<number>((resolve, reject) => {
    const p = spawn('gtlsclient', ['127.0.0.1', String(port), `https://127.0.0.1:${port}/big.bin`, '--exit-on-all-streams-close', '-q', '--download', dl], { stdio: 'ignore' });
    p.on('exit', (code) => (code === 0 ? resolve(statSync(path.join(dl, 'big.bin')).size) : reject(new Error(`gtlsclient exited ${code}`))));
  });

const base = await measure('ngtcp2 ↔ ngtcp2', gtlsserver, (srv) => gtlsclient(srv.port, mkdtempSync(path.join(tmpdir(), 'dl-'))));

const client = await measure('rxtls client (node:crypto) → gtlsserver', gtlsserver, (srv) => rxtlsGet(srv.port, nodeProvider));

/** Answer each request with 200 and `size` bytes of body, one DATA frame per 64 KiB piece (src/h3's serveH3). */
function serveBig(conn: QuicConnection): void {
  const piece = new Uint8Array(64 * 1024).fill(0x7a);
  serveH3(conn, () => ({
    status: 200,
    headers: [['content-length', String(size)]],
    body: new Observable<Uint8Array>((sub) => {
      for (let sent = 0; sent < size; sent += piece.length) sub.next(piece.subarray(0, Math.min(piece.length, size - sent)));
      sub.complete();
    }),
  }));
}

/** An rxtls HTTP/3 server answering with {@link serveBig}, listening. */
async function rxtlsServer(provider: CryptoProvider): Promise<{ port: number; stop: () => Promise<void> }> {
  const srv = await quicListen({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'], provider });
  srv.connections.subscribe(serveBig);
  return { port: srv.port, stop: () => srv.close() };
}

/** An rxtls client's connection, handshake and GET of the whole body: the bytes received. */
async function rxtlsGet(port: number, provider: CryptoProvider): Promise<number> {
  const conn = await firstValueFrom(quicConnect({ host: '127.0.0.1', port, ca: certText('ca-cert.pem'), servername: 'localhost', alpn: ['h3'], provider }).pipe(timeout(10_000)));
  openControlStream(conn);
  const r = await get(conn, `localhost:${port}`, '/big.bin', 600_000);
  conn.close({ errorCode: H3_NO_ERROR, rapid: true });
  return r.body.length;
}

const pairNode = await measure('rxtls ↔ rxtls (node:crypto)', () => rxtlsServer(nodeProvider), (srv) => rxtlsGet(srv.port, nodeProvider));
const pairNoble = await measure('rxtls ↔ rxtls (noble)', () => rxtlsServer(nobleProvider), (srv) => rxtlsGet(srv.port, nobleProvider));

const server = await measure('gtlsclient → rxtls server (node:crypto)', () => rxtlsServer(nodeProvider), (srv) => gtlsclient(srv.port, mkdtempSync(path.join(tmpdir(), 'dl-'))));

if (!json) {
  const r = (x: number) => `${(x / base).toFixed(3)}×`;
  console.log(`ratios to ngtcp2 ↔ ngtcp2: rxtls ↔ rxtls node ${r(pairNode)}, noble ${r(pairNoble)}; rxtls client ${r(client)}, rxtls server ${r(server)}`);
}
process.exit(0);
