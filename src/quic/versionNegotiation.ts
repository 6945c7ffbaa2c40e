/**
 * Version negotiation (RFC 9000 §6, §17.2.1): the server's stateless answer to a long-header packet of a
 * version it does not speak, and the client's checks of one. Sans-IO and pure.
 */
import { encodeWith } from '../wire/writer.js';
import { QUIC_V1, type PacketHeader } from '../wire/quic/packet.js';
import { bytesEqual } from '../wire/bytes.js';

/** A reserved version of the form 0x?a?a?a?a (RFC 9000 §15), listed so that clients do not ossify on the list. */
export const GREASE_VERSION = 0x4a4a4a4a;
/** The versions we speak, in our order of preference. */
export const SUPPORTED_VERSIONS: readonly number[] = [QUIC_V1];
/** RFC 9000 §6.1, §14.1: only a datagram of 1200 bytes or more draws a Version Negotiation packet. */
export const MIN_VN_TRIGGER = 1200;

/**
 * A Version Negotiation packet (RFC 9000 §17.2.1): version 0, the client's connection IDs swapped, `versions`
 * (4 B each). `unused`: the seven low bits of the first byte (random in RFC 9000; 0 here by default).
 */
export function encodeVersionNegotiation(v: { readonly dcid: Uint8Array; readonly scid: Uint8Array; readonly versions: readonly number[]; readonly unused?: number }): Uint8Array {
  if (v.dcid.length > 255 || v.scid.length > 255) throw new RangeError('connection ID over 255 B');
  if (v.versions.length === 0) throw new RangeError('a Version Negotiation packet lists at least one version');
  return encodeWith((w) => {
    w.u8(0x80 | ((v.unused ?? 0) & 0x7f)).u32(0);
    w.u8(v.dcid.length).bytes(v.dcid).u8(v.scid.length).bytes(v.scid);
    for (const version of v.versions) w.u32(version >>> 0);
  });
}

/**
 * The server's answer to a datagram that opens with a long header of a version we do not speak (RFC 9000 §6.1):
 * a Version Negotiation packet listing {@link SUPPORTED_VERSIONS} and {@link GREASE_VERSION}, or `null` when
 * none is due — a short header, a version we speak, version 0 (never answer a Version Negotiation), a datagram
 * under 1200 bytes, a truncated header. Connection IDs of other versions may be up to 255 B (§17.2): echoed.
 * Nothing is kept: the packet is smaller than the datagram it answers.
 */
export function versionNegotiationFor(datagram: Uint8Array, unused = 0): Uint8Array | null {
  if (datagram.length < MIN_VN_TRIGGER || (datagram[0]! & 0x80) === 0) return null;
  const version = ((datagram[1]! << 24) | (datagram[2]! << 16) | (datagram[3]! << 8) | datagram[4]!) >>> 0;
  if (version === 0 || SUPPORTED_VERSIONS.includes(version)) return null;
  const dcidLength = datagram[5]!;
  const scidAt = 6 + dcidLength;
  if (scidAt >= datagram.length) return null;
  const scidLength = datagram[scidAt]!;
  if (scidAt + 1 + scidLength > datagram.length) return null;
  const dcid = datagram.subarray(6, scidAt);
  const scid = datagram.subarray(scidAt + 1, scidAt + 1 + scidLength);
  return encodeVersionNegotiation({ dcid: scid, scid: dcid, versions: [...SUPPORTED_VERSIONS, GREASE_VERSION], unused });
}

/** What a client does with a Version Negotiation packet (RFC 9000 §6.2). */
export type VersionNegotiationVerdict =
  /** Discard it: not for this attempt, or it lists the version we use. */
  | { readonly action: 'ignore' }
  /** Abandon the attempt: the server speaks none of our versions. */
  | { readonly action: 'fail'; readonly versions: readonly number[] };

/**
 * RFC 9000 §6.2: a client acts on a Version Negotiation packet only before it processed any other packet from
 * the server (`receivedAny`), only when its connection IDs echo ours (`scid` as DCID, our first `dcid` as SCID,
 * §17.2.1), and only when it does not list the version we use (`version`; a list with it is discarded).
 */
export function checkVersionNegotiation(
  header: Extract<PacketHeader, { form: 'versionNegotiation' }>,
  ours: { readonly scid: Uint8Array; readonly originalDcid: Uint8Array; readonly version: number; readonly receivedAny: boolean },
): VersionNegotiationVerdict {
  if (ours.receivedAny) return { action: 'ignore' };
  if (!bytesEqual(header.dcid, ours.scid) || !bytesEqual(header.scid, ours.originalDcid)) return { action: 'ignore' };
  if (header.versions.includes(ours.version)) return { action: 'ignore' };
  return { action: 'fail', versions: header.versions };
}
