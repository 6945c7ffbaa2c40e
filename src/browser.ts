/**
 * `rxtls/browser`: the portable surface of rxtls, for browsers, workers, Deno or any JavaScript engine with
 * `crypto.getRandomValues`: nothing here imports a `node:` module (test/browser/browser.test.ts bundles this
 * entry with esbuild for `platform: 'browser'` and runs a handshake in headless Chromium).
 *
 * - The sans-IO TLS 1.3 core (RFC 8446): {@link createConnection}, {@link handleEvents}, {@link nextTimeout}, …
 * - Crypto: the noble provider, PEM / PKCS#8 / SEC1 / PKCS#1 key loading, signature verification.
 * - Certificates: the portable RFC 5280 verifier. There are no system roots in a browser: pass `ca`.
 * - RxJS plumbing that needs no sockets: {@link memoryDuplexPair}, {@link memoryDatagramPair}, {@link runReducer}.
 * - DTLS 1.3 over any datagram duplex (a WebRTC data channel, a memory link): {@link secureDatagrams}.
 *
 * - The `secure` operator over any byte duplex (a WebSocket, a WebTransport stream, a memory pair), portable:
 *   give it `ca` (there are no system roots) and a function for `keyLog`; `secureOn(platform)` injects your own.
 *
 * @example
 * ```ts
 * import { createConnection, handleEvents, createVerifier } from 'rxtls/browser';
 * let client = createConnection({ role: 'client', serverName: 'example.com', verifier: createVerifier({ ca: caPem }) });
 * let step = handleEvents(client, { type: 'start', now: Date.now() });
 * for (const e of step.effects) if (e.type === 'transmit') webSocket.send(e.data);
 * ```
 */
export * from './core/index.js';
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
export {
  createVerifier,
  insecureVerifier,
  certificateSpki,
  certificateSubject,
  parseCertificate,
  portableChecks,
  type VerifierOptions,
  type CertificateChecks,
  type ParsedCertificate,
} from './crypto/x509.js';
export { loadCertificateChain, loadPrivateKey, parsePem, type PemBlock } from './crypto/keys.js';
export { loadPkcs12, parsePkcs12, pkcs12Kdf, type Pkcs12Contents, type Pkcs12Item } from './crypto/pkcs12.js';
export { describeCertificate, certificateToPem, type CertificateDetails } from './crypto/certificateDetails.js';
export { verifySignature, verifyWithAlgorithm, spkiKeyType, type SignatureAlgorithm } from './crypto/signatures.js';
export { memoryDuplexPair, type MemoryDuplex, type MemoryDuplexOptions } from './rx/duplex.js';
export { runReducer, type Pending, type PendingInput, type ReducerSpec, type Ticker } from './rx/runReducer.js';
export { secureDatagrams, secureDatagramsOn } from './rx/secureDatagrams.js';
export { memoryDatagramPair, type LinkDatagram, type LinkVerdict, type MemoryDatagramDuplex, type MemoryDatagramOptions } from './rx/datagram.js';
export type * from './rx/dtlsTypes.js';
export { secure, secureDuplex, secureOn, type SecureRoleOptions } from './rx/secure.js';
export { portablePlatform, type Platform } from './rx/platform.js';
export type * from './rx/types.js';
