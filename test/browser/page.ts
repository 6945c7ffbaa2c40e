/**
 * The script of the browser test page (bundled by test/browser/browser.test.ts with esbuild, platform browser):
 * an rxtls client and an rxtls server, both from the browser entry, complete a TLS 1.3 handshake over an
 * in-memory pipe (the sans-IO core driven in a loop), the client verifying the server's chain against the test
 * CA with the portable verifier; the server echoes what the client writes. It also checks that a chain under
 * another CA is refused with unknown_ca. The result goes into the page as `RXTLS-RESULT:<base64 JSON>:END`.
 */
import { asyncScheduler, firstValueFrom, of, type SchedulerLike } from 'rxjs';
import {
  createConnection,
  memoryDuplexPair,
  secure,
  createVerifier,
  handleEvents,
  handshakeInfo,
  isConnected,
  loadCertificateChain,
  loadPrivateKey,
  type TlsEffect as Effect,
  type TlsInput as Input,
  type TlsState,
} from '../../src/browser.js';

/** Injected by the bundler (`define`): PEM fixtures and a time inside their validity. */
declare const RXTLS_FIXTURES: {
  readonly ca: string;
  readonly otherCa: string;
  readonly servers: readonly { readonly name: string; readonly chain: string; readonly key: string }[];
  readonly now: number;
};

interface Outcome {
  readonly name: string;
  readonly connected: boolean;
  readonly verification?: string;
  readonly cipherSuite?: string;
  readonly peerSubject?: string;
  readonly peerSignatureScheme?: string;
  readonly echo: string;
  readonly clientError?: string;
  readonly clientErrorCode?: string;
  readonly alert?: number;
}

function handshakeAndEcho(name: string, chainPem: string, keyPem: string, caPem: string): Outcome {
  const now = RXTLS_FIXTURES.now;
  const state: Record<'client' | 'server', TlsState> = {
    client: createConnection({ role: 'client', serverName: 'localhost', verifier: createVerifier({ ca: caPem }) }),
    server: createConnection({ role: 'server', certificateChain: loadCertificateChain(chainPem), privateKey: loadPrivateKey(keyPem) }),
  };
  const inbox: Record<'client' | 'server', Uint8Array[]> = { client: [], server: [] };
  const echoed: Uint8Array[] = [];
  let closed: Extract<Effect, { type: 'closed' }> | undefined;
  const feed = (side: 'client' | 'server', input: Input): void => {
    const step = handleEvents(state[side], input);
    state[side] = step.state;
    for (const e of step.effects) {
      if (e.type === 'transmit') inbox[side === 'client' ? 'server' : 'client'].push(e.data);
      else if (e.type === 'deliver' && side === 'server') feed('server', { type: 'write', now, data: e.data }); // echo
      else if (e.type === 'deliver') echoed.push(e.data);
      else if (e.type === 'closed' && side === 'client') closed = e;
    }
  };
  const drive = (): void => {
    for (let round = 0; round < 100; round++) {
      let moved = false;
      for (const side of ['server', 'client'] as const) {
        for (const data of inbox[side].splice(0)) {
          moved = true;
          feed(side, { type: 'received', now, data });
        }
      }
      if (!moved) return;
    }
    throw new Error('the pair did not settle');
  };
  feed('server', { type: 'start', now });
  feed('client', { type: 'start', now });
  drive();
  const connected = isConnected(state.client);
  if (connected) {
    feed('client', { type: 'write', now, data: new TextEncoder().encode(`hello from the browser over ${name}`) });
    drive();
  }
  const info = handshakeInfo(state.client);
  let echo = '';
  for (const chunk of echoed) echo += new TextDecoder().decode(chunk, { stream: true });
  const detail = closed?.error?.detail;
  return {
    name,
    connected,
    echo,
    ...(info ? { verification: info.verification, cipherSuite: info.cipherSuite } : {}),
    ...(info?.peerSubject ? { peerSubject: info.peerSubject } : {}),
    ...(info?.peerSignatureScheme ? { peerSignatureScheme: info.peerSignatureScheme } : {}),
    ...(closed?.error ? { clientError: closed.error.message } : {}),
    ...(detail?.kind === 'certificate' ? { clientErrorCode: detail.code, alert: detail.alert } : {}),
  };
}

/**
 * The same over the RxJS layer: the portable `secure` operator on both ends of a memory duplex pair, the
 * client verifying against `ca`, the server echoing with `conn.send(conn.inbound$)`. Time comes from a
 * scheduler whose clock reads the fixtures' `now`.
 */
async function viaSecure(chainPem: string, keyPem: string, caPem: string): Promise<{ verification: string; echo: string }> {
  const scheduler: SchedulerLike = { now: () => RXTLS_FIXTURES.now, schedule: asyncScheduler.schedule.bind(asyncScheduler) };
  const [clientEnd, serverEnd] = memoryDuplexPair();
  of(serverEnd)
    .pipe(secure({ role: 'server', cert: chainPem, key: keyPem, scheduler }))
    .subscribe((conn) => conn.send(conn.inbound$).subscribe());
  const conn = await firstValueFrom(of(clientEnd).pipe(secure({ role: 'client', servername: 'localhost', ca: caPem, scheduler })));
  const text = 'hello through secure() in the browser';
  const echoed = firstValueFrom(conn.inbound$);
  conn.send(of(new TextEncoder().encode(text))).subscribe();
  const echo = new TextDecoder().decode(await echoed);
  conn.close();
  return { verification: conn.info.verification, echo };
}

const page = globalThis as unknown as { document: { body: { textContent: string }; title: string }; navigator: { userAgent: string } };
let result: unknown;
async function main(): Promise<void> {
try {
  const outcomes = RXTLS_FIXTURES.servers.map((s) => handshakeAndEcho(s.name, s.chain, s.key, RXTLS_FIXTURES.ca));
  const first = RXTLS_FIXTURES.servers[0]!;
  const refused = handshakeAndEcho(`${first.name} under another CA`, first.chain, first.key, RXTLS_FIXTURES.otherCa);
  const secured = await viaSecure(first.chain, first.key, RXTLS_FIXTURES.ca);
  result = {
    userAgent: page.navigator.userAgent,
    hasProcess: typeof (globalThis as { process?: unknown }).process !== 'undefined',
    outcomes,
    refused,
    secured,
  };
} catch (e) {
  result = { error: String((e as Error)?.stack ?? e) };
}
page.document.body.textContent = `RXTLS-RESULT:${btoa(JSON.stringify(result))}:END`;
page.document.title = 'rxtls-done';
}
void main();
