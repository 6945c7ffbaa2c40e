/**
 * Summarise a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per layer, so a missed
 * target is explained by measurement rather than a guess.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
}

/** Where a function lives, coarsely: which layer pays for the time. */
export type Layer =
  | 'crypto (noble)'
  | 'crypto (node:crypto)'
  | 'rxtls core (src/tls, src/wire, src/crypto)'
  | 'rxtls DTLS layer (src/dtls)'
  | 'rxtls rx layer (src/rx, operators)'
  | 'rxjs'
  | 'node internals (net, streams, buffers)'
  | 'garbage collector'
  | 'native/VM (program)'
  | 'benchmark harness'
  | 'other';

export interface ProfileSummary {
  /** Wall time covered by samples, minus TypeScript-loader startup, ms. */
  readonly totalMs: number;
  /** Share of that time the thread was idle (waiting for I/O or workers). */
  readonly idlePct: number;
  /** Per layer: share of busy (non-idle) time. */
  readonly layers: readonly { readonly layer: Layer; readonly pct: number }[];
  /** Top functions by self time, share of busy time. */
  readonly top: readonly { readonly fn: string; readonly layer: Layer; readonly pct: number }[];
}

function layerOf(f: CallFrame): Layer | 'idle' | 'loader' {
  const u = f.url;
  if (f.functionName === '(idle)') return 'idle';
  if (f.functionName === '(garbage collector)') return 'garbage collector';
  if (f.functionName === '(program)' || f.functionName === '(root)') return 'native/VM (program)';
  if (/typescript|ts-node|source-map|@cspotcode|acorn|internal\/modules|^node:vm$|internal\/bootstrap/.test(u)) return 'loader';
  if (u.includes('@noble')) return 'crypto (noble)';
  if (u.includes('internal/crypto')) return 'crypto (node:crypto)';
  if (/\/src\/(tls|wire|core|crypto)\//.test(u)) return 'rxtls core (src/tls, src/wire, src/crypto)';
  if (u.includes('/src/dtls/')) return 'rxtls DTLS layer (src/dtls)';
  if (/\/src\/rx\/|\/operators\//.test(u)) return 'rxtls rx layer (src/rx, operators)';
  if (u.includes('node_modules/rxjs')) return 'rxjs';
  if (u.startsWith('node:')) return 'node internals (net, streams, buffers)';
  if (u.includes('/bench/')) return 'benchmark harness';
  return 'other';
}

const shortUrl = (u: string) => u.replace(/^.*\/(node_modules\/|src\/|operators\/|bench\/)/, '$1').replace(/^file:\/\//, '');

/**
 * Summarise one profile file; with `window` ([start, end] in µs of the profile clock, `process.hrtime`), only
 * the samples inside it (the measured part of a task, not its setup).
 */
export function summarizeProfile(file: string, topN = 12, window?: readonly [number, number]): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (window && (t < window[0] || t > window[1])) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  let idle = 0;
  let busy = 0;
  const layers = new Map<Layer, number>();
  const fns = new Map<string, { layer: Layer; us: number }>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const layer = layerOf(f);
    if (layer === 'loader') continue;
    if (layer === 'idle') {
      idle += us;
      continue;
    }
    busy += us;
    layers.set(layer, (layers.get(layer) ?? 0) + us);
    const key = `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '(native)'}`;
    const e = fns.get(key) ?? { layer, us: 0 };
    e.us += us;
    fns.set(key, e);
  }
  const pct = (us: number) => Math.round((1000 * us) / Math.max(1, busy)) / 10;
  return {
    totalMs: (idle + busy) / 1000,
    idlePct: Math.round((1000 * idle) / Math.max(1, idle + busy)) / 10,
    layers: [...layers].sort((a, b) => b[1] - a[1]).map(([layer, us]) => ({ layer, pct: pct(us) })),
    top: [...fns]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, topN)
      .map(([fn, e]) => ({ fn, layer: e.layer, pct: pct(e.us) })),
  };
}

/**
 * The main-thread profile in a `--cpu-prof-dir`: every thread writes its own (the module-loader thread of
 * `--loader`, crypto workers), and only the main thread runs `bench/child.ts` (`child.js` compiled).
 */
export function mainProfileIn(dir: string): string | undefined {
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const prof = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
    if (prof.nodes.some((n) => /\/bench\/child\.[jt]s$/.test(n.callFrame.url))) return join(dir, f);
  }
  return undefined;
}
