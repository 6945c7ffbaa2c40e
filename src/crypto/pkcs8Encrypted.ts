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
import { Reader } from '../wire/reader.js';
import { decodeDerOctetString, decodeDerOid, decodeDerSequence, decodeDerSmallInt, DerTag, peekDerTag } from '../wire/der.js';

const PBES2 = '1.2.840.113549.1.5.13';
const PBKDF2 = '1.2.840.113549.1.5.12';
const PRFS = {
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
  let salt: Uint8Array, iterations: number, keyLength: number | undefined, prf: (typeof PRFS)[keyof typeof PRFS], cipherKeyLength: number, iv: Uint8Array, data: Uint8Array;
  try {
    const outer = decodeDerSequence(new Reader(der));
    const alg = decodeDerSequence(outer);
    const scheme = decodeDerOid(alg);
    if (scheme !== PBES2) throw misuse(`scheme ${scheme} is not supported (only PBES2 with AES-CBC; re-encrypt with openssl pkcs8 -topk8 -v2 aes-256-cbc)`);
    const params = decodeDerSequence(alg);
    const kdf = decodeDerSequence(params);
    const kdfOid = decodeDerOid(kdf);
    if (kdfOid !== PBKDF2) throw misuse(`key derivation ${kdfOid} is not supported (only PBKDF2)`);
    const kdfParams = decodeDerSequence(kdf);
    salt = decodeDerOctetString(kdfParams);
    iterations = decodeDerSmallInt(kdfParams);
    keyLength = kdfParams.remaining > 0 && peekDerTag(kdfParams) === DerTag.INTEGER ? decodeDerSmallInt(kdfParams) : undefined;
    prf = sha1;
    if (kdfParams.remaining > 0) {
      const prfAlg = decodeDerSequence(kdfParams);
      const prfOid = decodeDerOid(prfAlg);
      const found = PRFS[prfOid as keyof typeof PRFS];
      if (!found) throw misuse(`PBKDF2 PRF ${prfOid} is not supported`);
      prf = found;
    }
    const enc = decodeDerSequence(params);
    const encOid = decodeDerOid(enc);
    const len = CIPHERS[encOid];
    if (len === undefined) throw misuse(`cipher ${encOid} is not supported (only AES-128/192/256-CBC)`);
    cipherKeyLength = len;
    iv = decodeDerOctetString(enc);
    data = decodeDerOctetString(outer);
  } catch (e) {
    if (e instanceof TlsError) throw e;
    throw misuse(`not an EncryptedPrivateKeyInfo (${(e as Error).message})`);
  }
  if (iterations < 1 || iterations > MAX_ITERATIONS) throw misuse(`PBKDF2 iteration count ${iterations} out of range`);
  if (keyLength !== undefined && keyLength !== cipherKeyLength) throw misuse('PBKDF2 key length does not fit the cipher');
  if (iv.length !== 16) throw misuse('AES-CBC needs a 16-byte IV');
  const key = pbkdf2(prf, typeof passphrase === 'string' ? new TextEncoder().encode(passphrase) : passphrase, salt, { c: iterations, dkLen: cipherKeyLength });
  let plain: Uint8Array;
  try {
    plain = cbc(key, iv).decrypt(data);
  } catch {
    throw misuse('wrong passphrase (the decrypted key does not unpad)');
  }
  if (plain[0] !== 0x30) throw misuse('wrong passphrase (the decrypted key is not DER)');
  return plain;
}
