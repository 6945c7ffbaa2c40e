/**
 * The TLS 1.3 server handshake (RFC 8446 §2, §4): negotiation of version, suite, group (with
 * HelloRetryRequest), ALPN and signature scheme; then the server flight and the client's answer.
 */
import { abort, fail } from '../core/errors.js';
import type { GroupName } from '../crypto/provider.js';
import { suiteParams } from '../crypto/keySchedule.js';
import { AlertDescription, ExtensionType, HRR_RANDOM, HandshakeType, ProtocolVersion } from '../wire/tls/constants.js';
import type { ClientHello, HandshakeMessage, KeyShareEntry } from '../wire/tls/messages.js';
import { checkCertificateVerify, checkPeerCertificate, chooseScheme, SIGNATURE_ALGORITHMS, sendCertificateAndVerify } from './auth.js';
import { unexpected } from './client.js';
import { completeHandshake } from './complete.js';
import { groupCode } from './config.js';
import { deriveApplicationKeys, deriveHandshakeKeys, deriveResumptionSecret, finishedData } from './schedule.js';
import {
  type Cx,
  appendTranscript,
  bytesEqual,
  flushHandshake,
  sendCcsOnce,
  sendHandshake,
  setTxKey,
} from './state.js';

/** Dispatch one handshake message in a server phase. */
export function serverHandshake(cx: Cx, msg: HandshakeMessage, raw: Uint8Array): void {
  const ph = cx.s.phase;
  switch (ph.name) {
    case 'expectClientHello':
      if (msg.type !== 'client_hello') return unexpected(msg, 'ClientHello');
      return onClientHello(cx, msg.body, raw, ph.retry);
    case 'expectClientCertificate':
      if (msg.type !== 'certificate') return unexpected(msg, 'Certificate');
      return onClientCertificate(cx, msg.body.context, msg.body.entries.length, raw, msg);
    case 'expectClientCertificateVerify':
      if (msg.type !== 'certificate_verify') return unexpected(msg, 'CertificateVerify');
      checkCertificateVerify(cx, msg.body, ph.chain[0]!, 'client');
      appendTranscript(cx, raw);
      cx.s.phase = { name: 'expectClientFinished' };
      return;
    case 'expectClientFinished':
      if (msg.type !== 'finished') return unexpected(msg, 'Finished');
      return onClientFinished(cx, msg.body.verifyData, raw);
    default:
      return unexpected(msg, `nothing in phase ${ph.name}`);
  }
}

function onClientHello(
  cx: Cx,
  ch: ClientHello,
  raw: Uint8Array,
  retry: { readonly group: GroupName; readonly suite: number; readonly sessionId: Uint8Array } | undefined,
): void {
  const s = cx.s;
  const c = s.config;
  const p = c.provider;
  const ext = ch.extensions;
  // RFC 8446 §4.1.2: TLS 1.3 ClientHellos carry exactly one null compression method.
  if (ch.legacyCompressionMethods.length !== 1 || ch.legacyCompressionMethods[0] !== 0) {
    abort(fail.illegal('legacy_compression_methods must be [null]'));
  }
  if (!ext.supportedVersions || !ext.supportedVersions.includes(ProtocolVersion.TLS1_3)) {
    abort(fail.incompatible(AlertDescription.protocol_version, 'client does not offer TLS 1.3'));
  }
  // RFC 8446 §4.2.11: pre_shared_key must be the last extension.
  if (ext.preSharedKey && ext.order[ext.order.length - 1] !== ExtensionType.pre_shared_key) {
    abort(fail.illegal('pre_shared_key is not the last extension'));
  }
  if (retry && !bytesEqual(ch.legacySessionId, retry.sessionId)) abort(fail.illegal('second ClientHello changed legacy_session_id'));
  // Suite: server preference among the client's offer.
  const suiteCode = retry ? retry.suite : c.suites.find((sc) => ch.cipherSuites.includes(sc));
  if (suiteCode === undefined || !ch.cipherSuites.includes(suiteCode)) {
    abort(fail.incompatible(AlertDescription.handshake_failure, 'no cipher suite in common'));
  }
  const suite = suiteParams(suiteCode)!;
  if (!ext.supportedGroups) abort(fail.incompatible(AlertDescription.missing_extension, 'ClientHello without supported_groups'));
  if (!ext.keyShares) abort(fail.incompatible(AlertDescription.missing_extension, 'ClientHello without key_share'));
  if (!ext.signatureAlgorithms) {
    abort(fail.incompatible(AlertDescription.missing_extension, 'ClientHello without signature_algorithms'));
  }
  checkKeyShares(ext.keyShares, ext.supportedGroups);
  // Certificate authentication: a scheme for our key that the client accepts.
  const scheme = chooseScheme(cx, ext.signatureAlgorithms);
  if (scheme === undefined) abort(fail.incompatible(AlertDescription.handshake_failure, 'no signature scheme in common with our key'));
  // Group: prefer one of ours for which the client sent a share; else ask for one (HelloRetryRequest).
  let chosen: { group: GroupName; share: KeyShareEntry } | undefined;
  for (const g of c.groups) {
    const share = ext.keyShares.find((k) => k.group === groupCode(g));
    if (share) {
      chosen = { group: g, share };
      break;
    }
  }
  if (retry) {
    // RFC 8446 §4.1.4: the retried ClientHello must carry a share for the group we asked for.
    if (!chosen || chosen.group !== retry.group || ext.keyShares.length !== 1) {
      abort(fail.illegal('second ClientHello does not carry exactly the requested key share'));
    }
  }
  if (!chosen) {
    const group = c.groups.find((g) => ext.supportedGroups!.includes(groupCode(g)));
    if (!group) abort(fail.incompatible(AlertDescription.handshake_failure, 'no key exchange group in common'));
    return sendHelloRetryRequest(cx, ch, raw, suite.code, group);
  }
  // ALPN (RFC 7301 §3.2): our preference; no overlap is no_application_protocol.
  let alpn: string | undefined;
  if (ext.alpn && c.alpn && c.alpn.length > 0) {
    alpn = c.alpn.find((a) => ext.alpn!.includes(a));
    if (alpn === undefined) abort(fail.incompatible(AlertDescription.no_application_protocol, 'no ALPN protocol in common'));
  }
  const kp = p.generateKeyPair(chosen.group);
  const shared = p.sharedSecret(chosen.group, kp.privateKey, chosen.share.keyExchange);
  if (!shared) abort(fail.illegal('invalid client key share'));
  s.suite = suite;
  s.group = chosen.group;
  s.clientRandom = ch.random;
  s.nego = {
    ...s.nego,
    ...(alpn !== undefined ? { alpn } : {}),
    ...(ext.serverName !== undefined ? { serverName: ext.serverName } : {}),
  };
  appendTranscript(cx, raw);
  sendHandshake(cx, {
    type: 'server_hello',
    body: {
      random: p.randomBytes(32),
      legacySessionIdEcho: ch.legacySessionId,
      cipherSuite: suite.code,
      legacyCompressionMethod: 0,
      extensions: {
        supportedVersion: ProtocolVersion.TLS1_3,
        keyShare: { group: groupCode(chosen.group), keyExchange: kp.publicKey },
        unknown: [],
        // Wire order as in RFC 8448 and OpenSSL: key_share, then supported_versions.
        order: [ExtensionType.key_share, ExtensionType.supported_versions],
      },
    },
  });
  flushHandshake(cx);
  // Middlebox compatibility: CCS right after the first server handshake message, when the client asked for it.
  if (ch.legacySessionId.length > 0) sendCcsOnce(cx);
  const keys = deriveHandshakeKeys(cx, shared);
  setTxKey(cx, keys.server);
  s.rxKey = keys.client;
  sendHandshake(cx, {
    type: 'encrypted_extensions',
    body: {
      ...(alpn !== undefined ? { alpn } : {}),
      ...(ext.serverName !== undefined ? { serverNameAck: true as const } : {}),
      unknown: [],
      order: [],
    },
  });
  if (c.requestClientCert) {
    sendHandshake(cx, {
      type: 'certificate_request',
      body: { context: new Uint8Array(0), signatureAlgorithms: SIGNATURE_ALGORITHMS, unknown: [], order: [] },
    });
  }
  sendCertificateAndVerify(cx, 'server', scheme, new Uint8Array(0));
  sendHandshake(cx, { type: 'finished', body: { verifyData: finishedData(cx, s.secrets.serverHs!) } });
  const app = deriveApplicationKeys(cx);
  setTxKey(cx, app.server);
  s.pendingClientKey = app.client;
  s.phase = c.requestClientCert ? { name: 'expectClientCertificate' } : { name: 'expectClientFinished' };
}

/** RFC 8446 §4.2.8: no duplicate groups, and every share's group must be in supported_groups. */
function checkKeyShares(shares: readonly KeyShareEntry[], supported: readonly number[]): void {
  const seen = new Set<number>();
  for (const sh of shares) {
    if (seen.has(sh.group)) abort(fail.illegal('duplicate key share group'));
    seen.add(sh.group);
    if (!supported.includes(sh.group)) abort(fail.illegal('key share for a group not in supported_groups'));
  }
}

function sendHelloRetryRequest(cx: Cx, ch: ClientHello, raw: Uint8Array, suite: number, group: GroupName): void {
  const s = cx.s;
  if (s.phase.name === 'expectClientHello' && s.phase.retry) abort(fail.illegal('second ClientHello still lacks a usable key share'));
  const params = suiteParams(suite)!;
  s.suite = params;
  const chHash = s.config.provider.hash(params.hash, raw);
  const synthetic = new Uint8Array(4 + chHash.length);
  synthetic[0] = HandshakeType.message_hash;
  synthetic[3] = chHash.length;
  synthetic.set(chHash, 4);
  s.transcript = [synthetic];
  s.nego = { ...s.nego, helloRetry: true };
  sendHandshake(cx, {
    type: 'server_hello',
    body: {
      random: HRR_RANDOM,
      legacySessionIdEcho: ch.legacySessionId,
      cipherSuite: suite,
      legacyCompressionMethod: 0,
      extensions: { supportedVersion: ProtocolVersion.TLS1_3, selectedGroup: groupCode(group), unknown: [], order: [] },
    },
  });
  flushHandshake(cx);
  if (ch.legacySessionId.length > 0) sendCcsOnce(cx);
  s.phase = { name: 'expectClientHello', retry: { group, suite, sessionId: ch.legacySessionId } };
}

function onClientCertificate(cx: Cx, context: Uint8Array, count: number, raw: Uint8Array, msg: HandshakeMessage): void {
  const s = cx.s;
  if (context.length !== 0) abort(fail.illegal('certificate_request_context mismatch'));
  if (count === 0) {
    if (s.config.requireClientCert) {
      abort(fail.incompatible(AlertDescription.certificate_required, 'client sent no certificate'));
    }
    appendTranscript(cx, raw);
    s.phase = { name: 'expectClientFinished' };
    return;
  }
  if (msg.type !== 'certificate') return;
  const chain = checkPeerCertificate(cx, msg.body, 'client');
  appendTranscript(cx, raw);
  s.phase = { name: 'expectClientCertificateVerify', chain };
}

function onClientFinished(cx: Cx, verifyData: Uint8Array, raw: Uint8Array): void {
  const s = cx.s;
  const expected = finishedData(cx, s.secrets.clientHs!);
  if (!bytesEqual(expected, verifyData)) abort(fail.misbehaved(AlertDescription.decrypt_error, 'client Finished does not verify'));
  appendTranscript(cx, raw);
  if (s.hsBuf.length !== 0) abort(fail.unexpected('handshake data after client Finished not on a record boundary'));
  s.rxKey = s.pendingClientKey;
  s.pendingClientKey = undefined;
  deriveResumptionSecret(cx);
  s.ccsAllowed = false;
  completeHandshake(cx);
}
