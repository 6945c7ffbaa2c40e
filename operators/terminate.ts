/**
 * `terminate`: secured connections (TLS, DTLS, QUIC streams, or raw transports secured here) in, plaintext
 * byte duplexes out. The implementation and its full TSDoc live in `src/rx/proxy/terminate.ts`.
 */
export { terminate, type Terminable, type TerminateOptions } from '../src/rx/proxy/terminate.js';
