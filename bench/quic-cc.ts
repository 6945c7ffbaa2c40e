/**
 * NewReno against CUBIC in virtual time (not part of `npm test`): a bulk transfer over an in-memory QUIC pair
 * (`test/helpers/bulk.ts`) through a bottleneck with a BDP-sized drop-tail queue and seeded random loss both
 * ways. Prints a markdown table: virtual completion time, goodput and bytes sent. Wall time only runs it.
 *
 *   node --no-warnings --loader=ts-node/esm bench/quic-cc.ts [MB=8] [rtt=50] [rate=10000] [loss%…=0,0.1,1] [seed=9438]
 */
import { bulkTransfer } from '../test/helpers/bulk.js';

const mb = Number(process.argv[2] ?? 8);
const rtt = Number(process.argv[3] ?? 50);
const rate = Number(process.argv[4] ?? 10_000);
const losses = (process.argv[5] ?? '0,0.1,1').split(',').map(Number);
const seed = Number(process.argv[6] ?? 9438);
const bytes = Math.round(mb * (1 << 20));
const bdp = rate * rtt;

console.log(`${mb} MiB, RTT ${rtt} ms, bottleneck ${rate / 1000} MB/s, queue ${bdp} B (1 BDP), loss seed ${seed}\n`);
console.log('| loss | controller | virtual ms | goodput MB/s | bytes sent | × payload | random drops | queue drops |');
console.log('|---:|---|---:|---:|---:|---:|---:|---:|');
for (const loss of losses) {
  for (const control of ['newreno', 'cubic'] as const) {
    const r = bulkTransfer(bytes, { rtt, rate, queueBytes: bdp, loss: loss / 100, seed }, control);
    if (!r.complete) throw new Error(`${control} at ${loss} %: incomplete`);
    const goodput = bytes / r.ms / 1000;
    console.log(`| ${loss} % | ${control} | ${Math.round(r.ms)} | ${goodput.toFixed(2)} | ${r.bytesSent} | ${(r.bytesSent / bytes).toFixed(3)} | ${r.droppedRandom} | ${r.droppedQueue} |`);
  }
}
