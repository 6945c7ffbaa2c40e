/**
 * Echo with end-to-end backpressure: a connection's inbound data as an `AsyncIterable` to hand to its own
 * `send()`. `send()` pulls an iterable only while the transport is writable, and `receive()` pauses reading
 * while a chunk waits to be pulled, so a peer that writes faster than it reads is slowed down instead of
 * filling memory (or tripping `maxOutboundBuffer`, as `send(conn.inbound$)` does).
 *
 * @example
 * ```ts
 * conn.send(inboundSource(conn)).subscribe(); // echo until the peer's close_notify, then ours
 * ```
 */
import type { TlsConnection } from '../rx/types.js';

/** Hooks and limits of {@link inboundSource}. */
export interface InboundSourceOptions {
  /** Called with every received chunk, in order (also after `stopAfterBytes`). */
  readonly onData?: (chunk: Uint8Array) => void;
  /** Called once when the inbound direction ends: no argument at the peer's close_notify, else the error. */
  readonly onEnd?: (error?: unknown) => void;
  /**
   * End the iteration (so `send()` sends close_notify) once this many bytes were yielded; later data is still
   * read (and given to `onData`) until the peer's close_notify.
   */
  readonly stopAfterBytes?: number;
}

/** The inbound data of `conn` as an AsyncIterable (subscribes `conn.receive` on the first pull). */
export function inboundSource(conn: TlsConnection, o: InboundSourceOptions = {}): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const waiting: { chunk: Uint8Array; taken: () => void }[] = [];
      let ended = false;
      let failure: unknown;
      let draining = false; // the iteration is over: projections complete at once
      let yielded = 0;
      let wake: (() => void) | undefined;
      const poke = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      conn
        .receive(
          (chunk) =>
            new Promise<void>((taken) => {
              o.onData?.(chunk);
              if (draining) return taken();
              waiting.push({ chunk, taken });
              poke();
            }),
        )
        .subscribe({
          complete: () => {
            ended = true;
            o.onEnd?.();
            poke();
          },
          error: (err: unknown) => {
            ended = true;
            failure = err;
            o.onEnd?.(err);
            poke();
          },
        });
      const finish = (): IteratorReturnResult<undefined> => {
        draining = true;
        for (const w of waiting.splice(0)) w.taken();
        return { value: undefined, done: true };
      };
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          if (draining) return { value: undefined, done: true };
          if (o.stopAfterBytes !== undefined && yielded >= o.stopAfterBytes) return finish();
          while (waiting.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
          const w = waiting.shift();
          if (w) {
            w.taken();
            yielded += w.chunk.length;
            return { value: w.chunk, done: false };
          }
          if (failure !== undefined) throw failure;
          return finish();
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          return finish();
        },
      };
    },
  };
}
