/**
 * The TLS 1.3 server handshake (RFC 8446 §2, §4): negotiation of version, suite, group (with
 * HelloRetryRequest), ALPN and signature scheme; then the server flight and the client's answer.
 */
import { abort, fail } from '../../core/errors.js';
import { serverKeyExchange, type GroupName } from '../../crypto/provider.js';
import { suiteParams } from '../../crypto/keySchedule.js';
import {
  AlertDescription,
  ExtensionType,
  HRR_RANDOM,
  HandshakeType,
  MAX_PLAINTEXT,
  ProtocolVersion,
  PskKeyExchangeMode,
} from '../../wire/tls/constants.js';
import { type SuiteParams, binderKey, earlySecret, finishedVerifyData, resumptionPsk } from '../../crypto/keySchedule.js';
import { encodeHandshakeBytes, pskBindersLength } from '../../wire/tls/handshake.js';
import { openCookie, sealCookie } from '../cookie.js';
import type { TicketState } from '../session.js';
import type { ClientHello, HandshakeMessage, KeyShareEntry, OfferedPsks } from '../../wire/tls/messages.js';
import { checkCertificateVerify, checkFinishedLength, checkPeerCertificate, chooseScheme, SIGNATURE_ALGORITHMS, sendCertificateAndVerify } from '../auth.js';
import { unexpected } from './client.js';
import { groupCode, groupFromCode } from '../config.js';
import { Epoch } from '../events.js';
import { bytesEqual, concatBytes } from '../../wire/bytes.js';
import {
  deriveApplicationKeys,
  deriveEarlyTrafficSecret,
  deriveHandshakeKeys,
  deriveResumptionSecret,
  finishedData,
} from '../schedule.js';
import {
  QUIC_TRANSPORT_PARAMETERS,
  type CookieConfig,
  type HsCx,
  type RetryState,
  appendTranscript,
  clientHello1Hash,
  changeReadKey,
  changeWriteKey,
  compatCcs,
  completeHandshake,
  endFlight,
  transcriptHash,
  flushHandshake,
  legacyVersion,
  ownVersion,
  sendHandshake,
} from '../state.js';

/** Dispatch one handshake message in a server phase. */
export function serverHandshake(cx: HsCx, msg: HandshakeMessage, raw: Uint8Array): void {
  const ph = cx.s.phase;
  switch (ph.name) {
    case 'expectClientHello':
      if (msg.type !== 'client_hello') return unexpected(msg, 'ClientHello');
      return onClientHello(cx, msg.body, raw, ph.retry);
    case 'expectClientCertificate':
      if (msg.type !== 'certificate') return unexpected(msg, 'Certificate');
      return onClientCertificate(cx, msg.body.context, msg.body.entries.length, raw, msg, ph.clientApp);
    case 'expectClientCertificateVerify':
      if (msg.type !== 'certificate_verify') return unexpected(msg, 'CertificateVerify');
      checkCertificateVerify(cx, msg.body, ph.chain[0]!, 'client');
      appendTranscript(cx, raw);
      cx.s.phase = { name: 'expectClientFinished', clientApp: ph.clientApp };
      return;
    case 'expectEndOfEarlyData':
      if (msg.type !== 'end_of_early_data') return unexpected(msg, 'EndOfEarlyData');
      appendTranscript(cx, raw);
      changeReadKey(cx, Epoch.handshake, cx.s.early.pendingRead!);
      cx.s.early = { status: 'accepted' };
      cx.s.phase = { name: 'expectClientFinished', clientApp: ph.clientApp };
      return;
    case 'expectClientFinished':
      if (msg.type !== 'finished') return unexpected(msg, 'Finished');
      return onClientFinished(cx, msg.body.verifyData, raw, ph.clientApp);
    default:
      return unexpected(msg, `nothing in phase ${ph.name}`);
  }
}

function onClientHello(cx: HsCx, ch: ClientHello, raw: Uint8Array, stateRetry: RetryState | undefined): void {
  const s = cx.s;
  const c = s.config;
  const p = c.provider;
  const ext = ch.extensions;
  const dtls = c.variant === 'dtls';
  // RFC 8446 §4.1.2: a TLS 1.3 ClientHello says legacy_version 0x0303 (RFC 9147 §5.3: DTLS 1.3 says 0xfefd);
  // §D.5: 0x0300 or less MUST be refused with protocol_version. We refuse every version older than TLS 1.2
  // (DTLS 1.2, whose numbers count down from 0xfeff): a client that offers (D)TLS 1.3 never sends one.
  const legacy = ch.legacyVersion ?? 0;
  if (dtls ? legacy >> 8 !== 0xfe || legacy > ProtocolVersion.DTLS1_2 : legacy < ProtocolVersion.TLS1_2) {
    const v = `0x${legacy.toString(16).padStart(4, '0')}`;
    abort(fail.incompatible(AlertDescription.protocol_version, `ClientHello legacy_version ${v} is older than ${dtls ? 'DTLS' : 'TLS'} 1.2`));
  }
  // RFC 9147 §5.3: "If a DTLS 1.3 ClientHello is received with any other value in this field, the server MUST
  // abort the handshake with an "illegal_parameter" alert."
  if (ch.legacyCookie && ch.legacyCookie.length > 0) abort(fail.illegal('non-empty legacy_cookie in a DTLS 1.3 ClientHello'));
  // A stateless server (RFC 9147 §5.1) takes what a stateful one keeps from the cookie, and the transcript with it.
  const retry = stateRetry ?? (c.cookie && ext.cookie ? acceptCookie(cx, ch, c.cookie) : undefined);
  if (retry) {
    // RFC 8446 §4.1.2, §4.2.10: early data is not permitted after a HelloRetryRequest.
    if (ext.earlyData) abort(fail.illegal('second ClientHello offers early_data after a HelloRetryRequest'));
    // The 0-RTT records sent with the first ClientHello were skipped until now. The stream keeps order, so the
    // client sent all of them before this ClientHello (it sends it only after reading our HelloRetryRequest):
    // from here on a record that fails to open is bad_record_mac (§4.2.10 skips only for the ServerHello that
    // rejected 0-RTT for the same ClientHello, and a HelloRetryRequest's skipping ends with the next one).
    if (s.early.status === 'rejected') cx.events.push({ type: 'skipEarlyData', bytes: 0 });
  }
  // RFC 8446 §4.1.2: TLS 1.3 ClientHellos carry exactly one null compression method.
  if (ch.legacyCompressionMethods.length !== 1 || ch.legacyCompressionMethods[0] !== 0) {
    abort(fail.illegal('legacy_compression_methods must be [null]'));
  }
  if (!ext.supportedVersions || !ext.supportedVersions.includes(ownVersion(c))) {
    abort(fail.incompatible(AlertDescription.protocol_version, `client does not offer ${dtls ? 'DTLS' : 'TLS'} 1.3`));
  }
  // RFC 8446 §4.2.11: pre_shared_key must be the last extension.
  if (ext.preSharedKey && ext.order[ext.order.length - 1] !== ExtensionType.pre_shared_key) {
    abort(fail.illegal('pre_shared_key is not the last extension'));
  }
  if (retry && !bytesEqual(ch.legacySessionId, retry.sessionId)) abort(fail.illegal('second ClientHello changed legacy_session_id'));
  if (c.variant === 'quic') {
    // RFC 9001 §8.2: a QUIC ClientHello must carry quic_transport_parameters.
    const tp = ext.unknown.find((u) => u.type === QUIC_TRANSPORT_PARAMETERS);
    if (!tp) abort(fail.incompatible(AlertDescription.missing_extension, 'QUIC ClientHello without quic_transport_parameters'));
    s.peerTransportParameters = tp.data.slice();
    cx.events.push({ type: 'transportParameters', data: s.peerTransportParameters });
  }
  // Suite: server preference among the client's offer; one with the hash of an external PSK the client offers
  // first, so that the PSK can be used (RFC 8446 §4.2.11: a PSK is bound to one hash).
  const pskHash = retry ? undefined : externalPskHash(cx, ch);
  const inOffer = (sc: number) => ch.cipherSuites.includes(sc);
  const suiteCode = retry
    ? retry.suite
    : ((pskHash && c.suites.find((sc) => inOffer(sc) && suiteParams(sc)!.hash === pskHash)) ?? c.suites.find(inOffer));
  // RFC 8446 §4.1.2, §4.1.4: the second ClientHello repeats the first, so it still offers the suite our
  // HelloRetryRequest named; one that does not changed a field it may not change.
  if (retry && !inOffer(retry.suite)) abort(fail.illegal('second ClientHello no longer offers the cipher suite of the HelloRetryRequest'));
  if (suiteCode === undefined || !inOffer(suiteCode)) {
    abort(fail.incompatible(AlertDescription.handshake_failure, 'no cipher suite in common'));
  }
  const suite = suiteParams(suiteCode)!;
  if (ext.preSharedKey && !ext.pskKeyExchangeModes) {
    abort(fail.incompatible(AlertDescription.missing_extension, 'pre_shared_key without psk_key_exchange_modes'));
  }
  s.ticketsWanted = !!ext.pskKeyExchangeModes && ext.pskKeyExchangeModes.length > 0;
  // Resumption: a ticket of ours whose binder verifies (RFC 8446 §4.2.11).
  const psk = ext.preSharedKey ? choosePsk(cx, ch, raw, suite) : undefined;
  const dhe = !psk || psk.mode === PskKeyExchangeMode.psk_dhe_ke;
  if (dhe) {
    if (!ext.supportedGroups) abort(fail.incompatible(AlertDescription.missing_extension, 'ClientHello without supported_groups'));
    if (!ext.keyShares) abort(fail.incompatible(AlertDescription.missing_extension, 'ClientHello without key_share'));
    checkKeyShares(ext.keyShares, ext.supportedGroups);
  }
  if (!psk && !ext.signatureAlgorithms) {
    abort(fail.incompatible(AlertDescription.missing_extension, 'ClientHello without signature_algorithms'));
  }
  // Group: prefer one of ours for which the client sent a share; else ask for one (HelloRetryRequest).
  let chosen: { group: GroupName; share: KeyShareEntry } | undefined;
  if (dhe) {
    for (const g of c.groups) {
      const share = ext.keyShares!.find((k) => k.group === groupCode(g));
      if (share) {
        chosen = { group: g, share };
        break;
      }
    }
    if (retry?.group) {
      // RFC 8446 §4.1.4: the retried ClientHello must carry a share for the group we asked for.
      if (!chosen || chosen.group !== retry.group || ext.keyShares!.length !== 1) {
        abort(fail.illegal('second ClientHello does not carry exactly the requested key share'));
      }
    }
    if (!chosen) {
      // After a HelloRetryRequest for a cookie only, the first ClientHello had a share we could use.
      if (retry) abort(fail.illegal('second ClientHello lacks the usable key share of the first'));
      const group = c.groups.find((g) => ext.supportedGroups!.includes(groupCode(g)));
      if (!group) abort(fail.incompatible(AlertDescription.handshake_failure, 'no key exchange group in common'));
      return c.cookie ? sendStatelessRetry(cx, ch, raw, suite.code, group, c.cookie) : sendHelloRetryRequest(cx, ch, raw, suite.code, group);
    }
  }
  // RFC 9147 §5.1: a stateless server answers every ClientHello without a valid cookie with a HelloRetryRequest
  // carrying one, before it spends anything on the handshake (a key exchange, a signature) or keeps any state.
  if (c.cookie && !retry) return sendStatelessRetry(cx, ch, raw, suite.code, undefined, c.cookie);
  // A ticket is accepted once: a replayed ClientHello falls back to a full handshake (RFC 8446 §8).
  let resumed = psk;
  if (resumed?.ticket && c.antiReplay && !c.antiReplay.firstUse(resumed.identity, cx.now)) resumed = undefined;
  if (!resumed && !dhe) abort(fail.incompatible(AlertDescription.handshake_failure, 'psk_ke offered but the ticket was refused'));
  // Without a certificate (external PSKs only, OpenSSL -nocert) a handshake needs a PSK.
  if (!resumed && !c.key) abort(fail.incompatible(AlertDescription.handshake_failure, 'no known PSK offered, and no certificate to authenticate with'));
  const scheme = resumed ? undefined : chooseScheme(cx, ext.signatureAlgorithms ?? []);
  if (!resumed && scheme === undefined) {
    abort(fail.incompatible(AlertDescription.handshake_failure, 'no signature scheme in common with our key'));
  }
  // ALPN (RFC 7301 §3.2): our preference; no overlap is no_application_protocol.
  let alpn: string | undefined;
  if (ext.alpn && c.alpn && c.alpn.length > 0) {
    alpn = c.alpn.find((a) => ext.alpn!.includes(a));
    if (alpn === undefined) abort(fail.incompatible(AlertDescription.no_application_protocol, 'no ALPN protocol in common'));
  }
  // RFC 9001 §8.1: QUIC endpoints must agree on an application protocol.
  if (c.variant === 'quic' && alpn === undefined) abort(fail.incompatible(AlertDescription.no_application_protocol, 'QUIC ClientHello without ALPN'));
  let shared: Uint8Array | undefined;
  let serverShare: KeyShareEntry | undefined;
  if (chosen) {
    // Diffie-Hellman: a key pair of ours; a KEM (X25519MLKEM768): encapsulation to the client's key.
    const kx = serverKeyExchange(p, chosen.group, chosen.share.keyExchange);
    if (!kx) abort(fail.illegal('invalid client key share'));
    shared = kx.shared;
    serverShare = { group: groupCode(chosen.group), keyExchange: kx.share };
    s.group = chosen.group;
  }
  s.suite = suite;
  s.clientRandom = ch.random;
  s.nego = {
    ...s.nego,
    ...(alpn !== undefined ? { alpn } : {}),
    ...(ext.serverName !== undefined ? { serverName: ext.serverName } : {}),
    resumed: !!resumed?.ticket,
    ...(resumed && !resumed.ticket ? { pskIdentity: resumed.identity } : {}),
  };
  appendTranscript(cx, raw);
  s.committed = true;
  // record_size_limit (RFC 8449): the client's limit bounds what we send; ours is announced in return.
  const announceLimit = ext.recordSizeLimit !== undefined ? (c.recordSizeLimit ?? MAX_PLAINTEXT + 1) : undefined;
  if (ext.recordSizeLimit !== undefined) {
    cx.events.push({ type: 'recordSizeLimit', peer: Math.min(MAX_PLAINTEXT, ext.recordSizeLimit - 1), ...(c.recordSizeLimit !== undefined ? { ours: c.recordSizeLimit } : {}) });
  }
  // 0-RTT (RFC 8446 §4.2.10): only on the first identity, same suite and ALPN, no HelloRetryRequest, a fresh
  // ticket age, and within our limit; otherwise the client's early records are skipped.
  // Early data only with a resumption ticket (never with an external PSK here).
  const ticket = resumed?.ticket;
  const acceptEarly =
    !!ext.earlyData &&
    !!resumed &&
    !!ticket &&
    resumed.index === 0 &&
    !retry &&
    c.maxEarlyData > 0 &&
    ticket.maxEarlyData > 0 &&
    ticket.suite === suite.code &&
    (ticket.alpn ?? '') === (alpn ?? '') &&
    // QUIC (RFC 9001 §4.6.2): what the client remembered with the ticket must still hold, or 0-RTT is refused.
    (!c.earlyDataContext || (ticket.context !== undefined && c.earlyDataContext.accepts(ticket.context))) &&
    Math.abs(resumed.clientAge - (cx.now - ticket.issuedAt)) <= EARLY_AGE_TOLERANCE_MS;
  if (acceptEarly) {
    const secret = deriveEarlyTrafficSecret(cx, suite.hash, resumed!.early, transcriptHash(cx));
    changeReadKey(cx, Epoch.early, secret, c.maxEarlyData);
    s.early = { status: 'accepted' };
  } else if (ext.earlyData) {
    s.early = { status: 'rejected' };
    cx.events.push({ type: 'skipEarlyData', bytes: earlySkipBudget(c) });
  }
  // RFC 9147 §5: a DTLS 1.3 server does not echo legacy_session_id (errata 8066: the echo is empty).
  const echo = dtls ? new Uint8Array(0) : ch.legacySessionId;
  const shOrder = [
    ...(serverShare ? [ExtensionType.key_share] : []),
    ExtensionType.supported_versions,
    ...(resumed ? [ExtensionType.pre_shared_key] : []),
  ];
  sendHandshake(cx, {
    type: 'server_hello',
    body: {
      legacyVersion: legacyVersion(c),
      random: p.randomBytes(32),
      legacySessionIdEcho: echo,
      cipherSuite: suite.code,
      legacyCompressionMethod: 0,
      extensions: {
        supportedVersion: ownVersion(c),
        ...(serverShare ? { keyShare: serverShare } : {}),
        ...(resumed ? { preSharedKey: resumed.index } : {}),
        unknown: [],
        // Wire order as in RFC 8448 and OpenSSL: key_share, supported_versions, pre_shared_key.
        order: shOrder,
      },
    },
  });
  flushHandshake(cx);
  // Middlebox compatibility: CCS right after the first server handshake message, when the client asked for it.
  if (echo.length > 0) compatCcs(cx);
  const keys = deriveHandshakeKeys(cx, shared, resumed?.psk);
  changeWriteKey(cx, Epoch.handshake, keys.server);
  if (acceptEarly) s.early = { status: 'accepted', pendingRead: keys.client };
  else changeReadKey(cx, Epoch.handshake, keys.client);
  sendHandshake(cx, {
    type: 'encrypted_extensions',
    body: {
      ...(alpn !== undefined ? { alpn } : {}),
      ...(ext.serverName !== undefined ? { serverNameAck: true as const } : {}),
      ...(acceptEarly ? { earlyData: true as const } : {}),
      ...(announceLimit !== undefined ? { recordSizeLimit: announceLimit } : {}),
      unknown: c.transportParameters ? [{ type: QUIC_TRANSPORT_PARAMETERS, data: c.transportParameters }] : [],
      order: [],
    },
  });
  const askCert = c.requestClientCert && !resumed;
  if (askCert) {
    sendHandshake(cx, {
      type: 'certificate_request',
      body: { context: new Uint8Array(0), signatureAlgorithms: SIGNATURE_ALGORITHMS, unknown: [], order: [] },
    });
  }
  if (!resumed) sendCertificateAndVerify(cx, 'server', scheme!, new Uint8Array(0));
  sendHandshake(cx, { type: 'finished', body: { verifyData: finishedData(cx, s.secrets.serverHs!) } });
  const app = deriveApplicationKeys(cx);
  changeWriteKey(cx, Epoch.application, app.server);
  cx.events.push({ type: 'flightEnd' });
  // QUIC has no EndOfEarlyData: the client's handshake keys come with its first Handshake packet (RFC 9001 §8.3).
  // Nor has DTLS (RFC 9147 §5.6; and rxtls refuses DTLS early data in createHandshake).
  const clientApp = app.client;
  if (acceptEarly && c.variant !== 'tls') {
    changeReadKey(cx, Epoch.handshake, s.early.pendingRead!);
    s.early = { status: 'accepted' };
  }
  s.phase =
    acceptEarly && c.variant === 'tls'
      ? { name: 'expectEndOfEarlyData', clientApp }
      : askCert
        ? { name: 'expectClientCertificate', clientApp }
        : { name: 'expectClientFinished', clientApp };
}

/** How far the client's view of a ticket's age may differ from ours for 0-RTT (RFC 8446 §8.3). */
const EARLY_AGE_TOLERANCE_MS = 10_000;
/** Rejected early data we are willing to skip when we accept none ourselves (tickets of an older configuration). */
export const EARLY_SKIP_LIMIT = 1 << 16;

/** Rejected early data skipped (RFC 8446 §4.2.10): "up to the configured max_early_data_size", else {@link EARLY_SKIP_LIMIT}. */
const earlySkipBudget = (c: { readonly maxEarlyData: number }): number => (c.maxEarlyData > 0 ? c.maxEarlyData : EARLY_SKIP_LIMIT);

interface ChosenPsk {
  readonly index: number;
  readonly identity: Uint8Array;
  /** The ticket's contents; absent for an external PSK. */
  readonly ticket?: TicketState;
  readonly psk: Uint8Array;
  readonly early: Uint8Array;
  readonly mode: number;
  /** The client's view of the ticket age, ms. */
  readonly clientAge: number;
}

/**
 * Offered PSK identities the server looks at: the first 16. Each costs a ticket decryption (about 36 µs with noble)
 * or a lookup, and a ClientHello can carry some 1 700 of them; clients offer one or two. The others are ignored, as
 * RFC 8446 §4.2.11 lets a server ignore any PSK.
 */
export const MAX_PSK_IDENTITIES_TRIED = 16;

/** The identities of `offered` the server tries ({@link MAX_PSK_IDENTITIES_TRIED}). */
const identitiesTried = (offered: OfferedPsks) => offered.identities.slice(0, MAX_PSK_IDENTITIES_TRIED);

/** The hash of the first offered identity that is one of our external PSKs, if any. */
function externalPskHash(cx: HsCx, ch: ClientHello): 'sha256' | 'sha384' | undefined {
  const lookup = cx.s.config.externalPskLookup;
  if (!lookup || !ch.extensions.preSharedKey) return undefined;
  for (const id of identitiesTried(ch.extensions.preSharedKey)) {
    const found = lookup(id.identity);
    if (found) return found.hash ?? 'sha256';
  }
  return undefined;
}

/**
 * Find the first offered identity we can use with a suite of the same hash — an external PSK of
 * `externalPskLookup`, or a ticket of ours within its lifetime — and check its binder over the truncated
 * ClientHello ("ext binder" or "res binder"; a bad binder aborts with decrypt_error, RFC 8446 §4.2.11).
 */
function choosePsk(cx: HsCx, ch: ClientHello, raw: Uint8Array, suite: SuiteParams): ChosenPsk | undefined {
  const s = cx.s;
  const c = s.config;
  const offered = ch.extensions.preSharedKey!;
  const modes = ch.extensions.pskKeyExchangeModes ?? [];
  const mode = [PskKeyExchangeMode.psk_dhe_ke, PskKeyExchangeMode.psk_ke].find((m) => modes.includes(m) && c.pskModes.includes(m));
  if ((!c.ticketer && !c.externalPskLookup) || mode === undefined) return undefined;
  const p = c.provider;
  const pre = c.labelPrefix;
  const checkBinder = (index: number, early: Uint8Array, external: boolean): void => {
    const truncated = raw.subarray(0, raw.length - pskBindersLength(offered));
    const h = p.hash(suite.hash, concatBytes([...s.transcript, truncated]));
    const expected = finishedVerifyData(p, suite.hash, binderKey(p, suite.hash, early, external, pre), h, pre);
    if (!bytesEqual(expected, offered.binders[index]!)) {
      abort(fail.misbehaved(AlertDescription.decrypt_error, 'PSK binder does not verify'));
    }
  };
  for (const [index, id] of identitiesTried(offered).entries()) {
    const external = c.externalPskLookup?.(id.identity);
    if (external) {
      if ((external.hash ?? 'sha256') !== suite.hash) continue;
      const early = earlySecret(p, suite.hash, external.key);
      checkBinder(index, early, true);
      return { index, identity: id.identity, psk: external.key, early, mode, clientAge: 0 };
    }
    if (!c.ticketer) continue;
    const state = c.ticketer.open(p, cx.now, id.identity);
    if (!state) continue;
    const ticketSuite = suiteParams(state.suite);
    if (!ticketSuite || ticketSuite.hash !== suite.hash) continue;
    const age = cx.now - state.issuedAt;
    if (age < 0 || age >= state.lifetime * 1000) continue;
    const early = earlySecret(p, suite.hash, state.psk);
    checkBinder(index, early, false);
    const clientAge = (id.obfuscatedTicketAge - state.ageAdd) >>> 0;
    return { index, identity: id.identity, ticket: state, psk: state.psk, early, mode, clientAge };
  }
  return undefined;
}

/** Issue NewSessionTickets after the handshake (RFC 8446 §4.6.1). */
export function sendTickets(cx: HsCx): void {
  const s = cx.s;
  const c = s.config;
  if (!c.ticketer || !s.ticketsWanted || c.ticketCount <= 0) return;
  const p = c.provider;
  const suite = s.suite!;
  for (let i = 0; i < c.ticketCount; i++) {
    const nonce = Uint8Array.of(i);
    const psk = resumptionPsk(p, suite.hash, s.secrets.resumption!, nonce, c.labelPrefix);
    const r = p.randomBytes(4);
    const ageAdd = ((r[0]! << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!) >>> 0;
    const ticket = c.ticketer.seal(p, cx.now, {
      suite: suite.code,
      psk,
      issuedAt: cx.now,
      ageAdd,
      lifetime: c.ticketer.lifetime,
      maxEarlyData: c.maxEarlyData,
      ...(s.nego.alpn !== undefined ? { alpn: s.nego.alpn } : {}),
      ...(s.nego.serverName !== undefined ? { serverName: s.nego.serverName } : {}),
      ...(c.earlyDataContext ? { context: c.earlyDataContext.data } : {}),
    });
    sendHandshake(cx, {
      type: 'new_session_ticket',
      body: {
        lifetime: c.ticketer.lifetime,
        ageAdd,
        nonce,
        ticket,
        // RFC 9001 §4.6.1: in QUIC the size is always 0xffffffff (flow control limits 0-RTT instead).
        ...(c.maxEarlyData > 0 ? { maxEarlyDataSize: c.variant === 'quic' ? 0xffff_ffff : c.maxEarlyData } : {}),
        unknown: [],
      },
    });
  }
  flushHandshake(cx);
}

/** RFC 8446 §4.2.8: no duplicate groups, and every share's group must be in supported_groups. */
function checkKeyShares(shares: readonly KeyShareEntry[], supported: readonly number[]): void {
  const seen = new Set<number>();
  // A set: a ClientHello can carry some 6 000 shares and 16 000 groups, and a scan per share took 100 ms.
  const offered = new Set(supported);
  for (const sh of shares) {
    if (seen.has(sh.group)) abort(fail.illegal('duplicate key share group'));
    seen.add(sh.group);
    if (!offered.has(sh.group)) abort(fail.illegal('key share for a group not in supported_groups'));
  }
}

/** The synthetic message_hash that stands for ClientHello1 in the transcript (RFC 8446 §4.4.1). */
function messageHash(clientHelloHash: Uint8Array): Uint8Array {
  const synthetic = new Uint8Array(4 + clientHelloHash.length);
  synthetic[0] = HandshakeType.message_hash;
  synthetic[3] = clientHelloHash.length;
  synthetic.set(clientHelloHash, 4);
  return synthetic;
}

/**
 * A HelloRetryRequest (RFC 8446 §4.1.4), built only from what a stateless cookie carries, so that the server that
 * checks the cookie re-encodes the same bytes for its transcript: legacy_version and supported_versions of the
 * variant, the HelloRetryRequest random, the suite, extensions in the codec's default order (supported_versions,
 * key_share, cookie).
 */
function helloRetryRequest(cx: HsCx, sessionIdEcho: Uint8Array, suite: number, group: GroupName | undefined, cookie?: Uint8Array): HandshakeMessage {
  const c = cx.s.config;
  return {
    type: 'server_hello',
    body: {
      legacyVersion: legacyVersion(c),
      random: HRR_RANDOM,
      legacySessionIdEcho: sessionIdEcho,
      cipherSuite: suite,
      legacyCompressionMethod: 0,
      extensions: {
        supportedVersion: ownVersion(c),
        ...(group ? { selectedGroup: groupCode(group) } : {}),
        ...(cookie ? { cookie } : {}),
        unknown: [],
        order: [],
      },
    },
  };
}

/** A HelloRetryRequest asking for `group`, with the state to check the second ClientHello kept here. */
function sendHelloRetryRequest(cx: HsCx, ch: ClientHello, raw: Uint8Array, suite: number, group: GroupName): void {
  const s = cx.s;
  const params = suiteParams(suite)!;
  s.suite = params;
  s.transcript = [messageHash(clientHello1Hash(s.config, params.hash, raw))];
  s.nego = { ...s.nego, helloRetry: true };
  // RFC 9147 §5: a DTLS 1.3 server does not echo legacy_session_id.
  const echo = s.config.variant === 'dtls' ? new Uint8Array(0) : ch.legacySessionId;
  sendHandshake(cx, helloRetryRequest(cx, echo, suite, group));
  flushHandshake(cx);
  if (echo.length > 0) compatCcs(cx);
  endFlight(cx);
  s.phase = { name: 'expectClientHello', retry: { group, suite, sessionId: ch.legacySessionId } };
  s.committed = true;
  // Early data sent with the first ClientHello is skipped (RFC 8446 §4.2.10).
  if (ch.extensions.earlyData) {
    s.early = { status: 'rejected' };
    cx.events.push({ type: 'skipEarlyData', bytes: earlySkipBudget(s.config) });
  }
}

/**
 * A stateless HelloRetryRequest (RFC 9147 §5.1): a cookie carries the suite, the group we ask for (if any), the
 * legacy_session_id and Hash(ClientHello1), and the state keeps nothing of this ClientHello: still
 * `expectClientHello`, no transcript, not committed, as a fresh engine is.
 */
function sendStatelessRetry(cx: HsCx, ch: ClientHello, raw: Uint8Array, suite: number, group: GroupName | undefined, key: CookieConfig): void {
  const s = cx.s;
  const p = s.config.provider;
  const cookie = sealCookie(p, key, {
    issuedAt: cx.now,
    suite,
    ...(group ? { group: groupCode(group) } : {}),
    sessionId: ch.legacySessionId,
    clientHelloHash: clientHello1Hash(s.config, suiteParams(suite)!.hash, raw),
  });
  // Sent without entering the transcript: the server that gets the cookie back rebuilds it (acceptCookie).
  cx.out.push(encodeHandshakeBytes(helloRetryRequest(cx, new Uint8Array(0), suite, group, cookie)));
  endFlight(cx);
  s.phase = { name: 'expectClientHello' };
  if (ch.extensions.earlyData) {
    s.early = { status: 'rejected' };
    cx.events.push({ type: 'skipEarlyData', bytes: earlySkipBudget(s.config) });
  }
}

/**
 * Check the cookie of a ClientHello that answers a stateless HelloRetryRequest (RFC 9147 §5.1): its MAC under our
 * secret and binding, its age, and that the ClientHello still fits what the HelloRetryRequest asked (the suite is
 * still offered; with a selected group, exactly one key share, for that group). When it holds, the transcript
 * becomes what a stateful server would hold, message_hash(ClientHello1) and the HelloRetryRequest re-encoded with
 * the cookie as received (RFC 8446 §4.4.1), and the checks of a second ClientHello follow. When it does not, the
 * handshake ends with illegal_parameter (RFC 9147 §5.1, which reversed the drafts' "MUST NOT terminate"): a cookie
 * that fails its MAC, has expired, was issued to another address, or a ClientHello that changed what the
 * HelloRetryRequest fixed (RFC 8446 §4.1.2), as a stateful server refuses it.
 */
function acceptCookie(cx: HsCx, ch: ClientHello, key: CookieConfig): RetryState {
  const s = cx.s;
  const c = s.config;
  const cookie = ch.extensions.cookie!;
  const opened = openCookie(c.provider, key, cookie, cx.now, key.lifetime);
  if (!opened) abort(fail.illegal('invalid cookie (forged, expired, or issued to another address)'));
  const params = suiteParams(opened.suite);
  if (!params || !c.suites.includes(opened.suite) || opened.clientHelloHash.length !== c.provider.hashLength(params.hash)) {
    abort(fail.illegal('invalid cookie (a suite this server does not offer)'));
  }
  if (!ch.cipherSuites.includes(opened.suite)) abort(fail.illegal('second ClientHello no longer offers the cipher suite of the HelloRetryRequest'));
  let group: GroupName | undefined;
  if (opened.group !== undefined) {
    group = groupFromCode(opened.group);
    if (!group || !c.groups.includes(group)) abort(fail.illegal('invalid cookie (a group this server does not offer)'));
    const shares = ch.extensions.keyShares;
    if (!shares || shares.length !== 1 || shares[0]!.group !== opened.group) {
      abort(fail.illegal('second ClientHello does not carry exactly one key share, for the group of the HelloRetryRequest'));
    }
  }
  s.suite = params;
  const hrr = encodeHandshakeBytes(helloRetryRequest(cx, new Uint8Array(0), opened.suite, group, cookie));
  s.transcript = [messageHash(opened.clientHelloHash), hrr];
  s.nego = { ...s.nego, helloRetry: true };
  return { ...(group ? { group } : {}), suite: opened.suite, sessionId: opened.sessionId };
}

function onClientCertificate(
  cx: HsCx,
  context: Uint8Array,
  count: number,
  raw: Uint8Array,
  msg: HandshakeMessage,
  clientApp: Uint8Array,
): void {
  const s = cx.s;
  if (context.length !== 0) abort(fail.illegal('certificate_request_context mismatch'));
  if (count === 0) {
    if (s.config.requireClientCert) {
      abort(fail.incompatible(AlertDescription.certificate_required, 'client sent no certificate'));
    }
    appendTranscript(cx, raw);
    s.phase = { name: 'expectClientFinished', clientApp };
    return;
  }
  if (msg.type !== 'certificate') return;
  // Requested but not required: a certificate that does not verify is reported, not fatal (node:tls semantics).
  const chain = checkPeerCertificate(cx, msg.body, 'client', !s.config.requireClientCert);
  appendTranscript(cx, raw);
  s.phase = { name: 'expectClientCertificateVerify', chain, clientApp };
}

function onClientFinished(cx: HsCx, verifyData: Uint8Array, raw: Uint8Array, clientApp: Uint8Array): void {
  const s = cx.s;
  const expected = finishedData(cx, s.secrets.clientHs!);
  checkFinishedLength(verifyData, expected);
  if (!bytesEqual(expected, verifyData)) abort(fail.misbehaved(AlertDescription.decrypt_error, 'client Finished does not verify'));
  appendTranscript(cx, raw);
  changeReadKey(cx, Epoch.application, clientApp);
  deriveResumptionSecret(cx);
  completeHandshake(cx);
  sendTickets(cx);
}
