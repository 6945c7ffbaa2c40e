/**
 * Where the benchmarks run from. `npm run bench` compiles the library and `bench/` to `.bench/` and runs the
 * JavaScript: the code users run. Under a TypeScript loader (`node --loader=ts-node/esm bench/x.ts`, handy
 * while working) the same scripts run from source; measured on the worker pool, the loader costs a third of
 * the throughput, so published numbers come from the compiled run.
 */
import { existsSync, symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when this module runs compiled (from `.bench/bench/`), false under a TypeScript loader. */
export const COMPILED = import.meta.url.endsWith('.js');

/** The URL of a file of the repository, by its path from the repository's root. */
export const repoUrl = (rel: string): URL => new URL(`${COMPILED ? '../../' : '../'}${rel}`, import.meta.url);

/** The path of a file of the repository, by its path from the repository's root. */
export const repoPath = (rel: string): string => fileURLToPath(repoUrl(rel));

/** The path of benchmark script `name` (no extension) as this run has it: compiled or source. */
export const scriptPath = (name: string): string => fileURLToPath(new URL(`./${name}.${COMPILED ? 'js' : 'ts'}`, import.meta.url));

/** Node flags a child needs to load `bench/` scripts as this run does (the TypeScript loader, or none). */
export const LOADER_FLAGS: readonly string[] = COMPILED ? [] : ['--loader=ts-node/esm'];

/**
 * Compiled, the test helpers some benchmarks share (`.bench/test/helpers/`) look for the certificates next to
 * themselves: link `.bench/test/fixtures` to the repository's. Called once by `run.ts`.
 */
export function linkFixtures(): void {
  if (!COMPILED) return;
  const link = fileURLToPath(new URL('../test/fixtures', import.meta.url));
  if (!existsSync(link)) symlinkSync(repoPath('test/fixtures'), link, 'dir');
}
