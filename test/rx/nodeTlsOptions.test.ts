/**
 * What node:tls users reach for, on `connect` and `listen` over loopback: `checkServerIdentity` and a `verifier`
 * that sees the chain, the peer certificate described on `info` (cross-checked with node:crypto
 * `X509Certificate`), the SNI name on the server, `exportKeyingMaterial` (both ends equal, and equal to
 * node:tls's), `signal` (AbortSignal) on `connect` and `listen`, and `SSLKEYLOGFILE` from the environment.
 */
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { firstValueFrom, type Subscription } from 'rxjs';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import { quicConnect, quicListen } from '../../src/rx/quic.js';
import { createVerifier } from '../../src/node/verifier.js';
import { keyLogFromEnvironment } from '../../src/node/keyLogFile.js';
import { TlsError } from '../../src/core/errors.js';
import type { ListenOptions, TlsConnection } from '../../src/rx/types.js';
import { certPath, certText, tempDir, withTimeout } from '../helpers/peers.js';

const CA = certText('ca-cert.pem');
const cert = certText('server-ec-chain.pem');
const key = certText('server-ec-key.pem');
const MS = 20_000;

/** An rxtls server on a free port; its connections go to `onConn`. Closed at teardown. */
async function server(t: import('ava').ExecutionContext, onConn: (c: TlsConnection) => void = () => undefined, extra: Partial<ListenOptions> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    let sub: Subscription | undefined;
    sub = listen({ port: 0, cert, key, ...extra, onListening: (a) => resolve(a.port) }).subscribe({ next: onConn, error: reject });
    t.teardown(() => sub?.unsubscribe());
  });
}

/** Poll `done` every 5 ms until it holds (the server completes its handshake after the client). */
function waitFor(done: () => boolean, what: string): Promise<void> {
  return withTimeout(
    (async () => {
      while (!done()) await new Promise((r) => setTimeout(r, 5));
    })(),
    MS,
    what,
  );
}

async function open(t: import('ava').ExecutionContext, options: Parameters<typeof connect>[0]): Promise<TlsConnection> {
  const conn = await withTimeout(firstValueFrom(connect(options)), MS, 'connect');
  t.teardown(() => conn.close());
  return conn;
}

test('info.peerCertificate describes the leaf as node:crypto X509Certificate does; the server sees the SNI name', async (t) => {
  let serverInfo: TlsConnection['info'] | undefined;
  const port = await server(t, (c) => (serverInfo = c.info));
  const conn = await open(t, { host: '127.0.0.1', port, ca: CA, servername: 'localhost' });
  const d = conn.info.peerCertificate!;
  const x = new X509Certificate(Buffer.from(conn.info.peerCertificates[0]!));
  t.is(d.subject, x.subject);
  t.is(d.issuer, x.issuer.split('\n').join(', '));
  t.is(d.subjectaltname, x.subjectAltName!);
  t.is(d.fingerprint256, x.fingerprint256);
  t.is(d.notBefore, Date.parse(x.validFrom));
  t.is(d.notAfter, Date.parse(x.validTo));
  t.false(d.ca);
  await waitFor(() => serverInfo !== undefined, 'the server connection');
  t.is(serverInfo?.serverName, 'localhost', 'the server reports the SNI name the client asked for');
  t.is(serverInfo?.peerCertificate, undefined, 'no client certificate: nothing to describe');
});

test('checkServerIdentity replaces the host name check: it accepts a name the certificate lacks, and pins', async (t) => {
  const port = await server(t);
  const seen: [string, string][] = [];
  // 'example.org' is not in the certificate: the built-in check refuses it, a custom one may accept.
  const conn = await open(t, {
    host: '127.0.0.1',
    port,
    ca: CA,
    servername: 'example.org',
    checkServerIdentity: (host, c) => {
      seen.push([host, c.subject]);
      return undefined;
    },
  });
  t.deepEqual(seen, [['example.org', 'CN=localhost']]);
  t.is(conn.info.verification, 'ok');
  const pin = conn.info.peerCertificate!.fingerprint256;
  const refused = await withTimeout(
    firstValueFrom(
      connect({
        host: '127.0.0.1',
        port,
        ca: CA,
        servername: 'localhost',
        checkServerIdentity: (host, c) => (c.fingerprint256 === 'AA:' + pin.slice(3) ? undefined : new Error(`${host}: not the pinned certificate`)),
      }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    ),
    MS,
    'pinning',
  );
  t.true(refused instanceof TlsError);
  t.is((refused as TlsError).detail.kind, 'certificate');
  t.regex((refused as TlsError).message, /hostname_mismatch.*checkServerIdentity refused localhost: localhost: not the pinned certificate/);
  // The chain is still verified first: an unknown CA fails before checkServerIdentity is asked.
  let asked = false;
  const untrusted = await firstValueFrom(
    connect({ host: '127.0.0.1', port, ca: certText('other-ca-cert.pem'), servername: 'localhost', checkServerIdentity: () => void (asked = true) }),
  ).catch((e: unknown) => e);
  t.regex((untrusted as TlsError).message, /unknown_ca/);
  t.false(asked);
});

test('a verifier of your own sees the whole chain and decides; one that throws refuses', async (t) => {
  const port = await server(t);
  const chains: number[] = [];
  const base = createVerifier({ ca: CA });
  await open(t, {
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    verifier: {
      verify: (req) => {
        chains.push(req.chain.length);
        t.is(req.usage, 'server');
        t.is(req.serverName, 'localhost');
        return base.verify(req);
      },
    },
  });
  t.deepEqual(chains, [2], 'leaf and intermediate');
  const e = await firstValueFrom(
    connect({ host: '127.0.0.1', port, servername: 'localhost', verifier: { verify: () => { throw new Error('DANE record missing'); } } }),
  ).catch((err: unknown) => err);
  t.regex((e as TlsError).message, /the verifier refused the chain: DANE record missing/);
});

test('exportKeyingMaterial: both ends agree, labels and contexts separate, and node:tls exports the same bytes', async (t) => {
  let serverConn: TlsConnection | undefined;
  const port = await server(t, (c) => (serverConn = c));
  const conn = await open(t, { host: '127.0.0.1', port, ca: CA, servername: 'localhost' });
  await waitFor(() => serverConn !== undefined, 'server connection');
  const ctx = new TextEncoder().encode('context');
  const a = conn.exportKeyingMaterial(48, 'EXPORTER-test', ctx);
  t.is(a.length, 48);
  t.deepEqual(serverConn!.exportKeyingMaterial(48, 'EXPORTER-test', ctx), a);
  t.notDeepEqual(conn.exportKeyingMaterial(48, 'EXPORTER-other', ctx), a);
  t.notDeepEqual(conn.exportKeyingMaterial(48, 'EXPORTER-test'), a);
  t.throws(() => conn.exportKeyingMaterial(32, ''), { instanceOf: TlsError, message: /label/ });
  t.throws(() => conn.exportKeyingMaterial(-1, 'x'), { instanceOf: TlsError, message: /length/ });

  // node:tls (OpenSSL SSL_export_keying_material) against our server, with and without a context.
  for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384']) {
    serverConn = undefined;
    const socket = tls.connect({ host: '127.0.0.1', port, ca: CA, servername: 'localhost', minVersion: 'TLSv1.3', ciphersuites: suite } as tls.ConnectionOptions);
    t.teardown(() => socket.destroy());
    await withTimeout(new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)), MS, 'node:tls');
    await waitFor(() => serverConn !== undefined, 'server connection');
    const theirs = socket.exportKeyingMaterial(64, 'EXPORTER-node', Buffer.from(ctx));
    t.deepEqual(Buffer.from(serverConn!.exportKeyingMaterial(64, 'EXPORTER-node', ctx)), theirs, suite);
    t.deepEqual(Buffer.from(serverConn!.exportKeyingMaterial(16, 'EXPORTER-node')), (socket.exportKeyingMaterial as (n: number, l: string) => Buffer)(16, 'EXPORTER-node'), `${suite}, no context`);
    socket.destroy();
  }
});

test('pfx + passphrase: listen serves the PKCS#12 identity to connect and node:tls; connect presents one as its client certificate', async (t) => {
  const pfx = new Uint8Array(readFileSync(certPath('server-ec.p12')));
  let serverInfo: TlsConnection['info'] | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    const sub = listen({
      port: 0,
      pfx,
      passphrase: 'secret',
      requestCert: true,
      ca: CA,
      rejectUnauthorized: false,
      onListening: (a) => resolve(a.port),
    }).subscribe({ next: (c) => (serverInfo = c.info), error: reject });
    t.teardown(() => sub.unsubscribe());
  });
  const conn = await open(t, { host: '127.0.0.1', port, ca: CA, servername: 'localhost', pfx: readFileSync(certPath('server-rsa.p12')), passphrase: 'secret' });
  t.is(conn.info.peerCertificates.length, 2, 'leaf and intermediate from the pfx');
  t.is(conn.info.peerCertificate?.subject, 'CN=localhost');
  await waitFor(() => serverInfo !== undefined, 'server connection');
  t.is(serverInfo?.verification, 'ok', 'the client certificate from the RSA pfx verifies');
  t.is(serverInfo?.peerCertificates.length, 2);

  // node:tls as the client of the same server, and as a server built from the same pfx.
  const socket = tls.connect({ host: '127.0.0.1', port, ca: CA, servername: 'localhost', minVersion: 'TLSv1.3' });
  t.teardown(() => socket.destroy());
  await withTimeout(new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)), MS, 'node:tls client');
  t.true(socket.authorized);
  const nodeServer = tls.createServer({ pfx: Buffer.from(pfx), passphrase: 'secret', minVersion: 'TLSv1.3' }, (s) => s.end());
  await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => nodeServer.close());
  const viaNode = await open(t, { host: '127.0.0.1', port: (nodeServer.address() as import('node:net').AddressInfo).port, ca: CA, servername: 'localhost' });
  t.is(viaNode.info.peerCertificate?.fingerprint256, conn.info.peerCertificate?.fingerprint256, 'node:tls serves the same leaf');

  // Options are checked when listen() is called: a wrong passphrase throws before any socket exists.
  const e = t.throws(() => listen({ port: 0, pfx, passphrase: 'wrong' }), { instanceOf: TlsError, message: /pfx \(PKCS#12\): wrong passphrase/ });
  t.is(e?.detail.kind, 'apiMisuse');
});

test('signal: connect aborted before subscribing or during the handshake errors with kind aborted; listen completes', async (t) => {
  // A listener that never answers: the handshake waits until the signal aborts.
  const silent = await new Promise<import('node:net').Server>((resolve) => {
    import('node:net').then(({ createServer }) => {
      const s = createServer(() => undefined).listen(0, '127.0.0.1', () => resolve(s));
    });
  });
  t.teardown(() => silent.close());
  const port = (silent.address() as import('node:net').AddressInfo).port;
  const before = new AbortController();
  before.abort();
  const e1 = await firstValueFrom(connect({ host: '127.0.0.1', port, ca: CA, signal: before.signal })).catch((e: unknown) => e);
  t.is((e1 as TlsError).detail.kind, 'aborted');
  const during = new AbortController();
  let tcpUp = false;
  const pending = firstValueFrom(connect({ host: '127.0.0.1', port, ca: CA, signal: during.signal, onTcpConnect: () => (tcpUp = true) })).catch((e: unknown) => e);
  await waitFor(() => tcpUp, 'TCP connect');
  during.abort(new Error('user pressed ^C'));
  const e2 = (await withTimeout(pending, MS, 'abort')) as TlsError;
  t.is(e2.detail.kind, 'aborted');
  t.is(e2.message, 'aborted by the AbortSignal: user pressed ^C');

  // listen: the signal closes the server and completes the Observable.
  const stop = new AbortController();
  let completed = false;
  const port2 = await new Promise<number>((resolve) => {
    listen({ port: 0, cert, key, signal: stop.signal, onListening: (a) => resolve(a.port) }).subscribe({ complete: () => (completed = true) });
  });
  stop.abort();
  t.true(completed);
  const refused = await firstValueFrom(connect({ host: '127.0.0.1', port: port2, ca: CA, servername: 'localhost' })).catch((e: unknown) => e);
  t.is((refused as TlsError).detail.kind, 'transport', 'nothing listens any more');
});

test.serial('SSLKEYLOGFILE (serial: the environment is process-wide): connect and listen append the secrets of both ends; keyLog: false refuses it', async (t) => {
  const file = path.join(tempDir(t), 'keys.log');
  t.deepEqual(keyLogFromEnvironment({ keyLog: false }, { SSLKEYLOGFILE: file }), { keyLog: false });
  t.deepEqual(keyLogFromEnvironment({}, { SSLKEYLOGFILE: '' }), {});
  process.env.SSLKEYLOGFILE = file;
  t.teardown(() => delete process.env.SSLKEYLOGFILE);
  const port = await server(t);
  const conn = await open(t, { host: '127.0.0.1', port, ca: CA, servername: 'localhost' });
  const random = await withTimeout(
    (async () => {
      for (;;) {
        const lines = readFileSync(file, 'utf8').trim().split('\n');
        // 5 labels from each end (client and server), keyed by the same client_random.
        if (lines.length >= 10) return lines;
        await new Promise((r) => setTimeout(r, 10));
      }
    })(),
    MS,
    'key log lines',
  );
  const labels = [...new Set(random.map((l) => l.split(' ')[0]))].sort();
  t.deepEqual(labels, ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'EXPORTER_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_TRAFFIC_SECRET_0']);
  t.is(new Set(random.map((l) => l.split(' ')[1])).size, 1, 'one connection');
  const subscribed: string[] = [];
  conn.keyLog$.subscribe((l) => subscribed.push(l));
  t.is(subscribed.length, 5, 'keyLog$ replays the client lines');
});

test('QUIC keyLog: both ends log the TLS 1.3 secrets of one handshake (what SSLKEYLOGFILE feeds)', async (t) => {
  const serverLines: string[] = [];
  const clientLines: string[] = [];
  const listener = await quicListen({ cert, key, alpn: ['echo'], keyLog: (l) => serverLines.push(l) });
  t.teardown(() => listener.close());
  const conn = await withTimeout(
    firstValueFrom(quicConnect({ host: '127.0.0.1', port: listener.port, ca: CA, servername: 'localhost', alpn: ['echo'], keyLog: (l) => clientLines.push(l) })),
    MS,
    'quicConnect',
  );
  t.teardown(() => conn.close({ rapid: true }));
  await waitFor(() => serverLines.length >= 5, 'server key log');
  const labels = (lines: string[]) => lines.map((l) => l.split(' ')[0]).sort();
  const expected = ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'EXPORTER_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_TRAFFIC_SECRET_0'];
  t.deepEqual(labels(clientLines), expected);
  t.deepEqual(labels(serverLines), expected);
  t.deepEqual([...serverLines].sort(), [...clientLines].sort(), 'the same secrets on both ends');
});
