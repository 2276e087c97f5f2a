/**
 * Stage 5 of the Rego compiler: IR (ir/ir.ts) → wasm function bodies,
 * spliced into the runtime module (wasm.ts). The lowering is OPA's
 * (docs/rego-wasm-abi.md §3.2, wasm.go compileBlock/compileScan/...):
 *
 * - every IR block is a wasm `block`; an undefined statement is `br` to the
 *   innermost IR block's label (`FnEmitter.undef`), whatever wasm labels
 *   (loops, helper blocks) lie in between;
 * - a scan is `block { loop { key = scan_key(src, i); br_if exit (key ==
 *   0); value = scan_value(src, i); i++; <body block>; br loop } }`, by
 *   position, so the body's undefined means "next element";
 * - IR locals are wasm locals with the same index (0 input, 1 data);
 *   helpers get scratch locals after the IR's.
 *
 * Constants live in one data segment placed at the runtime's __heap_base:
 * string bytes, interned string and number values (abi.h string_t,
 * number_t), the two booleans (boolean_t), and NUL-terminated abort
 * messages. A start function calls the runtime's own start (wasm-ld's .bss
 * init), then busted_heap_init with the end of that segment (§2.3).
 *
 * What makes an evaluation cheap (docs/rego-wasm-abi.md §9): lookups of
 * input and data paths go through the runtime's path table and, when a
 * function repeats one, a local (lookups.ts); rules that depend only on
 * data are kept across evaluations (kept.ts); rules are memoised within one.
 */

import { hostExportName } from '../builtins-js.js';
import * as IR from '../ir/ir.js';
import { CONFLICT_COMPLETE, CONFLICT_FUNCTION, CONFLICT_OBJECT } from '../plan/planner.js';
import { dataOnlyRules, inputKeyedRules } from './kept.js';
import { repeatedLookups } from './lookups.js';
import { V_ARRAY, V_BOOLEAN, V_NUMBER, V_OBJECT, V_SET, V_STRING } from '../runtime/values.js';
import { encodeCustomSection } from '../runtime/module.js';
import { PATH_TABLE_SECTION, pathTableHash } from '../analysis.js';
import { Code, I32, firstNewFunc, splice, startOf, type Body, type NewFunc } from './wasm.js';

/** What the emitter needs from build/wasm/runtime.json (runtime/build.ts). */
export interface RuntimeManifest {
  heapBase: number;
  image: { input: number; paths: number; n: number };
  smallInts: number;
  functions: Record<string, number>;
  stubs: Record<string, number>;
}

// abi.h layouts (pinned there by _Static_asserts); the value tags are runtime/values.ts
const STRING_T_SIZE = 12;
const NUMBER_T_SIZE = 24;
const N_INT = 1;
const N_TEXT = 2;
/** string_t: len@4, v@8; number_t: i@16; an N_INT number's first two bytes as a u16 */
const STRING_LEN = 4;
const STRING_PTR = 8;
const NUMBER_I64 = 16;
const INT_NUMBER = V_NUMBER | (N_INT << 8);
/** array_t, object_t, set_t: len@4, elems@12 */
const COLL_LEN = 4;
const COLL_ELEMS = 12;
// abi.h eval_ctx_t offsets.
const CTX_INPUT = 0;
const CTX_DATA = 4;
const CTX_RESULT = 8;
const CTX_ENTRYPOINT = 12;

const RUNTIME_FUNCS = [
  'opa_abort',
  'busted_heap_init',
  'opa_null',
  'opa_boolean',
  'opa_number_int',
  'opa_number_ref',
  'opa_array_with_cap',
  'opa_object',
  'opa_set',
  'opa_array_append',
  'opa_object_insert',
  'opa_set_add',
  'opa_value_get',
  'opa_value_compare',
  'busted_scan_key',
  'busted_scan_value',
  'busted_memo_reset',
  'busted_memo_get',
  'busted_memo_put',
  'busted_eval_begin',
  'busted_input_path',
  'busted_data_path',
  'busted_kept_get',
  'busted_kept_put',
  'busted_ikept_get',
  'busted_ikept_put',
] as const;
type RuntimeFunc = (typeof RUNTIME_FUNCS)[number];

/** The policy's constants, laid out from `base` upwards. */
class Data {
  private readonly bytes: number[] = [];
  private readonly raw = new Map<string, { addr: number; len: number }>();
  private readonly interned = new Map<string, number>();
  private readonly cstrs = new Map<string, number>();
  readonly boolAddr: [number, number];

  constructor(readonly base: number) {
    const f = this.alloc(2, 1);
    this.put(f, [V_BOOLEAN, 0]);
    const t = this.alloc(2, 1);
    this.put(t, [V_BOOLEAN, 1]);
    this.boolAddr = [f, t];
  }

  private alloc(n: number, align: number): number {
    while ((this.base + this.bytes.length) % align) this.bytes.push(0);
    const at = this.base + this.bytes.length;
    for (let i = 0; i < n; i++) this.bytes.push(0);
    return at;
  }

  private put(addr: number, b: number[]): void {
    b.forEach((x, i) => (this.bytes[addr - this.base + i] = x));
  }

  private u32(addr: number, v: number): void {
    this.put(addr, [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
  }

  /** A u32 array of XS; its address. */
  u32s(xs: readonly number[]): number {
    const at = this.alloc(4 * xs.length, 4);
    xs.forEach((x, i) => this.u32(at + 4 * i, x));
    return at;
  }

  /** UTF-8 bytes of s (not terminated). */
  text(s: string): { addr: number; len: number } {
    let r = this.raw.get(s);
    if (!r) {
      const b = [...new TextEncoder().encode(s)];
      const addr = this.alloc(b.length, 1);
      this.put(addr, b);
      r = { addr, len: b.length };
      this.raw.set(s, r);
    }
    return r;
  }

  /** A string_t value for s. */
  string(s: string): number {
    let a = this.interned.get(`s:${s}`);
    if (a === undefined) {
      const t = this.text(s);
      a = this.alloc(STRING_T_SIZE, 4);
      this.put(a, [V_STRING]);
      this.u32(a + 4, t.len);
      this.u32(a + 8, t.addr);
      this.interned.set(`s:${s}`, a);
    }
    return a;
  }

  /**
   * A number_t for a JSON number literal (abi.h: type@0 repr@1 len@4
   * text@8 i@16): N_INT when it is an integer that fits in i64, as the
   * runtime's parser makes it, else N_TEXT pointing at its text. Numbers
   * are never changed once made, so a literal needs no allocation.
   */
  number(text: string): number {
    const key = `n:${text}`;
    let a = this.interned.get(key);
    if (a === undefined) {
      a = this.alloc(NUMBER_T_SIZE, 8);
      const int = /^-?(0|[1-9][0-9]*)$/.test(text) && text !== '-0' ? BigInt(text) : undefined;
      if (int !== undefined && int >= -(2n ** 63n) && int < 2n ** 63n) {
        this.put(a, [V_NUMBER, N_INT]);
        const u = BigInt.asUintN(64, int);
        for (let k = 0; k < 8; k++) this.put(a + 16 + k, [Number((u >> BigInt(8 * k)) & 0xffn)]);
      } else {
        const t = this.text(text);
        this.put(a, [V_NUMBER, N_TEXT]);
        this.u32(a + 4, t.len);
        this.u32(a + 8, t.addr);
      }
      this.interned.set(key, a);
    }
    return a;
  }

  /** A NUL-terminated ASCII message for opa_abort (the SDK decodes it byte by byte, §1.1). */
  cstr(s: string): number {
    let a = this.cstrs.get(s);
    if (a === undefined) {
      const b = [...s].map((c) => (c.charCodeAt(0) < 128 ? c.charCodeAt(0) : 63));
      a = this.alloc(b.length + 1, 1);
      this.put(a, b);
      this.cstrs.set(s, a);
    }
    return a;
  }

  /** The segment, padded so the heap starts 8-aligned. */
  finish(): Uint8Array {
    this.alloc(0, 8);
    return Uint8Array.from(this.bytes);
  }
}

interface Ctx {
  policy: IR.Policy;
  data: Data;
  rt: Record<RuntimeFunc, number>;
  funcIndex: Map<string, number>;
  /** every runtime function by name (natives) */
  functions: Record<string, number>;
  /** host builtin id by Rego name (the `builtins` export) */
  hostIds: Map<string, number>;
  /** ids of the path table (lookups.ts paths), shared by every function */
  pathIds: Map<string, number>;
  /** where eval.c keeps the input image's path table (its input, table and length) */
  image: { input: number; paths: number; n: number };
  /** where the runtime's static numbers 0..255 are (NUMBER_T_SIZE bytes each) */
  smallInts: number;
}

/** runtime/eval.c IKEPT_SLOTS and IKEPT_KEYS: input-keyed rules past these are evaluated every time */
const IKEPT_SLOTS = 32;
const IKEPT_KEYS = 16;

/** runtime/eval.c PATH_SLOTS: lookups past this many distinct paths are made every time */
const MAX_PATHS = 1024;

/** PATH's id in the evaluation-wide path table (lookups.ts paths), given on first sight. */
function pathId(c: Ctx, path: string): number {
  let id = c.pathIds.get(path);
  if (id === undefined) c.pathIds.set(path, (id = c.pathIds.size));
  return id;
}

/** Builtins the host provides: not native, or a native's fallback. Ids are their order. */
export function hostBuiltins(policy: IR.Policy): string[] {
  return policy.static.builtinFuncs.filter((n) => {
    if ((IR.NATIVE_COMPARISONS as readonly string[]).includes(n)) return false;
    const nat = IR.NATIVE_BUILTINS[n];
    return nat === undefined || nat.fallback === true;
  });
}

/** Emits one function: label bookkeeping and scratch locals. */
class FnEmitter {
  readonly code = new Code();
  private depth = 0;
  /** per open IR block: the wasm label an undefined statement leaves by, and the one a BreakStmt leaves by */
  private readonly irBlocks: Array<{ undef: number; brk: number }> = [];
  private nextLocal: number;

  constructor(
    private readonly c: Ctx,
    firstScratch: number,
    /** the plan's result-set local, for ResultSetAdd */
    private readonly resultSet?: number,
    /** what AssignVarOnceStmt's conflict abort says */
    private readonly conflict: string = CONFLICT_COMPLETE,
    /** a rule's memo slot: its result is remembered per (input, data) for the evaluation */
    private readonly memoSlot?: number,
    /** a data-only rule's slot (kept.ts): its result is kept across evaluations with the same data */
    private readonly keptSlot?: number,
    /** an input-keyed rule's slot and its key's path ids (kept.ts inputKeyedRules; a u32 array at `ids`) */
    private readonly ikept?: { slot: number; ids: number; n: number },
  ) {
    this.nextLocal = firstScratch;
  }

  /** the local caching each repeated lookup (lookups.ts), by DotStmt */
  private cached = new Map<IR.DotStmt, number>();

  /**
   * Gives each repeated lookup of the function a local, set to 1 ("not
   * looked up yet": no value is at address 1) at entry.
   */
  cacheLookups(blocks: readonly IR.Block[], params: readonly IR.Local[]): void {
    const { slots, slotOf, pathOf } = repeatedLookups(blocks, params);
    const locals = Array.from({ length: slots }, () => this.scratch());
    for (const l of locals) this.code.i32Const(1).localSet(l);
    for (const [d, slot] of slotOf) this.cached.set(d, locals[slot]!);
    let maxInput = -1;
    for (const [d, path] of pathOf) {
      const id = pathId(this.c, path);
      if (id >= MAX_PATHS) continue;
      const root = path.startsWith(`${IR.INPUT}`) ? IR.INPUT : IR.DATA;
      this.paths.set(d, { id, root });
      if (root === IR.INPUT) maxInput = Math.max(maxInput, id);
    }
    if (maxInput < 0) return;
    // where this call reads the input's paths (lookup()): the host image's
    // table when the input is that image's and the table holds every id
    // read here, else 0 (busted_input_path looks each up, as for JSON
    // input or a `with`)
    const c = this.code;
    const img = this.c.image;
    this.inputTable = this.scratch();
    c.block();
    c.localGet(IR.INPUT).i32Eqz().brIf(0);
    c.localGet(IR.INPUT).i32Const(img.input).i32Load(0).i32Ne().brIf(0);
    c.i32Const(img.n).i32Load(0).i32Const(maxInput).i32LeU().brIf(0);
    c.i32Const(img.paths).i32Load(0).localSet(this.inputTable);
    c.end();
  }

  /** the local holding the path table this call reads input paths from (cacheLookups) */
  private inputTable = -1;

  /** the evaluation-wide path table's id of each lookup with a path (runtime/eval.c busted_*_path), and its root local */
  private paths = new Map<IR.DotStmt, { id: number; root: IR.Local }>();

  /**
   * `x == k` (EQUAL) or `x != k` for local X and the constant K (a boolean
   * or a string), inline: undefined where it does not hold. A boolean by
   * its two bytes (type, v); a string by its type, its length and its
   * first bytes, then opa_value_compare for the rest when it is longer
   * than four bytes. X may be undefined (0): never equal.
   */
  private compareConst(x: number, k: Exclude<IR.Operand, { type: 'local' }>, equal: boolean): void {
    const c = this.code;
    if (k.type === 'bool') {
      c.localGet(x).i32Load16U(0).i32Const(V_BOOLEAN | ((k.value ? 1 : 0) << 8)).i32Eq();
      c.localGet(x).i32Const(0).i32Ne().i32And();
      if (equal) c.i32Eqz();
      this.undefIf();
      return;
    }
    const bytes = new TextEncoder().encode(this.c.policy.static.strings[k.value]!);
    // each test leaves 1 where x differs: `==` is undefined there, `!=`
    // goes on past the block (and is undefined when no test tells them apart)
    if (!equal) this.open();
    const differs = (): void => {
      if (equal) this.undefIf();
      else c.brIf(0);
    };
    c.localGet(x).i32Eqz();
    differs();
    c.localGet(x).i32Load8U(0).i32Const(V_STRING).i32Ne();
    differs();
    c.localGet(x).i32Load(STRING_LEN).i32Const(bytes.length).i32Ne();
    differs();
    if (bytes.length >= 4) {
      // the first four bytes as one little-endian word (the string holds at least four)
      c.localGet(x).i32Load(STRING_PTR).i32Load(0).i32Const(bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)).i32Ne();
      differs();
      if (bytes.length > 4) {
        c.localGet(x);
        this.operand(k);
        this.call('opa_value_compare');
        differs();
      }
    } else {
      bytes.forEach((b, i) => {
        c.localGet(x).i32Load(STRING_PTR).i32Load8U(i).i32Const(b).i32Ne();
        differs();
      });
    }
    if (!equal) {
      c.i32Const(1);
      this.undefIf();
      this.close();
    }
  }

  /** `source[key]`, from the path table when the lookup has a path (its root local is 0 or 1, never assigned). */
  private lookup(s: IR.DotStmt): void {
    const p = this.paths.get(s);
    // (an input path implies cacheLookups chose this.inputTable)
    if (p === undefined || p.root !== IR.INPUT) {
      this.operand(s.source);
      this.operand(s.key);
      if (p === undefined) this.call('opa_value_get');
      else {
        this.code.i32Const(p.id).localGet(p.root);
        this.call('busted_data_path');
      }
      return;
    }
    // what the host's image holds at this path, read inline from the
    // table the call's entry chose (cacheLookups); busted_input_path for
    // what it leaves open (1: JSON input, a path below a member the image
    // wrote whole, a `with`)
    const c = this.code;
    const v = this.scratch();
    this.open();
    this.open();
    c.localGet(this.inputTable).i32Eqz().brIf(0);
    c.localGet(this.inputTable).i32Load(4 * p.id).localTee(v).i32Const(1).i32Ne().brIf(1);
    this.close();
    this.operand(s.source);
    this.operand(s.key);
    c.i32Const(p.id).localGet(p.root);
    this.call('busted_input_path');
    c.localSet(v);
    this.close();
    c.localGet(v);
  }

  get localCount(): number {
    return this.nextLocal;
  }

  scratch(): number {
    return this.nextLocal++;
  }

  open(kind: 'block' | 'loop' = 'block'): void {
    if (kind === 'block') this.code.block();
    else this.code.loop();
    this.depth++;
  }

  close(): void {
    this.code.end();
    this.depth--;
  }

  /** `br_if` out of the innermost IR block (the statement is undefined). */
  undefIf(): void {
    this.code.brIf(this.depth - this.irBlocks[this.irBlocks.length - 1]!.undef);
  }

  /** On entry to a memoised rule: return the remembered result, if any (params 0 and 1 are input and data). */
  memoGet(): void {
    if (this.keptSlot !== undefined) {
      const t = this.scratch();
      this.code.block();
      this.code.i32Const(this.keptSlot).localGet(1).call(this.c.rt.busted_kept_get).localTee(t).i32Const(1).i32Eq().brIf(0);
      this.code.localGet(t).ret().end();
    }
    if (this.memoSlot === undefined) return;
    const t = this.scratch();
    this.code.block();
    this.code.i32Const(this.memoSlot).localGet(0).localGet(1).call(this.c.rt.busted_memo_get).localTee(t).i32Const(1).i32Eq().brIf(0);
    this.code.localGet(t).ret().end();
    const k = this.ikept;
    if (k === undefined) return;
    // kept from an evaluation before: remembered for this one too (later calls ask the memo)
    this.code.block();
    this.code.i32Const(k.slot).localGet(0).localGet(1).i32Const(k.ids).i32Const(k.n).call(this.c.rt.busted_ikept_get).localTee(t).i32Const(1).i32Eq().brIf(0);
    this.code.i32Const(this.memoSlot).localGet(0).localGet(1).localGet(t).call(this.c.rt.busted_memo_put);
    this.code.localGet(t).ret().end();
  }

  /** Before a memoised rule returns `local`: remember it. */
  memoPut(local: number): void {
    if (this.keptSlot !== undefined) this.code.i32Const(this.keptSlot).localGet(1).localGet(local).call(this.c.rt.busted_kept_put);
    if (this.memoSlot === undefined) return;
    this.code.i32Const(this.memoSlot).localGet(0).localGet(1).localGet(local).call(this.c.rt.busted_memo_put);
    const k = this.ikept;
    if (k !== undefined) this.code.i32Const(k.slot).localGet(0).localGet(1).i32Const(k.ids).i32Const(k.n).localGet(local).call(this.c.rt.busted_ikept_put);
  }

  block(b: IR.Block, breakLabel?: number): void {
    this.open();
    this.irBlocks.push({ undef: this.depth, brk: breakLabel ?? this.depth });
    for (const s of b.stmts) this.stmt(s);
    this.irBlocks.pop();
    this.close();
  }

  private call(f: RuntimeFunc): void {
    this.code.call(this.c.rt[f]);
  }

  private operand(o: IR.Operand): void {
    switch (o.type) {
      case 'local':
        this.code.localGet(o.value);
        break;
      case 'bool':
        this.code.i32Const(this.c.data.boolAddr[o.value ? 1 : 0]);
        break;
      case 'string_index':
        this.code.i32Const(this.c.data.string(this.c.policy.static.strings[o.value]!));
        break;
    }
  }

  private abort(loc: IR.StmtLoc, msg: string): void {
    const file = this.c.policy.static.files[loc.file] ?? '';
    this.code.i32Const(this.c.data.cstr(`${file}:${loc.row}:${loc.col}: ${msg}`));
    this.call('opa_abort');
    this.code.unreachable();
  }

  private stmt(s: IR.Stmt): void {
    const c = this.code;
    switch (s.type) {
      case 'BlockStmt':
        for (const b of s.blocks) this.block(b);
        return;
      case 'BreakStmt':
        c.br(this.depth - this.irBlocks[this.irBlocks.length - 1 - s.index]!.brk);
        return;
      case 'ScanStmt': {
        // by position: i = 0; loop { key, value = the i-th element, or exit; i++; body }.
        // The element of a set, an object or an array is read inline (an
        // array's index below 256 is a static number); anything else asks
        // busted_scan_key and busted_scan_value (which end any other scan).
        const i = this.scratch();
        const tag = this.scratch();
        const at = this.scratch();
        const src = s.source;
        c.i32Const(0).localSet(i);
        this.open(); // exit
        this.open('loop');
        this.open(); // got: key and value set
        this.open(); // generic
        c.localGet(src).i32Eqz().brIf(3);
        c.localGet(src).i32Load8U(0).localTee(tag).i32Const(V_ARRAY).i32LtU().brIf(0);
        c.localGet(tag).i32Const(V_SET).i32GtU().brIf(0);
        c.localGet(i).localGet(src).i32Load(COLL_LEN).i32GeU().brIf(3);
        // an object: elems are (key, value) pairs
        this.open();
        c.localGet(tag).i32Const(V_OBJECT).i32Ne().brIf(0);
        c.localGet(src).i32Load(COLL_ELEMS).localGet(i).i32Const(3).i32Shl().i32Add().localTee(at).i32Load(0).localSet(s.key);
        c.localGet(at).i32Load(4).localSet(s.value).br(2);
        this.close();
        c.localGet(src).i32Load(COLL_ELEMS).localGet(i).i32Const(2).i32Shl().i32Add().i32Load(0).localSet(s.value);
        // a set: its element is key and value
        this.open();
        c.localGet(tag).i32Const(V_SET).i32Ne().brIf(0);
        c.localGet(s.value).localSet(s.key).br(2);
        this.close();
        // an array: its index
        c.localGet(i).i32Const(256).i32GeU().brIf(0);
        c.i32Const(this.c.smallInts).localGet(i).i32Const(NUMBER_T_SIZE).i32Mul().i32Add().localSet(s.key).br(1);
        this.close(); // generic
        c.localGet(src).localGet(i);
        this.call('busted_scan_key');
        c.localTee(s.key).i32Eqz().brIf(2);
        c.localGet(src).localGet(i);
        this.call('busted_scan_value');
        c.localSet(s.value);
        this.close(); // got
        c.localGet(i).i32Const(1).i32Add().localSet(i);
        this.block(s.block);
        c.br(0);
        this.close();
        this.close();
        return;
      }
      case 'NotStmt': {
        // block done { block solution { <not block> ; br done } ; br undef } :
        // running off the not block (no solution) skips to `done`; a
        // BreakStmt to it lands in `solution`, which makes the not undefined.
        this.open();
        this.open();
        this.block(s.block, this.depth);
        c.br(1);
        this.close();
        c.i32Const(1);
        this.undefIf();
        this.close();
        return;
      }
      case 'CallStmt': {
        const idx = this.c.funcIndex.get(s.func);
        if (idx !== undefined) {
          s.args.forEach((a) => this.operand(a));
          c.call(idx).localTee(s.result).i32Eqz();
          this.undefIf();
          return;
        }
        const native = IR.NATIVE_BUILTINS[s.func];
        if (native !== undefined) {
          const idx = this.c.functions[native.fn];
          if (idx === undefined) throw new Error(`emit: runtime has no function ${native.fn} (rebuild with scripts/setup.sh --build-only)`);
          s.args.forEach((a) => this.operand(a));
          if (native.fallback) c.i32Const(this.c.hostIds.get(s.func)!);
          c.call(idx).localTee(s.result).i32Eqz();
          this.undefIf();
          return;
        }
        const hostId = this.c.hostIds.get(s.func);
        if (hostId !== undefined) {
          if (s.args.length > 4) throw new Error(`emit: too many built-in call arguments: ${s.func}`);
          const imp = this.c.functions[`opa_builtin${s.args.length}`];
          if (imp === undefined) throw new Error(`emit: runtime has no import opa_builtin${s.args.length}`);
          c.i32Const(hostId).i32Const(0);
          s.args.forEach((a) => this.operand(a));
          c.call(imp).localTee(s.result).i32Eqz();
          this.undefIf();
          return;
        }
        const [a, b] = s.args;
        const op = s.func as IR.NativeComparison;
        if (op !== 'lt' && op !== 'lte' && op !== 'gt' && op !== 'gte') throw new Error(`emit: unknown function ${s.func}`);
        const holds = this.scratch();
        this.open();
        if (a!.type === 'local' && b!.type === 'local') {
          // two integers (count(x) > 0, a port against a bound): their i64s,
          // without the call; anything else below
          this.open();
          for (const x of [a!.value, b!.value]) {
            c.localGet(x).i32Eqz().brIf(0);
            c.localGet(x).i32Load16U(0).i32Const(INT_NUMBER).i32Ne().brIf(0);
          }
          c.localGet(a!.value).i64Load(NUMBER_I64).localGet(b!.value).i64Load(NUMBER_I64).i64Compare(op).localSet(holds).br(1);
          this.close();
        }
        this.operand(a!);
        this.operand(b!);
        this.call('opa_value_compare');
        c.i32Const(0);
        ({ lt: () => c.i32LtS(), lte: () => c.i32LeS(), gt: () => c.i32GtS(), gte: () => c.i32GeS() })[op]();
        c.localSet(holds);
        this.close();
        // opa_boolean's answer, without its call
        c.i32Const(this.c.data.boolAddr[1]).i32Const(this.c.data.boolAddr[0]).localGet(holds).select().localSet(s.result);
        return;
      }
      case 'AssignVarStmt':
        this.operand(s.source);
        c.localSet(s.target);
        return;
      case 'AssignVarOnceStmt':
        this.open();
        c.localGet(s.target).i32Eqz().brIf(0);
        c.localGet(s.target);
        this.operand(s.source);
        this.call('opa_value_compare');
        c.i32Eqz().brIf(0);
        this.abort(s.loc, this.conflict);
        this.close();
        this.operand(s.source);
        c.localSet(s.target);
        return;
      case 'ResetLocalStmt':
        c.i32Const(0).localSet(s.target);
        return;
      case 'DotStmt': {
        const cache = this.cached.get(s);
        if (cache !== undefined) {
          // block { br_if 0 (cache != 1); cache = get(source, key) }; target = cache
          c.block().localGet(cache).i32Const(1).i32Ne().brIf(0);
          this.lookup(s);
          c.localSet(cache).end();
          c.localGet(cache).localTee(s.target).i32Eqz();
          this.undefIf();
          return;
        }
        this.lookup(s);
        c.localTee(s.target).i32Eqz();
        this.undefIf();
        return;
      }
      case 'EqualStmt':
      case 'NotEqualStmt': {
        // a local against a constant (input.type == "mcp_message", x != false):
        // told apart inline by type, length and first bytes where they differ
        const [x, k] = s.a.type === 'local' ? [s.a, s.b] : [s.b, s.a];
        if (x.type === 'local' && k.type !== 'local') {
          this.compareConst(x.value, k, s.type === 'EqualStmt');
          return;
        }
      }
        this.operand(s.a);
        this.operand(s.b);
        this.call('opa_value_compare');
        if (s.type === 'NotEqualStmt') c.i32Eqz();
        this.undefIf();
        return;
      case 'IsDefinedStmt':
        c.localGet(s.source).i32Eqz();
        this.undefIf();
        return;
      case 'IsUndefinedStmt':
        c.localGet(s.source);
        this.undefIf();
        return;
      case 'IsArrayStmt':
      case 'IsObjectStmt':
      case 'IsSetStmt': {
        // value_t's first byte is its tag (abi.h); undefined (0) is no collection
        const tag = s.type === 'IsArrayStmt' ? V_ARRAY : s.type === 'IsObjectStmt' ? V_OBJECT : V_SET;
        c.localGet(s.source).i32Eqz();
        this.undefIf();
        c.localGet(s.source).i32Load8U(0).i32Const(tag).i32Ne();
        this.undefIf();
        return;
      }
      case 'MakeNullStmt':
        this.call('opa_null');
        c.localSet(s.target);
        return;
      case 'MakeNumberIntStmt':
        c.i32Const(this.c.data.number(String(s.value))).localSet(s.target);
        return;
      case 'MakeNumberRefStmt':
        c.i32Const(this.c.data.number(this.c.policy.static.strings[s.Index]!)).localSet(s.target);
        return;
      case 'MakeArrayStmt':
        c.i32Const(s.capacity);
        this.call('opa_array_with_cap');
        c.localSet(s.target);
        return;
      case 'MakeObjectStmt':
        this.call('opa_object');
        c.localSet(s.target);
        return;
      case 'MakeSetStmt':
        this.call('opa_set');
        c.localSet(s.target);
        return;
      case 'ArrayAppendStmt':
        c.localGet(s.array);
        this.operand(s.value);
        this.call('opa_array_append');
        return;
      case 'ObjectInsertStmt':
        c.localGet(s.object);
        this.operand(s.key);
        this.operand(s.value);
        this.call('opa_object_insert');
        return;
      case 'ObjectInsertOnceStmt': {
        const old = this.scratch();
        this.open();
        c.localGet(s.object);
        this.operand(s.key);
        this.call('opa_value_get');
        c.localTee(old).i32Eqz().brIf(0);
        c.localGet(old);
        this.operand(s.value);
        this.call('opa_value_compare');
        c.i32Eqz().brIf(0);
        this.abort(s.loc, CONFLICT_OBJECT);
        this.close();
        c.localGet(s.object);
        this.operand(s.key);
        this.operand(s.value);
        this.call('opa_object_insert');
        return;
      }
      case 'SetAddStmt':
        c.localGet(s.set);
        this.operand(s.value);
        this.call('opa_set_add');
        return;
      case 'ResultSetAddStmt':
        if (this.resultSet === undefined) throw new Error('emit: ResultSetAddStmt outside a plan');
        c.localGet(this.resultSet).localGet(s.value);
        this.call('opa_set_add');
        return;
      case 'ReturnLocalStmt':
        this.memoPut(s.source);
        c.localGet(s.source).ret();
        return;
    }
  }
}

/** The highest local an IR function uses, plus one. */
function localsUsed(blocks: IR.Block[]): number {
  let max = IR.FIRST_FREE_LOCAL - 1;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (v === null || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    for (const [k, x] of Object.entries(o)) {
      if (typeof x === 'number' && ['target', 'source', 'key', 'value', 'result', 'array', 'object', 'set'].includes(k)) {
        if (o.type === 'string_index' || o.type === 'bool' || (k === 'value' && o.type === 'MakeNumberIntStmt')) continue;
        max = Math.max(max, x);
      } else visit(x);
    }
  };
  visit(blocks);
  return max + 1;
}

const RULE_TYPE = { params: [I32, I32], results: [I32] };
const funcType = (f: IR.Func) => ({ params: f.params.map(() => I32), results: [I32] });

/** What emit() makes: the module, and the input paths of its path table by id. */
export interface Emitted {
  wasm: Uint8Array;
  /**
   * The input paths the runtime's path table holds (busted_input_path), by
   * id: for a host that writes the input as an image (image.ts) and can
   * fill them in. Undefined for an id of a data path.
   */
  inputPaths: Array<string[] | undefined>;
}

/** Emits the policy into `runtime` (the bytes of build/wasm/runtime.wasm). */
export function emit(policy: IR.Policy, runtime: Uint8Array, manifest: RuntimeManifest): Emitted {
  const rt = {} as Record<RuntimeFunc, number>;
  for (const f of RUNTIME_FUNCS) {
    const idx = manifest.functions[f];
    if (idx === undefined) throw new Error(`emit: runtime has no function ${f} (rebuild with scripts/setup.sh --build-only)`);
    rt[f] = idx;
  }
  for (const stub of ['eval', 'builtins', 'entrypoints']) {
    if (manifest.stubs[stub] === undefined) throw new Error(`emit: runtime manifest has no stub ${stub}`);
  }
  const data = new Data((manifest.heapBase + 7) & ~7);
  const first = firstNewFunc(runtime);
  // Layout of the added functions: start, plans, funcs.
  const startIdx = first;
  const planIdx = policy.plans.map((_, i) => first + 1 + i);
  const funcIndex = new Map(policy.funcs.map((f, i) => [f.name, first + 1 + policy.plans.length + i]));
  const hosts = hostBuiltins(policy);
  const hostIds = new Map(hosts.map((n, i) => [n, i]));
  const ctx: Ctx = { policy, data, rt, funcIndex, functions: manifest.functions, hostIds, pathIds: new Map(), image: manifest.image, smallInts: manifest.smallInts };
  const add: NewFunc[] = [];

  const bodyOf = (e: FnEmitter, params: number): Body => ({ locals: e.localCount - params, code: e.code });

  const startPlaceholder: NewFunc = { type: { params: [], results: [] }, body: { locals: 0, code: new Code() }, name: 'busted_start' };
  add.push(startPlaceholder);

  for (const p of policy.plans) {
    const n = localsUsed(p.blocks);
    const rs = n;
    const e = new FnEmitter(ctx, n + 1, rs);
    e.cacheLookups(p.blocks, [IR.INPUT, IR.DATA]);
    e.code.call(rt.opa_set).localSet(rs);
    for (const b of p.blocks) e.block(b);
    e.code.localGet(rs);
    add.push({ type: RULE_TYPE, body: bodyOf(e, 2), name: `plan ${p.name}` });
  }
  const dataOnly = dataOnlyRules(policy);
  let keptSlots = 0;
  // rules kept across evaluations under the addresses of the input values they read (not in coverage builds: kept.ts excludes their counting)
  const keyed = inputKeyedRules(policy);
  let ikeptSlots = 0;
  const ikeptOf = (f: IR.Func): { slot: number; ids: number; n: number } | undefined => {
    const paths = keyed.get(f.name);
    if (paths === undefined || paths.length > IKEPT_KEYS || ikeptSlots >= IKEPT_SLOTS) return undefined;
    const ids = paths.map((p) => pathId(ctx, p));
    if (ids.some((id) => id >= MAX_PATHS)) return undefined;
    return { slot: ikeptSlots++, ids: data.u32s(ids), n: ids.length };
  };
  policy.funcs.forEach((f, slot) => {
    const n = Math.max(localsUsed(f.blocks), f.params.length, f.return + 1);
    // functions (params beyond input and data) have their own conflict message and are not memoised
    const fn = f.params.length > 2;
    const kept = !fn && dataOnly.has(f.name) ? keptSlots++ : undefined;
    const ikept = !fn && kept === undefined ? ikeptOf(f) : undefined;
    const e = new FnEmitter(ctx, n, undefined, fn ? CONFLICT_FUNCTION : CONFLICT_COMPLETE, fn ? undefined : slot, kept, ikept);
    e.memoGet();
    e.cacheLookups(f.blocks, f.params);
    for (const b of f.blocks) e.block(b);
    e.memoPut(f.return);
    e.code.localGet(f.return);
    add.push({ type: funcType(f), body: bodyOf(e, f.params.length), name: f.name });
  });

  // eval(ctx): dispatch on the entrypoint id (§3.2 "plan dispatch").
  const ev = new Code();
  const CTX = 0;
  ev.i32Const(policy.funcs.length).call(rt.busted_memo_reset);
  ev.localGet(CTX).i32Load(CTX_INPUT).localGet(CTX).i32Load(CTX_DATA).call(rt.busted_eval_begin);
  policy.plans.forEach((_, i) => {
    ev.block().localGet(CTX).i32Load(CTX_ENTRYPOINT).i32Const(i).i32Ne().brIf(0);
    ev.localGet(CTX).localGet(CTX).i32Load(CTX_INPUT).localGet(CTX).i32Load(CTX_DATA).call(planIdx[i]!).i32Store(CTX_RESULT);
    ev.i32Const(0).ret().end();
  });
  ev.i32Const(data.cstr('internal: illegal entrypoint id')).call(rt.opa_abort).i32Const(0);

  // entrypoints(): {"<name>": id}
  const eps = new Code();
  eps.call(rt.opa_object).localSet(0);
  policy.plans.forEach((p, i) => {
    eps.localGet(0).i32Const(data.string(p.name)).i64Const(i).call(rt.opa_number_int).call(rt.opa_object_insert);
  });
  eps.localGet(0);

  // builtins(): {"<name>": id} of the host builtins (§4.1)
  const bis = new Code().call(rt.opa_object).localSet(0);
  hosts.forEach((name, i) => {
    bis.localGet(0).i32Const(data.string(hostExportName(name))).i64Const(i).call(rt.opa_number_int).call(rt.opa_object_insert);
  });
  bis.localGet(0);

  const bytes = data.finish();
  const heapStart = data.base + bytes.length;
  const rtStart = startOf(runtime);
  if (rtStart !== undefined) startPlaceholder.body.code.call(rtStart);
  startPlaceholder.body.code.i32Const(heapStart).call(rt.busted_heap_init);

  const inputPaths: Array<string[] | undefined> = [];
  for (const [path, id] of ctx.pathIds) {
    if (id >= MAX_PATHS) continue;
    const [root, ...keys] = path.split('/');
    inputPaths[id] = root === String(IR.INPUT) ? keys.map((k) => policy.static.strings[Number(k)]!) : undefined;
  }
  const spliced = splice(runtime, {
    replace: new Map([
      [manifest.stubs.eval!, { locals: 0, code: ev }],
      [manifest.stubs.entrypoints!, { locals: 1, code: eps }],
      [manifest.stubs.builtins!, { locals: 1, code: bis }],
    ]),
    add,
    data: { offset: data.base, bytes },
    start: startIdx,
  });
  // the path table's hash, which the engine checks against the input paths it is handed with this module
  const hash = new Uint8Array(4);
  new DataView(hash.buffer).setUint32(0, pathTableHash(inputPaths), true);
  const section = encodeCustomSection(PATH_TABLE_SECTION, hash);
  const wasm = new Uint8Array(spliced.length + section.length);
  wasm.set(spliced);
  wasm.set(section, spliced.length);
  return { wasm, inputPaths };
}
