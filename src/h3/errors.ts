/**
 * HTTP/3 and QPACK error codes (RFC 9114 §8.1, RFC 9204 §6) and the one error the HTTP/3 codecs throw.
 *
 * An {@link H3Error} says which code to send and whether it ends the whole connection (CONNECTION_CLOSE with
 * an application error, RFC 9114 §8) or only one request stream (RESET_STREAM / STOP_SENDING, §8: "stream
 * error"). The codecs decide the code; the RxJS layer (`src/rx/h3.ts`) only acts on it.
 */

/** Application error codes of HTTP/3 (RFC 9114 §8.1) and QPACK (RFC 9204 §6). */
export const H3ErrorCode = {
  /** No error: a graceful close. */
  H3_NO_ERROR: 0x100n,
  /** A peer violated the protocol in a way no more specific code covers. */
  H3_GENERAL_PROTOCOL_ERROR: 0x101n,
  /** An internal error in the HTTP stack. */
  H3_INTERNAL_ERROR: 0x102n,
  /** A peer created a stream that will not be accepted. */
  H3_STREAM_CREATION_ERROR: 0x103n,
  /** A stream required by the connection (control, QPACK) was closed or reset. */
  H3_CLOSED_CRITICAL_STREAM: 0x104n,
  /** A frame was received on a stream where it is not permitted, or out of order. */
  H3_FRAME_UNEXPECTED: 0x105n,
  /** A frame does not meet its layout requirements or is badly sized. */
  H3_FRAME_ERROR: 0x106n,
  /** The peer generates excessive load. */
  H3_EXCESSIVE_LOAD: 0x107n,
  /** A stream ID or push ID was used wrongly. */
  H3_ID_ERROR: 0x108n,
  /** An error in the payload of a SETTINGS frame. */
  H3_SETTINGS_ERROR: 0x109n,
  /** No SETTINGS frame at the start of the control stream. */
  H3_MISSING_SETTINGS: 0x10an,
  /** A server rejected a request without doing any of it. */
  H3_REQUEST_REJECTED: 0x10bn,
  /** The request or its response is cancelled. */
  H3_REQUEST_CANCELLED: 0x10cn,
  /** The client's stream ended before a complete request. */
  H3_REQUEST_INCOMPLETE: 0x10dn,
  /** An HTTP message was malformed (RFC 9114 §4.1.2). */
  H3_MESSAGE_ERROR: 0x10en,
  /** A CONNECT request's TCP connection was reset or closed abnormally. */
  H3_CONNECT_ERROR: 0x10fn,
  /** The requested operation cannot be served over HTTP/3. */
  H3_VERSION_FALLBACK: 0x110n,
  /** A field section could not be decoded (RFC 9204 §6). */
  QPACK_DECOMPRESSION_FAILED: 0x200n,
  /** An error on the peer's QPACK encoder stream. */
  QPACK_ENCODER_STREAM_ERROR: 0x201n,
  /** An error on the peer's QPACK decoder stream. */
  QPACK_DECODER_STREAM_ERROR: 0x202n,
} as const;
export type H3ErrorName = keyof typeof H3ErrorCode;

/** The name of an HTTP/3 or QPACK error code (`H3_FRAME_ERROR`), or its hex value for an unknown one. */
export function h3ErrorName(code: bigint): string {
  for (const [name, value] of Object.entries(H3ErrorCode)) if (value === code) return name;
  return `0x${code.toString(16)}`;
}

/**
 * What an HTTP/3 codec or stream parser throws for a peer's fault: the error `code` to send and its `scope`,
 * `connection` (close the connection with it) or `stream` (reset this request stream with it).
 *
 * @example
 * ```ts
 * throw new H3Error('H3_FRAME_UNEXPECTED', 'DATA before HEADERS');
 * ```
 */
export class H3Error extends Error {
  override readonly name = 'H3Error';
  /** The application error code to send (RFC 9114 §8.1, RFC 9204 §6). */
  readonly code: bigint;
  constructor(
    readonly codeName: H3ErrorName,
    reason: string,
    readonly scope: 'connection' | 'stream' = 'connection',
  ) {
    super(`${codeName}: ${reason}`);
    this.code = H3ErrorCode[codeName];
  }
}
