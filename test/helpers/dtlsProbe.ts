/**
 * Shared pieces of the DTLS conformance probes (test/dtls/conformance12.test.ts, conformance13.test.ts): feed a
 * crafted datagram, read the fatal alerts a side sent, and check that a connection still works.
 */
import type { ExecutionContext } from 'ava';
import { isDtlsClosed, isDtlsConnected } from '../../src/dtls/connection.js';
import type { DtlsEffect } from '../../src/dtls/types.js';
import { AlertLevel } from '../../src/wire/tls/constants.js';
import type { DtlsPair, Side } from './dtlsPair.js';
import { str, text } from './pair.js';

/** The fatal alerts `side` sent, in order. */
export const fatalAlerts = (p: DtlsPair, side: Side): number[] =>
  p.effects[side].flatMap((e) => (e.type === 'alertSent' && e.level === AlertLevel.fatal ? [e.description] : []));

/** Feed one datagram to `side` (it never throws); its effects. */
export function inject(t: ExecutionContext, p: DtlsPair, side: Side, data: Uint8Array): readonly DtlsEffect[] {
  let effects: readonly DtlsEffect[] = [];
  t.notThrows(() => (effects = p.input(side, { type: 'datagram', data })));
  return effects;
}

/** `side` is connected, sent no fatal alert and did not close. */
export function assertAlive(t: ExecutionContext, p: DtlsPair, side: Side): void {
  t.deepEqual(fatalAlerts(p, side), [], `${side} sent no fatal alert`);
  t.false(isDtlsClosed(p[side]), `${side} is not closed`);
  t.true(isDtlsConnected(p[side]), `${side} is connected`);
}

/** Application data both ways over a link that delivers everything again: the connection (still) works. */
export function exchange(t: ExecutionContext, p: DtlsPair, tag: string): void {
  p.filter = () => 'deliver';
  p.input('client', { type: 'write', data: text(`ping ${tag}`) });
  p.input('server', { type: 'write', data: text(`pong ${tag}`) });
  p.run(p.now + 2_000);
  t.is(str(p.delivered.server.slice(-1)), `ping ${tag}`, 'the server receives');
  t.is(str(p.delivered.client.slice(-1)), `pong ${tag}`, 'the client receives');
}
