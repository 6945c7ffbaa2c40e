/** The RxJS layer of rxtls: TCP, DTLS and QUIC (UDP) adapters, byte duplexes, the option mapping and the session cache. */
export { connect } from './connect.js';
export { listen } from './listen.js';
export {
  quicConnect,
  quicListen,
  type QuicConnection,
  type QuicConnectOptions,
  type QuicListener,
  type QuicListenOptions,
  type QuicShutdownOptions,
  type QuicStream,
  type QuicConnectionStats,
} from './quic.js';
export { h3Client, h3Connect, h3Request, serveH3, type H3Handler, type H3Options, type H3Reply, type H3RequestInit, type H3Response, type H3ServerRequest } from './h3.js';
export { createQuicTokenCache, type QuicTokenCache, type QuicTokenCacheOptions } from './quicTokenCache.js';
export { dtlsConnect, dtlsListen, type DtlsListener, type DtlsListenerStats } from './dtls.js';
export { memoryDatagramPair, type LinkDatagram, type LinkVerdict, type MemoryDatagramDuplex, type MemoryDatagramOptions } from './datagram.js';
export type { Ticker } from './runReducer.js';
export type * from './dtlsTypes.js';
export { fromSocket, memoryDuplexPair, type MemoryDuplex, type MemoryDuplexOptions } from './duplex.js';
export { getDefaultProvider, setDefaultProvider, type ConnectionSettings } from './options.js';
export { createSessionCache, type SessionCacheOptions } from './sessionCache.js';
export { resumableSession, type ShutdownFacts } from './resumableSession.js';
export { inboundQueue, type InboundQueue, type InboundQueueOptions } from './inbound.js';
export type * from './types.js';
