import test from 'ava';
import {
  ExitCode,
  HELP,
  InlineCommandSplitter,
  LineRecords,
  type InlineItem,
  UsageError,
  describeFailure,
  exitCodeFor,
  formatFailure,
  formatSessionFile,
  formatSummary,
  isRequestComplete,
  parseAlpnList,
  parseCliArgs,
  parseHostPort,
  parseSessionFile,
  parseSummary,
  parsePassphraseArg,
  resolvePassphrase,
  wwwResponse,
} from '../../src/cli/args.js';
import { TlsError } from '../../src/core/errors.js';
import type { HandshakeInfo } from '../../src/core/types.js';
import { encodeSession, type TlsSession } from '../../src/handshake/session.js';

const info: HandshakeInfo = {
  protocol: 'TLSv1.3',
  cipherSuite: 'TLS_CHACHA20_POLY1305_SHA256',
  group: 'P-256',
  alpn: 'h2',
  serverName: 'localhost',
  peerSignatureScheme: 'ecdsa_secp256r1_sha256',
  peerCertificates: [new Uint8Array(3), new Uint8Array(4)],
  peerSubject: 'CN=localhost',
  verification: 'ok',
  resumed: false,
  earlyData: 'none',
  helloRetry: true,
};

test('client: HOST:PORT and every option', (t) => {
  const cmd = parseCliArgs([
    'client',
    'example.org:4433',
    '--servername',
    'localhost',
    '--cafile',
    'ca.pem',
    '--alpn',
    'h2,http/1.1',
    '--ciphers',
    'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256',
    '--groups',
    'X25519:P-256',
    '--cert',
    'c.pem',
    '--key',
    'k.pem',
    '--sess-in',
    'in.pem',
    '--sess-out',
    'out.pem',
    '--early-data',
    'early.bin',
    '--keylog',
    'keys.txt',
    '--inline-commands',
    '--quiet',
  ]);
  t.deepEqual(cmd, {
    kind: 'client',
    host: 'example.org',
    port: 4433,
    servername: 'localhost',
    cafile: 'ca.pem',
    insecure: false,
    alpn: ['h2', 'http/1.1'],
    ciphers: 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256',
    groups: 'X25519:P-256',
    cert: 'c.pem',
    key: 'k.pem',
    sessIn: 'in.pem',
    sessOut: 'out.pem',
    earlyData: 'early.bin',
    keylog: 'keys.txt',
    inlineCommands: true,
    quiet: true,
  });
});

test('client: defaults and --insecure', (t) => {
  t.deepEqual(parseCliArgs(['client', '127.0.0.1:1', '--insecure']), {
    kind: 'client',
    host: '127.0.0.1',
    port: 1,
    insecure: true,
    inlineCommands: false,
    quiet: false,
  });
});

test('HOST:PORT forms: name, IPv4, bracketed IPv6', (t) => {
  t.deepEqual(parseHostPort('localhost:443'), { host: 'localhost', port: 443 });
  t.deepEqual(parseHostPort('127.0.0.1:65535'), { host: '127.0.0.1', port: 65535 });
  t.deepEqual(parseHostPort('[::1]:4433'), { host: '::1', port: 4433 });
  for (const bad of ['::1:4433', 'localhost', 'localhost:', ':443', 'localhost:0', 'localhost:65536', '[nothex]:1', 'a:b']) {
    t.throws(() => parseHostPort(bad), { instanceOf: UsageError }, bad);
  }
});

test('server: options, modes and defaults', (t) => {
  t.deepEqual(parseCliArgs(['server', '--port', '0', '--cert', 'c.pem', '--key', 'k.pem']), {
    kind: 'server',
    host: '127.0.0.1',
    port: 0,
    cert: 'c.pem',
    key: 'k.pem',
    mode: 'print',
    noTicket: false,
    quiet: false,
  });
  t.deepEqual(
    parseCliArgs([
      'server',
      '--port=4433',
      '--host',
      '[::1]',
      '--cert',
      'c.pem',
      '--key',
      'k.pem',
      '--www',
      '--alpn',
      'http/1.1',
      '--ciphers',
      'TLS_AES_256_GCM_SHA384',
      '--groups',
      'P-256',
      '--naccept',
      '2',
      '--verify-client',
      'ca.pem',
      '--keylog',
      'keys.txt',
      '--max-early-data',
      '16384',
      '--num-tickets',
      '3',
    ]),
    {
      kind: 'server',
      host: '::1',
      port: 4433,
      cert: 'c.pem',
      key: 'k.pem',
      mode: 'www',
      alpn: ['http/1.1'],
      ciphers: 'TLS_AES_256_GCM_SHA384',
      groups: 'P-256',
      naccept: 2,
      verifyClient: 'ca.pem',
      keylog: 'keys.txt',
      maxEarlyData: 16384,
      noTicket: false,
      numTickets: 3,
      quiet: false,
    },
  );
  const noTicket = parseCliArgs(['server', '--port', '1', '--cert', 'c', '--key', 'k', '--no-ticket', '--max-early-data', '0']);
  t.like(noTicket, { kind: 'server', noTicket: true, maxEarlyData: 0 });
  const echo = parseCliArgs(['server', '--port', '1', '--cert', 'c', '--key', 'k', '--echo']);
  t.is(echo.kind === 'server' ? echo.mode : undefined, 'echo');
});

test('usage errors', (t) => {
  const bad: string[][] = [
    ['frobnicate'],
    ['client'],
    ['client', 'a:1', 'b:2'],
    ['client', 'a:1', '--bogus'],
    ['client', 'a:1', '--cert', 'c.pem'],
    ['client', 'a:1', '--insecure', '--cafile', 'ca.pem'],
    ['client', 'a:1', '--ciphers', 'TLS_RSA_WITH_RC4_128_MD5'],
    ['client', 'a:1', '--groups', 'ffdhe2048'],
    ['client', 'a:1', '--alpn', 'h2,,http/1.1'],
    ['client', 'a:1', '--servername'],
    ['server', '--cert', 'c', '--key', 'k'],
    ['server', '--port', '1', '--cert', 'c'],
    ['server', '--port', 'x', '--cert', 'c', '--key', 'k'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--echo', '--www'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--naccept', '0'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', 'extra'],
    ['client', 'a:1', '--early-data', 'e.bin'], // 0-RTT needs a session to resume
    ['client', 'a:1', '--sess-in'],
    ['client', 'a:1', '--inline-commands=yes'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--max-early-data', '-1'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--max-early-data', '4294967296'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--max-early-data', '1k'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--num-tickets', '0'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--num-tickets', '17'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--no-ticket', '--num-tickets', '2'],
    ['server', '--port', '1', '--cert', 'c', '--key', 'k', '--sess-out', 'x'], // client only
  ];
  for (const argv of bad) {
    const e = t.throws(() => parseCliArgs(argv), { instanceOf: UsageError }, argv.join(' '));
    t.is(exitCodeFor(e), ExitCode.usage);
    t.regex(formatFailure(e), /^rxtls: .+ \(see rxtls --help\)$/);
  }
});

test('unknown options are refused by name with a pointer to --help, for client and server', (t) => {
  const cases: [string[], string][] = [
    [['client', 'a:1', '--bogus'], 'unknown option --bogus for rxtls client'],
    [['client', '--bogus', 'a:1'], 'unknown option --bogus for rxtls client'],
    [['client', 'a:1', '--bogus=3'], 'unknown option --bogus for rxtls client'],
    [['client', 'a:1', '-x'], 'unknown option -x for rxtls client'],
    [['client', 'a:1', '-qx'], 'unknown option -x for rxtls client'],
    [['client', 'a:1', '--sess_out', 'f'], 'unknown option --sess_out for rxtls client (did you mean --sess-out?)'],
    [['server', '--port', '1', '--cert', 'c', '--key', 'k', '--bogus', '2'], 'unknown option --bogus for rxtls server'],
    [['server', '--port', '1', '--cert', 'c', '--key', 'k', '--num_tickets', '2'], 'unknown option --num_tickets for rxtls server (did you mean --num-tickets?)'],
    [['client', 'a:1', '-bogus'], 'unknown option -bogus for rxtls client'],
    [['client', 'a:1', '-CApath', 'x'], 'unknown option -CApath for rxtls client'],
    [['server', '--port', '1', '--cert', 'c', '--key', 'k', '-CAfile', 'x'], 'unknown option -CAfile for rxtls server (client certificates: --verify-client PEM)'],
    [['server', '--port', '1', '--cert', 'c', '--key', 'k', '--sess-out', 'x'], 'unknown option --sess-out for rxtls server'],
  ];
  for (const [argv, message] of cases) {
    const e = t.throws(() => parseCliArgs(argv), { instanceOf: UsageError }, argv.join(' '));
    t.is(e?.message, message, argv.join(' '));
    t.is(formatFailure(e), `rxtls: ${message} (see rxtls --help)`);
    t.is(exitCodeFor(e), ExitCode.usage);
  }
});

test('help', (t) => {
  for (const argv of [[], ['--help'], ['-h'], ['client', '--help'], ['server', '-h']]) {
    t.deepEqual(parseCliArgs(argv), { kind: 'help', text: HELP }, argv.join(' '));
  }
  for (const flag of ['--servername', '--cafile', '--insecure', '--alpn', '--ciphers', '--groups', '--cert', '--key', '--quiet', '--echo', '--www', '--naccept', '--verify-client', 'ACCEPT', '--sess-out', '--sess-in', '--early-data', '--keylog', '--inline-commands', '^rekey^', '^rekey1^', '--max-early-data', '--no-ticket', '--num-tickets', 'RXTLS SESSION']) {
    t.true(HELP.includes(flag), flag);
  }
});

test('ALPN list: comma separated, 1..255 bytes each (RFC 7301 §3.1)', (t) => {
  t.deepEqual(parseAlpnList('h2,http/1.1'), ['h2', 'http/1.1']);
  t.deepEqual(parseAlpnList('x'.repeat(255)), ['x'.repeat(255)]);
  t.throws(() => parseAlpnList('x'.repeat(256)), { instanceOf: UsageError });
  t.throws(() => parseAlpnList(''), { instanceOf: UsageError });
});

test('summary: one Key: value line each, and it reads back', (t) => {
  const text = formatSummary(info);
  t.is(
    text,
    [
      'Protocol: TLSv1.3',
      'Cipher: TLS_CHACHA20_POLY1305_SHA256',
      'Group: P-256',
      'ALPN: h2',
      'Server name: localhost',
      'Peer: CN=localhost',
      'Peer certificates: 2',
      'Peer signature: ecdsa_secp256r1_sha256',
      'Verification: ok',
      'HelloRetryRequest: yes',
      'Resumed: no',
      'Early data: none',
      '',
    ].join('\n'),
  );
  const back = parseSummary('noise\n' + text);
  t.is(back.Cipher, 'TLS_CHACHA20_POLY1305_SHA256');
  t.is(back.Group, 'P-256');
  t.is(back.HelloRetryRequest, 'yes');
  const bare = formatSummary({ ...info, group: undefined, alpn: undefined, serverName: undefined, peerSubject: undefined, peerSignatureScheme: undefined, peerCertificates: [], verification: 'none', helloRetry: false });
  t.regex(bare, /^ALPN: \(none\)$/m);
  t.regex(bare, /^Peer: \(no certificate\)$/m);
  t.regex(bare, /^Verification: none$/m);
});

test('failure message: one line, names the certificate problem', (t) => {
  const cert = new TlsError({ kind: 'certificate', alert: 48, code: 'unknown_ca', reason: 'issuer not trusted\nat depth 1' });
  const line = formatFailure(cert);
  t.regex(line, /^rxtls: certificate rejected \(unknown_ca\): issuer not trusted at depth 1/);
  t.false(line.includes('\n'));
  t.is(exitCodeFor(cert), ExitCode.failure);
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  t.is(formatFailure(refused), 'rxtls: connection failed: connect ECONNREFUSED 127.0.0.1:1');
  t.is(formatFailure('weird'), 'rxtls: weird');
  const transport = new TlsError({ kind: 'transport', reason: 'ECONNRESET: read ECONNRESET' });
  t.is(formatFailure(transport), 'rxtls: connection failed: ECONNRESET: read ECONNRESET');
  t.is(describeFailure(transport), 'connection failed: ECONNRESET: read ECONNRESET');
});

test('www: HTTP/1.0 200 with the negotiated parameters', (t) => {
  t.false(isRequestComplete('GET / HTTP/1.0\r\n'));
  t.true(isRequestComplete('GET / HTTP/1.0\r\n\r\n'));
  t.true(isRequestComplete('GET /\n\n'));
  const page = wwwResponse({ ...info, peerSubject: 'CN=<x>' });
  const [head, body] = page.split('\r\n\r\n') as [string, string];
  t.regex(head, /^HTTP\/1\.0 200 OK\r\n/);
  t.regex(head, new RegExp(`Content-Length: ${Buffer.byteLength(body)}`));
  t.regex(body, /Cipher: TLS_CHACHA20_POLY1305_SHA256/);
  t.regex(body, /Group: P-256/);
  t.regex(body, /ALPN: h2/);
  t.regex(body, /Peer: CN=&lt;x&gt;/);
});

const session: TlsSession = {
  serverName: 'localhost',
  suite: 0x1301,
  psk: new Uint8Array(32).fill(7),
  ticket: new Uint8Array(200).map((_, i) => i),
  ageAdd: 0xdeadbeef,
  lifetime: 7200,
  receivedAt: Date.UTC(2027, 0, 1),
  maxEarlyData: 16384,
  alpn: 'h2',
};

test('session file: PEM-like base64 of encodeSession, read back; raw bytes accepted too', (t) => {
  const text = formatSessionFile(session);
  t.regex(text, /^-----BEGIN RXTLS SESSION-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END RXTLS SESSION-----\n$/);
  const enc = new TextEncoder();
  t.deepEqual(parseSessionFile(enc.encode(text)), session);
  t.deepEqual(parseSessionFile(enc.encode(`comment before\r\n${text.replace(/\n/g, '\r\n')}`)), session);
  t.deepEqual(parseSessionFile(encodeSession(session)), session);
  const { alpn: _, ...noAlpn } = session;
  t.deepEqual(parseSessionFile(enc.encode(formatSessionFile(noAlpn))), noAlpn);
});

test('session file: damaged input is a clear error', (t) => {
  const text = formatSessionFile(session);
  const enc = new TextEncoder();
  t.throws(() => parseSessionFile(enc.encode(text.replace('-----END RXTLS SESSION-----', ''))), { message: /no "-----END RXTLS SESSION-----" line/ });
  t.throws(() => parseSessionFile(enc.encode(text.replace(/\n[A-Za-z]/, '\n!'))), { message: /bad base64/ });
  t.throws(() => parseSessionFile(enc.encode('-----BEGIN SSL SESSION PARAMETERS-----\nMHgC\n-----END SSL SESSION PARAMETERS-----\n')), {
    message: /not an rxtls session/,
  });
  const bytes = encodeSession(session);
  t.throws(() => parseSessionFile(bytes.subarray(0, bytes.length - 1)), { message: /not an rxtls session/ });
  t.throws(() => parseSessionFile(new Uint8Array([...bytes, 0])), { message: /not an rxtls session/ });
});

/** Run a splitter over chunks; data items as strings, merged when adjacent. */
function split(chunks: readonly string[]): (string | InlineItem)[] {
  const s = new InlineCommandSplitter();
  const items = [...chunks.flatMap((c) => s.push(new TextEncoder().encode(c))), ...s.end()];
  const out: (string | InlineItem)[] = [];
  for (const item of items) {
    if ('data' in item) {
      const text = new TextDecoder().decode(item.data);
      if (typeof out[out.length - 1] === 'string') out[out.length - 1] += text;
      else out.push(text);
    } else out.push(item);
  }
  return out;
}

const rekey = { command: 'keyUpdate', requestPeer: true } as const;
const rekey1 = { command: 'keyUpdate', requestPeer: false } as const;

test('inline commands: ^rekey^ / ^rekey1^ lines become KeyUpdates, in order with the data', (t) => {
  t.deepEqual(split(['a\n^rekey^\nb\n^rekey1^\nc']), ['a\n', rekey, 'b\n', rekey1, 'c']);
  t.deepEqual(split(['^rekey^\r\n^rekey^\n']), [rekey, rekey]);
  // Not a whole line: data.
  t.deepEqual(split(['x^rekey^\n', ' ^rekey^\n', '^rekey^ \n', '^REKEY^\n']), ['x^rekey^\n ^rekey^\n^rekey^ \n^REKEY^\n']);
  // A command needs its line end: at EOF it is data.
  t.deepEqual(split(['a\n^rekey^']), ['a\n^rekey^']);
  t.deepEqual(split([]), []);
});

test('inline commands: any chunking gives the same result', (t) => {
  const input = 'GET / HTTP/1.0\r\n^rekey^\n^rekey1^\r\nx^rekey^\n\n^rek\n^rekey^\n';
  const expected = ['GET / HTTP/1.0\r\n', rekey, rekey1, 'x^rekey^\n\n^rek\n', rekey];
  t.deepEqual(split([input]), expected);
  for (let i = 0; i <= input.length; i++) {
    for (const j of [i, Math.min(input.length, i + 1), Math.min(input.length, i + 5)]) {
      t.deepEqual(split([input.slice(0, i), input.slice(i, j), input.slice(j)]), expected, `split at ${i},${j}`);
    }
  }
  t.deepEqual(split([...input]), expected, 'one byte at a time');
});

test('inline commands: only a possible command is held back; other data passes at once', (t) => {
  const s = new InlineCommandSplitter();
  const enc = (x: string) => new TextEncoder().encode(x);
  const texts = (items: InlineItem[]) => items.map((i) => ('data' in i ? new TextDecoder().decode(i.data) : i));
  t.deepEqual(texts(s.push(enc('hello'))), ['hello']); // cannot become a command
  t.deepEqual(texts(s.push(enc(' world\n^re'))), [' world\n']); // "^re" may
  t.deepEqual(texts(s.push(enc('kex'))), ['^rekex']); // no longer can
  t.deepEqual(texts(s.push(enc('\n^rekey^'))), ['\n']);
  t.deepEqual(texts(s.push(enc('\n'))), [rekey]);
  t.deepEqual(s.end(), []);
});

test('--psk HEX --psk-identity ID: client and server; the server needs no certificate with it', (t) => {
  t.like(parseCliArgs(['client', 'a:1', '--psk', '1a2B3c', '--psk-identity', 'me']), { psk: { identity: 'me', key: '1a2B3c' } });
  // OpenSSL's default identity.
  t.like(parseCliArgs(['client', 'a:1', '--psk', '00ff']), { psk: { identity: 'Client_identity', key: '00ff' } });
  const server = parseCliArgs(['server', '--port', '0', '--psk', 'abcd', '--psk-identity', 'id']);
  t.like(server, { kind: 'server', psk: { identity: 'id', key: 'abcd' } });
  t.false('cert' in server);
  for (const argv of [
    ['client', 'a:1', '--psk', 'abc'],
    ['client', 'a:1', '--psk', 'zz'],
    ['client', 'a:1', '--psk-identity', 'x'],
    ['server', '--port', '0'],
    ['server', '--port', '0', '--psk', 'ab', '--key', 'k'],
  ]) {
    t.throws(() => parseCliArgs(argv), { instanceOf: UsageError }, argv.join(' '));
  }
});

test('summary: a PSK identity line only after a handshake on an external PSK', (t) => {
  const info = { protocol: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', peerCertificates: [], verification: 'none', resumed: false, earlyData: 'none', helloRetry: false } as const;
  t.notRegex(formatSummary(info), /PSK identity/);
  const text = formatSummary({ ...info, pskIdentity: 'Client_identity' });
  t.is(parseSummary(text)['PSK identity'], 'Client_identity');
});

test('--tls1_2 / --tls1_3 pin the version (client and server), also spelled -tls1_2; both at once is a usage error', (t) => {
  t.is((parseCliArgs(['client', 'a:1', '--tls1_2']) as { version?: string }).version, 'TLSv1.2');
  t.is((parseCliArgs(['client', 'a:1', '--tls1_3']) as { version?: string }).version, 'TLSv1.3');
  t.is((parseCliArgs(['server', '--port', '0', '--cert', 'c', '--key', 'k', '--tls1_2']) as { version?: string }).version, 'TLSv1.2');
  t.is((parseCliArgs(['client', 'a:1']) as { version?: string }).version, undefined);
  t.throws(() => parseCliArgs(['client', 'a:1', '--tls1_2', '--tls1_3']), { instanceOf: UsageError, message: /exclude each other/ });
  // OpenSSL's single-dash spelling is accepted (issue 16).
  t.is((parseCliArgs(['client', 'a:1', '-tls1_2']) as { version?: string }).version, 'TLSv1.2');
  // TLS 1.2 suites by their OpenSSL names are accepted in --ciphers.
  t.is((parseCliArgs(['client', 'a:1', '--ciphers', 'ECDHE-RSA-AES128-GCM-SHA256']) as { ciphers?: string }).ciphers, 'ECDHE-RSA-AES128-GCM-SHA256');
});

test('--dtls: client and server, with --mtu and the TLS options', (t) => {
  t.deepEqual(
    parseCliArgs(['client', '--dtls', '127.0.0.1:4433', '--cafile', 'ca.pem', '--servername', 'localhost', '--alpn', 'coap', '--ciphers', 'TLS_AES_128_GCM_SHA256', '--groups', 'X25519', '--keylog', 'k.txt', '--mtu', '1400']),
    {
      kind: 'client',
      host: '127.0.0.1',
      port: 4433,
      servername: 'localhost',
      cafile: 'ca.pem',
      insecure: false,
      alpn: ['coap'],
      ciphers: 'TLS_AES_128_GCM_SHA256',
      groups: 'X25519',
      keylog: 'k.txt',
      inlineCommands: false,
      quiet: false,
      dtls: true,
      mtu: 1400,
    },
  );
  t.like(parseCliArgs(['client', 'h:1', '--dtls']), { kind: 'client', dtls: true });
  t.false('mtu' in parseCliArgs(['client', 'h:1', '--dtls']));
  t.deepEqual(parseCliArgs(['server', '--dtls', '--port', '0', '--cert', 'c.pem', '--key', 'k.pem', '--echo', '--mtu', '256']), {
    kind: 'server',
    host: '127.0.0.1',
    port: 0,
    cert: 'c.pem',
    key: 'k.pem',
    mode: 'echo',
    noTicket: false,
    quiet: false,
    dtls: true,
    mtu: 256,
  });
  t.false('dtls' in parseCliArgs(['client', 'h:1']), 'TLS commands carry no dtls field');
});

test('--dtls usage errors: --mtu without --dtls or out of range, TCP-only options', (t) => {
  const bad: [string[], RegExp][] = [
    [['client', 'h:1', '--mtu', '1400'], /--mtu needs --dtls/],
    [['client', 'h:1', '--dtls', '--mtu', '255'], /--mtu needs an integer from 256 to 65507/],
    [['client', 'h:1', '--dtls', '--mtu', '65508'], /--mtu/],
    [['client', 'h:1', '--dtls', '--mtu', '1k'], /--mtu/],
    [['client', 'h:1', '--dtls', '--sess-in', 's.pem', '--early-data', 'e.txt'], /--early-data is not available with --dtls/],
    [['server', '--dtls', '--port', '1', '--cert', 'c', '--key', 'k', '--www'], /--www is not available with --dtls/],
    [['server', '--dtls', '--port', '1', '--cert', 'c', '--key', 'k', '--max-early-data', '10'], /--max-early-data is not available with --dtls/],
    [['server', '--port', '1', '--cert', 'c', '--key', 'k', '--mtu', '1400'], /--mtu needs --dtls/],
  ];
  for (const [args, message] of bad) {
    const err = t.throws(() => parseCliArgs(args), { instanceOf: UsageError }, args.join(' '));
    t.regex(err?.message ?? '', message, args.join(' '));
    t.is(exitCodeFor(err), ExitCode.usage);
  }
  t.regex(HELP, /--dtls/);
  t.regex(HELP, /--mtu N/);
  // Resumption works over DTLS: --sess-in / --sess-out are taken.
  t.like(parseCliArgs(['client', 'h:1', '--dtls', '--sess-out', 's.pem']), { dtls: true, sessOut: 's.pem' });
  t.like(parseCliArgs(['client', 'h:1', '--dtls', '--sess-in', 's.pem']), { dtls: true, sessIn: 's.pem' });
});

test('LineRecords: one record per stdin line with its newline; long lines cut; the last line without one at EOF', (t) => {
  const show = (rs: Uint8Array[]) => rs.map((r) => new TextDecoder().decode(r));
  const enc = (s: string) => new TextEncoder().encode(s);
  const r = new LineRecords(4);
  t.deepEqual(show(r.push(enc('a\nbb'))), ['a\n']);
  t.deepEqual(show(r.push(enc('b\n\n'))), ['bbb\n', '\n']);
  t.deepEqual(show(r.push(enc('abcdefghij\nxy'))), ['abcd', 'efgh', 'ij\n']);
  t.deepEqual(show(r.end()), ['xy']);
  t.deepEqual(show(r.end()), []);
  t.deepEqual(show(new LineRecords(4).push(enc('abc\n'))), ['abc\n'], 'exactly the maximum with its newline');
  t.deepEqual(show(new LineRecords(4).push(enc('abcd\n'))), ['abcd', '\n']);
  t.throws(() => new LineRecords(0), { instanceOf: RangeError });
});

test("OpenSSL's single-dash spellings are aliases: an s_client / s_server command line works", (t) => {
  const client = parseCliArgs(['client', '-connect', 'localhost:4433', '-CAfile', 'ca.pem', '-servername', 'example.com', '-alpn', 'h2', '-ciphersuites', 'TLS_AES_128_GCM_SHA256', '-groups', 'X25519', '-cert', 'c.pem', '-key', 'k.pem', '-keylogfile', 'keys.log', '-sess_out', 's.pem', '-verify_return_error', '-quiet']);
  t.like(client, {
    kind: 'client',
    host: 'localhost',
    port: 4433,
    cafile: 'ca.pem',
    servername: 'example.com',
    alpn: ['h2'],
    ciphers: 'TLS_AES_128_GCM_SHA256',
    groups: 'X25519',
    cert: 'c.pem',
    key: 'k.pem',
    keylog: 'keys.log',
    sessOut: 's.pem',
    quiet: true,
  });
  t.like(parseCliArgs(['client', 'a:1', '-servername=x']), { servername: 'x' });
  t.like(parseCliArgs(['server', '-accept', '4433', '-cert', 'c', '-key', 'k', '-www', '-naccept', '1', '-num_tickets', '3']), {
    kind: 'server',
    host: '127.0.0.1',
    port: 4433,
    mode: 'www',
    naccept: 1,
    numTickets: 3,
  });
  t.like(parseCliArgs(['server', '-accept', '[::1]:4433', '-cert', 'c', '-key', 'k']), { host: '::1', port: 4433 });
  t.like(parseCliArgs(['server', '-port', '0', '-cert', 'c', '-key', 'k', '-verifyCAfile', 'ca.pem']), { port: 0, verifyClient: 'ca.pem' });
  const e = t.throws(() => parseCliArgs(['client', '-connect']), { instanceOf: UsageError });
  t.is(e?.message, 'option -connect needs a value');
  t.throws(() => parseCliArgs(['s_client', '-connect', 'a:1']), { instanceOf: UsageError, message: 'unknown command "s_client" (rxtls client is the s_client of rxtls)' });
});

test('--version (and -version, version) and --timeout, --showcerts', (t) => {
  for (const argv of [['--version'], ['-version'], ['version'], ['client', 'a:1', '--version'], ['server', '--version']]) {
    t.deepEqual(parseCliArgs(argv), { kind: 'version' }, argv.join(' '));
  }
  t.like(parseCliArgs(['client', 'a:1', '--timeout', '2.5', '--showcerts']), { timeoutSeconds: 2.5, showCerts: true });
  for (const bad of ['0', 'x', '1e3', '100000']) {
    t.throws(() => parseCliArgs(['client', 'a:1', '--timeout', bad]), { instanceOf: UsageError, message: /--timeout needs a number of seconds/ }, bad);
  }
});

test('--dtls1_2 / --dtls1_3 pin a DTLS version and imply --dtls; --dtls alone negotiates either', (t) => {
  t.like(parseCliArgs(['client', 'h:1', '--dtls1_2']), { kind: 'client', dtls: true, version: 'DTLSv1.2' });
  t.like(parseCliArgs(['client', 'h:1', '--dtls', '--dtls1_3']), { kind: 'client', dtls: true, version: 'DTLSv1.3' });
  t.like(parseCliArgs(['server', '--dtls1_2', '--port', '0', '--cert', 'c.pem', '--key', 'k.pem']), { kind: 'server', dtls: true, version: 'DTLSv1.2' });
  t.false('version' in parseCliArgs(['client', 'h:1', '--dtls']));
  t.throws(() => parseCliArgs(['client', 'h:1', '--dtls1_2', '--dtls1_3']), { message: /exclude each other/ });
  t.throws(() => parseCliArgs(['client', 'h:1', '--dtls', '--tls1_2']), { message: /--dtls1_2/ });
  t.throws(() => parseCliArgs(['client', 'h:1', '--tls1_3', '--dtls1_2']), { message: /exclude each other/ });
});

test('--pfx and --passphrase (OpenSSL pass phrase syntax), with -passin and -pass as aliases', (t) => {
  t.like(parseCliArgs(['server', '--port', '0', '--pfx', 's.p12', '--passphrase', 'pass:secret']), {
    kind: 'server',
    pfx: 's.p12',
    passphrase: { from: 'pass', value: 'secret' },
  });
  t.like(parseCliArgs(['server', '-accept', '4433', '-pfx', 's.p12', '-passin', 'env:P12_PW']), { pfx: 's.p12', passphrase: { from: 'env', name: 'P12_PW' } });
  t.like(parseCliArgs(['server', '--port', '1', '--cert', 'c', '--key', 'k.pem', '-pass', 'file:/run/pw']), {
    cert: 'c',
    key: 'k.pem',
    passphrase: { from: 'file', path: '/run/pw' },
  });
  t.like(parseCliArgs(['client', 'a:1', '--pfx', 'c.p12', '-passin=pass:a:b c']), { pfx: 'c.p12', passphrase: { from: 'pass', value: 'a:b c' } });
  t.like(parseCliArgs(['client', 'a:1', '--pfx', 'c.p12']), { pfx: 'c.p12' }, 'an empty password needs no --passphrase');
  t.like(parseCliArgs(['client', '--dtls', 'a:1', '--cert', 'c', '--key', 'k', '--passphrase', 'pass:']), { passphrase: { from: 'pass', value: '' } });

  const usage = (argv: string[], message: string | RegExp) => t.throws(() => parseCliArgs(argv), { instanceOf: UsageError, message }, argv.join(' '));
  usage(['server', '--port', '0', '--pfx', 's.p12', '--passphrase', 'secret'], '--passphrase needs pass:TEXT, env:VAR or file:PATH (as openssl -passin); for this text write pass:secret');
  usage(['server', '--port', '0', '--pfx', 's.p12', '-passin', 'fd:3'], '--passphrase fd:3 is not supported (use env:VAR or file:PATH)');
  usage(['server', '--port', '0', '--pfx', 's.p12', '-passin', 'stdin'], '--passphrase stdin is not supported (use env:VAR or file:PATH)');
  usage(['server', '--port', '0', '--pfx', 's.p12', '--passphrase', 'env:'], '--passphrase env: needs a variable name');
  usage(['server', '--port', '0', '--psk', 'aa', '--passphrase', 'pass:x'], '--passphrase needs --key or --pfx');
  usage(['client', 'a:1', '--passphrase', 'pass:x'], '--passphrase needs --key or --pfx');
  usage(['server', '--port', '0', '--pfx', 's.p12', '--cert', 'c', '--key', 'k'], '--pfx and --cert/--key exclude each other (the PKCS#12 file holds both)');
  usage(['server', '--port', '0'], 'server needs --cert PEM and --key PEM, or --pfx FILE (or --psk HEX)');
  t.regex(HELP, /--pfx FILE/);
  t.regex(HELP, /--passphrase ARG .*pass:TEXT, env:VAR or file:PATH/);
});

test('resolvePassphrase: the text, an environment variable, the first line of a file; named failures', (t) => {
  const files: Record<string, string> = { '/pw': 'line one\r\nline two\n', '/empty': '' };
  const read = (p: string) => {
    if (!(p in files)) throw new Error(`ENOENT: no such file or directory, open '${p}'`);
    return files[p]!;
  };
  const env = { PW: 's3cret' };
  t.is(resolvePassphrase(parsePassphraseArg('pass:x y'), env, read), 'x y');
  t.is(resolvePassphrase(parsePassphraseArg('env:PW'), env, read), 's3cret');
  t.is(resolvePassphrase(parsePassphraseArg('file:/pw'), env, read), 'line one');
  t.is(resolvePassphrase(parsePassphraseArg('file:/empty'), env, read), '');
  t.throws(() => resolvePassphrase(parsePassphraseArg('env:NOPE'), env, read), {
    instanceOf: UsageError,
    message: '--passphrase env:NOPE: the environment variable NOPE is not set',
  });
  t.throws(() => resolvePassphrase(parsePassphraseArg('file:/nope'), env, read), { instanceOf: UsageError, message: /^--passphrase file:\/nope: ENOENT/ });
});
