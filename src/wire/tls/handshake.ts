/**
 * TLS 1.3 handshake message codecs (RFC 8446 §4). One contract, as in rustls: `encodeX(writer, x)` writes exactly
 * what `decodeX(reader)` reads, and a full decode rejects trailing bytes ("recognise fully before processing").
 *
 * Decoding errors are {@link DecodeError}s carrying the alert to send: `decode_error` (50) for malformed bytes and
 * vector bounds, `illegal_parameter` (47) for well-formed but forbidden values (duplicate extension, an extension
 * in a message the RFC 8446 §4.2 table does not allow it in, …), `unexpected_message` (10) for an unknown
 * msg_type. Encoding a value the decoder would reject is API misuse and throws a `RangeError`.
 */
import { DecodeError, Reader } from '../reader.js';
import { encodeWith, type Writer } from '../writer.js';
import { AlertDescription, ExtensionType as X, HandshakeType, HRR_RANDOM, ProtocolVersion } from './constants.js';
import type {
  Certificate,
  CertificateEntry,
  CertificateRequest,
  CertificateVerify,
  ClientHello,
  ClientHelloExtensions,
  EncryptedExtensions,
  Finished,
  HandshakeMessage,
  KeyShareEntry,
  KeyUpdate,
  NewSessionTicket,
  OfferedPsks,
  PskIdentity,
  ServerHello,
  ServerHelloExtensions,
  UnknownExtension,
} from './messages.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const ILLEGAL_PARAMETER = AlertDescription.illegal_parameter;

// ---------------------------------------------------------------------------------------------------------------
// Extension contexts (RFC 8446 §4.2 table, RFC 8449 §4)

/** The message an extension block belongs to (the columns of the RFC 8446 §4.2 table). */
export type ExtensionContext =
  | 'client_hello'
  | 'server_hello'
  | 'hello_retry_request'
  | 'encrypted_extensions'
  | 'certificate_request'
  | 'certificate'
  | 'new_session_ticket';

const CH = 'client_hello';
const SH = 'server_hello';
const HRR = 'hello_retry_request';
const EE = 'encrypted_extensions';
const CR = 'certificate_request';
const CT = 'certificate';
const NST = 'new_session_ticket';

/** Where each recognised extension may appear. Code points not listed here are not restricted by the codec. */
const ALLOWED_IN: ReadonlyMap<number, readonly ExtensionContext[]> = new Map<number, readonly ExtensionContext[]>([
  [X.server_name, [CH, EE]],
  [X.max_fragment_length, [CH, EE]],
  [X.status_request, [CH, CR, CT]],
  [X.supported_groups, [CH, EE]],
  [X.signature_algorithms, [CH, CR]],
  [X.application_layer_protocol_negotiation, [CH, EE]],
  [X.signed_certificate_timestamp, [CH, CR, CT]],
  [X.padding, [CH]],
  [X.record_size_limit, [CH, EE]], // RFC 8449 §4
  [X.pre_shared_key, [CH, SH]],
  [X.early_data, [CH, EE, NST]],
  [X.supported_versions, [CH, SH, HRR]],
  [X.cookie, [CH, HRR]],
  [X.psk_key_exchange_modes, [CH]],
  [X.certificate_authorities, [CH, CR]],
  [X.oid_filters, [CR]],
  [X.post_handshake_auth, [CH]],
  [X.signature_algorithms_cert, [CH, CR]],
  [X.key_share, [CH, SH, HRR]],
]);

/**
 * Whether extension `type` may appear in `context` (RFC 8446 §4.2: a recognised extension in any other message
 * MUST be answered with `illegal_parameter`). Code points outside the table are unrestricted.
 */
export function extensionAllowedIn(type: number, context: ExtensionContext): boolean {
  const allowed = ALLOWED_IN.get(type);
  return allowed === undefined || allowed.includes(context);
}

const extensionNames = new Map<number, string>(Object.entries(X).map(([k, v]) => [v, k]));
function extName(type: number): string {
  return extensionNames.get(type) ?? `extension ${type}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Small read/write helpers with the RFC 8446 §3.4 vector bounds

function checkLength(len: number, min: number, max: number, what: string): void {
  if (len < min || len > max) throw new DecodeError(`${what}: ${len} bytes, allowed ${min}..${max}`);
}

function readBytes(r: Reader, prefix: 1 | 2 | 3, min: number, max: number, what: string): Uint8Array {
  const b = prefix === 1 ? r.vec8() : prefix === 2 ? r.vec16() : r.vec24();
  checkLength(b.length, min, max, what);
  return b;
}

function readU16Vector(r: Reader, prefix: 1 | 2, min: number, max: number, what: string): number[] {
  const v = prefix === 1 ? r.sub8() : r.sub16();
  checkLength(v.remaining, min, max, what);
  if (v.remaining % 2 !== 0) throw new DecodeError(`${what}: odd length ${v.remaining}`);
  const out: number[] = [];
  while (v.remaining > 0) out.push(v.u16());
  return out;
}

function isUint(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}

function u8(w: Writer, v: number, what: string): void {
  if (!isUint(v, 0xff)) throw new RangeError(`${what}: ${v} is not a u8`);
  w.u8(v);
}

function u16(w: Writer, v: number, what: string): void {
  if (!isUint(v, 0xffff)) throw new RangeError(`${what}: ${v} is not a u16`);
  w.u16(v);
}

function u32(w: Writer, v: number, what: string): void {
  if (!isUint(v, 0xffffffff)) throw new RangeError(`${what}: ${v} is not a u32`);
  w.u32(v);
}

function encodeLength(len: number, min: number, max: number, what: string): void {
  if (len < min || len > max) throw new RangeError(`${what}: ${len} bytes, allowed ${min}..${max}`);
}

function writeBytes(w: Writer, prefix: 1 | 2 | 3, b: Uint8Array, min: number, max: number, what: string): void {
  encodeLength(b.length, min, max, what);
  if (prefix === 1) w.vec8(b);
  else if (prefix === 2) w.vec16(b);
  else w.vec24(b);
}

function writeU16Vector(
  w: Writer,
  prefix: 1 | 2,
  list: readonly number[],
  min: number,
  max: number,
  what: string,
): void {
  encodeLength(list.length * 2, min, max, what);
  const body = (w: Writer): void => {
    for (const v of list) u16(w, v, what);
  };
  if (prefix === 1) w.vec8(body);
  else w.vec16(body);
}

function fixedBytes(w: Writer, b: Uint8Array, n: number, what: string): void {
  if (b.length !== n) throw new RangeError(`${what}: ${b.length} bytes, expected ${n}`);
  w.bytes(b);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Bytes to a string, one char per byte (lossless for ALPN names, which are opaque byte strings). */
function bytesToLatin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function latin1ToBytes(s: string, what: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`${what}: character U+${c.toString(16)} does not fit a byte`);
    out[i] = c;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Extension blocks

interface RawExtension {
  readonly type: number;
  readonly data: Reader;
}

/** Read `Extension extensions<min..max>`; a repeated extension type is `illegal_parameter` (RFC 8446 §4.2). */
function readExtensionBlock(r: Reader, what: string, min = 0, max = 0xffff): { exts: RawExtension[]; length: number } {
  const block = r.sub16();
  const length = block.remaining;
  checkLength(length, min, max, `${what} extensions`);
  const seen = new Set<number>();
  const exts: RawExtension[] = [];
  while (block.remaining > 0) {
    const type = block.u16();
    const data = block.sub16();
    // RFC 8446 §4.2: "There MUST NOT be more than one extension of the same type in a given extension block."
    if (seen.has(type)) throw new DecodeError(`duplicate ${extName(type)} in ${what}`, ILLEGAL_PARAMETER);
    seen.add(type);
    exts.push({ type, data });
  }
  return { exts, length };
}

/** RFC 8446 §4.2: a recognised extension in a message it is not specified for MUST abort with illegal_parameter. */
function checkContext(exts: readonly RawExtension[], context: ExtensionContext, what: string): void {
  for (const { type } of exts) {
    if (!extensionAllowedIn(type, context)) {
      throw new DecodeError(`${extName(type)} is not allowed in ${what}`, ILLEGAL_PARAMETER);
    }
  }
}

type ExtensionBody = (w: Writer) => void;

function opt<T>(v: T | undefined, write: (w: Writer, v: T) => void): ExtensionBody | undefined {
  return v === undefined ? undefined : (w) => write(w, v);
}

const empty: ExtensionBody = () => {};

/**
 * Write an extension block. `known` lists, in default order, every extension the decoder interprets in this
 * message (absent ones as `undefined`); `unknown` must use other code points. A non-empty `order` fixes the wire
 * order (it must list exactly the extensions present, as the decoder reports it); an empty one means the default
 * order followed by the unknown extensions. `last` is forced last (pre_shared_key, RFC 8446 §4.2.11).
 */
function writeExtensionBlock(
  w: Writer,
  what: string,
  context: ExtensionContext | undefined,
  known: ReadonlyArray<readonly [number, ExtensionBody | undefined]>,
  unknown: readonly UnknownExtension[],
  order: readonly number[],
  opts: { readonly min?: number; readonly max?: number; readonly last?: number } = {},
): void {
  const bodies = new Map<number, ExtensionBody>();
  for (const [type, body] of known) if (body !== undefined) bodies.set(type, body);
  const reserved = new Set(known.map(([type]) => type));
  for (const u of unknown) {
    if (!isUint(u.type, 0xffff)) throw new RangeError(`${what}: extension type ${u.type} is not a u16`);
    if (reserved.has(u.type)) {
      throw new RangeError(`${what}: ${extName(u.type)} must be given as its typed field, not as an unknown extension`);
    }
    if (bodies.has(u.type)) throw new RangeError(`${what}: duplicate ${extName(u.type)}`);
    if (context !== undefined && !extensionAllowedIn(u.type, context)) {
      throw new RangeError(`${what}: ${extName(u.type)} is not allowed here (RFC 8446 §4.2)`);
    }
    bodies.set(u.type, (w) => w.bytes(u.data));
  }
  const last = opts.last;
  let seq: readonly number[];
  if (order.length === 0) {
    const keys = [...bodies.keys()];
    seq = last !== undefined && bodies.has(last) ? [...keys.filter((t) => t !== last), last] : keys;
  } else {
    const distinct = new Set(order);
    if (distinct.size !== order.length || order.length !== bodies.size || !order.every((t) => bodies.has(t))) {
      throw new RangeError(
        `${what}: order [${order.join(',')}] does not list exactly the extensions present ` +
          `[${[...bodies.keys()].join(',')}]`,
      );
    }
    if (last !== undefined && bodies.has(last) && order[order.length - 1] !== last) {
      throw new RangeError(`${what}: ${extName(last)} must be the last extension`);
    }
    seq = order;
  }
  w.vec16((w) => {
    const start = w.length;
    for (const type of seq) {
      w.u16(type);
      w.vec16(bodies.get(type)!);
    }
    encodeLength(w.length - start, opts.min ?? 0, opts.max ?? 0xffff, `${what} extensions`);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Extension bodies

/** server_name in a ClientHello (RFC 6066 §3): exactly one host_name entry, an ASCII name of 1..2^16-1 bytes. */
function readServerNameList(d: Reader): string {
  const list = d.sub16();
  checkLength(list.remaining, 1, 0xffff, 'server_name_list');
  const nameType = list.u8();
  if (nameType !== 0) throw new DecodeError(`server_name: unsupported name type ${nameType}`);
  const name = readBytes(list, 2, 1, 0xffff, 'host_name');
  // RFC 6066 §3: at most one name per type, and host_name is the only type defined.
  list.expectEnd('server_name_list (one host_name only)');
  // RFC 6066 §3: a DNS hostname: printable ASCII only. No NUL, no byte above 0x7f, and no space or control
  // character either (a CR LF would reach logs and errors as it came: forged log lines).
  for (const c of name) if (c < 0x21 || c > 0x7e) throw new DecodeError('server_name: host_name is not a printable ASCII name');
  return bytesToLatin1(name);
}

function writeServerNameList(w: Writer, name: string): void {
  const bytes = latin1ToBytes(name, 'server_name');
  for (const c of bytes) if (c < 0x21 || c > 0x7e) throw new RangeError('server_name: host_name must be printable ASCII');
  w.vec16((w) => {
    w.u8(0); // host_name
    writeBytes(w, 2, bytes, 1, 0xffff, 'host_name');
  });
}

/** ProtocolNameList (RFC 7301 §3.1): `ProtocolName protocol_name_list<2..2^16-1>`, names `opaque <1..2^8-1>`. */
function readProtocolNameList(d: Reader): string[] {
  const list = d.sub16();
  checkLength(list.remaining, 2, 0xffff, 'protocol_name_list');
  const names: string[] = [];
  while (list.remaining > 0) names.push(bytesToLatin1(readBytes(list, 1, 1, 0xff, 'ProtocolName')));
  return names;
}

function writeProtocolNameList(w: Writer, names: readonly string[]): void {
  if (names.length === 0) throw new RangeError('ALPN: protocol_name_list must not be empty');
  w.vec16((w) => {
    for (const n of names) writeBytes(w, 1, latin1ToBytes(n, 'ALPN protocol name'), 1, 0xff, 'ALPN protocol name');
  });
}

function readKeyShareEntry(r: Reader): KeyShareEntry {
  const group = r.u16();
  const keyExchange = readBytes(r, 2, 1, 0xffff, 'key_exchange');
  return { group, keyExchange };
}

function writeKeyShareEntry(w: Writer, e: KeyShareEntry): void {
  u16(w, e.group, 'key_share group');
  writeBytes(w, 2, e.keyExchange, 1, 0xffff, 'key_exchange');
}

/** KeyShareClientHello (RFC 8446 §4.2.8): `KeyShareEntry client_shares<0..2^16-1>`, one share per group. */
function readClientShares(d: Reader): KeyShareEntry[] {
  const list = d.sub16();
  const shares: KeyShareEntry[] = [];
  const groups = new Set<number>();
  while (list.remaining > 0) {
    const e = readKeyShareEntry(list);
    // §4.2.8: "Clients MUST NOT offer multiple KeyShareEntry values for the same group" (servers MAY check).
    if (groups.has(e.group)) throw new DecodeError(`key_share: two shares for group ${e.group}`, ILLEGAL_PARAMETER);
    groups.add(e.group);
    shares.push(e);
  }
  return shares;
}

function writeClientShares(w: Writer, shares: readonly KeyShareEntry[]): void {
  if (new Set(shares.map((s) => s.group)).size !== shares.length) {
    throw new RangeError('key_share: one share per group (RFC 8446 §4.2.8)');
  }
  w.vec16((w) => {
    for (const s of shares) writeKeyShareEntry(w, s);
  });
}

/** OfferedPsks (RFC 8446 §4.2.11): identities<7..2^16-1>, binders<33..2^16-1> of `opaque <32..255>`, same count. */
function readOfferedPsks(d: Reader): OfferedPsks {
  const ids = d.sub16();
  checkLength(ids.remaining, 7, 0xffff, 'psk identities');
  const identities: PskIdentity[] = [];
  while (ids.remaining > 0) {
    const identity = readBytes(ids, 2, 1, 0xffff, 'psk identity');
    identities.push({ identity, obfuscatedTicketAge: ids.u32() });
  }
  const bs = d.sub16();
  checkLength(bs.remaining, 33, 0xffff, 'psk binders');
  const binders: Uint8Array[] = [];
  while (bs.remaining > 0) binders.push(readBytes(bs, 1, 32, 255, 'psk binder'));
  if (binders.length !== identities.length) {
    throw new DecodeError(
      `pre_shared_key: ${identities.length} identities but ${binders.length} binders`,
      ILLEGAL_PARAMETER,
    );
  }
  return { identities, binders };
}

function writeOfferedPsks(w: Writer, psks: OfferedPsks): void {
  if (psks.identities.length === 0) throw new RangeError('pre_shared_key: no identities');
  if (psks.binders.length !== psks.identities.length) {
    throw new RangeError('pre_shared_key: one binder per identity (RFC 8446 §4.2.11)');
  }
  w.vec16((w) => {
    for (const id of psks.identities) {
      writeBytes(w, 2, id.identity, 1, 0xffff, 'psk identity');
      u32(w, id.obfuscatedTicketAge, 'obfuscated_ticket_age');
    }
  });
  w.vec16((w) => {
    for (const b of psks.binders) writeBytes(w, 1, b, 32, 255, 'psk binder');
  });
}

/**
 * Bytes taken by the binders list at the very end of an encoded ClientHello carrying `psks` (RFC 8446 §4.2.11.2):
 * the 2-byte list length plus one length byte and the HMAC per binder. The partial ClientHello that the binders
 * authenticate is the encoding without these trailing bytes.
 *
 * @example pskBindersLength({ identities: [id], binders: [new Uint8Array(32)] }) // 35
 */
export function pskBindersLength(psks: OfferedPsks): number {
  let n = 2;
  for (const b of psks.binders) n += 1 + b.length;
  return n;
}

/** record_size_limit (RFC 8449 §4): a u16; values below 64 MUST be answered with illegal_parameter. */
function readRecordSizeLimit(d: Reader): number {
  const v = d.u16();
  if (v < 64) throw new DecodeError(`record_size_limit ${v} is below 64`, ILLEGAL_PARAMETER);
  return v;
}

function writeRecordSizeLimit(w: Writer, v: number): void {
  if (!isUint(v, 0xffff) || v < 64) throw new RangeError(`record_size_limit ${v} outside 64..65535`);
  w.u16(v);
}

function writePskModes(w: Writer, modes: readonly number[]): void {
  encodeLength(modes.length, 1, 0xff, 'psk_key_exchange_modes');
  w.vec8((w) => {
    for (const m of modes) u8(w, m, 'psk_key_exchange_mode');
  });
}

/** `DistinguishedName authorities<3..2^16-1>`, each `opaque DistinguishedName<1..2^16-1>` (RFC 8446 §4.2.4). */
function readAuthorities(d: Reader): Uint8Array[] {
  const list = d.sub16();
  checkLength(list.remaining, 3, 0xffff, 'certificate_authorities');
  const out: Uint8Array[] = [];
  while (list.remaining > 0) out.push(readBytes(list, 2, 1, 0xffff, 'DistinguishedName'));
  return out;
}

function writeAuthorities(w: Writer, names: readonly Uint8Array[]): void {
  if (names.length === 0) throw new RangeError('certificate_authorities must not be empty');
  w.vec16((w) => {
    for (const n of names) writeBytes(w, 2, n, 1, 0xffff, 'DistinguishedName');
  });
}

const writeSignatureSchemes = (w: Writer, list: readonly number[]): void =>
  writeU16Vector(w, 2, list, 2, 0xfffe, 'signature scheme list');
const readSignatureSchemes = (d: Reader): number[] => readU16Vector(d, 2, 2, 0xfffe, 'signature scheme list');
const writeNamedGroups = (w: Writer, list: readonly number[]): void =>
  writeU16Vector(w, 2, list, 2, 0xfffe, 'named_group_list');
const readNamedGroups = (d: Reader): number[] => readU16Vector(d, 2, 2, 0xfffe, 'named_group_list');
const writeCookie = (w: Writer, c: Uint8Array): void => writeBytes(w, 2, c, 1, 0xffff, 'cookie');
const readCookie = (d: Reader): Uint8Array => readBytes(d, 2, 1, 0xffff, 'cookie');

// ---------------------------------------------------------------------------------------------------------------
// ClientHello (RFC 8446 §4.1.2; RFC 9147 §5.3 for DTLS 1.3)

/**
 * Which wire form of the hello messages: `'tls'` (RFC 8446) or `'dtls'` (RFC 9147 §5.3: the ClientHello carries
 * `opaque legacy_cookie<0..2^8-1>` after legacy_session_id, and legacy_version defaults to 0xfefd, DTLS 1.2).
 * Every other handshake message has one form for both.
 */
export type HelloFormat = 'tls' | 'dtls';

function decodeClientHello(r: Reader, format: HelloFormat): ClientHello {
  const legacyVersion = r.u16();
  const random = r.bytes(32);
  const legacySessionId = readBytes(r, 1, 0, 32, 'legacy_session_id');
  const dtls = format === 'dtls' ? { legacyCookie: readBytes(r, 1, 0, 0xff, 'legacy_cookie') } : {};
  const cipherSuites = readU16Vector(r, 2, 2, 0xfffe, 'cipher_suites');
  const legacyCompressionMethods = readBytes(r, 1, 1, 0xff, 'legacy_compression_methods');
  // §4.1.2: a ClientHello without extensions comes from TLS 1.2 or older (RFC 5246 §7.4.1.2 allows it): no
  // supported_versions, so the server decides (protocol_version when it speaks TLS 1.3 only).
  if (r.remaining === 0) return { legacyVersion, random, legacySessionId, ...dtls, cipherSuites, legacyCompressionMethods, extensions: { unknown: [], order: [] } };
  const { exts, length } = readExtensionBlock(r, 'ClientHello');
  checkContext(exts, CH, 'ClientHello');
  const unknown: UnknownExtension[] = [];
  const order: number[] = [];
  const e: Mutable<ClientHelloExtensions> = { unknown, order };
  for (const { type, data: d } of exts) {
    order.push(type);
    switch (type) {
      case X.server_name:
        e.serverName = readServerNameList(d);
        break;
      case X.supported_groups:
        e.supportedGroups = readNamedGroups(d);
        break;
      case X.signature_algorithms:
        e.signatureAlgorithms = readSignatureSchemes(d);
        break;
      case X.signature_algorithms_cert:
        e.signatureAlgorithmsCert = readSignatureSchemes(d);
        break;
      case X.application_layer_protocol_negotiation:
        e.alpn = readProtocolNameList(d);
        break;
      case X.record_size_limit:
        e.recordSizeLimit = readRecordSizeLimit(d);
        break;
      case X.supported_versions:
        e.supportedVersions = readU16Vector(d, 1, 2, 254, 'supported_versions');
        break;
      case X.cookie:
        e.cookie = readCookie(d);
        break;
      case X.psk_key_exchange_modes:
        e.pskKeyExchangeModes = Array.from(readBytes(d, 1, 1, 0xff, 'psk_key_exchange_modes'));
        break;
      case X.key_share:
        e.keyShares = readClientShares(d);
        break;
      case X.early_data:
        e.earlyData = true;
        break;
      case X.post_handshake_auth:
        e.postHandshakeAuth = true;
        break;
      case X.pre_shared_key:
        e.preSharedKey = readOfferedPsks(d);
        break;
      default:
        unknown.push({ type, data: d.rest() });
    }
    d.expectEnd(extName(type));
  }
  // `Extension extensions<8..2^16-1>` binds TLS 1.3 ClientHellos; older ones (no supported_versions) are left
  // for the protocol layer to refuse with protocol_version.
  if (e.supportedVersions !== undefined) checkLength(length, 8, 0xffff, 'ClientHello extensions');
  // §4.2.11: pre_shared_key MUST be last; servers MUST check and otherwise abort with illegal_parameter.
  if (e.preSharedKey !== undefined && order[order.length - 1] !== X.pre_shared_key) {
    throw new DecodeError('pre_shared_key is not the last ClientHello extension', ILLEGAL_PARAMETER);
  }
  return { legacyVersion, random, legacySessionId, ...dtls, cipherSuites, legacyCompressionMethods, extensions: e };
}

function encodeClientHello(w: Writer, ch: ClientHello, format: HelloFormat): void {
  const dtls = format === 'dtls';
  if (!dtls && ch.legacyCookie !== undefined) throw new RangeError('ClientHello: legacy_cookie exists only in DTLS');
  u16(w, ch.legacyVersion ?? (dtls ? ProtocolVersion.DTLS1_2 : ProtocolVersion.TLS1_2), 'legacy_version');
  fixedBytes(w, ch.random, 32, 'random');
  writeBytes(w, 1, ch.legacySessionId, 0, 32, 'legacy_session_id');
  if (dtls) writeBytes(w, 1, ch.legacyCookie ?? new Uint8Array(0), 0, 0xff, 'legacy_cookie');
  writeU16Vector(w, 2, ch.cipherSuites, 2, 0xfffe, 'cipher_suites');
  writeBytes(w, 1, ch.legacyCompressionMethods, 1, 0xff, 'legacy_compression_methods');
  const e = ch.extensions;
  writeExtensionBlock(
    w,
    'ClientHello',
    CH,
    [
      [X.server_name, opt(e.serverName, writeServerNameList)],
      [X.supported_groups, opt(e.supportedGroups, writeNamedGroups)],
      [X.signature_algorithms, opt(e.signatureAlgorithms, writeSignatureSchemes)],
      [X.signature_algorithms_cert, opt(e.signatureAlgorithmsCert, writeSignatureSchemes)],
      [X.application_layer_protocol_negotiation, opt(e.alpn, writeProtocolNameList)],
      [X.record_size_limit, opt(e.recordSizeLimit, writeRecordSizeLimit)],
      [X.supported_versions, opt(e.supportedVersions, (w, v) => writeU16Vector(w, 1, v, 2, 254, 'supported_versions'))],
      [X.cookie, opt(e.cookie, writeCookie)],
      [X.psk_key_exchange_modes, opt(e.pskKeyExchangeModes, writePskModes)],
      [X.key_share, opt(e.keyShares, writeClientShares)],
      [X.early_data, e.earlyData ? empty : undefined],
      [X.post_handshake_auth, e.postHandshakeAuth ? empty : undefined],
      [X.pre_shared_key, opt(e.preSharedKey, writeOfferedPsks)],
    ],
    e.unknown,
    e.order,
    { min: e.supportedVersions !== undefined ? 8 : 0, last: X.pre_shared_key },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// ServerHello and HelloRetryRequest (RFC 8446 §4.1.3, §4.1.4)

function decodeServerHello(r: Reader): ServerHello {
  const legacyVersion = r.u16();
  const random = r.bytes(32);
  const legacySessionIdEcho = readBytes(r, 1, 0, 32, 'legacy_session_id_echo');
  const cipherSuite = r.u16();
  const legacyCompressionMethod = r.u8();
  // RFC 5246 §7.4.1.3: a TLS 1.2-or-older ServerHello may end here. It has no supported_versions, so the
  // protocol layer decides (protocol_version for a TLS 1.3-only client; the TLS 1.2 client's own checks).
  if (r.remaining === 0) return { legacyVersion, random, legacySessionIdEcho, cipherSuite, legacyCompressionMethod, extensions: { unknown: [], order: [] } };
  const hrr = equalBytes(random, HRR_RANDOM);
  const what = hrr ? 'HelloRetryRequest' : 'ServerHello';
  const { exts } = readExtensionBlock(r, what);
  // Without supported_versions this is a TLS 1.2-or-older ServerHello (§4.2.1): keep its extensions opaque so the
  // protocol layer reports protocol_version rather than tripping over TLS 1.2 extensions here.
  const tls13 = exts.some((x) => x.type === X.supported_versions);
  if (tls13) checkContext(exts, hrr ? HRR : SH, what);
  const unknown: UnknownExtension[] = [];
  const order: number[] = [];
  const e: Mutable<ServerHelloExtensions> = { unknown, order };
  for (const { type, data: d } of exts) {
    order.push(type);
    switch (tls13 ? type : -1) {
      case X.supported_versions:
        e.supportedVersion = d.u16();
        break;
      case X.key_share:
        if (hrr) e.selectedGroup = d.u16();
        else e.keyShare = readKeyShareEntry(d);
        break;
      case X.pre_shared_key: // ServerHello only (checked above)
        e.preSharedKey = d.u16();
        break;
      case X.cookie: // HelloRetryRequest only (checked above)
        e.cookie = readCookie(d);
        break;
      default:
        unknown.push({ type, data: d.rest() });
    }
    d.expectEnd(extName(type));
  }
  return { legacyVersion, random, legacySessionIdEcho, cipherSuite, legacyCompressionMethod, extensions: e };
}

function encodeServerHello(w: Writer, sh: ServerHello): void {
  const hrr = equalBytes(sh.random, HRR_RANDOM);
  const what = hrr ? 'HelloRetryRequest' : 'ServerHello';
  const e = sh.extensions;
  u16(w, sh.legacyVersion ?? ProtocolVersion.TLS1_2, 'legacy_version');
  fixedBytes(w, sh.random, 32, 'random');
  writeBytes(w, 1, sh.legacySessionIdEcho, 0, 32, 'legacy_session_id_echo');
  u16(w, sh.cipherSuite, 'cipher_suite');
  u8(w, sh.legacyCompressionMethod, 'legacy_compression_method');
  const sv = opt(e.supportedVersion, (w, v) => u16(w, v, 'selected_version'));
  if (e.supportedVersion === undefined) {
    if (e.keyShare || e.selectedGroup !== undefined || e.preSharedKey !== undefined || e.cookie) {
      throw new RangeError(`${what}: TLS 1.3 extensions need supported_versions`);
    }
    writeExtensionBlock(w, what, undefined, [[X.supported_versions, undefined]], e.unknown, e.order);
  } else if (hrr) {
    if (e.keyShare !== undefined || e.preSharedKey !== undefined) {
      throw new RangeError('HelloRetryRequest: key_share carries selectedGroup only; pre_shared_key is not allowed');
    }
    writeExtensionBlock(
      w,
      what,
      HRR,
      [
        [X.supported_versions, sv],
        [X.key_share, opt(e.selectedGroup, (w, g) => u16(w, g, 'selected_group'))],
        [X.cookie, opt(e.cookie, writeCookie)],
      ],
      e.unknown,
      e.order,
    );
  } else {
    if (e.selectedGroup !== undefined || e.cookie !== undefined) {
      throw new RangeError('ServerHello: selectedGroup and cookie belong to a HelloRetryRequest');
    }
    writeExtensionBlock(
      w,
      what,
      SH,
      [
        [X.supported_versions, sv],
        [X.key_share, opt(e.keyShare, writeKeyShareEntry)],
        [X.pre_shared_key, opt(e.preSharedKey, (w, i) => u16(w, i, 'selected_identity'))],
      ],
      e.unknown,
      e.order,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// EncryptedExtensions (RFC 8446 §4.3.1)

function decodeEncryptedExtensions(r: Reader): EncryptedExtensions {
  const { exts } = readExtensionBlock(r, 'EncryptedExtensions');
  checkContext(exts, EE, 'EncryptedExtensions');
  const unknown: UnknownExtension[] = [];
  const order: number[] = [];
  const e: Mutable<EncryptedExtensions> = { unknown, order };
  for (const { type, data: d } of exts) {
    order.push(type);
    switch (type) {
      case X.server_name: // RFC 6066 §3: the server's acknowledgement has empty extension_data
        e.serverNameAck = true;
        break;
      case X.application_layer_protocol_negotiation: {
        const names = readProtocolNameList(d);
        // RFC 7301 §3.1: the server's ProtocolNameList MUST contain exactly one ProtocolName.
        if (names.length !== 1) {
          throw new DecodeError(`ALPN: server selected ${names.length} protocols`, ILLEGAL_PARAMETER);
        }
        e.alpn = names[0]!;
        break;
      }
      case X.supported_groups:
        e.supportedGroups = readNamedGroups(d);
        break;
      case X.early_data:
        e.earlyData = true;
        break;
      case X.record_size_limit:
        e.recordSizeLimit = readRecordSizeLimit(d);
        break;
      default:
        unknown.push({ type, data: d.rest() });
    }
    d.expectEnd(extName(type));
  }
  return e;
}

function encodeEncryptedExtensions(w: Writer, ee: EncryptedExtensions): void {
  writeExtensionBlock(
    w,
    'EncryptedExtensions',
    EE,
    [
      [X.server_name, ee.serverNameAck ? empty : undefined],
      [X.supported_groups, opt(ee.supportedGroups, writeNamedGroups)],
      [X.application_layer_protocol_negotiation, opt(ee.alpn, (w, n) => writeProtocolNameList(w, [n]))],
      [X.record_size_limit, opt(ee.recordSizeLimit, writeRecordSizeLimit)],
      [X.early_data, ee.earlyData ? empty : undefined],
    ],
    ee.unknown,
    ee.order,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// CertificateRequest (RFC 8446 §4.3.2)

function decodeCertificateRequest(r: Reader): CertificateRequest {
  const context = readBytes(r, 1, 0, 0xff, 'certificate_request_context');
  const { exts } = readExtensionBlock(r, 'CertificateRequest', 2);
  checkContext(exts, CR, 'CertificateRequest');
  const unknown: UnknownExtension[] = [];
  const order: number[] = [];
  let signatureAlgorithms: number[] | undefined;
  const rest: { signatureAlgorithmsCert?: number[]; certificateAuthorities?: Uint8Array[] } = {};
  for (const { type, data: d } of exts) {
    order.push(type);
    switch (type) {
      case X.signature_algorithms:
        signatureAlgorithms = readSignatureSchemes(d);
        break;
      case X.signature_algorithms_cert:
        rest.signatureAlgorithmsCert = readSignatureSchemes(d);
        break;
      case X.certificate_authorities:
        rest.certificateAuthorities = readAuthorities(d);
        break;
      default:
        unknown.push({ type, data: d.rest() });
    }
    d.expectEnd(extName(type));
  }
  // §4.3.2: "The "signature_algorithms" extension MUST be specified".
  if (signatureAlgorithms === undefined) {
    throw new DecodeError('CertificateRequest without signature_algorithms', AlertDescription.missing_extension);
  }
  return { context, signatureAlgorithms, ...rest, unknown, order };
}

function encodeCertificateRequest(w: Writer, cr: CertificateRequest): void {
  writeBytes(w, 1, cr.context, 0, 0xff, 'certificate_request_context');
  writeExtensionBlock(
    w,
    'CertificateRequest',
    CR,
    [
      [X.signature_algorithms, (w) => writeSignatureSchemes(w, cr.signatureAlgorithms)],
      [X.signature_algorithms_cert, opt(cr.signatureAlgorithmsCert, writeSignatureSchemes)],
      [X.certificate_authorities, opt(cr.certificateAuthorities, writeAuthorities)],
    ],
    cr.unknown,
    cr.order,
    { min: 2 },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Certificate, CertificateVerify, Finished (RFC 8446 §4.4)

function decodeCertificate(r: Reader): Certificate {
  const context = readBytes(r, 1, 0, 0xff, 'certificate_request_context');
  const list = r.sub24();
  const entries: CertificateEntry[] = [];
  while (list.remaining > 0) {
    const cert = readBytes(list, 3, 1, 0xffffff, 'cert_data');
    const { exts } = readExtensionBlock(list, 'CertificateEntry');
    checkContext(exts, CT, 'CertificateEntry');
    entries.push({ cert, extensions: exts.map(({ type, data }) => ({ type, data: data.rest() })) });
  }
  return { context, entries };
}

function encodeCertificate(w: Writer, c: Certificate): void {
  writeBytes(w, 1, c.context, 0, 0xff, 'certificate_request_context');
  w.vec24((w) => {
    for (const entry of c.entries) {
      writeBytes(w, 3, entry.cert, 1, 0xffffff, 'cert_data');
      writeExtensionBlock(w, 'CertificateEntry', CT, [], entry.extensions, []);
    }
  });
}

function decodeCertificateVerify(r: Reader): CertificateVerify {
  const scheme = r.u16();
  const signature = readBytes(r, 2, 0, 0xffff, 'signature');
  return { scheme, signature };
}

function encodeCertificateVerify(w: Writer, cv: CertificateVerify): void {
  u16(w, cv.scheme, 'signature scheme');
  writeBytes(w, 2, cv.signature, 0, 0xffff, 'signature');
}

/** verify_data is `Hash.length` bytes (§4.4.4); only the protocol layer knows the hash, so any non-empty length. */
function decodeFinished(r: Reader): Finished {
  const verifyData = r.rest();
  if (verifyData.length === 0) throw new DecodeError('Finished with empty verify_data');
  return { verifyData };
}

function encodeFinished(w: Writer, f: Finished): void {
  if (f.verifyData.length === 0) throw new RangeError('Finished: empty verify_data');
  w.bytes(f.verifyData);
}

// ---------------------------------------------------------------------------------------------------------------
// Post-handshake messages (RFC 8446 §4.6)

function decodeNewSessionTicket(r: Reader): NewSessionTicket {
  const lifetime = r.u32();
  const ageAdd = r.u32();
  const nonce = readBytes(r, 1, 0, 0xff, 'ticket_nonce');
  const ticket = readBytes(r, 2, 1, 0xffff, 'ticket');
  const { exts } = readExtensionBlock(r, 'NewSessionTicket', 0, 0xfffe);
  checkContext(exts, NST, 'NewSessionTicket');
  const unknown: UnknownExtension[] = [];
  const t: Mutable<NewSessionTicket> = { lifetime, ageAdd, nonce, ticket, unknown };
  for (const { type, data: d } of exts) {
    if (type === X.early_data) t.maxEarlyDataSize = d.u32();
    else unknown.push({ type, data: d.rest() });
    d.expectEnd(extName(type));
  }
  return t;
}

function encodeNewSessionTicket(w: Writer, t: NewSessionTicket): void {
  u32(w, t.lifetime, 'ticket_lifetime');
  u32(w, t.ageAdd, 'ticket_age_add');
  writeBytes(w, 1, t.nonce, 0, 0xff, 'ticket_nonce');
  writeBytes(w, 2, t.ticket, 1, 0xffff, 'ticket');
  writeExtensionBlock(
    w,
    'NewSessionTicket',
    NST,
    [[X.early_data, opt(t.maxEarlyDataSize, (w, v) => u32(w, v, 'max_early_data_size'))]],
    t.unknown,
    [],
    { max: 0xfffe },
  );
}

function decodeKeyUpdate(r: Reader): KeyUpdate {
  const v = r.u8();
  // §4.6.3: any value other than 0 or 1 MUST be answered with illegal_parameter.
  if (v !== 0 && v !== 1) throw new DecodeError(`KeyUpdate request_update ${v}`, ILLEGAL_PARAMETER);
  return { requestUpdate: v };
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

/**
 * Decode a handshake message body (RFC 8446 §4), *without* its 4-byte header: the caller deframes and keeps the
 * raw bytes for the transcript. The whole body must be consumed.
 *
 * A ServerHello whose random is `HRR_RANDOM` is a HelloRetryRequest: its key_share is read as `selectedGroup`.
 * A DTLS 1.3 message comes here in the same form, its 12-byte header reduced to the TLS one (RFC 9147 §5.2);
 * only the ClientHello body differs, `format` says which it is.
 *
 * @param msgType the header's msg_type (`HandshakeType`)
 * @param format `'dtls'` reads a ClientHello's legacy_cookie (RFC 9147 §5.3); default `'tls'`
 * @throws DecodeError with `alert` 50 (malformed), 47 (forbidden value), 109 (CertificateRequest without
 *   signature_algorithms), 70 (a hello without extensions) or 10 (unknown or never-sent msg_type).
 * @example decodeHandshakeBody(HandshakeType.finished, verifyData) // { type: 'finished', body: { verifyData } }
 */
export function decodeHandshakeBody(msgType: number, body: Uint8Array, format: HelloFormat = 'tls'): HandshakeMessage {
  const r = new Reader(body);
  let msg: HandshakeMessage;
  switch (msgType) {
    case HandshakeType.client_hello:
      msg = { type: 'client_hello', body: decodeClientHello(r, format) };
      break;
    case HandshakeType.server_hello:
      msg = { type: 'server_hello', body: decodeServerHello(r) };
      break;
    case HandshakeType.new_session_ticket:
      msg = { type: 'new_session_ticket', body: decodeNewSessionTicket(r) };
      break;
    case HandshakeType.end_of_early_data:
      msg = { type: 'end_of_early_data' };
      break;
    case HandshakeType.encrypted_extensions:
      msg = { type: 'encrypted_extensions', body: decodeEncryptedExtensions(r) };
      break;
    case HandshakeType.certificate:
      msg = { type: 'certificate', body: decodeCertificate(r) };
      break;
    case HandshakeType.certificate_request:
      msg = { type: 'certificate_request', body: decodeCertificateRequest(r) };
      break;
    case HandshakeType.certificate_verify:
      msg = { type: 'certificate_verify', body: decodeCertificateVerify(r) };
      break;
    case HandshakeType.finished:
      msg = { type: 'finished', body: decodeFinished(r) };
      break;
    case HandshakeType.key_update:
      msg = { type: 'key_update', body: decodeKeyUpdate(r) };
      break;
    default:
      // Includes message_hash (254), which only ever exists inside the transcript (§4.4.1).
      throw new DecodeError(`unexpected handshake message type ${msgType}`, AlertDescription.unexpected_message);
  }
  r.expectEnd(msg.type);
  return msg;
}

/**
 * Decode one complete handshake message, header included (msg_type u8, length u24, body): a convenience over
 * {@link decodeHandshakeBody} for a buffer holding exactly one message.
 */
export function decodeHandshakeBytes(data: Uint8Array, format: HelloFormat = 'tls'): HandshakeMessage {
  const r = new Reader(data);
  const msgType = r.u8();
  const body = r.vec24();
  r.expectEnd('handshake message');
  return decodeHandshakeBody(msgType, body, format);
}

/**
 * Encode a handshake message with its 4-byte header (RFC 8446 §4: msg_type u8, length u24) into `w`.
 * Extension blocks follow `order` when it is non-empty, else a fixed default order; a ClientHello always ends with
 * pre_shared_key (§4.2.11), whose binders are the last {@link pskBindersLength} bytes. With `format` `'dtls'` a
 * ClientHello is written in its DTLS 1.3 form (RFC 9147 §5.3), still behind the 4-byte header: the form the
 * transcript hashes (RFC 9147 §5.2) and the DTLS layer fragments.
 *
 * @throws RangeError for a value the decoder would reject (API misuse), or a legacy_cookie in `'tls'` form.
 */
export function encodeHandshake(w: Writer, msg: HandshakeMessage, format: HelloFormat = 'tls'): void {
  w.u8(HandshakeType[msg.type]);
  w.vec24((w) => encodeHandshakeBody(w, msg, format));
}

/** {@link encodeHandshake} into a fresh buffer. */
export function encodeHandshakeBytes(msg: HandshakeMessage, format: HelloFormat = 'tls'): Uint8Array {
  return encodeWith((w) => encodeHandshake(w, msg, format));
}

function encodeHandshakeBody(w: Writer, msg: HandshakeMessage, format: HelloFormat): void {
  switch (msg.type) {
    case 'client_hello':
      return encodeClientHello(w, msg.body, format);
    case 'server_hello':
      return encodeServerHello(w, msg.body);
    case 'new_session_ticket':
      return encodeNewSessionTicket(w, msg.body);
    case 'end_of_early_data':
      return;
    case 'encrypted_extensions':
      return encodeEncryptedExtensions(w, msg.body);
    case 'certificate':
      return encodeCertificate(w, msg.body);
    case 'certificate_request':
      return encodeCertificateRequest(w, msg.body);
    case 'certificate_verify':
      return encodeCertificateVerify(w, msg.body);
    case 'finished':
      return encodeFinished(w, msg.body);
    case 'key_update':
      if (msg.body.requestUpdate !== 0 && msg.body.requestUpdate !== 1) {
        throw new RangeError(`KeyUpdate request_update ${String(msg.body.requestUpdate)}`);
      }
      w.u8(msg.body.requestUpdate);
      return;
    default: {
      const never: never = msg;
      throw new RangeError(`unknown handshake message ${JSON.stringify(never)}`);
    }
  }
}
