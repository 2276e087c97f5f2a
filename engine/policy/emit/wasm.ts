/**
 * A small wasm encoder and the splicer that puts emitted code into the
 * runtime module (spec "Binary Format", §5). Pure functions on bytes.
 *
 * Splicing (docs/rego-wasm-abi.md §7.1 option A, OPA's own approach in
 * wasm.go initModule/emitFunctionDecl): the runtime built by
 * runtime/build.ts already has every import (busted_force_imports keeps
 * them), so appending functions renumbers nothing. We
 * - append function types, then function declarations and bodies after
 *   the runtime's own (new index = imported + defined + k);
 * - replace the bodies of the stubs `eval`, `builtins`, `entrypoints` in
 *   place (their index and type stay);
 * - append one active data segment above the runtime's __heap_base;
 * - add a start section calling the given function (heap init), in place
 *   of the runtime's own (wasm-ld's __wasm_init_memory, which zeroes .bss
 *   with memory.fill): the caller's start calls that first (`startOf`);
 * - raise the memory import's minimum if the data needs more pages.
 */

import { encodeName, Reader, sections, sleb, uleb, type Section } from '../runtime/module.js';

export { sleb, uleb };

export const I32 = 0x7f;
export const I64 = 0x7e;

/** Instruction bytes of one function body; names are the spec's mnemonics. */
export class Code {
  readonly bytes: number[] = [];
  private op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  block(): this {
    return this.op(0x02, 0x40);
  }
  loop(): this {
    return this.op(0x03, 0x40);
  }
  end(): this {
    return this.op(0x0b);
  }
  br(depth: number): this {
    return this.op(0x0c, ...uleb(depth));
  }
  brIf(depth: number): this {
    return this.op(0x0d, ...uleb(depth));
  }
  ret(): this {
    return this.op(0x0f);
  }
  unreachable(): this {
    return this.op(0x00);
  }
  drop(): this {
    return this.op(0x1a);
  }
  call(fn: number): this {
    return this.op(0x10, ...uleb(fn));
  }
  localGet(i: number): this {
    return this.op(0x20, ...uleb(i));
  }
  localSet(i: number): this {
    return this.op(0x21, ...uleb(i));
  }
  localTee(i: number): this {
    return this.op(0x22, ...uleb(i));
  }
  i32Load(offset: number): this {
    return this.op(0x28, 2, ...uleb(offset));
  }
  i32Load8U(offset: number): this {
    return this.op(0x2d, 0, ...uleb(offset));
  }
  i32Load16U(offset: number): this {
    return this.op(0x2f, 1, ...uleb(offset));
  }
  i64Load(offset: number): this {
    return this.op(0x29, 3, ...uleb(offset));
  }
  i32Store(offset: number): this {
    return this.op(0x36, 2, ...uleb(offset));
  }
  i32Const(n: number): this {
    return this.op(0x41, ...sleb(n | 0));
  }
  i64Const(n: number | bigint): this {
    return this.op(0x42, ...sleb(n));
  }
  i32Eqz(): this {
    return this.op(0x45);
  }
  i32Eq(): this {
    return this.op(0x46);
  }
  i32Ne(): this {
    return this.op(0x47);
  }
  i32LtS(): this {
    return this.op(0x48);
  }
  i32GtS(): this {
    return this.op(0x4a);
  }
  i32LtU(): this {
    return this.op(0x49);
  }
  i32GtU(): this {
    return this.op(0x4b);
  }
  i32GeU(): this {
    return this.op(0x4f);
  }
  i32Mul(): this {
    return this.op(0x6c);
  }
  i32Shl(): this {
    return this.op(0x74);
  }
  i32LeU(): this {
    return this.op(0x4d);
  }
  i32LeS(): this {
    return this.op(0x4c);
  }
  i32GeS(): this {
    return this.op(0x4e);
  }
  i32Add(): this {
    return this.op(0x6a);
  }
  i32And(): this {
    return this.op(0x71);
  }
  /** i64.lt_s, i64.gt_s, i64.le_s, i64.ge_s */
  i64Compare(op: 'lt' | 'gt' | 'lte' | 'gte'): this {
    return this.op({ lt: 0x53, gt: 0x55, lte: 0x57, gte: 0x59 }[op]);
  }
  /** select: the first operand when the third is not 0, else the second */
  select(): this {
    return this.op(0x1b);
  }
}

export interface FuncType {
  params: number[];
  results: number[];
}

/** A function body: extra i32 locals beyond the params, and its code (without the final `end`). */
export interface Body {
  locals: number;
  code: Code;
}

export interface NewFunc {
  type: FuncType;
  body: Body;
  /** for the name section: what profilers and stack traces call it */
  name?: string;
}

export interface Splice {
  /** function index → new body (the stubs) */
  replace: Map<number, Body>;
  /** appended in order; their indices are returned by firstNewFunc() */
  add: NewFunc[];
  /** an active segment of memory 0 at `offset` */
  data: { offset: number; bytes: Uint8Array };
  /** index of the start function */
  start: number;
}

/**
 * Bytes built from pieces and joined once: the runtime's sections are tens
 * of kilobytes, and spreading them into number arrays took most of a
 * compile (bench/rego).
 */
class Bytes {
  private readonly parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array | readonly number[]): this {
    const u = b instanceof Uint8Array ? b : Uint8Array.from(b);
    this.parts.push(u);
    this.length += u.length;
    return this;
  }
  append(other: Bytes): this {
    for (const p of other.parts) this.push(p);
    return this;
  }
  join(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

const section = (id: number, payload: Bytes): Bytes => new Bytes().push([id, ...uleb(payload.length)]).append(payload);

/**
 * The runtime's "name" custom section with the added functions' names after
 * its own (subsection 1 lists functions by increasing index, and theirs are
 * the highest), so that CPU profiles and stack traces name the policy's
 * rules as they name the runtime's functions. Other subsections stay.
 */
function withNames(b: Uint8Array, s: Section, first: number, add: readonly NewFunc[]): Bytes | undefined {
  const r = new Reader(b.subarray(0, s.end), s.start);
  if (r.name() !== 'name') return undefined;
  const out = new Bytes().push(encodeName('name'));
  let done = false;
  const funcNames = (entries: Bytes, count: number): void => {
    add.forEach((f, i) => {
      if (f.name === undefined) return;
      entries.push(uleb(first + i)).push(encodeName(f.name));
      count++;
    });
    const payload = new Bytes().push(uleb(count)).append(entries);
    out.push([1, ...uleb(payload.length)]).append(payload);
    done = true;
  };
  while (r.pos < s.end) {
    const sub = r.byte();
    const size = r.u32();
    const start = r.pos;
    if (sub === 1) {
      const count = r.u32();
      funcNames(new Bytes().push(b.subarray(r.pos, start + size)), count);
    } else {
      // subsection 0 (the module's name) comes before 1; the rest after it
      if (sub > 1 && !done) funcNames(new Bytes(), 0);
      out.push(b.subarray(start - 1 - uleb(size).length, start + size));
    }
    r.pos = start + size;
  }
  if (!done) funcNames(new Bytes(), 0);
  return out;
}

/** Counts of a vector section and its raw entries' bytes. */
function vecOf(b: Uint8Array, s: Section | undefined): { count: number; rest: Uint8Array } {
  if (!s) return { count: 0, rest: new Uint8Array(0) };
  const r = new Reader(b, s.start);
  const count = r.u32();
  return { count, rest: b.subarray(r.pos, s.end) };
}

function encodeType(t: FuncType): number[] {
  return [0x60, ...uleb(t.params.length), ...t.params, ...uleb(t.results.length), ...t.results];
}

function encodeBody(body: Body): Bytes {
  const locals = body.locals > 0 ? [1, ...uleb(body.locals), I32] : [0];
  const size = locals.length + body.code.bytes.length + 1;
  return new Bytes().push([...uleb(size), ...locals]).push(body.code.bytes).push([0x0b]);
}

/** Number of imported functions and the memory import's minimum pages. */
export function importsOf(b: Uint8Array): { funcs: number; memoryMin: number } {
  const s = sections(b).find((x) => x.id === 2);
  let funcs = 0;
  let memoryMin = 0;
  if (!s) return { funcs, memoryMin };
  const r = new Reader(b, s.start);
  for (let n = r.u32(); n > 0; n--) {
    r.skipName();
    r.skipName();
    const kind = r.byte();
    if (kind === 0) {
      r.u32();
      funcs++;
    } else if (kind === 1) {
      r.byte();
      if (r.byte() & 1) r.u32();
      r.u32();
    } else if (kind === 2) {
      const flags = r.byte();
      memoryMin = r.u32();
      if (flags & 1) r.u32();
    } else {
      r.byte();
      r.byte();
    }
  }
  return { funcs, memoryMin };
}

/** The runtime's start function, if it has one (the spliced start must call it). */
export function startOf(b: Uint8Array): number | undefined {
  const s = sections(b).find((x) => x.id === 8);
  return s ? new Reader(b, s.start).u32() : undefined;
}

/** Index the first added function gets. */
export function firstNewFunc(b: Uint8Array): number {
  const secs = sections(b);
  return importsOf(b).funcs + vecOf(b, secs.find((x) => x.id === 3)).count;
}

function rewriteImports(b: Uint8Array, s: Section, minPages: number): number[] {
  const r = new Reader(b, s.start);
  const out: number[] = [];
  const n = r.u32();
  out.push(...uleb(n));
  for (let i = 0; i < n; i++) {
    const from = r.pos;
    r.skipName();
    r.skipName();
    const kind = r.byte();
    if (kind === 2) {
      out.push(...b.subarray(from, r.pos));
      const flags = r.byte();
      const min = r.u32();
      const max = flags & 1 ? r.u32() : undefined;
      out.push(flags, ...uleb(Math.max(min, minPages)), ...(max === undefined ? [] : uleb(max)));
      continue;
    }
    if (kind === 0) r.u32();
    else if (kind === 1) {
      r.byte();
      if (r.byte() & 1) r.u32();
      r.u32();
    } else {
      r.byte();
      r.byte();
    }
    out.push(...b.subarray(from, r.pos));
  }
  return out;
}

export function splice(b: Uint8Array, sp: Splice): Uint8Array {
  const secs = sections(b);
  const imports = importsOf(b);
  const types = vecOf(b, secs.find((x) => x.id === 1));
  const funcs = vecOf(b, secs.find((x) => x.id === 3));

  // Types: one per added function (duplicates are legal and keep this simple).
  const typeSec = new Bytes().push(uleb(types.count + sp.add.length)).push(types.rest);
  for (const f of sp.add) typeSec.push(encodeType(f.type));
  const funcSec = new Bytes().push(uleb(funcs.count + sp.add.length)).push(funcs.rest);
  sp.add.forEach((_, i) => funcSec.push(uleb(types.count + i)));

  // Code: walk the runtime's bodies, replacing stubs.
  const codeS = secs.find((x) => x.id === 10)!;
  const cr = new Reader(b, codeS.start);
  const nBodies = cr.u32();
  const codeSec = new Bytes().push(uleb(nBodies + sp.add.length));
  for (let i = 0; i < nBodies; i++) {
    const from = cr.pos;
    const size = cr.u32();
    const end = cr.pos + size;
    const repl = sp.replace.get(imports.funcs + i);
    if (repl) codeSec.append(encodeBody(repl));
    else codeSec.push(b.subarray(from, end));
    cr.pos = end;
  }
  for (const f of sp.add) codeSec.append(encodeBody(f.body));

  const dataS = secs.find((x) => x.id === 11);
  const data = vecOf(b, dataS);
  const dataSec = new Bytes()
    .push(uleb(data.count + 1))
    .push(data.rest)
    .push([0x00, 0x41, ...sleb(sp.data.offset), 0x0b, ...uleb(sp.data.bytes.length)])
    .push(sp.data.bytes);

  const minPages = Math.ceil((sp.data.offset + sp.data.bytes.length) / 65536);
  const out = new Bytes().push(b.subarray(0, 8));
  let startDone = false;
  const emitStart = () => {
    if (!startDone) out.append(section(8, new Bytes().push(uleb(sp.start))));
    startDone = true;
  };
  for (const s of secs) {
    if ([8, 9, 10, 11, 12].includes(s.id)) emitStart();
    if (s.id === 8) continue; // replaced: the new start calls the old one
    if (s.id === 12) throw new Error('wasm: data count section not supported by the splicer');
    switch (s.id) {
      case 1:
        out.append(section(1, typeSec));
        break;
      case 2:
        out.append(section(2, new Bytes().push(rewriteImports(b, s, minPages))));
        break;
      case 3:
        out.append(section(3, funcSec));
        break;
      case 10:
        out.append(section(10, codeSec));
        break;
      case 11:
        out.append(section(11, dataSec));
        break;
      case 0: {
        const named = withNames(b, s, imports.funcs + nBodies, sp.add);
        out.append(section(0, named ?? new Bytes().push(b.subarray(s.start, s.end))));
        break;
      }
      default:
        out.append(section(s.id, new Bytes().push(b.subarray(s.start, s.end))));
    }
  }
  if (!dataS) throw new Error('wasm: the runtime has no data section');
  return out.join();
}
