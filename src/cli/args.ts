/**
 * The pure half of the `rxtls` command line: argument parsing (node:util `parseArgs`), the handshake summary,
 * the one-line failure message and the `--www` page. No I/O here, so all of it is unit tested
 * (`test/cli/args.test.ts`); `main.ts` does the I/O.
 */
import { parseArgs } from 'node:util';
import net from 'node:net';
import nodePath from 'node:path';
import type { HandshakeInfo } from '../core/types.js';
import { TlsError } from '../core/errors.js';
import { parseCipherSuites, parseGroups } from '../handshake/config.js';
import { decodeSession, encodeSession, type TlsSession } from '../handshake/session.js';
import { concatBytes } from '../wire/bytes.js';

/** `rxtls client HOST:PORT …`: stdin to the peer, the peer's data to stdout. */
export interface ClientCommand {
  readonly kind: 'client';
  readonly host: string;
  readonly port: number;
  readonly servername?: string;
  readonly cafile?: string;
  readonly insecure: boolean;
  readonly alpn?: readonly string[];
  /** Cipher list (TLS 1.3 `-ciphersuites` and TLS 1.2 `-cipher` names), already validated. */
  readonly ciphers?: string;
  /** OpenSSL `-groups` list, already validated. */
  readonly groups?: string;
  /** `--tls1_2` / `--tls1_3`: the only version to negotiate (default: TLS 1.2 or 1.3). */
  readonly version?: 'TLSv1.2' | 'TLSv1.3' | 'DTLSv1.2' | 'DTLSv1.3';
  readonly cert?: string;
  readonly key?: string;
  /** `--pfx FILE`: the client certificate and key as one PKCS#12 file (instead of `--cert` and `--key`). */
  readonly pfx?: string;
  /** `--passphrase ARG` (`-passin`, `-pass`): the password of an encrypted `--key` or of `--pfx`. */
  readonly passphrase?: PassphraseSource;
  /** `--psk HEX` with `--psk-identity ID` (default `Client_identity`, as OpenSSL): an external PSK to offer. */
  readonly psk?: { readonly identity: string; readonly key: string };
  /** `--sess-in`: a session file to resume with (see {@link parseSessionFile}). */
  readonly sessIn?: string;
  /** `--sess-out`: where to write the newest session after a clean close (see {@link formatSessionFile}). */
  readonly sessOut?: string;
  /** `--early-data`: a file sent as 0-RTT early data (needs `sessIn`); resent after the handshake if rejected. */
  readonly earlyData?: string;
  /** `--keylog`: append SSLKEYLOGFILE lines to this file. */
  readonly keylog?: string;
  /** `--inline-commands`: stdin lines `^rekey^` / `^rekey1^` send a KeyUpdate instead of data. */
  readonly inlineCommands: boolean;
  readonly quiet: boolean;
  /** `--dtls`: DTLS 1.3 over UDP instead of TLS over TCP; each stdin line is one record. */
  readonly dtls?: true;
  /** `--mtu N` (with `--dtls`): the largest datagram sent, 256..65507 bytes (default 1232). */
  readonly mtu?: number;
  /** `--dtls-draft43` (with `--dtls`): draft-ietf-tls-dtls13-43 instead of RFC 9147, for NSS 3.87. */
  readonly dtlsDraft43?: boolean;
  /** `--timeout SECONDS`: give up when the connection and handshake take longer (default 30 s, the handshake timeout). */
  readonly timeoutSeconds?: number;
  /** `--showcerts`: print the server's chain as PEM on stderr after the handshake. */
  readonly showCerts?: boolean;
  /** `--msg`: each handshake message and alert, both ways, on stderr (`s_client -msg`). TLS over TCP. */
  readonly msg?: boolean;
  /** `--quic`: QUIC v1 over UDP (needs `--alpn`): one bidirectional stream carries stdin and stdout. */
  readonly quic?: true;
  /** `--qlog DIR` (with `--quic`): write the connection's qlog to `DIR/<ODCID>.sqlog`. */
  readonly qlog?: string;
}

/** `rxtls get https://HOST:PORT/PATH [-o FILE]`: one HTTP/3 GET, the body to stdout or a file. */
export interface GetCommand {
  readonly kind: 'get';
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** `:authority`: `HOST:PORT` as the URL gives it (brackets kept for IPv6). */
  readonly authority: string;
  /** `:path`: the URL's path and query. */
  readonly path: string;
  readonly output?: string;
  readonly servername?: string;
  readonly cafile?: string;
  readonly insecure: boolean;
  readonly keylog?: string;
  /** `--qlog DIR`: write the connection's qlog to `DIR/<ODCID>.sqlog`. */
  readonly qlog?: string;
  readonly timeoutSeconds?: number;
  readonly quiet: boolean;
}

/**
 * Where a passphrase comes from, in OpenSSL's pass phrase argument syntax (openssl-passphrase-options(1)):
 * `pass:TEXT` (the text itself: visible to other users in `ps`), `env:VAR` (an environment variable) or
 * `file:PATH` (the first line of a file). Read by {@link resolvePassphrase}.
 */
export type PassphraseSource =
  | { readonly from: 'pass'; readonly value: string }
  | { readonly from: 'env'; readonly name: string }
  | { readonly from: 'file'; readonly path: string };

/** What the server does with each connection's data. */
export type ServerMode = 'echo' | 'www' | 'print';

/** `rxtls server --port N --cert PEM --key PEM …`. */
export interface ServerCommand {
  readonly kind: 'server';
  readonly host: string;
  readonly port: number;
  /** Certificate and key files; optional with `--psk` (like `s_server -nocert`). */
  readonly cert?: string;
  readonly key?: string;
  /** `--pfx FILE`: certificate chain and key as one PKCS#12 file (instead of `--cert` and `--key`). */
  readonly pfx?: string;
  /** `--passphrase ARG` (`-passin`, `-pass`): the password of an encrypted `--key` or of `--pfx`. */
  readonly passphrase?: PassphraseSource;
  /** `--psk HEX` with `--psk-identity ID` (default `Client_identity`): the external PSK accepted. */
  readonly psk?: { readonly identity: string; readonly key: string };
  readonly mode: ServerMode;
  readonly alpn?: readonly string[];
  readonly ciphers?: string;
  readonly groups?: string;
  /** `--tls1_2` / `--tls1_3`: the only version to accept (default: TLS 1.2 or 1.3). */
  readonly version?: 'TLSv1.2' | 'TLSv1.3' | 'DTLSv1.2' | 'DTLSv1.3';
  /** Exit after this many connections (like `s_server -naccept`). */
  readonly naccept?: number;
  /** CA file for client certificates; when set a client certificate is required. */
  readonly verifyClient?: string;
  /** `--keylog`: append SSLKEYLOGFILE lines of every connection to this file. */
  readonly keylog?: string;
  /** `--max-early-data N`: accept up to N bytes of 0-RTT per connection (default 0: refuse). */
  readonly maxEarlyData?: number;
  /** `--no-ticket`: issue no session tickets (nothing can resume). */
  readonly noTicket: boolean;
  /** `--num-tickets N`: NewSessionTickets per handshake (default 2). */
  readonly numTickets?: number;
  readonly quiet: boolean;
  /** `--dtls`: DTLS 1.3 over UDP (each record is printed or echoed as it comes). */
  readonly dtls?: true;
  /** `--mtu N` (with `--dtls`). */
  readonly mtu?: number;
  /** `--dtls-draft43` (with `--dtls`). */
  readonly dtlsDraft43?: boolean;
  /** `--msg`: each connection's handshake messages and alerts on stderr (`s_server -msg`). TLS over TCP. */
  readonly msg?: boolean;
  /** `--quic`: QUIC v1 over UDP; `mode` is `www` (an HTTP/3 file server for `wwwDir`) or `echo` (raw streams). */
  readonly quic?: true;
  /** `--www DIR` with `--quic`: the directory served over HTTP/3. */
  readonly wwwDir?: string;
  /** `--retry` (with `--quic`): validate every client's address with a Retry first (RFC 9000 §8.1.2). */
  readonly retry?: boolean;
  /** `--qlog DIR` (with `--quic`): write each connection's qlog to `DIR/<ODCID>.sqlog`. */
  readonly qlog?: string;
}

/** A parsed command line. */
export type CliCommand =
  | { readonly kind: 'help'; readonly text: string }
  /** `rxtls --version`: main.ts prints the package version. */
  | { readonly kind: 'version' }
  | ClientCommand
  | GetCommand
  | ProxyCommand
  | ServerCommand;

/**
 * `rxtls proxy`: terminate TLS (or QUIC) on `listen`, and forward the plaintext to `to`, over TCP or, with
 * `toTls`, over a TLS connection made by rxtls (originate).
 */
export interface ProxyCommand {
  readonly kind: 'proxy';
  /** Where to listen (TCP, or UDP with `quic`); port 0 picks a free one (the ACCEPT line says which). */
  readonly listen: { readonly host: string; readonly port: number };
  /** The front's certificate and key (TLS terminated); absent: a plain TCP front (`toTls` only). */
  readonly cert?: string;
  readonly key?: string;
  /** ALPN offered to clients (required with `quic`). */
  readonly alpn?: readonly string[];
  /** A QUIC listener in front: each bidirectional stream is one backend connection. */
  readonly quic: boolean;
  /**
   * `--dtls`: a DTLS listener in front (DTLS 1.2 or 1.3 over UDP, stateless cookies): each DTLS connection is one
   * backend connection, each record a chunk of its byte stream. Absent unless given.
   */
  readonly dtls?: true;
  readonly to: { readonly host: string; readonly port: number };
  /** Originate TLS to the backend (else plain TCP). */
  readonly toTls: boolean;
  readonly cafile?: string;
  readonly servername?: string;
  readonly insecure: boolean;
  /** `--route NAME=HOST:PORT`: clients asking for server name NAME (SNI; `*.example.com` for one more label) go there; `to` takes the rest. */
  readonly routes: readonly { readonly name: string; readonly to: { readonly host: string; readonly port: number } }[];
  /** `--passthrough`: route by the ClientHello without terminating: the client's TLS bytes go to the backend untouched. */
  readonly passthrough: boolean;
}

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

export const HELP = `rxtls — TLS 1.3 and TLS 1.2 client and server (like openssl s_client / s_server)

Usage:
  rxtls client HOST:PORT [options]      stdin to the peer, the peer's data to stdout
  rxtls client --dtls HOST:PORT [options]   the same over DTLS 1.3 (UDP): one stdin line = one record
  rxtls server --port N --cert PEM --key PEM [options]
  rxtls server --port N --pfx FILE --passphrase pass:TEXT|env:VAR|file:PATH [options]
  rxtls server --dtls --port N --cert PEM --key PEM [options]
  rxtls server --port N --psk HEX [--psk-identity ID] [options]
  rxtls client --quic HOST:PORT --alpn X [options]   one QUIC stream: stdin to the peer, its data to stdout
  rxtls get https://HOST:PORT/PATH [-o FILE] [options]   an HTTP/3 GET: the body to stdout or FILE
  rxtls server --quic --port N --cert PEM --key PEM (--www DIR | --echo) [--retry] [--keylog FILE]
  rxtls proxy --listen HOST:PORT [--cert PEM --key PEM] --to HOST:PORT [--to-tls [--cafile PEM] [--servername N]]
              [--quic --alpn LIST]   terminate TLS (or QUIC streams; no --cert: a plain TCP front), forward over
                                     TCP or TLS (--to-tls); one log line per connection on stderr
              [--dtls]               a DTLS 1.2/1.3 front on UDP: each connection's records become one byte
                                     stream to the backend, and its bytes records back
              [--route NAME=HOST:PORT ...]   by the server name the client asked for (SNI; *.example.com
                                     for one more label); --to takes the other names
              [--passthrough]        route by the ClientHello without terminating: the TLS bytes go to the
                                     backend untouched (unknown names without a route: --to)
  rxtls --help | --version

OpenSSL's single-dash spellings are accepted too: -connect HOST:PORT, -CAfile, -servername, -cert, -key,
-alpn, -ciphersuites, -groups, -keylogfile, -sess_out, -sess_in, -passin (and -pass), -port, -accept [HOST:]PORT,
-naccept, …

Client options:
  --servername NAME     SNI and the name to verify (default: HOST unless it is an IP address)
  --cafile PEM          trusted CA certificates (default: the system roots)
  --insecure            do not verify the server certificate (loudly insecure)
  --alpn a,b            ALPN protocols, comma separated, in preference order
  --ciphers LIST        suites, OpenSSL names, TLS 1.3 and TLS 1.2 mixed (as node:tls ciphers):
                        TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:ECDHE-RSA-AES128-GCM-SHA256
  --groups LIST         key exchange groups, OpenSSL syntax: X25519:P-256:P-384
  --tls1_2, --tls1_3    negotiate only TLS 1.2, or only TLS 1.3 (default: either; the summary's Protocol
                        line says which)
  --cert PEM --key PEM  client certificate chain and its private key
  --pfx FILE            client certificate chain and key as one PKCS#12 file (openssl pkcs12 -export)
  --passphrase ARG      the password of an encrypted --key (PKCS#8) or of --pfx, as openssl -passin takes
                        it: pass:TEXT, env:VAR or file:PATH (its first line); -passin ARG is the same
  --psk HEX             offer an external PSK (RFC 8446 §4.2.11, like s_client -psk); when the server takes
                        it there are no certificates; the summary says "PSK identity: ID"
  --psk-identity ID     its identity (default Client_identity, as OpenSSL)
  --sess-out FILE       after a clean close (close_notify both ways), write the newest session ticket
                        received to FILE ("-----BEGIN RXTLS SESSION-----" + base64, mode 0600)
  --sess-in FILE        resume with a session written by --sess-out; the summary says "Resumed: yes|no"
  --early-data FILE     with --sess-in: send FILE as 0-RTT early data before stdin; the summary says
                        "Early data: accepted|rejected|none"; rejected early data is sent again after the
                        handshake (and early data the ticket does not allow is sent normally)
  --keylog FILE         append the connection's secrets to FILE (SSLKEYLOGFILE format; debugging only)
  --inline-commands     read stdin line by line; a line "^rekey^" sends a KeyUpdate asking the server to
                        update too (update_requested), "^rekey1^" updates our sending key only
                        (update_not_requested); such lines are not sent as data (like gnutls-cli)
  --timeout SECONDS     give up when the TCP connection and the handshake take longer (default 30)
  --showcerts           print the server's certificate chain as PEM on stderr after the handshake
  --msg                 print each handshake message and alert, both ways, on stderr as it passes
                        (">>> Handshake [length 196], ClientHello"; "<<<" for received; like s_client -msg)
  --quiet               no handshake summary on stderr
  --dtls                DTLS 1.2 or 1.3 over UDP (RFC 6347, RFC 9147): each stdin line, with its newline, is one record
  --dtls1_2, --dtls1_3  DTLS over UDP, negotiating only DTLS 1.2, or only DTLS 1.3 (as openssl -dtls1_2)
                        (a line longer than a record is cut into several); records go to stdout as they
                        come. Not with --sess-in, --sess-out or --early-data
  --mtu N               with --dtls: the largest datagram sent, 256..65507 bytes (default 1232)
  --dtls-draft43        with --dtls: speak draft-ietf-tls-dtls13-43 (NSS 3.87 tstclnt) instead of RFC 9147
  --quic                QUIC v1 over UDP (RFC 9000; --alpn required): stdin goes on one bidirectional stream,
                        whose data goes to stdout; stdin EOF ends our half (FIN); exit 0 when the peer ends
                        its half. With --cafile, --servername, --insecure, --cert/--key, --keylog, --timeout
  --qlog DIR            with --quic: write the connection's qlog (JSON-SEQ, qlog 0.3, for qvis) to
                        DIR/<ODCID>.sqlog, as ngtcp2's --qlog-dir does
  At stdin EOF the client sends close_notify and waits for the peer's. HOST may be [::1].
  "CONNECTED HOST:PORT" goes to stderr as soon as the TCP connection is up, the summary after the handshake.

Server options:
  --host ADDR           address to bind (default 127.0.0.1)
  --echo                echo received data back
  --www                 answer an HTTP request with a page naming the negotiated parameters, then close
                        (default: print received data to stdout)
  --alpn a,b  --ciphers LIST  --groups LIST  --tls1_2  --tls1_3   as for the client
  --naccept N           exit after N connections
  --cert PEM --key PEM  the certificate chain and its private key (PEM or DER)
  --pfx FILE            the chain and key as one PKCS#12 file instead (openssl pkcs12 -export)
  --passphrase ARG      the password of an encrypted --key or of --pfx: pass:TEXT, env:VAR or file:PATH
                        (as openssl -passin, which is accepted too)
  --verify-client PEM   require a client certificate issued by these CAs
  --psk HEX             accept this external PSK (like s_server -psk); --cert and --key become optional
                        (without them, like -nocert, clients must offer the PSK)
  --psk-identity ID     the identity it is known by (default Client_identity, as OpenSSL)
  --keylog FILE         append every connection's secrets to FILE (SSLKEYLOGFILE format)
  --max-early-data N    accept up to N bytes of 0-RTT early data per connection (default 0: refuse);
                        early data is handled like the rest of the connection's data
  --no-ticket           issue no session tickets (no resumption)
  --num-tickets N       session tickets per handshake, 1..16 (default 2)
  --quiet               no per-connection summary on stderr
  --msg                 print each connection's handshake messages and alerts, both ways, on stderr
  --dtls1_2, --dtls1_3  with DTLS: accept only DTLS 1.2, or only DTLS 1.3
  --dtls                DTLS 1.2 or 1.3 over UDP on --port (stateless cookies, connections told apart by address);
                        --echo sends each record back as one record; not with --www or --max-early-data
  --mtu N               with --dtls: the largest datagram sent, 256..65507 bytes (default 1232)
  --dtls-draft43        with --dtls: speak draft-ietf-tls-dtls13-43 (NSS 3.87 tstclnt) instead of RFC 9147
  --quic                QUIC v1 over UDP on --port, with --www DIR (an HTTP/3 file server: GET and HEAD, 404 for
                        a missing file, 403 for a path outside DIR, index.html for a directory; ALPN h3) or
                        --echo (each bidirectional stream sent back as it comes, then FIN; ALPN from --alpn,
                        default h3)
  --retry               with --quic: send a Retry to every new client first (address validation)
  --qlog DIR            with --quic: write each connection's qlog to DIR/<ODCID>.sqlog (ODCID: the client's
                        first Destination Connection ID, in hex)
  KeyUpdates from clients are answered automatically (with our own when they ask for it).
  The server prints "ACCEPT HOST:PORT" on stderr once it is listening.

Get options (rxtls get https://HOST:PORT/PATH: an HTTP/3 GET over QUIC, ALPN h3):
  -o, --output FILE     write the body to FILE instead of stdout
  --cafile PEM  --servername NAME  --insecure  --keylog FILE  --timeout SECONDS  --quiet   as for the client
  --qlog DIR            write the connection's qlog to DIR/<ODCID>.sqlog
  A status outside 2xx prints one line "rxtls: GET URL: STATUS" on stderr and exits 1.

Environment: SSLKEYLOGFILE=FILE logs every connection's secrets to FILE, as --keylog FILE does (curl and the
browsers do the same); rxtls says so on stderr.

Exit status: 0 after a clean close, 1 when a connection failed, 2 for a bad command line.
`;

const clientOptions = {
  tls1_2: { type: 'boolean', default: false },
  tls1_3: { type: 'boolean', default: false },
  dtls1_2: { type: 'boolean', default: false },
  dtls1_3: { type: 'boolean', default: false },
  servername: { type: 'string' },
  cafile: { type: 'string' },
  insecure: { type: 'boolean', default: false },
  alpn: { type: 'string' },
  ciphers: { type: 'string' },
  groups: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  pfx: { type: 'string' },
  passphrase: { type: 'string' },
  psk: { type: 'string' },
  'psk-identity': { type: 'string' },
  'sess-out': { type: 'string' },
  'sess-in': { type: 'string' },
  'early-data': { type: 'string' },
  keylog: { type: 'string' },
  'inline-commands': { type: 'boolean', default: false },
  dtls: { type: 'boolean', default: false },
  mtu: { type: 'string' },
  'dtls-draft43': { type: 'boolean', default: false },
  timeout: { type: 'string' },
  showcerts: { type: 'boolean', default: false },
  msg: { type: 'boolean', default: false },
  quic: { type: 'boolean', default: false },
  qlog: { type: 'string' },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', default: false },
} as const;

const getOptions = {
  output: { type: 'string', short: 'o' },
  servername: { type: 'string' },
  cafile: { type: 'string' },
  insecure: { type: 'boolean', default: false },
  keylog: { type: 'string' },
  qlog: { type: 'string' },
  timeout: { type: 'string' },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const proxyOptions = {
  listen: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  alpn: { type: 'string' },
  quic: { type: 'boolean', default: false },
  dtls: { type: 'boolean', default: false },
  to: { type: 'string' },
  'to-tls': { type: 'boolean', default: false },
  cafile: { type: 'string' },
  servername: { type: 'string' },
  insecure: { type: 'boolean', default: false },
  route: { type: 'string', multiple: true },
  passthrough: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/**
 * `rxtls proxy --listen HOST:PORT --cert PEM --key PEM --to HOST:PORT [--to-tls [--cafile PEM] [--servername N]]
 * [--quic --alpn LIST | --dtls] [--route NAME=HOST:PORT …] [--passthrough]`: `--route` picks the backend by the server name
 * the client asked for (after terminating, or with `--passthrough` from the ClientHello alone, relaying the TLS
 * bytes untouched); `--to` is the default route.
 */
function parseProxy(args: readonly string[]): CliCommand {
  const { values: v, positionals } = usage('proxy', proxyOptions, args, () => parseArgs({ args: [...args], options: proxyOptions, allowPositionals: true, strict: true }));
  if (v.help) return { kind: 'help', text: HELP };
  if (positionals.length > 0) throw new UsageError(`proxy takes no positional argument, got "${positionals[0]}"`);
  if (v.listen === undefined) throw new UsageError('proxy needs --listen HOST:PORT');
  if (v.to === undefined) throw new UsageError('proxy needs --to HOST:PORT');
  if ((v.cert === undefined) !== (v.key === undefined)) throw new UsageError('--cert and --key go together');
  if (v.passthrough && (v.cert !== undefined || v.quic || v['to-tls'] || v.alpn !== undefined)) {
    throw new UsageError('--passthrough relays the TLS bytes untouched: no --cert/--key, --quic, --to-tls or --alpn with it');
  }
  if (v.quic && v.route?.length) throw new UsageError('--route needs a TLS front (QUIC streams carry no server name of their own)');
  if (v.dtls && (v.quic || v.passthrough)) throw new UsageError('--dtls is a front of its own: not with --quic or --passthrough');
  if (v.dtls && v.cert === undefined) throw new UsageError('proxy --dtls needs --cert and --key (it terminates DTLS)');
  const routes = (v.route ?? []).map((r) => {
    const eq = r.indexOf('=');
    const name = r.slice(0, eq).toLowerCase();
    if (eq <= 0 || !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)) throw new UsageError(`--route needs NAME=HOST:PORT, got "${r}"`);
    return { name, to: parseHostPort(r.slice(eq + 1)) };
  });
  if (!v.passthrough && v.cert === undefined && (v.quic || !v['to-tls'])) throw new UsageError('proxy needs --cert and --key (to terminate TLS or QUIC), or --to-tls (a plain front that originates TLS)');
  if (!v['to-tls'] && (v.cafile !== undefined || v.servername !== undefined || v.insecure)) throw new UsageError('--cafile, --servername and --insecure apply to --to-tls');
  if (v.insecure && v.cafile !== undefined) throw new UsageError('--insecure and --cafile exclude each other');
  const alpn = v.alpn?.split(',').filter((p) => p !== '');
  if (v.quic && !alpn?.length) throw new UsageError('proxy --quic needs --alpn (QUIC requires ALPN)');
  return {
    kind: 'proxy',
    listen: parseHostPort(v.listen, true),
    ...(v.cert !== undefined && v.key !== undefined ? { cert: v.cert, key: v.key } : {}),
    ...(alpn?.length ? { alpn } : {}),
    quic: v.quic,
    ...(v.dtls ? { dtls: true as const } : {}),
    to: parseHostPort(v.to),
    toTls: v['to-tls'],
    ...(v.cafile !== undefined ? { cafile: v.cafile } : {}),
    ...(v.servername !== undefined ? { servername: v.servername } : {}),
    insecure: v.insecure,
    routes,
    passthrough: v.passthrough,
  };
}

/** One `rxtls proxy` log line per connection: who, what was negotiated, where to, bytes, how each side closed. */
export function formatProxyLine(p: {
  readonly client: string;
  readonly sni?: string | undefined;
  readonly alpn?: string | undefined;
  readonly route: string;
  readonly up: number;
  readonly down: number;
  readonly clientClose: string;
  readonly backendClose: string;
}): string {
  return `PROXY client=${p.client} sni=${p.sni ?? '-'} alpn=${p.alpn ?? '-'} route=${p.route} up=${p.up} down=${p.down} client_close=${p.clientClose} backend_close=${p.backendClose}`;
}

const serverOptions = {
  tls1_2: { type: 'boolean', default: false },
  tls1_3: { type: 'boolean', default: false },
  dtls1_2: { type: 'boolean', default: false },
  dtls1_3: { type: 'boolean', default: false },
  port: { type: 'string', short: 'p' },
  host: { type: 'string', default: '127.0.0.1' },
  cert: { type: 'string' },
  key: { type: 'string' },
  pfx: { type: 'string' },
  passphrase: { type: 'string' },
  echo: { type: 'boolean', default: false },
  www: { type: 'boolean', default: false },
  alpn: { type: 'string' },
  ciphers: { type: 'string' },
  groups: { type: 'string' },
  naccept: { type: 'string' },
  'verify-client': { type: 'string' },
  psk: { type: 'string' },
  'psk-identity': { type: 'string' },
  keylog: { type: 'string' },
  'max-early-data': { type: 'string' },
  'no-ticket': { type: 'boolean', default: false },
  'num-tickets': { type: 'string' },
  dtls: { type: 'boolean', default: false },
  mtu: { type: 'string' },
  'dtls-draft43': { type: 'boolean', default: false },
  msg: { type: 'boolean', default: false },
  quic: { type: 'boolean', default: false },
  retry: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', default: false },
} as const;

/** With `--quic`, `--www` names the directory to serve (over TLS it is a flag: the handshake page). */
const quicServerOptions = { ...serverOptions, www: { type: 'string' }, qlog: { type: 'string' } } as const;

/** Parse `process.argv.slice(2)`. Throws {@link UsageError} for mistakes. */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') return { kind: 'help', text: HELP };
  if (sub === '--version' || sub === '-version' || sub === '-V' || sub === 'version') return { kind: 'version' };
  switch (sub) {
    case 'client':
      return parseClient(opensslSpellings('client', clientOptions, rest));
    case 'server':
      return rest.includes('--quic') ? parseQuicServer(rest) : parseServer(opensslSpellings('server', serverOptions, rest));
    case 'get':
      return parseGet(rest);
    case 'proxy':
      return parseProxy(rest);
    case 's_client':
    case 's_server':
      throw new UsageError(`unknown command "${sub}" (rxtls ${sub.slice(2)} is the ${sub} of rxtls)`);
    default:
      throw new UsageError(`unknown command "${sub}" (expected client, server, get or proxy)`);
  }
}

/** OpenSSL `s_client` / `s_server` option names that differ from ours (the others only lose a dash). */
const OPENSSL_NAMES: Readonly<Record<'client' | 'server', Readonly<Record<string, string>>>> = {
  client: { CAfile: 'cafile', ciphersuites: 'ciphers', curves: 'groups', keylogfile: 'keylog', showcerts: 'showcerts', passin: 'passphrase', pass: 'passphrase' },
  server: { ciphersuites: 'ciphers', curves: 'groups', keylogfile: 'keylog', verifyCAfile: 'verify-client', passin: 'passphrase', pass: 'passphrase' },
};

/** OpenSSL flags that rxtls always obeys (accepted and dropped). */
const OPENSSL_IMPLIED: Readonly<Record<'client' | 'server', readonly string[]>> = {
  client: ['verify_return_error'], // a certificate that does not verify always fails the handshake
  server: [],
};

/**
 * OpenSSL's single-dash spellings rewritten to ours, so an `openssl s_client` command line works after swapping
 * the program name: `-connect HOST:PORT` (the positional argument), `-accept [HOST:]PORT` (`--host`, `--port`),
 * `-CAfile` (`--cafile`), `-ciphersuites` (`--ciphers`), `-keylogfile` (`--keylog`), and every one of our
 * long options with one dash and `_` for `-` (`-servername`, `-sess_out`, `-num_tickets`). A single-dash word
 * that is none of these is refused by name instead of being read as a cluster of short flags.
 *
 * @example
 * ```ts
 * opensslSpellings('client', clientOptions, ['-connect', 'localhost:4433', '-CAfile', 'ca.pem']);
 * // ['localhost:4433', '--cafile', 'ca.pem']
 * ```
 */
function opensslSpellings(command: 'client' | 'server', options: Readonly<Record<string, { readonly type: string; readonly short?: string }>>, args: readonly string[]): string[] {
  const shorts = new Set(Object.values(options).flatMap((o) => (o.short ? [o.short] : [])));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const m = /^-([A-Za-z][A-Za-z0-9_-]+)(?:=(.*))?$/.exec(arg);
    if (!m) {
      out.push(arg);
      continue;
    }
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const v = args[++i];
      if (v === undefined) throw new UsageError(`option -${name} needs a value`);
      return v;
    };
    if (OPENSSL_IMPLIED[command].includes(name)) continue;
    if (command === 'client' && name === 'connect') {
      out.push(value());
      continue;
    }
    if (command === 'server' && name === 'accept') {
      const v = value();
      const hp = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(v);
      if (!hp) throw new UsageError(`-accept needs [HOST:]PORT, got "${v}"`);
      if (hp[1] !== undefined) out.push('--host', hp[1]);
      out.push('--port', hp[2]!);
      continue;
    }
    // Our own names first (`--tls1_2`, `--dtls1_3` keep OpenSSL's underscore), then with `_` read as `-`.
    const ours = OPENSSL_NAMES[command][name] ?? (name in options ? name : name.replace(/_/g, '-'));
    if (ours in options) {
      out.push(inline !== undefined ? `--${ours}=${inline}` : `--${ours}`);
      continue;
    }
    if (command === 'server' && name === 'CAfile') {
      throw new UsageError('unknown option -CAfile for rxtls server (client certificates: --verify-client PEM)');
    }
    // `-qx` is a cluster of short flags for parseArgs; `-foo` is a single-dash spelling we do not know.
    if (!shorts.has(name[0]!)) throw new UsageError(`unknown option -${name} for rxtls ${command}`);
    out.push(arg);
  }
  return out;
}

/**
 * Run a `parseArgs` call for `command`, turning its errors into {@link UsageError}s. An unknown option is named
 * as such (node's own text talks about positional arguments), with the option meant when only its spelling
 * differs (`--num_tickets`, `-num-tickets`: OpenSSL habits); {@link describeFailure} adds the pointer to --help.
 */
function usage<T>(command: 'client' | 'server' | 'get' | 'proxy', options: Readonly<Record<string, unknown>>, args: readonly string[], f: () => T): T {
  // OpenSSL spells long options with one dash (`-num_tickets`); parseArgs would read `-n -u -m …`.
  for (const arg of args) {
    if (arg === '--') break;
    const single = /^-([a-z][a-z0-9_-]+)(=.*)?$/i.exec(arg);
    const meant = single && (single[1]! in options ? single[1]! : single[1]!.replace(/_/g, '-'));
    if (meant && meant in options) {
      throw new UsageError(`unknown option ${arg.split('=')[0]} for rxtls ${command} (did you mean --${meant}?)`);
    }
  }
  try {
    return f();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if ((e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const name = /'([^']+)'/.exec(message)?.[1] ?? message;
      const meant = name.replace(/^-+/, '').replace(/_/g, '-').split('=')[0]!;
      const hint = meant in options && `--${meant}` !== name ? ` (did you mean --${meant}?)` : '';
      throw new UsageError(`unknown option ${name} for rxtls ${command}${hint}`);
    }
    throw new UsageError(message.split('\n')[0]!);
  }
}

function parseClient(args: readonly string[]): CliCommand {
  const { values: v, positionals } = usage('client', clientOptions, args, () =>
    parseArgs({ args: [...args], options: clientOptions, allowPositionals: true, strict: true }),
  );
  if (v.help) return { kind: 'help', text: HELP };
  if (v.version) return { kind: 'version' };
  if (positionals.length !== 1) throw new UsageError('client needs exactly one HOST:PORT');
  const { host, port } = parseHostPort(positionals[0]!);
  const identity = identityArgs(v);
  if (v.insecure && v.cafile !== undefined) throw new UsageError('--insecure and --cafile exclude each other');
  if (v['early-data'] !== undefined && v['sess-in'] === undefined) {
    throw new UsageError('--early-data needs --sess-in (0-RTT is only possible when resuming)');
  }
  if (v.quic) {
    const notQuic = (['sess-in', 'sess-out', 'early-data', 'psk', 'mtu', 'ciphers', 'groups'] as const).find((o) => v[o] !== undefined);
    if (notQuic) throw new UsageError(`--${notQuic} is not available with --quic`);
    const flag = (['dtls', 'dtls1_2', 'dtls1_3', 'tls1_2', 'tls1_3', 'inline-commands', 'dtls-draft43', 'showcerts'] as const).find((o) => v[o]);
    if (flag) throw new UsageError(`--${flag} is not available with --quic`);
    if (v.alpn === undefined) throw new UsageError('--quic needs --alpn (QUIC requires ALPN, RFC 9001 §8.1)');
  } else if (v.qlog !== undefined) throw new UsageError('--qlog needs --quic (qlog is a QUIC log)');
  if (v.dtls) {
    if (v['early-data'] !== undefined) throw new UsageError('--early-data is not available with --dtls (rxtls sends no 0-RTT over DTLS)');
  }
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
    ...versionArgs(v.tls1_2, v.tls1_3, v.dtls1_2, v.dtls1_3),
    ...identity,
    ...pskArgs(v.psk, v['psk-identity']),
    ...(v['sess-in'] !== undefined && { sessIn: v['sess-in'] }),
    ...(v['sess-out'] !== undefined && { sessOut: v['sess-out'] }),
    ...(v['early-data'] !== undefined && { earlyData: v['early-data'] }),
    ...(v.keylog !== undefined && { keylog: v.keylog }),
    inlineCommands: v['inline-commands'],
    quiet: v.quiet,
    ...dtlsArgs(v.dtls || v.dtls1_2 || v.dtls1_3, v.mtu, v['dtls-draft43'], v.tls1_2 || v.tls1_3),
    ...(v.timeout !== undefined && { timeoutSeconds: parseSeconds(v.timeout, '--timeout') }),
    ...(v.showcerts && { showCerts: true }),
    ...msgArg(v.msg, v.dtls || v.dtls1_2 || v.dtls1_3 || v.quic),
    ...(v.quic && { quic: true as const }),
    ...(v.qlog !== undefined && { qlog: checkDir(v.qlog) }),
  };
}

/**
 * `rxtls get https://HOST[:PORT]/PATH`: the URL must be https (HTTP/3 is always TLS); the port defaults to 443,
 * the path to `/`. `--servername` defaults to the host unless it is an IP address (as for the client).
 */
function parseGet(args: readonly string[]): CliCommand {
  const { values: v, positionals } = usage('get', getOptions, args, () => parseArgs({ args: [...args], options: getOptions, allowPositionals: true, strict: true }));
  if (v.help) return { kind: 'help', text: HELP };
  if (positionals.length !== 1) throw new UsageError('get needs exactly one https://HOST:PORT/PATH');
  const url = positionals[0]!;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`not a URL: "${url}"`);
  }
  if (parsed.protocol !== 'https:') throw new UsageError(`get needs an https:// URL (HTTP/3), got "${url}"`);
  if (parsed.username || parsed.password) throw new UsageError('a URL with user:password@ is not supported');
  if (v.insecure && v.cafile !== undefined) throw new UsageError('--insecure and --cafile exclude each other');
  const host = stripBrackets(parsed.hostname);
  const port = parsed.port === '' ? 443 : parsePort(parsed.port, false);
  return {
    kind: 'get',
    url,
    host,
    port,
    authority: parsed.host,
    path: `${parsed.pathname || '/'}${parsed.search}`,
    ...(v.output !== undefined && { output: v.output }),
    ...(v.servername !== undefined && { servername: checkServername(v.servername) }),
    ...(v.cafile !== undefined && { cafile: v.cafile }),
    insecure: v.insecure,
    ...(v.keylog !== undefined && { keylog: v.keylog }),
    ...(v.qlog !== undefined && { qlog: checkDir(v.qlog) }),
    ...(v.timeout !== undefined && { timeoutSeconds: parseSeconds(v.timeout, '--timeout') }),
    quiet: v.quiet,
  };
}

/** `--qlog DIR`: a directory name, not empty. */
function checkDir(dir: string): string {
  if (dir === '') throw new UsageError('--qlog needs a directory');
  return dir;
}

/**
 * `rxtls server --quic --port N --cert PEM --key PEM (--www DIR | --echo) [--retry]`: `--www` takes the directory
 * here. Options that only mean something over TLS or DTLS are refused by name.
 */
function parseQuicServer(args: readonly string[]): CliCommand {
  const { values: v, positionals } = usage('server', quicServerOptions, args, () => parseArgs({ args: [...args], options: quicServerOptions, allowPositionals: true, strict: true }));
  if (v.help) return { kind: 'help', text: HELP };
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (v.port === undefined) throw new UsageError('server needs --port N (0 picks a free port)');
  const identity = identityArgs(v);
  if (identity.cert === undefined && identity.pfx === undefined) throw new UsageError('server --quic needs --cert PEM and --key PEM, or --pfx FILE');
  const notQuic = (['psk', 'psk-identity', 'max-early-data', 'num-tickets', 'mtu', 'ciphers', 'groups', 'verify-client'] as const).find((o) => v[o] !== undefined);
  if (notQuic) throw new UsageError(`--${notQuic} is not available with --quic`);
  const flag = (['dtls', 'dtls1_2', 'dtls1_3', 'tls1_2', 'tls1_3', 'no-ticket', 'dtls-draft43'] as const).find((o) => v[o]);
  if (flag) throw new UsageError(`--${flag} is not available with --quic`);
  if (v.echo === (v.www !== undefined)) throw new UsageError('server --quic needs either --www DIR or --echo');
  if (v.www === '') throw new UsageError('--www needs a directory');
  const host = bindHost(v.host);
  return {
    kind: 'server',
    host,
    port: parsePort(v.port, true),
    ...identity,
    mode: v.echo ? 'echo' : 'www',
    ...(v.www !== undefined && { wwwDir: v.www }),
    ...(v.alpn !== undefined && { alpn: parseAlpnList(v.alpn) }),
    ...(v.naccept !== undefined && { naccept: parsePositiveInt(v.naccept, '--naccept') }),
    ...(v.keylog !== undefined && { keylog: v.keylog }),
    noTicket: false,
    quiet: v.quiet,
    quic: true,
    ...(v.retry && { retry: true }),
    ...(v.qlog !== undefined && { qlog: checkDir(v.qlog) }),
  };
}

/** `--msg`: TLS over TCP only (the DTLS and QUIC adapters have no message callback). */
function msgArg(msg: boolean, dtls: boolean): { msg?: true } {
  if (msg && dtls) throw new UsageError('--msg is not available with --dtls or --quic');
  return msg ? { msg: true } : {};
}

/** A positive number of seconds (decimals allowed), at most a day. */
function parseSeconds(s: string, flag: string): number {
  const n = Number(s);
  if (!/^\d+(\.\d+)?$/.test(s) || !(n > 0) || n > 86_400) throw new UsageError(`${flag} needs a number of seconds from 0.001 to 86400, got "${s}"`);
  return n;
}

function parseServer(args: readonly string[]): CliCommand {
  const { values: v, positionals } = usage('server', serverOptions, args, () =>
    parseArgs({ args: [...args], options: serverOptions, allowPositionals: true, strict: true }),
  );
  if (v.help) return { kind: 'help', text: HELP };
  if (v.version) return { kind: 'version' };
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (v.port === undefined) throw new UsageError('server needs --port N (0 picks a free port)');
  const identity = identityArgs(v);
  if (identity.cert === undefined && identity.pfx === undefined && v.psk === undefined) {
    throw new UsageError('server needs --cert PEM and --key PEM, or --pfx FILE (or --psk HEX)');
  }
  if (v.retry) throw new UsageError('--retry needs --quic');
  if (v.echo && v.www) throw new UsageError('--echo and --www exclude each other');
  if (v['no-ticket'] && v['num-tickets'] !== undefined) throw new UsageError('--no-ticket and --num-tickets exclude each other');
  if (v.dtls && v.www) throw new UsageError('--www is not available with --dtls');
  if (v.dtls && v['max-early-data'] !== undefined) throw new UsageError('--max-early-data is not available with --dtls (no 0-RTT in DTLS)');
  const host = bindHost(v.host);
  return {
    kind: 'server',
    host,
    port: parsePort(v.port, true),
    ...identity,
    ...pskArgs(v.psk, v['psk-identity']),
    mode: v.echo ? 'echo' : v.www ? 'www' : 'print',
    ...(v.alpn !== undefined && { alpn: parseAlpnList(v.alpn) }),
    ...(v.ciphers !== undefined && { ciphers: checkList(v.ciphers, parseCipherSuites) }),
    ...(v.groups !== undefined && { groups: checkList(v.groups, parseGroups) }),
    ...versionArgs(v.tls1_2, v.tls1_3, v.dtls1_2, v.dtls1_3),
    ...(v.naccept !== undefined && { naccept: parsePositiveInt(v.naccept, '--naccept') }),
    ...(v['verify-client'] !== undefined && { verifyClient: v['verify-client'] }),
    ...(v.keylog !== undefined && { keylog: v.keylog }),
    ...(v['max-early-data'] !== undefined && { maxEarlyData: parseCount(v['max-early-data'], '--max-early-data', 0) }),
    noTicket: v['no-ticket'],
    ...(v['num-tickets'] !== undefined && { numTickets: parseCount(v['num-tickets'], '--num-tickets', 1, 16) }),
    quiet: v.quiet,
    ...dtlsArgs(v.dtls || v.dtls1_2 || v.dtls1_3, v.mtu, v['dtls-draft43'], v.tls1_2 || v.tls1_3),
    ...msgArg(v.msg, v.dtls || v.dtls1_2 || v.dtls1_3),
  };
}

/** `--tls1_2` / `--tls1_3` (OpenSSL's flags): one version only; both at once is a mistake. */
function versionArgs(tls12: boolean, tls13: boolean, dtls12 = false, dtls13 = false): { version?: 'TLSv1.2' | 'TLSv1.3' | 'DTLSv1.2' | 'DTLSv1.3' } {
  if ([tls12, tls13, dtls12, dtls13].filter(Boolean).length > 1) throw new UsageError('--tls1_2, --tls1_3, --dtls1_2 and --dtls1_3 exclude each other');
  return tls12 ? { version: 'TLSv1.2' } : tls13 ? { version: 'TLSv1.3' } : dtls12 ? { version: 'DTLSv1.2' } : dtls13 ? { version: 'DTLSv1.3' } : {};
}

/** `--cert`/`--key`, `--pfx`, `--passphrase`, checked: cert and key go together; pfx excludes them. */
function identityArgs(v: { cert?: string; key?: string; pfx?: string; passphrase?: string }): {
  cert?: string;
  key?: string;
  pfx?: string;
  passphrase?: PassphraseSource;
} {
  if ((v.cert === undefined) !== (v.key === undefined)) throw new UsageError('--cert and --key go together');
  if (v.pfx !== undefined && v.cert !== undefined) throw new UsageError('--pfx and --cert/--key exclude each other (the PKCS#12 file holds both)');
  if (v.passphrase !== undefined && v.key === undefined && v.pfx === undefined) throw new UsageError('--passphrase needs --key or --pfx');
  return {
    ...(v.cert !== undefined && { cert: v.cert, key: v.key! }),
    ...(v.pfx !== undefined && { pfx: v.pfx }),
    ...(v.passphrase !== undefined && { passphrase: parsePassphraseArg(v.passphrase) }),
  };
}

/**
 * OpenSSL's pass phrase argument (`-passin`): `pass:TEXT`, `env:VAR` or `file:PATH`. `fd:N` and `stdin` are
 * refused by name; a bare word is refused with the spelling meant (`pass:WORD`), as OpenSSL refuses it.
 *
 * @example
 * ```ts
 * parsePassphraseArg('env:P12_PASSWORD'); // { from: 'env', name: 'P12_PASSWORD' }
 * ```
 */
export function parsePassphraseArg(arg: string): PassphraseSource {
  const m = /^(pass|env|file):([\s\S]*)$/.exec(arg);
  if (m) {
    const [, kind, rest] = m as unknown as [string, 'pass' | 'env' | 'file', string];
    if (kind === 'pass') return { from: 'pass', value: rest };
    if (rest === '') throw new UsageError(`--passphrase ${kind}: needs a ${kind === 'env' ? 'variable name' : 'file name'}`);
    return kind === 'env' ? { from: 'env', name: rest } : { from: 'file', path: rest };
  }
  if (/^fd:/.test(arg) || arg === 'stdin') throw new UsageError(`--passphrase ${arg} is not supported (use env:VAR or file:PATH)`);
  throw new UsageError('--passphrase needs pass:TEXT, env:VAR or file:PATH (as openssl -passin); for this text write pass:' + arg);
}

/**
 * The passphrase a {@link PassphraseSource} names: the text, the variable (an error when unset), or the first
 * line of the file (without its line ending, as OpenSSL reads it). `env` and `readFile` are the process's in
 * `main.ts`, given here so this stays pure.
 *
 * @example
 * ```ts
 * resolvePassphrase({ from: 'env', name: 'PW' }, process.env, (p) => readFileSync(p, 'utf8'));
 * ```
 */
export function resolvePassphrase(
  source: PassphraseSource,
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string,
): string {
  switch (source.from) {
    case 'pass':
      return source.value;
    case 'env': {
      const v = env[source.name];
      if (v === undefined) throw new UsageError(`--passphrase env:${source.name}: the environment variable ${source.name} is not set`);
      return v;
    }
    case 'file': {
      let text: string;
      try {
        text = readFile(source.path);
      } catch (e) {
        throw new UsageError(`--passphrase file:${source.path}: ${(e as Error).message}`);
      }
      return text.split(/\r?\n/, 1)[0]!;
    }
  }
}

/** `--dtls [--mtu N]`, checked: `--mtu` needs `--dtls` and a datagram size of 256..65507 bytes. */
function dtlsArgs(dtls: boolean, mtu: string | undefined, draft43 = false, tlsVersion = false): { dtls?: true; mtu?: number; dtlsDraft43?: true } {
  if (dtls && tlsVersion) throw new UsageError('--tls1_2 / --tls1_3 are for TLS: with --dtls, use --dtls1_2 / --dtls1_3');
  if (!dtls) {
    if (mtu !== undefined) throw new UsageError('--mtu needs --dtls');
    if (draft43) throw new UsageError('--dtls-draft43 needs --dtls');
    return {};
  }
  return { dtls: true, ...(mtu !== undefined && { mtu: parseCount(mtu, '--mtu', 256, 65_507) }), ...(draft43 && { dtlsDraft43: true as const }) };
}

/** `--psk HEX [--psk-identity ID]`, checked; the identity defaults to OpenSSL's `Client_identity`. */
function pskArgs(hex: string | undefined, identity: string | undefined): { psk?: { identity: string; key: string } } {
  if (hex === undefined) {
    if (identity !== undefined) throw new UsageError('--psk-identity needs --psk');
    return {};
  }
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError(`--psk needs an even number of hex digits, got "${hex}"`);
  const id = identity ?? 'Client_identity';
  const len = Buffer.byteLength(id, 'utf8');
  if (len === 0 || len > 0xffff) throw new UsageError('--psk-identity must be 1..65535 bytes');
  return { psk: { identity: id, key: hex } };
}

/** Split `HOST:PORT`, `[v6]:PORT` (brackets required for IPv6). */
export function parseHostPort(s: string, allowZero = false): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  if (!m) throw new UsageError(`expected HOST:PORT or [IPv6]:PORT, got "${s}"`);
  const host = m[1]!;
  if (s.startsWith('[') && net.isIPv6(host) === false) throw new UsageError(`"${host}" is not an IPv6 address`);
  return { host, port: parsePort(m[2]!, allowZero) };
}

/** `--host`: an IP address (IPv6 with or without brackets) or a name; brackets are dropped. */
function bindHost(given: string): string {
  const host = stripBrackets(given);
  if (net.isIP(host) === 0 && !/^[a-z0-9.-]+$/i.test(host)) throw new UsageError(`bad --host "${given}"`);
  return host;
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

/** A decimal integer in `min`..`max` (default 2^32 − 1: max_early_data_size is a u32 on the wire). */
function parseCount(s: string, flag: string, min: number, max = 0xffff_ffff): number {
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) {
    throw new UsageError(`${flag} needs an integer from ${min} to ${max}, got "${s}"`);
  }
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
 * HelloRetryRequest, Resumed, Early data, and PSK identity after a handshake on an external PSK.
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
    ...(info.pskIdentity !== undefined ? [['PSK identity', info.pskIdentity] as [string, string]] : []),
  ];
  return lines.map(([k, v]) => `${k}: ${v}\n`).join('');
}

/** Read back a summary printed by {@link formatSummary} (the last value wins for repeated keys). */
export function parseSummary(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^(Protocol|Cipher|Group|ALPN|Server name|Peer|Peer certificates|Peer signature|Verification|HelloRetryRequest|Resumed|Early data|PSK identity): (.*)$/.exec(line);
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

/**
 * `server --quic --www DIR`: the file a request `:path` names under `root`, or the status that refuses it. The
 * query is dropped and %-escapes decoded; a path that is not absolute, holds a NUL or an invalid escape is 400;
 * one that leaves `root` (`..` segments, encoded or not) is 403. A path ending in `/` means its `index.html`.
 *
 * @example
 * ```ts
 * wwwFilePath('/srv', '/a/b.txt?x=1'); // '/srv/a/b.txt'
 * wwwFilePath('/srv', '/../etc/passwd'); // { status: 403 }
 * ```
 */
export function wwwFilePath(root: string, requestPath: string): string | { readonly status: 400 | 403 } {
  const raw = requestPath.split('?', 1)[0]!.split('#', 1)[0]!;
  if (!raw.startsWith('/')) return { status: 400 };
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return { status: 400 };
  }
  if (decoded.includes('\0')) return { status: 400 };
  if (decoded.split(/[\\/]/).includes('..')) return { status: 403 };
  const base = nodePath.resolve(root);
  const file = nodePath.resolve(base, '.' + (decoded.endsWith('/') ? decoded + 'index.html' : decoded));
  if (file !== base && !file.startsWith(base + nodePath.sep)) return { status: 403 };
  return file;
}

// ---------------------------------------------------------------------------------------------------------
// session files (--sess-out / --sess-in)

const SESSION_BEGIN = '-----BEGIN RXTLS SESSION-----';
const SESSION_END = '-----END RXTLS SESSION-----';

/**
 * The `--sess-out` file: the session's {@link encodeSession} bytes in base64 between
 * `-----BEGIN RXTLS SESSION-----` and `-----END RXTLS SESSION-----` lines (64 characters a line), like
 * OpenSSL's `SSL SESSION PARAMETERS` PEM. It holds the resumption PSK: keep it private.
 */
export function formatSessionFile(session: TlsSession): string {
  const b64 = Buffer.from(encodeSession(session)).toString('base64');
  return `${SESSION_BEGIN}\n${b64.replace(/.{1,64}/g, '$&\n')}${SESSION_END}\n`;
}

/**
 * Read a `--sess-in` file: the PEM-like text of {@link formatSessionFile}, or the raw {@link encodeSession}
 * bytes. Throws an `Error` naming what is wrong (not a {@link UsageError}: the command line was fine).
 */
export function parseSessionFile(data: Uint8Array): TlsSession {
  const text = Buffer.from(data).toString('latin1');
  let bytes: Uint8Array = data;
  const begin = text.indexOf(SESSION_BEGIN);
  if (begin >= 0) {
    const end = text.indexOf(SESSION_END, begin);
    if (end < 0) throw new Error(`session file: no "${SESSION_END}" line`);
    const b64 = text.slice(begin + SESSION_BEGIN.length, end).replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new Error('session file: bad base64');
    bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  }
  try {
    return decodeSession(bytes);
  } catch (e) {
    throw new Error(`session file: not an rxtls session (${e instanceof Error ? e.message : String(e)})`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// --inline-commands

/** An inline command: a KeyUpdate, asking the peer to update too (`^rekey^`) or not (`^rekey1^`). */
export type InlineCommand = { readonly command: 'keyUpdate'; readonly requestPeer: boolean };

/** What {@link InlineCommandSplitter} makes of stdin: data to send, or a command. */
export type InlineItem = { readonly data: Uint8Array } | InlineCommand;

const INLINE_COMMANDS: Record<string, InlineCommand> = {
  '^rekey^': { command: 'keyUpdate', requestPeer: true },
  '^rekey1^': { command: 'keyUpdate', requestPeer: false },
};

/**
 * `--inline-commands` (gnutls-cli's names): a stdin line that is exactly `^rekey^` or `^rekey1^` (optionally
 * ending `\r\n`) becomes a command and is not sent; everything else is data, line ends included, in order.
 * Only a partial line that could still become a command is held back; other data passes at once.
 *
 * @example
 * ```ts
 * const s = new InlineCommandSplitter();
 * s.push(enc('a\n^rekey^\nb')); // [{ data: 'a\n' }, { command: 'keyUpdate', requestPeer: true }, { data: 'b' }]
 * s.push(enc('\n^rek'));         // [{ data: '\n' }]  ("^rek" is held: it may be a command)
 * s.end();                       // [{ data: '^rek' }]
 * ```
 */
export class InlineCommandSplitter {
  /** The start of a line that may still become a command. */
  private pending: Uint8Array = new Uint8Array(0);
  /** The next byte after `pending` starts a line (or continues one that may be a command). */
  private atLineStart = true;

  /** Take a chunk of stdin; returns what is complete so far. */
  push(chunk: Uint8Array): InlineItem[] {
    const buf = concat(this.pending, chunk);
    this.pending = new Uint8Array(0);
    const out: InlineItem[] = [];
    let dataStart = 0;
    let lineStart = 0;
    let candidate = this.atLineStart;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] !== 0x0a) continue;
      const cmd = candidate ? INLINE_COMMANDS[latin1(buf.subarray(lineStart, i)).replace(/\r$/, '')] : undefined;
      if (cmd) {
        if (lineStart > dataStart) out.push({ data: buf.slice(dataStart, lineStart) });
        out.push(cmd);
        dataStart = i + 1;
      }
      lineStart = i + 1;
      candidate = true;
    }
    const tail = latin1(buf.subarray(lineStart));
    const hold = candidate && tail.length > 0 && Object.keys(INLINE_COMMANDS).some((c) => `${c}\r`.startsWith(tail));
    const dataEnd = hold ? lineStart : buf.length;
    if (dataEnd > dataStart) out.push({ data: buf.slice(dataStart, dataEnd) });
    if (hold) this.pending = buf.slice(lineStart);
    this.atLineStart = hold || (candidate && tail.length === 0);
    return out;
  }

  /** stdin ended: a held partial line is data (a command needs its line end). */
  end(): InlineItem[] {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    this.atLineStart = true;
    return rest.length > 0 ? [{ data: rest }] : [];
  }
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.length === 0 ? b : concatBytes([a, b]);
}

// ---------------------------------------------------------------------------------------------------------
// --dtls: stdin lines as records

/**
 * `rxtls client --dtls`: stdin cut into records, one per line with its `\n` (a line longer than `maxRecord`
 * bytes is cut into several records of at most `maxRecord`). A partial line waits for its end, or for
 * {@link LineRecords.end} at EOF.
 *
 * @example
 * ```ts
 * const r = new LineRecords(1200);
 * r.push(enc('a\nbb'));  // [ 'a\n' ]
 * r.push(enc('b\n'));    // [ 'bbb\n' ]
 * r.end();               // []
 * ```
 */
export class LineRecords {
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly maxRecord: number) {
    if (!(Number.isInteger(maxRecord) && maxRecord >= 1)) throw new RangeError(`maxRecord must be a positive integer, got ${maxRecord}`);
  }

  /** Take a chunk of stdin; returns the records complete so far. */
  push(chunk: Uint8Array): Uint8Array[] {
    const buf = concat(this.pending, chunk);
    const out: Uint8Array[] = [];
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] === 0x0a) {
        this.cut(buf.subarray(start, i + 1), out);
        start = i + 1;
      } else if (i + 1 - start === this.maxRecord) {
        out.push(buf.slice(start, i + 1)); // a long line: a full record now, the rest follows
        start = i + 1;
      }
    }
    this.pending = buf.slice(start);
    return out;
  }

  /** stdin ended: the last line without its `\n`, if any. */
  end(): Uint8Array[] {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    const out: Uint8Array[] = [];
    if (rest.length > 0) this.cut(rest, out);
    return out;
  }

  private cut(line: Uint8Array, out: Uint8Array[]): void {
    for (let at = 0; at < line.length; at += this.maxRecord) out.push(line.slice(at, at + this.maxRecord));
  }
}
