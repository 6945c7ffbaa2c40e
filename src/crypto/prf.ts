/**
 * The TLS 1.2 key derivation (RFC 5246 §5, §6.3, §7.4.9; RFC 7627 §4) as pure functions of a
 * {@link CryptoProvider}: the PRF over P_SHA256 / P_SHA384 (HMAC from the provider), the master secret (extended,
 * or the RFC 5246 §8.1 one), the key block and Finished.verify_data; and the parameters of the TLS 1.2 AEAD suites.
 *
 * ```
 * pre_master_secret (ECDHE output) ─PRF("extended master secret", Hash(ClientHello..ClientKeyExchange))→ master (48 B)
 * master ─PRF("key expansion", server_random ‖ client_random)→ client_write_key ‖ server_write_key ‖ client_IV ‖ server_IV
 * master ─PRF("client finished" | "server finished", Hash(handshake_messages))→ verify_data (12 B)
 * ```
 */
import { Tls12CipherSuite, type Tls12CipherSuiteName } from '../wire/tls/constants.js';
import type { AeadAlg, CryptoProvider, HashAlg } from './provider.js';

/** What the TLS 1.2 handshake and record layer need to know about a suite (RFC 5288, RFC 5289, RFC 7905). */
export interface Tls12SuiteParams {
  /** IANA code point (e.g. 0xc02b). */
  readonly code: number;
  /** IANA name (`TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`). */
  readonly name: Tls12CipherSuiteName;
  /** OpenSSL name (`ECDHE-ECDSA-AES128-GCM-SHA256`). */
  readonly opensslName: string;
  /** The PRF hash (RFC 5246 §5: SHA-256 unless the suite says otherwise; SHA-384 for the AES-256 suites). */
  readonly hash: HashAlg;
  readonly aead: AeadAlg;
  /** AEAD key length: 16 or 32 B. */
  readonly keyLength: 16 | 32;
  /**
   * The IV the key block gives each direction: 4 B (the implicit salt of AES-GCM, RFC 5288 §3) or 12 B
   * (ChaCha20-Poly1305, XORed with the sequence number, RFC 7905 §2).
   */
  readonly fixedIvLength: 4 | 12;
  /** Bytes of explicit nonce sent in every record: 8 (AES-GCM, RFC 5288 §3) or 0 (ChaCha20-Poly1305). */
  readonly explicitNonceLength: 8 | 0;
  /** The certificate the suite authenticates with: ECDSA (or EdDSA, RFC 8422 §5.4) or RSA (RSASSA-PSS keys too). */
  readonly auth: 'ecdsa' | 'rsa';
}

const TLS12_SUITES: ReadonlyMap<number, Tls12SuiteParams> = new Map<number, Tls12SuiteParams>(
  (
    [
      ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'sha256', 'aes-128-gcm', 'ecdsa'],
      ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'sha384', 'aes-256-gcm', 'ecdsa'],
      ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'sha256', 'aes-128-gcm', 'rsa'],
      ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'sha384', 'aes-256-gcm', 'rsa'],
      ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305', 'sha256', 'chacha20-poly1305', 'rsa'],
      ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'sha256', 'chacha20-poly1305', 'ecdsa'],
    ] as const
  ).map(([name, opensslName, hash, aead, auth]) => {
    const code = Tls12CipherSuite[name];
    const gcm = aead !== 'chacha20-poly1305';
    return [
      code,
      Object.freeze({
        code,
        name,
        opensslName,
        hash,
        aead,
        keyLength: aead === 'aes-128-gcm' ? 16 : 32,
        fixedIvLength: gcm ? 4 : 12,
        explicitNonceLength: gcm ? 8 : 0,
        auth,
      } as const),
    ] as const;
  }),
);

/**
 * Parameters of a TLS 1.2 suite, or `undefined` for a code point rxtls does not speak in TLS 1.2.
 *
 * @example
 * tls12SuiteParams(0xc02f); // { name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', hash: 'sha256', fixedIvLength: 4, … }
 */
export function tls12SuiteParams(code: number): Tls12SuiteParams | undefined {
  return TLS12_SUITES.get(code);
}

/** Every TLS 1.2 suite rxtls speaks. */
export function tls12Suites(): readonly Tls12SuiteParams[] {
  return [...TLS12_SUITES.values()];
}

const encoder = new TextEncoder();

/**
 * P_hash(secret, seed) (RFC 5246 §5): HMAC(secret, A(1) ‖ seed) ‖ HMAC(secret, A(2) ‖ seed) ‖ … with
 * A(0) = seed, A(i) = HMAC(secret, A(i−1)), cut to `length` bytes.
 */
function pHash(p: CryptoProvider, hash: HashAlg, secret: Uint8Array, seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const input = new Uint8Array(p.hashLength(hash) + seed.length);
  input.set(seed, p.hashLength(hash));
  let a = seed;
  for (let at = 0; at < length; ) {
    a = p.hmac(hash, secret, a);
    input.set(a, 0);
    const block = p.hmac(hash, secret, input);
    out.set(block.subarray(0, Math.min(block.length, length - at)), at);
    at += block.length;
  }
  return out;
}

/**
 * PRF(secret, label, seed) = P_<hash>(secret, label ‖ seed) (RFC 5246 §5), `length` bytes. `label` is ASCII
 * without a terminating NUL.
 *
 * @example
 * const master = prf(p, 'sha256', pms, 'extended master secret', sessionHash, 48);
 */
export function prf(p: CryptoProvider, hash: HashAlg, secret: Uint8Array, label: string, seed: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0) throw new RangeError(`PRF length out of range: ${length}`);
  const l = encoder.encode(label);
  const full = new Uint8Array(l.length + seed.length);
  full.set(l, 0);
  full.set(seed, l.length);
  return pHash(p, hash, secret, full, length);
}

/** Length of a TLS 1.2 master secret (RFC 5246 §8.1). */
export const MASTER_SECRET_LENGTH = 48;

/**
 * The extended master secret (RFC 7627 §4): PRF(pre_master_secret, "extended master secret", session_hash),
 * 48 B, `sessionHash` being the transcript hash up to and including the ClientKeyExchange.
 */
export function extendedMasterSecret(p: CryptoProvider, hash: HashAlg, preMaster: Uint8Array, sessionHash: Uint8Array): Uint8Array {
  return prf(p, hash, preMaster, 'extended master secret', sessionHash, MASTER_SECRET_LENGTH);
}

/**
 * The RFC 5246 §8.1 master secret: PRF(pre_master_secret, "master secret", ClientHello.random ‖
 * ServerHello.random), 48 B. Only when extended master secret is not required and the peer did not offer it.
 */
export function legacyMasterSecret(
  p: CryptoProvider,
  hash: HashAlg,
  preMaster: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): Uint8Array {
  return prf(p, hash, preMaster, 'master secret', concat2(clientRandom, serverRandom), MASTER_SECRET_LENGTH);
}

/** One direction's record protection material from the key block: the AEAD key and the fixed IV. */
export interface Tls12WriteKeys {
  /** 16 or 32 B. */
  readonly key: Uint8Array;
  /** 4 B (AES-GCM salt) or 12 B (ChaCha20-Poly1305). */
  readonly iv: Uint8Array;
}

/**
 * The key block (RFC 5246 §6.3): PRF(master, "key expansion", server_random ‖ client_random) cut into
 * client_write_key, server_write_key, client_write_IV, server_write_IV (AEAD suites have no MAC keys).
 */
export function keyBlock(
  p: CryptoProvider,
  suite: Tls12SuiteParams,
  master: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): { readonly client: Tls12WriteKeys; readonly server: Tls12WriteKeys } {
  const k = suite.keyLength;
  const v = suite.fixedIvLength;
  const block = prf(p, suite.hash, master, 'key expansion', concat2(serverRandom, clientRandom), 2 * k + 2 * v);
  return {
    client: { key: block.slice(0, k), iv: block.slice(2 * k, 2 * k + v) },
    server: { key: block.slice(k, 2 * k), iv: block.slice(2 * k + v, 2 * k + 2 * v) },
  };
}

/**
 * Finished.verify_data (RFC 5246 §7.4.9): PRF(master, "client finished" | "server finished",
 * Hash(handshake_messages)), 12 B.
 */
export function finishedVerifyData12(p: CryptoProvider, hash: HashAlg, master: Uint8Array, sender: 'client' | 'server', transcriptHash: Uint8Array): Uint8Array {
  return prf(p, hash, master, `${sender} finished`, transcriptHash, 12);
}

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
