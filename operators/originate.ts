/**
 * `originate`: plaintext byte duplexes in, each spliced to a new TLS (or QUIC) client connection; one report
 * per duplex out. The implementation and its full TSDoc live in `src/rx/proxy/originate.ts`.
 */
export { originate, type OriginateOptions, type OriginateReport } from '../src/rx/proxy/originate.js';
