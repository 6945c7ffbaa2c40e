/** Proxy building blocks: endpoints, `splice`, `terminate`, `originate`. */
export { toEndpoint, type EndpointKind, type EndpointOptions, type Spliceable, type StreamEndpoint } from './endpoint.js';
export { plainDuplex, type PlainDuplex } from './plainDuplex.js';
export { splice, SPLICE_HELD_CHUNKS, type SideClose, type SpliceOptions, type SpliceProgress, type SpliceReport } from './splice.js';
export { terminate, type Terminable, type TerminateOptions } from './terminate.js';
export { originate, type OriginateOptions, type OriginateReport } from './originate.js';
