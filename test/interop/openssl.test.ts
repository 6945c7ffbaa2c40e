/**
 * Interop with OpenSSL 3 (`openssl s_server` / `s_client`) on 127.0.0.1.
 *
 * rxtls client (`connect`) → s_server: each suite, X25519 / P-256, forced HelloRetryRequest, ECDSA / Ed25519 /
 * RSA server certificates, ALPN, SNI, client certificates. s_client → rxtls server (`listen`): each suite and
 * group, HRR, client certificates, ALPN, 10 MiB each way. Plus the `rxtls` CLI against both.
 * Assertions read the peer's own output (its `-trace`, `-www` page, summary lines) and our HandshakeInfo.
 */
import test, { type ExecutionContext } from 'ava';
import {
  CA_PEM,
  TEST_MS,
  certPath,
  certText,
  cliClientArgs,
  cliServerArgs,
  cliServerPort,
  clientExchange,
  describeRun,
  drive,
  openConnection,
  opensslCertArgs,
  payload,
  runCli,
  runOpenssl,
  runSClient,
  rxClient,
  sClientQuietArgs,
  serverPem,
  sha256,
  startCliServer,
  startListener,
  startSServer,
  withTimeout,
} from '../helpers/peers.js';
import { parseSummary } from '../../src/cli/args.js';
import { TlsError } from '../../src/core/errors.js';

const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;
const MiB = 1024 * 1024;

/** The HelloRetryRequest "random" (RFC 8446 §4.1.3) as `-trace` prints it: gmt_unix_time + random_bytes. */
const HRR_TRACE = /gmt_unix_time=0xCF21AD74\s+random_bytes \(len=28\): E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C/;

/** Start `openssl s_server` for one connection on a free port; its stdin stays open (it exits on stdin EOF). */
const sServer = (t: ExecutionContext, args: readonly string[]) => startSServer(['-naccept', '1', ...args], { owner: t });

const GET = 'GET / HTTP/1.0\r\n\r\n';

/** The NamedGroup of every ServerHello (HRR included) in an OpenSSL `-trace` log, in order. */
function serverHelloGroups(trace: string): string[] {
  const out: string[] = [];
  for (const part of trace.split(/ServerHello, Length=\d+/).slice(1)) {
    const block = part.split(/(?:Sent|Received) Record/)[0]!;
    const m = /NamedGroup: (\S+)/.exec(block);
    out.push(m ? m[1]! : '?');
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// rxtls client → openssl s_server

for (const suite of SUITES) {
  test(`rxtls client → s_server -www: ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-ciphersuites', suite, '-www']);
    const tr = await clientExchange(rxClient(port), { send: GET, waitForPeerClose: true, owner: t });
    const page = tr.received.toString('latin1');
    t.regex(page, /^HTTP\/1\.0 200 ok\r\n/);
    t.true(page.includes(`New, TLSv1.3, Cipher is ${suite}`), page.slice(-1500));
    t.is(tr.info.protocol, 'TLSv1.3');
    t.is(tr.info.cipherSuite, suite);
    t.is(tr.info.verification, 'ok');
    await peer.exited;
  });

  test(`rxtls client → s_server (data both ways, close_notify): ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-ciphersuites', suite]);
    const { conn, release } = await openConnection(rxClient(port), t);
    t.teardown(release);
    const line = `hello from rxtls over ${suite}\n`;
    // We send, then close_notify; s_server prints the data, "DONE", and answers close_notify.
    const tr = await withTimeout(drive(conn, { send: line }), 20_000, 'exchange');
    t.is(tr.info.cipherSuite, suite);
    t.is(tr.receivedBytes, 0);
    await peer.waitForOutput('CONNECTION CLOSED');
    t.true(peer.stdout().includes(`CIPHER is ${suite}`), peer.stdout());
    t.true(peer.stdout().includes(line), peer.stdout());
    t.regex(peer.stdout(), /^DONE$/m);
  });
}

for (const [group, serverGroups, traceName] of [
  ['X25519', 'X25519', 'ecdh_x25519'],
  ['P-256', 'P-256', 'secp256r1'],
] as const) {
  test(`rxtls client → s_server: group ${group} without HelloRetryRequest`, async (t) => {
    t.timeout(TEST_MS);
    const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-groups', serverGroups, '-trace', '-www']);
    const tr = await clientExchange(rxClient(port, { groups: group }), { send: GET, waitForPeerClose: true, owner: t });
    t.is(tr.info.group, group);
    t.false(tr.info.helloRetry);
    await peer.exited;
    t.deepEqual(serverHelloGroups(peer.stdout()), [traceName]);
    t.notRegex(peer.stdout(), HRR_TRACE);
  });
}

test('rxtls client → s_server -groups P-256: HelloRetryRequest (our first share is X25519)', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-groups', 'P-256', '-trace', '-www']);
  const tr = await clientExchange(rxClient(port), { send: GET, waitForPeerClose: true, owner: t });
  t.true(tr.info.helloRetry);
  t.is(tr.info.group, 'P-256');
  t.regex(tr.received.toString('latin1'), /^HTTP\/1\.0 200 ok/);
  await peer.exited;
  const trace = peer.stdout();
  t.regex(trace, HRR_TRACE);
  // HRR asks for P-256, the real ServerHello carries a P-256 share.
  t.deepEqual(serverHelloGroups(trace), ['secp256r1', 'secp256r1']);
});

for (const [kind, scheme] of [
  ['ec', /^ecdsa_secp256r1_sha256$/],
  ['ed', /^ed25519$/],
  ['rsa', /^rsa_pss_(rsae|pss)_sha(256|384|512)$/],
] as const) {
  test(`rxtls client → s_server: ${kind} server certificate (chain of 2) verified`, async (t) => {
    t.timeout(TEST_MS);
    const { peer, port } = await sServer(t, [...opensslCertArgs(kind), '-www']);
    const tr = await clientExchange(rxClient(port), { send: GET, waitForPeerClose: true, owner: t });
    t.is(tr.info.verification, 'ok');
    t.is(tr.info.peerSubject, 'CN=localhost');
    t.is(tr.info.peerCertificates.length, 2);
    t.regex(tr.info.peerSignatureScheme ?? '', scheme);
    t.regex(tr.received.toString('latin1'), /^HTTP\/1\.0 200 ok/);
    await peer.exited;
  });
}

test('rxtls client → s_server: untrusted certificate fails with unknown_ca', async (t) => {
  t.timeout(TEST_MS);
  const { port } = await sServer(t, ['-cert', certPath('self-ec-cert.pem'), '-key', certPath('self-ec-key.pem'), '-www']);
  const err = await t.throwsAsync(clientExchange(rxClient(port), { send: GET, owner: t }), { instanceOf: TlsError });
  t.is(err?.detail.kind, 'certificate');
  t.is(err?.detail.kind === 'certificate' ? err.detail.code : undefined, 'unknown_ca');
});

test('rxtls client → s_server: ALPN (server picks h2 from our http/1.1,h2)', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-alpn', 'h2,http/1.1', '-www']);
  const tr = await clientExchange(rxClient(port, { ALPNProtocols: ['http/1.1', 'h2'] }), {
    send: GET,
    waitForPeerClose: true,
    owner: t,
  });
  t.is(tr.info.alpn, 'h2');
  await peer.exited;
  t.regex(peer.output(), /^ALPN protocols advertised by the client: http\/1\.1, h2$/m);
  t.regex(peer.output(), /^ALPN protocols selected: h2$/m);
});

test('rxtls client → s_server: SNI sent for a name, not for an IP literal', async (t) => {
  t.timeout(TEST_MS);
  const named = await sServer(t, [...opensslCertArgs('ec'), '-tlsextdebug', '-www']);
  const tr = await clientExchange(rxClient(named.port), { send: GET, waitForPeerClose: true, owner: t });
  await named.peer.exited;
  // server_name extension: list length 12, host_name(0), length 9, "localhost"
  t.regex(named.peer.stdout(), /TLS client extension "server name" \(id=0\), len=14\n0000 - 00 0c 00 00 09 6c 6f 63-61 6c 68 6f 73 74/);
  t.is(tr.info.serverName, 'localhost');

  const byIp = await sServer(t, [...opensslCertArgs('ec'), '-tlsextdebug', '-www']);
  const { servername: _, ...noName } = rxClient(byIp.port);
  const tr2 = await clientExchange(noName, { send: GET, waitForPeerClose: true, owner: t });
  await byIp.peer.exited;
  t.false(byIp.peer.stdout().includes('"server name"'), 'an IP literal must not be sent as SNI (RFC 6066 §3)');
  t.is(tr2.info.verification, 'ok'); // verified against the IP SAN 127.0.0.1
});

test('rxtls client → s_server -Verify 1: our client certificate is verified by OpenSSL', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-Verify', '1', '-CAfile', certPath('ca-cert.pem')]);
  const { conn, release } = await openConnection(
    rxClient(port, { cert: certText('client-cert.pem'), key: certText('client-key.pem') }),
    t,
  );
  t.teardown(release);
  await withTimeout(drive(conn, { send: 'with a client certificate\n' }), 20_000, 'exchange');
  await peer.waitForOutput('CONNECTION CLOSED');
  const out = peer.output();
  t.regex(out, /^subject=CN = rxtls test client$/m);
  t.regex(out, /^depth=0 CN = rxtls test client\nverify return:1$/m);
  t.true(out.includes('with a client certificate'));
});

test('rxtls client → s_server -Verify 1 without a client certificate: certificate_required', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-Verify', '1', '-CAfile', certPath('ca-cert.pem')]);
  const err = await t.throwsAsync(clientExchange(rxClient(port), { send: 'x', owner: t }), { instanceOf: TlsError });
  t.is(err?.detail.kind, 'alertReceived');
  t.is(err?.alert, 116); // certificate_required (RFC 8446 §6.2)
  await peer.exited;
  t.regex(peer.output(), /peer did not return a certificate/);
});

// ---------------------------------------------------------------------------------------------------------
// openssl s_client → rxtls server

/** Run `openssl s_client` against our listener with `stdin` (tests pass `-ign_eof`: it waits for our close_notify). */
const sClient = (t: ExecutionContext, port: number, args: readonly string[], stdin: string | Uint8Array) => runSClient(port, args, { stdin, owner: t });

for (const suite of SUITES) {
  test(`s_client → rxtls server: ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener({ ...serverPem('ec'), ciphers: suite }, t);
    const client = sClient(t, l.port, ['-ign_eof'], 'hello\n');
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { closeAfterBytes: 6, reply: (got) => `you said ${got.toString()}` }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.is(tr.received.toString(), 'hello\n');
    t.is(tr.info.cipherSuite, suite);
    t.is(tr.info.serverName, 'localhost');
    t.true(r.stdout.includes(`New, TLSv1.3, Cipher is ${suite}`), r.stdout);
    t.regex(r.stdout, /Verify return code: 0 \(ok\)/);
    t.true(r.stdout.includes('you said hello\n'));
  });
}

for (const [group, clientGroups, tempKey] of [
  ['X25519', 'X25519', 'Server Temp Key: X25519, 253 bits'],
  ['P-256', 'P-256', 'Server Temp Key: ECDH, prime256v1, 256 bits'],
] as const) {
  test(`s_client → rxtls server: group ${group}`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener({ ...serverPem('ec'), groups: group }, t);
    const client = sClient(t, l.port, ['-ign_eof', '-groups', clientGroups, '-trace'], 'ping\n');
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { closeAfterBytes: 5, reply: 'pong\n' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.is(tr.info.group, group);
    t.false(tr.info.helloRetry);
    t.true(r.stdout.includes(tempKey), r.stdout.slice(-3000));
    t.notRegex(r.stdout, HRR_TRACE);
  });
}

test('s_client -groups X25519:P-256 → rxtls server preferring P-256: HelloRetryRequest', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ ...serverPem('ec'), groups: 'P-256' }, t);
  const client = sClient(t, l.port, ['-ign_eof', '-groups', 'X25519:P-256', '-trace'], 'ping\n');
  const conn = await l.accept();
  const tr = await withTimeout(drive(conn, { closeAfterBytes: 5, reply: 'pong\n' }), 20_000, 'serve');
  const r = await client;
  t.is(r.code, 0, describeRun('s_client', r));
  t.true(tr.info.helloRetry);
  t.is(tr.info.group, 'P-256');
  t.regex(r.stdout, HRR_TRACE);
  t.deepEqual(serverHelloGroups(r.stdout), ['secp256r1', 'secp256r1']);
  t.true(r.stdout.includes('Server Temp Key: ECDH, prime256v1, 256 bits'));
  t.true(r.stdout.includes('pong\n'));
});

for (const [kind, peerSig] of [
  ['ed', 'Peer signature type: ed25519'],
  ['rsa', 'Peer signature type: RSA-PSS'],
] as const) {
  test(`s_client → rxtls server: ${kind} certificate`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener(serverPem(kind), t);
    const client = sClient(t, l.port, ['-ign_eof'], 'x');
    const conn = await l.accept();
    await withTimeout(drive(conn, { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.true(r.stdout.includes(peerSig), r.stdout);
    t.regex(r.stdout, /Verify return code: 0 \(ok\)/);
  });
}

test('s_client -alpn → rxtls server: ALPN negotiated', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ ...serverPem('ec'), ALPNProtocols: ['h2'] }, t);
  const client = sClient(t, l.port, ['-ign_eof', '-alpn', 'http/1.1,h2'], 'x');
  const conn = await l.accept();
  const tr = await withTimeout(drive(conn, { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
  const r = await client;
  t.is(r.code, 0, describeRun('s_client', r));
  t.is(tr.info.alpn, 'h2');
  t.regex(r.stdout, /^ALPN protocol: h2$/m);
});

test('s_client -cert → rxtls server requiring a client certificate', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ ...serverPem('ec'), requestCert: true, ca: CA_PEM }, t);
  const client = sClient(t, l.port, ['-ign_eof', '-cert', certPath('client-cert.pem'), '-key', certPath('client-key.pem')], 'x');
  const conn = await l.accept();
  const tr = await withTimeout(drive(conn, { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
  const r = await client;
  t.is(r.code, 0, describeRun('s_client', r));
  t.is(tr.info.verification, 'ok');
  t.is(tr.info.peerSubject, 'CN=rxtls test client');
  // s_client completes the chain from -CAfile, so the CA itself may follow the leaf.
  t.true(tr.info.peerCertificates.length >= 1);
  t.regex(tr.info.peerSignatureScheme ?? '', /^ecdsa_secp256r1_sha256$/);
});

test('s_client without a certificate → rxtls server requiring one: certificate_required', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ ...serverPem('ec'), requestCert: true, ca: CA_PEM }, t);
  const r = await sClient(t, l.port, ['-ign_eof'], 'x');
  t.not(r.code, 0, describeRun('s_client', r));
  t.regex(r.stdout + r.stderr, /alert certificate required/);
  t.is(l.errors.length, 1);
  t.is(l.errors[0]?.alert, 116);
});

test.serial('s_client ⇄ rxtls echo server: 10 MiB each way, SHA-256 compared', async (t) => {
  t.timeout(120_000);
  const data = payload(10 * MiB);
  const l = await startListener(serverPem('ec'), t);
  // -quiet: only application data on stdout (implies -ign_eof: it waits for our close_notify).
  const client = runOpenssl(sClientQuietArgs(l.port), { stdin: data, timeoutMs: 110_000, owner: t });
  const conn = await l.accept();
  // Echo everything, close once the whole 10 MiB is in.
  const tr = await withTimeout(drive(conn, { echo: true, closeAfterBytes: data.length, keep: false }), 100_000, 'echo 10 MiB');
  const r = await client;
  t.is(r.code, 0, describeRun('s_client', { ...r, stdout: `${r.stdoutBytes.length} bytes` }));
  t.is(tr.receivedBytes, data.length);
  t.is(tr.receivedSha256, sha256(data));
  t.is(r.stdoutBytes.length, data.length);
  t.is(sha256(r.stdoutBytes), sha256(data));
});

// ---------------------------------------------------------------------------------------------------------
// the rxtls CLI against openssl

test('rxtls CLI client → s_server -www: page, summary, exit 0', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256', '-groups', 'P-256', '-www']);
  const r = await runCli(cliClientArgs(port, ['--groups', 'P-256']), GET, { owner: t });
  t.is(r.code, 0, describeRun('rxtls client', r));
  t.regex(r.stdout, /^HTTP\/1\.0 200 ok\r\n/);
  t.true(r.stdout.includes('New, TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256'));
  const s = parseSummary(r.stderr);
  t.is(s.Protocol, 'TLSv1.3');
  t.is(s.Cipher, 'TLS_CHACHA20_POLY1305_SHA256');
  t.is(s.Group, 'P-256');
  t.is(s.Verification, 'ok');
  t.is(s.Peer, 'CN=localhost');
  await peer.exited;
});

test('rxtls CLI client → untrusted s_server: one-line certificate error, exit 1', async (t) => {
  t.timeout(TEST_MS);
  const { port } = await sServer(t, ['-cert', certPath('self-ec-cert.pem'), '-key', certPath('self-ec-key.pem'), '-www']);
  const r = await runCli(cliClientArgs(port), GET, { owner: t });
  t.is(r.code, 1, describeRun('rxtls client', r));
  t.regex(r.stderr, /^rxtls: certificate rejected \(unknown_ca\)/m);
  t.is(r.stdout, '');
});

test('s_client → rxtls CLI server --www --naccept 1', async (t) => {
  t.timeout(TEST_MS);
  const server = await startCliServer(cliServerArgs(['--www', '--naccept', '1', '--alpn', 'http/1.1', '--ciphers', 'TLS_AES_256_GCM_SHA384'], 'rsa'), { owner: t });
  const port = cliServerPort(server);
  const r = await sClient(t, port, ['-ign_eof', '-alpn', 'http/1.1'], GET);
  t.is(r.code, 0, describeRun('s_client', r));
  t.true(r.stdout.includes('HTTP/1.0 200 OK\r\n'));
  t.regex(r.stdout, /Cipher: TLS_AES_256_GCM_SHA384/);
  t.regex(r.stdout, /ALPN: http\/1\.1/);
  t.regex(r.stdout, /^ALPN protocol: http\/1\.1$/m);
  t.regex(r.stdout, /^closed$/m);
  const exit = await withTimeout(server.exited, 20_000, 'CLI server exit after --naccept 1');
  t.is(exit.code, 0, server.output());
  t.regex(server.stderr(), /^CLOSED 1$/m);
  t.is(parseSummary(server.stderr()).Cipher, 'TLS_AES_256_GCM_SHA384');
});
