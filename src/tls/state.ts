/**
 * The TLS record layer's state (over a byte stream) and the per-step context its functions write into.
 *
 * The reducer never mutates the state it is given: `handleEvents` copies the top level into a working
 * {@link Conn}, and every nested value is replaced, never changed in place (buffers are concatenated into new
 * arrays, keys are immutable records). Effects and outgoing records of one input are gathered in a {@link Cx}.
 */
import type { CryptoProvider } from '../crypto/provider.js';
import type { HandshakeInfo } from '../core/types.js';
import type { TlsEffect } from '../tls/types.js';
import { TlsError, alertFor, type TlsErrorDetail } from '../core/errors.js';
import { encodeAlert } from '../wire/tls/alert.js';
import { concatBytes, inSharedMemory } from '../wire/bytes.js';
import { AlertLevel, ContentType } from '../wire/tls/constants.js';
import type { HandshakeState } from '../handshake/engine.js';
import { type OutPart, type RecordKey, plainRecord, prepareSeal } from './record.js';

/** Record-layer configuration after defaults are applied (the handshake's is in the engine). */
export interface Resolved {
  readonly role: 'client' | 'server';
  readonly provider: CryptoProvider;
  readonly handshakeTimeout: number;
  readonly maxSendFragment: number;
  readonly ignoreUnexpectedEof: boolean;
  readonly splitSendFragment: number;
  readonly maxPipelines: number;
  readonly asyncCrypto: boolean;
  /** Records per key before an automatic KeyUpdate (RFC 8446 §5.5). */
  readonly keyUpdateAfter: number;
  /** Wire bytes go out as `transmitParts` (a list), not one joined `transmit`. */
  readonly transmitParts: boolean;
}

/**
 * The timers of a TLS connection, one deadline each (quinn-proto style); `nextTimeout` returns the earliest.
 */
export const TlsTimer = {
  /** The whole handshake must finish by this deadline (`handshakeTimeout`, default 30 s). */
  handshake: 'handshake',
} as const;
export type TlsTimer = (typeof TlsTimer)[keyof typeof TlsTimer];

/** 0-RTT as the record layer sees it (the engine decides; this counts bytes). */
export interface EarlyState {
  /** Client: early bytes may be written now (write keys at epoch 1); how many more the ticket allows. */
  readonly writing: boolean;
  readonly budget: number;
  /** Client: early bytes sent so far (handed back if the server rejects them). */
  readonly sent: readonly Uint8Array[];
  /** Server: 0-RTT bytes still allowed while reading at epoch 1 (max_early_data_size). */
  readonly readBudget: number;
  /** Server: bytes of undecryptable (rejected) early data still to skip (RFC 8446 §4.2.10). */
  readonly skip: number;
}

/** Where the connection is: before `start`, handshaking, connected, or over. */
export type Phase = 'idle' | 'handshaking' | 'connected' | 'closed';

/** The whole connection state. Treat as opaque outside src/tls. */
export interface Conn {
  readonly config: Resolved;
  /** The handshake engine (every handshake message goes through it). */
  hs: HandshakeState;
  phase: Phase;
  /** Unconsumed received bytes while fewer than a record header's 5 (copied: at most 4 bytes). */
  rxBuf: Uint8Array;
  /** A record whose header arrived but whose end did not: assembled in a buffer of its full size. */
  rxPartial?: PartialRecord;
  /** Chunks received while an asynchronous open batch is in flight, not yet framed. */
  rxWaiting: readonly Uint8Array[];
  rxKey?: RecordKey;
  /** The epoch of `rxKey` (0 while reading plaintext). */
  rxEpoch: number;
  txKey?: RecordKey;
  /** A record has been sent (the first ClientHello's record may say 0x0301, RFC 8446 §5.1). */
  sentRecord: boolean;
  /** The peer's middlebox-compatibility change_cipher_spec arrived (only one is dropped, RFC 8446 §5, §D.4). */
  ccsReceived: boolean;
  /** Deadlines by timer. */
  timers: { readonly [T in TlsTimer]?: number };
  info?: HandshakeInfo;
  shutdown: { sent: boolean; received: boolean };
  /** Transport EOF arrived while an open batch was in flight; handled once the batch is done. */
  eofPending?: boolean;
  /** The peer's EOF was accepted in place of close_notify (`ignoreUnexpectedEof`). */
  eofWithoutCloseNotify?: boolean;
  /** TLS 1.2 warning alerts received (bounded by `MAX_WARNING_ALERTS`). */
  warnings?: number;
  /**
   * We answered a peer's update_requested with a KeyUpdate and have sent no application data since: further
   * requests need no answer of their own (RFC 8446 §4.6.3), so a flood of them costs one KeyUpdate.
   */
  keyUpdateAnswered?: boolean;
  /** Application data written before the handshake completed. */
  pendingWrites: readonly Uint8Array[];
  early: EarlyState;
  /** record_size_limit we advertised and the peer acknowledged (RFC 8449): largest inner plaintext we accept. */
  ourRecordLimit?: number;
  /** Largest plaintext per record the peer accepts (record_size_limit − 1, RFC 8449), else 2^14. */
  peerRecordLimit: number;
  /** Output waiting behind an asynchronous seal batch, in order. */
  txQueue: readonly TxItem[];
  /** The asynchronous seal batch in flight (at most one per direction). */
  txInFlight?: { readonly jobId: number; readonly headers: readonly Uint8Array[]; readonly onWire: readonly TlsEffect[] };
  /** The asynchronous open batch in flight: the raw records, kept to re-frame after a KeyUpdate. */
  rxInFlight?: { readonly jobId: number; readonly records: readonly Uint8Array[] };
  nextJobId: number;
  /** The application ended its output before the handshake completed: send close_notify on completion. */
  endPending: boolean;
}

/**
 * The working copy a step makes of its state: the top level (nested values are replaced, never changed in
 * place), with `shutdown`, the one nested record written in place, copied too. Every field is written out, the
 * optional ones included (the type makes a forgotten field a compile error): V8 then builds every state with one
 * shape, where a spread copy went through its generic path once per step.
 */
export function copyConn(c: Readonly<Conn>): Conn {
  const copy: { -readonly [K in keyof Required<Conn>]: Conn[K] } = {
    config: c.config,
    hs: c.hs,
    phase: c.phase,
    rxBuf: c.rxBuf,
    rxPartial: c.rxPartial,
    rxWaiting: c.rxWaiting,
    rxKey: c.rxKey,
    rxEpoch: c.rxEpoch,
    txKey: c.txKey,
    sentRecord: c.sentRecord,
    ccsReceived: c.ccsReceived,
    timers: c.timers,
    info: c.info,
    shutdown: { sent: c.shutdown.sent, received: c.shutdown.received },
    eofPending: c.eofPending,
    eofWithoutCloseNotify: c.eofWithoutCloseNotify,
    warnings: c.warnings,
    keyUpdateAnswered: c.keyUpdateAnswered,
    pendingWrites: c.pendingWrites,
    early: c.early,
    ourRecordLimit: c.ourRecordLimit,
    peerRecordLimit: c.peerRecordLimit,
    txQueue: c.txQueue,
    txInFlight: c.txInFlight,
    rxInFlight: c.rxInFlight,
    nextJobId: c.nextJobId,
    endPending: c.endPending,
  };
  return copy;
}

/**
 * A received record split across chunks, assembled where it will be opened (RFC 8446 §5.1 framing): `buf` has
 * the record's full size (header and fragment, known from the header) and its first `filled` bytes arrived.
 * Each of its bytes is copied once, when it arrives, and the record is then opened from `buf` as it is.
 *
 * States stay values: `buf` is shared with the states that hold a shorter prefix of it and is only ever
 * written past their `filled`. `written` (shared too) says how far any state has written, so a state whose
 * `filled` is behind it (an older state given new input) copies its prefix before writing.
 */
export interface PartialRecord {
  readonly buf: Uint8Array;
  readonly filled: number;
  readonly written: { n: number };
}

/** An item of the asynchronous output queue. */
export type TxItem =
  | { readonly kind: 'data'; readonly data: Uint8Array }
  | { readonly kind: 'record'; readonly type: number; readonly content: Uint8Array; readonly onWire?: TlsEffect }
  | { readonly kind: 'rekey'; readonly key: RecordKey | undefined };

/** Per-input scratch: the working state, the time, and what this step produced. */
export interface Cx {
  readonly s: Conn;
  readonly now: number;
  readonly effects: TlsEffect[];
  /** Wire bytes produced by this step, in order; records are sealed when the step ends (`assembleFlight`). */
  readonly out: OutPart[];
  /**
   * Application data of this step not yet handed over: the `deliver` effect at the end of `effects` and the
   * record contents it will carry. Records opened one after another add to it; any other effect ends it
   * ({@link finishDelivery}): full records are then delivered as they are, small ones joined, so a chunk of many
   * small records is not an emission per record. `owned`: every part is memory this step may move data within
   * (see {@link deliver}).
   */
  delivery?: { readonly effect: { type: 'deliver'; data: Uint8Array }; readonly parts: Uint8Array[]; owned: boolean };
  /** Set while an open batch's results are processed: their plaintexts are `owned` (see {@link deliver}). */
  ownedContent?: boolean;
}

/**
 * Hand application data to the application: added to the `deliver` effect this step is building when nothing
 * else happened since, else a new one (effects keep their order). While `cx.ownedContent` is set, `data` is
 * a view of memory only this step references (an open batch's fresh results: the bytes around it are other
 * results, their content-type bytes and padding), so parts can be joined by moving them together in place.
 */
export function deliver(cx: Cx, data: Uint8Array): void {
  const owned = cx.ownedContent === true;
  const run = cx.delivery;
  if (run && cx.effects[cx.effects.length - 1] === run.effect) {
    run.parts.push(data);
    run.owned &&= owned;
    return;
  }
  finishDelivery(cx);
  const effect = { type: 'deliver' as const, data };
  cx.effects.push(effect);
  cx.delivery = { effect, parts: [data], owned };
}

/** A part at least this long is delivered as it is: an emission costs less than copying it. */
const STANDALONE_PART = 8 * 1024;
/** Shorter parts are joined, in order, until their group holds at least this much. */
const MIN_DELIVERY = 16 * 1024;

/**
 * How the parts of one delivery are handed over: each part of {@link STANDALONE_PART} bytes or more alone, as
 * it is (a view: no copy), and the shorter ones between them joined in groups of at least {@link MIN_DELIVERY}
 * bytes (the last of a run may hold less). So a full record is never copied to be delivered, and many small
 * records never cost an emission each. Each group is delivered in order; its parts are joined when more than one.
 */
export function deliveryGroups(parts: readonly Uint8Array[]): Uint8Array[][] {
  const groups: Uint8Array[][] = [];
  let open: Uint8Array[] | undefined;
  let size = 0;
  for (const p of parts) {
    if (p.length >= STANDALONE_PART) {
      groups.push([p]);
      open = undefined;
      continue;
    }
    if (!open || size >= MIN_DELIVERY) {
      open = [];
      size = 0;
      groups.push(open);
    }
    open.push(p);
    size += p.length;
  }
  return groups;
}

/**
 * End the `deliver` effect being built: nothing to do for a single record. Then {@link deliveryGroups} says what
 * stays alone and what is joined (short records, at once):
 * - Parts of owned memory (an open batch's results, in 64 KiB slabs) are first moved together in place
 *   ({@link compactParts}: no allocation, one run per slab), and each group is a `deliver` of its own: a view
 *   of its slab, as a chunk the application keeps.
 * - Other parts (node:crypto's outputs, one buffer per record) make one `deliver` whose `parts` are the groups
 *   and whose `data` is all of them joined, each made only when read ({@link TlsEffect}): a push consumer gets
 *   each full record as it is, a one-chunk-at-a-time consumer one chunk per step, each byte copied once.
 */
export function finishDelivery(cx: Cx): void {
  const run = cx.delivery;
  if (!run) return;
  cx.delivery = undefined;
  if (run.parts.length <= 1) return;
  if (run.owned) {
    // Not in shared memory (a provider's results on loan there): V8 moves shared memory byte by byte when the
    // distance is not a multiple of 8, which costs more than delivering the records one view each.
    const parts = deliveryGroups(inSharedMemory(run.parts[0]!) ? run.parts : compactParts(run.parts)).map(concatBytes); // a lone part as it is
    run.effect.data = parts[0]!;
    cx.effects.splice(cx.effects.lastIndexOf(run.effect) + 1, 0, ...parts.slice(1).map((data) => ({ type: 'deliver' as const, data })));
    return;
  }
  const groups = deliveryGroups(run.parts);
  if (groups.length === 1) run.effect.data = concatBytes(groups[0]!);
  else cx.effects[cx.effects.lastIndexOf(run.effect)] = new DeliverParts(groups, run.parts);
}

/**
 * A `deliver` effect of several groups of records (see {@link deliveryGroups}), nothing joined until read: `parts`
 * joins each group (a lone record stays as it is), `data` joins all the records at once. Whichever a consumer
 * reads, each plaintext byte is copied at most once for it, and a full record not at all through `parts`. A
 * class, so that every such effect has one shape: an object literal with a getter made the effect loop slow
 * enough to cancel what skipping the join saves (measured, `bench/results.md`).
 */
class DeliverParts {
  readonly type = 'deliver' as const;
  /** Total bytes: what a queue accounts for without reading `parts` or `data`. */
  readonly size: number;
  private joinedParts: Uint8Array[] | undefined = undefined;
  private joined: Uint8Array | undefined = undefined;
  constructor(
    private readonly groups: readonly (readonly Uint8Array[])[],
    private readonly records: readonly Uint8Array[],
  ) {
    let size = 0;
    for (const r of records) size += r.length;
    this.size = size;
  }
  get parts(): readonly Uint8Array[] {
    return (this.joinedParts ??= this.groups.map(concatBytes));
  }
  get data(): Uint8Array {
    return (this.joined ??= concatBytes(this.records));
  }
}

/**
 * Join `parts` in place: each part that lies in the same buffer as the one before it, after it, is moved down to
 * follow it (`copyWithin`: the bytes in between, which only this step references, are overwritten). Returns one
 * view per run of such parts, in order. The bytes moved are counted in `compactParts.moved` (for tests).
 */
export function compactParts(parts: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let first = parts[0]!;
  let end = first.byteOffset + first.length; // where the run's bytes end in its buffer
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.buffer === first.buffer && p.byteOffset >= end) {
      const whole = new Uint8Array(p.buffer);
      if (p.byteOffset !== end) {
        whole.copyWithin(end, p.byteOffset, p.byteOffset + p.length);
        compactParts.moved += p.length;
      }
      end += p.length;
      continue;
    }
    out.push(new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset));
    first = p;
    end = p.byteOffset + p.length;
  }
  out.push(new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset));
  return out;
}
compactParts.moved = 0;

/**
 * Write one record of `type` (sealed when a write key is installed). While an asynchronous seal batch is in
 * flight, the record waits in the output queue so records leave in sequence-number order; `onWire` is the
 * effect to report once it is really written.
 */
export function writeRecord(cx: Cx, type: number, content: Uint8Array, legacyVersion = 0x0303, onWire?: TlsEffect): void {
  const s = cx.s;
  if (s.txInFlight || s.txQueue.length) {
    s.txQueue = [...s.txQueue, { kind: 'record', type, content, ...(onWire ? { onWire } : {}) }];
    return;
  }
  sealNow(cx, type, content, legacyVersion);
  if (onWire) cx.effects.push(onWire);
}

/** Seal (or frame in plaintext) one record now and append it to this step's output. */
export function sealNow(cx: Cx, type: number, content: Uint8Array, legacyVersion = 0x0303): void {
  const s = cx.s;
  if (s.txKey) {
    const sealed = prepareSeal(s.txKey, type, content);
    s.txKey = sealed.key;
    cx.out.push(sealed.job);
  } else {
    cx.out.push(plainRecord(type, content, legacyVersion));
  }
}

/** Install a new write key (undefined: plaintext again); anything queued under the old key leaves first. */
export function setTxKey(cx: Cx, key: RecordKey | undefined): void {
  if (cx.s.txInFlight || cx.s.txQueue.length) {
    cx.s.txQueue = [...cx.s.txQueue, { kind: 'rekey', key }];
    return;
  }
  cx.s.txKey = key;
}

/** Send an alert record (protected once keys are installed); `alertSent` is reported when it is written. */
export function sendAlert(cx: Cx, level: number, description: number): void {
  writeRecord(cx, ContentType.alert, encodeAlert(level, description), 0x0303, { type: 'alertSent', level, description });
}

/** End the connection with an error: send the alert the failure calls for, then `closed`. */
export function fatal(cx: Cx, detail: TlsErrorDetail): void {
  const s = cx.s;
  if (s.phase === 'closed') return;
  // Records waiting behind an asynchronous batch are dropped; the alert goes out at once.
  s.txQueue = [];
  s.txInFlight = undefined;
  s.rxInFlight = undefined;
  const alert = alertFor(detail);
  if (alert !== undefined) sendAlert(cx, AlertLevel.fatal, alert);
  s.phase = 'closed';
  s.timers = {};
  s.rxBuf = new Uint8Array(0);
  s.rxPartial = undefined;
  s.rxWaiting = [];
  s.pendingWrites = [];
  cx.effects.push({ type: 'closed', error: new TlsError(detail) });
}
