/**
 * Session resumption (RFC 8446 §2.2, §4.6.1, §8): the client's resumable session, the server's stateless
 * ticket sealer with rotating keys, and the anti-replay window for early data.
 *
 * The ticketer and the anti-replay store are shared across connections, so they live outside the reducer and
 * are injected through the configuration, like the crypto provider. Both are deterministic functions of the
 * `now` they are given and of the provider's randomness.
 */
import type { Aead, CryptoProvider } from '../crypto/provider.js';
import { hkdfExpandLabel } from '../crypto/keySchedule.js';
import { DecodeError, Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { concatBytes } from '../wire/bytes.js';

/** Longest ticket lifetime allowed (RFC 8446 §4.6.1): 7 days, in seconds. */
export const MAX_TICKET_LIFETIME = 604_800;

/** A resumable session as the client keeps it (serialisable with {@link encodeSession}). */
export interface TlsSession {
  /** The server name the session was made with; it is only offered to the same name. */
  readonly serverName: string;
  /** Cipher suite code point of the original connection (the PSK is bound to its hash). */
  readonly suite: number;
  /** The resumption PSK (32 or 48 B). */
  readonly psk: Uint8Array;
  /** The opaque ticket (identity). */
  readonly ticket: Uint8Array;
  readonly ageAdd: number;
  /** Seconds. */
  readonly lifetime: number;
  /** When the ticket arrived (ms since the epoch). */
  readonly receivedAt: number;
  /** max_early_data_size from the ticket (0: no early data). */
  readonly maxEarlyData: number;
  readonly alpn?: string;
  /**
   * QUIC: the server's transport parameters a client remembers for 0-RTT (RFC 9000 §7.4.1), encoded as
   * quic_transport_parameters (`src/quic/zeroRtt.ts` says which); absent for TLS sessions.
   */
  readonly quicTransportParameters?: Uint8Array;
}

/** True while a session's ticket is within its lifetime at `now`. */
export function sessionUsable(s: TlsSession, now: number): boolean {
  return now >= s.receivedAt && now - s.receivedAt < s.lifetime * 1000;
}

/** Serialise a session (for `--sess-out`): a small binary form, see {@link decodeSession}. */
export function encodeSession(s: TlsSession): Uint8Array {
  const w = new Writer();
  w.u8(1); // format version
  w.vec16(new TextEncoder().encode(s.serverName));
  w.u16(s.suite);
  w.vec8(s.psk);
  w.vec16(s.ticket);
  w.u32(s.ageAdd >>> 0);
  w.u32(s.lifetime);
  w.u32(Math.floor(s.receivedAt / 0x1_0000_0000)).u32(s.receivedAt >>> 0);
  w.u32(s.maxEarlyData);
  w.vec8(new TextEncoder().encode(s.alpn ?? ''));
  // Format 1 ends here; the QUIC transport parameters follow only when there are some.
  if (s.quicTransportParameters) w.vec16(s.quicTransportParameters);
  return w.finish();
}

/** Parse a session written by {@link encodeSession}; throws DecodeError on anything else. */
export function decodeSession(data: Uint8Array): TlsSession {
  const r = new Reader(data);
  if (r.u8() !== 1) throw new DecodeError('unknown session format');
  const serverName = new TextDecoder().decode(r.vec16());
  const suite = r.u16();
  const psk = r.vec8().slice();
  const ticket = r.vec16().slice();
  const ageAdd = r.u32();
  const lifetime = r.u32();
  const receivedAt = r.u32() * 0x1_0000_0000 + r.u32();
  const maxEarlyData = r.u32();
  const alpn = new TextDecoder().decode(r.vec8());
  const quicTransportParameters = r.remaining > 0 ? r.vec16().slice() : undefined;
  r.expectEnd('session');
  return { serverName, suite, psk, ticket, ageAdd, lifetime, receivedAt, maxEarlyData, ...(alpn ? { alpn } : {}), ...(quicTransportParameters ? { quicTransportParameters } : {}) };
}

/** What a server seals into a ticket: everything needed to resume without server-side state. */
export interface TicketState {
  readonly suite: number;
  readonly psk: Uint8Array;
  /** When the ticket was issued (ms). */
  readonly issuedAt: number;
  readonly ageAdd: number;
  readonly lifetime: number;
  readonly maxEarlyData: number;
  readonly alpn?: string;
  readonly serverName?: string;
  /** The server's {@link EarlyDataContext} `data` when the ticket was issued. */
  readonly context?: Uint8Array;
}

/**
 * What a server's 0-RTT depends on besides the ticket (the config's `earlyDataContext`): `data` goes into each
 * ticket issued, and `accepts(stored)` decides, on a later connection, whether early data on that ticket can
 * still be accepted (QUIC: the transport parameters did not shrink, RFC 9000 §7.4.1).
 */
export interface EarlyDataContext {
  readonly data: Uint8Array;
  accepts(stored: Uint8Array): boolean;
}

/** Seals and opens stateless tickets. */
export interface Ticketer {
  /** Ticket lifetime to advertise, seconds (≤ 604800). */
  readonly lifetime: number;
  seal(p: CryptoProvider, now: number, state: TicketState): Uint8Array;
  /** The state inside a ticket, or undefined when it is not ours, was tampered with, or its key rotated out. */
  open(p: CryptoProvider, now: number, ticket: Uint8Array): TicketState | undefined;
}

/**
 * A ticketer whose AES-256-GCM keys rotate every `rotateMs` (default 1 hour): the key for period N is derived
 * from `secret` and N, and a ticket opens under the current or the previous period's key. Tickets therefore
 * live at most two periods, whatever lifetime they advertise (the advertised lifetime is capped to one period).
 *
 * @param secret 32 B of server secret (random per server process, or shared by a cluster).
 */
export function createTicketer(secret: Uint8Array, opts: { rotateMs?: number; lifetime?: number } = {}): Ticketer {
  if (secret.length < 16) throw new RangeError('ticketer secret must be at least 16 bytes');
  const rotateMs = opts.rotateMs ?? 3_600_000;
  const lifetime = Math.min(opts.lifetime ?? 7200, MAX_TICKET_LIFETIME, Math.floor(rotateMs / 1000));
  // The AEAD of each period, per provider: derived once, not for every ticket sealed or opened (two tickets per
  // handshake by default). At most the current and the previous period are kept.
  const aeads = new WeakMap<CryptoProvider, Map<number, Aead>>();
  const keyFor = (p: CryptoProvider, period: number): Aead => {
    let byPeriod = aeads.get(p);
    if (!byPeriod) aeads.set(p, (byPeriod = new Map()));
    let aead = byPeriod.get(period);
    if (!aead) {
      aead = p.aead('aes-256-gcm', hkdfExpandLabel(p, 'sha256', secret, 'ticket key', u32(period), 32));
      for (const old of byPeriod.keys()) if (old < period - 1) byPeriod.delete(old);
      if (byPeriod.size < 4) byPeriod.set(period, aead);
    }
    return aead;
  };
  return {
    lifetime,
    seal(p, now, st) {
      const period = Math.floor(now / rotateMs);
      const nonce = p.randomBytes(12);
      const w = new Writer();
      w.u16(st.suite).vec8(st.psk).u32(Math.floor(st.issuedAt / 0x1_0000_0000)).u32(st.issuedAt >>> 0);
      w.u32(st.ageAdd >>> 0).u32(st.lifetime).u32(st.maxEarlyData);
      w.vec8(new TextEncoder().encode(st.alpn ?? '')).vec16(new TextEncoder().encode(st.serverName ?? ''));
      if (st.context) w.vec16(st.context);
      const header = concat(u32(period), nonce);
      const sealed = keyFor(p, period).seal(nonce, header, w.finish());
      return concat(header, sealed);
    },
    open(p, now, ticket) {
      if (ticket.length < 16 + 16) return undefined;
      const period = new Reader(ticket).u32();
      const current = Math.floor(now / rotateMs);
      if (period !== current && period !== current - 1) return undefined;
      const header = ticket.subarray(0, 16);
      const plain = keyFor(p, period).open(ticket.subarray(4, 16), header, ticket.subarray(16));
      if (!plain) return undefined;
      try {
        const r = new Reader(plain);
        const suite = r.u16();
        const psk = r.vec8().slice();
        const issuedAt = r.u32() * 0x1_0000_0000 + r.u32();
        const ageAdd = r.u32();
        const life = r.u32();
        const maxEarlyData = r.u32();
        const alpn = new TextDecoder().decode(r.vec8());
        const serverName = new TextDecoder().decode(r.vec16());
        const context = r.remaining > 0 ? r.vec16().slice() : undefined;
        r.expectEnd('ticket');
        return {
          suite,
          psk,
          issuedAt,
          ageAdd,
          lifetime: life,
          maxEarlyData,
          ...(alpn ? { alpn } : {}),
          ...(serverName ? { serverName } : {}),
          ...(context ? { context } : {}),
        };
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * Anti-replay for 0-RTT (RFC 8446 §8): each ticket identity is accepted for early data at most once. Bounded:
 * remembers at most `capacity` identities for `windowMs`; when full, early data is refused (never accepted
 * unchecked) until entries age out.
 */
export interface AntiReplay {
  /** True the first time `id` is seen within the window; false for a replay or when the store is full. */
  firstUse(id: Uint8Array, now: number): boolean;
}

/** The default bounded in-memory {@link AntiReplay}. */
export function createAntiReplay(opts: { capacity?: number; windowMs?: number } = {}): AntiReplay {
  const capacity = opts.capacity ?? 100_000;
  const windowMs = opts.windowMs ?? 7_200_000;
  const seen = new Map<string, number>();
  return {
    firstUse(id, now) {
      for (const [k, t] of seen) {
        if (now - t < windowMs) break; // insertion order = time order
        seen.delete(k);
      }
      let key = '';
      for (const b of id) key += b.toString(16).padStart(2, '0');
      if (seen.has(key)) return false;
      if (seen.size >= capacity) return false;
      seen.set(key, now);
      return true;
    },
  };
}

function u32(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => concatBytes([a, b]);
