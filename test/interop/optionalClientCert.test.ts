/**
 * Optional client certificates (node:tls semantics) against `openssl s_client` on 127.0.0.1: an rxtls server
 * with `requestCert: true, rejectUnauthorized: false` accepts a client without a certificate, with a
 * certificate the CA issued, and with one it did not, and reports which (`info.verification`,
 * `info.verificationError`); with `rejectUnauthorized` (the default) the untrusted one is refused.
 */
import test, { type ExecutionContext } from 'ava';
import { certPath, certText, describeRun, drive, requirePeer, run, startListener, withTimeout } from '../helpers/peers.js';

const TEST_MS = 60_000;
const PEER_MS = 50_000;
const server = { cert: certText('server-ec-chain.pem'), key: certText('server-ec-key.pem'), ca: certText('ca-cert.pem'), requestCert: true };

function sClient(t: ExecutionContext, port: number, args: readonly string[]) {
  return run(
    requirePeer('openssl'),
    ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-CAfile', certPath('ca-cert.pem'), '-servername', 'localhost', '-verify_return_error', '-ign_eof', ...args],
    { stdin: 'x', timeoutMs: PEER_MS, owner: t },
  );
}

const cases = [
  { name: 'without -cert', args: [] as string[], verification: 'none', code: undefined },
  { name: 'with -cert issued by the CA', args: ['-cert', certPath('client-cert.pem'), '-key', certPath('client-key.pem')], verification: 'ok', code: undefined },
  { name: 'with an untrusted -cert', args: ['-cert', certPath('self-ec-cert.pem'), '-key', certPath('self-ec-key.pem')], verification: 'failed', code: 'unknown_ca' },
] as const;

for (const c of cases) {
  test(`s_client ${c.name} → rxtls server, requestCert and rejectUnauthorized false: accepted, verification ${c.verification}`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener({ ...server, rejectUnauthorized: false }, t);
    const client = sClient(t, l.port, c.args);
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { closeAfterBytes: 1, reply: 'y' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.is(tr.info.verification, c.verification);
    t.is(tr.info.verificationError?.code, c.code);
    t.is(tr.info.peerCertificates.length > 0, c.args.length > 0);
  });
}

test('s_client with an untrusted -cert → rxtls server with rejectUnauthorized (default): unknown_ca', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener(server, t);
  const r = await sClient(t, l.port, cases[2].args);
  t.not(r.code, 0, describeRun('s_client', r));
  t.regex(r.stdout + r.stderr, /alert unknown ca/);
  t.is(l.errors[0]?.alert, 48);
});
