/**
 * RFC 9147 §7: the server's NewSessionTickets right after the handshake are a post-handshake flight, which does
 * not acknowledge the client's final flight implicitly: the server still ACKs the client's Finished, so the
 * client stops retransmitting it.
 */
import test from 'ava';
import { createTicketer } from '../../src/handshake/session.js';
import { DtlsPair } from '../helpers/dtlsPair.js';
import { dtlsStats, isDtlsConnected, nextDtlsTimeout } from '../../src/dtls/connection.js';

test("a server that sends tickets still ACKs the client's Finished: the client retransmits nothing", (t) => {
  const p = new DtlsPair({}, { ticketer: createTicketer(new Uint8Array(32).fill(7)) });
  p.start();
  p.run(p.now + 5_000);
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  t.true(p.types('client').includes('session'), 'the client got a ticket');
  t.is(dtlsStats(p.client).retransmissions, 0);
  t.true(dtlsStats(p.client).acksReceived >= 1, "the server acknowledged the client's Finished");
  t.is(nextDtlsTimeout(p.client), undefined, 'no retransmission timer left');
});
