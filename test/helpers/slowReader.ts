/**
 * A slow reader of a QUIC stream whose writer sends the pattern "chunk i filled with i & 0xff": each chunk waits a
 * macrotask (so the writer is always ahead), every byte is checked against the pattern, then `onChunk` runs.
 */
import { lastValueFrom, map, timeout, timer, toArray } from 'rxjs';
import type { QuicStream } from '../../src/rx/quic.js';

export interface SlowReader {
  /** Bytes read so far, and whether every one matched the pattern. */
  readonly progress: { read: number; inOrder: boolean };
  /** Resolves when the stream ends (errors after `timeoutMs`). */
  readonly done: Promise<unknown>;
}

export function slowPatternReader(stream: QuicStream, chunk: number, timeoutMs: number, onChunk: () => void): SlowReader {
  const progress = { read: 0, inOrder: true };
  const done = lastValueFrom(
    stream
      .receive((c) =>
        timer(0).pipe(
          map(() => {
            for (const b of c) if (b !== (Math.floor(progress.read++ / chunk) & 0xff)) progress.inOrder = false;
            onChunk();
          }),
        ),
      )
      .pipe(toArray(), timeout(timeoutMs)),
  );
  return { progress, done };
}
