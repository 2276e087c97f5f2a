/**
 * The builtins the compiler knows: Rego name → number of arguments (the
 * output, if any, is not counted), as declared in OPA's v1/ast/builtins.go.
 *
 * A call `f(a, b)` to a builtin of arity 2 is a test of its result; a call
 * `f(a, b, out)` binds the result to `out` (OPA's "output var" form), so a
 * call may have `arity` or `arity + 1` operands. `void` builtins (print)
 * take any number of arguments and have no result.
 *
 * Infix operators appear under the builtin names OPA's parser gives them
 * (`==` is equal, `+` is plus, `x in xs` is internal.member_2, ...).
 */

import { DECLS as AWS_DECLS } from '../builtins/aws.js';
import { DECLS as GRAPHQL_DECLS } from '../builtins/graphql.js';
import { DECLS as JWT_DECLS } from '../builtins/jwt.js';
import { DECLS as MISC_DECLS } from '../builtins/misc.js';
import { DECLS as NET_DECLS } from '../builtins/net.js';
import { DECLS as SCHEMA_DECLS } from '../builtins/schema.js';
import { DECLS as TEMPLATE_DECLS } from '../builtins/template.js';
import { DECLS as TIME_DECLS } from '../builtins/time.js';
import { DECLS as X509_DECLS } from '../builtins/x509.js';

export interface BuiltinDecl {
  arity: number;
  /** takes any number of arguments and yields no value (print) */
  variadic?: boolean;
  /**
   * a host builtin whose operands cross as their Rego text (the planner
   * wraps each in internal.value_text; builtins/common.ts `exact` reads it):
   * numbers that a double cannot hold (nanosecond times, big bit masks) stay
   * exact, and a set stays a set
   */
  exact?: boolean;
  /** a host builtin that returns a set: it answers an array, the planner makes it a set (internal.to_set) */
  set?: boolean;
  /**
   * a host builtin that answers Rego text (builtins/common.ts exactText), the
   * planner parsing it (internal.value_parse): a value with sets inside
   */
  value?: boolean;
}

const A = (arity: number): BuiltinDecl => ({ arity });

export const BUILTINS: Readonly<Record<string, BuiltinDecl>> = {
  // unification and assignment (eq/assign take both sides, no output)
  eq: A(2),
  assign: A(2),
  // comparison
  equal: A(2),
  neq: A(2),
  lt: A(2),
  lte: A(2),
  gt: A(2),
  gte: A(2),
  // arithmetic
  plus: A(2),
  minus: A(2),
  mul: A(2),
  div: A(2),
  rem: A(2),
  abs: A(1),
  to_number: A(1),
  round: A(1),
  ceil: A(1),
  floor: A(1),
  // sets (`&` and `|` are and/or; minus also works on sets)
  and: A(2),
  or: A(2),
  intersection: A(1),
  union: A(1),
  // aggregates
  count: A(1),
  sum: A(1),
  product: A(1),
  max: A(1),
  min: A(1),
  sort: A(1),
  // strings
  concat: A(2),
  contains: A(2),
  startswith: A(2),
  endswith: A(2),
  lower: A(1),
  upper: A(1),
  split: A(2),
  replace: A(3),
  'strings.replace_n': A(2),
  trim: A(2),
  trim_left: A(2),
  trim_right: A(2),
  trim_prefix: A(2),
  trim_suffix: A(2),
  trim_space: A(1),
  indexof: A(2),
  substring: A(3),
  sprintf: A(2),
  format_int: A(2),
  'strings.any_prefix_match': A(2),
  'strings.any_suffix_match': A(2),
  // regex and glob
  'regex.match': A(2),
  'regex.find_n': A(3),
  'regex.split': A(2),
  'regex.find_all_string_submatch_n': A(3),
  'regex.is_valid': A(1),
  'regex.template_match': A(4),
  'glob.quote_meta': A(1),
  'glob.match': A(3),
  // net
  'net.cidr_contains': A(2),
  'net.cidr_intersects': A(2),
  // objects
  'object.get': A(3),
  'object.keys': A(1),
  // a relation: `walk(x, [path, value])` is true for every document under x
  walk: A(1),
  'object.remove': A(2),
  'object.union': A(2),
  'object.union_n': A(1),
  'object.filter': A(2),
  // sets stay sets on the way in (and out: json.patch)
  'object.subset': { arity: 2, exact: true },
  'json.filter': A(2),
  'json.remove': A(2),
  'json.patch': { arity: 2, exact: true, value: true },
  'numbers.range': A(2),
  'numbers.range_step': A(3),
  'units.parse': A(1),
  'regex.replace': A(3),
  'strings.count': A(2),
  'array.flatten': A(1),
  // arrays
  'array.concat': A(2),
  'array.slice': A(3),
  // types
  is_number: A(1),
  is_string: A(1),
  is_boolean: A(1),
  is_array: A(1),
  is_set: A(1),
  is_object: A(1),
  is_null: A(1),
  type_name: A(1),
  // encoding
  'json.marshal': A(1),
  'json.unmarshal': A(1),
  'json.marshal_with_options': A(2),
  'base64.encode': A(1),
  'base64.decode': A(1),
  // time, crypto, units
  'time.now_ns': A(0),
  'crypto.sha256': A(1),
  'units.parse_bytes': A(1),
  // template strings ($"…{x}…"): the parser's call, a native of the runtime
  'internal.template_string': A(1),
  // print's operands as text (the planner's, before internal.print)
  'internal.print_texts': A(1),
  // membership: `x in xs` and `k, v in xs`
  'internal.member_2': A(2),
  'internal.member_3': A(3),
  // a host builtin's operands as Rego text, and its result as a set or a value (the planner's, see BuiltinDecl)
  'internal.value_text': A(1),
  'internal.to_set': A(1),
  'internal.value_parse': A(1),
  // annotations: replaced by their values at compile time (compile/annotations.ts)
  'rego.metadata.chain': A(0),
  'rego.metadata.rule': A(0),
  // print(...) is variadic and void
  print: { arity: 0, variadic: true },
  // the families of engine/policy/builtins/ declare their own
  ...TIME_DECLS,
  ...JWT_DECLS,
  ...NET_DECLS,
  ...MISC_DECLS,
  ...SCHEMA_DECLS,
  ...TEMPLATE_DECLS,
  ...AWS_DECLS,
  ...X509_DECLS,
  ...GRAPHQL_DECLS,
};

export function lookupBuiltin(name: string): BuiltinDecl | undefined {
  return Object.prototype.hasOwnProperty.call(BUILTINS, name) ? BUILTINS[name] : undefined;
}
