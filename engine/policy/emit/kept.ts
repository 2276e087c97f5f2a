/**
 * Rules whose value does not depend on the input: constants
 * (`secret_patterns := {...}`, `tls_versions := {...}`) and values derived
 * from data alone (`any_secret := concat("|", [p | some p in
 * secret_patterns])`, `approved := {p | some p in data.providers}`).
 *
 * The emitter keeps their values across evaluations (runtime/eval.c
 * busted_kept_get/put): the SDK evaluates event after event against the
 * same data, and such a rule would otherwise be rebuilt for every one. The
 * runtime drops what it kept when the host loads new data.
 *
 * A rule qualifies when its function (params input and data only) never
 * reads local 0 (the input) except to pass it on to planned functions that
 * qualify themselves, and calls no builtin whose answer or effect belongs
 * to one evaluation (time, randomness, print, coverage counting). Rule
 * functions cannot be recursive (compile/recursion.ts), so one pass in
 * dependency order decides every function.
 */
import { VOLATILE } from '../analysis.js';
import * as IR from '../ir/ir.js';
import { eachStmt, repeatedLookups, written } from './lookups.js';

/** Calls, print and coverage: their effect is per evaluation. */
const PER_EVALUATION = new Set([...VOLATILE, 'internal.print', 'internal.cover']);

const readsInput = (o: IR.Operand): boolean => o.type === 'local' && o.value === IR.INPUT;

/** The names of the functions whose value depends only on data. */
export function dataOnlyRules(policy: IR.Policy): Set<string> {
  const byName = new Map(policy.funcs.map((f) => [f.name, f]));
  const decided = new Map<string, boolean>();

  const qualifies = (f: IR.Func): boolean => {
    const known = decided.get(f.name);
    if (known !== undefined) return known;
    decided.set(f.name, false); // cannot recur; if it did, the answer would be "no"
    const ok = f.params.length === 2 && f.params[0] === IR.INPUT && f.blocks.every(blockOk);
    decided.set(f.name, ok);
    return ok;
  };

  const blockOk = (b: IR.Block): boolean => b.stmts.every(stmtOk);

  const stmtOk = (s: IR.Stmt): boolean => {
    switch (s.type) {
      case 'BlockStmt':
        return s.blocks.every(blockOk);
      case 'ScanStmt':
        return s.source !== IR.INPUT && blockOk(s.block);
      case 'NotStmt':
        return blockOk(s.block);
      case 'CallStmt': {
        const callee = byName.get(s.func);
        if (callee === undefined) return !PER_EVALUATION.has(s.func) && !s.args.some(readsInput);
        // the input passed on to a rule that does not read it is not read
        return qualifies(callee) && !s.args.slice(1).some(readsInput);
      }
      case 'AssignVarStmt':
      case 'AssignVarOnceStmt':
        return !readsInput(s.source);
      case 'DotStmt':
        return !readsInput(s.source) && !readsInput(s.key);
      case 'EqualStmt':
      case 'NotEqualStmt':
        return !readsInput(s.a) && !readsInput(s.b);
      case 'IsDefinedStmt':
      case 'IsUndefinedStmt':
      case 'IsArrayStmt':
      case 'IsObjectStmt':
      case 'IsSetStmt':
        return s.source !== IR.INPUT;
      case 'ArrayAppendStmt':
      case 'SetAddStmt':
        return !readsInput(s.value);
      case 'ObjectInsertStmt':
      case 'ObjectInsertOnceStmt':
        return !readsInput(s.key) && !readsInput(s.value);
      case 'ResultSetAddStmt':
        return s.value !== IR.INPUT;
      case 'ReturnLocalStmt':
        return s.source !== IR.INPUT;
      default:
        return true; // Break, Reset, Make*: no operands
    }
  };

  const out = new Set<string>();
  for (const f of policy.funcs) if (qualifies(f)) out.add(f.name);
  return out;
}

/** Each local a statement reads, with how: the source of a DotStmt, the first argument of a call, or any other read. */
function reads(s: IR.Stmt): Array<{ local: IR.Local; as: 'dot' | 'arg0' | 'other' }> | undefined {
  const op = (o: IR.Operand, as: 'dot' | 'arg0' | 'other' = 'other') => (o.type === 'local' ? [{ local: o.value, as }] : []);
  const loc = (l: IR.Local) => [{ local: l, as: 'other' as const }];
  switch (s.type) {
    case 'BlockStmt':
    case 'NotStmt':
    case 'BreakStmt':
    case 'ResetLocalStmt':
    case 'MakeNullStmt':
    case 'MakeNumberIntStmt':
    case 'MakeNumberRefStmt':
    case 'MakeArrayStmt':
    case 'MakeObjectStmt':
    case 'MakeSetStmt':
      return [];
    case 'ScanStmt':
      return loc(s.source);
    case 'CallStmt':
      return s.args.flatMap((a, i) => op(a, i === 0 ? 'arg0' : 'other'));
    case 'AssignVarStmt':
    case 'AssignVarOnceStmt':
      return op(s.source);
    case 'DotStmt':
      return [...op(s.source, 'dot'), ...op(s.key)];
    case 'EqualStmt':
    case 'NotEqualStmt':
      return [...op(s.a), ...op(s.b)];
    case 'IsDefinedStmt':
    case 'IsUndefinedStmt':
    case 'IsArrayStmt':
    case 'IsObjectStmt':
    case 'IsSetStmt':
    case 'ReturnLocalStmt':
      return loc(s.source);
    case 'ArrayAppendStmt':
      return [...loc(s.array), ...op(s.value)];
    case 'SetAddStmt':
      return [...loc(s.set), ...op(s.value)];
    case 'ObjectInsertStmt':
    case 'ObjectInsertOnceStmt':
      return [...loc(s.object), ...op(s.key), ...op(s.value)];
    case 'ResultSetAddStmt':
      return loc(s.value);
    default:
      return undefined; // a statement this analysis does not know: the rule is not keyed
  }
}

/**
 * Rules whose value depends on data and on the input only through values
 * at input paths (lookups.ts paths rooted at the input): for each, those
 * paths, the key the runtime keeps the rule's value under from one
 * evaluation to the next (runtime/eval.c busted_ikept_*). A path whose
 * value the rule only looks further into by constant keys (`input.process`
 * on the way to `input.process.uid`) is no part of the key; its members
 * read are. A rule qualifies when it reads the input (local 0) only to
 * look such a path up or to pass it on, as the first argument, to planned
 * functions that qualify themselves (rules, or functions with arguments:
 * their paths join the key), and calls nothing whose answer or effect
 * belongs to one evaluation. Only the plain generation (`g0.`): a rule
 * planned again under a `with` may read what the `with` replaced.
 */
export function inputKeyedRules(policy: IR.Policy): Map<string, string[]> {
  const byName = new Map(policy.funcs.map((f) => [f.name, f]));
  const decided = new Map<string, Set<string> | null>();

  const keyOf = (f: IR.Func): Set<string> | null => {
    const known = decided.get(f.name);
    if (known !== undefined) return known;
    decided.set(f.name, null); // cannot recur; if it did, the answer would be "no"
    const key = analyse(f);
    decided.set(f.name, key);
    return key;
  };

  const analyse = (f: IR.Func): Set<string> | null => {
    if (!f.name.startsWith('g0.') || f.params[0] !== IR.INPUT || f.params[1] !== IR.DATA) return null;
    if (f.params.slice(2).some((p) => p === IR.INPUT)) return null;
    const { pathOf } = repeatedLookups(f.blocks, f.params);
    // locals that hold an input path's value: the target of its lookup, written by nothing else
    const writes = new Map<IR.Local, number>();
    eachStmt(f.blocks, (s) => {
      for (const l of written(s)) writes.set(l, (writes.get(l) ?? 0) + 1);
    });
    let ok = true;
    if (writes.has(IR.INPUT) || writes.has(IR.DATA)) return null;
    const pathLocal = new Map<IR.Local, string>();
    for (const [d, p] of pathOf) if (p.startsWith(`${IR.INPUT}/`) && writes.get(d.target) === 1) pathLocal.set(d.target, p);
    const key = new Set<string>();
    eachStmt(f.blocks, (s) => {
      if (!ok) return;
      const rs = reads(s);
      if (rs === undefined) {
        ok = false;
        return;
      }
      const path = s.type === 'DotStmt' ? pathOf.get(s) : undefined;
      if (s.type === 'DotStmt' && path?.startsWith(`${IR.INPUT}/`) && !pathLocal.has(s.target)) key.add(path); // its value, whatever it is used for
      if (s.type === 'CallStmt') {
        const callee = byName.get(s.func);
        if (callee === undefined) {
          if (PER_EVALUATION.has(s.func)) ok = false;
        } else if (s.args[0]?.type === 'local' && s.args[0].value === IR.INPUT) {
          const k = keyOf(callee);
          if (k === null) ok = false;
          else for (const p of k) key.add(p);
        }
      }
      for (const r of rs) {
        const viaPath = r.as === 'dot' && path !== undefined; // looked further into by a constant key, along a path
        if (r.local === IR.INPUT) {
          if (viaPath || (r.as === 'arg0' && s.type === 'CallStmt' && byName.has(s.func))) continue;
          ok = false;
        } else {
          const p = pathLocal.get(r.local);
          if (p !== undefined && !viaPath) key.add(p);
        }
      }
    });
    return ok ? key : null;
  };

  const out = new Map<string, string[]>();
  for (const f of policy.funcs) {
    if (f.params.length !== 2) continue;
    const k = keyOf(f);
    if (k !== null && k.size > 0) out.set(f.name, [...k].sort());
  }
  return out;
}
