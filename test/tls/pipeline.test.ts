/** Record sizing, pipelining and asynchronous crypto in the core. */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Pair, NOW, text, str } from '../helpers/pair.js';
import { handleEvents, handshakeInfo } from '../../src/tls/connection.js';
import { assembleFlight, completeRecordAt, frameRecord, innerPlaintexts, prepareSeal, prepareSealRun, recordKey, recordKey12, type OutPart, type SealJob } from '../../src/tls/record.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { suiteParams } from '../../src/crypto/keySchedule.js';
import { tls12SuiteParams } from '../../src/crypto/prf.js';
import { ContentType } from '../../src/wire/tls/constants.js';
import type { TlsEffect } from '../../src/tls/types.js';
import { asyncNobleProvider, nobleOpen, nobleSeal, withBatch } from '../helpers/batch.js';
import { compactParts, deliveryGroups } from '../../src/tls/state.js';

/** Sizes of the records in a byte stream. */
function recordSizes(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let off = 0; off < data.length; ) {
    const fr = frameRecord(data, off);
    if (fr.kind !== 'record') throw new Error(`bad framing: ${fr.kind}`);
    out.push(fr.record.fragment.length);
    off += fr.consumed;
  }
  return out;
}
const wireOf = (effects: readonly TlsEffect[]) =>
  Buffer.concat(effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : [])));

const asyncProvider = () => asyncNobleProvider();

test('splitSendFragment: a 10 000-byte write becomes records of 1000 bytes', (t) => {
  const pair = new Pair({ splitSendFragment: 1000 }).start().drive();
  const effects = pair.input('client', { type: 'write', now: NOW, data: new Uint8Array(10_000) });
  // Each protected record: 1000 data + 1 content type + 16 tag.
  t.deepEqual(recordSizes(wireOf(effects)), Array(10).fill(1017));
  pair.drive();
  t.is(Buffer.concat(pair.delivered.server).length, 10_000);
});

test('record_size_limit (RFC 8449): the client asks for 1024, every protected server record fits', (t) => {
  const pair = new Pair({ recordSizeLimit: 1024 }, {}).start();
  pair.serverRound();
  const flight = Buffer.concat(pair.inbox.client);
  const sizes = recordSizes(flight);
  // The plaintext ServerHello and CCS are unprotected; every protected record holds ≤ 1023 + 1 bytes + tag.
  const protectedSizes = sizes.filter((n) => n > 16 && n !== 1);
  t.true(protectedSizes.length > 2, `server flight split into several records: ${sizes}`);
  for (const n of protectedSizes.slice(1)) t.true(n <= 1024 + 16, `record of ${n} bytes`);
  pair.drive();
  const w = pair.input('server', { type: 'write', now: NOW, data: new Uint8Array(5000) });
  t.deepEqual(recordSizes(wireOf(w)), [1023 + 17, 1023 + 17, 1023 + 17, 1023 + 17, 908 + 17]);
});

test('automatic KeyUpdate before the AEAD usage limit (keyUpdateAfter)', (t) => {
  const pair = new Pair({ keyUpdateAfter: 3 }).start().drive();
  const first = pair.client.txKey!.secret;
  for (let i = 0; i < 5; i++) pair.input('client', { type: 'write', now: NOW, data: text(`m${i};`) });
  pair.drive();
  t.not(pair.client.txKey!.secret, first);
  t.is(str(pair.delivered.server), 'm0;m1;m2;m3;m4;');
});

test('async crypto: records are sealed and opened in batches of at most maxPipelines, order kept', async (t) => {
  const cp = asyncProvider();
  const sp = asyncProvider();
  const pair = new Pair({ provider: cp, asyncCrypto: true, maxPipelines: 4, splitSendFragment: 1000 }, { provider: sp, asyncCrypto: true, maxPipelines: 4 });
  pair.start();
  await pair.driveAsync();
  t.truthy(handshakeInfo(pair.client));
  const data = Uint8Array.from({ length: 25_000 }, (_, i) => (i * 7) & 0xff);
  pair.input('client', { type: 'write', now: NOW, data });
  // 25 records of 1000 bytes → batches of 4: only the first is in flight.
  t.is(pair.jobs.client.length, 1);
  t.is(pair.jobs.client[0]!.jobs.length, 4);
  pair.input('client', { type: 'write', now: NOW, data: text('tail') });
  await pair.driveAsync(true);
  t.deepEqual(Buffer.concat(pair.delivered.server), Buffer.concat([data, text('tail')]));
  t.true(cp.batches.every((n) => n <= 4));
  t.true(sp.batches.some((n) => n > 1), `server opened records in batches: ${sp.batches}`);
});

test('async crypto: close_notify waits behind the in-flight batch; shutdown completes cleanly', async (t) => {
  const pair = new Pair({ provider: asyncProvider(), asyncCrypto: true }, { provider: asyncProvider(), asyncCrypto: true });
  pair.start();
  await pair.driveAsync();
  pair.input('client', { type: 'write', now: NOW, data: text('last words') });
  pair.input('client', { type: 'end', now: NOW });
  // Nothing on the wire yet: the data is being sealed and the alert waits behind it.
  t.is(pair.inbox.server.length, 0);
  await pair.driveAsync();
  t.is(str(pair.delivered.server), 'last words');
  t.is(pair.of('server', 'peerClosed').length, 1);
  pair.input('server', { type: 'end', now: NOW });
  await pair.driveAsync();
  t.is(pair.of('client', 'closed').length, 1);
  t.is(pair.closedError('client'), undefined);
});

test('async crypto: a KeyUpdate in the middle of an opened batch re-frames the rest under the new key', async (t) => {
  const pair = new Pair({ provider: asyncProvider(), asyncCrypto: true }, {});
  pair.start();
  await pair.driveAsync();
  // The (synchronous) server sends data, a KeyUpdate and more data; the client gets it all in one chunk.
  pair.input('server', { type: 'write', now: NOW, data: text('before ') });
  pair.input('server', { type: 'keyUpdate', now: NOW, requestPeer: false });
  pair.input('server', { type: 'write', now: NOW, data: text('after') });
  const chunk = Buffer.concat(pair.inbox.client.splice(0));
  pair.input('client', { type: 'received', now: NOW, data: chunk });
  t.is(pair.jobs.client[0]!.jobs.length, 3);
  await pair.driveAsync();
  t.is(str(pair.delivered.client), 'before after');
  t.is(pair.closedError('client'), undefined);
});

test('async crypto: cryptoDone for an unknown job is API misuse', async (t) => {
  const pair = new Pair({ provider: asyncProvider(), asyncCrypto: true }, {});
  pair.start();
  await pair.driveAsync();
  t.throws(() => handleEvents(pair.client, { type: 'cryptoDone', now: NOW, jobId: 999, results: [] }));
});

test('async crypto: a batch result that fails authentication is bad_record_mac', async (t) => {
  const pair = new Pair({ provider: asyncProvider(), asyncCrypto: true }, {});
  pair.start();
  await pair.driveAsync();
  pair.input('server', { type: 'write', now: NOW, data: text('x') });
  pair.drive();
  const job = pair.jobs.client.splice(0)[0]!;
  pair.input('client', { type: 'cryptoDone', now: NOW, jobId: job.jobId, results: [null] });
  t.is(pair.closedError('client')?.alert, 20);
});

test('async crypto: EOF while the batch holding the close_notify is being opened is not a truncation', async (t) => {
  const pair = new Pair({ provider: asyncProvider(), asyncCrypto: true }, {});
  pair.start();
  await pair.driveAsync();
  pair.input('server', { type: 'write', now: NOW, data: text('bye') });
  pair.input('server', { type: 'end', now: NOW });
  pair.input('client', { type: 'received', now: NOW, data: Buffer.concat(pair.inbox.client.splice(0)) });
  pair.input('client', { type: 'eof', now: NOW });
  t.is(pair.of('client', 'closed').length, 0);
  await pair.answerJobs('client');
  t.is(str(pair.delivered.client), 'bye');
  t.is(pair.of('client', 'peerClosed').length, 1);
  t.is(pair.closedError('client'), undefined);
});

test('async crypto: any chunking of many small records, a KeyUpdate among them, with batches completing between chunks', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 60 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
      async (writes, cuts, completeAfter) => {
        // The client is synchronous; the server opens asynchronously, in batches of at most 3 records.
        const pair = new Pair({}, { provider: asyncProvider(), asyncCrypto: true, maxPipelines: 3 });
        pair.start();
        await pair.driveAsync();
        const sent: Uint8Array[] = [];
        writes.forEach((n, i) => {
          const data = Uint8Array.from({ length: n }, (_, k) => (i * 31 + k) & 0xff);
          sent.push(data);
          pair.input('client', { type: 'write', now: NOW, data });
          if (i === writes.length >> 1) pair.input('client', { type: 'keyUpdate', now: NOW, requestPeer: false });
        });
        const wire = Buffer.concat(pair.inbox.server.splice(0));
        for (let off = 0, i = 0; off < wire.length; i++) {
          const n = cuts[i % cuts.length]!;
          pair.input('server', { type: 'received', now: NOW, data: wire.subarray(off, off + n) });
          off += n;
          if (completeAfter[i % completeAfter.length]) await pair.answerJobs('server');
        }
        await pair.driveAsync();
        t.is(pair.closedError('server'), undefined);
        t.deepEqual(Buffer.concat(pair.delivered.server), Buffer.concat(sent));
      },
    ),
    { numRuns: 60 },
  );
});

test('async crypto: records that arrived in several chunks while a batch was in flight are opened as one batch', async (t) => {
  const pair = new Pair({ splitSendFragment: 1000 }, { provider: asyncProvider(), asyncCrypto: true, maxPipelines: 8 });
  pair.start();
  await pair.driveAsync();
  const data = Uint8Array.from({ length: 8000 }, (_, i) => (i * 13) & 0xff);
  pair.input('client', { type: 'write', now: NOW, data });
  const wire = Buffer.concat(pair.inbox.server.splice(0));
  const sizes = recordSizes(wire);
  t.deepEqual(sizes, Array(8).fill(1017));
  // One record per chunk: the first starts a batch; the other seven arrive while it is in flight.
  for (let i = 0, off = 0; i < 8; off += 5 + sizes[i]!, i++) {
    pair.input('server', { type: 'received', now: NOW, data: wire.subarray(off, off + 5 + sizes[i]!) });
  }
  t.deepEqual(pair.jobs.server.map((j) => j.jobs.length), [1]);
  await pair.answerJobs('server');
  t.deepEqual(pair.jobs.server.map((j) => j.jobs.length), [7], 'the seven waiting chunks form one batch');
  await pair.driveAsync();
  t.deepEqual(Buffer.concat(pair.delivered.server), Buffer.from(data));
});

test('innerPlaintexts: a batch\'s inner plaintexts are content ‖ trailer, views into one buffer, each 4-byte aligned', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 5 })), { minLength: 1, maxLength: 8 }), (parts) => {
      const jobs = parts.map(([content, trailer]) => ({ content, trailer }) as unknown as SealJob);
      const inner = innerPlaintexts(jobs);
      t.deepEqual(inner.map((b) => Array.from(b)), parts.map(([c, tr]) => [...c, ...tr]));
      t.is(new Set(inner.map((b) => b.buffer)).size, 1);
      t.true(inner.every((b) => b.byteOffset % 4 === 0));
    }),
    { numRuns: 100 },
  );
});

test('a write prepared in one pass (prepareSealRun) seals to the same records, and leaves the same key, as one prepareSeal per record', (t) => {
  const suites = [recordKey(nobleProvider, suiteParams(0x1301)!, new Uint8Array(32).fill(3)), recordKey(nobleProvider, suiteParams(0x1303)!, new Uint8Array(32).fill(4))];
  const keys12 = [recordKey12(nobleProvider, tls12SuiteParams(0xc02b)!, new Uint8Array(16).fill(5), new Uint8Array(4).fill(6))];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 1500 }), fc.integer({ min: 0, max: 40 }), (k, length, max, seq) => {
      const base = [...suites, ...keys12][k]!;
      const key = { ...base, seq, used: seq };
      const data = new Uint8Array(length).map((_, i) => (i * 31) & 0xff);
      const run: OutPart[] = [];
      const after = prepareSealRun(key, ContentType.application_data, data, max, run);
      const one: OutPart[] = [];
      let k1 = key;
      for (let o = 0; o < data.length; o += max) {
        const r = prepareSeal(k1, ContentType.application_data, data.subarray(o, Math.min(data.length, o + max)));
        one.push(r.job);
        k1 = r.key;
      }
      t.is(run.length, Math.ceil(length / max));
      t.deepEqual(assembleFlight(run), assembleFlight(one));
      t.is(after.seq, k1.seq);
      t.is(after.used, k1.used);
    }),
    { numRuns: 60 },
  );
});

test('completeRecordAt (the receive path\'s allocation-free framing) agrees with frameRecord on any bytes', (t) => {
  // Headers drawn near the valid ones (each content type, versions 0x03xx and others, lengths around 2^14 + 256).
  const header = fc.tuple(
    fc.constantFrom(20, 21, 22, 23, 0, 24, 0x48),
    fc.constantFrom(3, 2, 0x16),
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom(0, 1, 16, 0x40, 0x41, 0x42, 0xff),
    fc.integer({ min: 0, max: 255 }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), header, fc.integer({ min: 0, max: 17_000 }), fc.integer({ min: 0, max: 8 }), (pre, h, body, cut) => {
      const buf = new Uint8Array(pre.length + 5 + body);
      buf.set(pre);
      buf.set(h, pre.length);
      const view = buf.subarray(0, Math.max(0, buf.length - cut));
      for (const off of [0, pre.length]) {
        const size = completeRecordAt(view, off);
        const fr = frameRecord(view, off);
        if (fr.kind === 'record') t.is(size, fr.consumed);
        else if (fr.kind === 'incomplete') t.is(size, 0);
        else t.is(size, -1);
      }
    }),
    { numRuns: 400 },
  );
});

test('compactParts: parts in one buffer, in order, are moved together in place; a new buffer starts a new run (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.uint8Array({ maxLength: 50 }), fc.nat(9), fc.boolean()), { minLength: 1, maxLength: 12 }),
      (specs) => {
        // Lay the parts out as an open batch's results are: in order, gaps between them (a content type, padding),
        // a new buffer whenever the spec says so.
        const buffers: { bytes: Uint8Array; at: number[] }[] = [];
        const parts: Uint8Array[] = [];
        let cur: { bytes: Uint8Array; at: number[] } | undefined;
        let off = 0;
        specs.forEach(([bytes, gap, fresh]) => {
          if (!cur || fresh) {
            cur = { bytes: new Uint8Array(specs.reduce((n, [b, g]) => n + b.length + g, 0)), at: [] };
            buffers.push(cur);
            off = 0;
          }
          off += gap;
          cur.bytes.set(bytes, off);
          parts.push(cur.bytes.subarray(off, off + bytes.length));
          off += bytes.length;
        });
        const expected = Buffer.concat(specs.map(([b]) => b));
        const runs = compactParts(parts);
        t.deepEqual(Buffer.concat(runs), expected);
        t.is(runs.length, buffers.length, 'one run per buffer');
        t.true(runs.every((r, i) => r.buffer === buffers[i]!.bytes.buffer), 'views, not copies');
      },
    ),
    { numRuns: 200 },
  );
});

test('deliveryGroups: parts of 8 KiB or more stay alone, shorter ones are joined into groups of at least 16 KiB, in order (property)', (t) => {
  const STANDALONE = 8 * 1024;
  const MIN = 16 * 1024;
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 7000, max: 17_000 })), { maxLength: 40 }), (sizes) => {
      const parts = sizes.map((n, i) => new Uint8Array(n).fill(i & 0xff));
      const groups = deliveryGroups(parts);
      t.deepEqual(groups.flat(), parts, 'every part once, in order, as it was (no copy)');
      for (const [i, g] of groups.entries()) {
        t.true(g.length > 0);
        if (g.some((p) => p.length >= STANDALONE)) t.is(g.length, 1, 'a long part is alone');
        // A group of short parts is closed only once it holds MIN bytes, or by a long part or the end.
        const next = groups[i + 1];
        const size = g.reduce((n, p) => n + p.length, 0);
        if (g[0]!.length < STANDALONE && next && next[0]!.length < STANDALONE) t.true(size >= MIN, `group ${i}: ${size} bytes`);
      }
    }),
    { numRuns: 300 },
  );
});

test('async crypto: plaintexts an open batch returns in one buffer are delivered as one view of it, joined in place; in shared memory one view each, nothing moved', async (t) => {
  for (const shared of [false, true]) await deliveredFromOneBuffer(t, shared);
});

async function deliveredFromOneBuffer(t: ExecutionContext, shared: boolean): Promise<void> {
  // A batch cipher like the worker pool's: each batch's results are views into one fresh buffer, with gaps.
  const resultBuffers: ArrayBufferLike[] = [];
  const slabs = (results: (Uint8Array | null)[]) => {
    const size = results.reduce((n, r) => n + (r?.length ?? 0) + 8, 0);
    const all = new Uint8Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
    resultBuffers.push(all.buffer);
    let at = 3;
    return results.map((r) => {
      if (!r) return null;
      all.set(r, at);
      const view = all.subarray(at, at + r.length);
      at += r.length + 5;
      return view;
    });
  };
  const provider = withBatch('slabs', {
    sealBatch: (alg, key, jobs) => Promise.resolve(nobleSeal(alg, key, jobs)),
    openBatch: (alg, key, jobs) => Promise.resolve(slabs(nobleOpen(alg, key, jobs))),
  });
  const pair = new Pair({}, { provider, asyncCrypto: true, maxPipelines: 8 });
  pair.start();
  await pair.driveAsync();
  const data = Uint8Array.from({ length: 8 * 16384 }, (_, i) => (i * 31) & 0xff);
  pair.input('client', { type: 'write', now: NOW, data });
  const moved = compactParts.moved;
  const before = pair.delivered.server.length;
  pair.input('server', { type: 'received', now: NOW, data: Buffer.concat(pair.inbox.server.splice(0)) });
  await pair.driveAsync();
  const got = pair.delivered.server.slice(before);
  t.deepEqual(Buffer.concat(got), Buffer.from(data));
  t.true(got.every((g) => resultBuffers.includes(g.buffer)), 'views of the batch\'s own result buffer: no copy');
  if (shared) {
    // V8 moves shared memory byte by byte at such distances: each record is delivered where it lies.
    t.is(got.length, 8, 'one deliver per record');
    t.is(compactParts.moved, moved, 'nothing moved');
  } else {
    t.is(got.length, 1, 'one deliver for the batch');
    t.true(compactParts.moved - moved >= 7 * 16384, 'the other seven records were moved in place');
  }
}
