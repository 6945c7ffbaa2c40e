/**
 * Interop with node:tls (OpenSSL inside Node) on 127.0.0.1, both directions: suites, groups (`ecdhCurve`), HRR,
 * ALPN, SNI, client certificates both ways, 10 MiB each way (SHA-256 compared), and node's `end()`
 * close_notify completing our `inbound$`.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Subject, lastValueFrom, of } from 'rxjs';
import {
  certPath,
  certText,
  chunksOf,
  describeRun,
  freePort,
  runCli,
  startCliServer,
  clientExchange,
  drive,
  openConnection,
  payload,
  sha256,
  startListener,
  withTimeout,
} from '../helpers/peers.js';
import { TlsError } from '../../src/core/errors.js';
import { parseSummary } from '../../src/cli/args.js';
import { rxClient } from '../helpers/peers.js';

const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;
const TEST_MS = 60_000;
const MiB = 1024 * 1024;

const CA = certText('ca-cert.pem');
const serverCert = (kind: 'ec' | 'ed' | 'rsa' = 'ec') => ({ cert: certText(`server-${kind}-chain.pem`), key: certText(`server-${kind}-key.pem`) });
const clientCert = { cert: certText('client-cert.pem'), key: certText('client-key.pem') };

// ---------------------------------------------------------------------------------------------------------
// a node:tls server

interface NodeSeen {
  cipher: string;
  alpn: string | false;
  servername: string | false | undefined;
  authorized: boolean;
  peerCN: string | undefined;
  received: Buffer;
  /** True when the client's close_notify + FIN ended the socket's readable side. */
  sawEnd: boolean;
}

/** What a node:tls server does with one connection: write and end, or echo. */
type NodeBehaviour = { kind: 'reply'; data: Uint8Array | string } | { kind: 'echo' };

/**
 * Start a TLS 1.3 node:tls server on 127.0.0.1:0 that handles one connection with `behaviour` and resolves
 * `seen` when that connection closes.
 */
async function nodeServer(
  t: ExecutionContext,
  options: tls.TlsOptions,
  behaviour: NodeBehaviour,
  host = '127.0.0.1',
): Promise<{ port: number; seen: Promise<NodeSeen> }> {
  let resolveSeen!: (s: NodeSeen) => void;
  let rejectSeen!: (e: unknown) => void;
  const seen = new Promise<NodeSeen>((res, rej) => {
    resolveSeen = res;
    rejectSeen = rej;
  });
  const server = tls.createServer({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ...serverCert(), ...options }, (socket) => {
    const chunks: Buffer[] = [];
    let sawEnd = false;
    const peer = socket.getPeerCertificate();
    const info = {
      cipher: socket.getCipher().standardName,
      alpn: socket.alpnProtocol ?? false,
      servername: (socket as tls.TLSSocket & { servername?: string | false }).servername,
      authorized: socket.authorized,
      peerCN: peer && typeof peer.subject === 'object' ? String(peer.subject.CN) : undefined,
    };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (behaviour.kind === 'echo') socket.write(d);
    });
    socket.on('end', () => {
      sawEnd = true;
      if (behaviour.kind === 'echo') socket.end(); // close_notify after the echo
    });
    socket.on('error', rejectSeen);
    socket.on('close', () => resolveSeen({ ...info, received: Buffer.concat(chunks), sawEnd }));
    // Answer the client's first data with `data` + close_notify. (Node's end() called right in the
    // secureConnection callback closes the TCP connection without a close_notify: OpenSSL's s_client reports
    // "unexpected eof" then too, so the reply waits for the client to speak first.)
    if (behaviour.kind === 'reply') socket.once('data', () => socket.end(behaviour.data));
  });
  server.on('tlsClientError', (e) => rejectSeen(e));
  await new Promise<void>((r) => server.listen(0, host, r));
  t.teardown(() => {
    server.close();
  });
  const timer = setTimeout(() => rejectSeen(new Error('node server: no connection finished in time')), TEST_MS - 5_000);
  void seen.finally(() => clearTimeout(timer)).catch(() => undefined);
  return { port: (server.address() as AddressInfo).port, seen };
}


// ---------------------------------------------------------------------------------------------------------
// rxtls client → node:tls server

for (const suite of SUITES) {
  test(`rxtls client → node:tls server: ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const { port, seen } = await nodeServer(t, { ciphers: suite }, { kind: 'reply', data: 'hi from node' });
    const tr = await clientExchange(rxClient(port), { send: 'hi from rxtls', waitForPeerClose: true, owner: t });
    const s = await seen;
    t.is(tr.info.cipherSuite, suite);
    t.is(s.cipher, suite);
    t.is(tr.received.toString(), 'hi from node');
    t.is(s.received.toString(), 'hi from rxtls');
    t.is(tr.info.verification, 'ok');
  });
}

for (const [curve, group, ourGroups, hrr] of [
  ['X25519', 'X25519', undefined, false],
  ['P-256', 'P-256', 'P-256', false],
  ['P-256', 'P-256', undefined, true], // we offer an X25519 share first: the server asks again
  ['P-384', 'P-384', undefined, true],
] as const) {
  test(`rxtls client${ourGroups ? ` (groups ${ourGroups})` : ''} → node:tls server ecdhCurve ${curve}: ${group}${hrr ? ' after HelloRetryRequest' : ''}`, async (t) => {
    t.timeout(TEST_MS);
    const { port, seen } = await nodeServer(t, { ecdhCurve: curve }, { kind: 'reply', data: 'ok' });
    const tr = await clientExchange(rxClient(port, ourGroups ? { groups: ourGroups } : {}), { send: 'hello', waitForPeerClose: true, owner: t });
    await seen;
    t.is(tr.info.group, group);
    t.is(tr.info.helloRetry, hrr);
    t.is(tr.received.toString(), 'ok');
  });
}

test('rxtls client → node:tls server: ALPN', async (t) => {
  t.timeout(TEST_MS);
  const { port, seen } = await nodeServer(t, { ALPNProtocols: ['h2', 'http/1.1'] }, { kind: 'reply', data: 'ok' });
  const tr = await clientExchange(rxClient(port, { ALPNProtocols: ['http/1.1'] }), { send: 'hello', waitForPeerClose: true, owner: t });
  const s = await seen;
  t.is(tr.info.alpn, 'http/1.1');
  t.is(s.alpn, 'http/1.1');
});

test('rxtls client → node:tls server: SNI seen by node', async (t) => {
  t.timeout(TEST_MS);
  const { port, seen } = await nodeServer(t, {}, { kind: 'reply', data: 'ok' });
  await clientExchange(rxClient(port, { servername: 'localhost' }), { send: 'hello', waitForPeerClose: true, owner: t });
  t.is((await seen).servername, 'localhost');
});

test('rxtls client with a certificate → node:tls server requiring one', async (t) => {
  t.timeout(TEST_MS);
  const { port, seen } = await nodeServer(t, { requestCert: true, rejectUnauthorized: true, ca: CA }, { kind: 'reply', data: 'welcome' });
  const tr = await clientExchange(rxClient(port, clientCert), { send: 'me', waitForPeerClose: true, owner: t });
  const s = await seen;
  t.true(s.authorized);
  t.is(s.peerCN, 'rxtls test client');
  t.is(tr.received.toString(), 'welcome');
});

test('rxtls client → node:tls server: a wrong host name is rejected', async (t) => {
  t.timeout(TEST_MS);
  const { port } = await nodeServer(t, serverCert('ec'), { kind: 'reply', data: 'x' });
  const err = await t.throwsAsync(clientExchange(rxClient(port, { servername: 'not-localhost.example' }), { owner: t }), { instanceOf: TlsError });
  t.is(err?.detail.kind === 'certificate' ? err.detail.code : err?.detail.kind, 'hostname_mismatch');
});

test("rxtls client: node's end() (close_notify) completes inbound$", async (t) => {
  t.timeout(TEST_MS);
  const { port, seen } = await nodeServer(t, {}, { kind: 'reply', data: 'bye' });
  const { conn, release } = await openConnection(rxClient(port), t);
  t.teardown(release);
  const out = new Subject<Uint8Array>();
  const sent = lastValueFrom(conn.send(out), { defaultValue: undefined });
  out.next(new TextEncoder().encode('hello'));
  const received: string[] = [];
  // Subscribe to inbound$ alone: it must complete by itself when node's close_notify arrives.
  await withTimeout(
    new Promise<void>((resolve, reject) =>
      conn.inbound$.subscribe({ next: (c) => received.push(Buffer.from(c).toString()), complete: resolve, error: reject }),
    ),
    20_000,
    'inbound$ completion on close_notify',
  );
  t.is(received.join(''), 'bye');
  // Then our close_notify; node sees a clean end.
  out.complete();
  await withTimeout(sent, 10_000, 'our close_notify');
  const s = await seen;
  t.true(s.sawEnd);
});

test.serial('rxtls client ⇄ node:tls echo server: 10 MiB each way, SHA-256 compared', async (t) => {
  t.timeout(120_000);
  const data = payload(10 * MiB);
  const { port, seen } = await nodeServer(t, {}, { kind: 'echo' });
  const tr = await clientExchange(rxClient(port), { send: chunksOf(data), keep: false, timeoutMs: 100_000, owner: t });
  const s = await seen;
  t.is(s.received.length, data.length);
  t.is(sha256(s.received), sha256(data));
  t.is(tr.receivedBytes, data.length);
  t.is(tr.receivedSha256, sha256(data));
});

// ---------------------------------------------------------------------------------------------------------
// node:tls client → rxtls server

interface NodeClientSeen {
  cipher: string;
  /** OpenSSL name of the key exchange group (`X25519`, `prime256v1`, …). */
  group: string | undefined;
  alpn: string | false;
  authorized: boolean;
  received: Buffer;
  receivedSha256: string;
}

/** Connect with node:tls, write `data`, end() (close_notify), collect until the server's close. */
function nodeClient(port: number, options: tls.ConnectionOptions, data: Uint8Array | string): Promise<NodeClientSeen> {
  return withTimeout(
    new Promise<NodeClientSeen>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: CA, servername: 'localhost', minVersion: 'TLSv1.3', ...options }, () => {
        const eph = socket.getEphemeralKeyInfo();
        const info = {
          cipher: socket.getCipher().standardName,
          group: eph && 'name' in eph ? (eph as { name?: string }).name : undefined,
          alpn: socket.alpnProtocol ?? false,
          authorized: socket.authorized,
        };
        const chunks: Buffer[] = [];
        const hash = createHash('sha256');
        socket.on('data', (d: Buffer) => {
          hash.update(d);
          if (chunks.length < 64) chunks.push(d);
        });
        socket.on('end', () => resolve({ ...info, received: Buffer.concat(chunks), receivedSha256: hash.digest('hex') }));
        for (const c of typeof data === 'string' ? [data] : chunksOf(data)) socket.write(c);
        socket.end();
      });
      socket.on('error', reject);
    }),
    100_000,
    'node:tls client exchange',
  );
}

for (const suite of SUITES) {
  test(`node:tls client → rxtls server: ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener({ ...serverCert(), ciphers: suite }, t);
    const client = nodeClient(l.port, {}, 'ping');
    const tr = await withTimeout(drive(await l.accept(), { echo: true }), 20_000, 'serve');
    const n = await client;
    t.is(tr.info.cipherSuite, suite);
    t.is(n.cipher, suite);
    t.is(n.received.toString(), 'ping');
    t.true(n.authorized);
  });
}

for (const [clientCurve, serverGroups, group, nodeName, hrr] of [
  ['X25519', 'X25519', 'X25519', 'X25519', false],
  ['P-256', 'P-256', 'P-256', 'prime256v1', false],
  ['X25519:P-256', 'P-256', 'P-256', 'prime256v1', true], // node sends an X25519 share only
] as const) {
  test(`node:tls client ecdhCurve ${clientCurve} → rxtls server groups ${serverGroups}: ${group}${hrr ? ' after HelloRetryRequest' : ''}`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener({ ...serverCert(), groups: serverGroups }, t);
    const client = nodeClient(l.port, { ecdhCurve: clientCurve }, 'ping');
    const tr = await withTimeout(drive(await l.accept(), { echo: true }), 20_000, 'serve');
    const n = await client;
    t.is(tr.info.group, group);
    t.is(tr.info.helloRetry, hrr);
    t.is(n.group, nodeName);
  });
}

test('node:tls client → rxtls server: ALPN and SNI', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ ...serverCert(), ALPNProtocols: ['h2', 'http/1.1'] }, t);
  const client = nodeClient(l.port, { ALPNProtocols: ['http/1.1'], servername: 'localhost' }, 'x');
  const tr = await withTimeout(drive(await l.accept(), { echo: true }), 20_000, 'serve');
  const n = await client;
  t.is(tr.info.alpn, 'http/1.1');
  t.is(n.alpn, 'http/1.1');
  t.is(tr.info.serverName, 'localhost');
});

for (const kind of ['ed', 'rsa'] as const) {
  test(`node:tls client → rxtls server: ${kind} certificate verified by node`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener(serverCert(kind), t);
    const client = nodeClient(l.port, {}, 'x');
    await withTimeout(drive(await l.accept(), { echo: true }), 20_000, 'serve');
    t.true((await client).authorized);
  });
}

test('node:tls client with a certificate → rxtls server requiring one', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ ...serverCert(), requestCert: true, ca: CA }, t);
  const client = nodeClient(l.port, clientCert, 'signed');
  const tr = await withTimeout(drive(await l.accept(), { echo: true }), 20_000, 'serve');
  await client;
  t.is(tr.info.verification, 'ok');
  t.is(tr.info.peerSubject, 'CN=rxtls test client');
});

test('node:tls client without a certificate → rxtls server requiring one: rejected', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ ...serverCert(), requestCert: true, ca: CA }, t);
  await t.throwsAsync(nodeClient(l.port, {}, 'x'), { message: /certificate required|alert number 116|ECONNRESET|socket hang up/i });
  t.is(l.errors.length, 1);
  t.is(l.errors[0]?.alert, 116);
});

test("rxtls server: node client's end() (close_notify) completes inbound$", async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(serverCert(), t);
  const client = nodeClient(l.port, {}, 'half-close');
  const conn = await l.accept();
  const got: Buffer[] = [];
  await withTimeout(
    new Promise<void>((resolve, reject) => conn.inbound$.subscribe({ next: (c) => got.push(Buffer.from(c)), complete: resolve, error: reject })),
    20_000,
    'inbound$ completion on close_notify',
  );
  t.is(Buffer.concat(got).toString(), 'half-close');
  // TLS 1.3 half-close: we may still write after the peer's close_notify, then send ours.
  await withTimeout(lastValueFrom(conn.send(of(new TextEncoder().encode('after your close'))), { defaultValue: undefined }), 10_000, 'reply and close_notify');
  const n = await client;
  t.is(n.received.toString(), 'after your close');
});

test.serial('node:tls client ⇄ rxtls echo server: 10 MiB each way, SHA-256 compared', async (t) => {
  t.timeout(120_000);
  const data = payload(10 * MiB);
  const l = await startListener(serverCert(), t);
  const client = nodeClient(l.port, {}, data);
  const tr = await withTimeout(drive(await l.accept(), { echo: true, keep: false }), 100_000, 'echo 10 MiB');
  const n = await client;
  t.is(tr.receivedBytes, data.length);
  t.is(tr.receivedSha256, sha256(data));
  t.is(n.receivedSha256, sha256(data));
});

// ---------------------------------------------------------------------------------------------------------
// the rxtls CLI against node:tls

async function cliServer(t: ExecutionContext, args: readonly string[]) {
  const server = await startCliServer(
    ['server', '--port', '0', '--cert', certPath('server-ec-chain.pem'), '--key', certPath('server-ec-key.pem'), '--naccept', '1', ...args],
    { timeoutMs: 50_000, owner: t },
  );
  const port = Number(/^ACCEPT 127\.0\.0\.1:(\d+)$/m.exec(server.stderr())![1]);
  return { server, port };
}

test('node:tls client → rxtls CLI server --echo --alpn: echoed, exit 0 after --naccept 1', async (t) => {
  t.timeout(TEST_MS);
  const { server, port } = await cliServer(t, ['--echo', '--alpn', 'h2,echo']);
  const n = await nodeClient(port, { ALPNProtocols: ['echo'] }, 'echo me');
  t.is(n.received.toString(), 'echo me');
  t.is(n.alpn, 'echo');
  const exit = await withTimeout(server.exited, 20_000, 'CLI server exit');
  t.is(exit.code, 0, server.output());
  t.is(parseSummary(server.stderr()).ALPN, 'echo');
  t.regex(server.stderr(), /^CLOSED 1$/m);
});

test('node:tls client with a certificate → rxtls CLI server --verify-client: data on stdout', async (t) => {
  t.timeout(TEST_MS);
  const { server, port } = await cliServer(t, ['--verify-client', certPath('ca-cert.pem')]);
  await nodeClient(port, clientCert, 'printed by the server\n');
  const exit = await withTimeout(server.exited, 20_000, 'CLI server exit');
  t.is(exit.code, 0, server.output());
  t.is(server.stdout(), 'printed by the server\n');
  const s = parseSummary(server.stderr());
  t.is(s.Peer, 'CN=rxtls test client');
  t.is(s.Verification, 'ok');
});

test('node:tls client without a certificate → rxtls CLI server --verify-client: ERROR line, exit 1', async (t) => {
  t.timeout(TEST_MS);
  const { server, port } = await cliServer(t, ['--verify-client', certPath('ca-cert.pem')]);
  await t.throwsAsync(nodeClient(port, {}, 'x'));
  const exit = await withTimeout(server.exited, 20_000, 'CLI server exit');
  t.is(exit.code, 1, server.output());
  t.regex(server.stderr(), /^ERROR 1 .*certificate/m);
});

test('rxtls CLI client --cert/--key → node:tls server on [::1] requiring a certificate', async (t) => {
  t.timeout(TEST_MS);
  const { port, seen } = await nodeServer(t, { requestCert: true, rejectUnauthorized: true, ca: CA }, { kind: 'reply', data: 'hello [::1]' }, '::1');
  const r = await runCli(
    ['client', `[::1]:${port}`, '--cafile', certPath('ca-cert.pem'), '--cert', certPath('client-cert.pem'), '--key', certPath('client-key.pem'), '--alpn', 'x,y'],
    'knock knock',
    { owner: t },
  );
  t.is(r.code, 0, describeRun('rxtls client', r));
  t.is(r.stdout, 'hello [::1]');
  const s = await seen;
  t.is(s.received.toString(), 'knock knock');
  t.true(s.authorized);
  t.is(s.peerCN, 'rxtls test client');
  t.is(parseSummary(r.stderr).Verification, 'ok'); // verified against the IP SAN ::1
});

test('rxtls CLI client → nothing listening: one line, exit 1', async (t) => {
  t.timeout(TEST_MS);
  const port = await freePort();
  const r = await runCli(['client', `127.0.0.1:${port}`, '--quiet'], '', { owner: t });
  t.is(r.code, 1, describeRun('rxtls client', r));
  t.regex(r.stderr, /^rxtls: .*ECONNREFUSED.*\n$/);
  t.is(r.stderr.split('\n').length, 2);
});

test('rxtls CLI: bad arguments exit 2 with a usage hint', async (t) => {
  t.timeout(TEST_MS);
  const r = await runCli(['client', 'localhost', '--groups', 'ffdhe2048'], '', { owner: t });
  t.is(r.code, 2, describeRun('rxtls client', r));
  t.regex(r.stderr, /^rxtls: .*\(see rxtls --help\)\n$/);
});

test.serial('rxtls CLI client: 10 MiB stdin → node:tls echo server → stdout, SHA-256 compared', async (t) => {
  t.timeout(120_000);
  const data = payload(10 * MiB);
  const { port, seen } = await nodeServer(t, {}, { kind: 'echo' });
  const r = await runCli(['client', `127.0.0.1:${port}`, '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost', '--quiet'], data, {
    owner: t,
    timeoutMs: 100_000,
  });
  t.is(r.code, 0, describeRun('rxtls client', { ...r, stdout: `${r.stdoutBytes.length} bytes` }));
  t.is(r.stderr, '');
  const s = await seen;
  t.is(sha256(s.received), sha256(data));
  t.is(r.stdoutBytes.length, data.length);
  t.is(sha256(r.stdoutBytes), sha256(data));
});
