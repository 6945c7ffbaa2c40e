/**
 * `rxtls/core`: the sans-IO TLS 1.3 connection without RxJS — a pure reducer and its queries, for adapters of
 * your own (an event loop, a test harness, another reactive library). Feed it inputs with `now`, carry out the
 * effects it returns, and call it again at `nextTimeout(state)`; see docs/ARCHITECTURE.md.
 *
 * @example
 * ```ts
 * import { createConnection, handleEvents, nextTimeout } from 'rxtls/core';
 * let state = createConnection({ role: 'client', serverName: 'example.com' });
 * let step = handleEvents(state, { type: 'start', now: Date.now() });
 * for (const e of step.effects) if (e.type === 'transmit') socket.write(e.data);
 * ```
 */
export * from './types.js';
export * from './errors.js';
export {
  createConnection,
  handleEvents,
  nextTimeout,
  shutdownState,
  writeBacklog,
  handshakeInfo,
  isConnected,
  isClosed,
  type TlsState,
} from '../tls/connection.js';
export type { TlsConfig, TlsClientConfig, TlsServerConfig } from '../tls/config.js';
export type { CryptoProvider, Aead, BatchCipher, RecordJob, SigningKey, HashAlg, AeadAlg, GroupName } from '../crypto/provider.js';
