/**
 * TLS 1.2 interop with GnuTLS 3.7 (`gnutls-serv` / `gnutls-cli`, priority limited to TLS 1.2). gnutls-serv
 * listens on every address, so each run puts the peer and rxtls together inside a private network namespace
 * (as `gnutls.test.ts` does). A namespace costs a Node start-up, so each one carries several connections:
 * the rxtls client side runs a plan of connections in one process (`test/helpers/clientPlan.ts`), the gnutls
 * client side a shell script of gnutls-cli runs against one rxtls CLI server.
 *
 * rxtls client → gnutls-serv --http (ECDSA and RSA certificates): every suite, resumption by ticket;
 * → gnutls-serv --echo: 10 MiB each way, key log equal to GnuTLS's (SSLKEYLOGFILE).
 * gnutls-cli → rxtls server: every suite (ECDSA and RSA certificates), resumption (`-r`), a refused
 * rehandshake (`-e`), key log equal to GnuTLS's, 10 MiB each way (`--echo`).
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NETNS_PORT, certPath, cliCommand, netnsPair, parseKeyLog, payload, requirePeer, sh, shCommand, tempDir, type NetnsPairResult } from '../helpers/peers.js';
import type { Plan, StepResult } from '../helpers/clientPlan.js';
import { bundledCommand } from '../helpers/bundle.js';
import { parseSummary } from '../../src/cli/args.js';

const TEST_MS = 110_000; // includes waiting for a slot
const NETNS_MS = 100_000;
const PORT = NETNS_PORT;
const MiB = 1024 * 1024;
const TLS12 = 'NORMAL:-VERS-ALL:+VERS-TLS1.2';

/** At most this many namespaces at once (each runs a Node process). */
const PARALLEL = 3;
let running = 0;
const queue: (() => void)[] = [];
async function limited<T>(f: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await f();
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** Suites: IANA name, OpenSSL name (our --ciphers), GnuTLS cipher and key exchange, the certificate. */
const SUITES = [
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'AES-128-GCM', 'ECDHE-ECDSA', 'ec'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'AES-256-GCM', 'ECDHE-ECDSA', 'ec'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'CHACHA20-POLY1305', 'ECDHE-ECDSA', 'ec'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES-128-GCM', 'ECDHE-RSA', 'rsa'],
  ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'AES-256-GCM', 'ECDHE-RSA', 'rsa'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305', 'CHACHA20-POLY1305', 'ECDHE-RSA', 'rsa'],
] as const;

/** The client plan runner (one Node process, many connections). */
const planCommand = (plan: Plan) => [...bundledCommand('test/helpers/clientPlan.ts'), JSON.stringify(plan)];

/** gnutls-serv on PORT with the ECDSA and RSA chains, TLS 1.2 only, `mode` (`--http` or `--echo`). */
function gnutlsServ(mode: string, env: readonly string[] = [], extra: readonly string[] = []): string[] {
  return [
    ...(env.length ? ['env', ...env] : []),
    requirePeer('gnutls-serv'),
    '-p',
    String(PORT),
    ...['ec', 'rsa'].flatMap((k) => ['--x509certfile', certPath(`server-${k}-chain.pem`), '--x509keyfile', certPath(`server-${k}-key.pem`)]),
    '--priority',
    TLS12,
    mode,
    '-a',
    ...extra,
  ];
}

const diag = (r: NetnsPairResult) =>
  `client exited ${r.clientCode}\n--- client stdout\n${r.clientStdout.slice(-4000)}\n--- client stderr\n${r.clientStderr.slice(-4000)}\n--- server\n${r.serverOutput.slice(-3000)}\n--- script\n${r.script.stderr}`;

/** The JSON lines of a plan run. */
const planResults = (r: NetnsPairResult): StepResult[] =>
  r.clientStdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as StepResult);

/** The GnuTLS session description, `(TLS1.2-X.509)-(ECDHE-X25519)-(ECDSA-SHA256)-(AES-128-GCM)`. */
const description = (text: string) => /\((TLS1\.[23])-X\.509\)-\([^)]*\)-\([^)]*\)-\([^)]*\)/.exec(text.replace(/<[^>]*>/g, '\n'))?.[0] ?? '';

// ---------------------------------------------------------------------------------------------------------
// rxtls client → gnutls-serv

test.serial('rxtls client ⇄ gnutls-serv --echo (TLS 1.2 only): resumption by ticket, every suite, 10 MiB each way, key log', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const keys = path.join(dir, 'gnutls.keys');
  const plan: Plan = {
    port: PORT,
    ca: certPath('ca-cert.pem'),
    steps: [
      { echoBytes: 100 },
      { echoBytes: 100 },
      // Each suite with a session key of its own: a full handshake each.
      ...SUITES.map(([, openssl], i) => ({ echoBytes: 100, options: { ciphers: openssl, sessionKey: `suite-${i}` } })),
      { echoBytes: 10 * MiB, options: { sessionKey: 'bulk' } },
    ],
  };
  const r = await limited(() =>
    netnsPair({
      // --crlf: echo the bytes as they are (by default gnutls-serv turns CRLF into LF).
      server: gnutlsServ('--echo', [`SSLKEYLOGFILE=${keys}`], ['--crlf']),
      port: PORT,
      serverReadyLine: 'listening on IPv4',
      client: planCommand(plan),
      timeoutMs: NETNS_MS,
      owner: t,
    }),
  );
  const results = planResults(r);
  t.is(results.length, plan.steps.length, diag(r));
  for (const res of results) {
    t.true(res.ok, `${res.error}\n${diag(r)}`);
    t.is(res.protocol, 'TLSv1.2');
    t.true(res.echoed);
  }
  const [first, second, ...rest] = results;
  t.false(first!.resumed);
  t.true(second!.resumed, 'the second connection resumes');
  // gnutls-serv describes each connection: one line per handshake, in order.
  const descriptions = [...r.serverOutput.matchAll(/^- Description: (.*)$/gm)].map((m) => m[1]!);
  SUITES.forEach(([suite, , cipher, kx], i) => {
    const s = rest[i]!;
    t.is(s.cipherSuite, suite);
    t.false(s.resumed);
    const d = descriptions[2 + i] ?? '';
    t.true(d.startsWith('(TLS1.2-X.509)') && d.endsWith(`-(${cipher})`), `${suite}: ${d}`);
    t.regex(s.peerSignatureScheme ?? '', kx === 'ECDHE-RSA' ? /^rsa_(pss_rsae|pkcs1)_sha256$/ : /^ecdsa_secp256r1_sha256$/, suite);
  });
  t.regex(r.serverOutput, /- Options: extended master secret, safe renegotiation/);
  // The key log of the 10 MiB connection: GnuTLS's line and ours.
  const bulk = results[results.length - 1]!;
  const ours = parseKeyLog(bulk.keyLog!.join('\n')).get('CLIENT_RANDOM');
  const theirs = parseKeyLog(readFileSync(keys, 'utf8')).get('CLIENT_RANDOM');
  t.is(ours?.size, 1);
  for (const [random, master] of ours!) t.is(theirs?.get(random), master);
});

// ---------------------------------------------------------------------------------------------------------
// gnutls-cli → rxtls CLI server

/** One gnutls-cli run of a script: its name, the extra priority and arguments, stdin, environment. */
interface CliRun {
  readonly name: string;
  readonly priority?: string;
  readonly args?: readonly string[];
  readonly stdin?: string;
  readonly env?: readonly string[];
  /** Seconds before it is killed (default 30). */
  readonly timeoutS?: number;
}

/** A bash script that runs each gnutls-cli in turn, each output between `=== name` / `=== rc N` markers. */
function cliScript(runs: readonly CliRun[], dir: string): string[] {
  const lines = runs.map((run, i) => {
    const input = path.join(dir, `in-${i}`);
    const argv = [
      ...(run.env?.length ? ['env', ...run.env] : []),
      requirePeer('gnutls-cli'),
      '-p',
      String(PORT),
      '127.0.0.1',
      '--x509cafile',
      certPath('ca-cert.pem'),
      '--verify-hostname',
      'localhost',
      '--priority',
      `${TLS12}${run.priority ?? ''}`,
      ...(run.args ?? []),
    ];
    return `echo ${sh(`=== ${run.name}`)}; timeout ${run.timeoutS ?? 30} ${shCommand(argv)} < ${sh(input)} 2>&1; echo "=== rc $?"`;
  });
  return ['bash', '-c', lines.join('\n')];
}

/** The output of each named run of {@link cliScript}. */
function sections(out: string): Map<string, { text: string; rc: number }> {
  const map = new Map<string, { text: string; rc: number }>();
  for (const part of out.split(/^=== (?!rc )/m).slice(1)) {
    const name = part.slice(0, part.indexOf('\n'));
    const rc = /^=== rc (\d+)$/m.exec(part);
    map.set(name, { text: part.slice(name.length + 1, rc ? rc.index : undefined), rc: rc ? Number(rc[1]) : -1 });
  }
  return map;
}

/** Run gnutls-cli `runs` against `rxtls server --tls1_2 …serverArgs` (cert `kind`) in one namespace. */
async function cliVsServer(t: ExecutionContext, kind: 'ec' | 'rsa', serverArgs: readonly string[], runs: readonly CliRun[], stdin: (run: CliRun) => string | Uint8Array) {
  const dir = tempDir(t);
  const { writeFileSync } = await import('node:fs');
  runs.forEach((run, i) => writeFileSync(path.join(dir, `in-${i}`), stdin(run)));
  const r = await limited(() =>
    netnsPair({
      server: [...cliCommand(), 'server', '--port', String(PORT), '--tls1_2', '--cert', certPath(`server-${kind}-chain.pem`), '--key', certPath(`server-${kind}-key.pem`), ...serverArgs],
      port: PORT,
      serverReadyLine: 'ACCEPT 127.0.0.1:',
      client: cliScript(runs, dir),
      timeoutMs: NETNS_MS,
      owner: t,
    }),
  );
  return { r, out: sections(r.clientStdout), dir };
}

test('gnutls-cli (TLS 1.2) → rxtls echo server, ECDSA: every suite, resumption (-r), refused rehandshake (-e), key log', async (t) => {
  t.timeout(TEST_MS);
  const dir = tempDir(t);
  const ourKeys = path.join(dir, 'rxtls.keys');
  const theirKeys = path.join(dir, 'gnutls.keys');
  const ecdsa = SUITES.filter(([, , , kx]) => kx === 'ECDHE-ECDSA');
  const runs: CliRun[] = [
    ...ecdsa.map(([suite, , cipher]) => ({ name: suite, priority: `:-CIPHER-ALL:+${cipher}`, ...(cipher === 'AES-128-GCM' ? { env: [`SSLKEYLOGFILE=${theirKeys}`] } : {}) })),
    { name: 'resume', args: ['-r'] },
    { name: 'rehandshake', args: ['-e'] },
  ];
  // Connections: one per suite, two for -r, one for -e.
  const { r, out } = await cliVsServer(t, 'ec', ['--echo', '--naccept', String(ecdsa.length + 3), '--keylog', ourKeys], runs, () => 'hello\n');
  for (const [suite, , cipher] of ecdsa) {
    const s = out.get(suite);
    t.truthy(s, diag(r));
    t.is(s!.rc, 0, `${suite}\n${s!.text}`);
    t.is(description(s!.text), `(TLS1.2-X.509)-(ECDHE-X25519)-(ECDSA-SHA256)-(${cipher})`);
    t.regex(s!.text, /^hello$/m);
  }
  const resume = out.get('resume')!;
  t.is(resume.rc, 0, resume.text);
  t.regex(resume.text, /\*\*\* This is a resumed session/);
  // GnuTLS asks to rehandshake; we refuse each attempt with a no_renegotiation warning, which it reports (it
  // retries a few times, then gives up on the rehandshake).
  const re = out.get('rehandshake')!;
  t.regex(re.text, /Received alert \[100\]: No renegotiation is allowed/, re.text);
  t.regex(re.text, /ReHandshake has failed/, re.text);
  // GnuTLS's CLIENT_RANDOM line and ours, for the connection that logged.
  const ours = parseKeyLog(readFileSync(ourKeys, 'utf8')).get('CLIENT_RANDOM')!;
  const theirs = parseKeyLog(readFileSync(theirKeys, 'utf8')).get('CLIENT_RANDOM')!;
  t.is(theirs.size, 1);
  for (const [random, master] of theirs) t.is(ours.get(random), master);
});

test.serial('gnutls-cli (TLS 1.2) ⇄ rxtls echo server: 10 MiB each way', async (t) => {
  t.timeout(TEST_MS);
  // Base64 text: gnutls-cli prints what comes back, and the test finds it in its output.
  const data = Buffer.from(payload(7.5 * MiB).toString('base64'));
  const { r, out } = await cliVsServer(t, 'ec', ['--echo', '--naccept', '1'], [{ name: 'bulk', priority: ':-CIPHER-ALL:+CHACHA20-POLY1305', timeoutS: 80 }], () => data);
  const bulk = out.get('bulk');
  t.truthy(bulk, diag(r));
  t.is(bulk!.rc, 0, bulk!.text.slice(0, 2000));
  t.is(parseSummary(r.serverOutput).Protocol, 'TLSv1.2', r.serverOutput);
  // gnutls-cli prints its session information, then the data echoed back.
  t.true(r.clientStdoutBytes.includes(data), 'the 10 MiB echo is in gnutls-cli\'s output');
});

test('gnutls-cli (TLS 1.2) → rxtls echo server, RSA: every suite', async (t) => {
  t.timeout(TEST_MS);
  const rsa = SUITES.filter(([, , , kx]) => kx === 'ECDHE-RSA');
  const runs = rsa.map(([suite, , cipher]) => ({ name: suite, priority: `:-CIPHER-ALL:+${cipher}` }));
  const { r, out } = await cliVsServer(t, 'rsa', ['--echo', '--naccept', String(rsa.length)], runs, () => 'hello\n');
  for (const [suite, , cipher] of rsa) {
    const s = out.get(suite);
    t.truthy(s, diag(r));
    t.is(s!.rc, 0, `${suite}\n${s!.text}`);
    t.is(description(s!.text), `(TLS1.2-X.509)-(ECDHE-X25519)-(RSA-PSS-RSAE-SHA256)-(${cipher})`);
    t.regex(s!.text, /^hello$/m);
  }
  t.is(parseSummary(r.serverOutput).Protocol, 'TLSv1.2', r.serverOutput);
});
