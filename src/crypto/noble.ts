/**
 * The default provider: pure JavaScript (the audited `@noble/*` libraries), so rxtls runs unchanged in Node,
 * browsers, Deno and workers. Signature verification is delegated to {@link verifySignature}.
 */
import { ecb, gcm } from '@noble/ciphers/aes.js';
import { chacha20, chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { x448 } from '@noble/curves/ed448.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384 } from '@noble/hashes/sha2.js';
import { hybridDecapsulate, hybridEncapsulate, hybridGenerateKeyPair, hybridKeyPairFromPrivate, type X25519Ops } from './mlkem.js';
import {
  AEAD_KEY_LENGTH,
  checkHeaderProtection,
  type Aead,
  type AeadAlg,
  type CryptoProvider,
  type GroupName,
  type HashAlg,
  type Hasher,
  type KemEncapsulation,
  type KeyExchangeKeyPair,
} from './provider.js';
import { verifySignature } from './signatures.js';

/** AEAD tag length (RFC 5116 §5.1, RFC 8439 §2.8): 16 B for all TLS 1.3 AEADs. */
const TAG = 16;
/** AEAD nonce length (RFC 8446 §5.3): 12 B. */
const NONCE = 12;

const HASHES = { sha256, sha384 } as const;
const HASH_LENGTH: Record<HashAlg, 32 | 48> = { sha256: 32, sha384: 48 };

/** The part of a noble hash instance used here. */
interface NobleHash {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
  clone(): NobleHash;
}

class NobleHasher implements Hasher {
  constructor(private readonly h: NobleHash) {}
  update(data: Uint8Array): Hasher {
    this.h.update(data);
    return this;
  }
  /** Digest of everything so far; the hasher stays usable (noble's own digest() would finish it). */
  digest(): Uint8Array {
    return this.h.clone().digest();
  }
  clone(): Hasher {
    return new NobleHasher(this.h.clone());
  }
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE) throw new RangeError(`AEAD nonce must be ${NONCE} bytes, got ${nonce.length}`);
}

/**
 * The per-key scratch buffer of {@link NobleAead}: room for the largest TLS 1.3 record body (2^14 + 256 bytes
 * of ciphertext and tag, RFC 8446 §5.2), so assembling a plaintext or aligning a ciphertext never allocates.
 */
const SCRATCH_MAX = 16384 + 256;

class NobleAead implements Aead {
  private readonly key: Uint8Array;
  private scratch?: Uint8Array;
  constructor(
    readonly alg: AeadAlg,
    key: Uint8Array,
  ) {
    if (key.length !== AEAD_KEY_LENGTH[alg]) {
      throw new RangeError(`${alg}: key must be ${AEAD_KEY_LENGTH[alg]} bytes, got ${key.length}`);
    }
    this.key = key.slice(); // own copy: the caller may reuse or wipe its buffer
  }

  private cipher(nonce: Uint8Array, aad: Uint8Array) {
    return this.alg === 'chacha20-poly1305' ? chacha20poly1305(this.key, nonce, aad) : gcm(this.key, nonce, aad);
  }

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    checkNonce(nonce);
    return this.cipher(nonce, aad).encrypt(plaintext);
  }

  /** `n` bytes of the scratch buffer (4-byte aligned), or a fresh buffer when `n` is larger. */
  private scratchOf(n: number): Uint8Array {
    if (n > SCRATCH_MAX) return new Uint8Array(n);
    this.scratch ??= new Uint8Array(SCRATCH_MAX);
    return this.scratch.subarray(0, n);
  }

  sealInto(nonce: Uint8Array, aad: Uint8Array, content: Uint8Array, trailer: Uint8Array, out: Uint8Array, offset: number): void {
    // noble seals one contiguous, 4-byte-aligned plaintext: assemble it in the scratch buffer (records are
    // sealed one at a time on this thread) instead of a fresh allocation per record.
    const inner = this.scratchOf(content.length + trailer.length);
    inner.set(content, 0);
    inner.set(trailer, content.length);
    out.set(this.seal(nonce, aad, inner), offset);
    inner.fill(0); // no plaintext left behind in the scratch buffer
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    checkNonce(nonce);
    if (ciphertext.length < TAG) return null;
    try {
      // noble copies a ciphertext that is not 4-byte aligned (a record inside a received chunk usually is
      // not): align it in the scratch buffer instead of a fresh allocation per record.
      const input = ciphertext.byteOffset % 4 === 0 ? ciphertext : this.scratchOf(ciphertext.length);
      if (input !== ciphertext) input.set(ciphertext);
      return this.cipher(nonce, aad).decrypt(input);
    } catch {
      return null; // tag mismatch
    }
  }
}

const NIST = {
  secp256r1: { curve: p256, size: 32 },
  secp384r1: { curve: p384, size: 48 },
  secp521r1: { curve: p521, size: 66 },
} as const;
type NistGroup = keyof typeof NIST;

/** The Montgomery curves (RFC 7748): private keys, public keys and outputs of 32 B (X25519) and 56 B (X448). */
const MONTGOMERY = { x25519: { curve: x25519, size: 32 }, x448: { curve: x448, size: 56 } } as const;
type MontgomeryGroup = keyof typeof MONTGOMERY;

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

/** X25519/X448 (RFC 7748 §5); `null` for a wrong-length peer key or the all-zero output (§6.1, §6.2). */
function montgomeryShared(group: MontgomeryGroup, privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array | null {
  const { curve, size } = MONTGOMERY[group];
  if (privateKey.length !== size) throw new RangeError(`${group}: private key must be ${size} bytes`);
  if (peerPublic.length !== size) return null;
  try {
    const z = curve.getSharedSecret(privateKey, peerPublic);
    // RFC 8446 §7.4.2 / RFC 7748 §6: an all-zero result means a low-order peer share; abort.
    return isAllZero(z) ? null : z;
  } catch {
    return null; // noble rejects the all-zero output itself
  }
}

/** The X25519 half of X25519MLKEM768 on noble. */
const X25519_OPS: X25519Ops = {
  publicKey: (priv) => x25519.getPublicKey(priv),
  shared: (priv, pub) => montgomeryShared('x25519', priv, pub),
};

function keyPairFromPrivate(group: GroupName, privateKey: Uint8Array): KeyExchangeKeyPair {
  switch (group) {
    case 'x25519':
    case 'x448': {
      const { curve, size } = MONTGOMERY[group];
      if (privateKey.length !== size) throw new RangeError(`${group}: private key must be ${size} bytes`);
      return { group, privateKey: privateKey.slice(), publicKey: curve.getPublicKey(privateKey) };
    }
    case 'secp256r1':
    case 'secp384r1':
    case 'secp521r1': {
      const { curve, size } = NIST[group];
      if (privateKey.length !== size || !curve.utils.isValidSecretKey(privateKey)) {
        throw new RangeError(`${group}: invalid private key`);
      }
      return { group, privateKey: privateKey.slice(), publicKey: curve.getPublicKey(privateKey, false) };
    }
    case 'x25519mlkem768':
      return hybridKeyPairFromPrivate(X25519_OPS, privateKey);
  }
}

function nistShared(group: NistGroup, privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array | null {
  const { curve, size } = NIST[group];
  if (privateKey.length !== size || !curve.utils.isValidSecretKey(privateKey)) {
    throw new RangeError(`${group}: invalid private key`);
  }
  // RFC 8446 §4.2.8.2: only the uncompressed form (0x04 || X || Y) is allowed on the wire.
  if (peerPublic.length !== 1 + 2 * size || peerPublic[0] !== 0x04) return null;
  try {
    // Decoding checks the point is on the curve; the compressed result is 0x02/0x03 || X and
    // RFC 8446 §7.4.2 keeps only X (fixed length: 32/48/66 B).
    return curve.getSharedSecret(privateKey, peerPublic, true).slice(1);
  } catch {
    return null;
  }
}

function sharedSecret(group: GroupName, privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array | null {
  switch (group) {
    case 'x25519':
    case 'x448':
      return montgomeryShared(group, privateKey, peerPublic);
    case 'secp256r1':
    case 'secp384r1':
    case 'secp521r1':
      return nistShared(group, privateKey, peerPublic);
    case 'x25519mlkem768':
      return hybridDecapsulate(X25519_OPS, privateKey, peerPublic);
  }
}

/** Options for {@link createNobleProvider}. */
export interface NobleProviderOptions {
  /**
   * The randomness source (ephemeral private keys and {@link CryptoProvider.randomBytes}). Defaults to
   * `crypto.getRandomValues`. Inject a seeded source for deterministic tests (RFC 8448 replays).
   */
  readonly randomBytes?: (n: number) => Uint8Array;
}

function defaultRandomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes per call (WebCrypto §10.1.1).
  for (let off = 0; off < n; off += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

/**
 * Build a noble-backed provider: SHA-256/384 (32/48 B), HMAC, HKDF (RFC 5869), AES-128/256-GCM and
 * ChaCha20-Poly1305 (RFC 5116, RFC 8439; 16/32 B keys, 12 B nonce, 16 B tag), X25519/X448 (RFC 7748, 32/56 B),
 * P-256/P-384/P-521 ECDH (SEC 1; 65/97/133 B uncompressed points, 32/48/66 B x-coordinate secrets; RFC 8446
 * §7.4) and the hybrid KEM X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem, see `mlkem.ts`).
 *
 * API misuse (wrong key or nonce length, invalid own private key, HKDF length out of range) throws; peer
 * input never does: `open` returns `null`, `sharedSecret` returns `null`, `verify` returns `false`.
 *
 * @example
 * ```ts
 * // Deterministic provider for a replayed trace:
 * const p = createNobleProvider({ randomBytes: (n) => rfcRandom.splice(0, n) });
 * const kp = p.generateKeyPair('x25519'); // private key = the first 32 injected bytes
 * ```
 */
export function createNobleProvider(opts: NobleProviderOptions = {}): CryptoProvider {
  const randomBytes = opts.randomBytes ?? defaultRandomBytes;
  const draw = (n: number): Uint8Array => {
    const b = randomBytes(n);
    if (b.length !== n) throw new RangeError(`randomBytes(${n}) returned ${b.length} bytes`);
    return b;
  };

  function generateKeyPair(group: GroupName): KeyExchangeKeyPair {
    if (group === 'x25519mlkem768') return hybridGenerateKeyPair(X25519_OPS, draw);
    if (group === 'x25519' || group === 'x448') return keyPairFromPrivate(group, draw(MONTGOMERY[group].size));
    const { curve, size } = NIST[group];
    for (;;) {
      const priv = draw(size);
      // Rejection sampling: a random 256/384-bit string is ≥ n with probability < 2^-32; for P-521 the 66 B
      // string is first cut to 521 bits (FIPS 186-5 A.4.2), then ≥ n with probability < 2^-260.
      if (group === 'secp521r1') priv[0]! &= 0x01;
      if (curve.utils.isValidSecretKey(priv)) return keyPairFromPrivate(group, priv);
    }
  }

  function encapsulate(group: GroupName, peerShare: Uint8Array): KemEncapsulation | null {
    if (group !== 'x25519mlkem768') throw new RangeError(`${group} is not a KEM group`);
    return hybridEncapsulate(X25519_OPS, draw, peerShare);
  }

  return {
    name: 'noble',
    randomBytes: draw,
    hashLength: (alg) => HASH_LENGTH[alg],
    hash: (alg, data) => HASHES[alg](data),
    hasher: (alg) => new NobleHasher(HASHES[alg].create()),
    hmac: (alg, key, data) => hmac(HASHES[alg], key, data),
    hkdfExtract: (alg, salt, ikm) => extract(HASHES[alg], ikm, salt),
    hkdfExpand: (alg, prk, info, length) => expand(HASHES[alg], prk, info, length),
    aead: (alg, key) => new NobleAead(alg, key),
    generateKeyPair,
    keyPairFromPrivate,
    sharedSecret,
    encapsulate,
    verify: (scheme, spki, message, signature) => {
      try {
        return verifySignature(scheme, spki, message, signature);
      } catch {
        return false; // the contract: false on any failure, never a throw
      }
    },
    headerProtection,
  };
}

/** QUIC header protection (RFC 9001 §5.4.3, §5.4.4): the 5 B mask for a 16 B sample. */
function headerProtection(alg: AeadAlg, hpKey: Uint8Array, sample: Uint8Array): Uint8Array {
  checkHeaderProtection(alg, hpKey, sample);
  if (alg === 'chacha20-poly1305') {
    const counter = (sample[0]! | (sample[1]! << 8) | (sample[2]! << 16) | (sample[3]! << 24)) >>> 0;
    return chacha20(hpKey, sample.slice(4, 16), new Uint8Array(5), undefined, counter);
  }
  return ecb(hpKey, { disablePadding: true }).encrypt(sample.slice()).subarray(0, 5);
}

/** The default noble provider, with randomness from `crypto.getRandomValues`. See {@link createNobleProvider}. */
export const nobleProvider: CryptoProvider = createNobleProvider();
