/**
 * Annotations: the `# METADATA` comment blocks (YAML) above a package or a
 * rule, and the two builtins that read them, `rego.metadata.rule()` and
 * `rego.metadata.chain()` (OPA v1/ast/annotations.go, parser.go). A policy
 * that keeps its titles, severities or remediation links there reads them
 * back in its reasons, as Gatekeeper and Conftest policies do.
 *
 * Annotations are static: as OPA's compiler does (rewriteRegoMetadataCalls),
 * each call is replaced by the constant it stands for in the rule it is in,
 * so nothing is left for the planner or the runtime.
 */

import { parseDocument } from 'yaml';

import type * as A from '../rego/ast.js';
import { RegoError, RegoErrorCode } from '../rego/errors.js';
import { eachRuleTerm, groundPrefix, refName } from './walk.js';

type Scope = 'rule' | 'document' | 'package' | 'subpackages';
const SCOPES: readonly string[] = ['rule', 'document', 'package', 'subpackages'];

/** One METADATA block, attached to the statement after it. */
interface Annotation {
  scope: Scope;
  /** OPA's toObject: the fields that were given, as rego.metadata.* returns them */
  value: Record<string, unknown>;
  loc: A.Location;
  /** the rule or package it annotates */
  node: A.Rule | A.Package;
  /** the annotated document, without `data` (a rule's ground prefix, or the package) */
  path: string[];
}

/** The YAML of a METADATA block: the comment lines after it, each without one leading space (OPA's metadataParser). */
function blocks(m: A.Module): Array<{ loc: A.Location; yaml: string; lines: A.Comment[] }> {
  const cs = [...m.comments].sort((a, b) => a.loc.row - b.loc.row);
  const out: Array<{ loc: A.Location; yaml: string; lines: A.Comment[] }> = [];
  for (let i = 0; i < cs.length; i++) {
    if (cs[i]!.text.trim() !== 'METADATA') continue;
    const lines: A.Comment[] = [];
    let j = i + 1;
    while (j < cs.length && cs[j]!.loc.row === cs[j - 1]!.loc.row + 1) lines.push(cs[j++]!);
    out.push({ loc: cs[i]!.loc, yaml: lines.map((c) => c.text.replace(/^ /, '')).join('\n'), lines });
    i = j - 1;
  }
  return out;
}

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined);

/** "Jane Doe <jane@example.com>" or {name, email} → {name?, email?} (OPA's parseAuthor). */
function author(v: unknown): Record<string, string> {
  let name = '';
  let email = '';
  if (typeof v === 'string') {
    const parts = v.trim().split(/\s+/).filter(Boolean);
    if (!parts.length) throw new Error('author is an empty string');
    const last = parts[parts.length - 1]!;
    if (last.length >= 2 && last.startsWith('<') && last.endsWith('>')) (email = last.slice(1, -1)), parts.pop();
    name = parts.join(' ');
  } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    name = typeof o.name === 'string' ? o.name.trim() : '';
    email = typeof o.email === 'string' ? o.email.trim() : '';
    if (!name && !email) throw new Error("'name' and/or 'email' values required in object");
  } else throw new Error('invalid value type, must be string or map');
  return { ...(name ? { name } : {}), ...(email ? { email } : {}) };
}

/** A URL or {ref, description} → {ref, description?} (OPA's parseRelatedResource). */
function related(v: unknown): Record<string, string> {
  if (typeof v === 'string') {
    if (!v) throw new Error('ref URL may not be empty string');
    return { ref: v };
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const ref = typeof o.ref === 'string' ? o.ref.trim() : '';
    const description = typeof o.description === 'string' ? o.description.trim() : '';
    if (!ref) throw new Error("'ref' value required in object");
    return { ref, ...(description ? { description } : {}) };
  }
  throw new Error('invalid value type, must be string or map');
}

/** The YAML's fields as OPA's Annotations.toObject writes them (unknown fields are dropped, as Go's YAML decoding does). */
function toObject(raw: Record<string, unknown>, scope: Scope): Record<string, unknown> {
  const o: Record<string, unknown> = { scope };
  if (typeof raw.title === 'string' && raw.title) o.title = raw.title;
  if (raw.entrypoint === true) o.entrypoint = true;
  if (typeof raw.description === 'string' && raw.description) o.description = raw.description;
  const orgs = strings(raw.organizations);
  if (orgs?.length) o.organizations = orgs;
  if (Array.isArray(raw.related_resources) && raw.related_resources.length) o.related_resources = raw.related_resources.map(related);
  if (Array.isArray(raw.authors) && raw.authors.length) o.authors = raw.authors.map(author);
  if (Array.isArray(raw.schemas) && raw.schemas.length) {
    o.schemas = raw.schemas.map((pair: unknown) => {
      const [path, schema] = Object.entries((pair ?? {}) as Record<string, unknown>)[0] ?? [];
      if (path === undefined) throw new Error('invalid schema declaration');
      const s: Record<string, unknown> = { path: path.split('.') };
      if (typeof schema === 'string') s.schema = schema.split('.');
      else s.definition = schema;
      return s;
    });
  }
  if (raw.custom !== null && typeof raw.custom === 'object' && Object.keys(raw.custom).length) o.custom = raw.custom;
  return o;
}

/** A module's annotations, attached to the package or rule after each block; errors as OPA's parser gives them. */
function moduleAnnotations(m: A.Module, errors: RegoError[]): Annotation[] {
  const stmts: Array<A.Rule | A.Package | A.Import> = [m.package, ...m.imports, ...m.rules].sort((a, b) => a.loc.row - b.loc.row);
  const out: Annotation[] = [];
  for (const b of blocks(m)) {
    const fail = (msg: string, at: A.Location = b.loc): void => void errors.push(new RegoError(RegoErrorCode.PARSE, msg, at));
    if (!b.yaml.trim()) {
      fail('expected METADATA block, found whitespace');
      continue;
    }
    const doc = parseDocument(b.yaml, { uniqueKeys: true });
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line;
      fail(`yaml: ${err.message.split('\n')[0]}`, line !== undefined ? (b.lines[line - 1]?.loc ?? b.loc) : b.loc);
      continue;
    }
    const raw: unknown = doc.toJS({ maxAliasCount: 100 });
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      fail('yaml: the METADATA block must be a mapping');
      continue;
    }
    const r = raw as Record<string, unknown>;
    const node = stmts.find((s) => s.loc.row > b.loc.row);
    if (node === undefined || node.type === 'import') {
      fail(`invalid annotation scope '${typeof r.scope === 'string' ? r.scope : 'import'}'`);
      continue;
    }
    const scope = typeof r.scope === 'string' && r.scope ? r.scope : node.type === 'package' ? 'package' : r.entrypoint === true ? 'document' : 'rule';
    if (!SCOPES.includes(scope)) {
      fail(`invalid annotation scope '${scope}'. Use one of 'rule', 'document', 'package', or 'subpackages'`);
      continue;
    }
    const wants = scope === 'rule' || scope === 'document' ? 'rule' : 'package';
    if (node.type !== wants) {
      fail(`annotation scope '${scope}' must be applied to ${wants}`);
      continue;
    }
    if (r.entrypoint === true && scope !== 'document' && scope !== 'package') {
      fail(`annotation entrypoint applied to non-document or package scope '${scope}'`);
      continue;
    }
    let value: Record<string, unknown>;
    try {
      value = toObject(r, scope as Scope);
    } catch (e) {
      fail(`invalid annotation: ${(e as Error).message}`);
      continue;
    }
    const pkg = groundPrefix(m.package.path).slice(1);
    const path = node.type === 'package' ? pkg : [...pkg, ...groundPrefix(node.head.ref)];
    out.push({ scope: scope as Scope, value, loc: b.loc, node, path });
  }
  return out;
}

const key = (path: string[]): string => JSON.stringify(path);

/** Every module's annotations, indexed as OPA's AnnotationSet; a document or package annotated twice is an error. */
class AnnotationSet {
  readonly byRule = new Map<A.Rule, Annotation[]>();
  readonly byPackage = new Map<string, Annotation>();
  /** document (rule path) and subpackages (package path) scopes */
  readonly byPath = new Map<string, Annotation>();

  add(a: Annotation, errors: RegoError[]): void {
    const redeclared = (other: Annotation): void =>
      void errors.push(new RegoError(RegoErrorCode.COMPILE, `${a.scope} annotation redeclared: ${other.loc.file}:${other.loc.row}`, a.loc));
    if (a.scope === 'rule') this.byRule.set(a.node as A.Rule, [...(this.byRule.get(a.node as A.Rule) ?? []), a]);
    else if (a.scope === 'package') {
      const other = this.byPackage.get(key(a.path));
      if (other) return redeclared(other);
      this.byPackage.set(key(a.path), a);
    } else {
      const other = this.byPath.get(key(a.path));
      if (other) return redeclared(other);
      this.byPath.set(key(a.path), a);
    }
  }

  /** rego.metadata.chain(): the rule's own (closest first, or a bare entry), its document's, its package's, then enclosing packages' subpackages scopes. */
  chain(rule: A.Rule, rulePath: string[], pkg: string[]): Array<Record<string, unknown>> {
    const entry = (a: Annotation): Record<string, unknown> => ({ path: a.path, annotations: a.value });
    const own = [...(this.byRule.get(rule) ?? [])].sort((a, b) => b.loc.row - a.loc.row).map(entry);
    const out = own.length ? own : [{ path: rulePath }];
    const doc = this.byPath.get(key(rulePath));
    if (doc?.scope === 'document') out.push(entry(doc));
    const p = this.byPackage.get(key(pkg));
    if (p) out.push(entry(p));
    for (let n = pkg.length; n > 0; n--) {
      const sub = this.byPath.get(key(pkg.slice(0, n)));
      if (sub?.scope === 'subpackages') out.push(entry(sub));
    }
    return out;
  }
}

/** A JSON value as a Rego literal term at `loc`. */
function literal(v: unknown, loc: A.Location): A.Term {
  if (v === null || v === undefined) return { type: 'null', loc };
  if (typeof v === 'boolean') return { type: 'boolean', value: v, loc };
  if (typeof v === 'number') return { type: 'number', text: String(v), value: v, loc };
  if (typeof v === 'string') return { type: 'string', value: v, loc };
  if (Array.isArray(v)) return { type: 'array', items: v.map((x) => literal(x, loc)), loc };
  if (v instanceof Date) return { type: 'string', value: v.toISOString(), loc };
  return { type: 'object', items: Object.entries(v as Record<string, unknown>).map(([k, x]) => [literal(k, loc), literal(x, loc)] as [A.Term, A.Term]), loc };
}

const METADATA = ['rego.metadata.chain', 'rego.metadata.rule'];
const metadataCall = (op: A.RefTerm): string | undefined => {
  const name = refName(op);
  return name !== undefined && METADATA.includes(name) ? name : undefined;
};

/** Whether a rule names rego.metadata.* (most do not: they are left as they are). */
function calls(r: A.Rule): boolean {
  let found = false;
  eachRuleTerm(r, (t) => {
    if (t.type === 'ref' && metadataCall(t) !== undefined) found = true;
  });
  return found;
}

/** A copy of `node` with every rego.metadata.* call replaced by its value (`f()` as a term, `f(x)` as `x = value`). */
function replaceCalls<T>(node: T, values: Record<string, unknown>): T {
  if (Array.isArray(node)) return node.map((x) => replaceCalls(x, values)) as T;
  if (node === null || typeof node !== 'object') return node;
  const n = node as unknown as { type?: string; kind?: string; operator?: A.RefTerm; args?: A.Term[]; loc: A.Location };
  const name = n.operator !== undefined && (n.type === 'call' || n.kind === 'call') ? metadataCall(n.operator) : undefined;
  if (name !== undefined && n.type === 'call' && n.args?.length === 0) return literal(values[name], n.loc) as T;
  if (name !== undefined && n.kind === 'call' && n.args?.length === 1) {
    const eq: A.RefTerm = { type: 'ref', head: { type: 'var', name: 'eq', loc: n.loc }, path: [], loc: n.loc };
    return { ...node, operator: eq, args: [replaceCalls(n.args[0]!, values), literal(values[name], n.loc)] } as T;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'loc' ? v : replaceCalls(v, values);
  return out as T;
}

/**
 * The compile stage: reads every module's annotations (reporting malformed
 * ones) and rewrites rego.metadata.rule() and rego.metadata.chain() in each
 * rule into their values. Modules without such calls come back unchanged.
 */
export function rewriteMetadataCalls(modules: readonly A.Module[], errors: RegoError[]): A.Module[] {
  const set = new AnnotationSet();
  for (const m of modules) for (const a of moduleAnnotations(m, errors)) set.add(a, errors);
  if (errors.length) return [...modules];
  return modules.map((m) => {
    if (!m.rules.some(calls)) return m;
    const pkg = groundPrefix(m.package.path).slice(1);
    return {
      ...m,
      rules: m.rules.map((r) => {
        if (!calls(r)) return r;
        const chain = set.chain(r, [...pkg, ...groundPrefix(r.head.ref)], pkg);
        const rule = (chain[0]!.annotations as Record<string, unknown> | undefined) ?? {};
        return replaceCalls(r, { 'rego.metadata.chain': chain, 'rego.metadata.rule': rule });
      }),
    };
  });
}

/**
 * The entrypoints the modules' annotations declare (`entrypoint: true` on a
 * rule's document or a package), as `opa build` reads them: `a/b/p`.
 * Malformed annotations are left for the compile stage to report.
 */
export function annotatedEntrypoints(modules: readonly A.Module[]): string[] {
  const out: string[] = [];
  for (const m of modules) for (const a of moduleAnnotations(m, [])) if (a.value.entrypoint === true) out.push(a.path.join('/'));
  return [...new Set(out)];
}
