/**
 * Forging TLS 1.3 flights on the wire for the conformance probes: byte builders, records split from a chunk, a
 * ClientHello parsed into raw parts and built back (extensions edited in between), the feeding of bytes to a
 * connection and the verdicts on a step (refused with an alert, or accepted), and the ticket-issuing server
 * config and sessions that resumption probes start from. Shared by test/tls/conformance13*.test.ts and
 * test/tls/resumption.test.ts.
 */
import type { ExecutionContext } from 'ava';
import { Pair, NOW, text } from './pair.js';
import { splitMessages, splitRecords as splitPlainRecords } from './tls12.js';
import { handleEvents, isClosed, type TlsState } from '../../src/tls/connection.js';
import { openRecord, plainRecord } from '../../src/tls/record.js';
import { decodeHandshakeBytes, encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import type { ClientHello, ServerHello } from '../../src/wire/tls/messages.js';
import { ExtensionType as X, HRR_RANDOM, alertName } from '../../src/wire/tls/constants.js';
import { createAntiReplay, createTicketer, type TlsSession } from '../../src/handshake/session.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import type { TlsEffect } from '../../src/tls/types.js';
import type { Step } from '../../src/core/types.js';

// ------------------------------------------------------------------------------------------------------------
// Bytes

/** A big-endian uint16. */
export const u16 = (n: number) => Uint8Array.of((n >> 8) & 0xff, n & 0xff);
/** A big-endian uint32. */
export const u32 = (n: number) => Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
/** The parts, one after the other, in a fresh array. */
export const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
/** `b` behind a one-byte length. */
export const vec8 = (b: Uint8Array) => cat(Uint8Array.of(b.length), b);
/** `b` behind a two-byte length. */
export const vec16 = (b: Uint8Array) => cat(u16(b.length), b);
/** A list of uint16s (no length prefix). */
export const u16s = (list: readonly number[]) => cat(...list.map(u16));
/** A handshake message: msg_type, u24 length, body. */
export const hsMsg = (type: number, body: Uint8Array) =>
  cat(Uint8Array.of(type, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff), body);

/** An extension as it lies in a hello: type and opaque data. */
export interface RawExt {
  readonly type: number;
  readonly data: Uint8Array;
}
/** Extensions framed one after the other (no outer length). */
export const extBlock = (exts: readonly RawExt[]) => cat(...exts.map((e) => cat(u16(e.type), vec16(e.data))));
/** key_share extension data: a client_shares list of (group, key_exchange). */
export const keyShareData = (entries: readonly (readonly [number, Uint8Array])[]) => vec16(cat(...entries.map(([g, k]) => cat(u16(g), vec16(k)))));

/** Named group code points used by the probes. */
export const G = { secp256r1: 0x0017, secp384r1: 0x0018, secp521r1: 0x0019, x25519: 0x001d, x448: 0x001e } as const;

// ------------------------------------------------------------------------------------------------------------
// Records

/** One record as framed on the wire: its content type, 5-byte header, fragment, and all its bytes. */
export interface Rec {
  readonly type: number;
  readonly header: Uint8Array;
  readonly fragment: Uint8Array;
  readonly bytes: Uint8Array;
}

/** Split a chunk of whole records (header and whole bytes kept, to re-open or forward them). */
export function splitRecords(wire: Uint8Array): Rec[] {
  let o = 0;
  return splitPlainRecords(wire).map((r) => {
    const start = o;
    o += 5 + r.body.length;
    return { type: r.type, header: wire.subarray(start, start + 5), fragment: r.body, bytes: wire.subarray(start, o) };
  });
}

// ------------------------------------------------------------------------------------------------------------
// Feeding and verdicts

/** `data` received by `state` at {@link NOW}. */
export function feed(state: TlsState, data: Uint8Array): Step<TlsState, TlsEffect> {
  return handleEvents(state, { type: 'received', now: NOW, data });
}

/** Feed several chunks in order, collecting every effect (stops after a close). */
export function feedAll(state: TlsState, chunks: readonly Uint8Array[]): Step<TlsState, TlsEffect> {
  const effects: TlsEffect[] = [];
  for (const c of chunks) {
    const step = feed(state, c);
    state = step.state;
    effects.push(...step.effects);
    if (isClosed(state)) break;
  }
  return { state, effects };
}

/** A handshake message in a plaintext record, fed to `pair`'s server. */
export const toServer = (pair: Pair, msg: Uint8Array) => feed(pair.server, plainRecord(22, msg));

/** The alert descriptions a step sent. */
export const alertsSent = (effects: readonly TlsEffect[]) => effects.flatMap((e) => (e.type === 'alertSent' ? [e.description] : []));

/** The error a step closed with (undefined when it did not close, or closed cleanly). */
export const closedWith = (effects: readonly TlsEffect[]) => {
  const c = effects.find((e) => e.type === 'closed');
  return c?.type === 'closed' ? c.error : undefined;
};

/** The step sent exactly `alert` (fatal), and the connection is closed with an error. */
export function refused(t: ExecutionContext, step: Step<TlsState, TlsEffect>, alert: number, what = ''): void {
  const sent = alertsSent(step.effects);
  const err = closedWith(step.effects);
  t.deepEqual(
    sent.map(alertName),
    [alertName(alert)],
    `${what}: expected ${alertName(alert)}, got [${sent.map(alertName).join(', ')}] (${err?.message ?? 'not closed'})`,
  );
  t.truthy(err, `${what}: closed with an error`);
  t.true(isClosed(step.state), `${what}: closed`);
}

/** The step neither closed nor alerted. */
export function accepted(t: ExecutionContext, step: Step<TlsState, TlsEffect>, what = ''): void {
  const err = closedWith(step.effects);
  t.is(err, undefined, `${what}: ${err?.message}`);
  t.deepEqual(alertsSent(step.effects).map(alertName), [], what);
  t.false(isClosed(step.state), what);
}

// ------------------------------------------------------------------------------------------------------------
// ClientHello on the wire

/** A ClientHello cut into its raw fields (vectors without their length prefixes). */
export interface RawHello {
  readonly version: Uint8Array;
  readonly random: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly suites: Uint8Array;
  readonly compression: Uint8Array;
  readonly exts: readonly RawExt[];
}

/** Parse a ClientHello handshake message (4-byte header included). */
export function parseHello(msg: Uint8Array): RawHello {
  const b = msg.subarray(4);
  let o = 0;
  const version = b.subarray(o, (o += 2));
  const random = b.subarray(o, (o += 32));
  const sessionId = b.subarray(o + 1, (o += 1 + b[o]!));
  const suitesLen = (b[o]! << 8) | b[o + 1]!;
  const suites = b.subarray(o + 2, (o += 2 + suitesLen));
  const compression = b.subarray(o + 1, (o += 1 + b[o]!));
  const extEnd = o + 2 + ((b[o]! << 8) | b[o + 1]!);
  o += 2;
  const exts: RawExt[] = [];
  while (o < extEnd) {
    const type = (b[o]! << 8) | b[o + 1]!;
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    exts.push({ type, data: b.subarray(o + 4, o + 4 + len) });
    o += 4 + len;
  }
  return { version, random, sessionId, suites, compression, exts };
}

/**
 * A ClientHello handshake message from `h`; `extLengthDelta` skews the extensions' length field, `noExtensions`
 * leaves the extensions out altogether.
 */
export function buildHello(h: RawHello, o: { readonly extLengthDelta?: number; readonly noExtensions?: boolean } = {}): Uint8Array {
  const block = extBlock(h.exts);
  const ext = o.noExtensions ? [] : [u16(block.length + (o.extLengthDelta ?? 0)), block];
  return hsMsg(1, cat(h.version, h.random, vec8(h.sessionId), vec16(h.suites), vec8(h.compression), ...ext));
}

/** Replace extension `type` (in place), or add it before pre_shared_key (last otherwise). */
export function setExt(h: RawHello, type: number, data: Uint8Array): RawHello {
  if (h.exts.some((e) => e.type === type)) return { ...h, exts: h.exts.map((e) => (e.type === type ? { type, data } : e)) };
  const psk = h.exts.findIndex((e) => e.type === X.pre_shared_key);
  const exts = [...h.exts];
  exts.splice(psk < 0 ? exts.length : psk, 0, { type, data });
  return { ...h, exts };
}

/** `h` without extension `type`. */
export const dropExt = (h: RawHello, type: number): RawHello => ({ ...h, exts: h.exts.filter((e) => e.type !== type) });

/**
 * A started pair; `hello` is the client's first ClientHello, parsed (`raw` as sent), and `rest` the records the
 * client sent after it (0-RTT); the server has seen none of them.
 */
export function helloFor(server: Partial<TlsServerConfig> = {}, client: Partial<TlsClientConfig> = {}) {
  const pair = new Pair(client, server).start();
  const recs = splitRecords(cat(...pair.inbox.server.splice(0)));
  return { pair, raw: recs[0]!.fragment, hello: parseHello(recs[0]!.fragment), rest: recs.slice(1).map((r) => r.bytes) };
}

// ------------------------------------------------------------------------------------------------------------
// Sessions

/** The ticket key of {@link serverCfg}'s ticketer. */
export const TICKET_SECRET = new Uint8Array(32).fill(7);

/** A server config that issues tickets (under {@link TICKET_SECRET}) and guards against 0-RTT replay. */
export function serverCfg(extra: Partial<TlsServerConfig> = {}): Partial<TlsServerConfig> {
  return { ticketer: createTicketer(TICKET_SECRET), antiReplay: createAntiReplay(), ...extra };
}

/** Run a full handshake and return the sessions the client got. */
export function sessionsFrom(server: Partial<TlsServerConfig>, client: Partial<TlsClientConfig> = {}): TlsSession[] {
  const pair = new Pair(client, server).start().drive();
  return pair.of('client', 'session').map((e) => (e.type === 'session' ? e.session : undefined!));
}

/** A resumed pair offering 0-RTT to `server` (ticket from `issuer`, or `session`); both started, nothing delivered yet. */
export function zeroRtt(issuer: Partial<TlsServerConfig>, server: Partial<TlsServerConfig> = issuer, session?: TlsSession) {
  const s = session ?? sessionsFrom(issuer)[0]!;
  const pair = new Pair({ session: s, earlyData: true }, server);
  pair.input('server', { type: 'start', now: pair.now });
  pair.input('client', { type: 'start', now: pair.now });
  return { pair, session: s };
}

/**
 * A 0-RTT connection to `server` whose client wrote `early` as early data, driven to the end; `captured` is the
 * client's first flight (ClientHello and 0-RTT records) as an attacker recorded it, and `replay` a fresh, started
 * pair on `server`'s config (so sharing its anti-replay store) to replay it to.
 */
export function capturedEarlyFlight(server: Partial<TlsServerConfig>, early: string) {
  const { pair } = zeroRtt(server);
  pair.input('client', { type: 'write', now: pair.now, data: text(early) });
  const captured = pair.inbox.server.slice();
  pair.drive();
  const replay = new Pair({}, server);
  replay.input('server', { type: 'start', now: replay.now });
  return { pair, captured, replay };
}

// ------------------------------------------------------------------------------------------------------------
// The server's messages, built; its first flight, opened

/** A ServerHello (or HelloRetryRequest) record, encoded by the codec. */
export const serverHello = (body: ServerHello) => plainRecord(22, encodeHandshakeBytes({ type: 'server_hello', body }));
/** An EncryptedExtensions message holding exactly `exts`. */
export const encryptedExtensions = (exts: readonly RawExt[]) => hsMsg(8, vec16(extBlock(exts)));

/** A HelloRetryRequest answering `ch` with extensions `ext` (supported_versions TLS 1.3 unless told). */
export function hrr(ch: ClientHello, ext: Partial<ServerHello['extensions']>, suite = 0x1301): ServerHello {
  return {
    legacyVersion: 0x0303,
    random: HRR_RANDOM,
    legacySessionIdEcho: ch.legacySessionId,
    cipherSuite: suite,
    legacyCompressionMethod: 0,
    extensions: { supportedVersion: 0x0304, unknown: [], order: [], ...ext },
  };
}


/**
 * A client that sent its ClientHello, and the server's answer: `shRecord` the ServerHello record (not yet fed to
 * `pair.client`), `client` the client state after it, `key` the key it reads the encrypted flight with, and
 * `messages` that flight (EncryptedExtensions … Finished) opened. `chRaw` / `shRaw` are the hello messages as sent.
 */
export function serverFlight(clientCfg: Partial<TlsClientConfig> = {}, server: Partial<TlsServerConfig> = {}) {
  const pair = new Pair(clientCfg, server).start();
  const chRaw = splitRecords(pair.inbox.server[0]!)[0]!.fragment;
  const ch = decodeHandshakeBytes(chRaw);
  if (ch.type !== 'client_hello') throw new Error('no ClientHello');
  pair.serverRound();
  const recs = splitRecords(cat(...pair.inbox.client.splice(0)));
  const shMsg = decodeHandshakeBytes(recs[0]!.fragment);
  if (shMsg.type !== 'server_hello') throw new Error('no ServerHello');
  const afterSh = feed(pair.client, recs[0]!.bytes);
  if (closedWith(afterSh.effects)) throw new Error(`client refused the ServerHello: ${closedWith(afterSh.effects)!.message}`);
  const key = afterSh.state.rxKey!;
  let k = key;
  const parts: Uint8Array[] = [];
  for (const r of recs.slice(1)) {
    if (r.type === 20) continue;
    const o = openRecord(k, r.header, r.fragment);
    if (o.kind !== 'ok' || o.type !== 22) throw new Error('cannot open the server flight');
    parts.push(o.content);
    k = o.key;
  }
  return {
    pair,
    ch: ch.body,
    sh: shMsg.body,
    chRaw,
    shRaw: recs[0]!.fragment,
    shRecord: recs[0]!.bytes,
    ccsFromServer: recs.some((r) => r.type === 20),
    client: afterSh.state,
    key,
    messages: splitMessages(cat(...parts)),
  };
}
