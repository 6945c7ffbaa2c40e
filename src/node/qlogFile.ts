/**
 * `qlogToDirectory`: a Node sink that writes one connection's qlog events (`src/quic/qlog.ts`) to
 * `<dir>/<ODCID>.sqlog`, a JSON-SEQ file (RFC 7464) that qvis loads, as ngtcp2's `--qlog-dir` does.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { qlogHeader, qlogRecord, type QlogEvent, type QlogHeaderOptions } from '../quic/qlog.js';

/** What a connection writes its qlog to: each event, then `end()` once, when it is over. */
export interface QlogWriter {
  event(e: QlogEvent): void;
  end(): void;
}

/**
 * A {@link QlogWriter} for the connection `header` describes, writing `<dir>/<hex ODCID>.sqlog` (the directory
 * is created; an existing file of that name is replaced). The events of one reducer step come synchronously one
 * after another and are written together, synchronously, in a microtask after them: the file is current after
 * every step (a process killed mid-connection leaves what happened until then) and complete once the connection
 * closed. A write that fails is reported once with `console.warn` and the rest is
 * dropped: qlog is for debugging and never fails a connection.
 *
 * @example
 * ```ts
 * const w = qlogToDirectory('/tmp/qlog', { vantagePoint: 'client', odcid });
 * for (const e of step.effects) if (e.type === 'qlog') w.event(e.event);
 * w.end();
 * ```
 */
export function qlogToDirectory(dir: string, header: QlogHeaderOptions): QlogWriter {
  const path = join(dir, `${Buffer.from(header.odcid).toString('hex')}.sqlog`);
  let fd: number | undefined;
  let failed = false;
  let pending = qlogHeader(header);
  let scheduled = false;
  const fail = (err: unknown) => {
    failed = true;
    console.warn(`rxtls: cannot write the qlog to ${path}: ${err instanceof Error ? err.message : String(err)}`);
  };
  const flush = () => {
    if (failed || pending === '') return;
    try {
      if (fd === undefined) {
        mkdirSync(dir, { recursive: true });
        fd = openSync(path, 'w', 0o600);
      }
      writeSync(fd, pending);
    } catch (err) {
      fail(err);
    }
    pending = '';
  };
  const flushSoon = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      flush();
    });
  };
  return {
    event: (e) => {
      if (failed) return;
      pending += qlogRecord(e);
      flushSoon();
    },
    end: () => {
      flush();
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      failed = true; // nothing more after the end
    },
  };
}
