/**
 * The DTLS 1.3 anti-replay window (RFC 9147 §4.5.1), the sliding window of RFC 4303 §3.4.3: for one epoch, the
 * highest record sequence number received (the right edge) and a bitmap of which of the `size` numbers ending at
 * it were received. A record above the edge is new; one `size` or more below it is too old to tell and is
 * refused; one in between is new exactly when its bit is clear.
 *
 * Rules for the record layer that uses it:
 * - One window per epoch (RFC 9147 §4.5.1: sequence numbers restart at 0 in each epoch, so a record number is
 *   the pair (epoch, sequence number)); a fresh epoch starts from {@link createReplayWindow}.
 * - {@link checkReplay} may run before decryption (a cheap early drop), but {@link markReceived} runs only after
 *   the record has authenticated (RFC 9147 §4.5.1 and RFC 4303 §3.4.3 update the window only after integrity
 *   verification succeeds). Otherwise a forged record would move the edge and make genuine
 *   records look old or duplicated.
 * - A record the window rejects is dropped silently, never fatal (RFC 9147 §4.5.2).
 *
 * Sequence numbers are JavaScript numbers: DTLS 1.3 sequence numbers are 48 bits (RFC 9147 §4: 2^48 − 1 at
 * most), well inside `Number.MAX_SAFE_INTEGER` (2^53 − 1), so every sum, difference and remainder below is exact
 * and no `bigint` allocation is spent per record.
 *
 * Values are immutable: {@link markReceived} returns a new window (one copy of the bitmap, at most 128 bytes)
 * and never writes into the one given, so any earlier window stays valid.
 *
 * @see RFC 9147 §4.5.1, RFC 4303 §3.4.3
 */

/** The largest DTLS 1.3 record sequence number, 2^48 − 1 (RFC 9147 §4: the sequence number is 48 bits). */
export const MAX_SEQUENCE_NUMBER = 2 ** 48 - 1;

/** The default window: 64 record numbers, the minimum RFC 4303 §3.4.3 recommends (and what most stacks use). */
export const DEFAULT_REPLAY_WINDOW = 64;

/** The largest window accepted: 1024 record numbers (a 128-byte bitmap). */
export const MAX_REPLAY_WINDOW = 1024;

/**
 * One epoch's window. `top` is the highest sequence number marked, or −1 before any. Bit `seq mod size` of
 * `bits` says whether `seq` (for `top − size < seq ≤ top`) was received: a circular bitmap, so moving the edge
 * clears the bits it passes instead of shifting the whole map. `bits` is never written after the window is made.
 */
export interface ReplayWindow {
  /** How many record numbers, ending at `top`, the window remembers: a multiple of 32 in 32..1024. */
  readonly size: number;
  /** The right edge: the highest sequence number marked received, −1 when none. */
  readonly top: number;
  /** `size / 32` words, bit `seq mod size` for `seq`. */
  readonly bits: Uint32Array;
}

/** What {@link checkReplay} says about a sequence number. */
export type ReplayVerdict =
  /** Not seen: process it (and mark it once it authenticates). */
  | 'new'
  /** Marked already: drop it. */
  | 'duplicate'
  /** `size` or more below the right edge: the window cannot tell, so drop it (RFC 4303 §3.4.3). */
  | 'tooOld';

/**
 * An empty window for a new epoch remembering `size` record numbers (default 64; a multiple of 32 in
 * 32..1024). Throws a `RangeError` for any other size (API misuse).
 *
 * @example const w = createReplayWindow(); checkReplay(w, 0) // 'new'
 */
export function createReplayWindow(size: number = DEFAULT_REPLAY_WINDOW): ReplayWindow {
  if (!Number.isInteger(size) || size < 32 || size > MAX_REPLAY_WINDOW || size % 32 !== 0) {
    throw new RangeError(`replay window size must be a multiple of 32 in 32..${MAX_REPLAY_WINDOW}: ${size}`);
  }
  return { size, top: -1, bits: new Uint32Array(size / 32) };
}

function checkSeq(seq: number): void {
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQUENCE_NUMBER) {
    throw new RangeError(`DTLS sequence number out of range 0..2^48-1: ${seq}`);
  }
}

const bitOf = (w: ReplayWindow, seq: number): boolean => {
  const i = seq % w.size;
  return ((w.bits[i >>> 5]! >>> (i & 31)) & 1) === 1;
};

/**
 * Whether the record with sequence number `seq` (0..2^48 − 1) is new, a duplicate or too old for `window`
 * (RFC 9147 §4.5.1, RFC 4303 §3.4.3). O(1), allocates nothing. Throws a `RangeError` for a `seq` out of range:
 * the layer reconstructs sequence numbers itself (RFC 9147 §4.2.2), so a bad one is a bug, not the peer's.
 *
 * @example checkReplay(markReceived(createReplayWindow(), 5), 5) // 'duplicate'
 */
export function checkReplay(window: ReplayWindow, seq: number): ReplayVerdict {
  checkSeq(seq);
  if (seq > window.top) return 'new';
  if (window.top - seq >= window.size) return 'tooOld';
  return bitOf(window, seq) ? 'duplicate' : 'new';
}

/**
 * `window` with `seq` marked received: call it only once the record has authenticated (RFC 9147 §4.5.1). A
 * `seq` above the edge moves the edge to it, clearing the bits of the numbers passed over (at most `size`);
 * one inside the window sets its bit. Marking a duplicate or a too-old number changes nothing and returns
 * `window` itself. Never modifies `window`: a change copies the bitmap (size / 8 bytes). Throws a
 * `RangeError` for a `seq` out of 0..2^48 − 1.
 *
 * @example let w = createReplayWindow(); w = markReceived(w, 0); w = markReceived(w, 100); checkReplay(w, 0) // 'tooOld'
 */
export function markReceived(window: ReplayWindow, seq: number): ReplayWindow {
  const verdict = checkReplay(window, seq);
  if (verdict !== 'new') return window;
  const bits = window.bits.slice();
  const { size } = window;
  let top = window.top;
  if (seq > top) {
    if (seq - top >= size) bits.fill(0);
    else for (let s = top + 1; s < seq; s++) bits[(s % size) >>> 5]! &= ~(1 << (s % size & 31));
    top = seq;
  }
  const i = seq % size;
  bits[i >>> 5]! |= 1 << (i & 31);
  return { size, top, bits };
}
