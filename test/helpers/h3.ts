/**
 * The least HTTP/3 (RFC 9114) that the Debian ngtcp2 binaries need to talk to an rxtls QUIC endpoint: a control
 * stream with empty SETTINGS, one GET with a QPACK field section built from static-table references and
 * literals (RFC 9204; no dynamic table, no Huffman), and a response of HEADERS (:status 200) plus DATA. It never
 * decodes the peer's field sections: a test scaffold, not an HTTP/3 implementation.
 */
import { lastValueFrom, timeout, toArray } from 'rxjs';
import type { QuicConnection, QuicStream } from '../../src/rx/quic.js';

const varint = (v: number): number[] => (v < 0x40 ? [v] : v < 0x4000 ? [0x40 | (v >> 8), v & 0xff] : [0x80 | (v >>> 24), (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
const frame = (type: number, payload: readonly number[]): number[] => [...varint(type), ...varint(payload.length), ...payload];
const bytes = (s: string) => [...new TextEncoder().encode(s)];
/** QPACK literal field line with a static name reference (RFC 9204 §4.5.4), value without Huffman; short values. */
const literal = (nameIndex: number, value: string) => [0x50 | nameIndex, value.length, ...bytes(value)];

/** HTTP/3 frame types (RFC 9114 §7.2). */
export const H3 = { DATA: 0x00, HEADERS: 0x01, SETTINGS: 0x04 } as const;
/** H3_NO_ERROR (RFC 9114 §8.1). */
export const H3_NO_ERROR = 0x100n;

/** Open our control stream: stream type 0x00 and an empty SETTINGS frame (RFC 9114 §6.2.1, §7.2.4). */
export function openControlStream(conn: QuicConnection): QuicStream {
  const control = conn.openStream({ uni: true });
  control.write(Uint8Array.from([0x00, ...frame(H3.SETTINGS, [])]));
  return control;
}

/** The HTTP/3 frames of a stream's data: [type, payload]. */
export function parseFrames(data: Uint8Array): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  let i = 0;
  const vi = () => {
    const len = 1 << (data[i]! >> 6);
    let v = data[i]! & 0x3f;
    for (let k = 1; k < len; k++) v = v * 256 + data[i + k]!;
    i += len;
    return v;
  };
  while (i < data.length) {
    const type = vi();
    const len = vi();
    out.push([type, data.subarray(i, i + len)]);
    i += len;
  }
  return out;
}

/** GET `path` over a new request stream; resolves with the body (the DATA frames) and the frame types seen. */
export async function get(conn: QuicConnection, authority: string, path: string, ms: number): Promise<{ body: Buffer; types: number[] }> {
  const req = conn.openStream();
  const done = lastValueFrom(req.data$.pipe(toArray(), timeout(ms)));
  // :method GET (static 17), :scheme https (static 23), :authority (name 0), :path (name 1).
  req.write(Uint8Array.from(frame(H3.HEADERS, [0x00, 0x00, 0xd1, 0xd7, ...literal(0, authority), ...literal(1, path)])));
  req.end();
  const frames = parseFrames(Buffer.concat(await done));
  return { body: Buffer.concat(frames.filter(([t]) => t === H3.DATA).map(([, p]) => p)), types: frames.map(([t]) => t) };
}

/** Answer every request stream the peer opens with 200 and `body`, once its request (HEADERS, FIN) is in. */
export function serve(conn: QuicConnection, body: string): void {
  openControlStream(conn);
  conn.incoming$.subscribe((stream) => {
    if ((stream.id & 2) !== 0) return; // the peer's unidirectional streams (control, QPACK): read and ignored
    stream.data$.subscribe({
      complete: () => {
        // :status 200 is static index 25 (RFC 9204 Appendix A).
        stream.write(Uint8Array.from([...frame(H3.HEADERS, [0x00, 0x00, 0xd9]), ...frame(H3.DATA, bytes(body))]));
        stream.end();
      },
    });
  });
}
