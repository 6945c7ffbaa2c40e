/**
 * A pacer (RFC 9002 §7.7): spreads a congestion window over a round trip instead of sending it in one burst
 * that overflows a queue on the path (or the receiver's socket buffer). A token bucket after quinn-proto's
 * `pacing.rs`: tokens refill at 1.25 × window per smoothed RTT (N = 1.25, §7.7), up to a burst capacity of the
 * window's share of {@link BURST_INTERVAL} (between {@link MIN_BURST} and {@link MAX_BURST} datagrams), and a
 * sender out of tokens waits until enough have come back for a burst. Pure: time comes in as `now` (ms).
 */

/** The pacer's state. Bytes and ms. */
export interface PacerState {
  readonly capacity: number;
  readonly tokens: number;
  /** The window the capacity was computed for. */
  readonly window: number;
  /** When tokens were last refilled. */
  readonly refilled: number;
}

/** The time a burst should take, ms: timers finer than this are not worth arming (quinn-proto: 2 ms). */
export const BURST_INTERVAL = 2;
/** Smallest burst, datagrams (the initial window of RFC 9002 §7.2 goes out at once). */
export const MIN_BURST = 10;
/** Largest burst, datagrams. */
export const MAX_BURST = 256;
/** RFC 9002 §7.7: pace at N = 1.25 times the window per RTT, so ACK-clocking stays the bottleneck. */
const N = 1.25;

const capacityOf = (window: number, rtt: number, datagram: number): number =>
  Math.min(Math.max((window * BURST_INTERVAL) / Math.max(rtt, 1e-3), MIN_BURST * datagram), MAX_BURST * datagram);

/** A full bucket for `window` (bytes) at `rtt` (ms). */
export function newPacer(window: number, rtt: number, datagram: number, now: number): PacerState {
  const capacity = capacityOf(window, rtt, datagram);
  return { capacity, tokens: capacity, window, refilled: now };
}

/**
 * Whether `bytes` may leave now: `{ pacer }` with the bucket refilled when they may, `{ pacer, until }` with the
 * time they may when not (arm a timer for it). A window change resizes the bucket.
 */
export function pace(p: PacerState, window: number, rtt: number, datagram: number, bytes: number, now: number): { readonly pacer: PacerState; readonly until?: number } {
  let { capacity, tokens } = p;
  if (window !== p.window) {
    capacity = capacityOf(window, rtt, datagram);
    tokens = Math.min(tokens, capacity);
  }
  if (rtt <= 0) return { pacer: { capacity, tokens: capacity, window, refilled: now } };
  const refill = (window * N * Math.max(0, now - p.refilled)) / rtt;
  tokens = Math.min(capacity, tokens + refill);
  const pacer = { capacity, tokens, window, refilled: now };
  if (tokens >= bytes) return { pacer };
  // Wait for a burst's worth, not one datagram's: fewer, coarser timers.
  return { pacer, until: now + ((Math.max(bytes, capacity) - tokens) * rtt) / (window * N) };
}

/** `bytes` were sent. */
export const paced = (p: PacerState, bytes: number): PacerState => ({ ...p, tokens: Math.max(0, p.tokens - bytes) });
