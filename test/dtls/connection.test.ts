import test from 'ava';
import { DtlsPair } from '../helpers/dtlsPair.js';
import { isDtlsConnected, dtlsStats } from '../../src/dtls/connection.js';
import { text, str } from '../helpers/pair.js';

test('DTLS 1.3 handshake completes and data flows both ways', (t) => {
  const p = new DtlsPair();
  p.start();
  p.run();
  t.true(isDtlsConnected(p.client), p.types('client').join(','));
  t.true(isDtlsConnected(p.server), p.types('server').join(','));
  p.input('client', { type: 'write', data: text('hello') });
  p.input('server', { type: 'write', data: text('world') });
  p.run();
  t.is(str(p.delivered.server), 'hello');
  t.is(str(p.delivered.client), 'world');
  t.log(dtlsStats(p.client), dtlsStats(p.server));
});
