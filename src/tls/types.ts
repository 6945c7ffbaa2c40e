/**
 * The TLS reducer's contract (`handleEvents` in `src/tls/connection.ts`): its inputs ({@link TlsInput}) and
 * effects ({@link TlsEffect}). Both share their base shape with every transport (`BaseInput`, `BaseEffect` in
 * `src/core/types.ts`); the rest is TLS over a byte stream's own.
 */
import type { BaseEffect, BaseInput } from '../core/types.js';
import type { TlsSession } from '../handshake/session.js';

/**
 * How to close a TLS connection (OpenSSL's `SSL_shutdown` family, see the README's "Closing connections").
 */
export const TlsCloseMode = {
  /** Tear down at once without close_notify (unsubscribe, `SSL_free` without `SSL_shutdown`): a truncation for the peer. */
  abort: 'abort',
  /** Send close_notify and wait for the peer's (`SSL_shutdown` until it returns 1). */
  shutdown: 'shutdown',
  /** Send close_notify and close without waiting for the peer's (`SSL_shutdown` once, then close the socket). */
  unidirectional: 'unidirectional',
  /** Nothing on the wire; both directions reported shut down (`SSL_CTX_set_quiet_shutdown`). */
  quiet: 'quiet',
} as const;
export type TlsCloseMode = (typeof TlsCloseMode)[keyof typeof TlsCloseMode];

/**
 * An input to the TLS reducer: the base inputs every transport takes (`start`, `timeout`, `close` with TLS's
 * {@link TlsCloseMode}) plus TLS's own. Every input carries `now` (ms).
 */
export type TlsInput =
  | BaseInput<{ readonly mode: TlsCloseMode }>
  /**
   * Bytes read from a stream transport (TCP, a WebSocket, an in-memory pipe). Any chunking. The reducer never
   * modifies `data` and may keep views into it in the state it returns (records waiting behind an asynchronous
   * open batch): hand it a buffer you will not reuse (socket chunks are fresh; copy a reused read buffer).
   */
  | { readonly type: 'received'; readonly now: number; readonly data: Uint8Array }
  /** The transport reached EOF (the peer closed its write side or the socket). */
  | { readonly type: 'eof'; readonly now: number }
  /** The transport can take more bytes (after backpressure). */
  | { readonly type: 'writable'; readonly now: number }
  /** Application data to send. */
  | { readonly type: 'write'; readonly now: number; readonly data: Uint8Array }
  /** The application completed its output: TLS sends close_notify (half-close). */
  | { readonly type: 'end'; readonly now: number }
  /** Ask for a KeyUpdate (RFC 8446 §4.6.3); `requestPeer` sets update_requested. */
  | { readonly type: 'keyUpdate'; readonly now: number; readonly requestPeer: boolean }
  /** Results of an asynchronous crypto job emitted as a `crypto` effect (in job order). */
  | {
      readonly type: 'cryptoDone';
      readonly now: number;
      readonly jobId: number;
      readonly results: readonly (Uint8Array | null)[];
    };

export type TlsInputType = TlsInput['type'];

/**
 * An effect of the TLS reducer: an instruction to its adapter. The base effects (`transmit`: write these bytes
 * to the transport, in order; `handshakeComplete`; `closed`) plus TLS's own.
 */
export type TlsEffect =
  | BaseEffect
  /**
   * Write these bytes to the transport, in order, as one write of a list (a socket's cork/writev): what a
   * connection configured with `transmitParts` emits in place of `transmit`.
   */
  | { readonly type: 'transmitParts'; readonly parts: readonly Uint8Array[] }
  /**
   * Deliver decrypted application data to the application. When one step opened several full records, `parts`
   * holds them as they were opened (views: nothing copied) and `data` is their concatenation, joined only when
   * read: an adapter that hands chunks to a push consumer gives it the parts, one that hands one chunk at a time
   * to a slow consumer reads `data`. Such a delivery also says its `size` (bytes in all), so that it can be
   * queued and accounted for without reading either.
   */
  | { readonly type: 'deliver'; readonly data: Uint8Array; readonly parts?: readonly Uint8Array[]; readonly size?: number }
  /** We sent an alert (warning close_notify or a fatal one). */
  | { readonly type: 'alertSent'; readonly level: number; readonly description: number }
  /** The peer sent an alert. */
  | { readonly type: 'alertReceived'; readonly level: number; readonly description: number }
  /** The peer's close_notify arrived: the inbound direction is complete (`SSL_ERROR_ZERO_RETURN`). */
  | { readonly type: 'peerClosed' }
  /**
   * `SSL_get_shutdown` changed in this step (emitted once per step that changes it, before a `closed` of the
   * same step): `sent` once our close_notify is queued or sent (or a quiet shutdown marked it), `received` once
   * the peer's close_notify arrived (or an ignored EOF / a quiet shutdown marked it). `eofWithoutCloseNotify`:
   * the input ended by an EOF accepted in place of close_notify (`ignoreUnexpectedEof`), so the shutdown is
   * not clean. A connection that ends with `closed` (no error), `sent` and `received` both true and
   * `eofWithoutCloseNotify` false shut down cleanly — close_notify both ways, unless the adapter itself asked
   * for a quiet shutdown — and its newest `session` is resumable (OpenSSL semantics). The same values as `shutdownState(state)`.
   */
  | { readonly type: 'shutdown'; readonly sent: boolean; readonly received: boolean; readonly eofWithoutCloseNotify: boolean }
  /**
   * The write backlog crossed its bound in this step: application bytes taken by `write` and not sealed yet
   * (`bytes`, at the end of the step), and whether that is one seal batch's worth or more (`full`,
   * `maxPipelines` × `splitSendFragment` bytes). Emitted only when `full` changes (only `asyncCrypto`
   * connections ever fill it): an adapter stops feeding `write` inputs while the last one said `full`, as it
   * does while the transport is not writable. The same values as `writeBacklog(state)`.
   */
  | { readonly type: 'backlog'; readonly bytes: number; readonly full: boolean }
  /** A secret for the SSLKEYLOGFILE format (NSS key log). */
  | { readonly type: 'keyLog'; readonly label: string; readonly clientRandom: Uint8Array; readonly secret: Uint8Array }
  /** With `traceMessages`: a handshake message received, or queued to send (OpenSSL's message callback). */
  | { readonly type: 'handshakeMessage'; readonly dir: 'sent' | 'received'; readonly msgType: number; readonly length: number }
  /** A resumable session (client), from a NewSessionTicket: store it to resume later. */
  | { readonly type: 'session'; readonly session: TlsSession }
  /**
   * Outcome of 0-RTT: `accepted`, or `rejected` with the early bytes the server did not take, for the
   * application to send again now that the handshake is complete (RFC 8446 §4.2.10).
   */
  | { readonly type: 'earlyData'; readonly accepted: boolean; readonly rejected?: Uint8Array }
  /** An asynchronous crypto job; answer with a `cryptoDone` input carrying the same `jobId`. */
  | {
      readonly type: 'crypto';
      readonly jobId: number;
      readonly op: 'seal' | 'open';
      readonly alg: string;
      readonly key: Uint8Array;
      readonly jobs: readonly { nonce: Uint8Array; aad: Uint8Array; data: Uint8Array }[];
    };

export type TlsEffectType = TlsEffect['type'];
