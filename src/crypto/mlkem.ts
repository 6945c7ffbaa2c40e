/**
 * The hybrid key exchange X25519MLKEM768 (TLS NamedGroup 0x11ec), draft-ietf-tls-ecdhe-mlkem §3.1, on ML-KEM-768
 * (FIPS 203, `@noble/post-quantum`) and a provider's own X25519 (RFC 7748).
 *
 * ML-KEM comes first everywhere in this group, unlike the older X25519Kyber768Draft00 (draft §3: the ML-KEM
 * shared secret goes first so the FIPS-approved part leads the HKDF input):
 * - client share (§3.1.1): ML-KEM-768 encapsulation key (1184 B) ‖ X25519 public key (32 B) = 1216 B;
 * - server share (§3.1.2): ML-KEM-768 ciphertext (1088 B) ‖ X25519 public key (32 B) = 1120 B;
 * - shared secret (§3.1.3): ML-KEM shared secret (32 B) ‖ X25519 shared secret (32 B) = 64 B.
 *
 * A KEM is not Diffie-Hellman: the server encapsulates to the client's key ({@link hybridEncapsulate}), the client
 * decapsulates the server's ciphertext ({@link hybridDecapsulate}). Checks (§3.1.2, §3.1.3): the server runs the
 * FIPS 203 §7.2 encapsulation-key (modulus) check, both sides check share lengths and the X25519 all-zero
 * output; each failure is an invalid share (`null`, illegal_parameter).
 *
 * Private keys: the client's key pair holds the expanded form, ML-KEM decapsulation key (2400 B) ‖ X25519
 * private key (32 B) = 2432 B, so decapsulation does not re-run key generation. `keyPairFromPrivate` also takes
 * the 96 B seed form, ML-KEM seed d ‖ z (64 B, FIPS 203 §7.1) ‖ X25519 private key (32 B).
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import type { KemEncapsulation, KeyExchangeKeyPair } from './provider.js';
import { concatBytes } from '../wire/bytes.js';

/** ML-KEM-768 sizes in bytes (FIPS 203 §8, Table 3) and of the X25519MLKEM768 shares (draft §3.1). */
export const X25519MLKEM768_SIZES = {
  /** ML-KEM-768 encapsulation key. */
  encapsulationKey: 1184,
  /** ML-KEM-768 decapsulation key (expanded). */
  decapsulationKey: 2400,
  /** ML-KEM-768 ciphertext. */
  ciphertext: 1088,
  /** ML-KEM key-generation seed d ‖ z. */
  seed: 64,
  /** X25519 keys and shared secret. */
  x25519: 32,
  /** Client share: encapsulation key ‖ X25519 public key. */
  clientShare: 1216,
  /** Server share: ciphertext ‖ X25519 public key. */
  serverShare: 1120,
  /** Shared secret: ML-KEM shared secret ‖ X25519 shared secret. */
  shared: 64,
  /** Our private key as kept in a key pair: decapsulation key ‖ X25519 private key. */
  privateKey: 2432,
  /** The seed form `keyPairFromPrivate` accepts: d ‖ z ‖ X25519 private key. */
  seedPrivateKey: 96,
} as const;

const S = X25519MLKEM768_SIZES;

/** The X25519 half as a provider computes it. */
export interface X25519Ops {
  /** The 32 B public key of a 32 B private key. */
  publicKey(privateKey: Uint8Array): Uint8Array;
  /** X25519(priv, peer), or `null` for a bad peer key or the all-zero output (RFC 7748 §6.1). */
  shared(privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array | null;
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => concatBytes([a, b]);

/**
 * The client key pair for a private key in either form (96 B seed form or 2432 B expanded form, see the module
 * comment). Throws RangeError for another length or a decapsulation key whose embedded hash does not match.
 *
 * @example
 * const kp = hybridKeyPairFromPrivate(x25519Ops, seed96); // kp.publicKey: 1216 B client share
 */
export function hybridKeyPairFromPrivate(x: X25519Ops, privateKey: Uint8Array): KeyExchangeKeyPair {
  let dk: Uint8Array;
  let ek: Uint8Array;
  let xPriv: Uint8Array;
  if (privateKey.length === S.seedPrivateKey) {
    const kp = ml_kem768.keygen(privateKey.subarray(0, S.seed));
    dk = kp.secretKey;
    ek = kp.publicKey;
    xPriv = privateKey.slice(S.seed);
  } else if (privateKey.length === S.privateKey) {
    dk = privateKey.slice(0, S.decapsulationKey);
    ek = ml_kem768.getPublicKey(dk);
    xPriv = privateKey.slice(S.decapsulationKey);
  } else {
    throw new RangeError(`x25519mlkem768: private key must be ${S.seedPrivateKey} or ${S.privateKey} bytes, got ${privateKey.length}`);
  }
  return { group: 'x25519mlkem768', privateKey: concat(dk, xPriv), publicKey: concat(ek, x.publicKey(xPriv)) };
}

/**
 * A fresh client key pair from `draw` (64 B ML-KEM seed, then 32 B X25519 private key).
 *
 * @example
 * hybridGenerateKeyPair(x25519Ops, provider.randomBytes).publicKey.length; // 1216
 */
export function hybridGenerateKeyPair(x: X25519Ops, draw: (n: number) => Uint8Array): KeyExchangeKeyPair {
  const seed = draw(S.seed);
  const xPriv = draw(S.x25519);
  return hybridKeyPairFromPrivate(x, concat(seed, xPriv));
}

/**
 * The server's side (draft §3.1.2): encapsulate to the client's ML-KEM key with 32 B of randomness `m` from
 * `draw` (FIPS 203 Algorithm 20), then X25519 with a fresh 32 B private key. `null` for an invalid client share:
 * not 1216 B, an encapsulation key failing the FIPS 203 §7.2 modulus check, or an all-zero X25519 output.
 *
 * @example
 * const { share, shared } = hybridEncapsulate(x25519Ops, draw, clientShare)!; // 1120 B, 64 B
 */
export function hybridEncapsulate(x: X25519Ops, draw: (n: number) => Uint8Array, clientShare: Uint8Array): KemEncapsulation | null {
  if (clientShare.length !== S.clientShare) return null;
  const ek = clientShare.subarray(0, S.encapsulationKey);
  let kem: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    kem = ml_kem768.encapsulate(ek, draw(32)); // checks the modulus (FIPS 203 §7.2) and throws on failure
  } catch {
    return null;
  }
  const xPriv = draw(S.x25519);
  const xShared = x.shared(xPriv, clientShare.subarray(S.encapsulationKey));
  if (!xShared) return null;
  return { share: concat(kem.cipherText, x.publicKey(xPriv)), shared: concat(kem.sharedSecret, xShared) };
}

/**
 * The client's side (draft §3.1.3): decapsulate the server's ciphertext and finish X25519. `null` for an invalid
 * server share (not 1120 B, or an all-zero X25519 output). ML-KEM decapsulation itself never fails for a
 * well-formed ciphertext (implicit rejection: a wrong one gives an unrelated secret and the handshake fails at
 * Finished). Throws RangeError for a private key that is not the 2432 B expanded form (API misuse).
 */
export function hybridDecapsulate(x: X25519Ops, privateKey: Uint8Array, serverShare: Uint8Array): Uint8Array | null {
  if (privateKey.length !== S.privateKey) throw new RangeError(`x25519mlkem768: private key must be ${S.privateKey} bytes`);
  if (serverShare.length !== S.serverShare) return null;
  const xShared = x.shared(privateKey.subarray(S.decapsulationKey), serverShare.subarray(S.ciphertext));
  if (!xShared) return null;
  const k = ml_kem768.decapsulate(serverShare.subarray(0, S.ciphertext), privateKey.subarray(0, S.decapsulationKey));
  return concat(k, xShared);
}
