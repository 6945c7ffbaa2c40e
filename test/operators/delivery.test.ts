/**
 * Issue 15: what a step's full records look like to the application, through the adapter. With node:crypto each
 * opened record is its own buffer: `inbound$` (push) gets each full record as it was decrypted, never a copy
 * joining them; `receive()` (pull, one projection at a time) gets a step's records as one chunk.
 */
import test from 'ava';
import { mergeMap, of, toArray } from 'rxjs';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import { securePair, virtualClock } from './virtual.js';

const RECORD = 16 * 1024;
const data = Uint8Array.from({ length: 8 * RECORD }, (_, i) => (i * 31 + (i >> 10)) & 0xff);
const options = { client: { provider: nodeProvider }, server: { provider: nodeProvider } };

test('push (inbound$): two writes of four full records arrive as eight chunks of one record each, intact', (t) => {
  const ts = virtualClock(t);
  let chunks: Uint8Array[] = [];
  ts.run(() => {
    const pair = securePair(ts, options);
    pair.server$.pipe(mergeMap((conn) => conn.inbound$.pipe(toArray()))).subscribe((c) => (chunks = c));
    pair.client$.pipe(mergeMap((conn) => conn.send(of(data.subarray(0, 4 * RECORD), data.subarray(4 * RECORD))))).subscribe();
  });
  t.deepEqual(Buffer.concat(chunks), Buffer.from(data));
  t.deepEqual(chunks.map((c) => c.length), Array(8).fill(RECORD));
  // Each is node:crypto's output for its record, as it was (its content type byte after it): eight buffers,
  // none of them a joined one.
  t.log(`buffer sizes: ${[...new Set(chunks.map((c) => c.buffer.byteLength))].join(', ')}`);
  t.is(new Set(chunks.map((c) => c.buffer)).size, 8);
  t.true(chunks.every((c) => c.byteOffset === 0 && c.buffer.byteLength < 2 * RECORD));
});

test('pull (receive): the same writes reach the projection as one chunk per step', (t) => {
  const ts = virtualClock(t);
  let chunks: Uint8Array[] = [];
  ts.run(() => {
    const pair = securePair(ts, options);
    pair.server$.pipe(mergeMap((conn) => conn.receive((c) => of(c)).pipe(toArray()))).subscribe((c) => (chunks = c));
    pair.client$.pipe(mergeMap((conn) => conn.send(of(data.subarray(0, 4 * RECORD), data.subarray(4 * RECORD))))).subscribe();
  });
  t.deepEqual(Buffer.concat(chunks), Buffer.from(data));
  t.deepEqual(chunks.map((c) => c.length), [4 * RECORD, 4 * RECORD]);
});
