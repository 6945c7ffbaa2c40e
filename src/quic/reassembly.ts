/**
 * Reassembly of an ordered byte stream from out-of-order chunks (CRYPTO frames, RFC 9000 §7.5; STREAM frames,
 * §2.2): chunks are kept by offset until the bytes at the read offset are there.
 */

/**
 * The contiguous bytes at `offset` from `chunks` (keyed by their offsets), possibly none. Chunks consumed, or
 * wholly below `offset`, are removed from the map (which the caller owns).
 */
export function takeContiguous(chunks: Map<number, Uint8Array>, offset: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = offset;
  for (;;) {
    let found = false;
    for (const [o, d] of chunks) {
      if (o <= at && o + d.length > at) {
        parts.push(d.subarray(at - o));
        at = o + d.length;
        chunks.delete(o);
        found = true;
        break;
      }
      if (o + d.length <= at) chunks.delete(o); // fully old
    }
    if (!found) break;
  }
  const out = new Uint8Array(at - offset);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}
