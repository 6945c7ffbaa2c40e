/** QUIC over real UDP sockets on 127.0.0.1: rxtls client ↔ rxtls server through quicConnect / quicListen. */
import test from 'ava';
import { firstValueFrom, lastValueFrom, toArray, timeout } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { quicConnect, quicListen } from '../../src/rx/quic.js';
import { fixture } from '../helpers/pair.js';

const server = () => quicListen({ cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['echo'] });

test('QUIC over UDP: a stream echoes upper-cased, then the client closes and the server sees it', async (t) => {
  t.timeout(20_000);
  const srv = await server();
  t.teardown(() => srv.close());
  const serverClosed = new Promise<unknown>((resolve) => {
    srv.connections.subscribe((conn) => {
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
  await t.throwsAsync(lastValueFrom(conn.closed$, { defaultValue: undefined }), { instanceOf: TlsError, message: /0x2a/ });
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
