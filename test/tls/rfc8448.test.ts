/**
 * RFC 8448 §3 (Simple 1-RTT Handshake) replayed through the connection reducer, with the RFC's randomness and
 * key shares injected, checking messages, secrets and records byte for byte.
 */
import { handshakePhase } from '../../src/handshake/engine.js';
import test from 'ava';
import { handleEvents } from '../../src/tls/connection.js';
import { createNobleProvider } from '../../src/crypto/noble.js';
import { plainRecord } from '../../src/tls/record.js';
import { suiteParams } from '../../src/crypto/keySchedule.js';
import { keys, messages, records, schedule } from '../vectors/rfc8448.js';
import { RFC_NOW, hexOf, keyLogOf, rfcClient, rfcServerAnswer, serverFlight, transmitted } from '../helpers/rfc8448.js';

const NOW = RFC_NOW;
const SUITE = suiteParams(0x1301)!;

test('RFC 8448 §3: client derives the handshake traffic secrets from the ServerHello', (t) => {
  const step = handleEvents(rfcClient(), { type: 'received', now: NOW, data: plainRecord(22, messages.serverHello) });
  const log = keyLogOf(step.effects);
  t.is(log.CLIENT_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.clientHandshakeTraffic));
  t.is(log.SERVER_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.serverHandshakeTraffic));
  t.is(handshakePhase(step.state.hs), 'expectEncryptedExtensions');
});

test('RFC 8448 §3: client verifies the server flight and sends the RFC client Finished record byte for byte', (t) => {
  let st = handleEvents(rfcClient(), { type: 'received', now: NOW, data: plainRecord(22, messages.serverHello) }).state;
  const step = handleEvents(st, { type: 'received', now: NOW, data: serverFlight() });
  st = step.state;
  const done = step.effects.find((e) => e.type === 'handshakeComplete');
  t.truthy(done, JSON.stringify(step.effects.map((e) => (e.type === 'closed' ? e.error?.message : e.type))));
  if (done?.type === 'handshakeComplete') {
    t.is(done.info.cipherSuite, 'TLS_AES_128_GCM_SHA256');
    t.is(done.info.peerSignatureScheme, 'rsa_pss_rsae_sha256');
  }
  const log = keyLogOf(step.effects);
  t.is(log.CLIENT_TRAFFIC_SECRET_0, hexOf(schedule.clientApplicationTraffic));
  t.is(log.SERVER_TRAFFIC_SECRET_0, hexOf(schedule.serverApplicationTraffic));
  t.is(log.EXPORTER_SECRET, hexOf(schedule.exporterMaster));
  t.is(hexOf(transmitted(step.effects)), hexOf(records.clientFinished));
  t.is(hexOf(st.hs.secrets.resumption!), hexOf(schedule.resumptionMaster));

  // Application data: the client's record for bytes 00..31 matches the RFC's.
  const payload = Uint8Array.from({ length: 50 }, (_, i) => i);
  const w = handleEvents(st, { type: 'write', now: NOW, data: payload });
  t.is(hexOf(transmitted(w.effects)), hexOf(records.clientApplicationData));

  // The server's application record is seq 1 (its NewSessionTicket, not quoted here, used seq 0).
  const skipTicket = { ...w.state, rxKey: { ...w.state.rxKey!, seq: 1 } };
  const r = handleEvents(skipTicket, { type: 'received', now: NOW, data: records.serverApplicationData });
  const delivered = r.effects.find((e) => e.type === 'deliver');
  t.deepEqual(delivered?.type === 'deliver' ? [...delivered.data] : [], [...payload]);
});

test('RFC 8448 §3: a tampered server Finished is rejected with decrypt_error', (t) => {
  const st = handleEvents(rfcClient(), { type: 'received', now: NOW, data: plainRecord(22, messages.serverHello) }).state;
  const badFinished = Uint8Array.from(messages.serverFinished);
  badFinished[10] ^= 1;
  const flight = serverFlight(badFinished);
  const step = handleEvents(st, { type: 'received', now: NOW, data: flight });
  const closed = step.effects.find((e) => e.type === 'closed');
  t.is(closed?.type === 'closed' ? closed.error?.alert : undefined, 51);
});

test('RFC 8448 §3: server answers the RFC ClientHello with the RFC ServerHello and handshake secrets', (t) => {
  const serverRandom = messages.serverHello.subarray(6, 38);
  const queue = [keys.serverPrivate, serverRandom];
  const provider = createNobleProvider({ randomBytes: (n) => queue.shift() ?? new Uint8Array(n) });
  const { wire, keyLog: log } = rfcServerAnswer({ provider });
  // The first record is the plaintext ServerHello: header 16 03 03 00 5a, then the RFC's 90 octets.
  t.is(hexOf(wire.subarray(0, 5 + messages.serverHello.length)), hexOf(plainRecord(22, messages.serverHello)));
  t.is(log.CLIENT_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.clientHandshakeTraffic));
  t.is(log.SERVER_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.serverHandshakeTraffic));
  t.is(SUITE.name, 'TLS_AES_128_GCM_SHA256');
});
