/**
 * Protocol Buffers' wire format (protobuf.dev/programming-guides/encoding),
 * read without a schema: a message is a list of fields, each a number, a
 * wire type and a value, and the caller knows which numbers it wants (the
 * field numbers of the public .proto files it follows, llm-grpc.ts).
 *
 * Bad input gives undefined, never a throw: a truncated varint, a length
 * past the end, a group (wire types 3 and 4, long deprecated, not used by
 * the APIs read here), a field number 0.
 */

/** A message's fields by number, in wire order: varints as numbers, length-delimited fields as bytes (views, not copies); fixed-size fields are skipped. */
export type PbMessage = Map<number, Array<number | Uint8Array>>;

const utf8 = new TextDecoder();

/** The fields of one message, or undefined when B is not one. */
export function pbMessage(b: Uint8Array): PbMessage | undefined {
  const out: PbMessage = new Map();
  let at = 0;
  // a varint at `at` (up to 10 bytes); past 2^53 its value is not exact, which no field read here reaches
  const varint = (): number | undefined => {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= b.length) return undefined;
      const x = b[at++]!;
      v += (x & 0x7f) * scale;
      if (x < 0x80) return v;
      scale *= 128;
    }
    return undefined;
  };
  while (at < b.length) {
    const key = varint();
    if (key === undefined) return undefined;
    const n = Math.floor(key / 8);
    const wire = key % 8;
    if (n === 0) return undefined;
    let value: number | Uint8Array | undefined;
    switch (wire) {
      case 0:
        value = varint();
        if (value === undefined) return undefined;
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        const len = varint();
        if (len === undefined || at + len > b.length) return undefined;
        value = b.subarray(at, at + len);
        at += len;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        return undefined;
    }
    if (at > b.length) return undefined;
    if (value === undefined) continue;
    const list = out.get(n);
    if (list) list.push(value);
    else out.set(n, [value]);
  }
  return out;
}

/** The length-delimited values of field N (strings, bytes, embedded messages). */
export function pbBytes(m: PbMessage | undefined, n: number): Uint8Array[] {
  return (m?.get(n) ?? []).filter((v): v is Uint8Array => typeof v !== 'number');
}

/** Field N as a string (its last value, as protobuf reads a repeated scalar); undefined when absent. */
export function pbString(m: PbMessage | undefined, n: number): string | undefined {
  const all = pbBytes(m, n);
  return all.length ? utf8.decode(all[all.length - 1]) : undefined;
}

/** Field N as an integer (its last value); undefined when absent. */
export function pbInt(m: PbMessage | undefined, n: number): number | undefined {
  const all = (m?.get(n) ?? []).filter((v): v is number => typeof v === 'number');
  return all.length ? all[all.length - 1] : undefined;
}

/** The embedded messages of field N, those that parse. */
export function pbMessages(m: PbMessage | undefined, n: number): PbMessage[] {
  const out: PbMessage[] = [];
  for (const b of pbBytes(m, n)) {
    const x = pbMessage(b);
    if (x) out.push(x);
  }
  return out;
}

/**
 * The strings of a google.protobuf.Struct (struct.proto: fields = 1, a map
 * of key = 1 to Value = 2; Value's string_value = 3, struct_value = 5,
 * list_value = 6 whose values = 1), keys and values, in wire order: a
 * function call's arguments or a function's response as text.
 */
export function pbStructStrings(s: PbMessage | undefined, out: string[] = [], depth = 0): string[] {
  if (depth > 32) return out;
  for (const entry of pbMessages(s, 1)) {
    const k = pbString(entry, 1);
    if (k !== undefined) out.push(k);
    for (const v of pbMessages(entry, 2)) valueStrings(v, out, depth + 1);
  }
  return out;
}

function valueStrings(v: PbMessage, out: string[], depth: number): void {
  const s = pbString(v, 3);
  if (s !== undefined) out.push(s);
  for (const st of pbMessages(v, 5)) pbStructStrings(st, out, depth + 1);
  for (const list of pbMessages(v, 6)) for (const x of pbMessages(list, 1)) valueStrings(x, out, depth + 1);
}
