/**
 * rxtls ↔ rxtls QUIC over UDP loopback (not part of `npm test`): the client sends `MB` megabytes on one stream
 * (backpressured: `concatMap((c) => stream.send(c))`),
 * the server counts them; prints MB/s and the kernel's UDP receive drops (/proc/net/snmp InErrors/RcvbufErrors
 * deltas) and the datagrams each side sent.
 *
 *   node --no-warnings --loader=ts-node/esm bench/quic-loopback.ts [MB=10] [noble|node] [maxDatagramSize]
 */
import { readFileSync } from 'node:fs';
import { concatMap, firstValueFrom, lastValueFrom, range } from 'rxjs';
import { quicConnect, quicListen } from '../src/rx/quic.js';
import { nodeProvider } from '../src/node/nodeProvider.js';
import { nobleProvider } from '../src/crypto/noble.js';
import { repoUrl } from './paths.js';

const mb = Number(process.argv[2] ?? 10);
const provider = process.argv[3] === 'noble' ? nobleProvider : nodeProvider;
/** The path MTU discovery ceiling both ends use (default: the library's, 1452). */
const sizing = process.argv[4] !== undefined ? { maxDatagramSize: Number(process.argv[4]) } : {};
const certs = repoUrl('test/fixtures/certs/');
const pem = (name: string) => readFileSync(new URL(name, certs), 'utf8');

function udpCounters(): { inErrors: number; rcvbuf: number } {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/).map(Number);
  return { inErrors: values[names.indexOf('InErrors')]!, rcvbuf: values[names.indexOf('RcvbufErrors')]! };
}

const server = await quicListen({ cert: pem('server-ec-chain.pem'), key: pem('server-ec-key.pem'), alpn: ['bench'], provider, ...sizing });
const total = mb * 1024 * 1024;
let received = 0;
const done = new Promise<void>((resolve) => {
  server.connections.subscribe((conn) => {
    conn.incoming$.subscribe((s) => s.data$.subscribe({ next: (d) => (received += d.length), complete: () => resolve() }));
  });
});
const conn = await firstValueFrom(quicConnect({ host: '127.0.0.1', port: server.port, ca: pem('ca-cert.pem'), servername: 'localhost', alpn: ['bench'], provider, ...sizing }));
const before = udpCounters();
const started = performance.now();
const s = conn.openStream();
const chunk = new Uint8Array(64 * 1024).fill(0x61);
// Backpressured: each chunk is sent once the stream's unsent bytes are under its highWaterMark (256 KiB).
await lastValueFrom(range(0, Math.ceil(total / chunk.length)).pipe(concatMap(() => s.send(chunk))), { defaultValue: undefined });
s.end();
await done;
const secs = (performance.now() - started) / 1000;
const after = udpCounters();
console.log(
  `${mb} MB ${process.argv[3] ?? 'node'}: ${(received / 1024 / 1024 / secs).toFixed(2)} MB/s (${secs.toFixed(2)} s), kernel UDP InErrors +${after.inErrors - before.inErrors}, RcvbufErrors +${after.rcvbuf - before.rcvbuf}`,
);
conn.close({ rapid: true });
await server.close();
process.exit(0);
