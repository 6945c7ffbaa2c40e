/**
 * TLS 1.3 handshake message shapes (RFC 8446 §4). Pure data: the codecs live in `handshake.ts`.
 * Byte fields are views; list fields keep wire order. Numbers are the IANA code points from `constants.ts`.
 */

/** One key share (RFC 8446 §4.2.8): the group and the public value (X25519: 32 B; P-256: 65 B uncompressed). */
export interface KeyShareEntry {
  readonly group: number;
  readonly keyExchange: Uint8Array;
}

/** One PSK identity offered by a client (RFC 8446 §4.2.11). */
export interface PskIdentity {
  readonly identity: Uint8Array;
  readonly obfuscatedTicketAge: number;
}

/** The pre_shared_key extension of a ClientHello (RFC 8446 §4.2.11); it must be the last extension. */
export interface OfferedPsks {
  readonly identities: readonly PskIdentity[];
  /** One HMAC per identity (32 B for SHA-256 suites, 48 B for SHA-384). */
  readonly binders: readonly Uint8Array[];
}

/** An extension this library does not interpret, kept so it can be ignored or echoed. */
export interface UnknownExtension {
  readonly type: number;
  readonly data: Uint8Array;
}

/**
 * Extensions of a ClientHello. Absent fields mean the extension was absent. `order` lists every extension code
 * point in wire order (known and unknown), so the receiver can check "pre_shared_key is last".
 */
export interface ClientHelloExtensions {
  readonly serverName?: string; // server_name, host_name entry (RFC 6066 §3)
  readonly supportedVersions?: readonly number[];
  readonly supportedGroups?: readonly number[];
  readonly signatureAlgorithms?: readonly number[];
  readonly signatureAlgorithmsCert?: readonly number[];
  readonly keyShares?: readonly KeyShareEntry[];
  readonly alpn?: readonly string[];
  readonly pskKeyExchangeModes?: readonly number[];
  readonly preSharedKey?: OfferedPsks;
  readonly earlyData?: true;
  readonly cookie?: Uint8Array;
  readonly recordSizeLimit?: number; // RFC 8449
  readonly postHandshakeAuth?: true;
  readonly unknown: readonly UnknownExtension[];
  readonly order: readonly number[];
}

/** ClientHello (RFC 8446 §4.1.2; RFC 9147 §5.3 for the DTLS 1.3 form). */
export interface ClientHello {
  /** legacy_version; the encoder writes 0x0303 when absent, the decoder always fills it in. */
  readonly legacyVersion?: number;
  readonly random: Uint8Array; // 32 B
  readonly legacySessionId: Uint8Array; // 0..32 B
  /**
   * DTLS 1.3 only (RFC 9147 §5.3): legacy_cookie, 0..255 B, empty from a DTLS 1.3 client. The DTLS form's decoder
   * always fills it in and its encoder writes it empty when absent; the TLS form has no such field.
   */
  readonly legacyCookie?: Uint8Array;
  readonly cipherSuites: readonly number[];
  readonly legacyCompressionMethods: Uint8Array; // must be [0] in TLS 1.3
  readonly extensions: ClientHelloExtensions;
}

/** Extensions of a ServerHello or HelloRetryRequest (RFC 8446 §4.1.3, §4.1.4). */
export interface ServerHelloExtensions {
  readonly supportedVersion?: number; // selected_version
  /** ServerHello: the server's share. */
  readonly keyShare?: KeyShareEntry;
  /** HelloRetryRequest: the selected group (key_share carries only a NamedGroup). */
  readonly selectedGroup?: number;
  /** ServerHello: index of the accepted PSK identity. */
  readonly preSharedKey?: number;
  /** HelloRetryRequest only. */
  readonly cookie?: Uint8Array;
  readonly unknown: readonly UnknownExtension[];
  readonly order: readonly number[];
}

/**
 * ServerHello (RFC 8446 §4.1.3). A HelloRetryRequest is a ServerHello whose random equals `HRR_RANDOM`;
 * the codec decodes its key_share as `selectedGroup` instead of `keyShare` in that case.
 */
export interface ServerHello {
  /** legacy_version; the encoder writes 0x0303 when absent, the decoder always fills it in. */
  readonly legacyVersion?: number;
  readonly random: Uint8Array; // 32 B
  readonly legacySessionIdEcho: Uint8Array;
  readonly cipherSuite: number;
  readonly legacyCompressionMethod: number; // must be 0
  readonly extensions: ServerHelloExtensions;
}

/** EncryptedExtensions (RFC 8446 §4.3.1). */
export interface EncryptedExtensions {
  /** Server acknowledged SNI with an empty server_name extension. */
  readonly serverNameAck?: true;
  /** Selected ALPN protocol (exactly one name on the wire). */
  readonly alpn?: string;
  readonly supportedGroups?: readonly number[];
  readonly earlyData?: true;
  readonly recordSizeLimit?: number;
  readonly unknown: readonly UnknownExtension[];
  readonly order: readonly number[];
}

/** CertificateRequest (RFC 8446 §4.3.2). */
export interface CertificateRequest {
  readonly context: Uint8Array;
  /** signature_algorithms is mandatory in a CertificateRequest. */
  readonly signatureAlgorithms: readonly number[];
  readonly signatureAlgorithmsCert?: readonly number[];
  /** DER DistinguishedNames from certificate_authorities, if present. */
  readonly certificateAuthorities?: readonly Uint8Array[];
  readonly unknown: readonly UnknownExtension[];
  readonly order: readonly number[];
}

/** One entry of a Certificate message: DER certificate plus its (uninterpreted) extensions. */
export interface CertificateEntry {
  readonly cert: Uint8Array;
  readonly extensions: readonly UnknownExtension[];
}

/** Certificate (RFC 8446 §4.4.2); leaf first. An empty list means "no certificate" (client side). */
export interface Certificate {
  readonly context: Uint8Array;
  readonly entries: readonly CertificateEntry[];
}

/** CertificateVerify (RFC 8446 §4.4.3). */
export interface CertificateVerify {
  readonly scheme: number;
  readonly signature: Uint8Array;
}

/** Finished (RFC 8446 §4.4.4): verify_data of hash length (32 or 48 B). */
export interface Finished {
  readonly verifyData: Uint8Array;
}

/** NewSessionTicket (RFC 8446 §4.6.1). */
export interface NewSessionTicket {
  readonly lifetime: number; // seconds, at most 604800
  readonly ageAdd: number; // u32
  readonly nonce: Uint8Array;
  readonly ticket: Uint8Array;
  /** early_data extension: max_early_data_size. */
  readonly maxEarlyDataSize?: number;
  readonly unknown: readonly UnknownExtension[];
}

/** KeyUpdate (RFC 8446 §4.6.3). */
export interface KeyUpdate {
  readonly requestUpdate: 0 | 1;
}

/** Every handshake message, discriminated by `type`. */
export type HandshakeMessage =
  | { readonly type: 'client_hello'; readonly body: ClientHello }
  | { readonly type: 'server_hello'; readonly body: ServerHello }
  | { readonly type: 'new_session_ticket'; readonly body: NewSessionTicket }
  | { readonly type: 'end_of_early_data' }
  | { readonly type: 'encrypted_extensions'; readonly body: EncryptedExtensions }
  | { readonly type: 'certificate'; readonly body: Certificate }
  | { readonly type: 'certificate_request'; readonly body: CertificateRequest }
  | { readonly type: 'certificate_verify'; readonly body: CertificateVerify }
  | { readonly type: 'finished'; readonly body: Finished }
  | { readonly type: 'key_update'; readonly body: KeyUpdate };

export type HandshakeMessageType = HandshakeMessage['type'];
