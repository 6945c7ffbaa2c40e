import test from 'ava';
import {
  extendedMasterSecret,
  finishedVerifyData12,
  keyBlock,
  legacyMasterSecret,
  prf,
  tls12SuiteParams,
} from '../../src/crypto/prf.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import * as v from '../vectors/tls12prf.js';

const AES128 = tls12SuiteParams(0xc02b)!;
const AES256 = tls12SuiteParams(0xc030)!;
const CHACHA = tls12SuiteParams(0xcca9)!;

for (const p of [nobleProvider, nodeProvider]) {
  test(`RFC 5246 §5: P_SHA256 PRF, 100 B (${p.name})`, (t) => {
    t.deepEqual(prf(p, 'sha256', v.prfSha256.secret, v.prfSha256.label, v.prfSha256.seed, 100), v.prfSha256.output);
  });

  test(`RFC 5246 §5: P_SHA384 PRF, 148 B, and every shorter prefix (${p.name})`, (t) => {
    t.deepEqual(prf(p, 'sha384', v.prfSha384.secret, v.prfSha384.label, v.prfSha384.seed, 148), v.prfSha384.output);
    for (const n of [0, 1, 47, 48, 49, 96, 147]) {
      t.deepEqual(prf(p, 'sha384', v.prfSha384.secret, v.prfSha384.label, v.prfSha384.seed, n), v.prfSha384.output.subarray(0, n));
    }
  });

  test(`RFC 7627 §4: extended master secret, SHA-256 and SHA-384 (${p.name})`, (t) => {
    t.deepEqual(extendedMasterSecret(p, 'sha256', v.pms, v.sessionHash256), v.ems256);
    t.deepEqual(extendedMasterSecret(p, 'sha384', v.pms, v.sessionHash384), v.ems384);
  });

  test(`RFC 5246 §8.1: master secret from the randoms (${p.name})`, (t) => {
    t.deepEqual(legacyMasterSecret(p, 'sha256', v.pms, v.clientRandom, v.serverRandom), v.legacy256);
  });

  test(`RFC 5246 §6.3: the key block, cut into keys and fixed IVs (${p.name})`, (t) => {
    const k = keyBlock(p, AES128, v.ems256, v.clientRandom, v.serverRandom);
    const b = v.keyBlockAes128;
    t.deepEqual(k.client.key, b.subarray(0, 16));
    t.deepEqual(k.server.key, b.subarray(16, 32));
    t.deepEqual(k.client.iv, b.subarray(32, 36));
    t.deepEqual(k.server.iv, b.subarray(36, 40));
    const c = keyBlock(p, CHACHA, v.ems256, v.clientRandom, v.serverRandom);
    t.deepEqual([c.client.key, c.server.key, c.client.iv, c.server.iv], [
      v.keyBlockChacha.subarray(0, 32),
      v.keyBlockChacha.subarray(32, 64),
      v.keyBlockChacha.subarray(64, 76),
      v.keyBlockChacha.subarray(76, 88),
    ]);
    const a = keyBlock(p, AES256, v.ems384, v.clientRandom, v.serverRandom);
    t.deepEqual([a.client.key, a.server.key, a.client.iv, a.server.iv], [
      v.keyBlockAes256.subarray(0, 32),
      v.keyBlockAes256.subarray(32, 64),
      v.keyBlockAes256.subarray(64, 68),
      v.keyBlockAes256.subarray(68, 72),
    ]);
  });

  test(`RFC 5246 §7.4.9: Finished verify_data, 12 B (${p.name})`, (t) => {
    t.deepEqual(finishedVerifyData12(p, 'sha256', v.ems256, 'client', v.sessionHash256), v.clientFinished256);
    t.deepEqual(finishedVerifyData12(p, 'sha384', v.ems384, 'server', v.sessionHash384), v.serverFinished384);
  });
}

test('TLS 1.2 suite parameters: RFC 5288 / RFC 7905 nonce shapes and PRF hashes', (t) => {
  t.like(AES128, { hash: 'sha256', keyLength: 16, fixedIvLength: 4, explicitNonceLength: 8, auth: 'ecdsa', opensslName: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  t.like(AES256, { hash: 'sha384', keyLength: 32, fixedIvLength: 4, explicitNonceLength: 8, auth: 'rsa' });
  t.like(CHACHA, { hash: 'sha256', keyLength: 32, fixedIvLength: 12, explicitNonceLength: 0, auth: 'ecdsa' });
  t.is(tls12SuiteParams(0x1301), undefined);
  t.is(tls12SuiteParams(0x009c), undefined, 'no RSA key transport');
});
