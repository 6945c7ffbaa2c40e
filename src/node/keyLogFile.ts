/**
 * `keyLogToFile`: a Node sink that appends NSS key log lines (SSLKEYLOGFILE format) to a file.
 */
import { appendFileSync } from 'node:fs';
import type { Observer } from 'rxjs';

/**
 * An observer for a connection's `keyLog$`: appends each line and a `\n` to the file at `path` (created with
 * mode 0600), synchronously, so the secrets of a handshake are in the file by the time the handshake completes
 * (a tool reading the file live, such as Wireshark, finds them) and lines from concurrent connections never
 * interleave. Nothing stays open between lines. A write that fails is reported once with `console.warn` and
 * the rest of that connection's lines are dropped: the key log is for debugging and never fails a connection.
 *
 * ```
 * keyLog$:  -a-b-c-d-e-|
 * file:     -a-b-c-d-e-      one appended line per value
 * ```
 *
 * @example
 * ```ts
 * connect({ host, port, keyLog: true }).subscribe((conn) => conn.keyLog$.subscribe(keyLogToFile('/tmp/keys.log')));
 * // what `keyLog: '/tmp/keys.log'` does for you
 * ```
 *
 * @see {@link https://www.ietf.org/archive/id/draft-ietf-tls-keylogfile-02.html | The SSLKEYLOGFILE format}
 */
export function keyLogToFile(path: string): Partial<Observer<string>> {
  let failed = false;
  return {
    next: (line) => {
      if (failed) return;
      try {
        appendFileSync(path, `${line}\n`, { mode: 0o600 });
      } catch (err) {
        failed = true;
        console.warn(`rxtls: cannot write the key log to ${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  };
}
