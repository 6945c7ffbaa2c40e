/**
 * Replaying RFC 8448 §3 through the reducer: a client that has just sent the RFC's ClientHello with the RFC's
 * x25519 key, the RFC server's encrypted flight, and small readers for effects. Shared by the vector tests.
 */
import { createConnection, handleEvents, type TlsState } from '../../src/tls/connection.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import type { CertificateVerifier } from '../../src/crypto/verifier.js';
import type { TlsEffect } from '../../src/tls/types.js';
import { decodeHandshakeBody } from '../../src/wire/tls/handshake.js';
import type { ClientHello } from '../../src/wire/tls/messages.js';
import { type RecordKey, plainRecord, sealRecord } from '../../src/tls/record.js';
import { keys, messages, schedule } from '../vectors/rfc8448.js';
import { serverCredentials } from './pair.js';

/** The RFC's certificate is valid from 2016-07-30 to 2026-07-30; the trace is replayed inside that window. */
export const RFC_NOW = Date.UTC(2018, 0, 1);

/** Accept exactly the RFC's server certificate (a pinned verifier). */
const rfcCert = decodeHandshakeBody(11, messages.certificate.subarray(4));
export const pinned: CertificateVerifier = {
  verify: (req) =>
    rfcCert.type === 'certificate' && Buffer.compare(req.chain[0]!, rfcCert.body.entries[0]!.cert) === 0
      ? { ok: true, subject: 'CN=rsa' }
      : { ok: false, code: 'bad_signature', reason: 'not the RFC 8448 certificate' },
};

export const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
export const keyLogOf = (effects: readonly TlsEffect[]) =>
  Object.fromEntries(effects.flatMap((e) => (e.type === 'keyLog' ? [[e.label, hexOf(e.secret)]] : [])));
export const transmitted = (effects: readonly TlsEffect[]) =>
  Buffer.concat(effects.flatMap((e) => (e.type === 'transmit' ? [e.data] : [])));

/**
 * A client that has just sent the RFC's ClientHello with the RFC's x25519 key (middlebox compat off and
 * record_size_limit 16385, as in the trace).
 */
export function rfcClient(opts: { provider?: CryptoProvider; asyncCrypto?: boolean } = {}): TlsState {
  const provider = opts.provider ?? nobleProvider;
  const base = createConnection({
    role: 'client',
    serverName: 'server',
    verifier: pinned,
    keyLog: true,
    middleboxCompat: false,
    recordSizeLimit: 16385,
    // The RFC 8448 server key is 1024-bit RSA, under the default minimum of 2048.
    minRsaBits: 1024,
    provider,
    ...(opts.asyncCrypto ? { asyncCrypto: true } : {}),
  });
  const hello = (decodeHandshakeBody(1, messages.clientHello.subarray(4)) as { body: ClientHello }).body;
  // The reducer as it stands after `start` had sent exactly this ClientHello: the record layer is handshaking and
  // the engine waits for the ServerHello with the RFC's key pair.
  return {
    ...base,
    phase: 'handshaking',
    timers: { handshake: RFC_NOW + 30_000 },
    sentRecord: true,
    hs: {
      ...base.hs,
      clientRandom: hello.random,
      transcript: [messages.clientHello],
      phase: {
        name: 'expectServerHello',
        offer: { hello, keyPairs: [provider.keyPairFromPrivate('x25519', keys.clientPrivate)], retried: false },
      },
    },
  };
}

/** The RFC server's handshake write key (seq 0), with noble as the reference AEAD. */
export function serverHandshakeKey(): RecordKey {
  return {
    aead: nobleProvider.aead('aes-128-gcm', schedule.serverHandshakeKey),
    key: schedule.serverHandshakeKey,
    iv: schedule.serverHandshakeIv,
    seq: 0,
    secret: schedule.serverHandshakeTraffic,
    used: 0,
  };
}

/** The server's encrypted flight (EncryptedExtensions … Finished) as the RFC seals it; `finished` may be forged. */
export function serverFlight(finished: Uint8Array = messages.serverFinished): Uint8Array {
  const flight = Buffer.concat([messages.encryptedExtensions, messages.certificate, messages.certificateVerify, finished]);
  return sealRecord(serverHandshakeKey(), 22, flight).bytes;
}

/**
 * A server (the RSA fixture leaf) answering the RFC's ClientHello, given as a TLS 1.0-versioned record as in the
 * trace. `provider` must hand out the RFC's server key share and server random: the ServerHello is then the
 * RFC's. Returns what the server transmitted and its key log (label → secret, hex).
 */
export function rfcServerAnswer(opts: { provider: CryptoProvider; asyncCrypto?: boolean }): { wire: Buffer; keyLog: Record<string, string> } {
  const st = createConnection({
    role: 'server',
    provider: opts.provider,
    ...(opts.asyncCrypto ? { asyncCrypto: true } : {}),
    keyLog: true,
    ...serverCredentials('server-rsa'),
  });
  const started = handleEvents(st, { type: 'start', now: RFC_NOW }).state;
  const step = handleEvents(started, { type: 'received', now: RFC_NOW, data: plainRecord(22, messages.clientHello, 0x0301) });
  return { wire: transmitted(step.effects), keyLog: keyLogOf(step.effects) };
}
