/**
 * `createSessionCache`: the default client {@link SessionCache}, a bounded in-memory LRU.
 */
import type { TlsSession } from '../handshake/session.js';
import type { SessionCache } from './types.js';

/** Options of {@link createSessionCache}. */
export interface SessionCacheOptions {
  /** Most sessions kept (default 100); the least recently used is evicted first. */
  readonly max?: number;
}

/**
 * A bounded in-memory LRU {@link SessionCache} for `connect({ sessionCache })` / `secure({ sessionCache })`.
 * `get` counts as a use; `set` replaces the key's session and makes it the most recent. Expiry is the core's
 * business (an expired session is not offered), so nothing here reads a clock.
 *
 * @example
 * ```ts
 * const sessionCache = createSessionCache({ max: 50 });
 * const once = () => connect({ host: 'example.com', port: 443, sessionCache });
 * // the second connection resumes if the first one shut down cleanly (close_notify both ways)
 * ```
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8446#section-2.2 | RFC 8446 §2.2 (resumption and PSK)}
 */
export function createSessionCache(options: SessionCacheOptions = {}): SessionCache {
  const max = options.max ?? 100;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`session cache max must be a positive integer, got ${max}`);
  const entries = new Map<string, TlsSession>(); // insertion order = recency order
  return {
    get(key) {
      const s = entries.get(key);
      if (s === undefined) return undefined;
      entries.delete(key);
      entries.set(key, s);
      return s;
    },
    set(key, session) {
      entries.delete(key);
      entries.set(key, session);
      while (entries.size > max) entries.delete(entries.keys().next().value!);
    },
    delete(key) {
      entries.delete(key);
    },
  };
}
