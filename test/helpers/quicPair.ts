/**
 * A QUIC client and server driven against each other over in-memory datagrams on a virtual clock (quinn-proto
 * `tests/util.rs` `Pair` shape), with a link model: one-way latency, a drop rule, and optionally a bottleneck
 * (a rate in bytes per ms and a queue of `queueBytes`: what arrives at a full queue is dropped, as a router does).
 */
import { createQuicConnection, handleQuicEvents, nextQuicTimeout, type QuicConfig, type QuicEffect as Effect, type QuicInput as Input, type QuicState } from '../../src/quic/connection.js';
import { protectPacket } from '../../src/quic/protection.js';
import { encodeFrame, type Frame } from '../../src/wire/quic/frames.js';
import { encodeShortHeader } from '../../src/wire/quic/packet.js';
import { encodeWith } from '../../src/wire/writer.js';
import { caVerifier, NOW, serverCredentials } from './pair.js';

export type Side = 'client' | 'server';
export const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

/** A bottleneck on each direction of the link: `rate` bytes per ms, and a drop-tail queue of `queueBytes`. */
export interface Bottleneck {
  readonly rate: number;
  readonly queueBytes: number;
}

export class QuicPair {
  readonly state: Record<Side, QuicState>;
  readonly effects: Record<Side, Effect[]> = { client: [], server: [] };
  readonly datagrams: Record<Side, Uint8Array[]> = { client: [], server: [] };
  readonly delivered: Record<Side, Map<number, Uint8Array[]>> = { client: new Map(), server: new Map() };
  /** Datagrams dropped by the drop rule, and by a full bottleneck queue, per sending side. */
  readonly dropped: Record<Side, { rule: number; queue: number }> = { client: { rule: 0, queue: 0 }, server: { rule: 0, queue: 0 } };
  now = NOW;
  /** Inputs handled (each datagram and each timer), for bounds on work. */
  steps = 0;
  /** Datagrams in flight: [to, data, arrival time, from address, to address], kept in arrival order. */
  private readonly wire: [Side, Uint8Array, number, string?, string?][] = [];
  /**
   * Each side's address (`host:port`), or none (then datagrams carry no `from` and reach the other side
   * whatever the address). With addresses, datagrams carry the sender's as `from`, and one sent to an address
   * that is no longer the receiver's is lost (counted in `misaddressed`): a client that moved does not get them.
   */
  readonly address: Record<Side, string | undefined> = { client: undefined, server: undefined };
  /** Datagrams lost because they went to an address the receiver had left, by receiving side. */
  readonly misaddressed: Record<Side, number> = { client: 0, server: 0 };
  /** One-way delay of the in-memory link, ms. */
  latency = 0;
  bottleneck?: Bottleneck;
  /** When each direction's bottleneck is free again (ms), by sending side. */
  private readonly linkFree: Record<Side, number> = { client: 0, server: 0 };
  /** Return true to drop the n-th datagram a side sends. */
  drop: (from: Side, n: number, data: Uint8Array) => boolean = () => false;
  /**
   * Each side's application reads what is delivered at once (a `consumed` input after the step, not counted in
   * `steps`), so the receive windows re-open as data arrives; `false` leaves the reading to the test.
   */
  readonly autoConsume: Record<Side, boolean> = { client: true, server: true };
  /** Called after every input with the side's new state and that input's effects. */
  observe: (side: Side, state: QuicState, effects: readonly Effect[]) => void = () => {};

  constructor(client: Partial<QuicConfig> = {}, server: Partial<QuicConfig> = {}) {
    this.state = {
      client: createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] }, ...client }),
      server: createQuicConnection({ role: 'server', tls: { ...serverCredentials(), alpnProtocols: ['h3'] }, ...server }),
    };
  }

  input(side: Side, input: Input): readonly Effect[] {
    this.steps++;
    const effects = this.step(side, input);
    if (this.autoConsume[side]) {
      const read = new Map<number, number>();
      for (const e of effects) if (e.type === 'deliver') read.set(e.stream, (read.get(e.stream) ?? 0) + e.data.length);
      for (const [stream, bytes] of read) if (this.state[side].phase === 'connected') this.step(side, { type: 'consumed', now: this.now, stream, bytes });
    }
    return effects;
  }

  /** The application of `side` reads `bytes` of `stream` (with `autoConsume` off). */
  consume(side: Side, stream: number, bytes: number): readonly Effect[] {
    return this.step(side, { type: 'consumed', now: this.now, stream, bytes });
  }

  private step(side: Side, input: Input): readonly Effect[] {
    const step = handleQuicEvents(this.state[side], input);
    this.state[side] = step.state;
    this.observe(side, step.state, step.effects);
    for (const e of step.effects) {
      this.effects[side].push(e);
      if (e.type === 'transmit' || e.type === 'transmitTo') {
        const n = this.datagrams[side].push(e.data) - 1;
        // Where it goes: a `transmitTo`'s address, else where the sender believes its peer is.
        const to = e.type === 'transmitTo' ? e.address : side === 'server' ? (step.state.path.address ?? this.address.client) : this.address.server;
        if (this.drop(side, n, e.data)) this.dropped[side].rule++;
        else this.enqueue(side, e.data, to);
      }
      if (e.type === 'deliver') {
        const m = this.delivered[side];
        m.set(e.stream, [...(m.get(e.stream) ?? []), e.data]);
      }
    }
    return step.effects;
  }

  private enqueue(from: Side, data: Uint8Array, to?: string): void {
    let arrival = this.now + this.latency;
    const b = this.bottleneck;
    if (b) {
      const start = Math.max(this.now, this.linkFree[from]);
      // Bytes still queued ahead of this datagram at the bottleneck: drop-tail beyond the queue size.
      if ((start - this.now) * b.rate + data.length > b.queueBytes) {
        this.dropped[from].queue++;
        return;
      }
      this.linkFree[from] = start + data.length / b.rate;
      arrival = this.linkFree[from] + this.latency;
    }
    let i = this.wire.length;
    while (i > 0 && this.wire[i - 1]![2] > arrival) i--;
    this.wire.splice(i, 0, [other(from), data, arrival, this.address[from], to]);
  }

  start(): this {
    this.input('server', { type: 'start', now: this.now });
    this.input('client', { type: 'start', now: this.now });
    return this;
  }

  /** Deliver datagrams and fire timers until both are quiet, `until` (virtual ms) passes or `done()`. Bounded. */
  drive(until = this.now + 60_000, done: () => boolean = () => false, maxSteps = 200_000): this {
    for (let i = 0; i < maxSteps; i++) {
      if (done()) return this;
      const deadlines = (['client', 'server'] as const)
        .map((side) => [side, nextQuicTimeout(this.state[side])] as const)
        .filter((d): d is readonly [Side, number] => d[1] !== undefined);
      const timer = deadlines.length ? deadlines.reduce((a, b) => (b[1] < a[1] ? b : a)) : undefined;
      const next = this.wire[0];
      if (next && (!timer || next[2] <= timer[1])) {
        if (next[2] > until) return this;
        this.wire.shift();
        this.now = Math.max(this.now, next[2]);
        const here = this.address[next[0]];
        if (here !== undefined && next[4] !== undefined && next[4] !== here) {
          this.misaddressed[next[0]]++;
          continue;
        }
        this.input(next[0], { type: 'datagram', now: this.now, data: next[1], ...(next[3] !== undefined ? { from: next[3] } : {}) });
        continue;
      }
      if (!timer || timer[1] > until) return this;
      this.now = Math.max(this.now, timer[1]);
      this.input(timer[0], { type: 'timeout', now: this.now });
    }
    throw new Error(`drive: no progress after ${maxSteps} steps`);
  }

  /** Deliver what is in flight, without firing timers. */
  settle(): this {
    return this.drive(this.now);
  }

  /** Packet numbers of forged packets, per side: well above what the side itself sends. */
  private forged: Partial<Record<Side, number>> = {};

  /** A 1-RTT packet with `frames` forged under `from`'s keys, to its current DCID, as a hostile peer sends. */
  forge(from: Side, frames: readonly Frame[]): Uint8Array {
    const c = this.state[from];
    const n = (this.forged[from] ??= c.spaces.application.nextPn + 1_000);
    this.forged[from] = n + 1;
    const payload = encodeWith((w) => frames.forEach((f) => encodeFrame(w, f)));
    return protectPacket(c.config.provider, c.spaces.application.tx!, encodeShortHeader({ dcid: c.dcid, packetNumber: n, pnLength: 4 }), n, payload);
  }

  text(side: Side, stream: number): string {
    return Buffer.concat(this.delivered[side].get(stream) ?? []).toString();
  }

  bytes(side: Side, stream: number): number {
    return (this.delivered[side].get(stream) ?? []).reduce((n, d) => n + d.length, 0);
  }

  closed(side: Side): Extract<Effect, { type: 'closed' }> | undefined {
    return this.effects[side].find((e): e is Extract<Effect, { type: 'closed' }> => e.type === 'closed');
  }
}

/** What `side` did about the connection (its phase and the close it sent or met), for assertion messages. */
export function quicOutcome(pair: QuicPair, side: Side): string {
  const s = pair.state[side];
  const f = s.closeFrame;
  if (f) return `${s.phase}, CONNECTION_CLOSE 0x${f.errorCode.toString(16)} (frame 0x${(f.frameType ?? 0).toString(16)}) "${new TextDecoder().decode(f.reason)}"`;
  const d = s.closeError?.detail;
  if (d) return `${s.phase}, ${d.kind}${d.kind === 'quicClose' ? ` 0x${d.code.toString(16)}` : ''}: ${s.closeError!.message}`;
  return `${s.phase}, no CONNECTION_CLOSE`;
}
