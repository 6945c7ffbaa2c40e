/**
 * Batch results on loan (`BatchOptions.lease`): a connection gives sealed records back once the transport is
 * done writing them, and opened ones only to a consumer that borrows its chunks (`inboundChunks: 'borrowed'`),
 * once it was handed them. The provider here poisons whatever is given back, so giving anything back too early
 * shows as corrupted bytes (on the wire: the peer's bad_record_mac; handed over: a wrong digest).
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { Observable, Subject, firstValueFrom, lastValueFrom, map, mergeMap, timer, toArray } from 'rxjs';
import { secure } from '../../operators/secure.js';
import { fromSocket, memoryDuplexPair } from '../../src/rx/duplex.js';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import type { ByteDuplex, SecureOptions, TlsConnection } from '../../src/rx/types.js';
import { createWorkerPoolProvider } from '../../src/node/workers.js';
import { lendingProvider } from '../helpers/batch.js';
import { ca, cert, key } from '../helpers/fixtures.js';

const MiB = 1024 * 1024;
const digest = (chunks: readonly Uint8Array[]) => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};
const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 10)) & 0xff);
const chunked = (data: Uint8Array, size: number) => Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size));

/** A client and a server over `pair`, both with `provider` and asyncCrypto; `server` options added on its side. */
async function connected(pair: readonly [ByteDuplex, ByteDuplex], options: SecureOptions, server: SecureOptions = {}): Promise<[TlsConnection, TlsConnection]> {
  const [c, s] = pair;
  const client$ = new Observable<ByteDuplex>((o) => o.next(c)).pipe(secure({ role: 'client', ca, servername: 'localhost', ...options }));
  const server$ = new Observable<ByteDuplex>((o) => o.next(s)).pipe(secure({ role: 'server', cert, key, ...options, ...server }));
  return Promise.all([firstValueFrom(client$), firstValueFrom(server$)]);
}

test('in memory: sealed records go back once the transport copied them; an owning consumer keeps every chunk intact and no opened record goes back', async (t) => {
  const provider = lendingProvider();
  const [client, server] = await connected(memoryDuplexPair(), { provider, asyncCrypto: true });
  const data = payload(MiB);
  const kept: Uint8Array[] = [];
  const received = lastValueFrom(server.inbound$.pipe(toArray()));
  await lastValueFrom(client.send(chunked(data, 64 * 1024)), { defaultValue: undefined }); // completes: close_notify
  for (const c of await received) kept.push(c);
  t.is(digest(kept), digest([data]), 'the kept chunks are the data: nothing was given back under them');
  t.true(provider.stats.sealLent > 0);
  t.is(provider.stats.sealReleased, provider.stats.sealLent, 'the memory pair copies each write: every seal lease is given back');
  t.is(provider.stats.openLent, 0, 'an owning consumer: opened records are never asked on loan');
});

for (const chunks of ['borrowed', 'shared'] as const) {
  test(`in memory: a push consumer of ${chunks} chunks reads each inside next, and every opened batch goes back`, async (t) => {
    const provider = lendingProvider();
    const [client, server] = await connected(memoryDuplexPair(), { provider, asyncCrypto: true }, { inboundChunks: chunks });
    const data = payload(MiB);
    const h = createHash('sha256');
    let bytes = 0;
    let inShared = 0;
    const done = new Promise<void>((resolve, reject) =>
      server.inbound$.subscribe({
        next: (c) => {
          h.update(c); // a borrowed chunk: read now, never kept
          bytes += c.length;
          if (c.buffer instanceof SharedArrayBuffer) inShared++;
        },
        complete: resolve,
        error: reject,
      }),
    );
    await lastValueFrom(client.send(chunked(data, 64 * 1024)), { defaultValue: undefined }); // completes: close_notify
    await done;
    t.is(bytes, data.length);
    t.is(h.digest('hex'), digest([data]));
    t.true(provider.stats.openLent > 0);
    t.is(provider.stats.openReleased, provider.stats.openLent);
    // Sealed records are always asked in shared memory if the provider likes; opened ones only for 'shared'.
    t.is(provider.stats.sharedLent, provider.stats.sealLent + (chunks === 'shared' ? provider.stats.openLent : 0));
    if (chunks === 'shared') t.true(inShared > 0, 'chunks were views of shared memory');
    else t.is(inShared, 0);
  });
}

test('in memory: borrowed chunks that wait for a late subscriber are given back only once it was handed them', async (t) => {
  const provider = lendingProvider();
  const [client, server] = await connected(memoryDuplexPair(), { provider, asyncCrypto: true }, { inboundChunks: 'borrowed' });
  const data = payload(256 * 1024);
  await lastValueFrom(client.send(chunked(data, 64 * 1024)), { defaultValue: undefined }); // completes: close_notify
  // Let the server open everything with no subscriber: the chunks wait in its queue, on loan.
  await new Promise((r) => setTimeout(r, 50));
  t.true(provider.stats.openLent > 0);
  t.is(provider.stats.openReleased, 0, 'nothing goes back while the chunks wait');
  const h = createHash('sha256');
  server.inbound$.subscribe((c) => h.update(c));
  t.is(h.digest('hex'), digest([data]));
  t.is(provider.stats.openReleased, provider.stats.openLent);
  client.close();
});

for (const chunks of ['borrowed', 'shared'] as const) {
  test(`in memory: a receive() projection keeps its chunk as long as it likes, ordinary memory, even with inboundChunks ${chunks} (never given back)`, async (t) => {
    const provider = lendingProvider();
    const [client, server] = await connected(memoryDuplexPair(), { provider, asyncCrypto: true }, { inboundChunks: chunks });
    const data = payload(512 * 1024);
    const got = lastValueFrom(server.receive((c) => timer(2).pipe(map(() => c))).pipe(toArray()));
    await lastValueFrom(client.send(chunked(data, 64 * 1024)), { defaultValue: undefined }); // completes: close_notify
    const kept = await got;
    t.is(digest(kept), digest([data]));
    t.true(kept.every((c) => !(c.buffer instanceof SharedArrayBuffer)), 'no chunk of shared memory');
    t.is(provider.stats.openReleased, 0);
  });
}

test('in memory: a duplex whose write ignores the callback never gets a seal lease given back, and the data is intact', async (t) => {
  const provider = lendingProvider();
  const [a, b] = memoryDuplexPair();
  const ignoring: ByteDuplex = { ...a, write: (chunk) => a.write(chunk) };
  const [client, server] = await connected([ignoring, b], { provider, asyncCrypto: true });
  const data = payload(256 * 1024);
  const received = lastValueFrom(server.inbound$.pipe(toArray()));
  await lastValueFrom(client.send(chunked(data, 64 * 1024)), { defaultValue: undefined }); // completes: close_notify
  t.is(digest(await received), digest([data]));
  t.true(provider.stats.sealLent > 0);
  t.is(provider.stats.sealReleased, 0);
});

/**
 * A server on 127.0.0.1 with `options` (certificate added) whose first connection's `inbound$` is hashed as it
 * comes, each chunk inside `next` (`onChunk` sees it there too): `served` resolves to `bytes:sha256` at its end,
 * after echoing everything back (copied as it came: the chunks may be borrowed) when `echo`.
 */
async function hashingServer(t: ExecutionContext, options: SecureOptions, { echo = false, onChunk = (_: Uint8Array) => {} } = {}): Promise<{ port: number; served: Promise<string> }> {
  const conns = new Subject<TlsConnection>();
  let port = 0;
  const server = listen({ port: 0, cert, key, ...options, onListening: (a) => (port = a.port) }).subscribe(conns);
  t.teardown(() => server.unsubscribe());
  const served = firstValueFrom(
    conns.pipe(
      mergeMap(
        (conn) =>
          new Promise<string>((resolve, reject) => {
            const h = createHash('sha256');
            const out: Uint8Array[] = [];
            let n = 0;
            conn.inbound$.subscribe({
              next: (c) => {
                h.update(c);
                n += c.length;
                onChunk(c);
                if (echo) out.push(c.slice());
              },
              error: reject,
              complete: () => {
                const result = `${n}:${h.digest('hex')}`;
                if (echo) conn.send(out).subscribe({ error: reject, complete: () => resolve(result) });
                else resolve(result);
              },
            });
          }),
      ),
    ),
  );
  while (port === 0) await new Promise((r) => setTimeout(r, 5));
  return { port, served };
}

test('over TCP: sealed records go back from the socket write callbacks (after the kernel took them), both ways, borrowed and owned, data intact', async (t) => {
  const provider = lendingProvider();
  const data = payload(4 * MiB);
  // The server reads borrowed chunks (copying what it echoes), then echoes everything and reports a digest.
  const { port, served } = await hashingServer(t, { provider, asyncCrypto: true, inboundChunks: 'borrowed' }, { echo: true });
  const client = await firstValueFrom(connect({ host: '127.0.0.1', port, servername: 'localhost', ca, provider, asyncCrypto: true }));
  const back = lastValueFrom(client.inbound$.pipe(toArray()));
  client.send(chunked(data, 64 * 1024)).subscribe();
  t.is(await served, `${data.length}:${digest([data])}`);
  t.is(digest(await back), digest([data]), 'the echo came back intact: no sealed record was given back before it was written');
  t.true(provider.stats.sealLent > 0);
  t.true(provider.stats.sealReleased > 0, 'socket write callbacks gave sealed records back');
  t.true(provider.stats.openLent > 0 && provider.stats.openReleased > 0, 'the borrowing server gave opened records back');
  t.is(provider.stats.openReleased, provider.stats.openLent);
});

test('over TCP with the worker pool: opened records straight into shared memory for a shared consumer, sealed ones for the socket, data intact', async (t) => {
  const pool = createWorkerPoolProvider({ size: 2, engine: 'node' });
  t.teardown(() => pool.close());
  const data = payload(4 * MiB);
  let sharedChunks = 0;
  const onChunk = (c: Uint8Array) => void (c.buffer instanceof SharedArrayBuffer && sharedChunks++);
  const { port, served } = await hashingServer(t, { provider: pool, asyncCrypto: true, inboundChunks: 'shared' }, { onChunk });
  const before = pool.stats().batchesInPlace;
  const client = await firstValueFrom(connect({ host: '127.0.0.1', port, servername: 'localhost', ca, provider: pool, asyncCrypto: true }));
  await lastValueFrom(client.send(chunked(data, 64 * 1024)), { defaultValue: undefined });
  t.is(await served, `${data.length}:${digest([data])}`);
  t.true(sharedChunks > 0, 'the server read views of the shared slabs');
  t.true(pool.stats().batchesInPlace > before);
  // Every shared slab given back once the data was handed over and written.
  for (let i = 0; i < 100 && pool.stats().sharedSlabsFree < pool.stats().sharedSlabs; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(pool.stats().sharedSlabsFree, pool.stats().sharedSlabs);
});

test('inboundChunks accepts owned, borrowed or shared; anything else is API misuse at the call', (t) => {
  for (const inboundChunks of ['owned', 'borrowed', 'shared'] as const) t.notThrows(() => connect({ host: '127.0.0.1', port: 9, ca, inboundChunks }).subscribe({ error: () => undefined }).unsubscribe());
  const err = t.throws(() => connect({ host: '127.0.0.1', port: 9, ca, inboundChunks: 'lent' as 'owned' }));
  t.is((err as { kind?: string }).kind, 'apiMisuse');
  t.regex(err!.message, /inboundChunks/);
});

test('write(chunk, written): a socket calls it once the kernel took the chunk, or at once when it is closed; the memory pair once it copied it', async (t) => {
  const server = createServer((s) => s.resume());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const socket = createConnection((server.address() as AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const duplex = fromSocket(socket);
  const calls: string[] = [];
  duplex.write(new Uint8Array(100), () => calls.push('written'));
  t.deepEqual(calls, [], 'not before the socket wrote it');
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(calls, ['written']);
  socket.destroy();
  t.false(duplex.write(new Uint8Array(10), () => calls.push('dropped')));
  t.deepEqual(calls, ['written', 'dropped'], 'a closed socket never reads it');

  const [a] = memoryDuplexPair();
  a.write(new Uint8Array(5), () => calls.push('copied'));
  a.end();
  a.write(new Uint8Array(5), () => calls.push('after end'));
  t.deepEqual(calls.slice(2), ['copied', 'after end']);
});
