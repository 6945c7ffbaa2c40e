/**
 * Bridges between rxtls byte streams and Node streams: {@link toNodeDuplex} gives a `stream.Duplex` for libraries
 * that take one (node:http, node:https `createConnection`, undici), {@link fromNodeDuplex} the other way.
 */
import { Duplex } from 'node:stream';
import { EMPTY, Observable, type Subscription } from 'rxjs';
import { fromSocket } from '../rx/duplex.js';
import { type EndpointOptions, type Spliceable, toEndpoint } from '../rx/proxy/endpoint.js';
import type { ByteDuplex } from '../rx/types.js';

/** Options of {@link toNodeDuplex}. */
export interface NodeDuplexOptions extends EndpointOptions {
  /** The readable side's `highWaterMark`, bytes (default Node's, 16 KiB): beyond it nothing more is read. */
  readonly readableHighWaterMark?: number;
}

/**
 * A TLS connection, DTLS connection, QUIC stream or plaintext {@link ByteDuplex} as a Node `stream.Duplex` with
 * `allowHalfOpen`:
 *
 * - **Backpressure** both ways: the connection is read only while the readable side wants data (`push()`
 *   answered true, or `_read` was called again) — TLS pauses its transport meanwhile, a QUIC stream gives no
 *   credit; a `write` is taken when the connection can take it, so `write()` answers false and `'drain'`
 *   follows the connection's own writability.
 * - **Half-close**: `end()` sends close_notify (a stream FIN, a TCP FIN) and reading goes on; the peer's
 *   close_notify (FIN) is `'end'`, and writing goes on.
 * - **Abort**: `destroy()` before both directions ended aborts the connection (no close_notify, transport
 *   destroyed; RESET_STREAM); the connection's failure (truncation, alert, reset) is an `'error'`.
 *
 * ```
 * conn inbound:   -a-b-----|          | = the peer's close_notify
 * duplex 'data':  -a-b-----('end')
 * duplex.end():   ----e               e: our close_notify, after what was written
 * ```
 *
 * @example
 * ```ts
 * const server = http.createServer((req, res) => res.end('hello'));
 * listen({ port: 8443, cert, key }).subscribe((conn) => server.emit('connection', toNodeDuplex(conn)));
 * // and as a client:
 * const conn = await firstValueFrom(connect({ host, port, ca }));
 * http.get({ host, path: '/', createConnection: () => toNodeDuplex(conn) }, (res) => res.pipe(process.stdout));
 * ```
 */
export function toNodeDuplex(conn: Spliceable, options: NodeDuplexOptions = {}): Duplex {
  const endpoint = toEndpoint(conn, options);
  let reading: Subscription | undefined;
  let wanted: (() => void) | undefined;
  let readEnded = false;
  let finalDone = false;
  const duplex: Duplex = new Duplex({
    allowHalfOpen: true,
    ...(options.readableHighWaterMark !== undefined ? { readableHighWaterMark: options.readableHighWaterMark } : {}),
    read() {
      if (reading) {
        const w = wanted;
        wanted = undefined;
        w?.();
        return;
      }
      reading = endpoint
        .read((chunk) => {
          // A chunk is pushed, and the next one read only when Node wants more (push() true, or _read again).
          if (duplex.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) return EMPTY;
          return new Observable<never>((s) => {
            wanted = () => s.complete();
          });
        })
        .subscribe({
          complete: () => {
            readEnded = true;
            duplex.push(null);
          },
          error: (err: unknown) => duplex.destroy(err instanceof Error ? err : new Error(String(err))),
        });
    },
    write(chunk: Buffer, _encoding, callback) {
      endpoint.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)).subscribe({ complete: () => callback(), error: (err: unknown) => callback(err as Error) });
    },
    final(callback) {
      finalDone = true;
      endpoint.end();
      callback();
    },
    destroy(err, callback) {
      reading?.unsubscribe();
      // After both directions ended cleanly (autoDestroy), there is nothing to abort.
      if (err || !(readEnded && finalDone)) endpoint.abort();
      callback(err);
    },
  });
  return duplex;
}

/**
 * A Node `stream.Duplex` (a `net.Socket`, a `tls.TLSSocket`'s plaintext side, a `stream.PassThrough` pair) as
 * a {@link ByteDuplex}, to run `secure()` over it or `splice` it: `incoming$` is its data (completes at
 * `'end'`, errors at `'error'`), `write` returns its backpressure and `drain$` is `'drain'`, `end` is
 * `end()` (give the stream `allowHalfOpen: true` to keep reading after it), `destroy` is `destroy()`,
 * `pause`/`resume` are its own. Listeners are attached at once, so nothing is lost before `incoming$` is
 * subscribed.
 *
 * ```
 * stream 'data':  -a-b--('end')
 * incoming$:      -a-b--|
 * ```
 *
 * @example
 * ```ts
 * const tlsClient = tls.connect({ port: 443, host });     // node:tls as the backend leg of a splice
 * splice(rxtlsConn, fromNodeDuplex(tlsClient)).subscribe(console.log);
 * ```
 */
export function fromNodeDuplex(stream: Duplex): ByteDuplex {
  return fromSocket(stream);
}
