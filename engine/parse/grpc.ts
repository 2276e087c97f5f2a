/**
 * gRPC's framing over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md): a request or
 * response body is a run of Length-Prefixed-Messages, each a Compressed-Flag
 * byte, a four-byte big-endian length and the message; a flagged message is
 * in the call's `grpc-encoding` (gzip or deflate; encoding.ts decodes it).
 */
import { MAX_BODY } from './bytes.js';
import { decodeBody } from './encoding.js';

export interface GrpcMessages {
  messages: Uint8Array[];
  /** why what follows the messages given could not be read (a cut frame, a coding that does not decode) */
  error?: string;
}

/** `application/grpc`, `application/grpc+proto` (not grpc-web, whose framing differs) */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc(\+proto)?\s*(;|$)/i.test(contentType);
}

/** The messages of a gRPC body, decompressed by `encoding` where flagged. */
export function grpcMessages(body: Uint8Array, encoding: string | undefined): GrpcMessages {
  const messages: Uint8Array[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 5 > body.length) return { messages, error: 'a message prefix is cut short' };
    const flag = body[at]!;
    const len = ((body[at + 1]! << 24) >>> 0) + (body[at + 2]! << 16) + (body[at + 3]! << 8) + body[at + 4]!;
    at += 5;
    if (at + len > body.length) return { messages, error: 'a message is cut short' };
    let m = body.subarray(at, at + len);
    at += len;
    if (flag === 1) {
      const d = decodeBody(m, encoding ?? 'identity', false, MAX_BODY);
      if (d.error !== undefined || encoding === undefined || encoding === 'identity') return { messages, error: d.error ?? 'a compressed message with no grpc-encoding' };
      m = d.body;
    } else if (flag !== 0) return { messages, error: `compressed-flag ${flag}` };
    messages.push(m);
  }
  return { messages };
}
