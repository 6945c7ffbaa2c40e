/**
 * `inboundQueue.deliver`: a TLS `deliver` effect of several parts (full records, as node:crypto opened them)
 * reaches a push consumer part by part, with no copy, and a `receive` projection as one joined chunk.
 */
import test from 'ava';
import { Subject, of, take } from 'rxjs';
import { inboundQueue, type Delivery } from '../../src/rx/inbound.js';

/** A delivery whose `data` counts how often it is read (each read would be a join). */
function delivery(sizes: readonly number[]): { d: Delivery; reads: () => number } {
  const parts = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
  let reads = 0;
  return {
    d: {
      parts,
      get data() {
        reads++;
        return Uint8Array.from(parts.flatMap((p) => [...p]));
      },
    },
    reads: () => reads,
  };
}

test('push mode: each part is handed over as it is, in order, and the parts are never joined', (t) => {
  const taken: number[] = [];
  const q = inboundQueue({ what: 'test', onTaken: (n) => taken.push(n) });
  const { d, reads } = delivery([4, 5, 6]);
  const got: Uint8Array[] = [];
  q.observable.subscribe((c) => got.push(c));
  q.deliver(d);
  t.is(got.length, 3);
  t.true(got.every((c, i) => c === d.parts![i]), 'the parts themselves (views, no copy)');
  t.deepEqual(taken, [4, 5, 6]);
  t.is(reads(), 0, 'data (the join) never read');
  t.is(q.queuedBytes, 0);
});

test('push mode: parts delivered before the subscriber comes wait, counted in bytes, and come out as parts', (t) => {
  const q = inboundQueue({ what: 'test' });
  const { d, reads } = delivery([10, 20]);
  q.deliver(d);
  q.next(new Uint8Array(3));
  t.is(q.queuedBytes, 33);
  const got: number[] = [];
  q.observable.subscribe((c) => got.push(c.length));
  t.deepEqual(got, [10, 20, 3]);
  t.is(reads(), 0);
});

test('push mode: a consumer that leaves in the middle of a delivery gets no more parts, and the rest counts as taken', (t) => {
  const taken: number[] = [];
  const q = inboundQueue({ what: 'test', onTaken: (n) => taken.push(n) });
  const got: number[] = [];
  const sub = q.observable.subscribe((c) => {
    got.push(c.length);
    sub.unsubscribe();
  });
  q.deliver(delivery([7, 8, 9]).d);
  t.deepEqual(got, [7]);
  t.is(taken.reduce((a, b) => a + b, 0), 24, 'every byte accounted for');
  t.is(q.queuedBytes, 0);
});

test('pull mode: a delivery of parts is one projection of the joined data, read once', (t) => {
  const q = inboundQueue({ what: 'test' });
  const gate = new Subject<void>();
  const seen: Uint8Array[] = [];
  q.receive<unknown>((c) => {
    seen.push(c);
    return seen.length === 1 ? gate.pipe(take(1)) : of(c);
  }).subscribe();
  const first = delivery([2, 3]);
  const second = delivery([4, 4, 4]);
  q.deliver(first.d);
  q.deliver(second.d);
  t.is(seen.length, 1, 'the second waits for the first projection');
  t.is(q.queuedBytes, 12);
  gate.next();
  t.deepEqual(seen.map((c) => [...c]), [[1, 1, 2, 2, 2], [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]]);
  t.is(first.reads(), 1);
  t.is(second.reads(), 1);
});

test('a delivery of one part is a chunk like any other', (t) => {
  const q = inboundQueue({ what: 'test' });
  const got: Uint8Array[] = [];
  q.observable.subscribe((c) => got.push(c));
  const data = new Uint8Array(5);
  q.deliver({ data });
  t.is(got[0], data);
});

/** A delivery that says its `size`, and whose `parts` and `data` count their reads (each would be a join). */
function sized(sizes: readonly number[]): { d: Delivery; partsReads: () => number; dataReads: () => number } {
  const parts = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
  let partsReads = 0;
  let dataReads = 0;
  return {
    d: {
      size: sizes.reduce((a, b) => a + b, 0),
      get parts() {
        partsReads++;
        return parts;
      },
      get data() {
        dataReads++;
        return Uint8Array.from(parts.flatMap((p) => [...p]));
      },
    },
    partsReads: () => partsReads,
    dataReads: () => dataReads,
  };
}

test('a delivery with a size is queued and accounted for without reading its parts or its data', (t) => {
  const q = inboundQueue({ what: 'test' });
  const s = sized([6, 7]);
  q.deliver(s.d);
  t.is(q.queuedBytes, 13);
  t.is(s.partsReads(), 0);
  t.is(s.dataReads(), 0);
  // Then a push consumer reads the parts once, never the data; a projection would read the data only.
  const got: number[] = [];
  q.observable.subscribe((c) => got.push(c.length));
  t.deepEqual(got, [6, 7]);
  t.is(s.partsReads(), 1);
  t.is(s.dataReads(), 0);
  const p = inboundQueue({ what: 'test' });
  const seen: number[] = [];
  p.receive((c) => {
    seen.push(c.length);
    return of(c);
  }).subscribe();
  const u = sized([1, 2, 3]);
  p.deliver(u.d);
  t.deepEqual(seen, [6]);
  t.is(u.partsReads(), 0);
  t.is(u.dataReads(), 1);
});

test('whenTaken: at once when a push consumer was handed everything; else once it has been (each next returned)', (t) => {
  const q = inboundQueue({ what: 'test' });
  const calls: string[] = [];
  q.deliver({ data: new Uint8Array(3) });
  q.whenTaken(() => calls.push('first'));
  t.deepEqual(calls, [], 'no consumer yet: the chunk waits, on loan');
  q.observable.subscribe((c) => calls.push(`next ${c.length}`));
  t.deepEqual(calls, ['next 3', 'first'], 'after its next returned');
  q.deliver(delivery([2, 2]).d);
  q.whenTaken(() => calls.push('second'));
  t.deepEqual(calls, ['next 3', 'first', 'next 2', 'next 2', 'second'], 'handed over synchronously: at once');
});

test('whenTaken: never for a receive() queue (a projection may keep its chunk), and at once for what a departed consumer left unread', (t) => {
  const pull = inboundQueue({ what: 'test' });
  let pulled = 0;
  pull.deliver({ data: new Uint8Array(4) });
  pull.whenTaken(() => pulled++);
  pull.receive((c) => of(c)).subscribe();
  pull.deliver({ data: new Uint8Array(4) });
  pull.whenTaken(() => pulled++);
  t.is(pulled, 0);

  const push = inboundQueue({ what: 'test' });
  let released = 0;
  const sub = push.observable.subscribe({ next: () => sub.unsubscribe() });
  push.deliver(delivery([5, 6, 7]).d);
  push.whenTaken(() => released++);
  t.is(released, 1, 'the consumer left after the first part: the rest is dropped unread');
  push.deliver({ data: new Uint8Array(1) });
  push.whenTaken(() => released++);
  t.is(released, 2);
});
