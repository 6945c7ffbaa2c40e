/**
 * Interop with OpenSSL 3.0 for the groups P-521 and X448 and for P-521, Ed448 and RSASSA-PSS certificates, each
 * way (rxtls client → `openssl s_server`, `openssl s_client` → rxtls server). 127.0.0.1 only; every peer is
 * bounded by the helpers' timeouts. OpenSSL 3.0 has no ML-KEM, so X25519MLKEM768 is tested rxtls ↔ rxtls only
 * (test/tls/groups.test.ts). Certificates: test/fixtures/certs/make-crypto-certs.sh.
 */
import test, { type ExecutionContext } from 'ava';
import {
  certPath,
  certText,
  clientExchange,
  describeRun,
  drive,
  freePort,
  requirePeer,
  run,
  spawnPeer,
  startListener,
  withTimeout,
  type Peer,
} from '../helpers/peers.js';
import type { ConnectOptions } from '../../src/rx/types.js';

const TEST_MS = 60_000;
const PEER_MS = 50_000;
const GET = 'GET / HTTP/1.0\r\n\r\n';

/** The fixture certificates: `server-NAME-{cert,key}.pem`, signed by `NAME-ca-cert.pem`. */
type CertName = 'p521' | 'ed448' | 'pss';
const CERTS: readonly { name: CertName; scheme: string; opensslSig: RegExp }[] = [
  { name: 'p521', scheme: 'ecdsa_secp521r1_sha512', opensslSig: /Peer signing digest: SHA512\s+Peer signature type: ECDSA/ },
  { name: 'ed448', scheme: 'ed448', opensslSig: /Peer signature type: ed448/ },
  { name: 'pss', scheme: 'rsa_pss_pss_sha256', opensslSig: /Peer signing digest: SHA256\s+Peer signature type: RSA-PSS/ },
];

async function sServer(t: ExecutionContext, cert: CertName | 'ec', args: readonly string[]): Promise<{ peer: Peer; port: number }> {
  const openssl = requirePeer('openssl');
  const port = await freePort();
  const certArgs =
    cert === 'ec'
      ? ['-cert', certPath('server-ec-cert.pem'), '-cert_chain', certPath('int-cert.pem'), '-key', certPath('server-ec-key.pem')]
      : ['-cert', certPath(`server-${cert}-cert.pem`), '-key', certPath(`server-${cert}-key.pem`)];
  const peer = await spawnPeer(openssl, ['s_server', '-accept', `127.0.0.1:${port}`, '-tls1_3', '-naccept', '1', ...certArgs, ...args], {
    readyLine: /^ACCEPT$/m,
    timeoutMs: PEER_MS,
    owner: t,
  });
  return { peer, port };
}

const clientOptions = (port: number, ca: string, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  host: '127.0.0.1',
  port,
  ca: certText(ca),
  servername: 'localhost',
  ...extra,
});

function sClient(t: ExecutionContext, port: number, ca: string, args: readonly string[], stdin: string) {
  return run(
    requirePeer('openssl'),
    ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-CAfile', certPath(ca), '-servername', 'localhost', '-verify_return_error', ...args],
    { stdin, timeoutMs: PEER_MS, owner: t },
  );
}

// ---------------------------------------------------------------------------------------------------------
// groups

for (const [group, opensslTemp] of [
  ['P-521', /Server Temp Key: ECDH, secp521r1, 521 bits/],
  ['X448', /Server Temp Key: X448, 448 bits/],
] as const) {
  test(`rxtls client → s_server -groups ${group}`, async (t) => {
    t.timeout(TEST_MS);
    const { peer, port } = await sServer(t, 'ec', ['-groups', group, '-www']);
    const tr = await clientExchange(clientOptions(port, 'ca-cert.pem', { groups: group }), { send: GET, waitForPeerClose: true, owner: t });
    t.regex(tr.received.toString('latin1'), /^HTTP\/1\.0 200 ok\r\n/);
    t.is(tr.info.group, group);
    t.false(tr.info.helloRetry);
    await peer.exited;
  });

  test(`rxtls client (default groups, X25519 share) → s_server -groups ${group}: HelloRetryRequest`, async (t) => {
    t.timeout(TEST_MS);
    const { peer, port } = await sServer(t, 'ec', ['-groups', group, '-www']);
    const tr = await clientExchange(clientOptions(port, 'ca-cert.pem'), { send: GET, waitForPeerClose: true, owner: t });
    t.is(tr.info.group, group);
    t.true(tr.info.helloRetry);
    await peer.exited;
  });

  test(`s_client -groups ${group} → rxtls server (default groups)`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem') }, t);
    const client = sClient(t, l.port, 'ca-cert.pem', ['-ign_eof', '-groups', group], 'ping\n');
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { closeAfterBytes: 5, reply: 'pong\n' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.is(tr.info.group, group);
    t.false(tr.info.helloRetry);
    t.regex(r.stdout, opensslTemp);
    t.true(r.stdout.includes('pong\n'));
  });
}

// ---------------------------------------------------------------------------------------------------------
// certificates

for (const { name, scheme, opensslSig } of CERTS) {
  test(`rxtls client → s_server with the ${name} certificate: chain and CertificateVerify (${scheme})`, async (t) => {
    t.timeout(TEST_MS);
    const { peer, port } = await sServer(t, name, ['-www']);
    const tr = await clientExchange(clientOptions(port, `${name}-ca-cert.pem`), { send: GET, waitForPeerClose: true, owner: t });
    t.regex(tr.received.toString('latin1'), /^HTTP\/1\.0 200 ok\r\n/);
    t.is(tr.info.verification, 'ok');
    t.is(tr.info.peerSignatureScheme, scheme);
    await peer.exited;
  });

  test(`s_client → rxtls server with the ${name} certificate (${scheme})`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener({ cert: certText(`server-${name}-cert.pem`), key: certText(`server-${name}-key.pem`) }, t);
    const client = sClient(t, l.port, `${name}-ca-cert.pem`, ['-ign_eof'], 'x');
    const conn = await l.accept();
    await withTimeout(drive(conn, { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.regex(r.stdout, opensslSig);
    t.regex(r.stdout, /Verify return code: 0 \(ok\)/);
  });
}
