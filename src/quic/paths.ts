/**
 * Paths, path validation and migration (RFC 9000 §8.2, §9). The reducer knows the peer's address only as the
 * adapter reports it (`from` on a `datagram` input, `host:port`) and says where to send with `pathChanged` and
 * `transmitTo` effects; which local socket a client sends from is the adapter's business (`migrate` input).
 *
 * - A server follows its client (NAT rebinding, or the client's migration): a packet from a new address that
 *   authenticates, is not a probe (§9.1) and is the highest-numbered so far (§9.3) moves the path there
 *   ({@link followPeer}): the new path is unvalidated (3× anti-amplification, §9.3, §8.1), validated with a
 *   PATH_CHALLENGE of 8 random bytes (§8.2.1), congestion control and RTT start again when more than the port
 *   changed (§9.4), and an unused connection ID of the peer's is used from then on (§9.5).
 * - A probe from another address (only PATH_CHALLENGE, PATH_RESPONSE, NEW_CONNECTION_ID, PADDING) is answered on
 *   that address and moves nothing (§8.2.2, §9.1): see {@link isProbing}.
 * - A client migrates on the `migrate` input ({@link migrateClient}): a new connection ID of the server's and
 *   a PATH_CHALLENGE on the new path, once the handshake is confirmed and unless the server sent
 *   disable_active_migration (§9).
 * - A challenge unanswered for a PTO is sent again, {@link MAX_PATH_CHALLENGES} at most; after
 *   max(3×PTO, 6×kInitialRtt) (§8.2.4) the validation fails ({@link onPathValidationTimeout}): a server goes back
 *   to the previous address (§9.3.2); a client keeps its path (its old socket is gone) and the idle timeout decides.
 *
 * Randomness comes from the connection's provider, as everywhere in the reducer.
 */
import { misuse } from '../core/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { Frame } from '../wire/quic/frames.js';
import type { TransportParameters } from '../wire/quic/transportParameters.js';
import { bytesEqual } from '../wire/bytes.js';
import { activePeerId, switchPeerConnectionId, type ConnectionIds } from './connectionIds.js';
import { DATAGRAM_SIZE, pathDatagram, sendAllowance, type PacketSender } from './builder.js';
import { newPacer, type PacerState } from './pacer.js';
import { newPmtu, usePmtu, type PmtuState } from './pmtu.js';
import { congestionControlOf, initialRtt, newCongestion, probeTimeout, type CongestionState, type RttState } from './recovery.js';
import type { Space, SpaceId } from './spaces.js';
import type { QuicTimers } from './timers.js';
import type { QuicEffect } from './types.js';

/** PATH_CHALLENGEs sent on one path before giving up on an answer (each after a PTO, doubling). */
export const MAX_PATH_CHALLENGES = 3;
/** RFC 9002 §6.2.2 kInitialRtt, ms: path validation lasts at least 6× this (RFC 9000 §8.2.4). */
const INITIAL_RTT = 333;

/** The path we send on. */
export interface PathState {
  /** The peer's address (`host:port`, as the adapter wrote it); absent until a datagram says it. */
  readonly address?: string;
  /** Our PATH_CHALLENGE data still unanswered (the newest {@link MAX_PATH_CHALLENGES}). */
  readonly challenges: readonly Uint8Array[];
  /** When the validation in progress is abandoned, ms. */
  readonly deadline?: number;
  /** The path before a server followed its client: where to go back to if the new one fails (§9.3.2). */
  readonly previous?: { readonly address: string; readonly validated: boolean };
}

/** What path handling reads and changes in the connection (its working state satisfies it). */
export interface PathHost extends PacketSender {
  readonly config: { readonly role: 'client' | 'server'; readonly provider: CryptoProvider };
  readonly phase: string;
  readonly peerParams?: TransportParameters;
  readonly spaces: Record<SpaceId, Space>;
  path: PathState;
  cids: ConnectionIds;
  dcid: Uint8Array;
  addressValidated: boolean;
  bytesReceived: number;
  bytesSent: number;
  cc: CongestionState;
  rtt: RttState;
  pacer: PacerState;
  pmtu: PmtuState;
  ptoCount: number;
  timers: QuicTimers;
}

export const newPath = (): PathState => ({ challenges: [] });

/** The host part of `host:port` (what is left of the last colon). */
const hostOf = (address: string): string => address.slice(0, Math.max(0, address.lastIndexOf(':')));

/** RFC 9000 §9.1: a packet of only these frames is a probe (it does not move the path). */
export const isProbing = (frames: readonly Frame[]): boolean =>
  frames.every((f) => f.type === 'pathChallenge' || f.type === 'pathResponse' || f.type === 'newConnectionId' || f.type === 'padding');

/**
 * A datagram of `length` bytes arrived from `from`: whether it came on the current path. Bytes from the current
 * path count towards its anti-amplification allowance (§8.1, §9.3); the first address seen becomes the path.
 */
export function receivedOnPath(s: PathHost, from: string | undefined, length: number): boolean {
  if (from !== undefined && s.path.address === undefined) s.path = { ...s.path, address: from };
  if (from !== undefined && from !== s.path.address) return false;
  s.bytesReceived += length;
  return true;
}

/**
 * A server's client moved to `from` (RFC 9000 §9.3): `length` is the datagram that showed it. Sends go there
 * (a `pathChanged` effect), unvalidated and limited to 3× what arrives from there, under a fresh connection ID
 * of the peer's when one is spare; congestion control and RTT restart unless only the port changed (§9.4).
 */
export function followPeer(s: PathHost, from: string, length: number, now: number, maxAckDelay: number, effects: QuicEffect[]): void {
  const old = s.path.address;
  s.path = { challenges: [], ...(old !== undefined ? { previous: { address: old, validated: s.addressValidated } } : {}), address: from };
  s.addressValidated = false;
  s.bytesReceived = length;
  s.bytesSent = 0;
  if (old === undefined || hostOf(old) !== hostOf(from)) {
    // §9.4: a new network: what was learnt of the old path says nothing of this one. Packets still in flight
    // stay counted until acknowledged or lost.
    s.cc = { ...newCongestion(DATAGRAM_SIZE, congestionControlOf(s.cc)), bytesInFlight: s.cc.bytesInFlight };
    s.rtt = initialRtt();
    s.pacer = newPacer(s.cc.window, s.rtt.smoothed, DATAGRAM_SIZE, now);
    s.ptoCount = 0;
    s.pmtu = newPathPmtu(s.pmtu);
  }
  useNewPeerId(s);
  effects.push({ type: 'pathChanged', address: from });
  challenge(s, now, maxAckDelay, effects);
}

/**
 * The `migrate` input (RFC 9000 §9.2): a client now sends from a new local address. API misuse on a server,
 * before the handshake is confirmed (§9: the server's HANDSHAKE_DONE), or when the server sent
 * disable_active_migration (§18.2).
 */
export function migrateClient(s: PathHost, now: number, maxAckDelay: number, confirmed: boolean, effects: QuicEffect[]): void {
  if (s.config.role !== 'client') throw misuse('migrate(): only a client migrates (RFC 9000 §9)');
  if (s.phase !== 'connected' || !confirmed) throw misuse('migrate(): not before the handshake is confirmed (RFC 9000 §9)');
  if (s.peerParams?.disableActiveMigration) throw misuse('migrate(): the server sent disable_active_migration (RFC 9000 §18.2)');
  useNewPeerId(s);
  s.path = { ...s.path, challenges: [] };
  usePmtu(s, newPathPmtu(s.pmtu));
  challenge(s, now, maxAckDelay, effects);
}

/** §14.3: the datagram size found on one path says nothing of another: search again from the base size. */
const newPathPmtu = (p: PmtuState): PmtuState => newPmtu(p.ceiling);

/** §9.5: a new path gets a connection ID not used on another; without a spare one the current one stays. */
function useNewPeerId(s: PathHost): void {
  const next = switchPeerConnectionId(s.cids, s.spaces.application.queue);
  if (!next) return;
  s.cids = next;
  s.dcid = activePeerId(next)!.id;
}

/**
 * Send a PATH_CHALLENGE (8 random bytes, §8.2.1) on the path now, in a datagram of its own (as large as the
 * path's allowance lets it be, up to 1200 bytes), and arm the `pathValidation` timer.
 */
function challenge(s: PathHost, now: number, maxAckDelay: number, effects: QuicEffect[]): void {
  const data = s.config.provider.randomBytes(8);
  const pto = probeTimeout(s.rtt, maxAckDelay);
  const deadline = s.path.deadline ?? now + Math.max(3 * pto, 6 * INITIAL_RTT);
  const sent = s.path.challenges.length;
  s.path = { ...s.path, challenges: [...s.path.challenges, data].slice(-MAX_PATH_CHALLENGES), deadline };
  const datagram = pathDatagram(s, [{ type: 'pathChallenge', data }], now, Math.min(DATAGRAM_SIZE, sendAllowance(s)));
  if (datagram) effects.push({ type: 'transmit', data: datagram });
  s.timers.pathValidation = sent + 1 < MAX_PATH_CHALLENGES ? Math.min(deadline, now + pto * 2 ** sent) : deadline;
}

/** A PATH_RESPONSE (RFC 9000 §8.2.3): one echoing a challenge of ours validates the path; any other is ignored. */
export function onPathResponse(s: PathHost, data: Uint8Array): void {
  if (!s.path.challenges.some((c) => bytesEqual(c, data))) return;
  s.path = s.path.address !== undefined ? { address: s.path.address, challenges: [] } : newPath();
  s.addressValidated = true;
  delete s.timers.pathValidation;
}

/** The `pathValidation` timer: another challenge, or (past the deadline) the validation fails (§8.2.4, §9.3.2). */
export function onPathValidationTimeout(s: PathHost, now: number, maxAckDelay: number, effects: QuicEffect[]): void {
  if (s.path.challenges.length === 0) return;
  if (s.path.deadline === undefined || now < s.path.deadline) return challenge(s, now, maxAckDelay, effects);
  const previous = s.path.previous;
  if (s.config.role === 'server' && previous) {
    s.path = { address: previous.address, challenges: [] };
    s.addressValidated = previous.validated;
    s.bytesReceived = 0;
    s.bytesSent = 0;
    effects.push({ type: 'pathChanged', address: previous.address });
    return;
  }
  s.path = { ...s.path, challenges: [] };
  const { deadline: _, ...rest } = s.path;
  s.path = rest;
}
