/**
 * A minimal DER reader (ITU-T X.690 §8, §10): just what certificates, SubjectPublicKeyInfo (RFC 5280 §4.1.2.7)
 * and ECDSA signatures (RFC 3279 §2.2.3) need. Built on {@link Reader}: every malformed input throws
 * {@link DecodeError}. Only DER is accepted (definite, minimal lengths; minimal integers; low tag numbers).
 *
 * @example
 * const spki = decodeSpki(new Reader(spkiDer)); // { algorithm: '1.2.840.10045.2.1', parameters, publicKey }
 */
import { DecodeError, Reader } from './reader.js';

/** Universal tags used here (X.690 §8). Constructed forms carry bit 0x20. */
export const DerTag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;
export type DerTag = (typeof DerTag)[keyof typeof DerTag];

/** Context-specific constructed tag `[n]` (e.g. `[0]` = 0xa0, `[3]` = 0xa3). */
export function contextTag(n: number): number {
  return 0xa0 | n;
}

/** One TLV. `value` and `tlv` are views into the input (no copies); `tlv` includes the tag and length. */
export interface DerElement {
  readonly tag: number;
  readonly value: Uint8Array;
  readonly tlv: Uint8Array;
}

/** Lengths above this are refused (nothing in a TLS certificate path comes close: messages are < 2^24). */
const MAX_LENGTH_OCTETS = 3;

/** Read one TLV; if `expected` is given the tag must match. */
export function decodeDerElement(r: Reader, expected?: number): DerElement {
  const start = r.offset;
  const tag = r.u8();
  if ((tag & 0x1f) === 0x1f) throw new DecodeError('DER: high tag numbers are not supported');
  if (expected !== undefined && tag !== expected) {
    throw new DecodeError(`DER: expected tag 0x${hex(expected)}, got 0x${hex(tag)}`);
  }
  const first = r.u8();
  let len: number;
  if (first < 0x80) {
    len = first;
  } else {
    const n = first & 0x7f;
    // X.690 §10.1: DER uses the definite form with the minimum number of length octets.
    if (n === 0) throw new DecodeError('DER: indefinite length');
    if (n > MAX_LENGTH_OCTETS) throw new DecodeError('DER: length too large');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + r.u8();
    if (len < 0x80 || len < 256 ** (n - 1)) throw new DecodeError('DER: non-minimal length');
  }
  const headerLen = r.offset - start;
  const value = r.bytes(len);
  const tlv = new Uint8Array(value.buffer, value.byteOffset - headerLen, headerLen + len);
  return { tag, value, tlv };
}

/** A SEQUENCE (or any constructed `tag`) as a bounded sub-reader over its contents. */
export function decodeDerSequence(r: Reader, tag: number = DerTag.SEQUENCE): Reader {
  const { value } = decodeDerElement(r, tag);
  return new Reader(value);
}

/** Peek at the next tag without consuming it, or `undefined` at the end. */
export function peekDerTag(r: Reader): number | undefined {
  if (r.remaining === 0) return undefined;
  // Reader has no public peek: a zero-length view marks the cursor position in the shared buffer.
  const here = r.bytes(0);
  return new Uint8Array(here.buffer, here.byteOffset, 1)[0];
}

/** The content octets of a two's-complement INTEGER, checked minimal (X.690 §8.3.2). */
export function decodeDerIntegerBytes(r: Reader): Uint8Array {
  const { value } = decodeDerElement(r, DerTag.INTEGER);
  if (value.length === 0) throw new DecodeError('DER: empty INTEGER');
  if (value.length > 1) {
    const a = value[0]!;
    const b = value[1]!;
    if ((a === 0x00 && b < 0x80) || (a === 0xff && b >= 0x80)) throw new DecodeError('DER: non-minimal INTEGER');
  }
  return value;
}

/** A non-negative INTEGER as a bigint (negative values are rejected: keys and signatures never use them). */
export function decodeDerUnsigned(r: Reader): bigint {
  const v = decodeDerIntegerBytes(r);
  if (v[0]! & 0x80) throw new DecodeError('DER: negative INTEGER');
  return bytesToBigInt(v);
}

/** A small non-negative INTEGER as a number (e.g. a version or pathLenConstraint). */
export function decodeDerSmallInt(r: Reader): number {
  const v = decodeDerUnsigned(r);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError('DER: INTEGER too large');
  return Number(v);
}

/** A BOOLEAN (DER: 0x00 or 0xff only). */
export function decodeDerBoolean(r: Reader): boolean {
  const { value } = decodeDerElement(r, DerTag.BOOLEAN);
  if (value.length !== 1 || (value[0] !== 0 && value[0] !== 0xff)) throw new DecodeError('DER: bad BOOLEAN');
  return value[0] === 0xff;
}

/** A BIT STRING with no unused bits (keys, signatures): the bytes after the unused-bits octet. */
export function decodeDerBitString(r: Reader): Uint8Array {
  const { bytes, unusedBits } = decodeDerBits(r);
  if (unusedBits !== 0) throw new DecodeError('DER: BIT STRING with unused bits');
  return bytes;
}

/** A BIT STRING with its unused-bits count (e.g. keyUsage, RFC 5280 §4.2.1.3). */
export function decodeDerBits(r: Reader): { bytes: Uint8Array; unusedBits: number } {
  const { value } = decodeDerElement(r, DerTag.BIT_STRING);
  if (value.length === 0) throw new DecodeError('DER: empty BIT STRING');
  const unusedBits = value[0]!;
  if (unusedBits > 7 || (value.length === 1 && unusedBits !== 0)) throw new DecodeError('DER: bad BIT STRING');
  const bytes = value.subarray(1);
  // X.690 §11.2.1: unused bits are zero in DER.
  if (bytes.length > 0 && (bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) !== 0) {
    throw new DecodeError('DER: non-zero unused bits');
  }
  return { bytes, unusedBits };
}

/** An OCTET STRING's contents. */
export function decodeDerOctetString(r: Reader): Uint8Array {
  return decodeDerElement(r, DerTag.OCTET_STRING).value;
}

/** A NULL (empty contents). */
export function decodeDerNull(r: Reader): void {
  if (decodeDerElement(r, DerTag.NULL).value.length !== 0) throw new DecodeError('DER: non-empty NULL');
}

/** An OBJECT IDENTIFIER in dotted form (X.690 §8.19), e.g. `1.2.840.10045.2.1`. */
export function decodeDerOid(r: Reader): string {
  const { value } = decodeDerElement(r, DerTag.OID);
  if (value.length === 0) throw new DecodeError('DER: empty OID');
  const arcs: number[] = [];
  let acc = 0;
  let inArc = false;
  for (const b of value) {
    if (!inArc && b === 0x80) throw new DecodeError('DER: non-minimal OID arc');
    acc = acc * 128 + (b & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER) throw new DecodeError('DER: OID arc too large');
    inArc = (b & 0x80) !== 0;
    if (!inArc) {
      arcs.push(acc);
      acc = 0;
    }
  }
  if (inArc) throw new DecodeError('DER: truncated OID');
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** A UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5: `Z`, whole seconds) as milliseconds since the epoch. */
export function decodeDerTime(r: Reader): number {
  const { tag, value } = decodeDerElement(r);
  const s = String.fromCharCode(...value);
  let m: RegExpExecArray | null;
  let year: number;
  if (tag === DerTag.UTC_TIME && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, otherwise 20YY.
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (tag === DerTag.GENERALIZED_TIME && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    throw new DecodeError('DER: bad time');
  }
  const [mo, d, h, mi, sec] = [2, 3, 4, 5, 6].map((i) => Number(m![i]));
  // A date that does not exist (February 30, April 31) is no time: Date.UTC would roll it into the next month.
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysInMonth(year, mo!) || h! > 23 || mi! > 59 || sec! > 59) {
    throw new DecodeError('DER: time out of range');
  }
  return Date.UTC(year, mo! - 1, d!, h!, mi!, sec!);
}

/** Days in `month` (1..12) of `year` in the proleptic Gregorian calendar (ISO 8601, which X.680 times follow). */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** A decoded SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). */
export interface Spki {
  /** AlgorithmIdentifier.algorithm, dotted. */
  readonly algorithm: string;
  /** AlgorithmIdentifier.parameters as a TLV, if present (a curve OID for EC keys, NULL for RSA). */
  readonly parameters?: DerElement;
  /** subjectPublicKey BIT STRING contents. */
  readonly publicKey: Uint8Array;
}

/** Decode a SubjectPublicKeyInfo SEQUENCE. */
export function decodeSpki(r: Reader): Spki {
  const spki = decodeDerSequence(r);
  const alg = decodeDerSequence(spki);
  const algorithm = decodeDerOid(alg);
  const parameters = alg.remaining > 0 ? decodeDerElement(alg) : undefined;
  alg.expectEnd('AlgorithmIdentifier');
  const publicKey = decodeDerBitString(spki);
  spki.expectEnd('SubjectPublicKeyInfo');
  return parameters ? { algorithm, parameters, publicKey } : { algorithm, publicKey };
}

/** Decode a full SubjectPublicKeyInfo DER (no trailing bytes). */
export function parseSpki(der: Uint8Array): Spki {
  const r = new Reader(der);
  const spki = decodeSpki(r);
  r.expectEnd('SubjectPublicKeyInfo');
  return spki;
}

/** An ECDSA signature `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 §2.2.3), no trailing bytes. */
export function parseEcdsaSignature(der: Uint8Array): { r: bigint; s: bigint } {
  const outer = new Reader(der);
  const seq = decodeDerSequence(outer);
  outer.expectEnd('ECDSA signature');
  const rv = decodeDerUnsigned(seq);
  const sv = decodeDerUnsigned(seq);
  seq.expectEnd('ECDSA signature');
  return { r: rv, s: sv };
}

/** Big-endian unsigned bytes → bigint. */
export function bytesToBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** bigint → big-endian bytes of exactly `len` (I2OSP, RFC 8017 §4.1); throws if it does not fit. */
export function bigIntToBytes(v: bigint, len: number): Uint8Array {
  if (v < 0n) throw new RangeError('negative integer');
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new RangeError('integer too large');
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
