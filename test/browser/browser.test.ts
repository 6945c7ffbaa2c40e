/**
 * The portable core in a browser: (a) the `rxtls/browser` entry (src/browser.ts) bundles with esbuild for
 * `platform: 'browser'` with nothing external and no Node built-in in the output, and nothing under src/ outside
 * src/rx/, src/node/ and src/cli/ imports a `node:` module; (b) headless Chromium runs a TLS 1.3 handshake and an
 * echo between an rxtls client and an rxtls server (test/browser/page.ts) over an in-memory pipe, with the
 * server chains verified against the test CA by the portable verifier, and a chain under another CA refused.
 *
 * Chromium is the Debian `chromium` package (`.ci/run` installs it). A missing Chromium fails the test, in CI
 * and locally: it never skips.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromiumDumpDomArgs } from '../helpers/peers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const certs = join(root, 'test/fixtures/certs');
const read = (file: string): string => readFileSync(join(certs, file), 'utf8');

/** Node built-ins as a bundle could reference them: `node:` specifiers or bare names in require/import. */
const BUILTINS = ['fs', 'crypto', 'net', 'tls', 'os', 'path', 'buffer', 'worker_threads', 'child_process', 'stream', 'url', 'util', 'events', 'dgram', 'http', 'https', 'zlib'];
const BUILTIN_USE = new RegExp(
  String.raw`(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](?:node:[\w/]+|(?:${BUILTINS.join('|')})(?:/[\w/]*)?)["']`,
);

const tmp = mkdtempSync(join(tmpdir(), 'rxtls-browser-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

test('no module under src/ outside rx/, node/ and cli/ imports a node: module', (t) => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) {
        const rel = relative(root, path);
        if (/^src\/(rx|node|cli)\//.test(rel)) continue;
        if (/from\s+['"]node:|import\s*\(\s*['"]node:/.test(readFileSync(path, 'utf8'))) offenders.push(rel);
      }
    }
  };
  walk(join(root, 'src'));
  t.deepEqual(offenders, []);
});

test('the browser entry bundles for platform browser with nothing external and no Node built-in', async (t) => {
  const result = await build({
    entryPoints: [join(root, 'src/browser.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  t.deepEqual(result.errors, []);
  const out = result.outputFiles[0]!.text;
  t.true(out.length > 10_000);
  t.false(BUILTIN_USE.test(out), `a Node built-in in the bundle: ${BUILTIN_USE.exec(out)?.[0]}`);
  const inputs = Object.keys(result.metafile.inputs);
  t.deepEqual(inputs.filter((p) => /^src\/node\/|^node:|^src\/cli\//.test(p)), []);
  for (const output of Object.values(result.metafile.outputs)) {
    t.deepEqual(output.imports.filter((i) => i.external), [], 'nothing is left external');
  }
  // The check itself: the Node entry does not bundle for the browser, because of its node: imports.
  const err = await t.throwsAsync(() =>
    build({ entryPoints: [join(root, 'src/index.ts')], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' }),
  );
  t.regex(String(err?.message), /node:/);
});

/** Chromium's path, or undefined. */
function findChromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

/** Run headless Chromium on `url` and return the DOM it dumps; killed (with its children) after `timeoutMs`. */
function dumpDom(chromium: string, url: string, timeoutMs: number): Promise<string> {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const child = spawn(
    chromium,
    chromiumDumpDomArgs(profile, url, ['--allow-file-access-from-files', '--virtual-time-budget=20000']),
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: profile } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      reject(new Error(`chromium did not finish within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (stdout.includes('RXTLS-RESULT:') || code === 0) resolve(stdout);
      else reject(new Error(`chromium exited with ${code}; stderr: ${stderr.slice(-2000)}`));
    });
  });
}

test('headless Chromium: TLS 1.3 handshake and echo between rxtls client and server, chain verified against the test CA', async (t) => {
  const chromium = findChromium();
  if (!chromium) {
    // Like every real peer of the suite, a missing browser fails the test: it never skips.
    return t.fail(
      process.env.CI === 'true'
        ? 'chromium is not installed (CI=true): .ci/run installs the Debian chromium package'
        : 'chromium is not on PATH: install it (apt-get install -y chromium); the browser test never skips',
    );
  }
  const servers = ['server-rsa', 'server-ec'].map((name) => ({ name, chain: read(`${name}-chain.pem`), key: read(`${name}-key.pem`) }));
  const fixtures = { ca: read('ca-cert.pem'), otherCa: read('other-ca-cert.pem'), servers, now: Date.UTC(2027, 6, 1) };
  const bundle = await build({
    entryPoints: [join(root, 'test/browser/page.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    define: { RXTLS_FIXTURES: JSON.stringify(fixtures) },
  });
  const js = bundle.outputFiles[0]!.text;
  t.false(BUILTIN_USE.test(js), 'the page bundle has no Node built-in');
  writeFileSync(join(tmp, 'page.js'), js);
  writeFileSync(join(tmp, 'page.html'), '<!doctype html><html><head><meta charset="utf-8"><title>rxtls</title></head><body><script src="page.js"></script></body></html>\n');

  const dom = await dumpDom(chromium, `file://${join(tmp, 'page.html')}`, 90_000);
  const m = /RXTLS-RESULT:([A-Za-z0-9+/=]+):END/.exec(dom);
  if (!m) return t.fail(`no result in the page: ${dom.slice(0, 2000)}`);
  const result = JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8'));
  t.log(`${result.userAgent}`);
  t.is(result.error, undefined, result.error);
  t.false(result.hasProcess, 'the page is a browser, not Node');
  t.is(result.outcomes.length, 2);
  for (const o of result.outcomes) {
    t.true(o.connected, `${o.name}: ${o.clientError}`);
    t.is(o.verification, 'ok', o.name);
    t.is(o.peerSubject, 'CN=localhost', o.name);
    t.is(o.echo, `hello from the browser over ${o.name}`);
  }
  t.is(result.outcomes[0].peerSignatureScheme, 'rsa_pss_rsae_sha256', 'RSA-PSS CertificateVerify signed and verified in pure JS');
  t.false(result.refused.connected);
  t.is(result.refused.clientErrorCode, 'unknown_ca');
  t.is(result.refused.alert, 48);
  // The RxJS layer too: the portable secure() operator on both ends of a memory duplex, verified, echoing.
  t.is(result.secured?.verification, 'ok');
  t.is(result.secured?.echo, 'hello through secure() in the browser');
});
