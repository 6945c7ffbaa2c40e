/**
 * The handshake engine driven directly, with no record layer: RFC 8448 §3 (simple 1-RTT handshake) message by
 * message, checking the events — bytes at each epoch, key changes with the RFC's secrets — and the label prefix.
 */
import test from 'ava';
import {
  createHandshake,
  handshakeBytesCopied,
  handshakeData,
  handshakePhase,
  startHandshake,
  type HandshakeState,
  type HsStep,
  maxPiecesFor,
} from '../../src/handshake/engine.js';
import { Epoch, type HsEvent } from '../../src/handshake/events.js';
import { createNobleProvider } from '../../src/crypto/noble.js';
import { alertFor } from '../../src/core/errors.js';
import { deriveSecret, hkdfExpandLabel } from '../../src/crypto/keySchedule.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { keys, messages, schedule } from '../vectors/rfc8448.js';
import { RFC_NOW, hexOf, rfcClient } from '../helpers/rfc8448.js';
import { serverCredentials } from '../helpers/pair.js';

const NOW = RFC_NOW;
const changes = (events: readonly HsEvent[]) =>
  events.flatMap((e) => (e.type === 'keyChange' ? [{ dir: e.direction, epoch: e.epoch, secret: e.secret ? hexOf(e.secret) : undefined }] : []));
const sends = (events: readonly HsEvent[]) => events.flatMap((e) => (e.type === 'send' ? [{ epoch: e.epoch, data: hexOf(e.data) }] : []));

/** The RFC client's engine, waiting for the ServerHello after the RFC's ClientHello. */
const rfcEngine = (): HandshakeState => rfcClient().hs;

test('RFC 8448 §3 through the engine: ServerHello → handshake keys, read before write, with the RFC secrets', (t) => {
  const step = handshakeData(rfcEngine(), Epoch.initial, messages.serverHello, NOW);
  t.is(step.error, undefined);
  t.deepEqual(changes(step.events), [
    { dir: 'read', epoch: Epoch.handshake, secret: hexOf(schedule.serverHandshakeTraffic) },
    { dir: 'write', epoch: Epoch.handshake, secret: hexOf(schedule.clientHandshakeTraffic) },
  ]);
  t.deepEqual(sends(step.events), [], 'nothing to send yet');
  t.is(handshakePhase(step.state), 'expectEncryptedExtensions');
});

test('RFC 8448 §3 through the engine: the server flight → application keys, the client Finished at epoch 2, completion', (t) => {
  let st = handshakeData(rfcEngine(), Epoch.initial, messages.serverHello, NOW).state;
  // The four messages may come in any chunking: here one byte short, then the rest.
  const flight = Buffer.concat([messages.encryptedExtensions, messages.certificate, messages.certificateVerify, messages.serverFinished]);
  const first = handshakeData(st, Epoch.handshake, flight.subarray(0, flight.length - 1), NOW);
  t.is(first.error, undefined);
  t.is(handshakePhase(first.state), 'expectFinished');
  const step = handshakeData(first.state, Epoch.handshake, flight.subarray(flight.length - 1), NOW);
  st = step.state;
  t.is(step.error, undefined);
  t.deepEqual(
    step.events.map((e) => e.type).filter((type) => type !== 'keyLog'),
    ['keyChange', 'send', 'keyChange', 'flightEnd', 'complete'],
  );
  t.deepEqual(changes(step.events), [
    { dir: 'read', epoch: Epoch.application, secret: hexOf(schedule.serverApplicationTraffic) },
    { dir: 'write', epoch: Epoch.application, secret: hexOf(schedule.clientApplicationTraffic) },
  ]);
  t.deepEqual(sends(step.events), [{ epoch: Epoch.handshake, data: hexOf(messages.clientFinished) }]);
  const done = step.events.find((e) => e.type === 'complete');
  t.true(done?.type === 'complete' && done.info.cipherSuite === 'TLS_AES_128_GCM_SHA256');
  t.is(hexOf(st.secrets.resumption!), hexOf(schedule.resumptionMaster));
});

test('RFC 8448 §3 through the engine: the server answers the RFC ClientHello with the RFC ServerHello at epoch 0', (t) => {
  const serverRandom = messages.serverHello.subarray(6, 38);
  const queue = [keys.serverPrivate, serverRandom];
  const provider = createNobleProvider({ randomBytes: (n) => queue.shift() ?? new Uint8Array(n) });
  let st = createHandshake({ role: 'server', provider, ...serverCredentials('server-rsa') }, 'tls');
  st = startHandshake(st, NOW).state;
  const step: HsStep = handshakeData(st, Epoch.initial, messages.clientHello, NOW);
  t.is(step.error, undefined);
  const out = sends(step.events);
  t.is(out[0]!.epoch, Epoch.initial);
  t.is(out[0]!.data, hexOf(messages.serverHello));
  // Then the write keys go to epoch 2 (EncryptedExtensions…Finished), then 3; reading stays at 2.
  t.deepEqual(
    changes(step.events).map((c) => `${c.dir}${c.epoch}`),
    ['write2', 'read2', 'write3'],
  );
  t.is(changes(step.events)[0]!.secret, hexOf(schedule.serverHandshakeTraffic));
  t.true(out.slice(1).every((o) => o.epoch === Epoch.handshake));
});

test('engine: a key change with bytes of the next message already received is unexpected_message (RFC 8446 §5.1)', (t) => {
  // The ServerHello and the start of EncryptedExtensions in one piece at epoch 0.
  const step = handshakeData(rfcEngine(), Epoch.initial, Buffer.concat([messages.serverHello, messages.encryptedExtensions.subarray(0, 3)]), NOW);
  t.truthy(step.error);
  t.is(alertFor(step.error!), 10);
  t.is(handshakePhase(step.state), 'failed');
});

test('engine: handshake bytes at an epoch other than the read epoch are unexpected_message', (t) => {
  const step = handshakeData(rfcEngine(), Epoch.handshake, messages.serverHello, NOW);
  t.is(alertFor(step.error!), 10);
});

test('engine: a message over maxHandshakeMessage is refused from its header alone', (t) => {
  const header = Uint8Array.of(2, 0x02, 0x00, 0x01); // a ServerHello of 128 KiB + 1
  const step = handshakeData(rfcEngine(), Epoch.initial, header, NOW);
  t.is(alertFor(step.error!), 50);
});

/** The RFC client after the ServerHello, and the server flight it expects at epoch 2 (EE … Finished). */
function afterServerHello(): { st: HandshakeState; flight: Uint8Array } {
  const st = handshakeData(rfcEngine(), Epoch.initial, messages.serverHello, NOW).state;
  const flight = Buffer.concat([messages.encryptedExtensions, messages.certificate, messages.certificateVerify, messages.serverFinished]);
  return { st, flight };
}

/** Feed `bytes` in pieces of `size`; stops at the first error. */
function feedPieces(st: HandshakeState, epoch: number, bytes: Uint8Array, size: number): { step: HsStep; pieces: number } {
  let step: HsStep = { state: st, events: [] };
  let pieces = 0;
  for (let o = 0; o < bytes.length; o += size) {
    step = handshakeData(step.state, epoch, bytes.subarray(o, o + size), NOW);
    pieces++;
    if (step.error) break;
  }
  return { step, pieces };
}

test('engine: reassembly is linear: every handshake byte is copied once, however small the pieces', (t) => {
  for (const size of [40, 100, 1000, 1 << 14]) {
    const { st, flight } = afterServerHello();
    const before = handshakeBytesCopied(st);
    const { step } = feedPieces(st, Epoch.handshake, flight, size);
    t.is(step.error, undefined, `pieces of ${size}: ${step.error?.reason}`);
    t.is(handshakePhase(step.state), 'connected');
    t.is(handshakeBytesCopied(step.state) - before, flight.length, `pieces of ${size}`);
  }
});

test('engine: a message in 1-byte pieces completes (RFC 8446 §5.1), each byte copied about once', (t) => {
  const { st, flight } = afterServerHello();
  // The Certificate (~440 B) one byte at a time, after EncryptedExtensions in one piece.
  const ee = handshakeData(st, Epoch.handshake, messages.encryptedExtensions, NOW).state;
  const { step, pieces } = feedPieces(ee, Epoch.handshake, messages.certificate, 1);
  t.is(step.error, undefined, step.error?.reason);
  t.is(pieces, messages.certificate.length);
  // Linear: each byte copied once (the header's ≤ 3 bytes a few times more).
  t.true(handshakeBytesCopied(step.state) - handshakeBytesCopied(ee) <= pieces + 12);
  const rest = flight.subarray(messages.encryptedExtensions.length + messages.certificate.length);
  t.is(handshakePhase(handshakeData(step.state, Epoch.handshake, rest, NOW).state), 'connected');
});

test('engine: a long message in more pieces than maxPiecesFor(length) is unexpected_message (1-byte pieces)', (t) => {
  const { st } = afterServerHello();
  const ee = handshakeData(st, Epoch.handshake, messages.encryptedExtensions, NOW).state;
  // A Certificate header declaring 100 000 bytes, then its body one byte at a time.
  const len = 100_000;
  const message = new Uint8Array(4 + len);
  message.set([11, len >> 16, (len >> 8) & 0xff, len & 0xff]);
  const { step, pieces } = feedPieces(ee, Epoch.handshake, message, 1);
  t.is(alertFor(step.error!), 10);
  t.is(pieces, maxPiecesFor(message.length) + 1);
  t.true(pieces < message.length / 10);
  // The cost stayed linear up to the refusal: each byte copied once (the header's ≤ 3 bytes a few times more).
  t.true(handshakeBytesCopied(step.state) - handshakeBytesCopied(ee) <= pieces + 12);
});

test('engine: reassembly stays pure: states sharing a partial message never see each other\'s bytes', (t) => {
  const { st, flight } = afterServerHello();
  const mid = handshakeData(st, Epoch.handshake, flight.subarray(0, 200), NOW);
  t.is(mid.error, undefined);
  // Two continuations of the same state: the real next 100 bytes, then garbage at the same place.
  const real = handshakeData(mid.state, Epoch.handshake, flight.subarray(200, 300), NOW);
  const garbage = handshakeData(mid.state, Epoch.handshake, new Uint8Array(100).fill(0xee), NOW);
  t.is(real.error, undefined);
  t.is(garbage.error, undefined);
  // The real one completes with the rest: the garbage went to a copy, not into the bytes it holds.
  const done = handshakeData(real.state, Epoch.handshake, flight.subarray(300), NOW);
  t.is(done.error, undefined, done.error?.reason);
  t.is(handshakePhase(done.state), 'connected');
  // And the first state replayed once more gives the same answer.
  const again = feedPieces(mid.state, Epoch.handshake, flight.subarray(200), 100).step;
  t.is(handshakePhase(again.state), 'connected');
  const sent = (step: HsStep) => step.events.flatMap((e) => (e.type === 'send' ? [hexOf(e.data)] : []));
  t.deepEqual(sent(again), sent(done));
});

test('key schedule label prefix: "dtls13" changes the HkdfLabel and the secrets (RFC 9147 §5.9)', (t) => {
  const p = nobleProvider;
  const secret = schedule.handshakeSecret;
  const tls = deriveSecret(p, 'sha256', secret, 'c hs traffic', schedule.helloHash);
  t.is(hexOf(tls), hexOf(schedule.clientHandshakeTraffic));
  const dtls = deriveSecret(p, 'sha256', secret, 'c hs traffic', schedule.helloHash, 'dtls13');
  t.not(hexOf(dtls), hexOf(tls));
  // HkdfLabel = length ‖ "dtls13" + label ‖ context: the same as HKDF-Expand over that info.
  const label = new TextEncoder().encode('dtls13c hs traffic');
  const info = Uint8Array.from([0, 32, label.length, ...label, 32, ...schedule.helloHash]);
  t.is(hexOf(p.hkdfExpand('sha256', secret, info, 32)), hexOf(dtls));
  t.is(hexOf(hkdfExpandLabel(p, 'sha256', secret, 'c hs traffic', schedule.helloHash, 32, 'dtls13')), hexOf(dtls));
});
