/**
 * QUIC over real UDP sockets on 127.0.0.1: a stream's reader sets the pace (pull mode, credit follows what it
 * takes), and NEW_TOKEN tokens let a client skip the Retry of its next connection. Counts only, no timings.
 */
import test from 'ava';
import { Subject, filter, firstValueFrom, interval, lastValueFrom, map, of, take, timeout, toArray } from 'rxjs';
import { quicConnect, quicListen, type QuicConnection, type QuicStream } from '../../src/rx/quic.js';
import { createQuicTokenCache } from '../../src/rx/quicTokenCache.js';
import { fixture } from '../helpers/pair.js';

const KB = 1024;
const identity = { cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['echo'] };
const client = (port: number, more: object = {}) =>
  firstValueFrom(quicConnect({ host: '127.0.0.1', port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'], ...more }).pipe(timeout(10_000)));
/** Wait (bounded) until `cond` holds, looking every 20 ms. */
const until = (cond: () => boolean) => firstValueFrom(interval(20).pipe(filter(cond), take(1), timeout(15_000)));
/** A token cache that counts the tokens put in it. */
function countingCache() {
  const cache = createQuicTokenCache();
  const counted = { puts: 0, put: (k: string, tok: Uint8Array) => (counted.puts++, cache.put(k, tok)), take: (k: string) => cache.take(k) };
  return counted;
}

test('QUIC over UDP: a reader that holds its chunk keeps the sender blocked; what waits stays within the windows; then all arrives', async (t) => {
  t.timeout(40_000);
  const windows = { maxData: 128 * KB, maxStreamData: 64 * KB };
  const srv = await quicListen({ ...identity, ...windows });
  t.teardown(() => srv.close());
  const accepted = firstValueFrom(srv.connections.pipe(timeout(10_000)));
  const conn = await client(srv.port);
  const serverConn: QuicConnection = await accepted;
  const incoming = firstValueFrom(serverConn.incoming$.pipe(timeout(10_000)));
  const data = Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => (i * 7) & 0xff));
  const s = conn.openStream();
  s.write(data);
  s.end();
  const stream: QuicStream = await incoming;
  // Pull mode: the first chunk's projection waits for the gate, so nothing more is taken meanwhile.
  const gate = new Subject<void>();
  let gated = true;
  const received = lastValueFrom(
    stream
      .receive((chunk) => (gated ? gate.pipe(take(1), map(() => chunk)) : of(chunk)))
      .pipe(toArray(), timeout(30_000)),
  );
  await until(() => conn.stats().flowFrames.streamDataBlocked >= 1);
  t.true(stream.bufferedBytes <= 64 * KB, `${stream.bufferedBytes} B waiting for the reader`);
  t.true(serverConn.stats().bufferedBytes <= 128 * KB);
  t.is(serverConn.stats().flowFrames.maxStreamData, 0, 'no credit while the reader holds its first chunk');
  gated = false;
  gate.next();
  const chunks = await received;
  t.true(Buffer.concat(chunks).equals(data));
  t.true(serverConn.stats().flowFrames.maxStreamData >= 10, `${serverConn.stats().flowFrames.maxStreamData} MAX_STREAM_DATA for 1 MB through 64 KiB`);
  conn.close({ rapid: true });
});

test('QUIC over UDP: a stream has one reader, data$ or receive', async (t) => {
  t.timeout(20_000);
  const srv = await quicListen(identity);
  t.teardown(() => srv.close());
  const conn = await client(srv.port);
  const s = conn.openStream();
  s.data$.subscribe();
  const err = await t.throwsAsync(firstValueFrom(s.receive((c) => of(c))));
  t.regex(String(err), /only once/);
  t.throws(() => conn.openStream({ priority: { urgency: 9 } }), { message: /urgency 9/ });
  conn.close({ rapid: true });
});

test('QUIC over UDP, RFC 9000 §8.1.3: with a token from NEW_TOKEN the next connection skips the Retry; a token from another key does not', async (t) => {
  t.timeout(40_000);
  const tokenKey = Uint8Array.from({ length: 16 }, (_, i) => i);
  const srv = await quicListen({ ...identity, retry: true, tokenKey });
  t.teardown(() => srv.close());
  const tokenCache = countingCache();
  const first = await client(srv.port, { tokenCache });
  t.is(srv.stats().retries, 1);
  // The NEW_TOKEN comes with HANDSHAKE_DONE, a round trip after the client's handshake completed.
  await until(() => tokenCache.puts === 1);
  first.close({ rapid: true });
  const second = await client(srv.port, { tokenCache });
  t.is(srv.stats().retries, 1, 'no Retry for the second connection');
  t.is(srv.stats().tokensAccepted, 1);
  second.close({ rapid: true });
  // Another listener's token is as good as none: a Retry, and the connection still opens.
  const other = await quicListen({ ...identity, retry: true, tokenKey: new Uint8Array(16).fill(7) });
  t.teardown(() => other.close());
  const otherCache = countingCache();
  const a = await client(other.port, { tokenCache: otherCache });
  await until(() => otherCache.puts === 1);
  a.close({ rapid: true });
  const tokenForOther = otherCache.take(`localhost:${other.port}`);
  t.truthy(tokenForOther);
  const wrong = createQuicTokenCache();
  wrong.put(`localhost:${srv.port}`, tokenForOther!);
  const third = await client(srv.port, { tokenCache: wrong });
  t.is(srv.stats().retries, 2, 'an invalid NEW_TOKEN token: a Retry, as without one');
  t.is(srv.stats().dropped.invalidToken, 0);
  third.close({ rapid: true });
});
