/**
 * Write-side backpressure of QUIC streams over real UDP sockets on 127.0.0.1: `write()` answers false at the
 * stream's `highWaterMark`, `drain$` follows the reader, `send()` holds a fast source to the reader's pace. Counts
 * bytes at every event; nothing is timed.
 */
import test from 'ava';
import { Observable, filter, firstValueFrom, from, interval, lastValueFrom, concatMap, take, timeout, toArray } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { quicConnect, quicListen, type QuicConnection, type QuicStream } from '../../src/rx/quic.js';
import { fixture } from '../helpers/pair.js';
import { slowPatternReader } from '../helpers/slowReader.js';

const KB = 1024;
const identity = { cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['echo'] };
const client = (port: number, more: object = {}) =>
  firstValueFrom(quicConnect({ host: '127.0.0.1', port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'], ...more }).pipe(timeout(10_000)));
/** Wait (bounded) until `cond` holds, looking every 20 ms. */
const until = (cond: () => boolean) => firstValueFrom(interval(20).pipe(filter(cond), take(1), timeout(15_000)));

/** A listener with small receive windows, a client with the given mark, and the server's side of its first stream. */
async function setup(t: { teardown: (f: () => unknown) => void }, highWaterMark: number) {
  const srv = await quicListen({ ...identity, maxStreamData: 16 * KB, maxData: 64 * KB });
  t.teardown(() => srv.close());
  const accepted = firstValueFrom(srv.connections.pipe(timeout(10_000)));
  const conn = await client(srv.port, { highWaterMark });
  t.teardown(() => conn.close({ rapid: true }));
  const serverConn: QuicConnection = await accepted;
  const incoming = firstValueFrom(serverConn.incoming$.pipe(timeout(10_000)));
  return { conn, serverConn, incoming };
}

test('QUIC over UDP: write() answers false at the high-water mark; drain$ waits for the reader, then all arrives', async (t) => {
  t.timeout(40_000);
  const HWM = 16 * KB;
  const { conn, incoming } = await setup(t, HWM);
  const s = conn.openStream();
  let drains = 0;
  s.drain$.subscribe(() => drains++);
  const chunk = (i: number) => new Uint8Array(4 * KB).fill(i);
  // The peer's 16 KiB window lets about that much out; the rest waits unsent until the mark is reached.
  let writes = 0;
  while (s.write(chunk(writes++))) t.true(writes < 32, 'the mark is reached within window + mark');
  t.true(s.unsentBytes >= HWM, `${s.unsentBytes} B unsent when write() answered false`);
  t.true(s.unsentBytes < HWM + 4 * KB);
  t.is(conn.stats().unsentBytes, s.unsentBytes);
  const stream: QuicStream = await incoming;
  // The reader takes nothing: the peer's window fills and nothing more leaves; no drain meanwhile.
  await until(() => stream.bufferedBytes === 16 * KB);
  t.is(drains, 0, 'no drain while the reader takes nothing');
  t.true(s.unsentBytes >= HWM);
  const received = lastValueFrom(stream.data$.pipe(toArray(), timeout(20_000)));
  await firstValueFrom(s.drain$.pipe(timeout(15_000)));
  t.true(s.unsentBytes <= HWM / 2, `${s.unsentBytes} B unsent at the drain: half the mark or less`);
  t.true(s.write(chunk(writes++)), 'writable again after the drain');
  s.end();
  const got = Buffer.concat(await received);
  t.is(got.length, writes * 4 * KB);
  t.true(got.every((b, i) => b === (Math.floor(i / (4 * KB)) & 0xff)), 'in order');
});

test('QUIC over UDP: send() under concatMap holds a fast source to a slow reader: unsent bytes stay within the mark + one chunk at every event', async (t) => {
  t.timeout(60_000);
  const HWM = 32 * KB;
  const CHUNK = 8 * KB;
  const COUNT = 64; // 512 KiB: sixteen times the mark
  const { conn, incoming } = await setup(t, HWM);
  const s = conn.openStream();
  let maxUnsent = 0;
  const watch = () => (maxUnsent = Math.max(maxUnsent, s.unsentBytes));
  // A slow reader: every chunk waits a macrotask, so the writer is always ahead.
  const reader = incoming.then((stream) => slowPatternReader(stream, CHUNK, 50_000, watch));
  let produced = 0;
  await lastValueFrom(
    from(Array.from({ length: COUNT }, (_, i) => i)).pipe(
      concatMap((i) =>
        new Observable<never>((sub) => {
          produced += CHUNK;
          const sending = s.send(new Uint8Array(CHUNK).fill(i)).subscribe(sub);
          watch(); // just after the write
          return sending;
        }),
      ),
      toArray(),
      timeout(50_000),
    ),
  ).finally(watch);
  s.end();
  const { progress, done } = await reader;
  await done;
  t.is(produced, COUNT * CHUNK);
  t.is(progress.read, COUNT * CHUNK);
  t.true(progress.inOrder, 'in order');
  t.log(`most unsent: ${maxUnsent} B`);
  t.true(maxUnsent <= HWM + CHUNK, `at most ${maxUnsent} B unsent (bound ${HWM + CHUNK})`);
});

test("QUIC over UDP: a send() waiting for drain errors with the peer's STOP_SENDING code; send() after it errors at once", async (t) => {
  t.timeout(40_000);
  const { conn, incoming } = await setup(t, 8 * KB);
  const s = conn.openStream();
  while (s.write(new Uint8Array(4 * KB)));
  const waiting = firstValueFrom(s.send(new Uint8Array(KB)), { defaultValue: 'completed' });
  const stream = await incoming;
  stream.stopSending(0x2an);
  const err = await t.throwsAsync(waiting, { instanceOf: TlsError });
  t.like(err?.detail, { kind: 'quicStreamReset', code: 0x2an, direction: 'send', local: false });
  await t.throwsAsync(firstValueFrom(s.send(new Uint8Array(1)), { defaultValue: 'completed' }), { instanceOf: TlsError });
});

test('QUIC: highWaterMark must be a positive integer (API misuse at the call)', async (t) => {
  t.throws(() => quicConnect({ host: '127.0.0.1', port: 1, alpn: ['echo'], highWaterMark: 0 }), { instanceOf: TlsError, message: /highWaterMark/ });
  await t.throwsAsync(quicListen({ ...identity, highWaterMark: 1.5 }), { instanceOf: TlsError, message: /highWaterMark/ });
});
