/**
 * Stage `resolve_refs` (OPA's ResolveRefs, compile.go resolveAllRefs):
 * every name that refers to a rule of the module's package or to an import
 * becomes a full ref, so that later stages see only `data.…`, `input.…`
 * and local variables:
 *
 *   package a; import data.lib.x as y
 *   p if { q; y.z[i] == 1; f(1) }   →   p if { data.a.q; data.lib.x.z[i] == 1; data.a.f(1) }
 *
 * Names a rule declares locally (function args, `x := …`, `some x`, the vars
 * of `every`) shadow the package's rules inside that rule (OPA's
 * declaredVars / resolveRefsInBody `ignore` stack). Call operators always
 * resolve. `future.keywords…` and `rego.v1` imports only change the parser
 * and name nothing here.
 */

import type * as A from '../rego/ast.js';
import { RegoError, RegoErrorCode } from '../rego/errors.js';
import { groundPrefix, mapItems } from './walk.js';

const IMPORT_ROOTS = new Set(['data', 'input', 'future', 'rego']);

/**
 * The names each package's rules export, over all modules (OPA's
 * getExports): a rule defined in one file of a package is visible by its
 * bare name in every other file of that package.
 */
export function packageExports(modules: readonly A.Module[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of modules) {
    const key = groundPrefix(m.package.path).join('.');
    let names = out.get(key);
    if (names === undefined) out.set(key, (names = []));
    for (const r of m.rules) {
      const h = r.head.ref.head;
      if (h.type === 'var' && !names.includes(h.name)) names.push(h.name);
    }
  }
  return out;
}

export function resolveModule(m: A.Module, errors: RegoError[], exports: Map<string, string[]> = packageExports([m])): A.Module {
  const globals = new Map<string, A.RefTerm>();
  const pkg = m.package.path;
  for (const name of exports.get(groundPrefix(pkg).join('.')) ?? []) {
    const s: A.StringTerm = { type: 'string', value: name, loc: pkg.loc };
    globals.set(name, { type: 'ref', head: pkg.head, path: [...pkg.path, s], loc: pkg.loc });
  }
  for (const imp of m.imports) {
    const root = imp.path.head.type === 'var' ? imp.path.head.name : '';
    if (!IMPORT_ROOTS.has(root)) {
      errors.push(
        new RegoError(
          RegoErrorCode.COMPILE,
          `unexpected import path, must begin with one of: {data, future, input, rego}, got: ${root}`,
          imp.path.loc,
        ),
      );
      continue;
    }
    if (root === 'future' || root === 'rego') continue;
    const names = groundPrefix(imp.path);
    const name = imp.alias ?? names[names.length - 1];
    if (name !== undefined && name !== 'input' && name !== 'data') globals.set(name, imp.path);
  }
  // a function's argument named input or data would hide the document (OPA refuses it)
  const shadowing = (t: A.Term): string | undefined => {
    // the parser reads a bare `input` or `data` as the document's ref
    if (t.type === 'var' || (t.type === 'ref' && t.path.length === 0 && t.head.type === 'var')) {
      const name = t.type === 'var' ? t.name : (t.head as A.VarTerm).name;
      return name === 'input' || name === 'data' ? name : undefined;
    }
    const items = t.type === 'array' ? t.items : t.type === 'object' ? t.items.map(([, v]) => v) : [];
    return items.map(shadowing).find((n) => n !== undefined);
  };
  for (const r of m.rules) {
    const root = (r.head.args ?? []).map(shadowing).find((n) => n !== undefined);
    if (root !== undefined) errors.push(new RegoError(RegoErrorCode.COMPILE, `args must not shadow ${root}`, r.head.loc));
  }
  const rs = new Resolver(globals);
  return { ...m, rules: m.rules.map((r) => rs.rule(r, undefined)) };
}

class Resolver {
  constructor(private readonly globals: Map<string, A.RefTerm>) {}

  rule(r: A.Rule, outerArgs: Set<string> | undefined): A.Rule {
    const ignore = new Set<string>(outerArgs ?? []);
    for (const a of r.head.args ?? []) varsOf(a, ignore);
    for (const v of declaredVars(r.body)) ignore.add(v);
    const h = r.head;
    const head: A.Head = {
      ...h,
      // the first element names the rule itself: keep it
      ref: { ...h.ref, path: h.ref.path.map((p) => this.term(p, ignore)) },
    };
    if (h.key !== undefined) head.key = this.term(h.key, ignore);
    if (h.value !== undefined) head.value = this.term(h.value, ignore);
    const argVars = new Set<string>();
    for (const a of r.head.args ?? []) varsOf(a, argVars);
    return {
      ...r,
      head,
      body: this.body(r.body, ignore),
      else: r.else.map((e) => this.rule(e, argVars)),
    };
  }

  body(b: A.Body, ignore: Set<string>): A.Body {
    return b.map((e) => this.expr(e, ignore));
  }

  expr(e: A.Expr, ignore: Set<string>): A.Expr {
    const with_ = e.with.map((w) => ({ ...w, target: this.term(w.target, new Set()), value: this.term(w.value, ignore) }));
    switch (e.kind) {
      case 'term':
        return { ...e, with: with_, term: this.term(e.term, ignore) };
      case 'call':
        return { ...e, with: with_, operator: this.operator(e.operator), args: e.args.map((a) => this.term(a, ignore)) };
      case 'some':
        return { ...e, with: with_, symbols: e.symbols.map((s) => this.term(s, ignore)) };
      case 'every': {
        const inner = new Set(ignore);
        if (e.key !== undefined) varsOf(e.key, inner);
        varsOf(e.value, inner);
        for (const v of declaredVars(e.body)) inner.add(v);
        return { ...e, with: with_, domain: this.term(e.domain, ignore), body: this.body(e.body, inner) };
      }
    }
  }

  operator(r: A.RefTerm): A.RefTerm {
    const t = this.term(r, new Set());
    return t.type === 'ref' ? t : r;
  }

  term(t: A.Term, ignore: Set<string>): A.Term {
    switch (t.type) {
      case 'var': {
        const g = ignore.has(t.name) ? undefined : this.globals.get(t.name);
        return g === undefined ? t : { ...g, loc: t.loc };
      }
      case 'ref': {
        const path = t.path.map((p) => this.term(p, ignore));
        if (t.head.type === 'var') {
          const g = ignore.has(t.head.name) ? undefined : this.globals.get(t.head.name);
          if (g !== undefined) return { type: 'ref', head: g.head, path: [...g.path, ...path], loc: t.loc };
          return { ...t, path };
        }
        return { ...t, head: this.term(t.head, ignore), path };
      }
      case 'arraycomprehension':
      case 'setcomprehension': {
        const inner = withDeclared(ignore, t.body);
        return { ...t, term: this.term(t.term, inner), body: this.body(t.body, inner) };
      }
      case 'objectcomprehension': {
        const inner = withDeclared(ignore, t.body);
        return { ...t, key: this.term(t.key, inner), value: this.term(t.value, inner), body: this.body(t.body, inner) };
      }
      case 'call':
        return { ...t, operator: this.operator(t.operator), args: t.args.map((a) => this.term(a, ignore)) };
      default:
        return mapItems(t, (x) => this.term(x, ignore)) ?? t;
    }
  }
}

function withDeclared(ignore: Set<string>, body: A.Body): Set<string> {
  const s = new Set(ignore);
  for (const v of declaredVars(body)) s.add(v);
  return s;
}

/** Vars a body declares at its own level: `x := …` (left side), `some x`, `some x in xs`. */
export function declaredVars(body: A.Body): Set<string> {
  const out = new Set<string>();
  for (const e of body) {
    if (e.kind === 'call' && refIs(e.operator, 'assign') && e.args[0] !== undefined) varsOf(e.args[0], out);
    if (e.kind === 'some') {
      for (const s of e.symbols) {
        if (s.type === 'call') s.args.slice(0, -1).forEach((a) => varsOf(a, out));
        else varsOf(s, out);
      }
    }
  }
  return out;
}

/** Adds the vars of a term (not inside refs' heads or comprehensions) to `out`. */
export function varsOf(t: A.Term, out: Set<string>): void {
  switch (t.type) {
    case 'var':
      out.add(t.name);
      break;
    case 'array':
    case 'set':
      t.items.forEach((i) => varsOf(i, out));
      break;
    case 'object':
      t.items.forEach(([k, v]) => (varsOf(k, out), varsOf(v, out)));
      break;
    default:
      break;
  }
}

export function refIs(r: A.RefTerm, name: string): boolean {
  return r.head.type === 'var' && r.head.name === name && r.path.length === 0;
}
