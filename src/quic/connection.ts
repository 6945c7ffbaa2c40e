/**
 * A QUIC v1 connection (RFC 9000, RFC 9001, RFC 9002) as a pure reducer, like the TLS one: datagrams, timer
 * expiries and application commands in ({@link QuicInput}), datagrams to send and data to deliver out
 * ({@link QuicEffect}), the next deadline from {@link nextQuicTimeout}. This module ties the others together —
 * inputs, timers, the connection's phases, closing and draining:
 * - `handshake.ts`: the TLS handshake, seen only as {@link HsEvent}s and key epochs;
 * - `spaces.ts`: the packet-number spaces (keys, ACKs, sent packets, CRYPTO streams) and the level ↔ epoch table;
 * - `streams.ts`: streams and flow control; `builder.ts`: packets and datagrams; `recovery.ts`: RTT and losses;
 * - `timers.ts`: the timer table.
 *
 * Scope of this version: the handshake (Initial, Handshake, 1-RTT; coalesced packets; the client's 1200-byte
 * Initial datagrams; key discarding), bidirectional and unidirectional streams with FIN, connection and stream
 * flow control (enforced on receipt, respected on send, windows re-opened as the application reads: the
 * `consumed` input; STREAM_DATA_BLOCKED / DATA_BLOCKED when held), stream priorities (`priority.ts`), NEW_TOKEN
 * (`tokens.ts`), ACKs, loss
 * recovery and congestion control (RFC 9002, `congestion.ts`), the
 * idle timeout, PATH_CHALLENGE answers, the server's anti-amplification limit (RFC 9000 §8.1) with the
 * client's anti-deadlock probe (RFC 9002 §6.2.2.1), and three ways to close ({@link QuicCloseMode}).
 *
 * Bounds against a hostile peer: a server starts nothing for a first datagram that is not a decryptable client
 * Initial (`accept.ts`); at most 64 ACK ranges tracked per space (`ackRanges.ts`), a peer's ACK matched in
 * O(min(ranges, in flight) × log); out-of-order data stored once within the window, as immutable chunks
 * (`reassembly.ts`, at most 4096 per connection); at most {@link MAX_PATH_RESPONSES} PATH_RESPONSEs pending;
 * every datagram within 1200 bytes and the anti-amplification allowance (`builder.ts`). A step copies only
 * what it changes: streams and chunks are copy-on-write, so an earlier state is never changed by a later step.
 *
 * Connection IDs (`connectionIds.ts`, RFC 9000 §5.1), path validation and migration (`paths.ts`, §8.2, §9) and
 * stateless reset (`statelessReset.ts`, §10.3) are their own modules, called from a few points here.
 *
 * Session resumption and 0-RTT (RFC 9001 §4.6, RFC 9000 §7.4.1) are `zeroRtt.ts`: the engine's `session`,
 * `earlyData` and epoch-1 key changes arrive here and go there.
 *
 * Not yet: preferred_address, ECN. Congestion control, pacing, loss and probe timers and ACK
 * frequency are in `congestion.ts`; stream resets in `streams.ts`; the shutdown rules in `shutdown.ts`.
 */
import { TlsError, assertNever, misuse, type TlsErrorDetail } from '../core/errors.js';
import { alpnList, checkQuicInput } from './checks.js';
import { integerOption, shown } from '../core/validate.js';
import type { HandshakeInfo, Step } from '../core/types.js';
import { nobleProvider } from '../crypto/noble.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { HsEvent } from '../handshake/events.js';
import { decodeFrames, FrameError, type Frame } from '../wire/quic/frames.js';
import { decodePacketHeader, QUIC_V1 } from '../wire/quic/packet.js';
import { decodeTransportParameters, encodeTransportParameters, TransportParameterError, type TransportParameters } from '../wire/quic/transportParameters.js';
import { openClientInitial } from './accept.js';
import { AMPLIFICATION_FACTOR, canSend, closeDatagrams, DATAGRAM_SIZE, pathDatagram } from './builder.js';
import { ConnectionError, QuicError } from './errors.js';
import { closeQuicHandshake, quicHandshakeData, quicReadEpoch, startQuicHandshake, type QuicHandshake, type QuicHandshakeStep, type QuicTlsConfig } from './handshake.js';
import { initialKeys, packetKeys, unprotectPacket, type InitialKeys } from './protection.js';
import { checkCloseCode, closeAnswerDue, closeReason, type QuicShutdownProgress } from './shutdown.js';
import { armRecoveryTimers, onAckFrame, onLossDetectionTimeout, sendDatagrams } from './congestion.js';
import { newPacer, type PacerState } from './pacer.js';
import { BASE_DATAGRAM, DEFAULT_MAX_DATAGRAM, limitPmtu, MAX_UDP_PAYLOAD, newPmtu, type PmtuState } from './pmtu.js';
import { initialRtt, newCongestion, probeTimeout, removeFromFlight, type CongestionControl, type CongestionState, type RttState } from './recovery.js';
import { acceptRetry } from './retry.js';
import { checkVersionNegotiation } from './versionNegotiation.js';
import { countSent, discardPreviousKeys, initiateKeyUpdate, installSecret, openOneRtt, type KeyPhase } from './keyUpdate.js';
import {
  bytesInFlight,
  cloneSpace,
  cryptoReceivedEnd,
  discardedSpace,
  isDuplicate,
  LEVELS,
  levelOfEpoch,
  newSpace,
  packetReceived,
  queueCrypto,
  receiveCrypto,
  requeueAll,
  SPACES,
  type Level,
  type Space,
  type SpaceId,
} from './spaces.js';
import {
  cloneStreamSet,
  DEFAULT_SEND_HIGH_WATER_MARK,
  consumeStream,
  endStream,
  newStreamSet,
  peerLimitsKnown,
  peerMaxData,
  receiveMaxStreamData,
  receiveStreamDataBlocked,
  peerMaxStreams,
  receiveResetStream,
  retireStreams,
  receiveStopSending,
  receiveStreamFrame,
  resetStream,
  sendBufferFacts,
  sendReset,
  setStreamPriority,
  stopSending,
  streamsOutstanding,
  takeStreamFrames,
  writeStream,
  type StreamSet,
} from './streams.js';
import { earliestTimer, QUIC_TIMERS, type QuicTimer, type QuicTimers } from './timers.js';
import type { QuicCloseMode, QuicEffect, QuicInput } from './types.js';
import { bytesEqual } from '../wire/bytes.js';
import { ACTIVE_CONNECTION_ID_LIMIT, issueConnectionIds, issueTarget, newConnectionIds, onNewConnectionId, onRetireConnectionId, activePeerId, peerResetTokens, setPeerInitialId, type ConnectionIds } from './connectionIds.js';
import { followPeer, isProbing, migrateClient, newPath, onPathResponse, onPathValidationTimeout, receivedOnPath, type PathState } from './paths.js';
import { isStatelessReset, RESET_KEY_LENGTH, resetTokenFor } from './statelessReset.js';
import { earlyDataContext, earlyStreamCommand, onEarlyDataVerdict, paramsFor0Rtt, quicSession, type ZeroRttState } from './zeroRtt.js';
import { qlogChanges, qlogClosed, qlogDropped, qlogPacket, qlogParameters, type QlogSink, type QlogWatched } from './qlog.js';

export { QuicError } from './errors.js';
export { MAX_CLOSE_REASON, MAX_ERROR_CODE, type QuicShutdownProgress } from './shutdown.js';
export type { QuicCloseMode, QuicEffect, QuicInput } from './types.js';

/** Configuration of a QUIC connection. */
export interface QuicConfig {
  readonly role: 'client' | 'server';
  /** The TLS configuration (ALPN is required); role and QUIC mode are added by the handshake. */
  readonly tls: QuicTlsConfig;
  /**
   * Close after this long without a packet from the peer, ms (default 30 000; the smaller of both sides' wins;
   * 0: none of ours). Like the settings below, an integer from 0 (at most 2^53 − 1; {@link checkQuicSettings}).
   */
  readonly idleTimeout?: number;
  /** Connection-level receive window, bytes (default 1 MiB). */
  readonly maxData?: number;
  /** Per-stream receive window, bytes (default 256 KiB). */
  readonly maxStreamData?: number;
  /** Streams of each kind the peer may open (default 100, at most 2^60). */
  readonly maxStreams?: number;
  /**
   * Per stream: bytes written and not yet put in a packet at which its send buffer counts as full, bytes
   * (default 256 KiB); it is free again at half of that. Changes are `sendBuffer` effects. Writes are never
   * refused: the mark is a signal for the writer (as a Node stream's highWaterMark is).
   */
  readonly sendHighWaterMark?: number;
  /**
   * Update the 1-RTT keys after this many packets sent with one key (RFC 9001 §6.6); capped at, and by default,
   * 7/8 of the AEAD's confidentiality limit (7 × 2^20 packets for AES-GCM). A positive integer (or Infinity).
   */
  readonly keyUpdateAfter?: number;
  /**
   * The largest UDP payload path MTU discovery tries (RFC 9000 §14.3, `pmtu.ts`), bytes: default 1452 (an
   * Ethernet MTU over IPv6); 1200 turns discovery off; at most 65527. Datagrams start at 1200 and grow only
   * once a probe of the larger size was acknowledged, and never past the peer's max_udp_payload_size.
   */
  readonly maxDatagramSize?: number;
  /**
   * The congestion controller (`recovery.ts`): `'cubic'` (RFC 9438, the default) or `'newreno'` (RFC 9002 §7).
   * Slow start, recovery periods, persistent congestion and pacing are the same for both.
   */
  readonly congestionControl?: CongestionControl;
  /**
   * A server connection opened by an Initial that carried a valid Retry token (RFC 9000 §8.1.2): the
   * client's original DCID and our Retry's SCID, from the token, for the transport parameters (§7.3). Its
   * address counts as validated.
   */
  /**
   * The QUIC version a client puts in its long headers (default 1). Only for testing version negotiation: this
   * implementation speaks QUIC v1 alone, so another value draws a Version Negotiation packet (RFC 9000 §6).
   */
  readonly version?: number;
  readonly retried?: { readonly originalDcid: Uint8Array; readonly retrySourceCid: Uint8Array };
  /**
   * Address validation by token (RFC 9000 §8.1.3, `tokens.ts`): a client's token from an earlier connection's
   * NEW_TOKEN, put in its first Initial; a server's `issue` (sent in a NEW_TOKEN once the handshake completes)
   * and `validated` (this connection's first Initial carried a valid NEW_TOKEN token: its address counts as
   * validated, as after a Retry).
   */
  readonly token?: Uint8Array;
  readonly newToken?: { readonly issue?: Uint8Array; readonly validated?: boolean };
  /**
   * The key our stateless reset tokens are derived with (RFC 9000 §10.3.2, `statelessReset.ts`), 32 bytes: a
   * listener gives all its connections its own, so it can reset connections it has forgotten. Default: random.
   */
  readonly statelessResetKey?: Uint8Array;
  /**
   * Emit qlog events (`qlog.ts`, draft-ietf-quic-qlog-quic-events) as `qlog` effects: packets sent, received,
   * dropped and lost, metrics, transport parameters, connection states, keys and the close. Off by default, and
   * then no event is built.
   */
  readonly qlog?: boolean;
  readonly provider?: CryptoProvider;
}

/** The congestion controller unless configured: CUBIC, by the measurements in bench/results.md. */
export const DEFAULT_CONGESTION_CONTROL: CongestionControl = 'cubic';
/** Our connection IDs are 8 bytes. */
const CID_LENGTH = 8;
/** Our max_ack_delay (RFC 9000 §18.2 default): an ACK of a lone 1-RTT packet waits at most this long, ms. */
const MAX_ACK_DELAY = 25;
/** PATH_CHALLENGEs waiting for an answer: the newest 4 (36 bytes of PATH_RESPONSE frames). */
export const MAX_PATH_RESPONSES = 4;

/** The state of one QUIC connection. Never mutated: every input returns a new one. */
export interface QuicState {
  readonly config: Pick<QuicConfig, 'newToken' | 'qlog'> & Required<Omit<QuicConfig, 'tls' | 'provider' | 'retried' | 'version' | 'token' | 'newToken' | 'qlog'>> & Pick<QuicConfig, 'version'> & Pick<QuicConfig, 'tls'> & { readonly provider: CryptoProvider };
  readonly phase: 'idle' | 'handshake' | 'connected' | 'closing' | 'draining' | 'closed';
  readonly scid: Uint8Array;
  readonly dcid: Uint8Array;
  readonly originalDcid: Uint8Array;
  /** The TLS handshake, from `start` (client) or the first Initial (server) until the connection closes. */
  readonly handshake?: QuicHandshake;
  readonly spaces: Readonly<Record<SpaceId, Space>>;
  readonly streams: StreamSet;
  readonly rtt: RttState;
  readonly ptoCount: number;
  /** NewReno or CUBIC (RFC 9002 §7, RFC 9438): bytes in flight stay within its window (`congestion.ts`). */
  readonly cc: CongestionState;
  readonly pacer: PacerState;
  /** Path MTU discovery (`pmtu.ts`): the datagram size in use, the search, the probe in flight. */
  readonly pmtu: PmtuState;
  /** Probe datagrams a probe timeout allows past the window (RFC 9002 §7.5); 0 between steps. */
  readonly probes: number;
  /** The last send left data queued (window- or pacer-limited, RFC 9002 §7.8). */
  readonly cwndLimited: boolean;
  readonly lastAckElicitingSent?: number;
  /** Armed timers ({@link QuicTimer}): absolute deadlines, ms. */
  readonly timers: QuicTimers;
  /**
   * The idle timeout negotiated (RFC 9000 §10.1): the smaller of ours and the peer's max_idle_timeout, 0 for
   * none when neither side sets one (0 says "no timeout", §18.2). The timer in force is at least 3×PTO.
   */
  readonly idleTimeout: number;
  /** An ack-eliciting packet was sent since the last packet received: sending more does not restart the idle timer. */
  readonly sentSinceReceipt?: boolean;
  /** Our CONNECTION_CLOSE while closing (sent again in answer to the peer's packets, RFC 9000 §10.2.1). */
  readonly closeFrame?: Extract<Frame, { type: 'connectionClose' }>;
  /**
   * Packets from the peer processed while closing: only the 1st, 2nd, 4th, 8th, … are answered with our
   * CONNECTION_CLOSE (RFC 9000 §10.2.1: the rate is limited, `closeAnswerDue` in `shutdown.ts`).
   */
  readonly closingReceived?: number;
  /** A graceful close waiting for the streams to be flushed (sent and acknowledged) first. */
  readonly closeRequested?: Extract<Frame, { type: 'connectionClose' }>;
  readonly closeError?: TlsError;
  readonly peerParams?: TransportParameters;
  readonly info?: HandshakeInfo;
  readonly pathResponses: readonly Uint8Array[];
  /** Bytes received in datagrams and sent (for the server's anti-amplification limit, RFC 9000 §8.1). */
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /**
   * The peer's address is validated (RFC 9000 §8.1): a client takes the server's as given; a server validates
   * the client's when a Handshake packet from it decrypts (the client had our Initial to get those keys).
   * Until then a server sends at most 3× what it received (`sendAllowance` in `builder.ts`).
   */
  readonly addressValidated: boolean;
  /** A client's Handshake packet was acknowledged, or the handshake is confirmed: the server has validated us. */
  readonly validatedByPeer: boolean;
  /** A client's Initial token (from a Retry, or a NEW_TOKEN of an earlier connection). */
  readonly token?: Uint8Array;
  /** The SCID of the Retry: a client got one and followed it; a server sent one (RFC 9000 §7.3). */
  readonly retrySourceCid?: Uint8Array;
  /**
   * A client's: the Source Connection ID of the first server Initial it processed, taken as its DCID then and
   * never again; later Initial and Handshake packets with another SCID are discarded (RFC 9000 §7.2).
   */
  readonly serverScid?: Uint8Array;
  /** The 1-RTT key phases (RFC 9001 §6, `keyUpdate.ts`), from the first 1-RTT secret. */
  readonly keyPhase?: KeyPhase;
  /** Both sides' connection IDs and reset tokens (RFC 9000 §5.1, `connectionIds.ts`); `dcid` is the peer's active one. */
  readonly cids: ConnectionIds;
  /** The peer's address and the validation of the path to it (RFC 9000 §8.2, §9, `paths.ts`). */
  readonly path: PathState;
  /** 0-RTT (`zeroRtt.ts`): a client that offered it, or a server that accepted it. */
  readonly zeroRtt?: ZeroRttState;
  /** The `now` of the `start` input: qlog times are relative to it. */
  readonly startedAt?: number;
}

/** The working copy of one step; `qlog` collects the step's events when `config.qlog` is on. */
type W = { -readonly [K in keyof QuicState]: QuicState[K] } & { spaces: Record<SpaceId, Space>; timers: QuicTimers; qlog?: QlogSink };

/**
 * The settings of {@link QuicConfig} checked, with their defaults: API misuse (thrown, naming the option) for a
 * value the transport parameters cannot carry or the connection cannot work with — receive windows and the
 * idle timeout are integers the 62-bit varints of RFC 9000 §18.2 hold (within JavaScript's safe integers),
 * stream counts at most 2^60 (§4.6), `keyUpdateAfter` a positive number of packets. The RxJS adapter calls it
 * when `quicConnect` / `quicListen` is called, so that a bad option fails there and not at the first packet.
 */
export function checkQuicSettings(config: QuicConfig): Required<Pick<QuicConfig, 'idleTimeout' | 'maxData' | 'maxStreamData' | 'maxStreams' | 'sendHighWaterMark' | 'keyUpdateAfter' | 'maxDatagramSize' | 'congestionControl'>> {
  if (typeof config !== 'object' || config === null) throw misuse(`a QUIC configuration must be an object, got ${shown(config)}`);
  if (config.role !== 'client' && config.role !== 'server') throw misuse(`role must be 'client' or 'server', got ${shown(config.role)}`);
  if (typeof config.tls !== 'object' || config.tls === null) throw misuse(`tls must be the TLS configuration, got ${shown(config.tls)}`);
  alpnList(config.tls.alpnProtocols);
  const congestionControl = config.congestionControl ?? DEFAULT_CONGESTION_CONTROL;
  if (congestionControl !== 'cubic' && congestionControl !== 'newreno') {
    throw misuse(`congestionControl must be 'cubic' or 'newreno', got ${shown(congestionControl)}`);
  }
  const keyUpdateAfter = config.keyUpdateAfter ?? Infinity;
  // Infinity (the default) leaves it to the AEAD's confidentiality limit; NaN would turn the update off.
  if (keyUpdateAfter !== Infinity) integerOption('keyUpdateAfter', keyUpdateAfter, 0, 1, Number.MAX_SAFE_INTEGER);
  return {
    idleTimeout: integerOption('idleTimeout', config.idleTimeout, 30_000, 0, Number.MAX_SAFE_INTEGER),
    maxData: integerOption('maxData', config.maxData, 1 << 20, 0, Number.MAX_SAFE_INTEGER),
    maxStreamData: integerOption('maxStreamData', config.maxStreamData, 256 * 1024, 0, Number.MAX_SAFE_INTEGER),
    maxStreams: integerOption('maxStreams', config.maxStreams, 100, 0, MAX_STREAM_COUNT),
    sendHighWaterMark: integerOption('sendHighWaterMark', config.sendHighWaterMark, DEFAULT_SEND_HIGH_WATER_MARK, 1, Number.MAX_SAFE_INTEGER),
    keyUpdateAfter,
    maxDatagramSize: integerOption('maxDatagramSize', config.maxDatagramSize, DEFAULT_MAX_DATAGRAM, BASE_DATAGRAM, MAX_UDP_PAYLOAD),
    congestionControl,
  };
}

/** Largest stream count either side may allow (RFC 9000 §4.6: a stream ID is 62 bits, two of them the type). */
const MAX_STREAM_COUNT = 2 ** 60;

/** A new connection: a client sends its first Initial on `start`; a server waits for one. */
export function createQuicConnection(config: QuicConfig, random: (n: number) => Uint8Array = (n) => (config.provider ?? nobleProvider).randomBytes(n)): QuicState {
  const { idleTimeout, maxData, maxStreamData, maxStreams, sendHighWaterMark, keyUpdateAfter, maxDatagramSize, congestionControl } = checkQuicSettings(config);
  const scid = random(CID_LENGTH);
  const dcid = config.role === 'client' ? random(CID_LENGTH) : new Uint8Array(0);
  const provider = config.provider ?? nobleProvider;
  const statelessResetKey = config.statelessResetKey ?? random(RESET_KEY_LENGTH);
  // RFC 9000 §7.4.1: 0-RTT needs the server's remembered transport parameters; a session without them resumes only.
  const tls = 'earlyData' in config.tls && config.tls.earlyData && !paramsFor0Rtt(config.tls.session) ? { ...config.tls, earlyData: false } : config.tls;
  return {
    config: {
      role: config.role,
      tls,
      idleTimeout,
      maxData,
      maxStreamData,
      maxStreams,
      sendHighWaterMark,
      keyUpdateAfter,
      maxDatagramSize,
      congestionControl,
      ...(config.version !== undefined && config.version !== QUIC_V1 ? { version: config.version } : {}),
      ...(config.newToken ? { newToken: config.newToken } : {}),
      ...(config.qlog ? { qlog: true } : {}),
      statelessResetKey,
      provider,
    },
    phase: 'idle',
    scid,
    dcid,
    originalDcid: config.retried?.originalDcid ?? dcid,
    ...(config.retried ? { retrySourceCid: config.retried.retrySourceCid } : {}),
    ...(config.role === 'client' && config.token?.length ? { token: config.token.slice() } : {}),
    spaces: { initial: newSpace(), handshake: newSpace(), application: newSpace() },
    streams: newStreamSet(maxData, sendHighWaterMark, maxStreams),
    rtt: initialRtt(),
    ptoCount: 0,
    cc: newCongestion(DATAGRAM_SIZE, congestionControl),
    pacer: newPacer(newCongestion(DATAGRAM_SIZE).window, initialRtt().smoothed, DATAGRAM_SIZE, 0),
    probes: 0,
    cwndLimited: false,
    pmtu: newPmtu(maxDatagramSize),
    timers: {},
    idleTimeout,
    pathResponses: [],
    bytesReceived: 0,
    bytesSent: 0,
    // RFC 9000 §8.1.2, §8.1.3: a valid Retry or NEW_TOKEN token validates the client's address.
    addressValidated: config.role === 'client' || config.retried !== undefined || config.newToken?.validated === true,
    validatedByPeer: config.role === 'server',
    cids: newConnectionIds(scid, resetTokenFor(provider, statelessResetKey, scid)),
    path: newPath(),
  };
}

/** The next deadline (ms): the earliest armed timer, or `undefined` when none is. */
export function nextQuicTimeout(state: QuicState): number | undefined {
  return earliestTimer(state.timers);
}

/** Whether the connection is established (the handshake completed) and not closing. */
export const isQuicConnected = (s: QuicState): boolean => s.phase === 'connected';

function clone(s: QuicState): W {
  const spaces = {} as Record<SpaceId, Space>;
  for (const id of SPACES) spaces[id] = cloneSpace(s.spaces[id]);
  return { ...s, spaces, streams: cloneStreamSet(s.streams), timers: { ...s.timers } } as W;
}

/**
 * Feed one input: `start`, `datagram`, `timeout`, `write {stream, data}`, `end {stream}` (FIN), `consumed
 * {stream, bytes}` (the application read them: credit), `priority {stream, urgency, incremental}`, `close {mode,
 * errorCode, reason}` ({@link QuicCloseMode}); the stream resets and `keyUpdate` ({@link QuicInput}). Returns the new state and the effects: `transmit` (one datagram
 * each), `deliver {stream}`, `peerClosed {stream}` (the peer's FIN), `handshakeComplete`, `closed {error?}`.
 * Peer faults close the connection with a CONNECTION_CLOSE; API misuse throws a {@link TlsError} of kind
 * `apiMisuse`, sends nothing and leaves the state as it was: an input that is not an object of a known type, a
 * `now` that is not a finite number (`timeout` included), a stream ID that is not an integer in 0..2^62 − 1,
 * `write` or `datagram` data that is not a Uint8Array, an unknown close mode (`checks.ts`), and the stream
 * commands the state refuses (`streams.ts`).
 */
export function handleQuicEvents(state: QuicState, input: QuicInput): Step<QuicState, QuicEffect> {
  // API misuse first, before the state is touched: a NaN clock, an unknown input, a stream ID or data of the
  // wrong type would otherwise fail deep inside and close the connection with INTERNAL_ERROR (sent to the peer).
  checkQuicInput(input);
  const s = clone(state);
  const effects: QuicEffect[] = [];
  if (s.phase === 'closed') {
    if (input.type === 'write') throw misuse('the connection is closed');
    return { state, effects: [] };
  }
  // qlog (only when enabled): events collected as the step goes, then compared states before and after.
  const sink: QlogSink | undefined = s.config.qlog ? (s.qlog = []) : undefined;
  let watched = sink && qlogWatch(s);
  try {
    dispatch(s, input, effects);
    if (sink) watched = qlogStep(s, sink, watched!);
    if (s.phase === 'connected') {
      updateKeysIfDue(s);
      issueIds(s, effects);
    }
    if (s.phase === 'handshake' || s.phase === 'connected') flush(s, input.now, effects);
    if (s.closeRequested && s.phase === 'connected' && !streamsOutstanding(s.streams, s.spaces.application)) {
      const frame = s.closeRequested;
      s.closeRequested = undefined;
      closeWith(s, input.now, frame, 'graceful', effects);
    }
  } catch (err) {
    if (err instanceof TlsError && err.kind === 'apiMisuse') throw err;
    const e = err instanceof ConnectionError ? err : new ConnectionError(QuicError.INTERNAL_ERROR, err instanceof Error ? err.message : String(err));
    const frame = { type: 'connectionClose', kind: 'transport', errorCode: e.code, frameType: e.frameType ?? 0, reason: new TextEncoder().encode(e.message.slice(0, 100)) } as const;
    closeWith(s, input.now, frame, 'graceful', effects);
  }
  if (s.streams.txFullChanged) sendBufferFacts(s.streams, effects);
  if (s.phase === 'handshake' || s.phase === 'connected') armRecoveryTimers(s, input.now, s.config.role, MAX_ACK_DELAY);
  if (sink) {
    qlogStep(s, sink, watched!);
    delete s.qlog;
    // The step's events come first: before the datagrams they describe, and before `closed`.
    const time = input.now - (s.startedAt ?? input.now);
    effects.unshift(...sink.map((body): QuicEffect => ({ type: 'qlog', event: { ...body, time } })));
  }
  return { state: s, effects };
}

/** What qlog compares between two points of a step (`qlogChanges`). */
function qlogWatch(s: W): QlogWatched {
  const keys = (id: SpaceId) => ({ ...(s.spaces[id].tx ? { tx: s.spaces[id].tx } : {}), ...(s.spaces[id].rx ? { rx: s.spaces[id].rx } : {}) });
  return {
    role: s.config.role,
    phase: s.phase,
    confirmed: s.spaces.handshake.discarded,
    keys: { initial: keys('initial'), handshake: keys('handshake'), application: keys('application') },
    ...(s.keyPhase ? { keyGeneration: s.keyPhase.generation, keyUpdateRequested: s.keyPhase.requested } : {}),
    rtt: s.rtt,
    cc: s.cc,
    ptoCount: s.ptoCount,
  };
}

/** The qlog events of what changed since `before` (`qlogChanges`), and `connection_closed` once closing starts. */
function qlogStep(s: W, sink: QlogSink, before: QlogWatched): QlogWatched {
  const after = qlogWatch(s);
  const ending = (p: QuicState['phase']) => p === 'closing' || p === 'draining' || p === 'closed';
  if (!ending(before.phase) && ending(after.phase)) {
    const d = s.closeError?.detail;
    if (s.phase === 'closing' && s.closeFrame) {
      const f = s.closeFrame;
      qlogClosed(sink, { owner: 'local', trigger: f.kind === 'application' ? 'application' : f.errorCode === 0n ? 'clean' : 'error', application: f.kind === 'application', code: f.errorCode, reason: new TextDecoder().decode(f.reason) });
    } else if (d?.kind === 'quicClose') {
      qlogClosed(sink, { owner: d.local ? 'local' : 'remote', trigger: d.application ? 'application' : 'error', application: d.application, code: d.code, reason: d.reason });
    } else if (d?.kind === 'idleTimeout') qlogClosed(sink, { trigger: 'idle_timeout' });
    else if (d?.kind === 'statelessReset') qlogClosed(sink, { owner: 'remote', trigger: 'stateless_reset' });
    else if (d?.kind === 'peerIncompatible') qlogClosed(sink, { owner: 'remote', trigger: 'version_mismatch' });
    else qlogClosed(sink, { owner: s.phase === 'draining' ? 'remote' : 'local', trigger: d ? 'error' : 'clean', ...(d ? { reason: s.closeError!.message } : {}) });
  }
  qlogChanges(sink, before, after);
  return after;
}

/** Stream commands that can do nothing once the connection is ending. */
const STREAM_COMMANDS: ReadonlySet<QuicInput['type']> = new Set(['write', 'end', 'resetStream', 'stopSending', 'priority', 'consumed']);

function dispatch(s: W, input: QuicInput, effects: QuicEffect[]): void {
  // Closing or draining (the peer's CONNECTION_CLOSE, an error, our own close sent): nothing more goes out, so a
  // stream command that raced the close is dropped, not API misuse. The application learns of the close itself.
  if ((s.phase === 'closing' || s.phase === 'draining') && STREAM_COMMANDS.has(input.type)) return;
  switch (input.type) {
    case 'start': {
      if (s.phase !== 'idle') throw misuse('already started');
      s.phase = 'handshake';
      s.startedAt = input.now;
      resetIdle(s, input.now);
      // A server starts its handshake on the client's first Initial (it needs that packet's DCID).
      if (s.config.role === 'client') startHandshake(s, input.now, effects);
      return;
    }
    case 'datagram':
      if (s.phase === 'idle') throw misuse('datagram before start');
      return onDatagram(s, input.now, input.data, input.from, effects);
    case 'timeout':
      return onTimeout(s, input.now, effects);
    case 'write':
      if (inZeroRtt(s)) return earlyStreamCommand(s, input);
      if (s.phase !== 'connected') throw misuse('streams open once the handshake is complete');
      if (s.closeRequested) throw misuse('the connection is closing');
      return writeStream(s.streams, s.config, s.peerParams, input.stream, input.data);
    case 'end':
      if (inZeroRtt(s)) return earlyStreamCommand(s, input);
      if (s.phase !== 'connected') throw misuse('streams open once the handshake is complete');
      return endStream(s.streams, s.config, s.peerParams, input.stream);
    case 'resetStream':
    case 'stopSending':
      if (s.phase !== 'connected') throw misuse('streams open once the handshake is complete');
      checkCloseCode(input.errorCode);
      if (input.type === 'resetStream') return resetStream(s.streams, s.config, s.peerParams, input.stream, input.errorCode, s.spaces.application.queue);
      return stopSending(s.streams, s.config, s.peerParams, input.stream, input.errorCode, s.spaces.application.queue);
    case 'consumed':
      // Nothing to re-open once closing; a server reads 0-RTT data during the handshake.
      if (s.phase !== 'connected' && s.phase !== 'handshake') return;
      return consumeStream(s.streams, s.config, input.stream, input.bytes, s.spaces.application.queue);
    case 'priority':
      if (inZeroRtt(s)) return earlyStreamCommand(s, input);
      if (s.phase !== 'connected') throw misuse('streams open once the handshake is complete');
      return setStreamPriority(s.streams, s.config, s.peerParams, input.stream, input);
    case 'close':
      return onClose(s, input, effects);
    case 'keyUpdate':
      if (s.phase !== 'connected' || !s.keyPhase) throw misuse('keys are updated once the handshake is complete');
      s.keyPhase = { ...s.keyPhase, requested: true };
      return;
    case 'migrate':
      return migrateClient(s, input.now, peerAckDelay(s), s.spaces.handshake.discarded, effects);
    default:
      // Refused by checkQuicInput already; never an internal error closing the connection.
      throw misuse(`unknown QUIC input type ${shown((input as { type?: unknown }).type)}`);
  }
}

/** A client that offered 0-RTT, before the handshake completes: its stream commands go to `zeroRtt.ts`. */
const inZeroRtt = (s: W): boolean => s.phase === 'handshake' && s.config.role === 'client' && s.zeroRtt !== undefined && !s.closeRequested;

/** A `close` input: see {@link QuicCloseMode} and `shutdown.ts`. */
function onClose(s: W, input: Extract<QuicInput, { type: 'close' }>, effects: QuicEffect[]): void {
  checkCloseCode(input.errorCode ?? 0n);
  if (s.phase === 'closing' || s.phase === 'draining') {
    // Already closing: `silent` ends the closing or draining period now, and `rapid` the closing period.
    if (input.mode === 'silent' || (input.mode === 'rapid' && s.phase === 'closing')) finish(s, input.now, effects);
    return;
  }
  if (s.closeRequested) {
    // A graceful close waits for the streams: the first call's code and reason stand; a change of mind to
    // rapid, silent or no stream flush closes now with them.
    if (input.mode === 'graceful' && !input.noStreamFlush) return;
    const frame = s.closeRequested;
    s.closeRequested = undefined;
    return closeWith(s, input.now, frame, input.mode, effects);
  }
  // An application close (0x1d) at any stage: in Initial and Handshake packets it goes as 0x1c APPLICATION_ERROR
  // without its reason (RFC 9000 §10.2.3, `closeFrameIn` in `builder.ts`), in 1-RTT packets as it is.
  const frame = { type: 'connectionClose', kind: 'application', errorCode: input.errorCode ?? 0n, reason: closeReason(input.reason ?? '') } as const;
  // Graceful: flush the streams first (everything sent and acknowledged), then close with a closing period.
  if (input.mode === 'graceful' && s.phase === 'connected' && !input.noStreamFlush) {
    s.closeRequested = frame;
    return;
  }
  closeWith(s, input.now, frame, input.mode, effects);
}

/** How far our shutdown has gone ({@link QuicShutdownProgress}, OpenSSL `SSL_shutdown_ex`'s 0 and 1). */
export function quicShutdownProgress(s: QuicState): QuicShutdownProgress {
  if (s.phase === 'closed') return 'complete';
  return s.closeRequested || s.phase === 'closing' || s.phase === 'draining' ? 'inProgress' : 'none';
}

function ourParams(s: W): TransportParameters {
  const c = s.config;
  return {
    ...(c.role === 'server' ? { originalDestinationConnectionId: s.originalDcid } : {}),
    ...(c.role === 'server' && s.retrySourceCid ? { retrySourceConnectionId: s.retrySourceCid } : {}),
    initialSourceConnectionId: s.scid,
    maxIdleTimeout: c.idleTimeout,
    // What we take in (RFC 9000 §18.2): any UDP payload. What we send is path MTU discovery's business.
    maxUdpPayloadSize: MAX_UDP_PAYLOAD,
    initialMaxData: c.maxData,
    initialMaxStreamDataBidiLocal: c.maxStreamData,
    initialMaxStreamDataBidiRemote: c.maxStreamData,
    initialMaxStreamDataUni: c.maxStreamData,
    initialMaxStreamsBidi: c.maxStreams,
    initialMaxStreamsUni: c.maxStreams,
    maxAckDelay: MAX_ACK_DELAY,
    activeConnectionIdLimit: ACTIVE_CONNECTION_ID_LIMIT,
    // RFC 9000 §10.3: the token of the server's first connection ID (clients send none, §18.2).
    ...(c.role === 'server' ? { statelessResetToken: s.cids.issued[0]!.resetToken } : {}),
  };
}

/** The peer's max_ack_delay (RFC 9000 §18.2, default 25 ms), for PTOs in the application space. */
const peerAckDelay = (s: W): number => s.peerParams?.maxAckDelay ?? MAX_ACK_DELAY;

/**
 * Keep as many of our connection IDs issued as the peer's active_connection_id_limit allows (RFC 9000 §5.1.1),
 * once connected: NEW_CONNECTION_ID frames queued, and a `connectionIdIssued` effect each for the routing table.
 */
function issueIds(s: W, effects: QuicEffect[]): void {
  if (!s.spaces.application.tx) return;
  const c = s.config;
  const r = issueConnectionIds(s.cids, issueTarget(s.peerParams?.activeConnectionIdLimit), c.provider, c.statelessResetKey, (n) => c.provider.randomBytes(n), s.spaces.application.queue);
  s.cids = r.ids;
  for (const id of r.added) effects.push({ type: 'connectionIdIssued', id });
}

/**
 * Install the Initial keys (RFC 9001 §5.2) and start the handshake (a client sends its ClientHello). A server
 * passes the keys it opened the client's first Initial with.
 */
function startHandshake(s: W, now: number, effects: QuicEffect[], keys: InitialKeys = initialKeys(s.config.provider, s.originalDcid)): void {
  const client = s.config.role === 'client';
  s.spaces.initial.tx = client ? keys.client : keys.server;
  s.spaces.initial.rx = client ? keys.server : keys.client;
  const params = ourParams(s);
  // RFC 9001 §4.6.2: a server that accepts 0-RTT seals what it promised into its tickets (`zeroRtt.ts`).
  const early = !client && 'maxEarlyData' in s.config.tls && (s.config.tls.maxEarlyData ?? 0) > 0;
  const tls = early ? { ...s.config.tls, earlyDataContext: earlyDataContext(params) } : s.config.tls;
  if (s.qlog) qlogParameters(s.qlog, 'local', params);
  const step = startQuicHandshake({ role: s.config.role, tls, provider: s.config.provider, transportParameters: encodeTransportParameters(params) }, now);
  onHandshakeStep(s, step, effects);
}

/** Act on one handshake step: its events in order, then a failure as CRYPTO_ERROR, then completion. */
function onHandshakeStep(s: W, step: QuicHandshakeStep, effects: QuicEffect[]): void {
  s.handshake = step.handshake;
  for (const e of step.events) {
    // Key log lines (only with `tls.keyLog`): the same SSLKEYLOGFILE labels as TLS 1.3 (RFC 9001 §5.1).
    if (e.type === 'keyLog') effects.push(e);
    // RFC 9000 §7.4.1: a session remembers the server's limits for 0-RTT (the parameters came with the handshake).
    else if (e.type === 'session' && s.peerParams) effects.push({ type: 'session', session: quicSession(e.session, s.peerParams) });
    else if (e.type === 'earlyData') {
      onEarlyDataVerdict(s, e.accepted);
      effects.push({ type: 'earlyData', accepted: e.accepted });
    } else onHandshakeEvent(s, e);
  }
  // RFC 9001 §4.8: a TLS alert becomes CRYPTO_ERROR (0x100 + alert).
  if (step.failure) throw new ConnectionError(QuicError.CRYPTO_ERROR + BigInt(step.failure.alert), `TLS: ${step.failure.error.message}`);
  if (s.info && s.phase === 'handshake' && s.peerParams) {
    s.phase = 'connected';
    effects.push({ type: 'handshakeComplete', info: s.info });
    // RFC 9001 §4.1.2: the server's handshake is confirmed at completion; it tells the client with HANDSHAKE_DONE.
    if (s.config.role === 'server') {
      s.spaces.application.queue.push({ type: 'handshakeDone' });
      // RFC 9000 §8.1.3: a token for the client's next connection, so it can skip the Retry then.
      const issue = s.config.newToken?.issue;
      if (issue?.length) s.spaces.application.queue.push({ type: 'newToken', token: issue });
      discard(s, 'handshake');
    }
  }
}

function onHandshakeEvent(s: W, e: HsEvent): void {
  switch (e.type) {
    case 'send': {
      const level = levelOfEpoch(e.epoch);
      if (level === undefined || level === 'zeroRtt') throw new ConnectionError(QuicError.INTERNAL_ERROR, `handshake bytes at epoch ${e.epoch}`);
      queueCrypto(s.spaces[LEVELS[level].space], e.data);
      return;
    }
    case 'keyChange': {
      // A change back to epoch 0 (no secret) comes only after a HelloRetryRequest ended 0-RTT: nothing to install.
      const level = levelOfEpoch(e.epoch);
      if (level === undefined || level === 'initial' || !e.secret) return;
      if (level === 'zeroRtt') return onZeroRttKey(s, e.direction, packetKeys(s.config.provider, e.suite.hash, e.suite.aead, e.secret));
      const space = s.spaces[LEVELS[level].space];
      if (space.discarded) return;
      const keys = packetKeys(s.config.provider, e.suite.hash, e.suite.aead, e.secret);
      if (e.direction === 'write') space.tx = keys;
      else space.rx = keys;
      // The 1-RTT secrets seed the key phases (RFC 9001 §6).
      if (level === 'oneRtt') s.keyPhase = installSecret(s.config.provider, s.keyPhase, e.direction, e.suite.hash, e.suite.aead, e.secret, keys, s.config.keyUpdateAfter);
      return;
    }
    case 'transportParameters':
      return acceptPeerParams(s, e.data);
    case 'complete':
      s.info = e.info;
      return;
    // Key log lines, sessions and the 0-RTT verdict are handled in onHandshakeStep; a server that refused 0-RTT
    // skips nothing (the 0-RTT packets do not open, RFC 9001 §4.6.2); the stream-only and DTLS-only events never come.
    case 'keyLog':
    case 'session':
    case 'earlyData':
    case 'skipEarlyData':
    case 'flightEnd':
    case 'compatCcs':
    case 'recordSizeLimit':
    // The QUIC variant refuses TLS KeyUpdate (RFC 9001 §6), so this never comes; nor does TLS 1.2 (RFC 9001 §4.2).
    case 'keyUpdateRequested':
    case 'changeCipherSpec':
    case 'tls12KeyChange':
    case 'noRenegotiation':
      return;
    default:
      return assertNever(e);
  }
}

/**
 * The 0-RTT keys (epoch 1, RFC 9001 §4.6.1): a client's write keys, with the session's remembered transport
 * parameters to write under (RFC 9000 §7.4.1) until the server's arrive; a server's read keys (it accepted).
 */
function onZeroRttKey(s: W, direction: 'read' | 'write', keys: ReturnType<typeof packetKeys>): void {
  if (direction === 'read') {
    s.zeroRtt = { status: 'accepted', rx: keys, commands: [] };
    return;
  }
  const remembered = paramsFor0Rtt('session' in s.config.tls ? s.config.tls.session : undefined);
  if (!remembered) return;
  // Stream limits come from the remembered parameters until the server's arrive (`peerParams` stays theirs).
  s.zeroRtt = { status: 'offered', tx: keys, remembered, commands: [] };
  peerLimitsKnown(s.streams, remembered);
}

/** RFC 9000 §7.3, §18.2: check the peer's transport parameters and take its limits. */
function acceptPeerParams(s: W, data: Uint8Array): void {
  let params: TransportParameters;
  try {
    params = decodeTransportParameters(data, s.config.role === 'client' ? 'server' : 'client');
  } catch (err) {
    throw new ConnectionError(QuicError.TRANSPORT_PARAMETER_ERROR, err instanceof TransportParameterError ? err.message : String(err));
  }
  const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && bytesEqual(a, b);
  if (!same(params.initialSourceConnectionId, s.dcid)) {
    throw new ConnectionError(QuicError.TRANSPORT_PARAMETER_ERROR, "initial_source_connection_id does not match the peer's Source Connection ID");
  }
  if (s.config.role === 'client' && !same(params.originalDestinationConnectionId, s.originalDcid)) {
    throw new ConnectionError(QuicError.TRANSPORT_PARAMETER_ERROR, 'original_destination_connection_id does not match');
  }
  // RFC 9000 §7.3: retry_source_connection_id is the Retry's SCID after a Retry, and absent without one.
  if (s.config.role === 'client' && (s.retrySourceCid ? !same(params.retrySourceConnectionId, s.retrySourceCid) : params.retrySourceConnectionId !== undefined)) {
    throw new ConnectionError(QuicError.TRANSPORT_PARAMETER_ERROR, 'retry_source_connection_id does not match the Retry');
  }
  s.peerParams = params;
  s.pmtu = limitPmtu(s.pmtu, params.maxUdpPayloadSize);
  // RFC 9001 §4.6.1: no 0-RTT packet once the server has answered (the verdict follows in the same message).
  if (s.zeroRtt?.tx) s.zeroRtt = { ...s.zeroRtt, tx: undefined };
  if (s.qlog) qlogParameters(s.qlog, 'remote', params);
  // The peer's first connection ID is sequence 0 (RFC 9000 §5.1.1), with the server's reset token (§10.3).
  s.cids = setPeerInitialId(s.cids, s.dcid, params.statelessResetToken);
  peerLimitsKnown(s.streams, params);
  // RFC 9000 §10.1: the minimum of the two, where 0 (§18.2: none) stands for no limit of that side.
  const peerIdle = params.maxIdleTimeout ?? 0;
  if (peerIdle > 0) s.idleTimeout = s.idleTimeout > 0 ? Math.min(s.idleTimeout, peerIdle) : peerIdle;
}

/** Discard a packet-number space's keys and everything in flight in it (RFC 9001 §4.9). */
function discard(s: W, id: 'initial' | 'handshake'): void {
  if (s.spaces[id].discarded) return;
  s.cc = removeFromFlight(s.cc, bytesInFlight(s.spaces[id]));
  s.spaces[id] = discardedSpace();
  s.ptoCount = 0;
}

/** The level of a packet, from its header; `undefined` for packets we do not process. */
function levelOf(header: Exclude<ReturnType<typeof decodePacketHeader>, { form: 'versionNegotiation' }>): Level | undefined {
  if (header.form === 'short') return 'oneRtt';
  // Retry packets are handled before this; 0-RTT is read by a server only (`s.zeroRtt.rx`).
  return header.type === 'retry' ? undefined : header.type;
}

function onDatagram(s: W, now: number, datagram: Uint8Array, from: string | undefined, effects: QuicEffect[]): void {
  if (s.phase === 'draining') return;
  // RFC 9000 §9: a client discards packets from an address other than its server's (it never follows a server).
  if (s.config.role === 'client' && from !== undefined && s.path.address !== undefined && from !== s.path.address) {
    if (s.qlog) qlogDropped(s.qlog, 'invalid', datagram.length);
    return;
  }
  const onPath = receivedOnPath(s, from, datagram.length);
  const arrival = { from, onPath, length: datagram.length };
  const closingBefore = s.closingReceived ?? 0;
  let offset = 0;
  let any = false;
  let firstDcid: Uint8Array | undefined;
  while (offset < datagram.length) {
    let header;
    try {
      header = decodePacketHeader(datagram, offset, CID_LENGTH);
    } catch {
      if (s.qlog) qlogDropped(s.qlog, 'invalid', datagram.length - offset);
      break; // RFC 9000 §12.2: the rest of an undecodable datagram is discarded
    }
    const start = offset;
    offset = header.end;
    // RFC 9000 §12.2: a coalesced packet with another Destination Connection ID than the first is ignored.
    firstDcid ??= header.dcid;
    if (!bytesEqual(header.dcid, firstDcid)) {
      if (s.qlog) qlogDropped(s.qlog, 'invalid', header.end - start);
      continue;
    }
    if (header.form === 'versionNegotiation') {
      if (s.config.role === 'client' && s.phase === 'handshake') onVersionNegotiation(s, now, header, effects);
      if ((s.phase as string) === 'closed') return;
      continue;
    }
    if (!forThisClient(s, header)) {
      if (s.qlog) qlogDropped(s.qlog, 'connection_unknown', header.end - start);
      continue;
    }
    if (header.form === 'long' && header.type === 'retry') {
      if (s.config.role === 'client') onRetry(s, datagram.subarray(start, header.end), header);
      continue;
    }
    const level = levelOf(header);
    if (!level) {
      if (s.qlog) qlogDropped(s.qlog, 'unsupported', header.end - start, header.form === 'long' && header.type === 'zeroRtt' ? 'zeroRtt' : 'unknown');
      continue;
    }
    if (header.form === 'long' && header.type === 'initial' && !acceptableInitial(s.config.role, header.token, datagram.length)) {
      if (s.qlog) qlogDropped(s.qlog, 'invalid', header.end - start, 'initial');
      continue;
    }
    const id = LEVELS[level].space;
    const space = s.spaces[id];
    let packet;
    if (s.config.role === 'server' && s.phase === 'handshake' && !s.handshake) {
      // The client's first Initial (RFC 9000 §7.2, §14.1): checked and decrypted before the handshake starts,
      // so a datagram that is not one starts nothing. Its DCID seeds the Initial keys, its SCID is our DCID.
      if (header.form !== 'long') return;
      const opened = openClientInitial(s.config.provider, datagram, start, header);
      if (!opened.ok) {
        if (s.qlog) qlogDropped(s.qlog, 'invalid', datagram.length - start, 'initial');
        return;
      }
      // After a Retry, the original DCID came with the token (config `retried`).
      if (!s.retrySourceCid) s.originalDcid = opened.dcid;
      s.dcid = opened.scid;
      startHandshake(s, now, effects, opened.keys);
      packet = opened.packet;
    } else if (level === 'oneRtt' && s.keyPhase) {
      // RFC 9001 §6: the Key Phase bit picks the keys; a packet of the next phase updates them.
      const opened = openOneRtt(s.config.provider, s.keyPhase, datagram.subarray(start, header.end), header.pnOffset - start, space.largestRx, space.nextPn);
      s.keyPhase = opened.keys;
      if (!opened.packet) {
        if (s.qlog) qlogDropped(s.qlog, 'decryption_failure', header.end - start, 'oneRtt');
        continue;
      }
      packet = opened.packet;
      if (opened.newPhase) {
        // RFC 9001 §6.5: the previous read keys stay for 3×PTO, for reordered packets.
        s.timers.keyDiscard = now + 3 * probeTimeout(s.rtt, s.peerParams?.maxAckDelay ?? MAX_ACK_DELAY);
        syncKeys(s);
      }
    } else {
      // 0-RTT packets open only under a server's accepted 0-RTT keys: anything else is dropped, with no state kept.
      const rx = level === 'zeroRtt' ? (s.config.role === 'server' ? s.zeroRtt?.rx : undefined) : space.rx;
      if (!rx) {
        if (s.qlog) qlogDropped(s.qlog, 'key_unavailable', header.end - start, level);
        continue; // keys not yet available, or discarded
      }
      packet = unprotectPacket(s.config.provider, rx, datagram.subarray(start, header.end), header.pnOffset - start, space.largestRx);
      if (!packet) {
        if (s.qlog) qlogDropped(s.qlog, 'decryption_failure', header.end - start, level);
        continue; // RFC 9001 §5.5: not authentic, dropped
      }
    }
    // RFC 9000 §17.2, §17.3.1: the reserved bits, protected by the header protection, are zero in an authentic packet.
    if (packet.header[0]! & (header.form === 'long' ? 0x0c : 0x18)) {
      throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, 'reserved header bits set (RFC 9000 §17.2, §17.3.1)');
    }
    if (isDuplicate(space, packet.packetNumber)) {
      if (s.qlog) qlogDropped(s.qlog, 'duplicate', header.end - start, level);
      continue;
    }
    any = true;
    if (s.phase === 'closing') s.closingReceived = (s.closingReceived ?? 0) + 1;
    // RFC 9000 §7.2: the client's DCID is the SCID of the first server Initial it processes, and only that one.
    if (s.config.role === 'client' && level === 'initial' && header.form === 'long' && !s.serverScid) {
      s.serverScid = header.scid.slice();
      s.dcid = header.scid.slice();
    }
    if (s.config.role === 'server' && level === 'handshake') {
      // RFC 9000 §8.1: a Handshake packet from the client validates its address (it could only get the keys
      // from our Initial). RFC 9001 §4.9.1: a server discards its Initial keys on its first Handshake packet.
      s.addressValidated = true;
      discard(s, 'initial');
    }
    // RFC 9001 §4.9.3: a server may drop its 0-RTT keys once a 1-RTT packet arrives.
    if (level === 'oneRtt' && s.zeroRtt?.rx) s.zeroRtt = { ...s.zeroRtt, rx: undefined };
    onPacket(s, now, level, packet.packetNumber, packet.payload, effects, header.dcid, arrival, { length: header.end - start, ...(header.form === 'long' ? { scid: header.scid } : {}) });
    if ((s.phase as string) === 'closed' || (s.phase as string) === 'draining') return;
  }
  // RFC 9000 §10.3.1: a datagram none of whose packets was processed, ending in one of the peer's reset tokens,
  // is a stateless reset: the peer has lost the connection. Closed at once; nothing more is sent.
  if (!any && isStatelessReset(datagram, peerResetTokens(s.cids))) {
    s.closeError = new TlsError({ kind: 'statelessReset', reason: 'the peer sent a stateless reset: it no longer knows this connection (RFC 9000 §10.3)' });
    return finish(s, now, effects);
  }
  if (any) {
    if (s.phase === 'handshake' || s.phase === 'connected') resetIdle(s, now);
    s.sentSinceReceipt = false;
    // Closing: answer with our CONNECTION_CLOSE again, at a decreasing rate (RFC 9000 §10.2.1).
    if (s.phase === 'closing' && s.closeFrame && closeAnswerDue(closingBefore, s.closingReceived ?? 0)) sendClose(s, s.closeFrame, now, effects);
  }
}

/**
 * Whether a packet (not Version Negotiation) is for this connection, for a client: its Destination Connection ID
 * is one of ours (RFC 9000 §5.2.1: packets to others are discarded; a Retry goes to our SCID, §17.2.5; with
 * zero-length IDs every packet's is empty and matches), and once a server Initial was processed, a long header's
 * Source Connection ID is that Initial's (§7.2: a client MUST discard any other; a Retry comes before it, and
 * only a first one is followed, `retry.ts`). A server's listener routes by connection ID: always true there.
 */
function forThisClient(s: W, header: Exclude<ReturnType<typeof decodePacketHeader>, { form: 'versionNegotiation' }>): boolean {
  if (s.config.role !== 'client') return true;
  if (!s.cids.issued.some((c) => bytesEqual(c.id, header.dcid))) return false;
  return header.form !== 'long' || header.type === 'retry' || !s.serverScid || bytesEqual(header.scid, s.serverScid);
}

/**
 * Whether an Initial packet may be processed at all: a server's carries no token (RFC 9000 §17.2.2: the client
 * discards it otherwise), and a client's arrives in a datagram of at least 1200 bytes (§14.1: the server
 * discards it otherwise; the first one is checked before a connection exists, `accept.ts`).
 */
function acceptableInitial(role: 'client' | 'server', token: Uint8Array, datagramLength: number): boolean {
  return role === 'client' ? token.length === 0 : datagramLength >= DATAGRAM_SIZE;
}

/** Where a datagram came from: its address, whether that is the current path, its size. */
interface Arrival {
  readonly from: string | undefined;
  onPath: boolean;
  readonly length: number;
}

function onPacket(s: W, now: number, level: Level, pn: number, payload: Uint8Array, effects: QuicEffect[], dcid?: Uint8Array, arrival?: Arrival, raw?: { readonly length: number; readonly scid?: Uint8Array }): void {
  let frames: Frame[];
  try {
    frames = decodeFrames(payload, level);
  } catch (err) {
    if (err instanceof FrameError) throw new ConnectionError(BigInt(err.code), err.message, err.frameType);
    throw err;
  }
  if (s.qlog) qlogPacket(s.qlog, 'transport:packet_received', level, pn, frames, raw?.length ?? payload.length, dcid, raw?.scid);
  const id = LEVELS[level].space;
  if (arrival && !arrival.onPath && arrival.from !== undefined && level === 'oneRtt') {
    if (isProbing(frames)) {
      // RFC 9000 §8.2.2, §9.1: a probe from another address is answered there, within 3× its size (§8.1).
      const challenges = frames.flatMap((f) => (f.type === 'pathChallenge' ? [f.data.slice()] : [])).slice(-MAX_PATH_RESPONSES);
      const size = Math.min(DATAGRAM_SIZE, AMPLIFICATION_FACTOR * arrival.length);
      const answer = challenges.length > 0 && s.phase === 'connected' ? pathDatagram(s, challenges.map((data) => ({ type: 'pathResponse', data })), now, size) : undefined;
      if (answer) {
        effects.push({ type: 'transmitTo', address: arrival.from, data: answer });
        // RFC 9001 §6.6: a peer's probes must not draw packets the confidentiality limit does not count.
        if (s.keyPhase && s.spaces.application.tx === s.keyPhase.tx) s.keyPhase = countSent(s.keyPhase);
      }
      frames = frames.filter((f) => f.type !== 'pathChallenge');
    } else if (s.config.role === 'server' && s.phase === 'connected' && pn > s.spaces.application.largestRx) {
      // RFC 9000 §9.3: the highest-numbered non-probing packet from a new address moves the path there.
      followPeer(s, arrival.from, arrival.length, now, peerAckDelay(s), effects);
      arrival.onPath = true;
    }
  }
  packetReceived(s.spaces[id], pn, frames.some((f) => f.type !== 'ack' && f.type !== 'padding' && f.type !== 'connectionClose'), now, id !== 'application');
  for (const f of frames) {
    if (s.phase === 'closing' && f.type !== 'connectionClose') continue;
    onFrame(s, now, level, f, effects, dcid);
    if ((s.phase as string) === 'draining' || (s.phase as string) === 'closed') return;
  }
}

function onFrame(s: W, now: number, level: Level, f: Frame, effects: QuicEffect[], dcid?: Uint8Array): void {
  const id = LEVELS[level].space;
  switch (f.type) {
    case 'newConnectionId': {
      // RFC 9000 §19.15 (`connectionIds.ts`): when Retire Prior To retires the ID in use, the next one is used.
      const r = onNewConnectionId(s.cids, f, s.dcid.length === 0, s.spaces.application.queue);
      s.cids = r.ids;
      if (r.switched) s.dcid = activePeerId(r.ids)!.id;
      return;
    }
    case 'retireConnectionId': {
      const r = onRetireConnectionId(s.cids, f, dcid);
      s.cids = r.ids;
      if (r.retired) effects.push({ type: 'connectionIdRetired', id: r.retired });
      return;
    }
    case 'pathResponse':
      return onPathResponse(s, f.data);
    case 'streamDataBlocked':
      return receiveStreamDataBlocked(s.streams, s.config, s.peerParams, f.streamId);
    case 'padding':
    case 'ping':
    case 'dataBlocked':
    case 'streamsBlocked':
      return;
    case 'ack':
      return onAck(s, now, id, f);
    case 'crypto': {
      checkCryptoLevel(s, level, f);
      const data = receiveCrypto(s.spaces[id], f);
      if (data.length === 0 || !s.handshake) return;
      return onHandshakeStep(s, quicHandshakeData(s.handshake, LEVELS[level].epoch, data, now), effects);
    }
    case 'newToken':
      // RFC 9000 §19.7: only a server sends NEW_TOKEN; the client keeps the token for a later connection.
      if (s.config.role === 'server') throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, 'NEW_TOKEN sent to a server', 0x07);
      effects.push({ type: 'newToken', token: f.token.slice() });
      return;
    case 'handshakeDone':
      if (s.config.role === 'server') throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, 'HANDSHAKE_DONE sent to a server', 0x1e);
      // RFC 9001 §4.9.2: the client's handshake is confirmed; Handshake keys go.
      discard(s, 'handshake');
      s.validatedByPeer = true;
      return;
    case 'stream':
      return receiveStreamFrame(s.streams, s.config, s.peerParams, f, effects, s.spaces.application.queue);
    case 'resetStream':
      return receiveResetStream(s.streams, s.config, s.peerParams, f, effects, s.spaces.application.queue);
    case 'stopSending':
      return receiveStopSending(s.streams, s.config, s.peerParams, f, effects, s.spaces.application.queue);
    case 'maxData':
      return peerMaxData(s.streams, f.max);
    case 'maxStreamData':
      return receiveMaxStreamData(s.streams, s.config, s.peerParams, f.streamId, f.max);
    case 'maxStreams':
      return peerMaxStreams(s.streams, f.bidi, f.max);
    case 'pathChallenge':
      // RFC 9000 §8.2.2: echoed in a PATH_RESPONSE. Only the newest few wait (a newer challenge supersedes an
      // older one), so what a peer's challenges draw is bounded whatever it sends (see the builder).
      s.pathResponses = [...s.pathResponses, f.data.slice()].slice(-MAX_PATH_RESPONSES);
      return;
    case 'connectionClose':
      // RFC 9000 §10.2.2: draining; nothing more is sent.
      if (f.errorCode !== 0n) s.closeError = new TlsError(closeDetail(f, false));
      return enterClosingPeriod(s, now, 'draining');
    default:
      return assertNever(f);
  }
}

/**
 * RFC 9001 §4.1.3: a packet of an encryption level older than the one TLS now reads "MUST NOT contain data that
 * extends past the end of previously received data in that flow" (PROTOCOL_VIOLATION), checked here before TLS
 * sees the bytes. Data sent again within what was received is fine (and dropped as a duplicate).
 */
function checkCryptoLevel(s: W, level: Level, f: Extract<Frame, { type: 'crypto' }>): void {
  if (!s.handshake || LEVELS[level].epoch >= quicReadEpoch(s.handshake)) return;
  if (f.offset + f.data.length <= cryptoReceivedEnd(s.spaces[LEVELS[level].space])) return;
  throw new ConnectionError(QuicError.PROTOCOL_VIOLATION, `new CRYPTO data in a ${level} packet, a level already left (RFC 9001 §4.1.3)`, 0x06);
}

function onAck(s: W, now: number, id: SpaceId, ack: Extract<Frame, { type: 'ack' }>): void {
  const acked = onAckFrame(s, now, id, ack, s.phase === 'connected');
  // RFC 9002 §6.2.2.1: a Handshake packet of ours acknowledged: the server has validated our address.
  if (acked.length > 0 && id === 'handshake') s.validatedByPeer = true;
}

/** The `timeout` input: walk the timer table, firing each timer that is due. */
function onTimeout(s: W, now: number, effects: QuicEffect[]): void {
  for (const timer of QUIC_TIMERS) {
    const at = s.timers[timer];
    if (at === undefined || now < at) continue;
    delete s.timers[timer];
    fire(s, timer, now, effects);
    if (s.phase === 'closed') return;
  }
}

function fire(s: W, timer: QuicTimer, now: number, effects: QuicEffect[]): void {
  switch (timer) {
    case 'idle':
      // RFC 9000 §10.1: silently closed.
      s.closeError = new TlsError({ kind: 'idleTimeout', afterMs: idlePeriod(s) ?? s.idleTimeout, reason: `no packet from the peer for ${idlePeriod(s) ?? s.idleTimeout} ms` });
      return finish(s, now, effects);
    case 'lossDetection':
      return onLossDetectionTimeout(s, now, s.config.role);
    case 'ackDelay':
      s.spaces.application.ackImmediate = true;
      return;
    case 'pacing':
      return; // the send that follows every input goes on
    case 'keyDiscard':
      if (s.keyPhase) s.keyPhase = discardPreviousKeys(s.keyPhase);
      return;
    case 'pathValidation':
      return onPathValidationTimeout(s, now, peerAckDelay(s), effects);
    case 'close':
      return finish(s, now, effects);
    default:
      return assertNever(timer);
  }
}

/**
 * The idle period in force (RFC 9000 §10.1): the negotiated timeout, but at least three probe timeouts so that a
 * slow path is not taken for an idle one; undefined when there is none.
 */
function idlePeriod(s: W): number | undefined {
  if (s.idleTimeout <= 0) return undefined;
  return Math.max(s.idleTimeout, 3 * probeTimeout(s.rtt, s.peerParams?.maxAckDelay ?? MAX_ACK_DELAY));
}

/**
 * Restart the idle timer (RFC 9000 §10.1): a packet from the peer was processed, the connection started, or the
 * first ack-eliciting packet since the last receipt went out. No timer when there is no idle timeout.
 */
function resetIdle(s: W, now: number): void {
  const period = idlePeriod(s);
  if (period === undefined) delete s.timers.idle;
  else s.timers.idle = now + period;
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

/**
 * Closing (we sent CONNECTION_CLOSE) or draining (the peer did) for 3×PTO (RFC 9000 §10.2): the PTO of the
 * application space, max_ack_delay included (RFC 9002 §6.2.1), so that a peer delaying its ACKs has no packet
 * still in flight when the state goes.
 */
function enterClosingPeriod(s: W, now: number, phase: 'closing' | 'draining'): void {
  s.phase = phase;
  s.timers = { close: now + 3 * probeTimeout(s.rtt, peerAckDelay(s)) };
  releaseHandshake(s, now);
}

function finish(s: W, now: number, effects: QuicEffect[]): void {
  s.phase = 'closed';
  s.timers = {};
  releaseHandshake(s, now);
  effects.push(s.closeError ? { type: 'closed', error: s.closeError } : { type: 'closed' });
}

function releaseHandshake(s: W, now: number): void {
  if (!s.handshake) return;
  closeQuicHandshake(s.handshake, now);
  s.handshake = undefined;
}

/**
 * Close with `frame`: `graceful` sends it and waits out a closing period of 3×PTO, `rapid` sends it and is
 * closed now, `silent` sends nothing. Before any keys exist there is nothing to send: closed at once.
 */
function closeWith(s: W, now: number, frame: Extract<Frame, { type: 'connectionClose' }>, mode: QuicCloseMode, effects: QuicEffect[]): void {
  if (s.phase === 'idle' || !canSend(s)) {
    s.phase = 'closed';
    s.timers = {};
    releaseHandshake(s, now);
    effects.push({ type: 'closed' });
    return;
  }
  if (frame.errorCode !== 0n) s.closeError = new TlsError(closeDetail(frame, true));
  switch (mode) {
    case 'silent':
      return finish(s, now, effects);
    case 'rapid':
      sendClose(s, frame, now, effects);
      return finish(s, now, effects);
    case 'graceful':
      s.closeFrame = frame;
      sendClose(s, frame, now, effects);
      return enterClosingPeriod(s, now, 'closing');
    default:
      return assertNever(mode);
  }
}

/**
 * Our CONNECTION_CLOSE at every level the peer may read (RFC 9000 §10.2.3, `closeDatagrams` in `builder.ts`),
 * within the anti-amplification limit (§8.1 holds for every packet, §10.2.1: a closing endpoint may simply not
 * answer). RFC 9001 §4.9.1: a client that sent a Handshake packet discards its Initial keys.
 */
function sendClose(s: W, frame: Extract<Frame, { type: 'connectionClose' }>, now: number, effects: QuicEffect[]): void {
  for (const d of closeDatagrams(s, frame, now)) {
    effects.push({ type: 'transmit', data: d.data });
    if (s.config.role === 'client' && d.spaces.includes('handshake')) discard(s, 'initial');
  }
}

/** Send everything queued, one datagram per `transmit` effect. */
function flush(s: W, now: number, effects: QuicEffect[]): void {
  // Finished streams are forgotten and the peer gets their credit back (MAX_STREAMS), in this flush's packets.
  if (s.phase === 'connected') retireStreams(s.streams, s.config, s.spaces.application);
  // Stream data goes in 1-RTT packets once connected, or in a client's 0-RTT packets before (`zeroRtt.ts`).
  if ((s.spaces.application.tx && s.phase === 'connected') || (s.phase === 'handshake' && s.zeroRtt?.tx)) s.spaces.application.queue.push(...takeStreamFrames(s.streams, streamBudget(s)));
  // RFC 9000 §3.1: after a RESET_STREAM none of that stream's data is sent again (queued, or back from a loss).
  if (s.streams.txResets > 0) {
    const app = s.spaces.application;
    app.queue = app.queue.filter((f) => f.type !== 'stream' || !sendReset(s.streams, f.streamId));
  }
  const ackElicitingBefore = s.lastAckElicitingSent;
  sendDatagrams(s, now, (datagram) => {
    effects.push({ type: 'transmit', data: datagram.data });
    // RFC 9001 §6.6: packets protected with one 1-RTT key are counted (at most one 1-RTT packet per datagram).
    if (s.keyPhase && datagram.spaces.includes('application') && s.spaces.application.tx === s.keyPhase.tx) s.keyPhase = countSent(s.keyPhase);
    // RFC 9001 §4.9.1: a client discards its Initial keys once it sends a Handshake packet.
    if (s.config.role === 'client' && datagram.spaces.includes('handshake')) discard(s, 'initial');
  });
  // RFC 9000 §10.1: the first ack-eliciting packet sent since the last receipt restarts the idle timer too.
  if (s.lastAckElicitingSent !== ackElicitingBefore && !s.sentSinceReceipt && (s.phase === 'handshake' || s.phase === 'connected')) {
    resetIdle(s, now);
    s.sentSinceReceipt = true;
  }
}

/**
 * How many bytes of stream data to move into the queue now: what the congestion window has room for, and two
 * datagrams more (so data still waits in the queue when the window is what holds it back, RFC 9002 §7.8), less
 * the stream data already queued. The rest waits in the streams, where priorities still apply to it.
 */
function streamBudget(s: W): number {
  let queued = 0;
  for (const f of s.spaces.application.queue) if (f.type === 'stream') queued += f.data.length;
  return Math.floor(Math.max(0, s.cc.window - s.cc.bytesInFlight)) + 2 * DATAGRAM_SIZE - queued;
}

/** The space's keys follow the key phases (RFC 9001 §6): the 1-RTT read and write keys and the Key Phase bit we send. */
function syncKeys(s: W): void {
  const k = s.keyPhase;
  if (!k) return;
  const app = s.spaces.application;
  if (k.rx) app.rx = k.rx;
  if (k.tx) app.tx = k.tx;
  app.keyPhase = k.txPhase;
}

/**
 * A key update asked for (the `keyUpdate` input, or the automatic one before the AEAD limit) is made as soon as
 * RFC 9001 §6.1 permits: the handshake confirmed (for a client, HANDSHAKE_DONE received) and a packet sent with
 * the current keys acknowledged.
 */
function updateKeysIfDue(s: W): void {
  const k = s.keyPhase;
  if (!k?.requested) return;
  const app = s.spaces.application;
  s.keyPhase = initiateKeyUpdate(s.config.provider, k, s.spaces.handshake.discarded, app.largestAcked, app.nextPn);
  syncKeys(s);
}

/**
 * A Retry (RFC 9000 §17.2.5.2, RFC 9001 §5.8), checked by `retry.ts`: the next Initials go to the server's new
 * connection ID, with its token, under Initial keys derived from that ID; the ClientHello is sent again.
 * Packet numbers go on (§17.2.5.3: never reset).
 */
function onRetry(s: W, packet: Uint8Array, header: Extract<ReturnType<typeof decodePacketHeader>, { form: 'long' }>): void {
  const receivedAny = SPACES.some((id) => s.spaces[id].largestRx >= 0);
  const accepted = acceptRetry(s.config.provider, packet, header, s.originalDcid, receivedAny, s.retrySourceCid !== undefined);
  if (!accepted) return;
  s.dcid = accepted.scid;
  s.retrySourceCid = accepted.scid;
  s.token = accepted.token;
  const keys = initialKeys(s.config.provider, s.dcid);
  s.spaces.initial.tx = keys.client;
  s.spaces.initial.rx = keys.server;
  // RFC 9002 §6.3: a Retry resets loss recovery: what was in flight is not, and goes again.
  s.cc = removeFromFlight(s.cc, bytesInFlight(s.spaces.initial));
  requeueAll(s.spaces.initial);
  s.ptoCount = 0;
}

/**
 * A Version Negotiation packet (RFC 9000 §6.2), checked by `versionNegotiation.ts`: one that lists none of our
 * versions ends the attempt at once with a `peerIncompatible` error (alert 70, protocol_version) and nothing
 * sent; any other is discarded.
 */
function onVersionNegotiation(s: W, now: number, header: Extract<ReturnType<typeof decodePacketHeader>, { form: 'versionNegotiation' }>, effects: QuicEffect[]): void {
  const verdict = checkVersionNegotiation(header, {
    scid: s.scid,
    originalDcid: s.originalDcid,
    version: s.config.version ?? QUIC_V1,
    receivedAny: s.retrySourceCid !== undefined || SPACES.some((id) => s.spaces[id].largestRx >= 0),
  });
  if (verdict.action === 'ignore') return;
  const list = verdict.versions.map((v) => `0x${v.toString(16).padStart(8, '0')}`).join(', ');
  s.closeError = new TlsError({ kind: 'peerIncompatible', alert: 70, reason: `version negotiation: the server offers ${list}, none of ours (RFC 9000 §6.2)` });
  finish(s, now, effects);
}
