/**
 * The TLS 1.3 key schedule (RFC 8446 §7.1–§7.3, §4.4.4, §4.6.1, §4.2.11.2) as pure functions of a
 * {@link CryptoProvider}. Nothing here holds state: the handshake code keeps the secrets and passes in the
 * transcript hashes it has computed.
 *
 * ```
 *              0 (or PSK) ─► HKDF-Extract(salt 0) = Early Secret ─► binder key, c e traffic, e exp master
 *                                   │ Derive-Secret(., "derived", "")
 *   (EC)DHE (or 0) ─► HKDF-Extract = Handshake Secret ─► c hs traffic, s hs traffic
 *                                   │ Derive-Secret(., "derived", "")
 *                0 ─► HKDF-Extract = Master Secret ─► c ap traffic, s ap traffic, exp master, res master
 * ```
 */
import type { Tls13CipherSuiteName } from '../wire/tls/constants.js';
import { CipherSuite } from '../wire/tls/constants.js';
import type { AeadAlg, CryptoProvider, HashAlg } from './provider.js';

/** Labels of RFC 8446 §7.1, without the `"tls13 "` prefix that {@link hkdfExpandLabel} adds. */
export const Label = {
  /** Early Secret → client_early_traffic_secret (0-RTT data). */
  clientEarlyTraffic: 'c e traffic',
  /** Early Secret → early_exporter_master_secret. */
  earlyExporterMaster: 'e exp master',
  /** Handshake Secret → client_handshake_traffic_secret. */
  clientHandshakeTraffic: 'c hs traffic',
  /** Handshake Secret → server_handshake_traffic_secret. */
  serverHandshakeTraffic: 's hs traffic',
  /** Master Secret → client_application_traffic_secret_0. */
  clientApplicationTraffic: 'c ap traffic',
  /** Master Secret → server_application_traffic_secret_0. */
  serverApplicationTraffic: 's ap traffic',
  /** Master Secret → exporter_master_secret. */
  exporterMaster: 'exp master',
  /** Master Secret → resumption_master_secret. */
  resumptionMaster: 'res master',
  /** Salt for the next extraction stage. */
  derived: 'derived',
  /** Early Secret → binder_key for external PSKs. */
  externalBinder: 'ext binder',
  /** Early Secret → binder_key for resumption PSKs. */
  resumptionBinder: 'res binder',
  /** Traffic secret → Finished MAC key (§4.4.4). */
  finished: 'finished',
  /** Traffic secret → write key (§7.3). */
  key: 'key',
  /** Traffic secret → write IV (§7.3). */
  iv: 'iv',
  /** Traffic secret N → N+1 (§7.2, KeyUpdate). */
  trafficUpdate: 'traffic upd',
  /** resumption_master_secret + ticket_nonce → PSK (§4.6.1). */
  resumption: 'resumption',
} as const;
export type Label = (typeof Label)[keyof typeof Label];

/** What the key schedule and record layer need to know about a cipher suite (RFC 8446 §B.4). */
export interface SuiteParams {
  /** IANA code point (e.g. 0x1301). */
  readonly code: number;
  readonly name: Tls13CipherSuiteName;
  /** Hash for HKDF and the transcript: 32 B (SHA-256) or 48 B (SHA-384). */
  readonly hash: HashAlg;
  readonly aead: AeadAlg;
  /** AEAD key length in bytes. */
  readonly keyLength: 16 | 32;
  /** Per-record nonce / write IV length in bytes (RFC 8446 §5.3). */
  readonly ivLength: 12;
}

const SUITES: ReadonlyMap<number, SuiteParams> = new Map<number, SuiteParams>(
  (
    [
      ['TLS_AES_128_GCM_SHA256', 'sha256', 'aes-128-gcm', 16],
      ['TLS_AES_256_GCM_SHA384', 'sha384', 'aes-256-gcm', 32],
      ['TLS_CHACHA20_POLY1305_SHA256', 'sha256', 'chacha20-poly1305', 32],
    ] as const
  ).map(([name, hash, aead, keyLength]) => {
    const code = CipherSuite[name];
    return [code, Object.freeze({ code, name, hash, aead, keyLength, ivLength: 12 })] as const;
  }),
);

/**
 * Parameters of a TLS 1.3 cipher suite (RFC 8446 §B.4), or `undefined` for a code point we do not support.
 *
 * @example
 * ```ts
 * suiteParams(0x1301); // { name: 'TLS_AES_128_GCM_SHA256', hash: 'sha256', aead: 'aes-128-gcm', keyLength: 16, … }
 * ```
 */
export function suiteParams(code: number): SuiteParams | undefined {
  return SUITES.get(code);
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Encoded `"tls13 " + label`, for the few labels a connection uses over and over (bounded: labels may be any string). */
const fullLabels = new Map<string, Uint8Array>();
const FULL_LABEL_CACHE_SIZE = 64;

/**
 * The prefix of every HkdfLabel: `"tls13 "` for TLS 1.3 and QUIC (RFC 8446 §7.1, RFC 9001 §5.1), `"dtls13"` for
 * DTLS 1.3 (RFC 9147 §5.9). Both are 6 bytes.
 */
export type LabelPrefix = 'tls13 ' | 'dtls13';
/** The TLS 1.3 prefix, the default everywhere. */
export const TLS13: LabelPrefix = 'tls13 ';

function encodeFullLabel(label: string, prefix: LabelPrefix): Uint8Array {
  const cacheKey = prefix + label;
  let full = fullLabels.get(cacheKey);
  if (!full) {
    full = encoder.encode(cacheKey);
    if (fullLabels.size < FULL_LABEL_CACHE_SIZE) fullLabels.set(cacheKey, full);
  }
  return full;
}

/**
 * HKDF-Expand-Label (RFC 8446 §7.1): HKDF-Expand(secret, HkdfLabel, length) with
 * `HkdfLabel = uint16 length || opaque label<7..255> = "tls13 " + label || opaque context<0..255>`.
 *
 * @param label - the label WITHOUT the `"tls13 "` prefix (e.g. `"c hs traffic"`, see {@link Label}).
 * @param prefix - `"tls13 "` (default; TLS 1.3, QUIC) or `"dtls13"` (DTLS 1.3, RFC 9147 §5.9).
 * @param context - 0–255 B (usually a transcript hash, 32/48 B, or empty).
 * @param length - output length in bytes, 0–65535 (and at most 255 × hash length).
 *
 * @example
 * ```ts
 * const key = hkdfExpandLabel(p, 'sha256', trafficSecret, 'key', new Uint8Array(0), 16);
 * ```
 */
export function hkdfExpandLabel(
  p: CryptoProvider,
  hash: HashAlg,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
  prefix: LabelPrefix = TLS13,
): Uint8Array {
  const fullLabel = encodeFullLabel(label, prefix);
  if (fullLabel.length > 255) throw new RangeError(`HKDF label too long: ${fullLabel.length} bytes`);
  if (context.length > 255) throw new RangeError(`HKDF context too long: ${context.length} bytes`);
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new RangeError(`HKDF-Expand-Label length out of range: ${length}`);
  }
  const info = new Uint8Array(2 + 1 + fullLabel.length + 1 + context.length);
  info[0] = length >>> 8;
  info[1] = length & 0xff;
  info[2] = fullLabel.length;
  info.set(fullLabel, 3);
  info[3 + fullLabel.length] = context.length;
  info.set(context, 4 + fullLabel.length);
  return p.hkdfExpand(hash, secret, info, length);
}

/**
 * Derive-Secret (RFC 8446 §7.1): `HKDF-Expand-Label(secret, label, Transcript-Hash(messages), Hash.length)`.
 * Takes the transcript hash already computed (32/48 B); returns a secret of the hash length (32/48 B).
 */
export function deriveSecret(
  p: CryptoProvider,
  hash: HashAlg,
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
  prefix: LabelPrefix = TLS13,
): Uint8Array {
  return hkdfExpandLabel(p, hash, secret, label, transcriptHash, p.hashLength(hash), prefix);
}

/** The "derived" salt for the next stage: Derive-Secret(secret, "derived", "") (RFC 8446 §7.1). */
function derivedSalt(p: CryptoProvider, hash: HashAlg, secret: Uint8Array, prefix: LabelPrefix): Uint8Array {
  return deriveSecret(p, hash, secret, Label.derived, p.hash(hash, EMPTY), prefix);
}

/**
 * Early Secret = HKDF-Extract(salt = 0, IKM = PSK) (RFC 8446 §7.1). Without a PSK the IKM is a string of
 * Hash.length zeros. Output: 32/48 B.
 *
 * @example
 * ```ts
 * const early = earlySecret(p, 'sha256'); // 33ad0a1c… (RFC 8448 §3)
 * ```
 */
export function earlySecret(p: CryptoProvider, hash: HashAlg, psk?: Uint8Array): Uint8Array {
  const zeros = new Uint8Array(p.hashLength(hash));
  return p.hkdfExtract(hash, zeros, psk ?? zeros);
}

/**
 * Handshake Secret = HKDF-Extract(salt = Derive-Secret(Early Secret, "derived", ""), IKM = (EC)DHE)
 * (RFC 8446 §7.1). Without (EC)DHE (psk_ke mode) the IKM is Hash.length zeros. Output: 32/48 B.
 */
export function handshakeSecret(
  p: CryptoProvider,
  hash: HashAlg,
  early: Uint8Array,
  sharedSecret?: Uint8Array,
  prefix: LabelPrefix = TLS13,
): Uint8Array {
  return p.hkdfExtract(hash, derivedSalt(p, hash, early, prefix), sharedSecret ?? new Uint8Array(p.hashLength(hash)));
}

/**
 * Master Secret = HKDF-Extract(salt = Derive-Secret(Handshake Secret, "derived", ""), IKM = 0)
 * (RFC 8446 §7.1). Output: 32/48 B.
 */
export function masterSecret(p: CryptoProvider, hash: HashAlg, handshake: Uint8Array, prefix: LabelPrefix = TLS13): Uint8Array {
  return p.hkdfExtract(hash, derivedSalt(p, hash, handshake, prefix), new Uint8Array(p.hashLength(hash)));
}

/** A record protection key and IV (RFC 8446 §7.3). */
export interface TrafficKeys {
  /** AEAD key: 16 B (AES-128-GCM) or 32 B (AES-256-GCM, ChaCha20-Poly1305). */
  readonly key: Uint8Array;
  /** Write IV: 12 B, XORed with the sequence number per record (§5.3). */
  readonly iv: Uint8Array;
}

/**
 * Traffic key calculation (RFC 8446 §7.3): `key = HKDF-Expand-Label(secret, "key", "", key_length)`,
 * `iv = HKDF-Expand-Label(secret, "iv", "", iv_length)`.
 *
 * @example
 * ```ts
 * const { key, iv } = trafficKeys(p, suiteParams(0x1301)!, serverHandshakeTrafficSecret);
 * ```
 */
export function trafficKeys(p: CryptoProvider, suite: SuiteParams, trafficSecret: Uint8Array, prefix: LabelPrefix = TLS13): TrafficKeys {
  return {
    key: hkdfExpandLabel(p, suite.hash, trafficSecret, Label.key, EMPTY, suite.keyLength, prefix),
    iv: hkdfExpandLabel(p, suite.hash, trafficSecret, Label.iv, EMPTY, suite.ivLength, prefix),
  };
}

/**
 * finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length) (RFC 8446 §4.4.4). BaseKey is the
 * sender's handshake traffic secret (or the binder key for PSK binders, §4.2.11.2). Output: 32/48 B.
 */
export function finishedKey(p: CryptoProvider, hash: HashAlg, baseKey: Uint8Array, prefix: LabelPrefix = TLS13): Uint8Array {
  return hkdfExpandLabel(p, hash, baseKey, Label.finished, EMPTY, p.hashLength(hash), prefix);
}

/**
 * Finished verify_data = HMAC(finished_key, Transcript-Hash(Handshake Context, Certificate*,
 * CertificateVerify*)) (RFC 8446 §4.4.4); also the PSK binder value (§4.2.11.2). Output: 32/48 B.
 *
 * @example
 * ```ts
 * const verifyData = finishedVerifyData(p, 'sha256', serverHsTrafficSecret, transcript.digest());
 * ```
 */
export function finishedVerifyData(
  p: CryptoProvider,
  hash: HashAlg,
  baseKey: Uint8Array,
  transcriptHash: Uint8Array,
  prefix: LabelPrefix = TLS13,
): Uint8Array {
  return p.hmac(hash, finishedKey(p, hash, baseKey, prefix), transcriptHash);
}

/**
 * application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length)
 * (RFC 8446 §7.2, used on KeyUpdate). Output: 32/48 B.
 */
export function nextTrafficSecret(p: CryptoProvider, hash: HashAlg, secret: Uint8Array, prefix: LabelPrefix = TLS13): Uint8Array {
  return hkdfExpandLabel(p, hash, secret, Label.trafficUpdate, EMPTY, p.hashLength(hash), prefix);
}

/**
 * The PSK of a ticket: HKDF-Expand-Label(resumption_master_secret, "resumption", ticket_nonce, Hash.length)
 * (RFC 8446 §4.6.1). `ticketNonce` is 0–255 B. Output: 32/48 B.
 */
export function resumptionPsk(
  p: CryptoProvider,
  hash: HashAlg,
  resumptionMasterSecret: Uint8Array,
  ticketNonce: Uint8Array,
  prefix: LabelPrefix = TLS13,
): Uint8Array {
  return hkdfExpandLabel(p, hash, resumptionMasterSecret, Label.resumption, ticketNonce, p.hashLength(hash), prefix);
}

/**
 * binder_key = Derive-Secret(Early Secret, "ext binder" | "res binder", "") (RFC 8446 §7.1, §4.2.11.2).
 * Feed it to {@link finishedVerifyData} with the partial ClientHello hash to get the binder. Output: 32/48 B.
 */
export function binderKey(p: CryptoProvider, hash: HashAlg, early: Uint8Array, external: boolean, prefix: LabelPrefix = TLS13): Uint8Array {
  return deriveSecret(p, hash, early, external ? Label.externalBinder : Label.resumptionBinder, p.hash(hash, EMPTY), prefix);
}

/**
 * The per-record nonce (RFC 8446 §5.3): the 64-bit sequence number, big-endian and left-padded to the IV
 * length, XORed with the write IV. `iv` is 12 B; `seq` a non-negative safe integer (< 2^53). Output: 12 B.
 *
 * @example
 * ```ts
 * recordNonce(iv, 0); // equals iv
 * recordNonce(iv, 1); // iv with its last byte XOR 0x01
 * ```
 */
export function recordNonce(iv: Uint8Array, seq: number): Uint8Array {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`record sequence number out of range: ${seq}`);
  if (iv.length < 8) throw new RangeError(`IV too short: ${iv.length} bytes`);
  const nonce = iv.slice();
  const n = nonce.length;
  // 2^53 does not fit 32-bit operators: split into high and low 32-bit words.
  const hi = Math.floor(seq / 0x1_0000_0000);
  const lo = seq >>> 0;
  nonce[n - 1] ^= lo & 0xff;
  nonce[n - 2] ^= (lo >>> 8) & 0xff;
  nonce[n - 3] ^= (lo >>> 16) & 0xff;
  nonce[n - 4] ^= lo >>> 24;
  nonce[n - 5] ^= hi & 0xff;
  nonce[n - 6] ^= (hi >>> 8) & 0xff;
  nonce[n - 7] ^= (hi >>> 16) & 0xff;
  nonce[n - 8] ^= hi >>> 24;
  return nonce;
}
