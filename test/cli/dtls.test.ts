/**
 * `rxtls server --dtls` and `rxtls client --dtls` over UDP on 127.0.0.1: one stdin line is one record, echoed
 * back by `--echo`; stdin EOF sends close_notify and the client exits 0 once both went. Spawned as a bundle
 * under deadlines.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { certPath, cliServerPort, describeRun, runCli, startCliServer, tempDir } from '../helpers/peers.js';

const TIMEOUT_MS = 40_000;

test('rxtls client --dtls ↔ rxtls server --dtls --echo: lines come back, both exit cleanly', async (t) => {
  t.timeout(TIMEOUT_MS * 2);
  const server = await startCliServer(
    ['server', '--dtls', '--port', '0', '--cert', certPath('server-ec-chain.pem'), '--key', certPath('server-ec-key.pem'), '--echo', '--alpn', 'echo', '--naccept', '1'],
    { timeoutMs: TIMEOUT_MS, owner: t },
  );
  const port = cliServerPort(server);
  const r = await runCli(
    ['client', '--dtls', `127.0.0.1:${port}`, '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost', '--alpn', 'echo', '--mtu', '1200'],
    'hello over dtls\nsecond line\n',
    { timeoutMs: TIMEOUT_MS, owner: t },
  );
  t.false(r.timedOut, describeRun('rxtls client --dtls', r));
  t.is(r.code, 0, describeRun('rxtls client --dtls', r));
  t.is(r.stdout, 'hello over dtls\nsecond line\n');
  t.regex(r.stderr, /^CONNECTED 127\.0\.0\.1:\d+ \(DTLS\)$/m);
  t.regex(r.stderr, /^ALPN: echo$/m);
  t.regex(r.stderr, /^Verification: ok$/m);
  t.regex(r.stderr, /closed cleanly/);
  await server.kill();
  t.regex(server.stderr(), /^CONNECTION 1 \(DTLS\)$/m);
});

test('rxtls client --dtls --sess-out, then --sess-in: the second connection resumes (DTLS 1.3 and DTLS 1.2)', async (t) => {
  t.timeout(TIMEOUT_MS * 4);
  for (const version of ['--dtls1_3', '--dtls1_2']) {
    const server = await startCliServer(
      ['server', version, '--port', '0', '--cert', certPath('server-ec-chain.pem'), '--key', certPath('server-ec-key.pem'), '--echo', '--naccept', '2'],
      { timeoutMs: TIMEOUT_MS, owner: t },
    );
    const port = cliServerPort(server);
    const session = path.join(tempDir(t), 'session.pem');
    const client = (extra: string[]) =>
      runCli(['client', version, `127.0.0.1:${port}`, '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost', ...extra], 'once\n', { timeoutMs: TIMEOUT_MS, owner: t });
    const first = await client(['--sess-out', session]);
    t.is(first.code, 0, describeRun('rxtls client --sess-out', first));
    t.regex(first.stderr, /^Resumed: no$/m);
    t.regex(first.stderr, /session saved to /);
    t.regex(readFileSync(session, 'utf8'), /RXTLS SESSION/);
    const second = await client(['--sess-in', session]);
    t.is(second.code, 0, describeRun('rxtls client --sess-in', second));
    t.is(second.stdout, 'once\n');
    t.regex(second.stderr, /^Resumed: yes$/m, version);
    t.regex(second.stderr, new RegExp(`^Protocol: ${version === '--dtls1_3' ? 'DTLSv1.3' : 'DTLSv1.2'}$`, 'm'));
    await server.kill();
  }
});
