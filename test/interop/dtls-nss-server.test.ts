/**
 * DTLS 1.3 interop, NSS `tstclnt -P client` (PEERS.md §2b) → rxtls server, on 127.0.0.1. tstclnt verifies our
 * chain (`server-ec-chain.pem`) for `localhost` against the test CA in its database.
 *
 * Debian 12's NSS 3.87 implements draft-ietf-tls-dtls13-43, not RFC 9147 (see `NSS_DTLS13_DRAFT_VERSION` in
 * test/helpers/dtlsInterop.ts): its ClientHello offers only 0x7f2b, which our server refuses with
 * protocol_version by default. One test says so precisely; the matrix below (each suite, X25519 and P-256, a
 * HelloRetryRequest, stateless cookies, a line each way, the handshake through a lossy relay) runs our server
 * with `dtlsDraft43`. tstclnt missing is a failure, never a skip.
 */
import test from 'ava';
import type { CipherSuiteName } from '../../src/wire/tls/constants.js';
import { DTLS_TEST_MS, NSS_DTLS13_DRAFT_VERSION, clientHelloVersions, runAgainstTstclnt } from '../helpers/dtlsInterop.js';
import { startDtlsUdp } from '../helpers/dtlsUdp.js';
import { serverConfig } from '../helpers/dtlsPair.js';
import { NSS_CIPHER_TEXT, startTstclnt } from '../helpers/nss.js';
import { startUdpRelay } from '../helpers/udpRelay.js';

const SUITES: readonly CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** The first encrypted datagram of a direction: the client's second flight (its Finished). */
const firstEncrypted = (d: { summary: string; dropped: number }) => d.summary.startsWith('ct') && d.dropped === 0;

test('tstclnt client → rxtls server: NSS 3.87 offers only DTLS 1.3 draft-43 (0x7f2b); we refuse with protocol_version', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const server = await startDtlsUdp({ config: serverConfig(), owner: t });
  const relay = await startUdpRelay(server.port, {}, t); // to see the ClientHello's bytes
  const client = await startTstclnt({ role: 'client', port: relay.port, owner: t });
  const error = await server.closed;
  const diag = `${server.trace()}\n--- relay\n${relay.describe()}\n--- tstclnt\n${client.output()}`;
  t.deepEqual(clientHelloVersions(relay.log[0]!.data), [NSS_DTLS13_DRAFT_VERSION], diag);
  t.is(error?.detail.kind, 'peerIncompatible', diag);
  t.deepEqual(
    server.effects.filter((e) => e.type === 'alertSent'),
    [{ type: 'alertSent', level: 2, description: 70 }], // fatal protocol_version
    diag,
  );
});

// ---------------------------------------------------------------------------------------------------------
// the matrix, our side in draft-43 mode (see the file's notes)

for (const suite of SUITES) {
  test(`tstclnt client → rxtls server: ${suite}`, async (t) => {
    t.timeout(DTLS_TEST_MS);
    const r = await runAgainstTstclnt(t, 'server', { nssSuite: suite });
    t.is(r.info.cipherSuite, suite, r.diag());
    t.is(r.info.protocol, 'DTLSv1.3');
    t.is(r.info.serverName, 'localhost', r.diag());
    t.false(r.info.helloRetry);
    t.regex(r.nss.output(), /SSL version 3\.4 /, r.diag()); // 3.4: (D)TLS 1.3
    t.regex(r.nss.output(), NSS_CIPHER_TEXT[suite]!, r.diag());
    t.regex(r.nss.output(), /subject DN: CN=localhost/, r.diag());
  });
}

for (const [group, bits] of [
  ['x25519', 255],
  ['secp256r1', 256],
] as const) {
  test(`tstclnt client → rxtls server: group ${group} without HelloRetryRequest`, async (t) => {
    t.timeout(DTLS_TEST_MS);
    const r = await runAgainstTstclnt(t, 'server', { ourGroups: [group], nssGroups: [group] });
    t.is(r.info.group, group === 'x25519' ? 'X25519' : 'P-256', r.diag());
    t.false(r.info.helloRetry, r.diag());
    t.regex(r.nss.output(), new RegExp(`Key Exchange: ${bits}-bit TLS 1\\.3`), r.diag());
  });
}

test('tstclnt client (x25519, P-256) → rxtls server accepting only P-256: HelloRetryRequest', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'server', { ourGroups: ['secp256r1'], nssGroups: ['x25519', 'secp256r1'] });
  t.true(r.info.helloRetry, r.diag());
  t.is(r.info.group, 'P-256', r.diag());
  t.regex(r.nss.output(), /Key Exchange: 256-bit TLS 1\.3/, r.diag());
});

test('tstclnt client → rxtls server with stateless cookies: HelloRetryRequest with a cookie, then the handshake', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'server', { ours: { cookieSecret: new Uint8Array(32).fill(7) } });
  t.true(r.info.helloRetry, r.diag()); // every new handshake gets the cookie exchange (RFC 9147 §5.1)
  t.regex(r.nss.output(), /SSL version 3\.4 /, r.diag());
});

test('tstclnt client → rxtls server through the relay: the first datagram of our flight dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'server', { relay: { toClient: { drop: [0] } } });
  t.regex(r.relay!.log.find((e) => e.dropped)!.summary, /^plain hs\(2\)/, r.diag());
});

test('tstclnt client → rxtls server through the relay: the last datagram of our flight dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  // Our first flight (ServerHello … Finished) spans two datagrams at the default MTU; drop the second.
  const r = await runAgainstTstclnt(t, 'server', { relay: { toClient: { drop: [1] } } });
  t.is(r.relay!.counts().toClient.dropped, 1, r.diag());
});

test('tstclnt client → rxtls server through the relay: the client\'s Finished dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'server', { relay: { toServer: { dropIf: firstEncrypted } } });
  t.regex(r.relay!.log.find((e) => e.dropped)!.summary, /^ct /, r.diag());
  t.true(r.ours.state().stats.retransmissions >= 1, r.diag());
});

test('tstclnt client → rxtls server through the relay: one datagram of every flight dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'server', { relay: { toServer: { drop: [0], dropIf: firstEncrypted }, toClient: { drop: [0] } } });
  t.is(r.relay!.counts().toServer.dropped, 2, r.diag());
  t.is(r.relay!.counts().toClient.dropped, 1, r.diag());
});

test('tstclnt client → rxtls server through the relay: HelloRetryRequest, then the second ClientHello dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'server', {
    ourGroups: ['secp256r1'],
    nssGroups: ['x25519', 'secp256r1'],
    relay: { toServer: { drop: [1] } },
  });
  t.true(r.info.helloRetry, r.diag());
  t.regex(r.relay!.log.find((e) => e.dropped)!.summary, /^plain hs\(1\)/, r.diag());
});

for (const seed of [1, 2, 3]) {
  test(`tstclnt client → rxtls server through the relay: 20 % random loss each way (seed ${seed})`, async (t) => {
    t.timeout(DTLS_TEST_MS);
    const loss = { lossRate: 0.2, seed, dropBefore: 60 };
    const r = await runAgainstTstclnt(t, 'server', { relay: { toServer: loss, toClient: { ...loss, seed: seed + 100 } } });
    t.log(`relay ${JSON.stringify(r.relay!.counts())}, our retransmissions ${r.ours.state().stats.retransmissions}`);
    t.is(r.info.serverName, 'localhost');
  });
}
