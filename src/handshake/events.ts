/**
 * The seam between the handshake engine and a record or packet layer (TLS records, DTLS records, QUIC packets).
 *
 * The engine takes handshake bytes tagged with the epoch they arrived under and answers with {@link HsEvent}s:
 * bytes to send at an epoch, key changes, flight ends, completion. It never frames a record or a packet, never
 * derives a record or packet key, and never branches on the transport beyond its {@link HsVariant} (the label
 * prefix, QUIC's transport parameters and the messages each variant forbids). The shape follows rustls `quic.rs`
 * (`write_hs` → `KeyChange`), quinn `crypto.rs` and aioquic `tls.py` (`update_traffic_key_cb(direction, epoch)`).
 */
import type { HandshakeInfo } from '../core/types.js';
import type { SuiteParams } from '../crypto/keySchedule.js';
import type { Tls12SuiteParams } from '../crypto/prf.js';
import type { TlsSession } from './session.js';

/**
 * Key epochs, numbered as DTLS 1.3 numbers them (RFC 9147 §6.1) and as QUIC's encryption levels line up
 * (RFC 9001 §4.1.4): 0 plaintext / Initial, 1 0-RTT, 2 handshake, 3 the first application traffic keys, and
 * each KeyUpdate one more (TLS and DTLS; QUIC updates its 1-RTT keys itself, RFC 9001 §6).
 */
export const Epoch = {
  /** No keys: ClientHello, ServerHello, HelloRetryRequest (QUIC: Initial packets). */
  initial: 0,
  /** client_early_traffic_secret (QUIC: 0-RTT packets). */
  early: 1,
  /** [sender]_handshake_traffic_secret (QUIC: Handshake packets). */
  handshake: 2,
  /** [sender]_application_traffic_secret_0 (QUIC: 1-RTT packets); updates count up from here. */
  application: 3,
} as const;
export type Epoch = number;

/**
 * TLS 1.2 has two epochs per handshake: 0 (plaintext) and, after each side's ChangeCipherSpec, the key block's
 * keys, numbered 1 as DTLS 1.2 numbers its epochs (RFC 6347 §4.1), so a DTLS 1.2 layer uses the engine's epochs
 * on the wire as they are. (A renegotiation would be epoch 2; rxtls refuses renegotiation.)
 */
export const TLS12_EPOCH = 1;

/** Which protocol the engine serves: fixes the label prefix and the messages and extensions that apply. */
export type HsVariant =
  /** TLS 1.3 over a byte stream (RFC 8446): "tls13 " labels, KeyUpdate, EndOfEarlyData, middlebox CCS. */
  | 'tls'
  /**
   * DTLS 1.3 (RFC 9147): "dtls13" labels, the DTLS ClientHello (legacy_cookie, legacy_version 0xfefd, §5.3) and
   * version 0xfefc, KeyUpdate, stateless cookies (§5.1); no middlebox CCS, no early data (so no EndOfEarlyData,
   * §5.6). Messages go in and out with the TLS 4-byte header: the DTLS layer adds and strips its 12-byte one.
   */
  | 'dtls'
  /** QUIC (RFC 9001): "tls13 " labels, quic_transport_parameters, no KeyUpdate, no EndOfEarlyData, no CCS. */
  | 'quic';

/** Which way a key works. */
export type KeyDirection = 'read' | 'write';

/** An event from the engine to the layer that carries it. Events of one step keep the order they happened in. */
export type HsEvent =
  /** Handshake bytes (whole messages) to send under the write keys of `epoch`, in order. */
  | { readonly type: 'send'; readonly epoch: Epoch; readonly data: Uint8Array }
  /**
   * Install a traffic secret for one direction. `secret` is absent only for a write change back to epoch 0
   * (the client's 0-RTT ended by a HelloRetryRequest). The layer derives its own keys from it (TLS/DTLS record
   * keys, QUIC packet and header-protection keys) with `suite` and the variant's label prefix. A read change
   * must fall on a record (or CRYPTO-level) boundary: the engine refuses leftover bytes at the old epoch.
   * `maxEarlyData` comes with epoch 1: the most 0-RTT bytes that may be written (client) or read (server).
   */
  | {
      readonly type: 'keyChange';
      readonly direction: KeyDirection;
      readonly epoch: Epoch;
      readonly suite: SuiteParams;
      readonly secret?: Uint8Array;
      readonly maxEarlyData?: number;
    }
  /** TLS over streams only: send the middlebox-compatibility change_cipher_spec now (RFC 8446 §D.4). */
  | { readonly type: 'compatCcs' }
  /**
   * TLS 1.2 (RFC 5246 §7.1): send a ChangeCipherSpec now, under the current write keys (plaintext in an initial
   * handshake), after the bytes of the `send` events before it. The write key change follows as the next event.
   * The peer's ChangeCipherSpec goes the other way: the layer calls `changeCipherSpec(state, now)`.
   */
  | { readonly type: 'changeCipherSpec' }
  /**
   * TLS 1.2 (RFC 5246 §6.3, §6.2.3.3): install record protection for one direction, from the key block: the AEAD
   * `key` (16/32 B) and the fixed `iv` (AES-GCM: the 4 B implicit salt, the 8 B explicit part being sent in each
   * record, RFC 5288 §3; ChaCha20-Poly1305: 12 B, XORed with the sequence number, RFC 7905 §2). Sequence numbers
   * restart at 0. `epoch` is {@link TLS12_EPOCH}. A write change follows `changeCipherSpec`; a read change
   * answers the layer's `changeCipherSpec` call, and falls on a record boundary like every read change.
   */
  | {
      readonly type: 'tls12KeyChange';
      readonly direction: KeyDirection;
      readonly epoch: Epoch;
      readonly suite: Tls12SuiteParams;
      readonly key: Uint8Array;
      readonly iv: Uint8Array;
    }
  /**
   * TLS 1.2: a HelloRequest (client) or a renegotiating ClientHello (server) arrived; rxtls refuses renegotiation
   * (RFC 5746 §4.2, §4.4): send a no_renegotiation warning alert (RFC 5246 §7.2.2) and carry on.
   */
  | { readonly type: 'noRenegotiation' }
  /** Our flight is complete: a datagram layer arms retransmission (DTLS flights, RFC 9147 §5.8). */
  | { readonly type: 'flightEnd' }
  /** The peer's record_size_limit (RFC 8449): the largest plaintext per record it accepts, and ours in force. */
  | { readonly type: 'recordSizeLimit'; readonly peer: number; readonly ours?: number }
  /** QUIC: the peer's encoded quic_transport_parameters, as soon as its hello (or EE) arrived. */
  | { readonly type: 'transportParameters'; readonly data: Uint8Array }
  /** The handshake completed with what was negotiated. */
  | { readonly type: 'complete'; readonly info: HandshakeInfo }
  /** Client: the 0-RTT outcome. Rejected bytes are the layer's to hand back (it knows what it sent). */
  | { readonly type: 'earlyData'; readonly accepted: boolean }
  /**
   * Server: 0-RTT was offered and refused; up to `bytes` of records that fail to open may be skipped
   * (RFC 8446 §4.2.10) before the client's next flight. `bytes: 0` ends the skipping (the second ClientHello
   * after a HelloRetryRequest: nothing sent after it is early data).
   */
  | { readonly type: 'skipEarlyData'; readonly bytes: number }
  /**
   * The peer's KeyUpdate asked us to update too (update_requested, RFC 8446 §4.6.3): the layer calls
   * `updateTrafficKeys` unless its write side is already closed.
   */
  | { readonly type: 'keyUpdateRequested' }
  /** Client: a resumable session from a NewSessionTicket. */
  | { readonly type: 'session'; readonly session: TlsSession }
  /** One SSLKEYLOGFILE line (only with `keyLog` configured). */
  | { readonly type: 'keyLog'; readonly label: string; readonly clientRandom: Uint8Array; readonly secret: Uint8Array };

export type HsEventType = HsEvent['type'];

/** A `keyLog` event as the line of the NSS key log format: `LABEL <client_random hex> <secret hex>`. */
export function keyLogLine(e: { readonly label: string; readonly clientRandom: Uint8Array; readonly secret: Uint8Array }): string {
  return `${e.label} ${hex(e.clientRandom)} ${hex(e.secret)}`;
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
