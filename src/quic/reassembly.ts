/**
 * Reassembly of an ordered byte stream from out-of-order pieces (CRYPTO frames, RFC 9000 §7.5; STREAM frames,
 * §2.2), bounded against the attacks of RFC 9000 §21.7:
 * - bytes are stored once: a frame that overlaps what is buffered adds only the bytes not yet there, so what
 *   is buffered never exceeds the window it was checked against (flow control, or the CRYPTO buffer limit);
 * - the buffer is a sorted array of disjoint chunks, found by binary search; touching chunks that together
 *   stay within {@link MERGE_LIMIT} bytes are merged, so a frame of L bytes meets at most about 2L/1024 + 2
 *   chunks it does not fill a gap between, whatever the number buffered;
 * - chunks and their arrays are never modified: every change returns a new array (copy-on-write), so a
 *   state that holds one is never changed under it, and the connection's per-input copy can share them.
 */

/** One run of received bytes at `offset`. Never modified once made. */
export interface Chunk {
  readonly offset: number;
  readonly data: Uint8Array;
}

/** Disjoint chunks, by increasing offset, all above the read offset. Never modified: see {@link insertChunk}. */
export type Chunks = readonly Chunk[];

/** Touching chunks are merged (one copy) while the result stays within this many bytes: 1 KiB. */
export const MERGE_LIMIT = 1024;

/** A count of the chunks {@link insertChunk} visited (binary search included), for tests that bound the work. */
export interface ReassemblyWork {
  steps: number;
}

/** Index of the first chunk ending after `pos` (chunks are disjoint and sorted, so their ends are too). */
function firstEndingAfter(chunks: Chunks, pos: number, work?: ReassemblyWork): number {
  let lo = 0;
  let hi = chunks.length;
  while (lo < hi) {
    if (work) work.steps++;
    const mid = (lo + hi) >>> 1;
    const c = chunks[mid]!;
    if (c.offset + c.data.length <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function concat(parts: readonly Chunk[]): Chunk {
  if (parts.length === 1) return parts[0]!;
  const data = new Uint8Array(parts.reduce((n, p) => n + p.data.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { offset: parts[0]!.offset, data };
}

/**
 * `chunks` with the bytes `data` at `offset` added: only those not already buffered (copied), and none below
 * `readOffset` (already delivered). Returns `chunks` itself when nothing is new. O(log n) to find the place,
 * plus the chunks the frame overlaps, plus one copy of the array of chunks (never modified in place).
 */
export function insertChunk(chunks: Chunks, readOffset: number, offset: number, data: Uint8Array, work?: ReassemblyWork): Chunks {
  if (offset < readOffset) {
    data = data.subarray(Math.min(data.length, readOffset - offset));
    offset = readOffset;
  }
  const end = offset + data.length;
  if (data.length === 0) return chunks;
  const first = firstEndingAfter(chunks, offset, work);
  // The pieces of [offset, end) no chunk covers yet, and the chunks [first, next) the frame overlaps.
  const pieces: Chunk[] = [];
  let at = offset;
  let next = first;
  for (; at < end; next++) {
    if (work) work.steps++;
    const c = chunks[next];
    if (!c || c.offset >= end) {
      pieces.push({ offset: at, data: data.slice(at - offset) });
      break;
    }
    if (c.offset > at) pieces.push({ offset: at, data: data.slice(at - offset, c.offset - offset) });
    at = c.offset + c.data.length;
  }
  if (pieces.length === 0) return chunks; // everything was there already
  // Merge the region (with one neighbour on each side) in order, joining touching runs within MERGE_LIMIT.
  const lo = Math.max(0, first - 1);
  const hi = Math.min(chunks.length, Math.max(next, first) + 1);
  const region: Chunk[] = [];
  for (let i = lo, p = 0; i < hi || p < pieces.length; ) {
    if (p < pieces.length && (i >= hi || pieces[p]!.offset < chunks[i]!.offset)) region.push(pieces[p++]!);
    else region.push(chunks[i++]!);
  }
  const merged: Chunk[] = [];
  let run: Chunk[] = [];
  let runBytes = 0;
  for (const c of region) {
    if (work) work.steps++;
    const last = run[run.length - 1];
    if (last && last.offset + last.data.length === c.offset && runBytes + c.data.length <= MERGE_LIMIT) {
      run.push(c);
      runBytes += c.data.length;
      continue;
    }
    if (run.length) merged.push(concat(run));
    run = [c];
    runBytes = c.data.length;
  }
  if (run.length) merged.push(concat(run));
  return [...chunks.slice(0, lo), ...merged, ...chunks.slice(hi)];
}

/**
 * The contiguous bytes at `readOffset` (possibly none) and the chunks left. Chunks lie above the read offset
 * (see {@link insertChunk}), so only leading chunks that start at it and touch each other are taken.
 */
export function takeContiguous(chunks: Chunks, readOffset: number): { readonly data: Uint8Array; readonly rest: Chunks } {
  let n = 0;
  let at = readOffset;
  while (n < chunks.length && chunks[n]!.offset === at) at += chunks[n++]!.data.length;
  if (n === 0) return { data: new Uint8Array(0), rest: chunks };
  return { data: concat(chunks.slice(0, n)).data, rest: chunks.slice(n) };
}

/** The bytes buffered in `chunks`. */
export const bufferedBytes = (chunks: Chunks): number => chunks.reduce((n, c) => n + c.data.length, 0);
