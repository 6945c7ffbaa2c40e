/**
 * `inboundQueue`'s backpressure before a consumer comes: the transport is paused once more than `highWaterMark`
 * bytes wait, and resumed when a consumer (push or pull) takes them. So a peer cannot fill the memory of an
 * application that subscribes late (a proxy still dialling its backend).
 */
import test from 'ava';
import { of } from 'rxjs';
import { inboundQueue } from '../../src/rx/inbound.js';

const chunk = (n: number) => new Uint8Array(n);

for (const mode of ['push', 'pull'] as const) {
  test(`inboundQueue: unclaimed bytes past highWaterMark pause the transport; a ${mode} consumer resumes it`, (t) => {
    const transitions: boolean[] = [];
    const q = inboundQueue({ what: 'test', highWaterMark: 10, setPaused: (p) => transitions.push(p) });
    q.next(chunk(6));
    q.next(chunk(4));
    t.deepEqual(transitions, [], 'at highWaterMark: still reading');
    q.next(chunk(1));
    t.deepEqual(transitions, [true], 'past it: paused');
    q.next(chunk(5)); // what the transport had already read is kept, never dropped
    t.is(q.queuedBytes, 16);
    t.deepEqual(transitions, [true], 'one transition only');
    const got: number[] = [];
    if (mode === 'push') q.observable.subscribe((c) => got.push(c.length));
    else q.receive((c) => of(c.length)).subscribe((n) => got.push(n));
    t.deepEqual(got, [6, 4, 1, 5], 'everything delivered, in order');
    t.deepEqual(transitions, [true, false], 'resumed once taken');
  });
}

test('inboundQueue: without highWaterMark nothing pauses (a plain duplex, a datagram queue with its own cap)', (t) => {
  const transitions: boolean[] = [];
  const q = inboundQueue({ what: 'test', setPaused: (p) => transitions.push(p) });
  for (let i = 0; i < 100; i++) q.next(chunk(1000));
  t.deepEqual(transitions, []);
  t.is(q.queuedBytes, 100_000);
});
