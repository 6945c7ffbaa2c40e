/** `rxtls proxy` argument parsing and its log line (pure). */
import test from 'ava';
import { UsageError, formatProxyLine, parseCliArgs } from '../../src/cli/args.js';

test('proxy: terminate to TCP, originate TLS, QUIC front', (t) => {
  t.deepEqual(parseCliArgs(['proxy', '--listen', '127.0.0.1:0', '--cert', 'c.pem', '--key', 'k.pem', '--to', 'backend:8080']), {
    kind: 'proxy',
    listen: { host: '127.0.0.1', port: 0 },
    cert: 'c.pem',
    key: 'k.pem',
    quic: false,
    to: { host: 'backend', port: 8080 },
    toTls: false,
    insecure: false,
  });
  t.like(parseCliArgs(['proxy', '--listen', '[::1]:8443', '--to', '127.0.0.1:443', '--to-tls', '--cafile', 'ca.pem', '--servername', 'origin']), {
    listen: { host: '::1', port: 8443 },
    toTls: true,
    cafile: 'ca.pem',
    servername: 'origin',
  });
  t.like(parseCliArgs(['proxy', '--quic', '--alpn', 'h3,x', '--listen', '0.0.0.0:443', '--cert', 'c', '--key', 'k', '--to', 'b:80']), { quic: true, alpn: ['h3', 'x'] });
});

test('proxy: mistakes are usage errors', (t) => {
  const bad = (args: string[], message: RegExp) => t.throws(() => parseCliArgs(['proxy', ...args]), { instanceOf: UsageError, message });
  bad(['--to', 'b:1'], /--listen/);
  bad(['--listen', 'a:1'], /--to/);
  bad(['--listen', 'a:1', '--to', 'b:1'], /--cert and --key .* or --to-tls/);
  bad(['--listen', 'a:1', '--cert', 'c', '--to', 'b:1'], /go together/);
  bad(['--listen', 'a:1', '--cert', 'c', '--key', 'k', '--to', 'b:1', '--cafile', 'x'], /apply to --to-tls/);
  bad(['--quic', '--listen', 'a:1', '--cert', 'c', '--key', 'k', '--to', 'b:1'], /--alpn/);
  bad(['--listen', 'a:1', '--passthrough', '--to', 'b:1'], /SNI routing is not available/);
  bad(['--listen', 'a:1', '--route', 'x=b:1', '--to', 'b:1'], /SNI routing is not available/);
});

test('proxy: one log line per connection', (t) => {
  t.is(
    formatProxyLine({ client: '127.0.0.1:5000', sni: 'localhost', route: '127.0.0.1:8080', up: 10, down: 20, clientClose: 'end', backendClose: 'error:unexpectedEof' }),
    'PROXY client=127.0.0.1:5000 sni=localhost alpn=- route=127.0.0.1:8080 up=10 down=20 client_close=end backend_close=error:unexpectedEof',
  );
});
