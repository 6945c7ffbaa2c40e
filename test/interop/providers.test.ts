/**
 * Every crypto provider against real peers on 127.0.0.1: noble, node:crypto, and the worker pool with
 * `asyncCrypto` (records sealed and opened in batches on worker threads). For each, 1 MiB each way with
 * SHA-256 compared: rxtls client → `openssl s_server`, `openssl s_client` → rxtls server, rxtls client →
 * node:tls server, node:tls client → rxtls server.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import tls from 'node:tls';
import {
  TEST_MS,
  clientExchange,
  describeRun,
  drive,
  listenLoopback,
  nodeClientOptions,
  openConnection,
  opensslCertArgs,
  payload,
  runOpenssl,
  rxClient,
  sClientQuietArgs,
  serverPem,
  sha256,
  startBriefSServer,
  startListener,
  withTimeout,
} from '../helpers/peers.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { createWorkerPoolProvider } from '../../src/node/workers.js';
import type { ConnectOptions, SecureOptions } from '../../src/rx/types.js';

const MiB = 1024 * 1024;
const listenCert = serverPem();

const pool = createWorkerPoolProvider({ size: 2 });
/** The same pool shape with node:crypto in its threads (`engine: 'node'`). */
const nodePool = createWorkerPoolProvider({ size: 2, engine: 'node' });
test.after.always(() => Promise.all([pool.close(), nodePool.close()]));

interface ProviderCase {
  readonly name: string;
  readonly options: Pick<SecureOptions, 'provider' | 'asyncCrypto' | 'maxPipelines'>;
  readonly provider: CryptoProvider;
}

const CASES: readonly ProviderCase[] = [
  { name: 'noble', provider: nobleProvider, options: { provider: nobleProvider } },
  { name: 'node:crypto', provider: nodeProvider, options: { provider: nodeProvider } },
  { name: 'workers+asyncCrypto', provider: pool, options: { provider: pool, asyncCrypto: true, maxPipelines: 16 } },
  { name: 'workers(node:crypto)+asyncCrypto', provider: nodePool, options: { provider: nodePool, asyncCrypto: true, maxPipelines: 16 } },
];

/** Batches the pools have been handed so far (to show the asyncCrypto cases really used them). */
const poolRequests = () => pool.stats().batches + nodePool.stats().batches;

/** Register a check that a worker-pool case sent batches to the pool during the test. */
function expectPoolUsed(t: ExecutionContext, c: ProviderCase): () => void {
  const before = poolRequests();
  return () => {
    if (c.provider === pool || c.provider === nodePool) t.true(poolRequests() > before, 'records went through the worker pool');
  };
}

const clientOptions = (port: number, c: ProviderCase, extra: Partial<ConnectOptions> = {}): ConnectOptions => rxClient(port, { ...c.options, ...extra });

/** A node:tls TLS 1.3 server on 127.0.0.1:0 echoing one connection; resolves what it received once it closed. */
async function nodeEchoServer(t: ExecutionContext): Promise<{ port: number; received: Promise<Buffer> }> {
  let resolve!: (b: Buffer) => void;
  let reject!: (e: unknown) => void;
  const received = new Promise<Buffer>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const server = tls.createServer({ minVersion: 'TLSv1.3', ...listenCert }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      socket.write(d);
    });
    socket.on('end', () => socket.end()); // our close_notify + FIN → node's close_notify after the echo
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
  server.on('tlsClientError', reject);
  return { port: await listenLoopback(server, t), received };
}

for (const c of CASES) {
  test(`${c.name}: rxtls client ⇄ openssl s_server, 1 MiB each way, SHA-256 compared`, async (t) => {
    t.timeout(TEST_MS);
    const poolUsed = expectPoolUsed(t, c);
    // -brief: s_server's stdout is the data it received; its stdin (1 MiB) is what it sends.
    const { peer, port } = await startBriefSServer(opensslCertArgs('ec'), { owner: t });
    const up = payload(MiB);
    const down = payload(MiB);
    const { conn, release } = await withTimeout(openConnection(clientOptions(port, c), t), 20_000, 'handshake with s_server');
    t.teardown(release);
    peer.write(down);
    // Send 1 MiB, and close_notify once s_server's 1 MiB is in; s_server answers close_notify and exits.
    const tr = await withTimeout(drive(conn, { send: up, closeAfterBytes: MiB, keep: false }), 40_000, 'exchange with s_server');
    await withTimeout(peer.exited, 20_000, 's_server exit');
    t.is(tr.receivedBytes, MiB);
    t.is(tr.receivedSha256, sha256(down));
    t.is(peer.stdoutBytes().length, MiB, peer.stderr());
    t.is(sha256(peer.stdoutBytes()), sha256(up));
    t.is(tr.info.verification, 'ok');
    poolUsed();
  });

  test(`${c.name}: openssl s_client ⇄ rxtls echo server, 1 MiB each way, SHA-256 compared`, async (t) => {
    t.timeout(TEST_MS);
    const poolUsed = expectPoolUsed(t, c);
    const data = payload(MiB);
    const l = await startListener({ ...listenCert, ...c.options }, t);
    const client = runOpenssl(sClientQuietArgs(l.port), { stdin: data, owner: t });
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { echo: true, closeAfterBytes: MiB, keep: false }), 40_000, 'echo 1 MiB');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', { ...r, stdout: `${r.stdoutBytes.length} bytes` }));
    t.is(tr.receivedSha256, sha256(data));
    t.is(r.stdoutBytes.length, MiB);
    t.is(sha256(r.stdoutBytes), sha256(data));
    t.deepEqual(l.errors, []);
    poolUsed();
  });

  test(`${c.name}: rxtls client ⇄ node:tls echo server, 1 MiB each way, SHA-256 compared`, async (t) => {
    t.timeout(TEST_MS);
    const poolUsed = expectPoolUsed(t, c);
    const data = payload(MiB);
    const { port, received } = await nodeEchoServer(t);
    const tr = await clientExchange(clientOptions(port, c), { send: data, closeAfterBytes: MiB, keep: false, owner: t, timeoutMs: 40_000 });
    t.is(tr.receivedBytes, MiB);
    t.is(tr.receivedSha256, sha256(data));
    t.is(sha256(await withTimeout(received, 20_000, 'node server close')), sha256(data));
    poolUsed();
  });

  test(`${c.name}: node:tls client ⇄ rxtls echo server, 1 MiB each way, SHA-256 compared`, async (t) => {
    t.timeout(TEST_MS);
    const poolUsed = expectPoolUsed(t, c);
    const data = payload(MiB);
    const l = await startListener({ ...listenCert, ...c.options }, t);
    const echoed = new Promise<string>((resolve, reject) => {
      const socket = tls.connect(nodeClientOptions(l.port));
      t.teardown(() => socket.destroy());
      const hash = createHash('sha256');
      let n = 0;
      socket.on('secureConnect', () => socket.write(data));
      socket.on('data', (d: Buffer) => {
        hash.update(d);
        n += d.length;
        if (n === MiB) socket.end(); // close_notify once the echo is complete
      });
      socket.on('end', () => (n === MiB ? resolve(hash.digest('hex')) : reject(new Error(`echo: ${n} of ${MiB} bytes`))));
      socket.on('error', reject);
    });
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { echo: true, keep: false }), 40_000, 'echo 1 MiB');
    t.is(tr.receivedSha256, sha256(data));
    t.is(await withTimeout(echoed, 20_000, 'node client'), sha256(data));
    t.deepEqual(l.errors, []);
    poolUsed();
  });
}
