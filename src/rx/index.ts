/** The RxJS layer of rxtls: TCP and QUIC (UDP) adapters, byte duplexes, the option mapping and the session cache. */
export { connect } from './connect.js';
export { listen } from './listen.js';
export { quicConnect, quicListen, type QuicConnection, type QuicConnectOptions, type QuicListenOptions, type QuicStream } from './quic.js';
export {
  fromSocket,
  memoryDuplexPair,
  toTransportError,
  type MemoryDuplex,
  type MemoryDuplexOptions,
} from './duplex.js';
export {
  getDefaultProvider,
  setDefaultProvider,
  toClientConfig,
  toConnectionSettings,
  toServerConfig,
  type ConnectionSettings,
} from './options.js';
export { createSessionCache, type SessionCacheOptions } from './sessionCache.js';
export { resumableSession, type ShutdownFacts } from './resumableSession.js';
export { inboundQueue, type InboundQueue, type InboundQueueOptions } from './inbound.js';
export { createAntiReplay, createTicketer, decodeSession, encodeSession, type TlsSession } from '../handshake/session.js';
export type * from './types.js';
