/**
 * `rxtls/operators` in a browser (the `browser` condition): the same operators, with the portable `secure` (no
 * system roots: pass `ca`; `keyLog` takes a function).
 */
export { secure, secureDuplex, secureOn, type SecureRoleOptions } from '../src/rx/secure.js';
export { runReducer, type Pending, type PendingInput, type ReducerSpec, type Ticker } from '../src/rx/runReducer.js';
export { secureDatagrams, secureDatagramsOn } from '../src/rx/secureDatagrams.js';
export type { SecureDatagramsOptions, DtlsConnection } from '../src/rx/dtlsTypes.js';
export type { ConnectionSettings } from '../src/rx/options.js';
export * from './faults.js';
export * from '../src/rx/routeBySni.js';
