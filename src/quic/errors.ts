/**
 * QUIC transport error codes (RFC 9000 §20.1) and the connection error the QUIC modules throw to close with.
 * A {@link ConnectionError} never leaves the reducer: `handleQuicEvents` turns it into a CONNECTION_CLOSE.
 */

/** Transport error codes (RFC 9000 §20.1), 62-bit. */
export const QuicError = {
  NO_ERROR: 0x00n,
  INTERNAL_ERROR: 0x01n,
  FLOW_CONTROL_ERROR: 0x03n,
  STREAM_LIMIT_ERROR: 0x04n,
  STREAM_STATE_ERROR: 0x05n,
  FINAL_SIZE_ERROR: 0x06n,
  FRAME_ENCODING_ERROR: 0x07n,
  TRANSPORT_PARAMETER_ERROR: 0x08n,
  /** More connection IDs than our active_connection_id_limit, or too many retirements pending (RFC 9000 §5.1.1). */
  CONNECTION_ID_LIMIT_ERROR: 0x09n,
  PROTOCOL_VIOLATION: 0x0an,
  /** Sent in place of an application close where the peer cannot read 1-RTT packets (RFC 9000 §10.2.3). */
  APPLICATION_ERROR: 0x0cn,
  CRYPTO_BUFFER_EXCEEDED: 0x0dn,
  /** 0x0100–0x01ff: a TLS alert (RFC 9001 §4.8). */
  CRYPTO_ERROR: 0x100n,
} as const;

/** A connection error to close with (RFC 9000 §11, §20): the code, and the frame type that caused it. */
export class ConnectionError extends Error {
  constructor(
    readonly code: bigint,
    message: string,
    readonly frameType?: number,
  ) {
    super(message);
  }
}
