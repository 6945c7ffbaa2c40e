/**
 * An adversarial audit of path validation and hostname verification, in the manner of x509-limbo and BetterTLS,
 * against RFC 5280, RFC 6125 / RFC 9525, and the behaviour of webpki (the model for a TLS client library).
 *
 * Certificates are built with the DER writer of test/helpers/der.ts and signed with Ed25519 keys derived from
 * fixed seeds, so every certificate is the same byte for byte on every run (the few ECDSA keys, for SHA-1
 * probes, are generated but only the verdicts are asserted). No openssl, no clock: every verification passes
 * `now` explicitly.
 *
 * Each probe runs against the portable verifier (src/crypto/x509.ts) and the node:crypto X509Certificate one
 * (src/node/verifier.ts). Probes that found a deviation when they were written say so ("found by this probe
 * and fixed"); the comment next to each names the reference.
 *
 * Probes already covered by test/crypto/verifierSuite.ts are not repeated: pathLen 0 under an intermediate,
 * clientAuth-only EKU, keyUsage without digitalSignature, unknown critical extension in the leaf, `*.example.com`
 * vs `a.b.example.com` / `example.com`, partial wildcards, trailing dot, CN ignored when a SAN is present, IP SAN
 * v4 / v6, permitted / excluded dNSName and iPAddress subtrees, SHA-1 CA signing a leaf, unpinned self-signed leaf.
 */
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import {
  CA_EXTS,
  CRL_SIGN,
  DIGITAL_SIGNATURE,
  KEY_CERT_SIGN,
  LEAF_EXTS,
  OID,
  Y,
  algId,
  ascii,
  bc,
  certify,
  dns,
  eku,
  ext,
  generalizedTime,
  int,
  ip,
  ku,
  nameConstraints,
  oid,
  otherName,
  probeCerts,
  san,
  seq,
  time,
  tlv,
  utcTime,
  x400Address,
  type Bytes,
  type Extra,
  type Issuer,
} from '../helpers/der.js';
import { IMPLS, accepts, answers, rejects, type Probe } from '../helpers/verdicts.js';

// ---------------------------------------------------------------------------------------------------------
// Fixtures shared by the probes (built once; deterministic)
// ---------------------------------------------------------------------------------------------------------

/** Ed25519 keys from fixed seeds (fill 0x5a: not limbo2's keys), the same on every run. */
const { nextKey, root, ca, leaf } = probeCerts(0x5a);

const R = root('Limbo Root');
const I = ca('Limbo Intermediate', R);
const base = (exts: readonly Bytes[] = LEAF_EXTS(), extra: Extra = {}): Probe => ({
  anchors: [R],
  chain: [leaf(I, exts, extra), I],
  host: 'example.com',
});

for (const { label, make } of IMPLS) {
  const T = (title: string): string => `${label}: ${title}`;

  test(T('sanity: root → intermediate → leaf verifies for example.com'), (t) => {
    accepts(t, make, base());
  });

  // ---- 1. basicConstraints (RFC 5280 §4.2.1.9, §6.1.4 (k), (m)) ----

  test(T('1a intermediate without basicConstraints cannot issue (RFC 5280 §6.1.4 (k)) → not_a_ca'), (t) => {
    const i = ca('No BC Intermediate', R, [ku([KEY_CERT_SIGN, CRL_SIGN])]);
    rejects(t, make, { anchors: [R], chain: [leaf(i), i], host: 'example.com' }, 'not_a_ca');
  });

  test(T('1b intermediate with basicConstraints cA=FALSE (and keyCertSign) cannot issue → not_a_ca'), (t) => {
    const i = ca('cA false Intermediate', R, [bc(false), ku([KEY_CERT_SIGN, CRL_SIGN])]);
    rejects(t, make, { anchors: [R], chain: [leaf(i), i], host: 'example.com' }, 'not_a_ca');
  });

  test(T('1c pathLenConstraint 1 allows one CA below, not two (RFC 5280 §6.1.4 (m))'), (t) => {
    const i1 = ca('pathLen 1 Intermediate', R, [bc(true, 1), ku([KEY_CERT_SIGN])]);
    const i2 = ca('Second Intermediate', i1);
    const i3 = ca('Third Intermediate', i2);
    accepts(t, make, { anchors: [R], chain: [leaf(i2), i2, i1], host: 'example.com' });
    rejects(t, make, { anchors: [R], chain: [leaf(i3), i3, i2, i1], host: 'example.com' }, 'path_too_long');
  });

  test(T('1d leaf with basicConstraints cA=TRUE used as a server certificate → rejected (webpki CaUsedAsEndEntity)'), (t) => {
    // Found by this probe and fixed: webpki rejects a CA certificate in end-entity position (check_basic_constraints: CaUsedAsEndEntity);
    // x509-limbo webpki::ca-as-leaf and webpki::ee-basicconstraints-ca expect FAILURE (CABF 7.1.2.7.8: cA MUST be
    // false). RFC 5280 alone permits it (limbo rfc5280::ca-as-leaf succeeds). rxtls accepted it; a pinned one still is.
    rejects(t, make, base([bc(true), ...LEAF_EXTS()]));
  });

  // ---- 2. keyUsage (RFC 5280 §4.2.1.3, §6.1.4 (n); RFC 8446 §4.4.2.2) ----

  test(T('2a intermediate whose keyUsage lacks keyCertSign cannot issue (RFC 5280 §4.2.1.3, §6.1.4 (n)) → not_a_ca'), (t) => {
    // webpki ignores keyUsage entirely and would accept; RFC 5280 requires the rejection.
    const i = ca('No keyCertSign Intermediate', R, [bc(true), ku([DIGITAL_SIGNATURE, CRL_SIGN])]);
    // The node X509Certificate checks answer unknown_ca here (OpenSSL's X509_check_issued already refuses an issuer
    // without keyCertSign, so no issuer is found); the portable ones answer not_a_ca. Either is a typed rejection.
    rejects(t, make, { anchors: [R], chain: [leaf(i), i], host: 'example.com' }, ['not_a_ca', 'unknown_ca']);
  });

  test(T('2b leaf keyUsage keyEncipherment only (no digitalSignature) → bad_usage (RFC 8446 §4.4.2.2)'), (t) => {
    rejects(t, make, base([ku([2]), eku([OID.serverAuth]), san(dns('example.com'))]), 'bad_usage');
  });

  // ---- 3. extendedKeyUsage (RFC 5280 §4.2.1.12) ----

  test(T('3a leaf EKU anyExtendedKeyUsage alone → rejected for a server (webpki requires id-kp-serverAuth)'), (t) => {
    // Found by this probe and fixed: webpki check_eku accepts only the required purpose OID, never anyExtendedKeyUsage; CABF BR
    // 7.1.2.7.10 forbids anyEKU in subscriber certificates (x509-limbo webpki::eku::ee-anyeku, a pedantic test).
    // RFC 5280 §4.2.1.12 lets anyExtendedKeyUsage stand for any purpose; OpenSSL does not. rxtls accepted it.
    rejects(t, make, base([ku([DIGITAL_SIGNATURE]), eku([OID.anyEku]), san(dns('example.com'))]), 'bad_usage');
  });

  test(T('3b intermediate with EKU clientAuth only cannot issue a server certificate (webpki: EKU constrains every certificate)'), (t) => {
    // Found by this probe and fixed: webpki check_issuer_independent_properties checks the required EKU on every certificate of the
    // path, intermediates included (RequiredEkuNotFound); so do Chrome, Firefox (mozilla::pkix) and Go. rxtls
    // checked the leaf's EKU only and accepted.
    const i = ca('clientAuth Intermediate', R, [...CA_EXTS, eku([OID.clientAuth])]);
    rejects(t, make, { anchors: [R], chain: [leaf(i), i], host: 'example.com' }, 'bad_usage');
  });

  test(T('3c intermediate with EKU serverAuth issues a server certificate'), (t) => {
    const i = ca('serverAuth Intermediate', R, [...CA_EXTS, eku([OID.serverAuth])]);
    accepts(t, make, { anchors: [R], chain: [leaf(i), i], host: 'example.com' });
  });

  // ---- 4. validity (RFC 5280 §4.1.2.5, §6.1.3 (a)(2)) ----

  test(T('4a leaf notBefore in the future → not_yet_valid; notAfter in the past → expired'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { notBefore: time(Y(2031)) }), 'not_yet_valid');
    rejects(t, make, base(LEAF_EXTS(), { notAfter: time(Y(2029)) }), 'expired');
  });

  test(T('4b intermediate notBefore in the future → not_yet_valid; notAfter in the past → expired'), (t) => {
    const future = ca('Future Intermediate', R, CA_EXTS, { notBefore: time(Y(2031)) });
    rejects(t, make, { anchors: [R], chain: [leaf(future), future], host: 'example.com' }, 'not_yet_valid');
    const past = ca('Past Intermediate', R, CA_EXTS, { notAfter: time(Y(2029)) });
    rejects(t, make, { anchors: [R], chain: [leaf(past), past], host: 'example.com' }, 'expired');
  });

  test(T('4c validity bounds are inclusive (x509-limbo rfc5280::validity::notbefore-exact / notafter-exact)'), (t) => {
    const nb = Date.UTC(2030, 0, 1, 12, 0, 0);
    const na = Date.UTC(2030, 0, 2, 12, 0, 0);
    const p = base(LEAF_EXTS(), { notBefore: time(nb), notAfter: time(na) });
    accepts(t, make, { ...p, now: nb }, 'at notBefore');
    accepts(t, make, { ...p, now: na }, 'at notAfter');
    rejects(t, make, { ...p, now: nb - 1 }, 'not_yet_valid', '1 ms before notBefore (limbo notbefore-fractional)');
    rejects(t, make, { ...p, now: na + 1000 }, 'expired', '1 s after notAfter');
  });

  test(T('4d notAfter is a whole second: valid through its last millisecond (x509-limbo rfc5280::validity::notafter-fractional)'), (t) => {
    // Found by this probe and fixed: x509-limbo notafter-fractional expects SUCCESS 5 ms after notAfter (comparison at the encoded
    // granularity, as the Web PKI treats it); webpki compares whole seconds (UnixTime) and accepts. rxtls compares
    // milliseconds and rejected with expired.
    const na = Date.UTC(2030, 0, 2, 12, 0, 0);
    accepts(t, make, { ...base(LEAF_EXTS(), { notAfter: time(na) }), now: na + 5 });
  });

  test(T('4e UTCTime 49 is 2049 and 50 is 1950; GeneralizedTime 2050 is 2050 (RFC 5280 §4.1.2.5.1)'), (t) => {
    accepts(t, make, base(LEAF_EXTS(), { notAfter: utcTime(Date.UTC(2049, 11, 31, 23, 59, 59)) }), 'UTCTime 491231235959Z');
    rejects(t, make, base(LEAF_EXTS(), { notAfter: tlv(0x17, ascii('500101000000Z')) }), 'expired', 'UTCTime 500101000000Z is 1950');
    accepts(t, make, base(LEAF_EXTS(), { notAfter: generalizedTime(Y(2050)) }), 'GeneralizedTime 2050');
    // GeneralizedTime with fractional seconds or without Z is not DER (RFC 5280 §4.1.2.5.2).
    rejects(t, make, base(LEAF_EXTS(), { notAfter: tlv(0x18, ascii('20500101000000.5Z')) }), 'bad_encoding', 'fractional');
    rejects(t, make, base(LEAF_EXTS(), { notAfter: tlv(0x18, ascii('20500101000000')) }), 'bad_encoding', 'local time');
  });

  test(T('4f GeneralizedTime for a year before 2050 (a CA MUST use UTCTime): a typed verdict either way'), (t) => {
    // RFC 5280 §4.1.2.5 binds CAs; webpki (der::time_choice) reads either form for any year. Informational.
    const v = answers(t, make, base(LEAF_EXTS(), { notAfter: generalizedTime(Y(2040)) }));
    t.log(`GeneralizedTime 2040: ${JSON.stringify(v)}`);
  });

  test(T('4g an expired trust anchor (x509-limbo rfc5280::validity::expired-root) → expired'), (t) => {
    // limbo expects FAILURE; webpki does not check the anchor's validity (a TrustAnchor has none).
    const old = root('Expired Root', CA_EXTS, { notBefore: time(Y(2016)), notAfter: time(Y(2020)) });
    const i = ca('Under Expired Root', old);
    rejects(t, make, { anchors: [old], chain: [leaf(i), i], host: 'example.com' }, 'expired');
  });

  // ---- 5. name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b), (c)) ----

  test(T('5a name constraints of a root bind a leaf two levels down, through an unconstrained intermediate'), (t) => {
    const r = root('NC Root', [...CA_EXTS, nameConstraints([dns('example.com')])]);
    const i1 = ca('NC Level 1', r);
    const i2 = ca('NC Level 2', i1);
    accepts(t, make, { anchors: [r], chain: [leaf(i2, LEAF_EXTS(dns('a.example.com'))), i2, i1], host: 'a.example.com' });
    rejects(t, make, { anchors: [r], chain: [leaf(i2, LEAF_EXTS(dns('evil.com'))), i2, i1], host: 'evil.com' }, 'name_constraints');
  });

  test(T('5b name constraints of an intermediate bind a leaf below a second intermediate'), (t) => {
    const i1 = ca('NC Intermediate', R, [...CA_EXTS, nameConstraints([], [dns('evil.com')])]);
    const i2 = ca('Below NC Intermediate', i1);
    rejects(t, make, { anchors: [R], chain: [leaf(i2, LEAF_EXTS(dns('www.evil.com'))), i2, i1], host: 'www.evil.com' }, 'name_constraints');
    accepts(t, make, { anchors: [R], chain: [leaf(i2, LEAF_EXTS(dns('good.com'))), i2, i1], host: 'good.com' });
  });

  test(T('5c a leaf without subjectAltName whose CN is outside the permitted dNSName subtree is not accepted for that name'), (t) => {
    // webpki never takes a host name from the CN, so such a leaf cannot be used for evil.com whatever the
    // constraint; RFC 9525 §6.3 forbids CN-ID matching. Any rejection will do.
    const i = ca('NC CN Intermediate', R, [...CA_EXTS, nameConstraints([dns('example.com')])]);
    const l = leaf(i, [ku([DIGITAL_SIGNATURE]), eku([OID.serverAuth])], { subject: 'evil.com' });
    rejects(t, make, { anchors: [R], chain: [l, i], host: 'evil.com' });
  });

  test(T('5d iPAddress constraints: an IPv4 subtree does not admit an IPv6 SAN; IP constraints do not bind DNS names'), (t) => {
    const i = ca('IPv4 NC Intermediate', R, [...CA_EXTS, nameConstraints([ip([192, 0, 2, 0, 255, 255, 255, 0])])]);
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    rejects(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(ip(v6))), i], host: '2001:db8::1' }, 'name_constraints');
    rejects(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(ip([192, 0, 3, 1]))), i], host: '192.0.3.1' }, 'name_constraints');
    accepts(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(ip([192, 0, 2, 7]))), i], host: '192.0.2.7' });
    accepts(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(dns('example.com'))), i], host: 'example.com' });
  });

  test(T('5e critical constraint on a form not processed (x400Address, otherName): accepted when no name of that form is below'), (t) => {
    // RFC 5280 §4.2.1.10: a critical constraint on a form binds only "if an instance of that name form appears";
    // webpki likewise fails only when the unsupported form appears in the name (Unsupported vs Unsupported).
    const i = ca('x400 NC Intermediate', R, [...CA_EXTS, nameConstraints([x400Address()], [otherName('1.3.6.1.5.5.7.8.4', 'x')])]);
    accepts(t, make, { anchors: [R], chain: [leaf(i), i], host: 'example.com' });
  });

  test(T('5f critical constraint on otherName with an otherName SAN below → rejected (RFC 5280 §4.2.1.10: process or reject)'), (t) => {
    const i = ca('otherName NC Intermediate', R, [...CA_EXTS, nameConstraints([otherName('1.3.6.1.5.5.7.8.4', 'x')])]);
    const l = leaf(i, LEAF_EXTS(dns('example.com'), otherName('1.3.6.1.5.5.7.8.4', 'y')));
    rejects(t, make, { anchors: [R], chain: [l, i], host: 'example.com' }, 'name_constraints');
  });

  test(T('5g a permitted dNSName subtree does not admit a wildcard SAN one level above it'), (t) => {
    // *.com would expand outside example.com: permitted subtree example.com must not admit it.
    const i = ca('NC wildcard Intermediate', R, [...CA_EXTS, nameConstraints([dns('example.com')])]);
    rejects(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(dns('*.com'))), i], host: 'example.com' });
  });

  // ---- 6. hostname matching (RFC 6125 §6.4, RFC 9525 §6.3) ----

  const hostLeaf = (...names: readonly Bytes[]): Probe => ({ anchors: [R], chain: [leaf(I, LEAF_EXTS(...names)), I] });

  test(T('6a *.com matches nothing (wildcard directly under a top-level label)'), (t) => {
    const p = hostLeaf(dns('*.com'));
    rejects(t, make, { ...p, host: 'example.com' }, 'hostname_mismatch');
  });

  test(T('6b malformed wildcards match nothing: *.*.example.com, a.*.example.com, *, *.'), (t) => {
    const p = hostLeaf(dns('*.*.example.com'), dns('a.*.example.com'), dns('*'), dns('*.'));
    for (const host of ['a.b.example.com', 'a.x.example.com', 'a', 'x.']) rejects(t, make, { ...p, host }, 'hostname_mismatch', host);
  });

  test(T('6c IDNA A-labels match case-insensitively; a U-label reference does not match the A-label SAN'), (t) => {
    const p = hostLeaf(dns('xn--bcher-kva.example'), dns('*.xn--caf-dma.example'));
    for (const host of ['xn--bcher-kva.example', 'XN--BCHER-KVA.EXAMPLE', 'www.xn--caf-dma.example', 'WWW.XN--CAF-DMA.Example']) accepts(t, make, { ...p, host }, host);
    for (const host of ['bücher.example', 'www.café.example']) rejects(t, make, { ...p, host }, 'hostname_mismatch', host);
  });

  test(T('6d trailing dots: one is accepted, two or a lone dot are not; a SAN with a trailing dot matches nothing'), (t) => {
    const p = hostLeaf(dns('*.example.com'));
    accepts(t, make, { ...p, host: 'a.example.com.' });
    for (const host of ['a.example.com..', '.', '..']) rejects(t, make, { ...p, host }, 'hostname_mismatch', host);
    // webpki: a presented identifier ending in a dot is not a valid DNS-ID.
    rejects(t, make, { ...hostLeaf(dns('example.org.')), host: 'example.org' }, 'hostname_mismatch');
  });

  test(T('6e a leaf without subjectAltName (CN only) matches no name (RFC 9525 §6.3, webpki)'), (t) => {
    const l = leaf(I, [ku([DIGITAL_SIGNATURE]), eku([OID.serverAuth])], { subject: 'example.com' });
    rejects(t, make, { anchors: [R], chain: [l, I], host: 'example.com' }, 'hostname_mismatch');
  });

  test(T('6f an IP reference matches only iPAddress SANs, never a dNSName with the same text'), (t) => {
    const p = hostLeaf(dns('127.0.0.1'), dns('::1'), dns('*.0.0.1'), ip([10, 0, 0, 1]));
    for (const host of ['127.0.0.1', '::1', '[::1]', '1.0.0.1']) rejects(t, make, { ...p, host }, 'hostname_mismatch', host);
    accepts(t, make, { ...p, host: '10.0.0.1' });
    // An IPv4-mapped IPv6 literal is a different (16-octet) iPAddress.
    rejects(t, make, { ...p, host: '::ffff:10.0.0.1' }, 'hostname_mismatch', 'IPv4-mapped');
  });

  test(T('6g an iPAddress SAN does not match a DNS reference'), (t) => {
    const p = hostLeaf(ip([10, 0, 0, 1]));
    rejects(t, make, { ...p, host: '10.0.0.1.' }, 'hostname_mismatch', '10.0.0.1. (a DNS name)');
    rejects(t, make, { ...p, host: '010.000.000.001' }, 'hostname_mismatch', '010.000.000.001');
  });

  test(T('6h a reference identifier that is itself a wildcard (*.example.com) matches nothing'), (t) => {
    // Found by this probe and fixed: a reference identifier is a DNS name, never a pattern (RFC 6125 §6.4.3 applies wildcards to
    // presented identifiers only); webpki refuses `*.example.com` as a DnsName (InvalidDnsNameError), and so
    // does rustls' ServerName. Both verifiers accepted `*.example.com` against the SAN `*.example.com` (the
    // portable one compared the strings; OpenSSL's X509_check_host matches the literal too).
    rejects(t, make, { ...hostLeaf(dns('*.example.com')), host: '*.example.com' });
  });

  test(T('6i a reference name with a leading dot (.example.com) or an empty label matches nothing'), (t) => {
    // Found by this probe and fixed (node X509Certificate only): a reference identifier is a DNS name (RFC 6125 §6.4.1; webpki refuses
    // `.example.com` as a DnsName). OpenSSL's X509_check_host, which the node checks call, reads a leading dot
    // as "any subdomain of", so `.example.com` matches the SANs `*.example.com` and `www.example.com`.
    rejects(t, make, { ...hostLeaf(dns('*.example.com')), host: '.example.com' }, 'hostname_mismatch', 'SAN *.example.com');
    rejects(t, make, { ...hostLeaf(dns('www.example.com')), host: '.example.com' }, 'hostname_mismatch', 'SAN www.example.com');
    rejects(t, make, { ...hostLeaf(dns('a.example.com')), host: 'a..example.com' }, 'hostname_mismatch', 'a..example.com');
  });

  // ---- 7. critical and duplicate extensions (RFC 5280 §4.2) ----

  test(T('7a unknown critical extension in an intermediate → unsupported; non-critical is fine'), (t) => {
    const unknown = (critical: boolean): Bytes => ext('1.3.6.1.4.1.55555.7', tlv(0x05), critical);
    const crit = ca('Critical Ext Intermediate', R, [...CA_EXTS, unknown(true)]);
    rejects(t, make, { anchors: [R], chain: [leaf(crit), crit], host: 'example.com' }, 'unsupported');
    const soft = ca('Soft Ext Intermediate', R, [...CA_EXTS, unknown(false)]);
    accepts(t, make, { anchors: [R], chain: [leaf(soft), soft], host: 'example.com' });
  });

  test(T('7b a critical policyConstraints / inhibitAnyPolicy extension (not processed) in an intermediate → rejected'), (t) => {
    const pc = ca('policyConstraints Intermediate', R, [...CA_EXTS, ext('2.5.29.36', seq(tlv(0x80, Uint8Array.of(0))), true)]);
    rejects(t, make, { anchors: [R], chain: [leaf(pc), pc], host: 'example.com' }, 'unsupported');
    const iap = ca('inhibitAnyPolicy Intermediate', R, [...CA_EXTS, ext('2.5.29.54', int(0), true)]);
    rejects(t, make, { anchors: [R], chain: [leaf(iap), iap], host: 'example.com' }, 'unsupported');
  });

  test(T('7c duplicate extensions (two subjectAltName) in the leaf or an intermediate → bad_encoding'), (t) => {
    rejects(t, make, base([...LEAF_EXTS(dns('example.com')), san(dns('evil.com'))]), 'bad_encoding', 'leaf');
    const dup = ca('Duplicate BC Intermediate', R, [bc(true), ku([KEY_CERT_SIGN]), bc(true, 0)]);
    rejects(t, make, { anchors: [R], chain: [leaf(dup), dup], host: 'example.com' }, 'bad_encoding', 'intermediate');
  });

  // ---- 8. signature algorithms (RFC 5280 §4.1.1.2) ----

  test(T('8a outer signatureAlgorithm differs from the TBSCertificate signature field → bad_encoding'), (t) => {
    // The signature itself is a valid Ed25519 signature: only the mismatch is wrong.
    rejects(t, make, base(LEAF_EXTS(), { tbsAlg: algId(OID.ecdsaSha256) }), 'bad_encoding', 'leaf');
    const i = ca('Mismatched Alg Intermediate', R, CA_EXTS, { tbsAlg: algId(OID.ecdsaSha256) });
    rejects(t, make, { anchors: [R], chain: [leaf(i), i], host: 'example.com' }, 'bad_encoding', 'intermediate');
    // Same OID with explicit NULL parameters in one place only is also a mismatch (byte comparison).
    rejects(t, make, base(LEAF_EXTS(), { tbsAlg: seq(oid(OID.ed25519), tlv(0x05)) }), 'bad_encoding', 'NULL parameters');
  });

  const ecRoot = (): Issuer => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return certify({ subject: 'EC Root', key: privateKey, exts: CA_EXTS });
  };

  test(T('8b an intermediate signed with ecdsa-with-SHA1 → weak_signature by default; allowSha1 accepts it'), (t) => {
    const r = ecRoot();
    const i = certify({ subject: 'SHA-1 Intermediate', key: nextKey(), issuer: r, exts: CA_EXTS, digest: 'sha1' });
    const p: Probe = { anchors: [r], chain: [leaf(i), i], host: 'example.com' };
    rejects(t, make, p, 'weak_signature');
    accepts(t, make, { ...p, opts: { allowSha1: true } }, 'allowSha1');
  });

  test(T('8c a trust anchor self-signed with SHA-1 is fine: its own signature is not part of the path'), (t) => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const r = certify({ subject: 'SHA-1 Root', key: privateKey, exts: CA_EXTS, digest: 'sha1' });
    const i = certify({ subject: 'Under SHA-1 Root', key: nextKey(), issuer: r, exts: CA_EXTS });
    accepts(t, make, { anchors: [r], chain: [leaf(i), i], host: 'example.com' });
  });

  // ---- 9. anchors and path building ----

  test(T('9a a self-signed leaf that is not a trust anchor → unknown_ca'), (t) => {
    const self = certify({ subject: 'example.com', key: nextKey(), exts: [ku([DIGITAL_SIGNATURE]), eku([OID.serverAuth]), san(dns('example.com'))] });
    rejects(t, make, { anchors: [R], chain: [self], host: 'example.com' }, 'unknown_ca');
  });

  test(T('9b the trust anchor given twice, and sent in the chain too, still verifies'), (t) => {
    const l = leaf(I);
    accepts(t, make, { anchors: [R, R], chain: [l, I], host: 'example.com' }, 'anchor twice');
    accepts(t, make, { anchors: [R, R], chain: [l, I, R], host: 'example.com' }, 'root in chain');
    accepts(t, make, { anchors: [R], chain: [l, I, R, I], host: 'example.com' }, 'intermediate repeated');
  });

  test(T('9c cross-signing: the chain carries the intermediate cross-signed by an untrusted root first, then by the trusted one'), (t) => {
    // Found by this probe and fixed: webpki (build_chain_inner, loop_while_non_fatal_error) backtracks over every candidate issuer,
    // as RFC 4158 path building does; x509-limbo has such cross-signed cases. rxtls' greedy builder took the
    // first candidate whose signature verified (the copy issued by the untrusted root) and stopped at unknown_ca.
    const trusted = root('Trusted Root');
    const untrusted = root('Untrusted Root');
    const key = nextKey();
    const viaUntrusted = certify({ subject: 'Cross Intermediate', key, issuer: untrusted, exts: CA_EXTS });
    const viaTrusted = certify({ subject: 'Cross Intermediate', key, issuer: trusted, exts: CA_EXTS });
    const l = leaf(viaTrusted);
    accepts(t, make, { anchors: [trusted], chain: [l, viaTrusted, viaUntrusted], host: 'example.com' }, 'trusted copy first');
    accepts(t, make, { anchors: [trusted], chain: [l, viaUntrusted, viaTrusted], host: 'example.com' }, 'untrusted copy first');
  });

  test(T('9d cross-signing: an expired copy of the intermediate first, a valid copy second'), (t) => {
    // Found by this probe and fixed: webpki checks validity while building and tries the next candidate; rxtls built the path first
    // (greedy), then found the expired intermediate in it and rejected with expired.
    const key = nextKey();
    const expired = certify({ subject: 'Renewed Intermediate', key, issuer: R, exts: CA_EXTS, notAfter: time(Y(2029)) });
    const renewed = certify({ subject: 'Renewed Intermediate', key, issuer: R, exts: CA_EXTS });
    const l = leaf(renewed);
    accepts(t, make, { anchors: [R], chain: [l, renewed, expired], host: 'example.com' }, 'valid copy first');
    accepts(t, make, { anchors: [R], chain: [l, expired, renewed], host: 'example.com' }, 'expired copy first');
  });

  test(T('9e cross-signing to an alternate root: the trust store holds only the new root, the chain leads to the old one'), (t) => {
    // leaf ← Int ← (New Root cross-signed by Old Root) ; only New Root (self-signed, same key) is trusted.
    const oldRoot = root('Old Root');
    const newKey = nextKey();
    const newRoot = certify({ subject: 'New Root', key: newKey, exts: CA_EXTS });
    const newByOld = certify({ subject: 'New Root', key: newKey, issuer: oldRoot, exts: CA_EXTS });
    const i = ca('Int under New Root', newRoot);
    const l = leaf(i);
    accepts(t, make, { anchors: [newRoot], chain: [l, i, newByOld, oldRoot], host: 'example.com' }, 'new root trusted');
    accepts(t, make, { anchors: [oldRoot], chain: [l, i, newByOld], host: 'example.com' }, 'old root trusted');
  });

  // ---- 10. serial numbers (RFC 5280 §4.1.2.2) ----

  test(T('10a a 20-octet serial number verifies (certificate users MUST handle up to 20 octets)'), (t) => {
    const twenty = tlv(0x02, Uint8Array.from([0x7f, ...new Array<number>(19).fill(0xa5)]));
    accepts(t, make, base(LEAF_EXTS(), { serial: twenty }));
  });

  for (const [what, serial] of [
    ['zero', int(0)],
    ['negative', int(-5)],
    ['22 octets', tlv(0x02, Uint8Array.from([0x7f, ...new Array<number>(21).fill(0xa5)]))],
  ] as const) {
    test(T(`10b serial number ${what}: a typed verdict (RFC 5280 "SHOULD gracefully handle"; webpki accepts)`), (t) => {
      const v = answers(t, make, base(LEAF_EXTS(), { serial }));
      t.log(`serial ${what}: ${JSON.stringify(v)}`);
    });
  }

  // ---- extras seen in x509-limbo / BetterTLS ----

  test(T('x1 a trust anchor without basicConstraints (x509-limbo rfc5280::root-missing-basic-constraints) → rejected'), (t) => {
    // limbo expects FAILURE (RFC 5280 §4.2.1.9: CAs MUST include basicConstraints); webpki accepts, since a
    // TrustAnchor is only a subject, a key and name constraints.
    const bare = certify({ subject: 'Bare Root', key: nextKey(), exts: [ku([KEY_CERT_SIGN])] });
    const i = ca('Under Bare Root', bare);
    rejects(t, make, { anchors: [bare], chain: [leaf(i), i], host: 'example.com' }, 'not_a_ca');
  });

  test(T('x2 an intermediate with the issuer\'s name but another key does not stand in for it'), (t) => {
    const i = certify({ subject: 'Limbo Intermediate', key: nextKey(), issuer: R, exts: CA_EXTS });
    // Same name as I, another key: the leaf signed by I's key must not verify through it alone.
    rejects(t, make, { anchors: [R], chain: [leaf(I), i], host: 'example.com' }, ['bad_signature', 'unknown_ca']);
  });
}
