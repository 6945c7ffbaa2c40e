/**
 * DTLS 1.3 interop, rxtls client → NSS `tstclnt -P server` (NSS 3.87; PEERS.md §2b), on 127.0.0.1: each suite,
 * X25519 and P-256, a HelloRetryRequest, a line of application data each way, and the handshake through a
 * lossy relay (chosen datagrams of each flight dropped, and seeded random loss). The relay itself is checked
 * first with NSS on both ends. tstclnt missing is a failure, never a skip.
 */
import test from 'ava';
import type { CipherSuiteName } from '../../src/wire/tls/constants.js';
import { DTLS_TEST_MS, runAgainstTstclnt } from '../helpers/dtlsInterop.js';
import { NSS_CIPHER_TEXT, freeUdpPort, startTstclnt } from '../helpers/nss.js';
import { startUdpRelay } from '../helpers/udpRelay.js';

const SUITES: readonly CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** The first encrypted datagram of a direction: the client's second flight (its Finished). */
const firstEncrypted = (d: { summary: string; dropped: number }) => d.summary.startsWith('ct') && d.dropped === 0;

test('relay check: tstclnt client → tstclnt server, the server\'s first datagram and the client\'s Finished dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const port = await freeUdpPort();
  const server = await startTstclnt({ role: 'server', port, verbose: true, owner: t });
  const relay = await startUdpRelay(port, { toClient: { drop: [0] }, toServer: { dropIf: firstEncrypted } }, t);
  const client = await startTstclnt({ role: 'client', port: relay.port, owner: t });
  const diag = () => `--- relay\n${relay.describe()}\n--- server\n${server.output()}\n--- client\n${client.output()}`;
  try {
    client.write('hello through the relay\n');
    await server.waitForOutput('hello through the relay', 20_000);
    server.write('and back\n');
    await client.waitForOutput('and back', 10_000);
  } catch (e) {
    t.log(diag());
    throw e;
  }
  const dropped = relay.log.filter((e) => e.dropped);
  t.is(dropped.length, 2, diag());
  t.regex(dropped.find((e) => e.dir === 'toClient')!.summary, /^plain hs\(2\)/, diag()); // the ServerHello's datagram
  t.regex(dropped.find((e) => e.dir === 'toServer')!.summary, /^ct /, diag());
});

for (const suite of SUITES) {
  test(`rxtls client → tstclnt server: ${suite}`, async (t) => {
    t.timeout(DTLS_TEST_MS);
    const r = await runAgainstTstclnt(t, 'client', { nssSuite: suite });
    t.is(r.info.cipherSuite, suite, r.diag());
    t.is(r.info.protocol, 'TLSv1.3');
    t.is(r.info.verification, 'ok', r.diag());
    t.false(r.info.helloRetry);
    t.regex(r.nss.output(), /SSL version 3\.4 /, r.diag()); // 3.4: (D)TLS 1.3
    t.regex(r.nss.output(), NSS_CIPHER_TEXT[suite], r.diag());
  });
}

for (const [group, bits] of [
  ['x25519', 255],
  ['secp256r1', 256],
] as const) {
  test(`rxtls client → tstclnt server: group ${group} without HelloRetryRequest`, async (t) => {
    t.timeout(DTLS_TEST_MS);
    const r = await runAgainstTstclnt(t, 'client', { ourGroups: [group], nssGroups: [group] });
    t.is(r.info.group, group === 'x25519' ? 'X25519' : 'P-256', r.diag());
    t.false(r.info.helloRetry, r.diag());
    t.regex(r.nss.output(), new RegExp(`Key Exchange: ${bits}-bit TLS 1\\.3`), r.diag());
  });
}

test('rxtls client → tstclnt server accepting only P-256: HelloRetryRequest (our first share is X25519)', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'client', { ourGroups: ['x25519', 'secp256r1'], nssGroups: ['secp256r1'] });
  t.true(r.info.helloRetry, r.diag());
  t.is(r.info.group, 'P-256', r.diag());
  t.regex(r.nss.output(), /Key Exchange: 256-bit TLS 1\.3/, r.diag());
  // Two ServerHello-type messages came back: the HelloRetryRequest and the ServerHello.
  t.true((r.ours.trace().match(/<- .*plain hs\(2\)/g) ?? []).length >= 2, r.diag());
});

// ---------------------------------------------------------------------------------------------------------
// loss

test('rxtls client → tstclnt server through the relay: the first datagram of the server\'s flight dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'client', { relay: { toClient: { drop: [0] } } });
  t.regex(r.relay!.log.find((e) => e.dropped)!.summary, /^plain hs\(2\)/, r.diag());
});

test('rxtls client → tstclnt server through the relay: our ClientHello dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'client', { relay: { toServer: { drop: [0] } } });
  t.regex(r.relay!.log.find((e) => e.dropped)!.summary, /^plain hs\(1\)/, r.diag());
  t.true(r.ours.state().stats.retransmissions >= 1, r.diag());
});

test('rxtls client → tstclnt server through the relay: our Finished dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'client', { relay: { toServer: { dropIf: firstEncrypted } } });
  t.regex(r.relay!.log.find((e) => e.dropped)!.summary, /^ct /, r.diag());
});

test('rxtls client → tstclnt server through the relay: one datagram of every flight dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'client', { relay: { toServer: { drop: [0], dropIf: firstEncrypted }, toClient: { drop: [0] } } });
  t.is(r.relay!.counts().toServer.dropped, 2, r.diag());
  t.is(r.relay!.counts().toClient.dropped, 1, r.diag());
});

test('rxtls client → tstclnt server through the relay: HelloRetryRequest, then the second ClientHello dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const r = await runAgainstTstclnt(t, 'client', {
    ourGroups: ['x25519', 'secp256r1'],
    nssGroups: ['secp256r1'],
    relay: { toServer: { drop: [1] } },
  });
  t.true(r.info.helloRetry, r.diag());
  t.regex(r.relay!.log.find((e) => e.dropped)!.summary, /^plain hs\(1\)/, r.diag());
});

for (const seed of [1, 2, 3]) {
  test(`rxtls client → tstclnt server through the relay: 20 % random loss each way (seed ${seed})`, async (t) => {
    t.timeout(DTLS_TEST_MS);
    const loss = { lossRate: 0.2, seed, dropBefore: 60 };
    const r = await runAgainstTstclnt(t, 'client', { relay: { toServer: loss, toClient: { ...loss, seed: seed + 100 } } });
    t.log(`dropped ${JSON.stringify(r.relay!.counts())}, our retransmissions ${r.ours.state().stats.retransmissions}`);
    t.is(r.info.verification, 'ok');
  });
}
