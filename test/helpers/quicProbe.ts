/**
 * Shared pieces of the QUIC conformance probes (test/quic/conformance.test.ts, conformance3.test.ts): the close
 * code a side sent, and tests whose probes are all checked at their end, so one miss does not hide the others.
 */
import test, { type ExecutionContext } from 'ava';
import { type QuicPair, type Side, quicOutcome as outcome } from './quicPair.js';

/** The transport error code of the CONNECTION_CLOSE `side` sent (undefined if it sent none). */
export function sentCode(pair: QuicPair, side: Side): bigint | undefined {
  const f = pair.state[side].closeFrame;
  if (f) return f.kind === 'transport' ? f.errorCode : undefined;
  const d = pair.state[side].closeError?.detail;
  return d?.kind === 'quicClose' && d.local && !d.application ? d.code : undefined;
}

/** Probes of each test that did not get the outcome they expect: all reported at the end ({@link ctest}). */
const misses = new WeakMap<ExecutionContext, string[]>();

/** Record a probe of `t` that missed its outcome. */
export const miss = (t: ExecutionContext, what: string): void => void misses.set(t, [...(misses.get(t) ?? []), what]);

/** `side` closed with transport error `code`. A miss does not stop the test: all are listed when it ends. */
export function assertClosedWith(t: ExecutionContext, pair: QuicPair, side: Side, code: bigint, what: string): void {
  t.log(`${side}: ${what}: ${outcome(pair, side)}`);
  if (sentCode(pair, side) !== code) miss(t, `${side}: ${what} → expected 0x${code.toString(16)}; got: ${outcome(pair, side)}`);
}

/** `side` is still connected, sent no CONNECTION_CLOSE. */
export function assertAlive(t: ExecutionContext, pair: QuicPair, side: Side, what: string): void {
  t.log(`${side}: ${what}: ${outcome(pair, side)}`);
  if (pair.state[side].phase !== 'connected') miss(t, `${side}: ${what} → expected to stay connected; got: ${outcome(pair, side)}`);
}

/** An ava test whose probes are all checked at its end. */
export function ctest(title: string, body: (t: ExecutionContext) => void): void {
  test(title, (t) => {
    body(t);
    t.deepEqual(misses.get(t) ?? [], [], 'probes that did not get the RFC\'s outcome');
  });
}
