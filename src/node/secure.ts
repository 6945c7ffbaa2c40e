/** The `secure` operator on Node: node:tls system roots when `ca` is absent, `keyLog` file paths. */
import type { OperatorFunction } from 'rxjs';
import { secureOn, type SecureRoleOptions } from '../rx/secure.js';
import type { ByteDuplex, TlsConnection } from '../rx/types.js';
import { nodePlatform } from './platform.js';
import { keyLogFromEnvironment } from './keyLogFile.js';

/**
 * TLS 1.3 over any byte duplex, on Node: the portable `secure` (see `src/rx/secure.ts` for the whole contract)
 * with node:tls `rootCertificates` as the trust anchors when `ca` is absent and `keyLog: 'file'` appending to a
 * file; without a `keyLog` option, `SSLKEYLOGFILE` in the environment names that file.
 *
 * @example
 * ```ts
 * of(fromSocket(net.connect(443, 'example.com')))
 *   .pipe(secure({ role: 'client', servername: 'example.com' }), switchMap((conn) => conn.inbound$))
 *   .subscribe((chunk) => process.stdout.write(chunk));
 * ```
 */
export const secure: (options: SecureRoleOptions) => OperatorFunction<ByteDuplex, TlsConnection> = (options) =>
  secureOn(nodePlatform)(keyLogFromEnvironment(options));
