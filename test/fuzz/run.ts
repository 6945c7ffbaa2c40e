/**
 * `npm run fuzz -- [runs] [seed] [target…]`: long fuzz campaigns of the malicious-peer targets (`targets.ts`).
 * Defaults: 5 000 runs per scenario, a seed from the clock (printed, so a finding can be replayed), every target.
 * Prints per target the inputs reduced, the slowest single input and how the victims ended; exits 1 on a defect,
 * with fast-check's shrunk counterexample and seed.
 */
import { Outcomes, targets } from './targets.js';

const [runsArg, seedArg, ...names] = process.argv.slice(2);
const runs = Number(runsArg ?? 5_000);
const seed = Number(seedArg ?? Date.now() % 2 ** 31);
const chosen = names.length ? targets.filter((t) => names.includes(t.name)) : targets;
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed) || chosen.length === 0) {
  process.stderr.write(`usage: npm run fuzz -- [runs] [seed] [${targets.map((t) => t.name).join('|')} …]\n`);
  process.exit(2);
}
let failed = false;
for (const target of chosen) {
  const outcomes = new Outcomes();
  const t0 = performance.now();
  try {
    target.run(runs, seed, outcomes);
  } catch (err) {
    failed = true;
    process.stdout.write(`${target.name}: DEFECT (seed ${seed})\n${err instanceof Error ? err.message : String(err)}\n`);
    continue;
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${target.name}: ${runs} runs per scenario, seed ${seed}, ${outcomes.steps} inputs in ${seconds.toFixed(1)} s, slowest input ${outcomes.slowestMs.toFixed(1)} ms, ${outcomes.counts.size} distinct outcomes\n`,
  );
  process.stdout.write(`  slowest: ${outcomes.slowest.slice(0, 200)}\n`);
  for (const [key, n] of [...outcomes.counts].sort((a, b) => b[1] - a[1]).slice(0, 12)) process.stdout.write(`  ${String(n).padStart(7)}  ${key}\n`);
}
process.exit(failed ? 1 : 0);
