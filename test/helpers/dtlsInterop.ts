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
import type { DtlsClientConfig, DtlsServerConfig } from '../../src/dtls/types.js';
import { clientConfig, serverConfig } from './dtlsPair.js';
import { startDtlsUdp, type DtlsUdp } from './dtlsUdp.js';
import { freeUdpPort, startTstclnt, type Tstclnt } from './nss.js';
import { startUdpRelay, type RelayPolicy, type UdpRelay } from './udpRelay.js';

/**
 * The DTLS 1.3 version NSS 3.87 (Debian 12) offers and accepts: draft-ietf-tls-dtls13-43's 0x7f2b (0x7f00 | 43),
 * where RFC 9147 §5.3 says 0xfefc. The draft also differs from the RFC in the transcript (12-byte DTLS handshake
 * headers, where RFC 9147 §5.2 hashes the TLS 1.3 form; tlswg/dtls13-spec PR #262) and the AEAD nonce (the
 * epoch in the top 16 bits of the 64-bit sequence number, which RFC 9147 §4 leaves out; PR #257).
 */
export const NSS_DTLS13_DRAFT_VERSION = 0x7f00 | 43;

/** How long the handshake plus the exchange may take, lossy relay included. */
export const DTLS_RUN_MS = 25_000;

/**
 * The supported_versions a DTLS ClientHello offers, from the datagram that carries it (RFC 9147 §5.3: a
 * DTLSPlaintext record, a 12-byte handshake header, then legacy_version, random, legacy_session_id,
 * legacy_cookie, cipher_suites, legacy_compression_methods, extensions). Undefined when the datagram does not
 * start with a whole ClientHello or it has no supported_versions.
 */
export function clientHelloVersions(datagram: Uint8Array): number[] | undefined {
  const d = datagram;
  const u16 = (i: number) => (d[i]! << 8) | d[i + 1]!;
  if (d.length < 13 + 12 || d[0] !== 22 || d[13] !== 1) return undefined;
  let i = 13 + 12 + 2 + 32;
  i += 1 + d[i]!; // legacy_session_id
  i += 1 + d[i]!; // legacy_cookie
  i += 2 + u16(i); // cipher_suites
  i += 1 + d[i]!; // legacy_compression_methods
  const end = i + 2 + u16(i);
  for (i += 2; i + 4 <= end && end <= d.length; ) {
    const type = u16(i);
    const len = u16(i + 2);
    if (type === 0x002b) {
      const out: number[] = [];
      for (let j = i + 5; j < i + 5 + d[i + 4]!; j += 2) out.push(u16(j));
      return out;
    }
    i += 4 + len;
  }
  return undefined;
}

/** ava's `t.timeout` for one DTLS interop test. */
export const DTLS_TEST_MS = 40_000;

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
  /** More settings for our side (e.g. a server's `cookieSecret`). */
  readonly ours?: Partial<Omit<DtlsClientConfig, 'role'>> & Partial<Omit<DtlsServerConfig, 'role'>>;
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
  const ourConfig = {
    dtlsDraft43: true,
    ...(c.ourSuites ? { cipherSuites: c.ourSuites } : {}),
    ...(c.ourGroups ? { groups: c.ourGroups } : {}),
    ...(c.ours ?? {}),
  };
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
