/**
 * The handshake engine's state and the per-step context its states write into.
 *
 * Like every reducer in rxtls the engine never mutates the state it is given: each call copies the top level into
 * a working {@link HsState}, and nested values are replaced, never edited. What one call produces is gathered
 * in an {@link HsCx}: the events for the record or packet layer, in order.
 */
import type { CryptoProvider, GroupName, HashAlg, Hasher, KeyExchangeKeyPair, SigningKey } from '../crypto/provider.js';
import type { CertificateVerifier } from '../crypto/verifier.js';
import { type LabelPrefix, type SuiteParams } from '../crypto/keySchedule.js';
import type { HandshakeInfo } from '../core/types.js';
import type { ClientHello, HandshakeMessage } from '../wire/tls/messages.js';
import { encodeHandshakeBytes, type HelloFormat } from '../wire/tls/handshake.js';
import { HandshakeType, ProtocolVersion } from '../wire/tls/constants.js';
import type { CertificateRequest12 } from '../wire/tls/tls12.js';
import type { Tls12SuiteParams, Tls12WriteKeys } from '../crypto/prf.js';
import type { AntiReplay, EarlyDataContext, Ticketer, TlsSession } from './session.js';
import { Epoch, type HsEvent, type HsVariant, type KeyDirection } from './events.js';
import { abort, fail, type CertificateErrorCode } from '../core/errors.js';
import { concatBytes } from '../wire/bytes.js';
import { type ExternalPsk, type ExternalPskLookup, groupDisplayName, schemeName } from './config.js';

/** The quic_transport_parameters extension (RFC 9001 §8.2). */
export const QUIC_TRANSPORT_PARAMETERS = 57;

/** Engine configuration after defaults are applied. */
export interface HsResolved {
  readonly role: 'client' | 'server';
  readonly variant: HsVariant;
  /**
   * The protocol versions this endpoint negotiates, highest first: 0x0304 and/or 0x0303 for TLS over streams
   * (`minVersion` / `maxVersion`, less a version none of whose suites is configured), the variant's (D)TLS 1.3
   * otherwise.
   */
  readonly versions: readonly number[];
  /** `"tls13 "` (TLS, QUIC) or `"dtls13"` (DTLS 1.3, RFC 9147 §5.9). */
  readonly labelPrefix: LabelPrefix;
  readonly provider: CryptoProvider;
  /** TLS 1.3 suites, preference order. */
  readonly suites: readonly number[];
  /** TLS 1.2 suites, preference order (empty unless TLS 1.2 is among `versions`). */
  readonly suites12: readonly number[];
  /** TLS 1.2: the extended master secret (RFC 7627) is required. */
  readonly requireEms: boolean;
  readonly groups: readonly GroupName[];
  readonly alpn?: readonly string[];
  readonly chain: readonly Uint8Array[];
  readonly key?: SigningKey;
  readonly verifier?: CertificateVerifier;
  readonly middleboxCompat: boolean;
  readonly keyLog: boolean;
  readonly traceMessages: boolean;
  readonly serverName?: string;
  readonly keyShareCount: number;
  readonly requestClientCert: boolean;
  readonly requireClientCert: boolean;
  readonly session?: TlsSession;
  readonly pskModes: readonly number[];
  readonly earlyData: boolean;
  readonly ticketer?: Ticketer;
  readonly ticketCount: number;
  readonly maxEarlyData: number;
  readonly antiReplay?: AntiReplay;
  /** Server: what early data depends on besides the ticket (QUIC: transport parameters), see the config. */
  readonly earlyDataContext?: EarlyDataContext;
  /** Client: the external PSK to offer (its hash resolved). */
  readonly externalPsk?: Required<ExternalPsk>;
  /** Server: external PSKs by identity. */
  readonly externalPskLookup?: ExternalPskLookup;
  readonly recordSizeLimit?: number;
  readonly maxHandshakeMessage: number;
  /** Smallest RSA key of a peer's CertificateVerify, in bits. */
  readonly minRsaBits: number;
  /** QUIC: our encoded transport parameters. */
  readonly transportParameters?: Uint8Array;
  /** DTLS server: stateless cookies (RFC 9147 §5.1) are required of every new handshake. */
  readonly cookie?: CookieConfig;
  /**
   * DTLS: speak draft-ietf-tls-dtls13-43 instead of RFC 9147 (NSS 3.87 does): version 0x7f2b, and the
   * transcript over the 12-byte DTLS handshake headers ({@link draft43Transcript}).
   */
  readonly dtlsDraft43: boolean;
}

/** The DTLS 1.3 version of draft-ietf-tls-dtls13-43 in supported_versions: 0x7f00 | 43 (RFC 9147: 0xfefc). */
export const DTLS13_DRAFT43_VERSION = 0x7f2b;

/** A DTLS server's stateless cookie settings, resolved from `cookieSecret`, `cookieBinding`, `cookieLifetime`. */
export interface CookieConfig {
  /** HMAC-SHA256 key, 32 B. */
  readonly secret: Uint8Array;
  /** What the cookie is bound to (the client's address), 0..65535 B. */
  readonly binding: Uint8Array;
  /** How long a cookie stays valid, ms. */
  readonly lifetime: number;
}

/** The version the variant negotiates in supported_versions: 0x0304 (TLS 1.3, QUIC) or 0xfefc (DTLS 1.3). */
export function ownVersion(c: HsResolved): number {
  if (c.variant !== 'dtls') return ProtocolVersion.TLS1_3;
  return c.dtlsDraft43 ? DTLS13_DRAFT43_VERSION : ProtocolVersion.DTLS1_3;
}

/**
 * The legacy_version every hello carries: 0x0303 (RFC 8446 §4.1.2, §4.1.3), 0xfefd in DTLS 1.3
 * (RFC 9147 §5.3, §5.4).
 */
export function legacyVersion(c: HsResolved): number {
  return c.variant === 'dtls' ? ProtocolVersion.DTLS1_2 : ProtocolVersion.TLS1_2;
}

/**
 * The wire value of the variant's 1.2: 0x0303 (TLS 1.2, RFC 5246) or 0xfefd (DTLS 1.2, RFC 6347 §4.1). The
 * TLS 1.2 states serve both; this is the only place they learn which.
 */
export function version12(c: HsResolved): number {
  return c.variant === 'dtls' ? ProtocolVersion.DTLS1_2 : ProtocolVersion.TLS1_2;
}

/** Whether the hellos settled (D)TLS 1.2. */
export function is12(s: { readonly version?: number }): boolean {
  return s.version === ProtocolVersion.TLS1_2 || s.version === ProtocolVersion.DTLS1_2;
}

/** The wire form of the variant's ClientHello (DTLS 1.3 adds legacy_cookie, RFC 9147 §5.3). */
export function helloFormat(c: HsResolved): HelloFormat {
  return c.variant === 'dtls' ? 'dtls' : 'tls';
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

/** A PSK the client offered (RFC 8446 §4.2.11): a resumption ticket (`session`), or an external PSK. */
export interface OfferedPsk {
  /** The session ticket's session; absent for an external PSK. */
  readonly session?: TlsSession;
  readonly identity: Uint8Array;
  readonly key: Uint8Array;
  readonly suite: SuiteParams;
  readonly early: Uint8Array;
}

/** What the client offered in its ClientHello. */
export interface ClientOffer {
  readonly hello: ClientHello;
  readonly keyPairs: readonly KeyExchangeKeyPair[];
  readonly retried: boolean;
  readonly psk?: OfferedPsk;
  /** A TLS 1.2 session whose ticket went in the session_ticket extension (RFC 5077 §3.4). */
  readonly session12?: TlsSession;
  /**
   * DTLS 1.2: HelloVerifyRequests answered so far (RFC 6347 §4.2.1: the ClientHello resent with its cookie; a new
   * one comes when the cookie expired before the ClientHello carrying it arrived).
   */
  readonly verified?: number;
}

/**
 * A TLS 1.2 handshake's own state (RFC 5246 §8.1, §6.3), kept beside the TLS 1.3 secrets once a ServerHello
 * selected TLS 1.2.
 */
export interface Tls12State {
  readonly suite: Tls12SuiteParams;
  readonly clientRandom: Uint8Array;
  readonly serverRandom: Uint8Array;
  /** The extended master secret (RFC 7627) is in use. */
  readonly ems: boolean;
  /** An abbreviated handshake from a session ticket (RFC 5077 §3.1). */
  readonly resumed: boolean;
  /** 48 B, once known. */
  readonly master?: Uint8Array;
  /** The key block (RFC 6.3), once known. */
  readonly keys?: { readonly client: Tls12WriteKeys; readonly server: Tls12WriteKeys };
  /** Server: a NewSessionTicket is to be sent (the client asked with session_ticket, RFC 5077 §3.2). */
  readonly issueTicket?: boolean;
  /** Client: the server promised a NewSessionTicket (session_ticket in its ServerHello). */
  readonly ticketExpected?: boolean;
  /** Client: the session to report at completion (a new ticket, or the resumed one). */
  readonly session?: TlsSession;
}

/**
 * 0-RTT progress. Client: `offered` → `accepted` / `rejected`. Server: `accepted` while reading early data,
 * `rejected` when it was offered and refused.
 */
export interface EarlyState {
  readonly status: 'none' | 'offered' | 'accepted' | 'rejected';
  /** Client: the handshake write secret, installed after EndOfEarlyData (accepted) or at rejection. */
  readonly pendingWrite?: Uint8Array;
  /** Server: the client handshake secret, installed at EndOfEarlyData. */
  readonly pendingRead?: Uint8Array;
}

/**
 * What a server asked for in its HelloRetryRequest, to check the second ClientHello against (RFC 8446 §4.1.2,
 * §4.1.4): kept in the state, or carried by a stateless cookie (RFC 9147 §5.1).
 */
export interface RetryState {
  /** The group of selected_group; absent for a HelloRetryRequest that asked for a cookie only. */
  readonly group?: GroupName;
  readonly suite: number;
  /** The first ClientHello's legacy_session_id, which the second must repeat. */
  readonly sessionId: Uint8Array;
}

/** Handshake states, one per expected message (rustls `Expect*`), each carrying its own data. */
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
  | { readonly name: 'expectClientHello'; readonly retry?: RetryState }
  | { readonly name: 'expectEndOfEarlyData'; readonly clientApp: Uint8Array }
  | { readonly name: 'expectClientCertificate'; readonly clientApp: Uint8Array }
  | { readonly name: 'expectClientCertificateVerify'; readonly chain: readonly Uint8Array[]; readonly clientApp: Uint8Array }
  | { readonly name: 'expectClientFinished'; readonly clientApp: Uint8Array }
  // TLS 1.2 client (RFC 5246 §7.3)
  | { readonly name: 'expectCertificate12' }
  | { readonly name: 'expectServerKeyExchange'; readonly chain: readonly Uint8Array[] }
  | { readonly name: 'expectCertificateRequestOrDone'; readonly kx: PeerKeyShare }
  | { readonly name: 'expectServerHelloDone'; readonly kx: PeerKeyShare; readonly request: CertificateRequest12 }
  | { readonly name: 'expectNewSessionTicket12' }
  // TLS 1.2 server
  | { readonly name: 'expectClientCertificate12'; readonly keyPair: KeyExchangeKeyPair }
  | { readonly name: 'expectClientKeyExchange'; readonly keyPair: KeyExchangeKeyPair; readonly chain?: readonly Uint8Array[] }
  | { readonly name: 'expectCertificateVerify12'; readonly chain: readonly Uint8Array[] }
  // TLS 1.2, both roles: the peer's ChangeCipherSpec (through `changeCipherSpec`), then its Finished
  | { readonly name: 'expectChangeCipherSpec' }
  | { readonly name: 'expectFinished12' }
  // both
  | { readonly name: 'connected' }
  | { readonly name: 'failed' };

/** A TLS 1.2 server's ephemeral ECDHE key (RFC 8422 §5.4), from its ServerKeyExchange. */
export interface PeerKeyShare {
  readonly group: GroupName;
  readonly publicKey: Uint8Array;
}

/** The engine's whole state. Opaque outside src/handshake. */
export interface HsState {
  readonly config: HsResolved;
  phase: Phase;
  /** The negotiated protocol version (wire value), once the hellos settled it. */
  version?: number;
  /** TLS 1.2 only: the handshake's suite, randoms and secrets. */
  tls12?: Tls12State;
  /** Raw handshake messages so far (transcript, RFC 8446 §4.4.1). */
  transcript: readonly Uint8Array[];
  /** The running hash of a prefix of {@link transcript} (see {@link TranscriptRun}); none before the first hash. */
  transcriptRun?: TranscriptRun;
  suite?: SuiteParams;
  group?: GroupName;
  secrets: Secrets;
  clientRandom?: Uint8Array;
  info?: HandshakeInfo;
  /** Facts gathered during the handshake for {@link HandshakeInfo}. */
  nego: {
    alpn?: string;
    serverName?: string;
    peerChain: readonly Uint8Array[];
    peerSubject?: string;
    peerScheme?: number;
    verification: 'ok' | 'insecure' | 'none' | 'failed';
    verificationError?: { readonly code: CertificateErrorCode; readonly reason: string };
    helloRetry: boolean;
    resumed: boolean;
    /** The identity of the external PSK the handshake used. */
    pskIdentity?: Uint8Array;
  };
  early: EarlyState;
  /** Server: the client sent psk_key_exchange_modes, so tickets may be issued (RFC 8446 §4.2.9). */
  ticketsWanted: boolean;
  /** The epochs of the keys in force each way. */
  readEpoch: number;
  writeEpoch: number;
  /** Current application traffic secrets each way (for KeyUpdate, RFC 8446 §7.2). */
  readSecret?: Uint8Array;
  writeSecret?: Uint8Array;
  /** The handshake message being reassembled, if one is incomplete (see {@link PartialMessage}). */
  partial?: PartialMessage;
  /** Bytes of that message received so far (0: none pending, every record ended on a message boundary). */
  partialLength: number;
  /** Bytes copied by reassembly over the engine's life (each received handshake byte once): a cost counter. */
  bytesCopied: number;
  /** QUIC: the peer's quic_transport_parameters, once received. */
  peerTransportParameters?: Uint8Array;
  /** Handshake messages received so far. */
  messagesIn: number;
  /** The middlebox-compatibility change_cipher_spec was sent (TLS over streams). */
  ccsSent: boolean;
  /**
   * Server: a ClientHello was accepted, so this state must be kept for the connection. Stays false after a
   * stateless HelloRetryRequest (RFC 9147 §5.1): the layer may drop the state then.
   */
  committed: boolean;
  /**
   * DTLS: the message_seq of our next handshake message (RFC 6347 §4.2.2), as the DTLS layer numbers them; DTLS
   * 1.2 hashes it into the transcript (§4.2.6).
   */
  msgSeqOut: number;
}

/**
 * A handshake message arriving in pieces (RFC 8446 §5.1: records, CRYPTO frames), copied into one buffer as
 * the pieces come, so reassembly is linear in the bytes received.
 *
 * Ownership rule: `buf` is append-only and may be shared by several states (each call returns a new state and
 * the old one stays valid). A state owns the bytes `[0, filled)` and may write only at `filled`, and only while
 * `tip.end === filled`, i.e. while no other state derived from the same ancestor has appended already; otherwise
 * it copies `[0, filled)` into a buffer of its own first. So a byte a state can see is never written again, and
 * replaying an old state costs one copy of its partial message, never a wrong byte.
 */
export interface PartialMessage {
  /** The whole message once its 4-byte header is known (`4 + length`); before that a 4-byte header buffer. */
  readonly buf: Uint8Array;
  /** Bytes of `buf` received so far. */
  readonly filled: number;
  /** `buf` is the 4-byte header only (the length is not known yet). */
  readonly headerOnly: boolean;
  /** Pieces (records, CRYPTO chunks) this message came in so far. */
  readonly pieces: number;
  /** How far `buf` has been written by any state sharing it (the ownership token of the rule above). */
  readonly tip: { end: number };
}

/** Per-call scratch: the working state, the time, and the events produced, in order. */
export interface HsCx {
  readonly s: HsState;
  readonly now: number;
  readonly events: HsEvent[];
  /** Handshake messages queued at the current write epoch, not yet emitted as one `send` event. */
  out: Uint8Array[];
  /** DTLS: the message_seq of the message being handled (the layer passes it with the message). */
  readonly msgSeq?: number;
  /** With `traceMessages`: the messages of this step (see {@link MessageTrace}). */
  readonly trace?: MessageTrace[];
}

/** One handshake message seen by the engine (OpenSSL's message callback, `s_client -msg`). */
export interface MessageTrace {
  readonly dir: 'sent' | 'received';
  /** HandshakeType (RFC 8446 §4, RFC 5246 §7.4). */
  readonly type: number;
  /** The whole message's length in bytes, its header included (as OpenSSL's message callback counts). */
  readonly length: number;
}

/**
 * A running transcript hash: `hasher` has absorbed the first `covered` messages of the transcript, `first` and
 * `last` being the first and the last of them (by identity, to recognise a transcript that still extends it:
 * a HelloRetryRequest replaces the transcript, RFC 8446 §4.4.1), and `digest` is its value.
 *
 * Ownership rule (the reducer stays pure): a run's `hasher` is never updated once the run is in a state. The
 * next {@link transcriptHash} clones it and feeds the clone only the messages added since, so every earlier
 * state keeps a valid run, and each transcript byte is hashed once per handshake instead of once per
 * transcript hash (about six times; counted in test/handshake/transcript.test.ts).
 */
export interface TranscriptRun {
  readonly alg: HashAlg;
  readonly hasher: Hasher;
  readonly covered: number;
  readonly first: Uint8Array;
  readonly last: Uint8Array;
  readonly digest: Uint8Array;
}

/**
 * Hash of the transcript so far under the negotiated suite's hash (TLS 1.2: the PRF hash), incremental: see
 * {@link TranscriptRun}.
 */
export function transcriptHash(cx: HsCx): Uint8Array {
  const s = cx.s;
  const alg = s.tls12 ? s.tls12.suite.hash : s.suite!.hash;
  const t = s.transcript;
  const run = s.transcriptRun;
  const extends_ =
    run !== undefined && run.alg === alg && run.covered <= t.length && t[0] === run.first && t[run.covered - 1] === run.last;
  if (extends_ && run.covered === t.length) return run.digest.slice();
  if (t.length === 0) return s.config.provider.hash(alg, new Uint8Array(0));
  // draft-43's transcript is hashed whole each time: a compatibility mode, not worth the incremental run.
  if (s.config.dtlsDraft43) return s.config.provider.hash(alg, concatBytes(draft43Transcript(t)));
  const hasher = extends_ ? run.hasher.clone() : s.config.provider.hasher(alg);
  for (let i = extends_ ? run.covered : 0; i < t.length; i++) hasher.update(t[i]!);
  const digest = hasher.digest();
  s.transcriptRun = { alg, hasher, covered: t.length, first: t[0]!, last: t[t.length - 1]!, digest };
  return digest.slice();
}

/**
 * A handshake message in draft-ietf-tls-dtls13-43's transcript form (as DTLS 1.2, RFC 6347 §4.2.6): its DTLS
 * header as if it were sent unfragmented, msg_type ‖ length ‖ message_seq ‖ fragment_offset 0 ‖
 * fragment_length = length, then the body. RFC 9147 §5.2 hashes the TLS 1.3 form instead.
 */
export function draft43Message(raw: Uint8Array, messageSeq: number): Uint8Array {
  const out = new Uint8Array(raw.length + 8);
  out.set(raw.subarray(0, 4));
  out[4] = (messageSeq >>> 8) & 0xff;
  out[5] = messageSeq & 0xff;
  out.set(raw.subarray(1, 4), 9);
  out.set(raw.subarray(4), 12);
  return out;
}

/**
 * The transcript (TLS 1.3 form, as the engine keeps it) in draft-43 form. The message_seq of each message is
 * implied by the handshake's order: each side numbers its messages from 0 (RFC 9147 §5.2), the client sends the
 * ClientHellos and, after the server's Finished, its Certificate, CertificateVerify and Finished; the server sends
 * the rest. A leading message_hash (RFC 8446 §4.4.1) stands for ClientHello1: it gets a 12-byte header too, with
 * message_seq 0, and carries the hash of ClientHello1 in draft-43 form ({@link clientHello1Hash}); that is what
 * NSS 3.87 computes (the draft left it open: tlswg/dtls13-spec issue #247).
 */
export function draft43Transcript(t: readonly Uint8Array[]): Uint8Array[] {
  const next = { client: 0, server: 0 };
  let serverFinished = false;
  return t.map((m) => {
    if (m[0] === HandshakeType.message_hash) {
      next.client = 1;
      return draft43Message(m, 0);
    }
    const sender = m[0] === HandshakeType.client_hello || serverFinished ? 'client' : 'server';
    if (sender === 'server' && m[0] === HandshakeType.finished) serverFinished = true;
    return draft43Message(m, next[sender]++);
  });
}

/** Hash(ClientHello1) for the synthetic message_hash (RFC 8446 §4.4.1), in the form the variant hashes. */
export function clientHello1Hash(c: HsResolved, hash: HashAlg, raw: Uint8Array): Uint8Array {
  return c.provider.hash(hash, c.dtlsDraft43 ? draft43Message(raw, 0) : raw);
}

export function appendTranscript(cx: HsCx, raw: Uint8Array): void {
  cx.s.transcript = [...cx.s.transcript, raw];
}

/** Queue a handshake message at the current write epoch and add it to the transcript. */
export function sendHandshake(cx: HsCx, msg: HandshakeMessage): Uint8Array {
  const raw = encodeHandshakeBytes(msg, helloFormat(cx.s.config));
  // Post-handshake messages (KeyUpdate, NewSessionTicket) are not part of the transcript.
  if (cx.s.phase.name !== 'connected') appendTranscript(cx, raw);
  cx.s.msgSeqOut++;
  cx.out.push(raw);
  return raw;
}

/** Emit the queued messages as one `send` event at the current write epoch. */
export function flushHandshake(cx: HsCx): void {
  if (cx.out.length === 0) return;
  if (cx.trace) for (const raw of cx.out) cx.trace.push({ dir: 'sent', type: raw[0]!, length: raw.length });
  const data = concatBytes(cx.out);
  cx.out = [];
  cx.events.push({ type: 'send', epoch: cx.s.writeEpoch, data });
}

/**
 * Change the write keys: queued messages leave under the old epoch first. `secret` undefined with epoch 0 goes
 * back to plaintext (the client's 0-RTT ended by a HelloRetryRequest).
 */
export function changeWriteKey(
  cx: HsCx,
  epoch: number,
  secret: Uint8Array | undefined,
  maxEarlyData?: number,
  suite: SuiteParams = cx.s.suite!,
): void {
  flushHandshake(cx);
  cx.s.writeEpoch = epoch;
  if (epoch >= Epoch.application) cx.s.writeSecret = secret;
  pushKeyChange(cx, 'write', epoch, suite, secret, maxEarlyData);
}

/**
 * Change the read keys. A key change must fall on a record boundary (RFC 8446 §5.1; RFC 9001 §4.1.3 for a
 * QUIC encryption level): bytes of a later message already received under the old keys are refused.
 */
export function changeReadKey(cx: HsCx, epoch: number, secret: Uint8Array, maxEarlyData?: number): void {
  const s = cx.s;
  if (s.partialLength > 0) abort(fail.unexpected('handshake data after a key change in the same record'));
  s.readEpoch = epoch;
  if (epoch >= Epoch.application) s.readSecret = secret;
  pushKeyChange(cx, 'read', epoch, s.suite!, secret, maxEarlyData);
}

function pushKeyChange(
  cx: HsCx,
  direction: KeyDirection,
  epoch: number,
  suite: SuiteParams,
  secret: Uint8Array | undefined,
  maxEarlyData: number | undefined,
): void {
  cx.events.push({
    type: 'keyChange',
    direction,
    epoch,
    suite,
    ...(secret ? { secret } : {}),
    ...(maxEarlyData !== undefined ? { maxEarlyData } : {}),
  });
}

/** Our flight is complete (DTLS arms its retransmission timer on it). */
export function endFlight(cx: HsCx): void {
  flushHandshake(cx);
  cx.events.push({ type: 'flightEnd' });
}

/** TLS over streams: the middlebox-compatibility change_cipher_spec, once (RFC 8446 §D.4). */
export function compatCcs(cx: HsCx): void {
  const s = cx.s;
  if (s.ccsSent || !s.config.middleboxCompat) return;
  flushHandshake(cx);
  s.ccsSent = true;
  cx.events.push({ type: 'compatCcs' });
}

/** The handshake is complete: record what was negotiated and report it. */
export function completeHandshake(cx: HsCx): void {
  const s = cx.s;
  flushHandshake(cx);
  s.phase = { name: 'connected' };
  const n = s.nego;
  const tls12 = s.tls12;
  s.info = {
    protocol: s.config.variant === 'dtls' ? (tls12 ? 'DTLSv1.2' : 'DTLSv1.3') : tls12 ? 'TLSv1.2' : 'TLSv1.3',
    cipherSuite: tls12 ? tls12.suite.name : s.suite!.name,
    ...(s.group ? { group: groupDisplayName(s.group) } : {}),
    ...(n.alpn !== undefined ? { alpn: n.alpn } : {}),
    ...(n.serverName !== undefined ? { serverName: n.serverName } : {}),
    ...(n.peerScheme !== undefined ? { peerSignatureScheme: schemeName(n.peerScheme) } : {}),
    peerCertificates: n.peerChain,
    ...(n.peerSubject !== undefined ? { peerSubject: n.peerSubject } : {}),
    verification: n.verification,
    ...(n.verificationError ? { verificationError: n.verificationError } : {}),
    resumed: n.resumed,
    ...(n.pskIdentity !== undefined ? { pskIdentity: new TextDecoder().decode(n.pskIdentity) } : {}),
    earlyData: s.early.status === 'accepted' ? 'accepted' : s.early.status === 'rejected' ? 'rejected' : 'none',
    helloRetry: n.helloRetry,
  };
  cx.events.push({ type: 'complete', info: s.info });
}

/** Emit a key log line (SSLKEYLOGFILE label) when key logging is on. */
export function keyLog(cx: HsCx, label: string, secret: Uint8Array): void {
  if (!cx.s.config.keyLog || !cx.s.clientRandom) return;
  cx.events.push({ type: 'keyLog', label, clientRandom: cx.s.clientRandom, secret });
}

/** True for an IPv4 or IPv6 literal (SNI must not carry one, RFC 6066 §3). */
export function isIpLiteral(name: string): boolean {
  return name.includes(':') || /^\d{1,3}(\.\d{1,3}){3}$/.test(name);
}

/** Whether a client's hello carries server_name: a name that is not an IP literal was configured. */
export function sentServerName(c: { readonly serverName?: string | undefined }): boolean {
  return c.serverName !== undefined && !isIpLiteral(c.serverName);
}
