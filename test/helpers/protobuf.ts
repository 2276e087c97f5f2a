/**
 * Protocol Buffers' wire format, written: enough to make the Gemini and
 * Vertex AI messages the gRPC tests send and answer (integers as varints,
 * strings and embedded messages length-delimited), gRPC's length-prefixed
 * framing, and google.protobuf.Struct for function arguments.
 */
import { gzipSync } from 'node:zlib';

export type PbField = [number, number | string | Uint8Array];

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A message of these fields, in this order. */
export function pb(fields: PbField[]): Uint8Array {
  const out: number[] = [];
  for (const [n, v] of fields) {
    if (typeof v === 'number') out.push(...varint(n * 8), ...varint(v));
    else {
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      out.push(...varint(n * 8 + 2), ...varint(b.length), ...b);
    }
  }
  return Uint8Array.from(out);
}

/** A google.protobuf.Struct of string values. */
export function pbStruct(o: Record<string, string>): Uint8Array {
  return pb(Object.entries(o).map(([k, v]): PbField => [1, pb([[1, k], [2, pb([[3, v]])]])]));
}

/** gRPC's Length-Prefixed-Message; `gzip`: compressed (the call then says grpc-encoding: gzip). */
export function grpcFrame(message: Uint8Array, gzip = false): Uint8Array {
  const m = gzip ? new Uint8Array(gzipSync(message)) : message;
  const out = new Uint8Array(5 + m.length);
  out[0] = gzip ? 1 : 0;
  new DataView(out.buffer).setUint32(1, m.length);
  out.set(m, 5);
  return out;
}
