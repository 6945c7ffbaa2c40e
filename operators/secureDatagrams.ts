/**
 * `secureDatagrams`: DTLS 1.3 over any datagram duplex, as a public pipeable operator (Node: system roots and
 * key-log files; the browser condition of `rxtls/operators` gives the portable one). The implementation lives
 * in `src/rx/secureDatagrams.ts` (`dtlsConnect` and `dtlsListen` use it there).
 */
export { secureDatagrams } from '../src/node/secureDatagrams.js';
export { secureDatagramsOn } from '../src/rx/secureDatagrams.js';
export type { SecureDatagramsOptions, DtlsConnection } from '../src/rx/dtlsTypes.js';
