/**
 * The RxJS-facing shapes of rxtls. Options are named like node:tls where they mean the same.
 */
import type { Observable, ObservableInput, SchedulerLike } from 'rxjs';
import type { CryptoProvider } from '../crypto/provider.js';
import type { CertificateVerdict, CertificateVerifier } from '../crypto/verifier.js';
import type { HandshakeInfo } from '../core/types.js';
import type { CertificateDetails } from '../crypto/certificateDetails.js';
import type { TlsError } from '../core/errors.js';
import type { AntiReplay, Ticketer, TlsSession } from '../handshake/session.js';
import type { AddressInfo } from 'node:net';

/** PEM text, DER bytes, or a list of them. */
export type PemInput = string | Uint8Array | readonly (string | Uint8Array)[];

/**
 * A PKCS#12 file's bytes, or node:tls's list form with one entry (a file, or `{ buf, passphrase }` whose
 * passphrase wins over the `passphrase` option). One identity per server: a list of several is refused.
 */
export type PfxInput = Uint8Array | readonly (Uint8Array | { readonly buf: Uint8Array; readonly passphrase?: string })[];

/**
 * An external pre-shared key (RFC 8446 §4.2.11; OpenSSL `-psk HEX -psk_identity ID`).
 *
 * @example
 * ```ts
 * connect({ host: '127.0.0.1', port: 4433, psk: { identity: 'Client_identity', key: '1a2b3c4d' } });
 * ```
 */
export interface PskOption {
  /** The identity, UTF-8 text or bytes (1..65535 B). */
  readonly identity: string | Uint8Array;
  /** The key: bytes, or hex text as OpenSSL's `-psk` takes it. */
  readonly key: Uint8Array | string;
  /** The hash the PSK is used with (default `sha256`: TLS_AES_128_GCM_SHA256 or ChaCha20; `sha384`: AES-256). */
  readonly hash?: 'sha256' | 'sha384';
}

/** Options shared by clients and servers. */
export interface SecureOptions {
  /** Trusted CA certificates (PEM/DER). Default: the system roots (node:tls `rootCertificates`). */
  readonly ca?: PemInput;
  /**
   * Accept peer certificates signed with SHA-1 (default false: refused with reason `weak_signature`, alert
   * bad_certificate, as OpenSSL 3 at its default security level). MD5 and MD2 signatures are refused always.
   */
  readonly allowSha1?: boolean;
  /**
   * Smallest RSA key accepted from the peer, in bits, in its chain (trust anchor included) and for its
   * CertificateVerify (default 2048, OpenSSL security level 2); a smaller one fails with reason `weak_key`,
   * alert insufficient_security.
   */
  readonly minRsaBits?: number;
  /** Our certificate chain (PEM, leaf first) and private key (PEM PKCS#8, SEC1 or PKCS#1). */
  readonly cert?: PemInput;
  readonly key?: string | Uint8Array;
  /**
   * Our certificate chain and private key as one PKCS#12 file (node:tls `pfx`; `openssl pkcs12 -export`), its
   * password in `passphrase`. Instead of `cert` and `key` (giving both is refused). The file's MAC is checked;
   * PBES2 with AES-CBC (OpenSSL 3's default) is decrypted, the legacy 3DES and RC2 encryptions are refused with
   * the command that converts them. See `loadPkcs12`.
   */
  readonly pfx?: PfxInput;
  /**
   * The passphrase of an encrypted `key` (PEM `ENCRYPTED PRIVATE KEY` or its DER: PKCS#8 with PBES2, PBKDF2 and
   * AES-CBC, as `openssl genpkey -aes256` and `openssl pkcs8 -topk8 -v2 aes-256-cbc` write) or of `pfx`
   * (node:tls `passphrase`).
   */
  readonly passphrase?: string;
  /** ALPN protocols in preference order. */
  readonly ALPNProtocols?: readonly string[];
  /**
   * Cipher suites, colon separated, TLS 1.3 and TLS 1.2 ones mixed as in node:tls: OpenSSL names
   * (`TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256`) or IANA names for TLS 1.2
   * (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`). Default: the three TLS 1.3 suites, then the six TLS 1.2 ECDHE
   * AEAD suites. A version none of whose suites is listed is not negotiated.
   */
  readonly ciphers?: string;
  /**
   * Lowest and highest protocol version, as in node:tls: `'TLSv1.2'` or `'TLSv1.3'` (default `'TLSv1.2'` and
   * `'TLSv1.3'`). A TLS 1.3-capable client and server never settle on TLS 1.2 (RFC 8446 §4.1.3 downgrade
   * sentinels). `HandshakeInfo.protocol` says which was negotiated. Over DTLS (`dtlsConnect`, `dtlsListen`,
   * `secureDatagrams`): `'DTLSv1.2'` / `'DTLSv1.3'` (default both).
   */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3' | 'DTLSv1.2' | 'DTLSv1.3';
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3' | 'DTLSv1.2' | 'DTLSv1.3';
  /**
   * TLS 1.2: require the extended master secret (RFC 7627) of the peer; default true (a peer without it gets
   * handshake_failure). `false` accepts such a peer with the RFC 5246 master secret; its session is not resumable.
   */
  readonly requireExtendedMasterSecret?: boolean;
  /** OpenSSL group list, e.g. `X25519:P-256`. */
  readonly groups?: string;
  /**
   * Handshake deadline in ms (default 30 000): a number above 0 and at most 2^31−1 (what a timer holds), else
   * `apiMisuse` at the call.
   */
  readonly handshakeTimeout?: number;
  /**
   * Treat transport EOF without close_notify as the end of inbound data (`SSL_OP_IGNORE_UNEXPECTED_EOF`).
   * Default false: it errors with kind `unexpectedEof` (possible truncation attack, RFC 8446 §6.1). A boolean
   * (anything else is `apiMisuse`: a typo must not turn the truncation check off).
   */
  readonly ignoreUnexpectedEof?: boolean;
  /**
   * Crypto provider of this connection. Default: the process-wide default (`setDefaultProvider`), which is
   * the noble provider unless changed. Read when the options are converted (`connect()`, `listen()`,
   * `secure()` calls), not per handshake.
   */
  readonly provider?: CryptoProvider;
  /**
   * Largest plaintext per record we send, in bytes, 512..16384 (OpenSSL `SSL_CTX_set_max_send_fragment`;
   * default 16384, the RFC 8446 §5.1 maximum).
   */
  readonly maxSendFragment?: number;
  /**
   * Application writes are cut into records of this many plaintext bytes, 512..`maxSendFragment` (OpenSSL
   * `SSL_CTX_set_split_send_fragment`; default `maxSendFragment`). Never more than the peer's
   * record_size_limit allows (RFC 8449).
   */
  readonly splitSendFragment?: number;
  /**
   * With `asyncCrypto`: records sealed (or opened) as one batch, 1..1024 (OpenSSL `SSL_CTX_set_max_pipelines`;
   * default 32). At most one batch per direction is in flight.
   */
  readonly maxPipelines?: number;
  /**
   * Asynchronous record protection (OpenSSL `SSL_MODE_ASYNC`): application-data records are sealed and opened
   * in batches through the provider's `batch` cipher (for example `createWorkerPoolProvider()`), off the
   * reducer. The provider must have a `batch` cipher (else `apiMisuse` at once). Default false.
   */
  readonly asyncCrypto?: boolean;
  /**
   * Advertise record_size_limit (RFC 8449): the largest record plaintext we accept, 64..16385 bytes (the
   * peer then sends records of at most `recordSizeLimit − 1` content bytes). Default: not sent.
   */
  readonly recordSizeLimit?: number;
  /**
   * Largest handshake message we accept, in bytes, 1024..2^24 (default 128 KiB, about OpenSSL's bound on a
   * ClientHello; OpenSSL bounds certificate lists with `SSL_CTX_set_max_cert_list`): a message may span records
   * (a ClientHello over 16 KiB, a long certificate chain), and this bounds what a peer can make us buffer before
   * it is authenticated. Too large a message is refused with decode_error.
   */
  readonly maxHandshakeMessage?: number;
  /** Scheduler for timers and the clock (default `asyncScheduler`); a `TestScheduler` gives virtual time. */
  readonly scheduler?: SchedulerLike;
  /**
   * Reply to the peer's close_notify with ours at once, dropping output the application has not written yet
   * (node's `allowHalfOpen: false`). Default false: TLS half-close, as OpenSSL — after the peer closed,
   * `inbound$` is complete but our output stays open until the application completes it (or calls
   * `shutdown()`), and only then is our close_notify sent.
   */
  readonly closeOnPeerClose?: boolean;
  /**
   * Quiet shutdown (OpenSSL `SSL_CTX_set_quiet_shutdown`), **non-standard**: closing sends no close_notify and
   * does not wait for the peer's; the shutdown is reported complete at once and the transport is ended. A peer
   * sees a transport EOF without close_notify (a truncation, unless it ignores unexpected EOF). Default false.
   */
  readonly quietShutdown?: boolean;
  /**
   * Flow control, in bytes (default 64 KiB). Inbound: while a {@link TlsConnection.receive} projection runs and
   * more than this many decrypted bytes wait for it, the transport is paused. Outbound: see
   * `maxOutboundBuffer`.
   */
  readonly highWaterMark?: number;
  /**
   * Who owns the chunks `inbound$` emits. `'owned'` (default): the application's, to keep. `'borrowed'`: each
   * chunk is valid only until the subscriber's `next` returns (copy what you keep, as with Node's `onread`
   * buffer); with `asyncCrypto` on a provider that lends its results (the worker pool), the memory the records
   * were opened into then goes back to it for the next batch instead of being collected. `'shared'`: borrowed,
   * and a chunk may also be a view of a `SharedArrayBuffer`: the pool's threads open records straight into
   * shared memory and the chunks are views of it, with no copy on the main thread (fine for `Buffer`,
   * `TextDecoder`, sockets and parsers; Web Crypto refuses such views). A `receive()` projection always gets
   * owned chunks of ordinary memory.
   */
  readonly inboundChunks?: 'owned' | 'borrowed' | 'shared';
  /**
   * Outbound bound, in bytes (default 16 × `highWaterMark`): an Observable given to `send()` that keeps
   * emitting while the transport is not writable has its chunks queued up to this many bytes; beyond it the
   * `send()` errors with `apiMisuse` (the source ignores backpressure). Iterables never hit it: they are pulled
   * only while the transport is writable.
   */
  readonly maxOutboundBuffer?: number;
  /**
   * NSS key log (SSLKEYLOGFILE format) of this connection's secrets, one line per secret:
   * `LABEL <client_random hex> <secret hex>`. A function receives each line (no newline); a string is a file
   * path the lines are appended to (with `\n`); `true` only fills {@link TlsConnection.keyLog$}. Anyone with
   * these lines can decrypt the traffic: debugging only. Default: off. The key log never fails a connection: an
   * exception thrown by the function is caught and reported once with `console.warn`, and the connection goes on
   * (as when the file cannot be written).
   */
  readonly keyLog?: ((line: string) => void) | string | boolean;
  /**
   * Called with each handshake message and alert, sent and received, as they pass (OpenSSL's
   * `SSL_set_msg_callback`, what `s_client -msg` prints): its direction, kind, type and length. Handshake
   * messages are reported as the engine takes or queues them, decrypted (TLS 1.3's encrypted ones too).
   * Debugging only. TLS over streams (`connect`, `listen`, `secure`). It never fails a connection: an exception
   * it throws is caught and reported once with `console.warn`, and the handshake goes on.
   */
  readonly onMessage?: (message: TlsMessageInfo) => void;
  /**
   * Verify the peer's chain yourself instead of with `ca` (DANE, a private PKI, pinning a whole chain): the
   * verifier sees the chain (DER, leaf first), the usage (`server`, or `client` for a server checking client
   * certificates), the server name and the time, and answers a {@link CertificateVerdict}; wrap `createVerifier`
   * to add to the default checks. Not consulted with `rejectUnauthorized: false` on a client. A verifier that
   * throws refuses the chain (code `unsupported`, the exception's message as the reason), and so does one that
   * answers no verdict (`undefined`, a number, a Promise: `verify` must answer synchronously).
   */
  readonly verifier?: CertificateVerifier;
}

/** One message passed to {@link SecureOptions.onMessage}. */
export interface TlsMessageInfo {
  readonly dir: 'sent' | 'received';
  readonly contentType: 'handshake' | 'alert';
  /** HandshakeType, or the alert description. */
  readonly type: number;
  /** `ClientHello`, `Finished`, … or the alert as `fatal handshake_failure` / `warning close_notify`. */
  readonly name: string;
  /** Length in bytes: a handshake message's with its header, as OpenSSL counts it; 2 for an alert. */
  readonly length: number;
}

/** Options of a client connection. */
export interface ClientOptions extends SecureOptions {
  /** SNI and the name the certificate must match (default: `host` unless it is an IP literal). */
  readonly servername?: string;
  /**
   * Verify the server's certificate (default true). `false` is the loud insecure opt-out: a warning is
   * printed and `info.verification` says `insecure`.
   */
  readonly rejectUnauthorized?: boolean;
  /**
   * node:tls `checkServerIdentity`: replaces the built-in host name check (the chain is still verified against
   * `ca` first). Called with `servername` (or `host`) and the server's leaf certificate described; return an
   * `Error` to refuse the server (the handshake fails with certificate code `hostname_mismatch`, alert
   * bad_certificate, the error's message as the reason), `undefined` to accept it. For pinning, compare
   * `cert.fingerprint256`.
   *
   * @example
   * ```ts
   * connect({ host, port, ca, checkServerIdentity: (host, cert) =>
   *   cert.fingerprint256 === PINNED ? undefined : new Error(`${host}: certificate not pinned`) });
   * ```
   */
  readonly checkServerIdentity?: (hostname: string, cert: CertificateDetails) => Error | undefined;
  /**
   * How many of `groups` get a key share in the first ClientHello (default 1, the first; 1..4). With
   * `groups: 'X25519MLKEM768:X25519'` and 2, a server without the hybrid group answers at once instead of with
   * a HelloRetryRequest, at the cost of a larger ClientHello.
   */
  readonly keyShareCount?: number;
  /**
   * A session to resume (RFC 8446 §2.2), from {@link TlsConnection.sessions$} or `decodeSession`. Takes
   * precedence over `sessionCache`. Offered only to the same server name, within its lifetime.
   */
  readonly session?: TlsSession;
  /**
   * Where sessions are taken from and stored (see `createSessionCache`). A cached session is taken out of the
   * cache when it is offered (tickets are single use); the newest session of a connection is stored only when
   * that connection shut down cleanly (close_notify both ways) — a connection torn down without close_notify
   * is not resumable, as in OpenSSL. Must have `get`, `set` and `delete` (else `apiMisuse` at the call). When
   * `get` or `delete` throws, the connection fails before anything is sent with `apiMisuse`
   * (`sessionCache.get threw: …`); an exception from `set` is reported once with `console.warn` and the session
   * is not stored.
   */
  readonly sessionCache?: SessionCache;
  /** The cache key (default: `servername:port` for `connect`, `servername` for `secure`). */
  readonly sessionKey?: string;
  /**
   * 0-RTT (RFC 8446 §2.3): bytes written right after the ClientHello. Sent as early data when the offered
   * session allows that many; otherwise they wait and go after the handshake like any write. When the server
   * rejects 0-RTT they are not delivered: `info.earlyData === 'rejected'` and
   * {@link TlsConnection.rejectedEarlyData} holds them, for the application to send again. Early data can be
   * replayed by an attacker: only idempotent requests.
   */
  readonly earlyData?: Uint8Array;
  /**
   * Offer this external PSK (RFC 8446 §4.2.11) instead of a resumption session. When the server accepts it the
   * handshake has no certificates (`info.pskIdentity` names it); when it does not, the server's certificate is
   * verified as usual. No 0-RTT with it.
   */
  readonly psk?: PskOption;
  /**
   * PSK key exchange modes offered (RFC 8446 §4.2.9), default `['psk_dhe_ke']`; `['psk_ke']` asks for a PSK
   * handshake without (EC)DHE (no forward secrecy), both lets the server choose.
   */
  readonly pskModes?: readonly ('psk_dhe_ke' | 'psk_ke')[];
}

/**
 * A pluggable store of resumable sessions, keyed by a string (`servername:port` by default). The default
 * `createSessionCache({ max })` is a bounded in-memory LRU.
 */
export interface SessionCache {
  get(key: string): TlsSession | undefined;
  set(key: string, session: TlsSession): void;
  delete(key: string): void;
}

/** Options for `connect` over TCP. */
export interface ConnectOptions extends ClientOptions {
  readonly host: string;
  readonly port: number;
  /**
   * Abort the connection (node:net `signal`): before the handshake completed the result errors with a
   * `TlsError` of kind `aborted` and the socket is destroyed; afterwards the connection is closed abortively
   * (`close()`, no close_notify) and the result errors the same way. Already aborted: errors at subscription.
   */
  readonly signal?: AbortSignal;
  /**
   * Called once the TCP connection is up, before the handshake (the moment `openssl s_client` says `CONNECTED`).
   * If it throws, that connection fails: the socket is destroyed and the result errors with a `TlsError` of
   * kind `apiMisuse` (`onTcpConnect threw: …`).
   */
  readonly onTcpConnect?: (address: TcpAddresses) => void;
}

/** Both ends of a TCP connection. */
export interface TcpAddresses {
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
}

/** Options of a server connection. */
export interface ServerOptions extends SecureOptions {
  /** Ask clients for a certificate (verified against `ca`, else the system roots). */
  readonly requestCert?: boolean;
  /**
   * With `requestCert`: fail clients that send none (certificate_required) or one that does not verify (the
   * verifier's alert). Default true. `false` accepts both, as node:tls does: `info.verification` says `none`
   * (no certificate), `ok`, or `failed` with `info.verificationError` (node's `authorized` /
   * `authorizationError`); the client must still prove it holds the key (CertificateVerify).
   */
  readonly rejectUnauthorized?: boolean;
  /**
   * Session tickets (RFC 8446 §4.6.1) are issued by default with a ticketer whose 32 B secret is random per
   * process (`createTicketer`). Give `ticketKey` (≥ 16 B, e.g. shared by a cluster) or a whole `ticketer`
   * instead; `ticketer: false` issues no tickets and resumes nothing.
   */
  readonly ticketKey?: Uint8Array;
  readonly ticketer?: Ticketer | false;
  /**
   * NewSessionTickets sent after each handshake, 0..16 (OpenSSL `SSL_CTX_set_num_tickets`, `-num_tickets`;
   * default 2). 0 sends none but still resumes tickets issued before. A client that offers no
   * psk_key_exchange_modes gets no ticket whatever this says (it could not use one, RFC 8446 §4.2.9).
   */
  readonly numTickets?: number;
  /** @deprecated The former name of {@link numTickets}. */
  readonly ticketCount?: number;
  /** Accept up to this many bytes of 0-RTT early data per connection (default 0: refuse). */
  readonly maxEarlyData?: number;
  /**
   * Single-use ticket store against replayed ClientHellos and early data (RFC 8446 §8). Default: one
   * `createAntiReplay()` per process with the default ticketer, else one per `listen`/`secure` call.
   */
  readonly antiReplay?: AntiReplay;
  /**
   * External PSKs this server accepts (RFC 8446 §4.2.11), by identity. With any of `psks` / `pskCallback`,
   * `cert` and `key` become optional (OpenSSL `s_server -nocert`): a client that offers no known PSK then fails
   * with handshake_failure. A handshake on a PSK has no certificates; `info.pskIdentity` names it.
   */
  readonly psks?: readonly PskOption[];
  /**
   * Look an offered identity up (node:tls `pskCallback`, without the socket): the key (bytes or hex), a key
   * and hash, or `undefined` for an unknown identity. Asked before `psks`.
   */
  readonly pskCallback?: (identity: string) => Uint8Array | string | Pick<PskOption, 'key' | 'hash'> | undefined;
  /** PSK key exchange modes accepted (default both `psk_dhe_ke` and `psk_ke`, as OpenSSL with `-allow_no_dhe_kex`). */
  readonly pskModes?: readonly ('psk_dhe_ke' | 'psk_ke')[];
}

/** Options for `listen` over TCP. */
export interface ListenOptions extends ServerOptions {
  /** TCP port; `0` picks a free one (learn it from `onListening`). */
  readonly port: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /**
   * Called once the server is bound, with the bound address (the real port when `port` is 0). If it throws, the
   * server closes and the result errors with a `TlsError` of kind `apiMisuse` (`onListening threw: …`).
   */
  readonly onListening?: (address: AddressInfo) => void;
  /**
   * Called for every connection that fails (handshake failure or timeout, transport error, a later fatal
   * alert or truncation). The server keeps running. Default: ignore. An exception it throws is caught and
   * reported once with `console.warn`: a bug in a logger never takes the server down.
   */
  readonly onError?: (error: TlsError, remote: { readonly address?: string; readonly port?: number }) => void;
  /**
   * Stop listening (node:net `signal`): when it aborts, the server closes and every open connection is aborted,
   * as when the subscription ends, and the result completes.
   */
  readonly signal?: AbortSignal;
}

/**
 * What was negotiated ({@link HandshakeInfo}: `serverName` is the SNI the client asked for, on both sides) plus
 * the peer's leaf certificate described (`peerCertificate`: subject, issuer, subjectAltName, validity, SHA-256
 * fingerprint; absent when the peer sent none). The whole chain is `peerCertificates` (DER, leaf first).
 */
export interface ConnectionInfo extends HandshakeInfo {
  readonly peerCertificate?: CertificateDetails;
}

/** What {@link TlsConnection.send} writes: an Observable (push), or an iterable (pulled as the transport allows). */
export type OutboundSource = Observable<Uint8Array> | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Progress of {@link TlsConnection.shutdown}: our close_notify is on the wire; the peer's arrived too. */
export type ShutdownProgress = 'sent' | 'complete';

/** `SSL_get_shutdown`: whether close_notify was sent and received. */
export interface ShutdownState {
  readonly sent: boolean;
  readonly received: boolean;
}

/**
 * An established TLS connection, emitted once the handshake completes.
 *
 * Closing follows OpenSSL's `SSL_shutdown` (see docs/closing.md): each direction is closed by its own
 * close_notify; the connection's Observable completes (and the transport is ended) once both went.
 *
 * - `inbound$`: the peer's application data; completes when the peer's close_notify arrives
 *   (`SSL_ERROR_ZERO_RETURN`, or when the connection is closed locally), errors with a `TlsError` on failure
 *   (`unexpectedEof` when the transport ends without close_notify, unless `ignoreUnexpectedEof`). It has a
 *   single consumer: subscribe once (it is hot; data is buffered until subscribed; a second subscription — or
 *   one after `receive()` — errors with `apiMisuse` and leaves the first one undisturbed; `share()` it to
 *   feed several consumers).
 * - `receive(project)`: the same data with backpressure, see {@link TlsConnection.receive}.
 * - `send(source)`: writes each chunk; when the source completes our close_notify is sent (our write direction
 *   is closed, `SSL_shutdown` returned 0) while the peer may keep sending. The returned Observable completes
 *   once close_notify is on the wire (or when the connection is closed locally first), and errors with the
 *   `TlsError` if the connection fails. One `send()` at a time; unsubscribing it stops writing without
 *   sending close_notify (chunks it queued and not yet written are dropped; a later `send()` may continue);
 *   after close_notify, `send()` errors with `apiMisuse`. If the source errors, the connection is aborted and
 *   the `send()` errors with that error. An iterable is pulled only while the transport is writable (and,
 *   with `asyncCrypto`, while less than one seal batch waits); an Observable is queued up to
 *   `maxOutboundBuffer` bytes while it is not, then the `send()` errors. Chunks are not copied before they are
 *   sealed (like a Node `Writable`): do not modify a chunk after handing it over. A value that is no source at
 *   all (a `Uint8Array`, a string, a number) errors only that `send()` with `apiMisuse`; the connection goes on.
 * - `shutdown()`, `shutdownState()`: explicit shutdown and `SSL_get_shutdown`.
 * - `close()`: abortive close (no close_notify, transport destroyed); the connection's Observable completes.
 *
 * Lifetime: the connection stays usable after the subscriber of its Observable leaves (`firstValueFrom`,
 * `take(1)`); it ends on `close()`, a complete `shutdown()`, both directions done, or an error. When the last
 * holder lets go — the Observable's subscriber and every active `send()`, `inbound$` and `receive()`
 * subscription — and one of them was unsubscribed before it completed, it is aborted (not leaked).
 */
export interface TlsConnection {
  readonly info: ConnectionInfo;
  /**
   * Keying material exported from this connection (RFC 8446 §7.5; RFC 5705 on a TLS 1.2 connection; node:tls
   * `exportKeyingMaterial`): `length` bytes for `label` (ASCII, 1..249 characters) and an optional `context`.
   * Both ends get the same bytes; another connection gets others. In TLS 1.2 an absent context differs from an
   * empty one, and the key schedule's own labels are refused. Throws `apiMisuse` for a bad label or length.
   *
   * @example
   * ```ts
   * const binding = conn.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding'); // RFC 9266 tls-exporter
   * ```
   */
  exportKeyingMaterial(length: number, label: string, context?: Uint8Array): Uint8Array;
  readonly inbound$: Observable<Uint8Array>;
  send(outbound: OutboundSource): Observable<never>;
  /**
   * The peer's data through `project`, one chunk at a time (like `concatMap`), with backpressure: while a
   * projection runs and more than `highWaterMark` bytes wait, the transport is paused (nothing is read), and
   * resumed when the queue falls back. Completes after the peer's close_notify once every projection
   * completed; errors like `inbound$` (after the projections of the data before the error). Shares
   * `inbound$`'s single subscription. Throws `apiMisuse` at once when `project` is not a function (nothing is
   * claimed: `inbound$` or another `receive()` may follow).
   *
   * ```
   * inbound data:  -a-b-c------|
   * receive(x => timer(3).pipe(map(() => x)))
   * result:        ----a--b--c-|     transport paused while more than highWaterMark bytes wait
   * ```
   */
  receive<R>(project: (chunk: Uint8Array) => ObservableInput<R>): Observable<R>;
  /**
   * Send close_notify and report progress (`SSL_shutdown`): emits `'sent'` once our close_notify is on the
   * wire (at once if `send()` already completed), then `'complete'` when the peer's arrived (the transport is
   * then ended), and completes. An active `send()` stops taking chunks (those already queued are written
   * first) and completes. `unidirectional: true` sends close_notify and closes at once without waiting for
   * the peer's (emits `'sent'` then completes). With `quietShutdown` nothing is sent and `'complete'` is
   * emitted at once. Errors with `apiMisuse` at once after a fatal error (nothing goes on the wire), and with
   * the connection's error if it fails while waiting.
   */
  shutdown(options?: { readonly unidirectional?: boolean }): Observable<ShutdownProgress>;
  /** Whether close_notify was sent and received so far (`SSL_get_shutdown`); readable at any time. */
  shutdownState(): ShutdownState;
  /**
   * Send a KeyUpdate (RFC 8446 §4.6.3); `requestPeer` asks the peer to update its keys too. Throws
   * `apiMisuse` after close_notify was sent or the connection closed. (Requests from the peer are answered
   * by the core.)
   */
  keyUpdate(requestPeer?: boolean): void;
  /**
   * Client: every resumable session the server sent (NewSessionTicket), replayed to late subscribers, as they
   * arrive (whether or not this connection later shuts down cleanly); completes when the connection ends.
   * Store one with `encodeSession` to resume later. Servers: completes empty.
   */
  readonly sessions$: Observable<TlsSession>;
  /** Key log lines of this connection (only with the `keyLog` option), replayed; completes at the end. */
  readonly keyLog$: Observable<string>;
  /** Client: the `earlyData` bytes the server rejected (`info.earlyData === 'rejected'`), to resend. */
  readonly rejectedEarlyData: Uint8Array | undefined;
  close(): void;
}

/**
 * A byte duplex that TLS can run over: TCP, a WebSocket, an in-memory pipe.
 * `incoming$` emits received chunks and completes at EOF; `write` returns false when the transport wants the
 * writer to pause until `drain$` emits; `end` half-closes; `destroy` tears it down. `pause`/`resume`
 * (optional) stop and restart `incoming$` for inbound flow control (a socket's `pause()`/`resume()`); a
 * duplex without them is simply read as fast as it delivers. `cork` (optional) holds what is written until the
 * current task's microtasks run, then lets it all go as one write (a socket's `cork`/`uncork`: one `writev`
 * system call); TLS then writes each step's records as the parts they were sealed in (ciphertext buffers as
 * the cipher produced them, and the few bytes between) instead of joining them into one buffer first. Every
 * byte still goes through `write`, so a wrapper that replaces `write` sees all of them. `write`'s `written`
 * (optional to honour) is called once the transport no longer reads `chunk`: a socket's write callback, or at
 * once when the chunk was dropped (a closed transport). TLS passes one only for records whose memory it can then
 * reuse, so a duplex that ignores it loses nothing but that.
 */
export interface ByteDuplex {
  readonly incoming$: Observable<Uint8Array>;
  write(chunk: Uint8Array, written?: () => void): boolean;
  cork?(): void;
  readonly drain$: Observable<void>;
  end(): void;
  destroy(): void;
  pause?(): void;
  resume?(): void;
}

/**
 * A datagram duplex DTLS (or QUIC) can run over: a connected UDP socket, one peer of a listening socket, a
 * WebRTC data channel, an in-memory link (`memoryDatagramPair`). Datagrams keep their boundaries and may be
 * lost, duplicated or reordered on the way: the protocol above copes.
 *
 * - `incoming$` emits each datagram from the peer and completes when this end is closed (locally: UDP has no
 *   EOF; a peer says goodbye inside the protocol).
 * - `send` hands over one datagram and answers `false` when the transport wants the sender to pause until
 *   `drain$` emits (a full send queue); the datagram was taken either way. A transport without backpressure
 *   always answers `true` and may omit `drain$`.
 * - `close` releases the transport; `incoming$` completes.
 */
export interface DatagramDuplex {
  readonly incoming$: Observable<Uint8Array>;
  send(datagram: Uint8Array): boolean;
  readonly drain$?: Observable<void>;
  close(): void;
}
