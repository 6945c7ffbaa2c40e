/**
 * External PSKs (RFC 8446 §4.2.11, §7.1 "ext binder") in memory: both key exchange modes, no certificate
 * messages, server selection by identity, a wrong key, unknown identities, and the PSK's hash steering the suite.
 */
import test from 'ava';
import { createConnection, handshakeInfo } from '../../src/tls/connection.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import type { ExternalPsk } from '../../src/handshake/config.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';
import { Pair, caVerifier, serverCredentials, str, text } from '../helpers/pair.js';

const identity = text('client1');
const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const psk: ExternalPsk = { identity, key };
const table = new Map([['client1', { key }], ['client384', { key, hash: 'sha384' as const }]]);
const lookup = (id: Uint8Array) => table.get(new TextDecoder().decode(id));

/** A pair whose client has no verifier and whose server has no certificate unless given. */
function pskPair(client: Partial<TlsClientConfig>, server: Partial<TlsServerConfig>): Pair {
  const pair = new Pair();
  pair.client = createConnection({ role: 'client', serverName: 'localhost', ...client });
  pair.server = createConnection({ role: 'server', ...server });
  return pair;
}

test('external PSK with (EC)DHE (psk_dhe_ke): no certificates, identity reported on both sides, data flows', (t) => {
  const pair = pskPair({ externalPsk: psk }, { externalPskLookup: lookup }).start().drive();
  const ci = handshakeInfo(pair.client);
  const si = handshakeInfo(pair.server);
  t.truthy(ci, pair.closedError('client')?.message);
  t.truthy(si, pair.closedError('server')?.message);
  for (const info of [ci!, si!]) {
    t.is(info.pskIdentity, 'client1');
    t.false(info.resumed);
    t.is(info.group, 'X25519');
    t.deepEqual(info.peerCertificates, []);
    t.is(info.verification, 'none');
    t.is(info.cipherSuite, 'TLS_AES_128_GCM_SHA256');
  }
  pair.input('client', { type: 'write', now: pair.now, data: text('ping') });
  pair.input('server', { type: 'write', now: pair.now, data: text('pong') });
  pair.drive();
  t.is(str(pair.delivered.server), 'ping');
  t.is(str(pair.delivered.client), 'pong');
});

test('external PSK without (EC)DHE (psk_ke): no key share, no group', (t) => {
  const pair = pskPair({ externalPsk: psk, pskModes: ['psk_ke'] }, { externalPskLookup: lookup }).start().drive();
  const info = handshakeInfo(pair.client);
  t.truthy(info, pair.closedError('client')?.message ?? pair.closedError('server')?.message);
  t.is(info!.group, undefined);
  t.is(info!.pskIdentity, 'client1');
  t.is(handshakeInfo(pair.server)?.group, undefined);
});

test('a server that refuses psk_ke answers a psk_ke-only client with handshake_failure', (t) => {
  const pair = pskPair({ externalPsk: psk, pskModes: ['psk_ke'] }, { externalPskLookup: lookup, pskModes: ['psk_dhe_ke'] }).start().drive();
  t.is(pair.closedError('server')?.alert, AlertDescription.handshake_failure);
});

test('a wrong key: the binder does not verify (decrypt_error)', (t) => {
  const pair = pskPair({ externalPsk: { identity, key: key.map((b) => b ^ 1) } }, { externalPskLookup: lookup }).start().drive();
  t.is(pair.closedError('server')?.alert, AlertDescription.decrypt_error);
});

test('an unknown identity: a server with a certificate falls back to it; one without fails with handshake_failure', (t) => {
  const other: ExternalPsk = { identity: text('stranger'), key };
  const withCert = pskPair({ externalPsk: other, verifier: caVerifier() }, { externalPskLookup: lookup, ...serverCredentials() }).start().drive();
  const info = handshakeInfo(withCert.client);
  t.truthy(info, withCert.closedError('client')?.message);
  t.is(info!.pskIdentity, undefined);
  t.is(info!.verification, 'ok');
  const noCert = pskPair({ externalPsk: other }, { externalPskLookup: lookup }).start().drive();
  t.is(noCert.closedError('server')?.alert, AlertDescription.handshake_failure);
  // A client without a verifier does not accept a certificate instead of its PSK.
  const noVerifier = pskPair({ externalPsk: other }, { externalPskLookup: lookup, ...serverCredentials() }).start().drive();
  t.is(noVerifier.closedError('client')?.alert, AlertDescription.handshake_failure);
});

test('a SHA-384 PSK makes the server pick TLS_AES_256_GCM_SHA384 over its first preference', (t) => {
  const pair = pskPair({ externalPsk: { identity: text('client384'), key, hash: 'sha384' } }, { externalPskLookup: lookup }).start().drive();
  const info = handshakeInfo(pair.server);
  t.truthy(info, pair.closedError('server')?.message ?? pair.closedError('client')?.message);
  t.is(info!.cipherSuite, 'TLS_AES_256_GCM_SHA384');
  t.is(info!.pskIdentity, 'client384');
});

test('external PSK after a HelloRetryRequest: the binder covers the first ClientHello too', (t) => {
  const pair = pskPair({ externalPsk: psk, groups: ['x25519', 'secp256r1'] }, { externalPskLookup: lookup, groups: ['secp256r1'] }).start().drive();
  const info = handshakeInfo(pair.client);
  t.truthy(info, pair.closedError('client')?.message ?? pair.closedError('server')?.message);
  t.true(info!.helloRetry);
  t.is(info!.pskIdentity, 'client1');
});

test('configuration checks: identity and key lengths, no suite with the hash, a server without certificate or PSKs', (t) => {
  const bad: Partial<TlsClientConfig>[] = [
    { externalPsk: { identity: new Uint8Array(0), key } },
    { externalPsk: { identity, key: new Uint8Array(0) } },
    { externalPsk: { identity, key, hash: 'sha384' }, cipherSuites: ['TLS_AES_128_GCM_SHA256'] },
    { externalPsk: psk, pskModes: [] },
  ];
  for (const cfg of bad) t.throws(() => createConnection({ role: 'client', ...cfg }), { message: /externalPsk/ });
  t.throws(() => createConnection({ role: 'server' }), { message: /certificateChain and privateKey/ });
});
