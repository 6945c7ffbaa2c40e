/**
 * Connection lifetime in virtual time: a connection handed over outlives its subscriber, unsubscribing during
 * the handshake aborts, the last user letting go unfinished aborts, teardown leaves no timer behind, and
 * inbound$ has one consumer (a second one fails loudly without disturbing the first).
 */
import test from 'ava';
import { catchError, defer, map, merge, mergeMap, of, switchMap, take, tap, timer } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { secure } from '../../operators/secure.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { TlsError } from '../../src/core/errors.js';
import type { TlsConnection } from '../../src/rx/types.js';
import { ca, cert, dec, enc, failure, key, otherCa, securePair, spy, startSending, upperEcho, virtualClock } from './virtual.js';


/** Records, at virtual frame `at`, how many actions the scheduler still has queued (timers, deliveries). */
function pendingAt(ts: TestScheduler, at: number, into: number[]): void {
  ts.schedule(() => void into.push(ts.actions.length), at);
}

test('take(1): the connection stays usable after its subscriber left, and closes when both directions are done', (t) => {
  const ts = virtualClock(t);
  let client!: TlsConnection;
  ts.run(({ cold, expectObservable }) => {
    const [c, s] = memoryDuplexPair();
    const server$ = of(s).pipe(secure({ role: 'server', cert, key }), mergeMap(upperEcho));
    // The subscriber takes the connection and unsubscribes at once (as firstValueFrom does).
    of(c).pipe(secure({ role: 'client', ca, servername: 'localhost' }), take(1)).subscribe((x) => (client = x));
    const out = cold('      --a-b|', { a: enc('ping'), b: enc('pong') });
    const inbound = '       --A-B|';
    const sent = '          -----|';
    expectObservable(server$).toBe('-----|'); // the server's echo ends with our close_notify: both done
    expectObservable(defer(() => client.send(out))).toBe(sent);
    expectObservable(defer(() => client.inbound$.pipe(map(dec)))).toBe(inbound, { A: 'PING', B: 'PONG' });
  });
  t.deepEqual(client.shutdownState(), { sent: true, received: true });
});

test('unsubscribing during the handshake aborts: the transport is destroyed, the peer fails at once', (t) => {
  const ts = virtualClock(t);
  ts.run(({ expectObservable }) => {
    const [c, s] = memoryDuplexPair({ scheduler: ts, latency: 10 });
    const wire = spy(c, ts, 0);
    const server$ = of(s).pipe(secure({ role: 'server', cert, key, scheduler: ts }), catchError(failure));
    const client$ = of(wire.duplex).pipe(secure({ role: 'client', ca, servername: 'localhost', scheduler: ts }));
    // ClientHello at 0; the server's flight would reach us at 20; we leave at 5.
    expectObservable(wire.events).toBe('w----d');
    expectObservable(client$, '^----!').toBe('-----');
    expectObservable(server$).toBe('15ms (e|)', { e: { kind: 'unexpectedEof' } });
  });
});

test('the last user letting go unfinished aborts a connection whose subscriber already left', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    const server$ = pair.server$.pipe(
      switchMap((conn) => conn.inbound$.pipe(map(dec))),
      catchError(failure),
    );
    pair.client$.pipe(take(1)).subscribe();
    expectObservable(server$).toBe('-a-b(e|)', { a: 'a', b: 'b', e: { kind: 'unexpectedEof' } });
    // The only user of the connection, a send() of an endless source, is unsubscribed at 4.
    expectObservable(defer(() => pair.client.send(cold('-a-b----', { a: enc('a'), b: enc('b') }))), '^---!').toBe('----');
    expectObservable(pair.clientWire.events).toBe('-w-wd');
  });
});

test('a user that finished does not hold the connection open, nor abort it: the peer can still answer', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    pair.server$.subscribe();
    pair.client$.pipe(take(1)).subscribe();
    // Our send() completes at 1 (close_notify); nobody reads for a while; the server answers at 3, closes at 4.
    expectObservable(defer(() => pair.client.send(of(enc('q'))))).toBe('|');
    expectObservable(defer(() => pair.server.send(cold('---x|', { x: enc('x') })))).toBe('----|');
    expectObservable(timer(6).pipe(switchMap(() => pair.client.inbound$.pipe(map(dec))))).toBe('------(x|)', { x: 'x' });
  });
});

test('teardown leaves no timer behind: after close(), after a complete shutdown, after a failure', (t) => {
  const ts = virtualClock(t);
  const pending: number[] = [];
  ts.run(({ cold, expectObservable }) => {
    // 1. close() at 2, with a 3 ms pipe latency: everything settles by 5.
    const [c1, s1] = memoryDuplexPair({ scheduler: ts, latency: 3 });
    of(s1).pipe(secure({ role: 'server', cert, key, scheduler: ts }), mergeMap(upperEcho)).subscribe({ error: () => undefined });
    const closed$ = of(c1).pipe(
      secure({ role: 'client', ca, servername: 'localhost', scheduler: ts }),
      tap((conn) => timer(2, ts).subscribe(() => conn.close())),
      map(() => 'c'),
    );
    // 2. A complete shutdown (close_notify both ways).
    const [c2, s2] = memoryDuplexPair({ scheduler: ts, latency: 3 });
    of(s2).pipe(secure({ role: 'server', cert, key, scheduler: ts }), mergeMap(upperEcho)).subscribe();
    const shut$ = of(c2).pipe(
      secure({ role: 'client', ca, servername: 'localhost', scheduler: ts }),
      mergeMap((conn) => merge(conn.send(cold('-a|', { a: enc('a') })), conn.inbound$.pipe(map(dec)))),
    );
    // 3. A failure: a server that never answers, then the handshake timeout.
    const [c3] = memoryDuplexPair({ scheduler: ts, latency: 3 });
    const timedOut$ = of(c3).pipe(secure({ role: 'client', ca, servername: 'localhost', handshakeTimeout: 50, scheduler: ts }), catchError(failure));
    // 4. A failure: an untrusted certificate.
    const [c4, s4] = memoryDuplexPair({ scheduler: ts, latency: 3 });
    of(s4).pipe(secure({ role: 'server', cert, key, scheduler: ts })).subscribe({ error: () => undefined });
    const untrusted$ = of(c4).pipe(
      secure({ role: 'client', ca: otherCa, servername: 'localhost', scheduler: ts }),
      catchError(failure),
    );
    expectObservable(closed$).toBe('     6ms c 1ms |'); // handshake done at 6 (3 ms each way), closed at 8
    expectObservable(shut$).toBe('       13ms A |', { A: 'A' }); // a: 7 → 10 → 13; close_notify 8 → 11 → 14
    expectObservable(timedOut$).toBe('   50ms (e|)', { e: { kind: 'handshakeTimeout' } });
    expectObservable(untrusted$).toBe('  6ms (e|)', { e: { kind: 'certificate' } });
    pendingAt(ts, 100, pending);
  });
  t.deepEqual(pending, [0], 'no scheduled action (timer or delivery) is left once every connection ended');
});

test('inbound$ has one consumer: a second subscription errors with apiMisuse and the first keeps receiving', (t) => {
  const ts = virtualClock(t);
  let misuse: unknown;
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    startSending(pair, cold('-a--b|', { a: enc('a'), b: enc('b') }));
    const first = '     -a--b|';
    const second = '    --(m|)';
    expectObservable(defer(() => pair.server.inbound$.pipe(map(dec)))).toBe(first, { a: 'a', b: 'b' });
    expectObservable(
      timer(2).pipe(
        switchMap(() => pair.server.inbound$),
        catchError((err: unknown) => ((misuse = err), of('m'))),
      ),
    ).toBe(second);
  });
  t.true(misuse instanceof TlsError);
  t.is((misuse as TlsError).kind, 'apiMisuse');
  t.regex((misuse as TlsError).message, /single consumer/);
});
