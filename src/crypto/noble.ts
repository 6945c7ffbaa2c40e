/**
 * The default provider: pure JavaScript (the audited `@noble/*` libraries), so rxtls runs unchanged in Node,
 * browsers, Deno and workers. Signature verification is delegated to {@link verifySignature}.
 */
import { ecb, gcm } from '@noble/ciphers/aes.js';
import { chacha20, chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { p256, p384 } from '@noble/curves/nist.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384 } from '@noble/hashes/sha2.js';
import { AEAD_KEY_LENGTH, checkHeaderProtection, type Aead, type AeadAlg, type CryptoProvider, type GroupName, type HashAlg, type Hasher, type KeyExchangeKeyPair } from './provider.js';
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

const NIST = { secp256r1: { curve: p256, size: 32 }, secp384r1: { curve: p384, size: 48 } } as const;

function privateKeyLength(group: GroupName): number {
  return group === 'secp384r1' ? 48 : 32;
}

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

function keyPairFromPrivate(group: GroupName, privateKey: Uint8Array): KeyExchangeKeyPair {
  switch (group) {
    case 'x25519':
      if (privateKey.length !== 32) throw new RangeError('x25519: private key must be 32 bytes');
      return { group, privateKey: privateKey.slice(), publicKey: x25519.getPublicKey(privateKey) };
    case 'secp256r1':
    case 'secp384r1': {
      const { curve, size } = NIST[group];
      if (privateKey.length !== size || !curve.utils.isValidSecretKey(privateKey)) {
        throw new RangeError(`${group}: invalid private key`);
      }
      return { group, privateKey: privateKey.slice(), publicKey: curve.getPublicKey(privateKey, false) };
    }
  }
}

function sharedSecret(group: GroupName, privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array | null {
  switch (group) {
    case 'x25519': {
      if (privateKey.length !== 32) throw new RangeError('x25519: private key must be 32 bytes');
      if (peerPublic.length !== 32) return null;
      try {
        const z = x25519.getSharedSecret(privateKey, peerPublic);
        // RFC 8446 §7.4.2 / RFC 7748 §6.1: an all-zero result means a low-order peer share; abort.
        return isAllZero(z) ? null : z;
      } catch {
        return null; // noble rejects the all-zero output itself
      }
    }
    case 'secp256r1':
    case 'secp384r1': {
      const { curve, size } = NIST[group];
      if (privateKey.length !== size || !curve.utils.isValidSecretKey(privateKey)) {
        throw new RangeError(`${group}: invalid private key`);
      }
      // RFC 8446 §4.2.8.2: only the uncompressed form (0x04 || X || Y) is allowed on the wire.
      if (peerPublic.length !== 1 + 2 * size || peerPublic[0] !== 0x04) return null;
      try {
        // Decoding checks the point is on the curve; the compressed result is 0x02/0x03 || X and
        // RFC 8446 §7.4.2 keeps only X.
        return curve.getSharedSecret(privateKey, peerPublic, true).slice(1);
      } catch {
        return null;
      }
    }
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
 * ChaCha20-Poly1305 (RFC 5116, RFC 8439; 16/32 B keys, 12 B nonce, 16 B tag), X25519 (RFC 7748, 32 B) and
 * P-256/P-384 ECDH (SEC 1; 65/97 B uncompressed points, 32/48 B x-coordinate secrets; RFC 8446 §7.4).
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
    const len = privateKeyLength(group);
    for (;;) {
      const priv = draw(len);
      // Rejection sampling for the NIST curves (a random 256/384-bit string is ≥ n with probability < 2^-32).
      if (group === 'x25519' || NIST[group].curve.utils.isValidSecretKey(priv)) return keyPairFromPrivate(group, priv);
    }
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
