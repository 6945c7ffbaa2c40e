/**
 * The fault-injection operators (`src/rx/faults/`): marbles on a `TestScheduler` for each one (exact frames for
 * the time-based ones, exact counts for seeded random ones), fast-check properties of what each promises, the
 * faulty links' backpressure, and end to end: DTLS through loss, duplication, reordering and damage; TLS
 * through delay and a rate limit; TLS cut short by `truncate`. All in virtual time.
 */
import test from 'ava';
import fc from 'fast-check';
import { Subject, map, of, pipe, tap, type MonoTypeOperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  corrupt,
  drop,
  duplicate,
  faultyByteLink,
  faultyDatagramLink,
  latency,
  rateLimit,
  reorder,
  seededRandom,
  truncate,
} from '../../operators/faults.js';
import { secure } from '../../operators/secure.js';
import { TlsError } from '../../src/core/errors.js';
import { memoryDatagramPair } from '../../src/rx/datagram.js';
import type { DtlsConnection } from '../../src/rx/dtlsTypes.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { secureDatagrams } from '../../src/rx/secureDatagrams.js';
import type { TlsConnection } from '../../src/rx/types.js';
import { EPOCH, ca, cert, dec, enc, key, virtualClock } from './virtual.js';

/** One-letter chunks for marbles: `v.a` is the byte 'a'. */
const v = Object.fromEntries([...'abcdefgh'].map((c) => [c, enc(c)])) as Record<string, Uint8Array>;
/** Output back to letters (or `x` plus text for anything else), so marbles compare strings. */
const letters = map((b: Uint8Array) => dec(b));
const same = Object.fromEntries([...'abcdefgh'].map((c) => [c, c]));

/** A marble test: `body` gets the run helpers; the scheduler compares with `t.deepEqual`. */
function marbles(t: { deepEqual: (a: unknown, b: unknown) => void }, body: (h: Parameters<Parameters<TestScheduler['run']>[0]>[0], ts: TestScheduler) => void): void {
  const ts = new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
  ts.run((helpers) => body(helpers, ts));
}

/** Run `op` over `chunks` (emitted at the given frames) on a fresh virtual clock; what came out and when. */
function runTimed(
  chunks: readonly Uint8Array[],
  at: readonly number[],
  op: (ts: TestScheduler) => MonoTypeOperatorFunction<Uint8Array>,
): { out: { at: number; chunk: Uint8Array }[]; completeAt?: number } {
  const ts = new TestScheduler(() => undefined);
  ts.maxFrames = Infinity; // outside run() a TestScheduler stops at frame 750
  const source = new Subject<Uint8Array>();
  const result: { out: { at: number; chunk: Uint8Array }[]; completeAt?: number } = { out: [] };
  source.pipe(op(ts)).subscribe({ next: (chunk) => result.out.push({ at: ts.now(), chunk }), complete: () => (result.completeAt = ts.now()) });
  chunks.forEach((chunk, i) => ts.schedule(() => source.next(chunk), at[i]!));
  ts.schedule(() => source.complete(), Math.max(0, ...at) + 1);
  ts.flush();
  return result;
}

/** Everything a synchronous operator emits for `chunks`. */
function runSync(chunks: readonly Uint8Array[], op: MonoTypeOperatorFunction<Uint8Array>): Uint8Array[] {
  const out: Uint8Array[] = [];
  of(...chunks).pipe(op).subscribe((c) => out.push(c));
  return out;
}

const datagrams = fc.array(fc.uint8Array({ minLength: 0, maxLength: 64 }), { maxLength: 40 });
const seed = fc.integer({ min: -1000, max: 1000 });
const rate = fc.double({ min: 0, max: 1, noNaN: true });
const hamming = (x: Uint8Array, y: Uint8Array) => x.reduce((n, b, i) => n + popcount(b ^ y[i]!), 0);
const popcount = (b: number) => b.toString(2).replace(/0/g, '').length;
/** The same bytes, as text, for comparing multisets of chunks. */
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// ---- drop ----

test('drop: chosen indices are lost, the rest pass at once in order', (t) => {
  marbles(t, ({ cold, expectObservable }) => {
    expectObservable(cold('-a-b-c-d-|', v).pipe(drop({ indices: [1, 2] }), letters)).toBe('-a-----d-|', same);
  });
});

test('drop: `when` alone drops every chunk it accepts; `rate` among them draws from the seed', (t) => {
  const chunks = [...'abcabcabc'].map(enc);
  t.deepEqual(runSync(chunks, drop({ when: (c) => dec(c) === 'b' })).map(dec).join(''), 'acacac');
  const hundred = Array.from({ length: 1000 }, (_, i) => enc(String(i)));
  const kept = runSync(hundred, drop({ rate: 0.1, seed: 1 })).length;
  t.is(kept, runSync(hundred, drop({ rate: 0.1, seed: 1 })).length, 'the same seed loses the same datagrams');
  t.is(1000 - kept, 113, 'seed 1 loses 113 of 1000 at rate 0.1');
  t.not(runSync(hundred, drop({ rate: 0.1, seed: 2 })).map(dec).join(), runSync(hundred, drop({ rate: 0.1, seed: 1 })).map(dec).join());
});

test('drop property: rate 0 is the identity; otherwise the output is an order-preserving subsequence', (t) => {
  fc.assert(
    fc.property(datagrams, seed, rate, (chunks, s, r) => {
      const none = runSync(chunks, drop({ rate: 0, seed: s }));
      if (none.length !== chunks.length || none.some((c, i) => c !== chunks[i])) return false;
      const out = runSync(chunks, drop({ rate: r, seed: s }));
      let j = 0;
      for (const c of chunks) if (j < out.length && out[j] === c) j++;
      return j === out.length;
    }),
  );
  t.is(runSync([v.a!], drop({ rate: 1 })).length, 0);
});

// ---- duplicate ----

test('duplicate: a chosen chunk is followed at once by a copy of it', (t) => {
  marbles(t, ({ cold, expectObservable }) => {
    expectObservable(cold('-a---b---c-|', v).pipe(duplicate({ indices: [1] }), letters)).toBe('-a---(bb)c-|', same);
  });
  const [first, second] = runSync([v.a!], duplicate());
  t.not(first, second, 'the second is a copy');
  t.deepEqual(first, second);
});

test('duplicate property: nothing is lost or reordered; each extra chunk is a copy of the one before it', (t) => {
  fc.assert(
    fc.property(datagrams, seed, rate, (chunks, s, r) => {
      const out = runSync(chunks, duplicate({ rate: r, seed: s }));
      let i = 0;
      for (let k = 0; k < chunks.length; k++) {
        if (out[i++] !== chunks[k]) return false;
        const next = out[i];
        if (next !== undefined && next !== chunks[k + 1] && next !== chunks[k] && hex(next) === hex(chunks[k]!)) i++;
      }
      return i === out.length;
    }),
  );
  const thousand = Array.from({ length: 1000 }, (_, i) => enc(String(i)));
  t.is(runSync(thousand, duplicate({ rate: 0.05, seed: 3 })).length - 1000, 39, 'seed 3 doubles 39 of 1000 at rate 0.05');
});

// ---- reorder ----

test('reorder by count: a held datagram goes out after the later ones its draw says; completion flushes', (t) => {
  marbles(t, ({ cold, expectObservable }) => {
    // Seed 1 draws a displacement of 1 for index 0: it leaves right after b.
    expectObservable(cold('-a---b---c-|', v).pipe(reorder({ indices: [0], maxDisplacement: 2 }), letters)).toBe('-----(ba)c-|', same);
    // Held past the end of the stream: out at completion.
    expectObservable(cold('-a-b-|', v).pipe(reorder({ indices: [1], maxDisplacement: 5, seed: 4 }), letters)).toBe('-a---(b|)', same);
  });
});

test('reorder by time: a held datagram is delivered holdMs later and completion waits for it', (t) => {
  marbles(t, ({ cold, expectObservable }, ts) => {
    expectObservable(cold('-a-b-c-|', v).pipe(reorder({ indices: [0], holdMs: 5, scheduler: ts }), letters)).toBe('---b-ca|', same);
    expectObservable(cold('-a-|', v).pipe(reorder({ indices: [0], holdMs: 5, scheduler: ts }), letters)).toBe('------(a|)', same);
  });
});

test('reorder property: the output is a permutation of the input, by count or by time', (t) => {
  fc.assert(
    fc.property(datagrams, seed, rate, fc.integer({ min: 1, max: 5 }), (chunks, s, r, k) => {
      const byCount = runSync(chunks, reorder({ rate: r, seed: s, maxDisplacement: k }));
      const byTime = runTimed(chunks, chunks.map((_, i) => i), (ts) => reorder({ rate: r, seed: s, holdMs: k, scheduler: ts })).out.map((o) => o.chunk);
      return [byCount, byTime].every((out) => out.length === chunks.length && new Set(out).size === new Set(chunks).size && chunks.every((c) => out.includes(c)));
    }),
  );
  t.is(runSync([v.a!, v.b!], reorder({ rate: 1, maxDisplacement: 1 })).length, 2);
});

// ---- latency ----

test('latency: a fixed delay shifts every chunk; completion follows the last one', (t) => {
  marbles(t, ({ cold, expectObservable }, ts) => {
    expectObservable(cold('-a-b-c-|', v).pipe(latency({ ms: 3, scheduler: ts }), letters)).toBe('----a-b-(c|)', same);
  });
});

test('latency: seeded jitter reorders datagrams; keepOrder holds a chunk behind the one before it', (t) => {
  marbles(t, ({ cold, expectObservable }, ts) => {
    // Seed 1 draws jitters 3, 0, 2: a due at 5, b at 4, c at 8.
    expectObservable(cold('-a-b-c-|', v).pipe(latency({ ms: 1, jitterMs: 4, scheduler: ts }), letters)).toBe('----ba--(c|)', same);
    // In order: b waits for a (5); c due at 12, completion waits for it.
    expectObservable(cold('-a-b-----c-|', v).pipe(latency({ ms: 1, jitterMs: 4, keepOrder: true, scheduler: ts }), letters)).toBe('-----(ab)---(c|)', same);
  });
});

test('latency property: every chunk comes out once, no earlier than ms nor later than ms + jitterMs; keepOrder keeps order', (t) => {
  fc.assert(
    fc.property(datagrams, seed, fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }), fc.boolean(), (chunks, s, ms, jitterMs, keepOrder) => {
      const at = chunks.map((_, i) => 2 * i);
      const { out, completeAt } = runTimed(chunks, at, (ts) => latency({ ms, jitterMs, seed: s, keepOrder, scheduler: ts }));
      if (out.length !== chunks.length || completeAt === undefined) return false;
      if (keepOrder && out.some((o, i) => o.chunk !== chunks[i])) return false;
      return out.every((o) => {
        const sentAt = at[(chunks as Uint8Array[]).indexOf(o.chunk)]!;
        return o.at >= sentAt + ms && (keepOrder || o.at <= sentAt + ms + jitterMs) && o.at <= completeAt;
      });
    }),
  );
  t.throws(() => latency({ ms: -1 }), { instanceOf: TlsError, message: /ms must be/ });
});

// ---- corrupt ----

test('corrupt: a chosen chunk comes out as a damaged copy; the others are the same objects', (t) => {
  const input = [enc('aaaa'), enc('bbbb'), enc('cccc')];
  const before = input.map(hex);
  const out = runSync(input, corrupt({ indices: [1], bits: 3 }));
  t.deepEqual(input.map(hex), before, "the caller's buffers are untouched");
  t.is(out[0], input[0]);
  t.is(out[2], input[2]);
  t.is(hamming(out[1]!, input[1]!), 3);
  marbles(t, ({ cold, expectObservable }) => {
    expectObservable(cold('-a-b-|', v).pipe(corrupt({ indices: [1], bits: 8 }), letters)).toBe('-a-x-|', { a: 'a', x: dec(Uint8Array.of(~'b'.charCodeAt(0) & 0xff)) });
  });
});

test('corrupt property: input never mutated; a hit chunk differs in exactly min(bits, its bit count) bits, others not at all', (t) => {
  fc.assert(
    fc.property(datagrams, seed, rate, fc.integer({ min: 1, max: 40 }), (chunks, s, r, bits) => {
      const before = chunks.map(hex);
      const out = runSync(chunks, corrupt({ rate: r, seed: s, bits }));
      if (chunks.map(hex).join() !== before.join() || out.length !== chunks.length) return false;
      return out.every((o, i) => {
        const c = chunks[i]!;
        if (o === c) return true;
        return o.length === c.length && hamming(o, c) === Math.min(bits, 8 * c.length);
      });
    }),
  );
  t.throws(() => corrupt({ bits: 0 }), { instanceOf: TlsError, message: /bits must be/ });
});

// ---- truncate ----

test('truncate afterBytes: the chunk crossing the mark is cut, then the stream completes and the source is released', (t) => {
  marbles(t, ({ cold, expectObservable, expectSubscriptions }) => {
    const source = cold('-a-b-c-|', { a: enc('ab'), b: enc('cd'), c: enc('ef') });
    expectObservable(source.pipe(truncate({ afterBytes: 3 }), letters)).toBe('-a-(b|)', { a: 'ab', b: 'c' });
    expectSubscriptions(source.subscriptions).toBe('^--!');
    expectObservable(cold('-a-|', v).pipe(truncate({ afterBytes: 0 }))).toBe('|');
  });
});

test('truncate property (datagrams): each output is a prefix of its input, a hit one strictly shorter', (t) => {
  fc.assert(
    fc.property(datagrams, seed, rate, (chunks, s, r) => {
      const out = runSync(chunks, truncate({ rate: r, seed: s }));
      return out.length === chunks.length && out.every((o, i) => (o === chunks[i] ? true : o.length < chunks[i]!.length && hex(chunks[i]!).startsWith(hex(o))));
    }),
  );
  t.throws(() => truncate({ afterBytes: -1 }), { instanceOf: TlsError, message: /afterBytes/ });
});

// ---- rateLimit ----

const fill = (c: string, n: number) => new Uint8Array(n).fill(c.charCodeAt(0));
const firstLetter = map((b: Uint8Array) => String.fromCharCode(b[0]!));

test('rateLimit: a full bucket lets one chunk out at once, then one per 10 ms at 100 kB/s', (t) => {
  marbles(t, ({ cold, expectObservable }, ts) => {
    const k = { a: fill('a', 1000), b: fill('b', 1000), c: fill('c', 1000), d: fill('d', 1000) };
    expectObservable(cold('-(abc|)', k).pipe(rateLimit({ bytesPerSecond: 100_000, burstBytes: 1000, scheduler: ts }), firstLetter)).toBe('-a 9ms b 9ms (c|)', same);
    // A 2000-byte queue: d arrives when b and c wait, and is dropped (drop-tail).
    expectObservable(cold('-(abcd|)', k).pipe(rateLimit({ bytesPerSecond: 100_000, burstBytes: 1000, queueBytes: 2000, scheduler: ts }), firstLetter)).toBe(
      '-a 9ms b 9ms (c|)',
      same,
    );
    // A chunk larger than the bucket waits for a full bucket, then leaves it in debt.
    expectObservable(cold('-(ab|)', { a: fill('a', 3000), b: fill('b', 500) }).pipe(rateLimit({ bytesPerSecond: 100_000, burstBytes: 1000, scheduler: ts }), firstLetter)).toBe(
      '-a 24ms (b|)',
      same,
    );
  });
});

test('rateLimit property: over any window of w ms at most max(burst, largest chunk) + rate × w bytes come out, and all of them', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 30, maxLength: 30 }),
      fc.integer({ min: 1_000, max: 1_000_000 }),
      fc.integer({ min: 1, max: 5000 }),
      (sizes, gaps, bytesPerSecond, burstBytes) => {
        const chunks = sizes.map((n) => new Uint8Array(n));
        let now = 0;
        const at = sizes.map((_, i) => (now += gaps[i]!));
        const { out, completeAt } = runTimed(chunks, at, (ts) => rateLimit({ bytesPerSecond, burstBytes, scheduler: ts }));
        if (out.length !== chunks.length || out.some((o, i) => o.chunk !== chunks[i]) || completeAt === undefined) return false;
        const allowance = Math.max(burstBytes, ...sizes);
        for (let i = 0; i < out.length; i++) {
          let bytes = 0;
          for (let j = i; j < out.length; j++) {
            bytes += out[j]!.chunk.length;
            if (bytes > allowance + (bytesPerSecond * (out[j]!.at - out[i]!.at)) / 1000 + 1e-6) return false;
          }
        }
        return true;
      },
    ),
  );
  t.throws(() => rateLimit({ bytesPerSecond: 0 }), { instanceOf: TlsError, message: /bytesPerSecond/ });
});

test('bad arguments throw apiMisuse at the call, not at subscription', (t) => {
  const misuse = { instanceOf: TlsError, message: /must be/ };
  t.throws(() => drop({ rate: 1.5 }), misuse);
  t.throws(() => duplicate({ indices: [-1] }), misuse);
  t.throws(() => drop({ seed: 0.5 }), misuse);
  t.throws(() => reorder({ maxDisplacement: 0 }), misuse);
  t.throws(() => reorder({ holdMs: 0 }), misuse);
  t.throws(() => latency({ ms: 1, jitterMs: 0.5 }), misuse);
  t.throws(() => rateLimit({ bytesPerSecond: 1, burstBytes: 0 }), misuse);
  t.throws(() => faultyByteLink(memoryDuplexPair()[0], { highWaterMark: 0 }), misuse);
  t.throws(() => faultyDatagramLink(memoryDatagramPair()[0], { toPeer: 'drop' as unknown as MonoTypeOperatorFunction<Uint8Array> }), misuse);
  for (const thrown of [() => drop({ rate: -1 })]) t.is((t.throws(thrown) as TlsError).detail.kind, 'apiMisuse');
});

test('seededRandom: mulberry32, the same sequence for the same seed', (t) => {
  const a = seededRandom(1);
  t.deepEqual([a(), a(), a()], [0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
  const b = seededRandom(1);
  t.is(b(), 0.6270739405881613);
});

// ---- the links ----

test('faultyDatagramLink: toPeer works on what this end sends, fromPeer on what it receives; the sender may reuse its buffer', (t) => {
  marbles(t, ({ cold, expectObservable }, ts) => {
    const [a, b] = memoryDatagramPair({ scheduler: ts });
    const lossy = faultyDatagramLink(a, { toPeer: pipe(drop({ indices: [1] }), latency({ ms: 3, scheduler: ts })), fromPeer: duplicate({ indices: [0] }) });
    const buffer = new Uint8Array(1);
    cold('-a-b-c|', v).subscribe((d) => {
      buffer[0] = d[0]!;
      lossy.send(buffer);
    });
    cold('--------x|').subscribe(() => b.send(v.h!));
    expectObservable(b.incoming$.pipe(letters)).toBe('----a---c', same);
    expectObservable(lossy.incoming$.pipe(letters)).toBe('--------(hh)', same);
  });
});

test('faultyDatagramLink: send answers false from the underlying false until its drain$; close drops what a delay holds', (t) => {
  const ts = new TestScheduler(() => undefined);
  const [a, b] = memoryDatagramPair({ scheduler: ts, latency: 1, capacity: 1 });
  const link = faultyDatagramLink(a, { toPeer: latency({ ms: 2, scheduler: ts }) });
  const got: string[] = [];
  b.incoming$.subscribe((d) => got.push(dec(d)));
  let drained = 0;
  link.drain$!.subscribe(() => drained++);
  t.true(link.send(v.a!), 'held by the delay: nothing pushed back yet');
  ts.flush();
  t.true(link.send(v.b!));
  ts.schedule(() => t.false(link.send(v.c!), 'b is in flight on a link of capacity 1'), 2);
  ts.flush();
  t.true(drained >= 1);
  t.deepEqual(got, ['a', 'b', 'c'], 'the full link took c all the same (a datagram duplex answers false after taking it)');
  link.send(v.d!);
  link.close();
  ts.flush();
  t.deepEqual(got, ['a', 'b', 'c'], 'd was held by the delay when the link closed');
});

test('faultyByteLink: write answers false once highWaterMark bytes are held by a rate limit, drain$ follows, end comes after the last byte', (t) => {
  const ts = new TestScheduler(() => undefined);
  ts.maxFrames = Infinity;
  const [a, b] = memoryDuplexPair({ scheduler: ts });
  const link = faultyByteLink(a, { toPeer: rateLimit({ bytesPerSecond: 100_000, burstBytes: 1000, scheduler: ts }), highWaterMark: 3000 });
  const got: { at: number; n: number }[] = [];
  let endedAt: number | undefined;
  b.incoming$.subscribe({ next: (c) => got.push({ at: ts.now(), n: c.length }), complete: () => (endedAt = ts.now()) });
  const drains: number[] = [];
  link.drain$.subscribe(() => drains.push(ts.now()));
  const answers = [0, 1, 2, 3, 4].map(() => link.write(new Uint8Array(1000)));
  t.deepEqual(answers, [true, true, true, false, false], 'the first went out at once, then 3000 bytes were held');
  t.is(link.held, 4000);
  link.end();
  ts.flush();
  t.deepEqual(drains, [20], 'two chunks out at 10 and 20 ms: 2000 held, below the mark');
  t.deepEqual(
    got.map((g) => g.at),
    [0, 10, 20, 30, 40],
  );
  t.is(endedAt, 40, 'EOF after the last delayed byte');
  t.false(link.write(new Uint8Array(1)), 'nothing after end');
});

// ---- end to end ----

/** Counts of what went into and out of a {@link counted} operator. */
interface Counted {
  op: MonoTypeOperatorFunction<Uint8Array>;
  in: number;
  out: number;
  /** Chunks that came out with other bytes of the same length (damaged). */
  changed: number;
  /** Chunks that came out after a chunk that went in later (overtaken). */
  overtaken: number;
}

/** `op` with counters around it (chunks are told apart by identity). */
function counted(op: MonoTypeOperatorFunction<Uint8Array>): Counted {
  const order = new WeakMap<Uint8Array, number>();
  let last: Uint8Array | undefined;
  let latest = -1;
  const c: Counted = { in: 0, out: 0, changed: 0, overtaken: 0, op };
  c.op = pipe(
    tap((x: Uint8Array) => {
      order.set(x, c.in++);
      last = x;
    }),
    op,
    tap((y: Uint8Array) => {
      c.out++;
      if (y !== last && y.length === last?.length && hex(y) !== hex(last)) c.changed++;
      const i = order.get(y);
      if (i !== undefined && i < latest) c.overtaken++;
      latest = Math.max(latest, i ?? -1);
    }),
  );
  return c;
}

test('DTLS through loss, duplication, reordering and damage in virtual time: the handshake completes and records cross both ways', (t) => {
  const ts = virtualClock(t);
  const phase = () => ts.now() - EPOCH < 20_000; // loss and damage only during the handshake: DTLS does not resend data
  // A DTLS 1.3 ciphertext record starts 0b001…: damage those (AEAD fails, the record is dropped), not the plaintext hellos.
  const ciphertext = (d: Uint8Array) => (d[0]! & 0xe0) === 0x20;
  const side = (s: number) => ({
    // The first flight of each side is lost for sure, more at random.
    drop: counted(drop({ indices: [0], rate: 0.25, seed: s, when: phase })),
    corrupt: counted(corrupt({ rate: 0.5, seed: s + 1, when: (d) => phase() && ciphertext(d) })),
    duplicate: counted(duplicate({ rate: 0.2, seed: s + 2 })),
    reorder: counted(reorder({ rate: 0.3, holdMs: 15, seed: s + 3, scheduler: ts })),
  });
  const faults = { client: side(10), server: side(20) };
  const through = (f: ReturnType<typeof side>) => pipe(f.drop.op, f.corrupt.op, f.duplicate.op, f.reorder.op);
  let client: DtlsConnection | undefined;
  let server: DtlsConnection | undefined;
  const errors: unknown[] = [];
  const serverGot: string[] = [];
  const clientGot: string[] = [];
  ts.run(({ cold }) => {
    const [a, b] = memoryDatagramPair({ scheduler: ts, latency: 5 });
    of(faultyDatagramLink(b, { toPeer: through(faults.server) }))
      .pipe(secureDatagrams({ role: 'server', cert, key, scheduler: ts }))
      .subscribe({ next: (c) => (server = c), error: (e: unknown) => errors.push(e) });
    of(faultyDatagramLink(a, { toPeer: through(faults.client) }))
      .pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost', scheduler: ts }))
      .subscribe({ next: (c) => (client = c), error: (e: unknown) => errors.push(e) });
    cold('30s a').subscribe(() => {
      server!.inbound$.subscribe((r) => serverGot.push(dec(r)));
      client!.inbound$.subscribe((r) => clientGot.push(dec(r)));
      server!.send(of('s1', 's2', 's3')).subscribe();
      client!.send(of('c1', 'c2', 'c3', 'c4')).subscribe();
    });
  });
  t.deepEqual(errors, []);
  t.truthy(client && server, 'both handshakes completed');
  t.is(client!.info.verification, 'ok');
  const both = (which: 'corrupt' | 'duplicate') => faults.client[which].changed + faults.server[which].changed + faults.client[which].out - faults.client[which].in + faults.server[which].out - faults.server[which].in;
  for (const [name, f] of Object.entries(faults)) t.true(f.drop.in > f.drop.out, `${name}: datagrams were lost`);
  t.true(both('corrupt') > 0, 'datagrams were damaged');
  t.true(both('duplicate') > 0, 'datagrams were doubled');
  t.true(faults.client.reorder.overtaken + faults.server.reorder.overtaken > 0, 'datagrams were overtaken');
  t.true(client!.stats().retransmissions > 0);
  // Duplicates are discarded by the replay window; reordering may change the order records arrive in.
  t.deepEqual([...serverGot].sort(), ['c1', 'c2', 'c3', 'c4']);
  t.deepEqual([...clientGot].sort(), ['s1', 's2', 's3']);
});

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

test('TLS through delay, jitter and a 1 MB/s rate limit in virtual time: 256 KiB arrive intact, no sooner than the rate allows', (t) => {
  const ts = virtualClock(t);
  const total = 256 * 1024;
  const data = pattern(total);
  const received: Uint8Array[] = [];
  let doneAt: number | undefined;
  let falseWrites = 0;
  let maxHeld = 0;
  const errors: unknown[] = [];
  ts.run(() => {
    const [c, s] = memoryDuplexPair({ scheduler: ts, latency: 1 });
    const slow = faultyByteLink(c, {
      toPeer: pipe(latency({ ms: 20, jitterMs: 10, seed: 5, keepOrder: true, scheduler: ts }), rateLimit({ bytesPerSecond: 1_000_000, burstBytes: 16_384, scheduler: ts })),
    });
    const back = faultyByteLink(s, { toPeer: latency({ ms: 20, jitterMs: 10, seed: 6, keepOrder: true, scheduler: ts }) });
    const watched = {
      ...slow,
      write: (chunk: Uint8Array) => {
        const ok = slow.write(chunk);
        if (!ok) falseWrites++;
        maxHeld = Math.max(maxHeld, slow.held);
        return ok;
      },
    };
    of(back)
      .pipe(secure({ role: 'server', cert, key, scheduler: ts }))
      .subscribe({
        next: (conn: TlsConnection) =>
          conn.inbound$.subscribe({ next: (b) => received.push(b), complete: () => (doneAt = ts.now() - EPOCH), error: (e: unknown) => errors.push(e) }),
        error: (e: unknown) => errors.push(e),
      });
    of(watched)
      .pipe(secure({ role: 'client', ca, servername: 'localhost', scheduler: ts }))
      .subscribe({
        next: (conn: TlsConnection) =>
          conn.send((function* () {
            for (let i = 0; i < total; i += 16_384) yield data.subarray(i, i + 16_384);
          })()).subscribe({ error: (e: unknown) => errors.push(e) }),
        error: (e: unknown) => errors.push(e),
      });
  });
  t.deepEqual(errors, []);
  const got = Buffer.concat(received);
  t.is(got.length, total);
  t.true(got.equals(data), 'every byte, in order');
  t.true(doneAt !== undefined && doneAt >= (total * 1000) / 1_000_000, `done at ${doneAt} ms: 256 KiB at 1 MB/s take at least 262 ms`);
  t.true(falseWrites > 0, 'the rate limit pushed back on the sender');
  t.true(maxHeld <= 16 * 1024 + 16_384 + 1024, `held at most the mark plus one record: ${maxHeld}`);
});

test('TLS cut short by truncate: the client sees unexpectedEof after part of the data, not a clean close', (t) => {
  const ts = virtualClock(t);
  let got = 0;
  let end: string | undefined;
  let connectionError: string | undefined;
  ts.run(() => {
    const [c, s] = memoryDuplexPair({ scheduler: ts, latency: 1 });
    of(faultyByteLink(s, { toPeer: truncate({ afterBytes: 30_000 }) }))
      .pipe(secure({ role: 'server', cert, key, scheduler: ts }))
      .subscribe({ next: (conn: TlsConnection) => conn.send(of(pattern(100_000))).subscribe({ error: () => undefined }), error: () => undefined });
    of(c)
      .pipe(secure({ role: 'client', ca, servername: 'localhost', scheduler: ts }))
      .subscribe({
        next: (conn: TlsConnection) =>
          conn.inbound$.subscribe({
            next: (b) => (got += b.length),
            complete: () => (end = 'complete'),
            error: (e: unknown) => (end = e instanceof TlsError ? e.kind : String(e)),
          }),
        error: (e: unknown) => (connectionError = e instanceof TlsError ? e.kind : String(e)),
      });
  });
  t.is(end, 'unexpectedEof');
  t.is(connectionError, 'unexpectedEof', "the client's connection fails the same way");
  t.true(got > 0 && got < 30_000, `${got} bytes before the cut`);
});
