/**
 * Write-side backpressure in the QUIC reducer: a stream's unsent bytes (written, not yet in a STREAM frame) and
 * the `sendBuffer` facts that say when they reach `sendHighWaterMark` and when they fall to half of it. The
 * stream set alone against a model (fast-check), and a writer that follows the facts against a slow reader over
 * a virtual-time pair, counting bytes at every step.
 */
import test from 'ava';
import fc from 'fast-check';
import { TlsError } from '../../src/core/errors.js';
import { createQuicConnection, type QuicEffect } from '../../src/quic/connection.js';
import {
  newStreamSet,
  peerLimitsKnown,
  resetStream,
  sendBufferFacts,
  streamSendBuffer,
  takeStreamFrames,
  writeStream,
  type StreamSettings,
} from '../../src/quic/streams.js';
import type { TransportParameters } from '../../src/wire/quic/transportParameters.js';
import { caVerifier } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';

const KB = 1024;
const cfg: StreamSettings = { role: 'client', maxData: 1 << 20, maxStreamData: 1 << 18, maxStreams: 100 };
const peer: TransportParameters = { initialMaxData: 1 << 30, initialMaxStreamDataBidiRemote: 1 << 30, initialMaxStreamsBidi: 100 };
type SendBuffer = Extract<QuicEffect, { type: 'sendBuffer' }>;
const facts = (effects: readonly QuicEffect[]) => effects.filter((e): e is SendBuffer => e.type === 'sendBuffer');

test('sendBuffer: full at the mark, free again only at half of it, one fact per change, none for a flip back in the same step', (t) => {
  const x = newStreamSet(cfg.maxData, 10 * KB);
  peerLimitsKnown(x, peer);
  const step = (f: () => void): SendBuffer[] => {
    f();
    const out: QuicEffect[] = [];
    sendBufferFacts(x, out);
    return facts(out);
  };
  t.deepEqual(step(() => writeStream(x, cfg, peer, 0, new Uint8Array(9 * KB))), [], 'under the mark: no fact');
  t.deepEqual(step(() => writeStream(x, cfg, peer, 0, new Uint8Array(KB))), [{ type: 'sendBuffer', stream: 0, unsent: 10 * KB, full: true }]);
  t.deepEqual(step(() => writeStream(x, cfg, peer, 0, new Uint8Array(KB))), [], 'still full: no second fact');
  t.deepEqual(step(() => takeStreamFrames(x, 5 * KB)), [], '6 KiB unsent: between half and the mark, still full');
  t.deepEqual(streamSendBuffer(x, 0), { unsent: 6 * KB, full: true });
  t.deepEqual(step(() => takeStreamFrames(x, KB)), [{ type: 'sendBuffer', stream: 0, unsent: 5 * KB, full: false }]);
  // Filled and emptied within one step: no net change, so no fact.
  t.deepEqual(
    step(() => {
      writeStream(x, cfg, peer, 0, new Uint8Array(20 * KB));
      takeStreamFrames(x);
    }),
    [],
  );
  t.deepEqual(streamSendBuffer(x, 0), { unsent: 0, full: false });
  // A reset stream's writes are over: its buffer is emptied without a fact.
  t.deepEqual(step(() => writeStream(x, cfg, peer, 4, new Uint8Array(12 * KB))), [{ type: 'sendBuffer', stream: 4, unsent: 12 * KB, full: true }]);
  t.deepEqual(step(() => resetStream(x, cfg, peer, 4, 7n, [])), []);
  t.deepEqual(streamSendBuffer(x, 4), { unsent: 0, full: false });
});

test('sendBuffer (property): unsent bytes are what was written less what was taken; `full` follows the mark with its half-mark hysteresis; the facts replay it', (t) => {
  const op = fc.oneof(
    fc.record({ write: fc.integer({ min: 0, max: 5000 }), stream: fc.constantFrom(0, 4, 8) }),
    fc.record({ take: fc.integer({ min: 0, max: 8000 }) }),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6000 }), fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { maxLength: 40 }), (mark, steps) => {
        const x = newStreamSet(cfg.maxData, mark);
        peerLimitsKnown(x, peer);
        const model = new Map<number, { unsent: number; full: boolean }>();
        const seen = new Map<number, boolean>(); // `full` as the facts told it
        for (const ops of steps) {
          for (const o of ops) {
            if ('write' in o) {
              writeStream(x, cfg, peer, o.stream, new Uint8Array(o.write));
              const m = model.get(o.stream) ?? { unsent: 0, full: false };
              m.unsent += o.write;
              if (m.unsent >= mark) m.full = true;
              model.set(o.stream, m);
            } else {
              for (const f of takeStreamFrames(x, o.take)) {
                if (f.type !== 'stream') continue;
                const m = model.get(f.streamId)!;
                m.unsent -= f.data.length;
              }
              for (const m of model.values()) if (m.full && m.unsent <= mark / 2) m.full = false;
            }
          }
          const out: QuicEffect[] = [];
          sendBufferFacts(x, out);
          for (const f of facts(out)) {
            if ((seen.get(f.stream) ?? false) === f.full) return false; // a fact is a change
            seen.set(f.stream, f.full);
          }
          for (const [id, m] of model) {
            const got = streamSendBuffer(x, id);
            if (got.unsent !== m.unsent || got.full !== m.full || (seen.get(id) ?? false) !== m.full) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    ),
  );
});

test('sendHighWaterMark: a positive integer, else API misuse', (t) => {
  const base = { role: 'client' as const, tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] } };
  for (const bad of [0, -1, 1.5, Number.NaN]) t.throws(() => createQuicConnection({ ...base, sendHighWaterMark: bad }), { instanceOf: TlsError, message: /sendHighWaterMark/ });
  t.is(createQuicConnection(base).config.sendHighWaterMark, 256 * KB);
});

/**
 * A writer that writes 1 KiB chunks while its stream is not full (as the `sendBuffer` facts say) against a reader
 * that takes 2 KiB every 5 virtual ms, over a 10 ms link: the reader sets the pace, and the sender's unsent bytes
 * stay within the mark plus one chunk at every step.
 */
test('RFC 9000 §4.1 + sendBuffer: a writer that follows the facts keeps at most the mark + one chunk unsent while a slow reader sets the pace', (t) => {
  const HWM = 16 * KB;
  const CHUNK = KB;
  const TOTAL = 256 * KB;
  const pair = new QuicPair({ sendHighWaterMark: HWM }, { maxStreamData: 32 * KB, maxData: 64 * KB });
  pair.latency = 10;
  pair.autoConsume.server = false;
  let full = false;
  let maxUnsent = 0;
  let factCount = 0;
  let transmits = 0;
  pair.observe = (side, state, effects) => {
    if (side !== 'client') return;
    for (const e of effects) {
      if (e.type === 'transmit') transmits++;
      if (e.type !== 'sendBuffer') continue;
      t.is(e.full, !full, 'each fact is a change');
      full = e.full;
      factCount++;
    }
    maxUnsent = Math.max(maxUnsent, streamSendBuffer(state.streams, 0).unsent);
  };
  pair.start().drive(pair.now + 1000, () => pair.state.client.phase === 'connected' && pair.state.server.phase === 'connected');
  let written = 0;
  let read = 0;
  const start = pair.now;
  for (let ms = 0; read < TOTAL && ms < 60_000; ms++) {
    while (!full && written < TOTAL) {
      pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(CHUNK).fill((written / CHUNK) & 0xff) });
      written += CHUNK;
    }
    if (written === TOTAL && !pair.state.client.streams.byId.get(0)!.txFin) pair.input('client', { type: 'end', now: pair.now, stream: 0 });
    if (ms % 5 === 0) {
      const n = Math.min(pair.bytes('server', 0) - read, 2 * KB);
      if (n > 0) pair.consume('server', 0, n);
      read += n;
    }
    pair.drive(start + ms + 1);
    pair.now = start + ms + 1;
  }
  t.is(read, TOTAL, 'everything was read');
  const got = Buffer.concat(pair.delivered.server.get(0)!);
  t.true(got.every((b, i) => b === (Math.floor(i / CHUNK) & 0xff)), 'in order');
  t.log(`most unsent ${maxUnsent} B, ${factCount} sendBuffer facts, ${transmits} datagrams`);
  t.true(maxUnsent <= HWM + CHUNK, `at most ${maxUnsent} B unsent (bound ${HWM + CHUNK})`);
  t.true(factCount >= 2, 'the writer was held and released');
  // Facts come per crossing (each one half a mark of data apart at least), never per packet.
  t.true(factCount <= 2 * (TOTAL / (HWM / 2)) + 2, `${factCount} facts for ${TOTAL / KB} KiB`);
  // One fact per half a mark (8 KiB) at most, against a datagram per 1.2–1.45 KiB: a small fraction of the packets.
  t.true(factCount * 4 < transmits, `${factCount} facts, ${transmits} datagrams`);
});

test('without following the facts the unsent bytes grow with the writer: the reducer never refuses a write', (t) => {
  const pair = new QuicPair({ sendHighWaterMark: 16 * KB }, { maxStreamData: 32 * KB, maxData: 64 * KB });
  pair.autoConsume.server = false;
  pair.start().drive(pair.now + 1000, () => pair.state.client.phase === 'connected' && pair.state.server.phase === 'connected');
  const effects: QuicEffect[] = [];
  for (let i = 0; i < 256; i++) effects.push(...pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(KB) }));
  pair.drive(pair.now + 200);
  const { unsent, full } = streamSendBuffer(pair.state.client.streams, 0);
  t.true(full);
  t.true(unsent >= 256 * KB - 64 * KB, `${unsent} B unsent: all but what the peer's window let out`);
  t.deepEqual(
    facts(effects).map((f) => f.full),
    [true],
    'one fact when it filled, none for the writes after',
  );
});
