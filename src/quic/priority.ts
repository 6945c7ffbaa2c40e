/**
 * Stream priorities (the Extensible Priorities of RFC 9218 §4, applied to the send side of QUIC streams): an
 * urgency from 0 (most urgent) to 7 and an incremental flag. The packet builder's stream scheduler
 * (`takeStreamFrames` in `streams.ts`) serves the streams in the order {@link scheduleStreams} gives:
 * - lower urgency first (RFC 9218 §4.1);
 * - within one urgency, non-incremental streams one after another in stream ID order (each gets all the room
 *   it can use before the next one gets any, RFC 9218 §4.2 "?0": the receiver wants it whole), then the
 *   incremental ones round-robin, one chunk each in turn, resuming after the stream served last (§4.2 "?1").
 *
 * Pure and sans-IO: the round-robin position is part of the connection's state ({@link RoundRobin}).
 */
import { TlsError } from '../core/errors.js';

/** A stream's priority (RFC 9218 §4): `urgency` 0–7 (lower is sooner), `incremental` data is useful in pieces. */
export interface StreamPriority {
  readonly urgency: number;
  readonly incremental: boolean;
}

/** RFC 9218 §4.1, §4.2: the defaults, `u=3` and `i=?0`. */
export const DEFAULT_PRIORITY: StreamPriority = { urgency: 3, incremental: false };

/** Urgency levels: 0 to 7 (RFC 9218 §4.1). */
export const URGENCY_LEVELS = 8;

/** The stream served last at each urgency among incremental streams, so round-robin resumes after it. */
export type RoundRobin = Readonly<Record<number, number>>;

/** A priority given by the application: a whole urgency in [0, 7] and a boolean, or `apiMisuse` thrown. */
export function checkPriority(p: Partial<StreamPriority>): StreamPriority {
  const urgency = p.urgency ?? DEFAULT_PRIORITY.urgency;
  if (!Number.isInteger(urgency) || urgency < 0 || urgency >= URGENCY_LEVELS) {
    throw new TlsError({ kind: 'apiMisuse', reason: `stream urgency ${urgency}: a whole number from 0 to 7 (RFC 9218 §4.1)` });
  }
  return { urgency, incremental: p.incremental ?? DEFAULT_PRIORITY.incremental };
}

/** One urgency's streams in serving order: `sequential` are served one after another, `rotating` in turns. */
export interface ScheduleGroup {
  readonly urgency: number;
  readonly sequential: readonly number[];
  readonly rotating: readonly number[];
}

/**
 * The serving order of the streams `ids` (those with something to send), most urgent group first. The
 * incremental streams of a group start after the one `served` names at that urgency (round-robin).
 *
 * @example
 * ```ts
 * scheduleStreams([0, 4, 8], (id) => (id === 8 ? { urgency: 0, incremental: false } : { urgency: 3, incremental: true }), { 3: 0 });
 * // [{ urgency: 0, sequential: [8], rotating: [] }, { urgency: 3, sequential: [], rotating: [4, 0] }]
 * ```
 */
export function scheduleStreams(ids: Iterable<number>, priorityOf: (id: number) => StreamPriority, served: RoundRobin): ScheduleGroup[] {
  const groups = new Map<number, { sequential: number[]; rotating: number[] }>();
  for (const id of ids) {
    const p = priorityOf(id);
    let g = groups.get(p.urgency);
    if (!g) groups.set(p.urgency, (g = { sequential: [], rotating: [] }));
    (p.incremental ? g.rotating : g.sequential).push(id);
  }
  return [...groups.keys()]
    .sort((a, b) => a - b)
    .map((urgency) => {
      const g = groups.get(urgency)!;
      g.sequential.sort((a, b) => a - b);
      g.rotating.sort((a, b) => a - b);
      const last = served[urgency];
      // Round-robin: start with the first stream after the one served last at this urgency.
      const at = last === undefined ? 0 : g.rotating.findIndex((id) => id > last);
      const rotating = at <= 0 ? g.rotating : [...g.rotating.slice(at), ...g.rotating.slice(0, at)];
      return { urgency, sequential: g.sequential, rotating };
    });
}
