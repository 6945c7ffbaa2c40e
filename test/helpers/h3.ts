/**
 * The HTTP/3 calls of the QUIC interop tests and benches, as a thin layer over `src/h3` (`h3Client`,
 * `h3Request`, `serveH3`): start HTTP/3 on a client connection, GET a path and collect its body, serve one
 * fixed body on every request stream.
 */
import { lastValueFrom, firstValueFrom, timeout, toArray } from 'rxjs';
import { H3ErrorCode } from '../../src/h3/errors.js';
import { encodeFrame } from '../../src/h3/frames.js';
import { requestFields } from '../../src/h3/message.js';
import { encodeFieldSection } from '../../src/h3/qpack.js';
import { MessageParser } from '../../src/h3/streams.js';
import { h3Client, h3Request, serveH3 } from '../../src/rx/h3.js';
import type { QuicConnection, QuicStream } from '../../src/rx/quic.js';

/** H3_NO_ERROR (RFC 9114 §8.1). */
export const H3_NO_ERROR = H3ErrorCode.H3_NO_ERROR;

/** Start HTTP/3 on a client connection: our control stream with SETTINGS and the QPACK streams (RFC 9114 §6.2). */
export function openControlStream(conn: QuicConnection): void {
  h3Client(conn);
}

/** GET `path` on a new request stream; resolves with the status and the whole body, within `ms`. */
export async function get(conn: QuicConnection, authority: string, path: string, ms: number): Promise<{ status: number; body: Buffer }> {
  const res = await firstValueFrom(h3Request(conn, { authority, path }).pipe(timeout(ms)));
  const chunks = await lastValueFrom(res.body.pipe(toArray(), timeout(ms)));
  return { status: res.status, body: Buffer.concat(chunks) };
}

/** Answer every request on `conn` with 200 and `body`. */
export function serve(conn: QuicConnection, body: string): void {
  serveH3(conn, () => ({ status: 200, body }));
}

/**
 * A GET as the bytes of a request stream (one HEADERS frame, RFC 9114 §4.1): what `quicConnect({ earlyData })`
 * writes on a stream of its own, in 0-RTT when the session allows it.
 */
export function getRequestBytes(authority: string, path: string): Uint8Array {
  return encodeFrame({ type: 'headers', block: encodeFieldSection(requestFields({ method: 'GET', authority, path })) });
}

/** Read a response from a request stream we wrote ourselves (e.g. one of `conn.earlyStreams`): status and whole body, within `ms`. */
export async function readResponse(stream: QuicStream, ms: number): Promise<{ status: number; body: Buffer }> {
  const parser = new MessageParser('client', 16_384, 'GET');
  const chunks = await lastValueFrom(stream.data$.pipe(toArray(), timeout(ms)));
  let status = 0;
  const body: Uint8Array[] = [];
  for (const chunk of chunks) {
    for (const e of parser.push(chunk)) {
      if (e.type === 'head') status = e.head.status;
      else if (e.type === 'data') body.push(e.bytes);
    }
  }
  parser.end();
  return { status, body: Buffer.concat(body) };
}
