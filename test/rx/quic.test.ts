/** QUIC over real UDP sockets on 127.0.0.1: rxtls client ↔ rxtls server through quicConnect / quicListen. */
import test from 'ava';
import { firstValueFrom, lastValueFrom, toArray, timeout } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { quicConnect, quicListen, type QuicConnection } from '../../src/rx/quic.js';
import { fixture } from '../helpers/pair.js';
import { createSocket } from 'node:dgram';
import { createQuicConnection, handleQuicEvents } from '../../src/quic/connection.js';
import { createVerifier } from '../../src/crypto/x509.js';

const server = (maxStreams?: number) =>
  quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['echo'], ...(maxStreams !== undefined ? { maxStreams } : {}) });

/** Answer each of the connection's incoming streams with what it carried, upper-cased, once it ends. */
function echoUpperCase(conn: QuicConnection): void {
  conn.incoming$.subscribe((s) => {
    const chunks: Uint8Array[] = [];
    s.data$.subscribe({
      next: (d) => chunks.push(d),
      complete: () => {
        s.write(Buffer.concat(chunks).toString().toUpperCase());
        s.end();
      },
    });
  });
}

test('QUIC over UDP: a stream echoes upper-cased, then the client closes and the server sees it', async (t) => {
  t.timeout(20_000);
  const srv = await server();
  t.teardown(() => srv.close());
  const serverClosed = new Promise<unknown>((resolve) => {
    srv.connections.subscribe((conn) => {
      echoUpperCase(conn);
      conn.closed$.subscribe({ complete: () => resolve('clean'), error: (e) => resolve(e) });
    });
  });
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }).pipe(timeout(10_000)),
  );
  t.is(conn.info.alpn, 'echo');
  t.is(conn.info.verification, 'ok');
  const s = conn.openStream();
  const reply = lastValueFrom(s.data$.pipe(toArray(), timeout(10_000)));
  s.write('hello over quic');
  s.end();
  t.is(Buffer.concat(await reply).toString(), 'HELLO OVER QUIC');
  conn.close({ errorCode: 0x2an, reason: 'done', rapid: true });
  // Our own close completes closed$, whatever the application code; the peer sees the code as an error.
  await lastValueFrom(conn.closed$, { defaultValue: undefined });
  const seen = await Promise.race([serverClosed, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
  t.true(seen instanceof TlsError && seen.detail.kind === 'quicClose' && seen.detail.code === 0x2an, String(seen));
});

test('QUIC over UDP: a client that does not trust the server fails the handshake with a typed error', async (t) => {
  t.timeout(20_000);
  const srv = await server();
  t.teardown(() => srv.close());
  const err = await t.throwsAsync(
    firstValueFrom(quicConnect({ host: '127.0.0.1', port: srv.port, ca: fixture('other-ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }).pipe(timeout(10_000))),
  );
  t.true(err instanceof TlsError, String(err));
});

/**
 * Send `datagrams` to the listener from one socket, 20 at a time (a burst would overflow the socket buffer),
 * waiting (bounded) after each batch until `handled()` counts them all.
 */
async function sendAll(port: number, datagrams: readonly Uint8Array[], handled: () => number): Promise<void> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  for (let at = 0; at < datagrams.length; at += 20) {
    for (const d of datagrams.slice(at, at + 20)) await new Promise<void>((r) => sock.send(d, port, '127.0.0.1', () => r()));
    const want = Math.min(at + 20, datagrams.length);
    for (let i = 0; i < 500 && handled() < want; i++) await new Promise((r) => setTimeout(r, 5));
  }
  sock.close();
}

/** A junk "Initial": a valid QUIC v1 Initial header with a fresh 8-byte DCID, then 1200 bytes of noise. */
function junkInitial(i: number): Uint8Array {
  const d = new Uint8Array(1200).fill(0x5a);
  d.set([0xc0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0, 0, i >> 8, i & 0xff, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x44, 0x96]); // Length: the 1174 bytes left
  return d;
}

/** A real client's first Initial (a fresh DCID each time): a connection attempt that never continues. */
function realInitial(): Uint8Array {
  const c = createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: createVerifier({ ca: fixture('ca-cert.pem') }), alpnProtocols: ['echo'] } });
  const out = handleQuicEvents(c, { type: 'start', now: Date.now() }).effects.find((e) => e.type === 'transmit');
  if (out?.type !== 'transmit') throw new Error('no Initial');
  return out.data;
}

test('quicListen: 300 junk Initials with new DCIDs create no connection (nothing allocated before decryption); a real client still connects', async (t) => {
  t.timeout(30_000);
  const srv = await server();
  t.teardown(() => srv.close());
  await sendAll(srv.port, Array.from({ length: 300 }, (_, i) => junkInitial(i)), () => srv.stats().dropped.undecryptable);
  t.like(srv.stats(), { created: 0, handshaking: 0, open: 0 });
  t.is(srv.stats().dropped.undecryptable, 300);
  const accepted = firstValueFrom(srv.connections.pipe(timeout(10_000)));
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }).pipe(timeout(10_000)),
  );
  t.is(conn.info.alpn, 'echo');
  await accepted;
  t.like(srv.stats(), { created: 1, handshaking: 0, open: 1 });
  conn.close({ rapid: true });
});

test('quicListen: maxHandshakingConnections bounds the connections in the handshake; Initials beyond it draw a Retry (RFC 9000 §8.1.2), not a connection', async (t) => {
  t.timeout(30_000);
  const srv = await quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['echo'], maxHandshakingConnections: 3 });
  t.teardown(() => srv.close());
  await sendAll(srv.port, Array.from({ length: 8 }, realInitial), () => srv.stats().created + srv.stats().retries);
  t.like(srv.stats(), { created: 3, handshaking: 3, open: 3, retries: 5 });
  t.is(srv.stats().dropped.handshakeLimit, 0);
});

test('QUIC over UDP: shutdown() reports its progress; a code of 2^62 is refused and sends nothing; a rapid close after a 2 MB write reaches the peer', async (t) => {
  t.timeout(30_000);
  const srv = await server();
  t.teardown(() => srv.close());
  const serverSaw = new Promise<unknown>((resolve) => {
    srv.connections.subscribe((conn) => {
      conn.incoming$.subscribe((s) => s.data$.subscribe({ error: () => {} }));
      conn.closed$.subscribe({ complete: () => resolve('clean'), error: (e) => resolve(e) });
    });
  });
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }).pipe(timeout(10_000)),
  );
  const refused = await t.throwsAsync(lastValueFrom(conn.shutdown({ errorCode: 1n << 62n })), { instanceOf: TlsError });
  t.is(refused?.kind, 'apiMisuse');
  t.throws(() => conn.close({ errorCode: -1n }), { instanceOf: TlsError });
  t.is(conn.shutdownState(), 'none', 'nothing was started');
  const s = conn.openStream();
  s.write(new Uint8Array(2 << 20));
  const progress = lastValueFrom(conn.shutdown({ errorCode: 0x100n, reason: 'H3_NO_ERROR', rapid: true }).pipe(toArray(), timeout(10_000)));
  t.deepEqual(await progress, ['complete'], 'rapid: complete at once (SSL_shutdown_ex returns 1)');
  t.is(conn.shutdownState(), 'complete');
  await lastValueFrom(conn.closed$, { defaultValue: undefined }); // completes: our own close
  const seen = await Promise.race([serverSaw, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
  t.true(seen instanceof TlsError && seen.detail.kind === 'quicClose' && seen.detail.code === 0x100n, String(seen));
});

test('QUIC over UDP: a compliant shutdown() is in progress while the stream flushes and the closing period runs, then complete', async (t) => {
  t.timeout(30_000);
  const srv = await server();
  t.teardown(() => srv.close());
  let got = 0;
  srv.connections.subscribe((conn) => conn.incoming$.subscribe((s) => s.data$.subscribe({ next: (d) => (got += d.length), error: () => {} })));
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }).pipe(timeout(10_000)),
  );
  const s = conn.openStream();
  s.write(new Uint8Array(300_000));
  s.end();
  const progress = await lastValueFrom(conn.shutdown({ errorCode: 0x100n }).pipe(toArray(), timeout(20_000)));
  t.deepEqual(progress, ['inProgress', 'complete']);
  t.is(got, 300_000, 'the stream was flushed before the CONNECTION_CLOSE');
  await lastValueFrom(conn.closed$, { defaultValue: undefined });
});

test('QUIC over UDP: stream.reset(code) errors the peer\'s data$ with that code; stopSending(code) stops the peer\'s writes; the connection goes on', async (t) => {
  t.timeout(30_000);
  const srv = await server();
  t.teardown(() => srv.close());
  const serverStreams: import('../../src/rx/quic.js').QuicStream[] = [];
  const resetSeen = new Promise<unknown>((resolve) => {
    srv.connections.subscribe((conn) =>
      conn.incoming$.subscribe((s) => {
        serverStreams.push(s);
        s.data$.subscribe({ error: resolve, complete: () => resolve('complete') });
      }),
    );
  });
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }).pipe(timeout(10_000)),
  );
  const a = conn.openStream();
  a.write('some data');
  a.reset(0x33n);
  t.throws(() => a.write('more'), { instanceOf: TlsError });
  const err = await Promise.race([resetSeen, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
  t.true(err instanceof TlsError && err.detail.kind === 'quicStreamReset' && err.detail.code === 0x33n && !err.detail.local, String(err));
  // The other way: we stop reading a stream the server writes on; its writes stop with our code.
  const b = conn.openStream();
  b.write('open');
  await new Promise((r) => setTimeout(r, 200));
  const sb = serverStreams[1]!;
  const stopped = firstValueFrom(sb.writeStopped$.pipe(timeout(10_000)));
  sb.write(new Uint8Array(100_000));
  b.stopSending(0x44n);
  const why = await stopped;
  t.true(why.detail.kind === 'quicStreamReset' && why.detail.code === 0x44n && why.detail.direction === 'send', why.message);
  t.throws(() => sb.write('after'), { instanceOf: TlsError });
  // The connection still works.
  const c = conn.openStream();
  c.write('still here');
  c.end();
  conn.close({ rapid: true });
  await lastValueFrom(conn.closed$, { defaultValue: undefined });
});

test('QUIC over UDP: 200 echo streams one after another on one connection to a server allowing 8 at once (MAX_STREAMS as they finish)', async (t) => {
  t.timeout(60_000);
  const srv = await server(8);
  t.teardown(() => srv.close());
  srv.connections.subscribe(echoUpperCase);
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] }).pipe(timeout(10_000)),
  );
  t.teardown(() => conn.close({ rapid: true }));
  let echoed = 0;
  for (let i = 0; i < 200; i++) {
    const s = conn.openStream();
    const reply = lastValueFrom(s.data$.pipe(toArray(), timeout(10_000)));
    s.write(`request ${i}`);
    s.end();
    if (Buffer.concat(await reply).toString() === `REQUEST ${i}` && s.id === 4 * i) echoed++;
  }
  t.is(echoed, 200);
});
