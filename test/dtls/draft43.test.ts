/**
 * The draft-ietf-tls-dtls13-43 mode (`dtlsDraft43`, for NSS 3.87): rxtls against itself on a virtual clock, and
 * what differs on the wire and in the keys from RFC 9147. Interop with NSS itself is test/interop/dtls-nss-*.
 */
import test from 'ava';
import { DtlsPair } from '../helpers/dtlsPair.js';
import { isDtlsConnected } from '../../src/dtls/connection.js';
import { epochKeys, recordNonceOf } from '../../src/dtls/epochs.js';
import { draft43Message, draft43Transcript, DTLS13_DRAFT43_VERSION } from '../../src/handshake/state.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { suiteParams } from '../../src/crypto/keySchedule.js';
import { text, str } from '../helpers/pair.js';
import { clientHelloVersions } from '../helpers/dtlsInterop.js';
import { TlsError } from '../../src/core/errors.js';
import { createDtlsConnection } from '../../src/dtls/connection.js';
import { clientConfig } from '../helpers/dtlsPair.js';
import { createTicketer } from '../../src/handshake/session.js';

const draft = { dtlsDraft43: true } as const;

function pair(client = {}, server = {}, filter?: ConstructorParameters<typeof DtlsPair>[2]): DtlsPair {
  const p = new DtlsPair({ ...draft, ...client }, { ...draft, ...server }, filter);
  p.start();
  p.run();
  return p;
}

test('draft-43 mode: a handshake and a record each way, the ClientHello offering 0x7f2b only', (t) => {
  const p = pair();
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  t.deepEqual(clientHelloVersions(p.sent.client[0]!), [DTLS13_DRAFT43_VERSION]);
  p.input('client', { type: 'write', data: text('ping') });
  p.input('server', { type: 'write', data: text('pong') });
  p.run(p.now + 1000);
  t.is(str(p.delivered.server), 'ping');
  t.is(str(p.delivered.client), 'pong');
});

test('draft-43 mode: HelloRetryRequest (stateful and with stateless cookies) and loss of every first datagram', (t) => {
  for (const server of [{ groups: ['secp256r1'] as const }, { cookieSecret: new Uint8Array(32).fill(1) }]) {
    const firsts = new Set<string>();
    const p = pair({}, server, (d) => {
      const key = `${d.to}:${d.data.length}`;
      if (firsts.has(key)) return 'deliver';
      firsts.add(key);
      return 'drop';
    });
    t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server), JSON.stringify(server));
    t.true(p.client.info!.helloRetry);
  }
});

test('draft-43 and RFC 9147 endpoints do not talk: protocol_version', (t) => {
  const p = new DtlsPair(draft, {});
  p.start();
  p.run();
  t.false(isDtlsConnected(p.client) || isDtlsConnected(p.server));
  t.true(p.effects.server.some((e) => e.type === 'alertSent' && e.description === 70));
});

test('draft-43 transcript form: 12-byte headers, message_seq per sender, message_hash with message_seq 0', (t) => {
  const msg = (type: number, body: number[]) => Uint8Array.of(type, 0, 0, body.length, ...body);
  t.deepEqual([...draft43Message(msg(1, [9, 9]), 0x0102)], [1, 0, 0, 2, 1, 2, 0, 0, 0, 0, 0, 2, 9, 9]);
  // message_hash, HRR (server 0), ClientHello2 (client 1), ServerHello (server 1), EE, Finished (server 2, 3),
  // then the client's Finished (client 2).
  const t1 = [msg(254, [7]), msg(2, [1]), msg(1, [2]), msg(2, [3]), msg(8, []), msg(20, [4]), msg(20, [5])];
  t.deepEqual(
    draft43Transcript(t1).map((m) => [m[0], (m[4]! << 8) | m[5]!]),
    [[254, 0], [2, 0], [1, 1], [2, 1], [8, 2], [20, 3], [20, 2]],
  );
});

test('draft-43 nonce: the epoch in the top 16 bits of the 64-bit sequence number; RFC 9147 leaves it out', (t) => {
  const suite = suiteParams(0x1301)!;
  const secret = new Uint8Array(32).fill(3);
  const rfc = epochKeys(nobleProvider, suite, 0x0203, secret);
  const d43 = epochKeys(nobleProvider, suite, 0x0203, secret, true);
  const a = recordNonceOf(rfc, 5);
  const b = recordNonceOf(d43, 5);
  t.deepEqual([...a.map((x, i) => x ^ b[i]!)], [0, 0, 0, 0, 0x02, 0x03, 0, 0, 0, 0, 0, 0]);
});

test('draft-43 mode refuses PSK settings (its binder form is not built)', (t) => {
  const e = t.throws(() => createDtlsConnection({ ...clientConfig(), ...draft, externalPsk: { identity: text('id'), key: new Uint8Array(32) } }));
  t.true(e instanceof TlsError && e.detail.kind === 'apiMisuse');
  t.throws(() => new DtlsPair({}, { ...draft, ticketer: createTicketer(new Uint8Array(32)) }));
});
