/**
 * Session resumption (RFC 8446 §2.2, §4.6.1) against real peers, both ways, on 127.0.0.1.
 *
 * rxtls client → openssl s_server and → node:tls server (a session cache: the second connection resumes);
 * openssl s_client `-sess_out`/`-sess_in`, node:tls `session` event + `session:` option and `gnutls-cli -r`
 * → rxtls server; the CLI's `--sess-out`/`--sess-in`. And OpenSSL's rule: a connection torn down without
 * close_notify leaves nothing in the session cache.
 * Each assertion reads the peer's own word (`Reused, TLSv1.3`, `isSessionReused()`, `*** This is a resumed
 * session`) besides our `info.resumed`.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { firstValueFrom } from 'rxjs';
import {
  GNUTLS_TLS13_ONLY,
  TEST_MS,
  cliClientArgs,
  cliServerArgs,
  cliServerPort,
  clientExchange,
  describePair,
  describeRun,
  drive,
  gnutlsCliVsCliServer,
  listenLoopback,
  nodeClientOptions,
  openConnection,
  opensslCertArgs,
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
import { parseSessionFile, parseSummary } from '../../src/cli/args.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';

const GET = 'GET / HTTP/1.0\r\n\r\n';

// ---------------------------------------------------------------------------------------------------------
// rxtls client → openssl s_server / node:tls server

test('rxtls client → s_server -www: the second connection resumes from the session cache', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-www', '-naccept', '2'], { owner: t });
  const sessionCache = createSessionCache();
  const first = await clientExchange(rxClient(port, { sessionCache }), { send: GET, waitForPeerClose: true, owner: t });
  t.false(first.info.resumed);
  t.true(first.received.toString('latin1').includes('New, TLSv1.3, Cipher is'), first.received.toString('latin1').slice(-1500));
  const second = await clientExchange(rxClient(port, { sessionCache }), { send: GET, waitForPeerClose: true, owner: t });
  t.true(second.info.resumed);
  t.deepEqual(second.info.peerCertificates, []); // no Certificate message in a resumed handshake
  // s_server -www describes the session it is serving.
  t.true(second.received.toString('latin1').includes('Reused, TLSv1.3, Cipher is'), second.received.toString('latin1').slice(-1500));
  await withTimeout(peer.exited, 10_000, 's_server exit after -naccept 2');
  t.regex(peer.stdout(), /^\s+1 session cache hits$/m);
});

test('rxtls client → s_server: a connection aborted without close_notify is not resumable from the cache', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-www', '-naccept', '3'], { owner: t });
  const sessionCache = createSessionCache();
  const { conn, release } = await openConnection(rxClient(port, { sessionCache }), t);
  // A ticket did arrive (sessions$ shows it) …
  const session = await withTimeout(firstValueFrom(conn.sessions$), 10_000, 'a NewSessionTicket from s_server');
  t.true(session.ticket.length > 0);
  // … but the connection is torn down without close_notify (SSL_free without SSL_shutdown).
  conn.close();
  release();
  t.deepEqual(conn.shutdownState(), { sent: false, received: false });
  const second = await clientExchange(rxClient(port, { sessionCache }), { send: GET, waitForPeerClose: true, owner: t });
  t.false(second.info.resumed, 'the cache must not hold the aborted connection\'s session');
  t.true(second.received.toString('latin1').includes('New, TLSv1.3, Cipher is'));
  // The ticket itself was good: offered explicitly, it resumes. Only the cache policy kept it out.
  const third = await clientExchange(rxClient(port, { session }), { send: GET, waitForPeerClose: true, owner: t });
  t.true(third.info.resumed);
  t.true(third.received.toString('latin1').includes('Reused, TLSv1.3, Cipher is'));
  await withTimeout(peer.exited, 10_000, 's_server exit');
});

test('rxtls client → node:tls server: resumed (isSessionReused on both sides)', async (t) => {
  t.timeout(TEST_MS);
  const reused: boolean[] = [];
  const server = tls.createServer({ minVersion: 'TLSv1.3', ...serverPem() }, (socket) => {
    reused.push(socket.isSessionReused());
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end('hello from node'));
  });
  const port = await listenLoopback(server, t);
  const sessionCache = createSessionCache();
  const one = await clientExchange(rxClient(port, { sessionCache }), { send: 'hi', waitForPeerClose: true, owner: t });
  const two = await clientExchange(rxClient(port, { sessionCache }), { send: 'hi', waitForPeerClose: true, owner: t });
  t.false(one.info.resumed);
  t.true(two.info.resumed);
  t.is(two.received.toString(), 'hello from node');
  t.deepEqual(reused, [false, true]);
});

// ---------------------------------------------------------------------------------------------------------
// peers resuming with the rxtls server

test('s_client -sess_out, then -sess_in → rxtls server: Reused, TLSv1.3', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const sess = path.join(dir, 'sess.pem');
  const l = await startListener(serverPem(), t);
  const once = async (extra: string[]) => {
    const client = runSClient(l.port, ['-ign_eof', ...extra], { stdin: 'ping\n', owner: t });
    const tr = await withTimeout(drive(await l.accept(), { closeAfterBytes: 5, reply: 'pong\n' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    return { tr, out: r.stdout };
  };
  const first = await once(['-sess_out', sess]);
  t.regex(first.out, /^New, TLSv1\.3, Cipher is /m);
  t.false(first.tr.info.resumed);
  t.regex(readFileSync(sess, 'utf8'), /-----BEGIN SSL SESSION PARAMETERS-----/);
  const second = await once(['-sess_in', sess]);
  t.regex(second.out, /^Reused, TLSv1\.3, Cipher is /m, second.out);
  t.true(second.tr.info.resumed);
  t.is(second.tr.received.toString(), 'ping\n');
  t.true(second.out.includes('pong\n'));
});

test('node:tls client (session event, then session option) → rxtls server: isSessionReused()', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(serverPem(), t);
  const connectOnce = (session?: Buffer) =>
    withTimeout(
      new Promise<{ reused: boolean; session: Buffer | undefined; received: string }>((resolve, reject) => {
        let latest: Buffer | undefined;
        let received = '';
        let reused = false;
        const socket = tls.connect(nodeClientOptions(l.port, session ? { session } : {}), () => {
          reused = socket.isSessionReused();
          socket.end('x');
        });
        socket.on('session', (s: Buffer) => (latest = s));
        socket.on('data', (d: Buffer) => (received += d.toString()));
        socket.on('error', reject);
        socket.on('close', () => resolve({ reused, session: latest, received }));
      }),
      20_000,
      'node:tls client',
    );
  const firstP = connectOnce();
  const tr1 = await withTimeout(drive(await l.accept(), { echo: true }), 20_000, 'serve 1');
  const first = await firstP;
  t.false(first.reused);
  t.false(tr1.info.resumed);
  t.truthy(first.session, 'node saw a NewSessionTicket');
  const secondP = connectOnce(first.session);
  const tr2 = await withTimeout(drive(await l.accept(), { echo: true }), 20_000, 'serve 2');
  const second = await secondP;
  t.true(second.reused);
  t.true(tr2.info.resumed);
  t.is(second.received, 'x');
});

test('gnutls-cli -r → rxtls CLI server: *** This is a resumed session', async (t) => {
  t.timeout(110_000);
  const r = await gnutlsCliVsCliServer({
    serverArgs: ['--www', '--naccept', '2'],
    cliArgs: [...GNUTLS_TLS13_ONLY, '-r'],
    stdin: GET,
    timeoutMs: 75_000,
    owner: t,
  });
  const diag = describePair('gnutls-cli', r);
  t.is(r.clientCode, 0, diag);
  t.regex(r.clientStdout, /^- Resume Handshake was completed$/m, diag);
  t.regex(r.clientStdout, /^\*\*\* This is a resumed session$/m, diag);
  t.regex(r.clientStdout, /^Resumed: yes\r?$/m, diag); // our --www page, served on the resumed connection
  // The CLI server's per-connection summaries: a full handshake, then a resumed one; both closed cleanly.
  const [one, two] = r.serverOutput.split(/^CONNECTION 2$/m);
  t.is(parseSummary(one ?? '').Resumed, 'no', diag);
  t.is(parseSummary(two ?? '').Resumed, 'yes', diag);
  t.regex(r.serverOutput, /^CLOSED 1$/m);
  t.regex(r.serverOutput, /^CLOSED 2$/m);
});

// ---------------------------------------------------------------------------------------------------------
// the CLI's --sess-out / --sess-in

test('rxtls CLI client --sess-out, then --sess-in → s_server -www: Resumed: yes', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const sess = path.join(dir, 'session.pem');
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-www', '-naccept', '2'], { owner: t });
  const base = cliClientArgs(port);
  const r1 = await runCli([...base, '--sess-out', sess], GET, { owner: t });
  t.is(r1.code, 0, describeRun('rxtls client 1', r1));
  t.is(parseSummary(r1.stderr).Resumed, 'no');
  t.regex(r1.stderr, new RegExp(`^rxtls: session saved to ${sess.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  const file = readFileSync(sess);
  t.regex(file.toString(), /^-----BEGIN RXTLS SESSION-----\n[A-Za-z0-9+/=\n]+-----END RXTLS SESSION-----\n$/);
  t.is(parseSessionFile(file).serverName, 'localhost');
  const r2 = await runCli([...base, '--sess-in', sess], GET, { owner: t });
  t.is(r2.code, 0, describeRun('rxtls client 2', r2));
  t.is(parseSummary(r2.stderr).Resumed, 'yes', r2.stderr);
  t.true(r2.stdout.includes('Reused, TLSv1.3, Cipher is'), r2.stdout.slice(-1500));
  await withTimeout(peer.exited, 10_000, 's_server exit');
});

test('s_client → rxtls CLI server --no-ticket: no NewSessionTicket, nothing for -sess_out to save', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const sess = path.join(dir, 'sess.pem');
  const server = await startCliServer(cliServerArgs(['--www', '--naccept', '1', '--no-ticket']), { owner: t });
  const r = await runSClient(cliServerPort(server), ['-ign_eof', '-sess_out', sess], { stdin: GET, owner: t });
  t.is(r.code, 0, describeRun('s_client', r));
  t.regex(r.stdout, /^HTTP\/1\.0 200 OK\r$/m);
  t.notRegex(r.stdout, /Post-Handshake New Session Ticket arrived/);
  t.false(existsSync(sess), 's_client writes -sess_out only for a resumable session');
  const exit = await withTimeout(server.exited, 20_000, 'CLI server exit');
  t.is(exit.code, 0, server.output());
});
