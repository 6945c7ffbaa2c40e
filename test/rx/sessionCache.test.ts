import test from 'ava';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import type { TlsSession } from '../../src/handshake/session.js';

const session = (serverName: string): TlsSession => ({
  serverName,
  suite: 0x1301,
  psk: new Uint8Array(32),
  ticket: new Uint8Array(16),
  ageAdd: 0,
  lifetime: 7200,
  receivedAt: 0,
  maxEarlyData: 0,
});

test('createSessionCache is a bounded LRU: get refreshes, the least recently used is evicted, delete removes', (t) => {
  const cache = createSessionCache({ max: 2 });
  const a = session('a');
  const b = session('b');
  const c = session('c');
  cache.set('a:443', a);
  cache.set('b:443', b);
  t.is(cache.get('a:443'), a); // a is now the most recent
  cache.set('c:443', c); // evicts b
  t.is(cache.get('b:443'), undefined);
  t.is(cache.get('a:443'), a);
  t.is(cache.get('c:443'), c);
  cache.set('a:443', b); // replace
  t.is(cache.get('a:443'), b);
  cache.delete('a:443');
  t.is(cache.get('a:443'), undefined);
  t.throws(() => createSessionCache({ max: 0 }), { instanceOf: RangeError });
});
