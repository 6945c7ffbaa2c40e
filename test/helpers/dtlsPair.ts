/**
 * A DTLS client and server driven against each other on a virtual clock over a datagram link that a test can
 * make lossy: `filter` decides, for each datagram, whether it is delivered (and may duplicate or hold it back for
 * reordering). Deadlines are honoured by advancing the clock to the earliest one when nothing is in flight, so
 * retransmission timers fire exactly when `nextDtlsTimeout` says (the "auto ticking" of the RxJS adapter).
 */
import {
  createDtlsConnection,
  handleDtlsEvents,
  isDtlsCommitted,
  nextDtlsTimeout,
  type DtlsState,
} from '../../src/dtls/connection.js';
import type { DtlsClientConfig, DtlsServerConfig, DtlsEffect, DtlsInput } from '../../src/dtls/types.js';
import { NOW, caVerifier, serverCredentials, type Side } from './pair.js';

export type { Side };

/** A {@link DtlsInput} whose `now` defaults to the pair's clock. */
export type PendingDtlsInput = DtlsInput extends infer I ? (I extends DtlsInput ? Omit<I, 'now'> & { now?: number } : never) : never;

/** A datagram on the link, with its direction and its index among that direction's datagrams (0-based). */
export interface LinkDatagram {
  readonly to: Side;
  readonly index: number;
  readonly data: Uint8Array;
  readonly at: number;
}

/** What the link does with a datagram: deliver it (possibly twice), drop it, or deliver it after `delay` ms. */
export type LinkAction = 'deliver' | 'drop' | 'duplicate' | { readonly delay: number };

export const clientConfig = (extra: Partial<DtlsClientConfig> = {}): DtlsClientConfig => ({
  role: 'client',
  serverName: 'localhost',
  verifier: caVerifier(),
  ...extra,
});

export const serverConfig = (extra: Partial<DtlsServerConfig> = {}): DtlsServerConfig => ({
  role: 'server',
  ...serverCredentials(),
  ...extra,
});

export class DtlsPair {
  client: DtlsState;
  server: DtlsState;
  now = NOW;
  readonly effects: Record<Side, DtlsEffect[]> = { client: [], server: [] };
  readonly delivered: Record<Side, Uint8Array[]> = { client: [], server: [] };
  /** Every datagram each side sent, in order (before the link's verdict). */
  readonly sent: Record<Side, Uint8Array[]> = { client: [], server: [] };
  /** Datagrams on the wire: due time and destination. */
  private wire: { to: Side; at: number; data: Uint8Array }[] = [];
  private counts: Record<Side, number> = { client: 0, server: 0 };
  /** Inputs reduced, to bound a test's work. */
  steps = 0;
  /**
   * Listener behaviour (RFC 9147 §5.1): after each server step that left the state uncommitted (a stateless
   * HelloRetryRequest), the server state is thrown away and a fresh one takes the next datagram. Counts them.
   */
  statelessResets = 0;
  private readonly serverTemplate: DtlsServerConfig;

  constructor(
    client: Partial<DtlsClientConfig> = {},
    server: Partial<DtlsServerConfig> = {},
    public filter: (d: LinkDatagram) => LinkAction = () => 'deliver',
    /** One-way delay of the link, ms. */
    public latency = 5,
  ) {
    this.client = createDtlsConnection(clientConfig(client));
    this.serverTemplate = serverConfig(server);
    this.server = createDtlsConnection(this.serverTemplate);
  }

  /** Feed one input to a side and route its effects. */
  input(side: Side, input: PendingDtlsInput): readonly DtlsEffect[] {
    this.steps++;
    const step = handleDtlsEvents(this[side], { ...input, now: input.now ?? this.now } as DtlsInput);
    this[side] = step.state;
    if (side === 'server' && this.serverTemplate.cookieSecret && input.type === 'datagram' && !isDtlsCommitted(step.state)) {
      this.statelessResets++;
      this.server = handleDtlsEvents(createDtlsConnection(this.serverTemplate), { type: 'start', now: this.now }).state;
    }
    const other: Side = side === 'client' ? 'server' : 'client';
    for (const e of step.effects) {
      this.effects[side].push(e);
      if (e.type === 'deliver') this.delivered[side].push(e.data);
      if (e.type === 'transmit') {
        this.sent[side].push(e.data);
        const index = this.counts[other]++;
        const action = this.filter({ to: other, index, data: e.data, at: this.now });
        if (action === 'drop') continue;
        const at = this.now + this.latency + (typeof action === 'object' ? action.delay : 0);
        this.wire.push({ to: other, at, data: e.data });
        if (action === 'duplicate') this.wire.push({ to: other, at: at + 1, data: e.data });
      }
    }
    return step.effects;
  }

  start(): void {
    this.input('server', { type: 'start' });
    this.input('client', { type: 'start' });
  }

  /**
   * Run until nothing is on the wire and no deadline is due before `until` (absolute ms), or `maxSteps`
   * inputs. The clock jumps to the next event: a datagram's arrival or a side's deadline.
   */
  run(until = this.now + 120_000, maxSteps = 10_000): void {
    const limit = this.steps + maxSteps;
    while (this.steps < limit) {
      const next = this.nextEvent();
      if (next === undefined || next > until) break;
      this.now = Math.max(this.now, next);
      const due = this.wire.filter((d) => d.at <= this.now);
      if (due.length > 0) {
        this.wire = this.wire.filter((d) => d.at > this.now);
        for (const d of due) this.input(d.to, { type: 'datagram', data: d.data });
        continue;
      }
      for (const side of ['client', 'server'] as const) {
        const t = nextDtlsTimeout(this[side]);
        if (t !== undefined && t <= this.now) this.input(side, { type: 'timeout' });
      }
    }
  }

  private nextEvent(): number | undefined {
    const times = [
      ...this.wire.map((d) => d.at),
      ...(['client', 'server'] as const).map((s) => nextDtlsTimeout(this[s])).filter((t): t is number => t !== undefined),
    ];
    return times.length ? Math.min(...times) : undefined;
  }

  /** Deliver what is on the wire now, without advancing to deadlines. */
  get inFlight(): number {
    return this.wire.length;
  }

  types(side: Side): string[] {
    return this.effects[side].map((e) => e.type);
  }
}
