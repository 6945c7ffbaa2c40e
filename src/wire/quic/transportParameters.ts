/**
 * QUIC v1 transport parameters (RFC 9000 §18), carried in the TLS `quic_transport_parameters` extension (57,
 * RFC 9001 §8.2): a sequence of (id varint, length varint, value). Decoding validates every value the RFC
 * bounds and the ones only a server may send; unknown parameters are kept (and must be ignored, §18.1).
 */
import { DecodeError, Reader } from '../reader.js';
import { encodeWith, type Writer } from '../writer.js';

/** TRANSPORT_PARAMETER_ERROR (RFC 9000 §20.1): the connection error for any problem found here. */
export const TRANSPORT_PARAMETER_ERROR = 0x08;

/** The TLS extension that carries the parameters (RFC 9001 §8.2). */
export const QUIC_TRANSPORT_PARAMETERS_EXTENSION = 57;

/** A parameter block that breaks RFC 9000 §18: close with TRANSPORT_PARAMETER_ERROR. */
export class TransportParameterError extends DecodeError {
  readonly code = TRANSPORT_PARAMETER_ERROR;
}

/** RFC 9000 §18.2 preferred_address (server only). */
export interface PreferredAddress {
  /** 4 B (all zero: none) and port. */
  readonly ipv4: Uint8Array;
  readonly ipv4Port: number;
  /** 16 B (all zero: none) and port. */
  readonly ipv6: Uint8Array;
  readonly ipv6Port: number;
  /** 1–20 B. */
  readonly connectionId: Uint8Array;
  /** 16 B. */
  readonly statelessResetToken: Uint8Array;
}

/**
 * The parameters of RFC 9000 §18.2 (absent: the default the RFC gives). Limits above 2^53 − 1 are clamped to
 * it (2^62 − 1 means "unlimited" in practice).
 */
export interface TransportParameters {
  readonly originalDestinationConnectionId?: Uint8Array;
  /** Milliseconds; 0 or absent: no idle timeout. */
  readonly maxIdleTimeout?: number;
  readonly statelessResetToken?: Uint8Array;
  /** At least 1200 (default 65527). */
  readonly maxUdpPayloadSize?: number;
  readonly initialMaxData?: number;
  readonly initialMaxStreamDataBidiLocal?: number;
  readonly initialMaxStreamDataBidiRemote?: number;
  readonly initialMaxStreamDataUni?: number;
  /** At most 2^60. */
  readonly initialMaxStreamsBidi?: number;
  readonly initialMaxStreamsUni?: number;
  /** At most 20 (default 3). */
  readonly ackDelayExponent?: number;
  /** Milliseconds, below 2^14 (default 25). */
  readonly maxAckDelay?: number;
  readonly disableActiveMigration?: boolean;
  readonly preferredAddress?: PreferredAddress;
  /** At least 2 (default 2). */
  readonly activeConnectionIdLimit?: number;
  readonly initialSourceConnectionId?: Uint8Array;
  readonly retrySourceConnectionId?: Uint8Array;
  /** Parameters this codec does not know (including reserved ones, §18.1), in order. */
  readonly unknown?: readonly { readonly id: number; readonly value: Uint8Array }[];
}

type Known = Exclude<keyof TransportParameters, 'unknown'>;
type Kind = 'cid' | 'token' | 'int' | 'limit' | 'streams' | 'flag' | 'preferredAddress';

/** RFC 9000 §18.2, one row per parameter: id, name, value kind, and whether only a server may send it. */
const PARAMETERS: readonly { readonly id: number; readonly name: Known; readonly kind: Kind; readonly serverOnly?: true }[] = [
  { id: 0x00, name: 'originalDestinationConnectionId', kind: 'cid', serverOnly: true },
  { id: 0x01, name: 'maxIdleTimeout', kind: 'int' },
  { id: 0x02, name: 'statelessResetToken', kind: 'token', serverOnly: true },
  { id: 0x03, name: 'maxUdpPayloadSize', kind: 'int' },
  { id: 0x04, name: 'initialMaxData', kind: 'limit' },
  { id: 0x05, name: 'initialMaxStreamDataBidiLocal', kind: 'limit' },
  { id: 0x06, name: 'initialMaxStreamDataBidiRemote', kind: 'limit' },
  { id: 0x07, name: 'initialMaxStreamDataUni', kind: 'limit' },
  { id: 0x08, name: 'initialMaxStreamsBidi', kind: 'streams' },
  { id: 0x09, name: 'initialMaxStreamsUni', kind: 'streams' },
  { id: 0x0a, name: 'ackDelayExponent', kind: 'int' },
  { id: 0x0b, name: 'maxAckDelay', kind: 'int' },
  { id: 0x0c, name: 'disableActiveMigration', kind: 'flag' },
  { id: 0x0d, name: 'preferredAddress', kind: 'preferredAddress', serverOnly: true },
  { id: 0x0e, name: 'activeConnectionIdLimit', kind: 'int' },
  { id: 0x0f, name: 'initialSourceConnectionId', kind: 'cid' },
  { id: 0x10, name: 'retrySourceConnectionId', kind: 'cid', serverOnly: true },
];
const BY_ID = new Map(PARAMETERS.map((p) => [p.id, p]));

/** Value checks of RFC 9000 §18.2 for the integer parameters. */
const BOUNDS: Partial<Record<Known, (v: number) => boolean>> = {
  maxUdpPayloadSize: (v) => v >= 1200,
  ackDelayExponent: (v) => v <= 20,
  maxAckDelay: (v) => v < 2 ** 14,
  activeConnectionIdLimit: (v) => v >= 2,
};

function fail(message: string): never {
  throw new TransportParameterError(message);
}

function decodeValue(kind: Kind, name: Known, v: Reader): unknown {
  switch (kind) {
    case 'cid': {
      const cid = v.rest();
      if (cid.length > 20) fail(`${name}: ${cid.length} B (at most 20)`);
      return cid;
    }
    case 'token':
      if (v.remaining !== 16) fail(`${name}: ${v.remaining} B (16 B)`);
      return v.rest();
    case 'flag':
      if (v.remaining !== 0) fail(`${name}: must be empty`);
      return true;
    case 'int': {
      // Any varint (RFC 9000 §18.2 bounds only some): above 2^53 it is clamped, then checked against its bounds.
      const big = v.varintBig();
      const n = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
      if (BOUNDS[name] && !BOUNDS[name]!(n)) fail(`${name}: ${n} out of range`);
      return n;
    }
    case 'limit':
    case 'streams': {
      const n = v.varintBig();
      if (kind === 'streams' && n > 2n ** 60n) fail(`${name}: ${n} above 2^60`);
      return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
    }
    case 'preferredAddress': {
      const ipv4 = v.bytes(4);
      const ipv4Port = v.u16();
      const ipv6 = v.bytes(16);
      const ipv6Port = v.u16();
      const connectionId = v.bytes(v.u8());
      if (connectionId.length < 1 || connectionId.length > 20) fail(`preferredAddress: connection ID of ${connectionId.length} B (1–20)`);
      return { ipv4, ipv4Port, ipv6, ipv6Port, connectionId, statelessResetToken: v.bytes(16) } satisfies PreferredAddress;
    }
  }
}

/**
 * Decode the value of a `quic_transport_parameters` extension sent by a `from` endpoint. Throws
 * {@link TransportParameterError} (close with TRANSPORT_PARAMETER_ERROR, RFC 9000 §7.4, §18.2) for a malformed
 * block, a repeated parameter, a value out of range, or a server-only parameter sent by a client.
 *
 * @example
 * ```ts
 * const params = decodeTransportParameters(extension.data, 'client');
 * params.initialMaxData ?? 0;
 * ```
 */
export function decodeTransportParameters(data: Uint8Array, from: 'client' | 'server'): TransportParameters {
  const out: Record<string, unknown> = {};
  const unknown: { id: number; value: Uint8Array }[] = [];
  const seen = new Set<bigint>();
  const r = new Reader(data);
  try {
    while (r.remaining > 0) {
      // An identifier is any varint (RFC 9000 §18): one above 2^53 is unknown, ignored (§18.1) and not kept.
      const big = r.varintBig();
      const value = r.bytes(r.varint());
      if (seen.has(big)) fail(`transport parameter 0x${big.toString(16)} appears twice`);
      seen.add(big);
      const id = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : undefined;
      const p = id === undefined ? undefined : BY_ID.get(id);
      if (!p) {
        if (id !== undefined) unknown.push({ id, value });
        continue;
      }
      if (p.serverOnly && from === 'client') fail(`${p.name} is sent only by servers`);
      const v = new Reader(value);
      out[p.name] = decodeValue(p.kind, p.name, v);
      v.expectEnd(p.name);
    }
  } catch (err) {
    if (err instanceof TransportParameterError) throw err;
    fail(`malformed transport parameters: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (unknown.length > 0) out.unknown = unknown;
  return out as TransportParameters;
}

function encodeValue(w: Writer, kind: Kind, value: unknown): void {
  switch (kind) {
    case 'cid':
    case 'token':
      w.bytes(value as Uint8Array);
      return;
    case 'flag':
      return;
    case 'int':
    case 'limit':
    case 'streams':
      w.varint(value as number);
      return;
    case 'preferredAddress': {
      const a = value as PreferredAddress;
      w.bytes(a.ipv4).u16(a.ipv4Port).bytes(a.ipv6).u16(a.ipv6Port).u8(a.connectionId.length).bytes(a.connectionId).bytes(a.statelessResetToken);
      return;
    }
  }
}

/** Encode parameters in the order of RFC 9000 §18.2, then the unknown ones; absent ones are left out. */
export function encodeTransportParameters(params: TransportParameters): Uint8Array {
  return encodeWith((w) => {
    for (const p of PARAMETERS) {
      const value = params[p.name];
      if (value === undefined || value === false) continue;
      const body = encodeWith((vw) => encodeValue(vw, p.kind, value));
      w.varint(p.id).varint(body.length).bytes(body);
    }
    for (const u of params.unknown ?? []) w.varint(u.id).varint(u.value.length).bytes(u.value);
  });
}
