/**
 * node:tls-style options ({@link ClientOptions}, {@link ServerOptions}) → the sans-IO core's
 * {@link TlsClientConfig} / {@link TlsServerConfig}. PEM is loaded here, once, so a bad key or an unknown
 * cipher name fails with an `apiMisuse` {@link TlsError} before any byte is sent.
 */
import { TlsError } from '../core/errors.js';
import { loadCertificateChain, loadPrivateKey } from '../crypto/keys.js';
import { nobleProvider } from '../crypto/noble.js';
import { createVerifier, insecureVerifier } from '../crypto/x509.js';
import { parseCipherSuites, parseGroups, type TlsClientConfig, type TlsCommonConfig, type TlsServerConfig } from '../tls/config.js';
import type { ClientOptions, SecureOptions, ServerOptions } from './types.js';

/**
 * The core configuration of a client.
 *
 * - `servername` defaults to `host`. An IP literal is still verified against the certificate's IP SANs but is
 *   not sent as SNI (RFC 6066 §3; the core omits it).
 * - `rejectUnauthorized: false` selects the insecure verifier (see {@link warnInsecure}); otherwise the chain is
 *   verified against `ca`, or the system roots when `ca` is absent.
 *
 * @example
 * ```ts
 * const config = toClientConfig({ ca: readFileSync('ca.pem', 'utf8'), ciphers: 'TLS_AES_128_GCM_SHA256' }, 'localhost');
 * ```
 */
export function toClientConfig(options: ClientOptions, host?: string): TlsClientConfig {
  const serverName = options.servername !== undefined && options.servername !== '' ? options.servername : host;
  return {
    ...common(options),
    role: 'client',
    ...(serverName !== undefined ? { serverName } : {}),
    verifier: options.rejectUnauthorized === false ? insecureVerifier : createVerifier({ ca: options.ca }),
  };
}

/**
 * The core configuration of a server. `cert` and `key` are required. With `requestCert` a CertificateRequest
 * is sent and client chains are verified against `ca` (system roots when absent); `rejectUnauthorized`
 * (default true) also fails clients that send no certificate. `requestCert` with `rejectUnauthorized: false`
 * accepts any client certificate unverified (`info.verification === 'insecure'`).
 */
export function toServerConfig(options: ServerOptions): TlsServerConfig {
  if (options.cert === undefined || options.key === undefined) {
    throw new TlsError({ kind: 'apiMisuse', reason: 'a TLS server needs `cert` and `key`' });
  }
  const request = options.requestCert === true;
  const strict = options.rejectUnauthorized !== false;
  return {
    ...common(options),
    role: 'server',
    requestClientCertificate: request,
    requireClientCertificate: request && strict,
    ...(request ? { verifier: strict ? createVerifier({ ca: options.ca }) : insecureVerifier } : {}),
  };
}

/** True when these client options disable certificate verification. */
export function isInsecure(options: ClientOptions): boolean {
  return options.rejectUnauthorized === false;
}

/**
 * The loud warning printed once per connection that runs with `rejectUnauthorized: false`.
 */
export function warnInsecure(peer: string | undefined): void {
  console.warn(
    `rxtls: WARNING: certificate verification is DISABLED (rejectUnauthorized: false) for the connection to ${
      peer ?? 'an unnamed peer'
    }; anyone on the path can impersonate the server.`,
  );
}

function common(options: SecureOptions): Omit<TlsCommonConfig, 'verifier'> {
  if (options.handshakeTimeout !== undefined && !(options.handshakeTimeout > 0)) {
    throw new TlsError({ kind: 'apiMisuse', reason: `handshakeTimeout must be > 0 ms, got ${options.handshakeTimeout}` });
  }
  return {
    provider: options.provider ?? nobleProvider,
    ...(options.ciphers !== undefined ? { cipherSuites: parseCipherSuites(options.ciphers) } : {}),
    ...(options.groups !== undefined ? { groups: parseGroups(options.groups) } : {}),
    ...(options.ALPNProtocols !== undefined ? { alpnProtocols: options.ALPNProtocols } : {}),
    ...(options.cert !== undefined ? { certificateChain: loadCertificateChain(options.cert) } : {}),
    ...(options.key !== undefined ? { privateKey: loadPrivateKey(options.key) } : {}),
    ...(options.handshakeTimeout !== undefined ? { handshakeTimeout: options.handshakeTimeout } : {}),
    ...(options.ignoreUnexpectedEof !== undefined ? { ignoreUnexpectedEof: options.ignoreUnexpectedEof } : {}),
  };
}

