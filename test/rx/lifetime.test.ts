/**
 * Connection lifetime over real sockets: a connection taken with `firstValueFrom` or `take(1)` stays usable
 * (TLS against rxtls and node:tls servers, QUIC), and teardown leaves no socket behind (close, a complete
 * shutdown, a failure).
 */
import test from 'ava';
import { type AddressInfo, type Server, type Socket, connect as tcpConnect, createServer } from 'node:net';
import tls from 'node:tls';
import { type Observable, EMPTY, catchError, firstValueFrom, lastValueFrom, map, mergeMap, of, take, timeout, toArray } from 'rxjs';
import { secure } from '../../operators/secure.js';
import { TlsError } from '../../src/core/errors.js';
import { connect } from '../../src/rx/connect.js';
import { fromSocket } from '../../src/rx/duplex.js';
import { listen } from '../../src/rx/listen.js';
import { quicConnect, quicListen } from '../../src/rx/quic.js';
import type { TlsConnection } from '../../src/rx/types.js';
import { ca, cert, enc, key, otherCa } from '../helpers/fixtures.js';

const text = (chunks: readonly Uint8Array[]) => Buffer.concat(chunks).toString();

/** Waits (at most `ms`) until `condition` holds; rejects with `what` otherwise. */
async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`still waiting for ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const connections = (server: Server) => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** An rxtls server echoing in upper case (`listen`); resolves with its port and a stop function. */
function rxtlsEchoServer(): Promise<{ port: number; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const sub = listen({ port: 0, cert, key, onListening: ({ port }) => resolve({ port, stop: () => sub.unsubscribe() }) })
      .pipe(mergeMap((conn) => conn.send(conn.inbound$.pipe(map((b) => enc(Buffer.from(b).toString().toUpperCase()))))))
      .subscribe({ error: reject });
  });
}

/** A node:tls server echoing in upper case; our close_notify ends its echo and its own close_notify follows. */
async function nodeEchoServer(): Promise<{ port: number; stop: () => void }> {
  const server = tls.createServer({ cert, key, minVersion: 'TLSv1.3', allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, stop: () => void server.close() };
}

/** Echo round trip on a connection taken out of its Observable: send, read to the end (close_notify both ways). */
async function roundTrip(conn: TlsConnection): Promise<string> {
  const reply = lastValueFrom(conn.inbound$.pipe(toArray(), timeout(10_000)));
  await lastValueFrom(conn.send(of(enc('hello '), enc('after take'))), { defaultValue: undefined });
  return text(await reply);
}

const servers = { 'an rxtls listen() server': rxtlsEchoServer, 'a node:tls server': nodeEchoServer };
const takers: Record<string, (conn$: Observable<TlsConnection>) => Promise<TlsConnection>> = {
  firstValueFrom: (conn$) => firstValueFrom(conn$),
  'take(1)': (conn$) => new Promise((resolve, reject) => conn$.pipe(take(1)).subscribe({ next: resolve, error: reject })),
};

for (const [serverName, start] of Object.entries(servers)) {
  for (const [takerName, takeOne] of Object.entries(takers)) {
    test(`${takerName}(connect()) against ${serverName}: the connection is usable after its subscriber left`, async (t) => {
      const server = await start();
      t.teardown(server.stop);
      const conn = await takeOne(connect({ host: 'localhost', port: server.port, ca }));
      t.is(await roundTrip(conn), 'HELLO AFTER TAKE');
      t.deepEqual(conn.shutdownState(), { sent: true, received: true });
    });
  }
}

test('take(1)(quicConnect()): the QUIC connection is usable after its subscriber left, as before', async (t) => {
  t.timeout(30_000);
  const srv = await quicListen({ cert, key, alpn: ['echo'] });
  t.teardown(() => srv.close());
  srv.connections.subscribe((conn) =>
    conn.incoming$.subscribe((s) => {
      const chunks: Uint8Array[] = [];
      s.data$.subscribe({ next: (d) => chunks.push(d), complete: () => (s.write(text(chunks).toUpperCase()), s.end()) });
    }),
  );
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca, servername: 'localhost', alpn: ['echo'] }).pipe(take(1), timeout(10_000)),
  );
  const s = conn.openStream();
  const reply = lastValueFrom(s.data$.pipe(toArray(), timeout(10_000)));
  s.write('quic after take');
  s.end();
  t.is(text(await reply), 'QUIC AFTER TAKE');
  conn.close({ rapid: true });
  await lastValueFrom(conn.closed$, { defaultValue: undefined }).catch(() => undefined);
});

/**
 * A TCP server whose accepted sockets are secured with `secure()` (so the test sees both sockets), and a
 * client socket to it, also secured: `serve` decides what the server does with each connection.
 */
async function socketPair(t: { teardown(f: () => void): void }, serve: (conn: TlsConnection) => Observable<unknown>, clientCa = ca) {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    of(fromSocket(socket))
      .pipe(secure({ role: 'server', cert, key }), mergeMap(serve), catchError(() => EMPTY))
      .subscribe();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => void server.close());
  const socket: Socket = tcpConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, allowHalfOpen: true });
  const conn$ = of(fromSocket(socket)).pipe(secure({ role: 'client', ca: clientCa, servername: 'localhost' }));
  return { server, socket, conn$ };
}

const echo = (conn: TlsConnection) => conn.send(conn.inbound$);

test('TCP teardown after close(): both sockets are gone', async (t) => {
  const { server, socket, conn$ } = await socketPair(t, (conn) => conn.inbound$);
  const conn = await firstValueFrom(conn$);
  await until(async () => (await connections(server)) === 1, 'the server connection');
  conn.close();
  await until(() => socket.destroyed, 'the client socket destroyed');
  await until(async () => (await connections(server)) === 0, 'no server connection left');
  t.true(socket.destroyed);
  t.is(await connections(server), 0);
});

test('TCP teardown after a complete shutdown (close_notify both ways): both sockets are gone', async (t) => {
  const { server, socket, conn$ } = await socketPair(t, echo);
  const conn = await firstValueFrom(conn$);
  const reply = lastValueFrom(conn.inbound$.pipe(toArray()));
  await lastValueFrom(conn.send(of(enc('bye'))), { defaultValue: undefined });
  t.is(text(await reply), 'bye');
  t.deepEqual(conn.shutdownState(), { sent: true, received: true });
  await until(() => socket.destroyed, 'the client socket destroyed');
  await until(async () => (await connections(server)) === 0, 'no server connection left');
});

test('TCP teardown after a failure (untrusted certificate): both sockets are gone', async (t) => {
  const { server, socket, conn$ } = await socketPair(t, echo, otherCa);
  const err = await t.throwsAsync(firstValueFrom(conn$));
  t.true(err instanceof TlsError);
  t.is((err as TlsError).kind, 'certificate');
  await until(() => socket.destroyed, 'the client socket destroyed');
  await until(async () => (await connections(server)) === 0, 'no server connection left');
});
