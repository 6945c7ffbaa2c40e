/**
 * The certificate verifier suite, written as a function so that it runs against every implementation
 * (noble style): the portable verifier (test/crypto/x509.test.ts) and the node:crypto X509Certificate one
 * (test/node/verifier.test.ts). Fixtures: CA → intermediate → leaves under test/fixtures/certs, plus
 * certificates generated here with openssl into a temp dir (a leaf issued by a non-CA, a path longer than
 * pathlen:0 allows, a clientAuth-only leaf, a leaf without digitalSignature, a leaf with an unknown critical
 * extension).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { certificateAlert, type CertificateErrorCode } from '../../src/core/errors.js';
import { loadCertificateChain } from '../../src/crypto/keys.js';
import type { CertificateVerdict, CertificateVerifier, VerifyRequest } from '../../src/crypto/verifier.js';
import { AlertDescription as A } from '../../src/wire/tls/constants.js';

export const certs = fileURLToPath(new URL('../fixtures/certs/', import.meta.url));
export const read = (file: string): string => readFileSync(join(certs, file), 'utf8');
export const chainOf = (file: string): Uint8Array[] => loadCertificateChain(read(file));

/** Fixtures are valid from 2026-11-29 for ten years. */
export const NOW = Date.UTC(2027, 6, 1);
/** Certificates generated below start at the wall clock, which is after the fixtures' start. */
export const GEN_NOW = Math.max(NOW, Date.now() + 60_000);

export const server = (chain: readonly Uint8Array[], serverName?: string, now = NOW): VerifyRequest =>
  serverName === undefined ? { chain, usage: 'server', now } : { chain, usage: 'server', serverName, now };

/** A rejection with `code`, a reason, and `alert` as the alert `certificateAlert` chooses for it. */
export function rejected(
  t: import('ava').ExecutionContext,
  v: CertificateVerdict,
  code: CertificateErrorCode,
  alert: number,
  usage: 'server' | 'client' = 'server',
): void {
  t.false(v.ok, JSON.stringify(v));
  if (!v.ok) {
    t.is(v.code, code, v.reason);
    t.is(certificateAlert(v.code, usage), alert);
    t.true(v.reason.length > 0);
  }
}

/** Options every implementation takes: trust anchors, and whether to add the system roots. */
export interface SuiteOptions {
  readonly ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  readonly useSystemRoots?: boolean;
  readonly allowSha1?: boolean;
  readonly minRsaBits?: number;
}

// ---- certificates generated with openssl ----
export const tmp = mkdtempSync(join(tmpdir(), 'rxtls-x509-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

/** Issue a P-256 certificate for `name` signed by `signer` (a fixture or generated name), with `ext` lines. */
export function issue(name: string, signer: { cert: string; key: string }, subject: string, ext: string[]): string {
  const base = join(tmp, name);
  writeFileSync(`${base}.cnf`, ext.join('\n') + '\n');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}-key.pem`, '-out', `${base}.csr`, '-subj', subject], { stdio: 'pipe' });
  execFileSync('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', signer.cert, '-CAkey', signer.key, '-set_serial', String(randomInt(1, 2 ** 47)), '-days', '3650', '-out', `${base}-cert.pem`, '-extfile', `${base}.cnf`], { stdio: 'pipe' });
  return readFileSync(`${base}-cert.pem`, 'utf8');
}
export const fixture = (n: string) => ({ cert: join(certs, `${n}-cert.pem`), key: join(certs, `${n}-key.pem`) });
export const generated = (n: string) => ({ cert: join(tmp, `${n}-cert.pem`), key: join(tmp, `${n}-key.pem`) });
export const SAN = 'subjectAltName=DNS:localhost,IP:127.0.0.1';
export const LEAF = ['basicConstraints=critical,CA:FALSE', SAN];


/** A self-signed CA with key `newkey` (openssl req arguments) and subject `subject`. */
export function makeCa(name: string, newkey: string[], subject: string, digest = 'sha256', sigopts: string[] = [], ext: string[] = []): { cert: string; key: string } {
  const base = join(tmp, name);
  execFileSync('openssl', ['req', '-x509', ...newkey, '-nodes', '-keyout', `${base}-key.pem`, '-out', `${base}-cert.pem`, '-days', '3650', `-${digest}`, ...sigopts.flatMap((o) => ['-sigopt', o]), '-subj', subject, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', ...ext.flatMap((e) => ['-addext', e])], { stdio: 'pipe' });
  return generated(name);
}

/** Like {@link issue}, with the signer's digest and signature options (e.g. RSA-PSS) and a validity in days. */
export function issueWith(name: string, signer: { cert: string; key: string }, subject: string, ext: string[], digest = 'sha256', sigopts: string[] = [], days = 3650): string {
  const base = join(tmp, name);
  writeFileSync(`${base}.cnf`, ext.join('\n') + '\n');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}-key.pem`, '-out', `${base}.csr`, '-subj', subject], { stdio: 'pipe' });
  execFileSync('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', signer.cert, '-CAkey', signer.key, '-set_serial', String(randomInt(1, 2 ** 47)), '-days', String(days), `-${digest}`, ...sigopts.flatMap((o) => ['-sigopt', o]), '-out', `${base}-cert.pem`, '-extfile', `${base}.cnf`], { stdio: 'pipe' });
  return readFileSync(`${base}-cert.pem`, 'utf8');
}

const PSS = (saltlen: string): string[] => ['rsa_padding_mode:pss', `rsa_pss_saltlen:${saltlen}`];

/** Certificate signature algorithms exercised by the suite: the CA key and how it signs. */
const SIGNERS = [
  { name: 'rsa-pkcs1-sha256', newkey: ['-newkey', 'rsa:2048'], digest: 'sha256', sigopts: [] as string[] },
  { name: 'rsa-pkcs1-sha512', newkey: ['-newkey', 'rsa:2048'], digest: 'sha512', sigopts: [] as string[] },
  { name: 'rsa-pss-sha256', newkey: ['-newkey', 'rsa:2048'], digest: 'sha256', sigopts: PSS('digest') },
  { name: 'rsa-pss-sha384-salt20', newkey: ['-newkey', 'rsa:3072'], digest: 'sha384', sigopts: PSS('20') },
  { name: 'ecdsa-p384-sha512', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], digest: 'sha512', sigopts: [] as string[] },
  { name: 'ecdsa-p256-sha384', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], digest: 'sha384', sigopts: [] as string[] },
  { name: 'ed25519', newkey: ['-newkey', 'ed25519'], digest: 'sha256', sigopts: [] as string[] },
] as const;

/** Register the verifier tests for one implementation; `label` prefixes every title. */
export function verifierSuite(label: string, createVerifier: (opts?: SuiteOptions) => CertificateVerifier): void {
  const verifier = createVerifier({ ca: read('ca-cert.pem') });

  // ---- valid paths ----

  for (const name of ['server-ec', 'server-ed', 'server-rsa', 'server-p384']) {
    test(`${label}: ${name}: leaf + intermediate verifies to the CA for localhost`, (t) => {
      const v = verifier.verify(server(chainOf(`${name}-chain.pem`), 'localhost'));
      t.deepEqual(v, { ok: true, subject: 'CN=localhost' });
    });
  }

  test(`${label}: IP literals 127.0.0.1, ::1 and [::1] match the iPAddress SAN entries; other IPs do not`, (t) => {
    const chain = chainOf('server-ec-chain.pem');
    for (const ip of ['127.0.0.1', '::1', '[::1]', '0:0:0:0:0:0:0:1']) t.true(verifier.verify(server(chain, ip)).ok, ip);
    rejected(t, verifier.verify(server(chain, '127.0.0.2')), 'hostname_mismatch', A.bad_certificate);
    rejected(t, verifier.verify(server(chain, '::2')), 'hostname_mismatch', A.bad_certificate);
  });

  test(`${label}: DNS names: case-insensitive, trailing dot allowed, subdomains and the CN are not used`, (t) => {
    const chain = chainOf('server-ec-chain.pem');
    t.true(verifier.verify(server(chain, 'LocalHost')).ok);
    t.true(verifier.verify(server(chain, 'localhost.')).ok);
    rejected(t, verifier.verify(server(chain, 'a.localhost')), 'hostname_mismatch', A.bad_certificate);
    rejected(t, verifier.verify(server(chain, '')), 'hostname_mismatch', A.bad_certificate);
    // No serverName: the name is not checked.
    t.true(verifier.verify(server(chain)).ok);
  });

  test(`${label}: wrong-host: hostname_mismatch for localhost, accepted for its own SAN name`, (t) => {
    const chain = chainOf('wrong-host-chain.pem');
    rejected(t, verifier.verify(server(chain, 'localhost')), 'hostname_mismatch', A.bad_certificate);
    rejected(t, verifier.verify(server(chain, '127.0.0.1')), 'hostname_mismatch', A.bad_certificate);
    t.deepEqual(verifier.verify(server(chain, 'other.example')), { ok: true, subject: 'CN=other.example' });
  });

  test(`${label}: client usage: the client certificate (signed by the CA) verifies; serverName is not checked`, (t) => {
    const v = verifier.verify({ chain: chainOf('client-cert.pem'), usage: 'client', serverName: 'nope', now: NOW });
    t.deepEqual(v, { ok: true, subject: 'CN=rxtls test client' });
  });

  test(`${label}: an intermediate given as trust anchor verifies the leaf alone`, (t) => {
    const v = createVerifier({ ca: read('int-cert.pem') }).verify(server(chainOf('server-ec-cert.pem'), 'localhost'));
    t.true(v.ok);
  });

  test(`${label}: a pinned self-signed certificate verifies; unpinned it is unknown_ca`, (t) => {
    const chain = chainOf('self-ec-cert.pem');
    t.true(createVerifier({ ca: read('self-ec-cert.pem') }).verify(server(chain, 'localhost')).ok);
    rejected(t, verifier.verify(server(chain, 'localhost')), 'unknown_ca', A.unknown_ca);
  });

  test(`${label}: several anchors and system roots together`, (t) => {
    const v = createVerifier({ ca: [read('other-ca-cert.pem'), read('ca-cert.pem')], useSystemRoots: true });
    t.true(v.verify(server(chainOf('server-rsa-chain.pem'), 'localhost')).ok);
  });

  // ---- unknown issuers ----

  test(`${label}: missing intermediate → unknown_ca`, (t) => {
    rejected(t, verifier.verify(server(chainOf('server-ec-cert.pem'), 'localhost')), 'unknown_ca', A.unknown_ca);
  });

  test(`${label}: a chain under an unrelated CA → unknown_ca`, (t) => {
    const other = createVerifier({ ca: read('other-ca-cert.pem') });
    rejected(t, other.verify(server(chainOf('server-ec-chain.pem'), 'localhost')), 'unknown_ca', A.unknown_ca);
    // Repeated intermediates are used once: the search ends.
    const chain = chainOf('server-ec-chain.pem');
    const int = chain[1]!;
    rejected(t, other.verify(server([...chain, int, int, int], 'localhost')), 'unknown_ca', A.unknown_ca);
  });

  test(`${label}: the default verifier (system roots) does not trust the test CA`, (t) => {
    rejected(t, createVerifier().verify(server(chainOf('server-ec-chain.pem'), 'localhost')), 'unknown_ca', A.unknown_ca);
  });

  // ---- time ----

  test(`${label}: now in 2040 → expired, in 2020 → not_yet_valid (certificate_expired)`, (t) => {
    const chain = chainOf('server-ec-chain.pem');
    rejected(t, verifier.verify(server(chain, 'localhost', Date.UTC(2040, 0, 1))), 'expired', A.certificate_expired);
    rejected(t, verifier.verify(server(chain, 'localhost', Date.UTC(2020, 0, 1))), 'not_yet_valid', A.certificate_expired);
  });

  test(`${label}: validity bounds are inclusive to the second (notBefore 2026-11-29T04:31:0xZ)`, (t) => {
    const chain = chainOf('server-ec-cert.pem');
    const pinned = createVerifier({ ca: read('server-ec-cert.pem') });
    // openssl prints the leaf's notBefore; the verifier must agree with it exactly.
    const text = execFileSync('openssl', ['x509', '-in', join(certs, 'server-ec-cert.pem'), '-noout', '-startdate']).toString();
    const notBefore = Date.parse(text.trim().replace('notBefore=', ''));
    t.true(pinned.verify(server(chain, 'localhost', notBefore)).ok);
    rejected(t, pinned.verify(server(chain, 'localhost', notBefore - 1)), 'not_yet_valid', A.certificate_expired);
  });

  // ---- structural failures ----

  test(`${label}: a leaf issued by a non-CA certificate (the client cert) → not_a_ca`, (t) => {
    const leaf = issue('by-client', fixture('client'), '/CN=localhost', LEAF);
    const chain = loadCertificateChain([leaf, read('client-cert.pem')]);
    rejected(t, verifier.verify(server(chain, 'localhost', GEN_NOW)), 'not_a_ca', A.bad_certificate);
  });

  test(`${label}: an extra CA below an intermediate with pathlen:0 → path_too_long`, (t) => {
    issue('sub-ca', fixture('int'), '/CN=sub CA', ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign']);
    const leaf = issue('under-sub', generated('sub-ca'), '/CN=localhost', LEAF);
    const chain = loadCertificateChain([leaf, readFileSync(join(tmp, 'sub-ca-cert.pem'), 'utf8'), read('int-cert.pem')]);
    rejected(t, verifier.verify(server(chain, 'localhost', GEN_NOW)), 'path_too_long', A.bad_certificate);
    // With the sub-CA itself trusted the path is short enough.
    const subTrusted = createVerifier({ ca: readFileSync(join(tmp, 'sub-ca-cert.pem'), 'utf8') });
    t.true(subTrusted.verify(server(chain, 'localhost', GEN_NOW)).ok);
  });

  test(`${label}: extendedKeyUsage clientAuth only: bad_usage as a server, fine as a client`, (t) => {
    const leaf = issue('client-only', fixture('int'), '/CN=localhost', [...LEAF, 'extendedKeyUsage=clientAuth']);
    const chain = loadCertificateChain([leaf, read('int-cert.pem')]);
    rejected(t, verifier.verify(server(chain, 'localhost', GEN_NOW)), 'bad_usage', A.unsupported_certificate);
    t.true(verifier.verify({ chain, usage: 'client', now: GEN_NOW }).ok);
  });

  test(`${label}: keyUsage without digitalSignature → bad_usage`, (t) => {
    const leaf = issue('no-digsig', fixture('int'), '/CN=localhost', [...LEAF, 'keyUsage=critical,keyAgreement']);
    const chain = loadCertificateChain([leaf, read('int-cert.pem')]);
    rejected(t, verifier.verify(server(chain, 'localhost', GEN_NOW)), 'bad_usage', A.unsupported_certificate);
  });

  test(`${label}: an unknown critical extension → unsupported; the same extension non-critical is fine`, (t) => {
    const crit = issue('crit-ext', fixture('int'), '/CN=localhost', [...LEAF, '1.3.6.1.4.1.55555.1=critical,DER:05:00']);
    rejected(
      t,
      verifier.verify(server(loadCertificateChain([crit, read('int-cert.pem')]), 'localhost', GEN_NOW)),
      'unsupported',
      A.unsupported_certificate,
    );
    const soft = issue('soft-ext', fixture('int'), '/CN=localhost', [...LEAF, '1.3.6.1.4.1.55555.1=DER:05:00']);
    t.true(verifier.verify(server(loadCertificateChain([soft, read('int-cert.pem')]), 'localhost', GEN_NOW)).ok);
  });

  test(`${label}: a tampered leaf signature → bad_signature`, (t) => {
    const [leaf, int] = chainOf('server-ec-chain.pem');
    const bad = leaf!.slice();
    bad[bad.length - 1] ^= 0x01; // last octet of the ECDSA s value: still DER, no longer valid
    rejected(t, verifier.verify(server([bad, int!], 'localhost')), 'bad_signature', A.bad_certificate);
  });

  test(`${label}: garbage or truncated DER → bad_encoding, for the leaf and for an intermediate`, (t) => {
    const [leaf, int] = chainOf('server-ec-chain.pem');
    rejected(t, verifier.verify(server([new Uint8Array([0x30, 0x03, 1, 2, 3])])), 'bad_encoding', A.bad_certificate);
    rejected(t, verifier.verify(server([new Uint8Array([0xde, 0xad, 0xbe, 0xef])])), 'bad_encoding', A.bad_certificate);
    rejected(t, verifier.verify(server([leaf!.subarray(0, leaf!.length - 10), int!])), 'bad_encoding', A.bad_certificate);
    rejected(t, verifier.verify(server([leaf!, new Uint8Array([...int!, 0])])), 'bad_encoding', A.bad_certificate);
  });

  test(`${label}: empty chain → no_certificate: decode_error from a server, certificate_required from a client`, (t) => {
    rejected(t, verifier.verify({ chain: [], usage: 'server', now: NOW }), 'no_certificate', A.decode_error);
    rejected(t, verifier.verify({ chain: [], usage: 'client', now: NOW }), 'no_certificate', A.certificate_required, 'client');
  });

  test(`${label}: overlong chains are refused before any work`, (t) => {
    const [leaf, int] = chainOf('server-ec-chain.pem');
    rejected(t, verifier.verify(server([leaf!, ...new Array(30).fill(int!)])), 'path_too_long', A.bad_certificate);
  });

  // ---- signature algorithms, names and validity of generated certificates ----

  for (const sgn of SIGNERS) {
    test(`${label}: a CA signing with ${sgn.name}: the leaf verifies; a flipped signature bit → bad_signature`, (t) => {
      const ca = makeCa(`ca-${sgn.name}-${label}`, [...sgn.newkey], `/CN=${sgn.name} CA`, sgn.digest, [...sgn.sigopts]);
      const leaf = loadCertificateChain(issueWith(`leaf-${sgn.name}-${label}`, ca, '/CN=localhost', LEAF, sgn.digest, [...sgn.sigopts]))[0]!;
      const v = createVerifier({ ca: readFileSync(ca.cert, 'utf8') });
      t.deepEqual(v.verify(server([leaf], 'localhost', GEN_NOW)), { ok: true, subject: 'CN=localhost' });
      const bad = leaf.slice();
      bad[bad.length - 5] ^= 0x01; // inside the signature value, whatever the algorithm
      rejected(t, v.verify(server([bad], 'localhost', GEN_NOW)), 'bad_signature', A.bad_certificate);
    });
  }

  test(`${label}: a leaf signed by an impostor CA with the test CA's name → bad_signature`, (t) => {
    const impostor = makeCa(`impostor-${label}`, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=rxtls test CA');
    const leaf = issueWith(`by-impostor-${label}`, impostor, '/CN=localhost', [...LEAF, 'authorityKeyIdentifier=none', 'subjectKeyIdentifier=none']);
    rejected(t, verifier.verify(server(loadCertificateChain(leaf), 'localhost', GEN_NOW)), 'bad_signature', A.bad_certificate);
  });

  test(`${label}: wildcard and IPv6 subjectAltName entries`, (t) => {
    const pem = issueWith(`wild-${label}`, fixture('int'), '/CN=wild', [
      'basicConstraints=critical,CA:FALSE',
      'subjectAltName=DNS:*.example.com,DNS:f*.example.org,DNS:Exact.Example.NET,IP:2001:db8::1,IP:10.0.0.1',
    ]);
    const chain = loadCertificateChain([pem, read('int-cert.pem')]);
    const ok = (name: string) => verifier.verify(server(chain, name, GEN_NOW));
    for (const name of ['a.example.com', 'A.Example.Com', 'exact.example.net', '2001:db8::1', '[2001:DB8:0:0:0:0:0:1]', '10.0.0.1']) {
      t.true(ok(name).ok, name);
    }
    for (const name of ['example.com', 'a.b.example.com', 'foo.example.org', 'f.example.org', '2001:db8::2', '10.0.0.01', '10.0.0.2', 'wild']) {
      rejected(t, ok(name), 'hostname_mismatch', A.bad_certificate);
    }
  });

  test(`${label}: an intermediate that expires before its leaf → expired, naming the intermediate`, (t) => {
    issueWith(`short-int-${label}`, fixture('ca'), '/CN=short-lived intermediate', ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign'], 'sha256', [], 1);
    const leaf = issueWith(`under-short-${label}`, generated(`short-int-${label}`), '/CN=localhost', LEAF);
    const chain = loadCertificateChain([leaf, readFileSync(generated(`short-int-${label}`).cert, 'utf8')]);
    // Valid for a day from the wall clock (when openssl issued it), expired three days later.
    const start = Date.now() + 60_000;
    t.true(verifier.verify(server(chain, 'localhost', start)).ok);
    const later = start + 3 * 86_400_000;
    const v = verifier.verify(server(chain, 'localhost', later));
    rejected(t, v, 'expired', A.certificate_expired);
    if (!v.ok) t.regex(v.reason, /short-lived intermediate/);
  });

  // ---- name constraints (RFC 5280 §4.2.1.10) ----

  const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const CA_EXT = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign'];
  const leafFor = (name: string, signer: { cert: string; key: string }, san: string): Uint8Array[] =>
    loadCertificateChain(issueWith(name, signer, '/CN=constrained leaf', ['basicConstraints=critical,CA:FALSE', `subjectAltName=${san}`]));

  test(`${label}: a trust anchor constrained to example.com refuses a leaf for localhost (name_constraints → bad_certificate)`, (t) => {
    const root = makeCa(`nc-root-${label}`, P256, '/CN=example.com only', 'sha256', [], ['nameConstraints=critical,permitted;DNS:example.com']);
    const v = createVerifier({ ca: readFileSync(root.cert, 'utf8') });
    const bad = v.verify(server(leafFor(`nc-localhost-${label}`, root, 'DNS:localhost,IP:127.0.0.1'), 'localhost', GEN_NOW));
    rejected(t, bad, 'name_constraints', A.bad_certificate);
    if (!bad.ok) t.regex(bad.reason, /localhost is not within the permitted subtrees/);
    // Inside the subtree: the name itself and names below it.
    for (const name of ['example.com', 'www.example.com']) {
      t.true(v.verify(server(leafFor(`nc-${name}-${label}`, root, `DNS:${name}`), name, GEN_NOW)).ok, name);
    }
    // A suffix that is not a label boundary is outside.
    rejected(t, v.verify(server(leafFor(`nc-badexample-${label}`, root, 'DNS:badexample.com'), 'badexample.com', GEN_NOW)), 'name_constraints', A.bad_certificate);
  });

  test(`${label}: a constrained intermediate accepts a permitted name and refuses an excluded one`, (t) => {
    issueWith(`nc-int-${label}`, fixture('ca'), '/CN=constrained intermediate', [
      ...CA_EXT,
      'nameConstraints=critical,permitted;DNS:example.com,excluded;DNS:bad.example.com',
    ]);
    const int = generated(`nc-int-${label}`);
    const intPem = readFileSync(int.cert, 'utf8');
    const chain = (name: string, san: string) => [...leafFor(`nc-int-leaf-${name}-${label}`, int, san), ...loadCertificateChain(intPem)];
    t.deepEqual(verifier.verify(server(chain('ok', 'DNS:a.example.com'), 'a.example.com', GEN_NOW)), { ok: true, subject: 'CN=constrained leaf' });
    rejected(t, verifier.verify(server(chain('excl', 'DNS:bad.example.com'), 'bad.example.com', GEN_NOW)), 'name_constraints', A.bad_certificate);
    rejected(t, verifier.verify(server(chain('excl-sub', 'DNS:x.bad.example.com'), 'x.bad.example.com', GEN_NOW)), 'name_constraints', A.bad_certificate);
    // A wildcard that could expand into the excluded subtree is refused too.
    rejected(t, verifier.verify(server(chain('wild', 'DNS:*.example.com'), 'a.example.com', GEN_NOW)), 'name_constraints', A.bad_certificate);
    // Every SAN entry counts, not only the one that matched the server name.
    rejected(t, verifier.verify(server(chain('mixed', 'DNS:a.example.com,DNS:localhost'), 'a.example.com', GEN_NOW)), 'name_constraints', A.bad_certificate);
  });

  test(`${label}: iPAddress constraints with masks, IPv4 and IPv6`, (t) => {
    issueWith(`nc-ip-int-${label}`, fixture('ca'), '/CN=ip constrained intermediate', [
      ...CA_EXT,
      'nameConstraints=critical,permitted;IP:10.0.0.0/255.0.0.0,permitted;IP:2001:db8::/ffff:ffff::,excluded;IP:10.1.0.0/255.255.0.0',
    ]);
    const int = generated(`nc-ip-int-${label}`);
    const intPem = readFileSync(int.cert, 'utf8');
    const check = (ip: string) => verifier.verify(server([...leafFor(`nc-ip-${ip.replace(/:/g, '_')}-${label}`, int, `IP:${ip}`), ...loadCertificateChain(intPem)], ip, GEN_NOW));
    for (const ip of ['10.2.3.4', '2001:db8::5', '2001:db8:ffff::1']) t.true(check(ip).ok, ip);
    for (const ip of ['10.1.2.3', '192.168.1.1', '2001:db9::1', '::1']) rejected(t, check(ip), 'name_constraints', A.bad_certificate);
  });

  test(`${label}: rfc822Name constraints bind email subjectAltNames; DNS names are not constrained by them`, (t) => {
    issueWith(`nc-mail-int-${label}`, fixture('ca'), '/CN=mail constrained intermediate', [...CA_EXT, 'nameConstraints=critical,permitted;email:.example.com']);
    const int = generated(`nc-mail-int-${label}`);
    const chain = (n: string, san: string) => [...leafFor(`nc-mail-${n}-${label}`, int, san), ...loadCertificateChain(readFileSync(int.cert, 'utf8'))];
    t.true(verifier.verify(server(chain('ok', 'DNS:localhost,email:me@mail.example.com'), 'localhost', GEN_NOW)).ok);
    rejected(t, verifier.verify(server(chain('bad', 'DNS:localhost,email:me@evil.test'), 'localhost', GEN_NOW)), 'name_constraints', A.bad_certificate);
  });

  // ---- algorithm policy: SHA-1 / MD5 signatures, RSA key sizes ----

  for (const [kind, newkey] of [['RSA', ['-newkey', 'rsa:2048']], ['ECDSA', P256]] as const) {
    test(`${label}: a ${kind} CA signing with SHA-1 → weak_signature (bad_certificate); allowSha1 accepts it`, (t) => {
      const ca = makeCa(`sha1-ca-${kind}-${label}`, [...newkey], `/CN=SHA-1 ${kind} CA`, 'sha1');
      const leaf = loadCertificateChain(issueWith(`sha1-leaf-${kind}-${label}`, ca, '/CN=localhost', LEAF, 'sha1'));
      const caPem = readFileSync(ca.cert, 'utf8');
      const v = createVerifier({ ca: caPem }).verify(server(leaf, 'localhost', GEN_NOW));
      rejected(t, v, 'weak_signature', A.bad_certificate);
      if (!v.ok) t.regex(v.reason, /SHA1/);
      t.true(createVerifier({ ca: caPem, allowSha1: true }).verify(server(leaf, 'localhost', GEN_NOW)).ok);
      // allowSha1 still checks the signature.
      const bad = leaf[0]!.slice();
      bad[bad.length - 5] ^= 0x01;
      rejected(t, createVerifier({ ca: caPem, allowSha1: true }).verify(server([bad], 'localhost', GEN_NOW)), 'bad_signature', A.bad_certificate);
    });
  }

  test(`${label}: an MD5-signed certificate is refused even with allowSha1`, (t) => {
    const ca = makeCa(`md5-ca-${label}`, ['-newkey', 'rsa:2048'], '/CN=MD5 CA');
    const leaf = loadCertificateChain(issueWith(`md5-leaf-${label}`, ca, '/CN=localhost', LEAF, 'md5'));
    const v = createVerifier({ ca: readFileSync(ca.cert, 'utf8'), allowSha1: true }).verify(server(leaf, 'localhost', GEN_NOW));
    rejected(t, v, 'weak_signature', A.bad_certificate);
    if (!v.ok) t.regex(v.reason, /MD5/);
  });

  test(`${label}: a 1024-bit RSA CA key → weak_key (insufficient_security); minRsaBits: 1024 accepts it`, (t) => {
    const ca = makeCa(`rsa1024-ca-${label}`, ['-newkey', 'rsa:1024'], '/CN=RSA-1024 CA');
    const leaf = loadCertificateChain(issueWith(`rsa1024-leaf-${label}`, ca, '/CN=localhost', LEAF));
    const caPem = readFileSync(ca.cert, 'utf8');
    const v = createVerifier({ ca: caPem }).verify(server(leaf, 'localhost', GEN_NOW));
    rejected(t, v, 'weak_key', A.insufficient_security);
    if (!v.ok) t.regex(v.reason, /1024-bit RSA key/);
    t.true(createVerifier({ ca: caPem, minRsaBits: 1024 }).verify(server(leaf, 'localhost', GEN_NOW)).ok);
  });
}

/**
 * A hostile chain that makes path building try many issuers: eight intermediates that all share the leaf's issuer
 * name (no key identifiers to tell them apart), each signed by the next one's key, sent in the order that puts the
 * real issuer last at every step. Building the path would check 8 + 7 + … + 1 = 36 signatures; the verifier
 * gives up after {@link MAX_SIGNATURE_CHECKS}. Returns the chain (leaf first) as DER.
 */
export function issuerFloodChain(label: string): Uint8Array[] {
  const ext = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign', 'subjectKeyIdentifier=none', 'authorityKeyIdentifier=none'];
  const names = Array.from({ length: 8 }, (_, i) => `flood-${label}-${i + 1}`);
  // The top one signs itself; each below is signed by the one above it.
  let signer = makeCa(names[7]!, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=Flood CA', 'sha256', [], ['subjectKeyIdentifier=none', 'authorityKeyIdentifier=none']);
  for (let i = 6; i >= 0; i--) {
    issueWith(names[i]!, signer, '/CN=Flood CA', ext);
    signer = generated(names[i]!);
  }
  const leaf = issueWith(`flood-${label}-leaf`, signer, '/CN=localhost', [...LEAF, 'subjectKeyIdentifier=none', 'authorityKeyIdentifier=none']);
  const der = (name: string) => loadCertificateChain(readFileSync(generated(name).cert, 'utf8'))[0]!;
  return [loadCertificateChain(leaf)[0]!, ...[...names].reverse().map(der)];
}
