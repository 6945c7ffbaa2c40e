/**
 * SNI routing over byte duplexes: read a connection's ClientHello without terminating it
 * ({@link sniffClientHello}), then pass the untouched bytes on or terminate TLS with the route's certificate
 * ({@link routeBySniOn}). Portable: no Node built-in.
 */
import { EMPTY, Observable, asyncScheduler, catchError, map, mergeMap, of, take, type OperatorFunction, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { TlsError, asTlsError } from '../core/errors.js';
import { toTransportError } from './duplex.js';
import type { TlsConfig } from '../tls/config.js';
import { ClientHelloSniffer, MAX_SNIFFED_HELLO, type SniffedHello } from '../tls/clientHelloSniffer.js';
import { plainRecord } from '../tls/record.js';
import { encodeAlert } from '../wire/tls/alert.js';
import { AlertDescription, AlertLevel, ContentType } from '../wire/tls/constants.js';
import { type ConnectionSettings, toConnectionSettings, toServerConfig } from './options.js';
import { portablePlatform, type Platform } from './platform.js';
import { secureDuplex } from './secure.js';
import type { ByteDuplex, ServerOptions, TlsConnection } from './types.js';

export type { SniffedHello } from '../tls/clientHelloSniffer.js';

/** Options of {@link sniffClientHello}. */
export interface SniffOptions {
  /**
   * Bytes that may be read before the ClientHello is complete, record headers included (default 16 640: the
   * largest TLS record, room for a 16 KiB ClientHello). A larger hello gets decode_error.
   */
  readonly maxHelloBytes?: number;
  /** Milliseconds a client has to deliver its whole ClientHello (default 10 000); then the duplex is destroyed. */
  readonly timeout?: number;
  /** Scheduler of the timeout (default `asyncScheduler`; a `TestScheduler` gives virtual time). */
  readonly scheduler?: SchedulerLike;
}

/** A connection whose ClientHello was read: its routing facts and a duplex that replays every byte. */
export interface Sniffed {
  readonly hello: SniffedHello;
  /**
   * The same connection, not terminated: its `incoming$` emits the bytes read so far (the ClientHello
   * included), then the rest of the stream, in order. `write`, `drain$`, `end`, `destroy`, `pause` and `resume`
   * are the original's; the original stays paused until `incoming$` is subscribed. Single consumer.
   */
  readonly duplex: ByteDuplex;
}

/** The bytes of a fatal alert in a plaintext record (RFC 8446 §6), e.g. `15 03 03 00 02 02 70` for unrecognized_name. */
export const alertRecord = (description: number): Uint8Array => plainRecord(ContentType.alert, encodeAlert(AlertLevel.fatal, description));

/**
 * Reads the ClientHello of a plaintext connection (a TCP connection a server accepted) without terminating it,
 * and emits its SNI and ALPN with a duplex that replays every byte read: TLS passthrough and SNI-based
 * certificate choice start here.
 *
 * Only the records holding the ClientHello are read: once it is complete the original duplex is paused (when it
 * can be) until the replaying duplex is read. At most `maxHelloBytes` are examined; what is not a ClientHello
 * within them (not TLS, a record other than handshake, another handshake message, a malformed or too large
 * hello) gets the fatal alert a server would send (unexpected_message, record_overflow, decode_error,
 * illegal_parameter) in a plaintext record, the duplex is ended, and the result errors with a {@link TlsError}
 * carrying that alert. A client silent past `timeout` errors with kind `handshakeTimeout` (the duplex is
 * destroyed; nothing is sent to a peer that said nothing); EOF first errors with `unexpectedEof`.
 * Unsubscribing before the ClientHello is complete destroys the duplex; after, the duplex is the caller's.
 *
 * ```
 * duplex bytes:  -a-b-c-d----      the ClientHello ends in c
 * result:        -----(S|)         S = { hello, duplex }; S.duplex.incoming$: (abc)-d---
 * not TLS:       -x|               alert sent, duplex ended, TlsError (unexpected_message)
 * ```
 *
 * @example
 * ```ts
 * sniffClientHello(fromSocket(socket)).subscribe(({ hello, duplex }) => {
 *   const backend = fromSocket(net.connect(hello.serverName === 'a.test' ? 8001 : 8002, '127.0.0.1'));
 *   duplex.incoming$.subscribe({ next: (b) => backend.write(b), complete: () => backend.end() });
 *   backend.incoming$.subscribe({ next: (b) => duplex.write(b), complete: () => duplex.end() });
 * });
 * ```
 */
export function sniffClientHello(duplex: ByteDuplex, options: SniffOptions = {}): Observable<Sniffed> {
  const { maxHelloBytes = MAX_SNIFFED_HELLO, timeout = 10_000, scheduler = asyncScheduler } = options;
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new TlsError({ kind: 'apiMisuse', reason: `timeout must be a positive number of ms, got ${timeout}` });
  return new Observable<Sniffed>((subscriber) => {
    const sniffer = new ClientHelloSniffer(maxHelloBytes);
    const seen: Uint8Array[] = [];
    let replay: Replay | undefined;
    /** A result was given (the sniffed duplex, or an error after which the duplex was dealt with). */
    let settled = false;
    // The duplex may deliver while `subscribe` is still running (a memory pair with data waiting): stopping the
    // subscription then waits until it exists.
    let source: Subscription | undefined;
    let stopped = false;
    const stop = () => {
      stopped = true;
      source?.unsubscribe();
    };
    const refuse = (error: TlsError) => {
      settled = true;
      timer.unsubscribe();
      stop();
      subscriber.error(error);
    };
    const timer = scheduler.schedule(() => {
      // Refused first: destroying may complete incoming$ at once, which is not this connection's story.
      refuse(new TlsError({ kind: 'handshakeTimeout', afterMs: timeout, reason: `no complete ClientHello within ${timeout} ms` }));
      duplex.destroy();
    }, timeout);
    source = duplex.incoming$.subscribe({
      next: (chunk) => {
        if (replay) return replay.next(chunk);
        const verdict = sniffer.push(chunk);
        if (verdict.kind === 'incomplete') {
          seen.push(chunk);
          return;
        }
        if (verdict.kind === 'fail') {
          // The alert a server would send, then FIN: a peer that speaks TLS learns why.
          duplex.write(alertRecord(verdict.detail.alert));
          duplex.end();
          return refuse(new TlsError(verdict.detail));
        }
        settled = true;
        timer.unsubscribe();
        seen.push(chunk);
        duplex.pause?.();
        replay = replaying(duplex, seen.splice(0), stop);
        subscriber.next({ hello: verdict.hello, duplex: replay.duplex });
        subscriber.complete();
      },
      error: (err: unknown) => {
        if (replay) return replay.error(err);
        duplex.destroy();
        // The client's transport failed (a reset): no internal error of ours, and nothing was sent.
        refuse(toTransportError(err));
      },
      complete: () => {
        if (replay) return replay.complete();
        duplex.destroy();
        refuse(new TlsError({ kind: 'unexpectedEof', reason: 'the connection ended before its ClientHello was complete' }));
      },
    });
    if (stopped) source.unsubscribe();
    return () => {
      timer.unsubscribe();
      if (settled) return; // handed over (the caller's now), or already dealt with
      stop();
      duplex.destroy();
    };
  });
}

interface Replay {
  readonly duplex: ByteDuplex;
  next(chunk: Uint8Array): void;
  error(err: unknown): void;
  complete(): void;
}

/**
 * The replaying duplex over `original`, whose `incoming$` is already subscribed (by the sniffer): `head` first,
 * then what the subscription delivers, then its end. The original is kept paused while nobody reads or the
 * reader paused; `stop` ends the original subscription when the reader leaves.
 */
function replaying(original: ByteDuplex, head: Uint8Array[], stop: () => void): Replay {
  type Note = { readonly kind: 'N'; readonly value: Uint8Array } | { readonly kind: 'E'; readonly err: unknown } | { readonly kind: 'C' };
  const queue: Note[] = head.map((value) => ({ kind: 'N', value }));
  let reader: Subscriber<Uint8Array> | undefined;
  let claimed = false;
  let paused = false;
  let flushing = false;
  const flush = () => {
    if (flushing) return;
    flushing = true;
    try {
      while (reader && !paused && queue.length > 0) {
        const n = queue.shift()!;
        if (n.kind === 'N') reader.next(n.value);
        else if (n.kind === 'E') reader.error(n.err);
        else reader.complete();
      }
    } finally {
      flushing = false;
    }
    // Read on only when what was read before is gone: the original holds the rest (its own backpressure).
    if (reader && !paused && queue.length === 0) original.resume?.();
  };
  const push = (note: Note) => {
    queue.push(note);
    flush();
  };
  const incoming$ = new Observable<Uint8Array>((subscriber) => {
    if (claimed) {
      subscriber.error(new TlsError({ kind: 'apiMisuse', reason: 'incoming$ of a sniffed duplex can be subscribed only once' }));
      return;
    }
    claimed = true;
    reader = subscriber;
    flush();
    return () => {
      reader = undefined;
      queue.length = 0;
      stop();
    };
  });
  return {
    duplex: {
      incoming$,
      write: (chunk, written) => original.write(chunk, written),
      ...(original.cork ? { cork: () => original.cork!() } : {}),
      drain$: original.drain$,
      end: () => original.end(),
      destroy: () => original.destroy(),
      pause: () => {
        paused = true;
        original.pause?.();
      },
      resume: () => {
        paused = false;
        flush();
      },
    },
    next: (value) => {
      // A transport without pause() keeps delivering: the reader's pause holds those chunks here.
      if (queue.length > 0 || paused || !reader) original.pause?.();
      push({ kind: 'N', value });
    },
    error: (err) => push({ kind: 'E', err }),
    complete: () => push({ kind: 'C' }),
  };
}

/** One route of {@link SniRouteTable}: which connections it takes and what becomes of them. */
export interface SniRoute {
  /** The route's name, reported in {@link SniRouted.route} (a backend label, e.g. `'a'` or `'10.0.0.5:443'`). */
  readonly route: string;
  /**
   * Server names this route takes: exact (`a.example.com`, case-insensitive) or a wildcard `*.example.com`,
   * which takes exactly one more label on the left (`x.example.com`, not `example.com` nor `x.y.example.com`,
   * as in RFC 6125 §6.4.3). Exact names win over wildcards, and earlier routes over later ones.
   */
  readonly serverNames: readonly string[];
  /** Take the connection only when the client offers one of these ALPN protocols (default: whatever it offers). */
  readonly alpn?: readonly string[];
  /**
   * Terminate TLS here with these server options (`cert`/`key` of that name, ALPN, …: an `SNICallback`
   * equivalent). Absent: TLS passthrough, the untouched bytes go to the caller.
   */
  readonly terminate?: ServerOptions;
}

/** The route table and sniffing limits of {@link routeBySniOn}. */
export interface SniRouteTable extends SniffOptions {
  readonly routes: readonly SniRoute[];
  /**
   * Where connections no route takes go (no SNI, an unknown name, no matching ALPN). Absent: they get the fatal
   * alert unrecognized_name (RFC 6066 §3), or no_application_protocol (RFC 7301 §3.2) when a route had the
   * name but not the ALPN, and are closed.
   */
  readonly defaultRoute?: Omit<SniRoute, 'serverNames' | 'alpn'>;
  /**
   * Called with each connection that was refused or failed before it was handed over (no ClientHello, an
   * unknown name, a terminated handshake that failed). The router keeps running. Default: ignore.
   */
  readonly onError?: (error: TlsError) => void;
}

/** A routed connection: passed through untouched, or terminated with the route's certificate. */
export type SniRouted =
  | {
      readonly kind: 'passthrough';
      readonly route: string;
      readonly serverName?: string;
      readonly alpn: readonly string[];
      /** The client's connection replaying every byte (ClientHello first): splice it to the backend. */
      readonly duplex: ByteDuplex;
    }
  | {
      readonly kind: 'terminated';
      readonly route: string;
      readonly serverName?: string;
      readonly alpn: readonly string[];
      /** The TLS connection after its handshake, with the route's `terminate` options. */
      readonly connection: TlsConnection;
    };

/** A route with its server options converted once (when the router is built). */
interface ReadyRoute {
  readonly route: string;
  readonly exact: ReadonlySet<string>;
  /** Wildcard suffixes with their dot: `.example.com` for `*.example.com`. */
  readonly suffixes: readonly string[];
  readonly alpn?: readonly string[];
  readonly server?: { readonly config: TlsConfig; readonly settings: ConnectionSettings; readonly scheduler: SchedulerLike };
}

/** Which route takes `hello`, or the alert for none. */
function chooseRoute<R extends { readonly alpn?: readonly string[] }>(
  hello: SniffedHello,
  routes: readonly (R & { readonly exact: ReadonlySet<string>; readonly suffixes: readonly string[] })[],
  fallback: R | undefined,
): { readonly route: R } | { readonly alert: number } {
  const name = hello.serverName;
  const offers = (r: R) => r.alpn === undefined || r.alpn.some((p) => hello.alpn.includes(p));
  const wildcard = (r: { readonly suffixes: readonly string[] }) =>
    name !== undefined && r.suffixes.some((s) => name.endsWith(s) && name.length > s.length && !name.slice(0, -s.length).includes('.'));
  const byName = name === undefined ? [] : routes.filter((r) => r.exact.has(name));
  const byWildcard = routes.filter(wildcard);
  const chosen = byName.find(offers) ?? byWildcard.find(offers) ?? fallback;
  if (chosen) return { route: chosen };
  if (byName.length > 0 || byWildcard.length > 0) return { alert: AlertDescription.no_application_protocol };
  return { alert: AlertDescription.unrecognized_name };
}

function prepare(route: Omit<SniRoute, 'serverNames'> & { readonly serverNames?: readonly string[] }, platform: Platform, fallbackScheduler: SchedulerLike): ReadyRoute {
  const names = (route.serverNames ?? []).map((n) => n.toLowerCase());
  for (const n of names) {
    if (n.length === 0 || (n.includes('*') && !/^\*\.[^*]+$/.test(n))) {
      throw new TlsError({ kind: 'apiMisuse', reason: `route ${route.route}: server name '${n}' is neither a name nor a '*.suffix' wildcard` });
    }
    // Clients send printable ASCII (RFC 6066 §3; an IDN as its A-label, xn--…): any other name never matches.
    if (!/^[\x21-\x7e]+$/.test(n)) {
      throw new TlsError({ kind: 'apiMisuse', reason: `route ${route.route}: server name '${n}' is not ASCII: give an IDN as its A-label (xn--…), as clients send it` });
    }
  }
  const opts = route.terminate;
  return {
    route: route.route,
    exact: new Set(names.filter((n) => !n.startsWith('*.'))),
    suffixes: names.filter((n) => n.startsWith('*.')).map((n) => n.slice(1)),
    ...(route.alpn !== undefined ? { alpn: route.alpn } : {}),
    ...(opts !== undefined
      ? { server: { config: toServerConfig(opts, platform), settings: toConnectionSettings(opts), scheduler: opts.scheduler ?? fallbackScheduler } }
      : {}),
  };
}

/**
 * {@link routeBySni} on a given platform (where trust anchors for client certificates come from when a route's
 * `ca` is absent, how a `keyLog` path is written): the portable one in `rxtls/browser` is
 * `routeBySniOn(portablePlatform)`, Node's is `routeBySniOn(nodePlatform)`. Routes' server options are checked
 * and their PEM loaded when the router is built: a bad route throws `apiMisuse` at once.
 *
 * @example
 * ```ts
 * const route = routeBySniOn(portablePlatform)({ routes: [{ route: 'a', serverNames: ['a.test'], terminate: { cert, key } }] });
 * ```
 */
export function routeBySniOn(platform: Platform): (table: SniRouteTable) => OperatorFunction<ByteDuplex, SniRouted> {
  return (table) => {
    const scheduler = table.scheduler ?? asyncScheduler;
    const routes = table.routes.map((r) => prepare(r, platform, scheduler));
    const fallback = table.defaultRoute ? prepare(table.defaultRoute, platform, scheduler) : undefined;
    const sniff: SniffOptions = {
      scheduler,
      ...(table.maxHelloBytes !== undefined ? { maxHelloBytes: table.maxHelloBytes } : {}),
      ...(table.timeout !== undefined ? { timeout: table.timeout } : {}),
    };
    const routeOne = (duplex: ByteDuplex): Observable<SniRouted> =>
      sniffClientHello(duplex, sniff).pipe(
        mergeMap(({ hello, duplex: replay }): Observable<SniRouted> => {
          const choice = chooseRoute(hello, routes, fallback);
          if ('alert' in choice) {
            replay.write(alertRecord(choice.alert));
            replay.end();
            replay.incoming$.subscribe().unsubscribe(); // stop reading the original
            const what = choice.alert === AlertDescription.unrecognized_name ? 'no route for' : 'no route offering the ALPN of';
            const detail = { kind: 'peerIncompatible', alert: choice.alert, reason: `${what} server name ${hello.serverName ?? '(none)'}` } as const;
            throw new TlsError(detail);
          }
          const { route, server } = choice.route;
          const facts = { route, ...(hello.serverName !== undefined ? { serverName: hello.serverName } : {}), alpn: hello.alpn };
          if (!server) return of({ kind: 'passthrough', ...facts, duplex: replay });
          return secureDuplex(replay, server.config, server.scheduler, false, server.settings, platform).pipe(
            take(1), // the connection is the application's once handed over (secure()'s lifetime rule)
            map((connection) => ({ kind: 'terminated', ...facts, connection })),
          );
        }),
        catchError((err: unknown) => {
          table.onError?.(asTlsError(err));
          return EMPTY;
        }),
      );
    return (duplex$) => duplex$.pipe(mergeMap(routeOne));
  };
}

/**
 * Routes TLS connections by the server name (and optionally the ALPN) of their ClientHello, without a
 * certificate of its own: portable form of `rxtls/operators`' `routeBySni` (see there for the whole contract).
 */
export function routeBySni(table: SniRouteTable): OperatorFunction<ByteDuplex, SniRouted> {
  return routeBySniOn(portablePlatform)(table);
}
