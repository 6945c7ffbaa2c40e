/**
 * TLS 1.2 PRF vectors (RFC 5246 §5) and the derivations built on it (RFC 7627 §4, RFC 5246 §6.3, §7.4.9, §8.1).
 *
 * Source: computed with OpenSSL 3.0.19's TLS1-PRF KDF, whose seed is label ‖ seed, e.g.
 * `openssl kdf -keylen 100 -kdfopt digest:SHA256 -kdfopt hexsecret:S -kdfopt hexseed:<hex("test label")>SEED TLS1-PRF`.
 * The two `prf*` vectors use the inputs of the "TLS 1.2 PRF test vectors" posted to the IETF TLS list (2009),
 * whose SHA-256 output OpenSSL reproduces.
 */
import { hex } from './hex.js';

export const prfSha256 = {
  secret: hex('9bbe436ba940f017b17652849a71db35'),
  label: 'test label',
  seed: hex('a0ba9f936cda311827a6f796ffd5198c'),
  output: hex(`
    e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab
    4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66`),
};

export const prfSha384 = {
  secret: hex('b80b733d6ceefcdc71566ea48e5567df'),
  label: 'test label',
  seed: hex('cd665cf6a8447dd6ff8b27555edb7465'),
  output: hex(`
    7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd
    8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6
    91c8f3a26854308d5eaa3be85e0990703d73e56f`),
};

/** Inputs of the derivation vectors below. */
export const pms = hex('8f2c1b6a4d3e5f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8');
export const sessionHash256 = hex('5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0');
export const sessionHash384 = hex('5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f05f1e2d3c4b5a69788796a5b4c3d2e1f0');
export const clientRandom = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
export const serverRandom = hex('202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');

/** PRF-SHA256(pms, "extended master secret", sessionHash256), 48 B. */
export const ems256 = hex('989e6dfd694158dbb7762f8574d4509ae759e29484f4709935a220331fad87405c7f804eb41a0aa37d4059f60d7eae39');
/** PRF-SHA256(pms, "master secret", clientRandom ‖ serverRandom), 48 B. */
export const legacy256 = hex('4779aa67c85b85659681e287ee57528860012f405d5bcc03ed42429095af769aa151dfeccea98905452e466b963dbf63');
/** PRF-SHA256(ems256, "key expansion", serverRandom ‖ clientRandom): 40 B for AES-128-GCM (2×16 + 2×4). */
export const keyBlockAes128 = hex('e4b3a6597b76f211c6a06c095f6a4aa767b33c1e9307d61c5618e276e6698c84c5b321fffb8e9fbc');
/** The same, 88 B for ChaCha20-Poly1305 (2×32 + 2×12). */
export const keyBlockChacha = hex(
  'e4b3a6597b76f211c6a06c095f6a4aa767b33c1e9307d61c5618e276e6698c84c5b321fffb8e9fbca3cfaf287cd7072bf92426dec78c76d3438d6fafe0a3ed92de77eb89ea4630b9d20b61eacb353e8200c0eb988c677437',
);
/** PRF-SHA256(ems256, "client finished", sessionHash256), 12 B. */
export const clientFinished256 = hex('15c1de33b2bffab2bc37c191');
/** PRF-SHA384(pms, "extended master secret", sessionHash384), 48 B. */
export const ems384 = hex('4b32351bb01988f0127cc75a0fd2da21e8c1c68ae600a7b8100343111359a467b593bf8c8049d3fca2c94501181d5bc2');
/** PRF-SHA384(ems384, "key expansion", serverRandom ‖ clientRandom): 72 B for AES-256-GCM (2×32 + 2×4). */
export const keyBlockAes256 = hex(
  '6ecd0d95c64e900c7c1558b492d6d49d8da7104303525004554c1705abf5433b8870ec9ea1d7d0e6abe30a8e65f8d96f91588af28a8223cacef5c6cbc5ca89c5d836c0a73f12cc54',
);
/** PRF-SHA384(ems384, "server finished", sessionHash384), 12 B. */
export const serverFinished384 = hex('fe825dfe8c1ff5d1fe34fe13');
