/**
 * DTLS 1.2 interop with GnuTLS 3.7 (PEERS.md §2), each test inside a private network namespace as
 * test/interop/gnutls.test.ts does: the rxtls CLI client (`--dtls`, negotiating 1.2 or 1.3) → `gnutls-serv --udp
 * --echo` (HelloVerifyRequest on by default), and `gnutls-cli --udp` → `rxtls server --dtls --echo` (cookies on).
 * A missing peer is a failure.
 *
 * The handshake through the lossy relay (test/helpers/udpRelay.ts) runs both ways. `gnutls-cli --udp` → relay →
 * an rxtls DTLS server: all three on the host's 127.0.0.1, the relay and server in this process, as
 * test/interop/dtls12-openssl.test.ts does (gnutls-cli binds no listening address, so it needs no namespace).
 * The rxtls client → relay → `gnutls-serv` (which binds every address, so it runs in the private namespace):
 * the relay runs there too, as a process of its own in front of the client (test/helpers/relayThen.ts). A lost
 * HelloVerifyRequest is answered by a new one (the stateless server starts over).
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startDtlsUdp } from '../helpers/dtlsUdp.js';
import { serverConfig } from '../helpers/dtlsPair.js';
import { serverCredentials } from '../helpers/pair.js';
import { NETNS_PORT, certPath, cliClientArgs, cliCommand, describePair, netnsPair, requirePeer, spawnPeer, tempDir } from '../helpers/peers.js';
import { bundledCommand } from '../helpers/bundle.js';
import type { RelayThenPlan } from '../helpers/relayThen.js';
import { startUdpRelay, type UdpRelay } from '../helpers/udpRelay.js';
import { parseSummary } from '../../src/cli/args.js';

const TEST_MS = 59_000;
const NETNS_MS = 50_000;
const PORT = NETNS_PORT;
const PRIO = 'NORMAL:-VERS-ALL:+VERS-DTLS1.2';

/** `gnutls-serv --udp --echo` on PORT (DTLS 1.2 with `priority`) with the fixture chain and key `cert`. */
const gnutlsServUdp = (cert: string, priority: string) => [
  requirePeer('gnutls-serv'), '--udp', '-p', String(PORT), '--x509certfile', certPath(`${cert}-chain.pem`),
  '--x509keyfile', certPath(`${cert}-key.pem`), '--priority', priority, '--echo', '-a',
];

/** `gnutls-cli --udp` (DTLS 1.2, verifying localhost) to `relay`, in front of the rxtls server `s`; `diag()` shows all three. */
async function gnutlsCliThrough(t: import('ava').ExecutionContext, relay: UdpRelay, s: { trace(): string }) {
  const peer = await spawnPeer(
    requirePeer('gnutls-cli'),
    ['--udp', '-p', String(relay.port), '127.0.0.1', '--x509cafile', certPath('ca-cert.pem'), '--verify-hostname', 'localhost', '--priority', PRIO],
    { timeoutMs: NETNS_MS, owner: t },
  );
  return { peer, diag: () => `${s.trace()}\n--- relay\n${relay.describe()}\n--- gnutls-cli\n${peer.output()}` };
}

for (const [cipher, suite] of [
  ['AES-128-GCM', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  ['AES-256-GCM', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  ['CHACHA20-POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
] as const) {
  test(`rxtls client --dtls → gnutls-serv --udp (DTLS 1.2 only, HelloVerifyRequest): ${cipher}, data both ways`, async (t) => {
    t.timeout(TEST_MS);
    const r = await netnsPair({
      server: gnutlsServUdp('server-ec', `${PRIO}:-CIPHER-ALL:+${cipher}`),
      port: PORT,
      serverReadyLine: 'listening on IPv4',
      client: [...cliCommand(), ...cliClientArgs(PORT, ['--dtls'])],
      clientStdin: 'hello from rxtls\n',
      timeoutMs: NETNS_MS,
      owner: t,
    });
    const diag = describePair('rxtls client', r);
    t.is(r.clientCode, 0, diag);
    t.is(r.clientStdout, 'hello from rxtls\n', diag); // echoed by gnutls-serv
    const summary = parseSummary(r.clientStderr);
    t.is(summary.Protocol, 'DTLSv1.2', diag);
    t.is(summary.Cipher, suite, diag);
  });
}

test('rxtls client --dtls → gnutls-serv --udp (HelloVerifyRequest) through a lossy relay in the namespace: the first ClientHello and HelloVerifyRequest dropped, then 20% loss', async (t) => {
  t.timeout(TEST_MS);
  const logFile = path.join(tempDir(t), 'relay.log');
  const plan: RelayThenPlan = {
    serverPort: PORT,
    // Loss bounded to the first datagrams each way (the handshake); application data is never dropped (DTLS does
    // not retransmit it, and the test checks the echo).
    toServer: { drop: [0], lossRate: 0.2, seed: 3, dropBefore: 8, keepApplicationData: true },
    toClient: { drop: [0], lossRate: 0.2, seed: 5, dropBefore: 8, keepApplicationData: true },
    logFile,
  };
  const r = await netnsPair({
    server: gnutlsServUdp('server-ec', PRIO),
    port: PORT,
    serverReadyLine: 'listening on IPv4',
    client: [
      ...bundledCommand('test/helpers/relayThen.ts'), JSON.stringify(plan),
      ...cliCommand(), 'client', '--dtls', '127.0.0.1:{RELAY_PORT}', '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost',
    ],
    clientStdin: 'through the relay\n',
    timeoutMs: NETNS_MS,
    owner: t,
  });
  const relayLog = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '(no relay log)';
  const diag = `${describePair('rxtls client', r)}\n--- relay\n${relayLog}`;
  t.is(r.clientCode, 0, diag);
  t.is(r.clientStdout, 'through the relay\n', diag);
  t.is(parseSummary(r.clientStderr).Protocol, 'DTLSv1.2', diag);
  const dropped = relayLog.split('\n').filter((line) => line.includes(' DROP '));
  t.true(dropped.length >= 2, diag);
  t.regex(relayLog, /S→C #0 DROP .*hs\(3\)/, 'the first HelloVerifyRequest was dropped');
});

test('rxtls client --dtls1_2 → gnutls-serv --udp with an RSA certificate', async (t) => {
  t.timeout(TEST_MS);
  const r = await netnsPair({
    server: gnutlsServUdp('server-rsa', PRIO),
    port: PORT,
    serverReadyLine: 'listening on IPv4',
    client: [...cliCommand(), ...cliClientArgs(PORT, ['--dtls1_2'])],
    clientStdin: 'line one\nline two\n',
    timeoutMs: NETNS_MS,
    owner: t,
  });
  const diag = describePair('rxtls client', r);
  t.is(r.clientCode, 0, diag);
  t.is(r.clientStdout, 'line one\nline two\n', diag);
  t.regex(parseSummary(r.clientStderr).Cipher ?? '', /ECDHE_RSA/, diag);
});

test('gnutls-cli --udp → rxtls server --dtls --echo (cookies on): data both ways', async (t) => {
  t.timeout(TEST_MS);
  const r = await netnsPair({
    server: [...cliCommand(), 'server', '--dtls', '--port', String(PORT), '--cert', certPath('server-ec-chain.pem'), '--key', certPath('server-ec-key.pem'), '--echo'],
    port: PORT,
    serverReadyLine: 'ACCEPT',
    client: [
      requirePeer('gnutls-cli'), '--udp', '-p', String(PORT), '127.0.0.1', '--x509cafile', certPath('ca-cert.pem'),
      '--verify-hostname', 'localhost', '--priority', PRIO,
    ],
    clientStdin: 'hello from gnutls\n',
    timeoutMs: NETNS_MS,
    owner: t,
  });
  const diag = describePair('gnutls-cli', r);
  t.regex(r.clientStdout + r.clientStderr, /DTLS1\.2/, diag);
  t.regex(r.clientStdout, /hello from gnutls/, diag); // our echo
});

test('gnutls-cli --udp → rxtls server (cookies on) through a lossy relay (the first ClientHello, the ClientHello with the cookie, and the first datagram of the server flight dropped)', async (t) => {
  t.timeout(TEST_MS);
  const s = await startDtlsUdp({
    config: serverConfig({ ...serverCredentials('server-ec'), cookieSecret: new Uint8Array(32).fill(9), cookieBinding: new TextEncoder().encode('127.0.0.1') }),
    deadlineMs: 45_000,
    owner: t,
  });
  const relay = await startUdpRelay(
    s.port,
    // Chosen datagrams, no random loss: gnutls doubles its retransmission timeout at each loss (1 s, 2 s, 4 s, …),
    // so a seeded 20% as in the OpenSSL test can, with an unlucky draw, take the handshake past the deadline.
    // The HelloVerifyRequest itself is never dropped here: see the known failure below.
    { toServer: { drop: [0, 2] }, toClient: { drop: [1] } },
    t,
  );
  const { peer, diag } = await gnutlsCliThrough(t, relay, s);
  const info = await s.handshake.catch((e: Error) => t.fail(`${e.message}\n${diag()}`) as never);
  await peer.waitForOutput('Handshake was completed', 30_000).catch(() => t.fail(diag()));
  t.is(info.protocol, 'DTLSv1.2', diag());
  t.regex(peer.output(), /DTLS1\.2/, diag());
  peer.write('hello from gnutls\n');
  await s.waitForData('hello from gnutls', 10_000).catch(() => t.fail(diag()));
  s.write('hello from rxtls\n');
  await peer.waitForOutput('hello from rxtls', 10_000).catch(() => t.fail(diag()));
  const n = relay.counts();
  t.is(n.toServer.dropped + n.toClient.dropped, 3, diag());
});

// When the HelloVerifyRequest is lost, gnutls-cli resends its ClientHello (no cookie, next message_seq): the
// stateless server starts over and answers with a fresh HelloVerifyRequest (RFC 6347 §4.2.1), never an ACK.
test('gnutls-cli --udp → rxtls server through a relay that drops the first HelloVerifyRequest: the resent ClientHello gets a new one', async (t) => {
  t.timeout(TEST_MS);
  const s = await startDtlsUdp({
    config: serverConfig({ ...serverCredentials('server-ec'), cookieSecret: new Uint8Array(32).fill(9), cookieBinding: new TextEncoder().encode('127.0.0.1') }),
    deadlineMs: 10_000, // gnutls resends at 1 s and 3 s: the handshake is done in ~4 s when the bug is fixed
    owner: t,
  });
  const relay = await startUdpRelay(s.port, { toClient: { drop: [0] } }, t);
  const { peer, diag } = await gnutlsCliThrough(t, relay, s);
  const info = await s.handshake.catch((e: Error) => t.fail(`${e.message}\n${diag()}`) as never);
  await peer.waitForOutput('Handshake was completed', 10_000).catch(() => t.fail(diag()));
  t.is(info.protocol, 'DTLSv1.2', diag());
});
