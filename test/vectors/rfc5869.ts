/**
 * RFC 5869 "HMAC-based Extract-and-Expand Key Derivation Function (HKDF)", Appendix A.1 "Test Case 1"
 * (Basic test case with SHA-256) (https://www.rfc-editor.org/rfc/rfc5869#appendix-A.1).
 */
import { hex } from './hex.js';

/** RFC 5869 §A.1: Hash = SHA-256, IKM 22 octets, salt 13 octets, info 10 octets, L = 42. */
export const hkdfSha256Case1 = {
  ikm: hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'),
  salt: hex('000102030405060708090a0b0c'),
  info: hex('f0f1f2f3f4f5f6f7f8f9'),
  length: 42,
  /** PRK (32 octets). */
  prk: hex('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5'),
  /** OKM (42 octets). */
  okm: hex('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865'),
};
