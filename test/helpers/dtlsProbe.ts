/**
 * Shared pieces of the DTLS conformance probes (test/dtls/conformance12.test.ts, conformance13.test.ts,
 * conformance13b.test.ts): feed a crafted datagram, read the fatal alerts a side sent, check that a connection
 * still works; and for DTLS 1.3, build fragments and ACKs, seal records with a side's real write keys (unified
 * header shaped at will), and open what a side sent with the other's read keys.
 */
import type { ExecutionContext } from 'ava';
import { isDtlsClosed, isDtlsConnected, type DtlsState } from '../../src/dtls/connection.js';
import type { DtlsEffect } from '../../src/dtls/types.js';
import { recordNonceOf, type EpochKeys, type WriteEpoch } from '../../src/dtls/epochs.js';
import { createReplayWindow } from '../../src/dtls/replayWindow.js';
import { protectRecordNumber, unprotectRecordNumber } from '../../src/wire/dtls/recordNumberProtection.js';
import { decodeDtlsRecord, reconstructSequenceNumber } from '../../src/wire/dtls/record.js';
import { decodeDtlsHandshakeFragments, type DtlsHandshakeFragment } from '../../src/wire/dtls/handshake.js';
import { Reader } from '../../src/wire/reader.js';
import { AlertLevel } from '../../src/wire/tls/constants.js';
import { DtlsPair, type Side } from './dtlsPair.js';
import { TlsError } from '../../src/core/errors.js';
import { str, text } from './pair.js';

/** The fatal alerts `side` sent, in order. */
export const fatalAlerts = (p: DtlsPair, side: Side): number[] =>
  p.effects[side].flatMap((e) => (e.type === 'alertSent' && e.level === AlertLevel.fatal ? [e.description] : []));

/** Feed one datagram to `side` (it never throws); its effects. */
export function inject(t: ExecutionContext, p: DtlsPair, side: Side, data: Uint8Array): readonly DtlsEffect[] {
  let effects: readonly DtlsEffect[] = [];
  t.notThrows(() => (effects = p.input(side, { type: 'datagram', data })));
  return effects;
}

/** `side` is connected, sent no fatal alert and did not close. */
export function assertAlive(t: ExecutionContext, p: DtlsPair, side: Side): void {
  t.deepEqual(fatalAlerts(p, side), [], `${side} sent no fatal alert`);
  t.false(isDtlsClosed(p[side]), `${side} is not closed`);
  t.true(isDtlsConnected(p[side]), `${side} is connected`);
}

/** A DTLS 1.3 pair, handshake done. */
export function connectedPair(client = {}, server = {}): DtlsPair {
  const p = new DtlsPair(client, server);
  p.start();
  p.run();
  if (!isDtlsConnected(p.client) || !isDtlsConnected(p.server)) throw new Error('handshake did not complete');
  return p;
}

/** `side` sent exactly one fatal alert, one of `allowed`, and closed with a TlsError carrying it. */
export function assertFatal(t: ExecutionContext, p: DtlsPair, side: Side, allowed: readonly number[]): void {
  const alerts = fatalAlerts(p, side);
  const closed = p.effects[side].find((e) => e.type === 'closed');
  const err = closed?.type === 'closed' ? closed.error : undefined;
  t.is(alerts.length, 1, `fatal alerts [${alerts.join(',')}]; ${err?.message ?? 'not closed'}`);
  t.true(allowed.includes(alerts[0]!), `alert ${alerts[0]} not one of [${allowed.join(',')}] (${err?.message})`);
  t.true(isDtlsClosed(p[side]), `${side} closed`);
  t.true(err instanceof TlsError && err.alert === alerts[0], 'closed with a TlsError carrying the alert');
}

/** Application data both ways over a link that delivers everything again: the connection (still) works. */
export function exchange(t: ExecutionContext, p: DtlsPair, tag: string): void {
  p.filter = () => 'deliver';
  p.input('client', { type: 'write', data: text(`ping ${tag}`) });
  p.input('server', { type: 'write', data: text(`pong ${tag}`) });
  p.run(p.now + 2_000);
  t.is(str(p.delivered.server.slice(-1)), `ping ${tag}`, 'the server receives');
  t.is(str(p.delivered.client.slice(-1)), `pong ${tag}`, 'the client receives');
}

// ---------------------------------------------------------------------------------------------------------------
// DTLS 1.3 records, built and opened

export const HANDSHAKE = 22;
export const APPLICATION_DATA = 23;
export const ACK = 26;
export const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

export const cat = (...parts: ArrayLike<number>[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
export const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
export const u24 = (v: number) => [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
export const u64 = (v: number) => [0, 0, ...u16(Math.floor(v / 2 ** 32)), (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

/** A DTLS handshake fragment: 12-byte header and body. */
export const fragment = (f: { type: number; length: number; msgSeq: number; offset: number; body: ArrayLike<number> }): Uint8Array =>
  cat([f.type], u24(f.length), u16(f.msgSeq), u24(f.offset), u24(f.body.length), f.body);

/** ACK content (RFC 9147 §7): record_numbers<0..2^16-1>, each epoch(8) sequence_number(8). */
export const ackContent = (list: readonly { epoch: number; seq: number }[]): Uint8Array =>
  cat(u16(list.length * 16), ...list.map((r) => [...u64(r.epoch), ...u64(r.seq)]));

export interface SealOptions {
  /** 1 or 2 bytes of sequence number (the S bit). Default 2. */
  readonly seqLen?: 1 | 2;
  /** The L bit. Default true. */
  readonly lengthPresent?: boolean;
  /** Epoch bits in the header; default the keys' epoch & 3. */
  readonly epochBits?: number;
  /** Record-number encryption: 'ok' (default), 'none' (sequence number in the clear), or another key. */
  readonly mask?: 'ok' | 'none' | Uint8Array;
}

/** Seal a DTLSCiphertext under `k` at sequence number `seq` with a unified header shaped by `o`. */
export function sealWith(p: DtlsPair, k: EpochKeys, seq: number, type: number, content: ArrayLike<number>, o: SealOptions = {}): Uint8Array {
  const seqLen = o.seqLen ?? 2;
  const lengthPresent = o.lengthPresent ?? true;
  const inner = cat(content, [type]);
  const ctLen = inner.length + 16;
  const first = 0x20 | (seqLen === 2 ? 0x08 : 0) | (lengthPresent ? 0x04 : 0) | ((o.epochBits ?? k.epoch) & 3);
  const header = cat([first], seqLen === 2 ? u16(seq & 0xffff) : [seq & 0xff], lengthPresent ? u16(ctLen) : []);
  const sealed = k.aead.seal(recordNonceOf(k, seq), header, inner);
  const provider = p.client.config.provider;
  const mask = o.mask ?? 'ok';
  const wire = mask === 'none' ? header : protectRecordNumber(provider, k.alg, mask === 'ok' ? k.snKey : mask, header, sealed);
  return cat(wire, sealed);
}

/** The write keys `side` holds for `epoch`. */
export function writeKeys(p: DtlsPair, side: Side, epoch: number): WriteEpoch {
  const w = p[side].writes.find((e) => e.epoch === epoch);
  if (!w) throw new Error(`${side} holds no write keys for epoch ${epoch} (has ${p[side].writes.map((e) => e.epoch).join(',')})`);
  return w;
}

/** Take `n` sequence numbers of `side`'s write epoch `epoch`, as if it had sent those records. */
export function takeSeq(p: DtlsPair, side: Side, epoch: number, n = 1): number {
  const seq = writeKeys(p, side, epoch).seq;
  p[side] = { ...p[side], writes: p[side].writes.map((w) => (w.epoch === epoch ? { ...w, seq: w.seq + n } : w)) };
  return seq;
}

/** A record `side` could have sent under `epoch` (its real keys, its next sequence number). */
export function peerRecord(p: DtlsPair, side: Side, epoch: number, type: number, content: ArrayLike<number>, o: SealOptions = {}): Uint8Array {
  const k = writeKeys(p, side, epoch);
  return sealWith(p, k, takeSeq(p, side, epoch), type, content, o);
}

export interface Opened {
  readonly epoch: number;
  readonly seq: number;
  readonly type: number;
  readonly content: Uint8Array;
}

/**
 * Open every record of a datagram with `receiver`'s read keys (fresh replay windows, so it works for records
 * already delivered), without changing any state. Records it cannot open are left out.
 */
export function openAll(receiver: DtlsState, datagram: Uint8Array): Opened[] {
  const out: Opened[] = [];
  const r = new Reader(datagram);
  while (r.remaining > 0) {
    let rec;
    try {
      rec = decodeDtlsRecord(r);
    } catch {
      break;
    }
    if (rec.kind === 'connectionId') break;
    if (rec.kind === 'plaintext') {
      out.push({ epoch: rec.epoch, seq: rec.sequenceNumber, type: rec.type, content: rec.fragment });
      continue;
    }
    for (const k of receiver.reads.filter((e) => (e.epoch & 3) === rec.epochBits)) {
      const un = unprotectRecordNumber(receiver.config.provider, k.alg, k.snKey, rec);
      if (!un) continue;
      const seq = reconstructSequenceNumber(createReplayWindow(64).top, un.sequenceLow, un.bits);
      const inner = k.aead.open(recordNonceOf(k, seq), un.header, rec.encryptedRecord);
      if (!inner) continue;
      let end = inner.length - 1;
      while (end >= 0 && inner[end] === 0) end--;
      out.push({ epoch: k.epoch, seq, type: inner[end]!, content: inner.slice(0, end) });
      break;
    }
  }
  return out;
}

/** Every record in `datagrams` sent by `from`, opened with the other side's keys. */
export const openedFrom = (p: DtlsPair, from: Side, datagrams: readonly Uint8Array[]): Opened[] => datagrams.flatMap((d) => openAll(p[other(from)], d));

export const handshakeFragments = (records: readonly Opened[]): (DtlsHandshakeFragment & { epoch: number; seq: number })[] =>
  records.filter((r) => r.type === HANDSHAKE).flatMap((r) => decodeDtlsHandshakeFragments(r.content).map((f) => ({ ...f, epoch: r.epoch, seq: r.seq })));

export const transmits = (effects: readonly DtlsEffect[]): Uint8Array[] => effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : []));
