/**
 * Stages `check_safety_rule_heads` and `check_safety_rule_bodies` (OPA's
 * checkSafetyRuleHeads, checkSafetyRuleBodies and reorderBodyForSafety,
 * compile.go): every variable must be bound by a positive expression, and
 * each body is reordered, stably, so that an expression comes after the
 * ones that bind the variables it reads. The planner plans bodies in this
 * order (docs/rego-wasm-abi.md §3.5).
 *
 * What binds (OPA's outputVarsForExpr):
 * - `=` / `:=`: unification; a var on one side is bound when the other side
 *   is safe, arrays/objects element by element;
 * - a ref whose head is safe binds the vars in its path (`input.xs[i]`);
 * - a call with one operand more than the function's arity binds the vars
 *   of the last operand (`count(xs, n)`);
 * - `some x in xs` binds x (and k in `some k, x in xs`) once xs is safe;
 * - function arguments, `input` and `data` are safe from the start.
 * What does not: `not …`, `some x` alone, `every`, closures.
 *
 * Comprehensions and `every` bodies are closures: a var they share with the
 * enclosing body must be bound there first (the closure's expression waits
 * for it); their other vars are local and checked, recursively, in the
 * closure's own body.
 *
 * Unsafe vars: `var x is unsafe` (rego_unsafe_var_error, x as written:
 * rewrite_local_vars renamed declared vars) at the var's first
 * occurrence in a body, or at the rule for a var of its head. Wildcards
 * (`$N`) are never named: when only they are unsafe OPA says `expression is
 * unsafe` at the expression. In a negated expression wildcards are local to
 * it (`not input.deny[_]`).
 */

import type * as A from '../rego/ast.js';
import { RegoError, RegoErrorCode } from '../rego/errors.js';
import { lookupBuiltin } from './builtins.js';
import type { RuleSet } from './program.js';
import { declaredVars, refIs, varsOf } from './resolve.js';
import { isGenerated, refName, userName } from './walk.js';

type VarLocs = Map<string, A.Location>;

const ROOTS = ['input', 'data'];

export function checkSafetyRuleHeads(modules: readonly A.Module[], errors: RegoError[]): void {
  const onRule = (r: A.Rule, args: A.Term[] | undefined): void => {
    const safe = new Set<string>(ROOTS);
    for (const a of args ?? []) varsOf(a, safe);
    for (const e of r.body) for (const v of exprVars(e, false).keys()) safe.add(v);
    const head = new Map<string, A.Location>();
    const h = r.head;
    for (const p of h.ref.path) termVars(p, head);
    if (h.key !== undefined) termVars(h.key, head);
    if (h.value !== undefined) termVars(h.value, head);
    const unsafe = [...head.keys()].filter((v) => !safe.has(v) && !isGenerated(v)).map(userName).sort();
    for (const v of unsafe) errors.push(new RegoError(RegoErrorCode.UNSAFE_VAR, `var ${v} is unsafe`, r.loc));
    r.else.forEach((e) => onRule(e, args));
  };
  for (const m of modules) for (const r of m.rules) onRule(r, r.head.args);
}

export function checkSafetyRuleBodies(modules: readonly A.Module[], sets: readonly RuleSet[], errors: RegoError[]): void {
  const arities = new Map(sets.map((s) => [s.path, s.arity]));
  const arity = (op: A.RefTerm): number => {
    const name = refName(op);
    if (name === undefined) return -1;
    if (name.startsWith('data.')) return arities.get(name) ?? -1;
    const b = lookupBuiltin(name);
    return b === undefined || b.variadic ? -1 : b.arity;
  };
  const checker = new Safety(arity, errors);
  const onRule = (r: A.Rule, args: A.Term[] | undefined): void => {
    const safe = new Set<string>(ROOTS);
    for (const a of args ?? []) varsOf(a, safe);
    r.body = checker.body(r.body, safe);
    // closures in the head see the body's vars
    const all = new Set(safe);
    for (const e of r.body) for (const v of exprVars(e, false).keys()) all.add(v);
    for (const t of [r.head.key, r.head.value]) if (t !== undefined) checker.closuresIn(t, all);
    r.else.forEach((e) => onRule(e, args));
  };
  for (const m of modules) for (const r of m.rules) onRule(r, r.head.args);
}

class Safety {
  constructor(
    private readonly arity: (op: A.RefTerm) => number,
    private readonly errors: RegoError[],
  ) {}

  /** reorderBodyForSafety: returns the reordered body, or the body unchanged after reporting. */
  body(body: A.Body, globals: ReadonlySet<string>): A.Body {
    // vars of the body itself, to tell a closure's shared vars from its own
    const outer = new Set(globals);
    for (const e of body) for (const v of exprVars(e, false).keys()) outer.add(v);

    const safe = new Set(globals);
    const placed: A.Expr[] = [];
    const rest = new Set(body);
    for (;;) {
      const n = placed.length;
      for (const e of body) {
        if (!rest.has(e)) continue;
        const need = this.needed(e, outer);
        const out = this.outputs(e, safe);
        if ([...need.keys()].every((v) => safe.has(v) || out.has(v))) {
          placed.push(e);
          rest.delete(e);
          for (const v of out) safe.add(v);
        }
      }
      if (placed.length === n) break;
    }

    if (rest.size > 0) {
      const unsafe: Array<[string, A.Location]> = [];
      const generatedOnly: A.Expr[] = [];
      const seen = new Set<string>();
      for (const e of body) {
        if (!rest.has(e)) continue;
        const out = this.outputs(e, safe);
        const bad = [...this.needed(e, outer)].filter(([v]) => !safe.has(v) && !out.has(v));
        const named = bad.filter(([v]) => !isGenerated(v));
        if (named.length === 0 && bad.length > 0) generatedOnly.push(e);
        for (const [v, loc] of named) {
          if (seen.has(v)) continue;
          seen.add(v);
          unsafe.push([v, loc]);
        }
      }
      unsafe.sort((a, b) => a[1].row - b[1].row || a[1].col - b[1].col);
      for (const [v, loc] of unsafe) this.errors.push(new RegoError(RegoErrorCode.UNSAFE_VAR, `var ${userName(v)} is unsafe`, loc));
      if (unsafe.length === 0) {
        for (const e of generatedOnly) this.errors.push(new RegoError(RegoErrorCode.UNSAFE_VAR, 'expression is unsafe', e.loc));
      }
      return body;
    }

    // closures: checked with every var of the enclosing body as safe
    for (const e of placed) {
      if (e.kind === 'every') {
        const inner = new Set(outer);
        if (e.key !== undefined) varsOf(e.key, inner);
        varsOf(e.value, inner);
        e.body = this.body(e.body, inner);
      }
      for (const t of termsOf(e)) this.closuresIn(t, outer);
    }
    return placed;
  }

  /** Checks (and reorders) every comprehension inside `t`, with `safe` bound outside. */
  closuresIn(t: A.Term, safe: ReadonlySet<string>): void {
    switch (t.type) {
      case 'arraycomprehension':
      case 'setcomprehension':
      case 'objectcomprehension': {
        t.body = this.body(t.body, safe);
        const inner = new Set(safe);
        for (const e of t.body) for (const v of exprVars(e, false).keys()) inner.add(v);
        const heads = t.type === 'objectcomprehension' ? [t.key, t.value] : [t.term];
        const hv: VarLocs = new Map();
        for (const h of heads) termVars(h, hv);
        for (const [v, loc] of hv) {
          if (!inner.has(v) && !isGenerated(v)) this.errors.push(new RegoError(RegoErrorCode.UNSAFE_VAR, `var ${userName(v)} is unsafe`, loc));
        }
        for (const h of heads) this.closuresIn(h, inner);
        break;
      }
      case 'ref':
        this.closuresIn(t.head, safe);
        t.path.forEach((p) => this.closuresIn(p, safe));
        break;
      case 'array':
      case 'set':
        t.items.forEach((i) => this.closuresIn(i, safe));
        break;
      case 'object':
        t.items.forEach(([k, v]) => (this.closuresIn(k, safe), this.closuresIn(v, safe)));
        break;
      case 'call':
        t.args.forEach((a) => this.closuresIn(a, safe));
        break;
      default:
        break;
    }
  }

  /** The vars that must be safe (or bound by `e` itself) before `e` can run. */
  private needed(e: A.Expr, outer: ReadonlySet<string>): VarLocs {
    const vs = exprVars(e, false);
    // vars a closure shares with the enclosing body
    const cv: VarLocs = new Map();
    for (const t of termsOf(e)) closureVars(t, cv);
    if (e.kind === 'every') {
      const own = new Set<string>();
      if (e.key !== undefined) varsOf(e.key, own);
      varsOf(e.value, own);
      for (const x of e.body) for (const [v, loc] of exprVars(x, true)) if (!own.has(v) && !cv.has(v)) cv.set(v, loc);
    }
    for (const [v, loc] of cv) if (outer.has(v) && !vs.has(v)) vs.set(v, loc);
    if (e.negated) for (const v of [...vs.keys()]) if (isGenerated(v)) vs.delete(v);
    return vs;
  }

  /** OPA's outputVarsForExpr: the vars `e` binds when the vars in `safe` are bound. */
  private outputs(e: A.Expr, safe: ReadonlySet<string>): Set<string> {
    const out = new Set<string>();
    if (e.negated) return out;
    const isSafe = (v: string): boolean => safe.has(v) || out.has(v);
    const allSafe = (t: A.Term): boolean => [...termVarsAll(t).keys()].every(isSafe);
    switch (e.kind) {
      case 'term':
        refOutputs(e.term, isSafe, out);
        return out;
      case 'some':
        for (const s of e.symbols) {
          if (s.type !== 'call') continue;
          const dom = s.args[s.args.length - 1]!;
          refOutputs(dom, isSafe, out);
          if (allSafe(dom)) s.args.slice(0, -1).forEach((a) => varsOf(a, out));
        }
        return out;
      case 'every':
        return out;
      case 'call': {
        if (refIs(e.operator, 'eq') || refIs(e.operator, 'assign')) {
          for (;;) {
            const n = out.size;
            e.args.forEach((a) => refOutputs(a, isSafe, out));
            if (e.args.length === 2) unify(e.args[0]!, e.args[1]!, isSafe, out);
            if (out.size === n) return out;
          }
        }
        e.args.forEach((a) => refOutputs(a, isSafe, out));
        const n = this.arity(e.operator);
        if (n >= 0 && e.args.length === n + 1 && e.args.slice(0, n).every(allSafe)) varsOf(e.args[n]!, out);
        return out;
      }
    }
  }
}

/**
 * OPA's unifier (ast/unify.go): the vars of `a = b` that become safe,
 * given the safe ones. A var is safe when the other side is (arrays and
 * objects element by element, refs by their head); vars that wait for
 * each other (`x = [y]`) become safe together once one of them is.
 */
function unify(a: A.Term, b: A.Term, isSafe0: (v: string) => boolean, out: Set<string>): void {
  const unknown = new Map<string, Set<string>>();
  const isSafe = (v: string): boolean => isSafe0(v) || out.has(v);
  const markSafe = (x: string): void => {
    if (out.has(x) || isSafe0(x)) return;
    out.add(x);
    const deps = unknown.get(x);
    unknown.delete(x);
    for (const d of deps ?? []) markSafe(d);
    for (const [v, ds] of [...unknown]) {
      if (ds.delete(x) && ds.size === 0) markSafe(v);
    }
  };
  const markUnknown = (a: string, b: string): void => {
    let s = unknown.get(a);
    if (s === undefined) unknown.set(a, (s = new Set()));
    s.add(b);
  };
  // SkipRefHead, SkipObjectKeys, SkipClosures
  const patternVars = (t: A.Term, acc: Set<string>): Set<string> => {
    switch (t.type) {
      case 'var':
        acc.add(t.name);
        break;
      case 'ref':
        if (t.head.type !== 'var') patternVars(t.head, acc);
        t.path.forEach((p) => patternVars(p, acc));
        break;
      case 'array':
      case 'set':
        t.items.forEach((i) => patternVars(i, acc));
        break;
      case 'object':
        t.items.forEach(([, v]) => patternVars(v, acc));
        break;
      case 'call':
        t.args.forEach((x) => patternVars(x, acc));
        break;
      default:
        break;
    }
    return acc;
  };
  const markAllSafe = (t: A.Term): void => {
    for (const v of patternVars(t, new Set())) markSafe(v);
  };
  const refHeadSafe = (r: A.RefTerm): boolean =>
    r.head.type === 'var' ? isSafe(r.head.name) : [...termVarsAll(r.head).keys()].every(isSafe);
  const unifyAll = (a: string, b: A.Term): void => {
    if (isSafe(a)) return markAllSafe(b);
    const unsafe = [...patternVars(b, new Set())].filter((v) => !isSafe(v));
    if (unsafe.length === 0) markSafe(a);
    else for (const v of unsafe) markUnknown(a, v);
  };
  const comprehension = (t: A.Term): boolean =>
    t.type === 'arraycomprehension' || t.type === 'setcomprehension' || t.type === 'objectcomprehension';
  const go = (a: A.Term, b: A.Term): void => {
    switch (a.type) {
      case 'var':
        switch (b.type) {
          case 'var':
            if (isSafe(b.name)) markSafe(a.name);
            else if (isSafe(a.name)) markSafe(b.name);
            else {
              markUnknown(a.name, b.name);
              markUnknown(b.name, a.name);
            }
            return;
          case 'array':
          case 'object':
            return unifyAll(a.name, b);
          case 'ref':
            if (refHeadSafe(b)) markSafe(a.name);
            return;
          case 'call':
            if ([...termVarsAll(b).keys()].every(isSafe)) markSafe(a.name);
            return;
          default:
            return markSafe(a.name);
        }
      case 'ref':
        if (!refHeadSafe(a)) return;
        if (b.type === 'var') markSafe(b.name);
        else if (b.type === 'array' || b.type === 'object') markAllSafe(b);
        return;
      case 'arraycomprehension':
      case 'setcomprehension':
      case 'objectcomprehension':
        if (b.type === 'var') markSafe(b.name);
        else if (b.type === 'array' || b.type === 'object') markAllSafe(b);
        return;
      case 'array':
        if (b.type === 'var') unifyAll(b.name, a);
        else if (comprehension(b)) markAllSafe(a);
        else if (b.type === 'call') {
          if ([...termVarsAll(b).keys()].every(isSafe)) markAllSafe(a); // `[a, b] := split(s, ",")`
        }
        else if (b.type === 'ref') {
          if (refHeadSafe(b)) markAllSafe(a);
        } else if (b.type === 'array' && a.items.length === b.items.length) a.items.forEach((x, i) => go(x, b.items[i]!));
        return;
      case 'object':
        if (b.type === 'var') unifyAll(b.name, a);
        else if (b.type === 'objectcomprehension') markAllSafe(a);
        else if (b.type === 'call') {
          if ([...termVarsAll(b).keys()].every(isSafe)) markAllSafe(a);
        }
        else if (b.type === 'ref') {
          if (refHeadSafe(b)) markAllSafe(a);
        } else if (b.type === 'object') {
          for (const [ka, va] of a.items) {
            const kb = b.items.find(([k]) => JSON.stringify(stripLoc(k)) === JSON.stringify(stripLoc(ka)));
            if (kb !== undefined) go(va, kb[1]);
          }
        }
        return;
      case 'call':
        if (![...termVarsAll(a).keys()].every(isSafe)) return;
        if (b.type === 'var') markSafe(b.name);
        else if (b.type === 'array' || b.type === 'object') markAllSafe(b);
        return;
      default:
        if (b.type === 'var') markSafe(b.name);
        return;
    }
  };
  go(a, b);
}

function stripLoc(t: A.Term): unknown {
  return JSON.parse(JSON.stringify(t, (k, v: unknown) => (k === 'loc' ? undefined : v)));
}

/** Vars in the path of a ref whose head is safe, left to right (`input.a[i][j]` binds i and j). */
function refOutputs(t: A.Term, isSafe: (v: string) => boolean, out: Set<string>): void {
  const safe = (v: string): boolean => isSafe(v) || out.has(v);
  switch (t.type) {
    case 'ref': {
      refOutputs(t.head, isSafe, out);
      const headOk = t.head.type === 'var' ? safe(t.head.name) : [...termVarsAll(t.head).keys()].every(safe);
      for (const p of t.path) {
        refOutputs(p, isSafe, out);
        if (!headOk) continue;
        if (p.type === 'var' && !safe(p.name)) out.add(p.name);
        // a composite key is a pattern: `xs[[1, x]]` binds x
        if (p.type === 'array' || p.type === 'object') for (const v of termVarsAll(p).keys()) if (!safe(v)) out.add(v);
      }
      break;
    }
    case 'array':
    case 'set':
      t.items.forEach((i) => refOutputs(i, isSafe, out));
      break;
    case 'object':
      t.items.forEach(([k, v]) => (refOutputs(k, isSafe, out), refOutputs(v, isSafe, out)));
      break;
    case 'call':
      t.args.forEach((a) => refOutputs(a, isSafe, out));
      break;
    default:
      break;
  }
}

/** The terms of an expression whose vars count, `with` values included; not call operators. */
function termsOf(e: A.Expr): A.Term[] {
  const ts: A.Term[] = [];
  switch (e.kind) {
    case 'term':
      ts.push(e.term);
      break;
    case 'call':
      ts.push(...e.args);
      break;
    case 'some':
      for (const s of e.symbols) if (s.type === 'call') ts.push(...s.args);
      break;
    case 'every':
      ts.push(e.domain);
      break;
  }
  for (const w of e.with) {
    // `with f as upper`: a builtin named as a replacement function is no var
    const v = w.value;
    const name = v.type === 'var' ? v.name : v.type === 'ref' ? refName(v) : undefined;
    if (name !== undefined && lookupBuiltin(name) !== undefined) continue;
    ts.push(v);
  }
  return ts;
}

/**
 * The vars of an expression, first location each, closures skipped
 * (OPA's SafetyCheckVisitorParams). With `deep`, closures and every bodies
 * are included too.
 */
function exprVars(e: A.Expr, deep: boolean): VarLocs {
  const out: VarLocs = new Map();
  for (const t of termsOf(e)) (deep ? termVarsDeep : termVars)(t, out);
  if (deep && e.kind === 'every') {
    if (e.key !== undefined) termVars(e.key, out);
    termVars(e.value, out);
    for (const x of e.body) for (const [v, l] of exprVars(x, true)) if (!out.has(v)) out.set(v, l);
  }
  return out;
}

function termVarsAll(t: A.Term): VarLocs {
  const m: VarLocs = new Map();
  termVars(t, m);
  return m;
}

/** Vars of a term, closures skipped, call operators skipped. */
function termVars(t: A.Term, out: VarLocs): void {
  walkVars(t, out, false);
}

function termVarsDeep(t: A.Term, out: VarLocs): void {
  walkVars(t, out, true);
}

/** Vars inside the closures of a term (for finding those shared with the enclosing body). */
function closureVars(t: A.Term, out: VarLocs): void {
  switch (t.type) {
    case 'arraycomprehension':
    case 'setcomprehension':
    case 'objectcomprehension': {
      // vars the closure declares (`y := …`, `some y`) are its own even if
      // the enclosing body has a var of the same name (OPA's RewriteLocalVars
      // renames them apart before the safety check)
      const own = declaredVars(t.body);
      const m: VarLocs = new Map();
      walkVars(t, m, true);
      for (const [v, l] of m) if (!own.has(v) && !out.has(v)) out.set(v, l);
      break;
    }
    case 'ref':
      closureVars(t.head, out);
      t.path.forEach((p) => closureVars(p, out));
      break;
    case 'array':
    case 'set':
      t.items.forEach((i) => closureVars(i, out));
      break;
    case 'object':
      t.items.forEach(([k, v]) => (closureVars(k, out), closureVars(v, out)));
      break;
    case 'call':
      t.args.forEach((a) => closureVars(a, out));
      break;
    default:
      break;
  }
}

function walkVars(t: A.Term, out: VarLocs, deep: boolean): void {
  const add = (v: A.VarTerm): void => {
    if (!out.has(v.name)) out.set(v.name, v.loc);
  };
  switch (t.type) {
    case 'var':
      add(t);
      break;
    case 'ref':
      walkVars(t.head, out, deep);
      t.path.forEach((p) => walkVars(p, out, deep));
      break;
    case 'array':
    case 'set':
      t.items.forEach((i) => walkVars(i, out, deep));
      break;
    case 'object':
      t.items.forEach(([k, v]) => (walkVars(k, out, deep), walkVars(v, out, deep)));
      break;
    case 'call':
      t.args.forEach((a) => walkVars(a, out, deep));
      break;
    case 'arraycomprehension':
    case 'setcomprehension':
      if (deep) {
        walkVars(t.term, out, deep);
        for (const e of t.body) for (const [v, l] of exprVars(e, true)) if (!out.has(v)) out.set(v, l);
      }
      break;
    case 'objectcomprehension':
      if (deep) {
        walkVars(t.key, out, deep);
        walkVars(t.value, out, deep);
        for (const e of t.body) for (const [v, l] of exprVars(e, true)) if (!out.has(v)) out.set(v, l);
      }
      break;
    default:
      break;
  }
}
