/**
 * The DTLS 1.3 connection (RFC 9147): a pure reducer around the handshake engine in its `'dtls'` variant.
 *
 * `handleDtlsEvents(state, input) → { state, effects }` is OpenSSL's `SSL_handle_events` and
 * {@link nextDtlsTimeout} its `SSL_get_event_timeout`: the application (or the RxJS adapter) feeds a `timeout`
 * input at or after that deadline; one fed early is a no-op. Whole datagrams go in, whole datagrams come out
 * (`transmit`, one datagram each).
 *
 * What this layer owns, beside the engine:
 * - **records**: DTLSPlaintext at epoch 0, the unified header with record-number encryption above it
 *   (`epochs.ts`), per-epoch keys in each direction, an anti-replay window per read epoch; anything that does
 *   not parse or authenticate is dropped silently (§4.5.2) and counted;
 * - **handshake messages**: cut to the MTU and sent as one fragment per record (`flight.ts`), reassembled from
 *   fragments in any order (`reassembly.ts`), numbered with message_seq (§5.2);
 * - **reliability** (§5.8, §7): flights retransmitted on the {@link DtlsTimer} `retransmit` timer (1000 ms by default as RFC 9147 §5.8.2 recommends, doubling
 *   to 60 s), only what the peer's ACKs left uncovered; ACKs for the peer's flights (at once for a final flight or
 *   a post-handshake message, after a quarter of the timer for a partial flight); a retransmitted peer flight
 *   answered with our flight again;
 * - **KeyUpdate** (§8): the new write epoch is used only once the peer acknowledged the KeyUpdate;
 * - **cookies** (§5.1): a server configured with `cookieSecret` answers a first ClientHello statelessly;
 *   {@link isDtlsCommitted} says whether the state is worth keeping.
 *
 * ```
 * client: idle ─start→ handshake ─complete→ connected ─close_notify both ways→ closed
 * server: idle ─start→ handshake (uncommitted until a valid cookie) ─complete→ connected → closed
 * ```
 */
import { AlertDescription, AlertLevel, ContentType, HandshakeType } from '../wire/tls/constants.js';
import { DecodeError, Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { MAX_HELLO_VERIFY_REQUESTS } from '../handshake/tls12/helloVerify.js';
import { decodeDtlsRecord, encodeDtlsPlaintext, PLAINTEXT_HEADER_LENGTH, DtlsContentType, MAX_PLAINTEXT_LENGTH } from '../wire/dtls/record.js';
import { decodeDtlsHandshakeFragments } from '../wire/dtls/handshake.js';
import { decodeAck, encodeAck, MAX_ACK_RECORD_NUMBERS } from '../wire/dtls/ack.js';
import { TlsError, alertFor, fail, misuse, type TlsErrorDetail } from '../core/errors.js';
import { bytesArg, checkInput, integerIn, isDetached, numberIn, shown } from '../core/validate.js';
import type { HandshakeInfo, Step } from '../core/types.js';
import type { AeadAlg, CryptoProvider } from '../crypto/provider.js';
import { nobleProvider } from '../crypto/noble.js';
import type { SuiteParams } from '../crypto/keySchedule.js';
import {
  changeCipherSpec,
  createHandshake,
  handshakePhase,
  handshakeData,
  isHandshakeCommitted,
  negotiatedVersion,
  startHandshake,
  updateTrafficKeys,
  type HandshakeState,
  type HsStep,
} from '../handshake/engine.js';
import type { HandshakeConfig } from '../handshake/config.js';
import { DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW } from './replayWindow.js';
import { addFragment, createReassembly, reassemblyAlert, type Reassembly } from './reassembly.js';
import {
  CIPHERTEXT_OVERHEAD,
  MAX_RECORD_SEQUENCE,
  epochKeys,
  openDtlsRecord,
  readEpoch,
  sealDtlsRecord,
  writeEpoch,
  type ReadEpoch,
  type WriteEpoch,
} from './epochs.js';
import { applyAck, extendFlight, flightAcked, messageAcked, newFlight, packFlight, splitMessages, type Flight } from './flight.js';
import type { DtlsCloseMode, DtlsConfig, DtlsEffect, DtlsInput } from './types.js';
import { ProtocolVersion } from '../wire/tls/constants.js';
import { RECORD12_OVERHEAD, keys12, open12, read12, seal12, write12, type Read12, type Write12 } from './records12.js';

/** The timers of a DTLS connection: one table, walked by every `timeout` input. */
export const DtlsTimer = {
  /** Our outstanding flight was not acknowledged in time: send what is unacknowledged again (RFC 9147 §5.8.1). */
  retransmit: 'retransmit',
  /** Acknowledge a partial peer flight (RFC 9147 §7.1: a quarter of the retransmission timer). */
  ack: 'ack',
  /** The handshake did not complete within `handshakeTimeout`. */
  handshake: 'handshake',
  /** `shutdown` mode waited `shutdownTimeout` for the peer's close_notify. */
  close: 'close',
} as const;
export type DtlsTimer = (typeof DtlsTimer)[keyof typeof DtlsTimer];

/** 1280-byte IPv6 minimum MTU less 40 bytes of IPv6 header and 8 of UDP. */
export const DEFAULT_DTLS_MTU = 1232;
export const MIN_DTLS_MTU = 256;
export const DEFAULT_RETRANSMIT_INITIAL = 1000;
export const DEFAULT_RETRANSMIT_MAX = 60_000;
export const DEFAULT_DTLS_HANDSHAKE_TIMEOUT = 30_000;
export const DEFAULT_SHUTDOWN_TIMEOUT = 2_000;
export const DEFAULT_MAX_PENDING_WRITES = 64 * 1024;
/** Record numbers remembered for the next ACK (the newest are kept). */
export const MAX_PENDING_ACKS = 64;
/** Read epochs kept at once (the handshake epoch and the newest application epochs, RFC 9147 §4.2.1). */
export const MAX_READ_EPOCHS = 4;

interface Resolved {
  readonly role: 'client' | 'server';
  readonly provider: CryptoProvider;
  readonly mtu: number;
  readonly retransmitInitial: number;
  readonly retransmitMax: number;
  readonly handshakeTimeout: number;
  readonly shutdownTimeout: number;
  readonly replayWindow: number;
  readonly maxPendingWrites: number;
  readonly keyUpdateAfter: number;
  /** draft-ietf-tls-dtls13-43 instead of RFC 9147 (see `DtlsRecordConfig.dtlsDraft43`). */
  readonly dtlsDraft43: boolean;
}

/** Counters for tests and diagnostics. */
export interface DtlsStats {
  readonly datagramsIn: number;
  readonly datagramsOut: number;
  /** Records dropped as RFC 9147 §4.5.2 asks (undecodable, unauthenticated, replayed, out of place). */
  readonly recordsDropped: number;
  /** Flight transmissions after the first (timer or peer-triggered). */
  readonly retransmissions: number;
  readonly acksSent: number;
  readonly acksReceived: number;
  /**
   * Protected records that failed to authenticate (RFC 9147 §4.5.3 counts them against the AEAD's integrity
   * limit): dropped, and past {@link DTLS_INTEGRITY_LIMIT} the connection is closed.
   */
  readonly authFailures: number;
}

/** The connection's state. Immutable: every input returns a new one. */
export interface DtlsState {
  readonly config: Resolved;
  /** The configuration it was created with: a server that answered statelessly starts over from it. */
  readonly origin: DtlsConfig;
  readonly phase: 'idle' | 'handshake' | 'connected' | 'closed';
  readonly hs: HandshakeState;
  readonly suite?: SuiteParams;
  readonly info?: HandshakeInfo;
  readonly reads: readonly ReadEpoch[];
  readonly writes: readonly WriteEpoch[];
  /** The epoch new records go out under (0 before keys). */
  readonly writeEpoch: number;
  /** DTLS 1.2 (RFC 6347 §4.1): the peer's epoch 1 keys, after its ChangeCipherSpec. */
  readonly read12?: Read12;
  /** DTLS 1.2: our epoch 1 keys, after our ChangeCipherSpec. */
  readonly write12?: Write12;
  /** A KeyUpdate we sent: its message_seq and the write epoch it moves to once acknowledged (RFC 9147 §8). */
  readonly pendingKeyUpdate?: { readonly msgSeq: number; readonly epoch: number; readonly secret: Uint8Array };
  /**
   * The peer asked for a KeyUpdate (update_requested) while ours was unacknowledged: ours answers it once the
   * first is acknowledged (RFC 8446 §4.6.3 as RFC 9147 §8 keeps it; one KeyUpdate in flight at a time, §5.8.4).
   */
  readonly keyUpdateOwed?: boolean;
  /** Sequence number of our next DTLSPlaintext record (epoch 0). */
  readonly plainSeq: number;
  /** message_seq of our next handshake message. */
  readonly sendMsgSeq: number;
  /** Whether a ClientHello (server) or ServerHello (client) arrived yet: the server adopts its message_seq. */
  readonly peerSpoke: boolean;
  readonly reassembly: Reassembly;
  readonly flight?: Flight;
  /** The current retransmission timeout value (ms). */
  readonly rto: number;
  readonly retransmitAt?: number;
  readonly ackAt?: number;
  /** Handshake records of the peer's current flight received since we last sent a flight (for the next ACK). */
  readonly toAck: readonly { readonly epoch: number; readonly seq: number }[];
  readonly handshakeDeadline?: number;
  readonly closeDeadline?: number;
  /** Application writes held until the handshake completes. */
  readonly pending: readonly Uint8Array[];
  readonly pendingBytes: number;
  /** The application ended its output before the handshake completed: close_notify follows the held writes. */
  readonly endPending: boolean;
  readonly closeSent: boolean;
  readonly closeReceived: boolean;
  /** `close` in `shutdown` mode: the connection closes once the peer's close_notify arrives. */
  readonly closeWhenReceived: boolean;
  /**
   * The fatal alert we closed with, the epoch it went under, and how often it was sent again: a peer that goes
   * on sending after it (its retransmission of the offending message) gets it again (RFC 9147 §5.10).
   */
  readonly fatalAlert?: { readonly description: number; readonly epoch: number; readonly repeats: number };
  readonly stats: DtlsStats;
}

/** How often a closed connection sends its fatal alert again, one per datagram received (RFC 9147 §5.10). */
export const MAX_ALERT_REPEATS = 3;

/** A record setting: `v` (or `def`) as a finite number in `min..max`. */
function positive(name: string, v: number | undefined, def: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  return numberIn(name, v ?? def, min, max);
}

/**
 * A new DTLS 1.3 connection for `config` (client or server), before `start`.
 * @throws TlsError `apiMisuse` for an unusable configuration (see `createHandshake`, and the record settings of
 *   `DtlsRecordConfig`).
 */
export function createDtlsConnection(config: DtlsConfig): DtlsState {
  const provider = config.provider ?? nobleProvider;
  if (!provider.headerProtection) throw misuse(`crypto provider ${provider.name} lacks headerProtection, which DTLS 1.3 record numbers need`);
  const replay = positive('replayWindow', config.replayWindow, DEFAULT_REPLAY_WINDOW, 32, MAX_REPLAY_WINDOW);
  if (replay % 32 !== 0) throw misuse('replayWindow must be a multiple of 32');
  const resolved: Resolved = {
    role: config.role,
    provider,
    mtu: Math.floor(positive('mtu', config.mtu, DEFAULT_DTLS_MTU, MIN_DTLS_MTU, 65_507)),
    retransmitInitial: positive('retransmitInitial', config.retransmitInitial, DEFAULT_RETRANSMIT_INITIAL),
    retransmitMax: positive('retransmitMax', config.retransmitMax, DEFAULT_RETRANSMIT_MAX),
    handshakeTimeout: positive('handshakeTimeout', config.handshakeTimeout, DEFAULT_DTLS_HANDSHAKE_TIMEOUT),
    shutdownTimeout: positive('shutdownTimeout', config.shutdownTimeout, DEFAULT_SHUTDOWN_TIMEOUT, 0),
    replayWindow: replay,
    maxPendingWrites: positive('maxPendingWrites', config.maxPendingWrites, DEFAULT_MAX_PENDING_WRITES, 0),
    keyUpdateAfter: integerIn('keyUpdateAfter', config.keyUpdateAfter ?? DTLS_KEY_UPDATE_AFTER, 1, Number.MAX_SAFE_INTEGER),
    dtlsDraft43: !!config.dtlsDraft43,
  };
  if (resolved.retransmitMax < resolved.retransmitInitial) throw misuse('retransmitMax must be at least retransmitInitial');
  const hs = createHandshake({ ...config, provider } as HandshakeConfig, 'dtls', undefined, { dtlsDraft43: resolved.dtlsDraft43 });
  return {
    config: resolved,
    origin: config,
    phase: 'idle',
    hs,
    reads: [],
    writes: [],
    writeEpoch: 0,
    plainSeq: 0,
    sendMsgSeq: 0,
    peerSpoke: false,
    reassembly: createReassembly({ maxMessageLength: (config as { maxHandshakeMessage?: number }).maxHandshakeMessage ?? 1 << 17 }),
    rto: resolved.retransmitInitial,
    toAck: [],
    pending: [],
    pendingBytes: 0,
    endPending: false,
    closeSent: false,
    closeReceived: false,
    closeWhenReceived: false,
    stats: { datagramsIn: 0, datagramsOut: 0, recordsDropped: 0, retransmissions: 0, acksSent: 0, acksReceived: 0, authFailures: 0 },
  };
}

/** The next deadline (ms) at which a `timeout` input is due, or `undefined` for none (`SSL_get_event_timeout`). */
export function nextDtlsTimeout(state: DtlsState): number | undefined {
  if (state.phase === 'closed' || state.phase === 'idle') return undefined;
  let t: number | undefined;
  for (const d of [state.retransmitAt, state.ackAt, state.handshakeDeadline, state.closeDeadline]) {
    if (d !== undefined && (t === undefined || d < t)) t = d;
  }
  return t;
}

/** True once the handshake completed (and until the connection closes). */
export const isDtlsConnected = (s: DtlsState): boolean => s.phase === 'connected';
/** True once the connection is over. */
export const isDtlsClosed = (s: DtlsState): boolean => s.phase === 'closed';
/** What was negotiated, once the handshake completed. */
export const dtlsHandshakeInfo = (s: DtlsState): HandshakeInfo | undefined => s.info;
/** Counters: datagrams, drops, retransmissions, ACKs. */
export const dtlsStats = (s: DtlsState): DtlsStats => s.stats;

/**
 * Whether the connection holds state worth keeping: always for a client; for a server with `cookieSecret`,
 * only once a ClientHello with a valid cookie arrived (before that it answered statelessly, RFC 9147 §5.1,
 * and a listener drops the state).
 */
export function isDtlsCommitted(state: DtlsState): boolean {
  return state.phase !== 'closed' && isHandshakeCommitted(state.hs);
}

/** The largest application write one record carries in this connection's MTU (at most 2^14 bytes). */
export function maxDtlsWrite(state: DtlsState): number {
  return Math.min(MAX_PLAINTEXT_LENGTH, state.config.mtu - (isDtls12(state) ? RECORD12_OVERHEAD : CIPHERTEXT_OVERHEAD));
}

/** Whether the hellos settled DTLS 1.2 (RFC 6347): 13-byte headers at every epoch, no ACKs, ChangeCipherSpec. */
export function isDtls12(state: DtlsState): boolean {
  return negotiatedVersion(state.hs) === ProtocolVersion.DTLS1_2;
}

/** Whether a write of `bytes` would be taken now without refusal (held writes have room, output not closed). */
export function canDtlsWrite(state: DtlsState, bytes: number): boolean {
  if (state.phase === 'closed' || state.closeSent || state.endPending || bytes > maxDtlsWrite(state)) return false;
  return state.phase === 'connected' || state.pendingBytes + bytes <= state.config.maxPendingWrites;
}

/** The working copy of one step. */
interface Cx {
  s: Mutable<DtlsState>;
  readonly now: number;
  readonly effects: DtlsEffect[];
  /** Messages the engine produced in this step, not yet sent as a flight. */
  outgoing: { epoch: number; msgType: number; body: Uint8Array; ccs?: boolean }[];
  /** The engine was connected when this step's handshake messages began (post-handshake messages). */
  postHandshake: boolean;
  /** A retransmission of an earlier peer message was seen. */
  sawRetransmission: boolean;
  /** A new message from the peer was delivered. */
  sawNewMessage: boolean;
  /** A handshake flight (not post-handshake messages) was sent in this step. */
  sentHandshakeFlight: boolean;
}
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Reduce one input (OpenSSL's `SSL_handle_events` for a `timeout`). Pure: `state` is never modified.
 * Peer faults come back as effects (a fatal alert sent, `closed` with the error); API misuse throws
 * {@link TlsError} `apiMisuse`: besides calls out of order, an input that is not an object, a `now` that is not a
 * finite number (a `timeout` at NaN changes nothing), a write of anything but a live `Uint8Array`, a datagram
 * input without data (data that is not bytes is dropped as unparsable).
 */
export function handleDtlsEvents(state: DtlsState, input: DtlsInput): Step<DtlsState, DtlsEffect> {
  if (!checkInput(input)) return { state, effects: [] };
  // A datagram input without data is a mistake of the adapter; data that is not bytes is dropped as unparsable.
  if (input.type === 'datagram' && input.data == null) throw misuse(`a datagram input needs its data (a Uint8Array), got ${shown(input.data)}`);
  if (state.phase === 'closed') {
    if (input.type === 'write' || input.type === 'keyUpdate') throw misuse(`${input.type} on a closed DTLS connection`);
    if (input.type === 'datagram' && state.fatalAlert && state.fatalAlert.repeats < MAX_ALERT_REPEATS) return repeatAlert(state, input.now);
    return { state, effects: [] };
  }
  if (input.type === 'datagram' && state.config.role === 'server' && state.peerSpoke && !isHandshakeCommitted(state.hs)) {
    // We answered a ClientHello statelessly (a cookie HelloRetryRequest or HelloVerifyRequest, RFC 9147 §5.1,
    // RFC 6347 §4.2.1) and kept nothing of it: the next datagram meets a fresh server, as behind `dtlsListen`.
    // A ClientHello resent without a cookie (our answer was lost) gets a new one.
    const fresh = handleDtlsEvents(createDtlsConnection(state.origin), { type: 'start', now: input.now });
    return handleDtlsEvents({ ...fresh.state, stats: state.stats }, input);
  }
  const cx = newCx(state, input.now);
  try {
    switch (input.type) {
      case 'start':
        onStart(cx);
        break;
      case 'datagram':
        if (state.phase === 'idle') throw misuse('datagram before start');
        onDatagram(cx, input.data);
        break;
      case 'timeout':
        onTimeout(cx);
        break;
      case 'write':
        onWrite(cx, input.data);
        break;
      case 'end':
        onEnd(cx);
        break;
      case 'keyUpdate':
        onKeyUpdate(cx, input.requestPeer);
        break;
      case 'close':
        onClose(cx, input.mode);
        break;
      default:
        throw misuse(`unknown input ${(input as { type: string }).type}`);
    }
  } catch (e) {
    if (e instanceof Fatal) failConnection(cx, e.detail);
    else throw e;
  }
  return { state: cx.s, effects: cx.effects };
}

function newCx(state: DtlsState, now: number): Cx {
  return {
    s: { ...state },
    now,
    effects: [],
    outgoing: [],
    postHandshake: state.phase === 'connected',
    sawRetransmission: false,
    sawNewMessage: false,
    sentHandshakeFlight: false,
  };
}

/**
 * Closed with a fatal alert, and the peer still sends: the alert did not reach it, or it retransmits the message
 * that drew it. RFC 9147 §5.10: "SHOULD generate a new alert message if the offending record is received again".
 * The datagram is not read (the connection is over); the alert goes again, at most {@link MAX_ALERT_REPEATS} times.
 */
function repeatAlert(state: DtlsState, now: number): Step<DtlsState, DtlsEffect> {
  const cx = newCx(state, now);
  const a = state.fatalAlert!;
  cx.s.fatalAlert = { ...a, repeats: a.repeats + 1 };
  transmit(cx, sealAt(cx, a.epoch, ContentType.alert, Uint8Array.of(AlertLevel.fatal, a.description)).bytes);
  cx.effects.push({ type: 'alertSent', level: AlertLevel.fatal, description: a.description });
  return { state: cx.s, effects: cx.effects };
}

/** A peer fault inside a step: send the alert and close. */
class Fatal extends Error {
  constructor(readonly detail: TlsErrorDetail) {
    super(detail.reason);
  }
}

function onStart(cx: Cx): void {
  const s = cx.s;
  if (s.phase !== 'idle') throw misuse('DTLS connection already started');
  s.phase = 'handshake';
  s.handshakeDeadline = cx.now + s.config.handshakeTimeout;
  applyHs(cx, startHandshake(s.hs, cx.now));
  flushOutgoing(cx);
}

// ---------------------------------------------------------------------------------------------------------------
// Receiving

function onDatagram(cx: Cx, data: Uint8Array): void {
  const s = cx.s;
  s.stats = { ...s.stats, datagramsIn: s.stats.datagramsIn + 1 };
  const bytes = data instanceof Uint8Array && data.length === data.byteLength;
  if (!bytes) drop(cx); // not bytes (a string, a lying length): unparsable, as any garbage datagram
  const r = new Reader(bytes ? data : new Uint8Array(0));
  while (r.remaining > 0 && s.phase !== 'closed') {
    let rec;
    try {
      rec = decodeDtlsRecord(r);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      drop(cx); // the rest of the datagram has no known record boundaries (RFC 9147 §4.5.2)
      break;
    }
    if (rec.kind === 'connectionId') {
      drop(cx); // rxtls never negotiates connection IDs: the CID length is unknown, so is the rest
      break;
    }
    if (rec.kind === 'plaintext') {
      if (rec.epoch === 0) {
        // A server that has not committed answers with the ClientHello's record sequence number (RFC 6347
        // §4.2.1 for the HelloVerifyRequest; the stateless HelloRetryRequest and the flight after the cookie
        // follow the same rule), so it keeps no sequence state of its own before the cookie returns.
        if (s.config.role === 'server' && !isHandshakeCommitted(s.hs)) s.plainSeq = Math.max(s.plainSeq, rec.sequenceNumber);
        onRecord(cx, 0, rec.sequenceNumber, rec.type, rec.fragment, false);
        continue;
      }
      // DTLS 1.2: a protected record keeps the plaintext header (RFC 6347 §4.1).
      const r12 = s.read12;
      if (!r12 || rec.epoch !== r12.epoch) {
        drop(cx);
        continue;
      }
      const opened12 = open12(r12, rec);
      if (opened12.kind === 'drop') {
        drop(cx, opened12.reason === 'auth');
        continue;
      }
      s.read12 = opened12.epoch;
      onRecord(cx, rec.epoch, rec.sequenceNumber, rec.type, opened12.content, true);
      continue;
    }
    const read = chooseReadEpoch(s, rec.epochBits);
    if (!read) {
      drop(cx);
      continue;
    }
    const opened = openDtlsRecord(s.config.provider, read, rec);
    if (opened.kind === 'drop') {
      drop(cx, opened.reason === 'auth');
      continue;
    }
    s.reads = s.reads.map((e) => (e.epoch === read.epoch ? opened.epoch : e));
    onRecord(cx, read.epoch, opened.seq, opened.type, opened.content, true);
  }
  if (s.phase === 'closed') return;
  flushOutgoing(cx);
  afterReceive(cx);
}

/**
 * AEAD integrity limit for AES-GCM and ChaCha20-Poly1305 (RFC 9147 §4.5.3, 2^36 forgery attempts). Counted over
 * all keys of the connection, which is stricter than per key.
 */
export const DTLS_INTEGRITY_LIMIT = 2 ** 36;

/** Drop a record (RFC 9147 §4.5.2); one that failed authentication counts towards the integrity limit. */
const drop = (cx: Cx, authFailure = false): void => {
  const st = cx.s.stats;
  cx.s.stats = { ...st, recordsDropped: st.recordsDropped + 1, authFailures: st.authFailures + (authFailure ? 1 : 0) };
  if (authFailure && cx.s.stats.authFailures > DTLS_INTEGRITY_LIMIT) {
    throw new Fatal(fail.misbehaved(AlertDescription.bad_record_mac, `more than 2^36 records failed to authenticate (RFC 9147 §4.5.3)`));
  }
};

/**
 * The read epoch a unified header's 2 epoch bits name (RFC 9147 §4.2.2): the engine's current read epoch if the
 * bits match, else the newest older epoch with those bits. Epoch 0 never (it has no ciphertexts).
 */
function chooseReadEpoch(s: DtlsState, bits: number): ReadEpoch | undefined {
  let best: ReadEpoch | undefined;
  for (const e of s.reads) if ((e.epoch & 3) === bits && (!best || e.epoch > best.epoch)) best = e;
  return best;
}

function onRecord(cx: Cx, epoch: number, seq: number, type: number, content: Uint8Array, authenticated: boolean): void {
  const s = cx.s;
  switch (type) {
    case ContentType.handshake:
      // RFC 9147 §5.10, RFC 8446 §6.1: after the peer's close_notify its data is ignored (a KeyUpdate, a ticket, a
      // malformed message); its ACKs still count, since our side may go on writing.
      if (s.closeReceived) return drop(cx);
      return onHandshakeRecord(cx, epoch, seq, content);
    case DtlsContentType.ack:
      if (isDtls12(s)) return drop(cx); // no ACKs in DTLS 1.2
      // A plaintext ACK is not believed once the peer can protect its records.
      if (!authenticated && s.reads.length > 0) return drop(cx);
      return onAck(cx, content, epoch);
    case DtlsContentType.change_cipher_spec:
      return onChangeCipherSpec(cx, epoch, content);
    case ContentType.alert:
      // A plaintext alert is believed only while the peer cannot have keys yet (before our handshake keys).
      if (!authenticated && (s.reads.length > 0 || s.read12)) return drop(cx);
      if (s.closeReceived) return drop(cx);
      return onAlert(cx, content);
    case ContentType.application_data:
      // Application data only under application keys (epoch ≥ 3; DTLS 1.2: epoch 1) and after the handshake
      // (RFC 9147 §5.8.1).
      if (!authenticated || epoch < (isDtls12(s) ? 1 : 3) || s.phase !== 'connected' || s.closeReceived) return drop(cx);
      cx.effects.push({ type: 'deliver', data: content.slice() });
      return;
    default:
      return drop(cx); // anything else: ignored (RFC 9147 §4.1, §5; RFC 6347 §4.1.2.7)
  }
}

/**
 * A ChangeCipherSpec record (DTLS 1.2, RFC 6347 §4.1): handed to the engine when it waits for one, under its read
 * epoch; a retransmitted or early one (the Finished after it is then dropped too, and comes again with the peer's
 * retransmission) and any in DTLS 1.3 (RFC 9147 §5) are ignored.
 */
function onChangeCipherSpec(cx: Cx, epoch: number, content: Uint8Array): void {
  const s = cx.s;
  if (!isDtls12(s) || content.length !== 1 || content[0] !== 1) return drop(cx);
  if (handshakePhase(s.hs) !== 'expectChangeCipherSpec' || epoch !== s.hs.readEpoch) return drop(cx);
  applyHs(cx, changeCipherSpec(s.hs, cx.now));
  forgetOldEpochFragments(s, s.reassembly.nextSeq);
}

function onHandshakeRecord(cx: Cx, epoch: number, seq: number, content: Uint8Array): void {
  const s = cx.s;
  let fragments;
  try {
    fragments = decodeDtlsHandshakeFragments(content);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return drop(cx);
  }
  // RFC 9147 §7: a record is acknowledged only if every fragment in it was processed or buffered; one dropped
  // (beyond the reassembly window, or a new message under an old epoch) must be sent again, so none is.
  let ackable = false;
  let skipped = false;
  for (const f of fragments) {
    if (s.phase === 'closed') return;
    // A server's first ClientHello may carry message_seq 1 (the second after a stateless HelloRetryRequest or
    // HelloVerifyRequest), or more after a renewed HelloVerifyRequest (RFC 6347 §4.2.1): reassembly starts there,
    // and our answer carries the same number (RFC 9147 §5.2, RFC 6347 §4.2.2).
    if (s.config.role === 'server' && !s.peerSpoke && f.msgType === HandshakeType.client_hello && epoch === 0 && f.messageSeq <= MAX_HELLO_VERIFY_REQUESTS && s.reassembly.pending.length === 0) {
      s.reassembly = createReassembly(s.reassembly.limits, f.messageSeq);
    }
    // New messages come only under the engine's current read epoch (older epochs carry retransmissions; a
    // plaintext fragment after keys would be an injection).
    if (f.messageSeq >= s.reassembly.nextSeq && epoch !== currentReadEpoch(s)) {
      drop(cx);
      skipped = true;
      continue;
    }
    const res = addFragment(s.reassembly, {
      msgSeq: f.messageSeq,
      msgType: f.msgType,
      length: f.length,
      fragmentOffset: f.fragmentOffset,
      fragment: f.body,
    });
    switch (res.kind) {
      case 'error':
        throw new Fatal(fail.decode(`handshake fragment: ${res.error.kind}`, reassemblyAlert(res.error)));
      case 'dropped':
        drop(cx);
        skipped = true;
        continue;
      case 'retransmission':
        cx.sawRetransmission = true;
        ackable = true;
        continue;
      case 'accepted':
        s.reassembly = res.state;
        ackable = true;
        for (const m of res.messages) {
          const before = currentReadEpoch(s);
          deliverMessage(cx, epoch, m.msgSeq, m.msgType, m.body);
          if (currentReadEpoch(s) !== before) {
            forgetOldEpochFragments(s, m.msgSeq + 1);
            break;
          }
        }
        continue;
    }
  }
  if (ackable && !skipped && s.phase !== 'closed') s.toAck = addAck(s.toAck, epoch, seq);
}

/**
 * The engine's read epoch changed after message `nextSeq - 1`: every later message comes under the new epoch
 * (RFC 9147 §5.8.1, RFC 6347 §4.1), so what was buffered beyond it came under the old one: fragments injected in
 * the clear, or forged, that would otherwise meet the genuine message with different bytes or length and abort
 * the handshake (illegal_parameter) for an off-path attacker. They are dropped, and reassembly goes on from
 * `nextSeq` (a complete old-epoch message after the key change is never handed on).
 */
function forgetOldEpochFragments(s: Mutable<DtlsState>, nextSeq: number): void {
  if (s.reassembly.pending.length === 0 && s.reassembly.nextSeq === nextSeq) return;
  s.reassembly = createReassembly(s.reassembly.limits, nextSeq);
}

/** The epoch the engine reads handshake messages under now. */
const currentReadEpoch = (s: DtlsState): number => s.hs.readEpoch;

function addAck(list: DtlsState['toAck'], epoch: number, seq: number): DtlsState['toAck'] {
  if (list.some((r) => r.epoch === epoch && r.seq === seq)) return list;
  const next = [...list, { epoch, seq }];
  return next.length > MAX_PENDING_ACKS ? next.slice(next.length - MAX_PENDING_ACKS) : next;
}

function deliverMessage(cx: Cx, epoch: number, msgSeq: number, msgType: number, body: Uint8Array): void {
  const s = cx.s;
  cx.sawNewMessage = true;
  // The peer's next flight acknowledges our handshake flight implicitly (RFC 9147 §5.8.1).
  if (s.flight?.implicitAck && (isDtls12(s) || (msgType !== HandshakeType.new_session_ticket && msgType !== HandshakeType.key_update))) {
    endFlight(s);
  }
  if (s.config.role === 'server' && msgType === HandshakeType.client_hello) s.sendMsgSeq = msgSeq;
  if (msgType === HandshakeType.client_hello || msgType === HandshakeType.server_hello) s.peerSpoke = true;
  if (s.phase === 'connected') cx.postHandshake = true;
  const msg = new Uint8Array(4 + body.length);
  msg[0] = msgType;
  msg[1] = body.length >>> 16;
  msg[2] = (body.length >>> 8) & 0xff;
  msg[3] = body.length & 0xff;
  msg.set(body, 4);
  applyHs(cx, handshakeData(s.hs, epoch, msg, cx.now, msgSeq));
}

function endFlight(s: Mutable<DtlsState>): void {
  if (s.flight && s.flight.transmissions <= 1) s.rto = s.config.retransmitInitial; // no loss: reset (§5.8.2)
  delete s.flight;
  delete s.retransmitAt;
}

function onAck(cx: Cx, content: Uint8Array, ackEpoch: number): void {
  const s = cx.s;
  let list;
  try {
    list = decodeAck(content);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return drop(cx);
  }
  s.stats = { ...s.stats, acksReceived: s.stats.acksReceived + 1 };
  if (!s.flight) return;
  // During the handshake an ACK goes in an epoch at least that of the records it acknowledges (RFC 9147 §7), so
  // a newer record number in it is not believed. After it, epochs are per direction: the peer acknowledges under
  // its own highest sending epoch, which may be below ours (our KeyUpdates, not its), and a record in any ACK
  // counts as acknowledged (§7.2).
  const handshaking = s.phase !== 'connected';
  const numbers = list
    .filter((rn) => (!handshaking || rn.epoch <= BigInt(ackEpoch)) && rn.sequenceNumber < 2n ** 48n)
    .map((rn) => ({ epoch: Number(rn.epoch), seq: Number(rn.sequenceNumber) }));
  const { flight, newly } = applyAck(s.flight, numbers);
  s.flight = flight;
  maybeCommitKeyUpdate(cx);
  if (flightAcked(flight)) {
    endFlight(s);
  } else if (newly > 0) {
    // A partial ACK: send the unacknowledged rest now (RFC 9147 §5.8.1, WAITING → SENDING).
    transmitFlight(cx, true);
  }
  // The peer's update request that waited for our own KeyUpdate's ACK.
  if (s.keyUpdateOwed && !s.pendingKeyUpdate) {
    delete s.keyUpdateOwed;
    if (!s.closeSent && s.phase === 'connected') queueKeyUpdate(cx, false);
  }
}

function onAlert(cx: Cx, content: Uint8Array): void {
  const s = cx.s;
  if (content.length !== 2) return drop(cx);
  const level = content[0]!;
  const description = content[1]!;
  cx.effects.push({ type: 'alertReceived', level, description });
  if (description === AlertDescription.close_notify) {
    s.closeReceived = true;
    cx.effects.push({ type: 'peerClosed' });
    // DTLS 1.2 keeps TLS 1.2's closure (RFC 6347 §4.1, RFC 5246 §7.2.1): the other party "MUST respond with a
    // close_notify alert of its own and close down the connection immediately, discarding any pending writes".
    // DTLS 1.3 closes one direction only (RFC 8446 §6.1): we may go on writing.
    if (isDtls12(s) && !s.closeSent) return sendCloseNotify(cx);
    if (s.closeSent || s.closeWhenReceived) finish(cx);
    return;
  }
  if (description === AlertDescription.user_canceled) return;
  finish(cx, new TlsError({ kind: 'alertReceived', alert: description, reason: `peer sent fatal alert ${description}` }));
}

/** After a datagram: acknowledge what calls for it, or answer a retransmitted flight with ours (RFC 9147 §5.8.1, §7.1). */
function afterReceive(cx: Cx): void {
  const s = cx.s;
  if (cx.sentHandshakeFlight) {
    // Our next handshake flight acknowledges the peer's implicitly (RFC 9147 §7.1).
    s.toAck = [];
    delete s.ackAt;
    return;
  }
  if (cx.sawRetransmission && s.flight?.implicitAck && !cx.sawNewMessage) {
    // The peer did not get our flight (or its ACK): send ours again rather than waiting for the timer.
    transmitFlight(cx, true);
  }
  if (s.toAck.length === 0) return;
  if (isDtls12(s)) {
    // DTLS 1.2 has no ACK (RFC 6347 §4.2.4): our next flight, or our retransmission, answers.
    s.toAck = [];
    delete s.ackAt;
    return;
  }
  if (s.phase === 'connected' || cx.postHandshake) {
    sendAck(cx); // the final flight and post-handshake messages are acknowledged at once
  } else if (s.ackAt === undefined) {
    s.ackAt = cx.now + Math.max(1, s.rto / 4);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The engine's events

function applyHs(cx: Cx, step: HsStep): void {
  const s = cx.s;
  s.hs = step.state;
  for (const ev of step.events) {
    switch (ev.type) {
      case 'send':
        for (const m of splitMessages(ev.data)) cx.outgoing.push({ epoch: ev.epoch, msgType: m.msgType, body: m.body });
        break;
      case 'flightEnd':
        flushOutgoing(cx);
        break;
      case 'keyChange': {
        if (!ev.secret) break; // only a 0-RTT abort, which DTLS never starts
        s.suite = ev.suite;
        const keys = epochKeys(s.config.provider, ev.suite, ev.epoch, ev.secret, s.config.dtlsDraft43);
        if (ev.direction === 'read') {
          s.reads = pruneReads([...s.reads.filter((r) => r.epoch !== ev.epoch), readEpoch(keys, s.config.replayWindow)]);
        } else if (s.phase === 'connected' && ev.epoch > 3 && cx.outgoing.some((m) => m.msgType === HandshakeType.key_update)) {
          // KeyUpdate: the new write epoch waits for the peer's ACK (RFC 9147 §8).
          s.pendingKeyUpdate = { msgSeq: -1, epoch: ev.epoch, secret: ev.secret };
        } else {
          // Keep the epochs an unacknowledged flight still retransmits under (RFC 9147 §4.2.1).
          const keep = new Set([...cx.outgoing.map((m) => m.epoch), ...(s.flight?.messages.filter((m) => !m.done).map((m) => m.epoch) ?? [])]);
          s.writes = [...s.writes.filter((w) => w.epoch !== ev.epoch && keep.has(w.epoch)), writeEpoch(keys)];
          s.writeEpoch = ev.epoch;
        }
        break;
      }
      case 'changeCipherSpec':
        // DTLS 1.2: the ChangeCipherSpec goes in the flight, between the messages around it (RFC 6347 §4.2.4).
        cx.outgoing.push({ epoch: s.writeEpoch, msgType: -1, body: Uint8Array.of(1), ccs: true });
        break;
      case 'tls12KeyChange': {
        const k = keys12(s.config.provider, ev.suite, ev.epoch, ev.key, ev.iv);
        if (ev.direction === 'read') {
          s.read12 = read12(k, s.config.replayWindow);
        } else {
          s.write12 = write12(k);
          s.writeEpoch = ev.epoch;
        }
        break;
      }
      case 'noRenegotiation':
        // RFC 5746 §4.2, §4.4: rxtls never renegotiates; a warning, and the connection goes on.
        sendRecord(cx, ContentType.alert, Uint8Array.of(AlertLevel.warning, AlertDescription.no_renegotiation));
        cx.effects.push({ type: 'alertSent', level: AlertLevel.warning, description: AlertDescription.no_renegotiation });
        break;
      case 'complete':
        s.phase = 'connected';
        s.info = ev.info;
        delete s.handshakeDeadline;
        // DTLS 1.2: the final flight is not retransmitted on a timer, only when the peer retransmits its own
        // (RFC 6347 §4.2.4, FINISHED state); it is kept for that.
        if (isDtls12(s)) delete s.retransmitAt;
        cx.effects.push({ type: 'handshakeComplete', info: ev.info });
        break;
      case 'keyUpdateRequested':
        if (s.closeSent) break;
        if (s.pendingKeyUpdate) s.keyUpdateOwed = true;
        else queueKeyUpdate(cx, false);
        break;
      case 'session':
        cx.effects.push({ type: 'session', session: ev.session });
        break;
      case 'keyLog':
        cx.effects.push({ type: 'keyLog', label: ev.label, clientRandom: ev.clientRandom, secret: ev.secret });
        break;
      default:
        break; // recordSizeLimit, transportParameters, compatCcs, earlyData, skipEarlyData: not in DTLS
    }
  }
  if (step.error) throw new Fatal(step.error);
  if (s.phase === 'connected' && (s.pending.length > 0 || s.endPending)) {
    flushOutgoing(cx);
    flushPendingWrites(cx);
  }
}

/** Keep the newest application read epochs and the handshake epoch (retransmitted flights), at most {@link MAX_READ_EPOCHS}. */
function pruneReads(reads: readonly ReadEpoch[]): ReadEpoch[] {
  const sorted = [...reads].sort((a, b) => a.epoch - b.epoch);
  while (sorted.length > MAX_READ_EPOCHS) {
    const i = sorted.findIndex((r) => r.epoch !== 2);
    sorted.splice(i, 1);
  }
  return sorted;
}

/** Send the messages the engine produced as a flight (or add them to an outstanding post-handshake flight). */
function flushOutgoing(cx: Cx): void {
  const s = cx.s;
  if (cx.outgoing.length === 0) return;
  const messages = cx.outgoing.map((m) =>
    m.ccs ? { epoch: m.epoch, msgSeq: -1, msgType: m.msgType, body: m.body, ccs: true } : { epoch: m.epoch, msgSeq: s.sendMsgSeq++, msgType: m.msgType, body: m.body },
  );
  cx.outgoing = [];
  const ku = messages.find((m) => m.msgType === HandshakeType.key_update);
  if (ku && s.pendingKeyUpdate && s.pendingKeyUpdate.msgSeq < 0) s.pendingKeyUpdate = { ...s.pendingKeyUpdate, msgSeq: ku.msgSeq };
  const post = cx.postHandshake || (!isDtls12(s) && messages.every((m) => m.msgType === HandshakeType.new_session_ticket || m.msgType === HandshakeType.key_update));
  if (s.flight && post && !s.flight.implicitAck) {
    s.flight = extendFlight(s.flight, messages, false);
  } else {
    if (s.flight) endFlight(s);
    s.flight = newFlight(messages, !post);
  }
  if (s.flight.implicitAck) cx.sentHandshakeFlight = true;
  transmitFlight(cx, false);
}

/** Send what is unacknowledged of the flight and arm the retransmission timer. */
function transmitFlight(cx: Cx, retransmission: boolean): void {
  const s = cx.s;
  if (!s.flight) return;
  const seal = (epoch: number, type: number, content: Uint8Array) => sealAt(cx, epoch, type, content);
  const overhead = (epoch: number): number => (epoch === 0 ? PLAINTEXT_HEADER_LENGTH : isDtls12(s) ? RECORD12_OVERHEAD : CIPHERTEXT_OVERHEAD);
  const packed = packFlight(s.flight, s.config.mtu, overhead, seal, ContentType.handshake);
  s.flight = packed.flight;
  for (const d of packed.datagrams) transmit(cx, d);
  if (retransmission) s.stats = { ...s.stats, retransmissions: s.stats.retransmissions + 1 };
  // A stateless HelloRetryRequest is not retransmitted: the client's retransmitted ClientHello asks again (§5.1).
  if (!isHandshakeCommitted(s.hs)) delete s.flight;
  else if (!(isDtls12(s) && s.phase === 'connected')) s.retransmitAt = cx.now + s.rto; // DTLS 1.2 final flight: no timer
}

function transmit(cx: Cx, datagram: Uint8Array): void {
  cx.s.stats = { ...cx.s.stats, datagramsOut: cx.s.stats.datagramsOut + 1 };
  cx.effects.push({ type: 'transmit', data: datagram });
}

/** Seal one record at `epoch` (0: DTLSPlaintext), advancing that epoch's sequence number. */
function sealAt(cx: Cx, epoch: number, type: number, content: Uint8Array): { bytes: Uint8Array; seq: number } {
  const s = cx.s;
  if (epoch === 0) {
    const seq = s.plainSeq++;
    const w = new Writer(PLAINTEXT_HEADER_LENGTH + content.length);
    encodeDtlsPlaintext(w, { type, epoch: 0, sequenceNumber: seq, fragment: content });
    return { bytes: w.finish(), seq };
  }
  if (s.write12 && s.write12.epoch === epoch) {
    // DTLS 1.2 cannot rekey here (no renegotiation): at the end of the record numbers it closes (RFC 6347 §4.1).
    if (s.write12.seq >= MAX_RECORD_SEQUENCE && type !== ContentType.alert) {
      throw new Fatal(fail.internal(`epoch ${epoch} has used every record number`));
    }
    const sealed12 = seal12(s.write12, type, content);
    s.write12 = sealed12.epoch;
    return { bytes: sealed12.bytes, seq: sealed12.seq };
  }
  const we = s.writes.find((w) => w.epoch === epoch);
  if (!we) throw new Error(`no write keys for epoch ${epoch}`);
  // Our KeyUpdate went unacknowledged until the epoch's limit: close (RFC 9147 §4.2.1, §4.5.3), keeping the last
  // record number for the alert that says so.
  if (we.seq >= writeLimit(we.alg) && type !== ContentType.alert) {
    throw new Fatal(fail.internal(`epoch ${epoch} reached the limit of records under one key, and our KeyUpdate was not acknowledged`));
  }
  const sealed = sealDtlsRecord(s.config.provider, we, type, content);
  s.writes = s.writes.map((w) => (w.epoch === epoch ? sealed.epoch : w));
  return { bytes: sealed.bytes, seq: sealed.seq };
}

/**
 * DTLS 1.3 records under one write epoch before we close rather than write more (our KeyUpdate, sent at
 * `keyUpdateAfter`, went unacknowledged): AES-GCM's confidentiality limit, 2^24.5 records (RFC 9147 §4.5.3, RFC 8446
 * §5.5), and for ChaCha20-Poly1305 the record numbers, the last one kept for the closing alert (§4.2.1: no wrap).
 */
const writeLimit = (alg: AeadAlg): number => (alg === 'chacha20-poly1305' ? MAX_RECORD_SEQUENCE : Math.floor(2 ** 24.5) - 1);

/** Default of `keyUpdateAfter`: 2^24 records, as TLS's (below every DTLS 1.3 suite's limit). */
export const DTLS_KEY_UPDATE_AFTER = 2 ** 24;

/**
 * After application data: the write epoch has carried `keyUpdateAfter` records, so send a KeyUpdate on our own
 * (RFC 9147 §4.5.3: "SHOULD initiate a key update before reaching this limit"), unless one is already on its way.
 */
function maybeKeyUpdate(cx: Cx): void {
  const s = cx.s;
  if (isDtls12(s) || s.phase !== 'connected' || s.closeSent || s.pendingKeyUpdate) return;
  const we = s.writes.find((w) => w.epoch === s.writeEpoch);
  if (!we || we.seq < s.config.keyUpdateAfter) return;
  queueKeyUpdate(cx, false);
  flushOutgoing(cx);
}

/** Send one record alone in a datagram at the current write epoch. */
function sendRecord(cx: Cx, type: number, content: Uint8Array): void {
  transmit(cx, sealAt(cx, cx.s.writeEpoch, type, content).bytes);
}

function sendAck(cx: Cx): void {
  const s = cx.s;
  const list = [...s.toAck].sort((a, b) => a.epoch - b.epoch || a.seq - b.seq).slice(-MAX_ACK_RECORD_NUMBERS);
  s.toAck = [];
  delete s.ackAt;
  // ACKs exist in DTLS 1.3 only, and only once DTLS 1.3 keys are in use: before the version is known (a first
  // flight answered by a HelloVerifyRequest or a HelloRetryRequest) the peer may be a DTLS 1.2 stack, which
  // answers an ACK record with unexpected_message (OpenSSL does); our next flight acknowledges it anyway.
  if (s.writeEpoch < 2 || isDtls12(s)) return;
  const w = new Writer(2 + 16 * list.length);
  encodeAck(w, list.map((r) => ({ epoch: BigInt(r.epoch), sequenceNumber: BigInt(r.seq) })));
  // ACKs go under the highest epoch we can send (RFC 9147 §7: at least the acknowledged records' epoch).
  sendRecord(cx, DtlsContentType.ack, w.finish());
  s.stats = { ...s.stats, acksSent: s.stats.acksSent + 1 };
}

// ---------------------------------------------------------------------------------------------------------------
// Timers

function onTimeout(cx: Cx): void {
  const s = cx.s;
  const now = cx.now;
  if (s.handshakeDeadline !== undefined && now >= s.handshakeDeadline) {
    const afterMs = s.config.handshakeTimeout;
    finish(cx, new TlsError({ kind: 'handshakeTimeout', afterMs, reason: `DTLS handshake did not complete within ${afterMs} ms` }));
    return;
  }
  if (s.closeDeadline !== undefined && now >= s.closeDeadline) {
    finish(cx);
    return;
  }
  if (s.retransmitAt !== undefined && now >= s.retransmitAt) {
    s.rto = Math.min(s.rto * 2, s.config.retransmitMax); // back off (RFC 9147 §5.8.2)
    transmitFlight(cx, true);
  }
  if (s.ackAt !== undefined && now >= s.ackAt) {
    if (s.toAck.length > 0 && !isDtls12(s)) sendAck(cx);
    else delete s.ackAt;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Application inputs

function onWrite(cx: Cx, data: Uint8Array): void {
  const s = cx.s;
  if (!(data instanceof Uint8Array)) throw misuse(`write data must be a Uint8Array, got ${shown(data)}`);
  if (isDetached(data)) throw misuse('write data: its buffer was detached (transferred away)');
  if (s.phase === 'idle') throw misuse('write before start');
  if (s.closeSent || s.endPending) throw misuse('write after the output ended (close_notify)');
  const max = maxDtlsWrite(s);
  if (data.length > max) throw misuse(`a DTLS write of ${data.length} B does not fit one record in the ${s.config.mtu}-byte MTU (at most ${max} B)`);
  bytesArg('write data', data); // a length that is not the byte length (a lying subclass)
  if (s.phase !== 'connected') {
    if (s.pendingBytes + data.length > s.config.maxPendingWrites) {
      throw misuse(`more than maxPendingWrites (${s.config.maxPendingWrites} B) written before the handshake completed`);
    }
    s.pending = [...s.pending, data.slice()];
    s.pendingBytes += data.length;
    return;
  }
  sendRecord(cx, ContentType.application_data, data);
  maybeKeyUpdate(cx);
}

function flushPendingWrites(cx: Cx): void {
  const s = cx.s;
  const pending = s.pending;
  s.pending = [];
  s.pendingBytes = 0;
  for (const d of pending) sendRecord(cx, ContentType.application_data, d);
  if (s.endPending) {
    s.endPending = false;
    sendCloseNotify(cx);
  }
}

function onEnd(cx: Cx): void {
  const s = cx.s;
  if (s.closeSent || s.endPending) return;
  if (s.phase !== 'connected') {
    s.endPending = true;
    return;
  }
  sendCloseNotify(cx);
}

function sendCloseNotify(cx: Cx): void {
  const s = cx.s;
  if (s.closeSent) return;
  s.closeSent = true;
  if (s.writeEpoch === 0 && s.phase !== 'connected') return;
  sendRecord(cx, ContentType.alert, Uint8Array.of(AlertLevel.warning, AlertDescription.close_notify));
  cx.effects.push({ type: 'alertSent', level: AlertLevel.warning, description: AlertDescription.close_notify });
  if (s.closeReceived) finish(cx);
}

function onKeyUpdate(cx: Cx, requestPeer: boolean): void {
  const s = cx.s;
  if (s.phase !== 'connected') throw misuse('KeyUpdate needs a completed handshake');
  if (s.closeSent) throw misuse('KeyUpdate after close_notify');
  if (s.pendingKeyUpdate) throw misuse('a KeyUpdate is still waiting for its ACK (RFC 9147 §8)');
  queueKeyUpdate(cx, requestPeer);
  flushOutgoing(cx);
}

function queueKeyUpdate(cx: Cx, requestPeer: boolean): void {
  cx.postHandshake = true;
  applyHs(cx, updateTrafficKeys(cx.s.hs, requestPeer, cx.now));
}

/** Our KeyUpdate was acknowledged: move new records to the next epoch (RFC 9147 §8). */
function maybeCommitKeyUpdate(cx: Cx): void {
  const s = cx.s;
  const ku = s.pendingKeyUpdate;
  if (!ku || !s.flight || !messageAcked(s.flight, ku.msgSeq) || !s.suite) return;
  const keys = epochKeys(s.config.provider, s.suite, ku.epoch, ku.secret, s.config.dtlsDraft43);
  const keep = new Set(s.flight.messages.filter((m) => !m.done).map((m) => m.epoch));
  s.writes = [...s.writes.filter((w) => keep.has(w.epoch)), writeEpoch(keys)];
  s.writeEpoch = ku.epoch;
  delete s.pendingKeyUpdate;
}

function onClose(cx: Cx, mode: DtlsCloseMode): void {
  const s = cx.s;
  switch (mode) {
    case 'abort':
    case 'quiet':
      return finish(cx);
    case 'fatal':
      // Under the keys the peer reads now (as failConnection): a cut connection, not a clean end.
      if (s.writeEpoch > 0 || s.phase === 'connected') {
        sendRecord(cx, ContentType.alert, Uint8Array.of(AlertLevel.fatal, AlertDescription.internal_error));
        cx.effects.push({ type: 'alertSent', level: AlertLevel.fatal, description: AlertDescription.internal_error });
      }
      return finish(cx);
    case 'unidirectional':
      if (s.phase === 'connected') sendCloseNotify(cx);
      return finish(cx);
    case 'shutdown':
      if (s.phase !== 'connected') return finish(cx);
      s.closeWhenReceived = true;
      sendCloseNotify(cx);
      if ((s.phase as DtlsState['phase']) !== 'closed') s.closeDeadline = cx.now + s.config.shutdownTimeout;
      return;
    default:
      throw misuse(`unknown close mode ${String(mode)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Ending

/** A fatal error: send its alert (under the keys the peer can read), then close. */
function failConnection(cx: Cx, detail: TlsErrorDetail): void {
  const alert = alertFor(detail);
  if (alert !== undefined) {
    sendRecord(cx, ContentType.alert, Uint8Array.of(AlertLevel.fatal, alert));
    cx.effects.push({ type: 'alertSent', level: AlertLevel.fatal, description: alert });
    cx.s.fatalAlert = { description: alert, epoch: cx.s.writeEpoch, repeats: 0 };
  }
  finish(cx, new TlsError(detail));
}

function finish(cx: Cx, error?: TlsError): void {
  const s = cx.s;
  if (s.phase === 'closed') return;
  s.phase = 'closed';
  delete s.flight;
  delete s.retransmitAt;
  delete s.ackAt;
  delete s.handshakeDeadline;
  delete s.closeDeadline;
  s.pending = [];
  s.pendingBytes = 0;
  s.toAck = [];
  cx.effects.push(error ? { type: 'closed', error } : { type: 'closed' });
}
