/**
 * Issue "Hardening", cost an attacker can impose (1,000 concurrent handshakes): work a server does per handshake
 * beyond the curve arithmetic. The transcript is hashed incrementally (`TranscriptRun` in
 * src/handshake/state.ts), each transcript byte once per handshake rather than once per transcript hash; the
 * ticketer derives its key once per period, not once per ticket. Work is counted (bytes hashed, provider calls),
 * never timed.
 */
import test from 'ava';
import { Pair } from '../helpers/pair.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { handleEvents, handshakeInfo } from '../../src/tls/connection.js';
import type { CryptoProvider, Hasher } from '../../src/crypto/provider.js';
import type { TlsEffect } from '../../src/tls/types.js';
import { createTicketer } from '../../src/handshake/session.js';

/** The noble provider, counting the bytes it hashes (one-shot hashes and incremental hashers). */
function countingProvider(): { provider: CryptoProvider; hashed: () => number } {
  let bytes = 0;
  const wrap = (h: Hasher): Hasher => ({
    update(d) {
      bytes += d.length;
      h.update(d);
      return this;
    },
    digest: () => h.digest(),
    clone: () => wrap(h.clone()),
  });
  const provider: CryptoProvider = {
    ...nobleProvider,
    name: 'counting',
    hash: (alg, data) => {
      bytes += data.length;
      return nobleProvider.hash(alg, data);
    },
    hasher: (alg) => wrap(nobleProvider.hasher(alg)),
  };
  return { provider, hashed: () => bytes };
}

test('server: each transcript byte is hashed once per handshake (not once per transcript hash)', (t) => {
  const { provider, hashed } = countingProvider();
  const pair = new Pair({}, { provider }).start().drive();
  t.truthy(handshakeInfo(pair.server));
  t.truthy(handshakeInfo(pair.client));
  // The transcript: ClientHello … client Finished (the client's plaintext ClientHello record, and the handshake
  // messages inside the encrypted flights). The bytes on the wire in both directions bound it from above.
  const wire = [...pair.effects.client, ...pair.effects.server]
    .filter((e): e is Extract<TlsEffect, { type: 'transmit' }> => e.type === 'transmit')
    .reduce((n, e) => n + e.data.length, 0);
  // Re-hashing the whole transcript at every step (before the change) hashed ≈ 5× the transcript; now the bytes
  // hashed stay under the bytes exchanged (the transcript is a part of them).
  t.true(hashed() < wire, `hashed ${hashed()} B, ${wire} B on the wire`);
  // And the same with a HelloRetryRequest (the transcript restarts with a synthetic message_hash).
  const hrr = countingProvider();
  const retried = new Pair({ groups: ['x25519', 'secp256r1'] }, { provider: hrr.provider, groups: ['secp256r1'] }).start().drive();
  t.true(handshakeInfo(retried.server)?.helloRetry);
  const wire2 = [...retried.effects.client, ...retried.effects.server]
    .filter((e): e is Extract<TlsEffect, { type: 'transmit' }> => e.type === 'transmit')
    .reduce((n, e) => n + e.data.length, 0);
  t.true(hrr.hashed() < wire2, `hashed ${hrr.hashed()} B, ${wire2} B on the wire`);
});

test('the running transcript hash keeps the reducer pure: an old state replays to the same outcome', (t) => {
  const pair = new Pair().start();
  pair.serverRound(); // server: ClientHello in, its flight out (transcript hashed, a run kept in the state)
  // The client answers; the server state that has not seen the client Finished yet is kept and fed twice.
  for (const data of pair.inbox.client.splice(0)) pair.input('client', { type: 'received', now: pair.now, data });
  const before = pair.server;
  const finished = pair.inbox.server.splice(0);
  const run = () => {
    let s = before;
    const effects: TlsEffect[] = [];
    for (const data of finished) {
      const step = handleEvents(s, { type: 'received', now: pair.now, data });
      s = step.state;
      effects.push(...step.effects);
    }
    return { s, effects };
  };
  const a = run();
  const b = run();
  for (const r of [a, b]) {
    t.truthy(handshakeInfo(r.s), 'the client Finished verified against the transcript hash');
    t.falsy(r.effects.find((e) => e.type === 'closed'));
  }
});

test('tickets: the ticket key and its AEAD are made once per period, not per ticket', (t) => {
  const calls = { hkdfExpand: 0, aead: 0 };
  const provider: CryptoProvider = {
    ...nobleProvider,
    name: 'counting',
    hkdfExpand: (...a) => (calls.hkdfExpand++, nobleProvider.hkdfExpand(...a)),
    aead: (...a) => (calls.aead++, nobleProvider.aead(...a)),
  };
  const ticketer = createTicketer(new Uint8Array(32).fill(7));
  const perHandshake = () => {
    const before = { ...calls };
    const pair = new Pair({}, { provider, ticketer }).start().drive();
    t.is(pair.of('client', 'session').length, 2, 'two tickets (the default)');
    return { hkdfExpand: calls.hkdfExpand - before.hkdfExpand, aead: calls.aead - before.aead };
  };
  const first = perHandshake();
  const second = perHandshake();
  // The first handshake of the period derives the ticket key (one HKDF-Expand-Label, one AEAD); later ones
  // reuse it: per handshake, 2 fewer expansions and 2 fewer AEADs than one per ticket.
  t.is(first.hkdfExpand - second.hkdfExpand, 1);
  t.is(first.aead - second.aead, 1);
  // A ticket still opens (resumption works with the cached key).
  const opened = ticketer.open(provider, Date.UTC(2027, 0, 1), (pair2().of('client', 'session')[0] as Extract<TlsEffect, { type: 'session' }>).session.ticket);
  t.truthy(opened);
  function pair2() {
    return new Pair({}, { provider, ticketer }).start().drive();
  }
});
