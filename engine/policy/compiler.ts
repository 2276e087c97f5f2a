/**
 * The Rego → WebAssembly compiler as a list of named stages (STYLE.md 6):
 *
 *   parse    rego/parser.ts      source → AST
 *   check    compile/stages.ts   AST → checked program (refs resolved, bodies reordered)
 *   plan     plan/planner.ts     checked program → IR (ir/ir.ts)
 *   emit     emit/emitter.ts     IR → wasm, spliced into build/wasm/runtime.wasm
 *
 * The result loads in the official SDK (`@open-policy-agent/opa-wasm`
 * loadPolicy/evaluate) like a module built by `opa build -t wasm`
 * (docs/rego-wasm-abi.md §1). Errors of every stage are thrown: a
 * RegoErrors for parse and check errors, a RegoError (UnsupportedError for
 * constructs the planner does not handle yet) from the planner.
 */

import { readFileSync } from 'node:fs';

import { guards, inputUse, type InputUse } from './analysis.js';
import { compileModules } from './compile/stages.js';
import { emit, type RuntimeManifest } from './emit/emitter.js';
import type { CoverSite, Policy } from './ir/ir.js';
import type { Module } from './rego/ast.js';
import { plan } from './plan/planner.js';
import { RegoError, RegoErrorCode, RegoErrors } from './rego/errors.js';
import { parseModule, type ParseOptions } from './rego/parser.js';
import { RUNTIME_MANIFEST, RUNTIME_WASM } from './runtime/build.js';

export interface Source {
  file: string;
  text: string;
}

export interface CompileOptions {
  /** `busted/decision`-style paths: data.busted.decision. Ids are their order here. */
  entrypoints: string[];
  /** entrypoints planned only when the policy defines their rule (`busted/kill`); ids follow `entrypoints` */
  optional?: string[];
  /** called with the IR before emitting (for `--dump-ir`) */
  onIR?: (ir: Policy) => void;
  /** parser options (`v0Compatible`) */
  parse?: ParseOptions;
  /**
   * coverage instrumentation, for `busted test-policy --coverage` only: the
   * module calls the host's `internal.cover` (LoadOptions.cover) at every
   * site of `Compiled.cover`. Off, the module is exactly what it was.
   */
  coverage?: boolean;
}

export interface Compiled {
  wasm: Uint8Array;
  entrypoints: Record<string, number>;
  /** with `coverage`: the sites the module reports, by the number it reports */
  cover?: CoverSite[];
  /** what the policy reads of its input (analysis.ts) */
  inputs: InputUse;
}

export function compile(sources: readonly Source[], opts: CompileOptions): Compiled {
  return compileParsed(
    sources.map((s) => parseModule(s.text, s.file, opts.parse)),
    opts,
  );
}

/** The stages after the parser, for callers that parsed (and looked at) the modules themselves (test-policy). */
export function compileParsed(modules: readonly Module[], opts: CompileOptions): Compiled {
  try {
    return stages(modules, opts);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw tooDeep(modules);
  }
}

/**
 * The stages after the parser walk the program recursively (the planner
 * plans a body's expressions one inside the next, as OPA's does), so a rule
 * nested or chained deeper than Node's stack allows (hundreds of
 * expressions in one body, of operators in one chain, of parts in one ref)
 * overflows it. That is a compile error at the rule that is deepest by
 * those measures, never a crash and never a RangeError without a place.
 */
function tooDeep(modules: readonly Module[]): RegoErrors {
  let worst: { rule: Module['rules'][number]; depth: number; what: string } | undefined;
  for (const m of modules) {
    for (const rule of m.rules) {
      const d = depthOf(rule);
      if (!worst || d.depth > worst.depth) worst = { rule, ...d };
    }
  }
  const loc = worst?.rule.loc ?? { file: modules[0]?.file ?? '', row: 1, col: 1 };
  const why = worst ? ` (${worst.depth} ${worst.what})` : '';
  return new RegoErrors([new RegoError(RegoErrorCode.COMPILE, `rule too deep to compile${why}; split it into smaller rules`, loc)]);
}

/** How deep a rule goes, walked with a stack of its own: the longest body, ref and nesting of terms, whichever is most. */
function depthOf(rule: object): { depth: number; what: string } {
  let depth = 0;
  let what = 'terms nested';
  const stack: Array<[unknown, number]> = [[rule, 0]];
  const note = (n: number, w: string) => {
    if (n > depth) [depth, what] = [n, w];
  };
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    note(d, 'terms nested');
    const node = v as Record<string, unknown>;
    if (Array.isArray(node.body)) note(node.body.length, 'expressions in one body');
    if (node.type === 'ref' && Array.isArray(node.path)) note(node.path.length, 'parts in one reference');
    for (const [k, x] of Object.entries(node)) if (k !== 'loc' && x !== null && typeof x === 'object') stack.push([x, Array.isArray(node) ? d : d + 1]);
  }
  return { depth, what };
}

function stages(modules: readonly Module[], opts: CompileOptions): Compiled {
  const checked = compileModules(modules);
  if (!checked.program) throw new RegoErrors(checked.errors);
  const defined = new Set(checked.program.ruleSets.map((r) => r.path));
  const entrypoints = [...opts.entrypoints, ...(opts.optional ?? []).filter((e) => defined.has(`data.${e.split('/').join('.')}`))];
  const ir = plan(checked.program, entrypoints, { coverage: opts.coverage });
  opts.onIR?.(ir);
  const manifest = JSON.parse(readFileSync(RUNTIME_MANIFEST, 'utf8')) as RuntimeManifest;
  const { wasm, inputPaths } = emit(ir, readFileSync(RUNTIME_WASM), manifest);
  const out: Compiled = {
    wasm,
    entrypoints: Object.fromEntries(entrypoints.map((e, i) => [e, i])),
    inputs: { ...inputUse(checked.program.modules, checked.program.builtins), tabled: inputPaths },
  };
  const unlessAbsent = guards(checked.program.ruleSets, entrypoints, out.inputs.paths);
  if (unlessAbsent) out.inputs.unlessAbsent = unlessAbsent;
  if (ir.cover) out.cover = ir.cover;
  return out;
}
