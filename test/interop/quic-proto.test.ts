/**
 * QUIC v1 protocol features against ngtcp2 (`gtlsserver` / `gtlsclient`, ../shared/PEERS.md §3): key update
 * (RFC 9001 §6) both ways; Retry, version negotiation and stateless reset come with their modules. The logic
 * itself is tested in virtual time (test/quic/*.test.ts); this file checks that an independent stack agrees.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { TlsError } from '../../src/core/errors.js';
import { get, H3_NO_ERROR, openControlStream } from '../helpers/h3.js';
import { bigBody, connectTo, gtlsserver, rxtlsServer } from '../helpers/quicInterop.js';
import { requirePeer, run, tempDir } from '../helpers/peers.js';

const TEST_MS = 60_000;

test('QUIC interop, key update (RFC 9001 §6): gtlsclient --key-update=50ms downloads 3 MB from rxtls whole, and sees its update confirmed', async (t) => {
  t.timeout(TEST_MS);
  const bin = requirePeer('gtlsclient');
  // -q: ngtcp2's per-frame log slows it about tenfold; the confirmation is checked on a smaller download below.
  const body = bigBody(3 * 1024 * 1024);
  const srv = await rxtlsServer(t, body);
  const dl = tempDir(t);
  const args = (file: string) => ['127.0.0.1', String(srv.port), `https://127.0.0.1:${srv.port}/${file}`, '--exit-on-all-streams-close', '--key-update=50ms', '--download', dl];
  const big = await run(bin, [...args('big'), '-q'], { timeoutMs: 30_000, owner: t });
  t.is(big.code, 0, big.stderr.slice(-2000));
  t.true(readFileSync(path.join(dl, 'big'), 'utf8') === body, '3 MB arrived whole');
  const small = await rxtlsServer(t, bigBody(256 * 1024));
  const r = await run(bin, ['127.0.0.1', String(small.port), `https://127.0.0.1:${small.port}/small`, '--exit-on-all-streams-close', '--key-update=50ms', '--download', dl], { timeoutMs: 30_000, owner: t });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.is(readFileSync(path.join(dl, 'small'), 'utf8').length, 256 * 1024);
  t.regex(r.stdout + r.stderr, /Initiate key update/);
  t.regex(r.stdout + r.stderr, /key update confirmed/, 'ngtcp2 saw our answer under the new keys');
});

test('QUIC interop, key update (RFC 9001 §6): rxtls client updates its keys; gtlsserver confirms and serves the file', async (t) => {
  t.timeout(TEST_MS);
  const body = 'after key update ' + 'z'.repeat(20_000) + '\n';
  const { peer, port } = await gtlsserver(t, { 'index.html': body });
  const conn = await connectTo(port);
  openControlStream(conn);
  // A first request so that a packet under the first keys is acknowledged (RFC 9001 §6.1), then the update.
  t.is((await get(conn, `localhost:${port}`, '/index.html', 20_000)).body.toString(), body);
  conn.keyUpdate();
  t.is((await get(conn, `localhost:${port}`, '/index.html', 20_000)).body.toString(), body);
  await peer.waitForOutput(/key update confirmed/i, 10_000);
  conn.close({ errorCode: H3_NO_ERROR, rapid: true });
  t.regex(peer.output(), /key update confirmed/i);
});

test('QUIC interop, Retry (RFC 9000 §8.1.2): rxtls client follows gtlsserver -V and fetches the file', async (t) => {
  t.timeout(TEST_MS);
  const body = 'after retry ' + 'r'.repeat(10_000) + '\n';
  const { peer, port } = await gtlsserver(t, { 'index.html': body }, ['-V']);
  const conn = await connectTo(port);
  openControlStream(conn);
  t.is((await get(conn, `localhost:${port}`, '/index.html', 20_000)).body.toString(), body);
  conn.close({ errorCode: H3_NO_ERROR, rapid: true });
  t.regex(peer.output(), /Retry/i, 'the server sent a Retry');
});

test('QUIC interop, Retry (RFC 9000 §8.1.2): gtlsclient against an rxtls server with retry on downloads the file after a Retry; one connection', async (t) => {
  t.timeout(TEST_MS);
  const bin = requirePeer('gtlsclient');
  const body = 'served after a retry ' + 'q'.repeat(5000) + '\n';
  const srv = await rxtlsServer(t, body, { retry: true });
  const dl = tempDir(t);
  const r = await run(bin, ['127.0.0.1', String(srv.port), `https://127.0.0.1:${srv.port}/index.html`, '--exit-on-all-streams-close', '--download', dl], { timeoutMs: 30_000, owner: t });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.is(readFileSync(path.join(dl, 'index.html'), 'utf8'), body);
  t.regex(r.stdout + r.stderr, /type=Retry/);
  // At least one Retry: an Initial the client resends on its probe timeout before the Retry reached it carries
  // no token and earns another Retry, which the client discards (RFC 9000 §17.2.5.2). One connection either way.
  t.true(srv.stats().retries >= 1);
  t.is(srv.stats().created, 1);
});

test('QUIC interop, Retry: rxtls client ↔ rxtls server with retry on', async (t) => {
  t.timeout(TEST_MS);
  const body = 'rxtls retry ' + 'w'.repeat(3000);
  const srv = await rxtlsServer(t, body, { retry: true });
  const conn = await connectTo(srv.port);
  openControlStream(conn);
  t.is((await get(conn, `localhost:${srv.port}`, '/x', 20_000)).body.toString(), body);
  conn.close({ errorCode: H3_NO_ERROR, rapid: true });
  t.true(srv.stats().retries >= 1, 'a Retry was sent (more if a client Initial was resent before it arrived)');
  t.is(srv.stats().created, 1);
});

test('QUIC interop, version negotiation (RFC 9000 §6): gtlsclient -v 0x1a2a3a4a gets our Version Negotiation', async (t) => {
  t.timeout(TEST_MS);
  const bin = requirePeer('gtlsclient');
  const srv = await rxtlsServer(t, 'unused');
  const r = await run(bin, ['127.0.0.1', String(srv.port), `https://127.0.0.1:${srv.port}/index.html`, '--exit-on-all-streams-close', '-v', '0x1a2a3a4a', '--timeout=3s'], { timeoutMs: 20_000, owner: t });
  t.true(srv.stats().versionNegotiations >= 1, r.stdout.slice(-1500) + r.stderr.slice(-500));
  t.is(srv.stats().created, 0);
});

test('QUIC interop, version negotiation (RFC 9000 §6.2): our client offering an unknown version to gtlsserver fails at once with peerIncompatible', async (t) => {
  t.timeout(TEST_MS);
  const { port } = await gtlsserver(t, { 'index.html': 'x' });
  const started = Date.now();
  const err = await connectTo(port, { version: 0x1a2a3a4a }).then(() => undefined, (e: unknown) => e);
  t.true(err instanceof TlsError && err.detail.kind === 'peerIncompatible', String(err));
  t.regex(String((err as Error).message), /0x00000001/);
  t.true(Date.now() - started < 5_000, 'not the idle timeout');
});
