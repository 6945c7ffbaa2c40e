/**
 * PKCS#12 (`pfx` + `passphrase`): files written by OpenSSL 3 `pkcs12 -export` (the committed fixtures, made by
 * `test/fixtures/certs/make-certs.sh`, and more made here with other MAC digests, ciphers and passwords) read
 * to the same key and chain as the PEM fixtures, and node:tls accepts the same files; RFC 9579 §A.1 (PBMAC1);
 * BER input; and the refusals, each by name: a wrong passphrase, a MAC that does not match, legacy 3DES.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { TlsError } from '../../src/core/errors.js';
import { loadCertificateChain, privateKeyContainer } from '../../src/crypto/keys.js';
import { loadPkcs12, parsePkcs12 } from '../../src/crypto/pkcs12.js';
import { loadIdentity, toClientConfig, toServerConfig } from '../../src/rx/options.js';
import { certPath, certText, requirePeer, tempDir } from '../helpers/peers.js';
import { pbmac1Password, pbmac1Sha256Pfx } from '../vectors/rfc9579.js';

const p12 = (name: string): Uint8Array => new Uint8Array(readFileSync(certPath(name)));

/** The private key as a JWK, through node:crypto: equal JWKs are the same key whatever its container. */
function jwk(key: Uint8Array | string): unknown {
  const k = typeof key === 'string' ? createPrivateKey(key) : createPrivateKey({ key: Buffer.from(key), format: 'der', type: 'pkcs8' });
  return k.export({ format: 'jwk' });
}

/** Same identity as the PEM fixtures `server-KIND-chain.pem` / `server-KIND-key.pem`. */
function samePem(t: import('ava').ExecutionContext, loaded: ReturnType<typeof loadPkcs12>, kind: 'ec' | 'rsa'): void {
  t.deepEqual(
    loaded.certificateChain.map((c) => Buffer.from(c).toString('hex')),
    loadCertificateChain(certText(`server-${kind}-chain.pem`)).map((c) => Buffer.from(c).toString('hex')),
    'leaf then intermediate, as in the PEM chain',
  );
  t.deepEqual(jwk(privateKeyContainer(loaded.privateKey)!.der), jwk(certText(`server-${kind}-key.pem`)));
}

/** The refusal `f` throws: a TlsError of kind apiMisuse whose message matches `re`. */
function refused(t: import('ava').ExecutionContext, f: () => unknown, re: RegExp): void {
  const e = t.throws(f, { instanceOf: TlsError, message: re });
  t.is((e as TlsError | undefined)?.detail.kind, 'apiMisuse');
}

for (const kind of ['ec', 'rsa'] as const) {
  test(`openssl pkcs12 -export (OpenSSL 3 defaults, ${kind}): the PEM fixtures' chain and key; node:tls takes the same file`, (t) => {
    const file = p12(`server-${kind}.p12`);
    const parsed = parsePkcs12(file, 'secret');
    t.is(parsed.integrity, 'pkcs12-kdf');
    t.is(parsed.keys.length, 1);
    t.is(parsed.certificates.length, 2);
    samePem(t, loadPkcs12(file, 'secret'), kind);
    t.notThrows(() => tls.createSecureContext({ pfx: Buffer.from(file), passphrase: 'secret' }));
  });
}

test('an empty password: "" and no passphrase both open it (as OpenSSL and node:tls); another is wrong', (t) => {
  const file = p12('server-ec-nopass.p12');
  samePem(t, loadPkcs12(file, ''), 'ec');
  samePem(t, loadPkcs12(file), 'ec');
  t.notThrows(() => tls.createSecureContext({ pfx: Buffer.from(file), passphrase: '' }));
  t.notThrows(() => tls.createSecureContext({ pfx: Buffer.from(file) }));
  refused(t, () => loadPkcs12(file, 'secret'), /^pfx \(PKCS#12\): wrong passphrase/);
});

test('no encryption and no MAC (-keypbe NONE -certpbe NONE -nomac): a keyBag and the certificates', (t) => {
  const parsed = parsePkcs12(p12('server-ec-plain.p12'));
  t.is(parsed.integrity, 'none');
  samePem(t, loadPkcs12(p12('server-ec-plain.p12')), 'ec');
});

test('a wrong passphrase is refused as such, like node:tls', (t) => {
  const file = p12('server-ec.p12');
  refused(t, () => loadPkcs12(file, 'Secret'), /^pfx \(PKCS#12\): wrong passphrase \(the contents do not decrypt\)$/);
  refused(t, () => loadPkcs12(file), /wrong passphrase/);
  t.throws(() => tls.createSecureContext({ pfx: Buffer.from(file), passphrase: 'Secret' }), { message: /mac verify failure/ });
});

test('a MAC that does not match the contents: the file was modified (the passphrase is right)', (t) => {
  const file = p12('server-ec.p12');
  // DigestInfo { sha256, NULL } then OCTET STRING (32): flip the first byte of the MAC value.
  const prefix = Buffer.from('300d06096086480165030402010500' + '0420', 'hex');
  const at = Buffer.from(file).lastIndexOf(prefix);
  t.true(at > 0);
  const bad = file.slice();
  bad[at + prefix.length]! ^= 0x01;
  refused(t, () => parsePkcs12(bad, 'secret'), /the MAC does not match the contents \(the file is damaged or was modified\)/);
  t.throws(() => tls.createSecureContext({ pfx: Buffer.from(bad), passphrase: 'secret' }), { message: /mac verify failure/ });
});

test('legacy 3DES (OpenSSL 1.x, -legacy) is refused by name with the command that converts the file', (t) => {
  for (const pass of ['secret', 'wrong']) {
    refused(
      t,
      () => loadPkcs12(p12('server-ec-legacy.p12'), pass),
      /pbeWithSHAAnd3-KeyTripleDES-CBC encryption .* is not supported.*openssl pkcs12 -in old\.p12 -legacy -nodes -out tmp\.pem && openssl pkcs12 -export -in tmp\.pem -keypbe AES-256-CBC -certpbe AES-256-CBC -out new\.p12/,
    );
  }
});

/** `openssl pkcs12 -export` of the EC fixture with these arguments. */
function exportP12(t: import('ava').ExecutionContext, pass: string, args: readonly string[]): Uint8Array {
  const out = path.join(tempDir(t), 'x.p12');
  const openssl = requirePeer('openssl');
  execFileSync(openssl, ['pkcs12', '-export', '-in', certPath('server-ec-chain.pem'), '-inkey', certPath('server-ec-key.pem'), '-passout', `pass:${pass}`, '-out', out, ...args]);
  return new Uint8Array(readFileSync(out));
}

for (const [pass, args] of [
  ['secret', ['-macalg', 'sha1']],
  ['secret', ['-macalg', 'sha512', '-keypbe', 'AES-128-CBC', '-certpbe', 'AES-192-CBC']],
  ['secret', ['-macalg', 'sha384', '-iter', '1000', '-maciter']],
  ['pässwört ✓', ['-macalg', 'sha256']],
] as const) {
  test(`openssl pkcs12 -export ${args.join(' ')}, password ${JSON.stringify(pass)}: read, MAC checked`, (t) => {
    const file = exportP12(t, pass, args);
    samePem(t, loadPkcs12(file, pass), 'ec');
    refused(t, () => loadPkcs12(file, pass + 'x'), /wrong passphrase/);
  });
}

test('RFC 9579 §A.1: PBMAC1 with HMAC-SHA-256 and PBKDF2-HMAC-SHA-256 verifies; a changed iteration count does not', (t) => {
  const file = new Uint8Array(Buffer.from(pbmac1Sha256Pfx, 'base64'));
  const parsed = parsePkcs12(file, pbmac1Password);
  t.is(parsed.integrity, 'pbmac1');
  t.is(parsed.keys.length, 1);
  t.is(parsed.certificates.length, 1);
  t.notThrows(() => loadPkcs12(file, pbmac1Password), 'the key matches the certificate');
  refused(t, () => parsePkcs12(file, '12345'), /wrong passphrase/);
  // As RFC 9579 §A.4: the PBKDF2 iteration count of the MAC changed (2048 → 2049).
  const salt = Buffer.from('04086f473c38b02e3173' + '02020800', 'hex');
  const at = Buffer.from(file).indexOf(salt);
  t.true(at > 0);
  const bad = file.slice();
  bad[at + salt.length - 1] = 0x01;
  refused(t, () => parsePkcs12(bad, pbmac1Password), /the MAC does not match the contents/);
});

/** DER length octets. */
function len(n: number): number[] {
  return n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
}

test('BER (indefinite lengths, a constructed OCTET STRING, as some Windows and macOS exports) reads as DER does', (t) => {
  const der = Buffer.from(p12('server-ec.p12'));
  // PFX { version, ContentInfo { data, [0] { OCTET STRING authSafe } }, MacData }, rebuilt with indefinite
  // lengths and the authSafe cut into two OCTET STRING segments: the MAC'd octets are unchanged.
  const hdr = (b: Buffer, at: number) => (b[at + 1]! < 0x80 ? 2 : 2 + (b[at + 1]! & 0x7f));
  const body = (b: Buffer, at: number) => {
    const h = hdr(b, at);
    const n = h === 2 ? b[at + 1]! : b.readUIntBE(at + 2, h - 2);
    return { start: at + h, end: at + h + n };
  };
  const outer = body(der, 0);
  const version = der.subarray(outer.start, outer.start + 3);
  const ci = body(der, outer.start + 3);
  const oid = der.subarray(ci.start, ci.start + 11);
  const explicit = body(der, ci.start + 11);
  const octets = body(der, explicit.start);
  const authSafe = der.subarray(octets.start, octets.end);
  const mac = der.subarray(ci.end, outer.end);
  const half = authSafe.length >> 1;
  const seg = (b: Buffer) => Buffer.concat([Buffer.from([0x04, ...len(b.length)]), b]);
  const ber = Buffer.concat([
    Buffer.from([0x30, 0x80]),
    version,
    Buffer.from([0x30, 0x80]),
    oid,
    Buffer.from([0xa0, 0x80, 0x24, 0x80]),
    seg(authSafe.subarray(0, half)),
    seg(authSafe.subarray(half)),
    Buffer.from([0, 0, 0, 0, 0, 0]),
    mac,
    Buffer.from([0, 0]),
  ]);
  samePem(t, loadPkcs12(new Uint8Array(ber), 'secret'), 'ec');
});

test('options: pfx on a server and a client, node:tls list forms, and the misuses', (t) => {
  const pfx = p12('server-ec.p12');
  const cfg = toServerConfig({ pfx, passphrase: 'secret' });
  t.is(cfg.certificateChain?.length, 2);
  t.truthy(toClientConfig({ pfx, passphrase: 'secret', ca: certText('ca-cert.pem') }).privateKey, 'a client certificate from a pfx');
  t.is(loadIdentity({ pfx: [pfx], passphrase: 'secret' }).certificateChain?.length, 2);
  t.is(loadIdentity({ pfx: [{ buf: pfx, passphrase: 'secret' }], passphrase: 'other' }).certificateChain?.length, 2, '{ buf, passphrase } wins');
  refused(t, () => toServerConfig({ pfx, passphrase: 'secret', cert: certText('server-ec-chain.pem') }), /either `pfx` or `cert` \+ `key`, not both/);
  refused(t, () => loadIdentity({ pfx: [pfx, pfx], passphrase: 'secret' }), /one PKCS#12 file per server/);
  refused(t, () => toServerConfig({ pfx, passphrase: 'nope' }), /^pfx \(PKCS#12\): wrong passphrase/);
  refused(t, () => loadPkcs12(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x03])), /not a PKCS#12 file/);
  refused(t, () => loadPkcs12(new TextEncoder().encode(certText('server-ec-chain.pem'))), /not a PKCS#12 file/);
});
