/**
 * Soak run (not part of `npm test`): rxtls QUIC client → ngtcp2 `gtlsserver` dropping 10% of datagrams each
 * way, `runs` times, an HTTP/3 GET of 40 kB each. Prints the outcome of every run, and the tail of the server's
 * frame log for a failure. Chases the rare PROTOCOL_VIOLATION noted in the session notes.
 *
 *   node --no-warnings --loader=ts-node/esm bench/quic-loss.ts [runs=50] [-q]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { firstValueFrom, timeout } from 'rxjs';
import { quicConnect } from '../src/rx/quic.js';
import { get, H3_NO_ERROR, openControlStream } from '../test/helpers/h3.js';
import { certPath, certText, freePort } from '../test/helpers/peers.js';

const runs = Number(process.argv[2] ?? 50);
const quiet = process.argv.includes('-q');
const htdocs = mkdtempSync(path.join(tmpdir(), 'rxtls-quic-loss-'));
writeFileSync(path.join(htdocs, 'big.txt'), 'z'.repeat(40_000));
let failures = 0;
for (let i = 1; i <= runs; i++) {
  const port = await freePort();
  const args = ['127.0.0.1', String(port), certPath('server-ec-key.pem'), certPath('server-ec-chain.pem'), '-d', htdocs, '-r', '0.1', '-t', '0.1', ...(quiet ? ['-q'] : [])];
  const server = spawn('gtlsserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout.on('data', (b: Buffer) => (log += b.toString()));
  server.stderr.on('data', (b: Buffer) => (log += b.toString()));
  await new Promise((r) => setTimeout(r, 300));
  try {
    const conn = await firstValueFrom(quicConnect({ host: '127.0.0.1', port, ca: certText('ca-cert.pem'), servername: 'localhost', alpn: ['h3'] }).pipe(timeout(20_000)));
    openControlStream(conn);
    const r = await get(conn, `localhost:${port}`, '/big.txt', 30_000);
    conn.close({ errorCode: H3_NO_ERROR, rapid: true });
    console.log(`run ${i}: ok, ${r.body.length} bytes`);
  } catch (err) {
    failures++;
    console.log(`run ${i}: FAILED: ${err instanceof Error ? err.message : String(err)}\n${log.split('\n').slice(-80).join('\n')}`);
  }
  server.kill();
}
console.log(`${failures} of ${runs} runs failed`);
process.exit(failures > 0 ? 1 : 0);
