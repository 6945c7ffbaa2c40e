/**
 * The facts the TLS core reports for its adapters (`shutdown`, `backlog` effects): emitted in the step that
 * changes them, equal to `shutdownState` / `writeBacklog`, before that step's `closed`.
 */
import test from 'ava';
import type { TlsEffect } from '../../src/tls/types.js';
import { shutdownState, writeBacklog } from '../../src/tls/connection.js';
import { asyncNobleProvider } from '../helpers/batch.js';
import { Pair, text } from '../helpers/pair.js';

const types = (effects: readonly TlsEffect[]) => effects.map((e) => e.type);

test('shutdown facts: our close_notify, then the peer’s; the step that closes reports them before closed', (t) => {
  const pair = new Pair().start().drive();
  t.deepEqual(pair.of('client', 'shutdown'), [], 'nothing changed during the handshake');
  const ours = pair.input('client', { type: 'end', now: pair.now });
  t.deepEqual(types(ours), ['transmit', 'alertSent', 'shutdown']);
  t.deepEqual(ours[2], { type: 'shutdown', sent: true, received: false, eofWithoutCloseNotify: false });
  pair.serverRound(); // the server sees our close_notify: received (half-closed, its output stays open)
  t.deepEqual(pair.of('server', 'shutdown'), [{ type: 'shutdown', sent: false, received: true, eofWithoutCloseNotify: false }]);
  const theirs = pair.input('server', { type: 'end', now: pair.now });
  t.deepEqual(types(theirs), ['transmit', 'alertSent', 'shutdown', 'closed']);
  t.deepEqual(theirs[2], { type: 'shutdown', sent: true, received: true, eofWithoutCloseNotify: false });
  pair.drive();
  const last = pair.effects.client.slice(-4);
  t.deepEqual(types(last), ['alertReceived', 'peerClosed', 'shutdown', 'closed']);
  t.deepEqual(last[2], { type: 'shutdown', ...shutdownState(pair.client) });
});

test('shutdown facts: an ignored EOF says so (not a clean shutdown)', (t) => {
  const pair = new Pair({ ignoreUnexpectedEof: true }).start().drive();
  const step = pair.input('client', { type: 'eof', now: pair.now });
  t.deepEqual(step, [{ type: 'peerClosed' }, { type: 'shutdown', sent: false, received: true, eofWithoutCloseNotify: true }]);
});

test('shutdown facts: nothing for an abort, both flags for a quiet shutdown', (t) => {
  const aborted = new Pair().start().drive();
  t.deepEqual(aborted.input('client', { type: 'close', now: aborted.now, mode: 'abort' }), [{ type: 'closed' }]);
  const quiet = new Pair().start().drive();
  t.deepEqual(quiet.input('client', { type: 'close', now: quiet.now, mode: 'quiet' }), [
    { type: 'shutdown', sent: true, received: true, eofWithoutCloseNotify: false },
    { type: 'closed' },
  ]);
});

test('backlog facts: full while a seal batch’s worth waits, not full once the batches went out', async (t) => {
  const provider = asyncNobleProvider();
  const pair = new Pair({ provider, asyncCrypto: true, maxPipelines: 2, splitSendFragment: 512 }, {}).start();
  await pair.driveAsync();
  // 2 × 512 bytes fill the batch in flight; 1024 more wait behind it: full.
  const step = pair.input('client', { type: 'write', now: pair.now, data: new Uint8Array(2048) });
  const facts = step.filter((e) => e.type === 'backlog');
  t.deepEqual(facts, [{ type: 'backlog', ...writeBacklog(pair.client) }]);
  t.true(writeBacklog(pair.client).full);
  t.deepEqual(pair.input('client', { type: 'write', now: pair.now, data: text('x') }).filter((e) => e.type === 'backlog'), [], 'no change, no fact');
  await pair.driveAsync();
  const last = pair.of('client', 'backlog').at(-1);
  t.like(last, { type: 'backlog', full: false }, 'reported when it fell below one batch');
  t.deepEqual(writeBacklog(pair.client), { bytes: 0, full: false });
});
