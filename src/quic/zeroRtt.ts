/**
 * Session resumption and 0-RTT over QUIC (RFC 9001 §4.6, RFC 9000 §7.4.1), the parts the TLS engine does not
 * know: which of the server's transport parameters a session remembers, the checks that they did not shrink,
 * the 0-RTT keys' state in a connection, and what a client does with its stream commands when 0-RTT is refused.
 *
 * The handshake engine does the rest as for TLS over TCP: tickets (sealed by the `Ticketer`, single use with an
 * `AntiReplay` store), the PSK binder, client_early_traffic_secret (a `keyChange` at epoch 1, from which the
 * connection derives 0-RTT packet keys with the QUIC labels, `packetKeys`), and the 0-RTT verdict (`earlyData`).
 * QUIC has no EndOfEarlyData (RFC 9001 §8.3): 0-RTT packets stop when the 1-RTT keys come.
 */
import type { EarlyDataContext, TlsSession } from '../handshake/session.js';
import { decodeTransportParameters, encodeTransportParameters, type TransportParameters } from '../wire/quic/transportParameters.js';
import { TlsError } from '../core/errors.js';
import { ConnectionError, QuicError } from './errors.js';
import type { PacketKeys } from './protection.js';
import { removeFromFlight, type CongestionState } from './recovery.js';
import { bytesInFlight, type Space, type SpaceId } from './spaces.js';
import { endStream, newStreamSet, peerLimitsKnown, peerMaxData, peerMaxStreamData, setStreamPriority, writeStream, type StreamSet } from './streams.js';
import type { QuicInput } from './types.js';

/** RFC 9001 §4.6.1: a QUIC NewSessionTicket that allows 0-RTT says max_early_data_size 0xffffffff, nothing else. */
export const QUIC_MAX_EARLY_DATA = 0xffff_ffff;

/** max_datagram_frame_size (RFC 9221 §3): remembered when the server sent it, though rxtls sends no DATAGRAMs. */
const MAX_DATAGRAM_FRAME_SIZE = 0x20;

/**
 * The limits a client remembers with a session and uses for 0-RTT (RFC 9000 §7.4.1), with the value each one
 * takes when absent (§18.2: 0 for the initial_max_* limits, 2 for active_connection_id_limit).
 */
const REMEMBERED = [
  ['initialMaxData', 0],
  ['initialMaxStreamDataBidiLocal', 0],
  ['initialMaxStreamDataBidiRemote', 0],
  ['initialMaxStreamDataUni', 0],
  ['initialMaxStreamsBidi', 0],
  ['initialMaxStreamsUni', 0],
  ['activeConnectionIdLimit', 2],
] as const satisfies readonly (readonly [keyof TransportParameters, number])[];

/**
 * The remembered subset of the server's transport parameters (RFC 9000 §7.4.1), encoded as
 * quic_transport_parameters: the limits above and max_datagram_frame_size if the server sent it.
 */
export function rememberParams(params: TransportParameters): Uint8Array {
  const kept: Record<string, unknown> = {};
  for (const [name] of REMEMBERED) if (params[name] !== undefined) kept[name] = params[name];
  const datagram = params.unknown?.find((u) => u.id === MAX_DATAGRAM_FRAME_SIZE);
  return encodeTransportParameters({ ...(kept as TransportParameters), ...(datagram ? { unknown: [datagram] } : {}) });
}

/** Parameters written by {@link rememberParams}; `undefined` when they do not decode (the session is then not used for 0-RTT). */
export function recallParams(data: Uint8Array): TransportParameters | undefined {
  try {
    return decodeTransportParameters(data, 'server');
  } catch {
    return undefined; // a TransportParameterError, or a truncated value
  }
}

/** max_datagram_frame_size as a number (0: not sent), read from the parameters' unknown list. */
function datagramFrameSize(params: TransportParameters): number {
  const u = params.unknown?.find((p) => p.id === MAX_DATAGRAM_FRAME_SIZE);
  if (!u || u.value.length === 0) return 0;
  // A QUIC variable-length integer (RFC 9000 §16): the two top bits give its length.
  const len = 1 << (u.value[0]! >> 6);
  let v = u.value[0]! & 0x3f;
  for (let i = 1; i < len && i < u.value.length; i++) v = v * 256 + u.value[i]!;
  return v;
}

/**
 * The first remembered limit that `current` lowers below `remembered` (RFC 9000 §7.4.1: a server that accepts
 * 0-RTT must not reduce them), by its RFC name; `undefined` when none is.
 */
export function reducedParam(remembered: TransportParameters, current: TransportParameters): string | undefined {
  for (const [name, absent] of REMEMBERED) {
    if ((current[name] ?? absent) < (remembered[name] ?? absent)) return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  }
  if (datagramFrameSize(current) < datagramFrameSize(remembered)) return 'max_datagram_frame_size';
  return undefined;
}

/**
 * A server's 0-RTT condition for the handshake engine (RFC 9001 §4.6.2): its tickets carry the remembered subset
 * of the transport parameters it sends now, and 0-RTT on a ticket is accepted only when none of those is lower
 * now than when the ticket was issued (the server's settings changed: 0-RTT is refused, the connection goes on).
 */
export function earlyDataContext(ours: TransportParameters): EarlyDataContext {
  return {
    data: rememberParams(ours),
    accepts(stored) {
      const then = recallParams(stored);
      return then !== undefined && reducedParam(then, ours) === undefined;
    },
  };
}

/**
 * A client's session from the engine's `session` event, with the server's transport parameters remembered
 * (RFC 9000 §7.4.1). RFC 9001 §4.6.1: a ticket's max_early_data_size other than 0xffffffff is a
 * PROTOCOL_VIOLATION.
 */
export function quicSession(session: TlsSession, serverParams: TransportParameters): TlsSession {
  if (session.maxEarlyData !== 0 && session.maxEarlyData !== QUIC_MAX_EARLY_DATA) {
    throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, `NewSessionTicket max_early_data_size ${session.maxEarlyData}, not 0xffffffff (RFC 9001 §4.6.1)`, 0x06);
  }
  return { ...session, quicTransportParameters: rememberParams(serverParams) };
}

/**
 * The parameters to write 0-RTT data under: those remembered with the session, when it allows 0-RTT and they
 * decode. `undefined`: no 0-RTT with this session (the engine is then not asked for early data).
 */
export function paramsFor0Rtt(session: TlsSession | undefined): TransportParameters | undefined {
  if (!session?.quicTransportParameters || session.maxEarlyData !== QUIC_MAX_EARLY_DATA) return undefined;
  return recallParams(session.quicTransportParameters);
}

/** A stream command of the application, as given while 0-RTT was in doubt. */
export type EarlyCommand = Extract<QuicInput, { type: 'write' | 'end' | 'priority' }>;

/**
 * The 0-RTT state of a connection.
 * - A client that offered 0-RTT: its 0-RTT write keys until the 1-RTT keys come (or the server refuses), the
 *   parameters it writes under, and its stream commands while the verdict is pending (replayed in 1-RTT on a
 *   refusal: RFC 9000 §17.2.3, all 0-RTT packets are then lost; §7.4.1, stream state starts afresh).
 * - A server that accepted 0-RTT: its 0-RTT read keys, until the first 1-RTT packet (RFC 9001 §4.9.3).
 */
export interface ZeroRttState {
  readonly status: 'offered' | 'accepted' | 'rejected';
  readonly tx?: PacketKeys;
  readonly rx?: PacketKeys;
  /** Client: the remembered parameters 0-RTT was written under. */
  readonly remembered?: TransportParameters;
  /** Client: the stream commands given while `offered`. */
  readonly commands: readonly EarlyCommand[];
}

/** A client's check when the server accepted 0-RTT: no remembered limit lowered (RFC 9000 §7.4.1). */
export function checkAcceptedParams(remembered: TransportParameters, current: TransportParameters): void {
  const lowered = reducedParam(remembered, current);
  if (lowered) throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, `the server accepted 0-RTT but lowered ${lowered} (RFC 9000 §7.4.1)`);
}

/** What {@link onEarlyDataVerdict} reads and changes in the connection (its state satisfies it). */
export interface ZeroRttHost {
  readonly config: { readonly role: 'client' | 'server'; readonly maxData: number; readonly maxStreamData: number; readonly maxStreams: number };
  zeroRtt?: ZeroRttState;
  peerParams?: TransportParameters;
  streams: StreamSet;
  cc: CongestionState;
  readonly spaces: Record<SpaceId, Space>;
}

/** Frames of the application space's queue that belong to the stream state of a refused 0-RTT attempt. */
const STREAM_STATE_FRAMES: ReadonlySet<string> = new Set(['stream', 'maxData', 'maxStreamData', 'maxStreams', 'resetStream', 'stopSending', 'dataBlocked', 'streamDataBlocked']);

/**
 * A client's 0-RTT verdict (the engine's `earlyData` event; the server's transport parameters are already in
 * `peerParams`, they come first in EncryptedExtensions).
 * - Accepted: no remembered limit may be lower now (PROTOCOL_VIOLATION, RFC 9000 §7.4.1); the streams opened
 *   in 0-RTT get the new, possibly higher, limits.
 * - Refused: every 0-RTT packet is lost (RFC 9000 §17.2.3) and stream state starts afresh under the new
 *   parameters (§7.4.1): what was in flight leaves bytes in flight, queued stream frames go, and the
 *   application's stream commands are given again, to go out in 1-RTT packets. If the new parameters no longer
 *   allow a stream that was opened, the connection fails (INTERNAL_ERROR): the data cannot be sent.
 */
export function onEarlyDataVerdict(s: ZeroRttHost, accepted: boolean): void {
  const z = s.zeroRtt;
  if (!z || z.status !== 'offered' || !s.peerParams) return;
  const now = s.peerParams;
  if (accepted) {
    checkAcceptedParams(z.remembered ?? {}, now);
    peerMaxData(s.streams, now.initialMaxData ?? 0);
    for (const id of s.streams.byId.keys()) {
      const limit = id % 4 === 2 ? now.initialMaxStreamDataUni : now.initialMaxStreamDataBidiRemote;
      peerMaxStreamData(s.streams, id, limit ?? 0);
    }
    s.zeroRtt = { status: 'accepted', commands: [] };
    return;
  }
  const app = s.spaces.application;
  s.cc = removeFromFlight(s.cc, bytesInFlight(app));
  app.sent = [];
  app.lossTime = undefined;
  app.queue = app.queue.filter((f) => !STREAM_STATE_FRAMES.has(f.type));
  s.streams = newStreamSet(s.config.maxData, s.streams.txMark, s.config.maxStreams);
  peerLimitsKnown(s.streams, now);
  s.zeroRtt = { status: 'rejected', commands: [] };
  for (const c of z.commands) {
    try {
      applyStreamCommand(s, c);
    } catch (err) {
      if (!(err instanceof TlsError)) throw err;
      throw new ConnectionError(QuicError.INTERNAL_ERROR, `0-RTT refused and its streams cannot be opened again: ${err.message}`);
    }
  }
}

/** A stream command given while 0-RTT is in doubt: applied, and kept while the verdict is pending. */
export function earlyStreamCommand(s: ZeroRttHost, c: EarlyCommand): void {
  applyStreamCommand(s, c);
  const z = s.zeroRtt;
  if (z?.status === 'offered') s.zeroRtt = { ...z, commands: [...z.commands, c] };
}

function applyStreamCommand(s: ZeroRttHost, c: EarlyCommand): void {
  // The server's parameters once they came, else those remembered with the session (RFC 9000 §7.4.1).
  const peer = s.peerParams ?? s.zeroRtt?.remembered;
  switch (c.type) {
    case 'write':
      return writeStream(s.streams, s.config, peer, c.stream, c.data);
    case 'end':
      return endStream(s.streams, s.config, peer, c.stream);
    case 'priority':
      return setStreamPriority(s.streams, s.config, peer, c.stream, c);
  }
}
