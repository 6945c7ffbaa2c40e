/**
 * Signature verification in pure JS (no node:crypto): backs the noble provider's `verify` for CertificateVerify
 * (RFC 8446 §4.4.3) and anything else that checks a signature against a DER SubjectPublicKeyInfo.
 *
 * - ECDSA P-256/SHA-256, P-384/SHA-384 and P-521/SHA-512 (noble arithmetic, {@link verifyEcdsaDigest}: keys seen repeatedly get
 *   precomputed tables), DER `Ecdsa-Sig-Value`; high S is accepted because OpenSSL produces it half the time
 *   (ECDSA itself does not forbid it).
 * - Ed25519 (RFC 8032, noble) with strict (non-ZIP-215) decoding, and Ed448 (RFC 8032 §5.2, empty context).
 * - RSA (RFC 8017) with BigInt exponentiation on the public key (public data only, so timing does not matter):
 *   RSASSA-PSS with MGF1 and salt length = hash length (RFC 8446 §4.2.3) and RSASSA-PKCS1-v1_5. rsa_pss_rsae_*
 *   takes an rsaEncryption key, rsa_pss_pss_* an RSASSA-PSS key (RFC 4055 §1.2), whose parameters, when present,
 *   must name the scheme's hash for both the digest and MGF1 and allow its salt length.
 *
 * Every failure — malformed key or signature, a scheme that does not match the key, a bad signature — is `false`.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { ed448 } from '@noble/curves/ed448.js';
import { Reader } from '../wire/reader.js';
import {
  DerTag,
  contextTag,
  decodeDerSmallInt,
  peekDerTag,
  decodeDerNull,
  decodeDerOid,
  decodeDerSequence,
  decodeDerUnsigned,
  parseEcdsaSignature,
  parseSpki,
  type Spki,
} from '../wire/der.js';
import { SignatureScheme } from '../wire/tls/constants.js';
import { type EcdsaCurveName, verifyEcdsaDigest } from './ecdsa.js';
import { RSA_HASHES, bitLength, emsaPkcs1Verify, emsaPssVerify, rsaVerifyPrimitive, usableRsaPublicKey, type RsaHash } from './rsa.js';

/** Key types a SubjectPublicKeyInfo can hold, as far as TLS 1.3 is concerned here. */
export type SpkiKeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519' | 'ed448' | 'rsa' | 'rsa-pss' | 'unknown';

/**
 * Object identifiers of key algorithms and curves (RFC 5480 §2.1.1, RFC 8410 §3, RFC 8017 App. C, RFC 4055 §3.1),
 * shared by key loading (`keys.ts`) and signature verification.
 */
export const KEY_OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  secp256r1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  secp521r1: '1.3.132.0.35',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
} as const;
const OID = KEY_OID;

/** Digest algorithm OIDs (NIST CSOR, RFC 5754 §2). */
const HASH_OIDS: Readonly<Record<string, RsaHash['name']>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/**
 * RSASSA-PSS-params (RFC 4055 §3.1) of an RSASSA-PSS key: the hash, the MGF1 hash and the minimum salt length
 * the key may be used with. `undefined` parameters mean the key is unrestricted. SHA-1 (the ASN.1 default) or an
 * unknown hash is not representable here and throws (so the key type is 'unknown').
 */
export interface RsaPssKeyParams {
  readonly hash: RsaHash['name'];
  readonly mgfHash: RsaHash['name'];
  readonly saltLength: number;
}

function decodeHashAlgorithm(r: Reader): RsaHash['name'] {
  const alg = decodeDerSequence(r);
  const oid = decodeDerOid(alg);
  if (alg.remaining > 0) decodeDerNull(alg);
  alg.expectEnd('AlgorithmIdentifier');
  const name = HASH_OIDS[oid];
  if (!name) throw new Error(`RSASSA-PSS: unsupported hash ${oid}`);
  return name;
}

/**
 * Decode RSASSA-PSS-params (RFC 4055 §3.1) from the DER of the SEQUENCE. Defaults (SHA-1, MGF1-SHA-1) are not
 * accepted: both hashes must be given and be SHA-256/384/512; the salt length defaults to 20 and the trailer
 * field must be 1.
 *
 * @example
 * decodeRsaPssParams(spki.parameters.tlv); // { hash: 'sha256', mgfHash: 'sha256', saltLength: 32 }
 */
export function decodeRsaPssParams(der: Uint8Array): RsaPssKeyParams {
  const outer = new Reader(der);
  const params = decodeDerSequence(outer);
  outer.expectEnd('RSASSA-PSS-params');
  let hash: RsaHash['name'] | undefined;
  let mgfHash: RsaHash['name'] | undefined;
  let saltLength = 20;
  if (peekDerTag(params) === contextTag(0)) {
    const h = decodeDerSequence(params, contextTag(0));
    hash = decodeHashAlgorithm(h);
    h.expectEnd('hashAlgorithm');
  }
  if (peekDerTag(params) === contextTag(1)) {
    const m = decodeDerSequence(params, contextTag(1));
    const mgf = decodeDerSequence(m);
    m.expectEnd('maskGenAlgorithm');
    if (decodeDerOid(mgf) !== OID.mgf1) throw new Error('RSASSA-PSS: mask generation function is not MGF1');
    mgfHash = decodeHashAlgorithm(mgf);
    mgf.expectEnd('MaskGenAlgorithm');
  }
  if (peekDerTag(params) === contextTag(2)) {
    const sl = decodeDerSequence(params, contextTag(2));
    saltLength = decodeDerSmallInt(sl);
    sl.expectEnd('saltLength');
  }
  if (peekDerTag(params) === contextTag(3)) {
    const t = decodeDerSequence(params, contextTag(3));
    if (decodeDerSmallInt(t) !== 1) throw new Error('RSASSA-PSS: trailerField must be 1');
    t.expectEnd('trailerField');
  }
  params.expectEnd('RSASSA-PSS-params');
  if (!hash || !mgfHash) throw new Error('RSASSA-PSS: SHA-1 parameters are not supported');
  return { hash, mgfHash, saltLength };
}

/**
 * The RSASSA-PSS parameters of an SPKI whose key type is 'rsa-pss' (RFC 4055 §1.2), `undefined` when absent
 * (an unrestricted key). Throws for malformed input.
 */
export function spkiPssParams(spki: Uint8Array): RsaPssKeyParams | undefined {
  const k = parseSpki(spki);
  if (k.algorithm !== OID.rsassaPss) throw new Error('not an RSASSA-PSS key');
  return k.parameters ? decodeRsaPssParams(k.parameters.tlv) : undefined;
}

/**
 * The key type of a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), or `'unknown'` (also for malformed input).
 *
 * @example
 * spkiKeyType(certificateSpki(leafDer)); // 'ecdsa-p256'
 */
export function spkiKeyType(spki: Uint8Array): SpkiKeyType {
  try {
    return keyTypeOf(parseSpki(spki));
  } catch {
    return 'unknown';
  }
}

function keyTypeOf(k: Spki): SpkiKeyType {
  switch (k.algorithm) {
    case OID.ecPublicKey: {
      // RFC 5480 §2.1.1: namedCurve parameters; implicit/specified curves are not supported.
      if (!k.parameters || k.parameters.tag !== DerTag.OID) return 'unknown';
      const curve = decodeDerOid(new Reader(k.parameters.tlv));
      return curve === OID.secp256r1
        ? 'ecdsa-p256'
        : curve === OID.secp384r1
          ? 'ecdsa-p384'
          : curve === OID.secp521r1
            ? 'ecdsa-p521'
            : 'unknown';
    }
    case OID.ed25519:
      // RFC 8410 §3: parameters MUST be absent.
      return k.parameters ? 'unknown' : 'ed25519';
    case OID.ed448:
      return k.parameters ? 'unknown' : 'ed448';
    case OID.rsassaPss:
      // RFC 4055 §1.2: parameters absent (unrestricted) or RSASSA-PSS-params that must parse.
      if (k.parameters) decodeRsaPssParams(k.parameters.tlv);
      return 'rsa-pss';
    case OID.rsaEncryption:
      // RFC 8017 App. C / RFC 3279 §2.3.1: parameters MUST be NULL (tolerate absence, as OpenSSL does).
      if (k.parameters) decodeDerNull(new Reader(k.parameters.tlv));
      return 'rsa';
    default:
      return 'unknown';
  }
}

const SHA256 = RSA_HASHES.sha256;
const SHA384 = RSA_HASHES.sha384;
const SHA512 = RSA_HASHES.sha512;

/**
 * Verify `signature` over `message` with the key in `spki` (DER SubjectPublicKeyInfo) under TLS `scheme`
 * (RFC 8446 §4.2.3 code point). ECDSA signatures are DER; Ed25519 64 B; RSA exactly the modulus length.
 *
 * @returns true only for a valid signature whose scheme matches the key type; never throws.
 * @example
 * verifySignature(SignatureScheme.ecdsa_secp256r1_sha256, spki, content, sig);
 */
export function verifySignature(scheme: number, spki: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = parseSpki(spki);
    const type = keyTypeOf(key);
    switch (scheme) {
      case SignatureScheme.ecdsa_secp256r1_sha256:
        return type === 'ecdsa-p256' && verifyEcdsa('p256', SHA256, key.publicKey, message, signature);
      case SignatureScheme.ecdsa_secp384r1_sha384:
        return type === 'ecdsa-p384' && verifyEcdsa('p384', SHA384, key.publicKey, message, signature);
      case SignatureScheme.ecdsa_secp521r1_sha512:
        return type === 'ecdsa-p521' && verifyEcdsa('p521', SHA512, key.publicKey, message, signature);
      case SignatureScheme.ed25519:
        // RFC 8032 §5.1.7 (strict decoding, as OpenSSL does).
        return (
          type === 'ed25519' &&
          key.publicKey.length === 32 &&
          signature.length === 64 &&
          ed25519.verify(signature, message, key.publicKey, { zip215: false })
        );
      case SignatureScheme.ed448:
        return type === 'ed448' && verifyEd448(key.publicKey, message, signature);
      case SignatureScheme.rsa_pss_pss_sha256:
        return type === 'rsa-pss' && verifyRsaPssKey(key, SHA256, message, signature);
      case SignatureScheme.rsa_pss_pss_sha384:
        return type === 'rsa-pss' && verifyRsaPssKey(key, SHA384, message, signature);
      case SignatureScheme.rsa_pss_pss_sha512:
        return type === 'rsa-pss' && verifyRsaPssKey(key, SHA512, message, signature);
      case SignatureScheme.rsa_pss_rsae_sha256:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em, bits) => emsaPssVerify(SHA256, message, em, bits));
      case SignatureScheme.rsa_pss_rsae_sha384:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em, bits) => emsaPssVerify(SHA384, message, em, bits));
      case SignatureScheme.rsa_pss_rsae_sha512:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em, bits) => emsaPssVerify(SHA512, message, em, bits));
      case SignatureScheme.rsa_pkcs1_sha256:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em) => emsaPkcs1Verify(SHA256, message, em));
      case SignatureScheme.rsa_pkcs1_sha384:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em) => emsaPkcs1Verify(SHA384, message, em));
      case SignatureScheme.rsa_pkcs1_sha512:
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em) => emsaPkcs1Verify(SHA512, message, em));
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** Ed448 (RFC 8032 §5.2.7, empty context as TLS uses it, RFC 8446 §4.2.3): 57 B key, 114 B signature. */
function verifyEd448(pub: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  return pub.length === 57 && sig.length === 114 && ed448.verify(sig, message, pub);
}

/**
 * rsa_pss_pss_* (RFC 8446 §4.2.3) with an RSASSA-PSS key: salt length = hash length; the key's parameters, when
 * present, must name `h` for the digest and MGF1 and allow a salt of that length (RFC 4055 §3.3: the key's
 * saltLength is a minimum).
 */
function verifyRsaPssKey(key: Spki, h: RsaHash, message: Uint8Array, signature: Uint8Array): boolean {
  if (key.parameters) {
    const p = decodeRsaPssParams(key.parameters.tlv);
    if (p.hash !== h.name || p.mgfHash !== h.name || p.saltLength > h.len) return false;
  }
  return verifyRsa(key.publicKey, signature, (em, bits) => emsaPssVerify(h, message, em, bits));
}

/** ECDSA (FIPS 186-5 §6.4.2) over `h`; the DER signature is parsed strictly here. */
function verifyEcdsa(curve: EcdsaCurveName, h: RsaHash, pub: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const { r, s } = parseEcdsaSignature(sig);
  return verifyEcdsaDigest(curve, pub, h.hash(message), r, s);
}

/** RSAVP1 (RFC 8017 §5.2.2 / §8.1.2 step 2) then the encoding check `check(EM, modBits)`. */
function verifyRsa(publicKey: Uint8Array, sig: Uint8Array, check: (em: Uint8Array, modBits: number) => boolean): boolean {
  // RFC 8017 App. A.1.1: RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
  const outer = new Reader(publicKey);
  const seq = decodeDerSequence(outer);
  outer.expectEnd('RSAPublicKey');
  const n = decodeDerUnsigned(seq);
  const e = decodeDerUnsigned(seq);
  seq.expectEnd('RSAPublicKey');
  // The bounds keep the exponentiation cheap and rule out degenerate keys.
  if (!usableRsaPublicKey(n, e)) return false;
  const em = rsaVerifyPrimitive({ n, e }, sig);
  return em !== undefined && check(em, bitLength(n));
}

/**
 * A certificate signature algorithm (RFC 5280 §4.1.1.2) as far as verification needs it: the key type, the
 * hash and, for RSASSA-PSS (RFC 4055 §3.1), the MGF1 hash and salt length.
 */
export type SignatureAlgorithm =
  | { readonly kind: 'ecdsa'; readonly hash: RsaHash['name'] }
  | { readonly kind: 'ed25519' }
  | { readonly kind: 'ed448' }
  | { readonly kind: 'rsa-pkcs1'; readonly hash: RsaHash['name'] }
  | { readonly kind: 'rsa-pss'; readonly hash: RsaHash['name']; readonly mgfHash: RsaHash['name']; readonly saltLength: number };

/**
 * Verify a signature made with a certificate signature algorithm (X.509 signatures, RFC 5280 §4.1.1.3;
 * algorithms of RFC 3279, RFC 4055, RFC 5758, RFC 8410) with the key in `spki`. Unlike {@link verifySignature}
 * the ECDSA hash is not tied to the curve (ecdsa-with-SHA384 under a P-256 key is valid X.509).
 *
 * @returns true only for a valid signature whose algorithm matches the key type; never throws.
 * @example
 * verifyWithAlgorithm({ kind: 'ecdsa', hash: 'sha256' }, issuerSpki, tbsCertificate, signatureValue);
 */
export function verifyWithAlgorithm(alg: SignatureAlgorithm, spki: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = parseSpki(spki);
    const type = keyTypeOf(key);
    switch (alg.kind) {
      case 'ecdsa': {
        const curve = type === 'ecdsa-p256' ? 'p256' : type === 'ecdsa-p384' ? 'p384' : type === 'ecdsa-p521' ? 'p521' : undefined;
        return curve !== undefined && verifyEcdsa(curve, RSA_HASHES[alg.hash], key.publicKey, message, signature);
      }
      case 'ed25519':
        return type === 'ed25519' && key.publicKey.length === 32 && signature.length === 64 && ed25519.verify(signature, message, key.publicKey, { zip215: false });
      case 'ed448':
        return type === 'ed448' && verifyEd448(key.publicKey, message, signature);
      case 'rsa-pkcs1':
        return type === 'rsa' && verifyRsa(key.publicKey, signature, (em) => emsaPkcs1Verify(RSA_HASHES[alg.hash], message, em));
      case 'rsa-pss':
        // An RSASSA-PSS issuer key with parameters only signs with those (RFC 4055 §3.3).
        if (type === 'rsa-pss' && key.parameters) {
          const p = decodeRsaPssParams(key.parameters.tlv);
          if (p.hash !== alg.hash || p.mgfHash !== alg.mgfHash || alg.saltLength < p.saltLength) return false;
        }
        return (
          (type === 'rsa' || type === 'rsa-pss') &&
          verifyRsa(key.publicKey, signature, (em, bits) =>
            emsaPssVerify(RSA_HASHES[alg.hash], message, em, bits, alg.saltLength, RSA_HASHES[alg.mgfHash]),
          )
        );
      default:
        return false;
    }
  } catch {
    return false;
  }
}
