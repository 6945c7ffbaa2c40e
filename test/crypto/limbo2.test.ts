/**
 * Second round of adversarial probes of path validation and hostname verification, in the manner of x509-limbo
 * and BetterTLS, against RFC 5280, RFC 6125 / RFC 9525, X.690 (DER), and where the RFCs leave a choice to
 * policy, the documented behaviour of webpki (rustls-webpki, the model for a TLS client library).
 *
 * Certificates are built with the DER writer of test/helpers/der.ts and signed with Ed25519 keys from fixed
 * seeds: every certificate is the same on every run, and a malformed encoding can still carry a valid signature,
 * so that each probe tests one thing. No openssl, no clock (every verification passes `now`), no network.
 *
 * Each probe runs against the portable verifier (src/crypto/x509.ts) and the node:crypto X509Certificate one
 * (src/node/verifier.ts), and asserts the reference. A probe that found a deviation says so in a comment ("found
 * by this probe and fixed": what the code did, and the reference); where only one implementation deviated, the
 * comment names it.
 *
 * Not repeated from round one (test/crypto/limbo.test.ts) or test/crypto/verifierSuite.ts: intermediate without
 * basicConstraints, cA FALSE, pathLen 1 with two CAs below, CA as leaf, keyUsage without keyCertSign, EKU
 * checks, validity bounds, UTCTime 49/50 in notAfter, GeneralizedTime fractions and local time, GeneralizedTime
 * before 2050, expired anchor, name constraints through an unconstrained intermediate, constraints on forms
 * not processed, `*.com`, malformed wildcards, IDNA A-label case, trailing dots, CN-only leaves, IP vs DNS
 * references, wildcard or leading-dot reference names, unknown critical extension in a leaf or intermediate,
 * policyConstraints, duplicate SAN / basicConstraints, outer/inner algorithm mismatch, SHA-1, self-signed
 * leaf, anchors repeated, cross-signing to an untrusted root, an expired copy of the intermediate issued by the
 * same root, alternate roots, serials of 20/22 octets, zero and negative, anchor without basicConstraints,
 * same-named impostor intermediate, garbage / truncated DER, trailing byte after an intermediate, overlong chain
 * of copies, the issuer flood.
 */
import test from 'ava';
import type { KeyObject } from 'node:crypto';
import { MAX_SIGNATURE_CHECKS, createVerifier, type CertificateChecks } from '../../src/crypto/x509.js';
import {
  CA_EXTS,
  DIGITAL_SIGNATURE,
  KEY_CERT_SIGN,
  LEAF_EXTS,
  OID,
  Y,
  aki,
  ascii,
  atv,
  bc,
  bool,
  certify,
  cnName,
  concat,
  dirName,
  dn,
  dns,
  dnsRaw,
  eku,
  email,
  ext,
  indefiniteLength,
  int,
  ip,
  ku,
  nameConstraints,
  namedBits,
  nonMinimalLength,
  octet,
  oid,
  printable,
  probeCerts,
  rawUtcTime,
  san,
  seq,
  ski,
  time,
  tlv,
  uri,
  utf8,
  type Bytes,
  type Extra,
  type Issuer,
} from '../helpers/der.js';
import { IMPLS, accepts, answers, rejects, type Impl, type Make, type Probe } from '../helpers/verdicts.js';

// ---------------------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------------------

const { nextKey, root, ca, leaf } = probeCerts();
/** A stand-in issuer for certificates whose issuer certificate is built later (cycles). */
const signer = (cn: string, key: KeyObject): Issuer => ({ name: cnName(cn), key, der: new Uint8Array(0) });
/** A chain entry given as raw DER. */
const raw = (der: Bytes): Issuer => ({ name: new Uint8Array(0), key: undefined as unknown as KeyObject, der });

// ---------------------------------------------------------------------------------------------------------
// Work counted
// ---------------------------------------------------------------------------------------------------------

/** Work done by one verification: issuer-name checks and signature verifications asked of the checks table. */
interface Work {
  issued: number;
  signatures: number;
}
/** The implementation's verifier with its checks counted (a fresh table: no signature cached from before). */
function counted(impl: Impl): { make: Make; work: Work } {
  const work: Work = { issued: 0, signatures: 0 };
  const checks: CertificateChecks = {
    issued: (c, i) => (work.issued++, impl.checks.issued(c, i)),
    signatureValid: (c, i) => (work.signatures++, impl.checks.signatureValid(c, i)),
    nameMismatch: (l, n) => impl.checks.nameMismatch(l, n),
  };
  return { make: (opts) => createVerifier({ ...opts, checks }), work };
}

// ---------------------------------------------------------------------------------------------------------
// Shared fixtures (built once; deterministic)
// ---------------------------------------------------------------------------------------------------------

const R = root('Limbo2 Root');
const I = ca('Limbo2 Intermediate', R);
/** root → intermediate → leaf (with `exts` / `extra`), for example.com. */
const base = (exts: readonly Bytes[] = LEAF_EXTS(), extra: Extra = {}): Probe => ({ anchors: [R], chain: [leaf(I, exts, extra), I], host: 'example.com' });
/** A chain where the intermediate is built with `exts` / `extra`. */
const underCa = (exts: readonly Bytes[], extra: Extra = {}, leafExts: readonly Bytes[] = LEAF_EXTS()): Probe => {
  const i = ca('Probe Intermediate', R, exts, extra);
  return { anchors: [R], chain: [leaf(i, leafExts), i], host: 'example.com' };
};
const withHost = (...names: readonly Bytes[]): Probe => ({ anchors: [R], chain: [leaf(I, LEAF_EXTS(...names)), I] });

const UNKNOWN = '1.3.6.1.4.1.55555.9';

for (const impl of IMPLS) {
  const { label, make } = impl;
  const T = (title: string): string => `${label}: ${title}`;

  test(T('sanity: root → intermediate → leaf verifies for example.com'), (t) => {
    accepts(t, make, base());
  });

  // =======================================================================================================
  // A. DER strictness (X.690 §10: DER is definite, minimal; RFC 5280 §4.1: the certificate is DER)
  // =======================================================================================================

  test(T('A1 the Certificate SEQUENCE with a non-minimal (long-form, zero-padded) length → bad_encoding'), (t) => {
    const l = leaf(I);
    rejects(t, make, { anchors: [R], chain: [raw(nonMinimalLength(l.der)), I], host: 'example.com' }, 'bad_encoding');
  });

  test(T('A2 a TBSCertificate with a non-minimal length, validly signed over those bytes → bad_encoding'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { mutateTbs: (tbs) => nonMinimalLength(tbs) }), 'bad_encoding');
  });

  test(T('A3 the Certificate in the BER indefinite-length form → bad_encoding'), (t) => {
    const l = leaf(I);
    rejects(t, make, { anchors: [R], chain: [raw(indefiniteLength(l.der)), I], host: 'example.com' }, 'bad_encoding');
  });

  test(T('A4 one chain entry holding the leaf and the intermediate back to back (trailing bytes) → bad_encoding'), (t) => {
    const l = leaf(I);
    rejects(t, make, { anchors: [R], chain: [raw(concat(l.der, I.der)), I], host: 'example.com' }, 'bad_encoding');
  });

  test(T('A5 an extension whose critical BOOLEAN is 0x01 (DER TRUE is 0xFF, X.690 §11.1) → bad_encoding'), (t) => {
    const kuBer = seq(oid(OID.ku), tlv(0x01, Uint8Array.of(0x01)), octet(namedBits([DIGITAL_SIGNATURE])));
    rejects(t, make, base([kuBer, eku([OID.serverAuth]), san(dns('example.com'))]), 'bad_encoding');
  });

  test(T('A6 an intermediate whose basicConstraints cA BOOLEAN is 0x01 → bad_encoding'), (t) => {
    const bcBer = ext(OID.bc, seq(tlv(0x01, Uint8Array.of(0x01))), true);
    rejects(t, make, underCa([bcBer, ku([KEY_CERT_SIGN])]), 'bad_encoding');
  });

  test(T('A7 an explicitly encoded DEFAULT FALSE (critical FALSE, cA FALSE) is accepted (webpki / mozilla::pkix compatibility)'), (t) => {
    // X.690 §11.5 forbids encoding a DEFAULT value; webpki's der::optional_boolean accepts the explicit FALSE "for
    // compatibility with real-world certificates", as mozilla::pkix does. RFC 5280 leaves the leniency to policy.
    const ekuFalse = seq(oid(OID.eku), bool(false), octet(seq(oid(OID.serverAuth))));
    const bcFalse = ext(OID.bc, seq(bool(false)), true);
    accepts(t, make, base([bcFalse, ku([DIGITAL_SIGNATURE]), ekuFalse, san(dns('example.com'))]));
  });

  // Found by this probe and fixed: the serialNumber was read as any INTEGER TLV, so an INTEGER with no content octets
  // passed the portable parser and the portable verifier accepted the leaf; the node verifier threw instead of
  // answering, OpenSSL refusing the DER and `new X509Certificate` throwing "PEM routines::no start line" out of
  // verify(). X.690 §8.3.1: the contents of an INTEGER "shall consist of one or more octets" — an empty one is not BER,
  // let alone DER (RFC 5280 §4.1.2.2 asks users to handle odd serial *values*, not undecodable ones); OpenSSL and Go
  // refuse it (webpki reads the tag only).
  test(T('A8 a zero-length serialNumber INTEGER → bad_encoding'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { serial: tlv(0x02, new Uint8Array(0)) }), 'bad_encoding');
  });

  // Found by this probe and fixed: a non-minimal serialNumber (02 02 00 01) was accepted by the portable parser on
  // purpose ("not necessarily minimal in the wild"), while OpenSSL refused to decode it, so the node verifier threw out
  // of verify() (`new X509Certificate`): the two verifiers disagreed, one of them by crashing. X.690 §8.3.2 forbids the
  // padding in BER already (the first nine bits MUST NOT all be zero); OpenSSL (ASN1_R_ILLEGAL_PADDING) and Go
  // (cryptobyte) refuse such certificates; only webpki reads the tag alone.
  test(T('A9 a non-minimal serialNumber (00 01, invalid even in BER, X.690 §8.3.2) → bad_encoding'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { serial: tlv(0x02, Uint8Array.of(0x00, 0x01)) }), 'bad_encoding');
  });

  // Found by this probe and fixed: keyUsage was decoded without checking for the end of extnValue, so bytes after the
  // BIT STRING were ignored. RFC 5280 §4.2: extnValue is the DER encoding of the extension's value — one BIT STRING,
  // nothing after; webpki reads every extension with read_all (BadDer).
  test(T('A10 keyUsage extnValue with bytes after the BIT STRING → bad_encoding'), (t) => {
    const kuTrailing = ext(OID.ku, concat(namedBits([DIGITAL_SIGNATURE]), tlv(0x05)), true);
    rejects(t, make, base([kuTrailing, eku([OID.serverAuth]), san(dns('example.com'))]), 'bad_encoding');
  });

  // Found by this probe and fixed: extendedKeyUsage was decoded without checking for the end of extnValue, so a
  // trailing element was ignored. RFC 5280 §4.2 / webpki (read_all): bad encoding.
  test(T('A11 extendedKeyUsage extnValue with bytes after the SEQUENCE → bad_encoding'), (t) => {
    const ekuTrailing = ext(OID.eku, concat(seq(oid(OID.serverAuth)), tlv(0x05)));
    rejects(t, make, base([ku([DIGITAL_SIGNATURE]), ekuTrailing, san(dns('example.com'))]), 'bad_encoding');
  });

  // Found by this probe and fixed: subjectKeyIdentifier was decoded without an end check, so trailing bytes were
  // ignored. RFC 5280 §4.2 (extnValue is one DER value); webpki read_all.
  test(T('A12 subjectKeyIdentifier extnValue with bytes after the OCTET STRING → bad_encoding'), (t) => {
    const skiTrailing = ext(OID.ski, concat(octet(Uint8Array.of(1, 2, 3, 4)), tlv(0x05)));
    rejects(t, make, base([...LEAF_EXTS(), skiTrailing]), 'bad_encoding');
  });

  // Found by this probe and fixed: authorityKeyIdentifier was read only up to its keyIdentifier: neither the rest of
  // the SEQUENCE nor the end of extnValue was checked, so trailing bytes passed. RFC 5280 §4.2 / §4.2.1.1 (a DER
  // AuthorityKeyIdentifier, nothing after); webpki read_all.
  test(T('A13 authorityKeyIdentifier extnValue with bytes after the SEQUENCE → bad_encoding'), (t) => {
    const akiTrailing = ext(OID.aki, concat(seq(tlv(0x80, Uint8Array.of(1, 2, 3, 4))), tlv(0x05)));
    rejects(t, make, base([...LEAF_EXTS(), akiTrailing]), 'bad_encoding');
  });

  // Found by this probe and fixed: an empty `[3] Extensions` SEQUENCE was accepted (a loop over zero entries). RFC 5280
  // §4.1: Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, and §4.1.2.9 / X.690 §11.5 (an absent optional field is
  // omitted, not written empty); webpki's nested_of_mut requires at least one Extension (BadDer).
  test(T('A14 an empty extensions SEQUENCE ([3] { SEQUENCE {} }) → bad_encoding'), (t) => {
    const l = leaf(I, [], { extensions: tlv(0xa3, seq()) });
    rejects(t, make, { anchors: [R], chain: [l, I], usage: 'client' }, 'bad_encoding');
  });

  test(T('A15 Ed25519 AlgorithmIdentifier with NULL parameters (in both places) → bad_encoding (RFC 8410 §3: MUST be absent)'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { alg: seq(oid(OID.ed25519), tlv(0x05)) }), 'bad_encoding');
  });

  test(T('A16 a negative pathLenConstraint (INTEGER (0..MAX)) in an intermediate → bad_encoding'), (t) => {
    rejects(t, make, underCa([ext(OID.bc, seq(bool(true), int(-1)), true), ku([KEY_CERT_SIGN])]), 'bad_encoding');
  });

  // =======================================================================================================
  // B. version (RFC 5280 §4.1.2.1, §4.1.2.9)
  // =======================================================================================================

  // Found by this probe and fixed: the version field was skipped unread, so a v1 certificate (version absent) carrying
  // extensions was processed as v3. RFC 5280 §4.1.2.9: "This field MUST only appear if the version is 3"; webpki
  // accepts only v3 (UnsupportedCertVersion).
  test(T('B1 a v1 leaf (no version field) carrying extensions → rejected'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { version: null }), ['bad_encoding', 'unsupported']);
  });

  // Found by this probe and fixed: as B1, version 2 (v2) with extensions was processed as v3; RFC 5280 §4.1.2.9 allows
  // extensions in v3 only (webpki: UnsupportedCertVersion).
  test(T('B2 a v2 leaf (version 1) carrying extensions → rejected'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { version: tlv(0xa0, int(1)) }), ['bad_encoding', 'unsupported']);
  });

  // Found by this probe and fixed: an undefined version (value 3, "v4") was accepted, the field being skipped unread.
  // RFC 5280 §4.1.2.1 defines v1..v3 only and a certificate of an unknown version cannot be processed; webpki:
  // UnsupportedCertVersion.
  test(T('B3 an unknown version (INTEGER 3) → unsupported'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { version: tlv(0xa0, int(3)) }), ['unsupported', 'bad_encoding']);
  });

  // Found by this probe and fixed: version v1 written explicitly ([0] INTEGER 0) was accepted. It is the DEFAULT, which
  // DER omits (X.690 §11.5; RFC 5280 §4.1 requires DER); webpki refuses every version but an explicit v3.
  test(T('B4 version v1 written explicitly ([0] INTEGER 0, a DEFAULT value encoded) → bad_encoding'), (t) => {
    const l = leaf(I, [], { version: tlv(0xa0, int(0)) });
    rejects(t, make, { anchors: [R], chain: [l, I], usage: 'client' }, 'bad_encoding');
  });

  // Found by this probe and fixed: whatever was inside [0] was skipped, so `[0] { OCTET STRING }` passed the portable
  // parser and the portable verifier accepted the leaf; OpenSSL refused the DER, so the node verifier threw out of
  // verify() (`new X509Certificate`). RFC 5280 §4.1: version [0] EXPLICIT Version, an INTEGER — this is not a
  // Certificate.
  test(T('B5 a version field holding an OCTET STRING instead of an INTEGER → bad_encoding'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { version: tlv(0xa0, octet(Uint8Array.of(2))) }), 'bad_encoding');
  });

  // Found by this probe and fixed: the unique identifiers were skipped unread, so an issuerUniqueID that is no BIT
  // STRING (empty content) passed the portable parser while OpenSSL refused the certificate, and the two verifiers
  // disagreed. RFC 5280 §4.1: [1] IMPLICIT UniqueIdentifier, a BIT STRING (X.690 §8.6.2: at least the unused-bits
  // octet); §4.1.2.8: only in v2 and v3.
  test(T('B7 an issuerUniqueID with empty content (no unused-bits octet) → bad_encoding'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { uniqueIds: [tlv(0x81, new Uint8Array(0))] }), 'bad_encoding');
  });

  test(T('B8 well-formed issuerUniqueID and subjectUniqueID in a v3 leaf are accepted (and not used)'), (t) => {
    accepts(t, make, base(LEAF_EXTS(), { uniqueIds: [tlv(0x81, Uint8Array.of(0, 1, 2)), tlv(0x82, Uint8Array.of(4, 0xf0))] }));
  });

  test(T('B6 a v1 intermediate (no extensions, so no basicConstraints) cannot issue (RFC 5280 §6.1.4 (k)) → rejected'), (t) => {
    // §6.1.4 (k): a v1/v2 issuer is a CA only if established out of band; webpki refuses v1 outright.
    rejects(t, make, underCa([], { version: null }), ['not_a_ca', 'unsupported', 'bad_encoding']);
  });

  // =======================================================================================================
  // C. extensions: duplicates, criticality, basicConstraints and keyUsage forms
  // =======================================================================================================

  test(T('C1 the same unknown non-critical extension twice → bad_encoding (RFC 5280 §4.2 MUST NOT appear more than once)'), (t) => {
    const u = ext(UNKNOWN, tlv(0x05));
    rejects(t, make, base([...LEAF_EXTS(), u, u]), 'bad_encoding');
  });

  test(T('C2 an unknown critical extension in the trust anchor is not processed (RFC 5280 §6.1.1 (d): the anchor is input, not part of the path)'), (t) => {
    // webpki keeps only the anchor's subject, key and name constraints.
    const r = root('Critical Ext Root', [...CA_EXTS, ext(UNKNOWN, tlv(0x05), true)]);
    const i = ca('Under Critical Ext Root', r);
    accepts(t, make, { anchors: [r], chain: [leaf(i), i], host: 'example.com' });
  });

  test(T('C3 an intermediate with basicConstraints cA TRUE marked non-critical still issues (RFC 5280 §6.1.4 (k) checks cA only)'), (t) => {
    // §4.2.1.9 tells CAs to mark it critical; the validation algorithm does not check criticality; webpki neither.
    accepts(t, make, underCa([bc(true, undefined, false), ku([KEY_CERT_SIGN])]));
  });

  test(T('C4 a leaf with pathLenConstraint but cA FALSE is accepted (webpki: mozilla bug 985025; Chromium target-has-pathlen-but-not-ca)'), (t) => {
    // RFC 5280 §4.2.1.9 binds CAs ("MUST NOT include pathLenConstraint unless cA"); webpki tolerates it in a leaf.
    accepts(t, make, base([bc(false, 0), ...LEAF_EXTS()]));
  });

  test(T('C5 an intermediate with cA TRUE and no keyUsage extension issues (RFC 5280 §6.1.4 (n) applies only when keyUsage is present)'), (t) => {
    accepts(t, make, underCa([bc(true)]));
  });

  test(T('C6 an empty extendedKeyUsage SEQUENCE (SIZE (1..MAX)) in the leaf → rejected'), (t) => {
    rejects(t, make, base([ku([DIGITAL_SIGNATURE]), ext(OID.eku, seq()), san(dns('example.com'))]), ['bad_encoding', 'bad_usage']);
  });

  // Found by this probe and fixed (node X509Certificate only): OpenSSL marks a certificate whose keyUsage has no bit
  // set as invalid, and X509_check_issued then refused every issuer for it, so the node verifier found no issuer and
  // said unknown_ca (alert unknown_ca) — blaming the trust store for a malformed leaf — where the portable verifier
  // said bad_usage. RFC 5280 §4.2.1.3: "at least one of the bits MUST be set" — a defect of the leaf (bad_encoding or
  // bad_usage).
  test(T('C7 a keyUsage with no bit set in the leaf (RFC 5280 §4.2.1.3: at least one MUST be set) → rejected'), (t) => {
    rejects(t, make, base([ku([]), eku([OID.serverAuth]), san(dns('example.com'))]), ['bad_encoding', 'bad_usage']);
  });

  // =======================================================================================================
  // D. pathLenConstraint and self-issued certificates (RFC 5280 §6.1.4 (l), (m))
  // =======================================================================================================

  // Found by this probe and fixed: pathLenConstraint was checked as "intermediates below > pathLen" counting every
  // intermediate, self-issued ones included. RFC 5280 §6.1.4 (l) decrements max_path_length only for certificates that
  // are not self-issued (§6.1: "self-issued certificates are not counted when evaluating path length"), so a
  // key-rollover certificate below a pathLen 0 CA is allowed (Chromium's pathlen-0-self-issued test agrees, as does
  // OpenSSL; webpki counts every CA and refuses). The exemption is the RFC's: it lets a pathLen 0 CA issue same-named
  // CAs — a choice made knowingly; webpki's stricter count is the alternative.
  test(T('D1 a self-issued (key rollover) intermediate below a pathLen 0 CA does not count → accepted'), (t) => {
    const i0 = ca('PathLen0 CA', R, [bc(true, 0), ku([KEY_CERT_SIGN])]);
    const rollover = certify({ subject: i0.name, key: nextKey(), issuer: i0, exts: CA_EXTS });
    accepts(t, make, { anchors: [R], chain: [leaf(rollover), rollover, i0], host: 'example.com' });
  });

  test(T('D2 a self-issued intermediate does not reset the count: pathLen 0 → self-issued → another CA → path_too_long'), (t) => {
    const i0 = ca('PathLen0 CA 2', R, [bc(true, 0), ku([KEY_CERT_SIGN])]);
    const rollover = certify({ subject: i0.name, key: nextKey(), issuer: i0, exts: CA_EXTS });
    const j = ca('Below Rollover', rollover);
    rejects(t, make, { anchors: [R], chain: [leaf(j), j, rollover, i0], host: 'example.com' }, 'path_too_long');
  });

  // =======================================================================================================
  // E. name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b), (c), §6.1.4 (g)); BetterTLS name-constraint breadth
  // =======================================================================================================

  test(T('E1 a leading-dot dNSName constraint (.example.com) admits subdomains only (webpki / mozilla::pkix reading)'), (t) => {
    // RFC 5280 defines the leading dot for URIs and mail domains only; webpki, mozilla::pkix and OpenSSL read it for
    // dNSName as "subdomains, not the name itself".
    const i = ca('Dot NC Intermediate', R, [...CA_EXTS, nameConstraints([dns('.example.com')])]);
    accepts(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(dns('www.example.com'))), i], host: 'www.example.com' }, 'www.example.com');
    rejects(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(dns('example.com'))), i], host: 'example.com' }, 'name_constraints', 'example.com');
  });

  test(T('E2 dNSName constraints compare case-insensitively, permitted and excluded (RFC 5280 §7.2 / §4.2.1.10)'), (t) => {
    const p = ca('Upper Permitted NC', R, [...CA_EXTS, nameConstraints([dns('EXAMPLE.com')])]);
    accepts(t, make, { anchors: [R], chain: [leaf(p, LEAF_EXTS(dns('www.Example.COM'))), p], host: 'www.example.com' }, 'permitted');
    const x = ca('Upper Excluded NC', R, [...CA_EXTS, nameConstraints([], [dns('EVIL.com')])]);
    rejects(t, make, { anchors: [R], chain: [leaf(x, LEAF_EXTS(dns('www.evil.COM'))), x], host: 'www.evil.com' }, 'name_constraints', 'excluded');
  });

  test(T('E3 a name both permitted and excluded is excluded (RFC 5280 §6.1.3 (b) and (c) both apply)'), (t) => {
    const i = ca('Both NC Intermediate', R, [...CA_EXTS, nameConstraints([dns('example.com')], [dns('example.com')])]);
    rejects(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(dns('www.example.com'))), i], host: 'www.example.com' }, 'name_constraints');
  });

  test(T('E4 constraints of two CAs intersect: an intermediate cannot widen its issuer\'s permitted subtree'), (t) => {
    const r = root('Permits example.com', [...CA_EXTS, nameConstraints([dns('example.com')])]);
    const i = ca('Permits example.org', r, [...CA_EXTS, nameConstraints([dns('example.org')])]);
    rejects(t, make, { anchors: [r], chain: [leaf(i, LEAF_EXTS(dns('www.example.org'))), i], host: 'www.example.org' }, 'name_constraints', 'outside the root');
    rejects(t, make, { anchors: [r], chain: [leaf(i, LEAF_EXTS(dns('www.example.com'))), i], host: 'www.example.com' }, 'name_constraints', 'outside the intermediate');
  });

  test(T('E5 an anchor\'s constraints bind an intermediate\'s own subjectAltName (RFC 5280 §6.1.3 (b): every certificate of the path)'), (t) => {
    const r = root('NC Root For Intermediates', [...CA_EXTS, nameConstraints([dns('example.com')])]);
    const i = ca('Intermediate With Evil SAN', r, [...CA_EXTS, san(dns('evil.com'))]);
    rejects(t, make, { anchors: [r], chain: [leaf(i, LEAF_EXTS(dns('www.example.com'))), i], host: 'www.example.com' }, 'name_constraints');
  });

  test(T('E6 a self-issued intermediate is exempt from its issuer\'s constraints, the leaf below is not (RFC 5280 §6.1.3 (b))'), (t) => {
    const r = root('NC Rollover Root', [...CA_EXTS, nameConstraints([dns('example.com')])]);
    const rollover = certify({ subject: r.name, key: nextKey(), issuer: r, exts: [...CA_EXTS, san(dns('evil.com'))] });
    accepts(t, make, { anchors: [r], chain: [leaf(rollover, LEAF_EXTS(dns('www.example.com'))), rollover], host: 'www.example.com' }, 'leaf inside');
    rejects(t, make, { anchors: [r], chain: [leaf(rollover, LEAF_EXTS(dns('www.evil.com'))), rollover], host: 'www.evil.com' }, 'name_constraints', 'leaf outside');
  });

  test(T('E7 iPAddress constraints with IPv6 masks: /64 permitted, /128 excluded inside it'), (t) => {
    const net = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const m64 = [...new Array<number>(8).fill(0xff), ...new Array<number>(8).fill(0)];
    const bad = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b, 0xad];
    const i = ca('IPv6 NC Intermediate', R, [...CA_EXTS, nameConstraints([ip([...net, ...m64])], [ip([...bad, ...new Array<number>(16).fill(0xff)])])]);
    const at = (addr: number[], host: string): Probe => ({ anchors: [R], chain: [leaf(i, LEAF_EXTS(ip(addr))), i], host });
    accepts(t, make, at([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5], '2001:db8:1::5'), 'inside /64');
    rejects(t, make, at([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5], '2001:db8:1:1::5'), 'name_constraints', 'next /64');
    rejects(t, make, at(bad, '2001:db8:1::bad'), 'name_constraints', 'excluded /128');
  });

  // Found by this probe and fixed: an iPAddress constraint whose mask is not a CIDR prefix (255.0.255.0) was applied
  // bit by bit, so 10.1.0.5 fell "within" 10.0.0.0/255.0.255.0. RFC 5280 §4.2.1.10: the constraint is an address range
  // "encoded in the style of RFC 4632 (CIDR)" — a contiguous prefix mask; webpki refuses other masks
  // (InvalidNetworkMaskConstraint).
  test(T('E8 an iPAddress constraint with a non-contiguous mask (255.0.255.0) → rejected'), (t) => {
    const i = ca('Odd Mask NC Intermediate', R, [...CA_EXTS, nameConstraints([ip([10, 0, 0, 0, 255, 0, 255, 0])])]);
    rejects(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(ip([10, 1, 0, 5]))), i], host: '10.1.0.5' }, ['bad_encoding', 'name_constraints']);
  });

  test(T('E9 a dNSName-only permitted subtree does not restrict an iPAddress SAN (constraints apply per name form)'), (t) => {
    // RFC 5280 §4.2.1.10 / §6.1.3 (b): a form with no subtree is unconstrained; webpki and OpenSSL agree.
    const i = ca('DNS Only NC Intermediate', R, [...CA_EXTS, nameConstraints([dns('example.com')])]);
    accepts(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(dns('www.example.com'), ip([192, 0, 2, 1]))), i], host: '192.0.2.1' });
  });

  test(T('E10 a permitted directoryName subtree binds the leaf subject (O=Good required)'), (t) => {
    const i = ca('DirName NC Intermediate', R, [...CA_EXTS, nameConstraints([dirName(dn(atv(OID.o, 'Good')))])]);
    const inside = leaf(i, LEAF_EXTS(), { subject: dn(atv(OID.o, 'Good'), atv(OID.cn, 'leaf')) });
    accepts(t, make, { anchors: [R], chain: [inside, i], host: 'example.com' }, 'O=Good, CN=leaf');
    rejects(t, make, { anchors: [R], chain: [leaf(i), i], host: 'example.com' }, 'name_constraints', 'CN=leaf');
  });

  test(T('E11 an excluded directoryName matches across case, spacing and string type (RFC 5280 §7.1)'), (t) => {
    const i = ca('DirName Excluded NC', R, [...CA_EXTS, nameConstraints([], [dirName(dn(atv(OID.o, printable('Evil Corp'))))])]);
    const l = leaf(i, LEAF_EXTS(), { subject: dn(atv(OID.o, utf8('EVIL  corp')), atv(OID.cn, 'leaf')) });
    rejects(t, make, { anchors: [R], chain: [l, i], host: 'example.com' }, 'name_constraints');
  });

  test(T('E12 a wildcard SAN is within a permitted subtree, and out of reach of an excluded subtree two labels down'), (t) => {
    // *.example.com stands for one label: a.example.com, never x.a.example.com.
    const i = ca('Wildcard NC Intermediate', R, [...CA_EXTS, nameConstraints([dns('example.com')], [dns('x.a.example.com')])]);
    accepts(t, make, { anchors: [R], chain: [leaf(i, LEAF_EXTS(dns('*.example.com'))), i], host: 'b.example.com' });
  });

  // =======================================================================================================
  // F. subjectAltName and reference identifiers (RFC 5280 §4.2.1.6, RFC 6125 §6.4, RFC 9525 §6.3)
  // =======================================================================================================

  test(T('F1 an empty subjectAltName (GeneralNames SIZE (1..MAX)) matches no host → rejected'), (t) => {
    rejects(t, make, base([ku([DIGITAL_SIGNATURE]), eku([OID.serverAuth]), ext(OID.san, seq())]), ['bad_encoding', 'hostname_mismatch']);
  });

  test(T('F2 a subjectAltName with only an rfc822Name and a URI matches no DNS name, even with CN=example.com'), (t) => {
    const l = leaf(I, [ku([DIGITAL_SIGNATURE]), eku([OID.serverAuth]), san(email('admin@example.com'), uri('https://example.com/'))], { subject: 'example.com' });
    rejects(t, make, { anchors: [R], chain: [l, I], host: 'example.com' }, 'hostname_mismatch');
  });

  test(T('F3 upper-case SAN entries (exact and wildcard) match a lower-case reference (RFC 6125 §6.4.1)'), (t) => {
    const p = withHost(dns('WWW.EXAMPLE.COM'), dns('*.EXAMPLE.ORG'));
    accepts(t, make, { ...p, host: 'www.example.com' }, 'WWW.EXAMPLE.COM');
    accepts(t, make, { ...p, host: 'api.example.org' }, '*.EXAMPLE.ORG');
  });

  test(T('F4 a dNSName with an embedded NUL matches neither its prefix, its suffix, nor the whole'), (t) => {
    const p = withHost(dnsRaw(concat(ascii('example.com'), Uint8Array.of(0), ascii('.evil.com'))));
    for (const host of ['example.com', 'evil.com', 'example.com\u0000.evil.com']) rejects(t, make, { ...p, host }, 'hostname_mismatch', JSON.stringify(host));
  });

  test(T('F5 a wildcard over a multi-label public suffix (*.co.uk) matches: left to policy, webpki has no public suffix list'), (t) => {
    // RFC 6125 §7.2 / RFC 9525 §7.1 leave public-suffix wildcards to policy; webpki (and rxtls) refuse only `*.tld`.
    accepts(t, make, { ...withHost(dns('*.co.uk')), host: 'example.co.uk' });
  });

  test(T('F6 a wildcard inside an A-label (xn--*) matches nothing; a whole-label wildcard matches an A-label (RFC 6125 §6.4.3)'), (t) => {
    rejects(t, make, { ...withHost(dns('xn--*.example.com')), host: 'xn--caf-dma.example.com' }, 'hostname_mismatch', 'xn--*');
    accepts(t, make, { ...withHost(dns('*.example.com')), host: 'xn--caf-dma.example.com' }, '*.example.com');
  });

  // Found by this probe and fixed (node X509Certificate only): a non-ASCII reference name went to OpenSSL's
  // X509_check_host, which compares bytes: the UTF-8 host `bücher.example.com` matched a dNSName holding the same raw
  // UTF-8. RFC 5280 §4.2.1.6 / §7.2: a dNSName is an IA5String in preferred name syntax and IDNs are stored as
  // A-labels; RFC 6125 §6.4.2 compares A-labels. The portable checks refused any host outside printable ASCII.
  test(T('F7 a dNSName holding raw UTF-8 (a U-label, not IA5String) matches neither the U-label nor the A-label'), (t) => {
    const p = withHost(dnsRaw(new TextEncoder().encode('bücher.example.com')));
    for (const host of ['bücher.example.com', 'xn--bcher-kva.example.com']) rejects(t, make, { ...p, host }, ['hostname_mismatch', 'bad_encoding'], host);
  });

  test(T('F8 an empty subject with a critical subjectAltName is a valid leaf (RFC 5280 §4.1.2.6, §4.2.1.6)'), (t) => {
    const l = leaf(I, [ku([DIGITAL_SIGNATURE]), eku([OID.serverAuth]), ext(OID.san, seq(dns('example.com')), true)], { subject: seq() });
    accepts(t, make, { anchors: [R], chain: [l, I], host: 'example.com' });
  });

  test(T('F9 an IPv6 SAN matches every textual form of the address (RFC 4291 §2.2; compared as octets, RFC 5280 §4.2.1.6)'), (t) => {
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1];
    const p = withHost(ip(mapped));
    for (const host of ['::ffff:192.0.2.1', '::FFFF:C000:201', '0:0:0:0:0:ffff:c000:0201', '[::ffff:c000:201]']) accepts(t, make, { ...p, host }, host);
    rejects(t, make, { ...p, host: '192.0.2.1' }, 'hostname_mismatch', 'the IPv4 address is a different iPAddress');
  });

  // =======================================================================================================
  // G. validity encodings (RFC 5280 §4.1.2.5.1, §4.1.2.5.2)
  // =======================================================================================================

  test(T('G1 a notBefore of UTCTime 500101000000Z is 1950: the certificate is already valid'), (t) => {
    accepts(t, make, base(LEAF_EXTS(), { notBefore: rawUtcTime('500101000000Z') }));
  });

  test(T('G2 a UTCTime with fractional seconds → bad_encoding'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { notAfter: rawUtcTime('350101000000.5Z') }), 'bad_encoding');
  });

  test(T('G3 a UTCTime without seconds (YYMMDDhhmmZ, legal in BER) → bad_encoding (RFC 5280: seconds MUST be present)'), (t) => {
    rejects(t, make, base(LEAF_EXTS(), { notAfter: rawUtcTime('3501010000Z') }), 'bad_encoding');
  });

  test(T('G4 a UTCTime not ending in Z (a +0000 offset, or nothing) → bad_encoding (RFC 5280: expressed in Zulu)'), (t) => {
    for (const s of ['350101000000+0000', '350101000000']) rejects(t, make, base(LEAF_EXTS(), { notAfter: rawUtcTime(s) }), 'bad_encoding', s);
  });

  test(T('G5 notBefore after notAfter: valid at no time → rejected before, between and after'), (t) => {
    const p = base(LEAF_EXTS(), { notBefore: time(Y(2031)), notAfter: time(Y(2029)) });
    for (const now of [Y(2028), Y(2030), Y(2032)]) rejects(t, make, { ...p, now }, ['expired', 'not_yet_valid', 'bad_encoding'], new Date(now).toISOString());
  });

  // Found by this probe and fixed: days were range-checked as 1..31 for every month and handed to Date.UTC, which rolls
  // them over: 2034-02-30 was read as 2034-03-02, 2031-02-29 as 2031-03-01, 2034-04-31 as 2034-05-01. These are not
  // times (X.680 / ISO 8601; RFC 5280 §4.1.2.5); webpki checks days_in_month (BadDerTime).
  test(T('G6 a calendar date that does not exist (Feb 30, Feb 29 of 2031, Apr 31) → bad_encoding'), (t) => {
    for (const s of ['340230000000Z', '310229000000Z', '340431000000Z']) rejects(t, make, base(LEAF_EXTS(), { notAfter: rawUtcTime(s) }), 'bad_encoding', s);
  });

  test(T('G7 February 29 of a leap year (2032) is a valid notAfter'), (t) => {
    accepts(t, make, base(LEAF_EXTS(), { notAfter: rawUtcTime('320229000000Z') }));
  });

  test(T('G8 second 60 (a leap second) and hour 24 → bad_encoding'), (t) => {
    for (const s of ['341231235960Z', '341231240000Z']) rejects(t, make, base(LEAF_EXTS(), { notAfter: rawUtcTime(s) }), 'bad_encoding', s);
  });

  // =======================================================================================================
  // H. issuer choice, cross-signing, depth and cycles (RFC 4158; webpki's path building); work is counted
  // =======================================================================================================

  test(T('H1 two same-named intermediates: the leaf\'s authorityKeyIdentifier picks the second one sent, at two signature checks'), (t) => {
    const a = certify({ subject: 'Twin Intermediate', key: nextKey(), issuer: R, exts: [...CA_EXTS, ski(Uint8Array.of(0xaa, 1))] });
    const b = certify({ subject: 'Twin Intermediate', key: nextKey(), issuer: R, exts: [...CA_EXTS, ski(Uint8Array.of(0xbb, 2))] });
    const l = leaf(b, [...LEAF_EXTS(), aki(Uint8Array.of(0xbb, 2))]);
    const { make: m, work } = counted(impl);
    accepts(t, m, { anchors: [R], chain: [l, a, b], host: 'example.com' });
    t.true(work.signatures <= 2, `signature checks ${work.signatures}`);
  });

  test(T('H2 a leaf whose authorityKeyIdentifier names the wrong same-named intermediate: a typed verdict (policy)'), (t) => {
    // RFC 5280 §6.1 does not use key identifiers (§4.2.1.1: they help path construction); webpki ignores them and
    // would accept on the signature; OpenSSL's X509_check_issued refuses the AKID/SKID mismatch. Informational.
    const a = certify({ subject: 'Twin Intermediate Lying', key: nextKey(), issuer: R, exts: [...CA_EXTS, ski(Uint8Array.of(0xaa, 3))] });
    const b = certify({ subject: 'Twin Intermediate Lying', key: nextKey(), issuer: R, exts: [...CA_EXTS, ski(Uint8Array.of(0xbb, 4))] });
    const l = leaf(b, [...LEAF_EXTS(), aki(Uint8Array.of(0xaa, 3))]);
    t.log(JSON.stringify(answers(t, make, { anchors: [R], chain: [l, a, b], host: 'example.com' })));
  });

  test(T('H3 a decoy trust anchor with the real root\'s name and another key, given first: the real one is found'), (t) => {
    const decoy = root('Limbo2 Root');
    const { make: m, work } = counted(impl);
    accepts(t, m, { anchors: [decoy, R], chain: [leaf(I), I], host: 'example.com' });
    t.true(work.signatures <= 3, `signature checks ${work.signatures}`);
  });

  test(T('H4 an expired cross-sign to a second trusted root, sent first, beside a valid path to the first root'), (t) => {
    const a = root('Cross Root A');
    const b = root('Cross Root B');
    const key = nextKey();
    const byBExpired = certify({ subject: 'Cross Signed Intermediate', key, issuer: b, exts: CA_EXTS, notAfter: time(Y(2029)) });
    const byA = certify({ subject: 'Cross Signed Intermediate', key, issuer: a, exts: CA_EXTS });
    const l = leaf(byA);
    accepts(t, make, { anchors: [b, a], chain: [l, byBExpired, byA], host: 'example.com' });
  });

  test(T('H5 a path of 12 distinct intermediates is refused by the depth bound (path_too_long) within the signature budget'), (t) => {
    // RFC 5280 sets no depth; webpki refuses more than 6 intermediates (MaximumPathDepthExceeded); rxtls 8.
    let up = R;
    const ints: Issuer[] = [];
    for (let n = 1; n <= 12; n++) ints.unshift((up = ca(`Deep ${n}`, up)));
    const { make: m, work } = counted(impl);
    rejects(t, m, { anchors: [R], chain: [leaf(up), ...ints], host: 'example.com' }, 'path_too_long');
    t.true(work.signatures <= MAX_SIGNATURE_CHECKS, `signature checks ${work.signatures}`);
  });

  test(T('H6 a chain of 25 distinct intermediates is refused before any issuer or signature check'), (t) => {
    let up = R;
    const ints: Issuer[] = [];
    for (let n = 1; n <= 25; n++) ints.unshift((up = ca(`Long ${n}`, up)));
    const { make: m, work } = counted(impl);
    rejects(t, m, { anchors: [R], chain: [leaf(up), ...ints], host: 'example.com' }, 'path_too_long');
    t.is(work.signatures, 0);
    t.is(work.issued, 0);
  });

  // Two CAs that certify each other: A signed by B's key, B signed by A's key.
  const kA = nextKey();
  const kB = nextKey();
  const cycleA = certify({ subject: 'Cycle A', key: kA, issuer: signer('Cycle B', kB), exts: CA_EXTS });
  const cycleB = certify({ subject: 'Cycle B', key: kB, issuer: signer('Cycle A', kA), exts: CA_EXTS });
  const cycleLeaf = leaf(cycleA);

  test(T('H7 two intermediates cross-signed in a cycle, no way to an anchor: unknown_ca, bounded work'), (t) => {
    const { make: m, work } = counted(impl);
    rejects(t, m, { anchors: [R], chain: [cycleLeaf, cycleA, cycleB], host: 'example.com' }, 'unknown_ca');
    t.true(work.signatures <= 4, `signature checks ${work.signatures}`);
    t.true(work.issued <= 20, `issuer checks ${work.issued}`);
  });

  test(T('H8 a cross-signed cycle with one way out (B also issued by the root, sent last) is found'), (t) => {
    const bByRoot = certify({ subject: 'Cycle B', key: kB, issuer: R, exts: CA_EXTS });
    const { make: m, work } = counted(impl);
    accepts(t, m, { anchors: [R], chain: [cycleLeaf, cycleA, cycleB, bByRoot], host: 'example.com' });
    t.true(work.signatures <= MAX_SIGNATURE_CHECKS, `signature checks ${work.signatures}`);
  });

  test(T('H9 a three-CA cycle with every certificate sent three times: terminates with a typed rejection, bounded work'), (t) => {
    const [k1, k2, k3] = [nextKey(), nextKey(), nextKey()];
    const c1 = certify({ subject: 'Ring 1', key: k1, issuer: signer('Ring 3', k3), exts: CA_EXTS });
    const c2 = certify({ subject: 'Ring 2', key: k2, issuer: signer('Ring 1', k1), exts: CA_EXTS });
    const c3 = certify({ subject: 'Ring 3', key: k3, issuer: signer('Ring 2', k2), exts: CA_EXTS });
    const l = leaf(c2);
    const { make: m, work } = counted(impl);
    rejects(t, m, { anchors: [R], chain: [l, c1, c2, c3, c1, c2, c3, c1, c2, c3], host: 'example.com' }, ['unknown_ca', 'path_too_long']);
    t.true(work.signatures <= MAX_SIGNATURE_CHECKS, `signature checks ${work.signatures}`);
    // At most MAX_PATH_TRIES (100) candidate paths, each scanning the chain once.
    t.true(work.issued <= 100 * 10 + 10, `issuer checks ${work.issued}`);
  });

  test(T('H10 eight same-named CAs signing each other in a ring, sent twice: terminates with a typed rejection, bounded work'), (t) => {
    // Every certificate is a candidate issuer of every other at each step: the worst case for the search.
    const keys = Array.from({ length: 8 }, () => nextKey());
    const ring = keys.map((k, n) => certify({ subject: 'Ring CA', key: k, issuer: signer('Ring CA', keys[(n + 1) % 8]!), exts: CA_EXTS }));
    const l = certify({ subject: 'leaf', key: nextKey(), issuer: signer('Ring CA', keys[0]!), exts: LEAF_EXTS() });
    const { make: m, work } = counted(impl);
    rejects(t, m, { anchors: [R], chain: [l, ...ring, ...ring], host: 'example.com' }, ['unknown_ca', 'path_too_long', 'bad_signature']);
    t.true(work.signatures <= MAX_SIGNATURE_CHECKS, `signature checks ${work.signatures}`);
    t.true(work.issued <= 100 * 17 + 17, `issuer checks ${work.issued}`);
  });

  test(T('H11 ten same-named decoys sent before the real intermediate: found within the signature budget'), (t) => {
    const real = ca('Crowded Intermediate', R);
    const decoys = Array.from({ length: 10 }, () => certify({ subject: 'Crowded Intermediate', key: nextKey(), issuer: R, exts: CA_EXTS }));
    const { make: m, work } = counted(impl);
    accepts(t, m, { anchors: [R], chain: [leaf(real), ...decoys, real], host: 'example.com' });
    t.true(work.signatures <= 12, `signature checks ${work.signatures}`);
  });
}
