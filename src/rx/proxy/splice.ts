/**
 * `splice`: two byte endpoints joined, each direction on its own, with credit and shutdown carried across.
 */
import { Observable, type Subscription } from 'rxjs';
import { TlsError } from '../../core/errors.js';
import { type EndpointOptions, type Spliceable, type StreamEndpoint, checkSpliceable, toEndpoint } from './endpoint.js';

/**
 * How one side of a splice ended:
 * - `end`: its data ended cleanly (close_notify, FIN) and its output was closed cleanly in turn;
 * - `error`: it failed on its own (truncation, a fatal alert, a stream reset, a transport error): `error`;
 * - `aborted`: it was aborted by the splice, because the other side failed or the splice was unsubscribed.
 */
export type SideClose =
  | { readonly kind: 'end' }
  | { readonly kind: 'error'; readonly error: TlsError }
  | { readonly kind: 'aborted' };

/** What {@link splice} reports once both directions are over. */
export interface SpliceReport {
  /** Bytes read from `a` and written to `b`. */
  readonly aToB: number;
  /** Bytes read from `b` and written to `a`. */
  readonly bToA: number;
  readonly a: SideClose;
  readonly b: SideClose;
}

/** Counters of a running splice, for {@link SpliceOptions.onProgress}. */
export interface SpliceProgress {
  readonly aToB: number;
  readonly bToA: number;
  /** Bytes read from one side and not yet taken by the other, both directions together (≤ {@link SPLICE_HELD_CHUNKS} chunks). */
  readonly held: number;
}

/** Options of {@link splice}. */
export interface SpliceOptions extends EndpointOptions {
  /** Called after every change of the counters (a chunk read or handed over). */
  readonly onProgress?: (progress: SpliceProgress) => void;
}

/**
 * The most chunks a splice holds at once: one per direction, read from its source and offered to the other
 * side, until that side's credit comes back. A chunk is what the source delivers: at most 16 KiB from TLS (a
 * record's plaintext), a socket read (64 KiB at most) from TCP.
 */
export const SPLICE_HELD_CHUNKS = 2;

/**
 * Join two byte endpoints (a plaintext {@link ByteDuplex}, a `TlsConnection`, a `DtlsConnection`, a
 * `QuicStream`, or a {@link StreamEndpoint}) so that what one reads the other writes, each direction on its
 * own:
 *
 * - **Credit**: a direction reads its next chunk from the source only once the other side took the previous
 *   one (a `ByteDuplex` after `write` answered true or `drain$` emitted, TLS when its transport is writable);
 *   meanwhile the source is not read (TLS `receive` pauses its transport, a socket is paused, a QUIC stream
 *   gives its peer no credit). So a slow final consumer slows the first producer, and the splice itself holds
 *   at most {@link SPLICE_HELD_CHUNKS} chunks.
 * - **Half-close**: a clean end on one side (close_notify, FIN, stream FIN) becomes a clean end of the other
 *   side's output (close_notify, FIN, stream FIN); the other direction keeps flowing.
 * - **Abort**: a side that fails (truncation without close_notify, a fatal alert, RESET_STREAM, a transport
 *   error) makes the splice abort the other side the way its protocol says so (TLS: no close_notify and the
 *   transport destroyed; QUIC: RESET_STREAM; TCP: destroyed) — never a clean end.
 *
 * The result emits one {@link SpliceReport} when both directions are over, then completes (it does not error:
 * failures are in the report). Unsubscribing before that aborts both sides.
 *
 * ```
 * a reads:   -x--y------|            (a's close_notify)
 * b writes:  -x--y------e            e = b.end(): FIN / close_notify / stream FIN
 * b reads:   ---p----q-------|
 * a writes:  ---p----q-------e
 * result:    ----------------(r|)    r = { aToB, bToA, a: { kind: 'end' }, b: { kind: 'end' } }
 * b reads:   ---p--#                  # = b reset / truncated
 * a:         ------A                  A = a aborted; result: { b: { kind: 'error' }, a: { kind: 'aborted' } }
 * ```
 *
 * @example
 * ```ts
 * listen({ port: 8443, cert, key }).pipe(
 *   mergeMap((client) => splice(client, fromSocket(net.connect({ port: 8080, allowHalfOpen: true })))),
 * ).subscribe((r) => console.log(`${r.aToB} B up, ${r.bToA} B down`));
 * ```
 *
 * @see terminate, originate
 */
export function splice(a: Spliceable, b: Spliceable, options: SpliceOptions = {}): Observable<SpliceReport> {
  checkSpliceable(a, 'splice()');
  checkSpliceable(b, 'splice()');
  return new Observable<SpliceReport>((subscriber) => {
    const ends = [toEndpoint(a, options), toEndpoint(b, options)] as const;
    const counts = [0, 0]; // [aToB, bToA]
    const holding = [0, 0];
    const closes: (SideClose | undefined)[] = [undefined, undefined];
    const directionDone = [false, false];
    let over = false;
    const progress = () => options.onProgress?.({ aToB: counts[0]!, bToA: counts[1]!, held: holding[0]! + holding[1]! });

    const report = () => {
      subscriber.next({ aToB: counts[0]!, bToA: counts[1]!, a: closes[0]!, b: closes[1]! });
      subscriber.complete();
    };
    /** Side `i` failed on its own: the other side (and what is left of side `i`) is aborted. */
    const fail = (i: 0 | 1, err: unknown) => {
      if (over) return;
      over = true; // what our aborts cause in the other direction is not reported
      const j = i === 0 ? 1 : 0;
      closes[i] = { kind: 'error', error: asTlsError(err) };
      closes[j] = { kind: 'aborted' };
      ends[j].abort();
      ends[i].abort();
      report();
    };

    const run = (i: 0 | 1) => {
      const j = i === 0 ? 1 : 0;
      const source = ends[i];
      const sink = ends[j];
      let sinkFailed = false;
      // One Observable per chunk, straight over the sink's write (no operator chain per chunk): it completes
      // when the sink took the chunk, marks a sink failure, and lets go of the chunk however it ends.
      const handOver = (chunk: Uint8Array) =>
        new Observable<never>((s) => {
          const sub = sink.write(chunk).subscribe({
            error: (err: unknown) => {
              sinkFailed = true;
              s.error(err);
            },
            complete: () => s.complete(),
          });
          return () => {
            sub.unsubscribe();
            holding[i] = 0;
            progress();
          };
        });
      return source
        .read((chunk) => {
          counts[i]! += chunk.length;
          holding[i] = chunk.length;
          progress();
          return handOver(chunk);
        })
        .subscribe({
          error: (err: unknown) => fail(sinkFailed ? j : i, err),
          complete: () => {
            if (over) return;
            sink.end();
            directionDone[i] = true;
            // A side is cleanly done when its data ended and its output was ended in turn.
            if (directionDone[0] && directionDone[1]) {
              over = true;
              closes[0] = { kind: 'end' };
              closes[1] = { kind: 'end' };
              report();
            }
          },
        });
    };
    const subs: Subscription[] = [];
    subs.push(run(0));
    if (!over) subs.push(run(1));
    return () => {
      for (const s of subs) s.unsubscribe();
      if (!over) {
        over = true;
        ends[0].abort();
        ends[1].abort();
      }
    };
  });
}

function asTlsError(err: unknown): TlsError {
  if (err instanceof TlsError) return err;
  return new TlsError({ kind: 'transport', reason: err instanceof Error ? err.message : String(err) });
}
