/**
 * Backpressure both ways, in virtual time: a fast producer (an iterable, pulled only while the transport is
 * writable) into a slow consumer (`receive` with delays), with the memory held anywhere in between bounded.
 */
import test from 'ava';
import { NEVER, catchError, from, lastValueFrom, map, mergeMap, of, switchMap, tap, timer, toArray } from 'rxjs';
import { secure } from '../../operators/secure.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import type { BatchCipher } from '../../src/crypto/provider.js';
import { nobleOpen, nobleSeal, withBatch } from '../helpers/batch.js';
import type { ByteDuplex } from '../../src/rx/types.js';
import { ca, cert, dec, enc, failure, key, securePair, startSending, virtualClock } from './virtual.js';

const CHUNK = 1024;
const COUNT = 32; // 32 KiB in all: four times the bound below
const HWM = 2048; // inbound high-water mark and the pipe's
/**
 * Stated bound on bytes pulled from the producer and not yet consumed: the inbound high-water mark, the pipe's,
 * the chunk being consumed, one that crossed the mark, one in the pipe over its mark, and one just pulled.
 */
const BOUND = HWM + HWM + 4 * CHUNK;

const chunkAt = (i: number) => new Uint8Array(CHUNK).fill(i & 0xff);

for (const direction of ['client → server', 'server → client'] as const) {
  test(`${direction}: a fast iterable into a slow receive(): the transport pauses, memory stays bounded, every byte arrives in order`, (t) => {
    const ts = virtualClock(t);
    let pulled = 0;
    let consumed = 0;
    let maxInFlight = 0;
    let maxPipe = 0;
    let pauses = 0;
    let drains = 0;
    const received: Uint8Array[] = [];
    ts.run(({ expectObservable }) => {
      const [c, s] = memoryDuplexPair({ highWaterMark: HWM });
      // The producing end writes into `out`; the consuming end reads from `inn`.
      const [out, inn] = direction === 'client → server' ? [c, s] : [s, c];
      const watch = () => {
        maxInFlight = Math.max(maxInFlight, pulled - consumed);
        maxPipe = Math.max(maxPipe, out.writableLength);
      };
      // Instrument the consuming end: count pauses; the producing end: count drains and the pipe's queue.
      const consumerEnd: ByteDuplex = { ...inn, incoming$: inn.incoming$, pause: () => (pauses++, inn.pause()), resume: () => inn.resume() };
      const producerEnd: ByteDuplex = {
        ...out,
        incoming$: out.incoming$,
        write: (chunk) => {
          const ok = out.write(chunk);
          watch();
          return ok;
        },
        drain$: out.drain$.pipe(tap(() => drains++)),
      };
      function* producer() {
        for (let i = 0; i < COUNT; i++) {
          pulled += CHUNK;
          watch();
          yield chunkAt(i);
        }
      }
      const slow = (chunk: Uint8Array) =>
        timer(10).pipe(
          map(() => {
            consumed += chunk.length;
            received.push(chunk);
            watch();
            return chunk.length;
          }),
        );
      const serverSide = secure({ role: 'server', cert, key, highWaterMark: HWM, closeOnPeerClose: true });
      const clientSide = secure({ role: 'client', ca, servername: 'localhost', highWaterMark: HWM, closeOnPeerClose: true });
      const [producing, consuming] = direction === 'client → server' ? [clientSide, serverSide] : [serverSide, clientSide];
      // closeOnPeerClose: the consumer answers the producer's close_notify, so its connection completes too.
      const consumer$ = of(consumerEnd).pipe(
        consuming,
        switchMap((conn) => conn.receive(slow)),
      );
      of(producerEnd)
        .pipe(
          producing,
          mergeMap((conn) => conn.send(producer())),
        )
        .subscribe();
      // One chunk consumed every 10 ms from frame 0; the last one completes receive() (close_notify arrived).
      const marble = `10ms x${' 9ms x'.repeat(COUNT - 2)} 9ms (x|)`;
      expectObservable(consumer$).toBe(marble, { x: CHUNK });
    });
    t.is(received.length, COUNT);
    received.forEach((chunk, i) => t.deepEqual(chunk, chunkAt(i), `chunk ${i} in order`));
    t.true(maxInFlight <= BOUND, `at most ${BOUND} bytes between producer and consumer, saw ${maxInFlight}`);
    t.true(maxInFlight < COUNT * CHUNK / 2, 'the producer was held back');
    t.true(maxPipe <= HWM + CHUNK + 64, `the pipe held ${maxPipe} bytes`);
    t.true(pauses > 0, 'the transport was paused');
    t.true(drains > 0, 'the writer waited for drain');
  });
}

test('an Observable source that ignores backpressure errors the send() with apiMisuse instead of buffering', (t) => {
  const ts = virtualClock(t);
  let serverError: unknown;
  ts.run(({ expectObservable }) => {
    const [c, s] = memoryDuplexPair({ highWaterMark: HWM });
    // The server takes one chunk and never finishes it: its transport is paused, the pipe fills up.
    of(s)
      .pipe(
        secure({ role: 'server', cert, key, highWaterMark: HWM }),
        switchMap((conn) => conn.receive(() => NEVER)),
      )
      .subscribe({ error: (e) => (serverError = e) });
    const flood = from(Array.from({ length: 64 }, (_, i) => chunkAt(i)));
    const client$ = of(c).pipe(
      secure({ role: 'client', ca, servername: 'localhost', maxOutboundBuffer: 4 * CHUNK }),
      switchMap((conn) => conn.send(flood)),
      catchError(failure),
    );
    expectObservable(client$).toBe('(e|)', { e: { kind: 'apiMisuse' } });
  });
  // The client aborted its connection: the server sees a truncation.
  t.is((serverError as { kind?: string } | undefined)?.kind, 'unexpectedEof');
});

test('receive() and inbound$ share one consumer; receive() completes after the projections of buffered data', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    startSending(pair, cold('-a-b|', { a: enc('a'), b: enc('b') }));
    // Subscribed at 2: 'a' waited in the queue; each projection takes 3 ms; the close_notify (4) waits too.
    const received = '         -----a--(b|)';
    const again = '            ------(m|)';
    expectObservable(timer(2).pipe(switchMap(() => pair.server.receive((x) => timer(3).pipe(map(() => dec(x))))))).toBe(received);
    expectObservable(timer(6).pipe(switchMap(() => pair.server.inbound$), catchError(failure))).toBe(again, {
      m: { kind: 'apiMisuse' },
    });
  });
});

test('memoryDuplexPair: a paused side holds data and EOF in order; the writer sees false and then drain$', (t) => {
  const ts = virtualClock(t);
  const results: string[] = [];
  ts.run(({ cold, expectObservable }) => {
    const [a, b] = memoryDuplexPair({ highWaterMark: 4 });
    cold('-p-w-w-e-r').subscribe((op) => {
      if (op === 'p') b.pause();
      if (op === 'w') results.push(String(a.write(enc('abc'))));
      if (op === 'e') a.end();
      if (op === 'r') b.resume();
    });
    expectObservable(b.incoming$.pipe(map(dec))).toBe('---------(xy|)', { x: 'abc', y: 'abc' });
    expectObservable(a.drain$.pipe(map(() => 'd'))).toBe('---------d');
    expectObservable(cold('--------x').pipe(map(() => a.writableLength))).toBe('--------6', { 6: 6 });
  });
  t.deepEqual(results, ['true', 'false']);
});

test('an async iterable is pulled as the transport allows and its completion sends close_notify', async (t) => {
  const [c, s] = memoryDuplexPair({ highWaterMark: HWM });
  let pulled = 0;
  async function* producer() {
    for (let i = 0; i < 16; i++) {
      pulled++;
      yield chunkAt(i);
    }
  }
  const server = lastValueFrom(
    of(s).pipe(
      secure({ role: 'server', cert, key, highWaterMark: HWM, closeOnPeerClose: true }),
      switchMap((conn) => conn.receive((chunk) => timer(1).pipe(map(() => chunk)))),
      toArray(),
    ),
  );
  const sent = lastValueFrom(
    of(c).pipe(
      secure({ role: 'client', ca, servername: 'localhost' }),
      switchMap((conn) => conn.send(producer())),
    ),
    { defaultValue: 'done' },
  );
  t.is(await sent, 'done');
  const chunks = await server;
  t.is(pulled, 16);
  const all = new Uint8Array(chunks.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of chunks) all.set(x, (o += x.length) - x.length);
  t.deepEqual(all, new Uint8Array(Array.from({ length: 16 }, (_, i) => Array(CHUNK).fill(i)).flat()));
});

test('asyncCrypto: while a seal batch is in flight a fast iterable is pulled only about one batch ahead', async (t) => {
  // Seal batches complete only when the test releases them; opening stays synchronous (noble).
  const gates: (() => void)[] = [];
  const batch: BatchCipher = {
    sealBatch: (alg, k, jobs) =>
      new Promise((resolve) =>
        gates.push(() => resolve(nobleSeal(alg, k, jobs))),
      ),
    openBatch: nobleOpen,
  };
  const provider = withBatch('gated', batch);
  const TOTAL = 256; // chunks of 1 KiB: 256 KiB in all
  const BATCH = 4 * CHUNK; // maxPipelines 4 × splitSendFragment 1 KiB
  const [c, s] = memoryDuplexPair();
  let pulled = 0;
  let maxAhead = 0;
  function* producer() {
    for (let i = 0; i < TOTAL; i++) {
      pulled += CHUNK;
      yield chunkAt(i);
    }
  }
  let receivedBytes = 0;
  const server = lastValueFrom(
    of(s).pipe(
      secure({ role: 'server', cert, key, closeOnPeerClose: true }),
      switchMap((conn) => conn.inbound$),
      tap((d) => (receivedBytes += d.length)),
      toArray(),
    ),
  );
  const sent = lastValueFrom(
    of(c).pipe(
      secure({ role: 'client', ca, servername: 'localhost', provider, asyncCrypto: true, maxPipelines: 4, splitSendFragment: CHUNK }),
      switchMap((conn) => conn.send(producer())),
    ),
    { defaultValue: 'done' },
  );
  // Release the batches one at a time; measure how far the producer ran ahead of what reached the server.
  for (let round = 0; round < 10 * TOTAL && receivedBytes < TOTAL * CHUNK; round++) {
    await new Promise((r) => setImmediate(r));
    maxAhead = Math.max(maxAhead, pulled - receivedBytes);
    gates.shift()?.();
  }
  t.is(await sent, 'done');
  const chunks = await server;
  t.deepEqual(Buffer.concat(chunks), Buffer.concat(Array.from({ length: TOTAL }, (_, i) => chunkAt(i))));
  // In flight: one batch; queued in the core: up to one more; plus the chunk just pulled.
  t.true(maxAhead <= 2 * BATCH + 2 * CHUNK, `the producer ran ${maxAhead} bytes ahead of the server`);
});
