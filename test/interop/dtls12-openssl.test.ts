/**
 * DTLS 1.2 interop with OpenSSL (PEERS.md §2), on 127.0.0.1: rxtls client → `openssl s_server -dtls1_2` (which
 * always sends a HelloVerifyRequest) and `openssl s_client -dtls1_2` → rxtls server with cookies on; data both
 * ways, ECDSA and RSA certificates, and the handshake through a lossy relay. openssl missing is a failure.
 */
import test, { type ExecutionContext } from 'ava';
import { startDtlsUdp } from '../helpers/dtlsUdp.js';
import { clientConfig, serverConfig } from '../helpers/dtlsPair.js';
import { certPath, freePort, opensslCertArgs, requirePeer, spawnPeer, type Peer } from '../helpers/peers.js';
import { startUdpRelay, type RelayPolicy } from '../helpers/udpRelay.js';

/** A DTLS 1.2 datagram that starts with an application_data record: DTLS never retransmits those. */
const isApplicationData = (d: Uint8Array): boolean => d[0] === 23;
import { serverCredentials } from '../helpers/pair.js';

const TEST_MS = 50_000;
const PEER_LIFE = 40_000;

async function sServer(t: ExecutionContext, extra: readonly string[] = [], kind: 'ec' | 'rsa' = 'ec'): Promise<{ peer: Peer; port: number }> {
  const port = await freePort();
  const peer = await spawnPeer(requirePeer('openssl'), ['s_server', '-dtls1_2', '-accept', `127.0.0.1:${port}`, ...opensslCertArgs(kind), '-naccept', '1', ...extra], {
    readyLine: /^ACCEPT$/m,
    timeoutMs: PEER_LIFE,
    owner: t,
  });
  return { peer, port };
}

async function clientAgainstSServer(t: ExecutionContext, o: { suite?: string; kind?: 'ec' | 'rsa'; relay?: RelayPolicy } = {}) {
  const { peer, port } = await sServer(t, [], o.kind);
  const relay = o.relay ? await startUdpRelay(port, o.relay, t) : undefined;
  const c = await startDtlsUdp({
    config: clientConfig(o.suite ? { cipherSuites: [o.suite as never] } : {}),
    port: relay?.port ?? port,
    deadlineMs: 30_000,
    owner: t,
  });
  const diag = () => `${c.trace()}\n--- relay\n${relay?.describe() ?? ''}\n--- openssl\n${peer.output()}`;
  const info = await c.handshake.catch((e: Error) => t.fail(`${e.message}\n${diag()}`) as never);
  c.write('hello from rxtls\n');
  await peer.waitForOutput('hello from rxtls', 10_000).catch(() => t.fail(diag()));
  peer.write('hello from openssl\n');
  await c.waitForData('hello from openssl', 10_000).catch(() => t.fail(diag()));
  return { info, c, peer, relay, diag };
}

for (const [suite, kind] of [
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ec'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ec'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ec'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'rsa'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'rsa'],
] as const) {
  test(`rxtls client (DTLS 1.2..1.3) → openssl s_server -dtls1_2 (HelloVerifyRequest): ${suite}`, async (t) => {
    t.timeout(TEST_MS);
    const r = await clientAgainstSServer(t, { suite, kind });
    t.is(r.info.protocol, 'DTLSv1.2', r.diag());
    t.is(r.info.cipherSuite, suite);
    t.regex(r.c.trace(), /hs\(3\)/, 'a HelloVerifyRequest arrived');
  });
}

test('rxtls client → openssl s_server -dtls1_2 through a lossy relay (first datagram each way dropped, then 20% loss)', async (t) => {
  t.timeout(TEST_MS);
  const r = await clientAgainstSServer(t, {
    relay: { toServer: { drop: [0, 2], lossRate: 0.2, seed: 3, dropBefore: 8, keep: isApplicationData }, toClient: { drop: [0], lossRate: 0.2, seed: 5, dropBefore: 8, keep: isApplicationData } },
  });
  t.is(r.info.protocol, 'DTLSv1.2');
  t.true(r.relay!.counts().toServer.dropped + r.relay!.counts().toClient.dropped >= 3, r.diag());
});

async function sClientAgainstUs(t: ExecutionContext, o: { cipher?: string; kind?: 'server-ec' | 'server-rsa'; relay?: RelayPolicy } = {}) {
  const s = await startDtlsUdp({
    config: serverConfig({ ...serverCredentials(o.kind ?? 'server-ec'), cookieSecret: new Uint8Array(32).fill(9), cookieBinding: new TextEncoder().encode('127.0.0.1') }),
    deadlineMs: 30_000,
    owner: t,
  });
  const relay = o.relay ? await startUdpRelay(s.port, o.relay, t) : undefined;
  const peer = await spawnPeer(
    requirePeer('openssl'),
    [
      's_client', '-dtls1_2', '-connect', `127.0.0.1:${relay?.port ?? s.port}`, '-CAfile', certPath('ca-cert.pem'), '-servername', 'localhost',
      '-verify_return_error', ...(o.cipher ? ['-cipher', o.cipher] : []),
    ],
    { readyLine: /Verify return code: 0 \(ok\)/, timeoutMs: PEER_LIFE, owner: t },
  );
  const diag = () => `${s.trace()}\n--- relay\n${relay?.describe() ?? ''}\n--- openssl\n${peer.output()}`;
  const info = await s.handshake.catch((e: Error) => t.fail(`${e.message}\n${diag()}`) as never);
  peer.write('hello from openssl\n');
  await s.waitForData('hello from openssl', 10_000).catch(() => t.fail(diag()));
  s.write('hello from rxtls\n');
  await peer.waitForOutput('hello from rxtls', 10_000).catch(() => t.fail(diag()));
  return { info, s, peer, relay, diag };
}

for (const [cipher, kind] of [
  ['ECDHE-ECDSA-AES128-GCM-SHA256', 'server-ec'],
  ['ECDHE-ECDSA-AES256-GCM-SHA384', 'server-ec'],
  ['ECDHE-ECDSA-CHACHA20-POLY1305', 'server-ec'],
  ['ECDHE-RSA-AES256-GCM-SHA384', 'server-rsa'],
] as const) {
  test(`openssl s_client -dtls1_2 → rxtls server (cookies on): ${cipher}`, async (t) => {
    t.timeout(TEST_MS);
    const r = await sClientAgainstUs(t, { cipher, kind });
    t.is(r.info.protocol, 'DTLSv1.2', r.diag());
    t.regex(r.peer.output(), new RegExp(`Cipher is ${cipher}`), r.diag());
    t.regex(r.s.trace(), /hs\(3\)/, 'our HelloVerifyRequest went out');
  });
}

test('openssl s_client -dtls1_2 → rxtls server through a lossy relay', async (t) => {
  t.timeout(TEST_MS);
  const r = await sClientAgainstUs(t, {
    relay: { toServer: { drop: [1], lossRate: 0.2, seed: 11, dropBefore: 8, keep: isApplicationData }, toClient: { drop: [1], lossRate: 0.2, seed: 13, dropBefore: 8, keep: isApplicationData } },
  });
  t.is(r.info.protocol, 'DTLSv1.2');
  t.true(r.relay!.counts().toServer.dropped + r.relay!.counts().toClient.dropped >= 2, r.diag());
});
