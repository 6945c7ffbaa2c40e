/**
 * QUIC echo, both ends in one process over UDP on 127.0.0.1: a server that upper-cases every stream it is sent,
 * and a client that opens one stream, sends a line, prints the answer and closes with an application code.
 *
 *   node --loader=ts-node/esm examples/quic-echo.ts ["text to send"]
 */
import { readFileSync } from 'node:fs';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { quicConnect, quicListen } from '../src/rx/quic.js';

const certs = new URL('../test/fixtures/certs/', import.meta.url);
const pem = (name: string) => readFileSync(new URL(name, certs), 'utf8');
const text = process.argv[2] ?? 'hello over quic';

const server = await quicListen({ cert: pem('server-ec-chain.pem'), key: pem('server-ec-key.pem'), alpn: ['echo'] });
// The server's connection ends once its draining period (3 × PTO after our CONNECTION_CLOSE) is over.
let serverConnectionClosed!: () => void;
const serverClosed = new Promise<void>((resolve) => (serverConnectionClosed = resolve));
server.connections.subscribe((conn) => {
  console.log(`[server] connection: ${conn.info.cipherSuite}, ALPN ${conn.info.alpn}`);
  conn.incoming$.subscribe((stream) => {
    const chunks: Uint8Array[] = [];
    stream.data$.subscribe({
      next: (d) => chunks.push(d),
      complete: () => {
        stream.write(Buffer.concat(chunks).toString().toUpperCase());
        stream.end();
      },
    });
  });
  conn.closed$.subscribe({
    error: (e: Error) => {
      console.log(`[server] peer closed: ${e.message}`);
      serverConnectionClosed();
    },
    complete: () => serverConnectionClosed(),
  });
});

const conn = await firstValueFrom(quicConnect({ host: '127.0.0.1', port: server.port, ca: pem('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }));
console.log(`[client] connected to 127.0.0.1:${server.port}: ${conn.info.cipherSuite}, verification ${conn.info.verification}`);
const stream = conn.openStream();
const answer = lastValueFrom(stream.data$.pipe(toArray()));
stream.write(text);
stream.end();
console.log(`[client] sent "${text}", got "${Buffer.concat(await answer).toString()}"`);
conn.close({ errorCode: 0x2an, reason: 'done' });
await lastValueFrom(conn.closed$, { defaultValue: undefined }).catch(() => undefined);
await serverClosed;
await server.close();
console.log('quic-echo: done');
