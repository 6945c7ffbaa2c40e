/** `inboundQueue`'s `onTaken` (what QUIC's receive credit follows): counted when a chunk leaves the queue. */
import test from 'ava';
import { Subject, of, take } from 'rxjs';
import { inboundQueue } from '../../src/rx/inbound.js';

const chunk = (n: number) => new Uint8Array(n);

test('inboundQueue onTaken: push mode counts each chunk as it is handed over, none before the subscriber comes', (t) => {
  const taken: number[] = [];
  const q = inboundQueue({ what: 'test', onTaken: (n) => taken.push(n) });
  q.next(chunk(3));
  q.next(chunk(5));
  t.deepEqual(taken, [], 'nothing taken while nobody reads');
  t.is(q.queuedBytes, 8);
  q.observable.subscribe();
  t.deepEqual(taken, [3, 5]);
  q.next(chunk(7));
  t.deepEqual(taken, [3, 5, 7]);
});

test('inboundQueue onTaken: pull mode counts a chunk when its projection starts, the next only after the previous completed', (t) => {
  const taken: number[] = [];
  const q = inboundQueue({ what: 'test', onTaken: (n) => taken.push(n) });
  const gate = new Subject<void>();
  q.receive<unknown>((c) => (c.length === 1 ? gate.pipe(take(1)) : of(c))).subscribe();
  q.next(chunk(1));
  q.next(chunk(2));
  q.next(chunk(4));
  t.deepEqual(taken, [1], 'the first projection holds the rest back');
  t.is(q.queuedBytes, 6);
  gate.next();
  t.deepEqual(taken, [1, 2, 4]);
});

test('inboundQueue onTaken: what waits when the reader leaves, and what comes after, is counted as taken (dropped)', (t) => {
  const taken: number[] = [];
  const q = inboundQueue({ what: 'test', onTaken: (n) => taken.push(n) });
  const gate = new Subject<void>();
  const sub = q.receive(() => gate).subscribe();
  q.next(chunk(10));
  q.next(chunk(20));
  q.next(chunk(30));
  sub.unsubscribe();
  t.deepEqual(taken, [10, 50]);
  q.next(chunk(5));
  t.deepEqual(taken, [10, 50, 5]);
  t.is(q.queuedBytes, 0);
});
