/** `truncate`: cut a byte stream short, or shorten datagrams. */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { misuse } from '../../core/errors.js';
import { perChunk, type FaultChoice } from './random.js';

/**
 * Options of {@link truncate}: `{ afterBytes }` ends the stream after that many bytes (a cut connection);
 * otherwise a {@link FaultChoice} picks datagrams to shorten.
 */
export type TruncateOptions = { readonly afterBytes: number } | FaultChoice;

/**
 * Cut short.
 *
 * - `{ afterBytes: n }`, for byte streams: the first `n` bytes pass (the chunk that crosses the mark is cut to
 *   fit), then the stream completes and the source is unsubscribed — a connection cut in the middle. Over
 *   `faultyByteLink` the peer sees EOF there; a TLS peer reports `unexpectedEof`, not a clean close, since no
 *   close_notify came (RFC 8446 §6.1: a truncation attack looks exactly like this).
 * - a {@link FaultChoice} (`rate`, `indices`, `when`, `seed`), for datagrams: each chunk hit is emitted as a
 *   copy of its first k bytes, k drawn from 0..length − 1 (a middlebox or a buggy stack cutting datagrams).
 *   DTLS and QUIC discard such a record or packet and recover as from a loss.
 *
 * ```
 * source (2-byte chunks):          -ab-cd-ef-|
 * truncate({ afterBytes: 3 }):     -ab-(c|)        then the source is unsubscribed
 * ```
 *
 * @example
 * ```ts
 * // The server's output stops after 10 000 bytes: the client's inbound$ errors with unexpectedEof.
 * faultyByteLink(serverEnd, { toPeer: truncate({ afterBytes: 10_000 }) });
 * // One datagram in ten arrives cut short.
 * datagrams$.pipe(truncate({ rate: 0.1, seed: 2 }));
 * ```
 *
 * @see faultyByteLink
 */
export function truncate(options: TruncateOptions): MonoTypeOperatorFunction<Uint8Array> {
  if ('afterBytes' in options) {
    const limit = options.afterBytes;
    if (!(Number.isInteger(limit) && limit >= 0)) throw misuse(`truncate: afterBytes must be an integer ≥ 0, got ${limit}`);
    return (source) =>
      new Observable<Uint8Array>((subscriber) => {
        let left = limit;
        if (left === 0) {
          subscriber.complete();
          return;
        }
        const subscription = source.subscribe({
          next: (chunk) => {
            if (chunk.length < left) {
              left -= chunk.length;
              subscriber.next(chunk);
              return;
            }
            subscriber.next(chunk.length === left ? chunk : chunk.subarray(0, left));
            left = 0;
            subscriber.complete(); // the subscriber's teardown unsubscribes the source
          },
          error: (err: unknown) => subscriber.error(err),
          complete: () => subscriber.complete(),
        });
        return subscription;
      });
  }
  return perChunk('truncate', options, (chunk, hit, emit, random) => {
    emit(hit && chunk.length > 0 ? chunk.slice(0, Math.floor(random() * chunk.length)) : chunk);
  });
}
