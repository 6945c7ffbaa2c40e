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

/**
 * Options with the key log the environment asks for: when `options.keyLog` is absent and `SSLKEYLOGFILE` names
 * a file (non-empty), `keyLog` becomes that path, as curl, the browsers and `node --tls-keylog` do. An explicit
 * `keyLog` (a function, a path, `true`, or `false` to refuse the environment's) is kept. `connect`, `listen`,
 * `dtlsConnect`, `dtlsListen`, `quicConnect`, `quicListen`, Node's `secure` and the CLI apply it.
 *
 * @example
 * ```ts
 * // SSLKEYLOGFILE=/tmp/keys.log node app.js
 * keyLogFromEnvironment({ host, port });                 // { host, port, keyLog: '/tmp/keys.log' }
 * keyLogFromEnvironment({ host, port, keyLog: false });  // unchanged: no key log
 * ```
 */
export function keyLogFromEnvironment<T extends { readonly keyLog?: unknown }>(options: T, env: NodeJS.ProcessEnv = process.env): T {
  const file = env.SSLKEYLOGFILE;
  if (options.keyLog !== undefined || file === undefined || file === '') return options;
  return { ...options, keyLog: file };
}
