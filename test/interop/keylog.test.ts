/**
 * Key log (NSS SSLKEYLOGFILE format) against OpenSSL on 127.0.0.1: our lines must be the connection's own
 * secrets, so they are compared with the peer's key log line for line (same label, same client random, same
 * secret). The CLI's `--keylog` for the client, the `keyLog` option (file path and `keyLog$`) for the server.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import {
  TEST_MS,
  cliClientArgs,
  describeRun,
  drive,
  opensslCertArgs,
  parseKeyLog,
  runCli,
  runSClient,
  serverPem,
  startListener,
  startSServer,
  tempDir,
  withTimeout,
} from '../helpers/peers.js';

const GET = 'GET / HTTP/1.0\r\n\r\n';

/** The five secrets of a TLS 1.3 handshake without 0-RTT (RFC 8446 §7.1), as key log labels. */
const LABELS = [
  'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  'CLIENT_TRAFFIC_SECRET_0',
  'SERVER_TRAFFIC_SECRET_0',
  'EXPORTER_SECRET',
] as const;

test('rxtls CLI client --keylog → s_server -keylogfile: the same five secrets for the same client random', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const ours = path.join(dir, 'rxtls.keylog');
  const theirs = path.join(dir, 'openssl.keylog');
  const { peer, port } = await startSServer([...opensslCertArgs('ec'), '-www', '-naccept', '1', '-keylogfile', theirs], { owner: t });
  const r = await runCli(cliClientArgs(port, ['--keylog', ours, '--quiet']), GET, { owner: t });
  t.is(r.code, 0, describeRun('rxtls client', r));
  await withTimeout(peer.exited, 10_000, 's_server exit');
  const text = readFileSync(ours, 'utf8');
  const lines = text.trimEnd().split('\n');
  t.is(lines.length, 5, text);
  for (const line of lines) t.regex(line, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64}$/); // SHA-256 suite: 32 B secrets
  const mine = parseKeyLog(text);
  const openssl = parseKeyLog(readFileSync(theirs, 'utf8'));
  t.deepEqual([...mine.keys()].sort(), [...LABELS].sort());
  const randoms = new Set([...mine.values()].flatMap((m) => [...m.keys()]));
  t.is(randoms.size, 1, 'one connection, one client random');
  const [random] = randoms;
  for (const label of LABELS) t.is(mine.get(label)?.get(random!), openssl.get(label)?.get(random!), label);
});

test('s_client -keylogfile → rxtls server (keyLog file and keyLog$): the same secrets', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const ours = path.join(dir, 'rxtls.keylog');
  const theirs = path.join(dir, 'openssl.keylog');
  const l = await startListener({ ...serverPem(), keyLog: ours, ciphers: 'TLS_AES_256_GCM_SHA384' }, t);
  const client = runSClient(l.port, ['-ign_eof', '-keylogfile', theirs], { stdin: 'x', owner: t });
  const conn = await l.accept();
  const lines$ = lastValueFrom(conn.keyLog$.pipe(toArray()));
  await withTimeout(drive(conn, { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
  const r = await client;
  t.is(r.code, 0, describeRun('s_client', r));
  const text = readFileSync(ours, 'utf8');
  t.deepEqual(await withTimeout(lines$, 5_000, 'keyLog$ completion'), text.trimEnd().split('\n'));
  for (const line of text.trimEnd().split('\n')) t.regex(line, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{96}$/); // SHA-384: 48 B
  const mine = parseKeyLog(text);
  const openssl = parseKeyLog(readFileSync(theirs, 'utf8'));
  t.deepEqual([...mine.keys()].sort(), [...LABELS].sort());
  for (const label of LABELS) {
    const [[random, secret]] = [...mine.get(label)!.entries()] as [[string, string]];
    t.is(openssl.get(label)?.get(random), secret, label);
  }
});
