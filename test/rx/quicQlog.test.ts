/**
 * qlog and bring-your-own UDP sockets over real sockets on 127.0.0.1: `quicConnect` / `quicListen` with a
 * `qlog` directory, function or `true` (`qlog$`), and with the application's own `dgram` sockets.
 */
import test from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, timeout, toArray } from 'rxjs';
import { quicConnect, quicListen, type QuicConnection, type QuicListenOptions } from '../../src/rx/quic.js';
import { RECORD_SEPARATOR, type QlogEvent } from '../../src/quic/qlog.js';
import { fixture } from '../helpers/pair.js';

const serverOptions = { cert: fixture('server-ec-chain.pem'), key: fixture('server-ec-key.pem'), alpn: ['echo'] } as const;
const clientOptions = { host: '127.0.0.1', ca: fixture('ca-cert.pem'), servername: 'localhost', alpn: ['echo'] } as const;

/** Parse a JSON-SEQ qlog text (RFC 7464): every record 0x1E, JSON, 0x0A. */
function parseSeq(text: string): Record<string, any>[] {
  const parts = text.split(RECORD_SEPARATOR);
  if (parts[0] !== '') throw new Error('a JSON text sequence starts with 0x1E');
  return parts.slice(1).map((r) => {
    if (!r.endsWith('\n')) throw new Error('a record ends with 0x0A');
    return JSON.parse(r);
  });
}

/** A listener whose connections echo each stream back, and resolve `closed` when their connection is over. */
async function echoServer(extra: Partial<QuicListenOptions> = {}) {
  const srv = await quicListen({ ...serverOptions, ...extra });
  const over: Promise<void>[] = [];
  srv.connections.subscribe((conn) => {
    over.push(lastValueFrom(conn.closed$, { defaultValue: undefined }).catch(() => undefined));
    conn.incoming$.subscribe((s) => {
      const chunks: Uint8Array[] = [];
      s.data$.subscribe({
        next: (d) => chunks.push(d),
        complete: () => {
          s.write(Buffer.concat(chunks));
          s.end();
        },
      });
    });
  });
  return { srv, over };
}

/** One echo exchange on `conn`, then a graceful close awaited to the end. */
async function echoAndClose(conn: QuicConnection, text: string): Promise<string> {
  const s = conn.openStream();
  const reply = lastValueFrom(s.data$.pipe(toArray(), timeout(10_000)));
  s.write(text);
  s.end();
  const got = Buffer.concat(await reply).toString();
  conn.close();
  await lastValueFrom(conn.closed$.pipe(timeout(10_000)), { defaultValue: undefined });
  return got;
}

const isBound = (socket: Socket): boolean => {
  try {
    socket.address();
    return true;
  } catch {
    return false;
  }
};

test('QUIC qlog over UDP: a qlog directory gets one parsable <ODCID>.sqlog per connection on each end', async (t) => {
  t.timeout(30_000);
  const clientDir = mkdtempSync(join(tmpdir(), 'rxtls-qlog-client-'));
  const serverDir = mkdtempSync(join(tmpdir(), 'rxtls-qlog-server-'));
  const { srv, over } = await echoServer({ qlog: serverDir });
  t.teardown(() => srv.close());
  for (const text of ['one', 'two']) {
    const conn = await firstValueFrom(quicConnect({ ...clientOptions, port: srv.port, qlog: clientDir }).pipe(timeout(10_000)));
    t.is(await echoAndClose(conn, text), text);
  }
  await Promise.all(over);
  const clientFiles = readdirSync(clientDir).sort();
  const serverFiles = readdirSync(serverDir).sort();
  t.is(clientFiles.length, 2);
  // Both ends name a connection's trace after the client's original DCID: the same two names.
  t.deepEqual(serverFiles, clientFiles);
  for (const [dir, vantage] of [
    [clientDir, 'client'],
    [serverDir, 'server'],
  ] as const) {
    for (const file of readdirSync(dir)) {
      t.regex(file, /^[0-9a-f]{16}\.sqlog$/);
      const [header, ...records] = parseSeq(readFileSync(join(dir, file), 'utf8'));
      t.is(header!.qlog_format, 'JSON-SEQ');
      t.is(header!.trace.vantage_point.type, vantage);
      t.is(`${header!.trace.common_fields.group_id}.sqlog`, file);
      const names = new Set(records.map((r) => r.name));
      for (const name of ['transport:packet_sent', 'transport:packet_received', 'transport:parameters_set', 'recovery:metrics_updated', 'connectivity:connection_state_updated', 'security:key_updated', 'security:key_discarded', 'connectivity:connection_closed']) {
        t.true(names.has(name), `${vantage} ${file}: ${name}`);
      }
      t.true(records.every((r, i) => typeof r.time === 'number' && (i === 0 || r.time >= records[i - 1]!.time)));
      t.is(records.at(-1)!.data.new, 'closed');
    }
  }
});

test('QUIC qlog over UDP: a qlog function gets the JSON-SEQ records, header first, and qlog$ the events', async (t) => {
  t.timeout(30_000);
  const { srv, over } = await echoServer({ qlog: true });
  t.teardown(() => srv.close());
  const lines: string[] = [];
  const conn = await firstValueFrom(quicConnect({ ...clientOptions, port: srv.port, qlog: (line) => lines.push(line) }).pipe(timeout(10_000)));
  const events: QlogEvent[] = [];
  conn.qlog$.subscribe((e) => events.push(e));
  t.is(await echoAndClose(conn, 'hi'), 'hi');
  await Promise.all(over);
  const [header, ...records] = parseSeq(lines.join(''));
  t.is(header!.trace.vantage_point.type, 'client');
  t.true(lines.every((l) => l.startsWith(RECORD_SEPARATOR) && l.endsWith('\n')));
  // qlog$ gave the events from the subscription on: the tail of what the function got.
  t.true(events.length > 0);
  t.deepEqual(
    records.slice(-events.length).map((r) => r.name),
    events.map((e) => e.name),
  );
  t.true(events.some((e) => e.name === 'transport:packet_sent' && e.data.frames.some((f) => f.frame_type === 'stream')));
});

test('QUIC over UDP: quicConnect and quicListen on sockets of our own, which stay open after close', async (t) => {
  t.timeout(30_000);
  // The listener's socket bound by us, the client's left unbound (the adapter binds it).
  const serverSocket = createSocket('udp4');
  await new Promise<void>((resolve) => serverSocket.bind(0, '127.0.0.1', () => resolve()));
  const clientSocket = createSocket('udp4');
  t.teardown(() => {
    serverSocket.close();
    clientSocket.close();
  });
  const { srv, over } = await echoServer({ socket: serverSocket });
  t.is(srv.port, serverSocket.address().port);
  const conn = await firstValueFrom(quicConnect({ ...clientOptions, port: srv.port, socket: clientSocket }).pipe(timeout(10_000)));
  t.true(isBound(clientSocket));
  t.is(await echoAndClose(conn, 'own sockets'), 'own sockets');
  await Promise.all(over);
  await srv.close();
  // Both sockets are still open and usable, and the adapters' listeners are gone.
  t.true(isBound(clientSocket) && isBound(serverSocket));
  t.is(clientSocket.listenerCount('message'), 0);
  t.is(serverSocket.listenerCount('message'), 0);
  const got = new Promise<string>((resolve) => serverSocket.once('message', (m) => resolve(m.toString())));
  clientSocket.send('still here', serverSocket.address().port, '127.0.0.1');
  t.is(await got, 'still here');
});

test('QUIC over UDP: with closeSocket the adapters close the sockets they were given', async (t) => {
  t.timeout(30_000);
  const serverSocket = createSocket('udp4');
  const clientSocket = createSocket('udp4');
  await new Promise<void>((resolve) => clientSocket.bind(0, '127.0.0.1', () => resolve()));
  const serverClosed = new Promise<void>((resolve) => serverSocket.once('close', () => resolve()));
  const clientClosed = new Promise<void>((resolve) => clientSocket.once('close', () => resolve()));
  const { srv, over } = await echoServer({ socket: serverSocket, closeSocket: true, host: '127.0.0.1' });
  const conn = await firstValueFrom(quicConnect({ ...clientOptions, port: srv.port, socket: clientSocket, closeSocket: true }).pipe(timeout(10_000)));
  t.is(await echoAndClose(conn, 'closing'), 'closing');
  await Promise.all(over);
  await srv.close();
  await Promise.all([clientClosed, serverClosed]);
  t.false(isBound(clientSocket) || isBound(serverSocket));
});
