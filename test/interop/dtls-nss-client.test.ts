/**
 * DTLS 1.3 interop, rxtls client → NSS `tstclnt -P server` (PEERS.md §2b), on 127.0.0.1.
 *
 * Debian 12's NSS 3.87 implements draft-ietf-tls-dtls13-43, not RFC 9147: it negotiates version 0x7f2b (RFC 9147:
 * 0xfefc), hashes handshake messages into the transcript with their 12-byte DTLS header (RFC 9147 §5.2: the
 * TLS 1.3 form; dtls13-spec PR #262) and puts the epoch in the top 16 bits of the AEAD nonce's 64-bit sequence
 * number (RFC 9147 §4: not; dtls13-spec PR #257). By default rxtls speaks RFC 9147, so NSS refuses our
 * ClientHello with protocol_version: one test says so precisely. The matrix below (each suite, X25519 and P-256,
 * a HelloRetryRequest, a line each way, the handshake through a lossy relay) runs our side with `dtlsDraft43`.
 * The relay itself is checked with NSS on both ends. tstclnt missing is a failure, never a skip.
 */
import test from 'ava';
import type { CipherSuiteName } from '../../src/wire/tls/constants.js';
import { DTLS_TEST_MS, NSS_DTLS13_DRAFT_VERSION, runAgainstTstclnt } from '../helpers/dtlsInterop.js';
import { startDtlsUdp } from '../helpers/dtlsUdp.js';
import { clientConfig } from '../helpers/dtlsPair.js';
import { NSS_CIPHER_TEXT, freeUdpPort, startTstclnt } from '../helpers/nss.js';
import { startUdpRelay } from '../helpers/udpRelay.js';
import { certPath, describeRun, runCli } from '../helpers/peers.js';

const SUITES: readonly CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** The first encrypted datagram of a direction: the client's second flight (its Finished). */
const firstEncrypted = (d: { summary: string; dropped: number }) => d.summary.startsWith('ct') && d.dropped === 0;

test('relay check: tstclnt client → tstclnt server with the first ClientHello and the server\'s first datagram dropped', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const port = await freeUdpPort();
  const server = await startTstclnt({ role: 'server', port, verbose: true, owner: t });
  // tstclnt as a server retransmits only when a datagram arrives (its poll has no timeout), so only losses the
  // client's timer repairs are used here: its ClientHello, and the server's flight (the client sends the
  // ClientHello again, and the server its flight with it).
  const relay = await startUdpRelay(port, { toServer: { drop: [0] }, toClient: { drop: [0] } }, t);
  const client = await startTstclnt({ role: 'client', port: relay.port, owner: t });
  const diag = () => `--- relay\n${relay.describe()}\n--- server\n${server.output()}\n--- client\n${client.output()}`;
  try {
    await server.waitForOutput(/SSL version 3\.4 /, 20_000);
    client.write('hello through the relay\n');
    await server.waitForOutput('hello through the relay', 10_000);
    server.write('and back\n');
    await client.waitForOutput('and back', 10_000);
  } catch (e) {
    t.log(diag());
    throw e;
  }
  const dropped = relay.log.filter((e) => e.dropped);
  t.is(dropped.length, 2, diag());
  t.regex(dropped.find((e) => e.dir === 'toServer')!.summary, /^plain hs\(1\)/, diag()); // the ClientHello
  t.regex(dropped.find((e) => e.dir === 'toClient')!.summary, /^plain hs\(2\)/, diag()); // the ServerHello's datagram
});

test('rxtls client → tstclnt server: NSS 3.87 speaks DTLS 1.3 draft-43 and refuses our RFC 9147 ClientHello with protocol_version', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const port = await freeUdpPort();
  const server = await startTstclnt({ role: 'server', port, verbose: true, owner: t });
  const client = await startDtlsUdp({ config: clientConfig(), port, owner: t });
  const error = await client.closed;
  const diag = `${client.trace()}\n--- tstclnt\n${server.output()}`;
  t.is(error?.detail.kind, 'alertReceived', diag);
  t.deepEqual(
    client.effects.filter((e) => e.type === 'alertReceived'),
    [{ type: 'alertReceived', level: 2, description: 70 }], // fatal protocol_version
    diag,
  );
  await server.waitForOutput('SSL_ERROR_UNSUPPORTED_VERSION');
  t.is(NSS_DTLS13_DRAFT_VERSION, 0x7f2b);
});

// ---------------------------------------------------------------------------------------------------------
// the matrix, our side in draft-43 mode (see the file's notes)

for (const suite of SUITES) {
  test(`rxtls client → tstclnt server: ${suite}`, async (t) => {
    t.timeout(DTLS_TEST_MS);
    const r = await runAgainstTstclnt(t, 'client', { nssSuite: suite });
    t.is(r.info.cipherSuite, suite, r.diag());
    t.is(r.info.protocol, 'DTLSv1.3');
    t.is(r.info.verification, 'ok', r.diag());
    t.false(r.info.helloRetry);
    t.regex(r.nss.output(), /SSL version 3\.4 /, r.diag()); // 3.4: (D)TLS 1.3
    t.regex(r.nss.output(), NSS_CIPHER_TEXT[suite]!, r.diag());
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
  t.true(r.ours.state().stats.retransmissions >= 1, r.diag()); // tstclnt never asks again: our timer did it
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
    t.log(`relay ${JSON.stringify(r.relay!.counts())}, our retransmissions ${r.ours.state().stats.retransmissions}`);
    t.is(r.info.verification, 'ok');
  });
}

test('rxtls client --dtls --dtls-draft43 (the CLI) → tstclnt server: a line each way, close_notify at stdin EOF', async (t) => {
  t.timeout(DTLS_TEST_MS);
  const port = await freeUdpPort();
  const server = await startTstclnt({ role: 'server', port, verbose: true, owner: t });
  const run = runCli(
    ['client', '--dtls', '--dtls-draft43', `127.0.0.1:${port}`, '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost'],
    'hello from the rxtls CLI\n',
    { timeoutMs: 20_000, owner: t },
  );
  await server.waitForOutput('hello from the rxtls CLI', 15_000);
  server.write('answer from tstclnt\n');
  const r = await run;
  t.regex(r.stdout, /answer from tstclnt/, describeRun('rxtls client --dtls', r));
  t.regex(r.stderr, /^CONNECTED 127\.0\.0\.1:\d+ \(DTLS\)$/m, describeRun('rxtls client --dtls', r));
});
