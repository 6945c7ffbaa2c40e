/**
 * Datagram Packetization Layer PMTU Discovery (RFC 9000 §14.3, RFC 8899 §5) for the 1-RTT space: every
 * datagram starts at the 1200 bytes any QUIC path carries, and once the handshake is confirmed the sender
 * probes larger sizes with a PING padded to the size tried. An acknowledged probe raises the size all later
 * datagrams may have; a probe lost {@link PROBE_ATTEMPTS} times in a row marks that size as too large, and the
 * search goes on by halving the interval between the largest size that got through and the smallest that did
 * not, until it is under {@link SEARCH_DONE} bytes wide.
 *
 * The most tried is the `ceiling`: our `maxDatagramSize` option (default {@link DEFAULT_MAX_DATAGRAM}, an
 * Ethernet MTU less IPv6 and UDP headers, as quinn and ngtcp2 default to) and never more than the peer's
 * max_udp_payload_size. A lost probe says nothing about congestion (RFC 9000 §14.4: it "SHOULD NOT trigger a
 * congestion control reaction"). Persistent congestion at a size above the base is taken as a black hole
 * (RFC 8899 §4.3): the base size again, and the search restarts below the size that stopped getting through.
 * A new path starts again from the base (RFC 9000 §9.4).
 *
 * Pure: the connection keeps a {@link PmtuState} and asks {@link probeSize} whether to send a probe.
 */

import type { CongestionState } from './recovery.js';

/** RFC 9000 §14: every QUIC path carries UDP payloads of 1200 bytes. */
export const BASE_DATAGRAM = 1200;
/** The default ceiling of the search, bytes: 1500 (Ethernet) − 40 (IPv6) − 8 (UDP). */
export const DEFAULT_MAX_DATAGRAM = 1452;
/** The largest UDP payload over IPv4 or IPv6 without jumbograms (RFC 9000 §18.2's largest max_udp_payload_size is 65527). */
export const MAX_UDP_PAYLOAD = 65527;
/** A probe size is given up after this many losses in a row (RFC 8899 §5.1.2 MAX_PROBES, quinn: 3). */
export const PROBE_ATTEMPTS = 3;
/** The search stops when the interval left is narrower than this, bytes. */
export const SEARCH_DONE = 20;

/** Where the search stands. Immutable. */
export interface PmtuState {
  /** The largest datagram known to get through: all datagrams may be this large, bytes. */
  readonly current: number;
  /** The most the search tries: our option, and the peer's max_udp_payload_size once known. */
  readonly ceiling: number;
  /** The smallest size known not to get through, or `ceiling + 1` when none is. */
  readonly tooLarge: number;
  /** The probe in flight: its size and packet number. */
  readonly probing?: { readonly size: number; readonly pn: number };
  /** Losses of the size being tried, in a row. */
  readonly attempts: number;
}

/** A fresh search up to `ceiling` (at least the base size). */
export function newPmtu(ceiling: number): PmtuState {
  const c = Math.max(BASE_DATAGRAM, Math.floor(ceiling));
  return { current: BASE_DATAGRAM, ceiling: c, tooLarge: c + 1, attempts: 0 };
}

/** The peer's max_udp_payload_size (RFC 9000 §18.2) lowers the ceiling; what is known stays known. */
export function limitPmtu(p: PmtuState, peerMax: number | undefined): PmtuState {
  if (peerMax === undefined || peerMax >= p.ceiling) return p;
  const ceiling = Math.max(BASE_DATAGRAM, peerMax);
  return { ...p, ceiling, current: Math.min(p.current, ceiling), tooLarge: Math.min(p.tooLarge, ceiling + 1) };
}

/**
 * The size of the next probe, or `undefined` when none is wanted: one is in flight, or the search is over.
 * The first probe tries the ceiling (most paths carry it); after a failure, the middle of what is unknown.
 */
export function probeSize(p: PmtuState): number | undefined {
  if (p.probing) return undefined;
  if (p.tooLarge - p.current <= SEARCH_DONE) return undefined;
  if (p.tooLarge > p.ceiling) return p.ceiling;
  return Math.floor((p.current + p.tooLarge) / 2);
}

/** A probe of `size` bytes left as packet `pn`. */
export const probeSent = (p: PmtuState, size: number, pn: number): PmtuState => ({ ...p, probing: { size, pn } });

/** Packet `pn` was acknowledged: if it was the probe, its size gets through. */
export function onPmtuAcked(p: PmtuState, pn: number): PmtuState {
  if (p.probing?.pn !== pn) return p;
  const { probing: _, ...rest } = p;
  return { ...rest, current: Math.max(p.current, p.probing.size), attempts: 0 };
}

/** Packet `pn` was declared lost: if it was the probe, one more failure for its size. */
export function onPmtuLost(p: PmtuState, pn: number): PmtuState {
  if (p.probing?.pn !== pn) return p;
  const { probing: _, ...rest } = p;
  const attempts = p.attempts + 1;
  if (attempts < PROBE_ATTEMPTS) return { ...rest, attempts };
  return { ...rest, attempts: 0, tooLarge: Math.min(p.tooLarge, p.probing.size) };
}

/**
 * Persistent congestion (RFC 9002 §7.6) with datagrams above the base size: treated as a black hole for that
 * size (RFC 8899 §4.3). Back to the base; the search resumes below the size that was in use.
 */
export function onBlackHole(p: PmtuState): PmtuState {
  if (p.current <= BASE_DATAGRAM) return p;
  return { current: BASE_DATAGRAM, ceiling: p.ceiling, tooLarge: p.current, attempts: 0 };
}

/**
 * Move a connection's search to `pmtu`: its datagrams, and its congestion window counted in them (RFC 9002
 * §7.2: `maxDatagramSize`), follow the size in use.
 */
export function usePmtu(s: { pmtu: PmtuState; cc: CongestionState }, pmtu: PmtuState): void {
  s.pmtu = pmtu;
  if (s.cc.maxDatagramSize !== pmtu.current) s.cc = { ...s.cc, maxDatagramSize: pmtu.current };
}

/** Whether sent packet `pn` is the probe in flight (its loss is not a congestion signal). */
export const isPmtuProbe = (p: PmtuState | undefined, pn: number): boolean => p?.probing?.pn === pn;
