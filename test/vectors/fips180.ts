/**
 * Hash and HMAC known answers.
 * - SHA-256 / SHA-384 of "abc": FIPS 180-4 examples (NIST CSRC "Examples with Intermediate Values",
 *   SHA256.pdf / SHA384.pdf).
 * - HMAC: RFC 4231 §4.3 "Test Case 2" (key "Jefe", data "what do ya want for nothing?").
 */
import { hex } from './hex.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** FIPS 180-4 examples: message "abc" (3 octets). */
export const shaAbc = {
  message: ascii('abc'),
  /** 32 octets. */
  sha256: hex('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'),
  /** 48 octets. */
  sha384: hex('cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7'),
};

/** RFC 4231 §4.3: HMAC test case 2. */
export const hmacCase2 = {
  key: ascii('Jefe'),
  data: ascii('what do ya want for nothing?'),
  /** HMAC-SHA-256 (32 octets). */
  sha256: hex('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'),
  /** HMAC-SHA-384 (48 octets). */
  sha384: hex('af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649'),
};
