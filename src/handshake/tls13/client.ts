/**
 * The TLS 1.3 client handshake (RFC 8446 §2, §4): one handler per expected message, each checking the message
 * and moving the working state to the next phase.
 */
import { abort, fail } from '../../core/errors.js';
import type { GroupName, KeyExchangeKeyPair } from '../../crypto/provider.js';
import { binderKey, earlySecret, finishedVerifyData, resumptionPsk, suiteParams } from '../../crypto/keySchedule.js';
import { encodeHandshakeBytes, pskBindersLength } from '../../wire/tls/handshake.js';
import { MAX_TICKET_LIFETIME, type TlsSession, sessionUsable } from '../session.js';
import { clientHello12Extensions, offerableSession12 } from '../tls12/client.js';
import { MAX_HELLO_VERIFY_REQUESTS } from '../tls12/helloVerify.js';
import { Epoch } from '../events.js';
import { bytesEqual, concatBytes } from '../../wire/bytes.js';
import {
  AlertDescription,
  HRR_RANDOM,
  MAX_PLAINTEXT,
  HandshakeType,
  PskKeyExchangeMode,
} from '../../wire/tls/constants.js';
import type {
  Certificate,
  CertificateRequest,
  ClientHello,
  EncryptedExtensions,
  HandshakeMessage,
  NewSessionTicket,
  ServerHello,
} from '../../wire/tls/messages.js';
import { SIGNATURE_ALGORITHMS, checkCertificateVerify, checkFinishedLength, checkPeerCertificate, chooseScheme, sendCertificateAndVerify } from '../auth.js';
import { groupCode, groupFromCode } from '../config.js';
import { protocolVersionName } from '../../wire/tls/versionName.js';
import {
  deriveApplicationKeys,
  deriveEarlyTrafficSecret,
  deriveHandshakeKeys,
  deriveResumptionSecret,
  finishedData,
} from '../schedule.js';
import {
  type ClientOffer,
  type HsCx,
  type OfferedPsk,
  QUIC_TRANSPORT_PARAMETERS,
  appendTranscript,
  clientHello1Hash,
  changeReadKey,
  changeWriteKey,
  compatCcs,
  completeHandshake,
  endFlight,
  helloFormat,
  sentServerName,
  legacyVersion,
  ownVersion,
  sendHandshake,
  version12,
} from '../state.js';

/**
 * Start a client: build and send the first ClientHello (with a PSK and early data when resuming). A client that
 * also offers TLS 1.2 adds its suites and extensions (and a TLS 1.2 session's ticket) to the same ClientHello.
 */
export function clientStart(cx: HsCx): void {
  const s = cx.s;
  const c = s.config;
  const p = c.provider;
  const random = p.randomBytes(32);
  const tls13 = c.versions.includes(ownVersion(c));
  const session12 = offerableSession12(cx);
  // A non-empty legacy_session_id puts the connection in middlebox compatibility mode (RFC 8446 §D.4); one also
  // goes with a TLS 1.2 ticket, for the server to echo when it accepts it (RFC 5077 §3.4).
  const sessionId = (tls13 && c.middleboxCompat) || session12 ? p.randomBytes(32) : new Uint8Array(0);
  const shareGroups = tls13 ? c.groups.slice(0, Math.max(1, c.keyShareCount)) : [];
  const keyPairs = shareGroups.map((g) => p.generateKeyPair(g));
  const psk = tls13 ? offerablePsk(cx) : undefined;
  // Early data only with a resumption ticket that allows it (never with an external PSK here).
  const ticket = psk?.session;
  const wantEarly = !!psk && !!ticket && c.earlyData && ticket.maxEarlyData > 0 && c.suites.includes(ticket.suite);
  let hello = buildClientHello(cx, random, sessionId, keyPairs, undefined, psk, wantEarly, session12);
  if (psk) hello = withBinders(cx, hello, psk, []);
  s.clientRandom = random;
  s.nego = { ...s.nego, ...(c.serverName !== undefined ? { serverName: c.serverName } : {}) };
  s.phase = {
    name: 'expectServerHello',
    offer: { hello, keyPairs, retried: false, ...(psk ? { psk } : {}), ...(session12 ? { session12 } : {}) },
  };
  sendHandshake(cx, { type: 'client_hello', body: hello });
  endFlight(cx);
  if (wantEarly) {
    // client_early_traffic_secret over Hash(ClientHello) (RFC 8446 §7.1), under the session's suite.
    const secret = deriveEarlyTrafficSecret(cx, psk.suite.hash, psk.early, p.hash(psk.suite.hash, s.transcript[0]!));
    compatCcs(cx);
    changeWriteKey(cx, Epoch.early, secret, ticket!.maxEarlyData, psk.suite);
    s.early = { status: 'offered' };
  }
}

/**
 * A DTLS 1.2 HelloVerifyRequest (RFC 6347 §4.2.1): send the ClientHello again, the same but for its cookie, as
 * a new message (the layer gives it the next message_seq). Neither the earlier ClientHellos nor the
 * HelloVerifyRequests are hashed (§4.2.6): the transcript restarts with the ClientHello sent now. Accepted only
 * while waiting for the first ServerHello of a client that offers DTLS 1.2 (a DTLS 1.3 server never sends one,
 * RFC 9147 §5.1), again when the server renews an expired cookie, up to {@link MAX_HELLO_VERIFY_REQUESTS}, not
 * with the cookie we sent (the server would answer the same); anything else is unexpected_message. A cookie of
 * 0 or over 255 bytes is illegal_parameter.
 */
export function onHelloVerifyRequest(cx: HsCx, cookie: Uint8Array): void {
  const s = cx.s;
  const ph = s.phase;
  const verified = ph.name === 'expectServerHello' ? (ph.offer.verified ?? 0) : 0;
  if (ph.name !== 'expectServerHello' || ph.offer.retried || !s.config.versions.includes(version12(s.config))) {
    abort(fail.unexpected(`HelloVerifyRequest in phase ${ph.name}`));
  }
  if (verified >= MAX_HELLO_VERIFY_REQUESTS) abort(fail.unexpected(`more than ${MAX_HELLO_VERIFY_REQUESTS} HelloVerifyRequests`));
  if (cookie.length === 0) abort(fail.illegal('HelloVerifyRequest with an empty cookie'));
  const sent = ph.offer.hello.legacyCookie;
  if (sent && bytesEqual(sent, cookie)) abort(fail.unexpected('a HelloVerifyRequest repeating the cookie we sent'));
  const hello: ClientHello = { ...ph.offer.hello, legacyCookie: cookie.slice() };
  s.transcript = [];
  delete s.transcriptRun;
  s.phase = { name: 'expectServerHello', offer: { ...ph.offer, hello, verified: verified + 1 } };
  sendHandshake(cx, { type: 'client_hello', body: hello });
  endFlight(cx);
}

/**
 * The configured external PSK (RFC 8446 §4.2.11), bound to the first offered suite with its hash; else the
 * configured session, if it may be offered now for this server name (RFC 8446 §4.6.1).
 */
function offerablePsk(cx: HsCx): OfferedPsk | undefined {
  const c = cx.s.config;
  const ext = c.externalPsk;
  if (ext) {
    const suite = c.suites.map((sc) => suiteParams(sc)!).find((sp) => sp.hash === ext.hash)!;
    return { identity: ext.identity, key: ext.key, suite, early: earlySecret(c.provider, ext.hash, ext.key) };
  }
  const session = c.session;
  // RFC 8446 §4.2.9: a pre_shared_key needs psk_key_exchange_modes.
  if (!session || c.pskModes.length === 0 || !sessionUsable(session, cx.now)) return undefined;
  if ((c.serverName ?? '') !== session.serverName) return undefined;
  const suite = suiteParams(session.suite);
  // The PSK is bound to its suite's hash: offer it only if we offer a suite with that hash.
  if (!suite || !c.suites.some((sc) => suiteParams(sc)!.hash === suite.hash)) return undefined;
  return { session, identity: session.ticket, key: session.psk, suite, early: earlySecret(c.provider, suite.hash, session.psk) };
}

/**
 * Fill in the PSK binder (RFC 8446 §4.2.11.2): an HMAC over the transcript so far and the ClientHello
 * truncated before the binders list, keyed by the "res binder" key (a ticket) or the "ext binder" key (an
 * external PSK, RFC 8446 §7.1).
 */
function withBinders(cx: HsCx, hello: ClientHello, psk: OfferedPsk, prefix: readonly Uint8Array[]): ClientHello {
  const p = cx.s.config.provider;
  const hash = psk.suite.hash;
  const offered = hello.extensions.preSharedKey!;
  // The binder covers the ClientHello as it goes on the wire and into the transcript: in DTLS with its
  // legacy_cookie (RFC 9147 §5.2, §5.3).
  const raw = encodeHandshakeBytes({ type: 'client_hello', body: hello }, helloFormat(cx.s.config));
  const truncated = raw.subarray(0, raw.length - pskBindersLength(offered));
  const h = p.hash(hash, concatBytes([...prefix, truncated]));
  const pre = cx.s.config.labelPrefix;
  const binder = finishedVerifyData(p, hash, binderKey(p, hash, psk.early, !psk.session, pre), h, pre);
  return { ...hello, extensions: { ...hello.extensions, preSharedKey: { identities: offered.identities, binders: [binder] } } };
}

function buildClientHello(
  cx: HsCx,
  random: Uint8Array,
  sessionId: Uint8Array,
  keyPairs: readonly KeyExchangeKeyPair[],
  cookie?: Uint8Array,
  psk?: OfferedPsk,
  early = false,
  session12?: TlsSession,
): ClientHello {
  const c = cx.s.config;
  const name = c.serverName;
  const order: number[] = [];
  const tls13 = c.versions.includes(ownVersion(c));
  const tls12 = c.versions.includes(version12(c));
  const ext = {
    ...(sentServerName(c) ? { serverName: name } : {}),
    supportedGroups: c.groups.map(groupCode),
    signatureAlgorithms: SIGNATURE_ALGORITHMS,
    ...(c.alpn && c.alpn.length > 0 ? { alpn: c.alpn } : {}),
    // DTLS 1.3 is 0xfefc in supported_versions (RFC 9147 §5.3). A TLS 1.2-only client sends none (RFC 8446
    // §4.2.1: the server then negotiates by legacy_version).
    ...(tls13 ? { supportedVersions: c.versions } : {}),
    ...(cookie ? { cookie } : {}),
    ...(c.recordSizeLimit !== undefined ? { recordSizeLimit: c.recordSizeLimit } : {}),
    // No modes: no psk_key_exchange_modes, so no PSK offered and no tickets issued to us (RFC 8446 §4.2.9).
    ...(tls13 && c.pskModes.length > 0 ? { pskKeyExchangeModes: c.pskModes } : {}),
    ...(tls13 ? { keyShares: keyPairs.map((kp) => ({ group: groupCode(kp.group), keyExchange: kp.publicKey })) } : {}),
    ...(early ? { earlyData: true as const } : {}),
    ...(psk
      ? {
          preSharedKey: {
            identities: [
              {
                identity: psk.identity,
                // RFC 8446 §4.2.11.1: the ticket age in ms plus ticket_age_add, modulo 2^32; 0 for an external PSK
                // (§4.2.11: "clients SHOULD set this value to 0").
                obfuscatedTicketAge: psk.session ? (cx.now - psk.session.receivedAt + psk.session.ageAdd) >>> 0 : 0,
              },
            ],
            binders: [new Uint8Array(cx.s.config.provider.hashLength(psk.suite.hash))],
          },
        }
      : {}),
    unknown: [
      ...(c.transportParameters ? [{ type: QUIC_TRANSPORT_PARAMETERS, data: c.transportParameters }] : []),
      ...(tls12 ? clientHello12Extensions(cx, session12) : []),
    ],
    order,
  };
  // DTLS: legacy_version 0xfefd and an empty legacy_cookie (RFC 9147 §5.3), written by the DTLS form's encoder.
  return {
    legacyVersion: legacyVersion(c),
    random,
    legacySessionId: sessionId,
    cipherSuites: [...c.suites, ...c.suites12],
    legacyCompressionMethods: Uint8Array.of(0),
    extensions: ext,
  };
}

/** Dispatch one handshake message in a client phase. */
export function clientHandshake(cx: HsCx, msg: HandshakeMessage, raw: Uint8Array): void {
  const ph = cx.s.phase;
  switch (ph.name) {
    case 'expectServerHello':
      if (msg.type !== 'server_hello') return unexpected(msg, 'ServerHello');
      return onServerHello(cx, ph.offer, msg.body, raw);
    case 'expectEncryptedExtensions':
      if (msg.type !== 'encrypted_extensions') return unexpected(msg, 'EncryptedExtensions');
      return onEncryptedExtensions(cx, msg.body, raw);
    case 'expectCertificateOrRequest':
      if (msg.type === 'certificate_request') return onCertificateRequest(cx, msg.body, raw);
      if (msg.type === 'certificate') return onCertificate(cx, msg.body, raw);
      return unexpected(msg, 'Certificate or CertificateRequest');
    case 'expectCertificate':
      if (msg.type !== 'certificate') return unexpected(msg, 'Certificate');
      return onCertificate(cx, msg.body, raw, ph.requestContext, ph.requestSchemes);
    case 'expectCertificateVerify':
      if (msg.type !== 'certificate_verify') return unexpected(msg, 'CertificateVerify');
      checkCertificateVerify(cx, msg.body, ph.chain[0]!, 'server');
      appendTranscript(cx, raw);
      cx.s.phase = {
        name: 'expectFinished',
        ...(ph.requestContext ? { requestContext: ph.requestContext } : {}),
        ...(ph.requestSchemes ? { requestSchemes: ph.requestSchemes } : {}),
      };
      return;
    case 'expectFinished':
      if (msg.type !== 'finished') return unexpected(msg, 'Finished');
      return onServerFinished(cx, msg.body.verifyData, raw, ph.requestContext, ph.requestSchemes);
    default:
      return unexpected(msg, `nothing in phase ${ph.name}`);
  }
}

export function unexpected(msg: HandshakeMessage, expected: string): never {
  abort(fail.unexpected(`inappropriate handshake message: expected ${expected}, got ${msg.type}`));
}

function onServerHello(cx: HsCx, offer: ClientOffer, sh: ServerHello, raw: Uint8Array): void {
  const s = cx.s;
  const hello = offer.hello;
  const ext = sh.extensions;
  const c = s.config;
  const dtls = c.variant === 'dtls';
  // A server that does not select (D)TLS 1.3 via supported_versions is a (D)TLS 1.2 (or older) server.
  if (ext.supportedVersion === undefined) {
    const offered = sh.legacyVersion !== undefined ? `: it answered with ${protocolVersionName(sh.legacyVersion)} only` : '';
    abort(fail.incompatible(AlertDescription.protocol_version, `server does not support ${dtls ? 'DTLS' : 'TLS'} 1.3${offered}`));
  }
  if (ext.supportedVersion !== ownVersion(c)) {
    abort(fail.illegal(`server selected unoffered version 0x${ext.supportedVersion.toString(16)}`));
  }
  // RFC 9147 §5.4: a DTLS 1.3 ServerHello (and HelloRetryRequest) says legacy_version 0xfefd.
  if (dtls && sh.legacyVersion !== legacyVersion(c)) {
    abort(fail.illegal(`DTLS 1.3 ServerHello with legacy_version 0x${(sh.legacyVersion ?? 0).toString(16)}`));
  }
  // RFC 8446 §4.1.3: the echo must match what we sent; a DTLS 1.3 server echoes nothing (RFC 9147 §5), and we
  // send nothing in DTLS (no middlebox compatibility mode), so there too the echo must be empty.
  if (!bytesEqual(sh.legacySessionIdEcho, hello.legacySessionId)) abort(fail.illegal('legacy_session_id_echo does not match'));
  // RFC 8446 §4.2: an extension we did not offer is unsupported_extension (the cookie of a HelloRetryRequest
  // excepted). Every extension we offer and a ServerHello may carry is a typed field; one the codec leaves
  // uninterpreted (a DTLS connection_id, RFC 9146, among them: we never offer it) was not offered.
  const unsolicited = ext.unknown[0];
  if (unsolicited) {
    abort(fail.incompatible(AlertDescription.unsupported_extension, `ServerHello carries extension ${unsolicited.type}, which we did not offer`));
  }
  if (!hello.cipherSuites.includes(sh.cipherSuite)) abort(fail.illegal('server selected an unoffered cipher suite'));
  if (sh.legacyCompressionMethod !== 0) abort(fail.illegal('non-null compression method'));
  // Our offer may list TLS 1.2 suites too: a (D)TLS 1.3 ServerHello must pick one of the 1.3 suites.
  const suite = suiteParams(sh.cipherSuite);
  if (!suite) abort(fail.illegal(`server selected cipher suite 0x${sh.cipherSuite.toString(16)}, which is not a ${dtls ? 'DTLS' : 'TLS'} 1.3 suite`));
  const isHrr = bytesEqual(sh.random, HRR_RANDOM);
  if (isHrr) return onHelloRetryRequest(cx, offer, sh, raw, suite.code);
  if (s.suite && s.suite.code !== suite.code) abort(fail.illegal('ServerHello cipher suite differs from HelloRetryRequest'));
  const psk = ext.preSharedKey !== undefined ? offer.psk : undefined;
  if (ext.preSharedKey !== undefined) {
    // RFC 8446 §4.2: an answer to an extension we did not send is unsupported_extension.
    if (!psk) abort(fail.incompatible(AlertDescription.unsupported_extension, 'ServerHello carries pre_shared_key, and we offered no PSK'));
    if (ext.preSharedKey !== 0) abort(fail.illegal('server selected a PSK identity that was not offered'));
    if (psk.suite.hash !== suite.hash) abort(fail.illegal('server selected a suite whose hash does not match the PSK'));
  }
  if (ext.cookie !== undefined) abort(fail.illegal('cookie in ServerHello'));
  // A client with only an external PSK cannot check a certificate: the server had to accept the PSK.
  if (!psk && !s.config.verifier) abort(fail.incompatible(AlertDescription.handshake_failure, 'server did not accept our external PSK'));
  const share = ext.keyShare;
  let shared: Uint8Array | undefined;
  if (share) {
    const kp = offer.keyPairs.find((k) => groupCode(k.group) === share.group);
    if (!kp) abort(fail.illegal('server key share is for a group we sent no share for'));
    const secret = s.config.provider.sharedSecret(kp.group, kp.privateKey, share.keyExchange);
    if (!secret) abort(fail.illegal('invalid server key share'));
    shared = secret;
    s.group = kp.group;
  } else if (!psk || !s.config.pskModes.includes(PskKeyExchangeMode.psk_ke)) {
    abort(fail.incompatible(AlertDescription.missing_extension, 'ServerHello without key_share'));
  }
  s.suite = suite;
  appendTranscript(cx, raw);
  const keys = deriveHandshakeKeys(cx, shared, psk?.key);
  changeReadKey(cx, Epoch.handshake, keys.server);
  s.nego = { ...s.nego, resumed: !!psk?.session, ...(psk && !psk.session ? { pskIdentity: psk.identity } : {}) };
  // While early data may still be flowing, the handshake write key waits (installed at EndOfEarlyData).
  if (s.early.status === 'offered') s.early = { ...s.early, pendingWrite: keys.client };
  else changeWriteKey(cx, Epoch.handshake, keys.client);
  s.phase = { name: 'expectEncryptedExtensions' };
}

function onHelloRetryRequest(cx: HsCx, offer: ClientOffer, hrr: ServerHello, raw: Uint8Array, suiteCode: number): void {
  const s = cx.s;
  const p = s.config.provider;
  // RFC 8446 §4.1.4: a second HelloRetryRequest is unexpected_message.
  if (offer.retried) abort(fail.unexpected('second HelloRetryRequest'));
  const sel = hrr.extensions.selectedGroup;
  const group: GroupName | undefined = sel === undefined ? undefined : groupFromCode(sel);
  if (sel !== undefined) {
    if (!group || !s.config.groups.includes(group)) abort(fail.illegal('HelloRetryRequest selected an unoffered group'));
    if (offer.keyPairs.some((k) => k.group === group)) abort(fail.illegal('HelloRetryRequest selected a group we already sent a share for'));
  } else if (hrr.extensions.cookie === undefined) {
    // "would not result in any change in the ClientHello" → illegal_parameter
    abort(fail.illegal('HelloRetryRequest requests no change'));
  }
  s.suite = suiteParams(suiteCode)!;
  // Transcript: message_hash(ClientHello1) ‖ HelloRetryRequest (RFC 8446 §4.4.1).
  const ch1Hash = clientHello1Hash(s.config, s.suite.hash, s.transcript[0]!);
  const synthetic = new Uint8Array(4 + ch1Hash.length);
  synthetic[0] = HandshakeType.message_hash;
  synthetic[3] = ch1Hash.length;
  synthetic.set(ch1Hash, 4);
  s.transcript = [synthetic, raw];
  s.nego = { ...s.nego, helloRetry: true };
  const keyPairs = group ? [p.generateKeyPair(group)] : offer.keyPairs;
  // Early data is not possible after a HelloRetryRequest; the PSK stays if its hash matches the new suite.
  const psk = offer.psk && offer.psk.suite.hash === s.suite.hash ? offer.psk : undefined;
  let hello = buildClientHello(cx, offer.hello.random, offer.hello.legacySessionId, keyPairs, hrr.extensions.cookie, psk, false, offer.session12);
  if (psk) hello = withBinders(cx, hello, psk, s.transcript);
  if (s.early.status === 'offered') rejectEarly(cx);
  compatCcs(cx);
  sendHandshake(cx, { type: 'client_hello', body: hello });
  endFlight(cx);
  s.phase = { name: 'expectServerHello', offer: { hello, keyPairs, retried: true, ...(psk ? { psk } : {}) } };
}

function onEncryptedExtensions(cx: HsCx, ee: EncryptedExtensions, raw: Uint8Array): void {
  const s = cx.s;
  // RFC 8446 §4.2: of the extensions the codec leaves uninterpreted we offer QUIC's transport parameters only;
  // any other (a DTLS connection_id, RFC 9146, which we never offer) is unsupported_extension.
  const unsolicited = ee.unknown.find((u) => !(u.type === QUIC_TRANSPORT_PARAMETERS && s.config.transportParameters));
  if (unsolicited) {
    abort(fail.incompatible(AlertDescription.unsupported_extension, `EncryptedExtensions carries extension ${unsolicited.type}, which we did not offer`));
  }
  if (s.config.variant === 'quic') {
    // RFC 9001 §8.1, §8.2: a QUIC server must select ALPN and send its transport parameters.
    if (ee.alpn === undefined) abort(fail.incompatible(AlertDescription.no_application_protocol, 'QUIC server selected no ALPN protocol'));
    const tp = ee.unknown.find((u) => u.type === QUIC_TRANSPORT_PARAMETERS);
    if (!tp) abort(fail.incompatible(AlertDescription.missing_extension, 'QUIC EncryptedExtensions without quic_transport_parameters'));
    s.peerTransportParameters = tp.data.slice();
    cx.events.push({ type: 'transportParameters', data: s.peerTransportParameters });
  }
  // RFC 8446 §4.2: an answer to an extension our (last) ClientHello did not carry is unsupported_extension; an
  // answer that does not fit what it carried is illegal_parameter.
  if (ee.serverNameAck && !sentServerName(s.config)) {
    abort(fail.incompatible(AlertDescription.unsupported_extension, 'EncryptedExtensions acknowledges server_name, and we sent none'));
  }
  if (ee.alpn !== undefined) {
    if (!s.config.alpn?.length) abort(fail.incompatible(AlertDescription.unsupported_extension, 'EncryptedExtensions carries ALPN, and we offered none'));
    if (!s.config.alpn.includes(ee.alpn)) abort(fail.illegal(`server selected unoffered ALPN protocol "${ee.alpn}"`));
  }
  if (ee.earlyData) {
    // Early data offered in a first ClientHello is withdrawn by the second (after a HelloRetryRequest).
    if (s.early.status !== 'offered') abort(fail.incompatible(AlertDescription.unsupported_extension, 'EncryptedExtensions carries early_data, and we offered none'));
    if (!s.nego.resumed) abort(fail.illegal('server accepted early data without resuming the session it was offered for'));
    s.early = { ...s.early, status: 'accepted' };
  } else if (s.early.status === 'offered') {
    rejectEarly(cx);
  }
  if (ee.recordSizeLimit !== undefined) {
    // RFC 8449 §4: only in answer to ours; the peer's limit counts the content type byte.
    if (s.config.recordSizeLimit === undefined) {
      abort(fail.incompatible(AlertDescription.unsupported_extension, 'unsolicited record_size_limit'));
    }
    cx.events.push({ type: 'recordSizeLimit', peer: Math.min(MAX_PLAINTEXT, ee.recordSizeLimit - 1), ours: s.config.recordSizeLimit });
  }
  s.nego = {
    ...s.nego,
    ...(ee.alpn !== undefined ? { alpn: ee.alpn } : {}),
  };
  appendTranscript(cx, raw);
  // A PSK handshake (resumed, or external) has no certificate messages (RFC 8446 §2.2, §4.3.2, §4.4.2).
  s.phase = s.nego.resumed || s.nego.pskIdentity ? { name: 'expectFinished' } : { name: 'expectCertificateOrRequest' };
}

function onCertificateRequest(cx: HsCx, cr: CertificateRequest, raw: Uint8Array): void {
  // RFC 8446 §4.3.2: the context of a handshake CertificateRequest is empty.
  if (cr.context.length !== 0) abort(fail.illegal('non-empty certificate_request_context in handshake'));
  appendTranscript(cx, raw);
  cx.s.phase = { name: 'expectCertificate', requestContext: cr.context, requestSchemes: cr.signatureAlgorithms };
}

function onCertificate(
  cx: HsCx,
  cert: Certificate,
  raw: Uint8Array,
  requestContext?: Uint8Array,
  requestSchemes?: readonly number[],
): void {
  if (cert.context.length !== 0) abort(fail.illegal('non-empty certificate_request_context from server'));
  // RFC 8446 §4.4.2.4: an empty server certificate list is decode_error.
  if (cert.entries.length === 0) abort(fail.decode('server sent an empty Certificate'));
  const chain = checkPeerCertificate(cx, cert, 'server');
  appendTranscript(cx, raw);
  cx.s.phase = {
    name: 'expectCertificateVerify',
    chain,
    ...(requestContext ? { requestContext } : {}),
    ...(requestSchemes ? { requestSchemes } : {}),
  };
}

function onServerFinished(
  cx: HsCx,
  verifyData: Uint8Array,
  raw: Uint8Array,
  requestContext?: Uint8Array,
  requestSchemes?: readonly number[],
): void {
  const s = cx.s;
  const expected = finishedData(cx, s.secrets.serverHs!);
  checkFinishedLength(verifyData, expected);
  if (!bytesEqual(expected, verifyData)) abort(fail.misbehaved(AlertDescription.decrypt_error, 'server Finished does not verify'));
  appendTranscript(cx, raw);
  const app = deriveApplicationKeys(cx);
  changeReadKey(cx, Epoch.application, app.server);
  if (s.early.status === 'accepted') {
    // RFC 8446 §4.5: EndOfEarlyData under the early key, then the handshake key for the rest of the flight.
    // QUIC has no EndOfEarlyData (RFC 9001 §8.3), nor has DTLS (RFC 9147 §5.6).
    if (s.config.variant === 'tls') sendHandshake(cx, { type: 'end_of_early_data' });
    changeWriteKey(cx, Epoch.handshake, s.early.pendingWrite!);
    s.early = { status: 'accepted' };
    cx.events.push({ type: 'earlyData', accepted: true });
  }
  // Second flight: [change_cipher_spec] [Certificate, CertificateVerify] Finished, under client_handshake keys.
  compatCcs(cx);
  if (requestContext !== undefined) {
    const scheme = requestSchemes ? chooseScheme(cx, requestSchemes) : undefined;
    if (scheme !== undefined && s.config.chain.length > 0) {
      sendCertificateAndVerify(cx, 'client', scheme, requestContext);
    } else {
      sendHandshake(cx, { type: 'certificate', body: { context: requestContext, entries: [] } });
    }
  }
  sendHandshake(cx, { type: 'finished', body: { verifyData: finishedData(cx, s.secrets.clientHs!) } });
  changeWriteKey(cx, Epoch.application, app.client);
  cx.events.push({ type: 'flightEnd' });
  deriveResumptionSecret(cx);
  completeHandshake(cx);
}


/** The server refused 0-RTT: switch to the handshake key and hand the early bytes back to the application. */
function rejectEarly(cx: HsCx): void {
  const s = cx.s;
  if (s.early.pendingWrite) changeWriteKey(cx, Epoch.handshake, s.early.pendingWrite);
  else changeWriteKey(cx, Epoch.initial, undefined);
  s.early = { status: 'rejected' };
  cx.events.push({ type: 'earlyData', accepted: false });
}

/** A NewSessionTicket becomes a resumable session (RFC 8446 §4.6.1). */
export function onNewSessionTicket(cx: HsCx, t: NewSessionTicket): void {
  const s = cx.s;
  if (t.lifetime > MAX_TICKET_LIFETIME) abort(fail.illegal('ticket lifetime over 7 days'));
  if (t.lifetime === 0 || t.ticket.length === 0) return;
  const p = s.config.provider;
  const suite = s.suite!;
  const session: TlsSession = {
    serverName: s.config.serverName ?? '',
    suite: suite.code,
    psk: resumptionPsk(p, suite.hash, s.secrets.resumption!, t.nonce, s.config.labelPrefix),
    ticket: t.ticket.slice(),
    ageAdd: t.ageAdd,
    lifetime: t.lifetime,
    receivedAt: cx.now,
    maxEarlyData: t.maxEarlyDataSize ?? 0,
    ...(s.nego.alpn !== undefined ? { alpn: s.nego.alpn } : {}),
  };
  cx.events.push({ type: 'session', session });
}
