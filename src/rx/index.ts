/** The RxJS layer of rxtls: TCP adapters, byte duplexes and the option mapping. */
export { connect } from './connect.js';
export { listen } from './listen.js';
export { fromSocket, memoryDuplexPair, toTransportError, type MemoryDuplexOptions } from './duplex.js';
export { toClientConfig, toServerConfig } from './options.js';
export type * from './types.js';
