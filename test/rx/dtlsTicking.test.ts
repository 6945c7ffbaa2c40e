/**
 * Ticking, in virtual time (`TestScheduler.run`) over `memoryDatagramPair`: with `ticking: 'auto'` a lost
 * flight is retransmitted exactly at its deadline; with `'manual'` nothing is retransmitted until the application
 * calls `handleEvents()`, and `eventTimeout()` counts down to 0 (OpenSSL's `SSL_get_event_timeout` /
 * `SSL_handle_events`).
 */
import test from 'ava';
import { Subject, map, of, take } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { memoryDatagramPair, type LinkDatagram } from '../../src/rx/datagram.js';
import type { DtlsClientOptions, DtlsConnection } from '../../src/rx/dtlsTypes.js';
import type { Ticker } from '../../src/rx/runReducer.js';
import { secureDatagrams } from '../../src/rx/secureDatagrams.js';
import { ca, cert, key, virtualClock } from '../operators/virtual.js';

/**
 * A server (auto ticking) and a client with `client` options over a 5 ms link that loses the client's first
 * datagram (its ClientHello). `clientDatagrams` emits `c` for every datagram the client sends, lost or not.
 */
function lossyStart(ts: TestScheduler, client: Partial<DtlsClientOptions>) {
  const clientDatagrams = new Subject<string>();
  const [a, b] = memoryDatagramPair({
    scheduler: ts,
    latency: 5,
    filter: (d: LinkDatagram) => {
      if (d.from === 'a') clientDatagrams.next('c');
      return d.from === 'a' && d.index === 0 ? 'drop' : 'deliver';
    },
  });
  // The server may time out its handshake (30 s) when the client never comes back: that is not the test.
  of(b).pipe(secureDatagrams({ role: 'server', cert, key, scheduler: ts })).subscribe({ error: () => undefined });
  // A first retransmission after 100 ms (the default is RFC 9147's 1000 ms) keeps the marbles short.
  const client$ = of(a).pipe(secureDatagrams({ role: 'client', ca, servername: 'localhost', scheduler: ts, retransmitInitial: 100, ...client }));
  return { clientDatagrams, client$ };
}

test("auto: the lost ClientHello is retransmitted exactly at the deadline (100 ms), and the handshake completes one round trip later", (t) => {
  const ts = virtualClock(t);
  ts.run(({ expectObservable }) => {
    const { clientDatagrams, client$ } = lossyStart(ts, {});
    expectObservable(clientDatagrams.pipe(take(2))).toBe('c 99ms (c|)');
    // Retransmitted at 100, at the server at 105, its flight back at 110: the client is connected.
    expectObservable(client$.pipe(map(() => 'C'))).toBe('110ms (C|)');
  });
});

test('manual: nothing is retransmitted until handleEvents(); eventTimeout() counts down to 0 and stays there', (t) => {
  const ts = virtualClock(t);
  const seen: [number, number | undefined][] = [];
  let conn: DtlsConnection | undefined;
  ts.run(({ cold, expectObservable }) => {
    let tick!: Ticker;
    const { clientDatagrams, client$ } = lossyStart(ts, { ticking: 'manual', onTicker: (x) => (tick = x) });
    const samples = { a: 1, b: 50, c: 100, d: 150, e: 400 } as const;
    cold('-a 48ms b 49ms c 49ms d 249ms e').subscribe((at) => seen.push([samples[at as keyof typeof samples], (conn ?? tick).eventTimeout()]));
    // An early tick at 60 does nothing; the one at 150 (50 ms late) retransmits the ClientHello.
    cold('60ms x 89ms y').subscribe(() => tick.handleEvents());
    expectObservable(clientDatagrams.pipe(take(2))).toBe('c 149ms (c|)');
    expectObservable(client$.pipe(map((c) => ((conn = c), 'C')))).toBe('160ms (C|)');
  });
  t.deepEqual(seen, [
    [1, 99],
    [50, 50],
    [100, 0],
    [150, 0],
    [400, undefined],
  ], 'ms until the retransmission deadline; 0 once due; none once connected and acknowledged');
});

test('manual: a connection that nobody ticks never retransmits (and never times out)', (t) => {
  const ts = virtualClock(t);
  let connected = false;
  let sent = 0;
  ts.run(() => {
    const { clientDatagrams, client$ } = lossyStart(ts, { ticking: 'manual', handshakeTimeout: 1_000 });
    clientDatagrams.subscribe(() => sent++);
    client$.subscribe({ next: () => (connected = true), error: () => (connected = true) });
  });
  // The whole virtual future ran (the server's own 30 s handshake deadline included): the client sent only its
  // lost ClientHello; no retransmission, no handshake timeout (its 1 s deadline waits for a tick).
  t.is(sent, 1);
  t.false(connected);
});

test("auto: the connection's own eventTimeout()/handleEvents() work after the handshake (nothing pending: undefined)", (t) => {
  const ts = virtualClock(t);
  let conn: DtlsConnection | undefined;
  let late = 'unset' as number | undefined | 'unset';
  ts.run(({ cold }) => {
    const { client$ } = lossyStart(ts, {});
    client$.subscribe((c) => (conn = c));
    cold('500ms a').subscribe(() => {
      conn!.handleEvents(); // harmless: nothing is due
      late = conn!.eventTimeout();
    });
  });
  t.is(late, undefined);
  t.is(conn!.stats().retransmissions, 1);
});
