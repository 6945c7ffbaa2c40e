/**
 * QUIC streams (RFC 9000 §2–§4): the send and receive halves of each stream, stream IDs and limits, and flow
 * control per stream and for the connection. Received STREAM frames become `deliver` and `peerClosed`
 * effects; application writes wait here until the peer's limits let {@link takeStreamFrames} move them into
 * the Application space's queue.
 *
 * The functions here change the {@link StreamSet} they are given: the connection copies it once per input with
 * {@link cloneStreamSet}, which shares the streams; a function that changes a stream first takes its own copy
 * ({@link own}, copy-on-write), so a step costs the streams it touches, not all of them, and never changes a
 * stream an earlier state still holds. Out-of-order data is kept in immutable {@link Chunks}.
 */
import { TlsError } from '../core/errors.js';
import type { Frame } from '../wire/quic/frames.js';
import type { TransportParameters } from '../wire/quic/transportParameters.js';
import { ConnectionError, QuicError } from './errors.js';
import { insertChunk, takeContiguous, type Chunks } from './reassembly.js';
import type { QueuedFrame, Space } from './spaces.js';
import type { QuicEffect } from './types.js';
import { checkPriority, DEFAULT_PRIORITY, scheduleStreams, type RoundRobin, type StreamPriority } from './priority.js';

/** Largest STREAM frame payload queued at once, bytes; the builder splits further to fit a packet. */
const MAX_STREAM_CHUNK = 1000;

/**
 * Default of `sendHighWaterMark`: a stream's send buffer counts as full at 256 KiB written and not yet in a
 * packet (the default stream receive window, so a full buffer is about one window the peer has not asked for).
 */
export const DEFAULT_SEND_HIGH_WATER_MARK = 256 * 1024;

/**
 * Out-of-order chunks buffered across all streams of a connection before it closes with INTERNAL_ERROR:
 * 4096. Buffered bytes are bounded by the windows; this bounds the bookkeeping a peer can make us keep for
 * them (RFC 9000 §21.7) — a 1-byte chunk costs more than its byte. A peer needs many gaps per stream, or
 * tiny frames out of order, to come near it (our own frames are up to 1000 bytes, and touching chunks merge).
 */
export const MAX_BUFFERED_CHUNKS = 4096;

/** One stream: both halves (a unidirectional stream has its other half marked finished from the start). */
export interface Stream {
  rxOffset: number;
  /** Received bytes above `rxOffset`, waiting for the gap before them (at most the window, stored once). */
  rxChunks: Chunks;
  /** Highest offset received (for flow control), and the final size once a FIN arrived. */
  rxHighest: number;
  rxFinal?: number;
  rxDone: boolean;
  /** Our receive limit as advertised. */
  rxLimit: number;
  /** Bytes the application has read (the `consumed` input): the stream window follows it (RFC 9000 §4.1). */
  rxConsumed: number;
  /** Bytes of this stream given back to the connection window: read by the application, or abandoned. */
  rxReleased: number;
  txOffset: number;
  /** Data the application wrote that is not yet in a packet. */
  txPending: Uint8Array[];
  /** Bytes in `txPending`: written and not yet in a STREAM frame. */
  txUnsent: number;
  /**
   * The send buffer is full: `txUnsent` reached the set's `txMark` and has not yet fallen to half of it since
   * (the hysteresis keeps a writer from being woken for every packet). {@link sendBufferFacts} reports changes.
   */
  txFull: boolean;
  txFin: boolean;
  txFinQueued: boolean;
  /** The peer's limit for this stream. */
  txLimit: number;
  /** The limit of the last STREAM_DATA_BLOCKED we sent (one per limit, RFC 9000 §4.1). */
  txBlockedAt?: number;
  /** How this stream is served among the others ({@link StreamPriority}); the default when absent. */
  priority?: StreamPriority;
  /** Our sending half was reset with this code (by us, or on the peer's STOP_SENDING): nothing more is sent. */
  txReset?: bigint;
  /** The peer reset its sending half with this code: nothing more is delivered. */
  rxReset?: bigint;
  /** We asked the peer to stop sending (STOP_SENDING) with this code: what still arrives is dropped. */
  rxStopped?: bigint;
}

/** All streams of a connection and connection-level flow control (RFC 9000 §4.1). Mutable within a step. */
export interface StreamSet {
  /** The streams; a stream object is shared with earlier states until {@link own} copies it. */
  readonly byId: Map<number, Stream>;
  /** The streams this step copied (or opened) and may change; empty after {@link cloneStreamSet}. */
  readonly owned: Set<Stream>;
  /** Chunks buffered across all streams ({@link MAX_BUFFERED_CHUNKS}). */
  rxChunkCount: number;
  /** Bytes received (highest offsets summed), and the limit we advertised (MAX_DATA). */
  rxTotal: number;
  rxLimit: number;
  /** Bytes given back to the connection window (read by the application, or of abandoned streams). */
  rxConsumed: number;
  /** Bytes queued for sending, and the peer's limit. */
  txTotal: number;
  /** Unsent bytes at which a stream's send buffer counts as full (`sendHighWaterMark`); free again at half. */
  readonly txMark: number;
  /** Streams whose `txFull` changed in this step, one `sendBuffer` effect each; absent when none did. */
  txFullChanged?: number[];
  txLimit: number;
  /** The limit of the last DATA_BLOCKED we sent (one per limit, RFC 9000 §4.1). */
  txBlockedAt?: number;
  /** Round-robin position among incremental streams, per urgency (`priority.ts`). */
  roundRobin: RoundRobin;
  /** Streams whose sending half was reset (their frames still queued or lost are dropped, not sent). */
  txResets: number;
  /** Flow-control frames queued so far (first sends, not retransmissions), for monitoring and tests. */
  flowFrames: FlowFrameCounts;
  /**
   * Streams opened so far of each type (indexed by the ID's two low bits: client/server, bidirectional/uni), each
   * the next stream index: every lower one is open too (RFC 9000 §3.2), whether or not a frame created its state
   * yet (state is made on first use, so a frame for a high stream ID costs one stream, not all below it).
   */
  opened: readonly [number, number, number, number];
  /** The peer's streams we allow, bidirectional then unidirectional: what our MAX_STREAMS say (RFC 9000 §4.6). */
  peerStreamLimit: readonly [number, number];
  /** Our streams the peer allows, bidirectional then unidirectional, as its MAX_STREAMS frames raised them. */
  ownStreamLimit: readonly [number, number];
  /** Streams closed and forgotten ({@link retireStreams}), per type as in `opened`: how many, and their indices. */
  retired: readonly [number, number, number, number];
  retiredIndices: readonly [IndexRanges, IndexRanges, IndexRanges, IndexRanges];
  /**
   * The streams named by frames in the Application space's sent packets at the last sweep of {@link retireStreams},
   * with the packets' count and newest number then. Packet numbers only grow, so while both are the same the sent
   * packets are the same ones, and the sweep reuses the set instead of scanning them again on every input.
   */
  sentNames?: { readonly inFlight: number; readonly newest: number | undefined; readonly streams: ReadonlySet<number> };
  /** Scans of the sent packets {@link retireStreams} made, for tests that bound its work. */
  sweeps: number;
}

/** Sorted, disjoint half-open ranges of stream indices; streams retire roughly in order, so there are few. */
export type IndexRanges = readonly (readonly [number, number])[];

const inRanges = (ranges: IndexRanges, n: number): boolean => ranges.some(([from, to]) => n >= from && n < to);

/** `ranges` with index `n` added (merged with its neighbours). */
function addToRanges(ranges: IndexRanges, n: number): IndexRanges {
  const out: (readonly [number, number])[] = [];
  let from = n;
  let to = n + 1;
  let placed = false;
  for (const [a, b] of ranges) {
    if (b < from) out.push([a, b]);
    else if (a > to) {
      if (!placed) out.push([from, to]);
      placed = true;
      out.push([a, b]);
    } else {
      from = Math.min(from, a);
      to = Math.max(to, b);
    }
  }
  if (!placed) out.push([from, to]);
  return out;
}

/** How many of each flow-control frame a connection queued (RFC 9000 §19.9–§19.13). */
export interface FlowFrameCounts {
  readonly maxData: number;
  readonly maxStreamData: number;
  readonly dataBlocked: number;
  readonly streamDataBlocked: number;
}

/** Queue flow-control frame `f` and count it. */
function queueFlow(x: StreamSet, out: QueuedFrame[], f: Extract<QueuedFrame, { type: keyof FlowFrameCounts }>): void {
  out.push(f);
  x.flowFrames = { ...x.flowFrames, [f.type]: x.flowFrames[f.type] + 1 };
}

/** Our side's stream settings, from the connection's configuration. */
export interface StreamSettings {
  readonly role: 'client' | 'server';
  /** Connection-level receive window, bytes. */
  readonly maxData: number;
  /** Per-stream receive window, bytes. */
  readonly maxStreamData: number;
  /** Streams of each kind the peer may open. */
  readonly maxStreams: number;
}

export const newStreamSet = (maxData: number, sendHighWaterMark = DEFAULT_SEND_HIGH_WATER_MARK, maxStreams = 0): StreamSet => ({
  byId: new Map(),
  owned: new Set(),
  rxChunkCount: 0,
  rxTotal: 0,
  rxLimit: maxData,
  rxConsumed: 0,
  txTotal: 0,
  txLimit: 0,
  txMark: sendHighWaterMark,
  txResets: 0,
  roundRobin: {},
  flowFrames: { maxData: 0, maxStreamData: 0, dataBlocked: 0, streamDataBlocked: 0 },
  opened: [0, 0, 0, 0],
  peerStreamLimit: [maxStreams, maxStreams],
  ownStreamLimit: [0, 0],
  retired: [0, 0, 0, 0],
  retiredIndices: [[], [], [], []],
  sweeps: 0,
});

/**
 * The copy a step works on: a new map sharing the stream objects (O(streams), nothing per buffered byte or
 * chunk). Streams are copied on the first change ({@link own}).
 */
export function cloneStreamSet(x: StreamSet): StreamSet {
  return { ...x, byId: new Map(x.byId), owned: new Set(), txFullChanged: undefined };
}

/** Stream `id` (which exists), copied first unless this step already owns it: copy-on-write. */
function own(x: StreamSet, id: number): Stream {
  const st = x.byId.get(id)!;
  if (x.owned.has(st)) return st;
  const copy = { ...st, txPending: [...st.txPending] };
  x.byId.set(id, copy);
  x.owned.add(copy);
  return copy;
}

const misuse = (reason: string) => new TlsError({ kind: 'apiMisuse', reason });

/** RFC 9000 §2.1: bit 0 of a stream ID is the initiator (0 client), bit 1 the direction (1 unidirectional). */
export const isLocal = (id: number, role: StreamSettings['role']): boolean => (id & 1) === (role === 'client' ? 0 : 1);
const isUni = (id: number): boolean => (id & 2) !== 0;
/** 0 for a bidirectional stream, 1 for a unidirectional one: the index of the per-kind limits. */
const kindOf = (id: number): 0 | 1 => (isUni(id) ? 1 : 0);

/**
 * Whether stream `id` was opened and has since been closed and retired ({@link retireStreams}): frames for it are
 * late (a retransmission, a reset crossing our FIN) and are ignored, as RFC 9000 §3 allows in its final states.
 */
export const isRetiredStream = (x: StreamSet, id: number): boolean => !x.byId.has(id) && inRanges(x.retiredIndices[id & 3], Math.floor(id / 4));

/** Whether stream `id` is open without state yet: below a stream of its type that was opened (RFC 9000 §3.2). */
const openedImplicitly = (x: StreamSet, id: number): boolean => !x.byId.has(id) && Math.floor(id / 4) < x.opened[id & 3] && !isRetiredStream(x, id);

/** `tuple` with element `i` replaced by `value` (the stream set's per-type counts are replaced, never changed). */
const withAt = <T extends readonly number[]>(tuple: T, i: number, value: number): T => tuple.map((v, k) => (k === i ? value : v)) as unknown as T;

/** Largest stream count a MAX_STREAMS frame may carry (RFC 9000 §4.6, §19.11). */
const MAX_STREAM_COUNT = 2 ** 60;

/** The peer's transport parameters took effect: its connection-level limit (RFC 9000 §18.2 initial_max_data). */
export function peerLimitsKnown(x: StreamSet, params: TransportParameters): void {
  x.txLimit = params.initialMaxData ?? 0;
}

/** The application writes `data` on stream `id` (opening it if it is ours and new). API misuse throws. */
export function writeStream(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number, data: Uint8Array): void {
  const st = sendHalf(x, cfg, peer, id);
  if (st.txReset !== undefined) throw misuse(`stream ${id} was reset (code ${st.txReset})`);
  if (st.txFin) throw misuse(`stream ${id} was already ended`);
  if (data.length === 0) return;
  st.txPending.push(data.slice());
  st.txUnsent += data.length;
  if (!st.txFull && st.txUnsent >= x.txMark) setFull(x, id, st, true);
}

/** Stream `id`'s send buffer became full or free: noted for this step's `sendBuffer` effects (a flip back cancels). */
function setFull(x: StreamSet, id: number, st: Stream, full: boolean): void {
  st.txFull = full;
  const changed = (x.txFullChanged ??= []);
  const i = changed.indexOf(id);
  if (i >= 0) changed.splice(i, 1);
  else changed.push(id);
}

/**
 * Stream `id`'s send buffer: `unsent` bytes written and not yet in a STREAM frame, and whether it is `full`
 * (reached `sendHighWaterMark`, and not yet back to half of it). Zero and free for a stream not open.
 */
export function streamSendBuffer(x: StreamSet, id: number): { readonly unsent: number; readonly full: boolean } {
  const st = x.byId.get(id);
  return { unsent: st?.txUnsent ?? 0, full: st?.txFull ?? false };
}

/**
 * The `sendBuffer` effects of this step: one per stream whose send buffer became full or free (not for a stream
 * reset meanwhile: its writes are over). Inserted before a final `closed`, as TLS places its facts.
 */
export function sendBufferFacts(x: StreamSet, effects: QuicEffect[]): void {
  const changed = x.txFullChanged;
  if (!changed) return;
  x.txFullChanged = undefined;
  const facts: QuicEffect[] = [];
  for (const id of changed) {
    const st = x.byId.get(id);
    if (st && st.txReset === undefined) facts.push({ type: 'sendBuffer', stream: id, unsent: st.txUnsent, full: st.txFull });
  }
  const at = effects[effects.length - 1]?.type === 'closed' ? effects.length - 1 : effects.length;
  effects.splice(at, 0, ...facts);
}

/** The application ends stream `id`: a FIN follows the data written. */
export function endStream(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number): void {
  if (isRetiredStream(x, id) && isLocal(id, cfg.role)) return; // ended (or reset) and finished already
  sendHalf(x, cfg, peer, id).txFin = true;
}

/** Our stream `id` for sending: an existing one, or a new locally initiated one (within the peer's limits). */
function sendHalf(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number): Stream {
  const existing = x.byId.get(id);
  const local = isLocal(id, cfg.role);
  if (existing) {
    if (!local && isUni(id)) throw misuse(`stream ${id} is the peer's unidirectional stream`);
    return own(x, id);
  }
  if (isRetiredStream(x, id)) throw misuse(`stream ${id} is closed`);
  if (!local) throw misuse(`stream ${id} has not been opened by the peer`);
  const uni = isUni(id);
  const index = Math.floor(id / 4);
  const limit = ownStreamLimit(x, peer, id);
  if (index >= limit) throw misuse(`stream ${id}: the peer allows ${limit} ${uni ? 'unidirectional' : 'bidirectional'} streams`);
  return openStream(x, cfg, peer, id, true);
}

/** How many of our streams of `id`'s kind the peer allows: its transport parameter, or more by MAX_STREAMS. */
function ownStreamLimit(x: StreamSet, peer: TransportParameters | undefined, id: number): number {
  const initial = isUni(id) ? (peer?.initialMaxStreamsUni ?? 0) : (peer?.initialMaxStreamsBidi ?? 0);
  return Math.max(initial, x.ownStreamLimit[kindOf(id)]);
}

/**
 * Whether the peer allows our stream `id` now (its transport parameter, or more by MAX_STREAMS): the Rx layer holds
 * the commands of a stream opened beyond it until it does.
 */
export const peerAllowsStream = (x: StreamSet, peer: TransportParameters | undefined, id: number): boolean => Math.floor(id / 4) < ownStreamLimit(x, peer, id);

/** MAX_STREAMS from the peer (RFC 9000 §19.11): our stream limit of that kind only grows. */
export function peerMaxStreams(x: StreamSet, bidi: boolean, max: number): void {
  const k = bidi ? 0 : 1;
  if (max > x.ownStreamLimit[k]) x.ownStreamLimit = withAt(x.ownStreamLimit, k, max);
}

/**
 * A new stream `id`, opened by us (`local`) or by the peer. A unidirectional stream has only the opener's
 * sending half. The send limit is the peer's initial_max_stream_data for that kind of stream (RFC 9000 §18.2:
 * "bidi_remote" for streams we open, "bidi_local" for those it opens).
 */
function openStream(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number, local: boolean): Stream {
  // RFC 9000 §3.2: opening a stream opens every lower-numbered one of its type (their state comes on first use).
  const type = id & 3;
  const index = Math.floor(id / 4);
  if (index >= x.opened[type]) x.opened = withAt(x.opened, type, index + 1);
  const uni = isUni(id);
  const p = peer ?? {};
  const txLimit = uni ? (local ? (p.initialMaxStreamDataUni ?? 0) : 0) : local ? (p.initialMaxStreamDataBidiRemote ?? 0) : (p.initialMaxStreamDataBidiLocal ?? 0);
  const st: Stream = {
    rxOffset: 0,
    rxChunks: [],
    rxHighest: 0,
    rxDone: uni && local,
    rxLimit: cfg.maxStreamData,
    rxConsumed: 0,
    rxReleased: 0,
    txOffset: 0,
    txPending: [],
    txUnsent: 0,
    txFull: false,
    txFin: uni && !local,
    txFinQueued: uni && !local,
    txLimit,
  };
  x.byId.set(id, st);
  x.owned.add(st);
  return st;
}

/**
 * A STREAM frame from the peer (RFC 9000 §19.8): checks stream state, limits and final size; contiguous data
 * becomes `deliver` effects, a complete stream `peerClosed`. Window updates (MAX_STREAM_DATA, MAX_DATA) go to
 * `control` once half a window is used. Peer faults throw a {@link ConnectionError}.
 */
export function receiveStreamFrame(
  x: StreamSet,
  cfg: StreamSettings,
  peer: TransportParameters | undefined,
  f: Extract<Frame, { type: 'stream' }>,
  effects: QuicEffect[],
  control: QueuedFrame[],
): void {
  const id = f.streamId;
  const peerInitiated = !isLocal(id, cfg.role);
  const uni = isUni(id);
  let st = x.byId.get(id);
  if (!st) {
    if (!peerInitiated && uni) throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `STREAM on our own unidirectional stream ${id}`, 0x08);
    if (isRetiredStream(x, id)) return; // a late frame of a stream closed and forgotten
    if (!peerInitiated && !openedImplicitly(x, id)) throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `STREAM on our stream ${id}, never opened`, 0x08);
    if (peerInitiated) checkPeerStreamLimit(x, id, 0x08);
    st = openStream(x, cfg, peer, id, false);
  } else if (!peerInitiated && uni) {
    throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `STREAM on our own unidirectional stream ${id}`, 0x08);
  } else {
    st = own(x, id);
  }
  const end = f.offset + f.data.length;
  // RFC 9000 §4.5: the final size never changes and nothing lies beyond it.
  if (st.rxFinal !== undefined && (end > st.rxFinal || (f.fin && end !== st.rxFinal))) throw new ConnectionError(QuicError.FINAL_SIZE_ERROR, `stream ${id}: final size changed`, 0x08);
  if (f.fin) {
    if (end < st.rxHighest) throw new ConnectionError(QuicError.FINAL_SIZE_ERROR, `stream ${id}: FIN below data already received`, 0x08);
    st.rxFinal = end;
  }
  // RFC 9000 §4.1: flow control, per stream and for the connection.
  if (end > st.rxLimit) throw new ConnectionError(QuicError.FLOW_CONTROL_ERROR, `stream ${id}: data beyond the stream limit`, 0x08);
  if (end > st.rxHighest) {
    x.rxTotal += end - st.rxHighest;
    st.rxHighest = end;
    if (x.rxTotal > x.rxLimit) throw new ConnectionError(QuicError.FLOW_CONTROL_ERROR, 'data beyond the connection limit', 0x08);
  }
  // Reset by the peer, or we asked it to stop: counted for flow control above, but not kept or delivered; its
  // bytes go back to the connection window at once (nobody will read them).
  if (st.rxReset !== undefined || st.rxStopped !== undefined) return releaseCredit(x, cfg, st, control);
  // Only bytes not yet buffered are kept, within [rxOffset, rxLimit): at most one window (RFC 9000 §21.7).
  const before = st.rxChunks.length;
  // In order with nothing buffered (a bulk transfer's every frame): delivered as a view of the decrypted payload,
  // which nothing else holds; only out-of-order data is copied into the reassembly buffer.
  const inOrder = before === 0 && f.offset <= st.rxOffset;
  const { data, rest } = inOrder
    ? { data: f.data.subarray(Math.min(f.data.length, st.rxOffset - f.offset)), rest: st.rxChunks }
    : takeContiguous(insertChunk(st.rxChunks, st.rxOffset, f.offset, f.data), st.rxOffset);
  st.rxChunks = rest;
  x.rxChunkCount += rest.length - before;
  if (x.rxChunkCount > MAX_BUFFERED_CHUNKS) throw new ConnectionError(QuicError.INTERNAL_ERROR, `stream data too fragmented: over ${MAX_BUFFERED_CHUNKS} out-of-order chunks`, 0x08);
  if (data.length > 0) {
    st.rxOffset += data.length;
    // The windows re-open only as the application reads (the `consumed` input, {@link consumeStream}).
    effects.push({ type: 'deliver', data, stream: id });
  }
  if (!st.rxDone && st.rxFinal !== undefined && st.rxOffset === st.rxFinal) {
    st.rxDone = true;
    effects.push({ type: 'peerClosed', stream: id });
  }
}

/** MAX_DATA from the peer (RFC 9000 §19.9): limits only grow. */
export function peerMaxData(x: StreamSet, max: number): void {
  x.txLimit = Math.max(x.txLimit, max);
}

/** A stream's send limit raised to `max` (a peer's MAX_STREAM_DATA, or its parameters once 0-RTT is accepted): limits only grow. */
export function peerMaxStreamData(x: StreamSet, id: number, max: number): void {
  const st = x.byId.get(id);
  if (st && max > st.txLimit) own(x, id).txLimit = max;
}

/** MAX_STREAM_DATA from the peer (RFC 9000 §19.10): more credit for a stream we send on. */
export function receiveMaxStreamData(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number, max: number): void {
  // RFC 9000 §19.10: the peer's unidirectional stream is receive-only for us; §3.2, §4.6 as for any frame that
  // names a stream (one of ours never opened, a peer's beyond our limit); late for a retired stream, ignored.
  if (!isLocal(id, cfg.role) && isUni(id)) throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `MAX_STREAM_DATA on the peer's unidirectional stream ${id}`, 0x11);
  const st = peerStream(x, cfg, peer, id, 0x11);
  if (st && max > st.txLimit) st.txLimit = max;
}

/**
 * STREAM_DATA_BLOCKED from the peer (RFC 9000 §19.13): nothing to do (our credit follows what the application
 * reads), but the stream it names is checked like any other: our unidirectional stream is send-only for us
 * (STREAM_STATE_ERROR), and §3.2, §4.6 apply.
 */
export function receiveStreamDataBlocked(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number): void {
  if (isLocal(id, cfg.role) && isUni(id)) throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `STREAM_DATA_BLOCKED on our unidirectional stream ${id}`, 0x15);
  peerStream(x, cfg, peer, id, 0x15);
}

/**
 * The application read `bytes` more of stream `id` (RFC 9000 §4.1, §4.2): the receive windows follow what it
 * reads, not what arrived, so a slow reader keeps the peer blocked instead of making us buffer. A new limit
 * (MAX_STREAM_DATA, MAX_DATA) is queued once the bytes read since the last one reach half a window. API misuse
 * for an unknown stream or more bytes than were delivered.
 */
export function consumeStream(x: StreamSet, cfg: StreamSettings, id: number, bytes: number, control: QueuedFrame[]): void {
  const st0 = x.byId.get(id);
  if (!st0) throw misuse(`stream ${id} is not open`);
  if (!Number.isInteger(bytes) || bytes < 0 || st0.rxConsumed + bytes > st0.rxOffset) {
    throw misuse(`stream ${id}: ${bytes} bytes consumed, ${st0.rxOffset - st0.rxConsumed} delivered and unread`);
  }
  if (bytes === 0) return;
  const st = own(x, id);
  st.rxConsumed += bytes;
  if (st.rxFinal === undefined && st.rxConsumed > st.rxLimit - cfg.maxStreamData / 2) {
    st.rxLimit = st.rxConsumed + cfg.maxStreamData;
    queueFlow(x, control, { type: 'maxStreamData', streamId: id });
  }
  releaseCredit(x, cfg, st, control);
}

/**
 * Give stream `st`'s bytes back to the connection window: those the application read, and once the stream is
 * abandoned (reset by the peer, or we sent STOP_SENDING) all it received that was never delivered. MAX_DATA is
 * queued once the connection's released bytes reach half a window past the last one.
 */
function releaseCredit(x: StreamSet, cfg: StreamSettings, st: Stream, control: QueuedFrame[]): void {
  const abandoned = st.rxReset !== undefined || st.rxStopped !== undefined;
  const upTo = st.rxConsumed + (abandoned ? st.rxHighest - st.rxOffset : 0);
  if (upTo <= st.rxReleased) return;
  x.rxConsumed += upTo - st.rxReleased;
  st.rxReleased = upTo;
  if (x.rxConsumed > x.rxLimit - cfg.maxData / 2) {
    x.rxLimit = x.rxConsumed + cfg.maxData;
    queueFlow(x, control, { type: 'maxData' });
  }
}

/**
 * The application sets the priority of stream `id` (RFC 9218 §4), opening it if it is ours and new; the next
 * packets follow it. API misuse for a stream we cannot send on or a priority out of range.
 */
export function setStreamPriority(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number, p: Partial<StreamPriority>): void {
  const priority = checkPriority(p);
  sendHalf(x, cfg, peer, id).priority = priority;
}

/** The bytes stream `st` may send now: the smaller of its room and the connection's. */
const sendRoom = (x: StreamSet, st: Stream): number => Math.min(st.txLimit - st.txOffset, x.txLimit - x.txTotal);

/** Whether stream `st` has a frame to send now: data within the limits, or a FIN. */
const sendable = (x: StreamSet, st: Stream): boolean =>
  st.txReset === undefined && ((st.txPending.length > 0 && sendRoom(x, st) > 0) || (st.txFin && !st.txFinQueued && st.txPending.length === 0));

/**
 * Move the stream data the peer's limits allow (and FINs) out of the streams, as STREAM frames to queue, at most
 * `budget` bytes of data: what the congestion window can take soon, so that a more urgent write made later is
 * not stuck behind a long queue. Streams are served in priority order (`priority.ts`): lower urgency first;
 * within one urgency non-incremental streams one after another, then incremental ones round-robin, up to
 * {@link MAX_STREAM_CHUNK} bytes a turn. A stream blocked by the peer's limit draws one STREAM_DATA_BLOCKED per
 * limit, the connection one DATA_BLOCKED (RFC 9000 §4.1, §19.12, §19.13).
 */
export function takeStreamFrames(x: StreamSet, budget = Infinity): QueuedFrame[] {
  const out: QueuedFrame[] = [];
  const ready: number[] = [];
  for (const [id, st] of x.byId) if (sendable(x, st)) ready.push(id);
  let left = budget;
  if (ready.length > 0) {
    const groups = scheduleStreams(ready, (id) => x.byId.get(id)!.priority ?? DEFAULT_PRIORITY, x.roundRobin);
    for (const g of groups) {
      for (const id of g.sequential) {
        if (left <= 0) break;
        left -= takeFrom(x, id, left, out);
      }
      let ring = g.rotating;
      while (ring.length > 0 && left > 0) {
        const again: number[] = [];
        for (const id of ring) {
          if (left <= 0) break;
          left -= takeFrom(x, id, Math.min(left, MAX_STREAM_CHUNK), out);
          x.roundRobin = { ...x.roundRobin, [g.urgency]: id };
          if (sendable(x, x.byId.get(id)!)) again.push(id);
        }
        ring = again;
      }
      if (left <= 0) break;
    }
  }
  // RFC 9000 §4.1: a sender blocked by flow control with data to send says so, once per limit.
  let connectionBlocked = false;
  for (const [id, st] of x.byId) {
    if (st.txReset !== undefined || st.txPending.length === 0) continue;
    if (st.txLimit <= st.txOffset) {
      if (st.txBlockedAt !== st.txLimit) {
        own(x, id).txBlockedAt = st.txLimit;
        queueFlow(x, out, { type: 'streamDataBlocked', streamId: id, limit: st.txLimit });
      }
    } else if (x.txLimit <= x.txTotal) connectionBlocked = true;
  }
  if (connectionBlocked && x.txBlockedAt !== x.txLimit) {
    x.txBlockedAt = x.txLimit;
    queueFlow(x, out, { type: 'dataBlocked', limit: x.txLimit });
  }
  return out;
}

/** Take up to `max` bytes of stream `id` as STREAM frames (and its FIN when all is taken); the bytes taken. */
function takeFrom(x: StreamSet, id: number, max: number, out: QueuedFrame[]): number {
  const st = own(x, id);
  let taken = 0;
  while (st.txPending.length > 0) {
    const room = Math.min(sendRoom(x, st), max - taken);
    if (room <= 0) break;
    const head = st.txPending[0]!;
    const n = Math.min(room, head.length, MAX_STREAM_CHUNK);
    const data = head.subarray(0, n);
    if (n === head.length) st.txPending.shift();
    else st.txPending[0] = head.subarray(n);
    const fin = st.txFin && st.txPending.length === 0;
    out.push({ type: 'stream', streamId: id, offset: st.txOffset, data, fin });
    if (fin) st.txFinQueued = true;
    st.txOffset += n;
    st.txUnsent -= n;
    x.txTotal += n;
    taken += n;
  }
  if (st.txFull && st.txUnsent <= x.txMark / 2) setFull(x, id, st, false);
  if (st.txFin && !st.txFinQueued && st.txPending.length === 0) {
    out.push({ type: 'stream', streamId: id, offset: st.txOffset, data: new Uint8Array(0), fin: true });
    st.txFinQueued = true;
  }
  return taken;
}

/**
 * Stream data (or a FIN) not yet sent, or sent in `application` and not yet acknowledged; a reset stream's data
 * does not count (OpenSSL `SSL_shutdown_ex`: reset streams are not flushed).
 */
export function streamsOutstanding(x: StreamSet, application: Space): boolean {
  for (const st of x.byId.values()) if (st.txReset === undefined && (st.txPending.length > 0 || (st.txFin && !st.txFinQueued))) return true;
  const live = (f: QueuedFrame) => f.type === 'stream' && x.byId.get(f.streamId)?.txReset === undefined;
  return application.queue.some(live) || application.sent.some((p) => p.frames.some(live));
}

/** The application or the peer's STOP_SENDING resets our sending half of stream `id`: a RESET_STREAM to queue. */
function resetSendHalf(x: StreamSet, id: number, code: bigint, control: QueuedFrame[]): boolean {
  const st = own(x, id);
  if (st.txReset !== undefined) return false;
  // RFC 9000 §3.1: no RESET_STREAM once all data and the FIN are acknowledged ("Data Recvd"); we do not track
  // that per stream, so a reset after the FIN was sent is still sent: the peer ignores it (§3.2).
  st.txReset = code;
  st.txPending = [];
  st.txUnsent = 0;
  st.txFull = false; // no `sendBuffer` fact: the writes are over (`stopSending` effect, or the application's reset)
  x.txResets++;
  control.push({ type: 'resetStream', streamId: id });
  return true;
}

/**
 * The application resets stream `id` (RFC 9000 §19.4): a RESET_STREAM with `code` and the final size, nothing
 * more of its data is sent (what is queued or lost is dropped). API misuse for a stream we cannot send on.
 */
export function resetStream(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number, code: bigint, control: QueuedFrame[]): void {
  if (isRetiredStream(x, id)) return; // finished both ways already: nothing to reset
  sendHalf(x, cfg, peer, id);
  resetSendHalf(x, id, code, control);
}

/**
 * The application stops reading stream `id` (RFC 9000 §19.5): a STOP_SENDING with `code`; what still arrives is
 * dropped. Our own bidirectional stream not written yet is opened by it, as a write would open it (the peer may
 * receive a STOP_SENDING for a stream of ours it has not seen: it opens the stream there, §3.2, §19.5). API misuse
 * for a stream with no receiving half (our unidirectional one) or a peer's stream not yet opened.
 */
export function stopSending(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number, code: bigint, control: QueuedFrame[]): void {
  if (isLocal(id, cfg.role) && isUni(id)) throw misuse(`stream ${id} is our unidirectional stream: nothing to stop`);
  if (!x.byId.has(id) && isRetiredStream(x, id)) return; // everything was read already
  const st0 = x.byId.get(id) ?? (isLocal(id, cfg.role) ? sendHalf(x, cfg, peer, id) : undefined);
  if (!st0) throw misuse(`stream ${id} is not open`);
  const st = own(x, id);
  if (st.rxStopped !== undefined || st.rxDone) return;
  st.rxStopped = code;
  x.rxChunkCount -= st.rxChunks.length;
  st.rxChunks = [];
  control.push({ type: 'stopSending', streamId: id });
  releaseCredit(x, cfg, st, control);
}

/**
 * A stream the peer may refer to in RESET_STREAM / STOP_SENDING: an open one, or a peer's new one (opened);
 * undefined for one closed and retired (the frame is late and ignored).
 */
function peerStream(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, id: number, frameType: number): Stream | undefined {
  if (x.byId.has(id)) return own(x, id);
  if (isRetiredStream(x, id)) return undefined;
  const local = isLocal(id, cfg.role);
  if (local && !openedImplicitly(x, id)) throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `stream ${id} was never opened`, frameType);
  if (!local) checkPeerStreamLimit(x, id, frameType);
  return openStream(x, cfg, peer, id, local);
}

/** RFC 9000 §4.6: a peer's stream beyond what our MAX_STREAMS allow is STREAM_LIMIT_ERROR. */
function checkPeerStreamLimit(x: StreamSet, id: number, frameType: number): void {
  const limit = x.peerStreamLimit[kindOf(id)];
  if (Math.floor(id / 4) >= limit) throw new ConnectionError(QuicError.STREAM_LIMIT_ERROR, `stream ${id} beyond our limit of ${limit}`, frameType);
}

/**
 * RESET_STREAM from the peer (RFC 9000 §19.4, §4.5): its sending half of the stream ends with `errorCode`; the
 * final size is checked against what arrived and flow control; a `streamReset` effect ends that stream only.
 */
export function receiveResetStream(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, f: Extract<Frame, { type: 'resetStream' }>, effects: QuicEffect[], control: QueuedFrame[]): void {
  const id = f.streamId;
  if (isLocal(id, cfg.role) && isUni(id)) throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `RESET_STREAM on our unidirectional stream ${id}`, 0x04);
  const st = peerStream(x, cfg, peer, id, 0x04);
  if (!st) return;
  if ((st.rxFinal !== undefined && f.finalSize !== st.rxFinal) || f.finalSize < st.rxHighest) throw new ConnectionError(QuicError.FINAL_SIZE_ERROR, `stream ${id}: final size changed`, 0x04);
  if (f.finalSize > st.rxLimit) throw new ConnectionError(QuicError.FLOW_CONTROL_ERROR, `stream ${id}: final size beyond the stream limit`, 0x04);
  x.rxTotal += f.finalSize - st.rxHighest;
  st.rxHighest = f.finalSize;
  st.rxFinal = f.finalSize;
  if (x.rxTotal > x.rxLimit) throw new ConnectionError(QuicError.FLOW_CONTROL_ERROR, 'data beyond the connection limit', 0x04);
  if (st.rxDone || st.rxReset !== undefined) return; // all data already delivered, or a repeated RESET_STREAM
  st.rxReset = f.errorCode;
  st.rxDone = true;
  x.rxChunkCount -= st.rxChunks.length;
  st.rxChunks = [];
  // The bytes that will never be read give their connection credit back (RFC 9000 §4.5).
  releaseCredit(x, cfg, st, control);
  if (st.rxStopped === undefined) effects.push({ type: 'streamReset', stream: id, errorCode: f.errorCode });
}

/**
 * STOP_SENDING from the peer (RFC 9000 §19.5, §3.5): it reads no more of the stream, so our sending half is
 * reset with the same code (a RESET_STREAM), and a `stopSending` effect tells the application its writes stop.
 */
export function receiveStopSending(x: StreamSet, cfg: StreamSettings, peer: TransportParameters | undefined, f: Extract<Frame, { type: 'stopSending' }>, effects: QuicEffect[], control: QueuedFrame[]): void {
  const id = f.streamId;
  if (!isLocal(id, cfg.role) && isUni(id)) throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `STOP_SENDING on the peer's unidirectional stream ${id}`, 0x05);
  if (!peerStream(x, cfg, peer, id, 0x05)) return;
  if (resetSendHalf(x, id, f.errorCode, control)) effects.push({ type: 'stopSending', stream: id, errorCode: f.errorCode });
}

/**
 * A stream both of whose halves are over: the sending half reset, or all its data and FIN in frames; the receiving
 * half reset by the peer, all of it read by the application, or stopped by us once the peer gave the final size (so
 * connection-level credit is settled, RFC 9000 §4.5).
 */
const finished = (st: Stream): boolean =>
  (st.txReset !== undefined || (st.txFinQueued && st.txPending.length === 0)) &&
  (st.rxReset !== undefined || (st.rxStopped !== undefined && st.rxFinal !== undefined) || (st.rxDone && st.rxConsumed >= st.rxOffset));

/** Frames that name a stream and read its state when sent or resent: the stream is kept while one is queued or in flight. */
const streamOf = (f: QueuedFrame): number | undefined =>
  f.type === 'stream' || f.type === 'maxStreamData' || f.type === 'resetStream' || f.type === 'stopSending' || f.type === 'streamDataBlocked' ? f.streamId : undefined;

/**
 * Forget finished streams (RFC 9000 §3: their final states), so that a connection's state stays the size of its
 * open streams however many it carries, and give the peer new stream credit for its own (MAX_STREAMS, §4.6): our
 * limit for each kind is the configured count plus the peer's streams retired so far. A stream is kept while a
 * frame that names it is queued or in flight in `application`. The sweep runs once at least `batch` streams are
 * finished (a quarter of `maxStreams`, at most 16), so its scan of the sent packets is paid for a batch of streams,
 * not one; a MAX_STREAMS is queued for each kind whose limit grew.
 */
export function retireStreams(x: StreamSet, cfg: StreamSettings, application: Space): void {
  const batch = Math.max(1, Math.min(16, Math.floor(cfg.maxStreams / 4)));
  const done: number[] = [];
  for (const [id, st] of x.byId) if (finished(st)) done.push(id);
  if (done.length < batch) return;
  // Frames queued are few: looked at every time. The sent packets only when they changed.
  const sent = application.sent;
  const newest = sent[sent.length - 1]?.pn;
  let named = x.sentNames;
  if (!named || named.inFlight !== sent.length || named.newest !== newest) {
    x.sweeps++;
    const streams = new Set<number>();
    for (const p of sent) {
      for (const f of p.frames) {
        const id = streamOf(f);
        if (id !== undefined) streams.add(id);
      }
    }
    named = { inFlight: sent.length, newest, streams };
    x.sentNames = named;
  }
  const busy = new Set<number>(named.streams);
  for (const f of application.queue) {
    const id = streamOf(f);
    if (id !== undefined) busy.add(id);
  }
  if (done.every((id) => busy.has(id))) return;
  const indices = [...x.retiredIndices] as [IndexRanges, IndexRanges, IndexRanges, IndexRanges];
  for (const id of done) {
    if (busy.has(id)) continue;
    x.byId.delete(id);
    x.retired = withAt(x.retired, id & 3, x.retired[id & 3] + 1);
    indices[id & 3] = addToRanges(indices[id & 3], Math.floor(id / 4));
  }
  x.retiredIndices = indices;
  // Our limit for each kind of the peer's streams: the configured count plus those retired (it only grows).
  const peerType = cfg.role === 'client' ? 1 : 0; // the low bit of the peer's stream IDs
  for (const k of [0, 1] as const) {
    const limit = Math.min(MAX_STREAM_COUNT, cfg.maxStreams + x.retired[peerType | (k << 1)]);
    if (limit <= x.peerStreamLimit[k]) continue;
    x.peerStreamLimit = withAt(x.peerStreamLimit, k, limit);
    const bidi = k === 0;
    if (!application.queue.some((f) => f.type === 'maxStreams' && f.bidi === bidi)) application.queue.push({ type: 'maxStreams', bidi });
  }
}

/** Our limit for the peer's streams of one kind, as a MAX_STREAMS frame carries it now. */
export const peerStreamLimitOf = (x: StreamSet, bidi: boolean): number => x.peerStreamLimit[bidi ? 0 : 1];

/** Whether stream `id`'s sending half was reset (its frames are dropped from the queues). */
export const sendReset = (x: StreamSet, id: number): boolean => x.byId.get(id)?.txReset !== undefined;

/** What a queued RESET_STREAM / STOP_SENDING of stream `id` carries now: the codes and the final size. */
export function streamResetInfo(x: StreamSet, id: number): { readonly txReset: bigint; readonly finalSize: number; readonly rxStopped: bigint } {
  const st = x.byId.get(id);
  return { txReset: st?.txReset ?? 0n, finalSize: st?.txOffset ?? 0, rxStopped: st?.rxStopped ?? 0n };
}

/** Our current receive limit of stream `id` (0 for a stream we do not know), for a MAX_STREAM_DATA frame. */
export const streamRxLimit = (x: StreamSet, id: number): number => x.byId.get(id)?.rxLimit ?? 0;
