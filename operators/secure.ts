/**
 * `secure`: TLS 1.3 over any byte duplex, as a public pipeable operator (Node: system roots and key-log files;
 * the browser condition of `rxtls/operators` gives the portable one). The implementation lives in
 * `src/rx/secure.ts` (`connect` and `listen` use it there).
 */
export { secure } from '../src/node/secure.js';
export { secureDuplex, secureOn, type SecureRoleOptions } from '../src/rx/secure.js';
