/** Version negotiation (RFC 9000 §6, §17.2.1): the packet, the server's answer, the client's checks. */
import test from 'ava';
import fc from 'fast-check';
import { TlsError } from '../../src/core/errors.js';
import { isQuicConnected } from '../../src/quic/connection.js';
import { encodeVersionNegotiation, GREASE_VERSION, versionNegotiationFor } from '../../src/quic/versionNegotiation.js';
import { decodePacketHeader, QUIC_V1 } from '../../src/wire/quic/packet.js';
import { NOW } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';

const cid = fc.uint8Array({ minLength: 0, maxLength: 20 });

test('RFC 9000 §17.2.1: a Version Negotiation packet encodes and decodes for any IDs and versions (property)', (t) => {
  t.notThrows(() =>
    fc.assert(
    fc.property(cid, cid, fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 127 }), (dcid, scid, versions, unused) => {
      const h = decodePacketHeader(encodeVersionNegotiation({ dcid, scid, versions, unused }), 0, 8);
      return h.form === 'versionNegotiation' && Buffer.from(h.dcid).equals(dcid) && Buffer.from(h.scid).equals(scid) && h.versions.join() === versions.join();
    }),
    ),
  );
});

/** A 1200-byte datagram opening with a long header of `version`. */
function longHeaderDatagram(version: number, dcid: Uint8Array, scid: Uint8Array, size = 1200): Uint8Array {
  const d = new Uint8Array(size);
  d[0] = 0xc0;
  new DataView(d.buffer).setUint32(1, version);
  d[5] = dcid.length;
  d.set(dcid, 6);
  d[6 + dcid.length] = scid.length;
  d.set(scid, 7 + dcid.length);
  return d;
}

test('RFC 9000 §6.1: the server answers an unknown version (≥ 1200 B) with v1 and a grease version, IDs swapped; nothing else', (t) => {
  const dcid = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9);
  const scid = Uint8Array.of(10, 11, 12);
  const vn = versionNegotiationFor(longHeaderDatagram(0x1a2a3a4a, dcid, scid))!;
  const h = decodePacketHeader(vn, 0, 8);
  t.is(h.form, 'versionNegotiation');
  if (h.form !== 'versionNegotiation') return;
  t.deepEqual(h.dcid, scid);
  t.deepEqual(h.scid, dcid);
  t.deepEqual(h.versions, [QUIC_V1, GREASE_VERSION]);
  t.is((GREASE_VERSION & 0x0f0f0f0f) >>> 0, 0x0a0a0a0a, 'RFC 9000 §15: 0x?a?a?a?a');
  t.true(vn.length < 1200);
  t.is(versionNegotiationFor(longHeaderDatagram(0x1a2a3a4a, dcid, scid, 1199)), null, 'under 1200 bytes');
  t.is(versionNegotiationFor(longHeaderDatagram(QUIC_V1, dcid, scid)), null, 'a version we speak');
  t.is(versionNegotiationFor(longHeaderDatagram(0, dcid, scid)), null, 'never answer a Version Negotiation');
  const short = longHeaderDatagram(0x1a2a3a4a, dcid, scid);
  short[0] = 0x40;
  t.is(versionNegotiationFor(short), null, 'a short header');
  // Connection IDs of other versions may be longer than 20 bytes: echoed.
  const long = versionNegotiationFor(longHeaderDatagram(0x1a2a3a4a, new Uint8Array(40).fill(7), scid))!;
  t.is(long[6 + scid.length]!, 40);
});

/** A client offering `version`, and the datagram of its first Initial. */
function offering(version: number) {
  const pair = new QuicPair({ version });
  pair.drop = () => true;
  pair.input('client', { type: 'start', now: pair.now });
  return { pair, first: pair.datagrams.client[0]! };
}

test('RFC 9000 §6.2: a client offered none of its versions fails at once with a typed error (not the idle timeout)', (t) => {
  const { pair, first } = offering(0x1a2a3a4a);
  t.is(new DataView(first.buffer, first.byteOffset).getUint32(1), 0x1a2a3a4a);
  const effects = pair.input('client', { type: 'datagram', now: pair.now, data: versionNegotiationFor(first)! });
  const closed = effects.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error instanceof TlsError);
  t.like(closed?.type === 'closed' ? closed.error?.detail : undefined, { kind: 'peerIncompatible', alert: 70 });
  t.regex(closed?.type === 'closed' ? closed.error!.message : '', /0x00000001/);
  t.is(effects.filter((e) => e.type === 'transmit').length, 0, 'nothing sent');
  t.is(pair.now, NOW);
});

test('RFC 9000 §6.2: a Version Negotiation listing the version in use, or with other connection IDs, is discarded', (t) => {
  const { pair, first } = offering(0x1a2a3a4a);
  const h = decodePacketHeader(versionNegotiationFor(first)!, 0, 8);
  if (h.form !== 'versionNegotiation') return t.fail();
  const listing = encodeVersionNegotiation({ dcid: h.dcid, scid: h.scid, versions: [0x1a2a3a4a, QUIC_V1] });
  t.deepEqual(pair.input('client', { type: 'datagram', now: pair.now, data: listing }), []);
  const stranger = encodeVersionNegotiation({ dcid: Uint8Array.of(1), scid: h.scid, versions: [QUIC_V1] });
  t.deepEqual(pair.input('client', { type: 'datagram', now: pair.now, data: stranger }), []);
  t.is(pair.state.client.phase, 'handshake');
});

test('RFC 9000 §6.2: a Version Negotiation after another packet was processed is discarded', (t) => {
  const pair = new QuicPair().start().settle();
  t.true(isQuicConnected(pair.state.client));
  const c = pair.state.client;
  const vn = encodeVersionNegotiation({ dcid: c.scid, scid: c.originalDcid, versions: [0x0b0b0b0b] });
  t.deepEqual(pair.input('client', { type: 'datagram', now: pair.now, data: vn }), []);
  t.true(isQuicConnected(pair.state.client));
});
