/**
 * The TLS 1.3 handshake engine (RFC 8446 §4), shared by TLS over streams, DTLS 1.3 and QUIC.
 *
 * Handshake bytes go in tagged with the epoch they arrived under; {@link HsEvent}s come out: bytes to send at
 * an epoch, key changes, flight ends, completion, tickets. The engine knows nothing of records, packets,
 * sockets or time beyond the `now` it is given. Like every rxtls reducer it is pure: each call returns a new
 * state and leaves its argument untouched. A peer fault never throws: the step comes back with `error` set
 * (the layer sends the alert {@link alertFor} names, or QUIC's CRYPTO_ERROR) and the engine is `failed`.
 *
 * ```
 * client: idle ─start→ expectServerHello ─HRR→ expectServerHello ─SH→ expectEncryptedExtensions
 *         ─EE→ expectCertificateOrRequest ─(CR)→ expectCertificate ─Cert→ expectCertificateVerify ─CV→ expectFinished
 *         (resumed: EE → expectFinished) ─Fin→ connected
 * server: idle ─start→ expectClientHello ─(HRR)→ expectClientHello ─CH→ [expectEndOfEarlyData]
 *         → [expectClientCertificate → expectClientCertificateVerify] → expectClientFinished ─Fin→ connected
 * any:    fatal error → failed
 * ```
 *
 * @example
 * ```ts
 * let hs = createHandshake({ role: 'client', serverName: 'example.com', verifier }, 'tls');
 * let step = startHandshake(hs, Date.now());  // events: send(epoch 0, ClientHello), flightEnd
 * step = handshakeData(step.state, 0, serverHelloBytes, Date.now()); // keyChange(read, 2), keyChange(write, 2)…
 * ```
 */
import { DecodeError } from '../wire/reader.js';
import { KeyUpdateRequest, PskKeyExchangeMode } from '../wire/tls/constants.js';
import { decodeHandshakeBody } from '../wire/tls/handshake.js';
import type { HandshakeMessage } from '../wire/tls/messages.js';
import { ProtocolAbort, TlsError, abort, fail, type TlsErrorDetail } from '../core/errors.js';
import type { HandshakeInfo } from '../core/types.js';
import { nobleProvider } from '../crypto/noble.js';
import { nextTrafficSecret, TLS13 } from '../crypto/keySchedule.js';
import { DEFAULT_GROUPS, DEFAULT_SUITES, type HandshakeConfig, suiteCode } from './config.js';
import { Epoch, type HsEvent, type HsVariant } from './events.js';
import { type HsCx, type HsResolved, type HsState, changeReadKey, changeWriteKey, flushHandshake, sendHandshake } from './state.js';
import { clientHandshake, clientStart, onNewSessionTicket, unexpected } from './tls13/client.js';
import { serverHandshake } from './tls13/server.js';

/** The engine's state. Opaque: read it through the queries of this module. */
export type HandshakeState = Readonly<HsState> & { readonly __brand?: 'HandshakeState' };

/** The engine's answer to one call. */
export interface HsStep {
  readonly state: HandshakeState;
  /** What the layer must do, in order. */
  readonly events: readonly HsEvent[];
  /** Set when the handshake failed: the layer sends the alert (or QUIC code) it maps to and closes. */
  readonly error?: TlsErrorDetail;
}

/** Largest handshake message accepted by default (certificate chains included): 128 KiB. */
export const MAX_HANDSHAKE_MESSAGE = 1 << 17;

const misuse = (reason: string): TlsError => new TlsError({ kind: 'apiMisuse', reason });

/**
 * Create a handshake for one connection. `variant` fixes the label prefix (`dtls13` for DTLS) and the
 * messages that apply; QUIC passes its encoded transport parameters (RFC 9001 §8.2).
 * @throws TlsError `apiMisuse` for an unusable configuration (a server without certificate and key, a client
 * without a verifier, bad ALPN names, QUIC without ALPN or transport parameters).
 */
export function createHandshake(config: HandshakeConfig, variant: HsVariant, transportParameters?: Uint8Array): HandshakeState {
  if (config.role === 'server' && (!config.certificateChain?.length || !config.privateKey)) {
    throw misuse('a server needs certificateChain and privateKey');
  }
  if (config.role === 'client' && !config.verifier) {
    throw misuse('a client needs a certificate verifier (use the explicit insecure verifier to skip verification)');
  }
  if (config.role === 'server' && config.requestClientCertificate && !config.verifier) {
    throw misuse('requesting client certificates needs a verifier');
  }
  if (config.alpnProtocols?.some((a) => a.length === 0 || a.length > 255)) throw misuse('ALPN names must be 1..255 bytes');
  if (variant === 'quic') {
    // RFC 9001 §8.1: QUIC uses ALPN; §8.2: transport parameters travel in the handshake.
    if (!config.alpnProtocols?.length) throw misuse('QUIC needs alpnProtocols (RFC 9001 §8.1)');
    if (!(transportParameters instanceof Uint8Array)) throw misuse('QUIC needs encoded transport parameters');
    if ((config.role === 'client' && config.earlyData) || (config.role === 'server' && (config.maxEarlyData ?? 0) > 0)) {
      throw misuse('QUIC does not support early data yet');
    }
  }
  const maxHandshakeMessage = config.maxHandshakeMessage ?? MAX_HANDSHAKE_MESSAGE;
  if (!Number.isInteger(maxHandshakeMessage) || maxHandshakeMessage < 1024 || maxHandshakeMessage > 1 << 24) {
    throw misuse('maxHandshakeMessage must be an integer in 1024..2^24');
  }
  if (config.recordSizeLimit !== undefined && (config.recordSizeLimit < 64 || config.recordSizeLimit > 16385)) {
    throw misuse('recordSizeLimit must be in 64..16385');
  }
  const resolved: HsResolved = {
    role: config.role,
    variant,
    labelPrefix: variant === 'dtls' ? 'dtls13' : TLS13,
    provider: config.provider ?? nobleProvider,
    suites: (config.cipherSuites ?? DEFAULT_SUITES).map(suiteCode),
    groups: config.groups ?? DEFAULT_GROUPS,
    ...(config.alpnProtocols ? { alpn: config.alpnProtocols } : {}),
    chain: config.certificateChain ?? [],
    ...(config.privateKey ? { key: config.privateKey } : {}),
    ...(config.verifier ? { verifier: config.verifier } : {}),
    // RFC 9001 §8.4, RFC 9147 §5: no middlebox compatibility mode outside TLS over streams.
    middleboxCompat: variant === 'tls' ? (config.middleboxCompat ?? true) : false,
    keyLog: config.keyLog ?? false,
    ...(config.role === 'client' && config.serverName !== undefined ? { serverName: config.serverName } : {}),
    keyShareCount: config.role === 'client' ? (config.keyShareCount ?? 1) : 1,
    requestClientCert: config.role === 'server' ? !!config.requestClientCertificate : false,
    requireClientCert: config.role === 'server' ? !!config.requireClientCertificate : false,
    ...(config.role === 'client' && config.session ? { session: config.session } : {}),
    pskModes: (config.pskModes ?? (config.role === 'client' ? ['psk_dhe_ke'] : ['psk_dhe_ke', 'psk_ke'])).map(
      (m) => PskKeyExchangeMode[m],
    ),
    earlyData: config.role === 'client' ? !!config.earlyData : false,
    ...(config.role === 'server' && config.ticketer ? { ticketer: config.ticketer } : {}),
    ticketCount: config.role === 'server' ? (config.ticketCount ?? 2) : 0,
    maxEarlyData: config.role === 'server' ? (config.maxEarlyData ?? 0) : 0,
    ...(config.role === 'server' && config.antiReplay ? { antiReplay: config.antiReplay } : {}),
    ...(config.recordSizeLimit !== undefined ? { recordSizeLimit: config.recordSizeLimit } : {}),
    maxHandshakeMessage,
    ...(transportParameters ? { transportParameters: transportParameters.slice() } : {}),
  };
  if (resolved.maxEarlyData > 0 && !resolved.antiReplay) throw misuse('accepting early data needs an antiReplay store');
  return {
    config: resolved,
    phase: { name: 'idle' },
    transcript: [],
    secrets: {},
    nego: { peerChain: [], verification: 'none', helloRetry: false, resumed: false },
    early: { status: 'none' },
    ticketsWanted: false,
    readEpoch: Epoch.initial,
    writeEpoch: Epoch.initial,
    partial: [],
    partialLength: 0,
    messagesIn: 0,
    ccsSent: false,
  };
}

/** Begin: a client sends its ClientHello; a server waits for one. */
export function startHandshake(state: HandshakeState, now: number): HsStep {
  if (state.phase.name !== 'idle') throw misuse('handshake already started');
  return run(state, now, (cx) => {
    if (cx.s.config.role === 'client') clientStart(cx);
    else cx.s.phase = { name: 'expectClientHello' };
  });
}

/**
 * Handshake bytes from the peer, received under the read keys of `epoch` (a record's content, a QUIC level's
 * CRYPTO stream, a reassembled DTLS message), any chunking. Bytes at another epoch than the current read epoch
 * are unexpected_message (RFC 9001 §4.1.3 for QUIC).
 */
export function handshakeData(state: HandshakeState, epoch: number, data: Uint8Array, now: number): HsStep {
  if (state.phase.name === 'idle') throw misuse('handshake data before start');
  if (state.phase.name === 'failed') return { state, events: [] };
  return run(state, now, (cx) => {
    if (epoch !== cx.s.readEpoch) {
      abort(fail.unexpected(`handshake data at epoch ${epoch} while reading at epoch ${cx.s.readEpoch}`));
    }
    if (data.length > 0) onHandshakeBytes(cx, data);
  });
}

/**
 * Send a KeyUpdate and move our write keys to the next epoch (RFC 8446 §4.6.3); `requestPeer` sets
 * update_requested. Not for QUIC, which updates its packet keys itself (RFC 9001 §6).
 * @throws TlsError `apiMisuse` before the handshake completed or in QUIC.
 */
export function updateTrafficKeys(state: HandshakeState, requestPeer: boolean, now: number): HsStep {
  if (state.config.variant === 'quic') throw misuse('QUIC updates keys itself (RFC 9001 §6): no TLS KeyUpdate');
  if (state.phase.name !== 'connected') throw misuse('KeyUpdate needs a completed handshake');
  return run(state, now, (cx) => sendKeyUpdate(cx, requestPeer));
}

/** What was negotiated, once the handshake completed. */
export function negotiated(state: HandshakeState): HandshakeInfo | undefined {
  return state.info;
}

/** True once the handshake completed (post-handshake messages may still come). */
export function isHandshakeComplete(state: HandshakeState): boolean {
  return state.phase.name === 'connected';
}

/** True after a fatal error. */
export function isHandshakeFailed(state: HandshakeState): boolean {
  return state.phase.name === 'failed';
}

/** The name of the current state (`expectServerHello`, …), for diagnostics. */
export function handshakePhase(state: HandshakeState): string {
  return state.phase.name;
}

/** The peer's first message arrived (a server may then drop a middlebox CCS, RFC 8446 §D.4). */
export function peerHasSpoken(state: HandshakeState): boolean {
  return state.messagesIn > 0;
}

/** The client_random of this handshake (SSLKEYLOGFILE lines are keyed by it), once known. */
export function clientRandom(state: HandshakeState): Uint8Array | undefined {
  return state.clientRandom;
}

/** Run one call on a working copy; peer faults become `error`, API misuse throws. */
function run(state: HandshakeState, now: number, body: (cx: HsCx) => void): HsStep {
  const s: HsState = { ...state, nego: { ...state.nego } };
  const cx: HsCx = { s, now, events: [], out: [] };
  try {
    body(cx);
    flushHandshake(cx);
    return { state: s, events: cx.events };
  } catch (e) {
    let error: TlsErrorDetail;
    if (e instanceof ProtocolAbort) error = e.detail;
    else if (e instanceof DecodeError) error = fail.decode(e.message, e.alert);
    else if (e instanceof TlsError && e.kind === 'apiMisuse') throw e;
    else error = fail.internal(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    s.phase = { name: 'failed' };
    s.partial = [];
    s.partialLength = 0;
    // Whatever was queued is dropped: only the alert goes out.
    return { state: s, events: cx.events.filter((ev) => ev.type === 'keyLog'), error };
  }
}

/**
 * Reassemble handshake messages (RFC 8446 §5.1: they may span records, and a record may hold several). The
 * pieces of a partial message are kept as they are and joined once, when the message is complete.
 */
function onHandshakeBytes(cx: HsCx, data: Uint8Array): void {
  const s = cx.s;
  let pieces = s.partialLength ? [...s.partial, data] : [data];
  let total = s.partialLength + data.length;
  while (total >= 4 && s.phase.name !== 'failed') {
    const head = firstBytes(pieces, 4);
    const len = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
    if (len > s.config.maxHandshakeMessage) {
      abort(fail.decode(`handshake message of ${len} bytes exceeds the ${s.config.maxHandshakeMessage}-byte limit`));
    }
    if (total < 4 + len) break;
    const { taken, rest } = take(pieces, 4 + len);
    pieces = rest;
    total -= 4 + len;
    // The rest is what a key change would find left over (it must be empty then: RFC 8446 §5.1).
    s.partial = pieces;
    s.partialLength = total;
    s.messagesIn++;
    const msg = decodeHandshakeBody(taken[0]!, taken.subarray(4));
    onHandshakeMessage(cx, msg, taken);
  }
  s.partial = total ? pieces : [];
  s.partialLength = total;
}

/** The first `n` bytes of a list of pieces (a view when the first piece holds them). */
function firstBytes(pieces: readonly Uint8Array[], n: number): Uint8Array {
  if (pieces[0]!.length >= n) return pieces[0]!.subarray(0, n);
  return take(pieces, n).taken;
}

/** Split `n` bytes off the front of a list of pieces: a copy of them (owned) and the remaining pieces. */
function take(pieces: readonly Uint8Array[], n: number): { taken: Uint8Array; rest: Uint8Array[] } {
  const taken = new Uint8Array(n);
  let got = 0;
  let i = 0;
  for (; i < pieces.length && got < n; i++) {
    const p = pieces[i]!;
    const k = Math.min(p.length, n - got);
    taken.set(p.subarray(0, k), got);
    got += k;
    if (k < p.length) return { taken, rest: [p.subarray(k), ...pieces.slice(i + 1)] };
  }
  return { taken, rest: pieces.slice(i) };
}

function onHandshakeMessage(cx: HsCx, msg: HandshakeMessage, raw: Uint8Array): void {
  const s = cx.s;
  if (s.phase.name === 'connected') return onPostHandshake(cx, msg);
  if (s.config.role === 'client') clientHandshake(cx, msg, raw);
  else serverHandshake(cx, msg, raw);
}

/** Post-handshake messages (RFC 8446 §4.6). */
function onPostHandshake(cx: HsCx, msg: HandshakeMessage): void {
  const s = cx.s;
  switch (msg.type) {
    case 'new_session_ticket':
      if (s.config.role !== 'client') abort(fail.unexpected('NewSessionTicket sent to a server'));
      return onNewSessionTicket(cx, msg.body);
    case 'key_update': {
      // RFC 9001 §6: a TLS KeyUpdate in QUIC is a connection error (unexpected_message).
      if (s.config.variant === 'quic') abort(fail.unexpected('KeyUpdate is not used in QUIC'));
      const p = s.config.provider;
      changeReadKey(cx, s.readEpoch + 1, nextTrafficSecret(p, s.suite!.hash, s.readSecret!, s.config.labelPrefix));
      if (msg.body.requestUpdate === KeyUpdateRequest.update_requested) cx.events.push({ type: 'keyUpdateRequested' });
      return;
    }
    default:
      return unexpected(msg, 'NewSessionTicket or KeyUpdate');
  }
}

/** Send KeyUpdate under the current keys, then move our write keys on (RFC 8446 §4.6.3, §7.2). */
function sendKeyUpdate(cx: HsCx, requestPeer: boolean): void {
  const s = cx.s;
  const p = s.config.provider;
  sendHandshake(cx, { type: 'key_update', body: { requestUpdate: requestPeer ? 1 : 0 } });
  changeWriteKey(cx, s.writeEpoch + 1, nextTrafficSecret(p, s.suite!.hash, s.writeSecret!, s.config.labelPrefix));
}

