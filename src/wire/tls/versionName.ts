/**
 * `protocolVersionName`: the name of a ProtocolVersion code point (RFC 8446 §4.1.2 legacy_version, RFC 9147
 * §4), for error messages that name what an old peer offered.
 */

const NAMES: Readonly<Record<number, string>> = {
  0x0200: 'SSL 2.0',
  0x0300: 'SSL 3.0',
  0x0301: 'TLS 1.0',
  0x0302: 'TLS 1.1',
  0x0303: 'TLS 1.2',
  0x0304: 'TLS 1.3',
  0xfeff: 'DTLS 1.0',
  0xfefd: 'DTLS 1.2',
  0xfefc: 'DTLS 1.3',
};

/**
 * `TLS 1.2 (0x0303)`, `TLS 1.0 (0x0301)`, or `version 0x7f2b` for a code point without a name.
 *
 * @example
 * ```ts
 * protocolVersionName(0x0302); // 'TLS 1.1 (0x0302)'
 * ```
 */
export function protocolVersionName(version: number): string {
  const hex = `0x${version.toString(16).padStart(4, '0')}`;
  const name = NAMES[version];
  return name ? `${name} (${hex})` : `version ${hex}`;
}
