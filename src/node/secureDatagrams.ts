/** The `secureDatagrams` operator on Node: node:tls system roots when `ca` is absent, `keyLog` file paths. */
import type { OperatorFunction } from 'rxjs';
import { secureDatagramsOn } from '../rx/secureDatagrams.js';
import type { DtlsConnection, SecureDatagramsOptions } from '../rx/dtlsTypes.js';
import type { DatagramDuplex } from '../rx/types.js';
import { nodePlatform } from './platform.js';

/**
 * DTLS 1.3 over any datagram duplex, on Node: the portable `secureDatagrams` (see `src/rx/secureDatagrams.ts`
 * for the whole contract) with node:tls `rootCertificates` as the trust anchors when `ca` is absent and
 * `keyLog: 'file'` appending to a file.
 *
 * @example
 * ```ts
 * of(duplex).pipe(secureDatagrams({ role: 'client', servername: 'example.com' }), switchMap((c) => c.inbound$));
 * ```
 */
export const secureDatagrams: (options: SecureDatagramsOptions) => OperatorFunction<DatagramDuplex, DtlsConnection> = secureDatagramsOn(nodePlatform);
