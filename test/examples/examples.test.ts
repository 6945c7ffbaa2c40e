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

test('examples/quic-echo.ts: a stream over QUIC on UDP is echoed upper-cased, then closed with a code', async (t) => {
  const r = await example('quic-echo.ts', ['ping from the test']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^\[client\] sent "ping from the test", got "PING FROM THE TEST"$/m);
  t.regex(r.stdout, /^\[server\] peer closed: peer closed with application error 0x2a: done$/m);
  t.regex(r.stdout, /^quic-echo: done$/m);
});
