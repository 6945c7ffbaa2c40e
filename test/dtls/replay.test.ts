/** The DTLS 1.3 anti-replay window (RFC 9147 §4.5.1, RFC 4303 §3.4.3). */
import test from 'ava';
import fc from 'fast-check';
import {
  checkReplay,
  createReplayWindow,
  markReceived,
  MAX_SEQUENCE_NUMBER,
  type ReplayVerdict,
  type ReplayWindow,
} from '../../src/dtls/replayWindow.js';

/** Check then mark, as the layer does for a record that authenticated. */
function receive(w: ReplayWindow, seq: number): { w: ReplayWindow; verdict: ReplayVerdict } {
  const verdict = checkReplay(w, seq);
  return { w: verdict === 'new' ? markReceived(w, seq) : w, verdict };
}

test('RFC 9147 §4.5.1: records in order are all new, and each is a duplicate afterwards', (t) => {
  let w = createReplayWindow();
  for (let s = 0; s < 200; s++) {
    const r = receive(w, s);
    t.is(r.verdict, 'new');
    w = r.w;
  }
  t.is(w.top, 199);
  for (let s = 199 - 63; s <= 199; s++) t.is(checkReplay(w, s), 'duplicate');
  t.is(checkReplay(w, 199 - 64), 'tooOld');
  t.is(checkReplay(w, 200), 'new');
});

test('RFC 4303 §3.4.3: a record reordered inside the window is new once, then a duplicate', (t) => {
  let w = createReplayWindow();
  for (const s of [10, 12, 11, 9, 70]) w = receive(w, s).w;
  t.is(w.top, 70);
  t.is(checkReplay(w, 6), 'tooOld'); // 70 − 6 ≥ 64
  t.is(checkReplay(w, 7), 'new'); // the window is 7..70
  t.is(checkReplay(w, 9), 'duplicate'); // 70 − 9 = 61 < 64: still remembered
  t.is(checkReplay(w, 13), 'new'); // never seen, inside the window
  t.is(checkReplay(w, 69), 'new');
  w = receive(w, 69).w;
  t.is(checkReplay(w, 69), 'duplicate');
  t.is(w.top, 70, 'a record below the edge does not move it');
});

test('RFC 4303 §3.4.3: a far jump forgets everything below the new window', (t) => {
  let w = createReplayWindow();
  for (let s = 0; s < 64; s++) w = receive(w, s).w;
  w = receive(w, 1_000_000).w;
  t.is(checkReplay(w, 63), 'tooOld');
  t.is(checkReplay(w, 1_000_000 - 63), 'new', 'bits passed over by the jump are clear');
  t.is(checkReplay(w, 1_000_000 - 64), 'tooOld');
  // A jump shorter than the window keeps the bits still inside it and clears the ones passed over.
  let v = createReplayWindow();
  for (const s of [0, 1, 2, 3]) v = receive(v, s).w;
  v = receive(v, 40).w;
  v = receive(v, 100).w; // window now 37..100
  t.is(checkReplay(v, 40), 'duplicate');
  t.is(checkReplay(v, 36), 'tooOld');
  for (const s of [37, 38, 39, 41, 99]) t.is(checkReplay(v, s), 'new');
});

test('RFC 9147 §4: sequence numbers up to 2^48 − 1 are exact; beyond is API misuse', (t) => {
  let w = createReplayWindow(1024);
  const max = MAX_SEQUENCE_NUMBER;
  t.is(max, 281474976710655);
  for (const s of [max - 1023, max - 1, max - 2]) w = receive(w, s).w;
  t.is(receive(w, max).verdict, 'new');
  w = receive(w, max).w;
  t.is(w.top, max);
  t.is(checkReplay(w, max), 'duplicate');
  t.is(checkReplay(w, max - 1), 'duplicate');
  t.is(checkReplay(w, max - 3), 'new');
  t.is(checkReplay(w, max - 1023), 'duplicate');
  t.is(checkReplay(w, max - 1024), 'tooOld');
  t.throws(() => checkReplay(w, max + 1), { instanceOf: RangeError });
  t.throws(() => markReceived(w, -1), { instanceOf: RangeError });
  t.throws(() => checkReplay(w, 1.5), { instanceOf: RangeError });
});

test('window sizes: multiples of 32 from 32 to 1024, anything else refused', (t) => {
  for (const n of [32, 64, 96, 1024]) t.is(createReplayWindow(n).size, n);
  for (const n of [0, 16, 33, 1056, 2048, Number.NaN]) t.throws(() => createReplayWindow(n), { instanceOf: RangeError });
});

test('immutability: marking returns a new window and leaves the given one as it was', (t) => {
  const a = markReceived(createReplayWindow(), 5);
  const bitsBefore = a.bits.slice();
  const b = markReceived(a, 6);
  const c = markReceived(a, 500);
  t.not(b, a);
  t.deepEqual(a.bits, bitsBefore);
  t.is(a.top, 5);
  t.is(checkReplay(a, 6), 'new');
  t.is(checkReplay(b, 6), 'duplicate');
  t.is(checkReplay(c, 5), 'tooOld');
  t.is(markReceived(b, 6), b, 'marking a duplicate returns the same window');
  t.is(markReceived(c, 5), c, 'marking a too-old number returns the same window');
});

/** The reference model: every number ever marked, and the same rule for the edge. */
function modelVerdict(seen: Set<number>, top: number, size: number, seq: number): ReplayVerdict {
  if (seq > top) return 'new';
  if (top - seq >= size) return 'tooOld';
  return seen.has(seq) ? 'duplicate' : 'new';
}

test('property: the window answers as a set of every number marked, with the same edge rule', (t) => {
  t.notThrows(() =>
    fc.assert(
    fc.property(
      fc.constantFrom(32, 64, 128, 1024),
      fc.nat({ max: MAX_SEQUENCE_NUMBER - 5000 }),
      // Steps: small moves around the edge (reordering, duplicates), with the odd far jump.
      fc.array(fc.tuple(fc.oneof(fc.integer({ min: -80, max: 80 }), fc.integer({ min: -3000, max: 3000 })), fc.boolean()), {
        maxLength: 300,
      }),
      (size, base, steps) => {
        let w = createReplayWindow(size);
        const seen = new Set<number>();
        let top = -1;
        let at = base;
        for (const [delta, authentic] of steps) {
          at = Math.min(MAX_SEQUENCE_NUMBER, Math.max(0, at + delta));
          const expected = modelVerdict(seen, top, size, at);
          if (checkReplay(w, at) !== expected) return false;
          // Only authenticated records are marked (RFC 9147 §4.5.1); marking a non-new one is a no-op.
          if (authentic) {
            const next = markReceived(w, at);
            if (expected !== 'new' && next !== w) return false;
            w = next;
            if (expected === 'new') {
              seen.add(at);
              top = Math.max(top, at);
            }
          }
          if (w.top !== top) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  ));
});
