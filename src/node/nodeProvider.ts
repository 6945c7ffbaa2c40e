/**
 * The node:crypto provider: the same {@link CryptoProvider} contract as the noble provider, backed by OpenSSL
 * through `node:crypto`. Faster for bulk record protection; Node-only (the noble provider runs anywhere).
 *
 * Byte arrays returned here are plain `Uint8Array`s that own their memory (never views into Node's shared
 * Buffer pool), so callers can keep, slice and compare them like the noble provider's outputs.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  randomBytes as nodeRandomBytes,
  randomFillSync,
  verify as nodeVerify,
  type Cipher,
  type Hash,
  type KeyObject,
} from 'node:crypto';
import { signWithKeyObject } from './keys.js';
import { hybridDecapsulate, hybridEncapsulate, hybridGenerateKeyPair, hybridKeyPairFromPrivate, type X25519Ops } from '../crypto/mlkem.js';
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
} from '../crypto/provider.js';

/** AEAD tag length (RFC 5116 §5.1, RFC 8439 §2.8): 16 B for all TLS 1.3 AEADs. */
const TAG = 16;
/** AEAD nonce length (RFC 8446 §5.3): 12 B. */
const NONCE = 12;

const HASH_LENGTH: Record<HashAlg, 32 | 48> = { sha256: 32, sha384: 48 };

/** Copy a Buffer into a fresh, standalone Uint8Array (Buffers may be views into a shared pool). */
function own(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

class NodeHasher implements Hasher {
  constructor(private readonly h: Hash) {}
  update(data: Uint8Array): Hasher {
    this.h.update(data);
    return this;
  }
  /** Digest of everything so far; the hasher stays usable (the transcript keeps growing). */
  digest(): Uint8Array {
    return own(this.h.copy().digest());
  }
  clone(): Hasher {
    return new NodeHasher(this.h.copy());
  }
}

function hmac(alg: HashAlg, key: Uint8Array, data: Uint8Array): Uint8Array {
  return own(createHmac(alg, key).update(data).digest());
}

/** HKDF-Expand (RFC 5869 §2.3), written out so Extract and Expand stay separate steps. */
function hkdfExpand(alg: HashAlg, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const hashLen = HASH_LENGTH[alg];
  if (!Number.isInteger(length) || length < 0 || length > 255 * hashLen) {
    throw new RangeError(`HKDF-Expand: length ${length} out of range (max ${255 * hashLen})`);
  }
  // T(1) = HMAC(PRK, info || 0x01): one block covers every TLS 1.3 key, IV and secret.
  const first = createHmac(alg, prk).update(info).update(BLOCK_ONE).digest();
  if (length <= hashLen) return own(first.subarray(0, length));
  const out = new Uint8Array(length);
  out.set(first, 0);
  let prev: Uint8Array = first;
  for (let i = 2, off = hashLen; off < length; i++, off += hashLen) {
    prev = createHmac(alg, prk).update(prev).update(info).update(Uint8Array.of(i)).digest();
    out.set(prev.subarray(0, Math.min(hashLen, length - off)), off);
  }
  return out;
}
const BLOCK_ONE = Uint8Array.of(1);

class NodeAead implements Aead {
  private readonly key: KeyObject;
  constructor(
    readonly alg: AeadAlg,
    key: Uint8Array,
  ) {
    if (key.length !== AEAD_KEY_LENGTH[alg]) {
      throw new RangeError(`${alg}: key must be ${AEAD_KEY_LENGTH[alg]} bytes, got ${key.length}`);
    }
    // One KeyObject per traffic key: createCipheriv then skips re-importing raw key bytes per record.
    this.key = createSecretKey(key);
  }

  /** A cipher for one record (node:crypto's objects take no new nonce), its additional data given. */
  private cipher(nonce: Uint8Array, aad: Uint8Array) {
    checkNonce(nonce);
    // The cast picks the AEAD overload of createCipheriv (setAAD/getAuthTag); ChaCha20-Poly1305 has the same API.
    const c = createCipheriv(this.alg as 'aes-128-gcm', this.key, nonce, { authTagLength: TAG });
    c.setAAD(aad);
    return c;
  }

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const c = this.cipher(nonce, aad);
    const body = c.update(plaintext);
    const tail = c.final();
    const out = new Uint8Array(body.length + tail.length + TAG);
    out.set(body, 0);
    out.set(tail, body.length);
    out.set(c.getAuthTag(), body.length + tail.length);
    return out;
  }

  sealInto(nonce: Uint8Array, aad: Uint8Array, content: Uint8Array, trailer: Uint8Array, out: Uint8Array, offset: number): void {
    const c = this.cipher(nonce, aad);
    // GCM and ChaCha20-Poly1305 are stream modes: each update returns exactly as many bytes as it was given,
    // and `final` none (so it is not copied). No array of parts per record.
    const body = c.update(content);
    out.set(body, offset);
    let o = offset + body.length;
    if (trailer.length) {
      const t = c.update(trailer);
      out.set(t, o);
      o += t.length;
    }
    const tail = c.final();
    if (tail.length) {
      out.set(tail, o);
      o += tail.length;
    }
    out.set(c.getAuthTag(), o);
  }

  sealParts(nonce: Uint8Array, aad: Uint8Array, content: Uint8Array, trailer: Uint8Array, tail: Uint8Array, offset: number): Uint8Array {
    const c = this.cipher(nonce, aad);
    // `update`'s output is a fresh buffer: it goes to the transport as it is. Stream modes: as many bytes out
    // as in, and `final` none.
    const body = c.update(content);
    let o = offset;
    if (trailer.length) {
      const t = c.update(trailer);
      tail.set(t, o);
      o += t.length;
    }
    if (c.final().length) throw new Error(`${this.alg}: unexpected output from final()`);
    tail.set(c.getAuthTag(), o);
    return body;
  }

  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    checkNonce(nonce);
    if (ciphertext.length < TAG) return null;
    try {
      const d = createDecipheriv(this.alg as 'aes-128-gcm', this.key, nonce, { authTagLength: TAG });
      d.setAAD(aad);
      d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG));
      const body = d.update(ciphertext.subarray(0, ciphertext.length - TAG));
      const tail = d.final(); // throws when the tag does not verify
      // GCM and ChaCha20-Poly1305 are stream modes: `final` adds nothing, and `body` is a fresh buffer.
      if (tail.length === 0) return new Uint8Array(body.buffer, body.byteOffset, body.length);
      const out = new Uint8Array(body.length + tail.length);
      out.set(body, 0);
      out.set(tail, body.length);
      return out;
    } catch {
      return null;
    }
  }
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE) throw new RangeError(`AEAD nonce must be ${NONCE} bytes, got ${nonce.length}`);
}

/**
 * Raw 32 B X25519 keys (RFC 7748) go into node:crypto as JWK (RFC 8037 §2, `kty: OKP`): node hands the raw
 * bytes straight to OpenSSL, where a DER PKCS#8/SPKI import runs OpenSSL 3's generic decoder chain and costs
 * several times a whole X25519 operation. Importing a private key ignores `x` (node reads only `d`), so a
 * placeholder is passed and the public key is derived from the imported private key; should a node version
 * insist on `x`, the fixed PKCS#8 framing (RFC 8410 §7) is the fallback.
 */
const b64u = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url');
const X25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

function importX25519Private(priv: Uint8Array): KeyObject {
  try {
    return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(priv), x: '' }, format: 'jwk' });
  } catch {
    const der = new Uint8Array(X25519_PKCS8_PREFIX.length + 32);
    der.set(X25519_PKCS8_PREFIX);
    der.set(priv, X25519_PKCS8_PREFIX.length);
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  }
}

/** A peer's X25519 share (32 B, any value: RFC 7748 §5 masks the top bit) as a KeyObject. */
function importX25519Public(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(pub) }, format: 'jwk' });
}

/** Imported X25519 keys, by key array: a handshake imports its ephemeral key once, not per operation. */
const x25519Keys = new WeakMap<Uint8Array, KeyObject>();

function x25519PrivateKey(priv: Uint8Array): KeyObject {
  let key = x25519Keys.get(priv);
  if (!key) {
    key = importX25519Private(priv);
    x25519Keys.set(priv, key);
  }
  return key;
}

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

/** Raw 56 B X448 keys (RFC 7748) as KeyObjects, through JWK (RFC 8037 §2) as for X25519. */
function importX448Private(priv: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X448', d: b64u(priv), x: '' }, format: 'jwk' });
}
function importX448Public(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X448', x: b64u(pub) }, format: 'jwk' });
}

/** The raw public key of an imported X25519/X448 private key. */
function okpPublicKey(key: KeyObject, size: number): Uint8Array {
  const { x } = createPublicKey(key).export({ format: 'jwk' });
  const publicKey = new Uint8Array(Buffer.from(x ?? '', 'base64url'));
  if (publicKey.length !== size) throw new Error('node:crypto exported no public key');
  return publicKey;
}

/** X25519/X448 through OpenSSL; `null` for a bad peer key or the all-zero output (RFC 7748 §6.1, §6.2). */
function okpShared(privateKey: KeyObject, peer: () => KeyObject): Uint8Array | null {
  try {
    const z = own(diffieHellman({ privateKey, publicKey: peer() }));
    return isAllZero(z) ? null : z;
  } catch {
    return null;
  }
}

/** The X25519 half of X25519MLKEM768 through OpenSSL. */
const X25519_OPS: X25519Ops = {
  publicKey: (priv) => okpPublicKey(importX25519Private(priv), 32),
  shared: (priv, pub) => (pub.length === 32 ? okpShared(importX25519Private(priv), () => importX25519Public(pub)) : null),
};

/** NIST curve parameters: OpenSSL name, scalar and coordinate sizes in bytes, group order n. */
const NIST = {
  secp256r1: {
    openssl: 'prime256v1',
    size: 32,
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
  secp384r1: {
    openssl: 'secp384r1',
    size: 48,
    order:
      0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
  secp521r1: {
    openssl: 'secp521r1',
    size: 66,
    order:
      0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  },
} as const;
type NistGroup = keyof typeof NIST;

function bytesToBigInt(b: Uint8Array): bigint {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

/** A NIST private key is a big-endian scalar in [1, n-1] (SEC 1 §3.2.1). */
function validNistScalar(group: NistGroup, priv: Uint8Array): boolean {
  if (priv.length !== NIST[group].size) return false;
  const d = bytesToBigInt(priv);
  return d > 0n && d < NIST[group].order;
}

function keyPairFromPrivate(group: GroupName, privateKey: Uint8Array): KeyExchangeKeyPair {
  switch (group) {
    case 'x25519': {
      if (privateKey.length !== 32) throw new RangeError(`x25519: private key must be 32 bytes`);
      // The returned array is the cache key of the imported KeyObject, so sharedSecret reuses it.
      const priv = own(privateKey);
      const { x } = createPublicKey(x25519PrivateKey(priv)).export({ format: 'jwk' });
      const publicKey = new Uint8Array(Buffer.from(x ?? '', 'base64url'));
      if (publicKey.length !== 32) throw new Error('x25519: node:crypto exported no public key');
      return { group, privateKey: priv, publicKey };
    }
    case 'x448': {
      if (privateKey.length !== 56) throw new RangeError(`x448: private key must be 56 bytes`);
      return { group, privateKey: own(privateKey), publicKey: okpPublicKey(importX448Private(privateKey), 56) };
    }
    case 'x25519mlkem768':
      return hybridKeyPairFromPrivate(X25519_OPS, privateKey);
    case 'secp256r1':
    case 'secp384r1':
    case 'secp521r1': {
      if (!validNistScalar(group, privateKey)) throw new RangeError(`${group}: invalid private key`);
      const ecdh = createECDH(NIST[group].openssl);
      ecdh.setPrivateKey(privateKey);
      return { group, privateKey: own(privateKey), publicKey: own(ecdh.getPublicKey()) };
    }
  }
}

function sharedSecret(group: GroupName, privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array | null {
  switch (group) {
    case 'x25519': {
      if (privateKey.length !== 32) throw new RangeError(`x25519: private key must be 32 bytes`);
      if (peerPublic.length !== 32) return null;
      try {
        const publicKey = importX25519Public(peerPublic);
        const z = own(diffieHellman({ privateKey: x25519PrivateKey(privateKey), publicKey }));
        // RFC 8446 §7.4.2 / RFC 7748 §6.1: an all-zero result means a low-order peer share; abort.
        return isAllZero(z) ? null : z;
      } catch {
        return null;
      }
    }
    case 'x448': {
      if (privateKey.length !== 56) throw new RangeError(`x448: private key must be 56 bytes`);
      if (peerPublic.length !== 56) return null;
      return okpShared(importX448Private(privateKey), () => importX448Public(peerPublic));
    }
    case 'x25519mlkem768':
      return hybridDecapsulate(X25519_OPS, privateKey, peerPublic);
    case 'secp256r1':
    case 'secp384r1':
    case 'secp521r1': {
      if (!validNistScalar(group, privateKey)) throw new RangeError(`${group}: invalid private key`);
      // RFC 8446 §4.2.8.2: only the uncompressed form (0x04 || X || Y) is allowed on the wire.
      const size = NIST[group].size;
      if (peerPublic.length !== 1 + 2 * size || peerPublic[0] !== 0x04) return null;
      try {
        const ecdh = createECDH(NIST[group].openssl);
        ecdh.setPrivateKey(privateKey);
        // computeSecret checks the point is on the curve and returns the x-coordinate (RFC 8446 §7.4.2).
        return own(ecdh.computeSecret(peerPublic));
      } catch {
        return null;
      }
    }
  }
}

/** How each signature scheme (RFC 8446 §4.2.3) maps onto node:crypto.verify, and which key it needs. */
interface SchemeSpec {
  readonly keyType: 'ec' | 'ed25519' | 'ed448' | 'rsa' | 'rsa-pss';
  readonly curve?: 'prime256v1' | 'secp384r1' | 'secp521r1';
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  readonly pss?: boolean;
}

const SCHEMES = new Map<number, SchemeSpec>([
  [0x0403, { keyType: 'ec', curve: 'prime256v1', hash: 'sha256' }], // ecdsa_secp256r1_sha256
  [0x0503, { keyType: 'ec', curve: 'secp384r1', hash: 'sha384' }], // ecdsa_secp384r1_sha384
  [0x0603, { keyType: 'ec', curve: 'secp521r1', hash: 'sha512' }], // ecdsa_secp521r1_sha512
  [0x0807, { keyType: 'ed25519', hash: null }], // ed25519
  [0x0808, { keyType: 'ed448', hash: null }], // ed448
  [0x0809, { keyType: 'rsa-pss', hash: 'sha256', pss: true }], // rsa_pss_pss_sha256
  [0x080a, { keyType: 'rsa-pss', hash: 'sha384', pss: true }], // rsa_pss_pss_sha384
  [0x080b, { keyType: 'rsa-pss', hash: 'sha512', pss: true }], // rsa_pss_pss_sha512
  [0x0804, { keyType: 'rsa', hash: 'sha256', pss: true }], // rsa_pss_rsae_sha256
  [0x0805, { keyType: 'rsa', hash: 'sha384', pss: true }], // rsa_pss_rsae_sha384
  [0x0806, { keyType: 'rsa', hash: 'sha512', pss: true }], // rsa_pss_rsae_sha512
  [0x0401, { keyType: 'rsa', hash: 'sha256' }], // rsa_pkcs1_sha256
  [0x0501, { keyType: 'rsa', hash: 'sha384' }], // rsa_pkcs1_sha384
  [0x0601, { keyType: 'rsa', hash: 'sha512' }], // rsa_pkcs1_sha512
]);

/** An imported SubjectPublicKeyInfo with the facts `verify` checks, read once. */
interface SpkiKey {
  readonly key: KeyObject;
  readonly type: string | undefined;
  readonly curve: string | undefined;
}

/**
 * Imported SubjectPublicKeyInfos by content, at most {@link SPKI_CACHE_SIZE}, least recently used evicted:
 * a DER SPKI import costs more than an ECDSA verification, and a client meets the same server keys again.
 * Only the parsed key is cached, never a verification result.
 */
const spkiKeys = new Map<string, SpkiKey>();
const SPKI_CACHE_SIZE = 64;

function spkiKey(spki: Uint8Array): SpkiKey {
  const id = Buffer.from(spki.buffer, spki.byteOffset, spki.length).toString('latin1');
  const hit = spkiKeys.get(id);
  if (hit) {
    spkiKeys.delete(id); // re-insert: most recently used last
    spkiKeys.set(id, hit);
    return hit;
  }
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const entry: SpkiKey = { key, type: key.asymmetricKeyType, curve: key.asymmetricKeyDetails?.namedCurve };
  if (spkiKeys.size >= SPKI_CACHE_SIZE) spkiKeys.delete(spkiKeys.keys().next().value!);
  spkiKeys.set(id, entry);
  return entry;
}

function verify(scheme: number, spki: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const spec = SCHEMES.get(scheme);
  if (!spec) return false;
  try {
    const { key, type, curve } = spkiKey(spki);
    // The key must match the scheme: e.g. rsa_pss_rsae_* needs an rsaEncryption key and rsa_pss_pss_* an
    // RSASSA-PSS key (RFC 8446 §4.2.3; OpenSSL enforces the latter's parameters), and an ECDSA scheme names its
    // curve.
    if (type !== spec.keyType) return false;
    if (spec.curve && curve !== spec.curve) return false;
    if (spec.keyType === 'ec') {
      return nodeVerify(spec.hash, message, { key, dsaEncoding: 'der' }, signature);
    }
    if (spec.keyType === 'rsa' || spec.keyType === 'rsa-pss') {
      return nodeVerify(
        spec.hash,
        message,
        spec.pss
          ? // RFC 8446 §4.2.3: "the length of the Salt MUST be equal to the length of the digest algorithm".
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
          : { key, padding: constants.RSA_PKCS1_PADDING },
        signature,
      );
    }
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * Small random values (a handshake draws five or six: its random, its key share, ticket nonces and age_add)
 * come out of a pool refilled 4 KiB at a time: one call into OpenSSL's CSPRNG per few hundred of them instead
 * of one each. Each byte is handed out once, copied into the caller's own array and wiped from the pool.
 */
const POOL_SIZE = 4096;
const POOLED_MAX = 256;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

function randomBytes(n: number): Uint8Array {
  if (n > POOLED_MAX) return own(nodeRandomBytes(n));
  if (poolOffset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.slice(poolOffset, poolOffset + n);
  pool.fill(0, poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

function generateKeyPair(group: GroupName): KeyExchangeKeyPair {
  if (group === 'x25519mlkem768') return hybridGenerateKeyPair(X25519_OPS, randomBytes);
  if (group === 'x25519' || group === 'x448') return keyPairFromPrivate(group, randomBytes(group === 'x448' ? 56 : 32));
  for (;;) {
    const priv = randomBytes(NIST[group].size);
    // Rejection sampling: a random 256/384-bit string is ≥ n with probability < 2^-32; for P-521 the 66 B
    // string is first cut to 521 bits (FIPS 186-5 A.4.2), then ≥ n with probability < 2^-260.
    if (group === 'secp521r1') priv[0]! &= 0x01;
    if (validNistScalar(group, priv)) return keyPairFromPrivate(group, priv);
  }
}

/** X25519MLKEM768 encapsulation (the only KEM group): ML-KEM-768 in JS (`@noble/post-quantum`), X25519 here. */
function encapsulate(group: GroupName, peerShare: Uint8Array): KemEncapsulation | null {
  if (group !== 'x25519mlkem768') throw new RangeError(`${group} is not a KEM group`);
  return hybridEncapsulate(X25519_OPS, randomBytes, peerShare);
}

/**
 * QUIC header protection (RFC 9001 §5.4.3, §5.4.4) through OpenSSL: AES-ECB of the sample, or ChaCha20 whose
 * 16 B OpenSSL IV is exactly the sample (4 B little-endian block counter, then the 12 B nonce).
 */
function headerProtection(alg: AeadAlg, hpKey: Uint8Array, sample: Uint8Array): Uint8Array {
  checkHeaderProtection(alg, hpKey, sample);
  if (alg === 'chacha20-poly1305') {
    return own(createCipheriv('chacha20', hpKey, sample).update(new Uint8Array(5)));
  }
  let c = ecbCiphers.get(hpKey);
  if (!c) {
    c = createCipheriv(alg === 'aes-128-gcm' ? 'aes-128-ecb' : 'aes-256-ecb', hpKey, null).setAutoPadding(false);
    ecbCiphers.set(hpKey, c);
  }
  return own(c.update(sample)).subarray(0, 5);
}

/**
 * One AES-ECB cipher object per header-protection key, reused for every packet: ECB keeps no state between
 * blocks, so `update` of one 16 B block returns that block's encryption (`final` is never called). A packet
 * then costs no cipher construction for its mask. Keyed by the key's array, which the packet keys hold for
 * their lifetime.
 */
const ecbCiphers = new WeakMap<Uint8Array, Cipher>();

/**
 * The node:crypto provider (OpenSSL): SHA-256/384 (32/48 B), HMAC, HKDF (RFC 5869), AES-128/256-GCM and
 * ChaCha20-Poly1305 (RFC 5116, RFC 8439; 16/32 B keys, 12 B nonce, 16 B tag), X25519 (RFC 7748, 32 B) and
 * P-256/P-384 ECDH (SEC 1; 65/97 B uncompressed points, 32/48 B x-coordinate secrets), and signature
 * verification for ECDSA P-256/P-384, Ed25519, RSA-PSS (RSAE) and RSA PKCS#1 v1.5 (RFC 8446 §4.2.3). It also
 * signs CertificateVerify content with keys from `loadPrivateKey` through OpenSSL ({@link CryptoProvider.signWith}).
 *
 * API misuse (wrong key or nonce length, invalid own private key, HKDF length out of range) throws; peer
 * input never does: `open` returns `null`, `sharedSecret` returns `null`, `verify` returns `false`.
 *
 * @example
 * ```ts
 * const aead = nodeProvider.aead('aes-128-gcm', key16);
 * const sealed = aead.seal(nonce12, aad, plaintext); // plaintext.length + 16 bytes
 * ```
 */
export const nodeProvider: CryptoProvider = {
  name: 'node',
  randomBytes,
  hashLength: (alg) => HASH_LENGTH[alg],
  hash: (alg, data) => own(createHash(alg).update(data).digest()),
  hasher: (alg) => new NodeHasher(createHash(alg)),
  hmac,
  // RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM); an empty salt acts as HashLen zeros (HMAC zero-pads keys).
  hkdfExtract: (alg, salt, ikm) => hmac(alg, salt, ikm),
  hkdfExpand,
  aead: (alg, key) => new NodeAead(alg, key),
  generateKeyPair,
  keyPairFromPrivate,
  sharedSecret,
  encapsulate,
  verify,
  signWith: signWithKeyObject,
  headerProtection,
};
