/**
 * The QUIC connection's timers: one table, one deadline each (quinn-proto `timer.rs` shape). The state keeps
 * them as {@link QuicTimers}; `nextQuicTimeout` answers the earliest, and a `timeout` input walks the table in
 * this order and fires each one that is due.
 */

/** The timers a QUIC connection arms (absolute ms, on the caller's clock). */
export const QuicTimer = {
  /** RFC 9000 §10.1: no packet from the peer for the idle timeout (the smaller of both sides'): closed, silently. */
  idle: 'idle',
  /**
   * RFC 9002 §6.2: the probe timeout, while ack-eliciting packets are in flight: everything unacknowledged is
   * sent again (a PING when nothing is), and the next PTO doubles. Losses by packet or time threshold are found
   * on ACKs (§6.1), so this version arms no separate loss timer.
   */
  lossDetection: 'lossDetection',
  /** RFC 9001 §6.5: 3×PTO after a read key update, the previous 1-RTT read keys are discarded. */
  keyDiscard: 'keyDiscard',
  /** RFC 9000 §10.2: the end of the closing or draining period (3×PTO): closed. */
  close: 'close',
} as const;
export type QuicTimer = (typeof QuicTimer)[keyof typeof QuicTimer];

/** The order a `timeout` input walks the timers in. */
export const QUIC_TIMERS: readonly QuicTimer[] = Object.values(QuicTimer);

/** Armed timers and their deadlines; an absent timer is disarmed. */
export type QuicTimers = Partial<Record<QuicTimer, number>>;

/** The earliest armed deadline, or `undefined` when none is armed. */
export function earliestTimer(timers: QuicTimers): number | undefined {
  let at: number | undefined;
  for (const t of QUIC_TIMERS) {
    const d = timers[t];
    if (d !== undefined && (at === undefined || d < at)) at = d;
  }
  return at;
}
