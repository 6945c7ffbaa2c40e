/**
 * The TLS connection state and the per-step context the handshake code writes into.
 *
 * The reducer never mutates the state it is given: `handleEvents` copies the top level into a working
 * {@link Conn}, and every nested value is replaced, never changed in place (buffers are concatenated into new
 * arrays, keys are immutable records). Effects and outgoing records of one input are gathered in a {@link Cx}.
 */
import type { CryptoProvider, GroupName, KeyExchangeKeyPair, SigningKey } from '../crypto/provider.js';
import type { CertificateVerifier } from '../crypto/verifier.js';
import type { SuiteParams } from '../crypto/keySchedule.js';
import type { Effect, HandshakeInfo, QuicLevel } from '../core/types.js';
import { TlsError, alertFor, type TlsErrorDetail } from '../core/errors.js';
import type { ClientHello } from '../wire/tls/messages.js';
import type { AntiReplay, Ticketer, TlsSession } from './session.js';
import { encodeHandshakeBytes } from '../wire/tls/handshake.js';
import { encodeAlert } from '../wire/tls/alert.js';
import type { HandshakeMessage } from '../wire/tls/messages.js';
import { AlertLevel, ContentType, MAX_PLAINTEXT } from '../wire/tls/constants.js';
import { type OutPart, type RecordKey, plainRecord, prepareSeal } from './record.js';

/** The quic_transport_parameters extension (RFC 9001 §8.2). */
export const QUIC_TRANSPORT_PARAMETERS = 57;

/** Configuration after defaults are applied. */
export interface Resolved {
  readonly role: 'client' | 'server';
  readonly provider: CryptoProvider;
  readonly suites: readonly number[];
  readonly groups: readonly GroupName[];
  readonly alpn?: readonly string[];
  readonly chain: readonly Uint8Array[];
  readonly key?: SigningKey;
  readonly verifier?: CertificateVerifier;
  readonly handshakeTimeout: number;
  readonly maxSendFragment: number;
  readonly middleboxCompat: boolean;
  readonly keyLog: boolean;
  readonly serverName?: string;
  readonly keyShareCount: number;
  readonly requestClientCert: boolean;
  readonly requireClientCert: boolean;
  readonly ignoreUnexpectedEof: boolean;
  readonly session?: TlsSession;
  readonly pskModes: readonly number[];
  readonly earlyData: boolean;
  readonly ticketer?: Ticketer;
  readonly ticketCount: number;
  readonly maxEarlyData: number;
  readonly antiReplay?: AntiReplay;
  readonly splitSendFragment: number;
  readonly maxPipelines: number;
  readonly asyncCrypto: boolean;
  readonly recordSizeLimit?: number;
  /** Records per key before an automatic KeyUpdate (RFC 8446 §5.5). */
  readonly keyUpdateAfter: number;
  /** QUIC mode (RFC 9001): our encoded transport parameters. */
  readonly quic?: { readonly transportParameters: Uint8Array };
}

/** Secrets of the current handshake (RFC 8446 §7.1). */
export interface Secrets {
  readonly handshake?: Uint8Array;
  readonly clientHs?: Uint8Array;
  readonly serverHs?: Uint8Array;
  readonly master?: Uint8Array;
  readonly clientAp?: Uint8Array;
  readonly serverAp?: Uint8Array;
  readonly exporter?: Uint8Array;
  readonly resumption?: Uint8Array;
}

/** A resumption PSK the client offered (RFC 8446 §4.2.11). */
export interface OfferedPsk {
  readonly session: TlsSession;
  readonly suite: SuiteParams;
  readonly early: Uint8Array;
}

/** What the client offered in its ClientHello. */
export interface ClientOffer {
  readonly hello: ClientHello;
  readonly keyPairs: readonly KeyExchangeKeyPair[];
  readonly retried: boolean;
  readonly psk?: OfferedPsk;
}

/** 0-RTT progress. Client: `offered` → `accepted`/`rejected`. Server: `accepted` while reading early data. */
export interface EarlyState {
  readonly status: 'none' | 'offered' | 'accepted' | 'rejected';
  /** Client: early bytes sent so far (reported back if rejected); bytes still allowed. */
  readonly sent: readonly Uint8Array[];
  readonly budget: number;
  /** Client: the handshake write key, installed after EndOfEarlyData (accepted) or at rejection. */
  readonly pendingTxKey?: RecordKey;
  /** Server: bytes of undecryptable (rejected) early data still to skip (RFC 8446 §4.2.10). */
  readonly skip: number;
  /** Server: the client handshake key, installed at EndOfEarlyData. */
  readonly pendingRxKey?: RecordKey;
}

/** Handshake states, one per expected message (rustls `Expect*`). */
export type Phase =
  | { readonly name: 'idle' }
  // client
  | { readonly name: 'expectServerHello'; readonly offer: ClientOffer }
  | { readonly name: 'expectEncryptedExtensions' }
  | { readonly name: 'expectCertificateOrRequest' }
  | { readonly name: 'expectCertificate'; readonly requestContext?: Uint8Array; readonly requestSchemes?: readonly number[] }
  | {
      readonly name: 'expectCertificateVerify';
      readonly chain: readonly Uint8Array[];
      readonly requestContext?: Uint8Array;
      readonly requestSchemes?: readonly number[];
    }
  | { readonly name: 'expectFinished'; readonly requestContext?: Uint8Array; readonly requestSchemes?: readonly number[] }
  // server
  | { readonly name: 'expectClientHello'; readonly retry?: { readonly group: GroupName; readonly suite: number; readonly sessionId: Uint8Array } }
  | { readonly name: 'expectEndOfEarlyData' }
  | { readonly name: 'expectClientCertificate' }
  | { readonly name: 'expectClientCertificateVerify'; readonly chain: readonly Uint8Array[] }
  | { readonly name: 'expectClientFinished' }
  // both
  | { readonly name: 'connected' }
  | { readonly name: 'closed' };

/** The whole connection state. Treat as opaque outside src/tls. */
export interface Conn {
  readonly config: Resolved;
  phase: Phase;
  /** Unconsumed received bytes (at most one partial record). */
  rxBuf: Uint8Array;
  /** Chunks received while an asynchronous open batch is in flight, not yet framed. */
  rxWaiting: readonly Uint8Array[];
  /** Partial handshake message carried across records. */
  hsBuf: Uint8Array;
  rxKey?: RecordKey;
  txKey?: RecordKey;
  /** Server: the client's application key, installed once the client Finished is checked. */
  pendingClientKey?: RecordKey;
  /** Raw handshake messages so far (transcript, RFC 8446 §4.4.1). */
  transcript: readonly Uint8Array[];
  suite?: SuiteParams;
  group?: GroupName;
  secrets: Secrets;
  clientRandom?: Uint8Array;
  deadline?: number;
  started: boolean;
  info?: HandshakeInfo;
  /** Facts gathered during the handshake for {@link HandshakeInfo}. */
  nego: {
    alpn?: string;
    serverName?: string;
    peerChain: readonly Uint8Array[];
    peerSubject?: string;
    peerScheme?: number;
    verification: 'ok' | 'insecure' | 'none';
    helloRetry: boolean;
    resumed: boolean;
  };
  shutdown: { sent: boolean; received: boolean };
  /** Transport EOF arrived while an open batch was in flight; handled once the batch is done. */
  eofPending?: boolean;
  /** The peer's EOF was accepted in place of close_notify (`ignoreUnexpectedEof`). */
  eofWithoutCloseNotify?: boolean;
  /** Application data written before the handshake completed. */
  pendingWrites: readonly Uint8Array[];
  ccsSent: boolean;
  /** A change_cipher_spec may still be ignored (between the first ClientHello and the peer's Finished). */
  ccsAllowed: boolean;
  /** KeyUpdate we owe the peer (update_requested received). */
  keyUpdateOwed: boolean;
  early: EarlyState;
  /** Server: the client sent psk_key_exchange_modes, so tickets may be issued (RFC 8446 §4.2.9). */
  ticketsWanted: boolean;
  /** record_size_limit we advertised and the peer acknowledged (RFC 8449): largest inner plaintext we accept. */
  ourRecordLimit?: number;
  /** Largest plaintext per record the peer accepts (record_size_limit − 1, RFC 8449), else 2^14. */
  peerRecordLimit: number;
  /** QUIC mode: the peer's encoded quic_transport_parameters, once received (RFC 9001 §8.2). */
  peerTransportParameters?: Uint8Array;
  /** Output waiting behind an asynchronous seal batch, in order. */
  txQueue: readonly TxItem[];
  /** The asynchronous seal batch in flight (at most one per direction). */
  txInFlight?: { readonly jobId: number; readonly headers: readonly Uint8Array[]; readonly onWire: readonly Effect[] };
  /** The asynchronous open batch in flight: the raw records, kept to re-frame after a KeyUpdate. */
  rxInFlight?: { readonly jobId: number; readonly records: readonly Uint8Array[] };
  nextJobId: number;

  /** The application ended its output before the handshake completed: send close_notify on completion. */
  endPending: boolean;
}

/** An item of the asynchronous output queue. */
export type TxItem =
  | { readonly kind: 'data'; readonly data: Uint8Array }
  | { readonly kind: 'record'; readonly type: number; readonly content: Uint8Array; readonly onWire?: Effect }
  | { readonly kind: 'rekey'; readonly key: RecordKey };

/** Per-input scratch: the working state, the time, and what this step produced. */
export interface Cx {
  readonly s: Conn;
  readonly now: number;
  readonly effects: Effect[];
  /** Wire bytes produced by this step, in order; records are sealed when the step ends (`assembleFlight`). */
  readonly out: OutPart[];
  /** Handshake messages queued under the current write key, not yet framed. */
  hsOut: Uint8Array[];
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Hash of the transcript so far under the negotiated suite's hash. */
export function transcriptHash(cx: Cx): Uint8Array {
  const suite = cx.s.suite!;
  return cx.s.config.provider.hash(suite.hash, concatBytes(cx.s.transcript));
}

export function appendTranscript(cx: Cx, raw: Uint8Array): void {
  cx.s.transcript = [...cx.s.transcript, raw];
}

/** Queue a handshake message under the current write key and add it to the transcript. */
export function sendHandshake(cx: Cx, msg: HandshakeMessage): Uint8Array {
  const raw = encodeHandshakeBytes(msg);
  // Post-handshake messages (KeyUpdate, NewSessionTicket) are not part of the transcript.
  if (cx.s.phase.name !== 'connected') appendTranscript(cx, raw);
  cx.hsOut.push(raw);
  return raw;
}

/** Frame queued handshake messages into records (protected if a write key is installed). */
export function flushHandshake(cx: Cx, legacyVersion = 0x0303): void {
  if (cx.hsOut.length === 0) return;
  const data = concatBytes(cx.hsOut);
  cx.hsOut = [];
  if (cx.s.config.quic) {
    // RFC 9001 §4.1.3: handshake bytes leave in CRYPTO frames at the level of the current write keys.
    cx.effects.push({ type: 'cryptoData', level: quicLevel(cx.s, cx.s.txKey), data });
    return;
  }
  const max = cx.s.txKey ? Math.min(MAX_PLAINTEXT, cx.s.peerRecordLimit) : MAX_PLAINTEXT;
  for (let o = 0; o < data.length; o += max) {
    const frag = data.subarray(o, Math.min(data.length, o + max));
    writeRecord(cx, ContentType.handshake, frag, legacyVersion);
  }
}

/**
 * Write one record of `type` (sealed when a write key is installed). While an asynchronous seal batch is in
 * flight, the record waits in the output queue so records leave in sequence-number order; `onWire` is the
 * effect to report once it is really written.
 */
export function writeRecord(cx: Cx, type: number, content: Uint8Array, legacyVersion = 0x0303, onWire?: Effect): void {
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

/**
 * QUIC mode: the encryption level a record key stands for (RFC 9001 §4.1.4): none yet → Initial, a
 * handshake traffic key → Handshake, anything later → 1-RTT.
 */
export function quicLevel(s: Conn, key: RecordKey | undefined): QuicLevel {
  if (!key) return 'initial';
  const hs = [s.secrets.clientHs, s.secrets.serverHs];
  return hs.some((x) => x !== undefined && bytesEqual(x, key.secret)) ? 'handshake' : 'oneRtt';
}

/** Install a new write key; anything queued under the old key is framed first. */
export function setTxKey(cx: Cx, key: RecordKey): void {
  flushHandshake(cx);
  if (cx.s.txInFlight || cx.s.txQueue.length) {
    cx.s.txQueue = [...cx.s.txQueue, { kind: 'rekey', key }];
    return;
  }
  cx.s.txKey = key;
}

/** Send the middlebox-compatibility change_cipher_spec once (RFC 8446 §D.4). */
export function sendCcsOnce(cx: Cx): void {
  if (cx.s.ccsSent || !cx.s.config.middleboxCompat) return;
  flushHandshake(cx);
  cx.out.push(plainRecord(ContentType.change_cipher_spec, Uint8Array.of(1)));
  cx.s.ccsSent = true;
}

export function sendAlert(cx: Cx, level: number, description: number): void {
  flushHandshake(cx);
  if (cx.s.config.quic) {
    // RFC 9001 §4.8: no alert records; the QUIC layer closes with CRYPTO_ERROR 0x100 + description.
    cx.effects.push({ type: 'alertSent', level, description });
    return;
  }
  writeRecord(cx, ContentType.alert, encodeAlert(level, description), 0x0303, { type: 'alertSent', level, description });
}

/** End the connection with an error: send the alert the failure calls for, then `closed`. */
export function fatal(cx: Cx, detail: TlsErrorDetail): void {
  const s = cx.s;
  if (s.phase.name === 'closed') return;
  cx.hsOut = [];
  // Records waiting behind an asynchronous batch are dropped; the alert goes out at once.
  s.txQueue = [];
  s.txInFlight = undefined;
  s.rxInFlight = undefined;
  const alert = alertFor(detail);
  if (alert !== undefined) sendAlert(cx, AlertLevel.fatal, alert);
  s.phase = { name: 'closed' };
  s.deadline = undefined;
  s.rxBuf = new Uint8Array(0);
  s.rxWaiting = [];
  s.hsBuf = new Uint8Array(0);
  s.pendingWrites = [];
  cx.effects.push({ type: 'closed', error: new TlsError(detail) });
}

/** Emit a key log line (SSLKEYLOGFILE label) when key logging is on. */
export function keyLog(cx: Cx, label: string, secret: Uint8Array): void {
  if (!cx.s.config.keyLog || !cx.s.clientRandom) return;
  cx.effects.push({ type: 'keyLog', label, clientRandom: cx.s.clientRandom, secret });
}

/** True for an IPv4 or IPv6 literal (SNI must not carry one, RFC 6066 §3). */
export function isIpLiteral(name: string): boolean {
  return name.includes(':') || /^\d{1,3}(\.\d{1,3}){3}$/.test(name);
}
