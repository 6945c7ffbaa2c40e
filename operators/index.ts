/** Public pipeable operators of rxtls, one per file. */
export { secure, secureDuplex, type SecureRoleOptions } from './secure.js';
export { runReducer, type Pending, type PendingInput, type ReducerSpec } from './runReducer.js';
export type { ConnectionSettings } from '../src/rx/options.js';
