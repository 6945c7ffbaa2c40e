/**
 * TLS 1.2 interop with node:tls (`maxVersion: 'TLSv1.2'`, OpenSSL inside Node) on 127.0.0.1, both directions:
 * every suite, the certificate types, resumption by ticket, 10 MiB each way, node's `keylog` lines equal to ours,
 * close_notify with node's `end()`, the extended master secret (required, and the RFC 5246 master secret when
 * both sides turn it off), a refused renegotiation, and version negotiation with a default node client.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { certText, chunksOf, clientExchange, drive, openConnection, parseKeyLog, payload, rxClient, sha256, startListener, withTimeout } from '../helpers/peers.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import { createWorkerPoolProvider } from '../../src/node/workers.js';

const TEST_MS = 60_000;
const MiB = 1024 * 1024;
const CA = certText('ca-cert.pem');
/** OpenSSL's SSL_OP_NO_EXTENDED_MASTER_SECRET (OpenSSL 3: bit 0), through node's `secureOptions`. */
const SSL_OP_NO_EXTENDED_MASTER_SECRET = 1;

const SUITES = [
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ec'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ec'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ed'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'rsa'],
  ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'rsa'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305', 'rsa'],
] as const;

const pem = (kind: 'ec' | 'ed' | 'rsa' = 'ec') => ({ cert: certText(`server-${kind}-chain.pem`), key: certText(`server-${kind}-key.pem`) });
const keyLines = (lines: readonly string[]) => parseKeyLog(lines.join('\n')).get('CLIENT_RANDOM');

/** What a node:tls server saw of one connection. */
interface ServerSeen {
  readonly protocol: string | null;
  readonly cipher: string;
  readonly reused: boolean;
  readonly received: Buffer;
  readonly keylog: string[];
}

/**
 * A node:tls server limited to TLS 1.2 on 127.0.0.1:0. Each connection echoes (or, with `reply`, answers its
 * first data with `reply` and end()), and `next()` resolves what the next connection saw once it closed.
 */
async function nodeServer(t: ExecutionContext, options: tls.TlsOptions, reply?: string) {
  const seen: ServerSeen[] = [];
  const waiters: ((s: ServerSeen) => void)[] = [];
  const errors: Error[] = [];
  const keylog: string[] = [];
  const server = tls.createServer({ maxVersion: 'TLSv1.2', ...pem(), ...options }, (socket) => {
    const chunks: Buffer[] = [];
    const at = { protocol: socket.getProtocol(), cipher: socket.getCipher().standardName, reused: socket.isSessionReused() };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (reply === undefined) socket.write(d);
    });
    if (reply !== undefined) socket.once('data', () => socket.end(reply));
    socket.on('end', () => socket.end());
    socket.on('error', (e) => errors.push(e));
    socket.on('close', () => {
      const s = {
        ...at,
        received: Buffer.concat(chunks),
        keylog: keylog.splice(0),
      };
      const w = waiters.shift();
      if (w) w(s);
      else seen.push(s);
    });
  });
  server.on('keylog', (line: Buffer) => keylog.push(line.toString('latin1').trim()));
  server.on('tlsClientError', (e) => errors.push(e));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => void server.close());
  return {
    port: (server.address() as AddressInfo).port,
    errors,
    next: () => withTimeout(seen.length ? Promise.resolve(seen.shift()!) : new Promise<ServerSeen>((r) => waiters.push(r)), 30_000, 'node server connection'),
  };
}

/** What a node:tls client saw. */
interface ClientSeen {
  readonly protocol: string | null;
  readonly cipher: string;
  readonly reused: boolean;
  readonly received: Buffer;
  readonly session?: Buffer;
  readonly keylog: string[];
}

/** A node:tls client: write `data`, end() (close_notify), collect until the server closes. */
function nodeClient(port: number, options: tls.ConnectionOptions, data: Uint8Array | string): Promise<ClientSeen> {
  return withTimeout(
    new Promise<ClientSeen>((resolve, reject) => {
      const keylog: string[] = [];
      let session: Buffer | undefined;
      let at = { protocol: null as string | null, cipher: '', reused: false };
      const socket = tls.connect({ host: '127.0.0.1', port, ca: CA, servername: 'localhost', maxVersion: 'TLSv1.2', ...options }, () => {
        at = { protocol: socket.getProtocol(), cipher: socket.getCipher().standardName, reused: socket.isSessionReused() };
        socket.end(data);
      });
      const chunks: Buffer[] = [];
      socket.on('keylog', (line: Buffer) => keylog.push(line.toString('latin1').trim()));
      socket.on('session', (s: Buffer) => (session = s));
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', reject);
      socket.on('close', () =>
        resolve({
          ...at,
          received: Buffer.concat(chunks),
          ...(session ? { session } : {}),
          keylog,
        }),
      );
    }),
    40_000,
    'node:tls client',
  );
}

// ---------------------------------------------------------------------------------------------------------
// rxtls client → node:tls server (maxVersion TLSv1.2)

for (const [suite, openssl, cert] of SUITES) {
  test(`rxtls client → node:tls server (TLSv1.2): ${suite} (${cert} certificate)`, async (t) => {
    t.timeout(TEST_MS);
    const server = await nodeServer(t, { ...pem(cert), ciphers: openssl }, 'hi from node');
    const lines: string[] = [];
    const tr = await clientExchange(rxClient(server.port, { keyLog: (l) => lines.push(l) }), { send: 'hi from rxtls', waitForPeerClose: true, owner: t });
    const s = await server.next();
    t.is(tr.info.protocol, 'TLSv1.2');
    t.is(tr.info.cipherSuite, suite);
    t.is(s.protocol, 'TLSv1.2');
    t.is(s.cipher, suite);
    t.is(tr.received.toString(), 'hi from node');
    t.is(s.received.toString(), 'hi from rxtls');
    // node's keylog event and ours: the same CLIENT_RANDOM line.
    t.deepEqual(keyLines(lines), keyLines(s.keylog));
  });
}

test('RFC 5705 exporter over TLS 1.2: exportKeyingMaterial equals node:tls\'s (no context, empty context, a context; SHA-256 and SHA-384 PRF suites); reserved labels refused', async (t) => {
  t.timeout(TEST_MS);
  const cases: [string, Uint8Array | undefined][] = [
    ['EXPORTER-no-context', undefined],
    ['EXPORTER-empty-context', new Uint8Array(0)],
    ['EXPORTER-with-context', new TextEncoder().encode('some context')],
  ];
  for (const cipher of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384']) {
    const server = tls.createServer({ maxVersion: 'TLSv1.2', ...pem('ec'), ciphers: cipher }, (socket) => {
      // node's types want a context; without one node exports with no context (OpenSSL's use_context = 0).
      const noContext = socket as unknown as { exportKeyingMaterial(length: number, label: string): Buffer };
      const out = cases.map(([label, context]) => (context ? socket.exportKeyingMaterial(40, label, Buffer.from(context)) : noContext.exportKeyingMaterial(40, label)).toString('hex'));
      socket.end(JSON.stringify(out));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    const { conn, release } = await withTimeout(openConnection(rxClient((server.address() as AddressInfo).port), t), 20_000, 'handshake');
    try {
      t.is(conn.info.protocol, 'TLSv1.2');
      const ours = cases.map(([label, context]) => Buffer.from(conn.exportKeyingMaterial(40, label, context)).toString('hex'));
      const tr = await withTimeout(drive(conn, { waitForPeerClose: true }), 20_000, 'exchange');
      t.deepEqual(ours, JSON.parse(tr.received.toString()), cipher);
      t.not(ours[0], ours[1], 'an absent context and an empty one differ in TLS 1.2');
      for (const reserved of ['master secret', 'key expansion', 'client finished', 'extended master secret']) {
        t.throws(() => conn.exportKeyingMaterial(16, reserved), { message: /reserved/ });
      }
    } finally {
      release();
    }
  }
});

test('rxtls client → node:tls server (TLSv1.2): the second connection resumes by ticket', async (t) => {
  t.timeout(TEST_MS);
  const server = await nodeServer(t, {}, 'hello');
  const sessionCache = createSessionCache();
  const first = await clientExchange(rxClient(server.port, { sessionCache }), { send: 'one', waitForPeerClose: true, owner: t });
  t.false(first.info.resumed);
  t.false((await server.next()).reused);
  const second = await clientExchange(rxClient(server.port, { sessionCache }), { send: 'two', waitForPeerClose: true, owner: t });
  t.true(second.info.resumed);
  t.true((await server.next()).reused);
});

test.serial('rxtls client ⇄ node:tls echo server (TLSv1.2): 10 MiB each way', async (t) => {
  t.timeout(TEST_MS);
  const data = payload(10 * MiB);
  const server = await nodeServer(t, {});
  const tr = await clientExchange(rxClient(server.port), { send: chunksOf(data), keep: false, timeoutMs: 50_000, owner: t });
  const s = await server.next();
  t.is(tr.info.protocol, 'TLSv1.2');
  t.is(sha256(s.received), sha256(data));
  t.is(tr.receivedSha256, sha256(data));
});

test('rxtls client → node:tls server without the extended master secret: handshake_failure; both off: RFC 5246 master secret', async (t) => {
  t.timeout(TEST_MS);
  const server = await nodeServer(t, { secureOptions: SSL_OP_NO_EXTENDED_MASTER_SECRET }, 'ok');
  const err = await t.throwsAsync(clientExchange(rxClient(server.port), { send: 'x', owner: t }));
  t.regex(String(err?.message), /extended master secret/);
  const lines: string[] = [];
  const tr = await clientExchange(rxClient(server.port, { requireExtendedMasterSecret: false, keyLog: (l) => lines.push(l) }), {
    send: 'x',
    waitForPeerClose: true,
    owner: t,
  });
  t.is(tr.received.toString(), 'ok');
  const s = await server.next();
  t.deepEqual(keyLines(lines), keyLines(s.keylog));
});

// ---------------------------------------------------------------------------------------------------------
// node:tls client (maxVersion TLSv1.2) → rxtls server

for (const [suite, openssl, cert] of SUITES) {
  test(`node:tls client (TLSv1.2, ${openssl}) → rxtls server (${cert} certificate)`, async (t) => {
    t.timeout(TEST_MS);
    const lines: string[] = [];
    const l = await startListener({ ...pem(cert), keyLog: (line) => lines.push(line) }, t);
    const client = nodeClient(l.port, { ciphers: openssl }, 'ping');
    const tr = await withTimeout(drive(await l.accept(), { closeAfterBytes: 4, reply: 'pong' }), 20_000, 'serve');
    const c = await client;
    t.is(tr.info.protocol, 'TLSv1.2');
    t.is(tr.info.cipherSuite, suite);
    t.is(c.protocol, 'TLSv1.2');
    t.is(c.cipher, suite);
    t.is(c.received.toString(), 'pong');
    t.deepEqual(keyLines(lines), keyLines(c.keylog));
  });
}

test('node:tls client (TLSv1.2) → rxtls server: session event and session option: isSessionReused()', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(pem('rsa'), t);
  const first = nodeClient(l.port, {}, 'a');
  await withTimeout(drive(await l.accept(), { closeAfterBytes: 1, reply: 'b' }), 20_000, 'serve 1');
  const c1 = await first;
  t.truthy(c1.session);
  t.false(c1.reused);
  const second = nodeClient(l.port, { session: c1.session! }, 'c');
  const tr = await withTimeout(drive(await l.accept(), { closeAfterBytes: 1, reply: 'd' }), 20_000, 'serve 2');
  const c2 = await second;
  t.true(c2.reused);
  t.true(tr.info.resumed);
  t.is(c2.received.toString(), 'd');
});

test.serial('node:tls client (TLSv1.2) ⇄ rxtls echo server: 10 MiB each way', async (t) => {
  t.timeout(TEST_MS);
  const data = payload(10 * MiB);
  const l = await startListener(pem(), t);
  const client = nodeClient(l.port, {}, data);
  const tr = await withTimeout(drive(await l.accept(), { echo: true, keep: false }), 50_000, 'echo 10 MiB');
  const c = await client;
  t.is(tr.info.protocol, 'TLSv1.2');
  t.is(tr.receivedSha256, sha256(data));
  t.is(createHash('sha256').update(c.received).digest('hex'), sha256(data));
});

test.serial('node:tls client (TLS 1.2) ⇄ rxtls echo server on the worker pool (asyncCrypto, maxPipelines 8, splitSendFragment 4096): 4 MiB each way', async (t) => {
  t.timeout(TEST_MS);
  const pool = createWorkerPoolProvider({ size: 2 });
  t.teardown(() => pool.close());
  const data = payload(4 * MiB);
  const l = await startListener({ ...pem('rsa'), provider: pool, asyncCrypto: true, maxPipelines: 8, splitSendFragment: 4096 }, t);
  const client = nodeClient(l.port, { ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' }, data);
  const tr = await withTimeout(drive(await l.accept(), { echo: true, keep: false }), 50_000, 'echo 4 MiB');
  const c = await client;
  t.is(tr.info.cipherSuite, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
  t.is(tr.receivedSha256, sha256(data));
  t.is(sha256(c.received), sha256(data));
});

test('node:tls client without the extended master secret → rxtls server: handshake_failure unless the server allows it', async (t) => {
  t.timeout(TEST_MS);
  const strict = await startListener(pem(), t);
  await t.throwsAsync(nodeClient(strict.port, { secureOptions: SSL_OP_NO_EXTENDED_MASTER_SECRET }, 'x'), { message: /handshake failure/i });
  await withTimeout(
    (async () => {
      while (strict.errors.length === 0) await new Promise((r) => setTimeout(r, 20));
    })(),
    5_000,
    'server error',
  );
  t.is(strict.errors[0]?.alert, 40);
  const lines: string[] = [];
  const lax = await startListener({ ...pem(), requireExtendedMasterSecret: false, keyLog: (line) => lines.push(line) }, t);
  const client = nodeClient(lax.port, { secureOptions: SSL_OP_NO_EXTENDED_MASTER_SECRET }, 'y');
  await withTimeout(drive(await lax.accept(), { closeAfterBytes: 1, reply: 'z' }), 20_000, 'serve');
  const c = await client;
  t.is(c.received.toString(), 'z');
  t.deepEqual(keyLines(lines), keyLines(c.keylog));
});

test('node:tls client renegotiate() → rxtls server: refused (no_renegotiation)', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(pem(), t);
  const refused = withTimeout(
    new Promise<Error | null>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: l.port, ca: CA, servername: 'localhost', maxVersion: 'TLSv1.2' }, () => {
        socket.renegotiate({}, (err) => {
          resolve(err ?? null);
          socket.destroy();
        });
      });
      socket.on('error', (e) => resolve(e));
    }),
    20_000,
    'renegotiate()',
  );
  const conn = await l.accept();
  const served = drive(conn, { waitForPeerClose: true }).catch((e: unknown) => e);
  const err = await refused;
  t.truthy(err);
  t.regex(String(err?.message), /renegotiation/i);
  await served;
});

test('a default node:tls client and the rxtls server settle on TLS 1.3; node limited to 1.2 gets 1.2', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(pem(), t);
  for (const [options, expected] of [
    [{ maxVersion: 'TLSv1.3' as const }, 'TLSv1.3'],
    [{ maxVersion: 'TLSv1.2' as const }, 'TLSv1.2'],
  ] as const) {
    const client = nodeClient(l.port, options, 'v');
    const tr = await withTimeout(drive(await l.accept(), { closeAfterBytes: 1, reply: 'w' }), 20_000, 'serve');
    const c = await client;
    t.is(tr.info.protocol, expected);
    t.is(c.protocol, expected);
  }
});
