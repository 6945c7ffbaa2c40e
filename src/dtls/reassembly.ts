/**
 * DTLS 1.3 handshake message reassembly (RFC 9147 §5.2, §5.5): fragments in, whole messages out, in
 * `message_seq` order from the next expected one, each exactly once.
 *
 * Bounds against a hostile peer (each a field of {@link ReassemblyLimits}):
 * - a message longer than `maxMessageLength` (default 128 KiB, the engine's `MAX_HANDSHAKE_MESSAGE`) is a
 *   fatal `decode_error`, as the TLS engine answers an oversized message;
 * - only messages up to `maxAhead` (default 8) past the next expected one are buffered; later ones are dropped
 *   (RFC 9147 §5.2: a receiver SHOULD queue a future message but MAY discard it), and the peer retransmits;
 * - a message holds at most `maxRanges` (default 256) disjoint byte ranges; a fragment that would add one
 *   more is dropped (a fragment that touches a range it extends is always taken, so a retransmitted flight
 *   still completes the message).
 * So at most `(maxAhead + 1) × maxMessageLength` bytes are held (1.125 MiB by default), and only as fragments
 * claim them.
 *
 * Each byte is stored once and copied once: a message's buffer is allocated at its declared length on its first
 * fragment, a fragment writes only the bytes no earlier fragment supplied (overlaps are trimmed against the
 * sorted ranges, found by binary search), and the body delivered is that buffer, not a copy. Work per fragment:
 * a binary search among at most `maxAhead + 1` messages and among at most `maxRanges` ranges, a walk over the
 * ranges the fragment overlaps, the new bytes, and one copy of the message's array of ranges (≤ `maxRanges`
 * references).
 *
 * Values are immutable as seen from outside. The buffer is shared between successive states of a message
 * (that is what makes one copy per byte possible), but only the newest state writes into it, and only into
 * bytes no state of that message has filled yet; a fragment given to an older state (whose ranges are no longer
 * the buffer's newest) first copies the bytes that state holds into a fresh buffer. No bytes a state can see
 * ever change.
 *
 * The layer's duties: feed fragments only from records that authenticated; ACK what {@link addFragment}
 * reports (retransmissions of delivered messages included, RFC 9147 §7); map a {@link ReassemblyError} to its
 * alert with {@link reassemblyAlert}.
 *
 * @see RFC 9147 §5.2 (message_seq, fragment_offset, fragment_length), §5.5 (reassembly), §7 (ACKs)
 */
import { AlertDescription } from '../wire/tls/constants.js';

/** One handshake fragment as decoded from a record (RFC 9147 §5.2): the header fields and the bytes. */
export interface HandshakeFragment {
  /** `message_seq`, 0..65535. */
  readonly msgSeq: number;
  /** `msg_type`, 0..255. */
  readonly msgType: number;
  /** `length`: the whole message body's length in bytes, 0..2^24 − 1. */
  readonly length: number;
  /** `fragment_offset`: where `fragment` starts in the body. */
  readonly fragmentOffset: number;
  /** The fragment's bytes (`fragment_length` of them). Read, never kept: new bytes are copied out. */
  readonly fragment: Uint8Array;
}

/** A whole handshake message, delivered once, in `msgSeq` order. */
export interface HandshakeMessage {
  readonly msgSeq: number;
  readonly msgType: number;
  /** The body (without the 12-byte DTLS handshake header). Read-only: earlier states share these bytes. */
  readonly body: Uint8Array;
}

/** The bounds against a hostile peer (see the module doc); each field optional in {@link createReassembly}. */
export interface ReassemblyLimits {
  /** The longest message body accepted, in bytes (default 131072 = 128 KiB). */
  readonly maxMessageLength: number;
  /** How many messages past the next expected one may be buffered (default 8). */
  readonly maxAhead: number;
  /** The most disjoint byte ranges one partial message may hold (default 256). */
  readonly maxRanges: number;
}

/** The default bounds: 128 KiB messages, 8 messages ahead, 256 ranges a message. */
export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = { maxMessageLength: 1 << 17, maxAhead: 8, maxRanges: 256 };

/** A half-open byte range `[start, end)` of a message body received. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** The buffer behind one message's states; `owner` is the ranges of the newest state allowed to write into it. */
interface Store {
  readonly buf: Uint8Array;
  owner: readonly ByteRange[];
}

/** A message not yet complete (or complete but waiting for an earlier one). */
export interface PartialMessage {
  readonly msgSeq: number;
  readonly msgType: number;
  readonly length: number;
  /** Disjoint, non-touching ranges received, by increasing start. */
  readonly ranges: readonly ByteRange[];
  /** Internal: the shared buffer, see the module doc. */
  readonly store: Store;
}

/** The reassembly state for one direction of one connection. */
export interface Reassembly {
  /** `next_receive_seq` (RFC 9147 §5.2): the message to deliver next. */
  readonly nextSeq: number;
  /** Messages in `nextSeq..nextSeq + maxAhead` with some bytes received, by increasing `msgSeq`. */
  readonly pending: readonly PartialMessage[];
  readonly limits: ReassemblyLimits;
}

/** A peer fault: the layer closes the connection with {@link reassemblyAlert}'s alert. */
export type ReassemblyError =
  | { readonly kind: 'messageTooLong'; readonly msgSeq: number; readonly length: number; readonly max: number }
  | { readonly kind: 'fragmentPastEnd'; readonly msgSeq: number; readonly end: number; readonly length: number }
  | {
      readonly kind: 'inconsistentFragment';
      readonly msgSeq: number;
      readonly field: 'msgType' | 'length';
      readonly was: number;
      readonly got: number;
    }
  /** A fragment's bytes differ from those already received at the same offsets (RFC 9147 §5.5). */
  | { readonly kind: 'changedBytes'; readonly msgSeq: number; readonly offset: number };

/** What {@link addFragment} did with a fragment. */
export type ReassemblyResult =
  /** Taken (possibly adding nothing new); `messages` are the ones now whole, in order (often none). */
  | { readonly kind: 'accepted'; readonly state: Reassembly; readonly messages: readonly HandshakeMessage[] }
  /** A fragment of a message already delivered (a retransmission): ignored; the layer may ACK it (RFC 9147 §7). */
  | { readonly kind: 'retransmission'; readonly state: Reassembly }
  /** Dropped by a bound (RFC 9147 §5.2 allows discarding); the peer's retransmission will bring it again. */
  | { readonly kind: 'dropped'; readonly state: Reassembly; readonly reason: 'tooFarAhead' | 'tooManyRanges' }
  /** A peer fault: close with {@link reassemblyAlert}. `state` is unchanged. */
  | { readonly kind: 'error'; readonly state: Reassembly; readonly error: ReassemblyError };

/** Counters a test passes in to bound the work: search and walk steps, and body bytes copied. */
export interface ReassemblyWork {
  steps: number;
  bytesCopied: number;
}

/**
 * The alert for a reassembly fault (RFC 8446 §6.2, which RFC 9147 keeps):
 * - `inconsistentFragment` → `illegal_parameter` (47): "a field in the handshake was incorrect or inconsistent
 *   with other fields" — two fragments of one message disagree on its type or length;
 * - `fragmentPastEnd` → `decode_error` (50): a field out of its range (offset + fragment length > length);
 * - `messageTooLong` → `decode_error` (50), as the TLS engine answers a message above its limit.
 */
export function reassemblyAlert(error: ReassemblyError): number {
  switch (error.kind) {
    case 'inconsistentFragment':
    case 'changedBytes':
      return AlertDescription.illegal_parameter;
    case 'fragmentPastEnd':
    case 'messageTooLong':
      return AlertDescription.decode_error;
    default:
      return assertNever(error);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}

/**
 * A reassembly expecting message `nextSeq` (default 0) first, with `limits` over the defaults. Throws a
 * `RangeError` for limits that are not positive integers (API misuse).
 *
 * @example const r = createReassembly({ maxAhead: 4 }); r.nextSeq // 0
 */
export function createReassembly(limits: Partial<ReassemblyLimits> = {}, nextSeq = 0): Reassembly {
  const l = { ...DEFAULT_REASSEMBLY_LIMITS, ...limits };
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer: ${v}`);
  }
  if (l.maxMessageLength > 0xffffff) throw new RangeError('maxMessageLength must be at most 2^24 - 1');
  if (!Number.isInteger(nextSeq) || nextSeq < 0 || nextSeq > 0xffff) throw new RangeError(`bad nextSeq: ${nextSeq}`);
  return { nextSeq, pending: [], limits: l };
}

/** Index of the first element whose key is ≥ `key` (arrays sorted by key). */
function lowerBound<T>(xs: readonly T[], key: number, keyOf: (x: T) => number, work?: ReassemblyWork): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    if (work) work.steps++;
    const mid = (lo + hi) >>> 1;
    if (keyOf(xs[mid]!) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkFragment(f: HandshakeFragment): void {
  const ok =
    Number.isInteger(f.msgSeq) && f.msgSeq >= 0 && f.msgSeq <= 0xffff &&
    Number.isInteger(f.msgType) && f.msgType >= 0 && f.msgType <= 0xff &&
    Number.isInteger(f.length) && f.length >= 0 && f.length <= 0xffffff &&
    Number.isInteger(f.fragmentOffset) && f.fragmentOffset >= 0 && f.fragmentOffset <= 0xffffff &&
    f.fragment instanceof Uint8Array && f.fragment.length <= 0xffffff;
  // The codec produces these fields from 8-, 16- and 24-bit wire fields: anything else is a bug of the caller.
  if (!ok) throw new RangeError('handshake fragment fields out of their wire ranges');
}

/**
 * `state` with fragment `f` added (RFC 9147 §5.5). Fragments may come in any order, repeated or overlapping;
 * each message is delivered once, when it and every earlier one are whole. Never modifies `state` (see the
 * module doc for the shared buffer). Peer faults are returned, never thrown; a `RangeError` is thrown only for
 * fields outside their wire ranges (API misuse).
 *
 * @example
 * let r = createReassembly();
 * const res = addFragment(r, { msgSeq: 0, msgType: 1, length: 3, fragmentOffset: 0, fragment: Uint8Array.of(1, 2, 3) });
 * // res.kind === 'accepted', res.messages[0].body: [1, 2, 3], res.state.nextSeq === 1
 */
export function addFragment(state: Reassembly, f: HandshakeFragment, work?: ReassemblyWork): ReassemblyResult {
  checkFragment(f);
  const { limits } = state;
  if (f.msgSeq < state.nextSeq) return { kind: 'retransmission', state };
  const fail = (error: ReassemblyError): ReassemblyResult => ({ kind: 'error', state, error });
  if (f.length > limits.maxMessageLength) {
    return fail({ kind: 'messageTooLong', msgSeq: f.msgSeq, length: f.length, max: limits.maxMessageLength });
  }
  const start = f.fragmentOffset;
  const end = start + f.fragment.length;
  if (end > f.length) return fail({ kind: 'fragmentPastEnd', msgSeq: f.msgSeq, end, length: f.length });
  const i = lowerBound(state.pending, f.msgSeq, (m) => m.msgSeq, work);
  const found = state.pending[i]?.msgSeq === f.msgSeq ? state.pending[i] : undefined;
  if (found) {
    // RFC 8446 §6.2 illegal_parameter: every fragment of a message carries the same type and length.
    if (found.msgType !== f.msgType) {
      return fail({ kind: 'inconsistentFragment', msgSeq: f.msgSeq, field: 'msgType', was: found.msgType, got: f.msgType });
    }
    if (found.length !== f.length) {
      return fail({ kind: 'inconsistentFragment', msgSeq: f.msgSeq, field: 'length', was: found.length, got: f.length });
    }
  } else if (f.msgSeq - state.nextSeq > limits.maxAhead) {
    return { kind: 'dropped', state, reason: 'tooFarAhead' };
  }
  const base: PartialMessage = found ?? newMessage(f);
  const updated = insertRange(base, start, f.fragment, limits.maxRanges, work);
  if (updated === 'tooManyRanges') return { kind: 'dropped', state, reason: 'tooManyRanges' };
  if (typeof updated === 'number') return fail({ kind: 'changedBytes', msgSeq: f.msgSeq, offset: updated });
  if (updated === base && found) return { kind: 'accepted', state, messages: [] }; // nothing new
  const pending = found
    ? [...state.pending.slice(0, i), updated, ...state.pending.slice(i + 1)]
    : [...state.pending.slice(0, i), updated, ...state.pending.slice(i)];
  return deliver({ ...state, pending });
}

function newMessage(f: HandshakeFragment): PartialMessage {
  const ranges: readonly ByteRange[] = [];
  return { msgSeq: f.msgSeq, msgType: f.msgType, length: f.length, ranges, store: { buf: new Uint8Array(f.length), owner: ranges } };
}

const complete = (m: PartialMessage): boolean =>
  m.length === 0 || (m.ranges.length === 1 && m.ranges[0]!.start === 0 && m.ranges[0]!.end === m.length);

/**
 * `m` with the bytes of `data` at `start` that `m` lacks written and their ranges merged in; `m` itself when it
 * already has them all; `'tooManyRanges'` when the result would hold more than `maxRanges` ranges; the offset of
 * the first byte that differs from one `m` already holds (RFC 9147 §5.5: "SHOULD abort the handshake with an
 * "illegal_parameter" alert if the value of a byte changes"). The comparison reads each byte of `data` at most once.
 */
function insertRange(
  m: PartialMessage,
  start: number,
  data: Uint8Array,
  maxRanges: number,
  work?: ReassemblyWork,
): PartialMessage | 'tooManyRanges' | number {
  const end = start + data.length;
  if (end === start) return m;
  const { ranges } = m;
  // The ranges that touch or overlap [start, end) are [first, last): they merge with it into one.
  const first = lowerBound(ranges, start, (r) => r.end, work); // first range ending at or after start
  let last = first;
  while (last < ranges.length && ranges[last]!.start <= end) {
    if (work) work.steps++;
    last++;
  }
  for (let k = first; k < last; k++) {
    // Every state's ranges hold the bytes it was given, whichever newer state owns the buffer now.
    const from = Math.max(start, ranges[k]!.start);
    const to = Math.min(end, ranges[k]!.end);
    for (let at = from; at < to; at++) if (m.store.buf[at] !== data[at - start]) return at;
  }
  if (last - first === 1 && ranges[first]!.start <= start && ranges[first]!.end >= end) return m; // all there
  if (last === first && ranges.length + 1 > maxRanges) return 'tooManyRanges';
  // Only the newest state of the message may write into the shared buffer; an older one copies first.
  let store = m.store;
  if (store.owner !== ranges) {
    const buf = new Uint8Array(m.length);
    for (const r of ranges) buf.set(store.buf.subarray(r.start, r.end), r.start);
    if (work) work.bytesCopied += ranges.reduce((n, r) => n + r.end - r.start, 0);
    store = { buf, owner: ranges };
  }
  // Write the gaps of [start, end) between the overlapped ranges: the bytes no state has filled.
  let at = start;
  for (let k = first; k <= last && at < end; k++) {
    const gapEnd = k < last ? Math.min(end, ranges[k]!.start) : end;
    if (gapEnd > at) {
      store.buf.set(data.subarray(at - start, gapEnd - start), at);
      if (work) work.bytesCopied += gapEnd - at;
    }
    if (k < last) at = Math.max(at, ranges[k]!.end);
  }
  const merged: ByteRange = {
    start: last > first ? Math.min(start, ranges[first]!.start) : start,
    end: last > first ? Math.max(end, ranges[last - 1]!.end) : end,
  };
  const next = [...ranges.slice(0, first), merged, ...ranges.slice(last)];
  store.owner = next;
  return { ...m, ranges: next, store };
}

/** Deliver the whole messages at the front, in order, advancing `nextSeq`. */
function deliver(state: Reassembly): ReassemblyResult {
  const messages: HandshakeMessage[] = [];
  let n = 0;
  let nextSeq = state.nextSeq;
  while (n < state.pending.length && state.pending[n]!.msgSeq === nextSeq && complete(state.pending[n]!)) {
    const m = state.pending[n++]!;
    messages.push({ msgSeq: m.msgSeq, msgType: m.msgType, body: m.store.buf });
    nextSeq++;
  }
  if (n === 0) return { kind: 'accepted', state, messages };
  return { kind: 'accepted', state: { ...state, nextSeq, pending: state.pending.slice(n) }, messages };
}

/** The body bytes received so far across the buffered messages (not counting delivered ones). */
export const bufferedBytes = (state: Reassembly): number =>
  state.pending.reduce((n, m) => n + m.ranges.reduce((k, r) => k + r.end - r.start, 0), 0);
