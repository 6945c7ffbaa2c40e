/**
 * The server's check of a client's first Initial (RFC 9000 §7.2, §14.1; RFC 9001 §5.2, §5.5), before anything
 * is allocated for a connection: the version, the packet type, the datagram size, the Destination Connection
 * ID length, then header protection and AEAD under the Initial keys that DCID gives. Sans-IO and pure: a
 * listener calls {@link checkClientInitial} per datagram for an unknown DCID, the connection reducer
 * {@link openClientInitial} on its first packet, and neither keeps anything of a datagram that fails.
 *
 * The Initial keys are public, so passing is no proof of who sent it — only that it is a well-formed QUIC v1
 * Initial, which bounds the cost of garbage to one key derivation and one AEAD open per datagram. The number
 * of connections in the handshake is bounded by the listener (`maxHandshakingConnections` in `src/rx/quic.ts`).
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { decodeFrames } from '../wire/quic/frames.js';
import { decodePacketHeader, type PacketHeader } from '../wire/quic/packet.js';
import { initialKeys, unprotectPacket, type InitialKeys, type UnprotectedPacket } from './protection.js';

/** RFC 9000 §14.1: a server drops a client's Initial in a UDP datagram smaller than 1200 bytes. */
export const MIN_INITIAL_DATAGRAM = 1200;
/** RFC 9000 §7.2: the DCID of a client's first Initial is at least 8 bytes. */
export const MIN_INITIAL_DCID = 8;

/** Why a datagram does not open a connection. */
export type InitialRejection =
  /** Not a QUIC v1 long-header packet (a version we do not speak, a short header, undecodable). */
  | 'notQuicV1'
  /** A long header, but not an Initial. */
  | 'notInitial'
  /** RFC 9000 §14.1: the datagram is under 1200 bytes. */
  | 'shortDatagram'
  /** RFC 9000 §7.2: the DCID is under 8 bytes. */
  | 'shortDcid'
  /** RFC 9001 §5.5: header protection or the AEAD failed under the Initial keys of its DCID. */
  | 'undecryptable'
  /** It decrypts, but its frames do not decode or carry no CRYPTO data (a first Initial carries the ClientHello). */
  | 'noClientHello';

/** A client's first Initial, opened: its connection IDs, the Initial keys, and the packet. */
export interface OpenedInitial {
  readonly ok: true;
  /** The client's DCID (it seeds the Initial keys) and SCID (our DCID from now on). */
  readonly dcid: Uint8Array;
  readonly scid: Uint8Array;
  readonly keys: InitialKeys;
  readonly packet: UnprotectedPacket;
}

export type InitialCheck = OpenedInitial | { readonly ok: false; readonly reason: InitialRejection };

type LongHeader = Extract<PacketHeader, { form: 'long' }>;

/**
 * Open the first packet of a client's datagram, whose header is already decoded: `header` starts at
 * `datagram[start]`. The checks of this module, in order of cost.
 */
export function openClientInitial(p: CryptoProvider, datagram: Uint8Array, start: number, header: LongHeader): InitialCheck {
  if (header.type !== 'initial') return { ok: false, reason: 'notInitial' };
  if (datagram.length < MIN_INITIAL_DATAGRAM) return { ok: false, reason: 'shortDatagram' };
  if (header.dcid.length < MIN_INITIAL_DCID) return { ok: false, reason: 'shortDcid' };
  const keys = initialKeys(p, header.dcid);
  const packet = unprotectPacket(p, keys.client, datagram.subarray(start, header.end), header.pnOffset - start, -1);
  if (!packet) return { ok: false, reason: 'undecryptable' };
  try {
    if (!decodeFrames(packet.payload, 'initial').some((f) => f.type === 'crypto')) return { ok: false, reason: 'noClientHello' };
  } catch {
    return { ok: false, reason: 'noClientHello' };
  }
  return { ok: true, dcid: header.dcid.slice(), scid: header.scid.slice(), keys, packet };
}

/**
 * Whether `datagram` (from an address and DCID we have no connection for) may open one: a QUIC v1 Initial in
 * a datagram of at least 1200 bytes, a DCID of at least 8 bytes, that decrypts under its Initial keys and
 * carries CRYPTO data. Never throws.
 *
 * @example
 * ```ts
 * const check = checkClientInitial(provider, datagram);
 * if (!check.ok) return stats.dropped++; // nothing allocated
 * ```
 */
export function checkClientInitial(p: CryptoProvider, datagram: Uint8Array): InitialCheck {
  let header: PacketHeader;
  try {
    header = decodePacketHeader(datagram, 0, MIN_INITIAL_DCID);
  } catch {
    return { ok: false, reason: 'notQuicV1' };
  }
  if (header.form !== 'long') return { ok: false, reason: 'notQuicV1' };
  return openClientInitial(p, datagram, 0, header);
}
