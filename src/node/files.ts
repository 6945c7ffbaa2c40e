/**
 * File helpers for Node: PEM/DER certificate chains and private keys read from files, and key-log lines
 * (NSS key log format) appended to a file. Node-only; the parsing itself is portable (`src/crypto/keys.ts`).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import type { SigningKey } from '../crypto/provider.js';
import { loadCertificateChain, loadPrivateKey } from '../crypto/keys.js';

/**
 * DER certificates (RFC 5280) from a PEM or DER file, leaf first as written. Throws the file system's error, or
 * a TlsError (`apiMisuse`) when the file holds no certificate.
 *
 * @example
 * const chain = readCertificateChainFile('server-chain.pem');
 */
export function readCertificateChainFile(path: string): Uint8Array[] {
  return loadCertificateChain(new Uint8Array(readFileSync(path)));
}

/**
 * A {@link SigningKey} from a PEM or DER private key file (PKCS#8, SEC1 or PKCS#1; see `loadPrivateKey`).
 *
 * @example
 * const key = readPrivateKeyFile('server-key.pem');
 */
export function readPrivateKeyFile(path: string): SigningKey {
  return loadPrivateKey(new Uint8Array(readFileSync(path)));
}

/**
 * Append one line (a newline is added) to a file, synchronously, creating it if needed: for key-log files
 * (`SSLKEYLOGFILE`, NSS key log format), where a line must be on disk before the secret it names is used.
 *
 * @example
 * appendLine('/tmp/keys.log', 'CLIENT_TRAFFIC_SECRET_0 <random> <secret>');
 */
export function appendLine(path: string, line: string): void {
  appendFileSync(path, line + '\n');
}
