/** The layering rule: the public `operators/` re-export `src/`, never the other way round. */
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('nothing under src/ imports from operators/', (t) => {
  const offenders = sources('src').filter((file) => /from\s+['"][./]*operators\//.test(readFileSync(join(root, file), 'utf8')));
  t.deepEqual(offenders, []);
});
