/**
 * A scripted rxtls client for interop runs inside a network namespace (where the test process cannot reach): one
 * Node process runs a plan of connections in order and prints one JSON line per connection on stdout, so a
 * namespace pays one Node start-up for many connections.
 *
 * Usage: `node --loader=ts-node/esm test/helpers/clientPlan.ts '<JSON Plan>'` (tests run it bundled: `bundle.ts`).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { clientExchange, sha256 } from './peers.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import type { ClientOptions } from '../../src/rx/types.js';

/** One connection of a plan. */
export interface PlanStep {
  /** Client options (ciphers, maxVersion, …) merged over the plan's. */
  readonly options?: Partial<ClientOptions>;
  /** Send this text, then wait for the peer's close_notify (an HTTP GET to gnutls-serv --http). */
  readonly send?: string;
  /**
   * Send this many random bytes and expect them echoed back, then close. Base64 text in lines of 76 characters:
   * gnutls-serv --echo echoes text (a NUL byte ends what it echoes of a read).
   */
  readonly echoBytes?: number;
}

/** A plan: where to connect and the connections to make, sharing one session cache. */
export interface Plan {
  readonly port: number;
  readonly ca: string;
  readonly options?: Partial<ClientOptions>;
  readonly steps: readonly PlanStep[];
}

/** What the plan prints for each connection. */
export interface StepResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly protocol?: string;
  readonly cipherSuite?: string;
  readonly group?: string;
  readonly resumed?: boolean;
  readonly peerSignatureScheme?: string;
  /** The text received (send steps), or whether the echo matched (echo steps). */
  readonly received?: string;
  readonly echoed?: boolean;
  readonly keyLog?: readonly string[];
}

/** `n` bytes of random base64 text, a newline every 77th byte and at the end. */
function textPayload(n: number): Buffer {
  const out = Buffer.from(randomBytes(Math.ceil(n * 0.75) + 3).toString('base64').slice(0, n));
  for (let i = 76; i < n; i += 77) out[i] = 0x0a;
  out[n - 1] = 0x0a;
  return out;
}

async function runStep(plan: Plan, step: PlanStep, sessionCache: ReturnType<typeof createSessionCache>): Promise<StepResult> {
  const keyLog: string[] = [];
  const options = { host: '127.0.0.1', port: plan.port, ca: plan.ca, servername: 'localhost', sessionCache, keyLog: (l: string) => keyLog.push(l), ...plan.options, ...step.options };
  try {
    const data = step.echoBytes ? textPayload(step.echoBytes) : undefined;
    const tr = data
      ? await clientExchange(options, { send: data, closeAfterBytes: data.length, keep: false, timeoutMs: 60_000 })
      : await clientExchange(options, { send: step.send ?? '', waitForPeerClose: true, timeoutMs: 30_000 });
    const info = tr.info;
    return {
      ok: true,
      protocol: info.protocol,
      cipherSuite: info.cipherSuite,
      ...(info.group !== undefined ? { group: info.group } : {}),
      resumed: info.resumed,
      ...(info.peerSignatureScheme !== undefined ? { peerSignatureScheme: info.peerSignatureScheme } : {}),
      ...(data ? { echoed: tr.receivedSha256 === sha256(data) } : { received: tr.received.toString('latin1') }),
      keyLog,
    };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2]!) as Plan;
  const ca = plan.ca.includes('-----BEGIN') ? plan.ca : readFileSync(plan.ca, 'utf8');
  const sessionCache = createSessionCache();
  for (const step of plan.steps) {
    const r = await runStep({ ...plan, ca }, step, sessionCache);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  // Sockets are ended; nothing else keeps the process: exit at once.
  process.exit(0);
}

void main();
