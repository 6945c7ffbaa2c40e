/**
 * QUIC resumption and 0-RTT interop with ngtcp2 (../shared/PEERS.md §3): `gtlsclient --session-file --tp-file`
 * twice against an rxtls server with `maxEarlyData`; the second run resumes and sends its request in 0-RTT.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { createAntiReplay, createTicketer } from '../../src/handshake/session.js';
import { rxtlsServer } from '../helpers/quicInterop.js';
import { requirePeer, run, tempDir } from '../helpers/peers.js';

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
