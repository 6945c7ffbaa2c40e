/** DTLS 1.3 handshake reassembly (RFC 9147 §5.2, §5.5): bounded, each byte stored once, messages once in order. */
import test from 'ava';
import fc from 'fast-check';
import {
  addFragment,
  bufferedBytes,
  createReassembly,
  reassemblyAlert,
  type HandshakeFragment,
  type HandshakeMessage,
  type Reassembly,
  type ReassemblyResult,
  type ReassemblyWork,
} from '../../src/dtls/reassembly.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';

const body = (n: number, salt = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7 + salt * 13) & 0xff);

const frag = (msgSeq: number, msgType: number, b: Uint8Array, off: number, len: number): HandshakeFragment => ({
  msgSeq,
  msgType,
  length: b.length,
  fragmentOffset: off,
  fragment: b.subarray(off, off + len),
});

/** Feed fragments, collecting delivered messages; fails on anything but accepted or retransmission. */
function feed(r: Reassembly, fs: readonly HandshakeFragment[], work?: ReassemblyWork) {
  const out: HandshakeMessage[] = [];
  const kinds: string[] = [];
  for (const f of fs) {
    const res = addFragment(r, f, work);
    kinds.push(res.kind);
    if (res.kind === 'error') throw new Error(`unexpected ${JSON.stringify(res.error)}`);
    if (res.kind === 'accepted') out.push(...res.messages);
    r = res.state;
  }
  return { r, out, kinds };
}

function expectKind<K extends ReassemblyResult['kind']>(res: ReassemblyResult, kind: K): Extract<ReassemblyResult, { kind: K }> {
  if (res.kind !== kind) throw new Error(`expected ${kind}, got ${res.kind}`);
  return res as Extract<ReassemblyResult, { kind: K }>;
}

test('RFC 9147 §5.5: one unfragmented message is delivered at once, copied once', (t) => {
  const work: ReassemblyWork = { steps: 0, bytesCopied: 0 };
  const b = body(300);
  const res = expectKind(addFragment(createReassembly(), frag(0, 1, b, 0, 300), work), 'accepted');
  t.is(res.messages.length, 1);
  t.deepEqual(res.messages[0], { msgSeq: 0, msgType: 1, body: b });
  t.not(res.messages[0]!.body, b, 'the body is our copy, not the caller buffer');
  t.is(res.state.nextSeq, 1);
  t.is(work.bytesCopied, 300);
  t.is(bufferedBytes(res.state), 0);
});

test('RFC 9147 §5.5: a message in 1-byte fragments in shuffled order: bytes copied equal its length', (t) => {
  const n = 2000;
  const b = body(n);
  // A fixed shuffle (a multiplicative permutation mod a prime above n), so the test is deterministic.
  const order = Array.from({ length: 2003 }, (_, i) => (i * 1009) % 2003).filter((x) => x < n);
  const work: ReassemblyWork = { steps: 0, bytesCopied: 0 };
  const { r, out } = feed(createReassembly({ maxRanges: n }), order.map((o) => frag(0, 2, b, o, 1)), work);
  t.is(out.length, 1);
  t.deepEqual(out[0]!.body, b);
  t.is(r.nextSeq, 1);
  t.is(work.bytesCopied, n, 'each byte copied once');
  // Work per fragment: a log-factor search plus the ranges it touches (≤ 2 here), never the whole buffer.
  t.true(work.steps <= n * (Math.ceil(Math.log2(n)) + 4), `steps ${work.steps}`);
});

test('RFC 9147 §5.2: messages out of order are held and delivered in message_seq order', (t) => {
  const a = body(10, 1);
  const b = body(20, 2);
  const c = body(0);
  let r = createReassembly();
  let res = expectKind(addFragment(r, frag(2, 20, c, 0, 0)), 'accepted');
  t.deepEqual(res.messages, []);
  res = expectKind(addFragment(res.state, frag(1, 11, b, 0, 20)), 'accepted');
  t.deepEqual(res.messages, []);
  t.is(bufferedBytes(res.state), 20);
  res = expectKind(addFragment(res.state, frag(0, 8, a, 5, 5)), 'accepted');
  t.deepEqual(res.messages, []);
  res = expectKind(addFragment(res.state, frag(0, 8, a, 0, 5)), 'accepted');
  t.deepEqual(
    res.messages.map((m) => [m.msgSeq, m.msgType, m.body.length]),
    [[0, 8, 10], [1, 11, 20], [2, 20, 0]],
  );
  r = res.state;
  t.is(r.nextSeq, 3);
  t.deepEqual(r.pending, []);
});

test('RFC 9147 §7: fragments of delivered messages are retransmissions, ignored and reported', (t) => {
  const b = body(50);
  const { r } = feed(createReassembly(), [frag(0, 1, b, 0, 50)]);
  const res = addFragment(r, frag(0, 1, b, 10, 20));
  t.is(res.kind, 'retransmission');
  t.is(res.state, r);
  // Even an inconsistent one: the message is gone, there is nothing to compare it with.
  t.is(addFragment(r, { ...frag(0, 1, b, 0, 5), msgType: 9 }).kind, 'retransmission');
});

test('bounds: a message above maxMessageLength → messageTooLong, decode_error', (t) => {
  const r = createReassembly({ maxMessageLength: 1024 });
  const res = expectKind(addFragment(r, { msgSeq: 0, msgType: 11, length: 1025, fragmentOffset: 0, fragment: body(10) }), 'error');
  t.deepEqual(res.error, { kind: 'messageTooLong', msgSeq: 0, length: 1025, max: 1024 });
  t.is(reassemblyAlert(res.error), AlertDescription.decode_error);
  t.is(res.state, r);
  t.is(createReassembly().limits.maxMessageLength, 131072);
});

test('RFC 8446 §6.2: a fragment past the message length → fragmentPastEnd, decode_error', (t) => {
  const res = expectKind(
    addFragment(createReassembly(), { msgSeq: 0, msgType: 1, length: 10, fragmentOffset: 8, fragment: body(3) }),
    'error',
  );
  t.deepEqual(res.error, { kind: 'fragmentPastEnd', msgSeq: 0, end: 11, length: 10 });
  t.is(reassemblyAlert(res.error), AlertDescription.decode_error);
});

test('RFC 8446 §6.2: fragments disagreeing on type or length → inconsistentFragment, illegal_parameter', (t) => {
  const b = body(100);
  const { r } = feed(createReassembly(), [frag(0, 1, b, 0, 10)]);
  const byType = expectKind(addFragment(r, { ...frag(0, 1, b, 10, 10), msgType: 2 }), 'error');
  t.deepEqual(byType.error, { kind: 'inconsistentFragment', msgSeq: 0, field: 'msgType', was: 1, got: 2 });
  t.is(reassemblyAlert(byType.error), AlertDescription.illegal_parameter);
  const byLength = expectKind(addFragment(r, { ...frag(0, 1, b, 10, 10), length: 99 }), 'error');
  t.deepEqual(byLength.error, { kind: 'inconsistentFragment', msgSeq: 0, field: 'length', was: 100, got: 99 });
  t.is(reassemblyAlert(byLength.error), AlertDescription.illegal_parameter);
});

test('bounds: messages beyond next + maxAhead are dropped (RFC 9147 §5.2 MAY discard)', (t) => {
  const r = createReassembly({ maxAhead: 2 });
  const b = body(4);
  t.is(addFragment(r, frag(2, 1, b, 0, 2)).kind, 'accepted');
  const res = expectKind(addFragment(r, frag(3, 1, b, 0, 2)), 'dropped');
  t.is(res.reason, 'tooFarAhead');
  t.is(res.state, r);
  // Once message 0 is delivered the window moves and message 3 is taken.
  const { r: r1 } = feed(r, [frag(0, 1, b, 0, 4)]);
  t.is(addFragment(r1, frag(3, 1, b, 0, 2)).kind, 'accepted');
});

test('bounds: a fragment adding a range past maxRanges is dropped; one extending a range is taken', (t) => {
  const b = body(100);
  const { r } = feed(createReassembly({ maxRanges: 3 }), [frag(0, 1, b, 0, 1), frag(0, 1, b, 10, 1), frag(0, 1, b, 20, 1)]);
  t.is(r.pending[0]!.ranges.length, 3);
  const res = expectKind(addFragment(r, frag(0, 1, b, 30, 1)), 'dropped');
  t.is(res.reason, 'tooManyRanges');
  // Extending or bridging ranges never adds one, so a retransmitted flight still completes the message.
  const { r: r2, out } = feed(r, [frag(0, 1, b, 1, 5), frag(0, 1, b, 5, 20), frag(0, 1, b, 20, 80)]);
  t.deepEqual(out.map((m) => m.body), [b]);
  t.is(r2.nextSeq, 1);
});

test('immutability: an earlier state fed a different history keeps its own bytes', (t) => {
  const b = body(40);
  const evil = body(40, 5);
  const { r: half } = feed(createReassembly(), [frag(0, 1, b, 0, 10)]);
  // Branch 1 completes the message with the genuine bytes.
  const one = feed(half, [frag(0, 1, b, 10, 30)]);
  // Branch 2, from the same earlier state, gets other bytes for the same range: it must copy, not overwrite.
  const work: ReassemblyWork = { steps: 0, bytesCopied: 0 };
  const two = feed(half, [frag(0, 1, evil, 10, 30)], work);
  t.is(work.bytesCopied, 10 + 30, 'the branch copied the 10 bytes it held, then wrote 30');
  t.deepEqual(one.out[0]!.body, b);
  t.deepEqual(two.out[0]!.body, Uint8Array.from([...b.subarray(0, 10), ...evil.subarray(10)]));
  t.deepEqual(one.out[0]!.body, b, 'branch 1 is unchanged by branch 2');
});

test('API misuse: fields outside their wire ranges throw', (t) => {
  const r = createReassembly();
  t.throws(() => addFragment(r, { msgSeq: 65536, msgType: 1, length: 0, fragmentOffset: 0, fragment: body(0) }), { instanceOf: RangeError });
  t.throws(() => addFragment(r, { msgSeq: 0, msgType: 256, length: 0, fragmentOffset: 0, fragment: body(0) }), { instanceOf: RangeError });
  t.throws(() => createReassembly({ maxAhead: 0 }), { instanceOf: RangeError });
});

test('property: any permutation, duplication and overlap of fragments yields the messages once, in order, each byte copied once', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 120 })), { maxLength: 60 }),
      fc.integer({ min: 0, max: 1000 }),
      fc.boolean(),
      (sizes, extra, seed, oneByte) => {
        const msgs = sizes.map((n, i) => ({ msgType: (i * 7 + 1) & 0xff, body: body(n, i) }));
        const fs: HandshakeFragment[] = [];
        msgs.forEach((m, seq) => {
          // A cover of the message: 1-byte fragments, or chunks of up to 100 bytes.
          const step = oneByte ? 1 : 1 + ((seed + seq) % 100);
          if (m.body.length === 0) fs.push(frag(seq, m.msgType, m.body, 0, 0));
          for (let o = 0; o < m.body.length; o += step) fs.push(frag(seq, m.msgType, m.body, o, Math.min(step, m.body.length - o)));
        });
        // Extra overlapping fragments, duplicates included.
        for (const [s, o, n] of extra) {
          const seq = s % msgs.length;
          const m = msgs[seq]!;
          const off = m.body.length ? o % m.body.length : 0;
          fs.push(frag(seq, m.msgType, m.body, off, Math.min(n, m.body.length - off)));
        }
        // A deterministic shuffle from the seed (Fisher–Yates with a small LCG).
        let x = seed + 1;
        for (let i = fs.length - 1; i > 0; i--) {
          x = (x * 1103515245 + 12345) % 2147483648;
          const j = x % (i + 1);
          [fs[i], fs[j]] = [fs[j]!, fs[i]!];
        }
        const work: ReassemblyWork = { steps: 0, bytesCopied: 0 };
        const { r, out } = feed(createReassembly({ maxAhead: msgs.length, maxRanges: 512 }), fs, work);
        t.deepEqual(
          out.map((m) => [m.msgSeq, m.msgType, Buffer.from(m.body).toString('hex')]),
          msgs.map((m, i) => [i, m.msgType, Buffer.from(m.body).toString('hex')]),
        );
        t.is(r.nextSeq, msgs.length);
        t.deepEqual(r.pending, []);
        t.is(work.bytesCopied, sizes.reduce((a, b) => a + b, 0), 'each byte copied exactly once');
      },
    ),
    { numRuns: 200 },
  );
});
