/**
 * Verdict helpers for the adversarial path-validation probes (test/crypto/limbo.test.ts,
 * test/crypto/limbo2.test.ts): run one probe against a verifier and assert a typed verdict. A verifier that
 * throws fails the test: every input, however malformed, must get an answer.
 */
import type { ExecutionContext } from 'ava';
import type { CertificateErrorCode } from '../../src/core/errors.js';
import type { CertificateVerdict, CertificateVerifier } from '../../src/crypto/verifier.js';
import { createVerifier, portableChecks, type CertificateChecks, type VerifierOptions } from '../../src/crypto/x509.js';
import { createNodeX509Verifier, nodeX509Checks } from '../../src/node/verifier.js';
import { Y, type Issuer } from './der.js';

/** Validation time of every probe unless stated. */
export const NOW = Y(2030);

/** Every typed rejection code a verifier may answer. */
export const CODES = new Set<CertificateErrorCode>([
  'unknown_ca',
  'expired',
  'not_yet_valid',
  'hostname_mismatch',
  'bad_signature',
  'not_a_ca',
  'path_too_long',
  'bad_encoding',
  'unsupported',
  'bad_usage',
  'no_certificate',
  'name_constraints',
  'weak_signature',
  'weak_key',
]);

export type Make = (opts: VerifierOptions) => CertificateVerifier;

/** One implementation under test: its verifier, and the checks table it is built on. */
export interface Impl {
  readonly label: 'portable' | 'node X509Certificate';
  readonly make: Make;
  readonly checks: CertificateChecks;
}
export const IMPLS: readonly Impl[] = [
  { label: 'portable', make: (opts) => createVerifier(opts), checks: portableChecks },
  { label: 'node X509Certificate', make: (opts) => createNodeX509Verifier(opts), checks: nodeX509Checks },
];

export interface Probe {
  /** Trust anchors. */
  readonly anchors: readonly Issuer[];
  /** The chain as sent, leaf first. */
  readonly chain: readonly Issuer[];
  readonly host?: string;
  readonly now?: number;
  readonly usage?: 'server' | 'client';
  readonly opts?: Partial<VerifierOptions>;
}

/** Verify; a throw (of anything) is a failed test, not a verdict. */
export function verdict(t: ExecutionContext, make: Make, p: Probe): CertificateVerdict | undefined {
  try {
    const v = make({ ca: p.anchors.map((a) => a.der), ...p.opts });
    const req = {
      chain: p.chain.map((c) => c.der),
      usage: p.usage ?? 'server',
      now: p.now ?? NOW,
      ...(p.host !== undefined ? { serverName: p.host } : {}),
    } as const;
    return v.verify(req);
  } catch (e) {
    t.fail(`verify threw instead of answering: ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
    return undefined;
  }
}

export function accepts(t: ExecutionContext, make: Make, p: Probe, what = ''): void {
  const v = verdict(t, make, p);
  if (v) t.true(v.ok, `${what} ${JSON.stringify(v)}`);
}

/** Rejected with a typed verdict; with `codes`, one of those. */
export function rejects(t: ExecutionContext, make: Make, p: Probe, codes?: CertificateErrorCode | readonly CertificateErrorCode[], what = ''): void {
  const v = verdict(t, make, p);
  if (!v) return;
  t.false(v.ok, `${what} accepted, expected a rejection`);
  if (v.ok) return;
  t.true(CODES.has(v.code), `untyped code ${v.code}`);
  t.true(typeof v.reason === 'string' && v.reason.length > 0);
  if (codes !== undefined) {
    const list = typeof codes === 'string' ? [codes] : codes;
    t.true(list.includes(v.code), `${what} code ${v.code} (${v.reason}), expected ${list.join(' or ')}`);
  }
}

/** Either outcome is allowed by the references, as long as it is a typed verdict; returns it for the log. */
export function answers(t: ExecutionContext, make: Make, p: Probe): CertificateVerdict | undefined {
  const v = verdict(t, make, p);
  if (v) t.true(v.ok || (CODES.has(v.code) && v.reason.length > 0), JSON.stringify(v));
  return v;
}
