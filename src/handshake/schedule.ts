/**
 * The key schedule steps of a handshake (RFC 8446 §7.1), applied to the working state: each step reads the
 * transcript, derives the secrets with the variant's label prefix, logs them (SSLKEYLOGFILE labels) and
 * returns the traffic secrets for the layer to turn into record or packet keys.
 */
import {
  Label,
  type SuiteParams,
  deriveSecret,
  earlySecret,
  finishedVerifyData,
  handshakeSecret,
  masterSecret,
} from '../crypto/keySchedule.js';
import { type HsCx, keyLog, transcriptHash } from './state.js';

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
export function deriveHandshakeKeys(cx: HsCx, shared: Uint8Array | undefined, psk?: Uint8Array): TrafficSecrets {
  const s = cx.s;
  const p = s.config.provider;
  const pre = s.config.labelPrefix;
  const suite = s.suite!;
  const h = transcriptHash(cx);
  const early = earlySecret(p, suite.hash, psk);
  const hs = handshakeSecret(p, suite.hash, early, shared, pre);
  const clientHs = deriveSecret(p, suite.hash, hs, L.cHs, h, pre);
  const serverHs = deriveSecret(p, suite.hash, hs, L.sHs, h, pre);
  s.secrets = { ...s.secrets, handshake: hs, clientHs, serverHs };
  keyLog(cx, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET', clientHs);
  keyLog(cx, 'SERVER_HANDSHAKE_TRAFFIC_SECRET', serverHs);
  return { client: clientHs, server: serverHs };
}

/** A pair of traffic secrets, one per sender (32/48 B each). */
export interface TrafficSecrets {
  readonly client: Uint8Array;
  readonly server: Uint8Array;
}

/** client_early_traffic_secret over Hash(ClientHello) (RFC 8446 §7.1), logged; `early` is the Early Secret. */
export function deriveEarlyTrafficSecret(cx: HsCx, hash: SuiteParams['hash'], early: Uint8Array, clientHelloHash: Uint8Array): Uint8Array {
  const secret = deriveSecret(cx.s.config.provider, hash, early, Label.clientEarlyTraffic, clientHelloHash, cx.s.config.labelPrefix);
  keyLog(cx, 'CLIENT_EARLY_TRAFFIC_SECRET', secret);
  return secret;
}

/** After the server Finished: Master Secret → application traffic secrets and the exporter secret. */
export function deriveApplicationKeys(cx: HsCx): TrafficSecrets {
  const s = cx.s;
  const p = s.config.provider;
  const pre = s.config.labelPrefix;
  const suite = s.suite!;
  const h = transcriptHash(cx);
  const master = masterSecret(p, suite.hash, s.secrets.handshake!, pre);
  const clientAp = deriveSecret(p, suite.hash, master, L.cAp, h, pre);
  const serverAp = deriveSecret(p, suite.hash, master, L.sAp, h, pre);
  const exporter = deriveSecret(p, suite.hash, master, L.exp, h, pre);
  s.secrets = { ...s.secrets, master, clientAp, serverAp, exporter };
  keyLog(cx, 'CLIENT_TRAFFIC_SECRET_0', clientAp);
  keyLog(cx, 'SERVER_TRAFFIC_SECRET_0', serverAp);
  keyLog(cx, 'EXPORTER_SECRET', exporter);
  return { client: clientAp, server: serverAp };
}

/** After the client Finished: resumption master secret (RFC 8446 §7.1). */
export function deriveResumptionSecret(cx: HsCx): void {
  const s = cx.s;
  s.secrets = {
    ...s.secrets,
    resumption: deriveSecret(s.config.provider, s.suite!.hash, s.secrets.master!, L.res, transcriptHash(cx), s.config.labelPrefix),
  };
}

/** Finished.verify_data over the transcript so far, keyed by a handshake traffic secret (RFC 8446 §4.4.4). */
export function finishedData(cx: HsCx, baseSecret: Uint8Array): Uint8Array {
  return finishedVerifyData(cx.s.config.provider, cx.s.suite!.hash, baseSecret, transcriptHash(cx), cx.s.config.labelPrefix);
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
