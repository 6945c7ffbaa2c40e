/**
 * Short campaigns of the malicious-peer fuzz targets (`targets.ts`; `npm run fuzz` runs long ones): inputs
 * authenticated under the peer's keys never make a reducer throw or close with an internal error, and they reach
 * many different checks (each target's victims end in many distinct ways, so the inputs get past the first parser).
 */
import test from 'ava';
import { dtlsRecords, handshake, Outcomes, quicFrames, tlsRecords, type FuzzTarget } from './targets.js';

const campaign = (target: FuzzTarget, runs: number, minOutcomes: number) =>
  test(`fuzz ${target.name}: ${runs} hostile runs per scenario from an authenticated peer, no throw, no internal error`, (t) => {
    const outcomes = new Outcomes();
    target.run(runs, 20261205, outcomes);
    t.true(outcomes.steps >= runs, `${outcomes.steps} inputs reduced`);
    t.true(outcomes.counts.size >= minOutcomes, `${outcomes.counts.size} distinct outcomes: ${[...outcomes.counts.keys()].slice(0, 8).join('; ')}`);
    t.false([...outcomes.counts.keys()].some((k) => / internal /.test(k)));
  });

campaign(quicFrames, 400, 20);
campaign(handshake, 150, 30);
campaign(tlsRecords, 300, 20);
campaign(dtlsRecords, 300, 20);
