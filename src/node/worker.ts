/**
 * The worker-thread entry of the worker-pool provider ({@link createWorkerPoolProvider} in `workers.ts`):
 * takes part in every batch posted to it (see `batchBuffer.ts` for the protocol) and posts a batch's `id`
 * back when it finished the batch's last record.
 *
 * Not a public module: the pool starts it as a `worker_threads` Worker. It imports nothing from the protocol
 * cores, so it starts fast: the pool's engine only (noble, or node:crypto with `engine: 'node'`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nobleAead, workOn, type BatchDone, type BatchMessage } from './batchBuffer.js';
import { nodeAead } from './nodeAead.js';

const port = parentPort;
if (port) {
  // Records processed per worker, for the pool's stats (one Int32 per worker slot).
  const { stats, slot, engine } = workerData as { stats: SharedArrayBuffer; slot: number; engine: 'noble' | 'node' };
  const aead = engine === 'node' ? nodeAead : nobleAead;
  const counts = new Int32Array(stats);
  const onRecord = () => void Atomics.add(counts, slot, 1);
  port.on('message', (msg: BatchMessage) => {
    if (workOn(msg, onRecord, aead)) port.postMessage(msg.id satisfies BatchDone);
  });
}
