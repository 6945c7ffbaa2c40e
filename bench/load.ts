/**
 * The client load of the server-CPU measurements (`bench/hostile.ts`), in a process of its own so that none of
 * its CPU time is counted against the server under test. Started with `fork` (IPC); it waits for one message
 * `{ scenario, port, n, concurrency }`, runs it and answers `{ done, ok, failed, ms }`.
 *
 * Only node:tls and node:net here (OpenSSL clients: cheap, and independent of rxtls):
 * - `handshakes`: `n` full TLS 1.3 handshakes, `concurrency` at a time (all of them at once when it equals `n`),
 *   each verifying the server against the test root; one is done when its first session ticket arrives (the
 *   server has processed the client Finished), then the socket is destroyed.
 * - `legal-1byte`: a real ClientHello (captured from a node:tls client) sent as 1-byte plaintext records, all
 *   in one write; done when the server answers (any bytes) or closes.
 * - `huge-1byte` / `max-1byte`: a ClientHello header declaring `declared` body bytes, then filler, as 1-byte
 *   records, streamed until the server closes (or all of it is sent): what a hostile client costs before it is
 *   refused.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { repoUrl } from './paths.js';

export type LoadScenario = 'handshakes' | 'legal-1byte' | 'huge-1byte' | 'max-1byte';
export interface LoadRequest {
  readonly scenario: LoadScenario;
  readonly port: number;
  readonly n: number;
  readonly concurrency: number;
  /** Body length the hostile header declares (`huge-1byte`, `max-1byte`). */
  readonly declared?: number;
}
export interface LoadReply {
  readonly done: true;
  readonly ok: number;
  readonly failed: number;
  readonly ms: number;
  /** Bytes written per connection (the hostile scenarios: what the attacker pays, roughly). */
  readonly bytesPerConn: number;
}

const ca = readFileSync(repoUrl('test/fixtures/certs/ca-cert.pem'), 'utf8');

/** Plaintext handshake records of one byte each (content type 22, legacy version 0x0301). */
function oneByteRecords(message: Uint8Array): Buffer {
  const out = Buffer.alloc(message.length * 6);
  for (let i = 0; i < message.length; i++) {
    out.set([22, 3, 1, 0, 1, message[i]!], i * 6);
  }
  return out;
}

/** A ClientHello as node:tls (OpenSSL) sends it: the handshake message, without its record header. */
async function captureClientHello(): Promise<Uint8Array> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf.subarray(5, 5 + buf.readUInt16BE(3)));
          s.destroy();
        }
      });
    }),
  );
  const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, minVersion: 'TLSv1.3' });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  server.close();
  return new Uint8Array(hello);
}

function oneHandshake(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, minVersion: 'TLSv1.3' });
    let settled = false;
    const end = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.destroy();
      resolve(ok);
    };
    // The first ticket arrives after the server processed our Finished: its side of the handshake is done.
    c.once('session', () => end(c.authorized));
    c.on('error', () => end(false));
    c.on('close', () => end(false));
    const timer = setTimeout(() => end(false), 60_000);
  });
}

function hostileOne(port: number, wire: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let settled = false;
    const end = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    s.on('connect', () => s.write(wire));
    // Any answer (an alert, or a ServerHello flight) or the server closing ends it.
    s.on('data', () => end(true));
    s.on('end', () => end(true));
    s.on('close', () => end(true));
    s.on('error', () => end(true));
    const timer = setTimeout(() => end(false), 60_000);
  });
}

async function pool(n: number, concurrency: number, one: () => Promise<boolean>): Promise<{ ok: number; failed: number }> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      if (await one()) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, lane));
  return { ok, failed };
}

async function run(r: LoadRequest): Promise<LoadReply> {
  let wire: Buffer | undefined;
  if (r.scenario === 'legal-1byte') wire = oneByteRecords(await captureClientHello());
  else if (r.scenario !== 'handshakes') {
    const len = r.declared ?? 750_000;
    const msg = new Uint8Array(4 + len).fill(0x41);
    msg.set([1, len >>> 16, (len >>> 8) & 0xff, len & 0xff]);
    wire = oneByteRecords(msg);
  }
  const t0 = performance.now();
  const res = wire ? await pool(r.n, r.concurrency, () => hostileOne(r.port, wire)) : await pool(r.n, r.concurrency, () => oneHandshake(r.port));
  return { done: true, ...res, ms: performance.now() - t0, bytesPerConn: wire?.length ?? 0 };
}

process.on('message', (m: LoadRequest) => {
  void run(m).then(
    (reply) => process.send!(reply),
    (err: unknown) => {
      process.stderr.write(`load failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
});
process.send!({ ready: true });
