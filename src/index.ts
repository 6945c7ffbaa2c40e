/**
 * rxtls: TLS 1.3 for RxJS on a pure, event-driven (sans-IO) core.
 *
 * - RxJS API: {@link connect}, {@link listen}, and the operators in `rxtls/operators`.
 * - The sans-IO cores (also alone in `rxtls/core`): TLS ({@link createConnection}, {@link handleEvents},
 *   {@link nextTimeout}), QUIC ({@link createQuicConnection}, {@link handleQuicEvents}) and the handshake engine
 *   (see docs/ARCHITECTURE.md).
 * - Crypto providers: {@link nobleProvider} (default), {@link nodeProvider}.
 */
// The portable surface (sans-IO cores, noble, PEM and keys, the portable verifier, runReducer, memory duplexes),
// then what needs Node: sockets, the node:crypto provider, the worker pool, system roots, files. An explicit
// export below (the Node `createVerifier`, with system roots) takes precedence over the portable one.
export * from './browser.js';
export * from './rx/index.js';
export { nodeProvider } from './node/nodeProvider.js';
export { secure } from './node/secure.js';
export { secureDatagrams } from './node/secureDatagrams.js';
export { nodePlatform } from './node/platform.js';
export { createVerifier, createNodeX509Verifier, type VerifierOptions } from './node/verifier.js';
export { createWorkerPoolProvider, type WorkerPoolProvider } from './node/workers.js';
export { keyLogFromEnvironment, keyLogToFile } from './node/keyLogFile.js';
export { checkServerIdentity } from './crypto/identity.js';
