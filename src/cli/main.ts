#!/usr/bin/env node
/**
 * The `rxtls` bin: a TLS 1.3 client and server on top of the RxJS API, in the spirit of `openssl s_client` /
 * `s_server`, over TCP, DTLS and QUIC, and `rxtls get` for one HTTP/3 GET. Argument parsing and formatting live in `args.ts` (pure, unit tested); this file does the I/O.
 *
 * @example
 * ```sh
 * printf 'GET / HTTP/1.0\r\n\r\n' | rxtls client localhost:4433 --cafile ca.pem --alpn http/1.1
 * rxtls server --port 4433 --cert chain.pem --key key.pem --www
 * ```
 */
import { createReadStream, createWriteStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { type Observable, type OperatorFunction, type Subscription, catchError, ignoreElements, map, mergeMap, of, tap, throwError, timeout } from 'rxjs';
import { quicConnect, quicListen, type QuicConnection } from '../rx/quic.js';
import { h3Client, h3Request, serveH3 } from '../rx/h3.js';
import { H3ErrorCode } from '../h3/errors.js';
import { insecureVerifier } from '../crypto/x509.js';
import { connect } from '../rx/connect.js';
import { listen } from '../rx/listen.js';
import { dtlsConnect, dtlsListen } from '../rx/dtls.js';
import type { DtlsConnection } from '../rx/dtlsTypes.js';
import type { ByteDuplex, TlsConnection, TlsMessageInfo } from '../rx/types.js';
import type { TlsSession } from '../handshake/session.js';
import {
  type ClientCommand,
  ExitCode,
  type GetCommand,
  type InlineCommand,
  InlineCommandSplitter,
  LineRecords,
  type ProxyCommand,
  type ServerCommand,
  formatProxyLine,
  describeFailure,
  exitCodeFor,
  formatFailure,
  formatSessionFile,
  formatSummary,
  isRequestComplete,
  parseCliArgs,
  parseSessionFile,
  resolvePassphrase,
  wwwFilePath,
  wwwResponse,
} from './args.js';
import { inboundSource } from './inboundSource.js';
import { connect as tcpConnect, createServer as tcpServer } from 'node:net';
import { fromSocket } from '../rx/duplex.js';
import { terminate, type Terminable } from '../rx/proxy/terminate.js';
import { routeBySniOn } from '../rx/routeBySni.js';
import { nodePlatform } from '../node/platform.js';
import { originate } from '../rx/proxy/originate.js';
import { splice, type SideClose, type SpliceReport } from '../rx/proxy/splice.js';
import type { PlainDuplex } from '../rx/proxy/plainDuplex.js';
import type { Spliceable } from '../rx/proxy/endpoint.js';
import { TlsError } from '../core/errors.js';
import { certificateToPem, describeCertificate } from '../crypto/certificateDetails.js';

/** Flush stdout, then exit with `code`. */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

let dying = false;
function die(err: unknown): void {
  if (dying) return; // the same failure may reach several subscribers
  dying = true;
  process.stderr.write(formatFailure(err) + '\n');
  exit(exitCodeFor(err));
}

function readText(file: string, what: string): string {
  return readBytes(file, what).toString('utf8');
}

function readBytes(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

/**
 * `--cert`/`--key` (PEM text; a DER or encrypted-DER key as bytes) or `--pfx` (bytes), with the `--passphrase`
 * they need, as `connect` / `listen` options.
 */
function identity(cmd: ClientCommand | ServerCommand): { cert?: string; key?: string | Uint8Array; pfx?: Uint8Array; passphrase?: string } {
  const passphrase = cmd.passphrase && resolvePassphrase(cmd.passphrase, process.env, (path) => readFileSync(path, 'utf8'));
  const key = (file: string) => {
    const bytes = readBytes(file, 'key file');
    return bytes[0] === 0x30 ? new Uint8Array(bytes) : bytes.toString('utf8'); // DER starts with a SEQUENCE
  };
  return {
    ...(cmd.cert !== undefined && { cert: readText(cmd.cert, 'certificate file'), key: key(cmd.key!) }),
    ...(cmd.pfx !== undefined && { pfx: new Uint8Array(readBytes(cmd.pfx, 'PKCS#12 file')) }),
    ...(passphrase !== undefined && { passphrase }),
  };
}

function readSession(file: string): TlsSession {
  try {
    return parseSessionFile(readBytes(file, 'session file'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/**
 * stdin as an AsyncIterable for `send()` (pulled only while the connection can write), ending at stdin EOF
 * or as soon as `stop` resolves (the peer closed first). `first` goes before stdin (rejected early data).
 * With `commands`, stdin goes through an {@link InlineCommandSplitter} and its commands are run (in order
 * with the data: a command runs when `send()` pulls past the data before it).
 */
async function* stdinUntil(
  stop: Promise<void>,
  first: Uint8Array | undefined,
  commands: ((c: InlineCommand) => void) | undefined,
): AsyncGenerator<Uint8Array> {
  if (first !== undefined && first.length > 0) yield first;
  const it = process.stdin[Symbol.asyncIterator]();
  const stopped = stop.then(() => 'stop' as const);
  const splitter = commands ? new InlineCommandSplitter() : undefined;
  try {
    for (;;) {
      const r = await Promise.race([it.next() as Promise<IteratorResult<Buffer>>, stopped]);
      if (r === 'stop') return;
      if (!splitter) {
        if (r.done) return;
        yield r.value;
        continue;
      }
      for (const item of r.done ? splitter.end() : splitter.push(r.value)) {
        if ('data' in item) yield item.data;
        else commands!(item);
      }
      if (r.done) return;
    }
  } finally {
    process.stdin.pause();
  }
}

/**
 * The key log file in effect: `--keylog FILE`, else `SSLKEYLOGFILE` from the environment (as curl does). Said on
 * stderr even with --quiet: whoever holds the file can decrypt the traffic.
 */
function keyLogFile(flag: string | undefined): string | undefined {
  const file = flag ?? (process.env.SSLKEYLOGFILE || undefined);
  if (file !== undefined) {
    process.stderr.write(`rxtls: logging TLS secrets to ${file}${flag === undefined ? ' (SSLKEYLOGFILE)' : ''}: anyone with this file can decrypt the traffic\n`);
  }
  return file;
}

/** The version of the installed package (package.json next to src/ or dist/). */
function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'rxtls' && pkg.version) return pkg.version;
    } catch {
      // not this layout
    }
  }
  return 'unknown';
}

/** `--timeout`: a handshake timeout is said in the user's terms, naming what did not happen. */
function timeoutFailure(err: unknown, cmd: ClientCommand, tcpUp: boolean, peer: string): unknown {
  if (!(err instanceof TlsError) || err.kind !== 'handshakeTimeout') return err;
  const limit = `${cmd.timeoutSeconds ?? 30} s`;
  return new Error(tcpUp ? `timed out after ${limit}: ${peer} accepted the connection but did not complete the handshake` : `timed out after ${limit}: no TCP connection to ${peer}`);
}

/** `--showcerts`: the peer's chain as PEM, with subject and issuer lines (like `s_client -showcerts`). */
function showCerts(chain: readonly Uint8Array[]): string {
  let out = '---\nCertificate chain\n';
  chain.forEach((der, i) => {
    try {
      const d = describeCertificate(der);
      out += ` ${i} s:${d.subject}\n   i:${d.issuer}\n`;
    } catch {
      out += ` ${i} (unparsable)\n`;
    }
    out += certificateToPem(der);
  });
  return out + '---\n';
}

/** `--msg`: one line per handshake message or alert, as `s_client -msg` prints them (`>>>` sent, `<<<` received). */
function printMessage(m: TlsMessageInfo): void {
  process.stderr.write(`${m.dir === 'sent' ? '>>>' : '<<<'} ${m.contentType === 'handshake' ? 'Handshake' : 'Alert'} [length ${m.length}], ${m.name}\n`);
}

/** The listening and handshake options a server command gives, over TLS and DTLS alike. */
function serverHandshakeOptions(cmd: ServerCommand) {
  return {
    ...(cmd.msg && { onMessage: printMessage }),
    host: cmd.host,
    port: cmd.port,
    ...identity(cmd),
    ...(cmd.psk !== undefined && { psks: [cmd.psk] }),
    ...(cmd.alpn !== undefined && { ALPNProtocols: cmd.alpn }),
    ...(cmd.ciphers !== undefined && { ciphers: cmd.ciphers }),
    ...(cmd.groups !== undefined && { groups: cmd.groups }),
    ...(cmd.version !== undefined && { minVersion: cmd.version, maxVersion: cmd.version }),
    ...(cmd.verifyClient !== undefined && {
      requestCert: true,
      rejectUnauthorized: true,
      ca: readText(cmd.verifyClient, 'client CA file'),
    }),
    keyLog: keyLogFile(cmd.keylog) ?? false,
    ...(cmd.noTicket && { ticketer: false as const }),
    ...(cmd.numTickets !== undefined && { numTickets: cmd.numTickets }),
  };
}

/** The handshake options a client command gives, over TLS and DTLS alike. */
function clientHandshakeOptions(cmd: ClientCommand) {
  return {
    ...(cmd.msg && { onMessage: printMessage }),
    ...(cmd.servername !== undefined && { servername: cmd.servername }),
    ...(cmd.cafile !== undefined && { ca: readText(cmd.cafile, 'CA file') }),
    ...(cmd.insecure && { rejectUnauthorized: false }),
    ...(cmd.alpn !== undefined && { ALPNProtocols: cmd.alpn }),
    ...(cmd.ciphers !== undefined && { ciphers: cmd.ciphers }),
    ...(cmd.groups !== undefined && { groups: cmd.groups }),
    ...(cmd.version !== undefined && { minVersion: cmd.version, maxVersion: cmd.version }),
    ...identity(cmd),
    ...(cmd.psk !== undefined && { psk: cmd.psk }),
    ...(cmd.sessIn !== undefined && { session: readSession(cmd.sessIn) }),
    ...(cmd.timeoutSeconds !== undefined && { handshakeTimeout: cmd.timeoutSeconds * 1000 }),
  };
}

/**
 * `--sess-out`: write the newest session of a connection that closed cleanly (like OpenSSL, only such a
 * connection yields a resumable session). False (the process is dying) when the file cannot be written.
 */
function saveSession(cmd: ClientCommand, session: TlsSession | undefined, note: (line: string) => void): boolean {
  if (cmd.sessOut === undefined) return true;
  if (session === undefined) {
    process.stderr.write(`rxtls: no session ticket received: ${cmd.sessOut} not written\n`);
    return true;
  }
  try {
    writeFileSync(cmd.sessOut, formatSessionFile(session), { mode: 0o600 });
    note(`session saved to ${cmd.sessOut}`);
    return true;
  } catch (e) {
    die(new Error(`cannot write session file ${cmd.sessOut}: ${(e as Error).message}`));
    return false;
  }
}

function runClient(cmd: ClientCommand): void {
  if (cmd.dtls) return runDtlsClient(cmd);
  if (cmd.quic) return runQuicClient(cmd);
  const peerLabel = cmd.host.includes(':') ? `[${cmd.host}]:${cmd.port}` : `${cmd.host}:${cmd.port}`;
  const keylog = keyLogFile(cmd.keylog);
  let tcpUp = false;
  const conn$ = connect({
    host: cmd.host,
    port: cmd.port,
    ...clientHandshakeOptions(cmd),
    ...(cmd.earlyData !== undefined && { earlyData: new Uint8Array(readBytes(cmd.earlyData, 'early data file')) }),
    keyLog: keylog ?? false,
    // As s_client: CONNECTED as soon as the TCP connection is up, the summary after the handshake.
    onTcpConnect: () => {
      tcpUp = true;
      if (!cmd.quiet) process.stderr.write(`CONNECTED ${peerLabel}\n`);
    },
  });
  /** Progress lines (silenced by --quiet); `warn` lines always go out. */
  const note = (line: string) => {
    if (!cmd.quiet) process.stderr.write(`rxtls: ${line}\n`);
  };
  const warn = (line: string) => process.stderr.write(`rxtls: ${line}\n`);
  let inboundDone = false;
  let outboundDone = false;
  let latestSession: TlsSession | undefined;
  let peerClosed!: () => void;
  const peerClosedSignal = new Promise<void>((r) => (peerClosed = r));
  const finish = () => {
    if (inboundDone && outboundDone) {
      note('closed cleanly (close_notify both ways)');
      if (saveSession(cmd, latestSession, note)) exit(ExitCode.ok);
    }
  };
  conn$.subscribe({
    next: (conn: TlsConnection) => {
      if (!cmd.quiet) process.stderr.write(formatSummary(conn.info));
      if (cmd.showCerts) process.stderr.write(showCerts(conn.info.peerCertificates));
      conn.sessions$.subscribe((s) => (latestSession = s));
      // 0-RTT refused: the server never saw those bytes; they go first now, before stdin.
      const resend = conn.info.earlyData === 'rejected' ? conn.rejectedEarlyData : undefined;
      if (resend) note(`early data rejected by the server: sending its ${resend.length} bytes again`);
      const commands = cmd.inlineCommands
        ? (c: InlineCommand) => {
            try {
              conn.keyUpdate(c.requestPeer);
              note(`KeyUpdate sent (${c.requestPeer ? 'update_requested' : 'update_not_requested'})`);
            } catch (e) {
              warn(`KeyUpdate not sent: ${describeFailure(e)}`);
            }
          }
        : undefined;
      conn.send(stdinUntil(peerClosedSignal, resend, commands)).subscribe({
        complete: () => {
          outboundDone = true;
          finish();
        },
        error: die,
      });
      conn.inbound$.subscribe({
        next: (chunk) => process.stdout.write(chunk),
        complete: () => {
          inboundDone = true;
          // The peer is done: stop reading stdin so our close_notify follows (like s_client on close_notify).
          peerClosed();
          finish();
        },
        error: die,
      });
    },
    error: (err: unknown) => die(timeoutFailure(err, cmd, tcpUp, peerLabel)),
  });
}

function runServer(cmd: ServerCommand): void {
  if (cmd.dtls) return runDtlsServer(cmd);
  if (cmd.quic) return runQuicServer(cmd);
  let accepted = 0;
  let active = 0;
  let failed = 0;
  /** Errors already reported by an established connection (listen's onError sees them too). */
  const seen = new WeakSet<object>();
  const log = (line: string) => process.stderr.write(line + '\n');
  let sub: Subscription | undefined;
  const limitReached = () => cmd.naccept !== undefined && accepted >= cmd.naccept;
  const maybeExit = () => {
    if (limitReached() && active === 0) {
      sub?.unsubscribe();
      exit(failed > 0 ? ExitCode.failure : ExitCode.ok);
    }
  };
  const conns$ = listen({
    ...serverHandshakeOptions(cmd),
    ...(cmd.maxEarlyData !== undefined && { maxEarlyData: cmd.maxEarlyData }),
    onListening: ({ address, port }) => log(`ACCEPT ${address.includes(':') ? `[${address}]` : address}:${port}`),
    // A connection that failed before its handshake completed still counts as one accepted (like -naccept).
    onError: (err, remote) =>
      setImmediate(() => {
        if (seen.has(err) || limitReached()) return;
        accepted++;
        failed++;
        log(`ERROR ${accepted} (${remote.address ?? '?'}:${remote.port ?? '?'}): ${describeFailure(err)}`);
        maybeExit();
      }),
  });
  sub = conns$.subscribe({
    next: (conn) => {
      if (limitReached()) {
        conn.close();
        return;
      }
      const id = ++accepted;
      active++;
      if (!cmd.quiet) log(`CONNECTION ${id}\n` + formatSummary(conn.info).trimEnd());
      let done = false;
      const end = (err?: unknown) => {
        if (done) return;
        done = true;
        active--;
        if (err !== undefined) {
          if (typeof err === 'object' && err !== null) seen.add(err);
          failed++;
          log(`ERROR ${id}: ${describeFailure(err)}`);
          conn.close();
        } else if (!cmd.quiet) {
          log(`CLOSED ${id}`);
        }
        maybeExit();
      };
      serveConnection(conn, cmd, end);
    },
    error: (err) => {
      log(formatFailure(err));
      exit(ExitCode.failure);
    },
  });
}

/** Run one connection in the chosen mode; `end` is called once, with the error if it failed. */
function serveConnection(conn: TlsConnection, cmd: ServerCommand, end: (err?: unknown) => void): void {
  let inboundDone = false;
  let outboundDone = false;
  const check = () => inboundDone && outboundDone && end();
  const onInbound = (err?: unknown) => {
    if (err !== undefined) return end(err);
    inboundDone = true;
    check();
  };
  const onOutboundComplete = () => {
    outboundDone = true;
    check();
  };
  let source: AsyncIterable<Uint8Array>;
  if (cmd.mode === 'echo') {
    // Echo with backpressure: the peer's close_notify ends the iteration, and ours follows.
    source = inboundSource(conn, { onEnd: onInbound });
  } else {
    let answer!: (page: Uint8Array | undefined) => void;
    const answered = new Promise<Uint8Array | undefined>((r) => (answer = r));
    let request = '';
    conn.inbound$.subscribe({
      next: (chunk) => {
        if (cmd.mode === 'print') {
          process.stdout.write(chunk);
          return;
        }
        request += Buffer.from(chunk).toString('latin1');
        if (isRequestComplete(request)) answer(new TextEncoder().encode(wwwResponse(conn.info)));
      },
      complete: () => {
        answer(undefined); // the peer closed first: close our side too
        onInbound();
      },
      error: onInbound,
    });
    // --www: the page, then close_notify (like s_server -www); print: close_notify after the peer's.
    source = (async function* () {
      const page = await answered;
      if (page) yield page;
    })();
  }
  conn.send(source).subscribe({ complete: onOutboundComplete, error: end });
}

/** `source`'s chunks cut into records: one per line with its newline, none longer than `maxRecord`. */
async function* lineRecords(source: AsyncIterable<Uint8Array>, maxRecord: number): AsyncGenerator<Uint8Array> {
  const lines = new LineRecords(maxRecord);
  for await (const chunk of source) yield* lines.push(chunk);
  yield* lines.end();
}

/**
 * `rxtls client --dtls`: like the TLS client, over DTLS 1.3 on UDP. Each stdin line (with its newline) is one
 * record; each record from the peer goes to stdout as it comes; stdin EOF sends close_notify; exit 0 once both
 * close_notify went (the connection's `closed$` completed).
 */
function runDtlsClient(cmd: ClientCommand): void {
  const peerLabel = cmd.host.includes(':') ? `[${cmd.host}]:${cmd.port}` : `${cmd.host}:${cmd.port}`;
  const note = (line: string) => {
    if (!cmd.quiet) process.stderr.write(`rxtls: ${line}\n`);
  };
  const conn$ = dtlsConnect({
    host: cmd.host,
    port: cmd.port,
    ...clientHandshakeOptions(cmd),
    keyLog: keyLogFile(cmd.keylog) ?? false,
    ...(cmd.mtu !== undefined && { mtu: cmd.mtu }),
    ...(cmd.dtlsDraft43 && { dtlsDraft43: true }),
  });
  conn$.subscribe({
    next: (conn: DtlsConnection) => {
      if (!cmd.quiet) process.stderr.write(`CONNECTED ${peerLabel} (DTLS)\n` + formatSummary(conn.info));
      if (cmd.showCerts) process.stderr.write(showCerts(conn.info.peerCertificates));
      let latestSession: TlsSession | undefined;
      conn.sessions$.subscribe((session) => (latestSession = session));
      let peerClosed!: () => void;
      const peerClosedSignal = new Promise<void>((r) => (peerClosed = r));
      const commands = cmd.inlineCommands
        ? (c: InlineCommand) => {
            try {
              conn.keyUpdate(c.requestPeer);
              note(`KeyUpdate sent (${c.requestPeer ? 'update_requested' : 'update_not_requested'})`);
            } catch (e) {
              process.stderr.write(`rxtls: KeyUpdate not sent: ${describeFailure(e)}\n`);
            }
          }
        : undefined;
      // At stdin EOF: close_notify, then wait for the peer's at most shutdownTimeout (2 s): alerts are not
      // retransmitted in DTLS (RFC 9147 §5.10), so a lost one must not hang the client.
      conn.send(lineRecords(stdinUntil(peerClosedSignal, undefined, commands), conn.maxRecordSize)).subscribe({
        complete: () => conn.close('shutdown'),
        error: die,
      });
      conn.inbound$.subscribe({
        next: (record) => process.stdout.write(record),
        complete: () => peerClosed(), // the peer is done: stop reading stdin so our close_notify follows
        error: die,
      });
      conn.closed$.subscribe({
        complete: () => {
          note('closed cleanly (close_notify both ways)');
          if (saveSession(cmd, latestSession, note)) exit(ExitCode.ok);
        },
        error: die,
      });
    },
    error: die,
  });
}

/**
 * `rxtls server --dtls`: one UDP socket, connections told apart by address (stateless cookies first). Each
 * record is echoed back as one record (`--echo`) or printed; the peer's close_notify is answered with ours.
 */
function runDtlsServer(cmd: ServerCommand): void {
  const log = (line: string) => process.stderr.write(line + '\n');
  const tally = udpServerTally(cmd, log);
  dtlsListen({
    ...serverHandshakeOptions(cmd),
    ...(cmd.mtu !== undefined && { mtu: cmd.mtu }),
    ...(cmd.dtlsDraft43 && { dtlsDraft43: true }),
    onError: (err, remote) => tally.failedBeforeAccept(err, remote),
  }).then(
    (listener) => {
      tally.listening(listener);
      listener.connections.subscribe((conn) => {
        if (tally.limitReached()) return conn.close('abort');
        const id = tally.accept();
        if (!cmd.quiet) log(`CONNECTION ${id} (DTLS)\n` + formatSummary(conn.info).trimEnd());
        // Echo each record as one record, or print it; the peer's close_notify ends the source, ours follows.
        const source = cmd.mode === 'echo' ? conn.inbound$ : conn.inbound$.pipe(tap((r) => process.stdout.write(r)), ignoreElements());
        conn.send(source).subscribe({ error: () => undefined });
        tally.track(id, conn.closed$);
      });
    },
    tally.listenFailed,
  );
}

/**
 * What `rxtls server --dtls` and `--quic` count: connections accepted, open and failed, numbered from 1 in the
 * log (`CONNECTION n`, `CLOSED n`, `ERROR n`); the server closes and exits once `-naccept` connections are done,
 * with a failure status if any failed.
 */
function udpServerTally(cmd: ServerCommand, log: (line: string) => void) {
  let accepted = 0;
  let active = 0;
  let failed = 0;
  let close: (() => Promise<void>) | undefined;
  /** Errors already reported by an established connection (the listener's onError sees them too). */
  const seen = new WeakSet<object>();
  const limitReached = () => cmd.naccept !== undefined && accepted >= cmd.naccept;
  const maybeExit = () => {
    if (limitReached() && active === 0) void (close?.() ?? Promise.resolve()).then(() => exit(failed > 0 ? ExitCode.failure : ExitCode.ok));
  };
  return {
    limitReached,
    /** The listener is up: log its address; closing it is the way out. */
    listening: (listener: { readonly port: number; readonly close: () => Promise<void> }) => {
      close = listener.close;
      log(`ACCEPT ${cmd.host.includes(':') ? `[${cmd.host}]` : cmd.host}:${listener.port}`);
    },
    /** The listener could not start. */
    listenFailed: (err: unknown) => {
      log(formatFailure(err));
      exit(ExitCode.failure);
    },
    /** A connection accepted: its number. */
    accept: (): number => {
      active++;
      return ++accepted;
    },
    /** A handshake that failed before its connection was accepted still counts as one (like -naccept). */
    failedBeforeAccept: (err: unknown, remote: { readonly address?: string; readonly port?: number }) => {
      if ((typeof err === 'object' && err !== null && seen.has(err)) || limitReached()) return;
      accepted++;
      failed++;
      log(`ERROR ${accepted} (${remote.address}:${remote.port}): ${describeFailure(err)}`);
      maybeExit();
    },
    /**
     * Connection `id` ends with `closed$`: completion, or an error that `clean` says is a normal end, is
     * `CLOSED`; any other error is `ERROR` and a failure.
     */
    track: (id: number, closed$: Observable<unknown>, clean: (err: unknown) => boolean = () => false) =>
      closed$.subscribe({
        complete: () => {
          active--;
          if (!cmd.quiet) log(`CLOSED ${id}`);
          maybeExit();
        },
        error: (err: unknown) => {
          if (typeof err === 'object' && err !== null) seen.add(err); // onError sees it too
          active--;
          const normal = clean(err);
          if (!normal) failed++;
          if (!cmd.quiet || !normal) log(normal ? `CLOSED ${id}` : `ERROR ${id}: ${describeFailure(err)}`);
          maybeExit();
        },
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// QUIC: client --quic, get, server --quic

/** The QUIC client options of `client --quic` and `get`: trust, name, identity, key log. */
function quicClientOptions(cmd: ClientCommand | GetCommand, alpn: readonly string[]) {
  if (cmd.insecure) process.stderr.write('rxtls: --insecure: the server certificate is NOT verified\n');
  return {
    host: cmd.host,
    port: cmd.port,
    alpn,
    ...(cmd.servername !== undefined && { servername: cmd.servername }),
    ...(cmd.cafile !== undefined && { ca: readText(cmd.cafile, 'CA file') }),
    ...(cmd.insecure && { verifier: insecureVerifier }),
    ...(cmd.kind === 'client' && identity(cmd)),
    keyLog: keyLogFile(cmd.keylog) ?? (false as const),
    ...(cmd.qlog !== undefined && { qlog: cmd.qlog }),
  };
}

/** `--timeout` (default 30 s) on the QUIC handshake, said in the user's terms. */
function quicHandshake(cmd: ClientCommand | GetCommand, alpn: readonly string[]) {
  const seconds = cmd.timeoutSeconds ?? 30;
  const peer = cmd.host.includes(':') ? `[${cmd.host}]:${cmd.port}` : `${cmd.host}:${cmd.port}`;
  return quicConnect(quicClientOptions(cmd, alpn)).pipe(
    timeout({ first: seconds * 1000, with: () => throwError(() => new Error(`timed out after ${seconds} s: no QUIC handshake with ${peer}`)) }),
  );
}

/**
 * `rxtls client --quic`: one bidirectional stream, like `openssl s_client -quic`. stdin goes on it and its
 * EOF is our FIN; the peer's data goes to stdout; when the peer ends its half the connection is closed
 * (application code 0) and the client exits 0.
 */
function runQuicClient(cmd: ClientCommand): void {
  const peer = cmd.host.includes(':') ? `[${cmd.host}]:${cmd.port}` : `${cmd.host}:${cmd.port}`;
  quicHandshake(cmd, cmd.alpn!).subscribe({
    next: (conn: QuicConnection) => {
      if (!cmd.quiet) process.stderr.write(`CONNECTED ${peer} (QUIC)\n` + formatSummary(conn.info));
      const stream = conn.openStream();
      const onStdin = (chunk: Buffer) => stream.write(new Uint8Array(chunk));
      const onEnd = () => stream.end();
      process.stdin.on('data', onStdin);
      process.stdin.once('end', onEnd);
      stream.data$.subscribe({
        next: (chunk) => process.stdout.write(chunk),
        complete: () => {
          // The peer is done: stop reading stdin and close (like s_client -quic at the stream's end).
          process.stdin.off('data', onStdin).off('end', onEnd).pause();
          conn.close({ errorCode: 0n });
        },
        error: die,
      });
      conn.closed$.subscribe({
        complete: () => {
          if (!cmd.quiet) process.stderr.write('rxtls: stream ended, connection closed\n');
          exit(ExitCode.ok);
        },
        error: die,
      });
    },
    error: die,
  });
}

/** `rxtls get URL`: one HTTP/3 GET; the body to stdout or `-o FILE`; a status outside 2xx exits 1. */
function runGet(cmd: GetCommand): void {
  let fail = (err: unknown) => die(err);
  quicHandshake(cmd, ['h3']).subscribe({
    next: (conn: QuicConnection) => {
      h3Client(conn);
      if (!cmd.quiet) process.stderr.write(`CONNECTED ${cmd.authority} (QUIC, HTTP/3)\n`);
      const finish = (code: number, message?: string) => {
        if (message !== undefined) process.stderr.write(message + '\n');
        conn.close({ errorCode: H3ErrorCode.H3_NO_ERROR, rapid: true });
        exit(code);
      };
      fail = (err: unknown) => {
        conn.close({ errorCode: H3ErrorCode.H3_NO_ERROR, rapid: true });
        die(err);
      };
      h3Request(conn, { authority: cmd.authority, path: cmd.path }).subscribe({
        next: (res) => {
          const ok = res.status >= 200 && res.status < 300;
          if (!cmd.quiet) process.stderr.write(`HTTP/3 ${res.status}\n`);
          if (!ok) {
            res.body.subscribe({ error: () => undefined });
            return finish(ExitCode.failure, `rxtls: GET ${cmd.url}: ${res.status}`);
          }
          const out = cmd.output !== undefined ? createWriteStream(cmd.output) : undefined;
          out?.on('error', (e) => fail(new Error(`cannot write ${cmd.output}: ${e.message}`)));
          res.body.subscribe({
            next: (chunk) => (out ? out.write(chunk) : process.stdout.write(chunk)),
            complete: () => (out ? out.end(() => finish(ExitCode.ok)) : finish(ExitCode.ok)),
            error: (e: unknown) => fail(e),
          });
        },
        error: (e: unknown) => fail(e),
      });
    },
    error: (e: unknown) => fail(e),
  });
}

/** A few content types by extension, for `--www` (anything else is application/octet-stream). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  css: 'text/css',
  js: 'application/javascript',
  json: 'application/json',
  png: 'image/png',
  jpg: 'image/jpeg',
  gif: 'image/gif',
};

/**
 * `rxtls server --quic`: one UDP socket. `--www DIR` serves files over HTTP/3 (GET and HEAD; 404 missing, 403
 * outside DIR, 405 other methods); `--echo` sends each bidirectional stream back as it comes (pulled with backpressure), then FIN.
 */
function runQuicServer(cmd: ServerCommand): void {
  const log = (line: string) => process.stderr.write(line + '\n');
  const tally = udpServerTally(cmd, log);
  quicListen({
    host: cmd.host,
    port: cmd.port,
    ...identity(cmd),
    alpn: cmd.alpn ?? ['h3'],
    keyLog: keyLogFile(cmd.keylog) ?? false,
    ...(cmd.retry && { retry: true }),
    ...(cmd.qlog !== undefined && { qlog: cmd.qlog }),
  }).then(
    (listener) => {
      tally.listening(listener);
      listener.connections.subscribe((conn) => {
        if (tally.limitReached()) return conn.close({ rapid: true });
        const id = tally.accept();
        if (!cmd.quiet) log(`CONNECTION ${id} (QUIC)\n` + formatSummary(conn.info).trimEnd());
        if (cmd.mode === 'echo') {
          conn.incoming$.subscribe((stream) => {
            if ((stream.id & 2) !== 0) return; // unidirectional: nothing to answer on
            // Pulled a chunk at a time: the next is taken (and the peer credited) once the echo's send buffer has
            // room, so a peer that never reads its echo stops being read instead of growing our unsent bytes.
            stream.receive((chunk) => stream.send(chunk)).subscribe({ complete: () => stream.end(), error: () => undefined });
          });
        } else {
          serveH3(conn, (req) => serveFile(cmd.wwwDir!, req.method, req.path, (line) => !cmd.quiet && log(`${id}: ${line}`)));
        }
        // A client's close with H3_NO_ERROR (or 0 on a raw stream) is the normal end.
        tally.track(id, conn.closed$, (err) => err instanceof TlsError && err.detail.kind === 'quicClose' && (err.detail.code === H3ErrorCode.H3_NO_ERROR || err.detail.code === 0n));
      });
    },
    tally.listenFailed,
  );
}

/** Answer one `--www` request from `root`. */
function serveFile(root: string, method: string, path: string, note: (line: string) => void): { status: number; headers?: [string, string][]; body?: Uint8Array | string | AsyncIterable<Uint8Array> } {
  const answer = (status: number, text: string) => {
    note(`${method} ${path} ${status}`);
    return { status, headers: [['content-type', 'text/plain; charset=utf-8']] as [string, string][], body: text + '\n' };
  };
  if (method !== 'GET' && method !== 'HEAD') return { ...answer(405, 'method not allowed'), headers: [['allow', 'GET, HEAD']] };
  const file = wwwFilePath(root, path);
  if (typeof file !== 'string') return answer(file.status, file.status === 403 ? 'forbidden' : 'bad request');
  let target: string;
  let size: number;
  try {
    target = statSync(file).isDirectory() ? `${file}/index.html` : file;
    const st = statSync(target);
    if (!st.isFile()) return answer(404, 'not found');
    size = st.size;
  } catch {
    return answer(404, 'not found');
  }
  note(`${method} ${path} 200 ${size}`);
  const ext = /\.([a-z0-9]+)$/i.exec(target)?.[1]?.toLowerCase() ?? '';
  const headers: [string, string][] = [['content-type', CONTENT_TYPES[ext] ?? 'application/octet-stream'], ['content-length', String(size)]];
  // Read as the stream takes it (serveH3 pulls an async iterable through QuicStream.send): a large file is never
  // held in memory whole.
  return { status: 200, headers, ...(method === 'HEAD' ? {} : { body: createReadStream(target, { highWaterMark: 64 * 1024 }) }) };
}

function main(argv: readonly string[]): void {
  // A reader that went away (`rxtls client … | head -1`): stop quietly, as a SIGPIPE would.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? ExitCode.ok : ExitCode.failure));
  let cmd;
  try {
    cmd = parseCliArgs(argv);
    switch (cmd.kind) {
      case 'help':
        process.stdout.write(cmd.text);
        return;
      case 'version':
        process.stdout.write(`rxtls ${packageVersion()} (TLS 1.2/1.3, DTLS 1.2/1.3, QUIC v1; Node ${process.version})\n`);
        return;
      case 'client':
        return runClient(cmd);
      case 'server':
        return runServer(cmd);
      case 'get':
        return runGet(cmd);
      case 'proxy':
        return runProxy(cmd);
    }
  } catch (e) {
    die(e);
  }
}

/** How a side closed, for the log line: `end`, `aborted`, or the error's kind (`unexpectedEof`, `alert`, …). */
function closeWord(c: SideClose): string {
  return c.kind === 'error' ? `error:${c.error.kind}` : c.kind;
}

/**
 * `rxtls proxy`: TLS (or, with `--quic`, QUIC streams; with `--dtls`, DTLS connections) terminated with
 * `terminate`, the plaintext forwarded to `--to` over TCP (`splice` with a socket) or over TLS (`originate`). One log line per connection on stderr.
 */
function runProxy(cmd: ProxyCommand): void {
  const log = (line: string) => process.stderr.write(line + '\n');
  const cert = cmd.cert !== undefined ? readFileSync(cmd.cert, 'utf8') : undefined;
  const key = cmd.key !== undefined ? readFileSync(cmd.key, 'utf8') : undefined;
  const hostText = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const routeText = (to: { host: string; port: number }) => `${hostText(to.host)}:${to.port}${cmd.toTls ? '+tls' : ''}`;
  /** `--route` by server name (exact, or `*.suffix` for one more label), else `--to`. */
  const backendFor = (serverName: string | undefined) => {
    const name = serverName?.toLowerCase();
    const hit =
      cmd.routes.find((r) => r.name === name) ??
      cmd.routes.find((r) => r.name.startsWith('*.') && name !== undefined && name.endsWith(r.name.slice(1)) && !name.slice(0, -(r.name.length - 1)).includes('.'));
    return hit?.to ?? cmd.to;
  };
  const ca = cmd.cafile !== undefined ? readFileSync(cmd.cafile, 'utf8') : undefined;
  if (cmd.passthrough) return runPassthroughProxy(cmd, log, backendFor, routeText);
  const forward = (plain: Spliceable & { readonly info?: PlainDuplex['info'] }): Observable<SpliceReport> => {
    const to = backendFor(plain.info?.serverName);
    return cmd.toTls
      ? of(plain).pipe(
          originate({
            host: to.host,
            port: to.port,
            ...(ca !== undefined ? { ca } : {}),
            ...(cmd.servername !== undefined ? { servername: cmd.servername } : {}),
            ...(cmd.insecure ? { rejectUnauthorized: false } : {}),
          }),
        )
      : splice(plain, fromSocket(tcpConnect({ host: to.host, port: to.port, allowHalfOpen: true }).setNoDelay(true)));
  };
  const report = (client: string, plain: { readonly info?: PlainDuplex['info'] }, r: SpliceReport) =>
    log(
      formatProxyLine({
        client,
        sni: plain.info?.serverName,
        alpn: plain.info?.alpn,
        route: routeText(backendFor(plain.info?.serverName)),
        up: r.aToB,
        down: r.bToA,
        clientClose: closeWord(r.a),
        backendClose: closeWord(r.b),
      }),
    );
  /**
   * A UDP front's secured connections or streams, each terminated and forwarded. Neither a DTLS connection nor a
   * QUIC stream names the peer's address: the n-th of a source stands for its client, logged as `label#n`.
   */
  const proxyEach =
    (label: string): OperatorFunction<Terminable, unknown> =>
    (secured) =>
      secured.pipe(
        terminate(),
        mergeMap((plain, i) => forward(plain).pipe(map((r) => report(`${label}#${i}`, plain, r)))),
      );
  const announce = (port: number) => log(`ACCEPT ${hostText(cmd.listen.host)}:${port}`);
  if (cmd.quic) {
    quicListen({ host: cmd.listen.host, port: cmd.listen.port, ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}), alpn: cmd.alpn ?? [] }).then((listener) => {
      announce(listener.port);
      // Each connection's streams are numbered on their own.
      listener.connections.pipe(mergeMap((conn) => conn.incoming$.pipe(proxyEach('quic')))).subscribe({ error: die });
    }, die);
    return;
  }
  if (cmd.dtls) {
    // A connection that fails before it is accepted is logged with the address the listener saw.
    dtlsListen({
      host: cmd.listen.host,
      port: cmd.listen.port,
      cert: cert!,
      key: key!,
      ...(cmd.alpn ? { ALPNProtocols: cmd.alpn } : {}),
      onError: (err, remote) => log(`PROXY client=${hostText(remote.address)}:${remote.port} route=${routeText(cmd.to)} handshake failed: ${describeFailure(err)}`),
    }).then((listener) => {
      announce(listener.port);
      listener.connections.pipe(proxyEach('dtls')).subscribe({ error: die });
    }, die);
    return;
  }
  const server = tcpServer({ allowHalfOpen: true });
  const clients = new WeakMap<ByteDuplex, string>();
  const handshakeFailed = (client: string, err: unknown) => log(`PROXY client=${client} route=${routeText(cmd.to)} handshake failed: ${describeFailure(err)}`);
  // Without --cert/--key the front is plain TCP: the proxy only originates (--to-tls).
  const front: OperatorFunction<ByteDuplex, Spliceable & { readonly info?: PlainDuplex['info'] }> =
    cert !== undefined && key !== undefined
      ? terminate({ cert, key, ...(cmd.alpn ? { ALPNProtocols: cmd.alpn } : {}), onError: (err, transport) => handshakeFailed(clients.get(transport) ?? '?', err) })
      : (source) => source;
  server.on('connection', (socket) => {
    socket.setNoDelay(true);
    const client = `${hostText(socket.remoteAddress ?? '?')}:${socket.remotePort ?? 0}`;
    const transport = fromSocket(socket);
    clients.set(transport, client);
    of(transport)
      .pipe(
        front,
        mergeMap((plain) => forward(plain).pipe(map((r) => report(client, plain, r)))),
        catchError((err: unknown) => {
          handshakeFailed(client, err);
          socket.destroy();
          return [];
        }),
      )
      .subscribe();
  });
  listenAndAnnounce(server, cmd.listen, log);
}

/** Listen on `at` and print the `ACCEPT host:port` readiness line (the port the kernel chose for port 0). */
function listenAndAnnounce(server: ReturnType<typeof tcpServer>, at: { readonly host: string; readonly port: number }, log: (line: string) => void): void {
  server.on('error', die);
  server.listen(at.port, at.host, () => {
    const a = server.address();
    log(`ACCEPT ${at.host.includes(':') ? `[${at.host}]` : at.host}:${typeof a === 'object' && a ? a.port : at.port}`);
  });
}

/**
 * `rxtls proxy --passthrough`: each TCP connection's ClientHello is read (`routeBySni`) without terminating; the
 * connection, ClientHello included, is spliced untouched to the backend its server name routes to. A ClientHello
 * that cannot be read gets the alert a TLS server would send (logged).
 */
function runPassthroughProxy(
  cmd: ProxyCommand,
  log: (line: string) => void,
  backendFor: (serverName: string | undefined) => { readonly host: string; readonly port: number },
  routeText: (to: { host: string; port: number }) => string,
): void {
  const hostText = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const server = tcpServer({ allowHalfOpen: true });
  server.on('connection', (socket) => {
    socket.setNoDelay(true);
    const client = `${hostText(socket.remoteAddress ?? '?')}:${socket.remotePort ?? 0}`;
    of(fromSocket(socket))
      .pipe(
        routeBySniOn(nodePlatform)({
          routes: [],
          defaultRoute: { route: 'sni' },
          onError: (err) => log(`PROXY client=${client} passthrough refused: ${describeFailure(err)}`),
        }),
        mergeMap((routed) => {
          if (routed.kind !== 'passthrough') return [];
          const to = backendFor(routed.serverName);
          return splice(routed.duplex, fromSocket(tcpConnect({ host: to.host, port: to.port, allowHalfOpen: true }).setNoDelay(true))).pipe(
            map((r) =>
              log(
                formatProxyLine({
                  client,
                  sni: routed.serverName,
                  alpn: routed.alpn.join(',') || undefined,
                  route: `${routeText(to)} passthrough`,
                  up: r.aToB,
                  down: r.bToA,
                  clientClose: closeWord(r.a),
                  backendClose: closeWord(r.b),
                }),
              ),
            ),
          );
        }),
        catchError((err: unknown) => {
          log(`PROXY client=${client} passthrough failed: ${describeFailure(err)}`);
          socket.destroy();
          return [];
        }),
      )
      .subscribe();
  });
  listenAndAnnounce(server, cmd.listen, log);
}

main(process.argv.slice(2));
