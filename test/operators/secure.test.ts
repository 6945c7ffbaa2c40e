import test from 'ava';
import { catchError, defer, map, merge, of, switchMap, tap, timer } from 'rxjs';
import { secure } from '../../operators/secure.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { TlsError } from '../../src/core/errors.js';
import type { HandshakeInfo } from '../../src/core/types.js';
import type { TlsConnection } from '../../src/rx/types.js';
import { ca, cert, dec, enc, key, otherCa, virtualClock } from './virtual.js';

/** The observable's error as a plain record, so marbles can compare it. */
const failure = (err: unknown) => {
  if (!(err instanceof TlsError)) throw err;
  return of({ kind: err.kind, ...('afterMs' in err.detail ? { afterMs: err.detail.afterMs } : {}) });
};

test('client and server handshake over a memory pair, exchange data both ways and close with close_notify', (t) => {
  const infos: HandshakeInfo[] = [];
  virtualClock(t).run(({ cold, expectObservable }) => {
    const [clientEnd, serverEnd] = memoryDuplexPair();
    const upper = (b: Uint8Array) => enc(dec(b).toUpperCase());
    // server: echo in upper case; the client's close_notify completes inbound$, which ends the echo
    const server$ = of(serverEnd).pipe(
      secure({ role: 'server', cert, key }),
      tap((conn) => infos.push(conn.info)),
      switchMap((conn) => conn.send(conn.inbound$.pipe(map(upper)))),
    );
    const outbound = cold('     --a--b--|', { a: enc('hello'), b: enc('world') });
    const expectedClient = '    --A--B--|';
    const expectedServer = '    --------|';
    const client$ = of(clientEnd).pipe(
      secure({ role: 'client', ca, servername: 'localhost' }),
      tap((conn) => infos.push(conn.info)),
      switchMap((conn) => merge(conn.send(outbound), conn.inbound$.pipe(map(dec)))),
    );
    expectObservable(server$).toBe(expectedServer);
    expectObservable(client$).toBe(expectedClient, { A: 'HELLO', B: 'WORLD' });
  });
  t.is(infos.length, 2);
  const [server, client] = infos;
  t.is(client!.protocol, 'TLSv1.3');
  t.is(client!.verification, 'ok');
  t.is(client!.peerSubject, 'CN=localhost');
  t.is(server!.serverName, 'localhost');
  t.is(server!.cipherSuite, client!.cipherSuite);
});

test("close_notify completes the peer's inbound$; each send() completes once its close_notify is out", (t) => {
  virtualClock(t).run(({ cold, expectObservable }) => {
    const [clientEnd, serverEnd] = memoryDuplexPair();
    let server!: TlsConnection;
    let client!: TlsConnection;
    const clientOut = cold('     -a----|', { a: enc('ping') });
    const serverOut = cold('     ---b---------|', { b: enc('pong') });
    const serverInbound = '      -a----|-------';
    const clientInbound = '      ---b---------|';
    const clientSend = '         ------|-------';
    const serverSend = '         -------------|';
    const connections = '        c------------|'; // both results complete once close_notify went both ways
    const server$ = of(serverEnd).pipe(secure({ role: 'server', cert, key }), tap((c) => (server = c)));
    const client$ = of(clientEnd).pipe(secure({ role: 'client', ca, servername: 'localhost' }), tap((c) => (client = c)));
    expectObservable(server$.pipe(map(() => 'c'))).toBe(connections);
    expectObservable(client$.pipe(map(() => 'c'))).toBe(connections);
    expectObservable(defer(() => server.inbound$.pipe(map(dec)))).toBe(serverInbound, { a: 'ping' });
    expectObservable(defer(() => client.inbound$.pipe(map(dec)))).toBe(clientInbound, { b: 'pong' });
    expectObservable(defer(() => client.send(clientOut))).toBe(clientSend);
    expectObservable(defer(() => server.send(serverOut))).toBe(serverSend);
  });
});

test('a server whose client never answers errors with handshakeTimeout at exactly 30 000 ms virtual', (t) => {
  virtualClock(t).run(({ expectObservable }) => {
    const [silentClient, serverEnd] = memoryDuplexPair();
    const server$ = of(serverEnd).pipe(secure({ role: 'server', cert, key }), catchError(failure));
    const expected = '        30000ms (e|)';
    const transportClosed = ' 30000ms |'; // the server destroyed its transport: EOF at the client end
    expectObservable(server$).toBe(expected, { e: { kind: 'handshakeTimeout', afterMs: 30_000 } });
    expectObservable(silentClient.incoming$).toBe(transportClosed);
  });
});

test('the handshake timeout follows the configured handshakeTimeout', (t) => {
  virtualClock(t).run(({ expectObservable }) => {
    const [, serverEnd] = memoryDuplexPair();
    const server$ = of(serverEnd).pipe(secure({ role: 'server', cert, key, handshakeTimeout: 1500 }), catchError(failure));
    const expected = '1500ms (e|)';
    expectObservable(server$).toBe(expected, { e: { kind: 'handshakeTimeout', afterMs: 1500 } });
  });
});

test('a client whose server never answers times out too; its ClientHello went out at once', (t) => {
  virtualClock(t).run(({ expectObservable }) => {
    const [clientEnd, silentServer] = memoryDuplexPair();
    const client$ = of(clientEnd).pipe(secure({ role: 'client', ca, servername: 'localhost' }), catchError(failure));
    const expected = '   30000ms (e|)';
    const wire = '       h 29999ms |'; // one ClientHello record (content type 22), then EOF at the deadline
    expectObservable(client$).toBe(expected, { e: { kind: 'handshakeTimeout', afterMs: 30_000 } });
    expectObservable(silentServer.incoming$.pipe(map((b) => b[0]))).toBe(wire, { h: 22 });
  });
});

test('with a latency on the pipe, each side completes the handshake after its flights arrive', (t) => {
  const ts = virtualClock(t);
  ts.run(({ expectObservable }) => {
    const [clientEnd, serverEnd] = memoryDuplexPair({ scheduler: ts, latency: 10 });
    const server$ = of(serverEnd).pipe(secure({ role: 'server', cert, key, scheduler: ts }), map((c) => c.info.verification));
    const client$ = of(clientEnd).pipe(secure({ role: 'client', ca, servername: 'localhost', scheduler: ts }), map((c) => c.info.verification));
    // ClientHello 0 → 10, server flight 10 → 20 (client done), client Finished 20 → 30 (server done)
    const expectedClient = '20ms c';
    const expectedServer = '30ms s';
    expectObservable(client$).toBe(expectedClient, { c: 'ok' });
    expectObservable(server$).toBe(expectedServer, { s: 'none' });
  });
});

test('unsubscribing aborts without close_notify: the transport is destroyed and the peer sees a truncation', (t) => {
  virtualClock(t).run(({ cold, expectObservable }) => {
    const [clientEnd, serverEnd] = memoryDuplexPair();
    const server$ = of(serverEnd).pipe(
      secure({ role: 'server', cert, key }),
      switchMap((conn) => conn.inbound$.pipe(map(dec))),
      catchError(failure),
    );
    const client$ = of(clientEnd).pipe(
      secure({ role: 'client', ca, servername: 'localhost' }),
      switchMap((conn) => conn.send(cold('-a------', { a: enc('partial') }))),
    );
    const unsubscribe = '   ^----!';
    const expectedServer = '-a---(e|)';
    expectObservable(client$, unsubscribe).toBe('--------');
    expectObservable(server$).toBe(expectedServer, { a: 'partial', e: { kind: 'unexpectedEof' } });
  });
});

test('close() aborts the connection: the result completes, the peer sees a truncation', (t) => {
  virtualClock(t).run(({ expectObservable, time }) => {
    const [clientEnd, serverEnd] = memoryDuplexPair();
    const closeAt = time('       ---|');
    const expectedClient = '     c--|';
    const expectedServer = '     ---(e|)';
    const server$ = of(serverEnd).pipe(
      secure({ role: 'server', cert, key }),
      switchMap((conn) => conn.inbound$),
      catchError(failure),
    );
    const client$ = of(clientEnd).pipe(
      secure({ role: 'client', ca, servername: 'localhost' }),
      tap((conn) => timer(closeAt).subscribe(() => conn.close())),
      map((conn) => conn.info.verification),
    );
    expectObservable(client$).toBe(expectedClient, { c: 'ok' });
    expectObservable(server$).toBe(expectedServer, { e: { kind: 'unexpectedEof' } });
  });
});

test('a certificate from an untrusted CA fails both sides: certificate error here, alert at the peer', (t) => {
  virtualClock(t).run(({ expectObservable }) => {
    const [clientEnd, serverEnd] = memoryDuplexPair();
    const server$ = of(serverEnd).pipe(secure({ role: 'server', cert, key }), catchError(failure));
    const client$ = of(clientEnd).pipe(secure({ role: 'client', ca: otherCa, servername: 'localhost' }), catchError(failure));
    expectObservable(server$).toBe('(e|)', { e: { kind: 'alertReceived' } });
    expectObservable(client$).toBe('(e|)', { e: { kind: 'certificate' } });
  });
});

test('a wrong server name fails verification', (t) => {
  virtualClock(t).run(({ expectObservable }) => {
    const [clientEnd, serverEnd] = memoryDuplexPair();
    of(serverEnd).pipe(secure({ role: 'server', cert, key })).subscribe({ error: () => undefined });
    const client$ = of(clientEnd).pipe(
      secure({ role: 'client', ca, servername: 'example.org' }),
      catchError((err: TlsError) => of(err.detail.kind === 'certificate' ? err.detail.code : err.kind)),
    );
    expectObservable(client$).toBe('(e|)', { e: 'hostname_mismatch' });
  });
});

test('rejectUnauthorized: false skips verification loudly: one warning per connection', (t) => {
  const warnings: unknown[][] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args);
  try {
    virtualClock(t).run(({ expectObservable }) => {
      const [clientEnd, serverEnd] = memoryDuplexPair();
      of(serverEnd).pipe(secure({ role: 'server', cert, key })).subscribe();
      const client$ = of(clientEnd).pipe(
        secure({ role: 'client', ca: otherCa, servername: 'localhost', rejectUnauthorized: false }),
        map((conn) => conn.info.verification),
      );
      expectObservable(client$).toBe('c', { c: 'insecure' });
    });
  } finally {
    console.warn = original;
  }
  t.is(warnings.length, 1);
  t.regex(String(warnings[0]![0]), /verification is DISABLED/);
});

test('inbound$ buffers until subscribed and can be subscribed only once; send() after close_notify is misuse', (t) => {
  virtualClock(t).run(({ cold, expectObservable }) => {
    const [clientEnd, serverEnd] = memoryDuplexPair();
    let server!: TlsConnection;
    let client!: TlsConnection;
    of(serverEnd).pipe(secure({ role: 'server', cert, key })).subscribe((c) => (server = c));
    of(clientEnd).pipe(secure({ role: 'client', ca, servername: 'localhost' })).subscribe((c) => (client = c));
    const clientOut = cold('  -x|', { x: enc('x') });
    const lateInbound = '     -----(x|)'; // 'x' (frame 1) and close_notify (frame 2) were buffered
    const secondInbound = '   ------(m|)';
    const sendAgain = '       ----(m|)';
    const kind = catchError((e: TlsError) => of(e.kind));
    expectObservable(defer(() => client.send(clientOut))).toBe('--|');
    expectObservable(timer(5).pipe(switchMap(() => server.inbound$.pipe(map(dec))))).toBe(lateInbound, { x: 'x' });
    expectObservable(timer(6).pipe(switchMap(() => server.inbound$), kind)).toBe(secondInbound, { m: 'apiMisuse' });
    expectObservable(timer(4).pipe(switchMap(() => client.send(cold('-y|', { y: enc('y') }))), kind)).toBe(sendAgain, {
      m: 'apiMisuse',
    });
  });
});

test('memoryDuplexPair: writes reach the peer in order after the latency; end is EOF; destroy ends both sides', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const [a, b] = memoryDuplexPair({ scheduler: ts, latency: 3 });
    const writes = cold('   -x-y--e', { x: 'x', y: 'y', e: 'end' });
    const atPeer = '        ----x-y--|';
    writes.subscribe((w) => (w === 'end' ? a.end() : a.write(enc(w))));
    expectObservable(b.incoming$.pipe(map(dec))).toBe(atPeer, { x: 'x', y: 'y' });
    const [c, d] = memoryDuplexPair();
    cold('--k').subscribe(() => c.destroy());
    expectObservable(c.incoming$).toBe('--|');
    expectObservable(d.incoming$).toBe('--|');
  });
});
