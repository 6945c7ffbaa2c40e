/**
 * Flights of handshake messages (RFC 9147 §5.7, §5.8, §7): what we sent, which byte ranges of each message the
 * peer acknowledged, and which records carried which ranges. A flight is packed into datagrams of at most the
 * path MTU, each message cut into fragments (§5.5) and each fragment sent as one record; a retransmission sends
 * only what no ACK covered yet (§5.8.1, SENDING state), in new records with new record numbers.
 *
 * Values are immutable: every function returns a new flight.
 */
import { Writer } from '../wire/writer.js';
import { DTLS_HANDSHAKE_HEADER_LENGTH, encodeDtlsHandshakeFragment } from '../wire/dtls/handshake.js';
import type { ByteRange } from './reassembly.js';

/** One handshake message of a flight, body without header, and what of it the peer acknowledged. */
export interface FlightMessage {
  /** The epoch it is sent under, always the same for retransmissions (RFC 9147 §4.2.1). */
  readonly epoch: number;
  readonly msgSeq: number;
  readonly msgType: number;
  readonly body: Uint8Array;
  /** Acknowledged byte ranges of `body`, disjoint and sorted. */
  readonly acked: readonly ByteRange[];
  /** The whole message was acknowledged (also for an empty body). */
  readonly done: boolean;
  /**
   * DTLS 1.2: not a handshake message but the ChangeCipherSpec record (RFC 6347 §4.1: content type 20, `body` the
   * single byte 1), sent in its place in the flight and with it again (`msgSeq` -1: it takes no message_seq).
   */
  readonly ccs?: boolean;
}

/** A record we sent with flight data: its record number and the message ranges it carried. */
export interface SentRecord {
  readonly epoch: number;
  readonly seq: number;
  readonly msg: number;
  readonly start: number;
  readonly end: number;
}

/** Our outstanding flight. */
export interface Flight {
  readonly messages: readonly FlightMessage[];
  /** The most recent records that carried this flight, oldest first (at most {@link MAX_SENT_RECORDS}). */
  readonly records: readonly SentRecord[];
  /**
   * A handshake flight is acknowledged implicitly by the peer's next flight (§5.8.1, "receive next flight");
   * post-handshake messages (NewSessionTicket, KeyUpdate) only by an ACK (§5.8.4).
   */
  readonly implicitAck: boolean;
  /** How many times it was sent (1 after the first transmission). */
  readonly transmissions: number;
}

/** Records remembered per flight for matching ACKs: ample for any flight and its retransmissions. */
export const MAX_SENT_RECORDS = 512;
/** The change_cipher_spec content type (RFC 5246 §6.2.1). */
const CHANGE_CIPHER_SPEC = 20;
/** A fragment shorter than this is not started at the end of a datagram: the next datagram takes it whole. */
const MIN_FRAGMENT = 64;

/** Seals one record of `type` with `content` at `epoch`; returns its bytes and sequence number. */
export type RecordSealer = (epoch: number, type: number, content: Uint8Array) => { readonly bytes: Uint8Array; readonly seq: number };

/** Split TLS-form handshake bytes (the engine's `send` data: whole messages) into messages. */
export function splitMessages(data: Uint8Array): { msgType: number; body: Uint8Array }[] {
  const out: { msgType: number; body: Uint8Array }[] = [];
  let off = 0;
  while (off < data.length) {
    if (data.length - off < 4) throw new RangeError('handshake bytes end inside a message header');
    const len = (data[off + 1]! << 16) | (data[off + 2]! << 8) | data[off + 3]!;
    if (off + 4 + len > data.length) throw new RangeError('handshake bytes end inside a message');
    out.push({ msgType: data[off]!, body: data.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  return out;
}

/** A new flight of `messages` (numbered already), nothing sent yet. */
export function newFlight(messages: readonly Omit<FlightMessage, 'acked' | 'done'>[], implicitAck: boolean): Flight {
  return { messages: messages.map((m) => ({ ...m, acked: [], done: false })), records: [], implicitAck, transmissions: 0 };
}

/** `flight` with more messages (a post-handshake message while another is outstanding: §5.8.4's machines share one flight here). */
export function extendFlight(flight: Flight, messages: readonly Omit<FlightMessage, 'acked' | 'done'>[], implicitAck: boolean): Flight {
  return { ...flight, messages: [...flight.messages, ...messages.map((m) => ({ ...m, acked: [], done: false }))], implicitAck: flight.implicitAck && implicitAck };
}

/** Whether every message of the flight was acknowledged. */
export const flightAcked = (f: Flight): boolean => f.messages.every((m) => m.done);

/** The unacknowledged ranges of a message (one empty range for an unacknowledged empty message). */
function gaps(m: FlightMessage): ByteRange[] {
  if (m.done) return [];
  if (m.body.length === 0) return [{ start: 0, end: 0 }];
  const out: ByteRange[] = [];
  let at = 0;
  for (const r of m.acked) {
    if (r.start > at) out.push({ start: at, end: r.start });
    at = Math.max(at, r.end);
  }
  if (at < m.body.length) out.push({ start: at, end: m.body.length });
  return out;
}

/**
 * Pack what is unacknowledged of `flight` into datagrams of at most `mtu` bytes: each fragment one record,
 * records packed in order. `overhead(epoch)` is a record's size beyond its content at that epoch (13 for a
 * DTLSPlaintext, 22 for our DTLSCiphertext). Returns the datagrams and the flight with the records remembered.
 */
export function packFlight(
  flight: Flight,
  mtu: number,
  overhead: (epoch: number) => number,
  seal: RecordSealer,
  handshakeType: number,
): { readonly datagrams: Uint8Array[]; readonly flight: Flight } {
  const datagrams: Uint8Array[] = [];
  const records: SentRecord[] = [];
  let parts: Uint8Array[] = [];
  let size = 0;
  const flush = (): void => {
    if (parts.length === 0) return;
    const d = new Uint8Array(size);
    let o = 0;
    for (const p of parts) {
      d.set(p, o);
      o += p.length;
    }
    datagrams.push(d);
    parts = [];
    size = 0;
  };
  flight.messages.forEach((m, index) => {
    if (m.ccs) {
      if (m.done) return;
      const sealed = seal(m.epoch, CHANGE_CIPHER_SPEC, m.body);
      if (parts.length > 0 && size + sealed.bytes.length > mtu) flush();
      parts.push(sealed.bytes);
      size += sealed.bytes.length;
      records.push({ epoch: m.epoch, seq: sealed.seq, msg: index, start: 0, end: m.body.length });
      return;
    }
    for (const gap of gaps(m)) {
      let at = gap.start;
      do {
        const fixed = overhead(m.epoch) + DTLS_HANDSHAKE_HEADER_LENGTH;
        let room = mtu - size - fixed;
        const want = gap.end - at;
        if (parts.length > 0 && room < Math.min(want, MIN_FRAGMENT)) {
          flush();
          room = mtu - fixed;
        }
        const n = Math.max(0, Math.min(want, room));
        const w = new Writer(DTLS_HANDSHAKE_HEADER_LENGTH + n);
        encodeDtlsHandshakeFragment(w, { msgType: m.msgType, length: m.body.length, messageSeq: m.msgSeq, fragmentOffset: at, body: m.body.subarray(at, at + n) });
        const sealed = seal(m.epoch, handshakeType, w.finish());
        parts.push(sealed.bytes);
        size += sealed.bytes.length;
        records.push({ epoch: m.epoch, seq: sealed.seq, msg: index, start: at, end: at + n });
        at += n;
      } while (at < gap.end);
    }
  });
  flush();
  const all = [...flight.records, ...records];
  return {
    datagrams,
    flight: { ...flight, records: all.length > MAX_SENT_RECORDS ? all.slice(all.length - MAX_SENT_RECORDS) : all, transmissions: flight.transmissions + 1 },
  };
}

/** Insert `[start, end)` into sorted disjoint ranges, merging what touches. */
function addRange(ranges: readonly ByteRange[], start: number, end: number): ByteRange[] {
  const out: ByteRange[] = [];
  let s = start;
  let e = end;
  let placed = false;
  for (const r of ranges) {
    if (r.end < s) out.push(r);
    else if (r.start > e) {
      if (!placed) {
        out.push({ start: s, end: e });
        placed = true;
      }
      out.push(r);
    } else {
      s = Math.min(s, r.start);
      e = Math.max(e, r.end);
    }
  }
  if (!placed) out.push({ start: s, end: e });
  return out;
}

/**
 * Apply an ACK (RFC 9147 §7): every listed record number we sent marks the ranges it carried. Record numbers we
 * never sent (or forgot) are ignored. `newly` counts records that acknowledged something not acknowledged before.
 */
export function applyAck(flight: Flight, recordNumbers: readonly { readonly epoch: number; readonly seq: number }[]): { readonly flight: Flight; readonly newly: number } {
  let messages: FlightMessage[] | undefined;
  let newly = 0;
  for (const rn of recordNumbers) {
    for (const rec of flight.records) {
      if (rec.epoch !== rn.epoch || rec.seq !== rn.seq) continue;
      messages ??= [...flight.messages];
      const m = messages[rec.msg]!;
      if (m.done) continue;
      const acked = rec.end > rec.start ? addRange(m.acked, rec.start, rec.end) : m.acked;
      const done = m.body.length === 0 || (acked.length === 1 && acked[0]!.start === 0 && acked[0]!.end === m.body.length);
      if (done || acked.length !== m.acked.length || acked.some((r, i) => r.start !== m.acked[i]!.start || r.end !== m.acked[i]!.end)) newly++;
      messages[rec.msg] = { ...m, acked, done };
    }
  }
  return { flight: messages ? { ...flight, messages } : flight, newly };
}

/** Whether message `msgSeq` of the flight was acknowledged whole. */
export function messageAcked(flight: Flight, msgSeq: number): boolean {
  return flight.messages.some((m) => m.msgSeq === msgSeq && m.done);
}
