/**
 * Path validation and connection migration (RFC 9000 §8.2, §9) in virtual time: a server following its client
 * to a new address (NAT rebinding), a client migrating on request, probes from other addresses, and a failed
 * validation. Addresses are modelled by `QuicPair.address`: datagrams sent to an address the receiver left are lost.
 */
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import { handleQuicEvents, type QuicState } from '../../src/quic/connection.js';
import { unprotectPacket } from '../../src/quic/protection.js';
import { initialRtt, newCongestion } from '../../src/quic/recovery.js';
import { AMPLIFICATION_FACTOR, DATAGRAM_SIZE } from '../../src/quic/builder.js';
import { decodeFrames } from '../../src/wire/quic/frames.js';
import { QuicPair } from '../helpers/quicPair.js';

const SIZE = 300_000;
const body = Uint8Array.from({ length: SIZE }, (_, i) => (i * 7) & 0xff);

/** A connected pair with addresses, 10 ms apart. */
function connected(client: string) {
  const pair = new QuicPair();
  pair.address.client = client;
  pair.address.server = '198.51.100.1:443';
  pair.latency = 10;
  pair.start().drive(pair.now + 1_000, () => pair.state.client.spaces.handshake.discarded);
  // Until a new path is validated, the server sends at most 3× what it received there (RFC 9000 §8.1, §9.3).
  pair.observe = (side, s) => {
    if (side === 'server' && !s.addressValidated && s.bytesSent > AMPLIFICATION_FACTOR * s.bytesReceived) throw new Error(`amplification: ${s.bytesSent} sent for ${s.bytesReceived}`);
  };
  return pair;
}

/** The client uploads `body` on stream 0 (so it keeps sending, from whatever address it has). */
function upload(client = '192.0.2.1:5000') {
  const pair = connected(client);
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: body });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  return pair;
}

/** The server sends `body` on stream 0 once the client asks. */
function download(client = '192.0.2.1:5000') {
  const pair = connected(client);
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new TextEncoder().encode('GET') });
  pair.drive(pair.now + 100, () => pair.bytes('server', 0) > 0);
  pair.input('server', { type: 'write', now: pair.now, stream: 0, data: body });
  pair.input('server', { type: 'end', now: pair.now, stream: 0 });
  return pair;
}

const received = (pair: QuicPair, side: 'client' | 'server' = 'client') => Buffer.concat(pair.delivered[side].get(0) ?? []);
const pathChanges = (pair: QuicPair) => pair.effects.server.flatMap((e) => (e.type === 'pathChanged' ? [e.address] : []));

/** Drive until the server changes path; its state at that step. */
function untilSwitch(pair: QuicPair, count = 1): QuicState | undefined {
  let at: QuicState | undefined;
  pair.drive(pair.now + 10_000, () => (at = pathChanges(pair).length >= count ? pair.state.server : undefined) !== undefined);
  return at;
}

test('RFC 9000 §9.3: NAT rebinding (a new port) mid-transfer: the server follows, validates the path, uses a new connection ID; the upload completes whole', (t) => {
  const pair = upload();
  pair.drive(pair.now + 10_000, () => pair.bytes('server', 0) > SIZE / 4);
  const oldDcid = pair.state.server.dcid;
  const rttBefore = pair.state.server.rtt;
  pair.address.client = '192.0.2.1:6000';
  const atSwitch = untilSwitch(pair);
  t.truthy(atSwitch, 'the server moved');
  t.false(atSwitch!.addressValidated, 'the new path starts unvalidated');
  t.is(atSwitch!.path.challenges.length, 1, 'one PATH_CHALLENGE outstanding');
  t.deepEqual(atSwitch!.rtt, rttBefore, 'only the port changed: RTT and congestion state kept (§9.4)');
  t.false(Buffer.from(atSwitch!.dcid).equals(oldDcid), 'a new connection ID toward the client (§9.5)');
  pair.drive(pair.now + 60_000, () => pair.bytes('server', 0) >= SIZE);
  t.true(received(pair, 'server').equals(body), 'the whole body, in order');
  t.deepEqual(pathChanges(pair), ['192.0.2.1:6000']);
  t.true(pair.state.server.addressValidated, 'validated by the PATH_RESPONSE');
  t.deepEqual(pair.state.server.path.challenges, []);
  t.true(pair.misaddressed.client > 0, 'datagrams to the old port were lost');
  // The client was told to retire the ID the server left.
  pair.drive(pair.now + 1_000);
  t.false(pair.state.client.cids.issued.some((e) => Buffer.from(e.id).equals(oldDcid)));
  t.true(pair.effects.client.some((e) => e.type === 'connectionIdRetired' && Buffer.from(e.id).equals(oldDcid)));
});

test('RFC 9000 §9.3: NAT rebinding during a download: the client\'s next packet (a new request) moves the server; the download completes', (t) => {
  const pair = download();
  pair.drive(pair.now + 10_000, () => pair.bytes('client', 0) > SIZE / 4);
  pair.address.client = '192.0.2.1:6000';
  pair.input('client', { type: 'write', now: pair.now, stream: 4, data: new TextEncoder().encode('GET 2') });
  t.truthy(untilSwitch(pair));
  pair.drive(pair.now + 60_000, () => pair.bytes('client', 0) >= SIZE);
  t.true(received(pair).equals(body));
  t.true(pair.state.server.addressValidated);
});

test('RFC 9000 §9.4: a client on a new network (another host): the server resets congestion control and RTT for the new path', (t) => {
  const pair = upload();
  pair.drive(pair.now + 10_000, () => pair.bytes('server', 0) > SIZE / 4);
  t.notDeepEqual(pair.state.server.rtt, initialRtt(), 'an RTT was measured');
  pair.address.client = '203.0.113.9:5000';
  const atSwitch = untilSwitch(pair);
  t.deepEqual(atSwitch!.rtt, initialRtt());
  t.is(atSwitch!.cc.window, newCongestion(DATAGRAM_SIZE).window, 'the initial window');
  pair.drive(pair.now + 60_000, () => pair.bytes('server', 0) >= SIZE);
  t.true(received(pair, 'server').equals(body));
});

test('RFC 9000 §9.2: the client migrates on request: a new connection ID of the server\'s, a PATH_CHALLENGE answered; the download completes', (t) => {
  const pair = download();
  pair.drive(pair.now + 10_000, () => pair.bytes('client', 0) > SIZE / 3);
  const oldDcid = pair.state.client.dcid;
  pair.address.client = '192.0.2.1:7000';
  pair.input('client', { type: 'migrate', now: pair.now });
  t.false(Buffer.from(pair.state.client.dcid).equals(oldDcid), 'a fresh connection ID for the new path');
  t.is(pair.state.client.path.challenges.length, 1);
  pair.drive(pair.now + 60_000, () => pair.bytes('client', 0) >= SIZE);
  t.true(received(pair).equals(body));
  t.deepEqual(pair.state.client.path.challenges, [], 'the server answered');
  t.deepEqual(pathChanges(pair), ['192.0.2.1:7000'], 'and followed');
  t.true(pair.effects.server.some((e) => e.type === 'connectionIdRetired' && Buffer.from(e.id).equals(oldDcid)), 'the old ID retired');
});

test('RFC 9000 §9: migrate is API misuse on a server, before the handshake is confirmed, or after disable_active_migration', (t) => {
  const pair = new QuicPair().start();
  t.throws(() => handleQuicEvents(pair.state.client, { type: 'migrate', now: pair.now }), { instanceOf: TlsError, message: /confirmed/ });
  pair.settle();
  t.throws(() => handleQuicEvents(pair.state.server, { type: 'migrate', now: pair.now }), { instanceOf: TlsError, message: /only a client/ });
  const params = { ...pair.state.client.peerParams!, disableActiveMigration: true };
  t.throws(() => handleQuicEvents({ ...pair.state.client, peerParams: params }, { type: 'migrate', now: pair.now }), { instanceOf: TlsError, message: /disable_active_migration/ });
});

test('RFC 9000 §8.2.2, §9.1: a probe from another address is answered there (PATH_RESPONSE, ≤ 3× its size) and moves nothing', (t) => {
  const pair = new QuicPair();
  pair.address.client = '192.0.2.1:5000';
  pair.start().settle();
  const data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  const probe = pair.forge('client', [{ type: 'pathChallenge', data }, { type: 'padding', length: 60 }]);
  const out = pair.input('server', { type: 'datagram', now: pair.now, data: probe, from: '192.0.2.77:9' });
  const answers = out.filter((e) => e.type === 'transmitTo');
  t.is(answers.length, 1);
  const answer = answers[0]!;
  if (answer.type !== 'transmitTo') return t.fail();
  t.is(answer.address, '192.0.2.77:9');
  t.true(answer.data.length <= AMPLIFICATION_FACTOR * probe.length);
  const c = pair.state.client;
  const opened = unprotectPacket(c.config.provider, c.spaces.application.rx!, answer.data, 1 + 8, c.spaces.application.largestRx);
  t.like(decodeFrames(opened!.payload, 'oneRtt')[0], { type: 'pathResponse', data });
  t.is(pair.state.server.path.address, '192.0.2.1:5000', 'still the old path');
  t.false(out.some((e) => e.type === 'pathChanged'));
  t.deepEqual(pair.state.server.pathResponses, [], 'nothing answered on the current path');
});

test('RFC 9000 §8.2.4, §9.3.2: a new address that never answers the PATH_CHALLENGE: the server gives up and goes back to the old one', (t) => {
  const pair = upload();
  pair.drive(pair.now + 10_000, () => pair.bytes('server', 0) > SIZE / 4);
  // The client's datagrams show up from elsewhere for a moment (a spoofed or short-lived address); then it is
  // silent until the server's validation times out: the PATH_CHALLENGEs to the new address go nowhere.
  pair.address.client = '192.0.2.1:6000';
  t.truthy(untilSwitch(pair));
  pair.address.client = '192.0.2.1:5000';
  const silentUntil = pair.now + 5_000;
  pair.drop = (from) => from === 'client' && pair.now < silentUntil;
  pair.drive(silentUntil, () => pathChanges(pair).length > 1);
  t.deepEqual(pathChanges(pair), ['192.0.2.1:6000', '192.0.2.1:5000'], 'back to the validated path');
  t.true(pair.state.server.addressValidated);
  t.deepEqual(pair.state.server.path.challenges, []);
  pair.drop = () => false;
  pair.drive(pair.now + 60_000, () => pair.bytes('server', 0) >= SIZE);
  t.true(received(pair, 'server').equals(body));
});
