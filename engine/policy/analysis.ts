/**
 * What a compiled policy reads of its input, found from the checked AST:
 * the subtrees of `input` its rules refer to, whether it reads the input
 * as a whole, and whether it calls builtins whose answer changes from one
 * call to the next (time, randomness, network).
 *
 * The agent uses this twice:
 * - a decision depends only on those subtrees, so decisions are memoised
 *   by them (engine/decide): a connect loop costs one evaluation, not one
 *   per connection;
 * - connection verdicts need a verdict per program image only when the
 *   policy reads more of `input.process` than its cgroup (engine/enforce).
 *
 * Conservative by construction: every ref rooted at `input` anywhere in a
 * rule (head, body, `with`, else chains, comprehensions) counts, up to its
 * first non-constant element; `input` alone counts as the whole input.
 */
import type * as A from './rego/ast.js';
import type { RuleSet } from './compile/program.js';
import { eachBodyTerm, eachRuleTerm, eachTerm, exprTerms, groundPrefix, refReaches } from './compile/walk.js';

export interface InputUse {
  /** the whole input is read somewhere (`input` alone, `input[x]`, passed whole to a function) */
  all: boolean;
  /** the subtrees read, as paths below `input`, none a prefix of another */
  paths: string[][];
  /** a builtin whose result varies between calls is called: decisions must not be memoised */
  volatile: boolean;
  /**
   * For each entry of `paths`: input paths any one of which, when absent
   * from the input, makes that entry irrelevant to every entrypoint
   * (guards(), below). Absent when not worked out (a `with` anywhere).
   */
  unlessAbsent?: string[][][];
  /**
   * The input paths of the module's path table, by id (emit/emitter.ts
   * Emitted.inputPaths): an input image fills them in (image.ts). Absent
   * for a module we did not compile.
   */
  tabled?: Array<string[] | undefined>;
}

/**
 * The custom section in which a module we compiled carries the hash of its
 * path table (pathTableHash of InputUse.tabled): an input image written for
 * another compile's table would put values at the wrong ids, and the
 * module would decide on them without a word (PolicyEngine checks).
 */
export const PATH_TABLE_SECTION = 'busted.path-table';

/** FNV-1a 32 of a path table (InputUse.tabled) as JSON: data paths and ids past the table are null. */
export function pathTableHash(tabled: ReadonlyArray<readonly string[] | undefined>): number {
  const s = JSON.stringify(Array.from(tabled, (p) => p ?? null));
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Builtins whose answer is not a function of their arguments. The x509
 * verifications read the clock (a chain valid now expires; with options, the
 * clock unless they give a time), as io.jwt.decode_verify does.
 */
export const VOLATILE = new Set([
  'time.now_ns',
  'io.jwt.decode_verify',
  'crypto.x509.parse_and_verify_certificates',
  'crypto.x509.parse_and_verify_certificates_with_options',
  'rand.intn',
  'uuid.rfc4122',
  'uuid.parse',
  'http.send',
  'net.lookup_ip_addr',
  'opa.runtime',
  'trace',
  'test.sleep',
]);

/** The input a policy reads. `builtins` is every builtin it calls (the checked program's list). */
export function inputUse(modules: readonly A.Module[], builtins: readonly string[]): InputUse {
  let all = false;
  const found: string[][] = [];
  for (const m of modules) {
    for (const r of m.rules) {
      eachRuleTerm(r, (t) => {
        if (t.type !== 'ref' || t.head.type !== 'var' || t.head.name !== 'input') return;
        const path = groundPrefix(t).slice(1);
        if (path.length === 0) all = true;
        else found.push(path);
      });
    }
  }
  return { all, paths: minimalPaths(found), volatile: builtins.some((b) => VOLATILE.has(b)) };
}

/** Sorted, deduplicated, and without paths that lie below another one. */
export function minimalPaths(paths: readonly string[][]): string[][] {
  const keyed = [...new Map(paths.map((p) => [p.join('\0'), p])).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[][] = [];
  for (const [, p] of keyed) {
    const prev = out[out.length - 1];
    if (prev && prev.length <= p.length && prev.every((s, i) => s === p[i])) continue;
    out.push(p);
  }
  return out;
}

/** Does the policy read anything at or below `path` of the input? */
export function reads(use: InputUse, path: readonly string[]): boolean {
  if (use.all) return true;
  return use.paths.some((p) => {
    const n = Math.min(p.length, path.length);
    for (let i = 0; i < n; i++) if (p[i] !== path[i]) return false;
    return true;
  });
}

/**
 * Which input paths stop mattering when another one is absent.
 *
 * ml.rego names a connection's address and port only in rules whose
 * bodies also require `input.ml.llm_score`; a connect or accept event has
 * no `ml`, so its ports cannot change the decision, and memoising by them
 * (engine/decide) would make every accepted connection (a new peer port)
 * an evaluation of its own. This finds such guards, soundly:
 *
 * - req(D): for one definition D (a rule body with its head, each `else`
 *   branch on its own), the input paths a positive top-level expression of
 *   its body refers to outside comprehensions. An absent path makes that
 *   expression undefined (every operator, builtin and function call is
 *   undefined on an undefined argument; `print` excepted), so D fails,
 *   whatever else it reads.
 * - guard(R) for a rule set R: the entrypoints have none; otherwise the
 *   intersection, over every definition D' referring to R, of req(D') ∪
 *   guard(set of D'). When one of those paths is absent, R's value cannot
 *   reach an entrypoint.
 * - a memo path P is irrelevant when one of the intersection, over every
 *   definition D reading under P, of req(D) ∪ guard(set of D) is absent.
 *
 * The memo key then says which guard paths are absent, and leaves the
 * irrelevant paths out: two inputs with the same key evaluate alike. (A
 * runtime error that only a left-out value would raise in a failing body is
 * not seen; errors are not memoised in the first place.) A `with` anywhere
 * changes what `input` is inside it: then nothing is worked out.
 */
export function guards(ruleSets: readonly RuleSet[], entrypoints: readonly string[], paths: readonly string[][]): string[][][] | undefined {
  interface Def {
    set: RuleSet;
    req: Set<string>;
    refs: Set<RuleSet>;
    inputs: string[][];
  }
  const defs: Def[] = [];
  let withSeen = false;
  for (const set of ruleSets) {
    for (const rule of set.rules) {
      for (const b of [rule, ...rule.else]) {
        const d: Def = { set, req: new Set(), refs: new Set(), inputs: [] };
        const visit = (t: A.Term): void => {
          if (t.type === 'arraycomprehension' || t.type === 'setcomprehension' || t.type === 'objectcomprehension') {
            if (hasWith(t.body)) withSeen = true;
          }
          if (t.type !== 'ref' || t.head.type !== 'var') return;
          if (t.head.name === 'input') d.inputs.push(groundPrefix(t).slice(1));
          else if (t.head.name === 'data') for (const s of ruleSets) if (refReaches(t, s.path.split('.'))) d.refs.add(s);
        };
        eachTerm(b.head.ref, visit);
        b.head.args?.forEach((a) => eachTerm(a, visit));
        if (b.head.key !== undefined) eachTerm(b.head.key, visit);
        if (b.head.value !== undefined) eachTerm(b.head.value, visit);
        eachBodyTerm(b.body, visit);
        if (hasWith(b.body)) withSeen = true;
        for (const e of b.body) {
          if (e.negated || e.with.length > 0 || e.kind === 'some' || e.kind === 'every') continue;
          if (e.kind === 'call' && (refKey(e.operator) === 'print' || refKey(e.operator) === 'trace')) continue;
          for (const t of exprTerms(e)) strictInputs(t, d.req);
        }
        defs.push(d);
      }
    }
  }
  if (withSeen) return undefined;

  // null: no definition that matters refers to the set (yet)
  const guard = new Map<RuleSet, Set<string> | null>();
  const entries = new Set(entrypoints.map((e) => `data.${e.split('/').join('.')}`));
  for (const s of ruleSets) guard.set(s, entries.has(s.path) ? new Set() : null);
  for (let changed = true; changed; ) {
    changed = false;
    for (const d of defs) {
      const own = guard.get(d.set);
      if (own == null) continue;
      const g = union(d.req, own);
      for (const s of d.refs) {
        const cur = guard.get(s)!;
        const next = cur === null ? g : intersect(cur, g);
        if (cur === null || next.size !== cur.size) {
          guard.set(s, next);
          changed = true;
        }
      }
    }
  }
  // Per definition, once: its guards, and every prefix of the input paths it reads (joined), so
  // that each path asks a Set instead of walking every definition's paths; and the sorted form of
  // a guard set once however many paths share it. Done per path, all three made a rule with
  // hundreds of input paths take time quadratic in them (500 expressions in one body: 0.25 s).
  const live = defs.flatMap((d) => {
    const own = guard.get(d.set);
    if (own == null) return [];
    const prefixes = new Set<string>();
    for (const q of d.inputs) for (let i = 0; i <= q.length; i++) prefixes.add(JSON.stringify(q.slice(0, i)));
    return [{ g: union(d.req, own), prefixes }];
  });
  const sorted = new Map<Set<string>, string[][]>();
  return paths.map((p) => {
    const key = JSON.stringify(p);
    let acc: Set<string> | null = null;
    for (const d of live) {
      if (!d.prefixes.has(key)) continue;
      acc = acc === null ? d.g : intersect(acc, d.g);
    }
    if (acc === null) return [];
    let out = sorted.get(acc);
    if (out === undefined) sorted.set(acc, (out = [...acc].sort().map((k) => k.split('\0'))));
    return out;
  });
}

/** Input paths of a term outside comprehension bodies: each makes the term undefined when absent. */
function strictInputs(t: A.Term, out: Set<string>): void {
  switch (t.type) {
    case 'ref': {
      if (t.head.type === 'var' && t.head.name === 'input') {
        const p = groundPrefix(t).slice(1);
        if (p.length > 0) out.add(p.join('\0'));
      } else strictInputs(t.head, out);
      t.path.forEach((x) => strictInputs(x, out));
      return;
    }
    case 'array':
    case 'set':
      t.items.forEach((x) => strictInputs(x, out));
      return;
    case 'object':
      t.items.forEach(([k, v]) => (strictInputs(k, out), strictInputs(v, out)));
      return;
    case 'call':
      if (refKey(t.operator) === 'print' || refKey(t.operator) === 'trace') return;
      t.args.forEach((x) => strictInputs(x, out));
      return;
    default:
      return; // comprehensions are defined (perhaps empty) whatever their bodies find
  }
}

function refKey(r: A.RefTerm): string | undefined {
  return r.head.type === 'var' && r.path.length === 0 ? r.head.name : undefined;
}

function hasWith(body: A.Body): boolean {
  for (const e of body) {
    if (e.with.length > 0) return true;
    if (e.kind === 'every' && hasWith(e.body)) return true;
    for (const t of exprTerms(e)) if (termHasWith(t)) return true;
  }
  return false;
}

/**
 * A `with` in a comprehension anywhere in T. Each term is looked at once:
 * walking a body's terms with eachBodyTerm and then each comprehension's
 * body again took time exponential in how deeply comprehensions nest.
 */
function termHasWith(t: A.Term): boolean {
  switch (t.type) {
    case 'ref':
      return termHasWith(t.head) || t.path.some(termHasWith);
    case 'array':
    case 'set':
      return t.items.some(termHasWith);
    case 'object':
      return t.items.some(([k, v]) => termHasWith(k) || termHasWith(v));
    case 'arraycomprehension':
    case 'setcomprehension':
      return termHasWith(t.term) || hasWith(t.body);
    case 'objectcomprehension':
      return termHasWith(t.key) || termHasWith(t.value) || hasWith(t.body);
    case 'call':
      return termHasWith(t.operator) || t.args.some(termHasWith);
    default:
      return false;
  }
}

function union(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  const out = new Set(a);
  for (const x of b) out.add(x);
  return out;
}

function intersect(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const x of a) if (b.has(x)) out.add(x);
  return out;
}
