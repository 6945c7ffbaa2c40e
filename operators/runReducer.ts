/**
 * `runReducer`: the one place where a sans-IO reducer meets time, as a public pipeable operator. The
 * implementation lives in `src/rx/runReducer.ts` (the TLS and QUIC adapters use it there).
 */
export { runReducer, type Pending, type PendingInput, type ReducerSpec, type Ticker } from '../src/rx/runReducer.js';
