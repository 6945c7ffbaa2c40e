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
   * RFC 9002 §6.1.2, §6.2: the loss time of a packet below the largest acknowledged (it is then lost), else the
   * probe timeout while ack-eliciting packets are in flight: one or two probe datagrams with the oldest
   * unacknowledged data (a PING when there is none), and the next PTO doubles (`congestion.ts`).
   */
  lossDetection: 'lossDetection',
  /** RFC 9000 §13.2.1: max_ack_delay after the first 1-RTT packet not yet acknowledged: an ACK is due. */
  ackDelay: 'ackDelay',
  /** RFC 9002 §7.7: the pacer releases held-back data (the timer only wakes the sender). */
  pacing: 'pacing',
  /** RFC 9001 §6.5: 3×PTO after a read key update, the previous 1-RTT read keys are discarded. */
  keyDiscard: 'keyDiscard',
  /**
   * RFC 9000 §8.2.1, §8.2.4: a PATH_CHALLENGE went unanswered for a PTO: another is sent, and after
   * three the validation is abandoned (`paths.ts`).
   */
  pathValidation: 'pathValidation',
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
