/**
 * The TLS 1.2 server handshake (RFC 5246 §7.3; ECDHE per RFC 8422; RFC 7627, RFC 5746, RFC 5077), entered when
 * the engine chose TLS 1.2 for a ClientHello (the client offers no TLS 1.3 we accept, and TLS 1.2 is allowed):
 *
 * ```
 * full:    ClientHello → ServerHello Certificate ServerKeyExchange [CertificateRequest] ServerHelloDone
 *          → [expectClientCertificate12] → expectClientKeyExchange → [expectCertificateVerify12]
 *          → expectChangeCipherSpec ─CCS→ expectFinished12 ─Fin→ [NewSessionTicket] CCS Finished, connected
 * resumed: ClientHello with a ticket of ours → ServerHello [NewSessionTicket] CCS Finished
 *          → expectChangeCipherSpec ─CCS→ expectFinished12 ─Fin→ connected
 * ```
 */
import { abort, fail } from '../../core/errors.js';
import { type Tls12SuiteParams, tls12SuiteParams } from '../../crypto/prf.js';
import { type GroupName, KEM_GROUPS, type KeyExchangeKeyPair } from '../../crypto/provider.js';
import {
  AlertDescription,
  ClientCertificateType,
  DOWNGRADE_TLS12,
  EcPointFormat,
  MAX_PLAINTEXT,
  SignallingSuite,
} from '../../wire/tls/constants.js';
import type { ClientHello } from '../../wire/tls/messages.js';
import {
  type Certificate12,
  type Tls12Message,
  encodeServerHello12Extras,
  encodeTls12HelloExtensions,
  readClientHello12Extensions,
} from '../../wire/tls/tls12.js';
import { SIGNATURE_ALGORITHMS, checkPeerCertificate } from '../auth.js';
import { groupCode } from '../config.js';
import type { TicketState } from '../session.js';
import { type HsCx, completeHandshake, endFlight, ownVersion, version12 } from '../state.js';
import { asCertificate, unexpected12 } from './client.js';
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

/** The signature algorithms a TLS 1.2 server asks of client certificates (every one it accepts). */
const REQUEST_SCHEMES = SIGNATURE_ALGORITHMS;

/**
 * A ClientHello the engine chose TLS 1.2 for: negotiate the suite (ours in preference, offered, fitting our key
 * and a signature algorithm the client accepts), the ECDHE group, ALPN; resume from a ticket of ours; answer.
 */
export function onClientHello12(cx: HsCx, ch: ClientHello, raw: Uint8Array): void {
  const s = cx.s;
  const c = s.config;
  const p = c.provider;
  const ext = ch.extensions;
  const ext12 = readClientHello12Extensions(ext.unknown);
  // RFC 5246 §7.4.1.2: the list must contain the null compression method.
  if (!ch.legacyCompressionMethods.includes(0)) abort(fail.illegal('ClientHello without the null compression method'));
  // RFC 7507 §3: a fallback retry to a server that supports a higher version than the client's maximum.
  if (ch.cipherSuites.includes(SignallingSuite.TLS_FALLBACK_SCSV) && c.versions.includes(ownVersion(c))) {
    abort(fail.incompatible(AlertDescription.inappropriate_fallback, 'TLS_FALLBACK_SCSV from a client that could have negotiated TLS 1.3'));
  }
  // RFC 5746 §3.6: renegotiated_connection is empty in an initial handshake.
  if (ext12.renegotiationInfo && ext12.renegotiationInfo.length !== 0) {
    abort(fail.incompatible(AlertDescription.handshake_failure, 'non-empty renegotiation_info in an initial handshake'));
  }
  const secureRenegotiation = !!ext12.renegotiationInfo || ch.cipherSuites.includes(SignallingSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
  const ems = !!ext12.extendedMasterSecret;
  if (!ems && c.requireEms) abort(fail.incompatible(AlertDescription.handshake_failure, 'client does not offer the extended master secret (RFC 7627)'));
  // RFC 8422 §5.1.2: a client listing point formats must list uncompressed.
  if (ext12.ecPointFormats && !ext12.ecPointFormats.includes(EcPointFormat.uncompressed)) {
    abort(fail.illegal('ec_point_formats without uncompressed'));
  }
  if (!c.key) abort(fail.incompatible(AlertDescription.handshake_failure, 'TLS 1.2 needs a certificate'));
  // RFC 5246 §7.4.1.4.1: without signature_algorithms a client accepts SHA-1 only, which we never use.
  const sigalgs = ext.signatureAlgorithms ?? [];
  const group = chooseGroup(c.groups, ext.supportedGroups);
  if (!group) abort(fail.incompatible(AlertDescription.handshake_failure, 'no key exchange group in common'));
  // ALPN (RFC 7301 §3.2): our preference; no overlap is no_application_protocol.
  let alpn: string | undefined;
  if (ext.alpn && c.alpn && c.alpn.length > 0) {
    alpn = c.alpn.find((a) => ext.alpn!.includes(a));
    if (alpn === undefined) abort(fail.incompatible(AlertDescription.no_application_protocol, 'no ALPN protocol in common'));
  }
  const ticket = ems ? openTicket(cx, ch, ext12.sessionTicket) : undefined;
  let suite: Tls12SuiteParams | undefined;
  let scheme: number | undefined;
  if (ticket) {
    suite = tls12SuiteParams(ticket.suite)!;
  } else {
    for (const code of c.suites12) {
      const sp = tls12SuiteParams(code)!;
      if (!ch.cipherSuites.includes(code) || !suiteFitsKey(sp, c.key.kind)) continue;
      const sch = chooseScheme12(c.key, sigalgs);
      if (sch === undefined) continue;
      suite = sp;
      scheme = sch;
      break;
    }
    if (!suite) abort(fail.incompatible(AlertDescription.handshake_failure, 'no TLS 1.2 cipher suite and signature algorithm in common with our key'));
  }
  const issueTicket = ems && !!c.ticketer && c.ticketCount > 0 && ext12.sessionTicket !== undefined;
  // RFC 8446 §4.1.3: a TLS 1.3-capable server that negotiates TLS 1.2 ends its random with "DOWNGRD" 01.
  const serverRandom = p.randomBytes(32);
  if (c.versions.includes(ownVersion(c))) serverRandom.set(DOWNGRADE_TLS12, 24);
  appendTranscript12(cx, raw);
  s.committed = true;
  s.version = version12(c);
  // DTLS: our answer carries the ClientHello's message_seq (RFC 6347 §4.2.2, as the layer numbers it).
  s.msgSeqOut = cx.msgSeq ?? 0;
  s.clientRandom = ch.random;
  s.group = group;
  s.tls12 = { suite, clientRandom: ch.random, serverRandom, ems, resumed: !!ticket, issueTicket };
  s.nego = {
    ...s.nego,
    resumed: !!ticket,
    ...(alpn !== undefined ? { alpn } : {}),
    ...(ext.serverName !== undefined ? { serverName: ext.serverName } : {}),
  };
  // record_size_limit (RFC 8449 §4): in TLS 1.2 the value counts plaintext only, at most 2^14.
  const ourLimit = ext.recordSizeLimit !== undefined ? Math.min(c.recordSizeLimit ?? MAX_PLAINTEXT, MAX_PLAINTEXT) : undefined;
  if (ext.recordSizeLimit !== undefined) {
    cx.events.push({ type: 'recordSizeLimit', peer: Math.min(MAX_PLAINTEXT, ext.recordSizeLimit), ...(c.recordSizeLimit !== undefined ? { ours: ourLimit! } : {}) });
  }
  const extensions = [
    // RFC 5746 §3.6: answer a client that signalled secure renegotiation with an empty renegotiation_info.
    ...encodeTls12HelloExtensions({
      ...(secureRenegotiation ? { renegotiationInfo: new Uint8Array(0) } : {}),
      ...(ext12.ecPointFormats ? { ecPointFormats: [EcPointFormat.uncompressed] } : {}),
      ...(ems ? { extendedMasterSecret: true as const } : {}),
      ...(issueTicket ? { sessionTicket: new Uint8Array(0) } : {}),
    }),
    ...encodeServerHello12Extras({
      ...(alpn !== undefined ? { alpn } : {}),
      serverNameAck: ext.serverName !== undefined,
      ...(ourLimit !== undefined ? { recordSizeLimit: ourLimit } : {}),
    }),
  ];
  sendHandshake12(cx, {
    type: 'server_hello',
    body: {
      legacyVersion: version12(c),
      random: serverRandom,
      // RFC 5077 §3.4: accepting a ticket, echo the client's session ID; otherwise no session ID (we keep none).
      legacySessionIdEcho: ticket ? ch.legacySessionId : new Uint8Array(0),
      cipherSuite: suite.code,
      legacyCompressionMethod: 0,
      extensions: { unknown: extensions, order: [] },
    },
  });
  if (ticket) {
    installMaster(cx, ticket.psk);
    if (issueTicket) sendTicket12(cx);
    sendCcsAndFinished(cx, 'server');
    endFlight(cx);
    s.phase = { name: 'expectChangeCipherSpec' };
    return;
  }
  sendHandshake12(cx, { type: 'certificate', body: { certificates: c.chain } });
  const kp = p.generateKeyPair(group);
  const content = serverKeyExchangeContent(ch.random, serverRandom, groupCode(group), kp.publicKey);
  sendHandshake12(cx, {
    type: 'server_key_exchange',
    body: { group: groupCode(group), publicKey: kp.publicKey, scheme: scheme!, signature: sign12(cx, scheme!, content) },
  });
  if (c.requestClientCert) {
    sendHandshake12(cx, {
      type: 'certificate_request',
      body: {
        certificateTypes: [ClientCertificateType.ecdsa_sign, ClientCertificateType.rsa_sign],
        signatureAlgorithms: REQUEST_SCHEMES,
        certificateAuthorities: [],
      },
    });
  }
  sendHandshake12(cx, { type: 'server_hello_done' });
  endFlight(cx);
  s.phase = c.requestClientCert ? { name: 'expectClientCertificate12', keyPair: kp } : { name: 'expectClientKeyExchange', keyPair: kp };
}

/**
 * The ECDHE group (RFC 8422 §5.1.1): ours in preference among the client's supported_groups (any of ours when it
 * sent none, §4); KEM groups are TLS 1.3 only.
 */
function chooseGroup(ours: readonly GroupName[], theirs: readonly number[] | undefined): GroupName | undefined {
  return ours.find((g) => !KEM_GROUPS.has(g) && (!theirs || theirs.includes(groupCode(g))));
}

/**
 * A session ticket of ours for TLS 1.2 (RFC 5077 §3.4): it opens, within its lifetime, for a TLS 1.2 suite we
 * still accept and the client offers. Anything else: a full handshake.
 */
function openTicket(cx: HsCx, ch: ClientHello, offered: Uint8Array | undefined): TicketState | undefined {
  const c = cx.s.config;
  if (!c.ticketer || !offered || offered.length === 0) return undefined;
  const state = c.ticketer.open(c.provider, cx.now, offered);
  if (!state || !tls12SuiteParams(state.suite)) return undefined;
  if (!c.suites12.includes(state.suite) || !ch.cipherSuites.includes(state.suite)) return undefined;
  const age = cx.now - state.issuedAt;
  if (age < 0 || age >= state.lifetime * 1000) return undefined;
  // RFC 6066 §3: a session is not resumed under another server name (a full handshake instead).
  if ((state.serverName ?? '').toLowerCase() !== (ch.extensions.serverName ?? '').toLowerCase()) return undefined;
  // The client's session ID carries the acceptance back (RFC 5077 §3.4): without one, no resumption.
  if (ch.legacySessionId.length === 0) return undefined;
  return state;
}

/** NewSessionTicket (RFC 5077 §3.3): the master secret and suite sealed by the ticketer. */
function sendTicket12(cx: HsCx): void {
  const s = cx.s;
  const c = s.config;
  const t = st12(cx);
  const ticket = c.ticketer!.seal(c.provider, cx.now, {
    suite: t.suite.code,
    psk: t.master!,
    issuedAt: cx.now,
    ageAdd: 0,
    lifetime: c.ticketer!.lifetime,
    maxEarlyData: 0,
    ...(s.nego.alpn !== undefined ? { alpn: s.nego.alpn } : {}),
    ...(s.nego.serverName !== undefined ? { serverName: s.nego.serverName } : {}),
  });
  sendHandshake12(cx, { type: 'new_session_ticket', body: { lifetimeHint: c.ticketer!.lifetime, ticket } });
}

/** Dispatch one TLS 1.2 handshake message in a server phase. */
export function serverHandshake12(cx: HsCx, msg: Tls12Message, raw: Uint8Array): void {
  const s = cx.s;
  const ph = s.phase;
  switch (ph.name) {
    case 'expectClientCertificate12':
      if (msg.type !== 'certificate') return unexpected12(msg, 'Certificate');
      return onClientCertificate12(cx, msg.body, raw, ph.keyPair);
    case 'expectClientKeyExchange': {
      if (msg.type !== 'client_key_exchange') return unexpected12(msg, 'ClientKeyExchange');
      const kp = ph.keyPair;
      const shared = s.config.provider.sharedSecret(kp.group, kp.privateKey, msg.body.publicKey);
      if (!shared) abort(fail.illegal('invalid ClientKeyExchange public key'));
      appendTranscript12(cx, raw);
      deriveMaster(cx, shared);
      s.phase = ph.chain ? { name: 'expectCertificateVerify12', chain: ph.chain } : { name: 'expectChangeCipherSpec' };
      return;
    }
    case 'expectCertificateVerify12': {
      if (msg.type !== 'certificate_verify') return unexpected12(msg, 'CertificateVerify');
      const content = certificateVerifyContent12(cx);
      verify12(cx, ph.chain[0]!, msg.body.scheme, REQUEST_SCHEMES, content, msg.body.signature, 'client CertificateVerify');
      appendTranscript12(cx, raw);
      s.phase = { name: 'expectChangeCipherSpec' };
      return;
    }
    case 'expectFinished12':
      if (msg.type !== 'finished') return unexpected12(msg, 'Finished');
      return onClientFinished12(cx, msg.body.verifyData, raw);
    case 'expectChangeCipherSpec':
      return unexpected12(msg, 'ChangeCipherSpec');
    default:
      return unexpected12(msg, `nothing in phase ${ph.name}`);
  }
}

function onClientCertificate12(cx: HsCx, cert: Certificate12, raw: Uint8Array, keyPair: KeyExchangeKeyPair): void {
  const s = cx.s;
  if (cert.certificates.length === 0) {
    // RFC 5246 §7.4.6: a server that requires client authentication answers an empty one with handshake_failure.
    if (s.config.requireClientCert) abort(fail.incompatible(AlertDescription.handshake_failure, 'client sent no certificate'));
    appendTranscript12(cx, raw);
    s.phase = { name: 'expectClientKeyExchange', keyPair };
    return;
  }
  const chain = checkPeerCertificate(cx, asCertificate(cert), 'client', !s.config.requireClientCert);
  appendTranscript12(cx, raw);
  s.phase = { name: 'expectClientKeyExchange', keyPair, chain };
}

function onClientFinished12(cx: HsCx, verifyData: Uint8Array, raw: Uint8Array): void {
  const t = st12(cx);
  checkFinished12(cx, verifyData, raw, 'client');
  if (!t.resumed) {
    if (t.issueTicket) sendTicket12(cx);
    sendCcsAndFinished(cx, 'server');
    endFlight(cx);
  }
  completeHandshake(cx);
}
