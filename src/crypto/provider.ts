/**
 * The crypto provider: every primitive the protocol cores use, behind one interface, so the default
 * pure-JS provider (noble) can be swapped for node:crypto or a worker pool.
 *
 * All methods here are synchronous: the sans-IO core calls them while it reduces an input. Randomness comes
 * only from {@link CryptoProvider.randomBytes}, so a seeded provider makes a connection fully deterministic
 * (the RFC 8448 vector tests inject the RFC's randomness this way). Record sealing/opening may additionally be
 * done in batches and asynchronously through {@link BatchCipher} (see docs/ARCHITECTURE.md, "asynchronous crypto").
 */

/** Hash functions used by TLS 1.3 suites. SHA-256: 32 B output; SHA-384: 48 B output. */
export type HashAlg = 'sha256' | 'sha384';

/** AEAD algorithms (RFC 5116): 12 B nonce, 16 B tag; keys 16 B (AES-128), 32 B (AES-256, ChaCha20). */
export type AeadAlg = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

/**
 * Key exchange groups (RFC 8446 §4.2.7): X25519 and X448 (RFC 7748, 32/56 B shares), NIST P-256/P-384/P-521
 * (uncompressed points, 65/97/133 B), and the hybrid KEM X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem §3.1:
 * client share 1216 B, server share 1120 B, shared secret 64 B).
 */
export type GroupName = 'x25519' | 'secp256r1' | 'secp384r1' | 'secp521r1' | 'x448' | 'x25519mlkem768';

/**
 * Groups that are key encapsulation mechanisms rather than Diffie-Hellman: the server cannot answer with a key
 * pair of its own, it encapsulates to the client's share ({@link CryptoProvider.encapsulate}).
 */
export const KEM_GROUPS: ReadonlySet<GroupName> = new Set<GroupName>(['x25519mlkem768']);

/** The server's half of a key exchange: the share it sends and the shared secret both sides end up with. */
export interface KemEncapsulation {
  /** The server's key_share (a DH public key, or for a KEM the ciphertext, with any DH part appended). */
  readonly share: Uint8Array;
  /** The shared secret fed to the key schedule (RFC 8446 §7.1). */
  readonly shared: Uint8Array;
}

/** Key length of each AEAD, bytes (RFC 5116, RFC 8439). */
export const AEAD_KEY_LENGTH: Readonly<Record<AeadAlg, number>> = { 'aes-128-gcm': 16, 'aes-256-gcm': 32, 'chacha20-poly1305': 32 };

/** An AEAD bound to one key. `open` returns `null` when authentication fails (never throws for bad input). */
export interface Aead {
  readonly alg: AeadAlg;
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null;
  /**
   * Optional: seal `content ‖ trailer` straight into `out` at `offset` (ciphertext, then the 16 B tag), the
   * same bytes `seal` returns. Lets a whole flight of records be sealed into one buffer without building each
   * record's plaintext and ciphertext separately (fewer allocations per record: issue 4, memory bound).
   */
  sealInto?(nonce: Uint8Array, aad: Uint8Array, content: Uint8Array, trailer: Uint8Array, out: Uint8Array, offset: number): void;
  /**
   * Optional: seal `content ‖ trailer` as parts, for a transport that writes a list of buffers: returns the
   * ciphertext of `content` as the cipher produced it (`content.length` bytes, not copied anywhere) and writes
   * the ciphertext of `trailer` and the 16 B tag (`trailer.length + 16` bytes) into `tail` at `offset`. For a
   * cipher whose output is a fresh buffer anyway (node:crypto's `update`), this saves the copy of every sealed
   * byte into a flight buffer (`sealInto`); stream modes only (GCM, ChaCha20-Poly1305).
   */
  sealParts?(nonce: Uint8Array, aad: Uint8Array, content: Uint8Array, trailer: Uint8Array, tail: Uint8Array, offset: number): Uint8Array;
}

/** An ephemeral key pair for one handshake. */
export interface KeyExchangeKeyPair {
  readonly group: GroupName;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/**
 * A private key that can sign CertificateVerify content. Created from PEM/PKCS#8 by `loadPrivateKey`.
 * RSA keys sign through the platform (node:crypto), never home-made modular exponentiation.
 */
export interface SigningKey {
  /** Key type, for choosing schemes. */
  readonly kind: 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519' | 'ed448' | 'rsa' | 'rsa-pss';
  /** Signature schemes (IANA code points) this key can produce, in preference order. */
  readonly schemes: readonly number[];
  sign(scheme: number, message: Uint8Array): Uint8Array;
}

/** One record to seal or open as part of a batch (asynchronous crypto, issue 4). */
export interface RecordJob {
  readonly nonce: Uint8Array;
  readonly aad: Uint8Array;
  readonly data: Uint8Array;
  /**
   * Sealing only: bytes sealed after `data`, as if joined to it (a TLS 1.3 record's content type and padding).
   * Given only to a {@link BatchCipher} whose `trailers` is true; any other gets `data` joined already.
   */
  readonly trailer?: Uint8Array;
}

/** Options of one {@link BatchCipher} call. */
export interface BatchOptions {
  /**
   * Take the results' memory on loan: the results then come with `release` ({@link BatchResults}), which the
   * caller calls once nothing reads any of them any more, and the provider may write later results there
   * instead of allocating. A provider may ignore it (no `release`: the results are the caller's).
   */
  readonly lease?: boolean;
  /**
   * With `lease`: the results may be views of shared memory (`SharedArrayBuffer`), which the worker pool's threads
   * write them into directly, with no copy out on the calling thread. Fine for a socket, for Node's `Buffer` and
   * `TextDecoder`; refused by a few APIs such as Web Crypto. Without it, results are ordinary memory.
   */
  readonly shared?: boolean;
}

/**
 * A batch's results, in job order. `release`, present only when a lease was asked for and granted: hands the
 * memory they lie in back to the provider. Call it at most once, after the last read of any result; never
 * calling it is safe (the memory is then simply collected).
 */
export type BatchResults<T> = T[] & { readonly release?: () => void };

/**
 * Optional batch/asynchronous record cipher. The result may be a Promise; results come back in job order
 * (`null` for a record that failed authentication).
 */
export interface BatchCipher {
  /**
   * True when `sealBatch` seals each job's `data ‖ trailer` (see {@link RecordJob.trailer}): the record layer
   * then hands a record's content and its type over as they are, instead of joining them into a new buffer.
   */
  readonly trailers?: boolean;
  sealBatch(alg: AeadAlg, key: Uint8Array, jobs: readonly RecordJob[], opts?: BatchOptions): BatchResults<Uint8Array> | Promise<BatchResults<Uint8Array>>;
  openBatch(
    alg: AeadAlg,
    key: Uint8Array,
    jobs: readonly RecordJob[],
    opts?: BatchOptions,
  ): BatchResults<Uint8Array | null> | Promise<BatchResults<Uint8Array | null>>;
}

/** The provider interface. */
export interface CryptoProvider {
  readonly name: string;
  /** `n` cryptographically secure random bytes. The only source of randomness in the protocol cores. */
  randomBytes(n: number): Uint8Array;
  hashLength(alg: HashAlg): 32 | 48;
  hash(alg: HashAlg, data: Uint8Array): Uint8Array;
  /** Incremental hash; `clone()` lets the transcript be read mid-way. */
  hasher(alg: HashAlg): Hasher;
  hmac(alg: HashAlg, key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF-Extract (RFC 5869 §2.2). */
  hkdfExtract(alg: HashAlg, salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  /** HKDF-Expand (RFC 5869 §2.3). */
  hkdfExpand(alg: HashAlg, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  aead(alg: AeadAlg, key: Uint8Array): Aead;
  /** A fresh key pair, its private key drawn from {@link randomBytes}. */
  generateKeyPair(group: GroupName): KeyExchangeKeyPair;
  /** The key pair for a given private key (used to inject RFC 8448's fixed shares). */
  keyPairFromPrivate(group: GroupName, privateKey: Uint8Array): KeyExchangeKeyPair;
  /**
   * The (EC)DHE shared secret (RFC 8446 §7.4): X25519/X448 32/56 B (all-zero output rejected, RFC 7748 §6),
   * P-256/P-384/P-521 the x-coordinate (32/48/66 B). For a KEM group this is the client's side, decapsulation:
   * `peerPublic` is the server's share, `privateKey` the one {@link generateKeyPair} made. Returns `null` for an
   * invalid peer share (→ illegal_parameter).
   */
  sharedSecret(group: GroupName, privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array | null;
  /**
   * Optional: the server's side of a KEM group ({@link KEM_GROUPS}) for the client's share `peerShare`:
   * encapsulation, returning the server's share and the shared secret. `null` for an invalid client share (wrong
   * length, an ML-KEM encapsulation key failing the FIPS 203 §7.2 modulus check, an all-zero X25519 output:
   * illegal_parameter). Diffie-Hellman groups never come here (the server uses {@link generateKeyPair} and
   * {@link sharedSecret}); a non-KEM group is API misuse and throws. A provider without it supports no KEM group.
   */
  encapsulate?(group: GroupName, peerShare: Uint8Array): KemEncapsulation | null;
  /**
   * Verify a signature made with `scheme` over `message` by the key in a DER SubjectPublicKeyInfo.
   * ECDSA signatures are DER and accepted with high S (OpenSSL produces them). False on any failure.
   */
  verify(scheme: number, spki: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** Optional batch/asynchronous record protection. */
  readonly batch?: BatchCipher;
  /**
   * Optional: sign CertificateVerify content (RFC 8446 §4.4.3) with `key` under `scheme` on the provider's own
   * engine (node:crypto: OpenSSL, for keys made by `loadPrivateKey`). `undefined` when it cannot use this key,
   * which then signs by itself ({@link SigningKey.sign}). Same signature formats as `SigningKey.sign`.
   */
  signWith?(key: SigningKey, scheme: number, message: Uint8Array): Uint8Array | undefined;
  /**
   * Optional (QUIC needs it, TLS does not): the QUIC header-protection mask (RFC 9001 §5.4), 5 B, from a 16 B
   * `sample` of the ciphertext under the 16/32 B header-protection key of the packet AEAD `alg`. AES
   * (§5.4.3): the first 5 bytes of AES-ECB(hpKey, sample). ChaCha20 (§5.4.4): ChaCha20 with the block counter
   * `sample[0..4]` (little-endian) and the nonce `sample[4..16]`, applied to 5 zero bytes. Wrong key or sample
   * lengths are API misuse and throw.
   */
  headerProtection?(alg: AeadAlg, hpKey: Uint8Array, sample: Uint8Array): Uint8Array;
}

/**
 * The server's key exchange with `provider` for the client's `peerShare` in `group`: `encapsulate` for a KEM
 * group, a fresh key pair and `sharedSecret` for a Diffie-Hellman group. `null` for an invalid client share.
 * A KEM group with a provider lacking `encapsulate` is API misuse (throws).
 *
 * @example
 * const kx = serverKeyExchange(provider, 'x25519', clientShare); // { share: 32 B, shared: 32 B }
 */
export function serverKeyExchange(provider: CryptoProvider, group: GroupName, peerShare: Uint8Array): KemEncapsulation | null {
  if (KEM_GROUPS.has(group)) {
    if (!provider.encapsulate) throw new RangeError(`provider ${provider.name} cannot encapsulate (${group})`);
    return provider.encapsulate(group, peerShare);
  }
  const kp = provider.generateKeyPair(group);
  const shared = provider.sharedSecret(group, kp.privateKey, peerShare);
  return shared ? { share: kp.publicKey, shared } : null;
}

/** Incremental hash state. */
export interface Hasher {
  update(data: Uint8Array): Hasher;
  digest(): Uint8Array;
  clone(): Hasher;
}

/** API misuse checks of {@link CryptoProvider.headerProtection}: the AEAD's key length, a 16 B sample. */
export function checkHeaderProtection(alg: AeadAlg, hpKey: Uint8Array, sample: Uint8Array): void {
  const len = AEAD_KEY_LENGTH[alg] as number | undefined;
  if (len === undefined) throw new RangeError(`unknown AEAD: ${String(alg)}`);
  if (hpKey.length !== len) throw new RangeError(`${alg}: header protection key must be ${len} bytes, got ${hpKey.length}`);
  if (sample.length !== 16) throw new RangeError(`header protection sample must be 16 bytes, got ${sample.length}`);
}
