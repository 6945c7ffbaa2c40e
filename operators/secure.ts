/**
 * `secure`: TLS 1.3 over any byte duplex, as a public pipeable operator. The implementation lives in
 * `src/rx/secure.ts` (`connect` and `listen` use it there).
 */
export { secure, secureDuplex, type SecureRoleOptions } from '../src/rx/secure.js';
