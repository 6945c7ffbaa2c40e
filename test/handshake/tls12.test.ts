/**
 * The TLS 1.2 seam of the handshake engine, driven directly with no record layer: which events come in which
 * order (`send` at epoch 0 and 1, `changeCipherSpec`, `tls12KeyChange`, `flightEnd`, `complete`), the
 * `changeCipherSpec` entry, `negotiatedVersion`, and misuse.
 */
import test from 'ava';
import {
  changeCipherSpec,
  createHandshake,
  handshakeData,
  handshakePhase,
  negotiatedVersion,
  startHandshake,
  updateTrafficKeys,
  type HandshakeState,
  type HsStep,
} from '../../src/handshake/engine.js';
import { TLS12_EPOCH, type HsEvent } from '../../src/handshake/events.js';
import { TlsError, alertFor } from '../../src/core/errors.js';
import { AlertDescription } from '../../src/wire/tls/constants.js';
import { NOW, caVerifier, serverCredentials } from '../helpers/pair.js';

const kinds = (events: readonly HsEvent[]) => events.map((e) => (e.type === 'send' ? `send@${e.epoch}` : e.type === 'tls12KeyChange' ? `tls12KeyChange:${e.direction}@${e.epoch}` : e.type)).filter((k) => k !== 'keyLog');
const alertOf = (step: HsStep) => (step.error ? alertFor(step.error) : undefined);
const bytesAt = (step: HsStep, epoch: number) => Buffer.concat(step.events.flatMap((e) => (e.type === 'send' && e.epoch === epoch ? [e.data] : [])));

function engines(): { client: HandshakeState; server: HandshakeState } {
  const client = createHandshake({ role: 'client', serverName: 'localhost', verifier: caVerifier(), maxVersion: 'TLSv1.2' }, 'tls');
  const server = createHandshake({ role: 'server', ...serverCredentials() }, 'tls');
  return { client, server };
}

test('TLS 1.2 through the engine: events in order, epochs 0 then 1, ChangeCipherSpec both ways', (t) => {
  const e = engines();
  const hello = startHandshake(e.client, NOW);
  t.deepEqual(kinds(hello.events), ['send@0', 'flightEnd']);
  t.is(negotiatedVersion(hello.state), undefined);
  // Server: ClientHello → ServerHello … ServerHelloDone, all at epoch 0.
  const s1 = handshakeData(startHandshake(e.server, NOW).state, 0, bytesAt(hello, 0), NOW);
  t.is(s1.error, undefined);
  t.deepEqual(kinds(s1.events), ['send@0', 'flightEnd']);
  t.is(negotiatedVersion(s1.state), 0x0303);
  t.is(handshakePhase(s1.state), 'expectClientKeyExchange');
  // Client: the server flight → ClientKeyExchange at 0, CCS, the write key change, Finished at 1.
  const c1 = handshakeData(hello.state, 0, bytesAt(s1, 0), NOW);
  t.is(c1.error, undefined);
  t.deepEqual(kinds(c1.events), ['send@0', 'changeCipherSpec', `tls12KeyChange:write@${TLS12_EPOCH}`, `send@${TLS12_EPOCH}`, 'flightEnd']);
  t.is(handshakePhase(c1.state), 'expectChangeCipherSpec');
  const writeKey = c1.events.find((ev) => ev.type === 'tls12KeyChange');
  t.like(writeKey, { suite: { name: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256' } });
  t.is(writeKey?.type === 'tls12KeyChange' ? writeKey.iv.length : 0, 4);
  // Server: ClientKeyExchange, then the CCS through its own entry, then Finished at epoch 1.
  const s2 = handshakeData(s1.state, 0, bytesAt(c1, 0), NOW);
  t.deepEqual(kinds(s2.events), []);
  t.is(handshakePhase(s2.state), 'expectChangeCipherSpec');
  const s3 = changeCipherSpec(s2.state, NOW);
  t.deepEqual(kinds(s3.events), [`tls12KeyChange:read@${TLS12_EPOCH}`]);
  // The finished bytes arrive at epoch 1 (a record layer would have opened them with the new key).
  const s4 = handshakeData(s3.state, TLS12_EPOCH, bytesAt(c1, TLS12_EPOCH), NOW);
  t.is(s4.error, undefined);
  t.deepEqual(kinds(s4.events), ['changeCipherSpec', `tls12KeyChange:write@${TLS12_EPOCH}`, `send@${TLS12_EPOCH}`, 'flightEnd', 'complete']);
  // Client: CCS, then the server Finished → complete.
  const c2 = handshakeData(changeCipherSpec(c1.state, NOW).state, TLS12_EPOCH, bytesAt(s4, TLS12_EPOCH), NOW);
  t.is(c2.error, undefined);
  t.deepEqual(kinds(c2.events), ['complete']);
  t.is(handshakePhase(c2.state), 'connected');
  const info = c2.events.find((ev) => ev.type === 'complete');
  t.like(info, { info: { protocol: 'TLSv1.2', cipherSuite: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256' } });
  t.throws(() => updateTrafficKeys(c2.state, false, NOW), { instanceOf: TlsError, message: /TLS 1\.2 has no KeyUpdate/ });
});

test('changeCipherSpec: unexpected_message out of place (before the version is known, in TLS 1.3, twice)', (t) => {
  const e = engines();
  const hello = startHandshake(e.client, NOW);
  t.is(alertOf(changeCipherSpec(hello.state, NOW)), AlertDescription.unexpected_message);
  const tls13 = createHandshake({ role: 'client', serverName: 'localhost', verifier: caVerifier() }, 'tls');
  t.is(alertOf(changeCipherSpec(startHandshake(tls13, NOW).state, NOW)), AlertDescription.unexpected_message);
  const s1 = handshakeData(startHandshake(e.server, NOW).state, 0, bytesAt(hello, 0), NOW);
  const c1 = handshakeData(hello.state, 0, bytesAt(s1, 0), NOW);
  const once = changeCipherSpec(c1.state, NOW);
  t.is(once.error, undefined);
  t.is(alertOf(changeCipherSpec(once.state, NOW)), AlertDescription.unexpected_message);
  t.throws(() => changeCipherSpec(e.client, NOW), { instanceOf: TlsError }, 'before start: API misuse');
});

test('TLS 1.2 Finished under the wrong epoch is unexpected_message (the read key changes at ChangeCipherSpec)', (t) => {
  const e = engines();
  const hello = startHandshake(e.client, NOW);
  const s1 = handshakeData(startHandshake(e.server, NOW).state, 0, bytesAt(hello, 0), NOW);
  const c1 = handshakeData(hello.state, 0, bytesAt(s1, 0), NOW);
  const s2 = handshakeData(s1.state, 0, bytesAt(c1, 0), NOW);
  // The Finished without the ChangeCipherSpec first: bytes at epoch 1 while reading at 0.
  t.is(alertOf(handshakeData(s2.state, TLS12_EPOCH, bytesAt(c1, TLS12_EPOCH), NOW)), AlertDescription.unexpected_message);
});
