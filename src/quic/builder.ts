/**
 * The packet builder (RFC 9000 §12, §17; RFC 9001 §5): takes what the spaces have queued — ACKs, CRYPTO data,
 * stream data, flow-control updates and blocked signals, NEW_TOKEN, PATH_RESPONSEs — and packs it into
 * protected packets, coalesced lowest space first into datagrams of at most 1200 bytes, the client's Initial
 * datagrams and the server's with an ack-eliciting Initial packet padded to exactly that (RFC 9000 §14.1). Also
 * the CONNECTION_CLOSE packets of a closing connection, at every level the peer may read (§10.2.3).
 *
 * Every datagram also stays within what a server may send to an address it has not validated yet: three times
 * what it received from it (RFC 9000 §8.1, {@link sendAllowance}). The sizes budgeted per packet and frame
 * are upper bounds, so a datagram never exceeds the size it was built for.
 *
 * It records each ack-eliciting packet in its space's `sent` list with the frames to send again if it is lost.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import { encodeFrame, type Frame } from '../wire/quic/frames.js';
import { encodeLongHeader, encodeShortHeader, packetNumberLength } from '../wire/quic/packet.js';
import { concatBytes } from '../wire/bytes.js';
import { encodeWith, Writer } from '../wire/writer.js';
import { ackFrameFor } from './ackRanges.js';
import { QuicError } from './errors.js';
import { protectPacket, type PacketKeys } from './protection.js';
import { qlogPacket, type QlogSink } from './qlog.js';
import { ackDue, ackSent, SPACES, sendLevel, type QueuedFrame, type Space, type SpaceId } from './spaces.js';
import { peerStreamLimitOf, streamResetInfo, streamRxLimit, type StreamSet } from './streams.js';

/** RFC 9000 §14.1: datagrams carrying (a server's: ack-eliciting) Initial packets are at least 1200 bytes; we never exceed it. */
export const DATAGRAM_SIZE = 1200;
/**
 * The most a packet's header and AEAD tag can take: a long header with 20 B connection IDs (1 + 4 + 1 + 20 + 1 +
 * 20 + 1 + 2 + 4 = 54) and the tag (16): 70 B. Used where the space is not known; a packet of a known space
 * budgets {@link packetOverhead}.
 */
const PACKET_OVERHEAD = 70;
/** What we budget per frame header of a frame without data (type, IDs, values): at least 1 + 8 + 8 + 8. */
const FRAME_OVERHEAD = 30;

/** The length of `v` as a QUIC variable-length integer (RFC 9000 §16). */
const varintLength = (v: number): number => (v < 0x40 ? 1 : v < 0x4000 ? 2 : v < 0x40000000 ? 4 : 8);

/**
 * The exact room a packet of space `id` takes besides its frames: the header with a 4 B packet number (the
 * longest; a shorter one leaves the bytes header protection's sample may need, RFC 9001 §5.4.2) and the AEAD
 * tag. A 1-RTT packet's short header is 1 + DCID + 4: every byte saved here carries stream data.
 */
function packetOverhead(s: PacketSender, id: SpaceId): number {
  if (id === 'application' && s.spaces.application.tx) return 1 + s.dcid.length + 4 + 16;
  const token = id === 'initial' ? (s.token?.length ?? 0) : 0;
  const tokenField = id === 'initial' ? varintLength(token) + token : 0;
  // Type byte, version, DCID and SCID with their lengths, token, a 2 B Length (payloads under 16 KiB), PN, tag.
  return 1 + 4 + 1 + s.dcid.length + 1 + s.scid.length + tokenField + 2 + 4 + 16;
}

/**
 * The exact header of the CRYPTO or STREAM frame that carries `item`'s data in a packet with `room` bytes left
 * (its Length field is sized for `room`), or {@link FRAME_OVERHEAD} for any other frame.
 */
function frameOverhead(item: QueuedFrame, room: number): number {
  if (item.type === 'stream') return 1 + varintLength(item.streamId) + (item.offset > 0 ? varintLength(item.offset) : 0) + varintLength(room);
  if (item.type === 'crypto') return 1 + varintLength(item.offset) + varintLength(room);
  return FRAME_OVERHEAD;
}
/**
 * ACK ranges reported per ACK frame: the newest 32 (RFC 9000 §13.2.4 lets a receiver choose). With 8, a window
 * at 10 % loss has more gaps than that, and the sender resends packets that arrived (and halves its window).
 */
const ACK_RANGES = 32;
/** A PATH_RESPONSE frame: type and 8 bytes of data (RFC 9000 §19.18). */
const PATH_RESPONSE_SIZE = 9;
/** Fewer bytes than this left for a CRYPTO or STREAM frame's data: not worth a frame, bytes. */
const MIN_DATA = 16;
/** RFC 9000 §8.1: before validating the peer's address, a server sends at most 3 × what it received. */
export const AMPLIFICATION_FACTOR = 3;

/** What the builder reads and advances in the connection (the connection's state satisfies it). */
export interface PacketSender {
  readonly config: { readonly role: 'client' | 'server'; readonly provider: CryptoProvider; readonly version?: number };
  readonly dcid: Uint8Array;
  readonly scid: Uint8Array;
  /** A client's Initial token, from a Retry (RFC 9000 §17.2.5.2). */
  readonly token?: Uint8Array;
  readonly spaces: Record<SpaceId, Space>;
  /** For the current values of MAX_DATA and MAX_STREAM_DATA. */
  readonly streams: StreamSet;
  /** PATH_CHALLENGE data to answer in the next 1-RTT packet (RFC 9000 §8.2.2). */
  pathResponses: readonly Uint8Array[];
  /** When the last ack-eliciting packet left (the PTO counts from it, RFC 9002 §6.2.1). */
  lastAckElicitingSent?: number;
  /** Bytes sent and received (all datagrams of this connection), for the anti-amplification limit. */
  bytesSent: number;
  readonly bytesReceived: number;
  /** The peer's address is validated (RFC 9000 §8.1): always for a client; for a server, see `connection.ts`. */
  readonly addressValidated: boolean;
  /** A client's 0-RTT write keys (`zeroRtt.ts`): the application space's packets go as 0-RTT until 1-RTT keys exist. */
  readonly zeroRtt?: { readonly tx?: PacketKeys };
  /** qlog events of this step, when enabled: each packet built is a `transport:packet_sent`. */
  readonly qlog?: QlogSink;
  /** The datagram size the path is known to carry (`pmtu.ts`); {@link DATAGRAM_SIZE} without it. */
  readonly pmtu?: { readonly current: number };
}

/**
 * The keys a space's packets are sent under: its own, or for the application space of a client without 1-RTT
 * keys yet, the 0-RTT keys (RFC 9001 §4.6.1: 0-RTT packets stop once 1-RTT keys are installed).
 */
const sendKeys = (s: PacketSender, id: SpaceId): PacketKeys | undefined => s.spaces[id].tx ?? (id === 'application' ? s.zeroRtt?.tx : undefined);

/**
 * How many more bytes we may send now: unlimited once the peer's address is validated, else (a server,
 * RFC 9000 §8.1) three times the bytes received minus the bytes sent.
 */
export const sendAllowance = (s: PacketSender): number =>
  s.addressValidated ? Infinity : Math.max(0, AMPLIFICATION_FACTOR * s.bytesReceived - s.bytesSent);

/** The smallest datagram worth building: a packet's overhead and a small frame. */
export const MIN_DATAGRAM = PACKET_OVERHEAD + FRAME_OVERHEAD;

const frameSize = (f: Frame): number => encodeWith((w) => encodeFrame(w, f)).length;

/**
 * The one writer every packet's payload is encoded in, reset for each (a packet's frames are sealed into its own
 * buffer before the next packet is built, and nothing keeps the payload): no allocation per packet. Its buffer
 * grows once to the largest payload built (a datagram at most).
 */
const payloadWriter = new Writer(1536);

/**
 * Whether a server keeps its queued Initial frames (all ack-eliciting) out of a datagram of at most `limit` bytes:
 * when `limit` is under 1200, such a datagram could not be padded as RFC 9000 §14.1 requires without going past
 * the anti-amplification allowance (§8.1, the padding counts) or the congestion window. Its Initial ACK still
 * goes; the frames wait for a datagram that can be padded (the client's next datagram adds to the allowance).
 */
const holdInitial = (s: PacketSender, limit: number): boolean => s.config.role === 'server' && limit < DATAGRAM_SIZE;

/** One datagram to send, the spaces it carries packets of, and its bytes counted in flight (RFC 9002 §2). */
export interface BuiltDatagram {
  readonly data: Uint8Array;
  readonly spaces: readonly SpaceId[];
  readonly inFlight: number;
}

/**
 * The next datagram of everything queued (ACKs first in each space, then PATH_RESPONSEs, then queued frames in
 * order, split where CRYPTO or STREAM data does not fit), or `undefined` when nothing is left to send or the
 * anti-amplification limit leaves no room ({@link sendAllowance}). At most the path's datagram size
 * (`s.pmtu`, else {@link DATAGRAM_SIZE}) bytes, never
 * more than the allowance nor `cwndRoom` (what the congestion controller lets go). `ackOnly`: only ACKs that are
 * due (RFC 9002 §7: ACK-only packets are not congestion controlled). An ACK alone is sent only when due
 * ({@link ackDue}); otherwise it rides along with other frames. Call until `undefined`.
 */
export function nextDatagram(s: PacketSender, now: number, cwndRoom = Infinity, ackOnly = false): BuiltDatagram | undefined {
  const limit = Math.floor(Math.min(s.pmtu?.current ?? DATAGRAM_SIZE, sendAllowance(s), ackOnly ? Infinity : cwndRoom));
  if (limit < MIN_DATAGRAM) return undefined;
  const packets: { space: SpaceId; frames: Frame[] }[] = [];
  let room = limit;
  let pathResponse = false;
  for (const id of SPACES) {
    const space = s.spaces[id];
    if (!sendKeys(s, id)) continue;
    if (room < MIN_DATAGRAM) break;
    const frames: Frame[] = [];
    let size = packetOverhead(s, id);
    let acked = false;
    if (space.ackPending && space.received.length && (!ackOnly || ackDue(space))) {
      // RFC 9000 §19.3: the ACK Delay field, in 2^3 µs (our ack_delay_exponent is the default 3).
      const ack = ackFrameFor(space.received, Math.max(0, Math.floor(((now - space.largestRxTime) * 1000) / 8)), ACK_RANGES);
      const n = frameSize(ack);
      if (size + n <= room) {
        frames.push(ack);
        size += n;
        acked = true;
      }
    }
    // RFC 9000 §8.2.2: answer PATH_CHALLENGEs in 1-RTT packets, as many as fit (at most MAX_PATH_RESPONSES wait).
    let answered = 0;
    if (id === 'application' && space.tx && !ackOnly) {
      while (answered < s.pathResponses.length && size + PATH_RESPONSE_SIZE <= room) {
        frames.push({ type: 'pathResponse', data: s.pathResponses[answered++]! });
        size += PATH_RESPONSE_SIZE;
      }
    }
    while (!ackOnly && space.queue.length > 0 && !(id === 'initial' && holdInitial(s, limit))) {
      const item = space.queue[0]!;
      const overhead = frameOverhead(item, room - size);
      const budget = room - size - overhead;
      if (budget < MIN_DATA) break;
      if ((item.type === 'crypto' || item.type === 'stream') && item.data.length > budget) {
        // Split: send what fits now, leave the rest at the head of the queue.
        const head = { ...item, data: item.data.subarray(0, budget), ...(item.type === 'stream' ? { fin: false } : {}) } as QueuedFrame;
        space.queue[0] = { ...item, offset: item.offset + budget, data: item.data.subarray(budget) } as QueuedFrame;
        frames.push(toFrame(s, head));
        size += budget + overhead;
        break;
      }
      space.queue.shift();
      frames.push(toFrame(s, item));
      size += ('data' in item ? item.data.length : 0) + overhead;
    }
    if (frames.length === 0) continue;
    if (acked && frames.length === 1 && !ackDue(space)) continue; // an ACK alone waits until it is due
    if (acked) ackSent(space);
    if (answered > 0) {
      s.pathResponses = s.pathResponses.slice(answered);
      pathResponse = true;
    }
    packets.push({ space: id, frames });
    room -= size;
  }
  if (packets.length === 0) return undefined;
  // RFC 9000 §14.1: a client pads every datagram with an Initial packet to 1200 bytes (inside the Initial,
  // which comes first, so the padding is protected). A server pads every datagram with an ack-eliciting Initial
  // packet to 1200 bytes too ("a server MUST expand the payload of all UDP datagrams carrying ack-eliciting
  // Initial packets"), in its last packet, within `limit` (see `holdInitial`). RFC 9000 §8.2.2: a datagram with a
  // PATH_RESPONSE is expanded to 1200 bytes too (not to a larger path MTU), within the anti-amplification limit.
  const initial = packets.find((p) => p.space === 'initial');
  const rest = packets.filter((p) => p.space !== 'initial');
  const out: Uint8Array[] = [];
  let used = 0;
  let inFlight = 0;
  const build = (p: { space: SpaceId; frames: Frame[] }, padTo: number) => {
    const bytes = buildPacket(s, p.space, p.frames, now, true, padTo);
    used += bytes.length;
    if (isAckEliciting(p.frames)) inFlight += bytes.length;
    return bytes;
  };
  if (initial && s.config.role === 'client') {
    const others = rest.map((p) => build(p, 0));
    const first = buildPacket(s, 'initial', initial.frames, now, true, DATAGRAM_SIZE - used);
    if (isAckEliciting(initial.frames)) inFlight += first.length;
    out.push(first, ...others);
  } else {
    const padTo = pathResponse || (initial && isAckEliciting(initial.frames)) ? Math.min(limit, DATAGRAM_SIZE) : 0;
    packets.forEach((p, i) => out.push(build(p, padTo > 0 && i === packets.length - 1 ? padTo - used : 0)));
  }
  const data = concatBytes(out); // coalesced packets (RFC 9000 §12.2) in one buffer; a lone one as it is
  return { data, spaces: packets.map((p) => p.space), inFlight };
}

/**
 * Our CONNECTION_CLOSE as sent in space `id` (RFC 9000 §10.2.3): an application close (0x1d) in an Initial or
 * Handshake packet becomes a 0x1c frame with APPLICATION_ERROR and an empty Reason Phrase (both MUST: the
 * application's state is not revealed under keys an observer may derive); anything else goes as it is.
 */
export function closeFrameIn(id: SpaceId, frame: Extract<Frame, { type: 'connectionClose' }>): Extract<Frame, { type: 'connectionClose' }> {
  if (id === 'application' || frame.kind !== 'application') return frame;
  return { type: 'connectionClose', kind: 'transport', errorCode: QuicError.APPLICATION_ERROR, frameType: 0, reason: new Uint8Array(0) };
}

/**
 * The datagrams with our CONNECTION_CLOSE (RFC 9000 §10.2.3): one packet in every space we still have write
 * keys for, converted by {@link closeFrameIn}. Before the handshake is confirmed the peer may not read our
 * highest level yet (a server cannot know whether the client has Handshake keys; a client's Finished may not
 * have arrived, so the server has no 1-RTT keys), so the close goes at each level: Initial while its keys are
 * held, Handshake and 1-RTT where they exist; once confirmed, only the 1-RTT keys are left. The packets are
 * coalesced, lowest space first (§12.2), in as few datagrams of at most {@link DATAGRAM_SIZE} bytes as they fit;
 * a client's datagram with an Initial packet is padded to 1200 bytes (§14.1: the server drops it otherwise).
 * A server's stay within the anti-amplification allowance (§8.1, {@link sendAllowance}): a packet that does not
 * fit it is left out, and nothing is sent when none fits (§10.2.1: a closing endpoint may simply not answer).
 * Not recorded for retransmission: a closing endpoint sends them again only in answer to the peer's packets.
 */
export function closeDatagrams(s: PacketSender, frame: Extract<Frame, { type: 'connectionClose' }>, now: number): BuiltDatagram[] {
  const groups: { space: SpaceId; frames: Frame[] }[][] = [];
  let budget = sendAllowance(s); // Infinity for a client
  let room = 0;
  for (const id of SPACES) {
    if (!s.spaces[id].tx) continue;
    const close = closeFrameIn(id, frame);
    // An upper bound of the packet's size (a 4 B packet number): the datagram never exceeds what was budgeted.
    const size = packetOverhead(s, id) + frameSize(close);
    if (size > budget) continue;
    budget -= size;
    if (size > room) {
      groups.push([]);
      room = DATAGRAM_SIZE;
    }
    groups[groups.length - 1]!.push({ space: id, frames: [close] });
    room -= size;
  }
  return groups.map((packets) => {
    // A client's padding goes in the last packet of the datagram.
    const padTo = s.config.role === 'client' && packets.some((p) => p.space === 'initial') ? DATAGRAM_SIZE : 0;
    let built = 0;
    const out = packets.map((p, i) => {
      const bytes = buildPacket(s, p.space, p.frames, now, false, padTo > 0 && i === packets.length - 1 ? padTo - built : 0);
      built += bytes.length;
      return bytes;
    });
    return { data: concatBytes(out), spaces: packets.map((p) => p.space), inFlight: 0 };
  });
}

/**
 * One datagram with a 1-RTT packet of path validation frames (PATH_CHALLENGE, PATH_RESPONSE), padded towards
 * `size` bytes (at most {@link DATAGRAM_SIZE}): RFC 9000 §8.2.1 expands such datagrams to 1200 bytes unless the
 * anti-amplification limit allows less, in which case they go smaller rather than not at all (a server waiting
 * for its client's answer to validate a new path has nothing else to send there). Not recorded: neither frame
 * is ever sent again as it was (§13.3). `undefined` when even the unpadded packet does not fit in `size`.
 */
export function pathDatagram(s: PacketSender, frames: readonly Extract<Frame, { type: 'pathChallenge' | 'pathResponse' }>[], now: number, size: number): Uint8Array | undefined {
  if (size < PACKET_OVERHEAD - 20 + frames.length * PATH_RESPONSE_SIZE) return undefined; // a short header: no SCID, length or version
  return buildPacket(s, 'application', frames, now, false, Math.min(size, DATAGRAM_SIZE));
}

/**
 * A PMTU probe (RFC 9000 §14.3): one 1-RTT packet of exactly `size` bytes, a PING padded out, recorded as
 * ack-eliciting and in flight like any packet (its loss queues nothing again). Returns the datagram and the
 * probe's packet number.
 */
export function probeDatagram(s: PacketSender, now: number, size: number): { readonly datagram: BuiltDatagram; readonly pn: number } {
  const pn = s.spaces.application.nextPn;
  const data = buildPacket(s, 'application', [{ type: 'ping' }], now, true, size);
  return { datagram: { data, spaces: ['application'], inFlight: data.length }, pn };
}

/** Whether any space has send keys (a CONNECTION_CLOSE can be sent). */
export const canSend = (s: PacketSender): boolean => SPACES.some((id) => s.spaces[id].tx);

/**
 * Encode and protect one packet of space `id` with `frames`; `padTo` pads the payload so the packet has that
 * size. With `record`, the packet is kept in `sent` until acknowledged.
 */
function buildPacket(s: PacketSender, id: SpaceId, frames: readonly Frame[], now: number, record: boolean, padTo = 0): Uint8Array {
  const space = s.spaces[id];
  // RFC 9000 §17.2.3: before 1-RTT keys, a client's application data goes in 0-RTT packets (same number space).
  const level = id === 'application' && !space.tx ? 'zeroRtt' : sendLevel(id);
  const pn = space.nextPn++;
  const pnLength = packetNumberLength(pn, space.largestAcked);
  const w = payloadWriter.reset();
  for (const f of frames) encodeFrame(w, f);
  const header = (len: number) =>
    level === 'oneRtt'
      ? encodeShortHeader({ dcid: s.dcid, packetNumber: pn, pnLength, keyPhase: space.keyPhase === 1 })
      : encodeLongHeader({
          type: level,
          dcid: s.dcid,
          scid: s.scid,
          ...(level === 'initial' ? { token: s.token ?? new Uint8Array(0) } : {}),
          packetNumber: pn,
          pnLength,
          payloadLength: len,
          ...(s.config.version !== undefined ? { version: s.config.version } : {}),
        });
  // Header protection samples 16 bytes from 4 bytes after the packet number: short payloads are padded.
  const framed = w.length;
  let pad = Math.max(4 - pnLength - framed, 0);
  if (padTo > 0) {
    pad = Math.max(pad, padTo - (header(framed).length + framed + 16));
    // The Length field of a long header may grow by a byte with the padding: take it from the padding.
    pad = Math.max(0, pad - (header(framed + pad).length - header(framed).length));
  }
  if (pad > 0) w.zeros(pad); // PADDING frames (RFC 9000 §19.1): one zero byte each
  const payload = w.view(); // sealed into the packet's own buffer below, then the writer is free again
  const bytes = protectPacket(s.config.provider, sendKeys(s, id)!, header(payload.length), pn, payload);
  // Only ack-eliciting packets are kept until acknowledged: a bulk receiver's ACK-only packets are never
  // acknowledged by a peer that has nothing ack-eliciting to answer (RFC 9000 §13.2.1), so keeping them would
  // grow `sent` (copied every step) by one per ACK for the whole transfer. They carry nothing to resend.
  if (record && isAckEliciting(frames)) {
    space.sent.push({ pn, timeSent: now, ackEliciting: true, inFlight: true, size: bytes.length, frames: frames.flatMap(toQueued) });
    s.lastAckElicitingSent = now;
  }
  s.bytesSent += bytes.length;
  if (s.qlog) qlogPacket(s.qlog, 'transport:packet_sent', level, pn, pad > 0 ? [...frames, { type: 'padding', length: pad }] : frames, bytes.length, s.dcid, s.scid);
  return bytes;
}

/** RFC 9000 §13.2.1: a packet with anything but ACK, PADDING and CONNECTION_CLOSE is ack-eliciting. */
const isAckEliciting = (frames: readonly Frame[]): boolean => frames.some((f) => f.type !== 'ack' && f.type !== 'padding' && f.type !== 'connectionClose');

/** The frames of a sent packet to send again if it is lost (ACK, PADDING, PING, PATH_RESPONSE are not). */
function toQueued(f: Frame): QueuedFrame[] {
  switch (f.type) {
    case 'crypto':
      return [{ type: 'crypto', offset: f.offset, data: f.data }];
    case 'stream':
      return [{ type: 'stream', streamId: f.streamId, offset: f.offset, data: f.data, fin: f.fin }];
    case 'maxData':
      return [{ type: 'maxData' }];
    case 'maxStreamData':
      return [{ type: 'maxStreamData', streamId: f.streamId }];
    case 'maxStreams':
      return [{ type: 'maxStreams', bidi: f.bidi }];
    case 'handshakeDone':
      return [{ type: 'handshakeDone' }];
    case 'resetStream':
    case 'stopSending':
      return [{ type: f.type, streamId: f.streamId }];
    case 'dataBlocked':
    case 'streamDataBlocked':
    case 'newToken':
    case 'newConnectionId':
    case 'retireConnectionId':
      return [f];
    default:
      return [];
  }
}

/** The wire frame for a queued item (limits are read now, so a re-sent MAX_DATA carries the current value). */
function toFrame(s: PacketSender, q: QueuedFrame): Frame {
  switch (q.type) {
    case 'maxData':
      return { type: 'maxData', max: s.streams.rxLimit };
    case 'maxStreamData':
      return { type: 'maxStreamData', streamId: q.streamId, max: streamRxLimit(s.streams, q.streamId) };
    case 'maxStreams':
      return { type: 'maxStreams', bidi: q.bidi, max: peerStreamLimitOf(s.streams, q.bidi) };
    case 'ping':
      return { type: 'ping' };
    case 'resetStream': {
      const r = streamResetInfo(s.streams, q.streamId);
      return { type: 'resetStream', streamId: q.streamId, errorCode: r.txReset, finalSize: r.finalSize };
    }
    case 'stopSending':
      return { type: 'stopSending', streamId: q.streamId, errorCode: streamResetInfo(s.streams, q.streamId).rxStopped };
    case 'crypto':
    case 'stream':
    case 'handshakeDone':
    case 'dataBlocked':
    case 'streamDataBlocked':
    case 'newToken':
    case 'newConnectionId':
    case 'retireConnectionId':
      return q;
  }
}
