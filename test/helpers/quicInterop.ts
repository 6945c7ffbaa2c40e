/**
 * Peers for the QUIC interop tests (../shared/PEERS.md §3): `gtlsserver` serving files, an rxtls QUIC server
 * answering every HTTP/3 GET with one body, and an rxtls client connection to either.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { firstValueFrom, timeout } from 'rxjs';
import { quicConnect, quicListen, type QuicConnectOptions, type QuicListenOptions } from '../../src/rx/quic.js';
import { serve } from './h3.js';
import { certPath, certText, freePort, requirePeer, spawnPeer, tempDir } from './peers.js';

/** How long a QUIC peer process may live. */
export const QUIC_PEER_MS = 45_000;

/** Start gtlsserver serving `files` on a free UDP port, with `extra` flags; ready once it names its document root. */
export async function gtlsserver(t: ExecutionContext, files: Record<string, string>, extra: readonly string[] = []) {
  const bin = requirePeer('gtlsserver');
  const htdocs = path.join(tempDir(t), 'htdocs');
  mkdirSync(htdocs);
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(htdocs, name), body);
  const port = await freePort();
  const peer = await spawnPeer(bin, ['127.0.0.1', String(port), certPath('server-ec-key.pem'), certPath('server-ec-chain.pem'), '-d', htdocs, ...extra], {
    timeoutMs: QUIC_PEER_MS,
    owner: t,
    readyLine: 'Using document root',
  });
  return { peer, port };
}

/** An rxtls QUIC client connection (ALPN h3, trusting the test CA as `localhost`) to 127.0.0.1:`port`. */
export const connectTo = (port: number, extra: Partial<QuicConnectOptions> = {}) =>
  firstValueFrom(quicConnect({ host: '127.0.0.1', port, ca: certText('ca-cert.pem'), servername: 'localhost', alpn: ['h3'], ...extra }).pipe(timeout(20_000)));

/** An rxtls QUIC server answering every HTTP/3 GET with `body`; closed at the end of the test. */
export async function rxtlsServer(t: ExecutionContext, body: string, extra: Partial<QuicListenOptions> = {}) {
  const srv = await quicListen({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'], ...extra });
  t.teardown(() => srv.close());
  srv.connections.subscribe((conn) => {
    serve(conn, body);
    conn.closed$.subscribe({ error: () => {} });
  });
  return srv;
}

/** `bytes` of numbered text lines (64 B each), easy to diff when a transfer goes wrong. */
export const bigBody = (bytes: number) => Array.from({ length: Math.ceil(bytes / 64) }, (_, i) => `${String(i).padStart(63, '.')}\n`).join('');
