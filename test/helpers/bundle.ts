/**
 * Spawned TypeScript entry points (the CLI, a client plan) as one bundled ES module each, built once per test
 * process with esbuild. Under ts-node every spawn transpiles the whole source tree at start-up: seconds on an
 * idle machine, tens of seconds when a dozen start together on two cores, which made readiness deadlines
 * flaky. The bundle starts in a fraction of a second and is built from the sources as they are now.
 *
 * Bundles live in `node_modules/.rxtls-test/`: bare imports of the dependencies resolve from the repository,
 * and the folder is two levels deep like `src/cli/` and `test/helpers/`, so the bundled modules'
 * `import.meta.url`-relative paths (the CLI's package.json, the test fixtures) still reach the root. One file
 * per entry and process, removed when the process exits.
 */
import { buildSync } from 'esbuild';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cacheDir = path.join(repoRoot, 'node_modules', '.rxtls-test');
const built = new Map<string, string>();

/** The path of a runnable bundle of `entry` (relative to the repository root), building it on first use. */
export function bundled(entry: string): string {
  const have = built.get(entry);
  if (have !== undefined) return have;
  mkdirSync(cacheDir, { recursive: true });
  const outfile = path.join(cacheDir, `${path.basename(entry, '.ts')}-${process.pid}-${built.size}.mjs`);
  buildSync({
    entryPoints: [path.join(repoRoot, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  if (built.size === 0) process.once('exit', () => built.forEach((file) => rmSync(file, { force: true })));
  built.set(entry, outfile);
  return outfile;
}

/** The argv that runs the TypeScript entry `entry` (relative to the repository root) as a bundle. */
export function bundledCommand(entry: string): [string, ...string[]] {
  return [process.execPath, '--no-warnings', '--enable-source-maps', bundled(entry)];
}
