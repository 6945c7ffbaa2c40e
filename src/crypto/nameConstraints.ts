/**
 * Name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b)-(c)): a CA limits the names of every certificate below it
 * to permitted subtrees and away from excluded ones. Decoded here from the extension value; applied by the path
 * validation of `x509.ts` to each certificate below the constraining CA (trust anchor included).
 *
 * Name forms processed: dNSName, iPAddress (address and mask, IPv4 and IPv6), rfc822Name (subjectAltName
 * entries) and directoryName (the subject, RDN by RDN). A constraint on another form (URI, otherName…) makes
 * a certificate below that carries a name of that form fail, as §4.2.1.10 requires of forms not processed.
 * The subject CN is not checked against dNSName constraints: rxtls never matches a host name against the CN
 * (RFC 6125 §6.4.4), so a CN outside the subtrees cannot be used to impersonate anything.
 *
 * @example
 * const nc = decodeNameConstraints(extensionValue);
 * nameConstraintViolation(nc, { dnsNames: ['localhost'], ipAddresses: [], emails: [], otherForms: [], subject: [] });
 * // 'dNSName localhost is not within the permitted subtrees'
 */
import { DecodeError, Reader } from '../wire/reader.js';
import { contextTag, decodeDerElement, decodeDerSequence, peekDerTag } from '../wire/der.js';

/** GeneralName context tags (RFC 5280 §4.2.1.6), primitive forms except directoryName (EXPLICIT Name). */
export const GeneralNameTag = {
  otherName: 0xa0,
  rfc822Name: 0x81,
  dNSName: 0x82,
  x400Address: 0xa3,
  directoryName: 0xa4,
  ediPartyName: 0xa5,
  uniformResourceIdentifier: 0x86,
  iPAddress: 0x87,
  registeredID: 0x88,
} as const;

/** One subtree's base name. `directory` holds the canonical RDNs of a Name (see `decodeName` in x509.ts). */
export type ConstraintBase =
  | { readonly form: 'dns'; readonly name: string }
  | { readonly form: 'email'; readonly name: string }
  /** Address and mask, 4 + 4 or 16 + 16 B. */
  | { readonly form: 'ip'; readonly address: Uint8Array; readonly mask: Uint8Array }
  | { readonly form: 'directory'; readonly rdns: readonly string[] }
  /** A form not processed here, by its GeneralName tag. */
  | { readonly form: 'other'; readonly tag: number };

/** A decoded NameConstraints extension. */
export interface NameConstraints {
  readonly permitted: readonly ConstraintBase[];
  readonly excluded: readonly ConstraintBase[];
}

/** The names of a certificate that constraints apply to. */
export interface ConstrainedNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly Uint8Array[];
  readonly emails: readonly string[];
  /** GeneralName tags of other subjectAltName entries (URI, otherName…). */
  readonly otherForms: readonly number[];
  /** Canonical RDNs of the subject (empty for an empty subject). */
  readonly subject: readonly string[];
}

/**
 * Decode the extension value: `NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL,
 * excludedSubtrees [1] GeneralSubtrees OPTIONAL }`. `decodeName` reads a directoryName. Throws
 * {@link DecodeError} for malformed input, an empty extension (§4.2.1.10: at least one of the two MUST be
 * present), a subtree with minimum or maximum (§4.2.1.10: MUST be zero / absent), or an iPAddress subtree whose
 * mask is not a CIDR prefix (§4.2.1.10: RFC 4632 style).
 */
export function decodeNameConstraints(value: Uint8Array, decodeName: (r: Reader) => readonly string[]): NameConstraints {
  const outer = new Reader(value);
  const seq = decodeDerSequence(outer);
  outer.expectEnd('NameConstraints');
  const subtrees = (tag: number): ConstraintBase[] => {
    if (peekDerTag(seq) !== tag) return [];
    const list = decodeDerSequence(seq, tag);
    const out: ConstraintBase[] = [];
    while (list.remaining > 0) {
      const st = decodeDerSequence(list);
      out.push(decodeBase(st, decodeName));
      // minimum is DEFAULT 0 (so absent in DER) and maximum MUST be absent: anything more is refused.
      if (st.remaining > 0) throw new DecodeError('GeneralSubtree with minimum or maximum');
    }
    return out;
  };
  const permitted = subtrees(contextTag(0));
  const excluded = subtrees(contextTag(1));
  seq.expectEnd('NameConstraints');
  if (permitted.length === 0 && excluded.length === 0) throw new DecodeError('empty NameConstraints');
  return { permitted, excluded };
}

function decodeBase(r: Reader, decodeName: (r: Reader) => readonly string[]): ConstraintBase {
  const gn = decodeDerElement(r);
  switch (gn.tag) {
    case GeneralNameTag.dNSName:
      return { form: 'dns', name: ascii(gn.value).toLowerCase() };
    case GeneralNameTag.rfc822Name:
      return { form: 'email', name: ascii(gn.value) };
    case GeneralNameTag.iPAddress: {
      if (gn.value.length !== 8 && gn.value.length !== 32) throw new DecodeError(`iPAddress constraint of ${gn.value.length} bytes`);
      const mask = gn.value.subarray(gn.value.length / 2);
      // §4.2.1.10: the range is written as in RFC 4632 (CIDR), so the mask is a prefix: ones, then zeros.
      if (!isPrefixMask(mask)) throw new DecodeError('iPAddress constraint with a mask that is not a CIDR prefix');
      return { form: 'ip', address: gn.value.subarray(0, gn.value.length / 2), mask };
    }
    case GeneralNameTag.directoryName: {
      const inner = new Reader(gn.value);
      const rdns = decodeName(inner);
      inner.expectEnd('directoryName');
      return { form: 'directory', rdns };
    }
    default:
      return { form: 'other', tag: gn.tag };
  }
}

/** A network mask of one-bits followed only by zero-bits (an RFC 4632 prefix): 255.255.240.0, not 255.0.255.0. */
function isPrefixMask(mask: Uint8Array): boolean {
  let ones = true;
  for (const b of mask) {
    if (!ones) {
      if (b !== 0) return false;
    } else if (b !== 0xff) {
      // The byte where the ones end: its zero-bits must be its low bits (0xf0: 0x0f & 0x10 is 0).
      const zeroBits = ~b & 0xff;
      if ((zeroBits & (zeroBits + 1)) !== 0) return false;
      ones = false;
    }
  }
  return true;
}

function ascii(b: Uint8Array): string {
  if (b.some((x) => x > 0x7e || x < 0x20)) throw new DecodeError('non-printable IA5String in a name');
  return String.fromCharCode(...b);
}

/**
 * dNSName within a subtree (§4.2.1.10): the constraint itself or a name made by adding labels on the left
 * (`example.com` covers `example.com` and `a.example.com`, not `badexample.com`); a leading dot (a common
 * extension, as OpenSSL reads it) covers subdomains only; an empty constraint covers every name. A wildcard
 * SAN `*.a.b` is a label like any other.
 */
function dnsWithin(name: string, base: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (base === '') return true;
  if (base.startsWith('.')) return n.endsWith(base);
  return n === base || n.endsWith(`.${base}`);
}

/** An excluded dNSName subtree a wildcard SAN could expand into (`*.example.com` can be `a.example.com`). */
function wildcardReaches(name: string, base: string): boolean {
  const n = name.toLowerCase();
  if (!n.startsWith('*.') || base === '' || base.startsWith('.')) return false;
  const dot = base.indexOf('.');
  return dot > 0 && base.slice(dot + 1) === n.slice(2);
}

/** rfc822Name within a subtree: a mailbox, all mailboxes of a host, or of a domain's subdomains (leading dot). */
function emailWithin(email: string, base: string): boolean {
  const at = email.lastIndexOf('@');
  if (at < 0) return false;
  const host = email.slice(at + 1).toLowerCase();
  if (base.includes('@')) {
    const bat = base.lastIndexOf('@');
    return email.slice(0, at) === base.slice(0, bat) && host === base.slice(bat + 1).toLowerCase();
  }
  const b = base.toLowerCase();
  return b.startsWith('.') ? host.endsWith(b) : host === b;
}

function ipWithin(ip: Uint8Array, address: Uint8Array, mask: Uint8Array): boolean {
  if (ip.length !== address.length) return false;
  for (let i = 0; i < ip.length; i++) if ((ip[i]! & mask[i]!) !== (address[i]! & mask[i]!)) return false;
  return true;
}

function directoryWithin(subject: readonly string[], base: readonly string[]): boolean {
  return base.length <= subject.length && base.every((rdn, i) => subject[i] === rdn);
}

function formatIp(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const groups: string[] = [];
  for (let i = 0; i < b.length; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

/**
 * Most name comparisons in one verification (webpki's bound): a certificate with thousands of names under a CA
 * with thousands of subtrees would otherwise cost names × subtrees (4 000 × 8 000 took 11 s).
 */
export const MAX_NAME_COMPARISONS = 250_000;

/** What is left of {@link MAX_NAME_COMPARISONS} for one verification, shared by every CA of its candidate paths. */
export interface ComparisonBudget {
  left: number;
}

const OVER_BUDGET = Symbol('over the comparison budget');

/**
 * Why `names` break `nc`, or `undefined` when they do not (§6.1.3 (b), (c)). For each form the CA constrains
 * in its permitted subtrees, every name of that form must lie in one of them; no name may lie in an excluded
 * subtree; a name of a form constrained but not processed here fails. Each comparison is taken from `budget`;
 * past it the names count as breaking the constraints (webpki's MaximumNameConstraintComparisonsExceeded).
 */
export function nameConstraintViolation(nc: NameConstraints, names: ConstrainedNames, budget: ComparisonBudget = { left: MAX_NAME_COMPARISONS }): string | undefined {
  try {
    return violation(nc, names, budget);
  } catch (e) {
    if (e === OVER_BUDGET) return `more than ${MAX_NAME_COMPARISONS} name comparisons`;
    throw e;
  }
}

function violation(nc: NameConstraints, names: ConstrainedNames, budget: ComparisonBudget): string | undefined {
  // Each CA's subtrees sorted by form once, not once per name.
  const permitted = <F extends ConstraintBase['form']>(form: F) =>
    nc.permitted.filter((b): b is Extract<ConstraintBase, { form: F }> => b.form === form);
  const excluded = <F extends ConstraintBase['form']>(form: F) =>
    nc.excluded.filter((b): b is Extract<ConstraintBase, { form: F }> => b.form === form);
  const counted =
    <A extends unknown[]>(f: (...a: A) => boolean) =>
    (...a: A): boolean => {
      if (--budget.left < 0) throw OVER_BUDGET;
      return f(...a);
    };
  const dnsIn = counted(dnsWithin);
  const dnsReaches = counted((name: string, base: string) => dnsWithin(name, base) || wildcardReaches(name, base));
  const ipIn = counted(ipWithin);
  const emailIn = counted(emailWithin);
  const directoryIn = counted(directoryWithin);

  const [pDns, xDns] = [permitted('dns'), excluded('dns')];
  for (const name of names.dnsNames) {
    if (pDns.length > 0 && !pDns.some((b) => dnsIn(name, b.name))) return `dNSName ${name} is not within the permitted subtrees`;
    const x = xDns.find((b) => dnsReaches(name, b.name));
    if (x) return `dNSName ${name} is within the excluded subtree ${x.name}`;
  }
  const [pIp, xIp] = [permitted('ip'), excluded('ip')];
  for (const ip of names.ipAddresses) {
    if (pIp.length > 0 && !pIp.some((b) => ipIn(ip, b.address, b.mask))) return `iPAddress ${formatIp(ip)} is not within the permitted subtrees`;
    const x = xIp.find((b) => ipIn(ip, b.address, b.mask));
    if (x) return `iPAddress ${formatIp(ip)} is within the excluded subtree ${formatIp(x.address)}/${formatIp(x.mask)}`;
  }
  const [pEmail, xEmail] = [permitted('email'), excluded('email')];
  for (const email of names.emails) {
    if (pEmail.length > 0 && !pEmail.some((b) => emailIn(email, b.name))) return `rfc822Name ${email} is not within the permitted subtrees`;
    const x = xEmail.find((b) => emailIn(email, b.name));
    if (x) return `rfc822Name ${email} is within the excluded subtree ${x.name}`;
  }
  if (names.subject.length > 0) {
    const p = permitted('directory');
    if (p.length > 0 && !p.some((b) => directoryIn(names.subject, b.rdns))) return 'the subject is not within the permitted directoryName subtrees';
    if (excluded('directory').some((b) => directoryIn(names.subject, b.rdns))) return 'the subject is within an excluded directoryName subtree';
  }
  const unprocessed = new Set([...nc.permitted, ...nc.excluded].flatMap((b) => (b.form === 'other' ? [b.tag] : [])));
  const form = names.otherForms.find((tag) => unprocessed.has(tag));
  if (form !== undefined) return `a subjectAltName of form [${form & 0x1f}] is constrained, and that form is not supported`;
  return undefined;
}
