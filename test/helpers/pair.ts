/**
 * A client and a server connection driven against each other in memory on a virtual clock
 * (quinn-proto's `Pair`/`drive`): every transmit of one side is fed to the other until both are quiet.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createConnection, handleEvents, nextTimeout, type TlsState } from '../../src/tls/connection.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/tls/config.js';
import type { TlsEffect, TlsInput } from '../../src/tls/types.js';
import { loadCertificateChain, loadPrivateKey } from '../../src/crypto/keys.js';
import { createVerifier } from '../../src/crypto/x509.js';

export const certDir = new URL('../fixtures/certs/', import.meta.url);
export const fixture = (name: string): string => readFileSync(new URL(name, certDir), 'utf8');

/** Server config material for one of the fixture leaves (`server-ec`, `server-ed`, `server-rsa`, `server-p384`). */
export function serverCredentials(name = 'server-ec') {
  return {
    certificateChain: loadCertificateChain(
      existsSync(new URL(`${name}-chain.pem`, certDir)) ? fixture(`${name}-chain.pem`) : fixture(`${name}-cert.pem`),
    ),
    privateKey: loadPrivateKey(fixture(`${name}-key.pem`)),
  };
}

export const caVerifier = () => createVerifier({ ca: fixture('ca-cert.pem') });

/** 2027-01-01: inside every fixture's validity period. */
export const NOW = Date.UTC(2027, 0, 1);

export type Side = 'client' | 'server';

export class Pair {
  client: TlsState;
  server: TlsState;
  now = NOW;
  readonly effects: Record<Side, TlsEffect[]> = { client: [], server: [] };
  readonly delivered: Record<Side, Uint8Array[]> = { client: [], server: [] };
  /** Bytes in flight towards each side. */
  readonly inbox: Record<Side, Uint8Array[]> = { client: [], server: [] };
  /** Asynchronous crypto jobs each side asked for and that are not answered yet. */
  readonly jobs: Record<Side, Extract<TlsEffect, { type: 'crypto' }>[]> = { client: [], server: [] };

  constructor(clientCfg: Partial<TlsClientConfig> = {}, serverCfg: Partial<TlsServerConfig> = {}) {
    this.client = createConnection({ role: 'client', serverName: 'localhost', verifier: caVerifier(), ...clientCfg });
    this.server = createConnection({ role: 'server', ...serverCredentials(), ...serverCfg });
  }

  /** Feed one input to a side and route its effects. */
  input(side: Side, input: TlsInput): readonly TlsEffect[] {
    const step = handleEvents(this[side], input);
    this[side] = step.state;
    for (const e of step.effects) {
      this.effects[side].push(e);
      if (e.type === 'transmit') this.inbox[side === 'client' ? 'server' : 'client'].push(e.data);
      if (e.type === 'transmitParts') this.inbox[side === 'client' ? 'server' : 'client'].push(Buffer.concat(e.parts));
      if (e.type === 'deliver') this.delivered[side].push(e.data);
      if (e.type === 'crypto') this.jobs[side].push(e);
    }
    return step.effects;
  }

  start(): this {
    this.input('server', { type: 'start', now: this.now });
    this.input('client', { type: 'start', now: this.now });
    return this;
  }

  /** Deliver what is in flight towards the server now; its answers stay in flight. */
  serverRound(): this {
    for (const data of this.inbox.server.splice(0)) this.input('server', { type: 'received', now: this.now, data });
    return this;
  }

  /** Deliver in-flight bytes until both sides are quiet (bounded). */
  drive(maxRounds = 100): this {
    for (let i = 0; i < maxRounds; i++) {
      let moved = false;
      for (const side of ['server', 'client'] as const) {
        const chunks = this.inbox[side].splice(0);
        for (const data of chunks) {
          moved = true;
          this.input(side, { type: 'received', now: this.now, data });
        }
      }
      if (!moved) return this;
    }
    throw new Error('pair did not settle');
  }

  /**
   * Answer pending crypto jobs with the provider's batch cipher (`reverse`: newest first, to show that
   * completion order between the two directions does not matter).
   */
  async answerJobs(side: Side, reverse = false): Promise<number> {
    const pending = this.jobs[side].splice(0);
    if (reverse) pending.reverse();
    const batch = this[side].config.provider.batch!;
    for (const job of pending) {
      const alg = job.alg as 'aes-128-gcm';
      const results = await (job.op === 'seal' ? batch.sealBatch(alg, job.key, job.jobs) : batch.openBatch(alg, job.key, job.jobs));
      this.input(side, { type: 'cryptoDone', now: this.now, jobId: job.jobId, results });
    }
    return pending.length;
  }

  /** Drive both sides, answering crypto jobs, until nothing moves (bounded). */
  async driveAsync(reverse = false, maxRounds = 200): Promise<this> {
    for (let i = 0; i < maxRounds; i++) {
      const before = this.inbox.client.length + this.inbox.server.length;
      this.drive();
      const answered = (await this.answerJobs('client', reverse)) + (await this.answerJobs('server', reverse));
      if (answered === 0 && before === 0 && this.inbox.client.length + this.inbox.server.length === 0) return this;
    }
    throw new Error('async pair did not settle');
  }

  /** Advance the virtual clock, firing due timers. */
  advance(ms: number): this {
    this.now += ms;
    for (const side of ['client', 'server'] as const) {
      const t = nextTimeout(this[side]);
      if (t !== undefined && t <= this.now) this.input(side, { type: 'timeout', now: this.now });
    }
    return this;
  }

  of(side: Side, type: TlsEffect['type']): TlsEffect[] {
    return this.effects[side].filter((e) => e.type === type);
  }

  closedError(side: Side) {
    const c = this.effects[side].find((e) => e.type === 'closed');
    return c && c.type === 'closed' ? c.error : undefined;
  }
}

export const text = (s: string) => new TextEncoder().encode(s);
export const str = (parts: readonly Uint8Array[]) => Buffer.concat(parts).toString('utf8');
