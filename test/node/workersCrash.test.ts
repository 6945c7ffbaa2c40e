import { Worker } from 'node:worker_threads';
import test from 'ava';
import { createWorkerPoolProvider } from '../../src/node/workers.js';

// In a file of its own: the test replaces `Worker.prototype.postMessage` for a moment, which would touch any
// other pool running in the same test worker.

const key = new Uint8Array(16).fill(7);
const jobs = Array.from({ length: 4 }, (_, i) => ({ nonce: new Uint8Array(12).fill(i), aad: new Uint8Array(5), data: new Uint8Array(1000).fill(i) }));

test('workers: a crashed worker rejects the batches in flight, and the next batch restarts it', async (t) => {
  const p = createWorkerPoolProvider({ size: 2 });
  t.teardown(() => p.close());
  const expected = await p.batch.sealBatch('aes-128-gcm', key, jobs);
  t.is(p.stats().threads, 2);

  // Every worker gets a message that is not a batch: each throws and dies, so the batch can never finish.
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker) {
    post.call(this, { id: -1 });
  };
  let inFlight: Promise<unknown>;
  try {
    inFlight = p.batch.sealBatch('aes-128-gcm', key, jobs);
  } finally {
    Worker.prototype.postMessage = post;
  }
  await t.throwsAsync(inFlight, { instanceOf: Error, message: /crypto worker failed: .*atomic/i });
  // Both threads die (each reports on its own; a batch posted to a thread still dying would be rejected too).
  for (let i = 0; i < 500 && p.stats().threads > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(p.stats().threads, 0, 'both crashed threads left the pool');
  // The dead workers' slots are empty until the next batch, which starts new threads and succeeds.
  t.deepEqual(await p.batch.sealBatch('aes-128-gcm', key, jobs), expected);
  t.is(p.stats().threads, 2);
});
