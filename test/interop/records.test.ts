/**
 * Record sizes on the wire, as OpenSSL sees them: an rxtls server with `splitSendFragment` / `maxSendFragment`
 * (OpenSSL's split_send_fragment / max_send_fragment) sends one large write to `openssl s_client -msg`, and the
 * application-data records s_client logs are counted and measured. Plus RFC 8449 record_size_limit towards a
 * peer that does not implement it (OpenSSL 3.0): the limit is not in effect, full-size records must still be
 * accepted. (The limit itself, negotiated, is checked in test/tls/pipeline.test.ts.)
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  TEST_MS,
  clientExchange,
  describeRun,
  drive,
  opensslCertArgs,
  payload,
  runOpenssl,
  rxClient,
  sClientQuietArgs,
  serverPem,
  sha256,
  startBriefSServer,
  startListener,
  tempDir,
  withTimeout,
} from '../helpers/peers.js';
import { createWorkerPoolProvider } from '../../src/node/workers.js';
import type { ServerOptions } from '../../src/rx/types.js';

/** AEAD tag (16 B) + the inner content type byte (RFC 8446 §5.2). */
const OVERHEAD = 17;
const listenCert = serverPem();

const pool = createWorkerPoolProvider({ size: 2 });
test.after.always(() => pool.close());

/**
 * Protected application-data records in an OpenSSL `-msg` log, in one direction (`<<<` received, `>>>` sent):
 * the length from each record header (`17 03 03 LL LL`) whose inner content type is application_data (`17`).
 */
function applicationRecords(log: string, dir: '<<<' | '>>>'): number[] {
  const out: number[] = [];
  const d = dir;
  const re = new RegExp(
    `^${d} TLS 1\\.2, RecordHeader \\[length 0005\\]\\r?\\n\\s+17 03 03 ([0-9a-f]{2}) ([0-9a-f]{2})\\s*\\r?\\n${d} TLS 1\\.[23], InnerContent \\[length 0001\\]\\r?\\n\\s+17\\s*$`,
    'gm',
  );
  for (const m of log.matchAll(re)) out.push(parseInt(m[1]! + m[2]!, 16));
  return out;
}

/** The record sizes (ciphertext lengths) a write of `n` bytes becomes with records of at most `max` bytes. */
function expectedSizes(n: number, max: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < n; o += max) out.push(Math.min(max, n - o) + OVERHEAD);
  return out;
}

/**
 * An rxtls server with `options` sends `n` bytes in ONE write to `s_client -msg`; resolves s_client's view:
 * the application records it received and the bytes it printed.
 */
async function serveOneWrite(t: ExecutionContext, options: Partial<ServerOptions>, n: number) {
  const data = payload(n);
  const l = await startListener({ ...listenCert, ticketer: false, ...options }, t);
  const msgFile = path.join(tempDir(t, 'rxtls-records-'), 'msg.log');
  // -quiet: stdout is the data only (and it waits for our close_notify, answering with its own).
  const client = runOpenssl(sClientQuietArgs(l.port, ['-msg', '-msgfile', msgFile]), { owner: t });
  const conn = await l.accept();
  await withTimeout(drive(conn, { send: [data], keep: false }), 30_000, 'send to s_client');
  const r = await client;
  t.is(r.code, 0, describeRun('s_client', { ...r, stdout: `${r.stdoutBytes.length} bytes` }));
  t.is(sha256(r.stdoutBytes), sha256(data), 's_client received the data intact');
  const log = readFileSync(msgFile, 'latin1');
  return { received: applicationRecords(log, '<<<'), log };
}

const N = 100_000;

test('splitSendFragment 1000: s_client -msg receives 100 application records of 1000 bytes', async (t) => {
  t.timeout(TEST_MS);
  const { received, log } = await serveOneWrite(t, { splitSendFragment: 1000 }, N);
  t.deepEqual(received, expectedSizes(N, 1000), log.slice(0, 3000));
  t.is(received.length, 100);
});

test('maxSendFragment 4096: s_client -msg receives records of at most 4096 bytes (24 full, one of 1696)', async (t) => {
  t.timeout(TEST_MS);
  const { received, log } = await serveOneWrite(t, { maxSendFragment: 4096 }, N);
  t.deepEqual(received, expectedSizes(N, 4096), log.slice(0, 3000));
  t.is(received.length, 25);
  t.is(received.at(-1), 1696 + OVERHEAD);
});

test('default: one write of 100 000 bytes is 6 full 16 KiB records and the rest', async (t) => {
  t.timeout(TEST_MS);
  const { received } = await serveOneWrite(t, {}, N);
  t.deepEqual(received, expectedSizes(N, 16384));
});

test('asyncCrypto on the worker pool, splitSendFragment 1000, maxPipelines 8: same records, in order', async (t) => {
  t.timeout(TEST_MS);
  // The data SHA-256 compared by serveOneWrite shows the batches left in sequence order.
  const { received } = await serveOneWrite(t, { provider: pool, asyncCrypto: true, maxPipelines: 8, splitSendFragment: 1000 }, N);
  t.deepEqual(received, expectedSizes(N, 1000));
});

test('record_size_limit towards OpenSSL (which ignores RFC 8449): full-size records from s_server are accepted', async (t) => {
  t.timeout(TEST_MS);
  // -brief: stdout is the data received.
  const msgFile = path.join(tempDir(t, 'rxtls-records-'), 'msg.log');
  const { peer, port } = await startBriefSServer(['-msg', '-msgfile', msgFile, ...opensslCertArgs('ec')], { owner: t });
  const down = payload(N);
  const done = clientExchange(
    rxClient(port, { recordSizeLimit: 1024 }),
    { send: 'hi', closeAfterBytes: N, keep: false, owner: t, timeoutMs: 30_000 },
  );
  // s_server sends its stdin once the handshake is done; written now, it waits in the pipe.
  peer.write(down);
  const tr = await done;
  t.is(tr.receivedSha256, sha256(down));
  await withTimeout(peer.exited, 20_000, 's_server exit');
  // OpenSSL did not agree to the limit: its records towards us were full size (16 KiB + overhead).
  const sent = applicationRecords(readFileSync(msgFile, 'latin1'), '>>>');
  t.true(sent.some((n) => n > 1024 + OVERHEAD), `OpenSSL sent records over the unnegotiated limit: ${sent.join(' ')}`);
  t.is(peer.stdout(), 'hi');
});
