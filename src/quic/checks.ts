/**
 * Checks of what an application hands QUIC — connection settings, reducer inputs, stream arguments — shared by
 * the reducer (`connection.ts`) and the RxJS adapter (`src/rx/quic.ts`). Each returns the value checked or throws
 * a {@link TlsError} of kind `apiMisuse` whose message names the option or the call, so that a mistake fails at
 * once, before anything goes on the wire: never a TypeError from deep inside, and never a CONNECTION_CLOSE sent
 * to the peer (or a hang) for our own mistake.
 *
 * @example
 * ```ts
 * const maxData = integerOption('maxData', config.maxData, 1 << 20, 0, Number.MAX_SAFE_INTEGER);
 * const data = bytesArg('write data', input.data);
 * ```
 */
import { misuse } from '../core/errors.js';
import { bytesArg, shown } from '../core/validate.js';
import { checkAlpnProtocols } from '../handshake/config.js';
import { QuicCloseMode, type QuicInput } from './types.js';

/** The largest stream ID plus one (RFC 9000 §2.1: a 62-bit integer). */
const STREAM_ID_LIMIT = 2 ** 62;

/** `v` as a stream ID: an integer in 0..2^62 − 1 (RFC 9000 §2.1). Whether the stream may be used is `streams.ts`'s. */
export function streamIdArg(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= STREAM_ID_LIMIT) throw misuse(`stream ${shown(v)} is not a stream ID (an integer in 0..2^62 - 1)`);
  return v;
}

/**
 * The ALPN protocols of a QUIC connection: at least one (RFC 9001 §8.1), each as every TLS connection takes them
 * ({@link checkAlpnProtocols}: 1..255 bytes, characters up to U+00FF).
 */
export function alpnList(v: unknown): readonly string[] {
  if (Array.isArray(v) && v.length === 0) throw misuse('alpn: QUIC needs alpnProtocols, at least one ALPN protocol name (RFC 9001 §8.1)');
  return checkAlpnProtocols(v);
}

/** The inputs the reducer knows ({@link QuicInput}). */
const INPUT_TYPES: ReadonlySet<string> = new Set<QuicInput['type']>(['start', 'datagram', 'timeout', 'close', 'write', 'end', 'resetStream', 'stopSending', 'consumed', 'priority', 'keyUpdate', 'migrate']);
const CLOSE_MODES: ReadonlySet<unknown> = new Set(Object.values(QuicCloseMode));

/**
 * A reducer input checked before anything else is done with it: an object of a known type with a finite `now`
 * (ms; NaN would arm no timer, or fire them all), a valid stream ID for the stream commands, bytes for `write`
 * and `datagram` data, a known close mode. The finer checks (is the stream ours, the error code, the urgency)
 * stay where the state is known.
 */
export function checkQuicInput(input: unknown): asserts input is QuicInput {
  if (typeof input !== 'object' || input === null) throw misuse(`a QUIC input must be an object with a type and now, got ${shown(input)}`);
  const i = input as { readonly type?: unknown; readonly now?: unknown; readonly [k: string]: unknown };
  if (typeof i.type !== 'string' || !INPUT_TYPES.has(i.type)) throw misuse(`unknown QUIC input type ${shown(i.type)}`);
  if (typeof i.now !== 'number' || !Number.isFinite(i.now)) throw misuse(`input ${i.type}: now must be a finite number of ms, got ${shown(i.now)}`);
  switch (i.type) {
    case 'write':
      streamIdArg(i.stream);
      bytesArg('write data', i.data);
      return;
    case 'end':
    case 'resetStream':
    case 'stopSending':
    case 'consumed':
    case 'priority':
      streamIdArg(i.stream);
      return;
    case 'datagram':
      bytesArg('datagram data', i.data);
      if (i.from !== undefined && typeof i.from !== 'string') throw misuse(`datagram from must be a host:port string, got ${shown(i.from)}`);
      return;
    case 'close':
      if (!CLOSE_MODES.has(i.mode)) throw misuse(`close mode must be 'graceful', 'rapid' or 'silent', got ${shown(i.mode)}`);
      if (i.reason !== undefined && typeof i.reason !== 'string') throw misuse(`close reason must be a string, got ${shown(i.reason)}`);
      return;
    default:
      return;
  }
}
