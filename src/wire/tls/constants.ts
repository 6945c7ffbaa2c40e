/** TLS 1.3 and TLS 1.2 wire constants (RFC 8446 §4, §5, §6; RFC 5246 §7; IANA TLS registries). */

/** Record content types (RFC 8446 §5.1). */
export const ContentType = {
  invalid: 0,
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

/** Handshake message types (RFC 8446 §4; the TLS 1.2 ones of RFC 5246 §7.4 and RFC 6347 §4.2.1). */
export const HandshakeType = {
  /** TLS 1.2 only (RFC 5246 §7.4.1.1): a server's invitation to renegotiate, which rxtls refuses. */
  hello_request: 0,
  client_hello: 1,
  server_hello: 2,
  /** DTLS 1.2 only (RFC 6347 §4.2.1). */
  hello_verify_request: 3,
  new_session_ticket: 4,
  end_of_early_data: 5,
  encrypted_extensions: 8,
  certificate: 11,
  /** TLS 1.2 only (RFC 5246 §7.4.3, RFC 8422 §5.4). */
  server_key_exchange: 12,
  certificate_request: 13,
  /** TLS 1.2 only (RFC 5246 §7.4.5). */
  server_hello_done: 14,
  certificate_verify: 15,
  /** TLS 1.2 only (RFC 5246 §7.4.7, RFC 8422 §5.7). */
  client_key_exchange: 16,
  finished: 20,
  key_update: 24,
  message_hash: 254,
} as const;
export type HandshakeType = (typeof HandshakeType)[keyof typeof HandshakeType];

const handshakeNames = new Map<number, string>(
  Object.entries(HandshakeType).map(([k, v]) => [v, k.replace(/(^|_)([a-z])/g, (_m, _u: string, c: string) => c.toUpperCase())]),
);
/** Name of a handshake message type as the RFCs write it (`ClientHello`, `NewSessionTicket`), or `unknown(N)`. */
export function handshakeTypeName(type: number): string {
  return handshakeNames.get(type) ?? `unknown(${type})`;
}

/** Extension code points (RFC 8446 §4.2, RFC 6066, RFC 7301, RFC 8449, RFC 9146). */
export const ExtensionType = {
  server_name: 0,
  max_fragment_length: 1,
  status_request: 5,
  supported_groups: 10,
  ec_point_formats: 11,
  signature_algorithms: 13,
  application_layer_protocol_negotiation: 16,
  signed_certificate_timestamp: 18,
  padding: 21,
  encrypt_then_mac: 22,
  extended_master_secret: 23,
  record_size_limit: 28,
  session_ticket: 35,
  pre_shared_key: 41,
  early_data: 42,
  supported_versions: 43,
  cookie: 44,
  psk_key_exchange_modes: 45,
  certificate_authorities: 47,
  oid_filters: 48,
  post_handshake_auth: 49,
  signature_algorithms_cert: 50,
  key_share: 51,
  /** RFC 9146 §3 (DTLS connection IDs); rxtls never negotiates it. */
  connection_id: 54,
  renegotiation_info: 0xff01,
} as const;
export type ExtensionType = (typeof ExtensionType)[keyof typeof ExtensionType];

/** Alert levels (RFC 8446 §6). */
export const AlertLevel = { warning: 1, fatal: 2 } as const;
export type AlertLevel = (typeof AlertLevel)[keyof typeof AlertLevel];

/** Alert descriptions (RFC 8446 §6). */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  /** TLS 1.2 (RFC 5246 §7.2.2): a warning refusing renegotiation (RFC 5746). */
  no_renegotiation: 100,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;
export type AlertDescription = (typeof AlertDescription)[keyof typeof AlertDescription];

const alertNames = new Map<number, string>(Object.entries(AlertDescription).map(([k, v]) => [v, k]));
/** Name of an alert description, or `unknown(N)`. */
export function alertName(code: number): string {
  return alertNames.get(code) ?? `unknown(${code})`;
}

/** TLS 1.3 cipher suites (RFC 8446 §B.4). */
export const CipherSuite = {
  TLS_AES_128_GCM_SHA256: 0x1301,
  TLS_AES_256_GCM_SHA384: 0x1302,
  TLS_CHACHA20_POLY1305_SHA256: 0x1303,
} as const;
export type CipherSuite = (typeof CipherSuite)[keyof typeof CipherSuite];
/** The name of a TLS 1.3 cipher suite. */
export type Tls13CipherSuiteName = keyof typeof CipherSuite;

/**
 * The TLS 1.2 cipher suites rxtls speaks: ECDHE (RFC 8422) with an ECDSA (or EdDSA, RFC 8422 §5.4) or RSA
 * certificate, AES-GCM (RFC 5288, RFC 5289) or ChaCha20-Poly1305 (RFC 7905). No CBC, no RSA key transport.
 */
export const Tls12CipherSuite = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 0xc02b,
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 0xc02c,
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 0xc02f,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 0xc030,
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca8,
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 0xcca9,
} as const;
/** The (IANA) name of a TLS 1.2 cipher suite. */
export type Tls12CipherSuiteName = keyof typeof Tls12CipherSuite;
/** The name of any cipher suite rxtls speaks (TLS 1.3 or TLS 1.2). */
export type CipherSuiteName = Tls13CipherSuiteName | Tls12CipherSuiteName;

/** Signalling cipher suite values (never negotiated). */
export const SignallingSuite = {
  /** RFC 5746 §3.3: the client supports secure renegotiation (stands for an empty renegotiation_info). */
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV: 0x00ff,
  /** RFC 7507 §2: the client retried with a lower maximum version than it supports. */
  TLS_FALLBACK_SCSV: 0x5600,
} as const;

/**
 * RFC 8446 §4.1.3: the last 8 bytes of ServerHello.random of a TLS 1.3-capable server that negotiates TLS 1.2
 * ("DOWNGRD" 01); a TLS 1.3 client that sees them in a TLS 1.2 ServerHello aborts with illegal_parameter.
 */
export const DOWNGRADE_TLS12 = Uint8Array.of(0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01);
/** RFC 8446 §4.1.3: the same for TLS 1.1 or below ("DOWNGRD" 00). */
export const DOWNGRADE_TLS11 = Uint8Array.of(0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x00);

/** TLS 1.2 ECPointFormat (RFC 8422 §5.1.2): only `uncompressed` is used. */
export const EcPointFormat = { uncompressed: 0 } as const;
/** TLS 1.2 ECCurveType (RFC 8422 §5.4): only `named_curve` is used. */
export const EcCurveType = { named_curve: 3 } as const;
/** TLS 1.2 ClientCertificateType (RFC 5246 §7.4.4, RFC 8422 §5.5): ecdsa_sign also stands for EdDSA. */
export const ClientCertificateType = { rsa_sign: 1, ecdsa_sign: 64 } as const;
/** Length of a TLS 1.2 Finished verify_data (RFC 5246 §7.4.9). */
export const TLS12_VERIFY_DATA_LENGTH = 12;

/** Named groups for key exchange (RFC 8446 §4.2.7). */
export const NamedGroup = {
  secp256r1: 0x0017,
  secp384r1: 0x0018,
  secp521r1: 0x0019,
  x25519: 0x001d,
  x448: 0x001e,
  /** Hybrid ML-KEM-768 + X25519 (draft-ietf-tls-ecdhe-mlkem §5). */
  x25519mlkem768: 0x11ec,
} as const;
export type NamedGroup = (typeof NamedGroup)[keyof typeof NamedGroup];

/** Signature schemes (RFC 8446 §4.2.3). */
export const SignatureScheme = {
  rsa_pkcs1_sha256: 0x0401,
  rsa_pkcs1_sha384: 0x0501,
  rsa_pkcs1_sha512: 0x0601,
  ecdsa_secp256r1_sha256: 0x0403,
  ecdsa_secp384r1_sha384: 0x0503,
  ecdsa_secp521r1_sha512: 0x0603,
  rsa_pss_rsae_sha256: 0x0804,
  rsa_pss_rsae_sha384: 0x0805,
  rsa_pss_rsae_sha512: 0x0806,
  ed25519: 0x0807,
  ed448: 0x0808,
  rsa_pss_pss_sha256: 0x0809,
  rsa_pss_pss_sha384: 0x080a,
  rsa_pss_pss_sha512: 0x080b,
  rsa_pkcs1_sha1: 0x0201,
  ecdsa_sha1: 0x0203,
} as const;
export type SignatureScheme = (typeof SignatureScheme)[keyof typeof SignatureScheme];

/** Protocol versions on the wire. */
export const ProtocolVersion = {
  TLS1_0: 0x0301,
  TLS1_2: 0x0303,
  TLS1_3: 0x0304,
  DTLS1_2: 0xfefd,
  DTLS1_3: 0xfefc,
} as const;

/** PSK key exchange modes (RFC 8446 §4.2.9). */
export const PskKeyExchangeMode = { psk_ke: 0, psk_dhe_ke: 1 } as const;

/** KeyUpdateRequest (RFC 8446 §4.6.3). */
export const KeyUpdateRequest = { update_not_requested: 0, update_requested: 1 } as const;

/** The special ServerHello.random that marks a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256("HelloRetryRequest"). */
export const HRR_RANDOM = Uint8Array.from([
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
  0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
]);

/** Record size limits (RFC 8446 §5.1, §5.2): plaintext 2^14, ciphertext 2^14 + 256. */
export const MAX_PLAINTEXT = 16384;
export const MAX_CIPHERTEXT = 16384 + 256;
/** Largest TLS 1.3 inner plaintext: content + type byte (padding counted in). */
export const MAX_INNER_PLAINTEXT = 16384 + 1;
