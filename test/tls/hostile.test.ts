/** Malformed, truncated, oversized and out-of-order input: the right alert on the wire, never a throw. */
import { handshakePhase } from '../../src/handshake/engine.js';
import test from 'ava';
import fc from 'fast-check';
import { Pair, NOW } from '../helpers/pair.js';
import { handleEvents, type TlsState } from '../../src/tls/connection.js';
import { plainRecord, sealRecord } from '../../src/tls/record.js';
import { decodeHandshakeBytes, encodeHandshakeBytes } from '../../src/wire/tls/handshake.js';
import { AlertDescription as A } from '../../src/wire/tls/constants.js';
import { TlsError } from '../../src/core/errors.js';
import type { TlsEffect } from '../../src/tls/types.js';
import { asyncNobleProvider } from '../helpers/batch.js';

function feed(state: TlsState, data: Uint8Array) {
  return handleEvents(state, { type: 'received', now: NOW, data });
}
const closedWith = (effects: readonly TlsEffect[]) => {
  const c = effects.find((e) => e.type === 'closed');
  return c?.type === 'closed' ? c.error : undefined;
};
const sentAlert = (effects: readonly TlsEffect[]) => {
  const a = effects.find((e) => e.type === 'alertSent');
  return a?.type === 'alertSent' ? a.description : undefined;
};

/** A started server and the client's first flight. */
function serverAndHello() {
  const pair = new Pair().start();
  return { pair, hello: pair.inbox.server[0]! };
}

test('record longer than 2^14 + 256 is record_overflow, decided from the header alone', (t) => {
  const { pair } = serverAndHello();
  const step = feed(pair.server, Uint8Array.of(22, 3, 3, 0x41, 0x01));
  t.is(sentAlert(step.effects), A.record_overflow);
  t.is(closedWith(step.effects)?.kind, 'peerMisbehaved');
});

test('plaintext handshake record over 2^14 bytes is record_overflow', (t) => {
  const { pair } = serverAndHello();
  const step = feed(pair.server, plainRecord(22, new Uint8Array(16385)));
  t.is(sentAlert(step.effects), A.record_overflow);
});

test('unknown record content type is unexpected_message', (t) => {
  const { pair } = serverAndHello();
  t.is(sentAlert(feed(pair.server, Uint8Array.of(99, 3, 3, 0, 1, 0)).effects), A.unexpected_message);
});

test('application data before the handshake is unexpected_message', (t) => {
  const { pair } = serverAndHello();
  t.is(sentAlert(feed(pair.server, plainRecord(23, Uint8Array.of(1, 2, 3))).effects), A.unexpected_message);
});

test('garbage ClientHello body is decode_error', (t) => {
  const { pair } = serverAndHello();
  const step = feed(pair.server, plainRecord(22, Uint8Array.of(1, 0, 0, 3, 9, 9, 9)));
  t.is(sentAlert(step.effects), A.decode_error);
  t.is(closedWith(step.effects)?.kind, 'invalidMessage');
});

test('a handshake message claiming 16 MiB is rejected at once, not buffered', (t) => {
  const { pair } = serverAndHello();
  const step = feed(pair.server, plainRecord(22, Uint8Array.of(1, 0xff, 0xff, 0xff, 0)));
  t.is(sentAlert(step.effects), A.decode_error);
});

test('zero-length handshake record is unexpected_message', (t) => {
  const { pair } = serverAndHello();
  t.is(sentAlert(feed(pair.server, plainRecord(22, new Uint8Array(0))).effects), A.unexpected_message);
});

test('ClientHello split into small records across chunks still works (1-byte records: see hardening.test.ts)', (t) => {
  const { pair, hello } = serverAndHello();
  let st = pair.server;
  const body = hello.subarray(5);
  let effects: TlsEffect[] = [];
  // 33 handshake bytes per record (just over the records-per-message bound's 32), each record in two chunks.
  for (let o = 0; o < body.length; o += 33) {
    const rec = plainRecord(22, body.subarray(o, o + 33));
    for (const part of [rec.subarray(0, 3), rec.subarray(3)]) {
      const s = feed(st, part);
      st = s.state;
      effects = effects.concat(s.effects);
    }
  }
  t.truthy(effects.find((e) => e.type === 'transmit'));
  t.is(closedWith(effects), undefined);
});

function helloWithout(ext: number): Uint8Array {
  const { hello } = serverAndHello();
  // Re-encode the ClientHello from the wire without one extension, using the raw extension walk.
  const body = hello.subarray(5 + 4);
  let o = 2 + 32;
  o += 1 + body[o]!; // session id
  o += 2 + ((body[o]! << 8) | body[o + 1]!); // suites
  o += 1 + body[o]!; // compression
  const extStart = o + 2;
  const parts: Uint8Array[] = [];
  for (let p = extStart; p < body.length; ) {
    const type = (body[p]! << 8) | body[p + 1]!;
    const len = (body[p + 2]! << 8) | body[p + 3]!;
    if (type !== ext) parts.push(body.subarray(p, p + 4 + len));
    p += 4 + len;
  }
  const exts = Buffer.concat(parts);
  const newBody = Buffer.concat([body.subarray(0, o), Buffer.from([exts.length >> 8, exts.length & 0xff]), exts]);
  const msg = Buffer.concat([Buffer.from([1, 0, newBody.length >> 8, newBody.length & 0xff]), newBody]);
  return plainRecord(22, msg);
}

test('ClientHello without supported_versions to a TLS 1.3-only server: protocol_version (peer incompatible)', (t) => {
  const pair = new Pair({}, { minVersion: 'TLSv1.3' }).start();
  const step = feed(pair.server, helloWithout(43));
  t.is(sentAlert(step.effects), A.protocol_version);
  t.is(closedWith(step.effects)?.kind, 'peerIncompatible');
});

test('ClientHello without supported_versions to a default server: TLS 1.2 (RFC 8446 §4.2.1)', (t) => {
  const { pair } = serverAndHello();
  const step = feed(pair.server, helloWithout(43));
  t.is(closedWith(step.effects), undefined);
  t.is(handshakePhase(step.state.hs), 'expectClientKeyExchange');
});

test('ClientHello without key_share: missing_extension', (t) => {
  const { pair } = serverAndHello();
  t.is(sentAlert(feed(pair.server, helloWithout(51)).effects), A.missing_extension);
});

test('ClientHello without signature_algorithms: missing_extension', (t) => {
  const { pair } = serverAndHello();
  t.is(sentAlert(feed(pair.server, helloWithout(13)).effects), A.missing_extension);
});

test('ClientHello with a duplicated extension: illegal_parameter', (t) => {
  const { hello, pair } = serverAndHello();
  // Append a second supported_versions extension.
  const body = Buffer.from(hello.subarray(9));
  const extra = Buffer.from([0, 43, 0, 3, 2, 3, 4]);
  let o = 2 + 32;
  o += 1 + body[o]!;
  o += 2 + ((body[o]! << 8) | body[o + 1]!);
  o += 1 + body[o]!;
  const extLen = ((body[o]! << 8) | body[o + 1]!) + extra.length;
  body[o] = extLen >> 8;
  body[o + 1] = extLen & 0xff;
  // pre_shared_key is not offered, so appending at the end is fine.
  const newBody = Buffer.concat([body, extra]);
  const msg = Buffer.concat([Buffer.from([1, 0, newBody.length >> 8, newBody.length & 0xff]), newBody]);
  t.is(sentAlert(feed(pair.server, plainRecord(22, msg)).effects), A.illegal_parameter);
});

test('a flipped bit in a protected record is bad_record_mac', (t) => {
  const pair = new Pair().start().drive();
  const w = handleEvents(pair.client, { type: 'write', now: NOW, data: Uint8Array.of(1, 2, 3) });
  const wire = Uint8Array.from((w.effects[0] as { data: Uint8Array }).data);
  wire[wire.length - 1]! ^= 0x80;
  const step = feed(pair.server, wire);
  t.is(sentAlert(step.effects), A.bad_record_mac);
  t.is(closedWith(step.effects)?.alert, A.bad_record_mac);
});

test('out-of-order handshake message (a second ClientHello after the handshake) is unexpected_message', (t) => {
  const pair = new Pair().start().drive();
  const hs = encodeHandshakeBytes({ type: 'finished', body: { verifyData: new Uint8Array(32) } });
  const sealed = sealRecord(pair.client.txKey!, 22, Uint8Array.of(1, 0, 0, 0)).bytes;
  t.is(sentAlert(feed(pair.server, sealed).effects), A.decode_error);
  const sealed2 = sealRecord(pair.client.txKey!, 22, hs).bytes;
  t.is(sentAlert(feed(pair.server, sealed2).effects), A.unexpected_message);
});

test('a Certificate where the server expects the client Finished is unexpected_message', (t) => {
  const pair = new Pair().start().serverRound();
  t.is(handshakePhase(pair.server.hs), 'expectClientFinished');
  const cert = encodeHandshakeBytes({ type: 'certificate', body: { context: new Uint8Array(0), entries: [] } });
  // Sealed with the key the server reads with (the client handshake key), as a real client would.
  const forged = sealRecord(pair.server.rxKey!, 22, cert).bytes;
  const step = feed(pair.server, forged);
  t.is(sentAlert(step.effects), A.unexpected_message);
});

test('change_cipher_spec after the handshake is unexpected_message', (t) => {
  const pair = new Pair().start().drive();
  t.is(sentAlert(feed(pair.server, plainRecord(20, Uint8Array.of(1))).effects), A.unexpected_message);
});

test('plaintext close_notify after encryption started is refused (no truncation by injection)', (t) => {
  const pair = new Pair().start().drive();
  const step = feed(pair.client, plainRecord(21, Uint8Array.of(1, 0)));
  t.is(sentAlert(step.effects), A.unexpected_message);
});

test('alert record of the wrong length is decode_error', (t) => {
  const pair = new Pair().start().drive();
  const sealed = sealRecord(pair.server.txKey!, 21, Uint8Array.of(1, 0, 0)).bytes;
  t.is(sentAlert(feed(pair.client, sealed).effects), A.decode_error);
});

test('a fatal alert from the peer closes with alertReceived', (t) => {
  const pair = new Pair().start().drive();
  const sealed = sealRecord(pair.server.txKey!, 21, Uint8Array.of(2, A.internal_error)).bytes;
  const err = closedWith(feed(pair.client, sealed).effects);
  t.is(err?.kind, 'alertReceived');
  t.is(err?.alert, A.internal_error);
});

test('API misuse throws at once: write or KeyUpdate after close', (t) => {
  const pair = new Pair().start().drive();
  pair.input('client', { type: 'close', now: NOW, mode: 'abort' });
  t.throws(() => handleEvents(pair.client, { type: 'write', now: NOW, data: Uint8Array.of(1) }), { instanceOf: TlsError });
  t.throws(() => handleEvents(pair.client, { type: 'keyUpdate', now: NOW, requestPeer: false }), { instanceOf: TlsError });
});

// Properties: random bytes into a client or a server, in any phase, never throw and never hang.
const phases = ['fresh', 'afterHello', 'connected'] as const;
for (const role of ['client', 'server'] as const) {
  for (const phase of phases) {
    test(`property: random input to a ${role} (${phase}) never throws`, (t) => {
      const base = new Pair().start();
      if (phase === 'afterHello') base.serverRound();
      if (phase === 'connected') base.drive();
      const start = base[role];
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), fc.boolean(), (chunks, asRecords) => {
          let st = start;
          for (const c of chunks) {
            const data = asRecords ? plainRecord(c[0] === undefined ? 22 : 20 + (c[0] % 4), c.subarray(1)) : c;
            const step = handleEvents(st, { type: 'received', now: NOW, data });
            st = step.state;
            for (const e of step.effects) if (e.type === 'closed' && e.error) t.true(e.error instanceof TlsError);
          }
        }),
        { numRuns: 150 },
      );
      t.truthy(start);
    });
  }
}

test('property: bit flips anywhere in a real server flight never throw', (t) => {
  const base = new Pair().start().serverRound();
  const flight = Buffer.concat(base.inbox.client);
  fc.assert(
    fc.property(fc.nat({ max: flight.length * 8 - 1 }), (bit) => {
      const data = Uint8Array.from(flight);
      data[bit >> 3]! ^= 1 << (bit & 7);
      const step = handleEvents(base.client, { type: 'received', now: NOW, data });
      const closed = step.effects.find((e) => e.type === 'closed');
      // Either the flip is caught (closed with a typed error and an alert) or it landed somewhere harmless.
      if (closed?.type === 'closed') t.true(closed.error instanceof TlsError);
    }),
    { numRuns: 200 },
  );
});

test('padded records and zero-length application records are accepted (RFC 8446 §5.4)', (t) => {
  const pair = new Pair().start().drive();
  const padded = sealRecord(pair.server.txKey!, 23, new TextEncoder().encode('padded'), 200);
  const empty = sealRecord(padded.key, 23, new Uint8Array(0), 16);
  const step1 = feed(pair.client, padded.bytes);
  const step2 = feed(step1.state, empty.bytes);
  const delivered = [...step1.effects, ...step2.effects].filter((e) => e.type === 'deliver');
  t.is(delivered.length, 1);
  t.is(closedWith(step2.effects), undefined);
});

test('a record that is all padding (no content type) is unexpected_message', (t) => {
  const pair = new Pair().start().drive();
  // content type 0 plus padding: after stripping zeros nothing is left.
  const sealed = sealRecord(pair.server.txKey!, 0, new Uint8Array(0), 10).bytes;
  t.is(sentAlert(feed(pair.client, sealed).effects), A.unexpected_message);
});

test('property: random records and bytes into an asyncCrypto server never throw, deliver nothing, and close with a typed error', async (t) => {
  const provider = asyncNobleProvider('async-hostile');
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.uint8Array({ maxLength: 400 }), fc.boolean(), fc.boolean(), fc.nat(420)), { minLength: 1, maxLength: 8 }),
      async (chunks) => {
        const pair = new Pair({}, { provider, asyncCrypto: true, maxPipelines: 3 }).start();
        await pair.driveAsync();
        for (const [c, asRecord, answer, cut] of chunks) {
          // Application-data records (what an open batch takes) with random bodies, or raw bytes, in two chunks.
          const data = asRecord ? plainRecord(23, c) : c;
          pair.input('server', { type: 'received', now: NOW, data: data.subarray(0, cut) });
          pair.input('server', { type: 'received', now: NOW, data: data.subarray(cut) });
          if (answer) await pair.answerJobs('server');
        }
        await pair.answerJobs('server');
        t.is(pair.delivered.server.length, 0, 'nothing unauthenticated is delivered');
        for (const e of pair.of('server', 'closed')) if (e.type === 'closed') t.true(e.error instanceof TlsError);
        // Whole forged records alone: the first one fails authentication (bad_record_mac).
        if (chunks.every(([, asRecord]) => asRecord)) t.true(pair.closedError('server') instanceof TlsError);
      },
    ),
    { numRuns: 100 },
  );
});

test('a 64 KB ClientHello of 6 000 key shares and 17 000 groups is refused with handshake_failure (shares checked against a set)', (t) => {
  const pair = new Pair().start();
  const hello = decodeHandshakeBytes(pair.inbox.server.splice(0)[0]!.subarray(5));
  if (hello.type !== 'client_hello') return t.fail('a ClientHello');
  const keyShares = Array.from({ length: 6_000 }, (_, i) => ({ group: 0x2000 + i, keyExchange: Uint8Array.of(1) }));
  const supportedGroups = [...Array.from({ length: 11_000 }, (_, i) => 0x8000 + i), ...keyShares.map((s) => s.group)];
  const bytes = encodeHandshakeBytes({ ...hello, body: { ...hello.body, extensions: { ...hello.body.extensions, keyShares, supportedGroups } } });
  t.true(bytes.length > 60_000);
  for (let off = 0; off < bytes.length; off += 16_384) pair.input('server', { type: 'received', now: NOW, data: plainRecord(22, bytes.subarray(off, off + 16_384)) });
  t.is(sentAlert(pair.effects.server), A.handshake_failure);
  t.regex(pair.closedError('server')?.message ?? '', /no key exchange group in common/);
});
