import type { TlsVersionName } from '../handshake/config.js';
/**
 * node:tls-style options ({@link ClientOptions}, {@link ServerOptions}) → the sans-IO core's
 * {@link TlsClientConfig} / {@link TlsServerConfig}. PEM is loaded here, once, so a bad key or an unknown
 * cipher name fails with an `apiMisuse` {@link TlsError} before any byte is sent.
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { type CertificateErrorCode, TlsError, certificateAlert, misuse } from '../core/errors.js';
import { checkServerIdentity } from '../crypto/identity.js';
import { loadCertificateChain, loadPrivateKey } from '../crypto/keys.js';
import { loadPkcs12 } from '../crypto/pkcs12.js';
import { nobleProvider } from '../crypto/noble.js';
import type { CryptoProvider, SigningKey } from '../crypto/provider.js';
import { insecureVerifier } from '../crypto/x509.js';
import type { CertificateVerdict, CertificateVerifier } from '../crypto/verifier.js';
import { describeCertificate } from '../crypto/certificateDetails.js';
import { createVerifier } from '../crypto/x509.js';
import { portablePlatform, type Platform } from './platform.js';
import { type ExternalPsk, type ExternalPskLookup, parseCipherSuites, parseGroups } from '../handshake/config.js';
import type { TlsClientConfig, TlsCommonConfig, TlsServerConfig } from '../tls/config.js';
import { type AntiReplay, type Ticketer, type TlsSession, createAntiReplay, createTicketer } from '../handshake/session.js';
import type { ClientOptions, PskOption, SecureOptions, ServerOptions, SessionCache, TlsMessageInfo } from './types.js';
import type { DtlsClientConfig, DtlsRecordConfig, DtlsServerConfig } from '../dtls/types.js';
import type { DtlsClientOptions, DtlsServerOptions, DtlsTransportOptions } from './dtlsTypes.js';
import { MAX_TIMER_DELAY } from './runReducer.js';
import { bytesArg, integerIn, shown } from '../core/validate.js';

/**
 * The core configuration of a client.
 *
 * - `servername` defaults to `host`. An IP literal is still verified against the certificate's IP SANs but is
 *   not sent as SNI (RFC 6066 §3; the core omits it).
 * - `rejectUnauthorized: false` selects the insecure verifier (see {@link warnInsecure}); otherwise the chain is
 *   verified against `ca`, or the system roots when `ca` is absent.
 *
 * @example
 * ```ts
 * const config = toClientConfig({ ca: readFileSync('ca.pem', 'utf8'), ciphers: 'TLS_AES_128_GCM_SHA256' }, 'localhost');
 * ```
 */
export function toClientConfig(options: ClientOptions, host?: string, platform: Platform = portablePlatform): TlsClientConfig {
  const serverName = serverNameOption(options.servername) ?? host;
  return {
    ...common(options),
    role: 'client',
    ...(serverName !== undefined ? { serverName } : {}),
    verifier:
      options.rejectUnauthorized === false
        ? insecureVerifier
        : withIdentityCheck(options.verifier ? guarded(options.verifier) : createVerifier(verifierOptions(options, platform)), options.checkServerIdentity),
    ...(options.earlyData !== undefined ? { earlyData: true } : {}),
    ...(options.psk !== undefined ? { externalPsk: toExternalPsk(options.psk, 'psk') } : {}),
    ...(options.pskModes !== undefined ? { pskModes: pskModesOption(options.pskModes) } : {}),
    ...(options.keyShareCount !== undefined ? { keyShareCount: intIn('keyShareCount', options.keyShareCount, 1, 4)! } : {}),
  };
}

/**
 * A verifier of the application's: an exception refuses the chain instead of becoming internal_error, and so
 * does an answer that is no {@link CertificateVerdict} (`undefined`, a number, a Promise: `verify` answers
 * synchronously) — both with code `unsupported` and the reason in the message. A value without a `verify`
 * method throws `apiMisuse` here. Adapters that build their own configuration (QUIC) use it.
 */
export function guarded(verifier: CertificateVerifier): CertificateVerifier {
  if (typeof verifier?.verify !== 'function') throw new TlsError({ kind: 'apiMisuse', reason: 'verifier must have a verify(request) method' });
  const refused = (why: string): CertificateVerdict => ({ ok: false, code: 'unsupported', reason: `the verifier refused the chain: ${why}` });
  return {
    verify: (req) => {
      let answer: unknown;
      try {
        answer = verifier.verify(req);
      } catch (err) {
        return refused(err instanceof Error ? err.message : String(err));
      }
      return asVerdict(answer) ?? refused(`it answered ${describeAnswer(answer)}, not a verdict { ok: true, subject } or { ok: false, code, reason }`);
    },
  };
}

/** `answer` as a {@link CertificateVerdict} when it is one (missing text filled in), else `undefined`. */
function asVerdict(answer: unknown): CertificateVerdict | undefined {
  if (typeof answer !== 'object' || answer === null || typeof (answer as { then?: unknown }).then === 'function') return undefined;
  const v = answer as { ok?: unknown; subject?: unknown; code?: unknown; reason?: unknown };
  if (v.ok === true) return { ...(answer as CertificateVerdict), ok: true, subject: typeof v.subject === 'string' ? v.subject : '' };
  if (v.ok !== false) return undefined;
  let code: CertificateErrorCode = 'unsupported';
  if (typeof v.code === 'string') {
    try {
      certificateAlert(v.code as CertificateErrorCode, 'server'); // a known code (an unknown one has no alert)
      code = v.code as CertificateErrorCode;
    } catch {
      // an unknown code: refused as `unsupported`
    }
  }
  return { ...(answer as CertificateVerdict), ok: false, code, reason: typeof v.reason === 'string' ? v.reason : 'the verifier refused the chain' };
}

function describeAnswer(answer: unknown): string {
  if (typeof (answer as { then?: unknown } | null)?.then === 'function') return 'a Promise (verify must answer synchronously)';
  return shown(answer);
}

/**
 * `verifier` with node:tls `checkServerIdentity` in place of its own host name check: the chain is verified
 * without the name, then `check(serverName, leaf)` decides (an `Error`, or an exception, refuses it).
 */
export function withIdentityCheck(verifier: CertificateVerifier, check: ClientOptions['checkServerIdentity']): CertificateVerifier {
  if (check === undefined) return verifier;
  if (typeof check !== 'function') throw new TlsError({ kind: 'apiMisuse', reason: 'checkServerIdentity must be a function' });
  return {
    verify: (req) => {
      const { serverName, ...chainOnly } = req;
      const verdict = verifier.verify(chainOnly);
      if (!verdict.ok || req.usage !== 'server') return verdict;
      let refused: unknown;
      try {
        refused = check(serverName ?? '', describeCertificate(req.chain[0]!));
      } catch (err) {
        refused = err;
      }
      if (refused === undefined || refused === null) return verdict;
      const reason = refused instanceof Error ? refused.message : String(refused);
      return { ok: false, code: 'hostname_mismatch', reason: `checkServerIdentity refused ${serverName ?? 'the server'}: ${reason}` };
    },
  };
}

/** A {@link PskOption} as the core's {@link ExternalPsk}: identity as UTF-8, key from hex text. */
function toExternalPsk(o: PskOption, where: string): ExternalPsk {
  const misuse = (reason: string) => new TlsError({ kind: 'apiMisuse', reason: `${where}: ${reason}` });
  if (typeof o !== 'object' || o === null) throw misuse('expected { identity, key }');
  const identity = typeof o.identity === 'string' ? new TextEncoder().encode(o.identity) : o.identity;
  if (!(identity instanceof Uint8Array) || identity.length === 0 || identity.length > 0xffff) throw misuse('identity must be 1..65535 bytes');
  const key = pskKey(o.key, misuse);
  if (o.hash !== undefined && o.hash !== 'sha256' && o.hash !== 'sha384') throw misuse(`hash must be sha256 or sha384, got ${String(o.hash)}`);
  return { identity, key, ...(o.hash !== undefined ? { hash: o.hash } : {}) };
}

function pskKey(k: Uint8Array | string, misuse: (reason: string) => TlsError): Uint8Array {
  if (typeof k === 'string') {
    if (!/^([0-9a-fA-F]{2})+$/.test(k)) throw misuse('a key given as text must be hex (an even number of hex digits)');
    return new Uint8Array(Buffer.from(k, 'hex'));
  }
  if (!(k instanceof Uint8Array) || k.length === 0) throw misuse('key must be non-empty bytes or hex');
  return k;
}

/** The server's {@link ExternalPskLookup}: `pskCallback` first, then the `psks` table. */
function pskLookup(options: ServerOptions): ExternalPskLookup | undefined {
  const table = new Map<string, ExternalPsk>();
  if (options.psks !== undefined && !Array.isArray(options.psks)) throw new TlsError({ kind: 'apiMisuse', reason: 'psks must be an array of { identity, key }' });
  for (const [i, o] of (options.psks ?? []).entries()) {
    const psk = toExternalPsk(o, `psks[${i}]`);
    table.set(Buffer.from(psk.identity).toString('latin1'), psk);
  }
  const callback = options.pskCallback;
  if (callback !== undefined && typeof callback !== 'function') throw new TlsError({ kind: 'apiMisuse', reason: 'pskCallback must be a function' });
  if (!callback && table.size === 0) return undefined;
  return (identity) => {
    if (callback) {
      const found = callback(new TextDecoder().decode(identity));
      if (found !== undefined) {
        const misuse = (reason: string) => new TlsError({ kind: 'apiMisuse', reason: `pskCallback result: ${reason}` });
        if (typeof found === 'string' || found instanceof Uint8Array) return { key: pskKey(found, misuse) };
        return { key: pskKey(found.key, misuse), ...(found.hash !== undefined ? { hash: found.hash } : {}) };
      }
    }
    return table.get(Buffer.from(identity).toString('latin1'));
  };
}

/**
 * The core configuration of a server. `cert` and `key` are required, and checked here by
 * {@link checkServerIdentity}: an empty chain or a key that does not match the first certificate throws.
 * With `requestCert` a CertificateRequest is sent and client chains are verified against `ca` (system roots
 * when absent). `rejectUnauthorized` (default true) fails clients that send no certificate or one that does not
 * verify; with `rejectUnauthorized: false` both are accepted and reported (node:tls semantics):
 * `info.verification` is `none`, `ok` or `failed` (with `info.verificationError`).
 *
 * Session tickets are on by default: `ticketer` (or one made from `ticketKey`), else a per-process ticketer with
 * a random 32 B secret; `antiReplay` defaults to one store per process with that ticketer (one per call
 * otherwise). `maxEarlyData` (default 0) and `numTickets` (default 2; `ticketCount` is its former name) pass
 * through.
 */
export function toServerConfig(options: ServerOptions, platform: Platform = portablePlatform): TlsServerConfig {
  const externalPskLookup = pskLookup(options);
  const identity = options.pfx !== undefined || (options.cert !== undefined && options.key !== undefined);
  if (!identity && !(externalPskLookup && options.cert === undefined && options.key === undefined)) {
    throw new TlsError({ kind: 'apiMisuse', reason: 'a TLS server needs `cert` and `key`, or `pfx` (or only external PSKs: `psks` / `pskCallback`)' });
  }
  const request = options.requestCert === true;
  const strict = options.rejectUnauthorized !== false;
  const base = common(options);
  if (base.certificateChain) checkServerIdentity(base.certificateChain, base.privateKey!);
  return {
    ...base,
    role: 'server',
    ...(externalPskLookup ? { externalPskLookup } : {}),
    ...(options.pskModes !== undefined ? { pskModes: pskModesOption(options.pskModes) } : {}),
    requestClientCertificate: request,
    requireClientCertificate: request && strict,
    ...(request ? { verifier: options.verifier ? guarded(options.verifier) : createVerifier(verifierOptions(options, platform)) } : {}),
    ...tickets(options),
    ...numTickets(options),
    ...(options.maxEarlyData !== undefined ? { maxEarlyData: intIn('maxEarlyData', options.maxEarlyData, 0, 0xffffffff)! } : {}),
  };
}

/**
 * The verifier options of node:tls-style options: trust anchors (`ca`, else the platform's system roots; none
 * in a browser, where `ca` is required) and the algorithm policy.
 */
function verifierOptions(options: SecureOptions, platform: Platform): Parameters<typeof createVerifier>[0] {
  const roots = options.ca === undefined ? platform.systemRoots?.() : undefined;
  return {
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(roots ? { systemRoots: roots } : {}),
    ...(options.allowSha1 !== undefined ? { allowSha1: options.allowSha1 } : {}),
    ...(options.minRsaBits !== undefined ? { minRsaBits: options.minRsaBits } : {}),
  };
}

/** `numTickets` (or its former name `ticketCount`), checked: the engine's `ticketCount`. */
export function numTickets(options: Pick<ServerOptions, 'numTickets' | 'ticketCount'>): { ticketCount?: number } {
  if (options.numTickets !== undefined && options.ticketCount !== undefined && options.numTickets !== options.ticketCount) {
    throw new TlsError({ kind: 'apiMisuse', reason: 'numTickets and ticketCount (its former name) disagree' });
  }
  const n = intIn('numTickets', options.numTickets ?? options.ticketCount, 0, 16);
  return n !== undefined ? { ticketCount: n } : {};
}

let processTickets: { readonly ticketer: Ticketer; readonly antiReplay: AntiReplay } | undefined;

/** The default ticketer: one random 32 B secret per process, and the anti-replay store that goes with it. */
function defaultTickets() {
  processTickets ??= { ticketer: createTicketer(defaultProvider.randomBytes(32)), antiReplay: createAntiReplay() };
  return processTickets;
}

export function tickets(options: Pick<ServerOptions, 'ticketer' | 'ticketKey' | 'antiReplay'>): { ticketer?: Ticketer; antiReplay?: AntiReplay } {
  if (options.ticketer === false) return options.antiReplay ? { antiReplay: options.antiReplay } : {};
  if (options.ticketer !== undefined || options.ticketKey !== undefined) {
    let ticketer = options.ticketer;
    if (ticketer === undefined) {
      try {
        ticketer = createTicketer(options.ticketKey!);
      } catch (err) {
        throw new TlsError({ kind: 'apiMisuse', reason: err instanceof Error ? err.message : String(err) });
      }
    }
    return { ticketer, antiReplay: options.antiReplay ?? createAntiReplay() };
  }
  const d = defaultTickets();
  return { ticketer: d.ticketer, antiReplay: options.antiReplay ?? d.antiReplay };
}

/**
 * What the RxJS layer needs per connection besides the core configuration (see `secureDuplex`): the clock,
 * flow control, shutdown policy, key log sink and, for clients, where the session to offer comes from.
 */
export interface ConnectionSettings {
  readonly scheduler?: SchedulerLike;
  /** Bytes waiting for a `receive` projection before the transport is paused (default 64 KiB). */
  readonly highWaterMark?: number;
  /** Bytes an Observable `send()` source may queue while the transport is not writable (default 16 × hwm). */
  readonly maxOutboundBuffer?: number;
  /** `inbound$` chunks valid only during `next`, perhaps views of shared memory (`SecureOptions.inboundChunks`). */
  readonly inboundChunks?: 'borrowed' | 'shared';
  readonly closeOnPeerClose?: boolean;
  readonly quietShutdown?: boolean;
  /**
   * A function is a debugging sink, contained: an exception from it is caught and reported once with
   * `console.warn` (see `contained`), and the connection goes on (as with a key log file that cannot be written).
   */
  readonly keyLog?: ((line: string) => void) | string | boolean;
  /** A debugging sink, contained like a `keyLog` function. */
  readonly onMessage?: (message: TlsMessageInfo) => void;
  readonly session?: TlsSession;
  readonly sessionCache?: SessionCache;
  readonly sessionKey?: string;
  readonly earlyData?: Uint8Array;
}

/** Default inbound high-water mark: 64 KiB. */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/**
 * The {@link ConnectionSettings} of node:tls-style options, checked once (API misuse throws).
 * `sessionKey` is the cache key when the options name none (`connect` passes `servername:port`).
 */
export function toConnectionSettings(options: SecureOptions & Partial<ClientOptions>, sessionKey?: string): ConnectionSettings {
  const positive = (name: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      throw new TlsError({ kind: 'apiMisuse', reason: `${name} must be a positive number of bytes, got ${v}` });
    }
  };
  positive('highWaterMark', options.highWaterMark);
  positive('maxOutboundBuffer', options.maxOutboundBuffer);
  const chunks = options.inboundChunks;
  if (chunks !== undefined && chunks !== 'owned' && chunks !== 'borrowed' && chunks !== 'shared') {
    throw new TlsError({ kind: 'apiMisuse', reason: `inboundChunks must be 'owned', 'borrowed' or 'shared', got ${String(chunks)}` });
  }
  const scheduler = schedulerOption(options.scheduler);
  const sessionCache = sessionCacheOption(options.sessionCache);
  const earlyData = bytesOption('earlyData', options.earlyData);
  const keyLog = keyLogOption(options.keyLog);
  const key = options.sessionKey ?? sessionKey;
  return {
    scheduler: scheduler ?? asyncScheduler,
    ...(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {}),
    ...(options.maxOutboundBuffer !== undefined ? { maxOutboundBuffer: options.maxOutboundBuffer } : {}),
    ...(chunks === 'borrowed' || chunks === 'shared' ? { inboundChunks: chunks } : {}),
    closeOnPeerClose: options.closeOnPeerClose === true,
    quietShutdown: options.quietShutdown === true,
    ...(keyLog !== undefined && keyLog !== false ? { keyLog } : {}),
    ...(options.onMessage !== undefined ? { onMessage: functionOption('onMessage', options.onMessage) } : {}),
    ...(options.session !== undefined ? { session: options.session } : {}),
    ...(sessionCache !== undefined ? { sessionCache } : {}),
    ...(key !== undefined ? { sessionKey: key } : {}),
    ...(earlyData !== undefined ? { earlyData } : {}),
  };
}

/** True when these client options disable certificate verification. */
export function isInsecure(options: ClientOptions): boolean {
  return options.rejectUnauthorized === false;
}

/**
 * The loud warning printed once per connection that runs with `rejectUnauthorized: false`.
 */
export function warnInsecure(peer: string | undefined): void {
  console.warn(
    `rxtls: WARNING: certificate verification is DISABLED (rejectUnauthorized: false) for the connection to ${
      peer ?? 'an unnamed peer'
    }; anyone on the path can impersonate the server.`,
  );
}

let defaultProvider: CryptoProvider = nobleProvider;

/** The methods every {@link CryptoProvider} has (checked at the edge by {@link setDefaultProvider}). */
const PROVIDER_METHODS = [
  'randomBytes',
  'hashLength',
  'hash',
  'hasher',
  'hmac',
  'hkdfExtract',
  'hkdfExpand',
  'aead',
  'generateKeyPair',
  'keyPairFromPrivate',
  'sharedSecret',
  'verify',
] as const;

/**
 * Set the process-wide default crypto provider, used by every connection whose options name no `provider`
 * (`connect`, `listen`, `secure`, the CLI). `undefined` restores the noble provider. Options already converted
 * (a `listen()` or `secure()` already called) keep the provider they were given. Returns the previous default,
 * so a caller can restore it.
 *
 * Throws a `TlsError` of kind `apiMisuse` for something that is not a provider.
 *
 * @example
 * ```ts
 * import { nodeProvider, setDefaultProvider } from 'rxtls';
 * setDefaultProvider(nodeProvider); // node:crypto (OpenSSL) for every connection from now on
 * ```
 */
export function setDefaultProvider(provider: CryptoProvider | undefined): CryptoProvider {
  if (provider !== undefined) checkProvider(provider, 'setDefaultProvider()');
  const previous = defaultProvider;
  defaultProvider = provider ?? nobleProvider;
  return previous;
}

/** The process-wide default crypto provider (the noble provider unless {@link setDefaultProvider} changed it). */
export function getDefaultProvider(): CryptoProvider {
  return defaultProvider;
}

function checkProvider(provider: unknown, where: string): asserts provider is CryptoProvider {
  const p = provider as Record<string, unknown> | null;
  const missing = typeof p === 'object' && p !== null ? PROVIDER_METHODS.filter((m) => typeof p[m] !== 'function') : ['everything'];
  if (missing.length > 0) {
    throw new TlsError({ kind: 'apiMisuse', reason: `${where}: not a CryptoProvider (missing ${missing.join(', ')})` });
  }
}

/**
 * `minVersion` / `maxVersion`: `'TLSv1.2'` or `'TLSv1.3'` (node:tls names; DTLS connections: `'DTLSv1.2'` or
 * `'DTLSv1.3'`, which the engine checks against the transport), else `apiMisuse`.
 */
function versionOption<K extends 'minVersion' | 'maxVersion'>(name: K, v: unknown): { [P in K]?: TlsVersionName } {
  if (v === undefined) return {};
  if (v !== 'TLSv1.2' && v !== 'TLSv1.3' && v !== 'DTLSv1.2' && v !== 'DTLSv1.3') {
    throw new TlsError({ kind: 'apiMisuse', reason: `${name} must be 'TLSv1.2' or 'TLSv1.3' ('DTLSv1.2' or 'DTLSv1.3' over DTLS; rxtls speaks no older version), got ${String(v)}` });
  }
  return { [name]: v } as { [P in K]?: TlsVersionName };
}

// ── Small validators shared by the options of secure / connect / listen and the DTLS adapters (each throws a
// `TlsError` of kind `apiMisuse` naming the option). ──────────────────────────────────────────────────────────

export function boolOption(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw misuse(`${name} must be a boolean, got ${shown(v)}`);
  return v;
}

export function functionOption<F>(name: string, v: F): F {
  if (typeof v !== 'function') throw misuse(`${name} must be a function, got ${typeof v}`);
  return v;
}

/**
 * An optional timer length in ms: a number in (0, 2^31−1], the most `setTimeout` holds (a longer delay fires
 * after 1 ms in Node and browsers).
 */
export function timerOption(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0) || v > MAX_TIMER_DELAY) {
    throw misuse(`${name} must be a number of ms above 0 and at most 2^31−1 (${MAX_TIMER_DELAY}), got ${shown(v)}`);
  }
  return v;
}

/** An optional `scheduler`: a `SchedulerLike` (`now()` and `schedule()`). */
export function schedulerOption(v: unknown): SchedulerLike | undefined {
  if (v === undefined) return undefined;
  const s = v as Partial<SchedulerLike> | null;
  if (typeof s !== 'object' || s === null || typeof s.now !== 'function' || typeof s.schedule !== 'function') {
    throw misuse(`scheduler must be an RxJS SchedulerLike (with now() and schedule()), got ${shown(v)}`);
  }
  return v as SchedulerLike;
}

/** An optional `sessionCache`: an object with `get`, `set` and `delete` methods (see `createSessionCache`). */
export function sessionCacheOption(v: unknown): SessionCache | undefined {
  if (v === undefined) return undefined;
  const c = v as Partial<SessionCache> | null;
  if (typeof c !== 'object' || c === null || typeof c.get !== 'function' || typeof c.set !== 'function' || typeof c.delete !== 'function') {
    throw misuse(`sessionCache must have get(key), set(key, session) and delete(key) methods (see createSessionCache), got ${shown(v)}`);
  }
  return v as SessionCache;
}

/** An optional `keyLog`: a function (each line), a file path, or a boolean. */
export function keyLogOption(v: unknown): ((line: string) => void) | string | boolean | undefined {
  if (v !== undefined && typeof v !== 'function' && typeof v !== 'string' && typeof v !== 'boolean') {
    throw misuse(`keyLog must be a function, a file path or a boolean, got ${shown(v)}`);
  }
  return v as ((line: string) => void) | string | boolean | undefined;
}

/** An optional byte option: a `Uint8Array`. */
export function bytesOption(name: string, v: unknown): Uint8Array | undefined {
  return v === undefined ? undefined : bytesArg(name, v);
}

/**
 * `servername`: a DNS name as SNI carries it (RFC 6066 §3: printable ASCII, an IDN as its A-label `xn--…`),
 * 1..255 characters, or an IP literal (verified against the IP SANs, not sent). Absent or empty: `undefined`.
 */
export function serverNameOption(v: unknown): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw misuse(`servername must be a string, got ${shown(v)}`);
  if (v.length > 255) throw misuse(`servername must be at most 255 characters, got ${v.length}`);
  if (!/^[\x21-\x7e]+$/.test(v)) {
    throw misuse(`servername must be printable ASCII without spaces (an IDN as its A-label, xn--…), got ${shown(v)}`);
  }
  return v;
}

/** `ALPNProtocols`: a list of strings (the engine checks each name's length, 1..255 bytes of UTF-8). */
export function alpnOption(v: unknown): readonly string[] {
  if (!Array.isArray(v) || !v.every((a) => typeof a === 'string')) {
    throw misuse(`ALPNProtocols must be a list of strings such as ['h2', 'http/1.1'], got ${shown(v)}`);
  }
  return v as readonly string[];
}

const PSK_MODES: readonly unknown[] = ['psk_dhe_ke', 'psk_ke'];

/** `pskModes`: a list of `'psk_dhe_ke'` / `'psk_ke'` (RFC 8446 §4.2.9). */
export function pskModesOption(v: unknown): readonly ('psk_dhe_ke' | 'psk_ke')[] {
  if (!Array.isArray(v) || !v.every((m) => PSK_MODES.includes(m))) {
    throw misuse(`pskModes must be a list of 'psk_dhe_ke' and/or 'psk_ke', got ${Array.isArray(v) ? JSON.stringify(v.map((m) => (typeof m === 'string' ? m : typeof m))) : shown(v)}`);
  }
  return v as readonly ('psk_dhe_ke' | 'psk_ke')[];
}

/** An optional integer option within `min..max` (inclusive), else `apiMisuse`. */
function intIn(name: string, v: number | undefined, min: number, max: number): number | undefined {
  return v === undefined ? undefined : integerIn(name, v, min, max);
}

/**
 * Record sizing and pipelining (OpenSSL `max_send_fragment`, `split_send_fragment`, `max_pipelines`,
 * `SSL_MODE_ASYNC`) and RFC 8449 record_size_limit, checked here so a bad value fails when the options are
 * given rather than when a connection starts.
 */
function records(options: SecureOptions, provider: CryptoProvider): Pick<
  TlsCommonConfig,
  'maxSendFragment' | 'splitSendFragment' | 'maxPipelines' | 'asyncCrypto' | 'recordSizeLimit'
> {
  const maxSendFragment = intIn('maxSendFragment', options.maxSendFragment, 512, 16384);
  const splitSendFragment = intIn('splitSendFragment', options.splitSendFragment, 512, maxSendFragment ?? 16384);
  const maxPipelines = intIn('maxPipelines', options.maxPipelines, 1, 1024);
  const recordSizeLimit = intIn('recordSizeLimit', options.recordSizeLimit, 64, 16385);
  if (options.asyncCrypto !== undefined && typeof options.asyncCrypto !== 'boolean') {
    throw new TlsError({ kind: 'apiMisuse', reason: `asyncCrypto must be a boolean, got ${String(options.asyncCrypto)}` });
  }
  if (options.asyncCrypto === true && !provider.batch) {
    throw new TlsError({
      kind: 'apiMisuse',
      reason: `asyncCrypto: true needs a provider with a batch cipher (e.g. createWorkerPoolProvider()); provider "${provider.name}" has none`,
    });
  }
  return {
    ...(maxSendFragment !== undefined ? { maxSendFragment } : {}),
    ...(splitSendFragment !== undefined ? { splitSendFragment } : {}),
    ...(maxPipelines !== undefined ? { maxPipelines } : {}),
    ...(options.asyncCrypto === true ? { asyncCrypto: true } : {}),
    ...(recordSizeLimit !== undefined ? { recordSizeLimit } : {}),
  };
}

/**
 * Our certificate chain and private key from node:tls-style options: `cert` + `key` (PEM or DER; `passphrase`
 * for an encrypted PKCS#8 key), or `pfx` (PKCS#12, `passphrase`; see {@link loadPkcs12}). Neither: `{}`.
 * Throws `apiMisuse` for both at once, a `pfx` list of more than one, or anything the loaders refuse.
 *
 * @example
 * ```ts
 * const { certificateChain, privateKey } = loadIdentity({ pfx: readFileSync('server.p12'), passphrase: 'secret' });
 * ```
 */
export function loadIdentity(
  options: Pick<SecureOptions, 'cert' | 'key' | 'pfx' | 'passphrase'>,
): { certificateChain?: Uint8Array[]; privateKey?: SigningKey } {
  if (options.passphrase !== undefined && typeof options.passphrase !== 'string') {
    throw new TlsError({ kind: 'apiMisuse', reason: 'passphrase must be a string' });
  }
  if (options.pfx === undefined) {
    return {
      ...(options.cert !== undefined ? { certificateChain: loadCertificateChain(options.cert) } : {}),
      ...(options.key !== undefined ? { privateKey: loadPrivateKey(options.key, options.passphrase) } : {}),
    };
  }
  if (options.cert !== undefined || options.key !== undefined) {
    throw new TlsError({ kind: 'apiMisuse', reason: 'give either `pfx` or `cert` + `key`, not both' });
  }
  let pfx = options.pfx;
  let passphrase = options.passphrase;
  if (Array.isArray(pfx)) {
    if (pfx.length !== 1) throw new TlsError({ kind: 'apiMisuse', reason: `pfx: one PKCS#12 file per server (one certificate chain), got ${pfx.length}` });
    const entry: unknown = pfx[0];
    if (entry instanceof Uint8Array) pfx = entry;
    else {
      const o = entry as { buf?: unknown; passphrase?: unknown } | null;
      if (!(o?.buf instanceof Uint8Array)) throw new TlsError({ kind: 'apiMisuse', reason: 'pfx: expected bytes or { buf, passphrase }' });
      pfx = o.buf;
      if (o.passphrase !== undefined) passphrase = String(o.passphrase);
    }
  }
  return { ...loadPkcs12(pfx as Uint8Array, passphrase) };
}

function common(options: SecureOptions): Omit<TlsCommonConfig, 'verifier'> {
  const handshakeTimeout = timerOption('handshakeTimeout', options.handshakeTimeout);
  if (options.provider !== undefined) checkProvider(options.provider, 'provider');
  if (options.minVersion === 'TLSv1.3' && options.maxVersion === 'TLSv1.2') {
    throw new TlsError({ kind: 'apiMisuse', reason: 'minVersion TLSv1.3 is above maxVersion TLSv1.2' });
  }
  const provider = options.provider ?? defaultProvider;
  return {
    provider,
    ...records(options, provider),
    ...(options.ciphers !== undefined ? { cipherSuites: parseCipherSuites(options.ciphers) } : {}),
    ...versionOption('minVersion', options.minVersion),
    ...versionOption('maxVersion', options.maxVersion),
    ...(options.requireExtendedMasterSecret !== undefined
      ? { requireExtendedMasterSecret: boolOption('requireExtendedMasterSecret', options.requireExtendedMasterSecret) }
      : {}),
    ...(options.groups !== undefined ? { groups: parseGroups(options.groups) } : {}),
    ...(options.ALPNProtocols !== undefined ? { alpnProtocols: alpnOption(options.ALPNProtocols) } : {}),
    ...loadIdentity(options),
    ...(handshakeTimeout !== undefined ? { handshakeTimeout } : {}),
    ...(options.maxHandshakeMessage !== undefined
      ? { maxHandshakeMessage: intIn('maxHandshakeMessage', options.maxHandshakeMessage, 1024, 1 << 24)! }
      : {}),
    ...(options.ignoreUnexpectedEof !== undefined ? { ignoreUnexpectedEof: boolOption('ignoreUnexpectedEof', options.ignoreUnexpectedEof) } : {}),
    ...(options.keyLog !== undefined && options.keyLog !== false ? { keyLog: true } : {}),
    ...((options as { onMessage?: unknown }).onMessage !== undefined ? { traceMessages: true } : {}),
    ...(options.minRsaBits !== undefined ? { minRsaBits: intIn('minRsaBits', options.minRsaBits, 0, 16384)! } : {}),
  };
}


/**
 * The core configuration of a DTLS 1.3 client: the handshake part exactly as {@link toClientConfig} maps it
 * (trust anchors, `servername`, suites, groups, ALPN, PSK, key log), plus the DTLS record settings.
 */
export function toDtlsClientConfig(options: DtlsClientOptions, host?: string, platform: Platform = portablePlatform): DtlsClientConfig {
  return { ...toClientConfig(options, host, platform), ...dtlsRecordConfig(options) };
}

/** The core configuration of a DTLS 1.3 server: {@link toServerConfig}'s handshake part plus the DTLS record settings. */
export function toDtlsServerConfig(options: DtlsServerOptions, platform: Platform = portablePlatform): DtlsServerConfig {
  return { ...toServerConfig(options, platform), ...dtlsRecordConfig(options) };
}

/** The DTLS record settings that were given (the reducer checks their ranges when a connection is created). */
function dtlsRecordConfig(options: DtlsTransportOptions): DtlsRecordConfig {
  const out: { -readonly [K in keyof DtlsRecordConfig]: DtlsRecordConfig[K] } = {};
  for (const name of ['mtu', 'retransmitInitial', 'retransmitMax', 'shutdownTimeout', 'replayWindow', 'maxPendingWrites', 'keyUpdateAfter'] as const) {
    const v = options[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new TlsError({ kind: 'apiMisuse', reason: `${name} must be a non-negative number, got ${String(v)}` });
    }
    out[name] = v;
  }
  if (options.dtlsDraft43 !== undefined) {
    if (typeof options.dtlsDraft43 !== 'boolean') throw new TlsError({ kind: 'apiMisuse', reason: 'dtlsDraft43 must be a boolean' });
    out.dtlsDraft43 = options.dtlsDraft43;
  }
  if (options.ticking !== undefined && options.ticking !== 'auto' && options.ticking !== 'manual') {
    throw new TlsError({ kind: 'apiMisuse', reason: `ticking must be 'auto' or 'manual', got ${String(options.ticking)}` });
  }
  return out;
}
