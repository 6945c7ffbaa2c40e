/**
 * QUIC v1 packet protection (RFC 9001 §5): Initial secrets from the client's Destination Connection ID,
 * packet keys from a TLS secret, AEAD protection of the payload, header protection of the first byte and the
 * packet number, and the Retry Integrity Tag. Sans-IO and synchronous, through a {@link CryptoProvider} that
 * offers `headerProtection` (the noble and node:crypto providers do).
 *
 * This is the cryptographic layer of QUIC only: connections, streams and loss recovery build on it.
 */
import { hkdfExpandLabel } from '../crypto/keySchedule.js';
import { AEAD_KEY_LENGTH, type Aead, type AeadAlg, type CryptoProvider, type HashAlg } from '../crypto/provider.js';
import { decodePacketNumber } from '../wire/quic/packet.js';

/** RFC 9001 §5.2: the QUIC v1 initial_salt (20 B). */
export const INITIAL_SALT_V1 = Uint8Array.of(
  0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
);

/** RFC 9001 §5.8: the fixed AES-128-GCM key (16 B) and nonce (12 B) of the QUIC v1 Retry Integrity Tag. */
const RETRY_KEY = Uint8Array.of(0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e);
const RETRY_NONCE = Uint8Array.of(0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb);

/** AEAD tag length (RFC 5116): 16 B. The header-protection sample is also 16 B (RFC 9001 §5.4.2). */
const TAG = 16;
const SAMPLE = 16;
const EMPTY = new Uint8Array(0);

/** The keys protecting one direction of one packet-number space (RFC 9001 §5.1). */
/**
 * The AEAD of a set of packet keys, made once per keys and provider (a provider may import the key on each
 * `aead()` call: node:crypto makes a KeyObject). Keys are immutable values, so the cache is only a cache.
 */
const aeads = new WeakMap<PacketKeys, { readonly provider: CryptoProvider; readonly aead: Aead }>();
function aeadOf(p: CryptoProvider, keys: PacketKeys): Aead {
  const hit = aeads.get(keys);
  if (hit && hit.provider === p) return hit.aead;
  const aead = p.aead(keys.alg, keys.key);
  aeads.set(keys, { provider: p, aead });
  return aead;
}

export interface PacketKeys {
  readonly alg: AeadAlg;
  /** AEAD key: 16 B (AES-128-GCM) or 32 B. */
  readonly key: Uint8Array;
  /** AEAD IV: 12 B, XORed with the packet number for each packet's nonce (RFC 9001 §5.3). */
  readonly iv: Uint8Array;
  /** Header-protection key: as long as the AEAD key (RFC 9001 §5.4). */
  readonly hp: Uint8Array;
}

/**
 * Packet keys from a TLS traffic secret (RFC 9001 §5.1): HKDF-Expand-Label with the labels "quic key",
 * "quic iv" and "quic hp" (each with TLS 1.3's "tls13 " prefix).
 */
export function packetKeys(p: CryptoProvider, hash: HashAlg, alg: AeadAlg, secret: Uint8Array): PacketKeys {
  const none = new Uint8Array(0);
  const len = AEAD_KEY_LENGTH[alg];
  return {
    alg,
    key: hkdfExpandLabel(p, hash, secret, 'quic key', none, len),
    iv: hkdfExpandLabel(p, hash, secret, 'quic iv', none, 12),
    hp: hkdfExpandLabel(p, hash, secret, 'quic hp', none, len),
  };
}

/** The Initial secrets and keys of both directions (RFC 9001 §5.2). */
export interface InitialKeys {
  /** initial_secret = HKDF-Extract(initial_salt, client DCID), 32 B. */
  readonly initialSecret: Uint8Array;
  readonly clientSecret: Uint8Array;
  readonly serverSecret: Uint8Array;
  readonly client: PacketKeys;
  readonly server: PacketKeys;
}

/**
 * The Initial keys (RFC 9001 §5.2): SHA-256 and AES-128-GCM, derived from the Destination Connection ID of
 * the client's first Initial packet (0–20 B), which both ends know.
 *
 * @example
 * ```ts
 * const keys = initialKeys(nobleProvider, dcid);
 * const packet = protectPacket(nobleProvider, keys.client, header, payload);
 * ```
 */
export function initialKeys(p: CryptoProvider, clientDcid: Uint8Array): InitialKeys {
  const none = new Uint8Array(0);
  const initialSecret = p.hkdfExtract('sha256', INITIAL_SALT_V1, clientDcid);
  const clientSecret = hkdfExpandLabel(p, 'sha256', initialSecret, 'client in', none, 32);
  const serverSecret = hkdfExpandLabel(p, 'sha256', initialSecret, 'server in', none, 32);
  return {
    initialSecret,
    clientSecret,
    serverSecret,
    client: packetKeys(p, 'sha256', 'aes-128-gcm', clientSecret),
    server: packetKeys(p, 'sha256', 'aes-128-gcm', serverSecret),
  };
}

/** RFC 9001 §5.3: the nonce is the IV XORed with the packet number, left-padded to 12 B (big-endian). */
function packetNonce(iv: Uint8Array, packetNumber: number): Uint8Array {
  const nonce = iv.slice();
  const hi = Math.floor(packetNumber / 2 ** 32);
  const lo = packetNumber >>> 0;
  for (let i = 0; i < 4; i++) {
    nonce[4 + i]! ^= (hi >>> (24 - 8 * i)) & 0xff;
    nonce[8 + i]! ^= (lo >>> (24 - 8 * i)) & 0xff;
  }
  return nonce;
}

function mask(p: CryptoProvider, keys: PacketKeys, sample: Uint8Array): Uint8Array {
  if (!p.headerProtection) throw new TypeError(`crypto provider ${p.name} offers no QUIC header protection (headerProtection)`);
  return p.headerProtection(keys.alg, keys.hp, sample);
}

/** The low bits of the first byte that header protection covers: 4 (long header), 5 (short header). */
const protectedBits = (first: number) => ((first & 0x80) !== 0 ? 0x0f : 0x1f);

/**
 * Protect one packet (RFC 9001 §5.3, §5.4): `header` is the whole unprotected header, ending with the low
 * bytes of `packetNumber` (their count in the first byte's two low bits, see `packetNumberLength`); for a long header its Length field must already count
 * the packet number, `payload` and the 16 B tag. Returns header ‖ AEAD(payload) with header protection
 * applied. The payload must be long enough for the 16 B sample taken 4 B after the start of the packet
 * number (RFC 9001 §5.4.2: pad it, e.g. with PADDING frames); a shorter one is API misuse and throws.
 */
export function protectPacket(p: CryptoProvider, keys: PacketKeys, header: Uint8Array, packetNumber: number, payload: Uint8Array): Uint8Array {
  const pnLength = (header[0]! & 3) + 1;
  const pnOffset = header.length - pnLength;
  if (pnOffset < 1) throw new RangeError('QUIC header too short for its packet number');
  let truncated = 0;
  for (let i = 0; i < pnLength; i++) truncated = truncated * 256 + header[pnOffset + i]!;
  if (truncated !== packetNumber % 2 ** (8 * pnLength)) {
    throw new RangeError(`the header's packet number bytes (0x${truncated.toString(16)}) are not the low ${pnLength} B of packet number ${packetNumber}`);
  }
  if (pnLength + payload.length + TAG < 4 + SAMPLE) {
    throw new RangeError(`payload of ${payload.length} B too short for header protection: pad it to at least ${4 + SAMPLE - TAG - pnLength} B`);
  }
  // Sealed straight after the header in the packet's own buffer when the AEAD can (no intermediate copy).
  const aead = aeadOf(p, keys);
  const nonce = packetNonce(keys.iv, packetNumber);
  const packet = new Uint8Array(header.length + payload.length + TAG);
  packet.set(header, 0);
  if (aead.sealInto) aead.sealInto(nonce, header, payload, EMPTY, packet, header.length);
  else packet.set(aead.seal(nonce, header, payload), header.length);
  const m = mask(p, keys, packet.subarray(pnOffset + 4, pnOffset + 4 + SAMPLE));
  packet[0] = packet[0]! ^ (m[0]! & protectedBits(packet[0]!));
  for (let i = 0; i < pnLength; i++) packet[pnOffset + i] = packet[pnOffset + i]! ^ m[1 + i]!;
  return packet;
}

/** A packet with its protection removed. */
export interface UnprotectedPacket {
  /** The full packet number (recovered from its truncation, RFC 9000 §17.1). */
  readonly packetNumber: number;
  /** The unprotected header, ending with the packet number (a copy: the input is not modified). */
  readonly header: Uint8Array;
  /** The decrypted payload (frames). */
  readonly payload: Uint8Array;
}

/**
 * Remove the protection of one packet (RFC 9001 §5.4, §5.3): `packet` is exactly this packet (for a long
 * header up to the end its Length field gives, see `decodePacketHeader`), `pnOffset` where its packet number
 * starts, `largest` the largest packet number received so far in this space (−1 for none). Returns `null`
 * when the packet is too short to sample or does not authenticate: RFC 9001 §5.5 has the receiver discard
 * it (never an error that closes the connection).
 */
export function unprotectPacket(p: CryptoProvider, keys: PacketKeys, packet: Uint8Array, pnOffset: number, largest: number): UnprotectedPacket | null {
  const h = removeHeaderProtection(p, keys, packet, pnOffset, largest);
  return h && openPayload(p, keys, h, packet);
}

/** A packet whose header protection is removed, its payload still sealed. */
export interface UnmaskedHeader {
  readonly packetNumber: number;
  /** The unprotected header, ending with the packet number (a copy). Its first byte carries the Key Phase bit (0x04) of a short header. */
  readonly header: Uint8Array;
}

/**
 * Remove header protection only (RFC 9001 §5.4): the first half of {@link unprotectPacket}, for a receiver that
 * chooses the AEAD keys from the Key Phase bit (RFC 9001 §6; the header-protection key does not change on a
 * key update, so `keys.hp` is the same for every phase). `null` when the packet is too short to sample.
 */
export function removeHeaderProtection(p: CryptoProvider, keys: PacketKeys, packet: Uint8Array, pnOffset: number, largest: number): UnmaskedHeader | null {
  if (pnOffset < 1 || packet.length < pnOffset + 4 + SAMPLE) return null;
  const m = mask(p, keys, packet.subarray(pnOffset + 4, pnOffset + 4 + SAMPLE));
  const first = packet[0]! ^ (m[0]! & protectedBits(packet[0]!));
  const pnLength = (first & 3) + 1;
  const header = packet.slice(0, pnOffset + pnLength);
  header[0] = first;
  let truncated = 0;
  for (let i = 0; i < pnLength; i++) {
    header[pnOffset + i] = header[pnOffset + i]! ^ m[1 + i]!;
    truncated = truncated * 256 + header[pnOffset + i]!;
  }
  return { packetNumber: decodePacketNumber(largest, truncated, (pnLength * 8) as 8 | 16 | 24 | 32), header };
}

/** Open the AEAD of a packet whose header protection is removed (RFC 9001 §5.3); `null` if it does not authenticate. */
export function openPayload(p: CryptoProvider, keys: PacketKeys, h: UnmaskedHeader, packet: Uint8Array): UnprotectedPacket | null {
  const payload = aeadOf(p, keys).open(packetNonce(keys.iv, h.packetNumber), h.header, packet.subarray(h.header.length));
  return payload ? { packetNumber: h.packetNumber, header: h.header, payload } : null;
}

/**
 * The Retry Integrity Tag (RFC 9001 §5.8), 16 B: AES-128-GCM with the fixed v1 key and nonce over the Retry
 * pseudo-packet `ODCID length ‖ ODCID ‖ Retry packet without its tag`, with an empty plaintext.
 * `originalDcid` is the Destination Connection ID of the client's first Initial (0–20 B).
 */
export function retryIntegrityTag(p: CryptoProvider, originalDcid: Uint8Array, retryWithoutTag: Uint8Array): Uint8Array {
  if (originalDcid.length > 20) throw new RangeError(`original destination connection ID of ${originalDcid.length} B: at most 20`);
  const pseudo = new Uint8Array(1 + originalDcid.length + retryWithoutTag.length);
  pseudo[0] = originalDcid.length;
  pseudo.set(originalDcid, 1);
  pseudo.set(retryWithoutTag, 1 + originalDcid.length);
  return p.aead('aes-128-gcm', RETRY_KEY).seal(RETRY_NONCE, pseudo, new Uint8Array(0));
}

/** Whether `retry` (a whole Retry packet) carries the right integrity tag for `originalDcid` (RFC 9001 §5.8). */
export function verifyRetry(p: CryptoProvider, originalDcid: Uint8Array, retry: Uint8Array): boolean {
  if (retry.length < TAG + 7 || originalDcid.length > 20) return false;
  const expected = retryIntegrityTag(p, originalDcid, retry.subarray(0, retry.length - TAG));
  let diff = 0;
  for (let i = 0; i < TAG; i++) diff |= expected[i]! ^ retry[retry.length - TAG + i]!;
  return diff === 0;
}
