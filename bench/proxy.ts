/**
 * Proxy bench: BYTES through a TLS-terminating, TLS-originating proxy on loopback to a slow final consumer,
 * rxtls (`listen` → `terminate` → `originate`, node:crypto provider) beside node:tls + `stream.pipeline`, in one
 * run. Each proxy runs alone in a child process that samples its own RSS; this process is the producer (a
 * node:tls client writing as fast as the proxy takes it) and the consumer (a node:tls server that pauses
 * `PAUSE_MS` after every `PAUSE_EVERY` bytes). Prints one `PROXY {…}` line per proxy with `--json`.
 *
 * `--young N` starts both proxy children with V8's young generation sized up front (`--min-semi-space-size=N`,
 * MiB) instead of growing from 1 MiB: the same setting for both, to show how much of a proxy's RSS growth is the
 * collector's start-up schedule rather than data held (bench/results.md, issue 14).
 *
 *   node --no-warnings --loader=ts-node/esm bench/proxy.ts [MiB=1024] [--young N] [--json]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { pipeline } from 'node:stream';
import { type AddressInfo, connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { certText } from '../test/helpers/peers.js';
import { LOADER_FLAGS } from './paths.js';

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
  /**
   * `node:crypto floor`: not a TLS proxy but the least any proxy built on node:crypto's public API allocates —
   * plain TCP in and out, and per 16 KiB of each socket read one AES-128-GCM "open" and one "seal", each a fresh
   * cipher object whose `update` returns a fresh buffer. No framing, no record layer, no state.
   */
  readonly impl: 'rxtls' | 'node:tls' | 'node:crypto floor';
  /** `--min-semi-space-size` given to the proxy child, MiB; 0 for V8's default (a young generation that grows from 1 MiB). */
  readonly youngMiB: number;
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
  } else if (impl === 'node:crypto floor') {
    const net = await import('node:net');
    const { createCipheriv, randomBytes } = await import('node:crypto');
    const k = randomBytes(16);
    const iv = randomBytes(12);
    const aead = (data: Uint8Array): Buffer[] => {
      const c = createCipheriv('aes-128-gcm', k, iv);
      c.setAAD(iv.subarray(0, 5));
      const body = c.update(data);
      c.final();
      return [body, c.getAuthTag()];
    };
    const server = net.createServer({ allowHalfOpen: true }, (front) => {
      const back = net.connect({ host: '127.0.0.1', port: backendPort });
      front.on('data', (chunk: Buffer) => {
        back.cork();
        for (let at = 0; at < chunk.length; at += 16 * 1024) {
          const [opened] = aead(chunk.subarray(at, at + 16 * 1024));
          for (const part of aead(opened!)) if (!back.write(part)) front.pause();
        }
        back.uncork();
      });
      back.on('drain', () => front.resume());
      front.on('end', () => back.end());
      front.on('error', () => back.destroy());
      back.on('error', () => front.destroy());
    });
    port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
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
async function consumer(bytes: number, plain: boolean): Promise<{ port: number; done: Promise<void>; close: () => void }> {
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const onSocket = (s: import('node:net').Socket) => {
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
  };
  const server = plain ? createServer({ allowHalfOpen: true }, onSocket) : tls.createServer({ cert, key, allowHalfOpen: true }, onSocket);
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  return { port, done, close: () => server.close() };
}

/** The fast producer: a node:tls client writing `bytes` as fast as the proxy takes them, then end(). */
function produce(port: number, bytes: number, plain: boolean): void {
  const s = plain ? connect({ host: '127.0.0.1', port }) : tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  const chunk = Buffer.alloc(CHUNK, 0x61);
  let sent = 0;
  const write = () => {
    while (sent < bytes) {
      sent += CHUNK;
      if (!s.write(chunk)) return void s.once('drain', write);
    }
    s.end();
  };
  s.once(plain ? 'connect' : 'secureConnect', write);
  s.on('data', () => undefined);
  s.on('error', () => undefined);
}

async function measure(impl: ProxyBenchRow['impl'], bytes: number, youngMiB: number): Promise<ProxyBenchRow> {
  const plain = impl === 'node:crypto floor';
  const sink = await consumer(bytes, plain);
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...(youngMiB ? [`--min-semi-space-size=${youngMiB}`] : []), '--no-warnings', ...LOADER_FLAGS, self, '--proxy', impl, String(sink.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = (prefix: string) => new Promise<string>((resolve) => lines.on('line', (l) => l.startsWith(prefix) && resolve(l.slice(prefix.length))));
  const peakLine = next('PEAK ');
  const port = Number(await next('LISTEN '));
  const start = performance.now();
  produce(port, bytes, plain);
  await sink.done;
  const seconds = (performance.now() - start) / 1000;
  child.stdin!.end();
  const peaks = JSON.parse(await peakLine) as { growthMiB: number; arrayBuffersMiB: number; heapTotalMiB: number; markCompacts: number; scavenges: number };
  child.kill();
  sink.close();
  return { impl, youngMiB, bytes, seconds, mbps: bytes / 1e6 / seconds, rssGrowthMiB: peaks.growthMiB, arrayBuffersGrowthMiB: peaks.arrayBuffersMiB, heapTotalGrowthMiB: peaks.heapTotalMiB, markCompacts: peaks.markCompacts, scavenges: peaks.scavenges };
}

if (process.argv[2] === '--proxy') {
  await runProxy(process.argv[3]!, Number(process.argv[4]));
} else {
  const mib = Number(process.argv.slice(2).find((a, i, all) => /^\d+$/.test(a) && all[i - 1] !== '--young') ?? 1024);
  const json = process.argv.includes('--json');
  const youngAt = process.argv.indexOf('--young');
  const young = youngAt > 0 ? Number(process.argv[youngAt + 1]) : 0;
  for (const impl of ['node:tls', 'rxtls', 'node:crypto floor'] as const) {
    const r = await measure(impl, mib * MiB, young);
    process.stdout.write(json ? `PROXY ${JSON.stringify(r)}\n` : `${impl}${young ? ` (young generation ${young} MiB)` : ''}: ${mib} MiB in ${r.seconds.toFixed(2)} s = ${r.mbps.toFixed(1)} MB/s, proxy RSS growth ${r.rssGrowthMiB.toFixed(1)} MiB (arrayBuffers +${r.arrayBuffersGrowthMiB.toFixed(1)}, heapTotal +${r.heapTotalGrowthMiB.toFixed(1)}; ${r.markCompacts} mark-compacts, ${r.scavenges} scavenges)\n`);
  }
  process.exit(0);
}
