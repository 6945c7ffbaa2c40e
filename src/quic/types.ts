/**
 * The QUIC reducer's contract: its inputs ({@link QuicInput}) and effects ({@link QuicEffect}). Both share
 * their base shape with TLS (`BaseInput`, `BaseEffect` in `src/core/types.ts`): `start`, `timeout` and
 * `close` with `now` in; `transmit`, `handshakeComplete` and `closed` out. The rest is QUIC's own.
 */
import type { BaseEffect, BaseInput, StreamId } from '../core/types.js';
import type { TlsSession } from '../handshake/session.js';
import type { QlogEvent } from './qlog.js';

/**
 * How to close a QUIC connection (after OpenSSL `SSL_shutdown_ex`). Each takes the 62-bit `errorCode` and
 * `reason` of the CONNECTION_CLOSE (RFC 9000 §19.19); a non-zero code is reported in `closed` as a local
 * `quicClose` error. A code outside [0, 2^62 − 1] is API misuse (thrown, nothing sent). The first close's code
 * and reason are the ones sent; a later `close` can only hasten it: `rapid` (or `noStreamFlush`) while a
 * `graceful` close waits for the streams sends the CONNECTION_CLOSE now, `rapid` or `silent` in the closing
 * period ends it now ("change of mind").
 */
export const QuicCloseMode = {
  /**
   * RFC-compliant (RFC 9000 §10.2): the streams are flushed first (everything written is sent and
   * acknowledged), then one CONNECTION_CLOSE and a closing period of 3×PTO, answering the peer's packets with
   * it again; `closed` at the end of the period.
   */
  graceful: 'graceful',
  /** One CONNECTION_CLOSE at once (RFC 9000 §10.2.3), then `closed`: no closing period. */
  rapid: 'rapid',
  /**
   * Nothing on the wire: the state is released and `closed` comes at once; the peer finds out by its idle
   * timeout (RFC 9000 §10.1). What dropping a connection without closing it amounts to.
   */
  silent: 'silent',
} as const;
export type QuicCloseMode = (typeof QuicCloseMode)[keyof typeof QuicCloseMode];

/** An input to the QUIC reducer. Every input carries `now` (ms). */
export type QuicInput =
  | BaseInput<{
      readonly mode: QuicCloseMode;
      /** The application error code (62 bits, default 0); sent as NO_ERROR before 1-RTT keys exist. */
      readonly errorCode?: bigint;
      /** Cut to fit the CONNECTION_CLOSE packet (at a UTF-8 character boundary). */
      readonly reason?: string;
      /**
       * `graceful` only (OpenSSL `SSL_SHUTDOWN_FLAG_NO_STREAM_FLUSH`): send the CONNECTION_CLOSE now, without
       * waiting for the streams to be flushed; the closing period still follows.
       */
      readonly noStreamFlush?: boolean;
    }>
  /**
   * One UDP datagram from the peer (one or more coalesced packets, RFC 9000 §12.2). `from` is the address it
   * came from, `host:port` (the port after the last colon), as the adapter sees it: a server follows a client
   * whose address changes (RFC 9000 §9, `paths.ts`). Without it the path is never questioned.
   */
  | { readonly type: 'datagram'; readonly now: number; readonly data: Uint8Array; readonly from?: string }
  /** Application data for stream `stream` (opened on first use when it is ours, RFC 9000 §2.1). */
  | { readonly type: 'write'; readonly now: number; readonly stream: StreamId; readonly data: Uint8Array }
  /** The application has written all of stream `stream`: a FIN follows its data. */
  | { readonly type: 'end'; readonly now: number; readonly stream: StreamId }
  /** Abandon sending on stream `stream` (RFC 9000 §19.4 RESET_STREAM with a 62-bit application code). */
  | { readonly type: 'resetStream'; readonly now: number; readonly stream: StreamId; readonly errorCode: bigint }
  /** Ask the peer to stop sending on stream `stream` (RFC 9000 §19.5 STOP_SENDING with a 62-bit code). */
  | { readonly type: 'stopSending'; readonly now: number; readonly stream: StreamId; readonly errorCode: bigint }
  /**
   * The application has read `bytes` more of stream `stream` (of what `deliver` gave it). The receive windows
   * follow this, not delivery (RFC 9000 §4.1): MAX_STREAM_DATA / MAX_DATA go out once half a window was read.
   */
  | { readonly type: 'consumed'; readonly now: number; readonly stream: StreamId; readonly bytes: number }
  /**
   * Set the priority of stream `stream` (RFC 9218 §4: `urgency` 0–7, default 3; `incremental`, default false),
   * opening it if it is ours and new. It orders our stream data in packets (`priority.ts`).
   */
  | { readonly type: 'priority'; readonly now: number; readonly stream: StreamId; readonly urgency?: number; readonly incremental?: boolean }
  /**
   * Update the 1-RTT keys (RFC 9001 §6): now if permitted (the handshake is confirmed and the last update
   * acknowledged), else as soon as it is. Updates also happen by themselves before the AEAD limits (§6.6).
   */
  | { readonly type: 'keyUpdate'; readonly now: number }
  /**
   * A client moved to a new local address (RFC 9000 §9.2; the adapter already sends from it): the next packets
   * go to an unused connection ID of the server's (§9.5) and the new path is validated with a PATH_CHALLENGE.
   * API misuse before the handshake is confirmed, on a server, or when the server sent disable_active_migration.
   */
  | { readonly type: 'migrate'; readonly now: number };

export type QuicInputType = QuicInput['type'];

/**
 * An effect of the QUIC reducer: `transmit` (one UDP datagram, at most 1200 bytes), `handshakeComplete`,
 * `closed {error?}`, and per stream `deliver` (the peer's data, in order), `peerClosed` (the peer's FIN,
 * after all its data) and `sendBuffer` (our unsent data crossed the high-water mark), and `keyLog` (one SSLKEYLOGFILE secret, only with `tls.keyLog`).
 */
export type QuicEffect =
  | BaseEffect
  | { readonly type: 'deliver'; readonly stream: StreamId; readonly data: Uint8Array }
  | { readonly type: 'peerClosed'; readonly stream: StreamId }
  /** The peer reset its side of stream `stream` (RESET_STREAM): no more data comes; this stream only. */
  | { readonly type: 'streamReset'; readonly stream: StreamId; readonly errorCode: bigint }
  /** The peer stopped reading stream `stream` (STOP_SENDING): our side was reset with its code; writes stop. */
  | { readonly type: 'stopSending'; readonly stream: StreamId; readonly errorCode: bigint }
  /**
   * Stream `stream`'s send buffer filled or emptied in this step, as TLS's `backlog` does for a connection:
   * `unsent` bytes written and not yet put in a packet (at the end of the step), `full` from the moment they
   * reach `sendHighWaterMark` until they fall to half of it. Emitted only when `full` changes, never per packet:
   * an adapter stops writing to the stream while the last one said `full` (and resumes on `full: false`).
   * Not emitted for a stream whose sending half was reset. The same values as `streamSendBuffer(state.streams, id)`.
   */
  | { readonly type: 'sendBuffer'; readonly stream: StreamId; readonly unsent: number; readonly full: boolean }
  /** A client got an address validation token for its next connection to this server (NEW_TOKEN, RFC 9000 §8.1.3). */
  | { readonly type: 'newToken'; readonly token: Uint8Array }
  | { readonly type: 'keyLog'; readonly label: string; readonly clientRandom: Uint8Array; readonly secret: Uint8Array }
  /**
   * From now on send to `address` (RFC 9000 §9.3: the peer's address changed and a packet from the new one
   * authenticated, or a failed validation went back to the old one). Comes before the step's datagrams for it.
   */
  | { readonly type: 'pathChanged'; readonly address: string }
  /** One datagram for `address`, not the current path: a PATH_RESPONSE to a probe from there (RFC 9000 §8.2.2). */
  | { readonly type: 'transmitTo'; readonly data: Uint8Array; readonly address: string }
  /**
   * A client got a resumable session (a NewSessionTicket, RFC 9001 §4.6): the TLS session with the server's
   * transport parameters a client remembers for 0-RTT (RFC 9000 §7.4.1), for `tls.session` of a later connection.
   */
  | { readonly type: 'session'; readonly session: TlsSession }
  /**
   * A client's 0-RTT verdict (RFC 9001 §4.6.2): accepted, or refused, in which case the stream data written so far
   * is sent again in 1-RTT packets by the connection itself (RFC 9000 §17.2.3).
   */
  | { readonly type: 'earlyData'; readonly accepted: boolean }
  /** We issued connection ID `id` (NEW_CONNECTION_ID, RFC 9000 §5.1.1): packets to it belong to this connection. */
  | { readonly type: 'connectionIdIssued'; readonly id: Uint8Array }
  /** The peer retired our connection ID `id` (RETIRE_CONNECTION_ID, RFC 9000 §5.1.2): it no longer routes here. */
  | { readonly type: 'connectionIdRetired'; readonly id: Uint8Array }
  /** One qlog event (`qlog.ts`), only with `QuicConfig.qlog`; a step's events come before its other effects. */
  | { readonly type: 'qlog'; readonly event: QlogEvent };

export type QuicEffectType = QuicEffect['type'];
