/**
 * DTLS 1.2 interop with GnuTLS 3.7 (PEERS.md §2), each test inside a private network namespace as
 * test/interop/gnutls.test.ts does: the rxtls CLI client (`--dtls`, negotiating 1.2 or 1.3) → `gnutls-serv --udp
 * --echo` (HelloVerifyRequest on by default), and `gnutls-cli --udp` → `rxtls server --dtls --echo` (cookies on).
 * A missing peer is a failure.
 *
 * The handshake through the lossy relay (test/helpers/udpRelay.ts) runs one way only: `gnutls-cli --udp` →
 * relay → an rxtls DTLS server, all three on the host's 127.0.0.1 and the relay and server in this process, as
 * test/interop/dtls12-openssl.test.ts does. gnutls-cli binds no listening address, so it needs no namespace. The
 * other way would put gnutls-serv (which binds every address) in the private namespace, and the relay with it:
 * the relay lives in this process, outside the namespace, so it would have to run as a process of its own
 * inside it; not done yet. A lost HelloVerifyRequest is answered by a new one (the stateless server starts over).
 */
import test from 'ava';
import { startDtlsUdp } from '../helpers/dtlsUdp.js';
import { serverConfig } from '../helpers/dtlsPair.js';
import { serverCredentials } from '../helpers/pair.js';
import { NETNS_PORT, certPath, cliClientArgs, cliCommand, describePair, netnsPair, requirePeer, spawnPeer } from '../helpers/peers.js';
import { startUdpRelay } from '../helpers/udpRelay.js';
import { parseSummary } from '../../src/cli/args.js';

const TEST_MS = 59_000;
const NETNS_MS = 50_000;
const PORT = NETNS_PORT;
const PRIO = 'NORMAL:-VERS-ALL:+VERS-DTLS1.2';

for (const [cipher, suite] of [
  ['AES-128-GCM', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  ['AES-256-GCM', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  ['CHACHA20-POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
] as const) {
  test(`rxtls client --dtls → gnutls-serv --udp (DTLS 1.2 only, HelloVerifyRequest): ${cipher}, data both ways`, async (t) => {
    t.timeout(TEST_MS);
    const r = await netnsPair({
      server: [
        requirePeer('gnutls-serv'), '--udp', '-p', String(PORT), '--x509certfile', certPath('server-ec-chain.pem'),
        '--x509keyfile', certPath('server-ec-key.pem'), '--priority', `${PRIO}:-CIPHER-ALL:+${cipher}`, '--echo', '-a',
      ],
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

test('rxtls client --dtls1_2 → gnutls-serv --udp with an RSA certificate', async (t) => {
  t.timeout(TEST_MS);
  const r = await netnsPair({
    server: [
      requirePeer('gnutls-serv'), '--udp', '-p', String(PORT), '--x509certfile', certPath('server-rsa-chain.pem'),
      '--x509keyfile', certPath('server-rsa-key.pem'), '--priority', PRIO, '--echo', '-a',
    ],
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
  const peer = await spawnPeer(
    requirePeer('gnutls-cli'),
    ['--udp', '-p', String(relay.port), '127.0.0.1', '--x509cafile', certPath('ca-cert.pem'), '--verify-hostname', 'localhost', '--priority', PRIO],
    { timeoutMs: NETNS_MS, owner: t },
  );
  const diag = () => `${s.trace()}\n--- relay\n${relay.describe()}\n--- gnutls-cli\n${peer.output()}`;
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

// Known failure, found while writing the test above: when the HelloVerifyRequest is lost, gnutls-cli resends its
// ClientHello (no cookie, next message_seq) and the rxtls server answers it with a DTLS 1.3 ACK record (content
// type 26, which gnutls drops as "unknown type 26") instead of a fresh HelloVerifyRequest (RFC 6347 §4.2.1: a
// cookie exchange stays stateless, every cookieless ClientHello gets one), so the handshake never completes.
test('gnutls-cli --udp → rxtls server through a relay that drops the first HelloVerifyRequest: the resent ClientHello gets a new one', async (t) => {
  t.timeout(TEST_MS);
  const s = await startDtlsUdp({
    config: serverConfig({ ...serverCredentials('server-ec'), cookieSecret: new Uint8Array(32).fill(9), cookieBinding: new TextEncoder().encode('127.0.0.1') }),
    deadlineMs: 10_000, // gnutls resends at 1 s and 3 s: the handshake is done in ~4 s when the bug is fixed
    owner: t,
  });
  const relay = await startUdpRelay(s.port, { toClient: { drop: [0] } }, t);
  const peer = await spawnPeer(
    requirePeer('gnutls-cli'),
    ['--udp', '-p', String(relay.port), '127.0.0.1', '--x509cafile', certPath('ca-cert.pem'), '--verify-hostname', 'localhost', '--priority', PRIO],
    { timeoutMs: NETNS_MS, owner: t },
  );
  const diag = () => `${s.trace()}\n--- relay\n${relay.describe()}\n--- gnutls-cli\n${peer.output()}`;
  const info = await s.handshake.catch((e: Error) => t.fail(`${e.message}\n${diag()}`) as never);
  await peer.waitForOutput('Handshake was completed', 10_000).catch(() => t.fail(diag()));
  t.is(info.protocol, 'DTLSv1.2', diag());
});
