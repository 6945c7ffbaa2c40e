import test from 'ava';
import {
  Label,
  binderKey,
  deriveSecret,
  earlySecret,
  finishedKey,
  finishedVerifyData,
  handshakeSecret,
  hkdfExpandLabel,
  masterSecret,
  nextTrafficSecret,
  recordNonce,
  resumptionPsk,
  suiteParams,
  trafficKeys,
} from '../../src/crypto/keySchedule.js';
import { nobleProvider } from '../../src/crypto/noble.js';
import { nodeProvider } from '../../src/node/nodeProvider.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { concatBytes, hex } from '../vectors/hex.js';
import * as rfc8448 from '../vectors/rfc8448.js';

const s = rfc8448.schedule;
const m = rfc8448.messages;
const AES128 = suiteParams(0x1301)!;

/** A provider that records the `info` of every HKDF-Expand call, to check the HkdfLabel encoding. */
function spy(p: CryptoProvider): { p: CryptoProvider; infos: Uint8Array[] } {
  const infos: Uint8Array[] = [];
  return {
    infos,
    p: {
      ...p,
      hkdfExpand: (alg, prk, info, length) => {
        infos.push(info.slice());
        return p.hkdfExpand(alg, prk, info, length);
      },
    },
  };
}

test('RFC 8446 §B.4: suite parameters', (t) => {
  t.deepEqual(suiteParams(0x1301), {
    code: 0x1301,
    name: 'TLS_AES_128_GCM_SHA256',
    hash: 'sha256',
    aead: 'aes-128-gcm',
    keyLength: 16,
    ivLength: 12,
  });
  t.like(suiteParams(0x1302), { name: 'TLS_AES_256_GCM_SHA384', hash: 'sha384', aead: 'aes-256-gcm', keyLength: 32 });
  t.like(suiteParams(0x1303), {
    name: 'TLS_CHACHA20_POLY1305_SHA256',
    hash: 'sha256',
    aead: 'chacha20-poly1305',
    keyLength: 32,
  });
  t.is(suiteParams(0x1304), undefined, 'TLS_AES_128_CCM_SHA256 is not supported');
  t.is(suiteParams(0xc02f), undefined);
});

test('RFC 8446 §7.1: label constants', (t) => {
  t.deepEqual(
    [
      Label.clientEarlyTraffic,
      Label.earlyExporterMaster,
      Label.clientHandshakeTraffic,
      Label.serverHandshakeTraffic,
      Label.clientApplicationTraffic,
      Label.serverApplicationTraffic,
      Label.exporterMaster,
      Label.resumptionMaster,
    ],
    ['c e traffic', 'e exp master', 'c hs traffic', 's hs traffic', 'c ap traffic', 's ap traffic', 'exp master', 'res master'],
  );
  t.is(Label.externalBinder, 'ext binder');
  t.is(Label.resumptionBinder, 'res binder');
  t.is(Label.trafficUpdate, 'traffic upd');
});

for (const [name, provider] of [
  ['noble', nobleProvider],
  ['node', nodeProvider],
] as const) {
  const p = provider;
  const t_ = (title: string) => `${name}: ${title}`;

  test(t_('RFC 8448 §3: HkdfLabel encodings ("tls13 " prefix added)'), (t) => {
    const sp = spy(p);
    t.deepEqual(hkdfExpandLabel(sp.p, 'sha256', s.earlySecret, 'derived', s.emptyHash, 32), s.derivedForHandshake);
    t.deepEqual(sp.infos[0], s.derivedForHandshakeInfo);
    trafficKeys(sp.p, AES128, s.serverHandshakeTraffic);
    t.deepEqual(sp.infos[1], s.keyInfo);
    t.deepEqual(sp.infos[2], s.ivInfo);
    finishedKey(sp.p, 'sha256', s.serverHandshakeTraffic);
    t.deepEqual(sp.infos[3], s.finishedInfo);
    deriveSecret(sp.p, 'sha256', s.handshakeSecret, Label.clientHandshakeTraffic, s.helloHash);
    t.deepEqual(sp.infos[4], s.clientHandshakeTrafficInfo);
  });

  test(t_('RFC 8448 §3: early secret'), (t) => {
    t.deepEqual(earlySecret(p, 'sha256'), s.earlySecret);
  });

  test(t_('RFC 8448 §3: handshake secret (with the "derived" step)'), (t) => {
    t.deepEqual(handshakeSecret(p, 'sha256', s.earlySecret, s.sharedSecret), s.handshakeSecret);
  });

  test(t_('RFC 8448 §3: X25519 shared secret from the RFC keys is the handshake IKM'), (t) => {
    const ikm = p.sharedSecret('x25519', rfc8448.keys.clientPrivate, rfc8448.keys.serverPublic);
    t.deepEqual(ikm, s.sharedSecret);
    t.deepEqual(handshakeSecret(p, 'sha256', earlySecret(p, 'sha256'), ikm!), s.handshakeSecret);
  });

  test(t_('RFC 8448 §3: transcript hash of ClientHello..ServerHello'), (t) => {
    t.deepEqual(p.hash('sha256', concatBytes(m.clientHello, m.serverHello)), s.helloHash);
  });

  test(t_('RFC 8448 §3: client handshake traffic secret'), (t) => {
    t.deepEqual(deriveSecret(p, 'sha256', s.handshakeSecret, Label.clientHandshakeTraffic, s.helloHash), s.clientHandshakeTraffic);
  });

  test(t_('RFC 8448 §3: server handshake traffic secret'), (t) => {
    t.deepEqual(deriveSecret(p, 'sha256', s.handshakeSecret, Label.serverHandshakeTraffic, s.helloHash), s.serverHandshakeTraffic);
  });

  test(t_('RFC 8448 §3: server handshake write key and IV'), (t) => {
    t.deepEqual(trafficKeys(p, AES128, s.serverHandshakeTraffic), { key: s.serverHandshakeKey, iv: s.serverHandshakeIv });
  });

  test(t_('RFC 8448 §3: client handshake write key and IV'), (t) => {
    t.deepEqual(trafficKeys(p, AES128, s.clientHandshakeTraffic), { key: s.clientHandshakeKey, iv: s.clientHandshakeIv });
  });

  test(t_('RFC 8448 §3: master secret'), (t) => {
    t.deepEqual(masterSecret(p, 'sha256', s.handshakeSecret), s.masterSecret);
  });

  test(t_('RFC 8448 §3: server Finished verify_data'), (t) => {
    const transcript = p.hasher('sha256');
    for (const msg of [m.clientHello, m.serverHello, m.encryptedExtensions, m.certificate, m.certificateVerify]) {
      transcript.update(msg);
    }
    t.deepEqual(finishedKey(p, 'sha256', s.serverHandshakeTraffic), s.serverFinishedKey);
    const verifyData = finishedVerifyData(p, 'sha256', s.serverHandshakeTraffic, transcript.digest());
    t.deepEqual(verifyData, s.serverFinished);
    t.deepEqual(m.serverFinished.subarray(4), verifyData);
  });

  test(t_('RFC 8448 §3: client Finished verify_data'), (t) => {
    t.deepEqual(finishedKey(p, 'sha256', s.clientHandshakeTraffic), s.clientFinishedKey);
    t.deepEqual(finishedVerifyData(p, 'sha256', s.clientHandshakeTraffic, s.serverFinishedHash), s.clientFinished);
  });

  test(t_('RFC 8448 §3: client and server application traffic secrets'), (t) => {
    t.deepEqual(deriveSecret(p, 'sha256', s.masterSecret, Label.clientApplicationTraffic, s.serverFinishedHash), s.clientApplicationTraffic);
    t.deepEqual(deriveSecret(p, 'sha256', s.masterSecret, Label.serverApplicationTraffic, s.serverFinishedHash), s.serverApplicationTraffic);
  });

  test(t_('RFC 8448 §3: application write keys and IVs'), (t) => {
    t.deepEqual(trafficKeys(p, AES128, s.clientApplicationTraffic), { key: s.clientApplicationKey, iv: s.clientApplicationIv });
    t.deepEqual(trafficKeys(p, AES128, s.serverApplicationTraffic), { key: s.serverApplicationKey, iv: s.serverApplicationIv });
  });

  test(t_('RFC 8448 §3: exporter master secret'), (t) => {
    t.deepEqual(deriveSecret(p, 'sha256', s.masterSecret, Label.exporterMaster, s.serverFinishedHash), s.exporterMaster);
  });

  test(t_('RFC 8448 §3: resumption master secret'), (t) => {
    t.deepEqual(deriveSecret(p, 'sha256', s.masterSecret, Label.resumptionMaster, s.clientFinishedHash), s.resumptionMaster);
  });

  test(t_('RFC 8448 §4: ticket PSK ("resumption"), PSK early secret, "res binder" key and binder'), (t) => {
    const r = rfc8448.resumption;
    const psk = resumptionPsk(p, 'sha256', s.resumptionMaster, r.ticketNonce);
    t.deepEqual(psk, r.psk);
    const early = earlySecret(p, 'sha256', psk);
    t.deepEqual(early, r.earlySecret);
    const bk = binderKey(p, 'sha256', early, false);
    t.deepEqual(bk, r.binderKey);
    t.deepEqual(finishedVerifyData(p, 'sha256', bk, r.binderHash), r.binder);
    t.notDeepEqual(binderKey(p, 'sha256', early, true), bk, '"ext binder" differs');
  });

  test(t_('RFC 8446 §7.1: psk_ke handshake secret uses a zero IKM'), (t) => {
    const zeros = new Uint8Array(32);
    t.deepEqual(handshakeSecret(p, 'sha256', s.earlySecret), p.hkdfExtract('sha256', s.derivedForHandshake, zeros));
    t.deepEqual(handshakeSecret(p, 'sha256', s.earlySecret, zeros), handshakeSecret(p, 'sha256', s.earlySecret));
  });

  test(t_('RFC 8446 §7.2: next traffic secret is Expand-Label(secret, "traffic upd", "", Hash.length)'), (t) => {
    const sp = spy(p);
    const next = nextTrafficSecret(sp.p, 'sha256', s.clientApplicationTraffic);
    t.is(next.length, 32);
    t.notDeepEqual(next, s.clientApplicationTraffic);
    // uint16 length 32 || opaque label "tls13 traffic upd" (17 B) || opaque context "" — RFC 8446 §7.1.
    t.deepEqual(sp.infos[0], concatBytes(hex('0020 11'), new TextEncoder().encode('tls13 traffic upd'), hex('00')));
    t.deepEqual(next, hkdfExpandLabel(p, 'sha256', s.clientApplicationTraffic, 'traffic upd', new Uint8Array(0), 32));
  });

  test(t_('RFC 8446 §7.1: SHA-384 suites give 48 B secrets and 32 B keys'), (t) => {
    const suite = suiteParams(0x1302)!;
    const early = earlySecret(p, 'sha384');
    t.is(early.length, 48);
    const hs = handshakeSecret(p, 'sha384', early, new Uint8Array(48).fill(1));
    t.is(hs.length, 48);
    t.is(masterSecret(p, 'sha384', hs).length, 48);
    const secret = deriveSecret(p, 'sha384', hs, Label.serverHandshakeTraffic, p.hash('sha384', new Uint8Array(0)));
    const keys = trafficKeys(p, suite, secret);
    t.is(keys.key.length, 32);
    t.is(keys.iv.length, 12);
    t.is(finishedVerifyData(p, 'sha384', secret, new Uint8Array(48)).length, 48);
    t.is(binderKey(p, 'sha384', early, true).length, 48);
    t.is(resumptionPsk(p, 'sha384', hs, new Uint8Array(8)).length, 48);
  });
}

test('RFC 8446 §7.1: HkdfLabel limits are enforced', (t) => {
  const secret = new Uint8Array(32);
  t.throws(() => hkdfExpandLabel(nobleProvider, 'sha256', secret, 'x', new Uint8Array(256), 32), { instanceOf: RangeError });
  t.throws(() => hkdfExpandLabel(nobleProvider, 'sha256', secret, 'x'.repeat(250), new Uint8Array(0), 32), {
    instanceOf: RangeError,
  });
  t.throws(() => hkdfExpandLabel(nobleProvider, 'sha256', secret, 'x', new Uint8Array(0), 65536), { instanceOf: RangeError });
  t.is(hkdfExpandLabel(nobleProvider, 'sha256', secret, 'x', new Uint8Array(255), 8).length, 8);
});

test('RFC 8446 §5.3: record nonce is the IV XOR the left-padded 64-bit sequence number', (t) => {
  const iv = s.serverApplicationIv; // cf 78 2b 88 dd 83 54 9a ad f1 e9 84
  t.deepEqual(recordNonce(iv, 0), iv);
  t.not(recordNonce(iv, 0), iv, 'a fresh array, not the IV itself');
  t.deepEqual(recordNonce(iv, 1), hex('cf 78 2b 88 dd 83 54 9a ad f1 e9 85'));
  t.deepEqual(recordNonce(iv, 0x0102), hex('cf 78 2b 88 dd 83 54 9a ad f1 e8 86'));
  t.deepEqual(recordNonce(iv, 2 ** 32 + 1), hex('cf 78 2b 88 dd 83 54 9b ad f1 e9 85'));
  t.deepEqual(recordNonce(new Uint8Array(12), Number.MAX_SAFE_INTEGER), hex('00 00 00 00 00 1f ff ff ff ff ff ff'));
  t.deepEqual(recordNonce(new Uint8Array(12), 0xdeadbeef), hex('00 00 00 00 00 00 00 00 de ad be ef'));
  t.deepEqual(iv, hex('cf 78 2b 88 dd 83 54 9a ad f1 e9 84'), 'the IV is not modified');
});

test('RFC 8446 §5.3: record nonce rejects sequence numbers that are not safe non-negative integers', (t) => {
  const iv = new Uint8Array(12);
  for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity]) {
    t.throws(() => recordNonce(iv, bad), { instanceOf: RangeError }, String(bad));
  }
});
