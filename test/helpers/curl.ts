/** `curl --http1.1 -sk URL` when curl is installed (bounded): its stdout; `undefined` when there is no curl. */
import { execFile } from 'node:child_process';
import { findBinary, withTimeout } from './peers.js';

export async function curlGet(url: string, timeoutMs = 20_000): Promise<string | undefined> {
  const curl = findBinary('curl');
  if (!curl) return undefined;
  const seconds = String(Math.max(1, Math.floor(timeoutMs / 2000)));
  return withTimeout(
    new Promise<string>((resolve, reject) => execFile(curl, ['--http1.1', '-sk', '--max-time', seconds, url], (err, stdout) => (err ? reject(err) : resolve(stdout)))),
    timeoutMs,
    `curl ${url}`,
  );
}
