/**
 * DTLS 1.3 interop, NSS `tstclnt -P client` (NSS 3.87; PEERS.md §2b) → rxtls server, on 127.0.0.1: each suite,
 * X25519 and P-256, a HelloRetryRequest, a line of application data each way, and the handshake through a
 * lossy relay (chosen datagrams of each flight dropped, and seeded random loss). tstclnt verifies our chain
 * (`server-ec-chain.pem`) for `localhost` against the test CA in its database. tstclnt missing is a failure,
 * never a skip.
 */
import test from 'ava';
import type { CipherSuiteName } from '../../src/wire/tls/constants.js';
import { DTLS_TEST_MS, runAgainstTstclnt } from '../helpers/dtlsInterop.js';
import { NSS_CIPHER_TEXT } from '../helpers/nss.js';

const SUITES: readonly CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** The first encrypted datagram of a direction: the client's second flight (its Finished). */
const firstEncrypted = (d: { summary: string; dropped: number }) => d.summary.startsWith('ct') && d.dropped === 0;

for (const suite of SUITES) {
  test(`tstclnt client → rxtls server: ${suite}`, async (t) => {
    t.timeout(DTLS_TEST_MS);
    const r = await runAgainstTstclnt(t, 'server', { nssSuite: suite });
    t.is(r.info.cipherSuite, suite, r.diag());
    t.is(r.info.protocol, 'TLSv1.3');
    t.is(r.info.serverName, 'localhost', r.diag());
    t.false(r.info.helloRetry);
    t.regex(r.nss.output(), /SSL version 3\.4 /, r.diag()); // 3.4: (D)TLS 1.3
    t.regex(r.nss.output(), NSS_CIPHER_TEXT[suite], r.diag());
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

// ---------------------------------------------------------------------------------------------------------
// loss

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
    t.log(`dropped ${JSON.stringify(r.relay!.counts())}, our retransmissions ${r.ours.state().stats.retransmissions}`);
    t.is(r.info.serverName, 'localhost');
  });
}
