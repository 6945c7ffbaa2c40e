/**
 * `rxtls/h3`: HTTP/3 (RFC 9114) with QPACK's static table and Huffman coding (RFC 9204, RFC 7541 Appendix B) and
 * no dynamic table. The codecs and stream parsers here are sans-IO; `h3Request`, `h3Connect` and `serveH3` run
 * them on a QUIC connection (`src/rx/h3.ts`, re-exported so the entry point is one import).
 */
export { H3Error, H3ErrorCode, h3ErrorName, type H3ErrorName } from './errors.js';
export { H3FrameReader, H3FrameType, H3Setting, decodeFramePayload, decodeFrames, encodeFrame, encodeFrameHeader } from './frames.js';
export type { H3ControlFrame, H3Frame, H3FrameEvent, H3FrameReaderLimits } from './frames.js';
export { decodeFieldSection, encodeFieldSection, fieldSectionSize, type FieldSectionEncodeOptions, type H3Field } from './qpack.js';
export { HUFFMAN_CODES, huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';
export { STATIC_TABLE } from './staticTable.js';
export { requestHead, responseHead, requestFields, responseFields, type H3RequestHead, type H3ResponseHead } from './message.js';
export { ControlStreamParser, DecoderStreamChecker, H3StreamType, MessageParser, StreamTypeReader, checkEncoderStream } from './streams.js';
export type { ControlEvent, H3PeerSettings, RequestEvent, ResponseEvent } from './streams.js';
export { h3Client, h3Connect, h3Request, serveH3, type H3Handler, type H3Options, type H3Reply, type H3RequestInit, type H3Response, type H3ServerRequest } from '../rx/h3.js';
