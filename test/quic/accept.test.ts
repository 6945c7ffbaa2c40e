/** The server's check of a client's first Initial (RFC 9000 §7.2, §14.1; RFC 9001 §5.2, §5.5) before any state. */
import test from 'ava';
import { nobleProvider } from '../../src/crypto/noble.js';
import { checkClientInitial } from '../../src/quic/accept.js';
import { createQuicConnection, handleQuicEvents, type QuicState } from '../../src/quic/connection.js';
import { initialKeys, protectPacket } from '../../src/quic/protection.js';
import { encodeFrame, type Frame } from '../../src/wire/quic/frames.js';
import { encodeLongHeader } from '../../src/wire/quic/packet.js';
import { encodeWith } from '../../src/wire/writer.js';
import { caVerifier, NOW, serverCredentials } from '../helpers/pair.js';

const p = nobleProvider;
const cid = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

/** A client Initial with `frames`, padded to `size` bytes, protected under the Initial keys of `dcid`. */
function initial(frames: readonly Frame[], opts: { dcid?: Uint8Array; size?: number; type?: 'initial' | 'handshake' } = {}): Uint8Array {
  const dcid = opts.dcid ?? cid(8);
  const size = opts.size ?? 1200;
  const body = encodeWith((w) => frames.forEach((f) => encodeFrame(w, f)));
  const header = (len: number) => encodeLongHeader({ type: opts.type ?? 'initial', dcid, scid: cid(8, 9), ...(opts.type === 'handshake' ? {} : { token: new Uint8Array(0) }), packetNumber: 0, pnLength: 1, payloadLength: len });
  const pad = Math.max(0, size - header(body.length).length - body.length - 16);
  const payload = encodeWith((w) => {
    w.bytes(body);
    encodeFrame(w, { type: 'padding', length: Math.max(pad, 20) });
  });
  return protectPacket(p, initialKeys(p, dcid).client, header(payload.length), 0, payload);
}

const hello: Frame = { type: 'crypto', offset: 0, data: new Uint8Array(200).fill(1) };

/** A real client's first datagram. */
function clientHello(): { datagram: Uint8Array; client: QuicState } {
  const client = createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] } });
  const step = handleQuicEvents(client, { type: 'start', now: NOW });
  const out = step.effects.find((e) => e.type === 'transmit');
  if (out?.type !== 'transmit') throw new Error('no ClientHello');
  return { datagram: out.data, client: step.state };
}

test('accept: a real client Initial passes; its DCID and SCID come back with the Initial keys', (t) => {
  const { datagram, client } = clientHello();
  const check = checkClientInitial(p, datagram);
  t.true(check.ok);
  if (!check.ok) return;
  t.deepEqual(check.dcid, client.dcid);
  t.deepEqual(check.scid, client.scid);
  t.is(check.packet.packetNumber, 0);
});

test('accept: every check, with its reason — version, type, 1200 bytes (§14.1), 8-byte DCID (§7.2), AEAD (RFC 9001 §5.5), a ClientHello', (t) => {
  t.like(checkClientInitial(p, initial([hello])), { ok: true });
  const v2 = initial([hello]);
  v2[4] = 2; // version 0x00000002
  t.like(checkClientInitial(p, v2), { ok: false, reason: 'notQuicV1' });
  t.like(checkClientInitial(p, new Uint8Array(1200).fill(0x40)), { ok: false, reason: 'notQuicV1' }, 'a short header');
  t.like(checkClientInitial(p, new Uint8Array(0)), { ok: false, reason: 'notQuicV1' });
  t.like(checkClientInitial(p, initial([hello], { type: 'handshake' })), { ok: false, reason: 'notInitial' });
  t.like(checkClientInitial(p, initial([hello], { size: 1199 })), { ok: false, reason: 'shortDatagram' });
  t.like(checkClientInitial(p, initial([hello], { dcid: cid(7) })), { ok: false, reason: 'shortDcid' });
  const flipped = initial([hello]);
  flipped[600]! ^= 1;
  t.like(checkClientInitial(p, flipped), { ok: false, reason: 'undecryptable' });
  // A valid header with garbage after it: what 20 000 junk "Initials" look like.
  const junk = initial([hello]);
  junk.fill(0xa5, 40);
  t.like(checkClientInitial(p, junk), { ok: false, reason: 'undecryptable' });
  t.like(checkClientInitial(p, initial([{ type: 'ping' }])), { ok: false, reason: 'noClientHello' });
});

test('accept: a server connection starts no TLS handshake for an Initial that does not decrypt, and does for the real one', (t) => {
  const server = handleQuicEvents(createQuicConnection({ role: 'server', tls: { ...serverCredentials(), alpnProtocols: ['h3'] } }), { type: 'start', now: NOW }).state;
  const junk = initial([hello]);
  junk.fill(0xa5, 40);
  const dropped = handleQuicEvents(server, { type: 'datagram', now: NOW, data: junk });
  t.deepEqual(dropped.effects, []);
  t.is(dropped.state.handshake, undefined, 'no TLS state');
  t.is(dropped.state.spaces.initial.rx, undefined, 'no keys kept');
  t.deepEqual(dropped.state.originalDcid, new Uint8Array(0));
  const real = handleQuicEvents(dropped.state, { type: 'datagram', now: NOW, data: clientHello().datagram });
  t.truthy(real.state.handshake);
  t.true(real.effects.some((e) => e.type === 'transmit'));
});
