/**
 * The release queue behind the time-based fault operators (`latency`, timed `reorder`): chunks wait with a due
 * time and are emitted, in due order (ties in arrival order), by one scheduler action armed at the earliest due
 * time. One action rather than one per chunk, so chunks due at the same frame keep their order on any
 * scheduler; the source's completion is held until the queue is empty.
 */
import { Subscription, type SchedulerLike, type Subscriber } from 'rxjs';

/** A queue of chunks released at their due times to `subscriber` (see the module comment). */
export interface TimedQueue {
  /** Queue `chunk` for `scheduler.now() + wait` ms. */
  add(chunk: Uint8Array, wait: number): void;
  /** The source completed: complete once everything queued is out. */
  end(): void;
  /** Due time (scheduler ms) of the last chunk queued so far, or `-Infinity`. */
  readonly lastDue: number;
  /** The armed action, for the operator's teardown. */
  readonly subscription: Subscription;
}

export function timedQueue(subscriber: Subscriber<Uint8Array>, scheduler: SchedulerLike): TimedQueue {
  const waiting: { readonly due: number; readonly chunk: Uint8Array }[] = [];
  let armed: Subscription | undefined;
  const subscription = new Subscription(() => armed?.unsubscribe());
  let armedAt = Infinity;
  let ended = false;
  let lastDue = -Infinity;
  const release = () => {
    armed = undefined;
    armedAt = Infinity;
    const now = scheduler.now();
    while (waiting.length > 0 && waiting[0]!.due <= now) subscriber.next(waiting.shift()!.chunk);
    if (waiting.length > 0) arm();
    else if (ended) subscriber.complete();
  };
  const arm = () => {
    const due = waiting[0]!.due;
    if (armed && armedAt <= due) return;
    armed?.unsubscribe();
    armedAt = due;
    armed = scheduler.schedule(release, Math.max(0, due - scheduler.now()));
  };
  return {
    add: (chunk, wait) => {
      const due = scheduler.now() + wait;
      lastDue = Math.max(lastDue, due);
      // Insert after every chunk due at or before it (stable for equal due times).
      let i = waiting.length;
      while (i > 0 && waiting[i - 1]!.due > due) i--;
      waiting.splice(i, 0, { due, chunk });
      arm();
    },
    end: () => {
      ended = true;
      if (waiting.length === 0) subscriber.complete();
    },
    get lastDue() {
      return lastDue;
    },
    subscription,
  };
}
