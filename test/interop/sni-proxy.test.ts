/**
 * SNI passthrough on 127.0.0.1: a TCP listener reads each connection's ClientHello with `routeBySni` and splices
 * the untouched bytes to one of two `openssl s_server -www` backends with different certificates; `openssl
 * s_client` verifies the certificate of the name it asked for, and an unknown name gets unrecognized_name.
 */
import test from 'ava';
import net from 'node:net';
import { Subject } from 'rxjs';
import { routeBySni, type SniRouted } from '../../operators/routeBySni.js';
import { fromSocket } from '../../src/rx/duplex.js';
import type { ByteDuplex } from '../../src/rx/types.js';
import type { TlsError } from '../../src/core/errors.js';
import { certPath, runOpenssl, startSServer, TEST_MS, type TeardownOwner } from '../helpers/peers.js';

/** `openssl s_server -www` serving the fixture leaf `name` (`server-ec` for localhost, `wrong-host` for other.example). */
const backend = (name: string, owner: TeardownOwner) =>
  startSServer(['-cert', certPath(`${name}-cert.pem`), '-cert_chain', certPath('int-cert.pem'), '-key', certPath(`${name}-key.pem`), '-www'], { owner });

/** Join two byte duplexes both ways, each direction's end carried as a FIN (test plumbing, no backpressure). */
function join(a: ByteDuplex, b: ByteDuplex): void {
  a.incoming$.subscribe({ next: (chunk) => b.write(chunk), complete: () => b.end(), error: () => b.destroy() });
  b.incoming$.subscribe({ next: (chunk) => a.write(chunk), complete: () => a.end(), error: () => a.destroy() });
}

/** A loopback listener routing by SNI to `backends` (route name → port), passthrough only. */
async function sniProxy(backends: Readonly<Record<string, number>>, owner: TeardownOwner): Promise<{ port: number; errors: TlsError[] }> {
  const accepted = new Subject<ByteDuplex>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => accepted.next(fromSocket(socket)));
  const errors: TlsError[] = [];
  const routing = accepted
    .pipe(
      routeBySni({
        routes: [
          { route: 'localhost', serverNames: ['localhost'] },
          { route: 'other', serverNames: ['*.example'] },
        ],
        timeout: 20_000,
        onError: (e) => errors.push(e),
      }),
    )
    .subscribe((routed: SniRouted) => {
      if (routed.kind !== 'passthrough') throw new Error(`unexpected ${routed.kind}`);
      const upstream = net.connect({ host: '127.0.0.1', port: backends[routed.route]!, allowHalfOpen: true });
      join(routed.duplex, fromSocket(upstream));
    });
  owner.teardown(() => {
    routing.unsubscribe();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, errors };
}

/** `openssl s_client` through the proxy asking for `name`, verifying it against the test CA; sends a GET. */
const sClient = (port: number, name: string, owner: TeardownOwner) =>
  runOpenssl(
    ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-CAfile', certPath('ca-cert.pem'), '-servername', name, '-verify_hostname', name, '-verify_return_error', '-ign_eof'],
    { stdin: 'GET / HTTP/1.0\r\n\r\n', owner, timeoutMs: 30_000 },
  );

test('SNI passthrough to two openssl s_server backends: each s_client verifies the certificate of its name; an unknown name gets unrecognized_name', async (t) => {
  t.timeout(TEST_MS);
  const local = await backend('server-ec', t);
  const other = await backend('wrong-host', t);
  const proxy = await sniProxy({ localhost: local.port, other: other.port }, t);

  for (const [name, subject] of [
    ['localhost', 'subject=CN = localhost'],
    ['other.example', 'subject=CN = other.example'],
  ] as const) {
    const r = await sClient(proxy.port, name, t);
    const out = r.stdout + r.stderr;
    t.true(out.includes('Verify return code: 0 (ok)'), `${name}:\n${out}`);
    t.true(out.includes(subject), `${name}:\n${out}`);
    t.true(out.includes('HTTP/1.0 200 ok'), `${name}: the backend's page came back through the proxy\n${out}`);
  }

  const unknown = await sClient(proxy.port, 'unknown.test', t);
  const out = unknown.stdout + unknown.stderr;
  t.regex(out, /unrecognized name/, out);
  t.regex(out, /SSL alert number 112/, out);
  t.not(unknown.code, 0);
  t.deepEqual(
    proxy.errors.map((e) => [e.kind, e.alert]),
    [['peerIncompatible', 112]],
  );
});
