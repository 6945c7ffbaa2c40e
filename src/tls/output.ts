/** Outgoing application data: split into records of at most `maxSendFragment` bytes and sealed in order. */
import { ContentType } from '../wire/tls/constants.js';
import { type Cx, flushHandshake, writeRecord } from './state.js';

export function writeApplicationData(cx: Cx, data: Uint8Array): void {
  flushHandshake(cx);
  const max = cx.s.config.maxSendFragment;
  for (let o = 0; o < data.length; o += max) {
    writeRecord(cx, ContentType.application_data, data.subarray(o, Math.min(data.length, o + max)));
  }
}
