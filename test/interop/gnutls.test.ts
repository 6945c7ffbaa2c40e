/**
 * Interop with GnuTLS 3.7 (`gnutls-serv` / `gnutls-cli`). gnutls-serv listens on every address, so each test
 * runs the peer and the rxtls CLI together inside a private network namespace (`unshare -n`, only `lo`):
 * nothing is reachable from outside and fixed ports cannot collide between tests.
 *
 * rxtls CLI client → gnutls-serv --http: each suite, X25519 / P-256, HelloRetryRequest.
 * gnutls-cli → rxtls CLI server --www: ALPN, ECDSA / Ed25519 / RSA certificates, HelloRetryRequest.
 */
import test, { type ExecutionContext } from 'ava';
import { NETNS_PORT, certPath, cliClientArgs, cliCommand, describeRun, gnutlsCliVsCliServer, netnsPair, requirePeer, type NetnsPairResult } from '../helpers/peers.js';
import { parseSummary } from '../../src/cli/args.js';

const TEST_MS = 110_000; // includes waiting for a slot
const NETNS_MS = 75_000;
const PORT = NETNS_PORT; // private namespace: no collisions
const GET = 'GET / HTTP/1.0\r\n\r\n';
const TLS13 = 'NORMAL:-VERS-ALL:+VERS-TLS1.3';

/**
 * At most this many namespaces at once: each runs a Node process, and a dozen starting together on a small
 * CI machine is slower than a queue.
 */
const PARALLEL = 4;
let running = 0;
const queue: (() => void)[] = [];
async function limited<T>(f: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await f();
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** GnuTLS priority names of the suites' ciphers. */
const SUITES = [
  ['TLS_AES_128_GCM_SHA256', 'AES-128-GCM'],
  ['TLS_AES_256_GCM_SHA384', 'AES-256-GCM'],
  ['TLS_CHACHA20_POLY1305_SHA256', 'CHACHA20-POLY1305'],
] as const;

/** gnutls-serv --http on PORT with a server chain; `-a`: no client certificate request. */
function gnutlsServ(priority: string, extra: readonly string[] = []): string[] {
  return [
    requirePeer('gnutls-serv'),
    '-p',
    String(PORT),
    '--x509certfile',
    certPath('server-ec-chain.pem'),
    '--x509keyfile',
    certPath('server-ec-key.pem'),
    '--priority',
    priority,
    '--http',
    '-a',
    ...extra,
  ];
}

/** Our CLI client against PORT, trusting the test CA. */
function rxtlsClient(extra: readonly string[] = []): string[] {
  return [...cliCommand(), ...cliClientArgs(PORT, extra)];
}

async function clientVsGnutlsServ(t: ExecutionContext, priority: string, clientArgs: readonly string[] = [], servArgs: readonly string[] = []): Promise<NetnsPairResult> {
  const r = await limited(() => netnsPair({
    server: gnutlsServ(priority, servArgs),
    port: PORT,
    serverReadyLine: 'listening on IPv4',
    client: rxtlsClient(clientArgs),
    clientStdin: GET,
    timeoutMs: NETNS_MS,
    owner: t,
  }));
  t.is(r.clientCode, 0, describeRun('rxtls client', { code: r.clientCode, stdout: r.clientStdout, stderr: r.clientStderr }) + `\n--- gnutls-serv\n${r.serverOutput.slice(-3000)}\n--- script\n${r.script.stderr}`);
  t.regex(r.clientStdout, /^HTTP\/1\.0 200 OK\r\n/);
  t.regex(r.clientStderr, /^rxtls: closed cleanly/m);
  return r;
}

/** The session description gnutls-serv --http puts in its page, tags stripped. */
function pageDescription(page: string): string {
  const text = page.replace(/<[^>]*>/g, '\n');
  return /\(TLS1\.3-X\.509\)[^\n]*/.exec(text)?.[0] ?? '';
}

// ---------------------------------------------------------------------------------------------------------
// rxtls CLI client → gnutls-serv

for (const [suite, cipher] of SUITES) {
  test(`rxtls client → gnutls-serv: ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const r = await clientVsGnutlsServ(t, `${TLS13}:-CIPHER-ALL:+${cipher}`);
    t.is(parseSummary(r.clientStderr).Cipher, suite);
    t.is(parseSummary(r.clientStderr).Verification, 'ok');
    t.true(pageDescription(r.clientStdout).endsWith(`-(${cipher})`), pageDescription(r.clientStdout));
    // gnutls-serv saw our SNI.
    t.regex(r.clientStdout.replace(/<[^>]*>/g, ''), /Server Name: localhost/);
  });
}

for (const [group, gnutlsGroup] of [
  ['X25519', 'X25519'],
  ['P-256', 'SECP256R1'],
] as const) {
  test(`rxtls client → gnutls-serv: group ${group} without HelloRetryRequest`, async (t) => {
    t.timeout(TEST_MS);
    const r = await clientVsGnutlsServ(t, `${TLS13}:-GROUP-ALL:+GROUP-${gnutlsGroup}`, ['--groups', group]);
    const s = parseSummary(r.clientStderr);
    t.is(s.Group, group);
    t.is(s.HelloRetryRequest, 'no');
    t.true(pageDescription(r.clientStdout).includes(`-(ECDHE-${gnutlsGroup})-`), pageDescription(r.clientStdout));
  });
}

test('rxtls client → gnutls-serv accepting only P-256: HelloRetryRequest (our first share is X25519)', async (t) => {
  t.timeout(TEST_MS);
  const r = await clientVsGnutlsServ(t, `${TLS13}:-GROUP-ALL:+GROUP-SECP256R1`, [], ['-d', '4']);
  const s = parseSummary(r.clientStderr);
  t.is(s.HelloRetryRequest, 'yes');
  t.is(s.Group, 'P-256');
  t.regex(r.serverOutput, /HELLO RETRY REQUEST was queued/);
  t.true(pageDescription(r.clientStdout).includes('-(ECDHE-SECP256R1)-'));
});

// ---------------------------------------------------------------------------------------------------------
// gnutls-cli → rxtls CLI server

async function gnutlsCliVsServer(
  t: ExecutionContext,
  cert: 'ec' | 'ed' | 'rsa',
  serverArgs: readonly string[],
  cliArgs: readonly string[],
): Promise<NetnsPairResult> {
  const r = await limited(() =>
    gnutlsCliVsCliServer({ port: PORT, cert, serverArgs: ['--www', '--naccept', '1', ...serverArgs], cliArgs, stdin: GET, timeoutMs: NETNS_MS, owner: t }),
  );
  const diag = describeRun('gnutls-cli', { code: r.clientCode, stdout: r.clientStdout, stderr: r.clientStderr }) + `\n--- rxtls server\n${r.serverOutput}\n--- script\n${r.script.stderr}`;
  t.is(r.clientCode, 0, diag);
  t.regex(r.clientStdout, /- Status: The certificate is trusted\./, diag);
  t.regex(r.clientStdout, /^HTTP\/1\.0 200 OK\r$/m, diag);
  t.regex(r.serverOutput, /^CLOSED 1$/m, diag);
  return r;
}

/** gnutls-cli's `- Description: (TLS1.3-X.509)-(…)` line. */
const cliDescription = (out: string) => /^- Description: (.*)$/m.exec(out)?.[1] ?? '';

for (const [cert, sig, extraPriority] of [
  ['ec', '(ECDSA-SECP256R1-SHA256)', ''],
  ['ed', '(EdDSA-Ed25519)', ':+SIGN-EDDSA-ED25519'],
  ['rsa', '(RSA-PSS-RSAE-SHA256)', ''],
] as const) {
  test(`gnutls-cli → rxtls server: ${cert} certificate`, async (t) => {
    t.timeout(TEST_MS);
    const r = await gnutlsCliVsServer(t, cert, [], ['--priority', `${TLS13}${extraPriority}`]);
    t.true(cliDescription(r.clientStdout).includes(`-${sig}-`), cliDescription(r.clientStdout));
    t.is(parseSummary(r.serverOutput).Protocol, 'TLSv1.3');
  });
}

test('gnutls-cli --alpn → rxtls server: ALPN negotiated', async (t) => {
  t.timeout(TEST_MS);
  const r = await gnutlsCliVsServer(t, 'ec', ['--alpn', 'h2,http/1.1'], ['--priority', TLS13, '--alpn', 'http/1.1']);
  t.regex(r.clientStdout, /^- Application protocol: http\/1\.1$/m);
  t.is(parseSummary(r.serverOutput).ALPN, 'http/1.1');
  t.regex(r.clientStdout, /ALPN: http\/1\.1/); // our --www page names it too
});

test('gnutls-cli (P-256 + X25519 shares) → rxtls server accepting only P-384: HelloRetryRequest', async (t) => {
  t.timeout(TEST_MS);
  const r = await gnutlsCliVsServer(t, 'ec', ['--groups', 'P-384'], ['--priority', TLS13, '-d', '4']);
  t.is(parseSummary(r.serverOutput).HelloRetryRequest, 'yes');
  t.is(parseSummary(r.serverOutput).Group, 'P-384');
  t.regex(r.clientStdout + r.clientStderr, /HELLO RETRY REQUEST/);
  t.true(cliDescription(r.clientStdout).includes('-(ECDHE-SECP384R1)-'), cliDescription(r.clientStdout));
});

for (const [suite, cipher] of SUITES) {
  test(`gnutls-cli → rxtls server: ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const r = await gnutlsCliVsServer(t, 'ec', ['--ciphers', suite], ['--priority', TLS13]);
    t.true(cliDescription(r.clientStdout).endsWith(`-(${cipher})`), cliDescription(r.clientStdout));
    t.is(parseSummary(r.serverOutput).Cipher, suite);
  });
}
