/**
 * DTLS 1.2 interop with GnuTLS 3.7 (PEERS.md §2), each test inside a private network namespace as
 * test/interop/gnutls.test.ts does: the rxtls CLI client (`--dtls`, negotiating 1.2 or 1.3) → `gnutls-serv --udp
 * --echo` (HelloVerifyRequest on by default), and `gnutls-cli --udp` → `rxtls server --dtls --echo` (cookies on).
 * A missing peer is a failure.
 */
import test from 'ava';
import { NETNS_PORT, certPath, cliClientArgs, cliCommand, describePair, netnsPair, requirePeer } from '../helpers/peers.js';
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
