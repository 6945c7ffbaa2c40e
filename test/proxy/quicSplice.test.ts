/**
 * Credit across a QUIC hop: a fast byte producer, a splice into a QUIC stream (the proxy's client connection,
 * over real UDP on 127.0.0.1) and a slow QUIC reader behind it. The stream's send buffer is the proxy's own
 * buffer; it stays within the stream's `highWaterMark` and one chunk, and everything between the producer and
 * the reader within the stated marks, at every event. Counts bytes; nothing is timed.
 */
import test from 'ava';
import { filter, firstValueFrom, interval, lastValueFrom, take, timeout, toArray } from 'rxjs';
import { splice, SPLICE_HELD_CHUNKS, type SpliceReport } from '../../operators/splice.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { quicConnect, quicListen, type QuicConnection, type QuicStream } from '../../src/rx/quic.js';
import { fixture } from '../helpers/pair.js';
import { slowPatternReader, type SlowReader } from '../helpers/slowReader.js';

const KB = 1024;
const CHUNK = 4 * KB; // what the producer writes at a time, and so what the splice reads
const COUNT = 256; // 1 MiB: thirty-two times the QUIC mark
const PIPE_HWM = 4 * KB; // the producer's pipe
const QUIC_HWM = 32 * KB; // the proxy's QUIC stream
const WINDOW = 32 * KB; // the reader's stream receive window
/**
 * Stated bound on bytes the producer wrote and the reader has not finished with: the pipe (its mark and the
 * chunk that crossed it), the splice's held chunks, the QUIC stream's unsent bytes (its mark and the chunk that
 * crossed it), what flow control lets be sent and not yet read (one stream window), and the reader's chunk in hand.
 */
const BOUND = PIPE_HWM + CHUNK + SPLICE_HELD_CHUNKS * CHUNK + QUIC_HWM + CHUNK + WINDOW + 1500;

const until = (cond: () => boolean) => firstValueFrom(interval(20).pipe(filter(cond), take(1), timeout(15_000)));

test('credit across a QUIC hop: fast producer → splice → QUIC stream → slow reader; the proxy holds at most the mark + a chunk, all arrives in order', async (t) => {
  t.timeout(90_000);
  const srv = await quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['proxy'], maxStreamData: WINDOW, maxData: 4 * WINDOW });
  t.teardown(() => srv.close());
  const accepted = firstValueFrom(srv.connections.pipe(timeout(10_000)));
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['proxy'], highWaterMark: QUIC_HWM }).pipe(timeout(10_000)),
  );
  t.teardown(() => conn.close({ rapid: true }));
  const backend: QuicConnection = await accepted;

  let produced = 0;
  let maxInside = 0;
  let maxUnsent = 0;
  let maxHeld = 0;
  const up = conn.openStream();
  const watch = () => {
    maxInside = Math.max(maxInside, produced - (reader?.progress.read ?? 0));
    maxUnsent = Math.max(maxUnsent, up.unsentBytes);
  };

  // The backend reads slowly (a macrotask per chunk), checks the order, then answers and ends its side.
  let reader: SlowReader | undefined;
  const backendDone = firstValueFrom(backend.incoming$.pipe(timeout(10_000))).then((stream: QuicStream) => {
    reader = slowPatternReader(stream, CHUNK, 80_000, watch);
    return reader.done.then(() => {
      stream.write('done');
      stream.end();
    });
  });

  const [producerEnd, proxyEnd] = memoryDuplexPair({ highWaterMark: PIPE_HWM });
  const report = lastValueFrom(
    splice(proxyEnd, up, {
      onProgress: (p) => {
        maxHeld = Math.max(maxHeld, p.held);
        watch();
      },
    }).pipe(timeout(80_000)),
  );
  const answer = lastValueFrom(producerEnd.incoming$.pipe(toArray(), timeout(80_000)));

  // The producer writes as fast as its pipe takes it: on `drain$` when `write` said false.
  await new Promise<void>((resolve) => {
    const produce = () => {
      while (produced < COUNT * CHUNK) {
        const i = produced / CHUNK;
        produced += CHUNK;
        const more = producerEnd.write(new Uint8Array(CHUNK).fill(i & 0xff));
        watch();
        if (!more) return void producerEnd.drain$.pipe(take(1)).subscribe(produce);
      }
      producerEnd.end();
      resolve();
    };
    produce();
  });
  await backendDone;
  const r: SpliceReport = await report;
  t.is(Buffer.concat(await answer).toString(), 'done');
  t.is(reader!.progress.read, COUNT * CHUNK);
  t.true(reader!.progress.inOrder, 'bytes arrived in order');
  t.like(r, { aToB: COUNT * CHUNK, bToA: 4, a: { kind: 'end' }, b: { kind: 'end' } });
  t.log(`most inside: ${maxInside} B (bound ${BOUND}), most unsent in the proxy's QUIC stream: ${maxUnsent} B, most held by the splice: ${maxHeld} B`);
  t.true(maxUnsent <= QUIC_HWM + CHUNK, `the proxy's QUIC stream held at most ${maxUnsent} B unsent`);
  t.true(maxHeld <= SPLICE_HELD_CHUNKS * CHUNK);
  t.true(maxInside <= BOUND, `at most ${maxInside} B between producer and reader (bound ${BOUND})`);
  await until(() => up.unsentBytes === 0);
  t.is(conn.stats().unsentBytes, 0);
});
