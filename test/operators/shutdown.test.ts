/**
 * Closing as a completion protocol (OpenSSL SSL_shutdown semantics), every sequence in virtual time over an
 * in-memory pipe. Wire marbles: `w` a write, `e` the transport ended, `d` destroyed (from frame 1 on, after the
 * handshake).
 */
import test from 'ava';
import { catchError, defer, map, of, switchMap, timer } from 'rxjs';
import { secure } from '../../operators/secure.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import { ca, cert, dec, enc, failure, flags, key, securePair, spy, virtualClock } from './virtual.js';

const text = { a: 'a', b: 'b', x: 'x', y: 'y' };
const bytes = { a: enc('a'), b: enc('b'), x: enc('x'), y: enc('y') };

test('we close first: our close_notify half-closes, the peer keeps sending, both done = complete, transport ended', (t) => {
  const ts = virtualClock(t);
  const sessionCache = createSessionCache();
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts, { client: { sessionCache } });
    const { server$, client$ } = pair;
    const clientOut = cold('   -a-|', bytes);
    const serverOut = cold('   --x---y---|', bytes);
    const clientSend = '       ---|';                // SSL_shutdown → 0: only our direction is closed
    const serverInbound = '    -a-|';
    const clientInbound = '    --x---y---|';         // data after our close_notify still arrives
    const shutdown = '         ----s-----(c|)';      // subscribed at 4: 'sent' at once, 'complete' at the peer's
    const samples = cold('     -x---x-----x|');
    const state = '            -a---b-----c|';
    const connections = '      c---------|';         // SSL_shutdown → 1
    const clientWire = '       -w-w------e';         // a, close_notify, then the transport is ended
    expectObservable(server$.pipe(map(() => 'c'))).toBe(connections);
    expectObservable(client$.pipe(map(() => 'c'))).toBe(connections);
    expectObservable(defer(() => pair.client.send(clientOut))).toBe(clientSend);
    expectObservable(defer(() => pair.server.send(serverOut))).toBe('----------|');
    expectObservable(defer(() => pair.server.inbound$.pipe(map(dec)))).toBe(serverInbound, text);
    expectObservable(defer(() => pair.client.inbound$.pipe(map(dec)))).toBe(clientInbound, text);
    expectObservable(timer(4).pipe(switchMap(() => pair.client.shutdown()))).toBe(shutdown, { s: 'sent', c: 'complete' });
    expectObservable(samples.pipe(map(() => flags(pair.client.shutdownState())))).toBe(state, { a: '--', b: 'S-', c: 'SR' });
    expectObservable(pair.clientWire.events).toBe(clientWire);
  });
  // A clean shutdown makes the connection's newest session resumable.
  t.truthy(sessionCache.get('localhost'));
});

test('the peer closes first: inbound$ completes (ZERO_RETURN), our output stays open until we complete it', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    const { server$, client$ } = pair;
    const serverOut = cold('   --x|', bytes);
    const clientOut = cold('   -a---b--|', bytes);
    const clientInbound = '    --x|';
    const serverInbound = '    -a---b--|';           // b written after the peer's close_notify
    const clientSend = '       --------|';
    const samples = cold('     ----x----x|');
    const state = '            ----a----b|';
    const connections = '      c-------|';
    expectObservable(server$.pipe(map(() => 'c'))).toBe(connections);
    expectObservable(client$.pipe(map(() => 'c'))).toBe(connections);
    expectObservable(defer(() => pair.server.send(serverOut))).toBe('   ---|');
    expectObservable(defer(() => pair.client.send(clientOut))).toBe(clientSend);
    expectObservable(defer(() => pair.client.inbound$.pipe(map(dec)))).toBe(clientInbound, text);
    expectObservable(defer(() => pair.server.inbound$.pipe(map(dec)))).toBe(serverInbound, text);
    expectObservable(samples.pipe(map(() => flags(pair.client.shutdownState())))).toBe(state, { a: '-R', b: 'SR' });
  });
});

test('closeOnPeerClose: the peer closes first and our close_notify answers at once; the send() stops taking chunks', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts, { client: { closeOnPeerClose: true } });
    const { server$, client$ } = pair;
    const serverOut = cold('   --x|', bytes);
    const clientOut = cold('   -a---b--|', bytes);
    const clientInbound = '    --x|';
    const serverInbound = '    -a-|';                // b is never written
    const clientSend = '       ---|';
    const connections = '      c--|';
    expectObservable(server$.pipe(map(() => 'c'))).toBe(connections);
    expectObservable(client$.pipe(map(() => 'c'))).toBe(connections);
    expectObservable(defer(() => pair.server.send(serverOut))).toBe(clientSend);
    expectObservable(defer(() => pair.client.send(clientOut))).toBe(clientSend);
    expectObservable(defer(() => pair.client.inbound$.pipe(map(dec)))).toBe(clientInbound, text);
    expectObservable(defer(() => pair.server.inbound$.pipe(map(dec)))).toBe(serverInbound, text);
  });
});

test('both close at once: the close_notify alerts cross in flight and both shutdowns complete on arrival', (t) => {
  const ts = virtualClock(t);
  ts.run(({ hot, expectObservable }) => {
    const pair = securePair(ts, { latency: 5, client: { scheduler: ts }, server: { scheduler: ts } });
    const { server$, client$ } = pair;
    const bothOut = hot<Uint8Array>('50ms |');
    const sendDone = '         50ms |';
    const inboundDone = '      55ms |';              // the peer's close_notify arrives after the latency
    const clientConnection = ' 10ms c 44ms |';       // handshake done at 10, shutdown complete at 55
    const serverConnection = ' 15ms c 39ms |';
    expectObservable(client$.pipe(map(() => 'c'))).toBe(clientConnection);
    expectObservable(server$.pipe(map(() => 'c'))).toBe(serverConnection);
    expectObservable(timer(40).pipe(switchMap(() => pair.client.send(bothOut)))).toBe(sendDone);
    expectObservable(timer(40).pipe(switchMap(() => pair.server.send(bothOut)))).toBe(sendDone);
    expectObservable(timer(40).pipe(switchMap(() => pair.client.inbound$))).toBe(inboundDone);
    expectObservable(timer(40).pipe(switchMap(() => pair.server.inbound$))).toBe(inboundDone);
    expectObservable(timer(52).pipe(map(() => flags(pair.client.shutdownState())))).toBe('52ms (a|)', { a: 'S-' });
    expectObservable(timer(56).pipe(map(() => flags(pair.server.shutdownState())))).toBe('56ms (a|)', { a: 'SR' });
  });
});

test('transport EOF without close_notify errors inbound$ with unexpectedEof (truncation); the transport is destroyed', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    // The server sees the client's transport destroyed at 3 without close_notify: a truncation too.
    pair.server$.subscribe({ error: () => undefined });
    const client$ = pair.client$.pipe(map(() => 'c'), catchError(failure));
    cold('---k').subscribe(() => pair.serverEnd.end()); // the server's transport half-closes, no close_notify
    const serverOut = cold('   -x', bytes);
    const clientInbound = '    -x-(e|)';
    const clientConnection = ' c--(e|)';
    expectObservable(client$).toBe(clientConnection, { c: 'c', e: { kind: 'unexpectedEof' } });
    expectObservable(defer(() => pair.server.send(serverOut).pipe(catchError(failure)))).toBe('---(e|)', {
      e: { kind: 'unexpectedEof' },
    });
    expectObservable(defer(() => pair.client.inbound$.pipe(map(dec), catchError(failure)))).toBe(clientInbound, {
      x: 'x',
      e: { kind: 'unexpectedEof' },
    });
    expectObservable(timer(5).pipe(switchMap(() => pair.client.shutdown()), catchError(failure))).toBe('-----(m|)', {
      m: { kind: 'apiMisuse' },
    });
    expectObservable(pair.clientWire.events).toBe('---d');
  });
});

test('ignoreUnexpectedEof: EOF without close_notify completes inbound$; not resumable afterwards', (t) => {
  const ts = virtualClock(t);
  const sessionCache = createSessionCache();
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts, { client: { ignoreUnexpectedEof: true, sessionCache } });
    pair.server$.subscribe();
    const client$ = pair.client$.pipe(map(() => 'c'));
    cold('---k').subscribe(() => pair.serverEnd.end());
    const serverOut = cold('   -x', bytes);
    const clientOut = cold<Uint8Array>('   -----|');
    const clientInbound = '    -x-|';                // SSL_OP_IGNORE_UNEXPECTED_EOF: a clean end of input
    const clientConnection = ' c----|';              // our close_notify at 5 finishes the connection
    const clientWire = '       -----(we)';
    expectObservable(client$).toBe(clientConnection);
    expectObservable(defer(() => pair.server.send(serverOut))).toBe('------');
    expectObservable(defer(() => pair.client.send(clientOut))).toBe('-----|');
    expectObservable(defer(() => pair.client.inbound$.pipe(map(dec)))).toBe(clientInbound, text);
    expectObservable(timer(4).pipe(map(() => flags(pair.client.shutdownState())))).toBe('----(a|)', { a: '-R' });
    expectObservable(pair.clientWire.events).toBe(clientWire);
  });
  // The server's tickets arrived, but no close_notify did: nothing was cached (OpenSSL behaviour).
  t.is(sessionCache.get('localhost'), undefined);
});

test('quietShutdown: nothing is sent, shutdown() reports complete at once, the peer sees a truncation', (t) => {
  const ts = virtualClock(t);
  ts.run(({ expectObservable }) => {
    const pair = securePair(ts, { client: { quietShutdown: true } });
    const server$ = pair.server$.pipe(
      switchMap((conn) => conn.inbound$),
      catchError(failure),
    );
    const client$ = pair.client$.pipe(map(() => 'c'));
    const shutdown = '         ---(c|)';
    const clientConnection = ' c--|';
    const clientWire = '       ---e';               // no close_notify: the transport is just ended
    const serverInbound = '    ---(e|)';
    expectObservable(client$).toBe(clientConnection);
    expectObservable(server$).toBe(serverInbound, { e: { kind: 'unexpectedEof' } });
    expectObservable(timer(3).pipe(switchMap(() => pair.client.shutdown()))).toBe(shutdown, { c: 'complete' });
    expectObservable(timer(4).pipe(map(() => flags(pair.client.shutdownState())))).toBe('----(a|)', { a: 'SR' });
    expectObservable(pair.clientWire.events).toBe(clientWire);
  });
});

test('after a fatal alert shutdown() errors with apiMisuse at once and nothing more goes on the wire', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    const server$ = pair.server$.pipe(map(() => 'c'), catchError(failure));
    const client$ = pair.client$.pipe(map(() => 'c'), catchError(failure));
    // A forged application-data record: the server fails to authenticate it and sends bad_record_mac.
    const forged = Uint8Array.of(23, 3, 3, 0, 20, ...new Uint8Array(20));
    cold('--k').subscribe(() => pair.clientWire.inject(forged));
    const misuse = { m: { kind: 'apiMisuse' } };
    expectObservable(server$).toBe('c-(e|)', { c: 'c', e: { kind: 'peerMisbehaved' } });
    expectObservable(client$).toBe('c-(e|)', { c: 'c', e: { kind: 'alertReceived' } });
    expectObservable(timer(4).pipe(switchMap(() => pair.server.shutdown()), catchError(failure))).toBe('----(m|)', misuse);
    expectObservable(timer(4).pipe(switchMap(() => pair.client.shutdown()), catchError(failure))).toBe('----(m|)', misuse);
    expectObservable(pair.serverWire.events).toBe('--(wd)'); // the alert, then destroyed; nothing at 4
    expectObservable(pair.clientWire.events).toBe('--d');
  });
});

test('unsubscribing mid-transfer is an abortive close: no close_notify, transport destroyed, peer sees truncation', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const [c, s] = memoryDuplexPair();
    const wire = spy(c, ts);
    const server$ = of(s).pipe(
      secure({ role: 'server', cert, key }),
      switchMap((conn) => conn.inbound$.pipe(map(dec))),
      catchError(failure),
    );
    const client$ = of(wire.duplex).pipe(
      secure({ role: 'client', ca, servername: 'localhost' }),
      switchMap((conn) => conn.send(cold('-a--b---c--|', bytes))),
    );
    const unsubscribe = '      ^----!';
    const clientWire = '       -w--wd';
    const serverInbound = '    -a--b(e|)';
    expectObservable(client$, unsubscribe).toBe('------');
    expectObservable(server$).toBe(serverInbound, { ...text, e: { kind: 'unexpectedEof' } });
    expectObservable(wire.events).toBe(clientWire);
  });
});

test("shutdown() reports progress: 'sent' when our close_notify is out, 'complete' when the peer's arrives", (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    pair.server$.subscribe();
    pair.client$.subscribe();
    const clientOut = cold('   -a--b--|', bytes);
    const serverOut = cold('   ---x--|', bytes);
    const shutdown = '         --s---(c|)';
    const clientSend = '       --|';                // the active send() stops taking chunks and completes
    const serverInbound = '    -a|';
    const clientInbound = '    ---x--|';
    expectObservable(defer(() => pair.client.send(clientOut))).toBe(clientSend);
    expectObservable(defer(() => pair.server.send(serverOut))).toBe('      ------|');
    expectObservable(timer(2).pipe(switchMap(() => pair.client.shutdown()))).toBe(shutdown, { s: 'sent', c: 'complete' });
    expectObservable(defer(() => pair.server.inbound$.pipe(map(dec)))).toBe(serverInbound, text);
    expectObservable(defer(() => pair.client.inbound$.pipe(map(dec)))).toBe(clientInbound, text);
  });
});

test('unidirectional shutdown: close_notify sent and the transport ended at once, without waiting for the peer', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const pair = securePair(ts);
    const server$ = pair.server$.pipe(map(() => 'c'));
    const client$ = pair.client$.pipe(map(() => 'c'));
    const clientOut = cold('   -a------', bytes);
    const serverOut = cold<Uint8Array>('   ----|');
    const shutdown = '         --(s|)';
    const clientConnection = ' c-|';
    const clientWire = '       -w(we)';
    const serverInbound = '    -a|';
    const serverConnection = ' c---|';              // the server finishes its own output later
    expectObservable(client$).toBe(clientConnection);
    expectObservable(server$).toBe(serverConnection);
    expectObservable(defer(() => pair.client.send(clientOut))).toBe('--|');
    expectObservable(defer(() => pair.server.send(serverOut))).toBe('----|');
    expectObservable(timer(2).pipe(switchMap(() => pair.client.shutdown({ unidirectional: true })))).toBe(shutdown, { s: 'sent' });
    expectObservable(defer(() => pair.server.inbound$.pipe(map(dec)))).toBe(serverInbound, text);
    expectObservable(pair.clientWire.events).toBe(clientWire);
  });
});
