/**
 * Builds the Rego policy runtime (the C files next to this one) into
 * build/wasm/, like scripts/setup.sh builds the BPF objects:
 *
 *   runtime.wasm        the runtime with stub eval/builtins/entrypoints
 *                       (stub.c) for the emitter to replace
 *   runtime-echo.wasm   the same with echo.c's test policy, loadable by the
 *                       npm SDK as it is (test/policy/runtime.test.ts)
 *   runtime.json        the manifest the emitter reads: imports, exports,
 *                       function indices by name, heap base, ABI version
 *
 * clang-14 --target=wasm32 compiles, wasm-ld-14 links directly (the clang
 * driver would run wasm-opt and merge the stubs: docs/rego-wasm-abi.md §6.2),
 * then addExports() adds what wasm-ld cannot: the ABI version globals and
 * the memory export. Incremental by mtime.
 *
 *   node dist/engine/policy/runtime/build.js [--force]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { PACKAGE_ROOT } from '../../paths.js';
import { addExports, codeOf, exportsOf, functionNames, globals, Reader } from './module.js';

export const RUNTIME_SRC_DIR = join(PACKAGE_ROOT, 'engine', 'policy', 'runtime');
export const RUNTIME_OUT_DIR = join(PACKAGE_ROOT, 'build', 'wasm');
export const RUNTIME_WASM = join(RUNTIME_OUT_DIR, 'runtime.wasm');
export const RUNTIME_ECHO_WASM = join(RUNTIME_OUT_DIR, 'runtime-echo.wasm');
export const RUNTIME_MANIFEST = join(RUNTIME_OUT_DIR, 'runtime.json');

/** docs §1.2: 1.2 is the opa_eval fast path; 1.3 would need the heap stash exports. */
export const ABI_VERSION = 1;
export const ABI_MINOR_VERSION = 2;

/** Shared by both builds; the policy part (stub.c or echo.c) is added per build. */
const COMMON = ['lib.c', 'malloc.c', 'value.c', 'json.c', 'eval.c', 'builtins.c', 'regex.c', 'stack.s'];
const HEADERS = ['abi.h'];
// -mbulk-memory: memcpy/memset are memory.copy/memory.fill (lib.c)
const CFLAGS = ['--target=wasm32', '-mbulk-memory', '-msimd128', '-flto', '-O2', '-std=c11', '-nostdlib', '-ffreestanding', '-Wall', '-Wextra', '-Werror'];
// No --gc-sections opt-out: RT_API (`used`) keeps what the emitter calls.
// what emit/emitter.ts reads inline, by address (wasm-ld exports a data
// symbol as a global holding its address): the image's path table, and the
// static numbers 0..255 (a scan's array index)
const LDFLAGS = ['--no-entry', '--import-memory', '--export=__heap_base', '--export=__data_end', '--export=busted_image_input', '--export=busted_image_paths', '--export=busted_image_n', '--export=busted_small_ints'];

export interface Tools {
  clang: string;
  wasmLd: string;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir || '.', cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The tools, or why they cannot be used (a skip reason for tests). */
export function findTools(): Tools | { missing: string } {
  const wasmLd = which('wasm-ld-14') ?? which('wasm-ld');
  if (!wasmLd) return { missing: 'needs lld (apt-get install lld)' };
  const clang = which('clang-14') ?? which('clang');
  if (!clang) return { missing: 'needs clang (apt-get install clang)' };
  try {
    const targets = execFileSync(clang, ['-print-targets'], { encoding: 'utf8' });
    if (!/\bwasm32\b/.test(targets)) return { missing: `${clang} has no wasm32 target` };
  } catch (e) {
    return { missing: `${clang} -print-targets failed: ${(e as Error).message}` };
  }
  return { clang, wasmLd };
}

export interface Manifest {
  generated: string;
  abi: { version: number; minor: number };
  /** Minimum pages of the env.memory import. */
  memoryMinPages: number;
  /** End of the runtime's data and shadow stack: the emitter's data goes above. */
  heapBase: number;
  /** Initial __stack_pointer (global 0); equal to heapBase, which stack.s relies on. */
  stackTop: number;
  dataEnd: number;
  /** Addresses of eval.c's busted_image_input, busted_image_paths and busted_image_n. */
  image: { input: number; paths: number; n: number };
  /** Address of value.c's busted_small_ints: the number_t of 0..255, 24 bytes each. */
  smallInts: number;
  imports: { module: string; name: string; kind: string; index: number }[];
  exports: { name: string; kind: string; index: number }[];
  /** Every named function (imports included) -> function index. */
  functions: Record<string, number>;
  /** Bodies the emitter replaces, by export name -> function index. */
  stubs: Record<'eval' | 'builtins' | 'entrypoints', number>;
}

const newer = (out: string, inputs: string[]): boolean =>
  existsSync(out) && inputs.every((i) => statSync(i).mtimeMs <= statSync(out).mtimeMs);

function writeAtomic(path: string, data: Uint8Array | string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

function link(tools: Tools, objs: string[], out: string): void {
  const raw = `${out}.raw`;
  execFileSync(tools.wasmLd, [...LDFLAGS, '-o', raw, ...objs], { stdio: ['ignore', 'inherit', 'inherit'] });
  const patched = addExports(
    new Uint8Array(readFileSync(raw)),
    { opa_wasm_abi_version: ABI_VERSION, opa_wasm_abi_minor_version: ABI_MINOR_VERSION },
    'memory',
  );
  unlinkSync(raw);
  new WebAssembly.Module(patched); // fails the build, not a later load, if the patch broke something
  writeAtomic(out, patched);
}

export function manifestOf(bytes: Uint8Array<ArrayBuffer>): Manifest {
  const mod = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(mod);
  const exports = exportsOf(bytes);
  const names = functionNames(bytes);
  const functions: Record<string, number> = {};
  for (const [i, n] of [...names].sort((a, b) => a[0] - b[0])) functions[n] = i;
  const g = globals(bytes);
  const globalValue = (name: string): number => {
    const e = exports.find((x) => x.name === name && x.kind === 'global');
    const v = e && g[e.index]?.i32;
    if (v === undefined) throw new Error(`runtime: no constant global ${name}`);
    return v;
  };
  const stub = (name: string): number => {
    const e = exports.find((x) => x.name === name && x.kind === 'func');
    if (!e) throw new Error(`runtime: no export ${name}`);
    return e.index;
  };
  const heapBase = globalValue('__heap_base');
  // Global 0 is wasm-ld's __stack_pointer; stack.s resets it to __heap_base.
  const stackTop = g[0]?.mutable ? g[0].i32 : undefined;
  if (stackTop !== heapBase) throw new Error(`runtime: stack top ${stackTop} is not __heap_base ${heapBase}`);
  const fnImports = imports.filter((i) => i.kind === 'function');
  checkStackResets(bytes, exports, names, fnImports.length, heapBase);
  return {
    generated: 'by engine/policy/runtime/build.ts from build/wasm/runtime.wasm; do not edit',
    abi: { version: globalValue('opa_wasm_abi_version'), minor: globalValue('opa_wasm_abi_minor_version') },
    memoryMinPages: Math.ceil(heapBase / 65536),
    heapBase,
    stackTop,
    dataEnd: globalValue('__data_end'),
    image: { input: globalValue('busted_image_input'), paths: globalValue('busted_image_paths'), n: globalValue('busted_image_n') },
    smallInts: globalValue('busted_small_ints'),
    imports: imports.map((i) => ({ ...i, index: i.kind === 'function' ? fnImports.indexOf(i) : 0 })),
    exports,
    functions,
    stubs: { eval: stub('eval'), builtins: stub('builtins'), entrypoints: stub('entrypoints') },
  };
}

/**
 * The entry points that reset the shadow stack (eval.c) must do it before
 * anything else: a function that has a stack frame of its own sets it up
 * first (global.get __stack_pointer ... global.set), and the reset then gives
 * that frame's bytes to its callees. With -flto LLVM had inlined the JSON
 * parser into opa_eval, and its callees overwrote the parser's state (a
 * valid input was "not valid JSON"). Each body must begin with
 * `i32.const __heap_base; call busted_stack_reset`.
 */
function checkStackResets(bytes: Uint8Array, exports: readonly { name: string; kind: string; index: number }[], names: Map<number, string>, imported: number, heapBase: number): void {
  const reset = [...names].find(([, n]) => n === 'busted_stack_reset')?.[0];
  if (reset === undefined) throw new Error('runtime: no function busted_stack_reset');
  for (const name of ['opa_eval', 'busted_eval', 'opa_eval_ctx_new']) {
    const e = exports.find((x) => x.name === name && x.kind === 'func');
    if (!e) throw new Error(`runtime: no export ${name}`);
    const body = codeOf(bytes, e.index, imported);
    // read, not compared as bytes: wasm-ld writes relocated constants as padded LEBs
    const r = new Reader(body);
    if (!(r.byte() === 0x41 && r.s32() === heapBase && r.byte() === 0x10 && r.u32() === reset)) {
      throw new Error(`runtime: ${name} does not begin with busted_stack_reset (it has a stack frame of its own, which the reset would hand to its callees; see eval.c)`);
    }
  }
}

export interface BuildResult {
  /** False when everything was up to date. */
  built: boolean;
  ms: number;
}

export function buildRuntime(opts: { force?: boolean; tools?: Tools } = {}): BuildResult {
  const t0 = performance.now();
  const found = opts.tools ?? findTools();
  if ('missing' in found) throw new Error(`cannot build the policy runtime: ${found.missing}`);
  const objDir = join(RUNTIME_OUT_DIR, 'obj');
  mkdirSync(objDir, { recursive: true });
  const headers = HEADERS.map((h) => join(RUNTIME_SRC_DIR, h));
  const sources = readdirSync(RUNTIME_SRC_DIR).filter((f) => /\.[cs]$/.test(f));
  let built = false;
  const obj = (c: string): string => {
    const src = join(RUNTIME_SRC_DIR, c);
    const o = join(objDir, c.replace(/\.[cs]$/, '.o'));
    if (opts.force || !newer(o, [src, ...headers])) {
      const flags = c.endsWith('.s') ? ['--target=wasm32'] : CFLAGS;
      execFileSync(found.clang, [...flags, '-c', src, '-o', o], { stdio: ['ignore', 'inherit', 'inherit'] });
      built = true;
    }
    return o;
  };
  const objs = Object.fromEntries(sources.map((c) => [c, obj(c)]));
  const self = join(RUNTIME_SRC_DIR, 'build.ts');
  for (const [out, policy] of [
    [RUNTIME_WASM, 'stub.c'],
    [RUNTIME_ECHO_WASM, 'echo.c'],
  ] as const) {
    const inputs = [...COMMON, policy].map((c) => objs[c]!);
    if (opts.force || built || !newer(out, [...inputs, self])) {
      link(found, inputs, out);
      built = true;
    }
  }
  if (built || !newer(RUNTIME_MANIFEST, [RUNTIME_WASM])) {
    const m = manifestOf(new Uint8Array(readFileSync(RUNTIME_WASM)));
    writeAtomic(RUNTIME_MANIFEST, `${JSON.stringify(m, null, 2)}\n`);
    built = true;
  }
  return { built, ms: Math.round(performance.now() - t0) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const tools = findTools();
  if ('missing' in tools) {
    console.error(`policy runtime: ${tools.missing}`);
    process.exit(1);
  }
  const r = buildRuntime({ force: process.argv.includes('--force'), tools });
  console.error(`policy runtime: ${r.built ? `built ${RUNTIME_OUT_DIR} in ${r.ms} ms` : 'up to date'}`);
}
