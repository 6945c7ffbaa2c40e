/**
 * `rxtls proxy` (the CLI, as its esbuild bundle) on 127.0.0.1 between real peers: openssl s_client through a
 * terminating proxy to a TCP echo; a plain TCP client through an originating proxy to `openssl s_server -www`;
 * node:https and curl through a terminating proxy to node:http; an rxtls QUIC client through `--quic` to a TLS
 * backend. Every wait is bounded; a missing peer fails (requirePeer).
 */
import test from 'ava';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { firstValueFrom, lastValueFrom, map, toArray } from 'rxjs';
import { listen } from '../../src/rx/listen.js';
import { quicConnect } from '../../src/rx/quic.js';
import { CA_PEM, certPath, opensslCertArgs, runOpenssl, sClientArgs, serverPem, startCliServer, startSServer, withTimeout } from '../helpers/peers.js';
import { curlGet } from '../helpers/curl.js';

const MS = 30_000;
const { cert, key } = serverPem('ec');
const frontArgs = ['--cert', certPath('server-ec-chain.pem'), '--key', certPath('server-ec-key.pem')];

/** The port in the proxy's `ACCEPT host:port` line. */
const acceptPort = (output: string) => Number(/^ACCEPT \S+:(\d+)$/m.exec(output)![1]);

/** A TCP server on 127.0.0.1 that answers each connection with `onConnection`; closed at teardown. */
async function tcpBackend(t: { teardown(f: () => void): void }, onConnection: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('openssl s_client → rxtls proxy (terminating) → TCP echo: data both ways, FIN → close_notify → FIN, one log line', async (t) => {
  // Echo the line in upper case, then FIN: the proxy turns it into close_notify, s_client answers with its own,
  // which the proxy turns into a FIN to the echo.
  const backend = await tcpBackend(t, (s) => {
    s.once('data', (b: Buffer) => s.end(b.toString().toUpperCase()));
    s.resume();
  });
  const proxy = await startCliServer(['proxy', '--listen', '127.0.0.1:0', ...frontArgs, '--to', `127.0.0.1:${backend}`], { owner: t });
  const port = acceptPort(proxy.output());
  const r = await withTimeout(runOpenssl(sClientArgs(port, ['-quiet']), { stdin: 'hello through the proxy\n', owner: t }), MS, 's_client');
  t.true(r.stdout.includes('HELLO THROUGH THE PROXY'), r.stdout + r.stderr);
  const line = await proxy.waitForOutput(/^PROXY .*$/m, MS);
  t.regex(line, /PROXY client=127\.0\.0\.1:\d+ sni=localhost alpn=- route=127\.0\.0\.1:\d+ up=24 down=24 client_close=end backend_close=end/);
});

test('plain TCP client → rxtls proxy (originating, --to-tls) → openssl s_server -www', async (t) => {
  const { peer: sServer, port: backend } = await startSServer([...opensslCertArgs('ec'), '-www'], { owner: t });
  t.teardown(() => sServer.kill());
  const proxy = await startCliServer(['proxy', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${backend}`, '--to-tls', '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost'], {
    owner: t,
  });
  const port = acceptPort(proxy.output());
  const reply = await withTimeout(
    new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
      const parts: Buffer[] = [];
      s.on('data', (b: Buffer) => parts.push(b));
      s.on('end', () => {
        s.end();
        resolve(Buffer.concat(parts).toString());
      });
      s.on('error', reject);
    }),
    MS,
    'plain client',
  );
  t.regex(reply, /^HTTP\/1\.0 200 ok/);
  t.true(reply.includes('TLSv1.3'), 'the page s_server -www writes about the TLS session');
  const line = await proxy.waitForOutput(/^PROXY .*$/m, MS);
  t.regex(line, /route=127\.0\.0\.1:\d+\+tls up=18 down=\d+ client_close=end backend_close=end/);
});

test('node:https and curl --http1.1 through rxtls proxy (terminating) to node:http', async (t) => {
  const server = http.createServer((req, res) => res.end(`backend saw ${req.method} ${req.url}`));
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.teardown(() => server.close());
  const backend = (server.address() as AddressInfo).port;
  const proxy = await startCliServer(['proxy', '--listen', '127.0.0.1:0', ...frontArgs, '--alpn', 'http/1.1', '--to', `127.0.0.1:${backend}`], { owner: t });
  const port = acceptPort(proxy.output());
  const body = await withTimeout(
    new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/node', ca: CA_PEM, servername: 'localhost', agent: false }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('end', () => resolve(Buffer.concat(parts).toString()));
        })
        .on('error', reject);
    }),
    MS,
    'node:https',
  );
  t.is(body, 'backend saw GET /node');
  const out = await curlGet(`https://127.0.0.1:${port}/curl`, MS);
  if (out !== undefined) {
    t.is(out, 'backend saw GET /curl');
    t.regex(await proxy.waitForOutput(/alpn=http\/1\.1/, MS), /alpn=http\/1\.1/);
  } else {
    t.log('curl is not installed: node:https only');
  }
});

test('rxtls QUIC client → rxtls proxy --quic → TLS backend (rxtls listen): a stream FIN becomes close_notify and back', async (t) => {
  let backend = 0;
  const ready = new Promise<void>((resolve) => {
    const sub = listen({ port: 0, cert, key, onListening: (a) => ((backend = a.port), resolve()) }).subscribe((conn) =>
      conn.send(conn.inbound$.pipe(map((b) => new TextEncoder().encode(new TextDecoder().decode(b).toUpperCase())))).subscribe({ error: () => undefined }),
    );
    t.teardown(() => sub.unsubscribe());
  });
  await withTimeout(ready, MS, 'backend');
  const proxy = await startCliServer(
    ['proxy', '--quic', '--alpn', 'rxtls-test', '--listen', '127.0.0.1:0', ...frontArgs, '--to', `127.0.0.1:${backend}`, '--to-tls', '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost'],
    { owner: t },
  );
  const port = acceptPort(proxy.output());
  const conn = await withTimeout(firstValueFrom(quicConnect({ host: '127.0.0.1', port, alpn: ['rxtls-test'], ca: CA_PEM, servername: 'localhost' })), MS, 'quicConnect');
  t.teardown(() => conn.close({ rapid: true }));
  const stream = conn.openStream();
  const reply = lastValueFrom(stream.data$.pipe(toArray()));
  stream.write('hello over quic');
  stream.end();
  const chunks = await withTimeout(reply, MS, 'reply');
  t.is(Buffer.concat(chunks).toString(), 'HELLO OVER QUIC');
  t.regex(await proxy.waitForOutput(/^PROXY .*$/m, MS), /client=quic#0 .*up=15 down=15 client_close=end backend_close=end/);
});
