/**
 * The little of the wasm binary format the runtime build needs (spec
 * "Binary Format", sections 5.5): list sections, read the name section and
 * globals, append immutable i32 globals and exports. Pure functions on
 * bytes. Its reader, LEB128 encoders and section list also serve the
 * emitter's splicer (engine/policy/emit/wasm.ts).
 */

const SEC_GLOBAL = 6;
const SEC_EXPORT = 7;
const SEC_CODE = 10;
const SEC_CUSTOM = 0;
const KIND_NAMES = ['func', 'table', 'memory', 'global'] as const;
export type ExternKind = (typeof KIND_NAMES)[number];

export interface Section {
  id: number;
  /** Offset of the id byte. */
  head: number;
  /** Offset of the payload (after id and size). */
  start: number;
  end: number;
}

export class Reader {
  constructor(
    readonly b: Uint8Array,
    public pos = 0,
  ) {}
  byte(): number {
    if (this.pos >= this.b.length) throw new Error('wasm: unexpected end of module');
    return this.b[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if (!(x & 0x80)) return result;
      shift += 7;
    }
  }
  s32(): number {
    let result = 0;
    let shift = 0;
    let x: number;
    do {
      x = this.byte();
      result |= (x & 0x7f) << shift;
      shift += 7;
    } while (x & 0x80);
    return shift < 32 && x & 0x40 ? result | (~0 << shift) : result;
  }
  skipName(): void {
    // Two statements: `this.pos += this.u32()` would add to pos as it was
    // before the length was read.
    const n = this.u32();
    this.pos += n;
  }
  name(): string {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
}

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

/** Signed LEB128 of an i32 or i64 constant (BigInt arithmetic: exact for both). */
export function sleb(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(byte & 0x40)) || (v === -1n && byte & 0x40)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** A name as the binary format writes it (spec 5.2.4): its UTF-8 length, then its UTF-8. */
export function encodeName(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...uleb(b.length), ...b];
}

export function sections(b: Uint8Array): Section[] {
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d || b[4] !== 1) {
    throw new Error('wasm: not a version 1 wasm module');
  }
  const r = new Reader(b, 8);
  const out: Section[] = [];
  while (r.pos < b.length) {
    const head = r.pos;
    const id = r.byte();
    const size = r.u32();
    out.push({ id, head, start: r.pos, end: r.pos + size });
    r.pos += size;
  }
  return out;
}

/** Function index -> name, from the "name" custom section (subsection 1). */
export function functionNames(b: Uint8Array): Map<number, string> {
  const names = new Map<number, string>();
  const payload = customSection(b, 'name');
  if (!payload) return names;
  const r = new Reader(payload);
  while (r.pos < payload.length) {
    const sub = r.byte();
    const size = r.u32();
    const next = r.pos + size;
    if (sub === 1) {
      for (let n = r.u32(); n > 0; n--) {
        const idx = r.u32();
        names.set(idx, r.name());
      }
    }
    r.pos = next;
  }
  return names;
}

/** The payload of the custom section NAME (its bytes after the name), or undefined when the module has none. */
export function customSection(b: Uint8Array, name: string): Uint8Array | undefined {
  for (const s of sections(b)) {
    if (s.id !== SEC_CUSTOM) continue;
    const r = new Reader(b.subarray(0, s.end), s.start);
    if (r.name() === name) return b.subarray(r.pos, s.end);
  }
  return undefined;
}

/** A custom section NAME holding PAYLOAD, to append to a module. */
export function encodeCustomSection(name: string, payload: Uint8Array): Uint8Array {
  const body = [...encodeName(name), ...payload];
  return Uint8Array.from([SEC_CUSTOM, ...uleb(body.length), ...body]);
}

export interface Global {
  index: number;
  mutable: boolean;
  /** The init expression's value, when it is an i32.const. */
  i32?: number;
}

/** The module's own globals (imported globals: none in the runtime). */
export function globals(b: Uint8Array): Global[] {
  const s = sections(b).find((x) => x.id === SEC_GLOBAL);
  if (!s) return [];
  const r = new Reader(b, s.start);
  const out: Global[] = [];
  for (let n = r.u32(), i = 0; i < n; i++) {
    r.byte(); // valtype
    const mutable = r.byte() === 1;
    const g: Global = { index: i, mutable };
    const op = r.byte();
    if (op === 0x41) g.i32 = r.s32();
    while (r.byte() !== 0x0b); // rest of the constant expression (none here)
    out.push(g);
  }
  return out;
}

/**
 * The instructions of the module's function FUNC (its index, imports
 * counted, less `imported` function imports): the code section's body
 * after its locals, up to its final `end`.
 */
export function codeOf(b: Uint8Array, func: number, imported: number): Uint8Array {
  const s = sections(b).find((x) => x.id === SEC_CODE);
  if (!s) throw new Error('wasm: no code section');
  const r = new Reader(b, s.start);
  const n = r.u32();
  const want = func - imported;
  if (want < 0 || want >= n) throw new Error(`wasm: function ${func} has no body`);
  for (let i = 0; ; i++) {
    const size = r.u32();
    const end = r.pos + size;
    if (i === want) {
      for (let groups = r.u32(); groups > 0; groups--) {
        r.u32(); // count
        r.byte(); // valtype
      }
      return b.subarray(r.pos, end - 1);
    }
    r.pos = end;
  }
}

export interface Export {
  name: string;
  kind: ExternKind;
  index: number;
}

export function exportsOf(b: Uint8Array): Export[] {
  const s = sections(b).find((x) => x.id === SEC_EXPORT);
  if (!s) return [];
  const r = new Reader(b, s.start);
  const out: Export[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const name = r.name();
    const kind = KIND_NAMES[r.byte()]!;
    out.push({ name, kind, index: r.u32() });
  }
  return out;
}

function replaceSection(b: Uint8Array, s: Section, payload: number[]): Uint8Array<ArrayBuffer> {
  return Uint8Array.from([...b.subarray(0, s.head), s.id, ...uleb(payload.length), ...payload, ...b.subarray(s.end)]);
}

/**
 * Appends immutable i32 globals, each exported under its name, and exports
 * memory 0 as `memoryExport` if given. wasm-ld cannot do either: a C
 * variable exports as a global holding its *address*, and lld 14 has no
 * --export-memory for an imported memory.
 */
export function addExports(
  b: Uint8Array,
  consts: Record<string, number>,
  memoryExport?: string,
): Uint8Array<ArrayBuffer> {
  const gsec = sections(b).find((x) => x.id === SEC_GLOBAL);
  if (!gsec) throw new Error('wasm: module has no global section');
  const gr = new Reader(b, gsec.start);
  const count = gr.u32();
  const entries = [...b.subarray(gr.pos, gsec.end)];
  const names = Object.keys(consts);
  for (const name of names) entries.push(0x7f, 0x00, 0x41, ...sleb(consts[name]!), 0x0b);
  b = replaceSection(b, gsec, [...uleb(count + names.length), ...entries]);

  const esec = sections(b).find((x) => x.id === SEC_EXPORT);
  if (!esec) throw new Error('wasm: module has no export section');
  const er = new Reader(b, esec.start);
  const ecount = er.u32();
  const exps = [...b.subarray(er.pos, esec.end)];
  names.forEach((name, i) => exps.push(...encodeName(name), 0x03, ...uleb(count + i)));
  let added = names.length;
  if (memoryExport) {
    exps.push(...encodeName(memoryExport), 0x02, 0x00);
    added++;
  }
  return replaceSection(b, esec, [...uleb(ecount + added), ...exps]);
}
