/**
 * DTLS 1.3 (RFC 9147) conformance probes in the manner of DTLS-Fuzzer's state-machine probing and TLS-Anvil's
 * DTLS tests: crafted unified headers, records under unexpected epochs, hostile ACKs, handshake fragments that
 * disagree or run ahead, KeyUpdate sequencing, replayed hellos and the retransmission timer on the pair's
 * virtual clock. Every probe asserts the RFC-required outcome: the right fatal alert and a closed connection,
 * or the record dropped silently and the connection still working (proved by exchanging application data).
 * Nothing may throw.
 *
 * Records "from the peer" are sealed with the peer's real write keys (taken from its state, its sequence number
 * moved on so the real peer never reuses one), so they are exactly what a misbehaving peer could send. Records
 * from an off-path attacker are plaintext or carry a wrong key.
 *
 * Probes that found a deviation when they were written say so ("found by this probe and fixed").
 * DTLS 1.2 probes and a few DTLS 1.3 ones (wrong epoch bits, bad MAC during the handshake, inconsistent
 * ClientHello fragment lengths, altered cookies) live in test/tls/conformance12.test.ts and are not repeated.
 */
import test, { type ExecutionContext } from 'ava';
import { DtlsPair, type Side } from '../helpers/dtlsPair.js';
import {
  ACK, APPLICATION_DATA, HANDSHAKE, ackContent, assertAlive, connectedPair, cat, exchange, fatalAlerts, fragment, handshakeFragments, inject,
  openAll, openedFrom, peerRecord, sealWith, takeSeq, transmits, u16, writeKeys,
} from '../helpers/dtlsProbe.js';
import { DTLS_INTEGRITY_LIMIT, dtlsStats, isDtlsClosed, isDtlsConnected, nextDtlsTimeout } from '../../src/dtls/connection.js';
import { bufferedBytes } from '../../src/dtls/reassembly.js';
import { decodeDtlsHandshakeFragments } from '../../src/wire/dtls/handshake.js';
import { decodeAck } from '../../src/wire/dtls/ack.js';
import { AlertDescription as A, HandshakeType } from '../../src/wire/tls/constants.js';
import { TlsError } from '../../src/core/errors.js';
import { text, str } from '../helpers/pair.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** A DTLSPlaintext record (epoch 0). */
const plaintextRecord = (type: number, seq: number, content: ArrayLike<number>): Uint8Array =>
  cat([type, 0xfe, 0xfd, 0, 0], u16(0), [(seq >>> 24) & 0xff, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff], u16(content.length), content);

/** Either the probe was dropped and the side goes on, or it closed with one of `alerts`. */
function droppedOrFatal(t: ExecutionContext, p: DtlsPair, side: Side, alerts: readonly number[], tag: string): 'dropped' | 'fatal' {
  const sent = fatalAlerts(p, side);
  if (sent.length === 0) {
    assertAlive(t, p, side);
    exchange(t, p, tag);
    return 'dropped';
  }
  t.is(sent.length, 1);
  t.true(alerts.includes(sent[0]!), `alert ${sent[0]} not one of [${alerts.join(',')}]`);
  t.true(isDtlsClosed(p[side]));
  return 'fatal';
}

const dropped = (p: DtlsPair, side: Side): number => dtlsStats(p[side]).recordsDropped;

// ---------------------------------------------------------------------------------------------------------------
// 1. The unified header (RFC 9147 §4, §4.2.3, §4.3)

test('§4: a ciphertext with the C bit set when no connection ID was negotiated is dropped; the connection goes on', (t) => {
  const p = connectedPair();
  const rec = peerRecord(p, 'client', 3, APPLICATION_DATA, text('with cid'));
  rec[0] |= 0x10;
  const before = dropped(p, 'server');
  inject(t, p, 'server', rec);
  t.false(p.delivered.server.some((d) => str([d]) === 'with cid'));
  t.true(dropped(p, 'server') > before);
  assertAlive(t, p, 'server');
  exchange(t, p, 'cid');
});

test('§4: 8-bit and 16-bit sequence numbers are both accepted', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text('seq8'), { seqLen: 1 }));
  inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text('seq16'), { seqLen: 2 }));
  inject(t, p, 'client', peerRecord(p, 'server', 3, APPLICATION_DATA, text('seq8 back'), { seqLen: 1 }));
  t.deepEqual(p.delivered.server.map((d) => str([d])), ['seq8', 'seq16']);
  t.deepEqual(p.delivered.client.map((d) => str([d])), ['seq8 back']);
  exchange(t, p, 'seq');
});

test('§4: a record without the length (L bit clear) runs to the end of the datagram and is accepted', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text('no length'), { lengthPresent: false }));
  inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text('no length, seq8'), { lengthPresent: false, seqLen: 1 }));
  t.deepEqual(p.delivered.server.map((d) => str([d])), ['no length', 'no length, seq8']);
  exchange(t, p, 'L');
});

test('§4.3: several records in one datagram (mixed header forms, the last without length) are all delivered in order', (t) => {
  const p = connectedPair();
  const d = cat(
    peerRecord(p, 'client', 3, APPLICATION_DATA, text('one')),
    peerRecord(p, 'client', 3, APPLICATION_DATA, text('two'), { seqLen: 1 }),
    peerRecord(p, 'client', 3, APPLICATION_DATA, text('three'), { lengthPresent: false }),
  );
  inject(t, p, 'server', d);
  t.deepEqual(p.delivered.server.map((x) => str([x])), ['one', 'two', 'three']);
  exchange(t, p, 'multi');
});

test('§4.3, §4.5.2: a record whose length runs past the datagram is dropped, not fatal; the record before it is delivered', (t) => {
  const p = connectedPair();
  const good = peerRecord(p, 'client', 3, APPLICATION_DATA, text('before'));
  const long = peerRecord(p, 'client', 3, APPLICATION_DATA, text('past the end'));
  const len = (long[3]! << 8) | long[4]!;
  long.set(u16(len + 40), 3); // the length field is not covered by record number encryption
  const before = dropped(p, 'server');
  inject(t, p, 'server', cat(good, long));
  inject(t, p, 'server', long);
  t.deepEqual(p.delivered.server.map((x) => str([x])), ['before']);
  t.true(dropped(p, 'server') >= before + 2);
  assertAlive(t, p, 'server');
  exchange(t, p, 'past');
});

test('§4.2.3: a record whose sequence number is not encrypted, or masked with the wrong key, fails to open, is dropped and does not consume its number', (t) => {
  const p = connectedPair();
  const k = writeKeys(p, 'client', 3);
  const seq = takeSeq(p, 'client', 3);
  const wrongKey = writeKeys(p, 'server', 3).snKey;
  const before = dropped(p, 'server');
  inject(t, p, 'server', sealWith(p, k, seq, APPLICATION_DATA, text('clear seq'), { mask: 'none' }));
  inject(t, p, 'server', sealWith(p, k, seq, APPLICATION_DATA, text('wrong mask'), { mask: wrongKey }));
  t.deepEqual(p.delivered.server, []);
  t.is(dropped(p, 'server'), before + 2);
  // The same record number, properly masked, is still new.
  inject(t, p, 'server', sealWith(p, k, seq, APPLICATION_DATA, text('proper')));
  t.deepEqual(p.delivered.server.map((x) => str([x])), ['proper']);
  assertAlive(t, p, 'server');
  exchange(t, p, 'mask');
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Invalid records and the AEAD integrity limit (RFC 9147 §4.5.2, §4.5.3)

// Found by this probe and fixed: RFC 9147 §4.5.3 "Implementations MUST count the number of received packets that fail
// authentication with each key" (and SHOULD close past the AEAD's limit, 2^36 for the suites rxtls offers).
// rxtls dropped them (§4.5.2) but kept no count of authentication failures: they vanished into `recordsDropped`
// with undecodable, replayed and out-of-place records, so no limit could ever be applied. The QUIC layer keeps
// the equivalent counter (`authFailures`, src/quic/keyUpdate.ts); this probe expects the same name here.
test('§4.5.3: records that fail authentication are dropped and counted (integrity limit bookkeeping)', (t) => {
  const p = connectedPair();
  const forged = 50;
  for (let i = 0; i < forged; i++) {
    const rec = peerRecord(p, 'client', 3, APPLICATION_DATA, text(`forged ${i}`));
    rec[rec.length - 1] ^= 0x01; // tag broken
    inject(t, p, 'server', rec);
  }
  t.deepEqual(p.delivered.server, []);
  assertAlive(t, p, 'server');
  exchange(t, p, 'forged');
  t.is(dtlsStats(p.server).authFailures, forged);
});

test('§4.5.3: past the integrity limit (2^36 failed records) the connection closes with bad_record_mac', (t) => {
  const p = connectedPair();
  // 2^36 forgeries cannot be sent in a test: the count is set just under the limit.
  p.server = { ...p.server, stats: { ...p.server.stats, authFailures: DTLS_INTEGRITY_LIMIT } };
  const rec = peerRecord(p, 'client', 3, APPLICATION_DATA, text('one more forgery'));
  rec[rec.length - 1] ^= 0x01;
  inject(t, p, 'server', rec);
  t.true(isDtlsClosed(p.server));
  t.deepEqual(fatalAlerts(p, 'server'), [A.bad_record_mac]);
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Epochs (RFC 9147 §4.2.2, §5.6, §5.8.1, §6.1)

test('§5.6, §6.1: an epoch 1 (early data) record when 0-RTT was not offered is dropped, during and after the handshake', (t) => {
  const p = new DtlsPair();
  p.start();
  p.run(p.now + 5); // the server has the ClientHello and its handshake keys
  t.true(p.server.reads.some((r) => r.epoch === 2));
  const k = p.server.reads.find((r) => r.epoch === 2)!;
  const before = dropped(p, 'server');
  inject(t, p, 'server', sealWith(p, k, 0, APPLICATION_DATA, text('0-rtt?'), { epochBits: 1 }));
  inject(t, p, 'server', sealWith(p, k, 1, HANDSHAKE, fragment({ type: HandshakeType.finished, length: 1, msgSeq: 1, offset: 0, body: [0] }), { epochBits: 1 }));
  t.is(dropped(p, 'server'), before + 2);
  t.deepEqual(fatalAlerts(p, 'server'), []);
  p.run();
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text('epoch 1 late'), { epochBits: 1 }));
  t.deepEqual(p.delivered.server, []);
  assertAlive(t, p, 'server');
  exchange(t, p, 'e1');
});

test('§5.8.1: a retransmission of the client Finished (epoch 2, new record number) after the handshake is ACKed again', (t) => {
  const p = connectedPair();
  // The client's final flight: its epoch-2 handshake records.
  const finished = handshakeFragments(openedFrom(p, 'client', p.sent.client)).filter((f) => f.epoch === 2 && f.msgType === HandshakeType.finished);
  t.is(finished.length, 1);
  const f = finished[0]!;
  const seq = writeKeys(p, 'client', 2).seq;
  const rec = peerRecord(p, 'client', 2, HANDSHAKE, fragment({ type: f.msgType, length: f.length, msgSeq: f.messageSeq, offset: 0, body: f.body }));
  const effects = inject(t, p, 'server', rec);
  const acks = openedFrom(p, 'server', transmits(effects)).filter((r) => r.type === ACK);
  t.is(acks.length, 1, 'the server answers with an ACK');
  const list = decodeAck(acks[0]!.content);
  t.true(list.some((rn) => rn.epoch === 2n && rn.sequenceNumber === BigInt(seq)), `ACK lists ${list.map((r) => `${r.epoch}/${r.sequenceNumber}`).join(' ')}`);
  t.true(acks[0]!.epoch >= 2, 'the ACK epoch is at least that of the record it acknowledges (§7)');
  assertAlive(t, p, 'server');
  exchange(t, p, 'fin');
});

test('§6.1, §5.8.1: application data under epoch 2 (handshake keys) is dropped, or unexpected_message', (t) => {
  const p = connectedPair();
  inject(t, p, 'server', peerRecord(p, 'client', 2, APPLICATION_DATA, text('under handshake keys')));
  t.false(p.delivered.server.some((d) => str([d]) === 'under handshake keys'));
  droppedOrFatal(t, p, 'server', [A.unexpected_message], 'e2');
});

// ---------------------------------------------------------------------------------------------------------------
// 4. ACKs (RFC 9147 §7)

/** A connected pair with a client KeyUpdate outstanding (everything to the client is lost until `heal`). */
function pendingKeyUpdate(): { p: DtlsPair; kuRecords: { epoch: number; seq: number }[]; heal: () => void } {
  const p = connectedPair();
  p.filter = (d) => (d.to === 'client' ? 'drop' : 'deliver');
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  const kuRecords = (p.client.flight?.records ?? []).map((r) => ({ epoch: r.epoch, seq: r.seq }));
  return { p, kuRecords, heal: () => (p.filter = () => 'deliver') };
}

/** After a probe on a pending KeyUpdate: either the client closed with one of `alerts`, or it ignored the probe and the KeyUpdate completes once the link heals. */
function keyUpdateSurvives(t: ExecutionContext, p: DtlsPair, heal: () => void, alerts: readonly number[], tag: string): void {
  const sent = fatalAlerts(p, 'client');
  if (sent.length > 0) {
    t.is(sent.length, 1);
    t.true(alerts.includes(sent[0]!), `alert ${sent[0]} not one of [${alerts.join(',')}]`);
    t.true(isDtlsClosed(p.client));
    t.log(`rxtls: fatal alert ${sent[0]}`);
    return;
  }
  t.log('rxtls: ignored');
  t.false(isDtlsClosed(p.client));
  heal();
  p.run(p.now + 5_000);
  t.is(p.client.writeEpoch, 4, 'the genuine ACK still completes the KeyUpdate');
  assertAlive(t, p, 'client');
  exchange(t, p, tag);
}

test('§7: an ACK of record numbers never sent is ignored or illegal_parameter, and acknowledges nothing', (t) => {
  const { p, kuRecords, heal } = pendingKeyUpdate();
  t.true(kuRecords.length > 0);
  const bogus = kuRecords.map((r) => ({ epoch: r.epoch, seq: r.seq + 1000 })).concat([{ epoch: 7, seq: 0 }, { epoch: 2, seq: 999 }]);
  inject(t, p, 'client', peerRecord(p, 'server', 3, ACK, ackContent(bogus)));
  t.is(p.client.writeEpoch, 3, 'no key change for a bogus ACK');
  if (!isDtlsClosed(p.client)) t.truthy(p.client.pendingKeyUpdate, 'the KeyUpdate is still outstanding');
  keyUpdateSurvives(t, p, heal, [A.illegal_parameter], 'bogus ack');
});

test('§7: an ACK whose record_numbers are not a multiple of 16 bytes (or disagree with the record) is dropped or decode_error, and acknowledges nothing', (t) => {
  const { p, kuRecords, heal } = pendingKeyUpdate();
  const valid = ackContent(kuRecords);
  for (const content of [
    cat(u16(valid.length - 2 + 1), valid.subarray(2), [0]), // 17 bytes: one entry and a stray byte
    cat(u16(15), valid.subarray(2, 17)), // 15 bytes
    cat(u16(32), valid.subarray(2)), // length says two entries, one present
    cat(valid, [0, 0]), // trailing bytes after the vector
    cat([valid[0]!]), // a truncated length
  ]) {
    inject(t, p, 'client', peerRecord(p, 'server', 3, ACK, content));
    if (isDtlsClosed(p.client)) break;
    t.is(p.client.writeEpoch, 3, 'a malformed ACK acknowledges nothing');
  }
  keyUpdateSurvives(t, p, heal, [A.decode_error], 'malformed ack');
});

// Found by this probe and fixed: an ACK in a DTLSPlaintext (epoch 0) record was processed like an authenticated one. After the
// handshake, RFC 9147 §7 requires ACKs under the highest available sending epoch ("After the handshake,
// implementations MUST use the highest available sending epoch"; during it, an epoch at least that of the
// records acknowledged), and §4.5.2 has unauthenticated input discarded. rxtls's onRecord() handed type 26 to
// onAck() whatever `authenticated` said, so an off-path attacker's plaintext ACK (it may list every sequence
// number, 4095 per record) acknowledges the KeyUpdate: the sender switches to epoch 4 and stops
// retransmitting though the peer never received the KeyUpdate, and the connection is dead one way.
test('§7: a plaintext (epoch 0) ACK after the handshake is dropped: it cannot acknowledge a KeyUpdate', (t) => {
  const p = connectedPair();
  p.filter = (d) => (d.to === 'server' ? 'drop' : 'deliver'); // the KeyUpdate is lost
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  const kuRecords = (p.client.flight?.records ?? []).map((r) => ({ epoch: r.epoch, seq: r.seq }));
  t.true(kuRecords.length > 0);
  inject(t, p, 'client', plaintextRecord(ACK, 5, ackContent(kuRecords)));
  t.is(p.client.writeEpoch, 3, 'the client must not move to the new keys on an unauthenticated ACK');
  t.truthy(p.client.pendingKeyUpdate, 'the KeyUpdate is still outstanding');
  p.filter = () => 'deliver';
  p.run(p.now + 5_000);
  assertAlive(t, p, 'client');
  exchange(t, p, 'plain ack');
});

// Found by this probe and fixed: the same hole during the handshake. A plaintext ACK listing the client's
// final-flight records (epoch 2) ended the client's flight although the server never got its Finished; the server then gave up
// after handshakeTimeout. RFC 9147 §7: "ACK records MUST be sent with an epoch which is equal to or higher than
// the record which is being acknowledged"; an epoch-0 ACK for epoch-2 records is invalid and unauthenticated.
test('§7: during the handshake, a plaintext ACK for the client Finished does not end its retransmission', (t) => {
  let lost = false;
  const p = new DtlsPair({}, {}, (d) => {
    if (d.to === 'server' && d.index === 1 && !lost) {
      lost = true; // the client's final flight
      return 'drop';
    }
    return 'deliver';
  });
  p.start();
  p.run(p.now + 12); // the client got the server flight and sent its Finished (lost)
  t.true(lost);
  t.true(isDtlsConnected(p.client));
  const finalFlight = (p.client.flight?.records ?? []).map((r) => ({ epoch: r.epoch, seq: r.seq }));
  t.true(finalFlight.length > 0, 'the client holds its final flight');
  inject(t, p, 'client', plaintextRecord(ACK, 1, ackContent(finalFlight)));
  p.run(p.now + 60_000);
  t.true(isDtlsConnected(p.server), `server: ${p.types('server').join(',')}`);
  assertAlive(t, p, 'client');
  if (isDtlsConnected(p.server)) exchange(t, p, 'plain ack hs');
});

test('§7.2: acknowledged records are never sent again: after the KeyUpdate ACK, a duplicate ACK and ten idle minutes send nothing', (t) => {
  const p = connectedPair();
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  const kuRecords = (p.client.flight?.records ?? []).map((r) => ({ epoch: r.epoch, seq: r.seq }));
  p.run(p.now + 1_000);
  t.is(p.client.writeEpoch, 4);
  const sent = p.sent.client.length;
  inject(t, p, 'client', peerRecord(p, 'server', 3, ACK, ackContent(kuRecords)));
  p.run(p.now + 600_000);
  t.is(p.sent.client.length, sent, 'no transmission after the flight was acknowledged');
  t.is(dtlsStats(p.client).retransmissions, 0);
  t.is(nextDtlsTimeout(p.client), undefined);
  exchange(t, p, 'dup ack');
});

test('§7.2: a partial ACK of a fragmented flight: the retransmission carries no bytes the ACK covered', (t) => {
  // The server flight at a 256-byte MTU spans many records; the third server datagram is lost once.
  const p = new DtlsPair({ mtu: 256 }, { mtu: 256 }, (d) => (d.to === 'client' && d.index === 2 ? 'drop' : 'deliver'));
  p.start();
  p.run();
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server));
  // The fragments each server record carried, in sending order.
  const serverRecords = openedFrom(p, 'server', p.sent.server).filter((r) => r.type === HANDSHAKE);
  const carried = new Map(serverRecords.map((r) => [`${r.epoch}/${r.seq}`, decodeDtlsHandshakeFragments(r.content)]));
  // The client's first ACK (the partial one) and the message bytes it covers.
  const firstAck = openedFrom(p, 'client', p.sent.client).find((r) => r.type === ACK);
  t.truthy(firstAck, 'the client sent a partial ACK');
  const covered: { msg: number; start: number; end: number }[] = [];
  for (const rn of decodeAck(firstAck!.content)) {
    for (const f of carried.get(`${rn.epoch}/${rn.sequenceNumber}`) ?? []) covered.push({ msg: f.messageSeq, start: f.fragmentOffset, end: f.fragmentOffset + f.body.length });
  }
  t.true(covered.length > 0);
  // A fragment is a retransmission when bytes of it were sent before; none may repeat covered bytes.
  const sentBefore: { msg: number; start: number; end: number }[] = [];
  let resent = 0;
  for (const f of handshakeFragments(serverRecords)) {
    const r = { msg: f.messageSeq, start: f.fragmentOffset, end: f.fragmentOffset + f.body.length };
    const overlaps = (x: typeof r) => x.msg === r.msg && x.start < r.end && r.start < x.end;
    if (sentBefore.some(overlaps)) {
      resent++;
      t.false(covered.some(overlaps), `msg ${r.msg} [${r.start}, ${r.end}) was acknowledged and sent again`);
    }
    sentBefore.push(r);
  }
  t.true(resent > 0, 'the lost bytes were retransmitted');
  t.log(`${serverRecords.length} server handshake records, ${resent} fragments resent, ${covered.length} fragments acknowledged in the first ACK`);
  exchange(t, p, 'partial');
});

// ---------------------------------------------------------------------------------------------------------------
// 5. Handshake reassembly (RFC 9147 §5.2, §5.5)

test('§5.5: overlapping ClientHello fragments with different bytes in the overlap: illegal_parameter, or the first bytes win', (t) => {
  const p = new DtlsPair({}, {}, (d) => (d.to === 'server' && d.index === 0 ? 'drop' : 'deliver'));
  p.start();
  const hello = p.sent.client[0]!;
  const h = hello.subarray(13);
  const len = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
  const body = h.subarray(12, 12 + len);
  const msgSeq = (h[4]! << 8) | h[5]!;
  const half = len >> 1;
  const a = fragment({ type: h[0]!, length: len, msgSeq, offset: 0, body: body.subarray(0, half) });
  const altered = Uint8Array.from(body.subarray(half - 16));
  for (let i = 0; i < 16; i++) altered[i] ^= 0xff; // the overlap [half-16, half) differs
  const b = fragment({ type: h[0]!, length: len, msgSeq, offset: half - 16, body: altered });
  inject(t, p, 'server', plaintextRecord(HANDSHAKE, 0, a));
  inject(t, p, 'server', plaintextRecord(HANDSHAKE, 1, b));
  const alerts = fatalAlerts(p, 'server');
  if (alerts.length > 0) {
    t.deepEqual(alerts, [A.illegal_parameter]);
    t.true(isDtlsClosed(p.server));
    t.log('rxtls: illegal_parameter for changed bytes');
    return;
  }
  p.run();
  t.true(isDtlsConnected(p.client) && isDtlsConnected(p.server), `client ${p.types('client').join(',')}; server ${p.types('server').join(',')}`);
  t.log('rxtls: first bytes win (the handshake completes with the genuine ClientHello)');
  exchange(t, p, 'overlap');
});

test('§5.2: fragments for message_seq far ahead are dropped without buffering or ACKs; reassembly state stays bounded', (t) => {
  const p = connectedPair();
  const next = p.server.reassembly.nextSeq;
  const before = p.sent.server.length;
  for (let ahead = 9; ahead < 2_000; ahead += 7) {
    const f = fragment({ type: HandshakeType.key_update, length: 100_000, msgSeq: (next + ahead) & 0xffff, offset: 0, body: new Uint8Array(200) });
    inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, f));
  }
  t.is(p.server.reassembly.pending.length, 0, 'nothing buffered beyond the window');
  t.is(bufferedBytes(p.server.reassembly), 0);
  t.is(p.server.toAck.length, 0, 'discarded messages are not acknowledged (§7)');
  t.is(p.sent.server.length, before, 'no ACK sent for discarded messages');
  // Inside the window: buffered, bounded by maxAhead messages.
  for (let ahead = 1; ahead < 30; ahead++) {
    const f = fragment({ type: HandshakeType.key_update, length: 100_000, msgSeq: next + ahead, offset: 0, body: new Uint8Array(200) });
    inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, f));
  }
  t.true(p.server.reassembly.pending.length <= p.server.reassembly.limits.maxAhead, `pending ${p.server.reassembly.pending.length}`);
  t.true(bufferedBytes(p.server.reassembly) <= 200 * p.server.reassembly.limits.maxAhead);
  assertAlive(t, p, 'server');
  exchange(t, p, 'ahead');
});

test('§5.5: a post-handshake message whose length differs between fragments is fatal (illegal_parameter or decode_error)', (t) => {
  const p = connectedPair();
  const next = p.server.reassembly.nextSeq;
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, fragment({ type: HandshakeType.new_session_ticket, length: 40, msgSeq: next, offset: 0, body: new Uint8Array(10) })));
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, fragment({ type: HandshakeType.new_session_ticket, length: 50, msgSeq: next, offset: 10, body: new Uint8Array(10) })));
  const alerts = fatalAlerts(p, 'server');
  t.is(alerts.length, 1);
  t.true(([A.illegal_parameter, A.decode_error] as number[]).includes(alerts[0]!), `alert ${alerts[0]}`);
  t.true(isDtlsClosed(p.server));
  const closed = p.effects.server.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error instanceof TlsError);
});

test('§5.5: zero-length fragments are harmless; the message completes when its bytes arrive and is acknowledged', (t) => {
  const p = connectedPair();
  const next = p.server.reassembly.nextSeq;
  const ku = (offset: number, body: number[]) => fragment({ type: HandshakeType.key_update, length: 1, msgSeq: next, offset, body });
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, ku(0, [])));
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, ku(1, [])));
  t.is(p.server.reassembly.nextSeq, next, 'not delivered by empty fragments');
  assertAlive(t, p, 'server');
  const seq = writeKeys(p, 'client', 3).seq;
  const effects = inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, ku(0, [0]))); // update_not_requested
  t.is(p.server.reassembly.nextSeq, next + 1, 'the KeyUpdate was delivered');
  const acks = openedFrom(p, 'server', transmits(effects)).filter((r) => r.type === ACK);
  t.true(acks.some((r) => decodeAck(r.content).some((rn) => rn.epoch === 3n && rn.sequenceNumber === BigInt(seq))), 'the completing record is acknowledged');
  assertAlive(t, p, 'server');
  // The real client never moved to epoch 4: the server still reads epoch 3 (§8: keep the old keys).
  exchange(t, p, 'zero');
});

// ---------------------------------------------------------------------------------------------------------------
// 6. KeyUpdate (RFC 9147 §8, §5.8.4)

test('§8: until its KeyUpdate is ACKed the sender stays on the old epoch; after the ACK it uses the new one', (t) => {
  const p = connectedPair();
  p.filter = (d) => (d.to === 'client' ? 'drop' : 'deliver'); // the ACK is lost
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  p.run(p.now + 50);
  p.input('client', { type: 'write', data: text('before ack') });
  const pre = p.sent.client[p.sent.client.length - 1]!;
  t.is(pre[0]! & 3, 3, 'application data still under epoch 3');
  p.run(p.now + 50);
  t.is(str(p.delivered.server.slice(-1)), 'before ack', 'the server (already on read epoch 4) still reads epoch 3');
  p.filter = () => 'deliver';
  p.run(p.now + 5_000);
  t.is(p.client.writeEpoch, 4);
  p.input('client', { type: 'write', data: text('after ack') });
  t.is(p.sent.client[p.sent.client.length - 1]![0]! & 3, 0, 'epoch 4 after the ACK');
  p.run(p.now + 100);
  t.is(str(p.delivered.server.slice(-1)), 'after ack');
  exchange(t, p, 'ku');
});

// Found by this probe and fixed (second half): RFC 9147 §5.8.4 forbids a second KeyUpdate before the first is
// acknowledged, which rxtls respects; but a peer's update_requested that arrived meanwhile was dropped for good. RFC 8446 §4.6.3, which RFC 9147 §8
// keeps except at the epoch limit: the receiver "MUST send a KeyUpdate of its own ... prior to sending its
// next Application Data record". The request now waits until the outstanding KeyUpdate is ACKed.
test('§5.8.4, §8: no second KeyUpdate while one is unacknowledged, even when the peer requests one; the request is honoured afterwards', (t) => {
  const p = connectedPair();
  p.filter = (d) => (d.to === 'client' ? 'drop' : 'deliver');
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  const firstKu = handshakeFragments(openedFrom(p, 'client', p.sent.client.slice(-1))).find((f) => f.msgType === HandshakeType.key_update);
  t.truthy(firstKu);
  p.run(p.now + 50); // the server got it (reads epoch 4); its ACK is lost
  p.input('server', { type: 'keyUpdate', requestPeer: true });
  const serverKu = p.sent.server[p.sent.server.length - 1]!;
  const sentBefore = p.sent.client.length;
  inject(t, p, 'client', serverKu); // the client gets the request while its own KeyUpdate is outstanding
  const reply = handshakeFragments(openedFrom(p, 'client', p.sent.client.slice(sentBefore)));
  t.deepEqual(
    reply.filter((f) => f.msgType === HandshakeType.key_update && f.messageSeq !== firstKu!.messageSeq).map((f) => f.messageSeq),
    [],
    'no new KeyUpdate while the first is unacknowledged',
  );
  t.is(p.client.writeEpoch, 3);
  p.filter = () => 'deliver';
  p.run(p.now + 10_000);
  assertAlive(t, p, 'client');
  exchange(t, p, 'ku2');
  // The server's update_requested obliges the client to update once more (RFC 8446 §4.6.3).
  t.is(p.client.writeEpoch, 5, 'the requested update followed once the first was acknowledged');
});

test('§8: records under the old epoch after the update are still accepted (held back before and after the first new-epoch record)', (t) => {
  const p = connectedPair();
  const held: Uint8Array[] = [];
  p.filter = (d) => {
    if (d.to === 'server' && held.length < 2 && openAll(p.server, d.data).some((r) => r.type === APPLICATION_DATA)) {
      held.push(d.data);
      return 'drop';
    }
    return 'deliver';
  };
  p.input('client', { type: 'write', data: text('old 1') });
  p.input('client', { type: 'write', data: text('old 2') });
  t.is(held.length, 2);
  p.filter = () => 'deliver';
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  p.run(p.now + 1_000);
  t.is(p.client.writeEpoch, 4);
  inject(t, p, 'server', held[0]!); // before any epoch-4 record: MUST still be readable (§8)
  p.input('client', { type: 'write', data: text('new') });
  p.run(p.now + 100);
  inject(t, p, 'server', held[1]!); // after: SHOULD still be processed
  t.deepEqual(p.delivered.server.map((d) => str([d])), ['old 1', 'new', 'old 2']);
  exchange(t, p, 'old epoch');
});

// ---------------------------------------------------------------------------------------------------------------
// 7. Replayed hellos (RFC 9147 §5.1, §5.2, §5.11)

for (const cookie of [false, true]) {
  test(`§5.2, §5.11: ClientHellos replayed after the handshake are ignored${cookie ? ' (cookie exchange)' : ''}`, (t) => {
    const p = connectedPair({}, cookie ? { cookieSecret: new Uint8Array(32).fill(5) } : {});
    const hellos = p.sent.client.filter((d) => d[0] === HANDSHAKE && d[13] === HandshakeType.client_hello);
    t.is(hellos.length, cookie ? 2 : 1);
    for (const h of hellos) {
      const effects = inject(t, p, 'server', h);
      const plain = transmits(effects).flatMap((d) => openAll(p.client, d)).filter((r) => r.epoch === 0);
      t.deepEqual(plain, [], 'no ServerHello or HelloRetryRequest in answer');
    }
    // And the server flight replayed to the client.
    for (const d of p.sent.server.slice(0, 3)) inject(t, p, 'client', d);
    assertAlive(t, p, 'server');
    assertAlive(t, p, 'client');
    exchange(t, p, 'replayed hello');
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Closure (RFC 9147 §5.10)

/** The client writes `before` (held back on the link), then ends: its close_notify reaches the server first. */
function closedWithHeldRecord(t: ExecutionContext): { p: DtlsPair; held: Uint8Array } {
  const p = connectedPair();
  let held: Uint8Array | undefined;
  p.filter = (d) => {
    if (d.to === 'server' && !held) {
      held = d.data;
      return 'drop';
    }
    return 'deliver';
  };
  p.input('client', { type: 'write', data: text('sent before close_notify') });
  p.input('client', { type: 'end' });
  p.run(p.now + 100);
  t.truthy(held);
  t.true(p.types('server').includes('peerClosed'));
  return { p, held: held! };
}

test('§5.10: a record numbered after the peer close_notify is ignored', (t) => {
  const { p } = closedWithHeldRecord(t);
  inject(t, p, 'server', peerRecord(p, 'client', 3, APPLICATION_DATA, text('after close_notify')));
  t.false(p.delivered.server.some((d) => str([d]) === 'after close_notify'));
  t.deepEqual(fatalAlerts(p, 'server'), []);
});

// Found by a probe (the TLS 1.3 one of test/tls/conformance13c.test.ts, carried over) and fixed: after the peer's
// close_notify its handshake records still reached the engine (a KeyUpdate requesting ours was answered) and a
// fatal alert still closed the connection with an error. RFC 9147 §5.10 / RFC 8446 §6.1: data after a closure
// alert MUST be ignored; our side, still writing, keeps its keys.
test('§5.10: a KeyUpdate(update_requested) and a fatal alert after the peer close_notify are ignored', (t) => {
  const { p } = closedWithHeldRecord(t);
  const epochBefore = p.server.writeEpoch;
  const ku = fragment({ type: HandshakeType.key_update, length: 1, msgSeq: p.server.reassembly.nextSeq, offset: 0, body: [1] });
  inject(t, p, 'server', peerRecord(p, 'client', 3, HANDSHAKE, ku));
  inject(t, p, 'server', peerRecord(p, 'client', 3, 21, [2, A.handshake_failure]));
  p.run(p.now + 5_000);
  t.is(p.server.writeEpoch, epochBefore, 'no KeyUpdate of ours in answer');
  t.deepEqual(fatalAlerts(p, 'server'), []);
  t.false(p.effects.server.some((e) => e.type === 'closed' && e.error !== undefined), 'not closed with an error');
  t.false(p.effects.server.some((e) => e.type === 'alertReceived' && e.description === A.handshake_failure), 'the alert is not even reported');
});

// RFC 9147 §5.10 orders closure by record number, not by arrival: "Any data received with an epoch/sequence number
// pair after that of a valid received closure alert MUST be ignored." A record numbered before the close_notify but
// reordered behind it is not "after" it, so the RFC would allow delivering it. rxtls does not: the peer's
// close_notify completes the inbound stream (the shutdown contract of every transport here), and nothing can be
// delivered after a completion. Datagram records lost or reordered past the close are the application's to
// recover, as any lost datagram is. This test pins that choice.
test('§5.10: a record numbered before the peer close_notify but arriving after it is dropped: the inbound stream already completed', (t) => {
  const { p, held } = closedWithHeldRecord(t);
  inject(t, p, 'server', held);
  t.deepEqual(p.delivered.server.map((d) => str([d])), []);
  t.true(p.effects.server.some((e) => e.type === 'peerClosed'), 'the close_notify completed the inbound stream first');
  t.deepEqual(fatalAlerts(p, 'server'), []);
});

// ---------------------------------------------------------------------------------------------------------------
// 8. Timers (RFC 9147 §5.8.2)

/** Fire the client's timers (at most `steps`, until it closes): when each transmission went out, ms after the first. */
function transmissionTimes(p: DtlsPair, steps: number): number[] {
  const start = p.now;
  const times: number[] = [0];
  for (let i = 0; i < steps && !isDtlsClosed(p.client); i++) {
    const next = nextDtlsTimeout(p.client);
    if (next === undefined) break;
    p.now = next;
    const sent = p.sent.client.length;
    p.input('client', { type: 'timeout' });
    if (p.sent.client.length > sent) times.push(p.now - start);
  }
  return times;
}

test('§5.8.2: with no answer at all the ClientHello is retransmitted with a doubling timer, then the handshake gives up', (t) => {
  const p = new DtlsPair({}, {}, () => 'drop');
  p.input('client', { type: 'start' });
  const times = transmissionTimes(p, 1_000);
  t.true(isDtlsClosed(p.client), 'the client gave up');
  const closed = p.effects.client.find((e) => e.type === 'closed');
  t.true(closed?.type === 'closed' && closed.error instanceof TlsError && closed.error.kind === 'handshakeTimeout');
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  for (let i = 1; i < gaps.length; i++) t.is(gaps[i], Math.min(2 * gaps[i - 1]!, 60_000), `gap ${i}: ${gaps.join(',')}`);
  t.is(p.sent.client.length, times.length);
  t.true(p.sent.client.length <= 20, `${p.sent.client.length} transmissions`);
  t.log(`transmissions ${p.sent.client.length} at ${times.join(', ')} ms`);
});

// Found by this probe and fixed: RFC 9147 §5.8.2: "Unless implementations have deployment-specific and/or external information about
// the round trip time, implementations SHOULD use an initial timer value of 1000 ms". rxtls defaulted to 100 ms
// (DEFAULT_RETRANSMIT_INITIAL; its comment cited §5.8.2, but 100 ms is an earlier draft's value).
test('§5.8.2: the default initial retransmission timer is 1000 ms', (t) => {
  const p = new DtlsPair({}, {}, () => 'drop');
  p.input('client', { type: 'start' });
  t.is(nextDtlsTimeout(p.client)! - p.now, 1_000);
});

test('§5.8.2, §7.3: an unacknowledged KeyUpdate backs off to retransmitMax (observed: post-handshake flights are never abandoned)', (t) => {
  const p = connectedPair({ retransmitMax: 4_000 });
  p.filter = () => 'drop';
  p.input('client', { type: 'keyUpdate', requestPeer: false });
  const times = transmissionTimes(p, 40);
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  for (let i = 1; i < gaps.length; i++) t.is(gaps[i], Math.min(2 * gaps[i - 1]!, 4_000));
  t.true(gaps.every((g) => g <= 4_000));
  t.log(`${times.length} KeyUpdate transmissions in ${times[times.length - 1]} ms; closed: ${isDtlsClosed(p.client)}`);
});
