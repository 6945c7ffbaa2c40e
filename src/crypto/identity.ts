/**
 * The startup check of a server's identity: its certificate chain is not empty and its private key belongs to
 * the first certificate. Without it a mismatched key starts a server that fails every handshake, since every
 * client rejects the CertificateVerify (RFC 8446 §4.4.3). Portable: no `node:` module, no clock, no randomness.
 *
 * @example
 * checkServerIdentity(loadCertificateChain(chainPem), loadPrivateKey(keyPem)); // throws TlsError apiMisuse
 */
import { TlsError } from '../core/errors.js';
import { DerTag, contextTag, decodeDerElement, decodeDerOid, decodeDerSequence, peekDerTag } from '../wire/der.js';
import { Reader } from '../wire/reader.js';
import type { SigningKey } from './provider.js';
import { spkiKeyType, verifySignature } from './signatures.js';

/**
 * What the key signs. It cannot pass for TLS 1.3 CertificateVerify content, which starts with 64 spaces
 * (RFC 8446 §4.4.3), so the signature is useless to anyone who sees it.
 */
const CHALLENGE = new TextEncoder().encode('rxtls startup check: does this private key match the certificate?');

/** (key, leaf certificate) pairs already checked, by object identity: `secure()` may be set up per connection. */
const checked = new WeakMap<SigningKey, WeakSet<Uint8Array>>();

const misuse = (reason: string): TlsError => new TlsError({ kind: 'apiMisuse', reason });

/**
 * Refuse a server identity that cannot complete a handshake: an empty `chain`, a first certificate that does
 * not parse, or a `key` that does not belong to that certificate. Throws a {@link TlsError} of kind
 * `apiMisuse` whose reason names the problem, e.g. `the private key does not match the first certificate of
 * the chain (CN=localhost): the key is ecdsa-p256, the certificate's is ecdsa-p384`. Call it once per server setup
 * (`listen`, `secure`, `quicListen`, the CLI), not per connection: it costs one signature and one verification
 * (under a millisecond for ECDSA and Ed25519, a few for RSA); a pair already accepted is not checked again.
 *
 * How: `key` signs a fixed challenge with its first scheme and the signature is verified against the leaf's
 * SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) by {@link verifySignature}, the same code that checks a peer's
 * CertificateVerify. A {@link SigningKey} exposes no public key, and deriving one needs code per key type;
 * the signature round trip needs no key-type knowledge, works for any `SigningKey` (one backed by other
 * hardware included), and tests exactly what a client will test.
 *
 * @param chain DER certificates, leaf first (`loadCertificateChain`).
 * @param key the server's private key (`loadPrivateKey`).
 * @example
 * const chain = loadCertificateChain(readFileSync('chain.pem', 'utf8'));
 * checkServerIdentity(chain, loadPrivateKey(readFileSync('key.pem', 'utf8')));
 */
export function checkServerIdentity(chain: readonly Uint8Array[], key: SigningKey): void {
  const leaf = chain[0];
  if (leaf === undefined) throw misuse('the certificate chain is empty: a server needs at least its own certificate');
  if (checked.get(key)?.has(leaf)) return;
  let subject: string;
  let spki: Uint8Array;
  try {
    ({ subject, spki } = leafIdentity(leaf));
  } catch (e) {
    throw misuse(`the first certificate of the chain does not parse: ${(e as Error).message}`);
  }
  const scheme = key.schemes[0];
  if (scheme === undefined) throw misuse(`the private key (${key.kind}) offers no signature scheme`);
  let signature: Uint8Array;
  try {
    signature = key.sign(scheme, CHALLENGE);
  } catch (e) {
    throw misuse(`the private key (${key.kind}) cannot sign: ${(e as Error).message}`);
  }
  if (!verifySignature(scheme, spki, CHALLENGE, signature)) {
    const certType = spkiKeyType(spki);
    const why =
      certType === key.kind
        ? `both are ${key.kind}, but the key pairs differ`
        : `the key is ${key.kind}, the certificate's is ${certType === 'unknown' ? 'of an unsupported type' : certType}`;
    throw misuse(`the private key does not match the first certificate of the chain (${subject}): ${why}`);
  }
  let leaves = checked.get(key);
  if (!leaves) checked.set(key, (leaves = new WeakSet()));
  leaves.add(leaf);
}

/** Short names of the usual subject attributes (RFC 4514 §3). */
const ATTRIBUTE_NAMES = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
]);

/**
 * The subject (for messages, e.g. `CN=localhost, O=rxtls`) and the DER SubjectPublicKeyInfo of a certificate
 * (RFC 5280 §4.1). Throws DecodeError for a malformed certificate.
 */
function leafIdentity(der: Uint8Array): { subject: string; spki: Uint8Array } {
  const outer = new Reader(der);
  const cert = decodeDerSequence(outer);
  outer.expectEnd('Certificate');
  const tbs = decodeDerSequence(cert);
  if (peekDerTag(tbs) === contextTag(0)) decodeDerElement(tbs); // version
  decodeDerElement(tbs, DerTag.INTEGER); // serialNumber
  decodeDerElement(tbs, DerTag.SEQUENCE); // signature
  decodeDerElement(tbs, DerTag.SEQUENCE); // issuer
  decodeDerElement(tbs, DerTag.SEQUENCE); // validity
  const name = decodeDerSequence(tbs); // subject
  const spki = decodeDerElement(tbs, DerTag.SEQUENCE).tlv.slice();
  const parts: string[] = [];
  while (name.remaining > 0) {
    const rdn = decodeDerSequence(name, DerTag.SET);
    while (rdn.remaining > 0) {
      const attribute = decodeDerSequence(rdn);
      const oid = decodeDerOid(attribute);
      const value = decodeDerElement(attribute).value;
      parts.push(`${ATTRIBUTE_NAMES.get(oid) ?? oid}=${new TextDecoder().decode(value)}`);
    }
  }
  return { subject: parts.length > 0 ? parts.join(', ') : 'empty subject', spki };
}
