/**
 * The examples run as users run them (ts-node, from the repository) and do what they print.
 */
import test from 'ava';
import { run, repoRoot } from '../helpers/peers.js';

const example = (file: string, args: readonly string[]) =>
  run(process.execPath, ['--no-warnings', '--loader=ts-node/esm', `examples/${file}`, ...args], { timeoutMs: 90_000, cwd: repoRoot });

for (const provider of ['noble', 'node', 'workers'] as const) {
  test(`examples/bulk.ts: 4 MiB through a slow consumer with the ${provider} provider`, async (t) => {
    const r = await example('bulk.ts', ['4', provider]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`^${provider}( \\(asyncCrypto\\))?: 4 MiB in [\\d.]+ s = [\\d.]+ MB/s$`, 'm'));
    t.regex(r.stdout, /^largest gap producer → consumer: [\d.]+ MiB/m);
  });
}

test('examples/bulk.ts: bad arguments are a usage error', async (t) => {
  const r = await example('bulk.ts', ['-1', 'noble']);
  t.is(r.code, 2);
  t.regex(r.stderr, /usage: bulk\.ts/);
});
