/**
 * Rego abstract syntax tree: plain data, no behaviour (STYLE.md 7).
 *
 * The parser (parser.ts) produces it and every later compiler stage reads it.
 * Shapes and names follow OPA's `ast` package (v1/ast/term.go, policy.go) so
 * that OPA's documentation of the language's semantics applies unchanged:
 *
 * - term `type` strings are the ones OPA's JSON AST and its error messages use
 *   ("ref", "var", "arraycomprehension", ...; see ValueName in term.go);
 * - infix operators are calls whose operator is the builtin OPA parses them
 *   to (`=` is `eq`, `:=` is `assign`, `x in xs` is `internal.member_2`, ...);
 * - a rule head is a reference (`a.b[c]`), as in OPA since v0.46 ("ref heads").
 *
 * Every node carries `loc`: file, 1-based row, and 1-based column counted in
 * Unicode code points, exactly as OPA's scanner counts them, so errors found by
 * later stages point at the same place OPA would. Nodes that start at the
 * same token share one Location object: treat locations (like the whole
 * tree) as immutable, and copy a node to change it.
 */

export interface Location {
  file: string;
  row: number;
  col: number;
}

/* ------------------------------------------------------------------ terms */

export interface NullTerm {
  type: 'null';
  loc: Location;
}

export interface BooleanTerm {
  type: 'boolean';
  value: boolean;
  loc: Location;
}

/**
 * A number keeps its source text: Rego numbers are arbitrary-precision
 * (OPA stores json.Number and only rounds when a builtin needs to), so a
 * later stage must be able to see `12345678901234567890` or `0.1` exactly.
 * `value` is the nearest double, for convenience only. The text is the
 * literal with its sign; a leading `.` gets a `0` (`.5` is `0.5`, `-.5` is
 * `-0.5`) so that the text is always a valid JSON number.
 */
export interface NumberTerm {
  type: 'number';
  text: string;
  value: number;
  loc: Location;
}

/** A string, escapes decoded (raw `backtick` strings are taken verbatim). */
export interface StringTerm {
  type: 'string';
  value: string;
  loc: Location;
}

/**
 * A variable. The wildcard `_` is renamed `$0`, `$1`, ... in source order,
 * as OPA's parser does (genwildcard), so that every `_` is a distinct var.
 */
export interface VarTerm {
  type: 'var';
  name: string;
  loc: Location;
}

/**
 * A reference `head.path[0][x]`. The head is usually a var (`input`, `data`,
 * a local); it may also be a composite, a comprehension or a call
 * (`f(x).y`). Dotted path elements are string terms (`a.b` is `a["b"]`).
 * The root documents `input` and `data` written alone are refs with an empty
 * path, as in OPA.
 */
export interface RefTerm {
  type: 'ref';
  head: Term;
  path: Term[];
  loc: Location;
}

export interface ArrayTerm {
  type: 'array';
  items: Term[];
  loc: Location;
}

/** A set; `set()` is the empty set (`{}` is the empty object). */
export interface SetTerm {
  type: 'set';
  items: Term[];
  loc: Location;
}

/** An object; keys may be any term, in source order. */
export interface ObjectTerm {
  type: 'object';
  items: Array<[key: Term, value: Term]>;
  loc: Location;
}

export interface ArrayComprehensionTerm {
  type: 'arraycomprehension';
  term: Term;
  body: Body;
  loc: Location;
}

export interface SetComprehensionTerm {
  type: 'setcomprehension';
  term: Term;
  body: Body;
  loc: Location;
}

export interface ObjectComprehensionTerm {
  type: 'objectcomprehension';
  key: Term;
  value: Term;
  body: Body;
  loc: Location;
}

/**
 * A call nested inside a term: `count(x)`, `strings.replace_n(a, b)`, and
 * every infix operator (`x + 1` is `plus(x, 1)`). The operator is always a
 * ref (`plus` is the ref with head var `plus` and no path;
 * `internal.member_2` has path ["member_2"]). A call that is a whole
 * expression is a CallExpr instead (see Expr).
 */
export interface CallTerm {
  type: 'call';
  operator: RefTerm;
  args: Term[];
  loc: Location;
}

export type Term =
  | NullTerm
  | BooleanTerm
  | NumberTerm
  | StringTerm
  | VarTerm
  | RefTerm
  | ArrayTerm
  | SetTerm
  | ObjectTerm
  | ArrayComprehensionTerm
  | SetComprehensionTerm
  | ObjectComprehensionTerm
  | CallTerm;

export type TermType = Term['type'];

/* ------------------------------------------------------------ expressions */

/** `with target as value`: target is a ref (`input.a`, `data.b`) or a var (a function). */
export interface With {
  type: 'with';
  target: Term;
  value: Term;
  loc: Location;
}

interface ExprBase {
  type: 'expr';
  /** `not expr` (never set on `some` or `every`, which cannot be negated) */
  negated: boolean;
  with: With[];
  loc: Location;
}

/** An expression that is a single term: `input.allow`, `x`, `[1, 2]`. */
export interface TermExpr extends ExprBase {
  kind: 'term';
  term: Term;
}

/**
 * A call at the top of an expression: `x = 1` is eq(x, 1), `x := 1` is
 * assign(x, 1), `x > 1` is gt(x, 1), `count(x)` is count(x). OPA keeps these
 * as the expression's term list [operator, ...args].
 */
export interface CallExpr extends ExprBase {
  kind: 'call';
  operator: RefTerm;
  args: Term[];
}

/**
 * `some x, y` (symbols are vars) or `some x in xs` / `some k, v in xs`
 * (a single symbol: the call internal.member_2(x, xs) or
 * internal.member_3(k, v, xs)), as OPA's SomeDecl.
 */
export interface SomeExpr extends ExprBase {
  kind: 'some';
  symbols: Term[];
}

/** `every v in domain { body }` or `every k, v in domain { body }` (OPA's Every). */
export interface EveryExpr extends ExprBase {
  kind: 'every';
  key?: Term;
  value: Term;
  domain: Term;
  body: Body;
}

export type Expr = TermExpr | CallExpr | SomeExpr | EveryExpr;

/** A query: expressions separated by newlines or `;`, all of which must hold. */
export type Body = Expr[];

/* ----------------------------------------------------------------- rules */

/**
 * What a rule defines. OPA itself has two kinds (single-value and
 * multi-value, RuleKind in policy.go) plus functions; the object case is
 * split out because every later stage treats it separately:
 *
 * - `complete`: a single value at a ground path (`p := 1`, `a.b.c if ...`,
 *   `p["x"] := 1`);
 * - `partial_object`: a single value at a path with a variable
 *   (`p[k] := v`, `a.b[c] := d`, `p[x] if ...`);
 * - `partial_set`: a multi-value rule (`p contains x`, v0 `p[x] { ... }`);
 * - `function`: a rule with arguments (`f(x) := y`).
 */
export type RuleKind = 'complete' | 'partial_object' | 'partial_set' | 'function';

export interface Head {
  type: 'head';
  /** the path the rule defines, relative to its package: `p`, `a.b[c]` */
  ref: RefTerm;
  /** function arguments; absent for rules that are not functions (`f()` has none) */
  args?: Term[];
  /**
   * the element of a multi-value rule (`p contains key`), or, for a
   * two-element ref head with a variable (`p[key] := v`), that variable
   * (OPA keeps it for backwards compatibility)
   */
  key?: Term;
  /** the value; absent only for multi-value rules */
  value?: Term;
  /** the value is the implicit `true` of `p if ...` / `f(x) if ...` */
  generatedValue: boolean;
  /** the assignment operator written before the value, if any */
  assign?: ':=' | '=';
  /** written with the `contains` keyword */
  contains: boolean;
  /** written with the `if` keyword before its body */
  ifKeyword: boolean;
  loc: Location;
}

export interface Rule {
  type: 'rule';
  kind: RuleKind;
  /** `default p := v`: the value when no other definition applies; body is `true` */
  default: boolean;
  head: Head;
  body: Body;
  /**
   * the body was not written (`p := 1`, `p contains "x"`, `else := 2`);
   * it is then `true`, located at the rule
   */
  generatedBody: boolean;
  /**
   * the `else` chain, in order; each has its own head (value) and body and
   * an empty `else` (OPA links them as rule.Else.Else...)
   */
  else: Rule[];
  loc: Location;
}

/* --------------------------------------------------------------- modules */

export interface Package {
  type: 'package';
  /** rooted at data: `package a.b` is data.a.b */
  path: RefTerm;
  loc: Location;
}

export interface Import {
  type: 'import';
  /** data.x.y, input.a, future.keywords.in, rego.v1 */
  path: RefTerm;
  alias?: string;
  loc: Location;
}

export interface Comment {
  type: 'comment';
  /** the text after `#` */
  text: string;
  loc: Location;
}

/**
 * - `v1`: OPA >= 1.0 syntax (the default);
 * - `v0`: pre-1.0 syntax (parsed with `v0Compatible`);
 * - `v0v1`: v0 syntax with `import rego.v1`, which applies the v1 rules.
 */
export type RegoVersion = 'v0' | 'v1' | 'v0v1';

export interface Module {
  type: 'module';
  file: string;
  package: Package;
  imports: Import[];
  rules: Rule[];
  comments: Comment[];
  regoVersion: RegoVersion;
}

export type Node = Module | Package | Import | Rule | Head | Expr | With | Term | Comment;
