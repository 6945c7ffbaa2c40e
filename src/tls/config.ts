/**
 * Configuration of a TLS 1.3 connection over a byte stream: the handshake settings
 * (`src/handshake/config.ts`) plus what the record layer needs (record sizes, pipelining, asynchronous crypto,
 * timers, EOF policy).
 */
import type { HandshakeClientConfig, HandshakeCommonConfig, HandshakeServerConfig } from '../handshake/config.js';

/** Record-layer settings of a TLS connection over a stream. */
export interface TlsRecordConfig {
  /** The handshake must complete within this many ms (default 30 000). */
  readonly handshakeTimeout?: number;
  /** Largest plaintext per record we send, 512..16384 (default 16384). */
  readonly maxSendFragment?: number;
  /**
   * Pipelining (OpenSSL `SSL_CTX_set_split_send_fragment` / `SSL_CTX_set_max_pipelines`): a write is cut into
   * records of `splitSendFragment` bytes (default: `maxSendFragment`), and up to `maxPipelines` records are
   * sealed as one batch (default 32). Received records that arrive together are opened as one batch too.
   */
  readonly splitSendFragment?: number;
  readonly maxPipelines?: number;
  /**
   * Asynchronous record protection (OpenSSL `SSL_MODE_ASYNC`): application-data records are sealed and opened
   * through `crypto` effects answered by `cryptoDone` inputs, using the provider's `batch` cipher (for example
   * a worker pool). At most one batch per direction is in flight. Default false (synchronous, inline).
   */
  readonly asyncCrypto?: boolean;
  /** Records per key before an automatic KeyUpdate (default 2^24, RFC 8446 §5.5). */
  readonly keyUpdateAfter?: number;
  /**
   * Treat transport EOF without close_notify as a clean end of input (`SSL_OP_IGNORE_UNEXPECTED_EOF`).
   * Default false: it is an `unexpectedEof` error (possible truncation attack).
   */
  readonly ignoreUnexpectedEof?: boolean;
  /**
   * Hand each step's wire bytes over as parts (`transmitParts` effects) instead of one joined buffer
   * (`transmit`), for an adapter whose transport writes a list of buffers (a socket's cork/writev): sealed
   * records then keep the ciphertext buffers the AEAD produced (see `flightParts` in `src/tls/record.ts`), one
   * copy of every sent byte fewer. Default false.
   */
  readonly transmitParts?: boolean;
}

/** A TLS client over a stream. */
export interface TlsClientConfig extends HandshakeClientConfig, TlsRecordConfig {}
/** A TLS server over a stream. */
export interface TlsServerConfig extends HandshakeServerConfig, TlsRecordConfig {}
/** A TLS connection over a stream, either role. */
export type TlsConfig = TlsClientConfig | TlsServerConfig;

/** Settings shared by TLS clients and servers over a stream. */
export interface TlsCommonConfig extends HandshakeCommonConfig, TlsRecordConfig {}
