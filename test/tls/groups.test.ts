/**
 * rxtls ↔ rxtls handshakes over the groups P-521, X448 and X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem) and with
 * P-521, Ed448 and RSASSA-PSS certificates (ecdsa_secp521r1_sha512, ed448, rsa_pss_pss_sha256), in memory; and
 * the alerts for invalid key shares (illegal_parameter, draft §3.1.2 / RFC 8446 §4.2.8).
 */
import test from 'ava';
import { createVerifier } from '../../src/crypto/x509.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import type { CryptoProvider, GroupName } from '../../src/crypto/provider.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import { handshakeInfo } from '../../src/tls/connection.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';
import { Pair, fixture, serverCredentials, str, text } from '../helpers/pair.js';

const GROUPS: [GroupName, string][] = [
  ['secp521r1', 'P-521'],
  ['x448', 'X448'],
  ['x25519mlkem768', 'X25519MLKEM768'],
];

for (const [client, server] of [
  [nobleProvider, nobleProvider],
  [nodeProvider, nobleProvider],
  [nobleProvider, nodeProvider],
] as const) {
  for (const [group, display] of GROUPS) {
    test(`handshake and data over ${display} (client ${client.name}, server ${server.name})`, (t) => {
      const pair = new Pair({ groups: [group], provider: client }, { provider: server, groups: ['x25519', group] }).start().drive();
      const info = handshakeInfo(pair.client);
      t.truthy(info, pair.closedError('client')?.message ?? pair.closedError('server')?.message);
      t.is(info!.group, display);
      t.false(info!.helloRetry);
      t.is(handshakeInfo(pair.server)!.group, display);
      pair.input('client', { type: 'write', now: pair.now, data: text('ping') });
      pair.input('server', { type: 'write', now: pair.now, data: text('pong') });
      pair.drive();
      t.is(str(pair.delivered.server), 'ping');
      t.is(str(pair.delivered.client), 'pong');
    });
  }
}

test('X25519MLKEM768 first with an X25519 fallback share (as browsers send): the server prefers the hybrid', (t) => {
  const hybridFirst: GroupName[] = ['x25519mlkem768', 'x25519'];
  const pair = new Pair({ groups: hybridFirst, keyShareCount: 2 }, { groups: hybridFirst }).start().drive();
  t.is(handshakeInfo(pair.client)!.group, 'X25519MLKEM768');
});

test('a server without X25519MLKEM768 picks the X25519 share; by default the client offers no hybrid', (t) => {
  const a = new Pair({ groups: ['x25519mlkem768', 'x25519'], keyShareCount: 2 }).start().drive();
  t.is(handshakeInfo(a.client)!.group, 'X25519');
  const b = new Pair({}, { groups: ['x25519mlkem768', 'x25519'] }).start().drive();
  t.is(handshakeInfo(b.client)!.group, 'X25519');
});

test('HelloRetryRequest to X25519MLKEM768 and to P-521', (t) => {
  for (const [group, display] of [
    ['x25519mlkem768', 'X25519MLKEM768'],
    ['secp521r1', 'P-521'],
  ] as const) {
    const pair = new Pair({ groups: ['x25519', group] }, { groups: [group] }).start().drive();
    const info = handshakeInfo(pair.client);
    t.truthy(info, pair.closedError('client')?.message);
    t.true(info!.helloRetry);
    t.is(info!.group, display);
  }
});

test('default groups offer P-521 and X448: a server that only takes X448 gets them by HelloRetryRequest', (t) => {
  const pair = new Pair({}, { groups: ['x448'] }).start().drive();
  t.is(handshakeInfo(pair.client)?.group, 'X448');
  t.true(handshakeInfo(pair.client)!.helloRetry);
});

/** `p` whose key pairs for `group` carry a tampered public key (what a broken or hostile peer would send). */
function tamperedShares(p: CryptoProvider, group: GroupName, tamper: (pub: Uint8Array) => Uint8Array): CryptoProvider {
  return Object.assign(Object.create(p) as CryptoProvider, {
    generateKeyPair: (g: GroupName) => {
      const kp = p.generateKeyPair(g);
      return g === group ? { ...kp, publicKey: tamper(kp.publicKey) } : kp;
    },
  });
}

test('client X25519MLKEM768 share failing the ML-KEM modulus check (FIPS 203 §7.2): illegal_parameter', (t) => {
  const provider = tamperedShares(nobleProvider, 'x25519mlkem768', (pub) => {
    const bad = pub.slice();
    bad[0] = 0xff;
    bad[1]! |= 0x0f; // first coefficient 4095 ≥ q
    return bad;
  });
  const pair = new Pair({ groups: ['x25519mlkem768'], provider }, { groups: ['x25519mlkem768'] }).start().drive();
  t.is(pair.closedError('server')?.alert, AlertDescription.illegal_parameter);
});

test('client shares of the wrong length or off the curve: illegal_parameter (X25519MLKEM768, P-521, X448)', (t) => {
  const cases: [GroupName, (pub: Uint8Array) => Uint8Array][] = [
    ['x25519mlkem768', (pub) => pub.subarray(0, pub.length - 1)],
    ['secp521r1', (pub) => Uint8Array.from(pub, (b, i) => (i === pub.length - 1 ? b ^ 1 : b))],
    ['x448', () => new Uint8Array(56)],
  ];
  for (const [group, tamper] of cases) {
    const pair = new Pair({ groups: [group], provider: tamperedShares(nobleProvider, group, tamper) }, { groups: [group] })
      .start()
      .drive();
    t.is(pair.closedError('server')?.alert, AlertDescription.illegal_parameter, group);
  }
});

test('server X25519MLKEM768 share of the wrong length: the client answers illegal_parameter (draft §3.1.2)', (t) => {
  const server = Object.assign(Object.create(nobleProvider) as CryptoProvider, {
    encapsulate: (g: GroupName, share: Uint8Array) => {
      const kx = nobleProvider.encapsulate!(g, share)!;
      return { ...kx, share: kx.share.subarray(0, kx.share.length - 1) };
    },
  });
  const pair = new Pair({ groups: ['x25519mlkem768'] }, { groups: ['x25519mlkem768'], provider: server }).start().drive();
  t.is(pair.closedError('client')?.alert, AlertDescription.illegal_parameter);
});

const CERTS: [string, string][] = [
  ['p521', 'ecdsa_secp521r1_sha512'],
  ['ed448', 'ed448'],
  ['pss', 'rsa_pss_pss_sha256'],
];

for (const provider of [nobleProvider, nodeProvider]) {
  for (const [name, scheme] of CERTS) {
    test(`${provider.name}: server certificate server-${name} (chain signed by a ${name} CA), CertificateVerify ${scheme}`, (t) => {
      const verifier = createVerifier({ ca: fixture(`${name}-ca-cert.pem`) });
      const pair = new Pair({ verifier, provider }, { ...serverCredentials(`server-${name}`), provider }).start().drive();
      const info = handshakeInfo(pair.client);
      t.truthy(info, pair.closedError('client')?.message);
      t.is(info!.peerSignatureScheme, scheme);
      t.is(info!.verification, 'ok');
    });

    test(`${provider.name}: client certificate server-${name} requested, sent and verified (${scheme})`, (t) => {
      const verifier = createVerifier({ ca: fixture(`${name}-ca-cert.pem`) });
      const pair = new Pair(
        { ...serverCredentials(`server-${name}`), provider },
        { requestClientCertificate: true, requireClientCertificate: true, verifier, provider },
      )
        .start()
        .drive();
      const info = handshakeInfo(pair.server);
      t.truthy(info, pair.closedError('server')?.message);
      t.is(info!.peerSignatureScheme, scheme);
    });
  }
}
