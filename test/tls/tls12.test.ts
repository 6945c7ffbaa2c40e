/**
 * TLS 1.2 (RFC 5246) between two rxtls connections in memory: every suite with every certificate type it fits,
 * the groups, the extended master secret (RFC 7627), renegotiation_info and refused renegotiation (RFC 5746),
 * version negotiation and the RFC 8446 §4.1.3 downgrade sentinels, tickets (RFC 5077), client certificates,
 * record sizes, asynchronous batches, the key log and the close protocol.
 */
import test from 'ava';
import fc from 'fast-check';
import { Pair, NOW, caVerifier, fixture, serverCredentials, str, text } from '../helpers/pair.js';
import { createVerifier } from '../../src/crypto/x509.js';
import { editHelloExtensions, helloExtensions, rewriteFirstMessage, splitMessages, splitRecords, withRandomTail } from '../helpers/tls12.js';
import { handleEvents, handshakeInfo, shutdownState, type TlsState } from '../../src/tls/connection.js';
import { plainRecord, sealRecord } from '../../src/tls/record.js';
import { handshakePhase, negotiatedVersion } from '../../src/handshake/engine.js';
import { createTicketer, type TlsSession } from '../../src/handshake/session.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import type { TlsEffect } from '../../src/tls/types.js';
import { AlertDescription as A, AlertLevel, DOWNGRADE_TLS12, ExtensionType as X, type Tls12CipherSuiteName } from '../../src/wire/tls/constants.js';
import { TlsError } from '../../src/core/errors.js';
import { asyncNobleProvider } from '../helpers/batch.js';

const TLS12: Partial<TlsClientConfig> = { maxVersion: 'TLSv1.2' };

const ECDSA_SUITES: Tls12CipherSuiteName[] = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
];
const RSA_SUITES: Tls12CipherSuiteName[] = [
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
];
/** Certificate fixtures and the scheme each signs its ServerKeyExchange with. */
const CERTS: Record<string, { suites: Tls12CipherSuiteName[]; scheme: string }> = {
  'server-ec': { suites: ECDSA_SUITES, scheme: 'ecdsa_secp256r1_sha256' },
  'server-p384': { suites: ECDSA_SUITES, scheme: 'ecdsa_secp384r1_sha384' },
  'server-ed': { suites: ECDSA_SUITES, scheme: 'ed25519' },
  'server-rsa': { suites: RSA_SUITES, scheme: 'rsa_pss_rsae_sha256' },
  'server-pss': { suites: RSA_SUITES, scheme: 'rsa_pss_pss_sha256' },
};

const ticketSecret = new Uint8Array(32).fill(9);

function exchange(t: import('ava').ExecutionContext, pair: Pair, what = ''): void {
  pair.input('client', { type: 'write', now: pair.now, data: text(`ping${what}`) });
  pair.input('server', { type: 'write', now: pair.now, data: text(`pong${what}`) });
  pair.drive();
  t.is(str(pair.delivered.server), `ping${what}`);
  t.is(str(pair.delivered.client), `pong${what}`);
}

const alertsSent = (pair: Pair, side: 'client' | 'server') =>
  pair.effects[side].flatMap((e) => (e.type === 'alertSent' ? [{ level: e.level, description: e.description }] : []));

const sessionsOf = (pair: Pair): TlsSession[] => pair.effects.client.flatMap((e) => (e.type === 'session' ? [e.session] : []));

for (const [cert, { suites, scheme }] of Object.entries(CERTS)) {
  for (const suite of suites) {
    test(`TLS 1.2 ${suite} with ${cert}: handshake, data both ways, close_notify both ways`, (t) => {
      // The RSASSA-PSS leaf has a CA of its own.
      const verifier = cert === 'server-pss' ? createVerifier({ ca: fixture('pss-ca-cert.pem') }) : caVerifier();
      const pair = new Pair({ ...TLS12, cipherSuites: [suite], verifier }, serverCredentials(cert)).start().drive();
      const info = handshakeInfo(pair.client);
      t.truthy(info, pair.closedError('client')?.message ?? pair.closedError('server')?.message);
      t.is(info!.protocol, 'TLSv1.2');
      t.is(info!.cipherSuite, suite);
      t.is(info!.peerSignatureScheme, scheme);
      t.is(info!.verification, 'ok');
      t.is(info!.group, 'X25519');
      t.false(info!.resumed);
      t.is(handshakeInfo(pair.server)!.protocol, 'TLSv1.2');
      t.is(handshakeInfo(pair.server)!.cipherSuite, suite);
      exchange(t, pair);
      pair.input('client', { type: 'end', now: pair.now });
      pair.drive();
      pair.input('server', { type: 'end', now: pair.now });
      pair.drive();
      t.deepEqual(shutdownState(pair.client), { sent: true, received: true, eofWithoutCloseNotify: false });
      t.is(pair.closedError('client'), undefined);
      t.is(pair.of('client', 'closed').length, 1);
      t.is(pair.of('server', 'closed').length, 1);
    });
  }
}

for (const group of ['x25519', 'secp256r1', 'secp384r1'] as const) {
  test(`TLS 1.2 ECDHE over ${group}`, (t) => {
    const pair = new Pair({ ...TLS12, groups: [group] }, { groups: ['secp384r1', 'secp256r1', 'x25519'] }).start().drive();
    t.is(handshakeInfo(pair.client)?.group, group === 'x25519' ? 'X25519' : group === 'secp256r1' ? 'P-256' : 'P-384');
    exchange(t, pair);
  });
}

test('the server prefers its own suite order among the client offer', (t) => {
  const pair = new Pair(
    { ...TLS12, cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'] },
    { cipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] },
  )
    .start()
    .drive();
  t.is(handshakeInfo(pair.client)?.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256');
});

test('no suite fits the key: an RSA-only client offer to an ECDSA server is handshake_failure', (t) => {
  const pair = new Pair({ ...TLS12, cipherSuites: RSA_SUITES }).start().drive();
  t.is(pair.closedError('server')?.alert, A.handshake_failure);
});

// ---------------------------------------------------------------------------------------------------------------
// Version negotiation and the downgrade sentinels (RFC 8446 §4.1.3, §4.2.1)

test('a TLS 1.3-capable pair never ends on TLS 1.2', (t) => {
  const pair = new Pair().start().drive();
  t.is(handshakeInfo(pair.client)?.protocol, 'TLSv1.3');
  t.is(handshakeInfo(pair.server)?.protocol, 'TLSv1.3');
});

test('a TLS 1.2-only client and a default server: TLS 1.2, the server random ends with DOWNGRD 01', (t) => {
  const pair = new Pair(TLS12).start().serverRound();
  const sh = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body)[0]!;
  t.is(sh[0], 2);
  t.deepEqual(sh.subarray(4 + 2 + 24, 4 + 2 + 32), DOWNGRADE_TLS12);
  pair.drive();
  t.is(handshakeInfo(pair.client)?.protocol, 'TLSv1.2');
  t.is(negotiatedVersion(pair.client.hs), 0x0303);
});

test('a default client and a TLS 1.2-only server: TLS 1.2 without a sentinel', (t) => {
  const pair = new Pair({}, { maxVersion: 'TLSv1.2' }).start().serverRound();
  const sh = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body)[0]!;
  t.notDeepEqual(sh.subarray(4 + 2 + 24, 4 + 2 + 32), DOWNGRADE_TLS12);
  pair.drive();
  t.is(handshakeInfo(pair.client)?.protocol, 'TLSv1.2');
  exchange(t, pair);
});

test('RFC 8446 §4.1.3: a TLS 1.3 client that sees the downgrade sentinel in a TLS 1.2 ServerHello aborts with illegal_parameter', (t) => {
  // The server is forced to TLS 1.2 and a relay (or the server) sets the sentinel: a downgrade.
  const pair = new Pair({}, { maxVersion: 'TLSv1.2' }).start().serverRound();
  const forged = rewriteFirstMessage(pair.inbox.client.shift()!, (sh) => withRandomTail(sh, DOWNGRADE_TLS12));
  pair.input('client', { type: 'received', now: pair.now, data: forged });
  t.is(pair.closedError('client')?.alert, A.illegal_parameter);
  t.regex(pair.closedError('client')!.message, /downgrade sentinel/);
});

test('a TLS 1.2-only client ignores the sentinel (it is no downgrade for it)', (t) => {
  const pair = new Pair(TLS12, { maxVersion: 'TLSv1.2' }).start().serverRound();
  const forged = rewriteFirstMessage(pair.inbox.client.shift()!, (sh) => withRandomTail(sh, DOWNGRADE_TLS12));
  pair.input('client', { type: 'received', now: pair.now, data: forged });
  // Not refused at the ServerHello; the changed random then breaks the ServerKeyExchange signature.
  t.is(pair.closedError('client')?.alert, A.decrypt_error);
});

test('no version in common: protocol_version', (t) => {
  const a = new Pair({ minVersion: 'TLSv1.3' }, { maxVersion: 'TLSv1.2' }).start().drive();
  t.is(a.closedError('server')?.alert, A.protocol_version);
  const b = new Pair(TLS12, { minVersion: 'TLSv1.3' }).start().drive();
  t.is(b.closedError('server')?.alert, A.protocol_version);
});

test('a TLS 1.2-only client refuses a TLS 1.3 ServerHello (unoffered version)', (t) => {
  // A server that ignores what the client offered (a TLS 1.3 server answering a TLS 1.2 ClientHello): forge it
  // by handing the TLS 1.2-only client the answer a default client would get.
  const real = new Pair().start().serverRound();
  const pair = new Pair(TLS12).start();
  pair.input('client', { type: 'received', now: pair.now, data: real.inbox.client[0]! });
  t.is(pair.closedError('client')?.alert, A.illegal_parameter);
});

test('RFC 7507: TLS_FALLBACK_SCSV to a TLS 1.3-capable server is inappropriate_fallback', (t) => {
  const pair = new Pair(TLS12).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (ch) => {
    // Prepend 0x5600 to the cipher suites.
    let o = 4 + 2 + 32;
    o += 1 + ch[o]!;
    const n = (ch[o]! << 8) | ch[o + 1]!;
    const body = Buffer.concat([ch.subarray(4, o), Buffer.from([(n + 2) >> 8, (n + 2) & 0xff, 0x56, 0x00]), ch.subarray(o + 2)]);
    return Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
  });
  pair.input('server', { type: 'received', now: pair.now, data: hello });
  t.is(pair.closedError('server')?.alert, A.inappropriate_fallback);
});

test('minVersion / maxVersion: bad values and no suite for the range are API misuse', (t) => {
  t.throws(() => new Pair({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }), { instanceOf: TlsError });
  t.throws(() => new Pair({ maxVersion: 'TLSv1.2', cipherSuites: ['TLS_AES_128_GCM_SHA256'] }), { instanceOf: TlsError });
  t.throws(() => new Pair({ maxVersion: 'TLSv1.1' as 'TLSv1.2' }), { instanceOf: TlsError });
});

test('a TLS 1.3-only suite list keeps a client on TLS 1.3: no TLS 1.2 suites or extensions offered', (t) => {
  const pair = new Pair({ cipherSuites: ['TLS_AES_128_GCM_SHA256'] }, { maxVersion: 'TLSv1.2' }).start().drive();
  t.is(pair.closedError('server')?.alert, A.protocol_version);
});

// ---------------------------------------------------------------------------------------------------------------
// Extended master secret (RFC 7627) and renegotiation_info (RFC 5746)

const strip = (type: number) => (exts: { type: number; data: Uint8Array }[]) => exts.filter((e) => e.type !== type);

test('RFC 7627: a client without extended_master_secret gets handshake_failure', (t) => {
  const pair = new Pair(TLS12).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (ch) => editHelloExtensions(ch, strip(X.extended_master_secret)));
  pair.input('server', { type: 'received', now: pair.now, data: hello });
  t.is(pair.closedError('server')?.alert, A.handshake_failure);
  t.regex(pair.closedError('server')!.message, /extended master secret/);
});

test('RFC 7627: a server without extended_master_secret gets handshake_failure', (t) => {
  const pair = new Pair(TLS12).start().serverRound();
  const forged = rewriteFirstMessage(pair.inbox.client.shift()!, (sh) => editHelloExtensions(sh, strip(X.extended_master_secret)));
  pair.input('client', { type: 'received', now: pair.now, data: forged });
  t.is(pair.closedError('client')?.alert, A.handshake_failure);
});

test('requireExtendedMasterSecret: false: a server takes a ClientHello without it, and answers without it', (t) => {
  const pair = new Pair(TLS12, { requireExtendedMasterSecret: false, ticketer: createTicketer(ticketSecret) }).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (ch) => editHelloExtensions(ch, strip(X.extended_master_secret)));
  pair.input('server', { type: 'received', now: pair.now, data: hello });
  t.is(pair.closedError('server'), undefined);
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
  const sh = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body)[0]!;
  const types = helloExtensions(sh).map((e) => e.type);
  t.false(types.includes(X.extended_master_secret));
  // No ticket for a session without the extended master secret (RFC 7627 §5.3 would forbid resuming it anyway).
  t.false(types.includes(X.session_ticket));
});

test('requireExtendedMasterSecret: false: a client takes a ServerHello without it', (t) => {
  const pair = new Pair({ ...TLS12, requireExtendedMasterSecret: false }).start().serverRound();
  const forged = rewriteFirstMessage(pair.inbox.client.shift()!, (sh) => editHelloExtensions(sh, strip(X.extended_master_secret)));
  pair.input('client', { type: 'received', now: pair.now, data: forged });
  t.is(pair.closedError('client'), undefined);
  t.is(handshakePhase(pair.client.hs), 'expectChangeCipherSpec');
});

test('RFC 5746: a client with non-empty renegotiation_info in an initial handshake gets handshake_failure', (t) => {
  const pair = new Pair(TLS12).start();
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (ch) =>
    editHelloExtensions(ch, (exts) => exts.map((e) => (e.type === X.renegotiation_info ? { type: e.type, data: Uint8Array.of(1, 7) } : e))),
  );
  pair.input('server', { type: 'received', now: pair.now, data: hello });
  t.is(pair.closedError('server')?.alert, A.handshake_failure);
});

test('RFC 5746: a server without renegotiation_info, or with a non-empty one, gets handshake_failure', (t) => {
  for (const edit of [
    strip(X.renegotiation_info),
    (exts: { type: number; data: Uint8Array }[]) =>
      exts.map((e) => (e.type === X.renegotiation_info ? { type: e.type, data: Uint8Array.of(2, 1, 2) } : e)),
  ]) {
    const pair = new Pair(TLS12).start().serverRound();
    const forged = rewriteFirstMessage(pair.inbox.client.shift()!, (sh) => editHelloExtensions(sh, edit));
    pair.input('client', { type: 'received', now: pair.now, data: forged });
    t.is(pair.closedError('client')?.alert, A.handshake_failure);
  }
});

test('RFC 5746: the client signals with an empty renegotiation_info; the server answers with one', (t) => {
  const pair = new Pair(TLS12).start();
  const ch = splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!;
  pair.serverRound();
  const sh = splitMessages(splitRecords(pair.inbox.client[0]!)[0]!.body)[0]!;
  for (const msg of [ch, sh]) {
    const ri = helloExtensions(msg).find((e) => e.type === X.renegotiation_info);
    t.deepEqual(ri?.data, Uint8Array.of(0));
  }
});

/** Seal a handshake message with a side's TLS 1.2 write key, as if that side had sent it; advances the key. */
function inject(pair: Pair, from: 'client' | 'server', type: number, content: Uint8Array): Uint8Array {
  const state = pair[from] as TlsState & { txKey: NonNullable<TlsState['txKey']> };
  const sealed = sealRecord(state.txKey, type, content);
  pair[from] = { ...state, txKey: sealed.key } as TlsState;
  return sealed.bytes;
}

test('RFC 5746 §4.2: a HelloRequest is answered with a no_renegotiation warning and the connection goes on', (t) => {
  const pair = new Pair(TLS12).start().drive();
  const hr = inject(pair, 'server', 22, Uint8Array.of(0, 0, 0, 0));
  pair.input('client', { type: 'received', now: pair.now, data: hr });
  t.deepEqual(alertsSent(pair, 'client'), [{ level: AlertLevel.warning, description: A.no_renegotiation }]);
  pair.drive();
  t.is(pair.closedError('server'), undefined);
  t.is(pair.closedError('client'), undefined);
  exchange(t, pair);
});

test('RFC 5746 §4.4: a renegotiating ClientHello is answered with a no_renegotiation warning', (t) => {
  const pair = new Pair(TLS12).start();
  const ch = splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!;
  pair.drive();
  const again = inject(pair, 'client', 22, ch);
  pair.input('server', { type: 'received', now: pair.now, data: again });
  t.deepEqual(alertsSent(pair, 'server'), [{ level: AlertLevel.warning, description: A.no_renegotiation }]);
  pair.drive();
  t.is(pair.closedError('client'), undefined);
  exchange(t, pair);
});

test('too many warning alerts end a TLS 1.2 connection (unexpected_message)', (t) => {
  const pair = new Pair(TLS12).start().drive();
  for (let i = 0; i < 17; i++) pair.input('client', { type: 'received', now: pair.now, data: inject(pair, 'server', 21, Uint8Array.of(1, 100)) });
  t.is(pair.closedError('client')?.alert, A.unexpected_message);
});

// ---------------------------------------------------------------------------------------------------------------
// ChangeCipherSpec

test('a ChangeCipherSpec before the ClientKeyExchange is unexpected_message', (t) => {
  const pair = new Pair(TLS12).start().serverRound();
  t.is(handshakePhase(pair.server.hs), 'expectClientKeyExchange');
  pair.input('server', { type: 'received', now: pair.now, data: plainRecord(20, Uint8Array.of(1)) });
  t.is(pair.closedError('server')?.alert, A.unexpected_message);
});

test('a second ChangeCipherSpec, or a malformed one, is unexpected_message', (t) => {
  const pair = new Pair(TLS12).start().drive();
  pair.input('client', { type: 'received', now: pair.now, data: plainRecord(20, Uint8Array.of(1)) });
  t.is(pair.closedError('client')?.alert, A.unexpected_message);
  const p2 = new Pair(TLS12).start().serverRound();
  // The client's flight: […] ClientKeyExchange, CCS, Finished. Replace its CCS with a malformed one.
  p2.input('client', { type: 'received', now: p2.now, data: p2.inbox.client.shift()! });
  const flight = splitRecords(p2.inbox.server.shift()!);
  const bad = Buffer.concat(flight.map((r) => plainRecord(r.type, r.type === 20 ? Uint8Array.of(2) : r.body)));
  p2.input('server', { type: 'received', now: p2.now, data: bad });
  t.is(p2.closedError('server')?.alert, A.unexpected_message);
});

test('a handshake message split around the ChangeCipherSpec is unexpected_message', (t) => {
  const pair = new Pair(TLS12).start().serverRound();
  pair.input('client', { type: 'received', now: pair.now, data: pair.inbox.client.shift()! });
  const [cke, ccs] = splitRecords(pair.inbox.server.shift()!);
  // Half of the ClientKeyExchange, then the ChangeCipherSpec.
  pair.input('server', { type: 'received', now: pair.now, data: plainRecord(22, cke!.body.subarray(0, 10)) });
  pair.input('server', { type: 'received', now: pair.now, data: plainRecord(ccs!.type, ccs!.body) });
  t.is(pair.closedError('server')?.alert, A.unexpected_message);
});

// ---------------------------------------------------------------------------------------------------------------
// Tickets (RFC 5077)

function ticketServer(extra: Partial<TlsServerConfig> = {}): Partial<TlsServerConfig> {
  return { ticketer: createTicketer(ticketSecret), ...extra };
}

test('RFC 5077: a full handshake gives one session at completion; it resumes (abbreviated handshake) and is renewed', (t) => {
  const server = ticketServer();
  const first = new Pair(TLS12, server).start().drive();
  const [session] = sessionsOf(first);
  t.truthy(session);
  t.is(sessionsOf(first).length, 1);
  t.is(session!.psk.length, 48);
  t.is(session!.suite, 0xc02b);
  const again = new Pair({ ...TLS12, session }, server).start().drive();
  const info = handshakeInfo(again.client);
  t.truthy(info, again.closedError('client')?.message ?? again.closedError('server')?.message);
  t.true(info!.resumed);
  t.true(handshakeInfo(again.server)!.resumed);
  t.is(info!.peerCertificates.length, 0);
  t.is(info!.protocol, 'TLSv1.2');
  exchange(t, again);
  // The server renewed the ticket.
  const renewed = sessionsOf(again);
  t.is(renewed.length, 1);
  t.notDeepEqual(renewed[0]!.ticket, session!.ticket);
});

test('RFC 5077: resumption from a default (1.2..1.3) client with a TLS 1.2 session to a TLS 1.2 server', (t) => {
  const server = ticketServer({ maxVersion: 'TLSv1.2' });
  const [session] = sessionsOf(new Pair({}, server).start().drive());
  t.truthy(session);
  const again = new Pair({ session }, server).start().drive();
  t.true(handshakeInfo(again.client)?.resumed);
});

test('a TLS 1.2 session offered to a TLS 1.3 server: a full TLS 1.3 handshake', (t) => {
  const [session] = sessionsOf(new Pair(TLS12, ticketServer()).start().drive());
  const again = new Pair({ session }, ticketServer()).start().drive();
  const info = handshakeInfo(again.client)!;
  t.is(info.protocol, 'TLSv1.3');
  t.false(info.resumed);
});

test('a ticket from another ticketer, or an expired one: a full handshake', (t) => {
  const [session] = sessionsOf(new Pair(TLS12, ticketServer()).start().drive());
  const other = new Pair({ ...TLS12, session }, { ticketer: createTicketer(new Uint8Array(32).fill(1)) }).start().drive();
  t.false(handshakeInfo(other.client)!.resumed);
  exchange(t, other);
  const late = new Pair({ ...TLS12, session }, ticketServer());
  late.now = NOW + 3 * 3600_000;
  late.start().drive();
  t.false(handshakeInfo(late.client)!.resumed);
});

test('no ticketer, or no tickets wanted (pskModes: []): no session_ticket, no session', (t) => {
  t.is(sessionsOf(new Pair(TLS12, {}).start().drive()).length, 0);
  const pair = new Pair({ ...TLS12, pskModes: [] }, ticketServer()).start().drive();
  t.is(sessionsOf(pair).length, 0);
  t.is(handshakeInfo(pair.client)?.protocol, 'TLSv1.2');
});

test('a forged echo of the session ID without an offered ticket is illegal_parameter', (t) => {
  // The client's random 32-byte legacy_session_id (TLS 1.3 compatibility mode) echoed by a TLS 1.2 ServerHello.
  const pair = new Pair({}, { maxVersion: 'TLSv1.2' }).start();
  const ch = splitMessages(splitRecords(pair.inbox.server[0]!)[0]!.body)[0]!;
  const sid = ch.subarray(4 + 2 + 32 + 1, 4 + 2 + 32 + 1 + ch[4 + 2 + 32]!);
  pair.serverRound();
  const forged = rewriteFirstMessage(pair.inbox.client.shift()!, (sh) => {
    const o = 4 + 2 + 32;
    const body = Buffer.concat([sh.subarray(4, o), Buffer.from([sid.length]), sid, sh.subarray(o + 1 + sh[o]!)]);
    return Buffer.concat([Buffer.from([2, 0, body.length >> 8, body.length & 0xff]), body]);
  });
  pair.input('client', { type: 'received', now: pair.now, data: forged });
  t.is(pair.closedError('client')?.alert, A.illegal_parameter);
});

// ---------------------------------------------------------------------------------------------------------------
// Client certificates (RFC 5246 §7.4.4, §7.4.6, §7.4.8)

for (const cert of ['client', 'server-rsa', 'server-ed']) {
  test(`client certificate (${cert}) requested, sent, verified`, (t) => {
    const pair = new Pair(
      { ...TLS12, ...serverCredentials(cert) },
      { requestClientCertificate: true, requireClientCertificate: true, verifier: caVerifier() },
    )
      .start()
      .drive();
    const info = handshakeInfo(pair.server);
    t.truthy(info, pair.closedError('server')?.message ?? pair.closedError('client')?.message);
    t.is(info!.verification, 'ok');
    t.true(info!.peerCertificates.length > 0);
    exchange(t, pair);
  });
}

test('a required client certificate missing: handshake_failure (RFC 5246 §7.4.6)', (t) => {
  const pair = new Pair(TLS12, { requestClientCertificate: true, requireClientCertificate: true, verifier: caVerifier() }).start().drive();
  t.is(pair.closedError('server')?.alert, A.handshake_failure);
});

test('a requested but optional client certificate missing: the handshake completes', (t) => {
  const pair = new Pair(TLS12, { requestClientCertificate: true, verifier: caVerifier() }).start().drive();
  t.is(handshakeInfo(pair.server)?.verification, 'none');
  exchange(t, pair);
});

// ---------------------------------------------------------------------------------------------------------------
// Records: sizes, split and pipelined writes, asynchronous batches; key log; the close protocol

test('TLS 1.2 records: splitSendFragment cuts writes; 1 MiB each way arrives whole', (t) => {
  const pair = new Pair({ ...TLS12, splitSendFragment: 1000 }, { splitSendFragment: 3000 }).start().drive();
  const big = new Uint8Array(1 << 20).map((_, i) => i * 7);
  pair.input('client', { type: 'write', now: pair.now, data: big });
  pair.input('server', { type: 'write', now: pair.now, data: big });
  pair.drive();
  t.deepEqual(Buffer.concat(pair.delivered.server), Buffer.from(big));
  t.deepEqual(Buffer.concat(pair.delivered.client), Buffer.from(big));
  // Client records: 5-byte header + 8-byte explicit nonce + 1000 + 16-byte tag.
  const sizes = pair.effects.client.flatMap((e) => (e.type === 'transmit' ? splitRecords(e.data).map((r) => r.body.length) : []));
  t.true(sizes.includes(8 + 1000 + 16));
});

test('TLS 1.2 ChaCha20-Poly1305 records carry no explicit nonce (RFC 7905)', (t) => {
  const pair = new Pair({ ...TLS12, cipherSuites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'] }).start().drive();
  const before = pair.effects.client.length;
  pair.input('client', { type: 'write', now: pair.now, data: text('12345') });
  const sent = pair.effects.client.slice(before).find((e) => e.type === 'transmit');
  t.is(sent?.type === 'transmit' ? splitRecords(sent.data)[0]!.body.length : -1, 5 + 16);
});

test('TLS 1.2 asynchronous batches (asyncCrypto, maxPipelines): 256 KiB each way, completion order reversed', async (t) => {
  const provider = asyncNobleProvider('tls12-async');
  const pair = new Pair({ ...TLS12, provider, asyncCrypto: true, maxPipelines: 4, splitSendFragment: 4096 }, { provider, asyncCrypto: true, maxPipelines: 3 }).start();
  await pair.driveAsync();
  t.is(handshakeInfo(pair.client)?.protocol, 'TLSv1.2');
  const big = new Uint8Array(256 * 1024).map((_, i) => i * 13);
  pair.input('client', { type: 'write', now: pair.now, data: big });
  pair.input('server', { type: 'write', now: pair.now, data: big });
  await pair.driveAsync(true);
  t.deepEqual(Buffer.concat(pair.delivered.server), Buffer.from(big));
  t.deepEqual(Buffer.concat(pair.delivered.client), Buffer.from(big));
  t.true(provider.batches.some((n) => n > 1));
});

test('record_size_limit (RFC 8449) in TLS 1.2: the limit counts plaintext', (t) => {
  const pair = new Pair({ ...TLS12, recordSizeLimit: 512 }, { recordSizeLimit: 1024 }).start().drive();
  const before = pair.effects.server.length;
  pair.input('server', { type: 'write', now: pair.now, data: new Uint8Array(2000) });
  const sizes = pair.effects.server
    .slice(before)
    .flatMap((e) => (e.type === 'transmit' ? splitRecords(e.data).map((r) => r.body.length - 8 - 16) : []));
  t.deepEqual(sizes, [512, 512, 512, 464]);
  pair.drive();
  t.is(Buffer.concat(pair.delivered.client).length, 2000);
});

test('key log: one CLIENT_RANDOM line with the master secret, the same on both sides', (t) => {
  const pair = new Pair({ ...TLS12, keyLog: true }, { keyLog: true }).start().drive();
  const lines = (side: 'client' | 'server') =>
    pair.effects[side].flatMap((e: TlsEffect) => (e.type === 'keyLog' ? [`${e.label} ${Buffer.from(e.clientRandom).toString('hex')} ${Buffer.from(e.secret).toString('hex')}`] : []));
  t.is(lines('client').length, 1);
  t.regex(lines('client')[0]!, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/);
  t.deepEqual(lines('client'), lines('server'));
});

test('EOF without close_notify is unexpectedEof in TLS 1.2 too (truncation)', (t) => {
  const pair = new Pair(TLS12).start().drive();
  pair.input('client', { type: 'eof', now: pair.now });
  t.is(pair.closedError('client')?.kind, 'unexpectedEof');
});

test('KeyUpdate does not exist in TLS 1.2: API misuse', (t) => {
  const pair = new Pair(TLS12).start().drive();
  t.throws(() => handleEvents(pair.client, { type: 'keyUpdate', now: NOW, requestPeer: false }), { instanceOf: TlsError });
});

test('a tampered TLS 1.2 record is bad_record_mac; a tampered Finished is decrypt_error or bad_record_mac', (t) => {
  const pair = new Pair(TLS12).start().drive();
  pair.input('server', { type: 'write', now: pair.now, data: text('hello') });
  const rec = Uint8Array.from(pair.inbox.client.shift()!);
  rec[rec.length - 1]! ^= 1;
  pair.input('client', { type: 'received', now: pair.now, data: rec });
  t.is(pair.closedError('client')?.alert, A.bad_record_mac);
});

// ---------------------------------------------------------------------------------------------------------------
// Properties: random input in every TLS 1.2 phase never throws


/** Pairs stopped in each TLS 1.2 phase, and the side to feed. */
const PHASES: Record<string, () => { pair: Pair; side: 'client' | 'server' }> = {
  'client, expectCertificate12 (after the ServerHello)': () => {
    const pair = new Pair(TLS12).start().serverRound();
    const [first] = splitRecords(pair.inbox.client[0]!);
    const [sh] = splitMessages(first!.body);
    pair.input('client', { type: 'received', now: pair.now, data: plainRecord(22, sh!) });
    return { pair, side: 'client' };
  },
  'client, expectChangeCipherSpec': () => {
    const pair = new Pair(TLS12).start().serverRound();
    pair.input('client', { type: 'received', now: pair.now, data: pair.inbox.client.shift()! });
    return { pair, side: 'client' };
  },
  'server, expectClientKeyExchange': () => ({ pair: new Pair(TLS12).start().serverRound(), side: 'server' }),
  'server, expectClientCertificate12': () => ({
    pair: new Pair(TLS12, { requestClientCertificate: true, verifier: caVerifier() }).start().serverRound(),
    side: 'server',
  }),
  'client, connected': () => ({ pair: new Pair(TLS12).start().drive(), side: 'client' }),
  'server, connected': () => ({ pair: new Pair(TLS12).start().drive(), side: 'server' }),
};

for (const [name, make] of Object.entries(PHASES)) {
  test(`property: random records and bytes into a TLS 1.2 ${name} never throw`, (t) => {
    const { pair, side } = make();
    const start = pair[side];
    t.is(pair.closedError(side), undefined);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('plain', 'raw', 'sealed')), { maxLength: 6 }),
        (chunks) => {
          let st = start;
          for (const [c, kind] of chunks) {
            const type = c[0] === undefined ? 22 : 20 + (c[0] % 4);
            let data: Uint8Array = c;
            if (kind === 'plain') data = plainRecord(type, c.subarray(1));
            // Records under the peer's real key: authenticated garbage reaches the handshake and alert parsers.
            if (kind === 'sealed' && pair[side === 'client' ? 'server' : 'client'].txKey?.tls12) {
              data = sealRecord(pair[side === 'client' ? 'server' : 'client'].txKey!, type, c.subarray(1)).bytes;
            }
            const step = handleEvents(st, { type: 'received', now: NOW, data });
            st = step.state;
            for (const e of step.effects) if (e.type === 'closed' && e.error) t.true(e.error instanceof TlsError);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
}

test('property: bit flips anywhere in a TLS 1.2 server flight never throw', (t) => {
  const base = new Pair(TLS12).start().serverRound();
  const flight = Buffer.concat(base.inbox.client);
  fc.assert(
    fc.property(fc.nat({ max: flight.length * 8 - 1 }), (bit) => {
      const data = Uint8Array.from(flight);
      data[bit >> 3]! ^= 1 << (bit & 7);
      const step = handleEvents(base.client, { type: 'received', now: NOW, data });
      const closed = step.effects.find((e) => e.type === 'closed');
      if (closed?.type === 'closed') t.true(closed.error instanceof TlsError);
    }),
    { numRuns: 200 },
  );
});

test('RSASSA-PKCS1-v1_5: a client offering only rsa_pkcs1_* gets a PKCS#1 ServerKeyExchange, which verifies', (t) => {
  const pair = new Pair(TLS12, serverCredentials('server-rsa')).start();
  const pkcs1Only = Uint8Array.of(0, 6, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01);
  const hello = rewriteFirstMessage(pair.inbox.server.shift()!, (ch) =>
    editHelloExtensions(ch, (exts) => exts.map((e) => (e.type === X.signature_algorithms ? { type: e.type, data: pkcs1Only } : e))),
  );
  pair.input('server', { type: 'received', now: pair.now, data: hello });
  const flight = pair.inbox.client.shift()!;
  const ske = splitMessages(splitRecords(flight)[0]!.body).find((m) => m[0] === 12)!;
  // ServerECDHParams: curve_type (1), group (2), point (1 + 32 for X25519); then the scheme.
  const at = 4 + 1 + 2 + 1 + 32;
  t.is((ske[at]! << 8) | ske[at + 1]!, 0x0401);
  pair.input('client', { type: 'received', now: pair.now, data: flight });
  t.is(pair.closedError('client'), undefined);
  t.is(handshakePhase(pair.client.hs), 'expectChangeCipherSpec');
});
