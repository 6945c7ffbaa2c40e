/**
 * QUIC resumption and 0-RTT over UDP on 127.0.0.1 (RFC 9001 §4.6): `quicConnect({ sessionCache, earlyData })`
 * against `quicListen({ maxEarlyData })`, an echo server that upper-cases each stream.
 */
import test from 'ava';
import { firstValueFrom, lastValueFrom, timeout, toArray } from 'rxjs';
import { createAntiReplay, createTicketer } from '../../src/handshake/session.js';
import { quicConnect, quicListen, type QuicConnection, type QuicListenOptions } from '../../src/rx/quic.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import { fixture } from '../helpers/pair.js';

const listen = (o: Partial<QuicListenOptions> = {}) =>
  quicListen({
    host: '127.0.0.1',
    cert: fixture('server-ec-chain.pem'),
    key: fixture('server-ec-key.pem'),
    alpn: ['echo'],
    ticketer: createTicketer(new Uint8Array(32).fill(3)),
    antiReplay: createAntiReplay(),
    keyLog: false,
    ...o,
  }).then((srv) => {
    srv.connections.subscribe((conn) =>
      conn.incoming$.subscribe((s) => {
        const chunks: Uint8Array[] = [];
        s.data$.subscribe({ next: (d) => chunks.push(d), complete: () => (s.write(Buffer.concat(chunks).toString().toUpperCase()), s.end()) });
      }),
    );
    return srv;
  });

const reply = (s: QuicConnection['earlyStreams'][number]) => lastValueFrom(s.data$.pipe(toArray(), timeout(10_000))).then((c) => Buffer.concat(c).toString());

/** Connect, echo one message (in 0-RTT when `early`), close cleanly; the connection and the echo. */
async function once(port: number, sessionCache: ReturnType<typeof createSessionCache>, early: boolean) {
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'], sessionCache, keyLog: false, ...(early ? { earlyData: ['hello in 0-rtt'] } : {}) }).pipe(
      timeout(10_000),
    ),
  );
  let echoed: string;
  if (early) echoed = await reply(conn.earlyStreams[0]!);
  else {
    const s = conn.openStream();
    const r = reply(s);
    s.write('hello in 1-rtt');
    s.end();
    echoed = await r;
  }
  // Wait for the tickets (they follow the handshake), then close cleanly: only then is the session cached.
  await firstValueFrom(conn.sessions$.pipe(timeout(5_000)));
  conn.close();
  await lastValueFrom(conn.closed$, { defaultValue: undefined });
  return { conn, echoed };
}

test('quicConnect({ sessionCache }): the second connection resumes; a cleanly closed one leaves its session', async (t) => {
  t.timeout(30_000);
  const srv = await listen();
  t.teardown(() => srv.close());
  const cache = createSessionCache();
  const first = await once(srv.port, cache, false);
  t.false(first.conn.info.resumed);
  t.is(first.echoed, 'HELLO IN 1-RTT');
  const second = await once(srv.port, cache, false);
  t.true(second.conn.info.resumed);
  t.is(second.conn.info.earlyData, 'none');
  t.is(second.echoed, 'HELLO IN 1-RTT');
  t.truthy(cache.get('localhost:' + srv.port), 'the resumed connection left a fresh session');
});

test('quicConnect({ earlyData }): 0-RTT echo, accepted by a server with maxEarlyData', async (t) => {
  t.timeout(30_000);
  const srv = await listen({ maxEarlyData: 1 });
  t.teardown(() => srv.close());
  const cache = createSessionCache();
  const first = await once(srv.port, cache, true);
  t.is(first.conn.info.earlyData, 'none', 'no session yet: the writes went after the handshake');
  t.is(first.echoed, 'HELLO IN 0-RTT');
  const second = await once(srv.port, cache, true);
  t.true(second.conn.info.resumed);
  t.is(second.conn.info.earlyData, 'accepted');
  t.is(second.echoed, 'HELLO IN 0-RTT');
});

test('quicConnect({ earlyData }): a server without 0-RTT refuses it and the data arrives in 1-RTT, once', async (t) => {
  t.timeout(30_000);
  const ticketer = createTicketer(new Uint8Array(32).fill(4));
  const generous = await listen({ maxEarlyData: 1, ticketer });
  const cache = createSessionCache();
  await once(generous.port, cache, true);
  const port = generous.port;
  await generous.close();
  // The same ticket key on the same port, now without 0-RTT.
  const strict = await listen({ port, ticketer });
  t.teardown(() => strict.close());
  const second = await once(port, cache, true);
  t.true(second.conn.info.resumed);
  t.is(second.conn.info.earlyData, 'rejected');
  t.is(second.echoed, 'HELLO IN 0-RTT');
});
