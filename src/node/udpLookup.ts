/**
 * The address lookup our UDP sockets use. `dgram`'s default resolves every destination of every `send` through
 * `dns.lookup`, which answers even an IP literal on the next tick: each datagram then costs a scheduled
 * callback before it leaves. This one answers an IP literal at once (the datagram is handed to the kernel in
 * the `send` call) and leaves names to `dns.lookup`.
 */
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/** `createSocket({ type, lookup: literalLookup })`. */
export function literalLookup(address: string, family: unknown, callback: LookupCallback): void {
  const f = isIP(address);
  if (f !== 0) {
    callback(null, address, f);
    return;
  }
  dnsLookup(address, family as number, callback);
}
