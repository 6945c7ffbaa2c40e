/**
 * What the RxJS layer needs from the platform it runs on, injected rather than imported so that `secure` and the
 * option handling stay portable (`rxtls/browser`). Node's is `nodePlatform` (`src/node/platform.ts`): system
 * roots and key-log files; a browser has neither.
 */
import type { Observer } from 'rxjs';

/** Platform services the RxJS layer may use. Every member is optional. */
export interface Platform {
  /** The platform's trust anchors (DER), used when `ca` is absent (node:tls `rootCertificates`). */
  readonly systemRoots?: () => readonly Uint8Array[];
  /** A sink that appends key-log lines to the file at `path` (the `keyLog: 'file'` option). */
  readonly keyLogFile?: (path: string) => Partial<Observer<string>>;
}

/** No platform services: pass `ca` and give `keyLog` a function (what a browser offers). */
export const portablePlatform: Platform = {};
