/**
 * The proxy operators in virtual time: a client, a proxy (`terminate` + `originate`) and a backend over memory
 * pipes. Credit across the hops (a slow consumer holds the producer, the bytes inside stay bounded at every
 * step), half-closes carried each way on their own, and a backend's abort reaching the client as an abort.
 */
import test from 'ava';
import { EMPTY, NEVER, Observable, Subject, catchError, from, take, merge, concat, map, mergeMap, of, tap, timer } from 'rxjs';
import { secure } from '../../operators/secure.js';
import { originate, type OriginateReport } from '../../operators/originate.js';
import { terminate } from '../../operators/terminate.js';
import { SPLICE_HELD_CHUNKS, splice, type StreamEndpoint } from '../../operators/splice.js';
import { rateLimit } from '../../src/rx/faults/rateLimit.js';
import { faultyByteLink } from '../../src/rx/faults/faultyLink.js';
import { type MemoryDuplex, memoryDuplexPair } from '../../src/rx/duplex.js';
import type { ByteDuplex, TlsConnection } from '../../src/rx/types.js';
import { TlsError } from '../../src/core/errors.js';
import { ca, cert, dec, enc, key, virtualClock } from '../operators/virtual.js';

const CHUNK = 1024;
const COUNT = 128; // 128 KiB: sixteen times the bound below
const HWM = 2048; // every TLS connection's inbound high-water mark and every pipe's
/**
 * Stated bound on bytes the producer handed over and the consumer has not taken yet, everything in between
 * counted (the client's output, two pipes, the proxy's two connections and its splice, the backend): four
 * inbound high-water marks (proxy front, backend, and the two pipes' queues), the splice's held chunks, and one
 * chunk per hop in motion (pulled, being sealed, crossing a mark, being consumed).
 */
const BOUND = 4 * HWM + SPLICE_HELD_CHUNKS * CHUNK + 6 * CHUNK;
/** With a rate-limited last hop, what its operators hold (its high-water mark) comes on top. */
const LINK_BOUND = BOUND + HWM;

interface Hops {
  readonly client$: Observable<TlsConnection>;
  readonly backend$: Observable<TlsConnection>;
  readonly proxy$: Observable<OriginateReport>;
  /** The backend's end of the last pipe (to tear it down without close_notify). */
  readonly backendEnd: MemoryDuplex;
}

/** client ⇄ pipe ⇄ proxy (terminate, originate) ⇄ pipe ⇄ backend; `lastHop` wraps the proxy's backend side. */
function hops(options: { readonly lastHop?: (d: MemoryDuplex) => ByteDuplex; readonly onHeld?: (held: number) => void } = {}): Hops {
  const [clientEnd, proxyFront] = memoryDuplexPair({ highWaterMark: HWM });
  const [proxyBack, backendEnd] = memoryDuplexPair({ highWaterMark: HWM });
  const tlsOptions = { highWaterMark: HWM };
  return {
    client$: of(clientEnd).pipe(secure({ role: 'client', ca, servername: 'localhost', ...tlsOptions })),
    backend$: of(backendEnd).pipe(secure({ role: 'server', cert, key, ...tlsOptions })),
    proxy$: of<ByteDuplex>(proxyFront).pipe(
      terminate({ cert, key, ...tlsOptions }),
      originate({
        ...tlsOptions,
        ca,
        servername: 'localhost',
        transport: () => options.lastHop?.(proxyBack) ?? proxyBack,
        onProgress: (p) => options.onHeld?.(p.held),
      }),
    ),
    backendEnd,
  };
}

/** In virtual time: the hops set up, the proxy started, `drive` run; what it saw and the proxy's report. */
function throughProxy(t: { deepEqual: (a: unknown, b: unknown) => void }, drive: (h: Hops, seen: string[]) => void): { seen: string[]; report: OriginateReport | undefined } {
  const ts = virtualClock(t);
  const seen: string[] = [];
  let report: OriginateReport | undefined;
  ts.run(() => {
    const h = hops();
    h.proxy$.subscribe((r) => (report = r));
    drive(h, seen);
  });
  return { seen, report };
}

const kindOf = (err: unknown) => (err instanceof TlsError ? err.kind : String(err));

for (const link of ['memory pipe', 'rate-limited last hop'] as const) {
  test(`credit across the proxy (${link}): a fast producer and a slow consumer; bytes inside stay bounded at every step, all arrive in order`, (t) => {
    const ts = virtualClock(t);
    let produced = 0;
    let consumed = 0;
    let maxInside = 0;
    let maxHeld = 0;
    let ok = true;
    let report: OriginateReport | undefined;
    ts.run(() => {
      const watch = () => (maxInside = Math.max(maxInside, produced - consumed));
      const lastHop =
        link === 'rate-limited last hop' ? (d: MemoryDuplex) => faultyByteLink(d, { highWaterMark: HWM, toPeer: rateLimit({ bytesPerSecond: 200_000, burstBytes: 4096, scheduler: ts }) }) : undefined;
      const h = hops({ ...(lastHop ? { lastHop } : {}), onHeld: (held) => (maxHeld = Math.max(maxHeld, held)) });
      function* producer() {
        for (let i = 0; i < COUNT; i++) {
          produced += CHUNK;
          watch();
          yield new Uint8Array(CHUNK).fill(i & 0xff);
        }
      }
      let expected = 0;
      const slow = (chunk: Uint8Array) =>
        timer(5).pipe(
          map(() => {
            for (const b of chunk) if (b !== (Math.floor(expected++ / CHUNK) & 0xff)) ok = false;
            consumed += chunk.length;
            watch();
          }),
        );
      h.proxy$.subscribe((r) => (report = r));
      h.backend$.pipe(mergeMap((conn) => concat(conn.receive(slow), conn.send(of(enc('done')))))).subscribe();
      h.client$.pipe(mergeMap((conn) => concat(conn.send(producer()), conn.inbound$))).subscribe();
      // Sample every virtual millisecond as well, not only at the events above.
      const sampler = () => {
        watch();
        if (consumed < COUNT * CHUNK) ts.schedule(sampler, 1);
      };
      ts.schedule(sampler, 1);
    });
    t.is(consumed, COUNT * CHUNK);
    t.true(ok, 'bytes arrived in order');
    t.log(`most bytes inside: ${maxInside}, most held by the splice: ${maxHeld}`);
    const bound = link === 'memory pipe' ? BOUND : LINK_BOUND;
    t.true(maxInside <= bound, `at most ${maxInside} bytes inside (bound ${bound})`);
    t.true(maxHeld <= SPLICE_HELD_CHUNKS * CHUNK, `the splice held at most ${maxHeld} bytes`);
    t.like(report, { aToB: COUNT * CHUNK, bToA: 4, a: { kind: 'end' }, b: { kind: 'end' } });
  });
}

for (const first of ['client', 'backend'] as const) {
  test(`half-close across the proxy: the ${first} closes first, the other side sees close_notify and still sends`, (t) => {
    const { seen, report } = throughProxy(t, (h, seen) => {
      // The closer sends one line and closes its direction at once; the other answers only after it saw the
      // close_notify, then closes too.
      const closer = (conn: TlsConnection, who: string) =>
        concat(conn.send(of(enc(`${who}: bye`))), conn.inbound$.pipe(tap((b) => seen.push(`${who} got ${dec(b)}`)))).pipe(
          tap({ complete: () => seen.push(`${who} saw close_notify`) }),
        );
      const answerer = (conn: TlsConnection, who: string) =>
        concat(
          conn.inbound$.pipe(tap({ next: (b) => seen.push(`${who} got ${dec(b)}`), complete: () => seen.push(`${who} saw close_notify`) })),
          timer(3).pipe(mergeMap(() => conn.send(of(enc(`${who}: still here`))))),
        );
      const [clientRole, backendRole] = first === 'client' ? [closer, answerer] : [answerer, closer];
      h.client$.pipe(mergeMap((c) => clientRole(c, 'client'))).subscribe();
      h.backend$.pipe(mergeMap((c) => backendRole(c, 'backend'))).subscribe();
    });
    const other = first === 'client' ? 'backend' : 'client';
    t.deepEqual(seen, [`${other} got ${first}: bye`, `${other} saw close_notify`, `${first} got ${other}: still here`, `${first} saw close_notify`]);
    const [up, down] = first === 'client' ? ['client: bye', 'backend: still here'] : ['client: still here', 'backend: bye'];
    t.like(report, { aToB: up.length, bToA: down.length, a: { kind: 'end' }, b: { kind: 'end' } });
  });
}

test('a backend torn down without close_notify reaches the client as an abort (unexpectedEof), not a clean close', (t) => {
  const { seen, report } = throughProxy(t, (h, seen) => {
    h.backend$
      // `partial`, then the transport torn down with our output still open: no close_notify.
      .pipe(mergeMap((conn) => merge(conn.send(concat(of(enc('partial')), NEVER)).pipe(catchError(() => [])), timer(2).pipe(tap(() => h.backendEnd.destroy())))))
      .subscribe({ error: () => undefined });
    h.client$
      .pipe(mergeMap((conn) => conn.inbound$))
      .subscribe({ next: (b) => seen.push(dec(b)), complete: () => seen.push('clean end'), error: (e: unknown) => seen.push(`error ${kindOf(e)}`) });
  });
  t.deepEqual(seen, ['partial', 'error unexpectedEof']);
  t.is(report?.a.kind, 'aborted');
  t.is(report?.b.kind, 'error');
  t.is(report?.b.kind === 'error' ? report.b.error.kind : undefined, 'unexpectedEof');
});

test('a client that closes abortively (no close_notify) reaches the backend as an abort too', (t) => {
  const { seen, report } = throughProxy(t, (h, seen) => {
    h.client$.pipe(mergeMap((conn) => merge(conn.send(concat(of(enc('half a request')), NEVER)).pipe(catchError(() => [])), timer(2).pipe(tap(() => conn.close()))))).subscribe({ error: () => undefined });
    h.backend$
      .pipe(mergeMap((conn) => conn.inbound$))
      .subscribe({ next: (b) => seen.push(dec(b)), complete: () => seen.push('clean end'), error: (e: unknown) => seen.push(`error ${kindOf(e)}`) });
  });
  t.deepEqual(seen, ['half a request', 'error unexpectedEof']);
  t.like(report, { aToB: 14, bToA: 0, a: { kind: 'error' }, b: { kind: 'aborted' } });
});

test('per chunk the splice subscribes to two Observables: its hand-over and the sink’s write (no operator chain)', (t) => {
  // Counted, not timed: `Observable.prototype.subscribe` calls while 1,000 chunks cross a splice between two
  // hand-made endpoints (the source subscribes to each projection; the sink's write completes at once).
  const CHUNKS = 1000;
  const source: StreamEndpoint = {
    kind: 'bytes',
    read: (project) =>
      new Observable<never>((s) => {
        let i = 0;
        // A loop with demand: the next chunk once the projection completed (at once here), never recursing.
        const loop = (): void => {
          while (i < CHUNKS) {
            i++;
            let done = false;
            let looping = true;
            from(project(new Uint8Array(16))).subscribe({
              complete: () => {
                done = true;
                if (!looping) loop();
              },
              error: (e: unknown) => s.error(e),
            });
            looping = false;
            if (!done) return;
          }
          s.complete();
        };
        loop();
      }),
    write: () => EMPTY,
    end: () => undefined,
    abort: () => undefined,
  };
  let written = 0;
  const sink: StreamEndpoint = {
    kind: 'bytes',
    read: () => NEVER,
    write: (chunk) => new Observable<never>((s) => void ((written += chunk.length), s.complete())),
    end: () => undefined,
    abort: () => undefined,
  };
  const proto = Observable.prototype as unknown as { subscribe: (...a: unknown[]) => unknown };
  const { subscribe } = proto;
  let calls = 0;
  proto.subscribe = function (this: Observable<unknown>, ...a: unknown[]) {
    calls++;
    return subscribe.apply(this, a);
  };
  try {
    splice(source, sink).subscribe();
  } finally {
    proto.subscribe = subscribe;
  }
  t.is(written, 16 * CHUNKS);
  const perChunk = calls / CHUNKS;
  t.log(`${perChunk.toFixed(2)} subscriptions per chunk`);
  // The source subscribes to the hand-over, which subscribes to the sink's write. Round 1 (from(write).pipe(
  // catchError, finalize)) made 3: every operator of the chain is one more subscription, and its subscriber.
  t.true(perChunk <= 2.01, `${perChunk} subscriptions per chunk`);
});

test('a sink that takes some chunks at once and holds others: the source pipe stays paused while the splice is busy (no queue grows behind it)', (t) => {
  const [producerEnd, proxyEnd] = memoryDuplexPair({ highWaterMark: 2 * CHUNK });
  const credit = new Subject<void>();
  let taken = 0;
  let writes = 0;
  // Every fourth chunk waits for credit; the others are taken synchronously (as a QUIC stream under its mark).
  const sink: StreamEndpoint = {
    kind: 'bytes',
    read: () => NEVER,
    write: (chunk) =>
      new Observable<never>((s) => {
        taken += chunk.length;
        if (++writes % 4 !== 0) return s.complete();
        return credit.pipe(take(1)).subscribe({ complete: () => s.complete() });
      }),
    end: () => undefined,
    abort: () => undefined,
  };
  splice(proxyEnd, sink).subscribe();
  let produced = 0;
  let maxAhead = 0;
  const produce = () => {
    while (produced < COUNT * CHUNK) {
      produced += CHUNK;
      const more = producerEnd.write(new Uint8Array(CHUNK));
      maxAhead = Math.max(maxAhead, produced - taken);
      if (!more) return void producerEnd.drain$.pipe(take(1)).subscribe(produce);
    }
  };
  produce();
  while (taken < COUNT * CHUNK) {
    maxAhead = Math.max(maxAhead, produced - taken);
    credit.next();
  }
  t.is(taken, COUNT * CHUNK);
  // The pipe's mark and the chunk that crossed it, plus the chunk the splice holds.
  t.true(maxAhead <= 2 * CHUNK + CHUNK + SPLICE_HELD_CHUNKS * CHUNK, `${maxAhead} B written and not taken`);
});
