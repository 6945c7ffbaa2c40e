/**
 * External PSKs (RFC 8446 §4.2.11) against OpenSSL 3 on 127.0.0.1, both directions, with the command lines
 * OpenSSL documents: `s_server -psk HEX -psk_identity ID -nocert` and `s_client -psk HEX -psk_identity ID`
 * (OpenSSL 3.0 binds such a PSK to SHA-256 and TLS_AES_128_GCM_SHA256). psk_dhe_ke by default, psk_ke with
 * `-allow_no_dhe_kex`. No certificate takes part: the rxtls client has no CA and the rxtls server no cert.
 */
import test, { type ExecutionContext } from 'ava';
import { cliServerPort, clientExchange, describeRun, drive, requirePeer, run, runCli, startCliServer, startListener, startSServer, withTimeout } from '../helpers/peers.js';
import { parseSummary } from '../../src/cli/args.js';
import type { ConnectOptions } from '../../src/rx/types.js';

const TEST_MS = 60_000;
const PEER_MS = 50_000;
const KEY = '0123456789abcdef0123456789abcdef';
const ID = 'rxtls-psk-test';
const GET = 'GET / HTTP/1.0\r\n\r\n';

/** rxtls client options offering the PSK (a CA is still given, in case the server answers with a certificate). */
const pskClient = (port: number, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  host: '127.0.0.1',
  port,
  servername: 'localhost',
  psk: { identity: ID, key: KEY },
  ...extra,
});

async function pskServer(t: ExecutionContext, extra: readonly string[] = []) {
  return startSServer(['-psk', KEY, '-psk_identity', ID, '-nocert', '-naccept', '1', '-www', ...extra], { timeoutMs: PEER_MS, owner: t });
}

test('rxtls client → s_server -psk -nocert (psk_dhe_ke): the PSK authenticates, no certificates', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await pskServer(t);
  const tr = await clientExchange(pskClient(port), { send: GET, waitForPeerClose: true, owner: t });
  t.is(tr.info.pskIdentity, ID);
  t.is(tr.info.cipherSuite, 'TLS_AES_128_GCM_SHA256');
  t.deepEqual(tr.info.peerCertificates, []);
  t.is(tr.info.verification, 'none');
  t.false(tr.info.resumed);
  t.is(tr.info.group, 'X25519');
  // The -www page is OpenSSL's own account of the connection.
  t.regex(tr.received.toString(), /HTTP\/1\.0 200 ok/i, peer.output());
  t.regex(tr.received.toString(), /TLS_AES_128_GCM_SHA256/);
});

test('rxtls client → s_server -psk -allow_no_dhe_kex: psk_ke (no key share, no group)', async (t) => {
  t.timeout(TEST_MS);
  const { peer, port } = await pskServer(t, ['-allow_no_dhe_kex']);
  const tr = await clientExchange(pskClient(port, { pskModes: ['psk_ke'] }), { send: GET, waitForPeerClose: true, owner: t });
  t.is(tr.info.pskIdentity, ID);
  t.is(tr.info.group, undefined, peer.output());
  t.regex(tr.received.toString(), /HTTP\/1\.0 200 ok/i);
});

test('rxtls client with the wrong key → s_server refuses the binder', async (t) => {
  t.timeout(TEST_MS);
  const { port } = await pskServer(t);
  const err = await t.throwsAsync(clientExchange(pskClient(port, { psk: { identity: ID, key: KEY.replace(/^01/, '10') } }), { send: GET, owner: t }));
  t.regex(String(err?.message), /alert/);
});

async function sClientPsk(t: ExecutionContext, port: number, key: string, extra: readonly string[] = []) {
  const openssl = requirePeer('openssl');
  return run(openssl, ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-psk', key, '-psk_identity', ID, '-ign_eof', ...extra], {
    stdin: 'hello\n',
    timeoutMs: PEER_MS,
    owner: t,
  });
}

for (const mode of ['psk_dhe_ke', 'psk_ke'] as const) {
  test(`s_client -psk → rxtls server with no certificate (${mode})`, async (t) => {
    t.timeout(TEST_MS);
    const l = await startListener({ psks: [{ identity: ID, key: KEY }], ...(mode === 'psk_ke' ? { pskModes: ['psk_ke'] } : {}) }, t);
    const client = sClientPsk(t, l.port, KEY, mode === 'psk_ke' ? ['-allow_no_dhe_kex'] : []);
    const conn = await l.accept();
    const tr = await withTimeout(drive(conn, { closeAfterBytes: 6, reply: 'psk ok\n' }), 20_000, 'serve');
    const r = await client;
    t.is(r.code, 0, describeRun('s_client', r));
    t.is(tr.received.toString(), 'hello\n');
    t.is(tr.info.pskIdentity, ID);
    t.is(tr.info.cipherSuite, 'TLS_AES_128_GCM_SHA256');
    t.is(tr.info.group, mode === 'psk_ke' ? undefined : 'X25519');
    t.regex(r.stdout, /psk ok/);
    t.regex(r.stdout, /Cipher is TLS_AES_128_GCM_SHA256/);
  });
}

test('s_client -psk with the wrong key → rxtls server: decrypt_error', async (t) => {
  t.timeout(TEST_MS);
  const l = await startListener({ pskCallback: (id) => (id === ID ? KEY : undefined) }, t);
  const r = await sClientPsk(t, l.port, KEY.replace(/^01/, '10'));
  t.not(r.code, 0, describeRun('s_client', r));
  t.regex(r.stdout + r.stderr, /decrypt error/);
  t.is(l.errors[0]?.alert, 51);
});

test('rxtls CLI: client --psk --psk-identity → s_server -psk -nocert; s_client -psk → CLI server --psk without --cert', async (t) => {
  t.timeout(TEST_MS);
  const { port } = await pskServer(t);
  const r = await runCli(['client', `127.0.0.1:${port}`, '--psk', KEY, '--psk-identity', ID], GET, { owner: t });
  t.is(r.code, 0, describeRun('rxtls client', r));
  t.regex(r.stdout, /^HTTP\/1\.0 200 ok\r\n/);
  t.is(parseSummary(r.stderr)['PSK identity'], ID);
  t.is(parseSummary(r.stderr).Peer, '(no certificate)');

  const server = await startCliServer(['server', '--port', '0', '--psk', KEY, '--psk-identity', ID, '--www', '--naccept', '1'], { timeoutMs: PEER_MS, owner: t });
  const openssl = requirePeer('openssl');
  const c = await run(openssl, ['s_client', '-connect', `127.0.0.1:${cliServerPort(server)}`, '-tls1_3', '-psk', KEY, '-psk_identity', ID, '-ign_eof'], {
    stdin: GET,
    timeoutMs: PEER_MS,
    owner: t,
  });
  t.is(c.code, 0, describeRun('s_client', c));
  t.regex(c.stdout, /HTTP\/1\.0 200 OK/);
  t.regex(c.stdout, /PSK identity: rxtls-psk-test/);
});
