/** A QUIC client and server driven against each other over in-memory datagrams on a virtual clock (quinn's `Pair`). */
import { createQuicConnection, handleQuicEvents, nextQuicTimeout, type QuicConfig, type QuicEffect as Effect, type QuicInput as Input, type QuicState } from '../../src/quic/connection.js';
import { caVerifier, NOW, serverCredentials } from './pair.js';

export type Side = 'client' | 'server';
const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');

export class QuicPair {
  readonly state: Record<Side, QuicState>;
  readonly effects: Record<Side, Effect[]> = { client: [], server: [] };
  readonly datagrams: Record<Side, Uint8Array[]> = { client: [], server: [] };
  readonly delivered: Record<Side, Map<number, Uint8Array[]>> = { client: new Map(), server: new Map() };
  now = NOW;
  /** Datagrams in flight: [to, data, arrival time]. */
  private readonly wire: [Side, Uint8Array, number][] = [];
  /** One-way delay of the in-memory link, ms. */
  latency = 0;
  /** Return true to drop the n-th datagram a side sends. */
  drop: (from: Side, n: number, data: Uint8Array) => boolean = () => false;
  /** Called after every input with the side's new state and that input's effects. */
  observe: (side: Side, state: QuicState, effects: readonly Effect[]) => void = () => {};

  constructor(client: Partial<QuicConfig> = {}, server: Partial<QuicConfig> = {}) {
    this.state = {
      client: createQuicConnection({ role: 'client', tls: { serverName: 'localhost', verifier: caVerifier(), alpnProtocols: ['h3'] }, ...client }),
      server: createQuicConnection({ role: 'server', tls: { ...serverCredentials(), alpnProtocols: ['h3'] }, ...server }),
    };
  }

  input(side: Side, input: Input): readonly Effect[] {
    const step = handleQuicEvents(this.state[side], input);
    this.state[side] = step.state;
    this.observe(side, step.state, step.effects);
    for (const e of step.effects) {
      this.effects[side].push(e);
      if (e.type === 'transmit') {
        const n = this.datagrams[side].push(e.data) - 1;
        if (!this.drop(side, n, e.data)) this.wire.push([other(side), e.data, this.now + this.latency]);
      }
      if (e.type === 'deliver') {
        const m = this.delivered[side];
        m.set(e.stream!, [...(m.get(e.stream!) ?? []), e.data]);
      }
    }
    return step.effects;
  }

  start(): this {
    this.input('server', { type: 'start', now: this.now });
    this.input('client', { type: 'start', now: this.now });
    return this;
  }

  /** Deliver datagrams and fire timers until both are quiet or `until` (virtual ms) passes. Bounded. */
  drive(until = this.now + 60_000): this {
    for (let i = 0; i < 10_000; i++) {
      const deadlines = (['client', 'server'] as const)
        .map((side) => [side, nextQuicTimeout(this.state[side])] as const)
        .filter((d): d is readonly [Side, number] => d[1] !== undefined);
      const timer = deadlines.length ? deadlines.reduce((a, b) => (b[1] < a[1] ? b : a)) : undefined;
      const next = this.wire[0];
      if (next && (!timer || next[2] <= timer[1])) {
        if (next[2] > until) return this;
        this.wire.shift();
        this.now = Math.max(this.now, next[2]);
        this.input(next[0], { type: 'datagram', now: this.now, data: next[1] });
        continue;
      }
      if (!timer || timer[1] > until) return this;
      this.now = Math.max(this.now, timer[1]);
      this.input(timer[0], { type: 'timeout', now: this.now });
    }
    throw new Error('drive: no progress after 10 000 steps');
  }

  /** Deliver what is in flight, without firing timers. */
  settle(): this {
    return this.drive(this.now);
  }

  text(side: Side, stream: number): string {
    return Buffer.concat(this.delivered[side].get(stream) ?? []).toString();
  }

  closed(side: Side): Extract<Effect, { type: 'closed' }> | undefined {
    return this.effects[side].find((e): e is Extract<Effect, { type: 'closed' }> => e.type === 'closed');
  }
}

