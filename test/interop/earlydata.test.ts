/**
 * 0-RTT early data (RFC 8446 §2.3, §4.2.10) against OpenSSL on 127.0.0.1, both ways.
 *
 * `s_client -sess_in … -early_data FILE` → rxtls server with `maxEarlyData`; rxtls client with `earlyData`
 * → `s_server -early_data`; and the CLI's `--early-data`: accepted on a fresh ticket, rejected on a replayed
 * one (OpenSSL's anti-replay) and then sent again after the handshake; the CLI server's `--max-early-data`.
 * Our CLIENT_EARLY_TRAFFIC_SECRET key log line is compared with s_client's.
 */
import test from 'ava';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  TEST_MS,
  cliClientArgs,
  cliServerArgs,
  cliServerPort,
  clientExchange,
  describeRun,
  drive,
  openConnection,
  opensslCertArgs,
  parseKeyLog,
  runCli,
  runSClient,
  rxClient,
  serverPem,
  startCliServer,
  startListener,
  startSServer,
  tempDir,
  withTimeout,
} from '../helpers/peers.js';
import { parseSummary } from '../../src/cli/args.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';

/** Occurrences of `needle` in `text`. */
const count = (text: string, needle: string) => text.split(needle).length - 1;

test('s_client -sess_in -early_data → rxtls server (maxEarlyData): accepted, early bytes first', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const sess = path.join(dir, 'sess.pem');
  const early = 'early data from s_client\n';
  writeFileSync(path.join(dir, 'early.txt'), early);
  const keyLog: string[] = [];
  const l = await startListener(
    { ...serverPem(), maxEarlyData: 4096, keyLog: (line) => keyLog.push(line) },
    t,
  );

  const c1 = runSClient(l.port, ['-ign_eof', '-sess_out', sess], { stdin: 'one\n', owner: t });
  const tr1 = await withTimeout(drive(await l.accept(), { closeAfterBytes: 4, reply: 'ok\n' }), 20_000, 'serve 1');
  const r1 = await c1;
  t.is(r1.code, 0, describeRun('s_client 1', r1));
  t.is(tr1.info.earlyData, 'none');
  t.regex(r1.stdout, /^\s+Max Early Data: 4096$/m); // our ticket's early_data extension

  const theirKeys = path.join(dir, 'openssl.keylog');
  const c2 = runSClient(l.port, ['-ign_eof', '-sess_in', sess, '-early_data', path.join(dir, 'early.txt'), '-keylogfile', theirKeys], {
    stdin: 'after the handshake\n',
    owner: t,
  });
  const tr2 = await withTimeout(
    drive(await l.accept(), { closeAfterBytes: early.length + 20, reply: 'got both\n' }),
    20_000,
    'serve 2',
  );
  const r2 = await c2;
  t.is(r2.code, 0, describeRun('s_client 2', r2));
  t.regex(r2.stdout, /^Reused, TLSv1\.3, /m);
  t.regex(r2.stdout, /^Early data was accepted$/m, r2.stdout);
  t.true(tr2.info.resumed);
  t.is(tr2.info.earlyData, 'accepted');
  // The early bytes arrive on inbound$ first, then the data sent after the handshake.
  t.is(tr2.received.toString(), early + 'after the handshake\n');
  t.true(r2.stdout.includes('got both\n'));
  // The 0-RTT key is the one s_client used (RFC 8446 §7.1 client_early_traffic_secret).
  const ours = parseKeyLog(keyLog.join('\n')).get('CLIENT_EARLY_TRAFFIC_SECRET');
  t.is(ours?.size, 1, keyLog.join('\n'));
  const [[random, secret]] = [...ours!.entries()] as [[string, string]];
  t.is(parseKeyLog(readFileSync(theirKeys, 'utf8')).get('CLIENT_EARLY_TRAFFIC_SECRET')?.get(random), secret);
});

test('rxtls client (earlyData) → s_server -early_data: accepted, s_server prints the early data', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-early_data', '-naccept', '2'], { owner: t });
  const sessionCache = createSessionCache();
  const first = await clientExchange(rxClient(port, { sessionCache }), { send: 'first connection\n', owner: t });
  t.is(first.info.earlyData, 'none');
  const early = 'zero round trip from rxtls\n';
  const { conn, release } = await withTimeout(
    openConnection(rxClient(port, { sessionCache, earlyData: new TextEncoder().encode(early) }), t),
    20_000,
    'resumed handshake',
  );
  t.teardown(release);
  t.true(conn.info.resumed);
  t.is(conn.info.earlyData, 'accepted');
  t.is(conn.rejectedEarlyData, undefined);
  await withTimeout(drive(conn, { send: 'after the handshake\n' }), 20_000, 'exchange');
  await withTimeout(peer.exited, 10_000, 's_server exit after -naccept 2');
  const out = peer.stdout();
  t.regex(out, /^Early data received:$/m, out);
  t.regex(out, /^End of early data$/m);
  // s_server writes the data unbuffered and its own lines buffered: check presence, not position.
  t.is(count(out, early), 1, out);
  t.true(out.includes('after the handshake\n'));
});

test('rxtls CLI --early-data → s_server -early_data: accepted; a replayed ticket is rejected and the data resent', async (t) => {
  t.timeout(90_000);
  const dir = tempDir(t);
  const sess = path.join(dir, 'session.pem');
  const earlyFile = path.join(dir, 'early.txt');
  const early = 'early bytes from the rxtls CLI\n';
  writeFileSync(earlyFile, early);
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-early_data', '-naccept', '3'], { timeoutMs: 80_000, owner: t });
  const base = cliClientArgs(port);

  const r1 = await runCli([...base, '--sess-out', sess], 'first\n', { owner: t });
  t.is(r1.code, 0, describeRun('rxtls client 1', r1));

  const r2 = await runCli([...base, '--sess-in', sess, '--early-data', earlyFile], 'second\n', { owner: t });
  t.is(r2.code, 0, describeRun('rxtls client 2', r2));
  t.is(parseSummary(r2.stderr).Resumed, 'yes');
  t.is(parseSummary(r2.stderr)['Early data'], 'accepted');

  // The same ticket again: OpenSSL's anti-replay refuses it, so the handshake is a full one and 0-RTT is
  // rejected; the CLI sends the early bytes again as ordinary data.
  const r3 = await runCli([...base, '--sess-in', sess, '--early-data', earlyFile], 'third\n', { owner: t });
  t.is(r3.code, 0, describeRun('rxtls client 3', r3));
  t.is(parseSummary(r3.stderr)['Early data'], 'rejected');
  t.regex(r3.stderr, new RegExp(`^rxtls: early data rejected by the server: sending its ${early.length} bytes again$`, 'm'));

  await withTimeout(peer.exited, 10_000, 's_server exit after -naccept 3');
  const out = peer.stdout();
  t.is(count(out, 'Early data received:'), 1, out);
  t.is(count(out, 'Early data was rejected'), 1, out);
  t.is(count(out, early), 2, out); // once as 0-RTT, once resent after the rejected 0-RTT
  for (const line of ['first\n', 'second\n', 'third\n']) t.true(out.includes(line), line);
});

test('s_client -early_data (the GET itself) → rxtls CLI server --www --max-early-data --keylog: answered from 0-RTT', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const sess = path.join(dir, 'sess.pem');
  const keylog = path.join(dir, 'server.keylog');
  const get = path.join(dir, 'get.txt');
  writeFileSync(get, 'GET / HTTP/1.0\r\n\r\n');
  const server = await startCliServer(cliServerArgs(['--www', '--naccept', '2', '--max-early-data', '1024', '--keylog', keylog]), { owner: t });
  const port = cliServerPort(server);
  const r1 = await runSClient(port, ['-ign_eof', '-sess_out', sess], { stdin: 'GET / HTTP/1.0\r\n\r\n', owner: t });
  t.is(r1.code, 0, describeRun('s_client 1', r1));
  t.regex(r1.stdout, /^\s+Max Early Data: 1024$/m);
  const r2 = await runSClient(port, ['-ign_eof', '-sess_in', sess, '-early_data', get], { stdin: '', owner: t });
  t.is(r2.code, 0, describeRun('s_client 2', r2));
  t.regex(r2.stdout, /^Early data was accepted$/m);
  t.regex(r2.stdout, /^HTTP\/1\.0 200 OK\r$/m);
  t.regex(r2.stdout, /^Early data: accepted$/m); // our page names the 0-RTT outcome
  const exit = await withTimeout(server.exited, 20_000, 'CLI server exit after --naccept 2');
  t.is(exit.code, 0, server.output());
  const [, second] = server.stderr().split(/^CONNECTION 2$/m);
  t.like(parseSummary(second ?? ''), { Resumed: 'yes', 'Early data': 'accepted' });
  const labels = parseKeyLog(readFileSync(keylog, 'utf8'));
  t.is(labels.get('CLIENT_EARLY_TRAFFIC_SECRET')?.size, 1); // only the resumed connection had 0-RTT
  t.is(labels.get('CLIENT_TRAFFIC_SECRET_0')?.size, 2);
});
