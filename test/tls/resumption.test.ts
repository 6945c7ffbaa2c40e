import test from 'ava';
import { Pair, NOW, text, str } from '../helpers/pair.js';
import { handshakeInfo } from '../../src/tls/connection.js';
import { createAntiReplay, createTicketer, decodeSession, encodeSession, type Ticketer } from '../../src/handshake/session.js';
import { MAX_PSK_IDENTITIES_TRIED } from '../../src/handshake/tls13/server.js';
import { plainRecord } from '../../src/tls/record.js';
import { decodeHandshakeBytes, encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';
import { TICKET_SECRET, capturedEarlyFlight, serverCfg, sessionsFrom } from '../helpers/tls13Wire.js';

test('the server issues two tickets; the client turns them into sessions', (t) => {
  const sessions = sessionsFrom(serverCfg());
  t.is(sessions.length, 2);
  t.is(sessions[0]!.serverName, 'localhost');
  t.is(sessions[0]!.psk.length, 32);
  t.notDeepEqual(sessions[0]!.psk, sessions[1]!.psk);
});

test('no tickets without a ticketer', (t) => {
  t.is(sessionsFrom({}).length, 0);
});

test('psk_dhe_ke resumption: no certificate, resumed, data flows', (t) => {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  const pair = new Pair({ session }, server).start().drive();
  const info = handshakeInfo(pair.client)!;
  t.truthy(info, pair.closedError('client')?.message);
  t.true(info.resumed);
  t.true(handshakeInfo(pair.server)!.resumed);
  t.is(info.peerCertificates.length, 0);
  t.is(info.group, 'X25519');
  pair.input('client', { type: 'write', now: pair.now, data: text('again') });
  pair.drive();
  t.is(str(pair.delivered.server), 'again');
  // A resumed connection issues fresh tickets too.
  t.is(pair.of('client', 'session').length, 2);
});

test('psk_ke resumption (no key exchange) when both sides allow it', (t) => {
  const server = serverCfg({ pskModes: ['psk_ke'] });
  const [session] = sessionsFrom(server, { pskModes: ['psk_ke', 'psk_dhe_ke'] });
  const pair = new Pair({ session, pskModes: ['psk_ke'] }, server).start().drive();
  const info = handshakeInfo(pair.client)!;
  t.true(info.resumed);
  t.is(info.group, undefined);
});

test('a ticket is accepted once: the second use falls back to a full handshake', (t) => {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  const a = new Pair({ session }, server).start().drive();
  t.true(handshakeInfo(a.client)!.resumed);
  const b = new Pair({ session }, server).start().drive();
  t.false(handshakeInfo(b.client)!.resumed);
  t.is(handshakeInfo(b.client)!.verification, 'ok');
});

test('a ticket from another server key is ignored (full handshake)', (t) => {
  const [session] = sessionsFrom(serverCfg());
  const other = { ticketer: createTicketer(new Uint8Array(32).fill(9)), antiReplay: createAntiReplay() };
  const pair = new Pair({ session }, other).start().drive();
  t.false(handshakeInfo(pair.client)!.resumed);
});

test('an expired session is not offered', (t) => {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  const pair = new Pair({ session }, server);
  pair.now = NOW + session!.lifetime * 1000 + 1;
  pair.start().drive();
  t.false(handshakeInfo(pair.client)!.resumed);
});

test('a tampered binder aborts with decrypt_error', (t) => {
  const server = serverCfg();
  const [session] = sessionsFrom(server);
  // Another PSK with the same ticket: the binder cannot verify.
  const forged = { ...session!, psk: new Uint8Array(32).fill(1) };
  const pair = new Pair({ session: forged }, server).start().drive();
  t.is(pair.closedError('server')?.alert, AlertDescription.decrypt_error);
});

test('resumption after HelloRetryRequest', (t) => {
  const server = serverCfg({ groups: ['secp256r1'] });
  const [session] = sessionsFrom(server, { groups: ['x25519', 'secp256r1'] });
  const pair = new Pair({ session, groups: ['x25519', 'secp256r1'] }, server).start().drive();
  const info = handshakeInfo(pair.client)!;
  t.truthy(info, pair.closedError('server')?.message ?? pair.closedError('client')?.message);
  t.true(info.resumed);
  t.true(info.helloRetry);
});

test('0-RTT accepted: early data arrives before the handshake completes', (t) => {
  const server = serverCfg({ maxEarlyData: 16384 });
  const [session] = sessionsFrom(server);
  t.is(session!.maxEarlyData, 16384);
  const pair = new Pair({ session, earlyData: true }, server);
  pair.input('server', { type: 'start', now: pair.now });
  pair.input('client', { type: 'start', now: pair.now });
  pair.input('client', { type: 'write', now: pair.now, data: text('early hello') });
  pair.serverRound();
  // The server delivered the early data before it saw the client Finished.
  t.is(str(pair.delivered.server), 'early hello');
  t.is(handshakeInfo(pair.server), undefined);
  pair.drive();
  t.is(handshakeInfo(pair.client)!.earlyData, 'accepted');
  t.is(handshakeInfo(pair.server)!.earlyData, 'accepted');
  const ev = pair.of('client', 'earlyData')[0];
  t.true(ev?.type === 'earlyData' && ev.accepted);
  pair.input('client', { type: 'write', now: pair.now, data: text(' and more') });
  pair.drive();
  t.is(str(pair.delivered.server), 'early hello and more');
});

test('0-RTT rejected (server refuses early data): reported with the bytes, skipped by the server', (t) => {
  const server = serverCfg({ maxEarlyData: 16384 });
  const [session] = sessionsFrom(server);
  const refusing = { ...server, maxEarlyData: 0 };
  const pair = new Pair({ session, earlyData: true }, refusing);
  pair.input('server', { type: 'start', now: pair.now });
  pair.input('client', { type: 'start', now: pair.now });
  pair.input('client', { type: 'write', now: pair.now, data: text('early hello') });
  pair.drive();
  const info = handshakeInfo(pair.client)!;
  t.truthy(info, pair.closedError('server')?.message);
  t.true(info.resumed);
  t.is(info.earlyData, 'rejected');
  const ev = pair.of('client', 'earlyData')[0];
  t.true(ev?.type === 'earlyData' && !ev.accepted && Buffer.from(ev.rejected!).toString() === 'early hello');
  t.is(pair.delivered.server.length, 0);
});

test('0-RTT replay: the same ClientHello and early data replayed is not accepted twice', (t) => {
  const { pair, captured, replay } = capturedEarlyFlight(serverCfg({ maxEarlyData: 16384 }), 'pay 100');
  t.is(str(pair.delivered.server), 'pay 100');
  // An attacker replays the captured flight to a fresh server connection sharing the anti-replay store.
  for (const d of captured) replay.input('server', { type: 'received', now: replay.now, data: d });
  t.is(replay.delivered.server.length, 0);
});

test('session serialisation round-trips', (t) => {
  const [session] = sessionsFrom(serverCfg({ alpnProtocols: ['h2'] }), { alpnProtocols: ['h2'] });
  const back = decodeSession(encodeSession(session!));
  t.deepEqual(back, session);
});

test('a ClientHello with 100 PSK identities: the server tries the first 16 tickets only, then completes a full handshake', (t) => {
  const ticketer = createTicketer(TICKET_SECRET);
  let opened = 0;
  const counting: Ticketer = { ...ticketer, open: (...args) => (opened++, ticketer.open(...args)) };
  const server = serverCfg({ ticketer: counting });
  const [session] = sessionsFrom(server);
  opened = 0;
  const pair = new Pair({ session }, server).start();
  const record = pair.inbox.server.splice(0)[0]!;
  const hello = decodeHandshakeBytes(record.subarray(5));
  if (hello.type !== 'client_hello' || !hello.body.extensions.preSharedKey) return t.fail('a ClientHello offering the session');
  const real = hello.body.extensions.preSharedKey.identities[0]!;
  // Forged identities in the current ticket period (so each is decrypted), the real ticket at index 50.
  const period = Math.floor(pair.now / 3_600_000);
  const forged = (i: number) => ({ identity: Uint8Array.from([period >>> 24, (period >>> 16) & 0xff, (period >>> 8) & 0xff, period & 0xff, ...new Uint8Array(60).fill(i)]), obfuscatedTicketAge: 0 });
  const identities = Array.from({ length: 100 }, (_, i) => (i === 50 ? real : forged(i)));
  const flooded = { ...hello, body: { ...hello.body, extensions: { ...hello.body.extensions, preSharedKey: { identities, binders: identities.map(() => new Uint8Array(32)) } } } };
  pair.input('server', { type: 'received', now: pair.now, data: plainRecord(22, encodeHandshakeBytes(flooded)) });
  t.is(opened, MAX_PSK_IDENTITIES_TRIED, 'tickets decrypted');
  t.is(pair.closedError('server'), undefined);
  const answer = decodeHandshakeBytes(pair.inbox.client[0]!.subarray(5, 5 + ((pair.inbox.client[0]![3]! << 8) | pair.inbox.client[0]![4]!)));
  t.true(answer.type === 'server_hello' && answer.body.extensions.preSharedKey === undefined, 'a full handshake: no PSK selected');
});
