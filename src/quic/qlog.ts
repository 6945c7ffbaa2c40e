/**
 * qlog for QUIC (draft-ietf-quic-qlog-main-schema, draft-ietf-quic-qlog-quic-events; version 0.3 of the
 * schema, the one ngtcp2 writes and qvis loads): the events the reducer emits when `QuicConfig.qlog` is on,
 * and the JSON-SEQ serialization (RFC 7464: each JSON text preceded by 0x1E and followed by 0x0A).
 *
 * Portable like the rest of `src/quic/`: no clock, no file. The reducer collects event bodies during a step
 * (`QlogSink`, only when enabled: a disabled connection builds none) and stamps them with the step's `now`
 * relative to its `start` ({@link QlogEvent.time}, ms); the RxJS layer writes them with {@link qlogHeader} and
 * {@link qlogRecord}, one file (`<ODCID>.sqlog`) or one callback per connection.
 *
 * Field names follow the drafts and ngtcp2's output (PEERS.md §3): `header.packet_type` / `packet_number` /
 * `dcid` / `scid`, `raw.length`, `frames[].frame_type`, `congestion_window`, `smoothed_rtt`, …; connection IDs
 * and tokens in hex; 62-bit codes as JSON numbers when they fit in 2^53, else as decimal strings.
 *
 * @example
 * ```ts
 * let text = qlogHeader({ vantagePoint: 'client', odcid: state.originalDcid });
 * for (const e of step.effects) if (e.type === 'qlog') text += qlogRecord(e.event);
 * ```
 */
import type { Frame } from '../wire/quic/frames.js';
import type { TransportParameters } from '../wire/quic/transportParameters.js';
import { PACKET_THRESHOLD, type CongestionState, type RttState } from './recovery.js';
import type { Level, SpaceId } from './spaces.js';

/** qlog `packet_type` (draft-ietf-quic-qlog-quic-events §A.2, PacketType) of the packets we process. */
export type QlogPacketType = 'initial' | 'handshake' | '0RTT' | '1RTT' | 'retry' | 'version_negotiation' | 'unknown';

/** qlog `PacketHeader`: type, number and, where the packet carries them, the connection IDs (hex). */
export interface QlogPacketHeader {
  readonly packet_type: QlogPacketType;
  readonly packet_number?: number;
  readonly dcid?: string;
  readonly scid?: string;
}

/** One frame summarised: `frame_type` (snake_case, RFC 9000 §19 names) and its main fields; data as `length`. */
export type QlogFrame = { readonly frame_type: string } & Readonly<Record<string, unknown>>;

/** Why a packet was dropped (draft-ietf-quic-qlog-quic-events, packet_dropped `trigger`). */
export type QlogDropTrigger = 'invalid' | 'key_unavailable' | 'decryption_failure' | 'duplicate' | 'unsupported' | 'connection_unknown';

/** qlog connection states (draft-ietf-quic-qlog-quic-events, connection_state_updated). */
export type QlogConnectionState = 'handshake_started' | 'handshake_complete' | 'handshake_confirmed' | 'closing' | 'draining' | 'closed';

/** qlog key types (draft-ietf-quic-qlog-quic-events, KeyType): the secret of one direction at one level. */
export type QlogKeyType = `${'client' | 'server'}_${'initial' | 'handshake' | '1rtt'}_secret`;

/** Why the connection closed (draft-ietf-quic-qlog-quic-events, connection_closed `trigger`). */
export type QlogCloseTrigger = 'clean' | 'idle_timeout' | 'error' | 'stateless_reset' | 'version_mismatch' | 'application';

/** The congestion and RTT values of `recovery:metrics_updated`, ms and bytes; only the changed ones are sent. */
export interface QlogMetrics {
  readonly congestion_window?: number;
  readonly ssthresh?: number;
  readonly bytes_in_flight?: number;
  readonly smoothed_rtt?: number;
  readonly latest_rtt?: number;
  readonly rtt_variance?: number;
  readonly min_rtt?: number;
  readonly pto_count?: number;
}

/** The data of `transport:packet_sent` and `packet_received`: header, frames summarised, size on the wire. */
export interface QlogPacketData {
  readonly header: QlogPacketHeader;
  readonly frames: readonly QlogFrame[];
  readonly raw: { readonly length: number };
}

/** An event's name and data, as the reducer collects them during a step (before {@link QlogEvent.time}). */
export type QlogEventBody =
  | { readonly name: 'transport:packet_sent'; readonly data: QlogPacketData }
  | { readonly name: 'transport:packet_received'; readonly data: QlogPacketData }
  | { readonly name: 'transport:packet_dropped'; readonly data: { readonly header?: QlogPacketHeader; readonly raw: { readonly length: number }; readonly trigger: QlogDropTrigger } }
  | { readonly name: 'transport:parameters_set'; readonly data: { readonly owner: 'local' | 'remote' } & Readonly<Record<string, unknown>> }
  | { readonly name: 'recovery:metrics_updated'; readonly data: QlogMetrics }
  | { readonly name: 'recovery:packet_lost'; readonly data: { readonly header: QlogPacketHeader; readonly trigger: 'reordering_threshold' | 'time_threshold' } }
  | { readonly name: 'connectivity:connection_state_updated'; readonly data: { readonly old?: QlogConnectionState; readonly new: QlogConnectionState } }
  | { readonly name: 'security:key_updated'; readonly data: { readonly key_type: QlogKeyType; readonly trigger: 'tls' | 'local_update' | 'remote_update'; readonly key_phase?: number } }
  | { readonly name: 'security:key_discarded'; readonly data: { readonly key_type: QlogKeyType; readonly trigger: 'tls' } }
  | {
      readonly name: 'connectivity:connection_closed';
      readonly data: { readonly owner?: 'local' | 'remote'; readonly connection_code?: number | string; readonly application_code?: number | string; readonly reason?: string; readonly trigger: QlogCloseTrigger };
    };

/** One qlog event: `time` is ms since the connection's `start` input (the reducer's `now`). */
export type QlogEvent = QlogEventBody & { readonly time: number };

/** The qlog event names the reducer emits. */
export type QlogEventName = QlogEvent['name'];

/** Where a step's events go while it runs: present on the working state only when qlog is enabled. */
export type QlogSink = QlogEventBody[];

const hex = (b: Uint8Array): string => {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
};

/** A 62-bit code as JSON can carry it: a number up to 2^53 − 1, else its decimal string. */
const code = (v: bigint): number | string => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());

const PACKET_TYPE: Readonly<Record<Level, QlogPacketType>> = { initial: 'initial', handshake: 'handshake', zeroRtt: '0RTT', oneRtt: '1RTT' };
const SPACE_PACKET_TYPE: Readonly<Record<SpaceId, QlogPacketType>> = { initial: 'initial', handshake: 'handshake', application: '1RTT' };

/** The qlog `header` of a packet of `level` (connection IDs in hex; a short header has no SCID). */
function qlogPacketHeader(level: Level, packetNumber: number, dcid?: Uint8Array, scid?: Uint8Array): QlogPacketHeader {
  return { packet_type: PACKET_TYPE[level], packet_number: packetNumber, ...(dcid ? { dcid: hex(dcid) } : {}), ...(scid && level !== 'oneRtt' ? { scid: hex(scid) } : {}) };
}

/** One frame summarised for qlog (RFC 9000 §19 names; payloads as their `length`). */
export function qlogFrame(f: Frame): QlogFrame {
  switch (f.type) {
    case 'padding':
      return { frame_type: 'padding', length: f.length };
    case 'ping':
      return { frame_type: 'ping' };
    case 'ack': {
      // acked_ranges, highest first as on the wire: [[low, high]] (a single packet as [pn]).
      const ranges: number[][] = [];
      let high = f.largest;
      let low = high - f.firstRange;
      ranges.push(low === high ? [low] : [low, high]);
      for (const r of f.ranges) {
        high = low - r.gap - 2;
        low = high - r.length;
        ranges.push(low === high ? [low] : [low, high]);
      }
      return { frame_type: 'ack', ack_delay: f.delay, acked_ranges: ranges, ...(f.ecn ? { ect0: f.ecn[0], ect1: f.ecn[1], ce: f.ecn[2] } : {}) };
    }
    case 'resetStream':
      return { frame_type: 'reset_stream', stream_id: f.streamId, error_code: code(f.errorCode), final_size: f.finalSize };
    case 'stopSending':
      return { frame_type: 'stop_sending', stream_id: f.streamId, error_code: code(f.errorCode) };
    case 'crypto':
      return { frame_type: 'crypto', offset: f.offset, length: f.data.length };
    case 'newToken':
      return { frame_type: 'new_token', token: { data: hex(f.token), length: f.token.length } };
    case 'stream':
      return { frame_type: 'stream', stream_id: f.streamId, offset: f.offset, length: f.data.length, ...(f.fin ? { fin: true } : {}) };
    case 'maxData':
      return { frame_type: 'max_data', maximum: f.max };
    case 'maxStreamData':
      return { frame_type: 'max_stream_data', stream_id: f.streamId, maximum: f.max };
    case 'maxStreams':
      return { frame_type: 'max_streams', stream_type: f.bidi ? 'bidirectional' : 'unidirectional', maximum: f.max };
    case 'dataBlocked':
      return { frame_type: 'data_blocked', limit: f.limit };
    case 'streamDataBlocked':
      return { frame_type: 'stream_data_blocked', stream_id: f.streamId, limit: f.limit };
    case 'streamsBlocked':
      return { frame_type: 'streams_blocked', stream_type: f.bidi ? 'bidirectional' : 'unidirectional', limit: f.limit };
    case 'newConnectionId':
      return {
        frame_type: 'new_connection_id',
        sequence_number: f.sequence,
        retire_prior_to: f.retirePriorTo,
        connection_id_length: f.connectionId.length,
        connection_id: hex(f.connectionId),
        stateless_reset_token: { data: hex(f.resetToken) },
      };
    case 'retireConnectionId':
      return { frame_type: 'retire_connection_id', sequence_number: f.sequence };
    case 'pathChallenge':
      return { frame_type: 'path_challenge', data: hex(f.data) };
    case 'pathResponse':
      return { frame_type: 'path_response', data: hex(f.data) };
    case 'connectionClose':
      return {
        frame_type: 'connection_close',
        error_space: f.kind,
        error_code: code(f.errorCode),
        ...(f.frameType !== undefined ? { trigger_frame_type: f.frameType } : {}),
        reason: new TextDecoder().decode(f.reason),
      };
    case 'handshakeDone':
      return { frame_type: 'handshake_done' };
  }
}

/** `transport:packet_sent` / `packet_received` for one packet (RFC 9000 §17) of `length` bytes. */
export function qlogPacket(
  sink: QlogSink,
  name: 'transport:packet_sent' | 'transport:packet_received',
  level: Level,
  packetNumber: number,
  frames: readonly Frame[],
  length: number,
  dcid?: Uint8Array,
  scid?: Uint8Array,
): void {
  sink.push({ name, data: { header: qlogPacketHeader(level, packetNumber, dcid, scid), frames: frames.map(qlogFrame), raw: { length } } });
}

/** `transport:packet_dropped`: a packet of `length` bytes not processed, and why. */
export function qlogDropped(sink: QlogSink, trigger: QlogDropTrigger, length: number, level?: Level | 'unknown'): void {
  const header = level === undefined ? {} : { header: { packet_type: level === 'unknown' ? level : PACKET_TYPE[level] } };
  sink.push({ name: 'transport:packet_dropped', data: { ...header, raw: { length }, trigger } });
}

/**
 * `recovery:packet_lost` for each packet of space `id` declared lost (RFC 9002 §6.1): by packet threshold when
 * `largestAcked` is {@link PACKET_THRESHOLD} or more above it, else by time threshold.
 */
export function qlogLost(sink: QlogSink, id: SpaceId, lost: readonly { readonly pn: number }[], largestAcked: number | undefined): void {
  for (const p of lost) {
    const trigger = largestAcked !== undefined && largestAcked >= p.pn + PACKET_THRESHOLD ? 'reordering_threshold' : 'time_threshold';
    sink.push({ name: 'recovery:packet_lost', data: { header: { packet_type: SPACE_PACKET_TYPE[id], packet_number: p.pn }, trigger } });
  }
}

/** `transport:parameters_set` (RFC 9000 §18.2), ours (`local`) or the peer's (`remote`), with qlog's names. */
export function qlogParameters(sink: QlogSink, owner: 'local' | 'remote', p: TransportParameters): void {
  const data: Record<string, unknown> = { owner };
  const put = (k: string, v: unknown) => {
    if (v !== undefined) data[k] = v instanceof Uint8Array ? hex(v) : v;
  };
  put('original_destination_connection_id', p.originalDestinationConnectionId);
  put('initial_source_connection_id', p.initialSourceConnectionId);
  put('retry_source_connection_id', p.retrySourceConnectionId);
  put('stateless_reset_token', p.statelessResetToken);
  put('disable_active_migration', p.disableActiveMigration ?? false);
  put('max_idle_timeout', p.maxIdleTimeout);
  put('max_udp_payload_size', p.maxUdpPayloadSize);
  put('ack_delay_exponent', p.ackDelayExponent);
  put('max_ack_delay', p.maxAckDelay);
  put('active_connection_id_limit', p.activeConnectionIdLimit);
  put('initial_max_data', p.initialMaxData);
  put('initial_max_stream_data_bidi_local', p.initialMaxStreamDataBidiLocal);
  put('initial_max_stream_data_bidi_remote', p.initialMaxStreamDataBidiRemote);
  put('initial_max_stream_data_uni', p.initialMaxStreamDataUni);
  put('initial_max_streams_bidi', p.initialMaxStreamsBidi);
  put('initial_max_streams_uni', p.initialMaxStreamsUni);
  sink.push({ name: 'transport:parameters_set', data: data as { owner: 'local' | 'remote' } });
}

/** What {@link qlogChanges} compares between two points of a step: a few references and numbers of the state. */
export interface QlogWatched {
  readonly role: 'client' | 'server';
  readonly phase: 'idle' | 'handshake' | 'connected' | 'closing' | 'draining' | 'closed';
  readonly confirmed: boolean;
  readonly keys: Readonly<Record<SpaceId, { readonly tx?: object; readonly rx?: object }>>;
  /** The 1-RTT key generation (RFC 9001 §6: updates so far) and whether one was asked for by us. */
  readonly keyGeneration?: number;
  readonly keyUpdateRequested?: boolean;
  readonly rtt: RttState;
  readonly cc: CongestionState;
  readonly ptoCount: number;
}

/** Our phase as a qlog connection state; `undefined` before `start`. */
function qlogState(w: QlogWatched): QlogConnectionState | undefined {
  switch (w.phase) {
    case 'idle':
      return undefined;
    case 'handshake':
      return 'handshake_started';
    case 'connected':
      return w.confirmed ? 'handshake_confirmed' : 'handshake_complete';
    default:
      return w.phase;
  }
}
const LEVEL_OF_SPACE: Readonly<Record<SpaceId, 'initial' | 'handshake' | '1rtt'>> = { initial: 'initial', handshake: 'handshake', application: '1rtt' };

/**
 * The events that follow from comparing `before` and `after`: `connection_state_updated` (`handshake_confirmed`
 * once the Handshake keys are gone while connected, RFC 9001 §4.1.2; a server completes and confirms in one
 * step, so both are written), `key_updated` / `key_discarded` per space and direction (installed by TLS,
 * replaced by a 1-RTT key update, RFC 9001 §6; discarded, §4.9), and `metrics_updated` with the congestion and
 * RTT values that changed.
 */
export function qlogChanges(sink: QlogSink, before: QlogWatched, after: QlogWatched): void {
  const old = qlogState(before);
  const next = qlogState(after);
  if (next !== undefined && next !== old) {
    if (old === 'handshake_started' && next === 'handshake_confirmed') {
      sink.push({ name: 'connectivity:connection_state_updated', data: { old, new: 'handshake_complete' } });
      sink.push({ name: 'connectivity:connection_state_updated', data: { old: 'handshake_complete', new: next } });
    } else sink.push({ name: 'connectivity:connection_state_updated', data: { ...(old ? { old } : {}), new: next } });
  }
  for (const id of ['initial', 'handshake', 'application'] as const) {
    for (const dir of ['tx', 'rx'] as const) {
      const was = before.keys[id][dir];
      const now = after.keys[id][dir];
      if (was === now) continue;
      const writer = dir === 'tx' ? after.role : after.role === 'client' ? 'server' : 'client';
      const key_type = `${writer}_${LEVEL_OF_SPACE[id]}_secret` as QlogKeyType;
      if (now === undefined) {
        sink.push({ name: 'security:key_discarded', data: { key_type, trigger: 'tls' } });
      } else if (was === undefined || id !== 'application') {
        sink.push({ name: 'security:key_updated', data: { key_type, trigger: 'tls', ...(id === 'application' ? { key_phase: 0 } : {}) } });
      } else {
        // A 1-RTT key update (RFC 9001 §6): ours when we had asked for one, else the peer's.
        const trigger = before.keyUpdateRequested ? 'local_update' : 'remote_update';
        sink.push({ name: 'security:key_updated', data: { key_type, trigger, key_phase: after.keyGeneration ?? 0 } });
      }
    }
  }
  // All of them once, when the connection starts; then only those that changed.
  const m: Record<string, number> = {};
  const set = (k: keyof QlogMetrics, a: number, b: number) => {
    if (a !== b || before.phase === 'idle') m[k] = Math.round(b * 1000) / 1000;
  };
  set('congestion_window', before.cc.window, after.cc.window);
  set('ssthresh', before.cc.ssthresh, after.cc.ssthresh);
  set('bytes_in_flight', before.cc.bytesInFlight, after.cc.bytesInFlight);
  set('smoothed_rtt', before.rtt.smoothed, after.rtt.smoothed);
  set('latest_rtt', before.rtt.latest, after.rtt.latest);
  set('rtt_variance', before.rtt.variance, after.rtt.variance);
  set('min_rtt', before.rtt.min, after.rtt.min);
  set('pto_count', before.ptoCount, after.ptoCount);
  // Infinity (ssthresh before the first loss) is not JSON: left out.
  if (m.ssthresh === Infinity) delete m.ssthresh;
  if (Object.keys(m).length > 0) sink.push({ name: 'recovery:metrics_updated', data: m });
}

/** `connectivity:connection_closed` (RFC 9000 §10): who closed, with which code, and why. */
export function qlogClosed(
  sink: QlogSink,
  how: { readonly owner?: 'local' | 'remote'; readonly trigger: QlogCloseTrigger; readonly application?: boolean; readonly code?: bigint; readonly reason?: string },
): void {
  const codes = how.code === undefined ? {} : how.application ? { application_code: code(how.code) } : { connection_code: code(how.code) };
  sink.push({
    name: 'connectivity:connection_closed',
    data: { ...(how.owner ? { owner: how.owner } : {}), ...codes, ...(how.reason ? { reason: how.reason } : {}), trigger: how.trigger },
  });
}

/** The record separator that begins every JSON text of a JSON text sequence (RFC 7464 §2.2). */
export const RECORD_SEPARATOR = '\x1e';

/** Options of {@link qlogHeader}: the trace's vantage point and the connection's original DCID (its group). */
export interface QlogHeaderOptions {
  readonly vantagePoint: 'client' | 'server';
  /** The client's first Destination Connection ID: `group_id` and `ODCID` of the trace (and the file's name). */
  readonly odcid: Uint8Array;
  readonly title?: string;
  /** Wall-clock time of the connection's start, ms since the epoch (the events' times are relative to it). */
  readonly referenceTime?: number;
}

/**
 * The first record of a JSON-SEQ qlog file (draft-ietf-quic-qlog-main-schema §5, `QlogFileSeq`, version 0.3):
 * qlog_version, qlog_format "JSON-SEQ", one trace with its vantage point and common fields (ODCID as
 * `group_id`, relative times). 0x1E … 0x0A framed (RFC 7464).
 */
export function qlogHeader(o: QlogHeaderOptions): string {
  const odcid = hex(o.odcid);
  return jsonSeq({
    qlog_version: '0.3',
    qlog_format: 'JSON-SEQ',
    title: o.title ?? `rxtls ${o.vantagePoint} ${odcid}`,
    trace: {
      vantage_point: { name: 'rxtls', type: o.vantagePoint },
      common_fields: { ODCID: odcid, group_id: odcid, protocol_type: ['QUIC'], time_format: 'relative', reference_time: o.referenceTime ?? 0 },
    },
  });
}

/** One event as a JSON-SEQ record: `{"time","name","data"}` between 0x1E and 0x0A (RFC 7464). */
export function qlogRecord(e: QlogEvent): string {
  return jsonSeq({ time: e.time, name: e.name, data: e.data });
}

const jsonSeq = (v: unknown): string => `${RECORD_SEPARATOR}${JSON.stringify(v)}\n`;
