/**
 * Evaluation through the ABI's one-call entry point, `opa_eval` (OPA
 * docs/wasm.md, ABI 1.2), on the instance @open-policy-agent/opa-wasm
 * loaded: the same module, memory, data and builtin imports the SDK set up,
 * without the wrapper its `evaluate()` puts around each call.
 *
 * Why: for a decision the wrapper costs more than the policy. Each call it
 * copies the input from an ArrayBuffer, makes two views of the memory,
 * builds a new TextDecoder for the result and JSON.parse's it; bench/rego
 * measured that at about 0.9 µs, twice the hand-written policy. Here the
 * input is written straight into the module's memory where the SDK would
 * copy it (the data heap pointer), it stays there for the next entrypoint
 * of the same event, and the usual results are recognised by their bytes.
 * A module our compiler built offers more (runtime/eval.c): `busted_eval`
 * hands back the result set itself, whose usual shapes are read from the
 * runtime's values without a dump, and `busted_eval_again` lets the next
 * entrypoint of the same event reuse the rules the last one worked out.
 *
 * The SDK's fields are read, not assumed: `DirectEval.of` gives undefined
 * when a field is missing or of another type (another SDK version) or the
 * module's ABI minor version is below 2, and the caller keeps evaluate().
 */
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';

import { V_BOOLEAN, V_OBJECT, V_SET, V_STRING } from './runtime/values.js';

/** What the SDK keeps on a LoadedPolicy (opa.js, 1.10): read and checked, never written. */
interface SdkFields {
  minorVersion?: unknown;
  mem?: unknown;
  wasmInstance?: { exports?: Record<string, unknown> };
  dataAddr?: unknown;
  dataHeapPtr?: unknown;
}

type OpaEval = (reserved: number, entrypoint: number, data: number, input: number, inputLen: number, heap: number, format: number) => number;
/** busted's runtime (runtime/eval.c): opa_eval without the dump, the result set's address */
type BustedEval = (entrypoint: number, data: number, input: number, inputLen: number, heap: number) => number;

const PAGE = 65536;
const decoder = new TextDecoder();

/** A result the engine asks for often, as opa_json_dump writes it, and its value (frozen: it is handed out to every caller). */
interface Known {
  bytes: Uint8Array;
  value: unknown;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') for (const x of Object.values(v)) deepFreeze(x);
  return Object.freeze(v);
}

function known(values: unknown[]): Known[] {
  return values.map((value) => ({ bytes: new TextEncoder().encode(JSON.stringify(value)), value: deepFreeze(value) }));
}

/** The result sets of busted/decision (and of a boolean entrypoint, busted/kill) that need no JSON.parse. */
const KNOWN = known([[], ...['allow', 'audit', 'block', 'deny', true, false].map((result) => [{ result }])]);
/** what KNOWN's result sets hold, for busted_eval's reader: no result, one string (by its UTF-8), or a boolean */
const resultOf = (k: Known): unknown => (k.value as Array<{ result: unknown }>)[0]?.result;
const knownWith = (result: unknown): unknown => KNOWN.find((k) => resultOf(k) === result)!.value;
const EMPTY = knownWith(undefined);
const STRINGS = KNOWN.filter((k) => typeof resultOf(k) === 'string').map((k) => ({ bytes: new TextEncoder().encode(resultOf(k) as string), value: k.value }));
const [TRUE, FALSE] = [knownWith(true), knownWith(false)];
/** STRINGS of 5 and of 4 bytes by their third byte (none share one) */
const byThird = (n: number): Array<Known | undefined> => {
  const out: Array<Known | undefined> = new Array<Known | undefined>(256).fill(undefined);
  for (const k of STRINGS) {
    if (k.bytes.length !== n) continue;
    if (out[k.bytes[2]!]) throw new Error('direct: two known results share a third byte');
    out[k.bytes[2]!] = k;
  }
  return out;
};
const STRINGS_5 = byThird(5);
const STRINGS_4 = byThird(4);
const RESULT = new TextEncoder().encode('result');

/** Whether M holds the bytes B at AT, LEN long. */
function bytesAre(m: Uint8Array, at: number, len: number, b: Uint8Array): boolean {
  if (len !== b.length) return false;
  for (let i = 0; i < len; i++) if (m[at + i] !== b[i]) return false;
  return true;
}


export class DirectEval {
  private view: Uint8Array;
  /** the same memory by 32-bit word, for reading the runtime's (aligned) values */
  private words: Uint32Array;
  /** the input last written: its address and length */
  private inputAt = 0;
  private inputLen = 0;

  /** busted's runtime (runtime/eval.c): the next evaluation is of the same input, its heap carried on */
  private readonly again: (() => void) | undefined;
  private readonly heapPtr: () => number;
  /** busted's runtime: evaluation without the dump, and the dump for what is not read here */
  private readonly bustedEval: BustedEval | undefined;
  private readonly jsonDump: ((v: number) => number) | undefined;
  /** busted's runtime (runtime/json.c): static memory only the host writes, for what it keeps of one input for the next (image.ts) */
  readonly hostArena: { at: number; size: number } | undefined;

  private constructor(
    private readonly sdk: SdkFields & { mem: WebAssembly.Memory },
    private readonly opaEval: OpaEval,
  ) {
    this.view = new Uint8Array(sdk.mem.buffer);
    this.words = new Uint32Array(sdk.mem.buffer);
    const ex = sdk.wasmInstance!.exports!;
    this.again = typeof ex.busted_eval_again === 'function' && typeof ex.opa_heap_ptr_get === 'function' ? (ex.busted_eval_again as () => void) : undefined;
    this.heapPtr = ex.opa_heap_ptr_get as () => number;
    if (typeof ex.busted_host_arena_at === 'function' && typeof ex.busted_host_arena_size === 'function') {
      this.hostArena = { at: (ex.busted_host_arena_at as () => number)(), size: (ex.busted_host_arena_size as () => number)() };
    }
    if (typeof ex.busted_eval === 'function' && typeof ex.opa_json_dump === 'function') {
      this.bustedEval = ex.busted_eval as BustedEval;
      this.jsonDump = ex.opa_json_dump as (v: number) => number;
    }
  }

  /** The direct path for POLICY, or undefined when the SDK or the module does not offer it. */
  static of(policy: LoadedPolicy): DirectEval | undefined {
    const sdk = policy as unknown as SdkFields;
    const fn = sdk.wasmInstance?.exports?.opa_eval;
    if (typeof fn !== 'function' || !(sdk.mem instanceof WebAssembly.Memory)) return undefined;
    if (typeof sdk.minorVersion !== 'number' || sdk.minorVersion < 2) return undefined;
    if (typeof sdk.dataAddr !== 'number' || typeof sdk.dataHeapPtr !== 'number') return undefined;
    return new DirectEval(sdk as SdkFields & { mem: WebAssembly.Memory }, fn as OpaEval);
  }

  /**
   * The memory, viewed whole. Growing the memory (here, in the SDK or in
   * the module) detaches its old buffer, and a view of a detached buffer
   * has length 0: that is the test, without asking the Memory for its buffer.
   */
  private mem(): Uint8Array {
    const v = this.view;
    if (v.length !== 0) return v;
    this.words = new Uint32Array(this.sdk.mem.buffer);
    return (this.view = new Uint8Array(this.sdk.mem.buffer));
  }

  /** The memory, grown to hold [0, end). */
  readonly ensure = (end: number): Uint8Array => {
    const v = this.mem();
    if (end <= v.length) return v; // the usual case, without asking the Memory for its buffer
    const mem = this.sdk.mem;
    if (end > mem.buffer.byteLength) mem.grow(Math.ceil((end - mem.buffer.byteLength) / PAGE));
    return this.mem();
  };

  /**
   * Where the next input goes (where the SDK would copy it: just above the
   * data); write it into `ensure(end)`, the memory grown to hold it, and
   * say where it ends with `inputWritten(end)` (and where it starts, when
   * not there: an image, image.ts, has its keys below it). Every `evaluate`
   * reads that input until the next one.
   */
  inputAddress(): number {
    return (this.inputAt = this.sdk.dataHeapPtr as number);
  }

  inputWritten(end: number, start: number = this.inputAt): void {
    this.inputAt = start;
    this.inputLen = end - start;
  }

  /**
   * The result set of ENTRYPOINT for the input last written, as the SDK's
   * evaluate() would give it. Errors (opa_abort: a conflict, a bad input)
   * throw as they do there.
   *
   * AGAIN: the last evaluation was of this same input, and finished (the
   * caller's second entrypoint for an event). A module of ours then keeps
   * the rules that evaluation worked out (runtime/eval.c
   * busted_eval_again): busted/reasons after busted/decision evaluates the
   * reasons' rules only once.
   */
  evaluate(entrypoint: number, again = false): unknown {
    const at = this.inputAt;
    const len = this.inputLen;
    let heap = at + len;
    if (again && this.again !== undefined) {
      this.again();
      heap = this.heapPtr();
    }
    // the data heap pointer moves only with setData, which the engine does before any input
    const data = this.sdk.dataAddr as number;
    if (this.bustedEval !== undefined) return this.read(this.bustedEval(entrypoint, data, at, len, heap));
    return this.parse(this.opaEval(0, entrypoint, data, at, len, heap, 0));
  }

  /**
   * The result set at SET, a value of busted's runtime: what a decision
   * mostly is (no result, or one string or boolean) read from its
   * structures (runtime/abi.h), anything else through opa_json_dump.
   */
  private read(set: number): unknown {
    const m = this.mem();
    const w = this.words;
    // the runtime's values are word-aligned (its allocator's and the
    // constants'); anything else is left to the dump
    if ((set & 3) === 0 && m[set] === V_SET) {
      const n = w[(set >>> 2) + 1];
      if (n === 0) return EMPTY;
      const elems = n === 1 ? w[(set >>> 2) + 3]! : 1;
      const obj = (elems & 3) === 0 ? w[elems >>> 2]! : 1;
      if ((obj & 3) === 0 && obj !== 0 && m[obj] === V_OBJECT && w[(obj >>> 2) + 1] === 1) {
        const kvs = w[(obj >>> 2) + 3]!;
        const key = (kvs & 3) === 0 ? w[kvs >>> 2]! : 1;
        const v = (kvs & 3) === 0 ? w[(kvs >>> 2) + 1]! : 1;
        if ((key & 3) === 0 && m[key] === V_STRING && bytesAre(m, w[(key >>> 2) + 2]!, w[(key >>> 2) + 1]!, RESULT)) {
          if (m[v] === V_BOOLEAN) return m[v + 1] ? TRUE : FALSE;
          if ((v & 3) === 0 && m[v] === V_STRING) {
            const at = w[(v >>> 2) + 2]!;
            const len = w[(v >>> 2) + 1]!;
            // "allow", "audit", "block", "deny": told apart by the length and the third byte
            const k = len === 5 ? STRINGS_5[m[at + 2]!] : len === 4 ? STRINGS_4[m[at + 2]!] : undefined;
            if (k !== undefined && bytesAre(m, at, len, k.bytes)) return k.value;
          }
        }
      }
    }
    return this.parse(this.jsonDump!(set));
  }

  /** The result set dumped as JSON at RET (NUL-terminated). */
  private parse(ret: number): unknown {
    const mem = this.mem();
    const end = mem.indexOf(0, ret);
    if (end < 0) throw new Error('opa_eval: the result is not NUL-terminated');
    for (const k of KNOWN) if (bytesAre(mem, ret, end - ret, k.bytes)) return k.value;
    return JSON.parse(decoder.decode(mem.subarray(ret, end)));
  }
}
