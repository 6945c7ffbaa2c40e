import { Worker } from 'node:worker_threads';
import test from 'ava';
import { createWorkerPoolProvider } from '../../src/node/workers.js';

// In a file of its own: the test replaces `Worker.prototype.postMessage` for a moment, which would touch any
// other pool running in the same test worker.

const key = new Uint8Array(16).fill(7);
const jobsOf = (size: number) => Array.from({ length: 4 }, (_, i) => ({ nonce: new Uint8Array(12).fill(i), aad: new Uint8Array(5), data: new Uint8Array(size).fill(i) }));
const jobs = jobsOf(1000);

test('workers: a crashed worker rejects the batches in flight, and the next batch restarts it', async (t) => {
  const p = createWorkerPoolProvider({ size: 2 });
  t.teardown(() => p.close());
  const expected = await p.batch.sealBatch('aes-128-gcm', key, jobs);
  t.is(p.stats().threads, 2);

  // A batch too large for the pool's one buffer registers a new one with both running workers: each gets a
  // message that is neither a registration nor a batch instead, throws and dies, so the batch can never finish.
  const post = Worker.prototype.postMessage;
  let posted = 0;
  Worker.prototype.postMessage = function (this: Worker) {
    posted++;
    post.call(this, { id: -1 });
  };
  let inFlight: Promise<unknown>;
  try {
    inFlight = p.batch.sealBatch('aes-128-gcm', key, jobsOf(20_000));
  } finally {
    Worker.prototype.postMessage = post;
  }
  t.is(posted, 2, 'one registration per running worker');
  await t.throwsAsync(inFlight, { instanceOf: Error, message: /crypto worker failed: .*atomic/i });
  // Both threads die (each reports on its own; a batch posted to a thread still dying would be rejected too).
  for (let i = 0; i < 500 && p.stats().threads > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(p.stats().threads, 0, 'both crashed threads left the pool');
  // The dead workers' slots are empty until the next batch, which starts new threads and succeeds; the rejected
  // batch's buffer is not registered any more (a worker could still have been writing into it).
  t.deepEqual(await p.batch.sealBatch('aes-128-gcm', key, jobs), expected);
  t.is(p.stats().threads, 2);
  t.is(p.stats().buffersRegistered, 1);
  t.is((await p.batch.sealBatch('aes-128-gcm', key, jobsOf(20_000))).length, 4);
});
