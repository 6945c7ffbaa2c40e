/**
 * Outgoing application data (RFC 8446 §5.2; OpenSSL split_send_fragment / max_pipelines): a write is cut into
 * records of at most `splitSendFragment` bytes (and never more than the peer's record_size_limit allows).
 *
 * Synchronous mode seals each record inline. Asynchronous mode (`asyncCrypto`) queues the records and seals
 * up to `maxPipelines` of them as one batch through a `crypto` effect; the batch's sequence numbers are taken
 * when it starts, and anything written meanwhile (alerts, KeyUpdate, tickets, more data) waits in the queue,
 * so records always leave in sequence order.
 */
import { ContentType } from '../wire/tls/constants.js';
import { abort, fail } from '../core/errors.js';
import type { TlsEffect } from '../tls/types.js';
import { type Cx, sealNow, writeRecord } from './state.js';
import { innerPlaintexts, prepareSeal, prepareSealRun, sealPrefix } from './record.js';

/** Queue or seal application data, splitting it into records. */
export function writeApplicationData(cx: Cx, data: Uint8Array): void {
  const s = cx.s;
  // Application data after our answer to a KeyUpdate request: the next request is answered again (§4.6.3).
  s.keyUpdateAnswered = undefined;
  const max = Math.min(s.config.splitSendFragment, s.peerRecordLimit);
  if (s.config.asyncCrypto) {
    const items = [];
    for (let o = 0; o < data.length; o += max) items.push({ kind: 'data' as const, data: data.subarray(o, Math.min(data.length, o + max)) });
    s.txQueue = [...s.txQueue, ...items];
    pumpTx(cx);
    return;
  }
  if (s.txKey && !s.txInFlight && !s.txQueue.length) {
    // Sealed now, in order: every record of the write prepared in one pass (writeRecord's per-record path).
    s.txKey = prepareSealRun(s.txKey, ContentType.application_data, data, max, cx.out);
    return;
  }
  for (let o = 0; o < data.length; o += max) {
    writeRecord(cx, ContentType.application_data, data.subarray(o, Math.min(data.length, o + max)));
  }
}

/** Move the output queue forward: seal waiting control records, apply key changes, start the next batch. */
export function pumpTx(cx: Cx): void {
  const s = cx.s;
  while (!s.txInFlight && s.txQueue.length) {
    const head = s.txQueue[0]!;
    if (head.kind === 'record') {
      s.txQueue = s.txQueue.slice(1);
      sealNow(cx, head.type, head.content);
      if (head.onWire) cx.effects.push(head.onWire);
    } else if (head.kind === 'rekey') {
      s.txQueue = s.txQueue.slice(1);
      s.txKey = head.key;
    } else {
      startSealBatch(cx);
    }
  }
}

function startSealBatch(cx: Cx): void {
  const s = cx.s;
  const key = s.txKey!;
  let n = 0;
  while (n < s.txQueue.length && n < s.config.maxPipelines && s.txQueue[n]!.kind === 'data') n++;
  const items = s.txQueue.slice(0, n) as readonly { kind: 'data'; data: Uint8Array }[];
  s.txQueue = s.txQueue.slice(n);
  // Each record takes its sequence number now, exactly as a synchronous seal would (prepareSeal).
  const sealJobs = items.map((it) => {
    const r = prepareSeal(s.txKey!, ContentType.application_data, it.data);
    s.txKey = r.key;
    return r.job;
  });
  // What precedes each ciphertext: the header (and a TLS 1.2 explicit nonce); the AAD is the header in TLS 1.3.
  const headers = sealJobs.map(sealPrefix);
  // A batch cipher that takes trailers (the worker pool copies each record into shared memory anyway) gets the
  // content and its type as they are; any other gets them joined, one buffer per batch.
  const inner = s.config.provider.batch?.trailers ? undefined : innerPlaintexts(sealJobs);
  const jobs = sealJobs.map((j, i) =>
    inner ? { nonce: j.nonce, aad: j.aad ?? j.header, data: inner[i]! } : { nonce: j.nonce, aad: j.aad ?? j.header, data: j.content, ...(j.trailer.length ? { trailer: j.trailer } : {}) },
  );
  const jobId = s.nextJobId++;
  s.txInFlight = { jobId, headers, onWire: [] };
  cx.effects.push({ type: 'crypto', jobId, op: 'seal', alg: key.aead.alg, key: key.key, jobs });
}

/** A seal batch finished: emit its records in order, then continue with the queue. */
export function onSealDone(cx: Cx, results: readonly (Uint8Array | null)[]): void {
  const s = cx.s;
  const batch = s.txInFlight!;
  if (results.length !== batch.headers.length) abort(fail.internal('seal batch returned the wrong number of records'));
  results.forEach((sealed, i) => {
    if (!sealed) abort(fail.internal('seal batch failed'));
    cx.out.push(batch.headers[i]!, sealed);
  });
  const effects: readonly TlsEffect[] = batch.onWire;
  s.txInFlight = undefined;
  cx.effects.push(...effects);
  pumpTx(cx);
}
