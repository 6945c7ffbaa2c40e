/**
 * Certificate authentication shared by both roles (RFC 8446 §4.4.2, §4.4.3): checking the peer's
 * Certificate and CertificateVerify, and producing ours.
 */
import { abort, certificateAlert, fail } from '../core/errors.js';
import { signWithProvider } from '../crypto/signing.js';
import { certificateSpki, certificateSubject, rsaModulusBits } from '../crypto/x509.js';
import { type SpkiKeyType, spkiKeyType } from '../crypto/signatures.js';
import { AlertDescription, SignatureScheme } from '../wire/tls/constants.js';
import type { Certificate, CertificateVerify } from '../wire/tls/messages.js';
import { certificateVerifyContent } from './schedule.js';
import { type HsCx, sendHandshake, transcriptHash } from './state.js';
import { schemeName } from './config.js';

/** Schemes allowed in a TLS 1.3 CertificateVerify, in preference order (RFC 8446 §4.2.3, §4.4.3). */
const CERTIFICATE_VERIFY_SCHEMES: readonly number[] = [
  SignatureScheme.ecdsa_secp256r1_sha256,
  SignatureScheme.ecdsa_secp384r1_sha384,
  SignatureScheme.ecdsa_secp521r1_sha512,
  SignatureScheme.ed25519,
  SignatureScheme.ed448,
  SignatureScheme.rsa_pss_rsae_sha256,
  SignatureScheme.rsa_pss_rsae_sha384,
  SignatureScheme.rsa_pss_rsae_sha512,
  SignatureScheme.rsa_pss_pss_sha256,
  SignatureScheme.rsa_pss_pss_sha384,
  SignatureScheme.rsa_pss_pss_sha512,
];

/**
 * Signature algorithms we offer and accept, in preference order (RFC 8446 §4.2.3): every CertificateVerify
 * scheme, then PKCS#1 v1.5, which only appears in certificates.
 */
export const SIGNATURE_ALGORITHMS: readonly number[] = [
  ...CERTIFICATE_VERIFY_SCHEMES,
  SignatureScheme.rsa_pkcs1_sha256,
  SignatureScheme.rsa_pkcs1_sha384,
  SignatureScheme.rsa_pkcs1_sha512,
];

const VERIFY_SCHEMES: ReadonlySet<number> = new Set(CERTIFICATE_VERIFY_SCHEMES);

/**
 * The key each CertificateVerify scheme signs with (RFC 8446 §4.2.3: ECDSA schemes name their curve, the
 * rsa_pss_rsae_* schemes an rsaEncryption key, the rsa_pss_pss_* schemes an RSASSA-PSS key). A scheme missing
 * here is left to the signature check.
 */
export const SCHEME_KEY_TYPE: ReadonlyMap<number, SpkiKeyType> = new Map<number, SpkiKeyType>([
  [SignatureScheme.ecdsa_secp256r1_sha256, 'ecdsa-p256'],
  [SignatureScheme.ecdsa_secp384r1_sha384, 'ecdsa-p384'],
  [SignatureScheme.ecdsa_secp521r1_sha512, 'ecdsa-p521'],
  [SignatureScheme.ed25519, 'ed25519'],
  [SignatureScheme.ed448, 'ed448'],
  [SignatureScheme.rsa_pss_rsae_sha256, 'rsa'],
  [SignatureScheme.rsa_pss_rsae_sha384, 'rsa'],
  [SignatureScheme.rsa_pss_rsae_sha512, 'rsa'],
  [SignatureScheme.rsa_pss_pss_sha256, 'rsa-pss'],
  [SignatureScheme.rsa_pss_pss_sha384, 'rsa-pss'],
  [SignatureScheme.rsa_pss_pss_sha512, 'rsa-pss'],
]);

/**
 * Verify the peer's certificate chain with the configured verifier. Returns the chain (leaf first).
 * Failure aborts with the verifier's alert and a `certificate` error, unless `optional` (a server that requested
 * but does not require a client certificate): then the failure is recorded for `HandshakeInfo` (`verification:
 * 'failed'`, `verificationError`) and the handshake goes on; the CertificateVerify is still checked.
 */
export function checkPeerCertificate(cx: HsCx, cert: Certificate, usage: 'server' | 'client', optional = false): readonly Uint8Array[] {
  const s = cx.s;
  // RFC 8446 §4.2, §4.4.2: a CertificateEntry's extensions answer ones of the ClientHello (from a server) or of the
  // CertificateRequest (from a client). We ask for none (no status_request, no signed_certificate_timestamp).
  const unasked = cert.entries.find((e) => e.extensions.length > 0)?.extensions[0];
  if (unasked) abort(fail.incompatible(AlertDescription.unsupported_extension, `certificate entry carries extension ${unasked.type}, which we did not request`));
  const chain = cert.entries.map((e) => e.cert);
  const verifier = s.config.verifier;
  if (!verifier) abort(fail.internal('no certificate verifier configured'));
  const verdict = verifier.verify({
    chain,
    usage,
    ...(usage === 'server' && s.config.serverName !== undefined ? { serverName: s.config.serverName } : {}),
    now: cx.now,
  });
  if (!verdict.ok && optional) {
    let peerSubject: string | undefined;
    try {
      peerSubject = certificateSubject(chain[0]!);
    } catch {
      // the CertificateVerify check refuses an unreadable leaf
    }
    s.nego = {
      ...s.nego,
      peerChain: chain,
      ...(peerSubject !== undefined ? { peerSubject } : {}),
      verification: 'failed',
      verificationError: { code: verdict.code, reason: verdict.reason },
    };
    return chain;
  }
  if (!verdict.ok) {
    abort({ kind: 'certificate', alert: certificateAlert(verdict.code, usage), code: verdict.code, reason: verdict.reason });
  }
  s.nego = {
    ...s.nego,
    peerChain: chain,
    peerSubject: verdict.subject,
    verification: verdict.insecure ? 'insecure' : 'ok',
  };
  return chain;
}

/**
 * Check a CertificateVerify from the peer (RFC 8446 §4.4.3): the scheme must be one we offered and allowed in
 * TLS 1.3, and it must fit the certificate's key type and curve (else illegal_parameter, decided before any
 * signature arithmetic); a bad signature is decrypt_error. Call before adding it to the transcript.
 */
export function checkCertificateVerify(
  cx: HsCx,
  cv: CertificateVerify,
  leaf: Uint8Array,
  peerRole: 'server' | 'client',
): void {
  if (!VERIFY_SCHEMES.has(cv.scheme) || !SIGNATURE_ALGORITHMS.includes(cv.scheme)) {
    abort(fail.illegal(`peer signed CertificateVerify with unoffered scheme ${schemeName(cv.scheme)}`));
  }
  let spki: Uint8Array;
  try {
    spki = certificateSpki(leaf);
  } catch {
    abort({ kind: 'certificate', alert: AlertDescription.bad_certificate, code: 'bad_encoding', reason: 'cannot read the leaf public key' });
  }
  // RFC 8446 §4.4.3: the signature algorithm must be compatible with the key in the end-entity certificate;
  // a scheme for another key type or curve is an illegal parameter, not a failed signature (OpenSSL's
  // tls12_check_peer_sigalg answers illegal_parameter too).
  const keyType = SCHEME_KEY_TYPE.get(cv.scheme);
  if (keyType !== undefined && spkiKeyType(spki) !== keyType) {
    abort(fail.illegal(`CertificateVerify scheme ${schemeName(cv.scheme)} does not fit the ${spkiKeyType(spki)} key of the certificate`));
  }
  // Key size policy (OpenSSL security level 2 by default), whatever the verifier decided about the chain.
  const bits = rsaModulusBits(spki);
  if (bits !== undefined && bits < cx.s.config.minRsaBits) {
    abort({
      kind: 'certificate',
      alert: certificateAlert('weak_key', peerRole),
      code: 'weak_key',
      reason: `the ${peerRole}'s ${bits}-bit RSA key is under the ${cx.s.config.minRsaBits} bits required`,
    });
  }
  const content = certificateVerifyContent(peerRole, transcriptHash(cx));
  if (!cx.s.config.provider.verify(cv.scheme, spki, content, cv.signature)) {
    abort(fail.misbehaved(AlertDescription.decrypt_error, `${peerRole} CertificateVerify signature (${schemeName(cv.scheme)}) does not verify`));
  }
  cx.s.nego = { ...cx.s.nego, peerScheme: cv.scheme };
}

/** Choose our signature scheme from the peer's list (RFC 8446 §4.4.3); undefined if none fits our key. */
export function chooseScheme(cx: HsCx, peerSchemes: readonly number[]): number | undefined {
  const key = cx.s.config.key;
  if (!key) return undefined;
  return key.schemes.find((sch) => peerSchemes.includes(sch) && VERIFY_SCHEMES.has(sch));
}

/** Send our Certificate and CertificateVerify (the caller checked that a key and scheme exist). */
export function sendCertificateAndVerify(cx: HsCx, role: 'server' | 'client', scheme: number, context: Uint8Array): void {
  const s = cx.s;
  sendHandshake(cx, {
    type: 'certificate',
    body: { context, entries: s.config.chain.map((cert) => ({ cert, extensions: [] })) },
  });
  const content = certificateVerifyContent(role, transcriptHash(cx));
  const signature = signWithProvider(s.config.provider, s.config.key!, scheme, content);
  sendHandshake(cx, { type: 'certificate_verify', body: { scheme, signature } });
}

/**
 * RFC 8446 §4.4.4: verify_data is Hash.length bytes (32 or 48). A Finished of another length cannot be parsed
 * as one: decode_error (§6.2), before any comparison (which would make it decrypt_error).
 */
export function checkFinishedLength(verifyData: Uint8Array, expected: Uint8Array): void {
  if (verifyData.length !== expected.length) {
    abort(fail.decode(`Finished of ${verifyData.length} bytes, expected ${expected.length}`));
  }
}
