/**
 * The node:tls options and connection facts of `connect` / `listen` on DTLS (`secureDatagrams` in virtual time,
 * `dtlsConnect` ↔ `dtlsListen` over UDP) and QUIC (`quicConnect` ↔ `quicListen` over UDP): `pfx` + `passphrase`,
 * `checkServerIdentity`, `verifier`, `info.peerCertificate`, and `exportKeyingMaterial` — both ends equal, and
 * equal to RFC 8446 §7.5 computed here with node:crypto from the key-logged EXPORTER_SECRET, with the `"dtls13"`
 * label prefix for DTLS (RFC 9147 §5.9) and `"tls13 "` for QUIC.
 */
import test from 'ava';
import { X509Certificate, createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { firstValueFrom, of, timeout } from 'rxjs';
import { TlsError } from '../../src/core/errors.js';
import { memoryDatagramPair } from '../../src/rx/datagram.js';
import { dtlsConnect, dtlsListen } from '../../src/rx/dtls.js';
import type { DtlsClientOptions, DtlsConnection, DtlsServerOptions } from '../../src/rx/dtlsTypes.js';
import { quicConnect, quicListen, type QuicConnection } from '../../src/rx/quic.js';
import { secureDatagrams } from '../../src/rx/secureDatagrams.js';
import { certPath, withTimeout } from '../helpers/peers.js';
import { ca, cert, key, virtualClock } from '../operators/virtual.js';

const pfx = new Uint8Array(readFileSync(certPath('server-ec.p12')));
const MS = 10_000;

/** HKDF-Expand-Label (RFC 8446 §7.1) with node:crypto HMAC, for any label prefix. */
function expandLabel(hash: string, secret: Uint8Array, label: string, context: Uint8Array, length: number, prefix: string): Buffer {
  const full = Buffer.from(prefix + label, 'ascii');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([context.length]), context]);
  const out: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    prev = createHmac(hash, secret).update(Buffer.concat([prev, info, Buffer.from([i])])).digest();
    out.push(prev);
  }
  return Buffer.concat(out).subarray(0, length);
}

/** TLS-Exporter (RFC 8446 §7.5) from the exporter_master_secret. */
function exporter(hash: string, secret: Uint8Array, label: string, context: Uint8Array, length: number, prefix: string): Buffer {
  const H = (b: Uint8Array) => createHash(hash).update(b).digest();
  const derived = expandLabel(hash, secret, label, H(new Uint8Array(0)), H(new Uint8Array(0)).length, prefix);
  return expandLabel(hash, derived, 'exporter', H(context), length, prefix);
}

/** The EXPORTER_SECRET of a key log. */
function exporterSecret(lines: readonly string[]): Buffer {
  const line = lines.find((l) => l.startsWith('EXPORTER_SECRET '));
  if (!line) throw new Error(`no EXPORTER_SECRET in ${lines.length} key log lines`);
  return Buffer.from(line.split(' ')[2]!, 'hex');
}

const hashOf = (suite: string) => (suite.endsWith('SHA384') ? 'sha384' : 'sha256');
const context = new TextEncoder().encode('context');

/** A DTLS pair over a memory link in virtual time: the connections (or the client's error) after 1 s. */
function dtlsPair(t: import('ava').ExecutionContext, server: Partial<DtlsServerOptions>, client: Partial<DtlsClientOptions>) {
  const ts = virtualClock(t);
  const out: { client?: DtlsConnection; server?: DtlsConnection; error?: unknown; keyLog: string[] } = { keyLog: [] };
  ts.run(({ cold }) => {
    const [a, b] = memoryDatagramPair({ scheduler: ts, latency: 5 });
    of(b)
      .pipe(secureDatagrams({ role: 'server', scheduler: ts, ...server }))
      .subscribe({ next: (c) => (out.server = c), error: () => undefined });
    of(a)
      .pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost', scheduler: ts, keyLog: (l) => out.keyLog.push(l), ...client }))
      .subscribe({ next: (c) => (out.client = c), error: (e: unknown) => (out.error = e) });
    cold('1000ms a').subscribe(() => undefined);
  });
  return out;
}

test('DTLS exportKeyingMaterial: both ends agree; RFC 8446 §7.5 with the "dtls13" prefix over the key-logged exporter secret', (t) => {
  for (const ciphers of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384']) {
    const p = dtlsPair(t, { cert, key }, { ciphers });
    const c = p.client!;
    const s = p.server!;
    t.is(c.info.cipherSuite, ciphers);
    const a = c.exportKeyingMaterial(60, 'EXTRACTOR-dtls_srtp');
    t.is(a.length, 60);
    t.deepEqual(s.exportKeyingMaterial(60, 'EXTRACTOR-dtls_srtp'), a);
    t.notDeepEqual(c.exportKeyingMaterial(60, 'EXTRACTOR-other'), a);
    const secret = exporterSecret(p.keyLog);
    const hash = hashOf(ciphers);
    t.deepEqual(Buffer.from(a), exporter(hash, secret, 'EXTRACTOR-dtls_srtp', new Uint8Array(0), 60, 'dtls13'), ciphers);
    t.deepEqual(Buffer.from(c.exportKeyingMaterial(32, 'EXPORTER-x', context)), exporter(hash, secret, 'EXPORTER-x', context, 32, 'dtls13'));
    t.notDeepEqual(Buffer.from(a), exporter(hash, secret, 'EXTRACTOR-dtls_srtp', new Uint8Array(0), 60, 'tls13 '), 'not the TLS prefix');
    t.throws(() => c.exportKeyingMaterial(32, ''), { instanceOf: TlsError, message: /label/ });
  }
});

test('DTLS: info.peerCertificate; the server from a pfx; checkServerIdentity and verifier on the client', (t) => {
  const ok = dtlsPair(t, { pfx, passphrase: 'secret' }, { servername: 'example.org', checkServerIdentity: (host, c) => (host === 'example.org' && c.subject === 'CN=localhost' ? undefined : new Error('no')) });
  t.is(ok.error, undefined);
  const leaf = new X509Certificate(Buffer.from(ok.client!.info.peerCertificates[0]!));
  t.is(ok.client!.info.peerCertificate?.fingerprint256, leaf.fingerprint256);
  t.is(ok.client!.info.peerCertificates.length, 2, 'leaf and intermediate from the pfx');
  t.is(ok.server!.info.peerCertificate, undefined);

  const pinned = dtlsPair(t, { cert, key }, { checkServerIdentity: () => new Error('not the pinned key') });
  t.regex((pinned.error as TlsError).message, /checkServerIdentity refused localhost: not the pinned key/);
  const seen: number[] = [];
  const mine = dtlsPair(t, { cert, key }, { verifier: { verify: (req) => (seen.push(req.chain.length), { ok: false, code: 'unsupported', reason: 'no DANE record' }) } });
  t.deepEqual(seen, [2]);
  t.regex((mine.error as TlsError).message, /no DANE record/);
  t.throws(() => secureDatagrams({ role: 'server', pfx, passphrase: 'wrong' }), { instanceOf: TlsError, message: /pfx \(PKCS#12\): wrong passphrase/ });
});

test('dtlsListen({ pfx, passphrase }) ↔ dtlsConnect over UDP; a wrong passphrase rejects before a socket opens', async (t) => {
  const listener = await dtlsListen({ pfx, passphrase: 'secret' });
  t.teardown(() => listener.close());
  const conn = await firstValueFrom(dtlsConnect({ host: '127.0.0.1', port: listener.port, ca, servername: 'localhost' }).pipe(timeout(MS)));
  t.teardown(() => conn.close('abort'));
  t.is(conn.info.peerCertificate?.subject, 'CN=localhost');
  t.is(conn.exportKeyingMaterial(16, 'EXPORTER-udp').length, 16);
  await t.throwsAsync(dtlsListen({ pfx, passphrase: 'wrong' }), { instanceOf: TlsError, message: /wrong passphrase/ });
});

/** A QUIC listener whose connections land in `got`. */
async function quicServer(t: import('ava').ExecutionContext, options: Partial<Parameters<typeof quicListen>[0]>, got: QuicConnection[] = []) {
  const srv = await quicListen({ alpn: ['x'], ...options });
  t.teardown(() => srv.close());
  srv.connections.subscribe((c) => got.push(c));
  return srv;
}

async function until(done: () => boolean, what: string): Promise<void> {
  await withTimeout(
    (async () => {
      while (!done()) await new Promise((r) => setTimeout(r, 5));
    })(),
    MS,
    what,
  );
}

test('QUIC: pfx server; exportKeyingMaterial both ends equal and RFC 8446 §7.5 ("tls13 ") over the exporter secret; peerCertificate', async (t) => {
  const served: QuicConnection[] = [];
  const srv = await quicServer(t, { pfx, passphrase: 'secret' }, served);
  const lines: string[] = [];
  const conn = await firstValueFrom(
    quicConnect({ host: '127.0.0.1', port: srv.port, ca, servername: 'localhost', alpn: ['x'], keyLog: (l) => lines.push(l) }).pipe(timeout(MS)),
  );
  t.teardown(() => conn.close({ rapid: true }));
  await until(() => served.length > 0, 'the server connection');
  const a = conn.exportKeyingMaterial(48, 'EXPORTER-quic', context);
  t.deepEqual(served[0]!.exportKeyingMaterial(48, 'EXPORTER-quic', context), a);
  t.deepEqual(Buffer.from(a), exporter(hashOf(conn.info.cipherSuite), exporterSecret(lines), 'EXPORTER-quic', context, 48, 'tls13 '));
  t.notDeepEqual(conn.exportKeyingMaterial(48, 'EXPORTER-quic'), a, 'the context counts');
  const leaf = new X509Certificate(Buffer.from(conn.info.peerCertificates[0]!));
  t.is(conn.info.peerCertificate?.fingerprint256, leaf.fingerprint256);
  t.is(conn.info.peerCertificates.length, 2);
  await t.throwsAsync(quicListen({ alpn: ['x'], pfx, passphrase: 'wrong' }), { instanceOf: TlsError, message: /wrong passphrase/ });
  await t.throwsAsync(quicListen({ alpn: ['x'] }), { instanceOf: TlsError, message: /quicListen needs `cert` and `key`, or `pfx`/ });
});

test('QUIC: checkServerIdentity and verifier on quicConnect; a client certificate from a pfx for requestCert', async (t) => {
  const served: QuicConnection[] = [];
  const srv = await quicServer(t, { cert, key, requestCert: true, ca }, served);
  const base = { host: '127.0.0.1', port: srv.port, ca, alpn: ['x'], pfx: readFileSync(certPath('server-rsa.p12')), passphrase: 'secret' } as const;
  const seen: string[] = [];
  const conn = await firstValueFrom(
    quicConnect({ ...base, servername: 'example.org', checkServerIdentity: (host, c) => (seen.push(`${host} ${c.subject}`), undefined) }).pipe(timeout(MS)),
  );
  t.teardown(() => conn.close({ rapid: true }));
  t.deepEqual(seen, ['example.org CN=localhost'], 'a name the certificate lacks, accepted by the custom check');
  await until(() => served.length > 0, 'the server connection');
  t.is(served[0]!.info.verification, 'ok', 'the client certificate from the pfx verified');
  t.is(served[0]!.info.peerCertificate?.subject, 'CN=localhost');

  const refused = await firstValueFrom(quicConnect({ ...base, servername: 'localhost', checkServerIdentity: () => new Error('pin mismatch') }).pipe(timeout(MS))).catch((e: unknown) => e);
  t.regex((refused as TlsError).message, /checkServerIdentity refused localhost: pin mismatch/);
  const thrown = await firstValueFrom(
    quicConnect({ ...base, servername: 'localhost', verifier: { verify: () => { throw new Error('DANE record missing'); } } }).pipe(timeout(MS)),
  ).catch((e: unknown) => e);
  t.regex((thrown as TlsError).message, /the verifier refused the chain: DANE record missing/);
  t.throws(() => quicConnect({ ...base, passphrase: 'wrong' }), { instanceOf: TlsError, message: /wrong passphrase/ });
});
