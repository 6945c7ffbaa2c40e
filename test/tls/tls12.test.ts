import test from 'ava';
import { Pair, serverCredentials, str, text } from '../helpers/pair.js';
import { handshakeInfo } from '../../src/tls/connection.js';

test('smoke: TLS 1.2 handshake', (t) => {
  const pair = new Pair({ maxVersion: 'TLSv1.2' }, {}).start().drive();
  t.is(pair.closedError('client')?.message, undefined);
  t.is(pair.closedError('server')?.message, undefined);
  const info = handshakeInfo(pair.client)!;
  t.is(info.protocol, 'TLSv1.2');
  pair.input('client', { type: 'write', now: pair.now, data: text('ping') });
  pair.input('server', { type: 'write', now: pair.now, data: text('pong') });
  pair.drive();
  t.is(str(pair.delivered.server), 'ping');
  t.is(str(pair.delivered.client), 'pong');
  void serverCredentials;
});
