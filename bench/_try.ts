import { createWorkerPoolProvider } from '../src/crypto/workers.js';
const p = createWorkerPoolProvider();
const key = new Uint8Array(16);
const jobs = Array.from({length: 8}, (_, i) => ({ nonce: new Uint8Array(12).fill(i), aad: new Uint8Array(5), data: new Uint8Array(16384).fill(i) }));
const sealed = await p.batch.sealBatch('aes-128-gcm', key, jobs);
console.log(sealed.length, sealed[0].length);
const opened = await p.batch.openBatch('aes-128-gcm', key, jobs.map((j, i) => ({ ...j, data: sealed[i] })));
console.log(opened.map(o => o && o[0]));
