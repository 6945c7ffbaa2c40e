/**
 * QUIC's handshake (RFC 9001 §4): the only module of `src/quic` that talks to TLS. The rest of QUIC sees the
 * engine seam of `src/handshake/events.ts` and nothing else: handshake bytes go in tagged with their key epoch
 * (0 Initial, 2 Handshake, 3 1-RTT), {@link HsEvent}s come out — bytes to send at an epoch, a `keyChange` per
 * direction and epoch, the peer's `transportParameters`, `complete`.
 *
 * Until the handshake engine lands, this is an adapter over the TLS core's QUIC mode: `cryptoData` effects
 * become `send` events, new secrets found with `quicSecrets` become `keyChange` events (write, then read, the
 * first time an epoch's secrets exist — just before the first bytes sent at that epoch, or at the end of the
 * step), `peerTransportParameters` becomes a `transportParameters` event (first in the step that brought it)
 * and `handshakeComplete` a `complete` event (last). Swapping in the engine changes this file only.
 */
import type { TlsError } from '../core/errors.js';
import type { QuicLevel } from '../core/types.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { Epoch, type HsEvent } from '../handshake/events.js';
import type { TlsClientConfig, TlsServerConfig } from '../tls/config.js';
import { createConnection, handleEvents, peerTransportParameters, quicSecrets, type TlsState } from '../tls/connection.js';

/** The TLS settings of a QUIC connection (ALPN is required, RFC 9001 §8.1); role and QUIC mode are added here. */
export type QuicTlsConfig = Omit<TlsClientConfig, 'role' | 'quic'> | Omit<TlsServerConfig, 'role' | 'quic'>;

/** What the handshake needs from the connection. */
export interface QuicHandshakeConfig {
  readonly role: 'client' | 'server';
  readonly tls: QuicTlsConfig;
  readonly provider: CryptoProvider;
  /** Our encoded quic_transport_parameters (RFC 9000 §18), sent in the ClientHello or EncryptedExtensions. */
  readonly transportParameters: Uint8Array;
}

/** The handshake's state: opaque outside this module. Never mutated. */
export interface QuicHandshake {
  readonly tls: TlsState;
  readonly role: 'client' | 'server';
  /** Epochs whose key changes have been reported. */
  readonly keyed: readonly number[];
  readonly paramsReported: boolean;
}

/** The handshake failed: close with CRYPTO_ERROR 0x100 + `alert` (RFC 9001 §4.8). */
export interface QuicHandshakeFailure {
  /** The TLS alert (RFC 8446 §6), e.g. 42 bad_certificate. */
  readonly alert: number;
  readonly error: TlsError;
}

/** One step of the handshake: the new state and the events, in the order they happened. */
export interface QuicHandshakeStep {
  readonly handshake: QuicHandshake;
  readonly events: readonly HsEvent[];
  readonly failure?: QuicHandshakeFailure;
}

/** Key epochs that carry CRYPTO data and the TLS QUIC mode's names for them (RFC 9001 §4.1.4). */
const LEVEL_OF_EPOCH: Readonly<Record<number, QuicLevel>> = { [Epoch.initial]: 'initial', [Epoch.handshake]: 'handshake', [Epoch.application]: 'oneRtt' };
const EPOCH_OF_LEVEL: Readonly<Record<QuicLevel, number>> = { initial: Epoch.initial, handshake: Epoch.handshake, oneRtt: Epoch.application };
/** TLS `internal_error` (RFC 8446 §6.2), for a failure that carries no alert. */
const INTERNAL_ERROR_ALERT = 80;

/**
 * Start the handshake: a client's events carry its ClientHello (`send` at epoch 0); a server's are empty until
 * the client's Initial CRYPTO data arrives.
 *
 * @example
 * ```ts
 * const { handshake, events } = startQuicHandshake({ role: 'client', tls, provider, transportParameters }, now);
 * for (const e of events) if (e.type === 'send') queueCrypto(spaces.initial, e.data); // epoch 0
 * ```
 */
export function startQuicHandshake(config: QuicHandshakeConfig, now: number): QuicHandshakeStep {
  const tls = createConnection({
    ...config.tls,
    role: config.role,
    provider: config.provider,
    quic: { transportParameters: config.transportParameters },
  } as TlsClientConfig | TlsServerConfig);
  return step({ tls, role: config.role, keyed: [], paramsReported: false }, { type: 'start', now });
}

/**
 * Handshake bytes the peer sent in CRYPTO frames at `epoch` (0, 2 or 3), contiguous and in order (the QUIC
 * layer reassembles each space's CRYPTO stream). CRYPTO frames never travel in 0-RTT packets (RFC 9000 §17.2.3).
 */
export function quicHandshakeData(hs: QuicHandshake, epoch: number, data: Uint8Array, now: number): QuicHandshakeStep {
  const level = LEVEL_OF_EPOCH[epoch];
  if (level === undefined) throw new RangeError(`no CRYPTO data at epoch ${epoch}`);
  return step(hs, { type: 'cryptoData', now, level, data });
}

/** The connection is closing: release the handshake. Nothing is sent (QUIC closes with CONNECTION_CLOSE). */
export function closeQuicHandshake(hs: QuicHandshake, now: number): void {
  // TLS in QUIC mode ends quietly on any close (no close_notify).
  handleEvents(hs.tls, { type: 'close', now, mode: 'abort' });
}

/** Run TLS once and translate what it did into events. */
function step(hs: QuicHandshake, input: Parameters<typeof handleEvents>[1]): QuicHandshakeStep {
  const result = handleEvents(hs.tls, input);
  const tls = result.state;
  const secrets = quicSecrets(tls);
  const keyed = [...hs.keyed];
  const events: HsEvent[] = [];
  let paramsReported = hs.paramsReported;
  const params = paramsReported ? undefined : peerTransportParameters(tls);
  // The peer's parameters came with the hello this step read, before anything we answer.
  if (params) {
    events.push({ type: 'transportParameters', data: params });
    paramsReported = true;
  }
  /** Report the key changes of `epoch` once its secrets exist: our write key, then our read key. */
  const keyChange = (epoch: number): void => {
    const x = epoch === Epoch.handshake ? secrets.handshake : epoch === Epoch.application ? secrets.oneRtt : undefined;
    if (!x || keyed.includes(epoch) || !tls.suite) return;
    keyed.push(epoch);
    const [write, read] = hs.role === 'client' ? [x.client, x.server] : [x.server, x.client];
    events.push({ type: 'keyChange', direction: 'write', epoch, suite: tls.suite, secret: write });
    events.push({ type: 'keyChange', direction: 'read', epoch, suite: tls.suite, secret: read });
  };
  let complete: HsEvent | undefined;
  let failure: QuicHandshakeFailure | undefined;
  for (const e of result.effects) {
    switch (e.type) {
      case 'cryptoData': {
        const epoch = EPOCH_OF_LEVEL[e.level];
        // Keys for an epoch are announced before the first bytes sent under them.
        for (const k of [Epoch.handshake, Epoch.application]) if (k <= epoch) keyChange(k);
        events.push({ type: 'send', epoch, data: e.data });
        break;
      }
      case 'handshakeComplete':
        complete = { type: 'complete', info: e.info };
        break;
      case 'keyLog':
        events.push({ type: 'keyLog', label: e.label, clientRandom: e.clientRandom, secret: e.secret });
        break;
      case 'session':
        events.push({ type: 'session', session: e.session });
        break;
      case 'closed':
        if (e.error) failure = { alert: e.error.alert ?? INTERNAL_ERROR_ALERT, error: e.error };
        break;
      default:
        // Alerts become CONNECTION_CLOSE through `closed`; QUIC mode has no records, application data or
        // asynchronous crypto jobs.
        break;
    }
  }
  // A failed step announces no keys it sent nothing under: the peer could not read a close protected by them.
  if (!failure) for (const k of [Epoch.handshake, Epoch.application]) keyChange(k);
  if (complete) events.push(complete);
  return { handshake: { tls, role: hs.role, keyed, paramsReported }, events, ...(failure ? { failure } : {}) };
}
