/**
 * A compact, S-expression-like rendering of the Rego AST, for
 * `busted compile --dump-ast` and for tests that assert AST shapes.
 *
 * Scalars print as Rego literals (`1`, `"a"`, `null`), vars by name
 * (wildcards as `$0`), refs in Rego syntax (`input.a[0][x]`, `data.x["a b"]`);
 * everything else is a parenthesised form named after the node:
 *
 *   (array 1 2)  (set)  (object ("a" 1))  (arraycomp x (body ...))
 *   (plus x 1)   (eq x 1)   (not (gt x 1))   (with (f x) (input.a 1))
 *   (some x y)   (some (internal.member_2 x xs))   (every k v xs (body ...))
 *   (rule complete p (value := 1) if (body (gt x 1)))
 *
 * A module prints one line per package, import and rule.
 */

import type * as A from './ast.js';

export function formatAst(node: A.Node | A.Body): string {
  if (Array.isArray(node)) return formatBody(node);
  switch (node.type) {
    case 'module':
      return [formatPackage(node.package), ...node.imports.map(formatImport), ...node.rules.map(formatRule)].join('\n');
    case 'package':
      return formatPackage(node);
    case 'import':
      return formatImport(node);
    case 'rule':
      return formatRule(node);
    case 'head':
      return `(head ${headParts(node).join(' ')})`;
    case 'expr':
      return formatExpr(node);
    case 'with':
      return `(${formatTerm(node.target)} ${formatTerm(node.value)})`;
    case 'comment':
      return `(comment ${JSON.stringify(node.text)})`;
    default:
      return formatTerm(node);
  }
}

function formatPackage(p: A.Package): string {
  return `(package ${formatTerm(p.path)})`;
}

function formatImport(i: A.Import): string {
  return i.alias === undefined ? `(import ${formatTerm(i.path)})` : `(import ${formatTerm(i.path)} as ${i.alias})`;
}

function formatRule(r: A.Rule): string {
  const parts = [r.kind, formatTerm(r.head.ref)];
  if (r.default) parts.push('default');
  parts.push(...headParts(r.head));
  if (!r.generatedBody && !r.default) parts.push(formatBody(r.body));
  for (const e of r.else) {
    const ep = headParts(e.head);
    if (!e.generatedBody) ep.push(formatBody(e.body));
    parts.push(`(else${ep.length > 0 ? ' ' : ''}${ep.join(' ')})`);
  }
  return `(rule ${parts.join(' ')})`;
}

/** args, key, value (unless implicit), then the keywords the head was written with */
function headParts(h: A.Head): string[] {
  const parts: string[] = [];
  if (h.args !== undefined) parts.push(`(args ${h.args.map(formatTerm).join(' ')})`);
  if (h.key !== undefined) parts.push(`(key ${formatTerm(h.key)})`);
  if (h.value !== undefined && !h.generatedValue) {
    parts.push(h.assign === undefined ? `(value ${formatTerm(h.value)})` : `(value ${h.assign} ${formatTerm(h.value)})`);
  }
  if (h.contains) parts.push('contains');
  if (h.ifKeyword) parts.push('if');
  return parts;
}

function formatBody(body: A.Body): string {
  return body.length === 0 ? '(body)' : `(body ${body.map(formatExpr).join(' ')})`;
}

function formatExpr(e: A.Expr): string {
  let s: string;
  switch (e.kind) {
    case 'term':
      s = formatTerm(e.term);
      break;
    case 'call':
      s = formatCall(e.operator, e.args);
      break;
    case 'some':
      s = `(some ${e.symbols.map(formatTerm).join(' ')})`;
      break;
    case 'every': {
      const vars = e.key === undefined ? [e.value] : [e.key, e.value];
      s = `(every ${[...vars, e.domain].map(formatTerm).join(' ')} ${formatBody(e.body)})`;
      break;
    }
  }
  if (e.negated) s = `(not ${s})`;
  if (e.with.length > 0) s = `(with ${s} ${e.with.map((w) => `(${formatTerm(w.target)} ${formatTerm(w.value)})`).join(' ')})`;
  return s;
}

function formatCall(operator: A.RefTerm, args: A.Term[]): string {
  return args.length === 0 ? `(${formatTerm(operator)})` : `(${formatTerm(operator)} ${args.map(formatTerm).join(' ')})`;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function formatTerm(t: A.Term): string {
  switch (t.type) {
    case 'null':
      return 'null';
    case 'boolean':
      return t.value ? 'true' : 'false';
    case 'number':
      return t.text;
    case 'string':
      return JSON.stringify(t.value);
    case 'var':
      return t.name;
    case 'ref': {
      let s = t.head.type === 'var' ? t.head.name : formatTerm(t.head);
      for (const p of t.path) s += p.type === 'string' && IDENT.test(p.value) ? `.${p.value}` : `[${formatTerm(p)}]`;
      return s;
    }
    case 'array':
      return t.items.length === 0 ? '(array)' : `(array ${t.items.map(formatTerm).join(' ')})`;
    case 'set':
      return t.items.length === 0 ? '(set)' : `(set ${t.items.map(formatTerm).join(' ')})`;
    case 'object':
      return t.items.length === 0 ? '(object)' : `(object ${t.items.map(([k, v]) => `(${formatTerm(k)} ${formatTerm(v)})`).join(' ')})`;
    case 'arraycomprehension':
      return `(arraycomp ${formatTerm(t.term)} ${formatBody(t.body)})`;
    case 'setcomprehension':
      return `(setcomp ${formatTerm(t.term)} ${formatBody(t.body)})`;
    case 'objectcomprehension':
      return `(objectcomp ${formatTerm(t.key)} ${formatTerm(t.value)} ${formatBody(t.body)})`;
    case 'call':
      return formatCall(t.operator, t.args);
  }
}
