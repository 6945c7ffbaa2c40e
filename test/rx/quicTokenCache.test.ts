/** The client's NEW_TOKEN cache: single use, newest first, bounded per server and in servers. */
import test from 'ava';
import { createQuicTokenCache } from '../../src/rx/quicTokenCache.js';

test('QUIC token cache: take hands out the newest token once (RFC 9000 §8.1.3: no reuse); at most perServer kept', (t) => {
  const c = createQuicTokenCache({ perServer: 2 });
  for (const n of [1, 2, 3]) c.put('a:443', Uint8Array.of(n));
  t.deepEqual(c.take('a:443'), Uint8Array.of(3));
  t.deepEqual(c.take('a:443'), Uint8Array.of(2));
  t.is(c.take('a:443'), undefined, 'the oldest was dropped, and each token is used once');
});

test('QUIC token cache: the least recently used server is evicted past max; bad sizes are a RangeError', (t) => {
  const c = createQuicTokenCache({ max: 2 });
  c.put('a', Uint8Array.of(1));
  c.put('b', Uint8Array.of(2));
  c.put('a', Uint8Array.of(3)); // a is now the most recent
  c.put('c', Uint8Array.of(4));
  t.is(c.take('b'), undefined);
  t.deepEqual(c.take('a'), Uint8Array.of(3));
  t.deepEqual(c.take('c'), Uint8Array.of(4));
  t.throws(() => createQuicTokenCache({ max: 0 }), { instanceOf: RangeError });
  t.throws(() => createQuicTokenCache({ perServer: 1.5 }), { instanceOf: RangeError });
});
