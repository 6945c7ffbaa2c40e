/**
 * `decryptPkcs8`: an EncryptedPrivateKeyInfo (RFC 5958 §3, PEM label `ENCRYPTED PRIVATE KEY`) decrypted with a
 * passphrase, for PBES2 (RFC 8018 §6.2) with PBKDF2 (HMAC-SHA-1/224/256/384/512) and AES-128/192/256-CBC: what
 * `openssl pkcs8 -topk8 -v2 aes-256-cbc` and OpenSSL 3's `genpkey -aes256` write. Portable (@noble/hashes,
 * @noble/ciphers). Legacy PBES1 schemes (DES, RC2) are refused by name.
 */
import { cbc } from '@noble/ciphers/aes.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { TlsError } from '../core/errors.js';
import { DecodeError, Reader } from '../wire/reader.js';
import { decodeDerElement, decodeDerOctetString, decodeDerOid, decodeDerSequence, decodeDerSmallInt, DerTag, peekDerTag } from '../wire/der.js';

const PBES2 = '1.2.840.113549.1.5.13';
/** id-PBKDF2 (RFC 8018 §A.2). */
export const PBKDF2 = '1.2.840.113549.1.5.12';
/** PBKDF2 PRFs (RFC 8018 §B.1.2): hmacWithSHA1 … hmacWithSHA512, by OID. */
export const PRFS = {
  '1.2.840.113549.2.7': sha1,
  '1.2.840.113549.2.8': sha224,
  '1.2.840.113549.2.9': sha256,
  '1.2.840.113549.2.10': sha384,
  '1.2.840.113549.2.11': sha512,
} as const;
const CIPHERS: Readonly<Record<string, number>> = {
  '2.16.840.1.101.3.4.1.2': 16, // aes128-CBC
  '2.16.840.1.101.3.4.1.22': 24, // aes192-CBC
  '2.16.840.1.101.3.4.1.42': 32, // aes256-CBC
};
/** The PKCS#12 PBE schemes (RFC 7292 §C): RC4, 3DES and RC2, refused by name. */
export const LEGACY_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.12.1.1': 'pbeWithSHAAnd128BitRC4',
  '1.2.840.113549.1.12.1.2': 'pbeWithSHAAnd40BitRC4',
  '1.2.840.113549.1.12.1.3': 'pbeWithSHAAnd3-KeyTripleDES-CBC',
  '1.2.840.113549.1.12.1.4': 'pbeWithSHAAnd2-KeyTripleDES-CBC',
  '1.2.840.113549.1.12.1.5': 'pbeWithSHAAnd128BitRC2-CBC',
  '1.2.840.113549.1.12.1.6': 'pbeWithSHAAnd40BitRC2-CBC',
};
/** More PBKDF2 iterations than this is a hostile file (OpenSSL writes 2048; 10^7 takes seconds). */
const MAX_ITERATIONS = 10_000_000;

/**
 * The PKCS#8 PrivateKeyInfo DER inside an EncryptedPrivateKeyInfo DER. Throws a TlsError (`apiMisuse`) for a
 * scheme other than PBES2 + PBKDF2 + AES-CBC, or a wrong passphrase (bad padding or a result that is not DER).
 *
 * @example
 * ```ts
 * const pkcs8 = decryptPkcs8(encryptedDer, 'secret'); // then loadPrivateKey(pkcs8)
 * ```
 */
export function decryptPkcs8(der: Uint8Array, passphrase: string | Uint8Array): Uint8Array {
  const misuse = (reason: string) => new TlsError({ kind: 'apiMisuse', reason: `encrypted private key: ${reason}` });
  let algorithm: Uint8Array, data: Uint8Array;
  try {
    const outer = decodeDerSequence(new Reader(der));
    algorithm = decodeDerElement(outer, DerTag.SEQUENCE).tlv;
    data = decodeDerOctetString(outer);
  } catch (e) {
    throw misuse(`not an EncryptedPrivateKeyInfo (${(e as Error).message})`);
  }
  return decryptPbes2(algorithm, data, passphrase, misuse, 're-encrypt with openssl pkcs8 -topk8 -v2 aes-256-cbc');
}

/**
 * `data` decrypted under a PBES2 AlgorithmIdentifier (RFC 8018 §6.2, A.4: PBKDF2 with HMAC-SHA-1/224/256/384/512,
 * AES-128/192/256-CBC) and a passphrase (its UTF-8 bytes when given as text, as OpenSSL uses it for PBES2).
 * The plaintext must be a DER SEQUENCE (a PrivateKeyInfo, a SafeContents): anything else is a wrong passphrase.
 * Errors come from `misuse`; `convert` is the command named for a scheme other than PBES2.
 *
 * @param algorithm - the AlgorithmIdentifier TLV (`SEQUENCE { id-PBES2, PBES2-params }`).
 * @example
 * ```ts
 * const plain = decryptPbes2(algTlv, ciphertext, 'secret', (r) => new Error(r), 'openssl pkcs8 -topk8 -v2 aes-256-cbc');
 * ```
 */
export function decryptPbes2(
  algorithm: Uint8Array,
  data: Uint8Array,
  passphrase: string | Uint8Array,
  misuse: (reason: string) => Error,
  convert: string,
): Uint8Array {
  let salt: Uint8Array, iterations: number, keyLength: number | undefined, prf: (typeof PRFS)[keyof typeof PRFS], cipherKeyLength: number, iv: Uint8Array;
  try {
    const alg = decodeDerSequence(new Reader(algorithm));
    const scheme = decodeDerOid(alg);
    if (scheme !== PBES2) throw misuse(`scheme ${scheme} is not supported (only PBES2 with AES-CBC${LEGACY_NAMES[scheme] ? `, not ${LEGACY_NAMES[scheme]}` : ''}; ${convert})`);
    const params = decodeDerSequence(alg);
    const kdf = decodeDerSequence(params);
    const kdfOid = decodeDerOid(kdf);
    if (kdfOid !== PBKDF2) throw misuse(`key derivation ${kdfOid} is not supported (only PBKDF2)`);
    ({ salt, iterations, keyLength, prf } = pbkdf2Params(decodeDerSequence(kdf), misuse));
    const enc = decodeDerSequence(params);
    const encOid = decodeDerOid(enc);
    const len = CIPHERS[encOid];
    if (len === undefined) throw misuse(`cipher ${encOid} is not supported (only AES-128/192/256-CBC)`);
    cipherKeyLength = len;
    iv = decodeDerOctetString(enc);
  } catch (e) {
    if (e instanceof TlsError || !(e instanceof DecodeError)) throw e;
    throw misuse(`malformed PBES2 parameters (${e.message})`);
  }
  if (keyLength !== undefined && keyLength !== cipherKeyLength) throw misuse('PBKDF2 key length does not fit the cipher');
  if (iv.length !== 16) throw misuse('AES-CBC needs a 16-byte IV');
  const key = pbkdf2(prf, typeof passphrase === 'string' ? new TextEncoder().encode(passphrase) : passphrase, salt, { c: iterations, dkLen: cipherKeyLength });
  let plain: Uint8Array;
  try {
    plain = cbc(key, iv).decrypt(data);
  } catch {
    throw misuse('wrong passphrase (the decrypted data does not unpad)');
  }
  if (plain[0] !== 0x30) throw misuse('wrong passphrase (the decrypted data is not DER)');
  return plain;
}

/** PBKDF2-params (RFC 8018 §A.2): salt (specified), iteration count in 1..10^7, key length, PRF (default HMAC-SHA-1). */
export function pbkdf2Params(
  r: Reader,
  misuse: (reason: string) => Error,
): { salt: Uint8Array; iterations: number; keyLength: number | undefined; prf: (typeof PRFS)[keyof typeof PRFS] } {
  const salt = decodeDerOctetString(r);
  const iterations = decodeDerSmallInt(r);
  const keyLength = r.remaining > 0 && peekDerTag(r) === DerTag.INTEGER ? decodeDerSmallInt(r) : undefined;
  let prf: (typeof PRFS)[keyof typeof PRFS] = sha1;
  if (r.remaining > 0) {
    const prfAlg = decodeDerSequence(r);
    const prfOid = decodeDerOid(prfAlg);
    const found = PRFS[prfOid as keyof typeof PRFS];
    if (!found) throw misuse(`PBKDF2 PRF ${prfOid} is not supported`);
    prf = found;
  }
  if (iterations < 1 || iterations > MAX_ITERATIONS) throw misuse(`PBKDF2 iteration count ${iterations} out of range`);
  return { salt, iterations, keyLength, prf };
}
