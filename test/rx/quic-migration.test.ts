/**
 * Connection migration and stateless reset over real UDP sockets on 127.0.0.1 (RFC 9000 §9, §10.3): rxtls
 * client ↔ rxtls server. The same logic in virtual time is in test/quic/migration.test.ts and statelessReset.test.ts.
 */
import { createSocket, type Socket } from 'node:dgram';
import test from 'ava';
import { firstValueFrom, lastValueFrom, tap, timeout, toArray } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { quicConnect, quicListen, type QuicConnection, type QuicListenOptions } from '../../src/rx/quic.js';
import { fixture } from '../helpers/pair.js';

const SIZE = 2 * 1024 * 1024;
const body = Uint8Array.from({ length: SIZE }, (_, i) => (i * 13 + (i >> 10)) & 0xff);

/** A server that answers any stream with `body` once the request's FIN arrives. */
async function server(t: import('ava').ExecutionContext, extra: Partial<QuicListenOptions> = {}) {
  const srv = await quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['mig'], ...extra });
  t.teardown(() => srv.close());
  const conns: QuicConnection[] = [];
  srv.connections.subscribe((conn) => {
    conns.push(conn);
    conn.closed$.subscribe({ error: () => {} });
    conn.incoming$.subscribe((s) => s.data$.subscribe({ complete: () => (s.write(body), s.end()) }));
  });
  return { srv, conns };
}

const connect = (port: number) => firstValueFrom(quicConnect({ host: '127.0.0.1', port, ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['mig'] }).pipe(timeout(10_000)));

/** Ask for the body on a new stream; `midway` runs once a quarter of it has arrived. */
async function fetchBody(conn: QuicConnection, midway: () => unknown = () => {}): Promise<Buffer> {
  const s = conn.openStream();
  let got = 0;
  let ran = false;
  const chunks = lastValueFrom(
    s.data$.pipe(
      tap((d) => {
        got += d.length;
        if (!ran && got > SIZE / 4) {
          ran = true;
          midway();
        }
      }),
      toArray(),
      timeout(30_000),
    ),
  );
  s.write('GET');
  s.end();
  return Buffer.concat(await chunks);
}

/**
 * A NAT on 127.0.0.1: the client sends to `port`, the NAT forwards from a socket of its own; `rebind()` moves
 * to a new socket (a new external port), and what the server still sends to the old one is lost.
 */
async function nat(serverPort: number) {
  const front = createSocket('udp4');
  let client: { address: string; port: number } | undefined;
  let out: Socket;
  const open = () =>
    new Promise<Socket>((resolve) => {
      const s = createSocket('udp4');
      s.on('message', (data) => {
        if (s === out && client) front.send(data, client.port, client.address);
      });
      s.bind(0, '127.0.0.1', () => resolve(s));
    });
  out = await open();
  front.on('message', (data, from) => {
    client = { address: from.address, port: from.port };
    out.send(data, serverPort, '127.0.0.1');
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', () => resolve()));
  return {
    port: front.address().port,
    rebind: async () => {
      const old = out;
      out = await open();
      old.close();
    },
    close: () => {
      front.close();
      out.close();
    },
  };
}

test('QUIC over UDP, RFC 9000 §9.2: the client migrates to a new socket mid-download; the body arrives whole, routed by a new connection ID', async (t) => {
  t.timeout(60_000);
  const { srv, conns } = await server(t);
  const conn = await connect(srv.port);
  let migrated: Promise<void> | undefined;
  const got = await fetchBody(conn, () => (migrated = conn.migrate()));
  await migrated;
  t.true(got.equals(Buffer.from(body)), `${got.length} of ${SIZE} bytes`);
  // The client sent to a connection ID issued after the handshake: had the listener not routed it, it would
  // have answered with a stateless reset and the download would have failed.
  t.is(srv.stats().statelessResets, 0);
  // A second request on the new path.
  t.true((await fetchBody(conn)).equals(Buffer.from(body)));
  await t.throwsAsync(conns[0]!.migrate(), { instanceOf: TlsError, message: /only a client/ });
  conn.close({ rapid: true });
});

test('QUIC over UDP, RFC 9000 §9.3: NAT rebinding mid-download (a new external port): the server follows and the body arrives whole', async (t) => {
  t.timeout(60_000);
  const { srv } = await server(t);
  const n = await nat(srv.port);
  t.teardown(() => n.close());
  const conn = await connect(n.port);
  // The client's next request comes from the new port: the server must follow it (its answers to the old
  // port are lost in the NAT).
  const got = await fetchBody(conn, () => void n.rebind());
  t.true(got.equals(Buffer.from(body)), `${got.length} of ${SIZE} bytes`);
  t.true((await fetchBody(conn)).equals(Buffer.from(body)), 'and a second request after it');
  conn.close({ rapid: true });
});

test('QUIC over UDP, RFC 9000 §10.3: a listener restarted with the same key resets the old connections; the client closes with a typed error', async (t) => {
  t.timeout(30_000);
  const statelessResetKey = new Uint8Array(32).fill(0x5a);
  const first = await quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['mig'], statelessResetKey });
  const conn = await connect(first.port);
  const closed = lastValueFrom(conn.closed$, { defaultValue: undefined }).then(
    () => undefined,
    (err: unknown) => err,
  );
  await first.close(); // its connections are gone without a word
  const second = await quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['mig'], statelessResetKey, port: first.port });
  t.teardown(() => second.close());
  const s = conn.openStream();
  s.write('anyone there?');
  const err = await closed;
  t.true(err instanceof TlsError && err.detail.kind === 'statelessReset', String(err));
  t.true(second.stats().statelessResets >= 1);
  t.is(second.stats().created, 0);
});
