/**
 * KeyUpdate (RFC 8446 §4.6.3) against real peers on 127.0.0.1.
 *
 * `s_client` typing `k` / `K` against the rxtls server; `s_server` typing `K` to our client; our client's
 * `keyUpdate(true)` against `s_server`; the CLI's `--inline-commands` against `s_server -www`;
 * `gnutls-cli --inline-commands` `^rekey^` / `^rekey1^` against the rxtls CLI server.
 * The peers' `-msg` logs show each KeyUpdate on the wire (`18 00 00 01 0x`), and data must keep flowing both
 * ways under the new keys. Commands are typed only after the previous step is visible (no sleeps).
 */
import test, { type ExecutionContext } from 'ava';
import {
  GNUTLS_TLS13_ONLY,
  TEST_MS,
  cliClientArgs,
  describePair,
  describeRun,
  drive,
  gnutlsCliVsCliServer,
  msgKeyUpdates,
  openConnection,
  opensslCertArgs,
  runCli,
  rxClient,
  serverPem,
  startListener,
  startSClient,
  startSServer,
  withTimeout,
  type MsgKeyUpdate,
  type Peer,
} from '../helpers/peers.js';
import { parseSummary } from '../../src/cli/args.js';

const occurrences = (text: string, re: RegExp) => [...text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g'))].length;

test('s_client k and K → rxtls echo server: data flows after each; K is answered with our KeyUpdate', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(serverPem(), t);
  const served = l.accept().then((conn) => drive(conn, { echo: true }));
  const client = await startSClient(l.port, ['-msg'], { owner: t });
  const KEYUPDATE = /^KEYUPDATE$/gm; // s_client's own note when it sends one
  client.write('hello\n');
  await client.waitForOutput(/^hello$/m);
  client.write('k\n');
  await waitFor(() => occurrences(client.output(), KEYUPDATE) === 1, 'KEYUPDATE for k', client.output);
  client.write('after-k\n');
  await client.waitForOutput(/^after-k$/m);
  client.write('K\n');
  await waitFor(() => msgKeyUpdates(client.stdout()).some((u) => u.dir === 'received'), 'our KeyUpdate in reply to K', client.output);
  client.write('after-K\n');
  await client.waitForOutput(/^after-K$/m);
  client.write('Q\n'); // close_notify
  const tr = await withTimeout(served, 20_000, 'echo until close_notify');
  const exit = await withTimeout(client.exited, 10_000, 's_client exit');
  t.is(exit.code, 0, client.output());
  t.is(tr.received.toString(), 'hello\nafter-k\nafter-K\n');
  t.deepEqual(msgKeyUpdates(client.stdout()), [
    { dir: 'sent', requested: false }, // k: update_not_requested — nothing comes back
    { dir: 'sent', requested: true }, // K: update_requested …
    { dir: 'received', requested: false }, // … answered by the rxtls server, without asking again
  ]);
});

/** `s_server -msg` for one connection (its `-msg` log on stdout) and an rxtls client connected to it. */
async function connectedToMsgServer(t: ExecutionContext) {
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-msg', '-naccept', '1'], { owner: t });
  const { conn } = await openConnection(rxClient(port), t); // released by t's teardown
  return { peer, conn };
}

/** Once `peer` (s_server) exited: its `-msg` log shows exactly the KeyUpdates `updates`, and it printed `received`. */
async function expectServerLog(t: ExecutionContext, peer: Peer, received: string, updates: readonly MsgKeyUpdate[]): Promise<void> {
  await withTimeout(peer.exited, 10_000, 's_server exit');
  const out = peer.stdout();
  t.deepEqual(msgKeyUpdates(out), updates);
  t.true(out.includes(received), out);
}

test('s_server K → rxtls client: we answer with our KeyUpdate and data flows both ways', async (t) => {
  t.timeout(TEST_MS);
  const { peer, conn } = await connectedToMsgServer(t);
  peer.write('K\n'); // s_server sends KeyUpdate(update_requested) at once …
  // … and drops the rest of what it read from stdin with the command: type the data only afterwards.
  await peer.waitForOutput(/^SSL_do_handshake -> 1$/m);
  peer.write('from server\n');
  // Once s_server's data arrives (under its new key) we reply (under ours) and close.
  const tr = await withTimeout(drive(conn, { closeAfterBytes: 12, reply: 'from client\n' }), 20_000, 'exchange');
  t.is(tr.received.toString(), 'from server\n');
  await expectServerLog(t, peer, 'from client\n', [
    { dir: 'sent', requested: true },
    { dir: 'received', requested: false },
  ]);
});

test('rxtls client keyUpdate(true) → s_server: s_server answers with its own KeyUpdate', async (t) => {
  t.timeout(TEST_MS);
  const { peer, conn } = await connectedToMsgServer(t);
  conn.keyUpdate(true);
  const exchange = drive(conn, { send: 'after our update\n', closeAfterBytes: 6, reply: 'bye\n' });
  // s_server's received data goes to stdout unbuffered: once it shows, s_server has read our KeyUpdate.
  await peer.waitForOutput('after our update\n');
  peer.write('reply\n'); // its next write carries its KeyUpdate(update_not_requested) first
  const tr = await withTimeout(exchange, 20_000, 'exchange');
  t.is(tr.received.toString(), 'reply\n');
  await expectServerLog(t, peer, 'bye\n', [
    { dir: 'received', requested: true },
    { dir: 'sent', requested: false },
  ]);
});

test('rxtls CLI client --inline-commands ^rekey^ / ^rekey1^ → s_server -www: updates on the wire, page received', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-msg', '-www', '-naccept', '1'], { owner: t });
  const r = await runCli(
    cliClientArgs(port, ['--inline-commands']),
    // Both updates go before the request: s_server -www answers as soon as it reads the GET line.
    '^rekey^\n^rekey1^\nGET / HTTP/1.0\r\n\r\n',
    { owner: t },
  );
  t.is(r.code, 0, describeRun('rxtls client', r));
  t.regex(r.stdout, /^HTTP\/1\.0 200 ok\r\n/);
  t.regex(r.stderr, /^rxtls: KeyUpdate sent \(update_requested\)$/m);
  t.regex(r.stderr, /^rxtls: KeyUpdate sent \(update_not_requested\)$/m);
  t.regex(r.stderr, /^rxtls: closed cleanly/m);
  await withTimeout(peer.exited, 10_000, 's_server exit');
  const updates = msgKeyUpdates(peer.stdout());
  // ^rekey^ then ^rekey1^, in that order; s_server answers the first with one KeyUpdate of its own (when it
  // sends it relative to reading ^rekey1^ is up to OpenSSL).
  t.deepEqual(updates.filter((u) => u.dir === 'received'), [
    { dir: 'received', requested: true },
    { dir: 'received', requested: false },
  ]);
  t.deepEqual(updates.filter((u) => u.dir === 'sent'), [{ dir: 'sent', requested: false }]);
  t.true(updates.findIndex((u) => u.dir === 'sent') > 0, JSON.stringify(updates));
});

test('gnutls-cli --inline-commands ^rekey^ / ^rekey1^ → rxtls CLI echo server: Rekey was completed', async (t) => {
  t.timeout(110_000);
  const r = await gnutlsCliVsCliServer({
    serverArgs: ['--echo', '--naccept', '1'],
    cliArgs: [...GNUTLS_TLS13_ONLY, '--inline-commands', '-d', '4'],
    stdin: 'hello\n^rekey^\nafter rekey\n^rekey1^\nafter rekey1\n',
    timeoutMs: 75_000,
    owner: t,
  });
  const all = r.clientStdout + r.clientStderr;
  const diag = describePair('gnutls-cli', r, 3000);
  t.is(r.clientCode, 0, diag);
  t.is(occurrences(all, /^- Rekey was completed$/m), 2, diag);
  t.regex(all, /sending key update \(1\)/);
  t.regex(all, /sending key update \(0\)/);
  // Only ^rekey^ asked us to update: exactly one KeyUpdate comes back, update_not_requested.
  t.is(occurrences(all, /received TLS 1\.3 key update \(0\)/), 1, diag);
  t.is(occurrences(all, /received TLS 1\.3 key update \(1\)/), 0, diag);
  for (const line of ['hello', 'after rekey', 'after rekey1']) t.regex(r.clientStdout, new RegExp(`^${line}$`, 'm'), diag);
  t.regex(r.serverOutput, /^CLOSED 1$/m, diag);
  t.is(parseSummary(r.serverOutput).Protocol, 'TLSv1.3');
});

/** Poll `cond` (bounded) — for peer output that has no single line to wait for. */
async function waitFor(cond: () => boolean, what: string, output: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
