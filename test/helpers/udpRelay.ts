/**
 * A lossy UDP relay on 127.0.0.1 for DTLS interop tests (the kernel here has no netem, see PEERS.md §2).
 *
 * The client talks to the relay's port; the relay forwards what it gets to the server from a socket of its own
 * and sends the server's answers back to the client. Each direction has a policy: drop chosen datagrams by
 * their index in that direction (0-based), and/or drop at random with a seeded PRNG, so a run is reproducible
 * from its seed. Every datagram, passed or dropped, goes into {@link UdpRelay.log} with a one-line summary of
 * the DTLS records in it ({@link describeDtlsDatagram}), which is what a failing test prints.
 *
 * @example
 * const relay = await startUdpRelay(serverPort, { toClient: { drop: [0] }, toServer: { lossRate: 0.2, seed: 7 } });
 * // point the client at relay.port; relay.describe() in assertion messages; relay.close() in teardown
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { TeardownOwner } from './peers.js';
import { seededRandom } from '../../src/rx/faults/random.js';

/** Which way a datagram travels. */
export type RelayDirection = 'toServer' | 'toClient';

/** What the relay does to one direction's datagrams. */
export interface DropPolicy {
  /** 0-based indices (among this direction's datagrams) to drop. */
  readonly drop?: readonly number[];
  /** Probability in 0..1 of dropping any other datagram, drawn from a PRNG seeded with `seed`. */
  readonly lossRate?: number;
  /** Seed of the PRNG (default 1). */
  readonly seed?: number;
  /** Never drop datagrams at or after this index (bounds random loss so a handshake can finish). */
  readonly dropBefore?: number;
  /**
   * Never drop a datagram this says to keep: e.g. application data, which DTLS never retransmits, when a test
   * checks data after a handshake through loss (indices shift with timing-dependent retransmissions).
   */
  readonly keep?: (data: Uint8Array) => boolean;
  /**
   * Drop a datagram when this says so, by what it carries rather than its index (retransmissions shift
   * indices). `dropped` counts the datagrams this predicate dropped before (not those `drop` or `lossRate`
   * did): `(d) => d.summary.startsWith('ct') && d.dropped === 0` drops the first encrypted one.
   */
  readonly dropIf?: (d: { readonly index: number; readonly data: Uint8Array; readonly summary: string; readonly dropped: number }) => boolean;
}

/** The policy per direction; a direction without one passes everything. */
export interface RelayPolicy {
  readonly toServer?: DropPolicy;
  readonly toClient?: DropPolicy;
}

/** One datagram the relay saw. */
export interface RelayEntry {
  readonly dir: RelayDirection;
  /** Index among this direction's datagrams, from 0. */
  readonly index: number;
  readonly dropped: boolean;
  readonly size: number;
  /** ms since the relay started. */
  readonly at: number;
  /** The DTLS records in it, e.g. `plain hs(1) e0 s0 len 200 | ct e2 len 1140`. */
  readonly summary: string;
  /** Its bytes (a copy). */
  readonly data: Uint8Array;
}

/** A running relay. */
export interface UdpRelay {
  /** The port clients send to (on 127.0.0.1). */
  readonly port: number;
  readonly log: readonly RelayEntry[];
  /** Datagrams passed / dropped per direction. */
  counts(): Record<RelayDirection, { passed: number; dropped: number }>;
  /** The log as text, one datagram a line. */
  describe(): string;
  close(): Promise<void>;
}

/** mulberry32, the PRNG of the fault-injection operators (the same seed gives the same drops there and here). */
export { seededRandom };

type Decide = (index: number, data: Uint8Array, summary: string) => boolean;

function decider(policy: DropPolicy | undefined): Decide {
  if (!policy) return () => false;
  const chosen = new Set(policy.drop ?? []);
  const rate = policy.lossRate ?? 0;
  if (rate < 0 || rate > 1) throw new RangeError(`lossRate must be in 0..1: ${rate}`);
  const random = seededRandom(policy.seed ?? 1);
  let droppedIf = 0;
  return (index, data, summary) => {
    // Draw for every datagram, so the pattern of random drops does not depend on the chosen ones.
    const r = random();
    if (policy.dropBefore !== undefined && index >= policy.dropBefore) return false;
    if (policy.keep?.(data)) return false;
    if (chosen.has(index) || r < rate) return true;
    if (policy.dropIf?.({ index, data, summary, dropped: droppedIf })) {
      droppedIf++;
      return true;
    }
    return false;
  };
}

const plainTypes: Record<number, string> = { 20: 'ccs', 21: 'alert', 22: 'hs', 23: 'app', 26: 'ack' };

/**
 * A one-line account of the DTLS records in a datagram (RFC 9147 §4): DTLSPlaintext records as
 * `plain <type> e<epoch> s<seq> len <n>` (handshake records also name their first message, e.g. `hs(1)` for a
 * ClientHello, `hs(2)` for a ServerHello or HRR), unified-header records as `ct e<low 2 epoch bits> len <n>`
 * (their sequence number is encrypted). No connection IDs are assumed.
 */
export function describeDtlsDatagram(d: Uint8Array): string {
  const parts: string[] = [];
  let i = 0;
  while (i < d.length) {
    const b = d[i]!;
    if ((b & 0xe0) === 0x20) {
      const seqLen = b & 0x08 ? 2 : 1;
      const hasLen = (b & 0x04) !== 0;
      const cid = (b & 0x10) !== 0;
      let j = i + 1 + seqLen;
      let len = d.length - j;
      if (hasLen) {
        if (j + 2 > d.length) break;
        len = (d[j]! << 8) | d[j + 1]!;
        j += 2;
      }
      parts.push(`ct e${b & 3}${cid ? ' cid?' : ''} len ${len}`);
      i = j + len;
    } else if (i + 13 <= d.length) {
      const type = b;
      const epoch = (d[i + 3]! << 8) | d[i + 4]!;
      const seq = d[i + 8]! * 2 ** 16 + (d[i + 9]! << 8) + d[i + 10]!; // low 24 bits of the 48
      const len = (d[i + 11]! << 8) | d[i + 12]!;
      const hs = type === 22 && len > 0 ? `(${d[i + 13]})` : '';
      parts.push(`plain ${plainTypes[type] ?? String(type)}${hs} e${epoch} s${seq} len ${len}`);
      i += 13 + len;
    } else {
      parts.push(`junk ${d.length - i} B`);
      break;
    }
  }
  return parts.join(' | ');
}

/**
 * Start a relay in front of the server at 127.0.0.1:`serverPort`. The first address that sends to the relay's
 * port is the client; datagrams from anyone else are ignored. `owner`'s teardown closes it.
 */
export async function startUdpRelay(serverPort: number, policy: RelayPolicy = {}, owner?: TeardownOwner): Promise<UdpRelay> {
  const host = '127.0.0.1';
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  await Promise.all([bind(front, host), bind(back, host)]);
  const started = Date.now();
  const log: RelayEntry[] = [];
  const counters: Record<RelayDirection, number> = { toServer: 0, toClient: 0 };
  const decide: Record<RelayDirection, Decide> = { toServer: decider(policy.toServer), toClient: decider(policy.toClient) };
  let client: { address: string; port: number } | undefined;
  let closed = false;

  const relay = (dir: RelayDirection, data: Buffer, send: () => void) => {
    const index = counters[dir]++;
    const summary = describeDtlsDatagram(data);
    const dropped = decide[dir](index, data, summary);
    log.push({ dir, index, dropped, size: data.length, at: Date.now() - started, summary, data: Uint8Array.from(data) });
    if (!dropped && !closed) send();
  };
  front.on('message', (data, from) => {
    client ??= { address: from.address, port: from.port };
    if (from.address !== client.address || from.port !== client.port) return;
    relay('toServer', data, () => back.send(data, serverPort, host));
  });
  back.on('message', (data, from) => {
    if (from.port !== serverPort || !client) return;
    const to = client;
    relay('toClient', data, () => front.send(data, to.port, to.address));
  });
  // ICMP port unreachable surfaces as an error on the sending socket: not the relay's business.
  front.on('error', () => undefined);
  back.on('error', () => undefined);

  const r: UdpRelay = {
    port: (front.address() as AddressInfo).port,
    log,
    counts() {
      const c = { toServer: { passed: 0, dropped: 0 }, toClient: { passed: 0, dropped: 0 } };
      for (const e of log) c[e.dir][e.dropped ? 'dropped' : 'passed']++;
      return c;
    },
    describe() {
      return log
        .map((e) => `${String(e.at).padStart(6)} ms ${e.dir === 'toServer' ? 'C→S' : 'S→C'} #${e.index} ${e.dropped ? 'DROP' : 'pass'} ${e.size} B: ${e.summary}`)
        .join('\n');
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([new Promise<void>((res) => front.close(() => res())), new Promise<void>((res) => back.close(() => res()))]);
    },
  };
  owner?.teardown(() => r.close());
  return r;
}

function bind(socket: dgram.Socket, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}
