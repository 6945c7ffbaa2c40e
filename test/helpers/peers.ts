/**
 * Harness for interop tests against real peers (openssl, gnutls, node:tls, our own CLI).
 *
 * Every process started here is bounded three times over: it runs under coreutils `timeout` (its own process
 * group, killed as a whole), the caller's deadline kills the group, and an `exit` hook kills whatever is still
 * alive when the test worker ends. Peers never skip: a missing binary is a failure with a clear message
 * ({@link requirePeer}).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { bundledCommand } from './bundle.js';
import { createHash, randomBytes } from 'node:crypto';
import type { Subscription } from 'rxjs';
import { inboundSource } from '../../src/cli/inboundSource.js';
import type { HandshakeInfo } from '../../src/core/types.js';
import type { TlsError } from '../../src/core/errors.js';
import { connect } from '../../src/rx/connect.js';
import { listen } from '../../src/rx/listen.js';
import type { ConnectOptions, ListenOptions, TlsConnection } from '../../src/rx/types.js';

/** Absolute path of the repository root. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a certificate fixture (`test/fixtures/certs/NAME`). */
export function certPath(name: string): string {
  return path.join(repoRoot, 'test', 'fixtures', 'certs', name);
}

/** Contents of a certificate fixture as text. */
export function certText(name: string): string {
  return readFileSync(certPath(name), 'utf8');
}

/** ava's `t.timeout` for one interop test. */
export const TEST_MS = 60_000;
/** Hard lifetime of one peer process started by an interop test (inside {@link TEST_MS}). */
export const PEER_MS = 50_000;

/** The kinds of fixture server leaves: ECDSA P-256, Ed25519, RSA. */
export type CertKind = 'ec' | 'ed' | 'rsa';

/** The test CA as PEM text (what rxtls and node:tls clients trust). */
export const CA_PEM = certText('ca-cert.pem');

/** A fixture server leaf plus the intermediate and its key, as PEM text: `listen()` / node:tls server options. */
export function serverPem(kind: CertKind = 'ec'): { cert: string; key: string } {
  return { cert: certText(`server-${kind}-chain.pem`), key: certText(`server-${kind}-key.pem`) };
}

/** Something with ava's `t.teardown`. */
export interface TeardownOwner {
  teardown(fn: () => void | Promise<void>): void;
}

// ---------------------------------------------------------------------------------------------------------
// process bookkeeping

const live = new Set<ChildProcess>();

function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

/** Kill a detached child and everything in its process group. */
function killGroup(p: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!alive(p) || p.pid === undefined) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    try {
      p.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

process.on('exit', () => {
  for (const p of live) killGroup(p);
});

/** Seconds for coreutils `timeout`: the caller's budget plus a margin, so our own timer normally fires first. */
function hardLimitSeconds(timeoutMs: number): string {
  return String(Math.ceil(timeoutMs / 1000) + 5);
}

function spawnBounded(cmd: string, args: readonly string[], timeoutMs: number, opts: { env?: NodeJS.ProcessEnv; cwd?: string }) {
  const child = spawn(requirePeer('timeout'), ['-k', '2', hardLimitSeconds(timeoutMs), cmd, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true, // own process group: killGroup() reaches grandchildren too
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  // A peer that exits early must not crash the test worker with EPIPE.
  child.stdin?.on('error', () => undefined);
  return child;
}

// ---------------------------------------------------------------------------------------------------------
// ports and binaries

/** A TCP port that was free on `host` a moment ago (bind port 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not learn a free port'))));
    });
  });
}

/** Resolve a binary on PATH, or undefined. */
export function findBinary(binary: string): string | undefined {
  if (binary.includes('/')) return isExecutable(binary) ? binary : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const packageOf: Record<string, string> = {
  openssl: 'openssl',
  'gnutls-serv': 'gnutls-bin',
  'gnutls-cli': 'gnutls-bin',
  unshare: 'util-linux',
  ip: 'iproute2',
  timeout: 'coreutils',
  gtlsserver: 'ngtcp2-server',
  gtlsclient: 'ngtcp2-client',
  chromium: 'chromium',
};

/**
 * The absolute path of a peer binary. Throws (so the test FAILS, it never skips) when the binary is missing:
 * under `CI=true` the message says `.ci/run` must install it; locally it says how to install it.
 */
export function requirePeer(binary: string): string {
  const found = findBinary(binary);
  if (found) return found;
  const pkg = packageOf[binary] ?? binary;
  if (process.env.CI === 'true') {
    throw new Error(`required peer "${binary}" is not installed on the CI machine: .ci/run must install the Debian package ${pkg}`);
  }
  throw new Error(`required peer "${binary}" is not on PATH: install it (apt-get install -y ${pkg}); interop tests never skip`);
}

// ---------------------------------------------------------------------------------------------------------
// long-running peers

/** Options of {@link spawnPeer}. */
export interface PeerOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Ready once this appears in stdout or stderr. */
  readonly readyLine?: RegExp | string;
  /** Ready once this port accepts TCP connections (on `readyHost`, default 127.0.0.1). */
  readonly readyPort?: number;
  readonly readyHost?: string;
  /** Hard lifetime of the process in ms; it is killed after this, whatever happens. */
  readonly timeoutMs: number;
  /** Deadline for readiness (default: min(15 s, timeoutMs)). */
  readonly readyTimeoutMs?: number;
  /** Registers the kill with ava's `t.teardown`. */
  readonly owner?: TeardownOwner;
}

/** A running peer with captured output. */
export interface Peer {
  readonly pid: number;
  readonly command: string;
  stdout(): string;
  stdoutBytes(): Buffer;
  stderr(): string;
  /** stdout and stderr interleaved in arrival order. */
  output(): string;
  /** Resolves when the process exits (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Wait until the combined output matches `pattern`; rejects (with the output so far) after `timeoutMs`. */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  write(data: string | Uint8Array): void;
  /** Close the peer's stdin. */
  end(): void;
  /** Kill the process group (idempotent) and wait for the exit. */
  kill(): Promise<void>;
}

function matches(text: string, pattern: RegExp | string): boolean {
  return typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text);
}

/**
 * Start a peer under a hard timeout, capture its output and resolve once it is ready (`readyLine` seen and/or
 * `readyPort` accepting). Rejects — after killing it — if it exits or the deadline passes first; the error
 * carries the command line and its output.
 */
export async function spawnPeer(cmd: string, args: readonly string[], opts: PeerOptions): Promise<Peer> {
  const child = spawnBounded(cmd, args, opts.timeoutMs, opts);
  const command = [cmd, ...args].join(' ');
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let both = '';
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  child.stdout!.on('data', (b: Buffer) => {
    out.push(b);
    both += b.toString('latin1');
    notify();
  });
  child.stderr!.on('data', (b: Buffer) => {
    err.push(b);
    both += b.toString('latin1');
    notify();
  });
  // 'close', not 'exit': only then has all of the output been read from the pipes.
  let closed = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      closed = true;
      notify();
      resolve({ code, signal });
    });
    child.once('error', () => {
      closed = true;
      notify();
      resolve({ code: null, signal: null });
    });
  });
  const overall = setTimeout(() => killGroup(child), opts.timeoutMs);
  overall.unref();
  void exited.then(() => clearTimeout(overall));

  const peer: Peer = {
    pid: child.pid ?? -1,
    command,
    stdout: () => Buffer.concat(out).toString('utf8'),
    stdoutBytes: () => Buffer.concat(out),
    stderr: () => Buffer.concat(err).toString('utf8'),
    output: () => both,
    exited,
    waitForOutput(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (matches(both, pattern)) {
            done();
            resolve(both);
          } else if (closed) {
            done();
            reject(new Error(`${command} exited before printing ${String(pattern)}; output:\n${both}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${String(pattern)} from ${command}; output:\n${both}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    write: (data) => {
      if (child.stdin?.writable) child.stdin.write(data);
    },
    end: () => child.stdin?.end(),
    async kill() {
      killGroup(child);
      await exited;
    },
  };
  opts.owner?.teardown(() => peer.kill());

  try {
    await waitReady(peer, child, opts);
  } catch (e) {
    await peer.kill();
    throw e;
  }
  return peer;
}

async function waitReady(peer: Peer, child: ChildProcess, opts: PeerOptions): Promise<void> {
  const deadline = Date.now() + (opts.readyTimeoutMs ?? Math.min(15_000, opts.timeoutMs));
  if (opts.readyLine !== undefined) {
    await peer.waitForOutput(opts.readyLine, Math.max(1, deadline - Date.now()));
  }
  if (opts.readyPort !== undefined) {
    const host = opts.readyHost ?? '127.0.0.1';
    for (;;) {
      if (!alive(child)) throw new Error(`${peer.command} exited before listening on ${host}:${opts.readyPort}; output:\n${peer.output()}`);
      if (await canConnect(host, opts.readyPort)) return;
      if (Date.now() > deadline) {
        throw new Error(`${peer.command} did not listen on ${host}:${opts.readyPort} in time; output:\n${peer.output()}`);
      }
      await delay(50);
    }
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const finish = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    // Loopback connects succeed or are refused at once; only a loaded machine is slow to say so. A short timeout
    // here made a second probe connection, which a `-naccept 2` s_server counted as the real one.
    s.setTimeout(10_000, () => finish(false));
    s.once('connect', () => finish(true));
    s.once('error', () => finish(false));
  });
}

/** Resolve after `ms` (used only for bounded polling). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------------------
// one-shot commands

/** Result of a finished command. */
export interface RunResult {
  /** Exit code; null when killed by a signal (e.g. our deadline). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
  /** True when the deadline killed it. */
  readonly timedOut: boolean;
}

/** Options of {@link run}. */
export interface RunOptions {
  readonly stdin?: string | Uint8Array;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly timeoutMs: number;
  readonly owner?: TeardownOwner;
}

/** Run a command to completion under a deadline, feeding `stdin` (then EOF). Never rejects on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const child = spawnBounded(cmd, args, opts.timeoutMs, opts);
  opts.owner?.teardown(() => killGroup(child));
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, opts.timeoutMs);
  if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  else child.stdin!.end();
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stdoutBytes,
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// our CLI

/** The argv prefix that runs `src/cli/main.ts`, bundled from the current sources (development form of the `rxtls` bin). */
export function cliCommand(): [string, ...string[]] {
  return bundledCommand('src/cli/main.ts');
}

/** Run our CLI (`rxtls …args`) to completion under a deadline. */
export function runCli(args: readonly string[], stdin?: string | Uint8Array, opts: Partial<RunOptions> = {}): Promise<RunResult> {
  const [node, ...pre] = cliCommand();
  return run(node, [...pre, ...args], { timeoutMs: 30_000, ...opts, stdin: stdin ?? opts.stdin, cwd: repoRoot });
}

/**
 * Arguments for headless Chromium that dumps the DOM of `url` once its virtual time budget is spent: a private
 * profile, no sandbox (root in CI), nothing that reaches the network on its own.
 */
export function chromiumDumpDomArgs(profile: string, url: string, extra: readonly string[] = []): string[] {
  return [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-component-update',
    `--user-data-dir=${profile}`,
    ...extra,
    '--dump-dom',
    url,
  ];
}

/** Start `rxtls server …args` and resolve once it printed its `ACCEPT host:port` readiness line. */
export function startCliServer(args: readonly string[], opts: PeerLifetime = {}): Promise<Peer> {
  const [node, ...pre] = cliCommand();
  return spawnPeer(node, [...pre, ...args], { timeoutMs: PEER_MS, ...opts, readyLine: /^ACCEPT \S+:\d+$/m, readyTimeoutMs: 30_000, cwd: repoRoot });
}

// ---------------------------------------------------------------------------------------------------------
// network namespaces (gnutls-serv binds every address, so it runs in a private namespace with only `lo`)

/** Quote one word for bash. */
export function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Quote a command line for bash. */
export function shCommand(argv: readonly string[]): string {
  return argv.map(sh).join(' ');
}

/**
 * Run a bash `script` inside a fresh network namespace (`unshare -n`, loopback up) under a deadline. Needs root;
 * throws a clear error otherwise (never skips).
 */
export function inNetns(script: string, opts: RunOptions): Promise<RunResult> {
  if (process.getuid?.() !== 0) throw new Error('inNetns needs root (unshare -n); run the gnutls interop tests as root');
  const unshare = requirePeer('unshare');
  requirePeer('ip');
  return run(unshare, ['-n', 'bash', '-c', `set -u\nip link set lo up\n${script}`], opts);
}

/** A server and a client run together in one namespace by {@link netnsPair}. */
export interface NetnsPairOptions {
  /** Server argv; it must listen on `port` (any address, inside the namespace). */
  readonly server: readonly string[];
  readonly port: number;
  /** Client argv, started once `port` accepts connections. */
  readonly client: readonly string[];
  /** Client stdin (then EOF). Default: empty. */
  readonly clientStdin?: string | Uint8Array;
  /** Wait for this text in the server's output instead of probing the port (a probe is a connection). */
  readonly serverReadyLine?: string;
  readonly timeoutMs: number;
  readonly owner?: TeardownOwner;
}

/** What {@link netnsPair} saw. */
export interface NetnsPairResult {
  readonly clientCode: number | null;
  readonly clientStdout: string;
  readonly clientStdoutBytes: Buffer;
  readonly clientStderr: string;
  readonly serverOutput: string;
  /** The script's own diagnostics (readiness failures). */
  readonly script: RunResult;
}

/**
 * Start `server` in the background inside a private network namespace, wait until it is ready (bounded),
 * run `client` to completion, then stop the server. Outputs go through files in a temporary directory.
 */
export async function netnsPair(o: NetnsPairOptions): Promise<NetnsPairResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rxtls-netns-'));
  try {
    const f = (n: string) => path.join(dir, n);
    writeFileSync(f('client.in'), o.clientStdin ?? '');
    writeFileSync(f('client.out'), '');
    writeFileSync(f('client.err'), '');
    writeFileSync(f('server.log'), '');
    const waitReady =
      o.serverReadyLine !== undefined
        ? `grep -qF -- ${sh(o.serverReadyLine)} ${sh(f('server.log'))}`
        : `(exec 3<>/dev/tcp/127.0.0.1/${o.port}) 2>/dev/null`;
    const script = `
${shCommand(o.server)} > ${sh(f('server.log'))} 2>&1 < /dev/null &
SP=$!
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null' EXIT
ready=0
for i in $(seq 1 900); do
  if ${waitReady}; then ready=1; break; fi
  kill -0 $SP 2>/dev/null || break
  sleep 0.05
done
if [ $ready != 1 ]; then echo "server not ready on port ${o.port}" >&2; cat ${sh(f('server.log'))} >&2; exit 97; fi
set +e
${shCommand(o.client)} < ${sh(f('client.in'))} > ${sh(f('client.out'))} 2> ${sh(f('client.err'))}
rc=$?
sleep 0.2
exit $rc
`;
    const script_ = await inNetns(script, { timeoutMs: o.timeoutMs, owner: o.owner });
    const clientStdoutBytes = readFileSync(f('client.out'));
    return {
      clientCode: script_.code,
      clientStdout: clientStdoutBytes.toString('utf8'),
      clientStdoutBytes,
      clientStderr: readFileSync(f('client.err'), 'utf8'),
      serverOutput: readFileSync(f('server.log'), 'utf8'),
      script: script_,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The port the interop tests use inside a private network namespace (nothing else listens there). */
export const NETNS_PORT = 5556;

/** Options of {@link gnutlsCliVsCliServer}. */
export interface GnutlsCliPairOptions {
  /** Port inside the private namespace (default {@link NETNS_PORT}). */
  readonly port?: number;
  /** Server certificate kind (default `ec`). */
  readonly cert?: 'ec' | 'ed' | 'rsa';
  /** `rxtls server` flags after the port and credentials (`--www`, `--echo`, `--naccept`, …). */
  readonly serverArgs: readonly string[];
  /** `gnutls-cli` flags after the address, CA and expected host name. */
  readonly cliArgs: readonly string[];
  readonly stdin: string;
  readonly timeoutMs: number;
  readonly owner?: TeardownOwner;
}

/**
 * `gnutls-cli` against the rxtls CLI server, both in a private network namespace ({@link netnsPair}): the
 * client trusts the test CA and checks the name `localhost`; the server is ready once it prints `ACCEPT`.
 */
export function gnutlsCliVsCliServer(o: GnutlsCliPairOptions): Promise<NetnsPairResult> {
  const cert = o.cert ?? 'ec';
  const port = o.port ?? NETNS_PORT;
  return netnsPair({
    server: [
      ...cliCommand(),
      'server',
      '--port',
      String(port),
      '--cert',
      certPath(`server-${cert}-chain.pem`),
      '--key',
      certPath(`server-${cert}-key.pem`),
      ...o.serverArgs,
    ],
    port,
    serverReadyLine: 'ACCEPT 127.0.0.1:',
    client: [requirePeer('gnutls-cli'), '-p', String(port), '127.0.0.1', '--x509cafile', certPath('ca-cert.pem'), '--verify-hostname', 'localhost', ...o.cliArgs],
    clientStdin: o.stdin,
    timeoutMs: o.timeoutMs,
    ...(o.owner ? { owner: o.owner } : {}),
  });
}

/** Describe a finished command for assertion messages. */
export function describeRun(label: string, r: { code: number | null; stdout?: string; stderr?: string }): string {
  return `${label} exited ${r.code}\n--- stdout\n${(r.stdout ?? '').slice(0, 4000)}\n--- stderr\n${(r.stderr ?? '').slice(0, 4000)}`;
}

// ---------------------------------------------------------------------------------------------------------
// driving rxtls connections from tests

/** Reject with a clear message if `p` has not settled after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** SHA-256 hex digest. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `n` pseudo-random bytes (fast, not for keys). */
export function payload(n: number): Buffer {
  return randomBytes(n);
}

/** Split `data` into chunks of at most `size` bytes (views, no copies). */
export function chunksOf(data: Uint8Array, size = 64 * 1024): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, Math.min(data.length, i + size)));
  return out;
}

/**
 * Subscribe to `connect(options)` and resolve with the connection once the handshake is done. The
 * subscription is kept (unsubscribing aborts the connection) and released by `owner`'s teardown or `release`.
 */
export function openConnection(options: ConnectOptions, owner?: TeardownOwner): Promise<{ conn: TlsConnection; release: () => void }> {
  return new Promise((resolve, reject) => {
    let sub: Subscription | undefined = undefined;
    let released = false;
    const release = () => {
      released = true;
      sub?.unsubscribe();
    };
    owner?.teardown(release);
    sub = connect(options).subscribe({
      next: (conn) => resolve({ conn, release }),
      error: reject,
    });
    if (released) sub.unsubscribe();
  });
}

/** What one side of a connection saw. */
export interface Transcript {
  readonly info: HandshakeInfo;
  /** Everything received (when kept). */
  readonly received: Buffer;
  readonly receivedBytes: number;
  readonly receivedSha256: string;
}

/** Options of {@link drive}. */
export interface DriveOptions {
  /** Data to send (then close_notify), unless the peer closes first and `stopOnPeerClose` is set. */
  readonly send?: Uint8Array | string | readonly Uint8Array[];
  /** Echo everything received back. */
  readonly echo?: boolean;
  /**
   * Hold our close_notify until this many bytes arrived, then send `reply` (if any) and close_notify.
   * Default 0: send and close at once.
   */
  readonly closeAfterBytes?: number;
  /** Sent once `closeAfterBytes` bytes arrived. */
  readonly reply?: Uint8Array | string | ((received: Buffer) => Uint8Array | string);
  /** Send close_notify only after the peer's close_notify (like `s_client -ign_eof`). */
  readonly waitForPeerClose?: boolean;
  /** Keep the received bytes (default true; false keeps only the count and digest). */
  readonly keep?: boolean;
}

const toBytes = (x: Uint8Array | string): Uint8Array => (typeof x === 'string' ? new TextEncoder().encode(x) : x);

/**
 * Run one established connection: send, echo or reply as told, close our side with close_notify, and resolve
 * once the peer's close_notify completed the inbound direction and ours is on the wire. Rejects on any
 * connection error. Echo goes through {@link inboundSource} (end-to-end backpressure); everything else is an
 * async generator, so `send()` pulls it only while the transport is writable.
 */
export function drive(conn: TlsConnection, o: DriveOptions = {}): Promise<Transcript> {
  return new Promise((resolve, reject) => {
    const keep = o.keep ?? true;
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    let count = 0;
    let inboundDone = false;
    let outboundDone = false;
    let finished = false;
    const finish = () => {
      if (finished || !inboundDone || !outboundDone) return;
      finished = true;
      resolve({ info: conn.info, received: Buffer.concat(kept), receivedBytes: count, receivedSha256: hash.digest('hex') });
    };
    let trigger!: () => void;
    const closeSignal = new Promise<void>((r) => (trigger = r));
    const threshold = o.closeAfterBytes ?? 0;
    const onData = (chunk: Uint8Array) => {
      count += chunk.length;
      hash.update(chunk);
      if (keep) kept.push(Buffer.from(chunk));
      if (threshold > 0 && count >= threshold) trigger();
    };
    const onInboundEnd = (err?: unknown) => {
      if (err !== undefined) return reject(err);
      inboundDone = true;
      trigger(); // the peer closed: nothing more to wait for
      finish();
    };
    let source: AsyncIterable<Uint8Array>;
    if (o.echo) {
      source = inboundSource(conn, { onData, onEnd: onInboundEnd, ...(threshold > 0 ? { stopAfterBytes: threshold } : {}) });
    } else {
      conn.inbound$.subscribe({ next: onData, complete: () => onInboundEnd(), error: onInboundEnd });
      if (threshold === 0 && !o.waitForPeerClose) trigger();
      const parts =
        o.send === undefined ? [] : typeof o.send === 'string' || o.send instanceof Uint8Array ? chunksOf(toBytes(o.send)) : o.send;
      const reply = o.reply;
      source = (async function* () {
        for (const p of parts) yield p;
        await closeSignal;
        if (reply !== undefined) yield toBytes(typeof reply === 'function' ? reply(Buffer.concat(kept)) : reply);
      })();
    }
    conn.send(source).subscribe({
      complete: () => {
        outboundDone = true;
        finish();
      },
      error: reject,
    });
  });
}

/**
 * `connect(options)`, then {@link drive} the connection; the whole exchange must finish within `timeoutMs`.
 */
export async function clientExchange(options: ConnectOptions, o: DriveOptions & { timeoutMs?: number; owner?: TeardownOwner } = {}): Promise<Transcript> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const { conn, release } = await withTimeout(openConnection(options, o.owner), timeoutMs, `handshake with ${options.host}:${options.port}`);
  try {
    return await withTimeout(drive(conn, o), timeoutMs, `exchange with ${options.host}:${options.port}`);
  } finally {
    release();
  }
}

/** A running `listen()` with a queue of accepted connections. */
export interface Listener {
  readonly port: number;
  /** The next accepted connection (waits up to `timeoutMs`). */
  accept(timeoutMs?: number): Promise<TlsConnection>;
  /** Failed connections reported by `onError` (handshake failures, later fatal alerts, truncation). */
  readonly errors: TlsError[];
  close(): void;
}

/** Start `listen(options)` on 127.0.0.1 port 0 and resolve once the port is known. */
export function startListener(options: Omit<ListenOptions, 'port' | 'host'>, owner?: TeardownOwner): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const queue: TlsConnection[] = [];
    const waiters: ((c: TlsConnection) => void)[] = [];
    const errors: TlsError[] = [];
    let sub: Subscription | undefined;
    const close = () => sub?.unsubscribe();
    owner?.teardown(close);
    let resolved = false;
    const listener = (port: number): Listener => ({
      port,
      errors,
      close,
      accept(timeoutMs = 20_000) {
        const c = queue.shift();
        if (c) return Promise.resolve(c);
        return withTimeout(new Promise<TlsConnection>((r) => waiters.push(r)), timeoutMs, `accepting a connection on port ${port}`);
      },
    });
    sub = listen({
      ...options,
      host: '127.0.0.1',
      port: 0,
      onListening: ({ port }) => {
        resolved = true;
        resolve(listener(port));
      },
      onError: (e) => errors.push(e),
    }).subscribe({
      next: (conn) => {
        const w = waiters.shift();
        if (w) w(conn);
        else queue.push(conn);
      },
      error: (e) => {
        if (!resolved) reject(e);
      },
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// openssl helpers shared by the interop files

/** s_server/s_client arguments for a fixture server leaf plus the intermediate. */
export function opensslCertArgs(kind: 'ec' | 'ed' | 'rsa' = 'ec'): string[] {
  return ['-cert', certPath(`server-${kind}-cert.pem`), '-cert_chain', certPath('int-cert.pem'), '-key', certPath(`server-${kind}-key.pem`)];
}

/** How long a peer may live ({@link PEER_MS} when not said) and whose teardown kills it. */
export interface PeerLifetime {
  readonly timeoutMs?: number;
  readonly owner?: TeardownOwner;
}

/**
 * Start `openssl s_server -tls1_3` on a free 127.0.0.1 port, ready once it printed `ACCEPT`. Its stdin stays
 * open (a pipe: it exits on stdin EOF); `peer.write('K\n')` types a command.
 */
export async function startSServer(args: readonly string[], opts: PeerLifetime = {}): Promise<{ peer: Peer; port: number }> {
  const openssl = requirePeer('openssl');
  const port = await freePort();
  const peer = await spawnPeer(openssl, ['s_server', '-accept', `127.0.0.1:${port}`, '-tls1_3', ...args], {
    readyLine: /^ACCEPT$/m,
    timeoutMs: PEER_MS,
    ...opts,
  });
  return { peer, port };
}

/**
 * Start `openssl s_server -tls1_3 -brief -naccept 2` on a free 127.0.0.1 port: stdout carries only the data it
 * received (its summary goes to stderr, and stdin is never read as commands); its stdin is what it sends. It
 * prints no ready line, so readiness is a port probe, which is its first connection: hence `-naccept 2`.
 */
export async function startBriefSServer(args: readonly string[], opts: PeerLifetime = {}): Promise<{ peer: Peer; port: number }> {
  const openssl = requirePeer('openssl');
  const port = await freePort();
  const peer = await spawnPeer(openssl, ['s_server', '-accept', `127.0.0.1:${port}`, '-tls1_3', '-naccept', '2', '-brief', ...args], {
    readyPort: port,
    timeoutMs: PEER_MS,
    ...opts,
  });
  return { peer, port };
}

/** `openssl s_client` arguments for 127.0.0.1:`port`, TLS 1.3, verifying `localhost` against the test CA. */
export function sClientArgs(port: number, extra: readonly string[] = []): string[] {
  return ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-CAfile', certPath('ca-cert.pem'), '-servername', 'localhost', '-verify_return_error', ...extra];
}

/**
 * `openssl s_client -quiet` arguments for 127.0.0.1:`port`, TLS 1.3, verifying against the test CA (no
 * `-servername`): stdout is the application data only, and it waits for our close_notify (`-quiet` implies
 * `-ign_eof`).
 */
export function sClientQuietArgs(port: number, extra: readonly string[] = []): string[] {
  return ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-CAfile', certPath('ca-cert.pem'), '-verify_return_error', '-quiet', ...extra];
}

/** Run `openssl` with `args` to completion (stdin, then EOF), for {@link PEER_MS} unless told otherwise. */
export function runOpenssl(args: readonly string[], opts: PeerLifetime & { stdin?: string | Uint8Array } = {}): Promise<RunResult> {
  return run(requirePeer('openssl'), args, { timeoutMs: PEER_MS, ...opts });
}

/** Run `openssl s_client` ({@link sClientArgs}: port, `extra`) to completion. */
export function runSClient(port: number, extra: readonly string[], opts: PeerLifetime & { stdin?: string | Uint8Array } = {}): Promise<RunResult> {
  return runOpenssl(sClientArgs(port, extra), opts);
}

/**
 * Start `openssl s_client` ({@link sClientArgs}: port, `extra`) as a long-running peer, ready once it verified
 * the server; lines written to its stdin are sent (or typed as commands: `Q`, `k`, `K`).
 */
export function startSClient(port: number, extra: readonly string[], opts: PeerLifetime = {}): Promise<Peer> {
  return spawnPeer(requirePeer('openssl'), sClientArgs(port, extra), { readyLine: /Verify return code: 0 \(ok\)/, timeoutMs: PEER_MS, ...opts });
}

/** `rxtls client` arguments for 127.0.0.1:`port`, trusting the test CA and verifying `localhost`, then `extra`. */
export function cliClientArgs(port: number, extra: readonly string[] = []): string[] {
  return ['client', `127.0.0.1:${port}`, '--cafile', certPath('ca-cert.pem'), '--servername', 'localhost', ...extra];
}

/** `rxtls server` arguments on a free port (`--port 0`) with a fixture leaf plus the intermediate, then `extra`. */
export function cliServerArgs(extra: readonly string[] = [], kind: CertKind = 'ec'): string[] {
  return ['server', '--port', '0', '--cert', certPath(`server-${kind}-chain.pem`), '--key', certPath(`server-${kind}-key.pem`), ...extra];
}

/** One KeyUpdate in an OpenSSL `-msg` log: sent (`>>>`) or received (`<<<`), and its request_update flag. */
export interface MsgKeyUpdate {
  readonly dir: 'sent' | 'received';
  readonly requested: boolean;
}

/** Every KeyUpdate an OpenSSL `-msg` log shows, in order (`18 00 00 01 00|01`, RFC 8446 §4.6.3). */
export function msgKeyUpdates(log: string): MsgKeyUpdate[] {
  const out: MsgKeyUpdate[] = [];
  for (const m of log.matchAll(/^(>>>|<<<) TLS 1\.3, Handshake \[length 0005\], KeyUpdate\r?\n\s+18 00 00 01 0([01])/gm)) {
    out.push({ dir: m[1] === '>>>' ? 'sent' : 'received', requested: m[2] === '1' });
  }
  return out;
}

/** The port of a CLI server from its `ACCEPT 127.0.0.1:PORT` line. */
export function cliServerPort(server: Peer): number {
  const m = /^ACCEPT 127\.0\.0\.1:(\d+)$/m.exec(server.stderr());
  if (!m) throw new Error(`no ACCEPT line from the CLI server; output:\n${server.output()}`);
  return Number(m[1]);
}

/** Parse an SSLKEYLOGFILE: label → client random (hex) → secret (hex). Comment lines are skipped. */
export function parseKeyLog(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Z_0-9]+) ([0-9a-fA-F]{64}) ([0-9a-fA-F]+)$/.exec(line);
    if (!m) continue;
    const byRandom = out.get(m[1]!) ?? new Map<string, string>();
    byRandom.set(m[2]!.toLowerCase(), m[3]!.toLowerCase());
    out.set(m[1]!, byRandom);
  }
  return out;
}

/** A fresh temporary directory, removed by `owner`'s teardown. */
export function tempDir(owner: TeardownOwner, prefix = 'rxtls-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  owner.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Options for an rxtls client of a loopback peer that serves the fixture chain for `localhost`. */
export function rxClient(port: number, extra: Partial<ConnectOptions> = {}): ConnectOptions {
  return { host: '127.0.0.1', port, ca: CA_PEM, servername: 'localhost', ...extra };
}

// ---------------------------------------------------------------------------------------------------------
// node:tls peers

/** Options for a TLS 1.3 node:tls client of 127.0.0.1:`port` trusting the test CA and verifying `localhost`. */
export function nodeClientOptions(port: number, extra: tls.ConnectionOptions = {}): tls.ConnectionOptions {
  return { host: '127.0.0.1', port, ca: CA_PEM, servername: 'localhost', minVersion: 'TLSv1.3', ...extra };
}

/**
 * Listen with `server` (a node:tls server not listening yet) on 127.0.0.1, port 0; resolves the port once it
 * listens. `owner`'s teardown closes it.
 */
export async function listenLoopback(server: tls.Server, owner: TeardownOwner): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  owner.teardown(() => void server.close());
  return (server.address() as net.AddressInfo).port;
}

// ---------------------------------------------------------------------------------------------------------
// gnutls-cli in a namespace

/** gnutls-cli `--priority` arguments that allow TLS 1.3 only. */
export const GNUTLS_TLS13_ONLY = ['--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.3'] as const;

/** Assertion message for a {@link netnsPair} run: the client's exit and output, the server's, the script's. */
export function describePair(label: string, r: NetnsPairResult, clientStderrTail = Infinity): string {
  const stderr = clientStderrTail === Infinity ? r.clientStderr : r.clientStderr.slice(-clientStderrTail);
  return describeRun(label, { code: r.clientCode, stdout: r.clientStdout, stderr }) + `\n--- rxtls server\n${r.serverOutput}\n--- script\n${r.script.stderr}`;
}
