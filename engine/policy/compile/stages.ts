/**
 * Stage 3 of the Rego compiler: the compile-time checks between the parser
 * and the planner, as an ordered list of named stages (STYLE.md 6), after
 * OPA's `ast.Compiler` `c.stages` (v1/ast/compile.go). Each stage reads and
 * updates one CompileState; as in OPA, compilation stops after the first
 * stage that reports an error, so later stages may rely on earlier ones.
 *
 * OPA stages not implemented here (yet): CheckDuplicateImports,
 * CheckKeywordOverrides, RewriteLocalVars' unused-var checks (strict mode
 * and `declared var x unused`), RewriteExprTerms, RewriteComprehensionTerms,
 * RewriteRefsInHead, RewriteWithValues, RewriteEquals,
 * RewriteDynamicTerms, CheckTypes, rule and comprehension indices.
 */

import type * as A from '../rego/ast.js';
import type { RegoError } from '../rego/errors.js';
import { rewriteMetadataCalls } from './annotations.js';
import { checkUndefinedFuncs } from './funcs.js';
import { rewriteLocalVars } from './locals.js';
import type { CheckedProgram, RuleSet } from './program.js';
import { buildGraph, checkRecursion } from './recursion.js';
import { packageExports, resolveModule } from './resolve.js';
import { buildRuleSets, checkBuiltinNames, checkRuleConflicts } from './rules.js';
import { checkSafetyRuleBodies, checkSafetyRuleHeads } from './safety.js';

export interface CompileState {
  modules: A.Module[];
  ruleSets: RuleSet[];
  graph: Map<A.Rule, RuleSet[]>;
  builtins: string[];
  errors: RegoError[];
}

export type Stage = readonly [name: string, run: (s: CompileState) => void];

export const STAGES: readonly Stage[] = [
  [
    'resolve_refs',
    (s) => {
      const exports = packageExports(s.modules);
      s.modules = s.modules.map((m) => resolveModule(m, s.errors, exports));
    },
  ],
  // annotations read, rego.metadata.* calls replaced by their values, before anything looks at calls
  ['rewrite_rego_metadata_calls', (s) => void (s.modules = rewriteMetadataCalls(s.modules, s.errors))],
  ['rewrite_local_vars', (s) => void (s.modules = rewriteLocalVars(s.modules, s.errors))],
  ['set_rule_tree', (s) => void (s.ruleSets = buildRuleSets(s.modules))],
  ['check_builtin_rule_names', (s) => checkBuiltinNames(s.modules, s.errors)],
  ['check_rule_conflicts', (s) => checkRuleConflicts(s.modules, s.ruleSets, s.errors)],
  ['check_undefined_funcs', (s) => void (s.builtins = checkUndefinedFuncs(s.modules, s.ruleSets, s.errors))],
  ['check_safety_rule_heads', (s) => checkSafetyRuleHeads(s.modules, s.errors)],
  ['check_safety_rule_bodies', (s) => checkSafetyRuleBodies(s.modules, s.ruleSets, s.errors)],
  ['set_graph', (s) => void (s.graph = buildGraph(s.ruleSets))],
  ['check_recursion', (s) => checkRecursion(s.ruleSets, s.graph, s.errors)],
];

export interface CompileOptions {
  /** stop after the stage with this name (for --dump-ast after a stage, and tests) */
  stopAfter?: string;
}

export interface CompileResult {
  /** undefined when there are errors */
  program: CheckedProgram | undefined;
  errors: RegoError[];
  /** the stage that failed, if any */
  failedStage?: string;
}

/** Runs the stages over parsed modules (which it does not modify). */
export function compileModules(modules: readonly A.Module[], opts: CompileOptions = {}): CompileResult {
  const s: CompileState = { modules: [...modules], ruleSets: [], graph: new Map(), builtins: [], errors: [] };
  for (const [name, run] of STAGES) {
    run(s);
    if (s.errors.length > 0) return { program: undefined, errors: s.errors, failedStage: name };
    if (opts.stopAfter === name) break;
  }
  const dependencies: Record<string, string[]> = {};
  for (const set of s.ruleSets) {
    const deps = new Set<string>();
    for (const r of set.rules) for (const d of s.graph.get(r) ?? []) deps.add(d.path);
    dependencies[set.path] = [...deps];
  }
  return { program: { modules: s.modules, ruleSets: s.ruleSets, dependencies, builtins: s.builtins }, errors: [] };
}
