/**
 * Stage `rewrite_local_vars` (OPA's RewriteLocalVars: compile.go
 * rewriteLocalVars, rewriteDeclaredVarsInBody). A var declared with `:=`,
 * `some` or `every` is a new var from its declaration to the end of its
 * body, closures included; the same name before the declaration is another
 * var: an enclosing scope's, or one local to the closure it is in.
 *
 *   y := {x | xs[x]}; x := count(y)    the closure's x is its own
 *   y := {x | x > 0}; x = 1            `=` declares nothing: x is shared
 *
 * The later stages scope a name over a whole body (a closure shares the
 * names of the body around it unless it declares them itself), which
 * gives the same vars as long as every occurrence of a declared name in
 * the declaring body (closures included) is that var or one declared
 * inside. Where that does not hold, the declared var is renamed `x$N`, as
 * OPA renames every declared var `__localN__`; the others keep their
 * names, so messages and printed bodies read as written. `$` cannot occur
 * in a Rego name, so no user var can collide, and userName() (walk.ts)
 * gives messages the name back.
 *
 * Scopes are walked in source order, each body with a stack of the scopes
 * around it: a name seen or declared in a scope stays there. Errors, all
 * rego_compile_error at the declaration, as OPA's: `var x referenced
 * above` (x was used in this scope before `x :=`), `var x assigned above`,
 * `var x declared above` (`some x`), `arg x redeclared`, `cannot assign
 * vars inside negated expression`, `cannot assign to <type>` (`:=`
 * assigns to vars, arrays of them and object values only).
 */

import type * as A from '../rego/ast.js';
import { RegoError, RegoErrorCode } from '../rego/errors.js';
import { refIs, varsOf } from './resolve.js';
import { mapItems } from './walk.js';

/** How a name entered a scope (OPA's varOccurrence). */
type Occurrence = 'arg' | 'seen' | 'assigned' | 'declared';

/** user name → the name it has in this scope, and how it got there */
type Names = Map<string, { name: string; occ: Occurrence }>;

/** A scope while it is walked, and what its subtree (nested scopes included) holds once they are done. */
interface Scope {
  names: Names;
  /** vars declared here: temporary name (unique) and user name */
  own: Array<{ temp: string; user: string }>;
  /** temporary names declared in the subtree */
  declared: Set<string>;
  /** occurrences in the subtree: user name → the names they resolved to */
  uses: Map<string, Set<string>>;
}

const newScope = (): Scope => ({ names: new Map(), own: [], declared: new Set(), uses: new Map() });

const REDECLARED: Record<Occurrence, (v: string) => string> = {
  arg: (v) => `arg ${v} redeclared`,
  seen: (v) => `var ${v} referenced above`,
  assigned: (v) => `var ${v} assigned above`,
  declared: (v) => `var ${v} declared above`,
};

const ROOTS = new Set(['input', 'data']);

/** Returns new modules; those given are not changed. */
export function rewriteLocalVars(modules: readonly A.Module[], errors: RegoError[]): A.Module[] {
  const rw = new LocalVars(errors);
  return modules.map((m) => ({
    ...m,
    rules: m.rules.map((r) => {
      const args = new Set<string>();
      for (const a of r.head.args ?? []) varsOf(a, args);
      return rw.rule(r, args);
    }),
  }));
}

class LocalVars {
  private stack: Scope[] = [];
  private next = 0;
  /** temporary names of declared vars that keep the user's name → that name */
  private readonly kept = new Map<string, string>();

  constructor(private readonly errors: RegoError[]) {}

  rule(r: A.Rule, args: ReadonlySet<string>): A.Rule {
    const h = r.head;
    // closures in the head first, each with no scope around it: what they
    // share with the body is linked by the renaming below (OPA's
    // rewriteNestedHeadVarLocalTransform, then rewriteHeadVarLocalTransform)
    this.stack = [];
    const key = h.key && this.headClosures(h.key);
    const value = h.value && this.headClosures(h.value);
    const path = h.ref.path.map((p) => this.headClosures(p));

    const top = newScope();
    for (const a of args) top.names.set(a, { name: a, occ: 'arg' });
    this.stack = [top];
    let body = this.body(r.body);
    this.close();

    // the head's names are the body's top-level vars
    const fromBody = new Map<string, string>();
    for (const [v, d] of top.names) if (d.name !== v && !this.kept.has(d.name)) fromBody.set(v, d.name);
    const names: Renaming = { get: (v) => fromBody.get(v) ?? this.kept.get(v) };
    const ren = (t: A.Term): A.Term => renameTerm(t, names);
    const head: A.Head = { ...h, ref: { ...h.ref, path: path.map(ren) } };
    if (key !== undefined) head.key = ren(key);
    if (value !== undefined) head.value = ren(value);
    body = renameBody(body, this.kept);
    return { ...r, head, body, else: r.else.map((e) => this.rule(e, args)) };
  }

  private headClosures(t: A.Term): A.Term {
    switch (t.type) {
      case 'arraycomprehension':
      case 'setcomprehension':
      case 'objectcomprehension':
        return this.term(t);
      case 'ref':
        return { ...t, head: this.headClosures(t.head), path: t.path.map((p) => this.headClosures(p)) };
      default:
        return mapItems(t, (x) => this.headClosures(x)) ?? t;
    }
  }

  private body(b: A.Body): A.Body {
    return b.map((e) => this.expr(e));
  }

  private expr(e: A.Expr): A.Expr {
    switch (e.kind) {
      case 'call':
        if (refIs(e.operator, 'assign') && e.args.length === 2) return this.assign(e);
        return { ...e, args: e.args.map((a) => this.term(a)), with: this.withs(e.with) };
      case 'term':
        return { ...e, term: this.term(e.term), with: this.withs(e.with) };
      case 'some':
        return this.some(e);
      case 'every':
        return this.every(e);
    }
  }

  /** `lhs := rhs`: the right side (and `with` values) first, so that it cannot see what the left side declares. */
  private assign(e: A.CallExpr): A.Expr {
    if (e.negated) {
      this.error('cannot assign vars inside negated expression', e.loc);
      return e;
    }
    const rhs = this.term(e.args[1]!);
    const with_ = this.withs(e.with);
    return { ...e, args: [this.assignee(e.args[0]!), rhs], with: with_ };
  }

  /** The left side of `:=`: vars, arrays of them, object values (OPA's rewriteDeclaredAssignment). */
  private assignee(t: A.Term): A.Term {
    switch (t.type) {
      case 'var':
        return this.declare(t, 'assigned', t.loc);
      case 'array':
        return { ...t, items: t.items.map((i) => this.assignee(i)) };
      case 'object':
        return { ...t, items: t.items.map(([k, v]) => [k, this.assignee(v)] as [A.Term, A.Term]) };
      case 'ref':
        // `input := …` declares a local that hides the document
        if (t.path.length === 0 && t.head.type === 'var' && ROOTS.has(t.head.name)) return this.declare(t.head, 'assigned', t.loc);
        break;
      default:
        break;
    }
    this.error(`cannot assign to ${t.type}`, t.loc);
    return t;
  }

  /** `some x, y` declares its vars; `some k, v in xs` the vars of its patterns, before the rest is read. */
  private some(e: A.SomeExpr): A.Expr {
    const symbols = e.symbols.map((s) => {
      if (s.type !== 'call') return s.type === 'var' ? this.declare(s, 'declared', e.loc) : this.term(s);
      const container = s.args[s.args.length - 1]!;
      const inContainer = new Set<string>();
      allVars(container, inContainer);
      const out = new Set<string>();
      for (const p of s.args.slice(0, -1)) patternVars(p, out);
      for (const v of out) if (!inContainer.has(v)) this.declare({ type: 'var', name: v, loc: e.loc }, 'declared', e.loc);
      return this.term(s);
    });
    return { ...e, symbols, with: this.withs(e.with) };
  }

  /** `every k, v in xs { … }`: the domain is read outside; k, v and the body are a scope of their own. */
  private every(e: A.EveryExpr): A.Expr {
    const domain = this.term(e.domain);
    return this.scope(() => {
      const key = e.key?.type === 'var' ? this.declare(e.key, 'declared', e.loc) : e.key && this.term(e.key);
      const value = e.value.type === 'var' ? this.declare(e.value, 'declared', e.loc) : this.term(e.value);
      const out: A.EveryExpr = { ...e, value, domain, body: this.body(e.body), with: this.withs(e.with) };
      if (key !== undefined) out.key = key;
      return out;
    });
  }

  private withs(ws: A.With[]): A.With[] {
    // the target names a document or a function, never a local
    return ws.map((w) => ({ ...w, value: this.term(w.value) }));
  }

  private term(t: A.Term): A.Term {
    switch (t.type) {
      case 'var':
        return this.use(t);
      case 'ref': {
        const path = t.path.map((p) => this.term(p));
        if (t.head.type === 'var' && ROOTS.has(t.head.name)) {
          // `input` / `data` is the document unless declared as a local
          const d = this.lookup(t.head.name);
          if (d === undefined || d.name === t.head.name) return { ...t, path };
          this.used(this.stack[this.stack.length - 1]!, t.head.name, d.name);
          const head: A.VarTerm = { ...t.head, name: d.name };
          return path.length === 0 ? { ...head, loc: t.loc } : { ...t, head, path };
        }
        return { ...t, head: this.term(t.head), path };
      }
      case 'arraycomprehension':
      case 'setcomprehension':
        return this.scope(() => {
          const body = this.body(t.body);
          return { ...t, body, term: this.term(t.term) };
        });
      case 'objectcomprehension':
        return this.scope(() => {
          const body = this.body(t.body);
          return { ...t, body, key: this.term(t.key), value: this.term(t.value) };
        });
      default:
        return mapItems(t, (x) => this.term(x)) ?? t;
    }
  }

  /** A comprehension's body and head (read after its body, as OPA does), or an `every`: a scope of their own. */
  private scope<T>(f: () => T): T {
    this.stack.push(newScope());
    try {
      return f();
    } finally {
      this.close();
    }
  }

  /**
   * Leaves the current scope. Each var declared in it keeps its name when
   * every occurrence of that name in the subtree is the var itself or one
   * declared further in (those the later stages tell apart by where they
   * are declared); otherwise it keeps its unique temporary name.
   */
  private close(): void {
    const s = this.stack.pop()!;
    for (const d of s.own) {
      // a local `input` or `data` never keeps its name, which would read as the document
      if (ROOTS.has(d.user)) continue;
      if ([...s.uses.get(d.user)!].every((r) => s.declared.has(r))) this.kept.set(d.temp, d.user);
    }
    const parent = this.stack[this.stack.length - 1];
    if (parent === undefined) return;
    for (const t of s.declared) parent.declared.add(t);
    for (const [u, rs] of s.uses) for (const r of rs) this.used(parent, u, r);
  }

  private used(s: Scope, user: string, resolved: string): void {
    let rs = s.uses.get(user);
    if (rs === undefined) s.uses.set(user, (rs = new Set()));
    rs.add(resolved);
  }

  /** A var read: the nearest scope's var of that name, else a new one of the current scope. */
  private use(v: A.VarTerm): A.VarTerm {
    if (v.name.startsWith('$')) return v; // wildcards: each is its own var already
    const top = this.stack[this.stack.length - 1]!;
    const d = this.lookup(v.name);
    if (d === undefined) top.names.set(v.name, { name: v.name, occ: 'seen' });
    const name = d?.name ?? v.name;
    this.used(top, v.name, name);
    return name === v.name ? v : { ...v, name };
  }

  private lookup(name: string): { name: string; occ: Occurrence } | undefined {
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const d = this.stack[i]!.names.get(name);
      if (d !== undefined) return d;
    }
    return undefined;
  }

  /** A declaration in the current scope: a new var, or an error if the scope has the name already. */
  private declare(v: A.VarTerm, occ: Occurrence, at: A.Location): A.VarTerm {
    if (v.name.startsWith('$')) return v;
    const scope = this.stack[this.stack.length - 1]!;
    const prev = scope.names.get(v.name);
    if (prev !== undefined) {
      this.error(REDECLARED[prev.occ](v.name), at);
      return v;
    }
    const name = `${v.name}$${this.next++}`;
    scope.names.set(v.name, { name, occ });
    scope.own.push({ temp: name, user: v.name });
    scope.declared.add(name);
    this.used(scope, v.name, name);
    return { ...v, name };
  }

  private error(msg: string, at: A.Location): void {
    this.errors.push(new RegoError(RegoErrorCode.COMPILE, msg, at));
  }
}

/** The vars a pattern binds: vars, array items, object values (not keys, which must be ground). */
function patternVars(t: A.Term, out: Set<string>): void {
  switch (t.type) {
    case 'var':
      if (!t.name.startsWith('$')) out.add(t.name);
      break;
    case 'array':
      t.items.forEach((i) => patternVars(i, out));
      break;
    case 'object':
      t.items.forEach(([, v]) => patternVars(v, out));
      break;
    default:
      break;
  }
}

/** Every var name in a term, closures included. */
function allVars(t: A.Term, out: Set<string>): void {
  renameTerm(t, new Map(), out);
}

/** old name → new name (a ReadonlyMap is one) */
interface Renaming {
  get(name: string): string | undefined;
}

/**
 * `t` with the vars named in `names` renamed, closures included; `seen`
 * collects every var name met.
 */
function renameTerm(t: A.Term, names: Renaming, seen?: Set<string>): A.Term {
  const term = (x: A.Term): A.Term => renameTerm(x, names, seen);
  switch (t.type) {
    case 'var': {
      seen?.add(t.name);
      const n = names.get(t.name);
      return n === undefined ? t : { ...t, name: n };
    }
    case 'ref':
      return { ...t, head: term(t.head), path: t.path.map(term) };
    case 'arraycomprehension':
    case 'setcomprehension':
      return { ...t, term: term(t.term), body: renameBody(t.body, names, seen) };
    case 'objectcomprehension':
      return { ...t, key: term(t.key), value: term(t.value), body: renameBody(t.body, names, seen) };
    default:
      return mapItems(t, term) ?? t;
  }
}

function renameBody(b: A.Body, names: Renaming, seen?: Set<string>): A.Body {
  const term = (x: A.Term): A.Term => renameTerm(x, names, seen);
  return b.map((e) => {
    const with_ = e.with.map((w) => ({ ...w, value: term(w.value) }));
    switch (e.kind) {
      case 'call':
        return { ...e, args: e.args.map(term), with: with_ };
      case 'term':
        return { ...e, term: term(e.term), with: with_ };
      case 'some':
        return { ...e, symbols: e.symbols.map(term), with: with_ };
      case 'every': {
        const out: A.EveryExpr = { ...e, value: term(e.value), domain: term(e.domain), body: renameBody(e.body, names, seen), with: with_ };
        if (e.key !== undefined) out.key = term(e.key);
        return out;
      }
    }
  });
}
