/**
 * The TLS 1.3 client handshake (RFC 8446 §2, §4): one handler per expected message, each checking the message
 * and moving the working state to the next phase.
 */
import { abort, fail } from '../core/errors.js';
import type { GroupName, KeyExchangeKeyPair } from '../crypto/provider.js';
import { suiteParams } from '../crypto/keySchedule.js';
import {
  AlertDescription,
  HRR_RANDOM,
  HandshakeType,
  ProtocolVersion,
  PskKeyExchangeMode,
} from '../wire/tls/constants.js';
import type {
  Certificate,
  CertificateRequest,
  ClientHello,
  EncryptedExtensions,
  HandshakeMessage,
  ServerHello,
} from '../wire/tls/messages.js';
import { SIGNATURE_ALGORITHMS, checkCertificateVerify, checkPeerCertificate, chooseScheme, sendCertificateAndVerify } from './auth.js';
import { groupCode, groupFromCode } from './config.js';
import { deriveApplicationKeys, deriveHandshakeKeys, deriveResumptionSecret, finishedData } from './schedule.js';
import {
  type ClientOffer,
  type Cx,
  appendTranscript,
  bytesEqual,
  flushHandshake,
  isIpLiteral,
  sendCcsOnce,
  sendHandshake,
  setTxKey,
} from './state.js';
import { completeHandshake } from './complete.js';

/** Start a client: build and send the first ClientHello. */
export function clientStart(cx: Cx): void {
  const s = cx.s;
  const p = s.config.provider;
  const random = p.randomBytes(32);
  // A non-empty legacy_session_id puts the connection in middlebox compatibility mode (RFC 8446 §D.4).
  const sessionId = s.config.middleboxCompat ? p.randomBytes(32) : new Uint8Array(0);
  const shareGroups = s.config.groups.slice(0, Math.max(1, s.config.keyShareCount));
  const keyPairs = shareGroups.map((g) => p.generateKeyPair(g));
  const hello = buildClientHello(cx, random, sessionId, keyPairs);
  s.clientRandom = random;
  s.phase = { name: 'expectServerHello', offer: { hello, keyPairs, retried: false } };
  sendHandshake(cx, { type: 'client_hello', body: hello });
  flushHandshake(cx, ProtocolVersion.TLS1_0);
}

function buildClientHello(
  cx: Cx,
  random: Uint8Array,
  sessionId: Uint8Array,
  keyPairs: readonly KeyExchangeKeyPair[],
  cookie?: Uint8Array,
): ClientHello {
  const c = cx.s.config;
  const name = c.serverName;
  const order: number[] = [];
  const ext = {
    ...(name !== undefined && !isIpLiteral(name) ? { serverName: name } : {}),
    supportedGroups: c.groups.map(groupCode),
    signatureAlgorithms: SIGNATURE_ALGORITHMS,
    ...(c.alpn && c.alpn.length > 0 ? { alpn: c.alpn } : {}),
    supportedVersions: [ProtocolVersion.TLS1_3],
    ...(cookie ? { cookie } : {}),
    pskKeyExchangeModes: [PskKeyExchangeMode.psk_dhe_ke],
    keyShares: keyPairs.map((kp) => ({ group: groupCode(kp.group), keyExchange: kp.publicKey })),
    unknown: [],
    order,
  };
  return {
    random,
    legacySessionId: sessionId,
    cipherSuites: c.suites,
    legacyCompressionMethods: Uint8Array.of(0),
    extensions: ext,
  };
}

/** Dispatch one handshake message in a client phase. */
export function clientHandshake(cx: Cx, msg: HandshakeMessage, raw: Uint8Array): void {
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

function onServerHello(cx: Cx, offer: ClientOffer, sh: ServerHello, raw: Uint8Array): void {
  const s = cx.s;
  const hello = offer.hello;
  const ext = sh.extensions;
  // A server that does not select TLS 1.3 via supported_versions is a TLS 1.2 (or older) server.
  if (ext.supportedVersion === undefined) {
    abort(fail.incompatible(AlertDescription.protocol_version, 'server does not support TLS 1.3'));
  }
  if (ext.supportedVersion !== ProtocolVersion.TLS1_3) {
    abort(fail.illegal(`server selected unoffered version 0x${ext.supportedVersion.toString(16)}`));
  }
  if (!bytesEqual(sh.legacySessionIdEcho, hello.legacySessionId)) abort(fail.illegal('legacy_session_id_echo does not match'));
  if (!hello.cipherSuites.includes(sh.cipherSuite)) abort(fail.illegal('server selected an unoffered cipher suite'));
  if (sh.legacyCompressionMethod !== 0) abort(fail.illegal('non-null compression method'));
  const suite = suiteParams(sh.cipherSuite)!;
  const isHrr = bytesEqual(sh.random, HRR_RANDOM);
  if (isHrr) return onHelloRetryRequest(cx, offer, sh, raw, suite.code);
  if (s.suite && s.suite.code !== suite.code) abort(fail.illegal('ServerHello cipher suite differs from HelloRetryRequest'));
  if (ext.preSharedKey !== undefined) abort(fail.illegal('server accepted a PSK that was not offered'));
  if (ext.cookie !== undefined) abort(fail.illegal('cookie in ServerHello'));
  const share = ext.keyShare;
  if (!share) abort(fail.incompatible(AlertDescription.missing_extension, 'ServerHello without key_share'));
  const kp = offer.keyPairs.find((k) => groupCode(k.group) === share.group);
  if (!kp) abort(fail.illegal('server key share is for a group we sent no share for'));
  const shared = s.config.provider.sharedSecret(kp.group, kp.privateKey, share.keyExchange);
  if (!shared) abort(fail.illegal('invalid server key share'));
  s.suite = suite;
  s.group = kp.group;
  appendTranscript(cx, raw);
  const keys = deriveHandshakeKeys(cx, shared);
  s.rxKey = keys.server;
  s.txKey = keys.client;
  s.phase = { name: 'expectEncryptedExtensions' };
}

function onHelloRetryRequest(cx: Cx, offer: ClientOffer, hrr: ServerHello, raw: Uint8Array, suiteCode: number): void {
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
  const ch1Hash = p.hash(s.suite.hash, s.transcript[0]!);
  const synthetic = new Uint8Array(4 + ch1Hash.length);
  synthetic[0] = HandshakeType.message_hash;
  synthetic[3] = ch1Hash.length;
  synthetic.set(ch1Hash, 4);
  s.transcript = [synthetic, raw];
  s.nego = { ...s.nego, helloRetry: true };
  const keyPairs = group ? [p.generateKeyPair(group)] : offer.keyPairs;
  const hello = buildClientHello(cx, offer.hello.random, offer.hello.legacySessionId, keyPairs, hrr.extensions.cookie);
  sendCcsOnce(cx);
  sendHandshake(cx, { type: 'client_hello', body: hello });
  flushHandshake(cx);
  s.phase = { name: 'expectServerHello', offer: { hello, keyPairs, retried: true } };
}

function onEncryptedExtensions(cx: Cx, ee: EncryptedExtensions, raw: Uint8Array): void {
  const s = cx.s;
  if (ee.alpn !== undefined) {
    if (!s.config.alpn || !s.config.alpn.includes(ee.alpn)) abort(fail.illegal(`server selected unoffered ALPN protocol "${ee.alpn}"`));
  }
  if (ee.earlyData) abort(fail.illegal('server accepted early data that was not offered'));
  s.nego = {
    ...s.nego,
    ...(ee.alpn !== undefined ? { alpn: ee.alpn } : {}),
  };
  appendTranscript(cx, raw);
  s.phase = { name: 'expectCertificateOrRequest' };
}

function onCertificateRequest(cx: Cx, cr: CertificateRequest, raw: Uint8Array): void {
  // RFC 8446 §4.3.2: the context of a handshake CertificateRequest is empty.
  if (cr.context.length !== 0) abort(fail.illegal('non-empty certificate_request_context in handshake'));
  appendTranscript(cx, raw);
  cx.s.phase = { name: 'expectCertificate', requestContext: cr.context, requestSchemes: cr.signatureAlgorithms };
}

function onCertificate(
  cx: Cx,
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
  cx: Cx,
  verifyData: Uint8Array,
  raw: Uint8Array,
  requestContext?: Uint8Array,
  requestSchemes?: readonly number[],
): void {
  const s = cx.s;
  const expected = finishedData(cx, s.secrets.serverHs!);
  if (!bytesEqual(expected, verifyData)) abort(fail.misbehaved(AlertDescription.decrypt_error, 'server Finished does not verify'));
  appendTranscript(cx, raw);
  const app = deriveApplicationKeys(cx);
  if (cx.s.hsBuf.length !== 0) abort(fail.unexpected('handshake data after server Finished not on a record boundary'));
  s.rxKey = app.server;
  // Second flight: [change_cipher_spec] [Certificate, CertificateVerify] Finished, under client_handshake keys.
  sendCcsOnce(cx);
  if (requestContext !== undefined) {
    const scheme = requestSchemes ? chooseScheme(cx, requestSchemes) : undefined;
    if (scheme !== undefined && s.config.chain.length > 0) {
      sendCertificateAndVerify(cx, 'client', scheme, requestContext);
    } else {
      sendHandshake(cx, { type: 'certificate', body: { context: requestContext, entries: [] } });
    }
  }
  sendHandshake(cx, { type: 'finished', body: { verifyData: finishedData(cx, s.secrets.clientHs!) } });
  setTxKey(cx, app.client);
  deriveResumptionSecret(cx);
  s.ccsAllowed = false;
  completeHandshake(cx);
}

