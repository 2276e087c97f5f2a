/**
 * The checked program: what the compile-time checks hand to the planner.
 * Plain data (STYLE.md 7); the stages in stages.ts fill it in.
 *
 * Modules are copies of the parser's: after `resolve_refs` every reference to
 * a rule or import is a full `data.…`/`input.…` ref (OPA's ResolveRefs), and
 * after `check_safety_rule_bodies` every body is in the order the planner
 * must plan it (OPA's reorderBodyForSafety).
 */

import type { Module, Rule, RuleKind } from '../rego/ast.js';

/** All definitions of one rule path (a node of OPA's RuleTree holding values). */
export interface RuleSet {
  /** the ground prefix of the rules' refs, rooted at data: "data.pkg.p" */
  path: string;
  /** `complete`, `partial_set`, ... of the first definition (all agree once checked) */
  kind: RuleKind;
  /** number of function arguments; 0 for rules that are not functions */
  arity: number;
  /** every definition, in module then source order, `default` ones included */
  rules: Rule[];
}

export interface CheckedProgram {
  modules: Module[];
  /** by path, in order of first definition */
  ruleSets: RuleSet[];
  /** path → paths of the rule sets a definition there refers to (OPA's Graph, per path) */
  dependencies: Record<string, string[]>;
  /** every builtin some expression calls, sorted (the planner's BuiltinFuncs) */
  builtins: string[];
}
