/**
 * `createQuicTokenCache`: where a QUIC client keeps the address validation tokens servers give it in NEW_TOKEN
 * frames (RFC 9000 §8.1.3), for `quicConnect({ tokenCache })`.
 */

/** Tokens per server; `take` hands one out and forgets it (a token is used for one connection attempt only). */
export interface QuicTokenCache {
  /** Keep `token` from the server `key` names (server name and port). */
  put(key: string, token: Uint8Array): void;
  /** The newest token of server `key`, removed from the cache; `undefined` when there is none. */
  take(key: string): Uint8Array | undefined;
}

/** Options of {@link createQuicTokenCache}. */
export interface QuicTokenCacheOptions {
  /** Servers kept (default 100); the least recently used is evicted first. */
  readonly max?: number;
  /** Tokens kept per server (default 4): the newest. */
  readonly perServer?: number;
}

/**
 * A bounded in-memory LRU {@link QuicTokenCache}, like the TLS session cache (`createSessionCache`). Nothing
 * here reads a clock: a token the server no longer accepts costs the client a Retry, nothing more.
 *
 * RFC 9000 §8.1.3: "A client SHOULD NOT reuse a token from a NEW_TOKEN frame for different connection
 * attempts", so `take` removes what it returns; a server may send several tokens, of which the newest few are
 * kept.
 *
 * @example
 * ```ts
 * const tokenCache = createQuicTokenCache();
 * const once = () => quicConnect({ host, port, servername: 'example.com', alpn: ['h3'], tokenCache });
 * // the second connection to a server with `retry: true` and a `tokenKey` skips the Retry
 * ```
 */
export function createQuicTokenCache(options: QuicTokenCacheOptions = {}): QuicTokenCache {
  const max = options.max ?? 100;
  const perServer = options.perServer ?? 4;
  for (const [name, n] of [['max', max], ['perServer', perServer]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`token cache ${name} must be a positive integer, got ${n}`);
  }
  const entries = new Map<string, Uint8Array[]>(); // insertion order = recency order
  return {
    put(key, token) {
      const list = [...(entries.get(key) ?? []), token.slice()].slice(-perServer);
      entries.delete(key);
      entries.set(key, list);
      while (entries.size > max) entries.delete(entries.keys().next().value!);
    },
    take(key) {
      const list = entries.get(key);
      if (!list) return undefined;
      const token = list.pop();
      if (list.length === 0) entries.delete(key);
      return token;
    },
  };
}
