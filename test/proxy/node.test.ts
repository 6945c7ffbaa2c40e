/**
 * The Node bridges on 127.0.0.1: node:http served over rxtls TLS connections (`toNodeDuplex`) answering
 * node:https (and curl, where installed), and node:http speaking over an rxtls client connection
 * (`createConnection`). Every network wait is bounded.
 */
import test from 'ava';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import { fromNodeDuplex, toNodeDuplex } from '../../src/node/index.js';
import { ca, cert, dec, key } from '../helpers/fixtures.js';
import { withTimeout } from '../helpers/peers.js';
import { curlGet } from '../helpers/curl.js';

const MS = 20_000;

/** GET `path` with node:https, trusting the test CA; the status and body. */
function httpsGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, ca, servername: 'localhost', agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

test('node:http served over toNodeDuplex(rxtls server connection) answers node:https requests (and curl --http1.1)', async (t) => {
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => res.end(`${req.method} ${req.url} ${Buffer.concat(parts).length}`));
  });
  let port = 0;
  const listening = new Promise<void>((resolve) => {
    const sub = listen({ port: 0, cert, key, ALPNProtocols: ['http/1.1'], onListening: (a) => ((port = a.port), resolve()) }).subscribe((conn) =>
      server.emit('connection', toNodeDuplex(conn)),
    );
    t.teardown(() => sub.unsubscribe());
  });
  await withTimeout(listening, MS, 'listen');
  const a = await withTimeout(httpsGet(port, '/one'), MS, 'GET /one');
  t.deepEqual(a, { status: 200, body: 'GET /one 0' });
  const b = await withTimeout(httpsGet(port, '/two'), MS, 'GET /two');
  t.deepEqual(b, { status: 200, body: 'GET /two 0' });
  const out = await curlGet(`https://127.0.0.1:${port}/curl`, MS);
  if (out !== undefined) {
    t.is(out, 'GET /curl 0');
  } else {
    t.log('curl is not installed: node:https only');
  }
});

test('http.request({ createConnection: () => toNodeDuplex(rxtls client connection) }) talks to a node:https server', async (t) => {
  const server = https.createServer({ cert, key }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => res.end(`echo:${Buffer.concat(parts).toString()}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const conn = await withTimeout(firstValueFrom(connect({ host: '127.0.0.1', port, ca, servername: 'localhost' })), MS, 'connect');
  const body = await withTimeout(
    new Promise<string>((resolve, reject) => {
      const req = http.request({ method: 'POST', path: '/', headers: { connection: 'close' }, createConnection: () => toNodeDuplex(conn) }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve(Buffer.concat(parts).toString()));
      });
      req.on('error', reject);
      req.end('ping over rxtls');
    }),
    MS,
    'request',
  );
  t.is(body, 'echo:ping over rxtls');
});

test('fromNodeDuplex: a node stream as a ByteDuplex carries data, backpressure and end', async (t) => {
  const { PassThrough } = await import('node:stream');
  const stream = new PassThrough({ highWaterMark: 4 });
  const duplex = fromNodeDuplex(stream);
  duplex.pause?.(); // nothing read: what is written stays in the stream
  t.false(duplex.write(new TextEncoder().encode('hello')), 'more than the high-water mark: write answers false');
  const drained = firstValueFrom(duplex.drain$);
  const got: string[] = [];
  const done = new Promise<void>((resolve, reject) => duplex.incoming$.subscribe({ next: (b) => got.push(dec(b)), complete: resolve, error: reject }));
  duplex.resume?.();
  await withTimeout(drained, MS, 'drain');
  duplex.end();
  await withTimeout(done, MS, 'end');
  t.is(got.join(''), 'hello');
});
