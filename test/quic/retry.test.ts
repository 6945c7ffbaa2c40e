/** Retry (RFC 9000 §8.1.2, §17.2.5; RFC 9001 §5.8): the packet, the token, and a client following a Retry in virtual time. */
import test from 'ava';
import fc from 'fast-check';
import { TlsError } from '../../src/core/errors.js';
import { nobleProvider as p } from '../../src/crypto/noble.js';
import { createQuicConnection, isQuicConnected } from '../../src/quic/connection.js';
import { acceptRetry, encodeRetryPacket, openRetryToken, RETRY_TOKEN_LIFETIME, sealRetryToken } from '../../src/quic/retry.js';
import { decodePacketHeader } from '../../src/wire/quic/packet.js';
import { NOW, serverCredentials } from '../helpers/pair.js';
import { QuicPair } from '../helpers/quicPair.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const long = (d: Uint8Array) => {
  const h = decodePacketHeader(d, 0, 8);
  if (h.form !== 'long') throw new Error('not a long header');
  return h;
};

test('RFC 9001 §A.4: the Retry packet, integrity tag included', (t) => {
  const retry = encodeRetryPacket(p, { dcid: new Uint8Array(0), scid: hex('f067a5502a4262b5'), token: Buffer.from('token'), originalDcid: hex('8394c8f03e515708'), unused: 0xf });
  t.is(Buffer.from(retry).toString('hex'), 'ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba');
  const h = long(retry);
  t.is(h.type, 'retry');
  t.deepEqual(acceptRetry(p, retry, h, hex('8394c8f03e515708'), false, false), { token: Uint8Array.from(Buffer.from('token')), scid: hex('f067a5502a4262b5') });
});

const cid = fc.uint8Array({ minLength: 0, maxLength: 20 });

test('Retry packet: encode → decode → accept for any IDs and token; any flipped byte, another ODCID, or a second Retry is refused (property)', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(cid, cid, cid, fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), (dcid, scid, odcid, token, at) => {
        const retry = encodeRetryPacket(p, { dcid, scid, token, originalDcid: odcid });
        const h = long(retry);
        // RFC 9000 §17.2.5.1: a Retry whose SCID is the DCID we sent is discarded.
        if (Buffer.from(scid).equals(odcid)) return acceptRetry(p, retry, h, odcid, false, false) === null;
        const ok = acceptRetry(p, retry, h, odcid, false, false);
        if (!ok || !Buffer.from(ok.token).equals(token) || !Buffer.from(ok.scid).equals(scid)) return false;
        if (acceptRetry(p, retry, h, odcid, true, false) || acceptRetry(p, retry, h, odcid, false, true)) return false;
        if (acceptRetry(p, retry, h, Uint8Array.of(...odcid, 1), false, false)) return false;
        const bad = retry.slice();
        const i = 1 + 4 + 1 + dcid.length + 1 + (at % (retry.length - 6 - dcid.length - 1));
        bad[i] = bad[i]! ^ 0x01;
        let hb;
        try {
          hb = long(bad);
        } catch {
          return true; // a flipped length byte: not even a header
        }
        return acceptRetry(p, bad, hb, odcid, false, false) === null;
      }),
      { numRuns: 100 },
    ),
  );
});

test('Retry token: opens for the same address within its lifetime; not for another address, later, tampered, or another key (property)', (t) => {
  const key = p.randomBytes(16);
  t.notThrows(() =>
    fc.assert(
      fc.property(cid, cid, fc.integer({ min: 0, max: 2 ** 45 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.nat(), (originalDcid, retryScid, issuedAt, nonce, flip) => {
        const token = sealRetryToken(p, key, nonce, '10.0.0.1:443', { originalDcid, retryScid, issuedAt });
        const opened = openRetryToken(p, key, token, '10.0.0.1:443', issuedAt + 5);
        if (!opened || !Buffer.from(opened.originalDcid).equals(originalDcid) || !Buffer.from(opened.retryScid).equals(retryScid) || opened.issuedAt !== issuedAt) return false;
        if (openRetryToken(p, key, token, '10.0.0.2:443', issuedAt)) return false;
        if (openRetryToken(p, key, token, '10.0.0.1:443', issuedAt + RETRY_TOKEN_LIFETIME + 1)) return false;
        if (openRetryToken(p, p.randomBytes(16), token, '10.0.0.1:443', issuedAt)) return false;
        const bad = token.slice();
        bad[flip % bad.length] = bad[flip % bad.length]! ^ 0x80;
        return openRetryToken(p, key, bad, '10.0.0.1:443', issuedAt) === null && openRetryToken(p, key, token.subarray(0, 20), '10.0.0.1:443', issuedAt) === null;
      }),
      { numRuns: 100 },
    ),
  );
});

/** A pair whose server is the one a valid token opens: `retried` with the client's original DCID and our Retry SCID. */
function retryPair(serverRetried = true) {
  const retryScid = hex('0102030405060708');
  const pair = new QuicPair();
  const odcid = pair.state.client.originalDcid;
  pair.state.server = createQuicConnection({
    role: 'server',
    tls: { ...serverCredentials(), alpnProtocols: ['h3'] },
    ...(serverRetried ? { retried: { originalDcid: odcid, retrySourceCid: retryScid } } : {}),
  });
  let first: Uint8Array | undefined;
  pair.drop = (from, n, data) => {
    if (from === 'client' && n === 0) first = data;
    return from === 'client' && n === 0;
  };
  pair.input('server', { type: 'start', now: pair.now });
  pair.input('client', { type: 'start', now: pair.now });
  const h = long(first!);
  const retry = encodeRetryPacket(p, { dcid: h.scid, scid: retryScid, token: Uint8Array.of(9, 9, 9), originalDcid: odcid });
  return { pair, retry, retryScid, odcid };
}

test('RFC 9000 §17.2.5.2: the client follows a Retry: new DCID, the token in its Initials, packet numbers go on; the handshake completes', (t) => {
  const { pair, retry, retryScid } = retryPair();
  pair.input('client', { type: 'datagram', now: pair.now, data: retry });
  const second = long(pair.datagrams.client[1]!);
  t.deepEqual(second.dcid, retryScid);
  t.deepEqual(second.token, Uint8Array.of(9, 9, 9));
  t.is(pair.datagrams.client[1]!.length, 1200);
  t.true(pair.state.client.spaces.initial.nextPn >= 2, 'RFC 9000 §17.2.5.3: packet numbers are not reset');
  pair.settle();
  t.true(isQuicConnected(pair.state.client));
  t.true(isQuicConnected(pair.state.server));
  t.deepEqual(pair.state.client.peerParams?.retrySourceConnectionId, retryScid);
  t.is(pair.now, NOW, 'no timer had to fire');
  // A second Retry, now that the handshake has progressed, is ignored.
  const before = pair.datagrams.client.length;
  pair.input('client', { type: 'datagram', now: pair.now, data: retry });
  t.is(pair.datagrams.client.length, before);
});

test('RFC 9001 §5.8: a Retry whose integrity tag does not verify is discarded', (t) => {
  const { pair, retry } = retryPair();
  const bad = retry.slice();
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
  const effects = pair.input('client', { type: 'datagram', now: pair.now, data: bad });
  t.is(effects.length, 0);
  t.is(pair.state.client.token, undefined);
});

test('RFC 9000 §7.3: after a Retry, a server without the matching retry_source_connection_id fails the handshake', (t) => {
  const { pair, retry } = retryPair(false);
  pair.input('client', { type: 'datagram', now: pair.now, data: retry });
  pair.drive(pair.now + 5_000);
  const closed = pair.closed('client');
  t.true(closed?.error instanceof TlsError);
  t.like(closed?.error?.detail, { kind: 'quicClose', code: 0x08n, local: true });
});
