import test from 'ava';
import { type SchedulerLike, Subject, Subscription, map, merge, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { runReducer, type PendingInput, type Ticker } from '../../operators/runReducer.js';
import type { Step } from '../../src/core/types.js';
import type { TlsEffect, TlsInput } from '../../src/tls/types.js';
import { TlsError } from '../../src/core/errors.js';

/**
 * A tiny fake reducer. `write [n]` arms a deadline n ms from now (0 disarms) and reports `write@now`;
 * `timeout` reports `timeout@now` and disarms; `end` closes cleanly; `close` closes with an error;
 * `received` answers with two effects (used for re-entrancy); `keyUpdate` throws (API misuse).
 */
interface FakeState {
  readonly deadline?: number;
}
const text = (s: string) => new TextEncoder().encode(s);
const say = (s: string): TlsEffect => ({ type: 'deliver', data: text(s) });
const closed: TlsEffect = { type: 'closed' };
const failure = new TlsError({ kind: 'transport', reason: 'boom' });

function fake(calls: TlsInput[] = []) {
  return (state: FakeState, input: TlsInput): Step<FakeState, TlsEffect> => {
    calls.push(input);
    switch (input.type) {
      case 'write': {
        const n = input.data[0]! * 100;
        return { state: { deadline: n > 0 ? input.now + n : undefined }, effects: [say(`write@${input.now}`)] };
      }
      case 'timeout':
        return { state: {}, effects: [say(`timeout@${input.now}`)] };
      case 'end':
        return { state, effects: [{ type: 'transmit', data: text('bye') }, closed, say('after-closed')] };
      case 'close':
        return { state, effects: [{ type: 'closed', error: failure }] };
      case 'received':
        return { state, effects: [say(`rx1:${input.now}`), say(`rx2:${input.now}`)] };
      case 'keyUpdate':
        throw new TlsError({ kind: 'apiMisuse', reason: 'not now' });
      default:
        return { state, effects: [] };
    }
  };
}

const nextTimeout = (s: FakeState) => s.deadline;
/** `write` arming a deadline of `hundreds * 100` ms (0 = disarm). */
const w = (hundreds: number): PendingInput => ({ type: 'write', data: Uint8Array.of(hundreds) });

function scheduler(t: { deepEqual: (a: unknown, b: unknown) => void }) {
  return new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
}

test('stamps every input with scheduler.now()', (t) => {
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot('  --a--b---', { a: w(0), b: w(0) });
    const expected = '    --x--y---';
    const out = inputs.pipe(runReducer({ handle: fake(), nextTimeout, initial: {} }));
    expectObservable(out).toBe(expected, { x: say('write@2'), y: say('write@5') });
  });
});

test('the timeout input arrives exactly at the deadline in virtual time', (t) => {
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot('  --a----------', { a: w(10) }); // deadline = 2 + 1000
    const expected = '    --x 999ms y--';
    const out = inputs.pipe(runReducer({ handle: fake(), nextTimeout, initial: {} }));
    expectObservable(out).toBe(expected, { x: say('write@2'), y: say('timeout@1002') });
  });
});

test('re-arms ONE timer after every step: a moved deadline cancels the previous one', (t) => {
  const calls: TlsInput[] = [];
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot('  --a--b------------', { a: w(1), b: w(2) }); // 2+100 replaced by 5+200
    const expected = '    --x--y 199ms z----';
    const out = inputs.pipe(runReducer({ handle: fake(calls), nextTimeout, initial: {} }));
    expectObservable(out).toBe(expected, { x: say('write@2'), y: say('write@5'), z: say('timeout@205') });
  });
  t.is(calls.filter((c) => c.type === 'timeout').length, 1);
});

test('a deadline that disappears disarms the timer', (t) => {
  const calls: TlsInput[] = [];
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot('  --a--b---', { a: w(1), b: w(0) });
    const expected = '    --x--y---';
    const out = inputs.pipe(runReducer({ handle: fake(calls), nextTimeout, initial: {} }));
    expectObservable(out).toBe(expected, { x: say('write@2'), y: say('write@5') });
  });
  t.deepEqual(
    calls.map((c) => c.type),
    ['write', 'write'],
  );
});

test('a deadline already in the past fires at once (asynchronously, same frame)', (t) => {
  scheduler(t).run(({ hot, expectObservable }) => {
    const past = (s: FakeState) => (s.deadline === undefined ? undefined : 0);
    const inputs = hot('  --a---', { a: w(1) });
    const expected = '    --(xy)';
    const out = inputs.pipe(runReducer({ handle: fake(), nextTimeout: past, initial: {} }));
    expectObservable(out).toBe(expected, { x: say('write@2'), y: say('timeout@2') });
  });
});

test('completes right after the step with a closed effect and releases input and timer', (t) => {
  const calls: TlsInput[] = [];
  scheduler(t).run(({ hot, expectObservable, expectSubscriptions }) => {
    const inputs = hot('  --a--e--a--', { a: w(1), e: { type: 'end' } as PendingInput });
    const expected = '    --x--(bcd|)';
    const subs = '        ^----!';
    const out = inputs.pipe(runReducer({ handle: fake(calls), nextTimeout, initial: {} }));
    expectObservable(out).toBe(expected, {
      x: say('write@2'),
      b: { type: 'transmit', data: text('bye') },
      c: closed,
      d: say('after-closed'),
    });
    expectSubscriptions(inputs.subscriptions).toBe(subs);
  });
  // the deadline armed at frame 2 (102) was cancelled by the close
  t.deepEqual(
    calls.map((c) => c.type),
    ['write', 'end'],
  );
});

test('a closed effect carrying an error is emitted, then the output completes', (t) => {
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot('  --c--', { c: { type: 'close', mode: 'abort' } as PendingInput });
    const expected = '    --(c|)';
    const out = inputs.pipe(runReducer({ handle: fake(), nextTimeout, initial: {} }));
    expectObservable(out).toBe(expected, { c: { type: 'closed', error: failure } });
  });
});

test('inputs fed while effects are being emitted are reduced after the current step', (t) => {
  scheduler(t).run(({ hot, expectObservable }) => {
    const loop = new Subject<PendingInput>();
    const inputs = hot('  --r-----', { r: { type: 'received', data: new Uint8Array(0) } as PendingInput });
    const expected = '    --(abc)-';
    let once = true;
    const out = merge(inputs, loop).pipe(
      runReducer({ handle: fake(), nextTimeout, initial: {} }),
      // the first effect synchronously feeds another input: its effect must come after rx2, not between
      tap(() => once && ((once = false), loop.next(w(0)))),
    );
    expectObservable(out).toBe(expected, { a: say('rx1:2'), b: say('rx2:2'), c: say('write@2') });
  });
});

test('an input error and a throwing reducer both error the output', (t) => {
  scheduler(t).run(({ hot, expectObservable }) => {
    const failing = hot(' --a--#', { a: w(1) }, failure);
    const expected1 = '   --x--#';
    expectObservable(failing.pipe(runReducer({ handle: fake(), nextTimeout, initial: {} }))).toBe(
      expected1,
      { x: say('write@2') },
      failure,
    );
    const misuse = hot('  --k--', { k: { type: 'keyUpdate', requestPeer: false } as PendingInput });
    const expected2 = '   --#--';
    expectObservable(misuse.pipe(runReducer({ handle: fake(), nextTimeout, initial: {} }))).toBe(
      expected2,
      undefined,
      new TlsError({ kind: 'apiMisuse', reason: 'not now' }),
    );
  });
});

test('unsubscribing cancels the timer and the input subscription', (t) => {
  const calls: TlsInput[] = [];
  scheduler(t).run(({ hot, expectObservable, expectSubscriptions }) => {
    const inputs = hot('  --a------', { a: w(1) });
    const unsub = '       ^----!---';
    const expected = '    --x------';
    const out = inputs.pipe(runReducer({ handle: fake(calls), nextTimeout, initial: {} }));
    expectObservable(out, unsub).toBe(expected, { x: say('write@2') });
    expectSubscriptions(inputs.subscriptions).toBe(unsub);
  });
  t.deepEqual(
    calls.map((c) => c.type),
    ['write'],
  );
});

test('uses the injected scheduler as the clock (a TestScheduler with an epoch offset)', (t) => {
  const ts = scheduler(t);
  const epoch = Date.UTC(2027, 0, 1);
  const inner = ts.now;
  ts.now = () => inner() + epoch;
  ts.run(({ hot, expectObservable }) => {
    const inputs = hot('  --a 99ms -', { a: w(1) });
    const expected = '    --x 99ms y';
    const out = inputs.pipe(runReducer({ handle: fake(), nextTimeout, initial: {}, scheduler: ts }));
    expectObservable(out).toBe(expected, { x: say(`write@${epoch + 2}`), y: say(`timeout@${epoch + 102}`) });
  });
});

test('onIdle runs once the queue is drained (after re-entrant inputs), not after the closing step', (t) => {
  const idle: string[] = [];
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot<PendingInput>('  --r------e', { r: { type: 'received', data: new Uint8Array(0) }, e: { type: 'end' } });
    const feedback = new Subject<PendingInput>();
    let fed = false;
    const out = merge(inputs, feedback).pipe(
      runReducer({
        handle: fake(),
        nextTimeout,
        initial: {},
        onIdle: () => idle.push(`idle after ${idle.length}`),
      }),
      tap((e) => {
        // Re-entrant: an input fed while the first effect is emitted is reduced in the same busy period.
        if (!fed && e.type === 'deliver') {
          fed = true;
          feedback.next(w(0));
        }
      }),
    );
    const expected = '                 --(abc)--(tfg|)';
    expectObservable(out.pipe(map((e) => (e.type === 'deliver' ? new TextDecoder().decode(e.data) : e.type)))).toBe(
      expected,
      { a: 'rx1:2', b: 'rx2:2', c: 'write@2', t: 'transmit', f: 'closed', g: 'after-closed' },
    );
  });
  t.deepEqual(idle, ['idle after 0'], 'one idle call for frame 2 (three effects, two inputs); none after closed');
});

test('pull: asked whenever the reducer is idle and again after each input it gave; wake$ asks again', (t) => {
  const asked: number[] = [];
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot<PendingInput>('  --r------', { r: { type: 'received', data: new Uint8Array(0) } });
    const wake = hot('                  ----------k--');
    // Two writes are ready at first; one more becomes ready at 10 (announced by wake$).
    const ready: PendingInput[] = [w(0), w(0)];
    wake.subscribe(() => ready.push(w(0)));
    const out = inputs.pipe(
      runReducer({
        handle: fake(),
        nextTimeout,
        initial: {},
        pull: () => {
          asked.push(ready.length);
          return ready.shift();
        },
        wake$: wake,
      }),
    );
    const expected = '                  --(abcd)--e--';
    expectObservable(out.pipe(map((e) => (e.type === 'deliver' ? new TextDecoder().decode(e.data) : e.type)))).toBe(expected, {
      a: 'rx1:2',
      b: 'rx2:2',
      c: 'write@2',
      d: 'write@2',
      e: 'write@10',
    });
  });
  t.deepEqual(asked, [2, 1, 0, 1, 0], 'after r: two given, then none; after the wake: one, then none');
});

test('generic over state, input and effect types, with a custom final effect', (t) => {
  type CounterInput = { readonly type: 'add'; readonly now: number; readonly n: number } | { readonly type: 'timeout'; readonly now: number };
  type CounterEffect = { readonly type: 'total'; readonly value: number } | { readonly type: 'done' };
  const handle = (total: number, input: CounterInput) => {
    if (input.type === 'timeout') return { state: total, effects: [{ type: 'done' } as CounterEffect] };
    const value = total + input.n;
    return { state: value, effects: [{ type: 'total', value } as CounterEffect] };
  };
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot('  -a-b----', { a: { type: 'add' as const, n: 2 }, b: { type: 'add' as const, n: 3 } });
    const out = inputs.pipe(
      runReducer({ handle, nextTimeout: (total: number) => (total >= 5 ? 6 : undefined), initial: 0, isFinal: (e) => e.type === 'done' }),
    );
    // The total reaches 5 at frame 3 and arms a deadline at 6: `timeout` there yields `done`, which completes.
    expectObservable(out).toBe('  -a-b--(d|)', { a: { type: 'total', value: 2 }, b: { type: 'total', value: 5 }, d: { type: 'done' } });
  });
});

test('manual ticking (autoTick: false): no timer is armed; eventTimeout() counts down and handleEvents() feeds the due timeout', (t) => {
  const calls: TlsInput[] = [];
  const seen: [number, number | undefined][] = [];
  scheduler(t).run(({ hot, cold, expectObservable }) => {
    let tick!: Ticker;
    const inputs = hot('  --a-------------', { a: w(1) }); // deadline 2 + 100 = 102
    const out = inputs.pipe(runReducer({ handle: fake(calls), nextTimeout, initial: {}, autoTick: false, ticker: (x) => (tick = x) }));
    // Ask at 1 (no deadline yet), 52 (50 to go), 102 (due) and 150 (overdue: still 0); tick early at 60 (nothing due:
    // nothing fed) and at 150 (fed, stamped 150).
    cold('-a 50ms b 49ms c 47ms d').subscribe((at) => seen.push([at === 'a' ? 1 : at === 'b' ? 52 : at === 'c' ? 102 : 150, tick.eventTimeout()]));
    cold('60ms e 89ms f').subscribe(() => tick.handleEvents());
    expectObservable(out).toBe('--x 147ms y', { x: say('write@2'), y: say('timeout@150') });
  });
  t.deepEqual(seen, [
    [1, undefined],
    [52, 50],
    [102, 0],
    [150, 0],
  ]);
  t.deepEqual(
    calls.map((c) => c.type),
    ['write', 'timeout'],
    'the early handleEvents() fed nothing; no timeout without one',
  );
});

test('auto ticking hands out a ticker too: handleEvents() before the deadline does nothing, eventTimeout() is undefined after the end', (t) => {
  const calls: TlsInput[] = [];
  let tick!: Ticker;
  scheduler(t).run(({ hot, cold, expectObservable }) => {
    const inputs = hot('  --a------------e-', { a: w(1), e: { type: 'end' } as PendingInput });
    const out = inputs.pipe(runReducer({ handle: fake(calls), nextTimeout, initial: {}, ticker: (x) => (tick = x) }));
    cold('5ms e').subscribe(() => tick.handleEvents());
    expectObservable(out).toBe('--x------------(bcd|)', {
      x: say('write@2'),
      b: { type: 'transmit', data: text('bye') },
      c: closed,
      d: say('after-closed'),
    });
  });
  t.is(tick.eventTimeout(), undefined);
  tick.handleEvents(); // harmless after the end
  t.deepEqual(
    calls.map((c) => c.type),
    ['write', 'end'],
  );
});

test('a state that already has a deadline (started elsewhere) gets its timer at subscription', (t) => {
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot<PendingInput>('  ------');
    const out = inputs.pipe(runReducer({ handle: fake(), nextTimeout, initial: { deadline: 30 } }));
    expectObservable(out).toBe('30ms y', { y: say('timeout@30') });
  });
});

test('pull is given the latest state', (t) => {
  const states: FakeState[] = [];
  scheduler(t).run(({ hot, expectObservable }) => {
    const inputs = hot('  --a--', { a: w(3) });
    const out = inputs.pipe(
      runReducer({
        handle: fake(),
        nextTimeout,
        initial: {},
        pull: (s) => {
          states.push(s);
          return undefined;
        },
      }),
    );
    expectObservable(out).toBe('--x 299ms y', { x: say('write@2'), y: say('timeout@302') });
  });
  t.deepEqual(states, [{ deadline: 302 }, {}]);
});

test('a deadline beyond what setTimeout holds is reached in timers of at most 2^31-1 ms, re-armed for the rest', (t) => {
  const MAX = 2 ** 31 - 1;
  let now = 0;
  const delays: number[] = [];
  let pending: (() => void) | undefined;
  const clock = {
    now: () => now,
    schedule(work: () => void, delay = 0) {
      delays.push(delay);
      pending = () => {
        now += delay;
        work();
      };
      return new Subscription();
    },
  } as unknown as SchedulerLike;
  const seen: string[] = [];
  const sub = new Subject<PendingInput>()
    .pipe(runReducer({ handle: fake(), nextTimeout, initial: { deadline: 2 ** 40 }, scheduler: clock }))
    .subscribe((e) => seen.push(new TextDecoder().decode((e as { data: Uint8Array }).data)));
  for (let i = 0; i < 1000 && seen.length === 0 && pending; i++) {
    const run = pending;
    pending = undefined;
    run();
  }
  sub.unsubscribe();
  t.true(delays.every((d) => d <= MAX), `delays asked for: ${delays.join(', ')}`);
  t.is(delays.length, Math.ceil(2 ** 40 / MAX));
  t.deepEqual(seen, [`timeout@${2 ** 40}`], 'the timeout arrives at the deadline, not before');
});
