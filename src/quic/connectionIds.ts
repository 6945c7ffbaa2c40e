/**
 * Connection IDs (RFC 9000 §5.1): the IDs we issue to the peer and the IDs the peer issued to us, each with a
 * sequence number and a stateless reset token.
 *
 * - Ours: sequence 0 is the SCID of the handshake; once connected, NEW_CONNECTION_ID frames top the set up to the
 *   peer's active_connection_id_limit (at most {@link MAX_ISSUED}), and each one the peer retires
 *   (RETIRE_CONNECTION_ID, §19.16) is replaced ({@link issueConnectionIds}, {@link onRetireConnectionId}).
 *   Tokens come from `statelessReset.ts`, so a listener can answer for a connection it has forgotten.
 * - The peer's: sequence 0 is its SCID of the handshake (with the server's stateless_reset_token transport
 *   parameter); NEW_CONNECTION_ID adds more, at most our {@link ACTIVE_CONNECTION_ID_LIMIT} active
 *   (CONNECTION_ID_LIMIT_ERROR beyond it), and its Retire Prior To retires older ones: a RETIRE_CONNECTION_ID is
 *   queued for each, and the one in use is replaced by the lowest left ({@link onNewConnectionId}). A path change
 *   moves to an unused one ({@link switchPeerConnectionId}, §9.5).
 *
 * Errors (RFC 9000 §19.15, §19.16): NEW_CONNECTION_ID to an endpoint sending zero-length IDs, a sequence number
 * reused for another ID or token, or an ID reused under another sequence number: PROTOCOL_VIOLATION; a
 * RETIRE_CONNECTION_ID for a sequence never issued, or for the ID the packet itself was sent to:
 * PROTOCOL_VIOLATION; more retirements waiting to be sent than twice our limit: CONNECTION_ID_LIMIT_ERROR
 * (§5.1.2 lets an endpoint bound them).
 *
 * The state is immutable: every function returns a new one.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import type { Frame } from '../wire/quic/frames.js';
import { bytesEqual } from '../wire/bytes.js';
import { ConnectionError, QuicError } from './errors.js';
import type { QueuedFrame } from './spaces.js';
import { resetTokenFor } from './statelessReset.js';

/** The active_connection_id_limit we advertise (RFC 9000 §18.2: at least 2): the peer's IDs we keep at once. */
export const ACTIVE_CONNECTION_ID_LIMIT = 4;
/** Our IDs active at once, whatever larger limit the peer advertises. */
export const MAX_ISSUED = 8;

/** One of our connection IDs the peer may use. */
export interface IssuedId {
  readonly sequence: number;
  readonly id: Uint8Array;
  readonly resetToken: Uint8Array;
}

/** One of the peer's connection IDs (the token is absent for a client's first one: clients send none, §18.2). */
export interface PeerId {
  readonly sequence: number;
  readonly id: Uint8Array;
  readonly resetToken?: Uint8Array;
}

/** Both sides' connection IDs. */
export interface ConnectionIds {
  /** Ours, not retired by the peer. */
  readonly issued: readonly IssuedId[];
  /** The sequence number of our next ID. */
  readonly nextSequence: number;
  /** The peer's, not retired by us, lowest sequence first. */
  readonly peer: readonly PeerId[];
  /** The sequence number of the peer's ID we send to. */
  readonly active: number;
  /** The largest Retire Prior To the peer sent. */
  readonly retirePriorTo: number;
}

/** The state at the start: our first ID (sequence 0) with its token; the peer's comes with {@link setPeerInitialId}. */
export function newConnectionIds(scid: Uint8Array, resetToken: Uint8Array): ConnectionIds {
  return { issued: [{ sequence: 0, id: scid, resetToken }], nextSequence: 1, peer: [], active: 0, retirePriorTo: 0 };
}

/** The peer's first ID (sequence 0, the SCID of its handshake packets) and, from a server, its reset token. */
export function setPeerInitialId(c: ConnectionIds, id: Uint8Array, resetToken?: Uint8Array): ConnectionIds {
  return { ...c, peer: [{ sequence: 0, id, ...(resetToken ? { resetToken } : {}) }], active: 0 };
}

/** How many IDs we keep issued: the peer's active_connection_id_limit (default 2, RFC 9000 §18.2), capped. */
export const issueTarget = (peerLimit: number | undefined): number => Math.min(Math.max(peerLimit ?? 2, 2), MAX_ISSUED);

/**
 * Issue NEW_CONNECTION_IDs until `target` of ours are active (RFC 9000 §5.1.1): each frame is queued in
 * `queue` and each new ID returned, for the listener's routing table. `random` gives the IDs' bytes.
 */
export function issueConnectionIds(
  c: ConnectionIds,
  target: number,
  provider: CryptoProvider,
  resetKey: Uint8Array,
  random: (n: number) => Uint8Array,
  queue: QueuedFrame[],
): { ids: ConnectionIds; added: readonly Uint8Array[] } {
  if (c.issued.length >= target) return { ids: c, added: [] };
  const issued = [...c.issued];
  const added: Uint8Array[] = [];
  let sequence = c.nextSequence;
  const length = c.issued[0]?.id.length ?? 8;
  while (issued.length < target) {
    const id = random(length);
    const entry = { sequence: sequence++, id, resetToken: resetTokenFor(provider, resetKey, id) };
    issued.push(entry);
    added.push(id);
    queue.push({ type: 'newConnectionId', sequence: entry.sequence, retirePriorTo: 0, connectionId: id, resetToken: entry.resetToken });
  }
  return { ids: { ...c, issued, nextSequence: sequence }, added };
}

/**
 * A RETIRE_CONNECTION_ID from the peer (RFC 9000 §19.16) in a packet sent to `packetDcid`: that ID of ours is
 * forgotten (returned, for the routing table); a replacement is issued by the next {@link issueConnectionIds}.
 * A sequence we never issued, or the packet's own DCID: PROTOCOL_VIOLATION. Retiring an ID twice is harmless.
 */
export function onRetireConnectionId(c: ConnectionIds, f: Extract<Frame, { type: 'retireConnectionId' }>, packetDcid: Uint8Array | undefined): { ids: ConnectionIds; retired?: Uint8Array } {
  if (f.sequence >= c.nextSequence) throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, `RETIRE_CONNECTION_ID for sequence ${f.sequence}, never issued`, 0x19);
  const entry = c.issued.find((e) => e.sequence === f.sequence);
  if (!entry) return { ids: c };
  if (packetDcid && bytesEqual(packetDcid, entry.id)) {
    throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, 'RETIRE_CONNECTION_ID for the connection ID of its own packet', 0x19);
  }
  return { ids: { ...c, issued: c.issued.filter((e) => e !== entry) }, retired: entry.id };
}

/**
 * A NEW_CONNECTION_ID from the peer (RFC 9000 §19.15, §5.1.2). `zeroLength`: we send zero-length IDs (then the
 * frame is a PROTOCOL_VIOLATION). IDs below Retire Prior To are retired (a RETIRE_CONNECTION_ID queued for each);
 * if the one in use goes, the lowest remaining takes its place. Returns the new state and whether the ID we send
 * to changed.
 */
export function onNewConnectionId(
  c: ConnectionIds,
  f: Extract<Frame, { type: 'newConnectionId' }>,
  zeroLength: boolean,
  queue: QueuedFrame[],
): { ids: ConnectionIds; switched: boolean } {
  const violation = (why: string) => new ConnectionError(QuicError.PROTOCOL_VIOLATION, why, 0x18);
  if (zeroLength) throw violation('NEW_CONNECTION_ID to an endpoint that sends zero-length connection IDs');
  const same = c.peer.find((p) => p.sequence === f.sequence);
  if (same) {
    // §19.15: a repeat must be identical (a retransmission); anything else is a violation.
    if (!bytesEqual(same.id, f.connectionId) || (same.resetToken && !bytesEqual(same.resetToken, f.resetToken))) throw violation(`sequence ${f.sequence} reused for another connection ID`);
  } else if (c.peer.some((p) => bytesEqual(p.id, f.connectionId))) {
    throw violation('connection ID reused under another sequence number');
  }
  let peer = same ? [...c.peer] : [...c.peer, { sequence: f.sequence, id: f.connectionId, resetToken: f.resetToken }].sort((a, b) => a.sequence - b.sequence);
  const retirePriorTo = Math.max(c.retirePriorTo, f.retirePriorTo);
  const retire = (sequence: number) => queue.push({ type: 'retireConnectionId', sequence });
  // §5.1.2: every ID below Retire Prior To is retired, this frame's own included when it is one of them.
  for (const p of peer) if (p.sequence < retirePriorTo) retire(p.sequence);
  peer = peer.filter((p) => p.sequence >= retirePriorTo);
  // §5.1.1: more active IDs than our active_connection_id_limit.
  if (peer.length > ACTIVE_CONNECTION_ID_LIMIT) {
    throw new ConnectionError(QuicError.CONNECTION_ID_LIMIT_ERROR, `more than ${ACTIVE_CONNECTION_ID_LIMIT} active connection IDs`, 0x18);
  }
  // §5.1.2: retirements waiting to be sent are bounded (a peer raising Retire Prior To in a flood).
  if (queue.filter((q) => q.type === 'retireConnectionId').length > 2 * ACTIVE_CONNECTION_ID_LIMIT) {
    throw new ConnectionError(QuicError.CONNECTION_ID_LIMIT_ERROR, 'too many connection IDs retired at once', 0x18);
  }
  let active = c.active;
  const switched = !peer.some((p) => p.sequence === active);
  if (switched) active = peer[0]!.sequence; // the frame's own ID is never below Retire Prior To (frames.ts)
  return { ids: { ...c, peer, retirePriorTo, active }, switched };
}

/** The peer's ID we send to now. */
export const activePeerId = (c: ConnectionIds): PeerId | undefined => c.peer.find((p) => p.sequence === c.active);

/**
 * Move to an unused ID of the peer's for a new path (RFC 9000 §9.5), retiring the one we left (a
 * RETIRE_CONNECTION_ID queued). `undefined` when the peer has given us none to spare: the current one stays.
 */
export function switchPeerConnectionId(c: ConnectionIds, queue: QueuedFrame[]): ConnectionIds | undefined {
  const next = c.peer.find((p) => p.sequence !== c.active);
  if (!next) return undefined;
  queue.push({ type: 'retireConnectionId', sequence: c.active });
  // The ID we leave is retired, so it is never used again from another address.
  return { ...c, peer: c.peer.filter((p) => p.sequence !== c.active), active: next.sequence };
}

/** The peer's stateless reset tokens (RFC 9000 §10.3.1: a datagram ending in one of them is a reset). */
export const peerResetTokens = (c: ConnectionIds): Uint8Array[] =>
  // RFC 9000 §10.3.1: only the tokens of IDs we have used (we move up the sequence, so those up to the active one)
  // and not retired (those left the list); a spare ID's token is not a reset for this connection yet.
  c.peer.flatMap((p) => (p.resetToken && p.sequence <= c.active ? [p.resetToken] : []));
