/**
 * What an ONNX file says about itself, read before onnxruntime is asked
 * to load it: the ModelProto's ir_version, producer, whether it has a graph,
 * and its metadata_props (which onnxruntime-node does not expose). That is
 * where a busted model keeps its feature version and feature names.
 *
 * ModelProto (onnx/onnx.proto3): 1 ir_version (varint), 2 producer_name,
 * 7 graph, 14 metadata_props (StringStringEntryProto: 1 key, 2 value). Only
 * the top level is walked; protobuf wire types 0, 1, 2 and 5 are skipped
 * by their encoded lengths.
 */

export interface OnnxInfo {
  irVersion: number;
  producer: string;
  hasGraph: boolean;
  metadata: Record<string, string>;
}

export class OnnxFormatError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A protobuf field walker over one message's bytes. */
function* fields(buf: Uint8Array, start: number, end: number): Generator<{ no: number; wire: number; value: number; at: number; len: number }> {
  let p = start;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) throw new OnnxFormatError(`a varint runs past the end (byte ${p})`);
      const b = buf[p++]!;
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
    }
    throw new OnnxFormatError(`a varint longer than 10 bytes (byte ${p})`);
  };
  while (p < end) {
    const tagAt = p;
    const tag = varint();
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (no === 0) throw new OnnxFormatError(`field number 0 at byte ${tagAt}`);
    switch (wire) {
      case 0:
        yield { no, wire, value: varint(), at: p, len: 0 };
        break;
      case 1:
      case 5: {
        const n = wire === 1 ? 8 : 4;
        if (p + n > end) throw new OnnxFormatError(`a fixed-size field runs past the end (byte ${tagAt})`);
        yield { no, wire, value: 0, at: p, len: n };
        p += n;
        break;
      }
      case 2: {
        const n = varint();
        if (p + n > end) throw new OnnxFormatError(`field ${no} of ${n} bytes runs past the end (byte ${tagAt})`);
        yield { no, wire, value: 0, at: p, len: n };
        p += n;
        break;
      }
      default:
        throw new OnnxFormatError(`wire type ${wire} of field ${no} at byte ${tagAt} (groups and unknown types are not ONNX)`);
    }
  }
}

/** Reads a ModelProto's header fields and metadata; throws OnnxFormatError when the bytes are not one. */
export function readOnnxInfo(buf: Uint8Array): OnnxInfo {
  const info: OnnxInfo = { irVersion: 0, producer: '', hasGraph: false, metadata: {} };
  for (const f of fields(buf, 0, buf.length)) {
    if (f.no === 1 && f.wire === 0) info.irVersion = f.value;
    else if (f.no === 2 && f.wire === 2) info.producer = utf8.decode(buf.subarray(f.at, f.at + f.len));
    else if (f.no === 7 && f.wire === 2) info.hasGraph = true;
    else if (f.no === 14 && f.wire === 2) {
      let key = '';
      let value = '';
      for (const g of fields(buf, f.at, f.at + f.len)) {
        if (g.wire !== 2) continue;
        const s = utf8.decode(buf.subarray(g.at, g.at + g.len));
        if (g.no === 1) key = s;
        else if (g.no === 2) value = s;
      }
      info.metadata[key] = value;
    }
  }
  if (!info.irVersion || !info.hasGraph) throw new OnnxFormatError(`no ${!info.irVersion ? 'ir_version' : 'graph'} field: not an ONNX model`);
  return info;
}
