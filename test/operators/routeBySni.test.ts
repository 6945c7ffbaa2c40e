/**
 * `routeBySni` and `sniffClientHello` over memory pipes: ClientHellos split every way, the route table (exact,
 * wildcard, default, ALPN), the exact alert bytes for what is refused, the bound and the timeout, properties
 * over random input and random chunking, and TLS termination with two certificates end to end.
 */
import test from 'ava';
import fc from 'fast-check';
import { firstValueFrom, lastValueFrom, map, merge, of, switchMap, toArray } from 'rxjs';
import { routeBySni, sniffClientHello, type SniRouteTable, type SniRouted } from '../../operators/routeBySni.js';
import { secure } from '../../operators/secure.js';
import { TlsError } from '../../src/core/errors.js';
import { memoryDuplexPair } from '../../src/rx/duplex.js';
import { ClientHelloSniffer } from '../../src/tls/clientHelloSniffer.js';
import { plainRecord } from '../../src/tls/record.js';
import { encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { ca, cert, dec, enc, fixture, key, virtualClock } from './virtual.js';

const HANDSHAKE = 22;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').replace(/(..)(?!$)/g, '$1 ');
const concat = (parts: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** A ClientHello handshake message (header included) offering `serverName` and `alpn`. */
function clientHello(serverName?: string, alpn?: readonly string[]): Uint8Array {
  return encodeHandshakeBytes({
    type: 'client_hello',
    body: {
      random: new Uint8Array(32).fill(7),
      legacySessionId: new Uint8Array(0),
      cipherSuites: [0x1301],
      legacyCompressionMethods: Uint8Array.of(0),
      extensions: {
        ...(serverName !== undefined ? { serverName } : {}),
        ...(alpn !== undefined ? { alpn } : {}),
        supportedVersions: [0x0304],
        unknown: [],
        order: [],
      },
    },
  });
}

/** `message` in handshake records, cut after the given byte offsets of the message. */
function records(message: Uint8Array, cuts: readonly number[] = []): Uint8Array {
  const edges = [0, ...cuts, message.length];
  const out: Uint8Array[] = [];
  for (let i = 1; i < edges.length; i++) out.push(plainRecord(HANDSHAKE, message.subarray(edges[i - 1], edges[i]), 0x0301));
  return concat(out);
}

/** `bytes` cut into chunks at the given offsets. */
function chunks(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const edges = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  const out: Uint8Array[] = [];
  for (let i = 1; i < edges.length; i++) out.push(bytes.slice(edges[i - 1], edges[i]));
  return out;
}

interface Outcome {
  readonly routed: SniRouted[];
  readonly errors: TlsError[];
  /** What the client received back, and whether its incoming$ completed (the router ended the connection). */
  readonly received: Uint8Array;
  readonly ended: boolean;
}

/** Run `table`'s router over one memory connection whose client writes `writes` (then keeps it open). */
function route(table: Omit<SniRouteTable, 'onError'>, writes: readonly Uint8Array[]): Outcome {
  const [client, server] = memoryDuplexPair();
  const got: Uint8Array[] = [];
  let ended = false;
  client.incoming$.subscribe({ next: (b) => got.push(b), complete: () => (ended = true) });
  for (const w of writes) client.write(w);
  const routed: SniRouted[] = [];
  const errors: TlsError[] = [];
  of(server)
    .pipe(routeBySni({ ...table, onError: (e) => errors.push(e) }))
    .subscribe((r) => routed.push(r));
  return { routed, errors, received: concat(got), ended };
}

/** Everything a passthrough duplex replays until it ends (the client then ends its side). */
async function replayed(r: SniRouted | undefined, client?: { end(): void }): Promise<Uint8Array> {
  if (r?.kind !== 'passthrough') throw new Error(`expected a passthrough, got ${r?.kind}`);
  const all = lastValueFrom(r.duplex.incoming$.pipe(toArray(), map(concat)));
  client?.end();
  return all;
}

const A_B = { routes: [{ route: 'A', serverNames: ['a.test'] }, { route: 'B', serverNames: ['b.test'] }] };

test('a ClientHello in 1-byte chunks and across two records: SNI and ALPN read, the bytes replayed untouched', async (t) => {
  const hello = records(clientHello('A.Test', ['h2', 'http/1.1']), [40]);
  const [client, server] = memoryDuplexPair();
  const sniffed = firstValueFrom(sniffClientHello(server));
  for (const c of chunks(hello, [...hello.keys()])) client.write(c);
  const { hello: facts, duplex } = await sniffed;
  t.deepEqual(facts, { serverName: 'a.test', alpn: ['h2', 'http/1.1'] });
  t.true(server.isPaused, 'nothing more is read until the replaying duplex is');
  const all = lastValueFrom(duplex.incoming$.pipe(toArray(), map(concat)));
  t.false(server.isPaused);
  client.write(enc('after the hello'));
  client.end();
  t.is(hex(await all), hex(concat([hello, enc('after the hello')])));
});

test('exact names route each connection to their own backend; names compare case-insensitively', async (t) => {
  const a = route(A_B, [records(clientHello('a.test'))]);
  const b = route(A_B, [records(clientHello('B.TEST'))]);
  t.deepEqual(
    [...a.routed, ...b.routed].map((r) => [r.kind, r.route, r.serverName]),
    [
      ['passthrough', 'A', 'a.test'],
      ['passthrough', 'B', 'b.test'],
    ],
  );
  t.deepEqual([...a.errors, ...b.errors], []);
});

test('a wildcard takes one label more, an exact name wins over it, and the default takes the rest', (t) => {
  const table = {
    routes: [
      { route: 'wild', serverNames: ['*.example.com'] },
      { route: 'exact', serverNames: ['www.example.com'] },
    ],
    defaultRoute: { route: 'default' },
  };
  const chosen = (name?: string) => route(table, [records(clientHello(name, ['h2']))]).routed.map((r) => r.route);
  t.deepEqual(chosen('api.example.com'), ['wild']);
  t.deepEqual(chosen('www.example.com'), ['exact']);
  t.deepEqual(chosen('a.b.example.com'), ['default']);
  t.deepEqual(chosen('example.com'), ['default']);
  t.deepEqual(chosen(undefined), ['default']);
});

test('ALPN picks among routes for one name; a name without the offered ALPN and no default gets no_application_protocol', (t) => {
  const table = {
    routes: [
      { route: 'h2', serverNames: ['a.test'], alpn: ['h2'] },
      { route: 'h1', serverNames: ['a.test'], alpn: ['http/1.1'] },
    ],
  };
  t.deepEqual(route(table, [records(clientHello('a.test', ['http/1.1']))]).routed.map((r) => [r.route, r.alpn]), [['h1', ['http/1.1']]]);
  const none = route(table, [records(clientHello('a.test', ['imap']))]);
  t.deepEqual(none.routed, []);
  t.is(hex(none.received), '15 03 03 00 02 02 78');
  t.true(none.ended);
  t.deepEqual(none.errors.map((e) => [e.kind, e.alert]), [['peerIncompatible', 120]]);
});

test('an unknown name without a default route gets unrecognized_name (RFC 6066 §3) and is closed', (t) => {
  const o = route(A_B, [records(clientHello('c.test'))]);
  t.deepEqual(o.routed, []);
  t.is(hex(o.received), '15 03 03 00 02 02 70');
  t.true(o.ended);
  t.deepEqual(o.errors.map((e) => [e.kind, e.alert]), [['peerIncompatible', 112]]);
  t.regex(o.errors[0]!.message, /c\.test/);
});

test('bytes that are not TLS (GET / HTTP/1.1) get unexpected_message and are closed', (t) => {
  const o = route(A_B, [enc('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')]);
  t.is(hex(o.received), '15 03 03 00 02 02 0a');
  t.true(o.ended);
  t.deepEqual(o.errors.map((e) => [e.kind, e.alert]), [['peerMisbehaved', 10]]);
  t.regex(o.errors[0]!.message, /does not speak TLS: it sent 'GET \/ HTTP\/1.1'/);
});

test('an application-data record, or a handshake message other than ClientHello, first: unexpected_message', (t) => {
  const appData = route(A_B, [plainRecord(23, enc('hello'))]);
  t.is(hex(appData.received), '15 03 03 00 02 02 0a');
  const finished = route(A_B, [plainRecord(HANDSHAKE, Uint8Array.of(20, 0, 0, 32, ...new Uint8Array(32)))]);
  t.is(hex(finished.received), '15 03 03 00 02 02 0a');
  t.true(appData.ended && finished.ended);
});

test('a malformed ClientHello gets decode_error', (t) => {
  const hello = clientHello('a.test');
  const broken = hello.slice(0, hello.length - 3);
  broken[3] = broken.length - 4; // a consistent header over a truncated body
  const o = route(A_B, [records(broken)]);
  t.is(hex(o.received), '15 03 03 00 02 02 32');
  t.deepEqual(o.errors.map((e) => [e.kind, e.alert]), [['invalidMessage', 50]]);
});

test('a ClientHello over the bound gets decode_error as soon as its header says so, before it is read', (t) => {
  // A header announcing 20 000 bytes, in the first record: refused without waiting for them.
  const o = route({ ...A_B, maxHelloBytes: 1024 }, [plainRecord(HANDSHAKE, Uint8Array.of(1, 0, 0x4e, 0x20, 3, 3))]);
  t.is(hex(o.received), '15 03 03 00 02 02 32');
  t.regex(o.errors[0]!.message, /20000 bytes exceeds the 1024-byte bound/);
  // The bound counts handshake bytes, not record headers (RFC 8446 §5.1: record boundaries carry no meaning): the
  // same hello in many small records is read as in one.
  const dribble = records(clientHello('a.test', ['h2']), [...Array(80).keys()].slice(1));
  const d = route({ ...A_B, maxHelloBytes: 256 }, [dribble]);
  t.deepEqual(d.errors, []);
  t.not(hex(d.received), '15 03 03 00 02 02 32', 'no decode_error alert');
});

test('a client that sends nothing is dropped after the timeout, in virtual time', (t) => {
  virtualClock(t).run(({ expectObservable, cold }) => {
    const [client, server] = memoryDuplexPair();
    const clientEnd$ = client.incoming$.pipe(map(() => 'x'));
    const errors: string[] = [];
    cold('a').subscribe(() =>
      of(server)
        .pipe(routeBySni({ ...A_B, timeout: 50, onError: (e) => errors.push(`${e.kind} ${'afterMs' in e.detail ? e.detail.afterMs : ''}`) }))
        .subscribe(),
    );
    expectObservable(clientEnd$).toBe('50ms |');
    expectObservable(cold('51ms a').pipe(map(() => errors.join()))).toBe('51ms a', { a: 'handshakeTimeout 50' });
  });
});

test('a terminating route runs TLS with its own certificate for each name, end to end in memory', async (t) => {
  const table: SniRouteTable = {
    routes: [
      { route: 'local', serverNames: ['localhost'], terminate: { cert, key } },
      { route: 'other', serverNames: ['other.example'], terminate: { cert: fixture('wrong-host-chain.pem'), key: fixture('wrong-host-key.pem') } },
    ],
  };
  for (const [servername, subject, routeName] of [
    ['localhost', 'CN=localhost', 'local'],
    ['other.example', 'CN=other.example', 'other'],
  ] as const) {
    const [clientEnd, serverEnd] = memoryDuplexPair();
    const router = firstValueFrom(of(serverEnd).pipe(routeBySni(table)));
    const client = await firstValueFrom(of(clientEnd).pipe(secure({ role: 'client', ca, servername, ALPNProtocols: ['h2'] })));
    const routed = await router;
    if (routed.kind !== 'terminated') throw new Error(`expected termination, got ${routed.kind}`);
    t.is(routed.route, routeName);
    t.deepEqual(routed.alpn, ['h2']);
    t.is(client.info.verification, 'ok', servername);
    t.is(client.info.peerSubject, subject);
    t.is(routed.connection.info.serverName, servername);
    // The terminated connection carries the client's data: an echo in upper case, then close_notify both ways.
    const server = routed.connection;
    const echo = server.send(server.inbound$.pipe(map((b) => enc(dec(b).toUpperCase()))));
    const answer = lastValueFrom(merge(client.send(of(enc(`hello ${servername}`))), client.inbound$).pipe(map(dec), toArray()));
    await lastValueFrom(echo, { defaultValue: undefined });
    t.deepEqual(await answer, [`HELLO ${servername.toUpperCase()}`]);
  }
});

test('a passthrough duplex keeps the write/drain$ and pause/resume of the connection', async (t) => {
  const [client, server] = memoryDuplexPair({ highWaterMark: 8 });
  const sniffed = firstValueFrom(sniffClientHello(server));
  const hello = records(clientHello('a.test'));
  client.write(hello);
  const { duplex } = await sniffed;
  const got: Uint8Array[] = [];
  duplex.incoming$.subscribe((b) => got.push(b));
  duplex.pause!();
  t.true(server.isPaused);
  client.write(enc('held'));
  t.is(got.length, 1, 'paused: only the replayed hello');
  duplex.resume!();
  t.false(server.isPaused);
  t.is(dec(got[1]!), 'held');
  // Writes go straight to the connection, with its backpressure (false above 8 bytes in flight).
  const back: Uint8Array[] = [];
  client.pause();
  client.incoming$.subscribe((b) => back.push(b));
  t.false(duplex.write(enc('0123456789')));
  const drained = firstValueFrom(duplex.drain$);
  client.resume();
  await drained;
  t.is(dec(concat(back)), '0123456789');
});

test('property: any bytes, in any chunks, never make the sniffer throw nor hold more than its bound', (t) => {
  let runs = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 3000 }),
        // Plausible record headers in front of random content reach deeper states.
        fc.tuple(fc.constantFrom(20, 21, 22, 23), fc.uint8Array({ maxLength: 600 })).map(([type, body]) => plainRecord(type, body)),
        fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.nat(400)).map(([body, n]) => plainRecord(HANDSHAKE, Uint8Array.of(1, 0, n >> 8, n & 0xff, ...body))),
      ),
      fc.array(fc.nat(3000), { maxLength: 20 }),
      fc.integer({ min: 64, max: 2048 }),
      (bytes, cuts, limit) => {
        runs++;
        const sniffer = new ClientHelloSniffer(limit);
        for (const c of chunks(bytes, cuts)) {
          const v = sniffer.push(c);
          if (sniffer.buffered > limit) return false;
          if (v.kind === 'fail' && !(v.detail.alert > 0)) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.is(runs, 300);
});

test('property: the replaying duplex yields exactly the input bytes, in order, for any chunking', async (t) => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat(400), { maxLength: 12 }),
      fc.array(fc.nat(200), { maxLength: 4 }),
      fc.uint8Array({ maxLength: 300 }),
      async (recordCuts, chunkCuts, tail) => {
        runs++;
        const message = clientHello('a.test', ['h2']);
        const wire = concat([records(message, [...new Set(recordCuts.map((c) => c % message.length))].filter((c) => c > 0).sort((a, b) => a - b)), tail]);
        const [client, server] = memoryDuplexPair();
        const sniffed = firstValueFrom(sniffClientHello(server));
        for (const c of chunks(wire, chunkCuts.flatMap((c, i) => [c * (i + 1)]))) client.write(c);
        const { duplex } = await sniffed;
        const all = lastValueFrom(duplex.incoming$.pipe(toArray(), map(concat)));
        client.end();
        return hex(await all) === hex(wire);
      },
    ),
    { numRuns: 100 },
  );
  t.is(runs, 100);
});

test('a passthrough route emits the replaying duplex, which carries the client\'s stream to its end', async (t) => {
  const [client, server] = memoryDuplexPair();
  const routed = firstValueFrom(of(server).pipe(routeBySni(A_B)));
  const hello = records(clientHello('b.test'));
  client.write(hello.subarray(0, 10));
  client.write(hello.subarray(10));
  const r = await routed;
  client.write(enc('rest'));
  t.is(hex(await replayed(r, client)), hex(concat([hello, enc('rest')])));
  const through = firstValueFrom(client.incoming$.pipe(switchMap(async (b) => dec(b))));
  if (r.kind === 'passthrough') r.duplex.write(enc('from the backend'));
  t.is(await through, 'from the backend');
});
