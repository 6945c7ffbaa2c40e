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
import { firstValueFrom, lastValueFrom, map, of, toArray } from 'rxjs';
import { dtlsConnect } from '../../src/rx/dtls.js';
import { listen } from '../../src/rx/listen.js';
import { quicConnect } from '../../src/rx/quic.js';
import { CA_PEM, certPath, opensslCertArgs, requirePeer, runOpenssl, sClientArgs, serverPem, spawnPeer, startCliServer, startSServer, withTimeout } from '../helpers/peers.js';
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

test('rxtls proxy (terminating): a client that is no TLS client gets one log line, and the next client is served', async (t) => {
  const backend = await tcpBackend(t, (s) => {
    s.once('data', (b: Buffer) => s.end(b.toString().toUpperCase()));
    s.resume();
  });
  const proxy = await startCliServer(['proxy', '--listen', '127.0.0.1:0', ...frontArgs, '--to', `127.0.0.1:${backend}`], { owner: t });
  const port = acceptPort(proxy.output());
  // An HTTP request on the TLS port: the handshake fails, the proxy logs it and closes that connection only.
  await withTimeout(
    new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('data', () => undefined);
      s.on('close', () => resolve());
      s.on('error', () => undefined);
    }),
    MS,
    'the proxy closes the non-TLS client',
  );
  t.regex(await proxy.waitForOutput(/^PROXY .*handshake failed.*$/m, MS), /PROXY client=127\.0\.0\.1:\d+ route=127\.0\.0\.1:\d+ handshake failed: /);
  const r = await withTimeout(runOpenssl(sClientArgs(port, ['-quiet']), { stdin: 'still served\n', owner: t }), MS, 's_client');
  t.true(r.stdout.includes('STILL SERVED'), r.stdout + r.stderr);
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

/** A TCP backend that answers each chunk in upper case and ends when the proxy ends its side. */
const upperEcho = (s: net.Socket) => {
  s.on('data', (b: Buffer) => s.write(b.toString().toUpperCase()));
  s.on('end', () => s.end());
  s.on('error', () => undefined);
};

test('rxtls DTLS 1.3 client → rxtls proxy --dtls → TCP echo: a record becomes bytes and the answer a record; close_notify → FIN → close_notify', async (t) => {
  const backend = await tcpBackend(t, upperEcho);
  const proxy = await startCliServer(['proxy', '--dtls', '--listen', '127.0.0.1:0', ...frontArgs, '--to', `127.0.0.1:${backend}`], { owner: t });
  const port = acceptPort(proxy.output());
  const conn = await withTimeout(firstValueFrom(dtlsConnect({ host: '127.0.0.1', port, ca: CA_PEM, servername: 'localhost', keyLog: false })), MS, 'dtlsConnect');
  t.teardown(() => conn.close('abort'));
  t.is(conn.info.protocol, 'DTLSv1.3');
  const reply = lastValueFrom(conn.inbound$.pipe(toArray()));
  // One record, then our close_notify (DTLS 1.3 closes one direction): the answer still comes, then theirs.
  conn.send(of(new TextEncoder().encode('hello over dtls'))).subscribe({ error: () => undefined });
  const records = await withTimeout(reply, MS, 'reply and close_notify');
  t.is(Buffer.concat(records).toString(), 'HELLO OVER DTLS');
  t.regex(await proxy.waitForOutput(/^PROXY .*$/m, MS), /PROXY client=dtls#0 sni=localhost alpn=- route=127\.0\.0\.1:\d+ up=15 down=15 client_close=end backend_close=end/);
});

test('openssl s_client -dtls1_2 → rxtls proxy --dtls → TCP echo: lines both ways through a real DTLS 1.2 peer', async (t) => {
  const backend = await tcpBackend(t, upperEcho);
  const proxy = await startCliServer(['proxy', '--dtls', '--listen', '127.0.0.1:0', ...frontArgs, '--to', `127.0.0.1:${backend}`], { owner: t });
  const port = acceptPort(proxy.output());
  const peer = await spawnPeer(
    requirePeer('openssl'),
    ['s_client', '-dtls1_2', '-connect', `127.0.0.1:${port}`, '-CAfile', certPath('ca-cert.pem'), '-servername', 'localhost', '-verify_return_error'],
    { readyLine: /Verify return code: 0 \(ok\)/, timeoutMs: MS, owner: t },
  );
  peer.write('hello from openssl\n');
  await peer.waitForOutput('HELLO FROM OPENSSL', MS).catch(() => t.fail(`${peer.output()}\n--- proxy\n${proxy.output()}`));
  peer.end(); // stdin EOF: s_client sends close_notify and exits
  t.regex(await proxy.waitForOutput(/^PROXY .*$/m, MS), /PROXY client=dtls#0 sni=localhost alpn=- route=127\.0\.0\.1:\d+ up=19 down=19 /);
});

test('rxtls proxy --passthrough --route: each s_client gets the backend of its name untouched (certificate verified end to end); other names go to --to', async (t) => {
  const serve = (name: string) =>
    startSServer(['-cert', certPath(`${name}-cert.pem`), '-cert_chain', certPath('int-cert.pem'), '-key', certPath(`${name}-key.pem`), '-www'], { owner: t });
  const local = await serve('server-ec');
  const other = await serve('wrong-host'); // other.example
  t.teardown(() => Promise.all([local.peer.kill(), other.peer.kill()]).then(() => undefined));
  const proxy = await startCliServer(['proxy', '--listen', '127.0.0.1:0', '--passthrough', '--to', `127.0.0.1:${local.port}`, '--route', `*.example=127.0.0.1:${other.port}`], { owner: t });
  const port = acceptPort(proxy.output());
  for (const [name, subject] of [
    ['other.example', 'subject=CN = other.example'],
    ['localhost', 'subject=CN = localhost'],
  ] as const) {
    const r = await withTimeout(
      runOpenssl(['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-CAfile', certPath('ca-cert.pem'), '-servername', name, '-verify_hostname', name, '-verify_return_error', '-ign_eof'], {
        stdin: 'GET / HTTP/1.0\r\n\r\n',
        owner: t,
      }),
      MS,
      's_client',
    );
    const out = r.stdout + r.stderr;
    t.true(out.includes('Verify return code: 0 (ok)'), `${name}:\n${out}`);
    t.true(out.includes(subject), `${name}:\n${out}`);
    t.true(out.includes('HTTP/1.0 200 ok'), `${name}:\n${out}`);
  }
  const lines = await proxy.waitForOutput(/sni=localhost .*\n?/m, MS).then(() => proxy.output());
  t.regex(lines, new RegExp(`PROXY client=127\\.0\\.0\\.1:\\d+ sni=other\\.example alpn=- route=127\\.0\\.0\\.1:${other.port} passthrough`));
  t.regex(lines, new RegExp(`PROXY client=127\\.0\\.0\\.1:\\d+ sni=localhost alpn=- route=127\\.0\\.0\\.1:${local.port} passthrough`));
});

test('rxtls proxy (terminating) --route: the server name the client asked for picks the TCP backend', async (t) => {
  const named = (tag: string) =>
    tcpBackend(t, (s) => {
      s.once('data', () => s.end(tag));
      s.resume();
    });
  const fallback = await named('default backend');
  const routed = await named('localhost backend');
  const proxy = await startCliServer(['proxy', '--listen', '127.0.0.1:0', ...frontArgs, '--to', `127.0.0.1:${fallback}`, '--route', `localhost=127.0.0.1:${routed}`], { owner: t });
  const port = acceptPort(proxy.output());
  const viaName = await withTimeout(runOpenssl(sClientArgs(port, ['-quiet']), { stdin: 'hi\n', owner: t }), MS, 's_client localhost');
  t.true(viaName.stdout.includes('localhost backend'), viaName.stdout + viaName.stderr);
  // No SNI (an IP address as the name): the default route.
  const noName = await withTimeout(
    runOpenssl(['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-noservername', '-quiet'], { stdin: 'hi\n', owner: t }),
    MS,
    's_client without SNI',
  );
  t.true(noName.stdout.includes('default backend'), noName.stdout + noName.stderr);
});
