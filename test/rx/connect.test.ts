import test from 'ava';
import { createServer } from 'node:net';
import { EMPTY, Observable, Subject, catchError, firstValueFrom, lastValueFrom, map, merge, mergeMap, of, switchMap, toArray } from 'rxjs';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import { TlsError } from '../../src/core/errors.js';
import type { ListenOptions, TlsConnection } from '../../src/rx/types.js';
import { ca, cert, dec, enc, key, otherCa } from '../helpers/fixtures.js';

interface Running {
  readonly port: number;
  readonly connections: Subject<TlsConnection>;
  readonly errors: TlsError[];
  readonly nextError: () => Promise<TlsError>;
  stop(): void;
}

/** Subscribe `listen` on a free loopback port; resolves once it is bound. */
function startServer(extra: Partial<ListenOptions> = {}, serve?: (conn: TlsConnection) => Observable<unknown>): Promise<Running> {
  return new Promise((resolve, reject) => {
    const connections = new Subject<TlsConnection>();
    const errors: TlsError[] = [];
    const waiting: ((e: TlsError) => void)[] = [];
    const sub = listen({
      port: 0,
      cert,
      key,
      ...extra,
      onError: (err) => {
        errors.push(err);
        waiting.shift()?.(err);
      },
      onListening: ({ port }) =>
        resolve({
          port,
          connections,
          errors,
          nextError: () => new Promise((r) => waiting.push(r)),
          stop: () => sub.unsubscribe(),
        }),
    })
      .pipe(mergeMap((conn) => (connections.next(conn), serve ? serve(conn) : of())))
      .subscribe({ error: reject });
  });
}

/** Echo in upper case; the client's close_notify ends the echo and our close_notify follows. */
const upperEcho = (conn: TlsConnection) => conn.send(conn.inbound$.pipe(map((b) => enc(dec(b).toUpperCase()))));

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

test('connect() to listen() over loopback TCP: handshake, data both ways, clean close', async (t) => {
  const server = await startServer({}, upperEcho);
  try {
    const received = await lastValueFrom(
      connect({ host: 'localhost', port: server.port, ca }).pipe(
        switchMap((conn) => {
          t.is(conn.info.protocol, 'TLSv1.3');
          t.is(conn.info.verification, 'ok');
          t.is(conn.info.peerSubject, 'CN=localhost');
          return merge(conn.send(of(enc('hello '), enc('world'))), conn.inbound$.pipe(map(dec)));
        }),
        toArray(),
      ),
    );
    t.is(received.join(''), 'HELLO WORLD');
    t.deepEqual(server.errors, []);
  } finally {
    server.stop();
  }
});

test('an IP literal host is verified against the IP SAN and not sent as SNI', async (t) => {
  const server = await startServer();
  try {
    const serverConn = firstValueFrom(server.connections);
    const client = await firstValueFrom(
      connect({ host: '127.0.0.1', port: server.port, ca, ciphers: 'TLS_CHACHA20_POLY1305_SHA256', groups: 'P-256' }).pipe(
        map((conn) => conn.info),
      ),
    );
    const info = (await serverConn).info;
    t.is(client.verification, 'ok');
    t.is(client.cipherSuite, 'TLS_CHACHA20_POLY1305_SHA256');
    t.is(client.group, 'P-256');
    t.is(info.serverName, undefined);
  } finally {
    server.stop();
  }
});

test('unsubscribing from connect() during the handshake tears the socket down', async (t) => {
  // A TCP server that never answers: the client is still in its handshake when it unsubscribes.
  const server = createServer();
  const closed = new Promise<void>((resolve) =>
    server.on('connection', (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => sub.unsubscribe()); // the ClientHello arrived: give up mid-handshake
      socket.on('close', () => resolve());
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => void server.close());
  const { port } = server.address() as { port: number };
  const handedOver: TlsConnection[] = [];
  const sub = connect({ host: '127.0.0.1', port, ca }).subscribe({ next: (c) => handedOver.push(c), error: () => undefined });
  await closed; // our socket was destroyed: the server's side closes
  t.deepEqual(handedOver, []);
});

test('conn.close() after the hand-over tears the socket down: no close_notify, the server sees a truncation', async (t) => {
  const server = await startServer({}, (conn) => conn.inbound$.pipe(catchError(() => EMPTY)));
  try {
    const failed = server.nextError();
    connect({ host: 'localhost', port: server.port, ca }).subscribe((conn) => {
      conn.send(of(enc('partial'))).subscribe(); // queued behind the handshake step…
      conn.close(); // …and dropped: we abort first, synchronously, so no close_notify
    });
    const err = await failed;
    t.true(err instanceof TlsError);
    t.is(err.kind, 'unexpectedEof');
  } finally {
    server.stop();
  }
});

test('connect() to a closed port errors with a TlsError of kind transport', async (t) => {
  const port = await closedPort();
  const err = await t.throwsAsync(firstValueFrom(connect({ host: '127.0.0.1', port, ca })));
  t.true(err instanceof TlsError);
  t.is((err as TlsError).kind, 'transport');
  t.regex(err!.message, /ECONNREFUSED/);
});

test('a failed handshake is reported to onError and the server keeps serving', async (t) => {
  const server = await startServer({}, upperEcho);
  try {
    const failed = server.nextError();
    const err = await t.throwsAsync(firstValueFrom(connect({ host: 'localhost', port: server.port, ca: otherCa })));
    t.is((err as TlsError).kind, 'certificate');
    t.is((await failed).kind, 'alertReceived');
    const echoed = await lastValueFrom(
      connect({ host: 'localhost', port: server.port, ca }).pipe(
        switchMap((conn) => merge(conn.send(of(enc('still here'))), conn.inbound$.pipe(map(dec)))),
        toArray(),
      ),
    );
    t.is(echoed.join(''), 'STILL HERE');
  } finally {
    server.stop();
  }
});

test('a client that never speaks is timed out by the server (handshakeTimeout option)', async (t) => {
  const server = await startServer({ handshakeTimeout: 200 });
  try {
    const failed = server.nextError();
    const { connect: tcp } = await import('node:net');
    const socket = tcp(server.port, '127.0.0.1');
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => undefined);
    const err = await failed;
    t.is(err.kind, 'handshakeTimeout');
    await closed; // the server destroyed the socket

  } finally {
    server.stop();
  }
});

test('unsubscribing from listen() closes the server: new connections are refused', async (t) => {
  const server = await startServer();
  server.stop();
  const err = await t.throwsAsync(firstValueFrom(connect({ host: '127.0.0.1', port: server.port, ca })));
  t.is((err as TlsError).kind, 'transport');
});

test('listen() errors with kind transport when the port is taken', async (t) => {
  const server = await startServer();
  try {
    const err = await t.throwsAsync(
      new Promise((_, reject) => listen({ port: server.port, cert, key }).subscribe({ error: reject })),
    );
    t.is((err as TlsError).kind, 'transport');
    t.regex(err!.message, /EADDRINUSE/);
  } finally {
    server.stop();
  }
});

test('bad options throw at once (API misuse)', (t) => {
  const err = t.throws(() => connect({ host: 'localhost', port: 1, ca, ciphers: 'TLS_RSA_WITH_RC4' }));
  t.is((err as TlsError).kind, 'apiMisuse');
  const err2 = t.throws(() => listen({ port: 0, cert }));
  t.is((err2 as TlsError).kind, 'apiMisuse');
});
