/**
 * The key schedule steps of a connection (RFC 8446 §7.1), applied to the working state: each step reads
 * the transcript, derives the secrets, logs them (SSLKEYLOGFILE labels) and returns record keys.
 */
import {
  deriveSecret,
  earlySecret,
  finishedVerifyData,
  handshakeSecret,
  masterSecret,
} from '../crypto/keySchedule.js';
import { type Cx, keyLog, transcriptHash } from './state.js';
import { type RecordKey, recordKey } from './record.js';

/** Labels of RFC 8446 §7.1. */
const L = {
  cHs: 'c hs traffic',
  sHs: 's hs traffic',
  cAp: 'c ap traffic',
  sAp: 's ap traffic',
  exp: 'exp master',
  res: 'res master',
} as const;

/**
 * After ServerHello: Early Secret (no PSK) → Handshake Secret from the (EC)DHE output → client/server
 * handshake traffic secrets over Hash(ClientHello..ServerHello).
 */
export function deriveHandshakeKeys(cx: Cx, shared: Uint8Array | undefined, psk?: Uint8Array): { client: RecordKey; server: RecordKey } {
  const s = cx.s;
  const p = s.config.provider;
  const suite = s.suite!;
  const h = transcriptHash(cx);
  const early = earlySecret(p, suite.hash, psk);
  const hs = handshakeSecret(p, suite.hash, early, shared);
  const clientHs = deriveSecret(p, suite.hash, hs, L.cHs, h);
  const serverHs = deriveSecret(p, suite.hash, hs, L.sHs, h);
  s.secrets = { ...s.secrets, handshake: hs, clientHs, serverHs };
  keyLog(cx, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET', clientHs);
  keyLog(cx, 'SERVER_HANDSHAKE_TRAFFIC_SECRET', serverHs);
  return { client: recordKey(p, suite, clientHs), server: recordKey(p, suite, serverHs) };
}

/** After the server Finished: Master Secret → application traffic secrets and the exporter secret. */
export function deriveApplicationKeys(cx: Cx): { client: RecordKey; server: RecordKey } {
  const s = cx.s;
  const p = s.config.provider;
  const suite = s.suite!;
  const h = transcriptHash(cx);
  const master = masterSecret(p, suite.hash, s.secrets.handshake!);
  const clientAp = deriveSecret(p, suite.hash, master, L.cAp, h);
  const serverAp = deriveSecret(p, suite.hash, master, L.sAp, h);
  const exporter = deriveSecret(p, suite.hash, master, L.exp, h);
  s.secrets = { ...s.secrets, master, clientAp, serverAp, exporter };
  keyLog(cx, 'CLIENT_TRAFFIC_SECRET_0', clientAp);
  keyLog(cx, 'SERVER_TRAFFIC_SECRET_0', serverAp);
  keyLog(cx, 'EXPORTER_SECRET', exporter);
  return { client: recordKey(p, suite, clientAp), server: recordKey(p, suite, serverAp) };
}

/** After the client Finished: resumption master secret (RFC 8446 §7.1). */
export function deriveResumptionSecret(cx: Cx): void {
  const s = cx.s;
  s.secrets = {
    ...s.secrets,
    resumption: deriveSecret(s.config.provider, s.suite!.hash, s.secrets.master!, L.res, transcriptHash(cx)),
  };
}

/** Finished.verify_data over the transcript so far, keyed by a handshake traffic secret (RFC 8446 §4.4.4). */
export function finishedData(cx: Cx, baseSecret: Uint8Array): Uint8Array {
  return finishedVerifyData(cx.s.config.provider, cx.s.suite!.hash, baseSecret, transcriptHash(cx));
}

/** The content a CertificateVerify signs (RFC 8446 §4.4.3): 64 spaces, context string, 0, transcript hash. */
export function certificateVerifyContent(role: 'server' | 'client', transcriptHashValue: Uint8Array): Uint8Array {
  const context = new TextEncoder().encode(`TLS 1.3, ${role} CertificateVerify`);
  const out = new Uint8Array(64 + context.length + 1 + transcriptHashValue.length);
  out.fill(0x20, 0, 64);
  out.set(context, 64);
  out[64 + context.length] = 0;
  out.set(transcriptHashValue, 64 + context.length + 1);
  return out;
}
