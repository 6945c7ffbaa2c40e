/**
 * Issue 15, less main-thread work per record: copies the record layer makes on the receive path. Work is counted
 * (bytes copied through `Uint8Array.prototype.set` / `slice`, where every copy in src/tls is made), never timed.
 * node:crypto opens records natively, so what is counted is the record layer's own copying (and the 12-byte nonce
 * each record's open builds from the IV).
 */
import test from 'ava';
import { Pair } from '../helpers/pair.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import { handleEvents, type TlsState } from '../../src/tls/connection.js';
import type { TlsEffect } from '../../src/tls/types.js';

/** Run `body`, counting the bytes copied by `set` and `slice` on byte arrays meanwhile. */
function countCopies<T>(body: () => T): { result: T; copied: number; copies: number } {
  const proto = Uint8Array.prototype as unknown as { set: (a: ArrayLike<number>, o?: number) => void; slice: (s?: number, e?: number) => Uint8Array };
  const { set, slice } = proto;
  let copied = 0;
  let copies = 0;
  proto.set = function (this: Uint8Array, a: ArrayLike<number>, o?: number) {
    copied += a.length;
    copies++;
    return set.call(this, a, o);
  };
  proto.slice = function (this: Uint8Array, s?: number, e?: number) {
    const out = slice.call(this, s, e);
    copied += out.length;
    copies++;
    return out;
  };
  try {
    return { result: body(), copied, copies };
  } finally {
    proto.set = set;
    proto.slice = slice;
  }
}

/** A connected pair on node:crypto and the ciphertext of `bytes` of application data from client to server. */
function flight(bytes: number): { pair: Pair; wire: Buffer; data: Uint8Array } {
  const pair = new Pair({ provider: nodeProvider }, { provider: nodeProvider }).start().drive();
  const data = new Uint8Array(bytes).map((_, i) => (i * 7) & 0xff);
  pair.input('client', { type: 'write', now: pair.now, data });
  const wire = Buffer.concat(pair.inbox.server.splice(0));
  return { pair, wire, data };
}

/** Feed `wire` to the server in chunks of `size`; the effects of every step. */
function feedChunks(pair: Pair, wire: Uint8Array, size: number): TlsEffect[] {
  let state: TlsState = pair.server;
  const effects: TlsEffect[] = [];
  for (let o = 0; o < wire.length; o += size) {
    const step = handleEvents(state, { type: 'received', now: pair.now, data: wire.subarray(o, o + size) });
    state = step.state;
    effects.push(...step.effects);
  }
  pair.server = state;
  return effects;
}

/** Bytes copied per record to build its nonce (IV ⊕ sequence number, RFC 8446 §5.3). */
const NONCE = 12;
const RECORD = 16384 + 1 + 16 + 5;

const delivered = (effects: readonly TlsEffect[]) => Buffer.concat(effects.flatMap((e) => (e.type === 'deliver' ? [e.data] : [])));

test('a record split across received chunks is copied once (into a buffer of its size), not once per chunk boundary', (t) => {
  const { pair, wire, data } = flight(64 * 16384);
  // 10,007-byte chunks: nearly every 16,406-byte record straddles a boundary, and no chunk completes two records,
  // so no step joins records for its deliver: every copy counted is the record layer assembling split records.
  const { result: effects, copied } = countCopies(() => feedChunks(pair, wire, 10_007));
  t.deepEqual(delivered(effects), Buffer.from(data));
  const records = wire.length / RECORD;
  t.true(copied <= wire.length + NONCE * records, `${copied} bytes copied for ${wire.length} bytes received in ${records} records`);
});

test('a record received one byte at a time is copied once in all (linear, not a growing buffer per byte)', (t) => {
  const { pair, wire, data } = flight(16384);
  const { result: effects, copied, copies } = countCopies(() => feedChunks(pair, wire, 1));
  t.deepEqual(delivered(effects), Buffer.from(data));
  // The header bytes are kept as they come (1 + 2 + 3 + 4 bytes copied, then the header read once), then each
  // byte once, and the nonce.
  t.true(copied <= wire.length + 10 + 5 + 5 + NONCE, `${copied} bytes copied for ${wire.length} bytes received`);
  t.true(copies <= wire.length + 8, `${copies} copies`);
});

test('records that arrive whole are opened where they lie, and a step\'s full records are delivered as opened: no plaintext byte copied', (t) => {
  const { pair, wire, data } = flight(64 * 16384);
  // Four whole records per chunk: nothing is framed across chunks. Each step's four plaintexts become one
  // deliver whose parts are node:crypto's own output buffers (a push consumer gets them as they are); its
  // `data` joins them only when read (a one-chunk-at-a-time consumer: bench/results.md, issue 15).
  const { result: effects, copied } = countCopies(() => feedChunks(pair, wire, 4 * RECORD));
  t.is(copied, NONCE * 64);
  const delivers = effects.flatMap((e) => (e.type === 'deliver' ? [e] : []));
  t.is(delivers.length, 16);
  t.true(delivers.every((e) => e.parts?.length === 4 && e.parts.every((p) => p.length === 16384)));
  t.deepEqual(Buffer.concat(delivers.flatMap((e) => e.parts!)), Buffer.from(data));
  // Read, `data` is the parts joined (once: the same buffer each time).
  const { result: joined, copied: joinCopied } = countCopies(() => delivers.map((e) => e.data));
  t.is(joinCopied, data.length);
  t.deepEqual(Buffer.concat(joined), Buffer.from(data));
  t.true(delivers.every((e, i) => e.data === joined[i]));
});

test('small records of one step are joined into groups of at least 16 KiB, in one deliver, only when read (each byte copied once)', (t) => {
  const pair = new Pair({ provider: nodeProvider }, { provider: nodeProvider }).start().drive();
  const data = new Uint8Array(100 * 1000).map((_, i) => (i * 13) & 0xff);
  for (let o = 0; o < data.length; o += 1000) pair.input('client', { type: 'write', now: pair.now, data: data.subarray(o, o + 1000) });
  const wire = Buffer.concat(pair.inbox.server.splice(0));
  const { result: effects, copied } = countCopies(() => feedChunks(pair, wire, wire.length));
  // Opening copies only the nonces: nothing is joined yet.
  t.is(copied, NONCE * 100);
  const delivers = effects.flatMap((e) => (e.type === 'deliver' ? [e] : []));
  t.is(delivers.length, 1);
  t.is(delivers[0]!.size, data.length, 'the size, known without a join');
  // A one-chunk-at-a-time consumer reads `data`: the records joined once, straight (not the groups, then again).
  const { result: joined, copied: dataCopied } = countCopies(() => delivers[0]!.data);
  t.is(dataCopied, data.length);
  t.deepEqual(Buffer.from(joined), Buffer.from(data));
  // A push consumer reads `parts`: 1,000-byte records joined until a group holds 16 KiB (17 of them), once.
  const { result: parts, copied: partsCopied } = countCopies(() => delivers[0]!.parts!);
  t.is(partsCopied, data.length);
  t.deepEqual(parts.map((p) => p.length), [17_000, 17_000, 17_000, 17_000, 17_000, 15_000]);
  t.deepEqual(Buffer.concat(parts), Buffer.from(data));
});

/** A connected pair on node:crypto whose client writes its records as parts (`transmitParts`) or joined. */
function sender(transmitParts: boolean, tls12 = false): Pair {
  return new Pair({ provider: nodeProvider, transmitParts, ...(tls12 ? { maxVersion: 'TLSv1.2' as const } : {}) }, { provider: nodeProvider }).start().drive();
}

/** Write `data` on the client in one input; its transmit effects' parts. */
function sendParts(pair: Pair, data: Uint8Array): Uint8Array[] {
  const step = handleEvents(pair.client, { type: 'write', now: pair.now, data });
  pair.client = step.state;
  return step.effects.flatMap((e) => (e.type === 'transmitParts' ? [...e.parts] : e.type === 'transmit' ? [e.data] : []));
}

for (const tls12 of [false, true]) {
  test(`sealed records go out as parts (${tls12 ? 'TLS 1.2' : 'TLS 1.3'}): each ciphertext is the cipher's own buffer, only the bytes around it are copied`, (t) => {
    const data = new Uint8Array(4 * 16384 + 100).map((_, i) => (i * 5) & 0xff);
    const joined = sender(false, tls12);
    const parts = sender(true, tls12);
    const a = countCopies(() => sendParts(joined, data));
    const b = countCopies(() => sendParts(parts, data));
    const records = 5;
    // Joined: every ciphertext byte is copied into the flight buffer.
    t.is(a.result.length, 1);
    t.true(a.copied >= data.length, `joined: ${a.copied} bytes copied`);
    // Parts: the header (and TLS 1.2's 8-byte explicit nonce and 13-byte AAD), the trailer byte and the tag,
    // the nonce: at most 13 + 8 + 13 + 1 + 16 + 12 bytes a record, whatever the record's size.
    t.true(b.copied <= records * 63, `parts: ${b.copied} bytes copied for ${data.length} bytes sent`);
    t.log(`copied per byte sent: joined ${(a.copied / data.length).toFixed(4)}, parts ${(b.copied / data.length).toFixed(4)}`);
    t.is(b.result.length, 2 * records + 1); // glue, ciphertext, glue, …, ciphertext, glue (tag ‖ next header merged)
    // The same bytes on the wire, and the peer reads them.
    t.is(Buffer.concat(b.result).length, Buffer.concat(a.result).length); // (different keys: different bytes)
    parts.inbox.server.push(Buffer.concat(b.result));
    parts.drive();
    t.deepEqual(Buffer.concat(parts.delivered.server), Buffer.from(data));
  });
}

test('a proxied byte (open on one connection, write on another) is copied by the record layer once (the deliver join), not twice', (t) => {
  // The proxy's hot path without sockets: the front server opens whole records (chunks of four), each deliver
  // is written to the back client, which seals it as parts. Round 1 copied each byte twice here (the join of a
  // step's records, the flight buffer); the flight buffer is gone. Counted: bytes through Uint8Array set/slice.
  const { pair: front, wire, data } = flight(64 * 16384);
  const back = sender(true);
  const { result: out, copied } = countCopies(() =>
    feedChunks(front, wire, 4 * RECORD).flatMap((e) => (e.type === 'deliver' ? sendParts(back, e.data) : [])),
  );
  t.log(`copied per proxied byte: ${(copied / data.length).toFixed(4)}`);
  t.true(copied <= data.length + 64 * (NONCE + NONCE + 5 + 1 + 16), `${copied} bytes copied for ${data.length} bytes proxied`);
  back.inbox.server.push(Buffer.concat(out));
  back.drive();
  t.deepEqual(Buffer.concat(back.delivered.server), Buffer.from(data));
});

test('a split record stays a value: a state given other bytes later does not change what a newer state assembled', (t) => {
  const { pair, wire, data } = flight(16384);
  const at = (s: TlsState, bytes: Uint8Array) => handleEvents(s, { type: 'received', now: pair.now, data: bytes });
  const s1 = at(pair.server, wire.subarray(0, 6000)).state; // the header and the start of the fragment
  const good = at(s1, wire.subarray(6000, 12_000)).state; // more of it, written into the shared buffer
  const bad = at(s1, Buffer.alloc(6000, 0xee)).state; // s1 again, with other bytes: must not overwrite `good`'s
  const fine = at(good, wire.subarray(12_000));
  t.deepEqual(delivered(fine.effects), Buffer.from(data));
  const broken = at(bad, wire.subarray(12_000));
  t.true(broken.effects.some((e) => e.type === 'closed' && e.error?.detail.kind === 'peerMisbehaved'));
});
