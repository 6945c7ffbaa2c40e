/**
 * The seeded randomness and the "which chunks" choice shared by the fault-injection operators: a run with the
 * same seed and the same input makes the same choices, so a failing marble test or property replays exactly.
 */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { misuse } from '../../core/errors.js';

/**
 * mulberry32, a 32-bit-state PRNG giving floats in [0, 1). Not for cryptography: it only makes a fault
 * pattern reproducible from its seed.
 *
 * ```
 * seededRandom(1)  → 0.627…, 0.002…, … (the same sequence on every run)
 * ```
 *
 * @example
 * ```ts
 * const random = seededRandom(7);
 * const lost = random() < 0.1; // a 10% loss decision, the same on every run with seed 7
 * ```
 */
export function seededRandom(seed: number): () => number {
  if (!Number.isInteger(seed)) throw misuse(`seed must be an integer, got ${seed}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Which chunks a random fault hits (`drop`, `duplicate`, `corrupt`, `reorder`, datagram `truncate`). A chunk's
 * index is its position in the source (0-based, counting every chunk). A chunk is hit when its index is in
 * `indices`, or when `when` accepts it and a draw from the seeded PRNG falls below `rate`. One draw is made
 * per chunk whatever the outcome, so the random pattern does not shift when `indices` or `when` change.
 */
export interface FaultChoice {
  /** Probability in 0..1 that a chunk `when` accepts is hit (default 1 without `indices`, 0 with them). */
  readonly rate?: number;
  /** Indices (0-based) always hit. */
  readonly indices?: readonly number[];
  /** Only chunks this accepts are drawn for (default: all); `indices` are hit regardless. */
  readonly when?: (chunk: Uint8Array, index: number) => boolean;
  /** PRNG seed, an integer (default 1). */
  readonly seed?: number;
}

/** A per-subscription decision function for a {@link FaultChoice}, with the PRNG it draws from. */
export interface Chooser {
  /** Whether chunk number `index` is hit. Call once per chunk, in order. */
  hit(chunk: Uint8Array, index: number): boolean;
  /** The PRNG, for the operator's own further draws (how many bits, how far to move). */
  readonly random: () => number;
}

/** Check a {@link FaultChoice} at once (the operator's call, not its subscription, throws `apiMisuse`). */
export function checkChoice(what: string, choice: FaultChoice): void {
  const { rate, indices, seed } = choice;
  if (rate !== undefined && !(rate >= 0 && rate <= 1)) throw misuse(`${what}: rate must be in 0..1, got ${rate}`);
  if (indices !== undefined && !indices.every((i) => Number.isInteger(i) && i >= 0)) {
    throw misuse(`${what}: indices must be integers ≥ 0, got ${JSON.stringify(indices)}`);
  }
  if (seed !== undefined && !Number.isInteger(seed)) throw misuse(`${what}: seed must be an integer, got ${seed}`);
}

/** A fresh {@link Chooser} for one subscription (each subscription replays the same pattern). */
export function chooser(choice: FaultChoice): Chooser {
  const chosen = new Set(choice.indices ?? []);
  const rate = choice.rate ?? (choice.indices ? 0 : 1);
  const when = choice.when ?? (() => true);
  const random = seededRandom(choice.seed ?? 1);
  return {
    random,
    hit: (chunk, index) => {
      const draw = random();
      return chosen.has(index) || (when(chunk, index) && draw < rate);
    },
  };
}

/** A number of ms (or bytes) that must be finite and ≥ 0, else `apiMisuse`. */
export function checkNonNegative(what: string, name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) throw misuse(`${what}: ${name} must be a finite number ≥ 0, got ${value}`);
}

/**
 * The operator shape shared by the per-chunk faults (`drop`, `duplicate`, `corrupt`, datagram `truncate`): each
 * subscription gets a fresh {@link chooser}; `handle` gets every chunk with whether it was hit and emits what
 * becomes of it (nothing, it, copies of it). Completion and errors pass through. Checks the choice at once.
 */
export function perChunk(
  what: string,
  choice: FaultChoice,
  handle: (chunk: Uint8Array, hit: boolean, emit: (chunk: Uint8Array) => void, random: () => number) => void,
): MonoTypeOperatorFunction<Uint8Array> {
  checkChoice(what, choice);
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const choose = chooser(choice);
      const emit = (chunk: Uint8Array) => subscriber.next(chunk);
      let index = 0;
      return source.subscribe({
        next: (chunk) => handle(chunk, choose.hit(chunk, index++), emit, choose.random),
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
