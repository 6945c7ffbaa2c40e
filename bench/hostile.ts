/**
 * Server CPU per connection under a client load run in another process (`bench/load.ts`): what a peer (many
 * peers at once, or a hostile one) costs a server. The server under test — rxtls `listen()` with a provider, or
 * `node:tls` — runs in this process, which does nothing else during the window, so `process.cpuUsage()` over
 * the window is the server's cost (all threads: JavaScript, OpenSSL, the garbage collector, libuv).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { Subscription } from 'rxjs';
import { listen } from '../src/rx/index.js';
import { certs, provider, type ProviderName } from './common.js';
import type { LoadReply, LoadRequest, LoadScenario } from './load.js';
import { LOADER_FLAGS, scriptPath } from './paths.js';

export interface ServerCpuArgs {
  readonly impl: 'rxtls' | 'node:tls';
  readonly provider?: ProviderName;
  readonly scenario: LoadScenario;
  readonly n: number;
  readonly concurrency: number;
  readonly declared?: number;
}

export interface ServerCpuResult {
  readonly label: string;
  readonly scenario: LoadScenario;
  readonly n: number;
  readonly concurrency: number;
  readonly declared?: number;
  /** Server process CPU (user + system, all threads) per connection, ms. */
  readonly cpuMsPerConn: number;
  /** Of which user time, ms per connection. */
  readonly userMsPerConn: number;
  /** Wall time of the whole load, ms. */
  readonly wallMs: number;
  /** Handshakes the server completed / connections it refused or lost (its own count). */
  readonly serverOk: number;
  readonly serverFailed: number;
  /** What the load generator saw. */
  readonly clientOk: number;
  readonly clientFailed: number;
  readonly bytesPerConn: number;
  readonly window: [number, number];
}

const profileClock = (): number => Number(process.hrtime.bigint() / 1000n);

interface Server {
  readonly port: number;
  readonly counts: { ok: number; failed: number };
  close(): void;
}

async function rxtlsServer(name: ProviderName): Promise<Server> {
  const counts = { ok: 0, failed: 0 };
  const p = provider(name);
  const sub = new Subscription();
  const port = await new Promise<number>((resolve) => {
    sub.add(
      listen({
        cert: certs.cert,
        key: certs.key,
        provider: p,
        port: 0,
        onListening: (a) => resolve(a.port),
        onError: () => counts.failed++,
      }).subscribe((conn) => {
        counts.ok++;
        // Nothing to say: let the peer go (the load closes it right after its first ticket).
        conn.inbound$.subscribe({ error: () => undefined });
      }),
    );
  });
  return { port, counts, close: () => sub.unsubscribe() };
}

async function nodeServer(): Promise<Server> {
  const counts = { ok: 0, failed: 0 };
  const server = tls.createServer({ cert: certs.cert, key: certs.key, minVersion: 'TLSv1.3' });
  server.on('secureConnection', (s) => {
    counts.ok++;
    s.on('error', () => undefined);
    s.resume();
  });
  server.on('tlsClientError', () => counts.failed++);
  server.listen(0, '127.0.0.1', 1024);
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, counts, close: () => server.close() };
}

let loadProcess: Promise<ChildProcess> | undefined;

/** The load generator of this child, started once (a TypeScript process takes a few seconds to start). */
function startLoad(): Promise<ChildProcess> {
  loadProcess ??= forkLoad();
  return loadProcess;
}

/** Stop the load generator (the task runner's cleanup). */
export async function stopLoad(): Promise<void> {
  const p = loadProcess;
  loadProcess = undefined;
  (await p)?.kill();
}

function forkLoad(): Promise<ChildProcess> {
  const p = fork(scriptPath('load'), [], {
    execArgv: ['--no-warnings', ...LOADER_FLAGS],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    p.once('message', () => resolve(p));
    p.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
  });
}

export async function serverCpu(a: ServerCpuArgs): Promise<ServerCpuResult> {
  const label = a.impl === 'node:tls' ? 'node:tls' : `rxtls+${a.provider ?? 'noble'}`;
  const server = a.impl === 'node:tls' ? await nodeServer() : await rxtlsServer(a.provider ?? 'noble');
  const load = await startLoad();
  try {
    // A short warm-up (JIT, lazily built tables), not measured.
    const warm: LoadRequest = { scenario: a.scenario, port: server.port, n: Math.min(20, a.n), concurrency: 4, ...(a.declared ? { declared: a.declared } : {}) };
    await ask(load, warm);
    await settle();
    const before = { ...server.counts };
    (globalThis as { gc?: () => void }).gc?.();
    const w0 = profileClock();
    const c0 = process.cpuUsage();
    const reply = await ask(load, { ...warm, n: a.n, concurrency: a.concurrency });
    // Let the server finish with the last connections (closing them) inside the window: the same for both.
    await settle();
    const c = process.cpuUsage(c0);
    const w1 = profileClock();
    return {
      label,
      scenario: a.scenario,
      n: a.n,
      concurrency: a.concurrency,
      ...(a.declared ? { declared: a.declared } : {}),
      cpuMsPerConn: (c.user + c.system) / 1000 / a.n,
      userMsPerConn: c.user / 1000 / a.n,
      wallMs: reply.ms,
      serverOk: server.counts.ok - before.ok,
      serverFailed: server.counts.failed - before.failed,
      clientOk: reply.ok,
      clientFailed: reply.failed,
      bytesPerConn: reply.bytesPerConn,
      window: [w0, w1],
    };
  } finally {
    server.close();
  }
}

function ask(load: ChildProcess, req: LoadRequest): Promise<LoadReply> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`load generator exited with ${code}`));
    load.once('exit', onExit);
    load.once('message', (m) => {
      load.off('exit', onExit);
      resolve(m as LoadReply);
    });
    load.send(req);
  });
}

const settle = () => new Promise((r) => setTimeout(r, 250));
