/**
 * Shared pieces of the benchmark tasks: fixtures, providers by name, rxtls and node:tls endpoints over
 * loopback TCP, and small measuring helpers. Nothing here is part of the library.
 */
import { readFileSync } from 'node:fs';
import { Observable, Subscription } from 'rxjs';
import { nobleProvider } from '../src/crypto/noble.js';
import { nodeProvider } from '../src/node/nodeProvider.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { createWorkerPoolProvider, type WorkerPoolProvider } from '../src/node/workers.js';
import { connect, listen } from '../src/rx/index.js';
import type { ConnectOptions, ListenOptions, TlsConnection } from '../src/rx/types.js';
import { repoUrl } from './paths.js';

const fixture = (name: string): string => readFileSync(repoUrl(`test/fixtures/certs/${name}`), 'utf8');

/** ECDSA P-256 server chain (leaf + intermediate), its key, and the root the client trusts. */
export const certs = {
  ca: fixture('ca-cert.pem'),
  cert: fixture('server-ec-chain.pem'),
  key: fixture('server-ec-key.pem'),
};

export type ProviderName = 'noble' | 'node' | 'workers';
export type AlgName = 'aes-128-gcm' | 'chacha20-poly1305';

/** OpenSSL suite names of the two bulk ciphers. */
export const SUITE: Record<AlgName, string> = {
  'aes-128-gcm': 'TLS_AES_128_GCM_SHA256',
  'chacha20-poly1305': 'TLS_CHACHA20_POLY1305_SHA256',
};

/** The protocol version of a TLS run over TCP (bulk, handshakes); TLS 1.3 when not given. */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** OpenSSL names of the TLS 1.2 suites of the two bulk ciphers with the ECDSA chain (ECDHE, X25519 in these runs). */
export const SUITE12: Record<AlgName, string> = {
  'aes-128-gcm': 'ECDHE-ECDSA-AES128-GCM-SHA256',
  'chacha20-poly1305': 'ECDHE-ECDSA-CHACHA20-POLY1305',
};

/**
 * The version options of both ends of a run. TLS 1.3 (as these rows always ran): node:tls `minVersion: 'TLSv1.3'`,
 * rxtls its defaults, both with the TLS 1.3 suite of `alg` when given. TLS 1.2:
 * pinned to TLS 1.2 on both ends, `ciphers` set to the TLS 1.2 ECDHE-ECDSA suite of `alg`, groups X25519 then
 * P-256: the exchange is X25519 (checked by the tasks); P-256 is listed because a TLS 1.2 server with an ECDSA
 * certificate needs its curve among the client's supported_groups (OpenSSL refuses the handshake otherwise).
 */
export function versionOptions(version: TlsVersion | undefined, alg?: AlgName): {
  node: { minVersion: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2'; ciphers?: string; ecdhCurve?: string };
  rx: { minVersion?: 'TLSv1.2'; maxVersion?: 'TLSv1.2'; ciphers?: string; groups?: string };
} {
  if (version !== 'TLSv1.2') {
    const ciphers = alg ? { ciphers: SUITE[alg] } : {};
    return { node: { minVersion: 'TLSv1.3', ...ciphers }, rx: { ...ciphers } };
  }
  const ciphers = SUITE12[alg ?? 'aes-128-gcm'];
  return {
    node: { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers, ecdhCurve: 'X25519:P-256' },
    rx: { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers, groups: 'X25519:P-256' },
  };
}

/** The label suffix of a run at `version` (none for TLS 1.3, the default rows). */
export const versionSuffix = (version: TlsVersion | undefined): string => (version === 'TLSv1.2' ? ' TLS 1.2' : '');

let pool: WorkerPoolProvider | undefined;

/** The provider for a name; the worker pool is created once per process (size: every core). */
export function provider(name: ProviderName): CryptoProvider {
  if (name === 'noble') return nobleProvider;
  if (name === 'node') return nodeProvider;
  pool ??= createWorkerPoolProvider();
  return pool;
}

/**
 * Start the pool's threads (under ts-node each one loads the TypeScript loader first: seconds) and JIT their
 * ciphers, so no measurement pays for it.
 */
export async function warmPool(): Promise<void> {
  const batch = provider('workers').batch!;
  const jobs = Array.from({ length: 64 }, (_, i) => ({
    nonce: new Uint8Array(12).fill(i),
    aad: new Uint8Array(5),
    data: new Uint8Array(16 * 1024),
  }));
  for (const alg of ['aes-128-gcm', 'chacha20-poly1305'] as const) {
    const key = new Uint8Array(alg === 'aes-128-gcm' ? 16 : 32);
    for (let i = 0; i < 3; i++) await batch.sealBatch(alg, key, jobs);
  }
}

/** The worker pool, if one was created (to close it). */
export function workerPool(): WorkerPoolProvider | undefined {
  return pool;
}

/**
 * An rxtls server (`listen`) on 127.0.0.1 with an ephemeral port; its connections as an Observable. Record
 * options (`asyncCrypto`, `maxPipelines`, `splitSendFragment`, …) are ordinary listen options.
 */
export function rxServer(
  options: Omit<ListenOptions, 'port' | 'onListening'>,
): Promise<{ port: number; connections: Observable<TlsConnection>; close(): void }> {
  const listeners = new Set<(c: TlsConnection) => void>();
  const connections = new Observable<TlsConnection>((s) => {
    const f = (c: TlsConnection) => s.next(c);
    listeners.add(f);
    return () => listeners.delete(f);
  });
  const emit = (c: TlsConnection) => listeners.forEach((f) => f(c));
  return new Promise((resolve) => {
    const sub: Subscription = listen({
      ...options,
      port: 0,
      onListening: (a) => resolve({ port: a.port, connections, close: () => sub.unsubscribe() }),
    }).subscribe({ next: emit });
  });
}

/** An rxtls client connection (`connect`; the Observable lives while subscribed). */
export function rxConnect(options: ConnectOptions): Observable<TlsConnection> {
  return connect(options);
}

/** `bytes` of application data as chunks of `ring` in turn (the last one cut to size). */
export function* ringChunks(ring: readonly Uint8Array[], bytes: number): Generator<Uint8Array> {
  for (let sent = 0, i = 0; sent < bytes; i++) {
    const c = ring[i % ring.length]!.subarray(0, Math.min(ring[0]!.length, bytes - sent));
    sent += c.length;
    yield c;
  }
}

/**
 * Resolves once `count` connections of `connections` each delivered exactly `bytes` and completed; rejects on an
 * error or a short count. The subscriptions go into `subs`.
 */
export function inboundTotals(connections: Observable<TlsConnection>, count: number, bytes: number, subs: Subscription): Promise<void> {
  let pending = count;
  return new Promise<void>((resolve, reject) => {
    subs.add(
      connections.subscribe((conn) => {
        let n = 0;
        conn.inbound$.subscribe({
          next: (d) => (n += d.length),
          error: reject,
          complete: () => (n === bytes ? --pending === 0 && resolve() : reject(new Error(`received ${n} of ${bytes} bytes`))),
        });
      }),
    );
  });
}

/** `count` distinct buffers of `size` random-looking bytes, cycled by senders (never one shared buffer). */
export function payloadRing(size: number, count = 16): Uint8Array[] {
  return Array.from({ length: count }, (_, k) => {
    const b = new Uint8Array(size);
    let x = 0x9e3779b9 ^ k;
    for (let i = 0; i < size; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x;
      b[i + 1] = x >>> 8;
      b[i + 2] = x >>> 16;
      b[i + 3] = x >>> 24;
    }
    return b;
  });
}

export const MiB = 1024 * 1024;

/** Milliseconds since an arbitrary origin, high resolution. */
export const now = (): number => performance.now();

/** Reject after `ms` with a message (the task runner also kills the whole process on its own timeout). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
