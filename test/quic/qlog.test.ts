/**
 * qlog (draft-ietf-quic-qlog-main-schema, draft-ietf-quic-qlog-quic-events): the JSON-SEQ serializer (RFC 7464
 * framing) and the events the reducer emits with `qlog: true`, over the in-memory pair in virtual time.
 */
import test from 'ava';
import { qlogHeader, qlogRecord, RECORD_SEPARATOR, type QlogEvent } from '../../src/quic/qlog.js';
import type { QuicEffect } from '../../src/quic/types.js';
import { NOW } from '../helpers/pair.js';
import { QuicPair, type Side } from '../helpers/quicPair.js';

/** Split a JSON text sequence into its JSON texts, checking the RFC 7464 framing of each. */
function records(text: string): unknown[] {
  if (!text.startsWith(RECORD_SEPARATOR)) throw new Error('a JSON text sequence starts with 0x1E');
  return text
    .split(RECORD_SEPARATOR)
    .slice(1)
    .map((r) => {
      if (!r.endsWith('\n') || r.slice(0, -1).includes('\n')) throw new Error(`record not ended by one 0x0A: ${JSON.stringify(r)}`);
      return JSON.parse(r);
    });
}

const events = (effects: readonly QuicEffect[]): QlogEvent[] => effects.flatMap((e) => (e.type === 'qlog' ? [e.event] : []));
const named = <N extends QlogEvent['name']>(es: readonly QlogEvent[], name: N) => es.filter((e): e is Extract<QlogEvent, { name: N }> => e.name === name);

test('qlog RFC 7464: the header and records are 0x1E … 0x0A framed JSON with the 0.3 schema fields', (t) => {
  const odcid = Uint8Array.of(0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71);
  const text =
    qlogHeader({ vantagePoint: 'server', odcid, referenceTime: 1_700_000_000_000 }) +
    qlogRecord({ time: 0, name: 'transport:packet_received', data: { header: { packet_type: 'initial', packet_number: 0, dcid: '0a1b', scid: '01' }, frames: [{ frame_type: 'crypto', offset: 0, length: 300 }], raw: { length: 1200 } } }) +
    qlogRecord({ time: 12.5, name: 'connectivity:connection_closed', data: { owner: 'remote', application_code: 256, reason: 'line\nbreak', trigger: 'application' } });
  const [header, first, second] = records(text) as [Record<string, any>, Record<string, any>, Record<string, any>];
  t.is(header.qlog_version, '0.3');
  t.is(header.qlog_format, 'JSON-SEQ');
  t.is(header.trace.vantage_point.type, 'server');
  t.is(header.trace.common_fields.group_id, '0a1b2c3d4e5f6071');
  t.is(header.trace.common_fields.ODCID, '0a1b2c3d4e5f6071');
  t.is(header.trace.common_fields.time_format, 'relative');
  t.is(header.trace.common_fields.reference_time, 1_700_000_000_000);
  t.deepEqual(Object.keys(first), ['time', 'name', 'data']);
  t.is(first.data.header.packet_type, 'initial');
  t.is(first.data.raw.length, 1200);
  // A newline inside a string is escaped by JSON, so it never ends a record early.
  t.is(second.data.reason, 'line\nbreak');
  t.is(second.time, 12.5);
});

test('qlog: 62-bit codes beyond 2^53 are written as decimal strings, not rounded numbers', (t) => {
  const pair = new QuicPair({ qlog: true }, { qlog: true });
  pair.start().drive(NOW + 1_000);
  pair.input('client', { type: 'close', now: pair.now, mode: 'rapid', errorCode: (1n << 62n) - 1n, reason: 'bye' });
  const closed = named(events(pair.effects.client), 'connectivity:connection_closed');
  t.is(closed.length, 1);
  t.is(closed[0]!.data.application_code, String((1n << 62n) - 1n));
  t.is(closed[0]!.data.owner, 'local');
  const [record] = records(qlogRecord(closed[0]!)) as [Record<string, any>];
  t.is(record.data.application_code, '4611686018427387903');
});

test('qlog: without `qlog` in the config the reducer emits no qlog effect', (t) => {
  const pair = new QuicPair();
  pair.latency = 10;
  let seen = 0;
  pair.drop = (_from, n) => n % 7 === 3;
  pair.start().drive(NOW + 1_000);
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(50_000) });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.drive(pair.now + 60_000, () => pair.effects.server.some((e) => e.type === 'peerClosed'));
  for (const side of ['client', 'server'] as const) seen += pair.effects[side].filter((e) => e.type === 'qlog').length;
  t.true(pair.effects.server.some((e) => e.type === 'peerClosed'));
  t.is(seen, 0);
});

test('qlog: a handshake and a lossy transfer give ordered events with sane values on both sides', (t) => {
  const pair = new QuicPair({ qlog: true }, { qlog: true });
  pair.latency = 10;
  // Every 5th datagram of the client's after the handshake is lost: packet_lost must show up.
  let lossy = false;
  pair.drop = (from, n) => lossy && from === 'client' && n % 5 === 0;
  pair.start().drive(NOW + 1_000);
  lossy = true;
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(200_000) });
  pair.input('client', { type: 'end', now: pair.now, stream: 0 });
  pair.drive(pair.now + 60_000, () => pair.effects.server.some((e) => e.type === 'peerClosed'));
  lossy = false;
  pair.input('client', { type: 'close', now: pair.now, mode: 'graceful' });
  pair.drive(pair.now + 10_000);

  for (const side of ['client', 'server'] as Side[]) {
    const es = events(pair.effects[side]);
    // Times are ms since the connection's start, never going back.
    t.true(es.every((e, i) => e.time >= 0 && (i === 0 || e.time >= es[i - 1]!.time)), side);
    // Every record serializes and parses.
    for (const e of es) t.deepEqual(JSON.parse(qlogRecord(e).slice(1)).name, e.name);

    const states = named(es, 'connectivity:connection_state_updated').map((e) => e.data.new);
    t.deepEqual(states, ['handshake_started', 'handshake_complete', 'handshake_confirmed', ...(side === 'client' ? ['closing'] : ['draining']), 'closed'], side);

    const params = named(es, 'transport:parameters_set');
    t.deepEqual(params.map((p) => p.data.owner).sort(), ['local', 'remote'], side);
    t.is(params.find((p) => p.data.owner === 'local')!.data.max_ack_delay, 25);

    const sent = named(es, 'transport:packet_sent');
    const received = named(es, 'transport:packet_received');
    t.true(sent.length > 100 && received.length > 10, `${side}: ${sent.length} sent, ${received.length} received`);
    const firstSent = sent[0]!.data;
    t.is(firstSent.header.packet_type, 'initial');
    t.is(firstSent.header.packet_number, 0);
    t.truthy(firstSent.header.dcid);
    t.truthy(firstSent.header.scid);
    t.true(firstSent.frames.some((f) => f.frame_type === 'crypto'));
    if (side === 'client') t.is(firstSent.raw.length, 1200); // RFC 9000 §14.1, padding counted
    // 1-RTT packets: a DCID and no SCID (a short header, RFC 9000 §17.3).
    const oneRtt = sent.find((p) => p.data.header.packet_type === '1RTT')!;
    t.truthy(oneRtt.data.header.dcid);
    t.is(oneRtt.data.header.scid, undefined);
    // Packet numbers of each type go up by one per packet sent.
    for (const type of ['initial', 'handshake', '1RTT'] as const) {
      const pns = sent.filter((p) => p.data.header.packet_type === type).map((p) => p.data.header.packet_number);
      t.true(pns.every((pn, i) => pn === i), `${side} ${type}: ${pns.slice(0, 10).join(',')}`);
    }
    // Each packet sent is exactly one of the transmitted datagrams' bytes.
    const wire = pair.datagrams[side].reduce((n, d) => n + d.length, 0);
    t.is(sent.reduce((n, p) => n + p.data.raw.length, 0), wire, side);

    const keys = named(es, 'security:key_updated').map((e) => e.data.key_type);
    const peer = side === 'client' ? 'server' : 'client';
    for (const level of ['initial', 'handshake', '1rtt']) t.true(keys.includes(`${side}_${level}_secret` as never) && keys.includes(`${peer}_${level}_secret` as never), `${side}: ${keys}`);
    const discarded = named(es, 'security:key_discarded').map((e) => e.data.key_type);
    t.true(discarded.includes(`${side}_initial_secret` as never) && discarded.includes(`${side}_handshake_secret` as never), `${side}: ${discarded}`);

    const metrics = named(es, 'recovery:metrics_updated');
    t.true(metrics.length > 2, side);
    const last = Object.assign({}, ...metrics.map((m) => m.data)) as Record<string, number>;
    t.true(last.smoothed_rtt! >= 20 && last.smoothed_rtt! < 200, `${side} smoothed_rtt ${last.smoothed_rtt}`);
    t.true(last.min_rtt! >= 20, `${side} min_rtt ${last.min_rtt}`);
    t.true(last.congestion_window! >= 2 * 1200, `${side} congestion_window ${last.congestion_window}`);
    t.true(metrics.some((m) => m.data.latest_rtt !== undefined && m.data.rtt_variance !== undefined));
    t.true(metrics.some((m) => m.data.bytes_in_flight !== undefined));
    t.is(named(es, 'connectivity:connection_closed').length, 1, side);
  }
  const clientEvents = events(pair.effects.client);
  const lost = named(clientEvents, 'recovery:packet_lost');
  t.true(lost.length > 0, 'packet_lost on the lossy side');
  t.true(lost.every((l) => l.data.header.packet_type === '1RTT' && typeof l.data.header.packet_number === 'number'));
  // A loss shrinks the congestion window: a metrics_updated with a smaller one follows the first packet_lost.
  const firstLoss = clientEvents.indexOf(lost[0]!);
  const windows = named(clientEvents.slice(0, firstLoss), 'recovery:metrics_updated').flatMap((m) => (m.data.congestion_window !== undefined ? [m.data.congestion_window] : []));
  const after = clientEvents.slice(firstLoss).find((e): e is Extract<QlogEvent, { name: 'recovery:metrics_updated' }> => e.name === 'recovery:metrics_updated' && e.data.congestion_window !== undefined);
  t.true(after !== undefined && after.data.congestion_window! < windows.at(-1)!, `window ${windows.at(-1)} then ${after?.data.congestion_window}`);
  const closed = named(events(pair.effects.server), 'connectivity:connection_closed')[0]!;
  t.is(closed.data.owner, 'remote');
  t.is(closed.data.trigger, 'clean');
});

test('qlog: packets the reducer cannot use are packet_dropped with a trigger (duplicate, decryption_failure)', (t) => {
  const pair = new QuicPair({ qlog: true }, { qlog: true });
  pair.start().drive(NOW + 1_000);
  const last = pair.datagrams.client.at(-1)!;
  pair.input('server', { type: 'datagram', now: pair.now, data: last });
  const tampered = last.slice();
  tampered[tampered.length - 1]! ^= 1;
  pair.input('server', { type: 'datagram', now: pair.now, data: tampered });
  const dropped = named(events(pair.effects.server), 'transport:packet_dropped');
  t.deepEqual(
    dropped.slice(-2).map((d) => [d.data.trigger, d.data.header?.packet_type, d.data.raw.length]),
    [
      ['duplicate', '1RTT', last.length],
      ['decryption_failure', '1RTT', last.length],
    ],
  );
});

test('qlog: key updates are key_updated with the trigger and the new key phase', (t) => {
  const pair = new QuicPair({ qlog: true }, { qlog: true });
  pair.start().drive(NOW + 1_000);
  pair.input('client', { type: 'keyUpdate', now: pair.now });
  pair.input('client', { type: 'write', now: pair.now, stream: 0, data: new Uint8Array(10) });
  pair.drive(pair.now + 1_000);
  const updates = (side: Side) => named(events(pair.effects[side]), 'security:key_updated').filter((e) => e.data.trigger !== 'tls');
  t.deepEqual(
    updates('client').map((e) => [e.data.key_type, e.data.trigger, e.data.key_phase]),
    [
      ['client_1rtt_secret', 'local_update', 1],
      ['server_1rtt_secret', 'remote_update', 1],
    ],
  );
  t.deepEqual(updates('server').map((e) => [e.data.trigger, e.data.key_phase]), [
    ['remote_update', 1],
    ['remote_update', 1],
  ]);
});
