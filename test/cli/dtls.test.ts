/**
 * `rxtls server --dtls` and `rxtls client --dtls` over UDP on 127.0.0.1: one stdin line is one record, echoed
 * back by `--echo`; stdin EOF sends close_notify and the client exits 0 once both went. Spawned as a bundle
 * under deadlines.
 */
import test from 'ava';
import { certPath, cliServerPort, describeRun, runCli, startCliServer } from '../helpers/peers.js';

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
