/**
 * The certificate fixtures (`test/fixtures/certs/`) as PEM text, and the text ⇄ bytes helpers the RxJS-level
 * specs share. The server leaf is the ECDSA P-256 one with its intermediate (`server-ec-chain.pem`), issued
 * for `localhost` by the test CA.
 */
import { readFileSync } from 'node:fs';

/** Contents of `test/fixtures/certs/NAME` as text. */
export const fixture = (name: string): string => readFileSync(new URL(`../fixtures/certs/${name}`, import.meta.url), 'utf8');

/** The test CA every fixture leaf chains to. */
export const ca = fixture('ca-cert.pem');
/** A CA that issued none of the fixture leaves (verification must fail against it). */
export const otherCa = fixture('other-ca-cert.pem');
/** The ECDSA server leaf plus the intermediate, for `localhost`. */
export const cert = fixture('server-ec-chain.pem');
/** The private key of {@link cert}. */
export const key = fixture('server-ec-key.pem');

/** UTF-8 encode. */
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
/** UTF-8 decode. */
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
