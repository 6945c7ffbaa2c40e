/**
 * A TLS 1.3 client: connect, send a request, print the answer, close cleanly (close_notify both ways).
 *
 * Run against any TLS 1.3 server, e.g. `openssl s_server -accept 127.0.0.1:8443 -www -cert … -key …` or
 * `examples/echo-server.ts`:
 * `node --no-warnings --loader=ts-node/esm examples/client.ts [HOST] [PORT]` (default 127.0.0.1 8443).
 * Published package: import from `rxtls` instead of `../src/rx/index.js`.
 */
import { readFileSync } from 'node:fs';
import { defer, merge, of, switchMap } from 'rxjs';
import { connect } from '../src/rx/index.js';

const host = process.argv[2] ?? '127.0.0.1';
const port = Number(process.argv[3] ?? 8443);
const ca = readFileSync(new URL('../test/fixtures/certs/ca-cert.pem', import.meta.url), 'utf8');
const encoder = new TextEncoder();
const decoder = new TextDecoder();

connect({ host, port, servername: 'localhost', ca, ALPNProtocols: ['http/1.1', 'echo'] })
  .pipe(
    switchMap((conn) => {
      const { cipherSuite, group, alpn, peerSubject, verification } = conn.info;
      console.error(`connected: ${cipherSuite} ${group} ALPN=${alpn ?? '-'} peer=${peerSubject} verification=${verification}`);
      // send() writes the request, then close_notify; inbound$ completes at the server's close_notify.
      return merge(conn.send(defer(() => of(encoder.encode('GET / HTTP/1.0\r\n\r\n')))), conn.inbound$);
    }),
  )
  .subscribe({
    next: (chunk) => process.stdout.write(decoder.decode(chunk, { stream: true })),
    complete: () => console.error('closed cleanly'),
    error: (err: Error) => {
      console.error(`failed: ${err.message}`);
      process.exitCode = 1;
    },
  });
