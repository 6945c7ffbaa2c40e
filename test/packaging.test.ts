/**
 * The package as a user gets it: `npm pack` (which builds `dist/` through `prepare`), the tarball unpacked into
 * a scratch app's `node_modules/rxtls` (its dependencies linked from this checkout's `node_modules`, so no
 * registry is needed), then:
 * - the tarball holds LICENSE, README.md, the built entry points, and the sources every source map names;
 * - a file importing every entry point type-checks under `moduleResolution: NodeNext` and `node10`
 *   (`typesVersions`), with this checkout's tsc;
 * - every entry point loads in Node from the app.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeRun, repoRoot, run, tempDir } from './helpers/peers.js';

const MS = 120_000;
const ENTRIES = ['rxtls', 'rxtls/core', 'rxtls/operators', 'rxtls/browser', 'rxtls/node'] as const;

const APP = `import { connect, listen, describeCertificate, type ConnectOptions, type ConnectionInfo, type TlsConnection } from 'rxtls';
import { createConnection, handleEvents, TlsError } from 'rxtls/core';
import { secure } from 'rxtls/operators';
import { secureOn, createVerifier } from 'rxtls/browser';
import { nodeProvider } from 'rxtls/node';

const options: ConnectOptions = { host: 'localhost', port: 443, checkServerIdentity: (_host, cert) => (cert.fingerprint256 ? undefined : new Error('no')) };
export const uses = [connect, listen, describeCertificate, createConnection, handleEvents, TlsError, secure, secureOn, createVerifier, nodeProvider, options];
export function material(conn: TlsConnection): Uint8Array {
  const info: ConnectionInfo = conn.info;
  return conn.exportKeyingMaterial(32, info.peerCertificate?.subject ?? 'EXPORTER-x');
}
`;

/** All files under `dir`, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p, base) : [path.relative(base, p)];
  });
}

test('npm pack → a scratch app: contents, source maps, types under NodeNext and node10, every entry loads', async (t) => {
  t.timeout(MS);
  const scratch = tempDir(t);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const packed = await run(npm, ['pack', '--json', '--pack-destination', scratch], { cwd: repoRoot, timeoutMs: MS - 30_000, owner: t });
  t.is(packed.code, 0, describeRun('npm pack', packed));
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [{ filename: string }];
  const tarball = path.join(scratch, info.filename);

  const app = path.join(scratch, 'app');
  const modules = path.join(app, 'node_modules');
  mkdirSync(modules, { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', modules]);
  renameSync(path.join(modules, 'package'), path.join(modules, 'rxtls'));
  const pkgDir = path.join(modules, 'rxtls');
  for (const dep of ['@noble', 'rxjs', '@types']) symlinkSync(path.join(repoRoot, 'node_modules', dep), path.join(modules, dep));

  // Contents: the license and readme, the entry points, and a source file for every source map.
  const files = walk(pkgDir);
  for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/operators/index.js', 'src/index.ts']) {
    t.true(files.includes(f), `${f} is in the tarball`);
  }
  t.false(files.some((f) => f.startsWith('test/') || f.startsWith('dist/test/')), 'no tests shipped');
  const maps = files.filter((f) => f.endsWith('.js.map'));
  t.true(maps.length > 50);
  const missing = maps.flatMap((m) => {
    const map = JSON.parse(readFileSync(path.join(pkgDir, m), 'utf8')) as { sources: string[]; sourceRoot?: string };
    return map.sources.map((s) => path.resolve(path.dirname(path.join(pkgDir, m)), map.sourceRoot ?? '', s)).filter((s) => !existsSync(s));
  });
  t.deepEqual(missing, [], 'every source map points at a shipped source');

  // Types: one file importing every entry point, checked under both resolutions.
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(path.join(app, 'app.ts'), APP);
  const common = { strict: true, noEmit: true, target: 'ES2022', lib: ['ES2022', 'DOM'], types: ['node'], skipLibCheck: false };
  writeFileSync(path.join(app, 'tsconfig.nodenext.json'), JSON.stringify({ compilerOptions: { ...common, module: 'NodeNext', moduleResolution: 'NodeNext' }, files: ['app.ts'] }));
  writeFileSync(path.join(app, 'tsconfig.node10.json'), JSON.stringify({ compilerOptions: { ...common, module: 'ESNext', moduleResolution: 'node10' }, files: ['app.ts'] }));
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const config of ['tsconfig.nodenext.json', 'tsconfig.node10.json']) {
    const r = await run(process.execPath, [tsc, '-p', config], { cwd: app, timeoutMs: 60_000, owner: t });
    t.is(r.code, 0, describeRun(`tsc -p ${config}`, r));
  }

  // Runtime: each entry point loads from the app.
  const load = `for (const e of ${JSON.stringify(ENTRIES)}) { const m = await import(e); if (Object.keys(m).length === 0) throw new Error(e + ' is empty'); } console.log('ok');`;
  const r = await run(process.execPath, ['--input-type=module', '-e', load], { cwd: app, timeoutMs: 30_000, owner: t });
  t.is(r.stdout.trim(), 'ok', describeRun('node -e import(…)', r));
});
