/**
 * `npm run demo`: an rxtls server on 127.0.0.1 (a free port) with the test certificates, then an rxtls client
 * and a node:tls client talk to it. Prints what each side negotiated, exchanges data, closes cleanly
 * (close_notify both ways) and exits 0 — or exits 1 with the reason.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { type Subscription, lastValueFrom, of, toArray } from 'rxjs';
import type { HandshakeInfo } from '../src/core/types.js';
import { connect, listen } from '../src/rx/index.js';
import type { TlsConnection } from '../src/rx/index.js';

const certs = new URL('../test/fixtures/certs/', import.meta.url);
const pem = (name: string) => readFileSync(new URL(name, certs), 'utf8');
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One line naming what was negotiated. */
function describe(info: HandshakeInfo): string {
  return [
    info.protocol,
    info.cipherSuite,
    `group ${info.group ?? '-'}`,
    `ALPN ${info.alpn ?? '-'}`,
    `SNI ${info.serverName ?? '-'}`,
    `peer ${info.peerSubject ?? '(no certificate)'}`,
    `verification ${info.verification}`,
    info.helloRetry ? 'after HelloRetryRequest' : 'no HRR',
  ].join(', ');
}

/** Server side: log the handshake, echo everything in upper case, close after the client does. */
function serve(conn: TlsConnection, id: number): void {
  console.log(`[server]      connection ${id}: ${describe(conn.info)}`);
  const chunks: Uint8Array[] = [];
  conn.inbound$.subscribe({
    next: (c) => chunks.push(c),
    complete: () => {
      const text = chunks.map((c) => decoder.decode(c, { stream: true })).join('');
      console.log(`[server]      connection ${id} received ${JSON.stringify(text)}; answering, then close_notify`);
      conn.send(of(encoder.encode(text.toUpperCase()))).subscribe({
        error: (e: Error) => console.error(`[server]      connection ${id} failed: ${e.message}`),
      });
    },
    error: (e: Error) => console.error(`[server]      connection ${id} failed: ${e.message}`),
  });
}

async function rxtlsClient(port: number): Promise<void> {
  const conn$ = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pem('ca-cert.pem'), ALPNProtocols: ['demo/1'] });
  let sub: Subscription | undefined;
  const conn = await new Promise<TlsConnection>((resolve, reject) => {
    sub = conn$.subscribe({ next: resolve, error: reject });
  });
  try {
    console.log(`[rxtls client] ${describe(conn.info)}`);
    // Send, then close_notify (half-close); the server answers after it and closes its side.
    const sent = lastValueFrom(conn.send(of(encoder.encode('hello from the rxtls client'))), { defaultValue: undefined });
    const answer = lastValueFrom(conn.inbound$.pipe(toArray()));
    await sent;
    const text = (await answer).map((c) => decoder.decode(c, { stream: true })).join('');
    console.log(`[rxtls client] got ${JSON.stringify(text)}; closed cleanly`);
  } finally {
    sub?.unsubscribe();
  }
}

function nodeClient(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, servername: 'localhost', ca: pem('ca-cert.pem'), ALPNProtocols: ['demo/1'], minVersion: 'TLSv1.3' },
      () => {
        const eph = socket.getEphemeralKeyInfo() as { name?: string };
        console.log(
          `[node client]  ${socket.getProtocol()}, ${socket.getCipher().standardName}, group ${eph.name ?? '-'}, ` +
            `ALPN ${socket.alpnProtocol || '-'}, verification ${socket.authorized ? 'ok' : socket.authorizationError}`,
        );
        socket.end('hello from node:tls'); // data, then close_notify
      },
    );
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => {
      console.log(`[node client]  got ${JSON.stringify(text)}; closed cleanly`);
      resolve();
    });
    socket.on('error', reject);
  });
}

async function main(): Promise<void> {
  let nextId = 0;
  let failures = 0;
  let resolvePort!: (port: number) => void;
  const portKnown = new Promise<number>((r) => (resolvePort = r));
  const server = listen({
    host: '127.0.0.1',
    port: 0,
    cert: pem('server-ec-chain.pem'),
    key: pem('server-ec-key.pem'),
    ALPNProtocols: ['demo/1'],
    onListening: ({ address, port }) => {
      console.log(`[server]      listening on ${address}:${port}`);
      resolvePort(port);
    },
    onError: (err) => {
      failures++;
      console.error(`[server]      a connection failed: ${err.message}`);
    },
  }).subscribe({ next: (conn) => serve(conn, ++nextId), error: (e: Error) => console.error(`[server] ${e.message}`) });
  const deadline = setTimeout(() => {
    console.error('demo: timed out');
    process.exit(1);
  }, 30_000);
  try {
    const port = await portKnown;
    await rxtlsClient(port);
    await nodeClient(port);
    if (failures > 0) throw new Error(`${failures} server-side connection(s) failed`);
    console.log('demo: done');
  } finally {
    clearTimeout(deadline);
    server.unsubscribe();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`demo failed: ${err.message}`);
    process.exit(1);
  },
);
