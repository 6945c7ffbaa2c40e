/** Address validation tokens (RFC 9000 §8.1.3): the NEW_TOKEN token, and NEW_TOKEN in the reducer. */
import test from 'ava';
import fc from 'fast-check';
import { nobleProvider as p } from '../../src/crypto/noble.js';
import { openRetryToken, sealRetryToken } from '../../src/quic/retry.js';
import { acceptNewToken, NEW_TOKEN_LIFETIME, sealNewToken, tokenType, TokenType } from '../../src/quic/tokens.js';
import { decodePacketHeader } from '../../src/wire/quic/packet.js';
import { NOW } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';
import { framesOf, recordPackets } from '../helpers/quicFrames.js';

test('RFC 9000 §8.1.3: a NEW_TOKEN token opens for its IP address within its lifetime; not for another address, later, tampered, or another key (property)', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.integer({ min: 0, max: 2 ** 50 }), fc.nat(40), (key, nonce, at, flip) => {
        const token = sealNewToken(p, key, nonce, '192.0.2.7', at);
        if (token.length !== 37 || tokenType(token) !== TokenType.newToken) return false;
        if (!acceptNewToken(p, key, token, '192.0.2.7', at + NEW_TOKEN_LIFETIME)) return false;
        if (acceptNewToken(p, key, token, '192.0.2.8', at)) return false;
        if (acceptNewToken(p, key, token, '192.0.2.7', at + NEW_TOKEN_LIFETIME + 1)) return false;
        if (acceptNewToken(p, p.randomBytes(16), token, '192.0.2.7', at)) return false;
        const bad = token.slice();
        bad[flip % bad.length]! ^= 1;
        return !acceptNewToken(p, key, bad, '192.0.2.7', at);
      }),
    ),
  );
});

test('RFC 9000 §8.1.3: Retry and NEW_TOKEN tokens cannot pass for each other, even with the type byte changed', (t) => {
  const key = p.randomBytes(16);
  const retry = sealRetryToken(p, key, p.randomBytes(12), '192.0.2.7', { originalDcid: p.randomBytes(8), retryScid: p.randomBytes(8), issuedAt: NOW });
  const fresh = sealNewToken(p, key, p.randomBytes(12), '192.0.2.7', NOW);
  t.is(tokenType(retry), TokenType.retry);
  t.false(acceptNewToken(p, key, retry, '192.0.2.7', NOW));
  t.is(openRetryToken(p, key, fresh, '192.0.2.7', NOW), null);
  const relabelled = retry.slice();
  relabelled[0] = TokenType.newToken;
  t.false(acceptNewToken(p, key, relabelled, '192.0.2.7', NOW), 'the type is authenticated');
  const relabelledNew = fresh.slice();
  relabelledNew[0] = TokenType.retry;
  t.is(openRetryToken(p, key, relabelledNew, '192.0.2.7', NOW), null);
});

test('RFC 9000 §19.7: the server sends its NEW_TOKEN after the handshake; the client reports it and puts a token it is given in its first Initial', (t) => {
  const issue = Uint8Array.from({ length: 37 }, (_, i) => i + 1);
  const pair = new QuicPair({}, { newToken: { issue } });
  const wire = recordPackets(pair);
  pair.start().drive(NOW + 1_000);
  t.deepEqual(framesOf(wire.server, 'newToken').map((f) => f.token), [issue]);
  t.deepEqual(pair.effects.client.filter((e) => e.type === 'newToken'), [{ type: 'newToken', token: issue }]);
  // The next connection: the token goes in the client's first Initial.
  const next = new QuicPair({ token: issue }).start();
  const first = decodePacketHeader(next.datagrams.client[0]!, 0, 8);
  t.true(first.form === 'long' && first.type === 'initial' && Buffer.from(first.token).equals(issue));
});

test('RFC 9000 §8.1.3: a server whose client came with a valid NEW_TOKEN token (config `validated`) is not held to 3× what it received', (t) => {
  for (const validated of [false, true]) {
    const pair = new QuicPair({}, { newToken: { validated } });
    pair.drop = (from, n) => from === 'client' && n > 0; // only the client's first Initial arrives
    pair.start().drive(NOW + 5_000); // the server probes again and again (RFC 9002 §6.2), within its allowance
    const sent = pair.datagrams.server.reduce((n, d) => n + d.length, 0);
    if (validated) t.true(sent > 3 * 1200, `${sent} B sent with the address validated`);
    else t.true(sent <= 3 * 1200, `${sent} B sent to an unvalidated address`);
  }
});

test('RFC 9000 §19.7: a client that sends NEW_TOKEN draws PROTOCOL_VIOLATION from the server', (t) => {
  const pair = new QuicPair().start().drive(NOW + 1_000);
  // The client's reducer never sends one: the frame is put in its queue by hand.
  pair.state.client.spaces.application.queue.push({ type: 'newToken', token: Uint8Array.of(1, 2, 3) });
  pair.input('client', { type: 'timeout', now: pair.now });
  pair.drive(pair.now + 1_000);
  const closed = pair.closed('server');
  t.is(closed?.error?.detail.kind, 'quicClose');
  t.is(closed?.error?.detail.kind === 'quicClose' ? closed.error.detail.code : undefined, 0x0an);
});
