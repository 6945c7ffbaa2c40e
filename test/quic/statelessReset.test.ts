/** Stateless reset (RFC 9000 §10.3): tokens, the packet a listener sends, and both ends detecting one. */
import test from 'ava';
import fc from 'fast-check';
import { nobleProvider as p } from '../../src/crypto/noble.js';
import { handleQuicEvents, isQuicConnected } from '../../src/quic/connection.js';
import { isStatelessReset, MIN_STATELESS_RESET, RESET_TOKEN_LENGTH, resetTokenFor, STATELESS_RESET_SIZE, statelessResetFor } from '../../src/quic/statelessReset.js';
import { QuicPair } from '../helpers/quicPair.js';

const KEY = new Uint8Array(32).fill(3);
const random = (n: number) => p.randomBytes(n);
const shortPacket = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0x41 : i & 0xff));

test('RFC 9000 §10.3.2: a token is 16 bytes of HMAC-SHA256 of the connection ID: the same for the same key and ID, else different', (t) => {
  const a = resetTokenFor(p, KEY, Uint8Array.of(1, 2, 3));
  t.is(a.length, RESET_TOKEN_LENGTH);
  t.deepEqual(a, resetTokenFor(p, KEY, Uint8Array.of(1, 2, 3)));
  t.notDeepEqual(a, resetTokenFor(p, KEY, Uint8Array.of(1, 2, 4)));
  t.notDeepEqual(a, resetTokenFor(p, new Uint8Array(32), Uint8Array.of(1, 2, 3)));
  t.deepEqual(a, p.hmac('sha256', KEY, Uint8Array.of(1, 2, 3)).subarray(0, 16));
});

test('RFC 9000 §10.3, §10.3.3: a reset reads as a short header, ends in the token, is smaller than what drew it and at least 21 bytes; never for a long header', (t) => {
  const dcid = Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9);
  const reset = statelessResetFor(p, KEY, shortPacket(1200), dcid, random)!;
  t.is(reset.length, STATELESS_RESET_SIZE);
  t.is(reset[0]! & 0xc0, 0x40, 'header form 0, fixed bit 1');
  t.deepEqual(reset.subarray(reset.length - 16), resetTokenFor(p, KEY, dcid));
  t.true(isStatelessReset(reset, [resetTokenFor(p, KEY, dcid)]));
  t.is(statelessResetFor(p, KEY, shortPacket(30), dcid, random)!.length, 29, '43 bytes or fewer: one byte fewer');
  t.is(statelessResetFor(p, KEY, shortPacket(MIN_STATELESS_RESET), dcid, random), undefined, 'nothing smaller than 21 bytes is sent');
  const long = shortPacket(1200);
  long[0] = 0xc1;
  t.is(statelessResetFor(p, KEY, long, dcid, random), undefined);
  t.false(isStatelessReset(reset.subarray(reset.length - 20), [resetTokenFor(p, KEY, dcid)]), 'under 21 bytes is never a reset');
});

test('RFC 9000 §10.3.3: two endpoints answering each other\'s resets with resets stop: each is smaller than the last (property)', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1500 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), (size, dcid) => {
        let packet: Uint8Array | undefined = shortPacket(size);
        let rounds = 0;
        for (; packet; rounds++) {
          const next = statelessResetFor(p, KEY, packet, dcid, random);
          if (next && (next.length >= packet.length || next.length < MIN_STATELESS_RESET)) return false;
          packet = next;
        }
        return rounds <= STATELESS_RESET_SIZE - MIN_STATELESS_RESET + 2;
      }),
    ),
  );
});

test('RFC 9000 §10.3.1: a client that gets a reset with the server\'s token closes at once with a typed error and sends nothing more', (t) => {
  const pair = new QuicPair().start().settle();
  const server = pair.state.server;
  // The server lost the connection; its listener answers the client's next packet (to its current DCID).
  const trigger = pair.forge('client', [{ type: 'ping' }, { type: 'padding', length: 100 }]);
  const reset = statelessResetFor(p, server.config.statelessResetKey, trigger, pair.state.client.dcid, random)!;
  const out = pair.input('client', { type: 'datagram', now: pair.now, data: reset });
  t.deepEqual(
    out.map((e) => e.type),
    ['closed'],
    'no CONNECTION_CLOSE, nothing at all',
  );
  t.like(pair.closed('client')?.error?.detail, { kind: 'statelessReset' });
  t.is(pair.state.client.phase, 'closed');
  t.deepEqual(handleQuicEvents(pair.state.client, { type: 'timeout', now: pair.now + 10_000 }).effects, []);
});

test('RFC 9000 §10.3.1: a server detects a reset with the token of a client ID it uses (from a NEW_CONNECTION_ID), not of one it has not used', (t) => {
  const pair = new QuicPair().start().settle();
  const issued = pair.state.client.cids.issued.find((e) => e.sequence === 1)!;
  const reset = statelessResetFor(p, pair.state.client.config.statelessResetKey, shortPacket(100), issued.id, random)!;
  // The client's first ID carries no token (§18.2) and the server has not used ID 1 yet: no reset to check.
  t.deepEqual(pair.input('server', { type: 'datagram', now: pair.now, data: reset }), []);
  // Once the server sends to ID 1 (as after a migration), its token is checked.
  pair.state.server = { ...pair.state.server, cids: { ...pair.state.server.cids, active: 1 } };
  const out = pair.input('server', { type: 'datagram', now: pair.now, data: reset });
  t.deepEqual(
    out.map((e) => e.type),
    ['closed'],
  );
  t.like(pair.closed('server')?.error?.detail, { kind: 'statelessReset' });
});

test('RFC 9000 §10.3.1: what is not a reset changes nothing: another token, a packet that authenticates, a token of ours', (t) => {
  const pair = new QuicPair().start().settle();
  const c = pair.state.client;
  const other = statelessResetFor(p, new Uint8Array(32), shortPacket(100), c.dcid, random)!;
  t.deepEqual(pair.input('client', { type: 'datagram', now: pair.now, data: other }), []);
  // Our own token (the client's) is not the peer's.
  const own = statelessResetFor(p, c.config.statelessResetKey, shortPacket(100), c.cids.issued[1]!.id, random)!;
  t.deepEqual(pair.input('client', { type: 'datagram', now: pair.now, data: own }), []);
  t.true(isQuicConnected(pair.state.client));
  // A packet that authenticates is a packet: it is never taken for a reset.
  pair.input('client', { type: 'datagram', now: pair.now, data: pair.forge('server', [{ type: 'ping' }]) });
  t.true(isQuicConnected(pair.state.client));
});
