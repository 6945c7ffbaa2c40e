/**
 * What the TLS 1.2 client and server states share (RFC 5246 §7.3, §7.4; RFC 8422 §5.4; RFC 7627): sending a
 * TLS 1.2 handshake message, the key schedule steps (master secret, key block, Finished), the ChangeCipherSpec
 * and key changes, signature algorithms as TLS 1.2 uses them, and the messages of a connected TLS 1.2 session.
 *
 * DTLS 1.2 hook: every transcript addition goes through {@link appendTranscript12}. DTLS 1.2 hashes each message
 * with its 12-byte DTLS header (RFC 6347 §4.2.6: message_seq, fragment_offset 0, fragment_length = length), and
 * leaves the first ClientHello and the HelloVerifyRequest out; a `'dtls12'` variant would rewrite the header there
 * from per-direction message counters kept in the state.
 */
import { abort, fail } from '../../core/errors.js';
import { type Tls12SuiteParams, extendedMasterSecret, finishedVerifyData12, keyBlock, legacyMasterSecret } from '../../crypto/prf.js';
import type { SigningKey } from '../../crypto/provider.js';
import { signWithProvider } from '../../crypto/signing.js';
import { type SpkiKeyType, spkiKeyType, verifyWithAlgorithm } from '../../crypto/signatures.js';
import { certificateSpki, rsaModulusBits } from '../../crypto/x509.js';
import { certificateAlert } from '../../core/errors.js';
import { bytesEqual, concatBytes } from '../../wire/bytes.js';
import { AlertDescription, SignatureScheme, TLS12_VERIFY_DATA_LENGTH } from '../../wire/tls/constants.js';
import { type Tls12Message, encodeServerEcdhParams, encodeTls12HandshakeBytes } from '../../wire/tls/tls12.js';
import { encodeWith } from '../../wire/writer.js';
import { SCHEME_KEY_TYPE } from '../auth.js';
import { schemeName } from '../config.js';
import { TLS12_EPOCH } from '../events.js';
import { type HsCx, type Tls12State, appendTranscript, draft43Message, flushHandshake, keyLog, transcriptHash } from '../state.js';

/** The 1.2 state of the handshake (set when the hellos settled TLS 1.2). */
export function st12(cx: HsCx): Tls12State {
  const t = cx.s.tls12;
  if (!t) abort(fail.internal('TLS 1.2 state missing'));
  return t;
}

/**
 * Add a message to the transcript. DTLS 1.2 (RFC 6347 §4.2.6) hashes it with its 12-byte DTLS header as if sent
 * unfragmented: message_seq `seq` (default: the received message's, which the layer passes), fragment_offset 0,
 * fragment_length = length.
 */
export function appendTranscript12(cx: HsCx, raw: Uint8Array, seq: number = cx.msgSeq ?? 0): void {
  appendTranscript(cx, cx.s.config.variant === 'dtls' ? draft43Message(raw, seq) : raw);
}

/** Queue a TLS 1.2 handshake message at the current write epoch and add it to the transcript. */
export function sendHandshake12(cx: HsCx, msg: Tls12Message): Uint8Array {
  const raw = encodeTls12HandshakeBytes(msg);
  appendTranscript12(cx, raw, cx.s.msgSeqOut++);
  cx.out.push(raw);
  return raw;
}

/**
 * The master secret from the ECDHE output (RFC 7627 §4 with the session hash up to ClientKeyExchange, else RFC
 * 5246 §8.1), logged as `CLIENT_RANDOM` (the NSS key log format's TLS 1.2 line), and the key block.
 */
export function deriveMaster(cx: HsCx, preMaster: Uint8Array): void {
  const s = cx.s;
  const t = st12(cx);
  const p = s.config.provider;
  const master = t.ems
    ? extendedMasterSecret(p, t.suite.hash, preMaster, transcriptHash(cx))
    : legacyMasterSecret(p, t.suite.hash, preMaster, t.clientRandom, t.serverRandom);
  installMaster(cx, master);
}

/** Take a master secret (new, or a resumed session's): log it and derive the key block (RFC 5246 §6.3). */
export function installMaster(cx: HsCx, master: Uint8Array): void {
  const s = cx.s;
  const t = st12(cx);
  const keys = keyBlock(s.config.provider, t.suite, master, t.clientRandom, t.serverRandom);
  s.tls12 = { ...t, master, keys };
  keyLog(cx, 'CLIENT_RANDOM', master);
}

/** Our Finished.verify_data over the transcript so far (RFC 5246 §7.4.9). */
export function finished12(cx: HsCx, sender: 'client' | 'server'): Uint8Array {
  const t = st12(cx);
  return finishedVerifyData12(cx.s.config.provider, t.suite.hash, t.master!, sender, transcriptHash(cx));
}

/** Check the peer's Finished (12 B, else decode_error; a wrong value is decrypt_error), then add it to the transcript. */
export function checkFinished12(cx: HsCx, verifyData: Uint8Array, raw: Uint8Array, sender: 'client' | 'server'): void {
  if (verifyData.length !== TLS12_VERIFY_DATA_LENGTH) abort(fail.decode(`Finished of ${verifyData.length} bytes, expected 12`));
  if (!bytesEqual(finished12(cx, sender), verifyData)) abort(fail.misbehaved(AlertDescription.decrypt_error, `${sender} Finished does not verify`));
  appendTranscript12(cx, raw);
}

/**
 * ChangeCipherSpec and our Finished (RFC 5246 §7.1, §7.4.9): the messages queued so far leave under the old
 * keys, then the CCS, then the write keys of the key block, then Finished under them.
 */
export function sendCcsAndFinished(cx: HsCx, sender: 'client' | 'server'): void {
  const s = cx.s;
  const t = st12(cx);
  flushHandshake(cx);
  cx.events.push({ type: 'changeCipherSpec' });
  s.writeEpoch = TLS12_EPOCH;
  const keys = sender === 'client' ? t.keys!.client : t.keys!.server;
  cx.events.push({ type: 'tls12KeyChange', direction: 'write', epoch: TLS12_EPOCH, suite: t.suite, key: keys.key, iv: keys.iv });
  sendHandshake12(cx, { type: 'finished', body: { verifyData: finished12(cx, sender) } });
}

/**
 * The peer's ChangeCipherSpec (RFC 5246 §7.1): install its write keys as our read keys. It must fall between two
 * handshake messages (a fragment of one pending is unexpected_message).
 */
export function receiveCcs(cx: HsCx, peer: 'client' | 'server'): void {
  const s = cx.s;
  const t = st12(cx);
  if (s.partialLength > 0) abort(fail.unexpected('ChangeCipherSpec inside a fragmented handshake message'));
  s.readEpoch = TLS12_EPOCH;
  const keys = peer === 'client' ? t.keys!.client : t.keys!.server;
  cx.events.push({ type: 'tls12KeyChange', direction: 'read', epoch: TLS12_EPOCH, suite: t.suite, key: keys.key, iv: keys.iv });
  s.phase = { name: 'expectFinished12' };
}

// ---------------------------------------------------------------------------------------------------------------
// Signatures (RFC 5246 §7.4.1.4.1, RFC 8422 §5.4, RFC 8446 §4.2.3 for the rsa_pss_* code points in TLS 1.2)

/**
 * Signature algorithms allowed in a TLS 1.2 ServerKeyExchange or CertificateVerify, with the key type each
 * signs with: TLS 1.3's table ({@link SCHEME_KEY_TYPE}) with the PKCS#1 v1.5 code points added. TLS 1.2 ties an
 * ECDSA code point to its hash only, not to a curve (RFC 8446 §4.2.3 added the curve for TLS 1.3): `ecdsa` means
 * any ECDSA key. SHA-1 is never accepted (OpenSSL security level 2).
 */
const SCHEME_KEYS_12: ReadonlyMap<number, 'ecdsa' | SpkiKeyType> = new Map<number, 'ecdsa' | SpkiKeyType>([
  ...[...SCHEME_KEY_TYPE].map(([scheme, key]): [number, 'ecdsa' | SpkiKeyType] => [scheme, key.startsWith('ecdsa-') ? 'ecdsa' : key]),
  [SignatureScheme.rsa_pkcs1_sha256, 'rsa'],
  [SignatureScheme.rsa_pkcs1_sha384, 'rsa'],
  [SignatureScheme.rsa_pkcs1_sha512, 'rsa'],
]);

const ECDSA_HASH = new Map<number, 'sha256' | 'sha384' | 'sha512'>([
  [SignatureScheme.ecdsa_secp256r1_sha256, 'sha256'],
  [SignatureScheme.ecdsa_secp384r1_sha384, 'sha384'],
  [SignatureScheme.ecdsa_secp521r1_sha512, 'sha512'],
]);

const isEcdsaKey = (k: SpkiKeyType | SigningKey['kind']): boolean => k === 'ecdsa-p256' || k === 'ecdsa-p384' || k === 'ecdsa-p521';

/** Whether a key of type `k` can sign with `scheme` in TLS 1.2. */
function fits12(scheme: number, k: SpkiKeyType | SigningKey['kind']): boolean {
  const want = SCHEME_KEYS_12.get(scheme);
  return want === 'ecdsa' ? isEcdsaKey(k) : want !== undefined && want === k;
}

/** Whether a TLS 1.2 suite's authentication (RFC 8422 §2: ECDHE_ECDSA also covers EdDSA) fits a key type. */
export function suiteFitsKey(suite: Tls12SuiteParams, k: SpkiKeyType | SigningKey['kind']): boolean {
  return suite.auth === 'ecdsa' ? isEcdsaKey(k) || k === 'ed25519' || k === 'ed448' : k === 'rsa' || k === 'rsa-pss';
}

/** Our scheme for a TLS 1.2 signature: the first of our key's that the peer offered; undefined if none. */
export function chooseScheme12(key: SigningKey | undefined, peerSchemes: readonly number[]): number | undefined {
  if (!key) return undefined;
  return key.schemes.find((sch) => peerSchemes.includes(sch) && fits12(sch, key.kind));
}

/** Sign `content` with our key under `scheme` (the provider's engine when it offers one). */
export function sign12(cx: HsCx, scheme: number, content: Uint8Array): Uint8Array {
  return signWithProvider(cx.s.config.provider, cx.s.config.key!, scheme, content);
}

/**
 * Check a TLS 1.2 signature by the peer's leaf (ServerKeyExchange, client CertificateVerify): a scheme we offered
 * and allowed in TLS 1.2 (else illegal_parameter), fitting the key (else illegal_parameter), the key size policy
 * (insufficient_security), and the signature itself (decrypt_error).
 */
export function verify12(cx: HsCx, leaf: Uint8Array, scheme: number, offered: readonly number[], content: Uint8Array, signature: Uint8Array, what: string): void {
  if (!SCHEME_KEYS_12.has(scheme) || !offered.includes(scheme)) abort(fail.illegal(`${what} signed with unoffered scheme ${schemeName(scheme)}`));
  let spki: Uint8Array;
  try {
    spki = certificateSpki(leaf);
  } catch {
    abort({ kind: 'certificate', alert: AlertDescription.bad_certificate, code: 'bad_encoding', reason: 'cannot read the leaf public key' });
  }
  const type = spkiKeyType(spki);
  if (!fits12(scheme, type)) abort(fail.illegal(`${what} scheme ${schemeName(scheme)} does not fit the ${type} key of the certificate`));
  const role = cx.s.config.role === 'client' ? 'server' : 'client';
  const bits = rsaModulusBits(spki);
  if (bits !== undefined && bits < cx.s.config.minRsaBits) {
    abort({
      kind: 'certificate',
      alert: certificateAlert('weak_key', role),
      code: 'weak_key',
      reason: `the ${role}'s ${bits}-bit RSA key is under the ${cx.s.config.minRsaBits} bits required`,
    });
  }
  // An ECDSA code point names only the hash in TLS 1.2: a P-384 key may sign with SHA-256. The provider checks
  // the TLS 1.3 pairing, so another curve goes through the X.509 verifier's (hash, any curve) check.
  const hash = ECDSA_HASH.get(scheme);
  const curveScheme =
    type === 'ecdsa-p256'
      ? SignatureScheme.ecdsa_secp256r1_sha256
      : type === 'ecdsa-p384'
        ? SignatureScheme.ecdsa_secp384r1_sha384
        : SignatureScheme.ecdsa_secp521r1_sha512;
  const ok =
    hash !== undefined && scheme !== curveScheme
      ? verifyWithAlgorithm({ kind: 'ecdsa', hash }, spki, content, signature)
      : cx.s.config.provider.verify(scheme, spki, content, signature);
  if (!ok) abort(fail.misbehaved(AlertDescription.decrypt_error, `${what} signature (${schemeName(scheme)}) does not verify`));
  cx.s.nego = { ...cx.s.nego, peerScheme: scheme };
}

/** What a ServerKeyExchange signs (RFC 8422 §5.4): client_random ‖ server_random ‖ ServerECDHParams. */
export function serverKeyExchangeContent(clientRandom: Uint8Array, serverRandom: Uint8Array, group: number, publicKey: Uint8Array): Uint8Array {
  return concatBytes([clientRandom, serverRandom, encodeWith((w) => encodeServerEcdhParams(w, group, publicKey))]);
}

/** What a TLS 1.2 CertificateVerify signs (RFC 5246 §7.4.8): every handshake message so far, concatenated. */
export function certificateVerifyContent12(cx: HsCx): Uint8Array {
  return concatBytes(cx.s.transcript);
}
