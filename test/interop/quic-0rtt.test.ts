/**
 * QUIC resumption and 0-RTT interop with ngtcp2 (../shared/PEERS.md §3), both directions:
 * - `gtlsclient --session-file --tp-file` twice against an rxtls server with `maxEarlyData`; the second run
 *   resumes and sends its request in 0-RTT;
 * - an rxtls client (`quicConnect({ session, earlyData })`, the GET's HEADERS frame as its 0-RTT stream) against
 *   `gtlsserver`, which accepts; and against a restarted `gtlsserver`, whose new ticket key refuses the ticket and
 *   so the 0-RTT data, which our client sends again in 1-RTT (RFC 9000 §17.2.3, RFC 9001 §4.6.2).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { firstValueFrom, lastValueFrom, timeout } from 'rxjs';
import { createAntiReplay, createTicketer, type TlsSession } from '../../src/handshake/session.js';
import { get, getRequestBytes, H3_NO_ERROR, openControlStream, readResponse } from '../helpers/h3.js';
import { connectTo, gtlsserver, rxtlsServer } from '../helpers/quicInterop.js';
import { delay, requirePeer, run, tempDir, type Peer } from '../helpers/peers.js';

test('QUIC 0-RTT interop: gtlsclient (ngtcp2) resumes against an rxtls server and its 0-RTT request is accepted', async (t) => {
  t.timeout(60_000);
  const bin = requirePeer('gtlsclient');
  const body = 'hello again from rxtls ' + 'z'.repeat(2000) + '\n';
  const srv = await rxtlsServer(t, body, { maxEarlyData: 1, ticketer: createTicketer(new Uint8Array(32).fill(5)), antiReplay: createAntiReplay() });
  const infos: { resumed: boolean; earlyData: string }[] = [];
  srv.connections.subscribe((conn) => infos.push(conn.info));
  const dir = tempDir(t);
  const files = ['--session-file', path.join(dir, 'session'), '--tp-file', path.join(dir, 'tp')];
  const fetch = async (name: string) => {
    const dl = path.join(dir, name);
    mkdirSync(dl);
    const r = await run(bin, ['127.0.0.1', String(srv.port), `https://127.0.0.1:${srv.port}/index.html`, '--exit-on-all-streams-close', '--download', dl, ...files], { timeoutMs: 30_000, owner: t });
    t.is(r.code, 0, r.stderr + r.stdout);
    t.is(readFileSync(path.join(dl, 'index.html'), 'utf8'), body);
    return r.stdout + r.stderr;
  };
  const first = await fetch('dl1');
  t.notRegex(first, /type=0RTT/);
  const second = await fetch('dl2');
  // gtlsclient 0.12 prints no verdict: its log shows the request in 0-RTT, and our server says it took it.
  t.regex(second, /frm tx \d+ 0RTT STREAM\(0x0b\) id=0x0 fin=1/);
  t.deepEqual(
    infos.map((i) => [i.resumed, i.earlyData]),
    [
      [false, 'none'],
      [true, 'accepted'],
    ],
  );
});

/** gtlsserver's log once it has seen `n` CONNECTION_CLOSE frames (bounded: 10 s). */
async function closesSeen(peer: Peer, n: number): Promise<string> {
  for (let i = 0; i < 100 && (peer.output().match(/frm rx \d+ 1RTT CONNECTION_CLOSE/g)?.length ?? 0) < n; i++) await delay(100);
  return peer.output();
}

/** A first connection to gtlsserver: one GET, then the session from its NewSessionTicket, then a clean close. */
async function sessionFrom(t: ExecutionContext, port: number, body: string): Promise<TlsSession> {
  const conn = await connectTo(port);
  const sessions = firstValueFrom(conn.sessions$.pipe(timeout(10_000)));
  openControlStream(conn);
  const r = await get(conn, `localhost:${port}`, '/index.html', 20_000);
  t.is(r.body.toString(), body);
  t.false(conn.info.resumed);
  const session = await sessions;
  conn.close({ errorCode: H3_NO_ERROR });
  await lastValueFrom(conn.closed$, { defaultValue: undefined });
  return session;
}

/** A resumption with the GET as 0-RTT data (a stream of its own, `earlyData`); the connection and its answer. */
async function earlyGet(port: number, session: TlsSession) {
  const records: string[] = [];
  const conn = await connectTo(port, { session, earlyData: [getRequestBytes(`localhost:${port}`, '/index.html')], qlog: (record) => records.push(record) });
  openControlStream(conn);
  const r = await readResponse(conn.earlyStreams[0]!, 20_000);
  conn.close({ errorCode: H3_NO_ERROR });
  await lastValueFrom(conn.closed$, { defaultValue: undefined });
  // Our qlog: the 0-RTT packets we sent that carried stream 0.
  const sent0Rtt = records.filter((r) => r.includes('"transport:packet_sent"') && r.includes('"packet_type":"0RTT"') && r.includes('"stream_id":0')).length;
  return { conn, r, sent0Rtt };
}

test('QUIC 0-RTT interop: an rxtls client resumes against gtlsserver (ngtcp2) and its 0-RTT GET is accepted', async (t) => {
  t.timeout(60_000);
  const body = 'early hello from ngtcp2 ' + 'e'.repeat(3000) + '\n';
  const { peer, port } = await gtlsserver(t, { 'index.html': body });
  const session = await sessionFrom(t, port, body);
  t.true(session.maxEarlyData > 0, 'gtlsserver tickets allow 0-RTT');
  const { conn, r, sent0Rtt } = await earlyGet(port, session);
  t.true(sent0Rtt > 0, 'the GET went in 0-RTT packets');
  t.true(conn.info.resumed);
  t.is(conn.info.earlyData, 'accepted');
  t.is(r.status, 200);
  t.is(r.body.toString(), body);
  // The server's log: the request came in 0-RTT packets and was answered once (plus the first connection's).
  const log = await closesSeen(peer, 2);
  t.regex(log, /frm rx \d+ 0RTT STREAM\(0x0[a-f]\) id=0x0 fin=\d offset=0 len=\d+/);
  t.is(log.match(/http: stream 0x0 \[:path: \/index\.html\]/g)?.length, 2);
});

test('QUIC 0-RTT interop: a restarted gtlsserver (new ticket key) refuses the rxtls client 0-RTT; the GET goes again in 1-RTT, answered once', async (t) => {
  t.timeout(60_000);
  const body = 'hello after a restart ' + 'r'.repeat(3000) + '\n';
  const first = await gtlsserver(t, { 'index.html': body });
  const session = await sessionFrom(t, first.port, body);
  await first.peer.kill();
  // GnuTLS makes its session ticket key at startup: the new server cannot open the old ticket.
  const { peer, port } = await gtlsserver(t, { 'index.html': body });
  const { conn, r, sent0Rtt } = await earlyGet(port, session);
  t.true(sent0Rtt > 0, 'the GET went in 0-RTT packets first');
  t.false(conn.info.resumed, 'a full handshake');
  t.is(conn.info.earlyData, 'rejected');
  t.is(r.status, 200);
  t.is(r.body.toString(), body);
  const log = await closesSeen(peer, 1);
  t.notRegex(log, /type=0RTT/, 'no 0-RTT packet was decrypted');
  t.regex(log, /frm rx \d+ 1RTT STREAM\(0x0[a-f]\) id=0x0 fin=\d offset=0 len=\d+/);
  t.is(log.match(/http: stream 0x0 \[:path: \/index\.html\]/g)?.length, 1, 'the request reached the server once');
});
