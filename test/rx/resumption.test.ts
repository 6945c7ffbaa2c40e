/**
 * Session resumption and 0-RTT over real loopback TCP (`connect` to `listen`).
 */
import test from 'ava';
import { EMPTY, type Observable, catchError, finalize, firstValueFrom, lastValueFrom, map, merge, mergeMap, of, switchMap, take, toArray } from 'rxjs';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import type { ConnectOptions, ListenOptions, TlsConnection } from '../../src/rx/types.js';
import { ca, cert, dec, enc, key } from '../helpers/fixtures.js';

/** Upper-case echo; the client's close_notify ends it and ours follows. A failed connection is just dropped. */
const upperEcho = (conn: TlsConnection) =>
  conn.send(conn.inbound$.pipe(map((b) => enc(dec(b).toUpperCase())))).pipe(catchError(() => EMPTY));

function startServer(extra: Partial<ListenOptions> = {}): Promise<{ port: number; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const sub = listen({ port: 0, cert, key, ...extra, onListening: ({ port }) => resolve({ port, stop: () => sub.unsubscribe() }) })
      .pipe(mergeMap(upperEcho))
      .subscribe({ error: reject });
  });
}

/** One request/response; resolves with `resumed`, the 0-RTT outcome and the response text. */
function exchange(options: ConnectOptions, request: Observable<Uint8Array> = of(enc('ping'))) {
  return lastValueFrom(
    connect(options).pipe(
      switchMap((conn) =>
        merge(
          of({ resumed: conn.info.resumed, earlyData: conn.info.earlyData }),
          conn.send(request),
          conn.inbound$.pipe(map(dec)),
        ),
      ),
      toArray(),
      map((items) => ({
        ...(items[0] as { resumed: boolean; earlyData: string }),
        response: (items.slice(1) as string[]).join(''),
      })),
    ),
  );
}

test('over TCP: the second connect() resumes the session the first one cached after its clean shutdown', async (t) => {
  const server = await startServer();
  try {
    const sessionCache = createSessionCache();
    const options = { host: 'localhost', port: server.port, ca, sessionCache };
    const first = await exchange(options);
    t.deepEqual(first, { resumed: false, earlyData: 'none', response: 'PING' });
    t.truthy(sessionCache.get(`localhost:${server.port}`), 'cached under servername:port');
    const second = await exchange(options);
    t.deepEqual(second, { resumed: true, earlyData: 'none', response: 'PING' });
  } finally {
    server.stop();
  }
});

test('over TCP: a connection aborted without close_notify leaves nothing to resume', async (t) => {
  const server = await startServer();
  try {
    const sessionCache = createSessionCache();
    const options = { host: 'localhost', port: server.port, ca, sessionCache };
    // Wait for the first ticket, then close(): an abortive close.
    const ticket = await firstValueFrom(
      connect(options).pipe(switchMap((conn) => conn.sessions$.pipe(take(1), finalize(() => conn.close())))),
    );
    t.is(ticket.serverName, 'localhost');
    t.is(sessionCache.get(`localhost:${server.port}`), undefined);
    const next = await exchange(options);
    t.false(next.resumed);
  } finally {
    server.stop();
  }
});

test('over TCP: 0-RTT early data is accepted on a resumed connection and answered', async (t) => {
  const server = await startServer({ maxEarlyData: 4096, ticketKey: new Uint8Array(32).fill(1) });
  try {
    const sessionCache = createSessionCache();
    const options = { host: 'localhost', port: server.port, ca, sessionCache };
    await exchange(options);
    const early = await exchange({ ...options, earlyData: enc('early ') }, of(enc('late')));
    t.deepEqual(early, { resumed: true, earlyData: 'accepted', response: 'EARLY LATE' });
  } finally {
    server.stop();
  }
});

test('over TCP, TLS 1.2 (RFC 5077 tickets): cached only after a clean shutdown, then resumed', async (t) => {
  const server = await startServer({ maxVersion: 'TLSv1.2' });
  try {
    const sessionCache = createSessionCache();
    const options = { host: 'localhost', port: server.port, ca, sessionCache };
    // An aborted connection leaves nothing: its session arrived with the handshake, but no close_notify crossed.
    const ticket = await firstValueFrom(
      connect(options).pipe(switchMap((conn) => conn.sessions$.pipe(take(1), finalize(() => conn.close())))),
    );
    t.is(ticket.psk.length, 48, 'a TLS 1.2 session: the master secret');
    t.is(sessionCache.get(`localhost:${server.port}`), undefined);
    const first = await exchange(options);
    t.deepEqual(first, { resumed: false, earlyData: 'none', response: 'PING' });
    t.truthy(sessionCache.get(`localhost:${server.port}`));
    const second = await exchange(options);
    t.deepEqual(second, { resumed: true, earlyData: 'none', response: 'PING' });
  } finally {
    server.stop();
  }
});
