/**
 * Repeated lookups of one input or data path within a function, found so
 * that the emitter computes each only once per call (lazily: on its first
 * use, in whichever block that is).
 *
 * Rego bodies name the same refs again and again: every rule body of a set
 * starts with `input.type == …`, a negated `not input.tls.sni` repeats the
 * lookup of the definition before it, `input.mcp.tool` is read in the
 * condition and again in the message. In the IR each is its own DotStmt
 * chain from local 0 (input) or 1 (data), into a local of its own. Those
 * values cannot change during a call: input and data are never changed in
 * place (a `with` hands callees new locals), and a local that is assigned
 * once by a lookup of a constant key always holds the same value.
 *
 * A path is a local's "address": `0` / `1` for input and data when the
 * function never assigns them, `<path>/<string index>` for a local assigned
 * exactly once, by a DotStmt with a constant string key, from a local that
 * has a path. Paths reached by two or more DotStmts get a cache slot.
 */
import type * as IR from '../ir/ir.js';

/** The DotStmts whose value is cached, each with its slot (0, 1, …: the emitter gives each a local). */
export interface Lookups {
  slots: number;
  slotOf: Map<IR.DotStmt, number>;
  /**
   * Every lookup with a path, repeated or not: the same path in two
   * functions is the same value too, when both were called with the
   * evaluation's own input and data (the runtime's path table checks).
   */
  pathOf: Map<IR.DotStmt, string>;
}

/** Calls f on every statement, nested ones included. */
export function eachStmt(blocks: readonly IR.Block[], f: (s: IR.Stmt) => void): void {
  for (const b of blocks) {
    for (const s of b.stmts) {
      f(s);
      if (s.type === 'BlockStmt') eachStmt(s.blocks, f);
      else if (s.type === 'ScanStmt' || s.type === 'NotStmt') eachStmt([s.block], f);
    }
  }
}

/** The locals a statement assigns or changes in place. */
export function written(s: IR.Stmt): IR.Local[] {
  switch (s.type) {
    case 'ScanStmt':
      return [s.key, s.value];
    case 'CallStmt':
      return [s.result];
    case 'AssignVarStmt':
    case 'AssignVarOnceStmt':
    case 'ResetLocalStmt':
    case 'DotStmt':
    case 'MakeNullStmt':
    case 'MakeNumberIntStmt':
    case 'MakeNumberRefStmt':
    case 'MakeArrayStmt':
    case 'MakeObjectStmt':
    case 'MakeSetStmt':
      return [s.target];
    case 'ArrayAppendStmt':
      return [s.array];
    case 'ObjectInsertStmt':
    case 'ObjectInsertOnceStmt':
      return [s.object];
    case 'SetAddStmt':
      return [s.set];
    default:
      return [];
  }
}

export function repeatedLookups(blocks: readonly IR.Block[], params: readonly IR.Local[]): Lookups {
  const writes = new Map<IR.Local, number>();
  const dots: IR.DotStmt[] = [];
  eachStmt(blocks, (s) => {
    for (const l of written(s)) writes.set(l, (writes.get(l) ?? 0) + 1);
    if (s.type === 'DotStmt') dots.push(s);
  });
  const path = new Map<IR.Local, string>();
  for (const root of [0, 1]) if (params.includes(root) && !writes.has(root)) path.set(root, String(root));
  // statements come in program order and a lookup's source is assigned before it: one pass finds every chain
  const pathOf = new Map<IR.DotStmt, string>();
  for (const d of dots) {
    if (d.source.type !== 'local' || d.key.type !== 'string_index') continue;
    const base = path.get(d.source.value);
    if (base === undefined) continue;
    const p = `${base}/${d.key.value}`;
    pathOf.set(d, p);
    if (writes.get(d.target) === 1) path.set(d.target, p);
  }
  const uses = new Map<string, number>();
  for (const p of pathOf.values()) uses.set(p, (uses.get(p) ?? 0) + 1);
  const slotByPath = new Map<string, number>();
  const slotOf = new Map<IR.DotStmt, number>();
  for (const [d, p] of pathOf) {
    if (uses.get(p)! < 2) continue;
    let slot = slotByPath.get(p);
    if (slot === undefined) slotByPath.set(p, (slot = slotByPath.size));
    slotOf.set(d, slot);
  }
  return { slots: slotByPath.size, slotOf, pathOf };
}
