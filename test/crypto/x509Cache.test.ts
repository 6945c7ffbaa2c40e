/**
 * The verifier remembers which issuer's signature over a certificate has verified (certificates are parsed once
 * per content). Repeated verification must give exactly the answers of a first one: a tampered certificate or
 * issuer is still refused after the genuine chain verified, and another trust store is not influenced.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCertificateChain } from '../../src/crypto/keys.js';
import type { VerifyRequest } from '../../src/crypto/verifier.js';
import { createVerifier } from '../../src/crypto/x509.js';

const certs = fileURLToPath(new URL('../fixtures/certs/', import.meta.url));
const read = (file: string): string => readFileSync(join(certs, file), 'utf8');
/** Fixtures are valid from 2026-11-29 for ten years. */
const NOW = Date.UTC(2027, 6, 1);
const server = (chain: readonly Uint8Array[]): VerifyRequest => ({ chain, usage: 'server', serverName: 'localhost', now: NOW });
const code = (v: ReturnType<ReturnType<typeof createVerifier>['verify']>) => (v.ok ? 'ok' : v.code);

test('after the genuine chain verified, a tampered leaf or intermediate signature is still bad_signature', (t) => {
  const verifier = createVerifier({ ca: read('ca-cert.pem') });
  const [leaf, int] = loadCertificateChain(read('server-ec-chain.pem'));
  for (let i = 0; i < 3; i++) t.is(code(verifier.verify(server([leaf!, int!]))), 'ok');
  const badLeaf = leaf!.slice();
  badLeaf[badLeaf.length - 1] ^= 0x01; // the leaf's signature value
  const badInt = int!.slice();
  badInt[badInt.length - 1] ^= 0x01; // the intermediate's signature value (its key is unchanged)
  for (let i = 0; i < 2; i++) {
    t.is(code(verifier.verify(server([badLeaf, int!]))), 'bad_signature');
    t.is(code(verifier.verify(server([leaf!, badInt]))), 'bad_signature');
    t.is(code(verifier.verify(server([leaf!, int!]))), 'ok');
  }
});

test('a chain verified under one trust store is still unknown_ca under another', (t) => {
  const chain = loadCertificateChain(read('server-ec-chain.pem'));
  const trusting = createVerifier({ ca: read('ca-cert.pem') });
  const other = createVerifier({ ca: read('other-ca-cert.pem') });
  for (let i = 0; i < 2; i++) {
    t.is(code(trusting.verify(server(chain))), 'ok');
    t.is(code(other.verify(server(chain))), 'unknown_ca');
  }
});
