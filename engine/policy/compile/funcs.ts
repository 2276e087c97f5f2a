/**
 * Stage `check_undefined_funcs` (OPA's checkUndefinedFuncs, compile.go):
 * every call names a builtin of builtins.ts or a function rule, with
 * `arity` operands (a test of the result) or `arity + 1` (the last one
 * receives the result). Messages are OPA's:
 *
 *   rego_type_error: undefined function data.pkg.f
 *   rego_type_error: function data.pkg.f has arity 1, got 3 arguments
 *   rego_type_error: count: arity mismatch            (builtins; OPA adds have/want types)
 *
 * A nested call (`x := count(y)`) is checked at the call's own location,
 * which is where OPA's RewriteExprTerms puts the expression it lifts out.
 */

import type * as A from '../rego/ast.js';
import { RegoError, RegoErrorCode } from '../rego/errors.js';
import { formatTerm } from '../rego/print.js';
import { lookupBuiltin } from './builtins.js';
import type { RuleSet } from './program.js';
import { exprTerms, refName } from './walk.js';

export function checkUndefinedFuncs(modules: readonly A.Module[], sets: readonly RuleSet[], errors: RegoError[]): string[] {
  const byPath = new Map(sets.map((s) => [s.path, s]));
  const used = new Set<string>();

  const check = (op: A.RefTerm, nargs: number, loc: A.Location): void => {
    const name = refName(op) ?? formatTerm(op);
    if (name.startsWith('data.')) {
      const set = byPath.get(name);
      if (set === undefined) {
        errors.push(new RegoError(RegoErrorCode.TYPE, `undefined function ${name}`, loc));
      } else if (nargs !== set.arity && nargs !== set.arity + 1) {
        const s = nargs === 1 ? '' : 's';
        errors.push(new RegoError(RegoErrorCode.TYPE, `function ${name} has arity ${set.arity}, got ${nargs} argument${s}`, loc));
      }
      return;
    }
    const b = lookupBuiltin(name);
    if (b === undefined) {
      errors.push(new RegoError(RegoErrorCode.TYPE, `undefined function ${name}`, loc));
      return;
    }
    used.add(name);
    // eq and assign have no output operand
    const max = name === 'eq' || name === 'assign' ? b.arity : b.arity + 1;
    if (!b.variadic && (nargs < b.arity || nargs > max)) {
      errors.push(new RegoError(RegoErrorCode.TYPE, `${name}: arity mismatch`, loc));
    }
  };

  // eachTerm does not see calls written as whole expressions inside
  // comprehension bodies, so comprehensions are walked here.
  const onTerm = (t: A.Term): void => {
    switch (t.type) {
      case 'call':
        check(t.operator, t.args.length, t.loc);
        t.args.forEach(onTerm);
        break;
      case 'ref':
        onTerm(t.head);
        t.path.forEach(onTerm);
        break;
      case 'array':
      case 'set':
        t.items.forEach(onTerm);
        break;
      case 'object':
        t.items.forEach(([k, v]) => (onTerm(k), onTerm(v)));
        break;
      case 'arraycomprehension':
      case 'setcomprehension':
        onTerm(t.term);
        onBody(t.body);
        break;
      case 'objectcomprehension':
        onTerm(t.key);
        onTerm(t.value);
        onBody(t.body);
        break;
      default:
        break;
    }
  };

  function onBody(body: A.Body): void {
    for (const e of body) {
      if (e.kind === 'call') {
        check(e.operator, e.args.length, e.loc);
        e.args.forEach((a) => onTerm(a));
      } else {
        exprTerms(e).forEach(onTerm);
        if (e.kind === 'every') onBody(e.body);
      }
      for (const w of e.with) {
        onTerm(w.value);
      }
    }
  }

  const onRule = (r: A.Rule): void => {
    for (const t of [r.head.ref, ...(r.head.args ?? []), r.head.key, r.head.value]) if (t !== undefined) onTerm(t);
    onBody(r.body);
    r.else.forEach(onRule);
  };

  for (const m of modules) m.rules.forEach(onRule);
  return [...used].sort();
}
