/**
 * The worker-thread entry of the worker-pool provider ({@link createWorkerPoolProvider} in `workers.ts`):
 * takes part in every batch posted to it (see `batchBuffer.ts` for the protocol) and posts a batch's `id`
 * back when it finished the batch's last record.
 *
 * Not a public module: the pool starts it as a `worker_threads` Worker. It imports nothing from the protocol
 * cores, so it starts fast: the pool's engine only (noble, or node:crypto with `engine: 'node'`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nobleAead, workOn, type BatchDone, type BatchMessage, type SlabMessage } from './batchBuffer.js';
import { nodeAead } from './nodeAead.js';

const port = parentPort;
if (port) {
  // Records processed per worker, for the pool's stats (one Int32 per worker slot); the shared result slabs the
  // pool registered before this worker started (later ones come as messages, before any batch that uses them).
  const data = workerData as { stats: SharedArrayBuffer; slot: number; engine: 'noble' | 'node'; slabs: readonly SharedArrayBuffer[] };
  const aead = data.engine === 'node' ? nodeAead : nobleAead;
  const counts = new Int32Array(data.stats);
  const slabs = data.slabs.map((b) => new Uint8Array(b));
  const onRecord = () => void Atomics.add(counts, data.slot, 1);
  const slabAt = (i: number): Uint8Array | undefined => slabs[i];
  port.on('message', (msg: BatchMessage | SlabMessage) => {
    if ('slab' in msg) {
      slabs[msg.slab] = new Uint8Array(msg.buf);
      return;
    }
    if (workOn(msg, onRecord, aead, slabAt)) port.postMessage(msg.id satisfies BatchDone);
  });
}
