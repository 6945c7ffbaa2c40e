/**
 * The TLS 1.2 client handshake (RFC 5246 §7.3; ECDHE per RFC 8422; extended master secret, RFC 7627; secure
 * renegotiation signalling, RFC 5746; tickets, RFC 5077), entered when the ServerHello selects TLS 1.2. One
 * handler per expected message, as for TLS 1.3:
 *
 * ```
 * full:    ServerHello → expectCertificate12 ─Cert→ expectServerKeyExchange ─SKE→ expectCertificateRequestOrDone
 *          ─(CertificateRequest→ expectServerHelloDone)─ServerHelloDone→ [Certificate] ClientKeyExchange
 *          [CertificateVerify] CCS Finished → [expectNewSessionTicket12] → expectChangeCipherSpec ─CCS→
 *          expectFinished12 ─Fin→ connected
 * resumed: ServerHello (our session id echoed) → [expectNewSessionTicket12] → expectChangeCipherSpec ─CCS→
 *          expectFinished12 ─Fin→ CCS Finished, connected
 * ```
 */
import { abort, fail } from '../../core/errors.js';
import { tls12SuiteParams } from '../../crypto/prf.js';
import { KEM_GROUPS } from '../../crypto/provider.js';
import { certificateSpki } from '../../crypto/x509.js';
import { spkiKeyType } from '../../crypto/signatures.js';
import { bytesEqual } from '../../wire/bytes.js';
import {
  AlertDescription,
  ClientCertificateType,
  DOWNGRADE_TLS11,
  DOWNGRADE_TLS12,
  EcPointFormat,
  MAX_PLAINTEXT,
} from '../../wire/tls/constants.js';
import type { ServerHello, UnknownExtension } from '../../wire/tls/messages.js';
import {
  type Certificate12,
  type CertificateRequest12,
  type Tls12Message,
  encodeTls12HelloExtensions,
  readServerHello12Extensions,
} from '../../wire/tls/tls12.js';
import { SIGNATURE_ALGORITHMS, checkPeerCertificate } from '../auth.js';
import { groupFromCode } from '../config.js';
import { MAX_TICKET_LIFETIME, type TlsSession, sessionUsable } from '../session.js';
import { type ClientOffer, type HsCx, type PeerKeyShare, completeHandshake, draft43Message, endFlight, ownVersion, sentServerName, version12 } from '../state.js';
import {
  appendTranscript12,
  certificateVerifyContent12,
  checkFinished12,
  chooseScheme12,
  deriveMaster,
  installMaster,
  sendCcsAndFinished,
  sendHandshake12,
  serverKeyExchangeContent,
  sign12,
  st12,
  suiteFitsKey,
  verify12,
} from './common.js';

/** The lifetime given to a ticket whose server sent no hint (RFC 5077 §3.3: 0 means unspecified), seconds. */
const DEFAULT_TICKET_LIFETIME = 7200;

/**
 * The TLS 1.2 session to offer (RFC 5077 §3.4): the configured one if it is a TLS 1.2 session (its suite a TLS 1.2
 * suite we offer), usable now, for this server name, and tickets are wanted (`pskModes` not empty).
 */
export function offerableSession12(cx: HsCx): TlsSession | undefined {
  const c = cx.s.config;
  const session = c.session;
  if (!session || c.pskModes.length === 0 || !c.versions.includes(version12(c))) return undefined;
  if (!tls12SuiteParams(session.suite) || !c.suites12.includes(session.suite)) return undefined;
  if (!sessionUsable(session, cx.now) || (c.serverName ?? '') !== session.serverName) return undefined;
  return session;
}

/**
 * The TLS 1.2 part of a ClientHello: renegotiation_info (empty: an initial handshake, RFC 5746 §3.4),
 * ec_point_formats (uncompressed, RFC 8422 §5.1.2), extended_master_secret (RFC 7627 §5.1) and session_ticket
 * (RFC 5077 §3.2: the offered session's ticket, else empty; none when `pskModes` is empty).
 */
export function clientHello12Extensions(cx: HsCx, session12: TlsSession | undefined): UnknownExtension[] {
  const c = cx.s.config;
  return encodeTls12HelloExtensions({
    renegotiationInfo: new Uint8Array(0),
    ecPointFormats: [EcPointFormat.uncompressed],
    extendedMasterSecret: true,
    ...(c.pskModes.length > 0 ? { sessionTicket: session12?.ticket ?? new Uint8Array(0) } : {}),
  });
}

/** A ServerHello without supported_versions: the server chose TLS 1.2 (RFC 8446 §4.2.1). */
export function onServerHello12(cx: HsCx, offer: ClientOffer, sh: ServerHello, raw: Uint8Array): void {
  const s = cx.s;
  const c = s.config;
  // RFC 8446 §4.1.4: a server that sent a HelloRetryRequest has chosen TLS 1.3.
  if (offer.retried) abort(fail.illegal('TLS 1.2 ServerHello after a HelloRetryRequest'));
  if (sh.legacyVersion !== version12(c)) {
    abort(fail.incompatible(AlertDescription.protocol_version, `server selected version 0x${(sh.legacyVersion ?? 0).toString(16)}`));
  }
  // RFC 8446 §4.1.3: a TLS 1.3 client MUST check the downgrade sentinels; one of them is illegal_parameter.
  if (c.versions.includes(ownVersion(c))) {
    const tail = sh.random.subarray(24);
    if (bytesEqual(tail, DOWNGRADE_TLS12) || bytesEqual(tail, DOWNGRADE_TLS11)) {
      abort(fail.illegal('TLS 1.2 ServerHello carries the TLS 1.3 downgrade sentinel'));
    }
  }
  const suite = tls12SuiteParams(sh.cipherSuite);
  if (!suite || !c.suites12.includes(suite.code) || !offer.hello.cipherSuites.includes(suite.code)) {
    abort(fail.illegal('server selected an unoffered cipher suite'));
  }
  if (sh.legacyCompressionMethod !== 0) abort(fail.illegal('non-null compression method'));
  const ext = readServerHello12Extensions(sh.extensions.unknown);
  const unsolicited = ext.others[0];
  if (unsolicited) {
    abort(fail.incompatible(AlertDescription.unsupported_extension, `ServerHello carries extension ${unsolicited.type}, which we did not offer`));
  }
  // RFC 5746 §3.4: in an initial handshake renegotiated_connection is empty; its absence is a server without
  // secure renegotiation, which we refuse as OpenSSL 3 does (SSL_OP_LEGACY_SERVER_CONNECT off).
  if (!ext.renegotiationInfo) abort(fail.incompatible(AlertDescription.handshake_failure, 'server does not support secure renegotiation (RFC 5746)'));
  if (ext.renegotiationInfo.length !== 0) abort(fail.incompatible(AlertDescription.handshake_failure, 'non-empty renegotiation_info in an initial handshake'));
  if (!ext.extendedMasterSecret && c.requireEms) {
    abort(fail.incompatible(AlertDescription.handshake_failure, 'server does not support the extended master secret (RFC 7627)'));
  }
  // RFC 8422 §5.2: a server that sends ec_point_formats must include uncompressed.
  if (ext.ecPointFormats && !ext.ecPointFormats.includes(EcPointFormat.uncompressed)) abort(fail.illegal('ec_point_formats without uncompressed'));
  if (ext.sessionTicket !== undefined) {
    if (c.pskModes.length === 0) abort(fail.incompatible(AlertDescription.unsupported_extension, 'unsolicited session_ticket'));
    if (ext.sessionTicket.length !== 0) abort(fail.decode('non-empty session_ticket in a ServerHello'));
  }
  // RFC 5246 §7.4.1.4: an extension type in the ServerHello that the ClientHello did not carry is
  // unsupported_extension; an answer that does not fit what it carried is illegal_parameter.
  if (ext.serverNameAck && !sentServerName(c)) abort(fail.incompatible(AlertDescription.unsupported_extension, 'ServerHello acknowledges server_name, and we sent none'));
  if (ext.alpn !== undefined && !c.alpn?.length) abort(fail.incompatible(AlertDescription.unsupported_extension, 'ServerHello carries ALPN, and we offered none'));
  if (ext.alpn !== undefined && !c.alpn?.includes(ext.alpn)) abort(fail.illegal(`server selected unoffered ALPN protocol "${ext.alpn}"`));
  if (ext.recordSizeLimit !== undefined) {
    if (c.recordSizeLimit === undefined) abort(fail.incompatible(AlertDescription.unsupported_extension, 'unsolicited record_size_limit'));
    // RFC 8449 §4: in TLS 1.2 the limit counts plaintext only.
    cx.events.push({ type: 'recordSizeLimit', peer: Math.min(MAX_PLAINTEXT, ext.recordSizeLimit), ours: c.recordSizeLimit });
  }
  // RFC 5077 §3.4: the server accepts the ticket by echoing the session ID the client sent with it.
  const echo = sh.legacySessionIdEcho;
  const echoed = echo.length > 0 && bytesEqual(echo, offer.hello.legacySessionId);
  const session = offer.session12;
  if (echoed && !session) abort(fail.illegal('server resumed a session that was not offered'));
  const resumed = echoed && !!session;
  if (resumed && session!.suite !== suite.code) abort(fail.illegal('resumed session with another cipher suite'));
  // RFC 7627 §5.3: every TLS 1.2 session we keep used the extended master secret (a non-EMS one is never kept),
  // so a server that resumes it without the extension is refused, whatever requireExtendedMasterSecret says.
  if (resumed && !ext.extendedMasterSecret) {
    abort(fail.incompatible(AlertDescription.handshake_failure, 'server resumed an extended-master-secret session without the extension (RFC 7627 §5.3)'));
  }
  // DTLS 1.2 (RFC 6347 §4.2.6): the ClientHello (the one with the cookie, after a HelloVerifyRequest) is hashed
  // in DTLS form too, with the message_seq it went out with.
  if (c.variant === 'dtls') s.transcript = s.transcript.map((m) => draft43Message(m, s.msgSeqOut - 1));
  appendTranscript12(cx, raw);
  s.version = version12(c);
  s.tls12 = {
    suite,
    clientRandom: offer.hello.random,
    serverRandom: sh.random,
    ems: !!ext.extendedMasterSecret,
    resumed,
    ticketExpected: ext.sessionTicket !== undefined,
    ...(resumed ? { session } : {}),
  };
  s.nego = { ...s.nego, resumed, ...(ext.alpn !== undefined ? { alpn: ext.alpn } : {}) };
  if (resumed) {
    installMaster(cx, session!.psk);
    s.phase = ext.sessionTicket !== undefined ? { name: 'expectNewSessionTicket12' } : { name: 'expectChangeCipherSpec' };
  } else {
    s.phase = { name: 'expectCertificate12' };
  }
}

/** Dispatch one TLS 1.2 handshake message in a client phase. */
export function clientHandshake12(cx: HsCx, msg: Tls12Message, raw: Uint8Array): void {
  const ph = cx.s.phase;
  // A HelloRequest during the handshake never gets here: the engine ignores it (RFC 5246 §7.4.1.1).
  switch (ph.name) {
    case 'expectCertificate12':
      if (msg.type !== 'certificate') return unexpected12(msg, 'Certificate');
      return onCertificate(cx, msg.body, raw);
    case 'expectServerKeyExchange':
      if (msg.type !== 'server_key_exchange') return unexpected12(msg, 'ServerKeyExchange');
      return onServerKeyExchange(cx, ph.chain, msg.body, raw);
    case 'expectCertificateRequestOrDone':
      if (msg.type === 'certificate_request') {
        appendTranscript12(cx, raw);
        cx.s.phase = { name: 'expectServerHelloDone', kx: ph.kx, request: msg.body };
        return;
      }
      if (msg.type !== 'server_hello_done') return unexpected12(msg, 'CertificateRequest or ServerHelloDone');
      return onServerHelloDone(cx, ph.kx, undefined, raw);
    case 'expectServerHelloDone':
      if (msg.type !== 'server_hello_done') return unexpected12(msg, 'ServerHelloDone');
      return onServerHelloDone(cx, ph.kx, ph.request, raw);
    case 'expectNewSessionTicket12':
      if (msg.type !== 'new_session_ticket') return unexpected12(msg, 'NewSessionTicket');
      return onNewSessionTicket12(cx, msg.body.lifetimeHint, msg.body.ticket, raw);
    case 'expectFinished12':
      if (msg.type !== 'finished') return unexpected12(msg, 'Finished');
      return onServerFinished12(cx, msg.body.verifyData, raw);
    case 'expectChangeCipherSpec':
      return unexpected12(msg, 'ChangeCipherSpec');
    default:
      return unexpected12(msg, `nothing in phase ${ph.name}`);
  }
}

/** "inappropriate message: expected X, got Y" (unexpected_message). */
export function unexpected12(msg: Tls12Message, expected: string): never {
  abort(fail.unexpected(`inappropriate TLS 1.2 handshake message: expected ${expected}, got ${msg.type}`));
}

/** A TLS 1.2 Certificate as the TLS 1.3 chain check takes it. */
export function asCertificate(c: Certificate12) {
  return { context: new Uint8Array(0), entries: c.certificates.map((cert) => ({ cert, extensions: [] })) };
}

function onCertificate(cx: HsCx, cert: Certificate12, raw: Uint8Array): void {
  // An empty server certificate list: the verifier's no_certificate (decode_error, as in TLS 1.3).
  const chain = checkPeerCertificate(cx, asCertificate(cert), 'server');
  appendTranscript12(cx, raw);
  cx.s.phase = { name: 'expectServerKeyExchange', chain };
}

function onServerKeyExchange(cx: HsCx, chain: readonly Uint8Array[], ske: { group: number; publicKey: Uint8Array; scheme: number; signature: Uint8Array }, raw: Uint8Array): void {
  const s = cx.s;
  const t = st12(cx);
  const group = groupFromCode(ske.group);
  // RFC 8422 §5.4: the curve must be one the client offered in supported_groups.
  if (!group || KEM_GROUPS.has(group) || !s.config.groups.includes(group)) abort(fail.illegal(`ServerKeyExchange with unoffered group ${ske.group}`));
  const leaf = chain[0]!;
  // The certificate must fit the suite (ECDHE_ECDSA: an ECDSA or EdDSA key; ECDHE_RSA: an RSA key).
  let keyType;
  try {
    keyType = spkiKeyType(certificateSpki(leaf));
  } catch {
    keyType = 'unknown' as const;
  }
  if (!suiteFitsKey(t.suite, keyType)) abort(fail.incompatible(AlertDescription.unsupported_certificate, `a ${keyType} certificate for ${t.suite.name}`));
  const content = serverKeyExchangeContent(t.clientRandom, t.serverRandom, ske.group, ske.publicKey);
  verify12(cx, leaf, ske.scheme, SIGNATURE_ALGORITHMS, content, ske.signature, 'ServerKeyExchange');
  appendTranscript12(cx, raw);
  s.group = group;
  s.phase = { name: 'expectCertificateRequestOrDone', kx: { group, publicKey: ske.publicKey } };
}

/**
 * ServerHelloDone: our second flight (RFC 5246 §7.3): [Certificate], ClientKeyExchange, [CertificateVerify],
 * ChangeCipherSpec, Finished. The master secret is derived after ClientKeyExchange (RFC 7627 §4: the session
 * hash ends there).
 */
function onServerHelloDone(cx: HsCx, kx: PeerKeyShare, request: CertificateRequest12 | undefined, raw: Uint8Array): void {
  const s = cx.s;
  const c = s.config;
  const p = c.provider;
  appendTranscript12(cx, raw);
  let scheme: number | undefined;
  if (request) {
    // RFC 5246 §7.4.6: a certificate of a requested type signing with a requested algorithm, else an empty one.
    const kind = c.key?.kind;
    const typeOk =
      kind !== undefined &&
      (kind === 'rsa' || kind === 'rsa-pss'
        ? request.certificateTypes.includes(ClientCertificateType.rsa_sign)
        : request.certificateTypes.includes(ClientCertificateType.ecdsa_sign));
    scheme = typeOk && c.chain.length > 0 ? chooseScheme12(c.key, request.signatureAlgorithms) : undefined;
    sendHandshake12(cx, { type: 'certificate', body: { certificates: scheme !== undefined ? c.chain : [] } });
  }
  const kp = p.generateKeyPair(kx.group);
  const shared = p.sharedSecret(kx.group, kp.privateKey, kx.publicKey);
  if (!shared) abort(fail.illegal('invalid ServerKeyExchange public key'));
  sendHandshake12(cx, { type: 'client_key_exchange', body: { publicKey: kp.publicKey } });
  deriveMaster(cx, shared);
  if (scheme !== undefined) {
    sendHandshake12(cx, { type: 'certificate_verify', body: { scheme, signature: sign12(cx, scheme, certificateVerifyContent12(cx)) } });
  }
  sendCcsAndFinished(cx, 'client');
  endFlight(cx);
  s.phase = st12(cx).ticketExpected ? { name: 'expectNewSessionTicket12' } : { name: 'expectChangeCipherSpec' };
}

/** NewSessionTicket (RFC 5077 §3.3), part of the transcript; reported as a session once the handshake completes. */
function onNewSessionTicket12(cx: HsCx, lifetimeHint: number, ticket: Uint8Array, raw: Uint8Array): void {
  const s = cx.s;
  const t = st12(cx);
  appendTranscript12(cx, raw);
  s.phase = { name: 'expectChangeCipherSpec' };
  // An empty ticket: the server will not resume this session (RFC 5077 §3.3); a non-EMS one is never kept.
  if (ticket.length === 0 || !t.ems) {
    const { session: _dropped, ...rest } = t;
    s.tls12 = rest;
    return;
  }
  const session: TlsSession = {
    serverName: s.config.serverName ?? '',
    suite: t.suite.code,
    // A TLS 1.2 session resumes from its master secret (48 B).
    psk: t.master!.slice(),
    ticket: ticket.slice(),
    ageAdd: 0,
    lifetime: Math.min(lifetimeHint > 0 ? lifetimeHint : DEFAULT_TICKET_LIFETIME, MAX_TICKET_LIFETIME),
    receivedAt: cx.now,
    maxEarlyData: 0,
    ...(s.nego.alpn !== undefined ? { alpn: s.nego.alpn } : {}),
  };
  s.tls12 = { ...t, session };
}

function onServerFinished12(cx: HsCx, verifyData: Uint8Array, raw: Uint8Array): void {
  const t = st12(cx);
  checkFinished12(cx, verifyData, raw, 'server');
  if (t.resumed) {
    // Abbreviated handshake (RFC 5246 §7.3, Figure 2): the client's CCS and Finished come last.
    sendCcsAndFinished(cx, 'client');
    endFlight(cx);
  }
  completeHandshake(cx);
  const session = st12(cx).session;
  if (session) cx.events.push({ type: 'session', session });
}
