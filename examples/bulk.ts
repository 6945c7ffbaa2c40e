/**
 * Bulk transfer with backpressure and a crypto provider of your choice: a fast producer (an async generator)
 * sends MiB through an rxtls client to an rxtls server whose consumer is slow (it stalls 20 ms after every
 * 4 MiB). The producer is pulled only as fast as the consumer takes data, so memory stays flat whatever the
 * volume; the example prints the throughput, the largest gap between what was produced and what was consumed
 * (bounded: flow-control buffers plus the kernel's socket buffers), and the RSS growth.
 *
 * Run: `node --no-warnings --loader=ts-node/esm examples/bulk.ts [MiB] [noble|node|workers]` (default 64 MiB,
 * noble). `workers` seals and opens record batches on worker threads (`asyncCrypto: true`).
 * Published package: import from `rxtls` instead of `../src/...`.
 */
import { readFileSync } from 'node:fs';
import { timer } from 'rxjs';
import { nobleProvider } from '../src/crypto/noble.js';
import { nodeProvider } from '../src/node/nodeProvider.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { createWorkerPoolProvider } from '../src/node/workers.js';
import { connect, listen } from '../src/rx/index.js';
import type { TlsConnection } from '../src/rx/index.js';

const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 64) * MiB;
const providerName = process.argv[3] ?? 'noble';
if (!Number.isFinite(total) || total <= 0 || !['noble', 'node', 'workers'].includes(providerName)) {
  console.error('usage: bulk.ts [MiB > 0] [noble|node|workers]');
  process.exit(2);
}
const pool = providerName === 'workers' ? createWorkerPoolProvider() : undefined;
const provider: CryptoProvider = pool ?? (providerName === 'node' ? nodeProvider : nobleProvider);
const records = { provider, ...(pool ? { asyncCrypto: true } : {}) };

const certs = new URL('../test/fixtures/certs/', import.meta.url);
const pem = (name: string) => readFileSync(new URL(name, certs), 'utf8');

// Start the pool's threads now, so their start-up is not counted as memory growth below.
await pool?.batch.sealBatch('aes-128-gcm', new Uint8Array(16), [{ nonce: new Uint8Array(12), aad: new Uint8Array(0), data: new Uint8Array(16) }]);

let produced = 0;
let consumed = 0;
let maxGap = 0;
const rss0 = process.memoryUsage.rss();
let maxRss = rss0;
const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage.rss())), 20);

/**
 * The producer: 64 KiB chunks as fast as `send()` pulls them. Views of one unchanging buffer: rxtls never
 * modifies a chunk (and a chunk must not be modified after it was handed over: it is not copied before sealing).
 */
async function* produce(): AsyncGenerator<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  while (produced < total) {
    const n = Math.min(chunk.length, total - produced);
    produced += n;
    maxGap = Math.max(maxGap, produced - consumed);
    yield chunk.subarray(0, n);
  }
}

const port = await new Promise<number>((resolve, reject) => {
  const server$ = listen({ port: 0, cert: pem('server-ec-chain.pem'), key: pem('server-ec-key.pem'), onListening: (a) => resolve(a.port), ...records });
  server$.subscribe({
    next: (conn) => {
      let sinceStall = 0;
      // The slow consumer: receive() reads the next chunk only when the previous projection completed; the
      // socket is paused meanwhile, so the sender's writes stop being accepted and its producer is not pulled.
      conn
        .receive((chunk) => {
          consumed += chunk.length;
          sinceStall += chunk.length;
          if (sinceStall < 4 * MiB) return [];
          sinceStall = 0;
          return timer(20);
        })
        .subscribe({ error: (e: Error) => console.error(`server: ${e.message}`) });
    },
    error: reject,
  });
});

const t0 = performance.now();
// The connection stays usable after its subscriber leaves (firstValueFrom would do as well); it lives until closed.
const conn = await new Promise<TlsConnection>((resolve, reject) =>
  connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pem('ca-cert.pem'), ...records }).subscribe({ next: resolve, error: reject }),
);
await new Promise<void>((resolve, reject) => conn.send(produce()).subscribe({ complete: resolve, error: reject }));
while (consumed < total) await new Promise((r) => setTimeout(r, 5));
const seconds = (performance.now() - t0) / 1000;
clearInterval(sampler);

console.log(`${providerName}${pool ? ' (asyncCrypto)' : ''}: ${(total / MiB).toFixed(0)} MiB in ${seconds.toFixed(2)} s = ${(total / 1e6 / seconds).toFixed(1)} MB/s`);
console.log(
  `largest gap producer → consumer: ${(maxGap / MiB).toFixed(2)} MiB (mostly the kernel's socket buffers); RSS growth ${((maxRss - rss0) / MiB).toFixed(1)} MiB`,
);
await pool?.close();
process.exit(consumed === total ? 0 : 1);
