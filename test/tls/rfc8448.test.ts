/**
 * RFC 8448 §3 (Simple 1-RTT Handshake) replayed through the connection reducer, with the RFC's randomness and
 * key shares injected, checking messages, secrets and records byte for byte.
 */
import test from 'ava';
import { createConnection, handleEvents, type TlsState } from '../../src/tls/connection.js';
import { createNobleProvider, nobleProvider } from '../../src/crypto/noble.js';
import { decodeHandshakeBody } from '../../src/wire/tls/handshake.js';
import { sealRecord, plainRecord } from '../../src/tls/record.js';
import { suiteParams } from '../../src/crypto/keySchedule.js';
import type { CertificateVerifier } from '../../src/crypto/verifier.js';
import type { Effect } from '../../src/core/types.js';
import type { ClientHello } from '../../src/wire/tls/messages.js';
import { keys, messages, records, schedule } from '../vectors/rfc8448.js';
import { serverCredentials } from '../helpers/pair.js';

/** The RFC's certificate is valid from 2016-07-30 to 2026-07-30; the trace is replayed inside that window. */
const NOW = Date.UTC(2018, 0, 1);
const SUITE = suiteParams(0x1301)!;

/** Accept exactly the RFC's server certificate (a pinned verifier). */
const rfcCert = decodeHandshakeBody(11, messages.certificate.subarray(4));
const pinned: CertificateVerifier = {
  verify: (req) =>
    rfcCert.type === 'certificate' && Buffer.compare(req.chain[0]!, rfcCert.body.entries[0]!.cert) === 0
      ? { ok: true, subject: 'CN=rsa' }
      : { ok: false, alert: 42, code: 'bad_signature', reason: 'not the RFC 8448 certificate' },
};

const keyLogOf = (effects: readonly Effect[]) =>
  Object.fromEntries(effects.flatMap((e) => (e.type === 'keyLog' ? [[e.label, Buffer.from(e.secret).toString('hex')]] : [])));
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const transmitted = (effects: readonly Effect[]) =>
  Buffer.concat(effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : [])));

/** A client that has just sent the RFC's ClientHello with the RFC's x25519 key (middlebox compat off, as in the trace). */
function rfcClient(): TlsState {
  const base = createConnection({ role: 'client', serverName: 'server', verifier: pinned, keyLog: true, middleboxCompat: false, recordSizeLimit: 16385 });
  const msg = decodeHandshakeBody(1, messages.clientHello.subarray(4));
  const hello = (msg as { body: ClientHello }).body;
  return {
    ...base,
    started: true,
    deadline: NOW + 30_000,
    ccsAllowed: true,
    clientRandom: hello.random,
    transcript: [messages.clientHello],
    phase: {
      name: 'expectServerHello',
      offer: { hello, keyPairs: [nobleProvider.keyPairFromPrivate('x25519', keys.clientPrivate)], retried: false },
    },
  };
}

/** The server's encrypted flight, sealed with the RFC's server handshake key (seq 0) as the RFC does. */
function serverFlight(): Uint8Array {
  const key = { aead: nobleProvider.aead('aes-128-gcm', schedule.serverHandshakeKey), key: schedule.serverHandshakeKey, iv: schedule.serverHandshakeIv, seq: 0, secret: schedule.serverHandshakeTraffic, used: 0 };
  const flight = Buffer.concat([messages.encryptedExtensions, messages.certificate, messages.certificateVerify, messages.serverFinished]);
  return sealRecord(key, 22, flight).bytes;
}

test('RFC 8448 §3: client derives the handshake traffic secrets from the ServerHello', (t) => {
  const step = handleEvents(rfcClient(), { type: 'received', now: NOW, data: plainRecord(22, messages.serverHello) });
  const log = keyLogOf(step.effects);
  t.is(log.CLIENT_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.clientHandshakeTraffic));
  t.is(log.SERVER_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.serverHandshakeTraffic));
  t.is(step.state.phase.name, 'expectEncryptedExtensions');
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
  t.is(hexOf(st.secrets.resumption!), hexOf(schedule.resumptionMaster));

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
  const key = { aead: nobleProvider.aead('aes-128-gcm', schedule.serverHandshakeKey), key: schedule.serverHandshakeKey, iv: schedule.serverHandshakeIv, seq: 0, secret: schedule.serverHandshakeTraffic, used: 0 };
  const flight = sealRecord(key, 22, Buffer.concat([messages.encryptedExtensions, messages.certificate, messages.certificateVerify, badFinished])).bytes;
  const step = handleEvents(st, { type: 'received', now: NOW, data: flight });
  const closed = step.effects.find((e) => e.type === 'closed');
  t.is(closed?.type === 'closed' ? closed.error?.alert : undefined, 51);
});

test('RFC 8448 §3: server answers the RFC ClientHello with the RFC ServerHello and handshake secrets', (t) => {
  const serverRandom = messages.serverHello.subarray(6, 38);
  const queue = [keys.serverPrivate, serverRandom];
  const provider = createNobleProvider({ randomBytes: (n) => queue.shift() ?? new Uint8Array(n) });
  let st = createConnection({ role: 'server', provider, keyLog: true, ...serverCredentials('server-rsa') });
  st = handleEvents(st, { type: 'start', now: NOW }).state;
  const step = handleEvents(st, { type: 'received', now: NOW, data: plainRecord(22, messages.clientHello, 0x0301) });
  const wire = transmitted(step.effects);
  // The first record is the plaintext ServerHello: header 16 03 03 00 5a, then the RFC's 90 octets.
  t.is(hexOf(wire.subarray(0, 5 + messages.serverHello.length)), hexOf(plainRecord(22, messages.serverHello)));
  const log = keyLogOf(step.effects);
  t.is(log.CLIENT_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.clientHandshakeTraffic));
  t.is(log.SERVER_HANDSHAKE_TRAFFIC_SECRET, hexOf(schedule.serverHandshakeTraffic));
  t.is(SUITE.name, 'TLS_AES_128_GCM_SHA256');
});
