/**
 * The pure half of the `rxtls` command line: argument parsing (node:util `parseArgs`), the handshake summary,
 * the one-line failure message and the `--www` page. No I/O here, so all of it is unit tested
 * (`test/cli/args.test.ts`); `main.ts` does the I/O.
 */
import { parseArgs } from 'node:util';
import net from 'node:net';
import type { HandshakeInfo } from '../core/types.js';
import { TlsError } from '../core/errors.js';
import { parseCipherSuites, parseGroups } from '../tls/config.js';

/** `rxtls client HOST:PORT …`: stdin to the peer, the peer's data to stdout. */
export interface ClientCommand {
  readonly kind: 'client';
  readonly host: string;
  readonly port: number;
  readonly servername?: string;
  readonly cafile?: string;
  readonly insecure: boolean;
  readonly alpn?: readonly string[];
  /** OpenSSL `-ciphersuites` list, already validated. */
  readonly ciphers?: string;
  /** OpenSSL `-groups` list, already validated. */
  readonly groups?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly quiet: boolean;
}

/** What the server does with each connection's data. */
export type ServerMode = 'echo' | 'www' | 'print';

/** `rxtls server --port N --cert PEM --key PEM …`. */
export interface ServerCommand {
  readonly kind: 'server';
  readonly host: string;
  readonly port: number;
  readonly cert: string;
  readonly key: string;
  readonly mode: ServerMode;
  readonly alpn?: readonly string[];
  readonly ciphers?: string;
  readonly groups?: string;
  /** Exit after this many connections (like `s_server -naccept`). */
  readonly naccept?: number;
  /** CA file for client certificates; when set a client certificate is required. */
  readonly verifyClient?: string;
  readonly quiet: boolean;
}

/** A parsed command line. */
export type CliCommand = { readonly kind: 'help'; readonly text: string } | ClientCommand | ServerCommand;

/** A command-line mistake: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit codes of the `rxtls` bin. */
export const ExitCode = {
  /** Clean close (close_notify both ways). */
  ok: 0,
  /** The connection or handshake failed (TLS error, socket error, unexpected EOF). */
  failure: 1,
  /** Bad command line. */
  usage: 2,
} as const;

export const HELP = `rxtls — TLS 1.3 client and server (like openssl s_client / s_server)

Usage:
  rxtls client HOST:PORT [options]      stdin to the peer, the peer's data to stdout
  rxtls server --port N --cert PEM --key PEM [options]
  rxtls --help

Client options:
  --servername NAME     SNI and the name to verify (default: HOST unless it is an IP address)
  --cafile PEM          trusted CA certificates (default: the system roots)
  --insecure            do not verify the server certificate (loudly insecure)
  --alpn a,b            ALPN protocols, comma separated, in preference order
  --ciphers LIST        TLS 1.3 suites, OpenSSL syntax: TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256
  --groups LIST         key exchange groups, OpenSSL syntax: X25519:P-256:P-384
  --cert PEM --key PEM  client certificate chain and its private key
  --quiet               no handshake summary on stderr
  At stdin EOF the client sends close_notify and waits for the peer's. HOST may be [::1].

Server options:
  --host ADDR           address to bind (default 127.0.0.1)
  --echo                echo received data back
  --www                 answer an HTTP request with a page naming the negotiated parameters, then close
                        (default: print received data to stdout)
  --alpn a,b  --ciphers LIST  --groups LIST   as for the client
  --naccept N           exit after N connections
  --verify-client PEM   require a client certificate issued by these CAs
  --quiet               no per-connection summary on stderr
  The server prints "ACCEPT HOST:PORT" on stderr once it is listening.

Exit status: 0 after a clean close, 1 when a connection failed, 2 for a bad command line.
`;

const clientOptions = {
  servername: { type: 'string' },
  cafile: { type: 'string' },
  insecure: { type: 'boolean', default: false },
  alpn: { type: 'string' },
  ciphers: { type: 'string' },
  groups: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const serverOptions = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string', default: '127.0.0.1' },
  cert: { type: 'string' },
  key: { type: 'string' },
  echo: { type: 'boolean', default: false },
  www: { type: 'boolean', default: false },
  alpn: { type: 'string' },
  ciphers: { type: 'string' },
  groups: { type: 'string' },
  naccept: { type: 'string' },
  'verify-client': { type: 'string' },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Parse `process.argv.slice(2)`. Throws {@link UsageError} for mistakes. */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') return { kind: 'help', text: HELP };
  switch (sub) {
    case 'client':
      return parseClient(rest);
    case 'server':
      return parseServer(rest);
    default:
      throw new UsageError(`unknown command "${sub}" (expected client or server)`);
  }
}

/** Run a `parseArgs` call, turning its errors into {@link UsageError}s. */
function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split('\n')[0]! : String(e));
  }
}

function parseClient(args: readonly string[]): CliCommand {
  const { values: v, positionals } = usage(() =>
    parseArgs({ args: [...args], options: clientOptions, allowPositionals: true, strict: true }),
  );
  if (v.help) return { kind: 'help', text: HELP };
  if (positionals.length !== 1) throw new UsageError('client needs exactly one HOST:PORT');
  const { host, port } = parseHostPort(positionals[0]!);
  if ((v.cert === undefined) !== (v.key === undefined)) throw new UsageError('--cert and --key go together');
  if (v.insecure && v.cafile !== undefined) throw new UsageError('--insecure and --cafile exclude each other');
  return {
    kind: 'client',
    host,
    port,
    ...(v.servername !== undefined && { servername: checkServername(v.servername) }),
    ...(v.cafile !== undefined && { cafile: v.cafile }),
    insecure: v.insecure,
    ...(v.alpn !== undefined && { alpn: parseAlpnList(v.alpn) }),
    ...(v.ciphers !== undefined && { ciphers: checkList(v.ciphers, parseCipherSuites) }),
    ...(v.groups !== undefined && { groups: checkList(v.groups, parseGroups) }),
    ...(v.cert !== undefined && { cert: v.cert, key: v.key! }),
    quiet: v.quiet,
  };
}

function parseServer(args: readonly string[]): CliCommand {
  const { values: v, positionals } = usage(() =>
    parseArgs({ args: [...args], options: serverOptions, allowPositionals: true, strict: true }),
  );
  if (v.help) return { kind: 'help', text: HELP };
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (v.port === undefined) throw new UsageError('server needs --port N (0 picks a free port)');
  if (v.cert === undefined || v.key === undefined) throw new UsageError('server needs --cert PEM and --key PEM');
  if (v.echo && v.www) throw new UsageError('--echo and --www exclude each other');
  const host = stripBrackets(v.host);
  if (net.isIP(host) === 0 && !/^[a-z0-9.-]+$/i.test(host)) throw new UsageError(`bad --host "${v.host}"`);
  return {
    kind: 'server',
    host,
    port: parsePort(v.port, true),
    cert: v.cert,
    key: v.key,
    mode: v.echo ? 'echo' : v.www ? 'www' : 'print',
    ...(v.alpn !== undefined && { alpn: parseAlpnList(v.alpn) }),
    ...(v.ciphers !== undefined && { ciphers: checkList(v.ciphers, parseCipherSuites) }),
    ...(v.groups !== undefined && { groups: checkList(v.groups, parseGroups) }),
    ...(v.naccept !== undefined && { naccept: parsePositiveInt(v.naccept, '--naccept') }),
    ...(v['verify-client'] !== undefined && { verifyClient: v['verify-client'] }),
    quiet: v.quiet,
  };
}

/** Split `HOST:PORT`, `[v6]:PORT` (brackets required for IPv6). */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  if (!m) throw new UsageError(`expected HOST:PORT or [IPv6]:PORT, got "${s}"`);
  const host = m[1]!;
  if (s.startsWith('[') && net.isIPv6(host) === false) throw new UsageError(`"${host}" is not an IPv6 address`);
  return { host, port: parsePort(m[2]!, false) };
}

function stripBrackets(h: string): string {
  return /^\[.*\]$/.test(h) ? h.slice(1, -1) : h;
}

function parsePort(s: string, allowZero: boolean): number {
  if (!/^\d+$/.test(s)) throw new UsageError(`bad port "${s}"`);
  const n = Number(s);
  if (n > 65535 || (n === 0 && !allowZero)) throw new UsageError(`port out of range: ${s}`);
  return n;
}

function parsePositiveInt(s: string, flag: string): number {
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`${flag} needs a positive integer, got "${s}"`);
  return Number(s);
}

/** `h2,http/1.1` → `['h2', 'http/1.1']`; each name 1..255 bytes (RFC 7301 §3.1). */
export function parseAlpnList(s: string): string[] {
  const names = s.split(',').map((x) => x.trim());
  for (const n of names) {
    const len = Buffer.byteLength(n, 'utf8');
    if (len === 0 || len > 255) throw new UsageError(`bad ALPN protocol name "${n}" in "${s}" (1..255 bytes each)`);
  }
  return names;
}

function checkServername(s: string): string {
  if (s.length === 0 || s.length > 253) throw new UsageError(`bad --servername "${s}"`);
  return s;
}

/** Validate an OpenSSL list with the library's own parser, keep the text for the options. */
function checkList(list: string, parser: (l: string) => unknown): string {
  try {
    parser(list);
  } catch (e) {
    throw new UsageError(e instanceof TlsError ? e.detail.reason : String(e));
  }
  return list;
}

/**
 * The handshake summary, one `Key: value` per line (stable keys, so scripts and tests can read it):
 * Protocol, Cipher, Group, ALPN, Server name, Peer, Peer certificates, Peer signature, Verification,
 * HelloRetryRequest, Resumed, Early data.
 */
export function formatSummary(info: HandshakeInfo): string {
  const lines: [string, string][] = [
    ['Protocol', info.protocol],
    ['Cipher', info.cipherSuite],
    ['Group', info.group ?? '(none: psk_ke)'],
    ['ALPN', info.alpn ?? '(none)'],
    ['Server name', info.serverName ?? '(none)'],
    ['Peer', info.peerSubject ?? '(no certificate)'],
    ['Peer certificates', String(info.peerCertificates.length)],
    ['Peer signature', info.peerSignatureScheme ?? '(none)'],
    ['Verification', info.verification],
    ['HelloRetryRequest', info.helloRetry ? 'yes' : 'no'],
    ['Resumed', info.resumed ? 'yes' : 'no'],
    ['Early data', info.earlyData ?? 'none'],
  ];
  return lines.map(([k, v]) => `${k}: ${v}\n`).join('');
}

/** Read back a summary printed by {@link formatSummary} (the last value wins for repeated keys). */
export function parseSummary(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^(Protocol|Cipher|Group|ALPN|Server name|Peer|Peer certificates|Peer signature|Verification|HelloRetryRequest|Resumed|Early data): (.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** One line describing a failure (no prefix), e.g. `certificate rejected (unknown_ca): … (sent alert unknown_ca)`. */
export function describeFailure(err: unknown): string {
  let msg: string;
  if (err instanceof TlsError) msg = err.kind === 'transport' ? `connection failed: ${err.message}` : err.message;
  else if (err instanceof UsageError) msg = `${err.message} (see rxtls --help)`;
  else if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string') msg = `connection failed: ${err.message}`;
  else if (err instanceof Error) msg = err.message;
  else msg = String(err);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

/** The one-line message for a failure, e.g. `rxtls: certificate rejected (unknown_ca): … (sent alert unknown_ca)`. */
export function formatFailure(err: unknown): string {
  return `rxtls: ${describeFailure(err)}`;
}

/** The exit code for a failure. */
export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError ? ExitCode.usage : ExitCode.failure;
}

/** True once `request` holds a complete HTTP request head (`\r\n\r\n`, or `\n\n` from a hand-typed request). */
export function isRequestComplete(request: string): boolean {
  return request.includes('\r\n\r\n') || request.includes('\n\n');
}

/** The `--www` answer: an HTTP/1.0 200 page naming the negotiated parameters (`s_server -www` style). */
export function wwwResponse(info: HandshakeInfo): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const body =
    '<!DOCTYPE html>\n<html><head><title>rxtls</title></head><body>\n<h1>rxtls server</h1>\n<pre>\n' +
    esc(formatSummary(info)) +
    '</pre>\n</body></html>\n';
  return (
    'HTTP/1.0 200 OK\r\n' +
    'Content-Type: text/html; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n` +
    'Connection: close\r\n' +
    '\r\n' +
    body
  );
}
