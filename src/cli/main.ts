#!/usr/bin/env node
/**
 * The `rxtls` bin: a TLS 1.3 client and server on top of the RxJS API, in the spirit of `openssl s_client` /
 * `s_server`. Argument parsing and formatting live in `args.ts` (pure, unit tested); this file does the I/O.
 *
 * @example
 * ```sh
 * printf 'GET / HTTP/1.0\r\n\r\n' | rxtls client localhost:4433 --cafile ca.pem --alpn http/1.1
 * rxtls server --port 4433 --cert chain.pem --key key.pem --www
 * ```
 */
import { readFileSync } from 'node:fs';
import type { Subscription } from 'rxjs';
import { connect } from '../rx/connect.js';
import { listen } from '../rx/listen.js';
import type { TlsConnection } from '../rx/types.js';
import {
  type ClientCommand,
  ExitCode,
  type ServerCommand,
  describeFailure,
  exitCodeFor,
  formatFailure,
  formatSummary,
  isRequestComplete,
  parseCliArgs,
  wwwResponse,
} from './args.js';
import { inboundSource } from './inboundSource.js';

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
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

/**
 * stdin as an AsyncIterable for `send()` (pulled only while the connection can write), ending at stdin EOF
 * or as soon as `stop` resolves (the peer closed first).
 */
async function* stdinUntil(stop: Promise<void>): AsyncGenerator<Uint8Array> {
  const it = process.stdin[Symbol.asyncIterator]();
  const stopped = stop.then(() => 'stop' as const);
  try {
    for (;;) {
      const r = await Promise.race([it.next() as Promise<IteratorResult<Buffer>>, stopped]);
      if (r === 'stop' || r.done) return;
      yield r.value;
    }
  } finally {
    process.stdin.pause();
  }
}

function runClient(cmd: ClientCommand): void {
  const peerLabel = cmd.host.includes(':') ? `[${cmd.host}]:${cmd.port}` : `${cmd.host}:${cmd.port}`;
  const conn$ = connect({
    host: cmd.host,
    port: cmd.port,
    ...(cmd.servername !== undefined && { servername: cmd.servername }),
    ...(cmd.cafile !== undefined && { ca: readText(cmd.cafile, 'CA file') }),
    ...(cmd.insecure && { rejectUnauthorized: false }),
    ...(cmd.alpn !== undefined && { ALPNProtocols: cmd.alpn }),
    ...(cmd.ciphers !== undefined && { ciphers: cmd.ciphers }),
    ...(cmd.groups !== undefined && { groups: cmd.groups }),
    ...(cmd.cert !== undefined && { cert: readText(cmd.cert, 'certificate file'), key: readText(cmd.key!, 'key file') }),
  });
  let inboundDone = false;
  let outboundDone = false;
  let peerClosed!: () => void;
  const peerClosedSignal = new Promise<void>((r) => (peerClosed = r));
  const finish = () => {
    if (inboundDone && outboundDone) {
      if (!cmd.quiet) process.stderr.write('rxtls: closed cleanly (close_notify both ways)\n');
      exit(ExitCode.ok);
    }
  };
  conn$.subscribe({
    next: (conn: TlsConnection) => {
      if (!cmd.quiet) process.stderr.write(`CONNECTED ${peerLabel}\n` + formatSummary(conn.info));
      conn.send(stdinUntil(peerClosedSignal)).subscribe({
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
    error: die,
  });
}

function runServer(cmd: ServerCommand): void {
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
    host: cmd.host,
    port: cmd.port,
    cert: readText(cmd.cert, 'certificate file'),
    key: readText(cmd.key, 'key file'),
    ...(cmd.alpn !== undefined && { ALPNProtocols: cmd.alpn }),
    ...(cmd.ciphers !== undefined && { ciphers: cmd.ciphers }),
    ...(cmd.groups !== undefined && { groups: cmd.groups }),
    ...(cmd.verifyClient !== undefined && {
      requestCert: true,
      rejectUnauthorized: true,
      ca: readText(cmd.verifyClient, 'client CA file'),
    }),
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
      case 'client':
        return runClient(cmd);
      case 'server':
        return runServer(cmd);
    }
  } catch (e) {
    die(e);
  }
}

main(process.argv.slice(2));
