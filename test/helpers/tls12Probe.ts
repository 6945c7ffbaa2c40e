/**
 * Helpers of the TLS 1.2 conformance probes (`test/tls/conformance12*.test.ts`): raw handshake messages, feeding
 * a {@link Pair} without throwing, and the verdicts they assert (one fatal alert and a typed close, or alive).
 */
import type { ExecutionContext } from 'ava';
import { TlsError } from '../../src/core/errors.js';
import type { TlsState } from '../../src/tls/connection.js';
import { plainRecord, sealRecord, type RecordKey } from '../../src/tls/record.js';
import { AlertDescription, AlertLevel } from '../../src/wire/tls/constants.js';
import { type Pair, str, text } from './pair.js';
import { helloExtensions, type RawExt } from './tls12.js';

type Side = 'client' | 'server';

/** A 16-bit value as two bytes. */
export const u16 = (v: number): number[] => [v >> 8, v & 0xff];
/** A 24-bit value as three bytes. */
export const u24 = (v: number): number[] => [v >> 16, (v >> 8) & 0xff, v & 0xff];

/** A handshake message with its 4-byte header. */
export const hsMsg = (type: number, body: ArrayLike<number>): Uint8Array => Uint8Array.from([type, ...u24(body.length), ...Array.from(body)]);

/** Feed bytes to one side of a pair, asserting that the reducer never throws. */
export function feed(t: ExecutionContext, pair: Pair, side: Side, data: Uint8Array): void {
  t.notThrows(() => pair.input(side, { type: 'received', now: pair.now, data }));
}

/** The fatal alerts a side sent, in order. */
export const fatalAlerts = (pair: Pair, side: Side): number[] =>
  pair.effects[side].flatMap((e) => (e.type === 'alertSent' && e.level === AlertLevel.fatal ? [e.description] : []));

/** The side sent exactly one fatal alert, one of `allowed`, and closed with a typed error carrying it. */
export function assertFatal(t: ExecutionContext, pair: Pair, side: Side, allowed: readonly number[]): void {
  const alerts = fatalAlerts(pair, side);
  const err = pair.closedError(side);
  t.is(alerts.length, 1, `fatal alerts sent: [${alerts.join(',')}]; closed: ${err?.message ?? 'no'}`);
  t.true(allowed.includes(alerts[0]!), `alert ${alerts[0]} is not one of [${allowed.join(',')}] (${err?.message})`);
  t.is(pair.of(side, 'closed').length, 1, 'closed once');
  t.true(err instanceof TlsError, 'closed with a TlsError');
  t.is(err?.alert, alerts[0]);
}

/** The side sent no fatal alert and is not closed. */
export function assertAlive(t: ExecutionContext, pair: Pair, side: Side): void {
  t.deepEqual(fatalAlerts(pair, side), [], pair.closedError(side)?.message);
  t.is(pair.of(side, 'closed').length, 0, pair.closedError(side)?.message);
}

/** Seal a record with a side's TLS 1.2 write key, as if that side had sent it; advances the key. */
export function inject(pair: Pair, from: Side, type: number, content: Uint8Array): Uint8Array {
  const state = pair[from] as TlsState & { txKey: RecordKey };
  const sealed = sealRecord(state.txKey, type, content);
  pair[from] = { ...state, txKey: sealed.key } as TlsState;
  return sealed.bytes;
}

/** One line each way (`ping…`, `pong…`): the connection still carries data. */
export function exchange(t: ExecutionContext, pair: Pair, what = ''): void {
  const before = { client: pair.delivered.client.length, server: pair.delivered.server.length };
  pair.input('client', { type: 'write', now: pair.now, data: text(`ping${what}`) });
  pair.input('server', { type: 'write', now: pair.now, data: text(`pong${what}`) });
  pair.drive();
  t.is(str(pair.delivered.server.slice(before.server)), `ping${what}`);
  t.is(str(pair.delivered.client.slice(before.client)), `pong${what}`);
}

/** Plaintext application data where a handshake message is expected: unexpected_message, nothing delivered. */
export function refusesPlaintextData(t: ExecutionContext, pair: Pair, side: Side): void {
  feed(t, pair, side, plainRecord(23, text('early')));
  assertFatal(t, pair, side, [AlertDescription.unexpected_message]);
  t.is(pair.delivered[side].length, 0);
}

/**
 * A ClientHello message from its parts: `head` is everything before the cipher suites (legacy_version, random and
 * the session ID with its length), then the suites, compression methods and extensions, each with its length.
 */
export function clientHelloMessage(head: ArrayLike<number>, suites: readonly number[], compression: readonly number[], exts: readonly { readonly type: number; readonly data: Uint8Array }[]): Uint8Array {
  const block = exts.flatMap((e) => [...u16(e.type), ...u16(e.data.length), ...Array.from(e.data)]);
  return hsMsg(1, [...Array.from(head), ...u16(suites.length * 2), ...suites.flatMap(u16), compression.length, ...compression, ...u16(block.length), ...block]);
}

/** The fields of a ClientHello message (4-byte header included). */
export interface ClientHelloParts {
  readonly head: Uint8Array; // legacy_version ‖ random ‖ session id (with its length)
  suites: number[];
  compression: number[];
  exts: RawExt[];
}

export function parseClientHello(msg: Uint8Array): ClientHelloParts {
  let o = 4 + 2 + 32;
  o += 1 + msg[o]!;
  const head = msg.subarray(4, o);
  const nSuites = (msg[o]! << 8) | msg[o + 1]!;
  const suites: number[] = [];
  for (let i = 0; i < nSuites; i += 2) suites.push((msg[o + 2 + i]! << 8) | msg[o + 3 + i]!);
  o += 2 + nSuites;
  const compression = Array.from(msg.subarray(o + 1, o + 1 + msg[o]!));
  return { head, suites, compression, exts: helloExtensions(msg) };
}

export const buildClientHello = (p: ClientHelloParts): Uint8Array => clientHelloMessage(p.head, p.suites, p.compression, p.exts);
