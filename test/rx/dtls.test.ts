/**
 * The DTLS adapters: `secureDatagrams` over `memoryDatagramPair` (with loss, in virtual time), and
 * `dtlsConnect` ↔ `dtlsListen` over real UDP on 127.0.0.1 (bounded by timeouts), with the listener's stateless
 * cookie admission.
 */
import test from 'ava';
import { createSocket } from 'node:dgram';
import { firstValueFrom, lastValueFrom, mergeMap, of, take, timeout, toArray, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { TlsError } from '../../src/core/errors.js';
import { createDtlsConnection, handleDtlsEvents } from '../../src/dtls/connection.js';
import { createVerifier } from '../../src/crypto/x509.js';
import { memoryDatagramPair, type LinkDatagram, type LinkVerdict } from '../../src/rx/datagram.js';
import { dtlsConnect, dtlsListen } from '../../src/rx/dtls.js';
import type { DtlsClientOptions, DtlsConnection, DtlsServerOptions } from '../../src/rx/dtlsTypes.js';
import { secureDatagrams } from '../../src/rx/secureDatagrams.js';
import { createSessionCache } from '../../src/rx/sessionCache.js';
import { EPOCH, ca, cert, dec, enc, key, virtualClock } from '../operators/virtual.js';

interface MemoryPair {
  client?: DtlsConnection;
  server?: DtlsConnection;
  errors: unknown[];
  /** What the link saw, as `a3@105:drop` (end, index, frame, verdict). */
  wire: string[];
}

/**
 * A DTLS client (end `a`) and server (end `b`) over a memory link in virtual time, started at frame 0; the
 * connections land in the returned object once their handshakes complete. Call inside `ts.run`.
 */
function memoryPair(
  ts: TestScheduler,
  o: { filter?: (d: LinkDatagram) => LinkVerdict; client?: Partial<DtlsClientOptions>; server?: Partial<DtlsServerOptions>; latency?: number; capacity?: number } = {},
): MemoryPair {
  const out: MemoryPair = { errors: [], wire: [] };
  const filter = o.filter ?? (() => 'deliver' as const);
  const [a, b] = memoryDatagramPair({
    scheduler: ts,
    latency: o.latency ?? 5,
    ...(o.capacity !== undefined ? { capacity: o.capacity } : {}),
    filter: (d) => {
      const v = filter(d);
      out.wire.push(`${d.from}${d.index}@${d.at - EPOCH}:${typeof v === 'string' ? v : `delay${v.delay}`}`);
      return v;
    },
  });
  of(b)
    .pipe(secureDatagrams({ role: 'server', cert, key, scheduler: ts, ...o.server }))
    .subscribe({ next: (c) => (out.server = c), error: (e: unknown) => out.errors.push(e) });
  of(a)
    .pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost', scheduler: ts, ...o.client }))
    .subscribe({ next: (c) => (out.client = c), error: (e: unknown) => out.errors.push(e) });
  return out;
}

/** Subscribe and collect values and the end (`'complete'` or the error's kind). */
function collect<T>(source: Observable<T>): { values: T[]; end?: string } {
  const r: { values: T[]; end?: string } = { values: [] };
  source.subscribe({
    next: (v) => r.values.push(v),
    complete: () => (r.end = 'complete'),
    error: (e: unknown) => (r.end = e instanceof TlsError ? e.kind : String(e)),
  });
  return r;
}

const lose = (...which: string[]) => (d: LinkDatagram): LinkVerdict => (which.includes(`${d.from}${d.index}`) ? 'drop' : 'deliver');
const upper = (r: Uint8Array) => enc(dec(r).toUpperCase());

test('over a lossy memory link: the handshake completes, records keep their boundaries both ways, close_notify completes the peer', (t) => {
  const ts = virtualClock(t);
  let p!: MemoryPair;
  const serverGot: string[] = [];
  let clientGot!: ReturnType<typeof collect<Uint8Array>>;
  let clientSend!: ReturnType<typeof collect<never>>;
  let serverSend!: ReturnType<typeof collect<never>>;
  let closed!: { client: ReturnType<typeof collect<never>>; server: ReturnType<typeof collect<never>> };
  ts.run(({ cold }) => {
    // The first ClientHello and the first datagram of the server's flight are lost (retransmitted after 1000 ms, RFC 9147 §5.8.2).
    p = memoryPair(ts, { filter: lose('a0', 'b0') });
    cold('5000ms a').subscribe(() => {
      const server = p.server!;
      const client = p.client!;
      closed = { client: collect(client.closed$), server: collect(server.closed$) };
      // The server echoes each record in upper case; the client's close_notify ends the echo, and ours follows.
      serverSend = collect(
        server.send(
          server.inbound$.pipe(
            mergeMap((r) => {
              serverGot.push(dec(r));
              return of(upper(r));
            }),
          ),
        ),
      );
      clientGot = collect(client.inbound$);
      clientSend = collect(client.send(of('a', enc('bb'), 'ccc')));
    });
  });
  t.deepEqual(p.errors, []);
  t.true(p.wire.includes('a0@0:drop') && p.wire.includes('a1@1000:deliver'), p.wire.join(' '));
  t.deepEqual(serverGot, ['a', 'bb', 'ccc'], 'one value per record');
  t.deepEqual(clientGot.values.map(dec), ['A', 'BB', 'CCC']);
  t.is(clientGot.end, 'complete', "the server's close_notify completes the client's inbound$");
  t.is(clientSend.end, 'complete');
  t.is(serverSend.end, 'complete');
  t.is(closed.client.end, 'complete');
  t.is(closed.server.end, 'complete');
  t.true(p.client!.stats().retransmissions >= 1);
  t.is(p.client!.info.verification, 'ok');
});

test('an oversized record errors the send() with apiMisuse; the connection stays usable', (t) => {
  const ts = virtualClock(t);
  let p!: MemoryPair;
  let big!: ReturnType<typeof collect<never>>;
  let got!: ReturnType<typeof collect<Uint8Array>>;
  let after!: ReturnType<typeof collect<never>>;
  const pulls: number[] = [];
  ts.run(({ cold }) => {
    p = memoryPair(ts, { client: { mtu: 600 } });
    cold('500ms a 99ms b').subscribe((at) => {
      const client = p.client!;
      if (at === 'a') {
        got = collect(p.server!.inbound$);
        big = collect(
          client.send(
            (function* () {
              pulls.push(1);
              yield new Uint8Array(600); // more than the MTU less the record overhead
              pulls.push(2);
              yield 'never taken';
            })(),
          ),
        );
      } else {
        after = collect(client.send(of('small')));
      }
    });
  });
  t.deepEqual(p.errors, []);
  t.is(big.end, 'apiMisuse');
  t.deepEqual(pulls, [1], 'nothing more is taken from the source');
  t.is(after.end, 'complete');
  t.deepEqual(got.values.map(dec), ['small']);
});

test('backpressure: a link that pushes back pauses the record source (pulls counted)', (t) => {
  const ts = virtualClock(t);
  let p!: MemoryPair;
  let pulls = 0;
  let pullsAtStart = -1;
  let sent!: ReturnType<typeof collect<never>>;
  let got!: ReturnType<typeof collect<Uint8Array>>;
  ts.run(({ cold }) => {
    // At most 2 datagrams of each end on the link at once; 10 ms one way.
    p = memoryPair(ts, { capacity: 2, latency: 10 });
    cold('1000ms a').subscribe(() => {
      got = collect(p.server!.inbound$);
      sent = collect(
        p.client!.send(
          (function* () {
            for (let i = 0; i < 20; i++) {
              pulls++;
              yield `record ${i}`;
            }
          })(),
        ),
      );
      pullsAtStart = pulls;
    });
  });
  t.deepEqual(p.errors, []);
  t.is(pullsAtStart, 2, 'two records taken, then the link was full: the source waits for drain$');
  t.is(sent.end, 'complete');
  t.is(pulls, 20);
  t.deepEqual(
    got.values.map(dec),
    Array.from({ length: 20 }, (_, i) => `record ${i}`),
    'every record, in order, one value each',
  );
});

test('keyUpdate() keeps records flowing; the end of a send source and close() each send close_notify and complete the peer', (t) => {
  const ts = virtualClock(t);
  let p!: MemoryPair;
  let serverGot!: ReturnType<typeof collect<Uint8Array>>;
  let clientGot!: ReturnType<typeof collect<Uint8Array>>;
  let closed!: { client: ReturnType<typeof collect<never>>; server: ReturnType<typeof collect<never>> };
  let clientClosedBeforeServer = 'unset' as string | undefined;
  ts.run(({ cold }) => {
    p = memoryPair(ts);
    cold('500ms a 99ms b 99ms c 99ms d').subscribe((at) => {
      const client = p.client!;
      const server = p.server!;
      if (at === 'a') {
        serverGot = collect(server.inbound$);
        clientGot = collect(client.inbound$);
        closed = { client: collect(client.closed$), server: collect(server.closed$) };
        client.keyUpdate(true);
      } else if (at === 'b') {
        client.send(of('after the key update')).subscribe({ error: () => undefined });
      } else if (at === 'c') {
        clientClosedBeforeServer = closed.client.end;
        server.close(); // 'shutdown': close_notify, then the connection is over (the client's came already)
      }
    });
  });
  t.deepEqual(p.errors, []);
  t.deepEqual(serverGot.values.map(dec), ['after the key update']);
  t.is(serverGot.end, 'complete', "the client's close_notify (end of its send source) completes the server's inbound$");
  t.is(clientClosedBeforeServer, undefined, 'the client waits for the server, which has not closed yet');
  t.is(clientGot.end, 'complete', "server.close() sends close_notify: the client's inbound$ completes");
  t.is(closed.client.end, 'complete');
  t.is(closed.server.end, 'complete');
  t.throws(() => p.client!.keyUpdate(), { instanceOf: TlsError, message: /closed/ });
});

test('unsubscribing during the handshake aborts it: nothing more is sent and the link end is closed', (t) => {
  const ts = virtualClock(t);
  const wire: string[] = [];
  ts.run(({ cold }) => {
    const [a, b] = memoryDatagramPair({ scheduler: ts, latency: 5, filter: (d) => (wire.push(`${d.from}${d.index}`), 'drop') });
    void b;
    const sub = of(a).pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost', scheduler: ts, retransmitInitial: 100 })).subscribe();
    cold('150ms a').subscribe(() => sub.unsubscribe());
  });
  t.deepEqual(wire, ['a0', 'a1'], 'the ClientHello at 0 and its retransmission at 100; nothing after the abort at 150');
});

/** A UDP socket on 127.0.0.1 for a hand-driven client. */
async function rawSocket() {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const inbox: Uint8Array[] = [];
  const waiters: (() => void)[] = [];
  sock.on('message', (m) => {
    inbox.push(new Uint8Array(m));
    waiters.splice(0).forEach((w) => w());
  });
  return {
    sock,
    send: (port: number, d: Uint8Array) => new Promise<void>((r) => sock.send(d, port, '127.0.0.1', () => r())),
    /** The next datagram (bounded). */
    next: async (ms = 5_000): Promise<Uint8Array> => {
      const deadline = Date.now() + ms;
      while (inbox.length === 0) {
        if (Date.now() > deadline) throw new Error('no datagram from the listener');
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
      return inbox.shift()!;
    },
  };
}

test('over UDP: dtlsConnect ↔ dtlsListen exchange records (echo); both ends close cleanly', async (t) => {
  t.timeout(30_000);
  const listener = await dtlsListen({ cert, key, ALPNProtocols: ['echo'] });
  t.teardown(() => listener.close());
  const serverClosed = new Promise<string>((resolve) => {
    listener.connections.subscribe((conn) => {
      conn.send(conn.inbound$.pipe(mergeMap((r) => of(upper(r))))).subscribe({ error: () => undefined });
      conn.closed$.subscribe({ complete: () => resolve('clean'), error: (e: unknown) => resolve(String(e)) });
    });
  });
  const conn = await firstValueFrom(
    dtlsConnect({ host: '127.0.0.1', port: listener.port, ca, servername: 'localhost', ALPNProtocols: ['echo'] }).pipe(timeout(15_000)),
  );
  t.is(conn.info.alpn, 'echo');
  t.is(conn.info.verification, 'ok');
  const reply = lastValueFrom(conn.inbound$.pipe(toArray(), timeout(15_000)));
  await lastValueFrom(conn.send(of('one', 'two', 'three')), { defaultValue: undefined });
  t.deepEqual((await reply).map(dec), ['ONE', 'TWO', 'THREE']);
  await lastValueFrom(conn.closed$.pipe(timeout(15_000)), { defaultValue: undefined });
  t.is(await Promise.race([serverClosed, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]), 'clean');
  t.like(listener.stats(), { created: 1, open: 0, handshaking: 0, failed: 0 });
  // One stateless HelloRetryRequest per ClientHello without a cookie: two when the client's 100 ms timer resent
  // its first ClientHello before the answer came (a loaded machine).
  t.true(listener.stats().statelessReplies >= 1);
});

for (const version of ['DTLSv1.3', 'DTLSv1.2'] as const) {
  test(`over UDP, ${version}: a sessionCache keeps the session of a cleanly closed connection and the next one resumes; an aborted one stores nothing`, async (t) => {
    t.timeout(60_000);
    const listener = await dtlsListen({ cert, key, minVersion: version, maxVersion: version });
    t.teardown(() => listener.close());
    listener.connections.subscribe((conn) => {
      conn.send(conn.inbound$).subscribe({ error: () => undefined }); // echo, then close_notify back
      conn.closed$.subscribe({ error: () => undefined });
    });
    const sessionCache = createSessionCache({ max: 4 });
    const options = { host: '127.0.0.1', port: listener.port, ca, servername: 'localhost', sessionCache, minVersion: version, maxVersion: version };
    const round = async (close: 'clean' | 'abort') => {
      const conn = await firstValueFrom(dtlsConnect(options).pipe(timeout(15_000)));
      const sessions = lastValueFrom(conn.sessions$.pipe(toArray()));
      const reply = lastValueFrom(conn.inbound$.pipe(toArray(), timeout(15_000)));
      if (close === 'abort') {
        await firstValueFrom(conn.sessions$.pipe(timeout(15_000))); // the ticket arrived, then the connection is dropped
        conn.close('abort');
      } else {
        await lastValueFrom(conn.send(of('ping')), { defaultValue: undefined });
        t.deepEqual((await reply).map(dec), ['ping']);
        await lastValueFrom(conn.closed$.pipe(timeout(15_000)), { defaultValue: undefined });
      }
      return { info: conn.info, sessions: await sessions };
    };
    const first = await round('clean');
    t.false(first.info.resumed);
    t.is(first.info.protocol, version);
    t.true(first.sessions.length >= 1, 'the server sent a ticket');
    t.truthy(sessionCache.get('localhost:' + listener.port), 'stored after close_notify both ways');
    const second = await round('abort');
    t.true(second.info.resumed, 'the second connection resumed');
    t.is(sessionCache.get('localhost:' + listener.port), undefined, 'taken out when offered, and nothing stored after an abort');
    const third = await round('clean');
    t.false(third.info.resumed, 'nothing left to resume');
  });
}

test('over UDP: the listener keeps no state for a ClientHello without a cookie, and one connection once the cookie returns', async (t) => {
  t.timeout(30_000);
  const listener = await dtlsListen({ cert, key });
  t.teardown(() => listener.close());
  const accepted = firstValueFrom(listener.connections.pipe(take(1), timeout(15_000)));
  // A client driven by hand over a raw socket, so the test sees each step.
  const raw = await rawSocket();
  t.teardown(() => raw.sock.close());
  let client = createDtlsConnection({ role: 'client', serverName: 'localhost', verifier: createVerifier({ ca }) });
  let connected = false;
  const feed = async (input: Parameters<typeof handleDtlsEvents>[1]) => {
    const step = handleDtlsEvents(client, input);
    client = step.state;
    for (const e of step.effects) {
      if (e.type === 'transmit') await raw.send(listener.port, e.data);
      if (e.type === 'handshakeComplete') connected = true;
    }
  };
  await feed({ type: 'start', now: Date.now() });
  const hrr = await raw.next();
  t.like(listener.stats(), { open: 0, created: 0, handshaking: 0, statelessReplies: 1 }, 'answered, nothing kept');
  await feed({ type: 'datagram', now: Date.now(), data: hrr });
  // The second ClientHello carries the cookie: the listener commits and sends its flight.
  for (let i = 0; i < 20 && !connected; i++) await feed({ type: 'datagram', now: Date.now(), data: await raw.next() });
  t.true(connected, 'the hand-driven client completed its handshake');
  const conn = await accepted;
  t.is(conn.info.verification, 'none');
  t.like(listener.stats(), { open: 1, created: 1, handshaking: 0, statelessReplies: 1 });
});

test('over UDP: a listener without cookies keeps state from the first ClientHello; junk opens nothing', async (t) => {
  t.timeout(30_000);
  const listener = await dtlsListen({ cert, key, cookie: false });
  t.teardown(() => listener.close());
  const raw = await rawSocket();
  t.teardown(() => raw.sock.close());
  await raw.send(listener.port, enc('not a DTLS record'));
  const conn = await firstValueFrom(dtlsConnect({ host: '127.0.0.1', port: listener.port, ca, servername: 'localhost' }).pipe(timeout(15_000)));
  t.is(conn.info.verification, 'ok');
  t.like(listener.stats(), { created: 1, statelessReplies: 0 });
  t.is(listener.stats().dropped.unanswered, 1);
  conn.close('abort');
});

test('dtlsConnect to a port nobody listens on fails with a transport error or a handshake timeout', async (t) => {
  t.timeout(30_000);
  const port = await new Promise<number>((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const err = await t.throwsAsync(firstValueFrom(dtlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', handshakeTimeout: 3_000 }).pipe(timeout(15_000))));
  t.true(err instanceof TlsError && (err.kind === 'transport' || err.kind === 'handshakeTimeout'), String(err));
});
