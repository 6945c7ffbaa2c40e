/**
 * NSS's `tstclnt` as a DTLS 1.3 peer (libnss3-tools; PEERS.md §2b), both roles: `-P server` binds a UDP port
 * and serves one client, `-P client` connects to one. Lines written to its stdin are sent as application data;
 * what it receives is printed on stdout.
 *
 * What tstclnt needs and how it misbehaves, learnt on NSS 3.87:
 * - a certificate database: {@link nssDb} builds one per test process from the fixtures (the test CA trusted
 *   for TLS servers, `C,,`, and the server identity imported from a PKCS#12 file made by `openssl pkcs12`);
 * - it never exits by itself in DTLS mode: every process runs under coreutils `timeout`, in its own process
 *   group, killed by the test's teardown and at worker exit;
 * - once its stdin hits EOF it spins (a poll loop that never sleeps), and with `-v` prints each turn: its stdin
 *   is a pipe we hold open until the kill;
 * - a client with `-v` prints a few lines per poll turn while the handshake runs: those lines are dropped
 *   before they reach the captured output ({@link NOISE}), and the capture is bounded anyway;
 * - `-c` takes a cipher as `:WXYZ` (hex code point), `-I` groups as `P256,P384,P521,x25519`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { GroupName } from '../../src/crypto/provider.js';
import type { CipherSuiteName } from '../../src/wire/tls/constants.js';
import { certPath, findBinary, type TeardownOwner } from './peers.js';

/** The nickname of the server identity in {@link nssDb}. */
export const NSS_SERVER_NICK = 'rxtls-server';

/** tstclnt `-c` spelling of each TLS 1.3 suite: its code point in hex (`tstclnt -Y`). */
export const NSS_CIPHER: Partial<Record<CipherSuiteName, string>> = {
  TLS_AES_128_GCM_SHA256: ':1301',
  TLS_AES_256_GCM_SHA384: ':1302',
  TLS_CHACHA20_POLY1305_SHA256: ':1303',
};

/** tstclnt `-I` spelling of our group names. */
export const NSS_GROUP: Partial<Record<GroupName, string>> = { x25519: 'x25519', secp256r1: 'P256', secp384r1: 'P384', secp521r1: 'P521' };

/** How tstclnt `-v` names each suite's cipher in `SSL version 3.4 using …`. */
export const NSS_CIPHER_TEXT: Partial<Record<CipherSuiteName, RegExp>> = {
  TLS_AES_128_GCM_SHA256: /using 128-bit AES-GCM/,
  TLS_AES_256_GCM_SHA384: /using 256-bit AES-GCM/,
  TLS_CHACHA20_POLY1305_SHA256: /using 256-bit CHACHA20POLY1305/,
};

/**
 * The absolute path of an NSS tool. Throws (the test FAILS, it never skips) when it is missing, like
 * `requirePeer` in peers.ts, naming the Debian package.
 */
export function requireNssTool(binary: 'tstclnt' | 'certutil' | 'pk12util' | 'openssl' | 'timeout'): string {
  const found = findBinary(binary);
  if (found) return found;
  const pkg = binary === 'openssl' ? 'openssl' : binary === 'timeout' ? 'coreutils' : 'libnss3-tools';
  if (process.env.CI === 'true') {
    throw new Error(`required peer "${binary}" is not installed on the CI machine: .ci/run must install the Debian package ${pkg}`);
  }
  throw new Error(`required peer "${binary}" is not on PATH: install it (apt-get install -y ${pkg}); interop tests never skip`);
}

// ---------------------------------------------------------------------------------------------------------
// the certificate database

let db: string | undefined;

/**
 * The `-d` argument of an NSS database (`sql:DIR`) holding the test CA as a trusted TLS server issuer and the
 * fixture server identity (`server-ec-chain.pem`, `server-ec-key.pem`: CN=localhost, issued by the test
 * intermediate) under {@link NSS_SERVER_NICK}. Built once per test process, removed when it exits.
 */
export function nssDb(): string {
  if (db) return db;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rxtls-nssdb-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const spec = `sql:${dir}`;
  const tool = (bin: 'certutil' | 'pk12util' | 'openssl', args: string[]) => {
    try {
      execFileSync(requireNssTool(bin), args, { stdio: 'pipe', timeout: 20_000 });
    } catch (e) {
      const err = e as { stderr?: Buffer; stdout?: Buffer };
      throw new Error(`${bin} ${args.join(' ')} failed: ${String(e)}\n${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`);
    }
  };
  const p12 = path.join(dir, 'server.p12');
  tool('certutil', ['-N', '-d', spec, '--empty-password']);
  tool('certutil', ['-A', '-d', spec, '-n', 'rxtls-test-ca', '-t', 'C,,', '-i', certPath('ca-cert.pem')]);
  tool('openssl', ['pkcs12', '-export', '-in', certPath('server-ec-chain.pem'), '-inkey', certPath('server-ec-key.pem'), '-name', NSS_SERVER_NICK, '-out', p12, '-passout', 'pass:']);
  tool('pk12util', ['-i', p12, '-d', spec, '-W', '']);
  db = spec;
  return spec;
}

// ---------------------------------------------------------------------------------------------------------
// tstclnt processes

/** Options of {@link startTstclnt}. */
export interface TstclntOptions {
  readonly role: 'client' | 'server';
  /** Server: the port it binds on 127.0.0.1. Client: the port it sends to (a server, or a relay in front of one). */
  readonly port: number;
  /** `-I`: enabled groups, in our names, in order (default: NSS's own list). */
  readonly groups?: readonly GroupName[];
  /** `-c`: the only suite enabled (default: NSS's own list). */
  readonly cipherSuite?: CipherSuiteName;
  /** `-v`: prints the negotiated suite and key exchange. Off by default (see the module notes). */
  readonly verbose?: boolean;
  /** More arguments. */
  readonly extra?: readonly string[];
  /** Hard lifetime in ms (default 30 000). */
  readonly timeoutMs?: number;
  /** Kills it at the test's end. */
  readonly owner?: TeardownOwner;
}

/** A running tstclnt. */
export interface Tstclnt {
  readonly command: string;
  /** stdout and stderr interleaved, poll-loop noise removed. */
  output(): string;
  /** Wait until the output matches `pattern`; rejects with the output after `timeoutMs` or once it exited. */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Type into its stdin (it sends what it reads as one record). */
  write(text: string): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): Promise<void>;
}

/** `tstclnt -v` lines printed on every poll turn. */
const NOISE = /^tstclnt: (about to call PR_Poll|PR_Poll returned|Read from server -1 bytes|0 bytes written)/;
/** The most output kept per process (the rest is cut, with a note). */
const MAX_OUTPUT = 256 * 1024;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) killGroup(p);
});

function killGroup(p: ChildProcess): void {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** A UDP port that was free on 127.0.0.1 a moment ago. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The tstclnt argument list for `o` (exported for diagnostics). */
export function tstclntArgs(o: TstclntOptions): string[] {
  const args =
    o.role === 'server'
      ? ['-h', '127.0.0.1', '-p', String(o.port), '-P', 'server', '-d', nssDb(), '-n', NSS_SERVER_NICK]
      : // `localhost` so that it sends SNI and checks the name; -4 so that it resolves to 127.0.0.1.
        ['-h', 'localhost', '-4', '-p', String(o.port), '-P', 'client', '-d', nssDb()];
  args.push('-V', 'tls1.3:tls1.3');
  if (o.groups) {
    args.push(
      '-I',
      o.groups
        .map((g) => {
          const n = NSS_GROUP[g];
          if (!n) throw new Error(`tstclnt has no group ${g}`);
          return n;
        })
        .join(','),
    );
  }
  if (o.cipherSuite) args.push('-c', NSS_CIPHER[o.cipherSuite]!);
  if (o.verbose) args.push('-v');
  return [...args, ...(o.extra ?? [])];
}

/**
 * Start tstclnt. A server is returned once it has bound its port; a client at once.
 * Its stdin stays open until it is killed.
 */
export async function startTstclnt(o: TstclntOptions): Promise<Tstclnt> {
  const tstclnt = requireNssTool('tstclnt');
  const args = tstclntArgs(o);
  const timeoutMs = o.timeoutMs ?? 30_000;
  const child = spawn(requireNssTool('timeout'), ['-k', '2', String(Math.ceil(timeoutMs / 1000)), tstclnt, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  child.stdin.on('error', () => undefined);
  const command = ['tstclnt', ...args].join(' ');
  let text = '';
  let partial = '';
  let cut = false;
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    const lines = (partial + b.toString('latin1')).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (NOISE.test(line)) continue;
      if (text.length > MAX_OUTPUT) {
        if (!cut) text += '[output cut]\n';
        cut = true;
        continue;
      }
      text += line + '\n';
    }
    listeners.forEach((l) => l());
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let closed = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      closed = true;
      if (partial && !NOISE.test(partial)) text += partial;
      partial = '';
      listeners.forEach((l) => l());
      resolve({ code, signal });
    });
  });
  const p: Tstclnt = {
    command,
    output: () => text + partial,
    waitForOutput(pattern, ms = 10_000) {
      const hit = () => (typeof pattern === 'string' ? p.output().includes(pattern) : pattern.test(p.output()));
      return new Promise((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        const check = () => {
          if (hit()) {
            done();
            resolve(p.output());
          } else if (closed) {
            done();
            reject(new Error(`${command} exited before printing ${String(pattern)}; output:\n${p.output()}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${ms} ms waiting for ${String(pattern)} from ${command}; output:\n${p.output()}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
    write: (s) => {
      if (child.stdin.writable) child.stdin.write(s);
    },
    exited,
    async kill() {
      killGroup(child);
      await exited;
    },
  };
  o.owner?.teardown(() => p.kill());
  if (o.role === 'server') {
    try {
      await waitBound(p, o.port, () => closed);
    } catch (e) {
      await p.kill();
      throw e;
    }
  }
  return p;
}

/**
 * Wait until a tstclnt server has bound 127.0.0.1:`port`. It prints `ready...` only once the first datagram
 * arrived, so the port is looked up in the kernel's socket table (`/proc/net/udp`); only where there is none is
 * the probe a bind of our own (EADDRINUSE means tstclnt holds it), which can take the port from tstclnt if it binds
 * in that instant: it then exits with code 1 (seen once in a full `npm test` run).
 */
async function waitBound(p: Tstclnt, port: number, exited: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited()) throw new Error(`${p.command} exited before binding port ${port}; output:\n${p.output()}`);
    if (await portTaken(port)) return;
    if (Date.now() > deadline) throw new Error(`${p.command} did not bind UDP port ${port} in ${timeoutMs} ms; output:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function portTaken(port: number): Promise<boolean> {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  try {
    // Each line: "sl local_address rem_address …", the address as hex IP:port.
    const table = readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1);
    return Promise.resolve(table.some((line) => line.trim().split(/\s+/)[1]?.endsWith(local)));
  } catch {
    // no /proc: probe by binding
  }
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      resolve(e.code === 'EADDRINUSE');
    });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
}
