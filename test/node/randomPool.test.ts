/**
 * node:crypto provider: small random values come from a pool refilled 4 KiB at a time (one call into the CSPRNG
 * per few hundred handshake values, issue "Hardening", cost of 1,000 concurrent handshakes). Each byte is handed
 * out once, into an array the caller owns.
 */
import test from 'ava';
import { nodeProvider } from '../../src/node/nodeProvider.js';

test('randomBytes: pooled values are distinct, owned, and never handed out twice', (t) => {
  const seen = new Set<string>();
  const arrays: Uint8Array[] = [];
  // More than one pool's worth (4 KiB), in the sizes a handshake draws.
  for (let i = 0; i < 400; i++) {
    for (const n of [32, 32, 12, 4]) {
      const b = nodeProvider.randomBytes(n);
      t.is(b.length, n);
      t.is(b.byteLength, b.buffer.byteLength, 'a standalone array, not a view into the pool');
      if (n >= 12) {
        const hex = Buffer.from(b).toString('hex');
        t.false(seen.has(hex));
        seen.add(hex);
      }
      arrays.push(b);
    }
  }
  // Writing into one value leaves the others alone.
  const copy = arrays.map((a) => a.slice());
  arrays[0]!.fill(0xff);
  t.deepEqual(arrays.slice(1), copy.slice(1));
  // Large requests bypass the pool.
  t.is(nodeProvider.randomBytes(10_000).length, 10_000);
  t.is(nodeProvider.randomBytes(0).length, 0);
});
