/**
 * Issue 14/15, round 2: over a socket (`fromSocket`, which can `cork`), a TLS connection writes each step's
 * records as the parts they were sealed in — with node:crypto, each record's ciphertext is the buffer the cipher
 * returned — and the socket sends them corked, as one `writev`. Counted (socket `_writev` calls and the chunks
 * they carry), never timed; the bytes must arrive whole and in order both ways.
 */
import test from 'ava';
import { Socket } from 'node:net';
import { Subject, firstValueFrom, mergeMap, of, toArray, reduce } from 'rxjs';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import type { TlsConnection } from '../../src/rx/types.js';
import { ca, cert, key } from '../helpers/fixtures.js';

const pattern = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * seed + (i >> 8)) & 0xff);
const join = (chunks: Uint8Array[]) => Buffer.concat(chunks);

test('records leave a socket as corked parts (one writev per step or task), and arrive intact both ways', async (t) => {
  const proto = Socket.prototype as unknown as { _writev: (chunks: { chunk: Uint8Array }[], cb: (e?: Error | null) => void) => void };
  const { _writev } = proto;
  let writevs = 0;
  let parts = 0;
  proto._writev = function (this: Socket, chunks, cb) {
    writevs++;
    parts += chunks.length;
    return _writev.call(this, chunks, cb);
  };
  const up = pattern(1 << 20, 7);
  const down = pattern(300_000, 11);
  const conns = new Subject<TlsConnection>();
  let port = 0;
  const server = listen({ port: 0, cert, key, provider: nodeProvider, onListening: (a) => (port = a.port) }).subscribe(conns);
  try {
    const served = firstValueFrom(
      conns.pipe(mergeMap((conn) => conn.receive((chunk) => of(chunk)).pipe(toArray(), mergeMap((got) => conn.send(of(down)).pipe(reduce(() => got, got)))))),
    );
    while (port === 0) await new Promise((r) => setTimeout(r, 5));
    const client = await firstValueFrom(connect({ host: '127.0.0.1', port, ca, servername: 'localhost', provider: nodeProvider }));
    const received = firstValueFrom(client.inbound$.pipe(toArray()));
    client.send(of(up.subarray(0, 500_000), up.subarray(500_000))).subscribe();
    t.deepEqual(join(await served), Buffer.from(up));
    t.deepEqual(join(await received), Buffer.from(down));
  } finally {
    proto._writev = _writev;
    server.unsubscribe();
  }
  t.log(`${writevs} writev calls carrying ${parts} parts`);
  // 1.3 MiB in ≈ 80 records of 16 KiB: each record is at least two parts (ciphertext, and the bytes around it).
  t.true(writevs > 0, 'the socket wrote corked parts');
  t.true(parts >= 2 * 80, `${parts} parts`);
});
