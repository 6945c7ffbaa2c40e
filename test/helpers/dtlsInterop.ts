/**
 * What the DTLS 1.3 interop files against NSS share: running an rxtls endpoint ({@link startDtlsUdp}) and a
 * tstclnt ({@link startTstclnt}) against each other, directly or through a lossy relay ({@link startUdpRelay}),
 * then exchanging one line each way. Application records are not retransmitted by DTLS, so over a lossy relay
 * each side repeats its line until the other printed it (what a datagram application does).
 */
import type { ExecutionContext } from 'ava';
import type { HandshakeInfo } from '../../src/core/types.js';
import type { GroupName } from '../../src/crypto/provider.js';
import type { CipherSuiteName } from '../../src/wire/tls/constants.js';
import { clientConfig, serverConfig } from './dtlsPair.js';
import { startDtlsUdp, type DtlsUdp } from './dtlsUdp.js';
import { freeUdpPort, startTstclnt, type Tstclnt } from './nss.js';
import { startUdpRelay, type RelayPolicy, type UdpRelay } from './udpRelay.js';

/** ava's `t.timeout` for one DTLS interop test. */
export const DTLS_TEST_MS = 40_000;
/** How long the handshake plus the exchange may take, lossy relay included. */
export const DTLS_RUN_MS = 25_000;

/** One run: what each side is restricted to, and the relay between them (none: direct). */
export interface DtlsNssCase {
  /** Our suites (default: all three). */
  readonly ourSuites?: readonly CipherSuiteName[];
  /** Our groups in order (default: the engine's, X25519 first); our first ClientHello has a share for the first. */
  readonly ourGroups?: readonly GroupName[];
  /** tstclnt `-c`: the one suite it enables. */
  readonly nssSuite?: CipherSuiteName;
  /** tstclnt `-I`. */
  readonly nssGroups?: readonly GroupName[];
  readonly relay?: RelayPolicy;
}

/** The outcome of a run that completed. */
export interface DtlsNssRun {
  readonly info: HandshakeInfo;
  readonly ours: DtlsUdp;
  readonly nss: Tstclnt;
  readonly relay?: UdpRelay;
  /** Everything a failing assertion should show. */
  readonly diag: () => string;
}

const PING = 'ping from rxtls';
const PONG = 'pong from nss';

/**
 * rxtls as `role` against tstclnt in the other role: handshake, then our line to tstclnt and tstclnt's line to
 * us. Rejects (after logging both sides and the relay) when any of it fails within {@link DTLS_RUN_MS}.
 */
export async function runAgainstTstclnt(t: ExecutionContext, role: 'client' | 'server', c: DtlsNssCase = {}): Promise<DtlsNssRun> {
  const ourConfig = { ...(c.ourSuites ? { cipherSuites: c.ourSuites } : {}), ...(c.ourGroups ? { groups: c.ourGroups } : {}) };
  const nssOptions = { cipherSuite: c.nssSuite, groups: c.nssGroups, verbose: true, owner: t, timeoutMs: DTLS_TEST_MS };
  let ours: DtlsUdp;
  let nss: Tstclnt;
  let relay: UdpRelay | undefined;
  if (role === 'client') {
    const port = await freeUdpPort();
    nss = await startTstclnt({ ...nssOptions, role: 'server', port });
    relay = c.relay ? await startUdpRelay(port, c.relay, t) : undefined;
    ours = await startDtlsUdp({ config: clientConfig(ourConfig), port: relay?.port ?? port, owner: t, deadlineMs: DTLS_RUN_MS });
  } else {
    ours = await startDtlsUdp({ config: serverConfig(ourConfig), owner: t, deadlineMs: DTLS_RUN_MS });
    relay = c.relay ? await startUdpRelay(ours.port, c.relay, t) : undefined;
    nss = await startTstclnt({ ...nssOptions, role: 'client', port: relay?.port ?? ours.port });
  }
  const diag = () =>
    [`--- rxtls ${role}`, ours.trace(), ...(relay ? ['--- relay', relay.describe()] : []), `--- ${nss.command}`, nss.output()].join('\n');
  try {
    const info = await ours.handshake;
    await exchange(ours, nss, relay !== undefined);
    return { info, ours, nss, relay, diag };
  } catch (e) {
    t.log(diag());
    throw e;
  }
}

/** Our line to tstclnt, then its line to us; repeated every 250 ms when the path is lossy. */
async function exchange(ours: DtlsUdp, nss: Tstclnt, lossy: boolean): Promise<void> {
  await repeatUntil(() => ours.write(`${PING}\n`), nss.waitForOutput(PING, DTLS_RUN_MS), lossy);
  await repeatUntil(() => nss.write(`${PONG}\n`), ours.waitForData(PONG, DTLS_RUN_MS), lossy);
}

async function repeatUntil<T>(send: () => void, seen: Promise<T>, repeat: boolean): Promise<T> {
  send();
  if (!repeat) return seen;
  const timer = setInterval(() => {
    try {
      send();
    } catch {
      /* closed meanwhile: `seen` rejects with the reason */
    }
  }, 250);
  try {
    return await seen;
  } finally {
    clearInterval(timer);
  }
}
