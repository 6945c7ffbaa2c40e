/**
 * Flights (src/dtls/flight.ts): packing to the MTU and applying ACKs, as properties over random messages, MTUs
 * and ACK subsets.
 */
import test from 'ava';
import fc from 'fast-check';
import { applyAck, flightAcked, newFlight, packFlight, splitMessages, type Flight } from '../../src/dtls/flight.js';
import { Reader } from '../../src/wire/reader.js';
import { decodeDtlsHandshakeFragments } from '../../src/wire/dtls/handshake.js';
import { decodeDtlsPlaintext } from '../../src/wire/dtls/record.js';

/** A plaintext "sealer": DTLSPlaintext records (13-byte header) numbered per epoch, so tests can decode them. */
function plainSealer() {
  const seqs = new Map<number, number>();
  return (epoch: number, type: number, content: Uint8Array) => {
    const seq = seqs.get(epoch) ?? 0;
    seqs.set(epoch, seq + 1);
    const out = new Uint8Array(13 + content.length);
    out[0] = type;
    out[1] = 0xfe;
    out[2] = 0xfd;
    out[3] = epoch >> 8;
    out[4] = epoch & 0xff;
    out[9] = (seq >> 8) & 0xff;
    out[10] = seq & 0xff;
    out[11] = content.length >> 8;
    out[12] = content.length & 0xff;
    out.set(content, 13);
    return { bytes: out, seq };
  };
}

const messageArb = fc.record({ epoch: fc.constantFrom(0, 2, 3), msgType: fc.integer({ min: 1, max: 30 }), body: fc.uint8Array({ maxLength: 3000 }) });

function flightOf(msgs: { epoch: number; msgType: number; body: Uint8Array }[]): Flight {
  return newFlight(msgs.map((m, i) => ({ ...m, msgSeq: i })), true);
}

/** Reassemble every message body from the datagrams (fragments may come in any split). */
function bodies(datagrams: Uint8Array[]): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const d of datagrams) {
    const r = new Reader(d);
    while (r.remaining > 0) {
      const rec = decodeDtlsPlaintext(r);
      for (const f of decodeDtlsHandshakeFragments(rec.fragment)) {
        const b = out.get(f.messageSeq) ?? new Uint8Array(f.length);
        b.set(f.body, f.fragmentOffset);
        out.set(f.messageSeq, b);
      }
    }
  }
  return out;
}

test('property: a packed flight fits the MTU and carries every message byte', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 256, max: 1500 }), (msgs, mtu) => {
        const packed = packFlight(flightOf(msgs), mtu, () => 13, plainSealer(), 22);
        if (packed.datagrams.some((d) => d.length > mtu)) return false;
        const got = bodies(packed.datagrams);
        return msgs.every((m, i) => Buffer.from(got.get(i) ?? []).equals(Buffer.from(m.body)));
      }),
      { numRuns: 200 },
    ),
  );
});

test('property: ACKing every record acknowledges the flight; ACKing a subset leaves exactly the rest to resend', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 256, max: 1500 }), fc.array(fc.boolean(), { maxLength: 100 }), (msgs, mtu, mask) => {
        const seal = plainSealer();
        const packed = packFlight(flightOf(msgs), mtu, () => 13, seal, 22);
        const all = packed.flight.records.map((r) => ({ epoch: r.epoch, seq: r.seq }));
        if (!flightAcked(applyAck(packed.flight, all).flight)) return false;
        const some = all.filter((_, i) => mask[i] ?? false);
        const partial = applyAck(packed.flight, some).flight;
        const again = packFlight(partial, mtu, () => 13, seal, 22);
        // Everything still unacknowledged is resent; after ACKing the resend too, the flight is done.
        const rest = again.flight.records.slice(packed.flight.records.length).map((r) => ({ epoch: r.epoch, seq: r.seq }));
        if (some.length === all.length && rest.length !== 0) return false; // nothing left: nothing resent
        return flightAcked(applyAck(again.flight, rest).flight);
      }),
      { numRuns: 200 },
    ),
  );
});

test('ACKs of records never sent, or sent in another epoch, change nothing', (t) => {
  const packed = packFlight(flightOf([{ epoch: 2, msgType: 11, body: new Uint8Array(2000) }]), 600, () => 22, plainSealer(), 22);
  const { flight, newly } = applyAck(packed.flight, [{ epoch: 3, seq: 0 }, { epoch: 2, seq: 99 }]);
  t.is(newly, 0);
  t.false(flightAcked(flight));
});

test('splitMessages cuts the engine output into messages and refuses a torn one', (t) => {
  const two = Uint8Array.of(20, 0, 0, 2, 9, 9, 24, 0, 0, 1, 0);
  t.deepEqual(splitMessages(two).map((m) => [m.msgType, m.body.length]), [[20, 2], [24, 1]]);
  t.throws(() => splitMessages(two.subarray(0, 5)), { instanceOf: RangeError });
});
