/**
 * The Node-only parts of rxtls: the node:crypto provider, the worker-pool provider, signing through OpenSSL,
 * certificate verifiers with node:tls system roots (or OpenSSL checks), and file helpers. Everything else in
 * `src/` outside `src/rx/` and `src/cli/` runs in any JavaScript engine (see `src/browser.ts`).
 */
export { nodeProvider } from './nodeProvider.js';
export { createWorkerPoolProvider, type WorkerPoolProvider, type WorkerPoolOptions } from './workers.js';
export { signWithKeyObject } from './keys.js';
export { createVerifier, createNodeX509Verifier, nodeX509Checks, type VerifierOptions } from './verifier.js';
export { systemRootCertificates } from './systemRoots.js';
export { readCertificateChainFile, readPrivateKeyFile, appendLine } from './files.js';
export { toNodeDuplex, fromNodeDuplex, type NodeDuplexOptions } from './nodeDuplex.js';
