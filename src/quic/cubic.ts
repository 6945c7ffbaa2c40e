/**
 * CUBIC congestion avoidance (RFC 9438) as pure functions over a small immutable state: the window growth of
 * §4.2 (W_cubic(t) = C·(t − K)³ + W_max), the Reno-friendly region (§4.3), the multiplicative decrease with
 * β_cubic = 0.7 (§4.6), fast convergence (§4.7), the first congestion-avoidance stage after a timeout (§4.8, in
 * QUIC: persistent congestion, RFC 9002 §7.6) and no growth while application-limited (§5.8, RFC 9002 §7.8).
 * Slow start, recovery periods and bytes in flight stay NewReno's (`recovery.ts` dispatches here only in
 * congestion avoidance and on a congestion event).
 *
 * Units: windows in bytes, time in ms (`now` always comes in); the RFC's C is in segments per second³, so the
 * formulas scale by the datagram size and by 1000 where they meet.
 *
 * @example
 * ```ts
 * let cubic = newCubic();
 * let { window, cubic: c } = cubicOnCongestion(120_000, cubic, 1200, 2400); // window 84 000, W_max 120 000
 * ({ window, cubic: c } = cubicOnAck(window, c, 1200, 1200, now, 50));       // the epoch starts, K ≈ 4.2 s
 * ```
 */

/** RFC 9438 §5.1: C = 0.4 (segments/s³): how fast the window climbs back, independent of the RTT. */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: the multiplicative decrease factor β_cubic = 0.7. */
export const BETA_CUBIC = 0.7;
/** RFC 9438 §4.3: α_cubic = 3(1 − β)/(1 + β) ≈ 0.53, so W_est matches Reno's average throughput. */
export const ALPHA_CUBIC = (3 * (1 - BETA_CUBIC)) / (1 + BETA_CUBIC);

/** CUBIC's state between congestion events (RFC 9438 §4.1.2). Bytes and ms. */
export interface CubicState {
  /** W_max: the window before the last reduction, lowered by fast convergence (§4.7); 0 when unknown (§4.8). */
  readonly wMax: number;
  /** cwnd_prior: the window when ssthresh was last set (§4.6); α_cubic becomes 1 once W_est reaches it (§4.3). */
  readonly cwndPrior: number;
  /** K: the time the curve takes from the epoch's window back to W_max (§4.2), ms. */
  readonly k: number;
  /** W_est: the Reno-friendly estimate (§4.3), bytes. */
  readonly wEst: number;
  /**
   * When the current congestion-avoidance epoch began (ms); absent until the first ACK that may grow the
   * window after a reduction, a timeout, or an application-limited period (which so does not count in t).
   */
  readonly epochStart?: number;
}

/** Before any congestion event: nothing known of W_max. */
export const newCubic = (): CubicState => ({ wMax: 0, cwndPrior: 0, k: 0, wEst: 0 });

/**
 * RFC 9438 §4.2 (Figure 2): K = ∛((W_max − cwnd_epoch) / C), in ms; 0 when the epoch starts at or above W_max.
 * `wMax` and `cwndEpoch` in bytes, `mss` the datagram size.
 */
export function cubicK(wMax: number, cwndEpoch: number, mss: number): number {
  return wMax > cwndEpoch ? Math.cbrt((wMax - cwndEpoch) / mss / CUBIC_C) * 1000 : 0;
}

/** RFC 9438 §4.2 (Figure 1): W_cubic(t) = C·(t − K)³ + W_max, bytes, for `t` ms into the epoch. */
export function wCubic(c: Pick<CubicState, 'wMax' | 'k'>, t: number, mss: number): number {
  const s = (t - c.k) / 1000;
  return CUBIC_C * s * s * s * mss + c.wMax;
}

/**
 * One packet of `size` bytes acknowledged in congestion avoidance (RFC 9438 §4.2–§4.5), `rtt` the smoothed RTT
 * (ms). The first starts an epoch (K from W_max and the window; after a timeout, K = 0 and W_max the window,
 * §4.8) with W_est at the window. W_est grows by α_cubic·MSS per window acknowledged (α = 1 once past
 * cwnd_prior); the target is W_cubic(t + RTT) kept within [cwnd, 1.5·cwnd]; the window moves by
 * (target − cwnd)/cwnd per MSS acknowledged, or is W_est where W_cubic(t) is below it (the Reno-friendly region).
 */
export function cubicOnAck(window: number, c: CubicState, mss: number, size: number, now: number, rtt: number): { readonly window: number; readonly cubic: CubicState } {
  if (c.epochStart === undefined) {
    // §4.2: t counts from the start of congestion avoidance; §4.8 and §4.10: with no W_max above the window the
    // curve starts at its plateau (K = 0, W_max = cwnd).
    const wMax = Math.max(c.wMax, window);
    c = { ...c, wMax, k: cubicK(wMax, window, mss), wEst: window, epochStart: now };
  }
  const alpha = c.wEst >= c.cwndPrior ? 1 : ALPHA_CUBIC;
  const wEst = c.wEst + (alpha * mss * size) / window;
  const t = now - c.epochStart!;
  let next = window;
  if (wCubic(c, t, mss) < wEst) {
    next = Math.max(window, wEst); // §4.3: the Reno-friendly region
  } else {
    // §4.4, §4.5: concave and convex regions alike, towards the target one RTT ahead.
    const target = Math.min(Math.max(wCubic(c, t + rtt, mss), window), 1.5 * window);
    next = window + ((target - window) * size) / window;
  }
  return { window: next, cubic: { ...c, wEst } };
}

/**
 * A congestion event (RFC 9438 §4.6, §4.7): cwnd_prior = cwnd; W_max = cwnd, or cwnd·(1 + β)/2 when the window
 * never got back to the previous W_max (fast convergence: release bandwidth to newer flows); the new window
 * (and ssthresh) is β·cwnd, at least `minWindow`. The next epoch starts at the next ACK that grows the window.
 * (RFC 9438 §4.6 allows cwnd in place of the flight size; RFC 9002 §7.3.2 reduces the window too.)
 */
export function cubicOnCongestion(window: number, c: CubicState, minWindow: number): { readonly window: number; readonly cubic: CubicState } {
  const wMax = window < c.wMax ? (window * (1 + BETA_CUBIC)) / 2 : window;
  const next = Math.max(Math.floor(window * BETA_CUBIC), minWindow);
  return { window: next, cubic: { wMax, cwndPrior: window, k: 0, wEst: next } };
}

/**
 * RFC 9438 §4.8: after a timeout (persistent congestion, RFC 9002 §7.6) the window is the minimum and slow start
 * runs up to ssthresh; the first congestion-avoidance stage then starts with K = 0 and W_max = W_est = the
 * window at its start.
 */
export const cubicOnTimeout = (c: CubicState): CubicState => ({ wMax: 0, cwndPrior: c.cwndPrior, k: 0, wEst: 0 });

/**
 * The sender is application-limited (RFC 9438 §5.8, RFC 9002 §7.8): no growth, and the epoch ends, so the time
 * spent not using the window does not count in t. The next epoch restarts the curve at the current window
 * (K from W_max), where it had got to.
 */
export function cubicAppLimited(c: CubicState): CubicState {
  if (c.epochStart === undefined) return c;
  const { epochStart: _, ...rest } = c;
  return rest;
}
