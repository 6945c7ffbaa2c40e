import { handshakePhase } from '../../src/handshake/engine.js';
import test from 'ava';
import { Pair, caVerifier, serverCredentials, str, text } from '../helpers/pair.js';
import { handleEvents, shutdownState, handshakeInfo } from '../../src/tls/connection.js';
import type { CipherSuiteName } from '../../src/wire/tls/constants.js';
import type { GroupName } from '../../src/crypto/provider.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';

const suites: CipherSuiteName[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const groups: GroupName[] = ['x25519', 'secp256r1', 'secp384r1'];

for (const suite of suites) {
  for (const group of groups) {
    test(`handshake and data both ways: ${suite} over ${group}`, (t) => {
      const pair = new Pair({ cipherSuites: [suite], groups: [group] }).start().drive();
      const info = handshakeInfo(pair.client)!;
      t.is(info.cipherSuite, suite);
      t.is(info.group, group === 'x25519' ? 'X25519' : group === 'secp256r1' ? 'P-256' : 'P-384');
      t.is(info.verification, 'ok');
      t.is(info.peerSubject?.includes('localhost'), true);
      t.false(info.helloRetry);
      t.is(handshakeInfo(pair.server)!.cipherSuite, suite);
      pair.input('client', { type: 'write', now: pair.now, data: text('ping') });
      pair.input('server', { type: 'write', now: pair.now, data: text('pong') });
      pair.drive();
      t.is(str(pair.delivered.server), 'ping');
      t.is(str(pair.delivered.client), 'pong');
    });
  }
}

for (const name of ['server-ec', 'server-ed', 'server-rsa', 'server-p384']) {
  test(`server certificate ${name} verifies (CertificateVerify with the key's scheme)`, (t) => {
    const pair = new Pair({}, { ...serverCredentials(name) }).start().drive();
    const info = handshakeInfo(pair.client)!;
    t.truthy(info, `client closed: ${pair.closedError('client')?.message}`);
    const expected: Record<string, string> = {
      'server-ec': 'ecdsa_secp256r1_sha256',
      'server-ed': 'ed25519',
      'server-rsa': 'rsa_pss_rsae_sha256',
      'server-p384': 'ecdsa_secp384r1_sha384',
    };
    t.is(info.peerSignatureScheme, expected[name]);
  });
}

test('HelloRetryRequest: server wants P-256, client shares X25519 first', (t) => {
  const pair = new Pair({ groups: ['x25519', 'secp256r1'] }, { groups: ['secp256r1'] }).start().drive();
  const info = handshakeInfo(pair.client)!;
  t.truthy(info, pair.closedError('client')?.message);
  t.true(info.helloRetry);
  t.is(info.group, 'P-256');
  t.true(handshakeInfo(pair.server)!.helloRetry);
  pair.input('client', { type: 'write', now: pair.now, data: text('after hrr') });
  pair.drive();
  t.is(str(pair.delivered.server), 'after hrr');
});

test('no common group: handshake_failure', (t) => {
  const pair = new Pair({ groups: ['x25519'] }, { groups: ['secp256r1'] }).start().drive();
  t.is(pair.closedError('server')?.alert, AlertDescription.handshake_failure);
  t.is(pair.closedError('client')?.kind, 'alertReceived');
});

test('ALPN: server preference among the client offer; SNI reaches the server', (t) => {
  const pair = new Pair({ alpnProtocols: ['http/1.1', 'h2'] }, { alpnProtocols: ['h2', 'http/1.1'] }).start().drive();
  t.is(handshakeInfo(pair.client)!.alpn, 'h2');
  t.is(handshakeInfo(pair.server)!.alpn, 'h2');
  t.is(handshakeInfo(pair.server)!.serverName, 'localhost');
});

test('ALPN without overlap: no_application_protocol', (t) => {
  const pair = new Pair({ alpnProtocols: ['h2'] }, { alpnProtocols: ['imap'] }).start().drive();
  t.is(pair.closedError('server')?.alert, AlertDescription.no_application_protocol);
});

test('client certificate requested, sent and verified', (t) => {
  const pair = new Pair(serverCredentials('client'), { requestClientCertificate: true, requireClientCertificate: true, verifier: caVerifier() })
    .start()
    .drive();
  const info = handshakeInfo(pair.server)!;
  t.truthy(info, pair.closedError('server')?.message);
  t.is(info.verification, 'ok');
  t.regex(info.peerSubject ?? '', /rxtls test client/);
});

test('client certificate required but none sent: certificate_required', (t) => {
  const pair = new Pair({}, { requestClientCertificate: true, requireClientCertificate: true, verifier: caVerifier() })
    .start()
    .drive();
  t.is(pair.closedError('server')?.alert, AlertDescription.certificate_required);
});

test('wrong host name: bad_certificate from the client', (t) => {
  const pair = new Pair({}, { ...serverCredentials('wrong-host') }).start().drive();
  const err = pair.closedError('client')!;
  t.is(err.kind, 'certificate');
  t.is(err.alert, AlertDescription.bad_certificate);
  t.is(pair.closedError('server')?.kind, 'alertReceived');
});

test('expired certificate (now after notAfter): certificate_expired', (t) => {
  const pair = new Pair();
  pair.now = Date.UTC(2045, 0, 1);
  pair.start().drive();
  t.is(pair.closedError('client')?.alert, AlertDescription.certificate_expired);
});

test('close_notify: client ends first, server inbound completes, server ends, both closed cleanly', (t) => {
  const pair = new Pair().start().drive();
  pair.input('client', { type: 'end', now: pair.now });
  pair.drive();
  t.is(pair.of('server', 'peerClosed').length, 1);
  t.like(shutdownState(pair.client), { sent: true, received: false });
  // Half-close: the server can still send.
  pair.input('server', { type: 'write', now: pair.now, data: text('late') });
  pair.input('server', { type: 'end', now: pair.now });
  pair.drive();
  t.is(str(pair.delivered.client), 'late');
  t.like(shutdownState(pair.client), { sent: true, received: true, eofWithoutCloseNotify: false });
  t.is(pair.of('client', 'closed').length, 1);
  t.is(pair.closedError('client'), undefined);
  t.is(pair.closedError('server'), undefined);
});

test('EOF without close_notify is a truncation error; ignoreUnexpectedEof completes instead', (t) => {
  const a = new Pair().start().drive();
  a.input('client', { type: 'eof', now: a.now });
  t.is(a.closedError('client')?.kind, 'unexpectedEof');
  const b = new Pair({ ignoreUnexpectedEof: true }).start().drive();
  b.input('client', { type: 'eof', now: b.now });
  t.is(b.of('client', 'peerClosed').length, 1);
  t.is(b.of('client', 'closed').length, 0);
});

test('handshake timeout: a server whose client never speaks closes at the deadline', (t) => {
  const pair = new Pair({}, { handshakeTimeout: 5000 });
  pair.input('server', { type: 'start', now: pair.now });
  pair.advance(4999);
  t.is(pair.of('server', 'closed').length, 0);
  pair.advance(1);
  t.is(pair.closedError('server')?.kind, 'handshakeTimeout');
});

test('large writes are split into records of at most maxSendFragment', (t) => {
  const pair = new Pair({ maxSendFragment: 1024 }).start().drive();
  const data = new Uint8Array(10_000).map((_, i) => i & 0xff);
  const effects = pair.input('client', { type: 'write', now: pair.now, data });
  const wire = effects.find((e) => e.type === 'transmit')!;
  t.true(wire.type === 'transmit');
  // 10 records: 9 full (1024 + 1 type + 16 tag + 5 header) and one of 784.
  if (wire.type === 'transmit') t.is(wire.data.length, 9 * (1024 + 22) + (784 + 22));
  pair.drive();
  t.deepEqual(Buffer.concat(pair.delivered.server), Buffer.from(data));
});

test('the reducer does not mutate its input state (replaying a step gives the same result)', (t) => {
  const pair = new Pair().start();
  const before = pair.server;
  const input = { type: 'received' as const, now: pair.now, data: pair.inbox.server[0]! };
  const a = handleEvents(before, input);
  const b = handleEvents(before, input);
  t.is(a.effects.length, b.effects.length);
  t.deepEqual(a.effects.map((e) => e.type), b.effects.map((e) => e.type));
  t.is(handshakePhase(before.hs), 'expectClientHello');
});

test('KeyUpdate with update_requested is answered and data keeps flowing', (t) => {
  const pair = new Pair().start().drive();
  pair.input('client', { type: 'keyUpdate', now: pair.now, requestPeer: true });
  pair.drive();
  pair.input('client', { type: 'write', now: pair.now, data: text('a') });
  pair.input('server', { type: 'write', now: pair.now, data: text('b') });
  pair.drive();
  t.is(str(pair.delivered.server), 'a');
  t.is(str(pair.delivered.client), 'b');
  t.not(pair.client.txKey!.secret, pair.client.hs.secrets.clientAp);
  t.not(pair.server.txKey!.secret, pair.server.hs.secrets.serverAp);
});

test('handshake works with the node:crypto provider on both sides', (t) => {
  const pair = new Pair({ provider: nodeProvider }, { provider: nodeProvider }).start().drive();
  t.truthy(handshakeInfo(pair.client));
});
