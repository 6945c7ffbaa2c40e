/**
 * Fault injection for tests: operators on streams of datagrams or byte chunks that lose, duplicate, reorder,
 * delay, damage, cut short or throttle them — seeded, so a run replays, and on a scheduler, so they run in
 * virtual time — and links that put them on each direction of a duplex.
 */
export { seededRandom, type FaultChoice } from './random.js';
export { drop, type DropOptions } from './drop.js';
export { duplicate, type DuplicateOptions } from './duplicate.js';
export { reorder, type ReorderOptions } from './reorder.js';
export { latency, type LatencyOptions } from './latency.js';
export { corrupt, type CorruptOptions } from './corrupt.js';
export { truncate, type TruncateOptions } from './truncate.js';
export { rateLimit, type RateLimitOptions } from './rateLimit.js';
export { faultyByteLink, faultyDatagramLink, type FaultyByteLink, type FaultyByteLinkOptions, type FaultyLinkOptions } from './faultyLink.js';
