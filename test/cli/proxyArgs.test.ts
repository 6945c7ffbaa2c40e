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
    routes: [],
    passthrough: false,
  });
  t.like(parseCliArgs(['proxy', '--listen', '[::1]:8443', '--to', '127.0.0.1:443', '--to-tls', '--cafile', 'ca.pem', '--servername', 'origin']), {
    listen: { host: '::1', port: 8443 },
    toTls: true,
    cafile: 'ca.pem',
    servername: 'origin',
  });
  t.like(parseCliArgs(['proxy', '--quic', '--alpn', 'h3,x', '--listen', '0.0.0.0:443', '--cert', 'c', '--key', 'k', '--to', 'b:80']), { quic: true, alpn: ['h3', 'x'] });
  t.like(parseCliArgs(['proxy', '--dtls', '--listen', '0.0.0.0:4433', '--cert', 'c', '--key', 'k', '--to', 'b:80', '--route', 'a.test=c:80']), {
    dtls: true,
    quic: false,
    routes: [{ name: 'a.test', to: { host: 'c', port: 80 } }],
  });
});

test('proxy: mistakes are usage errors', (t) => {
  const bad = (args: string[], message: RegExp) => t.throws(() => parseCliArgs(['proxy', ...args]), { instanceOf: UsageError, message });
  bad(['--to', 'b:1'], /--listen/);
  bad(['--listen', 'a:1'], /--to/);
  bad(['--listen', 'a:1', '--to', 'b:1'], /--cert and --key .* or --to-tls/);
  bad(['--listen', 'a:1', '--cert', 'c', '--to', 'b:1'], /go together/);
  bad(['--listen', 'a:1', '--cert', 'c', '--key', 'k', '--to', 'b:1', '--cafile', 'x'], /apply to --to-tls/);
  bad(['--quic', '--listen', 'a:1', '--cert', 'c', '--key', 'k', '--to', 'b:1'], /--alpn/);
  bad(['--listen', 'a:1', '--passthrough', '--cert', 'c', '--key', 'k', '--to', 'b:1'], /--passthrough relays the TLS bytes untouched/);
  bad(['--listen', 'a:1', '--passthrough', '--to-tls', '--to', 'b:1'], /--passthrough/);
  bad(['--listen', 'a:1', '--route', 'x', '--passthrough', '--to', 'b:1'], /--route needs NAME=HOST:PORT/);
  bad(['--listen', 'a:1', '--route', 'bad name=b:1', '--passthrough', '--to', 'b:1'], /--route needs NAME=HOST:PORT/);
  bad(['--quic', '--alpn', 'h3', '--listen', 'a:1', '--cert', 'c', '--key', 'k', '--route', 'x=b:1', '--to', 'b:1'], /--route needs a TLS front/);
  bad(['--dtls', '--quic', '--alpn', 'h3', '--listen', 'a:1', '--cert', 'c', '--key', 'k', '--to', 'b:1'], /--dtls is a front of its own/);
  bad(['--dtls', '--passthrough', '--listen', 'a:1', '--to', 'b:1'], /--passthrough|--dtls/);
  bad(['--dtls', '--listen', 'a:1', '--to', 'b:1', '--to-tls'], /--dtls needs --cert and --key/);
});

test('proxy: --passthrough with --route NAME=HOST:PORT (repeatable; *.suffix wildcards), names lower-cased', (t) => {
  t.like(parseCliArgs(['proxy', '--listen', '127.0.0.1:443', '--passthrough', '--to', 'default:443', '--route', 'A.test=10.0.0.1:443', '--route', '*.b.test=[::1]:8443']), {
    passthrough: true,
    to: { host: 'default', port: 443 },
    routes: [
      { name: 'a.test', to: { host: '10.0.0.1', port: 443 } },
      { name: '*.b.test', to: { host: '::1', port: 8443 } },
    ],
  });
  t.like(parseCliArgs(['proxy', '--listen', '127.0.0.1:443', '--cert', 'c', '--key', 'k', '--to', 'd:80', '--route', 'localhost=e:80']), {
    passthrough: false,
    routes: [{ name: 'localhost', to: { host: 'e', port: 80 } }],
  });
});

test('proxy: one log line per connection', (t) => {
  t.is(
    formatProxyLine({ client: '127.0.0.1:5000', sni: 'localhost', route: '127.0.0.1:8080', up: 10, down: 20, clientClose: 'end', backendClose: 'error:unexpectedEof' }),
    'PROXY client=127.0.0.1:5000 sni=localhost alpn=- route=127.0.0.1:8080 up=10 down=20 client_close=end backend_close=error:unexpectedEof',
  );
});
