/** Argument parsing of the QUIC commands (`client --quic`, `get`, `server --quic`) and the `--www DIR` path rules. */
import test from 'ava';
import { UsageError, parseCliArgs, wwwFilePath } from '../../src/cli/args.js';

test('client --quic: HOST:PORT, --alpn required, TLS-only options refused', (t) => {
  t.like(parseCliArgs(['client', '--quic', '127.0.0.1:4433', '--alpn', 'echo', '--cafile', 'ca.pem']), { kind: 'client', quic: true, host: '127.0.0.1', port: 4433, alpn: ['echo'], cafile: 'ca.pem' });
  t.throws(() => parseCliArgs(['client', '--quic', '127.0.0.1:4433']), { instanceOf: UsageError, message: /--alpn/ });
  t.throws(() => parseCliArgs(['client', '--quic', 'h:1', '--alpn', 'x', '--sess-in', 's']), { instanceOf: UsageError, message: /--sess-in is not available with --quic/ });
  t.throws(() => parseCliArgs(['client', '--quic', 'h:1', '--alpn', 'x', '--dtls']), { instanceOf: UsageError, message: /--dtls is not available with --quic/ });
});

test('get: https URL → host, port (default 443), authority and path with query; -o', (t) => {
  t.like(parseCliArgs(['get', 'https://localhost:4433/a/b.txt?x=1', '-o', 'out', '--insecure']), {
    kind: 'get',
    host: 'localhost',
    port: 4433,
    authority: 'localhost:4433',
    path: '/a/b.txt?x=1',
    output: 'out',
    insecure: true,
  });
  t.like(parseCliArgs(['get', 'https://[::1]/']), { host: '::1', port: 443, authority: '[::1]', path: '/' });
  t.throws(() => parseCliArgs(['get', 'http://h/']), { instanceOf: UsageError });
  t.throws(() => parseCliArgs(['get']), { instanceOf: UsageError });
  t.throws(() => parseCliArgs(['get', 'https://h/', '--insecure', '--cafile', 'c']), { instanceOf: UsageError });
});

test('server --quic: --www takes the directory, or --echo; --retry only with --quic', (t) => {
  const id = ['--cert', 'c.pem', '--key', 'k.pem'];
  t.like(parseCliArgs(['server', '--quic', '--port', '0', ...id, '--www', 'site', '--retry']), { kind: 'server', quic: true, mode: 'www', wwwDir: 'site', retry: true });
  t.like(parseCliArgs(['server', '--quic', '--port', '0', ...id, '--echo', '--alpn', 'echo']), { mode: 'echo', alpn: ['echo'] });
  t.throws(() => parseCliArgs(['server', '--quic', '--port', '0', ...id, '--echo', '--www', 'd']), { instanceOf: UsageError });
  t.throws(() => parseCliArgs(['server', '--quic', '--port', '0', '--www', 'd']), { instanceOf: UsageError, message: /--cert/ });
  t.throws(() => parseCliArgs(['server', '--quic', '--port', '0', ...id, '--www', 'd', '--psk', 'aa']), { instanceOf: UsageError, message: /--psk is not available/ });
  t.throws(() => parseCliArgs(['server', '--port', '0', ...id, '--retry']), { instanceOf: UsageError, message: /--retry needs --quic/ });
  t.like(parseCliArgs(['server', '--port', '0', ...id, '--www']), { mode: 'www' }); // over TLS --www stays a flag
});

test('--www DIR: files under DIR; traversal refused (403), even %-encoded; bad paths 400', (t) => {
  t.is(wwwFilePath('/srv/www', '/a/b.txt?q=1'), '/srv/www/a/b.txt');
  t.is(wwwFilePath('/srv/www', '/'), '/srv/www/index.html');
  t.is(wwwFilePath('/srv/www', '/sp%20ace'), '/srv/www/sp ace');
  t.deepEqual(wwwFilePath('/srv/www', '/../etc/passwd'), { status: 403 });
  t.deepEqual(wwwFilePath('/srv/www', '/x/..%2F..%2Fetc'), { status: 403 });
  t.deepEqual(wwwFilePath('/srv/www', '/%2e%2e/etc'), { status: 403 });
  t.deepEqual(wwwFilePath('/srv/www', 'relative'), { status: 400 });
  t.deepEqual(wwwFilePath('/srv/www', '/bad%zz'), { status: 400 });
  t.deepEqual(wwwFilePath('/srv/www', '/nul%00'), { status: 400 });
});

test('--qlog DIR on client --quic, get and server --quic; refused without --quic', (t) => {
  const id = ['--cert', 'c.pem', '--key', 'k.pem'];
  t.like(parseCliArgs(['client', '--quic', '127.0.0.1:4433', '--alpn', 'echo', '--qlog', 'q']), { kind: 'client', quic: true, qlog: 'q' });
  t.like(parseCliArgs(['get', 'https://localhost:4433/', '--qlog', 'q']), { kind: 'get', qlog: 'q' });
  t.like(parseCliArgs(['server', '--quic', '--port', '0', ...id, '--echo', '--qlog', 'q']), { kind: 'server', quic: true, qlog: 'q' });
  t.throws(() => parseCliArgs(['client', '127.0.0.1:4433', '--qlog', 'q']), { instanceOf: UsageError, message: /--qlog needs --quic/ });
  t.throws(() => parseCliArgs(['server', '--port', '0', ...id, '--qlog', 'q']), { instanceOf: UsageError });
  t.throws(() => parseCliArgs(['get', 'https://localhost:4433/', '--qlog', '']), { instanceOf: UsageError, message: /--qlog needs a directory/ });
});
