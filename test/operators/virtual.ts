/**
 * Shared pieces of the RxJS-layer specs: fixtures, a virtual clock whose epoch lies inside the certificates'
 * validity, a spy on a byte duplex (what goes on the wire, when it is ended or destroyed), and error records
 * that marbles can compare.
 */
import { readFileSync } from 'node:fs';
import { Subject, of } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { TlsError } from '../../src/core/errors.js';
import type { MemoryDuplex } from '../../src/rx/duplex.js';
import type { ByteDuplex } from '../../src/rx/types.js';

export const fixture = (name: string) => readFileSync(new URL(`../fixtures/certs/${name}`, import.meta.url), 'utf8');
export const ca = fixture('ca-cert.pem');
export const cert = fixture('server-ec-chain.pem');
export const key = fixture('server-ec-key.pem');

export const enc = (s: string) => new TextEncoder().encode(s);
export const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Virtual time starting at 2027-01-01 so the fixtures (valid 2026-11-29 .. 2036) verify at `now`. */
export const EPOCH = Date.UTC(2027, 0, 1);

export function virtualClock(t: { deepEqual: (a: unknown, b: unknown) => void }): TestScheduler {
  const ts = new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
  const frame = ts.now;
  ts.now = () => frame() + EPOCH;
  return ts;
}

/** The error as `{ kind }`, so marbles can compare it. */
export const failure = (err: unknown) => {
  if (!(err instanceof TlsError)) throw err;
  return of({ kind: err.kind });
};

/** `SSL_get_shutdown` as two letters: S (sent) R (received), `-` when not. */
export const flags = (sh: { sent: boolean; received: boolean }) => `${sh.sent ? 'S' : '-'}${sh.received ? 'R' : '-'}`;

/**
 * Wraps a duplex and reports, from virtual frame `from` on, each write (`w`), `end` (`e`) and `destroy` (`d`)
 * on `events`. `inject` writes raw bytes to the peer, bypassing TLS.
 */
export function spy(inner: MemoryDuplex, ts: TestScheduler, from = 1) {
  const events = new Subject<string>();
  const report = (e: string) => {
    if (ts.now() - EPOCH >= from) events.next(e);
  };
  const duplex: ByteDuplex = {
    incoming$: inner.incoming$,
    drain$: inner.drain$,
    write: (chunk) => {
      report('w');
      return inner.write(chunk);
    },
    end: () => {
      report('e');
      inner.end();
    },
    destroy: () => {
      report('d');
      inner.destroy();
    },
    pause: () => inner.pause(),
    resume: () => inner.resume(),
  };
  return { duplex, events, inject: (bytes: Uint8Array) => inner.write(bytes) };
}
