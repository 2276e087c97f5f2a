/**
 * The planner's intermediate representation: plain data between the planner
 * (engine/policy/plan/) and the Wasm emitter (engine/policy/emit/), in the
 * spirit of OPA's `v1/ir/ir.go` (docs/rego-wasm-abi.md §3). Field names
 * follow OPA's JSON form (§3.6) so that a dump reads like `opa build -t plan`
 * output; statement types are the same names without the Go package.
 *
 * Control flow (§3.2): a Block runs its statements in order; any statement
 * marked "Undef→" that is undefined leaves the innermost enclosing block and
 * execution continues after it. Plans and functions run their blocks in
 * order. Every local holds a value address; 0 means undefined.
 */

/** A local variable: 0 = input, 1 = data, 2… free (OPA's ir.Input, ir.Data, ir.Unused). */
export type Local = number;

export const INPUT: Local = 0;
export const DATA: Local = 1;
export const FIRST_FREE_LOCAL: Local = 2;

/** An operand: a local, an interned string constant (index into Static.strings), or a boolean. */
export type Operand =
  | { type: 'local'; value: Local }
  | { type: 'string_index'; value: number }
  | { type: 'bool'; value: boolean };

/** Where a statement came from: `file` indexes Static.files. Feeds runtime error messages. */
export interface StmtLoc {
  file: number;
  row: number;
  col: number;
}

export interface Policy {
  static: Static;
  plans: Plan[];
  funcs: Func[];
  /** with coverage instrumentation only: the sites `internal.cover(<index>)` reports */
  cover?: CoverSite[];
}

/**
 * A place coverage counts (planned only for `busted test-policy
 * --coverage`): a body expression that evaluation reached, or a rule
 * definition that produced a value, as OPA's cover.go counts them.
 */
export interface CoverSite {
  kind: 'expr' | 'rule';
  file: string;
  row: number;
  /** the rule set it belongs to: `data.pkg.p` */
  rule: string;
}

export interface Static {
  /** constant pool: string constants and number literal texts */
  strings: string[];
  /** source file names, for error locations */
  files: string[];
  /**
   * builtins the plan calls by name (OPA's BuiltinFuncs), sorted. The
   * `builtins()` export lists the host ones (not in NATIVE_BUILTINS or
   * NATIVE_COMPARISONS, or a native's fallback), ids in this order.
   */
  builtinFuncs: string[];
}

/** One per entrypoint; its blocks add bindings to the result set. */
export interface Plan {
  /** entrypoint name, `busted/decision` */
  name: string;
  blocks: Block[];
}

/** A function: one per rule set. params[0] = input, params[1] = data. */
export interface Func {
  /** `g0.data.pkg.rule` */
  name: string;
  /** the rule set's path, `["g0", "pkg", "rule"]` */
  path: string[];
  params: Local[];
  return: Local;
  blocks: Block[];
}

export interface Block {
  stmts: Stmt[];
}

interface Base {
  loc: StmtLoc;
}

/** Run the blocks one after another; a break out of one continues with the next. */
export interface BlockStmt extends Base {
  type: 'BlockStmt';
  blocks: Block[];
}

/** Leave `index + 1` enclosing blocks (0 = the current one). */
export interface BreakStmt extends Base {
  type: 'BreakStmt';
  index: number;
}

/**
 * For each key/value of the array, object or set in `source` (arrays: the
 * index as a number; sets: the element is both key and value), set `key`
 * and `value` and run `block`. The block's being undefined means "next
 * element". Scalars and undefined have no elements.
 */
export interface ScanStmt extends Base {
  type: 'ScanStmt';
  source: Local;
  key: Local;
  value: Local;
  block: Block;
}

/**
 * Defined iff `block` has no solution (negation as failure); Undef→
 * otherwise. The planner ends the block's innermost point with a BreakStmt
 * that leaves the not block (through any scans): breaking out of it means
 * "a solution"; running off its end, or an undefined statement directly in
 * it, means "none".
 */
export interface NotStmt extends Base {
  type: 'NotStmt';
  block: Block;
}

/**
 * `result = func(args…)`: a planned function (name `g0.…`) or a builtin by
 * its Rego name. Undef→ if the result is undefined.
 */
export interface CallStmt extends Base {
  type: 'CallStmt';
  func: string;
  args: Operand[];
  result: Local;
}

/** `target = source`, no check. */
export interface AssignVarStmt extends Base {
  type: 'AssignVarStmt';
  source: Operand;
  target: Local;
}

/**
 * `target = source` when target is undefined or already equal; otherwise a
 * conflict abort (a complete rule or function with two different values).
 */
export interface AssignVarOnceStmt extends Base {
  type: 'AssignVarOnceStmt';
  source: Operand;
  target: Local;
}

/** `target = undefined`. */
export interface ResetLocalStmt extends Base {
  type: 'ResetLocalStmt';
  target: Local;
}

/** `target = source[key]`. Undef→ if source is no collection or has no such key. */
export interface DotStmt extends Base {
  type: 'DotStmt';
  source: Operand;
  key: Operand;
  target: Local;
}

/** Undef→ unless a == b (Rego equality: deep, `1 == 1.0`). */
export interface EqualStmt extends Base {
  type: 'EqualStmt';
  a: Operand;
  b: Operand;
}

/** Undef→ if a == b. `x != false` is how a body term checks truthiness. */
export interface NotEqualStmt extends Base {
  type: 'NotEqualStmt';
  a: Operand;
  b: Operand;
}

/** Undef→ unless the local is defined. */
export interface IsDefinedStmt extends Base {
  type: 'IsDefinedStmt';
  source: Local;
}

/** Undef→ unless the local is undefined. */
export interface IsUndefinedStmt extends Base {
  type: 'IsUndefinedStmt';
  source: Local;
}

/** Undef→ unless `source` is an array (OPA's IsArrayStmt). */
export interface IsArrayStmt extends Base {
  type: 'IsArrayStmt';
  source: Local;
}

/** Undef→ unless `source` is an object (OPA's IsObjectStmt). */
export interface IsObjectStmt extends Base {
  type: 'IsObjectStmt';
  source: Local;
}

/** Undef→ unless `source` is a set (OPA's IsSetStmt). */
export interface IsSetStmt extends Base {
  type: 'IsSetStmt';
  source: Local;
}

/** `target = null`. */
export interface MakeNullStmt extends Base {
  type: 'MakeNullStmt';
  target: Local;
}

/** `target = <int>`. */
export interface MakeNumberIntStmt extends Base {
  type: 'MakeNumberIntStmt';
  value: number;
  target: Local;
}

/** `target = number(strings[Index])`: a number literal kept as its text (arbitrary precision). */
export interface MakeNumberRefStmt extends Base {
  type: 'MakeNumberRefStmt';
  Index: number;
  target: Local;
}

/** `target = []` with room for `capacity` elements. */
export interface MakeArrayStmt extends Base {
  type: 'MakeArrayStmt';
  capacity: number;
  target: Local;
}

/** `target = {}`. */
export interface MakeObjectStmt extends Base {
  type: 'MakeObjectStmt';
  target: Local;
}

/** `target = set()`. */
export interface MakeSetStmt extends Base {
  type: 'MakeSetStmt';
  target: Local;
}

/** Append `value` to the array in `array`, in place. */
export interface ArrayAppendStmt extends Base {
  type: 'ArrayAppendStmt';
  array: Local;
  value: Operand;
}

/** `object[key] = value`, in place, overwriting. */
export interface ObjectInsertStmt extends Base {
  type: 'ObjectInsertStmt';
  object: Local;
  key: Operand;
  value: Operand;
}

/** `object[key] = value`; a different existing value is a conflict abort (partial object rules). */
export interface ObjectInsertOnceStmt extends Base {
  type: 'ObjectInsertOnceStmt';
  object: Local;
  key: Operand;
  value: Operand;
}

/** Add `value` to the set in `set`, in place. */
export interface SetAddStmt extends Base {
  type: 'SetAddStmt';
  set: Local;
  value: Operand;
}

/** Add the binding object in `value` to the plan's result set. */
export interface ResultSetAddStmt extends Base {
  type: 'ResultSetAddStmt';
  value: Local;
}

/** Return the local from the function (0 = undefined). */
export interface ReturnLocalStmt extends Base {
  type: 'ReturnLocalStmt';
  source: Local;
}

export type Stmt =
  | BlockStmt
  | BreakStmt
  | ScanStmt
  | NotStmt
  | CallStmt
  | AssignVarStmt
  | AssignVarOnceStmt
  | ResetLocalStmt
  | DotStmt
  | EqualStmt
  | NotEqualStmt
  | IsDefinedStmt
  | IsUndefinedStmt
  | IsArrayStmt
  | IsObjectStmt
  | IsSetStmt
  | MakeNullStmt
  | MakeNumberIntStmt
  | MakeNumberRefStmt
  | MakeArrayStmt
  | MakeObjectStmt
  | MakeSetStmt
  | ArrayAppendStmt
  | ObjectInsertStmt
  | ObjectInsertOnceStmt
  | SetAddStmt
  | ResultSetAddStmt
  | ReturnLocalStmt;

/**
 * Builtins the emitter implements inline (OPA: natives in its C runtime).
 * Each takes two operands and returns a boolean; the planner follows the
 * call with `NotEqual result, false` when it is used as a condition.
 */
export const NATIVE_COMPARISONS = ['lt', 'lte', 'gt', 'gte'] as const;
export type NativeComparison = (typeof NATIVE_COMPARISONS)[number];

/**
 * Builtins the runtime implements in C (runtime/builtins.c): Rego name →
 * runtime function. `fallback`: the function takes the id of the host
 * builtin of the same name as a last argument and calls it for what it does
 * not do exactly itself (non-integers, overflow, non-ASCII), so the
 * `builtins` export lists those too. Every other builtin the planner
 * accepts is a host builtin (engine/policy/builtins-js.ts).
 */
export const NATIVE_BUILTINS: Readonly<Record<string, { fn: string; fallback?: boolean }>> = {
  count: { fn: 'busted_count' },
  sum: { fn: 'busted_sum', fallback: true },
  product: { fn: 'busted_product', fallback: true },
  max: { fn: 'busted_max' },
  min: { fn: 'busted_min' },
  sort: { fn: 'busted_sort' },
  plus: { fn: 'busted_plus', fallback: true },
  minus: { fn: 'busted_minus', fallback: true },
  mul: { fn: 'busted_mul', fallback: true },
  div: { fn: 'busted_div', fallback: true },
  rem: { fn: 'busted_rem', fallback: true },
  and: { fn: 'busted_and' },
  or: { fn: 'busted_or' },
  union: { fn: 'busted_union' },
  intersection: { fn: 'busted_intersection' },
  'array.concat': { fn: 'busted_array_concat' },
  /** not a Rego builtin: the planner's merge of a rule-tree node defined in two places */
  'internal.tree_merge': { fn: 'busted_tree_merge' },
  'array.slice': { fn: 'busted_array_slice' },
  concat: { fn: 'busted_concat' },
  'internal.template_string': { fn: 'busted_template_string' },
  'internal.print_texts': { fn: 'busted_print_texts' },
  startswith: { fn: 'busted_startswith' },
  endswith: { fn: 'busted_endswith' },
  contains: { fn: 'busted_contains' },
  'regex.match': { fn: 'busted_regex_match', fallback: true },
  trim_prefix: { fn: 'busted_trim_prefix' },
  trim_suffix: { fn: 'busted_trim_suffix' },
  lower: { fn: 'busted_lower', fallback: true },
  upper: { fn: 'busted_upper', fallback: true },
  is_null: { fn: 'busted_is_null' },
  is_boolean: { fn: 'busted_is_boolean' },
  is_number: { fn: 'busted_is_number' },
  is_string: { fn: 'busted_is_string' },
  is_array: { fn: 'busted_is_array' },
  is_object: { fn: 'busted_is_object' },
  is_set: { fn: 'busted_is_set' },
  type_name: { fn: 'busted_type_name' },
  equal: { fn: 'busted_equal' },
  neq: { fn: 'busted_neq' },
  'object.get': { fn: 'busted_object_get' },
  'object.keys': { fn: 'busted_object_keys' },
  sprintf: { fn: 'busted_sprintf', fallback: true },
  /** a relation: the planner scans the pairs it returns (planner.ts planCall) */
  walk: { fn: 'busted_walk' },
  /** not Rego builtins: a host builtin's exact operands, and its set or value result (compile/builtins.ts BuiltinDecl) */
  'internal.value_text': { fn: 'busted_value_text' },
  'internal.to_set': { fn: 'busted_to_set' },
  'internal.value_parse': { fn: 'busted_value_parse' },
};

/**
 * OPA's JSON form (§3.6) for `--dump-ir`: statements as {type, stmt},
 * operands as they are. Pure data in, data out.
 */
export function toJSON(p: Policy): unknown {
  const block = (b: Block): unknown => ({ stmts: b.stmts.map(stmt) });
  const stmt = (s: Stmt): unknown => {
    const { type, loc, ...rest } = s;
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) {
      if (k === 'block') fields[k] = block(v as Block);
      else if (k === 'blocks') fields[k] = (v as Block[]).map(block);
      else fields[k] = v;
    }
    return { type, stmt: { ...fields, file: loc.file, row: loc.row, col: loc.col } };
  };
  return {
    static: {
      strings: p.static.strings.map((value) => ({ value })),
      builtin_funcs: p.static.builtinFuncs.map((name) => ({ name })),
      files: p.static.files.map((value) => ({ value })),
    },
    plans: { plans: p.plans.map((pl) => ({ name: pl.name, blocks: pl.blocks.map(block) })) },
    funcs: {
      funcs: p.funcs.map((f) => ({ name: f.name, path: f.path, params: f.params, return: f.return, blocks: f.blocks.map(block) })),
    },
  };
}
