/** The moment a handshake completes: report what was negotiated and release queued application data. */
import { groupDisplayName } from './config.js';
import { schemeName } from './auth.js';
import type { Cx } from './state.js';
import { writeApplicationData } from './output.js';

export function completeHandshake(cx: Cx): void {
  const s = cx.s;
  s.phase = { name: 'connected' };
  s.deadline = undefined;
  const n = s.nego;
  s.info = {
    protocol: 'TLSv1.3',
    cipherSuite: s.suite!.name,
    ...(s.group ? { group: groupDisplayName(s.group) } : {}),
    ...(n.alpn !== undefined ? { alpn: n.alpn } : {}),
    ...(n.serverName !== undefined ? { serverName: n.serverName } : {}),
    ...(n.peerScheme !== undefined ? { peerSignatureScheme: schemeName(n.peerScheme) } : {}),
    peerCertificates: n.peerChain,
    ...(n.peerSubject !== undefined ? { peerSubject: n.peerSubject } : {}),
    verification: n.verification,
    resumed: n.resumed,
    earlyData: s.early.status === 'accepted' ? 'accepted' : s.early.status === 'rejected' ? 'rejected' : 'none',
    helloRetry: n.helloRetry,
  };
  cx.effects.push({ type: 'handshakeComplete', info: s.info });
  const pending = s.pendingWrites;
  s.pendingWrites = [];
  for (const data of pending) writeApplicationData(cx, data);
}
