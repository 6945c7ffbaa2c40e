/**
 * Reading a ClientHello's routing facts (SNI, ALPN) from the first plaintext records of a TLS connection,
 * without terminating it: what an SNI router (`routeBySni`) needs before it picks a backend. Sans-IO: bytes in,
 * a verdict out; no clock, no socket.
 */
import { DecodeError } from '../wire/reader.js';
import { decodeHandshakeBody } from '../wire/tls/handshake.js';
import { AlertDescription, ContentType, HandshakeType, MAX_CIPHERTEXT } from '../wire/tls/constants.js';
import { fail, type TlsErrorDetail } from '../core/errors.js';
import { concatBytes } from '../wire/bytes.js';
import { frameRecord } from './record.js';

/**
 * Default bound on the handshake bytes read before the ClientHello is complete: 16 640 B, the largest single TLS
 * record (2^14 + 256, RFC 8446 §5.2). Record headers are not counted, since record boundaries carry no meaning
 * (§5.1): a 16 KiB ClientHello fits, in one record or in 1-byte records. The bytes on the wire are bounded too, by
 * {@link WIRE_FACTOR} times the limit (each record carries at least one byte).
 */
export const MAX_SNIFFED_HELLO = MAX_CIPHERTEXT;

/** Wire bytes per handshake byte at most: a 5-byte header for each 1-byte record. */
const WIRE_FACTOR = 6;

/** The routing facts of a ClientHello. */
export interface SniffedHello {
  /** The host_name of server_name (RFC 6066 §3), lower-cased (DNS names compare case-insensitively); absent without SNI. */
  readonly serverName?: string;
  /** The ALPN protocols offered (RFC 7301 §3.1), in the client's order; empty when none. */
  readonly alpn: readonly string[];
}

/** What {@link ClientHelloSniffer.push} found so far. */
export type SniffVerdict =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'hello'; readonly hello: SniffedHello }
  /** Not a well-formed ClientHello within the bound: the alert to send is `detail.alert`. */
  | { readonly kind: 'fail'; readonly detail: SniffFailure };

/** Why a connection's first bytes are not a usable ClientHello, with the alert to send. */
export type SniffFailure = Extract<TlsErrorDetail, { readonly kind: 'peerMisbehaved' | 'invalidMessage' }>;

/**
 * An incremental reader of the first handshake message of a TLS connection (RFC 8446 §5.1: a ClientHello may
 * be split across records, and records across reads). Feed it what the transport delivers with
 * {@link ClientHelloSniffer.push}; it answers `incomplete` until the ClientHello is whole, then `hello` (the
 * SNI and ALPN, decoded with the library's ClientHello codec), or `fail` with the alert a server would send:
 *
 * - a record that is not a handshake record, or not TLS at all (`GET / HTTP/1.1`): unexpected_message;
 * - a first handshake message that is not a ClientHello: unexpected_message;
 * - a record longer than 2^14 + 256: record_overflow (RFC 8446 §5.2);
 * - a ClientHello that cannot be complete within `limit` bytes (its announced length, or the records carrying
 *   it): decode_error, as the core refuses too large a handshake message;
 * - a malformed ClientHello: the codec's alert (decode_error, illegal_parameter).
 *
 * It never holds more than `limit` bytes ({@link ClientHelloSniffer.buffered}): bytes after the first `limit`
 * are not looked at, and a ClientHello that needs them fails at once. A ClientHello without extensions (TLS 1.2
 * and older may send one) is a hello without SNI or ALPN: routing needs no more, and the backend judges the
 * version.
 *
 * ```
 * push:     -[16 03 01 00 c8 01 ..]-[.. rest of the hello ..]-
 * verdict:  -incomplete-------------hello{serverName, alpn}---
 * push:     -[47 45 54 20 ..]  ("GET ")
 * verdict:  -fail{alert: unexpected_message}
 * ```
 *
 * @example
 * ```ts
 * const sniffer = new ClientHelloSniffer();
 * const v = sniffer.push(chunk);
 * if (v.kind === 'hello') route(v.hello.serverName);
 * ```
 */
export class ClientHelloSniffer {
  /** Bytes of the record being received (its header included), not yet complete. */
  private partial: Uint8Array = new Uint8Array(0);
  /** Handshake-message bytes from complete records. */
  private readonly fragments: Uint8Array[] = [];
  private fragmentBytes = 0;
  /** Bytes taken so far (complete records and `partial`). */
  private taken = 0;
  /** The ClientHello's length from its header, once the header is in. */
  private messageLength: number | undefined;
  private verdict: SniffVerdict = { kind: 'incomplete' };

  /** @param limit handshake bytes that may be read before the ClientHello is complete (≥ 64); record headers aside. */
  constructor(readonly limit: number = MAX_SNIFFED_HELLO) {
    if (!Number.isInteger(limit) || limit < 64) throw new RangeError(`ClientHelloSniffer: limit ${limit} must be an integer ≥ 64`);
  }

  /** Bytes held right now: at most `limit` handshake bytes and one record not complete yet; none once a verdict is reached. */
  get buffered(): number {
    return this.partial.length + this.fragmentBytes;
  }

  /** Take the next bytes from the transport; once a verdict is reached it is repeated and later bytes are ignored. */
  push(chunk: Uint8Array): SniffVerdict {
    if (this.verdict.kind !== 'incomplete') return this.verdict;
    const room = WIRE_FACTOR * this.limit - this.taken;
    const looked = chunk.subarray(0, room);
    this.taken += looked.length;
    let buf = looked;
    if (this.partial.length > 0) {
      buf = new Uint8Array(this.partial.length + looked.length);
      buf.set(this.partial);
      buf.set(looked, this.partial.length);
    }
    let offset = 0;
    for (;;) {
      const next = frameRecord(buf, offset);
      if (next.kind === 'incomplete') break;
      if (next.kind === 'overflow') {
        return this.finish(refuse(fail.misbehaved(AlertDescription.record_overflow, `record length ${next.length} exceeds 2^14 + 256`)));
      }
      if (next.kind === 'badHeader') return this.finish(refuse(fail.unexpected(next.reason)));
      const { type, fragment } = next.record;
      offset += next.consumed;
      if (type !== ContentType.handshake) {
        return this.finish(refuse(fail.unexpected(`expected a handshake record holding a ClientHello, got content type ${type}`)));
      }
      // RFC 8446 §5.1: zero-length fragments of handshake records MUST NOT be sent.
      if (fragment.length === 0) return this.finish(refuse(fail.unexpected('empty handshake record')));
      this.fragments.push(fragment.slice());
      this.fragmentBytes += fragment.length;
      const verdict = this.examine();
      if (verdict) return this.finish(verdict);
    }
    this.partial = buf.slice(offset);
    // A ClientHello not complete within the bound never will be.
    if (this.fragmentBytes >= this.limit || this.taken >= WIRE_FACTOR * this.limit) {
      return this.finish(refuse(fail.decode(`the ClientHello is not complete within ${this.limit} handshake bytes`)));
    }
    return this.verdict;
  }

  /** A verdict once the collected handshake bytes hold the message header (and maybe the whole message). */
  private examine(): SniffVerdict | undefined {
    if (this.fragmentBytes < 4) return undefined;
    if (this.messageLength === undefined) {
      const head = concatBytes(this.fragments).subarray(0, 4); // at most 4 fragments: each holds ≥ 1 byte
      const msgType = head[0]!;
      if (msgType !== HandshakeType.client_hello) {
        return refuse(fail.unexpected(`expected a ClientHello, got handshake message type ${msgType}`));
      }
      this.messageLength = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
      if (4 + this.messageLength > this.limit) {
        return refuse(fail.decode(`a ClientHello of ${this.messageLength} bytes exceeds the ${this.limit}-byte bound`));
      }
    }
    const length = this.messageLength;
    if (this.fragmentBytes < 4 + length) return undefined;
    const bytes = concatBytes(this.fragments);
    // Bytes after the ClientHello in its record are the backend's business: only the message is decoded.
    try {
      const msg = decodeHandshakeBody(HandshakeType.client_hello, bytes.subarray(4, 4 + length));
      if (msg.type !== 'client_hello') throw new DecodeError('not a ClientHello', AlertDescription.unexpected_message);
      const { serverName, alpn } = msg.body.extensions;
      return { kind: 'hello', hello: { ...(serverName !== undefined ? { serverName: serverName.toLowerCase() } : {}), alpn: alpn ?? [] } };
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      // The codec refuses a ClientHello without extensions with protocol_version (it cannot negotiate TLS 1.3);
      // for routing it is a hello without SNI or ALPN.
      if (err.alert === AlertDescription.protocol_version) return { kind: 'hello', hello: { alpn: [] } };
      return refuse(fail.decode(`ClientHello: ${err.message}`, err.alert));
    }
  }

  private finish(verdict: SniffVerdict): SniffVerdict {
    this.verdict = verdict;
    this.partial = new Uint8Array(0);
    this.fragments.length = 0;
    this.fragmentBytes = 0;
    return verdict;
  }
}

/** The failures here always carry the alert to send (the `fail` helpers build only such details). */
const refuse = (detail: TlsErrorDetail): SniffVerdict => ({ kind: 'fail', detail: detail as SniffFailure });
