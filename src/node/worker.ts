/**
 * The worker-thread entry of the worker-pool provider ({@link createWorkerPoolProvider} in `workers.ts`): takes
 * part in every batch the pool publishes (`dispatch.ts` for how batches reach it, `batchBuffer.ts` for how a
 * batch's records are shared out) and posts a batch's `id` back when it finished the batch's last record.
 *
 * The thread runs one loop and never returns to its event loop: it reads its messages itself
 * (`receiveMessageOnPort`: buffer and slab registrations, and batches sent as messages when the ring was full),
 * works through the ring, and sleeps on the doorbell (`Atomics.wait`) when there is nothing left. `terminate()`
 * interrupts the wait.
 *
 * Not a public module: the pool starts it as a `worker_threads` Worker. It imports nothing from the protocol
 * cores, so it starts fast: the pool's engine only (noble, or node:crypto with `engine: 'node'`).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { batchControl, nobleAead, workOn, type BatchDone, type BatchMessage, type RegisterMessage, type WorkerStart } from './batchBuffer.js';
import { RING, WAKE_FIRST, dispatchWords, nextSeq, readEntry, seqDistance, snapshot, waitForWork, wake } from './dispatch.js';
import { nodeAead } from './nodeAead.js';

/**
 * An idle worker looks at the doorbell again after this long even if it never rang: a safety net only (every
 * entry and message rings it).
 */
const IDLE_WAIT_MS = 10_000;

const port = parentPort;
if (port) {
  const data = workerData as WorkerStart;
  const aead = data.engine === 'node' ? nodeAead : nobleAead;
  const counts = new Int32Array(data.stats);
  const words = dispatchWords(data.dispatch);
  const buffers = [...data.buffers];
  const registrations = [...data.registrations];
  const slabs = data.slabs.map((b) => new Uint8Array(b));
  const onRecord = () => void Atomics.add(counts, data.slot, 1);
  const slabAt = (i: number): Uint8Array | undefined => slabs[i];
  const run = (msg: BatchMessage) => {
    if (workOn(msg, onRecord, aead, slabAt)) port.postMessage(msg.id satisfies BatchDone);
  };
  /** Registrations first; a batch that came as a message is worked on as it comes. */
  const readMessages = () => {
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      const msg = m.message as BatchMessage | RegisterMessage;
      if (!('table' in msg)) {
        run(msg);
      } else if (msg.table === 'slabs') {
        slabs[msg.index] = new Uint8Array(msg.buf!);
      } else {
        buffers[msg.index] = msg.buf;
        registrations[msg.index] = msg.registration;
      }
    }
  };
  let cursor = data.tail;
  const loop = () => {
    for (;;) {
      const { bell, tail } = snapshot(words);
      readMessages();
      // Entries overwritten already carried finished batches: start from the oldest one still in the ring.
      if (seqDistance(cursor, tail) > RING) cursor = (tail - RING) | 0;
      for (; cursor !== tail; cursor = nextSeq(cursor)) {
        const entry = readEntry(words, cursor);
        if (!entry) continue;
        // The registration an entry names is posted before the entry is written; should it not be read yet, it
        // is read now. An entry whose buffer is registered anew since carried a finished batch: the buffer is
        // registered again (or dropped) only once free, and its generation check would skip it anyway.
        if (registrations[entry.buffer] !== entry.registration) readMessages();
        const buf = registrations[entry.buffer] === entry.registration ? buffers[entry.buffer] : undefined;
        if (!buf) continue;
        // The main thread woke only the first threads: each thread that finds records left for more threads wakes
        // up to two more, so the wake-ups spread as a tree and cost the main thread the same whatever the pool's size.
        const ctl = batchControl(buf);
        const left = ctl.gen === entry.id ? entry.count - ctl.next - 1 : 0;
        if (left > 0) wake(words, Math.min(WAKE_FIRST, left));
        run({ id: entry.id, op: entry.op, alg: entry.alg, key: entry.key, buf, count: entry.count });
      }
      waitForWork(words, bell, IDLE_WAIT_MS);
    }
  };
  // After this module's evaluation: the loop never ends.
  setImmediate(loop);
}
