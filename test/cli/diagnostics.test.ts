/**
 * The `rxtls` CLI tells the user what happened, as `openssl s_client` and curl users expect: `--version`,
 * `CONNECTED` as soon as TCP is up, `--timeout`, a peer that is not TLS named with what it sent, a server
 * without TLS 1.3, OpenSSL's single-dash spellings, `SSLKEYLOGFILE` (said on stderr) and `--showcerts`. Each
 * case runs the CLI (bundled) against a plain TCP server of this process or `openssl s_server`.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { certPath, cliServerPort, describeRun, freePort, opensslCertArgs, requirePeer, runCli, spawnPeer, startCliServer, startSServer, tempDir } from '../helpers/peers.js';

const MS = 30_000;

/** A plain TCP server on 127.0.0.1 running `onSocket` for each connection; closed at teardown. */
async function tcpServer(t: ExecutionContext, onSocket: (s: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onSocket(s);
  });
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

test('rxtls --version prints the package version', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = await runCli(['--version'], undefined, { timeoutMs: MS, owner: t });
  t.is(r.code, 0, describeRun('rxtls --version', r));
  t.regex(r.stdout, new RegExp(`^rxtls ${pkg.version.replace(/\./g, '\\.')} \\(TLS 1\\.2\\/1\\.3, DTLS 1\\.2\\/1\\.3, QUIC v1; Node v\\d+`));
});

test('a peer that is not TLS: CONNECTED, then "the peer does not speak TLS" quoting what it sent', async (t) => {
  const port = await tcpServer(t, (s) => s.end('HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
  const r = await runCli(['client', `127.0.0.1:${port}`, '--servername', 'localhost'], '', { timeoutMs: MS, owner: t });
  t.is(r.code, 1, describeRun('rxtls client', r));
  t.regex(r.stderr, new RegExp(`^CONNECTED 127\\.0\\.0\\.1:${port}$`, 'm'));
  t.regex(r.stderr, /^rxtls: the peer does not speak TLS: it sent 'HTTP\/1\.0 400 Bad Request' \(sent alert unexpected_message\)$/m);
  t.notRegex(r.stderr, /content type/);
});

test('--timeout: a server that accepts and says nothing fails after that many seconds, naming what did not happen', async (t) => {
  const port = await tcpServer(t, () => undefined);
  // Under the default 30 s handshake timeout this could not finish within the run's deadline (MS, with the CLI's start).
  const r = await runCli(['client', `127.0.0.1:${port}`, '--timeout', '1'], '', { timeoutMs: MS, owner: t });
  t.is(r.code, 1, describeRun('rxtls client --timeout 1', r));
  t.regex(r.stderr, new RegExp(`^CONNECTED 127\\.0\\.0\\.1:${port}$`, 'm'), 'the TCP connection was reported at once');
  t.regex(r.stderr, new RegExp(`^rxtls: timed out after 1 s: 127\\.0\\.0\\.1:${port} accepted the connection but did not complete the handshake$`, 'm'));
});

test('a client pinned to TLS 1.3 (--tls1_3) against a TLS 1.2-only server (openssl s_server -tls1_2) names why', async (t) => {
  const openssl = requirePeer('openssl');
  const port = await freePort();
  const peer = await spawnPeer(openssl, ['s_server', '-accept', `127.0.0.1:${port}`, '-tls1_2', '-naccept', '1', ...opensslCertArgs('ec')], {
    readyLine: /^ACCEPT$/m,
    timeoutMs: MS,
    owner: t,
  });
  const r = await runCli(['client', `127.0.0.1:${port}`, '--tls1_3', '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost'], '', { timeoutMs: MS, owner: t });
  t.is(r.code, 1, describeRun('rxtls client', r));
  t.regex(r.stderr, /^rxtls: peer sent fatal alert protocol_version: the server does not support TLS 1\.3: it refused the ClientHello \(record version TLS 1\.\d \(0x030\d\)\)$/m);
  await peer.kill();
});

test('an s_client command line against s_server: single-dash spellings, SSLKEYLOGFILE said on stderr, --showcerts', async (t) => {
  const { peer, port } = await startSServer(['-naccept', '1', ...opensslCertArgs('ec'), '-www'], { owner: t });
  const keys = path.join(tempDir(t), 'keys.log');
  const r = await runCli(
    ['client', '-connect', `127.0.0.1:${port}`, '-CAfile', certPath('ca-cert.pem'), '-servername', 'localhost', '-verify_return_error', '--showcerts'],
    'GET / HTTP/1.0\r\n\r\n',
    { timeoutMs: MS, owner: t, env: { ...process.env, SSLKEYLOGFILE: keys } },
  );
  t.is(r.code, 0, describeRun('rxtls client', r));
  t.regex(r.stdout, /^HTTP\/1\.0 200 ok/);
  t.true(r.stderr.includes(`rxtls: logging TLS secrets to ${keys} (SSLKEYLOGFILE): anyone with this file can decrypt the traffic\n`), r.stderr);
  t.regex(r.stderr, new RegExp(`^CONNECTED 127\\.0\\.0\\.1:${port}$`, 'm'));
  t.regex(r.stderr, /^Certificate chain\n 0 s:CN=localhost\n {3}i:CN=rxtls test intermediate/m);
  t.is(r.stderr.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2, 'leaf and intermediate as PEM');
  const lines = readFileSync(keys, 'utf8').trim().split('\n');
  t.is(lines.length, 5, 'the five TLS 1.3 secrets of the client');
  // s_server -www prints the master key; its client_random must be ours.
  const ours = lines[0]!.split(' ')[1]!;
  t.true(lines.every((l) => l.split(' ')[1] === ours));
  await peer.exited;
});

/** `Handshake` lines of an `-msg` listing, rxtls's or OpenSSL's (hex lengths), as `>>> Name length`. */
function handshakeLines(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^(>>>|<<<) (?:TLS [\d.]+, )?Handshake \[length ([0-9a-f]+)\], (\w+)$/gm)) {
    const openssl = m[0].includes('TLS ');
    out.push(`${m[1]} ${m[3]} ${openssl ? parseInt(m[2]!, 16) : Number(m[2])}`);
  }
  return out;
}

for (const version of ['-tls1_3', '-tls1_2']) {
  test(`--msg (${version}): each handshake message both ways, as s_server -msg saw them from the other side; alerts too`, async (t) => {
    const openssl = requirePeer('openssl');
    const port = await freePort();
    const peer = await spawnPeer(openssl, ['s_server', '-accept', `127.0.0.1:${port}`, version, '-naccept', '1', '-msg', '-www', ...opensslCertArgs('ec')], {
      readyLine: /^ACCEPT$/m,
      timeoutMs: MS,
      owner: t,
    });
    const r = await runCli(['client', `127.0.0.1:${port}`, '--msg', '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost'], 'GET / HTTP/1.0\r\n\r\n', {
      timeoutMs: MS,
      owner: t,
    });
    t.is(r.code, 0, describeRun('rxtls client --msg', r));
    await peer.exited;
    const ours = handshakeLines(r.stderr);
    const theirs = handshakeLines(peer.output()).map((l) => (l.startsWith('>>>') ? '<<<' : '>>>') + l.slice(3)); // their sent is our received
    t.true(ours.length >= 6, r.stderr);
    const first = ours[0]!;
    t.regex(first, /^>>> ClientHello \d+$/);
    t.true(ours.some((l) => l.startsWith('<<< ServerHello ')), r.stderr);
    t.deepEqual(ours.filter((l) => l.startsWith('>>>')), theirs.filter((l) => l.startsWith('>>>')), `${r.stderr}\n--- s_server\n${peer.output()}`);
    t.deepEqual(ours.filter((l) => l.startsWith('<<<')), theirs.filter((l) => l.startsWith('<<<')), `${r.stderr}\n--- s_server\n${peer.output()}`);
    t.regex(r.stderr, /^>>> Alert \[length 2\], warning close_notify$/m);
  });
}

test('rxtls server --msg: the ClientHello received and the server flight sent, per connection, on stderr', async (t) => {
  const server = await startCliServer(['server', '--port', '0', '--cert', certPath('server-ec-chain.pem'), '--key', certPath('server-ec-key.pem'), '--naccept', '1', '--msg'], {
    timeoutMs: MS,
    owner: t,
  });
  const r = await runCli(['client', `127.0.0.1:${cliServerPort(server)}`, '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost', '--quiet'], 'hello\n', { timeoutMs: MS, owner: t });
  t.is(r.code, 0, describeRun('rxtls client', r));
  await server.exited;
  const lines = handshakeLines(server.stderr());
  t.regex(lines[0] ?? '', /^<<< ClientHello \d+$/, server.stderr());
  for (const name of ['ServerHello', 'EncryptedExtensions', 'Certificate', 'CertificateVerify', 'Finished']) t.true(lines.some((l) => l.startsWith(`>>> ${name} `)), name);
  t.true(lines.some((l) => l.startsWith('<<< Finished ')), server.stderr());
});
