/**
 * A lossy UDP relay ({@link startUdpRelay}) in a process of its own, in front of a command: for interop runs
 * inside a private network namespace, where the test process cannot reach. Starts the relay toward
 * 127.0.0.1:`serverPort`, runs the command with every `{RELAY_PORT}` in its arguments replaced by the relay's
 * port (stdin, stdout and stderr passed through), then writes the relay's log to `logFile` and exits with the
 * command's status.
 *
 * Usage: `node relayThen.js '<JSON RelayThenPlan>' COMMAND ARGS…` (tests run it bundled: `bundle.ts`).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { startUdpRelay, type DropPolicy } from './udpRelay.js';

/** A direction's policy in JSON: what {@link DropPolicy} takes, less its functions. */
export interface JsonDropPolicy extends Pick<DropPolicy, 'drop' | 'lossRate' | 'seed' | 'dropBefore'> {
  /** Never drop a datagram that starts with an application-data record (DTLS never retransmits those). */
  readonly keepApplicationData?: boolean;
}

export interface RelayThenPlan {
  readonly serverPort: number;
  readonly toServer?: JsonDropPolicy;
  readonly toClient?: JsonDropPolicy;
  /** Where the relay's log goes (one datagram a line) when the command has exited. */
  readonly logFile: string;
}

const policy = (p: JsonDropPolicy | undefined): DropPolicy | undefined =>
  p && { ...p, ...(p.keepApplicationData && { keep: (d: Uint8Array) => d[0] === 23 }) };

const [planJson, command, ...args] = process.argv.slice(2);
if (planJson === undefined || command === undefined) {
  process.stderr.write('usage: relayThen \'<JSON plan>\' COMMAND ARGS…\n');
  process.exit(2);
}
const plan = JSON.parse(planJson) as RelayThenPlan;
const relay = await startUdpRelay(plan.serverPort, { toServer: policy(plan.toServer), toClient: policy(plan.toClient) });
const child = spawn(command, args.map((a) => a.replaceAll('{RELAY_PORT}', String(relay.port))), { stdio: 'inherit' });
const code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1))));
writeFileSync(plan.logFile, relay.describe() + '\n');
await relay.close();
process.exit(code);
