/**
 * The RxJS-facing shapes of rxtls. Options are named like node:tls where they mean the same.
 */
import type { Observable, SchedulerLike } from 'rxjs';
import type { CryptoProvider } from '../crypto/provider.js';
import type { HandshakeInfo } from '../core/types.js';
import type { TlsError } from '../core/errors.js';
import type { AddressInfo } from 'node:net';

/** PEM text, DER bytes, or a list of them. */
export type PemInput = string | Uint8Array | readonly (string | Uint8Array)[];

/** Options shared by clients and servers. */
export interface SecureOptions {
  /** Trusted CA certificates (PEM/DER). Default: the system roots (node:tls `rootCertificates`). */
  readonly ca?: PemInput;
  /** Our certificate chain (PEM, leaf first) and private key (PEM PKCS#8, SEC1 or PKCS#1). */
  readonly cert?: PemInput;
  readonly key?: string | Uint8Array;
  /** ALPN protocols in preference order. */
  readonly ALPNProtocols?: readonly string[];
  /** OpenSSL TLS 1.3 suite list, e.g. `TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256`. */
  readonly ciphers?: string;
  /** OpenSSL group list, e.g. `X25519:P-256`. */
  readonly groups?: string;
  /** Handshake deadline in ms (default 30 000). */
  readonly handshakeTimeout?: number;
  /**
   * Treat transport EOF without close_notify as the end of inbound data (`SSL_OP_IGNORE_UNEXPECTED_EOF`).
   * Default false: it errors with kind `unexpectedEof` (possible truncation attack, RFC 8446 §6.1).
   */
  readonly ignoreUnexpectedEof?: boolean;
  /** Crypto provider (default: noble). */
  readonly provider?: CryptoProvider;
  /** Scheduler for timers and the clock (default `asyncScheduler`); a `TestScheduler` gives virtual time. */
  readonly scheduler?: SchedulerLike;
}

/** Options of a client connection. */
export interface ClientOptions extends SecureOptions {
  /** SNI and the name the certificate must match (default: `host` unless it is an IP literal). */
  readonly servername?: string;
  /**
   * Verify the server's certificate (default true). `false` is the loud insecure opt-out: a warning is
   * printed and `info.verification` says `insecure`.
   */
  readonly rejectUnauthorized?: boolean;
}

/** Options for `connect` over TCP. */
export interface ConnectOptions extends ClientOptions {
  readonly host: string;
  readonly port: number;
}

/** Options of a server connection. */
export interface ServerOptions extends SecureOptions {
  /** Ask clients for a certificate. */
  readonly requestCert?: boolean;
  /** With `requestCert`: fail clients that send none or an unverifiable one (default true). */
  readonly rejectUnauthorized?: boolean;
}

/** Options for `listen` over TCP. */
export interface ListenOptions extends ServerOptions {
  /** TCP port; `0` picks a free one (learn it from `onListening`). */
  readonly port: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Called once the server is bound, with the bound address (the real port when `port` is 0). */
  readonly onListening?: (address: AddressInfo) => void;
  /**
   * Called for every connection that fails (handshake failure or timeout, transport error, a later fatal
   * alert or truncation). The server keeps running. Default: ignore.
   */
  readonly onError?: (error: TlsError, remote: { readonly address?: string; readonly port?: number }) => void;
}

/**
 * An established TLS connection, emitted once the handshake completes.
 *
 * - `inbound$`: the peer's application data; completes when the peer's close_notify arrives (or when the
 *   connection is aborted locally), errors with a `TlsError` on failure. Subscribe once (it is hot after the
 *   handshake; data is buffered until subscribed; a second subscription errors with `apiMisuse`).
 * - `send(outbound$)`: lazily subscribes `outbound$` and writes each chunk; when `outbound$` completes,
 *   close_notify is sent. The returned Observable completes once close_notify is on the wire (or when the
 *   connection is closed locally first), and errors with the `TlsError` if the connection fails. One
 *   `send()` at a time; unsubscribing it stops writing without sending close_notify (a later `send()` may
 *   continue); after close_notify, `send()` errors with `apiMisuse`. If `outbound$` errors, the connection
 *   is aborted and the `send()` errors with that error.
 * - `close()`: abortive close (no close_notify, transport destroyed), the same as unsubscribing from the
 *   connection; the connection's Observable completes.
 */
export interface TlsConnection {
  readonly info: HandshakeInfo;
  readonly inbound$: Observable<Uint8Array>;
  send(outbound$: Observable<Uint8Array>): Observable<never>;
  close(): void;
}

/**
 * A byte duplex that TLS can run over: TCP, a WebSocket, an in-memory pipe.
 * `incoming$` emits received chunks and completes at EOF; `write` returns false when the transport wants the
 * writer to pause until `drain$` emits; `end` half-closes; `destroy` tears it down.
 */
export interface ByteDuplex {
  readonly incoming$: Observable<Uint8Array>;
  write(chunk: Uint8Array): boolean;
  readonly drain$: Observable<void>;
  end(): void;
  destroy(): void;
}
