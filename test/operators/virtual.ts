/**
 * Shared pieces of the RxJS-layer specs: fixtures, a virtual clock whose epoch lies inside the certificates'
 * validity, a spy on a byte duplex (what goes on the wire, when it is ended or destroyed), and error records
 * that marbles can compare; {@link securePair} sets up a server and a client over one memory pipe.
 */
import { type Observable, Subject, map, mergeMap, of, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { secure } from '../../operators/secure.js';
import { TlsError } from '../../src/core/errors.js';
import { type MemoryDuplex, memoryDuplexPair } from '../../src/rx/duplex.js';
import type { ByteDuplex, ClientOptions, ServerOptions, TlsConnection } from '../../src/rx/types.js';
import { ca, cert, dec, enc, key } from '../helpers/fixtures.js';

export { ca, cert, dec, enc, fixture, key, otherCa } from '../helpers/fixtures.js';

/** Virtual time starting at 2027-01-01 so the fixtures (valid 2026-11-29 .. 2036) verify at `now`. */
export const EPOCH = Date.UTC(2027, 0, 1);

export function virtualClock(t: { deepEqual: (a: unknown, b: unknown) => void }): TestScheduler {
  const ts = new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
  const frame = ts.now;
  ts.now = () => frame() + EPOCH;
  return ts;
}

/** The error as `{ kind }`, so marbles can compare it. */
export const failure = (err: unknown) => {
  if (!(err instanceof TlsError)) throw err;
  return of({ kind: err.kind });
};

/** Echo `conn`'s inbound$ back in upper case; the peer's close_notify ends it, and ours follows. */
export const upperEcho = (conn: TlsConnection) => conn.send(conn.inbound$.pipe(map((b) => enc(dec(b).toUpperCase()))));

/** `SSL_get_shutdown` as two letters: S (sent) R (received), `-` when not. */
export const flags = (sh: { sent: boolean; received: boolean }) => `${sh.sent ? 'S' : '-'}${sh.received ? 'R' : '-'}`;

/** A byte duplex under observation: see {@link spy}. */
export interface Spy {
  /** The wrapped duplex, to hand to `secure()`. */
  readonly duplex: ByteDuplex;
  /** `w` per write, `e` at end, `d` at destroy. */
  readonly events: Subject<string>;
  /** Write raw bytes to the peer, bypassing TLS. */
  inject(bytes: Uint8Array): boolean;
}

/**
 * Wraps a duplex and reports, from virtual frame `from` on, each write (`w`), `end` (`e`) and `destroy` (`d`)
 * on `events`. `inject` writes raw bytes to the peer, bypassing TLS.
 */
export function spy(inner: MemoryDuplex, ts: TestScheduler, from = 1): Spy {
  const events = new Subject<string>();
  const report = (e: string) => {
    if (ts.now() - EPOCH >= from) events.next(e);
  };
  const duplex: ByteDuplex = {
    incoming$: inner.incoming$,
    drain$: inner.drain$,
    write: (chunk) => {
      report('w');
      return inner.write(chunk);
    },
    end: () => {
      report('e');
      inner.end();
    },
    destroy: () => {
      report('d');
      inner.destroy();
    },
    pause: () => inner.pause(),
    resume: () => inner.resume(),
  };
  return { duplex, events, inject: (bytes: Uint8Array) => inner.write(bytes) };
}

/** Both sides of {@link securePair}: cold `secure()` pipelines and, once they connected, the connections. */
export interface SecurePair {
  /** The server's `secure()` over its end: subscribe to start it (at most once). */
  readonly server$: Observable<TlsConnection>;
  /** The client's `secure()` over its end: subscribe to start it (at most once). */
  readonly client$: Observable<TlsConnection>;
  /** The server's connection once its handshake completed (throws before: read it in `defer` or later). */
  readonly server: TlsConnection;
  /** The client's connection once its handshake completed (throws before). */
  readonly client: TlsConnection;
  /** What the client puts on the wire, from frame 1 on (see {@link spy}). */
  readonly clientWire: Spy;
  /** What the server puts on the wire, from frame 1 on. */
  readonly serverWire: Spy;
  /** The server's end of the pipe itself (to end it without close_notify). */
  readonly serverEnd: MemoryDuplex;
}

/** Options of {@link securePair}: extra `secure()` options per side, and a pipe latency (ms, on `ts`). */
export interface SecurePairOptions {
  readonly client?: Partial<ClientOptions>;
  readonly server?: Partial<ServerOptions>;
  readonly latency?: number;
}

/**
 * `secure()` on both ends of a fresh memory pipe (each end behind a {@link spy}): the server with the fixture
 * leaf, the client trusting the test CA and verifying `localhost`, each with extra options. Nothing is
 * subscribed yet.
 */
export function securePair(ts: TestScheduler, options: SecurePairOptions = {}): SecurePair {
  const [clientEnd, serverEnd] = options.latency === undefined ? memoryDuplexPair() : memoryDuplexPair({ scheduler: ts, latency: options.latency });
  const clientWire = spy(clientEnd, ts);
  const serverWire = spy(serverEnd, ts);
  let server: TlsConnection | undefined;
  let client: TlsConnection | undefined;
  const connected = (side: string, conn: TlsConnection | undefined): TlsConnection => {
    if (!conn) throw new Error(`the ${side} is not connected yet`);
    return conn;
  };
  return {
    server$: of(serverWire.duplex).pipe(secure({ role: 'server', cert, key, ...options.server }), tap((x) => (server = x))),
    client$: of(clientWire.duplex).pipe(secure({ role: 'client', ca, servername: 'localhost', ...options.client }), tap((x) => (client = x))),
    get server() {
      return connected('server', server);
    },
    get client() {
      return connected('client', client);
    },
    clientWire,
    serverWire,
    serverEnd,
  };
}

/** Start both sides of `pair`; the client sends `data` (then close_notify) once connected. */
export function startSending(pair: SecurePair, data: Observable<Uint8Array>): void {
  pair.server$.subscribe();
  pair.client$.pipe(mergeMap((conn) => conn.send(data))).subscribe();
}
