/** Node's {@link Platform}: node:tls system roots and key-log files. */
import type { Platform } from '../rx/platform.js';
import { keyLogToFile } from './keyLogFile.js';
import { systemRootCertificates } from './systemRoots.js';

/** System roots from node:tls `rootCertificates`, key logs appended to files. */
export const nodePlatform: Platform = { systemRoots: systemRootCertificates, keyLogFile: keyLogToFile };
