/**
 * Checks of what an application hands the protocol cores — settings, reducer inputs, call arguments. Each returns
 * the value checked or throws a {@link TlsError} of kind `apiMisuse` whose message names the option, so a mistake
 * fails synchronously at the call, before anything goes on the wire; never a TypeError from deep inside, and
 * never an alert sent to the peer for our own mistake.
 *
 * @example
 * const maxPipelines = integerIn('maxPipelines', config.maxPipelines ?? 32, 1, 1024);
 * const data = bytesArg('write data', input.data);
 */
import { misuse } from './errors.js';

/** A value as an error message shows it: numbers as they print, strings quoted, other things by their type. */
export function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (typeof v !== 'object' || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object';
}

/** `v` as a finite number in `min..max` (fractions allowed); `name` is the option named by the error. */
export function numberIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw misuse(`${name} must be a number in ${min}..${max}, got ${shown(v)}`);
  return v;
}

/** `v` as an integer in `min..max`; `name` is the option named by the error. */
export function integerIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw misuse(`${name} must be an integer in ${min}..${max}, got ${shown(v)}`);
  return v;
}

/** `v` as an integer in `min..max`, `undefined` giving `def`; `name` is the option named by the error. */
export function integerOption(name: string, v: unknown, def: number, min: number, max: number): number {
  return v === undefined ? def : integerIn(name, v, min, max);
}

/** `v` as a boolean (`undefined` gives `def`): a string such as `'no'` is a mistake, not "on". */
export function booleanOption(name: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw misuse(`${name} must be a boolean, got ${shown(v)}`);
  return v;
}

/**
 * `v` as bytes: a `Uint8Array` (a `Buffer` or any other subclass, over any buffer, shared memory included) whose
 * `length` is its byte length — a subclass whose `length` lies would make the cores size copies after it.
 */
export function bytesArg(name: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw misuse(`${name} must be a Uint8Array, got ${shown(v)}`);
  if (v.length !== v.byteLength) throw misuse(`${name}: a Uint8Array whose length (${v.length}) is not its byte length (${v.byteLength})`);
  return v;
}

/** Whether `v`'s buffer was detached (transferred away): its length reads 0 and copying from it throws. */
export function isDetached(v: Uint8Array): boolean {
  if (v.byteLength !== 0) return false;
  try {
    // A view can be made on any live buffer (shared memory included), none on a detached one.
    void new Uint8Array(v.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * A reducer input checked: an object with a `type` and a finite `now` (ms). Answers `false` for a `timeout`
 * whose `now` is NaN or infinite: it changes nothing (no deadline compares with it), as a clock that went back.
 * Any other input whose `now` is missing or not finite is refused: a deadline computed from it would never fire.
 */
export function checkInput(input: unknown): boolean {
  if (typeof input !== 'object' || input === null) throw misuse(`an input must be an object with a type and now, got ${shown(input)}`);
  const { type, now } = input as { type?: unknown; now?: unknown };
  if (typeof now === 'number' && Number.isFinite(now)) return true;
  if (type === 'timeout' && typeof now === 'number') return false;
  throw misuse(`input ${typeof type === 'string' ? type : shown(type)}: now must be a finite number of ms, got ${shown(now)}`);
}
