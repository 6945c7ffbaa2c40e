/**
 * A TLS connection (TLS 1.3, or TLS 1.2 when negotiated) as a pure reducer (sans-IO): `handleEvents(state, input) → { state, effects }`.
 *
 * The state is an immutable value: every call returns a new one and leaves its argument untouched, so a state
 * can be replayed, compared or logged. Peer faults never throw: they become a closed state, the alert to send
 * (RFC 8446 §6) and a `closed` effect carrying a {@link TlsError}. API misuse (writing after close, starting
 * twice, feeding datagrams to a stream connection) throws a `TlsError` of kind `apiMisuse` at once.
 *
 * @example
 * ```ts
 * let client = createConnection({ role: 'client', serverName: 'localhost', verifier });
 * let step = handleEvents(client, { type: 'start', now: Date.now() });
 * // step.effects: [{ type: 'transmit', data: <ClientHello record> }]
 * ```
 */
import { protocolVersionName } from '../wire/tls/versionName.js';
import { DecodeError } from '../wire/reader.js';
import { AlertDescription, AlertLevel, ContentType, MAX_PLAINTEXT, ProtocolVersion } from '../wire/tls/constants.js';
import { decodeAlert } from '../wire/tls/alert.js';
import { concatBytes } from '../wire/bytes.js';
import { ProtocolAbort, TlsError, abort, assertNever, fail, misuse, type TlsErrorDetail } from '../core/errors.js';
import { booleanOption, bytesArg, checkInput, integerIn, numberIn, shown } from '../core/validate.js';
import type { HandshakeInfo, Step } from '../core/types.js';
import { TlsCloseMode, type TlsEffect, type TlsInput } from '../tls/types.js';
import { nobleProvider } from '../crypto/noble.js';
import { recordNonce } from '../crypto/keySchedule.js';
import { Epoch, type HsEvent } from '../handshake/events.js';
import {
  type HsStep,
  changeCipherSpec,
  createHandshake,
  handshakeData,
  mayBeTls13,
  negotiatedVersion,
  peerHasSpoken,
  startHandshake,
  updateTrafficKeys,
} from '../handshake/engine.js';
import { DEFAULT_HANDSHAKE_TIMEOUT } from '../handshake/config.js';
import type { TlsConfig } from './config.js';
import {
  RECORD_HEADER,
  TAG_LENGTH,
  type OutPart,
  advanceKey,
  assembleFlight,
  completeRecordAt,
  flightParts,
  type FrameResult,
  frameRecord,
  notTls,
  openJob12,
  openRecord,
  openRecord12,
  plainRecord,
  recordKey,
  recordKey12,
} from './record.js';
import { type Conn, type Cx, type PartialRecord, type Resolved, TlsTimer, copyConn, deliver, fatal, finishDelivery, sendAlert, setTxKey, writeRecord } from './state.js';
import { onSealDone, writeApplicationData } from './output.js';

/** The state of one TLS connection. Opaque: read it through the query functions of this module. */
export type TlsState = Readonly<Conn> & { readonly __brand?: 'TlsState' };

/**
 * Records protected under one key before an automatic KeyUpdate: 2^24, below the AES-GCM confidentiality
 * limit of 2^24.5 full-size records (RFC 8446 §5.5); applied to every suite.
 */
export const AEAD_RECORD_LIMIT = 1 << 24;

/** TLS 1.2 warning alerts (other than close_notify) tolerated over a connection's life. */
export const MAX_WARNING_ALERTS = 16;

/**
 * Create a connection from its configuration. Throws `apiMisuse` for an unusable configuration (a server
 * without certificate and key, a client without a verifier), naming the option: every number must be finite and
 * in its range (an integer where it counts records, bytes or pipelines), every flag a boolean.
 */
export function createConnection(config: TlsConfig): TlsState {
  const maxSendFragment = integerIn('maxSendFragment', config.maxSendFragment ?? MAX_PLAINTEXT, 512, MAX_PLAINTEXT);
  const handshakeTimeout = numberIn('handshakeTimeout', config.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT, 1, Number.MAX_SAFE_INTEGER);
  // A split above maxSendFragment is capped by it; a fractional one cuts whole bytes.
  const split = numberIn('splitSendFragment', config.splitSendFragment ?? maxSendFragment, 1, Number.MAX_SAFE_INTEGER);
  const hs = createHandshake(config, 'tls');
  const resolved: Resolved = {
    role: config.role,
    provider: config.provider ?? nobleProvider,
    handshakeTimeout,
    maxSendFragment,
    ignoreUnexpectedEof: booleanOption('ignoreUnexpectedEof', config.ignoreUnexpectedEof, false),
    splitSendFragment: Math.min(Math.floor(split), maxSendFragment),
    maxPipelines: integerIn('maxPipelines', config.maxPipelines ?? 32, 1, 1024),
    asyncCrypto: booleanOption('asyncCrypto', config.asyncCrypto, false),
    keyUpdateAfter: integerIn('keyUpdateAfter', config.keyUpdateAfter ?? AEAD_RECORD_LIMIT, 1, Number.MAX_SAFE_INTEGER),
    transmitParts: booleanOption('transmitParts', config.transmitParts, false),
  };
  if (resolved.asyncCrypto && !resolved.provider.batch) throw misuse('asyncCrypto needs a provider with a batch cipher');
  return {
    config: resolved,
    hs,
    phase: 'idle',
    rxBuf: new Uint8Array(0),
    rxWaiting: [],
    rxEpoch: Epoch.initial,
    sentRecord: false,
    ccsReceived: false,
    timers: {},
    shutdown: { sent: false, received: false },
    pendingWrites: [],
    endPending: false,
    early: { writing: false, budget: 0, sent: [], readBudget: 0, skip: 0 },
    peerRecordLimit: MAX_PLAINTEXT,
    txQueue: [],
    nextJobId: 1,
    // Every optional field present from the start: every state then has one shape, which keeps the copy each
    // step makes (and every read of a field) on V8's fast path.
    rxPartial: undefined,
    rxKey: undefined,
    txKey: undefined,
    info: undefined,
    eofPending: undefined,
    eofWithoutCloseNotify: undefined,
    warnings: undefined,
    keyUpdateAnswered: undefined,
    ourRecordLimit: undefined,
    txInFlight: undefined,
    rxInFlight: undefined,
  };
}

const TIMERS = Object.values(TlsTimer);

/** The next deadline (ms) at which a `timeout` input is due, or `undefined` for none. */
export function nextTimeout(state: TlsState): number | undefined {
  let next: number | undefined;
  for (const t of TIMERS) {
    const at = state.timers[t];
    if (at !== undefined && (next === undefined || at < next)) next = at;
  }
  return next;
}

/** Whether close_notify was sent and received (`SSL_get_shutdown`). */
export function shutdownState(state: TlsState): {
  readonly sent: boolean;
  readonly received: boolean;
  /** The input ended by an ignored EOF (`ignoreUnexpectedEof`), not by the peer's close_notify. */
  readonly eofWithoutCloseNotify: boolean;
} {
  return { ...state.shutdown, eofWithoutCloseNotify: !!state.eofWithoutCloseNotify };
}

/**
 * Application bytes taken by `write` and not sealed yet — with `asyncCrypto` they wait behind the seal batch in
 * flight — and whether that backlog is full: one batch's worth (`maxPipelines` × `splitSendFragment`) or more.
 * Adapters stop pulling from the application while it is full, as they do while the transport is not writable,
 * so a fast producer never makes the connection queue more than about one batch.
 */
export function writeBacklog(state: TlsState): { readonly bytes: number; readonly full: boolean } {
  let bytes = 0;
  for (const item of state.txQueue) if (item.kind === 'data') bytes += item.data.length;
  for (const w of state.pendingWrites) bytes += w.length;
  return { bytes, full: bytes >= state.config.maxPipelines * state.config.splitSendFragment };
}

/** What was negotiated, once the handshake completed. */
export function handshakeInfo(state: TlsState): HandshakeInfo | undefined {
  return state.info;
}

/** True once the handshake completed (and until the connection closes). */
export function isConnected(state: TlsState): boolean {
  return state.phase === 'connected';
}

/** True once the connection is over (cleanly or not). */
export function isClosed(state: TlsState): boolean {
  return state.phase === 'closed';
}

/**
 * Reduce one input. Never mutates `state`; never throws for anything the peer sends.
 * @throws TlsError of kind `apiMisuse` for calls that make no sense in the current state, and for inputs that are
 *   malformed: not an object, a `now` that is not a finite number (a `timeout` at NaN changes nothing), `data`
 *   that is not a `Uint8Array` (or whose length is not its byte length), an unknown close mode. Nothing is sent.
 */
export function handleEvents(state: TlsState, input: TlsInput): Step<TlsState, TlsEffect> {
  if (!checkInput(input)) return { state, effects: [] };
  const s: Conn = copyConn(state);
  const cx: Cx = { s, now: input.now, effects: [], out: [], delivery: undefined, ownedContent: false };
  if (s.phase === 'closed') {
    if (input.type === 'write' || input.type === 'keyUpdate') throw misuse(`cannot ${input.type}: the connection is closed`);
    return { state, effects: [] };
  }
  try {
    dispatch(cx, input);
  } catch (e) {
    if (e instanceof ProtocolAbort) fatal(cx, e.detail);
    else if (e instanceof DecodeError) fatal(cx, fail.decode(e.message, e.alert));
    else if (e instanceof TlsError && e.kind === 'apiMisuse') throw e;
    else fatal(cx, fail.internal(`internal error: ${e instanceof Error ? e.message : String(e)}`));
  }
  finishDelivery(cx);
  if ((s.phase as string) !== 'closed') {
    // Both close_notify alerts exchanged and nothing left to write: the connection is over (SSL_shutdown → 1).
    if (s.shutdown.sent && s.shutdown.received && !s.txInFlight && !s.txQueue.length) closeQuietly(cx);
  }
  const effects: TlsEffect[] = cx.out.length ? [transmission(s, cx.out), ...cx.effects] : cx.effects;
  return { state: s, effects: withFactEffects(state, s, effects) };
}

/** The step's wire bytes: one joined `transmit`, or the parts of `flightParts` (`transmitParts`). */
function transmission(s: Conn, out: readonly OutPart[]): TlsEffect {
  return s.config.transmitParts ? { type: 'transmitParts', parts: flightParts(out) } : { type: 'transmit', data: assembleFlight(out) };
}

/**
 * The facts an adapter acts on, as effects, for what changed between the state before and after one step:
 * `shutdown` when `shutdownState` changed, `backlog` when `writeBacklog(…).full` changed. They go after the
 * step's other effects and before its `closed`, so an adapter never needs a copy of the state to ask.
 */
function withFactEffects(before: TlsState, after: TlsState, effects: TlsEffect[]): TlsEffect[] {
  const facts: TlsEffect[] = [];
  const [sh0, sh1] = [before.shutdown, after.shutdown];
  if (sh0.sent !== sh1.sent || sh0.received !== sh1.received || !!before.eofWithoutCloseNotify !== !!after.eofWithoutCloseNotify) {
    facts.push({ type: 'shutdown', ...shutdownState(after) });
  }
  // The backlog is computed from the two queues, which are replaced whenever they change: the same arrays, the
  // same backlog (the common step, a write sealed at once, leaves both as they were).
  if (before.txQueue !== after.txQueue || before.pendingWrites !== after.pendingWrites) {
    const [bl0, bl1] = [writeBacklog(before), writeBacklog(after)];
    if (bl0.full !== bl1.full) facts.push({ type: 'backlog', ...bl1 });
  }
  if (!facts.length) return effects;
  const last = effects[effects.length - 1];
  return last?.type === 'closed' ? [...effects.slice(0, -1), ...facts, last] : [...effects, ...facts];
}

function dispatch(cx: Cx, input: TlsInput): void {
  const s = cx.s;
  switch (input.type) {
    case 'start':
      if (s.phase !== 'idle') throw misuse('connection already started');
      s.phase = 'handshaking';
      s.timers = { ...s.timers, [TlsTimer.handshake]: input.now + s.config.handshakeTimeout };
      return applyHandshake(cx, startHandshake(s.hs, input.now));
    case 'received':
      if (s.phase === 'idle') throw misuse('received bytes before start');
      return onBytes(cx, bytesArg('received data', input.data));
    case 'eof':
      return onEof(cx);
    case 'timeout': {
      const at = s.timers[TlsTimer.handshake];
      if (at !== undefined && input.now >= at && s.phase !== 'connected') {
        const detail: TlsErrorDetail = {
          kind: 'handshakeTimeout',
          afterMs: s.config.handshakeTimeout,
          reason: `handshake did not complete within ${s.config.handshakeTimeout} ms`,
        };
        fatal(cx, detail);
      }
      return;
    }
    case 'writable':
      return;
    case 'write':
      bytesArg('write data', input.data);
      if (s.shutdown.sent || s.endPending) throw misuse('cannot write after the output was ended (close_notify)');
      if (s.phase === 'connected') {
        // RFC 8446 §5.5: change keys before the AEAD usage limit (TLS 1.2 has no KeyUpdate: its GCM nonces are
        // 64-bit sequence numbers).
        if (s.txKey && !s.txKey.tls12 && s.txKey.used >= s.config.keyUpdateAfter) applyHandshake(cx, updateTrafficKeys(s.hs, false, cx.now));
        writeApplicationData(cx, input.data);
      } else if (s.early.writing && s.pendingWrites.length === 0 && input.data.length <= s.early.budget) {
        // 0-RTT: under the early traffic key, within the ticket's max_early_data_size.
        writeApplicationData(cx, input.data);
        s.early = { ...s.early, sent: [...s.early.sent, input.data], budget: s.early.budget - input.data.length };
      } else s.pendingWrites = [...s.pendingWrites, input.data];
      return;
    case 'end':
      if (s.shutdown.sent) return;
      if (s.phase !== 'connected') {
        s.endPending = true;
        return;
      }
      return sendCloseNotify(cx);
    case 'close':
      if (!CLOSE_MODES.has(input.mode)) throw misuse(`unknown close mode ${shown(input.mode)}`);
      return onClose(cx, input.mode);
    case 'keyUpdate':
      if (s.phase !== 'connected') throw misuse('KeyUpdate needs a completed handshake');
      if (s.shutdown.sent) throw misuse('cannot update keys after close_notify');
      return applyHandshake(cx, updateTrafficKeys(s.hs, input.requestPeer, cx.now));
    case 'cryptoDone':
      if (s.txInFlight?.jobId === input.jobId) return onSealDone(cx, input.results);
      if (s.rxInFlight?.jobId === input.jobId) return onOpenDone(cx, input.results);
      throw misuse(`no crypto job ${input.jobId} in flight`);
    default: {
      // A JavaScript caller may pass anything: an unknown input is API misuse, not a peer fault.
      const unknown: never = input;
      throw misuse(`unknown input type ${(unknown as { type?: unknown }).type}`);
    }
  }
}

/** Take the engine's new state and act on its events in order; a handshake failure aborts the input. */
function applyHandshake(cx: Cx, step: HsStep): void {
  cx.s.hs = step.state;
  for (const m of step.trace ?? []) cx.effects.push({ type: 'handshakeMessage', dir: m.dir, msgType: m.type, length: m.length });
  for (const ev of step.events) onHandshakeEvent(cx, ev);
  if (step.error) throw new ProtocolAbort(step.error);
}

function onHandshakeEvent(cx: Cx, ev: HsEvent): void {
  const s = cx.s;
  switch (ev.type) {
    case 'send': {
      // Handshake messages may be fragmented across records (RFC 8446 §5.1); never coalesced with other types.
      const max = s.txKey ? Math.min(MAX_PLAINTEXT, s.peerRecordLimit) : MAX_PLAINTEXT;
      for (let o = 0; o < ev.data.length; o += max) {
        const version = !s.sentRecord && s.config.role === 'client' ? 0x0301 : 0x0303;
        s.sentRecord = true;
        writeRecord(cx, ContentType.handshake, ev.data.subarray(o, Math.min(ev.data.length, o + max)), version);
      }
      return;
    }
    case 'keyChange': {
      const key = ev.secret ? recordKey(s.config.provider, ev.suite, ev.secret) : undefined;
      if (ev.direction === 'read') {
        s.rxKey = key;
        s.rxEpoch = ev.epoch;
        if (ev.epoch === Epoch.early) s.early = { ...s.early, readBudget: ev.maxEarlyData ?? 0 };
        return;
      }
      setTxKey(cx, key);
      s.early =
        ev.epoch === Epoch.early
          ? { ...s.early, writing: true, budget: ev.maxEarlyData ?? 0 }
          : { ...s.early, writing: false };
      return;
    }
    case 'compatCcs':
      // RFC 8446 §D.4: a plaintext change_cipher_spec, never protected.
      cx.out.push(plainRecord(ContentType.change_cipher_spec, Uint8Array.of(1)));
      return;
    case 'changeCipherSpec':
      // TLS 1.2 (RFC 5246 §7.1): under the current write keys (none in an initial handshake); the write key
      // change follows as the next event.
      writeRecord(cx, ContentType.change_cipher_spec, Uint8Array.of(1));
      return;
    case 'tls12KeyChange': {
      const key = recordKey12(s.config.provider, ev.suite, ev.key, ev.iv);
      if (ev.direction === 'read') {
        s.rxKey = key;
        s.rxEpoch = ev.epoch;
      } else {
        setTxKey(cx, key);
      }
      return;
    }
    case 'noRenegotiation':
      // RFC 5746 §4.2, §4.4: a warning, and the connection goes on; nothing can be sent after close_notify.
      if (!s.shutdown.sent) sendAlert(cx, AlertLevel.warning, AlertDescription.no_renegotiation);
      return;
    case 'flightEnd':
    case 'transportParameters':
      // A stream needs no flight timer; transport parameters are QUIC's (the engine runs as variant 'tls').
      return;
    case 'recordSizeLimit':
      s.peerRecordLimit = ev.peer;
      s.ourRecordLimit = ev.ours;
      return;
    case 'complete':
      return onHandshakeComplete(cx, ev.info);
    case 'earlyData':
      if (ev.accepted) cx.effects.push({ type: 'earlyData', accepted: true });
      else {
        const rejected = concatBytes(s.early.sent.length ? s.early.sent : [new Uint8Array(0)]);
        cx.effects.push({ type: 'earlyData', accepted: false, rejected });
      }
      s.early = { ...s.early, sent: [] };
      return;
    case 'skipEarlyData':
      s.early = { ...s.early, skip: ev.bytes };
      return;
    case 'keyUpdateRequested':
      // RFC 8446 §4.6.3: answer with our own KeyUpdate before our next application data, unless our write side is
      // already closed; requests that arrive while we are silent get a single answer (the one already sent).
      if (!s.shutdown.sent && !s.keyUpdateAnswered) {
        applyHandshake(cx, updateTrafficKeys(s.hs, false, cx.now));
        s.keyUpdateAnswered = true;
      }
      return;
    case 'session':
      cx.effects.push({ type: 'session', session: ev.session });
      return;
    case 'keyLog':
      cx.effects.push(ev);
      return;
    default:
      return assertNever(ev);
  }
}

/** The handshake completed: report it, stop the timer, release data written meanwhile. */
function onHandshakeComplete(cx: Cx, info: HandshakeInfo): void {
  const s = cx.s;
  s.phase = 'connected';
  s.info = info;
  const { [TlsTimer.handshake]: _done, ...rest } = s.timers;
  s.timers = rest;
  s.early = { ...s.early, skip: 0, writing: false };
  cx.effects.push({ type: 'handshakeComplete', info });
  const pending = s.pendingWrites;
  s.pendingWrites = [];
  for (const data of pending) writeApplicationData(cx, data);
  if (s.endPending) {
    s.endPending = false;
    sendCloseNotify(cx);
  }
}

/**
 * A change_cipher_spec may be dropped between the first ClientHello and the peer's Finished (RFC 8446 §5), by an
 * endpoint that may negotiate TLS 1.3: to a TLS 1.2-only client one before the ServerHello is unexpected_message
 * (RFC 5246 §7.1).
 */
function ccsAllowed(s: Conn): boolean {
  return s.phase === 'handshaking' && mayBeTls13(s.hs) && (s.config.role === 'client' || peerHasSpoken(s.hs));
}

/** The close modes {@link onClose} knows; any other is API misuse, refused before anything changes. */
const CLOSE_MODES: ReadonlySet<unknown> = new Set(Object.values(TlsCloseMode));

function onClose(cx: Cx, mode: TlsCloseMode): void {
  const s = cx.s;
  switch (mode) {
    case 'abort':
      closeQuietly(cx);
      return;
    case 'quiet':
      // SSL_CTX_set_quiet_shutdown: nothing on the wire, both directions reported shut down.
      s.shutdown.sent = true;
      s.shutdown.received = true;
      closeQuietly(cx);
      return;
    case 'unidirectional':
      if (s.phase === 'connected' && !s.shutdown.sent) sendCloseNotify(cx, false);
      closeQuietly(cx);
      return;
    case 'shutdown':
      if (s.phase !== 'connected') return closeQuietly(cx);
      if (!s.shutdown.sent) sendCloseNotify(cx);
      return;
    default:
      return assertNever(mode);
  }
}

/** Terminal state without an error and without anything more on the wire. */
function closeQuietly(cx: Cx): void {
  const s = cx.s;
  s.phase = 'closed';
  s.timers = {};
  s.pendingWrites = [];
  cx.effects.push({ type: 'closed' });
}

/** Send close_notify (RFC 8446 §6.1): our write direction is done; close when the peer's has arrived. */
function sendCloseNotify(cx: Cx, finish = true): void {
  const s = cx.s;
  sendAlert(cx, AlertLevel.warning, AlertDescription.close_notify);
  s.shutdown.sent = true;
  void finish;
}

function onEof(cx: Cx): void {
  const s = cx.s;
  if (s.rxInFlight) {
    // Records received before the EOF are still being opened (one may be the close_notify): decide after.
    s.eofPending = true;
    return;
  }
  if (s.shutdown.received) {
    // The peer closed its write side after close_notify: nothing more can arrive.
    return;
  }
  if (s.phase !== 'connected') {
    return fatal(cx, { kind: 'unexpectedEof', reason: 'transport closed during the handshake' });
  }
  if (s.config.ignoreUnexpectedEof) {
    // Treated as the end of input, but remembered: no close_notify came, so the session is not resumable.
    s.eofWithoutCloseNotify = true;
    s.shutdown.received = true;
    cx.effects.push({ type: 'peerClosed' });
    return;
  }
  fatal(cx, { kind: 'unexpectedEof', reason: 'transport closed without close_notify (possible truncation attack)' });
}

function onBytes(cx: Cx, data: Uint8Array): void {
  const s = cx.s;
  if (s.rxInFlight) {
    // An open batch is in flight: keep the chunks as they are (no copying) until it completes.
    if (data.length) s.rxWaiting = [...s.rxWaiting, data];
    return;
  }
  if (!s.rxBuf.length && !s.rxWaiting.length && !(s.config.asyncCrypto && s.phase === 'connected')) return onChunk(cx, data);
  // Everything not framed yet, in order: a partial header kept from before, chunks that waited behind an open
  // batch, this chunk. Records are framed where they lie; a record split across chunks is assembled in a
  // buffer of its own size (each of its bytes copied once).
  let chunks = [s.rxBuf, ...s.rxWaiting, data].filter((c) => c.length > 0);
  s.rxBuf = EMPTY_BYTES;
  s.rxWaiting = [];
  let at: Cursor = { i: 0, off: 0 };
  if (s.rxPartial) {
    const p = fillPartial(s.rxPartial, chunks, at);
    if (p.filled < p.buf.length) {
      s.rxPartial = p; // every byte that came went into it
      return;
    }
    s.rxPartial = undefined;
    chunks = [p.buf, ...restOf(chunks, at)];
    at = { i: 0, off: 0 };
  }
  while ((s.phase as string) !== 'closed' && !s.rxInFlight) {
    if (s.config.asyncCrypto && s.phase === 'connected' && startOpenBatch(cx, chunks, at)) continue;
    const next = nextRecord(chunks, at);
    if (next.kind === 'incomplete') break;
    if (next.kind === 'overflow' || next.kind === 'badHeader') rejectHeader(next);
    advance(chunks, at, next.bytes.length);
    onRecord(cx, next.bytes[0]!, next.bytes.subarray(0, RECORD_HEADER), next.bytes.subarray(RECORD_HEADER));
  }
  if ((s.phase as string) === 'closed') return;
  const rest = restOf(chunks, at);
  // Behind an open batch the rest waits as it is; otherwise it is the start of one record, copied (into a
  // buffer of the record's size once its header is known) so the input chunks can be released.
  if (s.rxInFlight) s.rxWaiting = rest;
  else keepPartial(s, rest);
}

const EMPTY_BYTES = new Uint8Array(0);

/**
 * {@link onBytes} for the common case, one chunk and nothing kept from before but (perhaps) a split record:
 * complete that record, then frame the chunk's records in place, with no list of chunks or cursor across them.
 */
function onChunk(cx: Cx, data: Uint8Array): void {
  const s = cx.s;
  let off = 0;
  if (s.rxPartial) {
    const at: Cursor = { i: 0, off: 0 };
    const p = fillPartial(s.rxPartial, [data], at);
    if (p.filled < p.buf.length) {
      s.rxPartial = p;
      return;
    }
    s.rxPartial = undefined;
    off = at.i === 0 ? at.off : data.length;
    onRecord(cx, p.buf[0]!, p.buf.subarray(0, RECORD_HEADER), p.buf.subarray(RECORD_HEADER));
  }
  while ((s.phase as string) !== 'closed' && !s.rxInFlight) {
    // With the connection up and asyncCrypto on, the records go as batches (the general path).
    if (s.config.asyncCrypto && s.phase === 'connected') return onBytes(cx, data.subarray(off));
    const size = completeRecordAt(data, off);
    if (size === 0) break;
    if (size < 0) rejectHeader(frameRecord(data, off)); // not a valid header: frameRecord says why
    const at = off;
    off += size;
    onRecord(cx, data[at]!, data.subarray(at, at + RECORD_HEADER), data.subarray(at + RECORD_HEADER, off));
  }
  if ((s.phase as string) === 'closed') return;
  const rest = off < data.length ? [data.subarray(off)] : [];
  if (s.rxInFlight) s.rxWaiting = rest;
  else keepPartial(s, rest);
}

/** Abort on a header that is not a record's: record_overflow for a length over 2^14 + 256, else unexpected_message. */
function rejectHeader(fr: FrameResult | NextRecord): never {
  if (fr.kind === 'overflow') abort(fail.misbehaved(AlertDescription.record_overflow, `record length ${fr.length} exceeds 2^14 + 256`));
  abort(fr.kind === 'badHeader' ? fail.unexpected(fr.reason) : fail.internal(`record header rejected, yet framed as ${fr.kind}`));
}

/** The chunks from the cursor on (views; the first one cut at the cursor). */
function restOf(chunks: readonly Uint8Array[], at: Cursor): Uint8Array[] {
  return [chunks[at.i]?.subarray(at.off), ...chunks.slice(at.i + 1)].filter((c): c is Uint8Array => !!c && c.length > 0);
}

/** Copy what arrived of a split record into its buffer (forking it first if a later state wrote there). */
function fillPartial(p: PartialRecord, chunks: readonly Uint8Array[], at: Cursor): PartialRecord {
  let { buf, written } = p;
  let filled = p.filled;
  if (written.n !== filled) {
    const own = new Uint8Array(buf.length);
    own.set(buf.subarray(0, filled));
    buf = own;
  }
  while (filled < buf.length && at.i < chunks.length) {
    const c = chunks[at.i]!;
    const n = Math.min(buf.length - filled, c.length - at.off);
    buf.set(c.subarray(at.off, at.off + n), filled);
    filled += n;
    advance(chunks, at, n);
  }
  if (buf !== p.buf) written = { n: filled };
  else written.n = filled;
  return { buf, filled, written };
}

/**
 * Keep the start of the next record: fewer than 5 bytes as they are (copied); otherwise, its header having
 * been checked by the framing loop, in a buffer of the record's full size.
 */
function keepPartial(s: Conn, rest: readonly Uint8Array[]): void {
  let total = 0;
  for (const c of rest) total += c.length;
  const head = total >= RECORD_HEADER ? peek(rest, { i: 0, off: 0 }, RECORD_HEADER) : undefined;
  const size = head ? RECORD_HEADER + ((head[3]! << 8) | head[4]!) : 0;
  if (!head || total >= size) {
    s.rxBuf = rest.length === 1 ? rest[0]!.slice() : concatBytes(rest);
    return;
  }
  const buf = new Uint8Array(size);
  let o = 0;
  for (const c of rest) {
    buf.set(c, o);
    o += c.length;
  }
  s.rxPartial = { buf, filled: total, written: { n: total } };
}

/** A read position in a list of received chunks. */
interface Cursor {
  i: number;
  off: number;
}

/** `n` bytes from the cursor on, without moving it: a view when they lie in one chunk, else a copy. */
function peek(chunks: readonly Uint8Array[], at: Cursor, n: number): Uint8Array | undefined {
  const first = chunks[at.i];
  if (first && first.length - at.off >= n) return first.subarray(at.off, at.off + n);
  let available = -at.off;
  for (let i = at.i; i < chunks.length && available < n; i++) available += chunks[i]!.length;
  if (available < n) return undefined; // a partial record: nothing copied yet
  const out = new Uint8Array(n);
  let got = 0;
  for (let i = at.i, off = at.off; got < n && i < chunks.length; i++, off = 0) {
    const piece = chunks[i]!.subarray(off, off + (n - got));
    out.set(piece, got);
    got += piece.length;
  }
  return out;
}

/** Move the cursor `n` bytes on (past chunks it finishes). */
function advance(chunks: readonly Uint8Array[], at: Cursor, n: number): void {
  at.off += n;
  while (at.i < chunks.length && at.off >= chunks[at.i]!.length) {
    at.off -= chunks[at.i]!.length;
    at.i++;
  }
}

type NextRecord =
  | { readonly kind: 'record'; readonly bytes: Uint8Array }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'overflow'; readonly length: number }
  | { readonly kind: 'badHeader'; readonly reason: string };

/**
 * The next whole record at the cursor (header and fragment, contiguous). A length above 2^14 + 256 is
 * reported from the header alone (RFC 8446 §5.2), so a hostile length never makes us wait for more.
 */
function nextRecord(chunks: readonly Uint8Array[], at: Cursor): NextRecord {
  const head = peek(chunks, at, RECORD_HEADER);
  if (!head) return { kind: 'incomplete' };
  const fr = frameRecord(head, 0);
  if (fr.kind === 'badHeader') {
    // Not a record: quote more of what came when it is text (an HTTP answer), to say the peer is not TLS.
    let available = -at.off;
    for (let i = at.i; i < chunks.length; i++) available += chunks[i]!.length;
    const text = notTls(peek(chunks, at, Math.min(available, 41)) ?? head, 0);
    return text ? { kind: 'badHeader', reason: text } : fr;
  }
  if (fr.kind === 'overflow') return fr;
  const bytes = peek(chunks, at, RECORD_HEADER + ((head[3]! << 8) | head[4]!));
  return bytes ? { kind: 'record', bytes } : { kind: 'incomplete' };
}

function onRecord(cx: Cx, type: number, header: Uint8Array, fragment: Uint8Array): void {
  const s = cx.s;
  if (type === ContentType.change_cipher_spec) {
    if (negotiatedVersion(s.hs) === ProtocolVersion.TLS1_2) {
      // TLS 1.2 (RFC 5246 §7.1): the peer's keys change; the engine says whether one is due now.
      if (s.rxKey) abort(fail.unexpected('a second change_cipher_spec'));
      if (fragment.length !== 1 || fragment[0] !== 1) abort(fail.unexpected('malformed change_cipher_spec'));
      return applyHandshake(cx, changeCipherSpec(s.hs, cx.now));
    }
    // RFC 8446 §5: a single 0x01 byte between the first ClientHello and the peer's Finished is dropped.
    if (!ccsAllowed(s)) abort(fail.unexpected('change_cipher_spec outside the handshake'));
    if (fragment.length !== 1 || fragment[0] !== 1) abort(fail.unexpected('malformed change_cipher_spec'));
    // §5.1: nothing, a compatibility CCS included, may come between the pieces of a handshake message.
    if (s.hs.partialLength) abort(fail.unexpected('change_cipher_spec interleaved with a fragmented handshake message'));
    // §D.4: a peer sends one compatibility CCS ("either before its second ClientHello or before its encrypted
    // handshake flight"); a second one is not middlebox compatibility but noise, and OpenSSL refuses it too.
    if (s.ccsReceived) abort(fail.unexpected('a second change_cipher_spec'));
    s.ccsReceived = true;
    return;
  }
  if (!s.rxKey) {
    if (fragment.length > MAX_PLAINTEXT) abort(fail.misbehaved(AlertDescription.record_overflow, 'plaintext record over 2^14 bytes'));
    if (type === ContentType.application_data) {
      // Early data sent with a ClientHello we answered with HelloRetryRequest is skipped (RFC 8446 §4.2.10).
      if (skipEarly(cx, fragment.length)) return;
      abort(fail.unexpected('application data before the handshake keys'));
    }
    // A server that speaks only older versions refuses our ClientHello with protocol_version; say so, with the
    // record version it used (OpenSSL 3 writes 0x0303 whatever it speaks, so that is a hint, not a fact).
    if (type === ContentType.alert && s.config.role === 'client' && fragment.length === 2 && fragment[1] === AlertDescription.protocol_version) {
      cx.effects.push({ type: 'alertReceived', level: fragment[0]!, description: fragment[1] });
      return fatal(cx, {
        kind: 'alertReceived',
        alert: AlertDescription.protocol_version,
        reason: `the server does not support TLS 1.3: it refused the ClientHello (record version ${protocolVersionName((header[1]! << 8) | header[2]!)})`,
      });
    }
    return onContent(cx, type, fragment);
  }
  if (s.rxKey.tls12) return onRecord12(cx, type, header, fragment);
  if (type !== ContentType.application_data) {
    // A plaintext alert after keys are installed: a peer that failed early may send one; never a close_notify.
    if (type === ContentType.alert && s.phase !== 'connected' && fragment.length === 2 && fragment[1] !== 0) {
      return onContent(cx, type, fragment);
    }
    abort(fail.unexpected(`plaintext record of type ${type} after encryption started`));
  }
  const opened = openRecord(s.rxKey, header, fragment);
  if (opened.kind === 'ok' && s.ourRecordLimit !== undefined && opened.content.length + 1 > s.ourRecordLimit) {
    abort(fail.misbehaved(AlertDescription.record_overflow, 'record exceeds our record_size_limit'));
  }
  switch (opened.kind) {
    case 'badMac':
      // Rejected 0-RTT records fail to open under the handshake key: skip them, within a bound.
      if (skipEarly(cx, fragment.length)) return;
      abort(fail.misbehaved(AlertDescription.bad_record_mac, 'record failed authentication'));
    case 'overflow':
      abort(fail.misbehaved(AlertDescription.record_overflow, 'inner plaintext over 2^14 + 1 bytes'));
    case 'noContentType':
      abort(fail.unexpected('record without a content type (all padding)'));
    case 'ok':
      s.rxKey = opened.key;
      if (s.early.skip) s.early = { ...s.early, skip: 0 };
      if (opened.type === ContentType.change_cipher_spec) abort(fail.unexpected('encrypted change_cipher_spec'));
      return onContent(cx, opened.type, opened.content);
  }
}

/**
 * A TLS 1.2 protected record (RFC 5246 §6.2.3.3): every content type is protected and keeps its outer type. Our
 * record_size_limit counts plaintext only in TLS 1.2 (RFC 8449 §4).
 */
function onRecord12(cx: Cx, type: number, header: Uint8Array, fragment: Uint8Array): void {
  const s = cx.s;
  const opened = openRecord12(s.rxKey!, header, fragment);
  switch (opened.kind) {
    case 'badMac':
      abort(fail.misbehaved(AlertDescription.bad_record_mac, 'record failed authentication'));
    case 'overflow':
      abort(fail.misbehaved(AlertDescription.record_overflow, 'plaintext over 2^14 bytes'));
    case 'noContentType':
      abort(fail.internal('TLS 1.2 records carry their type in the header'));
    case 'ok':
      if (s.ourRecordLimit !== undefined && opened.content.length > Math.min(MAX_PLAINTEXT, s.ourRecordLimit)) {
        abort(fail.misbehaved(AlertDescription.record_overflow, 'record exceeds our record_size_limit'));
      }
      s.rxKey = opened.key;
      return onContent(cx, type, opened.content);
  }
}

function onContent(cx: Cx, type: number, content: Uint8Array): void {
  const s = cx.s;
  // RFC 8446 §6.1, RFC 5246 §7.2.1: after the peer's close_notify, whatever it sends is ignored (a fatal alert, a
  // KeyUpdate, a malformed message); only its record protection is still checked.
  if (s.shutdown.received) return;
  switch (type) {
    case ContentType.handshake:
      if (content.length === 0) abort(fail.unexpected('zero-length handshake record'));
      return applyHandshake(cx, handshakeData(s.hs, s.rxEpoch, content, cx.now));
    case ContentType.alert:
      // RFC 8446 §5.1: zero-length fragments are allowed for application data only, and an alert record holds
      // exactly one alert; an empty one (padded or not) is unexpected_message, as for handshake records.
      if (content.length === 0) abort(fail.unexpected('empty alert record'));
      if (s.hs.partialLength) abort(fail.unexpected('alert interleaved with a fragmented handshake message'));
      return onAlert(cx, content);
    case ContentType.application_data:
      // TLS 1.2's protected epoch is numbered 1 too (RFC 6347 §4.1): 0-RTT exists only under TLS 1.3 keys.
      if (s.rxEpoch === Epoch.early && !s.rxKey?.tls12) {
        // Accepted 0-RTT data (RFC 8446 §4.2.10): more than max_early_data_size is unexpected_message.
        if (content.length > s.early.readBudget) abort(fail.unexpected('early data exceeds max_early_data_size'));
        s.early = { ...s.early, readBudget: s.early.readBudget - content.length };
        if (content.length) deliver(cx, content);
        return;
      }
      if (s.phase !== 'connected') abort(fail.unexpected('application data before the handshake completed'));
      // RFC 8446 §5.1 forbids it; RFC 5246 §6.2.1 makes a TLS 1.2 endpoint take application data between the
      // pieces of a later handshake's message (here a renegotiation ClientHello or HelloRequest to refuse).
      if (s.hs.partialLength && negotiatedVersion(s.hs) !== ProtocolVersion.TLS1_2) {
        abort(fail.unexpected('application data interleaved with a fragmented handshake message'));
      }
      if (content.length === 0) return;
      // `content` is a view into the freshly decrypted record, owned by nobody else: no copy needed. Records
      // opened from one chunk (or one open batch) join into one `deliver` (one copy), not one effect each.
      deliver(cx, content);
      return;
    default:
      abort(fail.unexpected(`unexpected content type ${type}`));
  }
}

function onAlert(cx: Cx, content: Uint8Array): void {
  const s = cx.s;
  const alert = decodeAlert(content);
  cx.effects.push({ type: 'alertReceived', level: alert.level, description: alert.description });
  if (alert.description === AlertDescription.close_notify) {
    if (s.phase !== 'connected') {
      return fatal(cx, { kind: 'alertReceived', alert: 0, reason: 'peer sent close_notify during the handshake' });
    }
    s.shutdown.received = true;
    cx.effects.push({ type: 'peerClosed' });
    return;
  }
  // RFC 8446 §6: user_canceled is a warning (close_notify should follow); every other alert is fatal.
  if (alert.description === AlertDescription.user_canceled) return;
  // RFC 5246 §7.2: in TLS 1.2 a warning lets the connection go on (no_renegotiation is one). Bounded, as OpenSSL
  // bounds them (MAX_WARN_ALERT_COUNT): a peer cannot keep us busy with warnings for free.
  if (alert.level === AlertLevel.warning && negotiatedVersion(s.hs) === ProtocolVersion.TLS1_2) {
    s.warnings = (s.warnings ?? 0) + 1;
    if (s.warnings <= MAX_WARNING_ALERTS) return;
    abort(fail.unexpected(`more than ${MAX_WARNING_ALERTS} warning alerts`));
  }
  fatal(cx, { kind: 'alertReceived', alert: alert.description, reason: 'the peer aborted the connection' });
}

/** Server: drop a record of rejected early data if the skip budget allows (RFC 8446 §4.2.10). */
function skipEarly(cx: Cx, length: number): boolean {
  const s = cx.s;
  if (s.config.role !== 'server' || s.early.skip <= 0) return false;
  // The budget counts early data as max_early_data_size does (RFC 8446 §4.6.1): a record's plaintext, at most its
  // length less the tag and the content type byte.
  const data = Math.max(0, length - TAG_LENGTH - 1);
  if (data > s.early.skip) abort(fail.unexpected('too much rejected early data (RFC 8446 §4.2.10)'));
  s.early = { ...s.early, skip: s.early.skip - data };
  return true;
}

/**
 * Asynchronous opening: frame the complete application-data records at the cursor, across every chunk
 * received so far (up to `maxPipelines`), and open them as one batch through a `crypto` effect. False when
 * there is none (the synchronous path then handles what comes next, and reports malformed records).
 */
function startOpenBatch(cx: Cx, chunks: readonly Uint8Array[], at: Cursor): boolean {
  const s = cx.s;
  const key = s.rxKey!;
  const records: Uint8Array[] = [];
  const jobs: { nonce: Uint8Array; aad: Uint8Array; data: Uint8Array }[] = [];
  while (records.length < s.config.maxPipelines) {
    const next = nextRecord(chunks, at);
    if (next.kind !== 'record' || next.bytes[0] !== ContentType.application_data) break;
    // Views where possible: input chunks are never modified, and the batch holds them only until it completes.
    const raw = next.bytes;
    if (key.tls12) {
      // TLS 1.2: the explicit nonce and the 13-byte AAD; a record too short or too long is left to the
      // synchronous path, which reports it.
      const job = openJob12(key, key.seq + jobs.length, raw.subarray(0, RECORD_HEADER), raw.subarray(RECORD_HEADER));
      if (!job || job.data.length - TAG_LENGTH > MAX_PLAINTEXT) break;
      jobs.push(job);
    } else {
      jobs.push({ nonce: recordNonce(key.iv, key.seq + jobs.length), aad: raw.subarray(0, RECORD_HEADER), data: raw.subarray(RECORD_HEADER) });
    }
    records.push(raw);
    advance(chunks, at, raw.length);
  }
  if (!records.length) return false;
  s.rxKey = advanceKey(key, records.length);
  const jobId = s.nextJobId++;
  s.rxInFlight = { jobId, records };
  cx.effects.push({ type: 'crypto', jobId, op: 'open', alg: key.aead.alg, key: key.key, jobs });
  return true;
}

/** An open batch finished: process each record in order, then continue with buffered bytes. */
function onOpenDone(cx: Cx, results: readonly (Uint8Array | null)[]): void {
  const s = cx.s;
  const batch = s.rxInFlight!;
  s.rxInFlight = undefined;
  if (results.length !== batch.records.length) abort(fail.internal('open batch returned the wrong number of records'));
  const tls12 = !!s.rxKey?.tls12;
  // The results are fresh memory of this step's: their plaintexts may be joined by moving them together.
  cx.ownedContent = true;
  try {
    openResults(cx, batch, results, tls12);
  } finally {
    cx.ownedContent = false;
  }
  if ((s.phase as string) === 'closed') return;
  onBytes(cx, new Uint8Array(0));
  if (s.eofPending && !s.rxInFlight && (s.phase as string) !== 'closed') {
    s.eofPending = false;
    onEof(cx);
  }
}

/** Process an open batch's records in order (`onOpenDone`). */
function openResults(cx: Cx, batch: { readonly records: readonly Uint8Array[] }, results: readonly (Uint8Array | null)[], tls12: boolean): void {
  const s = cx.s;
  for (let i = 0; i < results.length; i++) {
    const inner = results[i];
    if (!inner) abort(fail.misbehaved(AlertDescription.bad_record_mac, 'record failed authentication'));
    if (tls12) {
      // TLS 1.2: the plaintext is the content, of the header's type (application data: the batch takes no other).
      if (s.ourRecordLimit !== undefined && inner.length > Math.min(MAX_PLAINTEXT, s.ourRecordLimit)) {
        abort(fail.misbehaved(AlertDescription.record_overflow, 'record exceeds our record_size_limit'));
      }
      onContent(cx, ContentType.application_data, inner);
      if ((s.phase as string) === 'closed') return;
      continue;
    }
    if (inner.length > MAX_PLAINTEXT + 1) abort(fail.misbehaved(AlertDescription.record_overflow, 'inner plaintext over 2^14 + 1 bytes'));
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    if (end < 0) abort(fail.unexpected('record without a content type (all padding)'));
    const type = inner[end]!;
    if (type === ContentType.change_cipher_spec) abort(fail.unexpected('encrypted change_cipher_spec'));
    const keyBefore = s.rxKey;
    // Only application data stays in the batch's memory (delivered as views of it); a handshake message or an
    // alert is copied out, since a connection may give that memory back to its provider once the data is taken.
    onContent(cx, type, type === ContentType.application_data ? inner.subarray(0, end) : inner.slice(0, end));
    if ((s.phase as string) === 'closed') return;
    if (s.rxKey !== keyBefore) {
      // A KeyUpdate: the rest of the batch was opened with the old key; frame it again under the new one.
      s.rxWaiting = [...batch.records.slice(i + 1), ...s.rxWaiting];
      return;
    }
  }
}
