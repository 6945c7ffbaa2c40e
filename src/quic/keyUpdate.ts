/**
 * QUIC key update (RFC 9001 §6): the 1-RTT keys' generations, the Key Phase bit, and the AEAD limits of §6.6.
 * Sans-IO and pure: every function takes a {@link KeyPhase} and returns a new one, so the connection keeps it as
 * an immutable field of its state and calls these at four points — a 1-RTT secret from TLS
 * ({@link installSecret}), a received 1-RTT packet ({@link openOneRtt}), a packet sent ({@link countSent}) and the
 * `keyUpdate` input or the automatic update ({@link initiateKeyUpdate}).
 *
 * The next generation of a secret is HKDF-Expand-Label(secret, "quic ku", "", Hash.length) (RFC 9001 §6.1);
 * key and IV come from it as from any secret, and the header-protection key never changes. The next read keys
 * are derived ahead of time, so a packet of the next phase costs one AEAD open like any other (§6.3, §9.5:
 * no timing side channel). After a read update the previous read keys stay for 3×PTO for reordered packets
 * (§6.5: the connection arms its `keyDiscard` timer and calls {@link discardPreviousKeys}).
 *
 * Initiating (§6.1): only once the handshake is confirmed, and only when a packet sent with the current keys
 * has been acknowledged (the peer has them) and the peer has answered the previous update. A request made
 * before that waits ({@link KeyPhase.requested}) and is carried out as soon as it is permitted.
 */
import { hkdfExpandLabel } from '../crypto/keySchedule.js';
import type { AeadAlg, CryptoProvider, HashAlg } from '../crypto/provider.js';
import { ConnectionError } from './errors.js';
import { openPayload, packetKeys, removeHeaderProtection, type PacketKeys, type UnprotectedPacket } from './protection.js';

/** RFC 9001 §20 (IANA): KEY_UPDATE_ERROR and AEAD_LIMIT_REACHED transport error codes. */
export const KEY_UPDATE_ERROR = 0x0en;
export const AEAD_LIMIT_REACHED = 0x0fn;

/**
 * RFC 9001 §6.6: the confidentiality limit (packets protected with one key) and the integrity limit (packets
 * that fail authentication, across all keys of the connection) of each AEAD. ChaCha20-Poly1305's
 * confidentiality limit is above any packet count (2^62).
 */
export const AEAD_LIMITS: Readonly<Record<AeadAlg, { readonly confidentiality: number; readonly integrity: number }>> = {
  'aes-128-gcm': { confidentiality: 2 ** 23, integrity: 2 ** 52 },
  'aes-256-gcm': { confidentiality: 2 ** 23, integrity: 2 ** 52 },
  'chacha20-poly1305': { confidentiality: 2 ** 62, integrity: 2 ** 36 },
};

/**
 * Packets sent with one key before an automatic key update: 7/8 of the confidentiality limit (7 × 2^20 for
 * AES-GCM), which leaves 2^20 packets for the peer's acknowledgement that §6.1 makes us wait for.
 */
export const autoUpdateAfter = (alg: AeadAlg): number => (AEAD_LIMITS[alg].confidentiality / 8) * 7;

/** The 1-RTT key phases of a connection. Never mutated. */
export interface KeyPhase {
  readonly hash: HashAlg;
  readonly alg: AeadAlg;
  /** Current read and write secrets (absent until TLS gives them). */
  readonly rxSecret?: Uint8Array;
  readonly txSecret?: Uint8Array;
  readonly rx?: PacketKeys;
  readonly tx?: PacketKeys;
  /** The next read keys, derived ahead (RFC 9001 §6.3). */
  readonly nextRx?: PacketKeys;
  /** The previous read keys, kept for reordered packets until the `keyDiscard` timer (RFC 9001 §6.5). */
  readonly prevRx?: PacketKeys;
  /** Key Phase bit of the current read keys and of the write keys: they differ while our update waits for the peer's answer. */
  readonly rxPhase: 0 | 1;
  readonly txPhase: 0 | 1;
  /** Lowest packet number received with the current read keys (older ones use `prevRx`, RFC 9001 §6.4). */
  readonly rxFirstPn?: number;
  /** First packet number sent with the current write keys: an ACK at or above it confirms them (§6.1). */
  readonly txFirstPn: number;
  /** Packets protected with the current write keys (§6.6 confidentiality limit). */
  readonly txPackets: number;
  /** Packets that failed authentication with any 1-RTT key (§6.6 integrity limit). */
  readonly authFailures: number;
  /** Key updates so far, ours and the peer's. */
  readonly generation: number;
  /** An update was asked for (by the application or the automatic limit) and waits until it is permitted. */
  readonly requested: boolean;
  /** Automatic update after this many packets with one write key (default {@link autoUpdateAfter}). */
  readonly updateAfter: number;
}

/** The secret of the next key phase (RFC 9001 §6.1): HKDF-Expand-Label(secret, "quic ku", "", Hash.length). */
export function nextSecret(p: CryptoProvider, hash: HashAlg, secret: Uint8Array): Uint8Array {
  return hkdfExpandLabel(p, hash, secret, 'quic ku', new Uint8Array(0), hash === 'sha384' ? 48 : 32);
}

/** The packet keys of the next phase: key and IV from the next secret, the header-protection key unchanged (§6.1, §5.4). */
function nextKeys(p: CryptoProvider, k: KeyPhase, secret: Uint8Array, current: PacketKeys): { secret: Uint8Array; keys: PacketKeys } {
  const next = nextSecret(p, k.hash, secret);
  return { secret: next, keys: { ...packetKeys(p, k.hash, k.alg, next), hp: current.hp } };
}

/**
 * A 1-RTT secret from TLS (the `keyChange` event at epoch 3): starts the key phases, or completes them with the
 * other direction. `updateAfter` overrides {@link autoUpdateAfter} (tests use small values).
 */
export function installSecret(
  p: CryptoProvider,
  k: KeyPhase | undefined,
  direction: 'read' | 'write',
  hash: HashAlg,
  alg: AeadAlg,
  secret: Uint8Array,
  keys: PacketKeys,
  updateAfter?: number,
): KeyPhase {
  const base: KeyPhase = k ?? {
    hash,
    alg,
    rxPhase: 0,
    txPhase: 0,
    txFirstPn: 0,
    txPackets: 0,
    authFailures: 0,
    generation: 0,
    requested: false,
    updateAfter: Math.min(updateAfter ?? autoUpdateAfter(alg), autoUpdateAfter(alg)),
  };
  if (direction === 'write') return { ...base, txSecret: secret, tx: keys };
  return { ...base, rxSecret: secret, rx: keys, nextRx: nextKeys(p, base, secret, keys).keys };
}

/** The result of opening a 1-RTT packet. */
export interface OpenedOneRtt {
  readonly keys: KeyPhase;
  /** `null`: not authentic (or too short), dropped (RFC 9001 §5.5); the failure is counted in `keys`. */
  readonly packet: UnprotectedPacket | null;
  /** The packet began a new read phase: the peer updated its keys (or answered our update). */
  readonly newPhase: boolean;
}

/**
 * Open one 1-RTT packet (RFC 9001 §6.3, §6.4): the Key Phase bit picks the keys. The current phase's bit: the
 * current keys. The other bit: the previous keys for a packet older than the current phase's first, else the
 * next keys — and if those open it, the read keys move on a generation and, if our write keys are still the
 * older ones (the peer initiated), so do they (§6.2). Throws AEAD_LIMIT_REACHED past the integrity limit (§6.6).
 */
export function openOneRtt(p: CryptoProvider, k: KeyPhase, packet: Uint8Array, pnOffset: number, largest: number, nextPn: number): OpenedOneRtt {
  if (!k.rx) return { keys: k, packet: null, newPhase: false };
  const h = removeHeaderProtection(p, k.rx, packet, pnOffset, largest);
  if (!h) return { keys: k, packet: null, newPhase: false };
  const phase = ((h.header[0]! >> 2) & 1) as 0 | 1;
  const fail = (): OpenedOneRtt => {
    const authFailures = k.authFailures + 1;
    if (authFailures > AEAD_LIMITS[k.alg].integrity) throw new ConnectionError(AEAD_LIMIT_REACHED, 'AEAD integrity limit reached (RFC 9001 §6.6)');
    return { keys: { ...k, authFailures }, packet: null, newPhase: false };
  };
  if (phase === k.rxPhase) {
    const opened = openPayload(p, k.rx, h, packet);
    if (!opened) return fail();
    const rxFirstPn = k.rxFirstPn === undefined ? opened.packetNumber : Math.min(k.rxFirstPn, opened.packetNumber);
    return { keys: { ...k, rxFirstPn }, packet: opened, newPhase: false };
  }
  if (k.prevRx && k.rxFirstPn !== undefined && h.packetNumber < k.rxFirstPn) {
    const opened = openPayload(p, k.prevRx, h, packet);
    return opened ? { keys: k, packet: opened, newPhase: false } : fail();
  }
  if (!k.nextRx || !k.rxSecret) return fail();
  const opened = openPayload(p, k.nextRx, h, packet);
  if (!opened) return fail();
  // RFC 9001 §6.4: packets with higher numbers never use older keys than packets with lower numbers.
  if (k.rxFirstPn !== undefined && opened.packetNumber < k.rxFirstPn) {
    throw new ConnectionError(KEY_UPDATE_ERROR, 'a packet of the next key phase numbered below the current phase (RFC 9001 §6.4)');
  }
  const rx = nextKeys(p, k, k.rxSecret, k.rx);
  let next: KeyPhase = {
    ...k,
    prevRx: k.rx,
    rx: k.nextRx,
    rxSecret: rx.secret,
    nextRx: nextKeys(p, k, rx.secret, k.nextRx).keys,
    rxPhase: phase,
    rxFirstPn: opened.packetNumber,
    generation: k.txPhase === phase ? k.generation : k.generation + 1,
  };
  // RFC 9001 §6.2: the peer initiated: we update our write keys too before sending again.
  if (next.txPhase !== phase) next = advanceWrite(p, next, nextPn);
  return { keys: next, packet: opened, newPhase: true };
}

/** Our write keys move to the next generation; the next packet we send (`nextPn`) carries the other Key Phase bit. */
function advanceWrite(p: CryptoProvider, k: KeyPhase, nextPn: number): KeyPhase {
  const tx = nextKeys(p, k, k.txSecret!, k.tx!);
  return { ...k, txSecret: tx.secret, tx: tx.keys, txPhase: (k.txPhase ^ 1) as 0 | 1, txFirstPn: nextPn, txPackets: 0 };
}

/**
 * Whether we may initiate a key update now (RFC 9001 §6.1): the handshake is confirmed (`confirmed`), the peer
 * has answered our last update (read and write phases agree) and acknowledged a packet sent with the current
 * write keys (`largestAcked` ≥ their first packet number).
 */
export function mayInitiate(k: KeyPhase | undefined, confirmed: boolean, largestAcked: number | undefined): boolean {
  return !!k && confirmed && !!k.tx && !!k.txSecret && k.rxPhase === k.txPhase && largestAcked !== undefined && largestAcked >= k.txFirstPn;
}

/**
 * Initiate a key update (RFC 9001 §6.1) if permitted ({@link mayInitiate}), else remember the request
 * (`requested`) for a later call. `nextPn` is the next 1-RTT packet number we send.
 */
export function initiateKeyUpdate(p: CryptoProvider, k: KeyPhase, confirmed: boolean, largestAcked: number | undefined, nextPn: number): KeyPhase {
  if (!mayInitiate(k, confirmed, largestAcked)) return { ...k, requested: true };
  return { ...advanceWrite(p, k, nextPn), requested: false, generation: k.generation + 1 };
}

/**
 * One more packet sent with the current write keys. Returns the new phases and whether an update is due
 * (§6.6: before the confidentiality limit; or asked for earlier). Throws AEAD_LIMIT_REACHED at the limit itself.
 */
export function countSent(k: KeyPhase, packets = 1): KeyPhase {
  const txPackets = k.txPackets + packets;
  if (txPackets >= AEAD_LIMITS[k.alg].confidentiality) throw new ConnectionError(AEAD_LIMIT_REACHED, 'AEAD confidentiality limit reached with no key update (RFC 9001 §6.6)');
  return { ...k, txPackets, requested: k.requested || txPackets >= k.updateAfter };
}

/** The 3×PTO after a read update ended: the previous read keys go (RFC 9001 §6.5). */
export const discardPreviousKeys = (k: KeyPhase): KeyPhase => {
  const { prevRx: _, ...rest } = k;
  return rest;
};
