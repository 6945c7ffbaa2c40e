/**
 * Byte surgery on plaintext TLS flights for TLS 1.2 tests: split a transmitted chunk into records and handshake
 * messages, rewrite a hello's random or extensions, and put the flight back together.
 */
import { plainRecord } from '../../src/tls/record.js';

/** One record as framed on the wire. */
export interface WireRecord {
  readonly type: number;
  readonly body: Uint8Array;
}

/** Split a chunk of whole records. */
export function splitRecords(data: Uint8Array): WireRecord[] {
  const out: WireRecord[] = [];
  for (let o = 0; o < data.length; ) {
    const len = (data[o + 3]! << 8) | data[o + 4]!;
    out.push({ type: data[o]!, body: data.subarray(o + 5, o + 5 + len) });
    o += 5 + len;
  }
  return out;
}

/** Plaintext records back into one chunk. */
export function joinRecords(records: readonly WireRecord[]): Uint8Array {
  return Buffer.concat(records.map((r) => plainRecord(r.type, r.body)));
}

/** Whole handshake messages (4-byte header included) of a record body. */
export function splitMessages(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < body.length; ) {
    const len = (body[o + 1]! << 16) | (body[o + 2]! << 8) | body[o + 3]!;
    out.push(body.subarray(o, o + 4 + len));
    o += 4 + len;
  }
  return out;
}

/** An extension as it lies in a hello. */
export interface RawExt {
  readonly type: number;
  readonly data: Uint8Array;
}

/** Where a hello's fields are: the random (offset 6 of the message) and the extension block. */
function helloLayout(msg: Uint8Array): { extStart: number } {
  let o = 4 + 2 + 32;
  o += 1 + msg[o]!; // session id
  if (msg[0] === 1) {
    o += 2 + ((msg[o]! << 8) | msg[o + 1]!); // cipher suites
    o += 1 + msg[o]!; // compression methods
  } else {
    o += 3; // cipher suite, compression method
  }
  return { extStart: o };
}

/** A hello's extensions in wire order. */
export function helloExtensions(msg: Uint8Array): RawExt[] {
  const { extStart } = helloLayout(msg);
  const end = extStart + 2 + ((msg[extStart]! << 8) | msg[extStart + 1]!);
  const out: RawExt[] = [];
  for (let o = extStart + 2; o < end; ) {
    const type = (msg[o]! << 8) | msg[o + 1]!;
    const len = (msg[o + 2]! << 8) | msg[o + 3]!;
    out.push({ type, data: msg.subarray(o + 4, o + 4 + len) });
    o += 4 + len;
  }
  return out;
}

/** A ClientHello or ServerHello message with its extension list rewritten by `edit`. */
export function editHelloExtensions(msg: Uint8Array, edit: (exts: RawExt[]) => RawExt[]): Uint8Array {
  const { extStart } = helloLayout(msg);
  const exts = edit(helloExtensions(msg));
  const block = Buffer.concat(exts.map((e) => Buffer.concat([Buffer.from([e.type >> 8, e.type & 0xff, e.data.length >> 8, e.data.length & 0xff]), e.data])));
  const body = Buffer.concat([msg.subarray(4, extStart), Buffer.from([block.length >> 8, block.length & 0xff]), block]);
  return Buffer.concat([Buffer.from([msg[0]!, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
}

/** A hello message with bytes 24..32 of its random replaced. */
export function withRandomTail(msg: Uint8Array, tail: Uint8Array): Uint8Array {
  const out = Uint8Array.from(msg);
  out.set(tail, 4 + 2 + 24);
  return out;
}

/**
 * Rewrite the first handshake message of a plaintext flight (a ClientHello or ServerHello, with whatever follows
 * it in the same record) and return the flight.
 */
export function rewriteFirstMessage(flight: Uint8Array, rewrite: (msg: Uint8Array) => Uint8Array): Uint8Array {
  const records = splitRecords(flight);
  const first = records[0]!;
  const [msg, ...rest] = splitMessages(first.body);
  const body = Buffer.concat([rewrite(msg!), ...rest]);
  return joinRecords([{ type: first.type, body }, ...records.slice(1)]);
}
