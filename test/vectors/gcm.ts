/**
 * AES-GCM test cases from "The Galois/Counter Mode of Operation (GCM)", D. McGrew and J. Viega (revised
 * 2005), Appendix B — the test vectors also used by NIST SP 800-38D validation. Test case 4 is AES-128 with
 * AAD; test case 16 is AES-256 with AAD. Both use a 60-octet plaintext.
 */
import { hex } from './hex.js';

const iv = hex('cafebabefacedbaddecaf888');
const aad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
const plaintext = hex(`d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
  1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39`);

/** GCM spec Appendix B, test cases 4 (AES-128-GCM) and 16 (AES-256-GCM). */
export const gcmVectors = [
  {
    name: 'GCM spec test case 4 (AES-128)',
    alg: 'aes-128-gcm',
    key: hex('feffe9928665731c6d6a8f9467308308'),
    iv,
    aad,
    plaintext,
    ciphertext: hex(`42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
      21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091`),
    tag: hex('5bc94fbc3221a5db94fae95ae7121a47'),
  },
  {
    name: 'GCM spec test case 16 (AES-256)',
    alg: 'aes-256-gcm',
    key: hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'),
    iv,
    aad,
    plaintext,
    ciphertext: hex(`522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
      8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662`),
    tag: hex('76fc6ece0f4e1768cddf8853bb2d551b'),
  },
] as const;
