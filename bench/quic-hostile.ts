/**
 * QUIC against spoofed clients (part of §9 of `npm run bench`, or alone): what one unvalidated Initial draws
 * from a `quicListen` server, and what a flood of spoofed Initials costs it in memory.
 *
 * - **Anti-amplification** (RFC 9000 §8.1): one client Initial of 1,200 bytes from a socket that never answers;
 *   every byte the server sends back to it until its connection is gone, divided by 1,200 (at most 3). The
 *   listener's timers run on a virtual scheduler, so its probe timeouts and idle timeout all fire at once.
 * - **Memory per spoofed Initial**: a listener in a child process (`--expose-gc`); batches of 1,000 valid
 *   client Initials, each with a random DCID from a fresh socket (a random source port), none answering; the
 *   child's RSS and heap after a full GC, before and after each batch, with its `stats()`.
 *
 *   node --no-warnings --loader=ts-node/esm bench/quic-hostile.ts [batches=3] [--json]
 *
 * With `--json`, one `QUICHOSTILE {…}` line per measurement.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { VirtualTimeScheduler } from 'rxjs';
import { quicListen } from '../src/rx/quic.js';
import { createQuicConnection, handleQuicEvents } from '../src/quic/connection.js';
import { caVerifier, fixture } from '../test/helpers/pair.js';
import { LOADER_FLAGS } from './paths.js';

const INITIAL = 1200;
const BATCH = 1000;
const identity = { cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['h3'] };

/** A client's first datagram: a 1,200-byte Initial with a fresh random DCID (a real ClientHello inside). */
function clientInitial(): Uint8Array {
  const c = createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] } });
  const step = handleQuicEvents(c, { type: 'start', now: Date.now() });
  const first = step.effects.find((e) => e.type === 'transmit');
  if (!first || first.type !== 'transmit') throw new Error('no Initial');
  return first.data;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bind = (s: Socket) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));

/** Bytes the server sends to one unvalidated 1,200-byte Initial, over its whole life, and with `retry` on. */
export async function amplification(retry: boolean): Promise<{ sent: number; datagrams: number; ratio: number }> {
  const scheduler = new VirtualTimeScheduler();
  const srv = await quicListen({ ...identity, scheduler, ...(retry ? { retry: true } : {}) });
  const sock = createSocket('udp4');
  await bind(sock);
  let sent = 0;
  let datagrams = 0;
  let last = Date.now();
  sock.on('message', (m) => {
    sent += m.length;
    datagrams++;
    last = Date.now();
  });
  const initial = clientInitial();
  if (initial.length !== INITIAL) throw new Error(`Initial of ${initial.length} B`);
  sock.send(initial, srv.port, '127.0.0.1');
  // The first flight, then every timer (probe timeouts, then the idle timeout) in virtual time; real time only
  // to let the datagrams cross the loopback.
  for (let i = 0; i < 20; i++) {
    await sleep(50);
    scheduler.flush();
  }
  while (Date.now() - last < 300) await sleep(50);
  sock.close();
  await srv.close();
  return { sent, datagrams, ratio: sent / INITIAL };
}

/** The child: a listener that reports its memory and stats on each line read from stdin. */
async function serve(): Promise<void> {
  const srv = await quicListen(identity);
  const report = () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    const s = srv.stats();
    process.stdout.write(`${JSON.stringify({ rss: m.rss, heap: m.heapUsed, external: m.external, stats: s })}\n`);
  };
  process.stdout.write(`${JSON.stringify({ port: srv.port })}\n`);
  createInterface({ input: process.stdin }).on('line', (l) => (l === 'exit' ? void srv.close().then(() => process.exit(0)) : report()));
}

interface Report {
  readonly rss: number;
  readonly heap: number;
  readonly external: number;
  readonly stats: { created: number; retries: number; dropped: Record<string, number> };
}

/** RSS and heap growth of a listener during each batch of 1,000 spoofed Initials (after a full GC). */
export async function spoofedInitials(batches: number): Promise<{ batch: number; initials: number; rssMB: number; heapMB: number; created: number; retries: number; dropped: number }[]> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--no-warnings', '--expose-gc', ...LOADER_FLAGS, self, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const read = async <T>(): Promise<T> => JSON.parse(((await lines.next()).value as string | undefined) ?? 'null') as T;
  const { port } = await read<{ port: number }>();
  const ask = async (): Promise<Report> => {
    child.stdin!.write('report\n');
    return read<Report>();
  };
  const handled = (r: Report) => r.stats.created + r.stats.retries + Object.values(r.stats.dropped).reduce((a, b) => a + b, 0);
  const base = await ask();
  let prev = base;
  const out = [];
  try {
    for (let b = 1; b <= batches; b++) {
      for (let i = 0; i < BATCH; i += 25) {
        // 25 fresh sockets at a time, each on a kernel-chosen (random) port; each Initial's DCID is its own.
        // 25 fresh sockets at a time, each on a kernel-chosen (random) port, each Initial with its own random DCID.
        const group = Array.from({ length: 25 }, clientInitial);
        await Promise.all(
          group.map(async (d) => {
            const s = createSocket('udp4');
            await bind(s);
            await new Promise<void>((r) => s.send(d, port, '127.0.0.1', () => r()));
            s.close();
          }),
        );
        await sleep(2);
      }
      let r = await ask();
      for (let i = 0; i < 100 && handled(r) - handled(base) < b * BATCH; i++) {
        await sleep(50);
        r = await ask();
      }
      // The growth during this batch: the first one includes the handshakes admitted and the warm-up (JIT).
      out.push({
        batch: b,
        initials: b * BATCH,
        rssMB: (r.rss - prev.rss) / 2 ** 20,
        heapMB: (r.heap - prev.heap) / 2 ** 20,
        created: r.stats.created,
        retries: r.stats.retries,
        dropped: handled(r) - r.stats.created - r.stats.retries,
      });
      prev = r;
    }
  } finally {
    child.stdin!.write('exit\n');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  }
  return out;
}

if (process.argv.includes('--serve')) await serve();
else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const json = process.argv.includes('--json');
  const batches = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 3);
  const print = (kind: string, r: object) => console.log(json ? `QUICHOSTILE ${JSON.stringify({ kind, ...r })}` : `${kind}: ${JSON.stringify(r)}`);
  for (const retry of [false, true]) print(retry ? 'amplificationRetry' : 'amplification', await amplification(retry));
  for (const r of await spoofedInitials(batches)) print('spoofed', r);
  process.exit(0);
}
