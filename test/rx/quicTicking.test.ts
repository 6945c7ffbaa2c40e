/**
 * QUIC with `ticking: 'manual'` over real UDP on 127.0.0.1 (QUIC has no in-memory transport in the RxJS layer):
 * a relay between client and server loses the client's first Initial, so the handshake can only complete after
 * the client's probe timeout — which, in manual mode, runs only when the test calls `handleEvents()`. Bounded by
 * timeouts; the assertions count datagrams, never durations.
 */
import test from 'ava';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { firstValueFrom, timeout } from 'rxjs';
import { quicConnect, quicListen } from '../../src/rx/quic.js';
import type { Ticker } from '../../src/rx/runReducer.js';
import { fixture } from '../helpers/pair.js';

/** A UDP relay on 127.0.0.1 to `serverPort` that drops the client datagrams whose index `drop` names. */
async function relay(serverPort: number, drop: (index: number) => boolean) {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let client: RemoteInfo | undefined;
  const counts = { fromClient: 0, forwarded: 0 };
  sock.on('message', (msg, from) => {
    if (from.port === serverPort) {
      if (client) sock.send(msg, client.port, client.address);
      return;
    }
    client = from;
    if (drop(counts.fromClient++)) return;
    counts.forwarded++;
    sock.send(msg, serverPort, '127.0.0.1');
  });
  return { port: sock.address().port, counts, close: () => sock.close() };
}

/** Wait (bounded, polling) until `done()`. */
async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('QUIC manual ticking: the lost Initial is probed again only when handleEvents() runs; eventTimeout() stays sane', async (t) => {
  t.timeout(30_000);
  const server = await quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['echo'] });
  t.teardown(() => server.close());
  const link = await relay(server.port, (i) => i === 0);
  t.teardown(() => link.close());
  let tick: Ticker | undefined;
  const samples: (number | undefined)[] = [];
  const connecting = firstValueFrom(
    quicConnect({
      host: '127.0.0.1',
      port: link.port,
      ca: fixture('ca-cert.pem'),
      servername: 'localhost',
      alpn: ['echo'],
      ticking: 'manual',
      onTicker: (x) => (tick = x),
    }).pipe(timeout(20_000)),
  );
  let connected = false;
  void connecting.then(() => (connected = true), () => undefined);
  t.truthy(tick, 'onTicker is called when the connection starts');
  // The first Initial was lost. Wait for the probe deadline without ticking: nothing is sent again.
  await until(() => link.counts.fromClient >= 1, 10_000, 'the first Initial');
  await until(
    () => {
      samples.push(tick!.eventTimeout());
      return tick!.eventTimeout() === 0;
    },
    15_000,
    'the probe deadline',
  );
  t.is(link.counts.fromClient, 1, 'no probe without handleEvents()');
  t.false(connected);
  // Tick on a loop until the handshake completes.
  const loop = setInterval(() => tick!.handleEvents(), 5);
  let conn;
  try {
    conn = await connecting;
  } finally {
    clearInterval(loop);
  }
  t.true(link.counts.fromClient >= 2, 'the probe went out once ticked');
  t.is(conn.info.alpn, 'echo');
  for (const s of samples) t.true(s === undefined || (Number.isFinite(s) && s >= 0 && s <= 60_000), `eventTimeout() = ${s}`);
  t.true(samples.some((s) => s !== undefined && s > 0), 'a positive wait was reported before the deadline');
  const c = conn.eventTimeout();
  t.true(c === undefined || (c >= 0 && c <= 60_000), `the connection's eventTimeout() = ${c}`);
  conn.close({ rapid: true });
});

test('QUIC listener in manual mode: its eventTimeout()/handleEvents() cover its connections', async (t) => {
  t.timeout(30_000);
  const server = await quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['echo'], ticking: 'manual' });
  t.teardown(() => server.close());
  t.is(server.eventTimeout(), undefined, 'no connection: nothing pending');
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: server.port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }).pipe(timeout(20_000)),
  );
  // The server's connection exists and has its idle timer at least: a finite wait.
  const wait = server.eventTimeout();
  t.true(wait !== undefined && wait >= 0 && wait <= 60_000, `listener eventTimeout() = ${wait}`);
  server.handleEvents(); // harmless
  conn.close({ rapid: true });
});
