/**
 * `rxtls/core`: the sans-IO connections without RxJS — pure reducers and their queries, for adapters of your own
 * (an event loop, a test harness, another reactive library). Feed a reducer inputs with `now`, carry out the
 * effects it returns, and call it again at its next timeout; see docs/ARCHITECTURE.md.
 *
 * - TLS 1.3 over a byte stream: {@link createConnection}, {@link handleEvents}, {@link nextTimeout}.
 * - QUIC v1 over datagrams: {@link createQuicConnection}, {@link handleQuicEvents}, {@link nextQuicTimeout}.
 * - DTLS 1.3 over datagrams: {@link createDtlsConnection}, {@link handleDtlsEvents}, {@link nextDtlsTimeout}.
 * - The handshake engine both run on, for a transport of your own: {@link createHandshake},
 *   {@link startHandshake}, {@link handshakeData}, {@link updateTrafficKeys}, with its {@link HsEvent}s.
 *
 * @example
 * ```ts
 * import { createConnection, handleEvents, nextTimeout } from 'rxtls/core';
 * let state = createConnection({ role: 'client', serverName: 'example.com', verifier });
 * let step = handleEvents(state, { type: 'start', now: Date.now() });
 * for (const e of step.effects) if (e.type === 'transmit') socket.write(e.data);
 * ```
 */
export type { BaseEffect, BaseInput, HandshakeInfo, ProtocolName, Reducer, Step, StreamId } from './types.js';
export {
  TlsError,
  alertFor,
  certificateAlert,
  quicCloseFor,
  type CertificateErrorCode,
  type TlsErrorDetail,
  type TlsErrorKind,
} from './errors.js';

// TLS over a byte stream.
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
export { TlsCloseMode, type TlsEffect, type TlsInput } from '../tls/types.js';
export { TlsTimer } from '../tls/state.js';
export type { TlsConfig, TlsClientConfig, TlsServerConfig, TlsCommonConfig, TlsRecordConfig } from '../tls/config.js';

// QUIC v1.
export {
  createQuicConnection,
  handleQuicEvents,
  nextQuicTimeout,
  isQuicConnected,
  quicShutdownProgress,
  QuicError,
  MAX_CLOSE_REASON,
  MAX_ERROR_CODE,
  type QuicShutdownProgress,
  type QuicConfig,
  type QuicState,
} from '../quic/connection.js';
export { QuicCloseMode, type QuicEffect, type QuicInput } from '../quic/types.js';
export { QuicTimer } from '../quic/timers.js';

// DTLS 1.3 over datagrams.
export {
  createDtlsConnection,
  handleDtlsEvents,
  nextDtlsTimeout,
  isDtlsConnected,
  isDtlsClosed,
  isDtlsCommitted,
  dtlsHandshakeInfo,
  dtlsStats,
  maxDtlsWrite,
  canDtlsWrite,
  DtlsTimer,
  type DtlsState,
  type DtlsStats,
} from '../dtls/connection.js';
export type { DtlsConfig, DtlsClientConfig, DtlsServerConfig, DtlsRecordConfig, DtlsInput, DtlsEffect, DtlsCloseMode } from '../dtls/types.js';

// The handshake engine (TLS 1.3 for TLS, DTLS and QUIC).
export {
  createHandshake,
  startHandshake,
  handshakeData,
  updateTrafficKeys,
  changeCipherSpec,
  negotiatedVersion,
  negotiated,
  isHandshakeComplete,
  isHandshakeFailed,
  isHandshakeCommitted,
  type HandshakeState,
  type HsStep,
} from '../handshake/engine.js';
export { Epoch, TLS12_EPOCH, type HsEvent, type HsVariant, type KeyDirection } from '../handshake/events.js';
export type {
  HandshakeConfig,
  HandshakeClientConfig,
  HandshakeServerConfig,
  HandshakeCommonConfig,
  ExternalPsk,
  ExternalPskLookup,
  TlsVersionName,
} from '../handshake/config.js';

export type { CryptoProvider, Aead, BatchCipher, BatchOptions, BatchResults, RecordJob, SigningKey, HashAlg, AeadAlg, GroupName } from '../crypto/provider.js';
