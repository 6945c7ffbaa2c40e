/** Public pipeable operators of rxtls, one per file. */
export { secure, secureDuplex, type SecureRoleOptions } from './secure.js';
export { runReducer, type Pending, type PendingInput, type ReducerSpec, type Ticker } from './runReducer.js';
export { secureDatagrams, secureDatagramsOn, type SecureDatagramsOptions, type DtlsConnection } from './secureDatagrams.js';
export type { ConnectionSettings } from '../src/rx/options.js';
export * from './faults.js';
export * from './routeBySni.js';
export { splice, SPLICE_HELD_CHUNKS, toEndpoint, plainDuplex, type SideClose, type SpliceOptions, type SpliceProgress, type SpliceReport, type EndpointKind, type EndpointOptions, type Spliceable, type StreamEndpoint, type PlainDuplex } from './splice.js';
export { terminate, type Terminable, type TerminateOptions } from './terminate.js';
export { originate, type OriginateOptions, type OriginateReport } from './originate.js';
