/**
 * HTTP/3 between rxtls endpoints over QUIC on 127.0.0.1: a GET with a streamed body, a POST echoed back, HEAD,
 * a handler failure (500), and a server that breaks the frame order, which closes the connection with
 * H3_FRAME_UNEXPECTED (RFC 9114 §7.2.1).
 */
import test from 'ava';
import { firstValueFrom, lastValueFrom, timeout, toArray } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { H3ErrorCode } from '../../src/h3/errors.js';
import { encodeFrame } from '../../src/h3/frames.js';
import { h3Connect, h3Request, serveH3, type H3Response } from '../../src/rx/h3.js';
import { quicListen, type QuicConnection } from '../../src/rx/quic.js';
import { certText } from '../helpers/peers.js';

const MS = 20_000;

async function pair(t: import('ava').ExecutionContext, serve: (conn: QuicConnection) => void, maxStreams?: number): Promise<QuicConnection> {
  const srv = await quicListen({ cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), alpn: ['h3'], ...(maxStreams !== undefined ? { maxStreams } : {}) });
  t.teardown(() => srv.close());
  srv.connections.subscribe(serve);
  const conn = await firstValueFrom(h3Connect({ host: '127.0.0.1', port: srv.port, ca: certText('ca-cert.pem'), servername: 'localhost' }).pipe(timeout(MS)));
  t.teardown(() => conn.close({ errorCode: H3ErrorCode.H3_NO_ERROR, rapid: true }));
  return conn;
}

const bodyOf = async (r: H3Response) => Buffer.concat(await lastValueFrom(r.body.pipe(toArray(), timeout(MS))));

test('rxtls ↔ rxtls HTTP/3: GET (a body in chunks), POST echoed, HEAD without a body, a failing handler answers 500', async (t) => {
  t.timeout(60_000);
  const big = 'z'.repeat(200_000);
  const conn = await pair(t, (c) =>
    serveH3(c, async (req) => {
      if (req.path === '/big') return { status: 200, headers: [['content-type', 'text/plain']], body: big };
      if (req.path === '/echo') {
        const got = Buffer.concat(await lastValueFrom(req.body.pipe(toArray())));
        return { status: 201, headers: [['x-method', req.method]], body: got };
      }
      if (req.path === '/fail') throw new Error('boom');
      return { status: 404, body: `no ${req.path}\n` };
    }),
  );
  const get = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: '/big' }).pipe(timeout(MS)));
  t.is(get.status, 200);
  t.deepEqual(get.headers, [['content-type', 'text/plain'], ['content-length', String(big.length)]]);
  t.is((await bodyOf(get)).toString(), big);

  const post = await firstValueFrom(h3Request(conn, { method: 'POST', authority: 'localhost', path: '/echo', body: 'ping' }).pipe(timeout(MS)));
  t.is(post.status, 201);
  t.deepEqual(post.headers.find(([n]) => n === 'x-method'), ['x-method', 'POST']);
  t.is((await bodyOf(post)).toString(), 'ping');

  const head = await firstValueFrom(h3Request(conn, { method: 'HEAD', authority: 'localhost', path: '/big' }).pipe(timeout(MS)));
  t.is(head.status, 200);
  t.is((await bodyOf(head)).length, 0);

  const missing = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: '/nothing' }).pipe(timeout(MS)));
  t.is(missing.status, 404);
  t.is((await bodyOf(missing)).toString(), 'no /nothing\n');

  const failed = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: '/fail' }).pipe(timeout(MS)));
  t.is(failed.status, 500);
});

test('RFC 9114 §4.1: a server that sends DATA before HEADERS: the client closes the connection with H3_FRAME_UNEXPECTED', async (t) => {
  t.timeout(60_000);
  let serverSaw: Promise<unknown> | undefined;
  const conn = await pair(t, (c) => {
    serverSaw = lastValueFrom(c.closed$, { defaultValue: 'clean' }).catch((e: unknown) => e);
    c.incoming$.subscribe((s) => {
      if ((s.id & 2) !== 0) return;
      s.data$.subscribe({ complete: () => s.write(encodeFrame({ type: 'data', payload: Uint8Array.of(1, 2, 3) })) });
    });
  });
  const err = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: '/' }).pipe(timeout(MS))).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.true(err instanceof TlsError && err.detail.kind === 'quicClose' && err.detail.local && err.detail.code === H3ErrorCode.H3_FRAME_UNEXPECTED, String(err));
  const seen = await Promise.race([serverSaw, new Promise((r) => setTimeout(() => r('timeout'), MS))]);
  t.true(seen instanceof TlsError && seen.detail.kind === 'quicClose' && !seen.detail.local && seen.detail.code === H3ErrorCode.H3_FRAME_UNEXPECTED, String(seen));
});

test('HTTP/3 serveH3: a body from an async iterable is pulled only as the stream has room: unsent bytes stay within the send buffer mark + one chunk', async (t) => {
  t.timeout(60_000);
  const CHUNK = 16 * 1024;
  const CHUNKS = 256; // 4 MiB
  const MARK = 256 * 1024; // quicListen's default highWaterMark
  let server: QuicConnection | undefined;
  let mostUnsent = 0;
  let pulled = 0;
  async function* body(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < CHUNKS; i++) {
      mostUnsent = Math.max(mostUnsent, server!.stats().unsentBytes);
      pulled++;
      yield new Uint8Array(CHUNK).fill(i & 0xff);
    }
  }
  const conn = await pair(t, (c) => {
    server = c;
    serveH3(c, () => ({ status: 200, body: body() }));
  });
  const res = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: '/stream' }).pipe(timeout(MS)));
  const got = await bodyOf(res);
  t.is(got.length, CHUNK * CHUNKS);
  t.is(got[CHUNK * 7], 7);
  t.is(pulled, CHUNKS);
  t.log(`most unsent when a chunk was pulled: ${mostUnsent} B`);
  // A DATA frame adds at most 9 bytes of header to a chunk.
  t.true(mostUnsent <= MARK + CHUNK + 16, `${mostUnsent} B unsent (bound ${MARK + CHUNK + 16})`);
  t.true(mostUnsent > 0, 'the body did wait for the stream');
});

test('rxtls ↔ rxtls HTTP/3: 250 requests one after another on one connection (more than the 100 streams allowed at once)', async (t) => {
  t.timeout(60_000);
  const conn = await pair(t, (c) => serveH3(c, (req) => ({ status: 200, body: `you asked for ${req.path}` })));
  let answered = 0;
  for (let i = 0; i < 250; i++) {
    const r = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: `/${i}` }).pipe(timeout(MS)));
    if (r.status === 200 && (await bodyOf(r)).toString() === `you asked for /${i}`) answered++;
  }
  t.is(answered, 250);
});

test('rxtls ↔ rxtls HTTP/3: 60 requests at once to a server allowing 10 streams: the others wait for its MAX_STREAMS, all are answered', async (t) => {
  t.timeout(60_000);
  const conn = await pair(t, (c) => serveH3(c, (req) => ({ status: 200, body: `you asked for ${req.path}` })), 10);
  const answers = await Promise.all(
    Array.from({ length: 60 }, async (_, i) => {
      const r = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: `/${i}` }).pipe(timeout(MS)));
      return (await bodyOf(r)).toString();
    }),
  );
  t.deepEqual(answers, Array.from({ length: 60 }, (_, i) => `you asked for /${i}`));
});

test('HTTP/3 serveH3: a handler that stops reading a large body mid-frame (our STOP_SENDING) answers, and the connection goes on', async (t) => {
  t.timeout(60_000);
  const conn = await pair(t, (c) =>
    serveH3(c, async (req) => {
      if (req.path === '/first') {
        // One chunk of the body, then no more: the rest is refused with STOP_SENDING (RFC 9114 §4.1.1).
        const first = await firstValueFrom(req.body);
        return { status: 200, body: `took ${first.length > 0 ? 'some' : 'none'}` };
      }
      return { status: 200, body: 'still here' };
    }),
  );
  const post = await firstValueFrom(h3Request(conn, { method: 'POST', authority: 'localhost', path: '/first', body: 'x'.repeat(2_000_000) }).pipe(timeout(MS)));
  t.is(post.status, 200);
  t.is((await bodyOf(post)).toString(), 'took some');
  // Before, QUIC's end of the stopped stream read as the peer's FIN, cut inside a DATA frame: H3_FRAME_ERROR closed the connection.
  const get = await firstValueFrom(h3Request(conn, { authority: 'localhost', path: '/next' }).pipe(timeout(MS)));
  t.is(get.status, 200);
  t.is((await bodyOf(get)).toString(), 'still here');
});
