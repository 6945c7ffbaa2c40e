/**
 * HTTP semantics of HTTP/3 field sections (RFC 9114 §4.2, §4.3): pseudo-header fields and the fields HTTP/3
 * forbids, checked when a request or response head arrives. A malformed message is a stream error of type
 * H3_MESSAGE_ERROR (§4.1.2): only that request fails. Sans-IO.
 */
import { H3Error } from './errors.js';
import type { H3Field } from './qpack.js';

/** A request head as a server sees it (RFC 9114 §4.3.1). */
export interface H3RequestHead {
  readonly method: string;
  /** `''` for a CONNECT request (RFC 9114 §4.4), which has no `:scheme`. */
  readonly scheme: string;
  /** `:authority` (or the `host` field when it is absent), `''` when neither is given. */
  readonly authority: string;
  /** `''` for a CONNECT request, which has no `:path`. */
  readonly path: string;
  /** The regular fields, in order (names lowercase). */
  readonly headers: readonly H3Field[];
}

/** A response head as a client sees it (RFC 9114 §4.3.2). */
export interface H3ResponseHead {
  readonly status: number;
  readonly headers: readonly H3Field[];
}

/** Connection-specific fields HTTP/3 forbids (RFC 9114 §4.2: "MUST NOT generate … treated as malformed"). */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function malformed(reason: string): H3Error {
  return new H3Error('H3_MESSAGE_ERROR', reason, 'stream');
}

/** RFC 9110 §5.1 token characters, lowercase only (RFC 9114 §4.2: uppercase in a name is malformed). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * What a field value may not hold (RFC 9110 §5.5: field-value = *field-content, HTAB, SP, VCHAR and obs-text
 * 0x80–0xff only, and field-content starts and ends with a visible character): NUL, CR, LF, the other control
 * characters and DEL anywhere, SP or HTAB at either end. RFC 9114 §4.2, §10.3 make any of them malformed.
 */
const NOT_FIELD_CONTENT = /[\0-\x08\x0a-\x1f\x7f]|^[\t ]|[\t ]$/;

/** RFC 9110 §5.6.2 token (any case): what a method is (§9.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
const SCHEME = /^[A-Za-z][A-Za-z0-9+\-.]*$/;

/**
 * Check the regular fields (names are lowercase tokens; no control character in a value, no whitespace at its
 * ends; no connection-specific field; `te` only as `trailers`) and split off the pseudo-header fields, which
 * must all come first and each at most once (§4.3). Throws H3_MESSAGE_ERROR.
 */
function splitFields(fields: readonly H3Field[]): { pseudo: Map<string, string>; headers: H3Field[] } {
  const pseudo = new Map<string, string>();
  const headers: H3Field[] = [];
  for (const [name, value] of fields) {
    if (NOT_FIELD_CONTENT.test(value)) throw malformed(`field ${name} has a control character (NUL, CR, LF or another) in its value, or whitespace at its start or end`);
    if (name.startsWith(':')) {
      if (headers.length > 0) throw malformed(`pseudo-header ${name} after a regular field`);
      if (pseudo.has(name)) throw malformed(`pseudo-header ${name} appears twice`);
      pseudo.set(name, value);
      continue;
    }
    if (!FIELD_NAME.test(name)) throw malformed(`field name "${name}" is not a lowercase token`);
    if (CONNECTION_SPECIFIC.has(name)) throw malformed(`connection-specific field ${name}`);
    if (name === 'te' && value !== 'trailers') throw malformed('te other than "trailers"');
    headers.push([name, value]);
  }
  return { pseudo, headers };
}

/**
 * A request's head (RFC 9114 §4.3.1): `:method` (a token, RFC 9110 §9.1), `:scheme` (RFC 3986 §3.1) and a
 * non-empty `:path` (for http/https, "/…", or "*" for OPTIONS; "*" for OPTIONS only in any case) for anything
 * but CONNECT, no other pseudo-header, and for http/https an authority (`:authority` or `host`) without
 * userinfo. `:authority` and `host`, when both are given, carry the same value. A CONNECT (§4.4) has `:method`
 * and `:authority` only (`scheme` and `path` are then `''`). Throws H3_MESSAGE_ERROR.
 */
export function requestHead(fields: readonly H3Field[]): H3RequestHead {
  const { pseudo, headers } = splitFields(fields);
  for (const name of pseudo.keys()) if (![':method', ':scheme', ':authority', ':path'].includes(name)) throw malformed(`pseudo-header ${name} in a request`);
  const method = pseudo.get(':method');
  if (method !== undefined && !TOKEN.test(method)) throw malformed(`:method "${method}" is not a token`);
  const pseudoAuthority = pseudo.get(':authority');
  if (pseudoAuthority !== undefined && headers.some(([n, v]) => n === 'host' && v !== pseudoAuthority)) throw malformed(':authority and host with different values');
  if (method === 'CONNECT') {
    if (pseudo.has(':scheme') || pseudo.has(':path') || !pseudoAuthority) throw malformed('CONNECT needs :authority and no :scheme or :path');
    return { method: 'CONNECT', scheme: '', authority: pseudoAuthority, path: '', headers };
  }
  const scheme = pseudo.get(':scheme');
  const path = pseudo.get(':path');
  if (method === undefined || scheme === undefined || path === undefined) throw malformed('request without :method, :scheme or :path');
  if (!SCHEME.test(scheme)) throw malformed(`:scheme "${scheme}" is not a scheme`);
  if (path === '') throw malformed('empty :path');
  if (path === '*' && method !== 'OPTIONS') throw malformed(':path * on a request other than OPTIONS');
  const web = scheme === 'http' || scheme === 'https';
  if (web && path !== '*' && !path.startsWith('/')) throw malformed(`${scheme} request whose :path does not start with "/"`);
  const authority = pseudoAuthority ?? headers.find(([n]) => n === 'host')?.[1] ?? '';
  if (web && authority === '') throw malformed(`${scheme} request without an authority`);
  if (web && authority.includes('@')) throw malformed(`${scheme} request whose authority has userinfo`);
  return { method, scheme, authority, path, headers };
}

/** A response's head (RFC 9114 §4.3.2): exactly `:status`, three digits. Throws H3_MESSAGE_ERROR. */
export function responseHead(fields: readonly H3Field[]): H3ResponseHead {
  const { pseudo, headers } = splitFields(fields);
  const status = pseudo.get(':status');
  if (status === undefined || pseudo.size !== 1) throw malformed('a response needs :status and no other pseudo-header');
  if (!/^[1-5][0-9][0-9]$/.test(status)) throw malformed(`bad :status "${status}"`);
  return { status: Number(status), headers };
}

/** Trailers carry no pseudo-header (RFC 9114 §4.3). Throws H3_MESSAGE_ERROR. */
export function trailerFields(fields: readonly H3Field[]): H3Field[] {
  const { pseudo, headers } = splitFields(fields);
  if (pseudo.size > 0) throw malformed('pseudo-header in trailers');
  return headers;
}

/** The fields of a request head to encode: pseudo-headers first (RFC 9114 §4.3), then `headers`. */
export function requestFields(head: Omit<H3RequestHead, 'scheme' | 'headers'> & { readonly scheme?: string; readonly headers?: readonly H3Field[] }): H3Field[] {
  return [[':method', head.method], [':scheme', head.scheme ?? 'https'], [':authority', head.authority], [':path', head.path], ...lowercase(head.headers ?? [])];
}

/** The fields of a response head to encode. */
export function responseFields(status: number, headers: readonly H3Field[] = []): H3Field[] {
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new RangeError(`bad HTTP status ${status}`);
  return [[':status', String(status)], ...lowercase(headers)];
}

/** HTTP/3 field names are lowercase on the wire (RFC 9114 §4.2); a caller may give `Content-Type`. */
function lowercase(headers: readonly H3Field[]): H3Field[] {
  return headers.map(([n, v]) => [n.toLowerCase(), v]);
}
