/** `corrupt`: flip bits in chosen or random chunks. */
import type { MonoTypeOperatorFunction } from 'rxjs';
import { misuse } from '../../core/errors.js';
import { perChunk, type FaultChoice } from './random.js';

/** Options of {@link corrupt}: which chunks are damaged (see {@link FaultChoice}) and how many bits each. */
export interface CorruptOptions extends FaultChoice {
  /** Bits flipped in each hit chunk, at distinct random positions, an integer ≥ 1 (default 1; at most all). */
  readonly bits?: number;
}

/**
 * Flip bits: each chunk the choice hits is emitted as a copy with `bits` distinct bits flipped at positions
 * drawn from the seeded PRNG (every bit of a chunk shorter than that; an empty chunk passes as it is). The
 * caller's buffer is never changed. Other chunks pass as they are, in order. A damaged record fails its AEAD
 * tag: DTLS and QUIC discard it silently (RFC 9147 §4.5.2, RFC 9000 §12.2) and recover as from a loss; TLS
 * closes with bad_record_mac (RFC 8446 §5.2). The UDP and TCP checksums catch most such damage on a real
 * network; this models what gets past them, or a middlebox that rewrites bytes.
 *
 * ```
 * source:                           -a-b-c-|
 * corrupt({ indices: [1], bits: 3 }): -a-B-c-|     B: b with 3 bits flipped
 * ```
 *
 * @example
 * ```ts
 * datagrams$.pipe(corrupt({ rate: 0.01, seed: 5 })); // one datagram in a hundred gets one bit flipped
 * ```
 *
 * @see faultyDatagramLink
 * @see faultyByteLink
 */
export function corrupt(options: CorruptOptions = {}): MonoTypeOperatorFunction<Uint8Array> {
  const bits = options.bits ?? 1;
  if (!(Number.isInteger(bits) && bits >= 1)) throw misuse(`corrupt: bits must be an integer ≥ 1, got ${bits}`);
  return perChunk('corrupt', options, (chunk, hit, emit, random) => {
    if (!hit || chunk.length === 0) {
      emit(chunk);
      return;
    }
    const copy = chunk.slice();
    const total = copy.length * 8;
    if (bits >= total) {
      for (let i = 0; i < copy.length; i++) copy[i] = ~copy[i]! & 0xff;
    } else {
      // Distinct positions: draw until `bits` different ones.
      const flips = new Set<number>();
      while (flips.size < bits) flips.add(Math.floor(random() * total));
      for (const bit of flips) copy[bit >> 3]! ^= 0x80 >> (bit & 7);
    }
    emit(copy);
  });
}
