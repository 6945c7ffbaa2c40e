/**
 * TLS 1.2 handshake codecs (RFC 5246 §7.4, RFC 8422 §5, RFC 5077 §3.3, RFC 7627 §5.1, RFC 5746 §3.2): the
 * messages TLS 1.3 does not have (ServerKeyExchange, ServerHelloDone, ClientKeyExchange, HelloRequest) and the
 * ones whose TLS 1.2 form differs (Certificate, CertificateRequest, NewSessionTicket), plus the TLS 1.2 hello
 * extensions. Same contract as `handshake.ts`: `encode` writes what `decode` reads, a full decode rejects
 * trailing bytes, a malformed message is a {@link DecodeError} (decode_error unless another alert is named).
 *
 * The hellos and CertificateVerify / Finished share their wire form with TLS 1.3 and go through `handshake.ts`.
 * A TLS 1.2 ServerHello (no supported_versions) comes out of it with every extension uninterpreted; a ClientHello
 * keeps the TLS 1.2 extensions uninterpreted too: {@link readClientHello12Extensions} and
 * {@link readServerHello12Extensions} give them their TLS 1.2 meaning.
 */
import { DecodeError, Reader } from '../reader.js';
import { encodeWith, type Writer } from '../writer.js';
import { AlertDescription, EcCurveType, ExtensionType as X, HandshakeType } from './constants.js';
import { decodeHandshakeBody, encodeHandshake, type HelloFormat } from './handshake.js';
import type { CertificateVerify, ClientHello, Finished, ServerHello, UnknownExtension } from './messages.js';

/** ServerKeyExchange for ECDHE (RFC 8422 §5.4): ServerECDHParams (named curve only) and its signature (RFC 5246 §7.4.1.4.1). */
export interface ServerKeyExchange {
  /** NamedCurve code point (RFC 8422 §5.1.1; the NamedGroup registry). */
  readonly group: number;
  /** The server's ephemeral public key (X25519: 32 B; P-256: 65 B uncompressed), 1..255 B. */
  readonly publicKey: Uint8Array;
  /** SignatureAndHashAlgorithm, the same 2-byte code points as TLS 1.3 SignatureScheme. */
  readonly scheme: number;
  readonly signature: Uint8Array;
}

/** CertificateRequest (RFC 5246 §7.4.4). */
export interface CertificateRequest12 {
  /** ClientCertificateType values, 1..255 of them. */
  readonly certificateTypes: readonly number[];
  readonly signatureAlgorithms: readonly number[];
  /** DER DistinguishedNames, possibly none. */
  readonly certificateAuthorities: readonly Uint8Array[];
}

/** Certificate (RFC 5246 §7.4.2): DER certificates, leaf first; empty from a client without one (§7.4.6). */
export interface Certificate12 {
  readonly certificates: readonly Uint8Array[];
}

/** ClientKeyExchange for ECDHE (RFC 8422 §5.7): the client's ephemeral public key, 1..255 B. */
export interface ClientKeyExchange {
  readonly publicKey: Uint8Array;
}

/** NewSessionTicket (RFC 5077 §3.3): a lifetime hint in seconds (0: unspecified) and the opaque ticket. */
export interface NewSessionTicket12 {
  readonly lifetimeHint: number;
  /** 0..65535 B (an empty ticket takes nothing away: the client keeps none). */
  readonly ticket: Uint8Array;
}

/** Every TLS 1.2 handshake message rxtls sends or receives, discriminated by `type`. */
export type Tls12Message =
  | { readonly type: 'hello_request' }
  | { readonly type: 'client_hello'; readonly body: ClientHello }
  | { readonly type: 'server_hello'; readonly body: ServerHello }
  | { readonly type: 'certificate'; readonly body: Certificate12 }
  | { readonly type: 'server_key_exchange'; readonly body: ServerKeyExchange }
  | { readonly type: 'certificate_request'; readonly body: CertificateRequest12 }
  | { readonly type: 'server_hello_done' }
  | { readonly type: 'certificate_verify'; readonly body: CertificateVerify }
  | { readonly type: 'client_key_exchange'; readonly body: ClientKeyExchange }
  | { readonly type: 'new_session_ticket'; readonly body: NewSessionTicket12 }
  | { readonly type: 'finished'; readonly body: Finished };

export type Tls12MessageType = Tls12Message['type'];

function checkLength(len: number, min: number, max: number, what: string): void {
  if (len < min || len > max) throw new DecodeError(`${what}: ${len} bytes, allowed ${min}..${max}`);
}

function encodeLength(len: number, min: number, max: number, what: string): void {
  if (len < min || len > max) throw new RangeError(`${what}: ${len} bytes, allowed ${min}..${max}`);
}

function u16List(r: Reader, min: number, max: number, what: string): number[] {
  const v = r.sub16();
  checkLength(v.remaining, min, max, what);
  if (v.remaining % 2 !== 0) throw new DecodeError(`${what}: odd length ${v.remaining}`);
  const out: number[] = [];
  while (v.remaining > 0) out.push(v.u16());
  return out;
}

function u16(w: Writer, v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${what}: ${v} is not a u16`);
  w.u16(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

function decodeServerKeyExchange(r: Reader): ServerKeyExchange {
  // RFC 8422 §5.4: ECCurveType curve_type; only named_curve (3) is allowed (explicit curves are deprecated).
  const curveType = r.u8();
  if (curveType !== EcCurveType.named_curve) {
    throw new DecodeError(`ServerKeyExchange: curve_type ${curveType} is not named_curve`, AlertDescription.illegal_parameter);
  }
  const group = r.u16();
  const publicKey = r.vec8();
  checkLength(publicKey.length, 1, 0xff, 'ECPoint');
  const scheme = r.u16();
  const signature = r.vec16();
  return { group, publicKey, scheme, signature };
}

/** The signed part of a ServerKeyExchange (RFC 8422 §5.4 ServerECDHParams): curve_type, named curve, point. */
export function encodeServerEcdhParams(w: Writer, group: number, publicKey: Uint8Array): void {
  w.u8(EcCurveType.named_curve);
  u16(w, group, 'named curve');
  encodeLength(publicKey.length, 1, 0xff, 'ECPoint');
  w.vec8(publicKey);
}

function encodeServerKeyExchange(w: Writer, m: ServerKeyExchange): void {
  encodeServerEcdhParams(w, m.group, m.publicKey);
  u16(w, m.scheme, 'signature scheme');
  encodeLength(m.signature.length, 0, 0xffff, 'signature');
  w.vec16(m.signature);
}

function decodeCertificateRequest12(r: Reader): CertificateRequest12 {
  const types = r.vec8();
  checkLength(types.length, 1, 0xff, 'certificate_types');
  const signatureAlgorithms = u16List(r, 2, 0xfffe, 'supported_signature_algorithms');
  const list = r.sub16();
  const certificateAuthorities: Uint8Array[] = [];
  while (list.remaining > 0) {
    const dn = list.vec16();
    checkLength(dn.length, 1, 0xffff, 'DistinguishedName');
    certificateAuthorities.push(dn);
  }
  return { certificateTypes: Array.from(types), signatureAlgorithms, certificateAuthorities };
}

function encodeCertificateRequest12(w: Writer, m: CertificateRequest12): void {
  encodeLength(m.certificateTypes.length, 1, 0xff, 'certificate_types');
  w.vec8((w) => {
    for (const t of m.certificateTypes) w.u8(t);
  });
  encodeLength(m.signatureAlgorithms.length * 2, 2, 0xfffe, 'supported_signature_algorithms');
  w.vec16((w) => {
    for (const s of m.signatureAlgorithms) u16(w, s, 'signature scheme');
  });
  w.vec16((w) => {
    for (const dn of m.certificateAuthorities) {
      encodeLength(dn.length, 1, 0xffff, 'DistinguishedName');
      w.vec16(dn);
    }
  });
}

function decodeCertificate12(r: Reader): Certificate12 {
  const list = r.sub24();
  const certificates: Uint8Array[] = [];
  while (list.remaining > 0) {
    const cert = list.vec24();
    checkLength(cert.length, 1, 0xffffff, 'ASN.1Cert');
    certificates.push(cert);
  }
  return { certificates };
}

function encodeCertificate12(w: Writer, m: Certificate12): void {
  w.vec24((w) => {
    for (const c of m.certificates) {
      encodeLength(c.length, 1, 0xffffff, 'ASN.1Cert');
      w.vec24(c);
    }
  });
}

function decodeClientKeyExchange(r: Reader): ClientKeyExchange {
  const publicKey = r.vec8();
  // RFC 8422 §5.7: the point is 1..255 bytes (an empty one would be the explicit-key case, not supported).
  checkLength(publicKey.length, 1, 0xff, 'ECPoint');
  return { publicKey };
}

function decodeNewSessionTicket12(r: Reader): NewSessionTicket12 {
  const lifetimeHint = r.u32();
  const ticket = r.vec16();
  return { lifetimeHint, ticket };
}

function encodeNewSessionTicket12(w: Writer, m: NewSessionTicket12): void {
  if (!Number.isInteger(m.lifetimeHint) || m.lifetimeHint < 0 || m.lifetimeHint > 0xffffffff) {
    throw new RangeError(`ticket_lifetime_hint ${m.lifetimeHint} is not a u32`);
  }
  w.u32(m.lifetimeHint);
  encodeLength(m.ticket.length, 0, 0xffff, 'ticket');
  w.vec16(m.ticket);
}

/**
 * Decode a TLS 1.2 handshake message body (without its 4-byte header). The hellos, CertificateVerify and Finished
 * are read as `handshake.ts` reads them (`format` `'dtls'` for a DTLS ClientHello); a type TLS 1.2 does not have
 * (EncryptedExtensions, KeyUpdate, …) is unexpected_message.
 *
 * @throws DecodeError (decode_error for malformed bytes; illegal_parameter for an explicit curve; unexpected_message
 *   for a message type outside TLS 1.2).
 * @example decodeTls12HandshakeBody(HandshakeType.server_hello_done, new Uint8Array(0)) // { type: 'server_hello_done' }
 */
export function decodeTls12HandshakeBody(msgType: number, body: Uint8Array, format: HelloFormat = 'tls'): Tls12Message {
  const r = new Reader(body);
  let msg: Tls12Message;
  switch (msgType) {
    case HandshakeType.client_hello:
    case HandshakeType.server_hello:
    case HandshakeType.certificate_verify:
    case HandshakeType.finished:
      return decodeHandshakeBody(msgType, body, format) as Tls12Message;
    case HandshakeType.hello_request:
      msg = { type: 'hello_request' };
      break;
    case HandshakeType.certificate:
      msg = { type: 'certificate', body: decodeCertificate12(r) };
      break;
    case HandshakeType.server_key_exchange:
      msg = { type: 'server_key_exchange', body: decodeServerKeyExchange(r) };
      break;
    case HandshakeType.certificate_request:
      msg = { type: 'certificate_request', body: decodeCertificateRequest12(r) };
      break;
    case HandshakeType.server_hello_done:
      msg = { type: 'server_hello_done' };
      break;
    case HandshakeType.client_key_exchange:
      msg = { type: 'client_key_exchange', body: decodeClientKeyExchange(r) };
      break;
    case HandshakeType.new_session_ticket:
      msg = { type: 'new_session_ticket', body: decodeNewSessionTicket12(r) };
      break;
    default:
      throw new DecodeError(`unexpected TLS 1.2 handshake message type ${msgType}`, AlertDescription.unexpected_message);
  }
  r.expectEnd(msg.type);
  return msg;
}

/** Decode one complete TLS 1.2 handshake message, 4-byte header included. */
export function decodeTls12HandshakeBytes(data: Uint8Array): Tls12Message {
  const r = new Reader(data);
  const msgType = r.u8();
  const body = r.vec24();
  r.expectEnd('handshake message');
  return decodeTls12HandshakeBody(msgType, body);
}

/**
 * Encode a TLS 1.2 handshake message with its 4-byte header (msg_type u8, length u24).
 * @throws RangeError for a value the decoder would reject.
 */
export function encodeTls12Handshake(w: Writer, msg: Tls12Message, format: HelloFormat = 'tls'): void {
  switch (msg.type) {
    case 'client_hello':
    case 'server_hello':
    case 'certificate_verify':
    case 'finished':
      return encodeHandshake(w, msg, format);
    default:
      break;
  }
  w.u8(HandshakeType[msg.type]);
  w.vec24((w) => {
    switch (msg.type) {
      case 'hello_request':
      case 'server_hello_done':
        return;
      case 'certificate':
        return encodeCertificate12(w, msg.body);
      case 'server_key_exchange':
        return encodeServerKeyExchange(w, msg.body);
      case 'certificate_request':
        return encodeCertificateRequest12(w, msg.body);
      case 'client_key_exchange':
        encodeLength(msg.body.publicKey.length, 1, 0xff, 'ECPoint');
        w.vec8(msg.body.publicKey);
        return;
      case 'new_session_ticket':
        return encodeNewSessionTicket12(w, msg.body);
      default: {
        const never: never = msg;
        throw new RangeError(`unknown TLS 1.2 handshake message ${JSON.stringify(never)}`);
      }
    }
  });
}

/** {@link encodeTls12Handshake} into a fresh buffer. */
export function encodeTls12HandshakeBytes(msg: Tls12Message, format: HelloFormat = 'tls'): Uint8Array {
  return encodeWith((w) => encodeTls12Handshake(w, msg, format));
}

// ---------------------------------------------------------------------------------------------------------------
// Hello extensions

/** The TLS 1.2 extensions of a hello (RFC 7627, RFC 5746, RFC 8422, RFC 5077), as rxtls interprets them. */
export interface Tls12HelloExtensions {
  /** extended_master_secret (RFC 7627 §5.1), always empty. */
  readonly extendedMasterSecret?: true;
  /** renegotiation_info (RFC 5746 §3.2): renegotiated_connection, empty in an initial handshake. */
  readonly renegotiationInfo?: Uint8Array;
  /** ec_point_formats (RFC 8422 §5.1.2). */
  readonly ecPointFormats?: readonly number[];
  /** session_ticket (RFC 5077 §3.2): the ticket offered (ClientHello, maybe empty), empty in a ServerHello. */
  readonly sessionTicket?: Uint8Array;
}

/** The TLS 1.2 extensions of a ServerHello: those above, and the ones the TLS 1.3 codec types in EncryptedExtensions. */
export interface ServerHello12Extensions extends Tls12HelloExtensions {
  /** The selected ALPN protocol (RFC 7301 §3.1: exactly one). */
  readonly alpn?: string;
  /** The server acknowledged SNI with an empty server_name (RFC 6066 §3). */
  readonly serverNameAck?: true;
  /** record_size_limit (RFC 8449 §4), 64..65535. */
  readonly recordSizeLimit?: number;
  /** Anything else, in wire order (the client did not offer it: unsupported_extension). */
  readonly others: readonly UnknownExtension[];
}

function readTls12Extension(e: { -readonly [K in keyof Tls12HelloExtensions]: Tls12HelloExtensions[K] }, x: UnknownExtension): boolean {
  const d = new Reader(x.data);
  switch (x.type) {
    case X.extended_master_secret:
      e.extendedMasterSecret = true;
      break;
    case X.renegotiation_info:
      e.renegotiationInfo = d.vec8();
      break;
    case X.ec_point_formats: {
      const list = d.vec8();
      checkLength(list.length, 1, 0xff, 'ec_point_format_list');
      e.ecPointFormats = Array.from(list);
      break;
    }
    case X.session_ticket:
      e.sessionTicket = d.rest();
      break;
    default:
      return false;
  }
  d.expectEnd(`extension ${x.type}`);
  return true;
}

/**
 * The TLS 1.2 extensions among a ClientHello's uninterpreted ones (its `extensions.unknown`).
 * @throws DecodeError for a malformed body (decode_error).
 */
export function readClientHello12Extensions(unknown: readonly UnknownExtension[]): Tls12HelloExtensions {
  const e: { -readonly [K in keyof Tls12HelloExtensions]: Tls12HelloExtensions[K] } = {};
  for (const x of unknown) readTls12Extension(e, x);
  return e;
}

/**
 * The extensions of a TLS 1.2 ServerHello (all of them uninterpreted by `handshake.ts`, which reads only TLS 1.3
 * ServerHellos).
 * @throws DecodeError for a malformed body (decode_error; an ALPN answer with other than one name: illegal_parameter).
 */
export function readServerHello12Extensions(unknown: readonly UnknownExtension[]): ServerHello12Extensions {
  const e: { -readonly [K in keyof ServerHello12Extensions]: ServerHello12Extensions[K] } = { others: [] };
  const others: UnknownExtension[] = [];
  for (const x of unknown) {
    if (readTls12Extension(e, x)) continue;
    const d = new Reader(x.data);
    switch (x.type) {
      case X.server_name:
        e.serverNameAck = true;
        break;
      case X.application_layer_protocol_negotiation: {
        const list = d.sub16();
        const names: string[] = [];
        while (list.remaining > 0) {
          const n = list.vec8();
          checkLength(n.length, 1, 0xff, 'ProtocolName');
          names.push(String.fromCharCode(...n));
        }
        if (names.length !== 1) throw new DecodeError(`ALPN: server selected ${names.length} protocols`, AlertDescription.illegal_parameter);
        e.alpn = names[0]!;
        break;
      }
      case X.record_size_limit: {
        const v = d.u16();
        if (v < 64) throw new DecodeError(`record_size_limit ${v} is below 64`, AlertDescription.illegal_parameter);
        e.recordSizeLimit = v;
        break;
      }
      default:
        others.push(x);
        continue;
    }
    d.expectEnd(`extension ${x.type}`);
  }
  e.others = others;
  return e;
}

/** The TLS 1.2 hello extensions as uninterpreted extensions (for a hello's `extensions.unknown`), in this order. */
export function encodeTls12HelloExtensions(e: Tls12HelloExtensions): UnknownExtension[] {
  const out: UnknownExtension[] = [];
  if (e.renegotiationInfo) out.push({ type: X.renegotiation_info, data: encodeWith((w) => w.vec8(e.renegotiationInfo!)) });
  if (e.ecPointFormats) {
    encodeLength(e.ecPointFormats.length, 1, 0xff, 'ec_point_format_list');
    out.push({ type: X.ec_point_formats, data: Uint8Array.of(e.ecPointFormats.length, ...e.ecPointFormats) });
  }
  if (e.extendedMasterSecret) out.push({ type: X.extended_master_secret, data: new Uint8Array(0) });
  if (e.sessionTicket) out.push({ type: X.session_ticket, data: e.sessionTicket });
  return out;
}

/** ALPN, server_name acknowledgement and record_size_limit of a TLS 1.2 ServerHello, as uninterpreted extensions. */
export function encodeServerHello12Extras(e: { alpn?: string; serverNameAck?: boolean; recordSizeLimit?: number }): UnknownExtension[] {
  const out: UnknownExtension[] = [];
  if (e.serverNameAck) out.push({ type: X.server_name, data: new Uint8Array(0) });
  if (e.alpn !== undefined) {
    const name = Uint8Array.from(e.alpn, (c) => c.charCodeAt(0));
    encodeLength(name.length, 1, 0xff, 'ProtocolName');
    out.push({ type: X.application_layer_protocol_negotiation, data: encodeWith((w) => w.vec16((w) => w.vec8(name))) });
  }
  if (e.recordSizeLimit !== undefined) out.push({ type: X.record_size_limit, data: Uint8Array.of(e.recordSizeLimit >> 8, e.recordSizeLimit & 0xff) });
  return out;
}
