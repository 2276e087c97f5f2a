/**
 * Stage 4 of the Rego compiler: the checked program (compile/program.ts)
 * becomes the planner IR (ir/ir.ts), after OPA's internal/planner/planner.go
 * (docs/rego-wasm-abi.md §3.4).
 *
 * Bodies are planned in continuation-passing style, as OPA does: every
 * expression is planned with a callback `k` that plans the rest of the body
 * *inside* whatever the expression opened (a scan's block), so nesting is
 * backtracking. Bodies arrive reordered for safety (check_safety_rule_bodies),
 * so planning them in order binds every var before its use.
 *
 * The subset planned so far is listed in `Unsupported` call sites: anything
 * outside it is a `rego_compile_error: not supported yet: <construct>` at
 * the construct's file:row:col, never a silent miscompile.
 */

import { HOST_BUILTINS } from '../builtins-js.js';
import { lookupBuiltin } from '../compile/builtins.js';
import type { CheckedProgram, RuleSet } from '../compile/program.js';
import { declaredVars, varsOf } from '../compile/resolve.js';
import { groundPrefix, refName, refReaches, rulePath, userName } from '../compile/walk.js';
import * as IR from '../ir/ir.js';
import type * as A from '../rego/ast.js';
import { RegoError, RegoErrorCode } from '../rego/errors.js';

/** A construct the planner does not handle yet. The message carries row and column. */
export class UnsupportedError extends RegoError {
  constructor(what: string, loc: A.Location) {
    super(RegoErrorCode.COMPILE, `not supported yet: ${what}`, loc);
    this.name = 'UnsupportedError';
    this.message = `${loc.file}:${loc.row}:${loc.col}: ${this.code}: ${this.reason}`;
  }
}

/** The conflict messages of OPA's topdown (eval_conflict_error), which the emitter's aborts carry. */
export const CONFLICT_COMPLETE = 'eval_conflict_error: complete rules must not produce multiple outputs';
export const CONFLICT_OBJECT = 'eval_conflict_error: object keys must be unique';
export const CONFLICT_FUNCTION = 'eval_conflict_error: functions must not produce multiple outputs for same inputs';

type Vars = Map<string, IR.Local>;
type K = (out: IR.Stmt[]) => void;
type KOp = (op: IR.Operand, out: IR.Stmt[]) => void;

const COMPARISONS: Record<string, IR.NativeComparison> = { lt: 'lt', lte: 'lte', gt: 'gt', gte: 'gte' };

/**
 * What `with` changed at the current point of planning (OPA's planWith,
 * docs/rego-wasm-abi.md §3.4): the locals holding input and data (fresh
 * upserted copies under `with input… as` / `with data… as`), and the
 * generation of functions being planned. A `with` that replaces rules
 * (a data path that rules define) or mocks a function or builtin starts a
 * new generation: every rule and function it reaches is planned again
 * (`gN.` names) with the rules under `shadows` read from the replaced data
 * and calls to `mocks` redirected. Nothing is memoised, so no result
 * computed under a `with` is shared with code outside it.
 */
interface Gen {
  idx: number;
  /** data paths (["data", "pkg", "p"]) whose rules the data document replaces */
  shadows: string[][];
  /** function or builtin name → a replacement function name or a constant value */
  mocks: Map<string, Mock>;
}
/**
 * A replacement: another function, a constant, or a value computed where
 * the `with` is (`with time.now_ns as t`), which travels to the functions
 * planned for the generation inside the data document, under WITH_KEY.
 */
type Mock = { kind: 'func'; name: string } | { kind: 'value'; term: A.Term } | { kind: 'dynamic' };

/** The data key that carries non-constant `with` replacement values (not a valid Rego name, so no rule or import can reach it). */
const WITH_KEY = '\u0000with';
interface Env {
  input: IR.Local;
  data: IR.Local;
  gen: Gen;
}

/** Builtins planned inline (unification, comparisons, membership): a `with` cannot replace them yet. */
const NOT_MOCKABLE = new Set(['eq', 'assign', 'equal', 'neq', 'lt', 'lte', 'gt', 'gte', 'internal.member_2', 'internal.member_3', 'print']);

/** Terms planTerm turns into one operand without branching (planTerms takes runs of them in a loop). */
const SIMPLE_TERMS = new Set<A.Term['type']>(['null', 'boolean', 'number', 'string', 'var']);

/** What a call calls: an IR function or builtin, or a `with` replacement value (constant, or carried in data). */
interface Callee {
  func: string;
  arity: number;
  user: boolean;
  value?: A.Term;
  dynamic?: boolean;
}

/** A term without vars, refs, calls or comprehensions. */
function isConstant(t: A.Term): boolean {
  switch (t.type) {
    case 'null':
    case 'boolean':
    case 'number':
    case 'string':
      return true;
    case 'array':
    case 'set':
      return t.items.every(isConstant);
    case 'object':
      return t.items.every(([a, b]) => isConstant(a) && isConstant(b));
    default:
      return false;
  }
}

/** The part of a rule's head ref past its ground prefix of names (`p.q[x].r` → `[x, "r"]`). */
function headSuffix(r: A.Rule): A.Term[] {
  const path = r.head.ref.path;
  let i = 0;
  while (i < path.length && path[i]!.type === 'string') i++;
  return path.slice(i);
}

function printConst(t: A.Term): string {
  return JSON.stringify(t, (k, v) => (k === 'loc' ? undefined : v));
}

/**
 * Whether the first definition of SET (a complete rule or a function) that
 * succeeds decides it: every definition has the same constant value and no
 * `else`, so no later one can give another value or conflict (OPA's
 * EarlyExit). `allow if …` rules and boolean helpers such as
 * `official(name, domains) if …` are the usual case: their evaluation
 * stops at the first definition, and the first element of a scan, that
 * holds.
 */
function earlyExit(set: RuleSet): boolean {
  const rules = set.rules.filter((r) => !r.default);
  if (rules.length === 0 || rules.some((r) => r.else.length > 0 || (r.head.value !== undefined && !isConstant(r.head.value)))) return false;
  const value = (r: A.Rule): string => (r.head.value === undefined ? 'true' : printConst(r.head.value));
  return rules.every((r) => value(r) === value(rules[0]!));
}

class Locals {
  constructor(private next: IR.Local = IR.FIRST_FREE_LOCAL) {}
  fresh(): IR.Local {
    return this.next++;
  }
}

export interface PlanOptions {
  /**
   * Coverage instrumentation (`busted test-policy --coverage` only, never
   * the modules `enforce` loads): every body expression reached and every
   * rule value produced calls the host builtin `internal.cover` with the
   * number of its site in `Policy.cover`.
   */
  coverage?: boolean;
}

export function plan(program: CheckedProgram, entrypoints: readonly string[], opts: PlanOptions = {}): IR.Policy {
  return new Planner(program, opts).run(entrypoints);
}

class Planner {
  private readonly strings: string[] = [];
  private readonly stringIdx = new Map<string, number>();
  private readonly files: string[] = [];
  private readonly builtins = new Set<string>();
  /** rule set by JSON of its path (["data","pkg","p"]) */
  private readonly sets = new Map<string, { set: RuleSet; path: string[] }>();
  /** IR function by `<generation>|<rule set path>` */
  private readonly funcs = new Map<string, IR.Func>();
  private readonly funcOrder: IR.Func[] = [];
  private readonly setByPath = new Map<string, RuleSet>();
  /** every module's package path, JSON of ["data", …]: a package without rules is still an (empty) object */
  private readonly packages: string[] = [];
  /** IR blocks open at the current point of planning (scan bodies, not blocks), for BreakStmt indexes */
  private depth = 0;
  /** generations of functions by their shadows and mocks (JSON); g0 is the plain one */
  private readonly gens = new Map<string, Gen>();
  private env: Env;
  /** coverage sites by `kind|file|row|rule`, when instrumenting */
  private readonly coverIds: Map<string, number> | undefined;
  private readonly coverSites: IR.CoverSite[] = [];
  /** the rule set being planned (coverage sites name it) */
  private ruleNow = '';

  constructor(program: CheckedProgram, opts: PlanOptions = {}) {
    this.coverIds = opts.coverage === true ? new Map() : undefined;
    const g0: Gen = { idx: 0, shadows: [], mocks: new Map() };
    this.gens.set(JSON.stringify([[], []]), g0);
    this.env = { input: IR.INPUT, data: IR.DATA, gen: g0 };
    const setOf = new Map<A.Rule, RuleSet>();
    for (const s of program.ruleSets) for (const r of s.rules) setOf.set(r, s);
    for (const s of program.ruleSets) this.setByPath.set(s.path, s);
    for (const m of program.modules) {
      const pk = JSON.stringify(groundPrefix(m.package.path));
      if (!this.packages.includes(pk)) this.packages.push(pk);
      for (const r of m.rules) {
        const set = setOf.get(r);
        const path = rulePath(m, r);
        if (set) this.sets.set(JSON.stringify(path), { set, path });
      }
    }
  }

  run(entrypoints: readonly string[]): IR.Policy {
    const plans = entrypoints.map((ep) => this.planEntrypoint(ep));
    const out: IR.Policy = {
      static: { strings: this.strings, files: this.files, builtinFuncs: [...this.builtins].sort() },
      plans,
      funcs: this.funcOrder,
    };
    if (this.coverIds) out.cover = this.coverSites;
    return out;
  }

  /* ----------------------------------------------------------- constants */

  private str(s: string): number {
    let i = this.stringIdx.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.stringIdx.set(s, i);
    }
    return i;
  }

  private loc(l: A.Location): IR.StmtLoc {
    let f = this.files.indexOf(l.file);
    if (f < 0) f = this.files.push(l.file) - 1;
    return { file: f, row: l.row, col: l.col };
  }

  /**
   * Coverage only: `internal.cover(<site>)` here, the site being an
   * expression reached or a rule that produced a value at `at` (OPA's
   * cover.go counts the same two: EvalOp on expressions, ExitOp on rules).
   */
  private coverHit(kind: IR.CoverSite['kind'], at: A.Location, out: IR.Stmt[], locals: Locals): void {
    if (!this.coverIds) return;
    const key = `${kind}|${at.file}|${at.row}|${this.ruleNow}`;
    let id = this.coverIds.get(key);
    if (id === undefined) {
      id = this.coverSites.push({ kind, file: at.file, row: at.row, rule: this.ruleNow }) - 1;
      this.coverIds.set(key, id);
    }
    const l = this.loc(at);
    const n = locals.fresh();
    this.builtins.add('internal.cover');
    out.push({ type: 'MakeNumberIntStmt', value: id, target: n, loc: l });
    out.push({ type: 'CallStmt', func: 'internal.cover', args: [{ type: 'local', value: n }], result: locals.fresh(), loc: l });
  }

  /* --------------------------------------------------------- entrypoints */

  /** `a/b` evaluates `data.a.b` and adds `{"result": value}` per solution (§1.5). */
  private planEntrypoint(ep: string): IR.Plan {
    const segs = ep.split('/').filter((s) => s !== '');
    const at: A.Location = { file: '', row: 0, col: 0 };
    const key = JSON.stringify(['data', ...segs]);
    const known = [...this.sets.keys()].some((p) => p === key || p.startsWith(key.slice(0, -1) + ',') || key.startsWith(p.slice(0, -1) + ','));
    if (segs.length === 0 || !known) {
      const rule = segs[segs.length - 1];
      const pkg = segs.slice(0, -1).join('.');
      throw new RegoError(RegoErrorCode.COMPILE, `entrypoint "${ep}" does not refer to a rule${rule && pkg ? ` (define rule "${rule}" in package ${pkg})` : ''}`, at);
    }
    // a function has no value without arguments: say so at its definition
    // (planning the ref would fail in planDataRef with this entrypoint's
    // made-up location, 0:0 and no file)
    const fn = this.sets.get(key)?.set;
    if (fn?.kind === 'function') {
      throw new RegoError(RegoErrorCode.COMPILE, `entrypoint "${ep}" refers to function ${fn.path}, which takes ${fn.arity} argument(s); an entrypoint must be a rule`, fn.rules[0]!.loc);
    }
    const ref: A.RefTerm = {
      type: 'ref',
      head: { type: 'var', name: 'data', loc: at },
      path: segs.map((value) => ({ type: 'string', value, loc: at })),
      loc: at,
    };
    const locals = new Locals();
    const stmts: IR.Stmt[] = [];
    const l = this.loc(at);
    this.planTerm(ref, stmts, new Map(), locals, (op, out) => {
      const obj = locals.fresh();
      out.push({ type: 'MakeObjectStmt', target: obj, loc: l });
      out.push({ type: 'ObjectInsertStmt', object: obj, key: { type: 'string_index', value: this.str('result') }, value: op, loc: l });
      out.push({ type: 'ResultSetAddStmt', value: obj, loc: l });
    });
    return { name: ep, blocks: [{ stmts }] };
  }

  /* ------------------------------------------------------------ rule sets */

  /** The IR function of a rule set in the current generation, planned on first use. */
  private funcFor(set: RuleSet): IR.Func {
    return this.ruleFunc(set, undefined, (fn) => (set.kind === 'function' ? this.planFunction(set, fn) : this.planRuleSet(set, fn)));
  }

  /**
   * An IR function of SET in the current generation (its value, or with
   * MEMBER its `$member` query): made on first use and planned by PLAN in
   * the set's own environment (input and data as the function's
   * parameters 0 and 1).
   */
  private ruleFunc(set: RuleSet, member: '$member' | undefined, plan: (fn: IR.Func) => IR.Func): IR.Func {
    const gen = this.env.gen;
    const key = `${gen.idx}|${set.path}${member ? `|${member}` : ''}`;
    const done = this.funcs.get(key);
    if (done) return done;
    const path = set.path.split('.').slice(1);
    const g = `g${gen.idx}`;
    const fn: IR.Func = {
      name: member ? `${g}.${set.path}.${member}` : `${g}.${set.path}`,
      path: member ? [g, ...path, member] : [g, ...path],
      params: [IR.INPUT, IR.DATA],
      return: 0,
      blocks: [],
    };
    this.funcs.set(key, fn); // before planning: recursion was rejected by check_recursion
    this.funcOrder.push(fn);
    const outer = this.env;
    const outerRule = this.ruleNow;
    this.env = { input: IR.INPUT, data: IR.DATA, gen };
    this.ruleNow = set.path;
    try {
      return plan(fn);
    } finally {
      this.env = outer;
      this.ruleNow = outerRule;
    }
  }

  /**
   * Whether `set[key]` may be asked of SET's definitions one key at a time
   * (memberFuncFor): a partial set whose rules are all `p contains x`, in a
   * build without coverage (whose sites count the set's elements).
   */
  private memberQuery(set: RuleSet): boolean {
    return set.kind === 'partial_set' && this.coverIds === undefined && set.rules.every((r) => !r.default && r.head.key !== undefined && headSuffix(r).length === 0);
  }

  /** Whether T has one value where it is planned, without iterating: a scalar, a bound variable, or input or a bound variable dotted by such. */
  private groundNow(t: A.Term, vars: Vars): boolean {
    switch (t.type) {
      case 'string':
      case 'number':
      case 'boolean':
      case 'null':
        return true;
      case 'var':
        return vars.has(t.name);
      case 'ref':
        return t.head.type === 'var' && (t.head.name === 'input' || vars.has(t.head.name)) && t.path.every((x) => x.type !== 'ref' && this.groundNow(x, vars));
      default:
        return false;
    }
  }

  /**
   * `set[key]` for a partial set (memberQuery), as OPA's evaluator answers
   * it: each definition's body, its element compared with KEY (the
   * function's third parameter), undefined when none produces it. The set
   * itself is never built: a rule such as `approved contains p if { ...;
   * some p in data.providers }` asked for one provider costs a scan, not a
   * set of every provider sorted into place, on every evaluation.
   */
  private memberFuncFor(set: RuleSet): IR.Func {
    return this.ruleFunc(set, '$member', (fn) => {
      const want = IR.FIRST_FREE_LOCAL;
      fn.params.push(want);
      const locals = new Locals(IR.FIRST_FREE_LOCAL + 1);
      const ret = locals.fresh();
      fn.return = ret;
      for (const r of set.rules) {
        const l = this.loc(r.loc);
        const b: IR.Block = { stmts: [] };
        const vars: Vars = new Map();
        this.planBody(r.body, 0, b.stmts, vars, locals, (out) =>
          this.planTerm(r.head.key!, out, vars, locals, (op, out2) => {
            out2.push({ type: 'EqualStmt', a: op, b: { type: 'local', value: want }, loc: l });
            // the key is a member: nothing later can change that
            out2.push({ type: 'AssignVarStmt', source: { type: 'local', value: want }, target: ret, loc: l }, { type: 'ReturnLocalStmt', source: ret, loc: l });
          }),
        );
        fn.blocks.push(b);
      }
      fn.blocks.push({ stmts: [{ type: 'ReturnLocalStmt', source: ret, loc: this.loc(set.rules[0]!.loc) }] });
      return fn;
    });
  }

  private planRuleSet(set: RuleSet, fn: IR.Func): IR.Func {
    const locals = new Locals();
    const ret = locals.fresh();
    fn.return = ret;
    const first = set.rules[0]!;
    const at = this.loc(first.loc);
    for (const r of set.rules) {
      if (r.kind === 'function' || r.head.args !== undefined) throw new UnsupportedError('functions', r.loc);
      if (r.else.length > 0 && set.kind !== 'complete') throw new UnsupportedError('else', r.else[0]!.loc);
    }
    // rules whose ref goes on past the set's path (`p[x] := v`, `a.b[c].d := 1`,
    // `p[x] contains y`) build an object keyed by the rest of their ref
    const building = set.kind === 'partial_object' || set.rules.some((r) => !r.default && headSuffix(r).length > 0);
    if (building) {
      fn.blocks.push({ stmts: [{ type: 'MakeObjectStmt', target: ret, loc: at }] });
      for (const r of set.rules) {
        if (r.default) throw new UnsupportedError('default on a rule with a variable in its ref', r.loc);
        const suffix = headSuffix(r);
        const l = this.loc(r.loc);
        const b: IR.Block = { stmts: [] };
        const vars: Vars = new Map();
        const leaf = r.kind === 'partial_set' ? r.head.key : this.headValue(r);
        if (leaf === undefined) throw new UnsupportedError('multi-value rule without an element', r.head.loc);
        this.planBody(r.body, 0, b.stmts, vars, locals, (out) =>
          this.planTerms(suffix, 0, [], out, vars, locals, (keys, out2) =>
            this.planTerm(leaf, out2, vars, locals, (v, out3) => {
              this.coverHit('rule', r.head.loc, out3, locals);
              this.insertNested(ret, keys, v, r.kind === 'partial_set', out3, locals, l);
            }),
          ),
        );
        fn.blocks.push(b);
      }
      fn.blocks.push({ stmts: [{ type: 'ReturnLocalStmt', source: ret, loc: at }] });
      return fn;
    }
    switch (set.kind) {
      case 'complete': {
        const exit = this.coverIds === undefined && earlyExit(set);
        for (const r of set.rules.filter((x) => !x.default)) {
          const lr = locals.fresh();
          const l = this.loc(r.loc);
          // `else` (§3.4): each link runs only while the chain has no value yet
          [r, ...r.else].forEach((link, j) => {
            const ll = this.loc(link.loc);
            const first: IR.Stmt = j === 0 ? { type: 'ResetLocalStmt', target: lr, loc: l } : { type: 'IsUndefinedStmt', source: lr, loc: ll };
            const b: IR.Block = { stmts: [first] };
            const vars: Vars = new Map();
            this.planBody(link.body, 0, b.stmts, vars, locals, (out) =>
              this.planTerm(this.headValue(link), out, vars, locals, (op, out2) => {
                this.coverHit('rule', link.head.loc, out2, locals);
                if (exit) out2.push({ type: 'AssignVarStmt', source: op, target: ret, loc: ll }, { type: 'ReturnLocalStmt', source: ret, loc: ll });
                else out2.push({ type: 'AssignVarOnceStmt', source: op, target: lr, loc: ll });
              }),
            );
            fn.blocks.push(b);
          });
          fn.blocks.push({
            stmts: [
              { type: 'IsDefinedStmt', source: lr, loc: l },
              { type: 'AssignVarOnceStmt', source: { type: 'local', value: lr }, target: ret, loc: l },
            ],
          });
        }
        for (const r of set.rules.filter((x) => x.default)) {
          const l = this.loc(r.loc);
          const b: IR.Block = { stmts: [{ type: 'IsUndefinedStmt', source: ret, loc: l }] };
          this.planTerm(this.headValue(r), b.stmts, new Map(), locals, (op, out) => {
            this.coverHit('rule', r.head.loc, out, locals);
            out.push({ type: 'AssignVarStmt', source: op, target: ret, loc: l });
          });
          fn.blocks.push(b);
        }
        break;
      }
      case 'partial_set': {
        fn.blocks.push({ stmts: [{ type: 'MakeSetStmt', target: ret, loc: at }] });
        for (const r of set.rules) {
          const key = r.head.key;
          if (key === undefined) throw new UnsupportedError('multi-value rule without an element', r.head.loc);
          const l = this.loc(r.loc);
          const b: IR.Block = { stmts: [] };
          const vars: Vars = new Map();
          this.planBody(r.body, 0, b.stmts, vars, locals, (out) =>
            this.planTerm(key, out, vars, locals, (op, out2) => {
              this.coverHit('rule', r.head.loc, out2, locals);
              out2.push({ type: 'SetAddStmt', set: ret, value: op, loc: l });
            }),
          );
          fn.blocks.push(b);
        }
        break;
      }
    }
    fn.blocks.push({ stmts: [{ type: 'ReturnLocalStmt', source: ret, loc: at }] });
    return fn;
  }

  /**
   * `obj[k0][k1]…[kn] := v` for a ref-head rule: intermediate objects are
   * found or made; the last key gets `v` once (a different value is an
   * object-key conflict), or, for a multi-value rule, a set `v` is added
   * to. A key already holding something that is not an object (or not a
   * set, at a multi-value leaf) is a conflict too, as in OPA.
   */
  private insertNested(obj: IR.Local, keys: IR.Operand[], v: IR.Operand, multi: boolean, out: IR.Stmt[], locals: Locals, l: IR.StmtLoc): void {
    const levels = multi ? keys.length : keys.length - 1;
    let cur = obj;
    for (let i = 0; i < levels; i++) {
      const key = keys[i]!;
      const leafSet = multi && i === keys.length - 1;
      const [child, lookup] = this.lookup(cur, key, locals, l);
      const fresh = locals.fresh();
      out.push(...lookup);
      out.push({
        type: 'BlockStmt',
        blocks: [
          {
            stmts: [
              { type: 'IsUndefinedStmt', source: child, loc: l },
              leafSet ? { type: 'MakeSetStmt', target: child, loc: l } : { type: 'MakeObjectStmt', target: child, loc: l },
              { type: 'ObjectInsertStmt', object: cur, key, value: { type: 'local', value: child }, loc: l },
            ],
          },
        ],
        loc: l,
      });
      // something else already there: inserting a fresh collection over it is the conflict abort
      out.push({
        type: 'BlockStmt',
        blocks: [
          {
            stmts: [
              {
                type: 'NotStmt',
                block: {
                  stmts: [
                    leafSet ? { type: 'IsSetStmt', source: child, loc: l } : { type: 'IsObjectStmt', source: child, loc: l },
                    { type: 'BreakStmt', index: 0, loc: l },
                  ],
                },
                loc: l,
              },
              leafSet ? { type: 'MakeSetStmt', target: fresh, loc: l } : { type: 'MakeObjectStmt', target: fresh, loc: l },
              { type: 'ObjectInsertOnceStmt', object: cur, key, value: { type: 'local', value: fresh }, loc: l },
            ],
          },
        ],
        loc: l,
      });
      cur = child;
    }
    if (multi) out.push({ type: 'SetAddStmt', set: cur, value: v, loc: l });
    else out.push({ type: 'ObjectInsertOnceStmt', object: cur, key: keys[keys.length - 1]!, value: v, loc: l });
  }

  /**
   * A function (OPA's planner: one IR function per rule set, with the
   * arguments as params 2…): each definition binds or checks its head
   * arguments against the params, then assigns its value once; two
   * different values for the same arguments are a conflict abort.
   */
  private planFunction(set: RuleSet, fn: IR.Func): IR.Func {
    const n = set.arity;
    for (let i = 0; i < n; i++) fn.params.push(IR.FIRST_FREE_LOCAL + i);
    const locals = new Locals(IR.FIRST_FREE_LOCAL + n);
    const ret = locals.fresh();
    fn.return = ret;
    const at = this.loc(set.rules[0]!.loc);
    const bindArgs = (r: A.Rule, i: number, out: IR.Stmt[], vars: Vars, k: K): void => {
      const args = r.head.args ?? [];
      if (i === args.length) return k(out);
      this.bindOrCheck(args[i]!, fn.params[2 + i]!, out, vars, locals, (o) => bindArgs(r, i + 1, o, vars, k));
    };
    for (const r of set.rules) {
      if (headSuffix(r).length > 0) throw new UnsupportedError('functions with a variable in their ref', r.head.loc);
    }
    const exit = this.coverIds === undefined && earlyExit(set);
    for (const r of set.rules.filter((x) => !x.default)) {
      const lr = locals.fresh();
      const l = this.loc(r.loc);
      fn.blocks.push({ stmts: [{ type: 'ResetLocalStmt', target: lr, loc: l }] });
      // `else`: each link runs only while the chain has no value yet; it binds the parent's arguments
      [r, ...r.else].forEach((link, j) => {
        const ll = this.loc(link.loc);
        const b: IR.Block = { stmts: j === 0 ? [] : [{ type: 'IsUndefinedStmt', source: lr, loc: ll }] };
        const vars: Vars = new Map();
        bindArgs(r, 0, b.stmts, vars, (o1) =>
          this.planBody(link.body, 0, o1, vars, locals, (o2) =>
            this.planTerm(this.headValue(link), o2, vars, locals, (op, o3) => {
              this.coverHit('rule', link.head.loc, o3, locals);
              if (exit) o3.push({ type: 'AssignVarStmt', source: op, target: ret, loc: ll }, { type: 'ReturnLocalStmt', source: ret, loc: ll });
              else o3.push({ type: 'AssignVarOnceStmt', source: op, target: lr, loc: ll });
            }),
          ),
        );
        fn.blocks.push(b);
      });
      fn.blocks.push({
        stmts: [
          { type: 'IsDefinedStmt', source: lr, loc: l },
          { type: 'AssignVarOnceStmt', source: { type: 'local', value: lr }, target: ret, loc: l },
        ],
      });
    }
    for (const r of set.rules.filter((x) => x.default)) {
      const l = this.loc(r.loc);
      const b: IR.Block = { stmts: [{ type: 'IsUndefinedStmt', source: ret, loc: l }] };
      this.planTerm(this.headValue(r), b.stmts, new Map(), locals, (op, out) => {
        this.coverHit('rule', r.head.loc, out, locals);
        out.push({ type: 'AssignVarStmt', source: op, target: ret, loc: l });
      });
      fn.blocks.push(b);
    }
    fn.blocks.push({ stmts: [{ type: 'ReturnLocalStmt', source: ret, loc: at }] });
    return fn;
  }

  /** The callee of a call: a user function (its IR function) or a builtin the runtime or host implements. */
  private callee(name: string | undefined, at: A.Location): Callee {
    if (name === undefined) throw new UnsupportedError('calls with a non-ref operator', at);
    const mock = this.env.gen.mocks.get(name);
    if (mock !== undefined) {
      const arity = this.arityOf(name, at);
      if (mock.kind === 'value') return { func: name, arity, user: false, value: mock.term };
      if (mock.kind === 'dynamic') return { func: name, arity, user: false, dynamic: true };
      // the replacement runs in a scope of its own: it may call what it replaces without recursion
      const outer = this.env;
      this.env = { ...outer, gen: this.genFor(outer.gen.shadows, new Map()) };
      let c: ReturnType<Planner['plainCallee']>;
      try {
        c = this.plainCallee(mock.name, at);
      } finally {
        this.env = outer;
      }
      if (c.arity !== arity) throw new UnsupportedError(`with ${name} as ${mock.name} (arity ${arity} replaced by arity ${c.arity})`, at);
      return c;
    }
    return this.plainCallee(name, at);
  }

  /** The number of operands of a function or builtin (no result operand). */
  private arityOf(name: string, at: A.Location): number {
    if (name.startsWith('data.')) {
      const set = this.setByPath.get(name);
      if (set === undefined || set.kind !== 'function') throw new UnsupportedError(`call to ${name}`, at);
      return set.arity;
    }
    const decl = lookupBuiltin(name);
    if (decl === undefined || decl.variadic) throw new UnsupportedError(`call to ${name}`, at);
    return decl.arity;
  }

  private plainCallee(name: string, at: A.Location): Callee {
    if (name.startsWith('data.')) {
      const set = this.setByPath.get(name);
      if (set === undefined || set.kind !== 'function') throw new UnsupportedError(`call to ${name}`, at);
      return { func: this.funcFor(set).name, arity: set.arity, user: true };
    }
    const decl = lookupBuiltin(name);
    const known = name in COMPARISONS || name in IR.NATIVE_BUILTINS || Object.prototype.hasOwnProperty.call(HOST_BUILTINS, name);
    if (decl === undefined || decl.variadic || !known) throw new UnsupportedError(`call to ${name}`, at);
    this.builtins.add(name);
    return { func: name, arity: decl.arity, user: false };
  }

  /** `name(args…)` with exactly the callee's arity of operands: a CallStmt whose result is k's. */
  private planCall(
    name: string | undefined,
    args: A.Term[],
    at: A.Location,
    out: IR.Stmt[],
    vars: Vars,
    locals: Locals,
    k: (result: IR.Local, out: IR.Stmt[]) => void,
  ): void {
    const c = this.callee(name, at);
    if (args.length !== c.arity) throw new UnsupportedError(`call to ${name} with ${args.length} operands`, at);
    const l = this.loc(at);
    if (c.value !== undefined) {
      // `with f as <value>`: every call of f is that value; the operands must still be defined
      return this.planTerms(args, 0, [], out, vars, locals, (_ops, o1) =>
        this.planTerm(c.value!, o1, vars, locals, (op, o) => {
          if (op.type === 'local') return k(op.value, o);
          const result = locals.fresh();
          o.push({ type: 'AssignVarStmt', source: op, target: result, loc: l });
          k(result, o);
        }),
      );
    }
    if (c.dynamic === true) {
      // `with f as <var>`: the value the `with` put into data[WITH_KEY][f]
      return this.planTerms(args, 0, [], out, vars, locals, (_ops, o) => {
        const box = locals.fresh();
        const result = locals.fresh();
        o.push({ type: 'DotStmt', source: { type: 'local', value: this.env.data }, key: { type: 'string_index', value: this.str(WITH_KEY) }, target: box, loc: l });
        o.push({ type: 'DotStmt', source: { type: 'local', value: box }, key: { type: 'string_index', value: this.str(c.func) }, target: result, loc: l });
        k(result, o);
      });
    }
    const decl = c.user ? undefined : lookupBuiltin(c.func);
    this.planTerms(args, 0, [], out, vars, locals, (ops, o) => {
      let result = locals.fresh();
      const pre: IR.Operand[] = c.user
        ? [
            { type: 'local', value: this.env.input },
            { type: 'local', value: this.env.data },
          ]
        : [];
      if (decl?.exact === true) {
        // the operands cross to the host as their Rego text: numbers exact, sets as sets
        ops = ops.map((op) => {
          const text = locals.fresh();
          o.push({ type: 'CallStmt', func: 'internal.value_text', args: [op], result: text, loc: l });
          return { type: 'local', value: text };
        });
      }
      o.push({ type: 'CallStmt', func: c.func, args: [...pre, ...ops], result, loc: l });
      if (c.func === 'walk') {
        // a relation: one solution per [path, document] the runtime lists
        const key = locals.fresh();
        const pair = locals.fresh();
        const block: IR.Block = { stmts: [] };
        o.push({ type: 'ScanStmt', source: result, key, value: pair, block, loc: l });
        this.depth++;
        k(pair, block.stmts);
        this.depth--;
        return;
      }
      if (decl?.value === true) {
        const parsed = locals.fresh();
        o.push({ type: 'CallStmt', func: 'internal.value_parse', args: [{ type: 'local', value: result }], result: parsed, loc: l });
        result = parsed;
      }
      if (decl?.set === true) {
        const set = locals.fresh();
        o.push({ type: 'CallStmt', func: 'internal.to_set', args: [{ type: 'local', value: result }], result: set, loc: l });
        result = set;
      }
      k(result, o);
    });
  }

  /**
   * A call as an expression: `f(a)` is true unless its result is false
   * (OPA's evalCall); `f(a, out)` unifies the result with the last operand.
   */
  private planCallExpr(e: A.CallExpr, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    const name = refName(e.operator);
    const c = this.callee(name, e.loc);
    const l = this.loc(e.loc);
    if (e.args.length === c.arity + 1) {
      const last = e.args[c.arity]!;
      return this.planCall(name, e.args.slice(0, c.arity), e.loc, out, vars, locals, (r, o) =>
        this.bindOrCheck(last, r, o, vars, locals, k),
      );
    }
    this.planCall(name, e.args, e.loc, out, vars, locals, (r, o) => {
      o.push({ type: 'NotEqualStmt', a: { type: 'local', value: r }, b: { type: 'bool', value: false }, loc: l });
      k(o);
    });
  }

  /** What a call outside the slice is: a user function (`data.…`) or a builtin. */
  private callName(name: string | undefined): string {
    if (name === undefined) return 'calls with a non-ref operator';
    return name.startsWith('data.') ? 'functions' : `call to ${name}`;
  }

  private headValue(r: A.Rule): A.Term {
    return r.head.value ?? { type: 'boolean', value: true, loc: r.head.loc };
  }

  /* --------------------------------------------------------------- bodies */

  private planBody(body: A.Body, i: number, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    if (i === body.length) return k(out);
    this.coverHit('expr', body[i]!.loc, out, locals);
    this.planExpr(body[i]!, out, vars, locals, (out2) => this.planBody(body, i + 1, out2, vars, locals, k));
  }

  private planExpr(e: A.Expr, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    if (e.with.length > 0) return this.planWith(e, out, vars, locals, k);
    this.planExprPlain(e, out, vars, locals, k);
  }

  /**
   * `expr with t1 as v1 with t2 as v2 …` (OPA's planWith, §3.4): the values
   * are planned first, in the enclosing scope; then, in order, `input…`
   * and `data…` targets make upserted copies of the current input/data
   * (the originals are untouched, so nothing needs restoring when the
   * expression backtracks), and function/builtin targets become mocks.
   * The expression, and every rule and function it calls, is planned with
   * those; the rest of the body (k) is planned with the enclosing ones.
   */
  private planWith(e: A.Expr, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    const l = this.loc(e.loc);
    type Mod = { w: A.With; root: 'input' | 'data' | 'mock'; path: string[]; name?: string };
    const mods: Mod[] = e.with.map((w) => {
      const t = w.target;
      const ref: A.RefTerm | undefined = t.type === 'ref' ? t : t.type === 'var' ? { type: 'ref', head: t, path: [], loc: t.loc } : undefined;
      if (ref === undefined || ref.head.type !== 'var') throw new UnsupportedError(`with on a ${t.type} target`, w.loc);
      const name = refName(ref);
      if (name === undefined) throw new UnsupportedError('with on a non-ground path', w.loc);
      const path = ref.path.map((p) => (p as A.StringTerm).value);
      const root = ref.head.name;
      if (root === 'input') return { w, root: 'input', path };
      if (root === 'data') {
        const set = this.setByPath.get(name);
        if (set?.kind === 'function') return { w, root: 'mock', path, name };
        return { w, root: 'data', path };
      }
      return { w, root: 'mock', path, name };
    });
    const outer = this.env;
    let shadows = [...outer.gen.shadows];
    const mocks = new Map(outer.gen.mocks);
    for (const m of mods) {
      if (m.root === 'mock') {
        const name = m.name!;
        if (NOT_MOCKABLE.has(name)) throw new UnsupportedError(`with ${name}`, m.w.loc);
        this.arityOf(name, m.w.loc); // a known function or builtin
        const v = m.w.value;
        const vname = v.type === 'ref' ? refName(v) : v.type === 'var' ? v.name : undefined;
        if (vname !== undefined && this.isFunction(vname)) {
          if (NOT_MOCKABLE.has(vname)) throw new UnsupportedError(`with ${name} as ${vname}`, m.w.loc);
          mocks.set(name, { kind: 'func', name: vname });
        } else if (isConstant(v)) {
          mocks.set(name, { kind: 'value', term: v });
        } else {
          mocks.set(name, { kind: 'dynamic' });
        }
      } else if (m.root === 'data') {
        const full = ['data', ...m.path];
        for (const { path } of this.sets.values()) {
          if (path.length < full.length && path.every((x, i) => full[i] === x)) {
            throw new UnsupportedError(`with on a path inside rule ${path.join('.')}`, m.w.loc);
          }
        }
        const overlaps = [...this.sets.values()].some(({ path }) => full.every((x, i) => path[i] === x));
        if (overlaps && !shadows.some((sh) => sh.every((x, i) => full[i] === x))) {
          shadows = [...shadows.filter((sh) => !full.every((x, i) => sh[i] === x)), full];
        }
      }
    }
    const gen = this.genFor(shadows, mocks);
    const values = mods.filter((m) => m.root !== 'mock' || mocks.get(m.name!)?.kind === 'dynamic');
    this.planTerms(
      values.map((m) => m.w.value),
      0,
      [],
      out,
      vars,
      locals,
      (ops, o) => {
        let input = outer.input;
        let data = outer.data;
        values.forEach((m, i) => {
          if (m.root === 'input') input = this.upsert(input, m.path, ops[i]!, o, locals, l);
          else if (m.root === 'mock') data = this.upsert(data, [WITH_KEY, m.name!], ops[i]!, o, locals, l);
          else data = this.upsert(data, m.path, ops[i]!, o, locals, l);
        });
        this.env = { input, data, gen };
        try {
          this.planExprPlain(e, o, vars, locals, (o2) => {
            const inner = this.env;
            this.env = outer;
            try {
              k(o2);
            } finally {
              this.env = inner;
            }
          });
        } finally {
          this.env = outer;
        }
      },
    );
  }

  /** Whether `name` is a function rule or a builtin (a `with` replacement function). */
  private isFunction(name: string): boolean {
    if (name.startsWith('data.')) return this.setByPath.get(name)?.kind === 'function';
    return lookupBuiltin(name) !== undefined;
  }

  private genFor(shadows: string[][], mocks: Map<string, Mock>): Gen {
    const mockKeys = [...mocks]
      .map(([n, m]) => [n, m.kind === 'func' ? m.name : m.kind === 'value' ? printConst(m.term) : '<dynamic>'])
      .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
    const key = JSON.stringify([shadows.map((s) => s.join('.')).sort(), mockKeys]);
    let g = this.gens.get(key);
    if (g === undefined) {
      g = { idx: this.gens.size, shadows, mocks };
      this.gens.set(key, g);
    }
    return g;
  }

  /**
   * A copy of `src` with `value` at `path` (OPA's WithStmt upsert): each
   * object on the path is shallow-copied (a missing or non-object one
   * becomes an empty object) and the child is replaced; `src` is untouched.
   */
  private upsert(src: IR.Local, path: string[], value: IR.Operand, out: IR.Stmt[], locals: Locals, l: IR.StmtLoc): IR.Local {
    if (path.length === 0) {
      if (value.type === 'local') return value.value;
      const t = locals.fresh();
      out.push({ type: 'AssignVarStmt', source: value, target: t, loc: l });
      return t;
    }
    const copy = locals.fresh();
    const key = locals.fresh();
    const val = locals.fresh();
    const child = locals.fresh();
    const got = locals.fresh();
    const seg: IR.Operand = { type: 'string_index', value: this.str(path[0]!) };
    out.push({ type: 'MakeObjectStmt', target: copy, loc: l });
    out.push({ type: 'ResetLocalStmt', target: child, loc: l });
    out.push({
      type: 'BlockStmt',
      blocks: [
        {
          stmts: [
            { type: 'IsObjectStmt', source: src, loc: l },
            { type: 'ScanStmt', source: src, key, value: val, block: { stmts: [{ type: 'ObjectInsertStmt', object: copy, key: { type: 'local', value: key }, value: { type: 'local', value: val }, loc: l }] }, loc: l },
            { type: 'DotStmt', source: { type: 'local', value: src }, key: seg, target: got, loc: l },
            { type: 'AssignVarStmt', source: { type: 'local', value: got }, target: child, loc: l },
          ],
        },
      ],
      loc: l,
    });
    const next = this.upsert(child, path.slice(1), value, out, locals, l);
    out.push({ type: 'ObjectInsertStmt', object: copy, key: seg, value: { type: 'local', value: next }, loc: l });
    return copy;
  }

  private planExprPlain(e: A.Expr, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    if (e.negated) {
      // Bindings made under `not` stay local to it. The first solution of
      // the body breaks out of the not block (through any scans it opened):
      // that is what makes the NotStmt undefined.
      const block: IR.Block = { stmts: [] };
      const base = this.depth++;
      const l = this.loc(e.loc);
      this.planPositive(e, block.stmts, new Map(vars), locals, (o) =>
        o.push({ type: 'BreakStmt', index: this.depth - base - 1, loc: l }),
      );
      this.depth--;
      out.push({ type: 'NotStmt', block, loc: l });
      return k(out);
    }
    this.planPositive(e, out, vars, locals, k);
  }

  private planPositive(e: A.Expr, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    const l = this.loc(e.loc);
    switch (e.kind) {
      case 'every':
        return this.planEvery(e, out, vars, locals, k);
      case 'some': {
        const first = e.symbols[0];
        if (first?.type !== 'call') return k(out); // `some x, y`: a declaration only
        const name = refName(first.operator);
        const args = first.args;
        if (name === 'internal.member_2') return this.planMember(undefined, args[0]!, args[1]!, out, vars, locals, k);
        if (name === 'internal.member_3') return this.planMember(args[0]!, args[1]!, args[2]!, out, vars, locals, k);
        throw new UnsupportedError(`some with ${name ?? 'call'}`, e.loc);
      }
      case 'term': {
        const t = e.term;
        if (t.type === 'boolean' && !t.value) {
          // always undefined (a BreakStmt would be read as success inside a not block)
          const f: IR.Operand = { type: 'bool', value: false };
          out.push({ type: 'NotEqualStmt', a: f, b: f, loc: l });
          return;
        }
        return this.planTerm(t, out, vars, locals, (op, out2) => {
          // A literal other than false is true; anything computed must not be false.
          if (t.type === 'var' || t.type === 'ref') {
            out2.push({ type: 'NotEqualStmt', a: op, b: { type: 'bool', value: false }, loc: l });
          }
          k(out2);
        });
      }
      case 'call': {
        const name = refName(e.operator);
        const [a, b] = e.args;
        switch (name) {
          case 'eq':
          case 'assign':
            return this.planUnify(name, a!, b!, e.loc, out, vars, locals, k);
          case 'equal':
          case 'neq':
            return this.planTerm(a!, out, vars, locals, (x, o1) =>
              this.planTerm(b!, o1, vars, locals, (y, o2) => {
                o2.push({ type: name === 'equal' ? 'EqualStmt' : 'NotEqualStmt', a: x, b: y, loc: l });
                k(o2);
              }),
            );
          case 'lt':
          case 'lte':
          case 'gt':
          case 'gte': {
            const fn = COMPARISONS[name]!;
            if (e.args.length !== 2) return this.planCallExpr(e, out, vars, locals, k);
            this.builtins.add(fn);
            return this.planTerm(a!, out, vars, locals, (x, o1) =>
              this.planTerm(b!, o1, vars, locals, (y, o2) => {
                const r = locals.fresh();
                o2.push({ type: 'CallStmt', func: fn, args: [x, y], result: r, loc: l });
                o2.push({ type: 'NotEqualStmt', a: { type: 'local', value: r }, b: { type: 'bool', value: false }, loc: l });
                k(o2);
              }),
            );
          }
          case 'internal.member_2':
            if (e.args.length !== 2) break;
            // `x in xs`: a scan with an equality. OPA calls a native member
            // builtin that yields one `true`; a scan may yield the same
            // solution more than once, which no rule kind can observe (sets
            // collapse, equal values never conflict).
            return this.planTerm(a!, out, vars, locals, (x, o1) =>
              this.planScanOf(b!, o1, vars, locals, (_key, value, o2) => {
                o2.push({ type: 'EqualStmt', a: x, b: { type: 'local', value }, loc: l });
                k(o2);
              }),
            );
        }
        if (name === 'internal.member_3' && e.args.length === 3) {
          const [kt, vt, ct] = e.args;
          return this.planTerm(kt!, out, vars, locals, (x, o0) =>
            this.planTerm(vt!, o0, vars, locals, (y, o1) =>
              this.planScanOf(ct!, o1, vars, locals, (key, value, o2) => {
                o2.push({ type: 'EqualStmt', a: y, b: { type: 'local', value }, loc: l });
                o2.push({ type: 'EqualStmt', a: x, b: { type: 'local', value: key }, loc: l });
                k(o2);
              }),
            ),
          );
        }
        if (name === 'print') return this.planPrint(e, out, vars, locals, k);
        if (name === 'internal.member_2' || name === 'internal.member_3') {
          throw new UnsupportedError(this.callName(name), e.loc);
        }
        return this.planCallExpr(e, out, vars, locals, k);
      }
    }
  }

  /**
   * `print(a, b…)` as OPA plans it with print statements enabled: each
   * operand becomes the set of its values (`{a | true}`, empty when a is
   * undefined, which prints `<undefined>`), and `internal.print` gets the
   * array of them. The expression always holds.
   */
  private planPrint(e: A.CallExpr, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    const l = this.loc(e.loc);
    const truth: A.Expr = { type: 'expr', kind: 'term', term: { type: 'boolean', value: true, loc: e.loc }, negated: false, with: [], loc: e.loc };
    const sets: A.Term[] = e.args.map((a) => ({ type: 'setcomprehension', term: a, body: [truth], loc: a.loc }));
    this.planTerms(sets, 0, [], out, vars, locals, (ops, o) => {
      const arr = locals.fresh();
      const res = locals.fresh();
      o.push({ type: 'MakeArrayStmt', capacity: ops.length, target: arr, loc: l });
      for (const op of ops) o.push({ type: 'ArrayAppendStmt', array: arr, value: op, loc: l });
      // each value as OPA writes it, made in the runtime: a set would reach the host (JSON) as an array
      const texts = locals.fresh();
      this.builtins.add('internal.print_texts');
      o.push({ type: 'CallStmt', func: 'internal.print_texts', args: [{ type: 'local', value: arr }], result: texts, loc: l });
      this.builtins.add('internal.print');
      o.push({ type: 'CallStmt', func: 'internal.print', args: [{ type: 'local', value: texts }], result: res, loc: l });
      k(o);
    });
  }

  /**
   * `every [k,] v in xs { body }` as OPA's planExprEvery (§3.4): undefined
   * unless xs is a collection; c0 records that some element failed the
   * body (c1: this element passed), so the expression holds iff c0 stays
   * undefined: not (some k, v in xs { not body }). The key, the value and
   * the vars the body declares are the body's own.
   */
  private planEvery(e: A.EveryExpr, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    const l = this.loc(e.loc);
    this.planTerm(e.domain, out, vars, locals, (op, o) => {
      const f: IR.Operand = { type: 'bool', value: false };
      const t: IR.Operand = { type: 'bool', value: true };
      if (op.type !== 'local') {
        o.push({ type: 'NotEqualStmt', a: f, b: f, loc: l }); // a string or boolean is no collection
        return;
      }
      const dom = op.value;
      const isColl = locals.fresh();
      o.push({ type: 'ResetLocalStmt', target: isColl, loc: l });
      o.push({
        type: 'BlockStmt',
        blocks: (['IsArrayStmt', 'IsObjectStmt', 'IsSetStmt'] as const).map((type) => ({
          stmts: [
            { type, source: dom, loc: l },
            { type: 'AssignVarStmt', source: t, target: isColl, loc: l },
          ],
        })),
        loc: l,
      });
      o.push({ type: 'IsDefinedStmt', source: isColl, loc: l });
      const c0 = locals.fresh();
      const c1 = locals.fresh();
      const key = locals.fresh();
      const value = locals.fresh();
      o.push({ type: 'ResetLocalStmt', target: c0, loc: l });
      const scan: IR.Block = { stmts: [{ type: 'ResetLocalStmt', target: c1, loc: l }] };
      o.push({ type: 'ScanStmt', source: dom, key, value, block: scan, loc: l });
      const inner: Vars = new Map(vars);
      const own = declaredVars(e.body);
      if (e.key !== undefined) varsOf(e.key, own);
      varsOf(e.value, own);
      for (const v of own) inner.delete(v);
      const check: IR.Block = { stmts: [] };
      this.depth++; // the scan
      const base = this.depth++; // the check block: the body's first solution leaves it
      const bindValue = (b: IR.Stmt[]) =>
        this.bindOrCheck(e.value, value, b, inner, locals, (b2) =>
          this.planBody(e.body, 0, b2, inner, locals, (b3) => {
            b3.push({ type: 'AssignVarStmt', source: t, target: c1, loc: l });
            b3.push({ type: 'BreakStmt', index: this.depth - base - 1, loc: l });
          }),
        );
      if (e.key === undefined) bindValue(check.stmts);
      else this.bindOrCheck(e.key, key, check.stmts, inner, locals, bindValue);
      this.depth -= 2;
      scan.stmts.push(
        { type: 'BlockStmt', blocks: [check], loc: l },
        { type: 'IsUndefinedStmt', source: c1, loc: l },
        { type: 'AssignVarStmt', source: t, target: c0, loc: l },
      );
      o.push({ type: 'IsUndefinedStmt', source: c0, loc: l });
      k(o);
    });
  }

  /** `some [k,] x in xs`: scan xs, binding (or checking) k and x per element. */
  private planMember(
    key: A.Term | undefined,
    value: A.Term,
    coll: A.Term,
    out: IR.Stmt[],
    vars: Vars,
    locals: Locals,
    k: K,
  ): void {
    this.planScanOf(coll, out, vars, locals, (kl, vl, o1) => {
      const bindValue = (o: IR.Stmt[]) => this.bindOrCheck(value, vl, o, vars, locals, k);
      if (key === undefined) return bindValue(o1);
      this.bindOrCheck(key, kl, o1, vars, locals, bindValue);
    });
  }

  private planScanOf(
    coll: A.Term,
    out: IR.Stmt[],
    vars: Vars,
    locals: Locals,
    k: (key: IR.Local, value: IR.Local, out: IR.Stmt[]) => void,
  ): void {
    this.planTerm(coll, out, vars, locals, (op, o1) => {
      const l = this.loc(coll.loc);
      if (op.type !== 'local') return; // a string or boolean constant has no elements
      const key = locals.fresh();
      const value = locals.fresh();
      const block: IR.Block = { stmts: [] };
      o1.push({ type: 'ScanStmt', source: op.value, key, value, block, loc: l });
      this.depth++;
      k(key, value, block.stmts);
      this.depth--;
    });
  }

  /** Unifies the value in `local` with the term `t`: OPA's planUnifyLocal (vars in composites bound element by element). */
  private bindOrCheck(t: A.Term, local: IR.Local, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    this.unifyLocal({ type: 'local', value: local }, t, t.loc, out, vars, locals, k);
  }

  /** An always-undefined statement (a BreakStmt would be read as success inside a not block). */
  private undefined(at: A.Location, out: IR.Stmt[]): void {
    const f: IR.Operand = { type: 'bool', value: false };
    out.push({ type: 'NotEqualStmt', a: f, b: f, loc: this.loc(at) });
  }

  /** OPA's planUnifyLocal: `a` (a computed value) = `b`, binding b's unbound vars. */
  private unifyLocal(a: IR.Operand, b: A.Term, at: A.Location, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    const l = this.loc(b.loc);
    switch (b.type) {
      case 'var': {
        const v = vars.get(b.name);
        if (v !== undefined) {
          out.push({ type: 'EqualStmt', a, b: { type: 'local', value: v }, loc: l });
          return k(out);
        }
        if (a.type === 'local') vars.set(b.name, a.value);
        else {
          const t = locals.fresh();
          out.push({ type: 'AssignVarStmt', source: a, target: t, loc: l });
          vars.set(b.name, t);
        }
        return k(out);
      }
      case 'array':
      case 'object': {
        if (!this.hasUnbound(b, vars)) break;
        if (a.type !== 'local') return this.undefined(at, out);
        const src = a.value;
        out.push({ type: b.type === 'array' ? 'IsArrayStmt' : 'IsObjectStmt', source: src, loc: l });
        const n = locals.fresh();
        const want = locals.fresh();
        this.builtins.add('count');
        out.push({ type: 'CallStmt', func: 'count', args: [a], result: n, loc: l });
        out.push({ type: 'MakeNumberIntStmt', value: b.items.length, target: want, loc: l });
        out.push({ type: 'EqualStmt', a: { type: 'local', value: n }, b: { type: 'local', value: want }, loc: l });
        const step = (i: number, o: IR.Stmt[]): void => {
          if (i === b.items.length) return k(o);
          const elem = (key: IR.Operand, o2: IR.Stmt[], value: A.Term): void => {
            const lv = locals.fresh();
            o2.push({ type: 'DotStmt', source: a, key, target: lv, loc: l });
            this.unifyLocal({ type: 'local', value: lv }, value, at, o2, vars, locals, (o3) => step(i + 1, o3));
          };
          if (b.type === 'array') {
            const key = locals.fresh();
            o.push({ type: 'MakeNumberIntStmt', value: i, target: key, loc: l });
            return elem({ type: 'local', value: key }, o, b.items[i]!);
          }
          const [kt, vt] = b.items[i]!;
          if (this.hasUnbound(kt, vars)) throw new UnsupportedError('unbound variables in object keys in unification', kt.loc);
          this.planTerm(kt, o, vars, locals, (key, o2) => elem(key, o2, vt));
        };
        return step(0, out);
      }
      default:
        break;
    }
    this.planTerm(b, out, vars, locals, (y, o) => {
      o.push({ type: 'EqualStmt', a, b: y, loc: l });
      k(o);
    });
  }

  /** Whether `t` has a var (outside closures and refs' own iteration) that is not bound yet. */
  private hasUnbound(t: A.Term, vars: Vars): boolean {
    switch (t.type) {
      case 'var':
        return !vars.has(t.name);
      case 'array':
      case 'set':
        return t.items.some((i) => this.hasUnbound(i, vars));
      case 'object':
        return t.items.some(([a, b]) => this.hasUnbound(a, vars) || this.hasUnbound(b, vars));
      default:
        return false;
    }
  }

  /** `a = b` / `a := b`: OPA's planUnify, vars bound on either side, arrays by length and element, objects by key set. */
  private planUnify(
    op: 'eq' | 'assign',
    a: A.Term,
    b: A.Term,
    at: A.Location,
    out: IR.Stmt[],
    vars: Vars,
    locals: Locals,
    k: K,
  ): void {
    if (op === 'assign' && a.type === 'var' && vars.has(a.name)) {
      throw new UnsupportedError(`:= to variable ${userName(a.name)} bound above`, a.loc);
    }
    this.unify(a, b, at, out, vars, locals, k);
  }

  private unify(a: A.Term, b: A.Term, at: A.Location, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    const unbound = (t: A.Term): t is A.VarTerm => t.type === 'var' && !vars.has(t.name);
    const composite = (t: A.Term): boolean => t.type === 'array' || t.type === 'object';
    if (unbound(a) && unbound(b)) throw new UnsupportedError('unification of two unbound variables', at);
    // a side with unbound vars is the pattern; the other is computed first
    if (unbound(a)) return this.planTerm(b, out, vars, locals, (y, o) => this.unifyLocal(y, a, at, o, vars, locals, k));
    if (unbound(b)) return this.planTerm(a, out, vars, locals, (x, o) => this.unifyLocal(x, b, at, o, vars, locals, k));
    if (composite(a) && composite(b) && (this.hasUnbound(a, vars) || this.hasUnbound(b, vars))) {
      if (a.type === 'array' && b.type === 'array') {
        if (a.items.length !== b.items.length) return this.undefined(at, out);
        return this.unifyPairs(a.items.map((x, i) => [x, b.items[i]!] as [A.Term, A.Term]), at, out, vars, locals, k);
      }
      if (a.type === 'object' && b.type === 'object') {
        // keys are matched by their form, as OPA's planner does: constants,
        // or bound vars and refs that appear on both sides alike
        const key = (t: A.Term): string | undefined => (this.hasUnbound(t, vars) ? undefined : printConst(t));
        const ka = a.items.map(([x]) => key(x));
        const kb = b.items.map(([x]) => key(x));
        if (ka.includes(undefined) || kb.includes(undefined)) throw new UnsupportedError('unification of objects with unbound variables in keys', at);
        if (new Set(ka).size !== ka.length || new Set(kb).size !== kb.length) throw new UnsupportedError('unification of objects with repeated keys', at);
        const same = ka.length === kb.length && ka.every((x) => kb.includes(x));
        // (number keys may be equal in other forms: 1 and 1.0)
        const constant = [...a.items, ...b.items].every(([x]) => x.type === 'string' || x.type === 'boolean' || x.type === 'null');
        if (!same && !constant) throw new UnsupportedError('unification of objects with non-constant keys', at);
        if (!same) return this.undefined(at, out);
        return this.unifyPairs(
          a.items.map(([x, v]) => [v, b.items[kb.indexOf(key(x))]![1]] as [A.Term, A.Term]),
          at,
          out,
          vars,
          locals,
          k,
        );
      }
      return this.undefined(at, out); // an array is never an object
    }
    if (this.hasUnbound(a, vars)) return this.planTerm(b, out, vars, locals, (y, o) => this.unifyLocal(y, a, at, o, vars, locals, k));
    this.planTerm(a, out, vars, locals, (x, o) => this.unifyLocal(x, b, at, o, vars, locals, k));
  }

  /** Unifies pairs, each as soon as one of its sides is computable (the others wait for the vars it binds). */
  private unifyPairs(pairs: Array<[A.Term, A.Term]>, at: A.Location, out: IR.Stmt[], vars: Vars, locals: Locals, k: K): void {
    if (pairs.length === 0) return k(out);
    const ready = (p: [A.Term, A.Term]): boolean =>
      !this.hasUnbound(p[0], vars) ||
      !this.hasUnbound(p[1], vars) ||
      (p[0].type === 'array' && p[1].type === 'array') ||
      (p[0].type === 'object' && p[1].type === 'object');
    let i = pairs.findIndex(ready);
    if (i < 0) i = 0;
    const [x, y] = pairs[i]!;
    const rest = pairs.filter((_, j) => j !== i);
    this.unify(x, y, at, out, vars, locals, (o) => this.unifyPairs(rest, at, o, vars, locals, k));
  }

  /* ---------------------------------------------------------------- terms */

  private planTerm(t: A.Term, out: IR.Stmt[], vars: Vars, locals: Locals, k: KOp): void {
    const l = this.loc(t.loc);
    switch (t.type) {
      case 'null': {
        const target = locals.fresh();
        out.push({ type: 'MakeNullStmt', target, loc: l });
        return k({ type: 'local', value: target }, out);
      }
      case 'boolean':
        return k({ type: 'bool', value: t.value }, out);
      case 'number': {
        const target = locals.fresh();
        out.push({ type: 'MakeNumberRefStmt', Index: this.str(t.text), target, loc: l });
        return k({ type: 'local', value: target }, out);
      }
      case 'string':
        return k({ type: 'string_index', value: this.str(t.value) }, out);
      case 'var': {
        const v = vars.get(t.name);
        if (v === undefined) throw new UnsupportedError(`binding variable ${userName(t.name)} inside a composite or a comparison`, t.loc);
        return k({ type: 'local', value: v }, out);
      }
      case 'ref':
        return this.planRef(t, out, vars, locals, k);
      case 'array':
      case 'set':
        // All items first: an item may open a scan, and the collection must
        // be made inside it, once per solution.
        return this.planTerms(t.items, 0, [], out, vars, locals, (ops, o) => {
          const target = locals.fresh();
          if (t.type === 'array') {
            o.push({ type: 'MakeArrayStmt', capacity: ops.length, target, loc: l });
            for (const value of ops) o.push({ type: 'ArrayAppendStmt', array: target, value, loc: l });
          } else {
            o.push({ type: 'MakeSetStmt', target, loc: l });
            for (const value of ops) o.push({ type: 'SetAddStmt', set: target, value, loc: l });
          }
          k({ type: 'local', value: target }, o);
        });
      case 'object':
        return this.planTerms(t.items.flat(), 0, [], out, vars, locals, (ops, o) => {
          const target = locals.fresh();
          o.push({ type: 'MakeObjectStmt', target, loc: l });
          for (let i = 0; i < ops.length; i += 2) {
            o.push({ type: 'ObjectInsertStmt', object: target, key: ops[i]!, value: ops[i + 1]!, loc: l });
          }
          k({ type: 'local', value: target }, o);
        });
      case 'arraycomprehension':
      case 'setcomprehension':
      case 'objectcomprehension':
        return this.planComprehension(t, out, vars, locals, k);
      case 'call': {
        const name = refName(t.operator);
        if ((name === 'internal.member_2' && t.args.length === 2) || (name === 'internal.member_3' && t.args.length === 3)) {
          return this.planMemberValue(t.args, l, out, vars, locals, k);
        }
        return this.planCall(name, t.args, t.loc, out, vars, locals, (r, o) => k({ type: 'local', value: r }, o));
      }
    }
  }

  /**
   * `x in xs` / `k, x in xs` as a value (OPA's internal.member_2/3): true if
   * some element (at key k) equals x, false otherwise; undefined if an
   * operand is.
   */
  private planMemberValue(args: A.Term[], l: IR.StmtLoc, out: IR.Stmt[], vars: Vars, locals: Locals, k: KOp): void {
    this.planTerms(args, 0, [], out, vars, locals, (ops, o) => {
      const coll = ops[ops.length - 1]!;
      const r = locals.fresh();
      o.push({ type: 'AssignVarStmt', source: { type: 'bool', value: false }, target: r, loc: l });
      if (coll.type === 'local') {
        const block: IR.Block = { stmts: [] };
        const key = locals.fresh();
        const value = locals.fresh();
        const scan: IR.Block = { stmts: [] };
        block.stmts.push({ type: 'ScanStmt', source: coll.value, key, value, block: scan, loc: l });
        scan.stmts.push({ type: 'EqualStmt', a: ops[ops.length - 2]!, b: { type: 'local', value }, loc: l });
        if (ops.length === 3) scan.stmts.push({ type: 'EqualStmt', a: ops[0]!, b: { type: 'local', value: key }, loc: l });
        scan.stmts.push({ type: 'AssignVarStmt', source: { type: 'bool', value: true }, target: r, loc: l });
        scan.stmts.push({ type: 'BreakStmt', index: 1, loc: l });
        o.push({ type: 'BlockStmt', blocks: [block], loc: l });
      }
      k({ type: 'local', value: r }, o);
    });
  }

  /**
   * A comprehension (§3.4): make the collection, then a BlockStmt with the
   * body planned inline, each solution adding to it; the collection is the
   * value. The body reads the enclosing vars it shares (bound first, by
   * check_safety_rule_bodies); the vars it declares are its own.
   */
  private planComprehension(
    t: A.ArrayComprehensionTerm | A.SetComprehensionTerm | A.ObjectComprehensionTerm,
    out: IR.Stmt[],
    vars: Vars,
    locals: Locals,
    k: KOp,
  ): void {
    const l = this.loc(t.loc);
    const target = locals.fresh();
    if (t.type === 'arraycomprehension') out.push({ type: 'MakeArrayStmt', capacity: 0, target, loc: l });
    else if (t.type === 'setcomprehension') out.push({ type: 'MakeSetStmt', target, loc: l });
    else out.push({ type: 'MakeObjectStmt', target, loc: l });
    const inner: Vars = new Map(vars);
    for (const v of declaredVars(t.body)) inner.delete(v);
    const block: IR.Block = { stmts: [] };
    this.depth++;
    this.planBody(t.body, 0, block.stmts, inner, locals, (o) => {
      if (t.type === 'objectcomprehension') {
        return this.planTerm(t.key, o, inner, locals, (key, o2) =>
          this.planTerm(t.value, o2, inner, locals, (value, o3) =>
            o3.push({ type: 'ObjectInsertOnceStmt', object: target, key, value, loc: l }),
          ),
        );
      }
      this.planTerm(t.term, o, inner, locals, (value, o2) => {
        if (t.type === 'arraycomprehension') o2.push({ type: 'ArrayAppendStmt', array: target, value, loc: l });
        else o2.push({ type: 'SetAddStmt', set: target, value, loc: l });
      });
    });
    this.depth--;
    out.push({ type: 'BlockStmt', blocks: [block], loc: l });
    k({ type: 'local', value: target }, out);
  }

  private planTerms(
    ts: A.Term[],
    i: number,
    acc: IR.Operand[],
    out: IR.Stmt[],
    vars: Vars,
    locals: Locals,
    k: (ops: IR.Operand[], out: IR.Stmt[]) => void,
  ): void {
    // Scalars and bound vars plan to one operand, straight into `out`: take a
    // run of them in a loop. A continuation per item made a blocklist of a
    // few thousand literals overflow the stack.
    const ops = [...acc];
    while (i < ts.length && SIMPLE_TERMS.has(ts[i]!.type) && (ts[i]!.type !== 'var' || vars.get((ts[i] as A.VarTerm).name) !== undefined)) {
      this.planTerm(ts[i]!, out, vars, locals, (op) => ops.push(op));
      i++;
    }
    if (i === ts.length) return k(ops, out);
    this.planTerm(ts[i]!, out, vars, locals, (op, o) => this.planTerms(ts, i + 1, [...ops, op], o, vars, locals, k));
  }

  private planRef(r: A.RefTerm, out: IR.Stmt[], vars: Vars, locals: Locals, k: KOp): void {
    const l = this.loc(r.loc);
    if (r.head.type !== 'var') {
      // `["a", "b"][i]`, `{"k": v}[k]`, `f(x).y`: the head's value, then the path
      return this.planTerm(r.head, out, vars, locals, (op, o) => {
        let src: IR.Local;
        if (op.type === 'local') src = op.value;
        else {
          src = locals.fresh();
          o.push({ type: 'AssignVarStmt', source: op, target: src, loc: l });
        }
        this.planPath(src, r.path, 0, o, vars, locals, k);
      });
    }
    const name = r.head.name;
    if (name === 'data') return this.planDataRef(r, out, vars, locals, k);
    let base: IR.Local;
    if (name === 'input') {
      base = this.env.input;
      if (r.path.length === 0) out.push({ type: 'IsDefinedStmt', source: base, loc: l });
    } else {
      const v = vars.get(name);
      if (v === undefined) throw new UnsupportedError(`reference to unbound variable ${userName(name)}`, r.loc);
      base = v;
    }
    this.planPath(base, r.path, 0, out, vars, locals, k);
  }

  /**
   * `data.…`: walk the rule tree along the ref's leading strings. Reaching a
   * rule set calls its function and dots the rest on the result; leaving the
   * tree reads the base document from `data`.
   */
  private planDataRef(r: A.RefTerm, out: IR.Stmt[], vars: Vars, locals: Locals, k: KOp): void {
    const names = ['data'];
    const visible = this.visibleSets();
    const keys = [...visible.keys()];
    for (let i = 0; ; i++) {
      const key = JSON.stringify(names);
      const hit = visible.get(key);
      const prefix = key.slice(0, -1) + ',';
      if (hit?.set.kind === 'function') throw new UnsupportedError(`reference to function ${hit.set.path} without a call`, r.loc);
      if (hit && !keys.some((p) => p.startsWith(prefix))) {
        // `set[key]` with the key known: ask the definitions for that key instead of building the set
        const seg = r.path[i];
        if (seg !== undefined && i === r.path.length - 1 && this.memberQuery(hit.set) && this.groundNow(seg, vars)) {
          const member = this.memberFuncFor(hit.set);
          return this.planTerm(seg, out, vars, locals, (op, o) => {
            const result = locals.fresh();
            o.push({
              type: 'CallStmt',
              func: member.name,
              args: [{ type: 'local', value: this.env.input }, { type: 'local', value: this.env.data }, op],
              result,
              loc: this.loc(r.loc),
            });
            k({ type: 'local', value: result }, o);
          });
        }
        const fn = this.funcFor(hit.set);
        const result = locals.fresh();
        out.push({
          type: 'CallStmt',
          func: fn.name,
          args: [
            { type: 'local', value: this.env.input },
            { type: 'local', value: this.env.data },
          ],
          result,
          loc: this.loc(r.loc),
        });
        return this.planPath(result, r.path, i, out, vars, locals, k);
      }
      // a package with no rules is still a node: its value is an empty object (merged with base data)
      const pkg = this.visiblePackages().some((p) => p === key || p.startsWith(prefix));
      if (!pkg && !keys.some((p) => p.startsWith(prefix))) return this.planPath(this.env.data, r.path, 0, out, vars, locals, k);
      const seg = r.path[i];
      if (hit || seg === undefined || seg.type !== 'string') {
        // the package or rule tree as a value (OPA's extent): every rule's
        // value merged over the base document at the same path
        const l = this.loc(r.loc);
        let base: IR.Local = this.env.data;
        for (const n of names.slice(1)) base = this.baseChild(base, n, out, locals, l);
        const extent = this.planExtent(names, base, visible, out, locals, r.loc, r.path.slice(i));
        return this.planPath(extent, r.path, i, out, vars, locals, k);
      }
      names.push(seg.value);
    }
  }

  /** `base[name]` in a fresh local, undefined when base is undefined or has no such key. */
  private baseChild(base: IR.Local, name: string, out: IR.Stmt[], locals: Locals, l: IR.StmtLoc): IR.Local {
    const child = locals.fresh();
    const t = locals.fresh();
    out.push({ type: 'ResetLocalStmt', target: child, loc: l });
    const b: IR.Block = {
      stmts: [
        { type: 'IsDefinedStmt', source: base, loc: l },
        { type: 'DotStmt', source: { type: 'local', value: base }, key: { type: 'string_index', value: this.str(name) }, target: t, loc: l },
        { type: 'AssignVarStmt', source: { type: 'local', value: t }, target: child, loc: l },
      ],
    };
    out.push({ type: 'BlockStmt', blocks: [b], loc: l });
    return child;
  }

  /**
   * The object of the rule tree at `names` (OPA's planner extent): every
   * rule's value, subtrees recursively, merged with the base document there
   * (when an object); functions and undefined rules are left out. Known gap:
   * a rule whose value is an object, under a base object at the same key,
   * is not merged key by key (OPA merges it recursively).
   */
  private planExtent(
    names: string[],
    base: IR.Local,
    visible: Map<string, { set: RuleSet; path: string[] }>,
    out: IR.Stmt[],
    locals: Locals,
    at: A.Location,
    /** the rest of the ref being planned: children its next string element does not name are left out */
    rest: readonly A.Term[] = [],
  ): IR.Local {
    const l = this.loc(at);
    const obj = locals.fresh();
    out.push({ type: 'MakeObjectStmt', target: obj, loc: l });
    const own = visible.get(JSON.stringify(names));
    if (own !== undefined && own.set.kind !== 'function') {
      // rules at this node whose refs go on (`p[x] := 1` beside `p.q.r := 2`): their object first
      const result = locals.fresh();
      const key = locals.fresh();
      const value = locals.fresh();
      out.push({
        type: 'BlockStmt',
        blocks: [
          {
            stmts: [
              {
                type: 'CallStmt',
                func: this.funcFor(own.set).name,
                args: [
                  { type: 'local', value: this.env.input },
                  { type: 'local', value: this.env.data },
                ],
                result,
                loc: l,
              },
              { type: 'IsObjectStmt', source: result, loc: l },
              {
                type: 'ScanStmt',
                source: result,
                key,
                value,
                block: { stmts: [{ type: 'ObjectInsertOnceStmt', object: obj, key: { type: 'local', value: key }, value: { type: 'local', value }, loc: l }] },
                loc: l,
              },
            ],
          },
        ],
        loc: l,
      });
    }
    const children = new Set<string>();
    const pkgs = this.visiblePackages().map((p) => JSON.parse(p) as string[]);
    for (const path of [...[...visible.values()].map((v) => v.path), ...pkgs]) {
      if (path.length > names.length && names.every((n, j) => path[j] === n)) children.add(path[names.length]!);
    }
    const next = rest[0];
    for (const c of [...children].sort()) {
      if (next !== undefined && !refReaches({ type: 'ref', head: next, path: [next], loc: next.loc }, ['data', c])) continue;
      const cpath = [...names, c];
      const ckey = JSON.stringify(cpath);
      const hit = visible.get(ckey);
      const deeper = [...visible.keys(), ...this.visiblePackages()].some((p) => p.startsWith(ckey.slice(0, -1) + ','));
      const cstr: IR.Operand = { type: 'string_index', value: this.str(c) };
      if (hit && !deeper) {
        if (hit.set.kind === 'function') continue;
        const fn = this.funcFor(hit.set);
        const result = locals.fresh();
        const b: IR.Block = {
          stmts: [
            {
              type: 'CallStmt',
              func: fn.name,
              args: [
                { type: 'local', value: this.env.input },
                { type: 'local', value: this.env.data },
              ],
              result,
              loc: l,
            },
            ...this.mergeInsert(obj, cstr, result, own !== undefined, locals, l),
          ],
        };
        out.push({ type: 'BlockStmt', blocks: [b], loc: l });
        continue;
      }
      const cbase = this.baseChild(base, c, out, locals, l);
      const sub = this.planExtent(cpath, cbase, visible, out, locals, at, rest.slice(1));
      out.push(...this.mergeInsert(obj, cstr, sub, own !== undefined, locals, l));
    }
    // the base document over it (OPA's ObjectMergeStmt: the base value wins
    // a conflict unless both are objects, which subtrees have merged already)
    const key = locals.fresh();
    const value = locals.fresh();
    const t = locals.fresh();
    const v: IR.Operand = { type: 'local', value };
    out.push({
      type: 'BlockStmt',
      blocks: [
        {
          stmts: [
            { type: 'IsObjectStmt', source: base, loc: l },
            {
              type: 'ScanStmt',
              source: base,
              key,
              value,
              block: {
                stmts: [
                  {
                    type: 'NotStmt',
                    block: {
                      stmts: [
                        { type: 'DotStmt', source: { type: 'local', value: obj }, key: { type: 'local', value: key }, target: t, loc: l },
                        { type: 'IsObjectStmt', source: t, loc: l },
                        { type: 'IsObjectStmt', source: value, loc: l },
                        { type: 'BreakStmt', index: 0, loc: l },
                      ],
                    },
                    loc: l,
                  },
                  { type: 'ObjectInsertStmt', object: obj, key: { type: 'local', value: key }, value: v, loc: l },
                ],
              },
              loc: l,
            },
          ],
        },
      ],
      loc: l,
    });
    return obj;
  }

  /** `src[key]` into a fresh local that stays undefined when there is no such key: the local, and the statements. */
  private lookup(src: IR.Local, key: IR.Operand, locals: Locals, l: IR.StmtLoc): [IR.Local, IR.Stmt[]] {
    const target = locals.fresh();
    const t = locals.fresh();
    return [
      target,
      [
        { type: 'ResetLocalStmt', target, loc: l },
        {
          type: 'BlockStmt',
          blocks: [
            {
              stmts: [
                { type: 'DotStmt', source: { type: 'local', value: src }, key, target: t, loc: l },
                { type: 'AssignVarStmt', source: { type: 'local', value: t }, target, loc: l },
              ],
            },
          ],
          loc: l,
        },
      ],
    ];
  }

  /** `obj[key] = value`, merged with what `obj` already holds there when rules at the node itself may have put something (`merge`). */
  private mergeInsert(obj: IR.Local, key: IR.Operand, value: IR.Local, merge: boolean, locals: Locals, l: IR.StmtLoc): IR.Stmt[] {
    if (!merge) return [{ type: 'ObjectInsertStmt', object: obj, key, value: { type: 'local', value }, loc: l }];
    const [old, lookup] = this.lookup(obj, key, locals, l);
    const merged = locals.fresh();
    return [
      ...lookup,
      {
        type: 'CallStmt',
        func: 'internal.tree_merge',
        args: [
          { type: 'local', value: old },
          { type: 'local', value },
        ],
        result: merged,
        loc: l,
      },
      { type: 'ObjectInsertStmt', object: obj, key, value: { type: 'local', value: merged }, loc: l },
    ];
  }

  /** Package paths (JSON of ["data", …]) outside any `with`-replaced data path. */
  private visiblePackages(): string[] {
    const shadows = this.env.gen.shadows;
    if (shadows.length === 0) return this.packages;
    return this.packages.filter((k) => {
      const path = JSON.parse(k) as string[];
      return !shadows.some((sh) => sh.every((x, i) => path[i] === x));
    });
  }

  /** The rule sets the current generation sees: those under a `with`-replaced data path read the data document instead. */
  private visibleSets(): Map<string, { set: RuleSet; path: string[] }> {
    const shadows = this.env.gen.shadows;
    if (shadows.length === 0) return this.sets;
    const under = (path: string[]) => shadows.some((sh) => sh.every((x, i) => path[i] === x));
    return new Map([...this.sets].filter(([, v]) => !under(v.path)));
  }

  /** Dots along the path; an unbound var iterates (a scan binding it to the key). */
  private planPath(src: IR.Local, path: A.Term[], i: number, out: IR.Stmt[], vars: Vars, locals: Locals, k: KOp): void {
    if (i === path.length) return k({ type: 'local', value: src }, out);
    const seg = path[i]!;
    const l = this.loc(seg.loc);
    if (seg.type === 'var' && !vars.has(seg.name)) {
      const key = locals.fresh();
      const value = locals.fresh();
      const block: IR.Block = { stmts: [] };
      out.push({ type: 'ScanStmt', source: src, key, value, block, loc: l });
      vars.set(seg.name, key);
      this.depth++;
      this.planPath(value, path, i + 1, block.stmts, vars, locals, k);
      this.depth--;
      return;
    }
    if ((seg.type === 'array' || seg.type === 'object') && this.hasUnbound(seg, vars)) {
      // `xs[[1, x]]`: iterate, unifying each key with the pattern
      const key = locals.fresh();
      const value = locals.fresh();
      const block: IR.Block = { stmts: [] };
      out.push({ type: 'ScanStmt', source: src, key, value, block, loc: l });
      this.depth++;
      this.unifyLocal({ type: 'local', value: key }, seg, seg.loc, block.stmts, vars, locals, (o) =>
        this.planPath(value, path, i + 1, o, vars, locals, k),
      );
      this.depth--;
      return;
    }
    this.planTerm(seg, out, vars, locals, (keyOp, o) => {
      const target = locals.fresh();
      o.push({ type: 'DotStmt', source: { type: 'local', value: src }, key: keyOp, target, loc: l });
      this.planPath(target, path, i + 1, o, vars, locals, k);
    });
  }
}
