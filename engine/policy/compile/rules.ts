/**
 * Stages `set_rule_tree` and `check_rule_conflicts` (OPA's SetRuleTree and
 * checkRuleConflicts, compile.go): rules are grouped by the ground prefix
 * of their full path, and a group is rejected when its definitions cannot
 * make one value:
 *
 * - single-value and multi-value rules mixed, different function arities,
 *   or a complete rule next to a partial one: `conflicting rules P found`;
 * - more than one `default`: `multiple default rules P found`;
 * - a rule with a ground ref that other rules extend (`p := 1` and
 *   `p.q := 2`): `rule P conflicts with [P.q]`.
 *
 * All are rego_type_error, located at the group's first definition, with
 * OPA's wording.
 */

import type * as A from '../rego/ast.js';
import { RegoError, RegoErrorCode } from '../rego/errors.js';
import { formatTerm } from '../rego/print.js';
import { lookupBuiltin } from './builtins.js';
import type { RuleSet } from './program.js';
import { rulePath, userName } from './walk.js';

export function buildRuleSets(modules: readonly A.Module[]): RuleSet[] {
  const byPath = new Map<string, RuleSet>();
  for (const m of modules) {
    for (const r of m.rules) {
      const path = rulePath(m, r).join('.');
      let set = byPath.get(path);
      if (set === undefined) {
        set = { path, kind: r.kind, arity: r.head.args?.length ?? 0, rules: [] };
        byPath.set(path, set);
      }
      set.rules.push(r);
    }
  }
  return [...byPath.values()];
}

/** The ref a rule defines, rooted at data (`data.pkg.p[x]`), as OPA prints it in messages. */
export function fullRuleRef(m: A.Module, r: A.Rule): string {
  const pkg = m.package.path;
  const h = r.head.ref;
  const first: A.Term[] = h.head.type === 'var' ? [{ type: 'string', value: h.head.name, loc: h.head.loc }] : [];
  // vars as written (rewrite_local_vars may have renamed one)
  const path = h.path.map((p) => (p.type === 'var' ? { ...p, name: userName(p.name) } : p));
  return formatTerm({ type: 'ref', head: pkg.head, path: [...pkg.path, ...first, ...path], loc: pkg.loc });
}

function isGroundRef(r: A.RefTerm): boolean {
  return r.path.every((p) => p.type === 'string' || p.type === 'number' || p.type === 'boolean' || p.type === 'null');
}

export function checkRuleConflicts(modules: readonly A.Module[], sets: readonly RuleSet[], errors: RegoError[]): void {
  const moduleOf = new Map<A.Rule, A.Module>();
  for (const m of modules) for (const r of m.rules) moduleOf.set(r, m);
  for (const set of sets) {
    const kinds = new Set<string>();
    const arities = new Set<number>();
    let defaults = 0;
    let complete = 0;
    let partial = 0;
    let groundRef = false;
    let name = set.path;
    for (const r of set.rules) {
      name = fullRuleRef(moduleOf.get(r)!, r);
      kinds.add(r.kind === 'partial_set' ? 'multi' : 'single');
      arities.add(r.head.args?.length ?? 0);
      if (r.default) defaults++;
      if (isGroundRef(r.head.ref)) groundRef = true;
      if ((r.kind === 'complete' || r.kind === 'function') && isGroundRef(r.head.ref)) complete++;
      else partial++;
    }
    const loc = set.rules[0]!.loc;
    // OPA's RuleTree: only the ground part of a ref places a rule, so rules
    // with a var in their ref may have rules inside their extent.
    const children = groundRef ? sets.filter((s) => s.path.startsWith(`${set.path}.`)).map((s) => s.path) : [];
    if (children.length > 0) {
      errors.push(new RegoError(RegoErrorCode.TYPE, `rule ${name} conflicts with [${children.join(' ')}]`, loc));
    } else if (kinds.size > 1 || arities.size > 1 || (complete > 0 && partial > 0)) {
      errors.push(new RegoError(RegoErrorCode.TYPE, `conflicting rules ${name} found`, loc));
    } else if (defaults > 1) {
      errors.push(new RegoError(RegoErrorCode.TYPE, `multiple default rules ${name} found`, loc));
    }
  }
}

/**
 * A rule whose whole name is a builtin's (`count := 1`, `lower(x) := x`)
 * would be called instead of the builtin in its package only: reject it.
 * Not an OPA check (OPA resolves the package's rule first); see the report.
 */
export function checkBuiltinNames(modules: readonly A.Module[], errors: RegoError[]): void {
  for (const m of modules) {
    for (const r of m.rules) {
      const h = r.head.ref;
      if (h.head.type === 'var' && h.path.length === 0 && lookupBuiltin(h.head.name) !== undefined) {
        errors.push(new RegoError(RegoErrorCode.COMPILE, `rule ${h.head.name} shadows built-in function ${h.head.name}`, r.loc));
      }
    }
  }
}
