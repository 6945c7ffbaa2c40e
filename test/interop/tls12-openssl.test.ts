/**
 * TLS 1.2 interop with OpenSSL 3 (`openssl s_server -tls1_2` / `s_client -tls1_2`) on 127.0.0.1.
 *
 * rxtls client → s_server: every suite with the certificate it fits (ECDSA, RSA, Ed25519), the groups,
 * resumption by ticket, 10 MiB each way, the key log checked against OpenSSL's, a refused renegotiation (`R`),
 * a client certificate; version negotiation against servers limited to TLS 1.2 and to TLS 1.3.
 * s_client → rxtls server: every suite, the certificate types (RSASSA-PSS included), resumption (`-sess_out` /
 * `-sess_in`), 10 MiB each way, the key log, a refused renegotiation. Assertions read OpenSSL's own output.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  TEST_MS,
  certPath,
  certText,
  clientExchange,
  describeRun,
  drive,
  freePort,
  openConnection,
  opensslCertArgs,
  parseKeyLog,
  payload,
  requirePeer,
  runOpenssl,
  rxClient,
  serverPem,
  sha256,
  spawnPeer,
  startListener,
  tempDir,
  withTimeout,
  PEER_MS,
  cliClientArgs,
  runCli,
} from '../helpers/peers.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import { parseSummary } from '../../src/cli/args.js';

const MiB = 1024 * 1024;
const GET = 'GET / HTTP/1.0\r\n\r\n';

/** TLS 1.2 suites: IANA name, OpenSSL name, the fixture certificate they use. */
const SUITES = [
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ec'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ec'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ec'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'rsa'],
  ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'rsa'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305', 'rsa'],
] as const;

/** `openssl s_server` on a free port with `version` (`-tls1_2`, `-tls1_3`, or none: both), ready at `ACCEPT`. */
async function sServer(t: ExecutionContext, args: readonly string[], version: string[] = ['-tls1_2']) {
  const port = await freePort();
  const peer = await spawnPeer(requirePeer('openssl'), ['s_server', '-accept', `127.0.0.1:${port}`, ...version, ...args], {
    readyLine: /^ACCEPT$/m,
    timeoutMs: PEER_MS,
    owner: t,
  });
  return { peer, port };
}

/** `openssl s_client -tls1_2` arguments for our listener, verifying `localhost` against `ca`. */
const sClientArgs = (port: number, extra: readonly string[], ca = certPath('ca-cert.pem')) => [
  's_client',
  '-connect',
  `127.0.0.1:${port}`,
  '-tls1_2',
  '-CAfile',
  ca,
  '-servername',
  'localhost',
  '-verify_return_error',
  ...extra,
];

// ---------------------------------------------------------------------------------------------------------
// rxtls client → openssl s_server -tls1_2

for (const [suite, openssl, cert] of SUITES) {
  test(`rxtls client → s_server -tls1_2 -www: ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const { peer, port } = await sServer(t, [...opensslCertArgs(cert), '-cipher', openssl, '-www', '-naccept', '1']);
    const tr = await clientExchange(rxClient(port), { send: GET, waitForPeerClose: true, owner: t });
    const page = tr.received.toString('latin1');
    t.true(page.includes(`New, TLSv1.2, Cipher is ${openssl}`), page.slice(-1500));
    t.is(tr.info.protocol, 'TLSv1.2');
    t.is(tr.info.cipherSuite, suite);
    t.is(tr.info.verification, 'ok');
    await peer.exited;
  });
}

test('rxtls client → s_server -tls1_2: Ed25519 certificate, groups X25519 / P-256 / P-384', async (t) => {
  t.timeout(TEST_MS);
  for (const [group, shown] of [
    ['X25519', 'X25519'],
    ['P-256', 'P-256'],
    ['P-384', 'P-384'],
  ] as const) {
    const { peer, port } = await sServer(t, [...opensslCertArgs('ed'), '-groups', group, '-www', '-naccept', '1']);
    const tr = await clientExchange(rxClient(port), { send: GET, waitForPeerClose: true, owner: t });
    t.is(tr.info.protocol, 'TLSv1.2');
    t.is(tr.info.group, shown);
    t.is(tr.info.peerSignatureScheme, 'ed25519');
    t.true(tr.received.toString('latin1').includes('New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256'));
    await peer.exited;
  }
});

test('RSASSA-PKCS1-v1_5 both ways: s_server -sigalgs RSA+SHA256 signs with it; s_client -sigalgs RSA+SHA256 gets it', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('rsa'), '-sigalgs', 'RSA+SHA256', '-www', '-naccept', '1']);
  const tr = await clientExchange(rxClient(port), { send: GET, waitForPeerClose: true, owner: t });
  t.is(tr.info.peerSignatureScheme, 'rsa_pkcs1_sha256');
  await peer.exited;
  const l = await startListener(serverPem('rsa'), t);
  const client = runOpenssl(sClientArgs(l.port, ['-sigalgs', 'RSA+SHA256', '-ign_eof']), { stdin: 'x', owner: t });
  await withTimeout(drive(await l.accept(), { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
  const r = await client;
  t.is(r.code, 0, describeRun('s_client', r));
  t.regex(r.stdout, /Peer signature type: RSA\n/);
  t.regex(r.stdout, /Peer signing digest: SHA256/);
});

test('version negotiation: the rxtls client lands on TLS 1.2, TLS 1.3, TLS 1.3 against servers limited to 1.2, to 1.3, and neither', async (t) => {
  t.timeout(TEST_MS);
  for (const [version, expected, openssl] of [
    [['-tls1_2'], 'TLSv1.2', 'New, TLSv1.2,'],
    [['-tls1_3'], 'TLSv1.3', 'New, TLSv1.3,'],
    [[], 'TLSv1.3', 'New, TLSv1.3,'],
  ] as const) {
    const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-www', '-naccept', '1'], [...version]);
    const tr = await clientExchange(rxClient(port), { send: GET, waitForPeerClose: true, owner: t });
    t.is(tr.info.protocol, expected);
    t.true(tr.received.toString('latin1').includes(openssl));
    await peer.exited;
  }
});

/**
 * A TCP relay to 127.0.0.1:`target` that rewrites the client's first record (the ClientHello) with `rewrite`
 * (same length), then passes bytes through both ways.
 */
async function rewritingRelay(t: ExecutionContext, target: number, rewrite: (clientHello: Uint8Array) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    sockets.add(down).add(up);
    let head: Buffer | undefined = Buffer.alloc(0);
    down.on('data', (chunk) => {
      if (head === undefined) return void up.write(chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < 5 || head.length < 5 + head.readUInt16BE(3)) return; // the whole first record first
      rewrite(head.subarray(0, 5 + head.readUInt16BE(3)));
      up.write(head);
      head = undefined;
    });
    up.pipe(down);
    for (const [a, b] of [[down, up], [up, down]] as const) {
      a.on('end', () => b.end());
      a.on('error', () => b.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const sock of sockets) sock.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

/** Replace TLS 1.3 (0x0304) in a ClientHello record's supported_versions list by a GREASE value (RFC 8701). */
function hideTls13(record: Uint8Array): void {
  let o = 5 + 4 + 2 + 32; // record header, handshake header, legacy_version, random
  o += 1 + record[o]!; // legacy_session_id
  o += 2 + ((record[o]! << 8) | record[o + 1]!); // cipher_suites
  o += 1 + record[o]!; // legacy_compression_methods
  const end = o + 2 + ((record[o]! << 8) | record[o + 1]!);
  for (o += 2; o < end; o += 4 + ((record[o + 2]! << 8) | record[o + 3]!)) {
    if (((record[o]! << 8) | record[o + 1]!) !== 0x002b) continue; // supported_versions
    for (let v = o + 5; v < o + 5 + record[o + 4]!; v += 2) {
      if (record[v] === 0x03 && record[v + 1] === 0x04) record.set([0x0a, 0x0a], v);
    }
    return;
  }
  throw new Error('no supported_versions in the ClientHello');
}

test('a forged downgrade is detected: a relay hides TLS 1.3 from s_server (1.2 and 1.3), whose TLS 1.2 ServerHello carries the RFC 8446 §4.1.3 sentinel; the client aborts with illegal_parameter', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-www', '-naccept', '1'], []);
  const relay = await rewritingRelay(t, port, hideTls13);
  const err = await t.throwsAsync(clientExchange(rxClient(relay), { send: GET, owner: t }));
  t.regex(String(err?.message), /downgrade sentinel/);
  t.is((err as { alert?: number }).alert, 47, 'illegal_parameter');
  await withTimeout(peer.exited, 10_000, 's_server exit');
  t.regex(peer.output(), /illegal parameter/i, 'OpenSSL received our alert');
  // Without the rewrite the same pair lands on TLS 1.3: the relay is transparent otherwise.
  const again = await sServer(t, [...opensslCertArgs('ec'), '-www', '-naccept', '1'], []);
  const tr = await clientExchange(rxClient(await rewritingRelay(t, again.port, () => {})), { send: GET, waitForPeerClose: true, owner: t });
  t.is(tr.info.protocol, 'TLSv1.3');
});

test('rxtls client (maxVersion TLSv1.2) → s_server -tls1_3: protocol_version', async (t) => {
  t.timeout(TEST_MS);
  const { port } = await sServer(t, [...opensslCertArgs('ec'), '-www', '-naccept', '1'], ['-tls1_3']);
  const err = await t.throwsAsync(clientExchange(rxClient(port, { maxVersion: 'TLSv1.2' }), { send: GET, owner: t }));
  t.regex(String(err?.message), /protocol.version/);
});

test('rxtls client → s_server -tls1_2: the second connection resumes by ticket (RFC 5077)', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('rsa'), '-www', '-naccept', '2']);
  const sessionCache = createSessionCache();
  const first = await clientExchange(rxClient(port, { sessionCache }), { send: GET, waitForPeerClose: true, owner: t });
  t.false(first.info.resumed);
  const second = await clientExchange(rxClient(port, { sessionCache }), { send: GET, waitForPeerClose: true, owner: t });
  t.true(second.info.resumed);
  t.is(second.info.protocol, 'TLSv1.2');
  t.true(second.received.toString('latin1').includes('Reused, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256'), second.received.toString('latin1').slice(-1500));
  await peer.exited;
});

test.serial('rxtls client ⇄ s_server -tls1_2: 10 MiB each way, key log equal to OpenSSL\'s', async (t) => {
  t.timeout(TEST_MS);
  const data = payload(10 * MiB);
  const dir = tempDir(t);
  const serverLog = path.join(dir, 'server.keys');
  const port = await freePort();
  // -brief -naccept 2: stdout is the data received, stdin what is sent; the readiness probe is connection 1.
  const peer = await spawnPeer(
    requirePeer('openssl'),
    ['s_server', '-accept', `127.0.0.1:${port}`, '-tls1_2', '-naccept', '2', '-brief', '-keylogfile', serverLog, ...opensslCertArgs('ec')],
    { readyPort: port, timeoutMs: PEER_MS, owner: t },
  );
  const lines: string[] = [];
  const { conn, release } = await openConnection(rxClient(port, { keyLog: (l) => lines.push(l) }), t);
  t.teardown(release);
  peer.write(data);
  const tr = await withTimeout(drive(conn, { send: data, closeAfterBytes: data.length, keep: false }), 50_000, '10 MiB each way');
  t.is(tr.info.protocol, 'TLSv1.2');
  t.is(tr.receivedBytes, data.length);
  t.is(tr.receivedSha256, sha256(data));
  await withTimeout(peer.exited, 20_000, 's_server exit');
  const got = peer.stdoutBytes();
  t.is(got.length, data.length);
  t.is(sha256(got), sha256(data));
  const ours = parseKeyLog(lines.join('\n')).get('CLIENT_RANDOM');
  const theirs = parseKeyLog(readFileSync(serverLog, 'utf8')).get('CLIENT_RANDOM');
  t.is(ours?.size, 1);
  for (const [random, master] of ours!) t.is(theirs?.get(random), master);
});

test('rxtls client → s_server -tls1_2: a HelloRequest (R) is answered with a no_renegotiation warning', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-naccept', '1', '-msg']);
  const { conn, release } = await openConnection(rxClient(port), t);
  t.teardown(release);
  const ended = drive(conn, { waitForPeerClose: true });
  ended.catch(() => undefined); // awaited below
  peer.write('R\n');
  await withTimeout(peer.waitForOutput(/<<< TLS 1\.2, Alert \[length 0002\], warning no_renegotiation/), 10_000, 'no_renegotiation warning');
  // OpenSSL 3 answers the refusal of its own renegotiation with a fatal handshake_failure (its policy,
  // SSL_R_NO_RENEGOTIATION); RFC 5746 §4.2 leaves that choice to the server.
  const err = await t.throwsAsync(withTimeout(ended, 10_000, 'the server ends the connection'));
  t.regex(String(err?.message), /handshake_failure/);
});

test('rxtls client → s_server -tls1_2 -Verify 1: our client certificate is verified by OpenSSL', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-Verify', '1', '-CAfile', certPath('ca-cert.pem'), '-www', '-naccept', '1']);
  const tr = await clientExchange(rxClient(port, { cert: certText('client-cert.pem'), key: certText('client-key.pem') }), {
    send: GET,
    waitForPeerClose: true,
    owner: t,
  });
  t.is(tr.info.protocol, 'TLSv1.2');
  t.regex(tr.received.toString('latin1'), /Client certificate/);
  await peer.exited;
  t.regex(peer.output(), /verify return:1/);
});

test('rxtls CLI --tls1_2 --sess-out, then --sess-in → s_server (TLS 1.2 and 1.3): TLSv1.2, Resumed: yes', async (t) => {
  t.timeout(TEST_MS);
  const sess = path.join(tempDir(t), 'session.pem');
  // A server that speaks both: only the client's --tls1_2 keeps the connection on TLS 1.2.
  const { peer, port } = await sServer(t, [...opensslCertArgs('ec'), '-www', '-naccept', '2'], []);
  const r1 = await runCli([...cliClientArgs(port), '--tls1_2', '--sess-out', sess], GET, { owner: t });
  t.is(r1.code, 0, describeRun('rxtls client 1', r1));
  t.is(parseSummary(r1.stderr).Protocol, 'TLSv1.2');
  t.is(parseSummary(r1.stderr).Cipher, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  const r2 = await runCli([...cliClientArgs(port), '--tls1_2', '--sess-in', sess], GET, { owner: t });
  t.is(r2.code, 0, describeRun('rxtls client 2', r2));
  t.is(parseSummary(r2.stderr).Resumed, 'yes', r2.stderr);
  t.true(r2.stdout.includes('Reused, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256'), r2.stdout.slice(-1500));
  await withTimeout(peer.exited, 10_000, 's_server exit');
});

// ---------------------------------------------------------------------------------------------------------
// openssl s_client -tls1_2 → rxtls server

for (const [suite, openssl, cert] of SUITES) {
  test(`s_client -tls1_2 -cipher ${openssl} → rxtls server`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener(serverPem(cert), t);
    const client = runOpenssl(sClientArgs(l.port, ['-cipher', openssl, '-ign_eof']), { stdin: 'hello\n', owner: t });
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { closeAfterBytes: 6, reply: (got) => `you said ${got.toString()}` }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.is(tr.info.protocol, 'TLSv1.2');
    t.is(tr.info.cipherSuite, suite);
    t.true(r.stdout.includes(`New, TLSv1.2, Cipher is ${openssl}`), r.stdout);
    t.true(r.stdout.includes('you said hello\n'));
  });
}

for (const [kind, ca, peerSig] of [
  ['ed', 'ca-cert.pem', 'Peer signature type: Ed25519'],
  ['pss', 'pss-ca-cert.pem', 'Peer signature type: RSA-PSS'],
] as const) {
  test(`s_client -tls1_2 → rxtls server: ${kind} certificate`, async (t) => {
    t.timeout(TEST_MS);
    // The Ed25519 leaf comes with the intermediate; the RSASSA-PSS leaf is issued by its CA directly.
    const l = await startListener(kind === 'ed' ? serverPem('ed') : { cert: certText('server-pss-cert.pem'), key: certText('server-pss-key.pem') }, t);
    const client = runOpenssl(sClientArgs(l.port, ['-ign_eof'], certPath(ca)), { stdin: 'x', owner: t });
    const conn = await l.accept();
    await withTimeout(drive(conn, { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.true(r.stdout.toLowerCase().includes(peerSig.toLowerCase()), r.stdout);
    t.regex(r.stdout, /New, TLSv1\.2/);
  });
}

test('s_client -tls1_2 -sess_out / -sess_in → rxtls server: Reused, TLSv1.2', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const sess = path.join(dir, 'sess.pem');
  const l = await startListener(serverPem('ec'), t);
  for (const [args, expected] of [
    [['-sess_out', sess], /New, TLSv1\.2/],
    [['-sess_in', sess], /Reused, TLSv1\.2/],
  ] as const) {
    const client = runOpenssl(sClientArgs(l.port, ['-ign_eof', ...args]), { stdin: 'x', owner: t });
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.regex(r.stdout, expected);
    t.is(tr.info.resumed, expected.source.startsWith('Reused'));
  }
});

test.serial('s_client -tls1_2 ⇄ rxtls echo server: 10 MiB each way, key log equal to OpenSSL\'s', async (t) => {
  t.timeout(TEST_MS);
  const data = payload(10 * MiB);
  const dir = tempDir(t);
  const clientLog = path.join(dir, 'client.keys');
  const lines: string[] = [];
  const l = await startListener({ ...serverPem('rsa'), keyLog: (line) => lines.push(line) }, t);
  const client = runOpenssl(
    ['s_client', '-connect', `127.0.0.1:${l.port}`, '-tls1_2', '-CAfile', certPath('ca-cert.pem'), '-verify_return_error', '-quiet', '-keylogfile', clientLog],
    { stdin: data, timeoutMs: 55_000, owner: t },
  );
  const conn = await l.accept();
  const tr = await withTimeout(drive(conn, { echo: true, closeAfterBytes: data.length, keep: false }), 50_000, 'echo 10 MiB');
  const r = await client;
  t.is(r.code, 0, describeRun('s_client', { ...r, stdout: `${r.stdoutBytes.length} bytes` }));
  t.is(tr.info.protocol, 'TLSv1.2');
  t.is(tr.receivedSha256, sha256(data));
  t.is(sha256(r.stdoutBytes), sha256(data));
  const ours = parseKeyLog(lines.join('\n')).get('CLIENT_RANDOM');
  const theirs = parseKeyLog(readFileSync(clientLog, 'utf8')).get('CLIENT_RANDOM');
  t.is(ours?.size, 1);
  for (const [random, master] of ours!) t.is(theirs?.get(random), master);
});

test('s_client -tls1_2 → rxtls server: a renegotiation (R) is refused with no_renegotiation', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(serverPem('ec'), t);
  const client = spawnPeer(requirePeer('openssl'), sClientArgs(l.port, ['-msg']), { readyLine: /Verify return code: 0 \(ok\)/, timeoutMs: PEER_MS, owner: t });
  const conn = await l.accept();
  const served = drive(conn, { waitForPeerClose: true });
  const peer = await client;
  peer.write('R\n');
  await withTimeout(peer.waitForOutput(/<<< TLS 1\.2, Alert \[length 0002\], warning no_renegotiation/), 10_000, 'no_renegotiation warning');
  await peer.kill();
  await served.catch(() => undefined);
  t.regex(peer.output(), /warning no_renegotiation/);
});

test('s_client -tls1_3 → rxtls server limited to TLS 1.2: protocol_version', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ ...serverPem('ec'), maxVersion: 'TLSv1.2' }, t);
  const r = await runOpenssl(['s_client', '-connect', `127.0.0.1:${l.port}`, '-tls1_3', '-CAfile', certPath('ca-cert.pem')], { stdin: '', owner: t });
  t.not(r.code, 0);
  t.regex(r.stdout + r.stderr, /protocol version/);
});
