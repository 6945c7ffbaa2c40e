/**
 * The handshake engine: TLS 1.3 (RFC 8446 §4), shared by TLS over streams, DTLS 1.3 and QUIC; and TLS 1.2
 * (RFC 5246 §7) over streams, when both ends allow it and one of them does not speak TLS 1.3.
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
 *         (DTLS with cookieSecret: expectClientHello ─CH without a valid cookie→ stateless HRR, expectClientHello
 *         again and not committed; ─CH with a valid cookie→ as after a HelloRetryRequest)
 *         → [expectClientCertificate → expectClientCertificateVerify] → expectClientFinished ─Fin→ connected
 * any:    fatal error → failed
 * ```
 *
 * The version is decided here: a client offering TLS 1.2 and 1.3 sends one ClientHello (supported_versions and
 * the TLS 1.2 extensions) and continues in the TLS 1.2 states (`tls12/client.ts`) when the ServerHello has no
 * supported_versions; a server takes TLS 1.3 when offered and allowed, else TLS 1.2 when allowed
 * (`tls12/server.ts`). TLS 1.2 changes keys at ChangeCipherSpec: the engine emits `changeCipherSpec` and
 * `tls12KeyChange` events, and the layer hands a received ChangeCipherSpec to {@link changeCipherSpec}.
 *
 * @example
 * ```ts
 * let hs = createHandshake({ role: 'client', serverName: 'example.com', verifier }, 'tls');
 * let step = startHandshake(hs, Date.now());  // events: send(epoch 0, ClientHello), flightEnd
 * step = handshakeData(step.state, 0, serverHelloBytes, Date.now()); // keyChange(read, 2), keyChange(write, 2)…
 * ```
 */
import { DecodeError } from '../wire/reader.js';
import { AlertDescription, HandshakeType, KeyUpdateRequest, ProtocolVersion, PskKeyExchangeMode } from '../wire/tls/constants.js';
import { decodeHandshakeBody } from '../wire/tls/handshake.js';
import type { ClientHello, HandshakeMessage } from '../wire/tls/messages.js';
import { type Tls12Message, decodeTls12HandshakeBody } from '../wire/tls/tls12.js';
import { tls12SuiteParams } from '../crypto/prf.js';
import { ProtocolAbort, TlsError, abort, fail, misuse, type TlsErrorDetail } from '../core/errors.js';
import { integerIn, shown } from '../core/validate.js';
import type { HandshakeInfo } from '../core/types.js';
import { nobleProvider } from '../crypto/noble.js';
import { nextTrafficSecret, suiteParams, TLS13 } from '../crypto/keySchedule.js';
import { DEFAULT_MIN_RSA_BITS } from '../crypto/x509.js';
import {
  checkAlpnProtocols,
  DEFAULT_GROUPS,
  DEFAULT_SUITES,
  type ExternalPsk,
  type HandshakeClientConfig,
  type HandshakeConfig,
  type HandshakeServerConfig,
  type TlsVersionName,
  suiteCode,
} from './config.js';
import { COOKIE_SECRET_LENGTH, DEFAULT_COOKIE_LIFETIME } from './cookie.js';
import { Epoch, type HsEvent, type HsVariant } from './events.js';
import {
  type CookieConfig,
  type HsCx,
  type HsResolved,
  type HsState,
  type MessageTrace,
  changeReadKey,
  changeWriteKey,
  flushHandshake,
  helloFormat,
  is12,
  ownVersion,
  version12,
  DTLS13_DRAFT43_VERSION,
  sendHandshake,
} from './state.js';
import { clientHandshake, clientStart, onHelloVerifyRequest, onNewSessionTicket, unexpected } from './tls13/client.js';
import { HELLO_VERIFY_REQUEST, decodeHelloVerifyRequest, sendHelloVerifyRequest, validHelloCookie } from './tls12/helloVerify.js';
import { serverHandshake } from './tls13/server.js';
import { clientHandshake12, onServerHello12, unexpected12 } from './tls12/client.js';
import { onClientHello12, serverHandshake12 } from './tls12/server.js';
import { receiveCcs } from './tls12/common.js';

/** The engine's state. Opaque: read it through the queries of this module. */
export type HandshakeState = Readonly<HsState> & { readonly __brand?: 'HandshakeState' };

/** The engine's answer to one call. */
export interface HsStep {
  readonly state: HandshakeState;
  /** What the layer must do, in order. */
  readonly events: readonly HsEvent[];
  /** Set when the handshake failed: the layer sends the alert (or QUIC code) it maps to and closes. */
  readonly error?: TlsErrorDetail;
  /** With `traceMessages`: each handshake message received or queued in this step, in order (`-msg`). */
  readonly trace?: readonly MessageTrace[];
}

/** Largest handshake message accepted by default (certificate chains included): 128 KiB. */
export const MAX_HANDSHAKE_MESSAGE = 1 << 17;

/**
 * Create a handshake for one connection. `variant` fixes the label prefix (`dtls13` for DTLS) and the
 * messages that apply; QUIC passes its encoded transport parameters (RFC 9001 §8.2).
 * @throws TlsError `apiMisuse` for an unusable configuration (a server without certificate and key, a client
 * without a verifier, bad ALPN names, QUIC without ALPN or transport parameters, early data in DTLS, a
 * cookieSecret that is not 32 bytes).
 */
export function createHandshake(
  config: HandshakeConfig,
  variant: HsVariant,
  transportParameters?: Uint8Array,
  options: { readonly dtlsDraft43?: boolean } = {},
): HandshakeState {
  const dtlsDraft43 = variant === 'dtls' && !!options.dtlsDraft43;
  if (dtlsDraft43 && ((config.role === 'client' && (config.session || config.externalPsk)) || (config.role === 'server' && (config.ticketer || config.externalPskLookup)))) {
    // The PSK binder covers a partial ClientHello, whose draft-43 transcript form this mode does not build.
    throw misuse('DTLS draft-43 mode has no PSK: no session, externalPsk, ticketer or externalPskLookup');
  }
  if (config.role === 'server' && !config.externalPskLookup && (!config.certificateChain?.length || !config.privateKey)) {
    throw misuse('a server needs certificateChain and privateKey (or externalPskLookup)');
  }
  if (config.role === 'server' && !!config.certificateChain?.length !== !!config.privateKey) {
    throw misuse('certificateChain and privateKey go together');
  }
  if (config.role === 'client' && !config.verifier && !config.externalPsk) {
    throw misuse('a client needs a certificate verifier (use the explicit insecure verifier to skip verification)');
  }
  const externalPsk = config.role === 'client' ? resolveExternalPsk(config) : undefined;
  if (config.role === 'server' && config.requestClientCertificate && !config.verifier) {
    throw misuse('requesting client certificates needs a verifier');
  }
  if (config.alpnProtocols !== undefined) checkAlpnProtocols(config.alpnProtocols);
  if (variant === 'quic') {
    // RFC 9001 §8.1: QUIC uses ALPN; §8.2: transport parameters travel in the handshake.
    if (!config.alpnProtocols?.length) throw misuse('QUIC needs alpnProtocols (RFC 9001 §8.1)');
    if (!(transportParameters instanceof Uint8Array)) throw misuse('QUIC needs encoded transport parameters');
  }
  if (variant === 'dtls' && ((config.role === 'client' && config.earlyData) || (config.role === 'server' && (config.maxEarlyData ?? 0) > 0))) {
    // RFC 9147 §5.6: DTLS 0-RTT ends by epoch, without EndOfEarlyData; rxtls does not implement it.
    throw misuse('DTLS 1.3 early data is not supported');
  }
  const cookie = config.role === 'server' ? resolveCookie(config, variant) : undefined;
  const maxHandshakeMessage = integerIn('maxHandshakeMessage', config.maxHandshakeMessage ?? MAX_HANDSHAKE_MESSAGE, 1024, 1 << 24);
  // RFC 8449 §4: at least 64; above 2^14 + 1 only as a TLS 1.3 peer's limit, which rxtls never needs to raise.
  if (config.recordSizeLimit !== undefined) integerIn('recordSizeLimit', config.recordSizeLimit, 64, 16385);
  const minRsaBits = integerIn('minRsaBits', config.minRsaBits ?? DEFAULT_MIN_RSA_BITS, 0, 16384);
  if (config.pskModes !== undefined) checkPskModes(config.pskModes);
  // max_early_data_size is a uint32 on the wire (RFC 8446 §4.2.10).
  if (config.role === 'server' && config.maxEarlyData !== undefined) integerIn('maxEarlyData', config.maxEarlyData, 0, 0xffff_ffff);
  const { versions, suites, suites12 } = resolveVersions(config, variant, dtlsDraft43);
  const resolved: HsResolved = {
    role: config.role,
    variant,
    versions,
    labelPrefix: variant === 'dtls' ? 'dtls13' : TLS13,
    provider: config.provider ?? nobleProvider,
    suites,
    suites12,
    requireEms: config.requireExtendedMasterSecret ?? true,
    groups: config.groups ?? DEFAULT_GROUPS,
    ...(config.alpnProtocols ? { alpn: config.alpnProtocols } : {}),
    chain: config.certificateChain ?? [],
    ...(config.privateKey ? { key: config.privateKey } : {}),
    ...(config.verifier ? { verifier: config.verifier } : {}),
    // RFC 9001 §8.4, RFC 9147 §5: no middlebox compatibility mode outside TLS over streams.
    middleboxCompat: variant === 'tls' ? (config.middleboxCompat ?? true) : false,
    keyLog: config.keyLog ?? false,
    traceMessages: config.traceMessages ?? false,
    ...(config.role === 'client' && config.serverName !== undefined ? { serverName: config.serverName } : {}),
    keyShareCount: config.role === 'client' ? (config.keyShareCount ?? 1) : 1,
    dtlsDraft43,
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
    ...(config.role === 'server' && config.earlyDataContext ? { earlyDataContext: config.earlyDataContext } : {}),
    ...(externalPsk ? { externalPsk } : {}),
    ...(config.role === 'server' && config.externalPskLookup ? { externalPskLookup: config.externalPskLookup } : {}),
    ...(config.recordSizeLimit !== undefined ? { recordSizeLimit: config.recordSizeLimit } : {}),
    maxHandshakeMessage,
    minRsaBits,
    ...(transportParameters ? { transportParameters: transportParameters.slice() } : {}),
    ...(cookie ? { cookie } : {}),
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
    partialLength: 0,
    bytesCopied: 0,
    messagesIn: 0,
    ccsSent: false,
    committed: false,
    msgSeqOut: 0,
  };
}

const VERSION_CODES: Readonly<Record<TlsVersionName, number>> = {
  'TLSv1.2': ProtocolVersion.TLS1_2,
  'TLSv1.3': ProtocolVersion.TLS1_3,
  'DTLSv1.2': ProtocolVersion.DTLS1_2,
  'DTLSv1.3': ProtocolVersion.DTLS1_3,
};

/** A version's rank (DTLS numbers count down: 0xfefd is DTLS 1.2, 0xfefc DTLS 1.3). */
const rank = (v: number): number => (v === ProtocolVersion.TLS1_3 || v === ProtocolVersion.DTLS1_3 ? 3 : 2);

/**
 * The versions and suites in force: `minVersion`..`maxVersion`, less a version none of whose suites is configured.
 * TLS over streams: `'TLSv1.2'`..`'TLSv1.3'` (the default); DTLS: `'DTLSv1.2'`..`'DTLSv1.3'` (the default; draft-43
 * mode speaks its DTLS 1.3 only); QUIC: TLS 1.3 only.
 * @throws TlsError `apiMisuse` for unknown names or names of the other transport, min above max, TLS 1.2 in QUIC,
 *   or no suite for any version.
 */
function resolveVersions(config: HandshakeConfig, variant: HsVariant, dtlsDraft43 = false): { versions: number[]; suites: number[]; suites12: number[] } {
  const dtls = variant === 'dtls';
  const prefix = dtls ? 'DTLSv' : 'TLSv';
  const name = (v: TlsVersionName | undefined, def: string): number | undefined => {
    const n = v ?? `${prefix}${def}`;
    return n.startsWith(prefix) ? VERSION_CODES[n as TlsVersionName] : undefined;
  };
  const min = name(config.minVersion, '1.2');
  const max = name(config.maxVersion, '1.3');
  if (min === undefined || max === undefined) throw misuse(`minVersion / maxVersion must be '${prefix}1.2' or '${prefix}1.3'`);
  if (rank(min) > rank(max)) throw misuse('minVersion is above maxVersion');
  const codes = (config.cipherSuites ?? DEFAULT_SUITES).map(suiteCode);
  const suites = codes.filter((c) => suiteParams(c) !== undefined);
  if (variant === 'quic') {
    // QUIC (RFC 9001 §4.2) has no TLS 1.2.
    if (rank(max) < 3) throw misuse('QUIC needs TLS 1.3 (RFC 9001 §4.2)');
    if (suites.length === 0) throw misuse('no TLS 1.3 cipher suite configured');
    return { versions: [ProtocolVersion.TLS1_3], suites, suites12: [] };
  }
  const suites12 = codes.filter((c) => tls12SuiteParams(c) !== undefined);
  const v13 = dtls ? (dtlsDraft43 ? DTLS13_DRAFT43_VERSION : ProtocolVersion.DTLS1_3) : ProtocolVersion.TLS1_3;
  const v12 = dtls ? ProtocolVersion.DTLS1_2 : ProtocolVersion.TLS1_2;
  const versions = [v13, ...(dtlsDraft43 ? [] : [v12])].filter(
    (v) => rank(v) >= rank(min) && rank(v) <= rank(max) && (v === v12 ? suites12.length > 0 : suites.length > 0),
  );
  if (versions.length === 0) throw misuse('no configured cipher suite belongs to a version between minVersion and maxVersion');
  return {
    versions,
    suites: versions.includes(v13) ? suites : [],
    suites12: versions.includes(v12) ? suites12 : [],
  };
}

/** `pskModes` checked: a list of `psk_dhe_ke` / `psk_ke` (RFC 8446 §4.2.9). */
function checkPskModes(modes: unknown): void {
  if (!Array.isArray(modes)) throw misuse(`pskModes must be a list of 'psk_dhe_ke' / 'psk_ke', got ${shown(modes)}`);
  for (const m of modes as unknown[]) {
    if (m !== 'psk_dhe_ke' && m !== 'psk_ke') throw misuse(`pskModes: unknown mode ${shown(m)} (known: psk_dhe_ke, psk_ke)`);
  }
}

/**
 * A server's cookie settings checked (secret 32 B, binding 0..65535 B, lifetime 1 ms..1 day); in force only in
 * DTLS (RFC 9147 §5.1), where the first ClientHello of every handshake is then answered statelessly.
 */
function resolveCookie(config: HandshakeServerConfig, variant: HsVariant): CookieConfig | undefined {
  const { cookieSecret: secret, cookieBinding: binding, cookieLifetime: lifetime = DEFAULT_COOKIE_LIFETIME } = config;
  if (secret !== undefined && (!(secret instanceof Uint8Array) || secret.length !== COOKIE_SECRET_LENGTH)) {
    throw misuse(`cookieSecret must be ${COOKIE_SECRET_LENGTH} bytes`);
  }
  if (binding !== undefined && (!(binding instanceof Uint8Array) || binding.length > 0xffff)) throw misuse('cookieBinding must be 0..65535 bytes');
  integerIn('cookieLifetime', lifetime, 1, 86_400_000);
  if (!secret || variant !== 'dtls') return undefined;
  return { secret: secret.slice(), binding: binding?.slice() ?? new Uint8Array(0), lifetime };
}

/** A client's external PSK checked (RFC 8446 §4.2.11: identity 1..2^16−1 B), with its hash resolved. */
function resolveExternalPsk(config: HandshakeClientConfig): Required<ExternalPsk> | undefined {
  const psk = config.externalPsk;
  if (!psk) return undefined;
  if (!(psk.identity instanceof Uint8Array) || psk.identity.length < 1 || psk.identity.length > 0xffff) {
    throw misuse('externalPsk.identity must be 1..65535 bytes');
  }
  if (!(psk.key instanceof Uint8Array) || psk.key.length < 1 || psk.key.length > 1024) throw misuse('externalPsk.key must be 1..1024 bytes');
  const hash = psk.hash ?? 'sha256';
  if (hash !== 'sha256' && hash !== 'sha384') throw misuse(`externalPsk.hash must be sha256 or sha384, got ${String(hash)}`);
  if (config.pskModes?.length === 0) throw misuse('externalPsk needs at least one of pskModes');
  const suites = (config.cipherSuites ?? DEFAULT_SUITES).map(suiteCode);
  if (!suites.some((c) => suiteParams(c)?.hash === hash)) throw misuse(`externalPsk: no offered cipher suite uses ${hash}`);
  return { identity: psk.identity.slice(), key: psk.key.slice(), hash };
}

/** Begin: a client sends its ClientHello; a server waits for one. */
export function startHandshake(state: HandshakeState, now: number): HsStep {
  if (state.phase.name !== 'idle') throw misuse('handshake already started');
  return run(state, now, undefined, (cx) => {
    if (cx.s.config.role === 'client') clientStart(cx);
    else cx.s.phase = { name: 'expectClientHello' };
  });
}

/**
 * Handshake bytes from the peer, received under the read keys of `epoch` (a record's content, a QUIC level's
 * CRYPTO stream, a reassembled DTLS message), any chunking. Bytes at another epoch than the current read epoch
 * are unexpected_message (RFC 9001 §4.1.3 for QUIC).
 */
export function handshakeData(state: HandshakeState, epoch: number, data: Uint8Array, now: number, messageSeq?: number): HsStep {
  if (state.phase.name === 'idle') throw misuse('handshake data before start');
  if (state.phase.name === 'failed') return { state, events: [] };
  return run(state, now, messageSeq, (cx) => {
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
  if (is12(state)) throw misuse('(D)TLS 1.2 has no KeyUpdate');
  return run(state, now, undefined, (cx) => sendKeyUpdate(cx, requestPeer));
}

/**
 * TLS 1.2: the peer's ChangeCipherSpec arrived (RFC 5246 §7.1); the layer checked its form (one byte, 1). Expected
 * only right before the peer's Finished: the read keys change (a `tls12KeyChange` event); anywhere else, or with
 * part of a handshake message pending, it is unexpected_message. TLS 1.3's middlebox-compatibility
 * change_cipher_spec (RFC 8446 §5) is the layer's to drop, before a TLS 1.2 ServerHello or without one.
 */
export function changeCipherSpec(state: HandshakeState, now: number): HsStep {
  if (state.phase.name === 'idle') throw misuse('ChangeCipherSpec before start');
  if (state.phase.name === 'failed') return { state, events: [] };
  return run(state, now, undefined, (cx) => {
    if (!is12(cx.s) || cx.s.phase.name !== 'expectChangeCipherSpec') {
      abort(fail.unexpected(`ChangeCipherSpec in phase ${cx.s.phase.name}`));
    }
    receiveCcs(cx, cx.s.config.role === 'client' ? 'server' : 'client');
  });
}

/**
 * The negotiated protocol version as on the wire (0x0304 TLS 1.3, 0x0303 TLS 1.2; DTLS 1.3 0xfefc), once the hellos
 * settled it: a client knows it from the ServerHello, a server once it answered the ClientHello.
 */
export function negotiatedVersion(state: HandshakeState): number | undefined {
  return state.version;
}

/** What was negotiated, once the handshake completed. */
export function negotiated(state: HandshakeState): HandshakeInfo | undefined {
  return state.info;
}

/** True once the handshake completed (post-handshake messages may still come). */
export function isHandshakeComplete(state: HandshakeState): boolean {
  return state.phase.name === 'connected';
}

/**
 * True once this state must be kept for the connection: always for a client; for a server once it accepted a
 * ClientHello (answered it with a ServerHello, or with a HelloRetryRequest it keeps state for). A DTLS server with
 * `cookieSecret` commits only to a ClientHello with a valid cookie (RFC 9147 §5.1): after its stateless
 * HelloRetryRequest this stays false, and the layer drops the state (after sending the HelloRetryRequest) and
 * hands the next ClientHello to a fresh engine. A failed state keeps the value it had.
 *
 * @example
 * ```ts
 * const step = handshakeData(server, 0, clientHello, now); // a stateless HelloRetryRequest with a cookie
 * send(step.events);
 * if (!step.error && !isHandshakeCommitted(step.state)) forget(peer); // the next ClientHello: a fresh engine
 * ```
 */
export function isHandshakeCommitted(state: HandshakeState): boolean {
  return state.config.role === 'client' || state.committed;
}

/** True after a fatal error. */
export function isHandshakeFailed(state: HandshakeState): boolean {
  return state.phase.name === 'failed';
}

/** The name of the current state (`expectServerHello`, …), for diagnostics. */
export function handshakePhase(state: HandshakeState): string {
  return state.phase.name;
}

/**
 * Whether this handshake may still end in (D)TLS 1.3: it was negotiated, or, before the hellos settled the
 * version, this endpoint offers it. TLS 1.3's allowances (a middlebox CCS dropped, RFC 8446 §5) do not apply to
 * an endpoint that negotiates TLS 1.2 only.
 */
export function mayBeTls13(state: HandshakeState): boolean {
  const own = ownVersion(state.config);
  return state.version !== undefined ? state.version === own : state.config.versions.includes(own);
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
function run(state: HandshakeState, now: number, msgSeq: number | undefined, body: (cx: HsCx) => void): HsStep {
  const s: HsState = { ...state, nego: { ...state.nego } };
  const cx: HsCx = { s, now, events: [], out: [], ...(msgSeq !== undefined ? { msgSeq } : {}), ...(state.config.traceMessages ? { trace: [] } : {}) };
  try {
    body(cx);
    flushHandshake(cx);
    return { state: s, events: cx.events, ...(cx.trace ? { trace: cx.trace } : {}) };
  } catch (e) {
    let error: TlsErrorDetail;
    if (e instanceof ProtocolAbort) error = e.detail;
    else if (e instanceof DecodeError) error = fail.decode(e.message, e.alert);
    else if (e instanceof TlsError && e.kind === 'apiMisuse') throw e;
    else error = fail.internal(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    s.phase = { name: 'failed' };
    delete s.partial;
    s.partialLength = 0;
    // Whatever was queued is dropped: only the alert goes out.
    return { state: s, events: cx.events.filter((ev) => ev.type === 'keyLog'), error, ...(cx.trace ? { trace: cx.trace } : {}) };
  }
}

/**
 * Pieces (records, CRYPTO chunks) a handshake message may always arrive in, whatever its length: enough for any
 * real ClientHello in 1-byte records (RFC 8446 §5.1 and RFC 5246 §6.2.1 allow any fragmentation; censorship-evading
 * clients and tlsfuzzer's fragmentation scripts send them so), at about a microsecond a record.
 */
export const MIN_PIECES_PER_MESSAGE = 4096;
/**
 * Beyond {@link MIN_PIECES_PER_MESSAGE}, one more piece per this many bytes of the message, so a long message may
 * not be dribbled byte by byte: no real peer comes near it (records carry up to 2^14 bytes, and the smallest
 * record_size_limit, RFC 8449 §4, still allows 63 content bytes a record), and a 128 KiB message in 1-byte records
 * would cost 130 000 records' work where this bound stops it at 8 000.
 */
export const BYTES_PER_PIECE = 32;

/** The most pieces a handshake message of `total` bytes (header included) may arrive in. */
export function maxPiecesFor(total: number): number {
  return MIN_PIECES_PER_MESSAGE + Math.floor(total / BYTES_PER_PIECE);
}

/**
 * Reassemble handshake messages (RFC 8446 §5.1: they may span records, and a record may hold several). A
 * message inside one piece is copied out once; one spread over pieces is copied into a buffer sized from its
 * header as the pieces come ({@link PartialMessage}), so the work is linear in the bytes received, and the
 * number of pieces per message is bounded ({@link maxPiecesFor}): a peer dribbling a long message in tiny records
 * gets unexpected_message (as OpenSSL bounds empty records, `MAX_EMPTY_RECORDS`, with the same alert).
 */
function onHandshakeBytes(cx: HsCx, data: Uint8Array): void {
  const s = cx.s;
  let off = 0;
  if (s.partial) {
    const pieces = s.partial.pieces + 1;
    const bound = s.partial.headerOnly ? MIN_PIECES_PER_MESSAGE : maxPiecesFor(s.partial.buf.length);
    if (pieces > bound) {
      abort(fail.unexpected(`handshake message fragmented into more than ${bound} pieces`));
    }
    off = appendPartial(cx, data, pieces);
  }
  while (off < data.length && s.phase.name !== 'failed') {
    const avail = data.length - off;
    if (avail < 4) {
      startPartial(cx, new Uint8Array(4), data.subarray(off), true);
      return;
    }
    const len = messageLength(s, data, off);
    if (avail < 4 + len) {
      startPartial(cx, new Uint8Array(4 + len), data.subarray(off), false);
      return;
    }
    // The whole message is in this piece: one copy, owned by the transcript from now on.
    const raw = data.slice(off, off + 4 + len);
    s.bytesCopied += raw.length;
    off += raw.length;
    // What follows in this piece is what a key change would find left over (it must be none: RFC 8446 §5.1).
    s.partialLength = data.length - off;
    deliverMessage(cx, raw);
  }
  if (!s.partial) s.partialLength = 0;
}

/** The body length from a message header at `off` of `bytes`, refused above `maxHandshakeMessage`. */
function messageLength(s: HsState, bytes: Uint8Array, off: number): number {
  const len = (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!;
  if (len > s.config.maxHandshakeMessage) {
    abort(fail.decode(`handshake message of ${len} bytes exceeds the ${s.config.maxHandshakeMessage}-byte limit`));
  }
  return len;
}

/** Begin a partial message in `buf` (fresh, owned by this state) with the first piece `bytes`. */
function startPartial(cx: HsCx, buf: Uint8Array, bytes: Uint8Array, headerOnly: boolean): void {
  const s = cx.s;
  buf.set(bytes);
  s.bytesCopied += bytes.length;
  s.partial = { buf, filled: bytes.length, headerOnly, pieces: 1, tip: { end: bytes.length } };
  s.partialLength = bytes.length;
}

/**
 * Continue the partial message with `data` (its `pieces`-th piece); returns how many bytes of `data` it took.
 * A completed message is handed on; the rest of `data` starts the next one.
 */
function appendPartial(cx: HsCx, data: Uint8Array, pieces: number): number {
  const s = cx.s;
  let p = s.partial!;
  let off = 0;
  if (p.headerOnly) {
    const n = Math.min(4 - p.filled, data.length);
    const head = new Uint8Array(4);
    head.set(p.buf.subarray(0, p.filled));
    head.set(data.subarray(0, n), p.filled);
    s.bytesCopied += p.filled + n;
    off = n;
    if (p.filled + n < 4) {
      s.partial = { buf: head, filled: p.filled + n, headerOnly: true, pieces, tip: { end: p.filled + n } };
      s.partialLength = p.filled + n;
      return off;
    }
    const len = messageLength(s, head, 0);
    const buf = new Uint8Array(4 + len);
    buf.set(head);
    p = { buf, filled: 4, headerOnly: false, pieces, tip: { end: 4 } };
    if (pieces > maxPiecesFor(buf.length)) abort(fail.unexpected(`handshake message fragmented into more than ${maxPiecesFor(buf.length)} pieces`));
  }
  const n = Math.min(p.buf.length - p.filled, data.length - off);
  let buf = p.buf;
  let tip = p.tip;
  if (tip.end !== p.filled) {
    // Another state sharing this buffer appended already (a replayed or forked state): copy ours out first.
    buf = new Uint8Array(p.buf.length);
    buf.set(p.buf.subarray(0, p.filled));
    s.bytesCopied += p.filled;
    tip = { end: p.filled };
  }
  buf.set(data.subarray(off, off + n), p.filled);
  s.bytesCopied += n;
  const filled = p.filled + n;
  tip.end = filled;
  off += n;
  if (filled < buf.length) {
    s.partial = { buf, filled, headerOnly: false, pieces, tip };
    s.partialLength = filled;
    return off;
  }
  delete s.partial;
  s.partialLength = data.length - off;
  deliverMessage(cx, buf);
  return off;
}

/** A complete handshake message: decode it and hand it to the current state. */
function deliverMessage(cx: HsCx, raw: Uint8Array): void {
  cx.s.messagesIn++;
  cx.trace?.push({ dir: 'received', type: raw[0]!, length: raw.length });
  const c = cx.s.config;
  if (raw[0] === HandshakeType.hello_request && c.role === 'client' && cx.s.phase.name !== 'connected' && negotiates12(cx.s)) {
    // RFC 5246 §7.4.1.1: a client that is negotiating ignores a HelloRequest, and it is not part of the
    // transcript (OpenSSL too, before the version is known). TLS 1.3 has no such message: a 1.3-only client, or
    // one whose ServerHello chose TLS 1.3, refuses it. Once connected it is a refused renegotiation.
    if (raw.length !== 4) abort(fail.decode('HelloRequest with a body'));
    return;
  }
  if (raw[0] === HELLO_VERIFY_REQUEST && c.variant === 'dtls' && c.role === 'client' && cx.s.phase.name === 'expectServerHello') {
    const hvr = decodeHelloVerifyRequest(raw.subarray(4));
    if (!hvr) abort(fail.decode('malformed HelloVerifyRequest'));
    return onHelloVerifyRequest(cx, hvr.cookie);
  }
  // The first message of the peer has one type (RFC 8446 §4, RFC 5246 §7.3): any other is unexpected_message,
  // judged from its type before its body is decoded (a Certificate there is not a decode_error).
  const first = cx.s.phase.name === 'expectServerHello' ? HandshakeType.server_hello : cx.s.phase.name === 'expectClientHello' ? HandshakeType.client_hello : undefined;
  if (first !== undefined && raw[0] !== first) abort(fail.unexpected(`handshake message type ${raw[0]} where a ${first === HandshakeType.server_hello ? 'ServerHello' : 'ClientHello'} belongs`));
  if (is12(cx.s)) {
    return onTls12Message(cx, decodeTls12HandshakeBody(raw[0]!, raw.subarray(4), helloFormat(cx.s.config)), raw);
  }
  const msg = decodeHandshakeBody(raw[0]!, raw.subarray(4), helloFormat(cx.s.config));
  onHandshakeMessage(cx, msg, raw);
}

/**
 * Bytes the engine copied while reassembling handshake messages, over its whole life: each received handshake
 * byte once (plus one copy of a partial message when an old state is replayed). A cost counter for tests.
 */
export function handshakeBytesCopied(state: HandshakeState): number {
  return state.bytesCopied;
}

function onHandshakeMessage(cx: HsCx, msg: HandshakeMessage, raw: Uint8Array): void {
  const s = cx.s;
  const ph = s.phase;
  if (ph.name === 'connected') return onPostHandshake(cx, msg);
  if (s.config.role === 'client') {
    if (ph.name === 'expectServerHello' && msg.type === 'server_hello') {
      const selected = msg.body.extensions.supportedVersion;
      // RFC 8446 §4.2.1: without supported_versions the server chose TLS 1.2 (or older).
      if (selected === undefined && s.config.versions.includes(version12(s.config))) return onServerHello12(cx, ph.offer, msg.body, raw);
      // A client that did not offer TLS 1.3 gets a TLS 1.3 ServerHello: an unoffered version (illegal_parameter).
      if (selected !== undefined && !s.config.versions.includes(ownVersion(s.config))) {
        abort(fail.illegal(`server selected unoffered version 0x${selected.toString(16)}`));
      }
    }
    return clientHandshake(cx, msg, raw);
  }
  if (ph.name === 'expectClientHello' && !ph.retry && msg.type === 'client_hello') {
    const v = chooseVersion(s.config, msg.body);
    if (v === version12(s.config)) {
      // DTLS 1.2 with cookies: a ClientHello without a valid one gets a stateless HelloVerifyRequest (RFC 6347 §4.2.1).
      if (s.config.cookie && !validHelloCookie(cx, msg.body, s.config.cookie)) return sendHelloVerifyRequest(cx, msg.body, s.config.cookie);
      return onClientHello12(cx, msg.body, raw);
    }
    if (v === undefined) abort(fail.incompatible(AlertDescription.protocol_version, 'no protocol version in common'));
  }
  serverHandshake(cx, msg, raw);
}


/**
 * The server's version for a first ClientHello (RFC 8446 §4.2.1, RFC 5246 §E.1): TLS 1.3 when offered in
 * supported_versions and allowed; else TLS 1.2 when allowed and offered (in supported_versions, or, without the
 * extension, by a legacy_version of at least 0x0303). `undefined`: nothing in common. DTLS and QUIC: their
 * (D)TLS 1.3, whose server code checks the offer.
 */
function chooseVersion(c: HsState['config'], ch: ClientHello): number | undefined {
  const own = ownVersion(c);
  if (c.variant === 'quic') return own;
  const v12 = version12(c);
  const offered = ch.extensions.supportedVersions;
  if (offered?.includes(own) && c.versions.includes(own)) return own;
  if (!c.versions.includes(v12)) {
    // Leave the refusal (and its alert) to the TLS 1.3 server code when TLS 1.3 is all we speak.
    return c.versions.includes(own) ? own : undefined;
  }
  const legacy = ch.legacyVersion ?? 0;
  // Without supported_versions: legacy_version at least 1.2 (RFC 5246 §E.1); DTLS counts down (RFC 6347 §4.1).
  const legacyOk = c.variant === 'dtls' ? legacy >>> 8 === 0xfe && legacy <= v12 : legacy >= v12;
  const tls12 = offered ? offered.includes(v12) : legacyOk;
  return tls12 ? v12 : c.versions.includes(own) ? own : undefined;
}

/**
 * Whether this handshake is (D)TLS 1.2: negotiated so, or, for a TLS client before its ServerHello, offering
 * TLS 1.2 (the version is not known yet).
 */
function negotiates12(s: HsState): boolean {
  return is12(s) || (s.config.variant === 'tls' && s.version === undefined && s.config.versions.includes(ProtocolVersion.TLS1_2));
}

/** A TLS 1.2 message: the handshake states of the role, or, once connected, a refused renegotiation. */
function onTls12Message(cx: HsCx, msg: Tls12Message, raw: Uint8Array): void {
  const s = cx.s;
  if (s.phase.name === 'connected') {
    // RFC 5746 §4.2, §4.4: rxtls never renegotiates; a HelloRequest (client) or a ClientHello (server) is
    // answered with a no_renegotiation warning and the connection goes on.
    if (s.config.role === 'client' ? msg.type === 'hello_request' : msg.type === 'client_hello') {
      cx.events.push({ type: 'noRenegotiation' });
      return;
    }
    return unexpected12(msg, s.config.role === 'client' ? 'HelloRequest' : 'ClientHello');
  }
  if (s.config.role === 'client') clientHandshake12(cx, msg, raw);
  else serverHandshake12(cx, msg, raw);
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

