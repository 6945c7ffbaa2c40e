/**
 * `splice`: two byte endpoints (a plaintext duplex, a TLS or DTLS connection, a QUIC stream) joined with
 * demand-driven credit, half-closes and aborts carried across. The implementation and its full TSDoc live in
 * `src/rx/proxy/splice.ts`; the endpoint shape in `src/rx/proxy/endpoint.ts`.
 */
export { splice, SPLICE_HELD_CHUNKS, type SideClose, type SpliceOptions, type SpliceProgress, type SpliceReport } from '../src/rx/proxy/splice.js';
export { toEndpoint, type EndpointKind, type EndpointOptions, type Spliceable, type StreamEndpoint } from '../src/rx/proxy/endpoint.js';
export { plainDuplex, type PlainDuplex } from '../src/rx/proxy/plainDuplex.js';
