/**
 * The node:crypto X509Certificate verifier (src/node/verifier.ts) runs the same verifier suite as the portable
 * one, and both give the same answers on the same fixtures (a table of chains × names × times).
 */
import test from 'ava';
import type { CertificateVerdict } from '../../src/crypto/verifier.js';
import { MAX_SIGNATURE_CHECKS, createVerifier as createPortableVerifier } from '../../src/crypto/x509.js';
import { createNodeX509Verifier, createVerifier, nodeX509Checks } from '../../src/node/verifier.js';
import { NOW, chainOf, issuerFloodChain, read, server, verifierSuite } from '../crypto/verifierSuite.js';

verifierSuite('node X509Certificate', (opts) => createNodeX509Verifier(opts));

const summary = (v: CertificateVerdict): string => (v.ok ? `ok ${v.subject}` : v.code);

test('portable and node X509Certificate verifiers agree on every fixture chain, name and time', (t) => {
  const ca = read('ca-cert.pem');
  const portable = createPortableVerifier({ ca });
  const node = createNodeX509Verifier({ ca });
  const chains = ['server-ec-chain.pem', 'server-ed-chain.pem', 'server-rsa-chain.pem', 'server-p384-chain.pem', 'wrong-host-chain.pem', 'server-ec-cert.pem', 'self-ec-cert.pem', 'client-cert.pem', 'other-ca-cert.pem'];
  const names = [undefined, 'localhost', 'LOCALHOST.', 'other.example', '127.0.0.1', '::1', '[::1]', '127.0.0.2', 'a.localhost', ''];
  const times = [NOW, Date.UTC(2020, 0, 1), Date.UTC(2040, 0, 1)];
  let compared = 0;
  for (const file of chains) {
    const chain = chainOf(file);
    const tampered = chain.map((c) => c.slice());
    tampered[0]![tampered[0]!.length - 1] ^= 0x01;
    for (const c of [chain, tampered]) {
      for (const name of names) {
        for (const now of times) {
          const a = summary(portable.verify(server(c, name, now)));
          const b = summary(node.verify(server(c, name, now)));
          t.is(a, b, `${file} ${name} ${new Date(now).toISOString()}`);
          compared++;
        }
      }
    }
  }
  t.is(compared, 9 * 2 * 10 * 3);
});

test('createVerifier of src/node trusts node:tls system roots by default (not the test CA)', (t) => {
  const v = createVerifier().verify(server(chainOf('server-ec-chain.pem'), 'localhost'));
  t.false(v.ok);
  if (!v.ok) t.is(v.code, 'unknown_ca');
  t.true(createVerifier({ ca: read('ca-cert.pem') }).verify(server(chainOf('server-ec-chain.pem'), 'localhost')).ok);
});

test('node X509Certificate checks: a chain that floods path building gets at most MAX_SIGNATURE_CHECKS signature checks', (t) => {
  const chain = issuerFloodChain('node');
  let checked = 0;
  const checks = { ...nodeX509Checks, signatureValid: (...args: Parameters<typeof nodeX509Checks.signatureValid>) => (checked++, nodeX509Checks.signatureValid(...args)) };
  const v = createPortableVerifier({ ca: read('ca-cert.pem'), checks }).verify(server(chain, 'localhost'));
  t.false(v.ok);
  if (!v.ok) t.is(v.code, 'path_too_long');
  t.is(checked, MAX_SIGNATURE_CHECKS);
});
