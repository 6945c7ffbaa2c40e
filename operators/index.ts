/** Public pipeable operators of rxtls, one per file. */
export { secure, secureDuplex, type SecureRoleOptions } from './secure.js';
export { runReducer, type Pending, type PendingInput, type ReducerSpec, type Ticker } from './runReducer.js';
export { secureDatagrams, secureDatagramsOn, type SecureDatagramsOptions, type DtlsConnection } from './secureDatagrams.js';
export type { ConnectionSettings } from '../src/rx/options.js';
export * from './faults.js';
export * from './routeBySni.js';
