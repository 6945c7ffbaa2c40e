/**
 * QUIC's handshake (RFC 9001 §4): the only module of `src/quic` that talks to TLS. It runs the handshake engine
 * (`src/handshake/engine.ts`) in its QUIC variant: handshake bytes go in tagged with their key epoch (0 Initial,
 * 2 Handshake, 3 1-RTT), {@link HsEvent}s come out — bytes to send at an epoch, a `keyChange` per direction and
 * epoch, the peer's `transportParameters`, `complete`. The engine's own events need no translation; this module
 * adds the QUIC configuration and turns a failure into the alert for CRYPTO_ERROR.
 */
import { TlsError, alertFor } from '../core/errors.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { HandshakeClientConfig, HandshakeServerConfig } from '../handshake/config.js';
import { createHandshake, handshakeData, startHandshake, type HandshakeState, type HsStep } from '../handshake/engine.js';
import { Epoch, type HsEvent } from '../handshake/events.js';

/** The TLS settings of a QUIC connection (ALPN is required, RFC 9001 §8.1); the role is added here. */
export type QuicTlsConfig = Omit<HandshakeClientConfig, 'role'> | Omit<HandshakeServerConfig, 'role'>;

/** What the handshake needs from the connection. */
export interface QuicHandshakeConfig {
  readonly role: 'client' | 'server';
  readonly tls: QuicTlsConfig;
  readonly provider: CryptoProvider;
  /** Our encoded quic_transport_parameters (RFC 9000 §18), sent in the ClientHello or EncryptedExtensions. */
  readonly transportParameters: Uint8Array;
}

/** The handshake's state: opaque outside this module. Never mutated. */
export type QuicHandshake = HandshakeState;

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

/** TLS `internal_error` (RFC 8446 §6.2), for a failure that carries no alert. */
const INTERNAL_ERROR_ALERT = 80;

/** Epochs that carry CRYPTO data (RFC 9000 §17.2.3: never 0-RTT). */
const CRYPTO_EPOCHS: ReadonlySet<number> = new Set([Epoch.initial, Epoch.handshake, Epoch.application]);

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
  const hs = createHandshake(
    { ...config.tls, role: config.role, provider: config.provider } as HandshakeClientConfig | HandshakeServerConfig,
    'quic',
    config.transportParameters,
  );
  return wrap(startHandshake(hs, now));
}

/**
 * Handshake bytes the peer sent in CRYPTO frames at `epoch` (0, 2 or 3), contiguous and in order (the QUIC
 * layer reassembles each space's CRYPTO stream).
 */
export function quicHandshakeData(hs: QuicHandshake, epoch: number, data: Uint8Array, now: number): QuicHandshakeStep {
  if (!CRYPTO_EPOCHS.has(epoch)) throw new RangeError(`no CRYPTO data at epoch ${epoch}`);
  return wrap(handshakeData(hs, epoch, data, now));
}

/**
 * The key epoch TLS reads handshake bytes at now (0 Initial, 2 Handshake, 3 1-RTT): CRYPTO data of an older
 * level is checked by the connection (RFC 9001 §4.1.3) before it gets here.
 */
export const quicReadEpoch = (hs: QuicHandshake): number => hs.readEpoch;

/** The connection is closing: the handshake state is simply dropped. Nothing is sent (QUIC closes with CONNECTION_CLOSE). */
export function closeQuicHandshake(_hs: QuicHandshake, _now: number): void {}

function wrap(step: HsStep): QuicHandshakeStep {
  if (!step.error) return { handshake: step.state, events: step.events };
  const error = new TlsError(step.error);
  // The engine reports no key change from a failed step, so the CONNECTION_CLOSE goes under keys the peer has.
  return { handshake: step.state, events: step.events, failure: { alert: alertFor(step.error) ?? INTERNAL_ERROR_ALERT, error } };
}
