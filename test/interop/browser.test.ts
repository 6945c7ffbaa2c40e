/**
 * A real browser's ClientHello: headless Chromium (Debian `chromium`, installed by `.ci/run`) fetches a page over
 * HTTPS from an rxtls `listen()` server. Chromium offers what current browsers offer — GREASE values, many
 * extensions, an X25519MLKEM768 key share first — so this is the "browser-like ClientHello" of the hardening
 * issue, end to end. The page names the negotiated group; with CI=true a missing Chromium fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { of, type Subscription } from 'rxjs';
import { listen } from '../../src/rx/listen.js';
import { certText, chromiumDumpDomArgs, requirePeer, run } from '../helpers/peers.js';

/** Serve every connection one HTTP/1.0 page naming what was negotiated; resolve with the port. */
function startPageServer(groups?: string): Promise<{ port: number; sub: Subscription; groupsSeen: string[] }> {
  const groupsSeen: string[] = [];
  return new Promise((resolve, reject) => {
    let sub: Subscription | undefined = undefined;
    sub = listen({
      host: '127.0.0.1',
      port: 0,
      cert: certText('server-ec-chain.pem'),
      key: certText('server-ec-key.pem'),
      ...(groups ? { groups } : {}),
      onListening: ({ port }) => resolve({ port, sub: sub!, groupsSeen }),
      // Chromium may drop spare connections without close_notify: not the server's failure.
      onError: () => undefined,
    }).subscribe({
      next: (conn) => {
        groupsSeen.push(conn.info.group ?? '(none)');
        const page = `<html><body><p id="r">group=${conn.info.group} suite=${conn.info.cipherSuite} hrr=${conn.info.helloRetry}</p></body></html>`;
        conn.inbound$.subscribe({ error: () => undefined });
        conn.send(of(new TextEncoder().encode(`HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${page.length}\r\nConnection: close\r\n\r\n${page}`))).subscribe({ error: () => undefined });
      },
      error: reject,
    });
  });
}

async function fetchWithChromium(port: number): Promise<string> {
  const chromium = requirePeer('chromium');
  const profile = mkdtempSync(join(tmpdir(), 'rxtls-chromium-'));
  try {
    const r = await run(
      chromium,
      // The fixture CA is not in Chromium's store; what is tested is the handshake, not the trust decision.
      chromiumDumpDomArgs(profile, `https://127.0.0.1:${port}/`, ['--ignore-certificate-errors', '--virtual-time-budget=5000']),
      { timeoutMs: 60_000, env: { ...process.env, HOME: profile } },
    );
    return r.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

test('Chromium → rxtls server preferring X25519MLKEM768: the hybrid group, no HelloRetryRequest', async (t) => {
  const server = await startPageServer('X25519MLKEM768:X25519:P-256');
  try {
    const dom = await fetchWithChromium(server.port);
    t.regex(dom, /group=X25519MLKEM768 suite=TLS_AES_\d+_GCM_SHA\d+ hrr=false/, dom.slice(0, 500));
  } finally {
    server.sub.unsubscribe();
  }
});

test('Chromium → rxtls server with the default groups: X25519 from the browser\'s second share, no HelloRetryRequest', async (t) => {
  const server = await startPageServer();
  try {
    const dom = await fetchWithChromium(server.port);
    t.regex(dom, /group=X25519 suite=TLS_AES_\d+_GCM_SHA\d+ hrr=false/, dom.slice(0, 500));
  } finally {
    server.sub.unsubscribe();
  }
});
