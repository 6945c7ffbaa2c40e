/**
 * Connection migration and stateless reset against ngtcp2 (`gtlsclient` / `gtlsserver`, ../shared/PEERS.md §3;
 * RFC 9000 §9, §10.3): ngtcp2's client rebinding or migrating while it downloads from an rxtls server, and our
 * client migrating while it downloads from gtlsserver. The logic is tested in virtual time in
 * test/quic/migration.test.ts; this file checks that an independent stack agrees.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { get, H3_NO_ERROR, openControlStream } from '../helpers/h3.js';
import { quicListen, type QuicListener } from '../../src/rx/quic.js';
import { bigBody, connectTo, gtlsserver, rxtlsServer } from '../helpers/quicInterop.js';
import { certText, requirePeer, run, tempDir } from '../helpers/peers.js';

const TEST_MS = 60_000;

/** A body of 512 KB: ngtcp2 logs every frame (which the checks read), so larger downloads take long. */
const SIZE = 512 * 1024;

/** gtlsclient downloading `SIZE` bytes from an rxtls server with `flags`; its exit, log and the file. */
async function gtlsDownload(t: import('ava').ExecutionContext, flags: readonly string[]) {
  const bin = requirePeer('gtlsclient');
  const body = bigBody(SIZE);
  const srv = await rxtlsServer(t, body);
  const dl = tempDir(t);
  const url = `https://127.0.0.1:${srv.port}/big`;
  const r = await run(bin, ['127.0.0.1', String(srv.port), url, '--exit-on-all-streams-close', '--download', dl, ...flags], { timeoutMs: 40_000, owner: t });
  return { r, log: r.stdout + r.stderr, body, file: readFileSync(path.join(dl, 'big'), 'utf8'), srv };
}

/** The local ports gtlsclient sent from, in order of first use. */
const localPorts = (log: string) => [...new Set([...log.matchAll(/Sent packet: local=\[127\.0\.0\.1\]:(\d+)/g)].map((m) => m[1]))];

test('QUIC interop, NAT rebinding (RFC 9000 §9.3): gtlsclient --nat-rebinding sends its request from a new port; our server follows, validates the path and the file arrives whole', async (t) => {
  t.timeout(TEST_MS);
  // The rebinding comes between the handshake and the request (--delay-stream): a client rebinding in the middle
  // of a download with nothing of its own in flight sends nothing more, so the server cannot learn of it.
  const { r, log, body, file, srv } = await gtlsDownload(t, ['--change-local-addr=200ms', '--nat-rebinding', '--delay-stream=400ms']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.true(file === body, `${file.length} of ${body.length} bytes, whole`);
  t.is(localPorts(log).length, 2, 'it sent from two ports');
  t.regex(log, /frm rx \d+ 1RTT PATH_CHALLENGE/, 'our server validated the new path');
  t.regex(log, /frm tx \d+ 1RTT PATH_RESPONSE/);
  t.regex(log, /frm rx \d+ 1RTT RETIRE_CONNECTION_ID/, 'and moved to a new connection ID of the client\'s (§9.5)');
  t.is(srv.stats().statelessResets, 0);
});

test('QUIC interop, migration (RFC 9000 §9.2): gtlsclient --change-local-addr migrates mid-download to a new connection ID and port; the file arrives whole', async (t) => {
  t.timeout(TEST_MS);
  const { r, log, body, file, srv } = await gtlsDownload(t, ['--change-local-addr=200ms']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.true(file === body, `${file.length} of ${body.length} bytes, whole`);
  t.is(localPorts(log).length, 2, 'it sent from two ports');
  t.regex(log, /frm rx \d+ 1RTT PATH_RESPONSE/, 'our server answered its PATH_CHALLENGE');
  t.regex(log, /frm rx \d+ 1RTT PATH_CHALLENGE/, 'and validated the new path itself');
  t.is(srv.stats().statelessResets, 0, 'every connection ID it used was routed');
});

test('QUIC interop, stateless reset (RFC 9000 §10.3): a restarted rxtls listener with the same key resets gtlsclient\'s connection; ngtcp2 recognises our token', async (t) => {
  t.timeout(TEST_MS);
  const bin = requirePeer('gtlsclient');
  const opts = { cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'], statelessResetKey: new Uint8Array(32).fill(0x42) };
  const first = await quicListen(opts);
  const port = first.port;
  let second: QuicListener | undefined;
  t.teardown(async () => {
    await first.close().catch(() => {});
    await second?.close();
  });
  // The first listener goes away once the handshake is confirmed (HANDSHAKE_DONE acknowledged); the client's
  // request, held back by --delay-stream, then reaches a second listener that knows nothing of it.
  first.connections.subscribe(() => {
    setTimeout(() => {
      void first.close().then(async () => {
        second = await quicListen({ ...opts, port });
      });
    }, 150);
  });
  const r = await run(bin, ['127.0.0.1', String(port), `https://127.0.0.1:${port}/x`, '--exit-on-all-streams-close', '--delay-stream=600ms', '--timeout=5s'], { timeoutMs: 30_000, owner: t });
  const log = r.stdout + r.stderr;
  const token = /stateless_reset_token=0x([0-9a-f]{32})/.exec(log)?.[1];
  t.truthy(token, 'our stateless_reset_token transport parameter');
  t.regex(log, new RegExp(`SR token=0x${token}`), 'ngtcp2 matched the reset to our token');
  t.regex(log, /ERR_DRAINING/, 'and stopped the connection');
  t.true((second?.stats().statelessResets ?? 0) >= 1);
});

test('QUIC interop, migration (RFC 9000 §9.2): rxtls client migrates mid-download from gtlsserver; the file arrives whole, the server validates the new path', async (t) => {
  t.timeout(TEST_MS);
  const body = bigBody(2 * 1024 * 1024);
  const { peer, port } = await gtlsserver(t, { 'big.html': body, 'index.html': 'after migration\n' });
  const conn = await connectTo(port);
  openControlStream(conn);
  const first = get(conn, `localhost:${port}`, '/big.html', 30_000);
  // Move once the transfer is going (the server has issued us connection IDs by then).
  await new Promise((resolve) => setTimeout(resolve, 50));
  await conn.migrate();
  t.is((await first).body.toString(), body, 'the download in progress completed');
  t.is((await get(conn, `localhost:${port}`, '/index.html', 20_000)).body.toString(), 'after migration\n');
  await peer.waitForOutput(/frm tx \d+ 1RTT PATH_CHALLENGE/, 10_000); // gtlsserver validated our new path
  conn.close({ errorCode: H3_NO_ERROR, rapid: true });
});
