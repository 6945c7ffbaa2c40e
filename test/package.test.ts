/**
 * The published entry points (package.json `exports`, `main`, `types`, `bin`) exist: each `dist/…` path is
 * built from a source file that is here, and each entry exposes what its documentation promises.
 */
import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';

const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | { types: string; default: string; browser?: string }>;
};

/** `./dist/src/x/index.js` (or `.d.ts`) → the source it is compiled from, `src/x/index.ts`. */
const sourceOf = (distPath: string) => distPath.replace(/^\.\/dist\//, '').replace(/\.d\.ts$|\.js$/, '.ts');

test('every dist path in package.json is compiled from a source file that exists', (t) => {
  const paths = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
  for (const e of Object.values(pkg.exports)) if (typeof e !== 'string') paths.push(e.types, e.default, ...(e.browser ? [e.browser] : []));
  for (const p of paths.filter((x) => x.startsWith('./dist/'))) {
    t.true(existsSync(new URL(sourceOf(p), root)), `${p} ← ${sourceOf(p)}`);
  }
});

test('the entry points expose the documented API', async (t) => {
  const main = await import('../src/index.js');
  const core = await import('../src/core/index.js');
  const operators = await import('../operators/index.js');
  for (const name of ['connect', 'listen', 'createConnection', 'handleEvents', 'nextTimeout', 'writeBacklog', 'createWorkerPoolProvider', 'setDefaultProvider']) {
    t.is(typeof (main as Record<string, unknown>)[name], 'function', `rxtls exports ${name}`);
  }
  for (const name of ['createConnection', 'handleEvents', 'nextTimeout', 'shutdownState', 'writeBacklog', 'handshakeInfo']) {
    t.is(typeof (core as Record<string, unknown>)[name], 'function', `rxtls/core exports ${name}`);
  }
  t.is(typeof core.TlsError, 'function', 'rxtls/core exports TlsError');
  t.is(typeof main.nodeProvider.aead, 'function', 'rxtls exports the node:crypto provider');
  for (const name of ['secure', 'runReducer']) t.is(typeof (operators as Record<string, unknown>)[name], 'function', `rxtls/operators exports ${name}`);
});

test('rxtls/browser (and the browser condition of rxtls) and rxtls/node expose the portable and the Node-only parts', async (t) => {
  const root = pkg.exports['.'];
  t.is(typeof root === 'string' ? undefined : root.browser, './dist/src/browser.js');
  const browser = (await import('../src/browser.js')) as Record<string, unknown>;
  for (const name of ['createConnection', 'handleEvents', 'nextTimeout', 'createVerifier', 'loadPrivateKey', 'loadCertificateChain', 'parsePem', 'memoryDuplexPair', 'runReducer', 'certificateAlert']) {
    t.is(typeof browser[name], 'function', `rxtls/browser exports ${name}`);
  }
  t.is(typeof browser.nobleProvider, 'object');
  t.is(browser.nodeProvider, undefined, 'no node:crypto in the browser entry');
  const node = (await import('../src/node/index.js')) as Record<string, unknown>;
  for (const name of ['createWorkerPoolProvider', 'createVerifier', 'createNodeX509Verifier', 'systemRootCertificates', 'signWithKeyObject', 'readPrivateKeyFile']) {
    t.is(typeof node[name], 'function', `rxtls/node exports ${name}`);
  }
});

test('rxtls/core holds the sans-IO reducers of every protocol: TLS, QUIC, DTLS and the handshake engine', async (t) => {
  const core = (await import('../src/core/index.js')) as Record<string, unknown>;
  for (const name of ['createQuicConnection', 'handleQuicEvents', 'nextQuicTimeout', 'createDtlsConnection', 'handleDtlsEvents', 'nextDtlsTimeout', 'isDtlsCommitted', 'createHandshake', 'startHandshake', 'handshakeData', 'updateTrafficKeys', 'alertFor', 'quicCloseFor']) {
    t.is(typeof core[name], 'function', `rxtls/core exports ${name}`);
  }
  for (const name of ['Epoch', 'TlsCloseMode', 'QuicCloseMode', 'TlsTimer', 'QuicTimer', 'DtlsTimer']) t.is(typeof core[name], 'object', `rxtls/core exports ${name}`);
});

test('internals are not exported: protocol-abort plumbing and option converters stay inside', async (t) => {
  const entries = {
    rxtls: (await import('../src/index.js')) as Record<string, unknown>,
    'rxtls/core': (await import('../src/core/index.js')) as Record<string, unknown>,
    'rxtls/operators': (await import('../operators/index.js')) as Record<string, unknown>,
    'rxtls/browser': (await import('../src/browser.js')) as Record<string, unknown>,
  };
  for (const [entry, mod] of Object.entries(entries)) {
    for (const name of ['fail', 'abort', 'ProtocolAbort', 'assertNever', 'toClientConfig', 'toServerConfig', 'toConnectionSettings', 'toTransportError']) {
      t.false(name in mod, `${entry} does not export ${name}`);
    }
  }
});

test('DTLS: rxtls exports dtlsConnect/dtlsListen; rxtls/operators and rxtls/browser export secureDatagrams and the memory link', async (t) => {
  const main = (await import('../src/index.js')) as Record<string, unknown>;
  const operators = (await import('../operators/index.js')) as Record<string, unknown>;
  const operatorsBrowser = (await import('../operators/browser.js')) as Record<string, unknown>;
  const browser = (await import('../src/browser.js')) as Record<string, unknown>;
  for (const name of ['dtlsConnect', 'dtlsListen', 'secureDatagrams', 'memoryDatagramPair']) t.is(typeof main[name], 'function', `rxtls exports ${name}`);
  for (const mod of [operators, operatorsBrowser]) for (const name of ['secureDatagrams', 'secureDatagramsOn']) t.is(typeof mod[name], 'function', `operators export ${name}`);
  for (const name of ['secureDatagrams', 'secureDatagramsOn', 'memoryDatagramPair']) t.is(typeof browser[name], 'function', `rxtls/browser exports ${name}`);
  t.is(browser.dtlsConnect, undefined, 'no UDP sockets in the browser entry');
  for (const name of ['toDtlsClientConfig', 'toDtlsServerConfig', 'secureDatagramDuplex', 'toDtlsSettings']) t.false(name in main, `rxtls does not export ${name}`);
});

test('Proxies: rxtls/operators exports splice, terminate, originate (splice in the browser build too); rxtls/node exports the Node bridges', async (t) => {
  const operators = (await import('../operators/index.js')) as Record<string, unknown>;
  const operatorsBrowser = (await import('../operators/browser.js')) as Record<string, unknown>;
  const node = (await import('../src/node/index.js')) as Record<string, unknown>;
  for (const name of ['splice', 'terminate', 'originate', 'toEndpoint', 'plainDuplex']) t.is(typeof operators[name], 'function', `rxtls/operators exports ${name}`);
  t.is(typeof operatorsBrowser.splice, 'function', 'the browser build of rxtls/operators exports splice');
  for (const name of ['toNodeDuplex', 'fromNodeDuplex']) t.is(typeof node[name], 'function', `rxtls/node exports ${name}`);
});
