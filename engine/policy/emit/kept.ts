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
