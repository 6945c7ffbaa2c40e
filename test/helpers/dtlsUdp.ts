/**
 * One rxtls DTLS 1.3 connection (the sans-IO reducer of `src/dtls/connection.ts`) run over a real UDP socket
 * on 127.0.0.1 with real timers, for interop tests against other implementations. It depends on nothing but
 * the reducer: every datagram from the peer becomes a `datagram` input, every `transmit` effect one
 * `send`, and one `setTimeout` is armed at `nextDtlsTimeout` to feed `timeout`.
 *
 * A client sends to a given port; a server binds 127.0.0.1:0 and serves the first address that talks to it
 * (datagrams from anyone else are ignored). The whole run is bounded by `deadlineMs`: past it the connection
 * is aborted, the socket closed, and the promises still pending reject with the datagram trace.
 *
 * @example
 * const c = await startDtlsUdp({ config: clientConfig({ cipherSuites: ['TLS_AES_128_GCM_SHA256'] }), port });
 * const info = await c.handshake; c.write('hi\n'); await c.waitForData('pong'); c.dispose();
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { HandshakeInfo } from '../../src/core/types.js';
import type { TlsError } from '../../src/core/errors.js';
import { createDtlsConnection, handleDtlsEvents, nextDtlsTimeout, type DtlsState } from '../../src/dtls/connection.js';
import type { DtlsCloseMode, DtlsConfig, DtlsEffect, DtlsInput } from '../../src/dtls/types.js';
import { describeDtlsDatagram } from './udpRelay.js';
import type { TeardownOwner } from './peers.js';

/** Options of {@link startDtlsUdp}. */
export interface DtlsUdpOptions {
  readonly config: DtlsConfig;
  /** Client: the port on 127.0.0.1 to talk to. Ignored for a server. */
  readonly port?: number;
  /** Everything must be over by then (ms from the start; default 20 000). */
  readonly deadlineMs?: number;
  /** Disposes of it at the test's end. */
  readonly owner?: TeardownOwner;
}

/** A running endpoint. */
export interface DtlsUdp {
  /** Our local port (what a server's peer sends to). */
  readonly port: number;
  /** Resolves with the negotiated parameters; rejects if the connection closes first or the deadline passes. */
  readonly handshake: Promise<HandshakeInfo>;
  /** Resolves when the connection is over, with its error if it ended on one; never rejects. */
  readonly closed: Promise<TlsError | undefined>;
  /** Every effect so far, in order. */
  readonly effects: readonly DtlsEffect[];
  /** Application records received, in order. */
  readonly delivered: readonly Uint8Array[];
  /** The received application data as text (records concatenated). */
  text(): string;
  /** Wait until {@link text} matches `pattern` (rejects on close, deadline or `timeoutMs`). */
  waitForData(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  write(data: string | Uint8Array): void;
  end(): void;
  close(mode?: DtlsCloseMode): void;
  state(): DtlsState;
  /** Datagrams in (`<-`) and out (`->`) and effects, one a line, for assertion messages. */
  trace(): string;
  /** Stop everything (abort the connection, close the socket, clear the timers). Idempotent. */
  dispose(): Promise<void>;
}

/** Run one DTLS connection over a UDP socket on 127.0.0.1 (see the module notes). */
export async function startDtlsUdp(o: DtlsUdpOptions): Promise<DtlsUdp> {
  const role = o.config.role;
  if (role === 'client' && o.port === undefined) throw new Error('a DTLS client needs the port to talk to');
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const started = Date.now();
  const lines: string[] = [];
  const note = (s: string) => lines.push(`${String(Date.now() - started).padStart(6)} ms ${s}`);
  const effects: DtlsEffect[] = [];
  const delivered: Uint8Array[] = [];
  const decoder = new TextDecoder();
  let received = '';
  // A loopback round trip is known to be well under a millisecond: the first retransmission after 100 ms, as RFC
  // 9147 §5.8.2 allows with "deployment-specific information about the round trip time" (the default is 1000 ms),
  // keeps the lossy-relay tests within their deadlines. A config that sets it keeps its own.
  let state = createDtlsConnection({ retransmitInitial: 100, ...o.config });
  let peer: { address: string; port: number } | undefined = role === 'client' ? { address: '127.0.0.1', port: o.port! } : undefined;
  let timer: NodeJS.Timeout | undefined;
  let disposed = false;
  let closedWith: { error?: TlsError } | undefined;
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());

  let resolveHandshake!: (i: HandshakeInfo) => void;
  let rejectHandshake!: (e: Error) => void;
  const handshake = new Promise<HandshakeInfo>((res, rej) => {
    resolveHandshake = res;
    rejectHandshake = rej;
  });
  handshake.catch(() => undefined); // the test awaits it or not; never an unhandled rejection
  let resolveClosed!: (e: TlsError | undefined) => void;
  const closed = new Promise<TlsError | undefined>((res) => (resolveClosed = res));
  let handshakeDone = false;

  const trace = () => [...lines, `stats ${JSON.stringify(state.stats)} phase ${state.phase}`].join('\n');
  const failure = (why: string) => new Error(`${role}: ${why}\n--- ${role} trace\n${trace()}`);

  const step = (input: DtlsInput) => {
    if (disposed || closedWith) return;
    let out;
    try {
      out = handleDtlsEvents(state, input);
    } catch (e) {
      note(`THREW on ${input.type}: ${String(e)}`);
      finish(e as TlsError);
      throw e;
    }
    state = out.state;
    for (const e of out.effects) {
      effects.push(e);
      switch (e.type) {
        case 'transmit':
          note(`-> ${e.data.length} B: ${describeDtlsDatagram(e.data)}`);
          if (peer) socket.send(e.data, peer.port, peer.address);
          break;
        case 'deliver':
          delivered.push(e.data);
          received += decoder.decode(e.data, { stream: true });
          note(`deliver ${e.data.length} B`);
          break;
        case 'handshakeComplete':
          note(`handshakeComplete ${e.info.cipherSuite} ${e.info.group ?? ''}`);
          handshakeDone = true;
          resolveHandshake(e.info);
          break;
        case 'closed':
          note(`closed${e.error ? `: ${e.error.message}` : ''}`);
          finish(e.error);
          break;
        case 'alertSent':
        case 'alertReceived':
          note(`${e.type} level ${e.level} description ${e.description}`);
          break;
        case 'keyLog':
          break;
        default:
          note(e.type);
      }
    }
    notify();
    arm();
  };

  function arm(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (disposed || closedWith) return;
    const at = nextDtlsTimeout(state);
    if (at === undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      step({ type: 'timeout', now: Date.now() });
    }, Math.max(0, at - Date.now()));
  }

  function finish(error?: TlsError): void {
    if (closedWith) return;
    closedWith = { error };
    if (!handshakeDone) rejectHandshake(failure(`closed before the handshake completed${error ? `: ${error.message}` : ''}`));
    resolveClosed(error);
    if (timer) clearTimeout(timer);
    notify();
  }

  socket.on('message', (data, from) => {
    if (!peer) peer = { address: from.address, port: from.port };
    if (from.address !== peer.address || from.port !== peer.port) return;
    note(`<- ${data.length} B: ${describeDtlsDatagram(data)}`);
    step({ type: 'datagram', now: Date.now(), data: new Uint8Array(data.buffer, data.byteOffset, data.length) });
  });
  socket.on('error', (e) => note(`socket error: ${String(e)}`));

  const deadline = setTimeout(() => {
    note('DEADLINE');
    if (!closedWith) rejectHandshake(failure(`deadline of ${o.deadlineMs ?? 20_000} ms passed`));
    void api.dispose();
  }, o.deadlineMs ?? 20_000);

  const api: DtlsUdp = {
    port: (socket.address() as AddressInfo).port,
    handshake,
    closed,
    effects,
    delivered,
    text: () => received,
    waitForData(pattern, timeoutMs = 10_000) {
      const hit = () => (typeof pattern === 'string' ? received.includes(pattern) : pattern.test(received));
      return new Promise((resolve, reject) => {
        const done = () => {
          clearTimeout(t);
          listeners.delete(check);
        };
        const check = () => {
          if (hit()) {
            done();
            resolve(received);
          } else if (closedWith || disposed) {
            done();
            reject(failure(`closed before receiving ${String(pattern)}; received: ${JSON.stringify(received)}`));
          }
        };
        const t = setTimeout(() => {
          done();
          reject(failure(`timed out after ${timeoutMs} ms waiting for ${String(pattern)}; received: ${JSON.stringify(received)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    write: (data) => step({ type: 'write', now: Date.now(), data: typeof data === 'string' ? new TextEncoder().encode(data) : data }),
    end: () => step({ type: 'end', now: Date.now() }),
    close: (mode = 'quiet') => step({ type: 'close', now: Date.now(), mode }),
    state: () => state,
    trace,
    async dispose() {
      if (disposed) return;
      if (!closedWith) {
        try {
          step({ type: 'close', now: Date.now(), mode: 'abort' });
        } catch {
          /* reported in the trace */
        }
      }
      disposed = true;
      clearTimeout(deadline);
      if (timer) clearTimeout(timer);
      finish(closedWith?.error);
      await new Promise<void>((r) => socket.close(() => r()));
    },
  };
  o.owner?.teardown(() => api.dispose());
  step({ type: 'start', now: Date.now() });
  return api;
}
