/**
 * Proxy bench: BYTES through a TLS-terminating, TLS-originating proxy on loopback to a slow final consumer,
 * rxtls (`listen` → `terminate` → `originate`, node:crypto provider) beside node:tls + `stream.pipeline`, in one
 * run. Each proxy runs alone in a child process that samples its own RSS; this process is the producer (a
 * node:tls client writing as fast as the proxy takes it) and the consumer (a node:tls server that pauses
 * `PAUSE_MS` after every `PAUSE_EVERY` bytes). Prints one `PROXY {…}` line per proxy with `--json`.
 *
 *   node --no-warnings --loader=ts-node/esm bench/proxy.ts [MiB=1024] [--json]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { pipeline } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { certText } from '../test/helpers/peers.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
/** The consumer is slow: it stops reading for PAUSE_MS after every PAUSE_EVERY bytes (at most ~200 MB/s). */
const PAUSE_EVERY = MiB;
const PAUSE_MS = 5;
const RSS_EVERY_MS = 20;

const cert = certText('server-ec-chain.pem');
const key = certText('server-ec-key.pem');
const ca = certText('ca-cert.pem');

export interface ProxyBenchRow {
  readonly impl: 'rxtls' | 'node:tls';
  readonly bytes: number;
  readonly seconds: number;
  readonly mbps: number;
  /** Peak RSS of the proxy process during the transfer, less its RSS once listening, MiB. */
  readonly rssGrowthMiB: number;
  /** Peaks of `process.memoryUsage()`'s `arrayBuffers` and `heapTotal` during the transfer, less once listening, MiB. */
  readonly arrayBuffersGrowthMiB: number;
  readonly heapTotalGrowthMiB: number;
  /** Garbage collections in the proxy process during the transfer: mark-compacts and scavenges. */
  readonly markCompacts: number;
  readonly scavenges: number;
}

// ── The proxy child: `bench/proxy.ts --proxy IMPL BACKEND_PORT` ─────────────────────────────────────────────
async function runProxy(impl: string, backendPort: number): Promise<void> {
  let port: number;
  if (impl === 'rxtls') {
    const { listen } = await import('../src/rx/listen.js');
    const { terminate } = await import('../src/rx/proxy/terminate.js');
    const { originate } = await import('../src/rx/proxy/originate.js');
    const { nodeProvider } = await import('../src/node/nodeProvider.js');
    port = await new Promise<number>((resolve) => {
      listen({ port: 0, cert, key, provider: nodeProvider, onListening: (a) => resolve(a.port) })
        .pipe(terminate(), originate({ host: '127.0.0.1', port: backendPort, ca, servername: 'localhost', provider: nodeProvider }))
        .subscribe();
    });
  } else {
    const server = tls.createServer({ cert, key, allowHalfOpen: true }, (front) => {
      const back = tls.connect({ host: '127.0.0.1', port: backendPort, ca, servername: 'localhost' });
      pipeline(front, back, () => undefined);
      pipeline(back, front, () => undefined);
    });
    port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  }
  const base = process.memoryUsage.rss();
  let peak = base;
  const mem0 = process.memoryUsage();
  let peakAb = mem0.arrayBuffers;
  let peakHeap = mem0.heapTotal;
  const gcs = { markCompacts: 0, scavenges: 0 };
  const { PerformanceObserver, constants } = await import('node:perf_hooks');
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.markCompacts++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.scavenges++;
    }
  }).observe({ entryTypes: ['gc'] });
  // RSS every tick (cheap); the full breakdown every fifth (it walks the heap spaces).
  let n = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
    if (n++ % 5) return;
    const m = process.memoryUsage();
    peakAb = Math.max(peakAb, m.arrayBuffers);
    peakHeap = Math.max(peakHeap, m.heapTotal);
  }, RSS_EVERY_MS);
  process.stdout.write(`LISTEN ${port}\n`);
  // The driver closes our stdin when the transfer is over.
  process.stdin.resume();
  process.stdin.on('end', () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage.rss());
    const peaks = { growthMiB: (peak - base) / MiB, arrayBuffersMiB: (peakAb - mem0.arrayBuffers) / MiB, heapTotalMiB: (peakHeap - mem0.heapTotal) / MiB, ...gcs };
    process.stdout.write(`PEAK ${JSON.stringify(peaks)}\n`, () => process.exit(0));
  });
}

// ── The driver ─────────────────────────────────────────────────────────────────────────────────────────────
/** The slow consumer: a node:tls server counting bytes; resolves with its port, `done` when `bytes` arrived. */
async function consumer(bytes: number): Promise<{ port: number; done: Promise<void>; close: () => void }> {
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const server = tls.createServer({ cert, key, allowHalfOpen: true }, (s) => {
    let got = 0;
    let sincePause = 0;
    s.on('data', (b: Buffer) => {
      got += b.length;
      sincePause += b.length;
      if (sincePause >= PAUSE_EVERY) {
        sincePause = 0;
        s.pause();
        setTimeout(() => s.resume(), PAUSE_MS);
      }
      if (got >= bytes) resolveDone();
    });
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  return { port, done, close: () => server.close() };
}

/** The fast producer: a node:tls client writing `bytes` as fast as the proxy takes them, then end(). */
function produce(port: number, bytes: number): void {
  const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  const chunk = Buffer.alloc(CHUNK, 0x61);
  let sent = 0;
  const write = () => {
    while (sent < bytes) {
      sent += CHUNK;
      if (!s.write(chunk)) return void s.once('drain', write);
    }
    s.end();
  };
  s.once('secureConnect', write);
  s.on('data', () => undefined);
  s.on('error', () => undefined);
}

async function measure(impl: ProxyBenchRow['impl'], bytes: number): Promise<ProxyBenchRow> {
  const sink = await consumer(bytes);
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--no-warnings', '--loader=ts-node/esm', self, '--proxy', impl, String(sink.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = (prefix: string) => new Promise<string>((resolve) => lines.on('line', (l) => l.startsWith(prefix) && resolve(l.slice(prefix.length))));
  const peakLine = next('PEAK ');
  const port = Number(await next('LISTEN '));
  const start = performance.now();
  produce(port, bytes);
  await sink.done;
  const seconds = (performance.now() - start) / 1000;
  child.stdin!.end();
  const peaks = JSON.parse(await peakLine) as { growthMiB: number; arrayBuffersMiB: number; heapTotalMiB: number; markCompacts: number; scavenges: number };
  child.kill();
  sink.close();
  return { impl, bytes, seconds, mbps: bytes / 1e6 / seconds, rssGrowthMiB: peaks.growthMiB, arrayBuffersGrowthMiB: peaks.arrayBuffersMiB, heapTotalGrowthMiB: peaks.heapTotalMiB, markCompacts: peaks.markCompacts, scavenges: peaks.scavenges };
}

if (process.argv[2] === '--proxy') {
  await runProxy(process.argv[3]!, Number(process.argv[4]));
} else {
  const mib = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1024);
  const json = process.argv.includes('--json');
  for (const impl of ['node:tls', 'rxtls'] as const) {
    const r = await measure(impl, mib * MiB);
    process.stdout.write(json ? `PROXY ${JSON.stringify(r)}\n` : `${impl}: ${mib} MiB in ${r.seconds.toFixed(2)} s = ${r.mbps.toFixed(1)} MB/s, proxy RSS growth ${r.rssGrowthMiB.toFixed(1)} MiB (arrayBuffers +${r.arrayBuffersGrowthMiB.toFixed(1)}, heapTotal +${r.heapTotalGrowthMiB.toFixed(1)}; ${r.markCompacts} mark-compacts, ${r.scavenges} scavenges)\n`);
  }
  process.exit(0);
}
