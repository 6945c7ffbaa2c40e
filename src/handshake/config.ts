/**
 * Configuration of the handshake engine (TLS 1.3 for TLS, DTLS and QUIC; TLS 1.2 over streams), and the
 * OpenSSL-style list parsers the CLI and RxJS options use (`TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256`,
 * `X25519:P-256`).
 */
import type { CryptoProvider, GroupName, SigningKey } from '../crypto/provider.js';
import type { CertificateVerifier } from '../crypto/verifier.js';
import type { AntiReplay, EarlyDataContext, Ticketer, TlsSession } from './session.js';
import {
  CipherSuite,
  type CipherSuiteName,
  NamedGroup,
  SignatureScheme,
  Tls12CipherSuite,
  type Tls12CipherSuiteName,
  type Tls13CipherSuiteName,
} from '../wire/tls/constants.js';
import { TlsError, misuse } from '../core/errors.js';
import { shown } from '../core/validate.js';
import { tls12Suites } from '../crypto/prf.js';

/**
 * A protocol version as node:tls names it in `minVersion` / `maxVersion`; the DTLS ones as OpenSSL's
 * `SSL_get_version` names them (`'DTLSv1.2'`, RFC 6347; `'DTLSv1.3'`, RFC 9147), for DTLS connections only.
 */
export type TlsVersionName = 'TLSv1.2' | 'TLSv1.3' | 'DTLSv1.2' | 'DTLSv1.3';

/** Handshake settings shared by clients and servers (every transport: TLS, DTLS, QUIC). */
export interface HandshakeCommonConfig {
  /** Crypto provider; default: the noble provider. */
  readonly provider?: CryptoProvider;
  /**
   * Suites in preference order, TLS 1.3 and TLS 1.2 ones in one list (as node:tls `ciphers`); default
   * {@link DEFAULT_SUITES}: the three TLS 1.3 suites, then the six TLS 1.2 ECDHE AEAD suites. A version none of
   * whose suites is listed is not offered (client) nor accepted (server).
   */
  readonly cipherSuites?: readonly CipherSuiteName[];
  /**
   * Lowest and highest protocol versions (node:tls `minVersion` / `maxVersion`), default `'TLSv1.2'` and
   * `'TLSv1.3'`. TLS over streams only: QUIC and DTLS 1.3 always speak (D)TLS 1.3.
   */
  readonly minVersion?: TlsVersionName;
  readonly maxVersion?: TlsVersionName;
  /**
   * TLS 1.2: require the extended master secret (RFC 7627); default true. Without it, a peer that does not offer
   * it gets handshake_failure; with `false` such a handshake uses the RFC 5246 master secret and is not resumable.
   */
  readonly requireExtendedMasterSecret?: boolean;
  /** Key exchange groups in preference order; default X25519, P-256, P-384, P-521, X448 ({@link DEFAULT_GROUPS}). */
  readonly groups?: readonly GroupName[];
  /** ALPN protocol names in preference order (RFC 7301). */
  readonly alpnProtocols?: readonly string[];
  /** Our certificate chain (DER, leaf first) and its private key. Required for servers. */
  readonly certificateChain?: readonly Uint8Array[];
  readonly privateKey?: SigningKey;
  /**
   * Verifies the peer's chain. Clients: required (use an insecure verifier explicitly to skip). Servers: used
   * for client certificates when requested.
   */
  readonly verifier?: CertificateVerifier;
  /** Advertise record_size_limit (RFC 8449): the largest record plaintext we accept, 64..16385 (default: none). */
  readonly recordSizeLimit?: number;
  /** Send the middlebox-compatibility change_cipher_spec (RFC 8446 §D.4); default true (TLS over streams only). */
  readonly middleboxCompat?: boolean;
  /** Emit `keyLog` events with the traffic secrets (SSLKEYLOGFILE). Default false. */
  readonly keyLog?: boolean;
  /** Report each handshake message sent and received (`HsStep.trace`; OpenSSL's message callback). Default false. */
  readonly traceMessages?: boolean;
  /**
   * Largest handshake message accepted, in bytes (default 128 KiB): a message may span many records, and this
   * bounds what a peer can make us buffer before it is authenticated.
   */
  readonly maxHandshakeMessage?: number;
  /**
   * Smallest RSA key accepted for the peer's CertificateVerify, in bits (default 2048, OpenSSL security level
   * 2); a smaller key fails with the certificate reason `weak_key` (insufficient_security). Checked whatever the
   * verifier says, so it holds with a custom or the insecure verifier too.
   */
  readonly minRsaBits?: number;
}

/**
 * An external pre-shared key (RFC 8446 §4.2.11, §9.1 "external PSK"; OpenSSL `-psk HEX -psk_identity ID`): an
 * identity both sides know it by, the key, and the hash it is bound to.
 */
export interface ExternalPsk {
  /** The identity sent in the clear in the ClientHello, 1..65535 B (OpenSSL: the `-psk_identity` string). */
  readonly identity: Uint8Array;
  /** The key, 1..1024 B (OpenSSL `-psk` hex). Only suites with its hash can use it. */
  readonly key: Uint8Array;
  /** Default `sha256` (OpenSSL's with TLS_AES_128_GCM_SHA256). */
  readonly hash?: 'sha256' | 'sha384';
}

/**
 * A server's lookup of external PSKs by the identity a client offers (node:tls `pskCallback`): the key and
 * hash, or `undefined` for an identity it does not know.
 */
export type ExternalPskLookup = (identity: Uint8Array) => Pick<ExternalPsk, 'key' | 'hash'> | undefined;

/** Client handshake settings. */
export interface HandshakeClientConfig extends HandshakeCommonConfig {
  readonly role: 'client';
  /** Host name for SNI and certificate verification (IP literals are verified but not sent as SNI). */
  readonly serverName?: string;
  /** How many of `groups` get a key share in the first ClientHello (default 1: the first). */
  readonly keyShareCount?: number;
  /** A session to resume (PSK from a NewSessionTicket), offered if usable for `serverName` at `now`. */
  readonly session?: TlsSession;
  /**
   * PSK key exchange modes to offer (RFC 8446 §4.2.9); default `['psk_dhe_ke']`. `[]` sends no
   * psk_key_exchange_modes: no session is offered and servers send no tickets.
   */
  readonly pskModes?: readonly ('psk_dhe_ke' | 'psk_ke')[];
  /**
   * Send data written before the handshake completes as 0-RTT early data when the resumed session allows it
   * (RFC 8446 §2.3). Rejected early data is reported in an `earlyData` effect so the application can resend it.
   */
  readonly earlyData?: boolean;
  /**
   * Offer this external PSK (RFC 8446 §4.2.11, binder under "ext binder"), instead of any `session`, with the
   * modes of `pskModes` (`['psk_ke']` for no (EC)DHE). When the server selects it there are no certificate
   * messages, and `verifier` is not needed; when it does not, the server's certificate is verified as usual
   * (and without a `verifier` the handshake fails with handshake_failure). No early data with it.
   */
  readonly externalPsk?: ExternalPsk;
}

/** Server handshake settings. */
export interface HandshakeServerConfig extends HandshakeCommonConfig {
  readonly role: 'server';
  /** Send a CertificateRequest (RFC 8446 §4.3.2). */
  readonly requestClientCertificate?: boolean;
  /**
   * Fail the handshake with certificate_required when the client sends no certificate, and with the verifier's
   * alert when its certificate does not verify. Without it (but with `requestClientCertificate`) a missing
   * certificate gives `verification: 'none'` and one that does not verify `verification: 'failed'` plus
   * `verificationError` in the HandshakeInfo; the client's CertificateVerify must verify in every case.
   */
  readonly requireClientCertificate?: boolean;
  /** Issues and accepts stateless session tickets; without it the server neither issues nor resumes. */
  readonly ticketer?: Ticketer;
  /**
   * NewSessionTickets sent after each full or resumed handshake (default 2, like OpenSSL's num_tickets; the RxJS
   * options call it `numTickets`). None go to a client that offered no psk_key_exchange_modes: it could not use
   * them (RFC 8446 §4.2.9, §4.6.1).
   */
  readonly ticketCount?: number;
  /** PSK modes accepted (default both `psk_dhe_ke` and `psk_ke`). */
  readonly pskModes?: readonly ('psk_dhe_ke' | 'psk_ke')[];
  /** Accept 0-RTT early data up to this many bytes per connection (default 0: refuse). Needs `antiReplay`. */
  readonly maxEarlyData?: number;
  /**
   * Remembers ticket identities: a ticket is accepted once (resumption and early data), so a replayed
   * ClientHello cannot resume or replay early data.
   */
  readonly antiReplay?: AntiReplay;
  /**
   * What accepting early data depends on besides the ticket: `data` is sealed into every ticket issued, and 0-RTT
   * on a ticket is accepted only when `accepts(stored)` says the stored context still holds (a ticket without
   * one is refused). QUIC puts its transport parameters here (RFC 9001 §4.6.2, RFC 9000 §7.4.1).
   */
  readonly earlyDataContext?: EarlyDataContext;
  /**
   * External PSKs by identity (RFC 8446 §4.2.11): an offered identity this returns a key for is accepted when
   * its binder verifies (else decrypt_error), and the handshake has no certificate messages. With it the
   * certificate and key are optional (OpenSSL `-nocert`): a client that offers no known PSK then fails with
   * handshake_failure. A suite with the PSK's hash is preferred.
   */
  readonly externalPskLookup?: ExternalPskLookup;
  /**
   * DTLS only (ignored by TLS and QUIC): require a stateless cookie of every new handshake (RFC 9147 §5.1), an
   * HMAC-SHA256 key of 32 B (rotate it to invalidate old cookies). A first ClientHello, or one whose cookie does
   * not verify, is answered by a HelloRetryRequest with a cookie (and selected_group when no key share suits us),
   * and the engine keeps nothing: `isHandshakeCommitted` stays false, so the layer can drop the state and hand the
   * next ClientHello to a fresh engine, which checks the cookie and continues where the first left off.
   */
  readonly cookieSecret?: Uint8Array;
  /** DTLS cookies: bytes the cookie is bound to (the client's address and port), 0..65535 B; default none. */
  readonly cookieBinding?: Uint8Array;
  /** DTLS cookies: how long a cookie stays valid, ms, 1..86 400 000 (default 60 000). */
  readonly cookieLifetime?: number;
}

/** Handshake settings for either role. */
export type HandshakeConfig = HandshakeClientConfig | HandshakeServerConfig;

const suiteAliases: Record<string, CipherSuiteName> = {
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
  // TLS 1.2 suites by their IANA and their OpenSSL names.
  ...Object.fromEntries(tls12Suites().flatMap((s) => [[s.name, s.name], [s.opensslName, s.name]])),
};

const utf8 = new TextEncoder();

/**
 * `alpnProtocols` checked (RFC 7301 §3.1): a list of names of 1..255 bytes each, counted in UTF-8 as node:tls
 * counts them. Each character must also fit one byte (U+0000..U+00FF): the wire carries a name one byte per
 * character, which keeps the opaque names peers send lossless. Throws an apiMisuse TlsError naming ALPN.
 *
 * @example
 * checkAlpnProtocols(['h2', 'http/1.1']); // ['h2', 'http/1.1']
 * checkAlpnProtocols(['é'.repeat(200)]); // throws: 400 bytes
 */
export function checkAlpnProtocols(list: unknown): readonly string[] {
  if (!Array.isArray(list)) throw misuse(`ALPN protocols must be a list of names, got ${shown(list)}`);
  for (const name of list as unknown[]) {
    if (typeof name !== 'string') throw misuse(`ALPN names must be strings, got ${shown(name)}`);
    const bytes = utf8.encode(name).length;
    if (bytes < 1 || bytes > 255) throw misuse(`ALPN names must be 1..255 bytes, got ${bytes} (${shown(name)})`);
    if (Array.from(name).some((c) => c.charCodeAt(0) > 0xff)) throw misuse(`ALPN name ${shown(name)}: a character above U+00FF cannot be sent (one byte per character)`);
  }
  return list as readonly string[];
}

/** The names of an OpenSSL-style list (`A:B:C`, blanks around names ignored); `name` is the option it came from. */
function colonList(name: string, list: unknown): string[] {
  if (typeof list !== 'string') throw misuse(`${name} must be a colon-separated string of names (as node:tls takes it), got ${shown(list)}`);
  return list
    .split(':')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Parse a cipher list (colon separated): OpenSSL `-ciphersuites` names for TLS 1.3 (`TLS_AES_128_GCM_SHA256`),
 * and for TLS 1.2 OpenSSL `-cipher` names (`ECDHE-RSA-AES128-GCM-SHA256`) or IANA names
 * (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`), mixed as in node:tls `ciphers`. Throws an apiMisuse TlsError for
 * unknown names.
 */
export function parseCipherSuites(list: string): CipherSuiteName[] {
  const out: CipherSuiteName[] = [];
  for (const raw of colonList('ciphers', list)) {
    const name = suiteAliases[raw.toUpperCase()];
    if (!name) throw new TlsError({ kind: 'apiMisuse', reason: `unknown cipher suite: ${raw}` });
    if (!out.includes(name)) out.push(name);
  }
  if (out.length === 0) throw new TlsError({ kind: 'apiMisuse', reason: 'empty cipher suite list' });
  return out;
}

const groupAliases: Record<string, GroupName> = {
  X25519: 'x25519',
  'P-256': 'secp256r1',
  P256: 'secp256r1',
  PRIME256V1: 'secp256r1',
  SECP256R1: 'secp256r1',
  'P-384': 'secp384r1',
  P384: 'secp384r1',
  SECP384R1: 'secp384r1',
  'P-521': 'secp521r1',
  P521: 'secp521r1',
  SECP521R1: 'secp521r1',
  X448: 'x448',
  X25519MLKEM768: 'x25519mlkem768',
};

/**
 * Parse an OpenSSL `-groups` list (`X25519:P-256`; names as OpenSSL spells them: `X25519`, `X448`, `P-256`/
 * `prime256v1`/`secp256r1`, `P-384`/`secp384r1`, `P-521`/`secp521r1`, `X25519MLKEM768`, any case). Throws an
 * apiMisuse TlsError for unknown names.
 */
export function parseGroups(list: string): GroupName[] {
  const out: GroupName[] = [];
  for (const raw of colonList('groups', list)) {
    const name = groupAliases[raw.toUpperCase()];
    if (!name) throw new TlsError({ kind: 'apiMisuse', reason: `unknown group: ${raw}` });
    if (!out.includes(name)) out.push(name);
  }
  if (out.length === 0) throw new TlsError({ kind: 'apiMisuse', reason: 'empty group list' });
  return out;
}

/** Wire code point of a group. */
export function groupCode(g: GroupName): number {
  return NamedGroup[g];
}

/** Display names of the groups, as OpenSSL prints them. */
const GROUP_DISPLAY: Readonly<Record<GroupName, string>> = {
  x25519: 'X25519',
  secp256r1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
  x448: 'X448',
  x25519mlkem768: 'X25519MLKEM768',
};
const GROUPS_BY_CODE = new Map<number, GroupName>((Object.keys(GROUP_DISPLAY) as GroupName[]).map((g) => [NamedGroup[g], g]));

/** Group name for a wire code point, if supported. */
export function groupFromCode(code: number): GroupName | undefined {
  return GROUPS_BY_CODE.get(code);
}

/** OpenSSL display name of a group (`X25519`, `P-256`, `P-384`, `P-521`, `X448`, `X25519MLKEM768`). */
export function groupDisplayName(g: GroupName): string {
  return GROUP_DISPLAY[g];
}

/** Wire code point of a suite (TLS 1.3 or TLS 1.2). */
export function suiteCode(name: CipherSuiteName): number {
  const code = (CipherSuite as Record<string, number>)[name] ?? (Tls12CipherSuite as Record<string, number>)[name];
  if (code === undefined) throw new TlsError({ kind: 'apiMisuse', reason: `unknown cipher suite: ${String(name)}` });
  return code;
}

/** The TLS 1.3 suites by default, in preference order. */
export const DEFAULT_TLS13_SUITES: readonly Tls13CipherSuiteName[] = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
];
/** The TLS 1.2 suites by default, in preference order: ECDHE with AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305. */
export const DEFAULT_TLS12_SUITES: readonly Tls12CipherSuiteName[] = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
];
/** Every suite by default: the TLS 1.3 ones, then the TLS 1.2 ones. */
export const DEFAULT_SUITES: readonly CipherSuiteName[] = [...DEFAULT_TLS13_SUITES, ...DEFAULT_TLS12_SUITES];
/**
 * Default groups, in preference order: X25519, P-256, P-384, then P-521 and X448 (offered in supported_groups
 * without a key share, so a server that wants them asks by HelloRetryRequest). X25519MLKEM768 is not a default:
 * its 1216 B client share makes the ClientHello span two QUIC Initial packets and costs a pure-JS ML-KEM key
 * generation per connection; enable it explicitly, e.g. `groups: ['x25519mlkem768', 'x25519']` with
 * `keyShareCount: 2` as browsers do (docs/ARCHITECTURE.md, "Key exchange groups").
 */
export const DEFAULT_GROUPS: readonly GroupName[] = ['x25519', 'secp256r1', 'secp384r1', 'secp521r1', 'x448'];
export const DEFAULT_HANDSHAKE_TIMEOUT = 30_000;

const schemeNames = new Map<number, string>(Object.entries(SignatureScheme).map(([k, v]) => [v, k]));
/** The IANA name of a signature scheme (`ecdsa_secp256r1_sha256`), or its code in hex. */
export function schemeName(code: number): string {
  return schemeNames.get(code) ?? `0x${code.toString(16).padStart(4, '0')}`;
}

