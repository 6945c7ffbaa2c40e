/**
 * The portable certificate verifier (src/crypto/x509.ts): the shared verifier suite, plus what only the
 * portable module offers (certificate helpers, IP literal parsing, the reason → alert map, no implicit roots).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { TlsError, certificateAlert, type CertificateErrorCode } from '../../src/core/errors.js';
import {
  MAX_SIGNATURE_CHECKS,
  PARSED_CACHE_BYTES,
  certificateSpki,
  certificateSubject,
  createVerifier,
  insecureVerifier,
  parseCertificate,
  parseIpAddress,
  parsedCertificateCacheBytes,
  portableChecks,
} from '../../src/crypto/x509.js';
import { decodeDerElement, decodeDerSequence } from '../../src/wire/der.js';
import { RSA_MAX_PUBLIC_EXPONENT, usableRsaPublicKey } from '../../src/crypto/rsa.js';
import { systemRootCertificates } from '../../src/node/systemRoots.js';
import { DecodeError, Reader } from '../../src/wire/reader.js';
import { AlertDescription as A } from '../../src/wire/tls/constants.js';
import { certs, chainOf, issuerFloodChain, read, rejected, server, verifierSuite } from './verifierSuite.js';

verifierSuite('portable', (opts = {}) => createVerifier({ ...opts, systemRoots: systemRootCertificates() }));

test('portable: without `ca` and without system roots (a browser) createVerifier is API misuse', (t) => {
  for (const make of [() => createVerifier(), () => createVerifier({ useSystemRoots: true, ca: read('ca-cert.pem') })]) {
    const err = t.throws(make, { instanceOf: TlsError });
    t.is(err?.kind, 'apiMisuse');
  }
  // With `ca` only, nothing else is trusted.
  t.true(createVerifier({ ca: read('ca-cert.pem') }).verify(server(chainOf('server-ec-chain.pem'), 'localhost')).ok);
});

test('certificateAlert: one alert per reason (RFC 8446 §6.2), no_certificate by role', (t) => {
  const table: [CertificateErrorCode, number][] = [
    ['unknown_ca', A.unknown_ca],
    ['expired', A.certificate_expired],
    ['not_yet_valid', A.certificate_expired],
    ['hostname_mismatch', A.bad_certificate],
    ['bad_signature', A.bad_certificate],
    ['not_a_ca', A.bad_certificate],
    ['path_too_long', A.bad_certificate],
    ['bad_encoding', A.bad_certificate],
    ['unsupported', A.unsupported_certificate],
    ['bad_usage', A.unsupported_certificate],
    ['name_constraints', A.bad_certificate],
    ['weak_signature', A.bad_certificate],
    ['weak_key', A.insufficient_security],
  ];
  for (const [code, alert] of table) {
    t.is(certificateAlert(code, 'server'), alert, code);
    t.is(certificateAlert(code, 'client'), alert, code);
  }
  t.is(certificateAlert('no_certificate', 'server'), A.decode_error);
  t.is(certificateAlert('no_certificate', 'client'), A.certificate_required);
});

test('parseIpAddress: IPv4 dotted quads and IPv6 (with ::, embedded IPv4); anything else is undefined', (t) => {
  t.deepEqual(parseIpAddress('127.0.0.1'), Uint8Array.from([127, 0, 0, 1]));
  t.deepEqual(parseIpAddress('::1'), Uint8Array.from([...new Array(15).fill(0), 1]));
  t.deepEqual(parseIpAddress('2001:db8::ff00:42:8329'), Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42, 0x83, 0x29]));
  t.deepEqual(parseIpAddress('::ffff:192.0.2.1'), Uint8Array.from([...new Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 1]));
  t.deepEqual(parseIpAddress('1:2:3:4:5:6:7:8')?.length, 16);
  for (const bad of ['', 'localhost', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', 'g::1', '::1%eth0', '[::1]']) {
    t.is(parseIpAddress(bad), undefined, bad);
  }
});

test('parseCertificate reads names, SAN, key identifiers and the signature algorithm', (t) => {
  const leaf = parseCertificate(chainOf('server-ec-cert.pem')[0]!);
  t.is(leaf.subject.display, 'CN=localhost');
  t.is(leaf.issuer.display, 'CN=rxtls test intermediate');
  t.deepEqual(leaf.dnsNames, ['localhost']);
  t.deepEqual(leaf.ipAddresses.map((a) => a.length), [4, 16]);
  t.deepEqual(leaf.signatureAlgorithm, { kind: 'ecdsa', hash: 'sha256' });
  t.false(leaf.ca);
  const int = parseCertificate(chainOf('int-cert.pem')[0]!);
  t.true(int.ca);
  t.is(int.pathLen, 0);
  t.deepEqual(leaf.authorityKeyId, int.subjectKeyId);
});

// ---- helpers ----

test('certificateSpki equals the public key openssl extracts; certificateSubject is CN=…', (t) => {
  for (const name of ['server-ec', 'server-ed', 'server-rsa', 'server-p384']) {
    const pem = execFileSync('openssl', ['x509', '-in', join(certs, `${name}-cert.pem`), '-pubkey', '-noout']);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pem });
    t.deepEqual(certificateSpki(chainOf(`${name}-cert.pem`)[0]!), new Uint8Array(der), name);
  }
  t.is(certificateSubject(chainOf('int-cert.pem')[0]!), 'CN=rxtls test intermediate');
  t.throws(() => certificateSpki(new Uint8Array([1, 2, 3])), { instanceOf: DecodeError });
  t.throws(() => certificateSubject(new Uint8Array([1, 2, 3])), { instanceOf: DecodeError });
});

test('insecureVerifier accepts anything, flagged insecure', (t) => {
  t.deepEqual(insecureVerifier.verify(server(chainOf('other-ca-cert.pem'), 'nowhere', Date.UTC(2050, 0, 1))), {
    ok: true,
    subject: 'CN=other CA',
    insecure: true,
  });
  t.deepEqual(insecureVerifier.verify(server([new Uint8Array([1])])), { ok: true, subject: '', insecure: true });
});

test('createVerifier rejects an unusable ca option', (t) => {
  const err = t.throws(() => createVerifier({ ca: 'not a certificate' }), { instanceOf: TlsError });
  t.is(err?.kind, 'apiMisuse');
});

test('a chain that floods path building with candidate issuers: at most MAX_SIGNATURE_CHECKS signatures are checked, then path_too_long', (t) => {
  const chain = issuerFloodChain('portable');
  let checked = 0;
  const counting = { ...portableChecks, signatureValid: (cert: Parameters<typeof portableChecks.signatureValid>[0], issuer: Parameters<typeof portableChecks.signatureValid>[1]) => (checked++, portableChecks.signatureValid(cert, issuer)) };
  const v = createVerifier({ ca: read('ca-cert.pem'), checks: counting }).verify(server(chain, 'localhost'));
  rejected(t, v, 'path_too_long', A.bad_certificate);
  if (!v.ok) t.regex(v.reason, /signature checks/);
  t.is(checked, MAX_SIGNATURE_CHECKS, `${checked} signatures checked (36 without the budget)`);
  // The same intermediates in path order need one check per link: the search reaches the end of the chain at
  // once, so the verdict says why that first dead end had no issuer; backtracking past it stays within the budget.
  checked = 0;
  const ordered = [chain[0]!, ...chain.slice(1).reverse()];
  const w = createVerifier({ ca: read('ca-cert.pem'), checks: counting }).verify(server(ordered, 'localhost'));
  rejected(t, w, 'unknown_ca', A.unknown_ca);
  t.true(checked <= MAX_SIGNATURE_CHECKS, `${checked} signatures checked in path order`);
});

test('RSA public keys a peer chose: odd modulus of 1024–16384 bits, odd exponent 3 … 2^33 − 1, before any arithmetic', (t) => {
  const n2048 = (1n << 2047n) | 1n;
  t.true(usableRsaPublicKey(n2048, 65537n));
  t.true(usableRsaPublicKey(n2048, 3n));
  t.true(usableRsaPublicKey(n2048, RSA_MAX_PUBLIC_EXPONENT));
  t.false(usableRsaPublicKey(n2048, RSA_MAX_PUBLIC_EXPONENT + 2n), 'an exponent above 2^33 − 1 (each bit costs a modular squaring)');
  t.false(usableRsaPublicKey(n2048, (1n << 255n) + 1n));
  t.false(usableRsaPublicKey(n2048, 65536n), 'even exponent');
  t.false(usableRsaPublicKey(n2048, 1n));
  t.false(usableRsaPublicKey(n2048 - 1n, 65537n), 'even modulus');
  t.false(usableRsaPublicKey((1n << 1022n) | 1n, 65537n), '1023 bits');
  t.false(usableRsaPublicKey((1n << 16384n) | 1n, 65537n), '16385 bits');
  t.true(usableRsaPublicKey((1n << 16383n) | 1n, 65537n), '16384 bits');
});

test('the parsed-certificate cache holds at most PARSED_CACHE_BYTES of large unique certificates', (t) => {
  // A real certificate with its signature replaced by 60 KB: it parses (the signature is read only to verify).
  const der = chainOf('server-ec-chain.pem')[0]!;
  const outer = decodeDerSequence(new Reader(der));
  const tbs = decodeDerElement(outer).tlv;
  const alg = decodeDerElement(outer).tlv;
  const length = (n: number) => (n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  const tlv = (tag: number, value: Uint8Array) => Uint8Array.from([tag, ...length(value.length), ...value]);
  const big = (i: number) => {
    const sig = new Uint8Array(60_000);
    sig[1] = i & 0xff;
    sig[2] = i >> 8;
    return tlv(0x30, Uint8Array.from([...tbs, ...alg, ...tlv(0x03, sig)]));
  };
  for (let i = 0; i < 100; i++) t.is(parseCertificate(big(i)).subject.display, 'CN=localhost');
  t.true(parsedCertificateCacheBytes() <= PARSED_CACHE_BYTES, `${parsedCertificateCacheBytes()} bytes cached`);
  t.true(parsedCertificateCacheBytes() > PARSED_CACHE_BYTES / 2, 'the newest are kept');
});
