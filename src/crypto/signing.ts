/**
 * Who computes our CertificateVerify signature (RFC 8446 §4.4.3). A {@link SigningKey} signs by itself (pure JS
 * for ECDSA and Ed25519, so the default provider needs nothing else); a provider with a faster engine for the
 * same key may offer to sign instead, through the optional {@link CryptoProvider.signWith}. The node:crypto
 * provider does, for keys made by `loadPrivateKey`.
 */
import type { CryptoProvider, SigningKey } from './provider.js';

/**
 * Sign with the provider's engine when it offers one for `key`, otherwise with `key.sign`. Throws what
 * `key.sign` throws (a TlsError `apiMisuse` for a scheme the key does not offer).
 *
 * @example
 * const signature = signWithProvider(config.provider, config.key, 0x0403, certificateVerifyContent);
 */
export function signWithProvider(provider: CryptoProvider, key: SigningKey, scheme: number, message: Uint8Array): Uint8Array {
  return provider.signWith?.(key, scheme, message) ?? key.sign(scheme, message);
}
