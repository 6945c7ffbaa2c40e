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

const fixture = (name: string): string => readFileSync(new URL(`../test/fixtures/certs/${name}`, import.meta.url), 'utf8');

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
