/**
 * RFC 7748 "Elliptic Curves for Security": X25519 and X448 test vectors (https://www.rfc-editor.org/rfc/rfc7748).
 * X25519 values are 32 octets, X448 values 56, little-endian as printed in the RFC.
 */
import { hex } from './hex.js';

/** RFC 7748 §5.2: X25519(scalar, u) = output. The second u has its top bit set (it must be masked). */
export const x25519Vectors = [
  {
    scalar: hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
    u: hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
    output: hex('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552'),
  },
  {
    scalar: hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
    u: hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
    output: hex('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957'),
  },
];

/** RFC 7748 §6.1: the X25519 Diffie-Hellman example. */
export const x25519Dh = {
  alicePrivate: hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
  alicePublic: hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'),
  bobPrivate: hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'),
  bobPublic: hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'),
  shared: hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'),
};

/** RFC 7748 §6.2: the X448 Diffie-Hellman example (56 B values, little-endian as printed). */
export const x448Dh = {
  alicePrivate: hex('9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b'),
  alicePublic: hex('9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0'),
  bobPrivate: hex('1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d'),
  bobPublic: hex('3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609'),
  shared: hex('07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d'),
};
