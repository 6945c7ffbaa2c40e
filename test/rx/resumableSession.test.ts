/** The session-cache policy as a function of a connection's streams, in virtual time. */
import test from 'ava';
import { TestScheduler } from 'rxjs/testing';
import { resumableSession, type ShutdownFacts } from '../../src/rx/resumableSession.js';
import type { TlsSession } from '../../src/handshake/session.js';

const session = (name: string) => ({ serverName: name }) as unknown as TlsSession;
const sessions = { a: session('a'), b: session('b') };
const facts: Record<string, ShutdownFacts> = {
  s: { sent: true, received: false, eofWithoutCloseNotify: false },
  r: { sent: false, received: true, eofWithoutCloseNotify: false },
  S: { sent: true, received: true, eofWithoutCloseNotify: false },
  E: { sent: true, received: true, eofWithoutCloseNotify: true },
};
const run = (t: { deepEqual(a: unknown, b: unknown): void }, cb: (h: TestScheduler['run'] extends (c: (x: infer H) => unknown) => unknown ? H : never) => void) =>
  new TestScheduler((a, b) => t.deepEqual(a, b)).run(cb);

test('a clean shutdown (close_notify both ways) yields the newest session when the connection ends', (t) => {
  run(t, ({ cold, expectObservable }) => {
    const sessions$ = cold('  -a--b------|', sessions);
    const shutdown$ = cold('  ------s--S-|', facts);
    expectObservable(resumableSession(sessions$, shutdown$)).toBe('-----------(b|)', sessions);
  });
});

test('no session after a one-sided close, an ignored EOF, a failure or abort, or without any ticket', (t) => {
  run(t, ({ cold, expectObservable }) => {
    const sessions$ = () => cold('-a---|', sessions);
    expectObservable(resumableSession(sessions$(), cold('--s--|', facts))).toBe('-----|');
    expectObservable(resumableSession(sessions$(), cold('--r--|', facts))).toBe('-----|');
    expectObservable(resumableSession(sessions$(), cold('--E--|', facts))).toBe('-----|');
    expectObservable(resumableSession(sessions$(), cold('--S--#', facts))).toBe('-----|');
    expectObservable(resumableSession(cold('-----|'), cold('--S--|', facts))).toBe('-----|');
  });
});
