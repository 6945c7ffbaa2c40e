/**
 * rxtls: TLS 1.3 for RxJS on a pure, event-driven (sans-IO) core.
 *
 * - RxJS API: {@link connect}, {@link listen}, and the operators in `rxtls/operators`.
 * - The sans-IO cores (also alone in `rxtls/core`): TLS ({@link createConnection}, {@link handleEvents},
 *   {@link nextTimeout}), QUIC ({@link createQuicConnection}, {@link handleQuicEvents}) and the handshake engine
 *   (see docs/ARCHITECTURE.md).
 * - Crypto providers: {@link nobleProvider} (default), {@link nodeProvider}.
 */
export * from './core/index.js';
export * from './rx/index.js';
export { parseCipherSuites, parseGroups } from './handshake/config.js';
export {
  createTicketer,
  createAntiReplay,
  encodeSession,
  decodeSession,
  type TlsSession,
  type Ticketer,
  type AntiReplay,
} from './handshake/session.js';
export type { CertificateVerifier, CertificateVerdict, VerifyRequest } from './crypto/verifier.js';
export { nobleProvider, createNobleProvider } from './crypto/noble.js';
export { nodeProvider } from './node/nodeProvider.js';
export { insecureVerifier } from './crypto/x509.js';
export { createVerifier, createNodeX509Verifier, type VerifierOptions } from './node/verifier.js';
export { loadCertificateChain, loadPrivateKey } from './crypto/keys.js';
export { createWorkerPoolProvider, type WorkerPoolProvider } from './node/workers.js';
export { keyLogToFile } from './node/keyLogFile.js';
export { checkServerIdentity } from './crypto/identity.js';
