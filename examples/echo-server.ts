/**
 * A TLS 1.3 echo server: every byte a client sends comes back; the client's close_notify ends its connection
 * with ours.
 *
 * Run: `node --no-warnings --loader=ts-node/esm examples/echo-server.ts [PORT]` (default 8443), then e.g.
 * `openssl s_client -connect 127.0.0.1:8443 -CAfile test/fixtures/certs/ca-cert.pem -servername localhost`.
 * Published package: import from `rxtls` instead of `../src/rx/index.js`.
 */
import { readFileSync } from 'node:fs';
import { EMPTY, catchError, mergeMap } from 'rxjs';
import { listen } from '../src/rx/index.js';
import { inboundSource } from '../src/cli/inboundSource.js';

const certs = new URL('../test/fixtures/certs/', import.meta.url);
const port = Number(process.argv[2] ?? 8443);

listen({
  host: '127.0.0.1',
  port,
  cert: readFileSync(new URL('server-ec-chain.pem', certs), 'utf8'), // leaf + intermediate
  key: readFileSync(new URL('server-ec-key.pem', certs), 'utf8'),
  ALPNProtocols: ['echo'],
  onListening: ({ address, port }) => console.log(`echo server on ${address}:${port}`),
  onError: (err, remote) => console.warn(`connection from ${remote.address}:${remote.port} failed: ${err.message}`),
})
  .pipe(
    mergeMap((conn) => {
      console.log(`client connected: ${conn.info.cipherSuite}, ${conn.info.group}, ALPN ${conn.info.alpn ?? '-'}`);
      // The inbound data is the outbound data. inboundSource() keeps backpressure end to end (a client that
      // writes faster than it reads is slowed down); the client's close_notify ends it, and ours follows.
      return conn.send(inboundSource(conn)).pipe(catchError(() => EMPTY)); // failures are reported to onError
    }),
  )
  .subscribe();
