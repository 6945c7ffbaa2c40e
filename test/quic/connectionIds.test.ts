/** Connection IDs (RFC 9000 §5.1, §19.15, §19.16): issuing, retiring, the limits, and hostile sequences. */
import test from 'ava';
import fc from 'fast-check';
import { nobleProvider as p } from '../../src/crypto/noble.js';
import {
  ACTIVE_CONNECTION_ID_LIMIT,
  activePeerId,
  issueConnectionIds,
  newConnectionIds,
  onNewConnectionId,
  onRetireConnectionId,
  setPeerInitialId,
  type ConnectionIds,
} from '../../src/quic/connectionIds.js';
import { handleQuicEvents } from '../../src/quic/connection.js';
import { ConnectionError, QuicError } from '../../src/quic/errors.js';
import type { QueuedFrame } from '../../src/quic/spaces.js';
import { resetTokenFor } from '../../src/quic/statelessReset.js';
import { decodeFrames, type Frame } from '../../src/wire/quic/frames.js';
import { unprotectPacket } from '../../src/quic/protection.js';
import { QuicPair } from '../helpers/quicPair.js';

const KEY = new Uint8Array(32).fill(7);
const id = (n: number) => Uint8Array.from({ length: 8 }, (_, i) => (n * 31 + i) & 0xff);
const token = (n: number) => new Uint8Array(16).fill(n & 0xff);
const ncid = (sequence: number, retirePriorTo = 0, cid = id(sequence), resetToken = token(sequence)): Extract<Frame, { type: 'newConnectionId' }> => ({
  type: 'newConnectionId',
  sequence,
  retirePriorTo,
  connectionId: cid,
  resetToken,
});
const start = (): ConnectionIds => setPeerInitialId(newConnectionIds(id(1000), resetTokenFor(p, KEY, id(1000))), id(0), token(0));
const code = (f: () => unknown): bigint | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    if (err instanceof ConnectionError) return err.code;
    throw err;
  }
};

/** The frames of the 1-RTT packets `side` sent (decrypted with the receiver's keys as they are now). */
function sentFrames(pair: QuicPair, side: 'client' | 'server', from = 0): Frame[] {
  const rx = pair.state[side === 'client' ? 'server' : 'client'];
  return pair.datagrams[side].slice(from).flatMap((d) => {
    if ((d[0]! & 0x80) !== 0) return [];
    const opened = unprotectPacket(p, rx.spaces.application.rx!, d, 1 + 8, rx.spaces.application.largestRx);
    return opened ? decodeFrames(opened.payload, 'oneRtt') : [];
  });
}

test('RFC 9000 §5.1.1: once connected each side issues NEW_CONNECTION_IDs up to the peer\'s active_connection_id_limit, tokens from the reset key', (t) => {
  const pair = new QuicPair().start().settle();
  for (const side of ['client', 'server'] as const) {
    const s = pair.state[side];
    t.is(s.cids.issued.length, ACTIVE_CONNECTION_ID_LIMIT, `${side}: as many as the peer allows`);
    t.deepEqual(
      s.cids.issued.map((e) => e.sequence),
      [0, 1, 2, 3],
    );
    for (const e of s.cids.issued) t.deepEqual(e.resetToken, resetTokenFor(p, s.config.statelessResetKey, e.id));
    t.is(pair.effects[side].filter((e) => e.type === 'connectionIdIssued').length, ACTIVE_CONNECTION_ID_LIMIT - 1);
    const peer = pair.state[side === 'client' ? 'server' : 'client'];
    t.deepEqual(
      peer.cids.peer.map((e) => e.sequence),
      [0, 1, 2, 3],
      `the ${side}'s IDs stored by its peer with their sequence numbers`,
    );
  }
  // RFC 9000 §18.2: the server's stateless_reset_token is its first ID's; a client sends none.
  t.deepEqual(pair.state.client.peerParams?.statelessResetToken, pair.state.server.cids.issued[0]!.resetToken);
  t.is(pair.state.server.peerParams?.statelessResetToken, undefined);
  t.is(pair.state.client.peerParams?.activeConnectionIdLimit, ACTIVE_CONNECTION_ID_LIMIT);
});

test('RFC 9000 §5.1.2, §19.16: a RETIRE_CONNECTION_ID is answered with a new ID; a retired ID stops routing (effect)', (t) => {
  const pair = new QuicPair().start().settle();
  const retired = pair.state.server.cids.issued.find((e) => e.sequence === 2)!.id;
  const sentBefore = pair.datagrams.server.length;
  pair.input('server', { type: 'datagram', now: pair.now, data: pair.forge('client', [{ type: 'retireConnectionId', sequence: 2 }]) });
  const issued = sentFrames(pair, 'server', sentBefore).filter((f) => f.type === 'newConnectionId');
  t.like(issued, [{ type: 'newConnectionId', sequence: 4, retirePriorTo: 0 }], 'one NEW_CONNECTION_ID in answer');
  const s = pair.state.server;
  t.true(pair.effects.server.some((e) => e.type === 'connectionIdRetired' && Buffer.from(e.id).equals(retired)));
  t.deepEqual(
    s.cids.issued.map((e) => e.sequence),
    [0, 1, 3, 4],
    'sequence 4 replaces 2',
  );
  const before = pair.datagrams.server.length;
  pair.input('server', { type: 'datagram', now: pair.now, data: pair.forge('client', [{ type: 'retireConnectionId', sequence: 2 }]) });
  t.deepEqual(
    pair.state.server.cids.issued.map((e) => e.sequence),
    [0, 1, 3, 4],
    'retiring twice is harmless',
  );
  t.deepEqual(
    sentFrames(pair, 'server', before).filter((f) => f.type === 'newConnectionId'),
    [],
    'and draws no new ID',
  );
});

test('RFC 9000 §5.1.2: Retire Prior To retires the older IDs with RETIRE_CONNECTION_ID frames and replaces the one in use', (t) => {
  const pair = new QuicPair().start().settle();
  const before = pair.datagrams.client.length;
  const fresh = id(77);
  pair.input('client', { type: 'datagram', now: pair.now, data: pair.forge('server', [ncid(9, 9, fresh, token(9))]) });
  t.deepEqual(pair.state.client.dcid, fresh, 'the client now sends to the new ID');
  const retires = sentFrames(pair, 'client', before)
    .filter((f): f is Extract<Frame, { type: 'retireConnectionId' }> => f.type === 'retireConnectionId')
    .map((f) => f.sequence)
    .sort();
  t.deepEqual(retires, [0, 1, 2, 3]);
  t.deepEqual(
    pair.state.client.cids.peer.map((e) => e.sequence),
    [9],
  );
});

test('RFC 9000 §5.1.1: more active IDs than our limit is CONNECTION_ID_LIMIT_ERROR (a flood of NEW_CONNECTION_ID in one packet)', (t) => {
  const pair = new QuicPair().start().settle();
  const flood = Array.from({ length: 40 }, (_, i) => ncid(10 + i));
  const out = pair.input('client', { type: 'datagram', now: pair.now, data: pair.forge('server', flood) });
  t.is(out.filter((e) => e.type === 'transmit').length, 1, 'one CONNECTION_CLOSE, nothing else');
  t.is(pair.state.client.phase, 'closing');
  pair.drive(pair.now + 60_000);
  t.like(pair.closed('client')?.error?.detail, { kind: 'quicClose', code: QuicError.CONNECTION_ID_LIMIT_ERROR, local: true });
  t.like(pair.closed('server')?.error?.detail, { kind: 'quicClose', code: QuicError.CONNECTION_ID_LIMIT_ERROR, local: false });
});

test('RFC 9000 §19.15: Retire Prior To above the sequence number is FRAME_ENCODING_ERROR', (t) => {
  const pair = new QuicPair().start().settle();
  pair.input('client', { type: 'datagram', now: pair.now, data: pair.forge('server', [ncid(5, 6)]) });
  pair.drive(pair.now + 60_000);
  t.like(pair.closed('client')?.error?.detail, { kind: 'quicClose', code: QuicError.FRAME_ENCODING_ERROR, local: true });
});

test('RFC 9000 §19.15, §19.16: reuse and unknown sequences are PROTOCOL_VIOLATION, zero-length senders refuse NEW_CONNECTION_ID', (t) => {
  const c = onNewConnectionId(start(), ncid(1), false, []).ids;
  t.is(onNewConnectionId(c, ncid(1), false, []).ids.peer.length, 2, 'an identical repeat is a retransmission');
  t.is(code(() => onNewConnectionId(c, ncid(1, 0, id(50)), false, [])), QuicError.PROTOCOL_VIOLATION, 'a sequence number with another ID');
  t.is(code(() => onNewConnectionId(c, ncid(1, 0, id(1), token(50)), false, [])), QuicError.PROTOCOL_VIOLATION, 'a sequence number with another token');
  t.is(code(() => onNewConnectionId(c, ncid(2, 0, id(1)), false, [])), QuicError.PROTOCOL_VIOLATION, 'an ID under another sequence number');
  t.is(code(() => onNewConnectionId(c, ncid(2), true, [])), QuicError.PROTOCOL_VIOLATION, 'we send zero-length IDs');
  const ours = newConnectionIds(id(500), token(1));
  t.is(code(() => onRetireConnectionId(ours, { type: 'retireConnectionId', sequence: 1 }, id(9))), QuicError.PROTOCOL_VIOLATION, 'never issued');
  t.is(code(() => onRetireConnectionId(ours, { type: 'retireConnectionId', sequence: 0 }, id(500))), QuicError.PROTOCOL_VIOLATION, 'the packet\'s own DCID');
  t.deepEqual(onRetireConnectionId(ours, { type: 'retireConnectionId', sequence: 0 }, id(9)).retired, id(500));
});

test('RFC 9000 §5.1.2: NEW_CONNECTION_IDs raising Retire Prior To one by one in a flood end in CONNECTION_ID_LIMIT_ERROR (retirements bounded)', (t) => {
  let c = start();
  const queue: QueuedFrame[] = [];
  let err: bigint | undefined;
  for (let n = 1; n < 1000 && err === undefined; n++) err = code(() => (c = onNewConnectionId(c, ncid(n, n), false, queue).ids));
  t.is(err, QuicError.CONNECTION_ID_LIMIT_ERROR);
  t.true(queue.length <= 2 * ACTIVE_CONNECTION_ID_LIMIT + 1, `${queue.length} retirements queued`);
});

/** One step of a peer's connection-ID traffic, for the property below. */
const op = fc.oneof(
  fc.record({ kind: fc.constant('new' as const), sequence: fc.nat(40), retire: fc.nat(40), cid: fc.nat(60) }),
  fc.record({ kind: fc.constant('retire' as const), sequence: fc.nat(20) }),
);

test('RFC 9000 §5.1: random NEW_CONNECTION_ID / RETIRE_CONNECTION_ID sequences keep the invariants or close with the right code (property)', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let peer = start();
        let ours = newConnectionIds(id(900), token(0));
        const queue: QueuedFrame[] = [];
        ours = issueConnectionIds(ours, 4, p, KEY, (n) => p.randomBytes(n), queue).ids;
        for (const o of ops) {
          try {
            if (o.kind === 'new') {
              if (o.retire > o.sequence) continue; // a decoding error, tested above
              peer = onNewConnectionId(peer, ncid(o.sequence, o.retire, id(o.cid), token(o.cid)), false, queue).ids;
            } else {
              ours = onRetireConnectionId(ours, { type: 'retireConnectionId', sequence: o.sequence }, undefined).ids;
              ours = issueConnectionIds(ours, 4, p, KEY, (n) => p.randomBytes(n), queue).ids;
            }
          } catch (err) {
            if (!(err instanceof ConnectionError)) throw err;
            return err.code === QuicError.PROTOCOL_VIOLATION || err.code === QuicError.CONNECTION_ID_LIMIT_ERROR;
          }
          // The peer's: within our limit, none below Retire Prior To, distinct, and one of them in use.
          if (peer.peer.length > ACTIVE_CONNECTION_ID_LIMIT || peer.peer.length === 0) return false;
          if (peer.peer.some((e) => e.sequence < peer.retirePriorTo)) return false;
          if (new Set(peer.peer.map((e) => Buffer.from(e.id).toString('hex'))).size !== peer.peer.length) return false;
          if (!activePeerId(peer)) return false;
          // Ours: always 4 active, sequence numbers distinct and below the next one.
          if (ours.issued.length !== 4 || new Set(ours.issued.map((e) => e.sequence)).size !== 4) return false;
          if (ours.issued.some((e) => e.sequence >= ours.nextSequence)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    ),
  );
});

test('RFC 9000 §5.1: a connected client fed random NEW_CONNECTION_ID / RETIRE_CONNECTION_ID frames stays consistent or closes with the code the RFC names (property)', (t) => {
  const pair = new QuicPair().start().settle();
  const connected = pair.state.client;
  const frame = fc.oneof(
    fc.record({ sequence: fc.nat(12), retirePriorTo: fc.nat(12), cid: fc.nat(30) }).map(({ sequence, retirePriorTo, cid }) => ncid(sequence, retirePriorTo, id(cid), token(cid))),
    fc.nat(8).map((sequence): Frame => ({ type: 'retireConnectionId', sequence })),
  );
  const allowed: readonly bigint[] = [QuicError.PROTOCOL_VIOLATION, QuicError.CONNECTION_ID_LIMIT_ERROR, QuicError.FRAME_ENCODING_ERROR];
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fc.array(frame, { minLength: 1, maxLength: 6 }), { maxLength: 12 }), (packets) => {
        let s = connected;
        for (const frames of packets) {
          const step = handleQuicEvents(s, { type: 'datagram', now: pair.now, data: pair.forge('server', frames) });
          s = step.state;
          const closed = step.effects.some((e) => e.type === 'closed') || s.phase !== 'connected';
          if (closed) return s.closeError?.detail.kind === 'quicClose' && allowed.includes(s.closeError.detail.code);
          // Connected: our limit holds, nothing below Retire Prior To, and the DCID is the ID in use.
          if (s.cids.peer.length > ACTIVE_CONNECTION_ID_LIMIT || s.cids.peer.some((e) => e.sequence < s.cids.retirePriorTo)) return false;
          if (!Buffer.from(s.dcid).equals(activePeerId(s.cids)!.id)) return false;
        }
        return true;
      }),
      { numRuns: 150 },
    ),
  );
});
