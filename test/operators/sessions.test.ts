/**
 * Sessions, 0-RTT, KeyUpdate and the key log through the RxJS API, in virtual time over in-memory pipes.
 */
import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMPTY, type Observable, type OperatorFunction, catchError, concat, defer, map, merge, mergeMap, of, switchMap, tap, timer, toArray } from 'rxjs';
import { secure } from '../../operators/secure.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import type { ByteDuplex, SessionCache, TlsConnection } from '../../src/rx/types.js';
import type { TlsSession } from '../../src/handshake/session.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { suiteParams, trafficKeys } from '../../src/crypto/keySchedule.js';
import { openRecord } from '../../src/tls/record.js';
import { CipherSuite, ContentType } from '../../src/wire/tls/constants.js';
import { ca, cert, dec, enc, failure, key, spy, upperEcho, virtualClock } from './virtual.js';

const ticketKey = new Uint8Array(32).fill(5);
const echo = (conn: TlsConnection) => conn.send(conn.inbound$);

test('a cleanly closed connection is resumable: the second handshake resumes from the cache, the ticket is used once', (t) => {
  const ts = virtualClock(t);
  const sessionCache = createSessionCache({ max: 4 });
  const cachedDuringSecond: (TlsSession | undefined)[] = [];
  ts.run(({ expectObservable }) => {
    const [c1, s1] = memoryDuplexPair();
    const [c2, s2] = memoryDuplexPair();
    merge(of(s1), of(s2)).pipe(secure({ role: 'server', cert, key, ticketKey }), mergeMap(echo)).subscribe();
    const client = secure({ role: 'client', ca, servername: 'localhost', sessionCache });
    // The first client only writes (never reads inbound$): tickets are still read and processed.
    const first$ = of(c1).pipe(
      client,
      mergeMap((conn) => concat(of(conn.info.resumed ? 'r' : 'f'), conn.send(of(enc('one'))))),
    );
    const second$ = of(c2).pipe(
      client,
      tap(() => cachedDuringSecond.push(sessionCache.get('localhost'))),
      mergeMap((conn) => concat(of(conn.info.resumed ? 'r' : 'f'), conn.send(EMPTY))),
    );
    expectObservable(concat(first$, timer(5).pipe(switchMap(() => second$)))).toBe('f----(r|)');
  });
  t.deepEqual(cachedDuringSecond, [undefined], 'the offered ticket was taken out of the cache');
  t.truthy(sessionCache.get('localhost'), 'the resumed connection stored a fresh session');
});

test('a connection torn down without close_notify is not resumable: its tickets are not cached', (t) => {
  const ts = virtualClock(t);
  const sessionCache = createSessionCache();
  const seen: TlsSession[] = [];
  ts.run(({ cold, expectObservable }) => {
    const [c1, s1] = memoryDuplexPair();
    const [c2, s2] = memoryDuplexPair();
    const server = secure({ role: 'server', cert, key, ticketKey });
    of(s1).pipe(server).subscribe({ error: () => undefined }); // the aborted first connection fails here
    of(s2).pipe(server).subscribe();
    const client = secure({ role: 'client', ca, servername: 'localhost', sessionCache });
    // The first connection got its tickets (sessions$) and is then aborted at frame 4 (close(): unsubscribing
    // after the hand-over does not end a connection).
    const first$ = of(c1).pipe(
      client,
      switchMap((conn) => merge(conn.sessions$.pipe(tap((s) => seen.push(s)), map(() => 's')), timer(4).pipe(tap(() => conn.close()), mergeMap(() => EMPTY)))),
    );
    const second$ = of(c2).pipe(client, map((conn) => (conn.info.resumed ? 'r' : 'f')));
    expectObservable(first$).toBe('(ss)|');
    expectObservable(cold('-----x').pipe(switchMap(() => second$))).toBe('-----f');
  });
  t.is(seen.length, 2, 'two NewSessionTickets arrived (OpenSSL default count)');
  t.is(sessionCache.get('localhost'), undefined);
});

test('sessions$ replays the tickets and completes with the connection; an explicit session resumes', (t) => {
  const ts = virtualClock(t);
  const sessions: TlsSession[] = [];
  ts.run(({ expectObservable }) => {
    const [c1, s1] = memoryDuplexPair();
    const [c2, s2] = memoryDuplexPair();
    const server = secure({ role: 'server', cert, key, ticketKey, ticketCount: 1 });
    merge(of(s1), of(s2)).pipe(server, mergeMap(echo)).subscribe();
    const first$ = of(c1).pipe(
      secure({ role: 'client', ca, servername: 'localhost' }),
      mergeMap((conn) => merge(conn.send(of(enc('x'))), conn.sessions$.pipe(tap((s) => sessions.push(s)), map(() => 's')))),
    );
    const second$ = defer(() =>
      of(c2).pipe(
        secure({ role: 'client', ca, servername: 'localhost', session: sessions[0]! }),
        mergeMap((conn) => concat(of(conn.info.resumed ? 'r' : 'f'), conn.send(EMPTY))),
      ),
    );
    expectObservable(concat(first$, timer(3).pipe(switchMap(() => second$)))).toBe('s--(r|)');
  });
  t.is(sessions.length, 1);
  t.is(sessions[0]!.serverName, 'localhost');
});

/**
 * Two client connections in a row over fresh memory pipes, sharing `sessionCache`: the first only takes the
 * server's ticket (it sends nothing); 2 ms later the second offers `get /` as 0-RTT and is run through `second`.
 * `serve` starts the server side on the two server ends. Call inside `ts.run`.
 */
function earlyDataAfterTicket(
  sessionCache: SessionCache,
  serve: (first: ByteDuplex, second: ByteDuplex) => void,
  second: OperatorFunction<TlsConnection, string>,
): Observable<string> {
  const [c1, s1] = memoryDuplexPair();
  const [c2, s2] = memoryDuplexPair();
  serve(s1, s2);
  const first$ = of(c1).pipe(
    secure({ role: 'client', ca, servername: 'localhost', sessionCache }),
    mergeMap((conn) => conn.send(EMPTY)),
  );
  const second$ = of(c2).pipe(secure({ role: 'client', ca, servername: 'localhost', sessionCache, earlyData: enc('get /') }), second);
  return concat(first$, timer(2).pipe(switchMap(() => second$)));
}

test('0-RTT accepted: the early bytes reach the server before its handshake completes and open its inbound$', (t) => {
  const ts = virtualClock(t);
  const sessionCache = createSessionCache();
  const infos: string[] = [];
  ts.run(({ expectObservable }) => {
    const serve = (s1: ByteDuplex, s2: ByteDuplex) =>
      merge(of(s1), of(s2))
        .pipe(
          secure({ role: 'server', cert, key, ticketKey, maxEarlyData: 1024 }),
          tap((conn) => infos.push(`server:${conn.info.earlyData}`)),
          mergeMap(upperEcho),
        )
        .subscribe();
    const result$ = earlyDataAfterTicket(sessionCache, serve, (conn$) =>
      conn$.pipe(
        tap((conn) => infos.push(`client:${conn.info.earlyData}:${conn.rejectedEarlyData === undefined}`)),
        mergeMap((conn) => merge(conn.send(EMPTY), conn.inbound$.pipe(map(dec)))),
      ),
    );
    expectObservable(result$).toBe('--(a|)', { a: 'GET /' });
  });
  t.deepEqual(infos, ['server:none', 'server:accepted', 'client:accepted:true']);
});

test('0-RTT rejected: reported as info.earlyData and rejectedEarlyData, which the application sends again', (t) => {
  const ts = virtualClock(t);
  const sessionCache = createSessionCache();
  const infos: string[] = [];
  ts.run(({ expectObservable }) => {
    // Same ticket key, but the second server refuses early data: it resumes and skips the 0-RTT bytes.
    const serve = (s1: ByteDuplex, s2: ByteDuplex) => {
      of(s1).pipe(secure({ role: 'server', cert, key, ticketKey, maxEarlyData: 1024 }), mergeMap(upperEcho)).subscribe();
      of(s2).pipe(secure({ role: 'server', cert, key, ticketKey }), mergeMap(upperEcho)).subscribe();
    };
    const result$ = earlyDataAfterTicket(sessionCache, serve, (conn$) =>
      conn$.pipe(
        tap((conn) => infos.push(`${conn.info.resumed}:${conn.info.earlyData}:${dec(conn.rejectedEarlyData!)}`)),
        mergeMap((conn) => merge(conn.send(of(conn.rejectedEarlyData!)), conn.inbound$.pipe(map(dec)))),
      ),
    );
    expectObservable(result$).toBe('--(a|)', { a: 'GET /' });
  });
  t.deepEqual(infos, ['true:rejected:get /']);
});

test('without a session the earlyData bytes simply follow the handshake (info.earlyData none)', (t) => {
  const ts = virtualClock(t);
  ts.run(({ expectObservable }) => {
    const [c, s] = memoryDuplexPair();
    of(s).pipe(secure({ role: 'server', cert, key }), mergeMap(echo)).subscribe();
    const client$ = of(c).pipe(
      secure({ role: 'client', ca, servername: 'localhost', earlyData: enc('hi') }),
      mergeMap((conn) => merge(of(conn.info.earlyData), conn.send(EMPTY), conn.inbound$.pipe(map(dec)))),
    );
    expectObservable(client$).toBe('(nh|)', { n: 'none', h: 'hi' });
  });
});

test('keyUpdate(requestPeer): both sides rotate keys (one record each way) and data keeps flowing', (t) => {
  const ts = virtualClock(t);
  ts.run(({ cold, expectObservable }) => {
    const [c, s] = memoryDuplexPair();
    const clientWire = spy(c, ts);
    const serverWire = spy(s, ts);
    let client!: TlsConnection;
    of(serverWire.duplex).pipe(secure({ role: 'server', cert, key }), mergeMap(echo)).subscribe();
    of(clientWire.duplex).pipe(secure({ role: 'client', ca, servername: 'localhost' })).subscribe((x) => (client = x));
    cold('--k').subscribe(() => client.keyUpdate(true));
    const out = cold('   ----a|', { a: enc('after update') });
    expectObservable(defer(() => client.send(out))).toBe('-----|');
    expectObservable(defer(() => client.inbound$.pipe(map(dec)))).toBe('----a|', { a: 'after update' });
    // KeyUpdate at 2 (and the server's answer to update_requested); data at 4 and close_notify at 5 under
    // the new keys, then the transport is ended.
    expectObservable(clientWire.events).toBe('--w-w(we)');
    expectObservable(serverWire.events).toBe('--w-w(we)');
    expectObservable(
      timer(6).pipe(
        map(() => client.keyUpdate()),
        catchError(failure),
      ),
    ).toBe('------(m|)', { m: { kind: 'apiMisuse' } });
  });
});

test('keyLog: SSLKEYLOGFILE lines to a function and a file; CLIENT_TRAFFIC_SECRET_0 decrypts the captured record', (t) => {
  const ts = virtualClock(t);
  const dir = mkdtempSync(join(tmpdir(), 'rxtls-keylog-'));
  const file = join(dir, 'keys.log');
  const lines: string[] = [];
  const captured: Uint8Array[] = [];
  let suite = '';
  let replayed: string[] = [];
  ts.run(({ cold, expectObservable }) => {
    const [c, s] = memoryDuplexPair();
    const wire = { ...c, incoming$: c.incoming$, write: (b: Uint8Array) => (captured.push(b.slice()), c.write(b)) };
    of(s).pipe(secure({ role: 'server', cert, key, keyLog: file }), mergeMap(echo)).subscribe();
    const client$ = of(wire).pipe(
      secure({ role: 'client', ca, servername: 'localhost', keyLog: (line) => lines.push(line) }),
      tap((conn) => {
        suite = conn.info.cipherSuite;
        captured.length = 0; // keep what is written after the handshake
      }),
      mergeMap((conn) =>
        merge(conn.send(cold('-a|', { a: enc('secret message') })), conn.keyLog$.pipe(toArray(), tap((l) => (replayed = l)), mergeMap(() => EMPTY))),
      ),
    );
    expectObservable(client$).toBe('--|');
  });
  const labels = lines.map((l) => l.split(' ')[0]);
  t.deepEqual(labels, [
    'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
    'SERVER_HANDSHAKE_TRAFFIC_SECRET',
    'CLIENT_TRAFFIC_SECRET_0',
    'SERVER_TRAFFIC_SECRET_0',
    'EXPORTER_SECRET',
  ]);
  for (const l of lines) t.regex(l, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,96}$/);
  t.deepEqual(replayed, lines, 'conn.keyLog$ replays the same lines');
  const fileLines = readFileSync(file, 'utf8').trimEnd().split('\n');
  t.deepEqual(fileLines, lines, 'the server logged the same secrets to the file (one line each, newline-terminated)');

  // Decrypt the first application record the client wrote, with the logged secret.
  const secret = Buffer.from(lines.find((l) => l.startsWith('CLIENT_TRAFFIC_SECRET_0 '))!.split(' ')[2]!, 'hex');
  const params = suiteParams(CipherSuite[suite as keyof typeof CipherSuite])!;
  const { key: k, iv } = trafficKeys(nobleProvider, params, secret);
  const rk = { aead: nobleProvider.aead(params.aead, k), key: k, iv, seq: 0, secret, used: 0 };
  const record = captured[0]!;
  const opened = openRecord(rk, record.subarray(0, 5), record.subarray(5, 5 + ((record[3]! << 8) | record[4]!)));
  t.is(opened.kind, 'ok');
  if (opened.kind === 'ok') {
    t.is(opened.type, ContentType.application_data);
    t.is(dec(opened.content), 'secret message');
  }
});
