/**
 * A QUIC v1 connection (RFC 9000, RFC 9001, RFC 9002) as a pure reducer, like the TLS one: datagrams, timer
 * expiries and application commands in (`Input`), datagrams to send and data to deliver out (`Effect`), the
 * next deadline from {@link nextQuicTimeout}. The TLS 1.3 handshake runs in the TLS core's QUIC mode; packet
 * protection, frames and recovery are the modules next to this one.
 *
 * Scope of this first version: the handshake (Initial, Handshake, 1-RTT; coalesced packets; the client's
 * 1200-byte Initial datagrams; key discarding), bidirectional and unidirectional streams with FIN, connection
 * and stream flow control (enforced on receipt, respected on send, windows re-opened as data is delivered),
 * ACKs, loss recovery (RFC 9002 loss detection on ACKs; on a probe timeout everything unacknowledged is sent
 * again), the idle timeout, PATH_CHALLENGE
 * answers, and both ways to close: rapid (one CONNECTION_CLOSE) and RFC-compliant (a closing period of 3×PTO;
 * the peer drains for as long). Not yet: Retry and version negotiation, 0-RTT, connection migration, new
 * connection IDs, key updates, stream resets, ECN, the server's anti-amplification limit, the loss timer
 * (losses are found on ACKs by packet and time threshold, else by the probe timeout), pacing and
 * congestion-window limits.
 */
import { TlsError, quicCloseFor, type TlsErrorDetail } from '../core/errors.js';
import type { Effect, HandshakeInfo, Input, QuicLevel, Step } from '../core/types.js';
import { nobleProvider } from '../crypto/noble.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { HandshakeClientConfig, HandshakeServerConfig } from '../handshake/config.js';
import { createHandshake, handshakeData, startHandshake, type HandshakeState, type HsStep } from '../handshake/engine.js';
import { Epoch } from '../handshake/events.js';
import { bytesEqual, concatBytes } from '../wire/bytes.js';
import { decodeFrames, encodeFrame, FrameError, type Frame, type PacketSpace } from '../wire/quic/frames.js';
import { decodePacketHeader, encodeLongHeader, encodeShortHeader, packetNumberLength } from '../wire/quic/packet.js';
import { decodeTransportParameters, encodeTransportParameters, TransportParameterError, type TransportParameters } from '../wire/quic/transportParameters.js';
import { encodeWith } from '../wire/writer.js';
import { addPacket, ackFrameFor, rangesOfAck, type PnSet } from './ackRanges.js';
import { initialKeys, packetKeys, protectPacket, unprotectPacket, type PacketKeys } from './protection.js';
import { detectLoss, initialRtt, probeTimeout, updateRtt, type RttState } from './recovery.js';

/** Transport error codes (RFC 9000 §20.1). */
export const QuicError = {
  NO_ERROR: 0x00n,
  INTERNAL_ERROR: 0x01n,
  FLOW_CONTROL_ERROR: 0x03n,
  STREAM_LIMIT_ERROR: 0x04n,
  STREAM_STATE_ERROR: 0x05n,
  FINAL_SIZE_ERROR: 0x06n,
  FRAME_ENCODING_ERROR: 0x07n,
  TRANSPORT_PARAMETER_ERROR: 0x08n,
  PROTOCOL_VIOLATION: 0x0an,
  CRYPTO_BUFFER_EXCEEDED: 0x0dn,
  /** 0x0100–0x01ff: a TLS alert (RFC 9001 §4.8). */
  CRYPTO_ERROR: 0x100n,
} as const;

/** Configuration of a QUIC connection. */
export interface QuicConfig {
  readonly role: 'client' | 'server';
  /** The TLS configuration (ALPN is required); its `quic` field is filled in here. */
  readonly tls: Omit<HandshakeClientConfig, 'role'> | Omit<HandshakeServerConfig, 'role'>;
  /** Close after this long without a packet from the peer, ms (default 30 000; the smaller of both sides' wins). */
  readonly idleTimeout?: number;
  /** Connection-level receive window, bytes (default 1 MiB). */
  readonly maxData?: number;
  /** Per-stream receive window, bytes (default 256 KiB). */
  readonly maxStreamData?: number;
  /** Streams of each kind the peer may open (default 100). */
  readonly maxStreams?: number;
  readonly provider?: CryptoProvider;
}

/** A connection error to close with (RFC 9000 §11, §20). */
class ConnectionError extends Error {
  constructor(
    readonly code: bigint,
    message: string,
    readonly frameType?: number,
  ) {
    super(message);
  }
}

const LEVELS: readonly QuicLevel[] = ['initial', 'handshake', 'oneRtt'];
const CID_LENGTH = 8;
/** RFC 9000 §14.1: client datagrams carrying Initial packets are at least 1200 bytes; we never exceed it. */
const DATAGRAM = 1200;
/** Room for a long header (1 + 4 + 1 + 20 + 1 + 20 + 1 + 2 + 4) and the AEAD tag, rounded up. */
const PACKET_OVERHEAD = 70;
/** Out-of-order CRYPTO data we buffer per level before CRYPTO_BUFFER_EXCEEDED (RFC 9000 §7.5). */
const MAX_CRYPTO_BUFFER = 64 * 1024;
/** Our max_ack_delay (RFC 9000 §18.2 default): we acknowledge at once, so this is an upper bound. */
const MAX_ACK_DELAY = 25;

/** A frame that must be sent again if its packet is lost. */
type Retransmittable =
  | { readonly type: 'crypto'; readonly offset: number; readonly data: Uint8Array }
  | { readonly type: 'stream'; readonly streamId: number; readonly offset: number; readonly data: Uint8Array; readonly fin: boolean }
  | { readonly type: 'handshakeDone' }
  | { readonly type: 'maxData' }
  | { readonly type: 'maxStreamData'; readonly streamId: number }
  /** A probe with nothing to send again (RFC 9002 §6.2.4): ack-eliciting, never re-sent itself. */
  | { readonly type: 'ping' };

interface Sent {
  readonly pn: number;
  readonly timeSent: number;
  readonly ackEliciting: boolean;
  readonly frames: readonly Retransmittable[];
}

interface Space {
  rx?: PacketKeys;
  tx?: PacketKeys;
  discarded: boolean;
  nextPn: number;
  largestRx: number;
  largestAcked?: number;
  received: PnSet;
  ackPending: boolean;
  /** Frames waiting to be sent in this space, in order. */
  queue: Retransmittable[];
  sent: Sent[];
  cryptoTxOffset: number;
  cryptoRxOffset: number;
  cryptoRx: Map<number, Uint8Array>;
}

interface Stream {
  rxOffset: number;
  rxChunks: Map<number, Uint8Array>;
  /** Highest offset received (for flow control), and the final size once a FIN arrived. */
  rxHighest: number;
  rxFinal?: number;
  rxDone: boolean;
  /** Our receive limit as advertised. */
  rxLimit: number;
  txOffset: number;
  /** Data the application wrote that is not yet in a packet. */
  txPending: Uint8Array[];
  txFin: boolean;
  txFinQueued: boolean;
  /** The peer's limit for this stream. */
  txLimit: number;
}

/** The state of one QUIC connection. Never mutated: every input returns a new one. */
export interface QuicState {
  readonly config: Required<Omit<QuicConfig, 'tls' | 'provider'>> & Pick<QuicConfig, 'tls'> & { readonly provider: CryptoProvider };
  readonly phase: 'idle' | 'handshake' | 'connected' | 'closing' | 'draining' | 'closed';
  readonly scid: Uint8Array;
  readonly dcid: Uint8Array;
  readonly originalDcid: Uint8Array;
  readonly tls?: HandshakeState;
  readonly spaces: Readonly<Record<QuicLevel, Space>>;
  readonly streams: ReadonlyMap<number, Stream>;
  readonly rtt: RttState;
  readonly ptoCount: number;
  readonly lastAckElicitingSent?: number;
  readonly lastActivity: number;
  readonly idleTimeout: number;
  readonly closeDeadline?: number;
  readonly closeFrame?: Frame;
  /** An RFC-compliant close waiting for the streams to be flushed (sent and acknowledged) first. */
  readonly closeRequested?: Frame;
  readonly closeError?: TlsError;
  readonly peerParams?: TransportParameters;
  readonly handshakeDonePending: boolean;
  readonly info?: HandshakeInfo;
  /** Connection flow control: received and delivered totals, our advertised limit; the peer's limit, our sent total. */
  readonly rxTotal: number;
  readonly rxLimit: number;
  readonly txTotal: number;
  readonly txLimit: number;
  readonly nextStream: { readonly bidi: number; readonly uni: number };
  /** Streams the peer may open, as a count per kind, and how many it has opened. */
  readonly peerStreams: { readonly bidi: number; readonly uni: number };
  readonly pathResponses: readonly Uint8Array[];
  /** Datagrams received before any address validation, bytes (server anti-amplification, RFC 9000 §8.1). */
  readonly bytesReceived: number;
  readonly bytesSent: number;
}

type W = { -readonly [K in keyof QuicState]: QuicState[K] } & { spaces: Record<QuicLevel, Space>; streams: Map<number, Stream> };

const newSpace = (): Space => ({
  discarded: false,
  nextPn: 0,
  largestRx: -1,
  received: [],
  ackPending: false,
  queue: [],
  sent: [],
  cryptoTxOffset: 0,
  cryptoRxOffset: 0,
  cryptoRx: new Map(),
});

/** A new connection: a client sends its first Initial on `start`; a server waits for one. */
export function createQuicConnection(config: QuicConfig, random: (n: number) => Uint8Array = (n) => (config.provider ?? nobleProvider).randomBytes(n)): QuicState {
  if (!config.tls.alpnProtocols?.length) throw new TlsError({ kind: 'apiMisuse', reason: 'QUIC needs alpnProtocols (RFC 9001 §8.1)' });
  const scid = random(CID_LENGTH);
  const dcid = config.role === 'client' ? random(CID_LENGTH) : new Uint8Array(0);
  return {
    config: {
      role: config.role,
      tls: config.tls,
      idleTimeout: config.idleTimeout ?? 30_000,
      maxData: config.maxData ?? 1 << 20,
      maxStreamData: config.maxStreamData ?? 256 * 1024,
      maxStreams: config.maxStreams ?? 100,
      provider: config.provider ?? nobleProvider,
    },
    phase: 'idle',
    scid,
    dcid,
    originalDcid: dcid,
    spaces: { initial: newSpace(), handshake: newSpace(), oneRtt: newSpace() },
    streams: new Map(),
    rtt: initialRtt(),
    ptoCount: 0,
    lastActivity: 0,
    idleTimeout: config.idleTimeout ?? 30_000,
    handshakeDonePending: false,
    rxTotal: 0,
    rxLimit: config.maxData ?? 1 << 20,
    txTotal: 0,
    txLimit: 0,
    nextStream: { bidi: 0, uni: 0 },
    peerStreams: { bidi: 0, uni: 0 },
    pathResponses: [],
    bytesReceived: 0,
    bytesSent: 0,
  };
}

/** The next deadline (ms): the probe timeout, the idle timeout, or the end of the closing/draining period. */
export function nextQuicTimeout(state: QuicState): number | undefined {
  if (state.phase === 'idle' || state.phase === 'closed') return undefined;
  if (state.phase === 'closing' || state.phase === 'draining') return state.closeDeadline;
  const idle = state.lastActivity + state.idleTimeout;
  const pto = ptoDeadline(state);
  return pto === undefined ? idle : Math.min(idle, pto);
}

function ptoDeadline(s: QuicState): number | undefined {
  const inFlight = LEVELS.some((l) => s.spaces[l].sent.some((p) => p.ackEliciting));
  if (!inFlight || s.lastAckElicitingSent === undefined) return undefined;
  const maxAckDelay = s.spaces.oneRtt.tx ? (s.peerParams?.maxAckDelay ?? 25) : 0;
  return s.lastAckElicitingSent + probeTimeout(s.rtt, maxAckDelay, s.ptoCount);
}

/** Whether the connection is established (the handshake completed) and not closing. */
export const isQuicConnected = (s: QuicState): boolean => s.phase === 'connected';

function clone(s: QuicState): W {
  const spaces = {} as Record<QuicLevel, Space>;
  for (const l of LEVELS) {
    const x = s.spaces[l];
    spaces[l] = { ...x, queue: [...x.queue], sent: [...x.sent], cryptoRx: new Map(x.cryptoRx) };
  }
  const streams = new Map<number, Stream>();
  for (const [id, st] of s.streams) streams.set(id, { ...st, rxChunks: new Map(st.rxChunks), txPending: [...st.txPending] });
  return { ...s, spaces, streams } as W;
}

const misuse = (reason: string) => new TlsError({ kind: 'apiMisuse', reason });

/**
 * Feed one input: `start`, `datagram`, `timeout`, `write {stream}`, `end {stream}` (FIN), `close {mode,
 * errorCode, reason}` (`shutdown`: RFC-compliant close — streams flushed and acknowledged, then a closing period
 * of 3×PTO; any other mode: rapid close, one CONNECTION_CLOSE).
 * Returns the new state and the effects: `transmit` (one datagram each), `deliver {stream}`, `peerClosed
 * {stream}` (the peer's FIN), `handshakeComplete`, `closed {error?}`.
 */
export function handleQuicEvents(state: QuicState, input: Input): Step<QuicState> {
  const s = clone(state);
  const effects: Effect[] = [];
  if (s.phase === 'closed') {
    if (input.type === 'write') throw misuse('the connection is closed');
    return { state, effects: [] };
  }
  try {
    dispatch(s, input, effects);
    if (s.phase === 'handshake' || s.phase === 'connected') flush(s, input.now, effects);
    if (s.closeRequested && s.phase === 'connected' && !streamsOutstanding(s)) {
      const frame = s.closeRequested;
      s.closeRequested = undefined;
      closeWith(s, input.now, frame, effects, true);
    }
  } catch (err) {
    if (err instanceof TlsError && err.kind === 'apiMisuse') throw err;
    const e = err instanceof ConnectionError ? err : new ConnectionError(QuicError.INTERNAL_ERROR, err instanceof Error ? err.message : String(err));
    closeWith(s, input.now, { type: 'connectionClose', kind: 'transport', errorCode: e.code, frameType: e.frameType ?? 0, reason: new TextEncoder().encode(e.message.slice(0, 100)) }, effects, true);
  }
  return { state: s, effects };
}

function dispatch(s: W, input: Input, effects: Effect[]): void {
  switch (input.type) {
    case 'start': {
      if (s.phase !== 'idle') throw misuse('already started');
      if (s.config.role === 'server') {
        s.phase = 'handshake';
        s.lastActivity = input.now;
        return;
      }
      startTls(s, input.now, effects);
      return;
    }
    case 'datagram':
      if (s.phase === 'idle') throw misuse('datagram before start');
      return onDatagram(s, input.now, input.data, effects);
    case 'timeout':
      return onTimeout(s, input.now, effects);
    case 'write': {
      if (s.phase !== 'connected') throw misuse('streams open once the handshake is complete');
      if (s.closeRequested) throw misuse('the connection is closing');
      const id = input.stream ?? 0;
      const st = sendStream(s, id);
      if (st.txFin) throw misuse(`stream ${id} was already ended`);
      if (input.data.length > 0) st.txPending.push(input.data.slice());
      return;
    }
    case 'end': {
      if (s.phase !== 'connected') throw misuse('streams open once the handshake is complete');
      const st = sendStream(s, input.stream ?? 0);
      st.txFin = true;
      return;
    }
    case 'close': {
      if (s.phase === 'closing' || s.phase === 'draining') return;
      const frame: Frame = {
        type: 'connectionClose',
        ...(s.spaces.oneRtt.tx ? { kind: 'application' as const } : { kind: 'transport' as const, frameType: 0 }),
        errorCode: s.spaces.oneRtt.tx ? (input.errorCode ?? 0n) : QuicError.NO_ERROR,
        reason: new TextEncoder().encode(input.reason ?? ''),
      };
      // RFC-compliant: flush the streams first (everything sent and acknowledged), then close with a closing
      // period; any other mode closes at once with one CONNECTION_CLOSE.
      if (input.mode === 'shutdown' && s.phase === 'connected') {
        s.closeRequested = frame;
        return;
      }
      return closeWith(s, input.now, frame, effects, input.mode === 'shutdown');
    }
    case 'received':
    case 'eof':
    case 'writable':
    case 'keyUpdate':
    case 'cryptoData':
    case 'cryptoDone':
      throw misuse(`a QUIC connection does not take ${input.type} inputs`);
  }
}

/** Our stream `id` for sending: an existing one, or a new locally initiated one (within the peer's limits). */
function sendStream(s: W, id: number): Stream {
  const existing = s.streams.get(id);
  const local = (id & 1) === (s.config.role === 'client' ? 0 : 1);
  if (existing) {
    if (!local && (id & 2) !== 0) throw misuse(`stream ${id} is the peer's unidirectional stream`);
    return existing;
  }
  if (!local) throw misuse(`stream ${id} has not been opened by the peer`);
  const uni = (id & 2) !== 0;
  const index = Math.floor(id / 4);
  const limit = uni ? (s.peerParams?.initialMaxStreamsUni ?? 0) : (s.peerParams?.initialMaxStreamsBidi ?? 0);
  if (index >= limit) throw misuse(`stream ${id}: the peer allows ${limit} ${uni ? 'unidirectional' : 'bidirectional'} streams`);
  return openStream(s, id, true);
}

/**
 * A new stream `id`, opened by us (`local`) or by the peer. A unidirectional stream has only the opener's
 * sending half. The send limit is the peer's initial_max_stream_data for that kind of stream (RFC 9000 §18.2:
 * "bidi_remote" for streams we open, "bidi_local" for those it opens).
 */
function openStream(s: W, id: number, local: boolean): Stream {
  const uni = (id & 2) !== 0;
  const p = s.peerParams ?? {};
  const txLimit = uni ? (local ? (p.initialMaxStreamDataUni ?? 0) : 0) : local ? (p.initialMaxStreamDataBidiRemote ?? 0) : (p.initialMaxStreamDataBidiLocal ?? 0);
  const st: Stream = {
    rxOffset: 0,
    rxChunks: new Map(),
    rxHighest: 0,
    rxDone: uni && local,
    rxLimit: s.config.maxStreamData,
    txOffset: 0,
    txPending: [],
    txFin: uni && !local,
    txFinQueued: uni && !local,
    txLimit,
  };
  s.streams.set(id, st);
  return st;
}

function ourParams(s: W): Uint8Array {
  const c = s.config;
  return encodeTransportParameters({
    ...(c.role === 'server' ? { originalDestinationConnectionId: s.originalDcid } : {}),
    initialSourceConnectionId: s.scid,
    maxIdleTimeout: c.idleTimeout,
    maxUdpPayloadSize: DATAGRAM,
    initialMaxData: c.maxData,
    initialMaxStreamDataBidiLocal: c.maxStreamData,
    initialMaxStreamDataBidiRemote: c.maxStreamData,
    initialMaxStreamDataUni: c.maxStreamData,
    initialMaxStreamsBidi: c.maxStreams,
    initialMaxStreamsUni: c.maxStreams,
    maxAckDelay: MAX_ACK_DELAY,
  });
}

/** Create the handshake engine (variant 'quic') and start it (a client sends its ClientHello). */
function startTls(s: W, now: number, effects: Effect[]): void {
  const keys = initialKeys(s.config.provider, s.originalDcid);
  const client = s.config.role === 'client';
  s.spaces.initial.tx = client ? keys.client : keys.server;
  s.spaces.initial.rx = client ? keys.server : keys.client;
  const config = { ...s.config.tls, role: s.config.role, provider: s.config.provider } as HandshakeClientConfig | HandshakeServerConfig;
  s.tls = createHandshake(config, 'quic', ourParams(s));
  s.phase = 'handshake';
  s.lastActivity = now;
  tlsStep(s, startHandshake(s.tls, now), effects);
}

/** The packet-number space of each epoch that carries handshake data (RFC 9001 §4.1.4). */
const SPACE_OF_EPOCH: Readonly<Record<number, QuicLevel | undefined>> = {
  [Epoch.initial]: 'initial',
  [Epoch.handshake]: 'handshake',
  [Epoch.application]: 'oneRtt',
};
const EPOCH_OF_SPACE: Readonly<Record<QuicLevel, number>> = { initial: Epoch.initial, handshake: Epoch.handshake, oneRtt: Epoch.application };

/** Act on the engine's events: CRYPTO data to send, keys, transport parameters, completion, a fatal alert. */
function tlsStep(s: W, step: HsStep, effects: Effect[]): void {
  s.tls = step.state;
  for (const e of step.events) {
    switch (e.type) {
      case 'send': {
        const space = s.spaces[SPACE_OF_EPOCH[e.epoch]!];
        space.queue.push({ type: 'crypto', offset: space.cryptoTxOffset, data: e.data });
        space.cryptoTxOffset += e.data.length;
        break;
      }
      case 'keyChange': {
        const level = SPACE_OF_EPOCH[e.epoch];
        if (!level || !e.secret) break;
        const space = s.spaces[level];
        if (space.discarded) break;
        const keys = packetKeys(s.config.provider, e.suite.hash, e.suite.aead, e.secret);
        // The engine speaks of our reading and writing; the packet spaces keep ours (tx) and the peer's (rx).
        if (e.direction === 'write') space.tx = keys;
        else space.rx = keys;
        break;
      }
      case 'transportParameters':
        acceptPeerParams(s, e.data);
        break;
      case 'complete':
        s.info = e.info;
        break;
      case 'keyLog':
      case 'session':
      case 'flightEnd':
      case 'recordSizeLimit':
      case 'compatCcs':
      case 'earlyData':
      case 'skipEarlyData':
      case 'keyUpdateRequested':
        break;
    }
  }
  if (step.error) {
    // RFC 9001 §4.8: a TLS alert becomes CRYPTO_ERROR (0x100 + alert).
    const close = quicCloseFor(step.error) ?? { code: QuicError.INTERNAL_ERROR };
    throw new ConnectionError(close.code, `TLS: ${new TlsError(step.error).message}`);
  }
  if (s.info && s.phase === 'handshake' && s.peerParams) {
    s.phase = 'connected';
    effects.push({ type: 'handshakeComplete', info: s.info });
    // RFC 9001 §4.1.2: the server's handshake is confirmed at completion; it tells the client with HANDSHAKE_DONE.
    if (s.config.role === 'server') {
      s.spaces.oneRtt.queue.push({ type: 'handshakeDone' });
      discard(s, 'handshake');
    }
  }
}

/** RFC 9000 §7.3, §18.2: check the peer's transport parameters and take its limits. */
function acceptPeerParams(s: W, encoded: Uint8Array): void {
  let params: TransportParameters;
  try {
    params = decodeTransportParameters(encoded, s.config.role === 'client' ? 'server' : 'client');
  } catch (err) {
    throw new ConnectionError(QuicError.TRANSPORT_PARAMETER_ERROR, err instanceof TransportParameterError ? err.message : String(err));
  }
  const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && bytesEqual(a, b);
  if (!same(params.initialSourceConnectionId, s.dcid)) {
    throw new ConnectionError(QuicError.TRANSPORT_PARAMETER_ERROR, 'initial_source_connection_id does not match the peer\'s Source Connection ID');
  }
  if (s.config.role === 'client' && !same(params.originalDestinationConnectionId, s.originalDcid)) {
    throw new ConnectionError(QuicError.TRANSPORT_PARAMETER_ERROR, 'original_destination_connection_id does not match');
  }
  s.peerParams = params;
  s.txLimit = params.initialMaxData ?? 0;
  const peerIdle = params.maxIdleTimeout ?? 0;
  if (peerIdle > 0) s.idleTimeout = Math.min(s.idleTimeout, peerIdle);
}

/** Discard a packet-number space's keys and everything in flight in it (RFC 9001 §4.9). */
function discard(s: W, level: 'initial' | 'handshake'): void {
  const space = s.spaces[level];
  if (space.discarded) return;
  s.spaces[level] = { ...newSpace(), discarded: true };
  s.ptoCount = 0;
}

const spaceOf = (type: string): QuicLevel | undefined => (type === 'initial' ? 'initial' : type === 'handshake' ? 'handshake' : undefined);

function onDatagram(s: W, now: number, datagram: Uint8Array, effects: Effect[]): void {
  if (s.phase === 'draining') return;
  s.bytesReceived += datagram.length;
  let offset = 0;
  let any = false;
  while (offset < datagram.length) {
    let header;
    try {
      header = decodePacketHeader(datagram, offset, CID_LENGTH);
    } catch {
      break; // RFC 9000 §12.2: the rest of an undecodable datagram is discarded
    }
    const start = offset;
    offset = header.end;
    if (header.form === 'versionNegotiation') continue;
    let level: QuicLevel | undefined;
    if (header.form === 'short') level = 'oneRtt';
    else if (header.type === 'retry' || header.type === 'zeroRtt') continue;
    else level = spaceOf(header.type);
    if (!level) continue;
    if (s.config.role === 'server' && s.phase === 'handshake' && !s.tls) {
      // The client's first Initial: its DCID seeds the Initial keys (RFC 9001 §5.2), its SCID is our DCID.
      if (header.form !== 'long' || header.type !== 'initial' || datagram.length < DATAGRAM || header.dcid.length < 8) return;
      s.originalDcid = header.dcid.slice();
      s.dcid = header.scid.slice();
      startTls(s, now, effects);
    }
    const space = s.spaces[level];
    if (!space.rx) continue; // keys not yet available, or discarded
    const packet = unprotectPacket(s.config.provider, space.rx, datagram.subarray(start, header.end), header.pnOffset - start, space.largestRx);
    if (!packet) continue; // RFC 9001 §5.5: not authentic, dropped
    if (space.received.length && space.received.some((r) => packet.packetNumber >= r.smallest && packet.packetNumber <= r.largest)) continue; // duplicate
    any = true;
    if (s.config.role === 'client' && header.form === 'long' && header.type === 'initial' && !s.peerParams) s.dcid = header.scid.slice();
    // RFC 9001 §4.9.1: a server discards its Initial keys on its first Handshake packet.
    if (s.config.role === 'server' && level === 'handshake') discard(s, 'initial');
    onPacket(s, now, level, packet.packetNumber, packet.payload, effects);
    if ((s.phase as string) === 'closed' || (s.phase as string) === 'draining') return;
  }
  if (any) {
    s.lastActivity = now;
    if (s.phase === 'closing' && s.closeFrame) sendClose(s, now, effects); // answer with our close again
  }
}

function onPacket(s: W, now: number, level: QuicLevel, pn: number, payload: Uint8Array, effects: Effect[]): void {
  const space = s.spaces[level];
  let frames: Frame[];
  try {
    frames = decodeFrames(payload, level as PacketSpace);
  } catch (err) {
    if (err instanceof FrameError) throw new ConnectionError(BigInt(err.code), err.message, err.frameType);
    throw err;
  }
  space.largestRx = Math.max(space.largestRx, pn);
  space.received = addPacket(space.received, pn);
  if (frames.some((f) => f.type !== 'ack' && f.type !== 'padding' && f.type !== 'connectionClose')) space.ackPending = true;
  for (const f of frames) {
    if (s.phase === 'closing' && f.type !== 'connectionClose') continue;
    onFrame(s, now, level, f, effects);
    if ((s.phase as string) === 'draining' || (s.phase as string) === 'closed') return;
  }
}

function onFrame(s: W, now: number, level: QuicLevel, f: Frame, effects: Effect[]): void {
  const space = s.spaces[level];
  switch (f.type) {
    case 'padding':
    case 'ping':
    case 'newToken':
    case 'newConnectionId':
    case 'retireConnectionId':
    case 'pathResponse':
    case 'dataBlocked':
    case 'streamDataBlocked':
    case 'streamsBlocked':
    case 'maxStreams':
      return;
    case 'ack':
      return onAck(s, now, level, f);
    case 'crypto': {
      if (f.offset + f.data.length <= space.cryptoRxOffset) return;
      if (f.offset + f.data.length - space.cryptoRxOffset > MAX_CRYPTO_BUFFER) throw new ConnectionError(QuicError.CRYPTO_BUFFER_EXCEEDED, 'too much out-of-order CRYPTO data');
      space.cryptoRx.set(f.offset, f.data);
      const data = takeContiguous(space.cryptoRx, space.cryptoRxOffset);
      if (data.length === 0) return;
      space.cryptoRxOffset += data.length;
      tlsStep(s, handshakeData(s.tls!, EPOCH_OF_SPACE[level], data, now), effects);
      return;
    }
    case 'handshakeDone':
      if (s.config.role === 'server') throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, 'HANDSHAKE_DONE sent to a server', 0x1e);
      // RFC 9001 §4.9.2: the client's handshake is confirmed; Handshake keys go.
      discard(s, 'handshake');
      return;
    case 'stream':
      return onStreamFrame(s, f, effects);
    case 'resetStream':
    case 'stopSending':
      throw new ConnectionError(QuicError.INTERNAL_ERROR, `${f.type} is not supported yet`);
    case 'maxData':
      s.txLimit = Math.max(s.txLimit, f.max);
      return;
    case 'maxStreamData': {
      const st = s.streams.get(f.streamId);
      if (st) st.txLimit = Math.max(st.txLimit, f.max);
      return;
    }
    case 'pathChallenge':
      s.pathResponses = [...s.pathResponses, f.data.slice()];
      return;
    case 'connectionClose': {
      // RFC 9000 §10.2.2: draining; nothing more is sent.
      s.phase = 'draining';
      s.closeDeadline = now + 3 * probeTimeout(s.rtt, 0);
      if (f.errorCode !== 0n) s.closeError = new TlsError(closeDetail(f, false));
      return;
    }
  }
}

/** The contiguous data at `offset` from out-of-order chunks keyed by their offsets (consumed chunks removed). */
function takeContiguous(chunks: Map<number, Uint8Array>, offset: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = offset;
  for (;;) {
    let found = false;
    for (const [o, d] of chunks) {
      if (o <= at && o + d.length > at) {
        parts.push(d.subarray(at - o));
        at = o + d.length;
        chunks.delete(o);
        found = true;
        break;
      }
      if (o + d.length <= at) chunks.delete(o); // fully old
    }
    if (!found) break;
  }
  const out = new Uint8Array(at - offset);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

function onStreamFrame(s: W, f: Extract<Frame, { type: 'stream' }>, effects: Effect[]): void {
  const id = f.streamId;
  const peerInitiated = (id & 1) !== (s.config.role === 'client' ? 0 : 1);
  const uni = (id & 2) !== 0;
  let st = s.streams.get(id);
  if (!st) {
    if (!peerInitiated) {
      if (uni) throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `STREAM on our own unidirectional stream ${id}`, 0x08);
      throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `STREAM on our stream ${id}, never opened`, 0x08);
    }
    const index = Math.floor(id / 4);
    if (index >= s.config.maxStreams) throw new ConnectionError(QuicError.STREAM_LIMIT_ERROR, `stream ${id} beyond our limit of ${s.config.maxStreams}`, 0x08);
    st = openStream(s, id, false);
  } else if (!peerInitiated && uni) {
    throw new ConnectionError(QuicError.STREAM_STATE_ERROR, `STREAM on our own unidirectional stream ${id}`, 0x08);
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
    s.rxTotal += end - st.rxHighest;
    st.rxHighest = end;
    if (s.rxTotal > s.rxLimit) throw new ConnectionError(QuicError.FLOW_CONTROL_ERROR, 'data beyond the connection limit', 0x08);
  }
  if (end > st.rxOffset && f.data.length > 0) st.rxChunks.set(f.offset, f.data.slice());
  const data = takeContiguous(st.rxChunks, st.rxOffset);
  if (data.length > 0) {
    st.rxOffset += data.length;
    effects.push({ type: 'deliver', data, stream: id });
    // Delivered data re-opens the windows: a new limit once half of a window is used.
    if (st.rxOffset > st.rxLimit - s.config.maxStreamData / 2 && st.rxFinal === undefined) {
      st.rxLimit = st.rxOffset + s.config.maxStreamData;
      s.spaces.oneRtt.queue.push({ type: 'maxStreamData', streamId: id });
    }
    if (s.rxTotal > s.rxLimit - s.config.maxData / 2) {
      s.rxLimit = s.rxTotal + s.config.maxData;
      s.spaces.oneRtt.queue.push({ type: 'maxData' });
    }
  }
  if (!st.rxDone && st.rxFinal !== undefined && st.rxOffset === st.rxFinal) {
    st.rxDone = true;
    effects.push({ type: 'peerClosed', stream: id });
  }
}

function onAck(s: W, now: number, level: QuicLevel, ack: Extract<Frame, { type: 'ack' }>): void {
  const space = s.spaces[level];
  if (ack.largest >= space.nextPn) throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, `ACK of packet ${ack.largest}, never sent`, 0x02);
  const ranges = rangesOfAck(ack);
  const acked = space.sent.filter((p) => ranges.some((r) => p.pn >= r.smallest && p.pn <= r.largest));
  if (acked.length === 0) return;
  space.sent = space.sent.filter((p) => !acked.includes(p));
  space.largestAcked = Math.max(space.largestAcked ?? -1, ack.largest);
  const largest = acked.find((p) => p.pn === ack.largest);
  if (largest && acked.some((p) => p.ackEliciting)) {
    // RFC 9002 §5.1, §5.3: an RTT sample; the ACK Delay is in units of 2^ack_delay_exponent µs.
    const ackDelay = level === 'oneRtt' ? (ack.delay * 2 ** (s.peerParams?.ackDelayExponent ?? 3)) / 1000 : 0;
    s.rtt = updateRtt(s.rtt, now - largest.timeSent, ackDelay, s.phase === 'connected', s.peerParams?.maxAckDelay ?? 25);
  }
  s.ptoCount = 0;
  // RFC 9002 §6.1: packets far enough below the largest acknowledged (3 packets, or 9/8 RTT earlier) are lost:
  // their frames go back to the front of the queue at once instead of waiting for the probe timeout.
  const loss = detectLoss(
    space.sent.map((p) => ({ pn: p.pn, timeSent: p.timeSent, ackEliciting: p.ackEliciting, inFlight: true, size: 0 })),
    space.largestAcked,
    s.rtt,
    now,
  );
  if (loss.lost.length > 0) {
    const lost = new Set(loss.lost.map((p) => p.pn));
    const frames = space.sent.filter((p) => lost.has(p.pn)).flatMap((p) => p.frames);
    space.sent = space.sent.filter((p) => !lost.has(p.pn));
    space.queue = [...frames, ...space.queue];
  }
}

function onTimeout(s: W, now: number, effects: Effect[]): void {
  if (s.phase === 'closing' || s.phase === 'draining') {
    if (s.closeDeadline !== undefined && now >= s.closeDeadline) finish(s, effects);
    return;
  }
  if (s.phase === 'idle') return;
  if (now >= s.lastActivity + s.idleTimeout) {
    // RFC 9000 §10.1: silently closed.
    s.closeError = new TlsError({ kind: 'idleTimeout', afterMs: s.idleTimeout, reason: `no packet from the peer for ${s.idleTimeout} ms` });
    return finish(s, effects);
  }
  const pto = ptoDeadline(s);
  if (pto !== undefined && now >= pto) {
    // RFC 9002 §6.2.4: a probe. This version sends every unacknowledged frame again (and a PING when none).
    s.ptoCount++;
    for (const l of LEVELS) {
      const space = s.spaces[l];
      const again = space.sent.flatMap((p) => p.frames);
      space.sent = [];
      space.queue = [...again, ...space.queue];
    }
    if (!LEVELS.some((l) => s.spaces[l].queue.length > 0)) {
      const top = [...LEVELS].reverse().find((l) => s.spaces[l].tx);
      if (top) s.spaces[top].queue.push({ type: 'ping' });
    }
    s.lastAckElicitingSent = now;
  }
}

/** Stream data not yet sent or not yet acknowledged. */
function streamsOutstanding(s: W): boolean {
  for (const st of s.streams.values()) if (st.txPending.length > 0 || (st.txFin && !st.txFinQueued)) return true;
  const one = s.spaces.oneRtt;
  return one.queue.some((f) => f.type === 'stream') || one.sent.some((p) => p.frames.some((f) => f.type === 'stream'));
}

/** The error a CONNECTION_CLOSE with a non-zero code stands for, sent by us (`local`) or by the peer. */
function closeDetail(f: Extract<Frame, { type: 'connectionClose' }>, local: boolean): TlsErrorDetail {
  return {
    kind: 'quicClose',
    code: f.errorCode,
    application: f.kind === 'application',
    local,
    ...(f.frameType !== undefined ? { frameType: f.frameType } : {}),
    reason: new TextDecoder().decode(f.reason),
  };
}

function finish(s: W, effects: Effect[]): void {
  s.phase = 'closed';
  effects.push(s.closeError ? { type: 'closed', error: s.closeError } : { type: 'closed' });
}

/** Close with `frame`: rapid (one CONNECTION_CLOSE, closed now) or with a closing period of 3×PTO. */
function closeWith(s: W, now: number, frame: Frame, effects: Effect[], period: boolean): void {
  if (s.phase === 'idle' || !LEVELS.some((l) => s.spaces[l].tx)) {
    s.phase = 'closed';
    effects.push({ type: 'closed' });
    return;
  }
  s.closeFrame = frame;
  if (frame.type === 'connectionClose' && frame.errorCode !== 0n) s.closeError = new TlsError(closeDetail(frame, true));
  sendClose(s, now, effects);
  if (period) {
    s.phase = 'closing';
    s.closeDeadline = now + 3 * probeTimeout(s.rtt, 0);
  } else finish(s, effects);
}

/** One datagram with our CONNECTION_CLOSE, in the highest space we have keys for (RFC 9000 §10.2.3). */
function sendClose(s: W, now: number, effects: Effect[]): void {
  const level = [...LEVELS].reverse().find((l) => s.spaces[l].tx)!;
  let frame = s.closeFrame!;
  if (level !== 'oneRtt' && frame.type === 'connectionClose' && frame.kind === 'application') {
    frame = { type: 'connectionClose', kind: 'transport', errorCode: 0x0cn, frameType: 0, reason: new Uint8Array(0) }; // APPLICATION_ERROR
  }
  const packet = buildPacket(s, level, [frame], now, false);
  effects.push({ type: 'transmit', data: packet.bytes });
}

/** Encode and protect one packet of `level` with `frames`; `padTo` pads the payload so the packet has that size. */
function buildPacket(s: W, level: QuicLevel, frames: readonly Frame[], now: number, record: boolean, padTo = 0): { bytes: Uint8Array } {
  const space = s.spaces[level];
  const pn = space.nextPn++;
  const pnLength = packetNumberLength(pn, space.largestAcked);
  let payload = encodeWith((w) => frames.forEach((f) => encodeFrame(w, f)));
  const header = (len: number) =>
    level === 'oneRtt'
      ? encodeShortHeader({ dcid: s.dcid, packetNumber: pn, pnLength })
      : encodeLongHeader({ type: level, dcid: s.dcid, scid: s.scid, ...(level === 'initial' ? { token: new Uint8Array(0) } : {}), packetNumber: pn, pnLength, payloadLength: len });
  // Header protection samples 16 bytes from 4 bytes after the packet number: short payloads are padded.
  let pad = Math.max(4 - pnLength - payload.length, 0);
  if (padTo > 0) pad = Math.max(pad, padTo - (header(payload.length).length + payload.length + 16));
  if (pad > 0) payload = encodeWith((w) => {
    w.bytes(payload);
    encodeFrame(w, { type: 'padding', length: pad });
  });
  const bytes = protectPacket(s.config.provider, space.tx!, header(payload.length), pn, payload);
  if (record) {
    const retrans = frames.filter((f): f is Retransmittable & Frame => f.type === 'crypto' || f.type === 'stream' || f.type === 'handshakeDone' || f.type === 'maxData' || f.type === 'maxStreamData');
    const ackEliciting = frames.some((f) => f.type !== 'ack' && f.type !== 'padding' && f.type !== 'connectionClose');
    space.sent.push({ pn, timeSent: now, ackEliciting, frames: retrans.map(toRetransmittable) });
    if (ackEliciting) s.lastAckElicitingSent = now;
  }
  s.bytesSent += bytes.length;
  return { bytes };
}

function toRetransmittable(f: Frame): Retransmittable {
  switch (f.type) {
    case 'crypto':
      return { type: 'crypto', offset: f.offset, data: f.data };
    case 'stream':
      return { type: 'stream', streamId: f.streamId, offset: f.offset, data: f.data, fin: f.fin };
    case 'maxData':
      return { type: 'maxData' };
    case 'maxStreamData':
      return { type: 'maxStreamData', streamId: f.streamId };
    default:
      return { type: 'handshakeDone' };
  }
}

/** The wire frame for a queued item (limits are read now, so a re-sent MAX_DATA carries the current value). */
function toFrame(s: W, r: Retransmittable): Frame {
  switch (r.type) {
    case 'maxData':
      return { type: 'maxData', max: s.rxLimit };
    case 'maxStreamData':
      return { type: 'maxStreamData', streamId: r.streamId, max: s.streams.get(r.streamId)?.rxLimit ?? 0 };
    case 'ping':
      return { type: 'ping' };
    default:
      return r;
  }
}

/** Move stream data the peer's limits allow from the streams into the 1-RTT queue. */
function queueStreams(s: W): void {
  for (const [id, st] of s.streams) {
    while (st.txPending.length > 0) {
      const room = Math.min(st.txLimit - st.txOffset, s.txLimit - s.txTotal);
      if (room <= 0) break;
      const head = st.txPending[0]!;
      const n = Math.min(room, head.length, 1000);
      const data = head.subarray(0, n);
      if (n === head.length) st.txPending.shift();
      else st.txPending[0] = head.subarray(n);
      const fin = st.txFin && st.txPending.length === 0;
      s.spaces.oneRtt.queue.push({ type: 'stream', streamId: id, offset: st.txOffset, data, fin });
      if (fin) st.txFinQueued = true;
      st.txOffset += n;
      s.txTotal += n;
    }
    if (st.txFin && !st.txFinQueued && st.txPending.length === 0) {
      s.spaces.oneRtt.queue.push({ type: 'stream', streamId: id, offset: st.txOffset, data: new Uint8Array(0), fin: true });
      st.txFinQueued = true;
    }
  }
}

/** Send everything queued: ACKs, CRYPTO, stream data; coalesced into datagrams of at most 1200 bytes. */
function flush(s: W, now: number, effects: Effect[]): void {
  if (s.spaces.oneRtt.tx && s.phase === 'connected') queueStreams(s);
  for (;;) {
    const packets: { level: QuicLevel; frames: Frame[] }[] = [];
    let room = DATAGRAM;
    for (const level of LEVELS) {
      const space = s.spaces[level];
      if (!space.tx) continue;
      const frames: Frame[] = [];
      let size = PACKET_OVERHEAD;
      if (space.ackPending && space.received.length) {
        frames.push(ackFrameFor(space.received, 0, 8));
        size += 100;
      }
      if (level === 'oneRtt') for (const data of s.pathResponses) frames.push({ type: 'pathResponse', data });
      while (space.queue.length > 0 && size < room - 40) {
        const item = space.queue[0]!;
        const budget = room - size - 30;
        if ((item.type === 'crypto' || item.type === 'stream') && item.data.length > budget) {
          // Split: send what fits now, leave the rest at the head of the queue.
          const head = { ...item, data: item.data.subarray(0, budget), ...(item.type === 'stream' ? { fin: false } : {}) } as Retransmittable;
          const rest = { ...item, offset: item.offset + budget, data: item.data.subarray(budget) } as Retransmittable;
          space.queue[0] = rest;
          frames.push(toFrame(s, head));
          size += budget + 30;
          break;
        }
        space.queue.shift();
        frames.push(toFrame(s, item));
        size += ('data' in item ? item.data.length : 0) + 30;
      }
      if (frames.length === 0) continue;
      space.ackPending = false;
      if (level === 'oneRtt') s.pathResponses = [];
      packets.push({ level, frames });
      room -= size;
      if (room < PACKET_OVERHEAD + 50) break;
    }
    if (packets.length === 0) return;
    // RFC 9000 §14.1: a client pads every datagram with an Initial packet to 1200 bytes (inside the Initial).
    const padInitial = s.config.role === 'client' && packets.some((p) => p.level === 'initial');
    const built = packets.filter((p) => p.level !== 'initial').map((p) => buildPacket(s, p.level, p.frames, now, true).bytes);
    const initial = packets.find((p) => p.level === 'initial');
    const others = built.reduce((a, b) => a + b.length, 0);
    const first = initial ? [buildPacket(s, 'initial', initial.frames, now, true, padInitial ? DATAGRAM - others : 0).bytes] : [];
    const datagram = concatBytes([...first, ...built]);
    effects.push({ type: 'transmit', data: datagram });
    // RFC 9001 §4.9.1: a client discards its Initial keys once it sends a Handshake packet.
    if (s.config.role === 'client' && packets.some((p) => p.level === 'handshake')) discard(s, 'initial');
  }
}
