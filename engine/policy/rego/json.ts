/**
 * A parsed module as OPA's JSON AST: what OPA's `encoding/json` makes of an
 * `ast.Module` with its default options (v1/ast/json: no locations), the
 * form `rego.parse_module` returns (v1/topdown/parse.go) and tools such as
 * Regal read.
 *
 * The shapes are those of OPA's MarshalJSON methods (v1/ast/policy.go,
 * term.go):
 *
 *   module   {"package", "imports"?, "rules"?, "comments"?}
 *            ("annotations" only when METADATA is processed, which
 *            ParseModule does not do)
 *   package  {"path": [terms]}                 import {"path": term, "alias"?}
 *   rule     {"head", "body", "default"?: true, "else"?: rule}
 *   head     {"ref": [terms], "name"?, "key"?, "value"?, "args"?, "assign"?: true}
 *   expr     {"index", "terms", "negated"?: true, "with"?: [{"target", "value"}]}
 *            terms: a term, [operator, ...operands], {"symbols"} (some)
 *            or {"key", "value", "domain", "body"} (every; key may be null)
 *   term     {"type", "value"}: null's value is {} (Go's empty struct),
 *            refs, arrays and calls a list of terms, sets a sorted list
 *            without duplicates, objects a key-sorted list of [key, value],
 *            comprehensions {"term"|"key","value", "body"}
 *   comment  {"Text": base64 of the bytes after `#`, "Location": {"file",
 *            "row", "col"}} (no JSON tags in Go, and always located)
 *
 * Our AST keeps what OPA's keeps except the head's `name`, which OPA sets
 * only on some paths through its parser (headName). Numbers are written
 * with their source text, so the JSON keeps them exact.
 */

import type * as A from './ast.js';
import { byteCompare } from '../builtins/common.js';

/** The module as OPA's JSON AST, as JSON text (numbers keep their source text). */
export function moduleJSON(m: A.Module): string {
  const fields: Array<[string, string]> = [['package', obj([['path', list(refTerms(m.package.path))]])]];
  if (m.imports.length > 0) fields.push(['imports', list(m.imports.map(importJSON))]);
  if (m.rules.length > 0) fields.push(['rules', list(m.rules.map((r) => ruleJSON(r, r.else, headName(r))))]);
  if (m.comments.length > 0) fields.push(['comments', list(m.comments.map(commentJSON))]);
  return obj(fields);
}

/* ----------------------------------------------------------------- nodes */

function importJSON(i: A.Import): string {
  const fields: Array<[string, string]> = [['path', termJSON(i.path)]];
  if (i.alias !== undefined) fields.push(['alias', str(i.alias)]);
  return obj(fields);
}

function commentJSON(c: A.Comment): string {
  const loc = obj([
    ['file', str(c.loc.file)],
    ['row', String(c.loc.row)],
    ['col', String(c.loc.col)],
  ]);
  return obj([
    ['Text', str(Buffer.from(c.text, 'utf8').toString('base64'))],
    ['Location', loc],
  ]);
}

/** A rule and its `else` chain, which OPA nests (rule.Else.Else...); every head of a chain is a copy of the first. */
function ruleJSON(r: A.Rule, chain: readonly A.Rule[], name: string | undefined): string {
  const fields: Array<[string, string]> = [
    ['head', headJSON(r.head, name)],
    ['body', bodyJSON(r.body)],
  ];
  if (r.default) fields.push(['default', 'true']);
  if (chain.length > 0) fields.push(['else', ruleJSON(chain[0]!, chain.slice(1), name)]);
  return obj(fields);
}

function headJSON(h: A.Head, name: string | undefined): string {
  const fields: Array<[string, string]> = [['ref', list(refTerms(h.ref))]];
  if (name !== undefined) fields.push(['name', str(name)]);
  if (h.key !== undefined) fields.push(['key', termJSON(h.key)]);
  if (h.value !== undefined) fields.push(['value', termJSON(h.value)]);
  if (h.args !== undefined && h.args.length > 0) fields.push(['args', list(h.args.map(termJSON))]);
  if (h.assign === ':=') fields.push(['assign', 'true']);
  return obj(fields);
}

/**
 * Head.Name, which OPA keeps for backwards compatibility and sets only
 * where its parser builds the head from a name (v1/ast/parser.go
 * parseHead and parseRules, parser_ext.go ParseRuleFrom*): every
 * one-element ref; a two-element ref (`p[k]`, `p.q`) when its rule has
 * `if` and a value written out or arguments, when it is v0's `p[k] { }`,
 * or when the rule is a bare `p[k] = v` / `p.q := v`; never a longer ref.
 * An `else` copies the first head, name included.
 */
function headName(r: A.Rule): string | undefined {
  const h = r.head;
  const first = h.ref.head.type === 'var' ? h.ref.head.name : undefined;
  if (h.ref.path.length === 0) return first;
  if (h.ref.path.length !== 1 || h.contains || r.default) return undefined;
  const isFunction = h.args !== undefined && h.args.length > 0;
  if (h.ifKeyword) return !h.generatedValue || isFunction ? first : undefined;
  if (isFunction) return undefined;
  if (!r.generatedBody) return first; // v0 `p[x] { ... }`
  return h.generatedValue ? undefined : first; // bare `p[k] = v` (ParsePartialObjectDocRuleFromEqExpr)
}

function bodyJSON(body: A.Body): string {
  return list(body.map(exprJSON));
}

function exprJSON(e: A.Expr, index: number): string {
  const fields: Array<[string, string]> = [
    ['index', String(index)],
    ['terms', exprTerms(e)],
  ];
  if (e.negated) fields.push(['negated', 'true']);
  if (e.with.length > 0) fields.push(['with', list(e.with.map(withJSON))]);
  return obj(fields);
}

function exprTerms(e: A.Expr): string {
  switch (e.kind) {
    case 'term':
      return termJSON(e.term);
    case 'call':
      return list([termJSON(e.operator), ...e.args.map(termJSON)]);
    case 'some':
      return obj([['symbols', list(e.symbols.map(termJSON))]]);
    case 'every':
      return obj([
        ['key', e.key === undefined ? 'null' : termJSON(e.key)],
        ['value', termJSON(e.value)],
        ['domain', termJSON(e.domain)],
        ['body', bodyJSON(e.body)],
      ]);
  }
}

function withJSON(w: A.With): string {
  return obj([
    ['target', termJSON(w.target)],
    ['value', termJSON(w.value)],
  ]);
}

/* ----------------------------------------------------------------- terms */

export function termJSON(t: A.Term): string {
  return obj([
    ['type', str(t.type)],
    ['value', valueJSON(t)],
  ]);
}

function valueJSON(t: A.Term): string {
  switch (t.type) {
    case 'null':
      return '{}'; // ast.Null is an empty struct, without a MarshalJSON of its own
    case 'boolean':
      return String(t.value);
    case 'number':
      return t.text;
    case 'string':
      return str(t.value);
    case 'var':
      return str(t.name);
    case 'ref':
      return list(refTerms(t));
    case 'array':
      return list(t.items.map(termJSON));
    case 'set':
      return list(setItems(t.items).map(termJSON));
    case 'object':
      return list(objectItems(t.items).map(([k, v]) => list([termJSON(k), termJSON(v)])));
    case 'arraycomprehension':
    case 'setcomprehension':
      return obj([
        ['term', termJSON(t.term)],
        ['body', bodyJSON(t.body)],
      ]);
    case 'objectcomprehension':
      return obj([
        ['key', termJSON(t.key)],
        ['value', termJSON(t.value)],
        ['body', bodyJSON(t.body)],
      ]);
    case 'call':
      return list([termJSON(t.operator), ...t.args.map(termJSON)]);
  }
}

function refTerms(r: A.RefTerm): string[] {
  return [r.head, ...r.path].map(termJSON);
}

const obj = (fields: ReadonlyArray<[string, string]>): string => `{${fields.map(([k, v]) => `${str(k)}:${v}`).join(',')}}`;
const list = (items: readonly string[]): string => `[${items.join(',')}]`;
const str = (s: string): string => JSON.stringify(s);

/* --------------------------------------------- sets and objects, as OPA */

/** A set's items as OPA's set holds them: one of each (the first written), in OPA's order (set.sortedKeys). */
function setItems(items: readonly A.Term[]): A.Term[] {
  const sorted = [...items].sort(compareTerms); // stable: the first of equal items comes first
  return sorted.filter((t, i) => i === 0 || compareTerms(sorted[i - 1]!, t) !== 0);
}

/** An object's items as OPA's object holds them: a repeated key keeps its first term and takes the last value; sorted by key. */
function objectItems(items: ReadonlyArray<[A.Term, A.Term]>): Array<[A.Term, A.Term]> {
  const out: Array<[A.Term, A.Term]> = [];
  for (const [k, v] of items) {
    const seen = out.find(([x]) => compareTerms(x, k) === 0);
    if (seen !== undefined) seen[1] = v;
    else out.push([k, v]);
  }
  return out.sort(([a], [b]) => compareTerms(a, b));
}

/** OPA's order of value kinds (v1/ast/compare.go sortOrder). */
const KIND_ORDER: Record<A.TermType, number> = {
  null: 0,
  boolean: 1,
  number: 2,
  string: 3,
  var: 4,
  ref: 5,
  array: 6,
  object: 7,
  set: 8,
  arraycomprehension: 9,
  objectcomprehension: 10,
  setcomprehension: 11,
  call: 12,
};

/** OPA's Compare on terms (v1/ast/compare.go), which orders sets and object keys. */
export function compareTerms(a: A.Term, b: A.Term): number {
  const k = KIND_ORDER[a.type] - KIND_ORDER[b.type];
  if (k !== 0) return Math.sign(k);
  switch (a.type) {
    case 'null':
      return 0;
    case 'boolean':
      return Number(a.value) - Number((b as A.BooleanTerm).value);
    case 'number':
      return compareNumbers(a.text, (b as A.NumberTerm).text);
    case 'string':
      return byteCompare(a.value, (b as A.StringTerm).value);
    case 'var':
      return byteCompare(a.name, (b as A.VarTerm).name);
    case 'ref': {
      const r = b as A.RefTerm;
      return compareLists([a.head, ...a.path], [r.head, ...r.path], compareTerms);
    }
    case 'array':
      return compareLists(a.items, (b as A.ArrayTerm).items, compareTerms);
    case 'set':
      return compareLists(setItems(a.items), setItems((b as A.SetTerm).items), compareTerms);
    case 'object':
      return compareLists(objectItems(a.items), objectItems((b as A.ObjectTerm).items), ([ka, va], [kb, vb]) => compareTerms(ka, kb) || compareTerms(va, vb));
    case 'arraycomprehension':
    case 'setcomprehension': {
      const c = b as A.ArrayComprehensionTerm | A.SetComprehensionTerm;
      return compareTerms(a.term, c.term) || compareBodies(a.body, c.body);
    }
    case 'objectcomprehension': {
      const c = b as A.ObjectComprehensionTerm;
      return compareTerms(a.key, c.key) || compareTerms(a.value, c.value) || compareBodies(a.body, c.body);
    }
    case 'call': {
      const c = b as A.CallTerm;
      return compareLists([a.operator, ...a.args], [c.operator, ...c.args], compareTerms);
    }
  }
}

/** Numbers by value (OPA compares big.Rat); exact for integers, as doubles otherwise. */
function compareNumbers(a: string, b: string): number {
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareLists<T>(a: readonly T[], b: readonly T[], cmp: (x: T, y: T) => number): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = cmp(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return Math.sign(a.length - b.length);
}

/** Expression kinds in OPA's order (Expr.sortOrder): some, term, call, every. */
const EXPR_ORDER: Record<A.Expr['kind'], number> = { some: 0, term: 1, call: 2, every: 3 };

/** Body.Compare: expression by expression (same positions, so the same indices), then length. */
function compareBodies(a: A.Body, b: A.Body): number {
  return compareLists(a, b, compareExprs);
}

function compareExprs(a: A.Expr, b: A.Expr): number {
  const k = Math.sign(EXPR_ORDER[a.kind] - EXPR_ORDER[b.kind]);
  if (k !== 0) return k;
  if (a.negated !== b.negated) return a.negated ? 1 : -1;
  let c = 0;
  switch (a.kind) {
    case 'term':
      c = compareTerms(a.term, (b as A.TermExpr).term);
      break;
    case 'call': {
      const x = b as A.CallExpr;
      c = compareLists([a.operator, ...a.args], [x.operator, ...x.args], compareTerms);
      break;
    }
    case 'some':
      c = compareLists(a.symbols, (b as A.SomeExpr).symbols, compareTerms);
      break;
    case 'every': {
      const x = b as A.EveryExpr;
      const key = (t: A.Term | undefined): A.Term[] => (t === undefined ? [] : [t]);
      c = compareLists(key(a.key), key(x.key), compareTerms) || compareTerms(a.value, x.value) || compareTerms(a.domain, x.domain) || compareBodies(a.body, x.body);
      break;
    }
  }
  return c || compareLists(a.with, b.with, (x, y) => compareTerms(x.target, y.target) || compareTerms(x.value, y.value));
}
